/* The stand-ins' own provider code (sim/witness.h: sim/vietqr_read.c,
 * sim/provider_sign.c, sim/witness_jose.c), which must not be the server's,
 * against what the providers, NAPAS and the RFCs publish:
 *  - payOS docs, "Kiểm tra dữ liệu với signature": the sample webhook data
 *    and its signature 412e915d... (key 1a54716c...);
 *  - payOS's Python SDK tests (tests/_crypto/testCases.json): the
 *    create-payment-link signatures and a payment link's signature;
 *  - Casso's v2 verification sample: secret mgExMrjj..., body, header
 *    t=1727948258788,v1=ed0a4bd2...;
 *  - NAPAS VietQR examples 6.1.3 and the subiz/vietqr README payload, read
 *    and written back byte for byte; CRC-16/CCITT-FALSE's check value;
 *    a changed byte and a cut code refused with their reasons;
 *  - RFC 7515 A.2 (RS256) and A.3 (ES256): the RFC's tokens verify with the
 *    RFC's public JWKs (the FCM and APNs stand-ins' checks); a changed
 *    payload or signature, a signature of the wrong length, the other
 *    algorithm, "crit", duplicate members and a fourth part are refused;
 *  - RFC 4648 section 10 through base64url, and its strictness (padding,
 *    foreign characters, non-zero unused bits refused);
 *  - the TTHC partner signature against values computed with the openssl
 *    command line (`openssl dgst -sha256 -hmac`), the scheme having no
 *    published vector (it is the project's, openapi.yaml partnerHmac). */
#include "sim/witness.h"
#include "tests/lib/t.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define NAPAS_613                                                                                  \
    "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA5303704540618000058" \
    "02VN62340107NPS68690819thanh toan don hang63042E2E"
#define SUBIZ                                                                                      \
    "00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA5303704540612000058" \
    "02VN62170813ung ho lu lut6304C15C"

static void test_vietqr(void)
{
    sim_vietqr q;
    char err[200], out[600];
    CHECK_INT(sim_crc16_ccitt_false("123456789", 9), 0x29B1);
    CHECK_INT(sim_vietqr_read(NAPAS_613, strlen(NAPAS_613), &q, err, sizeof err), 0);
    CHECK_STR(q.bin, "970403");
    CHECK_STR(q.account, "0011012345678");
    CHECK_STR(q.service, "QRIBFTTA");
    CHECK_INT(q.amount, 180000);
    CHECK_STR(q.purpose, "thanh toan don hang");
    CHECK_INT(q.dynamic, 1);
    CHECK_INT(sim_vietqr_read(SUBIZ, strlen(SUBIZ), &q, err, sizeof err), 0);
    CHECK_INT(q.amount, 120000);
    CHECK_STR(q.purpose, "ung ho lu lut");
    CHECK_INT(sim_vietqr_write(&q, out, sizeof out), 0);
    CHECK_STR(out, SUBIZ);
    char bad[sizeof SUBIZ];
    memcpy(bad, SUBIZ, sizeof SUBIZ);
    bad[60] = bad[60] == '1' ? '2' : '1';
    CHECK_INT(sim_vietqr_read(bad, strlen(bad), &q, err, sizeof err), -1);
    CHECK(strstr(err, "crc") != NULL);
    CHECK_INT(sim_vietqr_read(SUBIZ, 40, &q, err, sizeof err), -1);
    CHECK(strstr(err, "truncated") != NULL);
}

static void test_payos(void)
{
    char sig[65];
    json_t *doc = json_loads(
        "{\"orderCode\":123,\"amount\":3000,\"description\":\"VQRIO123\",\"accountNumber\":"
        "\"12345678\",\"reference\":\"TF230204212323\",\"transactionDateTime\":"
        "\"2023-02-04 18:25:00\",\"currency\":\"VND\",\"paymentLinkId\":"
        "\"124c33293c43417ab7879e14c8d9eb18\",\"code\":\"00\",\"desc\":\"Thành công\","
        "\"counterAccountBankId\":\"\",\"counterAccountBankName\":\"\",\"counterAccountName\":\"\","
        "\"counterAccountNumber\":\"\",\"virtualAccountName\":\"\",\"virtualAccountNumber\":\"\"}",
        0, NULL);
    CHECK_INT(sim_payos_sign_object(
                  doc, "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675", sig),
              0);
    CHECK_STR(sig, "412e915d2871504ed31be63c8f62a149a4410d34c4c42affc9006ef9917eaa03");
    json_decref(doc);
    doc = json_loads("{\"id\":\"payment-link-id\",\"orderCode\":0,\"amount\":2000,\"amountPaid\":0,"
                     "\"amountRemaining\":2000,\"status\":\"PENDING\",\"createdAt\":"
                     "\"2025-12-12T09:00:00+07:00\",\"transactions\":[],\"canceledAt\":null,"
                     "\"cancellationReason\":null}",
                     0, NULL);
    CHECK_INT(sim_payos_sign_object(doc, "test_checksum_key", sig), 0);
    CHECK_STR(sig, "33093364158b143baa9ecd2e705d9a2a5a5d391a3cab7cb0a371588b3731368f");
    json_decref(doc);
    CHECK_INT(sim_payos_sign_request(3300, "http://localhost", "ABC456", 0, "http://localhost",
                                     "test_checksum_key", sig),
              0);
    CHECK_STR(sig, "189864813370cdf819974dc3f63c3a93a7e7af0a0d10b21344b14e4f7358999b");
    CHECK_INT(sim_payos_sign_request(2000, "http://localhost", "Thanh toán đơn hàng", 0,
                                     "http://localhost", "test_checksum_key", sig),
              0);
    CHECK_STR(sig, "d8b7b0e5d19edfe7b1f53dedeb8d1c7c2b62fabd7eb320dbc514c58f13e9e2c5");
}

