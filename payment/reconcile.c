/* Operators' side of payments, behind the partner check (the city's back
 * office signs its calls like the TTHC system does):
 *
 *   GET  /v1/partner/payments/reconciliation?from=D&to=D[&format=csv]
 *        per bank day and receiving account: received, matched (by the
 *        reference or by hand), unmatched, refunds due, and duplicate
 *        reports (a transfer reported again, e.g. by a second provider:
 *        recorded, credited nothing); JSON or CSV
 *   GET  /v1/partner/payments/unmatched[?limit=N]
 *        transfers that matched no payment, oldest first, for a person
 *   POST /v1/partner/payments/transactions/{id}/resolve
 *        {"dossier_code", "actor", "reason"}: assign an unmatched transfer
 *        to a dossier's payment, with the consequences of a match (paid
 *        step, receipt), audited
 *   POST /v1/partner/payments/{id}/refunded {"actor", "reason"}
 *        the money owed back on a payment was returned, audited
 *
 * The same reports and actions exist as `cds payments ...` commands
 * (cli/payments_cmd.c), which call the same SQL functions. */
#include "internal.h"

#include "core/csv.h"
#include "core/date.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANGE_DAYS_MAX 366
#define ACTOR_MAX 200
#define REASON_MAX 2000
#define CODE_MAX 64

static int st_report = -1, st_unmatched = -1, st_resolve = -1, st_refunded = -1;

const char *const cds_payment_recon_cols[CDS_PAYMENT_RECON_NCOLS] = {
    "day",           "account_no",     "received_count", "received_vnd",
    "matched_count", "matched_vnd",    "unmatched_count", "unmatched_vnd",
    "refund_due_vnd", "after_expiry_count", "duplicate_count", "duplicate_vnd"};
const char cds_payment_recon_sql[] =
    "SELECT day::text, account_no, received_count, received_vnd, matched_count, matched_vnd,"
    " unmatched_count, unmatched_vnd, refund_due_vnd, after_expiry_count, duplicate_count,"
    " duplicate_vnd FROM cds_payment_reconciliation($1::date, $2::date)";
/* hold_reason: why a transfer was not credited automatically although it
 * may name an intent ("no_bank_reference"), else null. */
const char cds_payment_unmatched_sql[] =
    "SELECT COALESCE(json_agg(json_build_object('id', id, 'provider', provider,"
    " 'provider_tx_id', provider_tx_id, 'amount_vnd', amount_vnd, 'description', description,"
    " 'account_no', account_no, 'reference', reference, 'counter_name', counter_name,"
    " 'bank_reference', bank_reference, 'hold_reason', hold_reason,"
    " 'transacted_at', cds_rfc3339(transacted_at), 'received_at', cds_rfc3339(received_at))"
    " ORDER BY received_at, id), '[]')::text"
    " FROM (SELECT * FROM bank_transactions WHERE match_status = 'unmatched'"
    "       ORDER BY received_at, id LIMIT $1::int) b";

const char cds_payment_resolve_sql[] =
    "SELECT status, payment_id, payment_status, receipt_id"
    " FROM cds_payment_resolve($1::bigint, $2, $3, $4, $5)";
const char cds_payment_refunded_sql[] =
    "SELECT status, refunded_vnd FROM cds_payment_refunded($1::uuid, $2, $3)";

int pm_reconcile_init(void)
{
    st_report = cds_db_stmt_register("payment_reconciliation", cds_payment_recon_sql, 2);
    st_unmatched = cds_db_stmt_register("payment_unmatched", cds_payment_unmatched_sql, 1);
    st_resolve = cds_db_stmt_register("payment_resolve", cds_payment_resolve_sql, 5);
    st_refunded = cds_db_stmt_register("payment_refunded", cds_payment_refunded_sql, 3);
    return st_report < 0 || st_unmatched < 0 || st_resolve < 0 || st_refunded < 0 ? -1 : 0;
}

/* ---------------- reconciliation ---------------- */

/* core/csv.h: the account number comes from a provider's webhook. */
char *cds_payment_reconciliation_csv(PGresult *res, size_t *len)
{
    cds_csv w;
    cds_csv_begin(&w);
    for (int k = 0; k < CDS_PAYMENT_RECON_NCOLS; k++) cds_csv_text(&w, cds_payment_recon_cols[k]);
    cds_csv_row_end(&w);
    for (int i = 0; i < PQntuples(res); i++) {
        for (int k = 0; k < CDS_PAYMENT_RECON_NCOLS; k++) {
            if (k < 2) cds_csv_text(&w, PQgetvalue(res, i, k));
            else cds_csv_number(&w, PQgetvalue(res, i, k));
        }
        cds_csv_row_end(&w);
    }
    return cds_csv_finish(&w, len);
}

typedef struct report_ctx {
    int csv;
} report_ctx;

static void on_report(cds_req *r, PGresult *res)
{
    report_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_req_db_failed(r, "payment_reconciliation", res);
        return;
    }
    const char *const *cols = cds_payment_recon_cols;
    int n = PQntuples(res);
    if (c->csv) {
        size_t len = 0;
        char *out = cds_payment_reconciliation_csv(res, &len);
        if (!out) {
            cds_fail(r, CDS_P_OVERLOADED);
            return;
        }
        cds_resp_header(r, "content-disposition", "attachment; filename=\"reconciliation.csv\"");
        cds_respond(r, 200, "text/csv; charset=utf-8", out, len);
        free(out);
        return;
    }
    json_t *rows = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        for (int k = 0; k < CDS_PAYMENT_RECON_NCOLS; k++) {
            const char *v = PQgetvalue(res, i, k);
            json_object_set_new(o, cols[k], k < 2 ? json_string(v) : json_integer(strtoll(v, NULL, 10)));
        }
        json_array_append_new(rows, o);
    }
    json_t *body = json_pack("{s:o}", "days", rows);
    cds_respond_json(r, 200, body);
}

