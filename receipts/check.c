/* The public check of a receipt, for anyone holding the paper or the PDF:
 *
 *   GET /r/{id}?n=<number>&s=<signature>   Vietnamese HTML page (the QR code)
 *   GET /v1/receipt-checks/{id}?n=&s=      the same as JSON
 *   GET /v1/receipt-keys/{kid}             an agency's public key (PEM), for
 *                                          offline checks of exports
 *
 * The link carries the receipt's number and its full signature. The check:
 *   1. the receipt exists (else 404 receipt_not_found);
 *   2. the link's number and signature are the receipt's (else 400
 *      receipt_link_invalid, one answer whichever of the two is wrong: a
 *      hand-edited link or a forged paper);
 *   3. the content is rebuilt from the stored row (personal ID number and
 *      address unsealed) and the signature verified with the public key of
 *      its kid from receipt_keys: a row altered in the database, or sealed
 *      data that no longer opens, is "not genuine".
 *
 * What the signature covers: the full content, the payer's personal ID
 * number in clear included (so the owner's export verifies offline with
 * nothing but the agency's public key). The public check verifies on the
 * server, which holds the sealed number, and shows only the masked form
 * (last 3 digits) and the masked name: the check needs no plaintext from
 * the visitor and reveals none. Rate-limited per client address like the
 * dossier lookup. The page is self-contained (inline CSS, no script).
 *
 * Language: Accept-Language (core/lang.h) gives the page in English (the
 * templates' .en.html siblings) or Vietnamese, the default; the receipt's
 * own content (fee name, amount in words, payment method) is the signed
 * Vietnamese text and is shown as it is. */
#include "internal.h"
#include "receipts/pdf.h"
#include "core/buf.h"
#include "core/html.h"
#include "core/db.h"
#include "core/jose.h"
#include "core/lang.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/ratelimit.h"
#include "core/uuid.h"
#include "core/vn.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int st_check = -1, st_key = -1;
static cds_ratelimit *limiter;

enum {
    K_PEM = RC_NCOLS,
    K_O_NUM,
    K_O_SERIAL,
    K_O_TMPL,
    K_O_SIG,
    K_N_NUM,
    K_N_SERIAL,
    K_N_TMPL,
    K_N_KIND,
    K_N_SIG,
    K_AUDIT
};

int rc_check_init(void)
{
    st_check = cds_db_stmt_register(
        "receipt_check",
        "SELECT " RC_COLS ", COALESCE(k.public_pem, ''),"
        " o.number, o.serial, o.template_no, COALESCE(o.signature, ''),"
        " n.number, n.serial, n.template_no, n.kind, COALESCE(n.signature, ''),"
        " COALESCE((SELECT json_agg(json_build_object('at', cds_rfc3339(a.at), 'actor', a.actor,"
        "    'action', a.action, 'reason', a.reason, 'subject', a.subject) ORDER BY a.at, a.id)"
        "   FROM audit_log a WHERE a.subject IN ('receipt:' || r.id, 'receipt:' || r.replaces)), "
        "'[]')::text"
        " FROM receipts r LEFT JOIN receipt_keys k ON k.kid = r.kid"
        " LEFT JOIN receipts o ON o.id = r.replaces LEFT JOIN receipts n ON n.id = r.replaced_by"
        " WHERE r.id = $1",
        1);
    st_key = cds_db_stmt_register("receipt_key",
                                  "SELECT alg, public_pem FROM receipt_keys WHERE kid = $1", 1);
    if (st_check < 0 || st_key < 0) return -1;
    limiter = cds_ratelimit_new(g_receipts.check_burst, g_receipts.check_per_minute);
    return limiter ? 0 : -1;
}

void rc_check_shutdown(void)
{
    cds_ratelimit_free(limiter);
    limiter = NULL;
}

/* ---------------- the page (core/html.h, receipts/pages/) ---------------- */

/* "2026-11-22T09:30:00+07:00" -> "09:30:00 ngày 22/11/2026" ("09:30:00
 * 22/11/2026" in English) */
static void vn_time(const char *ts, char *out, size_t cap, int lang)
{
    if (strlen(ts) >= 19 && ts[10] == 'T')
        snprintf(out, cap, "%.8s %s%.2s/%.2s/%.4s", ts + 11, lang == CDS_LANG_EN ? "" : "ngày ",
                 ts + 8, ts + 5, ts);
    else
        snprintf(out, cap, "%s", ts);
}

/* vi or en, as the request asks. */
#define L(r, vi, en) cds_lang_pick(cds_req_lang(r), (vi), (en))

