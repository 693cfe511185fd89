/* Signed server-to-server requests (see core/hmac_auth.h for the scheme).
 *
 * Clients come from one configuration string, "id:secret[,id:secret]",
 * parsed once into a small array that is only read afterwards, so any number
 * of loop threads may verify against it without a lock. Verification checks,
 * in this order and each before the next costs anything: the three headers
 * are present and well formed (strict: a 1-12 digit timestamp, exactly 64
 * hex digits), the client is known, the timestamp is inside the replay
 * window, and only then the HMAC, compared in constant time on the raw 32
 * bytes so upper- and lower-case hex verify alike.
 *
 * The canonical string is METHOD "\n" PATH?QUERY "\n" TIMESTAMP "\n"
 * hex(SHA-256(body)); hashing the body first keeps the string small whatever
 * the body's size, and lets a signer stream the body if it ever has to. */
#include "core/hmac_auth.h"
#include "core/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX 64
#define SECRET_MIN 16
#define SECRET_MAX 512 /* a configuration typo, not a key, past this */
#define CLIENTS_MAX 64
#define TS_DIGITS_MAX 12

typedef struct hmac_client {
    char id[ID_MAX + 1];
    unsigned char *secret;
    size_t secret_len;
} hmac_client;

struct cds_hmac_clients {
    size_t n;
    hmac_client v[CLIENTS_MAX];
};

static int id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static int valid_id(const char *s, size_t len)
{
    if (len == 0 || len > ID_MAX) return 0;
    for (size_t i = 0; i < len; i++)
        if (!id_char((unsigned char)s[i])) return 0;
    return 1;
}

void cds_hmac_clients_free(cds_hmac_clients *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        OPENSSL_cleanse(c->v[i].secret, c->v[i].secret_len);
        free(c->v[i].secret);
    }
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

static cds_hmac_clients *parse_fail(cds_hmac_clients *c, const char **err, const char *why)
{
    cds_hmac_clients_free(c);
    if (err) *err = why;
    return NULL;
}

cds_hmac_clients *cds_hmac_clients_parse(const char *spec, const char **err)
{
    if (err) *err = NULL;
    if (!spec || !*spec) return parse_fail(NULL, err, "no client configured");
    cds_hmac_clients *c = calloc(1, sizeof *c);
    if (!c) return parse_fail(NULL, err, "out of memory");
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0) return parse_fail(c, err, "empty client entry");
        const char *colon = memchr(p, ':', len);
        if (!colon) return parse_fail(c, err, "client entry without ':' (expected client:secret)");
        size_t il = (size_t)(colon - p), sl = len - il - 1;
        if (!valid_id(p, il))
            return parse_fail(c, err, "client id must be 1-64 characters of A-Z a-z 0-9 _ . -");
        if (sl < SECRET_MIN) return parse_fail(c, err, "client secret shorter than 16 bytes");
        if (sl > SECRET_MAX) return parse_fail(c, err, "client secret longer than 512 bytes");
        for (size_t i = 0; i < c->n; i++)
            if (strlen(c->v[i].id) == il && memcmp(c->v[i].id, p, il) == 0)
                return parse_fail(c, err, "duplicate client id");
        if (c->n == CLIENTS_MAX) return parse_fail(c, err, "more than 64 clients");
        hmac_client *hc = &c->v[c->n];
        hc->secret = malloc(sl);
        if (!hc->secret) return parse_fail(c, err, "out of memory");
        memcpy(hc->id, p, il);
        hc->id[il] = 0;
        memcpy(hc->secret, colon + 1, sl);
        hc->secret_len = sl;
        c->n++;
        if (!comma) break;
        p = comma + 1;
    }
    return c;
}

static const char hexdig[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[in[i] >> 4];
        out[2 * i + 1] = hexdig[in[i] & 15];
    }
    out[2 * n] = 0;
}

