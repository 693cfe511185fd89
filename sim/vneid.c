/* The VNeID stand-in (`vneid`, port 9001): an OpenID Connect provider with
 * the authorization code flow and PKCE (S256 only), enough for the backend's
 * "Login with VNeID" to be developed and tested against real protocol
 * exchanges over real sockets.
 *
 *   GET  /.well-known/openid-configuration   discovery (issuer = base URL)
 *   GET  /authorize, /authorize/approve, /authorize/deny   (vneid_authorize.c)
 *   POST /token, GET|POST /userinfo                       (vneid_token.c)
 *   GET  /jwks                                RS256 public keys
 *
 * Test controls, JSON in and out:
 *   POST /_sim/rotate    new current signing key (the JWKS keeps two old ones)
 *   GET|POST /_sim/config {"userinfo_only","jwks_down","token_down"}
 *   POST /_sim/defect    {"defect":"alg_none"|...}: the next ID token is broken
 *   GET  /_sim/jwks.pem[?kid=]  a public key as PEM, for `openssl dgst -verify`
 *
 * Clients come from CDS_SIM_VNEID_CLIENTS ("id:secret:redirect_uri;..."),
 * default "cds-app:cds-dev-secret:cdsapp://auth/callback". This file holds
 * the state (one vneid_state, see sim/vneid.h) and the small endpoints; every
 * request is recorded with sim_record() for tests to read at /_sim/requests.
 *
 * Provenance: the endpoints, parameters, errors and token formats follow the
 * public OpenID Connect specifications (Core 1.0, Discovery 1.0, RFC 6749,
 * RFC 7636 PKCE, RFC 7517/7518 JWK/JWA), with this stand-in's own JOSE and
 * PKCE code: nothing of auth/ is linked. The identity claims are OIDC Core
 * 5.1's standard ones (sub, name, birthdate, gender, address{formatted,
 * street_address, locality, region, country}, phone_number,
 * phone_number_verified, acr) plus personal_id and identification_level,
 * which are OUR names: VNeID publishes no relying-party integration
 * document (no discovery document, claim list or scope list is public; see
 * the header of auth/oidc.c for what was searched), so what VNeID really
 * sends to a partner cannot be checked here. Replace those two names in
 * vneid_citizens.c (and auth/oidc.c) once VNeID's partner documentation is
 * in hand. */
#include "sim/vneid.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CLIENTS "cds-app:cds-dev-secret:cdsapp://auth/callback"

static vneid_state *g_states[4]; /* for the atexit cleanup only */

vneid_state *vneid_of(cds_req *r)
{
    return sim_of(r)->state;
}

int vneid_client_find(const vneid_state *st, const char *client_id)
{
    if (!client_id) return -1;
    for (size_t i = 0; i < st->nclients; i++)
        if (strcmp(st->clients[i].id, client_id) == 0) return (int)i;
    return -1;
}

int vneid_random_token(char *out, size_t cap)
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) return -1;
    return sim_b64url_encode(raw, sizeof raw, out, cap) ? 0 : -1;
}

static const char *const defect_names[] = {
    [VNEID_DEFECT_NONE] = "none",
    [VNEID_DEFECT_TAMPERED_SIGNATURE] = "tampered_signature",
    [VNEID_DEFECT_ALG_NONE] = "alg_none",
    [VNEID_DEFECT_HS256_PUBKEY] = "hs256_pubkey",
    [VNEID_DEFECT_WRONG_ISS] = "wrong_iss",
    [VNEID_DEFECT_WRONG_AUD] = "wrong_aud",
    [VNEID_DEFECT_EXPIRED] = "expired",
    [VNEID_DEFECT_IAT_FUTURE] = "iat_future",
    [VNEID_DEFECT_NONCE_MISMATCH] = "nonce_mismatch",
    [VNEID_DEFECT_UNKNOWN_KID] = "unknown_kid",
    [VNEID_DEFECT_OVERSIZED] = "oversized",
    [VNEID_DEFECT_MALFORMED] = "malformed",
};
#define NDEFECTS (sizeof defect_names / sizeof defect_names[0])

const char *vneid_defect_name(vneid_defect d)
{
    return (size_t)d < NDEFECTS ? defect_names[d] : "none";
}

/* "id:secret:redirect_uri" entries separated by ';'. The redirect URI keeps
 * its own colons: only the first two separate fields. */
static int parse_clients(vneid_state *st, const char *spec)
{
    const char *p = spec;
    while (*p) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        if (len) {
            const char *c1 = memchr(p, ':', len);
            const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - p)) : NULL;
            if (!c2 || st->nclients == VNEID_MAX_CLIENTS) return -1;
            vneid_client *c = &st->clients[st->nclients];
            size_t il = (size_t)(c1 - p), sl = (size_t)(c2 - c1 - 1),
                   ul = len - (size_t)(c2 + 1 - p);
            if (!il || il >= sizeof c->id || !sl || sl >= sizeof c->secret || !ul ||
                ul >= sizeof c->redirect_uri)
                return -1;
            memcpy(c->id, p, il);
            memcpy(c->secret, c1 + 1, sl);
            memcpy(c->redirect_uri, c2 + 1, ul);
            if (strchr(c->redirect_uri, '#')) return -1; /* RFC 6749 3.1.2: no fragment */
            st->nclients++;
        }
        p += len;
        if (*p == ';') p++;
    }
    return st->nclients ? 0 : -1;
}

