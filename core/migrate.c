/* Versioned migrations (see core/migrate.h).
 *
 * How it works: the migration files are collected (from the embedded assets
 * under db/migrations/, or a list given by a test), parsed as NNNN_name.sql,
 * sorted by version and checksummed (SHA-256 of the exact bytes). Then, on one
 * blocking libpq session:
 *
 *   1. pg_advisory_lock(fixed key): a second process migrating at the same
 *      time waits here, then finds everything applied;
 *   2. CREATE TABLE IF NOT EXISTS schema_migrations (under the lock, because
 *      two concurrent IF NOT EXISTS creations can still collide);
 *   3. every recorded checksum is compared with the file's before anything
 *      runs, so a changed migration stops the whole run with nothing applied;
 *   4. each pending migration runs as BEGIN; <file>; INSERT its row; COMMIT,
 *      so a migration is either entirely applied and recorded or not at all.
 *
 * The lock is a session lock, released explicitly and in any case when the
 * session ends (a crashed migrator cannot leave it held). */
#include "core/migrate.h"

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "cds_migr" in ASCII: an arbitrary key shared by every cds process. */
#define MIGRATE_LOCK_KEY "7161976161120642930"
#define MIGRATIONS_PREFIX "db/migrations/"
#define MIGRATE_NAME_MAX 128

typedef struct mig {
    int version;
    const char *name; /* last path component, e.g. "0001_core.sql" */
    const char *data;
    size_t len;
    char checksum[65];
} mig;

typedef struct recorded {
    int version;
    char name[MIGRATE_NAME_MAX];
    char checksum[65];
    char applied_at[64];
    bool matched; /* a file with this version exists */
} recorded;

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t cap, const char *fmt,
                                                          ...)
{
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    /* One line: libpq messages end with a newline and may contain more. */
    size_t len = 0;
    for (size_t i = 0; err[i]; i++) {
        char c = err[i] == '\n' || err[i] == '\r' || err[i] == '\t' ? ' ' : err[i];
        if (c == ' ' && (len == 0 || err[len - 1] == ' ')) continue;
        err[len++] = c;
    }
    while (len > 0 && err[len - 1] == ' ')
        len--;
    err[len] = '\0';
}

static int sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) return -1;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* "dir/0001_core.sql" -> version 1, name "0001_core.sql". */
static int parse_name(const char *path, int *version, const char **name)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t len = strlen(base);
    size_t digits = 0;
    while (base[digits] >= '0' && base[digits] <= '9')
        digits++;
    if (digits == 0 || digits > 9 || base[digits] != '_' || len >= MIGRATE_NAME_MAX ||
        len < digits + 1 + 4 || strcmp(base + len - 4, ".sql") != 0)
        return -1;
    char *end = NULL;
    long v = strtol(base, &end, 10);
    if (end != base + digits || v <= 0) return -1;
    *version = (int)v;
    *name = base;
    return 0;
}

