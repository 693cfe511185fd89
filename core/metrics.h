/* Process-wide Prometheus metrics: request counters by route and status,
 * latency histograms by route, connection/stream gauges, and gauges that
 * other modules register as callbacks (database pool, outbox depth). Counters
 * are relaxed C11 atomics, so loop threads never take a lock to count. */
#ifndef CDS_METRICS_H
#define CDS_METRICS_H
#include <stddef.h>
#include <stdint.h>

/* Route labels (method + template), index = the route's metric slot. Called
 * once before threads start; slot n (== count) is "unmatched". */
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
    CDS_G__COUNT
};
void cds_metrics_add(enum cds_gauge g, int64_t delta);
int64_t cds_metrics_get(enum cds_gauge g);

typedef int64_t (*cds_metric_fn)(void);
/* A gauge read at scrape time (e.g. outbox depth). Up to 32; call before threads start. */
void cds_metrics_register(const char *name, const char *help, cds_metric_fn fn);

/* Prometheus text exposition format 0.0.4; malloc'ed, *len set. */
char *cds_metrics_render(size_t *len);

#endif
