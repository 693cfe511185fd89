/* Shared by the files of delivery/ only.
 *
 * A carrier is an adapter (dl_carrier): how to book, how to read its answer,
 * how its webhooks are signed and what they say, how to ask its tracking
 * API. carrier_vnpost.c is the VNPost/EMS-style one (its contract unverified:
 * see its header), carrier_ghn.c is GHN's (from GHN's public API
 * documentation); a new carrier is a new file with its own dl_carrier and
 * one line in carriers.c. Which carrier books a shipment is the agency's
 * (agencies.carrier, 0020_carrier_per_agency.sql) or CDS_DELIVERY_CARRIER. */
#ifndef CDS_DELIVERY_INTERNAL_H
#define CDS_DELIVERY_INTERNAL_H
#include "delivery/delivery.h"
#include "core/db.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/outbox.h"

#include <jansson.h>
#include <stddef.h>
#include <time.h>

extern cds_delivery_config g_delivery;
/* CDS_GHN_CALLBACK_ALLOW parsed at start; NULL: callbacks from any address */
extern struct cds_cidr_list *dl_ghn_allow;

/* One carrier event, normalized. */
typedef struct dl_event {
    char event_id[129];
    char tracking[48];
    const char *status;   /* one of cds_shipment_statuses */
    char raw_code[33];
    char raw_reason[301];
    char location[201];
    char occurred_at[40]; /* RFC 3339 with offset */
    char *pod;            /* JSON text (malloc) or NULL: proof of delivery */
    long long cod;        /* cash collected, -1 when not said */
} dl_event;
void dl_event_clear(dl_event *e);

/* An outgoing request an adapter builds (strings malloc'd; dl_http_clear). */
#define DL_HTTP_MAX_HEADERS 8
typedef struct dl_http {
    const char *method;
    char *url;
    char *headers[DL_HTTP_MAX_HEADERS + 1]; /* NULL-terminated */
    char *body;
    size_t body_len;
} dl_http;
void dl_http_clear(dl_http *h);

/* DL_LOOKUP: the carrier refused the booking in a way that may mean "that
 * client order code exists already" (a booking resent after a crash or a
 * lost answer): the booking asks for the order by our shipment id
 * (lookup_request) before calling it a refusal. */
enum { DL_BOOKED = 0, DL_RETRY = 1, DL_FAILED = 2, DL_LOOKUP = 3 };

/* How a carrier's status callbacks are authenticated. */
enum {
    DL_AUTH_HMAC = 0,      /* signed: timestamp and HMAC headers (signature.c) */
    DL_AUTH_URL_TOKEN = 1, /* unsigned by the carrier: a secret token in the
                            * callback URL we register, plus an optional
                            * source-address allow-list */
};
/* webhook_verify's answer when the caller's address is not allowed. */
#define DL_SOURCE_REFUSED (-100)

typedef struct dl_carrier {
    const char *name;    /* "vnpost": shipments.carrier, the webhook route, the secret's id */
    const char *display; /* "VNPost" */
    int auth;            /* DL_AUTH_* */
    int (*configured)(void);
    /* The webhook secret (URL token) when the carrier has its own setting;
     * NULL: CDS_COURIER_WEBHOOK_SECRETS's entry for the carrier. */
    const char *(*webhook_secret)(void);
    /* Booking: the request for one shipment (payload: cds_shipment_claim's). 0 on success. */
    int (*book_request)(const json_t *payload, dl_http *out, char *err, size_t cap);
    /* The answer: DL_BOOKED with the tracking number, DL_RETRY (retry_ms: the
     * carrier's hint, 0 none) or DL_FAILED, with the reason in err. */
    int (*book_parse)(const cds_http_response *resp, char *tracking, size_t tcap, long *retry_ms,
                      char *err, size_t cap);
    /* Optional (NULL: book_parse never answers DL_LOOKUP): the request for
     * the order whose client order code is our shipment id, and its answer:
     * DL_BOOKED with the tracking number, DL_FAILED when there is no such
     * order (the booking's refusal stands), DL_RETRY. */
    int (*lookup_request)(const json_t *payload, dl_http *out, char *err, size_t cap);
    int (*lookup_parse)(const cds_http_response *resp, char *tracking, size_t tcap, char *err,
                        size_t cap);
    /* Webhooks: 0 when the request is signed by `secret` within window_s
     * seconds of `now` (DL_AUTH_URL_TOKEN: carries the token `secret` and
     * comes from an allowed address); else a CDS_HMAC_* code
     * (core/hmac_auth.h) or DL_SOURCE_REFUSED. */
    int (*webhook_verify)(cds_req *r, const char *secret, int window_s, time_t now);
    /* Events of a webhook body or a tracking answer: up to cap into ev, count
     * in *n; -1 with a Vietnamese message when the body is not acceptable;
     * 1 when the body is a well-formed call that reports no status (GHN's
     * weight, COD or fee updates): taken, nothing recorded. */
    int (*parse_events)(const char *body, size_t len, dl_event *ev, size_t cap, size_t *n,
                        char *err, size_t errcap);
    /* Tracking (polling fallback): the request for one tracking number. */
    int (*track_request)(const char *tracking, dl_http *out, char *err, size_t cap);
    /* Optional (NULL: not offered): a fee quote for a shipment (payload as
     * for booking), answered in VND; the cancellation of a booked order.
     * Both parses: 0 done, else DL_RETRY or DL_FAILED with the reason. */
    int (*fee_request)(const json_t *payload, dl_http *out, char *err, size_t cap);
    int (*fee_parse)(const cds_http_response *resp, long long *fee_vnd, char *err, size_t cap);
    int (*cancel_request)(const char *tracking, const char *account, dl_http *out, char *err,
                          size_t cap);
    int (*cancel_parse)(const cds_http_response *resp, char *err, size_t cap);
} dl_carrier;

