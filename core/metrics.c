/* Metrics storage and rendering (see metrics.h). Status codes are folded onto
 * a fixed list of the codes this service answers with, plus "other", so the
 * table per route is small and allocation-free at request time.
 *
 * Each counting thread owns two blocks: one for the gauges and the duration
 * histograms (made on its first count, kept for the life of the process so
 * that nothing counted is lost when a thread ends) and one for the per-route
 * tables (sized by cds_metrics_init, dropped by cds_metrics_free; a thread
 * notices through a generation number). Only the owner writes a block, with
 * a relaxed load and store: no locked instruction and no cache line bouncing
 * between loop threads on every request. The scrape takes the list lock and
 * sums; a value read mid-update is at most one event behind. */
#include "core/metrics.h"
#include "core/metrics_process.h"
#include "core/buf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int status_codes[] = {100, 101, 200, 201, 202, 204, 206, 301, 302, 304, 400, 401,
                                   403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 415, 422,
                                   425, 428, 429, 431, 500, 501, 502, 503, 504, 0};
#define NSTATUS (sizeof status_codes / sizeof status_codes[0]) /* last: other */

/* Bucket bounds in microseconds. Requests: mostly sub-millisecond to tens of
 * milliseconds; webhooks: providers give up and retry after some seconds;
 * queries: a pipelined prepared statement is usually well under a millisecond;
 * dispatch: a provider's HTTP round trip, seconds when it is slow. */
static const uint64_t b_http[] = {250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
                                  100000, 250000, 500000, 1000000, 2500000, 10000000};
static const uint64_t b_webhook[] = {5000, 10000, 25000, 50000, 100000, 250000,
                                     500000, 1000000, 2500000, 5000000, 10000000, 30000000};
static const uint64_t b_db[] = {100, 250, 500, 1000, 2500, 5000, 10000, 25000,
                                50000, 100000, 250000, 500000, 1000000, 5000000};
static const uint64_t b_dispatch[] = {10000, 25000, 50000, 100000, 250000, 500000,
                                      1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
#define NB(a) (sizeof a / sizeof a[0])
#define MAXB 16

typedef _Atomic uint64_t cnt;

typedef struct hist {
    cnt b[MAXB + 1]; /* per bucket (not cumulative); [nb] is +Inf */
    cnt sum_us, count;
} hist;

static const struct {
    const char *name, *help;
    const uint64_t *bounds;
    size_t nb;
} hists[CDS_H__COUNT] = {
    [CDS_H_DB_QUERY] = {"cds_db_query_duration_seconds",
                        "Time from sending a query to PostgreSQL to its result.", b_db, NB(b_db)},
    [CDS_H_NOTIFY_DISPATCH] = {"cds_notify_dispatch_duration_seconds",
                               "Time from claiming an outbox row to the provider's answer.",
                               b_dispatch, NB(b_dispatch)},
};

typedef struct route_stats {
    cnt by_status[NSTATUS];
    hist lat;     /* b_http */
    hist webhook; /* b_webhook; webhook routes only */
} route_stats;

typedef struct tblock { /* gauges and histograms; lives as long as the process */
    struct tblock *next;
    _Atomic int64_t gauges[CDS_G__COUNT];
    hist h[CDS_H__COUNT];
} tblock;

typedef struct rblock { /* per-route tables of one thread for one init */
    struct rblock *next;
    route_stats *routes;
} rblock;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* the two lists */
static tblock *g_tblocks;
static rblock *g_rblocks;
static _Atomic unsigned g_gen = 1;
static _Thread_local tblock *t_tb;
static _Thread_local rblock *t_rb;
static _Thread_local unsigned t_rgen;

static size_t nslots;
static char **labels_method, **labels_route;
static unsigned char *is_webhook;
static unsigned char status_index[600];

static struct {
    const char *name, *help;
    cds_metric_fn fn;
} extra[32];
static size_t nextra;

static inline void bump(cnt *c, uint64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d, memory_order_relaxed);
}

