/* What the message-gateway stand-ins (sms-esms, sms-speedsms, fcm, apns)
 * share, so each provider file holds only its protocol:
 *
 *  - failure injection: POST /_sim/fail {"mode":"ok"|"error"|"slow"|"down",
 *    "slow_ms"?, "count"?, "error"?} and gw_gate(), which every send handler
 *    calls first;
 *  - answers that may be held back (slow mode) with a timer on the request's
 *    loop, cancelled with the request;
 *  - the message store: every accepted send, DEDUPLICATED by the caller's
 *    idempotency key (a repeat gets the first answer and only bumps
 *    times_seen), listed at GET /_sim/messages and cleared by DELETE;
 *  - SMS delivery reports: a callback per recipient after a delay, as the
 *    gateway sends it (unsigned; a secret token in the URL), retried with backoff, sent
 *    with the loop thread's curl multi, at most CDS_SIM_SMS_CALLBACK_CONCURRENCY (256)
 *    at a time per thread over kept-alive connections, the others queued in
 *    order; POST /_sim/dlr sets the outcome,
 *    POST /_sim/callback sends one at once and answers with what came back;
 *  - GSM-7 checks and segment counting for SMS text.
 *
 * One `gw` per stand-in hangs off sim_standin.state. Its mutex guards the
 * settings and the store, because cds-sim may run several loop threads;
 * timers and HTTP calls always stay on the thread that started them. */
#ifndef CDS_SIM_GATEWAY_COMMON_H
#define CDS_SIM_GATEWAY_COMMON_H
#include "sim/sim.h"

#include <pthread.h>
#include <stddef.h>

#define GW_KEY_MAX 256     /* idempotency keys longer than this are refused */
#define GW_ID_MAX 160      /* provider ids (SMSID, tranId, message name, apns-id) */
#define GW_ERROR_NAME_MAX 48

typedef struct gw gw;
typedef struct gw_entry gw_entry;
typedef struct gw_cb gw_cb;

enum gw_mode { GW_MODE_OK = 0, GW_MODE_ERROR, GW_MODE_SLOW, GW_MODE_DOWN };

/* Delivery outcomes a stand-in maps to its provider's report. */
enum gw_outcome {
    GW_DLR_NONE = 0,
    GW_DLR_DELIVERED,
    GW_DLR_FAILED,
    GW_DLR_REJECTED,
    GW_DLR_PENDING
};

/* One outgoing callback as a provider builds it. */
typedef struct gw_http_out {
    char method[8];  /* "GET" / "POST" */
    char *url;       /* malloc: the full URL, query included */
    char *body;      /* malloc or NULL */
    size_t body_len;
    /* A provider that signs its callbacks its own way (ZNS): one header line
     * of its own, and no partner-style X-Client-Id/X-Signature. */
    char header[200];
    int own_signature;
} gw_http_out;

typedef struct gw_ops {
    /* Answers an injected error named `error` (already checked). */
    void (*answer_error)(cds_req *r, const char *error);
    /* 1 when `error` names an error this provider can inject. */
    int (*error_valid)(const char *error);
    const char *default_error;
    const char *error_names; /* for the 400 text */
    /* SMS only (NULL otherwise): the delivery report for one recipient.
     * `fields` are the stored message fields (or what /_sim/callback was
     * given). 0, or -1 when no report can be built. */
    int (*build_callback)(gw *g, const char *provider_id, const char *key, json_t *fields,
                          const char *phone, int outcome, gw_http_out *out);
} gw_ops;

struct gw {
    sim_standin *s;
    const gw_ops *ops;
    void *provider; /* the stand-in's own state */
    pthread_mutex_t mu;
    /* failure injection (mu) */
    int mode, slow_ms;
    long count; /* requests left in this mode; < 0: until changed */
    char error[GW_ERROR_NAME_MAX];
    /* delivery reports (SMS; mu) */
    int dlr_outcome;   /* applied to new messages */
    long dlr_count;    /* messages left with that outcome, then "delivered"; < 0: until changed */
    int dlr_delay_ms;
    char callback_url[512]; /* "" : no reports unless the request names a URL */
    char callback_client[64];
    char callback_token[160];
    int callback_attempts, callback_retry_ms;
    gw_cb *pending; /* scheduled or running reports, freed at exit if left */
    /* the store (mu) */
    gw_entry **by_key, **by_id;
    gw_entry *oldest, *newest;
    long nentries, max_entries, next_seq;
    long accepted_total; /* accepted sends, duplicates included, evicted ones too */
    long evicted;
};

