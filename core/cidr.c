/* CIDR allow-lists (see cidr.h): each entry is kept as 16 bytes (IPv4 as
 * IPv4-mapped IPv6) and a prefix length over those 128 bits, so one
 * comparison serves both families. */
#include "core/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 256

struct cds_cidr_list {
    size_t n;
    struct {
        unsigned char addr[16];
        int bits;
    } e[];
};

/* addr -> 16 bytes (IPv4 mapped); the family's width in bits, or 0. */
static int to16(const char *s, unsigned char out[16])
{
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, s, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return 32;
    }
    if (inet_pton(AF_INET6, s, &v6) == 1) {
        memcpy(out, &v6, 16);
        return 128;
    }
    return 0;
}

static int prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0) return 0;
    if (!rest) return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

cds_cidr_list *cds_cidr_parse(const char *spec, char *err, size_t cap)
{
    if (cap) err[0] = 0;
    cds_cidr_list *l = calloc(1, sizeof *l + MAX_ENTRIES * sizeof l->e[0]);
    if (!l) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    const char *p = spec ? spec : "";
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (!*p) break;
        size_t len = strcspn(p, " ,\t");
        char item[80];
        if (len >= sizeof item || l->n == MAX_ENTRIES) {
            snprintf(err, cap, "entry '%.*s' is too long, or more than %d entries",
                     (int)(len < 60 ? len : 60), p, MAX_ENTRIES);
            goto bad;
        }
        memcpy(item, p, len);
        item[len] = 0;
        p += len;
        char *slash = strchr(item, '/');
        if (slash) *slash = 0;
        int width = to16(item, l->e[l->n].addr);
        int bits = width;
        if (width && slash) {
            char *end = NULL;
            long b = strtol(slash + 1, &end, 10);
            bits = end && !*end && slash[1] && b >= 0 && b <= width ? (int)b : -1;
        }
        if (!width || bits < 0) {
            if (slash) *slash = '/';
            snprintf(err, cap, "'%s' is not an address or address/prefix", item);
            goto bad;
        }
        /* An IPv4 prefix counts from bit 96 of the mapped form. */
        l->e[l->n].bits = width == 32 ? 96 + bits : bits;
        l->n++;
    }
    if (l->n) return l;
bad:
    free(l);
    return NULL;
}

int cds_cidr_match(const cds_cidr_list *l, const char *addr)
{
    unsigned char a[16];
    if (!l || !addr || !to16(addr, a)) return 0;
    for (size_t i = 0; i < l->n; i++)
        if (prefix_equal(a, l->e[i].addr, l->e[i].bits)) return 1;
    return 0;
}

int cds_cidr_match_sa(const cds_cidr_list *l, const struct sockaddr *sa)
{
    unsigned char a[16];
    if (!l || !sa) return 0;
    if (sa->sa_family == AF_INET) {
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        return 0;
    }
    for (size_t i = 0; i < l->n; i++)
        if (prefix_equal(a, l->e[i].addr, l->e[i].bits)) return 1;
    return 0;
}

void cds_cidr_free(cds_cidr_list *l)
{
    free(l);
}
