/* The shared machinery of the message-gateway stand-ins (see
 * sim/gateway_common.h for the list). How it works:
 *
 *  - Failure injection is a mode plus a request budget under the gateway's
 *    mutex; gw_gate() takes one request from the budget and answers error
 *    or down itself, so a provider file only supplies its error shape.
 *  - A held-back answer (slow mode) is a copy of the answer and a libevent
 *    timer on the request's own loop, registered with cds_req_track() so a
 *    client that leaves takes the timer with it.
 *  - The store is two chained hash tables (by idempotency key, by provider
 *    id) over one insertion-ordered list, bounded by CDS_SIM_GW_MAX_MESSAGES
 *    (default 200000): past it the oldest entry goes and `evicted` says so.
 *  - A delivery report is a gw_cb: the request the provider would make,
 *    re-signed on every attempt (fresh X-Timestamp), sent with the loop
 *    thread's curl multi, retried with exponential backoff on a timer on
 *    that loop. The timer's struct event is embedded in the gw_cb (not
 *    event_new'ed) because reports still waiting when the server stops are
 *    freed at exit, after the event bases are gone: freeing our own memory
 *    is then all that is left to do.
 *
 * Delivery reports are sent as the gateways send them: nothing is signed
 * (eSMS calls a GET URL, SpeedSMS posts JSON; neither documents a
 * signature). What authenticates a report is the secret token in the URL
 * our server registers with the gateway: the stand-in's callback URL is
 * CDS_SIM_SMS_CALLBACK_BASE/<gateway>/<token> (token CDS_SIM_<PFX>_CALLBACK_TOKEN),
 * or the full CDS_SIM_<PFX>_CALLBACK_URL, or for eSMS the request's
 * CallbackUrl. Nothing here calls the server's code: the URL is the whole
 * contract. */
#include "sim/gateway_common.h"
#include "core/http_client.h"
#include "core/log.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GW_BUCKETS (1u << 16)
#define DEFAULT_MAX_ENTRIES 200000
#define CALLBACK_TIMEOUT_MS 5000
#define CALLBACK_RESPONSE_MAX (64 * 1024)
#define SLOW_MAX_MS 600000
#define DLR_DELAY_MAX_MS 600000
#define LIST_LIMIT_MAX 100000

struct gw_entry {
    long seq;
    char *key; /* NULL: the caller gave none */
    char provider_id[GW_ID_MAX];
    json_t *fields;
    /* Delivery reports, one per recipient; listed as {phone: {"outcome",
     * "state","attempts","last_status"}}. Plain structs, not JSON: each
     * message's report changes them twice (scheduled, acknowledged). */
    struct dlr_state *dlr;
    int ndlr;
    int status;
    char ctype[64];
    char *body;
    size_t len;
    long times_seen;
    char first_seen[40], last_seen[40];
    gw_entry *older, *newer, *next_key, *next_id;
};

typedef struct dlr_state {
    char phone[32];
    const char *state; /* a literal: "scheduled", "acknowledged", ... */
    int outcome, attempts;
    long last_status; /* -1: none yet */
} dlr_state;

struct gw_cb {
    struct event ev; /* see the top comment: embedded on purpose */
    int timer_set;
    gw *g;
    cds_worker *w;
    gw_http_out out;
    char provider_id[GW_ID_MAX];
    char phone[32];
    int outcome, attempt, max_attempts;
    int token; /* /_sim/callback: 0 the right token, 1 a wrong one, 2 none */
    cds_http_call *call;
    cds_req *ctl; /* /_sim/callback: the control request waiting for the answer */
    int slot;
    int counted; /* holds one of this thread's turns (see cb_pump) */
    gw_cb *prev, *next;
    gw_cb *qnext; /* this thread's queue of reports waiting for a turn */
};

/* Reports are sent at most callback_concurrency at a time per loop thread,
 * the others wait their turn in order: a gateway sends its reports from a
 * bounded pool of workers over kept-alive connections. Without the bound, a
 * burst of reports due at once (a batch of messages sent together) opened
 * one connection each, HTTP/1.1 having no multiplexing, and the HTTP client
 * keeps 256 idle (core/http_client.c): 4,646 connects and closes on both
 * sides for 13,000 reports in one bench (2026-12-05), 256 at most since.
 * The default is that same 256, so reports are not held back behind a
 * smaller pool (64 left a fifth of them unsent at the end of the drain). */
static int callback_concurrency = 256;
static _Thread_local struct {
    gw_cb *head, *tail;
    int inflight, pumping;
} turns;

static const char *const outcome_names[] = {
    [GW_DLR_NONE] = "none",         [GW_DLR_DELIVERED] = "delivered", [GW_DLR_FAILED] = "failed",
    [GW_DLR_REJECTED] = "rejected", [GW_DLR_PENDING] = "pending",
};
#define NOUTCOMES (sizeof outcome_names / sizeof outcome_names[0])
static const char *const mode_names[] = {"ok", "error", "slow", "down"};

/* ---------------- small helpers ---------------- */

void gw_env_str(char *dst, size_t cap, const char *name, const char *dflt)
{
    const char *v = getenv(name);
    snprintf(dst, cap, "%s", v && *v ? v : dflt);
}

