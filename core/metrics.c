/* Metrics storage and rendering (see metrics.h). Status codes are folded onto
 * a fixed list of the codes this service answers with, plus "other", so the
 * table per route is small and allocation-free at request time. */
#include "core/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int status_codes[] = {100, 101, 200, 201, 202, 204, 206, 301, 302, 304, 400, 401,
                                   403, 404, 405, 406, 408, 409, 410, 411, 413, 415, 422, 425,
                                   428, 429, 431, 500, 501, 502, 503, 504, 0};
#define NSTATUS (sizeof status_codes / sizeof status_codes[0]) /* last: other */
static const uint64_t buckets_us[] = {250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
                                      100000, 250000, 500000, 1000000, 2500000, 10000000};
#define NBUCKETS (sizeof buckets_us / sizeof buckets_us[0])

typedef struct route_stats {
    _Atomic uint64_t by_status[NSTATUS];
    _Atomic uint64_t hist[NBUCKETS + 1];
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
} route_stats;

static size_t nslots;
static char **labels_method, **labels_route;
static route_stats *stats;
static unsigned char status_index[600];
static _Atomic int64_t gauges[CDS_G__COUNT];

static struct {
    const char *name, *help;
    cds_metric_fn fn;
} extra[32];
static size_t nextra;

void cds_metrics_init(const char *const *methods, const char *const *routes, size_t n)
{
    cds_metrics_free();
    nslots = n + 1;
    stats = calloc(nslots, sizeof *stats);
    labels_method = calloc(nslots, sizeof(char *));
    labels_route = calloc(nslots, sizeof(char *));
    if (!stats || !labels_method || !labels_route) abort();
    for (size_t i = 0; i < n; i++) {
        labels_method[i] = strdup(methods[i]);
        labels_route[i] = strdup(routes[i]);
    }
    labels_method[n] = strdup("-");
    labels_route[n] = strdup("unmatched");
    for (size_t i = 0; i < 600; i++) status_index[i] = NSTATUS - 1;
    for (size_t i = 0; status_codes[i]; i++) status_index[status_codes[i]] = (unsigned char)i;
}

void cds_metrics_free(void)
{
    for (size_t i = 0; labels_route && i < nslots; i++) {
        free(labels_method[i]);
        free(labels_route[i]);
    }
    free(labels_method);
    free(labels_route);
    free(stats);
    labels_method = labels_route = NULL;
    stats = NULL;
    nslots = 0;
}

void cds_metrics_request(int slot, int status, uint64_t duration_us)
{
    if (!stats) return;
    if (slot < 0 || (size_t)slot >= nslots) slot = (int)nslots - 1;
    route_stats *s = &stats[slot];
    int si = (status >= 0 && status < 600) ? status_index[status] : (int)NSTATUS - 1;
    atomic_fetch_add_explicit(&s->by_status[si], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < NBUCKETS && duration_us > buckets_us[b]) b++;
    atomic_fetch_add_explicit(&s->hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, duration_us, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void cds_metrics_add(enum cds_gauge g, int64_t delta)
{
    atomic_fetch_add_explicit(&gauges[g], delta, memory_order_relaxed);
}

int64_t cds_metrics_get(enum cds_gauge g)
{
    return atomic_load_explicit(&gauges[g], memory_order_relaxed);
}

void cds_metrics_register(const char *name, const char *help, cds_metric_fn fn)
{
    for (size_t i = 0; i < nextra; i++)
        if (strcmp(extra[i].name, name) == 0) return;
    if (nextra < sizeof extra / sizeof extra[0]) {
        extra[nextra].name = name;
        extra[nextra].help = help;
        extra[nextra++].fn = fn;
    }
}

typedef struct out {
    char *p;
    size_t len, cap;
} out;

static void emit(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t ncap = o->cap * 2 + (size_t)n;
        char *np = realloc(o->p, ncap);
        if (!np) abort();
        o->p = np;
        o->cap = ncap;
    }
}

char *cds_metrics_render(size_t *len)
{
    out o = {malloc(16384), 0, 16384};
    if (!o.p) abort();
    o.p[0] = 0;
    emit(&o, "# HELP cds_http_requests_total HTTP requests answered, by route and status.\n"
             "# TYPE cds_http_requests_total counter\n");
    for (size_t i = 0; i < nslots; i++)
        for (size_t s = 0; s < NSTATUS; s++) {
            uint64_t v = atomic_load_explicit(&stats[i].by_status[s], memory_order_relaxed);
            if (!v) continue;
            char code[8];
            if (status_codes[s]) snprintf(code, sizeof code, "%d", status_codes[s]);
            else snprintf(code, sizeof code, "other");
            emit(&o, "cds_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                 labels_method[i], labels_route[i], code, (unsigned long long)v);
        }
    emit(&o, "# HELP cds_http_request_duration_seconds Time from a complete request to its answer.\n"
             "# TYPE cds_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < nslots; i++) {
        uint64_t count = atomic_load_explicit(&stats[i].count, memory_order_relaxed);
        if (!count) continue;
        uint64_t cum = 0;
        for (size_t b = 0; b <= NBUCKETS; b++) {
            cum += atomic_load_explicit(&stats[i].hist[b], memory_order_relaxed);
            if (b < NBUCKETS)
                emit(&o, "cds_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} %llu\n",
                     labels_method[i], labels_route[i], (double)buckets_us[b] / 1e6,
                     (unsigned long long)cum);
            else
                emit(&o, "cds_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %llu\n",
                     labels_method[i], labels_route[i], (unsigned long long)cum);
        }
        emit(&o, "cds_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
             labels_method[i], labels_route[i],
             (double)atomic_load_explicit(&stats[i].sum_us, memory_order_relaxed) / 1e6);
        emit(&o, "cds_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
             labels_method[i], labels_route[i], (unsigned long long)count);
    }
    static const struct {
        const char *name, *type, *help;
    } g[CDS_G__COUNT] = {
        {"cds_http_connections_open", "gauge", "Client connections open."},
        {"cds_http_requests_in_progress", "gauge", "Requests received and not yet answered."},
        {"cds_http_connections_rejected_total", "counter", "Connections refused at the per-thread cap."},
        {"cds_http_connection_timeouts_total", "counter", "Connections closed by a handshake, header or idle timeout."},
        {"cds_http_requests_cancelled_total", "counter", "Requests abandoned by the client before their answer; their work was cancelled."},
        {"cds_http_protocol_errors_total", "counter", "Connections closed for a protocol error, flood or reset rate."},
    };
    for (int i = 0; i < CDS_G__COUNT; i++)
        emit(&o, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", g[i].name, g[i].help, g[i].name,
             g[i].type, g[i].name, (long long)cds_metrics_get((enum cds_gauge)i));
    for (size_t i = 0; i < nextra; i++)
        emit(&o, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", extra[i].name, extra[i].help,
             extra[i].name, extra[i].name, (long long)extra[i].fn());
    *len = o.len;
    return o.p;
}
