/* JOSE on OpenSSL 3 (see jose.h): base64url, compact JWT parsing, JWS signing
 * and verification for RS256 / ES256 / EdDSA, and JWK import and export.
 *
 * How it is safe to use on tokens from outside:
 *  - parsing only checks structure, with hard size caps, strict base64url
 *    (no padding, no foreign characters, no non-canonical trailing bits, so a
 *    token has exactly one spelling) and strict JSON (no duplicate members);
 *  - verification never trusts the header to pick a key type: the caller
 *    names the allowed algorithms and supplies the key, and the key's type
 *    must fit the algorithm. HMAC and "none" are refused by design (never verified), so
 *    the classic confusions (alg none; HS256 keyed with an RSA public key)
 *    have nothing to reach;
 *  - every failed OpenSSL call clears the thread's error queue, because a
 *    stale entry there would be misread by a later SSL_get_error on the same
 *    thread (this code runs on the server's event-loop threads).
 *
 * Key material comes in through EVP_PKEY_fromdata (OSSL_PARAM), the
 * OpenSSL 3 way; no deprecated RSA_* / EC_KEY_* call is used. ES256
 * signatures travel as R||S (RFC 7518 3.4) while OpenSSL speaks DER, so they
 * are converted with ECDSA_SIG. ES256 signatures we make are low-S, and
 * cds_jws_verify_own (our own tokens) accepts only low-S, so a token of
 * ours has one valid spelling; third-party tokens (VNeID) are checked as
 * the standard says, which accepts either. */
#include "core/jose.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALG_ALL (CDS_ALG_RS256 | CDS_ALG_ES256 | CDS_ALG_EDDSA)
#define RSA_MIN_BITS 2048
#define RSA_MAX_BYTES 1024 /* 8192-bit modulus: anything bigger is a DoS, not a key */
#define P256_BYTES 32
#define ED25519_BYTES 32

/* The order n of P-256 and floor(n / 2) (FIPS 186-4 D.1.2.3), big-endian.
 * (r, s) and (r, n - s) are both valid ECDSA signatures of one message, so
 * a signature is malleable unless one of the two is chosen: we issue the
 * low one (s <= n/2) and, for what we issued, accept only that one. */
static const unsigned char p256_n[P256_BYTES] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};
static const unsigned char p256_half_n[P256_BYTES] = {
    0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8};

/* ---- base64url ------------------------------------------------------- */

