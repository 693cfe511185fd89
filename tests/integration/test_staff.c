/* Staff identity end to end over real sockets (issue 19): accounts made
 * with `cds staff` as an operator bootstraps them, logins over
 * POST /v1/staff/login against a real PostgreSQL, tokens checked on
 * /v1/staff/me.
 *
 *   login        password + the current TOTP code -> a staff token with the
 *                account's role; the same code again is refused (a code is
 *                used once), the next step's code is accepted
 *   bad input    wrong password, wrong code, unknown login, a code from two
 *                steps away, missing fields: refused, no session opened
 *   kinds        a citizen token on a staff route and a staff token on a
 *                citizen route are refused (401)
 *   lockout      five failures lock the account: the right password and
 *                code are then refused with 429 and Retry-After
 *   logout       the token stops working at once
 *   totp         `cds staff totp` replaces the secret: the old one's codes
 *                are refused, the new one's accepted
 *   disable      `cds staff disable`: the open token is refused, a new
 *                login answers 403 staff_disabled
 *   record       every attempt is in staff_login_attempts, every account
 *                change in audit_log
 *   oidc         through the staff issuer stand-in (cds-sim `staffid`): an
 *                account with that subject logs in with its role; an
 *                identity without an account, a state used twice and a
 *                citizen's VNeID state are refused; nothing is opened */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/staff.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AGENCY "000.00.04.H29"
#define PID_A "079085001234"

static char *db;
static th_sim sim;
static th_proc srv;
static char location[37];

#define count(...) th_db_count(db, __VA_ARGS__)

static long me(const char *token, json_t **out)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/staff/me", srv.url);
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, "GET", url, token, NULL, (void **)&j);
    if (out) *out = j;
    else json_decref(j);
    th_resp_free(&r);
    return st;
}

