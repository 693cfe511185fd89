/* The agencies' receipt signing keys and the public keys that verify them.
 *
 * Signing keys come from g_receipts.keys, read once before the threads
 * start: "pem-file" (one key for every agency) or
 * "AGENCY=pem-file[,AGENCY=pem-file...][,*=pem-file]" (a key per agency,
 * "*" for the others). Unset: the development key keys_dir/receipt_key.pem,
 * made on first use (P-256). Each key is named by its kid (sign.h); the
 * signer records every kid with its public key in receipt_keys, so a
 * receipt still verifies after its key rotated out of the configuration.
 *
 * Verification keys are the PEMs of receipt_keys, given by the query that
 * read the receipt; each is parsed once and cached by kid for the life of
 * the process (a kid is a hash of the key, so an entry never changes). The
 * cache is a small array under a mutex: there are a handful of keys.
 *
 * SIGHUP (core/reload.h) reads the signing keys' files (and the list, when
 * given as CDS_RECEIPT_KEYS_FILE) again into a new set,
 * published with one atomic store when every key in it is good (else the
 * current set stays, logged). The signer takes the set once per pass
 * (rc_keys_current), registers its kids in receipt_keys when the set is new
 * to it and signs the whole pass with it. Replaced sets are freed at
 * shutdown only. */
#include "internal.h"
#include "core/devkeys.h"
#include "core/log.h"
#include "core/options.h"
#include "core/reload.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_KEYS 64
#define PEM_MAX (64 * 1024)

typedef struct skey {
    char agency[40]; /* "*" for the default */
    EVP_PKEY *key;
    char kid[CDS_RCPT_KID_LEN + 1];
    char alg[8];
    char *pub_pem;
    int first; /* the first entry with this kid (registered once) */
} skey;

struct rc_keyset {
    skey k[MAX_KEYS];
    size_t n;
    struct rc_keyset *older; /* replaced sets, freed at shutdown */
};
static _Atomic(rc_keyset *) g_set;

typedef struct vkey {
    char kid[CDS_RCPT_KID_LEN + 1];
    EVP_PKEY *key;
} vkey;
static vkey g_verify[MAX_KEYS];
static size_t g_nverify;
static pthread_mutex_t g_vmu = PTHREAD_MUTEX_INITIALIZER;

static char *read_small(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cds_log(CDS_LOG_ERROR, "receipt_keys", "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, PEM_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n > PEM_MAX) {
        cds_log(CDS_LOG_ERROR, "receipt_keys", "%s: empty, unreadable or over %d bytes", path,
                PEM_MAX);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

static int add_key(rc_keyset *ks, const char *agency, const char *pem, const char *where)
{
    if (ks->n == MAX_KEYS) {
        cds_log(CDS_LOG_ERROR, "receipt_keys", "more than %d receipt keys", MAX_KEYS);
        return -1;
    }
    skey *k = &ks->k[ks->n];
    memset(k, 0, sizeof *k);
    k->key = cds_receipt_key_from_pem(pem, strlen(pem));
    if (!k->key || cds_receipt_kid(k->key, k->kid) != CDS_RCPT_OK ||
        !(k->pub_pem = cds_receipt_pubkey_pem(k->key))) {
        cds_log(CDS_LOG_ERROR, "receipt_keys", "%s: not a P-256 or Ed25519 private key", where);
        EVP_PKEY_free(k->key);
        k->key = NULL;
        return -1;
    }
    snprintf(k->alg, sizeof k->alg, "%s", EVP_PKEY_is_a(k->key, "ED25519") ? "EdDSA" : "ES256");
    snprintf(k->agency, sizeof k->agency, "%s", agency);
    k->first = 1;
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->k[i].kid, k->kid) == 0) k->first = 0;
    ks->n++;
    return 0;
}

static void set_free(rc_keyset *ks)
{
    while (ks) {
        rc_keyset *older = ks->older;
        for (size_t i = 0; i < ks->n; i++) {
            EVP_PKEY_free(ks->k[i].key);
            free(ks->k[i].pub_pem);
        }
        free(ks);
        ks = older;
    }
}

/* Fills ks from `spec` (or the development key); -1 logged. */
static int set_load(rc_keyset *ks, const char *spec)
{
    if (!spec || !*spec) {
        char *pem = cds_secret_or_dev(NULL, g_receipts.keys_dir, "receipt_key.pem", 1);
        if (!pem) return -1;
        cds_log(CDS_LOG_WARN, "receipt_keys",
                "CDS_RECEIPT_KEYS is not set: receipts are signed with the development key");
        int rc = add_key(ks, "*", pem, "development receipt key");
        free(pem);
        return rc;
    }
    char *copy = strdup(spec), *save = NULL;
    if (!copy) return -1;
    int rc = 0;
    for (char *e = strtok_r(copy, ",", &save); e && rc == 0; e = strtok_r(NULL, ",", &save)) {
        while (*e == ' ')
            e++;
        char *eq = strchr(e, '=');
        const char *agency = "*", *path = e;
        if (eq) {
            *eq = 0;
            agency = e;
            path = eq + 1;
            if (!*agency || strlen(agency) >= sizeof ks->k[0].agency) {
                cds_log(CDS_LOG_ERROR, "receipt_keys", "CDS_RECEIPT_KEYS: bad agency code");
                rc = -1;
                break;
            }
        }
        char *pem = read_small(path);
        rc = pem ? add_key(ks, agency, pem, path) : -1;
        free(pem);
    }
    free(copy);
    if (rc == 0 && ks->n == 0) {
        cds_log(CDS_LOG_ERROR, "receipt_keys", "CDS_RECEIPT_KEYS names no key");
        rc = -1;
    }
    return rc;
}

