/* The booking dispatcher of one event-loop thread: the shipments table is
 * the outbox (db/migrations/0008_delivery.sql).
 *
 * Wake-ups: NOTIFY cds_shipments (written when a dossier with delivery by
 * post reaches result_ready) through this process's LISTEN thread, and a
 * poll timer (CDS_DELIVERY_POLL_MS) for retries falling due and NOTIFYs lost
 * while not listening.
 *
 * Claims: cds_shipment_claim() takes due bookings with SKIP LOCKED and marks
 * them `sending`; a booking left `sending` longer than
 * CDS_DELIVERY_CLAIM_TIMEOUT (its dispatcher died) is claimed again. The
 * carrier gets our shipment id as its client order id and idempotency key,
 * so a booking sent twice is still one order: a crash never books twice.
 *
 * Results: cds_shipment_book_result() per shipment, applied only while the
 * row is still claimed by that attempt. A failure is retried after
 * base * 2^(attempt-1) (capped, half jittered; the carrier's Retry-After
 * wins when longer); after CDS_DELIVERY_MAX_ATTEMPTS, or a refusal for good,
 * the shipment is booking_failed for a person to look at. */
#include "internal.h"
#include "core/db.h"
#include "core/db_listen.h"
#include "core/log.h"
#include "core/metrics.h"

#include <event2/event.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 256

typedef struct bk_call bk_call;
struct dl_worker {
    cds_worker *cw;
    int claiming, want, stopping, inflight;
    cds_db_query *claim_q;
    bk_call *calls;
    struct event *wake, *poll;
    void *poll_state;
};

struct bk_call {
    dl_worker *w;
    bk_call *prev, *next;
    char id[37];
    int attempt;
    const dl_carrier *carrier;
    dl_http req;
    cds_http_call *call;
    cds_db_query *q;
};

static int st_claim = -1, st_result = -1;
static char g_node[128];
static int g_enabled;
static cds_listener *g_listener;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static dl_worker *g_workers[MAX_THREADS];
static atomic_llong c_claimed, c_booked, c_retried, c_failed;

static int64_t m_claimed(void) { return c_claimed; }
static int64_t m_booked(void) { return c_booked; }
static int64_t m_retried(void) { return c_retried; }
static int64_t m_failed(void) { return c_failed; }

static void claim(dl_worker *w);

static void call_free(bk_call *c)
{
    dl_worker *w = c->w;
    if (c->prev) c->prev->next = c->next;
    else w->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    dl_http_clear(&c->req);
    free(c);
    w->inflight--;
}

static long backoff_ms(int attempt, long hint_ms)
{
    long d = g_delivery.backoff_base_ms;
    for (int i = 1; i < attempt && d < g_delivery.backoff_max_ms; i++) d *= 2;
    if (d > g_delivery.backoff_max_ms) d = g_delivery.backoff_max_ms;
    unsigned int rnd = 0;
    RAND_bytes((unsigned char *)&rnd, sizeof rnd);
    long half = d / 2;
    d = half + (half > 0 ? (long)(rnd % (unsigned long)(half + 1)) : 0);
    return hint_ms > d ? hint_ms : d;
}

static void on_recorded(void *arg, PGresult *res)
{
    bk_call *c = arg;
    dl_worker *w = c->w;
    c->q = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        cds_log(CDS_LOG_WARN, "booking_record_failed",
                "shipment=%s: result not recorded (%s); it will be claimed again", c->id,
                res ? PQresultErrorMessage(res) : "connection lost");
    else if (strcmp(PQgetvalue(res, 0, 0), "tracking_taken") == 0)
        cds_log(CDS_LOG_ERROR, "booking_tracking_taken", "shipment=%s", c->id);
    call_free(c);
    if (w->want && !w->stopping) claim(w);
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
    snprintf(retry, sizeof retry, "%ld", outcome == DL_RETRY ? backoff_ms(c->attempt, retry_ms) : 0);
    const char *p[6] = {c->id, attempt, what, tracking, err, retry};
    if (cds_db_exec(c->w->cw->db, st_result, 6, p, on_recorded, c, &c->q) != CDS_DB_OK) {
        cds_log(CDS_LOG_WARN, "booking_record_failed", "shipment=%s: database busy or down", c->id);
        call_free(c);
    }
}

static void on_booked(void *arg, const cds_http_response *resp)
{
    bk_call *c = arg;
    c->call = NULL;
    char tracking[48] = "", err[300] = "";
    long retry = 0;
    int outcome = c->carrier->book_parse(resp, tracking, sizeof tracking, &retry, err, sizeof err);
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
    int rc = payload ? c->carrier->book_request(payload, &c->req, err, sizeof err) : -1;
    json_decref(payload);
    if (rc != 0) {
        record(c, DL_FAILED, NULL, err[0] ? err : "bad shipment payload", 0);
        return;
    }
    cds_http_request hr = {.method = c->req.method,
                           .url = c->req.url,
                           .headers = (const char *const *)c->req.headers,
                           .body = c->req.body,
                           .body_len = c->req.body_len,
                           .timeout_ms = g_delivery.call_timeout_ms};
    c->call = cds_http_start(c->w->cw->http, &hr, on_booked, c);
    if (!c->call) record(c, DL_RETRY, NULL, "request refused by the HTTP client", 0);
}

