/* The city's staff: operators, auditors and public-service agents (issue 19).
 *
 * Who they are: one account per person (table staff, 0028_staff.sql) with a
 * login, a display name, a role and, for an agent, the agent location (post
 * office) they work at. Accounts are created and disabled by operators
 * (`cds staff create|disable|totp`, the operators' console, the agents'
 * route of dossiers/), never deleted.
 *
 * How they log in, one of:
 *   - password + TOTP (always available): the password is kept as an
 *     argon2id hash (libargon2), the TOTP secret (RFC 6238: HMAC-SHA-1,
 *     30-second steps, 6 digits, one step of drift either way) sealed like
 *     personal data; a code is accepted once (the step must be newer than
 *     the last one used). Attempts are rate limited per client address and
 *     per login in each process, and 5 consecutive failures lock the account
 *     for 15 minutes in the database (CDS_STAFF_LOCK_FAILURES/_SECONDS);
 *   - the city's staff OpenID Connect issuer, when CDS_STAFF_OIDC_ISSUER is
 *     set (the same relying-party code as VNeID's login, auth/oidc.c; a
 *     stand-in issuer in cds-sim for development and tests). The account is
 *     found by the issuer's `sub` (staff.oidc_subject).
 *
 * What they get: a staff token, a JWT like the citizens' access tokens
 * (ES256 with our signing key, our issuer) but with audience "cds-staff",
 * typ "staff", the role, the agent location, and `sid` the login session.
 * A citizen token (audience "cds-app") or a courier token ("cds-courier")
 * never passes a staff check, and a staff token never passes theirs.
 * Checking one needs no database; a logout or a disable revokes its session
 * on every node within moments (the revoked set of auth/tokens.c). Lifetime
 * CDS_STAFF_TOKEN_TTL (default 900 s); no refresh token: a console renews a
 * still-valid token with cds_staff_token_renew, which asks the database
 * whether the session is still open.
 *
 * Threading: the cds_staff_login_* and cds_staff_oidc_* calls run on a
 * request's loop thread and never block (the argon2id check runs on the
 * work pool, the database and the issuer are asked asynchronously). They use
 * the request's user slot while they run and put the caller's back before
 * calling `cont`; the caller's user state must therefore be arena memory
 * (no free function), as for cds_auth_profile. Everything they hand to
 * `cont` lives in the request's arena. When the database pool refuses a
 * query (queue full, database down) the request is answered 503
 * problem+json there (cds_req_db) and `cont` is NOT called. */
#ifndef CDS_AUTH_STAFF_H
#define CDS_AUTH_STAFF_H
#include "core/http.h"

#include <stddef.h>
#include <stdint.h>

/* Roles, or'ed into the masks the checks take. */
enum {
    CDS_STAFF_OPERATOR = 1,
    CDS_STAFF_AUDITOR = 2,
    CDS_STAFF_AGENT = 4,
    CDS_STAFF_ANY = 7,
};

/* A staff member as their token says. */
typedef struct cds_staff_principal {
    char staff_id[37];    /* uuid */
    char session_id[37];  /* uuid of the login (staff_sessions.id) */
    char location_id[37]; /* the agent location (uuid), "" unless an agent */
    char login[65];
    char name[201];       /* display name */
    int role;             /* one of CDS_STAFF_OPERATOR, _AUDITOR, _AGENT */
    long long expires_at; /* Unix time the token ends */
} cds_staff_principal;

/* "operator", "auditor", "agent" (NULL for anything else), and back (0 for
 * an unknown name). */
const char *cds_staff_role_name(int role);
int cds_staff_role_parse(const char *name);

/* ---------------- tokens (staff_token.c) ---------------- */

/* A staff token for p (p->expires_at is ignored: the token ends
 * CDS_STAFF_TOKEN_TTL from now; *expires_in, when not NULL, gets that many
 * seconds). malloc; NULL on failure. */
char *cds_staff_token_issue(const cds_staff_principal *p, int *expires_in);
/* Checks a staff token without the database: signature (our keys, by kid),
 * iss, aud "cds-staff", typ "staff", role, exp/iat, session not revoked.
 * 0 with *p filled, or -1 with *why naming the failure for logs ("expired"
 * when only the time is past). */
int cds_staff_token_verify(const char *token, size_t len, cds_staff_principal *p,
                           const char **why);
/* The check of "Authorization: Bearer <staff token>" on a staff route:
 * 401 authentication_required / invalid_token when there is none or it is
 * not a valid staff token (a citizen's or a courier's is not), 403
 * staff_role_forbidden when the role is not in `roles`; answers itself and
 * returns NULL then. The principal lives in the request. */
const cds_staff_principal *cds_auth_staff(cds_req *r, int roles);
/* 1 when p's role is in `roles`; else answers 403 staff_role_forbidden and
 * returns 0 (for a principal checked by cds_staff_token_verify, e.g. from a
 * console cookie). */