static void page_send(cds_req *r, int status, cds_buf *body)
{
    const char *title = L(r, "Kiểm tra biên lai điện tử", "E-receipt check");
    const cds_html_page page = {
        title, title,
        L(r,
          "Trang kiểm tra công khai chỉ hiển thị thông tin đã che của người nộp. Biên lai thu phí, "
          "lệ phí điện tử được ký số bởi cơ quan thu.",
          "This public check shows the payer's data masked only. Electronic fee receipts are "
          "digitally signed by the collecting agency."),
        "receipts/pages/check.css", cds_req_lang(r)};
    cds_html_send(r, status, &page, body,
                  "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                  "frame-ancestors 'none'");
}

enum { MODE_JSON, MODE_PAGE };

typedef struct check_ctx {
    int mode;
    char n[16];
    char s[100];
} check_ctx;

/* The refusal page (title and detail in both languages, the one the
 * request asks for shown) or problem+json. */
static void refuse(cds_req *r, int mode, int status, const char *code, const char *title,
                   const char *title_en, const char *detail, const char *detail_en)
{
    if (mode == MODE_JSON) {
        cds_resp_header(r, "cache-control", "no-store");
        cds_problem(r, status, code, detail);
        return;
    }
    const cds_html_var v[] = {
        {"code", code}, {"title", L(r, title, title_en)}, {"detail", L(r, detail, detail_en)}};
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    cds_html_render_lang(&b, "receipts/pages/refused.html", cds_req_lang(r), v,
                         sizeof v / sizeof v[0]);
    page_send(r, status, &b);
}

static json_t *link_of(cds_req *r, PGresult *res, const char *id, int c_num, int c_serial,
                       int c_tmpl, int c_sig)
{
    if (!*id) return json_null();
    char num[16], url[CDS_RECEIPT_URL_MAX + 1] = "";
    rc_number8(PQgetvalue(res, 0, c_num), num);
    const char *sig = PQgetvalue(res, 0, c_sig);
    if (*sig) rc_verify_url(id, num, sig, url, sizeof url);
    int numbered = *PQgetvalue(res, 0, c_num) != 0;
    return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", id, "template_no", PQgetvalue(res, 0, c_tmpl),
                     "serial", PQgetvalue(res, 0, c_serial), "number",
                     numbered ? num : L(r, "(đang cấp số)", "(being numbered)"), "verify_url",
                     *url ? json_string(url) : json_null());
}

static const char *status_text(cds_req *r, const char *st)
{
    if (strcmp(st, "replaced") == 0) return L(r, "Đã bị thay thế", "Replaced");
    if (strcmp(st, "adjusted") == 0) return L(r, "Đã được điều chỉnh", "Adjusted");
    return L(r, "Đang có hiệu lực", "Valid");
}

static const char *kind_text(cds_req *r, const char *k)
{
    if (strcmp(k, "replacement") == 0) return L(r, "Biên lai thay thế", "Replacement receipt");
    if (strcmp(k, "adjustment") == 0) return L(r, "Biên lai điều chỉnh", "Adjustment receipt");
    return L(r, "Biên lai gốc", "Original receipt");
}

