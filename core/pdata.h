/* Personal data at rest (Vietnam's Decree 13/2023 on personal data
 * protection): values such as the personal ID number, phone and address are
 * sealed with AES-256-GCM under a key from a key ring; the sealed text
 * carries the key id so keys can rotate (new values use the current key, old
 * ones still open). Lookups never need the plaintext: a keyed hash
 * (HMAC-SHA256) of the personal ID number is the index. */
#ifndef CDS_PDATA_H
#define CDS_PDATA_H
#include <stddef.h>

typedef struct cds_keyring cds_keyring;

#define CDS_PDATA_MAX (1u << 20) /* bytes of plaintext one sealed value may hold */
#define CDS_PDATA_AAD_MAX 256    /* bytes of caller aad */
#define CDS_KEYRING_MAX 16       /* keys in one ring */

/* spec: "kid1:BASE64KEY,kid2:BASE64KEY" (32-byte keys, standard padded
 * base64 as `openssl rand -base64 32` prints; kid [A-Za-z0-9_-]{1,32}; blanks
 * around an entry are ignored); the first key is the current one. NULL +
 * *err on a bad spec: empty, bad base64, a key not 32 bytes, a bad or
 * repeated kid, more than CDS_KEYRING_MAX keys. The ring wipes its keys when
 * freed. */
cds_keyring *cds_keyring_parse(const char *spec, const char **err);
void cds_keyring_free(cds_keyring *k);
const char *cds_keyring_current(const cds_keyring *k);

/* Seals `len` bytes (at most CDS_PDATA_MAX); `aad` (NULL counts as "", at
 * most CDS_PDATA_AAD_MAX bytes) binds the value to its place, e.g.
 * "citizen.phone". Returns "v1.<kid>.<base64url(nonce|ciphertext|tag)>"
 * (malloc), or NULL. The GCM additional data is "v1.<kid>.<aad>", so a
 * sealed value cannot be relabelled to another key id or version either. */
char *cds_seal(const cds_keyring *k, const void *plain, size_t len, const char *aad);
/* Opens a sealed text; NULL when the key is unknown, the text was altered or
 * the aad differs. The plaintext is NUL-terminated (malloc), *len set if not NULL. */
char *cds_open(const cds_keyring *k, const char *sealed, const char *aad, size_t *len);

/* Lower-case hex HMAC-SHA256(key, data) into out[65]. 0, or -1 (out = ""). */
int cds_keyed_hash(const void *key, size_t keylen, const void *data, size_t n, char out[65]);

/* For tests (published AES-256-GCM vectors) and for cds_seal/cds_open
 * themselves: one AES-256-GCM operation with a 32-byte key, a 12-byte IV and
 * a 16-byte tag; ct/pt hold n bytes. encrypt: 0 or -1. decrypt: 0, or -1
 * when the tag does not verify (nothing usable is left in pt then). */
int cds_gcm_encrypt_raw(const unsigned char key[32], const unsigned char iv[12], const void *aad,
                        size_t aadlen, const void *pt, size_t n, unsigned char *ct,
                        unsigned char tag[16]);
int cds_gcm_decrypt_raw(const unsigned char key[32], const unsigned char iv[12], const void *aad,
                        size_t aadlen, const unsigned char *ct, size_t n,
                        const unsigned char tag[16], unsigned char *pt);

#endif
