/* Configuration and keys of auth/: our token signing keys (ES256, with key
 * ids so they can rotate: the first signs, all verify), the personal-data key
 * ring, the key of the personal-ID lookup hash and the key that derives a
 * refresh token's successor. When none is configured
 * (development), keys are made once in keys_dir and reused, like the
 * development TLS certificate; a warning says so.
 *
 * SIGHUP (core/reload.h) re-reads the token keys' files (and the list
 * itself when it is given as CDS_TOKEN_KEYS_FILE, so a new key can be put
 * first while the old one still verifies): the new set is
 * built whole, published with one atomic store and used by the next token
 * signed or checked; a file that is not a key keeps the current set. Sets
 * replaced are freed at shutdown only (a request may still hold a key). The
 * other keys are fixed for the life of the process (changing them needs a
 * restart of every node: they must agree across nodes). */
#include "internal.h"
#include "core/devkeys.h"
#include "core/log.h"
#include "core/options.h"
#include "core/reload.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cds_auth_config g_auth;

#define MAX_TOKEN_KEYS 4
typedef struct token_set {
    struct {
        char kid[64];
        EVP_PKEY *key;
    } k[MAX_TOKEN_KEYS];
    int n;
    struct token_set *older; /* replaced sets, freed at shutdown */
} token_set;
static _Atomic(token_set *) tokens;
static cds_keyring *ring;
static unsigned char pid_key[32];
static unsigned char refresh_key[32];

void cds_auth_config_defaults(cds_auth_config *c)
{
    memset(c, 0, sizeof *c);
    c->vneid_issuer = "http://127.0.0.1:9001";
    c->vneid_client_id = "cds-app";
    c->vneid_client_secret = "cds-dev-secret";
    c->vneid_redirect_uri = "cdsapp://auth/callback";
    c->jwks_min_refetch_ms = 30000;
    c->login_ttl_s = 300;
    c->token_issuer = "https://congdanso.tphcm.gov.vn";
    c->access_ttl_s = 600;
    c->refresh_ttl_s = 30 * 24 * 3600;
    c->refresh_grace_s = 30;
    c->keys_dir = "var/keys";
    c->partner_clients = "tthc-hcm:cds-dev-partner-secret";
    c->partner_window_s = 300;
    c->staff_token_ttl_s = 900;
    c->staff_lock_failures = 5;
    c->staff_lock_s = 900;
    c->totp_issuer = "Cong dan so - Ho Chi Minh City";
    c->staff_oidc_client_id = "cds-console";
    c->staff_oidc_redirect_uri = "http://127.0.0.1:8080/console/login/callback";
}

