/* Staff login with password + TOTP (auth/staff.h), and the staff routes
 * that are not OIDC: POST /v1/staff/login, POST /v1/staff/logout,
 * GET /v1/staff/me.
 *
 * A login: the process's rate limits (per client address, per login) ->
 * the account's argon2id hash and sealed TOTP secret from the database ->
 * on the work pool, the password check (against a fixed dummy hash when the
 * login is unknown, so the answer takes as long either way) and the TOTP
 * match -> one SQL call that applies the outcome atomically (step used
 * once, failures counted and the lock set, the attempt recorded, the
 * session opened) -> the staff token. */
#include "internal.h"
#include "auth/staff.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/ratelimit.h"
#include "core/workpool.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int st_staff_lookup, st_staff_login, st_staff_session_check, st_staff_logout, st_staff_oidc_begin,
    st_staff_oidc_consume, st_staff_oidc_login;

static cds_ratelimit *by_addr, *by_login;

int cds_staff_init(void)
{
    st_staff_lookup = cds_db_stmt_register(
        "staff_lookup", "SELECT password_hash, totp_secret_sealed FROM cds_staff_login_lookup($1)", 1);
    st_staff_login = cds_db_stmt_register(
        "staff_login",
        "SELECT status, session_id, retry_after, staff_id, role, agent_location_id, display_name "
        "FROM cds_staff_login_password($1, $2::boolean, $3::bigint, $4, $5::int, $6::int)",
        6);
    st_staff_session_check = cds_db_stmt_register(
        "staff_session_check",
        "SELECT t.role, COALESCE(t.agent_location_id::text, ''), t.display_name FROM staff_sessions s "
        "JOIN staff t ON t.id = s.staff_id WHERE s.id = $1::uuid AND s.staff_id = $2::uuid "
        "AND s.revoked_at IS NULL AND t.disabled_at IS NULL",
        2);
    st_staff_logout = cds_db_stmt_register("staff_logout", "SELECT cds_staff_logout($1::uuid, $2::uuid)", 2);
    st_staff_oidc_begin = cds_db_stmt_register(
        "staff_oidc_begin", "SELECT cds_rfc3339(cds_staff_oidc_begin($1, $2, $3, $4::int))", 4);
    st_staff_oidc_consume = cds_db_stmt_register(
        "staff_oidc_consume", "SELECT status, nonce, verifier FROM cds_staff_oidc_consume($1)", 1);
    st_staff_oidc_login = cds_db_stmt_register(
        "staff_oidc_login",
        "SELECT status, session_id, staff_id, login, role, agent_location_id, display_name "
        "FROM cds_staff_login_oidc($1, $2)",
        2);
    int all[] = {st_staff_lookup, st_staff_login, st_staff_session_check, st_staff_logout,
                 st_staff_oidc_begin, st_staff_oidc_consume, st_staff_oidc_login};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] < 0) return -1;
    if (cds_staff_admin_init() != 0 || cds_vneid_consent_init() != 0) return -1;
    if (!by_addr) by_addr = cds_ratelimit_new(30, 30);
    if (!by_login) by_login = cds_ratelimit_new(10, 10);
    return by_addr && by_login ? 0 : -1;
}

void cds_staff_shutdown(void)
{
    cds_ratelimit_free(by_addr);
    cds_ratelimit_free(by_login);
    by_addr = by_login = NULL;
}

int cds_staff_rate_take(cds_req *r, const char *login, int *retry_after)
{
    *retry_after = 0;
    if (by_addr && !cds_ratelimit_take(by_addr, cds_req_peer(r), retry_after)) return 0;
    if (login && by_login && !cds_ratelimit_take(by_login, login, retry_after)) return 0;
    return 1;
}

/* ---------------- the outcome, as the caller sees it ---------------- */

