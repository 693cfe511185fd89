/* Shared by the files of payment/ only. Each file registers its own
 * prepared statements from its *_init function, called by cds_payment_init. */
#ifndef CDS_PAYMENT_INTERNAL_H
#define CDS_PAYMENT_INTERNAL_H
#include "payment/payment.h"
#include "core/http_client.h"

#include <jansson.h>
#include <libpq-fe.h>

extern cds_payment_config g_payment;

int pm_intent_init(void);
int pm_qr_init(void);
int pm_webhook_init(void);
int pm_reconcile_init(void);
int pm_payos_link_init(void);
/* payos_cancel.c: the payOS cancel outbox (payos_links rows cancel_due). */
int pm_payos_cancel_init(const char *db_conninfo);
void pm_payos_cancel_shutdown(void);
void pm_payos_cancel_worker_start(cds_worker *w);
void pm_payos_cancel_worker_stop(cds_worker *w);
/* 1 when payOS links can be made: client id, API key, checksum key, return
 * and cancel URLs configured. */
int pm_payos_configured(void);


/* The VietQR payload that pays `remaining` VND of an intent into the
 * account, with the reference as purpose (a dynamic code). 0, or -1 when
 * the stored account cannot be encoded (logged). */
int pm_vietqr_payload(const char *bin, const char *account, long long remaining,
                      const char *reference, char *out, size_t cap);
/* The payment JSON of the SQL functions (text) with what C adds: the VietQR
 * payload and the links of its images, while money remains to be paid.
 * New reference, or NULL when the text is not a JSON object. */
json_t *pm_payment_view(const char *payment_json);

/* payos_link.c: 1 when the payment view is a payOS intent that is open and
 * has no link yet; pm_payos_open makes one and answers `status` with the
 * payment (takes `payment`). */
int pm_payos_wanted(const json_t *payment);
void pm_payos_open(cds_req *r, int status, json_t *payment);

/* payos.c: payOS's payment-request API, the pure part. An outgoing call as
 * the adapter builds it. */
#define PM_CALL_HEADERS 4
typedef struct pm_call {
    const char *method;
    char url[1024];
    char *body; /* malloc, NULL for a GET */
    size_t body_len;
    char hbuf[PM_CALL_HEADERS][600];
    const char *headers[PM_CALL_HEADERS + 1];
    int nheaders;
} pm_call;
void pm_call_clear(pm_call *c);

typedef struct pm_payos_link {
    long long order_code, amount, expires_epoch;
    const char *description;
} pm_payos_link;

enum { PM_PAYOS_CREATE = 1, PM_PAYOS_LINK = 2, PM_PAYOS_CONFIRM = 3 }; /* answer kinds */
enum { PM_PAYOS_OK = 0, PM_PAYOS_DUPLICATE, PM_PAYOS_REFUSED, PM_PAYOS_RETRY };
typedef struct pm_payos_answer {
    int outcome;
    char code[16], desc[200];
    char link_id[65], status[16];
    char checkout_url[512], qr_code[512];
    long long order_code, amount;
    long retry_after_ms;
    long http_status; /* 0: no answer */
    char error[256];
} pm_payos_answer;

/* The payment request's signature (64 hex + NUL). 0 or -1. */
int pm_payos_request_signature(long long amount, const char *cancel_url, const char *description,
                               long long order_code, const char *return_url, const char *key,
                               char out[65]);
int pm_payos_build_create(const pm_payos_link *l, pm_call *c);
int pm_payos_build_get(long long order_code, pm_call *c);
int pm_payos_build_cancel(long long order_code, const char *reason, pm_call *c);
int pm_payos_build_confirm(const char *webhook_url, pm_call *c);
/* Reads an answer of `kind` into a; returns a->outcome. */
int pm_payos_parse(const cds_http_response *resp, int kind, pm_payos_answer *a);

#endif
