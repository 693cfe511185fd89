/* The public lookup of a dossier, for anyone holding its acknowledgement
 * (the code and the short lookup secret, or the QR link that carries both):
 *
 *   GET /v1/lookup/{code}?secret=S     JSON, for the app's "scan a paper" screen
 *   GET /lookup/{code}?s=S             a Vietnamese HTML page, what the QR opens
 *   GET /v1/dossiers/{id}/lookup-qr.png  the QR of that link, for the owner only
 *
 * What the public sees is what is safe to show: the procedure, the agency,
 * the status, the due date, the timeline of steps, and the applicant's name
 * masked to initials ("Nguyễn V. A."). Never the personal ID number, phone,
 * address, form or attachments.
 *
 * Enumeration: an unknown code and a wrong secret give the same answer (404
 * dossier_not_found, the same body) after the same work: one query by code,
 * then the SHA-256 of the given secret compared in constant time with the
 * stored hash, or with a dummy hash when no row came back. Guessing a secret
 * (31^10 possibilities) is hopeless anyway; the per-address token bucket
 * (g_dossiers.lookup_burst, lookup_per_minute) is checked before anything
 * else so the route is also cheap to protect.
 *
 * The page is self-contained (inline CSS, no script, no external resource)
 * and served with a CSP that forbids everything else, no-store caching and
 * no-referrer: its URL holds the secret and must not leak through a Referer
 * or a shared cache.
 *
 * A dossier waiting for its fee shows how to pay it, and one paid shows
 * "Đã thanh toán" with the receipt's check link (pay.c): the fee SMS links
 * here, and a citizen who filed at a counter has no app.
 *
 * Language: Accept-Language (core/lang.h) chooses Vietnamese (the default)
 * or English for the page, its texts (step and courier names) and the JSON's
 * *_text fields; the answer says which (Content-Language, Vary). */
#include "internal.h"

#include "auth/auth.h"
#include "core/buf.h"
#include "core/html.h"
#include "core/db.h"
#include "core/jose.h"
#include "core/lang.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/qr.h"
#include "core/qr_req.h"
#include "core/ratelimit.h"
#include "core/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_IN_MAX CDS_LOOKUP_SECRET_IN_MAX
#define CODE_MAX CDS_LOOKUP_CODE_MAX
#define TIMELINE_MAX "200"   /* newest steps shown (SQL text) */
#define NOTE_SHOWN_MAX 500   /* bytes of a step's note on the page */
#define QR_SCALE_DEFAULT 8

static int st_lookup = -1, st_qr = -1;
static cds_ratelimit *limiter;

/* Compared against when the code is unknown, so that case does the same work. */
static const char DUMMY_HASH[] = "0000000000000000000000000000000000000000000000000000000000000000";

enum { MODE_JSON, MODE_PAGE };

typedef struct page_data page_data;

typedef struct lookup_ctx {
    int mode;
    int lang;      /* cds_lang of the answer */
    char hash[65]; /* hex SHA-256 of the normalised secret */
    char secret[SECRET_IN_MAX + 1]; /* normalised: what the app link carries once it matched */
    page_data *page; /* a page waiting for its payment part (pay.c) */
} lookup_ctx;

