/* The OpenID Connect authorization code flow, as a relying party, written
 * once for every login of ours: citizens with VNeID (login.c) and staff
 * with the city's issuer (staff_oidc.c).
 *
 * The authorization URL carries response_type=code, our client id and
 * redirect URI, scope "openid profile", state, nonce and the PKCE S256
 * challenge (RFC 7636). The code is exchanged at the token endpoint as a
 * confidential client (HTTP Basic, RFC 6749 2.3.1) with the PKCE verifier;
 * the ID token is checked (OpenID Connect Core 1.0, 3.1.3.7: signature by
 * the kid from the JWKS with an algorithm allow-list RS256/ES256, iss,
 * aud/azp, exp, iat, nonce) or, in a provider's userinfo-only mode, the
 * userinfo endpoint is asked with the provider's access token. Every step
 * runs asynchronously on the loop thread (curl multi). */
#include "internal.h"
#include "core/http_client.h"
#include "core/log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLOCK_SKEW_S 60

char *cds_oidc_form_enc(cds_req *r, const char *s)
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

void cds_oidc_attempt_new(cds_oidc_attempt *a)
{
    cds_auth_random_b64url(32, a->state, sizeof a->state);
    cds_auth_random_b64url(32, a->nonce, sizeof a->nonce);
    cds_auth_random_b64url(32, a->verifier, sizeof a->verifier);
    cds_auth_sha256_b64url(a->verifier, a->challenge, sizeof a->challenge);
    cds_auth_sha256_b64url(a->state, a->state_hash, sizeof a->state_hash);
}

char *cds_oidc_authorize_url(cds_req *r, int which, const char *state, const char *nonce,
                             const char *challenge, const char *acr_values)
{
    cds_oidc_rp rp = cds_oidc_rp_get(which);
    const char *authz = cds_oidc_endpoint(r, which, "authorization");
    if (!authz || !*authz) return NULL;
    return cds_req_printf(
        r,
        "%s%sresponse_type=code&client_id=%s&redirect_uri=%s&scope=openid%%20profile"
        "&state=%s&nonce=%s&code_challenge=%s&code_challenge_method=S256%s%s",
        authz, strchr(authz, '?') ? "&" : "?", cds_oidc_form_enc(r, rp.client_id),
        cds_oidc_form_enc(r, rp.redirect_uri), state, nonce, challenge,
        acr_values ? "&acr_values=" : "", acr_values ? cds_oidc_form_enc(r, acr_values) : "");
}

typedef struct flow {
    int which;
    void *saved_user;
    cds_oidc_claims_cont cont;
    char code[513], nonce[64], verifier[64];
    char *provider_access_token;
    cds_jwt jwt;
    int have_jwt;
    int slot;
} flow;

static void flow_free(void *p)
{
    flow *f = p;
    if (f->have_jwt) cds_jwt_free(&f->jwt);
    free(f->provider_access_token);
    free(f);
}

/* Ends the flow: the caller's user state back, ours freed, then cont. */
static void done(cds_req *r, flow *f, int status, const json_t *claims)
{
    json_t *hold = claims ? json_incref((json_t *)claims) : NULL;
    cds_oidc_claims_cont cont = f->cont;
    cds_req_set_user(r, f->saved_user, NULL);
    flow_free(f);
    cont(r, status, hold);
    json_decref(hold);
}

static void id_token_invalid(cds_req *r, flow *f, const char *why)
{
    cds_log(CDS_LOG_WARN, cds_oidc_event(f->which, "id_token"), "refused: %s", why);
    done(r, f, CDS_OIDC_FLOW_ID_TOKEN_INVALID, NULL);
}

static void cancel_call(void *call)
{
    cds_http_cancel(call);
}

static void on_key(cds_req *r, int ok, EVP_PKEY *key)
{
    flow *f = cds_req_user(r);
    if (ok == -2) {
        done(r, f, CDS_OIDC_FLOW_DOWN, NULL);
        return;
    }
    if (ok != 0) {
        id_token_invalid(r, f, "unknown key id");
        return;
    }
    int v = cds_jws_verify(&f->jwt, key, CDS_ALG_RS256 | CDS_ALG_ES256);
    EVP_PKEY_free(key);
    if (v != CDS_JOSE_OK) {
        id_token_invalid(r, f, v == CDS_JOSE_EALG ? "algorithm not allowed" : "bad signature");
        return;
    }
    cds_oidc_rp rp = cds_oidc_rp_get(f->which);
    cds_oidc_expect e = {rp.issuer, rp.client_id, f->nonce, time(NULL), CLOCK_SKEW_S};
    const char *why;
    if (cds_oidc_check_claims(f->jwt.claims, &e, &why) != 0) {
        id_token_invalid(r, f, why);
        return;
    }
    done(r, f, CDS_OIDC_FLOW_OK, f->jwt.claims);
}

static void on_userinfo(void *arg, const cds_http_response *resp)
{
    cds_req *r = arg;
    flow *f = cds_req_user(r);
    cds_req_untrack(r, f->slot);
    json_t *claims = NULL;
    if (resp->error || resp->status >= 500 || resp->status == 0) {
        done(r, f, CDS_OIDC_FLOW_DOWN, NULL);
    } else if (resp->status != 200 || !(claims = json_loadb(resp->body, resp->body_len, 0, NULL))) {
        id_token_invalid(r, f, "userinfo refused");
    } else {
        done(r, f, CDS_OIDC_FLOW_OK, claims);
    }
    json_decref(claims);
}

