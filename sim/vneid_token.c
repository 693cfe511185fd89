/* The token and userinfo endpoints of the VNeID stand-in, and the ID token.
 *
 * POST /token (RFC 6749 4.1.3, RFC 7636 4.5, OpenID Connect Core 3.1.3):
 * a form body, client authentication by HTTP Basic or client_secret_post
 * (exactly one of them; secrets compared in constant time over their SHA-256
 * so not even the length leaks), then the code: it must exist, be younger
 * than 60 s, belong to this client, be unused, come with the same
 * redirect_uri, and BASE64URL(SHA256(code_verifier)) must equal the stored
 * challenge. Once the owning client presents a code it is spent, whatever
 * follows: a guessed verifier gets one try, and a replay also revokes the
 * access token issued from the code (RFC 6749 4.1.2). Errors are RFC 6749 5.2
 * JSON; invalid_client is a 401 with WWW-Authenticate.
 *
 * The ID token is RS256, signed by the current key with its kid, and carries
 * the identity claims of the citizen (vneid_citizen_claims) besides the
 * standard ones, including at_hash. A defect set through /_sim/defect breaks
 * the next ID token in one specific way so the relying party's checks can be
 * tested one by one; it is consumed by that token. In userinfo_only mode no ID
 * token is issued at all (as in VNeID's partner integration) and /userinfo is
 * the only source of identity; a pending defect then waits.
 *
 * GET|POST /userinfo (OpenID Connect Core 5.3, RFC 6750): Bearer token in the
 * Authorization header; a missing, unknown or expired token is a 401 with
 * WWW-Authenticate: Bearer. */
#include "sim/vneid.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define OVERSIZE_PAD 16384 /* a claim this long puts the token well over 16 KiB */

static void token_error(cds_req *r, int status, const char *error, const char *desc)
{
    if (status == 401) cds_resp_header(r, "www-authenticate", "Basic realm=\"vneid\"");
    cds_resp_header(r, "cache-control", "no-store");
    cds_resp_header(r, "pragma", "no-cache");
    cds_respond_json(r, status, json_pack("{s:s,s:s}", "error", error, "error_description", desc));
}

/* ---------------- client authentication ---------------- */

static int is_b64(const char *s, size_t n)
{
    if (n == 0 || n % 4) return 0;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad) return 0; /* '=' only at the end */
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    return pad <= 2;
}

/* "Basic <base64(urlenc(id) ':' urlenc(secret))>" (RFC 6749 2.3.1, RFC 7617). */
static int parse_basic(const char *h, char *id, size_t idcap, char *secret, size_t scap)
{
    const char *p = h + 6;
    while (*p == ' ') p++;
    size_t n = strlen(p);
    while (n && p[n - 1] == ' ') n--;
    if (n > 1024 || !is_b64(p, n)) return -1;
    unsigned char raw[800];
    int dl = EVP_DecodeBlock(raw, (const unsigned char *)p, (int)n);
    if (dl < 0) return -1;
    size_t len = (size_t)dl;
    if (n >= 1 && p[n - 1] == '=') len--;
    if (n >= 2 && p[n - 2] == '=') len--;
    if (memchr(raw, 0, len)) return -1;
    const unsigned char *colon = memchr(raw, ':', len);
    if (!colon) return -1;
    size_t il = (size_t)(colon - raw);
    if (vneid_form_decode((const char *)raw, il, id, idcap) != 0) return -1;
    if (vneid_form_decode((const char *)colon + 1, len - il - 1, secret, scap) != 0) return -1;
    return 0;
}

static int secret_ok(const char *given, const char *expected)
{
    unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)given, strlen(given), a);
    SHA256((const unsigned char *)expected, strlen(expected), b);
    return sim_ct_equal(a, b, sizeof a);
}