static int mig_cmp(const void *a, const void *b)
{
    const mig *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* Builds the sorted, checksummed list. *out is malloc'ed (may be NULL if n is 0). */
static int collect(const cds_asset *list, size_t n, mig **out, size_t *nout, char *err,
                   size_t errcap)
{
    *out = NULL;
    *nout = 0;
    if (n == 0) return 0;
    mig *m = calloc(n, sizeof *m);
    if (!m) {
        set_err(err, errcap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!list[i].path || !list[i].data || parse_name(list[i].path, &m[i].version, &m[i].name)) {
            set_err(err, errcap, "migration file name \"%s\" is not NNNN_name.sql",
                    list[i].path ? list[i].path : "(null)");
            free(m);
            return -1;
        }
        m[i].data = list[i].data;
        m[i].len = list[i].len;
        if (sha256_hex(m[i].data, m[i].len, m[i].checksum)) {
            set_err(err, errcap, "cannot compute SHA-256 of %s", m[i].name);
            free(m);
            return -1;
        }
    }
    qsort(m, n, sizeof *m, mig_cmp);
    for (size_t i = 1; i < n; i++) {
        if (m[i].version == m[i - 1].version) {
            set_err(err, errcap, "migrations %s and %s have the same version", m[i - 1].name,
                    m[i].name);
            free(m);
            return -1;
        }
    }
    *out = m;
    *nout = n;
    return 0;
}

/* The embedded migrations, in a malloc'ed array of assets. */
static int embedded(cds_asset **out, size_t *n)
{
    size_t count = 0, pl = strlen(MIGRATIONS_PREFIX);
    for (const cds_asset *a = cds_assets; a->path; a++)
        if (strncmp(a->path, MIGRATIONS_PREFIX, pl) == 0) count++;
    *out = NULL;
    *n = 0;
    if (count == 0) return 0;
    cds_asset *v = calloc(count, sizeof *v);
    if (!v) return -1;
    size_t k = 0;
    for (const cds_asset *a = cds_assets; a->path; a++)
        if (strncmp(a->path, MIGRATIONS_PREFIX, pl) == 0) v[k++] = *a;
    *out = v;
    *n = count;
    return 0;
}

static PGconn *connect_db(const char *conninfo, char *err, size_t errcap)
{
    PGconn *c = PQconnectdb(conninfo);
    if (!c) {
        set_err(err, errcap, "cannot connect to the database: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        /* libpq's message names host and user, never the password. */
        set_err(err, errcap, "cannot connect to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Runs a statement that must succeed; fills err on failure. */
static int run(PGconn *c, const char *sql, char *err, size_t errcap)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc) set_err(err, errcap, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

/* Reads schema_migrations into a malloc'ed array. *n = 0 and 0 returned
 * if the table does not exist and `may_be_missing`. */
static int read_recorded(PGconn *c, bool may_be_missing, recorded **out, size_t *n, char *err,
                         size_t errcap)
{
    *out = NULL;
    *n = 0;
    if (may_be_missing) {
        PGresult *r = PQexec(c, "SELECT to_regclass('schema_migrations') IS NOT NULL");
        bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                      strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            set_err(err, errcap, "cannot read schema_migrations: %s", PQresultErrorMessage(r));
            PQclear(r);
            return -1;
        }
        PQclear(r);
        if (!exists) return 0;
    }
    PGresult *r = PQexec(c, "SELECT version, name, checksum, applied_at FROM schema_migrations "
                            "ORDER BY version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(err, errcap, "cannot read schema_migrations: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rows = PQntuples(r);
    if (rows > 0) {
        recorded *v = calloc((size_t)rows, sizeof *v);
        if (!v) {
            PQclear(r);
            set_err(err, errcap, "out of memory");
            return -1;
        }
        for (int i = 0; i < rows; i++) {
            v[i].version = (int)strtol(PQgetvalue(r, i, 0), NULL, 10);
            snprintf(v[i].name, sizeof v[i].name, "%s", PQgetvalue(r, i, 1));
            snprintf(v[i].checksum, sizeof v[i].checksum, "%s", PQgetvalue(r, i, 2));
            snprintf(v[i].applied_at, sizeof v[i].applied_at, "%s", PQgetvalue(r, i, 3));
        }
        *out = v;
        *n = (size_t)rows;
    }
    PQclear(r);
    return 0;
}

static recorded *find_recorded(recorded *rec, size_t n, int version)
{
    for (size_t i = 0; i < n; i++)
        if (rec[i].version == version) return &rec[i];
    return NULL;
}

/* Line of the file holding character `pos` (1-based, in characters as
 * PostgreSQL counts them: UTF-8 continuation bytes do not count). */
static int line_of(const char *data, size_t len, long pos)
{
    int line = 1;
    long chars = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)data[i] & 0xC0) == 0x80) continue;
        if (++chars >= pos) break;
        if (data[i] == '\n') line++;
    }
    return line;
}

/* One migration, in one transaction with its schema_migrations row. */
static int apply_one(PGconn *c, const mig *m, char *err, size_t errcap)
{
    char why[512];
    if (run(c, "BEGIN", why, sizeof why)) {
        set_err(err, errcap, "migration %s: %s", m->name, why);
        return -1;
    }
    PGresult *r = PQexec(c, m->data);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
        char where[32] = "";
        if (pos) {
            long p = strtol(pos, NULL, 10);
            if (p > 0) snprintf(where, sizeof where, " at line %d", line_of(m->data, m->len, p));
        }
        set_err(err, errcap,
                "migration %s failed%s: %s%s%s [SQLSTATE %s]; rolled back, nothing "
                "of it applied",
                m->name, where, msg ? msg : PQresultErrorMessage(r), detail ? " - " : "",
                detail ? detail : "", state ? state : "?");
        PQclear(r);
        run(c, "ROLLBACK", why, sizeof why);
        return -1;
    }
    PQclear(r);
    if (PQtransactionStatus(c) != PQTRANS_INTRANS) {
        /* Its own COMMIT already made part of it permanent: say so loudly. */
        set_err(err, errcap,
                "migration %s ends the transaction itself (BEGIN/COMMIT/ROLLBACK "
                "inside it); it was not recorded, check the schema by hand",
                m->name);
        run(c, "ROLLBACK", why, sizeof why);
        return -1;
    }
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[3] = {version, m->name, m->checksum};
    r = PQexecParams(c,
                     "INSERT INTO schema_migrations (version, name, checksum) "
                     "VALUES ($1, $2, $3)",
                     3, NULL, params, NULL, NULL, 0);
    st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK) {
        set_err(err, errcap, "migration %s: cannot record it: %s; rolled back", m->name,
                PQresultErrorMessage(r));
        PQclear(r);
        run(c, "ROLLBACK", why, sizeof why);
        return -1;
    }
    PQclear(r);
    if (run(c, "COMMIT", why, sizeof why)) {
        set_err(err, errcap, "migration %s: %s", m->name, why);
        return -1;
    }
    return 0;
}

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int migrate_locked(PGconn *c, const mig *m, size_t n, char *err, size_t errcap)
{
    if (run(c,
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version int PRIMARY KEY,"
            " name text NOT NULL,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())",
            err, errcap))
        return -1;
    recorded *rec = NULL;
    size_t nrec = 0;
    if (read_recorded(c, false, &rec, &nrec, err, errcap)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        recorded *r = find_recorded(rec, nrec, m[i].version);
        if (r && strcmp(r->checksum, m[i].checksum) != 0) {
            set_err(err, errcap,
                    "migration %s was changed after it was applied (checksum %s, recorded %s)",
                    m[i].name, m[i].checksum, r->checksum);
            rc = -1;
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (find_recorded(rec, nrec, m[i].version)) continue;
        rc = apply_one(c, &m[i], err, errcap);
        if (rc == 0) fprintf(stderr, "cds migrate: applied %s\n", m[i].name);
    }
    free(rec);
    return rc;
}

int cds_migrate_list(const char *conninfo, const cds_asset *list, size_t n, char *err,
                     size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!conninfo || (n > 0 && !list)) {
        set_err(err, errcap, "no database connection string or migration list");
        return -1;
    }
    mig *m = NULL;
    size_t nm = 0;
    if (collect(list, n, &m, &nm, err, errcap)) return -1;
    PGconn *c = connect_db(conninfo, err, errcap);
    if (!c) {
        free(m);
        return -1;
    }
    /* "relation already exists, skipping" and the like are noise here. */
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    int rc = run(c, "SET statement_timeout = 0", err, errcap);
    if (rc == 0) rc = run(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errcap);
    if (rc == 0) {
        rc = migrate_locked(c, m, nm, err, errcap);
        char ignore[256];
        run(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", ignore, sizeof ignore);
    }
    PQfinish(c);
    free(m);
    return rc;
}

int cds_migrate(const char *conninfo, char *err, size_t errcap)
{
    cds_asset *list = NULL;
    size_t n = 0;
    if (embedded(&list, &n)) {
        set_err(err, errcap, "out of memory");
        return -1;
    }
    int rc = cds_migrate_list(conninfo, list, n, err, errcap);
    free(list);
    return rc;
}

int cds_migrate_status_list(const char *conninfo, const cds_asset *list, size_t n, FILE *out)
{
    char err[512];
    mig *m = NULL;
    size_t nm = 0;
    if (!conninfo || (n > 0 && !list)) {
        fprintf(stderr, "cds migrate: no database connection string or migration list\n");
        return -1;
    }
    if (collect(list, n, &m, &nm, err, sizeof err)) {
        fprintf(stderr, "cds migrate: %s\n", err);
        return -1;
    }
    PGconn *c = connect_db(conninfo, err, sizeof err);
    if (!c) {
        fprintf(stderr, "cds migrate: %s\n", err);
        free(m);
        return -1;
    }
    recorded *rec = NULL;
    size_t nrec = 0;
    if (read_recorded(c, true, &rec, &nrec, err, sizeof err)) {
        fprintf(stderr, "cds migrate: %s\n", err);
        PQfinish(c);
        free(m);
        return -1;
    }
    PQfinish(c);
    size_t applied = 0, pending = 0, changed = 0;
    for (size_t i = 0; i < nm; i++) {
        recorded *r = find_recorded(rec, nrec, m[i].version);
        if (!r) {
            fprintf(out, "pending  %s\n", m[i].name);
            pending++;
            continue;
        }
        r->matched = true;
        if (strcmp(r->checksum, m[i].checksum) != 0) {
            fprintf(out, "CHANGED  %s  applied %s, file changed since (checksum %s, recorded %s)\n",
                    m[i].name, r->applied_at, m[i].checksum, r->checksum);
            changed++;
        } else {
            fprintf(out, "applied  %s  %s\n", m[i].name, r->applied_at);
            applied++;
        }
    }
    size_t unknown = 0;
    for (size_t i = 0; i < nrec; i++) {
        if (rec[i].matched) continue;
        /* Applied by a newer binary: this one does not know the file. */
        fprintf(out, "unknown  %s  applied %s, not in this binary\n", rec[i].name,
                rec[i].applied_at);
        unknown++;
    }
    fprintf(out, "%zu applied, %zu pending, %zu changed, %zu unknown\n", applied, pending, changed,
            unknown);
    free(rec);
    free(m);
    return 0;
}

int cds_migrate_status(const char *conninfo, FILE *out)
{
    cds_asset *list = NULL;
    size_t n = 0;
    if (embedded(&list, &n)) {
        fprintf(stderr, "cds migrate: out of memory\n");
        return -1;
    }
    int rc = cds_migrate_status_list(conninfo, list, n, out);
    free(list);
    return rc;
}
