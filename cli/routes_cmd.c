/* `cds routes`: the server's route table, one "METHOD PATH" per line, so
 * tests and people can compare it with openapi.yaml. */
#include "api/api.h"
#include "cli/cli.h"

#include <stdio.h>

int cds_cmd_routes(int argc, char **argv)
{
    size_t n;
    const cds_route *r = cds_api_routes(&n);
    for (size_t i = 0; i < n; i++) printf("%s %s\n", r[i].method, r[i].path);
    return 0;
}
