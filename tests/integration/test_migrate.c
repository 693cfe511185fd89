/* Integration test of the versioned migrations and the repeatable function
 * files (core/migrate.c) against a real PostgreSQL: order and checksums
 * recorded, re-runs apply nothing, a changed applied migration is refused
 * with nothing new applied, a failing one leaves no trace, two processes
 * migrating at once apply everything (functions too) exactly once, the
 * embedded migrations apply on a fresh database; a function file is run
 * again when it changes,
 * a function no file defines any more is dropped, and a database migrated
 * by the code before the functions moved out of the migrations
 * (tests/data/migrations_v0/) ends, once upgraded, with the same
 * `pg_dump --schema-only` as a database made from scratch. */
#include "core/migrate.h"
#include "tests/lib/harness.h"
#include "tests/lib/t.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define A(p, s) ((cds_asset){p, s, sizeof(s) - 1})

static const char M1[] = "CREATE TABLE t_one (id int PRIMARY KEY);\n";
static const char M2[] = "CREATE TABLE t_two (id int REFERENCES t_one);\n"
                         "INSERT INTO t_one VALUES (1);\n";
static const char M1_CHANGED[] = "CREATE TABLE t_one (id bigint PRIMARY KEY);\n";
static const char M3[] = "CREATE TABLE t_three (id int);\n";
static const char M3_BAD[] = "CREATE TABLE t_three (id int);\n"
                             "INSERT INTO t_three VALUES (1);\n"
                             "SELECT 1 / 0;\n";
static const char M3_SYNTAX[] = "CREATE TABLE t_three (id int);\n"
                                "\n"
                                "CREATE TABLE t_four (id intt);\n";

/* Expected checksums come from PostgreSQL's own sha256(), not from the code
 * under test. */
static void check_recorded(const char *db, int version, const char *sql)
{
    char q[1024];
    snprintf(q, sizeof q,
             "SELECT checksum = encode(sha256(convert_to($m$%s$m$, 'UTF8')), 'hex') "
             "FROM schema_migrations WHERE version = %d",
             sql, version);
    char *v = th_db_value(db, q);
    CHECK_STR(v, "t");
    free(v);
}

static int count(const char *db, const char *sql)
{
    char *v = th_db_value(db, sql);
    int n = v ? (int)strtol(v, NULL, 10) : -1;
    free(v);
    return n;
}

