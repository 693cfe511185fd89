/* /healthz answers as long as the process serves HTTP; /readyz only once
 * every thread's database pool has connected and this thread's answers a
 * round trip, so a load balancer takes the node out while PostgreSQL is
 * unreachable and does not put it in before it has finished starting; /metrics is
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

int cds_ops_init(void)
{
    stmt_ping = cds_db_stmt_register("ops_ping", "SELECT 1", 0);
    /* Gauges that live in the database, one row each: the rows waiting to
     * be sent by channel (queued rows are those with an attempt due,
     * 0014_outbox_hot.sql, or parked behind their dossier's text message on
     * its way, 0036_outbox_parked.sql; the partial indexes keep this cheap
     * however long the delivered history grows), and the receipts waiting
     * for the signer with the age of the oldest numbered one (partial index
     * receipts_unsigned). */
    stmt_outbox = cds_db_stmt_register(
        "ops_db_gauges",
        "SELECT 'outbox', c.channel, count(o.id)::float8 FROM (VALUES ('sms'), ('push'), ('zns')) c(channel) "
        "LEFT JOIN outbox o ON o.channel = c.channel AND (o.next_attempt_at IS NOT NULL OR o.parked) "
        "GROUP BY c.channel "
        "UNION ALL SELECT 'unsigned', '', count(*)::float8 FROM receipts "
        "WHERE signature IS NULL AND sign_error IS NULL "
        "UNION ALL SELECT 'lag', '', COALESCE(EXTRACT(EPOCH FROM now() - min(issued_at)), 0)::float8 "
        "FROM receipts WHERE signature IS NULL AND sign_error IS NULL AND number IS NOT NULL",
        0);
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
    if (cds_server_draining()) { /* SIGTERM: the balancer takes us out first */
        cds_resp_header(r, "cache-control", "no-store");
        cds_problem(r, 503, "draining", "Máy chủ đang dừng, vui lòng thử lại.");
        return;
    }
    struct cds_db_pool *db = cds_req_worker(r)->db;
    /* Every thread's pool, not only this one's: at start each connects on
     * its own, and a check that lands on a connected thread must not let
     * the balancer send traffic that lands on one still connecting. */
    if (!db || !cds_db_all_started() || !cds_db_ready(db)) {
        not_ready(r);
        return;
    }
    cds_req_db(r, stmt_ping, 0, NULL, on_ping);
}

/* The process's metrics plus the gauges that live in the database (outbox
 * depth, receipts waiting for the signer). Counting the queued rows takes a
 * few ms of PostgreSQL with thousands queued, so they are asked at most every
 * DEPTH_MAX_AGE_MS per process and scrapes in between reuse the last answer;
 * the metrics still answer when the query fails. */
#define DEPTH_MAX_AGE_MS 5000

typedef struct db_gauges {
    char channel[2][8];
    double n[2];
    int count;
    double unsigned_receipts, signer_lag_s;
} db_gauges;

static pthread_mutex_t g_depth_lock = PTHREAD_MUTEX_INITIALIZER;
static db_gauges g_depth;
static uint64_t g_depth_at_ms; /* 0: never asked */

static void render_metrics(cds_req *r, const db_gauges *d)
{
    size_t len;
    char *text = cds_metrics_render(&len);
    if (d && d->count > 0) {
        size_t cap = len + 1024;
        char *all = malloc(cap);
        if (all) {
            memcpy(all, text, len);
            len += (size_t)snprintf(all + len, cap - len,
                                    "# HELP cds_outbox_depth Notifications waiting to be sent, by channel.\n"
                                    "# TYPE cds_outbox_depth gauge\n");
            for (int i = 0; i < d->count && len < cap; i++)
                len += (size_t)snprintf(all + len, cap - len, "cds_outbox_depth{channel=\"%s\"} %.0f\n",
                                        d->channel[i], d->n[i]);
            if (len < cap)
                len += (size_t)snprintf(
                    all + len, cap - len,
                    "# HELP cds_receipts_unsigned Receipts waiting for the signer.\n"
                    "# TYPE cds_receipts_unsigned gauge\ncds_receipts_unsigned %.0f\n"
                    "# HELP cds_receipts_signer_lag_seconds Age of the oldest numbered receipt "
                    "not signed yet (0 when none waits).\n"
                    "# TYPE cds_receipts_signer_lag_seconds gauge\ncds_receipts_signer_lag_seconds %.3f\n",
                    d->unsigned_receipts, d->signer_lag_s);
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
    db_gauges d = {0};
    for (int i = 0; i < PQntuples(res); i++) {
        const char *kind = PQgetvalue(res, i, 0);
        double v = strtod(PQgetvalue(res, i, 2), NULL);
        if (strcmp(kind, "outbox") == 0 && d.count < 2) {
            snprintf(d.channel[d.count], sizeof d.channel[0], "%s", PQgetvalue(res, i, 1));
            d.n[d.count++] = v;
        } else if (strcmp(kind, "unsigned") == 0) {
            d.unsigned_receipts = v;
        } else if (strcmp(kind, "lag") == 0) {
            d.signer_lag_s = v;
        }
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
    db_gauges cached;
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
