/* The repeatable SQL function files of db/functions/ (the order of a run and
 * why it is so: the comment atop core/migrate.c).
 *
 * Applying them: in one transaction, every file in the given order, then the
 * stray functions dropped, then schema_functions rewritten with each file's
 * checksum. A function "defined by the files" is one whose pg_proc row this
 * transaction wrote: CREATE OR REPLACE rewrites the row (new xmin) even when
 * nothing in it changed, so a function whose row is the same before and
 * after running every file is one that no file defines any more (renamed,
 * removed, or an old overload after a change of arguments). Those are
 * dropped when named cds_* (the project's prefix: nothing else in the
 * database is touched) and not part of an extension. A stray that something
 * still uses (a trigger, an index) makes the drop fail and the whole
 * transaction roll back, naming it. */
#include "core/migrate_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The cds_* functions outside the system schemas, not from an extension. */
#define OUR_FUNCTIONS                                                                              \
    "FROM pg_proc p WHERE p.proname LIKE 'cds\\_%' "                                               \
    "AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) " \
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass "             \
    "AND d.objid = p.oid AND d.deptype = 'e')"

typedef struct fn_record {
    char name[MIGRATE_NAME_MAX];
    char checksum[65];
    char applied_at[64];
    bool matched;
} fn_record;

static int ensure_table(PGconn *c, char *err, size_t errcap)
{
    return cds_mig_run(c,
                       "CREATE TABLE IF NOT EXISTS schema_functions ("
                       " name text PRIMARY KEY,"
                       " checksum text NOT NULL,"
                       " applied_at timestamptz NOT NULL DEFAULT now())",
                       err, errcap);
}

/* schema_functions into a malloc'ed array; none if the table is missing. */
static int read_records(PGconn *c, fn_record **out, size_t *n, char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    PGresult *r = PQexec(c, "SELECT to_regclass('schema_functions') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cds_mig_err(err, errcap, "cannot read schema_functions: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    bool exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!exists) return 0;
    r = PQexec(c, "SELECT name, checksum, applied_at FROM schema_functions ORDER BY name");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cds_mig_err(err, errcap, "cannot read schema_functions: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rows = PQntuples(r);
    if (rows > 0) {
        fn_record *v = calloc((size_t)rows, sizeof *v);
        if (!v) {
            PQclear(r);
            cds_mig_err(err, errcap, "out of memory");
            return -1;
        }
        for (int i = 0; i < rows; i++) {
            snprintf(v[i].name, sizeof v[i].name, "%s", PQgetvalue(r, i, 0));
            snprintf(v[i].checksum, sizeof v[i].checksum, "%s", PQgetvalue(r, i, 1));
            snprintf(v[i].applied_at, sizeof v[i].applied_at, "%s", PQgetvalue(r, i, 2));
        }
        *out = v;
        *n = (size_t)rows;
    }
    PQclear(r);
    return 0;
}

static fn_record *find_record(fn_record *rec, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rec[i].name, name) == 0) return &rec[i];
    return NULL;
}

static void rollback(PGconn *c)
{
    char ignore[256];
    cds_mig_run(c, "ROLLBACK", ignore, sizeof ignore);
}

int cds_mig_functions_pre(PGconn *c, const mig_file *f, size_t n, char *err, size_t errcap)
{
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any = any || f[i].pre_len > 0;
    if (!any) return 0;
    /* Bodies unchecked, as pg_dump restores them: a body may name tables
     * the pending migrations have yet to create. */
    if (cds_mig_run(c, "BEGIN", err, errcap)) return -1;
    if (cds_mig_run(c, "SET LOCAL check_function_bodies = off", err, errcap)) {
        rollback(c);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (f[i].pre_len == 0) continue;
        char *part = malloc(f[i].pre_len + 1);
        if (!part) {
            cds_mig_err(err, errcap, "out of memory");
            rollback(c);
            return -1;
        }
        memcpy(part, f[i].data, f[i].pre_len);
        part[f[i].pre_len] = '\0';
        char what[MIGRATE_NAME_MAX + 64];
        snprintf(what, sizeof what, "function file %s (above " MIGRATE_FN_MARKER ")", f[i].name);
        int rc = cds_mig_exec_file(c, what, part, f[i].pre_len, err, errcap);
        free(part);
        if (rc) {
            rollback(c);
            return -1;
        }
    }
    return cds_mig_run(c, "COMMIT", err, errcap);
}

/* Drops the functions that running every file did not write, in one
 * statement so that strays using each other go together. */