size_t cds_auth_options(cds_auth_config *c, cds_opt *out, size_t cap)
{
    const cds_opt o[] = {
        {"vneid-issuer", "CDS_VNEID_ISSUER", CDS_OPT_URL, &c->vneid_issuer, 0, 0, "VNeID issuer (discovery at <issuer>/.well-known/openid-configuration)"},
        {"vneid-client-id", "CDS_VNEID_CLIENT_ID", CDS_OPT_STR, &c->vneid_client_id, 0, 0, "our client id at VNeID"},
        {"vneid-client-secret", "CDS_VNEID_CLIENT_SECRET", CDS_OPT_SECRET, &c->vneid_client_secret, 0, 0, "our client secret at VNeID"},
        {"vneid-redirect-uri", "CDS_VNEID_REDIRECT_URI", CDS_OPT_STR, &c->vneid_redirect_uri, 0, 0, "the app's redirect URI registered at VNeID"},
        {"vneid-ca-file", "CDS_VNEID_CA_FILE", CDS_OPT_STR, &c->vneid_ca_file, 0, 0, "extra CA certificate to trust for VNeID"},
        {"vneid-userinfo-only", "CDS_VNEID_USERINFO_ONLY", CDS_OPT_INT, &c->vneid_userinfo_only, 0, 1, "1: identity from the userinfo endpoint (no ID token)"},
        {"jwks-min-refetch-ms", "CDS_JWKS_MIN_REFETCH_MS", CDS_OPT_INT, &c->jwks_min_refetch_ms, 0, 86400000, "at most one JWKS refetch per this interval on an unknown kid"},
        {"login-ttl", "CDS_LOGIN_TTL", CDS_OPT_INT, &c->login_ttl_s, 30, 3600, "seconds a started login stays valid"},
        {"token-keys", "CDS_TOKEN_KEYS", CDS_OPT_KEY, &c->token_keys, 0, 0, "access-token keys: kid=pem-file[,kid=pem-file] (first signs); unset: development key"},
        {"token-issuer", "CDS_TOKEN_ISSUER", CDS_OPT_URL, &c->token_issuer, 0, 0, "iss of our access tokens"},
        {"access-ttl", "CDS_ACCESS_TTL", CDS_OPT_INT, &c->access_ttl_s, 10, 3600, "access token lifetime, seconds"},
        {"refresh-ttl", "CDS_REFRESH_TTL", CDS_OPT_INT, &c->refresh_ttl_s, 60, 31536000, "refresh token lifetime, seconds"},
        {"refresh-grace", "CDS_REFRESH_GRACE", CDS_OPT_INT, &c->refresh_grace_s, 0, 600, "seconds a just-rotated refresh token may be retried"},
        {"data-keys", "CDS_DATA_KEYS", CDS_OPT_KEY, &c->data_keys, 0, 0, "personal-data keys: kid:base64-32-bytes[,...] (first seals); unset: development key"},
        {"pid-hash-key", "CDS_PID_HASH_KEY", CDS_OPT_KEY, &c->pid_hash_key, 0, 0, "base64 32-byte key of the personal-ID lookup hash; unset: development key"},
        {"refresh-key", "CDS_REFRESH_KEY", CDS_OPT_KEY, &c->refresh_key, 0, 0, "base64 32-byte key deriving each refresh token's one successor (same on every node); unset: development key"},
        {"keys-dir", "CDS_DEV_KEYS_DIR", CDS_OPT_STR, &c->keys_dir, 0, 0, "where development keys are made and kept"},
        {"partner-clients", "CDS_PARTNER_CLIENTS", CDS_OPT_SECRET, &c->partner_clients, 0, 0, "TTHC system clients: id:secret[,id:secret]"},
        {"partner-window", "CDS_PARTNER_WINDOW", CDS_OPT_INT, &c->partner_window_s, 10, 3600, "seconds a signed partner request stays valid"},
        {"staff-token-ttl", "CDS_STAFF_TOKEN_TTL", CDS_OPT_INT, &c->staff_token_ttl_s, 60, 43200, "staff token lifetime, seconds"},
        {"staff-lock-failures", "CDS_STAFF_LOCK_FAILURES", CDS_OPT_INT, &c->staff_lock_failures, 1, 100, "consecutive failed staff logins that lock the account"},
        {"staff-lock-seconds", "CDS_STAFF_LOCK_SECONDS", CDS_OPT_INT, &c->staff_lock_s, 1, 86400, "how long a locked staff account stays locked"},
        {"totp-issuer-name", "CDS_TOTP_ISSUER_NAME", CDS_OPT_STR, &c->totp_issuer, 0, 0, "issuer name in staff TOTP QR codes"},
        {"staff-oidc-issuer", "CDS_STAFF_OIDC_ISSUER", CDS_OPT_URL | CDS_OPT_OPTIONAL, &c->staff_oidc_issuer, 0, 0, "the city's staff OpenID Connect issuer; unset: staff log in with password + TOTP only"},
        {"staff-oidc-client-id", "CDS_STAFF_OIDC_CLIENT_ID", CDS_OPT_STR, &c->staff_oidc_client_id, 0, 0, "our client id at the staff issuer"},
        {"staff-oidc-client-secret", "CDS_STAFF_OIDC_CLIENT_SECRET", CDS_OPT_SECRET | CDS_OPT_OPTIONAL, &c->staff_oidc_client_secret, 0, 0, "our client secret at the staff issuer"},
        {"staff-oidc-redirect-uri", "CDS_STAFF_OIDC_REDIRECT_URI", CDS_OPT_STR, &c->staff_oidc_redirect_uri, 0, 0, "the console's redirect URI registered at the staff issuer"},
        {"staff-oidc-ca-file", "CDS_STAFF_OIDC_CA_FILE", CDS_OPT_STR, &c->staff_oidc_ca_file, 0, 0, "extra CA certificate to trust for the staff issuer"},
    };
    size_t n = sizeof o / sizeof o[0];
    if (n > cap) n = cap;
    memcpy(out, o, n * sizeof o[0]);
    return n;
}