/* Answers itself and returns -1 when the client does not authenticate. */
static int authenticate(cds_req *r, const vneid_form *f, int *client)
{
    vneid_state *st = vneid_of(r);
    const char *auth = cds_req_header(r, "authorization");
    const char *post_id = vneid_form_get(f, "client_id");
    const char *post_secret = vneid_form_get(f, "client_secret");
    char idbuf[256], secbuf[512];
    const char *id, *secret;
    if (auth && strncasecmp(auth, "Basic ", 6) == 0) {
        if (post_secret) {
            token_error(r, 400, "invalid_request",
                        "use one client authentication method, not Basic and client_secret");
            return -1;
        }
        if (parse_basic(auth, idbuf, sizeof idbuf, secbuf, sizeof secbuf) != 0) {
            token_error(r, 401, "invalid_client", "malformed Basic credentials");
            return -1;
        }
        id = idbuf;
        secret = secbuf;
        if (post_id && strcmp(post_id, id) != 0) {
            token_error(r, 401, "invalid_client", "client_id does not match the Basic credentials");
            return -1;
        }
    } else if (auth) {
        token_error(r, 401, "invalid_client", "unsupported Authorization scheme");
        return -1;
    } else if (post_id && post_secret) {
        id = post_id;
        secret = post_secret;
    } else {
        token_error(r, 401, "invalid_client", "client authentication is required");
        return -1;
    }
    int c = vneid_client_find(st, id);
    /* Compare against something even for an unknown client, so the answer
     * takes the same time either way. */
    int ok = secret_ok(secret, c >= 0 ? st->clients[c].secret : "\x01unknown client");
    if (c < 0 || !ok) {
        token_error(r, 401, "invalid_client", "unknown client or wrong secret");
        return -1;
    }
    *client = c;
    return 0;
}

/* ---------------- the ID token ---------------- */

static int verifier_ok(const char *v)
{
    size_t n = strlen(v);
    if (n < 43 || n > 128) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~'))
            return 0;
    }
    return 1;
}

/* base64url of the JSON serialization, malloc'ed. */
static char *b64_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s) return NULL;
    size_t n = strlen(s), cap = n / 3 * 4 + 8;
    char *out = malloc(cap);
    if (out && !sim_b64url_encode(s, n, out, cap)) {
        free(out);
        out = NULL;
    }
    free(s);
    return out;
}

/* Builds "header.payload" + (sig ? "." + sig : ""), malloc'ed; used for the
 * forgeries the JOSE library rightly refuses to make. */
static char *compact(const json_t *header, const json_t *claims, const char *sig, int two_parts)
{
    char *h = b64_json(header), *p = b64_json(claims), *out = NULL;
    if (h && p) {
        size_t n = strlen(h) + strlen(p) + (sig ? strlen(sig) : 0) + 3;
        out = malloc(n);
        if (out) {
            if (two_parts) snprintf(out, n, "%s.%s", h, p);
            else snprintf(out, n, "%s.%s.%s", h, p, sig ? sig : "");
        }
    }
    free(h);
    free(p);
    return out;
}

/* HS256 over "header.payload" with the PEM text of the current RSA public key
 * as the HMAC secret: the algorithm-confusion attack (a verifier that takes
 * the algorithm from the token and the key from the JWKS would accept it). */
static char *forge_hs256(EVP_PKEY *key, const char *kid, const json_t *claims)
{
    char *pem = vneid_pubkey_pem(key);
    json_t *hdr = json_pack("{s:s,s:s,s:s}", "alg", "HS256", "typ", "JWT", "kid", kid);
    char *input = pem && hdr ? compact(hdr, claims, NULL, 1) : NULL, *out = NULL;
    if (input) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        char sig[128];
        if (HMAC(EVP_sha256(), pem, (int)strlen(pem), (const unsigned char *)input, strlen(input),
                 mac, &maclen) &&
            sim_b64url_encode(mac, maclen, sig, sizeof sig)) {
            size_t n = strlen(input) + strlen(sig) + 2;
            if ((out = malloc(n))) snprintf(out, n, "%s.%s", input, sig);
        }
    }
    free(input);
    json_decref(hdr);
    free(pem);
    return out;
}