static rc_keyset *set_new(const char *spec)
{
    rc_keyset *ks = calloc(1, sizeof *ks);
    if (ks && set_load(ks, spec) != 0) {
        set_free(ks);
        ks = NULL;
    }
    return ks;
}

static int keys_reload(void)
{
    /* CDS_RECEIPT_KEYS_FILE: the list itself may change (a new agency key). */
    char *spec = NULL, msg[512];
    if (cds_opt_reread("CDS_RECEIPT_KEYS", &spec, msg, sizeof msg) != 0) {
        cds_log(CDS_LOG_ERROR, "receipt_keys", "%s", msg);
        return -1;
    }
    rc_keyset *ks = set_new(spec ? spec : g_receipts.keys);
    free(spec);
    if (!ks) return -1;
    ks->older = atomic_load(&g_set);
    atomic_store(&g_set, ks);
    cds_log(CDS_LOG_INFO, "receipt_keys", "receipt keys reloaded: %zu", ks->n);
    return 0;
}

int rc_keys_init(void)
{
    rc_keys_free();
    rc_keyset *ks = set_new(g_receipts.keys);
    if (!ks) return -1;
    atomic_store(&g_set, ks);
    cds_reload_register("receipt keys", keys_reload);
    return 0;
}

const rc_keyset *rc_keys_current(void)
{
    return atomic_load(&g_set);
}

void rc_keys_free(void)
{
    cds_reload_unregister(keys_reload);
    set_free(atomic_exchange(&g_set, NULL));
    pthread_mutex_lock(&g_vmu);
    for (size_t i = 0; i < g_nverify; i++)
        EVP_PKEY_free(g_verify[i].key);
    g_nverify = 0;
    pthread_mutex_unlock(&g_vmu);
}

EVP_PKEY *rc_signing_key(const rc_keyset *ks, const char *agency, const char **kid)
{
    const skey *dflt = NULL;
    for (size_t i = 0; ks && i < ks->n; i++) {
        if (strcmp(ks->k[i].agency, agency) == 0) {
            *kid = ks->k[i].kid;
            return ks->k[i].key;
        }
        if (!dflt && strcmp(ks->k[i].agency, "*") == 0) dflt = &ks->k[i];
    }
    if (!dflt) return NULL;
    *kid = dflt->kid;
    return dflt->key;
}

EVP_PKEY *rc_signing_key_at(const rc_keyset *ks, size_t i, const char **kid, const char **alg,
                            const char **pub_pem)
{
    for (size_t j = 0; ks && j < ks->n; j++) {
        if (!ks->k[j].first) continue;
        if (i-- == 0) {
            *kid = ks->k[j].kid;
            *alg = ks->k[j].alg;
            *pub_pem = ks->k[j].pub_pem;
            return ks->k[j].key;
        }
    }
    return NULL;
}

EVP_PKEY *rc_verify_key(const char *kid, const char *pem)
{
    if (!kid || strlen(kid) != CDS_RCPT_KID_LEN || !pem || !*pem) return NULL;
    EVP_PKEY *found = NULL;
    pthread_mutex_lock(&g_vmu);
    for (size_t i = 0; i < g_nverify && !found; i++)
        if (strcmp(g_verify[i].kid, kid) == 0) found = g_verify[i].key;
    pthread_mutex_unlock(&g_vmu);
    if (found) return found;
    EVP_PKEY *k = cds_receipt_pubkey_from_pem(pem, strlen(pem));
    char got[CDS_RCPT_KID_LEN + 1];
    if (!k || cds_receipt_kid(k, got) != CDS_RCPT_OK || strcmp(got, kid) != 0) {
        cds_log(CDS_LOG_ERROR, "receipt_keys", "receipt_keys row %s does not hold that key", kid);
        EVP_PKEY_free(k);
        return NULL;
    }
    pthread_mutex_lock(&g_vmu);
    for (size_t i = 0; i < g_nverify && !found; i++)
        if (strcmp(g_verify[i].kid, kid) == 0) found = g_verify[i].key;
    if (!found && g_nverify < MAX_KEYS) {
        snprintf(g_verify[g_nverify].kid, sizeof g_verify[0].kid, "%s", kid);
        g_verify[g_nverify++].key = k;
        found = k;
        k = NULL;
    }
    pthread_mutex_unlock(&g_vmu);
    /* A full cache (more than MAX_KEYS kids ever): the caller gets a key it
     * must not keep; leaking one parse per check is not acceptable, so the
     * answer is "unknown key" instead. */
    EVP_PKEY_free(k);
    return found;
}
