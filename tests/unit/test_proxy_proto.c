/* core/proxy: PROXY protocol v2 headers built here from the spec ("The PROXY
 * protocol", haproxy.org/download/2.9/doc/proxy-protocol.txt, 2.2: the
 * 12-byte signature, 0x21 PROXY / 0x20 LOCAL, 0x11 TCP4 / 0x21 TCP6 / 0x31
 * UNIX stream, big-endian length, addresses, TLVs) and the trusted networks
 * list. Every prefix of a valid header asks for more; the answer grows from
 * 16 to the whole length and never past it; bad signature, version 1 in the
 * binary frame, command 2, a length over the cap or too short for its
 * family are refused. */
#include "core/cidr.h"
#include "core/proxy.h"
#include "tests/lib/t.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const unsigned char SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static size_t v4(unsigned char *b, unsigned vc, unsigned fam, unsigned len)
{
    memcpy(b, SIG, 12);
    b[12] = (unsigned char)vc;
    b[13] = (unsigned char)fam;
    b[14] = (unsigned char)(len >> 8);
    b[15] = (unsigned char)len;
    memset(b + 16, 0, len);
    if (len >= 12) {
        inet_pton(AF_INET, "192.0.2.10", b + 16);
        inet_pton(AF_INET, "192.0.2.1", b + 20);
    }
    return 16 + len;
}

int main(void)
{
    unsigned char b[16 + 5000];
    char peer[64];
    size_t need = 0;

    size_t n = v4(b, 0x21, 0x11, 12);
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), 28);
    CHECK_STR(peer, "192.0.2.10");
    for (size_t k = 0; k < n; k++) {
        int rc = cds_proxy_v2_parse(b, k, &need, peer, sizeof peer);
        CHECK_INT(rc, CDS_PROXY_MORE);
        CHECK(need == (k < 16 ? 16 : 28));
    }
    /* TLVs after the addresses are skipped, counted in the length. */
    n = v4(b, 0x21, 0x11, 12 + 7);
    b[28] = 0x02, b[29] = 0, b[30] = 4;
    memcpy(b + 31, "a.vn", 4);
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), 35);
    CHECK_STR(peer, "192.0.2.10");
    /* IPv6. */
    memcpy(b, SIG, 12);
    b[12] = 0x21, b[13] = 0x21, b[14] = 0, b[15] = 36;
    inet_pton(AF_INET6, "2001:db8::7", b + 16);
    inet_pton(AF_INET6, "2001:db8::1", b + 32);
    memset(b + 48, 0, 4);
    CHECK_INT(cds_proxy_v2_parse(b, 52, &need, peer, sizeof peer), 52);
    CHECK_STR(peer, "2001:db8::7");
    /* LOCAL: valid, no client address (the socket's stays). */
    n = v4(b, 0x20, 0x00, 0);
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), 16);
    CHECK_STR(peer, "");
    n = v4(b, 0x20, 0x11, 12); /* LOCAL with addresses: ignored */
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), 28);
    CHECK_STR(peer, "");
    /* UNIX stream: accepted, no address taken. */
    n = v4(b, 0x21, 0x31, 216);
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), 232);
    CHECK_STR(peer, "");

    /* Refusals. */
    n = v4(b, 0x21, 0x11, 12);
    b[3] ^= 1;
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), CDS_PROXY_BAD);
    CHECK_INT(cds_proxy_v2_parse(b, 4, &need, peer, sizeof peer), CDS_PROXY_BAD);
    CHECK_INT(cds_proxy_v2_parse((const unsigned char *)"GET / HTTP/1.1\r\n", 16, &need, peer,
                                 sizeof peer),
              CDS_PROXY_BAD);
    CHECK_INT(cds_proxy_v2_parse((const unsigned char *)"PROXY TCP4 1.2.3.4", 18, &need, peer,
                                 sizeof peer),
              CDS_PROXY_BAD);
    n = v4(b, 0x11, 0x11, 12); /* version 1 */
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), CDS_PROXY_BAD);
    n = v4(b, 0x22, 0x11, 12); /* command 2 */
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), CDS_PROXY_BAD);
    n = v4(b, 0x21, 0x11, 8); /* too short for IPv4 */
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), CDS_PROXY_BAD);
    n = v4(b, 0x21, 0x21, 20); /* too short for IPv6 */
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), CDS_PROXY_BAD);
    n = v4(b, 0x21, 0x41, 12); /* no such family */
    CHECK_INT(cds_proxy_v2_parse(b, n, &need, peer, sizeof peer), CDS_PROXY_BAD);
    b[14] = (CDS_PROXY_V2_MAX_LEN + 1) >> 8; /* past the cap: refused before it is read */
    b[15] = (CDS_PROXY_V2_MAX_LEN + 1) & 255;
    b[13] = 0x11;
    CHECK_INT(cds_proxy_v2_parse(b, 16, &need, peer, sizeof peer), CDS_PROXY_BAD);

    /* Trusted networks (core/cidr.h, matched on the accepted socket's
     * address). */
    char err[128];
    cds_cidr_list *l = cds_cidr_parse("10.0.0.0/8, 192.0.2.7,2001:db8::/32", err, sizeof err);
    CHECK(l != NULL);
    cds_cidr_free(l);
    CHECK(cds_cidr_parse("", err, sizeof err) == NULL && err[0] == 0);
    const char *bad[] = {"10.0.0.0/33", "10.0.0.1/", "host.example", "10.0.0.0/8x", "::1/129",
                         "1.2.3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l = cds_cidr_parse(bad[i], err, sizeof err);
        CHECK(l == NULL && err[0]);
        cds_cidr_free(l);
    }
    l = cds_cidr_parse("10.0.0.0/8,192.0.2.7,2001:db8::/32,172.16.0.0/12", err, sizeof err);
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    const struct {
        const char *ip;
        int in;
    } cases[] = {{"10.200.3.4", 1}, {"11.0.0.1", 0},     {"192.0.2.7", 1},
                 {"192.0.2.8", 0},  {"172.31.255.255", 1}, {"172.32.0.0", 0},
                 {"2001:db8:1::5", 1}, {"2001:db9::1", 0}, {"::ffff:10.1.2.3", 1},
                 {"::ffff:11.1.2.3", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct sockaddr *sa;
        if (strchr(cases[i].ip, ':')) {
            inet_pton(AF_INET6, cases[i].ip, &a6.sin6_addr);
            sa = (const struct sockaddr *)&a6;
        } else {
            inet_pton(AF_INET, cases[i].ip, &a4.sin_addr);
            sa = (const struct sockaddr *)&a4;
        }
        if (cds_cidr_match_sa(l, sa) != cases[i].in) fprintf(stderr, "%s\n", cases[i].ip);
        CHECK_INT(cds_cidr_match_sa(l, sa), cases[i].in);
        CHECK_INT(cds_cidr_match(l, cases[i].ip), cases[i].in);
    }
    cds_cidr_free(l);
    return t_done();
}
