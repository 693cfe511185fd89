/* `cds payments`: the operators' side of payments from a shell, through the
 * same SQL functions as the partner routes (payment/reconcile.c):
 *
 *   cds payments reconcile --from D --to D [--csv]
 *       per bank day and receiving account: received, matched, unmatched,
 *       refunds due, duplicate reports of a transfer (a table, or CSV)
 *   cds payments unmatched [--limit N]
 *       transfers that matched no payment, oldest first (JSON lines)
 *   cds payments resolve --tx ID --dossier CODE --actor WHO --reason WHY
 *       assign an unmatched transfer to a dossier's payment; audited
 *   cds payments refunded --payment UUID --actor WHO --reason WHY
 *       the money owed back on a payment was returned; audited
 *   cds payments payos-confirm-webhook [--url URL]
 *       registers our payOS webhook URL (default CDS_PAYOS_WEBHOOK_URL)
 *       with the payOS channel of CDS_PAYOS_CLIENT_ID (payOS calls it once)
 *
 * Blocking libpq is fine here: an operator command, not a loop thread. Exit
 * status 0 on success, 1 when the database refused (the reason printed), 2
 * for a usage error. */
#include "cli/cli.h"
#include "payment/payment.h"
#include "core/options.h"
#include "payment/payment.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *me = "cds payments";

static int reconcile(PGconn *c, const char *from, const char *to, int csv)
{
    const char *v[] = {from, to};
    PGresult *r = cds_cli_query(me, c, cds_payment_recon_sql, 2, v, 0);
    if (!r) return 1;
    if (csv) {
        size_t len = 0;
        char *out = cds_payment_reconciliation_csv(r, &len);
        PQclear(r);
        if (!out) return 1;
        fwrite(out, 1, len, stdout);
        free(out);
        return 0;
    }
    const char *const *cols = cds_payment_recon_cols;
    for (int k = 0; k < CDS_PAYMENT_RECON_NCOLS; k++) printf("%s%-14s", k ? " " : "", cols[k]);
    printf("\n");
    for (int i = 0; i < PQntuples(r); i++) {
        for (int k = 0; k < CDS_PAYMENT_RECON_NCOLS; k++)
            printf("%s%-14s", k ? " " : "", PQgetvalue(r, i, k));
        printf("\n");
    }
    PQclear(r);
    return 0;
}

