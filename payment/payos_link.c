/* The payOS payment link of an intent, made while the citizen asks to pay
 * (POST /v1/dossiers/{id}/payment) so the answer carries payOS's qrCode and
 * checkoutUrl. The calls go through the thread's curl multi
 * (core/http_client.h): the loop never waits.
 *
 * Safe under crashes and retries: the link row (payos_links) with its
 * orderCode is written before payOS is called (cds_payos_link_prepare), so
 * every create of one row sends the same orderCode and body. A create
 * whose answer was lost (a crash, a timeout) is sent again by a later ask,
 * once the row is older than a call; payOS then refuses the orderCode
 * (231), we read the link by orderCode: still PENDING, nobody has its QR,
 * so it is set for cancellation and a new row is made (at most three rounds
 * per ask); PAID, its webhook credits; CANCELLED/EXPIRED, gone. A create
 * in flight elsewhere answers 503 with Retry-After. payOS failing answers
 * 503 (the intent stays, the citizen asks again: at once when payOS turned
 * the call away with 401 or 429, since nothing was made; after a call's
 * time when it did not answer); payOS refusing the request answers 502. */
#include "internal.h"

#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/problem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS_MAX 3

static int st_prepare = -1, st_created = -1, st_settle = -1, st_reload = -1;
static atomic_llong m_created, m_failed, m_duplicates;

static int64_t get_created(void) { return atomic_load(&m_created); }
static int64_t get_failed(void) { return atomic_load(&m_failed); }
static int64_t get_duplicates(void) { return atomic_load(&m_duplicates); }

int pm_payos_link_init(void)
{
    st_prepare = cds_db_stmt_register(
        "payos_link_prepare",
        "SELECT action, order_code, amount_vnd, description, expires_epoch"
        " FROM cds_payos_link_prepare($1::uuid, $2::int, $3::int)",
        3);
    st_created = cds_db_stmt_register("payos_link_created",
                                      "SELECT cds_payos_link_created($1::bigint, $2, $3, $4)", 4);
    st_settle = cds_db_stmt_register("payos_link_settle",
                                     "SELECT cds_payos_link_settle($1::bigint, $2, $3)", 3);
    st_reload = cds_db_stmt_register(
        "payos_payment_reload", "SELECT cds_payment_json(p)::text FROM payments p WHERE id = $1", 1);
    if (st_prepare < 0 || st_created < 0 || st_settle < 0 || st_reload < 0) return -1;
    cds_metrics_register("cds_payos_links_created_total", "payOS payment links created.",
                         get_created);
    cds_metrics_register("cds_payos_link_create_failures_total",
                         "payOS link creates that failed or were refused.", get_failed);
    cds_metrics_register("cds_payos_link_create_duplicates_total",
                         "payOS link creates refused as a known orderCode (231).", get_duplicates);
    return 0;
}

typedef struct link_ctx {
    int status; /* what the open answers: 201 created, 200 existing */
    char payment_id[37];
    char description[32];
    pm_payos_link l;
    int rounds;
    int refused;     /* payOS refused the request: answered 502 once settled */
    int unavailable; /* payOS turned the call away (401, 429): answered 503 once settled */
    pm_call call;
    int slot;
} link_ctx;

static void link_free(void *p)
{
    link_ctx *c = p;
    pm_call_clear(&c->call);
    free(c);
}

int pm_payos_wanted(const json_t *p)
{
    const char *prov = json_string_value(json_object_get(p, "provider"));
    const char *st = json_string_value(json_object_get(p, "status"));
    json_t *link = json_object_get(p, "payos");
    return prov && strcmp(prov, "payos") == 0 && st &&
           (strcmp(st, "created") == 0 || strcmp(st, "partially_paid") == 0) &&
           (!link || json_is_null(link)) &&
           json_integer_value(json_object_get(p, "remaining_vnd")) > 0;
}

static void unavailable(cds_req *r, const char *why)
{
    cds_resp_header(r, "Retry-After", "2");
    cds_problem(r, 503, "payment_provider_unavailable",
                why ? why : "Cổng thanh toán payOS tạm thời không phản hồi, vui lòng thử lại sau.");
}

