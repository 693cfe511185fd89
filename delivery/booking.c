/* The booking dispatcher: the shipments table is an outbox
 * (db/migrations/0008_delivery.sql) run by core/outbox.h on every
 * event-loop thread.
 *
 * Wake-ups: NOTIFY cds_shipments (written when a dossier with delivery by
 * post reaches result_ready) wakes every thread; a poll timer
 * (CDS_DELIVERY_POLL_MS) covers retries falling due and NOTIFYs lost while
 * not listening.
 *
 * Claims: cds_shipment_claim() takes due bookings with SKIP LOCKED and marks
 * them `sending`; a booking left `sending` longer than
 * CDS_DELIVERY_CLAIM_TIMEOUT (its dispatcher died) is claimed again. The
 * carrier gets our shipment id as its client order id and idempotency key,
 * so a booking sent twice is still one order: a crash never books twice.
 * A carrier that refuses a repeated client order code instead of answering
 * with the first order (GHN) says DL_LOOKUP: the order is then asked for by
 * our shipment id, and found, it is the booking.
 *
 * Results: cds_shipment_book_result() per shipment, applied only while the
 * row is still claimed by that attempt; the booking counts as in flight until
 * its result is recorded. A failure is retried after
 * cds_outbox_backoff_ms (the carrier's Retry-After wins when longer); after CDS_DELIVERY_MAX_ATTEMPTS, or a refusal for good,
 * the shipment is booking_failed for a person to look at. */
#include "internal.h"
#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/outbox.h"
#include "core/server.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The delivery state of one event-loop thread (its worker slot). */
struct dl_worker {
    cds_worker *cw;
    cds_outbox_worker *ow;
    dl_poller *poll; /* thread 0: the courier polling fallback (poll.c) */
    cds_outbox_worker *requests; /* operators' calls to carriers (requests.c) */
};

typedef struct bk_call {
    dl_call c; /* first: the row, its request, call, query and trace */
    dl_worker *w;
    char id[37];
    int attempt;
    const dl_carrier *carrier;
    char *payload;       /* the claim's payload (JSON text), for a lookup */
    char first_err[300]; /* the create's refusal while looking the order up */
} bk_call;

static int st_claim = -1, st_result = -1;
static int g_slot = -1;
static char g_timeout[16];
static cds_outbox *g_outbox;
static atomic_llong c_booked, c_retried, c_failed;

static int64_t m_claimed(void) { return cds_outbox_claimed(g_outbox); }
static int64_t m_booked(void) { return c_booked; }
static int64_t m_retried(void) { return c_retried; }
static int64_t m_failed(void) { return c_failed; }

static void on_recorded(void *arg, PGresult *res)
{
    bk_call *c = arg;
    c->c.q = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        cds_log(CDS_LOG_WARN, "booking_record_failed",
                "shipment=%s: result not recorded (%s); it will be claimed again", c->id,
                res ? PQresultErrorMessage(res) : "connection lost");
    else if (strcmp(PQgetvalue(res, 0, 0), "tracking_taken") == 0)
        cds_log(CDS_LOG_ERROR, "booking_tracking_taken", "shipment=%s", c->id);
    cds_outbox_done(&c->c.row);
}

static void record(bk_call *c, int outcome, const char *tracking, const char *err, long retry_ms)
{
    const char *what = outcome == DL_BOOKED ? "booked" : outcome == DL_RETRY ? "retry" : "failed";
    if (outcome == DL_RETRY && c->attempt >= g_delivery.max_attempts) {
        what = "failed";
        outcome = DL_FAILED;
    }
    switch (outcome) {
    case DL_BOOKED: c_booked++; break;
    case DL_RETRY: c_retried++; break;
    default: c_failed++; break;
    }
    if (outcome != DL_BOOKED)
        cds_log(outcome == DL_FAILED ? CDS_LOG_ERROR : CDS_LOG_INFO, "booking_failed",
                "shipment=%s carrier=%s attempt=%d outcome=%s error=%s", c->id, c->carrier ? c->carrier->name : "?",
                c->attempt, what, err ? err : "");
    char attempt[16], retry[24];
    snprintf(attempt, sizeof attempt, "%d", c->attempt);
    snprintf(retry, sizeof retry, "%ld",
             outcome == DL_RETRY ? cds_outbox_backoff_ms(c->attempt, g_delivery.backoff_base_ms,
                                                         g_delivery.backoff_max_ms, retry_ms)
                                 : 0);
    /* The citizen's "booked" message continues the booking's trace. */
    char trace[CDS_TRACEPARENT_LEN + 2 + CDS_TRACESTATE_MAX];
    const char *p[7] = {c->id, attempt, what, tracking, err, retry,
                        cds_trace_stored(&c->c.log.trace, trace, sizeof trace) == 0 ? trace : NULL};
    if (cds_db_exec(cds_outbox_db(c->w->ow), st_result, 7, p, on_recorded, c, &c->c.q) !=
        CDS_DB_OK) {
        cds_log(CDS_LOG_WARN, "booking_record_failed", "shipment=%s: database busy or down", c->id);
        cds_outbox_done(&c->c.row);
    }
}

