/* Source-address allow-lists for callbacks from providers that sign
 * nothing (a courier's status callback, an SMS gateway's report): a
 * comma-separated list of IPv4/IPv6 addresses and CIDR blocks
 * ("203.0.113.0/24,2001:db8::/32,198.51.100.7"). An empty or NULL list allows
 * every address: the list is an extra fence beside the secret in the
 * callback URL, not the only one. The peer is the client address the server
 * saw (after PROXY protocol v2, the real client), without a port. */
#ifndef CDS_ADDR_ALLOW_H
#define CDS_ADDR_ALLOW_H

/* 0 when the list is well formed (or empty); -1 otherwise. Check it once at
 * start-up so a typo stops the server instead of refusing every callback. */
int cds_addr_list_valid(const char *list);
/* 1 when peer is in the list (or the list is empty), else 0. An IPv4
 * address seen as IPv4-mapped IPv6 (::ffff:a.b.c.d) matches IPv4 entries. */
int cds_addr_allowed(const char *list, const char *peer);

#endif
