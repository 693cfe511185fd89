/* Login with VNeID: POST /v1/auth/login starts it, POST /v1/auth/callback
 * finishes it with the code and state VNeID handed the app.
 *
 * Start: state, nonce and a PKCE verifier are random; the database keeps the
 * verifier and nonce under the state's SHA-256, for a few minutes, for one use;
 * the app gets the authorization URL (with the S256 challenge and the
 * identification level asked for) to open in the system browser.
 * Finish: consume the state, exchange the code at the token endpoint as a
 * confidential client (HTTP Basic), check the ID token (signature by the kid
 * from the JWKS, algorithm allow-list RS256/ES256, iss, aud/azp, exp, iat,
 * nonce) or, in userinfo-only mode, ask the userinfo endpoint; then create or
 * refresh the citizen and start a token family, in one statement. A citizen
 * who has not chosen a language (PATCH /v1/me) takes the one the finishing
 * request's Accept-Language names, else the one the starting request's
 * named (kept with the login session): English push and inbox texts for a
 * phone set to English from the first step on. Every step
 * runs asynchronously on the loop thread; nothing is stored on a failure but
 * the consumed state. */
#include "internal.h"
#include "core/db.h"
#include "core/http_client.h"
#include "core/lang.h"
#include "core/log.h"
#include "core/problem.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define CLOCK_SKEW_S 60

static void provider_down(cds_req *r)
{
    cds_problem(r, 502, "identity_provider_unavailable",
                "Không kết nối được với VNeID, vui lòng thử lại sau.");
}

static void cancel_call(void *call)
{
    cds_http_cancel(call);
}

/* application/x-www-form-urlencoded value (RFC 3986 unreserved kept). */
static char *form_enc(cds_req *r, const char *s)
{
    size_t n = strlen(s);
    char *out = cds_req_alloc(r, n * 3 + 1), *o = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = 0;
    return out;
}

/* ================= start ================= */

