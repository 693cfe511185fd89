/* The citizen's side of a fee: asking to pay and reading the payment.
 *
 *   POST /v1/dossiers/{id}/payment   the open intent of the dossier, or a new
 *                                    one (201); asking again returns the same
 *                                    (200), so the route is safe to retry
 *   GET  /v1/dossiers/{id}/payment   the latest payment of the dossier
 *
 * The amount and its breakdown are computed by cds_payment_open in SQL from
 * the fee request, the procedure and the agency's account; C adds a fresh
 * reference (payment/reference.h) and, on the way out, the VietQR payload
 * that pays what remains. A reference that happens to exist already (45
 * random bits: practically never) is retried with another. */
#include "internal.h"
#include "payment/reference.h"
#include "payment/vietqr.h"

#include "auth/auth.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFERENCE_TRIES 3

static int st_open = -1, st_get = -1;

int pm_intent_init(void)
{
    st_open = cds_db_stmt_register(
        "payment_open", "SELECT status, payment::text, dossier_status FROM cds_payment_open($1, $2, $3)", 3);
    st_get = cds_db_stmt_register("payment_get",
                                  "SELECT status, payment::text FROM cds_payment_get($1, $2)", 2);
    return st_open < 0 || st_get < 0 ? -1 : 0;
}

int pm_vietqr_payload(const char *bin, const char *account, long long remaining,
                      const char *reference, char *out, size_t cap)
{
    cds_vietqr q;
    memset(&q, 0, sizeof q);
    q.service = CDS_VIETQR_ACCOUNT;
    q.initiation = CDS_VIETQR_DYNAMIC;
    q.amount = remaining > 0 ? (uint64_t)remaining : 0;
    snprintf(q.bin, sizeof q.bin, "%s", bin);
    snprintf(q.account, sizeof q.account, "%s", account);
    snprintf(q.purpose, sizeof q.purpose, "%s", reference);
    cds_vietqr_error e;
    if (cds_vietqr_encode(&q, out, cap, &e) < 0) {
        cds_log(CDS_LOG_ERROR, "payment_vietqr", "cannot encode the account of %s: %s", reference,
                e.msg);
        return -1;
    }
    return 0;
}

json_t *pm_payment_view(const char *payment_json)
{
    json_t *p = json_loads(payment_json, 0, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        return NULL;
    }
    const char *id = json_string_value(json_object_get(p, "id"));
    const char *ref = json_string_value(json_object_get(p, "reference"));
    json_t *bank = json_object_get(p, "bank");
    const char *bin = json_string_value(json_object_get(bank, "bin"));
    const char *acct = json_string_value(json_object_get(bank, "account_no"));
    const char *status = json_string_value(json_object_get(p, "status"));
    long long remaining = (long long)json_integer_value(json_object_get(p, "remaining_vnd"));
    int open = status && (strcmp(status, "created") == 0 || strcmp(status, "partially_paid") == 0);
    char payload[CDS_VIETQR_PAYLOAD_MAX + 1], png[96], svg[96];
    snprintf(png, sizeof png, "/v1/payments/%s/qr.png", id ? id : "");
    snprintf(svg, sizeof svg, "/v1/payments/%s/qr.svg", id ? id : "");
    const char *provider = json_string_value(json_object_get(p, "provider"));
    json_t *link = json_object_get(p, "payos");
    const char *link_qr = json_string_value(json_object_get(link, "qr_code"));
    if (provider && strcmp(provider, "payos") == 0) {
        /* payOS's own VietQR and checkout page; none of ours (payOS matches
         * what is paid into its link by orderCode). */
        if (open && remaining > 0 && id && link_qr) {
            json_object_set_new(
                p, "vietqr",
                json_pack("{s:s, s:s, s:s}", "payload", link_qr, "png_url", png, "svg_url", svg));
        } else {
            json_object_set_new(p, "vietqr", json_null());
            json_object_set_new(p, "payos", json_null());
        }
    } else if (open && remaining > 0 && id && ref && bin && acct &&
               pm_vietqr_payload(bin, acct, remaining, ref, payload, sizeof payload) == 0) {
        json_object_set_new(p, "vietqr", json_pack("{s:s, s:s, s:s}", "payload", payload, "png_url",
                                                    png, "svg_url", svg));
    } else {
        json_object_set_new(p, "vietqr", json_null());
    }
    return p;
}