static int unmatched(PGconn *c, const char *limit)
{
    const char *v[] = {limit};
    PGresult *r = cds_cli_query(me, c, cds_payment_unmatched_sql, 1, v, 0);
    if (!r) return 1;
    /* One JSON object a line, as before. */
    json_t *items = json_loads(PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "[]", 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        char *line = json_dumps(it, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (line) printf("%s\n", line);
        free(line);
    }
    json_decref(items);
    PQclear(r);
    return 0;
}

static int resolve(PGconn *c, const char *tx, const char *dossier, const char *actor,
                   const char *reason)
{
    const char *v[] = {tx, dossier, actor, reason};
    PGresult *r = cds_cli_query(me, c,
                        "SELECT status, COALESCE(payment_id::text, ''), COALESCE(payment_status, ''),"
                        " COALESCE(receipt_id::text, '') FROM cds_payment_resolve($1::bigint, $2, $3, $4)",
                        4, v, 1);
    if (!r) return 1;
    const char *st = PQgetvalue(r, 0, 0);
    int ok = strcmp(st, "resolved") == 0;
    if (ok)
        printf("resolved: transaction %s -> payment %s (%s)%s%s\n", tx, PQgetvalue(r, 0, 1),
               PQgetvalue(r, 0, 2), *PQgetvalue(r, 0, 3) ? ", receipt " : "", PQgetvalue(r, 0, 3));
    else
        fprintf(stderr, "%s: not resolved: %s\n", me, st);
    PQclear(r);
    return ok ? 0 : 1;
}

static int refunded(PGconn *c, const char *payment, const char *actor, const char *reason)
{
    const char *v[] = {payment, actor, reason};
    PGresult *r = cds_cli_query(me, c,
                        "SELECT status, COALESCE(refunded_vnd, 0) FROM cds_payment_refunded($1::uuid, $2, $3)",
                        3, v, 1);
    if (!r) return 1;
    const char *st = PQgetvalue(r, 0, 0);
    int ok = strcmp(st, "refunded") == 0;
    if (ok)
        printf("refunded: payment %s, %s VND\n", payment, PQgetvalue(r, 0, 1));
    else
        fprintf(stderr, "%s: not recorded: %s\n", me, st);
    PQclear(r);
    return ok ? 0 : 1;
}

static int payos_confirm(int argc, char **argv)
{
    cds_payment_config pc;
    cds_payment_config_defaults(&pc);
    const char *url = NULL;
    cds_opt opts[40];
    size_t n = cds_payment_options(&pc, opts, 39);
    opts[n++] = (cds_opt){"url", NULL, CDS_OPT_STR, &url, 0, 0,
                          "the webhook URL to register (default CDS_PAYOS_WEBHOOK_URL)"};
    char err[512], out[2048];
    int rc = cds_opts_parse(opts, n, argc, argv, 3, err, sizeof err);
    if (rc == 1) {
        cds_opts_help(stdout, "usage: cds payments payos-confirm-webhook [--url URL]", opts, n);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", me, err);
        return 2;
    }
    if (cds_payment_payos_confirm_webhook(&pc, url, out, sizeof out, err, sizeof err) != 0) {
        fprintf(stderr, "%s payos-confirm-webhook: %s\n", me, err);
        return 1;
    }
    printf("%s\n", out);
    return 0;
}

int cds_cmd_payments(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[2], "payos-confirm-webhook") == 0) return payos_confirm(argc, argv);
    const char *db = NULL, *from = NULL, *to = NULL, *tx = NULL, *dossier = NULL, *actor = NULL,
               *reason = NULL, *payment = NULL;
    int csv = 0, limit = 100;
    const cds_opt opts[] = {
        {"from", NULL, CDS_OPT_STR, &from, 0, 0, "reconcile: first bank day (YYYY-MM-DD)"},
        {"to", NULL, CDS_OPT_STR, &to, 0, 0, "reconcile: last bank day, inclusive"},
        {"csv", NULL, CDS_OPT_INT, &csv, 0, 1, "reconcile: 1 for CSV"},
        {"limit", NULL, CDS_OPT_INT, &limit, 1, 100000, "unmatched: at most this many"},
        {"tx", NULL, CDS_OPT_STR, &tx, 0, 0, "resolve: the bank transaction id"},
        {"dossier", NULL, CDS_OPT_STR, &dossier, 0, 0, "resolve: the dossier code"},
        {"payment", NULL, CDS_OPT_STR, &payment, 0, 0, "refunded: the payment id"},
        {"actor", NULL, CDS_OPT_STR, &actor, 0, 0, "resolve, refunded: who does it (audited)"},
        {"reason", NULL, CDS_OPT_STR, &reason, 0, 0, "resolve, refunded: why (audited)"},
        {"database-url", "CDS_DATABASE_URL", CDS_OPT_SECRET, &db, 0, 0, "PostgreSQL connection string"},
    };
    const size_t nopts = sizeof opts / sizeof opts[0];
    const char *usage =
        "usage: cds payments reconcile --from D --to D [--csv 1]\n"
        "       cds payments unmatched [--limit N]\n"
        "       cds payments resolve --tx ID --dossier CODE --actor WHO --reason WHY\n"
        "       cds payments refunded --payment UUID --actor WHO --reason WHY\n"
        "       cds payments payos-confirm-webhook [--url URL]";
    int rc = cds_cli_args(me, usage, opts, nopts, argc, argv);
    if (rc >= 0) return rc;
    const char *sub = argv[2];
    int is_rec = strcmp(sub, "reconcile") == 0, is_un = strcmp(sub, "unmatched") == 0;
    int is_res = strcmp(sub, "resolve") == 0, is_ref = strcmp(sub, "refunded") == 0;
    const char *missing = !db || !*db                             ? "--database-url (or CDS_DATABASE_URL)"
                          : is_rec && (!from || !to)              ? "--from and --to"
                          : is_res && (!tx || !dossier)           ? "--tx and --dossier"
                          : is_ref && !payment                    ? "--payment"
                          : (is_res || is_ref) && (!actor || !reason) ? "--actor and --reason"
                                                                  : NULL;
    if (!is_rec && !is_un && !is_res && !is_ref) {
        fprintf(stderr, "%s: unknown subcommand '%s' (reconcile, unmatched, resolve, refunded)\n",
                me, sub);
        return 2;
    }
    if (missing) {
        fprintf(stderr, "%s %s: %s required\n", me, sub, missing);
        return 2;
    }
    if (is_rec && strcmp(from, to) > 0) {
        fprintf(stderr, "%s reconcile: --from %s is after --to %s\n", me, from, to);
        return 2;
    }
    PGconn *c = cds_cli_connect(me, db);
    if (!c) {
        return 1;
    }
    char lim[24];
    snprintf(lim, sizeof lim, "%d", limit);
    rc = is_rec   ? reconcile(c, from, to, csv)
         : is_un  ? unmatched(c, lim)
         : is_res ? resolve(c, tx, dossier, actor, reason)
                  : refunded(c, payment, actor, reason);
    PQfinish(c);
    return rc;
}
