/* Shared by the files of auth/ only: configuration and keys, prepared
 * statements, our access tokens, the revoked-login set and the VNeID
 * provider cache. */
#ifndef CDS_AUTH_INTERNAL_H
#define CDS_AUTH_INTERNAL_H
#include "auth/auth.h"
#include "core/jose.h"
#include "core/pdata.h"

#include <time.h>

extern cds_auth_config g_auth;

/* partner_auth.c: parse g_auth.partner_clients once (from cds_auth_init,
 * before the loop threads start); -1 when the spec is malformed. */
int cds_partner_auth_init(void);
void cds_partner_auth_shutdown(void);

/* keys.c */
int cds_auth_keys_load(const cds_auth_config *c);
void cds_auth_keys_free(void);
EVP_PKEY *cds_auth_token_key(const char *kid); /* NULL kid: the signing key */
/* own_token.c: opens an access token of ours for `audience` (size, shape,
 * our key by kid, ES256 signature, issuer, audience, exp, iat): 0 with *jwt
 * to read and cds_jwt_free, or -1 with *why set and nothing to free. */
int cds_auth_own_token_open(const char *token, size_t len, const char *audience, cds_jwt *jwt,
                            const char **why);
/* The key that signs new tokens and its kid (one reading: a SIGHUP reload
 * in between cannot pair one set's key with another's kid). */
EVP_PKEY *cds_auth_token_signer(const char **kid);
void cds_auth_random_b64url(size_t nbytes, char *out, size_t cap);
/* The one successor of refresh token `parent` (at most 128 characters):
 * 64 hex digits of HMAC-SHA256(refresh key, label || parent). */
void cds_auth_refresh_successor(const char *parent, char out[65]);
void cds_auth_sha256_b64url(const char *s, char *out, size_t cap);

/* statements (registered in auth.c) */
extern int st_login_begin, st_login_consume, st_citizen_login, st_refresh_rotate, st_logout,
    st_me_get, st_me_update, st_device_upsert, st_device_delete, st_revoked_recent;

/* tokens.c: our access tokens */
char *cds_access_token_issue(const char *citizen_id, const char *family_id, int ial); /* malloc */
/* 0 and *p filled, or -1 with *why naming the failure for logs. */
int cds_access_token_check(const char *token, size_t len, cds_principal *p, const char **why);
void cds_revoked_add(const char *family_id);
int cds_revoked_has(const char *family_id);
void cds_revoked_reset(void);
int cds_revocation_listen(const char *conninfo);
void cds_revocation_stop(void);

/* oidc.c: the VNeID provider, seen from the relying party */
typedef struct cds_identity {
    char sub[256];
    char pid[13];
    char name[256];
    char birthdate[11];
    char gender[8];
    char address[600];
    char phone[16];
    int ial;
} cds_identity;
typedef struct cds_oidc_expect {
    const char *issuer, *client_id, *nonce;
    time_t now;
    int skew_s;
} cds_oidc_expect;
/* Claim checks of an ID token (signature checked separately): iss exact,
 * aud contains client_id (azp equal when several), exp/iat with skew, nonce.
 * Returns 0 or -1 with *code a problem code. */
int cds_oidc_check_claims(const json_t *claims, const cds_oidc_expect *e, const char **why);
/* Maps ID token / userinfo claims to an identity; -1 with *why when the
 * provider sent something we cannot use (no valid personal ID, no name...). */
int cds_identity_from_claims(const json_t *claims, cds_identity *id, const char **why);

/* The providers we are a relying party of, and their settings. */
enum { CDS_OIDC_VNEID = 0, CDS_OIDC_STAFF = 1, CDS_OIDC_N };
typedef struct cds_oidc_rp {
    const char *name; /* for logs */
    const char *issuer, *client_id, *client_secret, *redirect_uri, *ca_file;
    int userinfo_only; /* the identity comes from userinfo, not the ID token */
} cds_oidc_rp;
cds_oidc_rp cds_oidc_rp_get(int which);
/* The log event of a provider's step ("discovery", "jwks", "token",
 * "id_token"): "vneid_discovery", "staff_oidc_token", ... */
const char *cds_oidc_event(int which, const char *step);