int cds_lookup_init(void)
{
    st_lookup = cds_db_stmt_register(
        "lookup_by_code",
        "SELECT d.code, d.status, p.code, p.name, a.code, a.name, to_char(d.due_date, 'YYYY-MM-DD'),"
        " d.due_date < (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
        "   AND d.status NOT IN ('completed', 'rejected', 'cancelled'),"
        " c.full_name, d.lookup_hash, cds_rfc3339(d.submitted_at),"
        " COALESCE((SELECT json_agg(json_build_object('step', e.step,"
        "                 'occurred_at', cds_rfc3339(e.occurred_at), 'applied', e.applied,"
        "                 'note', e.note, 'note_en', e.detail->>'note_en')"
        "                 ORDER BY e.occurred_at, e.id)"
        "           FROM (SELECT * FROM dossier_events WHERE dossier_id = d.id"
        "                 ORDER BY occurred_at DESC, id DESC LIMIT " TIMELINE_MAX ") e), '[]')::text,"
        " cds_shipments_json(d.id, true)::text,"
        " d.id::text, d.citizen_id::text,"
        /* The latest payment received in full, with its valid receipt's
         * check-link parts (pay.c); NULL when none. */
        " (SELECT json_build_object('amount_vnd', x.amount_vnd, 'paid_at', cds_rfc3339(x.paid_at),"
        "     'receipt', (SELECT json_build_object('id', rc.id, 'number', lpad(rc.number::text, 8, '0'),"
        "                                          'signature', rc.signature)"
        "                 FROM receipts rc WHERE rc.payment_id = x.id AND rc.status = 'valid'"
        "                   AND rc.signature IS NOT NULL ORDER BY rc.issued_at DESC LIMIT 1))"
        "   FROM payments x WHERE x.dossier_id = d.id AND x.paid_at IS NOT NULL"
        "     AND x.status IN ('paid', 'refund_due', 'refunded')"
        "   ORDER BY x.paid_at DESC LIMIT 1)::text"
        " FROM dossiers d"
        " JOIN procedures p ON p.code = d.procedure_code"
        " JOIN agencies a ON a.code = p.agency_code"
        " JOIN citizens c ON c.id = d.citizen_id"
        " WHERE d.code = $1",
        1);
    st_qr = cds_db_stmt_register("lookup_qr_code",
                                 "SELECT id::text, code FROM dossiers WHERE id = $1 AND citizen_id = $2",
                                 2);
    if (st_lookup < 0 || st_qr < 0) return -1;
    limiter = cds_ratelimit_new(g_dossiers.lookup_burst, g_dossiers.lookup_per_minute);
    if (!limiter) {
        cds_log(CDS_LOG_ERROR, "lookup", "invalid lookup rate limit (burst %d, per minute %d)",
                g_dossiers.lookup_burst, g_dossiers.lookup_per_minute);
        return -1;
    }
    if (!g_dossiers.public_base_url || strncmp(g_dossiers.public_base_url, "http", 4) != 0)
        cds_log(CDS_LOG_WARN, "lookup", "public base URL is not an absolute http(s) URL: "
                                        "lookup QR codes will not open from a phone");
    return 0;
}

void cds_lookup_shutdown(void)
{
    cds_ratelimit_free(limiter);
    limiter = NULL;
}

/* ---------------- text helpers ---------------- */

static const char *step_text(const char *s, int lang)
{
    static const struct {
        const char *step, *vi, *en;
    } names[] = {
        {"submitted", "Đã nộp", "Filed"},
        {"received", "Đã tiếp nhận", "Received"},
        {"supplement_requested", "Yêu cầu bổ sung", "Documents requested"},
        {"supplemented", "Đã bổ sung", "Documents added"},
        {"fee_requested", "Chờ nộp phí", "Waiting for the fee"},
        {"paid", "Đã nộp phí", "Fee paid"},
        {"processing", "Đang xử lý", "Processing"},
        {"result_ready", "Có kết quả", "Result ready"},
        {"out_for_delivery", "Đang giao", "Out for delivery"},
        {"ready_for_pickup", "Chờ nhận tại quầy", "Ready for pick-up at the counter"},
        {"completed", "Hoàn thành", "Completed"},
        {"rejected", "Từ chối", "Rejected"},
        {"cancelled", "Đã hủy", "Cancelled"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].step) == 0) return cds_lang_pick(lang, names[i].vi, names[i].en);
    return cds_lang_pick(lang, "Cập nhật", "Update");
}

/* U+0300..U+036F, the combining diacritics of a decomposed (NFD) name. */
static int is_combining(const unsigned char *s, size_t n)
{
    return n >= 2 && ((s[0] == 0xcc && s[1] >= 0x80) || (s[0] == 0xcd && s[1] <= 0xaf));
}

