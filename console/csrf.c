/* CSRF tokens of the console's forms. A session's token is the HMAC-SHA256
 * of its login session id with CDS_CONSOLE_KEY (the same on every node), so
 * nothing is stored: every form of the session carries it in a hidden field
 * and every POST is checked against the session's cookie before anything
 * else happens. A page of another site can neither read it (no CORS, and
 * the cookie is SameSite=Strict besides) nor compute it.
 *
 * The login form has no session yet: the browser gets a random nonce in a
 * cookie and the form the HMAC of it (double submit, signed), so a login
 * cannot be posted from elsewhere either. */
#include "internal.h"
#include "core/devkeys.h"
#include "core/digest.h"
#include "core/jose.h"
#include "core/log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char key[32];

int cn_csrf_init(const char *configured_key, const char *keys_dir)
{
    char *b64 = cds_secret_or_dev(configured_key, keys_dir, "console-key", 0);
    int rc = b64 ? cds_b64_exact(b64, key, sizeof key) : -1;
    if (b64) {
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
    }
    if (rc != 0)
        cds_log(CDS_LOG_ERROR, "console_key", "%s must be 32 bytes in base64 (44 characters)",
                configured_key && *configured_key ? "CDS_CONSOLE_KEY"
                                                  : "the development console-key file");
    return rc;
}

void cn_csrf_token(const char *purpose, const char *id, char out[65])
{
    unsigned char mac[32];
    const cds_digest_part parts[] = {{purpose, strlen(purpose)}, {"\n", 1}, {id, strlen(id)}};
    cds_hmac_sha256_parts(key, sizeof key, parts, 3, mac);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

int cn_csrf_ok(cds_req *r, const char *purpose, const char *id)
{
    const char *given = cds_req_form(r, "csrf");
    if (!given || strlen(given) != 64 || !id || !*id) return 0;
    char want[65];
    cn_csrf_token(purpose, id, want);
    return cds_ct_equal(given, want, 64);
}
