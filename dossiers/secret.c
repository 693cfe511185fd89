/* A dossier's lookup secret: the short code printed on the acknowledgement
 * and put in the QR link, which lets anyone holding the paper follow the
 * dossier on the public lookup page without logging in.
 *
 * The secret is derived, never stored: HMAC-SHA256(lookup key, dossier id)
 * mapped onto a 31-character alphabet without look-alikes (no 0/O, 1/I/L),
 * CDS_LOOKUP_SECRET_LEN characters, about 49.5 bits. The database keeps only
 * its SHA-256 (dossiers.lookup_hash), so a copy of the database does not
 * open the lookup pages, and the secret can be printed again at any time
 * from the id. Changing the lookup key changes every secret: the key is
 * configuration to keep, like the data keys.
 *
 * Mapping without bias: each HMAC byte below 248 (= 8 * 31) gives one
 * character (byte % 31); bytes 248..255 are skipped. Should a block of 32
 * bytes run out (10 characters need 10 of its bytes, each kept with
 * probability 31/32: practically never) the next block is
 * HMAC(key, id || 0x00 || n) for n = 1, 2, ...: the id is text and never
 * contains a NUL, so these inputs cannot collide with another id's first
 * block.
 *
 * The key: CDS_LOOKUP_KEY (base64 of 32 bytes), or in development a key file
 * "lookup-key" made once in keys_dir and reused by every process sharing
 * the directory (core/devkeys.h). */
#include "internal.h"

#include "core/devkeys.h"
#include "core/digest.h"
#include "core/log.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>

#define KEY_BYTES 32
static const char ALPHABET[] = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"; /* 31 characters */
#define ALPHABET_N 31
#define ACCEPT_BELOW 248 /* largest multiple of 31 not above 256 */

static unsigned char lookup_key[KEY_BYTES];
static int key_loaded;

/* ---------------- key loading ---------------- */

int cds_secret_init(void)
{
    int configured = g_dossiers.lookup_key && *g_dossiers.lookup_key;
    char *b64 = cds_secret_or_dev(g_dossiers.lookup_key, g_dossiers.keys_dir, "lookup-key", 0);
    int rc = b64 ? cds_b64_exact(b64, lookup_key, KEY_BYTES) : -1;
    if (b64) {
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
    }
    if (rc != 0) {
        cds_log(CDS_LOG_ERROR, "lookup_key", "%s must be 32 bytes in base64 (44 characters)",
                configured ? "CDS_LOOKUP_KEY" : "the development lookup-key file");
        return -1;
    }
    key_loaded = 1;
    return 0;
}

/* ---------------- derivation ---------------- */

void cds_lookup_secret(const char *dossier_id, char out[CDS_LOOKUP_SECRET_LEN + 1])
{
    size_t idlen = strnlen(dossier_id, 256), k = 0;
    unsigned char msg[256 + 2], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    memcpy(msg, dossier_id, idlen);
    if (!key_loaded) cds_log(CDS_LOG_ERROR, "lookup_key", "lookup secret derived before cds_secret_init");
    /* The first block falls short only when 23 of its 32 bytes are >= 248
     * (probability about 1e-27): later blocks and the final fill exist only
     * to keep the function total. */
    for (unsigned block = 0; block < 8 && k < CDS_LOOKUP_SECRET_LEN; block++) {
        size_t mlen = idlen;
        if (block) {
            msg[idlen] = 0;
            msg[idlen + 1] = (unsigned char)block;
            mlen = idlen + 2;
        }
        cds_hmac_sha256(lookup_key, KEY_BYTES, msg, mlen, mac);
        maclen = 32;
        for (unsigned i = 0; i < maclen && k < CDS_LOOKUP_SECRET_LEN; i++)
            if (mac[i] < ACCEPT_BELOW) out[k++] = ALPHABET[mac[i] % ALPHABET_N];
    }
    while (k < CDS_LOOKUP_SECRET_LEN) out[k++] = ALPHABET[0];
    out[k] = 0;
    OPENSSL_cleanse(mac, sizeof mac);
}

int cds_lookup_code_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > CDS_LOOKUP_CODE_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_') return 0;
    return 1;
}

int cds_lookup_secret_normalise(const char *in, char out[CDS_LOOKUP_SECRET_IN_MAX + 1])
{
    size_t o = 0;
    for (const char *p = in ? in : ""; *p; p++) {
        if (*p == ' ' || *p == '-' || *p == '\t') continue;
        if (o == CDS_LOOKUP_SECRET_IN_MAX) {
            out[0] = 0;
            return -1;
        }
        out[o++] = (char)toupper((unsigned char)*p);
    }
    out[o] = 0;
    return o ? 0 : -1;
}

void cds_lookup_secret_hash(const char *secret, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    cds_sha256(secret, strlen(secret), md);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = 0;
}

/* Percent-encodes everything but RFC 3986 unreserved characters into out
 * (cap bytes); -1 when it does not fit. */
static int url_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        if (o + (plain ? 1 : 3) >= cap) return -1;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
    return (int)o;
}

int cds_lookup_link(const char *code, const char *secret, char *out, size_t cap)
{
    const char *base = g_dossiers.public_base_url ? g_dossiers.public_base_url : "";
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/') bl--; /* "https://x/" and "https://x" give the same link */
    char c[3 * 64 + 1], s[3 * (CDS_LOOKUP_SECRET_LEN + 1) + 1];
    if (url_escape(code, c, sizeof c) < 0 || url_escape(secret, s, sizeof s) < 0) return -1;
    int n = snprintf(out, cap, "%.*s/lookup/%s?s=%s", (int)bl, base, c, s);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int cds_dossier_lookup_link(const char *dossier_id, const char *code, char *out, size_t cap)
{
    char secret[CDS_LOOKUP_SECRET_LEN + 1];
    cds_lookup_secret(dossier_id, secret);
    return cds_lookup_link(code, secret, out, cap);
}

char *cds_lookup_url(cds_req *r, const char *code, const char *secret)
{
    size_t cap = strlen(g_dossiers.public_base_url ? g_dossiers.public_base_url : "") +
                 3 * strlen(code) + 3 * strlen(secret) + 16;
    char *out = cds_req_alloc(r, cap);
    if (cds_lookup_link(code, secret, out, cap) < 0) out[0] = 0;
    return out;
}
