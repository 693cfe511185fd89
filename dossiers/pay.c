/* What the public lookup page shows about a dossier's fee (lookup.c calls
 * these once the lookup secret is checked), and the "open in the app" link:
 *
 *   fee_requested   the open payment intent (opened here if there is none:
 *                   cds_payment_open in SQL, the same intent the owner's app
 *                   gets, so asking twice never makes two): the amount with
 *                   its breakdown, the VietQR code as inline SVG (no
 *                   request, no script: the page's CSP stays default-src
 *                   'none'), the bank details to type by hand, the exact
 *                   transfer content (the reference), the deadline, and the
 *                   app link
 *   paid since      "Đã thanh toán", the amount, and the public check link
 *                   of the valid receipt (/r/{id}?n=&s=), or "being issued"
 *
 *   GET /app/dossiers/{id}?s=S   the app link. The app claims this path
 *                   (Android App Links, iOS Universal Links) and opens the
 *                   dossier by id; without the app the browser lands here
 *                   and gets the lookup page of the dossier itself, the
 *                   secret checked first (derived from the id, compared in
 *                   constant time before any query: a wrong one is the
 *                   lookup's 404), then the lookup as /lookup/{code}?s=.
 *
 * The payment module owns intents and VietQR payloads: this file reaches
 * them through its public header (cds_payment_view, payment/reference.h)
 * and its SQL function, never its internals. Texts: dossiers/pages/pay*.html,
 * paid*.html, each with its English sibling. */
#include "internal.h"

#include "core/buf.h"
#include "core/db.h"
#include "core/html.h"
#include "core/jose.h"
#include "core/lang.h"
#include "core/log.h"
#include "core/qr.h"
#include "core/uuid.h"
#include "core/vn.h"
#include "payment/payment.h"
#include "payment/reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int st_open = -1, st_app = -1;

int lk_pay_init(void)
{
    st_open = cds_db_stmt_register(
        "lookup_pay_open", "SELECT status, payment::text FROM cds_payment_open($1, $2, $3)", 3);
    st_app = cds_db_stmt_register("lookup_app_link", "SELECT code FROM dossiers WHERE id = $1", 1);
    return st_open < 0 || st_app < 0 ? -1 : 0;
}

int lk_pay_open(cds_req *r, const char *dossier_id, const char *citizen_id, cds_req_db_cb cb)
{
    char *ref = cds_req_alloc(r, CDS_PAYREF_LEN + 1);
    if (cds_payref_new(ref) != 0) return -1;
    const char *params[] = {dossier_id, citizen_id, ref};
    return cds_req_db(r, st_open, 3, params, cb) == 0 ? 0 : -2;
}

/* n VND grouped the language's way: "1.250.000" or "1,250,000" (arena). */
static const char *money(cds_req *r, int lang, long long n)
{
    char s[CDS_VN_GROUPED_MAX];
    cds_vn_grouped(n, s, sizeof s);
    if (lang == CDS_LANG_EN)
        for (char *p = s; *p; p++)
            if (*p == '.') *p = ',';
    return cds_req_strdup(r, s);
}

static long long num(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* "2026-11-22T09:30:00+07:00" -> "09:30 22/11/2026" (arena). */
static const char *when(cds_req *r, const char *ts)
{
    if (!ts) return "";
    if (strlen(ts) >= 16 && ts[10] == 'T')
        return cds_req_printf(r, "%.5s %.2s/%.2s/%.4s", ts + 11, ts + 8, ts + 5, ts);
    return ts;
}

/* The QR as an inline <svg> element: the SVG document without its XML
 * declaration (arena), or NULL. */
static const char *inline_svg(cds_req *r, const char *payload)
{
    size_t len = 0;
    char *doc = cds_qr_svg(payload, CDS_QR_ECC_M, &len);
    if (!doc) return NULL;
    const char *svg = strstr(doc, "<svg");
    const char *out = svg ? cds_req_printf(r, "%s", svg) : NULL;
    free(doc);
    return out;
}

static void message(cds_req *r, int lang, const char *vi, const char *en, cds_buf *out)
{
    const cds_html_var v[] = {{"message", cds_lang_pick(lang, vi, en)}};
    cds_html_render_lang(out, "dossiers/pages/payinfo.html", lang, v, 1);
}

void lk_pay_html(cds_req *r, int lang, PGresult *res, const char *app_link, cds_buf *out)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        if (res) cds_log(CDS_LOG_ERROR, "lookup_pay", "%s", PQresultErrorMessage(res));
        message(
            r, lang, "Chưa hiển thị được thông tin thanh toán, vui lòng tải lại trang sau ít phút.",
            "Payment details cannot be shown right now; please reload this page in a few minutes.",
            out);
        return;
    }
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "nothing_to_pay") == 0) {
        message(r, lang,
                "Khoản phí của hồ sơ đã được nộp đủ (tạm ứng hoặc miễn phí), không cần thanh toán "
                "thêm.",
                "The dossier's fee is already covered (advance or exemption); nothing more to pay.",
                out);
        return;
    }
    if (strcmp(st, "created") != 0 && strcmp(st, "existing") != 0) {
        /* no_account, reference_taken (a 45-bit collision: the next load
         * draws another), not_payable (the dossier moved on meanwhile). */
        cds_log(CDS_LOG_WARN, "lookup_pay", "intent not shown: %s", st);
        message(
            r, lang, "Chưa hiển thị được thông tin thanh toán, vui lòng tải lại trang sau ít phút.",
            "Payment details cannot be shown right now; please reload this page in a few minutes.",
            out);
        return;
    }
    json_t *p = cds_payment_view(PQgetvalue(res, 0, 1));
    const char *payload =
        json_string_value(json_object_get(json_object_get(p, "vietqr"), "payload"));
    const char *qr = payload ? inline_svg(r, payload) : NULL;
    if (!qr) {
        cds_log(CDS_LOG_ERROR, "lookup_pay", "no VietQR code for an open intent");
        message(
            r, lang, "Chưa tạo được mã thanh toán, vui lòng tải lại trang sau ít phút.",
            "The payment code cannot be made right now; please reload this page in a few minutes.",
            out);
        json_decref(p);
        return;
    }
    json_t *b = json_object_get(p, "breakdown"), *bank = json_object_get(p, "bank");
    long long remaining = num(p, "remaining_vnd");
    const char *expires = json_string_value(json_object_get(p, "expires_at"));
    const cds_html_var v[] = {
        {"remaining", money(r, lang, remaining)},
        {"remaining_vnd", cds_req_printf(r, "%lld", remaining)},
        {"fee", money(r, lang, num(b, "fee_vnd"))},
        {"discount",
         num(b, "online_discount_vnd") > 0 ? money(r, lang, num(b, "online_discount_vnd")) : NULL},
        {"discount_pct", cds_req_printf(r, "%lld", num(b, "online_discount_pct"))},
        {"service",
         num(b, "service_charge_vnd") > 0 ? money(r, lang, num(b, "service_charge_vnd")) : NULL},
        {"delivery",
         num(b, "delivery_fee_vnd") > 0 ? money(r, lang, num(b, "delivery_fee_vnd")) : NULL},
        {"advance", num(b, "advance_vnd") > 0 ? money(r, lang, num(b, "advance_vnd")) : NULL},
        {"total", money(r, lang, num(p, "amount_vnd"))},
        {"received", num(p, "received_vnd") > 0 ? money(r, lang, num(p, "received_vnd")) : NULL},
        {"qr", qr},
        {"bank", json_string_value(json_object_get(bank, "name"))},
        {"account_no", json_string_value(json_object_get(bank, "account_no"))},
        {"account_name", json_string_value(json_object_get(bank, "account_name"))},
        {"reference", json_string_value(json_object_get(p, "reference"))},
        {"expires_at", expires},
        {"deadline", when(r, expires)},
        {"app_link", app_link},
    };
    cds_html_render_lang(out, "dossiers/pages/pay.html", lang, v, sizeof v / sizeof v[0]);
    json_decref(p);
}

