/* Personal data at rest (see pdata.h): AES-256-GCM sealing under a rotating
 * key ring, and the HMAC-SHA256 keyed hash used as a lookup index.
 *
 * Format: "v1.<kid>.<base64url(nonce 12 | ciphertext | tag 16)>". The nonce
 * is random per value (RAND_bytes); with 96-bit random nonces one key stays
 * well inside NIST SP 800-38D's 2^32-invocation bound for this service's
 * volumes, and rotation (a new first key in the ring) resets the count. The
 * GCM additional data is "v1.<kid>.<caller aad>": the version and key id are
 * authenticated along with the caller's label (e.g. "citizen.phone"), so a
 * value cannot be moved to another column, another key id, or a future
 * format version and still open. Neither the version nor the kid may contain
 * '.', so that string is unambiguous.
 *
 * Keys live only inside the ring, are wiped (OPENSSL_cleanse) when it is
 * freed, and so are temporary copies and failed decryptions. */
#include "core/pdata.h"

#include "core/jose.h" /* base64url */

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BYTES 32
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define KID_MAX 32
#define VERSION "v1"

struct cds_keyring {
    size_t n;
    struct {
        char kid[KID_MAX + 1];
        unsigned char key[KEY_BYTES];
    } keys[CDS_KEYRING_MAX];
};

/* ---- AES-256-GCM -------------------------------------------------------- */

int cds_gcm_encrypt_raw(const unsigned char key[32], const unsigned char iv[12], const void *aad,
                        size_t aadlen, const void *pt, size_t n, unsigned char *ct,
                        unsigned char tag[16])
{
    if (!key || !iv || !tag || n > INT_MAX || aadlen > INT_MAX || (n > 0 && (!pt || !ct)) ||
        (aadlen > 0 && !aad))
        return -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char fin[16];
    int ok = 0, len = 0;
    /* GCM's default IV length is the 12 bytes we use: no IVLEN ctrl needed. */
    if (!c || EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), key, iv, NULL) != 1) goto out;
    if (aadlen > 0 && EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadlen) != 1) goto out;
    if (n > 0 && (EVP_EncryptUpdate(c, ct, &len, pt, (int)n) != 1 || (size_t)len != n)) goto out;
    /* GCM writes nothing at Final; fin only spares a NULL out pointer. */
    if (EVP_EncryptFinal_ex(c, fin, &len) != 1 || len != 0) goto out;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_BYTES, tag) != 1) goto out;
    ok = 1;
out:
    if (!ok) ERR_clear_error();
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int cds_gcm_decrypt_raw(const unsigned char key[32], const unsigned char iv[12], const void *aad,
                        size_t aadlen, const unsigned char *ct, size_t n,
                        const unsigned char tag[16], unsigned char *pt)
{
    if (!key || !iv || !tag || n > INT_MAX || aadlen > INT_MAX || (n > 0 && (!pt || !ct)) ||
        (aadlen > 0 && !aad))
        return -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char t[TAG_BYTES], fin[16]; /* the ctrl wants a writable pointer */
    int ok = 0, len = 0;
    memcpy(t, tag, sizeof t);
    if (!c || EVP_DecryptInit_ex2(c, EVP_aes_256_gcm(), key, iv, NULL) != 1) goto out;
    if (aadlen > 0 && EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadlen) != 1) goto out;
    if (n > 0 && (EVP_DecryptUpdate(c, pt, &len, ct, (int)n) != 1 || (size_t)len != n)) goto out;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_BYTES, t) != 1) goto out;
    /* The tag is checked here, after the plaintext was written out. */
    if (EVP_DecryptFinal_ex(c, fin, &len) != 1 || len != 0) goto out;
    ok = 1;
out:
    if (!ok) {
        ERR_clear_error();
        if (pt && n > 0) OPENSSL_cleanse(pt, n); /* unauthenticated plaintext must not leak out */
    }
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

/* ---- key ring ------------------------------------------------------------ */