int cds_staff_require_role(cds_req *r, const cds_staff_principal *p, int roles);

/* A fresh token for a still-valid principal, after asking the database that
 * its session is open and its account enabled (cont gets NULL when not, or
 * on a database failure: then the caller answers, nothing is answered for
 * it). The token is arena memory. */
typedef void (*cds_staff_token_cont)(cds_req *r, const char *token, int expires_in);
void cds_staff_token_renew(cds_req *r, const cds_staff_principal *p, cds_staff_token_cont cont);

/* Ends p's session on every node (its token and any other of the same
 * login stop working). cont runs when it is recorded; a database error is
 * answered (503) and cont not called. */
typedef void (*cds_staff_logout_cont)(cds_req *r);
void cds_staff_logout(cds_req *r, const cds_staff_principal *p, cds_staff_logout_cont cont);

/* ---------------- logging in (staff_login.c, staff_oidc.c) ---------------- */

typedef enum {
    CDS_STAFF_LOGIN_OK = 0,
    CDS_STAFF_LOGIN_BAD_CREDENTIALS = -1, /* unknown login, wrong password or code, code reused */
    CDS_STAFF_LOGIN_LOCKED = -2,          /* too many failures: retry_after_s */
    CDS_STAFF_LOGIN_RATE_LIMITED = -3,    /* too many attempts from here/for this login: retry_after_s */
    CDS_STAFF_LOGIN_DISABLED = -4,        /* the account is disabled */
    CDS_STAFF_LOGIN_UNAVAILABLE = -5,     /* database, work pool or issuer down: try later */
    CDS_STAFF_LOGIN_NOT_CONFIGURED = -6,  /* staff OIDC asked for but not configured */
    CDS_STAFF_LOGIN_STATE_INVALID = -7,   /* OIDC: state unknown, used or expired */
    CDS_STAFF_LOGIN_ID_TOKEN_INVALID = -8,/* OIDC: the issuer's answer failed our checks */
    CDS_STAFF_LOGIN_PROVIDER_DOWN = -9,   /* OIDC: the issuer could not be reached or refused */
    CDS_STAFF_LOGIN_CODE_INVALID = -10,   /* OIDC: the issuer says the code is unknown or used */
} cds_staff_login_status;

typedef struct cds_staff_login_result {
    cds_staff_login_status status;
    int retry_after_s;               /* LOCKED, RATE_LIMITED */
    const cds_staff_principal *who;  /* OK */
    const char *token;               /* OK: the staff token */
    int expires_in;                  /* OK: its lifetime, seconds */
} cds_staff_login_result;
typedef void (*cds_staff_login_cont)(cds_req *r, const cds_staff_login_result *res);

/* Password + TOTP login (the code as typed: 6 digits, spaces ignored). */
void cds_staff_login_password(cds_req *r, const char *login, const char *password,
                              const char *totp_code, cds_staff_login_cont cont);
/* Answers r as the JSON routes do for a login result that is not OK:
 * 401 invalid_credentials, 429 staff_login_locked / too_many_requests
 * (with Retry-After), 403 staff_disabled, 503 service_busy, 404
 * staff_oidc_not_configured, 400 login_state_invalid / login_code_invalid,
 * 401 id_token_invalid, 502 identity_provider_unavailable. */
void cds_staff_login_problem(cds_req *r, const cds_staff_login_result *res);

/* 1 when the staff OIDC issuer is configured. */
int cds_staff_oidc_enabled(void);
/* Starts a staff OIDC login: cont gets the issuer's authorization URL to
 * send the browser to (its redirect_uri is CDS_STAFF_OIDC_REDIRECT_URI; the
 * state, nonce and PKCE verifier are kept by us for CDS_LOGIN_TTL seconds,
 * one use), or NULL with `status` saying why (NOT_CONFIGURED, PROVIDER_DOWN,
 * UNAVAILABLE; nothing answered). The URL and state are arena memory. */
typedef void (*cds_staff_oidc_start_cont)(cds_req *r, cds_staff_login_status status,
                                          const char *authorization_url, const char *state);
void cds_staff_oidc_start(cds_req *r, cds_staff_oidc_start_cont cont);
/* Finishes it with the code and state the issuer redirected back with
 * (the redirect's query parameters `code` and `state`). The account is the
 * one whose oidc_subject is the issuer's `sub`: none -> BAD_CREDENTIALS. */
void cds_staff_oidc_finish(cds_req *r, const char *code, const char *state,
                           cds_staff_login_cont cont);

/* ---------------- managing accounts (staff_admin.c) ---------------- */

/* A new account: role CDS_STAFF_*; location_id (uuid) for an agent only;
 * a password (then a TOTP secret is made) and/or an OIDC subject; `by` the
 * actor for the audit log ("staff:<uuid>", "operator:<name>"). */
