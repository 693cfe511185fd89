/* The record of what a stand-in received: a bounded ring of entries with
 * increasing sequence numbers, readable over HTTP so a test can ask "what
 * did the SMS gateway get since sequence N". A mutex guards it because the
 * simulator may run several loop threads.
 *
 * Recording is on every request's path and the record is read only by
 * tests, so an entry keeps what it needs in one flat allocation (a request:
 * method, path, query, the headers of interest and the body as received)
 * and its JSON is built when GET /_sim/requests reads it. Building a JSON
 * tree per request cost the bench's notification row more CPU than our
 * server's own JSON (2026-12-05); what a test reads is the same. */
#include "sim/sim.h"
#include "core/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct rec_entry {
    const char *kind;  /* NULL: empty slot */
    json_t *detail;    /* sim_record_event: built already */
    void *blob;        /* sim_record_lazy: built when read */
    sim_build_fn build;
    char time[32];
} rec_entry;

struct sim_recorder {
    pthread_mutex_t mu;
    long next_seq; /* sequence of the next entry; entry seq s lives at ring[s % MAX] */
    rec_entry ring[SIM_RECORD_MAX];
};

static void entry_clear(rec_entry *e)
{
    json_decref(e->detail);
    free(e->blob);
    memset(e, 0, sizeof *e);
}

sim_recorder *sim_recorder_new(void)
{
    sim_recorder *rec = calloc(1, sizeof *rec);
    if (!rec) abort();
    pthread_mutex_init(&rec->mu, NULL);
    rec->next_seq = 1;
    return rec;
}

void sim_recorder_free(sim_recorder *rec)
{
    if (!rec) return;
    for (size_t i = 0; i < SIM_RECORD_MAX; i++) entry_clear(&rec->ring[i]);
    pthread_mutex_destroy(&rec->mu);
    free(rec);
}

static long put(sim_recorder *rec, const char *kind, json_t *detail, void *blob,
                sim_build_fn build)
{
    char ts[32];
    cds_time_rfc3339(ts, sizeof ts);
    pthread_mutex_lock(&rec->mu);
    long seq = rec->next_seq++;
    rec_entry *e = &rec->ring[(size_t)seq % SIM_RECORD_MAX];
    json_t *old_detail = e->detail;
    void *old_blob = e->blob;
    e->kind = kind;
    e->detail = detail;
    e->blob = blob;
    e->build = build;
    memcpy(e->time, ts, sizeof e->time);
    pthread_mutex_unlock(&rec->mu);
    json_decref(old_detail);
    free(old_blob);
    return seq;
}

/* The JSON of entry seq, with the recorder's lock held. */
static json_t *entry_json(const rec_entry *e, long seq)
{
    json_t *j;
    if (e->build) {
        j = e->build(e->kind, e->blob);
    } else {
        j = json_pack("{s:s,s:O}", "kind", e->kind, "detail", e->detail);
    }
    if (!j) j = json_pack("{s:s}", "kind", e->kind);
    json_object_set_new(j, "seq", json_integer(seq));
    json_object_set_new(j, "time", json_string(e->time));
    return j;
}

sim_standin *sim_of(cds_req *r)
{
    return cds_req_listener_data(r);
}

/* The headers a test may ask about; a request's other headers are not kept. */
static const char *const header_names[] = {
    "content-type", "authorization", "idempotency-key", "x-request-id", "user-agent",
    "x-signature", "x-casso-signature", "x-timestamp", "apns-topic", "apns-push-type",
    "apns-priority", "apns-expiration", "apns-collapse-id", "apns-id", "x-api-key", "token",
    "x-client-id", "x-sepay-timestamp", "x-sepay-signature", "traceparent", "tracestate",
    "x-zevent-signature", "access_token", "secret_key"};
#define NHEADERS (sizeof header_names / sizeof header_names[0])

/* A recorded request: the strings NUL-terminated one after the other in
 * `data` (method, path, query, then the value of each header present in
 * `have` order), then the body's bytes. */
typedef struct req_blob {
    int proto;
    unsigned nhave;
    unsigned char have[NHEADERS]; /* indexes into header_names */
    size_t body_len;
    char data[];
} req_blob;

