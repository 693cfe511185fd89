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

static const cds_route routes[] = {
    {"GET", "/hello", hello, 0},
    {"GET", "/items/{id}", hello, 0},
    {"POST", "/echo", echo, 4096},
    {"PUT", "/echo", echo, 0},
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
        evbuffer_drain(in, evbuffer_get_length(in));
    }
    while (thread.conns) cds_conn_close(thread.conns);
    bufferevent_free(pair[1]);
    event_base_loop(thread.w.base, EVLOOP_NONBLOCK);
    return 0;
}