/* HMAC over the canonical string, fed piecewise so nothing is copied. */
static int mac_raw(const void *key, size_t key_len, const char *method, const char *path,
                   long long timestamp, const void *body, size_t body_len, unsigned char out[32])
{
    unsigned char bh[SHA256_DIGEST_LENGTH];
    char bhex[2 * SHA256_DIGEST_LENGTH + 1], ts[24];
    static const unsigned char empty = 0;
    if (cds_sha256(body ? body : &empty, body ? body_len : 0, bh) != 0) return -1;
    to_hex(bh, sizeof bh, bhex);
    int tl = snprintf(ts, sizeof ts, "%lld", timestamp);
    if (tl < 0 || (size_t)tl >= sizeof ts) return -1;

    const cds_digest_part parts[] = {{method, strlen(method)}, {"\n", 1}, {path, strlen(path)},
                                     {"\n", 1}, {ts, (size_t)tl}, {"\n", 1}, {bhex, 64}};
    return cds_hmac_sha256_parts(key, key_len, parts, sizeof parts / sizeof parts[0], out);
}

void cds_hmac_sign(const char *secret, const char *method, const char *path_and_query,
                   long long timestamp, const void *body, size_t body_len, char out[65])
{
    unsigned char raw[32];
    const char *s = secret ? secret : "";
    if (mac_raw(s, strlen(s), method ? method : "", path_and_query ? path_and_query : "", timestamp,
                body, body_len, raw) != 0) {
        /* Only an OpenSSL failure gets here: an all-zero signature never
         * verifies, which is the safe way to fail for a signer. */
        memset(out, '0', 64);
        out[64] = 0;
        return;
    }
    to_hex(raw, sizeof raw, out);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Exactly 64 hex digits, either case, into 32 bytes. */
static int parse_sig(const char *s, unsigned char out[32])
{
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval((unsigned char)s[2 * i]);
        if (hi < 0) return -1; /* also stops at the NUL of a short value */
        int lo = hexval((unsigned char)s[2 * i + 1]);
        if (lo < 0) return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return s[64] == 0 ? 0 : -1;
}

/* 1-12 decimal digits, no sign, no spaces: a timestamp up to year 33658.
 * No leading zero either (but "0"), so what was signed ("%lld" of the
 * number) is exactly the header's text. */
static int parse_ts(const char *s, long long *out)
{
    long long v = 0;
    size_t i = 0;
    if (s[0] == '0' && s[1]) return -1;
    for (; s[i]; i++) {
        if (i == TS_DIGITS_MAX || s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0) return -1;
    *out = v;
    return 0;
}

int cds_hmac_verify(const cds_hmac_clients *c, const char *client_id, const char *timestamp,
                    const char *signature, const char *method, const char *path_and_query,
                    const void *body, size_t body_len, time_t now, int window_s)
{
    unsigned char got[32], want[32];
    long long ts;
    if (!client_id || !timestamp || !signature || !method || !path_and_query)
        return CDS_HMAC_MISSING;
    size_t il = strnlen(client_id, ID_MAX + 1);
    if (!valid_id(client_id, il) || parse_ts(timestamp, &ts) != 0 || parse_sig(signature, got) != 0)
        return CDS_HMAC_MISSING;
    const hmac_client *hc = NULL;
    for (size_t i = 0; c && i < c->n && !hc; i++)
        if (strcmp(c->v[i].id, client_id) == 0) hc = &c->v[i];
    if (!hc) return CDS_HMAC_UNKNOWN;
    long long w = window_s > 0 ? window_s : 0, d = (long long)now - ts;
    if (d > w || d < -w) return CDS_HMAC_STALE;
    if (mac_raw(hc->secret, hc->secret_len, method, path_and_query, ts, body, body_len, want) != 0)
        return CDS_HMAC_BAD;
    int eq = CRYPTO_memcmp(got, want, sizeof want) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return eq ? CDS_HMAC_OK : CDS_HMAC_BAD;
}
