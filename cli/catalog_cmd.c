/* `cds catalog load`: loads the procedure catalog (agencies and procedures)
 * and the public holidays from the seed files into the database, so a fresh
 * installation has something to file against and due dates skip Tết.
 *
 *   cds catalog load [--file db/seed/catalog.json] [--holidays db/seed/holidays.json]
 *                    [--accounts db/seed/payment_accounts.json]
 *                    [--database-url URL]   (or CDS_DATABASE_URL)
 *
 * The accounts file holds each agency's receiving bank account for fees
 * (payment/accounts.c checks and writes it). An agency may name the carrier
 * that delivers its results by post ("carrier": "vnpost" | "ghn") and its
 * own account there ("carrier_account": GHN's ShopId of its pickup shop);
 * absent, the server's CDS_DELIVERY_CARRIER and default account apply.
 *
 * Both files are read and checked completely before the database is touched,
 * and an error names the entry ("procedures[12] (1.009994): ..."). Then
 * everything is written in ONE transaction: agencies by INSERT ... ON
 * CONFLICT DO UPDATE (only when something differs), procedures through
 * cds_procedure_upsert() (the same function the TTHC system's updates go
 * through, which bumps a procedure's version only when it changed), holidays
 * like agencies. A second run with the same files therefore changes nothing
 * and reports "0 changed". Procedures absent from the file are left alone:
 * the TTHC system may have added them. An empty path (--holidays "") skips
 * that file. Blocking libpq is fine here: this is an operator command, not an
 * event-loop thread. */
#include "cli/cli.h"
#include "core/options.h"
#include "delivery/delivery.h"
#include "dossiers/dossiers.h"
#include "payment/payment.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* dossiers/catalog.c: the shape check shared with PUT /v1/partner/procedures. */

#define FILE_MAX (16L * 1024 * 1024) /* a seed file larger than this is a mistake */
#define ENTRIES_MAX 100000

static const char *me = "cds catalog";

static json_t *load(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s: %s: no such file (paths are relative to the current directory)\n", me,
                path);
        return NULL;
    }
    if (st.st_size > FILE_MAX) {
        fprintf(stderr, "%s: %s: larger than %ld bytes\n", me, path, FILE_MAX);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if (!j) fprintf(stderr, "%s: %s:%d:%d: %s\n", me, path, e.line, e.column, e.text);
    return j;
}

static int text_ok(const json_t *v, size_t max_bytes, int nullable)
{
    if (nullable && json_is_null(v)) return 1;
    const char *s = json_string_value(v);
    if (!s || !*s || json_string_length(v) != strlen(s) || strlen(s) > max_bytes) return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
    return 1;
}

/* Vietnamese tax codes: 10 digits, or 10 + "-" + 3 for a branch. */
static int tax_code_ok(const json_t *v)
{
    if (!v || json_is_null(v)) return 1;
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    if (n != 10 && n != 14) return 0;
    for (size_t i = 0; i < n; i++)
        if (i == 10 ? s[i] != '-' : !(s[i] >= '0' && s[i] <= '9')) return 0;
    return 1;
}

/* The string `key` of the j-th object of an array (NULL when absent). */
static const char *key_at(const json_t *arr, size_t j, const char *key)
{
    return json_string_value(json_object_get(json_array_get(arr, j), key));
}

static int only_keys(const json_t *o, const char *const *keys, size_t n, const char **bad)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        size_t i = 0;
        while (i < n && strcmp(k, keys[i]) != 0)
            i++;
        if (i == n) {
            *bad = k;
            return 0;
        }
    }
    return 1;
}

static int carrier_ok(const json_t *v)
{
    return !v || json_is_null(v) || cds_delivery_carrier_known(json_string_value(v));
}

