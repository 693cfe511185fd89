/* SHA-256 and HMAC-SHA256 without OpenSSL's per-call lookups (see digest.h).
 *
 * HMAC is written out on top of the digest (two passes, the key padded with
 * 0x36 and 0x5c) rather than through EVP_MAC, whose context would have to be
 * fetched, keyed and freed per call or kept per key. Each thread's context is
 * freed by a thread-specific destructor when the thread ends. */
#include "core/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#define BLOCK 64

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;
static EVP_MD *sha256_md;

static void free_ctx(void *p)
{
    EVP_MD_CTX_free(p);
}

static void init_once(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    pthread_key_create(&ctx_key, free_ctx);
}

static EVP_MD_CTX *thread_ctx(void)
{
    pthread_once(&once, init_once);
    if (!sha256_md) return NULL;
    EVP_MD_CTX *c = pthread_getspecific(ctx_key);
    if (!c && (c = EVP_MD_CTX_new()) != NULL && pthread_setspecific(ctx_key, c) != 0) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    return c;
}

/* The digest of the parts, the first of them optional (NULL, 0). */
static int digest(EVP_MD_CTX *c, const void *first, size_t first_len, const cds_digest_part *parts,
                  size_t nparts, unsigned char out[32])
{
    unsigned int n = 0;
    if (EVP_DigestInit_ex2(c, sha256_md, NULL) != 1) return -1;
    if (first_len && EVP_DigestUpdate(c, first, first_len) != 1) return -1;
    for (size_t i = 0; i < nparts; i++)
        if (parts[i].len && EVP_DigestUpdate(c, parts[i].data, parts[i].len) != 1) return -1;
    return EVP_DigestFinal_ex(c, out, &n) == 1 && n == 32 ? 0 : -1;
}

int cds_sha256(const void *data, size_t len, unsigned char out[32])
{
    EVP_MD_CTX *c = thread_ctx();
    cds_digest_part part = {data, len};
    if (c && digest(c, NULL, 0, &part, 1, out) == 0) return 0;
    memset(out, 0, 32);
    return -1;
}

int cds_hmac_sha256_parts(const void *key, size_t key_len, const cds_digest_part *parts, size_t nparts,
                          unsigned char out[32])
{
    EVP_MD_CTX *c = thread_ctx();
    unsigned char k[BLOCK] = {0}, pad[BLOCK], inner[32];
    int rc = -1;
    if (!c) goto out;
    if (key_len > BLOCK) {
        cds_digest_part kp = {key, key_len};
        if (digest(c, NULL, 0, &kp, 1, k) != 0) goto out;
    } else if (key_len) {
        memcpy(k, key, key_len);
    }
    for (int i = 0; i < BLOCK; i++) pad[i] = k[i] ^ 0x36;
    if (digest(c, pad, BLOCK, parts, nparts, inner) != 0) goto out;
    for (int i = 0; i < BLOCK; i++) pad[i] = k[i] ^ 0x5c;
    cds_digest_part ip = {inner, sizeof inner};
    rc = digest(c, pad, BLOCK, &ip, 1, out);
out:
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    if (rc != 0) memset(out, 0, 32);
    return rc;
}

int cds_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, unsigned char out[32])
{
    cds_digest_part part = {data, len};
    return cds_hmac_sha256_parts(key, key_len, &part, 1, out);
}