/* Provider metadata and keys, cached per process and provider. The
 * callbacks run on the request's loop thread; `ok` is 0 on success. */
typedef void (*cds_oidc_cont)(cds_req *r, int ok);
void cds_oidc_discover(cds_req *r, int which, cds_oidc_cont cont);
/* Endpoint URLs after a successful discovery (copied into the request arena). */
const char *cds_oidc_endpoint(cds_req *r, int which, const char *name);
/* Finds the key for `kid`, fetching the JWKS when it is not cached or the
 * kid is unknown (at most once per jwks_min_refetch_ms for the provider). cont's ok: 0 found
 * (then *key_out holds a reference the caller frees), -1 unknown kid, -2
 * the JWKS could not be fetched. */
typedef void (*cds_oidc_key_cont)(cds_req *r, int ok, EVP_PKEY *key);
void cds_oidc_key(cds_req *r, int which, const char *kid, cds_oidc_key_cont cont);
void cds_oidc_reset(void);

/* oidc_flow.c: the authorization code flow every login of ours runs, once.
 * The authorization URL (request arena) for state, nonce, PKCE challenge
 * and optional acr_values; NULL before a successful discovery. */
char *cds_oidc_authorize_url(cds_req *r, int which, const char *state, const char *nonce,
                             const char *challenge, const char *acr_values);
/* One authorization attempt's secrets: state (sent; only its hash is
 * stored), nonce, PKCE verifier (stored) and its S256 challenge (sent). */
typedef struct cds_oidc_attempt {
    char state[64], nonce[64], verifier[64], challenge[64], state_hash[64];
} cds_oidc_attempt;
/* Fills a with fresh random state, nonce and verifier, and their derivations. */
void cds_oidc_attempt_new(cds_oidc_attempt *a);
/* Exchanges `code` at the token endpoint (confidential client, PKCE
 * verifier), then checks the ID token (signature by kid from the JWKS,
 * RS256/ES256 only, iss, aud/azp, exp, iat, nonce) or, in userinfo-only
 * mode, asks userinfo; cont gets the verified claims (valid during the call)
 * or a status below. Uses the request's user slot while it runs and puts
 * the caller's back (which must be arena memory) before cont. */
enum {
    CDS_OIDC_FLOW_OK = 0,
    CDS_OIDC_FLOW_DOWN = -1,         /* the provider could not be reached (502) */
    CDS_OIDC_FLOW_CODE_INVALID = -2, /* invalid_grant: code unknown, used or expired */
    CDS_OIDC_FLOW_REFUSED = -3,      /* another error of the token endpoint */
    CDS_OIDC_FLOW_ID_TOKEN_INVALID = -4,
};
typedef void (*cds_oidc_claims_cont)(cds_req *r, int status, const json_t *claims);
void cds_oidc_code_exchange(cds_req *r, int which, const char *code, const char *nonce,
                            const char *verifier, cds_oidc_claims_cont cont);
/* application/x-www-form-urlencoded value (RFC 3986 unreserved kept), arena. */
char *cds_oidc_form_enc(cds_req *r, const char *s);

/* staff_login.c: statements and limits of staff logins (from cds_auth_init),
 * the rate limits of one attempt (1 allowed; 0 with *retry_after), the
 * token of a successful login (fills res), the JSON answer of a login. */
#include "auth/staff.h"
extern int st_staff_lookup, st_staff_login, st_staff_session_check, st_staff_logout,
    st_staff_oidc_begin, st_staff_oidc_consume, st_staff_oidc_login;
int cds_staff_init(void);
int cds_staff_admin_init(void); /* staff_admin.c */
int cds_vneid_consent_init(void); /* vneid_consent.c */
void cds_staff_shutdown(void);
int cds_staff_rate_take(cds_req *r, const char *login, int *retry_after);
void cds_staff_login_success(cds_req *r, cds_staff_login_result *res, cds_staff_principal *p);
void cds_staff_login_answer(cds_req *r, const cds_staff_login_result *res);

/* me.c: the profile JSON of a citizen row (me_get's columns). */
json_t *cds_me_profile_json(PGresult *res, int row);

#endif