static const char b64u_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t cds_b64url_encode(const void *in, size_t n, char *out, size_t cap)
{
    const unsigned char *p = in;
    if (!out || cap == 0 || n > SIZE_MAX / 2) return 0;
    size_t need = (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
    if (need >= cap) { /* room for the NUL too */
        out[0] = '\0';
        return 0;
    }
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64u_chars[v >> 18 & 63];
        out[o++] = b64u_chars[v >> 12 & 63];
        out[o++] = b64u_chars[v >> 6 & 63];
        out[o++] = b64u_chars[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64u_chars[v >> 18 & 63];
        out[o++] = b64u_chars[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64u_chars[v >> 18 & 63];
        out[o++] = b64u_chars[v >> 12 & 63];
        out[o++] = b64u_chars[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64u_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

int cds_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    if (outlen) *outlen = 0;
    if (n % 4 == 1 || (n > 0 && !in)) return -1;
    size_t need = (n / 4) * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap || (need > 0 && !out)) return -1;
    size_t o = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        int a = b64u_val((unsigned char)in[i]), b = b64u_val((unsigned char)in[i + 1]);
        int c = b64u_val((unsigned char)in[i + 2]), d = b64u_val((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0) return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    size_t rest = n - i;
    if (rest >= 2) {
        int a = b64u_val((unsigned char)in[i]), b = b64u_val((unsigned char)in[i + 1]);
        int c = rest == 3 ? b64u_val((unsigned char)in[i + 2]) : 0;
        if ((a | b | c) < 0) return -1;
        /* The bits past the last whole byte must be zero: otherwise several
         * spellings decode to the same bytes and a "tampered" token could
         * still verify. */
        if (rest == 2 && (b & 0x0f) != 0) return -1;
        if (rest == 3 && (c & 0x03) != 0) return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        out[o++] = (unsigned char)(v >> 16);
        if (rest == 3) out[o++] = (unsigned char)(v >> 8);
    }
    if (outlen) *outlen = o;
    return 0;
}

/* ---- small helpers ---------------------------------------------------- */

const char *cds_jws_alg_name(int alg)
{
    switch (alg) {
    case CDS_ALG_RS256:
        return "RS256";
    case CDS_ALG_ES256:
        return "ES256";
    case CDS_ALG_EDDSA:
        return "EdDSA";
    default:
        return NULL;
    }
}

static int alg_from_name(const char *name)
{
    /* Case-sensitive on purpose: JWA names are case-sensitive (RFC 7515 4.1.1). */
    if (strcmp(name, "RS256") == 0) return CDS_ALG_RS256;
    if (strcmp(name, "ES256") == 0) return CDS_ALG_ES256;
    if (strcmp(name, "EdDSA") == 0) return CDS_ALG_EDDSA;
    return 0;
}

/* Drops whatever OpenSSL queued for a failure we already turned into a code. */
static void ossl_forget(void)
{
    ERR_clear_error();
}

static int is_p256(EVP_PKEY *key)
{
    char name[64];
    size_t len = 0;
    if (!EVP_PKEY_is_a(key, "EC")) return 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) !=
        1) {
        ossl_forget();
        return 0;
    }
    return strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0;
}

/* Whether `key` may be used with `alg`: the type must fit (EALG otherwise)
 * and an RSA key must be at least 2048 bits (EKEY). */
static int key_fits(EVP_PKEY *key, int alg)
{
    if (!key) return CDS_JOSE_EKEY;
    switch (alg) {
    case CDS_ALG_RS256:
        /* "RSA" only: an RSA-PSS-restricted key is another algorithm. */
        if (!EVP_PKEY_is_a(key, "RSA")) return CDS_JOSE_EALG;
        if (EVP_PKEY_get_bits(key) < RSA_MIN_BITS) return CDS_JOSE_EKEY;
        return CDS_JOSE_OK;
    case CDS_ALG_ES256:
        return is_p256(key) ? CDS_JOSE_OK : CDS_JOSE_EALG;
    case CDS_ALG_EDDSA:
        return EVP_PKEY_is_a(key, "ED25519") ? CDS_JOSE_OK : CDS_JOSE_EALG;
    default:
        return CDS_JOSE_EALG;
    }
}

/* ---- raw sign / verify ------------------------------------------------ */

int cds_jws_sign_raw(EVP_PKEY *key, int alg, const void *data, size_t n, unsigned char *sig,
                     size_t cap, size_t *siglen)
{
    int rc = key_fits(key, alg);
    if (rc != CDS_JOSE_OK) return rc;
    if (!sig || !siglen || (n > 0 && !data)) return CDS_JOSE_EKEY;
    *siglen = 0;

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    rc = CDS_JOSE_EKEY;
    if (!md) goto out;
    /* Ed25519 hashes internally: no digest, one-shot only (RFC 8037). */
    if (EVP_DigestSignInit_ex(md, &pctx, alg == CDS_ALG_EDDSA ? NULL : "SHA256", NULL, NULL, key,
                              NULL) != 1)
        goto out;
    if (alg == CDS_ALG_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
        goto out;
    if (EVP_DigestSign(md, NULL, &len, data, n) != 1 || len == 0) goto out;
    der = malloc(len);
    if (!der || EVP_DigestSign(md, der, &len, data, n) != 1) goto out;

    if (alg == CDS_ALG_ES256) {
        const unsigned char *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
        const BIGNUM *r = NULL, *s = NULL;
        if (!es) goto out;
        ECDSA_SIG_get0(es, &r, &s);
        int ok = cap >= 2 * P256_BYTES && BN_bn2binpad(r, sig, P256_BYTES) == P256_BYTES &&
                 BN_bn2binpad(s, sig + P256_BYTES, P256_BYTES) == P256_BYTES;
        ECDSA_SIG_free(es);
        /* Low-S: s above n/2 becomes n - s (see p256_n). Public values only,
         * so an ordinary branch is fine. */
        if (ok && memcmp(sig + P256_BYTES, p256_half_n, P256_BYTES) > 0) {
            BIGNUM *bs = BN_bin2bn(sig + P256_BYTES, P256_BYTES, NULL);
            BIGNUM *bn = BN_bin2bn(p256_n, P256_BYTES, NULL);
            ok = bs && bn && BN_sub(bs, bn, bs) == 1 &&
                 BN_bn2binpad(bs, sig + P256_BYTES, P256_BYTES) == P256_BYTES;
            BN_free(bs);
            BN_free(bn);
        }
        if (!ok) goto out;
        *siglen = 2 * P256_BYTES;
    } else {
        if (len > cap) goto out;
        memcpy(sig, der, len);
        *siglen = len;
    }
    rc = CDS_JOSE_OK;
out:
    if (rc != CDS_JOSE_OK) ossl_forget();
    free(der);
    EVP_MD_CTX_free(md);
    return rc;
}

/* R||S (32 + 32 bytes) to DER; returns the DER length or 0. */
static size_t es256_to_der(const unsigned char *sig, unsigned char *der, size_t cap)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, P256_BYTES, NULL);
    BIGNUM *s = BN_bin2bn(sig + P256_BYTES, P256_BYTES, NULL);
    size_t out = 0;
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return 0;
    }
    /* es owns r and s now. */
    int len = i2d_ECDSA_SIG(es, NULL);
    if (len > 0 && (size_t)len <= cap) {
        unsigned char *p = der;
        if (i2d_ECDSA_SIG(es, &p) == len) out = (size_t)len;
    }
    ECDSA_SIG_free(es);
    return out;
}