void cds_payment_reconciliation(cds_req *r)
{
    if (!cds_partner_auth(r)) return;
    const char *from = cds_req_query(r, "from"), *to = cds_req_query(r, "to");
    const char *format = cds_req_query(r, "format");
    long f = -1, t = -1;
    cds_date_parse(from, 2000, 2999, &f);
    cds_date_parse(to, 2000, 2999, &t);
    if (f < 0 || t < 0 || t < f || t - f >= RANGE_DAYS_MAX) {
        cds_problem(r, 400, "invalid_date_range",
                    "Khoảng ngày không hợp lệ: cần from và to dạng YYYY-MM-DD, from ≤ to, tối đa 366 ngày.");
        return;
    }
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        cds_problem(r, 400, "invalid_format", "Định dạng phải là json hoặc csv.");
        return;
    }
    report_ctx *c = cds_req_alloc(r, sizeof *c);
    c->csv = format && strcmp(format, "csv") == 0;
    cds_req_set_user(r, c, NULL);
    const char *params[] = {from, to};
    cds_req_db(r, st_report, 2, params, on_report);
}

/* ---------------- unmatched transfers ---------------- */

static void on_unmatched(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "payment_unmatched", res);
        return;
    }
    const char *items = PQgetvalue(res, 0, 0);
    char *body = cds_req_printf(r, "{\"items\":%s}", items);
    cds_respond(r, 200, "application/json", body, strlen(body));
}

void cds_payment_unmatched(cds_req *r)
{
    if (!cds_partner_auth(r)) return;
    int limit = cds_req_limit(r, 100, 1000);
    if (limit < 0) return;
    char lim[24];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {lim};
    cds_req_db(r, st_unmatched, 1, params, on_unmatched);
}

/* ---------------- manual actions ---------------- */

/* A required string member of at most max bytes, printable (no control
 * characters); NULL when absent or bad. */
static const char *text_member(json_t *body, const char *name, size_t max)
{
    const char *s = json_string_value(json_object_get(body, name));
    if (!s || !*s || strlen(s) > max) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return NULL;
    return s;
}

static void on_resolve(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "payment_resolve", res);
        return;
    }
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "resolved") == 0) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "status", "resolved", "payment_id",
                              PQgetvalue(res, 0, 1), "payment_status", PQgetvalue(res, 0, 2),
                              "receipt_id",
                              PQgetisnull(res, 0, 3) ? json_null() : json_string(PQgetvalue(res, 0, 3)));
        cds_respond_json(r, 200, o);
    } else if (strcmp(st, "not_found") == 0) {
        cds_problem(r, 404, "transaction_not_found", "Không tìm thấy giao dịch.");
    } else if (strcmp(st, "not_unmatched") == 0) {
        cds_problem(r, 409, "transaction_already_matched",
                    "Giao dịch đã được đối soát với một khoản thanh toán.");
    } else if (strcmp(st, "dossier_not_found") == 0) {
        cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
    } else {
        cds_problem(r, 409, "payment_not_found",
                    "Hồ sơ chưa có khoản thanh toán nào để gán giao dịch.");
    }
}

void cds_payment_resolve(cds_req *r)
{
    if (!cds_partner_auth(r)) return;
    const char *id = cds_req_param(r, "id");
    char *end = NULL;
    long long tx = id && *id >= '1' && *id <= '9' && strlen(id) <= 18 ? strtoll(id, &end, 10) : 0;
    if (tx <= 0 || !end || *end) {
        cds_problem(r, 404, "transaction_not_found", "Không tìm thấy giao dịch.");
        return;
    }
    json_t *body = cds_req_json(r);
    if (!body) return;
    const char *code = text_member(body, "dossier_code", CODE_MAX);
    const char *actor = text_member(body, "actor", ACTOR_MAX);
    const char *reason = text_member(body, "reason", REASON_MAX);
    if (!code || !actor || !reason) {
        cds_problem(r, 422, "invalid_request",
                    "Cần dossier_code, actor (người thực hiện) và reason (lý do), dạng chuỗi.");
        return;
    }
    const char *params[] = {id, code, actor, reason, cds_req_trace_stored(r)};
    cds_req_db(r, st_resolve, 5, params, on_resolve);
}

static void on_refunded(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "payment_refunded", res);
        return;
    }
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "refunded") == 0) {
        json_t *o = json_pack("{s:s, s:I}", "status", "refunded", "refunded_vnd",
                              (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10));
        cds_respond_json(r, 200, o);
    } else if (strcmp(st, "not_found") == 0) {
        cds_fail(r, CDS_P_PAYMENT_NOT_FOUND);
    } else {
        cds_problem(r, 409, "payment_not_refund_due", "Khoản thanh toán không có tiền phải hoàn.");
    }
}

void cds_payment_refunded(cds_req *r)
{
    if (!cds_partner_auth(r)) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_PAYMENT_NOT_FOUND);
    if (!id) return;
    json_t *body = cds_req_json(r);
    if (!body) return;
    const char *actor = text_member(body, "actor", ACTOR_MAX);
    const char *reason = text_member(body, "reason", REASON_MAX);
    if (!actor || !reason) {
        cds_problem(r, 422, "invalid_request",
                    "Cần actor (người thực hiện) và reason (lý do), dạng chuỗi.");
        return;
    }
    const char *params[] = {id, actor, reason};
    cds_req_db(r, st_refunded, 3, params, on_refunded);
}