static int drop_strays(PGconn *c, char *err, size_t errcap)
{
    PGresult *r = PQexec(c, "SELECT p.oid::regprocedure::text " OUR_FUNCTIONS
                            " AND EXISTS (SELECT 1 FROM cds_fn_before b"
                            "             WHERE b.oid = p.oid AND b.x = p.xmin::text)"
                            " ORDER BY 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cds_mig_err(err, errcap, "cannot list stray functions: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        return 0;
    }
    /* regprocedure's text is quoted and qualified as needed. */
    size_t cap = strlen("DROP ROUTINE ") + 1;
    for (int i = 0; i < n; i++)
        cap += (size_t)PQgetlength(r, i, 0) + 2;
    char *sql = malloc(cap);
    if (!sql) {
        PQclear(r);
        cds_mig_err(err, errcap, "out of memory");
        return -1;
    }
    size_t len = 0;
    len += (size_t)snprintf(sql, cap, "DROP ROUTINE ");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(sql + len, cap - len, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
    char why[512];
    int rc = cds_mig_run(c, sql, why, sizeof why);
    if (rc) {
        cds_mig_err(err, errcap,
                    "no file of db/functions/ defines %s%s any more, and it cannot be dropped: "
                    "%s; rolled back",
                    PQgetvalue(r, 0, 0), n > 1 ? " (among others)" : "", why);
    } else {
        for (int i = 0; i < n; i++)
            fprintf(stderr, "cds migrate: dropped %s (no function file defines it)\n",
                    PQgetvalue(r, i, 0));
    }
    free(sql);
    PQclear(r);
    return rc;
}

static int record(PGconn *c, const mig_file *f, size_t n, char *err, size_t errcap)
{
    if (cds_mig_run(c, "DELETE FROM schema_functions", err, errcap)) return -1;
    for (size_t i = 0; i < n; i++) {
        const char *params[2] = {f[i].name, f[i].checksum};
        PGresult *r = PQexecParams(c,
                                   "INSERT INTO schema_functions (name, checksum) "
                                   "VALUES ($1, $2)",
                                   2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            cds_mig_err(err, errcap, "function file %s: cannot record it: %s", f[i].name,
                        PQresultErrorMessage(r));
            PQclear(r);
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

int cds_mig_functions_apply(PGconn *c, const mig_file *f, size_t n, bool force, char *err,
                            size_t errcap)
{
    if (ensure_table(c, err, errcap)) return -1;
    fn_record *rec = NULL;
    size_t nrec = 0;
    if (read_records(c, &rec, &nrec, err, errcap)) return -1;
    /* Anything to do: a file new or changed, or a recorded file gone (its
     * functions are strays now). */
    bool changed = force || nrec != n;
    for (size_t i = 0; i < n && !changed; i++) {
        fn_record *r = find_record(rec, nrec, f[i].name);
        changed = !r || strcmp(r->checksum, f[i].checksum) != 0;
    }
    free(rec);
    if (!changed) return 0;

    if (cds_mig_run(c, "BEGIN", err, errcap)) return -1;
    if (cds_mig_run(c,
                    "CREATE TEMP TABLE cds_fn_before ON COMMIT DROP AS "
                    "SELECT p.oid, p.xmin::text AS x " OUR_FUNCTIONS,
                    err, errcap)) {
        rollback(c);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char what[MIGRATE_NAME_MAX + 32];
        snprintf(what, sizeof what, "function file %s", f[i].name);
        if (cds_mig_exec_file(c, what, f[i].data, f[i].len, err, errcap)) {
            rollback(c);
            return -1;
        }
        if (PQtransactionStatus(c) != PQTRANS_INTRANS) {
            cds_mig_err(err, errcap,
                        "function file %s ends the transaction itself (BEGIN/COMMIT/ROLLBACK "
                        "inside it); check the functions by hand",
                        f[i].name);
            rollback(c);
            return -1;
        }
    }
    if (drop_strays(c, err, errcap) || record(c, f, n, err, errcap)) {
        rollback(c);
        return -1;
    }
    if (cds_mig_run(c, "COMMIT", err, errcap)) return -1;
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "cds migrate: applied functions %s\n", f[i].name);
    return 0;
}

int cds_mig_functions_status(PGconn *c, const mig_file *f, size_t n, FILE *out, char *err,
                             size_t errcap)
{
    fn_record *rec = NULL;
    size_t nrec = 0;
    if (read_records(c, &rec, &nrec, err, errcap)) return -1;
    size_t applied = 0, pending = 0, changed = 0, unknown = 0;
    for (size_t i = 0; i < n; i++) {
        fn_record *r = find_record(rec, nrec, f[i].name);
        if (!r) {
            fprintf(out, "pending  functions/%s\n", f[i].name);
            pending++;
            continue;
        }
        r->matched = true;
        if (strcmp(r->checksum, f[i].checksum) != 0) {
            fprintf(out, "CHANGED  functions/%s  applied %s, file changed since: the next run "
                         "applies it\n",
                    f[i].name, r->applied_at);
            changed++;
        } else {
            fprintf(out, "applied  functions/%s  %s\n", f[i].name, r->applied_at);
            applied++;
        }
    }
    for (size_t i = 0; i < nrec; i++) {
        if (rec[i].matched) continue;
        fprintf(out, "unknown  functions/%s  applied %s, not in this binary\n", rec[i].name,
                rec[i].applied_at);
        unknown++;
    }
    fprintf(out, "functions: %zu applied, %zu pending, %zu changed, %zu unknown\n", applied,
            pending, changed, unknown);
    free(rec);
    return 0;
}
