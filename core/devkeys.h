/* Secrets from configuration, with a development fallback: when a secret is
 * not configured, one is made once in the development keys directory and
 * reused by every process of this checkout (like the development TLS
 * certificate), with a warning. Start-up code only. */
#ifndef CDS_DEVKEYS_H
#define CDS_DEVKEYS_H
#include <stddef.h>

/* `configured` when set and non-empty (copied), else the text of
 * keys_dir/name, made first if missing: 32 random bytes in base64 (pem=0) or
 * a P-256 private key in PEM (pem=1). malloc'ed; NULL on failure (logged). */
char *cds_secret_or_dev(const char *configured, const char *keys_dir, const char *name, int pem);
/* Production (CDS_ENV=production): from now on cds_secret_or_dev never
 * makes or reads a development key; an unconfigured secret is an error.
 * (The start-up checks refuse that case first; this is the second lock.) */
void cds_devkeys_forbid(void);
/* 1 after cds_devkeys_forbid: production, where start-up code refuses what
 * points at a stand-in (e.g. a key file's own URLs, cds_url_problem). */
int cds_devkeys_forbidden(void);
/* Decodes standard base64 of exactly `len` bytes into out; 0 or -1. */
int cds_b64_exact(const char *b64, unsigned char *out, size_t len);

#endif
