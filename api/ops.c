/* /healthz answers as long as the process serves HTTP; /readyz only when this
 * thread's database pool is connected and answers a round trip, so a load
 * balancer takes the node out while PostgreSQL is unreachable; /metrics is
 * the Prometheus text format; /openapi.yaml is the embedded document. */
#include "api/ops.h"
#include "core/assets.h"
#include "core/db.h"
#include "core/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int stmt_ping = -1, stmt_outbox = -1;

static int64_t gauge_db_inflight(void) { return cds_db_gauge_inflight(); }
static int64_t gauge_db_waiting(void) { return cds_db_gauge_waiting(); }

int cds_ops_init(void)
{
    stmt_ping = cds_db_stmt_register("ops_ping", "SELECT 1", 0);
    /* Rows waiting to be sent, by channel; the partial index outbox_due makes
     * this cheap however long the delivered history grows. */
    stmt_outbox = cds_db_stmt_register(
        "ops_outbox_depth",
        "SELECT c.channel, count(o.id) FROM (VALUES ('sms'), ('push')) c(channel) "
        "LEFT JOIN outbox o ON o.channel = c.channel AND o.status IN ('created', 'temporary-failure') "
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

/* The process's metrics plus the outbox depth, which lives in the database:
 * one query per scrape, and the metrics still answer when it fails. */
static void render_metrics(cds_req *r, PGresult *res)
{
    size_t len;
    char *text = cds_metrics_render(&len);
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        size_t cap = len + 512;
        char *all = malloc(cap);
        if (all) {
            memcpy(all, text, len);
            len += (size_t)snprintf(all + len, cap - len,
                                    "# HELP cds_outbox_depth Notifications waiting to be sent, by channel.\n"
                                    "# TYPE cds_outbox_depth gauge\n");
            for (int i = 0; i < PQntuples(res) && len < cap; i++)
                len += (size_t)snprintf(all + len, cap - len, "cds_outbox_depth{channel=\"%s\"} %s\n",
                                        PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
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
    render_metrics(m->r, res);
}

static void cancel_query(void *q)
{
    cds_db_cancel(q);
}

void cds_ops_metrics(cds_req *r)
{
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
