/* /healthz answers as long as the process serves HTTP; /readyz only when this
 * thread's database pool is connected and answers a round trip, so a load
 * balancer takes the node out while PostgreSQL is unreachable; /metrics is
 * the Prometheus text format; /openapi.yaml is the embedded document. */
#include "api/ops.h"
#include "core/assets.h"
#include "core/db.h"
#include "core/metrics.h"

#include <stdlib.h>

static int stmt_ping = -1;

static int64_t gauge_db_inflight(void) { return cds_db_gauge_inflight(); }
static int64_t gauge_db_waiting(void) { return cds_db_gauge_waiting(); }

int cds_ops_init(void)
{
    stmt_ping = cds_db_stmt_register("ops_ping", "SELECT 1", 0);
    cds_metrics_register("cds_db_queries_in_flight", "Queries sent to PostgreSQL and not yet answered.",
                         gauge_db_inflight);
    cds_metrics_register("cds_db_queries_waiting", "Queries waiting for a free database connection.",
                         gauge_db_waiting);
    return stmt_ping < 0 ? -1 : 0;
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

void cds_ops_metrics(cds_req *r)
{
    size_t len;
    char *text = cds_metrics_render(&len);
    cds_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
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