typedef struct start_ctx {
    int ial;
    char state[64], nonce[64], verifier[64], challenge[64], state_hash[64];
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
    const char *authz = cds_oidc_endpoint(r, "authorization");
    char *url = cds_req_printf(
        r,
        "%s%sresponse_type=code&client_id=%s&redirect_uri=%s&scope=openid%%20profile"
        "&state=%s&nonce=%s&code_challenge=%s&code_challenge_method=S256&acr_values=%s",
        authz, strchr(authz, '?') ? "&" : "?", form_enc(r, g_auth.vneid_client_id),
        form_enc(r, g_auth.vneid_redirect_uri), s->state, s->nonce, s->challenge,
        form_enc(r, acr));
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200,
                     json_pack("{s:s,s:s,s:s,s:i}", "authorization_url", url, "state", s->state,
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
    const char *p[] = {s->state_hash, s->nonce, s->verifier, ial, ttl,
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
    cds_auth_random_b64url(32, s->state, sizeof s->state);
    cds_auth_random_b64url(32, s->nonce, sizeof s->nonce);
    cds_auth_random_b64url(32, s->verifier, sizeof s->verifier);
    cds_auth_sha256_b64url(s->verifier, s->challenge, sizeof s->challenge);
    cds_auth_sha256_b64url(s->state, s->state_hash, sizeof s->state_hash);
    cds_req_set_user(r, s, NULL);
    cds_oidc_discover(r, start_discovered);
}

/* ================= finish ================= */

typedef struct finish_ctx {
    char code[513], state[129], state_hash[64];
    char nonce[64], verifier[64];
    int ial_requested;
    char language[3];      /* what the start's Accept-Language named, or "" */
    char *provider_access_token;
    cds_jwt jwt;
    int have_jwt;
    cds_identity id;
    char refresh[64];
    int slot;
} finish_ctx;

static void finish_free(void *p)
{
    finish_ctx *f = p;
    if (f->have_jwt) cds_jwt_free(&f->jwt);
    free(f->provider_access_token);
    free(f);
}

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

static void with_claims(cds_req *r, const json_t *claims)
{
    finish_ctx *f = cds_req_user(r);
    const char *why;
    if (cds_identity_from_claims(claims, &f->id, &why) != 0) {
        id_token_invalid(r, why);
        return;
    }
    store_citizen(r);
}

static void on_key(cds_req *r, int ok, EVP_PKEY *key)
{
    finish_ctx *f = cds_req_user(r);
    if (ok == -2) {
        provider_down(r);
        return;
    }
    if (ok != 0) {
        id_token_invalid(r, "unknown key id");
        return;
    }
    int v = cds_jws_verify(&f->jwt, key, CDS_ALG_RS256 | CDS_ALG_ES256);
    EVP_PKEY_free(key);
    if (v != CDS_JOSE_OK) {
        id_token_invalid(r, v == CDS_JOSE_EALG ? "algorithm not allowed" : "bad signature");
        return;
    }
    cds_oidc_expect e = {g_auth.vneid_issuer, g_auth.vneid_client_id, f->nonce, time(NULL),
                         CLOCK_SKEW_S};
    const char *why;
    if (cds_oidc_check_claims(f->jwt.claims, &e, &why) != 0) {
        id_token_invalid(r, why);
        return;
    }
    with_claims(r, f->jwt.claims);
}

static void on_userinfo(void *arg, const cds_http_response *resp)
{
    cds_req *r = arg;
    finish_ctx *f = cds_req_user(r);
    cds_req_untrack(r, f->slot);
    json_t *claims = NULL;
    if (resp->error || resp->status >= 500 || resp->status == 0) {
        provider_down(r);
    } else if (resp->status != 200 || !(claims = json_loadb(resp->body, resp->body_len, 0, NULL))) {
        id_token_invalid(r, "userinfo refused");
    } else {
        with_claims(r, claims);
    }
    json_decref(claims);
}

static void fetch_userinfo(cds_req *r)
{
    finish_ctx *f = cds_req_user(r);
    const char *auth = cds_req_printf(r, "Authorization: Bearer %s", f->provider_access_token);
    const char *hdrs[] = {auth, "Accept: application/json", NULL};
    cds_http_request hr = {.method = "GET", .url = cds_oidc_endpoint(r, "userinfo"),
                           .headers = hdrs, .timeout_ms = 5000, .max_response = 64 * 1024,
                           .ca_file = g_auth.vneid_ca_file};
    cds_http_call *call = cds_http_start(cds_req_worker(r)->http, &hr, on_userinfo, r);
    if (!call) {
        provider_down(r);
        return;
    }
    f->slot = cds_req_track(r, cancel_call, call);
}

static void on_token(void *arg, const cds_http_response *resp)
{
    cds_req *r = arg;
    finish_ctx *f = cds_req_user(r);
    cds_req_untrack(r, f->slot);
    if (resp->error || resp->status == 0 || resp->status >= 500) {
        cds_log(CDS_LOG_WARN, "vneid_token", "status %ld %s", resp->status, resp->error ? resp->error : "");
        provider_down(r);
        return;
    }
    json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (resp->status != 200) {
        const char *err = json_string_value(json_object_get(doc, "error"));
        cds_log(CDS_LOG_WARN, "vneid_token", "refused: %ld %s", resp->status, err ? err : "-");
        if (err && strcmp(err, "invalid_grant") == 0)
            cds_problem(r, 400, "login_code_invalid",
                        "Mã đăng nhập không hợp lệ hoặc đã được sử dụng, vui lòng đăng nhập lại.");
        else
            cds_problem(r, 502, "identity_provider_error",
                        "VNeID từ chối yêu cầu đăng nhập, vui lòng thử lại sau.");
        json_decref(doc);
        return;
    }
    const char *at = json_string_value(json_object_get(doc, "access_token"));
    const char *idt = json_string_value(json_object_get(doc, "id_token"));
    if (at) f->provider_access_token = strdup(at);
    if (g_auth.vneid_userinfo_only) {
        json_decref(doc);
        if (!f->provider_access_token) id_token_invalid(r, "no access token");
        else fetch_userinfo(r);
        return;
    }
    const char *why = "no ID token";
    if (!idt || cds_jwt_parse(idt, strlen(idt), &f->jwt, &why) != CDS_JOSE_OK) {
        json_decref(doc);
        id_token_invalid(r, why);
        return;
    }
    f->have_jwt = 1;
    json_decref(doc);
    if (!(f->jwt.alg & (CDS_ALG_RS256 | CDS_ALG_ES256))) {
        id_token_invalid(r, "algorithm not allowed");
        return;
    }
    cds_oidc_key(r, f->jwt.kid, on_key);
}

static void exchange_code(cds_req *r, int ok)
{
    if (ok != 0) {
        provider_down(r);
        return;
    }
    finish_ctx *f = cds_req_user(r);
    /* RFC 6749 2.3.1: client id and secret are form-encoded inside Basic. */
    const char *cred = cds_req_printf(r, "%s:%s", form_enc(r, g_auth.vneid_client_id),
                                      form_enc(r, g_auth.vneid_client_secret));
    size_t clen = strlen(cred);
    char *b64 = cds_req_alloc(r, (clen + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, (int)clen);
    const char *auth = cds_req_printf(r, "Authorization: Basic %s", b64);
    const char *hdrs[] = {auth, "Content-Type: application/x-www-form-urlencoded",
                          "Accept: application/json", NULL};
    char *body = cds_req_printf(r, "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s",
                                form_enc(r, f->code), form_enc(r, g_auth.vneid_redirect_uri),
                                f->verifier);
    cds_http_request hr = {.method = "POST", .url = cds_oidc_endpoint(r, "token"), .headers = hdrs,
                           .body = body, .body_len = strlen(body), .timeout_ms = 10000,
                           .max_response = 256 * 1024, .ca_file = g_auth.vneid_ca_file};
    cds_http_call *call = cds_http_start(cds_req_worker(r)->http, &hr, on_token, r);
    if (!call) {
        provider_down(r);
        return;
    }
    f->slot = cds_req_track(r, cancel_call, call);
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
    snprintf(f->nonce, sizeof f->nonce, "%s", PQgetvalue(res, 0, 1));
    snprintf(f->verifier, sizeof f->verifier, "%s", PQgetvalue(res, 0, 2));
    f->ial_requested = PQgetvalue(res, 0, 3)[0] - '0';
    snprintf(f->language, sizeof f->language, "%s", PQgetvalue(res, 0, 4));
    cds_oidc_discover(r, exchange_code);
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
    finish_ctx *f = calloc(1, sizeof *f);
    if (!f) abort();
    snprintf(f->code, sizeof f->code, "%s", code);
    snprintf(f->state, sizeof f->state, "%s", state);
    cds_auth_sha256_b64url(f->state, f->state_hash, sizeof f->state_hash);
    cds_req_set_user(r, f, finish_free);
    const char *p[] = {f->state_hash};
    cds_req_db(r, st_login_consume, 1, p, on_consumed);
}