/* low_s: an ES256 signature must have s <= n/2 (for signatures we issued). */
static int verify_raw(EVP_PKEY *key, int alg, const void *data, size_t n, const unsigned char *sig,
                      size_t siglen, int low_s)
{
    int rc = key_fits(key, alg);
    if (rc != CDS_JOSE_OK) return rc;
    if (!sig || siglen == 0 || (n > 0 && !data)) return CDS_JOSE_ESIG;

    unsigned char der[80]; /* a P-256 DER signature is at most 72 bytes */
    const unsigned char *vsig = sig;
    size_t vlen = siglen;
    switch (alg) {
    case CDS_ALG_ES256:
        /* JWS fixes the length; a DER blob or a P-384 one here is an attack
         * or a bug, never something to be lenient about. */
        if (siglen != 2 * P256_BYTES) return CDS_JOSE_ESIG;
        if (low_s && memcmp(sig + P256_BYTES, p256_half_n, P256_BYTES) > 0) return CDS_JOSE_ESIG;
        vlen = es256_to_der(sig, der, sizeof der);
        if (vlen == 0) {
            ossl_forget();
            return CDS_JOSE_ESIG;
        }
        vsig = der;
        break;
    case CDS_ALG_EDDSA:
        if (siglen != 64) return CDS_JOSE_ESIG;
        break;
    default: /* RS256: exactly the modulus length */
        if (EVP_PKEY_get_size(key) <= 0 || siglen != (size_t)EVP_PKEY_get_size(key))
            return CDS_JOSE_ESIG;
        break;
    }

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    rc = CDS_JOSE_EKEY;
    if (!md) goto out;
    if (EVP_DigestVerifyInit_ex(md, &pctx, alg == CDS_ALG_EDDSA ? NULL : "SHA256", NULL, NULL, key,
                                NULL) != 1)
        goto out;
    if (alg == CDS_ALG_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
        goto out;
    rc = EVP_DigestVerify(md, vsig, vlen, data, n) == 1 ? CDS_JOSE_OK : CDS_JOSE_ESIG;
out:
    if (rc != CDS_JOSE_OK) ossl_forget();
    EVP_MD_CTX_free(md);
    return rc;
}

int cds_jws_verify_raw(EVP_PKEY *key, int alg, const void *data, size_t n, const unsigned char *sig,
                       size_t siglen)
{
    return verify_raw(key, alg, data, n, sig, siglen, 0);
}

/* ---- compact JWT ------------------------------------------------------ */

void cds_jwt_free(cds_jwt *jwt)
{
    if (!jwt) return;
    json_decref(jwt->header);
    json_decref(jwt->claims);
    free(jwt->signing_input);
    memset(jwt, 0, sizeof *jwt);
}

/* Decodes one base64url segment into `buf` and loads it as a JSON object. */
static json_t *segment_object(const char *s, size_t n, unsigned char *buf, size_t cap)
{
    size_t len = 0;
    if (cds_b64url_decode(s, n, buf, cap, &len) != 0) return NULL;
    json_error_t jerr;
    json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int cds_jwt_parse(const char *token, size_t len, cds_jwt *out, const char **err)
{
    const char *dummy;
    if (!err) err = &dummy;
    *err = NULL;
    if (!out) return CDS_JOSE_EMALFORMED;
    memset(out, 0, sizeof *out);
    if (!token || len == 0) {
        *err = "empty token";
        return CDS_JOSE_EMALFORMED;
    }
    if (len > CDS_JWT_MAX) {
        *err = "token too long";
        return CDS_JOSE_EMALFORMED;
    }
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token))) {
        *err = "not three dot-separated segments";
        return CDS_JOSE_EMALFORMED;
    }
    size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1);
    size_t slen = len - (size_t)(d2 + 1 - token);
    if (hlen == 0 || plen == 0) {
        *err = "empty header or payload segment";
        return CDS_JOSE_EMALFORMED;
    }

    /* Decoded data is never longer than its base64url text. */
    unsigned char *buf = malloc(len);
    if (!buf) {
        *err = "out of memory";
        return CDS_JOSE_EMALFORMED;
    }
    json_t *alg = NULL, *kid = NULL;
    out->header = segment_object(token, hlen, buf, len);
    if (!out->header) {
        *err = "header is not base64url of a JSON object";
        goto fail;
    }
    alg = json_object_get(out->header, "alg");
    if (!json_is_string(alg)) {
        *err = "header has no \"alg\" string";
        goto fail;
    }
    if (json_string_length(alg) >= sizeof out->alg_name) {
        *err = "\"alg\" too long";
        goto fail;
    }
    memcpy(out->alg_name, json_string_value(alg), json_string_length(alg) + 1);
    out->alg = alg_from_name(out->alg_name);
    kid = json_object_get(out->header, "kid");
    if (kid) {
        if (!json_is_string(kid) || json_string_length(kid) >= sizeof out->kid) {
            *err = "\"kid\" not a string or too long";
            goto fail;
        }
        memcpy(out->kid, json_string_value(kid), json_string_length(kid) + 1);
    }
    /* RFC 7515 4.1.11: extensions listed in "crit" must be understood, and we
     * implement none (e.g. RFC 7797 "b64":false would change the input). */
    if (json_object_get(out->header, "crit")) {
        *err = "\"crit\" header not supported";
        goto fail;
    }
    out->claims = segment_object(d1 + 1, plen, buf, len);
    if (!out->claims) {
        *err = "payload is not base64url of a JSON object";
        goto fail;
    }
    if (cds_b64url_decode(d2 + 1, slen, out->sig, sizeof out->sig, &out->sig_len) != 0) {
        *err = "signature is not base64url or too long";
        goto fail;
    }
    out->signing_input_len = (size_t)(d2 - token);
    out->signing_input = malloc(out->signing_input_len + 1);
    if (!out->signing_input) {
        *err = "out of memory";
        goto fail;
    }
    memcpy(out->signing_input, token, out->signing_input_len);
    out->signing_input[out->signing_input_len] = '\0';
    free(buf);
    return CDS_JOSE_OK;
