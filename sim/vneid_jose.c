/* The VNeID stand-in's own JOSE, written from the RFCs with OpenSSL only, so
 * the stand-in is a witness and not a copy of the server's core/jose.c (a
 * misreading shared by signer and verifier would pass every test); its
 * base64url is the stand-ins' shared one (sim/witness_jose.c):
 *   - RS256 = RSASSA-PKCS1-v1_5 with SHA-256 over ASCII(header "." payload)
 *     (RFC 7518 section 3.3), compact serialization (RFC 7515 section 7.1);
 *   - RSA public JWKs {kty, n, e} (RFC 7518 section 6.3.1) with use/alg/kid;
 *   - kid = the RFC 7638 thumbprint: SHA-256 over {"e":..,"kty":"RSA","n":..}
 *     (members in lexicographic order, no whitespace), base64url. */
#include "sim/vneid.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vj_mask_id(const char *id, char *out, size_t cap)
{
    size_t n = strlen(id), i;
    if (cap == 0) return;
    for (i = 0; i < n && i + 1 < cap; i++) out[i] = (i + 3 < n) ? '*' : id[i];
    out[i] = 0;
}

/* n and e of an RSA key, base64url (malloc'ed). */
static int rsa_ne(EVP_PKEY *key, char **n_out, char **e_out)
{
    BIGNUM *n = NULL, *e = NULL;
    int rc = -1;
    *n_out = *e_out = NULL;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1) {
        int nl = BN_num_bytes(n), el = BN_num_bytes(e);
        unsigned char *nb = malloc((size_t)nl), *eb = malloc((size_t)el);
        *n_out = malloc((size_t)nl * 4 / 3 + 8);
        *e_out = malloc((size_t)el * 4 / 3 + 8);
        if (nb && eb && *n_out && *e_out && BN_bn2bin(n, nb) == nl && BN_bn2bin(e, eb) == el &&
            sim_b64url_encode(nb, (size_t)nl, *n_out, (size_t)nl * 4 / 3 + 8) &&
            sim_b64url_encode(eb, (size_t)el, *e_out, (size_t)el * 4 / 3 + 8))
            rc = 0;
        free(nb);
        free(eb);
    }
    BN_free(n);
    BN_free(e);
    if (rc != 0) {
        free(*n_out);
        free(*e_out);
        *n_out = *e_out = NULL;
    }
    return rc;
}

int vj_thumbprint(EVP_PKEY *key, char *out, size_t cap)
{
    char *n, *e;
    if (rsa_ne(key, &n, &e) != 0) return -1;
    size_t len = strlen(n) + strlen(e) + 40;
    char *canon = malloc(len);
    int rc = -1;
    if (canon) {
        snprintf(canon, len, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)canon, strlen(canon), md);
        rc = sim_b64url_encode(md, sizeof md, out, cap) ? 0 : -1;
        free(canon);
    }
    free(n);
    free(e);
    return rc;
}

json_t *vj_jwk(EVP_PKEY *key, const char *kid)
{
    char *n, *e;
    if (rsa_ne(key, &n, &e) != 0) return NULL;
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "use", "sig", "alg", "RS256",
                          "kid", kid, "n", n, "e", e);
    free(n);
    free(e);
    return j;
}

/* base64url of a JSON text, malloc'ed. */
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

char *vj_sign_rs256(EVP_PKEY *key, const char *kid, const json_t *claims)
{
    json_t *hdr = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "typ", "JWT", "kid", kid);
    char *h = hdr ? b64_json(hdr) : NULL, *p = b64_json(claims), *out = NULL;
    json_decref(hdr);
    if (!h || !p) goto done;
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *input = malloc(in_len + 1);
    if (!input) goto done;
    snprintf(input, in_len + 1, "%s.%s", h, p);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[512];
    size_t sl = sizeof sig;
    if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)input, in_len) == 1) {
        char s64[700];
        if (sim_b64url_encode(sig, sl, s64, sizeof s64)) {
            size_t n = in_len + strlen(s64) + 2;
            if ((out = malloc(n))) snprintf(out, n, "%s.%s", input, s64);
        }
    }
    EVP_MD_CTX_free(ctx);
    free(input);
done:
    free(h);
    free(p);
    return out;
}