/* carriers.c */
const dl_carrier *dl_carrier_find(const char *name);
extern const dl_carrier dl_vnpost;
extern const dl_carrier dl_ghn;
/* The webhook secret of a carrier, or NULL. */
const char *dl_secret_of(const char *carrier);
int dl_secrets_init(void);
void dl_secrets_free(void);

/* signature.c: the carriers' webhook scheme:
 * hex(HMAC-SHA256(secret, timestamp "." body)), timestamp in Unix seconds. */
void dl_sign(const char *secret, const char *timestamp, const void *body, size_t len, char out[65]);
int dl_sig_check(const char *secret, const char *timestamp, const char *sig, const void *body,
                 size_t len, time_t now, int window_s);

/* tariff.c */
int dl_tariff_init(void);
/* The weight of a weight class (its max_grams), -1 when unknown. */
long dl_weight_grams(const char *weight_class);
void dl_tariff_free(void);

/* RFC 3339 with an explicit offset or Z (shape only). */
int dl_rfc3339(const char *s);
/* A tracking number: 4..40 of [0-9A-Za-z-]. */
int dl_tracking_ok(const char *s);
/* A string member of at most max bytes without control characters into
 * out (empty when absent or null): 1, or 0 when it is something else. */
int dl_opt_text(const json_t *o, const char *key, size_t max, char *out, size_t cap);
/* malloc'd printf (NULL when out of memory). */
char *dl_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The carrier's Retry-After in ms (0 when absent or unusable). */
long dl_retry_after_ms(const cds_http_response *resp);

/* webhook.c: one event through cds_shipment_event (webhooks and poll.c). */
int dl_events_init(void);
extern int dl_stmt_event;
/* Counts a cds_shipment_event result in the metrics. */
void dl_events_count(const char *status);
/* The 12 text parameters of dl_stmt_event for e (from `source`: webhook|poll). */
void dl_event_params(const char *carrier, const dl_event *e, const char *source, char max_failed[16],
                     char cod[24], const char *out[12]);

/* booking.c, poll.c */
int dl_booking_init(const char *db_conninfo);
void dl_booking_shutdown(void);
int dl_poll_init(void);
typedef struct dl_worker dl_worker;
typedef struct dl_poller dl_poller;
/* Thread 0's polling fallback; NULL when no carrier is polled. */
dl_poller *dl_poll_start(cds_worker *cw);
void dl_poll_stop(dl_poller *p); /* NULL is fine */

/* call.c: a carrier call of an outbox row; a module's row starts with it. */
typedef struct dl_call {
    cds_outbox_row row; /* first: the outbox's head of a row in flight */
    dl_http req;        /* as the adapter built it */
    cds_http_call *call;
    cds_db_query *q;
    cds_log_ctx log;    /* the trace of the step or request that queued it */
} dl_call;
/* Sends c->req with the call timeout; cb gets c. 0, or -1 when the HTTP
 * client refused it. */
int dl_call_send(dl_call *c, cds_http_client *http, cds_http_cb cb);
/* The outbox's cancel op: drops the HTTP call and the query in flight. */
void dl_call_cancel(cds_outbox_row *row);

/* requests.c: an operator's cancel and re-poll calls (shipment_requests) */
int dl_requests_init(const char *db_conninfo);
void dl_requests_shutdown(void);
cds_outbox_worker *dl_requests_worker_start(cds_worker *cw); /* NULL: none */
/* 1 when the carrier's adapter has the call (cancel 1: cancel; 0: tracking). */
int dl_carrier_offers(const char *carrier, int cancel);

/* choice.c */
int dl_choice_init(void);

/* handheld.c, couriers.c: the couriers' app and accounts */
int dl_handheld_init(void);
int dl_couriers_init(void);
void dl_sha256_hex(const void *data, size_t len, char out[65]);
/* A new courier's login secret: 64 hex digits from the CSPRNG. */
void dl_courier_secret(char out[65]);

#endif
