/* The procedure catalog end to end: the seed files loaded by the real
 * `cds catalog load` (counts, a second run changing nothing, the defaults
 * relative to the current directory, a bad file refused with the entry named
 * and nothing written, the holidays moving a due date past Tết), then a real
 * `cds serve` answering the public search (without and with diacritics, any
 * word order, sector filter, pagination through everything exactly once,
 * tampered cursors and bad parameters refused), one procedure, the form
 * prefilled from a VNeID login (stand-in of cds-sim) for a level-2 and a
 * level-1 citizen, and the TTHC system's signed updates.
 *
 * Bad `limit` values (0, 101, abc, -1, empty) are answered 400
 * `invalid_limit`: they are malformed query parameters, not a body that
 * failed business rules (422). */
#include "core/hmac_auth.h"
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/t.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define PID_A "079085001234" /* level 2, "Nguyễn Văn An" */
#define PID_C "079201007890" /* level 1 */
#define BUILDING "1.009994"
#define SEED CDS_SOURCE_DIR "/db/seed/catalog.json"
#define HOLIDAYS CDS_SOURCE_DIR "/db/seed/holidays.json"
#define ACCOUNTS CDS_SOURCE_DIR "/db/seed/payment_accounts.json"
#define PARTNER_SECRET "test-secret-for-tthc-hcm" /* the server wants >= 16 bytes */

static th_proc srv;
static th_sim sim;
static char *db;
static json_t *seed;
static size_t n_agencies, n_procedures, n_holidays;

static char *url(const char *path)
{
    static char u[4][2048];
    static int i;
    i = (i + 1) % 4;
    snprintf(u[i], sizeof u[i], "%s%s", srv.url, path);
    return u[i];
}

static long count_rows(const char *sql)
{
    char *v = th_db_value(db, sql);
    long n = v ? strtol(v, NULL, 10) : -1;
    free(v);
    return n;
}

/* First value of a query, in a static buffer ("" for none). */
static const char *dbv(const char *sql)
{
    static char out[512];
    char *v = th_db_value(db, sql);
    snprintf(out, sizeof out, "%s", v ? v : "");
    free(v);
    return out;
}

/* Runs a shell command, returns its exit status and its output (stdout and
 * stderr) in out. */
