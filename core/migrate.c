/* Versioned migrations and repeatable function files (see core/migrate.h).
 *
 * Layout of db/ (both directories compiled into the binary by
 * cmake/embed.cmake):
 *
 *   db/migrations/NNNN_name.sql  tables, indexes, constraints, triggers and
 *       data changes; no function bodies. Each runs once, in version order,
 *       and is immutable once on main: its SHA-256 is recorded, and a run
 *       whose files differ from an applied one's record stops before doing
 *       anything.
 *   db/functions/<module>.sql    every SQL function, one file per module of
 *       the source tree (core, auth, dossiers, notify, payment, receipts,
 *       delivery), each function in exactly one file, as CREATE OR REPLACE.
 *       Repeatable: run again whenever one of them changed. They run in the
 *       order of SQL_FUNCTIONS in CMakeLists.txt (core first, then the
 *       modules in the order they build on each other): a LANGUAGE sql body
 *       is checked when created, so it may call only functions of its own
 *       file above it or of files before it.
 *
 * A run, on one blocking libpq session:
 *
 *   1. pg_advisory_lock(fixed key): a second process migrating at the same
 *      time waits here, then finds everything applied;
 *   2. CREATE TABLE IF NOT EXISTS schema_migrations and schema_functions
 *      (under the lock: two concurrent IF NOT EXISTS can still collide);
 *   3. every recorded migration checksum is compared with its file's (or
 *      with a superseded checksum, below) before anything runs, so a changed
 *      migration stops the whole run with nothing applied;
 *   4. when migrations are pending: the part of each function file above a
 *      line "-- cds:after-migrations" runs, in one transaction, bodies
 *      unchecked. That part holds the functions a migration attaches:
 *      trigger functions and functions in index expressions, which CREATE
 *      TRIGGER and CREATE INDEX need to exist, while most functions need the
 *      tables the migrations create (row types in their signatures). It
 *      takes and returns built-in types only;
 *   5. each pending migration runs as BEGIN; <file>; INSERT its row; COMMIT,
 *      so a migration is either entirely applied and recorded or not at all;
 *   6. when a migration was applied or a function file differs from
 *      schema_functions (new, changed, or gone): in one transaction, every
 *      function file in order, then the cds_* functions that no file
 *      defines any more are dropped (core/migrate_functions.c says how it
 *      knows), then schema_functions records each file's checksum. Running
 *      every file, not only the changed one, is what tells the defined from
 *      the stray; CREATE OR REPLACE of an unchanged function is harmless.
 *
 * So a database made from scratch and one upgraded from any earlier state end
 * with the same functions, those of the files and no others
 * (tests/integration/test_migrate.c compares pg_dump --schema-only of both).
 * A list without function files (tests) skips steps 4 and 6.
 *
 * Changing a function: edit it in its db/functions/ file, never in a
 * migration. Renaming it or changing its arguments is an edit too: the old
 * one is dropped in step 6 (and that fails loudly while a trigger or index
 * still uses it: move those in a migration first). PostgreSQL refuses to
 * change the result type of an existing function with CREATE OR REPLACE: put
 * DROP FUNCTION IF EXISTS name(args); right above it in the file. A migration
 * must not rely on a function's current body: step 6 comes after the
 * migrations, so a pending migration sees the previous definition (none on a
 * fresh database).
 *
 * Superseded checksums: until the function bodies moved to db/functions/,
 * 14 of the migrations 0001-0015 held them, and taking them out changed those
 * files. Databases migrated before record the old checksums, listed in
 * superseded[] below and accepted as "applied" for that version only: the
 * statements left in those files are the ones such a database ran, and
 * step 6 re-creates the functions from db/functions/ and drops the rest. The
 * list is closed: never add to it to let a changed migration through.
 *
 * The lock is a session lock, released explicitly and in any case when the
 * session ends (a crashed migrator cannot leave it held). */
#include "core/migrate.h"
#include "core/migrate_internal.h"

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
#define FUNCTIONS_PREFIX "db/functions/"