static void answer(cds_req *r, check_ctx *c, PGresult *res, int genuine, const char *reason_code,
                   const char *reason, const char *reason_en, const cds_receipt *rc)
{
    reason = reason ? L(r, reason, reason_en) : NULL;
    char name[256], pid[13], amount[32], num[16];
    rc_mask_name(PQgetvalue(res, 0, RC_PAYER_NAME), name, sizeof name);
    rc_mask_pid(rc && *rc->payer.personal_id ? rc->payer.personal_id : "", pid);
    long long amt = strtoll(PQgetvalue(res, 0, RC_AMOUNT), NULL, 10);
    cds_vn_grouped(amt, amount, sizeof amount);
    rc_number8(PQgetvalue(res, 0, RC_NUMBER), num);
    char words[CDS_AMOUNT_WORDS_CAP];
    if (cds_amount_words(amt, words, sizeof words) < 0) words[0] = 0;
    const char *status = PQgetvalue(res, 0, RC_STATUS), *kind = PQgetvalue(res, 0, RC_KIND);
    json_t *corr = json_loads(PQgetvalue(res, 0, K_AUDIT), 0, NULL);
    if (!json_is_array(corr)) {
        json_decref(corr);
        corr = json_array();
    }
    json_t *replaces =
        link_of(r, res, PQgetvalue(res, 0, RC_REPLACES), K_O_NUM, K_O_SERIAL, K_O_TMPL, K_O_SIG);
    json_t *replaced_by =
        link_of(r, res, PQgetvalue(res, 0, RC_REPLACED_BY), K_N_NUM, K_N_SERIAL, K_N_TMPL, K_N_SIG);
    if (json_is_object(replaced_by))
        json_object_set_new(replaced_by, "kind", json_string(PQgetvalue(res, 0, K_N_KIND)));

    if (c->mode == MODE_JSON) {
        /* Its language-dependent text (reason, a number being issued) may
         * be absent: every answer of the route says its language all the
         * same. */
        cds_req_lang(r);
        json_t *j = json_pack(
            "{s:b,s:o,s:o,s:{s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s},s:s,s:s,s:I,s:s,s:"
            "s,s:s,s:s,s:s},s:o,s:o,s:o}",
            "genuine", genuine, "reason_code", reason_code ? json_string(reason_code) : json_null(),
            "reason", reason ? json_string(reason) : json_null(), "receipt", "id",
            PQgetvalue(res, 0, RC_ID), "template_no", PQgetvalue(res, 0, RC_TEMPLATE), "serial",
            PQgetvalue(res, 0, RC_SERIAL), "year", (int)strtol(PQgetvalue(res, 0, RC_YEAR), NULL, 10), "number", num,
            "kind", kind, "status", status, "issuer", "agency_name",
            PQgetvalue(res, 0, RC_ISSUER_NAME), "tax_code", PQgetvalue(res, 0, RC_TAX_CODE),
            "payer", "name", name, "personal_id", pid, "fee_name", PQgetvalue(res, 0, RC_FEE),
            "dossier_code", PQgetvalue(res, 0, RC_DOSSIER), "amount", (json_int_t)amt,
            "amount_words", words, "payment_method", PQgetvalue(res, 0, RC_METHOD), "paid_at",
            PQgetvalue(res, 0, RC_PAID_AT), "issued_at", PQgetvalue(res, 0, RC_ISSUED_AT), "kid",
            PQgetvalue(res, 0, RC_KID), "replaces", replaces, "replaced_by", replaced_by,
            "corrections", corr);
        cds_resp_header(r, "cache-control", "no-store");
        cds_resp_header(r, "referrer-policy", "no-referrer");
        cds_respond_json(r, 200, j);
        return;
    }
    char t1[64], t2[64];
    vn_time(PQgetvalue(res, 0, RC_PAID_AT), t1, sizeof t1, cds_req_lang(r));
    vn_time(PQgetvalue(res, 0, RC_ISSUED_AT), t2, sizeof t2, cds_req_lang(r));
    cds_buf chain;
    cds_buf_init(&chain, CDS_HTML_PAGE_MAX);
    json_t *links[2] = {replaces, replaced_by};
    const char *const labels[2] = {
        L(r, "Thay thế / điều chỉnh cho biên lai số ", "Replaces / adjusts receipt no. "),
        L(r, "Đã được thay thế / điều chỉnh bởi biên lai số ", "Replaced / adjusted by receipt no. ")};
    static const char *const ids[2] = {"replaces", "replaced_by"};
    for (int i = 0; i < 2; i++) {
        if (!json_is_object(links[i])) continue;
        const cds_html_var v[] = {
            {"id", ids[i]},
            {"label", labels[i]},
            {"url", json_string_value(json_object_get(links[i], "verify_url"))},
            {"number", json_string_value(json_object_get(links[i], "number"))},
            {"serial", json_string_value(json_object_get(links[i], "serial"))},
        };
        cds_html_render_lang(&chain, "receipts/pages/link.html", cds_req_lang(r), v,
                             sizeof v / sizeof v[0]);
    }
    size_t i;
    json_t *e;
    json_array_foreach(corr, i, e) {
        const char *act = json_string_value(json_object_get(e, "action"));
        const char *at = json_string_value(json_object_get(e, "at"));
        char when[64];
        vn_time(at ? at : "", when, sizeof when, cds_req_lang(r));
        const cds_html_var v[] = {
            {"action", act && strcmp(act, "receipt.adjustment") == 0 ? L(r, "Điều chỉnh", "Adjusted")
                                                                      : L(r, "Thay thế", "Replaced")},
            {"when", when},
            {"actor", json_string_value(json_object_get(e, "actor"))},
            {"reason", json_string_value(json_object_get(e, "reason"))},
        };
        cds_html_render_lang(&chain, "receipts/pages/audit.html", cds_req_lang(r), v,
                             sizeof v / sizeof v[0]);
    }
    const cds_html_var v[] = {
        {"genuine", genuine ? "1" : NULL},
        {"detail", genuine ? L(r, "Chữ ký số của cơ quan thu khớp với nội dung biên lai.",
                               "The collecting agency's digital signature matches the receipt.")
                           : reason},
        {"status", strcmp(status, "valid") != 0 ? status_text(r, status) : NULL},
        {"kind", kind_text(r, kind)},
        {"template_no", PQgetvalue(res, 0, RC_TEMPLATE)},
        {"serial", PQgetvalue(res, 0, RC_SERIAL)},
        {"number", num},
        {"issuer", PQgetvalue(res, 0, RC_ISSUER_NAME)},
        {"tax_code", PQgetvalue(res, 0, RC_TAX_CODE)},
        {"payer", name},
        {"personal_id", pid},
        {"fee_name", PQgetvalue(res, 0, RC_FEE)},
        {"dossier_code", PQgetvalue(res, 0, RC_DOSSIER)},
        {"amount", amount},
        {"amount_words", words},
        {"payment_method", PQgetvalue(res, 0, RC_METHOD)},
        {"paid_at", t1},
        {"issued_at", t2},
        {"kid", PQgetvalue(res, 0, RC_KID)},
        {"chain", cds_buf_str(&chain)},
    };
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    if (chain.err) cds_buf_fail(&b);
    cds_html_render_lang(&b, "receipts/pages/receipt.html", cds_req_lang(r), v,
                         sizeof v / sizeof v[0]);
    cds_buf_free(&chain);
    json_decref(replaces);
    json_decref(replaced_by);
    json_decref(corr);
    page_send(r, 200, &b);
}

