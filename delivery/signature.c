/* The carriers' webhook signature: HMAC-SHA256 with the carrier's secret over
 * the timestamp, a dot and the body bytes exactly as received, sent in hex
 * with the timestamp (Unix seconds) in two headers an adapter names. Checked
 * in constant time, within a window around our clock (5 minutes by default),
 * so a captured call cannot be replayed later; inside the window a replay is
 * a duplicate event id and changes nothing. */
#include "internal.h"
#include "core/hmac_auth.h"
#include "core/jose.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dl_sign(const char *secret, const char *timestamp, const void *body, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mlen = 0;
    size_t tl = strlen(timestamp);
    unsigned char *msg = malloc(tl + 1 + len + 1);
    if (!msg) abort();
    memcpy(msg, timestamp, tl);
    msg[tl] = '.';
    if (len) memcpy(msg + tl + 1, body, len);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + len, md, &mlen);
    free(msg);
    for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int dl_sig_check(const char *secret, const char *timestamp, const char *sig, const void *body,
                 size_t len, time_t now, int window_s)
{
    if (!timestamp || !sig) return CDS_HMAC_MISSING;
    size_t tl = strlen(timestamp);
    if (tl == 0 || tl > 12 || strspn(timestamp, "0123456789") != tl) return CDS_HMAC_MISSING;
    if (strncmp(sig, "sha256=", 7) == 0) sig += 7;
    if (strlen(sig) != 64 || strspn(sig, "0123456789abcdefABCDEF") != 64) return CDS_HMAC_MISSING;
    if (!secret) return CDS_HMAC_UNKNOWN;
    long long ts = strtoll(timestamp, NULL, 10);
    if (ts < (long long)now - window_s || ts > (long long)now + window_s) return CDS_HMAC_STALE;
    char want[65], given[65];
    dl_sign(secret, timestamp, body, len, want);
    for (int i = 0; i < 64; i++) given[i] = (char)((sig[i] >= 'A' && sig[i] <= 'F') ? sig[i] + 32 : sig[i]);
    given[64] = 0;
    return cds_ct_equal(want, given, 64) ? CDS_HMAC_OK : CDS_HMAC_BAD;
}