static int account_ok(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    if (!v || json_is_null(v)) return 1;
    if (n < 1 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

static int check_catalog(const json_t *root, const char *path)
{
    static const char *const top[] = {"agencies", "procedures"};
    static const char *const akeys[] = {"code",    "name",          "tax_code",
                                        "address", "carrier", "carrier_account"};
    const char *bad = NULL;
    const json_t *ag = json_object_get(root, "agencies"), *pr = json_object_get(root, "procedures");
    if (!json_is_object(root) || !only_keys(root, top, 2, &bad) || !json_is_array(ag) ||
        !json_is_array(pr) || json_array_size(ag) > ENTRIES_MAX ||
        json_array_size(pr) > ENTRIES_MAX) {
        fprintf(stderr, "%s: %s: expected {\"agencies\":[...], \"procedures\":[...]}%s%s\n", me,
                path, bad ? "; unknown key " : "", bad ? bad : "");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(ag); i++) {
        const json_t *a = json_array_get(ag, i);
        const char *code = json_string_value(json_object_get(a, "code"));
        const char *why = NULL;
        if (!json_is_object(a))
            why = "not an object";
        else if (!only_keys(a, akeys, 6, &bad))
            why = "unknown key (allowed: code, name, tax_code, address, carrier, carrier_account)";
        else if (!cds_catalog_agency_code_ok(code))
            why = "'code' must match [0-9A-Z.]{2,32}";
        else if (!text_ok(json_object_get(a, "name"), 300, 0))
            why = "'name' must be one line of 1..300 bytes";
        else if (!tax_code_ok(json_object_get(a, "tax_code")))
            why = "'tax_code' must be null or 10 digits (+ \"-\" and 3 for a branch)";
        else if (json_object_get(a, "address") && !text_ok(json_object_get(a, "address"), 500, 1))
            why = "'address' must be null or one line of 1..500 bytes";
        else if (!carrier_ok(json_object_get(a, "carrier")))
            why = "'carrier' must be null or a carrier this build knows (vnpost, ghn)";
        else if (!account_ok(json_object_get(a, "carrier_account")))
            why = "'carrier_account' must be null or 1..64 of [0-9A-Za-z_.-]";
        for (size_t j = 0; !why && j < i; j++)
            if (strcmp(code, key_at(ag, j, "code")) == 0) why = "code listed twice";
        if (why) {
            fprintf(stderr, "%s: %s: agencies[%zu] (%s): %s\n", me, path, i, code ? code : "?",
                    why);
            return -1;
        }
    }
    for (size_t i = 0; i < json_array_size(pr); i++) {
        const json_t *p = json_array_get(pr, i);
        const char *code = json_string_value(json_object_get(p, "code"));
        char err[300];
        if (cds_catalog_procedure_check(p, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s: procedures[%zu] (%s): %s\n", me, path, i,
                    code && strlen(code) <= 32 ? code : "?", err);
            return -1;
        }
        if (!code) {
            fprintf(stderr, "%s: %s: procedures[%zu]: 'code' is required\n", me, path, i);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(code, key_at(pr, j, "code")) == 0) {
                fprintf(stderr, "%s: %s: procedures[%zu] (%s): code listed twice\n", me, path, i,
                        code);
                return -1;
            }
    }
    return 0;
}

static int date_ok(const char *s)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !(s[i] >= '0' && s[i] <= '9')) return 0;
    int y = (int)strtol(s, NULL, 10), m = (s[5] - '0') * 10 + (s[6] - '0'),
        d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return y >= 2000 && y <= 2100 && m >= 1 && m <= 12 && d >= 1 &&
           d <= dim[m - 1] + (m == 2 && leap);
}

static int check_holidays(const json_t *h, const char *path)
{
    static const char *const keys[] = {"day", "name"};
    if (!json_is_array(h) || json_array_size(h) > ENTRIES_MAX) {
        fprintf(stderr, "%s: %s: expected [{\"day\":\"YYYY-MM-DD\",\"name\":\"...\"}, ...]\n", me,
                path);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(h); i++) {
        const json_t *e = json_array_get(h, i);
        const char *day = json_string_value(json_object_get(e, "day")), *bad = NULL, *why = NULL;
        if (!json_is_object(e) || !only_keys(e, keys, 2, &bad))
            why = "must be {\"day\", \"name\"}";
        else if (!date_ok(day))
            why = "'day' must be a real date YYYY-MM-DD (2000..2100)";
        else if (!text_ok(json_object_get(e, "name"), 300, 0))
            why = "'name' must be one line of 1..300 bytes";
        for (size_t j = 0; !why && j < i; j++)
            if (strcmp(day, key_at(h, j, "day")) == 0) why = "day listed twice";
        if (why) {
            fprintf(stderr, "%s: %s: holidays[%zu] (%s): %s\n", me, path, i,
                    day && strlen(day) <= 10 ? day : "?", why);
            return -1;
        }
    }
    return 0;
}