/* Bytes of the initial of a word: its first character and any combining
 * marks after it, so a multi-byte letter (Đ, Ấ, or A + U+0301) is never cut.
 * 0 when the word does not start with well-formed UTF-8. */
static size_t initial_len(const unsigned char *w, size_t wl)
{
    uint32_t cp;
    size_t il = cds_utf8_next((const char *)w, &cp);
    if (il > wl) il = 0;
    while (il && il < wl && is_combining(w + il, wl - il)) il += 2;
    return il;
}

/* "Nguyễn Văn An" -> "Nguyễn V. A.": the family name, then the initial of
 * every other word. A one-word name gives its initial only ("A."), and so
 * does a family name too long to be a real one. Output is cut between
 * words, never inside a character. */
static void mask_name(const char *full, char *out, size_t cap)
{
    enum { MAX_WORDS = 16, FAMILY_MAX = 64 };
    const unsigned char *w[MAX_WORDS];
    size_t wl[MAX_WORDS], n = 0, o = 0;
    const unsigned char *p = (const unsigned char *)full;
    while (*p && n < MAX_WORDS) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        const unsigned char *start = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (initial_len(start, (size_t)(p - start)) == 0) continue; /* not UTF-8: leave it out */
        w[n] = start;
        wl[n++] = (size_t)(p - start);
    }
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int whole = i == 0 && n > 1 && wl[0] <= FAMILY_MAX;
        size_t take = whole ? wl[i] : initial_len(w[i], wl[i]);
        size_t need = (i ? 1 : 0) + take + (whole ? 0 : 1);
        if (o + need + 1 > cap) break;
        if (i) out[o++] = ' ';
        memcpy(out + o, w[i], take);
        o += take;
        if (!whole) out[o++] = '.';
    }
    out[o] = 0;
}

/* "2026-11-22" -> "22/11/2026"; other text is copied as is. */
static void vn_date(const char *iso, char out[16])
{
    if (strlen(iso) >= 10 && iso[4] == '-' && iso[7] == '-')
        snprintf(out, 16, "%.2s/%.2s/%.4s", iso + 8, iso + 5, iso);
    else
        snprintf(out, 16, "%.15s", iso);
}

/* "2026-11-22T09:30:00+07:00" -> "09:30 22/11/2026". */
static void vn_datetime(const char *ts, char out[24])
{
    if (strlen(ts) >= 16 && ts[10] == 'T')
        snprintf(out, 24, "%.5s %.2s/%.2s/%.4s", ts + 11, ts + 8, ts + 5, ts);
    else
        snprintf(out, 24, "%.23s", ts);
}

/* ---------------- the page (core/html.h, dossiers/pages/) ---------------- */

static const char PAGE_CSP[] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'";

/* s cut to at most max bytes at a character boundary, "…" after a cut
 * (request arena). */
static const char *clip(cds_req *r, const char *s, size_t max)
{
    size_t n = strlen(s), k = cds_utf8_cut(s, n, max);
    return k == n ? s : cds_req_printf(r, "%.*s…", (int)k, s);
}

static void send_page(cds_req *r, int status, const char *title, cds_buf *body)
{
    int lang = cds_req_lang(r);
    const char *heading = cds_lang_pick(lang, "Tra cứu hồ sơ", "Dossier lookup");
    const cds_html_page page = {
        cds_req_printf(r, "%s · %s", title, heading), heading,
        cds_lang_pick(lang,
                      "Trang tra cứu công khai chỉ hiển thị tiến độ giải quyết hồ sơ, không hiển thị "
                      "thông tin cá nhân của người nộp.",
                      "This public page shows only the progress of the dossier, never the "
                      "applicant's personal data."),
        "dossiers/pages/lookup.css", lang};
    cds_html_send(r, status, &page, body, PAGE_CSP);
}

/* A page with a title and a message (error, limit, form). `code` (may be
 * NULL) is the dossier code as typed, shown above the form asking for the
 * secret (which submits to this same URL); the not-found page leaves it out. */
