/* Login with VNeID end to end, over real sockets: `cds serve` with its
 * database and the VNeID stand-in of `cds-sim`. The whole flow (start,
 * authorize page or login_hint, callback, /v1/me), personal data sealed at
 * rest, every ID-token check with its own forged token, state and code
 * reuse, JWKS rotation and outage, the userinfo-only mode, refresh rotation
 * and reuse, logout reaching a second node, our own access token forged,
 * stale or given its flipped-s twin signature, the profile and devices scoped to their owner, and logs free of
 * personal ID numbers and tokens. */
#include "core/jose.h"
#include "tests/lib/harness.h"
#include "tests/lib/jws_twin.h"
#include "tests/lib/login.h"
#include "tests/lib/t.h"

#include <curl/curl.h>
#include <time.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PID_A "079085001234" /* level 2 */
#define PID_B "079192004567" /* level 2 */
#define PID_C "079201007890" /* level 1 */
#define PID_D "079178002345" /* level 1, no phone */
#define PID_G "079090003210" /* never logs in successfully: used by the forged-token tests */

static th_proc srv, srv2;
static th_sim sim;
static char *db;
static char keys_dir[256];
static char vneid[64];

static char *url(const th_proc *p, const char *path)
{
    static char u[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(u[i], sizeof u[i], "%s%s", p->url, path);
    return u[i];
}

static char *vurl(const char *path)
{
    static char u[256];
    snprintf(u, sizeof u, "%s%s", vneid, path);
    return u;
}

static void sim_post(const char *path, const char *body)
{
    th_resp r;
    th_json(&r, "POST", vurl(path), NULL, body, NULL);
    if (r.status != 200 && r.status != 204) fprintf(stderr, "sim %s: %ld %s\n", path, r.status, r.body);
    th_resp_free(&r);
}

typedef struct login_result {
    long status;
    char code[600], state[200];
    char access[2048], refresh[128];
    char problem[64];
} login_result;

/* Starts a login on server p and gets a code from VNeID for citizen `pid`. */
static int get_code(const th_proc *p, const char *pid, login_result *lr)
{
    th_resp r;
    json_t *j = NULL;
    memset(lr, 0, sizeof *lr);
    long st = th_json(&r, "POST", url(p, "/v1/auth/login"), NULL, "{\"identification_level\":2}", (void **)&j);
    const char *az = json_string_value(json_object_get(j, "authorization_url"));
    const char *state = json_string_value(json_object_get(j, "state"));
    int ok = st == 200 && az && state;
    char target[2048] = "";
    if (ok) {
        snprintf(lr->state, sizeof lr->state, "%s", state);
        snprintf(target, sizeof target, "%s&login_hint=%s", az, pid);
    }
    json_decref(j);
    th_resp_free(&r);
    if (!ok) return -1;
    th_http(&r, 1, "GET", target, NULL, NULL, 0);
    const char *loc = th_resp_header(&r, "location");
    ok = r.status == 302 && loc && strncmp(loc, "cdsapp://auth/callback?", 23) == 0 &&
         th_query_param(loc, "code", lr->code, sizeof lr->code) == 0;
    char st2[200];
    if (ok) ok = th_query_param(loc, "state", st2, sizeof st2) == 0 && strcmp(st2, lr->state) == 0;
    th_resp_free(&r);
    return ok ? 0 : -1;
}

static long finish(const th_proc *p, login_result *lr)
{
    th_resp r;
    json_t *j = NULL;
    char body[1024];
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"state\":\"%s\"}", lr->code, lr->state);
    lr->status = th_json(&r, "POST", url(p, "/v1/auth/callback"), NULL, body, (void **)&j);
    const char *a = json_string_value(json_object_get(j, "access_token"));
    const char *rt = json_string_value(json_object_get(j, "refresh_token"));
    const char *code = json_string_value(json_object_get(j, "code"));
    if (a) snprintf(lr->access, sizeof lr->access, "%s", a);
    if (rt) snprintf(lr->refresh, sizeof lr->refresh, "%s", rt);
    if (code) snprintf(lr->problem, sizeof lr->problem, "%s", code);
    json_decref(j);
    th_resp_free(&r);
    return lr->status;
}

