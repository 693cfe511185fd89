/* Process-wide Prometheus metrics: request counters by route and status,
 * latency histograms by route, connection/stream gauges, duration histograms
 * (database queries, webhook processing, notification dispatch), and metrics
 * that other modules register as callbacks (counters, database pool, outbox
 * depth). Every count lives in a block owned by the thread that counts (a
 * relaxed load and store, no locked instruction, no shared cache line); the
 * scrape sums the blocks. */
#ifndef CDS_METRICS_H
#define CDS_METRICS_H
#include <stddef.h>
#include <stdint.h>

/* Route labels (method + template), index = the route's metric slot. Called
 * once before threads start; slot n (== count) is "unmatched". Routes under
 * /v1/webhooks/ also feed cds_webhook_processing_seconds. */
void cds_metrics_init(const char *const *methods, const char *const *routes, size_t n);
void cds_metrics_free(void);
void cds_metrics_request(int slot, int status, uint64_t duration_us);

enum cds_gauge {
    CDS_G_CONNECTIONS,      /* open client connections */
    CDS_G_STREAMS,          /* requests in progress (HTTP/2 streams and HTTP/1.1) */
    CDS_G_CONN_REJECTED,    /* counter: connections refused at the per-thread cap */
    CDS_G_CONN_TIMEOUTS,    /* counter: connections closed by a timeout */
    CDS_G_REQ_CANCELLED,    /* counter: requests abandoned by the client before the answer */
    CDS_G_PROTOCOL_ERRORS,  /* counter: connections closed for a protocol error or flood */
    CDS_G_DB_INFLIGHT,      /* queries sent to PostgreSQL and not yet answered */
    CDS_G_DB_WAITING,       /* queries waiting for a free database connection */
    CDS_G__COUNT
};
/* Adds to this thread's share; the value is the sum over threads. */
void cds_metrics_add(enum cds_gauge g, int64_t delta);
int64_t cds_metrics_get(enum cds_gauge g);

enum cds_hist {
    CDS_H_DB_QUERY,        /* a query from send to result */
    CDS_H_NOTIFY_DISPATCH, /* an outbox row from claim to the provider's answer */
    CDS_H__COUNT
};
void cds_metrics_observe(enum cds_hist h, uint64_t duration_us);

typedef int64_t (*cds_metric_fn)(void);
/* A value read at scrape time. Its type follows the Prometheus naming rule:
 * a name ending in "_total" is a counter, anything else a gauge. Up to 32;
 * call before threads start. */
void cds_metrics_register(const char *name, const char *help, cds_metric_fn fn);

/* Prometheus text exposition format 0.0.4; malloc'ed, *len set. */
char *cds_metrics_render(size_t *len);

#endif