static void on_looked_up(void *arg, const cds_http_response *resp)
{
    bk_call *c = arg;
    c->c.call = NULL;
    char tracking[48] = "", err[300] = "";
    int outcome = c->carrier->lookup_parse(resp, tracking, sizeof tracking, err, sizeof err);
    if (outcome == DL_FAILED) /* no such order: the create's refusal stands */
        record(c, DL_FAILED, NULL, c->first_err, 0);
    else
        record(c, outcome, outcome == DL_BOOKED ? tracking : NULL, err, 0);
}

/* The create was refused: is there an order with our id already? */
static void look_up(bk_call *c)
{
    char err[300] = "";
    json_t *payload = c->payload ? json_loads(c->payload, 0, NULL) : NULL;
    dl_http_clear(&c->c.req);
    int rc = payload && c->carrier->lookup_request
                 ? c->carrier->lookup_request(payload, &c->c.req, err, sizeof err)
                 : -1;
    json_decref(payload);
    if (rc != 0) {
        record(c, DL_FAILED, NULL, c->first_err, 0);
        return;
    }
    if (dl_call_send(&c->c, c->w->cw->http, on_looked_up) != 0)
        record(c, DL_RETRY, NULL, "request refused by the HTTP client", 0);
}

static void on_booked(void *arg, const cds_http_response *resp)
{
    bk_call *c = arg;
    c->c.call = NULL;
    char tracking[48] = "", err[300] = "";
    long retry = 0;
    int outcome = c->carrier->book_parse(resp, tracking, sizeof tracking, &retry, err, sizeof err);
    if (outcome == DL_LOOKUP) {
        snprintf(c->first_err, sizeof c->first_err, "%s", err);
        look_up(c);
        return;
    }
    record(c, outcome, outcome == DL_BOOKED ? tracking : NULL, err, retry);
}

static void book(bk_call *c, const char *payload_text)
{
    char err[300] = "";
    if (!c->carrier || !c->carrier->configured()) {
        record(c, DL_RETRY, NULL, "carrier not configured on this node", 0);
        return;
    }
    json_t *payload = json_loads(payload_text, 0, NULL);
    int rc = payload ? c->carrier->book_request(payload, &c->c.req, err, sizeof err) : -1;
    json_decref(payload);
    if (rc != 0) {
        record(c, DL_FAILED, NULL, err[0] ? err : "bad shipment payload", 0);
        return;
    }
    if (dl_call_send(&c->c, c->w->cw->http, on_booked) != 0)
        record(c, DL_RETRY, NULL, "request refused by the HTTP client", 0);
}

/* ---- claimed rows ---- */

static cds_outbox_row *take(cds_outbox_worker *ow, PGresult *res, int row)
{
    bk_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->w = cds_outbox_worker_arg(ow);
    snprintf(c->id, sizeof c->id, "%s", PQgetvalue(res, row, 0));
    c->carrier = dl_carrier_find(PQgetvalue(res, row, 1));
    c->attempt = (int)strtol(PQgetvalue(res, row, 2), NULL, 10);
    /* The step's trace goes on to the carrier (a booking queued outside any
     * trace starts one). */
    if (PQgetisnull(res, row, 4) || cds_trace_resume(&c->c.log.trace, PQgetvalue(res, row, 4)) != 0)
        cds_trace_new(&c->c.log.trace);
    return &c->c.row;
}