static void message_page(cds_req *r, int status, const char *title, const char *msg, int with_form,
                         const char *code)
{
    const cds_html_var v[] = {
        {"code", code ? clip(r, code, CODE_MAX) : NULL},
        {"title", title},
        {"message", msg},
        {"form", with_form ? "1" : NULL},
    };
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    cds_html_render_lang(&b, "dossiers/pages/message.html", cds_req_lang(r), v,
                         sizeof v / sizeof v[0]);
    send_page(r, status, title, &b);
}

static const char NOT_FOUND_DETAIL[] =
    "Không tìm thấy hồ sơ hoặc mã tra cứu không đúng. Vui lòng kiểm tra mã hồ sơ và mã tra cứu "
    "in trên giấy tiếp nhận.";

void lk_not_found_page(cds_req *r)
{
    int lang = cds_req_lang(r);
    message_page(r, 404, cds_lang_pick(lang, "Không tìm thấy hồ sơ", "Dossier not found"),
                 cds_lang_pick(lang, NOT_FOUND_DETAIL, cds_problem_detail_en("dossier_not_found")), 1,
                 NULL);
}

static void not_found(cds_req *r, int mode)
{
    if (mode == MODE_JSON) {
        cds_resp_header(r, "cache-control", "no-store");
        cds_problem(r, 404, "dossier_not_found", NOT_FOUND_DETAIL);
    } else {
        lk_not_found_page(r);
    }
}

static void unavailable(cds_req *r, int mode, PGresult *res)
{
    if (res) cds_log(CDS_LOG_ERROR, "lookup_db", "%s", PQresultErrorMessage(res));
    int lang = cds_req_lang(r);
    if (mode == MODE_JSON)
        cds_fail(r, CDS_P_DB_UNAVAILABLE);
    else
        message_page(r, 503, cds_lang_pick(lang, "Hệ thống đang bận", "The system is busy"),
                     cds_lang_pick(lang,
                                   "Hệ thống tạm thời không truy cập được dữ liệu, vui lòng thử lại "
                                   "sau ít phút.",
                                   "The system cannot reach its data right now; please try again in a "
                                   "few minutes."),
                     0, NULL);
}

/* ---------------- the lookup ---------------- */

/* Columns of st_lookup. */
enum {
    C_CODE, C_STATUS, C_PROC_CODE, C_PROC_NAME, C_AGENCY_CODE, C_AGENCY_NAME, C_DUE, C_OVERDUE,
    C_NAME, C_HASH, C_SUBMITTED, C_TIMELINE, C_SHIPMENTS, C_ID, C_CITIZEN, C_PAID
};

/* The shipments' public view (cds_shipments_json(id, true)): carrier,
 * tracking number, status and timeline; never the address or the proof of
 * delivery's names. */
static json_t *shipments_of(PGresult *res)
{
    json_t *s = json_loads(PQgetvalue(res, 0, C_SHIPMENTS), 0, NULL);
    if (!json_is_array(s)) {
        json_decref(s);
        s = json_array();
    }
    return s;
}

static const char *shipment_text(const char *s, int lang)
{
    static const struct {
        const char *status, *vi, *en;
    } names[] = {
        {"pending", "Chờ đặt chuyển phát", "Waiting to be booked"},
        {"booked", "Đã đặt chuyển phát", "Booked with the carrier"},
        {"picked_up", "Bưu điện đã nhận", "Picked up by the post"},
        {"in_transit", "Đang vận chuyển", "In transit"},
        {"out_for_delivery", "Bưu tá đang giao", "Out for delivery"},
        {"delivered", "Đã giao thành công", "Delivered"},
        {"delivery_failed", "Giao không thành công", "Delivery failed"},
        {"returning", "Đang chuyển hoàn", "Being returned"},
        {"returned", "Đã chuyển hoàn về cơ quan", "Returned to the agency"},
        {"cancelled", "Đã hủy", "Cancelled"},
        {"booking_failed", "Chưa đặt được chuyển phát", "Not booked yet"},
    };
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].status) == 0) return cds_lang_pick(lang, names[i].vi, names[i].en);
    return cds_lang_pick(lang, "Cập nhật", "Update");
}

