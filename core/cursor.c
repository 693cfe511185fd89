/* Signed pagination cursors (see cursor.h). */
#include "core/cursor.h"
#include "core/digest.h"
#include "core/jose.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define TAG_LEN 12 /* 96 bits: forging one is out of reach */

static unsigned char key[32];

void cds_cursor_set_key(const unsigned char k[32])
{
    memcpy(key, k, sizeof key);
}

static void tag(const char *pos, size_t n, unsigned char out[32])
{
    cds_hmac_sha256(key, sizeof key, pos, n, out);
}

int cds_cursor_encode(const char *position, char *out, size_t cap)
{
    size_t n = strlen(position);
    unsigned char buf[256 + TAG_LEN], t[32];
    if (n > 256) return -1;
    memcpy(buf, position, n);
    tag(position, n, t);
    memcpy(buf + n, t, TAG_LEN);
    return cds_b64url_encode(buf, n + TAG_LEN, out, cap) ? 0 : -1;
}

int cds_cursor_decode(const char *cursor, char *out, size_t cap)
{
    unsigned char buf[256 + TAG_LEN], t[32];
    size_t n;
    size_t clen = strlen(cursor);
    if (clen == 0 || clen > 400 ||
        cds_b64url_decode(cursor, clen, buf, sizeof buf, &n) != 0 || n <= TAG_LEN)
        return -1;
    n -= TAG_LEN;
    tag((const char *)buf, n, t);
    if (!cds_ct_equal(buf + n, t, TAG_LEN) || n + 1 > cap || memchr(buf, 0, n)) return -1;
    memcpy(out, buf, n);
    out[n] = 0;
    return 0;
}
