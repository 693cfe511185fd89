/* A stand-in's outgoing callback, posted N times (see callback.h). */
#include "sim/callback.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 8

struct sim_callback {
    cds_req *r; /* NULL: nobody waits */
    sim_standin *s;
    const char *kind, *key;
    char *url, *body;
    char *headers[MAX_HEADERS]; /* NULL-terminated */
    int nheaders, left, slot;
    cds_http_call *call;
    cds_http_client *http;
    json_t *responses, *about;
};

static void callback_free(void *p)
{
    sim_callback *c = p;
    free(c->url);
    free(c->body);
    for (int i = 0; i < c->nheaders; i++) free(c->headers[i]);
    json_decref(c->responses);
    json_decref(c->about);
    free(c);
}

sim_callback *sim_callback_new(sim_standin *s, cds_http_client *http, const char *kind,
                               const char *key, json_t *about, char *body)
{
    sim_callback *c = calloc(1, sizeof *c);
    if (!c || !body) abort();
    c->s = s;
    c->http = http;
    c->kind = kind;
    c->key = key;
    c->about = about;
    c->body = body;
    c->responses = json_array();
    if (sim_callback_header(c, "Content-Type: application/json") < 0) abort();
    return c;
}

const char *sim_callback_body(const sim_callback *c)
{
    return c->body;
}

int sim_callback_header(sim_callback *c, const char *fmt, ...)
{
    if (c->nheaders >= MAX_HEADERS - 1) return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&c->headers[c->nheaders], fmt, ap);
    va_end(ap);
    if (n < 0) {
        c->headers[c->nheaders] = NULL;
        return -1;
    }
    c->nheaders++;
    return 0;
}

static void send_once(sim_callback *c);

static void on_answer(void *arg, const cds_http_response *resp)
{
    sim_callback *c = arg;
    c->call = NULL;
    if (c->r) cds_req_untrack(c->r, c->slot);
    json_t *body = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    json_t *one = json_pack("{s:I,s:o}", "status", (json_int_t)resp->status, "body",
                            body ? body : json_null());
    if (resp->error) json_object_set_new(one, "error", json_string(resp->error));
    json_array_append_new(c->responses, one);
    if (c->s)
        sim_record_event(c->s, c->kind,
                         json_pack("{s:O,s:I}", c->key, c->about, "status",
                                   (json_int_t)resp->status));
    if (--c->left > 0 && !resp->error) {
        send_once(c);
        return;
    }
    if (c->r) {
        json_t *last = json_array_get(c->responses, json_array_size(c->responses) - 1);
        /* c is freed with the control request */
        cds_respond_json(c->r, 200,
                         json_pack("{s:O,s:O,s:O,s:O}", "status", json_object_get(last, "status"),
                                   "body", json_object_get(last, "body"), c->key, c->about,
                                   "responses", c->responses));
    } else {
        callback_free(c);
    }
}

static void cancel_call(void *call)
{
    cds_http_cancel(call);
}

static void send_once(sim_callback *c)
{
    cds_http_request hr = {.method = "POST",
                           .url = c->url,
                           .headers = (const char *const *)c->headers,
                           .body = c->body,
                           .body_len = strlen(c->body),
                           .timeout_ms = 15000};
    c->call = cds_http_start(c->http, &hr, on_answer, c);
    if (!c->call) {
        cds_http_response refused = {.status = 0, .error = "request refused"};
        on_answer(c, &refused);
        return;
    }
    if (c->r) c->slot = cds_req_track(c->r, cancel_call, c->call);
}

void sim_callback_start(sim_callback *c, cds_req *r, const char *url, int times)
{
    c->r = r;
    c->left = times;
    c->url = strdup(url);
    if (!c->url) abort();
    if (r) cds_req_set_user(r, c, callback_free);
    send_once(c);
}