static const char *status_class(const char *s)
{
    if (strcmp(s, "completed") == 0 || strcmp(s, "result_ready") == 0 ||
        strcmp(s, "ready_for_pickup") == 0)
        return "done";
    if (strcmp(s, "rejected") == 0 || strcmp(s, "cancelled") == 0) return "stop";
    if (strcmp(s, "supplement_requested") == 0 || strcmp(s, "fee_requested") == 0) return "act";
    return "";
}

/* A step's note in the answer's language: the English one the system
 * wrote with its own notes (delivery.sql: "note_en" in the event's detail)
 * when English is asked for; an agency's note as recorded. The "note_en"
 * member goes. */
static void note_in(json_t *e, int lang)
{
    json_t *en = json_object_get(e, "note_en");
    if (lang == CDS_LANG_EN && json_is_string(en)) json_object_set(e, "note", en);
    json_object_del(e, "note_en");
}

static void answer_json(cds_req *r, PGresult *res, json_t *timeline, const char *masked, int lang)
{
    size_t i;
    json_t *e;
    json_array_foreach(timeline, i, e) {
        const char *step = json_string_value(json_object_get(e, "step"));
        json_object_set_new(e, "step_text", json_string(step_text(step ? step : "", lang)));
        note_in(e, lang);
    }
    const char *status = PQgetvalue(res, 0, C_STATUS);
    json_t *ships = shipments_of(res);
    json_t *sh;
    json_array_foreach(ships, i, sh) {
        json_object_set_new(
            sh, "status_text",
            json_string(shipment_text(json_string_value(json_object_get(sh, "status")), lang)));
        size_t k;
        json_t *ev;
        json_array_foreach(json_object_get(sh, "timeline"), k, ev)
            json_object_set_new(
                ev, "status_text",
                json_string(shipment_text(json_string_value(json_object_get(ev, "status")), lang)));
    }
    json_t *j = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s},s:s,s:s,s:b,s:s,s:O,s:o}",
                          "code", PQgetvalue(res, 0, C_CODE),
                          "status", status,
                          "status_text", step_text(status, lang),
                          "procedure", "code", PQgetvalue(res, 0, C_PROC_CODE),
                          "name", PQgetvalue(res, 0, C_PROC_NAME),
                          "agency", "code", PQgetvalue(res, 0, C_AGENCY_CODE),
                          "name", PQgetvalue(res, 0, C_AGENCY_NAME),
                          "submitted_at", PQgetvalue(res, 0, C_SUBMITTED),
                          "due_date", PQgetvalue(res, 0, C_DUE),
                          "overdue", PQgetvalue(res, 0, C_OVERDUE)[0] == 't',
                          "applicant_name", masked,
                          "timeline", timeline,
                          "shipments", ships);
    if (!j) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_resp_header(r, "referrer-policy", "no-referrer");
    cds_respond_json(r, 200, j);
}

/* One <li> of a timeline (dossiers/pages/step.html) into out. */
static void step_item(cds_req *r, cds_buf *out, const char *step, const char *at, const char *note)
{
    char when[24];
    vn_datetime(at ? at : "", when);
    const cds_html_var v[] = {{"step", step}, {"at", at}, {"when", when}, {"note", note}};
    cds_html_render_lang(out, "dossiers/pages/step.html", cds_req_lang(r), v, sizeof v / sizeof v[0]);
}