/* The checksums that 0001-0015 had with the function bodies in them (see
 * above). Closed list. */
static const struct {
    int version;
    const char *checksum;
} superseded[] = {
    {1, "f84f080183627da9b9e8253b61e30b52bbc7c5d6783c76e948030818232370da"},
    {2, "d666bf1aa9e3deaa969ec07a885b25e097a3b5c45b44183768daddd8318c856a"},
    {3, "431eac9ab8a4be754853d3b559d5e024ee1091454b70a15a2ceb92e1298312dc"},
    {4, "51f6e1742dad35c0fb282500ee83f49eec52295d8fed21f8b1c43eece9b41d8b"},
    {6, "5bac01c49b012c589b7f652dcb25c3114877f525b6806e8236c78caa5eaa5c57"},
    {7, "dca718557d33ce1047e6f03ab804057d43837665e5fe253ca7700729aaadf956"},
    {8, "68c34bc682c99d3e826bd470dcca4f173d52e2a48a70597a45674d4d8e212c4f"},
    {9, "3e8ae40ae793b75f0e2f7e2bdb05187b43eee68b58618a9d79dfeb51e3e74c84"},
    {10, "5e6ef694fc56c22faed75b5513540935b563762d3c15a52021661f3b5d4200bd"},
    {11, "1617c84238c161d1ebb59170bb10ac4f3d310d2f219575825775a8d29759fb7c"},
    {12, "e95b61bb8d7f1e2236686ef436c9012a70238e80ce40baf538d414e9358c72a3"},
    {13, "54f801f4c8dcfec279948d7ff26bcb80f69fbaaaaf640ae1a78c85adf0644f73"},
    {14, "b47b5073ecbc2c156f2bcd48066a7514fd90b719282d70d4402d025abd582b9a"},
    {15, "b3d40815625992790c22a6a45c042cbcbc69ef9c0c5499a11e167dcb83a5f9d1"},
};

typedef struct recorded {
    int version;
    char name[MIGRATE_NAME_MAX];
    char checksum[65];
    char applied_at[64];
    bool matched; /* a file with this version exists */
} recorded;

/* The files of a run: migrations sorted by version, function files in the
 * order given. */
typedef struct plan {
    mig_file *mig;
    size_t nmig;
    mig_file *fn;
    size_t nfn;
} plan;

void cds_mig_err(char *err, size_t cap, const char *fmt, ...)
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