int gw_env_int(const char *name, long dflt, long min, long max, long *out)
{
    const char *v = getenv(name);
    *out = dflt;
    if (!v || !*v) return 0;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (!end || *end || n < min || n > max) {
        fprintf(stderr, "cds-sim: %s must be an integer from %ld to %ld\n", name, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

int gw_random_hex(char *out, size_t cap, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[64];
    if (n > sizeof raw || cap < 2 * n + 1 || RAND_bytes(raw, (int)n) != 1) return -1;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[2 * n] = 0;
    return 0;
}

int gw_json_plain(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\') return 0;
    return 1;
}

long long gw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *gw_json_strint(json_t *obj, const char *name, char *buf, size_t cap)
{
    json_t *v = json_object_get(obj, name);
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    return NULL;
}

gw *gw_of(cds_req *r)
{
    return sim_of(r)->state;
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* ---------------- life ---------------- */

int gw_init(gw *g, sim_standin *s, const gw_ops *ops, void *provider)
{
    memset(g, 0, sizeof *g);
    long max;
    if (gw_env_int("CDS_SIM_GW_MAX_MESSAGES", DEFAULT_MAX_ENTRIES, 1, 10000000, &max) != 0)
        return -1;
    g->by_key = calloc(GW_BUCKETS, sizeof *g->by_key);
    g->by_id = calloc(GW_BUCKETS, sizeof *g->by_id);
    if (!g->by_key || !g->by_id) {
        free(g->by_key);
        free(g->by_id);
        return -1;
    }
    pthread_mutex_init(&g->mu, NULL);
    g->s = s;
    g->ops = ops;
    g->provider = provider;
    g->mode = GW_MODE_OK;
    g->count = -1;
    g->slow_ms = 2000;
    g->dlr_outcome = GW_DLR_DELIVERED;
    g->dlr_count = -1;
    g->max_entries = max;
    g->next_seq = 1;
    s->state = g;
    return 0;
}

int gw_callback_config(gw *g, const char *env_prefix, const char *suffix, const char *client,
                       const char *dflt_token)
{
    char name[96], base[320];
    snprintf(name, sizeof name, "CDS_SIM_%s_CALLBACK_TOKEN", env_prefix);
    gw_env_str(g->callback_token, sizeof g->callback_token, name, dflt_token);
    snprintf(name, sizeof name, "CDS_SIM_%s_CALLBACK_URL", env_prefix);
    gw_env_str(g->callback_url, sizeof g->callback_url, name, "");
    if (!g->callback_url[0]) {
        gw_env_str(base, sizeof base, "CDS_SIM_SMS_CALLBACK_BASE",
                   "http://127.0.0.1:8080/v1/callbacks/sms");
        size_t n = strlen(base);
        while (n > 0 && base[n - 1] == '/') base[--n] = 0;
        if (strcmp(base, "none") == 0)
            g->callback_url[0] = 0;
        else
            snprintf(g->callback_url, sizeof g->callback_url, "%s/%s/%s", base, suffix,
                     g->callback_token);
    }
    if (strcmp(g->callback_url, "none") == 0) g->callback_url[0] = 0;
    if (g->callback_url[0] && strncmp(g->callback_url, "http://", 7) != 0 &&
        strncmp(g->callback_url, "https://", 8) != 0) {
        fprintf(stderr, "cds-sim: the %s callback URL must be http:// or https://\n", client);
        return -1;
    }
    snprintf(g->callback_client, sizeof g->callback_client, "%s", client);
    long delay, attempts, retry;
    if (gw_env_int("CDS_SIM_SMS_DLR_DELAY_MS", 200, 0, DLR_DELAY_MAX_MS, &delay) != 0 ||
        gw_env_int("CDS_SIM_SMS_CALLBACK_ATTEMPTS", 5, 1, 20, &attempts) != 0 ||
        gw_env_int("CDS_SIM_SMS_CALLBACK_RETRY_MS", 1000, 1, 600000, &retry) != 0)
        return -1;
    long conc;
    if (gw_env_int("CDS_SIM_SMS_CALLBACK_CONCURRENCY", 256, 1, 1024, &conc) != 0) return -1;
    callback_concurrency = (int)conc;
    g->dlr_delay_ms = (int)delay;
    g->callback_attempts = (int)attempts;
    g->callback_retry_ms = (int)retry;
    return 0;
}

static void entry_free(gw_entry *e)
{
    free(e->key);
    json_decref(e->fields);
    free(e->dlr);
    free(e->body);
    free(e);
}

static void cb_free(gw_cb *c)
{
    free(c->out.url);
    free(c->out.body);
    free(c);
}

void gw_free(gw *g)
{
    if (!g || !g->by_key) return;
    for (gw_entry *e = g->oldest, *n; e; e = n) {
        n = e->newer;
        entry_free(e);
    }
    for (gw_cb *c = g->pending, *n; c; c = n) {
        n = c->next;
        cb_free(c);
    }
    free(g->by_key);
    free(g->by_id);
    pthread_mutex_destroy(&g->mu);
    memset(g, 0, sizeof *g);
}

/* ---------------- answers, maybe held back ---------------- */

typedef struct gw_later {
    cds_req *r;
    struct event *ev;
    int slot;
    int status;
    char ctype[64];
    char *body;
    size_t len;
} gw_later;

static void later_free(gw_later *l)
{
    if (l->ev) event_free(l->ev);
    free(l->body);
    free(l);
}

static void later_fire(evutil_socket_t fd, short what, void *arg)
{
    gw_later *l = arg;
    cds_req *r = l->r;
    cds_req_untrack(r, l->slot);
    cds_respond(r, l->status, l->ctype[0] ? l->ctype : NULL, l->body, l->len);
    later_free(l);
}

static void later_cancel(void *arg)
{
    later_free(arg);
}

void gw_respond(cds_req *r, int delay_ms, int status, const char *ctype, const char *body,
                size_t len)
{
    if (delay_ms <= 0) {
        cds_respond(r, status, ctype, body, len);
        return;
    }
    gw_later *l = calloc(1, sizeof *l);
    if (!l) abort();
    l->r = r;
    l->status = status;
    snprintf(l->ctype, sizeof l->ctype, "%s", ctype ? ctype : "");
    l->body = malloc(len + 1);
    if (!l->body) abort();
    if (len) memcpy(l->body, body, len);
    l->body[len] = 0;
    l->len = len;
    l->ev = evtimer_new(cds_req_worker(r)->base, later_fire, l);
    l->slot = l->ev ? cds_req_track(r, later_cancel, l) : -1;
    if (l->slot < 0) { /* nothing to hang the timer on: answer now rather than never */
        cds_respond(r, status, ctype, body, len);
        later_free(l);
        return;
    }
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    evtimer_add(l->ev, &tv);
}

void gw_respond_json(cds_req *r, int delay_ms, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) abort();
    gw_respond(r, delay_ms, status, "application/json", s, strlen(s));
    free(s);
}

/* ---------------- failure injection ---------------- */

static const char down_page[] =
    "<html><head><title>503 Service Unavailable</title></head>"
    "<body><h1>503 Service Unavailable</h1></body></html>\n";

int gw_gate(cds_req *r)
{
    gw *g = gw_of(r);
    char error[GW_ERROR_NAME_MAX];
    pthread_mutex_lock(&g->mu);
    int mode = g->mode, slow = g->slow_ms;
    memcpy(error, g->error, sizeof error);
    if (mode != GW_MODE_OK && g->count > 0 && --g->count == 0) {
        g->mode = GW_MODE_OK; /* this was the last request of the budget */
        g->count = -1;
    }
    pthread_mutex_unlock(&g->mu);
    switch (mode) {
    case GW_MODE_ERROR:
        g->ops->answer_error(r, error[0] ? error : g->ops->default_error);
        return -1;
    case GW_MODE_DOWN:
        cds_resp_header(r, "retry-after", "1");
        cds_respond(r, 503, "text/html; charset=UTF-8", down_page, sizeof down_page - 1);
        return -1;
    case GW_MODE_SLOW: return slow;
    default: return 0;
    }
}

static json_t *fail_json(gw *g)
{
    return json_pack("{s:s,s:i,s:o,s:s}", "mode", mode_names[g->mode], "slow_ms", g->slow_ms,
                     "count", g->count < 0 ? json_null() : json_integer(g->count), "error",
                     g->error[0] ? g->error : g->ops->default_error);
}

static void control_error(cds_req *r, const char *detail)
{
    cds_problem(r, 400, "invalid_control", detail);
}

void gw_sim_fail(cds_req *r)
{
    sim_record(r);
    gw *g = gw_of(r);
    if (strcmp(cds_req_method(r), "GET") == 0) {
        pthread_mutex_lock(&g->mu);
        json_t *j = fail_json(g);
        pthread_mutex_unlock(&g->mu);
        cds_respond_json(r, 200, j);
        return;
    }
    json_t *in = cds_req_json(r);
    if (!in) return;
    if (!json_is_object(in)) {
        control_error(r, "Nội dung phải là một đối tượng JSON.");
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v) {
        if (strcmp(k, "mode") != 0 && strcmp(k, "slow_ms") != 0 && strcmp(k, "count") != 0 &&
            strcmp(k, "error") != 0) {
            control_error(r, "Chỉ nhận các khóa mode, slow_ms, count, error.");
            return;
        }
    }
    const char *mode_s = json_string_value(json_object_get(in, "mode"));
    int mode = -1;
    for (int i = 0; mode_s && i < 4; i++)
        if (strcmp(mode_s, mode_names[i]) == 0) mode = i;
    if (mode < 0) {
        control_error(r, "\"mode\" phải là \"ok\", \"error\", \"slow\" hoặc \"down\".");
        return;
    }
    json_t *slow = json_object_get(in, "slow_ms"), *count = json_object_get(in, "count"),
           *error = json_object_get(in, "error");
    if (slow && (!json_is_integer(slow) || json_integer_value(slow) < 0 ||
                 json_integer_value(slow) > SLOW_MAX_MS)) {
        control_error(r, "\"slow_ms\" phải là số nguyên từ 0 đến 600000.");
        return;
    }
    if (count && !json_is_null(count) &&
        (!json_is_integer(count) || json_integer_value(count) < 1 ||
         json_integer_value(count) > 100000000)) {
        control_error(r, "\"count\" phải là số nguyên dương (số yêu cầu chịu lỗi).");
        return;
    }
    if (error && (!json_is_string(error) || json_string_length(error) >= GW_ERROR_NAME_MAX ||
                  !g->ops->error_valid(json_string_value(error)))) {
        cds_problem(r, 400, "invalid_control",
                    cds_req_printf(r, "\"error\" phải là một trong: %s.", g->ops->error_names));
        return;
    }
    pthread_mutex_lock(&g->mu);
    g->mode = mode;
    if (slow) g->slow_ms = (int)json_integer_value(slow);
    g->count = count && json_is_integer(count) ? (long)json_integer_value(count) : -1;
    if (mode == GW_MODE_OK) g->count = -1;
    snprintf(g->error, sizeof g->error, "%s", error ? json_string_value(error) : "");
    json_t *j = fail_json(g);
    pthread_mutex_unlock(&g->mu);
    cds_respond_json(r, 200, j);
}

/* ---------------- the store ---------------- */

static gw_entry **key_slot(gw *g, const char *key)
{
    return &g->by_key[hash(key) & (GW_BUCKETS - 1)];
}

static gw_entry **id_slot(gw *g, const char *id)
{
    return &g->by_id[hash(id) & (GW_BUCKETS - 1)];
}

static gw_entry *find_key(gw *g, const char *key)
{
    for (gw_entry *e = *key_slot(g, key); e; e = e->next_key)
        if (strcmp(e->key, key) == 0) return e;
    return NULL;
}

static gw_entry *find_id(gw *g, const char *id)
{
    for (gw_entry *e = *id_slot(g, id); e; e = e->next_id)
        if (strcmp(e->provider_id, id) == 0) return e;
    return NULL;
}

static void unlink_entry(gw *g, gw_entry *e)
{
    if (e->key)
        for (gw_entry **p = key_slot(g, e->key); *p; p = &(*p)->next_key)
            if (*p == e) {
                *p = e->next_key;
                break;
            }
    for (gw_entry **p = id_slot(g, e->provider_id); *p; p = &(*p)->next_id)
        if (*p == e) {
            *p = e->next_id;
            break;
        }
    if (e->older) e->older->newer = e->newer;
    else g->oldest = e->newer;
    if (e->newer) e->newer->older = e->older;
    else g->newest = e->older;
    g->nentries--;
}

static void copy_answer(const gw_entry *e, gw_answer *a)
{
    a->status = e->status;
    snprintf(a->ctype, sizeof a->ctype, "%s", e->ctype);
    snprintf(a->provider_id, sizeof a->provider_id, "%s", e->provider_id);
    a->len = e->len;
    a->body = malloc(e->len + 1);
    if (!a->body) abort();
    if (e->len) memcpy(a->body, e->body, e->len);
    a->body[e->len] = 0;
}

void gw_answer_free(gw_answer *a)
{
    free(a->body);
    a->body = NULL;
}

static void seen_again(gw *g, gw_entry *e, gw_answer *a)
{
    e->times_seen++;
    g->accepted_total++;
    cds_time_rfc3339(e->last_seen, sizeof e->last_seen);
    copy_answer(e, a);
}

int gw_store_find(gw *g, const char *key, gw_answer *a)
{
    if (!key) return 0;
    pthread_mutex_lock(&g->mu);
    gw_entry *e = find_key(g, key);
    if (e) seen_again(g, e, a);
    pthread_mutex_unlock(&g->mu);
    return e != NULL;
}

int gw_store_put(gw *g, const char *key, const char *provider_id, json_t *fields, int status,
                 const char *ctype, const char *body, size_t len, gw_answer *a)
{
    pthread_mutex_lock(&g->mu);
    gw_entry *e = key ? find_key(g, key) : NULL;
    if (e) { /* the same key came in on another thread meanwhile */
        seen_again(g, e, a);
        pthread_mutex_unlock(&g->mu);
        json_decref(fields);
        return 1;
    }
    e = calloc(1, sizeof *e);
    if (!e) abort();
    e->key = key ? strdup(key) : NULL;
    e->body = malloc(len + 1);
    if ((key && !e->key) || !e->body) abort();
    snprintf(e->provider_id, sizeof e->provider_id, "%s", provider_id);
    e->fields = fields;
    e->status = status;
    snprintf(e->ctype, sizeof e->ctype, "%s", ctype ? ctype : "");
    if (len) memcpy(e->body, body, len);
    e->body[len] = 0;
    e->len = len;
    e->times_seen = 1;
    cds_time_rfc3339(e->first_seen, sizeof e->first_seen);
    memcpy(e->last_seen, e->first_seen, sizeof e->last_seen);
    e->seq = g->next_seq++;
    if (key) {
        gw_entry **p = key_slot(g, key);
        e->next_key = *p;
        *p = e;
    }
    gw_entry **p = id_slot(g, e->provider_id);
    e->next_id = *p;
    *p = e;
    e->older = g->newest;
    if (g->newest) g->newest->newer = e;
    else g->oldest = e;
    g->newest = e;
    g->nentries++;
    g->accepted_total++;
    while (g->nentries > g->max_entries) {
        gw_entry *old = g->oldest;
        unlink_entry(g, old);
        entry_free(old);
        g->evicted++;
    }
    pthread_mutex_unlock(&g->mu);
    return 0;
}

/* With g->mu held. */
static void dlr_note(gw *g, const char *provider_id, const char *phone, int outcome,
                     const char *state, int attempts, long last_status)
{
    gw_entry *e = find_id(g, provider_id);
    if (!e) return;
    dlr_state *d = NULL;
    for (int i = 0; i < e->ndlr && !d; i++)
        if (strcmp(e->dlr[i].phone, phone) == 0) d = &e->dlr[i];
    if (!d) {
        dlr_state *more = realloc(e->dlr, (size_t)(e->ndlr + 1) * sizeof *more);
        if (!more) abort();
        e->dlr = more;
        d = &more[e->ndlr++];
        snprintf(d->phone, sizeof d->phone, "%s", phone);
    }
    d->state = state;
    d->outcome = outcome;
    d->attempts = attempts;
    d->last_status = last_status;
}

static json_t *entry_json(const gw_entry *e)
{
    /* A copy: the listing adds its members, and the stored fields are
     * shared (read) by reports in flight. */
    json_t *j = json_deep_copy(e->fields);
    if (!j) j = json_object();
    json_object_set_new(j, "seq", json_integer(e->seq));
    json_object_set_new(j, "key", e->key ? json_string(e->key) : json_null());
    json_object_set_new(j, "provider_id", json_string(e->provider_id));
    json_object_set_new(j, "times_seen", json_integer(e->times_seen));
    json_object_set_new(j, "first_seen", json_string(e->first_seen));
    json_object_set_new(j, "last_seen", json_string(e->last_seen));
    json_object_set_new(j, "answer_status", json_integer(e->status));
    if (e->ndlr) {
        json_t *all = json_object();
        for (int i = 0; i < e->ndlr; i++) {
            const dlr_state *d = &e->dlr[i];
            json_t *one = json_pack("{s:s,s:s,s:i}", "outcome", outcome_names[d->outcome],
                                    "state", d->state, "attempts", d->attempts);
            if (d->last_status >= 0)
                json_object_set_new(one, "last_status", json_integer(d->last_status));
            json_object_set_new(all, d->phone, one);
        }
        json_object_set_new(j, "dlr", all);
    }
    return j;
}

void gw_sim_messages(cds_req *r)
{
    gw *g = gw_of(r);
    const char *key = cds_req_query(r, "key"), *id = cds_req_query(r, "provider_id");
    const char *since_s = cds_req_query(r, "since"), *limit_s = cds_req_query(r, "limit");
    long since = since_s ? strtol(since_s, NULL, 10) : 0;
    long limit = limit_s ? strtol(limit_s, NULL, 10) : LIST_LIMIT_MAX;
    if (limit <= 0 || limit > LIST_LIMIT_MAX) limit = LIST_LIMIT_MAX;
    json_t *items = json_array();
    pthread_mutex_lock(&g->mu);
    if (key || id) {
        gw_entry *e = key ? find_key(g, key) : find_id(g, id);
        if (e && (!id || strcmp(e->provider_id, id) == 0))
            json_array_append_new(items, entry_json(e));
    } else {
        for (gw_entry *e = g->oldest; e && (long)json_array_size(items) < limit; e = e->newer)
            if (e->seq > since) json_array_append_new(items, entry_json(e));
    }
    json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:o}", "standin", g->s->name, "distinct",
                          (json_int_t)(g->next_seq - 1), "accepted_total",
                          (json_int_t)g->accepted_total, "duplicates",
                          (json_int_t)(g->accepted_total - (g->next_seq - 1)), "evicted",
                          (json_int_t)g->evicted, "next", (json_int_t)g->next_seq, "items", items);
    pthread_mutex_unlock(&g->mu);
    cds_respond_json(r, 200, j);
}

void gw_sim_clear(cds_req *r)
{
    sim_record(r);
    gw *g = gw_of(r);
    pthread_mutex_lock(&g->mu);
    for (gw_entry *e = g->oldest, *n; e; e = n) {
        n = e->newer;
        entry_free(e);
    }
    memset(g->by_key, 0, GW_BUCKETS * sizeof *g->by_key);
    memset(g->by_id, 0, GW_BUCKETS * sizeof *g->by_id);
    g->oldest = g->newest = NULL;
    g->nentries = g->evicted = g->accepted_total = 0;
    g->next_seq = 1;
    pthread_mutex_unlock(&g->mu);
    cds_respond(r, 204, NULL, NULL, 0);
}

const char *gw_error_text(const gw_error_table *t, size_t n, const char *code)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(code, t[i][0]) == 0) return t[i][1];
    return NULL;
}

