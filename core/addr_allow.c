/* Source-address allow-lists (core/addr_allow.h): parsed on every check
 * with inet_pton, no state; lists are short (a provider's few ranges). */
#include "core/addr_allow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct addr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char b[16];
} addr;

static int parse_addr(const char *s, addr *a)
{
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, s, a->b) == 1) {
        a->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, a->b) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a->b, mapped, 12) == 0) {
            memmove(a->b, a->b + 12, 4);
            memset(a->b + 4, 0, 12);
            a->family = AF_INET;
        } else {
            a->family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

/* One entry "addr" or "addr/bits" of len bytes: 0 and *net, *bits, or -1. */
static int parse_entry(const char *s, size_t len, addr *net, int *bits)
{
    char buf[64];
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *slash = strchr(buf, '/');
    if (slash) *slash = 0;
    if (parse_addr(buf, net) != 0) return -1;
    int max = net->family == AF_INET ? 32 : 128;
    *bits = max;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 3) return -1;
        *bits = (int)strtol(p, NULL, 10);
        if (*bits > max) return -1;
    }
    return 0;
}

static int in_net(const addr *a, const addr *net, int bits)
{
    if (a->family != net->family) return 0;
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a->b, net->b, (size_t)full) != 0) return 0;
    if (rest == 0) return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a->b[full] & mask) == (net->b[full] & mask);
}

int cds_addr_list_valid(const char *list)
{
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        addr net;
        int bits;
        if (parse_entry(p, len, &net, &bits) != 0) return -1;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

int cds_addr_allowed(const char *list, const char *peer)
{
    if (!list || !*list) return 1;
    addr a;
    if (!peer || parse_addr(peer, &a) != 0) return 0;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        addr net;
        int bits;
        if (parse_entry(p, len, &net, &bits) == 0 && in_net(&a, &net, bits)) return 1;
        p = end ? end + 1 : p + len;
    }
    return 0;
}
