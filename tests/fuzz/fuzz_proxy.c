/* libFuzzer target: PROXY protocol v2 headers (core/proxy.h), the first
 * bytes a trusted balancer sends, fed whole and in every prefix the way the
 * server reads them (16 bytes, then the announced length); and the trusted
 * networks list as text. */
#include "core/cidr.h"
#include "core/proxy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char peer[64];
    size_t need = 16, have = 0;
    for (int first = 1;; first = 0) {
        size_t n = need < size ? need : size;
        if (!first && n <= have) break; /* the input ends before the header does */
        have = n;
        int rc = cds_proxy_v2_parse(data, have, &need, peer, sizeof peer);
        if (rc != CDS_PROXY_MORE) {
            if (rc > 0 && ((size_t)rc != have || strlen(peer) >= sizeof peer)) abort();
            break;
        }
        if (need <= have || need > 16 + CDS_PROXY_V2_MAX_LEN) abort();
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    char err[128];
    cds_cidr_free(cds_cidr_parse(s, err, sizeof err));
    free(s);
    return 0;
}
