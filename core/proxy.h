/* PROXY protocol version 2 (the binary header a load balancer such as
 * HAProxy's `send-proxy-v2` puts before the client's first byte) and the
 * list of source networks trusted to send it.
 *
 * Spec: "The PROXY protocol, Versions 1 & 2", haproxy.org/download/2.9/doc/
 * proxy-protocol.txt, section 2.2 (binary header format). A 16-byte fixed
 * part: the 12-byte signature, version/command (0x21 PROXY, 0x20 LOCAL),
 * family/transport (0x11 TCP over IPv4, 0x21 TCP over IPv6, ...), then the
 * big-endian length of what follows: the addresses (IPv4 12 bytes: src,
 * dst, src port, dst port; IPv6 36 bytes) and optional TLVs, ignored here.
 *
 * This file only parses bytes and matches addresses; core/server.c reads the
 * header off the socket before anything else (before the TLS ClientHello). */
#ifndef CDS_PROXY_H
#define CDS_PROXY_H
#include <stddef.h>
#include <sys/socket.h>

#define CDS_PROXY_V2_FIXED 16
#define CDS_PROXY_V2_MAX_LEN 4096 /* addresses + TLVs accepted after the fixed part */

extern const unsigned char cds_proxy_v2_sig[12];

enum { CDS_PROXY_MORE = 0, CDS_PROXY_BAD = -1 };
/* Parses the first n bytes of a connection. Returns CDS_PROXY_MORE with
 * *need set to the total header length known so far (16 until the fixed part
 * is in), CDS_PROXY_BAD when the bytes are not a valid v2 header (wrong
 * signature, version, command, a length past CDS_PROXY_V2_MAX_LEN or too
 * short for its family), else the header's total length (> 0). On success
 * `peer` gets the source address as text for PROXY over TCP/IPv4 or IPv6,
 * and "" for LOCAL (a health check of the balancer itself) or an
 * unspecified family: the caller then keeps the socket's own peer. */
int cds_proxy_v2_parse(const unsigned char *p, size_t n, size_t *need, char *peer, size_t cap);

#endif