static void cleanup(void)
{
    for (size_t i = 0; i < sizeof g_states / sizeof g_states[0]; i++) {
        vneid_state *st = g_states[i];
        if (!st) continue;
        vneid_keys_free(&st->keys);
        pthread_mutex_destroy(&st->mu);
        free(st);
        g_states[i] = NULL;
    }
}

int vneid_standin_init(sim_standin *s, const char *clients_env, const char *default_clients,
                       const vneid_directory *dir)
{
    size_t slot = 0;
    while (slot < sizeof g_states / sizeof g_states[0] && g_states[slot]) slot++;
    if (slot == sizeof g_states / sizeof g_states[0]) return -1;
    vneid_state *st = calloc(1, sizeof *st);
    if (!st) return -1;
    pthread_mutex_init(&st->mu, NULL);
    st->dir = dir;
    const char *spec = getenv(clients_env);
    if (parse_clients(st, spec && *spec ? spec : default_clients) != 0) {
        fprintf(stderr, "cds-sim: %s must be \"client_id:secret:redirect_uri[;...]\"\n",
                clients_env);
        free(st);
        return -1;
    }
    if (vneid_keys_init(&st->keys) != 0) {
        fprintf(stderr, "cds-sim: %s could not generate its RSA keys\n", s->name);
        vneid_keys_free(&st->keys);
        free(st);
        return -1;
    }
    s->state = st;
    /* Registered once, after OpenSSL initialised itself (key generation
     * above), so it runs before OpenSSL's own exit-time cleanup. */
    if (slot == 0) atexit(cleanup);
    g_states[slot] = st;
    return 0;
}

static int vneid_init(sim_standin *s)
{
    return vneid_standin_init(s, "CDS_SIM_VNEID_CLIENTS", DEFAULT_CLIENTS, &vneid_citizen_directory);
}

/* ---------------- discovery and keys ---------------- */

static void discovery(cds_req *r)
{
    sim_record(r);
    const char *b = sim_of(r)->base_url;
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:[s],s:[s],s:[s],s:[s],s:[s],s:[s],s:[ss],s:[ss],s:[ss],"
        "s:b,s:b,s:[s]}",
        "issuer", b, "authorization_endpoint", cds_req_printf(r, "%s/authorize", b),
        "token_endpoint", cds_req_printf(r, "%s/token", b), "userinfo_endpoint",
        cds_req_printf(r, "%s/userinfo", b), "jwks_uri", cds_req_printf(r, "%s/jwks", b),
        "response_types_supported", "code", "response_modes_supported", "query",
        "grant_types_supported", "authorization_code", "subject_types_supported", "public",
        "id_token_signing_alg_values_supported", "RS256", "code_challenge_methods_supported",
        "S256", "token_endpoint_auth_methods_supported", "client_secret_basic",
        "client_secret_post", "scopes_supported", "openid", "profile", "acr_values_supported",
        "urn:vneid:ial:1", "urn:vneid:ial:2", "authorization_response_iss_parameter_supported", 1,
        "claims_parameter_supported", 0, "ui_locales_supported", "vi");
    json_t *claims = json_array();
    static const char *const names[] = {
        "sub",          "iss",       "aud",     "azp",        "exp",
        "iat",          "auth_time", "nonce",   "acr",        "at_hash",
        "identification_level",      "personal_id",           "name",
        "birthdate",    "gender",    "address", "phone_number", "phone_number_verified"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        json_array_append_new(claims, json_string(names[i]));
    json_object_set_new(j, "claims_supported", claims);
    cds_resp_header(r, "cache-control", "public, max-age=3600");
    cds_respond_json(r, 200, j);
}

static void jwks(cds_req *r)
{
    sim_record(r);
    vneid_state *st = vneid_of(r);
    pthread_mutex_lock(&st->mu);
    int down = st->jwks_down;
    pthread_mutex_unlock(&st->mu);
    if (down) {
        cds_resp_header(r, "retry-after", "5");
        cds_respond_json(r, 503, json_pack("{s:s}", "error", "temporarily_unavailable"));
        return;
    }
    cds_resp_header(r, "cache-control", "public, max-age=300");
    cds_respond_json(r, 200, vneid_keys_jwks(&st->keys));
}

/* ---------------- test controls ---------------- */