static int run(const char *cmd, char *out, size_t cap)
{
    char full[2048];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    size_t n = 0;
    if (!p) return -1;
    while (n + 1 < cap) {
        size_t k = fread(out + n, 1, cap - 1 - n, p);
        if (k == 0) break;
        n += k;
    }
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---------------- the loader ---------------- */

static void test_loader(void)
{
    char out[4096], expect[256], cmd[1024];
    setenv("CDS_DATABASE_URL", db, 1);
    CHECK_INT(run(CDS_BUILD_DIR "/cds migrate", out, sizeof out), 0);

    snprintf(cmd, sizeof cmd, "'%s/cds' catalog load --file '%s' --holidays '%s' --accounts '%s'",
             CDS_BUILD_DIR, SEED, HOLIDAYS, ACCOUNTS);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    snprintf(expect, sizeof expect,
             "catalog: %zu agencies, %zu procedures (%zu changed), %zu holidays, "
             "%zu payment accounts changed\n",
             n_agencies, n_procedures, n_procedures, n_holidays, n_agencies);
    CHECK_STR(out, expect);
    CHECK(n_procedures >= 30);
    CHECK_INT(count_rows("SELECT count(*) FROM procedures"), (long)n_procedures);
    CHECK_INT(count_rows("SELECT count(*) FROM agencies"), (long)n_agencies);
    CHECK_INT(count_rows("SELECT count(*) FROM holidays"), (long)n_holidays);

    /* Idempotent: nothing changes, no version moves. */
    CHECK_INT(run(cmd, out, sizeof out), 0);
    snprintf(expect, sizeof expect,
             "catalog: %zu agencies, %zu procedures (0 changed), %zu holidays, "
             "0 payment accounts changed\n",
             n_agencies, n_procedures, n_holidays);
    CHECK_INT(count_rows("SELECT count(*) FROM payment_accounts"), (long)n_agencies);
    CHECK_STR(out, expect);
    CHECK_INT(count_rows("SELECT count(*) FROM procedures WHERE version <> 1"), 0);

    /* The defaults are relative to the current directory. */
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s/cds' catalog load", CDS_SOURCE_DIR, CDS_BUILD_DIR);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    CHECK_STR(out, expect);
    snprintf(cmd, sizeof cmd, "cd /tmp && '%s/cds' catalog load", CDS_BUILD_DIR);
    CHECK_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "db/seed/catalog.json: no such file") != NULL);

    /* The building permit as the brief has it. */
    CHECK_STR(dbv("SELECT concat_ws('|', fee_vnd, online_discount_pct, processing_days, "
                  "ial_required, postal_allowed) FROM procedures WHERE code = '" BUILDING "'"),
              "75000|50|15|2|t");
    CHECK_INT(
        count_rows("SELECT count(*) FROM procedures, jsonb_array_elements(required_documents) d "
                   "WHERE code = '" BUILDING "' AND (d->>'required')::boolean "
                   "AND d->>'code' IN ('gcn_qsdd', 'ban_ve_thiet_ke')"),
        2);
    /* Due dates skip Tết Bính Ngọ (16..20/02/2026) and the weekends around it. */
    CHECK_STR(dbv("SELECT cds_add_working_days('2026-02-12', 3)::text"), "2026-02-24");
    CHECK_STR(dbv("SELECT cds_add_working_days('2025-04-04', 1)::text"), "2025-04-08");

    /* A bad file: refused before the database is touched, the entry named. */
    char bad[256];
    snprintf(bad, sizeof bad, "/tmp/cds_catalog_bad_%d.json", (int)getpid());
    FILE *f = fopen(bad, "w");
    fputs("{\"agencies\":[{\"code\":\"000.00.04.H29\",\"name\":\"Đổi tên\"}],"
          "\"procedures\":[{\"code\":\"X.1\",\"name\":\"Thử\",\"sector\":\"thu\",\"agency_code\":"
          "\"000.00.04.H29\","
          "\"fee_vnd\":\"75000\",\"processing_days\":1}]}",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s/cds' catalog load --file %s --holidays '' --accounts ''",
             CDS_BUILD_DIR, bad);
    CHECK_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "procedures[0] (X.1)") != NULL && strstr(out, "fee_vnd") != NULL);
    /* An unknown agency is found by the database: the whole load rolls back,
     * including the agency renamed before it. */
    f = fopen(bad, "w");
    fputs("{\"agencies\":[{\"code\":\"000.00.04.H29\",\"name\":\"Đổi tên\"}],"
          "\"procedures\":[{\"code\":\"X.1\",\"name\":\"Thử\",\"sector\":\"thu\",\"agency_code\":"
          "\"999.99.99.H29\","
          "\"fee_vnd\":75000,\"processing_days\":1}]}",
          f);
    fclose(f);
    CHECK_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "procedures[0] (X.1)") != NULL && strstr(out, "nothing was written") != NULL);
    CHECK_INT(count_rows("SELECT count(*) FROM agencies WHERE name = 'Đổi tên'"), 0);
    CHECK_INT(count_rows("SELECT count(*) FROM procedures WHERE code = 'X.1'"), 0);
    /* Broken JSON names the line. */
    f = fopen(bad, "w");
    fputs("{\"agencies\":[\n{\"code\":}]}", f);
    fclose(f);
    CHECK_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, ":2:") != NULL);
    unlink(bad);
    snprintf(cmd, sizeof cmd, "'%s/cds' catalog unload", CDS_BUILD_DIR);
    CHECK_INT(run(cmd, out, sizeof out), 2);
}

/* ---------------- search and pagination ---------------- */

static long get(const char *path, json_t **j)
{
    th_resp r;
    long st = th_json(&r, "GET", url(path), NULL, NULL, (void **)j);
    th_resp_free(&r);
    return st;
}

static char *esc(const char *s)
{
    static char out[4][1024];
    static int i;
    i = (i + 1) % 4;
    char *e = curl_easy_escape(NULL, s, 0);
    snprintf(out[i], sizeof out[i], "%s", e ? e : "");
    curl_free(e);
    return out[i];
}

static const char *problem_code(json_t *j)
{
    return json_string_value(json_object_get(j, "code"));
}

