/* `cds couriers`: an operator issues or disables a carrier's courier account
 * from a shell, through the same SQL as the partner routes
 * (delivery/couriers.c: cds_courier_create, cds_courier_disable):
 *
 *   cds couriers add --carrier vnpost --external-id BT-001 --name "..." [--phone 09..]
 *       prints the courier id and the login secret (shown this once; kept
 *       as its SHA-256)
 *   cds couriers disable --id UUID --actor WHO
 *       the courier's tokens stop working at once
 *
 * Exit status 0 on success, 1 when refused (the reason printed), 2 for a
 * usage error. */
#include "cli/cli.h"
#include "core/digest.h"
#include "core/options.h"
#include "core/trace.h"
#include "delivery/delivery.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

static const char *me = "cds couriers";

int cds_cmd_couriers(int argc, char **argv)
{
    const char *db = NULL, *carrier = NULL, *ext = NULL, *name = NULL, *phone = NULL, *id = NULL,
               *actor = NULL;
    const cds_opt opts[] = {
        {"carrier", NULL, CDS_OPT_STR, &carrier, 0, 0, "add: the carrier (vnpost, ghn)"},
        {"external-id", NULL, CDS_OPT_STR, &ext, 0, 0, "add: the carrier's staff id"},
        {"name", NULL, CDS_OPT_STR, &name, 0, 0, "add: the courier's name"},
        {"phone", NULL, CDS_OPT_STR, &phone, 0, 0, "add: the courier's phone (optional)"},
        {"id", NULL, CDS_OPT_STR, &id, 0, 0, "disable: the courier id"},
        {"actor", NULL, CDS_OPT_STR, &actor, 0, 0, "disable: who does it"},
        {"database-url", "CDS_DATABASE_URL", CDS_OPT_SECRET, &db, 0, 0, "PostgreSQL connection string"},
    };
    const size_t nopts = sizeof opts / sizeof opts[0];
    const char *usage = "usage: cds couriers add --carrier C --external-id E --name N [--phone P]\n"
                        "       cds couriers disable --id UUID --actor WHO";
    int rc = cds_cli_args(me, usage, opts, nopts, argc, argv);
    if (rc >= 0) return rc;
    const char *sub = argv[2];
    int add = strcmp(sub, "add") == 0, dis = strcmp(sub, "disable") == 0;
    if (!add && !dis) {
        fprintf(stderr, "%s: unknown subcommand '%s' (add, disable)\n", me, sub);
        return 2;
    }
    const char *missing = !db || !*db                           ? "--database-url (or CDS_DATABASE_URL)"
                          : add && (!carrier || !ext || !name) ? "--carrier, --external-id and --name"
                          : dis && (!id || !actor)             ? "--id and --actor"
                                                                : NULL;
    if (missing) {
        fprintf(stderr, "%s %s: %s required\n", me, sub, missing);
        return 2;
    }
    if (add && !cds_delivery_carrier_known(carrier)) {
        fprintf(stderr, "%s add: unknown carrier %s\n", me, carrier);
        return 2;
    }
    PGconn *c = cds_cli_connect(me, db);
    if (!c) {
        return 1;
    }
    rc = 1;
    if (add) {
        char secret[65], sha[65];
        unsigned char d[32];
        cds_trace_random_hex(secret, 32);
        cds_sha256(secret, 64, d);
        for (int i = 0; i < 32; i++) snprintf(sha + 2 * i, 3, "%02x", d[i]);
        char by[300];
        snprintf(by, sizeof by, "operator:%s", actor ? actor : "cli");
        const char *v[] = {carrier, ext, name, phone && *phone ? phone : NULL, sha, by};
        PGresult *r = cds_cli_query(me, c, "SELECT status, id FROM cds_courier_create($1, $2, $3, $4, $5, $6)", 6, v, 1);
        if (r && strcmp(PQgetvalue(r, 0, 0), "created") == 0) {
            printf("id=%s\nsecret=%s\n", PQgetvalue(r, 0, 1), secret);
            rc = 0;
        } else if (r) {
            fprintf(stderr, "%s add: %s already has courier %s (id %s)\n", me, carrier, ext,
                    PQgetvalue(r, 0, 1));
        }
        PQclear(r);
    } else {
        char by[300];
        snprintf(by, sizeof by, "operator:%s", actor);
        const char *v[] = {id, by};
        PGresult *r = cds_cli_query(me, c, "SELECT status, disabled_at FROM cds_courier_disable($1::uuid, NULL, $2)", 2, v, 1);
        if (r && strcmp(PQgetvalue(r, 0, 0), "not_found") != 0) {
            printf("disabled_at=%s\n", PQgetvalue(r, 0, 1));
            rc = 0;
        } else if (r) {
            fprintf(stderr, "%s disable: no courier %s\n", me, id);
        }
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}
