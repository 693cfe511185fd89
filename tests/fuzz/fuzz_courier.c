/* libFuzzer target: what a carrier sends us, through the VNPost and GHN
 * adapters (delivery/carrier_vnpost.c, carrier_ghn.c) and the webhook
 * signature check (delivery/signature.c), one input split by its first byte:
 *   0 mod 4  the rest is a VNPost webhook or tracking body: parse_events,
 *         then every event handed out must be well formed (a known status,
 *         an event id, a tracking number, an RFC 3339 time, a proof of
 *         delivery on delivered and only there, cod -1 or in range);
 *   2 mod 4  the same through GHN's adapter (a callback or a detail
 *         answer): no proof of delivery ever, and a call taken without a
 *         status (1) hands out no event;
 *   odd   the rest is "timestamp\nsignature\nbody": dl_sig_check must not
 *         accept it unless it is the signature dl_sign makes, and what
 *         dl_sign makes it must accept. */
#include "delivery/internal.h"
#include "core/hmac_auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "fuzz-courier-secret-0123456789"
#define NOW 1795000000

static int known(const char *s)
{
    for (int i = 0; s && i < CDS_SHIPMENT_STATUS_COUNT; i++)
        if (strcmp(s, cds_shipment_statuses[i]) == 0) return 1;
    return 0;
}

static void events(const dl_carrier *c, const uint8_t *d, size_t n)
{
    dl_event ev[8];
    size_t got = 99;
    char err[300] = "";
    int rc = c->parse_events((const char *)d, n, ev, 8, &got, err, sizeof err);
    if (rc == 1) {
        if (got != 0) abort();
        return;
    }
    if (rc != 0) {
        if (got != 0 || !err[0]) abort();
        return;
    }
    if (got > 8) abort();
    for (size_t i = 0; i < got; i++) {
        dl_event *e = &ev[i];
        if (!known(e->status) || !e->event_id[0] || strlen(e->tracking) < 4 ||
            !dl_rfc3339(e->occurred_at) || e->cod < -1 || e->cod > 999999999999LL)
            abort();
        if (c == &dl_vnpost && (strcmp(e->status, "delivered") == 0) != (e->pod != NULL)) abort();
        if (c == &dl_ghn && e->pod) abort();
        dl_event_clear(e);
    }
}

static void signature(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) return;
    memcpy(s, d, n);
    s[n] = 0;
    char *nl1 = memchr(s, '\n', n);
    char *nl2 = nl1 ? memchr(nl1 + 1, '\n', n - (size_t)(nl1 + 1 - s)) : NULL;
    if (nl1 && nl2) {
        *nl1 = 0;
        *nl2 = 0;
        const char *ts = s, *sig = nl1 + 1, *body = nl2 + 1;
        size_t blen = n - (size_t)(body - s);
        int rc = dl_sig_check(SECRET, ts, sig, body, blen, NOW, 300);
        if (rc == CDS_HMAC_OK) {
            char want[65];
            dl_sign(SECRET, ts, body, blen, want);
            const char *g = strncmp(sig, "sha256=", 7) == 0 ? sig + 7 : sig;
            if (strncasecmp(g, want, 64) != 0) abort();
        }
        char good[65];
        dl_sign(SECRET, "1795000000", body, blen, good);
        if (dl_sig_check(SECRET, "1795000000", good, body, blen, NOW, 300) != CDS_HMAC_OK) abort();
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536) return 0;
    if (data[0] % 4 == 0) events(&dl_vnpost, data + 1, size - 1);
    else if (data[0] % 4 == 2) events(&dl_ghn, data + 1, size - 1);
    else signature(data + 1, size - 1);
    return 0;
}
