/* Attacks on the API that the server holds, as regression tests over real
 * sockets (`cds serve` with a real PostgreSQL and the VNeID stand-in, libcurl
 * over HTTP/1.1 and h2c):
 *   - route path traversal: dot segments sent as is (`/r/../v1/me`) and
 *     percent-encoded (`%2e%2e%2f`) never reach another route or a file;
 *   - our own access tokens re-signed with our real key but the wrong `iss` or
 *     `aud`, a refresh token presented as an access token and the reverse;
 *   - pagination cursors: tampered, forged under another key, and signed with
 *     the real key but carrying SQL, are a 400 problem and run nothing;
 *   - the per-address rate limits ignore X-Forwarded-For, X-Real-IP and
 *     Forwarded from a peer that is not a trusted proxy (none is).
 * Each case also checks that the honest request still works afterwards. */
#include "core/cursor.h"
#include "core/devkeys.h"
#include "core/jose.h"
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/t.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* 32 bytes, base64: the server signs cursors with it, and so can this test. */
#define CURSOR_KEY_B64 "b3BzZWMtY3Vyc29yLWtleS0wMTIzNDU2Nzg5YWJjZGU="
#define PID_A "079085001234" /* a citizen the VNeID stand-in knows */

static th_proc srv;
static th_sim sim;
static char *db;
static char keys_dir[256];
static th_login A;

typedef struct resp {
    long status;
    char body[65536];
    size_t len;
    char ctype[128];
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t k = sz * n, room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, k < room ? k : room);
    r->len += k < room ? k : room;
    r->body[r->len] = 0;
    return sz * n;
}

/* One request with the path sent exactly as written (no dot-segment
 * squashing by the client). http: 1 or 2 (h2c prior knowledge). */
static long req(resp *out, int http, const char *method, const char *path, const char *bearer,
                const char *const *headers, const char *body)
{
    memset(out, 0, sizeof *out);
    char u[2048], auth[2200];
    snprintf(u, sizeof u, "%s%s", srv.url, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, auth);
    }
    for (size_t i = 0; headers && headers[i]; i++) h = curl_slist_append(h, headers[i]);
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                     http == 2 ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(out->ctype, sizeof out->ctype, "%s", ct ? ct : "");
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return out->status;
}

static int is_problem(const resp *r, const char *code)
{
    if (strcmp(r->ctype, "application/problem+json") != 0) return 0;
    if (!code) return 1;
    char want[96];
    snprintf(want, sizeof want, "\"code\":\"%s\"", code);
    return strstr(r->body, want) != NULL;
}

static void me_works(const char *after)
{
    resp r;
    req(&r, 2, "GET", "/v1/me", A.access, NULL, NULL);
    if (r.status != 200) fprintf(stderr, "after %s: GET /v1/me is %ld\n", after, r.status);
    CHECK_INT(r.status, 200);
}

/* -------------------------------------------------------- invalid UTF-8 */

/* A JSON body with invalid UTF-8 where the parser stops: a 400 problem, not
 * a server that aborts while writing the error (fuzz_conn found it). */
