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

/* n digits at *p, advanced; -1 when not all digits. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9') return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* YYYY-MM-DD[ T]HH:MM:SS[.f{1,6}][Z|(+|-)HH[:MM[:SS]]], a date that exists. */
int cds_cursor_time_ok(const char *p)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = digits(&p, 4);
    if (y < 1 || *p++ != '-') return 0;
    int mo = digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-') return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int d = digits(&p, 2);
    if (d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || (*p != ' ' && *p != 'T')) return 0;
    p++;
    int h = digits(&p, 2);
    if (h < 0 || h > 23 || *p++ != ':') return 0;
    int mi = digits(&p, 2);
    if (mi < 0 || mi > 59 || *p++ != ':') return 0;
    int s = digits(&p, 2);
    if (s < 0 || s > 59) return 0;
    if (*p == '.') {
        int nf = 0;
        for (p++; *p >= '0' && *p <= '9'; p++) nf++;
        if (nf < 1 || nf > 6) return 0;
    }
    if (*p == 'Z') return p[1] == 0;
    if (*p == 0) return 1;
    if (*p != '+' && *p != '-') return 0;
    p++;
    int oh = digits(&p, 2);
    if (oh < 0 || oh > 15) return 0;
    for (int part = 0; part < 2 && *p == ':'; part++) {
        p++;
        int v = digits(&p, 2);
        if (v < 0 || v > 59) return 0;
    }
    return *p == 0;
}
