/* Staff login through the city's OpenID Connect issuer (auth/staff.h),
 * when CDS_STAFF_OIDC_ISSUER is set: the same relying-party code as the
 * citizens' VNeID login (oidc.c for discovery and keys, oidc_flow.c for the
 * code flow and the ID token's checks), with the staff issuer's settings
 * and its own login sessions (login_sessions.purpose 'staff', so a state
 * started for one kind of login never finishes the other).
 *
 *   POST /v1/staff/oidc/start     -> {authorization_url, state, expires_at}
 *   POST /v1/staff/oidc/callback  {code, state} -> the staff token
 *
 * The account is found by the issuer's `sub` (staff.oidc_subject, set by
 * an operator: `cds staff create --oidc-subject`); an identity the city's
 * issuer vouches for but that has no account here gets nothing. */
#include "internal.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"

#include <stdio.h>
#include <string.h>

int cds_staff_oidc_enabled(void)
{
    return g_auth.staff_oidc_issuer && *g_auth.staff_oidc_issuer;
}

/* ---------------- start ---------------- */

typedef struct start_ctx {
    void *saved_user;
    cds_staff_oidc_start_cont cont;
    cds_oidc_attempt a;
} start_ctx;

static void start_end(cds_req *r, start_ctx *s, cds_staff_login_status st, const char *url)
{
    cds_req_set_user(r, s->saved_user, NULL);
    s->cont(r, st, url, url ? s->a.state : NULL);
}

static void on_begun(cds_req *r, PGresult *res)
{
    start_ctx *s = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_log(CDS_LOG_WARN, "staff_oidc", "database: %s", res ? PQresultErrorMessage(res) : "lost");
        start_end(r, s, CDS_STAFF_LOGIN_UNAVAILABLE, NULL);
        return;
    }
    char *url = cds_oidc_authorize_url(r, CDS_OIDC_STAFF, s->a.state, s->a.nonce, s->a.challenge, NULL);
    start_end(r, s, url ? CDS_STAFF_LOGIN_OK : CDS_STAFF_LOGIN_PROVIDER_DOWN, url);
}

static void start_discovered(cds_req *r, int ok)
{
    start_ctx *s = cds_req_user(r);
    if (ok != 0) {
        start_end(r, s, CDS_STAFF_LOGIN_PROVIDER_DOWN, NULL);
        return;
    }
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", g_auth.login_ttl_s);
    const char *p[] = {s->a.state_hash, s->a.nonce, s->a.verifier, ttl};
    if (cds_req_db(r, st_staff_oidc_begin, 4, p, on_begun) != 0) cds_req_set_user(r, s->saved_user, NULL);
}

void cds_staff_oidc_start(cds_req *r, cds_staff_oidc_start_cont cont)
{
    start_ctx *s = cds_req_alloc(r, sizeof *s);
    memset(s, 0, sizeof *s);
    s->saved_user = cds_req_user(r);
    s->cont = cont;
    if (!cds_staff_oidc_enabled()) {
        cont(r, CDS_STAFF_LOGIN_NOT_CONFIGURED, NULL, NULL);
        return;
    }
    cds_oidc_attempt_new(&s->a);
    cds_req_set_user(r, s, NULL);
    cds_oidc_discover(r, CDS_OIDC_STAFF, start_discovered);
}

/* ---------------- finish ---------------- */

typedef struct finish_ctx {
    void *saved_user;
    cds_staff_login_cont cont;
    char code[513], state_hash[64];
    cds_staff_login_result res;
} finish_ctx;

static void finish_end(cds_req *r, finish_ctx *f, cds_staff_login_status st)
{
    if (st != CDS_STAFF_LOGIN_OK) f->res.status = st;
    cds_req_set_user(r, f->saved_user, NULL);
    f->cont(r, &f->res);
}

static void on_account(cds_req *r, PGresult *res)
{
    finish_ctx *f = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_log(CDS_LOG_WARN, "staff_oidc", "database: %s", res ? PQresultErrorMessage(res) : "lost");
        finish_end(r, f, CDS_STAFF_LOGIN_UNAVAILABLE);
        return;
    }
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "ok") != 0) {
        cds_log(CDS_LOG_INFO, "staff_oidc", "refused: %s", st);
        finish_end(r, f, strcmp(st, "disabled") == 0 ? CDS_STAFF_LOGIN_DISABLED
                                                     : CDS_STAFF_LOGIN_BAD_CREDENTIALS);
        return;
    }
    cds_staff_principal *p = cds_req_alloc(r, sizeof *p);
    memset(p, 0, sizeof *p);
    snprintf(p->session_id, sizeof p->session_id, "%s", PQgetvalue(res, 0, 1));
    snprintf(p->staff_id, sizeof p->staff_id, "%s", PQgetvalue(res, 0, 2));
    snprintf(p->login, sizeof p->login, "%s", PQgetvalue(res, 0, 3));
    p->role = cds_staff_role_parse(PQgetvalue(res, 0, 4));
    snprintf(p->location_id, sizeof p->location_id, "%s", PQgetvalue(res, 0, 5));
    snprintf(p->name, sizeof p->name, "%s", PQgetvalue(res, 0, 6));
    cds_staff_login_success(r, &f->res, p);
    finish_end(r, f, f->res.status);
}

