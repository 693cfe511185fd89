/* Pure logic of the core: route templates (parameters, 405 Allow lists,
 * HEAD on GET routes, trailing slashes), log scrubbing of personal ID
 * numbers, phone numbers and tokens, ID masking, the options parser and the
 * per-request arena. */
#include "core/arena.h"
#include "core/log.h"
#include "core/options.h"
#include "core/router.h"
#include "tests/lib/t.h"

#include <stdlib.h>
#include <string.h>

static void h(cds_req *r) { (void)r; }

static void test_router(void)
{
    static const cds_route routes[] = {
        {"GET", "/v1/dossiers", h, 0},
        {"POST", "/v1/dossiers", h, 0},
        {"GET", "/v1/dossiers/{id}", h, 0},
        {"DELETE", "/v1/dossiers/{id}", h, 0},
        {"GET", "/v1/dossiers/{id}/attachments/{att}", h, 0},
        {"GET", "/", h, 0},
    };
    cds_router *r = cds_router_new(routes, 6);
    CHECK(r != NULL);
    cds_match m;
    const char *p = "/v1/dossiers/HCM-123/attachments/a%2Fb";
    CHECK_INT(cds_router_match(r, "GET", p, strlen(p), &m), CDS_ROUTE_FOUND);
    CHECK_INT(m.index, 4);
    CHECK_INT(m.nparams, 2);
    CHECK_STR(m.names[0], "id");
    CHECK(m.len[0] == 7 && memcmp(m.start[0], "HCM-123", 7) == 0);
    CHECK(m.len[1] == 5 && memcmp(m.start[1], "a%2Fb", 5) == 0);

    p = "/v1/dossiers";
    CHECK_INT(cds_router_match(r, "POST", p, strlen(p), &m), CDS_ROUTE_FOUND);
    CHECK_INT(m.index, 1);
    CHECK_INT(cds_router_match(r, "HEAD", p, strlen(p), &m), CDS_ROUTE_FOUND);
    CHECK_INT(m.index, 0);
    CHECK_INT(cds_router_match(r, "PUT", p, strlen(p), &m), CDS_ROUTE_BAD_METHOD);
    CHECK_STR(m.allow, "GET, HEAD, POST");
    p = "/v1/dossiers/7";
    CHECK_INT(cds_router_match(r, "PATCH", p, strlen(p), &m), CDS_ROUTE_BAD_METHOD);
    CHECK_STR(m.allow, "GET, HEAD, DELETE");
    p = "/v1/dossiers/";
    CHECK_INT(cds_router_match(r, "GET", p, strlen(p), &m), CDS_ROUTE_FOUND); /* trailing slash */
    CHECK_INT(m.index, 0);
    p = "/v1/dossiers//x";
    CHECK_INT(cds_router_match(r, "GET", p, strlen(p), &m), CDS_ROUTE_NOT_FOUND);
    p = "/v1/dossiers/1/2";
    CHECK_INT(cds_router_match(r, "GET", p, strlen(p), &m), CDS_ROUTE_NOT_FOUND);
    p = "/v1";
    CHECK_INT(cds_router_match(r, "GET", p, strlen(p), &m), CDS_ROUTE_NOT_FOUND);
    p = "/";
    CHECK_INT(cds_router_match(r, "GET", p, strlen(p), &m), CDS_ROUTE_FOUND);
    CHECK_INT(m.index, 5);
    p = "";
    CHECK_INT(cds_router_match(r, "GET", p, 0, &m), CDS_ROUTE_NOT_FOUND);
    p = "v1/dossiers";
    CHECK_INT(cds_router_match(r, "GET", p, strlen(p), &m), CDS_ROUTE_NOT_FOUND);
    cds_router_free(r);

    static const cds_route bad[] = {{"GET", "no-slash", h, 0}};
    CHECK(cds_router_new(bad, 1) == NULL);
}

