/* The record of what a stand-in received: a bounded ring of JSON entries
 * with increasing sequence numbers, readable over HTTP so a test can ask
 * "what did the SMS gateway get since sequence N". A mutex guards it because
 * the simulator may run several loop threads. */
#include "sim/sim.h"
#include "core/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct sim_recorder {
    pthread_mutex_t mu;
    json_t *ring[SIM_RECORD_MAX];
    long next_seq; /* sequence of the next entry; entry seq s lives at ring[s % MAX] */
};

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
    for (size_t i = 0; i < SIM_RECORD_MAX; i++) json_decref(rec->ring[i]);
    pthread_mutex_destroy(&rec->mu);
    free(rec);
}

static long put(sim_recorder *rec, json_t *entry)
{
    pthread_mutex_lock(&rec->mu);
    long seq = rec->next_seq++;
    char ts[40];
    cds_time_rfc3339(ts, sizeof ts);
    json_object_set_new(entry, "seq", json_integer(seq));
    json_object_set_new(entry, "time", json_string(ts));
    size_t slot = (size_t)seq % SIM_RECORD_MAX;
    json_decref(rec->ring[slot]);
    rec->ring[slot] = entry;
    pthread_mutex_unlock(&rec->mu);
    return seq;
}

sim_standin *sim_of(cds_req *r)
{
    return cds_req_listener_data(r);
}

long sim_record(cds_req *r)
{
    sim_standin *s = sim_of(r);
    size_t blen;
    const char *body = cds_req_body(r, &blen);
    json_t *hdrs = json_object();
    const char *names[] = {"content-type", "authorization", "idempotency-key", "x-request-id",
                           "user-agent", "x-signature", "x-casso-signature", "x-timestamp",
                           "apns-topic", "apns-push-type", "apns-priority", "apns-expiration",
                           "apns-collapse-id", "apns-id", "x-api-key", "token", "x-client-id",
                           "x-sepay-timestamp", "x-sepay-signature", "traceparent", "tracestate",
                           "x-zevent-signature", "access_token", "secret_key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = cds_req_header(r, names[i]);
        if (v) json_object_set_new(hdrs, names[i], json_string(v));
    }
    json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s%,s:i}", "kind", "request", "method",
                          cds_req_method(r), "path", cds_req_path(r), "query",
                          cds_req_query_string(r), "headers", hdrs, "body", body, blen, "proto",
                          cds_req_proto(r));
    if (!e) { /* body not UTF-8: keep its length only */
        e = json_pack("{s:s,s:s,s:s,s:s,s:o,s:I}", "kind", "request", "method",
                      cds_req_method(r), "path", cds_req_path(r), "query",
                      cds_req_query_string(r), "headers", hdrs, "body_bytes", (json_int_t)blen);
    }
    return e ? put(s->rec, e) : -1;
}

long sim_record_event(sim_standin *s, const char *kind, json_t *detail)
{
    json_t *e = json_pack("{s:s,s:o}", "kind", kind, "detail", detail);
    return e ? put(s->rec, e) : -1;
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
        json_array_append(items, s->rec->ring[(size_t)seq % SIM_RECORD_MAX]);
    pthread_mutex_unlock(&s->rec->mu);
    cds_respond_json(r, 200, json_pack("{s:s,s:I,s:o}", "standin", s->name, "next",
                                       (json_int_t)next, "items", items));
}

static void clear_requests(cds_req *r)
{
    sim_standin *s = sim_of(r);
    pthread_mutex_lock(&s->rec->mu);
    for (size_t i = 0; i < SIM_RECORD_MAX; i++) {
        json_decref(s->rec->ring[i]);
        s->rec->ring[i] = NULL;
    }
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
