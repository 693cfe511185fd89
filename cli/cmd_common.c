/* The plumbing every operator subcommand with a database shares (`cds
 * couriers`, `cds payments`, `cds staff`): the usage and options of
 * `cds <cmd> <sub> --option ...`, the connection, one statement with its
 * error printed under the command's name. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cds_cli_args(const char *me, const char *usage, const cds_opt *opts, size_t nopts, int argc,
                 char **argv)
{
    if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
        cds_opts_help(argc < 3 ? stderr : stdout, usage, opts, nopts);
        return argc < 3 ? 2 : 0;
    }
    char err[512];
    int rc = cds_opts_parse(opts, nopts, argc, argv, 3, err, sizeof err);
    if (rc == 1) {
        cds_opts_help(stdout, usage, opts, nopts);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", me, err);
        return 2;
    }
    return -1;
}

PGconn *cds_cli_connect(const char *me, const char *db)
{
    PGconn *c = PQconnectdb(db);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "%s: cannot connect: %s", me, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

PGresult *cds_cli_query(const char *me, PGconn *c, const char *sql, int n, const char *const *v,
                        int one_row)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || (one_row && PQntuples(r) != 1)) {
        fprintf(stderr, "%s: %s", me, PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}