static long login(const th_proc *p, const char *pid, login_result *lr)
{
    if (get_code(p, pid, lr) != 0) return -1;
    return finish(p, lr);
}

static long get_me(const th_proc *p, const char *access, json_t **me)
{
    th_resp r;
    long st = th_json(&r, "GET", url(p, "/v1/me"), access, NULL, (void **)me);
    th_resp_free(&r);
    return st;
}

static long count_rows(const char *sql)
{
    char *v = th_db_value(db, sql);
    long n = v ? strtol(v, NULL, 10) : -1;
    free(v);
    return n;
}

static long sim_count(const char *path)
{
    th_resp r;
    th_http(&r, 1, "GET", vurl("/_sim/requests?limit=10000"), NULL, NULL, 0);
    json_t *j = json_loads(r.body, 0, NULL);
    th_resp_free(&r);
    long n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(j, "items"), i, it) {
        const char *p = json_string_value(json_object_get(it, "path"));
        if (p && strcmp(p, path) == 0) n++;
    }
    json_decref(j);
    return n;
}

/* ---------------- the happy paths ---------------- */

static login_result A;

static void test_flow(void)
{
    CHECK_INT(login(&srv, PID_A, &A), 200);
    CHECK(strlen(A.access) > 100 && strlen(A.refresh) >= 43);
    json_t *me = NULL;
    CHECK_INT(get_me(&srv, A.access, &me), 200);
    CHECK_STR(json_string_value(json_object_get(me, "personal_id")), PID_A);
    CHECK_STR(json_string_value(json_object_get(me, "full_name")), "Nguyễn Văn An");
    CHECK_STR(json_string_value(json_object_get(me, "birth_date")), "1985-03-14");
    CHECK_STR(json_string_value(json_object_get(me, "gender")), "male");
    CHECK_STR(json_string_value(json_object_get(me, "phone")), "0912345678");
    CHECK(strstr(json_string_value(json_object_get(me, "address")), "Nguyễn Huệ") != NULL);
    CHECK_INT(json_integer_value(json_object_get(me, "identification_level")), 2);
    json_decref(me);

    /* Personal data is sealed at rest and found by its keyed hash only. */
    CHECK_INT(count_rows("SELECT count(*) FROM citizens WHERE pid_sealed LIKE '%" PID_A "%' "
                         "OR pid_hash LIKE '%" PID_A "%' OR phone_sealed LIKE '%912345678%' "
                         "OR address_sealed LIKE '%Nguy%'"),
              0);
    CHECK_INT(count_rows("SELECT count(*) FROM citizens WHERE pid_sealed LIKE 'v1.%'"), 1);
    /* The login state is stored as a hash, never as sent. */
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM login_sessions WHERE state_hash = '%s'", A.state);
    CHECK_INT(count_rows(sql), 0);

    /* A level-1 citizen without a phone logs in too. */
    login_result D;
    CHECK_INT(login(&srv, PID_D, &D), 200);
    CHECK_INT(get_me(&srv, D.access, &me), 200);
    CHECK_INT(json_integer_value(json_object_get(me, "identification_level")), 1);
    CHECK(json_is_null(json_object_get(me, "phone")));
    json_decref(me);

    /* The person's way: the stand-in's page lists citizens, a link approves. */
    th_resp r;
    json_t *j = NULL;
    th_json(&r, "POST", url(&srv, "/v1/auth/login"), NULL, NULL, (void **)&j);
    char az[2048], state[200];
    snprintf(az, sizeof az, "%s", json_string_value(json_object_get(j, "authorization_url")));
    snprintf(state, sizeof state, "%s", json_string_value(json_object_get(j, "state")));
    CHECK(strstr(az, "code_challenge_method=S256") && strstr(az, "acr_values=urn%3Avneid%3Aial%3A2"));
    json_decref(j);
    th_resp_free(&r);
    th_http(&r, 1, "GET", az, NULL, NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "Lê Hoàng Phúc") != NULL);
    char *link = strstr(r.body, "/authorize/approve?");
    char approve[2048] = "";
    if (link) {
        size_t n = strcspn(link, "\"'");
        snprintf(approve, sizeof approve, "%s%.*s", vneid, (int)n, link);
        for (char *amp; (amp = strstr(approve, "&amp;")) != NULL;) memmove(amp + 1, amp + 5, strlen(amp + 5) + 1);
    }
    th_resp_free(&r);
    CHECK(approve[0]);
    th_http(&r, 1, "GET", approve, NULL, NULL, 0);
    const char *loc = th_resp_header(&r, "location");
    login_result P = {0};
    CHECK(r.status == 302 && loc && th_query_param(loc, "code", P.code, sizeof P.code) == 0);
    th_resp_free(&r);
    snprintf(P.state, sizeof P.state, "%s", state);
    CHECK_INT(finish(&srv, &P), 200);
}