static bool is_superseded(int version, const char *checksum)
{
    for (size_t i = 0; i < sizeof superseded / sizeof superseded[0]; i++)
        if (superseded[i].version == version && strcmp(superseded[i].checksum, checksum) == 0)
            return true;
    return false;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A function file is one in a directory named "functions". */
static bool is_function_file(const char *path)
{
    static const char dir[] = "functions/";
    const char *base = base_name(path);
    size_t dl = sizeof dir - 1, before = (size_t)(base - path);
    return before >= dl && memcmp(base - dl, dir, dl) == 0 &&
           (before == dl || path[before - dl - 1] == '/');
}

/* "dir/0001_core.sql" -> version 1, name "0001_core.sql". */
static int parse_name(const char *path, int *version, const char **name)
{
    const char *base = base_name(path);
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

/* Bytes above the marker line, or 0 when the file has none. */
static size_t pre_part(const char *data, size_t len)
{
    size_t ml = strlen(MIGRATE_FN_MARKER);
    for (size_t i = 0; i + ml <= len; i++) {
        if (i > 0 && data[i - 1] != '\n') continue;
        if (memcmp(data + i, MIGRATE_FN_MARKER, ml) != 0) continue;
        size_t e = i + ml;
        if (e < len && data[e] == '\r') e++;
        if (e == len || data[e] == '\n') return i;
    }
    return 0;
}

static int mig_cmp(const void *a, const void *b)
{
    const mig_file *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static void plan_free(plan *p)
{
    free(p->mig);
    free(p->fn);
    memset(p, 0, sizeof *p);
}

/* Sorts the list into migrations and function files, checksummed. */
static int collect(const cds_asset *list, size_t n, plan *p, char *err, size_t errcap)
{
    memset(p, 0, sizeof *p);
    if (n == 0) return 0;
    p->mig = calloc(n, sizeof *p->mig);
    p->fn = calloc(n, sizeof *p->fn);
    if (!p->mig || !p->fn) {
        plan_free(p);
        cds_mig_err(err, errcap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *path = list[i].path;
        mig_file *m;
        if (path && list[i].data && is_function_file(path)) {
            m = &p->fn[p->nfn++];
            m->name = base_name(path);
            size_t len = strlen(m->name);
            if (len < 5 || len >= MIGRATE_NAME_MAX || strcmp(m->name + len - 4, ".sql") != 0) {
                cds_mig_err(err, errcap, "function file name \"%s\" is not name.sql", path);
                plan_free(p);
                return -1;
            }
            for (size_t k = 0; k + 1 < p->nfn; k++) {
                if (strcmp(p->fn[k].name, m->name) == 0) {
                    cds_mig_err(err, errcap, "function file %s is listed twice", m->name);
                    plan_free(p);
                    return -1;
                }
            }
            m->pre_len = pre_part(list[i].data, list[i].len);
        } else {
            m = &p->mig[p->nmig++];
            if (!path || !list[i].data || parse_name(path, &m->version, &m->name)) {
                cds_mig_err(err, errcap, "migration file name \"%s\" is not NNNN_name.sql",
                            path ? path : "(null)");
                plan_free(p);
                return -1;
            }
        }
        m->data = list[i].data;
        m->len = list[i].len;
        if (sha256_hex(m->data, m->len, m->checksum)) {
            cds_mig_err(err, errcap, "cannot compute SHA-256 of %s", m->name);
            plan_free(p);
            return -1;
        }
    }
    if (p->nmig > 0) qsort(p->mig, p->nmig, sizeof *p->mig, mig_cmp);
    for (size_t i = 1; i < p->nmig; i++) {
        if (p->mig[i].version == p->mig[i - 1].version) {
            cds_mig_err(err, errcap, "migrations %s and %s have the same version",
                        p->mig[i - 1].name, p->mig[i].name);
            plan_free(p);
            return -1;
        }
    }
    return 0;
}

/* The embedded migrations and function files, in a malloc'ed array of
 * assets, in the order they were embedded. */
static int embedded(cds_asset **out, size_t *n)
{
    size_t count = 0, ml = strlen(MIGRATIONS_PREFIX), fl = strlen(FUNCTIONS_PREFIX);
    for (const cds_asset *a = cds_assets; a->path; a++)
        if (strncmp(a->path, MIGRATIONS_PREFIX, ml) == 0 ||
            strncmp(a->path, FUNCTIONS_PREFIX, fl) == 0)
            count++;
    *out = NULL;
    *n = 0;
    if (count == 0) return 0;
    cds_asset *v = calloc(count, sizeof *v);
    if (!v) return -1;
    size_t k = 0;
    for (const cds_asset *a = cds_assets; a->path; a++)
        if (strncmp(a->path, MIGRATIONS_PREFIX, ml) == 0 ||
            strncmp(a->path, FUNCTIONS_PREFIX, fl) == 0)
            v[k++] = *a;
    *out = v;
    *n = count;
    return 0;
}

static PGconn *connect_db(const char *conninfo, char *err, size_t errcap)
{
    PGconn *c = PQconnectdb(conninfo);
    if (!c) {
        cds_mig_err(err, errcap, "cannot connect to the database: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        /* libpq's message names host and user, never the password. */
        cds_mig_err(err, errcap, "cannot connect to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

int cds_mig_run(PGconn *c, const char *sql, char *err, size_t errcap)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc) cds_mig_err(err, errcap, "%s: %s", sql, PQresultErrorMessage(r));
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
            cds_mig_err(err, errcap, "cannot read schema_migrations: %s",
                        PQresultErrorMessage(r));
            PQclear(r);
            return -1;
        }
        PQclear(r);
        if (!exists) return 0;
    }
    PGresult *r = PQexec(c, "SELECT version, name, checksum, applied_at FROM schema_migrations "
                            "ORDER BY version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cds_mig_err(err, errcap, "cannot read schema_migrations: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rows = PQntuples(r);
    if (rows > 0) {
        recorded *v = calloc((size_t)rows, sizeof *v);
        if (!v) {
            PQclear(r);
            cds_mig_err(err, errcap, "out of memory");
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

int cds_mig_exec_file(PGconn *c, const char *what, const char *sql, size_t len, char *err,
                      size_t errcap)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        PQclear(r);
        return 0;
    }
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
    char where[32] = "";
    if (pos) {
        long p = strtol(pos, NULL, 10);
        if (p > 0) snprintf(where, sizeof where, " at line %d", line_of(sql, len, p));
    }
    cds_mig_err(err, errcap, "%s failed%s: %s%s%s [SQLSTATE %s]; rolled back, nothing of it applied",
                what, where, msg ? msg : PQresultErrorMessage(r), detail ? " - " : "",
                detail ? detail : "", state ? state : "?");
    PQclear(r);
    return -1;
}

/* One migration, in one transaction with its schema_migrations row. */
static int apply_one(PGconn *c, const mig_file *m, char *err, size_t errcap)
{
    char why[512], what[MIGRATE_NAME_MAX + 16];
    snprintf(what, sizeof what, "migration %s", m->name);
    if (cds_mig_run(c, "BEGIN", why, sizeof why)) {
        cds_mig_err(err, errcap, "migration %s: %s", m->name, why);
        return -1;
    }
    if (cds_mig_exec_file(c, what, m->data, m->len, err, errcap)) {
        cds_mig_run(c, "ROLLBACK", why, sizeof why);
        return -1;
    }
    if (PQtransactionStatus(c) != PQTRANS_INTRANS) {
        /* Its own COMMIT already made part of it permanent: say so loudly. */
        cds_mig_err(err, errcap,
                    "migration %s ends the transaction itself (BEGIN/COMMIT/ROLLBACK "
                    "inside it); it was not recorded, check the schema by hand",
                    m->name);
        cds_mig_run(c, "ROLLBACK", why, sizeof why);
        return -1;
    }
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[3] = {version, m->name, m->checksum};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO schema_migrations (version, name, checksum) "
                               "VALUES ($1, $2, $3)",
                               3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        cds_mig_err(err, errcap, "migration %s: cannot record it: %s; rolled back", m->name,
                    PQresultErrorMessage(r));
        PQclear(r);
        cds_mig_run(c, "ROLLBACK", why, sizeof why);
        return -1;
    }
    PQclear(r);
    if (cds_mig_run(c, "COMMIT", why, sizeof why)) {
        cds_mig_err(err, errcap, "migration %s: %s", m->name, why);
        return -1;
    }
    return 0;
}

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Steps 2 to 6 of the comment at the top. */
static int migrate_locked(PGconn *c, const plan *p, char *err, size_t errcap)
{
    if (cds_mig_run(c,
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
    size_t pending = 0;
    for (size_t i = 0; i < p->nmig && rc == 0; i++) {
        recorded *r = find_recorded(rec, nrec, p->mig[i].version);
        if (!r) {
            pending++;
        } else if (strcmp(r->checksum, p->mig[i].checksum) != 0 &&
                   !is_superseded(r->version, r->checksum)) {
            cds_mig_err(err, errcap,
                        "migration %s was changed after it was applied (checksum %s, recorded %s)",
                        p->mig[i].name, p->mig[i].checksum, r->checksum);
            rc = -1;
        }
    }
    if (rc == 0 && pending > 0 && p->nfn > 0) rc = cds_mig_functions_pre(c, p->fn, p->nfn, err, errcap);
    for (size_t i = 0; i < p->nmig && rc == 0; i++) {
        if (find_recorded(rec, nrec, p->mig[i].version)) continue;
        rc = apply_one(c, &p->mig[i], err, errcap);
        if (rc == 0) fprintf(stderr, "cds migrate: applied %s\n", p->mig[i].name);
    }
    if (rc == 0 && p->nfn > 0)
        rc = cds_mig_functions_apply(c, p->fn, p->nfn, pending > 0, err, errcap);
    free(rec);
    return rc;
}

int cds_migrate_list(const char *conninfo, const cds_asset *list, size_t n, char *err,
                     size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!conninfo || (n > 0 && !list)) {
        cds_mig_err(err, errcap, "no database connection string or migration list");
        return -1;
    }
    plan p;
    if (collect(list, n, &p, err, errcap)) return -1;
    PGconn *c = connect_db(conninfo, err, errcap);
    if (!c) {
        plan_free(&p);
        return -1;
    }
    /* "relation already exists, skipping" and the like are noise here. */
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    int rc = cds_mig_run(c, "SET statement_timeout = 0", err, errcap);
    if (rc == 0) rc = cds_mig_run(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errcap);
    if (rc == 0) {
        rc = migrate_locked(c, &p, err, errcap);
        char ignore[256];
        cds_mig_run(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", ignore, sizeof ignore);
    }
    PQfinish(c);
    plan_free(&p);
    return rc;
}

int cds_migrate(const char *conninfo, char *err, size_t errcap)
{
    cds_asset *list = NULL;
    size_t n = 0;
    if (embedded(&list, &n)) {
        cds_mig_err(err, errcap, "out of memory");
        return -1;
    }
    int rc = cds_migrate_list(conninfo, list, n, err, errcap);
    free(list);
    return rc;
}

static void print_migrations(const plan *p, recorded *rec, size_t nrec, FILE *out)
{
    size_t applied = 0, pending = 0, changed = 0;
    for (size_t i = 0; i < p->nmig; i++) {
        const mig_file *m = &p->mig[i];
        recorded *r = find_recorded(rec, nrec, m->version);
        if (!r) {
            fprintf(out, "pending  %s\n", m->name);
            pending++;
            continue;
        }
        r->matched = true;
        if (strcmp(r->checksum, m->checksum) == 0) {
            fprintf(out, "applied  %s  %s\n", m->name, r->applied_at);
            applied++;
        } else if (is_superseded(r->version, r->checksum)) {
            fprintf(out, "applied  %s  %s (with its function bodies, now in db/functions/)\n",
                    m->name, r->applied_at);
            applied++;
        } else {
            fprintf(out, "CHANGED  %s  applied %s, file changed since (checksum %s, recorded %s)\n",
                    m->name, r->applied_at, m->checksum, r->checksum);
            changed++;
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
}

int cds_migrate_status_list(const char *conninfo, const cds_asset *list, size_t n, FILE *out)
{
    char err[512];
    if (!conninfo || (n > 0 && !list)) {
        fprintf(stderr, "cds migrate: no database connection string or migration list\n");
        return -1;
    }
    plan p;
    if (collect(list, n, &p, err, sizeof err)) {
        fprintf(stderr, "cds migrate: %s\n", err);
        return -1;
    }
    PGconn *c = connect_db(conninfo, err, sizeof err);
    if (!c) {
        fprintf(stderr, "cds migrate: %s\n", err);
        plan_free(&p);
        return -1;
    }
    recorded *rec = NULL;
    size_t nrec = 0;
    int rc = read_recorded(c, true, &rec, &nrec, err, sizeof err);
    if (rc == 0) {
        print_migrations(&p, rec, nrec, out);
        if (p.nfn > 0) rc = cds_mig_functions_status(c, p.fn, p.nfn, out, err, sizeof err);
    }
    if (rc) fprintf(stderr, "cds migrate: %s\n", err);
    PQfinish(c);
    free(rec);
    plan_free(&p);
    return rc;
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