static int kid_ok(const char *s, size_t n)
{
    if (n == 0 || n > KID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int std_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Strict standard (padded) base64 of exactly KEY_BYTES bytes. EVP_DecodeBlock
 * alone would skip blanks and count padding as data, so the text is checked
 * first and the padding subtracted. 0, -1 bad base64, -2 wrong length. */
static int decode_key(const char *s, size_t n, unsigned char key[KEY_BYTES])
{
    unsigned char buf[48 + 3];
    if (n == 0 || n % 4 != 0) return -1;
    size_t pad = 0;
    if (s[n - 1] == '=') pad++;
    if (n >= 2 && s[n - 2] == '=') pad++;
    for (size_t i = 0; i < n - pad; i++)
        if (!std_b64_char((unsigned char)s[i])) return -1;
    if (n > 64) /* well past 32 bytes; also keeps buf bounded */
        return -2;
    int len = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
    int rc = 0;
    if (len < 0)
        rc = -1;
    else if ((size_t)len - pad != KEY_BYTES)
        rc = -2;
    else
        memcpy(key, buf, KEY_BYTES);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

cds_keyring *cds_keyring_parse(const char *spec, const char **err)
{
    const char *dummy;
    if (!err) err = &dummy;
    *err = NULL;
    if (!spec || !*spec) {
        *err = "empty key ring";
        return NULL;
    }
    cds_keyring *k = calloc(1, sizeof *k);
    if (!k) {
        *err = "out of memory";
        return NULL;
    }
    const char *p = spec;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && is_blank(*p)) {
            p++;
            len--;
        }
        while (len > 0 && is_blank(p[len - 1]))
            len--;
        if (len == 0) {
            *err = "empty key ring entry";
            goto fail;
        }
        const char *colon = memchr(p, ':', len);
        if (!colon) {
            *err = "key ring entry is not kid:base64key";
            goto fail;
        }
        size_t kidlen = (size_t)(colon - p);
        if (!kid_ok(p, kidlen)) {
            *err = "key id must be 1-32 of A-Z a-z 0-9 _ -";
            goto fail;
        }
        for (size_t i = 0; i < k->n; i++)
            if (strlen(k->keys[i].kid) == kidlen && memcmp(k->keys[i].kid, p, kidlen) == 0) {
                *err = "key id repeated in key ring";
                goto fail;
            }
        if (k->n == CDS_KEYRING_MAX) {
            *err = "too many keys in key ring";
            goto fail;
        }
        int rc = decode_key(colon + 1, len - kidlen - 1, k->keys[k->n].key);
        if (rc != 0) {
            *err = rc == -1 ? "key is not standard padded base64" : "key is not 32 bytes";
            goto fail;
        }
        memcpy(k->keys[k->n].kid, p, kidlen);
        k->keys[k->n].kid[kidlen] = '\0';
        k->n++;
        if (!end) break;
        p = end + 1;
    }
    return k;
fail:
    cds_keyring_free(k);
    return NULL;
}

void cds_keyring_free(cds_keyring *k)
{
    if (!k) return;
    OPENSSL_cleanse(k, sizeof *k);
    free(k);
}

const char *cds_keyring_current(const cds_keyring *k)
{
    return k && k->n > 0 ? k->keys[0].kid : NULL;
}

/* "v1.<kid>.<aad>" into buf; returns its length or 0. */
static size_t gcm_aad(char *buf, size_t cap, const char *kid, size_t kidlen, const char *aad)
{
    size_t alen = strlen(aad), vlen = sizeof VERSION - 1;
    if (alen > CDS_PDATA_AAD_MAX || vlen + 1 + kidlen + 1 + alen >= cap) return 0;
    size_t o = 0;
    memcpy(buf + o, VERSION, vlen);
    o += vlen;
    buf[o++] = '.';
    memcpy(buf + o, kid, kidlen);
    o += kidlen;
    buf[o++] = '.';
    memcpy(buf + o, aad, alen);
    o += alen;
    buf[o] = '\0';
    return o;
}

#define GCM_AAD_CAP (sizeof VERSION + 1 + KID_MAX + 1 + CDS_PDATA_AAD_MAX + 1)

char *cds_seal(const cds_keyring *k, const void *plain, size_t len, const char *aad)
{
    if (!k || k->n == 0 || len > CDS_PDATA_MAX || (len > 0 && !plain)) return NULL;
    const char *kid = k->keys[0].kid;
    size_t kidlen = strlen(kid);
    char ad[GCM_AAD_CAP];
    size_t adlen = gcm_aad(ad, sizeof ad, kid, kidlen, aad ? aad : "");
    if (adlen == 0) return NULL;

    size_t blen = NONCE_BYTES + len + TAG_BYTES;
    unsigned char *blob = malloc(blen);
    size_t cap = sizeof VERSION + kidlen + 1 + blen / 3 * 4 + 5;
    char *out = malloc(cap);
    if (!blob || !out) goto fail;
    if (RAND_bytes(blob, NONCE_BYTES) != 1) goto fail;
    if (cds_gcm_encrypt_raw(k->keys[0].key, blob, ad, adlen, plain, len, blob + NONCE_BYTES,
                            blob + NONCE_BYTES + len) != 0)
        goto fail;
    size_t o = sizeof VERSION - 1;
    memcpy(out, VERSION, o);
    out[o++] = '.';
    memcpy(out + o, kid, kidlen);
    o += kidlen;
    out[o++] = '.';
    if (cds_b64url_encode(blob, blen, out + o, cap - o) == 0) goto fail;
    free(blob);
    return out;
fail:
    ERR_clear_error();
    free(blob);
    free(out);
    return NULL;
}

char *cds_open(const cds_keyring *k, const char *sealed, const char *aad, size_t *len)
{
    if (len) *len = 0;
    if (!k || !sealed || strncmp(sealed, VERSION ".", sizeof VERSION) != 0) return NULL;
    const char *kid = sealed + sizeof VERSION;
    const char *dot = strchr(kid, '.');
    if (!dot || !kid_ok(kid, (size_t)(dot - kid))) return NULL;
    size_t kidlen = (size_t)(dot - kid);
    const unsigned char *key = NULL;
    for (size_t i = 0; i < k->n; i++)
        if (strlen(k->keys[i].kid) == kidlen && memcmp(k->keys[i].kid, kid, kidlen) == 0)
            key = k->keys[i].key;
    if (!key) return NULL;
    char ad[GCM_AAD_CAP];
    size_t adlen = gcm_aad(ad, sizeof ad, kid, kidlen, aad ? aad : "");
    if (adlen == 0) return NULL;

    const char *b64 = dot + 1;
    size_t b64len = strlen(b64);
    /* Bound before allocating: no sealed value is longer than this. */
    if (b64len > (NONCE_BYTES + CDS_PDATA_MAX + TAG_BYTES) / 3 * 4 + 4) return NULL;
    size_t cap = b64len / 4 * 3 + 3, blen = 0;
    unsigned char *blob = malloc(cap);
    char *pt = NULL;
    if (!blob || cds_b64url_decode(b64, b64len, blob, cap, &blen) != 0 ||
        blen < NONCE_BYTES + TAG_BYTES)
        goto fail;
    size_t n = blen - NONCE_BYTES - TAG_BYTES;
    pt = malloc(n + 1);
    if (!pt) goto fail;
    if (cds_gcm_decrypt_raw(key, blob, ad, adlen, blob + NONCE_BYTES, n, blob + NONCE_BYTES + n,
                            (unsigned char *)pt) != 0)
        goto fail;
    pt[n] = '\0';
    free(blob);
    if (len) *len = n;
    return pt;
fail:
    free(blob);
    free(pt); /* cds_gcm_decrypt_raw already wiped it */
    return NULL;
}

/* ---- keyed hash ------------------------------------------------------------ */

int cds_keyed_hash(const void *key, size_t keylen, const void *data, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    size_t mdlen = 0;
    out[0] = '\0';
    if (!key || (n > 0 && !data)) return -1;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, data, n, md, sizeof md,
                   &mdlen) ||
        mdlen != sizeof md) {
        ERR_clear_error();
        return -1;
    }
    for (size_t i = 0; i < sizeof md; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}
