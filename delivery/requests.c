/* An operator's calls to a carrier about a parcel it has (the console's
 * "cancel" of a booked shipment and its "re-poll"): the shipment_requests
 * table (db/migrations/0038_shipment_requests.sql) is an outbox run by
 * core/outbox.h on every event-loop thread, beside the bookings.
 *
 * Wake-ups: NOTIFY cds_shipment_requests (written with the request) and
 * the booking queue's poll period. Claims: cds_shipment_request_claim (SKIP
 * LOCKED; one left `sending` past CDS_DELIVERY_CLAIM_TIMEOUT is claimed
 * again). Calls, from the carrier's adapter (delivery/internal.h):
 *
 *   cancel  cancel_request / cancel_parse (GHN: POST
 *           /v2/switch-status/cancel {"order_codes":[...]}, "Cancel Order"
 *           of GHN's API documentation): confirmed, the shipment is
 *           cancelled through cds_shipment_event (source console), merged
 *           with the carrier's own cancel callback (it counts once); the
 *           carrier's refusal (picked up already) changes nothing but the
 *           request, which shows the carrier's reason
 *   track   track_request / parse_events (GHN: /v2/shipping-order/detail,
 *           "Order Info"; VNPost: its tracking call): the order's events,
 *           oldest first, each through cds_shipment_event as the polling
 *           fallback records them, so a step known from a webhook or a
 *           handheld is a duplicate and changes nothing
 *
 * Results: cds_shipment_request_result, one statement per request (the
 * events of a detail in that one transaction). No answer, 401/403, 408, 429
 * and 5xx are retried with cds_outbox_backoff_ms up to
 * CDS_DELIVERY_MAX_ATTEMPTS. A cancel is safe to resend: a carrier that
 * cancelled already refuses the second call, and its callback has told us. */
#include "internal.h"
#include "core/db.h"
#include "core/log.h"
#include "core/outbox.h"
#include "core/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_MAX 100

typedef struct rq_call {
    dl_call c; /* first: the row, its request, call, query and trace */
    cds_outbox_worker *ow;
    cds_worker *cw;
    char id[37];
    int attempt, cancel;
    const dl_carrier *carrier;
    char tracking[48], account[64];
    dl_event ev[EVENTS_MAX];
    size_t nev;
} rq_call;

static int st_claim = -1, st_result = -1;
static char g_timeout[16];
static cds_outbox *g_outbox;

int dl_carrier_offers(const char *carrier, int cancel)
{
    const dl_carrier *c = dl_carrier_find(carrier);
    return c && (cancel ? c->cancel_request != NULL && c->cancel_parse != NULL
                        : c->track_request != NULL);
}

static void on_recorded(void *arg, PGresult *res)
{
    rq_call *c = arg;
    c->c.q = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        cds_log(CDS_LOG_WARN, "carrier_request_record_failed",
                "request=%s: result not recorded (%s); it will be claimed again", c->id,
                res ? PQresultErrorMessage(res) : "connection lost");
    cds_outbox_done(&c->c.row);
}