static char *dev_secret(const char *name, int is_pem)
{
    return cds_secret_or_dev(NULL, g_auth.keys_dir, name, is_pem);
}

static int add_token_key(token_set *ts, const char *kid, const char *pem_or_path)
{
    if (ts->n == MAX_TOKEN_KEYS) {
        cds_log(CDS_LOG_ERROR, "auth_keys", "more than %d token keys", MAX_TOKEN_KEYS);
        return -1;
    }
    EVP_PKEY *k = cds_pkey_from_pem(pem_or_path);
    if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC) {
        cds_log(CDS_LOG_ERROR, "auth_keys", "token key %s is not a readable P-256 private key",
                kid ? kid : "(development)");
        EVP_PKEY_free(k);
        return -1;
    }
    ts->k[ts->n].key = k;
    if (kid) snprintf(ts->k[ts->n].kid, sizeof ts->k[0].kid, "%s", kid);
    else cds_jwk_thumbprint(k, ts->k[ts->n].kid, sizeof ts->k[0].kid);
    ts->n++;
    return 0;
}

static void token_set_free(token_set *ts)
{
    while (ts) {
        token_set *older = ts->older;
        for (int i = 0; i < ts->n; i++) EVP_PKEY_free(ts->k[i].key);
        free(ts);
        ts = older;
    }
}

/* The token keys of `spec` (kid=pem-file,...; NULL or empty: the
 * development key), read now; NULL (logged) when one is not a key. */
static token_set *token_set_load(const char *spec)
{
    token_set *ts = calloc(1, sizeof *ts);
    if (!ts) return NULL;
    int rc = 0;
    if (spec && *spec) {
        char *copy = strdup(spec), *save = NULL;
        rc = copy ? 0 : -1;
        for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && rc == 0;
             item = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(item, '=');
            if (!eq || eq == item) {
                cds_log(CDS_LOG_ERROR, "auth_keys", "CDS_TOKEN_KEYS: expected kid=pem-file");
                rc = -1;
                break;
            }
            *eq = 0;
            rc = add_token_key(ts, item, eq + 1);
        }
        free(copy);
    } else {
        char *pem = dev_secret("token-es256.pem", 1);
        rc = pem ? add_token_key(ts, NULL, pem) : -1;
        free(pem);
    }
    if (rc != 0 || ts->n == 0) {
        token_set_free(ts);
        return NULL;
    }
    return ts;
}

static int token_keys_reload(void)
{
    /* CDS_TOKEN_KEYS_FILE: the list itself may change (a new first key). */
    char *spec = NULL, msg[512];
    if (cds_opt_reread("CDS_TOKEN_KEYS", &spec, msg, sizeof msg) != 0) {
        cds_log(CDS_LOG_ERROR, "auth_keys", "%s", msg);
        return -1;
    }
    token_set *ts = token_set_load(spec ? spec : g_auth.token_keys);
    if (spec) {
        OPENSSL_cleanse(spec, strlen(spec));
        free(spec);
    }
    if (!ts) return -1;
    ts->older = atomic_load(&tokens);
    atomic_store(&tokens, ts);
    cds_log(CDS_LOG_INFO, "auth_keys", "token keys reloaded: %d, %s signs", ts->n, ts->k[0].kid);
    return 0;
}