/* ---------------- delivery reports ---------------- */

static void cb_release(gw_cb *c)
{
    gw *g = c->g;
    pthread_mutex_lock(&g->mu);
    if (c->prev) c->prev->next = c->next;
    else if (g->pending == c) g->pending = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&g->mu);
    cb_free(c);
}

static void cb_send(gw_cb *c);

/* Starts waiting reports while this thread has turns free. A report whose
 * start fails at once ends inside cb_send (cb_done) and comes back here:
 * the flag keeps that a loop, not a recursion as deep as the queue. */
static void cb_pump(void)
{
    if (turns.pumping) return;
    turns.pumping = 1;
    while (turns.inflight < callback_concurrency && turns.head) {
        gw_cb *c = turns.head;
        turns.head = c->qnext;
        if (!turns.head) turns.tail = NULL;
        c->qnext = NULL;
        c->counted = 1;
        turns.inflight++;
        cb_send(c);
    }
    turns.pumping = 0;
}

static void cb_timer(evutil_socket_t fd, short what, void *arg)
{
    gw_cb *c = arg;
    c->timer_set = 0;
    if (turns.tail) turns.tail->qnext = c;
    else turns.head = c;
    turns.tail = c;
    cb_pump();
}

static void cb_arm(gw_cb *c, int delay_ms)
{
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    event_assign(&c->ev, c->w->base, -1, 0, cb_timer, c);
    c->timer_set = 1;
    evtimer_add(&c->ev, &tv);
}