typedef struct cds_staff_new {
    const char *login, *display_name;
    int role;
    const char *location_id, *password, *oidc_subject, *by;
} cds_staff_new;
typedef enum {
    CDS_STAFF_CREATED = 0,
    CDS_STAFF_CREATE_INVALID = -1,     /* why says which field */
    CDS_STAFF_CREATE_EXISTS = -2,      /* the login is taken (id: that account) */
    CDS_STAFF_CREATE_NO_LOCATION = -3, /* no such agent location */
    CDS_STAFF_CREATE_UNAVAILABLE = -4,
} cds_staff_create_status;
typedef struct cds_staff_created {
    cds_staff_create_status status;
    const char *why;                       /* INVALID */
    const char *id;                        /* CREATED, EXISTS */
    const char *totp_secret, *otpauth_uri; /* CREATED with a password: shown once */
} cds_staff_created;
typedef void (*cds_staff_create_cont)(cds_req *r, const cds_staff_created *out);
/* Creates it (argon2id on the work pool; never blocks). Same user-slot
 * rule as the logins. */
void cds_staff_create(cds_req *r, const cds_staff_new *n, cds_staff_create_cont cont);
/* Disables an account and ends its sessions. cont's status: 0 done (also
 * when it was disabled before; disabled_at says when), -1 no such account,
 * -2 database unavailable. */
typedef void (*cds_staff_disable_cont)(cds_req *r, int status, const char *disabled_at);
void cds_staff_disable(cds_req *r, const char *staff_id, const char *by, cds_staff_disable_cont cont);

/* ---------------- passwords and TOTP (staff_password.c, staff_totp.c) ---------------- */

/* An argon2id encoded hash ("$argon2id$v=19$m=...") of password, with a
 * fresh salt and the parameters below; 0 or -1. CPU and memory heavy
 * (tens of milliseconds): never on a loop thread (the CLI, the work pool). */
#define CDS_STAFF_HASH_MAX 128
int cds_staff_password_hash(const char *password, char out[CDS_STAFF_HASH_MAX]);
/* 1 when password matches the encoded hash, else 0. Same cost. */
int cds_staff_password_verify(const char *encoded, const char *password);
/* 1 when a new password is acceptable (12 to 128 bytes, not all one
 * character); else 0 with *why. */
int cds_staff_password_acceptable(const char *password, const char **why);

/* RFC 4648 base32 (upper case, with '=' padding when pad). Encode returns
 * the length written or -1 when cap is too small; decode accepts upper or
 * lower case, ignores spaces and padding, returns bytes written or -1. */
int cds_base32_encode(const unsigned char *in, size_t n, int pad, char *out, size_t cap);
int cds_base32_decode(const char *in, unsigned char *out, size_t cap);
/* RFC 6238 TOTP with HMAC-SHA-1: the `digits`-digit code (6 to 8) of time
 * step `step` (= Unix time / 30) for the raw key. */
uint32_t cds_totp_code(const unsigned char *key, size_t key_len, uint64_t step, int digits);
/* The step among now/30 - 1, now/30, now/30 + 1 whose 6-digit code equals
 * `code` (compared in constant time), or -1. */
long long cds_totp_match(const unsigned char *key, size_t key_len, const char *code, long long now);
/* A new 20-byte TOTP secret in base32 (32 characters, no padding). */
int cds_totp_secret_new(char out[33]);
/* The otpauth:// URI authenticator apps read (Key Uri Format), for the QR
 * shown when a secret is set. malloc. */
char *cds_totp_uri(const char *issuer, const char *login, const char *secret_b32);
/* The sealed form of a base32 secret as stored (staff.totp_secret_sealed), and
 * the raw key of a stored one (-1 when it cannot be opened). */
char *cds_staff_totp_seal(const char *secret_b32);
int cds_staff_totp_key(const char *sealed, unsigned char *key, size_t cap);

/* ---------------- routes (api/routes.c) ---------------- */

/* POST /v1/staff/login {login, password, totp} -> {access_token, ...staff}
 * POST /v1/staff/oidc/start -> {authorization_url, state}
 * POST /v1/staff/oidc/callback {code, state} -> as /login
 * POST /v1/staff/logout (staff token) -> 204
 * GET  /v1/staff/me (staff token) -> the principal */
void cds_staff_login_route(cds_req *r);
void cds_staff_oidc_start_route(cds_req *r);
void cds_staff_oidc_callback_route(cds_req *r);
void cds_staff_logout_route(cds_req *r);
void cds_staff_me_route(cds_req *r);
/* POST /v1/staff/accounts, POST /v1/staff/accounts/{id}/disable (operators). */
void cds_staff_accounts_create_route(cds_req *r);
void cds_staff_accounts_disable_route(cds_req *r);

/* The principal as JSON {id, login, display_name, role, agent_location_id,
 * session_id, expires_at} (new reference). */
json_t *cds_staff_principal_json(const cds_staff_principal *p);

#endif