/* The result's shipments (dossiers/pages/shipment.html) into out. */
static void shipment_cards(cds_req *r, cds_buf *out, json_t *ships, int lang)
{
    size_t i, k;
    json_t *sh, *ev;
    json_array_foreach(ships, i, sh) {
        const char *carrier = json_string_value(json_object_get(sh, "carrier"));
        const char *tn = json_string_value(json_object_get(sh, "tracking_no"));
        cds_buf events;
        cds_buf_init(&events, CDS_HTML_PAGE_MAX);
        json_array_foreach(json_object_get(sh, "timeline"), k, ev) {
            const char *loc = json_string_value(json_object_get(ev, "location"));
            const char *why = json_string_value(json_object_get(ev, "reason"));
            loc = loc && *loc ? clip(r, loc, NOTE_SHOWN_MAX) : "";
            why = why && *why ? clip(r, why, NOTE_SHOWN_MAX) : "";
            const char *note = *loc && *why ? cds_req_printf(r, "%s · %s", loc, why) : *loc ? loc : why;
            step_item(r, &events, shipment_text(json_string_value(json_object_get(ev, "status")), lang),
                      json_string_value(json_object_get(ev, "occurred_at")), note);
        }
        const cds_html_var v[] = {
            {"status", shipment_text(json_string_value(json_object_get(sh, "status")), lang)},
            {"carrier", carrier && strcmp(carrier, "vnpost") == 0 ? "VNPost" : carrier},
            {"tracking", tn ? tn : "—"},
            {"events", cds_buf_str(&events)},
        };
        if (events.err) cds_buf_fail(out);
        cds_html_render_lang(out, "dossiers/pages/shipment.html", lang, v, sizeof v / sizeof v[0]);
        cds_buf_free(&events);
    }
}

/* What the dossier page shows, copied out of the lookup's row (request
 * arena) so the payment part may be fetched before it is rendered. */
struct page_data {
    const char *code, *procedure, *agency, *status, *overdue, *applicant, *id, *citizen, *paid;
    const char *steps, *shipments; /* rendered fragments */
    char due[16], submitted[24];
    char secret[SECRET_IN_MAX + 1];
};

static page_data *collect_page(cds_req *r, PGresult *res, json_t *timeline, const char *masked,
                               int lang)
{
    page_data *d = cds_req_alloc(r, sizeof *d);
    memset(d, 0, sizeof *d);
#define COL(c) cds_req_strdup(r, PQgetvalue(res, 0, (c)))
    d->code = COL(C_CODE);
    d->procedure = COL(C_PROC_NAME);
    d->agency = COL(C_AGENCY_NAME);
    d->status = COL(C_STATUS);
    d->overdue = PQgetvalue(res, 0, C_OVERDUE)[0] == 't' ? "1" : NULL;
    d->applicant = cds_req_strdup(r, masked);
    d->id = COL(C_ID);
    d->citizen = COL(C_CITIZEN);
    d->paid = PQgetisnull(res, 0, C_PAID) ? NULL : COL(C_PAID);
#undef COL
    vn_date(PQgetvalue(res, 0, C_DUE), d->due);
    vn_datetime(PQgetvalue(res, 0, C_SUBMITTED), d->submitted);
    cds_buf steps, ships_html;
    cds_buf_init(&steps, CDS_HTML_PAGE_MAX);
    cds_buf_init(&ships_html, CDS_HTML_PAGE_MAX);
    size_t i;
    json_t *e;
    json_array_foreach(timeline, i, e) {
        const char *step = json_string_value(json_object_get(e, "step"));
        note_in(e, lang);
        const char *note = json_string_value(json_object_get(e, "note"));
        step_item(r, &steps, step_text(step ? step : "", lang),
                  json_string_value(json_object_get(e, "occurred_at")),
                  note && *note ? clip(r, note, NOTE_SHOWN_MAX) : NULL);
    }
    json_t *ships = shipments_of(res);
    shipment_cards(r, &ships_html, ships, lang);
    json_decref(ships);
    /* A fragment that failed to render fails the page (NULL). */
    d->steps = steps.err ? NULL : cds_req_strdup(r, cds_buf_str(&steps));
    d->shipments = ships_html.err ? NULL : cds_req_strdup(r, cds_buf_str(&ships_html));
    cds_buf_free(&steps);
    cds_buf_free(&ships_html);
    return d;
}