/* Runs one statement; 0 and the result in *out (caller clears), or -1 after
 * printing the error with `what` naming the entry. */
static int run(PGconn *c, const char *sql, int n, const char *const *v, const char *what,
               PGresult **out)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        *out = r;
        return 0;
    }
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *hint = "";
    if (state && strcmp(state, "23503") == 0)
        hint = " (the agency_code is neither in the file nor in the database)";
    else if (state && (strcmp(state, "42P01") == 0 || strcmp(state, "42883") == 0))
        hint = " (is the database migrated? run `cds migrate` first)";
    fprintf(stderr, "%s: %s: %s%s\n", me, what, PQresultErrorMessage(r), hint);
    PQclear(r);
    return -1;
}

static const char AGENCY_SQL[] =
    "INSERT INTO agencies AS a (code, name, tax_code, address, carrier, carrier_account) "
    "VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, tax_code = EXCLUDED.tax_code, "
    "address = EXCLUDED.address, carrier = EXCLUDED.carrier, "
    "carrier_account = EXCLUDED.carrier_account "
    "WHERE (a.name, a.tax_code, a.address, a.carrier, a.carrier_account) IS DISTINCT FROM "
    "(EXCLUDED.name, EXCLUDED.tax_code, EXCLUDED.address, EXCLUDED.carrier, "
    "EXCLUDED.carrier_account)";
static const char PROCEDURE_SQL[] = "SELECT cds_procedure_upsert($1::jsonb)";
static const char HOLIDAY_SQL[] = "INSERT INTO holidays AS h (day, name) VALUES ($1::date, $2) "
                                  "ON CONFLICT (day) DO UPDATE SET name = EXCLUDED.name WHERE "
                                  "h.name IS DISTINCT FROM EXCLUDED.name";

typedef struct counts {
    long agencies, procedures, changed, holidays, accounts;
} counts;

static int write_all(PGconn *c, const json_t *cat, const json_t *hol, const json_t *acc, counts *n)
{
    PGresult *r;
    char what[128];
    const json_t *ag = json_object_get(cat, "agencies"), *pr = json_object_get(cat, "procedures");
    for (size_t i = 0; i < json_array_size(ag); i++) {
        const json_t *a = json_array_get(ag, i);
        const char *v[] = {json_string_value(json_object_get(a, "code")),
                           json_string_value(json_object_get(a, "name")),
                           json_string_value(json_object_get(a, "tax_code")),
                           json_string_value(json_object_get(a, "address")),
                           json_string_value(json_object_get(a, "carrier")),
                           json_string_value(json_object_get(a, "carrier_account"))};
        snprintf(what, sizeof what, "agencies[%zu] (%s)", i, v[0]);
        if (run(c, AGENCY_SQL, 6, v, what, &r) != 0) return -1;
        PQclear(r);
        n->agencies++;
    }
    for (size_t i = 0; i < json_array_size(pr); i++) {
        const json_t *p = json_array_get(pr, i);
        char *body = json_dumps(p, JSON_COMPACT);
        const char *v[] = {body};
        snprintf(what, sizeof what, "procedures[%zu] (%s)", i,
                 json_string_value(json_object_get(p, "code")));
        int rc = body ? run(c, PROCEDURE_SQL, 1, v, what, &r) : -1;
        free(body);
        if (rc != 0) return -1;
        if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "changed") == 0) n->changed++;
        PQclear(r);
        n->procedures++;
    }
    for (size_t i = 0; i < json_array_size(hol); i++) {
        const json_t *h = json_array_get(hol, i);
        const char *v[] = {json_string_value(json_object_get(h, "day")),
                           json_string_value(json_object_get(h, "name"))};
        snprintf(what, sizeof what, "holidays[%zu] (%s)", i, v[0]);
        if (run(c, HOLIDAY_SQL, 2, v, what, &r) != 0) return -1;
        PQclear(r);
        n->holidays++;
    }
    if (acc) {
        char err[512];
        n->accounts = cds_payment_accounts_write(c, acc, err, sizeof err);
        if (n->accounts < 0) {
            fprintf(stderr, "%s: %s\n", me, err);
            return -1;
        }
    }
    return 0;
}