static json_t *request_json(const char *kind, const void *blob)
{
    const req_blob *b = blob;
    const char *method = b->data, *path = method + strlen(method) + 1,
               *query = path + strlen(path) + 1, *p = query + strlen(query) + 1;
    json_t *hdrs = json_object();
    for (unsigned i = 0; i < b->nhave; i++) {
        /* a value that is not UTF-8 is left out, as before */
        json_t *v = json_string(p);
        if (v) json_object_set_new(hdrs, header_names[b->have[i]], v);
        p += strlen(p) + 1;
    }
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:o,s:i}", "kind", kind, "method", method, "path",
                          path, "query", query, "headers", hdrs, "proto", b->proto);
    if (!j) return NULL;
    json_t *body = json_stringn(p, b->body_len);
    if (body) /* else the body is not UTF-8: its length only */
        json_object_set_new(j, "body", body);
    else
        json_object_set_new(j, "body_bytes", json_integer((json_int_t)b->body_len));
    return j;
}

long sim_record(cds_req *r)
{
    sim_standin *s = sim_of(r);
    size_t blen;
    const char *body = cds_req_body(r, &blen);
    const char *method = cds_req_method(r), *path = cds_req_path(r),
               *query = cds_req_query_string(r);
    const char *values[NHEADERS];
    unsigned char have[NHEADERS];
    unsigned nhave = 0;
    size_t n = strlen(method) + strlen(path) + strlen(query) + 3 + blen;
    for (size_t i = 0; i < NHEADERS; i++) {
        const char *v = cds_req_header(r, header_names[i]);
        if (!v) continue;
        values[nhave] = v;
        have[nhave++] = (unsigned char)i;
        n += strlen(v) + 1;
    }
    req_blob *b = malloc(sizeof *b + n);
    if (!b) abort();
    b->proto = cds_req_proto(r);
    b->nhave = nhave;
    memcpy(b->have, have, nhave);
    b->body_len = blen;
    char *p = b->data;
    const char *fixed[3] = {method, path, query};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(fixed[i]) + 1;
        memcpy(p, fixed[i], l);
        p += l;
    }
    for (unsigned i = 0; i < nhave; i++) {
        size_t l = strlen(values[i]) + 1;
        memcpy(p, values[i], l);
        p += l;
    }
    if (blen) memcpy(p, body, blen);
    return put(s->rec, "request", NULL, b, request_json);
}

long sim_record_event(sim_standin *s, const char *kind, json_t *detail)
{
    if (!detail) return -1;
    return put(s->rec, kind, detail, NULL, NULL);
}

long sim_record_lazy(sim_standin *s, const char *kind, void *blob, sim_build_fn build)
{
    return put(s->rec, kind, NULL, blob, build);
}

static void list_requests(cds_req *r)
{
    sim_standin *s = sim_of(r);
    const char *since_s = cds_req_query(r, "since"), *limit_s = cds_req_query(r, "limit");
    long since = since_s ? strtol(since_s, NULL, 10) : 0;
    long limit = limit_s ? strtol(limit_s, NULL, 10) : 1000;
    if (limit <= 0 || limit > 10000) limit = 10000;
    json_t *items = json_array();
    pthread_mutex_lock(&s->rec->mu);
    long first = s->rec->next_seq - SIM_RECORD_MAX;
    if (first < 1) first = 1;
    if (since + 1 > first) first = since + 1;
    long next = s->rec->next_seq;
    for (long seq = first; seq < next && (long)json_array_size(items) < limit; seq++)
        json_array_append_new(items, entry_json(&s->rec->ring[(size_t)seq % SIM_RECORD_MAX], seq));
    pthread_mutex_unlock(&s->rec->mu);
    cds_respond_json(r, 200, json_pack("{s:s,s:I,s:o}", "standin", s->name, "next",
                                       (json_int_t)next, "items", items));
}

static void clear_requests(cds_req *r)
{
    sim_standin *s = sim_of(r);
    pthread_mutex_lock(&s->rec->mu);
    for (size_t i = 0; i < SIM_RECORD_MAX; i++) entry_clear(&s->rec->ring[i]);
    s->rec->next_seq = 1;
    pthread_mutex_unlock(&s->rec->mu);
    cds_respond(r, 204, NULL, NULL, 0);
}

static void health(cds_req *r)
{
    cds_respond_json(r, 200, json_pack("{s:s,s:s}", "status", "ok", "standin", sim_of(r)->name));
}

const cds_route sim_frame_routes[] = {
    {"GET", "/_sim/requests", list_requests, 0},
    {"DELETE", "/_sim/requests", clear_requests, 0},
    {"GET", "/_sim/health", health, 0},
};
const size_t sim_frame_nroutes = sizeof sim_frame_routes / sizeof sim_frame_routes[0];