typedef struct grant {
    int client, citizen;
    char nonce[VNEID_NONCE_MAX + 1];
    char scope[VNEID_SCOPE_MAX];
    char access_token[VNEID_RANDOM_MAX];
    time_t auth_time;
    int userinfo_only;
    vneid_defect defect;
} grant;

static char *id_token(cds_req *r, const grant *g)
{
    vneid_state *st = vneid_of(r);
    const char *client_id = st->clients[g->client].id;
    time_t now = time(NULL), iat = now, exp = now + VNEID_TOKEN_TTL, auth_time = g->auth_time;
    const char *iss = sim_of(r)->base_url, *aud = client_id;
    char nonce[VNEID_NONCE_MAX + 1];
    snprintf(nonce, sizeof nonce, "%s", g->nonce);
    switch (g->defect) {
    case VNEID_DEFECT_WRONG_ISS: iss = "https://attacker.example/vneid"; break;
    case VNEID_DEFECT_WRONG_AUD: aud = "another-client"; break;
    case VNEID_DEFECT_EXPIRED:
        iat = auth_time = now - 900;
        exp = now - 600;
        break;
    case VNEID_DEFECT_IAT_FUTURE:
        iat = now + 600;
        exp = iat + VNEID_TOKEN_TTL;
        break;
    case VNEID_DEFECT_NONCE_MISMATCH:
        if (vneid_random_token(nonce, sizeof nonce) != 0) snprintf(nonce, sizeof nonce, "x");
        break;
    default: break;
    }
    /* at_hash: base64url of the left half of SHA-256 over the access token. */
    unsigned char md[SHA256_DIGEST_LENGTH];
    char at_hash[32];
    SHA256((const unsigned char *)g->access_token, strlen(g->access_token), md);
    if (!sim_b64url_encode(md, sizeof md / 2, at_hash, sizeof at_hash)) return NULL;

    json_t *claims = st->dir->claims((size_t)g->citizen);
    if (!claims) return NULL;
    json_object_set_new(claims, "iss", json_string(iss));
    json_object_set_new(claims, "aud", json_string(aud));
    json_object_set_new(claims, "azp", json_string(aud));
    json_object_set_new(claims, "exp", json_integer((json_int_t)exp));
    json_object_set_new(claims, "iat", json_integer((json_int_t)iat));
    json_object_set_new(claims, "auth_time", json_integer((json_int_t)auth_time));
    json_object_set_new(claims, "nonce", json_string(nonce));
    json_object_set_new(claims, "at_hash", json_string(at_hash));
    if (g->defect == VNEID_DEFECT_OVERSIZED) {
        char *pad = malloc(OVERSIZE_PAD + 1);
        if (pad) {
            memset(pad, 'A', OVERSIZE_PAD);
            pad[OVERSIZE_PAD] = 0;
            json_object_set_new(claims, "x_padding", json_string(pad));
            free(pad);
        }
    }

    char kid[64];
    EVP_PKEY *key = vneid_keys_current(&st->keys, kid, sizeof kid);
    char *tok = NULL;
    if (!key) goto out;
    switch (g->defect) {
    case VNEID_DEFECT_ALG_NONE: {
        json_t *h = json_pack("{s:s,s:s,s:s}", "alg", "none", "typ", "JWT", "kid", kid);
        tok = h ? compact(h, claims, "", 0) : NULL;
        json_decref(h);
        break;
    }
    case VNEID_DEFECT_HS256_PUBKEY: tok = forge_hs256(key, kid, claims); break;
    case VNEID_DEFECT_MALFORMED: {
        json_t *h = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "typ", "JWT", "kid", kid);
        tok = h ? compact(h, claims, NULL, 1) : NULL;
        json_decref(h);
        break;
    }
    case VNEID_DEFECT_UNKNOWN_KID: {
        /* A key the JWKS has never listed, under its own new kid. */
        EVP_PKEY *rogue = sim_pkey_generate("RS256");
        char rkid[64];
        if (rogue && vneid_key_id(rogue, rkid, sizeof rkid) == 0)
            tok = vj_sign_rs256(rogue, rkid, claims);
        EVP_PKEY_free(rogue);
        break;
    }
    default:
        tok = vj_sign_rs256(key, kid, claims);
        if (tok && g->defect == VNEID_DEFECT_TAMPERED_SIGNATURE) {
            /* Change one character in the middle of the signature: every bit
             * of it lands in a signature byte, so the token stays well formed
             * and only the signature check can catch it. */
            char *dot = strrchr(tok, '.');
            size_t sl = dot ? strlen(dot + 1) : 0;
            if (sl > 20) {
                char *c = dot + 1 + sl / 2;
                *c = *c == 'A' ? 'B' : 'A';
            }
        }
    }