void cds_staff_login_problem(cds_req *r, const cds_staff_login_result *res)
{
    char ra[16];
    snprintf(ra, sizeof ra, "%d", res->retry_after_s > 0 ? res->retry_after_s : 1);
    switch (res->status) {
    case CDS_STAFF_LOGIN_OK: return;
    case CDS_STAFF_LOGIN_BAD_CREDENTIALS:
        cds_problem(r, 401, "invalid_credentials",
                    "Tên đăng nhập, mật khẩu hoặc mã xác thực (TOTP) không đúng.");
        return;
    case CDS_STAFF_LOGIN_LOCKED:
        cds_resp_header(r, "retry-after", ra);
        cds_problem(r, 429, "staff_login_locked",
                    "Tài khoản tạm khóa do đăng nhập sai nhiều lần, vui lòng thử lại sau.");
        return;
    case CDS_STAFF_LOGIN_RATE_LIMITED:
        cds_resp_header(r, "retry-after", ra);
        cds_problem(r, 429, "too_many_requests", "Quá nhiều lần thử đăng nhập, vui lòng thử lại sau.");
        return;
    case CDS_STAFF_LOGIN_DISABLED:
        cds_problem(r, 403, "staff_disabled", "Tài khoản cán bộ này đã bị vô hiệu hóa.");
        return;
    case CDS_STAFF_LOGIN_NOT_CONFIGURED:
        cds_problem(r, 404, "staff_oidc_not_configured",
                    "Đăng nhập cán bộ qua hệ thống định danh của Thành phố chưa được cấu hình; "
                    "hãy dùng mật khẩu và mã TOTP.");
        return;
    case CDS_STAFF_LOGIN_STATE_INVALID:
        cds_problem(r, 400, "login_state_invalid",
                    "Phiên đăng nhập không tồn tại, đã dùng hoặc đã hết hạn, vui lòng đăng nhập lại.");
        return;
    case CDS_STAFF_LOGIN_CODE_INVALID:
        cds_problem(r, 400, "login_code_invalid",
                    "Mã đăng nhập không hợp lệ hoặc đã được sử dụng, vui lòng đăng nhập lại.");
        return;
    case CDS_STAFF_LOGIN_PROVIDER_DOWN:
        cds_problem(r, 502, "identity_provider_unavailable",
                    "Không kết nối được với hệ thống định danh cán bộ, vui lòng thử lại sau.");
        return;
    case CDS_STAFF_LOGIN_ID_TOKEN_INVALID:
        cds_problem(r, 401, "id_token_invalid",
                    "Không xác thực được thông tin đăng nhập từ hệ thống định danh, vui lòng đăng nhập lại.");
        return;
    case CDS_STAFF_LOGIN_UNAVAILABLE:
    default:
        cds_resp_header(r, "retry-after", "1");
        cds_fail(r, CDS_P_SERVICE_BUSY);
        return;
    }
}

/* Sets the outcome of an account row (status, session, staff, role,
 * location, name) into a principal and issues its token. */
void cds_staff_login_success(cds_req *r, cds_staff_login_result *res, cds_staff_principal *p)
{
    char *t = cds_staff_token_issue(p, &res->expires_in);
    if (!t) {
        res->status = CDS_STAFF_LOGIN_UNAVAILABLE;
        return;
    }
    p->expires_at = (long long)time(NULL) + res->expires_in;
    res->token = cds_req_strdup(r, t);
    res->who = p;
    res->status = CDS_STAFF_LOGIN_OK;
    free(t);
}

/* ---------------- password + TOTP ---------------- */

typedef struct pw_job pw_job;
typedef struct pw_ctx {
    void *saved_user;
    cds_staff_login_cont cont;
    char login[65];
    pw_job *job;
    cds_staff_login_result res;
} pw_ctx;

struct pw_job {
    cds_req *r;
    cds_job *job;
    int slot;
    char password[129], code[16];
    char *hash, *sealed;
    int known;
    int password_ok;
    long long step;
    long long now;
};

static void pw_job_free(void *arg)
{
    pw_job *j = arg;
    OPENSSL_cleanse(j->password, sizeof j->password);
    free(j->hash);
    free(j->sealed);
    free(j);
}

static void finish(cds_req *r, pw_ctx *c)
{
    cds_req_set_user(r, c->saved_user, NULL);
    c->cont(r, &c->res);
}

static void fail(cds_req *r, pw_ctx *c, cds_staff_login_status st, int retry_after)
{
    c->res.status = st;
    c->res.retry_after_s = retry_after;
    finish(r, c);
}

static const char *dummy_hash;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_buf[CDS_STAFF_HASH_MAX];
static void make_dummy(void)
{
    if (cds_staff_password_hash("cds-no-such-account-dummy", dummy_buf) == 0) dummy_hash = dummy_buf;
}

