/* Payments waiting for a person:
 *
 *   GET  /console/payments
 *        transfers that matched no payment (oldest first, as the partner
 *        API's /v1/partner/payments/unmatched lists them: the same query)
 *        and payments with money owed back (refund_due)
 *   POST /console/payments/transactions/{id}/resolve   dossier_code, reason
 *        assigns the transfer to the dossier's payment: cds_payment_resolve,
 *        the function of the partner route and of `cds payments resolve`,
 *        with the operator as actor (audited there); then the dossier's page
 *   POST /console/payments/{id}/refunded                reason
 *        the money owed back was returned: cds_payment_refunded, likewise
 *
 * Refusals are pages with the status of the partner route's problem (404
 * unknown transfer or dossier, 409 already matched / no payment / nothing
 * owed), and change nothing. */
#include "internal.h"
#include "core/db.h"
#include "core/uuid.h"
#include "payment/payment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX "200"
#define CODE_MAX 64

static int st_unmatched = -1, st_refunds = -1, st_resolve = -1, st_refunded = -1;

int cn_payments_init(void)
{
    st_unmatched = cds_db_stmt_register_ro("console_unmatched", cds_payment_unmatched_sql, 1);
    st_refunds = cds_db_stmt_register_ro(
        "console_refunds_due",
        "SELECT COALESCE(json_agg(json_build_object('id', p.id, 'dossier_code', d.code,"
        " 'reference', p.reference, 'amount_vnd', p.amount_vnd, 'received_vnd', p.received_vnd,"
        " 'refund_due_vnd', p.refund_due_vnd, 'updated_at', cds_rfc3339(p.updated_at))"
        " ORDER BY p.updated_at, p.id), '[]')::text"
        " FROM (SELECT * FROM payments WHERE status = 'refund_due' ORDER BY updated_at, id"
        "       LIMIT $1::int) p JOIN dossiers d ON d.id = p.dossier_id",
        1);
    st_resolve = cds_db_stmt_register("console_payment_resolve", cds_payment_resolve_sql, 5);
    st_refunded = cds_db_stmt_register("console_payment_refunded", cds_payment_refunded_sql, 3);
    return st_unmatched < 0 || st_refunds < 0 || st_resolve < 0 || st_refunded < 0 ? -1 : 0;
}

/* ---------------- the page ---------------- */

typedef struct list_ctx {
    const cn_session *s;
    const char *unmatched; /* JSON array text (arena) */
} list_ctx;

static const char *hold_text(cds_req *r, const char *hold)
{
    if (!*hold) return NULL;
    if (strcmp(hold, "no_bank_reference") == 0)
        return cn_t(r, "Giữ lại: không có mã giao dịch ngân hàng",
                    "Held: no bank reference of the transfer");
    return hold;
}

static void tx_rows(cds_req *r, const list_ctx *c, cds_buf *out)
{
    json_t *items = json_loads(c->unmatched, 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        char id[24];
        snprintf(id, sizeof id, "%lld", cn_ji(it, "id"));
        const cds_html_var v[] = {
            {"id", id},
            {"when", cn_when(r, cn_js(it, "transacted_at"))},
            {"received", cn_when(r, cn_js(it, "received_at"))},
            {"amount", cn_vnd(r, cn_ji(it, "amount_vnd"))},
            {"provider", cn_js(it, "provider")},
            {"account", cn_js(it, "account_no")},
            {"description", cn_js(it, "description")},
            {"counter", cn_js(it, "counter_name")},
            {"bank_reference", cn_js(it, "bank_reference")},
            {"reference", cn_js(it, "reference")},
            {"hold", hold_text(r, cn_js(it, "hold_reason"))},
            {"can_act", c->s->can_act ? "1" : NULL},
            {"csrf", c->s->csrf},
        };
        cn_render(r, out, "tx_row", v, sizeof v / sizeof v[0]);
    }
    json_decref(items);
}