json_t *cds_payment_view(const char *payment_json)
{
    return pm_payment_view(payment_json);
}

typedef struct open_ctx {
    char dossier[37];
    char citizen[37];
    char reference[CDS_PAYREF_LEN + 1];
    int tries;
} open_ctx;

static int send_open(cds_req *r);

/* make_link: the citizen asks to pay; an open payOS intent without its
 * payment link gets one first (payos_link.c). */
static void respond_payment(cds_req *r, int status, const char *text, int make_link)
{
    json_t *p = pm_payment_view(text);
    if (!p) {
        cds_req_db_failed(r, "payment_view", NULL);
        return;
    }
    if (make_link && pm_payos_wanted(p)) {
        pm_payos_open(r, status, p);
        return;
    }
    cds_respond_json(r, status, p);
}

static void on_open(cds_req *r, PGresult *res)
{
    open_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "payment_open", res);
        return;
    }
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "created") == 0) {
        respond_payment(r, 201, PQgetvalue(res, 0, 1), 1);
    } else if (strcmp(st, "existing") == 0) {
        respond_payment(r, 200, PQgetvalue(res, 0, 1), 1);
    } else if (strcmp(st, "not_found") == 0) {
        cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
    } else if (strcmp(st, "not_payable") == 0) {
        cds_problem(r, 409, "payment_not_requested",
                    cds_req_printf(r, "Hồ sơ không ở bước chờ nộp phí (trạng thái hiện tại: %s).",
                                   PQgetvalue(res, 0, 2)));
    } else if (strcmp(st, "nothing_to_pay") == 0) {
        cds_problem(r, 409, "nothing_to_pay",
                    "Khoản phí của hồ sơ đã được nộp đủ (tạm ứng hoặc miễn phí), không cần thanh toán.");
    } else if (strcmp(st, "no_account") == 0) {
        cds_log(CDS_LOG_ERROR, "payment_open", "no receiving account for the agency of dossier %s",
                c->dossier);
        cds_problem(r, 503, "payment_account_missing",
                    "Cơ quan chưa cấu hình tài khoản nhận thanh toán, vui lòng thử lại sau.");
    } else if (strcmp(st, "reference_taken") == 0 && ++c->tries < REFERENCE_TRIES) {
        send_open(r);
    } else {
        cds_log(CDS_LOG_ERROR, "payment_open", "unexpected status %s", st);
        cds_req_db_failed(r, "payment_open", NULL);
    }
}

static int send_open(cds_req *r)
{
    open_ctx *c = cds_req_user(r);
    if (cds_payref_new(c->reference) != 0) {
        cds_problem(r, 500, "internal", "Lỗi hệ thống, vui lòng thử lại sau.");
        return -1;
    }
    const char *params[] = {c->dossier, c->citizen, c->reference};
    return cds_req_db(r, st_open, 3, params, on_open);
}

void cds_payment_open(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_DOSSIER_NOT_FOUND);
    if (!id) return;
    open_ctx *c = cds_req_alloc(r, sizeof *c);
    snprintf(c->dossier, sizeof c->dossier, "%s", id);
    snprintf(c->citizen, sizeof c->citizen, "%s", p->citizen_id);
    cds_req_set_user(r, c, NULL);
    send_open(r);
}

static void on_get(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "payment_get", res);
        return;
    }
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "ok") == 0)
        respond_payment(r, 200, PQgetvalue(res, 0, 1), 0);
    else if (strcmp(st, "no_payment") == 0)
        cds_problem(r, 404, "payment_not_found", "Hồ sơ chưa có khoản thanh toán nào.");
    else
        cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
}

void cds_payment_get(cds_req *r)
{
    cds_auth_citizen_dossier_query(r, st_get, on_get);
}