static void test_casso(void)
{
    const char body[] =
        "{\"error\": 0, \"data\": {\"id\": 0, \"reference\": \"MA_GIAO_DICH_THU_NGHIEM\","
        " \"description\": \"giao dich thu nghiem\", \"amount\": 599000,"
        " \"runningBalance\": 25000000, \"transactionDateTime\": \"2024-10-03 15:06:37\","
        " \"accountNumber\": \"88888888\", \"bankName\": \"VPBank\", \"bankAbbreviation\": \"VPB\","
        " \"virtualAccountNumber\": \"\", \"virtualAccountName\": \"\","
        " \"counterAccountName\": \"NGUYEN VAN A\", \"counterAccountNumber\": \"8888888888\","
        " \"counterAccountBankId\": \"970415\", \"counterAccountBankName\": \"VietinBank\"}}";
    char out[200];
    CHECK_INT(sim_casso_signature(body, strlen(body),
                                  "mgExMrjj4i7a1p8Cs6LmFbpCd8lbw4sSX4LZXPag7TKazeIogtR90tvWYTkwQbvs",
                                  1727948258788LL, out, sizeof out),
              0);
    CHECK_STR(out, "t=1727948258788,v1=ed0a4bd2e826d5cb69988cdb141e6c1a080e21f3b57eb72cd78192220042"
                   "b9e7dde0868fc667faea8e224900fa7904e7c88dfa098032fb2d6b6996856e8b7ff3");
}

/* ---- RFC 7515 A.2 (RS256), A.3 (ES256): copied from the RFC ---- */
static const char a2_n[] = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
                           "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
                           "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
                           "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
                           "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
                           "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
/* {"alg":"RS256"} . {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true} */
static const char a2_token[] =
    "eyJhbGciOiJSUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcG"
    "xlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw";
static const char a3_token[] =
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlf"
    "Q"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/* 0 when `token` reads and verifies with `key` as `alg`. */
static int verify(const char *token, EVP_PKEY *key, const char *alg)
{
    sim_jws j;
    const char *why;
    if (sim_jws_read(token, strlen(token), &j, &why) != 0) return -2;
    int rc = sim_jws_verify(&j, key, alg);
    sim_jws_free(&j);
    return rc;
}

/* The token with its character at `at` (counted from the end when < 0) changed. */
static char *changed(const char *token, long at)
{
    char *t = strdup(token);
    size_t i = at < 0 ? strlen(t) - (size_t)(-at) : (size_t)at;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    return t;
}