/* ---- life ---- */
/* Fills g (settings from CDS_SIM_GW_MAX_MESSAGES) and links it to s. */
int gw_init(gw *g, sim_standin *s, const gw_ops *ops, void *provider);
/* Frees the store and any report left pending (call at exit, after the
 * server has stopped: the loops are gone, so nothing is touched but memory). */
void gw_free(gw *g);
gw *gw_of(cds_req *r);

/* SMS: the callback settings. CDS_SIM_<PFX>_CALLBACK_URL, else
 * CDS_SIM_SMS_CALLBACK_BASE + "/" + suffix (default base
 * http://127.0.0.1:8080/v1/callbacks/sms) + "/" + the token
 * CDS_SIM_<PFX>_CALLBACK_TOKEN (default dflt_token), client `client`, CDS_SIM_SMS_DLR_DELAY_MS (200),
 * CDS_SIM_SMS_CALLBACK_ATTEMPTS (5), CDS_SIM_SMS_CALLBACK_RETRY_MS (1000),
 * CDS_SIM_SMS_CALLBACK_CONCURRENCY (256, reports in flight per loop thread). */
int gw_callback_config(gw *g, const char *env_prefix, const char *suffix, const char *client,
                       const char *dflt_token);

/* ---- env ---- */
void gw_env_str(char *dst, size_t cap, const char *name, const char *dflt);
/* The integer in env `name` or dflt; -1 (with a message) when out of range. */
int gw_env_int(const char *name, long dflt, long min, long max, long *out);

/* ---- failure injection ---- */
/* A provider's injectable errors: rows of {code, text}. The text of `code`,
 * or NULL when the table has no such code. */
typedef const char *const gw_error_table[2];
const char *gw_error_text(const gw_error_table *t, size_t n, const char *code);
/* Called first by every send handler. Returns -1 when it has answered
 * (mode error or down), else the delay in ms to hold the answer (slow) or 0. */
int gw_gate(cds_req *r);

/* ---- answers ---- */
/* Answers now (delay_ms 0) or after delay_ms; the body is copied. */
void gw_respond(cds_req *r, int delay_ms, int status, const char *ctype, const char *body,
                size_t len);
/* The same with a JSON body (the reference is stolen). */
void gw_respond_json(cds_req *r, int delay_ms, int status, json_t *j);

/* ---- the store ---- */
typedef struct gw_answer {
    int status;
    char ctype[64];
    char *body; /* malloc */
    size_t len;
    char provider_id[GW_ID_MAX];
} gw_answer;
void gw_answer_free(gw_answer *a);

/* 1 when `key` (may be NULL: never) was accepted before: times_seen is
 * bumped and the first answer copied into *a. 0 otherwise. */
int gw_store_find(gw *g, const char *key, gw_answer *a);
/* Records an accepted send (fields stolen). Returns 0 when stored, 1 when
 * the key turned up meanwhile (another thread): then it is counted as a
 * repeat, *a holds the first answer and `fields` is dropped. */
int gw_store_put(gw *g, const char *key, const char *provider_id, json_t *fields, int status,
                 const char *ctype, const char *body, size_t len, gw_answer *a);

/* ---- delivery reports ---- */
/* After an SMS was stored: one report per recipient in fields "phones"
 * (or "phone"), after the configured delay, on the request's loop thread. */
void gw_dlr_schedule(cds_req *r, const char *provider_id, const char *key, json_t *fields);

/* ---- the /_sim routes every gateway has ---- */
void gw_sim_fail(cds_req *r);      /* POST /_sim/fail */
void gw_sim_messages(cds_req *r);  /* GET /_sim/messages[?key=&since=&limit=] */
void gw_sim_clear(cds_req *r);     /* DELETE /_sim/messages */
void gw_sim_dlr(cds_req *r);       /* POST /_sim/dlr (SMS) */
void gw_sim_callback(cds_req *r);  /* POST /_sim/callback (SMS) */

