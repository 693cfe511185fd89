/* Source-address allow-lists: "203.113.131.0/24, 2001:db8::/32, 1.2.3.4"
 * (IPv4 and IPv6, a bare address is a /32 or /128), matched against the
 * textual peer address the server records (cds_req_peer). An IPv4-mapped
 * IPv6 peer (::ffff:a.b.c.d) matches the IPv4 entries. */
#ifndef CDS_CIDR_H
#define CDS_CIDR_H
#include <stddef.h>

typedef struct cds_cidr_list cds_cidr_list;

/* NULL for an empty spec (err "") or a malformed one (err says which entry). */
cds_cidr_list *cds_cidr_parse(const char *spec, char *err, size_t cap);
/* 1 when addr is inside one of the ranges; 0 otherwise (or unparsable). */
int cds_cidr_match(const cds_cidr_list *l, const char *addr);
/* The same for a socket address (AF_INET/AF_INET6), as accept() gives it:
 * the listener's check of a load balancer, without formatting the address. */
struct sockaddr;
int cds_cidr_match_sa(const cds_cidr_list *l, const struct sockaddr *sa);
void cds_cidr_free(cds_cidr_list *l);

#endif