static void sim_rotate(cds_req *r)
{
    sim_record(r);
    vneid_state *st = vneid_of(r);
    char kid[64];
    if (vneid_keys_rotate(&st->keys, kid, sizeof kid) != 0) {
        cds_problem(r, 500, "key_generation_failed", "Không tạo được khóa ký mới.");
        return;
    }
    json_t *jw = vneid_keys_jwks(&st->keys), *kids = json_array(), *k;
    size_t i;
    json_array_foreach(json_object_get(jw, "keys"), i, k)
        json_array_append(kids, json_object_get(k, "kid"));
    json_decref(jw);
    cds_respond_json(r, 200, json_pack("{s:s,s:o}", "kid", kid, "kids", kids));
}

static json_t *config_json(vneid_state *st)
{
    return json_pack("{s:b,s:b,s:b,s:s}", "userinfo_only", st->userinfo_only, "jwks_down",
                     st->jwks_down, "token_down", st->token_down, "defect",
                     vneid_defect_name(st->defect));
}

static void sim_config_get(cds_req *r)
{
    sim_record(r);
    vneid_state *st = vneid_of(r);
    pthread_mutex_lock(&st->mu);
    json_t *j = config_json(st);
    pthread_mutex_unlock(&st->mu);
    cds_respond_json(r, 200, j);
}

static void sim_config_set(cds_req *r)
{
    sim_record(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    static const char *const keys[] = {"userinfo_only", "jwks_down", "token_down"};
    const char *key;
    json_t *v;
    if (!json_is_object(in)) goto bad;
    json_object_foreach(in, key, v) {
        size_t i = 0;
        while (i < 3 && strcmp(key, keys[i]) != 0) i++;
        if (i == 3 || !json_is_boolean(v)) goto bad;
    }
    vneid_state *st = vneid_of(r);
    pthread_mutex_lock(&st->mu);
    json_object_foreach(in, key, v) {
        int on = json_is_true(v);
        if (strcmp(key, "userinfo_only") == 0) st->userinfo_only = on;
        else if (strcmp(key, "jwks_down") == 0) st->jwks_down = on;
        else st->token_down = on;
    }
    json_t *j = config_json(st);
    pthread_mutex_unlock(&st->mu);
    cds_respond_json(r, 200, j);
    return;
bad:
    cds_problem(r, 400, "invalid_config",
                "Chỉ nhận các khóa userinfo_only, jwks_down, token_down với giá trị true/false.");
}

static void sim_defect(cds_req *r)
{
    sim_record(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    json_t *v = json_object_get(in, "defect");
    size_t d = NDEFECTS;
    if (json_is_null(v)) d = VNEID_DEFECT_NONE;
    else if (json_is_string(v))
        for (d = 0; d < NDEFECTS; d++)
            if (strcmp(defect_names[d], json_string_value(v)) == 0) break;
    if (d == NDEFECTS) {
        json_t *names = json_array();
        for (size_t i = 1; i < NDEFECTS; i++)
            json_array_append_new(names, json_string(defect_names[i]));
        cds_respond_json(r, 400,
                         json_pack("{s:s,s:o}", "error", "unknown defect", "defects", names));
        return;
    }
    vneid_state *st = vneid_of(r);
    pthread_mutex_lock(&st->mu);
    st->defect = (vneid_defect)d;
    pthread_mutex_unlock(&st->mu);
    cds_respond_json(r, 200, json_pack("{s:s}", "pending", defect_names[d]));
}

static void sim_jwks_pem(cds_req *r)
{
    sim_record(r);
    char *pem = vneid_keys_public_pem(&vneid_of(r)->keys, cds_req_query(r, "kid"));
    if (!pem) {
        cds_problem(r, 404, "unknown_kid", "Không có khóa với kid này.");
        return;
    }
    cds_respond(r, 200, "application/x-pem-file", pem, strlen(pem));
    free(pem);
}

const cds_route vneid_routes[] = {
    {"GET", "/.well-known/openid-configuration", discovery, 0},
    {"GET", "/authorize", vneid_authorize, 0},
    {"GET", "/authorize/approve", vneid_authorize_approve, 0},
    {"GET", "/authorize/deny", vneid_authorize_deny, 0},
    {"POST", "/token", vneid_token_endpoint, 16384},
    {"GET", "/userinfo", vneid_userinfo, 0},
    {"POST", "/userinfo", vneid_userinfo, 4096},
    {"GET", "/jwks", jwks, 0},
    {"POST", "/_sim/rotate", sim_rotate, 4096},
    {"GET", "/_sim/config", sim_config_get, 0},
    {"POST", "/_sim/config", sim_config_set, 4096},
    {"POST", "/_sim/defect", sim_defect, 4096},
    {"GET", "/_sim/jwks.pem", sim_jwks_pem, 0},
};

const size_t vneid_nroutes = sizeof vneid_routes / sizeof vneid_routes[0];

sim_standin sim_vneid = {
    .name = "vneid",
    .default_port = 9001,
    .routes = vneid_routes,
    .nroutes = sizeof vneid_routes / sizeof vneid_routes[0],
    .init = vneid_init,
};