static void on_check(cds_req *r, PGresult *res)
{
    check_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (res) cds_log(CDS_LOG_ERROR, "receipt_check_db", "%s", PQresultErrorMessage(res));
        refuse(r, c->mode, 503, "database_unavailable", "Hệ thống đang bận", "The system is busy",
               "Hệ thống tạm thời không truy cập được dữ liệu, vui lòng thử lại sau.",
               "The system cannot reach its data right now; please try again later.");
        return;
    }
    if (PQntuples(res) != 1) {
        refuse(
            r, c->mode, 404, "receipt_not_found", "Không tìm thấy biên lai", "Receipt not found",
            "Không tìm thấy biên lai theo liên kết này. Vui lòng quét lại mã QR in trên biên lai.",
            "No receipt matches this link. Please scan the QR code printed on the receipt again.");
        return;
    }
    /* Number and signature are judged together and refused with one
     * answer (same status, same body, same work): telling a wrong number
     * from a wrong signature would let someone holding a receipt id probe
     * the number, or learn that a forged signature went with the right one
     * (issue 14). Both comparisons always run, in constant time over the
     * stored values; lengths differ only for a forgery. */
    char num[16];
    rc_number8(PQgetvalue(res, 0, RC_NUMBER), num);
    size_t nl = strlen(num);
    int num_ok = nl == strlen(c->n) && cds_ct_equal(num, c->n, nl);
    const char *stored = PQgetvalue(res, 0, RC_SIG);
    size_t sl = strlen(stored), gl = strlen(c->s);
    int sig_ok = *stored && sl == gl && cds_ct_equal(stored, c->s, sl);
    if (!(num_ok & sig_ok)) {
        refuse(r, c->mode, 400, "receipt_link_invalid", "Liên kết kiểm tra không hợp lệ",
               "Invalid check link",
               "Số biên lai hoặc chữ ký số trong liên kết không khớp với biên lai do cơ quan thu "
               "lưu giữ. Liên kết đã bị sửa hoặc biên lai là giả.",
               "The receipt number or signature in the link does not match the receipt the agency "
               "holds. The link was altered or the receipt is forged.");
        return;
    }
    cds_receipt rc;
    cds_receipt_sig sig;
    const char *why = NULL;
    if (rc_from_row(res, 0, &rc, &sig, &why) != 0) {
        cds_log(CDS_LOG_WARN, "receipt_check", "receipt %s: content unreadable: %s",
                PQgetvalue(res, 0, RC_ID), why ? why : "?");
        answer(r, c, res, 0, "content_invalid",
               "Nội dung biên lai lưu tại cơ quan thu không đọc được hoặc không hợp lệ: biên lai "
               "đã bị thay đổi.",
               "The receipt held by the agency cannot be read or is invalid: it was altered.", NULL);
        return;
    }
    EVP_PKEY *key = rc_verify_key(sig.kid, PQgetvalue(res, 0, K_PEM));
    int v = key ? cds_receipt_verify(key, &rc, &sig) : CDS_RCPT_EKEY;
    if (!key)
        answer(r, c, res, 0, "unknown_key", "Không tìm thấy khóa công khai đã ký biên lai này.",
               "The public key that signed this receipt was not found.", &rc);
    else if (v != CDS_RCPT_OK)
        answer(r, c, res, 0, "signature_mismatch",
               "Nội dung biên lai lưu tại cơ quan thu không khớp với chữ ký số: biên lai đã bị "
               "thay đổi sau khi ký.",
               "The receipt held by the agency does not match its digital signature: it was "
               "altered after signing.",
               &rc);
    else
        answer(r, c, res, 1, NULL, NULL, NULL, &rc);
    OPENSSL_cleanse(&rc, sizeof rc);
}