static void test_login(void)
{
    th_staff op, ag;
    CHECK_INT(th_staff_create(db, &op, "op.lan", "operator", NULL), 0);
    CHECK_INT(th_staff_create(db, &ag, "ag.binh", "agent", location), 0);
    /* An agent needs a location; other roles none; a login once. */
    th_staff x;
    CHECK(th_staff_create(db, &x, "ag.nowhere", "agent", NULL) != 0);
    CHECK(th_staff_create(db, &x, "op.lan", "operator", NULL) != 0);
    CHECK_INT(count("SELECT count(*) FROM staff"), 2);

    char prob[64];
    CHECK_INT(th_staff_login(&srv, &op, NULL, NULL, prob), 200);
    json_t *j = NULL;
    CHECK_INT(me(op.token, &j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "role")), "operator");
    CHECK_STR(json_string_value(json_object_get(j, "login")), "op.lan");
    CHECK(json_is_null(json_object_get(j, "agent_location_id")));
    json_decref(j);
    CHECK_INT(th_staff_login(&srv, &ag, NULL, NULL, prob), 200);
    CHECK_INT(me(ag.token, &j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "role")), "agent");
    CHECK_STR(json_string_value(json_object_get(j, "agent_location_id")), location);
    json_decref(j);

    /* The code just used, again: refused, counted as a failure. */
    long sessions = count("SELECT count(*) FROM staff_sessions");
    char used[7];
    th_staff_code(&op, op.next_step - 1, used);
    CHECK_INT(th_staff_login(&srv, &op, NULL, used, prob), 401);
    CHECK_STR(prob, "invalid_credentials");
    CHECK_INT(count("SELECT failed_logins FROM staff WHERE login = 'op.lan'"), 1);
    /* Wrong password with a good code; the code stays usable. */
    char good[7];
    th_staff_code(&op, op.next_step, good);
    CHECK_INT(th_staff_login(&srv, &op, "not-the-pass-phrase", good, prob), 401);
    CHECK_STR(prob, "invalid_credentials");
    /* A code two steps ahead, a malformed one, no code. */
    char far[7];
    th_staff_code(&op, (long long)time(NULL) / 30 + 3, far);
    CHECK_INT(th_staff_login(&srv, &op, NULL, far, prob), 401);
    CHECK_INT(th_staff_login(&srv, &op, NULL, "12a456", prob), 401);
    CHECK_INT(count("SELECT count(*) FROM staff_sessions"), sessions);
    /* The good code with the good password: in (and the failures reset). */
    CHECK_INT(th_staff_login(&srv, &op, NULL, good, prob), 200);
    op.next_step++;
    CHECK_INT(count("SELECT failed_logins FROM staff WHERE login = 'op.lan'"), 0);

    /* Unknown login; missing fields; not JSON. */
    th_staff ghost = op;
    snprintf(ghost.login, sizeof ghost.login, "no.such.person");
    CHECK_INT(th_staff_login(&srv, &ghost, NULL, good, prob), 401);
    CHECK_STR(prob, "invalid_credentials");
    char url[256];
    snprintf(url, sizeof url, "%s/v1/staff/login", srv.url);
    th_resp r;
    CHECK_INT(th_json(&r, "POST", url, NULL, "{\"login\":\"op.lan\"}", NULL), 422);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url, NULL, "{\"login\":", NULL), 400);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM staff_login_attempts WHERE login = 'no.such.person' "
                    "AND outcome = 'unknown'"), 1);

    /* Kinds of token: a citizen's on a staff route, a staff one on a citizen route. */
    th_login citizen;
    CHECK_INT(th_login_as(&srv, PID_A, &citizen), 200);
    CHECK_INT(me(citizen.access, NULL), 401);
    snprintf(url, sizeof url, "%s/v1/me", srv.url);
    CHECK_INT(th_json(&r, "GET", url, op.token, NULL, NULL), 401);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "GET", url, citizen.access, NULL, NULL), 200);
    th_resp_free(&r);
    CHECK_INT(me(NULL, NULL), 401);
    CHECK_INT(me("not.a.token", NULL), 401);

    /* Logout ends the token at once. */
    snprintf(url, sizeof url, "%s/v1/staff/logout", srv.url);
    CHECK_INT(th_json(&r, "POST", url, ag.token, NULL, NULL), 204);
    th_resp_free(&r);
    CHECK_INT(me(ag.token, NULL), 401);
    CHECK_INT(count("SELECT count(*) FROM staff_sessions WHERE revoked_at IS NOT NULL"), 1);
}

static void test_lockout(void)
{
    th_staff s;
    CHECK_INT(th_staff_create(db, &s, "op.khoa", "auditor", NULL), 0);
    char prob[64];
    for (int i = 0; i < 5; i++) CHECK_INT(th_staff_login(&srv, &s, "wrong-pass-phrase!", NULL, prob), 401);
    CHECK(count("SELECT count(*) FROM staff WHERE login = 'op.khoa' AND locked_until > now()") == 1);
    long sessions = count("SELECT count(*) FROM staff_sessions");
    CHECK_INT(th_staff_login(&srv, &s, NULL, NULL, prob), 429);
    CHECK_STR(prob, "staff_login_locked");
    CHECK_INT(count("SELECT count(*) FROM staff_sessions"), sessions);
    CHECK_INT(count("SELECT count(*) FROM staff_login_attempts WHERE login = 'op.khoa'"), 6);
    /* The lock lapses (moved into the past here): the next step's code works. */
    CHECK_INT(th_db_exec(db, "UPDATE staff SET locked_until = now() WHERE login = 'op.khoa'"), 0);
    CHECK_INT(th_staff_login(&srv, &s, NULL, NULL, prob), 200);
}

