/* PROXY protocol v2 parsing and trusted networks (see proxy.h). */
#include "core/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const unsigned char cds_proxy_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                            0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static int parse_one(const char *s, size_t n, cds_cidr *c)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *slash = strchr(buf, '/');
    int bits = -1;
    if (slash) {
        *slash = 0;
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || b < 0 || b > 128) return -1;
        bits = (int)b;
    }
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        if (bits > 32) return -1;
        c->bits = bits < 0 ? 32 : bits;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        c->bits = bits < 0 ? 128 : bits;
    } else {
        return -1;
    }
    return 0;
}

int cds_cidr_list_parse(const char *s, cds_cidr *out, int max, char *err, size_t cap)
{
    int n = 0;
    for (const char *p = s ? s : ""; *p;) {
        p += strspn(p, " ,");
        if (!*p) break;
        size_t len = strcspn(p, " ,");
        if (n >= max) {
            snprintf(err, cap, "more than %d trusted networks", max);
            return -1;
        }
        if (parse_one(p, len, &out[n]) != 0) {
            snprintf(err, cap, "'%.*s' is not an address or CIDR network", (int)(len > 64 ? 64 : len), p);
            return -1;
        }
        n++;
        p += len;
    }
    return n;
}

static int prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0) return 0;
    if (!rest) return 1;
    unsigned char mask = (unsigned char)(0xFF << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

int cds_cidr_match(const cds_cidr *list, int n, const struct sockaddr *sa)
{
    unsigned char a[16];
    int fam;
    if (sa->sa_family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        fam = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(a, a6->s6_addr + 12, 4);
            fam = AF_INET;
        } else {
            memcpy(a, a6->s6_addr, 16);
            fam = AF_INET6;
        }
    } else {
        return 0;
    }
    for (int i = 0; i < n; i++)
        if (list[i].family == fam && prefix_eq(a, list[i].addr, list[i].bits)) return 1;
    return 0;
}

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
