/* The payOS stand-in's links, for the stand-in bank in the same process
 * (sim/payos.c): a transfer paying a link's qrCode is reported under that
 * link, as payOS matches a transfer to its link. */
#ifndef CDS_SIM_PAYOS_H
#define CDS_SIM_PAYOS_H
#include <stddef.h>

/* The orderCode and paymentLinkId of the PENDING link whose qrCode is
 * `qr`; 0, or -1 when no such link. */
int sim_payos_link_of_qr(const char *qr, long long *order_code, char *link_id, size_t cap);
/* The transfer of `amount` into link `order_code` was made: PAID when it
 * covers the link, UNDERPAID otherwise. */
void sim_payos_paid(long long order_code, long long amount);

#endif
