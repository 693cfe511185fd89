/* The payOS cancel outbox: payment links an intent no longer needs
 * (payos_links rows `cancel_due`, written in the transaction that closed or
 * changed the intent: paid another way, expired, cancelled) are cancelled
 * at payOS (POST /v2/payment-requests/{orderCode}/cancel, payos.c), on
 * core/outbox.h on every event-loop thread: woken by NOTIFY cds_payos, a
 * poll covering retries and lost wake-ups.
 *
 * Claims (cds_payos_cancel_claim) take due rows with SKIP LOCKED and make
 * them due again after CLAIM_TIMEOUT_S, so a dispatcher that dies loses
 * nothing; a cancel sent twice is harmless (the second is refused, and the
 * link is then read as below). A refused cancel (the link is no longer
 * PENDING at payOS) is followed by a read of the link: PAID or UNDERPAID,
 * the row is `paid` (its webhook credits, and money into a closed intent is
 * owed back); any other state, or no such link (the create never reached
 * payOS), `cancelled`. No answer, 401, 429 or 5xx: retried with the outbox
 * backoff up to ATTEMPTS_MAX, then `failed` for a person. */
#include "internal.h"

#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/outbox.h"
#include "core/outbox_call.h"
#include "core/server.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM_TIMEOUT_S "60"
#define ATTEMPTS_MAX 20
#define BATCH 32
#define POLL_MS 5000
#define BACKOFF_BASE_MS 2000
#define BACKOFF_MAX_MS (30 * 60 * 1000)
#define REASON "Khoản thanh toán đã kết thúc hoặc đã nộp bằng cách khác"

typedef struct cx_row {
    cds_outbox_call c; /* first: key (the orderCode), attempt, call and query in flight */
    pm_call call;
} cx_row;

static int st_claim = -1;
static int g_slot = -1;
static cds_outbox *g_outbox;
static cds_outbox_results g_results = {.stmt = -1,
                                       .log_event = "payos_cancel",
                                       .failed_event = "payos_cancel_record_failed",
                                       .key_name = "orderCode"};

static int64_t m_cancelled(void) { return atomic_load(&g_results.done); }
static int64_t m_retried(void) { return atomic_load(&g_results.retried); }
static int64_t m_failed(void) { return atomic_load(&g_results.failed); }

/* outcome: cancelled | paid | retry */
static void record(cx_row *c, const char *outcome, const char *error, long hint_ms)
{
    cds_outbox_call_result(&g_results, &c->c, outcome, error, hint_ms, ATTEMPTS_MAX,
                           BACKOFF_BASE_MS, BACKOFF_MAX_MS);
}

static int start_call(cx_row *c, cds_http_cb cb)
{
    cds_http_request hr = {.method = c->call.method,
                           .url = c->call.url,
                           .headers = c->call.headers,
                           .body = c->call.body,
                           .body_len = c->call.body_len,
                           .timeout_ms = g_payment.payos_timeout_ms};
    c->c.http = cds_http_start(c->c.w->http, &hr, cb, c);
    return c->c.http ? 0 : -1;
}

static void on_read(void *arg, const cds_http_response *resp)
{
    cx_row *c = arg;
    c->c.http = NULL;
    pm_payos_answer a;
    int rc = pm_payos_parse(resp, PM_PAYOS_LINK, &a);
    if (rc == PM_PAYOS_OK && strcmp(a.status, "PENDING") == 0)
        record(c, "retry", "payOS refused the cancel of a PENDING link", a.retry_after_ms);
    else if (rc == PM_PAYOS_OK)
        record(c,
               strcmp(a.status, "PAID") == 0 || strcmp(a.status, "UNDERPAID") == 0 ||
                       strcmp(a.status, "PROCESSING") == 0
                   ? "paid"
                   : "cancelled",
               a.status, 0);
    else if (rc == PM_PAYOS_REFUSED) /* payOS has no such link: nothing to cancel */
        record(c, "cancelled", a.error, 0);
    else
        record(c, "retry", a.error, a.retry_after_ms);
}

