/* Login with VNeID: POST /v1/auth/login starts it, POST /v1/auth/callback
 * finishes it with the code and state VNeID handed the app.
 *
 * Start: state, nonce and a PKCE verifier are random; the database keeps the
 * verifier and nonce under the state's SHA-256, for a few minutes, for one use;
 * the app gets the authorization URL (with the S256 challenge and the
 * identification level asked for) to open in the system browser.
 * Finish: consume the state, run the code flow (oidc_flow.c: the token
 * endpoint as a confidential client, the ID token's checks, or userinfo in
 * userinfo-only mode); then create or refresh the citizen and start a token
 * family, in one statement. A citizen who has not chosen a language (PATCH
 * /v1/me) takes the one the finishing request's Accept-Language names, else
 * the one the starting request's named (kept with the login session):
 * English push and inbox texts for a phone set to English from the first
 * step on. Every step runs asynchronously on the loop thread; nothing is
 * stored on a failure but the consumed state. */
#include "internal.h"
#include "core/db.h"
#include "core/lang.h"
#include "core/log.h"
#include "core/problem.h"

#include <stdlib.h>
#include <string.h>

static void provider_down(cds_req *r)
{
    cds_problem(r, 502, "identity_provider_unavailable",
                "Không kết nối được với VNeID, vui lòng thử lại sau.");
}

/* ================= start ================= */

typedef struct start_ctx {
    int ial;
    cds_oidc_attempt a;
} start_ctx;

static void on_begun(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_req_db_failed(r, "auth_db", res);
        return;
    }
    start_ctx *s = cds_req_user(r);
    char acr[32];
    snprintf(acr, sizeof acr, "urn:vneid:ial:%d", s->ial);
    char *url = cds_oidc_authorize_url(r, CDS_OIDC_VNEID, s->a.state, s->a.nonce, s->a.challenge, acr);
    if (!url) {
        provider_down(r);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200,
                     json_pack("{s:s,s:s,s:s,s:i}", "authorization_url", url, "state", s->a.state,
                               "expires_at", PQgetvalue(res, 0, 0), "identification_level",
                               s->ial));
}

static void start_discovered(cds_req *r, int ok)
{
    if (ok != 0) {
        provider_down(r);
        return;
    }
    start_ctx *s = cds_req_user(r);
    char ial[4], ttl[16];
    snprintf(ial, sizeof ial, "%d", s->ial);
    snprintf(ttl, sizeof ttl, "%d", g_auth.login_ttl_s);
    /* The phone's language, for a citizen who has not chosen one. */
    int lang = cds_lang_named(cds_req_header(r, "accept-language"));
    const char *p[] = {s->a.state_hash, s->a.nonce, s->a.verifier, ial, ttl,
                       lang >= 0 ? cds_lang_tag((cds_lang)lang) : NULL};
    cds_req_db(r, st_login_begin, 6, p, on_begun);
}

void cds_auth_login_start(cds_req *r)
{
    start_ctx *s = cds_req_alloc(r, sizeof *s);
    memset(s, 0, sizeof *s);
    s->ial = 2;
    size_t blen;
    cds_req_body(r, &blen);
    if (blen) {
        json_t *j = cds_req_json(r);
        if (!j) return;
        json_t *lvl = json_object_get(j, "identification_level");
        if (!json_is_object(j) || (lvl && (!json_is_integer(lvl) || json_integer_value(lvl) < 1 ||
                                           json_integer_value(lvl) > 2))) {
            cds_problem(r, 422, "invalid_identification_level",
                        "Mức định danh phải là 1 hoặc 2.");
            return;
        }
        if (lvl) s->ial = (int)json_integer_value(lvl);
    }
    cds_oidc_attempt_new(&s->a);
    cds_req_set_user(r, s, NULL);
    cds_oidc_discover(r, CDS_OIDC_VNEID, start_discovered);
}

/* ================= finish ================= */

typedef struct finish_ctx {
    char code[513], state[129], state_hash[64];
    char language[3]; /* what the start's Accept-Language named, or "" */
    cds_identity id;
    char refresh[64];
} finish_ctx;

static void id_token_invalid(cds_req *r, const char *why)
{
    cds_log(CDS_LOG_WARN, "vneid_id_token", "refused: %s", why);
    cds_problem(r, 401, "id_token_invalid",
                "Không xác thực được thông tin đăng nhập từ VNeID, vui lòng đăng nhập lại.");
}

static void on_logged_in(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "auth_db", res);
        return;
    }
    finish_ctx *f = cds_req_user(r);
    const char *citizen = PQgetvalue(res, 0, 0), *family = PQgetvalue(res, 0, 1);
    int ial = PQgetvalue(res, 0, 2)[0] == '2' ? 2 : 1; /* a smallint 1 or 2 (CHECK) */
    char *access = cds_access_token_issue(citizen, family, ial);
    if (!access) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200,
                     json_pack("{s:s,s:s,s:i,s:s,s:i,s:{s:s,s:s,s:i}}", "access_token", access,
                               "token_type", "Bearer", "expires_in", g_auth.access_ttl_s,
                               "refresh_token", f->refresh, "refresh_expires_in",
                               g_auth.refresh_ttl_s, "citizen", "id", citizen, "full_name",
                               f->id.name, "identification_level", ial));
    free(access);
}

