/* Shared by the files of delivery/ only.
 *
 * A carrier is an adapter (dl_carrier): how to book, how to read its answer,
 * how its webhooks are signed and what they say, how to ask its tracking
 * API. carrier_vnpost.c is the VNPost/EMS-style one; a GHN-style carrier is
 * a new file with its own dl_carrier and one line in carriers.c. */
#ifndef CDS_DELIVERY_INTERNAL_H
#define CDS_DELIVERY_INTERNAL_H
#include "delivery/delivery.h"
#include "core/http_client.h"

#include <jansson.h>
#include <stddef.h>
#include <time.h>

extern cds_delivery_config g_delivery;

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

enum { DL_BOOKED = 0, DL_RETRY = 1, DL_FAILED = 2 };

typedef struct dl_carrier {
    const char *name;    /* "vnpost": shipments.carrier, the webhook route, the secret's id */
    const char *display; /* "VNPost" */
    int (*configured)(void);
    /* Booking: the request for one shipment (payload: cds_shipment_claim's). 0 on success. */
    int (*book_request)(const json_t *payload, dl_http *out, char *err, size_t cap);
    /* The answer: DL_BOOKED with the tracking number, DL_RETRY (retry_ms: the
     * carrier's hint, 0 none) or DL_FAILED, with the reason in err. */
    int (*book_parse)(const cds_http_response *resp, char *tracking, size_t tcap, long *retry_ms,
                      char *err, size_t cap);
    /* Webhooks: 0 when the request is signed by `secret` within window_s
     * seconds of `now`; else a CDS_HMAC_* code (core/hmac_auth.h). */
    int (*webhook_verify)(cds_req *r, const char *secret, int window_s, time_t now);
    /* Events of a webhook body or a tracking answer: up to cap into ev, count
     * in *n; -1 with a Vietnamese message when the body is not acceptable. */
    int (*parse_events)(const char *body, size_t len, dl_event *ev, size_t cap, size_t *n,
                        char *err, size_t errcap);
    /* Tracking (polling fallback): the request for one tracking number. */
    int (*track_request)(const char *tracking, dl_http *out, char *err, size_t cap);
} dl_carrier;

/* carriers.c */
const dl_carrier *dl_carrier_find(const char *name);
extern const dl_carrier dl_vnpost;
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
void dl_tariff_free(void);

/* RFC 3339 with an explicit offset or Z (shape only). */
int dl_rfc3339(const char *s);

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

/* choice.c */
int dl_choice_init(void);

#endif