static void on_reload(cds_req *r, PGresult *res)
{
    link_ctx *c = cds_req_user(r);
    if (!cds_req_db_rows(r, "payos_payment_reload", res)) return;
    if (PQntuples(res) != 1) {
        cds_fail(r, CDS_P_PAYMENT_NOT_FOUND);
        return;
    }
    json_t *p = pm_payment_view(PQgetvalue(res, 0, 0));
    if (!p) {
        cds_req_db_failed(r, "payment_view", NULL);
        return;
    }
    cds_respond_json(r, c->status, p);
}

static void reload(cds_req *r)
{
    link_ctx *c = cds_req_user(r);
    const char *prm[] = {c->payment_id};
    cds_req_db(r, st_reload, 1, prm, on_reload);
}

static void prepare(cds_req *r);

static void cancel_call(void *call)
{
    cds_http_cancel(call);
}

static int call(cds_req *r, cds_http_cb cb)
{
    link_ctx *c = cds_req_user(r);
    cds_http_request hr = {.method = c->call.method,
                           .url = c->call.url,
                           .headers = c->call.headers,
                           .body = c->call.body,
                           .body_len = c->call.body_len,
                           .timeout_ms = g_payment.payos_timeout_ms};
    cds_http_call *h = cds_http_start(cds_req_worker(r)->http, &hr, cb, r);
    if (!h) return -1;
    c->slot = cds_req_track(r, cancel_call, h);
    return 0;
}

static void on_settled(cds_req *r, PGresult *res)
{
    link_ctx *c = cds_req_user(r);
    if (!cds_req_db_rows(r, "payos_link_settle", res)) return;
    if (c->refused) {
        cds_problem(r, 502, "payment_provider_refused",
                    "Cổng thanh toán payOS từ chối tạo mã thanh toán cho khoản này.");
        return;
    }
    if (c->unavailable) {
        unavailable(r, NULL);
        return;
    }
    if (++c->rounds >= ROUNDS_MAX) {
        unavailable(r, NULL);
        return;
    }
    prepare(r);
}

static void settle(cds_req *r, const char *outcome, const char *error)
{
    link_ctx *c = cds_req_user(r);
    char oc[24];
    snprintf(oc, sizeof oc, "%lld", c->l.order_code);
    const char *prm[] = {oc, outcome, error};
    cds_req_db(r, st_settle, 3, prm, on_settled);
}

/* The link payOS already had under our orderCode. */
static void on_looked_up(void *arg, const cds_http_response *resp)
{
    cds_req *r = arg;
    link_ctx *c = cds_req_user(r);
    cds_req_untrack(r, c->slot);
    pm_payos_answer a;
    if (pm_payos_parse(resp, PM_PAYOS_LINK, &a) != PM_PAYOS_OK || a.order_code != c->l.order_code) {
        cds_log(CDS_LOG_WARN, "payos_link", "orderCode %lld: lookup after 231 failed: %s",
                c->l.order_code, a.error[0] ? a.error : "another orderCode");
        unavailable(r, NULL);
        return;
    }
    cds_log(CDS_LOG_INFO, "payos_link", "orderCode %lld already at payOS (%s)", c->l.order_code,
            a.status);
    if (strcmp(a.status, "PENDING") == 0)
        settle(r, "pending", "payOS had this orderCode (an earlier answer lost)");
    else if (strcmp(a.status, "PAID") == 0 || strcmp(a.status, "UNDERPAID") == 0 ||
             strcmp(a.status, "PROCESSING") == 0)
        settle(r, "paid", a.status);
    else
        settle(r, "gone", a.status);
}

static void on_recorded(cds_req *r, PGresult *res)
{
    if (!cds_req_db_rows(r, "payos_link_created", res)) return;
    reload(r);
}