static json_t *body_json(const char *body, size_t len)
{
    if (!body || !len) return json_null();
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    if (j) return j;
    j = json_stringn(body, len);
    return j ? j : json_string("(body not UTF-8)");
}

/* One attempt of a report as recorded (event "callback"): kept flat and
 * turned into JSON only when a test lists the record (sim/recorder.c).
 * `data`: provider id, phone, method, URL and error (each NUL-terminated),
 * then the body sent and the answer received, each followed by a NUL. */
typedef struct cb_event {
    int outcome, attempt, of, token, has_error;
    long status;
    size_t body_len, resp_len;
    char data[];
} cb_event;

static json_t *cb_event_json(const char *kind, const void *blob)
{
    const cb_event *e = blob;
    const char *id = e->data, *phone = id + strlen(id) + 1, *method = phone + strlen(phone) + 1,
               *url = method + strlen(method) + 1, *error = url + strlen(url) + 1,
               *body = error + strlen(error) + 1, *resp = body + e->body_len + 1;
    json_t *sent = json_stringn(body, e->body_len);
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:i,s:i,s:I,s:s}", "provider_id", id,
                           "phone", phone, "outcome", outcome_names[e->outcome], "method", method,
                           "url", url, "body", sent ? sent : json_null(), "attempt",
                           e->attempt, "of", e->of, "status", (json_int_t)e->status, "token",
                           e->token == 0   ? "good"
                           : e->token == 1 ? "wrong"
                                           : "none");
    if (!ev) return NULL;
    if (e->has_error) json_object_set_new(ev, "error", json_string(error));
    json_object_set_new(ev, "response", body_json(resp, e->resp_len));
    return json_pack("{s:s,s:o}", "kind", kind, "detail", ev);
}

