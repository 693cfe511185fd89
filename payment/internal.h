/* Shared by the files of payment/ only. Each file registers its own
 * prepared statements from its *_init function, called by cds_payment_init. */
#ifndef CDS_PAYMENT_INTERNAL_H
#define CDS_PAYMENT_INTERNAL_H
#include "payment/payment.h"

#include <jansson.h>
#include <libpq-fe.h>

extern cds_payment_config g_payment;

int pm_intent_init(void);
int pm_qr_init(void);
int pm_webhook_init(void);
int pm_reconcile_init(void);


/* The VietQR payload that pays `remaining` VND of an intent into the
 * account, with the reference as purpose (a dynamic code). 0, or -1 when
 * the stored account cannot be encoded (logged). */
int pm_vietqr_payload(const char *bin, const char *account, long long remaining,
                      const char *reference, char *out, size_t cap);
/* The payment JSON of the SQL functions (text) with what C adds: the VietQR
 * payload and the links of its images, while money remains to be paid.
 * New reference, or NULL when the text is not a JSON object. */
json_t *pm_payment_view(const char *payment_json);

#endif
