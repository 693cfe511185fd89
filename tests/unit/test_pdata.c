/* core/pdata: AES-256-GCM sealing of personal data under a rotating key ring,
 * and the HMAC-SHA256 lookup hash.
 *
 * Published vectors: McGrew & Viega, "The Galois/Counter Mode of Operation
 * (GCM)", appendix B, test cases 13-16 (the AES-256 ones; 16 has additional
 * data), through cds_gcm_encrypt_raw / cds_gcm_decrypt_raw; RFC 4231 test
 * cases 1 and 2 for HMAC-SHA256. Then the sealed format: round trips
 * (Vietnamese text, empty, binary), random nonces, every kind of alteration
 * (nonce, ciphertext, tag, kid, version, aad), rotation, and bad ring specs. */
#include "core/jose.h"
#include "core/pdata.h"
#include "tests/lib/t.h"

#include <stdlib.h>
#include <string.h>

/* 32 bytes 00..1f, 32 bytes a5, and one whose base64 uses '+' and '/'. */
#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_B "paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU="
#define KEY_C "+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/8="

static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    if (n > cap) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = h[2 * i + j];
            v = v * 16 + (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
        }
        out[i] = (unsigned char)v;
    }
    return n;
}

static void test_gcm_vectors(void)
{
    static const char p15[] = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                              "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    static const char c15[] = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                              "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
    static const char kf[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    static const char k0[] = "0000000000000000000000000000000000000000000000000000000000000000";
    static const struct {
        const char *name, *key, *iv, *pt, *aad, *ct, *tag;
    } v[] = {
        {"13", k0, "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
        {"14", k0, "000000000000000000000000", "00000000000000000000000000000000", "",
         "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
        {"15", kf, "cafebabefacedbaddecaf888", p15, "", c15, "b094dac5d93471bdec1a502270e3cc6c"},
        /* 16: the first 60 bytes of 15's text, with additional data. */
        {"16", kf, "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
         "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
         "feedfacedeadbeeffeedfacedeadbeefabaddad2",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
         "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
         "76fc6ece0f4e1768cddf8853bb2d551b"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        unsigned char key[32], iv[12], pt[64], aad[32], ct[64], tag[16];
        unsigned char got[64], gtag[16], back[64];
        CHECK_INT(unhex(v[i].key, key, sizeof key), 32);
        CHECK_INT(unhex(v[i].iv, iv, sizeof iv), 12);
        size_t n = unhex(v[i].pt, pt, sizeof pt), an = unhex(v[i].aad, aad, sizeof aad);
        CHECK_INT(unhex(v[i].ct, ct, sizeof ct), n);
        CHECK_INT(unhex(v[i].tag, tag, sizeof tag), 16);
        CHECK_INT(cds_gcm_encrypt_raw(key, iv, aad, an, pt, n, got, gtag), 0);
        CHECK(memcmp(got, ct, n) == 0);
        CHECK(memcmp(gtag, tag, 16) == 0);
        if (memcmp(gtag, tag, 16) != 0)
            fprintf(stderr, "  GCM test case %s: tag differs\n", v[i].name);
        CHECK_INT(cds_gcm_decrypt_raw(key, iv, aad, an, ct, n, tag, back), 0);
        CHECK(memcmp(back, pt, n) == 0);
        /* A wrong tag or wrong additional data: refused, and the
         * unauthenticated plaintext is wiped. */
        tag[15] ^= 0x80;
        memset(back, 0x77, sizeof back);
        CHECK_INT(cds_gcm_decrypt_raw(key, iv, aad, an, ct, n, tag, back), -1);
        int wiped = 1;
        for (size_t j = 0; j < n; j++)
            wiped &= back[j] == 0;
        CHECK(wiped);
        tag[15] ^= 0x80;
        CHECK_INT(cds_gcm_decrypt_raw(key, iv, "x", 1, ct, n, tag, back), -1);
    }
}

static void test_hmac(void)
{
    char out[65];
    /* RFC 4231 test case 1. */
    unsigned char k1[20];
    memset(k1, 0x0b, sizeof k1);
    CHECK_INT(cds_keyed_hash(k1, sizeof k1, "Hi There", 8, out), 0);
    CHECK_STR(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* RFC 4231 test case 2. */
    CHECK_INT(cds_keyed_hash("Jefe", 4, "what do ya want for nothing?", 28, out), 0);
    CHECK_STR(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK_INT(strlen(out), 64);
    CHECK_INT(cds_keyed_hash(NULL, 4, "x", 1, out), -1);
    CHECK_STR(out, "");
}

static char *open_str(const cds_keyring *k, const char *sealed, const char *aad)
{
    size_t n = 0;
    return cds_open(k, sealed, aad, &n);
}

/* Decodes the blob of a sealed text, flips one bit at `off` (negative:
 * from the end), and re-encodes it. */
static char *flip(const char *sealed, long off)
{
    const char *b = strrchr(sealed, '.') + 1;
    size_t bl = strlen(b), cap = bl / 4 * 3 + 3, n = 0;
    unsigned char *raw = malloc(cap);
    CHECK_INT(cds_b64url_decode(b, bl, raw, cap, &n), 0);
    size_t at = off >= 0 ? (size_t)off : n - (size_t)(-off);
    raw[at] ^= 0x01;
    size_t prefix = (size_t)(b - sealed), ocap = prefix + bl + 8;
    char *out = malloc(ocap);
    memcpy(out, sealed, prefix);
    cds_b64url_encode(raw, n, out + prefix, ocap - prefix);
    free(raw);
    return out;
}

/* Replaces the "v1.<kid>." prefix. */
static char *relabel(const char *sealed, const char *prefix)
{
    const char *b = strrchr(sealed, '.') + 1;
    size_t n = strlen(prefix) + strlen(b) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%s%s", prefix, b);
    return out;
}

static void test_seal_open(void)
{
    const char *err = NULL;
    cds_keyring *k = cds_keyring_parse("k1:" KEY_A, &err);
    CHECK(k != NULL);
    CHECK_STR(cds_keyring_current(k), "k1");

    const char *values[] = {
        "079123456789",
        "0912345678",
        "Số 12 đường Nguyễn Huệ, Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh",
        "Nguyễn Thị Ánh Tuyết — ở ấp Mỹ Điền, xã Đông Hòa",
        "",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        size_t n = strlen(values[i]);
        char *s = cds_seal(k, values[i], n, "citizen.address");
        CHECK(s != NULL);
        if (!s) continue;
        CHECK(strncmp(s, "v1.k1.", 6) == 0);
        /* nonce 12 + text + tag 16, base64url without padding */
        size_t blob = 12 + n + 16;
        CHECK_INT(strlen(s + 6), blob / 3 * 4 + (blob % 3 ? blob % 3 + 1 : 0));
        CHECK(strstr(s, "Nguy") == NULL && strchr(s, '=') == NULL);
        size_t got = 99;
        char *p = cds_open(k, s, "citizen.address", &got);
        CHECK(p != NULL);
        CHECK_STR(p, values[i]);
        CHECK_INT(got, n);
        free(p);
        p = cds_open(k, s, "citizen.address", NULL); /* len is optional */
        CHECK_STR(p, values[i]);
        free(p);
        free(s);
    }

    /* Binary with NULs: the length tells. */
    static const unsigned char bin[] = {0, 1, 0, 2, 0xff};
    char *s = cds_seal(k, bin, sizeof bin, NULL);
    size_t got = 0;
    char *p = cds_open(k, s, NULL, &got);
    CHECK(p != NULL && got == sizeof bin && memcmp(p, bin, sizeof bin) == 0 && p[got] == '\0');
    free(p);
    /* A NULL aad is the empty label. */
    p = open_str(k, s, "");
    CHECK(p != NULL);
    free(p);
    free(s);

    /* Random nonces: the same value seals differently every time. */
    char *s1 = cds_seal(k, "079123456789", 12, "citizen.id");
    char *s2 = cds_seal(k, "079123456789", 12, "citizen.id");
    CHECK(s1 && s2 && strcmp(s1, s2) != 0);
    CHECK(s1 && s2 && memcmp(s1 + 6, s2 + 6, 16) != 0); /* nonces differ */

    /* Wrong aad: the value does not move to another column. */
    CHECK(open_str(k, s1, "citizen.phone") == NULL);
    CHECK(open_str(k, s1, NULL) == NULL);
    CHECK(open_str(k, s1, "citizen.id ") == NULL);

    /* Any altered bit: nonce, ciphertext, tag. */
    const long offs[] = {0, 11, 12, 23, -16, -1};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        char *f = flip(s1, offs[i]);
        CHECK(strcmp(f, s1) != 0);
        CHECK(open_str(k, f, "citizen.id") == NULL);
        free(f);
    }
    /* Truncated, extended, or broken encodings. */
    size_t l1 = strlen(s1);
    char *cut = strdup(s1);
    cut[l1 - 4] = '\0';
    CHECK(open_str(k, cut, "citizen.id") == NULL);
    free(cut);
    char *longer = malloc(l1 + 8);
    snprintf(longer, l1 + 8, "%sAAAA", s1);
    CHECK(open_str(k, longer, "citizen.id") == NULL);
    free(longer);
    char *badchr = strdup(s1);
    badchr[10] = '+';
    CHECK(open_str(k, badchr, "citizen.id") == NULL);
    free(badchr);
    CHECK(open_str(k, "v1.k1.", "citizen.id") == NULL);
    CHECK(open_str(k, "v1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "citizen.id") == NULL);
    CHECK(open_str(k, "v1.k1", "citizen.id") == NULL);
    CHECK(open_str(k, "", "citizen.id") == NULL);
    CHECK(open_str(k, NULL, "citizen.id") == NULL);
    CHECK(open_str(NULL, s1, "citizen.id") == NULL);

    /* Altered version or kid. */
    char *v;
    v = relabel(s1, "v2.k1.");
    CHECK(open_str(k, v, "citizen.id") == NULL);
    free(v);
    v = relabel(s1, "V1.k1.");
    CHECK(open_str(k, v, "citizen.id") == NULL);
    free(v);
    v = relabel(s1, "k1.");
    CHECK(open_str(k, v, "citizen.id") == NULL);
    free(v);
    v = relabel(s1, "v1.k9.");
    CHECK(open_str(k, v, "citizen.id") == NULL); /* unknown kid */
    free(v);
    v = relabel(s1, "v1..");
    CHECK(open_str(k, v, "citizen.id") == NULL);
    free(v);
    v = relabel(s1, "v1.k1.k1.");
    CHECK(open_str(k, v, "citizen.id") == NULL);
    free(v);

    /* Same key bytes under two kids: only the authenticated kid opens it,
     * so the kid is bound by the GCM additional data, not just by the key. */
    cds_keyring *twin = cds_keyring_parse("k1:" KEY_A ",k1b:" KEY_A, &err);
    CHECK(twin != NULL);
    p = open_str(twin, s1, "citizen.id");
    CHECK_STR(p, "079123456789");
    free(p);
    v = relabel(s1, "v1.k1b.");
    CHECK(open_str(twin, v, "citizen.id") == NULL);
    free(v);
    cds_keyring_free(twin);

    /* Size limits. */
    CHECK(cds_seal(k, "x", CDS_PDATA_MAX + 1, "a") == NULL);
    char aad[CDS_PDATA_AAD_MAX + 2];
    memset(aad, 'a', sizeof aad - 1);
    aad[sizeof aad - 1] = '\0';
    CHECK(cds_seal(k, "x", 1, aad) == NULL);
    aad[CDS_PDATA_AAD_MAX] = '\0';
    s = cds_seal(k, "x", 1, aad);
    CHECK(s != NULL);
    p = open_str(k, s, aad);
    CHECK_STR(p, "x");
    free(p);
    free(s);
    CHECK(cds_seal(NULL, "x", 1, "a") == NULL);
    CHECK(cds_seal(k, NULL, 1, "a") == NULL);

    free(s1);
    free(s2);
    cds_keyring_free(k);
}

static void test_rotation(void)
{
    const char *err = NULL;
    cds_keyring *old = cds_keyring_parse("k1:" KEY_A, &err);
    cds_keyring *rot = cds_keyring_parse("k2:" KEY_B ",k1:" KEY_A, &err);
    CHECK(old && rot);
    CHECK_STR(cds_keyring_current(rot), "k2");
    char *before = cds_seal(old, "0912345678", 10, "citizen.phone");
    char *after = cds_seal(rot, "0912345678", 10, "citizen.phone");
    CHECK(before && strncmp(before, "v1.k1.", 6) == 0);
    CHECK(after && strncmp(after, "v1.k2.", 6) == 0);
    char *p = open_str(rot, before, "citizen.phone"); /* old values still open */
    CHECK_STR(p, "0912345678");
    free(p);
    p = open_str(rot, after, "citizen.phone");
    CHECK_STR(p, "0912345678");
    free(p);
    CHECK(open_str(old, after, "citizen.phone") == NULL); /* k2 unknown there */
    /* Once k1 is retired, its values no longer open. */
    cds_keyring *retired = cds_keyring_parse("k2:" KEY_B, &err);
    CHECK(open_str(retired, before, "citizen.phone") == NULL);
    p = open_str(retired, after, "citizen.phone");
    CHECK_STR(p, "0912345678");
    free(p);
    /* A key whose base64 uses '+' and '/', and blanks around entries. */
    cds_keyring *c = cds_keyring_parse(" k3:" KEY_C " , k2:" KEY_B "\n", &err);
    CHECK(c != NULL);
    CHECK_STR(cds_keyring_current(c), "k3");
    p = open_str(c, after, "citizen.phone");
    CHECK_STR(p, "0912345678");
    free(p);
    cds_keyring_free(c);
    cds_keyring_free(retired);
    free(before);
    free(after);
    cds_keyring_free(old);
    cds_keyring_free(rot);
    cds_keyring_free(NULL);
    CHECK(cds_keyring_current(NULL) == NULL);
}

static void test_bad_specs(void)
{
    static const char *const bad[] = {
        "",
        "k1",
        "k1:",
        ":" KEY_A,
        "k1:" KEY_A ",",
        ","
        "k1:" KEY_A,
        "k1:" KEY_A ",,k2:" KEY_B,
        "k1:" KEY_A ",k1:" KEY_B, /* duplicate kid */
        "k1:not base64 at all!!!!",
        "k1:-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8=", /* url-safe alphabet */
        "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", /* 31 bytes */
        "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", /* 33 bytes */
        "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",  /* padding left out */
        "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=AAAA",
        "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\t=",
        "k.1:" KEY_A, /* '.' would make the sealed format ambiguous */
        "k 1:" KEY_A,
        "khóa:" KEY_A,
        "k12345678901234567890123456789012:" KEY_A, /* 33-character kid */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *err = NULL;
        cds_keyring *k = cds_keyring_parse(bad[i], &err);
        CHECK(k == NULL);
        CHECK(err != NULL);
        if (k) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            cds_keyring_free(k);
        }
    }
    const char *err = NULL;
    CHECK(cds_keyring_parse(NULL, &err) == NULL && err != NULL);
    CHECK(cds_keyring_parse(NULL, NULL) == NULL);
    cds_keyring *k = cds_keyring_parse("k1234567890123456789012345678901:" KEY_A, &err);
    CHECK(k != NULL); /* 32 characters is the limit */
    cds_keyring_free(k);
    k = cds_keyring_parse("a_B-9:" KEY_A, &err);
    CHECK(k != NULL);
    cds_keyring_free(k);

    /* CDS_KEYRING_MAX keys fit, one more does not. */
    char spec[2048];
    size_t o = 0;
    for (int i = 0; i <= CDS_KEYRING_MAX; i++) {
        o += (size_t)snprintf(spec + o, sizeof spec - o, "%sk%d:%s", i ? "," : "", i, KEY_A);
        cds_keyring *r = cds_keyring_parse(spec, &err);
        CHECK((r != NULL) == (i < CDS_KEYRING_MAX));
        cds_keyring_free(r);
    }
}

int main(void)
{
    test_gcm_vectors();
    test_hmac();
    test_seal_open();
    test_rotation();
    test_bad_specs();
    return t_done();
}