static void record_attempt(gw_cb *c, const cds_http_response *resp)
{
    const char *strs[5] = {c->provider_id, c->phone, c->out.method, c->out.url,
                           resp->error ? resp->error : ""};
    size_t lens[5], n = 0, blen = c->out.body ? c->out.body_len : 0;
    size_t rlen = resp->body ? resp->body_len : 0;
    for (int i = 0; i < 5; i++) n += (lens[i] = strlen(strs[i]) + 1);
    cb_event *e = malloc(sizeof *e + n + blen + 1 + rlen + 1);
    if (!e) abort();
    e->outcome = c->outcome;
    e->attempt = c->attempt;
    e->of = c->max_attempts;
    e->token = c->token;
    e->has_error = resp->error != NULL;
    e->status = resp->status;
    e->body_len = blen;
    e->resp_len = rlen;
    char *p = e->data;
    for (int i = 0; i < 5; i++) {
        memcpy(p, strs[i], lens[i]);
        p += lens[i];
    }
    if (blen) memcpy(p, c->out.body, blen);
    p[blen] = 0;
    p += blen + 1;
    if (rlen) memcpy(p, resp->body, rlen);
    p[rlen] = 0;
    sim_record_lazy(c->g->s, "callback", e, cb_event_json);
}

static void cb_done(void *arg, const cds_http_response *resp)
{
    gw_cb *c = arg;
    gw *g = c->g;
    c->call = NULL;
    int counted = c->counted;
    if (counted) {
        c->counted = 0;
        turns.inflight--;
    }
    int ok = !resp->error && resp->status >= 200 && resp->status < 300;
    /* cds_http_client_free fails what is left this way when the loop
     * stops: nothing is retried then. */
    int closing = resp->error && strcmp(resp->error, "client closed") == 0;
    int retry = !ok && !closing && !c->ctl && c->attempt < c->max_attempts;

    record_attempt(c, resp);
    pthread_mutex_lock(&g->mu);
    dlr_note(g, c->provider_id, c->phone, c->outcome,
             ok ? "acknowledged" : retry ? "retrying" : "gave_up", c->attempt, resp->status);
    pthread_mutex_unlock(&g->mu);

    if (c->ctl) {
        cds_req *r = c->ctl;
        cds_req_untrack(r, c->slot);
        json_t *out = json_pack("{s:I,s:o,s:{s:s,s:s,s:s%}}", "status", (json_int_t)resp->status,
                                "body", body_json(resp->body, resp->body_len), "request",
                                "method", c->out.method, "url", c->out.url, "body",
                                c->out.body ? c->out.body : "",
                                c->out.body ? c->out.body_len : 0);
        if (resp->error) json_object_set_new(out, "error", json_string(resp->error));
        cds_respond_json(r, resp->error ? 502 : 200, out);
        cb_release(c);
    } else if (retry) {
        long delay = (long)g->callback_retry_ms << (c->attempt - 1 < 10 ? c->attempt - 1 : 10);
        cb_arm(c, delay > 600000 ? 600000 : (int)delay);
    } else {
        cb_release(c);
    }
    if (counted) cb_pump();
}