/* Codes found by a search, as "code,code,..." (static). */
static const char *search(const char *q, size_t *n)
{
    static char codes[4096];
    char path[1024];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/v1/procedures?limit=100&q=%s", esc(q));
    codes[0] = 0;
    *n = 0;
    if (get(path, &j) != 200) {
        json_decref(j);
        return codes;
    }
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(j, "items"), i, it) {
        size_t len = strlen(codes);
        snprintf(codes + len, sizeof codes - len, "%s%s", len ? "," : "",
                 json_string_value(json_object_get(it, "code")));
        (*n)++;
    }
    json_decref(j);
    return codes;
}

static void test_search(void)
{
    size_t n1, n2, n3, n4;
    char plain[4096];
    snprintf(plain, sizeof plain, "%s", search("giay phep xay dung", &n1));
    CHECK(strstr(plain, BUILDING) != NULL);
    CHECK(n1 >= 5);
    CHECK_STR(search("Giấy phép XÂY DỰNG", &n2), plain);  /* diacritics and case */
    CHECK_STR(search("xây dựng, giấy phép", &n3), plain); /* any order, punctuation */
    CHECK_STR(search("  giay   phep xay dung  ", &n4), plain);
    CHECK(strstr(search("nha o rieng le", &n1), BUILDING) != NULL);
    search("dang ky khai sinh", &n1);
    CHECK_INT(n1, 1);
    search("Đăng ký thường trú", &n1);
    CHECK_INT(n1, 1);
    search("giấy phép lái xe", &n1);
    CHECK_INT(n1, 2);
    search("khong co thu tuc nay", &n1);
    CHECK_INT(n1, 0);
    /* Punctuation (LIKE's % and _ included) only separates words. */
    CHECK_STR(search("giay_phep%xay.dung", &n1), plain);
    search("%_", &n1); /* no word at all: no filter */
    CHECK_INT(n1, (long)(n_procedures < 100 ? n_procedures : 100));
    search("   ", &n1); /* blanks: no filter */
    CHECK_INT(n1, (long)(n_procedures < 100 ? n_procedures : 100));

    /* Every item has the list shape; the online fee is what filing charges. */
    json_t *j = NULL;
    CHECK_INT(get("/v1/procedures?q=giay%20phep%20xay%20dung%20moi", &j), 200);
    json_t *it = json_array_get(json_object_get(j, "items"), 0);
    CHECK_STR(json_string_value(json_object_get(it, "code")), BUILDING);
    CHECK_STR(json_string_value(json_object_get(it, "name")),
              "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ");
    CHECK_STR(json_string_value(json_object_get(it, "sector")), "xay_dung");
    CHECK_INT(json_integer_value(json_object_get(it, "fee_vnd")), 75000);
    CHECK_INT(json_integer_value(json_object_get(it, "online_fee_vnd")), 37500);
    CHECK_INT(json_integer_value(json_object_get(it, "processing_days")), 15);
    CHECK_INT(json_integer_value(json_object_get(it, "identification_level_required")), 2);
    CHECK(json_is_true(json_object_get(it, "postal_allowed")));
    CHECK_STR(json_string_value(json_object_get(json_object_get(it, "agency"), "code")),
              "000.20.01.H29");
    CHECK_STR(json_string_value(json_object_get(json_object_get(it, "agency"), "name")),
              "Ủy ban nhân dân Phường Sài Gòn");
    CHECK(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);

    /* Sector filter, alone and with a query. */
    size_t in_sector = 0, i;
    json_array_foreach(json_object_get(seed, "procedures"), i, it) {
        if (strcmp(json_string_value(json_object_get(it, "sector")), "ho_tich") == 0) in_sector++;
    }
    CHECK_INT(get("/v1/procedures?sector=ho_tich&limit=100", &j), 200);
    CHECK_INT(json_array_size(json_object_get(j, "items")), (long)in_sector);
    json_array_foreach(json_object_get(j, "items"), i, it) {
        CHECK_STR(json_string_value(json_object_get(it, "sector")), "ho_tich");
    }
    json_decref(j);
    CHECK_INT(get("/v1/procedures?sector=ho_tich&q=ket%20hon", &j), 200);
    CHECK_INT(json_array_size(json_object_get(j, "items")), 2);
    json_decref(j);
    CHECK_INT(get("/v1/procedures?sector=khong_co", &j), 200);
    CHECK_INT(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
}

static void test_pagination(void)
{
    char seen[128][40];
    size_t nseen = 0, pages = 0;
    char path[1024] = "/v1/procedures?limit=7", last[40] = "";
    int ordered = 1, dup = 0;
    for (;;) {
        json_t *j = NULL;
        if (get(path, &j) != 200 || ++pages > 50) {
            CHECK(!"a page failed");
            json_decref(j);
            break;
        }
        size_t i;
        json_t *it;
        CHECK(json_array_size(json_object_get(j, "items")) <= 7);
        json_array_foreach(json_object_get(j, "items"), i, it) {
            const char *c = json_string_value(json_object_get(it, "code"));
            for (size_t k = 0; k < nseen; k++)
                dup |= strcmp(seen[k], c) == 0;
            if (strcmp(last, c) >= 0) ordered = 0;
            snprintf(last, sizeof last, "%s", c);
            if (nseen < 128) snprintf(seen[nseen++], sizeof seen[0], "%s", c);
        }
        const char *next = json_string_value(json_object_get(j, "next_cursor"));
        if (!next) {
            CHECK(json_is_null(json_object_get(j, "next_cursor")));
            json_decref(j);
            break;
        }
        snprintf(path, sizeof path, "/v1/procedures?limit=7&cursor=%s", esc(next));
        json_decref(j);
    }
    CHECK_INT(nseen, (long)n_procedures);
    CHECK_INT(pages, (long)((n_procedures + 6) / 7));
    CHECK(ordered);
    CHECK(!dup);
    /* Every procedure of the file was listed. */
    size_t i, missing = 0;
    json_t *p;
    json_array_foreach(json_object_get(seed, "procedures"), i, p) {
        int found = 0;
        for (size_t k = 0; k < nseen; k++)
            found |= strcmp(seen[k], json_string_value(json_object_get(p, "code"))) == 0;
        missing += !found;
    }
    CHECK_INT(missing, 0);

    /* Cursors: a genuine one works with a filter too; altered ones are 400. */
    json_t *j = NULL;
    CHECK_INT(get("/v1/procedures?limit=1", &j), 200);
    char cur[256];
    snprintf(cur, sizeof cur, "%s", json_string_value(json_object_get(j, "next_cursor")));
    json_decref(j);
    snprintf(path, sizeof path, "/v1/procedures?limit=1&cursor=%s", cur);
    CHECK_INT(get(path, &j), 200);
    json_decref(j);
    size_t cl = strlen(cur);
    for (size_t pos = 0; pos < cl; pos += cl / 6 + 1) {
        char t[256];
        snprintf(t, sizeof t, "%s", cur);
        t[pos] = t[pos] == 'A' ? 'B' : 'A';
        snprintf(path, sizeof path, "/v1/procedures?cursor=%s", t);
        CHECK_INT(get(path, &j), 400);
        CHECK_STR(problem_code(j), "invalid_cursor");
        json_decref(j);
    }
    static const char *bad_cursors[] = {"abc", "", "%25%25", "MS4wMDExOTM", "cHJvYzoxLjAwMTE5Mw"};
    for (size_t k = 0; k < sizeof bad_cursors / sizeof bad_cursors[0]; k++) {
        snprintf(path, sizeof path, "/v1/procedures?cursor=%s", bad_cursors[k]);
        CHECK_INT(get(path, &j), 400);
        CHECK(problem_code(j) != NULL);
        json_decref(j);
    }
    /* A cursor is a page position, not a secret: truncated or extended is refused. */
    snprintf(path, sizeof path, "/v1/procedures?cursor=%.*s", (int)cl - 1, cur);
    CHECK_INT(get(path, &j), 400);
    json_decref(j);

    static const char *bad_limits[] = {"0", "101", "abc", "-1", "", "1e2", "007x", "99999999999"};
    for (size_t k = 0; k < sizeof bad_limits / sizeof bad_limits[0]; k++) {
        snprintf(path, sizeof path, "/v1/procedures?limit=%s", bad_limits[k]);
        CHECK_INT(get(path, &j), 400);
        CHECK_STR(problem_code(j), "invalid_limit");
        CHECK(json_string_value(json_object_get(j, "detail")) != NULL);
        json_decref(j);
    }
    CHECK_INT(get("/v1/procedures?limit=100", &j), 200);
    json_decref(j);
    CHECK_INT(get("/v1/procedures", &j), 200);
    CHECK_INT(json_array_size(json_object_get(j, "items")), 20);
    CHECK(json_is_string(json_object_get(j, "next_cursor")));
    json_decref(j);

    char longq[400];
    memset(longq, 'a', 201);
    longq[201] = 0;
    snprintf(path, sizeof path, "/v1/procedures?q=%s", longq);
    CHECK_INT(get(path, &j), 400);
    CHECK_STR(problem_code(j), "invalid_query");
    json_decref(j);
    CHECK_INT(get("/v1/procedures?q=%C3%28", &j), 400); /* not UTF-8 */
    CHECK_STR(problem_code(j), "invalid_query");
    json_decref(j);
    CHECK_INT(get("/v1/procedures?q=%C0%AF", &j), 400); /* overlong */
    json_decref(j);
    CHECK_INT(get("/v1/procedures?q=a%0Ab", &j), 400);
    json_decref(j);
    CHECK_INT(get("/v1/procedures?q=%zz", &j), 400);
    json_decref(j);
    CHECK_INT(get("/v1/procedures?sector=X%C3%A2y", &j), 400);
    CHECK_STR(problem_code(j), "invalid_sector");
    json_decref(j);
}

/* ---------------- one procedure ---------------- */

static void test_get_one(void)
{
    json_t *j = NULL;
    CHECK_INT(get("/v1/procedures/" BUILDING, &j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "name")),
              "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ");
    CHECK_INT(json_integer_value(json_object_get(j, "fee_vnd")), 75000);
    CHECK_INT(json_integer_value(json_object_get(j, "online_discount_pct")), 50);
    CHECK_INT(json_integer_value(json_object_get(j, "online_fee_vnd")), 37500);
    CHECK_INT(json_integer_value(json_object_get(j, "processing_days")), 15);
    CHECK_INT(json_integer_value(json_object_get(j, "identification_level_required")), 2);
    CHECK(json_is_true(json_object_get(j, "postal_allowed")));
    CHECK(json_is_true(json_object_get(j, "active")));
    CHECK_INT(json_integer_value(json_object_get(j, "version")), 1);
    CHECK(json_is_string(json_object_get(j, "updated_at")));
    CHECK(strstr(json_string_value(json_object_get(json_object_get(j, "agency"), "address")),
                 "Phường Sài Gòn") != NULL);
    /* Documents and form exactly as in the seed file (Vietnamese intact). */
    json_t *want = NULL;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(seed, "procedures"), i, p) {
        if (strcmp(json_string_value(json_object_get(p, "code")), BUILDING) == 0) want = p;
    }
    CHECK(want != NULL);
    CHECK(json_equal(json_object_get(j, "required_documents"),
                     json_object_get(want, "required_documents")));
    CHECK(json_equal(json_object_get(j, "form_schema"), json_object_get(want, "form_schema")));
    json_decref(j);

    CHECK_INT(get("/v1/procedures/9.999999", &j), 404);
    CHECK_STR(problem_code(j), "procedure_not_found");
    CHECK(json_string_value(json_object_get(j, "detail")) != NULL);
    json_decref(j);
    CHECK_INT(get("/v1/procedures/a%20b", &j), 404);
    json_decref(j);
    CHECK_INT(get("/v1/procedures/123456789012345678901234567890123", &j), 404);
    json_decref(j);
}

