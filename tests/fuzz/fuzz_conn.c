/* libFuzzer target: raw bytes from a client into the connection handler, as
 * on the cleartext port (so both protocols: the first byte chooses whether
 * the HTTP/2 client preface is put in front). The connection sits on an
 * in-memory bufferevent pair and the event loop runs until it is idle, so
 * detection, llhttp, nghttp2, routing, limits, JSON and answers all
 * run exactly as they do on a socket. */
#include "core/conn.h"
#include "core/log.h"
#include "core/metrics.h"

#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void echo(cds_req *r)
{
    json_t *j = cds_req_json(r);
    if (j) cds_respond_json(r, 200, json_incref(j));
}

static void hello(cds_req *r)
{
    const char *q = cds_req_query(r, "q");
    const char *id = cds_req_param(r, "id");
    cds_respond(r, 200, "text/plain", q ? q : "hello", q ? strlen(q) : 5);
    (void)id;
}

/* A body taken in pieces (core/req_body.c): pieces of 512 bytes, the next
 * asked for at once or from the loop (as a database answer would), a
 * refusal before the body or in the middle of it, as the query says. */
typedef struct upload {
    size_t got;
    int pieces;
    struct event *ev;
    cds_req *r;
} upload;

static void upload_free(void *arg)
{
    upload *u = arg;
    if (u->ev) event_free(u->ev);
    free(u);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    upload *u = arg;
    cds_req_body_next(u->r);
}

static void on_piece(cds_req *r, const char *p, size_t n, int last, void *arg)
{
    upload *u = arg;
    u->got += n;
    u->pieces++;
    if (last) {
        char out[64];
        int k = snprintf(out, sizeof out, "%zu bytes in %d pieces", u->got, u->pieces);
        cds_respond(r, 200, "text/plain", out, (size_t)k);
    } else if (n && p[0] == 'X') {
        cds_problem(r, 415, "unsupported_file_type", "refused mid-body");
    } else if (u->pieces % 2) {
        cds_req_body_next(r);
    } else {
        static const struct timeval now = {0, 0};
        if (!u->ev) u->ev = evtimer_new(cds_req_worker(r)->base, on_later, u);
        evtimer_add(u->ev, &now);
    }
}

static void upload_start(cds_req *r)
{
    if (cds_req_query(r, "refuse")) {
        cds_problem(r, 401, "authentication_required", "refused at the headers");
        return;
    }
    upload *u = calloc(1, sizeof *u);
    if (!u) abort();
    u->r = r;
    cds_req_set_user(r, u, upload_free);
    cds_req_body_read(r, 512, on_piece, u);
}

static const cds_route routes[] = {
    {"GET", "/hello", hello, 0},
    {"GET", "/items/{id}", hello, 0},
    {"POST", "/echo", echo, 4096},
    {"PUT", "/echo", echo, 0},
    {"POST", "/up", upload_start, CDS_STREAMED(6000)},
};

static cds_server_config cfg;
static cds_thread thread;
static cds_listen listen_cfg;

static void setup(void)
{
    cds_server_config_defaults(&cfg);
    cfg.max_header_bytes = 2048; /* small caps: the fuzzer reaches them */
    cfg.max_body = 8192;
    cfg.max_streams = 8;
    cfg.max_conn_buffer = 256;   /* tiny: answers wait in line (slow-read paths) */
    cfg.max_thread_buffer = 1024;
    listen_cfg.router = cds_router_new(routes, sizeof routes / sizeof routes[0]);
    listen_cfg.host = "fuzz";
    cfg.listen[0] = listen_cfg;
    cfg.nlisten = 1;
    thread.cfg = &cfg;
    thread.w.base = event_base_new();
    thread.rng = 42;
    cds_log_access_enable(0);
    cds_log_set_level(CDS_LOG_ERROR + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size == 0) return 0;
    static int dump = -1;
    if (dump < 0) dump = getenv("FUZZ_CONN_DUMP") != NULL;
    struct bufferevent *pair[2];
    if (bufferevent_pair_new(thread.w.base, BEV_OPT_CLOSE_ON_FREE, pair) != 0) return 0;
    if (!cds_conn_attach(&thread, &cfg.listen[0], pair[0], "fuzz", 0)) {
        bufferevent_free(pair[0]);
        bufferevent_free(pair[1]);
        return 0;
    }
    bufferevent_enable(pair[1], EV_READ);
    if (data[0] & 1) bufferevent_write(pair[1], "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    bufferevent_write(pair[1], data + 1, size - 1);
    for (int i = 0; i < 64; i++) {
        event_base_loop(thread.w.base, EVLOOP_NONBLOCK);
        struct evbuffer *in = bufferevent_get_input(pair[1]);
        if (dump) /* FUZZ_CONN_DUMP=1: what the server answered, to check a seed */
            evbuffer_write(in, 1);
        evbuffer_drain(in, evbuffer_get_length(in));
    }
    while (thread.conns) cds_conn_close(thread.conns);
    bufferevent_free(pair[1]);
    event_base_loop(thread.w.base, EVLOOP_NONBLOCK);
    return 0;
}
