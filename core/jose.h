/* JOSE for this service (RFC 7515 JWS, RFC 7517 JWK, RFC 7519 JWT), on
 * OpenSSL 3: base64url, parsing a compact JWT with size caps, verifying a
 * signature against an explicit algorithm allow-list (the key's type must
 * match the algorithm: no `none`, no HMAC with a public key), signing, and
 * converting keys to and from JWK. Used to check VNeID's ID tokens, to issue
 * and check our own access tokens, by the VNeID stand-in, and later for the
 * FCM (RS256) and APNs (ES256) provider tokens. */
#ifndef CDS_JOSE_H
#define CDS_JOSE_H
#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

#define CDS_JWT_MAX 8192 /* bytes of a compact token we accept at all */

/* base64url without padding. encode: returns the length written (NUL added),
 * or 0 if `cap` is too small. decode: returns 0 and sets *outlen, or -1 on a
 * character outside the alphabet, padding, a bad length, or too small `cap`. */
size_t cds_b64url_encode(const void *in, size_t n, char *out, size_t cap);
int cds_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen);

enum {
    CDS_ALG_RS256 = 1 << 0,
    CDS_ALG_ES256 = 1 << 1,
    CDS_ALG_EDDSA = 1 << 2,
};

typedef struct cds_jwt {
    json_t *header;  /* owned */
    json_t *claims;  /* owned */
    int alg;         /* one CDS_ALG_* bit, or 0 when the header names another algorithm */
    char alg_name[16];
    char kid[128];   /* "" when absent */
    char *signing_input; /* "header.payload", owned */
    size_t signing_input_len;
    unsigned char sig[512];
    size_t sig_len;
} cds_jwt;

enum {
    CDS_JOSE_OK = 0,
    CDS_JOSE_EMALFORMED = -1, /* not three base64url segments of JSON objects, or too big */
    CDS_JOSE_EALG = -2,       /* algorithm not allowed, or not matching the key */
    CDS_JOSE_ESIG = -3,       /* signature does not verify */
    CDS_JOSE_EKEY = -4,       /* unusable key */
};

/* Parses structure only (no signature check). On failure *err names the
 * problem in English for logs and `out` is left zeroed (cds_jwt_free on it is
 * harmless). Refused as CDS_JOSE_EMALFORMED: more than CDS_JWT_MAX bytes, not
 * exactly three segments, an empty header or payload, a character outside the
 * base64url alphabet (padding included) or non-canonical trailing bits, a
 * header or payload that is not a JSON object or repeats a member, a header
 * without a string "alg" (or one over 15 bytes), a "kid" that is not a string
 * or is over 127 bytes, any "crit" member (we implement no extension), and a
 * signature over 512 bytes. An EMPTY signature parses (sig_len 0) on purpose:
 * the unsecured form "header.payload." is then refused by cds_jws_verify as
 * CDS_JOSE_EALG ("none") or CDS_JOSE_ESIG, one clear place for that rule. */
int cds_jwt_parse(const char *token, size_t len, cds_jwt *out, const char **err);
void cds_jwt_free(cds_jwt *jwt);
/* 0 when jwt->alg is in `allowed`, matches the key's type and the signature
 * verifies over the signing input. */
int cds_jws_verify(const cds_jwt *jwt, EVP_PKEY *key, int allowed);
/* The same for tokens this service issued itself: an ES256 signature must
 * also be low-S (s <= n/2), the form cds_jws_sign_raw always produces, so the
 * malleable twin (r, n - s) of one of our signatures is refused
 * (CDS_JOSE_ESIG). Not for third-party tokens: the standard does not ask
 * their signers for low-S. */
int cds_jws_verify_own(const cds_jwt *jwt, EVP_PKEY *key, int allowed);

/* Raw JWS signature over `n` bytes (the signing input), in JWS form: PKCS#1
 * v1.5 for RS256, R||S (64 bytes, s always <= n/2: low-S) for ES256, 64 bytes
 * for EdDSA. The key must
 * match `alg` (CDS_JOSE_EALG otherwise; CDS_JOSE_EKEY for an RSA key under
 * 2048 bits). For tokens whose header or payload must be byte-exact, e.g.
 * published test vectors. */
int cds_jws_sign_raw(EVP_PKEY *key, int alg, const void *data, size_t n, unsigned char *sig,
                     size_t cap, size_t *siglen);
/* The matching check: CDS_JOSE_OK, _EALG, _EKEY or _ESIG. */
int cds_jws_verify_raw(EVP_PKEY *key, int alg, const void *data, size_t n,
                       const unsigned char *sig, size_t siglen);
/* "RS256", "ES256", "EdDSA", or NULL for anything else. */
const char *cds_jws_alg_name(int alg);

/* Compact JWS over `claims` with header {"alg","typ":"JWT","kid"}; malloc'ed.
 * alg is CDS_ALG_RS256 (RSA key), CDS_ALG_ES256 (P-256) or CDS_ALG_EDDSA (Ed25519). */
char *cds_jws_sign(EVP_PKEY *key, int alg, const char *kid, const json_t *claims);
/* The same with a caller-made header (copied as is: tests forge headers with it). */
char *cds_jws_sign_with_header(EVP_PKEY *key, int alg, const json_t *header, const json_t *claims);

/* Public key from a JWK (RSA n/e; EC P-256 x/y; OKP Ed25519 x). NULL + *err on failure. */
EVP_PKEY *cds_jwk_to_pkey(const json_t *jwk, const char **err);
/* Private key from a private JWK (RSA n/e/d/p/q/dp/dq/qi; EC P-256 x/y/d; OKP
 * Ed25519 d with optional x). The halves are checked to belong together. */
EVP_PKEY *cds_jwk_private_to_pkey(const json_t *jwk, const char **err);
/* Public JWK of `key` with "kid" (left out when NULL or ""), "alg" and
 * "use":"sig". alg 0 picks the algorithm from the key; an alg that does not
 * fit the key gives NULL. */
json_t *cds_jwk_from_pkey(EVP_PKEY *key, const char *kid, int alg);
/* RFC 7638 thumbprint (base64url of SHA-256, 43 characters; cap >= 44),
 * handy as a key id. 0 on success, -1 otherwise. */
int cds_jwk_thumbprint(EVP_PKEY *key, char *out, size_t cap);

/* Private key from PEM text or a PEM file path (text when it starts with "-----BEGIN"). */
EVP_PKEY *cds_pkey_from_pem(const char *pem_or_path);
/* PEM text of a private key (malloc). */
char *cds_pkey_to_pem(EVP_PKEY *key);
EVP_PKEY *cds_pkey_generate(int alg); /* RSA 2048, P-256 or Ed25519 */

/* Constant-time equality of two buffers of the same length: 1 when equal. */
int cds_ct_equal(const void *a, const void *b, size_t n);

#endif
