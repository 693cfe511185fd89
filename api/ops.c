/* /healthz answers as long as the process serves HTTP; /readyz only when this
 * thread's database pool is connected and answers a round trip, so a load
 * balancer takes the node out while PostgreSQL is unreachable; /metrics is
 * the Prometheus text format; /openapi.yaml is the embedded document. */
#include "api/ops.h"
#include "core/assets.h"
#include "core/db.h"
#include "core/metrics.h"
#include "core/clock.h"
#include "core/server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int stmt_ping = -1, stmt_outbox = -1;

static int64_t gauge_db_inflight(void) { return cds_db_gauge_inflight(); }
static int64_t gauge_db_waiting(void) { return cds_db_gauge_waiting(); }

int cds_ops_init(void)
{
    stmt_ping = cds_db_stmt_register("ops_ping", "SELECT 1", 0);
    /* Rows waiting to be sent, by channel (queued rows are those with an
     * attempt due: 0014_outbox_hot.sql); the partial index outbox_due makes
     * this cheap however long the delivered history grows. */
    stmt_outbox = cds_db_stmt_register(
        "ops_outbox_depth",
        "SELECT c.channel, count(o.id) FROM (VALUES ('sms'), ('push')) c(channel) "
        "LEFT JOIN outbox o ON o.channel = c.channel AND o.next_attempt_at IS NOT NULL "
        "GROUP BY c.channel ORDER BY c.channel",
        0);
    cds_metrics_register("cds_db_queries_in_flight", "Queries sent to PostgreSQL and not yet answered.",
                         gauge_db_inflight);
    cds_metrics_register("cds_db_queries_waiting", "Queries waiting for a free database connection.",
                         gauge_db_waiting);
    return stmt_ping < 0 || stmt_outbox < 0 ? -1 : 0;
}

void cds_ops_healthz(cds_req *r)
{
    cds_resp_header(r, "cache-control", "no-store");
    static const char body[] = "{\"status\":\"ok\"}";
    cds_respond(r, 200, "application/json", body, sizeof body - 1);
}

static void not_ready(cds_req *r)
{
    cds_resp_header(r, "cache-control", "no-store");
    cds_problem(r, 503, "not_ready", "Hệ thống chưa sẵn sàng: không kết nối được cơ sở dữ liệu.");
}

static void on_ping(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        not_ready(r);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    static const char body[] = "{\"status\":\"ready\",\"database\":\"up\"}";
    cds_respond(r, 200, "application/json", body, sizeof body - 1);
}

void cds_ops_readyz(cds_req *r)
{
    struct cds_db_pool *db = cds_req_worker(r)->db;
    if (!db || !cds_db_ready(db)) {
        not_ready(r);
        return;
    }
    cds_req_db(r, stmt_ping, 0, NULL, on_ping);
}

/* The process's metrics plus the outbox depth, which lives in the database.
 * The depth counts the queued rows (a few ms of PostgreSQL with thousands
 * queued), so it is asked at most every DEPTH_MAX_AGE_MS per process and
 * scrapes in between reuse the last answer; the metrics still answer when
 * the query fails. */
#define DEPTH_MAX_AGE_MS 5000

typedef struct outbox_depth {
    char channel[2][8];
    int64_t n[2];
    int count;
} outbox_depth;

static pthread_mutex_t g_depth_lock = PTHREAD_MUTEX_INITIALIZER;
static outbox_depth g_depth;
static uint64_t g_depth_at_ms; /* 0: never asked */

static void render_metrics(cds_req *r, const outbox_depth *d)
{
    size_t len;
    char *text = cds_metrics_render(&len);
    if (d && d->count > 0) {
        size_t cap = len + 512;
        char *all = malloc(cap);
        if (all) {
            memcpy(all, text, len);
            len += (size_t)snprintf(all + len, cap - len,
                                    "# HELP cds_outbox_depth Notifications waiting to be sent, by channel.\n"
                                    "# TYPE cds_outbox_depth gauge\n");
            for (int i = 0; i < d->count && len < cap; i++)
                len += (size_t)snprintf(all + len, cap - len, "cds_outbox_depth{channel=\"%s\"} %lld\n",
                                        d->channel[i], (long long)d->n[i]);
            if (len > cap) len = cap;
            free(text);
            text = all;
        }
    }
    cds_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

typedef struct metrics_ctx {
    cds_req *r;
    int slot;
} metrics_ctx;

static void on_outbox_depth(void *arg, PGresult *res)
{
    metrics_ctx *m = arg;
    cds_req_untrack(m->r, m->slot);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        render_metrics(m->r, NULL);
        return;
    }
    outbox_depth d = {0};
    for (int i = 0; i < PQntuples(res) && d.count < 2; i++) {
        snprintf(d.channel[d.count], sizeof d.channel[0], "%s", PQgetvalue(res, i, 0));
        d.n[d.count++] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    }
    pthread_mutex_lock(&g_depth_lock);
    g_depth = d;
    g_depth_at_ms = cds_now_us() / 1000u;
    pthread_mutex_unlock(&g_depth_lock);
    render_metrics(m->r, &d);
}

static void cancel_query(void *q)
{
    cds_db_cancel(q);
}

void cds_ops_metrics(cds_req *r)
{
    outbox_depth cached;
    pthread_mutex_lock(&g_depth_lock);
    int fresh = g_depth_at_ms != 0 && cds_now_us() / 1000u - g_depth_at_ms < DEPTH_MAX_AGE_MS;
    cached = g_depth;
    pthread_mutex_unlock(&g_depth_lock);
    if (fresh) {
        render_metrics(r, &cached);
        return;
    }
    struct cds_db_pool *db = cds_req_worker(r)->db;
    metrics_ctx *m = cds_req_alloc(r, sizeof *m);
    m->r = r;
    cds_db_query *q = NULL;
    /* Not cds_req_db: a saturated pool must not turn /metrics into a 503. */
    if (!db || !cds_db_ready(db) ||
        cds_db_exec(db, stmt_outbox, 0, NULL, on_outbox_depth, m, &q) != CDS_DB_OK) {
        render_metrics(r, NULL);
        return;
    }
    m->slot = cds_req_track(r, cancel_query, q);
}

void cds_ops_openapi(cds_req *r)
{
    const cds_asset *a = cds_asset_find("openapi.yaml");
    if (!a) {
        cds_problem(r, 404, "route_not_found", "Không tìm thấy tài liệu OpenAPI.");
        return;
    }
    cds_respond(r, 200, "application/yaml; charset=utf-8", a->data, a->len);
}