static void test_totp_and_disable(void)
{
    th_staff s;
    CHECK_INT(th_staff_create(db, &s, "op.tam", "operator", NULL), 0);
    char prob[64], cmd[1024], line[256];
    CHECK_INT(th_staff_login(&srv, &s, NULL, NULL, prob), 200);
    char old_token[2048];
    snprintf(old_token, sizeof old_token, "%s", s.token);
    /* A new secret: the sessions end; the old secret's codes are refused. */
    snprintf(cmd, sizeof cmd, "CDS_DEV_KEYS_DIR='%s/Testing/keys' CDS_DATABASE_URL='%s' %s/cds staff "
             "totp --login op.tam --actor test", CDS_BUILD_DIR, db, CDS_BUILD_DIR);
    FILE *f = popen(cmd, "r");
    char secret[64] = "";
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "totp_secret=", 12) == 0) snprintf(secret, sizeof secret, "%.32s", line + 12);
    CHECK_INT(f ? pclose(f) : -1, 0);
    CHECK_INT(strlen(secret), 32);
    CHECK_INT(me(old_token, NULL), 401);
    CHECK_INT(th_staff_login(&srv, &s, NULL, NULL, prob), 401);
    snprintf(s.secret, sizeof s.secret, "%s", secret);
    CHECK_INT(th_staff_login(&srv, &s, NULL, NULL, prob), 200);
    CHECK_INT(me(s.token, NULL), 200);

    snprintf(cmd, sizeof cmd, "CDS_DATABASE_URL='%s' %s/cds staff disable --login op.tam --actor "
             "test >/dev/null", db, CDS_BUILD_DIR);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(me(s.token, NULL), 401);
    CHECK_INT(th_staff_login(&srv, &s, NULL, NULL, prob), 403);
    CHECK_STR(prob, "staff_disabled");
    snprintf(cmd, sizeof cmd, "CDS_DATABASE_URL='%s' %s/cds staff disable --login nobody --actor "
             "test 2>/dev/null", db, CDS_BUILD_DIR);
    CHECK(system(cmd) != 0);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action IN ('staff_create', "
                    "'staff_totp_reset', 'staff_disable') AND subject = 'staff:%s'", s.id), 3);
}

/* Starts a staff OIDC login, has the stand-in log `hint` in, and finishes
 * with (code, the state of `state_from`, or ours). */
static long oidc_login(const char *hint, const char *force_state, char *token, char *prob,
                       char *state_out)
{
    char url[256], target[2048], code[600], state[200], body[1024];
    th_resp r;
    json_t *j = NULL;
    snprintf(url, sizeof url, "%s/v1/staff/oidc/start", srv.url);
    if (th_json(&r, "POST", url, NULL, NULL, (void **)&j) != 200) {
        th_resp_free(&r);
        json_decref(j);
        return -1;
    }
    snprintf(target, sizeof target, "%s&login_hint=%s",
             json_string_value(json_object_get(j, "authorization_url")), hint);
    snprintf(state, sizeof state, "%s", force_state ? force_state : json_string_value(json_object_get(j, "state")));
    if (state_out) snprintf(state_out, 200, "%s", state);
    json_decref(j);
    th_resp_free(&r);
    th_http(&r, 1, "GET", target, NULL, NULL, 0);
    const char *loc = th_resp_header(&r, "location");
    int ok = r.status == 302 && loc && th_query_param(loc, "code", code, sizeof code) == 0;
    th_resp_free(&r);
    if (!ok) return -2;
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"state\":\"%s\"}", code, state);
    snprintf(url, sizeof url, "%s/v1/staff/oidc/callback", srv.url);
    long st = th_json(&r, "POST", url, NULL, body, (void **)&j);
    const char *a = json_string_value(json_object_get(j, "access_token"));
    const char *pc = json_string_value(json_object_get(j, "code"));
    snprintf(token, 2048, "%s", a ? a : "");
    snprintf(prob, 64, "%s", pc ? pc : "");
    json_decref(j);
    th_resp_free(&r);
    return st;
}