fail:
    free(buf);
    cds_jwt_free(out);
    return CDS_JOSE_EMALFORMED;
}

static int verify_jwt(const cds_jwt *jwt, EVP_PKEY *key, int allowed, int low_s)
{
    if (!jwt || !jwt->signing_input) return CDS_JOSE_EMALFORMED;
    /* alg 0 covers "none", every HS*, and anything unknown. Exactly one bit,
     * within what we implement and what the caller allows. */
    int alg = jwt->alg;
    if (alg == 0 || (alg & (alg - 1)) != 0 || (alg & ~ALG_ALL) != 0 || (alg & allowed) == 0)
        return CDS_JOSE_EALG;
    if (!key) return CDS_JOSE_EKEY;
    if (jwt->sig_len == 0) return CDS_JOSE_ESIG;
    return verify_raw(key, alg, jwt->signing_input, jwt->signing_input_len, jwt->sig, jwt->sig_len,
                      low_s);
}

int cds_jws_verify(const cds_jwt *jwt, EVP_PKEY *key, int allowed)
{
    return verify_jwt(jwt, key, allowed, 0);
}

int cds_jws_verify_own(const cds_jwt *jwt, EVP_PKEY *key, int allowed)
{
    return verify_jwt(jwt, key, allowed, 1);
}