static void test_apply_and_rerun(void)
{
    char *db = th_db_new("migrate");
    char err[512];
    /* Given out of order: they are applied by version. */
    const cds_asset list[] = {A("db/migrations/0002_two.sql", M2),
                              A("db/migrations/0001_one.sql", M1)};
    CHECK_INT(cds_migrate_list(db, list, 2, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations"), 2);
    char *names = th_db_value(db, "SELECT string_agg(name, ',' ORDER BY version) "
                                  "FROM schema_migrations");
    CHECK_STR(names, "0001_one.sql,0002_two.sql");
    free(names);
    check_recorded(db, 1, M1);
    check_recorded(db, 2, M2);
    CHECK_INT(count(db, "SELECT count(*) FROM t_one"), 1);

    /* Second run: nothing applied (re-running M2 would fail on CREATE TABLE). */
    char *before = th_db_value(db, "SELECT max(applied_at)::text FROM schema_migrations");
    CHECK_INT(cds_migrate_list(db, list, 2, err, sizeof err), 0);
    char *after = th_db_value(db, "SELECT max(applied_at)::text FROM schema_migrations");
    CHECK_STR(after, before);
    free(before);
    free(after);
    CHECK_INT(count(db, "SELECT count(*) FROM t_one"), 1);

    /* Status shows them applied, and a new one pending. */
    const cds_asset more[] = {A("0001_one.sql", M1), A("0002_two.sql", M2),
                              A("0003_three.sql", M3)};
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    CHECK_INT(cds_migrate_status_list(db, more, 3, out), 0);
    fclose(out);
    CHECK(buf && strstr(buf, "applied  0001_one.sql") != NULL);
    CHECK(buf && strstr(buf, "applied  0002_two.sql") != NULL);
    CHECK(buf && strstr(buf, "pending  0003_three.sql") != NULL);
    CHECK(buf && strstr(buf, "2 applied, 1 pending, 0 changed") != NULL);
    free(buf);

    /* A changed applied migration stops everything, naming the file. */
    const cds_asset changed[] = {A("0001_one.sql", M1_CHANGED), A("0002_two.sql", M2),
                                 A("0003_three.sql", M3)};
    CHECK_INT(cds_migrate_list(db, changed, 3, err, sizeof err), -1);
    fprintf(stderr, "expected error: %s\n", err);
    CHECK(strstr(err, "migration 0001_one.sql was changed after it was applied (checksum ") !=
          NULL);
    CHECK(strstr(err, ", recorded ") != NULL);
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations"), 2);
    CHECK_INT(count(db, "SELECT count(*) FROM pg_tables WHERE tablename = 't_three'"), 0);
    buf = NULL;
    out = open_memstream(&buf, &len);
    CHECK_INT(cds_migrate_status_list(db, changed, 3, out), 0);
    fclose(out);
    CHECK(buf && strstr(buf, "CHANGED  0001_one.sql") != NULL);
    free(buf);

    /* A failing migration rolls back entirely and is not recorded. */
    const cds_asset bad[] = {A("0001_one.sql", M1), A("0002_two.sql", M2),
                             A("0003_bad.sql", M3_BAD)};
    CHECK_INT(cds_migrate_list(db, bad, 3, err, sizeof err), -1);
    fprintf(stderr, "expected error: %s\n", err);
    CHECK(strstr(err, "migration 0003_bad.sql failed") != NULL);
    CHECK(strstr(err, "division by zero") != NULL);
    CHECK_INT(count(db, "SELECT count(*) FROM pg_tables WHERE tablename = 't_three'"), 0);
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations"), 2);

    /* A syntax error is reported with its line in the file. */
    const cds_asset syntax[] = {A("0001_one.sql", M1), A("0003_syntax.sql", M3_SYNTAX)};
    CHECK_INT(cds_migrate_list(db, syntax, 2, err, sizeof err), -1);
    fprintf(stderr, "expected error: %s\n", err);
    CHECK(strstr(err, "migration 0003_syntax.sql failed at line 3: type \"intt\" does not exist") !=
          NULL);
    CHECK_INT(count(db, "SELECT count(*) FROM pg_tables WHERE tablename = 't_three'"), 0);

    /* Once fixed, it goes through. */
    CHECK_INT(cds_migrate_list(db, more, 3, err, sizeof err), 0);
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations"), 3);
    check_recorded(db, 3, M3);

    /* A migration that commits on its own cannot be made atomic: refused. */
    static const char SNEAKY[] = "COMMIT; CREATE TABLE t_sneaky (id int);";
    const cds_asset sneaky[] = {A("0004_sneaky.sql", SNEAKY)};
    CHECK_INT(cds_migrate_list(db, sneaky, 1, err, sizeof err), -1);
    fprintf(stderr, "expected error: %s\n", err);
    CHECK(strstr(err, "0004_sneaky.sql") != NULL);
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations WHERE version = 4"), 0);

    /* Bad names and duplicate versions are refused before touching the database. */
    const cds_asset badname[] = {A("one.sql", M1)};
    CHECK_INT(cds_migrate_list(db, badname, 1, err, sizeof err), -1);
    fprintf(stderr, "expected error: %s\n", err);
    CHECK(strstr(err, "one.sql") != NULL);
    const cds_asset dup[] = {A("0001_a.sql", M1), A("1_b.sql", M2)};
    CHECK_INT(cds_migrate_list(db, dup, 2, err, sizeof err), -1);
    fprintf(stderr, "expected error: %s\n", err);
    CHECK(strstr(err, "same version") != NULL);
    free(db);
}

/* ---- function files ---- */

static const char F_V1[] = "CREATE OR REPLACE FUNCTION cds_t_answer() RETURNS int\n"
                           "LANGUAGE sql AS $$ SELECT 1 $$;\n";
static const char F_V2[] = "CREATE OR REPLACE FUNCTION cds_t_answer() RETURNS int\n"
                           "LANGUAGE sql AS $$ SELECT 2 $$;\n";
/* cds_t_answer renamed, and a new overload of cds_t_pair replacing one. */
static const char F_V3[] = "CREATE OR REPLACE FUNCTION cds_t_reply() RETURNS int\n"
                           "LANGUAGE sql AS $$ SELECT 3 $$;\n";
static const char F_BAD[] = "CREATE OR REPLACE FUNCTION cds_t_reply() RETURNS int\n"
                            "LANGUAGE sql AS $$ SELECT 4 $$;\n"
                            "\n"
                            "CREATE OR REPLACE FUNCTION cds_t_broken() RETURNS int\n"
                            "LANGUAGE sql AS $$ SELECT nope FROM t_one $$;\n";
/* A standard SQL body: PostgreSQL records that it uses cds_t_answer. */
static const char G_V1[] = "CREATE OR REPLACE FUNCTION cds_t_pair(a int) RETURNS int\n"
                           "LANGUAGE sql RETURN a + cds_t_answer();\n";
static const char G_V2[] = "CREATE OR REPLACE FUNCTION cds_t_pair(a bigint) RETURNS bigint\n"
                           "LANGUAGE sql AS $$ SELECT a + 10 $$;\n";

/* A table whose trigger uses a function of a file that also holds a function
 * taking the table's row: only the part above the marker can exist before
 * the migration, only the rest after it. */
static const char M_TOUCH[] = "CREATE TABLE t_touch (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);\n"
                              "CREATE TRIGGER t_touch_bump BEFORE UPDATE ON t_touch\n"
                              "    FOR EACH ROW EXECUTE FUNCTION cds_t_bump();\n"
                              "INSERT INTO t_touch VALUES (1);\n";
static const char H_V1[] = "CREATE OR REPLACE FUNCTION cds_t_bump() RETURNS trigger\n"
                           "LANGUAGE plpgsql AS $$ BEGIN NEW.n := OLD.n + 1; RETURN NEW; END $$;\n"
                           "\n"
                           "-- cds:after-migrations\n"
                           "\n"
                           "CREATE OR REPLACE FUNCTION cds_t_n(t t_touch) RETURNS int\n"
                           "LANGUAGE sql AS $$ SELECT t.n $$;\n";

static void test_concurrent(void)
{
    char *db = th_db_new("migrate_conc");
    static const char SLOW[] = "CREATE TABLE t_slow (id int); SELECT pg_sleep(0.3);";
    const cds_asset list[] = {A("0001_slow.sql", SLOW), A("0002_one.sql", M1),
                              A("db/functions/a.sql", F_V1)};
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char err[512];
            int rc = cds_migrate_list(db, list, 3, err, sizeof err);
            if (rc) fprintf(stderr, "child: %s\n", err);
            _exit(rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        int st = 0;
        CHECK(waitpid(kids[i], &st, 0) == kids[i]);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations"), 2);
    CHECK_INT(count(db, "SELECT count(*) FROM schema_functions"), 1);
    CHECK_INT(count(db, "SELECT cds_t_answer()"), 1);
    free(db);
}

static void test_embedded(void)
{
    char *db = th_db_new("migrate_embedded");
    char err[512];
    CHECK_INT(cds_migrate(db, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations WHERE name = '0001_core.sql'"), 1);
    CHECK_INT(count(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'idempotency_keys'"), 1);
    CHECK_INT(cds_migrate(db, err, sizeof err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    CHECK_INT(cds_migrate_status(db, out), 0);
    fclose(out);
    CHECK(buf && strstr(buf, "applied  0001_core.sql") != NULL);
    CHECK(buf && strstr(buf, " 0 pending, 0 changed, 0 unknown") != NULL);
    free(buf);
    free(db);

    /* No database: an error, not a crash. */
    CHECK_INT(cds_migrate("host=/nonexistent/socket dbname=x", err, sizeof err), -1);
    fprintf(stderr, "expected error: %s\n", err);
    CHECK(strstr(err, "cannot connect to the database") != NULL);
}

static char *fn_value(const char *db, const char *name)
{
    char q[256];
    snprintf(q, sizeof q,
             "SELECT string_agg(p.oid::regprocedure::text, ',' ORDER BY 1) FROM pg_proc p "
             "WHERE proname LIKE '%s'",
             name);
    return th_db_value(db, q);
}

static void check_fn_recorded(const char *db, const char *name, const char *sql)
{
    char q[1024];
    snprintf(q, sizeof q,
             "SELECT checksum = encode(sha256(convert_to($m$%s$m$, 'UTF8')), 'hex') "
             "FROM schema_functions WHERE name = '%s'",
             sql, name);
    char *v = th_db_value(db, q);
    CHECK_STR(v, "t");
    free(v);
}

static void test_function_files(void)
{
    char *db = th_db_new("migrate_fn");
    char err[512];
    /* Someone else's function, and an extension's: never touched. */
    CHECK_INT(th_db_exec(db, "CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS $$ SELECT 7 $$; "
                             "CREATE EXTENSION IF NOT EXISTS pg_trgm"),
              0);
    const cds_asset v1[] = {A("db/migrations/0001_one.sql", M1), A("db/functions/a.sql", F_V1),
                            A("db/functions/b.sql", G_V1)};
    CHECK_INT(cds_migrate_list(db, v1, 3, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(count(db, "SELECT cds_t_pair(1)"), 2);
    check_fn_recorded(db, "a.sql", F_V1);
    check_fn_recorded(db, "b.sql", G_V1);

    /* Nothing changed: nothing runs again. */
    char *before = th_db_value(db, "SELECT max(applied_at)::text FROM schema_functions");
    CHECK_INT(cds_migrate_list(db, v1, 3, err, sizeof err), 0);
    char *after = th_db_value(db, "SELECT max(applied_at)::text FROM schema_functions");
    CHECK_STR(after, before);
    free(after);

    /* The file edited: run again, recorded with its new checksum. */
    const cds_asset v2[] = {A("db/migrations/0001_one.sql", M1), A("db/functions/a.sql", F_V2),
                            A("db/functions/b.sql", G_V1)};
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    CHECK_INT(cds_migrate_status_list(db, v2, 3, out), 0);
    fclose(out);
    CHECK(buf && strstr(buf, "CHANGED  functions/a.sql") != NULL);
    CHECK(buf && strstr(buf, "applied  functions/b.sql") != NULL);
    CHECK(buf && strstr(buf, "functions: 1 applied, 0 pending, 1 changed, 0 unknown") != NULL);
    free(buf);
    CHECK_INT(cds_migrate_list(db, v2, 3, err, sizeof err), 0);
    CHECK_INT(count(db, "SELECT cds_t_answer()"), 2);
    CHECK_INT(count(db, "SELECT cds_t_pair(1)"), 3);
    check_fn_recorded(db, "a.sql", F_V2);
    after = th_db_value(db, "SELECT max(applied_at)::text FROM schema_functions");
    CHECK(after && before && strcmp(after, before) != 0);
    free(before);
    free(after);

    /* A function renamed and one whose argument type changed: the old ones
     * are dropped, as a fresh database never had them. While b.sql still
     * uses cds_t_answer, its drop fails: refused, nothing of the run stays. */
    const cds_asset v3_half[] = {A("db/migrations/0001_one.sql", M1), A("db/functions/a.sql", F_V3),
                                 A("db/functions/b.sql", G_V1)};
    CHECK_INT(cds_migrate_list(db, v3_half, 3, err, sizeof err), -1);
    fprintf(stderr, "expected error: %s\n", err);
    CHECK(strstr(err, "no file of db/functions/ defines cds_t_answer() any more, and it cannot be "
                      "dropped") != NULL);
    char *fns = fn_value(db, "cds\\_t\\_%");
    CHECK_STR(fns, "cds_t_answer(),cds_t_pair(integer)");
    free(fns);
    check_fn_recorded(db, "a.sql", F_V2);
    const cds_asset v3[] = {A("db/migrations/0001_one.sql", M1), A("db/functions/a.sql", F_V3),
                            A("db/functions/b.sql", G_V2)};
    CHECK_INT(cds_migrate_list(db, v3, 3, err, sizeof err), 0);
    fns = fn_value(db, "cds\\_t\\_%");
    CHECK_STR(fns, "cds_t_pair(bigint),cds_t_reply()");
    free(fns);
    CHECK_INT(count(db, "SELECT cds_t_pair(1)"), 11);
    CHECK_INT(count(db, "SELECT mine()"), 7);
    CHECK_INT(count(db, "SELECT count(*) FROM pg_proc WHERE proname = 'similarity'"), 1);

    /* A failing file: the whole run of the files rolls back, the previous
     * definitions and records stay, and the error names file and line. */
    const cds_asset bad[] = {A("db/migrations/0001_one.sql", M1), A("db/functions/a.sql", F_BAD),
                             A("db/functions/b.sql", G_V2)};
    CHECK_INT(cds_migrate_list(db, bad, 3, err, sizeof err), -1);
    fprintf(stderr, "expected error: %s\n", err);
    CHECK(strstr(err, "function file a.sql failed at line 5") != NULL);
    CHECK(strstr(err, "\"nope\" does not exist") != NULL);
    CHECK_INT(count(db, "SELECT cds_t_reply()"), 3);
    check_fn_recorded(db, "a.sql", F_V3);

    /* A file removed: its functions go, its record goes. */
    const cds_asset only_b[] = {A("db/migrations/0001_one.sql", M1), A("db/functions/b.sql", G_V2)};
    CHECK_INT(cds_migrate_list(db, only_b, 2, err, sizeof err), 0);
    fns = fn_value(db, "cds\\_t\\_%");
    CHECK_STR(fns, "cds_t_pair(bigint)");
    free(fns);
    CHECK_INT(count(db, "SELECT count(*) FROM schema_functions"), 1);

    /* A changed migration is still refused, function files or not. */
    const cds_asset changed[] = {A("db/migrations/0001_one.sql", M1_CHANGED),
                                 A("db/functions/b.sql", G_V1)};
    CHECK_INT(cds_migrate_list(db, changed, 2, err, sizeof err), -1);
    CHECK(strstr(err, "migration 0001_one.sql was changed after it was applied") != NULL);
    check_fn_recorded(db, "b.sql", G_V2);
    free(db);

    /* A trigger on a function of the part above the marker, in the same
     * file as a function of the table's row type: a fresh database gets
     * both, and the trigger works. */
    db = th_db_new("migrate_fn_pre");
    const cds_asset touch[] = {A("db/migrations/0001_touch.sql", M_TOUCH),
                               A("db/functions/h.sql", H_V1)};
    CHECK_INT(cds_migrate_list(db, touch, 2, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(th_db_exec(db, "UPDATE t_touch SET id = 1"), 0);
    CHECK_INT(count(db, "SELECT cds_t_n(t) FROM t_touch t"), 1);
    free(db);
}

/* ---- upgrade from the migrations as they were ---- */

typedef struct file_list {
    cds_asset *a;
    size_t n;
} file_list;

static int name_cmp(const void *x, const void *y)
{
    return strcmp(((const cds_asset *)x)->path, ((const cds_asset *)y)->path);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&buf, &cap);
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, got, m);
    fclose(f);
    fclose(m);
    *len = cap;
    return buf;
}

/* Every *.sql of `dir` as assets (path "<dir>/<name>"). */
static file_list read_dir(const char *dir)
{
    file_list l = {NULL, 0};
    DIR *d = opendir(dir);
    if (!d) return l;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".sql") != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        char *data = slurp(path, &len);
        if (!data) continue;
        cds_asset *grown = realloc(l.a, (l.n + 1) * sizeof *l.a);
        if (!grown) {
            free(data);
            break;
        }
        l.a = grown;
        l.a[l.n++] = (cds_asset){strdup(path), data, len};
    }
    closedir(d);
    if (l.n) qsort(l.a, l.n, sizeof *l.a, name_cmp);
    return l;
}

static void file_list_free(file_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->a[i].path);
        free((char *)l->a[i].data);
    }
    free(l->a);
}

/* pg_dump --schema-only of `db`, without the \restrict lines (a random key
 * per dump). */
static char *schema_dump(const char *db)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "pg_dump --schema-only '%s' | grep -v '^\\\\\\(un\\)\\?restrict '", db);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char *buf = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&buf, &cap);
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0)
        fwrite(chunk, 1, got, m);
    fclose(m);
    int st = pclose(p);
    CHECK(st == 0 || (WIFEXITED(st) && WEXITSTATUS(st) == 1)); /* grep: 1 = no line dropped */
    return buf;
}

static void save(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text ? text : "", f);
    fclose(f);
}

static void test_upgrade_identical(void)
{
    char err[512];
    char *fresh = th_db_new("migrate_fresh");
    CHECK_INT(cds_migrate(fresh, err, sizeof err), 0);
    CHECK_STR(err, "");

    /* Today's databases: made by the runner from the migrations as they
     * were, function bodies and all. */
    file_list v0 = read_dir(CDS_SOURCE_DIR "/tests/data/migrations_v0");
    CHECK(v0.n >= 15);
    char *old = th_db_new("migrate_old");
    CHECK_INT(cds_migrate_list(old, v0.a, v0.n, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(count(old, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'cds\\_%'"), 55);
    /* An old overload a fresh database never has, and a function the
     * migrations dropped long ago: the upgrade must leave neither. */
    CHECK_INT(th_db_exec(old, "CREATE FUNCTION cds_outbox_sweep(p_after interval) RETURNS int "
                              "LANGUAGE sql AS $$ SELECT 0 $$; "
                              "CREATE FUNCTION cds_receipt_next_number(text, int) RETURNS bigint "
                              "LANGUAGE sql AS $$ SELECT 0::bigint $$"),
              0);
    CHECK_INT(cds_migrate(old, err, sizeof err), 0);
    CHECK_STR(err, "");

    char *a = schema_dump(fresh), *b = schema_dump(old);
    CHECK(a && strstr(a, "CREATE FUNCTION public.cds_outbox_claim(") != NULL);
    CHECK(a && strstr(a, "CREATE TRIGGER dossiers_end_payments") != NULL);
    CHECK(a && b && strcmp(a, b) == 0);
    if (!a || !b || strcmp(a, b) != 0) {
        char pa[512], pb[512], cmd[1100];
        mkdir(CDS_BUILD_DIR "/Testing", 0755);
        snprintf(pa, sizeof pa, "%s/Testing/migrate_fresh_%d.sql", CDS_BUILD_DIR, (int)getpid());
        snprintf(pb, sizeof pb, "%s/Testing/migrate_upgraded_%d.sql", CDS_BUILD_DIR, (int)getpid());
        save(pa, a);
        save(pb, b);
        snprintf(cmd, sizeof cmd, "diff -u '%s' '%s' | head -60 >&2", pa, pb);
        if (system(cmd) == -1) fprintf(stderr, "cannot run diff\n");
    }
    free(a);
    free(b);

    /* Both say everything is applied; the upgraded one names the migrations
     * it ran with their function bodies. */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    CHECK_INT(cds_migrate_status(old, out), 0);
    fclose(out);
    CHECK(buf && strstr(buf, " 0 pending, 0 changed, 0 unknown") != NULL);
    CHECK(buf && strstr(buf, "functions: 8 applied, 0 pending, 0 changed, 0 unknown") != NULL);
    CHECK(buf && strstr(buf, "applied  0014_outbox_hot.sql  ") != NULL);
    free(buf);

    /* The old checksums are accepted for their own version only, and any
     * other change of a migration is still refused. */
    CHECK_INT(th_db_exec(old, "UPDATE schema_migrations SET checksum = "
                              "(SELECT checksum FROM schema_migrations WHERE version = 2) "
                              "WHERE version = 3"),
              0);
    CHECK_INT(cds_migrate(old, err, sizeof err), -1);
    fprintf(stderr, "expected error: %s\n", err);
    CHECK(strstr(err, "migration 0003_dossiers.sql was changed after it was applied") != NULL);
    CHECK_INT(th_db_exec(fresh, "UPDATE schema_migrations SET checksum = repeat('0', 64) "
                                "WHERE version = 5"),
              0);
    CHECK_INT(cds_migrate(fresh, err, sizeof err), -1);
    CHECK(strstr(err, "migration 0005_outbox_lean.sql was changed after it was applied") != NULL);

    file_list_free(&v0);
    free(fresh);
    free(old);
}

int main(void)
{
    test_apply_and_rerun();
    test_concurrent();
    test_embedded();
    test_function_files();
    test_upgrade_identical();
    return t_done();
}
