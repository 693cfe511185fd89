/* `cds receipt export|correct|series`: the operators' receipt commands that
 * work on the database (CDS_DATABASE_URL or --database-url), each one SQL
 * call, blocking (an operator command, not a server thread).
 *
 *   cds receipt export --from YYYY-MM-DD [--to YYYY-MM-DD] [--format jsonl|csv] --out FILE
 *       the daily export for the tax authority (receipts/export.h): every
 *       receipt issued on those days, then the totals per template, serial
 *       and fee. A bad date range writes nothing (exit 2). The file is
 *       written whole to FILE.tmp then renamed, so a failed export leaves no
 *       partial file.
 *   cds receipt correct --id UUID --kind replacement|adjustment --reason TEXT
 *                       --operator NAME [--payer-name T] [--fee-name T] [--amount VND]
 *       replaces or adjusts a receipt (cds_receipt_correct: a new receipt
 *       with a new number points to the old, which is marked; audited as
 *       "cli/NAME"). A receipt already corrected: exit 1, nothing changed.
 *       The running servers sign the new receipt. (The payer's address,
 *       sealed, is corrected through the partner route, which holds the
 *       data keys.)
 *   cds receipt series --agency CODE --year YYYY --template T --serial S
 *       sets an agency's mẫu số and ký hiệu for a year before its first
 *       receipt (a series that has issued numbers is never renamed). */
#include "cli/cli.h"
#include "core/options.h"
#include "receipts/export.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *me = "cds receipt";