static void finish_page(cds_req *r, const page_data *d, cds_buf *payment, int lang)
{
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    const cds_html_var v[] = {
        {"code", d->code},
        {"procedure", d->procedure},
        {"agency", d->agency},
        {"status_class", status_class(d->status)},
        {"status", step_text(d->status, lang)},
        {"overdue", d->overdue},
        {"applicant", d->applicant},
        {"submitted", d->submitted},
        {"due", d->due},
        {"payment", cds_buf_str(payment)},
        {"steps", d->steps},
        {"shipments", d->shipments},
    };
    if (!d->steps || !d->shipments || payment->err) cds_buf_fail(&b);
    cds_html_render_lang(&b, "dossiers/pages/dossier.html", lang, v, sizeof v / sizeof v[0]);
    cds_rating_page_forms(r, &b, d->code, d->status); /* rating_page.c */
    cds_buf_free(payment);
    send_page(r, 200, cds_req_printf(r, "%s %.64s", cds_lang_pick(lang, "Hồ sơ", "Dossier"), d->code),
              &b);
}

static void on_pay_open(cds_req *r, PGresult *res)
{
    lookup_ctx *c = cds_req_user(r);
    cds_buf pay;
    cds_buf_init(&pay, CDS_HTML_PAGE_MAX);
    lk_pay_html(r, c->lang, res, lk_app_link(r, c->page->id, c->page->secret), &pay);
    finish_page(r, c->page, &pay, c->lang);
}

static void answer_page(cds_req *r, PGresult *res, json_t *timeline, const char *masked)
{
    lookup_ctx *c = cds_req_user(r);
    page_data *d = collect_page(r, res, timeline, masked, c->lang);
    snprintf(d->secret, sizeof d->secret, "%s", c->secret);
    if (strcmp(d->status, "fee_requested") == 0) {
        /* The intent, opened (or the open one) in a second round trip; the
         * page is rendered when it answers. */
        c->page = d;
        int rc = lk_pay_open(r, d->id, d->citizen, on_pay_open);
        if (rc != -1) return; /* asked, or answered 503 by the pool (r is gone) */
        /* No reference could be drawn: the page says to come back. */
        cds_buf pay;
        cds_buf_init(&pay, CDS_HTML_PAGE_MAX);
        lk_pay_html(r, c->lang, NULL, NULL, &pay);
        finish_page(r, d, &pay, c->lang);
        return;
    }
    cds_buf pay;
    cds_buf_init(&pay, CDS_HTML_PAGE_MAX);
    lk_paid_html(r, c->lang, d->paid, &pay);
    finish_page(r, d, &pay, c->lang);
}

static void on_lookup(cds_req *r, PGresult *res)
{
    lookup_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        unavailable(r, c->mode, res);
        return;
    }
    int found = PQntuples(res) == 1;
    const char *stored = found ? PQgetvalue(res, 0, C_HASH) : DUMMY_HASH;
    if (strlen(stored) != 64) stored = DUMMY_HASH, found = 0; /* a malformed row opens nothing */
    int match = cds_ct_equal(c->hash, stored, 64);
    if (!found || !match) {
        not_found(r, c->mode);
        return;
    }
    char masked[256];
    mask_name(PQgetvalue(res, 0, C_NAME), masked, sizeof masked);
    json_t *timeline = json_loads(PQgetvalue(res, 0, C_TIMELINE), 0, NULL);
    if (!json_is_array(timeline)) {
        json_decref(timeline);
        timeline = json_array();
    }
    if (c->mode == MODE_JSON) answer_json(r, res, timeline, masked, c->lang);
    else answer_page(r, res, timeline, masked);
    json_decref(timeline);
}

