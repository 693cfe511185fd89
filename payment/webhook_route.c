/* The payment providers' webhooks:
 *
 *   POST /v1/webhooks/payos    payOS-style (signature inside the body)
 *   POST /v1/webhooks/casso    Casso-style (X-Casso-Signature: t=..,v1=..)
 *   POST /v1/webhooks/sepay    SePay-style (Authorization: Apikey, or HMAC)
 *
 * The adapters (webhook_*.c) authenticate the call and turn it into
 * normalized transactions; a refusal answers problem+json with the
 * verdict's code and status (401 signature, 400 body, 413 size) and writes
 * nothing. Each credit then goes through cds_payment_credit, one SQL call
 * that is idempotent by (provider, transaction id): the same webhook five
 * times changes the state once and answers success five times; and by
 * transfer (receiving account, the bank's reference, amount, value date):
 * the same transfer reported by two or three providers is credited once,
 * the further reports recorded as duplicates for reconciliation. A report
 * without a bank reference is recorded but held for a person (see
 * cds_payment_credit in db/functions/payment.sql). The reference is looked
 * for in the transfer description in C
 * (cds_payref_find: case, spaces, punctuation and bank prefixes tolerated);
 * a description with none, or with two different ones, is recorded as
 * unmatched for a person to reconcile. A payOS report names its payment link
 * by orderCode: one of our links (payos_links) pays its intent whatever the
 * text says; an orderCode that is none of ours falls back to the reference
 * in the text, and with none there is acknowledged and recorded nowhere
 * (payOS's sample call when the URL is confirmed; counted in
 * cds_payment_payos_unknown_orders_total). Outgoing and failed transactions
 * are acknowledged and ignored.
 *
 * The answer is the provider's success body only once every credit of the
 * call is committed; if the database fails midway, 503 makes the provider
 * retry, and the credits already recorded come back as duplicates. */
#include "internal.h"
#include "payment/reference.h"
#include "payment/webhook.h"

#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/problem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int st_credit = -1;
static atomic_llong m_calls, m_refused, m_credits, m_duplicates, m_unmatched, m_unknown_orders;

static int64_t get_calls(void) { return atomic_load(&m_calls); }
static int64_t get_refused(void) { return atomic_load(&m_refused); }
static int64_t get_credits(void) { return atomic_load(&m_credits); }
static int64_t get_duplicates(void) { return atomic_load(&m_duplicates); }
static int64_t get_unmatched(void) { return atomic_load(&m_unmatched); }
static int64_t get_unknown_orders(void) { return atomic_load(&m_unknown_orders); }

int pm_webhook_init(void)
{
    st_credit = cds_db_stmt_register(
        "payment_credit",
        "SELECT status, match, tx_id, payment_id, payment_status, receipt_id FROM cds_payment_credit("
        "$1, $2, $3::bigint, $4, $5, $6, $7, $8, $9, COALESCE($10::timestamptz, now()), $11,"
        " $12::bigint, $13)",
        13);
    if (st_credit < 0) return -1;
    cds_metrics_register("cds_payment_webhooks_total", "Provider webhook calls received.", get_calls);
    cds_metrics_register("cds_payment_webhooks_refused_total",
                         "Provider webhook calls refused (signature, window, body).", get_refused);
    cds_metrics_register("cds_payment_credits_total", "Credits recorded for the first time.",
                         get_credits);
    cds_metrics_register("cds_payment_credit_duplicates_total",
                         "Credits delivered again and recognised as duplicates.", get_duplicates);
    cds_metrics_register("cds_payment_credits_unmatched_total",
                         "Credits recorded without a matching payment reference.", get_unmatched);
    cds_metrics_register("cds_payment_payos_unknown_orders_total",
                         "payOS reports naming no link of ours and no reference: not recorded.",
                         get_unknown_orders);
    return 0;
}

typedef struct hook_ctx {
    cds_hook_result res;
    size_t next; /* index of the next transaction to record */
} hook_ctx;

static void hook_free(void *p)
{
    free(p);
}

static const char *header_of(void *ctx, const char *lower_name)
{
    return cds_req_header((const cds_req *)ctx, lower_name);
}

static void record_next(cds_req *r);

static void on_credit(cds_req *r, PGresult *res)
{
    hook_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "payment_credit", res);
        return;
    }
    const cds_hook_tx *t = &c->res.tx[c->next];
    const char *status = PQgetvalue(res, 0, 0), *match = PQgetvalue(res, 0, 1);
    if (strcmp(status, "unknown_order") == 0) {
        atomic_fetch_add(&m_unknown_orders, 1);
        cds_log(CDS_LOG_WARN, "payment_unknown_order",
                "%s %s: orderCode %s is none of our payment links and the text names no "
                "payment: acknowledged, not recorded",
                t->provider, t->id, t->code);
    } else if (strcmp(status, "duplicate") == 0) {
        atomic_fetch_add(&m_duplicates, 1);
    } else if (strcmp(status, "duplicate_transfer") == 0) {
        /* Another report of a transfer already recorded (a second provider
         * on the same account): recorded for reconciliation, not credited. */
        atomic_fetch_add(&m_duplicates, 1);
        cds_log(CDS_LOG_INFO, "payment_duplicate",
                "%s %s: %lld VND is transfer %s already recorded (%s), not credited again",
                t->provider, t->id, (long long)t->amount, PQgetvalue(res, 0, 2), match);
    } else {
        atomic_fetch_add(&m_credits, 1);
        if (strcmp(match, "unmatched") == 0) atomic_fetch_add(&m_unmatched, 1);
        cds_log(CDS_LOG_INFO, "payment_credit", "%s %s: %lld VND %s payment=%s status=%s",
                t->provider, t->id, (long long)t->amount, match, PQgetvalue(res, 0, 3),
                PQgetvalue(res, 0, 4));
    }
    c->next++;
    record_next(r);
}

