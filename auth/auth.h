/* Login with VNeID and the citizen's own data.
 *
 * VNeID is an OpenID Connect provider and we are its relying party
 * (authorization code flow, PKCE S256, state and nonce kept server-side).
 * After login the app talks to us with our own tokens: a 10-minute ES256
 * access token checked on every request without a database hit, and an opaque
 * refresh token rotated on every use. The citizen's personal ID number, phone
 * and address are sealed at rest (core/pdata.h). */
#ifndef CDS_AUTH_H
#define CDS_AUTH_H
#include "core/http.h"
#include "core/options.h"

typedef struct cds_auth_config {
    const char *vneid_issuer, *vneid_client_id, *vneid_client_secret, *vneid_redirect_uri;
    const char *vneid_ca_file;
    int vneid_userinfo_only;
    int jwks_min_refetch_ms;
    int login_ttl_s;
    const char *token_keys, *token_issuer;
    int access_ttl_s, refresh_ttl_s, refresh_grace_s;
    const char *data_keys, *pid_hash_key, *refresh_key;
    const char *keys_dir;
    const char *partner_clients; /* "client:secret[,...]" of the TTHC system(s) */
    int partner_window_s;        /* replay window of signed partner calls */
    /* staff (auth/staff.h) */
    int staff_token_ttl_s;
    int staff_lock_failures, staff_lock_s;
    const char *totp_issuer; /* the name authenticator apps show */
    const char *staff_oidc_issuer, *staff_oidc_client_id, *staff_oidc_client_secret,
        *staff_oidc_redirect_uri, *staff_oidc_ca_file; /* issuer unset: no staff OIDC */
} cds_auth_config;

/* Defaults (the VNeID stand-in of scripts/run) and the options that change them. */
void cds_auth_config_defaults(cds_auth_config *c);
size_t cds_auth_options(cds_auth_config *c, cds_opt *out, size_t cap);

/* Loads keys (making development keys in keys_dir when none are configured),
 * registers statements, starts the revocation listener when db_conninfo is
 * set. Before threads start. */
int cds_auth_init(const cds_auth_config *c, const char *db_conninfo);
void cds_auth_shutdown(void);

/* The authenticated citizen of a request. */
typedef struct cds_principal {
    char citizen_id[37]; /* uuid */
    char family_id[37];  /* the login (token family) */
    int ial;             /* identification level 1 or 2 */
} cds_principal;

/* Checks "Authorization: Bearer <access token>". On failure answers 401
 * problem+json itself and returns NULL. The principal lives in the request. */
const cds_principal *cds_auth_citizen(cds_req *r);
/* A citizen's read of one of their own dossiers (GET /v1/dossiers/{id},
 * .../payment, .../shipment): checks the token (401), the path's `id` (404
 * dossier_not_found when not a UUID), then runs statement `stmt` with
 * $1 = the dossier id and $2 = the citizen's id, answering through `cb`. */
void cds_auth_citizen_dossier_query(cds_req *r, int stmt, cds_req_db_cb cb);
/* 1 when the citizen's level is at least `level`; otherwise answers 403
 * `identification_level_insufficient` and returns 0. */
int cds_auth_require_level(cds_req *r, const cds_principal *p, int level);

/* The citizen's profile as GET /v1/me answers it, for another module (form
 * prefill). cont gets NULL when it could not be read (the answer is then
 * already given). The JSON belongs to the caller. The caller's request user
 * state must be arena memory (no free function): it is kept across the call. */
void cds_auth_profile(cds_req *r, const cds_principal *p, void (*cont)(cds_req *r, json_t *profile));

/* partner_auth.c: the signed-request check of every partner route (the TTHC
 * system, operators' tools), whichever module owns the route. Answers 401
 * itself and returns NULL on failure; else the client id (arena). */
const char *cds_partner_auth(cds_req *r);

/* courier_token.c: the carrier's couriers (delivery/handheld*.c). A token
 * of audience "cds-courier" for a courier of `carrier`, valid ttl_s seconds
 * (malloc); the check of "Authorization: Bearer" on courier routes, which
 * answers 401 itself and returns NULL (a citizen token is refused). */
typedef struct cds_courier_principal {
    char courier_id[37];
    char carrier[33];
} cds_courier_principal;
char *cds_courier_token_issue(const char *courier_id, const char *carrier, int ttl_s);
const cds_courier_principal *cds_auth_courier(cds_req *r);

/* vneid_consent.c: a citizen's VNeID login on a public-service agent's
 * device as their consent (dossiers/agents.c). start: cont gets the
 * authorization URL to open on the device, the state and when it expires;
 * finish (the code and state VNeID redirected back with): cont gets the
 * verified identity, sealed and hashed as citizens are kept (request arena).
 * Bound to the agent staff_id. Failures are answered here (problem+json:
 * 403 staff_disabled, 400 login_state_invalid / login_code_invalid, 401
 * id_token_invalid, 422 invalid_login_callback, 502 identity_provider_*);
 * cont is then not called. The caller's user state must be arena memory. */
typedef struct cds_vneid_person {
    char pid_hash[65];
    const char *pid_sealed, *address_sealed, *phone_sealed; /* NULL when not given */
    const char *sub, *name, *birthdate, *gender;            /* birthdate, gender may be NULL */
    int ial;
} cds_vneid_person;
typedef void (*cds_vneid_consent_start_cont)(cds_req *r, const char *authorization_url,
                                             const char *state, const char *expires_at);
typedef void (*cds_vneid_consent_finish_cont)(cds_req *r, const cds_vneid_person *who);
void cds_vneid_consent_start(cds_req *r, const char *staff_id, cds_vneid_consent_start_cont cont);
void cds_vneid_consent_finish(cds_req *r, const char *staff_id, const char *code, const char *state,
                              cds_vneid_consent_finish_cont cont);

/* Sealing and hashing of personal data with the configured keys. */
char *cds_auth_seal(const char *plain, const char *aad);          /* malloc */
char *cds_auth_open(const char *sealed, const char *aad);         /* malloc, NULL if not genuine */
void cds_auth_pid_hash(const char *pid, char out[65]);

/* Handlers (api/routes.c). */
void cds_auth_login_start(cds_req *r);
void cds_auth_login_finish(cds_req *r);
void cds_auth_refresh(cds_req *r);
void cds_auth_logout(cds_req *r);
void cds_me_get(cds_req *r);
void cds_me_patch(cds_req *r);
void cds_me_device_add(cds_req *r);
void cds_me_device_remove(cds_req *r);

#endif