/* ---------------- forged ID tokens ---------------- */

static void test_id_token_checks(void)
{
    static const char *defects[] = {"tampered_signature", "alg_none", "hs256_pubkey", "wrong_iss",
                                    "wrong_aud", "expired", "iat_future", "nonce_mismatch",
                                    "oversized", "malformed", "unknown_kid"};
    long citizens = count_rows("SELECT count(*) FROM citizens");
    long families = count_rows("SELECT count(*) FROM token_families");
    for (size_t i = 0; i < sizeof defects / sizeof defects[0]; i++) {
        login_result lr;
        CHECK(get_code(&srv, PID_G, &lr) == 0);
        char body[128];
        snprintf(body, sizeof body, "{\"defect\":\"%s\"}", defects[i]);
        sim_post("/_sim/defect", body);
        long jwks_before = sim_count("/jwks");
        if (strcmp(defects[i], "unknown_kid") == 0) usleep(600 * 1000); /* past the refetch limit */
        long st = finish(&srv, &lr);
        if (st != 401 || strcmp(lr.problem, "id_token_invalid") != 0)
            fprintf(stderr, "defect %s: %ld %s\n", defects[i], st, lr.problem);
        CHECK_INT(st, 401);
        CHECK_STR(lr.problem, "id_token_invalid");
        if (strcmp(defects[i], "unknown_kid") == 0) /* exactly one refetch of the JWKS */
            CHECK_INT(sim_count("/jwks") - jwks_before, 1);
    }
    /* A flood of unknown kids costs VNeID at most one JWKS fetch per interval
     * (500 ms here): the bound grows with the time the flood took, so a slow
     * machine cannot fail this. */
    long jwks_before = sim_count("/jwks");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 10; i++) {
        login_result lr;
        get_code(&srv, PID_G, &lr);
        sim_post("/_sim/defect", "{\"defect\":\"unknown_kid\"}");
        CHECK_INT(finish(&srv, &lr), 401);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long elapsed_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(sim_count("/jwks") - jwks_before <= 1 + elapsed_ms / 500);
    CHECK_INT(count_rows("SELECT count(*) FROM citizens"), citizens);
    CHECK_INT(count_rows("SELECT count(*) FROM token_families"), families);
}

/* ---------------- state and code ---------------- */

static void test_state_and_code(void)
{
    login_result lr;
    CHECK(get_code(&srv, PID_B, &lr) == 0);
    char good_state[200];
    snprintf(good_state, sizeof good_state, "%s", lr.state);
    /* Unknown state. */
    snprintf(lr.state, sizeof lr.state, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    CHECK_INT(finish(&srv, &lr), 400);
    CHECK_STR(lr.problem, "login_state_invalid");
    /* Now the real one works, once. */
    snprintf(lr.state, sizeof lr.state, "%s", good_state);
    CHECK_INT(finish(&srv, &lr), 200);
    CHECK_INT(finish(&srv, &lr), 400);
    CHECK_STR(lr.problem, "login_state_invalid");
    /* The same code with a fresh state: VNeID refuses it. */
    login_result again;
    CHECK(get_code(&srv, PID_B, &again) == 0);
    snprintf(again.code, sizeof again.code, "%s", lr.code);
    CHECK_INT(finish(&srv, &again), 400);
    CHECK_STR(again.problem, "login_code_invalid");
    /* An expired state. */
    CHECK(get_code(&srv, PID_B, &lr) == 0);
    th_db_exec(db, "UPDATE login_sessions SET expires_at = now() - interval '1 second', "
                   "created_at = now() - interval '10 minutes' WHERE used_at IS NULL");
    CHECK_INT(finish(&srv, &lr), 400);
    CHECK_STR(lr.problem, "login_state_invalid");
    /* Malformed callbacks. */
    th_resp r;
    CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/auth/callback"), NULL, "{\"code\":\"x\"}", NULL), 422);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/auth/callback"), NULL, "{\"code\":\"a b\",\"state\":\"s\"}", NULL), 422);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/auth/callback"), NULL, "{\"code\":", NULL), 400);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/auth/login"), NULL, "{\"identification_level\":3}", NULL), 422);
    th_resp_free(&r);
}

