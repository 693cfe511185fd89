/* TOTP for staff logins, and the base32 its secrets are written in.
 *
 *   RFC 4648 "The Base16, Base32, and Base64 Data Encodings", section 6
 *   (the alphabet A-Z 2-7, '=' padding to 8 characters), test vectors in
 *   section 10.
 *   RFC 4226 "HOTP", section 5.3 (dynamic truncation of HMAC-SHA-1) and
 *   RFC 6238 "TOTP", section 4 (T = floor((now - T0) / X), T0 = 0, X = 30;
 *   the step counter as 8 bytes big-endian), section 5.2 (accept one step
 *   of drift either way), test vectors in Appendix B.
 *   Key Uri Format (google-authenticator wiki, "Key-Uri-Format"):
 *   otpauth://totp/ISSUER:LOGIN?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30,
 *   what authenticator apps read from the QR.
 *
 * A secret at rest is sealed with the personal-data keys (core/pdata.h,
 * associated data "staff.totp"), opened only to check a code. */
#include "internal.h"
#include "auth/staff.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int cds_base32_encode(const unsigned char *in, size_t n, int pad, char *out, size_t cap)
{
    size_t o = 0;
    unsigned buf = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        buf = (buf << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            if (o + 1 >= cap) return -1;
            out[o++] = B32[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) {
        if (o + 1 >= cap) return -1;
        out[o++] = B32[(buf << (5 - bits)) & 31];
    }
    while (pad && o % 8) {
        if (o + 1 >= cap) return -1;
        out[o++] = '=';
    }
    if (o >= cap) return -1;
    out[o] = 0;
    return (int)o;
}

int cds_base32_decode(const char *in, unsigned char *out, size_t cap)
{
    size_t o = 0;
    unsigned buf = 0;
    int bits = 0, padding = 0;
    for (; *in; in++) {
        int c = toupper((unsigned char)*in);
        if (c == ' ' || c == '-') continue;
        if (c == '=') {
            padding = 1;
            continue;
        }
        const char *p = padding ? NULL : strchr(B32, c);
        if (!p || !c) return -1;
        buf = (buf << 5) | (unsigned)(p - B32);
        bits += 5;
        if (bits >= 8) {
            if (o >= cap) return -1;
            out[o++] = (unsigned char)(buf >> (bits - 8));
            bits -= 8;
        }
        buf &= 0xff;
    }
    return (int)o;
}

uint32_t cds_totp_code(const unsigned char *key, size_t key_len, uint64_t step, int digits)
{
    unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    for (int i = 7; i >= 0; i--) {
        msg[i] = (unsigned char)(step & 0xff);
        step >>= 8;
    }
    if (!HMAC(EVP_sha1(), key, (int)key_len, msg, sizeof msg, mac, &mlen) || mlen != 20) return UINT32_MAX;
    int off = mac[19] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
    uint32_t mod = 1;
    for (int i = 0; i < digits; i++) mod *= 10;
    OPENSSL_cleanse(mac, sizeof mac);
    return bin % mod;
}

long long cds_totp_match(const unsigned char *key, size_t key_len, const char *code, long long now)
{
    char typed[7];
    size_t n = 0;
    for (const char *c = code ? code : ""; *c; c++) {
        if (*c == ' ') continue;
        if (!isdigit((unsigned char)*c) || n == 6) return -1;
        typed[n++] = *c;
    }
    if (n != 6 || now < 30) return -1;
    typed[6] = 0;
    long long found = -1;
    long long t = now / 30;
    for (long long s = t - 1; s <= t + 1; s++) {
        char want[8];
        snprintf(want, sizeof want, "%06u", (unsigned)cds_totp_code(key, key_len, (uint64_t)s, 6));
        /* every step is compared, so the time taken says nothing of which matched */
        if (cds_ct_equal(want, typed, 6) && found < 0) found = s;
    }
    return found;
}

int cds_totp_secret_new(char out[33])
{
    unsigned char k[20];
    if (RAND_bytes(k, sizeof k) != 1) return -1;
    int n = cds_base32_encode(k, sizeof k, 0, out, 33);
    OPENSSL_cleanse(k, sizeof k);
    return n == 32 ? 0 : -1;
}

/* RFC 3986 percent-encoding of everything but unreserved characters. */
static void uri_enc(char *dst, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    dst[o] = 0;
}

char *cds_totp_uri(const char *issuer, const char *login, const char *secret_b32)
{
    char is[256], lg[256];
    uri_enc(is, sizeof is, issuer);
    uri_enc(lg, sizeof lg, login);
    size_t cap = strlen(is) * 2 + strlen(lg) + strlen(secret_b32) + 128;
    char *u = malloc(cap);
    if (u)
        snprintf(u, cap, "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=30",
                 is, lg, secret_b32, is);
    return u;
}

char *cds_staff_totp_seal(const char *secret_b32)
{
    return cds_auth_seal(secret_b32, "staff.totp");
}

int cds_staff_totp_key(const char *sealed, unsigned char *key, size_t cap)
{
    char *b32 = cds_auth_open(sealed, "staff.totp");
    if (!b32) return -1;
    int n = cds_base32_decode(b32, key, cap);
    OPENSSL_cleanse(b32, strlen(b32));
    free(b32);
    return n < 10 ? -1 : n;
}
