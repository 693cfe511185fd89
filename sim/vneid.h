/* Internal header of the VNeID stand-in (sim/vneid*.c), an OpenID Connect
 * provider for development and tests: the test citizens, the registered
 * clients, the signing keys, the store of authorization codes and access
 * tokens, the form/query parser, and the handlers each file contributes.
 *
 * All mutable state hangs off one vneid_state (sim_vneid.state) and is
 * guarded by its mutex, because cds-sim may run several loop threads. Keys
 * have their own mutex (vneid_keys) so signing never waits on the store. */
#ifndef CDS_SIM_VNEID_H
#define CDS_SIM_VNEID_H
#include "sim/sim.h"
#include "sim/witness.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* -------- test citizens (vneid_citizens.c) -------- */
typedef struct vneid_citizen {
    const char *personal_id; /* 12 digits, "079..." (Ho Chi Minh City) */
    const char *name;
    const char *birthdate;   /* YYYY-MM-DD */
    const char *gender;      /* "male" / "female" */
    const char *street;      /* house number and street */
    const char *ward;        /* phường */
    const char *district;    /* quận */
    const char *phone;       /* E.164, or NULL */
    int level;               /* identification level 1 or 2 */
} vneid_citizen;

extern const vneid_citizen vneid_citizens[];
extern const size_t vneid_ncitizens;
/* Index of the citizen with this personal ID, or -1. */
int vneid_citizen_find(const char *personal_id);
/* The opaque, stable subject identifier of a citizen ("vneid-" + 32 hex). */
void vneid_citizen_sub(const vneid_citizen *c, char *out, size_t cap);
/* The identity claims (sub, personal_id, name, birthdate, gender, address,
 * phone_number when given, identification_level, acr) as a new object. */
json_t *vneid_citizen_claims(const vneid_citizen *c);

/* -------- whom a stand-in logs in --------
 * The same OpenID Connect provider serves VNeID's citizens (`vneid`,
 * vneid_citizens.c) and the city's staff (`staffid`, staffid.c): only the
 * people, their claims and the words of the login page differ. */
typedef struct vneid_buf vneid_buf;
typedef struct vneid_directory {
    const char *title; /* the login page's heading and title */
    const char *intro; /* what the client asks for, after "Ứng dụng <client>" */
    size_t (*count)(void);
    int (*find)(const char *hint); /* login_hint, or the page's pick (its key); -1 */
    const char *(*key)(size_t i);  /* what the page's link carries */
    const char *(*name)(size_t i);
    /* The line under the name, HTML-escaped into b (acr_values as asked). */
    void (*meta)(size_t i, const char *acr_values, vneid_buf *b);
    json_t *(*claims)(size_t i); /* the identity claims, a new object */
} vneid_directory;
extern const vneid_directory vneid_citizen_directory;

/* -------- registered clients -------- */
#define VNEID_MAX_CLIENTS 16
typedef struct vneid_client {
    char id[64];
    char secret[128];
    char redirect_uri[512];
} vneid_client;

/* -------- signing keys (vneid_keys.c) -------- */
#define VNEID_KEYS_KEPT 3 /* the current key and the previous two */
typedef struct vneid_keys {
    pthread_mutex_t mu;
    EVP_PKEY *key[VNEID_KEYS_KEPT]; /* [0] is current; NULL slots at the end */
    char kid[VNEID_KEYS_KEPT][64];
} vneid_keys;

int vneid_keys_init(vneid_keys *k);
void vneid_keys_free(vneid_keys *k);
/* Generates a new current key; its kid goes to `kid`. 0 or -1. */
int vneid_keys_rotate(vneid_keys *k, char *kid, size_t cap);
/* The current key with a reference taken (EVP_PKEY_free it) and its kid. */
EVP_PKEY *vneid_keys_current(vneid_keys *k, char *kid, size_t cap);
/* {"keys":[...]} with every kept public key. */
json_t *vneid_keys_jwks(vneid_keys *k);
/* Public key PEM (SubjectPublicKeyInfo) of the key `kid`, or of the current
 * key when kid is NULL/empty; malloc'ed, NULL when unknown. */
char *vneid_keys_public_pem(vneid_keys *k, const char *kid);
/* PEM of any public key; malloc'ed. */
char *vneid_pubkey_pem(EVP_PKEY *key);
/* kid for a fresh key: its RFC 7638 thumbprint. */
int vneid_key_id(EVP_PKEY *key, char *out, size_t cap);

/* -------- codes and access tokens (vneid_store.c) -------- */
#define VNEID_CODE_TTL 60
#define VNEID_TOKEN_TTL 300
#define VNEID_MAX_CODES 4096
#define VNEID_MAX_TOKENS 8192
#define VNEID_NONCE_MAX 256
#define VNEID_SCOPE_MAX 64
#define VNEID_RANDOM_MAX 48 /* 32 random bytes in base64url is 43 characters */

typedef struct vneid_code {
    char code[VNEID_RANDOM_MAX];
    int client;                 /* index into the registered clients */
    int citizen;                /* index into vneid_citizens */
    char challenge[48];         /* S256 code_challenge, 43 characters */
    char nonce[VNEID_NONCE_MAX + 1];
    char scope[VNEID_SCOPE_MAX]; /* the scope granted */
    time_t auth_time, expires;
    int used;
    char access_token[VNEID_RANDOM_MAX]; /* issued from it, revoked on a replay */
} vneid_code;

typedef struct vneid_token {
    char token[VNEID_RANDOM_MAX];
    int client, citizen;
    time_t expires;
} vneid_token;

typedef struct vneid_store {
    vneid_code codes[VNEID_MAX_CODES];
    size_t ncodes;
    vneid_token tokens[VNEID_MAX_TOKENS];
    size_t ntokens;
} vneid_store;