/* ---------------- the prefilled form (VNeID login) ---------------- */

/* Logs a test citizen in (tests/lib/login.c); the access token (static) or NULL. */
static const char *login(const char *pid)
{
    static th_login l;
    return th_login_as(&srv, pid, &l) == 200 ? l.access : NULL;
}

static void test_form(void)
{
    th_resp r;
    json_t *j = NULL;
    CHECK_INT(th_json(&r, "GET", url("/v1/procedures/" BUILDING "/form"), NULL, NULL, (void **)&j),
              401);
    json_decref(j);
    th_resp_free(&r);

    const char *a = login(PID_A);
    CHECK(a != NULL);
    char token[2048];
    snprintf(token, sizeof token, "%s", a ? a : "");
    j = NULL;
    CHECK_INT(th_json(&r, "GET", url("/v1/procedures/" BUILDING "/form"), token, NULL, (void **)&j),
              200);
    CHECK_STR(th_resp_header(&r, "cache-control"), "no-store");
    th_resp_free(&r);
    json_t *proc = json_object_get(j, "procedure"), *v = json_object_get(j, "values");
    CHECK_STR(json_string_value(json_object_get(proc, "code")), BUILDING);
    CHECK_STR(json_string_value(json_object_get(proc, "name")),
              "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ");
    CHECK(json_array_size(json_object_get(j, "fields")) >= 10);
    CHECK_STR(json_string_value(json_object_get(v, "full_name")), "Nguyễn Văn An");
    CHECK_STR(json_string_value(json_object_get(v, "personal_id")), PID_A);
    CHECK_STR(json_string_value(json_object_get(v, "birth_date")), "1985-03-14");
    CHECK_STR(json_string_value(json_object_get(v, "phone")), "0912345678");
    CHECK(strstr(json_string_value(json_object_get(v, "address")), "Nguyễn Huệ") != NULL);
    CHECK(json_object_get(v, "site_address") == NULL); /* nothing to prefill it from */
    CHECK(json_is_true(json_object_get(j, "identification_level_sufficient")));
    CHECK_INT(json_integer_value(json_object_get(j, "identification_level_required")), 2);
    json_decref(j);

    /* A form with a gender option prefilled from VNeID's "male". */
    j = NULL;
    CHECK_INT(th_json(&r, "GET", url("/v1/procedures/1.004194/form"), token, NULL, (void **)&j),
              200);
    th_resp_free(&r);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "values"), "gender")), "male");
    json_decref(j);

    j = NULL;
    CHECK_INT(th_json(&r, "GET", url("/v1/procedures/9.999999/form"), token, NULL, (void **)&j),
              404);
    CHECK_STR(problem_code(j), "procedure_not_found");
    json_decref(j);
    th_resp_free(&r);

    /* A level-1 citizen still gets the form, told the level is not enough. */
    a = login(PID_C);
    CHECK(a != NULL);
    j = NULL;
    CHECK_INT(
        th_json(&r, "GET", url("/v1/procedures/" BUILDING "/form"), a ? a : "", NULL, (void **)&j),
        200);
    th_resp_free(&r);
    CHECK(json_is_false(json_object_get(j, "identification_level_sufficient")));
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "values"), "full_name")),
              "Lê Hoàng Phúc");
    json_decref(j);
    /* ... and for a level-1 procedure it suffices. */
    j = NULL;
    CHECK_INT(
        th_json(&r, "GET", url("/v1/procedures/2.000635/form"), a ? a : "", NULL, (void **)&j),
        200);
    th_resp_free(&r);
    CHECK(json_is_true(json_object_get(j, "identification_level_sufficient")));
    json_decref(j);
}