static void lookup_start(cds_req *r, int mode, const char *code, const char *given)
{
    int retry = 0;
    int lang = cds_req_lang(r);
    if (!cds_ratelimit_take(limiter, cds_req_peer(r), &retry)) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", retry);
        cds_resp_header(r, "retry-after", secs);
        const char *msg = cds_req_printf(
            r, "Bạn đã tra cứu quá nhiều lần. Vui lòng thử lại sau %d giây.", retry);
        if (mode == MODE_JSON)
            cds_problem(r, 429, "too_many_requests", msg);
        else
            message_page(r, 429, cds_lang_pick(lang, "Tra cứu quá nhiều lần", "Too many lookups"),
                         lang == CDS_LANG_EN
                             ? cds_req_printf(r, "Too many lookups. Please try again in %d seconds.", retry)
                             : msg,
                         0, NULL);
        return;
    }
    if (!given || !*given) {
        if (mode == MODE_JSON)
            cds_problem(r, 400, "lookup_secret_required",
                        "Vui lòng nhập mã tra cứu in trên giấy tiếp nhận hồ sơ.");
        else
            message_page(r, 200, cds_lang_pick(lang, "Nhập mã tra cứu", "Enter the lookup code"),
                         cds_lang_pick(lang,
                                       "Vui lòng nhập mã tra cứu (10 ký tự) in trên giấy tiếp nhận hồ sơ.",
                                       "Please enter the lookup code (10 characters) printed on the "
                                       "dossier's acknowledgement."),
                         1, cds_lookup_code_valid(code) ? code : NULL);
        return;
    }
    lookup_ctx *c = cds_req_alloc(r, sizeof *c);
    memset(c, 0, sizeof *c);
    c->mode = mode;
    c->lang = lang;
    /* An unusable secret is hashed all the same (as "-"): it will not match,
     * and it costs what a real one costs. */
    cds_lookup_secret_hash(cds_lookup_secret_normalise(given, c->secret) == 0 ? c->secret : "-", c->hash);
    if (!cds_lookup_code_valid(code)) {
        (void)cds_ct_equal(c->hash, DUMMY_HASH, 64);
        not_found(r, mode);
        return;
    }
    cds_req_set_user(r, c, NULL);
    const char *params[] = {code};
    cds_req_db(r, st_lookup, 1, params, on_lookup);
}

void cds_lookup_json(cds_req *r)
{
    lookup_start(r, MODE_JSON, cds_req_param(r, "code"), cds_req_query(r, "secret"));
}

void cds_lookup_page(cds_req *r)
{
    lookup_start(r, MODE_PAGE, cds_req_param(r, "code"), cds_req_query(r, "s"));
}

void lk_lookup_page_of(cds_req *r, const char *code, const char *secret)
{
    lookup_start(r, MODE_PAGE, code, secret);
}

/* ---------------- the owner's QR ---------------- */

typedef struct qr_ctx {
    int scale;
} qr_ctx;

static void on_qr(cds_req *r, PGresult *res)
{
    qr_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        unavailable(r, MODE_JSON, res);
        return;
    }
    if (PQntuples(res) != 1) {
        cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
        return;
    }
    char secret[CDS_LOOKUP_SECRET_LEN + 1];
    /* The id as the database writes it (lower-case canonical), the same text
     * the secret was derived from when the dossier was filed. */
    cds_lookup_secret(PQgetvalue(res, 0, 0), secret);
    const char *url = cds_lookup_url(r, PQgetvalue(res, 0, 1), secret);
    size_t len = 0;
    unsigned char *png = cds_qr_png(url, CDS_QR_ECC_M, c->scale, &len);
    if (!png) {
        cds_log(CDS_LOG_ERROR, "lookup_qr", "QR rendering failed (URL of %zu bytes)", strlen(url));
        cds_fail(r, CDS_P_QR_FAILED);
        return;
    }
    /* The image carries the secret: the owner's only, never cached on the way. */
    cds_resp_header(r, "cache-control", "private, no-store");
    cds_resp_header(r, "x-content-type-options", "nosniff");
    cds_respond(r, 200, "image/png", (const char *)png, len);
    free(png);
}

void cds_dossier_lookup_qr(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_DOSSIER_NOT_FOUND);
    if (!id) return;
    qr_ctx *c = cds_req_alloc(r, sizeof *c);
    c->scale = cds_qr_scale_param(r, QR_SCALE_DEFAULT);
    if (c->scale < 0) return;
    cds_req_set_user(r, c, NULL);
    const char *params[] = {id, p->citizen_id};
    cds_req_db(r, st_qr, 2, params, on_qr);
}
