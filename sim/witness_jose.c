/* The stand-ins' own JOSE (sim/witness.h), written from the RFCs with
 * OpenSSL's EVP API and never the server's core/jose.c, so that a token our
 * server signs for FCM or APNs is checked by a second reading of the same
 * documents (a misreading shared by signer and verifier would pass every
 * test):
 *   - base64url without padding: RFC 7515 section 2 and RFC 4648 section 5;
 *     decoding refuses '=', characters outside the alphabet, a length of
 *     1 mod 4 and non-zero unused bits (so one token has one spelling);
 *   - compact serialization: RFC 7515 section 7.1, validated as section 5.2
 *     says: three parts, a JOSE header that is a JSON object without
 *     duplicate members, "alg" a string, "crit" refused (section 4.1.11: we
 *     understand no extension); the payload of a JWT a JSON object
 *     (RFC 7519 section 7.2);
 *   - RS256: RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3), keys of
 *     2048 bits or more;
 *   - ES256: ECDSA P-256 with SHA-256 (RFC 7518 section 3.4), the signature
 *     the 64-octet R || S, turned into DER for OpenSSL here;
 *   - public JWKs: RSA {n, e} (RFC 7518 section 6.3.1), EC P-256 {crv, x, y}
 *     (section 6.2.1), for the tests against RFC 7515's appendix. */
#include "sim/witness.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWS_MAX 16384 /* a provider token is far smaller; anything bigger is refused */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t sim_b64url_encode(const void *in, size_t n, char *out, size_t cap)
{
    const unsigned char *p = in;
    size_t need = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0), o = 0, i = 0;
    if (need + 1 > cap) return 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
        out[o++] = B64URL[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
    }
    out[o] = 0;
    return o;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(B64URL, c) : NULL;
    return p ? (int)(p - B64URL) : -1;
}

int sim_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *len)
{
    if (n % 4 == 1) return -1;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0), o = 0;
    if (need > cap) return -1;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0) return -1;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits && (acc & ((1u << bits) - 1))) return -1; /* non-zero unused bits */
    *len = o;
    return 0;
}

int sim_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int sim_ct_streq(const char *a, const char *b)
{
    size_t n = a ? strlen(a) : 0;
    return a && b && n == strlen(b) && sim_ct_equal(a, b, n);
}

void sim_jws_free(sim_jws *j)
{
    json_decref(j->header);
    json_decref(j->claims);
    free(j->input);
    free(j->sig);
    memset(j, 0, sizeof *j);
}

/* One base64url part, decoded as a JSON object without duplicate members. */
static json_t *json_part(const char *s, size_t n)
{
    unsigned char *raw = malloc(n / 4 * 3 + 3);
    size_t len;
    json_t *j = NULL;
    if (raw && sim_b64url_decode(s, n, raw, n / 4 * 3 + 3, &len) == 0)
        j = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

int sim_jws_read(const char *s, size_t n, sim_jws *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (n > JWS_MAX) return *why = "too long", -1;
    const char *d1 = memchr(s, '.', n), *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - s)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - s)))
        return *why = "not three dot-separated parts", -1;
    if (!(out->header = json_part(s, (size_t)(d1 - s))))
        return *why = "header is not a base64url JSON object", sim_jws_free(out), -1;
    json_t *alg = json_object_get(out->header, "alg"), *kid = json_object_get(out->header, "kid");
    if (!json_is_string(alg)) return *why = "header has no alg", sim_jws_free(out), -1;
    if (json_object_get(out->header, "crit"))
        return *why = "header has crit (no extension is understood)", sim_jws_free(out), -1;
    if (kid && !json_is_string(kid)) return *why = "kid is not a string", sim_jws_free(out), -1;
    snprintf(out->alg, sizeof out->alg, "%s", json_string_value(alg));
    snprintf(out->kid, sizeof out->kid, "%s", kid ? json_string_value(kid) : "");
    if (!(out->claims = json_part(d1 + 1, (size_t)(d2 - d1 - 1))))
        return *why = "payload is not a base64url JSON object", sim_jws_free(out), -1;
    size_t sn = n - (size_t)(d2 + 1 - s);
    out->input_len = (size_t)(d2 - s);
    out->input = malloc(out->input_len + 1);
    out->sig = malloc(sn / 4 * 3 + 3);
    if (!out->input || !out->sig) return *why = "out of memory", sim_jws_free(out), -1;
    memcpy(out->input, s, out->input_len);
    out->input[out->input_len] = 0;
    if (sim_b64url_decode(d2 + 1, sn, out->sig, sn / 4 * 3 + 3, &out->sig_len) != 0 ||
        out->sig_len == 0)
        return *why = "signature is not base64url", sim_jws_free(out), -1;
    return 0;
}

