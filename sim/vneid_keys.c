/* The VNeID stand-in's signing keys: RSA-2048, generated at start (nothing
 * on disk, every run has fresh keys), kid = RFC 7638 thumbprint. The JWKS
 * publishes the current key and the previous two, as a provider does during
 * a rotation so tokens signed just before it still verify; at start there
 * are two, so a relying party always sees more than one key and must pick by
 * kid rather than take "the" key.
 *
 * The mutex only guards the array: signers take a reference to the current
 * key and sign outside the lock, and a rotation generates its key (tens of
 * milliseconds) before taking the lock. */
#include "sim/vneid.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vneid_key_id(EVP_PKEY *key, char *out, size_t cap)
{
    return vj_thumbprint(key, out, cap);
}

/* Puts a new key in front, dropping the oldest. Takes ownership of `key`. */
static void push(vneid_keys *k, EVP_PKEY *key, const char *kid)
{
    pthread_mutex_lock(&k->mu);
    EVP_PKEY_free(k->key[VNEID_KEYS_KEPT - 1]);
    for (size_t i = VNEID_KEYS_KEPT - 1; i > 0; i--) {
        k->key[i] = k->key[i - 1];
        memcpy(k->kid[i], k->kid[i - 1], sizeof k->kid[i]);
    }
    k->key[0] = key;
    snprintf(k->kid[0], sizeof k->kid[0], "%s", kid);
    pthread_mutex_unlock(&k->mu);
}

int vneid_keys_rotate(vneid_keys *k, char *kid, size_t cap)
{
    EVP_PKEY *key = sim_pkey_generate("RS256");
    char id[64];
    if (!key || vneid_key_id(key, id, sizeof id) != 0) {
        EVP_PKEY_free(key);
        return -1;
    }
    push(k, key, id);
    if (kid) snprintf(kid, cap, "%s", id);
    return 0;
}

int vneid_keys_init(vneid_keys *k)
{
    memset(k, 0, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    for (int i = 0; i < 2; i++)
        if (vneid_keys_rotate(k, NULL, 0) != 0) return -1;
    return 0;
}

void vneid_keys_free(vneid_keys *k)
{
    for (size_t i = 0; i < VNEID_KEYS_KEPT; i++) {
        EVP_PKEY_free(k->key[i]);
        k->key[i] = NULL;
    }
    pthread_mutex_destroy(&k->mu);
}

EVP_PKEY *vneid_keys_current(vneid_keys *k, char *kid, size_t cap)
{
    pthread_mutex_lock(&k->mu);
    EVP_PKEY *key = k->key[0];
    if (key) EVP_PKEY_up_ref(key);
    snprintf(kid, cap, "%s", k->kid[0]);
    pthread_mutex_unlock(&k->mu);
    return key;
}

json_t *vneid_keys_jwks(vneid_keys *k)
{
    json_t *keys = json_array();
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < VNEID_KEYS_KEPT && k->key[i]; i++) {
        json_t *jwk = vj_jwk(k->key[i], k->kid[i]);
        if (jwk) json_array_append_new(keys, jwk);
    }
    pthread_mutex_unlock(&k->mu);
    return json_pack("{s:o}", "keys", keys);
}

char *vneid_pubkey_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return NULL;
    char *out = NULL;
    if (PEM_write_bio_PUBKEY(bio, key) == 1) {
        char *data;
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0 && (out = malloc((size_t)n + 1))) {
            memcpy(out, data, (size_t)n);
            out[n] = 0;
        }
    }
    BIO_free(bio);
    return out;
}

char *vneid_keys_public_pem(vneid_keys *k, const char *kid)
{
    EVP_PKEY *key = NULL;
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < VNEID_KEYS_KEPT && k->key[i]; i++)
        if (!kid || !*kid || strcmp(kid, k->kid[i]) == 0) {
            key = k->key[i];
            EVP_PKEY_up_ref(key);
            break;
        }
    pthread_mutex_unlock(&k->mu);
    if (!key) return NULL;
    char *pem = vneid_pubkey_pem(key);
    EVP_PKEY_free(key);
    return pem;
}