static void handle(cds_outbox_row *row, PGresult *res, int i)
{
    bk_call *c = (bk_call *)row;
    cds_log_ctx prev;
    cds_log_ctx_set(&c->c.log, &prev);
    c->payload = strdup(PQgetvalue(res, i, 3));
    book(c, PQgetvalue(res, i, 3)); /* c may be done and freed */
    cds_log_ctx_set(&prev, NULL);
}

static void release(cds_outbox_row *row)
{
    bk_call *c = (bk_call *)row;
    dl_http_clear(&c->c.req);
    free(c->payload);
    free(c);
}

static const cds_outbox_ops ops = {take, handle, dl_call_cancel, release};

/* ---- life ---- */

int dl_booking_init(const char *db_conninfo)
{
    st_claim = cds_db_stmt_register(
        "booking_claim",
        "SELECT id, carrier, attempts, payload::text, trace FROM cds_shipment_claim($1, $2::int, "
        "make_interval(secs => $3::int))",
        3);
    st_result = cds_db_stmt_register(
        "booking_result",
        "SELECT status FROM cds_shipment_book_result($1::uuid, $2::int, $3, $4, $5, $6::bigint, $7)",
        7);
    g_slot = cds_worker_slot("delivery");
    if (st_claim < 0 || st_result < 0 || g_slot < 0) return -1;
    cds_metrics_register("cds_delivery_booking_claimed_total", "Shipment bookings claimed.", m_claimed);
    cds_metrics_register("cds_delivery_booked_total", "Shipments the carrier booked.", m_booked);
    cds_metrics_register("cds_delivery_booking_retries_total", "Booking attempts to retry.", m_retried);
    cds_metrics_register("cds_delivery_booking_failed_total", "Bookings failed for good.", m_failed);
    if (!g_delivery.dispatch || !db_conninfo) {
        cds_log(CDS_LOG_INFO, "delivery_dispatch", "this process does not book shipments (%s)",
                db_conninfo ? "CDS_DELIVERY_DISPATCH=0" : "no database");
        return 0;
    }
    snprintf(g_timeout, sizeof g_timeout, "%d", g_delivery.claim_timeout_s);
    cds_outbox_def def = {
        .name = "booking",
        .channel = "cds_shipments",
        .claim_stmt = st_claim,
        .claim_args = {g_timeout},
        .nclaim_args = 1,
        .batch = g_delivery.batch,
        .max_inflight = g_delivery.batch,
        .refill = 1,
        .poll_ms = g_delivery.poll_ms,
        .record_stmt = -1, /* one result per booking (cds_shipment_book_result) */
        .ops = &ops,
    };
    g_outbox = cds_outbox_new(&def, db_conninfo);
    if (!g_outbox) return -1;
    cds_log(CDS_LOG_INFO, "delivery_dispatch", "node=%s carrier=%s vnpost=%s ghn=%s",
            cds_outbox_node(g_outbox), g_delivery.carrier,
            g_delivery.vnpost_url ? g_delivery.vnpost_url : "(none)",
            g_delivery.ghn_url ? g_delivery.ghn_url : "(none)");
    return 0;
}

void dl_booking_shutdown(void)
{
    cds_outbox_free(g_outbox);
    g_outbox = NULL;
}

void cds_delivery_worker_start(cds_worker *cw)
{
    if (!g_outbox || !cw->db) return;
    dl_worker *w = calloc(1, sizeof *w);
    if (!w) return;
    w->cw = cw;
    cds_worker_set(cw, g_slot, w);
    w->ow = cds_outbox_worker_start(g_outbox, cw, w);
    if (!w->ow) {
        cds_delivery_worker_stop(cw);
        return;
    }
    w->requests = dl_requests_worker_start(cw);
    if (cw->id == 0) w->poll = dl_poll_start(cw);
}

void cds_delivery_worker_stop(cds_worker *cw)
{
    dl_worker *w = cds_worker_get(cw, g_slot);
    if (!w) return;
    /* Calls in flight are cancelled; their rows stay `sending` and are
     * claimed again after the timeout, under the same idempotency key. */
    cds_outbox_worker_stop(w->ow);
    if (w->requests) cds_outbox_worker_stop(w->requests);
    dl_poll_stop(w->poll);
    cds_worker_set(cw, g_slot, NULL);
    free(w);
}