void lk_paid_html(cds_req *r, int lang, const char *paid_json, cds_buf *out)
{
    json_t *p = paid_json && *paid_json ? json_loads(paid_json, 0, NULL) : NULL;
    if (!json_is_object(p)) {
        json_decref(p);
        return;
    }
    json_t *rc = json_object_get(p, "receipt");
    const char *id = json_string_value(json_object_get(rc, "id"));
    const char *n = json_string_value(json_object_get(rc, "number"));
    const char *sig = json_string_value(json_object_get(rc, "signature"));
    const char *url = NULL;
    /* The signature is base64url (receipts/sign.h): nothing to escape in a
     * query; anything else is not shown rather than mangled. */
    if (id && n && sig && cds_uuid_valid(id) && strspn(n, "0123456789") == strlen(n) &&
        strspn(sig, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
            strlen(sig))
        url = cds_req_printf(r, "/r/%s?n=%s&s=%s", id, n, sig);
    const char *at = json_string_value(json_object_get(p, "paid_at"));
    const cds_html_var v[] = {
        {"amount", money(r, lang, num(p, "amount_vnd"))},
        {"paid_at", at ? when(r, at) : NULL},
        {"paid_at_iso", at},
        {"receipt_url", url},
        {"receipt_number", n},
    };
    cds_html_render_lang(out, "dossiers/pages/paid.html", lang, v, sizeof v / sizeof v[0]);
    json_decref(p);
}

const char *lk_app_link(cds_req *r, const char *dossier_id, const char *secret)
{
    const char *base = g_dossiers.public_base_url ? g_dossiers.public_base_url : "";
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    return cds_req_printf(r, "%.*s/app/dossiers/%s?s=%s", (int)bl, base, dossier_id, secret);
}

/* ---------------- GET /app/dossiers/{id}?s= ---------------- */

static void on_app(cds_req *r, PGresult *res)
{
    const char *secret = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
            cds_log(CDS_LOG_ERROR, "lookup_app_link", "%s", PQresultErrorMessage(res));
        lk_not_found_page(r);
        return;
    }
    lk_lookup_page_of(r, cds_req_strdup(r, PQgetvalue(res, 0, 0)), secret);
}

void cds_dossier_app_link(cds_req *r)
{
    const char *id = cds_req_param(r, "id");
    const char *given = cds_req_query(r, "s");
    char want[CDS_LOOKUP_SECRET_LEN + 1] = "";
    int ok = cds_uuid_valid(id) && given && strlen(given) == CDS_LOOKUP_SECRET_LEN;
    if (ok) {
        /* The id as the database writes it: lower-case. */
        char lower[37];
        snprintf(lower, sizeof lower, "%s", id);
        for (char *p = lower; *p; p++)
            if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
        cds_lookup_secret(lower, want);
        ok = cds_ct_equal(want, given, CDS_LOOKUP_SECRET_LEN);
        id = cds_req_strdup(r, lower);
    }
    if (!ok) {
        lk_not_found_page(r);
        return;
    }
    cds_req_set_user(r, cds_req_strdup(r, want), NULL);
    const char *params[] = {id};
    cds_req_db(r, st_app, 1, params, on_app);
}