static inline uint64_t rd(const cnt *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void hist_add(hist *h, const uint64_t *bounds, size_t nb, uint64_t us)
{
    size_t b = 0;
    while (b < nb && us > bounds[b]) b++;
    bump(&h->b[b], 1);
    bump(&h->sum_us, us);
    bump(&h->count, 1);
}

static tblock *my_tblock(void)
{
    if (t_tb) return t_tb;
    tblock *b = calloc(1, sizeof *b);
    if (!b) abort();
    pthread_mutex_lock(&g_lock);
    b->next = g_tblocks;
    g_tblocks = b;
    pthread_mutex_unlock(&g_lock);
    return t_tb = b;
}

static rblock *my_rblock(void)
{
    unsigned gen = atomic_load_explicit(&g_gen, memory_order_acquire);
    if (t_rb && t_rgen == gen) return t_rb;
    rblock *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->routes = calloc(nslots, sizeof *b->routes);
    if (!b->routes) abort();
    pthread_mutex_lock(&g_lock);
    b->next = g_rblocks;
    g_rblocks = b;
    pthread_mutex_unlock(&g_lock);
    t_rgen = gen;
    return t_rb = b;
}

void cds_metrics_init(const char *const *methods, const char *const *routes, size_t n)
{
    cds_metrics_free();
    nslots = n + 1;
    labels_method = calloc(nslots, sizeof(char *));
    labels_route = calloc(nslots, sizeof(char *));
    is_webhook = calloc(nslots, 1);
    if (!labels_method || !labels_route || !is_webhook) abort();
    for (size_t i = 0; i < n; i++) {
        labels_method[i] = strdup(methods[i]);
        labels_route[i] = strdup(routes[i]);
        if (!labels_method[i] || !labels_route[i]) abort();
        is_webhook[i] = strncmp(routes[i], "/v1/webhooks/", 13) == 0;
    }
    labels_method[n] = strdup("-");
    labels_route[n] = strdup("unmatched");
    if (!labels_method[n] || !labels_route[n]) abort();
    for (size_t i = 0; i < 600; i++) status_index[i] = NSTATUS - 1;
    for (size_t i = 0; status_codes[i]; i++) status_index[status_codes[i]] = (unsigned char)i;
}

void cds_metrics_free(void)
{
    pthread_mutex_lock(&g_lock);
    for (rblock *b = g_rblocks, *next; b; b = next) {
        next = b->next;
        free(b->routes);
        free(b);
    }
    g_rblocks = NULL;
    atomic_fetch_add_explicit(&g_gen, 1, memory_order_release);
    pthread_mutex_unlock(&g_lock);
    for (size_t i = 0; labels_route && i < nslots; i++) {
        free(labels_method[i]);
        free(labels_route[i]);
    }
    free(labels_method);
    free(labels_route);
    free(is_webhook);
    labels_method = labels_route = NULL;
    is_webhook = NULL;
    nslots = 0;
}

void cds_metrics_request(int slot, int status, uint64_t duration_us)
{
    if (!nslots) return;
    if (slot < 0 || (size_t)slot >= nslots) slot = (int)nslots - 1;
    route_stats *s = &my_rblock()->routes[slot];
    int si = (status >= 0 && status < 600) ? status_index[status] : (int)NSTATUS - 1;
    bump(&s->by_status[si], 1);
    hist_add(&s->lat, b_http, NB(b_http), duration_us);
    if (is_webhook[slot]) hist_add(&s->webhook, b_webhook, NB(b_webhook), duration_us);
}

void cds_metrics_add(enum cds_gauge g, int64_t delta)
{
    _Atomic int64_t *v = &my_tblock()->gauges[g];
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

int64_t cds_metrics_get(enum cds_gauge g)
{
    int64_t sum = 0;
    pthread_mutex_lock(&g_lock);
    for (tblock *b = g_tblocks; b; b = b->next)
        sum += atomic_load_explicit(&b->gauges[g], memory_order_relaxed);
    pthread_mutex_unlock(&g_lock);
    return sum;
}

void cds_metrics_observe(enum cds_hist h, uint64_t duration_us)
{
    hist_add(&my_tblock()->h[h], hists[h].bounds, hists[h].nb, duration_us);
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

/* Far above a page of every route's histogram. */
#define RENDER_CAP ((size_t)16 * 1024 * 1024)

static void hist_sum(hist *acc, const hist *h, size_t nb)
{
    for (size_t b = 0; b <= nb; b++) bump(&acc->b[b], rd(&h->b[b]));
    bump(&acc->sum_us, rd(&h->sum_us));
    bump(&acc->count, rd(&h->count));
}

/* One histogram's series; `labels` is "" or `k="v",...` without braces. */
static void hist_cds_buf_printf(cds_buf *o, const char *name, const char *labels, const hist *h,
                      const uint64_t *bounds, size_t nb)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (size_t b = 0; b <= nb; b++) {
        cum += rd(&h->b[b]);
        if (b < nb)
            cds_buf_printf(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, (double)bounds[b] / 1e6,
                 (unsigned long long)cum);
        else
            cds_buf_printf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    }
    const char *lb = labels[0] ? "{" : "", *rb = labels[0] ? "}" : "";
    cds_buf_printf(o, "%s_sum%s%s%s %.6f\n", name, lb, labels, rb, (double)rd(&h->sum_us) / 1e6);
    cds_buf_printf(o, "%s_count%s%s%s %llu\n", name, lb, labels, rb, (unsigned long long)rd(&h->count));
}

static void render_routes(cds_buf *o)
{
    route_stats *sum = calloc(nslots ? nslots : 1, sizeof *sum);
    if (!sum) abort();
    for (rblock *b = g_rblocks; b; b = b->next)
        for (size_t i = 0; i < nslots; i++) {
            for (size_t s = 0; s < NSTATUS; s++) bump(&sum[i].by_status[s], rd(&b->routes[i].by_status[s]));
            hist_sum(&sum[i].lat, &b->routes[i].lat, NB(b_http));
            hist_sum(&sum[i].webhook, &b->routes[i].webhook, NB(b_webhook));
        }
    cds_buf_printf(o, "# HELP cds_http_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE cds_http_requests_total counter\n");
    for (size_t i = 0; i < nslots; i++)
        for (size_t s = 0; s < NSTATUS; s++) {
            uint64_t v = rd(&sum[i].by_status[s]);
            if (!v) continue;
            char code[8];
            if (status_codes[s]) snprintf(code, sizeof code, "%d", status_codes[s]);
            else snprintf(code, sizeof code, "other");
            cds_buf_printf(o, "cds_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                 labels_method[i], labels_route[i], code, (unsigned long long)v);
        }
    static const struct {
        const char *name, *help;
    } rh[2] = {
        {"cds_http_request_duration_seconds", "Time from a complete request to its answer."},
        {"cds_webhook_processing_seconds",
         "Time from a complete webhook call (payment providers, carriers) to its answer."},
    };
    for (int k = 0; k < 2; k++) {
        cds_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", rh[k].name, rh[k].help, rh[k].name);
        for (size_t i = 0; i < nslots; i++) {
            const hist *h = k == 0 ? &sum[i].lat : &sum[i].webhook;
            if (!rd(&h->count)) continue;
            char labels[512];
            snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"", labels_method[i],
                     labels_route[i]);
            if (k == 0) hist_cds_buf_printf(o, rh[k].name, labels, h, b_http, NB(b_http));
            else hist_cds_buf_printf(o, rh[k].name, labels, h, b_webhook, NB(b_webhook));
        }
    }
    free(sum);
}

char *cds_metrics_render(size_t *len)
{
    cds_buf o;
    cds_buf_init(&o, RENDER_CAP);
    pthread_mutex_lock(&g_lock);
    render_routes(&o);
    static const struct {
        const char *name, *type, *help;
    } g[CDS_G__COUNT] = {
        {"cds_http_connections_open", "gauge", "Client connections open."},
        {"cds_http_requests_in_progress", "gauge", "Requests received and not yet answered."},
        {"cds_http_connections_rejected_total", "counter", "Connections refused at the per-thread cap."},
        {"cds_http_connection_timeouts_total", "counter", "Connections closed by a handshake, header or idle timeout."},
        {"cds_http_requests_cancelled_total", "counter", "Requests abandoned by the client before their answer; their work was cancelled."},
        {"cds_http_protocol_errors_total", "counter", "Connections closed for a protocol error, flood or reset rate."},
        {"cds_db_queries_in_flight", "gauge", "Queries sent to PostgreSQL and not yet answered."},
        {"cds_db_queries_waiting", "gauge", "Queries waiting for a free database connection."},
    };
    for (int i = 0; i < CDS_G__COUNT; i++) {
        int64_t v = 0;
        for (tblock *b = g_tblocks; b; b = b->next)
            v += atomic_load_explicit(&b->gauges[i], memory_order_relaxed);
        cds_buf_printf(&o, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", g[i].name, g[i].help, g[i].name,
             g[i].type, g[i].name, (long long)v);
    }
    for (int k = 0; k < CDS_H__COUNT; k++) {
        hist acc;
        memset(&acc, 0, sizeof acc);
        for (tblock *b = g_tblocks; b; b = b->next) hist_sum(&acc, &b->h[k], hists[k].nb);
        cds_buf_printf(&o, "# HELP %s %s\n# TYPE %s histogram\n", hists[k].name, hists[k].help, hists[k].name);
        hist_cds_buf_printf(&o, hists[k].name, "", &acc, hists[k].bounds, hists[k].nb);
    }
    pthread_mutex_unlock(&g_lock);
    for (size_t i = 0; i < nextra; i++) {
        size_t n = strlen(extra[i].name);
        const char *type = n > 6 && strcmp(extra[i].name + n - 6, "_total") == 0 ? "counter" : "gauge";
        cds_buf_printf(&o, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", extra[i].name, extra[i].help,
             extra[i].name, type, extra[i].name, (long long)extra[i].fn());
    }
    char proc[2048];
    cds_buf_printf(&o, "%s", cds_metrics_process_text(proc, sizeof proc));
    char *text = cds_buf_take(&o, len);
    if (!text) abort(); /* the cap is far above any real page: out of memory */
    return text;
}