static void pw_work(void *arg)
{
    pw_job *j = arg;
    const char *hash = j->hash;
    if (!hash) {
        pthread_once(&dummy_once, make_dummy);
        hash = dummy_hash;
    }
    j->password_ok = hash && cds_staff_password_verify(hash, j->password) && j->known;
    j->step = -1;
    unsigned char key[64];
    int n = j->sealed ? cds_staff_totp_key(j->sealed, key, sizeof key) : -1;
    if (n > 0) j->step = cds_totp_match(key, (size_t)n, j->code, j->now);
    OPENSSL_cleanse(key, sizeof key);
}

static void on_outcome(cds_req *r, PGresult *res)
{
    pw_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_log(CDS_LOG_WARN, "staff_login", "database: %s", res ? PQresultErrorMessage(res) : "lost");
        fail(r, c, CDS_STAFF_LOGIN_UNAVAILABLE, 1);
        return;
    }
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "ok") == 0) {
        cds_staff_principal *p = cds_req_alloc(r, sizeof *p);
        memset(p, 0, sizeof *p);
        snprintf(p->session_id, sizeof p->session_id, "%s", PQgetvalue(res, 0, 1));
        snprintf(p->staff_id, sizeof p->staff_id, "%s", PQgetvalue(res, 0, 3));
        p->role = cds_staff_role_parse(PQgetvalue(res, 0, 4));
        snprintf(p->location_id, sizeof p->location_id, "%s", PQgetvalue(res, 0, 5));
        snprintf(p->name, sizeof p->name, "%s", PQgetvalue(res, 0, 6));
        snprintf(p->login, sizeof p->login, "%s", c->login);
        cds_staff_login_success(r, &c->res, p);
        finish(r, c);
        return;
    }
    cds_log(CDS_LOG_INFO, "staff_login", "refused: %s", st);
    if (strcmp(st, "locked") == 0) fail(r, c, CDS_STAFF_LOGIN_LOCKED, (int)strtol(PQgetvalue(res, 0, 2), NULL, 10));
    else if (strcmp(st, "disabled") == 0) fail(r, c, CDS_STAFF_LOGIN_DISABLED, 0);
    else fail(r, c, CDS_STAFF_LOGIN_BAD_CREDENTIALS, 0);
}

static void pw_done(void *arg)
{
    pw_job *j = arg;
    cds_req *r = j->r;
    pw_ctx *c = cds_req_user(r);
    cds_req_untrack(r, j->slot);
    c->job = NULL;
    char step[24], max[12], lock[12];
    snprintf(step, sizeof step, "%lld", j->step);
    snprintf(max, sizeof max, "%d", g_auth.staff_lock_failures);
    snprintf(lock, sizeof lock, "%d", g_auth.staff_lock_s);
    const char *p[] = {c->login, j->password_ok ? "true" : "false", j->step >= 0 ? step : NULL,
                       cds_req_peer(r), max, lock};
    pw_job_free(j);
    if (cds_req_db(r, st_staff_login, 6, p, on_outcome) != 0) cds_req_set_user(r, c->saved_user, NULL);
}

static void pw_abandon(void *handle)
{
    pw_job *j = handle;
    cds_job_cancel(j->job); /* pw_job_free runs instead of pw_done */
}

static void on_lookup(cds_req *r, PGresult *res)
{
    pw_ctx *c = cds_req_user(r);
    pw_job *j = c->job;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_log(CDS_LOG_WARN, "staff_login", "database: %s", res ? PQresultErrorMessage(res) : "lost");
        pw_job_free(j);
        c->job = NULL;
        fail(r, c, CDS_STAFF_LOGIN_UNAVAILABLE, 1);
        return;
    }
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && !PQgetisnull(res, 0, 1)) {
        j->known = 1;
        j->hash = strdup(PQgetvalue(res, 0, 0));
        j->sealed = strdup(PQgetvalue(res, 0, 1));
    }
    j->now = (long long)time(NULL);
    j->job = cds_job_submit(cds_req_worker(r)->base, pw_work, pw_done, pw_job_free, j);
    if (!j->job) {
        pw_job_free(j);
        c->job = NULL;
        fail(r, c, CDS_STAFF_LOGIN_UNAVAILABLE, 1);
        return;
    }
    j->slot = cds_req_track(r, pw_abandon, j);
}

static int login_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(islower(ch) || isdigit(ch) || (i > 0 && (ch == '.' || ch == '_' || ch == '-')))) return 0;
    }
    return 1;
}