static void refund_rows(cds_req *r, const list_ctx *c, const char *json, cds_buf *out)
{
    json_t *items = json_loads(json, 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const cds_html_var v[] = {
            {"id", cn_js(it, "id")},
            {"dossier_code", cn_js(it, "dossier_code")},
            {"reference", cn_js(it, "reference")},
            {"amount", cn_vnd(r, cn_ji(it, "amount_vnd"))},
            {"received", cn_vnd(r, cn_ji(it, "received_vnd"))},
            {"refund", cn_vnd(r, cn_ji(it, "refund_due_vnd"))},
            {"when", cn_when(r, cn_js(it, "updated_at"))},
            {"can_act", c->s->can_act ? "1" : NULL},
            {"csrf", c->s->csrf},
        };
        cn_render(r, out, "refund_row", v, sizeof v / sizeof v[0]);
    }
    json_decref(items);
}

static void on_refunds(cds_req *r, PGresult *res)
{
    list_ctx *c = cds_req_user(r);
    if (!cn_one(r, "console_refunds_due", res)) return;
    cds_buf tx, rf, b;
    cds_buf_init(&tx, CDS_HTML_PAGE_MAX);
    cds_buf_init(&rf, CDS_HTML_PAGE_MAX);
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    tx_rows(r, c, &tx);
    refund_rows(r, c, PQgetvalue(res, 0, 0), &rf);
    const cds_html_var v[] = {
        {"notice", cn_notice(r, c->s)},
        {"tx_rows", cds_buf_str(&tx)},
        {"refund_rows", cds_buf_str(&rf)},
        {"no_tx", tx.len ? NULL : "1"},
        {"no_refunds", rf.len ? NULL : "1"},
    };
    cn_render(r, &b, "payments", v, sizeof v / sizeof v[0]);
    if (tx.err || rf.err) cds_buf_fail(&b);
    cds_buf_free(&tx);
    cds_buf_free(&rf);
    cn_send(r, 200, c->s, cn_t(r, "Thanh toán cần xử lý", "Payments to resolve"), &b);
}

static void on_unmatched(cds_req *r, PGresult *res)
{
    list_ctx *c = cds_req_user(r);
    if (!cn_one(r, "console_unmatched", res)) return;
    c->unmatched = cds_req_strdup(r, PQgetvalue(res, 0, 0));
    const char *params[] = {LIST_MAX};
    cds_req_db(r, st_refunds, 1, params, on_refunds);
}

void cn_payments_page(cds_req *r, const cn_session *s)
{
    list_ctx *c = cds_req_alloc(r, sizeof *c);
    c->s = s;
    c->unmatched = "[]";
    cds_req_set_user(r, c, NULL);
    const char *params[] = {LIST_MAX};
    cds_req_db(r, st_unmatched, 1, params, on_unmatched);
}

void cds_console_payments(cds_req *r)
{
    cn_page(r, cn_payments_page);
}

/* ---------------- actions ---------------- */

typedef struct act_ctx {
    const cn_session *s;
    const char *code;
} act_ctx;

static void bad_form(cds_req *r, const cn_session *s, const char *vi, const char *en)
{
    cn_message(r, 400, s, cn_t(r, "Thông tin chưa hợp lệ", "Invalid input"), cn_t(r, vi, en));
}

