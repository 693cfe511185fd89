/* What the parts of notify/ share: the configuration, one message in
 * flight, its result, and the entry points of each channel.
 *
 *   dispatch.c     the notify outbox (core/outbox.h): rows, results, sweeper
 *   render.c       a claimed row -> the text to send (templates, link, phone)
 *   sms.c          the SMS gateway choice: failover and the circuit breaker
 *   sms_esms.c     the eSMS-style JSON API          } each: build a request,
 *   sms_speedsms.c the SpeedSMS-style REST API      } read the answer
 *   push.c         the push adapter of a device's platform
 *   push_fcm.c     FCM HTTP v1 with its OAuth2 service-account token } each a
 *   push_apns.c    APNs over HTTP/2 with its ES256 provider token    } push adapter
 *   zns.c          Zalo ZNS: the send and token-refresh calls, built and read
 *   zns_send.c     the ZNS channel: OA access token, send, fallback to SMS
 *   zns_webhook.c  ZNS's signed delivery webhook (user_received_message)
 *   receipts.c     the gateways' delivery-receipt callbacks
 *   inbox.c        GET /v1/notifications, mark as read */
#ifndef CDS_NOTIFY_INTERNAL_H
#define CDS_NOTIFY_INTERNAL_H
#include "notify/notify.h"
#include "core/db.h"
#include "core/http_client.h"
#include "core/json_out.h"
#include "core/clock.h"
#include "core/outbox.h"
#include "core/log.h"
#include "core/server.h" /* worker slots */

#include <jansson.h>
#include <stdint.h>

extern cds_notify_config g_notify;

enum nt_channel { NT_SMS = 1, NT_PUSH = 2, NT_ZNS = 3 };
/* Outcome of one attempt (the outbox statuses of 0004_notify.sql). */
enum nt_status {
    NT_PENDING = 1, /* an SMS the gateway took: its receipt will tell */
    NT_SENT,        /* a push the provider took */
    NT_TEMPORARY,   /* try again later (backoff), until attempts run out */
    NT_PERMANENT,   /* the provider refused it for good */
    NT_TECHNICAL,   /* we could not build it (template, configuration) */
    NT_FALLBACK,    /* ZNS will not send it: the row becomes an SMS */
};

typedef struct nt_worker nt_worker;

typedef struct nt_result {
    int status;
    const char *provider;  /* static: "esms", "speedsms", "fcm", "apns" */
    char provider_id[160];
    char error[256];
    long retry_after_ms;   /* the provider's hint (Retry-After), 0: ours */
    int delete_device;     /* the token is dead: remove the device */
} nt_result;

typedef struct nt_msg {
    cds_outbox_row row;    /* first: the outbox's head of a row in flight */
    nt_worker *w;
    int64_t id;
    int attempt;
    int channel;
    char key[24];          /* the idempotency key: the outbox id in decimal */
    char dossier_id[37];
    char step[32];
    char phone[16];        /* SMS: national form, 0912345678 */
    char *text;            /* SMS body, GSM-7 */
    char *title, *body;    /* push and ZNS, with diacritics */
    json_t *vars;          /* ZNS: the step's variables (template_data) */
    char *token;           /* push: the device token */
    int template_version;
    char *rendered;        /* what is recorded as sent: JSON text of an object */
    unsigned tried;        /* SMS gateways tried in this attempt (bits) */
    int gw, probe;         /* SMS: the gateway of the call in progress; 1 if it probes */
    uint64_t call_us;      /* when the call in progress started */
    uint64_t started_us;
    cds_http_call *call;   /* the provider call in progress; NULL once it ended */
    cds_db_query *dbq;     /* ZNS: the token read in progress; NULL once answered */
    struct nt_msg *next;   /* FCM, ZNS: waiting for an access token */
    cds_log_ctx log;       /* the trace of the step that wrote the row (outbox.trace),
                              continued: its log lines and its provider calls carry it */
} nt_msg;