/* ---------------- keys ---------------- */

static void test_jwks(void)
{
    /* Rotation: the new kid is fetched (once) and login works. */
    sim_post("/_sim/rotate", "{}");
    usleep(600 * 1000);
    login_result lr;
    CHECK_INT(login(&srv, PID_B, &lr), 200);
    /* JWKS down and a kid we don't know: a clear 502, no crash. */
    sim_post("/_sim/rotate", "{}");
    sim_post("/_sim/config", "{\"jwks_down\":true}");
    usleep(600 * 1000);
    CHECK_INT(login(&srv, PID_B, &lr), 502);
    CHECK_STR(lr.problem, "identity_provider_unavailable");
    sim_post("/_sim/config", "{\"jwks_down\":false}");
    usleep(600 * 1000);
    CHECK_INT(login(&srv, PID_B, &lr), 200);
    /* Token endpoint down. */
    sim_post("/_sim/config", "{\"token_down\":true}");
    CHECK_INT(login(&srv, PID_B, &lr), 502);
    sim_post("/_sim/config", "{\"token_down\":false}");
}

/* ---------------- refresh and logout ---------------- */

static long refresh(const th_proc *p, const char *token, char *new_refresh, char *new_access)
{
    th_resp r;
    json_t *j = NULL;
    char body[256];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", token);
    long st = th_json(&r, "POST", url(p, "/v1/auth/refresh"), NULL, body, (void **)&j);
    if (st == 200) {
        snprintf(new_refresh, 128, "%s", json_string_value(json_object_get(j, "refresh_token")));
        snprintf(new_access, 2048, "%s", json_string_value(json_object_get(j, "access_token")));
    }
    json_decref(j);
    th_resp_free(&r);
    return st;
}

static int wait_status(const th_proc *p, const char *access, long want)
{
    for (int i = 0; i < 50; i++) {
        if (get_me(p, access, NULL) == want) return 1;
        usleep(100 * 1000);
    }
    return 0;
}