static void fetch_userinfo(cds_req *r, flow *f)
{
    const char *auth = cds_req_printf(r, "Authorization: Bearer %s", f->provider_access_token);
    const char *hdrs[] = {auth, "Accept: application/json", NULL};
    cds_http_request hr = {.method = "GET", .url = cds_oidc_endpoint(r, f->which, "userinfo"),
                           .headers = hdrs, .timeout_ms = 5000, .max_response = 64 * 1024,
                           .ca_file = cds_oidc_rp_get(f->which).ca_file};
    cds_http_call *call = cds_http_start(cds_req_worker(r)->http, &hr, on_userinfo, r);
    if (!call) {
        done(r, f, CDS_OIDC_FLOW_DOWN, NULL);
        return;
    }
    f->slot = cds_req_track(r, cancel_call, call);
}

static void on_token(void *arg, const cds_http_response *resp)
{
    cds_req *r = arg;
    flow *f = cds_req_user(r);
    cds_oidc_rp rp = cds_oidc_rp_get(f->which);
    cds_req_untrack(r, f->slot);
    if (resp->error || resp->status == 0 || resp->status >= 500) {
        cds_log(CDS_LOG_WARN, cds_oidc_event(f->which, "token"), "status %ld %s", resp->status,
                resp->error ? resp->error : "");
        done(r, f, CDS_OIDC_FLOW_DOWN, NULL);
        return;
    }
    json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (resp->status != 200) {
        const char *err = json_string_value(json_object_get(doc, "error"));
        cds_log(CDS_LOG_WARN, cds_oidc_event(f->which, "token"), "refused: %ld %s", resp->status,
                err ? err : "-");
        int st = err && strcmp(err, "invalid_grant") == 0 ? CDS_OIDC_FLOW_CODE_INVALID
                                                          : CDS_OIDC_FLOW_REFUSED;
        json_decref(doc);
        done(r, f, st, NULL);
        return;
    }
    const char *at = json_string_value(json_object_get(doc, "access_token"));
    const char *idt = json_string_value(json_object_get(doc, "id_token"));
    if (at) f->provider_access_token = strdup(at);
    if (rp.userinfo_only) {
        json_decref(doc);
        if (!f->provider_access_token) id_token_invalid(r, f, "no access token");
        else fetch_userinfo(r, f);
        return;
    }
    const char *why = "no ID token";
    if (!idt || cds_jwt_parse(idt, strlen(idt), &f->jwt, &why) != CDS_JOSE_OK) {
        json_decref(doc);
        id_token_invalid(r, f, why);
        return;
    }
    f->have_jwt = 1;
    json_decref(doc);
    if (!(f->jwt.alg & (CDS_ALG_RS256 | CDS_ALG_ES256))) {
        id_token_invalid(r, f, "algorithm not allowed");
        return;
    }
    cds_oidc_key(r, f->which, f->jwt.kid, on_key);
}

static void exchange(cds_req *r, int ok)
{
    flow *f = cds_req_user(r);
    if (ok != 0) {
        done(r, f, CDS_OIDC_FLOW_DOWN, NULL);
        return;
    }
    cds_oidc_rp rp = cds_oidc_rp_get(f->which);
    /* RFC 6749 2.3.1: client id and secret are form-encoded inside Basic. */
    const char *cred = cds_req_printf(r, "%s:%s", cds_oidc_form_enc(r, rp.client_id),
                                      cds_oidc_form_enc(r, rp.client_secret ? rp.client_secret : ""));
    size_t clen = strlen(cred);
    char *b64 = cds_req_alloc(r, (clen + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, (int)clen);
    const char *auth = cds_req_printf(r, "Authorization: Basic %s", b64);
    const char *hdrs[] = {auth, "Content-Type: application/x-www-form-urlencoded",
                          "Accept: application/json", NULL};
    char *body = cds_req_printf(r, "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s",
                                cds_oidc_form_enc(r, f->code), cds_oidc_form_enc(r, rp.redirect_uri),
                                f->verifier);
    cds_http_request hr = {.method = "POST", .url = cds_oidc_endpoint(r, f->which, "token"),
                           .headers = hdrs, .body = body, .body_len = strlen(body),
                           .timeout_ms = 10000, .max_response = 256 * 1024, .ca_file = rp.ca_file};
    cds_http_call *call = cds_http_start(cds_req_worker(r)->http, &hr, on_token, r);
    if (!call) {
        done(r, f, CDS_OIDC_FLOW_DOWN, NULL);
        return;
    }
    f->slot = cds_req_track(r, cancel_call, call);
}

void cds_oidc_code_exchange(cds_req *r, int which, const char *code, const char *nonce,
                            const char *verifier, cds_oidc_claims_cont cont)
{
    flow *f = calloc(1, sizeof *f);
    if (!f) abort();
    f->which = which;
    f->cont = cont;
    f->saved_user = cds_req_user(r);
    snprintf(f->code, sizeof f->code, "%s", code);
    snprintf(f->nonce, sizeof f->nonce, "%s", nonce);
    snprintf(f->verifier, sizeof f->verifier, "%s", verifier);
    cds_req_set_user(r, f, flow_free);
    cds_oidc_discover(r, which, exchange);
}