/* R || S (32 octets each) as the DER ECDSA-Sig-Value OpenSSL verifies. */
static unsigned char *es256_der(const unsigned char *rs, int *len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
    unsigned char *der = NULL;
    *len = 0;
    if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL; /* owned by sig now */
        *len = i2d_ECDSA_SIG(sig, &der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return *len > 0 ? der : NULL;
}

static int is_p256(EVP_PKEY *key)
{
    char group[64];
    size_t gl = 0;
    return EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
           EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          &gl) == 1 &&
           strcmp(group, "prime256v1") == 0;
}

int sim_jws_verify(const sim_jws *j, EVP_PKEY *key, const char *alg)
{
    /* The algorithm is the verifier's choice, never the token's (RFC 8725
     * section 3.1): a token naming another one is refused. */
    if (strcmp(j->alg, alg) != 0 || !key) return -1;
    const unsigned char *sig = j->sig;
    size_t sig_len = j->sig_len;
    unsigned char *der = NULL;
    if (strcmp(alg, "RS256") == 0) {
        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 2048) return -1;
    } else if (strcmp(alg, "ES256") == 0) {
        int dl;
        if (!is_p256(key) || sig_len != 64 || !(der = es256_der(sig, &dl))) return -1;
        sig = der;
        sig_len = (size_t)dl;
    } else {
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)j->input, j->input_len) ==
                 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok ? 0 : -1;
}

EVP_PKEY *sim_pkey_generate(const char *alg)
{
    if (strcmp(alg, "RS256") == 0) return EVP_RSA_gen(2048);
    if (strcmp(alg, "ES256") == 0) return EVP_EC_gen("P-256");
    return NULL;
}

EVP_PKEY *sim_pkey_read_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

char *sim_pkey_pem(EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL, *p;
    /* PKCS#8 ("BEGIN PRIVATE KEY"): what Google's key files and Apple's .p8 hold. */
    if (b && PEM_write_bio_PKCS8PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
        long n = BIO_get_mem_data(b, &p);
        if (n > 0 && (out = malloc((size_t)n + 1))) {
            memcpy(out, p, (size_t)n);
            out[n] = 0;
        }
    }
    BIO_free(b);
    return out;
}

/* A base64url member of a JWK as bytes into out; its length, or 0. */
static size_t jwk_bytes(json_t *jwk, const char *name, unsigned char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    size_t len = 0;
    if (!s || sim_b64url_decode(s, strlen(s), out, cap, &len) != 0) return 0;
    return len;
}

EVP_PKEY *sim_jwk_public(json_t *jwk)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    unsigned char a[1024], b[1024];
    size_t al, bl;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    BIGNUM *n = NULL, *e = NULL;
    if (!bld || !kty) goto out;
    if (strcmp(kty, "RSA") == 0) {
        if (!(al = jwk_bytes(jwk, "n", a, sizeof a)) || !(bl = jwk_bytes(jwk, "e", b, sizeof b)))
            goto out;
        n = BN_bin2bn(a, (int)al, NULL);
        e = BN_bin2bn(b, (int)bl, NULL);
        if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
            goto out;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    } else if (strcmp(kty, "EC") == 0) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        if (!crv || strcmp(crv, "P-256") != 0 || jwk_bytes(jwk, "x", a + 1, 32) != 32 ||
            jwk_bytes(jwk, "y", a + 33, 32) != 32)
            goto out;
        a[0] = 0x04; /* an uncompressed point: 04 || x || y (SEC 1, 2.3.3) */
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, a, 65))
            goto out;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    }
    if (!ctx || !(params = OSSL_PARAM_BLD_to_param(bld)) || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
out:
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return key;
}