out:
    EVP_PKEY_free(key);
    json_decref(claims);
    return tok;
}

/* ---------------- POST /token ---------------- */

static int is_form(const char *ct)
{
    static const char t[] = "application/x-www-form-urlencoded";
    if (!ct || strncasecmp(ct, t, sizeof t - 1) != 0) return 0;
    char c = ct[sizeof t - 1];
    return c == 0 || c == ';' || c == ' ';
}

void vneid_token_endpoint(cds_req *r)
{
    sim_record(r);
    vneid_state *st = vneid_of(r);
    pthread_mutex_lock(&st->mu);
    int down = st->token_down;
    pthread_mutex_unlock(&st->mu);
    if (down) {
        cds_resp_header(r, "retry-after", "5");
        token_error(r, 503, "temporarily_unavailable", "the token endpoint is down (sim control)");
        return;
    }
    if (!is_form(cds_req_header(r, "content-type"))) {
        token_error(r, 400, "invalid_request",
                    "the body must be application/x-www-form-urlencoded");
        return;
    }
    size_t blen;
    const char *body = cds_req_body(r, &blen);
    vneid_form f;
    int rc = vneid_form_parse(r, body, blen, &f);
    if (rc != VNEID_FORM_OK) {
        token_error(r, 400, "invalid_request",
                    rc == VNEID_FORM_EDUP ? "a parameter is repeated" : "malformed form body");
        return;
    }
    grant g;
    memset(&g, 0, sizeof g);
    if (authenticate(r, &f, &g.client) != 0) return;
    const char *gt = vneid_form_get(&f, "grant_type");
    if (!gt) {
        token_error(r, 400, "invalid_request", "grant_type is required");
        return;
    }
    if (strcmp(gt, "authorization_code") != 0) {
        token_error(r, 400, "unsupported_grant_type", "only authorization_code is supported");
        return;
    }
    const char *code = vneid_form_get(&f, "code");
    const char *redirect_uri = vneid_form_get(&f, "redirect_uri");
    const char *verifier = vneid_form_get(&f, "code_verifier");
    if (!code || !*code || !redirect_uri || !verifier) {
        token_error(r, 400, "invalid_request", "code, redirect_uri and code_verifier are required");
        return;
    }
    if (!verifier_ok(verifier)) {
        token_error(r, 400, "invalid_request",
                    "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]");
        return;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    char challenge[48];
    SHA256((const unsigned char *)verifier, strlen(verifier), md);
    if (!sim_b64url_encode(md, sizeof md, challenge, sizeof challenge) ||
        vneid_random_token(g.access_token, sizeof g.access_token) != 0) {
        token_error(r, 500, "server_error", "internal error");
        return;
    }

    time_t now = time(NULL);
    const char *err = NULL;
    pthread_mutex_lock(&st->mu);
    vneid_code *c = vneid_store_find_code(&st->store, code);
    if (!c || c->expires <= now) {
        err = "the code is unknown or expired";
    } else if (c->client != g.client) {
        err = "the code was issued to another client"; /* not spent: not its owner */
    } else if (c->used) {
        if (c->access_token[0]) vneid_store_revoke_token(&st->store, c->access_token);
        err = "the code was already used";
    } else {
        c->used = 1;
        if (strcmp(redirect_uri, st->clients[c->client].redirect_uri) != 0)
            err = "redirect_uri differs from the authorization request";
        else if (strlen(c->challenge) != 43 || !sim_ct_equal(challenge, c->challenge, 43))
            err = "PKCE verification failed";
    }
    if (!err) {
        g.citizen = c->citizen;
        g.auth_time = c->auth_time;
        snprintf(g.nonce, sizeof g.nonce, "%s", c->nonce);
        snprintf(g.scope, sizeof g.scope, "%s", c->scope);
        snprintf(c->access_token, sizeof c->access_token, "%s", g.access_token);
        vneid_token t = {.client = g.client, .citizen = g.citizen,
                         .expires = now + VNEID_TOKEN_TTL};
        snprintf(t.token, sizeof t.token, "%s", g.access_token);
        vneid_store_add_token(&st->store, &t, now);
        g.userinfo_only = st->userinfo_only;
        if (!g.userinfo_only) {
            g.defect = st->defect;
            st->defect = VNEID_DEFECT_NONE;
        }
    }
    pthread_mutex_unlock(&st->mu);
    if (err) {
        token_error(r, 400, "invalid_grant", err);
        return;
    }

    json_t *resp = json_pack("{s:s,s:s,s:i,s:s}", "access_token", g.access_token, "token_type",
                             "Bearer", "expires_in", VNEID_TOKEN_TTL, "scope", g.scope);
    if (!g.userinfo_only) {
        char *idt = id_token(r, &g);
        if (!idt) {
            json_decref(resp);
            token_error(r, 500, "server_error", "could not sign the ID token");
            return;
        }
        json_object_set_new(resp, "id_token", json_string(idt));
        free(idt);
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_resp_header(r, "pragma", "no-cache");
    cds_respond_json(r, 200, resp);
}

/* ---------------- /userinfo ---------------- */

static void bearer_error(cds_req *r, const char *error, const char *desc)
{
    if (error) {
        cds_resp_header(r, "www-authenticate",
                        cds_req_printf(r, "Bearer realm=\"vneid\", error=\"%s\", "
                                          "error_description=\"%s\"",
                                       error, desc));
        cds_resp_header(r, "cache-control", "no-store");
        cds_respond_json(r, 401, json_pack("{s:s,s:s}", "error", error, "error_description", desc));
    } else {
        /* No credentials at all: RFC 6750 3.1 says no error code. */
        cds_resp_header(r, "www-authenticate", "Bearer realm=\"vneid\"");
        cds_resp_header(r, "cache-control", "no-store");
        cds_respond_json(r, 401, json_pack("{s:s,s:s}", "error", "invalid_request",
                                           "error_description", "a Bearer token is required"));
    }
}

void vneid_userinfo(cds_req *r)
{
    sim_record(r);
    const char *auth = cds_req_header(r, "authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        bearer_error(r, NULL, NULL);
        return;
    }
    const char *tok = auth + 7;
    while (*tok == ' ') tok++;
    vneid_state *st = vneid_of(r);
    int citizen = -1;
    pthread_mutex_lock(&st->mu);
    vneid_token *t = vneid_store_find_token(&st->store, tok, time(NULL));
    if (t) citizen = t->citizen;
    pthread_mutex_unlock(&st->mu);
    if (citizen < 0) {
        bearer_error(r, "invalid_token", "the access token is unknown, expired or revoked");
        return;
    }
    json_t *j = st->dir->claims((size_t)citizen);
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, j);
}
