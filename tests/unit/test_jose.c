/* core/jose against published vectors and against the classic JWT attacks.
 *
 * Vectors (copied from the RFCs, not produced by this code):
 *  - RFC 7515 A.2 (RS256): the RFC's RSA private JWK signs the RFC's signing
 *    input to exactly the RFC's signature (PKCS#1 v1.5 is deterministic), and
 *    the RFC's compact token verifies with the public half;
 *  - RFC 7515 A.3 (ES256): the RFC's token verifies with its public JWK
 *    (ECDSA is randomised, so only verification can be compared);
 *  - RFC 8037 A.4/A.5 (Ed25519): the RFC's key signs the RFC's input to
 *    exactly the RFC's JWS, which verifies; A.3's thumbprint;
 *  - RFC 7638 3.1: the RSA key's thumbprint;
 *  - RFC 4648 10: base64 of "", "f", "fo", "foo", "foob", "fooba".
 * Attacks: alg none (with and without a signature), HS256 keyed with the RSA
 * public key PEM, a header naming an algorithm that does not fit the key,
 * short RSA keys, ES256 signatures of the wrong length or in DER, tampered
 * header/payload/signature, and malformed tokens of every kind the parser
 * promises to refuse. Malleability: every ES256 signature we make is low-S,
 * and the flipped-s twin of one of our tokens is refused by
 * cds_jws_verify_own while cds_jws_verify (third-party tokens) takes both. */
#include "core/jose.h"
#include "tests/lib/jws_twin.h"
#include "tests/lib/t.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALL_ALGS (CDS_ALG_RS256 | CDS_ALG_ES256 | CDS_ALG_EDDSA)

/* ---- RFC 7515 A.2 (RS256) ---- */
static const char a2_jwk[] = "{\"kty\":\"RSA\","
                             "\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
                             "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
                             "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
                             "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
                             "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
                             "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\","
                             "\"e\":\"AQAB\","
                             "\"d\":\"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97I"
                             "jlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0"
                             "BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn"
                             "439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT"
                             "CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLh"
                             "BOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ\","
                             "\"p\":\"4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdi"
                             "YrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPG"
                             "BY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc\","
                             "\"q\":\"uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxa"
                             "ewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA"
                             "-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc\","
                             "\"dp\":\"BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3Q"
                             "CLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb"
                             "34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0\","
                             "\"dq\":\"h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa"
                             "7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-ky"
                             "NlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU\","
                             "\"qi\":\"IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2o"
                             "y26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLU"
                             "W0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U\"}";
/* {"alg":"RS256"} . {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true} */
static const char a2_input[] = "eyJhbGciOiJSUzI1NiJ9"
                               ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcG"
                               "xlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char a2_sig[] = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
                             "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
                             "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
                             "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
                             "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
                             "p0igcN_IoypGlUPQGe77Rw";

/* ---- RFC 7515 A.3 (ES256) ---- */
static const char a3_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char a3_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char a3_d[] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
static const char a3_token[] =
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlf"
    "Q"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/* ---- RFC 8037 A.1-A.5 (Ed25519) ---- */