/* ---------------- the TTHC system's updates ---------------- */

/* A signed PUT; returns the status and the parsed answer in *j. */
/* cond: the precondition header line ("If-Match: \"v1\"", "If-None-Match: *"), or NULL. */
static long partner_put_if(const char *code, const char *cond, const char *body, const char *secret,
                           json_t **j)
{
    char path[256], ts[32], sig[65], h_ts[64], h_sig[96];
    snprintf(path, sizeof path, "/v1/partner/procedures/%s", code);
    long long now = (long long)time(NULL);
    snprintf(ts, sizeof ts, "%lld", now);
    cds_hmac_sign(secret, "PUT", path, now, body, strlen(body), sig);
    snprintf(h_ts, sizeof h_ts, "X-Timestamp: %s", ts);
    snprintf(h_sig, sizeof h_sig, "X-Signature: %s", sig);
    const char *h[] = {"Content-Type: application/json", "X-Client-Id: tthc-hcm", h_ts, h_sig,
                       cond, NULL};
    th_resp r;
    th_http(&r, 2, "PUT", url(path), h, body, strlen(body));
    long st = r.status;
    *j = json_loads(r.body ? r.body : "", 0, NULL);
    th_resp_free(&r);
    return st;
}

/* Creating (or trying to): If-None-Match: *. */
static long partner_put(const char *code, const char *body, const char *secret, json_t **j)
{
    return partner_put_if(code, "If-None-Match: *", body, secret, j);
}