static void test_jose(void)
{
    json_t *jwk = json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", a2_n, "e", "AQAB");
    EVP_PKEY *rsa = sim_jwk_public(jwk);
    json_decref(jwk);
    jwk = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x",
                    "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y",
                    "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
    EVP_PKEY *ec = sim_jwk_public(jwk);
    json_decref(jwk);
    CHECK(rsa != NULL && ec != NULL);
    if (!rsa || !ec) return;

    sim_jws j;
    const char *why = NULL;
    CHECK_INT(sim_jws_read(a2_token, strlen(a2_token), &j, &why), 0);
    CHECK_STR(j.alg, "RS256");
    CHECK_STR(j.kid, "");
    CHECK_STR(json_string_value(json_object_get(j.claims, "iss")), "joe");
    CHECK_INT(json_integer_value(json_object_get(j.claims, "exp")), 1300819380);
    CHECK_INT(sim_jws_verify(&j, rsa, "RS256"), 0);
    CHECK_INT(sim_jws_verify(&j, rsa, "ES256"), -1); /* the verifier's algorithm, not the token's */
    CHECK_INT(sim_jws_verify(&j, ec, "RS256"), -1);
    sim_jws_free(&j);
    CHECK_INT(verify(a3_token, ec, "ES256"), 0);
    CHECK_INT(verify(a3_token, rsa, "ES256"), -1);
    CHECK_INT(verify(a3_token, ec, "RS256"), -1);

    /* A changed payload or signature: refused (a changed payload may no
     * longer read as JSON; a changed signature reads and fails). */
    char *t = changed(a2_token, 30);
    CHECK(verify(t, rsa, "RS256") != 0);
    free(t);
    t = changed(a2_token, -5);
    CHECK_INT(verify(t, rsa, "RS256"), -1);
    free(t);
    t = changed(a3_token, -10);
    CHECK_INT(verify(t, ec, "ES256"), -1);
    free(t);
    /* ES256's signature is R || S, 64 octets; 63 (or DER) is refused. */
    unsigned char raw[64] = {1};
    char sig63[100];
    sim_b64url_encode(raw, 63, sig63, sizeof sig63);
    size_t n = strlen(a3_token) + 100;
    t = malloc(n);
    snprintf(t, n, "%.*s.%s", (int)(strrchr(a3_token, '.') - a3_token), a3_token, sig63);
    CHECK_INT(verify(t, ec, "ES256"), -1);
    free(t);

    /* Malformed: a fourth part, crit, duplicate members, alg missing. */
    n = strlen(a3_token) + 8;
    t = malloc(n);
    snprintf(t, n, "%s.AAAA", a3_token);
    CHECK_INT(sim_jws_read(t, strlen(t), &j, &why), -1);
    free(t);
    /* {"alg":"ES256","crit":["exp"],"exp":1} */
    const char crit[] = "eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiZXhwIl0sImV4cCI6MX0.e30.AAAA";
    CHECK_INT(sim_jws_read(crit, strlen(crit), &j, &why), -1);
    CHECK(why && strstr(why, "crit") != NULL);
    /* {"alg":"ES256","alg":"none"} */
    const char dup[] = "eyJhbGciOiJFUzI1NiIsImFsZyI6Im5vbmUifQ.e30.AAAA";
    CHECK_INT(sim_jws_read(dup, strlen(dup), &j, &why), -1);
    /* {"typ":"JWT"} */
    const char noalg[] = "eyJ0eXAiOiJKV1QifQ.e30.AAAA";
    CHECK_INT(sim_jws_read(noalg, strlen(noalg), &j, &why), -1);
    /* {"alg":"none"} with no signature */
    const char none[] = "eyJhbGciOiJub25lIn0.e30.";
    CHECK_INT(sim_jws_read(none, strlen(none), &j, &why), -1);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);

    /* Keys made and written as the FCM and APNs stand-ins hand them out. */
    EVP_PKEY *k = sim_pkey_generate("ES256");
    char *pem = k ? sim_pkey_pem(k) : NULL;
    CHECK(pem && strncmp(pem, "-----BEGIN PRIVATE KEY-----", 27) == 0);
    free(pem);
    EVP_PKEY_free(k);
}

static void test_b64url(void)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[16];
    unsigned char raw[16];
    size_t len;
    for (int i = 0; i < 7; i++) {
        CHECK_INT(sim_b64url_encode(plain[i], strlen(plain[i]), out, sizeof out),
                  strlen(coded[i]));
        CHECK_STR(out, coded[i]);
        CHECK_INT(sim_b64url_decode(coded[i], strlen(coded[i]), raw, sizeof raw, &len), 0);
        CHECK(len == strlen(plain[i]) && memcmp(raw, plain[i], len) == 0);
    }
    CHECK_INT(sim_b64url_encode("\xfb\xff", 2, out, sizeof out), 3);
    CHECK_STR(out, "-_8"); /* the URL-safe alphabet */
    CHECK_INT(sim_b64url_decode("Zg==", 4, raw, sizeof raw, &len), -1);
    CHECK_INT(sim_b64url_decode("Zh", 2, raw, sizeof raw, &len), -1); /* unused bits set */
    CHECK_INT(sim_b64url_decode("Z", 1, raw, sizeof raw, &len), -1);
    CHECK_INT(sim_b64url_decode("Zm+v", 4, raw, sizeof raw, &len), -1);
    CHECK_INT(sim_ct_streq("abc", "abc"), 1);
    CHECK_INT(sim_ct_streq("abc", "abd"), 0);
    CHECK_INT(sim_ct_streq("abc", "abcd"), 0);
    CHECK_INT(sim_ct_streq(NULL, ""), 0);
}

static void test_partner(void)
{
    const char body[] = "{\"step\":\"received\",\"event_id\":\"e1\"}";
    char sig[65];
    CHECK_INT(sim_partner_signature("tthc-secret", "POST",
                                    "/v1/partner/dossiers/HCM-2026-000001/steps", "1767225600",
                                    body, strlen(body), sig),
              0);
    CHECK_STR(sig, "c3b12736b6dc3d32f457ccd2d8a0a2bf586aa61322bf9f0dd61581172df00cc4");
    CHECK_INT(sim_partner_signature("tthc-secret", "GET", "/v1/partner/dossiers/overdue?limit=2",
                                    "1767225600", NULL, 0, sig),
              0);
    CHECK_STR(sig, "a169477744e77b55d745f81e64e80e44b44a1b9b7811ba3cebae0e8a1acddf8c");
}

int main(void)
{
    test_jose();
    test_b64url();
    test_partner();
    test_vietqr();
    test_payos();
    test_casso();
    return t_done();
}