/* The identity is known and trusted: store the citizen and start the login. */
static void store_citizen(cds_req *r)
{
    finish_ctx *f = cds_req_user(r);
    char pid_hash[65], ial[4], ttl[16], refresh_hash[64];
    cds_auth_pid_hash(f->id.pid, pid_hash);
    char *pid_sealed = cds_auth_seal(f->id.pid, "citizen.pid");
    char *addr_sealed = f->id.address[0] ? cds_auth_seal(f->id.address, "citizen.address") : NULL;
    char *phone_sealed = f->id.phone[0] ? cds_auth_seal(f->id.phone, "citizen.phone") : NULL;
    cds_auth_random_b64url(32, f->refresh, sizeof f->refresh);
    cds_auth_sha256_b64url(f->refresh, refresh_hash, sizeof refresh_hash);
    snprintf(ial, sizeof ial, "%d", f->id.ial);
    snprintf(ttl, sizeof ttl, "%d", g_auth.refresh_ttl_s);
    const char *p[] = {pid_hash, pid_sealed, f->id.sub, f->id.name,
                       f->id.birthdate[0] ? f->id.birthdate : NULL,
                       f->id.gender[0] ? f->id.gender : NULL, addr_sealed, phone_sealed, ial,
                       refresh_hash, ttl, NULL};
    /* The language of a citizen who has not chosen one (PATCH /v1/me):
     * the one this request's Accept-Language names, else the one the
     * start's named, if either did. */
    int lang = cds_lang_named(cds_req_header(r, "accept-language"));
    if (lang >= 0)
        p[11] = cds_lang_tag((cds_lang)lang);
    else if (f->language[0])
        p[11] = f->language;
    if (!pid_sealed) {
        cds_fail(r, CDS_P_INTERNAL);
    } else {
        cds_req_db(r, st_citizen_login, 12, p, on_logged_in);
    }
    free(pid_sealed);
    free(addr_sealed);
    free(phone_sealed);
}

/* The verified claims of VNeID: the identity, then the citizen. */
static void with_claims(cds_req *r, int status, const json_t *claims)
{
    finish_ctx *f = cds_req_user(r);
    const char *why;
    switch (status) {
    case CDS_OIDC_FLOW_OK: break;
    case CDS_OIDC_FLOW_CODE_INVALID:
        cds_problem(r, 400, "login_code_invalid",
                    "Mã đăng nhập không hợp lệ hoặc đã được sử dụng, vui lòng đăng nhập lại.");
        return;
    case CDS_OIDC_FLOW_REFUSED:
        cds_problem(r, 502, "identity_provider_error",
                    "VNeID từ chối yêu cầu đăng nhập, vui lòng thử lại sau.");
        return;
    case CDS_OIDC_FLOW_ID_TOKEN_INVALID:
        id_token_invalid(r, "the ID token line before says why");
        return;
    default: provider_down(r); return;
    }
    if (cds_identity_from_claims(claims, &f->id, &why) != 0) {
        id_token_invalid(r, why);
        return;
    }
    store_citizen(r);
}

static void on_consumed(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "auth_db", res);
        return;
    }
    finish_ctx *f = cds_req_user(r);
    const char *status = PQgetvalue(res, 0, 0);
    if (strcmp(status, "ok") != 0) {
        cds_problem(r, 400, "login_state_invalid",
                    strcmp(status, "expired") == 0
                        ? "Phiên đăng nhập đã hết hạn, vui lòng đăng nhập lại."
                    : strcmp(status, "used") == 0
                        ? "Phiên đăng nhập này đã được sử dụng, vui lòng đăng nhập lại."
                        : "Phiên đăng nhập không tồn tại, vui lòng đăng nhập lại.");
        return;
    }
    snprintf(f->language, sizeof f->language, "%s", PQgetvalue(res, 0, 4));
    cds_oidc_code_exchange(r, CDS_OIDC_VNEID, f->code, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
                           with_claims);
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

void cds_auth_login_finish(cds_req *r)
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
    finish_ctx *f = cds_req_alloc(r, sizeof *f);
    memset(f, 0, sizeof *f);
    snprintf(f->code, sizeof f->code, "%s", code);
    snprintf(f->state, sizeof f->state, "%s", state);
    cds_auth_sha256_b64url(f->state, f->state_hash, sizeof f->state_hash);
    cds_req_set_user(r, f, NULL);
    const char *p[] = {f->state_hash};
    cds_req_db(r, st_login_consume, 1, p, on_consumed);
}