void cds_staff_login_password(cds_req *r, const char *login, const char *password,
                              const char *totp_code, cds_staff_login_cont cont)
{
    pw_ctx *c = cds_req_alloc(r, sizeof *c);
    memset(c, 0, sizeof *c);
    c->saved_user = cds_req_user(r);
    c->cont = cont;
    cds_req_set_user(r, c, NULL);
    int retry;
    if (!cds_staff_rate_take(r, login_valid(login) ? login : NULL, &retry)) {
        fail(r, c, CDS_STAFF_LOGIN_RATE_LIMITED, retry);
        return;
    }
    if (!login_valid(login) || !password || strlen(password) > 128 || !totp_code ||
        strlen(totp_code) > 15) {
        fail(r, c, CDS_STAFF_LOGIN_BAD_CREDENTIALS, 0);
        return;
    }
    snprintf(c->login, sizeof c->login, "%s", login);
    pw_job *j = calloc(1, sizeof *j);
    if (!j) {
        fail(r, c, CDS_STAFF_LOGIN_UNAVAILABLE, 1);
        return;
    }
    j->r = r;
    j->slot = -1;
    snprintf(j->password, sizeof j->password, "%s", password);
    snprintf(j->code, sizeof j->code, "%s", totp_code);
    c->job = j;
    const char *p[] = {c->login};
    if (cds_req_db(r, st_staff_lookup, 1, p, on_lookup) != 0) {
        pw_job_free(j);
        c->job = NULL;
        cds_req_set_user(r, c->saved_user, NULL);
    }
}

/* ---------------- routes ---------------- */

void cds_staff_login_answer(cds_req *r, const cds_staff_login_result *res)
{
    if (res->status != CDS_STAFF_LOGIN_OK) {
        cds_staff_login_problem(r, res);
        return;
    }
    json_t *who = cds_staff_principal_json(res->who);
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200,
                     json_pack("{s:s,s:s,s:i,s:o}", "access_token", res->token, "token_type",
                               "Bearer", "expires_in", res->expires_in, "staff", who));
}

void cds_staff_login_route(cds_req *r)
{
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *login = json_string_value(json_object_get(j, "login"));
    const char *password = json_string_value(json_object_get(j, "password"));
    const char *totp = json_string_value(json_object_get(j, "totp"));
    if (!json_is_object(j) || !login || !password || !totp) {
        cds_problem(r, 422, "missing_field", "Cần có tên đăng nhập (login), mật khẩu (password) và mã TOTP (totp).");
        return;
    }
    cds_staff_login_password(r, login, password, totp, cds_staff_login_answer);
}

typedef struct logout_ctx {
    void *saved_user;
    cds_staff_logout_cont cont;
} logout_ctx;

static void on_logout(cds_req *r, PGresult *res)
{
    logout_ctx *c = cds_req_user(r);
    cds_req_set_user(r, c->saved_user, NULL);
    if (!cds_req_db_rows(r, "staff_logout", res)) return;
    c->cont(r);
}

void cds_staff_logout(cds_req *r, const cds_staff_principal *p, cds_staff_logout_cont cont)
{
    logout_ctx *c = cds_req_alloc(r, sizeof *c);
    c->saved_user = cds_req_user(r);
    c->cont = cont;
    /* This node at once; the others through the notification. */
    cds_revoked_add(p->session_id);
    cds_req_set_user(r, c, NULL);
    const char *params[] = {p->session_id, p->staff_id};
    if (cds_req_db(r, st_staff_logout, 2, params, on_logout) != 0) cds_req_set_user(r, c->saved_user, NULL);
}

static void logged_out(cds_req *r)
{
    cds_respond(r, 204, NULL, NULL, 0);
}

void cds_staff_logout_route(cds_req *r)
{
    const cds_staff_principal *p = cds_auth_staff(r, CDS_STAFF_ANY);
    if (!p) return;
    cds_staff_logout(r, p, logged_out);
}

void cds_staff_me_route(cds_req *r)
{
    const cds_staff_principal *p = cds_auth_staff(r, CDS_STAFF_ANY);
    if (!p) return;
    json_t *j = cds_staff_principal_json(p);
    long long left = p->expires_at - (long long)time(NULL);
    json_object_set_new(j, "expires_in", json_integer(left > 0 ? left : 0));
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, j);
}
