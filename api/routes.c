/* The route table of the API server: every route the server answers, in one
 * place. tests/integration/test_openapi checks it against openapi.yaml. */
#include "api/api.h"
#include "api/ops.h"

static const cds_route routes[] = {
    {"GET", "/healthz", cds_ops_healthz, 0},
    {"GET", "/readyz", cds_ops_readyz, 0},
    {"GET", "/metrics", cds_ops_metrics, 0},
    {"GET", "/openapi.yaml", cds_ops_openapi, 0},
};

const cds_route *cds_api_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}

int cds_api_init(void)
{
    return cds_ops_init();
}