static void on_claims(cds_req *r, int status, const json_t *claims)
{
    finish_ctx *f = cds_req_user(r);
    switch (status) {
    case CDS_OIDC_FLOW_OK: break;
    case CDS_OIDC_FLOW_CODE_INVALID: finish_end(r, f, CDS_STAFF_LOGIN_CODE_INVALID); return;
    case CDS_OIDC_FLOW_ID_TOKEN_INVALID: finish_end(r, f, CDS_STAFF_LOGIN_ID_TOKEN_INVALID); return;
    default: finish_end(r, f, CDS_STAFF_LOGIN_PROVIDER_DOWN); return;
    }
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (!sub || !*sub || strlen(sub) > 255) {
        finish_end(r, f, CDS_STAFF_LOGIN_ID_TOKEN_INVALID);
        return;
    }
    const char *p[] = {sub, cds_req_peer(r)};
    if (cds_req_db(r, st_staff_oidc_login, 2, p, on_account) != 0) cds_req_set_user(r, f->saved_user, NULL);
}

static void on_consumed(cds_req *r, PGresult *res)
{
    finish_ctx *f = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_log(CDS_LOG_WARN, "staff_oidc", "database: %s", res ? PQresultErrorMessage(res) : "lost");
        finish_end(r, f, CDS_STAFF_LOGIN_UNAVAILABLE);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "ok") != 0) {
        finish_end(r, f, CDS_STAFF_LOGIN_STATE_INVALID);
        return;
    }
    cds_oidc_code_exchange(r, CDS_OIDC_STAFF, f->code, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
                           on_claims);
}

/* code and state: printable ASCII without spaces, bounded. */
static int token_like(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max) return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~') return 0;
    return 1;
}

void cds_staff_oidc_finish(cds_req *r, const char *code, const char *state, cds_staff_login_cont cont)
{
    finish_ctx *f = cds_req_alloc(r, sizeof *f);
    memset(f, 0, sizeof *f);
    f->saved_user = cds_req_user(r);
    f->cont = cont;
    cds_req_set_user(r, f, NULL);
    int retry;
    if (!cds_staff_oidc_enabled()) {
        finish_end(r, f, CDS_STAFF_LOGIN_NOT_CONFIGURED);
        return;
    }
    if (!cds_staff_rate_take(r, NULL, &retry)) {
        f->res.retry_after_s = retry;
        finish_end(r, f, CDS_STAFF_LOGIN_RATE_LIMITED);
        return;
    }
    if (!token_like(code, 512) || !token_like(state, 128)) {
        finish_end(r, f, CDS_STAFF_LOGIN_STATE_INVALID);
        return;
    }
    snprintf(f->code, sizeof f->code, "%s", code);
    cds_auth_sha256_b64url(state, f->state_hash, sizeof f->state_hash);
    const char *p[] = {f->state_hash};
    if (cds_req_db(r, st_staff_oidc_consume, 1, p, on_consumed) != 0) cds_req_set_user(r, f->saved_user, NULL);
}

/* ---------------- routes ---------------- */

static void start_answer(cds_req *r, cds_staff_login_status st, const char *url, const char *state)
{
    if (!url) {
        cds_staff_login_result res = {.status = st};
        cds_staff_login_problem(r, &res);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, json_pack("{s:s,s:s,s:i}", "authorization_url", url, "state", state,
                                       "expires_in", g_auth.login_ttl_s));
}

void cds_staff_oidc_start_route(cds_req *r)
{
    cds_staff_oidc_start(r, start_answer);
}

void cds_staff_oidc_callback_route(cds_req *r)
{
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *code = json_string_value(json_object_get(j, "code"));
    const char *state = json_string_value(json_object_get(j, "state"));
    if (!token_like(code, 512) || !token_like(state, 128)) {
        cds_problem(r, 422, "invalid_login_callback",
                    "Thiếu mã đăng nhập (code) hoặc mã phiên (state) hợp lệ.");
        return;
    }
    cds_staff_oidc_finish(r, code, state, cds_staff_login_answer);
}