static void test_refresh_and_logout(void)
{
    login_result lr;
    CHECK_INT(login(&srv, PID_C, &lr), 200);
    char r1[128], a1[2048], r2[128], a2[2048], r3[128], a3[2048];
    CHECK_INT(refresh(&srv, lr.refresh, r1, a1), 200);
    CHECK(strcmp(r1, lr.refresh) != 0);
    CHECK_INT(get_me(&srv, a1, NULL), 200);
    /* A retry of the old token within the grace window (our answer was
     * lost) gets the SAME successor, on either node, and no token is made:
     * a login never forks (issue 14). */
    CHECK_INT(refresh(&srv, lr.refresh, r2, a2), 200);
    CHECK_STR(r2, r1);
    CHECK_INT(refresh(&srv2, lr.refresh, r2, a2), 200);
    CHECK_STR(r2, r1);
    CHECK_INT(th_db_count(db,
                          "SELECT count(*) FROM refresh_tokens WHERE family_id = (SELECT family_id "
                          "FROM refresh_tokens WHERE token_hash = translate(rtrim(encode(sha256("
                          "convert_to('%s', 'UTF8')), 'base64'), '='), '+/', '-_'))",
                          lr.refresh),
              2);
    CHECK_INT(get_me(&srv, a2, NULL), 200);
    /* After the window: reuse = theft: the whole login is revoked. */
    sleep(3);
    CHECK_INT(refresh(&srv, lr.refresh, r3, a3), 401);
    CHECK_INT(refresh(&srv, r1, r3, a3), 401);
    CHECK(wait_status(&srv, a1, 401));
    CHECK(wait_status(&srv2, a2, 401)); /* on the other node too */
    /* Within the window but after the successor was used, the old token is
     * no lost answer: theft too, the whole login revoked. */
    CHECK_INT(login(&srv, PID_C, &lr), 200);
    CHECK_INT(refresh(&srv, lr.refresh, r1, a1), 200);
    CHECK_INT(refresh(&srv, r1, r2, a2), 200);
    CHECK(strcmp(r2, r1) != 0);
    CHECK_INT(refresh(&srv, lr.refresh, r3, a3), 401);
    CHECK_INT(refresh(&srv, r2, r3, a3), 401);
    CHECK(wait_status(&srv, a2, 401));
    CHECK_INT(refresh(&srv, "not-a-token", r3, a3), 401);

    /* Logout on one node ends the login on every node. */
    CHECK_INT(login(&srv, PID_C, &lr), 200);
    CHECK_INT(get_me(&srv2, lr.access, NULL), 200);
    th_resp r;
    CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/auth/logout"), lr.access, "{}", NULL), 204);
    th_resp_free(&r);
    CHECK_INT(get_me(&srv, lr.access, NULL), 401);
    CHECK(wait_status(&srv2, lr.access, 401));
    CHECK_INT(refresh(&srv, lr.refresh, r3, a3), 401);
    /* A node started after the logout learns it from the table. */
    th_proc srv3;
    char dbenv[512], keysenv[300];
    snprintf(dbenv, sizeof dbenv, "CDS_VNEID_ISSUER=%s", vneid);
    snprintf(keysenv, sizeof keysenv, "CDS_DEV_KEYS_DIR=%s", keys_dir);
    const char *env[] = {dbenv, keysenv, NULL};
    CHECK(th_server_start(&srv3, db, env) == 0);
    CHECK(wait_status(&srv3, lr.access, 401));
    CHECK_INT(th_proc_stop(&srv3, SIGTERM), 0);
}

/* ---------------- the cache of verified tokens ---------------- */

/* Each loop thread of a server keeps the access tokens it has verified
 * (auth/tokens.c). A token that server has already accepted, from every
 * connection of a burst so that each thread has seen it, must still be
 * refused once its login is revoked and once it has expired. */
static th_proc srv_short; /* CDS_ACCESS_TTL=10, the shortest allowed */
static login_result S;
static time_t s_login_at;

static void accept_many(const th_proc *p, const char *access)
{
    for (int i = 0; i < 8; i++) CHECK_INT(get_me(p, access, NULL), 200);
}

static long me_problem(const th_proc *p, const char *access, const char *want_detail)
{
    th_resp r;
    long st = th_json(&r, "GET", url(p, "/v1/me"), access, NULL, NULL);
    if (st == 401) {
        CHECK(strstr(r.body, "invalid_token") != NULL);
        if (want_detail) CHECK(strstr(r.body, want_detail) != NULL);
    }
    th_resp_free(&r);
    return st;
}

static void test_cached_token_revoked(void)
{
    login_result lr;
    CHECK_INT(login(&srv, PID_B, &lr), 200);
    accept_many(&srv, lr.access);
    accept_many(&srv2, lr.access);
    th_resp r;
    CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/auth/logout"), lr.access, "{}", NULL), 204);
    th_resp_free(&r);
    /* On the node that logged out, at once, on every thread. */
    for (int i = 0; i < 8; i++) CHECK_INT(me_problem(&srv, lr.access, "đăng nhập lại"), 401);
    /* On the other node, as soon as the notification arrives. */
    CHECK(wait_status(&srv2, lr.access, 401));
    for (int i = 0; i < 8; i++) CHECK_INT(me_problem(&srv2, lr.access, NULL), 401);
    /* A new login of the same citizen is a new family: accepted. */
    CHECK_INT(login(&srv, PID_B, &lr), 200);
    accept_many(&srv2, lr.access);
}

