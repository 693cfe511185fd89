/* core/digest: SHA-256 and HMAC-SHA256 with per-thread contexts.
 *
 * Vectors: FIPS 180-2 ("abc", the empty string) and RFC 4231 test cases 1,
 * 2 and 6 (a 131-byte key, hashed first). Then: the same MAC whether the
 * message comes in one part or many (empty parts included), and four
 * threads hashing at once get the same answers as the main thread. */
#include "core/digest.h"
#include "tests/lib/t.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void hex(const unsigned char *in, char out[65])
{
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static const char *sha_hex(const char *s)
{
    static char h[65];
    unsigned char d[32];
    CHECK_INT(cds_sha256(s, strlen(s), d), 0);
    hex(d, h);
    return h;
}

static const char *mac_hex(const void *key, size_t klen, const char *msg)
{
    static char h[65];
    unsigned char d[32];
    CHECK_INT(cds_hmac_sha256(key, klen, msg, strlen(msg), d), 0);
    hex(d, h);
    return h;
}

static void test_vectors(void)
{
    CHECK_STR(sha_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_STR(sha_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    unsigned char k1[20];
    memset(k1, 0x0b, sizeof k1);
    CHECK_STR(mac_hex(k1, sizeof k1, "Hi There"),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK_STR(mac_hex("Jefe", 4, "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    unsigned char k6[131];
    memset(k6, 0xaa, sizeof k6);
    CHECK_STR(mac_hex(k6, sizeof k6, "Test Using Larger Than Block-Size Key - Hash Key First"),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_parts(void)
{
    const char *msg = "POST\n/v1/x\n1714959000\nabc";
    unsigned char one[32], many[32];
    CHECK_INT(cds_hmac_sha256("key", 3, msg, strlen(msg), one), 0);
    const cds_digest_part parts[] = {{"POST", 4}, {"\n", 1}, {"", 0}, {"/v1/x\n", 6},
                                     {"1714959000", 10}, {"\nabc", 4}};
    CHECK_INT(cds_hmac_sha256_parts("key", 3, parts, sizeof parts / sizeof parts[0], many), 0);
    CHECK(memcmp(one, many, 32) == 0);
    /* An empty key is a valid key. */
    CHECK_STR(mac_hex("", 0, ""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void *worker(void *arg)
{
    int *ok = arg;
    *ok = 1;
    for (int i = 0; i < 2000; i++) {
        unsigned char d[32];
        char h[65];
        cds_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
        hex(d, h);
        if (strcmp(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") != 0) *ok = 0;
        cds_sha256("abc", 3, d);
        hex(d, h);
        if (strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") != 0) *ok = 0;
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[4];
    int ok[4];
    for (int i = 0; i < 4; i++) CHECK_INT(pthread_create(&th[i], NULL, worker, &ok[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(ok[i]);
    }
}

int main(void)
{
    test_vectors();
    test_parts();
    test_threads();
    return t_done();
}