/* Base64url of a JSON value's compact form, malloc'ed. */
static char *json_b64(const json_t *j, size_t *outlen)
{
    char *txt = json_dumps(j, JSON_COMPACT);
    if (!txt) return NULL;
    size_t n = strlen(txt);
    size_t cap = n / 3 * 4 + 5;
    char *b = malloc(cap);
    if (b) *outlen = cds_b64url_encode(txt, n, b, cap);
    free(txt);
    return b;
}

char *cds_jws_sign_with_header(EVP_PKEY *key, int alg, const json_t *header, const json_t *claims)
{
    if (!json_is_object(header) || !json_is_object(claims) || key_fits(key, alg) != CDS_JOSE_OK)
        return NULL;
    size_t hl = 0, cl = 0, sl = 0;
    char *h = json_b64(header, &hl), *c = json_b64(claims, &cl), *tok = NULL;
    unsigned char sig[512];
    char sigb[700];
    if (!h || !c || hl == 0 || cl == 0) goto out;
    size_t inlen = hl + 1 + cl;
    tok = malloc(inlen + 1 + sizeof sigb);
    if (!tok) goto out;
    memcpy(tok, h, hl);
    tok[hl] = '.';
    memcpy(tok + hl + 1, c, cl);
    tok[inlen] = '\0';
    if (cds_jws_sign_raw(key, alg, tok, inlen, sig, sizeof sig, &sl) != CDS_JOSE_OK) {
        free(tok);
        tok = NULL;
        goto out;
    }
    size_t bl = cds_b64url_encode(sig, sl, sigb, sizeof sigb);
    tok[inlen] = '.';
    memcpy(tok + inlen + 1, sigb, bl + 1);
out:
    free(h);
    free(c);
    return tok;
}

char *cds_jws_sign(EVP_PKEY *key, int alg, const char *kid, const json_t *claims)
{
    const char *name = cds_jws_alg_name(alg);
    if (!name) return NULL;
    json_t *hdr = json_object();
    if (!hdr) return NULL;
    char *tok = NULL;
    if (json_object_set_new(hdr, "alg", json_string(name)) != 0 ||
        json_object_set_new(hdr, "typ", json_string("JWT")) != 0)
        goto out;
    if (kid && *kid && json_object_set_new(hdr, "kid", json_string(kid)) != 0) goto out;
    tok = cds_jws_sign_with_header(key, alg, hdr, claims);
out:
    json_decref(hdr);
    return tok;
}

/* ---- JWK import ------------------------------------------------------- */

/* Decodes member `name` of `jwk` into a fresh buffer (malloc, cleansed by
 * the caller with OPENSSL_clear_free when secret). */
static unsigned char *jwk_bytes(const json_t *jwk, const char *name, size_t maxlen, size_t *len)
{
    const json_t *v = json_object_get(jwk, name);
    if (!json_is_string(v)) return NULL;
    size_t sl = json_string_length(v);
    if (sl == 0 || sl / 4 * 3 > maxlen + 3) return NULL;
    size_t cap = sl / 4 * 3 + 3;
    unsigned char *b = OPENSSL_malloc(cap);
    if (!b) return NULL;
    if (cds_b64url_decode(json_string_value(v), sl, b, cap, len) != 0 || *len == 0 ||
        *len > maxlen) {
        OPENSSL_clear_free(b, cap);
        return NULL;
    }
    return b;
}

/* A secret number goes into a "secure" BIGNUM: OSSL_PARAM_BLD then keeps it
 * in the secure part of the parameter array, which OSSL_PARAM_free wipes. */
static BIGNUM *jwk_bn(const json_t *jwk, const char *name, size_t maxlen, int secret)
{
    size_t len = 0;
    unsigned char *b = jwk_bytes(jwk, name, maxlen, &len);
    if (!b) return NULL;
    BIGNUM *bn = secret ? BN_secure_new() : BN_new();
    if (bn && !BN_bin2bn(b, (int)len, bn)) {
        BN_clear_free(bn);
        bn = NULL;
    }
    OPENSSL_clear_free(b, len);
    return bn;
}