static void cb_cancel_ctl(void *arg)
{
    gw_cb *c = arg;
    if (c->call) cds_http_cancel(c->call);
    c->call = NULL;
    cb_release(c);
}

static void cb_send(gw_cb *c)
{
    c->attempt++;
    const char *hv[4];
    size_t h = 0;
    hv[h++] = "User-Agent: cds-sim-gateway/1";
    if (c->out.body) hv[h++] = "Content-Type: application/json";
    if (c->out.header[0]) hv[h++] = c->out.header;
    hv[h] = NULL;
    cds_http_request hr = {.method = c->out.method,
                           .url = c->out.url,
                           .headers = hv,
                           .body = c->out.body,
                           .body_len = c->out.body_len,
                           .timeout_ms = CALLBACK_TIMEOUT_MS,
                           .max_response = CALLBACK_RESPONSE_MAX,
                           .insecure = 1 /* development targets with their own certificates */};
    c->call = cds_http_start(c->w->http, &hr, cb_done, c);
    if (!c->call) {
        cds_http_response fake = {.status = 0, .error = "request refused by the HTTP client"};
        c->max_attempts = c->attempt; /* a URL curl refuses will not get better */
        cb_done(c, &fake);
    }
}

/* A new report (not yet started), linked into the pending list. */
static gw_cb *cb_new(gw *g, cds_worker *w, const char *provider_id, const char *phone,
                     int outcome, gw_http_out *out)
{
    gw_cb *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->g = g;
    c->w = w;
    c->out = *out;
    memset(out, 0, sizeof *out);
    snprintf(c->provider_id, sizeof c->provider_id, "%s", provider_id);
    snprintf(c->phone, sizeof c->phone, "%s", phone);
    c->outcome = outcome;
    c->max_attempts = g->callback_attempts;
    c->slot = -1;
    pthread_mutex_lock(&g->mu);
    c->next = g->pending;
    if (g->pending) g->pending->prev = c;
    g->pending = c;
    pthread_mutex_unlock(&g->mu);
    return c;
}

void gw_dlr_schedule(cds_req *r, const char *provider_id, const char *key, json_t *fields)
{
    gw *g = gw_of(r);
    if (!g->ops->build_callback) return;
    pthread_mutex_lock(&g->mu);
    int outcome = g->dlr_outcome, delay = g->dlr_delay_ms;
    if (g->dlr_count > 0 && --g->dlr_count == 0) {
        g->dlr_outcome = GW_DLR_DELIVERED;
        g->dlr_count = -1;
    }
    pthread_mutex_unlock(&g->mu);
    json_t *phones = json_object_get(fields, "phones"), *one = NULL;
    if (!json_is_array(phones)) {
        one = json_pack("[O]", json_object_get(fields, "phone"));
        phones = one;
    }
    size_t i;
    json_t *p;
    json_array_foreach(phones, i, p) {
        const char *phone = json_string_value(p);
        if (!phone) continue;
        if (outcome == GW_DLR_NONE) {
            pthread_mutex_lock(&g->mu);
            dlr_note(g, provider_id, phone, outcome, "not_sent", 0, -1);
            pthread_mutex_unlock(&g->mu);
            continue;
        }
        gw_http_out out;
        memset(&out, 0, sizeof out);
        if (g->ops->build_callback(g, provider_id, key, fields, phone, outcome, &out) != 0) {
            free(out.url);
            free(out.body);
            pthread_mutex_lock(&g->mu);
            dlr_note(g, provider_id, phone, outcome, "no_callback_url", 0, -1);
            pthread_mutex_unlock(&g->mu);
            continue;
        }
        gw_cb *c = cb_new(g, cds_req_worker(r), provider_id, phone, outcome, &out);
        pthread_mutex_lock(&g->mu);
        dlr_note(g, provider_id, phone, outcome, "scheduled", 0, -1);
        pthread_mutex_unlock(&g->mu);
        cb_arm(c, delay);
    }
    json_decref(one);
}

static int outcome_from(const char *s)
{
    for (size_t i = 0; s && i < NOUTCOMES; i++)
        if (strcmp(s, outcome_names[i]) == 0) return (int)i;
    return -1;
}

static json_t *dlr_json(gw *g)
{
    return json_pack("{s:s,s:o,s:i,s:s}", "outcome", outcome_names[g->dlr_outcome], "count",
                     g->dlr_count < 0 ? json_null() : json_integer(g->dlr_count), "delay_ms",
                     g->dlr_delay_ms, "callback_url", g->callback_url);
}

void gw_sim_dlr(cds_req *r)
{
    sim_record(r);
    gw *g = gw_of(r);
    if (strcmp(cds_req_method(r), "GET") == 0) {
        pthread_mutex_lock(&g->mu);
        json_t *j = dlr_json(g);
        pthread_mutex_unlock(&g->mu);
        cds_respond_json(r, 200, j);
        return;
    }
    json_t *in = cds_req_json(r);
    if (!in) return;
    const char *k;
    json_t *v;
    if (!json_is_object(in)) goto bad;
    json_object_foreach(in, k, v) {
        if (strcmp(k, "outcome") != 0 && strcmp(k, "count") != 0 && strcmp(k, "delay_ms") != 0)
            goto bad;
    }
    json_t *jo = json_object_get(in, "outcome"), *jc = json_object_get(in, "count"),
           *jd = json_object_get(in, "delay_ms");
    int outcome = jo ? outcome_from(json_string_value(jo)) : -2;
    if (outcome == -1) goto bad;
    if (jc && !json_is_null(jc) && (!json_is_integer(jc) || json_integer_value(jc) < 1)) goto bad;
    if (jd && (!json_is_integer(jd) || json_integer_value(jd) < 0 ||
               json_integer_value(jd) > DLR_DELAY_MAX_MS))
        goto bad;
    pthread_mutex_lock(&g->mu);
    if (outcome >= 0) {
        g->dlr_outcome = outcome;
        g->dlr_count = jc && json_is_integer(jc) ? (long)json_integer_value(jc) : -1;
    }
    if (jd) g->dlr_delay_ms = (int)json_integer_value(jd);
    json_t *j = dlr_json(g);
    pthread_mutex_unlock(&g->mu);
    cds_respond_json(r, 200, j);
    return;
bad:
    control_error(r, "Nhận {\"outcome\": \"delivered\"|\"failed\"|\"rejected\"|\"pending\"|"
                     "\"none\", \"count\"?: số nguyên dương, \"delay_ms\"?: 0..600000}.");
}

