/* The polling fallback, for carriers without webhooks (or webhooks lost):
 * thread 0 of each process, every CDS_COURIER_POLL_EVERY_MS, takes up to 20
 * open shipments of the carriers in CDS_COURIER_POLL_CARRIERS not updated for
 * CDS_COURIER_POLL_AFTER seconds (cds_shipments_to_poll, SKIP LOCKED, so two
 * processes ask about different ones), asks each carrier's tracking API, and
 * records every event through cds_shipment_event, oldest first, exactly as a
 * webhook would: events already known are duplicates and change nothing.
 * One shipment at a time: polling is a trickle, not a firehose. The timer
 * is core's periodic job (core/periodic.h). */
#include "internal.h"
#include "core/db.h"
#include "core/log.h"
#include "core/periodic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_BATCH 20
#define EVENTS_MAX 100

struct dl_poller {
    cds_worker *cw;
    cds_periodic *timer;
    int busy;
    cds_db_query *q;
    cds_http_call *call;
    char (*due)[2][48]; /* carrier, tracking */
    int ndue, cur;
    dl_event ev[EVENTS_MAX];
    size_t nev, next;
};
typedef dl_poller poller;

static int st_to_poll = -1;
static char g_carriers[256]; /* "{vnpost}" */

int dl_poll_init(void)
{
    st_to_poll = cds_db_stmt_register(
        "courier_to_poll",
        "SELECT carrier, tracking_no FROM cds_shipments_to_poll($1::text[], "
        "make_interval(secs => $2::int), $3::int)",
        3);
    if (st_to_poll < 0) return -1;
    g_carriers[0] = 0;
    const char *c = g_delivery.poll_carriers;
    if (c && *c) {
        if (strpbrk(c, "{}\"\\ ") || strlen(c) > 200) return -1;
        snprintf(g_carriers, sizeof g_carriers, "{%s}", c);
    }
    return 0;
}

static void next_shipment(poller *p);

static void clear_events(poller *p)
{
    for (size_t i = 0; i < p->nev; i++) dl_event_clear(&p->ev[i]);
    p->nev = p->next = 0;
}

static void next_event(poller *p);

static void on_event(void *arg, PGresult *res)
{
    poller *p = arg;
    p->q = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_log(CDS_LOG_WARN, "courier_poll_record", "%s", res ? PQresultErrorMessage(res) : "connection lost");
        p->next = p->nev; /* the rest waits for the next round */
    } else {
        if (PQntuples(res) == 1) dl_events_count(PQgetvalue(res, 0, 0));
        p->next++;
    }
    next_event(p);
}

static void next_event(poller *p)
{
    if (p->next >= p->nev) {
        clear_events(p);
        p->cur++;
        next_shipment(p);
        return;
    }
    char max_failed[16], cod[24];
    const char *prm[13];
    dl_event_params(p->due[p->cur][0], &p->ev[p->next], "poll", max_failed, cod, prm);
    /* The trace of the tracking call that brought the event (core/http_client.c
     * starts one for it), so the citizen's message continues it. */
    char trace[CDS_TRACEPARENT_LEN + 2 + CDS_TRACESTATE_MAX];
    const cds_trace *t = cds_log_trace();
    prm[12] = t && cds_trace_stored(t, trace, sizeof trace) == 0 ? trace : NULL;
    if (cds_db_exec(p->cw->db, dl_stmt_event, 13, prm, on_event, p, &p->q) != CDS_DB_OK) {
        p->next = p->nev;
        next_event(p);
    }
}

static int by_time(const void *a, const void *b)
{
    /* RFC 3339 texts with the carrier's one offset compare as times. */
    return strcmp(((const dl_event *)a)->occurred_at, ((const dl_event *)b)->occurred_at);
}

static void on_tracked(void *arg, const cds_http_response *resp)
{
    poller *p = arg;
    p->call = NULL;
    const dl_carrier *c = dl_carrier_find(p->due[p->cur][0]);
    char err[300];
    if (resp->error || resp->status != 200 || !c ||
        c->parse_events(resp->body, resp->body_len, p->ev, EVENTS_MAX, &p->nev, err, sizeof err) != 0) {
        cds_log(CDS_LOG_WARN, "courier_poll_failed", "carrier=%s tracking=%s status=%ld error=%s",
                p->due[p->cur][0], p->due[p->cur][1], resp->status,
                resp->error ? resp->error : "unreadable answer");
        p->nev = 0;
    }
    qsort(p->ev, p->nev, sizeof p->ev[0], by_time);
    p->next = 0;
    next_event(p);
}

static void next_shipment(poller *p)
{
    while (p->cur < p->ndue) {
        const dl_carrier *c = dl_carrier_find(p->due[p->cur][0]);
        dl_http req = {0};
        char err[200];
        if (c && c->configured() && c->track_request(p->due[p->cur][1], &req, err, sizeof err) == 0) {
            cds_http_request hr = {.method = req.method,
                                   .url = req.url,
                                   .headers = (const char *const *)req.headers,
                                   .body = req.body, /* GHN's detail is a POST */
                                   .body_len = req.body_len,
                                   .timeout_ms = g_delivery.call_timeout_ms};
            p->call = cds_http_start(p->cw->http, &hr, on_tracked, p);
            dl_http_clear(&req); /* the request is copied */
            if (p->call) return;
        } else {
            dl_http_clear(&req);
        }
        p->cur++;
    }
    free(p->due);
    p->due = NULL;
    p->ndue = p->cur = 0;
    p->busy = 0;
}

static void on_due(void *arg, PGresult *res)
{
    poller *p = arg;
    int n = res && PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
    p->due = n ? calloc((size_t)n, sizeof *p->due) : NULL;
    p->ndue = p->due ? n : 0;
    for (int i = 0; i < p->ndue; i++) {
        snprintf(p->due[i][0], 48, "%s", PQgetvalue(res, i, 0));
        snprintf(p->due[i][1], 48, "%s", PQgetvalue(res, i, 1));
    }
    p->cur = 0;
    next_shipment(p);
}

static void on_timer(cds_periodic *timer, void *arg)
{
    poller *p = arg;
    if (p->busy || !g_carriers[0]) return;
    char after[16], lim[16];
    snprintf(after, sizeof after, "%d", g_delivery.poll_after_s);
    snprintf(lim, sizeof lim, "%d", POLL_BATCH);
    const char *prm[3] = {g_carriers, after, lim};
    if (cds_periodic_query(timer, p->cw->db, st_to_poll, 3, prm, on_due) == 0) p->busy = 1;
}

dl_poller *dl_poll_start(cds_worker *cw)
{
    if (!g_carriers[0]) return NULL;
    poller *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cw = cw;
    p->timer = cds_periodic_start(cw->base, g_delivery.poll_every_ms, on_timer, p);
    if (!p->timer) {
        free(p);
        return NULL;
    }
    return p;
}

void dl_poll_stop(dl_poller *p)
{
    if (!p) return;
    cds_periodic_stop(p->timer);
    if (p->call) cds_http_cancel(p->call);
    if (p->q) cds_db_cancel(p->q);
    clear_events(p);
    free(p->due);
    free(p);
}