static int b64url_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_') return 0;
    return 1;
}

static void check_start(cds_req *r, int mode)
{
    int retry = 0;
    if (!cds_ratelimit_take(limiter, cds_req_peer(r), &retry)) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", retry);
        cds_resp_header(r, "retry-after", secs);
        refuse(r, mode, 429, "too_many_requests", "Kiểm tra quá nhiều lần", "Too many checks",
               cds_req_printf(r, "Bạn đã kiểm tra quá nhiều lần. Vui lòng thử lại sau %d giây.",
                              retry),
               cds_req_printf(r, "Too many checks. Please try again in %d seconds.", retry));
        return;
    }
    const char *id = cds_req_param(r, "id");
    if (!cds_uuid_valid(id)) {
        refuse(
            r, mode, 404, "receipt_not_found", "Không tìm thấy biên lai", "Receipt not found",
            "Không tìm thấy biên lai theo liên kết này. Vui lòng quét lại mã QR in trên biên lai.",
            "No receipt matches this link. Please scan the QR code printed on the receipt again.");
        return;
    }
    const char *n = cds_req_query(r, "n"), *s = cds_req_query(r, "s");
    size_t nl = n ? strlen(n) : 0;
    int n_ok = nl >= 1 && nl <= 8;
    for (size_t i = 0; n_ok && i < nl; i++)
        n_ok = isdigit((unsigned char)n[i]);
    if (!n_ok || !s || !b64url_ok(s, 95)) {
        refuse(r, mode, 400, "receipt_link_invalid", "Liên kết kiểm tra không hợp lệ",
               "Invalid check link",
               "Liên kết kiểm tra thiếu hoặc sai số biên lai (n) hoặc chữ ký số (s). "
               "Vui lòng quét lại mã QR in trên biên lai.",
               "The check link lacks or has a wrong receipt number (n) or signature (s). Please "
               "scan the QR code printed on the receipt again.");
        return;
    }
    check_ctx *c = cds_req_alloc(r, sizeof *c);
    c->mode = mode;
    rc_number8(n, c->n);
    snprintf(c->s, sizeof c->s, "%s", s);
    cds_req_set_user(r, c, NULL);
    char lower[37];
    for (int i = 0; i < 36; i++)
        lower[i] = (char)tolower((unsigned char)id[i]);
    lower[36] = 0;
    const char *params[] = {lower};
    cds_req_db(r, st_check, 1, params, on_check);
}

void cds_receipt_check_json(cds_req *r)
{
    check_start(r, MODE_JSON);
}

void cds_receipt_check_page(cds_req *r)
{
    check_start(r, MODE_PAGE);
}

/* ---------------- public keys ---------------- */

static void on_key(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_fail(r, CDS_P_DB_UNAVAILABLE);
        return;
    }
    if (PQntuples(res) != 1) {
        cds_problem(r, 404, "receipt_key_not_found", "Không tìm thấy khóa công khai này.");
        return;
    }
    cds_resp_header(r, "cache-control", "public, max-age=86400");
    const char *pem = PQgetvalue(res, 0, 1);
    cds_respond(r, 200, "application/x-pem-file", pem, strlen(pem));
}

void cds_receipt_key_get(cds_req *r)
{
    const char *kid = cds_req_param(r, "kid");
    size_t n = kid ? strlen(kid) : 0;
    int ok = n == CDS_RCPT_KID_LEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = isdigit((unsigned char)kid[i]) || (kid[i] >= 'a' && kid[i] <= 'f');
    if (!ok) {
        cds_problem(r, 404, "receipt_key_not_found", "Không tìm thấy khóa công khai này.");
        return;
    }
    const char *params[] = {kid};
    cds_req_db(r, st_key, 1, params, on_key);
}