/* The report's URL with its token replaced by a wrong one (1) or taken out
 * with its slash (2); -1 when the URL does not hold the token. */
static int swap_token(gw *g, gw_http_out *out, int token)
{
    const char *t = g->callback_token;
    char *at = *t ? strstr(out->url, t) : NULL;
    if (!at || at == out->url || at[-1] != '/') return -1;
    size_t pre = (size_t)(at - out->url) - (token == 2 ? 1 : 0), tl = strlen(t);
    const char *rest = at + tl;
    size_t n = pre + strlen(rest) + tl + 8;
    char *u = malloc(n);
    if (!u) abort();
    if (token == 1)
        snprintf(u, n, "%.*swrong-%s%s", (int)pre, out->url, t, rest);
    else
        snprintf(u, n, "%.*s%s", (int)pre, out->url, rest);
    free(out->url);
    out->url = u;
    return 0;
}

void gw_sim_callback(cds_req *r)
{
    sim_record(r);
    gw *g = gw_of(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    const char *id = json_string_value(json_object_get(in, "provider_id"));
    const char *phone = json_string_value(json_object_get(in, "phone"));
    const char *key = json_string_value(json_object_get(in, "key"));
    const char *token_s = json_string_value(json_object_get(in, "token"));
    json_t *jo = json_object_get(in, "outcome");
    int outcome = jo ? outcome_from(json_string_value(jo)) : GW_DLR_DELIVERED;
    int token = !token_s || strcmp(token_s, "good") == 0 ? 0
                : strcmp(token_s, "wrong") == 0         ? 1
                : strcmp(token_s, "none") == 0          ? 2
                                                        : -1;
    if (!json_is_object(in) || !id || !*id || strlen(id) >= GW_ID_MAX || outcome <= 0 ||
        token < 0 || (json_object_get(in, "token") && !token_s)) {
        control_error(r, "Nhận {\"provider_id\", \"phone\"?, \"key\"?, \"outcome\"?: "
                         "\"delivered\"|\"failed\"|\"rejected\"|\"pending\", \"token\"?: "
                         "\"good\"|\"wrong\"|\"none\"}.");
        return;
    }
    /* A known message lends its fields (phone, callback URL, type); an
     * unknown id is sent as given: our server must then change nothing. */
    json_t *fields = NULL;
    char stored_key[GW_KEY_MAX + 1] = "";
    pthread_mutex_lock(&g->mu);
    gw_entry *e = find_id(g, id);
    if (e) {
        fields = json_deep_copy(e->fields);
        if (e->key) snprintf(stored_key, sizeof stored_key, "%s", e->key);
    }
    pthread_mutex_unlock(&g->mu);
    if (!fields) fields = json_object();
    if (!key && stored_key[0]) key = stored_key;
    if (!phone) {
        json_t *ps = json_object_get(fields, "phones");
        phone = json_string_value(json_is_array(ps) ? json_array_get(ps, 0)
                                                    : json_object_get(fields, "phone"));
    }
    /* A copy: `phone` may point into `fields`, released below. */
    char phone_buf[32];
    snprintf(phone_buf, sizeof phone_buf, "%s",
             phone && strlen(phone) < sizeof phone_buf ? phone : "0912345678");
    gw_http_out out;
    memset(&out, 0, sizeof out);
    int rc = g->ops->build_callback(g, id, key, fields, phone_buf, outcome, &out);
    json_decref(fields);
    phone = phone_buf;
    if (rc != 0) {
        free(out.url);
        free(out.body);
        cds_problem(r, 409, "no_callback_url",
                    "Không có địa chỉ callback (CDS_SIM_SMS_CALLBACK_BASE / CallbackUrl).");
        return;
    }
    if (token && swap_token(g, &out, token) != 0) {
        free(out.url);
        free(out.body);
        cds_problem(r, 409, "no_token_in_url",
                    "Địa chỉ callback không chứa mã bí mật của cổng (CDS_SIM_<PFX>_CALLBACK_TOKEN).");
        return;
    }
    gw_cb *c = cb_new(g, cds_req_worker(r), id, phone, outcome, &out);
    c->token = token;
    c->max_attempts = 1;
    c->ctl = r;
    c->slot = cds_req_track(r, cb_cancel_ctl, c);
    if (c->slot < 0) {
        cb_release(c);
        cds_problem(r, 503, "busy", "Yêu cầu điều khiển đang theo dõi quá nhiều việc.");
        return;
    }
    cb_send(c);
}

/* ---------------- SMS text ---------------- */

/* Septets of one code point in the GSM 03.38 alphabet as this service
 * allows it: 1 (default table), 2 (extension table), 0 (refused). */
static int gsm_septets(unsigned long cp)
{
    if (cp == '\n' || cp == '\r') return 1;
    if (cp == 0x0C) return 2; /* form feed, extension table */
    if (cp >= 0x20 && cp < 0x7f) {
        if (cp == '`') return 0;
        if (strchr("^{}\\[~]|", (int)cp)) return 2;
        return 1;
    }
    switch (cp) {
    case 0xA3: case 0xA5: case 0xA4: case 0xA1: case 0xA7: case 0xBF: /* £ ¥ ¤ ¡ § ¿ */
    case 0x394: case 0x3A6: case 0x393: case 0x39B: case 0x3A9:       /* Δ Φ Γ Λ Ω */
    case 0x3A0: case 0x3A8: case 0x3A3: case 0x398: case 0x39E:       /* Π Ψ Σ Θ Ξ */
        return 1;
    case 0x20AC: return 2; /* € */
    default:
        return 0; /* and the GSM letters with marks: è é ù ì ò à Ç Ä Ö Ñ Ü ... */
    }
}

int gw_sms_text_check(const char *s, size_t n, size_t *septets, int *segments, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, total = 0;
    while (i < n) {
        unsigned long cp;
        size_t len;
        if (p[i] < 0x80) {
            cp = p[i];
            len = 1;
        } else if ((p[i] & 0xE0) == 0xC0) {
            cp = p[i] & 0x1Fu;
            len = 2;
        } else if ((p[i] & 0xF0) == 0xE0) {
            cp = p[i] & 0x0Fu;
            len = 3;
        } else if ((p[i] & 0xF8) == 0xF0) {
            cp = p[i] & 0x07u;
            len = 4;
        } else {
            *bad_at = i;
            return -1;
        }
        if (i + len > n) {
            *bad_at = i;
            return -1;
        }
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                *bad_at = i;
                return -1;
            }
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        int w = gsm_septets(cp);
        if (!w) {
            *bad_at = i;
            return -1;
        }
        total += (size_t)w;
        i += len;
    }
    *septets = total;
    *segments = total == 0 ? 0 : total <= 160 ? 1 : (int)((total + 152) / 153);
    return 0;
}