static const char ed_d[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
static const char ed_x[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
static const char ed_thumb[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
/* {"alg":"EdDSA"} . "Example of Ed25519 signing" */
static const char ed_input[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
static const char ed_sig[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

/* ---- RFC 7638 3.1 ---- */
static const char t7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char t7638_thumb[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* ---- helpers ---- */

static json_t *js(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j) fprintf(stderr, "bad test JSON: %s\n", e.text);
    return j;
}

static char *b64(const void *p, size_t n)
{
    size_t cap = n / 3 * 4 + 5;
    char *s = malloc(cap);
    if (s) cds_b64url_encode(p, n, s, cap);
    return s;
}

/* "b64(hdr).b64(claims).b64(sig)" from raw JSON text, so tests can write
 * headers no JSON library would produce (duplicate members, arrays). */
static char *mk_token(const char *hdr, const char *claims, const unsigned char *sig, size_t siglen)
{
    char *h = b64(hdr, strlen(hdr)), *c = b64(claims, strlen(claims)), *s = b64(sig, siglen);
    size_t n = strlen(h) + strlen(c) + strlen(s) + 3;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s.%s", h, c, s);
    free(h);
    free(c);
    free(s);
    return t;
}

/* Replaces segment `idx` (0..2) of a compact token. */
static char *swap_segment(const char *tok, int idx, const char *seg)
{
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    size_t n = strlen(tok) + strlen(seg) + 3;
    char *t = malloc(n);
    if (idx == 0)
        snprintf(t, n, "%s%s", seg, d1);
    else if (idx == 1)
        snprintf(t, n, "%.*s.%s%s", (int)(d1 - tok), tok, seg, d2);
    else
        snprintf(t, n, "%.*s.%s", (int)(d2 - tok), tok, seg);
    return t;
}

/* Parse + verify in one go; parse errors come back as their code. */
static int check_token(const char *tok, EVP_PKEY *key, int allowed)
{
    cds_jwt jwt;
    const char *err = NULL;
    int rc = cds_jwt_parse(tok, strlen(tok), &jwt, &err);
    if (rc == CDS_JOSE_OK) rc = cds_jws_verify(&jwt, key, allowed);
    cds_jwt_free(&jwt);
    return rc;
}

static int check_own(const char *tok, EVP_PKEY *key, int allowed)
{
    cds_jwt jwt;
    const char *err = NULL;
    int rc = cds_jwt_parse(tok, strlen(tok), &jwt, &err);
    if (rc == CDS_JOSE_OK) rc = cds_jws_verify_own(&jwt, key, allowed);
    cds_jwt_free(&jwt);
    return rc;
}

static int parse_rc(const char *tok, size_t len)
{
    cds_jwt jwt;
    const char *err = NULL;
    int rc = cds_jwt_parse(tok, len, &jwt, &err);
    CHECK(rc == CDS_JOSE_OK || err != NULL); /* every refusal says why */
    cds_jwt_free(&jwt);
    return rc;
}

/* ---- tests ---- */

static void test_b64url(void)
{
    /* RFC 4648 section 10 (no '+' or '/' involved, so base64 == base64url). */
    static const char *const enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE"};
    char out[16];
    unsigned char dec[16];
    size_t n = 99;
    for (size_t len = 0; len <= 5; len++) {
        CHECK_INT(cds_b64url_encode("fooba", len, out, sizeof out), strlen(enc[len]));
        CHECK_STR(out, enc[len]);
        CHECK_INT(cds_b64url_decode(enc[len], strlen(enc[len]), dec, sizeof dec, &n), 0);
        CHECK_INT(n, len);
        CHECK(memcmp(dec, "fooba", len) == 0);
    }
    /* The two url-safe characters. */
    static const unsigned char fb[] = {0xfb, 0xff};
    CHECK_INT(cds_b64url_encode(fb, 2, out, sizeof out), 3);
    CHECK_STR(out, "-_8");
    CHECK_INT(cds_b64url_decode("-_8", 3, dec, sizeof dec, &n), 0);
    CHECK(n == 2 && dec[0] == 0xfb && dec[1] == 0xff);
    /* Refusals: length 1 mod 4, padding, standard-alphabet characters,
     * whitespace, bytes >= 0x80, non-zero trailing bits, small buffers. */
    CHECK_INT(cds_b64url_decode("Z", 1, dec, sizeof dec, &n), -1);
    CHECK_INT(cds_b64url_decode("Zm9vY", 5, dec, sizeof dec, &n), -1);
    CHECK_INT(cds_b64url_decode("Zg==", 4, dec, sizeof dec, &n), -1);
    CHECK_INT(cds_b64url_decode("Zm8=", 4, dec, sizeof dec, &n), -1);
    CHECK_INT(cds_b64url_decode("+_8", 3, dec, sizeof dec, &n), -1);
    CHECK_INT(cds_b64url_decode("-/8", 3, dec, sizeof dec, &n), -1);
    CHECK_INT(cds_b64url_decode("Zm 9", 4, dec, sizeof dec, &n), -1);
    CHECK_INT(cds_b64url_decode("Zm\xc3\xa9", 4, dec, sizeof dec, &n), -1);
    CHECK_INT(cds_b64url_decode("Zh", 2, dec, sizeof dec, &n), -1);  /* "Zg" spelt otherwise */
    CHECK_INT(cds_b64url_decode("Zm9", 3, dec, sizeof dec, &n), -1); /* "Zm8" spelt otherwise */
    CHECK_INT(cds_b64url_decode("Zm9vYmE", 7, dec, 4, &n), -1);
    CHECK_INT(cds_b64url_decode("Zm9vYmE", 7, dec, 5, &n), 0);
    CHECK_INT(cds_b64url_encode("fooba", 5, out, 7), 0); /* needs 8 with the NUL */
    CHECK_INT(cds_b64url_encode("fooba", 5, out, 8), 7);
    CHECK_INT(cds_b64url_decode("", 0, NULL, 0, &n), 0);
    CHECK_INT(n, 0);
}

static void test_rfc7515_a2(void)
{
    json_t *jwk = js(a2_jwk);
    const char *err = NULL;
    EVP_PKEY *priv = cds_jwk_private_to_pkey(jwk, &err);
    CHECK(priv != NULL);
    if (!priv) {
        fprintf(stderr, "A.2 private JWK: %s\n", err ? err : "?");
        json_decref(jwk);
        return;
    }
    /* Deterministic PKCS#1 v1.5: exactly the RFC's signature. */
    unsigned char sig[512];
    size_t sl = 0;
    CHECK_INT(
        cds_jws_sign_raw(priv, CDS_ALG_RS256, a2_input, strlen(a2_input), sig, sizeof sig, &sl),
        CDS_JOSE_OK);
    CHECK_INT(sl, 256);
    char *s = b64(sig, sl);
    CHECK_STR(s, a2_sig);
    free(s);

    /* The RFC's token verifies with the public half only (n, e). */
    json_t *pubjwk = json_pack("{s:s,s:O,s:O}", "kty", "RSA", "n", json_object_get(jwk, "n"), "e",
                               json_object_get(jwk, "e"));
    EVP_PKEY *pub = cds_jwk_to_pkey(pubjwk, &err);
    CHECK(pub != NULL);
    char tok[1024];
    snprintf(tok, sizeof tok, "%s.%s", a2_input, a2_sig);
    cds_jwt jwt;
    CHECK_INT(cds_jwt_parse(tok, strlen(tok), &jwt, &err), CDS_JOSE_OK);
    CHECK_INT(jwt.alg, CDS_ALG_RS256);
    CHECK_STR(jwt.alg_name, "RS256");
    CHECK_STR(jwt.kid, "");
    CHECK_STR(json_string_value(json_object_get(jwt.claims, "iss")), "joe");
    CHECK_INT(json_integer_value(json_object_get(jwt.claims, "exp")), 1300819380);
    CHECK(json_is_true(json_object_get(jwt.claims, "http://example.com/is_root")));
    CHECK_INT(cds_jws_verify(&jwt, pub, CDS_ALG_RS256), CDS_JOSE_OK);
    CHECK_INT(cds_jws_verify(&jwt, priv, CDS_ALG_RS256), CDS_JOSE_OK);
    /* Not allowed by the caller: refused even though it would verify. */
    CHECK_INT(cds_jws_verify(&jwt, pub, CDS_ALG_ES256 | CDS_ALG_EDDSA), CDS_JOSE_EALG);
    CHECK_INT(cds_jws_verify(&jwt, pub, 0), CDS_JOSE_EALG);
    cds_jwt_free(&jwt);

    /* Importing the private JWK as a public key keeps only n and e. */
    EVP_PKEY *pub2 = cds_jwk_to_pkey(jwk, &err);
    CHECK(pub2 != NULL);
    CHECK_INT(cds_jws_verify_raw(pub2, CDS_ALG_RS256, a2_input, strlen(a2_input), sig, sl),
              CDS_JOSE_OK);
    CHECK_INT(cds_jws_sign_raw(pub2, CDS_ALG_RS256, a2_input, 3, sig, sizeof sig, &sl),
              CDS_JOSE_EKEY);

    /* A private JWK whose halves do not belong together is refused. */
    json_t *bad = json_deep_copy(jwk);
    json_object_set(bad, "d", json_object_get(jwk, "dp"));
    CHECK(cds_jwk_private_to_pkey(bad, &err) == NULL);
    json_decref(bad);

    EVP_PKEY_free(pub2);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(priv);
    json_decref(pubjwk);
    json_decref(jwk);
}

static void test_rfc7515_a3(void)
{
    const char *err = NULL;
    json_t *jwk = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", a3_x, "y", a3_y);
    EVP_PKEY *pub = cds_jwk_to_pkey(jwk, &err);
    CHECK(pub != NULL);
    CHECK_INT(check_token(a3_token, pub, CDS_ALG_ES256), CDS_JOSE_OK);
    CHECK_INT(check_token(a3_token, pub, CDS_ALG_RS256), CDS_JOSE_EALG);

    /* With d: our signatures over the same input verify under the RFC's
     * public key (ECDSA is randomised, so no byte comparison here). */
    json_object_set_new(jwk, "d", json_string(a3_d));
    EVP_PKEY *priv = cds_jwk_private_to_pkey(jwk, &err);
    CHECK(priv != NULL);
    const char *input = a3_token;
    size_t inlen = (size_t)(strrchr(a3_token, '.') - a3_token);
    unsigned char sig[64], sig2[64];
    size_t sl = 0, sl2 = 0;
    CHECK_INT(cds_jws_sign_raw(priv, CDS_ALG_ES256, input, inlen, sig, sizeof sig, &sl),
              CDS_JOSE_OK);
    CHECK_INT(sl, 64);
    CHECK_INT(cds_jws_verify_raw(pub, CDS_ALG_ES256, input, inlen, sig, sl), CDS_JOSE_OK);
    CHECK_INT(cds_jws_sign_raw(priv, CDS_ALG_ES256, input, inlen, sig2, sizeof sig2, &sl2),
              CDS_JOSE_OK);
    CHECK(memcmp(sig, sig2, 64) != 0);
    CHECK_INT(cds_jws_sign_raw(priv, CDS_ALG_ES256, input, inlen, sig, 63, &sl),
              CDS_JOSE_EKEY); /* too small a buffer */

    /* A d that does not match x/y is refused. */
    json_object_set_new(jwk, "d", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"));
    CHECK(cds_jwk_private_to_pkey(jwk, &err) == NULL);

    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
    json_decref(jwk);
}

static void test_rfc8037(void)
{
    const char *err = NULL;
    json_t *jwk =
        json_pack("{s:s,s:s,s:s,s:s}", "kty", "OKP", "crv", "Ed25519", "d", ed_d, "x", ed_x);
    EVP_PKEY *priv = cds_jwk_private_to_pkey(jwk, &err);
    CHECK(priv != NULL);
    unsigned char sig[64];
    size_t sl = 0;
    CHECK_INT(
        cds_jws_sign_raw(priv, CDS_ALG_EDDSA, ed_input, strlen(ed_input), sig, sizeof sig, &sl),
        CDS_JOSE_OK);
    CHECK_INT(sl, 64);
    char *s = b64(sig, sl);
    CHECK_STR(s, ed_sig);
    free(s);

    /* A.5: verification with the public key alone. */
    json_t *pubjwk = json_pack("{s:s,s:s,s:s}", "kty", "OKP", "crv", "Ed25519", "x", ed_x);
    EVP_PKEY *pub = cds_jwk_to_pkey(pubjwk, &err);
    CHECK(pub != NULL);
    unsigned char rsig[64];
    size_t rl = 0;
    CHECK_INT(cds_b64url_decode(ed_sig, strlen(ed_sig), rsig, sizeof rsig, &rl), 0);
    CHECK_INT(cds_jws_verify_raw(pub, CDS_ALG_EDDSA, ed_input, strlen(ed_input), rsig, rl),
              CDS_JOSE_OK);
    rsig[7] ^= 1;
    CHECK_INT(cds_jws_verify_raw(pub, CDS_ALG_EDDSA, ed_input, strlen(ed_input), rsig, rl),
              CDS_JOSE_ESIG);
    CHECK_INT(cds_jws_verify_raw(pub, CDS_ALG_EDDSA, ed_input, strlen(ed_input), rsig, 63),
              CDS_JOSE_ESIG);
    /* The RFC's payload is text, not a JWT claims object: the JWT parser
     * refuses it by design even though the JWS is valid. */
    char tok[256];
    snprintf(tok, sizeof tok, "%s.%s", ed_input, ed_sig);
    CHECK_INT(parse_rc(tok, strlen(tok)), CDS_JOSE_EMALFORMED);

    /* A.3: thumbprint. */
    char th[64];
    CHECK_INT(cds_jwk_thumbprint(pub, th, sizeof th), 0);
    CHECK_STR(th, ed_thumb);
    CHECK_INT(cds_jwk_thumbprint(priv, th, sizeof th), 0);
    CHECK_STR(th, ed_thumb);
    CHECK_INT(cds_jwk_thumbprint(pub, th, 43), -1); /* no room for the NUL */

    /* An x that does not belong to d is refused. */
    json_object_set_new(jwk, "x", json_string(a3_x));
    CHECK(cds_jwk_private_to_pkey(jwk, &err) == NULL);
    /* d alone is enough (x is derived). */
    json_object_del(jwk, "x");
    EVP_PKEY *priv2 = cds_jwk_private_to_pkey(jwk, &err);
    CHECK(priv2 != NULL);
    EVP_PKEY_free(priv2);

    EVP_PKEY_free(pub);
    EVP_PKEY_free(priv);
    json_decref(pubjwk);
    json_decref(jwk);
}

static void test_rfc7638(void)
{
    const char *err = NULL;
    json_t *jwk = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "n", t7638_n, "e", "AQAB", "alg",
                            "RS256", "kid", "2011-04-29");
    EVP_PKEY *k = cds_jwk_to_pkey(jwk, &err);
    CHECK(k != NULL);
    char th[44];
    CHECK_INT(cds_jwk_thumbprint(k, th, sizeof th), 0);
    CHECK_STR(th, t7638_thumb);
    /* Exported and re-imported, the key keeps its thumbprint. */
    json_t *exp = cds_jwk_from_pkey(k, "2011-04-29", 0);
    CHECK(exp != NULL);
    CHECK_STR(json_string_value(json_object_get(exp, "n")), t7638_n);
    CHECK_STR(json_string_value(json_object_get(exp, "e")), "AQAB");
    CHECK_STR(json_string_value(json_object_get(exp, "alg")), "RS256");
    CHECK_STR(json_string_value(json_object_get(exp, "kid")), "2011-04-29");
    CHECK_STR(json_string_value(json_object_get(exp, "use")), "sig");
    CHECK(cds_jwk_from_pkey(k, NULL, CDS_ALG_ES256) == NULL); /* alg must fit the key */
    json_decref(exp);
    EVP_PKEY_free(k);
    json_decref(jwk);
}

/* Signs with a key this code refuses to use (e.g. RSA-1024), straight
 * through EVP, to build tokens our own signer would never make. */
static char *evp_sign_token(EVP_PKEY *key, const char *hdr, const char *claims)
{
    char *t = mk_token(hdr, claims, (const unsigned char *)"", 0);
    size_t inlen = strlen(t) - 1; /* drop the trailing '.' */
    unsigned char sig[512];
    size_t sl = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL) == 1 &&
             EVP_DigestSign(md, sig, &sl, (unsigned char *)t, inlen) == 1;
    EVP_MD_CTX_free(md);
    CHECK(ok);
    char *s = b64(sig, sl);
    char *tok = swap_segment(t, 2, s);
    free(t);
    free(s);
    return tok;
}

static void test_attacks(void)
{
    EVP_PKEY *rsa = cds_pkey_generate(CDS_ALG_RS256);
    EVP_PKEY *ec = cds_pkey_generate(CDS_ALG_ES256);
    EVP_PKEY *ed = cds_pkey_generate(CDS_ALG_EDDSA);
    CHECK(rsa && ec && ed);
    json_t *claims = js("{\"sub\":\"079123456789\",\"iss\":\"https://vneid.example\"}");
    char *rs = cds_jws_sign(rsa, CDS_ALG_RS256, "r1", claims);
    char *es = cds_jws_sign(ec, CDS_ALG_ES256, "e1", claims);
    char *eds = cds_jws_sign(ed, CDS_ALG_EDDSA, "d1", claims);
    CHECK(rs && es && eds);
    CHECK_INT(check_token(rs, rsa, ALL_ALGS), CDS_JOSE_OK);
    CHECK_INT(check_token(es, ec, ALL_ALGS), CDS_JOSE_OK);
    CHECK_INT(check_token(eds, ed, ALL_ALGS), CDS_JOSE_OK);

    /* Header as promised. */
    cds_jwt jwt;
    const char *err = NULL;
    CHECK_INT(cds_jwt_parse(es, strlen(es), &jwt, &err), CDS_JOSE_OK);
    CHECK_STR(json_string_value(json_object_get(jwt.header, "typ")), "JWT");
    CHECK_STR(jwt.kid, "e1");
    CHECK_INT(jwt.sig_len, 64);
    CHECK(json_equal(jwt.claims, claims));
    cds_jwt_free(&jwt);

    /* Tampering with any segment. */
    const char *toks[] = {rs, es, eds};
    EVP_PKEY *keys[] = {rsa, ec, ed};
    const char *names[] = {"RS256", "ES256", "EdDSA"};
    for (int i = 0; i < 3; i++) {
        char *p = b64("{\"sub\":\"079123456788\",\"iss\":\"https://vneid.example\"}", 52);
        char *t = swap_segment(toks[i], 1, p);
        CHECK_INT(check_token(t, keys[i], ALL_ALGS), CDS_JOSE_ESIG);
        free(t);
        free(p);

        char hdr[64];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"x\"}", names[i]);
        p = b64(hdr, strlen(hdr));
        t = swap_segment(toks[i], 0, p);
        CHECK_INT(check_token(t, keys[i], ALL_ALGS), CDS_JOSE_ESIG);
        free(t);
        free(p);

        CHECK_INT(cds_jwt_parse(toks[i], strlen(toks[i]), &jwt, &err), CDS_JOSE_OK);
        jwt.sig[jwt.sig_len / 2] ^= 0x01;
        CHECK_INT(cds_jws_verify(&jwt, keys[i], ALL_ALGS), CDS_JOSE_ESIG);
        p = b64(jwt.sig, jwt.sig_len);
        t = swap_segment(toks[i], 2, p);
        CHECK_INT(check_token(t, keys[i], ALL_ALGS), CDS_JOSE_ESIG);
        free(t);
        free(p);
        cds_jwt_free(&jwt);

        /* Another key of the same type. */
        EVP_PKEY *other = cds_pkey_generate(i == 0   ? CDS_ALG_RS256
                                            : i == 1 ? CDS_ALG_ES256
                                                     : CDS_ALG_EDDSA);
        CHECK_INT(check_token(toks[i], other, ALL_ALGS), CDS_JOSE_ESIG);
        EVP_PKEY_free(other);
    }

    /* alg none: unsigned (empty third segment) and with a stolen signature. */
    const char *none_hdrs[] = {"{\"alg\":\"none\"}", "{\"alg\":\"none\",\"typ\":\"JWT\"}",
                               "{\"alg\":\"None\"}", "{\"alg\":\"\"}"};
    for (int i = 0; i < 4; i++) {
        char *t = mk_token(none_hdrs[i], "{\"sub\":\"admin\"}", (const unsigned char *)"", 0);
        CHECK(t[strlen(t) - 1] == '.');
        CHECK_INT(cds_jwt_parse(t, strlen(t), &jwt, &err), CDS_JOSE_OK); /* parses... */
        CHECK_INT(jwt.alg, 0);
        CHECK_INT(jwt.sig_len, 0);
        CHECK_INT(cds_jws_verify(&jwt, rsa, ALL_ALGS), CDS_JOSE_EALG); /* ...never verifies */
        CHECK_INT(cds_jws_verify(&jwt, rsa, -1), CDS_JOSE_EALG);
        CHECK_INT(cds_jws_verify(&jwt, NULL, -1), CDS_JOSE_EALG);
        cds_jwt_free(&jwt);
        char *stolen = swap_segment(t, 2, strrchr(rs, '.') + 1);
        CHECK_INT(check_token(stolen, rsa, ALL_ALGS), CDS_JOSE_EALG);
        free(stolen);
        free(t);
    }
    /* An RS256 header with an empty signature: parses, then fails as a signature. */
    {
        char *t = swap_segment(rs, 2, "");
        CHECK_INT(check_token(t, rsa, ALL_ALGS), CDS_JOSE_ESIG);
        free(t);
    }

    /* HS256 keyed with the RSA public key PEM (the key-confusion attack). */
    {
        BIO *b = BIO_new(BIO_s_mem());
        CHECK(PEM_write_bio_PUBKEY(b, rsa) == 1);
        char *pem = NULL;
        long pl = BIO_get_mem_data(b, &pem);
        char *t = mk_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"admin\"}",
                           (const unsigned char *)"", 0);
        size_t inlen = strlen(t) - 1;
        unsigned char mac[32];
        size_t ml = 0;
        CHECK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem, (size_t)pl, (unsigned char *)t,
                        inlen, mac, sizeof mac, &ml) != NULL);
        char *m = b64(mac, ml);
        char *forged = swap_segment(t, 2, m);
        CHECK_INT(cds_jwt_parse(forged, strlen(forged), &jwt, &err), CDS_JOSE_OK);
        CHECK_STR(jwt.alg_name, "HS256");
        CHECK_INT(jwt.alg, 0);
        CHECK_INT(cds_jws_verify(&jwt, rsa, ALL_ALGS), CDS_JOSE_EALG);
        CHECK_INT(cds_jws_verify(&jwt, rsa, -1), CDS_JOSE_EALG);
        cds_jwt_free(&jwt);
        /* The same with HS384/HS512 names. */
        char *h384 = b64("{\"alg\":\"HS384\"}", 15);
        char *f2 = swap_segment(forged, 0, h384);
        CHECK_INT(check_token(f2, rsa, -1), CDS_JOSE_EALG);
        free(f2);
        free(h384);
        free(forged);
        free(m);
        free(t);
        BIO_free(b);
    }

    /* Header algorithm that does not fit the key. */
    CHECK_INT(check_token(rs, ec, ALL_ALGS), CDS_JOSE_EALG);  /* RS256 + EC key */
    CHECK_INT(check_token(rs, ed, ALL_ALGS), CDS_JOSE_EALG);  /* RS256 + Ed25519 */
    CHECK_INT(check_token(es, rsa, ALL_ALGS), CDS_JOSE_EALG); /* ES256 + RSA key */
    CHECK_INT(check_token(es, ed, ALL_ALGS), CDS_JOSE_EALG);
    CHECK_INT(check_token(eds, rsa, ALL_ALGS), CDS_JOSE_EALG); /* EdDSA + RSA */
    CHECK_INT(check_token(eds, ec, ALL_ALGS), CDS_JOSE_EALG);
    CHECK_INT(check_token(rs, NULL, ALL_ALGS), CDS_JOSE_EKEY);
    /* An ES256 header over the RSA token (relabelling) does not help either. */
    {
        char *h = b64("{\"alg\":\"ES256\"}", 15);
        char *t = swap_segment(rs, 0, h);
        CHECK_INT(check_token(t, rsa, ALL_ALGS), CDS_JOSE_EALG);
        CHECK_INT(check_token(t, ec, ALL_ALGS), CDS_JOSE_ESIG); /* 256-byte sig */
        free(t);
        free(h);
    }
    /* ES256 with a key on another curve. */
    {
        EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        CHECK(p384 != NULL);
        CHECK_INT(check_token(es, p384, ALL_ALGS), CDS_JOSE_EALG);
        CHECK(cds_jws_sign(p384, CDS_ALG_ES256, "k", claims) == NULL);
        CHECK(cds_jwk_from_pkey(p384, "k", 0) == NULL);
        EVP_PKEY_free(p384);
    }
    /* Signers refuse a key that does not fit. */
    CHECK(cds_jws_sign(rsa, CDS_ALG_ES256, "k", claims) == NULL);
    CHECK(cds_jws_sign(ec, CDS_ALG_RS256, "k", claims) == NULL);
    CHECK(cds_jws_sign(ed, CDS_ALG_ES256, "k", claims) == NULL);
    CHECK(cds_jws_sign(rsa, 0, "k", claims) == NULL);
    CHECK(cds_jws_sign(rsa, CDS_ALG_RS256 | CDS_ALG_ES256, "k", claims) == NULL);

    /* RSA keys under 2048 bits. */
    {
        EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
        CHECK(small != NULL);
        char *t = evp_sign_token(small, "{\"alg\":\"RS256\"}", "{\"sub\":\"a\"}");
        CHECK_INT(check_token(t, small, ALL_ALGS), CDS_JOSE_EKEY);
        CHECK(cds_jws_sign(small, CDS_ALG_RS256, "k", claims) == NULL);
        CHECK(cds_jwk_from_pkey(small, "k", 0) == NULL);
        /* Nor does a 1024-bit JWK import. */
        BIGNUM *n = NULL;
        CHECK(EVP_PKEY_get_bn_param(small, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
        unsigned char nb[128];
        CHECK_INT(BN_bn2binpad(n, nb, sizeof nb), 128);
        char *nt = b64(nb, sizeof nb);
        json_t *jwk = json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", nt, "e", "AQAB");
        CHECK(cds_jwk_to_pkey(jwk, &err) == NULL);
        CHECK(err != NULL);
        json_decref(jwk);
        free(nt);
        BN_free(n);
        free(t);
        EVP_PKEY_free(small);
    }

    /* ES256 signatures of the wrong length, or in DER. */
    {
        CHECK_INT(cds_jwt_parse(es, strlen(es), &jwt, &err), CDS_JOSE_OK);
        unsigned char raw[64];
        memcpy(raw, jwt.sig, 64);
        cds_jwt_free(&jwt);
        unsigned char longer[65];
        memcpy(longer, raw, 64);
        longer[64] = 0;
        const size_t lens[] = {0, 1, 32, 63, 65};
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            char *s = b64(longer, lens[i]);
            char *t = swap_segment(es, 2, s);
            CHECK_INT(check_token(t, ec, ALL_ALGS), CDS_JOSE_ESIG);
            free(t);
            free(s);
        }
        /* The same signature DER-encoded, as a naive implementation would pass it on. */
        ECDSA_SIG *e = ECDSA_SIG_new();
        ECDSA_SIG_set0(e, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
        unsigned char der[80], *dp = der;
        int dl = i2d_ECDSA_SIG(e, &dp);
        ECDSA_SIG_free(e);
        CHECK(dl > 64 && dl <= 72);
        char *s = b64(der, (size_t)dl);
        char *t = swap_segment(es, 2, s);
        CHECK_INT(check_token(t, ec, ALL_ALGS), CDS_JOSE_ESIG);
        free(t);
        free(s);
        /* r = 0 or s = 0 never verifies. */
        memset(raw, 0, 32);
        s = b64(raw, 64);
        t = swap_segment(es, 2, s);
        CHECK_INT(check_token(t, ec, ALL_ALGS), CDS_JOSE_ESIG);
        free(t);
        free(s);
    }
    /* RS256 signature one byte short / long. */
    {
        CHECK_INT(cds_jwt_parse(rs, strlen(rs), &jwt, &err), CDS_JOSE_OK);
        jwt.sig_len--;
        CHECK_INT(cds_jws_verify(&jwt, rsa, ALL_ALGS), CDS_JOSE_ESIG);
        jwt.sig_len += 2;
        CHECK_INT(cds_jws_verify(&jwt, rsa, ALL_ALGS), CDS_JOSE_ESIG);
        cds_jwt_free(&jwt);
    }

    free(rs);
    free(es);
    free(eds);
    json_decref(claims);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
}

/* s of a 64-byte ES256 signature above n/2? (n/2 of P-256, big-endian) */
static int high_s(const unsigned char *sig)
{
    static const unsigned char half[32] = {
        0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B,
        0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8};
    return memcmp(sig + 32, half, 32) > 0;
}

static void test_low_s(void)
{
    EVP_PKEY *ec = cds_pkey_generate(CDS_ALG_ES256);
    CHECK(ec != NULL);
    json_t *claims = js("{\"sub\":\"079123456789\",\"iss\":\"https://cds.example\"}");
    /* Every signature we make is low-S: half of raw ECDSA signatures are
     * not, so 64 in a row low fail on a signer that does not normalise
     * with probability 1 - 2^-64. */
    int high = 0;
    for (int i = 0; i < 64; i++) {
        unsigned char sig[64];
        size_t sl = 0;
        CHECK_INT(cds_jws_sign_raw(ec, CDS_ALG_ES256, "abc", 3, sig, sizeof sig, &sl), CDS_JOSE_OK);
        if (sl == 64 && high_s(sig)) high++;
        CHECK_INT(cds_jws_verify_raw(ec, CDS_ALG_ES256, "abc", 3, sig, sl), CDS_JOSE_OK);
    }
    CHECK_INT(high, 0);

    /* A token of ours and its flipped-s twin (r, n - s): the twin is a
     * valid ECDSA signature, so the standard check takes it, but for our
     * own tokens only the low-S original counts. */
    for (int i = 0; i < 8; i++) {
        char *tok = cds_jws_sign(ec, CDS_ALG_ES256, "e1", claims);
        char *twin = th_es256_twin(tok);
        CHECK(tok && twin && strcmp(tok, twin) != 0);
        if (!tok || !twin) {
            free(tok);
            free(twin);
            break;
        }
        CHECK_INT(check_own(tok, ec, CDS_ALG_ES256), CDS_JOSE_OK);
        CHECK_INT(check_own(twin, ec, CDS_ALG_ES256), CDS_JOSE_ESIG);
        CHECK_INT(check_token(tok, ec, CDS_ALG_ES256), CDS_JOSE_OK);
        CHECK_INT(check_token(twin, ec, CDS_ALG_ES256), CDS_JOSE_OK);
        free(tok);
        free(twin);
    }
    /* The rest of the own check is the standard one: a wrong algorithm
     * or a tampered token is refused there too. */
    char *tok = cds_jws_sign(ec, CDS_ALG_ES256, "e1", claims);
    CHECK(tok != NULL);
    if (tok) {
        CHECK_INT(check_own(tok, ec, CDS_ALG_RS256), CDS_JOSE_EALG);
        size_t n = strlen(tok);
        tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
        CHECK_INT(check_own(tok, ec, CDS_ALG_ES256), CDS_JOSE_ESIG);
    }
    free(tok);
    json_decref(claims);
    EVP_PKEY_free(ec);
}

static void test_malformed(void)
{
    static const unsigned char sig[64] = {1, 2, 3};
    const char *claims = "{\"sub\":\"a\"}";
    const char *hdr = "{\"alg\":\"ES256\"}";
    char *good = mk_token(hdr, claims, sig, sizeof sig);
    CHECK_INT(parse_rc(good, strlen(good)), CDS_JOSE_OK);
    CHECK_INT(parse_rc(good, 0), CDS_JOSE_EMALFORMED);
    CHECK_INT(parse_rc(NULL, 5), CDS_JOSE_EMALFORMED);

    /* Segment counts. */
    char *two = strdup(good);
    *strrchr(two, '.') = '\0';
    CHECK_INT(parse_rc(two, strlen(two)), CDS_JOSE_EMALFORMED);
    size_t gl = strlen(good);
    char *four = malloc(gl + 8);
    snprintf(four, gl + 8, "%s.AAAA", good);
    CHECK_INT(parse_rc(four, strlen(four)), CDS_JOSE_EMALFORMED);
    snprintf(four, gl + 8, "%s.", good);
    CHECK_INT(parse_rc(four, strlen(four)), CDS_JOSE_EMALFORMED);
    CHECK_INT(parse_rc("..", 2), CDS_JOSE_EMALFORMED);
    CHECK_INT(parse_rc("abc", 3), CDS_JOSE_EMALFORMED);
    /* Empty header or payload. */
    char *t = swap_segment(good, 0, "");
    CHECK_INT(parse_rc(t, strlen(t)), CDS_JOSE_EMALFORMED);
    free(t);
    t = swap_segment(good, 1, "");
    CHECK_INT(parse_rc(t, strlen(t)), CDS_JOSE_EMALFORMED);
    free(t);
    /* A NUL inside the counted length is just a foreign character. */
    char *withnul = strdup(good);
    withnul[3] = '\0';
    CHECK_INT(parse_rc(withnul, gl), CDS_JOSE_EMALFORMED);
    free(withnul);

    /* Characters outside base64url in each segment. */
    for (int seg = 0; seg < 3; seg++) {
        const char *bad[] = {"+", "/", "="};
        for (int b = 0; b < 3; b++) {
            const char *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
            const char *start = seg == 0 ? good : seg == 1 ? d1 + 1 : d2 + 1;
            char *u = strdup(good);
            u[start - good + 1] = bad[b][0];
            CHECK_INT(parse_rc(u, strlen(u)), CDS_JOSE_EMALFORMED);
            free(u);
        }
    }
    /* Padded signature (a standard base64 habit). */
    t = malloc(gl + 4);
    snprintf(t, gl + 4, "%s==", good);
    CHECK_INT(parse_rc(t, strlen(t)), CDS_JOSE_EMALFORMED);
    free(t);

    /* Header / claims that are not JSON objects. */
    const char *bad_hdrs[] = {
        "not json",
        "[\"alg\",\"ES256\"]",
        "\"ES256\"",
        "{\"alg\":\"ES256\"} {}",
        "{\"alg\":\"ES256\",\"alg\":\"RS256\"}", /* duplicate member */
        "{\"typ\":\"JWT\"}",                     /* no alg */
        "{\"alg\":256}",
        "{\"alg\":null}",
        "{\"alg\":\"ES256ES256ES256ES\"}", /* 17 bytes */
        "{\"alg\":\"ES256\",\"kid\":7}",
        "{\"alg\":\"ES256\",\"crit\":[\"b64\"],\"b64\":false}",
        "{\"alg\":\"ES256\"",
        "",
    };
    for (size_t i = 0; i < sizeof bad_hdrs / sizeof bad_hdrs[0]; i++) {
        t = mk_token(bad_hdrs[i], claims, sig, sizeof sig);
        int rc = parse_rc(t, strlen(t));
        CHECK_INT(rc, CDS_JOSE_EMALFORMED);
        if (rc != CDS_JOSE_EMALFORMED) fprintf(stderr, "  header accepted: %s\n", bad_hdrs[i]);
        free(t);
    }
    const char *bad_claims[] = {"[]", "null", "\"sub\"", "{\"sub\":\"a\",\"sub\":\"b\"}", "{", "1"};
    for (size_t i = 0; i < sizeof bad_claims / sizeof bad_claims[0]; i++) {
        t = mk_token(hdr, bad_claims[i], sig, sizeof sig);
        CHECK_INT(parse_rc(t, strlen(t)), CDS_JOSE_EMALFORMED);
        free(t);
    }

    /* kid: 127 bytes fit, 128 do not. */
    char kidhdr[300];
    char kid[129];
    memset(kid, 'k', 128);
    kid[127] = '\0';
    snprintf(kidhdr, sizeof kidhdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
    t = mk_token(kidhdr, claims, sig, sizeof sig);
    cds_jwt jwt;
    const char *err = NULL;
    CHECK_INT(cds_jwt_parse(t, strlen(t), &jwt, &err), CDS_JOSE_OK);
    CHECK_INT(strlen(jwt.kid), 127);
    cds_jwt_free(&jwt);
    free(t);
    kid[127] = 'k';
    kid[128] = '\0';
    snprintf(kidhdr, sizeof kidhdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
    t = mk_token(kidhdr, claims, sig, sizeof sig);
    CHECK_INT(cds_jwt_parse(t, strlen(t), &jwt, &err), CDS_JOSE_EMALFORMED);
    CHECK(err != NULL);
    CHECK(jwt.header == NULL && jwt.signing_input == NULL); /* left zeroed */
    cds_jwt_free(&jwt);
    free(t);

    /* Size caps: a token of exactly CDS_JWT_MAX bytes parses, one more does not. */
    {
        const char *h = "{\"alg\":\"ES256\"}";
        char *hb = b64(h, strlen(h)), *sb = b64(sig, sizeof sig);
        size_t fixed = strlen(hb) + strlen(sb) + 2;
        /* claims {"p":"xxx..."} chosen so that the payload segment fills the rest */
        size_t room = CDS_JWT_MAX - fixed; /* base64url chars available */
        size_t raw = room / 4 * 3;         /* bytes that encode to exactly room chars */
        CHECK(room % 4 == 0);
        char *cl = malloc(raw + 1);
        memset(cl, 'x', raw);
        memcpy(cl, "{\"p\":\"", 6);
        cl[raw - 2] = '"';
        cl[raw - 1] = '}';
        cl[raw] = '\0';
        char *big = mk_token(h, cl, sig, sizeof sig);
        CHECK_INT(strlen(big), CDS_JWT_MAX);
        CHECK_INT(parse_rc(big, strlen(big)), CDS_JOSE_OK);
        CHECK_INT(parse_rc(big, CDS_JWT_MAX + 1), CDS_JOSE_EMALFORMED); /* length says more */
        cl[raw - 3] = 'y';
        char *big2 = malloc(CDS_JWT_MAX + 8);
        snprintf(big2, CDS_JWT_MAX + 8, "%sAAAA", big); /* signature segment grows */
        CHECK_INT(parse_rc(big2, strlen(big2)), CDS_JOSE_EMALFORMED);
        free(big2);
        free(big);
        free(cl);
        free(hb);
        free(sb);
    }
    /* Signature over 512 bytes. */
    {
        unsigned char huge[513] = {0};
        t = mk_token(hdr, claims, huge, sizeof huge);
        CHECK_INT(parse_rc(t, strlen(t)), CDS_JOSE_EMALFORMED);
        free(t);
        t = mk_token(hdr, claims, huge, 512);
        CHECK_INT(parse_rc(t, strlen(t)), CDS_JOSE_OK);
        free(t);
    }
    /* Unknown algorithms parse (alg 0) so the verifier can name the refusal. */
    t = mk_token("{\"alg\":\"PS256\"}", claims, sig, sizeof sig);
    CHECK_INT(cds_jwt_parse(t, strlen(t), &jwt, &err), CDS_JOSE_OK);
    CHECK_INT(jwt.alg, 0);
    CHECK_INT(cds_jws_verify(&jwt, NULL, -1), CDS_JOSE_EALG);
    cds_jwt_free(&jwt);
    free(t);
    t = mk_token("{\"alg\":\"rs256\"}", claims, sig, sizeof sig); /* names are case-sensitive */
    CHECK_INT(cds_jwt_parse(t, strlen(t), &jwt, &err), CDS_JOSE_OK);
    CHECK_INT(jwt.alg, 0);
    cds_jwt_free(&jwt);
    free(t);
    /* A hand-made cds_jwt with several alg bits is refused too. */
    t = mk_token(hdr, claims, sig, sizeof sig);
    CHECK_INT(cds_jwt_parse(t, strlen(t), &jwt, &err), CDS_JOSE_OK);
    jwt.alg = CDS_ALG_ES256 | CDS_ALG_RS256;
    CHECK_INT(cds_jws_verify(&jwt, NULL, -1), CDS_JOSE_EALG);
    jwt.alg = 1 << 5;
    CHECK_INT(cds_jws_verify(&jwt, NULL, -1), CDS_JOSE_EALG);
    cds_jwt_free(&jwt);
    cds_jwt_free(&jwt); /* twice is harmless */
    free(t);
    CHECK_INT(cds_jws_verify(NULL, NULL, -1), CDS_JOSE_EMALFORMED);

    free(four);
    free(two);
    free(good);
}

static void test_jwk_roundtrip(void)
{
    const int algs[] = {CDS_ALG_RS256, CDS_ALG_ES256, CDS_ALG_EDDSA};
    const char *kty[] = {"RSA", "EC", "OKP"};
    json_t *claims = js("{\"sub\":\"u1\",\"name\":\"Nguyễn Văn An\"}");
    for (int i = 0; i < 3; i++) {
        EVP_PKEY *k = cds_pkey_generate(algs[i]);
        CHECK(k != NULL);
        char *tok = cds_jws_sign(k, algs[i], "kid-1", claims);
        CHECK(tok != NULL);
        /* Export, travel as JSON text (as in a JWKS document), import, verify. */
        json_t *jwk = cds_jwk_from_pkey(k, "kid-1", algs[i]);
        CHECK(jwk != NULL);
        CHECK_STR(json_string_value(json_object_get(jwk, "kty")), kty[i]);
        CHECK_STR(json_string_value(json_object_get(jwk, "alg")), cds_jws_alg_name(algs[i]));
        CHECK(json_object_get(jwk, "d") == NULL); /* public only */
        char *text = json_dumps(jwk, JSON_COMPACT);
        json_t *back = js(text);
        const char *err = NULL;
        EVP_PKEY *pub = cds_jwk_to_pkey(back, &err);
        CHECK(pub != NULL);
        CHECK_INT(check_token(tok, pub, algs[i]), CDS_JOSE_OK);
        char t1[44], t2[44];
        CHECK_INT(cds_jwk_thumbprint(k, t1, sizeof t1), 0);
        CHECK_INT(cds_jwk_thumbprint(pub, t2, sizeof t2), 0);
        CHECK_STR(t1, t2);
        CHECK_INT(strlen(t1), 43);
        /* The imported public key cannot sign. */
        CHECK(cds_jws_sign(pub, algs[i], "x", claims) == NULL);

        /* PEM round trip, from text and from a file. */
        char *pem = cds_pkey_to_pem(k);
        CHECK(pem != NULL && strncmp(pem, "-----BEGIN PRIVATE KEY-----", 27) == 0);
        EVP_PKEY *k2 = cds_pkey_from_pem(pem);
        CHECK(k2 != NULL);
        char *tok2 = cds_jws_sign(k2, algs[i], NULL, claims);
        CHECK(tok2 != NULL);
        CHECK_INT(check_token(tok2, pub, algs[i]), CDS_JOSE_OK);
        char path[] = "/tmp/cds-jose-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        if (fd >= 0) {
            CHECK(write(fd, pem, strlen(pem)) == (ssize_t)strlen(pem));
            close(fd);
            EVP_PKEY *k3 = cds_pkey_from_pem(path);
            CHECK(k3 != NULL);
            CHECK(k3 && EVP_PKEY_eq(k3, k) == 1);
            EVP_PKEY_free(k3);
            unlink(path);
        }
        cds_jwt jwt;
        CHECK_INT(cds_jwt_parse(tok2, strlen(tok2), &jwt, &err), CDS_JOSE_OK);
        CHECK(json_object_get(jwt.header, "kid") == NULL); /* NULL kid: left out */
        CHECK_STR(json_string_value(json_object_get(jwt.claims, "name")), "Nguyễn Văn An");
        cds_jwt_free(&jwt);

        free(tok2);
        EVP_PKEY_free(k2);
        free(pem);
        EVP_PKEY_free(pub);
        json_decref(back);
        free(text);
        json_decref(jwk);
        free(tok);
        EVP_PKEY_free(k);
    }
    json_decref(claims);
    CHECK(cds_pkey_from_pem("/nonexistent/key.pem") == NULL);
    CHECK(cds_pkey_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") ==
          NULL);
    CHECK(cds_pkey_from_pem(NULL) == NULL);
    CHECK(cds_pkey_generate(0) == NULL);
}

static void test_jwk_refusals(void)
{
    const char *err = NULL;
    /* EC point off the curve: y + 1. */
    unsigned char y[32];
    size_t yl = 0;
    CHECK_INT(cds_b64url_decode(a3_y, strlen(a3_y), y, sizeof y, &yl), 0);
    y[31] ^= 0x01;
    char *ybad = b64(y, 32);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", a3_x, "y", ybad);
    CHECK(cds_jwk_to_pkey(j, &err) == NULL);
    CHECK(err != NULL);
    json_decref(j);
    free(ybad);
    /* Coordinates not 32 bytes (a leading zero trimmed, or padded to 33). */
    j = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x",
                  "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVA", "y", a3_y);
    CHECK(cds_jwk_to_pkey(j, &err) == NULL);
    json_decref(j);
    /* Other curves, other types, missing members. */
    j = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-384", "x", a3_x, "y", a3_y);
    CHECK(cds_jwk_to_pkey(j, &err) == NULL);
    json_decref(j);
    j = json_pack("{s:s,s:s,s:s}", "kty", "OKP", "crv", "X25519", "x", ed_x);
    CHECK(cds_jwk_to_pkey(j, &err) == NULL);
    json_decref(j);
    j = json_pack("{s:s,s:s,s:s}", "kty", "OKP", "crv", "Ed25519", "x", a3_x + 1);
    CHECK(cds_jwk_to_pkey(j, &err) == NULL);
    json_decref(j);
    j = json_pack("{s:s,s:s}", "kty", "oct", "k", "c2VjcmV0");
    CHECK(cds_jwk_to_pkey(j, &err) == NULL);
    json_decref(j);
    j = json_pack("{s:s,s:s}", "kty", "RSA", "n", t7638_n);
    CHECK(cds_jwk_to_pkey(j, &err) == NULL);
    json_decref(j);
    j = json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", t7638_n, "e", "AQ=B");
    CHECK(cds_jwk_to_pkey(j, &err) == NULL);
    json_decref(j);
    j = json_pack("[s]", "RSA");
    CHECK(cds_jwk_to_pkey(j, &err) == NULL);
    json_decref(j);
    CHECK(cds_jwk_to_pkey(NULL, NULL) == NULL);
    /* Private import without the private member. */
    j = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", a3_x, "y", a3_y);
    CHECK(cds_jwk_private_to_pkey(j, &err) == NULL);
    json_decref(j);
    /* ct_equal */
    CHECK(cds_ct_equal("abc", "abc", 3));
    CHECK(!cds_ct_equal("abc", "abd", 3));
    CHECK(cds_ct_equal("", "", 0));
}

int main(void)
{
    test_b64url();
    test_rfc7515_a2();
    test_rfc7515_a3();
    test_rfc8037();
    test_rfc7638();
    test_attacks();
    test_low_s();
    test_malformed();
    test_jwk_roundtrip();
    test_jwk_refusals();
    return t_done();
}
