/* Configured secrets or development ones (see devkeys.h). A development key
 * is written to a temporary file and linked into place, so two processes
 * starting together end up with the same key, never two. */
#include "core/devkeys.h"
#include "core/files.h"
#include "core/jose.h"
#include "core/log.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *trimmed_file(const char *path)
{
    size_t n;
    char *buf = cds_read_file(path, 65536, &n);
    while (buf && n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
    return buf;
}

static int write_secret(const char *path, const char *text)
{
    char tmp[640]; /* path is at most 600 bytes (see below) */
    if (snprintf(tmp, sizeof tmp, "%.600s.%d.tmp", path, (int)getpid()) >= (int)sizeof tmp) return -1;
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fchmod(fileno(f), 0600);
    int ok = fputs(text, f) >= 0;
    if (fclose(f) != 0 || !ok) {
        unlink(tmp);
        return -1;
    }
    /* link() fails if another process made the key first: then theirs wins. */
    if (link(tmp, path) != 0 && errno != EEXIST) {
        unlink(tmp);
        return -1;
    }
    unlink(tmp);
    return 0;
}

static int g_forbidden;

void cds_devkeys_forbid(void)
{
    g_forbidden = 1;
}

int cds_devkeys_forbidden(void)
{
    return g_forbidden;
}

char *cds_secret_or_dev(const char *configured, const char *keys_dir, const char *name, int pem)
{
    if (configured && *configured) return strdup(configured);
    if (g_forbidden) {
        cds_log(CDS_LOG_ERROR, "dev_keys", "production: %s is not configured (no development key)", name);
        return NULL;
    }
    char path[600];
    if (cds_mkdir_p(keys_dir, 0700) != 0) {
        cds_log(CDS_LOG_ERROR, "dev_keys", "cannot create %s: %s", keys_dir, strerror(errno));
        return NULL;
    }
    snprintf(path, sizeof path, "%s/%s", keys_dir, name);
    char *s = trimmed_file(path);
    if (s) return s;
    char *fresh = NULL;
    if (pem) {
        EVP_PKEY *k = cds_pkey_generate(CDS_ALG_ES256);
        fresh = k ? cds_pkey_to_pem(k) : NULL;
        EVP_PKEY_free(k);
    } else {
        unsigned char raw[32];
        fresh = malloc(64);
        if (fresh && RAND_bytes(raw, sizeof raw) == 1) EVP_EncodeBlock((unsigned char *)fresh, raw, 32);
        else {
            free(fresh);
            fresh = NULL;
        }
        OPENSSL_cleanse(raw, sizeof raw);
    }
    if (!fresh || write_secret(path, fresh) != 0) {
        cds_log(CDS_LOG_ERROR, "dev_keys", "cannot write development key %s: %s", path, strerror(errno));
        free(fresh);
        return NULL;
    }
    OPENSSL_cleanse(fresh, strlen(fresh));
    free(fresh);
    cds_log(CDS_LOG_WARN, "dev_keys", "made development key %s (configure real keys in production)", path);
    return trimmed_file(path);
}

int cds_b64_exact(const char *b64, unsigned char *out, size_t len)
{
    size_t n = b64 ? strlen(b64) : 0;
    if (n != (len + 2) / 3 * 4) return -1;
    unsigned char *buf = malloc(n);
    if (!buf) return -1;
    int got = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
    int pad = (n >= 1 && b64[n - 1] == '=') + (n >= 2 && b64[n - 2] == '=');
    int ok = got >= 0 && (size_t)(got - pad) == len;
    if (ok) memcpy(out, buf, len);
    OPENSSL_cleanse(buf, n);
    free(buf);
    return ok ? 0 : -1;
}