/* A 32-byte key: configured (base64) or the development one in keys_dir. */
static int load_key32(const char *configured, const char *dev_name, const char *env,
                      unsigned char out[32])
{
    char *k = cds_secret_or_dev(configured, g_auth.keys_dir, dev_name, 0);
    unsigned char raw[32];
    int bad = !k || cds_b64_exact(k, raw, 32) != 0;
    if (k) {
        OPENSSL_cleanse(k, strlen(k));
        free(k);
    }
    if (bad) {
        cds_log(CDS_LOG_ERROR, "auth_keys", "%s must be 32 bytes in base64", env);
        return -1;
    }
    memcpy(out, raw, 32);
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

int cds_auth_keys_load(const cds_auth_config *c)
{
    g_auth = *c;
    token_set *ts = token_set_load(c->token_keys);
    if (!ts) return -1;
    token_set_free(atomic_exchange(&tokens, ts));
    cds_reload_register("token keys", token_keys_reload);
    const char *err = NULL;
    char *dk = NULL;
    if (!(c->data_keys && *c->data_keys)) {
        char *k = dev_secret("data-key", 0);
        if (!k) return -1;
        size_t n = strlen(k) + 8;
        dk = malloc(n);
        snprintf(dk, n, "dev1:%s", k);
        free(k);
    }
    ring = cds_keyring_parse(dk ? dk : c->data_keys, &err);
    if (dk) {
        OPENSSL_cleanse(dk, strlen(dk));
        free(dk);
    }
    if (!ring) {
        cds_log(CDS_LOG_ERROR, "auth_keys", "CDS_DATA_KEYS: %s", err ? err : "invalid");
        return -1;
    }
    if (load_key32(c->pid_hash_key, "pid-hash-key", "CDS_PID_HASH_KEY", pid_key) != 0 ||
        load_key32(c->refresh_key, "refresh-key", "CDS_REFRESH_KEY", refresh_key) != 0)
        return -1;
    return 0;
}

void cds_auth_keys_free(void)
{
    cds_reload_unregister(token_keys_reload);
    token_set_free(atomic_exchange(&tokens, NULL));
    cds_keyring_free(ring);
    ring = NULL;
    OPENSSL_cleanse(pid_key, sizeof pid_key);
    OPENSSL_cleanse(refresh_key, sizeof refresh_key);
}

EVP_PKEY *cds_auth_token_key(const char *kid)
{
    const token_set *ts = atomic_load(&tokens);
    if (!kid) return ts && ts->n ? ts->k[0].key : NULL;
    for (int i = 0; ts && i < ts->n; i++)
        if (strcmp(ts->k[i].kid, kid) == 0) return ts->k[i].key;
    return NULL;
}

EVP_PKEY *cds_auth_token_signer(const char **kid)
{
    const token_set *ts = atomic_load(&tokens); /* key and kid of one set */
    *kid = ts && ts->n ? ts->k[0].kid : "";
    return ts && ts->n ? ts->k[0].key : NULL;
}

char *cds_auth_seal(const char *plain, const char *aad)
{
    return plain ? cds_seal(ring, plain, strlen(plain), aad) : NULL;
}

char *cds_auth_open(const char *sealed, const char *aad)
{
    return sealed && *sealed ? cds_open(ring, sealed, aad, NULL) : NULL;
}

void cds_auth_pid_hash(const char *pid, char out[65])
{
    /* Only an OpenSSL internal failure makes an HMAC fail: never store a row
     * under an empty hash. */
    if (cds_keyed_hash(pid_key, sizeof pid_key, pid, strlen(pid), out) != 0) abort();
}

void cds_auth_refresh_successor(const char *parent, char out[65])
{
    /* Domain-separated from any other use of an HMAC over a token. */
    static const char label[] = "cds refresh successor v1\n";
    char data[sizeof label + 128];
    size_t ln = sizeof label - 1, pn = strnlen(parent, 128);
    memcpy(data, label, ln);
    memcpy(data + ln, parent, pn);
    if (cds_keyed_hash(refresh_key, sizeof refresh_key, data, ln + pn, out) != 0) abort();
}

void cds_auth_random_b64url(size_t nbytes, char *out, size_t cap)
{
    unsigned char raw[64];
    if (nbytes > sizeof raw || RAND_bytes(raw, (int)nbytes) != 1) abort();
    cds_b64url_encode(raw, nbytes, out, cap);
}

void cds_auth_sha256_b64url(const char *s, char *out, size_t cap)
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
    cds_b64url_encode(md, len, out, cap);
}