/* ---- SMS text ---- */
/* Checks UTF-8 text against the GSM 03.38 alphabet, refusing letters with
 * diacritics even where GSM-7 has them (è é ù ì ò à Ç Ä ...): an SMS of
 * this service must go out without marks (không dấu). Returns 0 and sets
 * *septets (extension characters count two) and *segments (160 for one,
 * 153 each when concatenated), or -1 with the offending character's byte
 * offset in *bad_at. */
int gw_sms_text_check(const char *s, size_t n, size_t *septets, int *segments, size_t *bad_at);
/* Mobile network of a national number (e.g. "0912345678"): 1 Viettel, 2 MobiFone,
 * 3 VinaPhone, 4 Vietnamobile, 5 Gmobile, 6 iTel, 7 Reddi, 0 unknown
 * (eSMS's telcoid numbering). */
int gw_vn_telco(const char *national);
/* A Vietnamese mobile number as the gateways take it ("0912345678",
 * "84912345678", "+84 91 234 5678"; spaces, dots and dashes allowed) in
 * national form (out: 11 bytes at least); 0, or -1 when it is not one. The
 * stand-ins' own reading, not the server's (a shared misreading would pass
 * every test). */
int gw_phone_national(const char *in, char *out, size_t cap);
/* Constant-time equality of a given secret and the expected one. */
int gw_same_secret(const char *given, size_t given_len, const char *want);

/* ---- a set of strings (device tokens marked unregistered) ----
 * Not locked itself: the owner holds its gateway's mutex. */
typedef struct gw_set gw_set;
gw_set *gw_set_new(void);
void gw_set_free(gw_set *set);
void gw_set_clear(gw_set *set);
int gw_set_add(gw_set *set, const char *s); /* 0, or -1 when full (GW_SET_MAX) */
int gw_set_has(const gw_set *set, const char *s);
size_t gw_set_size(const gw_set *set);
/* POST /_sim/tokens of the push stand-ins: {"unregistered":[tokens]} marks
 * device tokens the provider will call unregistered, {"reset":true} clears
 * them. `mu` guards `set`. */
void gw_tokens_control(cds_req *r, pthread_mutex_t *mu, gw_set *set);

/* The test controls both SMS stand-ins share, for their route tables:
 * failure injection, the deduplicated message list, delivery-report outcomes
 * and sending one report on demand. */
#define GW_SMS_CONTROL_ROUTES                                                                      \
    {"GET", "/_sim/fail", gw_sim_fail, 0}, {"POST", "/_sim/fail", gw_sim_fail, 4096},              \
        {"GET", "/_sim/messages", gw_sim_messages, 0},                                             \
        {"DELETE", "/_sim/messages", gw_sim_clear, 0}, {"GET", "/_sim/dlr", gw_sim_dlr, 0},        \
        {"POST", "/_sim/dlr", gw_sim_dlr, 4096}, {"POST", "/_sim/callback", gw_sim_callback, 8192}
#define GW_SET_MAX 1000000

/* ---- small helpers ---- */
/* Appends s to out (NUL-terminated, holding *len bytes) percent-encoding all
 * but RFC 3986 unreserved characters. -1 when it does not fit in cap. */
int gw_urlenc_append(char *out, size_t cap, size_t *len, const char *s);
/* Appends s verbatim; -1 when it does not fit. */
int gw_append(char *out, size_t cap, size_t *len, const char *s);
/* n random bytes as lower-case hex into out (cap >= 2n+1). 0 or -1. */
int gw_random_hex(char *out, size_t cap, size_t n);
/* 1 when s can be written between JSON quotes as it is (no quote,
 * backslash or control character), as json_dumps would write it: the
 * stand-ins print their success answers (ids, digits) without building a
 * JSON tree for each. */
int gw_json_plain(const char *s);
/* Milliseconds since the epoch. */
long long gw_now_ms(void);
/* The value of `name` as a string: strings as they are, integers printed.
 * NULL when absent or of another type. `buf` holds printed integers. */
const char *gw_json_strint(json_t *obj, const char *name, char *buf, size_t cap);

#endif