static void test_scrub(void)
{
    char s[256];
    snprintf(s, sizeof s, "citizen 079201001234 phone 0912345678 dossier 12345");
    cds_scrub(s);
    CHECK_STR(s, "citizen *********234 phone *******678 dossier 12345");
    snprintf(s, sizeof s, "auth Bearer abc.def-ghi and token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.sig end");
    cds_scrub(s);
    CHECK(strstr(s, "abc.def") == NULL);
    CHECK(strstr(s, "eyJhbGci") == NULL);
    CHECK(strstr(s, " end") != NULL);
    char m[32];
    cds_mask_id("079201001234", m, sizeof m);
    CHECK_STR(m, "*********234");
    cds_mask_id("12", m, sizeof m);
    CHECK_STR(m, "12");
    char ts[40];
    cds_time_rfc3339(ts, sizeof ts);
    CHECK(strlen(ts) == 29 && strcmp(ts + 23, "+07:00") == 0 && ts[10] == 'T');
}

static void test_options(void)
{
    const char *host = "127.0.0.1";
    int port = 8080;
    size_t cap = 10;
    const cds_opt opts[] = {
        {"host", "CDS_T_HOST", CDS_OPT_STR, &host, 0, 0, "h"},
        {"port", "CDS_T_PORT", CDS_OPT_INT, &port, 0, 65535, "p"},
        {"cap", NULL, CDS_OPT_SIZE, &cap, 1, 100, "c"},
    };
    char err[128];
    setenv("CDS_T_PORT", "9000", 1);
    char *argv1[] = {"x", "serve", "--host", "0.0.0.0", "--cap=50"};
    CHECK_INT(cds_opts_parse(opts, 3, 5, argv1, 2, err, sizeof err), 0);
    CHECK_STR(host, "0.0.0.0");
    CHECK_INT(port, 9000);
    CHECK_INT(cap, 50);
    char *argv2[] = {"x", "serve", "--port", "70000"};
    CHECK_INT(cds_opts_parse(opts, 3, 4, argv2, 2, err, sizeof err), -1);
    CHECK(strstr(err, "70000") != NULL);
    char *argv3[] = {"x", "serve", "--port", "80x"};
    CHECK_INT(cds_opts_parse(opts, 3, 4, argv3, 2, err, sizeof err), -1);
    char *argv4[] = {"x", "serve", "--nope", "1"};
    CHECK_INT(cds_opts_parse(opts, 3, 4, argv4, 2, err, sizeof err), -1);
    char *argv5[] = {"x", "serve", "--port"};
    CHECK_INT(cds_opts_parse(opts, 3, 3, argv5, 2, err, sizeof err), -1);
    char *argv6[] = {"x", "serve", "--help"};
    CHECK_INT(cds_opts_parse(opts, 3, 3, argv6, 2, err, sizeof err), 1);
    setenv("CDS_T_PORT", "abc", 1);
    char *argv7[] = {"x", "serve"};
    CHECK_INT(cds_opts_parse(opts, 3, 2, argv7, 2, err, sizeof err), -2); /* the environment's */
    CHECK(strstr(err, "CDS_T_PORT") != NULL);
    unsetenv("CDS_T_PORT");
}

static void test_arena(void)
{
    cds_arena a = {0};
    char *p = cds_arena_alloc(&a, 10);
    memset(p, 1, 10);
    char *big = cds_arena_alloc(&a, 100000);
    memset(big, 2, 100000);
    char *q = cds_arena_alloc(&a, 10);
    memset(q, 3, 10);
    CHECK(((uintptr_t)q & 15) == 0);
    CHECK(p[9] == 1 && big[99999] == 2);
    CHECK_STR(cds_arena_strndup(&a, "xin chào", 3), "xin");
    cds_arena_free(&a);
    CHECK(a.head == NULL);
}

int main(void)
{
    test_router();
    test_scrub();
    test_options();
    test_arena();
    return t_done();
}