int gw_vn_telco(const char *national)
{
    static const struct {
        const char *prefixes;
        int telco;
    } map[] = {
        {"086 096 097 098 032 033 034 035 036 037 038 039", 1},
        {"089 090 093 070 076 077 078 079", 2},
        {"088 091 094 081 082 083 084 085", 3},
        {"092 056 058", 4},
        {"099 059", 5},
        {"087", 6},
        {"055", 7},
    };
    if (!national || strlen(national) < 3) return 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        for (const char *p = map[i].prefixes; *p; p += p[3] ? 4 : 3)
            if (strncmp(p, national, 3) == 0) return map[i].telco;
    return 0;
}

int gw_phone_national(const char *in, char *out, size_t cap)
{
    char d[16];
    size_t n = 0;
    if (!in || cap < 11) return -1;
    for (const char *p = in + (*in == '+'); *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (n == sizeof d - 1) return -1;
            d[n++] = *p;
        } else if (!strchr(" .-", *p)) {
            return -1;
        }
    }
    d[n] = 0;
    /* 0 + nine digits, or the country code 84 + nine digits; mobile
     * numbers start 3, 5, 7, 8 or 9 after the 0 since the 2018 renumbering. */
    const char *nine = n == 10 && d[0] == '0' ? d + 1 : n == 11 && !strncmp(d, "84", 2) ? d + 2 : NULL;
    if (!nine || !strchr("35789", nine[0])) return -1;
    snprintf(out, cap, "0%s", nine);
    return 0;
}

int gw_same_secret(const char *given, size_t given_len, const char *want)
{
    size_t n = strlen(want);
    return given && given_len == n && CRYPTO_memcmp(given, want, n) == 0;
}

/* ---------------- strings ---------------- */

int gw_append(char *out, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > cap) return -1;
    memcpy(out + *len, s, n + 1);
    *len += n;
    return 0;
}

int gw_urlenc_append(char *out, size_t cap, size_t *len, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        size_t need = plain ? 1 : 3;
        if (*len + need + 1 > cap) return -1;
        if (plain) {
            out[(*len)++] = (char)c;
        } else {
            out[(*len)++] = '%';
            out[(*len)++] = hex[c >> 4];
            out[(*len)++] = hex[c & 15];
        }
    }
    out[*len] = 0;
    return 0;
}

/* ---------------- a set of strings ---------------- */

#define SET_BUCKETS 4096u

typedef struct set_node {
    struct set_node *next;
    char s[]; /* NUL-terminated */
} set_node;

struct gw_set {
    set_node *b[SET_BUCKETS];
    size_t n;
};

gw_set *gw_set_new(void)
{
    gw_set *set = calloc(1, sizeof *set);
    if (!set) abort();
    return set;
}

void gw_set_clear(gw_set *set)
{
    for (size_t i = 0; i < SET_BUCKETS; i++) {
        for (set_node *n = set->b[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
        set->b[i] = NULL;
    }
    set->n = 0;
}

void gw_set_free(gw_set *set)
{
    if (!set) return;
    gw_set_clear(set);
    free(set);
}

int gw_set_has(const gw_set *set, const char *s)
{
    for (const set_node *n = set->b[hash(s) & (SET_BUCKETS - 1)]; n; n = n->next)
        if (strcmp(n->s, s) == 0) return 1;
    return 0;
}

int gw_set_add(gw_set *set, const char *s)
{
    if (gw_set_has(set, s)) return 0;
    if (set->n >= GW_SET_MAX) return -1;
    size_t len = strlen(s);
    set_node *n = malloc(sizeof *n + len + 1);
    if (!n) abort();
    memcpy(n->s, s, len + 1);
    set_node **slot = &set->b[hash(s) & (SET_BUCKETS - 1)];
    n->next = *slot;
    *slot = n;
    set->n++;
    return 0;
}

size_t gw_set_size(const gw_set *set)
{
    return set->n;
}

void gw_tokens_control(cds_req *r, pthread_mutex_t *mu, gw_set *set)
{
    sim_record(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    json_t *list = json_object_get(in, "unregistered"), *reset = json_object_get(in, "reset");
    size_t i;
    json_t *v;
    int ok = json_is_object(in) && (list || reset) && (!list || json_is_array(list)) &&
             (!reset || json_is_boolean(reset));
    json_array_foreach(list, i, v) if (!json_is_string(v) || !json_string_length(v)) ok = 0;
    if (!ok) {
        cds_problem(r, 400, "invalid_control",
                    "Nhận {\"unregistered\": [\"token\", ...]} hoặc {\"reset\": true}.");
        return;
    }
    pthread_mutex_lock(mu);
    if (json_is_true(reset)) gw_set_clear(set);
    int full = 0;
    json_array_foreach(list, i, v) full |= gw_set_add(set, json_string_value(v));
    size_t n = gw_set_size(set);
    pthread_mutex_unlock(mu);
    if (full) {
        cds_problem(r, 507, "too_many_tokens", "Danh sách token đã đầy.");
        return;
    }
    cds_respond_json(r, 200, json_pack("{s:I}", "unregistered", (json_int_t)n));
}