/* Started early and finished last: the token needs ten seconds to expire. */
static void test_cached_token_expiry_begin(const char *const *env)
{
    const char *short_env[16];
    int n = 0;
    while (env[n] && n < 14) short_env[n] = env[n], n++;
    short_env[n++] = "CDS_ACCESS_TTL=10";
    short_env[n] = NULL;
    CHECK(th_server_start(&srv_short, db, short_env) == 0);
    CHECK_INT(login(&srv_short, PID_B, &S), 200);
    s_login_at = time(NULL);
    accept_many(&srv_short, S.access);
}

static void test_cached_token_expiry_end(void)
{
    while (time(NULL) < s_login_at + 12) sleep(1);
    for (int i = 0; i < 8; i++) CHECK_INT(me_problem(&srv_short, S.access, "hết hạn"), 401);
    CHECK_INT(th_proc_stop(&srv_short, SIGTERM), 0);
}

/* ---------------- our access token ---------------- */

static void test_access_token_forgeries(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/token-es256.pem", keys_dir);
    EVP_PKEY *ours = cds_pkey_from_pem(path);
    EVP_PKEY *other = cds_pkey_generate(CDS_ALG_ES256);
    CHECK(ours != NULL && other != NULL);
    cds_jwt jwt;
    const char *err;
    CHECK(cds_jwt_parse(A.access, strlen(A.access), &jwt, &err) == 0);
    json_t *claims = json_deep_copy(jwt.claims);
    char kid[128];
    snprintf(kid, sizeof kid, "%s", jwt.kid);
    cds_jwt_free(&jwt);
    json_t *me;
    CHECK_INT(get_me(&srv, A.access, NULL), 200);

    /* Expired: our own key, exp in the past. */
    json_t *c = json_deep_copy(claims);
    json_object_set_new(c, "exp", json_integer(time(NULL) - 5));
    char *t = cds_jws_sign(ours, CDS_ALG_ES256, kid, c);
    CHECK_INT(get_me(&srv, t, NULL), 401);
    free(t);
    json_decref(c);
    /* A valid-looking token from a key that isn't ours, with our kid. */
    t = cds_jws_sign(other, CDS_ALG_ES256, kid, claims);
    CHECK_INT(get_me(&srv, t, NULL), 401);
    free(t);
    /* An unknown kid. */
    t = cds_jws_sign(other, CDS_ALG_ES256, "someone-else", claims);
    CHECK_INT(get_me(&srv, t, NULL), 401);
    free(t);
    /* Another citizen's id under our real key would be accepted, so the key
     * is what matters: sub changed by hand in a real token is refused. */
    size_t n = strlen(A.access);
    char *tampered = strdup(A.access);
    tampered[n - 3] = tampered[n - 3] == 'A' ? 'B' : 'A';
    CHECK_INT(get_me(&srv, tampered, NULL), 401);
    free(tampered);
    /* The malleable twin of a real token of ours, signature (r, n - s):
     * valid ECDSA over the same claims, refused because we issue and
     * accept only low-S (issue 14); the original still works. */
    char *twin = th_es256_twin(A.access);
    CHECK(twin != NULL);
    if (twin) CHECK_INT(get_me(&srv, twin, NULL), 401);
    free(twin);
    CHECK_INT(get_me(&srv, A.access, NULL), 200);
    /* alg none. */
    const char *none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.";
    CHECK_INT(get_me(&srv, none, NULL), 401);
    CHECK_INT(get_me(&srv, "garbage", NULL), 401);
    /* No token at all. */
    th_resp r;
    CHECK_INT(th_http(&r, 2, "GET", url(&srv, "/v1/me"), NULL, NULL, 0), 0);
    CHECK_INT(r.status, 401);
    CHECK(strstr(r.body, "authentication_required") != NULL);
    CHECK(th_resp_header(&r, "www-authenticate") != NULL);
    th_resp_free(&r);
    const char *basic[] = {"Authorization: Basic Zm9vOmJhcg==", NULL};
    th_http(&r, 2, "GET", url(&srv, "/v1/me"), basic, NULL, 0);
    CHECK_INT(r.status, 401);
    th_resp_free(&r);
    CHECK_INT(get_me(&srv, A.access, &me), 200);
    json_decref(me);
    json_decref(claims);
    EVP_PKEY_free(ours);
    EVP_PKEY_free(other);
}