static void test_oidc(void)
{
    char cmd[1024], token[2048], prob[64], state[200];
    snprintf(cmd, sizeof cmd, "CDS_DEV_KEYS_DIR='%s/Testing/keys' CDS_DATABASE_URL='%s' %s/cds staff "
             "create --login oidc.lan --name 'Nguyễn Thị Lan' --role operator --oidc-subject "
             "staff-HCM0001 --no-password 1 --actor test >/dev/null", CDS_BUILD_DIR, db, CDS_BUILD_DIR);
    CHECK_INT(system(cmd), 0);
    long sessions = count("SELECT count(*) FROM staff_sessions");
    CHECK_INT(oidc_login("op.lan", NULL, token, prob, state), 200);
    json_t *j = NULL;
    CHECK_INT(me(token, &j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "login")), "oidc.lan");
    CHECK_STR(json_string_value(json_object_get(j, "role")), "operator");
    json_decref(j);
    CHECK_INT(count("SELECT count(*) FROM staff_sessions WHERE method = 'oidc'"), 1);
    /* The same state again (a new code from the issuer): refused. */
    CHECK_INT(oidc_login("op.lan", state, token, prob, NULL), 400);
    CHECK_STR(prob, "login_state_invalid");
    /* The issuer vouches for someone without an account here. */
    CHECK_INT(oidc_login("au.minh", NULL, token, prob, NULL), 401);
    CHECK_STR(prob, "invalid_credentials");
    /* A citizen's VNeID login state cannot finish a staff login. */
    char url[256];
    snprintf(url, sizeof url, "%s/v1/auth/login", srv.url);
    th_resp r;
    j = NULL;
    CHECK_INT(th_json(&r, "POST", url, NULL, "{}", (void **)&j), 200);
    char citizen_state[200];
    snprintf(citizen_state, sizeof citizen_state, "%s", json_string_value(json_object_get(j, "state")));
    json_decref(j);
    th_resp_free(&r);
    CHECK_INT(oidc_login("op.lan", citizen_state, token, prob, NULL), 400);
    CHECK_STR(prob, "login_state_invalid");
    /* A password login is not possible for an OIDC-only account. */
    th_staff s = {0};
    snprintf(s.login, sizeof s.login, "oidc.lan");
    snprintf(s.secret, sizeof s.secret, "JBSWY3DPEHPK3PXP");
    CHECK_INT(th_staff_login(&srv, &s, "anything-at-all", NULL, prob), 401);
    CHECK_INT(count("SELECT count(*) FROM staff_sessions"), sessions + 1);
    /* Disabled: the issuer's yes is not enough. */
    snprintf(cmd, sizeof cmd, "CDS_DATABASE_URL='%s' %s/cds staff disable --login oidc.lan --actor "
             "test >/dev/null", db, CDS_BUILD_DIR);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(oidc_login("op.lan", NULL, token, prob, NULL), 403);
    CHECK_STR(prob, "staff_disabled");
}

int main(void)
{
    db = th_db_new("staff");
    const char *names[] = {"vneid", "staffid", NULL};
    if (th_sim_start(&sim, names, NULL) != 0) return 1;
    static char iss[256], staff_iss[256];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    snprintf(staff_iss, sizeof staff_iss, "CDS_STAFF_OIDC_ISSUER=%s", th_sim_url(&sim, "staffid"));
    const char *env[] = {iss, staff_iss, "CDS_STAFF_OIDC_CLIENT_SECRET=cds-dev-staff-secret",
                         "CDS_AUTO_MIGRATE=1", NULL};
    if (th_server_start(&srv, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;
    CHECK_INT(th_staff_location(db, "BD-Q1", AGENCY, location), 0);
    char dup[37];
    CHECK(th_staff_location(db, "BD-Q1", AGENCY, dup) != 0);
    CHECK(th_staff_location(db, "BD-Q9", "NO.SUCH", dup) != 0);

    test_login();
    test_lockout();
    test_totp_and_disable();
    test_oidc();

    int stopped = th_proc_stop(&srv, SIGTERM);
    CHECK_INT(stopped, 0);
    if (stopped != 0 || t_fail) {
        char tail[512];
        snprintf(tail, sizeof tail, "tail -n 60 '%s' >&2", srv.log);
        if (system(tail) != 0) fprintf(stderr, "no server log\n");
    }
    th_sim_stop(&sim);
    return t_done();
}
