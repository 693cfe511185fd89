/* PROXY protocol v2 parsing (see proxy.h). */
#include "core/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const unsigned char cds_proxy_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                            0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

int cds_proxy_v2_parse(const unsigned char *p, size_t n, size_t *need, char *peer, size_t cap)
{
    size_t cmp = n < 12 ? n : 12;
    if (memcmp(p, cds_proxy_v2_sig, cmp) != 0) return CDS_PROXY_BAD;
    *need = CDS_PROXY_V2_FIXED;
    if (n < CDS_PROXY_V2_FIXED) return CDS_PROXY_MORE;
    unsigned ver = p[12] >> 4, cmd = p[12] & 15, fam = p[13] >> 4, proto = p[13] & 15;
    size_t len = ((size_t)p[14] << 8) | p[15];
    if (ver != 2 || cmd > 1 || len > CDS_PROXY_V2_MAX_LEN) return CDS_PROXY_BAD;
    *need = CDS_PROXY_V2_FIXED + len;
    if (n < *need) return CDS_PROXY_MORE;
    const unsigned char *a = p + CDS_PROXY_V2_FIXED;
    if (cap) peer[0] = 0;
    /* LOCAL: the balancer speaks for itself (health checks); the addresses,
     * if any, are to be ignored (spec 2.2, "the receiver must accept this
     * connection as valid and must use the real connection endpoints"). */
    if (cmd == 0) return (int)*need;
    if (fam == 1) { /* AF_INET: src(4) dst(4) sport(2) dport(2) */
        if (len < 12 || (proto != 1 && proto != 2)) return proto == 0 ? (int)*need : CDS_PROXY_BAD;
        if (!inet_ntop(AF_INET, a, peer, (socklen_t)cap)) return CDS_PROXY_BAD;
    } else if (fam == 2) { /* AF_INET6: src(16) dst(16) sport(2) dport(2) */
        if (len < 36 || (proto != 1 && proto != 2)) return proto == 0 ? (int)*need : CDS_PROXY_BAD;
        if (!inet_ntop(AF_INET6, a, peer, (socklen_t)cap)) return CDS_PROXY_BAD;
    } else if (fam != 0) {
        /* AF_UNIX or unknown: no client address to take; keep the socket's. */
        if (fam != 3) return CDS_PROXY_BAD;
    }
    return (int)*need;
}