/* dispatch.c */
int nt_dispatch_init(const char *db_conninfo);
void nt_dispatch_shutdown(void);
cds_http_client *nt_http(nt_worker *w);
struct event_base *nt_base(nt_worker *w);
int nt_worker_id(nt_worker *w);
cds_worker *nt_thread(nt_worker *w);
/* The dispatcher's own database connection on w's thread. */
cds_db_pool *nt_db(nt_worker *w);
/* This process's name as a dispatcher (for errors). */
const char *nt_node(void);
/* Records the result of m's attempt and frees m. */
void nt_done(nt_msg *m, const nt_result *r);
/* Shorthand: nt_done with a status, provider and printf-style error. */
void nt_fail(nt_msg *m, int status, const char *provider, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* render.c: fills m from a claimed row (template, vars). 0, or -1 with the
 * result (technical/permanent failure) already filled in *r. */
int nt_templates_load(const char *file);
void nt_templates_free(void);
/* digest_json: NULL, or the SMS of several dossiers the claim coalesced
 * into this one ([{template, vars, dossier_id}], oldest first): each is
 * rendered and the texts are joined, one line each. */
int nt_render(nt_msg *m, const char *template_name, const char *vars_json,
              const char *recipient_sealed, const char *digest_json, nt_result *r);
void nt_msg_free(nt_msg *m);
/* The push text (title and body, with diacritics) of template `name` in
 * language `lang` (core/lang.h) rendered with vars_json: the inbox shows an
 * entry in the language asked for when what was sent is in the other one.
 * 0, or -1 (no such template, a variable missing). */
int nt_render_push_text(const char *name, const char *vars_json, const char *dossier_id, int lang,
                        char *title, size_t tcap, char *body, size_t bcap);

/* sms.c */
int nt_sms_init(void);
int nt_sms_enabled(void);
void nt_sms_send(nt_msg *m);

/* The largest request body an adapter writes (core/json_out.h into a
 * core/buf); a text message is at most a few KiB. */
#define NT_BODY_MAX (64 * 1024)

/* An outgoing call as an adapter builds it. */
#define NT_CALL_HEADERS 10
typedef struct nt_call {
    char url[1024];
    char *body; /* malloc */
    size_t body_len;
    char hbuf[NT_CALL_HEADERS][640];
    const char *headers[NT_CALL_HEADERS + 1];
    int nheaders;
} nt_call;
/* Adds "Name: value"; -1 when full or too long. */
int nt_call_header(nt_call *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets c->url to `base` (trailing slashes dropped) followed by the
 * printf-formatted path; -1 when it does not fit. */
int nt_call_url(nt_call *c, const char *base, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* When the call ended without an answer (resp->error): records m's attempt
 * as a temporary failure of `provider` ("<label>: <error>") and returns 1. */
int nt_call_unanswered(nt_msg *m, const cds_http_response *resp, const char *provider,
                       const char *label);
/* The answer's Retry-After (seconds, below a day) in ms; 0 when absent. */
long nt_retry_after_ms(const cds_http_response *resp);
/* Starts c (POST unless method given) on m's thread; m->call is set. The
 * body is freed. 0, or -1 (nothing started). */
int nt_call_start(nt_msg *m, nt_call *c, const char *method, long timeout_ms,
                  const char *ca_file, int h2c, cds_http_cb cb);

/* One SMS gateway adapter. */
typedef struct nt_sms_gateway {
    const char *name;
    int (*configured)(void);
    int (*build)(const nt_msg *m, nt_call *c); /* 0 or -1 */
    /* Reads the gateway's answer: fills r (NT_PENDING with the provider id,
     * NT_PERMANENT for a refused number...) and returns 1 when the failure
     * is the gateway's (another gateway may take the message), else 0. */
    int (*parse)(const cds_http_response *resp, nt_result *r);
} nt_sms_gateway;
extern const nt_sms_gateway nt_gateway_esms, nt_gateway_speedsms;

/* One push adapter: the provider of one device platform. */
typedef struct nt_push_adapter {
    const char *platform; /* devices.platform: "fcm", "apns" */
    const char *label;    /* in errors: "FCM" */
    int (*init)(void);    /* 0, or -1 for a configuration that is wrong */
    int (*enabled)(void);
    void (*send)(nt_msg *m); /* ends with nt_done, now or later */
    /* Per-thread state (may be NULL): made when the thread's dispatcher
     * starts, dropped when it stops (calls cancelled; messages are freed by
     * the outbox). */
    void (*worker_start)(nt_worker *w);
    void (*worker_stop)(nt_worker *w);
    void (*shutdown)(void);
} nt_push_adapter;
extern const nt_push_adapter nt_push_fcm, nt_push_apns;

/* push.c: every adapter at once. */
int nt_push_init(void);
int nt_push_enabled(void);
/* Sends m by the adapter of `platform`; a platform this dispatcher cannot
 * send to is a temporary failure (another node may). */
void nt_push_send(nt_msg *m, const char *platform);
void nt_push_worker_start(nt_worker *w);
void nt_push_worker_stop(nt_worker *w);
void nt_push_shutdown(void);

/* zns.c: the ZNS calls, without I/O. */
typedef struct nt_zns_token {
    char access[1024], refresh[1024];
    long expires_s;
} nt_zns_token;
int nt_zns_configured(void);
/* The send call for m (rendered: phone, title, body, vars) with `token`. */
int nt_zns_build(const nt_msg *m, const char *token, nt_call *c);
/* Reads a send answer into r (pending, fallback or temporary); returns 1
 * when ZNS refused the access token (-124). */
int nt_zns_parse(const cds_http_response *resp, nt_result *r);
int nt_zns_token_build(const char *refresh_token, nt_call *c);
/* 0 with *t filled, or -1 with a reason in err. */
int nt_zns_token_parse(const cds_http_response *resp, nt_zns_token *t, char *err, size_t cap);

/* zns_send.c */
int nt_zns_init(void);
int nt_zns_enabled(void);
void nt_zns_send(nt_msg *m); /* ends with nt_done, now or later */
/* Per-thread state (the messages waiting for the OA token); start also
 * fetches the token when there is none, before the first claim comes back.
 * Stop must come before the outbox worker's (which frees the rows). */
void nt_zns_worker_start(nt_worker *w);
void nt_zns_worker_stop(nt_worker *w);

/* receipts.c, inbox.c */
int nt_receipts_init(void);
/* Queues a delivery report for this turn's batch (cds_outbox_receipts): the
 * provider's message id or our outbox id, the status it reports and, for a
 * failure, why. The request is answered when the batch ran. */
void nt_receipt_apply(cds_req *r, const char *provider, const char *message_id,
                      const char *outbox_id, const char *status, const char *error);
void nt_receipts_shutdown(void);
int nt_inbox_init(void);

#endif