/* The events as cds_shipment_request_result reads them (JSON text, malloc). */
static char *events_json(const rq_call *c)
{
    json_t *a = json_array();
    for (size_t i = 0; i < c->nev; i++) {
        const dl_event *e = &c->ev[i];
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "tracking", e->tracking,
                              "event_id", e->event_id, "status", e->status, "raw_code",
                              e->raw_code, "raw_reason", e->raw_reason, "location", e->location,
                              "occurred_at", e->occurred_at);
        if (o && e->cod >= 0) json_object_set_new(o, "cod", json_integer(e->cod));
        if (o) json_array_append_new(a, o);
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* outcome: "done" | "refused" | "retry" | "failed". */
static void record(rq_call *c, const char *outcome, const char *err, long retry_ms)
{
    if (strcmp(outcome, "retry") == 0 && c->attempt >= g_delivery.max_attempts) outcome = "failed";
    if (strcmp(outcome, "done") != 0)
        cds_log(strcmp(outcome, "retry") == 0 ? CDS_LOG_INFO : CDS_LOG_WARN, "carrier_request",
                "request=%s kind=%s carrier=%s attempt=%d outcome=%s error=%s", c->id,
                c->cancel ? "cancel" : "track", c->carrier ? c->carrier->name : "?", c->attempt,
                outcome, err ? err : "");
    char attempt[16], retry[24], max_failed[16];
    snprintf(attempt, sizeof attempt, "%d", c->attempt);
    snprintf(retry, sizeof retry, "%ld",
             strcmp(outcome, "retry") == 0
                 ? cds_outbox_backoff_ms(c->attempt, g_delivery.backoff_base_ms,
                                         g_delivery.backoff_max_ms, retry_ms)
                 : 0);
    snprintf(max_failed, sizeof max_failed, "%d", g_delivery.max_failed_attempts);
    char *events = strcmp(outcome, "done") == 0 && !c->cancel ? events_json(c) : NULL;
    char trace[CDS_TRACEPARENT_LEN + 2 + CDS_TRACESTATE_MAX];
    const char *p[8] = {c->id, attempt, outcome, err && *err ? err : NULL, retry, events,
                        max_failed,
                        cds_trace_stored(&c->c.log.trace, trace, sizeof trace) == 0 ? trace : NULL};
    int rc = cds_db_exec(cds_outbox_db(c->ow), st_result, 8, p, on_recorded, c, &c->c.q);
    free(events);
    if (rc != CDS_DB_OK) {
        cds_log(CDS_LOG_WARN, "carrier_request_record_failed", "request=%s: database busy or down",
                c->id);
        cds_outbox_done(&c->c.row);
    }
}

static int by_time(const void *a, const void *b)
{
    return strcmp(((const dl_event *)a)->occurred_at, ((const dl_event *)b)->occurred_at);
}

static void on_answer(void *arg, const cds_http_response *resp)
{
    rq_call *c = arg;
    c->c.call = NULL;
    char err[300] = "";
    if (c->cancel) {
        int rc = c->carrier->cancel_parse(resp, err, sizeof err);
        record(c, rc == 0 ? "done" : rc == DL_RETRY ? "retry" : "refused", err,
               dl_retry_after_ms(resp));
        return;
    }
    if (resp->error || resp->status == 0 || resp->status == 401 || resp->status == 403 ||
        resp->status == 408 || resp->status == 429 || resp->status >= 500) {
        snprintf(err, sizeof err, "HTTP %ld %.200s", resp->status, resp->error ? resp->error : "");
        record(c, "retry", err, dl_retry_after_ms(resp));
        return;
    }
    if (resp->status != 200 ||
        c->carrier->parse_events(resp->body, resp->body_len, c->ev, EVENTS_MAX, &c->nev, err,
                                 sizeof err) != 0) {
        if (!err[0]) snprintf(err, sizeof err, "HTTP %ld", resp->status);
        c->nev = 0;
        record(c, "refused", err, 0);
        return;
    }
    qsort(c->ev, c->nev, sizeof c->ev[0], by_time);
    record(c, "done", NULL, 0);
}

static void call(rq_call *c)
{
    char err[300] = "";
    if (!c->carrier || !c->carrier->configured()) {
        record(c, "retry", "carrier not configured on this node", 0);
        return;
    }
    if (!dl_carrier_offers(c->carrier->name, c->cancel)) {
        record(c, "failed", "the carrier's adapter has no such call", 0);
        return;
    }
    int rc = c->cancel
                 ? c->carrier->cancel_request(c->tracking, c->account, &c->c.req, err, sizeof err)
                 : c->carrier->track_request(c->tracking, &c->c.req, err, sizeof err);
    if (rc != 0) {
        record(c, "failed", err[0] ? err : "bad request", 0);
        return;
    }
    if (dl_call_send(&c->c, c->cw->http, on_answer) != 0)
        record(c, "retry", "request refused by the HTTP client", 0);
}

/* ---- claimed rows ---- */

static cds_outbox_row *take(cds_outbox_worker *ow, PGresult *res, int row)
{
    rq_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ow = ow;
    c->cw = cds_outbox_worker_arg(ow);
    snprintf(c->id, sizeof c->id, "%s", PQgetvalue(res, row, 0));
    c->cancel = strcmp(PQgetvalue(res, row, 1), "cancel") == 0;
    c->carrier = dl_carrier_find(PQgetvalue(res, row, 2));
    snprintf(c->tracking, sizeof c->tracking, "%s", PQgetvalue(res, row, 3));
    snprintf(c->account, sizeof c->account, "%s", PQgetvalue(res, row, 4));
    c->attempt = (int)strtol(PQgetvalue(res, row, 5), NULL, 10);
    if (PQgetisnull(res, row, 6) || cds_trace_resume(&c->c.log.trace, PQgetvalue(res, row, 6)) != 0)
        cds_trace_new(&c->c.log.trace);
    return &c->c.row;
}

static void handle(cds_outbox_row *row, PGresult *res, int i)
{
    (void)res;
    (void)i;
    rq_call *c = (rq_call *)row;
    cds_log_ctx prev;
    cds_log_ctx_set(&c->c.log, &prev);
    call(c); /* c may be done and freed */
    cds_log_ctx_set(&prev, NULL);
}

static void release(cds_outbox_row *row)
{
    rq_call *c = (rq_call *)row;
    dl_http_clear(&c->c.req);
    for (size_t i = 0; i < c->nev; i++) dl_event_clear(&c->ev[i]);
    free(c);
}

static const cds_outbox_ops ops = {take, handle, dl_call_cancel, release};

/* ---- life ---- */

int dl_requests_init(const char *db_conninfo)
{
    st_claim = cds_db_stmt_register(
        "carrier_request_claim",
        "SELECT id, kind, carrier, tracking_no, account, attempts, trace FROM "
        "cds_shipment_request_claim($1, $2::int, make_interval(secs => $3::int))",
        3);
    st_result = cds_db_stmt_register(
        "carrier_request_result",
        "SELECT status FROM cds_shipment_request_result($1::uuid, $2::int, $3, $4, $5::bigint, "
        "$6::jsonb, $7::int, $8)",
        8);
    if (st_claim < 0 || st_result < 0) return -1;
    if (!g_delivery.dispatch || !db_conninfo) return 0;
    snprintf(g_timeout, sizeof g_timeout, "%d", g_delivery.claim_timeout_s);
    cds_outbox_def def = {
        .name = "carrier_request",
        .channel = "cds_shipment_requests",
        .claim_stmt = st_claim,
        .claim_args = {g_timeout},
        .nclaim_args = 1,
        .batch = 8,
        .max_inflight = 8,
        .refill = 1,
        .poll_ms = g_delivery.poll_ms,
        .record_stmt = -1,
        .ops = &ops,
    };
    g_outbox = cds_outbox_new(&def, db_conninfo);
    return g_outbox ? 0 : -1;
}

void dl_requests_shutdown(void)
{
    cds_outbox_free(g_outbox);
    g_outbox = NULL;
}

cds_outbox_worker *dl_requests_worker_start(cds_worker *cw)
{
    return g_outbox ? cds_outbox_worker_start(g_outbox, cw, cw) : NULL;
}