/* Called with the state's mutex held. Adding evicts expired entries first,
 * then the oldest when still full (a busy test loses its oldest code, never
 * the process its memory). */
vneid_code *vneid_store_add_code(vneid_store *st, time_t now);
vneid_code *vneid_store_find_code(vneid_store *st, const char *code);
void vneid_store_add_token(vneid_store *st, const vneid_token *t, time_t now);
vneid_token *vneid_store_find_token(vneid_store *st, const char *token, time_t now);
void vneid_store_revoke_token(vneid_store *st, const char *token);

/* -------- the stand-in's state (vneid.c) -------- */
typedef enum vneid_defect {
    VNEID_DEFECT_NONE = 0,
    VNEID_DEFECT_TAMPERED_SIGNATURE,
    VNEID_DEFECT_ALG_NONE,
    VNEID_DEFECT_HS256_PUBKEY,
    VNEID_DEFECT_WRONG_ISS,
    VNEID_DEFECT_WRONG_AUD,
    VNEID_DEFECT_EXPIRED,
    VNEID_DEFECT_IAT_FUTURE,
    VNEID_DEFECT_NONCE_MISMATCH,
    VNEID_DEFECT_UNKNOWN_KID,
    VNEID_DEFECT_OVERSIZED,
    VNEID_DEFECT_MALFORMED,
} vneid_defect;

typedef struct vneid_state {
    pthread_mutex_t mu; /* guards everything below except keys */
    vneid_client clients[VNEID_MAX_CLIENTS];
    size_t nclients;
    int userinfo_only, jwks_down, token_down;
    vneid_defect defect; /* one-shot: applies to the next id_token issued */
    vneid_store store;
    vneid_keys keys;
    const vneid_directory *dir; /* never changes after start */
} vneid_state;

/* The provider's routes (vneid.c), shared by every stand-in built on it, and
 * its start: clients from the environment variable `clients_env` (else
 * `default_clients`), fresh keys, the directory. 0 or -1. */
extern const cds_route vneid_routes[];
extern const size_t vneid_nroutes;
int vneid_standin_init(sim_standin *s, const char *clients_env, const char *default_clients,
                       const vneid_directory *dir);

vneid_state *vneid_of(cds_req *r);
/* Index of the client with this id, or -1. Clients never change after
 * start, so no lock is needed. */
int vneid_client_find(const vneid_state *st, const char *client_id);
const char *vneid_defect_name(vneid_defect d);
/* 32 random bytes as base64url into out (>= VNEID_RANDOM_MAX). 0 or -1. */
int vneid_random_token(char *out, size_t cap);

/* -------- forms, queries, escaping (vneid_form.c) -------- */
#define VNEID_FORM_MAX_PARAMS 32
typedef struct vneid_param {
    const char *name, *value; /* decoded, NUL-terminated, request arena */
} vneid_param;
typedef struct vneid_form {
    vneid_param p[VNEID_FORM_MAX_PARAMS];
    size_t n;
} vneid_form;

enum {
    VNEID_FORM_OK = 0,
    VNEID_FORM_EENCODING = -1, /* bad %-escape, %00 or a control character */
    VNEID_FORM_ETOOMANY = -2,
    VNEID_FORM_EDUP = -3, /* a parameter given twice (RFC 6749 3.1, 3.2) */
};
/* application/x-www-form-urlencoded: '&'-separated name=value pairs with
 * %XX escapes and '+' for space; empty pairs are skipped. */
int vneid_form_parse(cds_req *r, const char *s, size_t n, vneid_form *f);
const char *vneid_form_get(const vneid_form *f, const char *name);
/* Decodes one form-urlencoded component into out (NUL-terminated). 0 or -1. */
int vneid_form_decode(const char *s, size_t n, char *out, size_t cap);

/* A growable string in the request arena's spirit but on the heap, with a
 * hard maximum: once over it the buffer is marked failed and stays empty. */
struct vneid_buf {
    char *s;
    size_t len, cap, max;
    int failed;
};
void vneid_buf_init(vneid_buf *b, size_t max);
void vneid_buf_free(vneid_buf *b);
void vneid_buf_add(vneid_buf *b, const char *s, size_t n);
void vneid_buf_puts(vneid_buf *b, const char *s);
/* Appends s percent-encoded (everything but RFC 3986 unreserved). */
void vneid_buf_urlenc(vneid_buf *b, const char *s);
/* Appends s with & < > " ' escaped for HTML text and attributes. */
void vneid_buf_html(vneid_buf *b, const char *s);

/* -------- the stand-in's own JOSE (vneid_jose.c; never core/jose.c) -------- */
/* "079085001234" -> "*********234" for pages and logs. */
void vj_mask_id(const char *id, char *out, size_t cap);
/* RFC 7638 thumbprint of an RSA key, base64url. 0 on success. */
int vj_thumbprint(EVP_PKEY *key, char *out, size_t cap);
/* The public JWK {kty, use, alg RS256, kid, n, e} (new reference). */
json_t *vj_jwk(EVP_PKEY *key, const char *kid);
/* A compact RS256 JWS of claims with header {alg, typ JWT, kid}, malloc'ed. */
char *vj_sign_rs256(EVP_PKEY *key, const char *kid, const json_t *claims);

/* -------- handlers -------- */
void vneid_authorize(cds_req *r);         /* vneid_authorize.c */
void vneid_authorize_approve(cds_req *r);
void vneid_authorize_deny(cds_req *r);
void vneid_token_endpoint(cds_req *r);    /* vneid_token.c */
void vneid_userinfo(cds_req *r);

#endif