static PGconn *open_db(const char *url)
{
    if (!url || !*url) {
        fprintf(stderr, "%s: set CDS_DATABASE_URL or --database-url\n", me);
        return NULL;
    }
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "%s: database: %s", me, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int cmd_export(const char *db, const char *from, const char *to, const char *format,
                      const char *out)
{
    const char *why = NULL;
    if (!to) to = from;
    if (cds_receipt_date_range(from, to, &why) != 0) {
        fprintf(stderr, "%s export: invalid date range: %s\n", me, why);
        return 2;
    }
    if (strcmp(format, "jsonl") != 0 && strcmp(format, "csv") != 0) {
        fprintf(stderr, "%s export: --format is jsonl or csv\n", me);
        return 2;
    }
    PGconn *c = open_db(db);
    if (!c) return 2;
    const char *p[] = {from, to};
    PGresult *res = PQexecParams(c, CDS_RECEIPT_EXPORT_SQL, 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s export: %s", me, PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(c);
        return 2;
    }
    size_t len = 0;
    char *text = cds_receipt_export_render(res, strcmp(format, "csv") == 0, &len);
    int receipts = 0;
    for (int i = 0; i < PQntuples(res); i++)
        receipts += strcmp(PQgetvalue(res, i, 0), "receipt") == 0;
    PQclear(res);
    PQfinish(c);
    if (!text) {
        fprintf(stderr, "%s export: out of memory\n", me);
        return 2;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    if (!ok || rename(tmp, out) != 0) {
        fprintf(stderr, "%s export: cannot write %s\n", me, out);
        remove(tmp);
        return 2;
    }
    printf("%s: %d receipts, %s..%s\n", out, receipts, from, to);
    return 0;
}

static int cmd_correct(const char *db, const char *id, const char *kind, const char *reason,
                       const char *op, const char *payer_name, const char *fee_name,
                       const char *amount)
{
    if (!id || !kind || !reason || !*reason || !op || !*op ||
        (strcmp(kind, "replacement") != 0 && strcmp(kind, "adjustment") != 0)) {
        fprintf(stderr,
                "%s correct: --id, --kind replacement|adjustment, --reason and --operator are "
                "required\n",
                me);
        return 2;
    }
    json_t *ch = json_object();
    if (payer_name) json_object_set_new(ch, "payer_name", json_string(payer_name));
    if (fee_name) json_object_set_new(ch, "fee_name", json_string(fee_name));
    if (amount) {
        char *end = NULL;
        long long a = strtoll(amount, &end, 10);
        if (!end || *end || a < (strcmp(kind, "adjustment") == 0 ? 0 : 1) || a > 999999999999LL) {
            fprintf(stderr, "%s correct: --amount is an integer VND amount\n", me);
            json_decref(ch);
            return 2;
        }
        json_object_set_new(ch, "amount_vnd", json_integer(a));
    }
    char *chs = json_dumps(ch, JSON_COMPACT);
    json_decref(ch);
    PGconn *c = open_db(db);
    if (!c) {
        free(chs);
        return 2;
    }
    char actor[256];
    snprintf(actor, sizeof actor, "cli/%s", op);
    const char *p[] = {id, kind, actor, reason, chs};
    PGresult *res = PQexecParams(
        c,
        "SELECT status, COALESCE(receipt_id::text, ''), COALESCE(replaced_by::text, '')"
        " FROM cds_receipt_correct($1::uuid, $2, $3, $4, $5::jsonb, NULL)",
        5, NULL, p, NULL, NULL, 0);
    free(chs);
    int rc = 2;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fprintf(stderr, "%s correct: %s", me, PQresultErrorMessage(res));
    } else if (strcmp(PQgetvalue(res, 0, 0), "created") == 0) {
        printf("%s\n", PQgetvalue(res, 0, 1));
        rc = 0;
    } else if (strcmp(PQgetvalue(res, 0, 0), "already_corrected") == 0) {
        fprintf(stderr, "%s correct: receipt %s was already corrected by %s: nothing changed\n", me,
                id, PQgetvalue(res, 0, 2));
        rc = 1;
    } else {
        fprintf(stderr, "%s correct: receipt %s not found\n", me, id);
        rc = 1;
    }
    PQclear(res);
    PQfinish(c);
    return rc;
}

static int cmd_series(const char *db, const char *agency, const char *year, const char *tmpl,
                      const char *serial)
{
    if (!agency || !year || !tmpl || !serial) {
        fprintf(stderr, "%s series: --agency, --year, --template and --serial are required\n", me);
        return 2;
    }
    PGconn *c = open_db(db);
    if (!c) return 2;
    const char *p[] = {agency, year, tmpl, serial};
    PGresult *res =
        PQexecParams(c,
                     "INSERT INTO receipt_series AS s (agency_code, year, template_no, serial)"
                     " VALUES ($1, $2::int, $3, $4) ON CONFLICT (agency_code, year) DO UPDATE"
                     " SET template_no = EXCLUDED.template_no, serial = EXCLUDED.serial"
                     " WHERE s.last_number = 0 RETURNING 1",
                     4, NULL, p, NULL, NULL, 0);
    int rc = 2;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fprintf(stderr, "%s series: %s", me, PQresultErrorMessage(res));
    else if (PQntuples(res) != 1)
        fprintf(stderr, "%s series: %s %s already issued receipts: its series stays\n", me, agency,
                year),
            rc = 1;
    else
        printf("%s %s: %s %s\n", agency, year, tmpl, serial), rc = 0;
    PQclear(res);
    PQfinish(c);
    return rc;
}

int cds_cmd_receipt_db(int argc, char **argv)
{
    const char *db = NULL, *from = NULL, *to = NULL, *format = "jsonl", *out = NULL;
    const char *id = NULL, *kind = NULL, *reason = NULL, *op = NULL, *payer_name = NULL;
    const char *fee_name = NULL, *amount = NULL, *agency = NULL, *year = NULL, *tmpl = NULL;
    const char *serial = NULL;
    /* clang-format off */
    const cds_opt opts[] = {
        {"database-url", "CDS_DATABASE_URL", CDS_OPT_SECRET, &db, 0, 0, "PostgreSQL connection string"},
        {"from", NULL, CDS_OPT_STR, &from, 0, 0, "first day YYYY-MM-DD (export)"},
        {"to", NULL, CDS_OPT_STR, &to, 0, 0, "last day YYYY-MM-DD, at most 31 days on (export)"},
        {"format", NULL, CDS_OPT_STR, &format, 0, 0, "jsonl or csv (export)"},
        {"out", NULL, CDS_OPT_STR, &out, 0, 0, "output file (export)"},
        {"id", NULL, CDS_OPT_STR, &id, 0, 0, "receipt id (correct)"},
        {"kind", NULL, CDS_OPT_STR, &kind, 0, 0, "replacement or adjustment (correct)"},
        {"reason", NULL, CDS_OPT_STR, &reason, 0, 0, "why, for the audit log (correct)"},
        {"operator", NULL, CDS_OPT_STR, &op, 0, 0, "who, for the audit log (correct)"},
        {"payer-name", NULL, CDS_OPT_STR, &payer_name, 0, 0, "corrected payer name (correct)"},
        {"fee-name", NULL, CDS_OPT_STR, &fee_name, 0, 0, "corrected fee name (correct)"},
        {"amount", NULL, CDS_OPT_STR, &amount, 0, 0, "corrected amount in VND (correct)"},
        {"agency", NULL, CDS_OPT_STR, &agency, 0, 0, "agency code (series)"},
        {"year", NULL, CDS_OPT_STR, &year, 0, 0, "year (series)"},
        {"template", NULL, CDS_OPT_STR, &tmpl, 0, 0, "mẫu số (series)"},
        {"serial", NULL, CDS_OPT_STR, &serial, 0, 0, "ký hiệu (series)"},
    };
    /* clang-format on */
    const size_t nopts = sizeof opts / sizeof opts[0];
    const char *usage =
        "usage: cds receipt export --from DAY [--to DAY] [--format jsonl|csv] --out FILE\n"
        "       cds receipt correct --id UUID --kind replacement|adjustment --reason TEXT "
        "--operator NAME\n"
        "                           [--payer-name T] [--fee-name T] [--amount VND]\n"
        "       cds receipt series --agency CODE --year YYYY --template T --serial S";
    char err[256];
    int rc = cds_opts_parse(opts, nopts, argc, argv, 3, err, sizeof err);
    if (rc == 1) {
        cds_opts_help(stdout, usage, opts, nopts);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", me, err);
        return 2;
    }
    const char *sub = argv[2];
    if (strcmp(sub, "export") == 0) {
        if (!from || !out) {
            fprintf(stderr, "%s export: --from and --out are required\n", me);
            return 2;
        }
        return cmd_export(db, from, to, format, out);
    }
    if (strcmp(sub, "correct") == 0)
        return cmd_correct(db, id, kind, reason, op, payer_name, fee_name, amount);
    return cmd_series(db, agency, year, tmpl, serial);
}