static int jwk_str_is(const json_t *jwk, const char *name, const char *want)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    return s && strcmp(s, want) == 0;
}

/* EVP_PKEY_fromdata for `type` from what `bld` holds. */
static EVP_PKEY *pkey_from_bld(const char *type, OSSL_PARAM_BLD *bld, int selection)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        if (EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1) pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params); /* wipes the secure part, see jwk_bn */
    return pkey;
}

/* Runs OpenSSL's own consistency checks: the public point is on the curve /
 * the public numbers are sane; for a private key, that both halves match. */
static int pkey_check(EVP_PKEY *pkey, int priv)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = c && (priv ? EVP_PKEY_pairwise_check(c) : EVP_PKEY_public_check(c)) == 1;
    EVP_PKEY_CTX_free(c);
    return ok;
}

static EVP_PKEY *rsa_from_jwk(const json_t *jwk, int priv, const char **err)
{
    static const char *const names[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
    static const char *const params[] = {
        OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
    };
    BIGNUM *bn[8] = {0};
    size_t count = priv ? 8 : 2;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!bld) goto out;
    if (priv && json_object_get(jwk, "oth")) {
        *err = "multi-prime RSA keys not supported";
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        /* e fits in 8 bytes for any key worth using. */
        bn[i] = jwk_bn(jwk, names[i], i == 1 ? 8 : RSA_MAX_BYTES, i >= 2);
        if (!bn[i] || OSSL_PARAM_BLD_push_BN(bld, params[i], bn[i]) != 1) {
            *err = "RSA JWK member missing or not base64url";
            goto out;
        }
    }
    pkey = pkey_from_bld("RSA", bld, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    if (!pkey) {
        *err = "RSA key rejected by OpenSSL";
        goto out;
    }
    if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
        *err = "RSA key shorter than 2048 bits";
        EVP_PKEY_free(pkey);
        pkey = NULL;
        goto out;
    }
    if (!pkey_check(pkey, priv)) {
        *err = "RSA key fails consistency checks";
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    for (size_t i = 0; i < 8; i++)
        BN_clear_free(bn[i]);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

static EVP_PKEY *ec_from_jwk(const json_t *jwk, int priv, const char **err)
{
    unsigned char pub[1 + 2 * P256_BYTES];
    unsigned char *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    BIGNUM *d = NULL;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    if (!jwk_str_is(jwk, "crv", "P-256")) {
        *err = "EC JWK curve is not P-256";
        return NULL;
    }
    x = jwk_bytes(jwk, "x", P256_BYTES, &xl);
    y = jwk_bytes(jwk, "y", P256_BYTES, &yl);
    /* RFC 7518 6.2.1.2: the coordinates are the full 32 bytes, never trimmed. */
    if (!x || !y || xl != P256_BYTES || yl != P256_BYTES) {
        *err = "EC JWK x/y missing or not 32 bytes";
        goto out;
    }
    pub[0] = 0x04; /* uncompressed point: OpenSSL checks it lies on the curve */
    memcpy(pub + 1, x, P256_BYTES);
    memcpy(pub + 1 + P256_BYTES, y, P256_BYTES);
    bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub) != 1) {
        *err = "out of memory";
        goto out;
    }
    if (priv) {
        size_t dl = 0;
        unsigned char *db = jwk_bytes(jwk, "d", P256_BYTES, &dl);
        if (db && dl == P256_BYTES) {
            d = BN_secure_new();
            if (d && !BN_bin2bn(db, (int)dl, d)) {
                BN_clear_free(d);
                d = NULL;
            }
        }
        if (db) OPENSSL_clear_free(db, dl);
        if (!d || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1) {
            *err = "EC JWK d missing or not 32 bytes";
            goto out;
        }
    }
    pkey = pkey_from_bld("EC", bld, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    if (!pkey || !pkey_check(pkey, priv)) {
        *err = priv ? "EC key invalid (point not on P-256, or d does not match)"
                    : "EC point not on P-256";
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    OPENSSL_free(x);
    OPENSSL_free(y);
    BN_clear_free(d);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

static EVP_PKEY *okp_from_jwk(const json_t *jwk, int priv, const char **err)
{
    EVP_PKEY *pkey = NULL;
    size_t xl = 0, dl = 0;
    unsigned char *x = NULL, *d = NULL;
    if (!jwk_str_is(jwk, "crv", "Ed25519")) {
        *err = "OKP JWK curve is not Ed25519";
        return NULL;
    }
    x = jwk_bytes(jwk, "x", ED25519_BYTES, &xl);
    if (json_object_get(jwk, "x") && (!x || xl != ED25519_BYTES)) {
        *err = "OKP JWK x not 32 bytes";
        goto out;
    }
    if (!priv) {
        if (!x) {
            *err = "OKP JWK x missing";
            goto out;
        }
        pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xl);
        if (!pkey) *err = "Ed25519 key rejected by OpenSSL";
        goto out;
    }
    d = jwk_bytes(jwk, "d", ED25519_BYTES, &dl);
    if (!d || dl != ED25519_BYTES) {
        *err = "OKP JWK d missing or not 32 bytes";
        goto out;
    }
    pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, d, dl);
    if (!pkey) {
        *err = "Ed25519 key rejected by OpenSSL";
        goto out;
    }
    if (x) { /* the public half is derived from d; a different x is a mix-up */
        unsigned char derived[ED25519_BYTES];
        size_t len = sizeof derived;
        if (EVP_PKEY_get_raw_public_key(pkey, derived, &len) != 1 || len != xl ||
            CRYPTO_memcmp(derived, x, xl) != 0) {
            *err = "OKP JWK x does not match d";
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }
out:
    OPENSSL_free(x);
    if (d) OPENSSL_clear_free(d, dl);
    return pkey;
}

static EVP_PKEY *jwk_import(const json_t *jwk, int priv, const char **err)
{
    const char *dummy;
    if (!err) err = &dummy;
    *err = NULL;
    if (!json_is_object(jwk)) {
        *err = "JWK is not a JSON object";
        return NULL;
    }
    EVP_PKEY *k = NULL;
    if (jwk_str_is(jwk, "kty", "RSA"))
        k = rsa_from_jwk(jwk, priv, err);
    else if (jwk_str_is(jwk, "kty", "EC"))
        k = ec_from_jwk(jwk, priv, err);
    else if (jwk_str_is(jwk, "kty", "OKP"))
        k = okp_from_jwk(jwk, priv, err);
    else
        *err = "JWK kty not RSA, EC or OKP";
    if (!k) {
        if (!*err) *err = "unusable JWK";
        ossl_forget();
    }
    return k;
}

EVP_PKEY *cds_jwk_to_pkey(const json_t *jwk, const char **err)
{
    return jwk_import(jwk, 0, err);
}

EVP_PKEY *cds_jwk_private_to_pkey(const json_t *jwk, const char **err)
{
    return jwk_import(jwk, 1, err);
}

/* ---- JWK export ------------------------------------------------------- */

/* Sets member `name` of `obj` to base64url(bn), left-padded to `pad` bytes. */
static int set_bn(json_t *obj, const char *name, const BIGNUM *bn, int pad)
{
    int n = pad > 0 ? pad : BN_num_bytes(bn);
    if (n <= 0 || n > RSA_MAX_BYTES) return -1;
    unsigned char bin[RSA_MAX_BYTES];
    char txt[RSA_MAX_BYTES / 3 * 4 + 8];
    if (BN_bn2binpad(bn, bin, n) != n) return -1;
    size_t tl = cds_b64url_encode(bin, (size_t)n, txt, sizeof txt);
    if (tl == 0) return -1;
    return json_object_set_new(obj, name, json_string(txt));
}

static int set_bn_param(json_t *obj, const char *name, EVP_PKEY *key, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) return -1;
    int rc = set_bn(obj, name, bn, pad);
    BN_free(bn);
    return rc;
}

/* The required public members only (RFC 7638 3.2), and which alg fits. */
static json_t *jwk_public(EVP_PKEY *key, int *alg)
{
    json_t *o = json_object();
    int rc = -1;
    if (!o || !key) goto out;
    if (EVP_PKEY_is_a(key, "RSA")) {
        *alg = CDS_ALG_RS256;
        rc = json_object_set_new(o, "kty", json_string("RSA"));
        if (rc == 0) rc = set_bn_param(o, "n", key, OSSL_PKEY_PARAM_RSA_N, 0);
        if (rc == 0) rc = set_bn_param(o, "e", key, OSSL_PKEY_PARAM_RSA_E, 0);
    } else if (is_p256(key)) {
        *alg = CDS_ALG_ES256;
        rc = json_object_set_new(o, "kty", json_string("EC"));
        if (rc == 0) rc = json_object_set_new(o, "crv", json_string("P-256"));
        if (rc == 0) rc = set_bn_param(o, "x", key, OSSL_PKEY_PARAM_EC_PUB_X, P256_BYTES);
        if (rc == 0) rc = set_bn_param(o, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y, P256_BYTES);
    } else if (EVP_PKEY_is_a(key, "ED25519")) {
        unsigned char x[ED25519_BYTES];
        char txt[64];
        size_t xl = sizeof x;
        *alg = CDS_ALG_EDDSA;
        if (EVP_PKEY_get_raw_public_key(key, x, &xl) != 1 || xl != sizeof x ||
            cds_b64url_encode(x, xl, txt, sizeof txt) == 0)
            goto out;
        rc = json_object_set_new(o, "kty", json_string("OKP"));
        if (rc == 0) rc = json_object_set_new(o, "crv", json_string("Ed25519"));
        if (rc == 0) rc = json_object_set_new(o, "x", json_string(txt));
    }
out:
    if (rc != 0) {
        ossl_forget();
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *cds_jwk_from_pkey(EVP_PKEY *key, const char *kid, int alg)
{
    int fit = 0;
    json_t *o = jwk_public(key, &fit);
    if (!o) return NULL;
    if (alg == 0) alg = fit;
    if (alg != fit || key_fits(key, alg) != CDS_JOSE_OK) goto fail;
    if (kid && *kid && json_object_set_new(o, "kid", json_string(kid)) != 0) goto fail;
    if (json_object_set_new(o, "alg", json_string(cds_jws_alg_name(alg))) != 0 ||
        json_object_set_new(o, "use", json_string("sig")) != 0)
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

int cds_jwk_thumbprint(EVP_PKEY *key, char *out, size_t cap)
{
    int alg = 0;
    json_t *o = jwk_public(key, &alg);
    if (!o) return -1;
    /* Members sorted, no whitespace: exactly the RFC 7638 3.3 canonical
     * form, since every value is base64url or a fixed ASCII name. */
    char *txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!txt) return -1;
    unsigned char md[32];
    size_t mdlen = 0;
    int ok = EVP_Q_digest(NULL, "SHA256", NULL, txt, strlen(txt), md, &mdlen) == 1 &&
             mdlen == sizeof md && cds_b64url_encode(md, mdlen, out, cap) > 0;
    free(txt);
    if (!ok) {
        ossl_forget();
        return -1;
    }
    return 0;
}

/* ---- PEM and generation ----------------------------------------------- */

/* Never prompt on a terminal for a passphrase: an encrypted key is an error. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

EVP_PKEY *cds_pkey_from_pem(const char *pem_or_path)
{
    if (!pem_or_path) return NULL;
    const char *s = pem_or_path;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    BIO *b =
        strncmp(s, "-----BEGIN", 10) == 0 ? BIO_new_mem_buf(s, -1) : BIO_new_file(pem_or_path, "r");
    if (!b) {
        ossl_forget();
        return NULL;
    }
    EVP_PKEY *k = PEM_read_bio_PrivateKey_ex(b, NULL, no_passphrase, NULL, NULL, NULL);
    BIO_free(b);
    if (!k) ossl_forget();
    return k;
}

char *cds_pkey_to_pem(EVP_PKEY *key)
{
    if (!key) return NULL;
    /* A secure-memory BIO is wiped when freed: the key text does not linger. */
    BIO *b = BIO_new(BIO_s_secmem());
    char *out = NULL;
    if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0 && p) {
            out = malloc((size_t)n + 1);
            if (out) {
                memcpy(out, p, (size_t)n);
                out[n] = '\0';
            }
        }
    }
    if (!out) ossl_forget();
    BIO_free(b);
    return out;
}

EVP_PKEY *cds_pkey_generate(int alg)
{
    EVP_PKEY *k = NULL;
    switch (alg) {
    case CDS_ALG_RS256:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_MIN_BITS);
        break;
    case CDS_ALG_ES256:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case CDS_ALG_EDDSA:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    default:
        return NULL;
    }
    if (!k) ossl_forget();
    return k;
}

int cds_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