/* ---------------- profile and devices ---------------- */

static void test_profile_and_devices(void)
{
    login_result B;
    CHECK_INT(login(&srv, PID_B, &B), 200);
    th_resp r;
    json_t *j = NULL;
    CHECK_INT(th_json(&r, "PATCH", url(&srv, "/v1/me"), A.access,
                      "{\"contact_phone\":\"+84 903 111 222\",\"email\":\"an.nguyen@example.vn\","
                      "\"notification_preferences\":{\"sms\":false}}",
                      (void **)&j),
              200);
    CHECK_STR(json_string_value(json_object_get(j, "contact_phone")), "0903111222");
    CHECK_STR(json_string_value(json_object_get(j, "email")), "an.nguyen@example.vn");
    CHECK(json_is_false(json_object_get(json_object_get(j, "notification_preferences"), "sms")));
    CHECK(json_is_true(json_object_get(json_object_get(j, "notification_preferences"), "push")));
    json_decref(j);
    th_resp_free(&r);
    CHECK_INT(count_rows("SELECT count(*) FROM citizens WHERE contact_phone_sealed LIKE '%903111222%'"), 0);
    static const char *bad[] = {
        "{\"contact_phone\":\"12345\"}", "{\"contact_phone\":\"0212345678\"}",
        "{\"email\":\"not-an-email\"}", "{\"notification_preferences\":{\"sms\":\"yes\"}}",
        "{\"notification_preferences\":{\"fax\":true}}", "{\"full_name\":\"Hacker\"}", "[1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(th_json(&r, "PATCH", url(&srv, "/v1/me"), A.access, bad[i], NULL), 422);
        th_resp_free(&r);
    }
    CHECK_INT(get_me(&srv, A.access, &j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "contact_phone")), "0903111222"); /* unchanged */
    CHECK_STR(json_string_value(json_object_get(j, "full_name")), "Nguyễn Văn An");
    json_decref(j);
    /* Clearing with null. */
    CHECK_INT(th_json(&r, "PATCH", url(&srv, "/v1/me"), A.access, "{\"email\":null}", (void **)&j), 200);
    CHECK(json_is_null(json_object_get(j, "email")));
    json_decref(j);
    th_resp_free(&r);

    /* Devices. */
    const char *dev = "{\"platform\":\"fcm\",\"token\":\"fcm-token-abcdefghijklmnop:123\",\"app_version\":\"2.4.1\"}";
    CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/me/devices"), A.access, dev, (void **)&j), 201);
    char devid[64];
    snprintf(devid, sizeof devid, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/me/devices"), A.access, dev, (void **)&j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "id")), devid); /* same device, not twice */
    json_decref(j);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/me/devices"), A.access,
                      "{\"platform\":\"apns\",\"token\":\"" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "\"}", NULL),
              201);
    th_resp_free(&r);
    CHECK_INT(get_me(&srv, A.access, &j), 200);
    CHECK_INT(json_array_size(json_object_get(j, "devices")), 2);
    json_decref(j);
    static const char *bad_dev[] = {
        "{\"platform\":\"sms\",\"token\":\"abcdefghij\"}", "{\"platform\":\"fcm\",\"token\":\"short\"}",
        "{\"platform\":\"fcm\",\"token\":\"has spaces in it\"}", "{\"platform\":\"fcm\"}",
        "{\"platform\":\"fcm\",\"token\":\"abcdefghij\",\"app_version\":12}",
    };
    for (size_t i = 0; i < sizeof bad_dev / sizeof bad_dev[0]; i++) {
        CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/me/devices"), A.access, bad_dev[i], NULL), 422);
        th_resp_free(&r);
    }
    /* Citizen B cannot see or remove A's device: 404, and nothing changes. */
    char path[128];
    snprintf(path, sizeof path, "/v1/me/devices/%s", devid);
    CHECK_INT(th_json(&r, "DELETE", url(&srv, path), B.access, NULL, NULL), 404);
    th_resp_free(&r);
    CHECK_INT(get_me(&srv, B.access, &j), 200);
    CHECK_INT(json_array_size(json_object_get(j, "devices")), 0);
    CHECK_STR(json_string_value(json_object_get(j, "personal_id")), PID_B);
    json_decref(j);
    CHECK_INT(count_rows("SELECT count(*) FROM devices"), 2);
    /* The same phone registered by B moves to B (one phone, one owner). */
    CHECK_INT(th_json(&r, "POST", url(&srv, "/v1/me/devices"), B.access, dev, NULL), 200);
    th_resp_free(&r);
    CHECK_INT(get_me(&srv, A.access, &j), 200);
    CHECK_INT(json_array_size(json_object_get(j, "devices")), 1);
    json_decref(j);
    CHECK_INT(th_json(&r, "DELETE", url(&srv, path), B.access, NULL, NULL), 204);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "DELETE", url(&srv, path), B.access, NULL, NULL), 404);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "DELETE", url(&srv, "/v1/me/devices/not-a-uuid"), B.access, NULL, NULL), 404);
    th_resp_free(&r);
}

