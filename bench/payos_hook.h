/* The payOS webhook a citizen's bank transfer would cause, built and signed
 * as payOS does: shared by cds-bench-webhooks (the payments row of
 * bench/run) and cds-ha-load (scripts/ha-drill). */
#ifndef CDS_BENCH_PAYOS_HOOK_H
#define CDS_BENCH_PAYOS_HOOK_H
#include <jansson.h>

/* `intent` is the answer of POST /v1/dossiers/{id}/payment. The webhook
 * body paying it in full: data.amount = amount_vnd, data.description = the
 * VietQR payload's purpose (62/08; the reference when there is none),
 * accountNumber = the payload's account, reference = bankref (the bank's
 * transaction reference), paymentLinkId = link, orderCode, dated `when`
 * ("YYYY-MM-DD HH:MM:SS", Vietnam time); signed with checksum key `key`
 * (payment/webhook.h). The intent's reference goes to ref (cap bytes).
 * malloc'd; NULL when the intent lacks a field or signing fails. */
char *bench_payos_webhook(json_t *intent, long long order_code, const char *bankref,
                          const char *link, const char *when, const char *key, char *ref,
                          size_t cap);

#endif
