/* Integration test of the versioned migrations (core/migrate.c) against a
 * real PostgreSQL: order and checksums recorded, re-runs apply nothing, a
 * changed applied migration is refused with nothing new applied, a failing
 * one leaves no trace, two processes migrating at once apply everything
 * exactly once, and the embedded migrations apply on a fresh database. */
#include "core/migrate.h"
#include "tests/lib/harness.h"
#include "tests/lib/t.h"

#include <stdlib.h>
#include <string.h>
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

static void test_concurrent(void)
{
    char *db = th_db_new("migrate_conc");
    static const char SLOW[] = "CREATE TABLE t_slow (id int); SELECT pg_sleep(0.3);";
    const cds_asset list[] = {A("0001_slow.sql", SLOW), A("0002_one.sql", M1)};
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char err[512];
            int rc = cds_migrate_list(db, list, 2, err, sizeof err);
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

int main(void)
{
    test_apply_and_rerun();
    test_concurrent();
    test_embedded();
    return t_done();
}