static void test_userinfo_only(void)
{
    th_proc u;
    char iss[128], keys[300];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", vneid);
    snprintf(keys, sizeof keys, "CDS_DEV_KEYS_DIR=%s", keys_dir);
    const char *env[] = {iss, keys, "CDS_VNEID_USERINFO_ONLY=1", NULL};
    CHECK(th_server_start(&u, db, env) == 0);
    sim_post("/_sim/config", "{\"userinfo_only\":true}");
    login_result lr;
    CHECK_INT(login(&u, PID_D, &lr), 200);
    json_t *me = NULL;
    CHECK_INT(get_me(&u, lr.access, &me), 200);
    CHECK_STR(json_string_value(json_object_get(me, "personal_id")), PID_D);
    json_decref(me);
    sim_post("/_sim/config", "{\"userinfo_only\":false}");
    CHECK_INT(th_proc_stop(&u, SIGTERM), 0);
}

/* Nothing in the server's logs may carry a full personal ID number or a token. */
static void test_logs(const th_proc *p, const char *tok)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "grep -E '079085001234|079192004567|079201007890|079178002345' %s >/dev/null", p->log);
    CHECK(system(cmd) != 0);
    char piece[40];
    snprintf(piece, sizeof piece, "%.30s", tok + strlen(tok) - 30);
    snprintf(cmd, sizeof cmd, "grep -F '%s' %s >/dev/null", piece, p->log);
    CHECK(system(cmd) != 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    db = th_db_new("auth");
    const char *standins[] = {"vneid", NULL};
    if (th_sim_start(&sim, standins, NULL) != 0) return 1;
    snprintf(vneid, sizeof vneid, "%s", th_sim_url(&sim, "vneid"));
    snprintf(keys_dir, sizeof keys_dir, "%s/Testing/keys_%d", CDS_BUILD_DIR, (int)getpid());
    char iss[128], keys[300];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", vneid);
    snprintf(keys, sizeof keys, "CDS_DEV_KEYS_DIR=%s", keys_dir);
    const char *env[] = {iss, keys, "CDS_AUTO_MIGRATE=1", "CDS_JWKS_MIN_REFETCH_MS=500",
                         "CDS_REFRESH_GRACE=2", NULL};
    if (th_server_start(&srv, db, env) != 0) return 1;
    if (th_server_start(&srv2, db, env) != 0) return 1;
    test_flow();
    test_cached_token_expiry_begin(env);
    test_id_token_checks();
    test_state_and_code();
    test_jwks();
    test_refresh_and_logout();
    test_cached_token_revoked();
    test_access_token_forgeries();
    test_profile_and_devices();
    test_userinfo_only();
    test_logs(&srv, A.access);
    test_logs(&srv, A.refresh);
    test_cached_token_expiry_end();
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    CHECK_INT(th_proc_stop(&srv2, SIGTERM), 0);
    CHECK_INT(th_sim_stop(&sim), 0);
    curl_global_cleanup();
    return t_done();
}