static void on_cancelled(void *arg, const cds_http_response *resp)
{
    cx_row *c = arg;
    c->c.http = NULL;
    pm_payos_answer a;
    int rc = pm_payos_parse(resp, PM_PAYOS_LINK, &a);
    if (rc == PM_PAYOS_OK) {
        record(c, "cancelled", NULL, 0);
    } else if (rc == PM_PAYOS_REFUSED || rc == PM_PAYOS_DUPLICATE) {
        /* not PENDING any more, or unknown to payOS: read what it is */
        if (pm_payos_build_get(c->c.key, &c->call) != 0 || start_call(c, on_read) != 0)
            record(c, "retry", "cannot start the read of the link", 0);
    } else {
        record(c, "retry", a.error, a.retry_after_ms);
    }
}

static cds_outbox_row *take(cds_outbox_worker *ow, PGresult *res, int row)
{
    return cds_outbox_call_take(ow, res, row, sizeof(cx_row), 2);
}

static void handle(cds_outbox_row *row, PGresult *res, int i)
{
    cx_row *c = (cx_row *)row;
    (void)res;
    (void)i;
    if (!pm_payos_configured()) {
        record(c, "retry", "payOS not configured on this node", 0);
        return;
    }
    if (pm_payos_build_cancel(c->c.key, REASON, &c->call) != 0 ||
        start_call(c, on_cancelled) != 0)
        record(c, "retry", "cannot start the cancel call", 0);
}

static void release(cds_outbox_row *row)
{
    cx_row *c = (cx_row *)row;
    pm_call_clear(&c->call);
    free(c);
}

static const cds_outbox_ops ops = {take, handle, cds_outbox_call_cancel, release};

int pm_payos_cancel_init(const char *db_conninfo)
{
    st_claim = cds_db_stmt_register(
        "payos_cancel_claim",
        "SELECT order_code, link_id, attempts FROM cds_payos_cancel_claim($1, $2::int, $3::int)", 3);
    g_results.stmt = cds_db_stmt_register(
        "payos_cancel_result",
        "SELECT cds_payos_cancel_result($1::bigint, $2::int, $3, $4, $5::bigint)", 5);
    g_slot = cds_worker_slot("payos_cancel");
    if (st_claim < 0 || g_results.stmt < 0 || g_slot < 0) return -1;
    cds_metrics_register("cds_payos_links_cancelled_total",
                         "payOS payment links cancelled (or found paid or gone).", m_cancelled);
    cds_metrics_register("cds_payos_link_cancel_retries_total", "payOS cancel attempts to retry.",
                         m_retried);
    cds_metrics_register("cds_payos_link_cancel_failed_total", "payOS cancels failed for good.",
                         m_failed);
    if (!g_payment.payos_dispatch || !db_conninfo) return 0;
    cds_outbox_def def = {
        .name = "payos_cancel",
        .channel = "cds_payos",
        .claim_stmt = st_claim,
        .claim_args = {CLAIM_TIMEOUT_S},
        .nclaim_args = 1,
        .batch = BATCH,
        .max_inflight = BATCH,
        .refill = 1,
        .poll_ms = POLL_MS,
        .record_stmt = -1,
        .ops = &ops,
    };
    g_outbox = cds_outbox_new(&def, db_conninfo);
    return g_outbox ? 0 : -1;
}

void pm_payos_cancel_shutdown(void)
{
    cds_outbox_free(g_outbox);
    g_outbox = NULL;
}

void pm_payos_cancel_worker_start(cds_worker *w)
{
    cds_outbox_slot_start(g_outbox, g_slot, w);
}

void pm_payos_cancel_worker_stop(cds_worker *w)
{
    cds_outbox_slot_stop(g_slot, w);
}
