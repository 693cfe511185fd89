/* SHA-256 and HMAC-SHA256 for the request paths.
 *
 * OpenSSL 3's one-shot calls (EVP_Digest with EVP_sha256(), HMAC(),
 * EVP_MAC_fetch per call) look the algorithm up in the provider store on
 * every call (a lock and a hash lookup) and allocate and free a context:
 * several times the cost of hashing a token or a dossier id. Here SHA-256 is
 * fetched once per process and every thread keeps one digest context, so a
 * hash costs only the hashing. Any thread may call these; nothing is shared
 * but the fetched algorithm, which OpenSSL allows. */
#ifndef CDS_DIGEST_H
#define CDS_DIGEST_H

#include <stddef.h>

/* One piece of a message hashed without being copied together first. */
typedef struct cds_digest_part {
    const void *data;
    size_t len;
} cds_digest_part;

/* 0 on success, -1 if OpenSSL failed (out is then zeroed). */
int cds_sha256(const void *data, size_t len, unsigned char out[32]);

/* HMAC-SHA256 (RFC 2104) of the concatenated parts; a key longer than the
 * 64-byte block is hashed first, as the RFC says. 0 or -1 as above. */
int cds_hmac_sha256_parts(const void *key, size_t key_len, const cds_digest_part *parts, size_t nparts,
                          unsigned char out[32]);
int cds_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, unsigned char out[32]);

#endif