static int load_cmd(const char *file, const char *holidays, const char *accounts, const char *db)
{
    json_t *cat = NULL, *hol = NULL, *acc = NULL;
    int rc = 1;
    PGconn *c = NULL;
    PGresult *r;
    counts n = {0, 0, 0, 0, 0};
    char err[512];
    if (*file && (!(cat = load(file)) || check_catalog(cat, file) != 0)) goto out;
    if (*holidays && (!(hol = load(holidays)) || check_holidays(hol, holidays) != 0)) goto out;
    if (*accounts && !(acc = load(accounts))) goto out;
    if (acc && cds_payment_accounts_check(acc, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s: %s\n", me, accounts, err);
        goto out;
    }
    c = PQconnectdb(db);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "%s: cannot connect: %s", me, PQerrorMessage(c));
        goto out;
    }
    if (run(c, "BEGIN", 0, NULL, "begin", &r) != 0) goto out;
    PQclear(r);
    if (write_all(c, cat, hol, acc, &n) != 0) {
        PQclear(PQexec(c, "ROLLBACK"));
        fprintf(stderr, "%s: nothing was written\n", me);
        goto out;
    }
    if (run(c, "COMMIT", 0, NULL, "commit", &r) != 0) goto out;
    PQclear(r);
    printf("catalog: %ld agencies, %ld procedures (%ld changed), %ld holidays, "
           "%ld payment accounts changed\n",
           n.agencies, n.procedures, n.changed, n.holidays, n.accounts);
    rc = 0;
out:
    if (c) PQfinish(c);
    json_decref(cat);
    json_decref(hol);
    json_decref(acc);
    return rc;
}

int cds_cmd_catalog(int argc, char **argv)
{
    const char *file = "db/seed/catalog.json", *holidays = "db/seed/holidays.json", *db = NULL;
    const char *accounts = "db/seed/payment_accounts.json";
    const cds_opt opts[] = {
        {"file", NULL, CDS_OPT_STR, &file, 0, 0,
         "catalog JSON (agencies, procedures); \"\" to skip"},
        {"holidays", NULL, CDS_OPT_STR, &holidays, 0, 0, "public holidays JSON; \"\" to skip"},
        {"accounts", NULL, CDS_OPT_STR, &accounts, 0, 0,
         "agencies' receiving bank accounts JSON; \"\" to skip"},
        {"database-url", "CDS_DATABASE_URL", CDS_OPT_SECRET, &db, 0, 0,
         "PostgreSQL connection string"},
    };
    const size_t nopts = sizeof opts / sizeof opts[0];
    const char *usage = "usage: cds catalog load [options]\n\n"
                        "Loads agencies, procedures, public holidays and the agencies' payment accounts in one transaction; "
                        "running it again changes nothing.";
    if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
        cds_opts_help(argc < 3 ? stderr : stdout, usage, opts, nopts);
        return argc < 3 ? 2 : 0;
    }
    if (strcmp(argv[2], "load") != 0) {
        fprintf(stderr, "%s: unknown subcommand '%s' (only: load)\n", me, argv[2]);
        return 2;
    }
    char err[512];
    int rc = cds_opts_parse(opts, nopts, argc, argv, 3, err, sizeof err);
    if (rc == 1) {
        cds_opts_help(stdout, usage, opts, nopts);
        return 0;
    }
    if (rc < 0 || !db || !*db) {
        fprintf(stderr, "%s: %s\n", me,
                rc < 0 ? err : "no database: set CDS_DATABASE_URL or --database-url");
        return 2;
    }
    return load_cmd(file, holidays, accounts, db);
}