static void on_created(void *arg, const cds_http_response *resp)
{
    cds_req *r = arg;
    link_ctx *c = cds_req_user(r);
    cds_req_untrack(r, c->slot);
    pm_payos_answer a;
    int rc = pm_payos_parse(resp, PM_PAYOS_CREATE, &a);
    if (rc == PM_PAYOS_OK && (a.order_code != c->l.order_code || a.amount != c->l.amount)) {
        rc = PM_PAYOS_RETRY;
        snprintf(a.error, sizeof a.error, "payOS answered orderCode %lld amount %lld", a.order_code,
                 a.amount);
    }
    if (rc == PM_PAYOS_OK) {
        atomic_fetch_add(&m_created, 1);
        char oc[24];
        snprintf(oc, sizeof oc, "%lld", c->l.order_code);
        const char *prm[] = {oc, a.link_id, a.checkout_url, a.qr_code};
        cds_req_db(r, st_created, 4, prm, on_recorded);
    } else if (rc == PM_PAYOS_DUPLICATE) {
        atomic_fetch_add(&m_duplicates, 1);
        if (pm_payos_build_get(c->l.order_code, &c->call) != 0 || call(r, on_looked_up) != 0)
            unavailable(r, NULL);
    } else if (rc == PM_PAYOS_REFUSED) {
        atomic_fetch_add(&m_failed, 1);
        cds_log(CDS_LOG_ERROR, "payos_link", "orderCode %lld refused: %s", c->l.order_code, a.error);
        c->refused = 1;
        settle(r, "failed", a.error);
    } else if (a.http_status == 401 || a.http_status == 403 || a.http_status == 429) {
        /* payOS turned the call away before making anything: this row is
         * closed, so the next ask makes a new one at once */
        atomic_fetch_add(&m_failed, 1);
        cds_log(CDS_LOG_WARN, "payos_link", "orderCode %lld: %s", c->l.order_code, a.error);
        c->unavailable = 1;
        settle(r, "failed", a.error);
    } else {
        /* no answer, 5xx: payOS may have made it; a later ask sends the
         * same orderCode again once this one is older than a call */
        atomic_fetch_add(&m_failed, 1);
        cds_log(CDS_LOG_WARN, "payos_link", "orderCode %lld: %s", c->l.order_code, a.error);
        unavailable(r, NULL);
    }
}

static void on_prepared(cds_req *r, PGresult *res)
{
    link_ctx *c = cds_req_user(r);
    if (!cds_req_db_rows(r, "payos_link_prepare", res)) return;
    const char *action = PQgetvalue(res, 0, 0);
    if (strcmp(action, "busy") == 0) {
        unavailable(r, "Đang tạo mã thanh toán payOS cho khoản này, vui lòng thử lại sau giây lát.");
        return;
    }
    if (strcmp(action, "create") != 0 && strcmp(action, "retry") != 0) {
        reload(r); /* active (made meanwhile) or none (no longer open) */
        return;
    }
    c->l.order_code = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    c->l.amount = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    snprintf(c->description, sizeof c->description, "%s", PQgetvalue(res, 0, 3));
    c->l.description = c->description;
    c->l.expires_epoch = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    if (pm_payos_build_create(&c->l, &c->call) != 0 || call(r, on_created) != 0) {
        cds_log(CDS_LOG_ERROR, "payos_link", "orderCode %lld: cannot build the create call",
                c->l.order_code);
        unavailable(r, NULL);
    }
}

static void prepare(cds_req *r)
{
    link_ctx *c = cds_req_user(r);
    char stale[16], max[16];
    snprintf(stale, sizeof stale, "%d", g_payment.payos_timeout_ms / 1000 + 5);
    snprintf(max, sizeof max, "%d", g_payment.payos_description_max);
    const char *prm[] = {c->payment_id, stale, max};
    cds_req_db(r, st_prepare, 3, prm, on_prepared);
}

void pm_payos_open(cds_req *r, int status, json_t *payment)
{
    const char *id = json_string_value(json_object_get(payment, "id"));
    if (!pm_payos_configured() || !id) {
        json_decref(payment);
        cds_log(CDS_LOG_ERROR, "payos_link", "a payOS account, but payOS is not configured "
                                             "(CDS_PAYOS_CLIENT_ID, _API_KEY, _CHECKSUM_KEY, "
                                             "_RETURN_URL, _CANCEL_URL)");
        cds_problem(r, 503, "payment_provider_unavailable",
                    "Cổng thanh toán payOS chưa được cấu hình, vui lòng thử lại sau.");
        return;
    }
    link_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(payment);
        cds_fail(r, CDS_P_OVERLOADED);
        return;
    }
    c->status = status;
    snprintf(c->payment_id, sizeof c->payment_id, "%s", id);
    json_decref(payment);
    cds_req_set_user(r, c, link_free);
    prepare(r);
}