static void record_next(cds_req *r)
{
    hook_ctx *c = cds_req_user(r);
    while (c->next < c->res.n && c->res.tx[c->next].disposition != CDS_HOOK_CREDIT) c->next++;
    if (c->next >= c->res.n) {
        const char *body = cds_hook_answer(c->res.provider);
        cds_respond(r, 200, "application/json", body, strlen(body));
        return;
    }
    const cds_hook_tx *t = &c->res.tx[c->next];
    char amount[24], at[32], ref[CDS_PAYREF_LEN + 1];
    snprintf(amount, sizeof amount, "%lld", (long long)t->amount);
    const char *at_p = NULL;
    if (t->time_ok) {
        time_t e = (time_t)t->time_epoch;
        struct tm tm;
        if (gmtime_r(&e, &tm) && strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0) at_p = at;
    }
    const char *ref_p = cds_payref_find(t->description, ref) == CDS_PAYREF_FOUND ? ref : NULL;
    /* payOS's orderCode names its link; one that cannot be ours (not 1..16
     * digits) is sent as 0, which no link has */
    const char *order_p = NULL;
    if (c->res.provider == CDS_HOOK_PAYOS) {
        size_t n = strlen(t->code);
        order_p = n >= 1 && n <= 16 && strspn(t->code, "0123456789") == n ? t->code : "0";
    }
    const char *params[] = {t->provider,     t->id,       amount,       t->description,
                            t->account,      t->bank_bin, t->reference, t->counter_account,
                            t->counter_name, at_p,        ref_p,        order_p,
                            cds_req_trace_stored(r)};
    cds_req_db(r, st_credit, 13, params, on_credit);
}

typedef int (*verify_fn)(const cds_hook_req *rq, cds_hook_result *out);

static int verify_payos(const cds_hook_req *rq, cds_hook_result *out)
{
    return cds_hook_payos(rq, g_payment.payos_checksum_key, out);
}

static int verify_casso(const cds_hook_req *rq, cds_hook_result *out)
{
    return cds_hook_casso(rq, g_payment.casso_secret, out);
}

static int verify_sepay(const cds_hook_req *rq, cds_hook_result *out)
{
    return cds_hook_sepay(rq, g_payment.sepay_api_key, g_payment.sepay_hmac_secret, out);
}

/* Vietnamese detail of a refusal (the English message with the exact place
 * goes to the log only: it may help a forger). */
static const char *refusal_detail(int rc)
{
    switch (rc) {
    case CDS_HOOK_NO_AUTH: return "Thiếu chữ ký xác thực của nhà cung cấp thanh toán.";
    case CDS_HOOK_BAD_SIGNATURE: return "Chữ ký xác thực không hợp lệ.";
    case CDS_HOOK_STALE_TIMESTAMP: return "Thời điểm ký nằm ngoài khoảng cho phép (5 phút).";
    case CDS_HOOK_TOO_LARGE: return "Nội dung quá lớn.";
    case CDS_HOOK_NOT_CONFIGURED: return "Chưa cấu hình khóa cho nhà cung cấp này.";
    case CDS_HOOK_INTERNAL: return "Lỗi hệ thống, vui lòng thử lại sau.";
    default: return "Nội dung webhook không hợp lệ.";
    }
}

static void webhook(cds_req *r, const char *name, verify_fn verify)
{
    atomic_fetch_add(&m_calls, 1);
    hook_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        cds_fail(r, CDS_P_OVERLOADED);
        return;
    }
    cds_req_set_user(r, c, hook_free);
    cds_hook_req rq = {0};
    rq.body = cds_req_body(r, &rq.body_len);
    rq.header = header_of;
    rq.header_ctx = r;
    rq.now = time(NULL);
    int rc = verify(&rq, &c->res);
    if (rc != CDS_HOOK_OK) {
        atomic_fetch_add(&m_refused, 1);
        cds_log(rc == CDS_HOOK_NOT_CONFIGURED || rc == CDS_HOOK_INTERNAL ? CDS_LOG_ERROR : CDS_LOG_WARN,
                "payment_webhook", "%s from %s refused (%s): %s", name, cds_req_peer(r),
                cds_hook_err_code(rc), c->res.message);
        cds_problem(r, cds_hook_err_status(rc), cds_hook_err_code(rc), refusal_detail(rc));
        return;
    }
    c->next = 0;
    record_next(r);
}

void cds_webhook_payos(cds_req *r)
{
    webhook(r, "payos", verify_payos);
}

void cds_webhook_casso(cds_req *r)
{
    webhook(r, "casso", verify_casso);
}

void cds_webhook_sepay(cds_req *r)
{
    webhook(r, "sepay", verify_sepay);
}