#define NEWP                                                                                         \
    "\"name\":\"Cấp giấy xác nhận thử nghiệm – ưu tiên\",\"sector\":\"thu_nghiem\","  \
    "\"agency_code\":\"000.00.04.H29\",\"processing_days\":2,\"online_discount_pct\":50,"            \
    "\"required_documents\":[{\"code\":\"don\",\"name\":\"Đơn đề nghị\",\"required\":true}]," \
    "\"form_schema\":{\"fields\":[{\"name\":\"ho_ten\",\"label\":\"Họ tên\",\"type\":\"string\"," \
    "\"required\":true,\"prefill\":\"full_name\"}]}"

static void test_partner(void)
{
    json_t *j = NULL;
    CHECK_INT(partner_put("TEST.0001", "{\"code\":\"TEST.0001\"," NEWP ",\"fee_vnd\":30000}",
                          PARTNER_SECRET, &j),
              200);
    CHECK_STR(json_string_value(json_object_get(j, "code")), "TEST.0001");
    CHECK_STR(json_string_value(json_object_get(j, "result")), "changed");
    CHECK_INT(json_integer_value(json_object_get(j, "version")), 1);
    json_decref(j);
    /* The same again (without the code: the path names it): unchanged. */
    CHECK_INT(partner_put_if("TEST.0001", "If-Match: \"v1\"", "{" NEWP ",\"fee_vnd\":30000}",
                             PARTNER_SECRET, &j),
              200);
    CHECK_STR(json_string_value(json_object_get(j, "result")), "unchanged");
    CHECK_INT(json_integer_value(json_object_get(j, "version")), 1);
    json_decref(j);
    CHECK_INT(partner_put_if("TEST.0001", "If-Match: \"v1\"", "{" NEWP ",\"fee_vnd\":40000}",
                             PARTNER_SECRET, &j),
              200);
    CHECK_STR(json_string_value(json_object_get(j, "result")), "changed");
    CHECK_INT(json_integer_value(json_object_get(j, "version")), 2);
    json_decref(j);
    /* Optimistic concurrency: another back office that read v1 is refused
     * and changes nothing; creating what exists is refused; no condition at
     * all is a 428; "*" updates what exists. */
    CHECK_INT(partner_put_if("TEST.0001", "If-Match: \"v1\"", "{" NEWP ",\"fee_vnd\":50000}",
                             PARTNER_SECRET, &j),
              412);
    CHECK_STR(problem_code(j), "precondition_failed");
    json_decref(j);
    CHECK_INT(partner_put("TEST.0001", "{" NEWP ",\"fee_vnd\":50000}", PARTNER_SECRET, &j), 412);
    json_decref(j);
    CHECK_INT(partner_put_if("TEST.0001", NULL, "{" NEWP ",\"fee_vnd\":50000}", PARTNER_SECRET, &j),
              428);
    CHECK_STR(problem_code(j), "precondition_required");
    json_decref(j);
    CHECK_INT(count_rows("SELECT fee_vnd FROM procedures WHERE code = 'TEST.0001'"), 40000);
    {
        th_resp gr;
        CHECK_INT(th_http(&gr, 2, "GET", url("/v1/procedures/TEST.0001"), NULL, NULL, 0), 0);
        const char *etag = th_resp_header(&gr, "etag");
        CHECK_STR(etag, "\"v2\"");
        th_resp_free(&gr);
    }
    CHECK_INT(partner_put_if("TEST.0001", "If-Match: *", "{" NEWP ",\"fee_vnd\":40000}",
                             PARTNER_SECRET, &j),
              200);
    CHECK_STR(json_string_value(json_object_get(j, "result")), "unchanged");
    json_decref(j);
    /* Public at once, Vietnamese intact, found by a folded search. */
    CHECK_INT(get("/v1/procedures/TEST.0001", &j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "name")),
              "Cấp giấy xác nhận thử nghiệm – ưu tiên");
    CHECK_INT(json_integer_value(json_object_get(j, "online_fee_vnd")), 20000);
    json_decref(j);
    size_t n;
    CHECK_STR(search("xac nhan thu nghiem uu tien", &n), "TEST.0001");

    CHECK_INT(partner_put("TEST.0001", "{\"code\":\"TEST.0002\"," NEWP ",\"fee_vnd\":1}",
                          PARTNER_SECRET, &j),
              422);
    CHECK_STR(problem_code(j), "code_mismatch");
    json_decref(j);
    CHECK_INT(partner_put("TEST.0003",
                          "{\"name\":\"Thử\",\"sector\":\"thu\",\"agency_code\":\"999.99.99.H29\","
                          "\"fee_vnd\":1,\"processing_days\":1}",
                          PARTNER_SECRET, &j),
              422);
    CHECK_STR(problem_code(j), "unknown_agency");
    json_decref(j);
    CHECK_INT(partner_put("TEST.0003", "{" NEWP ",\"fee_vnd\":\"1\"}", PARTNER_SECRET, &j), 422);
    CHECK_STR(problem_code(j), "invalid_procedure");
    CHECK(strstr(json_string_value(json_object_get(j, "detail")), "fee_vnd") != NULL);
    json_decref(j);
    CHECK_INT(partner_put("TEST.0003", "[1]", PARTNER_SECRET, &j), 422);
    json_decref(j);
    CHECK_INT(
        partner_put(
            "TEST.0003",
            "{\"name\":\"Thử\",\"sector\":\"thu\",\"agency_code\":\"000.00.04.H29\",\"fee_vnd\":1,"
            "\"processing_days\":1,\"form_schema\":{\"fields\":[{\"name\":\"x\"}]}}",
            PARTNER_SECRET, &j),
        422);
    CHECK_STR(problem_code(j), "invalid_procedure");
    json_decref(j);
    CHECK_INT(partner_put("x_y", "{}", PARTNER_SECRET, &j), 422); /* not a procedure code */
    CHECK_STR(problem_code(j), "invalid_procedure");
    json_decref(j);
    CHECK_INT(partner_put("TEST.0003", "{" NEWP ",\"fee_vnd\":1}", "wrong-secret", &j), 401);
    json_decref(j);
    CHECK_INT(count_rows("SELECT count(*) FROM procedures WHERE code = 'TEST.0003'"), 0);
    th_resp r;
    j = NULL;
    CHECK_INT(th_json(&r, "PUT", url("/v1/partner/procedures/TEST.0001"), NULL, "{}", (void **)&j),
              401);
    json_decref(j);
    th_resp_free(&r);

    /* Reloading the seed leaves the partner's procedure alone. */
    char cmd[1024], out[1024];
    snprintf(cmd, sizeof cmd, "'%s/cds' catalog load --file '%s' --holidays '%s' --accounts ''",
             CDS_BUILD_DIR, SEED, HOLIDAYS);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "(0 changed)") != NULL);
    CHECK_INT(count_rows("SELECT version FROM procedures WHERE code = 'TEST.0001'"), 2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    json_error_t e;
    seed = json_load_file(SEED, 0, &e);
    json_t *hol = json_load_file(HOLIDAYS, 0, &e);
    if (!seed || !hol) {
        fprintf(stderr, "cannot read the seed files: %s\n", e.text);
        return 1;
    }
    n_agencies = json_array_size(json_object_get(seed, "agencies"));
    n_procedures = json_array_size(json_object_get(seed, "procedures"));
    n_holidays = json_array_size(hol);
    json_decref(hol);
    db = th_db_new("catalog");
    test_loader();

    const char *standins[] = {"vneid", NULL};
    if (th_sim_start(&sim, standins, NULL) != 0) return 1;
    char iss[128], keys[300], keys_dir[256];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    snprintf(keys_dir, sizeof keys_dir, "%s/Testing/keys_%d", CDS_BUILD_DIR, (int)getpid());
    snprintf(keys, sizeof keys, "CDS_DEV_KEYS_DIR=%s", keys_dir);
    const char *env[] = {iss, keys, "CDS_AUTO_MIGRATE=1",
                         "CDS_PARTNER_CLIENTS=tthc-hcm:" PARTNER_SECRET, NULL};
    if (th_server_start(&srv, db, env) != 0) {
        th_sim_stop(&sim);
        return 1;
    }
    test_search();
    test_pagination();
    test_get_one();
    test_form();
    test_partner();
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    CHECK_INT(th_sim_stop(&sim), 0);
    json_decref(seed);
    free(db);
    curl_global_cleanup();
    return t_done();
}