static void on_claimed(void *arg, PGresult *res)
{
    dl_worker *w = arg;
    w->claiming = 0;
    w->claim_q = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_log(CDS_LOG_WARN, "booking_claim_failed", "%s",
                res ? PQresultErrorMessage(res) : "connection lost");
        return;
    }
    int n = PQntuples(res);
    c_claimed += n;
    for (int i = 0; i < n && !w->stopping; i++) {
        bk_call *c = calloc(1, sizeof *c);
        if (!c) break; /* left `sending`: claimed again after the timeout */
        c->w = w;
        snprintf(c->id, sizeof c->id, "%s", PQgetvalue(res, i, 0));
        c->carrier = dl_carrier_find(PQgetvalue(res, i, 1));
        c->attempt = (int)strtol(PQgetvalue(res, i, 2), NULL, 10);
        c->next = w->calls;
        if (w->calls) w->calls->prev = c;
        w->calls = c;
        w->inflight++;
        book(c, PQgetvalue(res, i, 3));
    }
    if (n >= g_delivery.batch) w->want = 1;
    if (w->want) claim(w);
}

static void claim(dl_worker *w)
{
    if (w->stopping || !w->cw->db || !g_enabled) return;
    if (w->claiming || w->inflight >= g_delivery.batch) {
        w->want = 1;
        return;
    }
    char limit[16], timeout[16];
    snprintf(limit, sizeof limit, "%d", g_delivery.batch - w->inflight);
    snprintf(timeout, sizeof timeout, "%d", g_delivery.claim_timeout_s);
    const char *p[3] = {g_node, limit, timeout};
    w->want = 0;
    if (cds_db_exec(w->cw->db, st_claim, 3, p, on_claimed, w, &w->claim_q) == CDS_DB_OK)
        w->claiming = 1;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    claim(arg);
}

static void wake_all(void)
{
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < MAX_THREADS; i++)
        if (g_workers[i]) event_active(g_workers[i]->wake, EV_READ, 0);
    pthread_mutex_unlock(&g_mu);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    (void)channel;
    (void)payload;
    (void)arg;
    wake_all();
}

static void on_listen_connect(PGconn *conn, void *arg)
{
    (void)conn;
    (void)arg;
    wake_all();
}

int dl_booking_init(const char *db_conninfo)
{
    st_claim = cds_db_stmt_register(
        "booking_claim",
        "SELECT id, carrier, attempts, payload::text FROM cds_shipment_claim($1, $2::int, "
        "make_interval(secs => $3::int))",
        3);
    st_result = cds_db_stmt_register(
        "booking_result",
        "SELECT status FROM cds_shipment_book_result($1::uuid, $2::int, $3, $4, $5, $6::bigint)", 6);
    if (st_claim < 0 || st_result < 0) return -1;
    cds_metrics_register("cds_delivery_booking_claimed_total", "Shipment bookings claimed.", m_claimed);
    cds_metrics_register("cds_delivery_booked_total", "Shipments the carrier booked.", m_booked);
    cds_metrics_register("cds_delivery_booking_retries_total", "Booking attempts to retry.", m_retried);
    cds_metrics_register("cds_delivery_booking_failed_total", "Bookings failed for good.", m_failed);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(g_node, sizeof g_node, "%s:%ld", host, (long)getpid());
    g_enabled = g_delivery.dispatch && db_conninfo != NULL;
    if (!g_enabled) {
        cds_log(CDS_LOG_INFO, "delivery_dispatch", "this process does not book shipments (%s)",
                db_conninfo ? "CDS_DELIVERY_DISPATCH=0" : "no database");
        return 0;
    }
    const char *channels[] = {"cds_shipments"};
    g_listener = cds_listener_start(db_conninfo, channels, 1, on_notify, on_listen_connect, NULL);
    if (!g_listener) return -1;
    cds_log(CDS_LOG_INFO, "delivery_dispatch", "node=%s carrier=%s url=%s", g_node,
            g_delivery.carrier, g_delivery.vnpost_url ? g_delivery.vnpost_url : "(none)");
    return 0;
}

void dl_booking_shutdown(void)
{
    if (g_listener) cds_listener_stop(g_listener);
    g_listener = NULL;
}

void cds_delivery_worker_start(cds_worker *cw)
{
    if (!g_enabled || !cw->db || cw->id < 0 || cw->id >= MAX_THREADS) return;
    dl_worker *w = calloc(1, sizeof *w);
    if (!w) return;
    w->cw = cw;
    w->wake = event_new(cw->base, -1, 0, on_wake, w);
    w->poll = event_new(cw->base, -1, EV_PERSIST, on_wake, w);
    struct timeval pt = {g_delivery.poll_ms / 1000, (g_delivery.poll_ms % 1000) * 1000};
    event_add(w->poll, &pt);
    if (cw->id == 0) dl_poll_start(cw, &w->poll_state);
    pthread_mutex_lock(&g_mu);
    g_workers[cw->id] = w;
    pthread_mutex_unlock(&g_mu);
    event_active(w->wake, EV_READ, 0);
}

void cds_delivery_worker_stop(cds_worker *cw)
{
    if (cw->id < 0 || cw->id >= MAX_THREADS) return;
    pthread_mutex_lock(&g_mu);
    dl_worker *w = g_workers[cw->id];
    g_workers[cw->id] = NULL;
    pthread_mutex_unlock(&g_mu);
    if (!w) return;
    w->stopping = 1;
    /* Calls in flight are cancelled; their rows stay `sending` and are
     * claimed again after the timeout, under the same idempotency key. */
    while (w->calls) {
        bk_call *c = w->calls;
        if (c->call) cds_http_cancel(c->call);
        if (c->q) cds_db_cancel(c->q);
        call_free(c);
    }
    if (w->claim_q) cds_db_cancel(w->claim_q);
    if (w->poll_state) dl_poll_stop(w->poll_state);
    event_free(w->wake);
    event_free(w->poll);
    free(w);
}