static void on_resolve(cds_req *r, PGresult *res)
{
    act_ctx *c = cds_req_user(r);
    if (!cn_one(r, "console_payment_resolve", res)) return;
    const char *st = PQgetvalue(res, 0, 0);
    const cn_session *s = c->s;
    if (strcmp(st, "resolved") == 0) {
        cn_session *n = cds_req_alloc(r, sizeof *n);
        *n = *s;
        n->notice = cn_t(r, "Đã gán giao dịch cho hồ sơ.", "The transfer was assigned to the dossier.");
        cn_dossier_page(r, n, c->code);
    } else if (strcmp(st, "not_found") == 0) {
        cn_message(r, 404, s, cn_t(r, "Không tìm thấy giao dịch", "Transfer not found"),
                   cn_t(r, "Không có giao dịch này.", "There is no such transfer."));
    } else if (strcmp(st, "not_unmatched") == 0) {
        cn_message(r, 409, s, cn_t(r, "Giao dịch đã được đối soát", "Transfer already matched"),
                   cn_t(r, "Giao dịch đã được đối soát với một khoản thanh toán; không thay đổi gì.",
                        "The transfer is already matched to a payment; nothing was changed."));
    } else if (strcmp(st, "dossier_not_found") == 0) {
        cn_message(r, 404, s, cn_t(r, "Không tìm thấy hồ sơ", "Dossier not found"),
                   cn_t(r, "Không có hồ sơ mang mã này; giao dịch chưa được gán.",
                        "No dossier has this code; the transfer was not assigned."));
    } else {
        cn_message(r, 409, s, cn_t(r, "Hồ sơ chưa có khoản thanh toán", "No payment to assign to"),
                   cn_t(r, "Hồ sơ chưa có khoản thanh toán nào để gán giao dịch.",
                        "The dossier has no payment the transfer could be assigned to."));
    }
}

void cds_console_payment_resolve(cds_req *r)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *id = cds_req_param(r, "id");
    char *end = NULL;
    long long tx = id && *id >= '1' && *id <= '9' && strlen(id) <= 18 ? strtoll(id, &end, 10) : 0;
    if (tx <= 0 || !end || *end) {
        cn_message(r, 404, s, cn_t(r, "Không tìm thấy giao dịch", "Transfer not found"),
                   cn_t(r, "Không có giao dịch này.", "There is no such transfer."));
        return;
    }
    const char *code = cn_form_text(r, "dossier_code", CODE_MAX);
    const char *reason = cn_form_text(r, "reason", CN_REASON_MAX);
    if (!code || !reason) {
        bad_form(r, s, "Cần mã hồ sơ (tối đa 64 ký tự) và lý do (tối đa 2000 ký tự).",
                 "A dossier code (at most 64 characters) and a reason (at most 2000) are needed.");
        return;
    }
    act_ctx *c = cds_req_alloc(r, sizeof *c);
    c->s = s;
    c->code = code;
    cds_req_set_user(r, c, NULL);
    const char *params[] = {id, code, s->actor, reason, cds_req_trace_stored(r)};
    cds_req_db(r, st_resolve, 5, params, on_resolve);
}

static void on_refunded(cds_req *r, PGresult *res)
{
    act_ctx *c = cds_req_user(r);
    if (!cn_one(r, "console_payment_refunded", res)) return;
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "refunded") == 0)
        cn_done(r, c->s, cn_t(r, "Đã ghi nhận hoàn tiền.", "The refund was recorded."),
                cn_payments_page);
    else if (strcmp(st, "not_found") == 0)
        cn_message(r, 404, c->s, cn_t(r, "Không tìm thấy khoản thanh toán", "Payment not found"),
                   cn_t(r, "Không có khoản thanh toán này.", "There is no such payment."));
    else
        cn_message(r, 409, c->s, cn_t(r, "Không có tiền phải hoàn", "Nothing to refund"),
                   cn_t(r, "Khoản thanh toán không có tiền phải hoàn; không thay đổi gì.",
                        "The payment owes nothing back; nothing was changed."));
}

void cds_console_payment_refunded(cds_req *r)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *id = cds_req_param(r, "id");
    if (!id || !cds_uuid_valid(id)) {
        cn_message(r, 404, s, cn_t(r, "Không tìm thấy khoản thanh toán", "Payment not found"),
                   cn_t(r, "Không có khoản thanh toán này.", "There is no such payment."));
        return;
    }
    const char *reason = cn_form_text(r, "reason", CN_REASON_MAX);
    if (!reason) {
        bad_form(r, s, "Cần lý do (tối đa 2000 ký tự).", "A reason (at most 2000 characters) is needed.");
        return;
    }
    act_ctx *c = cds_req_alloc(r, sizeof *c);
    c->s = s;
    cds_req_set_user(r, c, NULL);
    const char *params[] = {id, s->actor, reason};
    cds_req_db(r, st_refunded, 3, params, on_refunded);
}
