/* auth/staff_totp.c and auth/staff_password.c against published vectors.
 *
 *   RFC 4648 section 10: BASE32("") .. BASE32("foobar").
 *   RFC 4226 Appendix D: HOTP of the ASCII secret "12345678901234567890",
 *   counters 0..9 (the truncation TOTP reuses).
 *   RFC 6238 Appendix B: TOTP, SHA-1 rows, same secret, 8 digits, at
 *   59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000.
 *   phc-winner-argon2 README ("Usage"): argon2id of "password" with salt
 *   "somesalt", t=2, m=64 MiB, p=1, 32-byte tag.
 * Then our rules on top: one step of drift each way and no more, six digits
 * only, a hash made here verifies and a wrong password does not, the
 * otpauth URI, password acceptance. */
#include "auth/staff.h"
#include "tests/lib/t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char SEED[] = "12345678901234567890";

static void test_base32(void)
{
    static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *want[] = {"", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=", "MZXW6YTB",
                                 "MZXW6YTBOI======"};
    for (int i = 0; i < 7; i++) {
        char out[32];
        unsigned char back[16];
        CHECK(cds_base32_encode((const unsigned char *)in[i], strlen(in[i]), 1, out, sizeof out) >= 0);
        CHECK_STR(out, want[i]);
        int n = cds_base32_decode(want[i], back, sizeof back);
        CHECK_INT(n, (long long)strlen(in[i]));
        CHECK(n >= 0 && memcmp(back, in[i], (size_t)n) == 0);
    }
    unsigned char b[16];
    CHECK_INT(cds_base32_decode("mzxw 6ytb", b, sizeof b), 5); /* lower case, spaces */
    CHECK_INT(cds_base32_decode("MZXW1", b, sizeof b), -1);    /* '1' is not base32 */
    CHECK_INT(cds_base32_decode("MY==MY", b, sizeof b), -1);   /* data after padding */
    char small[4];
    CHECK_INT(cds_base32_encode((const unsigned char *)"foobar", 6, 1, small, sizeof small), -1);
}

static void test_hotp_totp(void)
{
    static const unsigned hotp[] = {755224, 287082, 359152, 969429, 338314,
                                    254676, 287922, 162583, 399871, 520489};
    for (unsigned c = 0; c < 10; c++) CHECK_INT(cds_totp_code(SEED, 20, c, 6), hotp[c]);
    static const struct {
        long long t;
        unsigned code;
    } v[] = {{59, 94287082},         {1111111109, 7081804},  {1111111111, 14050471},
             {1234567890, 89005924}, {2000000000, 69279037}, {20000000000LL, 65353130}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        CHECK_INT(cds_totp_code(SEED, 20, (uint64_t)(v[i].t / 30), 8), v[i].code);
        /* the 6-digit code is the same number's last six digits */
        CHECK_INT(cds_totp_code(SEED, 20, (uint64_t)(v[i].t / 30), 6), v[i].code % 1000000);
    }
    /* Matching at 1111111111 (step 37037037): 050471 now, its neighbours, not two away. */
    long long now = 1111111111, t = now / 30;
    char code[8];
    CHECK_INT(cds_totp_match(SEED, 20, "050471", now), t);
    CHECK_INT(cds_totp_match(SEED, 20, "050 471", now), t);
    snprintf(code, sizeof code, "%06u", cds_totp_code(SEED, 20, (uint64_t)(t - 1), 6));
    CHECK_INT(cds_totp_match(SEED, 20, code, now), t - 1);
    snprintf(code, sizeof code, "%06u", cds_totp_code(SEED, 20, (uint64_t)(t + 1), 6));
    CHECK_INT(cds_totp_match(SEED, 20, code, now), t + 1);
    snprintf(code, sizeof code, "%06u", cds_totp_code(SEED, 20, (uint64_t)(t + 2), 6));
    CHECK_INT(cds_totp_match(SEED, 20, code, now), -1);
    snprintf(code, sizeof code, "%06u", cds_totp_code(SEED, 20, (uint64_t)(t - 2), 6));
    CHECK_INT(cds_totp_match(SEED, 20, code, now), -1);
    CHECK_INT(cds_totp_match(SEED, 20, "14050471", now), -1); /* 8 digits: not ours */
    CHECK_INT(cds_totp_match(SEED, 20, "05047a", now), -1);
    CHECK_INT(cds_totp_match(SEED, 20, "", now), -1);
    CHECK_INT(cds_totp_match(SEED, 20, NULL, now), -1);

    char s1[33], s2[33];
    CHECK_INT(cds_totp_secret_new(s1), 0);
    CHECK_INT(cds_totp_secret_new(s2), 0);
    CHECK_INT(strlen(s1), 32);
    CHECK(strcmp(s1, s2) != 0);
    unsigned char k[32];
    CHECK_INT(cds_base32_decode(s1, k, sizeof k), 20);
    char *uri = cds_totp_uri("Cong dan so", "an.nguyen", "JBSWY3DPEHPK3PXP");
    CHECK_STR(uri, "otpauth://totp/Cong%20dan%20so:an.nguyen?secret=JBSWY3DPEHPK3PXP"
                   "&issuer=Cong%20dan%20so&algorithm=SHA1&digits=6&period=30");
    free(uri);
}

static void test_password(void)
{
    const char *ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                      "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    CHECK_INT(cds_staff_password_verify(ref, "password"), 1);
    CHECK_INT(cds_staff_password_verify(ref, "passwore"), 0);
    /* only argon2id is what we store: the same string labelled argon2i is refused */
    CHECK_INT(cds_staff_password_verify("$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                                        "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
                                        "password"),
              0);
    char h[CDS_STAFF_HASH_MAX], h2[CDS_STAFF_HASH_MAX];
    CHECK_INT(cds_staff_password_hash("correct horse battery", h), 0);
    CHECK_INT(cds_staff_password_hash("correct horse battery", h2), 0);
    CHECK(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    CHECK(strcmp(h, h2) != 0); /* fresh salt each time */
    CHECK_INT(cds_staff_password_verify(h, "correct horse battery"), 1);
    CHECK_INT(cds_staff_password_verify(h, "correct horse batterY"), 0);
    CHECK_INT(cds_staff_password_verify(NULL, "x"), 0);
    const char *why;
    CHECK_INT(cds_staff_password_acceptable("short", &why), 0);
    CHECK_INT(cds_staff_password_acceptable("aaaaaaaaaaaaaaaa", &why), 0);
    CHECK_INT(cds_staff_password_acceptable("mật khẩu dài đủ", &why), 1);
    CHECK_INT(cds_staff_role_parse("operator"), CDS_STAFF_OPERATOR);
    CHECK_INT(cds_staff_role_parse("citizen"), 0);
    CHECK_STR(cds_staff_role_name(CDS_STAFF_AGENT), "agent");
}

int main(void)
{
    test_base32();
    test_hotp_totp();
    test_password();
    return t_done();
}