static void test_bad_utf8_json(void)
{
    static const char *bodies[] = {"{\"\\\xde\xbe", "{\"refresh_token\":\"\xff\xfe\"}", "\xc3\x28"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        for (int http = 1; http <= 2; http++) {
            resp r;
            long st = req(&r, http, "POST", "/v1/auth/refresh", NULL, NULL, bodies[i]);
            if (st != 400) fprintf(stderr, "invalid UTF-8 body %zu (h%d): %ld\n", i, http, st);
            CHECK_INT(st, 400);
            CHECK(is_problem(&r, "invalid_json"));
            json_t *j = json_loads(r.body, 0, NULL); /* the problem is JSON */
            CHECK(j != NULL);
            json_decref(j);
        }
    me_works("invalid UTF-8 bodies");
}

/* ------------------------------------------------------------ traversal */

static void test_path_traversal(void)
{
    /* What /v1/me shows A: no traversal may reach it. */
    resp me;
    CHECK_INT(req(&me, 1, "GET", "/v1/me", A.access, NULL, NULL), 200);
    const char *cases[] = {
        "/r/../v1/me",
        "/r/./../v1/me",
        "/v1/receipts/../../v1/me",
        "/v1/./me",
        "/v1/me/../me",
        "/lookup/../v1/me",
        "/r/..%2fv1%2fme",
        "/r/%2e%2e%2fv1%2fme",
        "/r/%2e%2e/v1/me",
        "/%2e%2e/v1/me",
        "/v1/%2e%2e/v1/me",
        "/v1/attachments/..%2f..%2f..%2fetc%2fpasswd",
        "/v1/attachments/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/v1/receipts/..%2f..%2fv1%2fme/pdf",
        "/v1/receipt-keys/..%2f..%2fkeys%2ftoken-es256.pem",
        "/v1/lookup/..%2f..%2fv1%2fme",
        "/openapi.yaml/../../etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/v1/me%00",
        "/v1/me/%2e",
    };
    for (int http = 1; http <= 2; http++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            resp r;
            long st = req(&r, http, "GET", cases[i], A.access, NULL, NULL);
            int refused = st >= 400 && st < 500;
            int leaked = strstr(r.body, "root:") || strstr(r.body, "PRIVATE KEY") ||
                         (me.len > 2 && strstr(r.body, me.body));
            if (!refused || leaked)
                fprintf(stderr, "traversal %s (h%d): %ld %s\n%.300s\n", cases[i], http, st, r.ctype,
                        r.body);
            CHECK(refused);
            CHECK(!leaked);
            /* The JSON API's refusals are problems; /r/ and /lookup/ are HTML pages. */
            if (strncmp(cases[i], "/r/", 3) != 0 && strncmp(cases[i], "/lookup/", 8) != 0)
                CHECK(is_problem(&r, NULL));
        }
    /* Dot segments sent as is reach no route at all: 404 route_not_found. */
    resp r;
    CHECK_INT(req(&r, 1, "GET", "/r/../v1/me", A.access, NULL, NULL), 404);
    CHECK(is_problem(&r, "route_not_found"));
    CHECK_INT(req(&r, 2, "GET", "/r/../v1/me", A.access, NULL, NULL), 404);
    CHECK(is_problem(&r, "route_not_found"));
    me_works("path traversal");
}

/* --------------------------------------------------------------- tokens */

static char *resign(const json_t *claims, const char *kid)
{
    char path[300];
    snprintf(path, sizeof path, "%s/token-es256.pem", keys_dir);
    EVP_PKEY *ours = cds_pkey_from_pem(path);
    CHECK(ours != NULL);
    char *t = ours ? cds_jws_sign(ours, CDS_ALG_ES256, kid, (json_t *)claims) : NULL;
    EVP_PKEY_free(ours);
    return t;
}

static long me_status(const char *token, resp *r)
{
    return req(r, 2, "GET", "/v1/me", token, NULL, NULL);
}

static void test_tokens(void)
{
    cds_jwt jwt;
    const char *err;
    CHECK(cds_jwt_parse(A.access, strlen(A.access), &jwt, &err) == 0);
    json_t *claims = json_deep_copy(jwt.claims);
    char kid[128];
    snprintf(kid, sizeof kid, "%s", jwt.kid);
    cds_jwt_free(&jwt);
    resp r;

    /* Control: the same claims re-signed here with our key are accepted, so
     * each refusal below is the claim's doing, not the signing. */
    char *t = resign(claims, kid);
    CHECK_INT(me_status(t, &r), 200);
    free(t);

    struct {
        const char *claim;
        json_t *value; /* NULL: claim removed */
    } bad[] = {
        {"iss", json_string("https://attacker.example")},
        {"iss", json_string(th_sim_url(&sim, "vneid"))}, /* VNeID's issuer, not ours */
        {"iss", NULL},
        {"aud", json_string("cds-partner")},
        {"aud", json_string("cds-app ")},
        {"aud", json_pack("[s]", "someone-else")},
        {"aud", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *c = json_deep_copy(claims);
        if (bad[i].value) json_object_set_new(c, bad[i].claim, bad[i].value);
        else json_object_del(c, bad[i].claim);
        t = resign(c, kid);
        long st = me_status(t, &r);
        if (st != 401) fprintf(stderr, "token with bad %s (case %zu): %ld\n", bad[i].claim, i, st);
        CHECK_INT(st, 401);
        CHECK(is_problem(&r, NULL));
        free(t);
        json_decref(c);
    }
    json_decref(claims);

    /* A refresh token is not an access token, on any route that needs one. */
    CHECK_INT(me_status(A.refresh, &r), 401);
    CHECK(is_problem(&r, NULL));
    CHECK_INT(req(&r, 1, "GET", "/v1/dossiers", A.refresh, NULL, NULL), 401);
    CHECK_INT(req(&r, 1, "GET", "/v1/receipts", A.refresh, NULL, NULL), 401);
    /* Nor is an access token a refresh token. */
    char body[2400];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", A.access);
    CHECK_INT(req(&r, 2, "POST", "/v1/auth/refresh", NULL, NULL, body), 401);
    CHECK(is_problem(&r, "refresh_token_invalid"));
    /* Both still work for what they are. */
    me_works("token attacks");
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", A.refresh);
    CHECK_INT(req(&r, 2, "POST", "/v1/auth/refresh", NULL, NULL, body), 200);
    json_t *j = json_loads(r.body, 0, NULL);
    const char *na = json_string_value(json_object_get(j, "access_token"));
    const char *nr = json_string_value(json_object_get(j, "refresh_token"));
    CHECK(na && nr);
    if (na) snprintf(A.access, sizeof A.access, "%s", na);
    if (nr) snprintf(A.refresh, sizeof A.refresh, "%s", nr);
    json_decref(j);
    me_works("a refresh");
}

/* -------------------------------------------------------------- cursors */

static char *b64url(const char *s, size_t n)
{
    static char out[1024];
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16 | (i + 1 < n ? (unsigned char)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? (unsigned char)s[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        if (i + 1 < n) out[o++] = a[v >> 6 & 63];
        if (i + 2 < n) out[o++] = a[v & 63];
    }
    out[o] = 0;
    return out;
}

static char *pct(const char *s)
{
    static char out[2048];
    size_t o = 0;
    for (; *s && o + 4 < sizeof out; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_' || c == '.')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, sizeof out - o, "%%%02X", c);
    }
    out[o] = 0;
    return out;
}

static long tables(void)
{
    return th_db_count(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
}

/* GET `list`?cursor=<cursor> is a 400 invalid_cursor. */
static void cursor_refused(const char *what, const char *list, const char *cursor)
{
    char path[2400];
    snprintf(path, sizeof path, "%s?cursor=%s", list, pct(cursor));
    resp r;
    long st = req(&r, 2, "GET", path, A.access, NULL, NULL);
    if (st != 400 || !is_problem(&r, "invalid_cursor"))
        fprintf(stderr, "cursor %s on %s: %ld %.200s\n", what, list, st, r.body);
    CHECK_INT(st, 400);
    CHECK(is_problem(&r, "invalid_cursor"));
}

static void test_cursors(void)
{
    long tables0 = tables(), procs0 = th_db_count(db, "SELECT count(*) FROM procedures");
    CHECK(procs0 > 2);
    unsigned char key[32];
    CHECK(cds_b64_exact(CURSOR_KEY_B64, key, 32) == 0);
    cds_cursor_set_key(key);

    /* A real cursor from the catalog (public), and its second page. */
    resp r;
    CHECK_INT(req(&r, 2, "GET", "/v1/procedures?limit=1", NULL, NULL, NULL), 200);
    json_t *j = json_loads(r.body, 0, NULL);
    char real[512] = "";
    const char *nc = json_string_value(json_object_get(j, "next_cursor"));
    if (nc) snprintf(real, sizeof real, "%s", nc);
    json_decref(j);
    CHECK(real[0] != 0);
    char path[2400];
    snprintf(path, sizeof path, "/v1/procedures?limit=1&cursor=%s", pct(real));
    CHECK_INT(req(&r, 2, "GET", path, NULL, NULL, NULL), 200);

    /* Tampered: each byte of the real cursor changed in turn. */
    size_t n = strlen(real);
    int all = 1;
    for (size_t i = 0; i < n; i++) {
        char t[512];
        memcpy(t, real, n + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        snprintf(path, sizeof path, "/v1/procedures?limit=1&cursor=%s", pct(t));
        req(&r, 2, "GET", path, NULL, NULL, NULL);
        if (r.status != 400 || !is_problem(&r, "invalid_cursor")) {
            fprintf(stderr, "tampered cursor byte %zu: %ld\n", i, r.status);
            all = 0;
        }
    }
    CHECK(all);

    /* Forged: SQL in the position, with a made-up tag or none. */
    static const char *sql[] = {
        "proc:x' OR '1'='1",
        "proc:1.000001'; DROP TABLE procedures; --",
        "2026-01-01T00:00:00+07:00' OR 1=1 --|00000000-0000-0000-0000-000000000000",
        "1); DELETE FROM dossiers; --",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        char raw[600];
        int m = snprintf(raw, sizeof raw, "%s.AAAAAAAAAAAAAAAAAAAAAA", sql[i]);
        cursor_refused("forged tag", "/v1/procedures", b64url(raw, (size_t)m));
        cursor_refused("forged tag", "/v1/dossiers", b64url(raw, (size_t)m));
        cursor_refused("no tag", "/v1/notifications", b64url(sql[i], strlen(sql[i])));
        cursor_refused("plain SQL", "/v1/receipts", sql[i]);
    }
    /* Signed with the real key (as if it had leaked): the position itself is
     * checked before it reaches a query, and queries take it as a parameter. */
    static const char *signed_sql[] = {
        "proc:x' OR '1'='1",
        "proc:1'; DROP TABLE procedures; --",
        "2026-01-01T00:00:00+07:00' OR '1'='1|00000000-0000-4000-8000-000000000000",
        "'; DROP TABLE dossiers; --|00000000-0000-4000-8000-000000000000",
        "2026-01-01 00:00:00+07|x'; DROP TABLE receipts; --",
    };
    for (size_t i = 0; i < sizeof signed_sql / sizeof signed_sql[0]; i++) {
        char c[600];
        CHECK_INT(cds_cursor_encode(signed_sql[i], c, sizeof c), 0);
        cursor_refused("signed SQL", "/v1/procedures", c);
        cursor_refused("signed SQL", "/v1/dossiers", c);
        cursor_refused("signed SQL", "/v1/receipts", c);
        cursor_refused("signed SQL", "/v1/notifications", c);
    }
    /* One list's cursor is not another's. */
    cursor_refused("catalog cursor on dossiers", "/v1/dossiers", real);
    /* Nothing ran. */
    CHECK_INT(tables(), tables0);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM procedures"), procs0);
    CHECK_INT(req(&r, 2, "GET", path, NULL, NULL, NULL), 400);
    snprintf(path, sizeof path, "/v1/procedures?limit=1&cursor=%s", pct(real));
    CHECK_INT(req(&r, 2, "GET", path, NULL, NULL, NULL), 200);
    CHECK_INT(req(&r, 2, "GET", "/v1/dossiers", A.access, NULL, NULL), 200);
}

/* ----------------------------------------------------------- rate limit */

static void test_forwarded_for(void)
{
    /* Burst 3 per client address (CDS_LOOKUP_BURST, CDS_RECEIPT_CHECK_BURST). */
    /* Header and address prefix; the request number completes the address. */
    const char *spoof[] = {"X-Forwarded-For: 203.0.113.", "X-Real-IP: 198.51.100.",
                           "Forwarded: for=192.0.2.", "X-Forwarded-For: 127.0.0.1, 10.0.0.",
                           "True-Client-IP: 192.0.2.", "X-Client-IP: 203.0.113."};
    /* Route prefix and suffix around the request number: dossier codes that
     * do not exist with a well-formed 10-character secret, and receipt ids
     * of no receipt, so each request that is let through is a 4xx. */
    const char *routes[][2] = {{"/v1/lookup/HS-NO-SUCH-", "?secret=7K3M9QX2PA"},
                               {"/v1/receipt-checks/00000000-0000-4000-8000-0000000000", "?n=00000001&s=AAAA"}};
    for (size_t k = 0; k < sizeof routes / sizeof routes[0]; k++) {
        int limited = 0, first = -1;
        for (int i = 0; i < 12; i++) {
            char h[96], path[160];
            snprintf(h, sizeof h, "%s%d", spoof[(size_t)i % (sizeof spoof / sizeof spoof[0])], i + 1);
            snprintf(path, sizeof path, "%s%02d%s", routes[k][0], i, routes[k][1]);
            const char *hs[] = {h, NULL};
            resp r;
            req(&r, i % 2 + 1, "GET", path, NULL, hs, NULL);
            if (r.status == 429) {
                if (first < 0) first = i;
                limited++;
                CHECK(is_problem(&r, "too_many_requests"));
            }
        }
        /* Three pass (4xx not found), then every one is limited, whatever the
         * headers claim: the limit is keyed on the socket's peer. */
        if (first != 3 || limited != 9)
            fprintf(stderr, "%s: first 429 at %d, %d limited\n", routes[k][0], first, limited);
        CHECK_INT(first, 3);
        CHECK_INT(limited, 9);
    }
    /* Other routes are not limited by it. */
    me_works("the rate-limit test");
    resp r;
    CHECK_INT(req(&r, 1, "GET", "/healthz", NULL, NULL, NULL), 200);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    mkdir(CDS_BUILD_DIR "/Testing", 0755);
    db = th_db_new("attacks");
    snprintf(keys_dir, sizeof keys_dir, "%s/Testing/keys_attacks_%d", CDS_BUILD_DIR, (int)getpid());
    const char *vs[] = {"vneid", NULL};
    if (th_sim_start(&sim, vs, NULL) != 0) return 1;
    char iss[128], keys[300];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    snprintf(keys, sizeof keys, "CDS_DEV_KEYS_DIR=%s", keys_dir);
    const char *env[] = {iss, keys, "CDS_AUTO_MIGRATE=1", "CDS_CURSOR_KEY=" CURSOR_KEY_B64,
                         "CDS_LOOKUP_BURST=3", "CDS_LOOKUP_PER_MINUTE=1",
                         "CDS_RECEIPT_CHECK_BURST=3", "CDS_RECEIPT_CHECK_PER_MINUTE=1", NULL};
    if (th_server_start(&srv, db, env) != 0) return 1;
    /* The procedure catalog, loaded by the real command. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && CDS_DATABASE_URL='%s' '%s/cds' catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(th_login_as(&srv, PID_A, &A), 200);
    test_forwarded_for(); /* first: the traversal cases spend the same limits */
    test_path_traversal();
    test_tokens();
    test_cursors();
    test_bad_utf8_json();
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    free(db);
    curl_global_cleanup();
    return t_done();
}
