/* HTTP/1.1 on a connection, parsed by http-parser (Debian's libhttp-parser).
 *
 * One request at a time: when a request is complete the parser is paused and
 * the handler runs; pipelined bytes wait in the input buffer (whose size is
 * capped by a read watermark) until the answer is written. A request refused
 * before its body (404/405/413/431) is answered at once with
 * "connection: close", so an oversized upload is never read. */
#include "core/conn.h"
#include "core/log.h"
#include "core/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define H1_INPUT_HIGH_WATER (64 * 1024)

static cds_conn *conn_of(http_parser *p) { return p->data; }

/* Bounded growth of an arena string being assembled from parser pieces. */
static int append(cds_req *r, char **dst, size_t *len, const char *at, size_t n)
{
    r->header_bytes += n;
    if (r->header_bytes > r->conn->t->cfg->max_header_bytes) {
        r->early_status = 431;
        return -1;
    }
    char *nb = cds_arena_alloc(&r->arena, *len + n + 1);
    if (*len) memcpy(nb, *dst, *len);
    memcpy(nb + *len, at, n);
    *len += n;
    nb[*len] = 0;
    *dst = nb;
    return 0;
}

static int flush_header(cds_req *r)
{
    if (!r->hname_len) return 0;
    /* add_header counts name+value+32 again on top of the raw bytes: the cap
     * stays conservative, never lax. */
    r->header_bytes -= r->hname_len + r->hval_len;
    int rc = cds_req_add_header(r, r->hname, r->hname_len, r->hval ? r->hval : "", r->hval_len);
    r->hname = r->hval = NULL;
    r->hname_len = r->hval_len = 0;
    return rc;
}

static int on_message_begin(http_parser *p)
{
    cds_conn *c = conn_of(p);
    c->h1_req = cds_req_new(c, CDS_PROTO_H1);
    cds_conn_rearm_timer(c);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    cds_req *r = conn_of(p)->h1_req;
    return append(r, &r->url, &r->url_len, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    cds_req *r = conn_of(p)->h1_req;
    if (r->h1_last_was_value && flush_header(r) != 0) return -1;
    r->h1_last_was_value = 0;
    return append(r, &r->hname, &r->hname_len, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    cds_req *r = conn_of(p)->h1_req;
    r->h1_last_was_value = 1;
    return append(r, &r->hval, &r->hval_len, at, n);
}

static int on_headers_complete(http_parser *p)
{
    cds_conn *c = conn_of(p);
    cds_req *r = c->h1_req;
    if (flush_header(r) != 0) return -1;
    snprintf(r->method, sizeof r->method, "%s", http_method_str((enum http_method)p->method));
    r->path = r->url ? r->url : "";
    c->h1_keepalive = http_should_keep_alive(p);
    if (cds_req_headers_done(r) != 0) {
        http_parser_pause(p, 1); /* answer now, read no body */
        return 0;
    }
    const char *expect = cds_req_header(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    cds_req *r = conn_of(p)->h1_req;
    if (cds_req_body_append(r, at, n) != 0) http_parser_pause(p, 1);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    cds_conn *c = conn_of(p);
    c->h1_busy = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void h1_on_read(cds_conn *c);

static int h1_start(cds_conn *c)
{
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->h1_keepalive = 1;
    bufferevent_setwatermark(c->bev, EV_READ, 0, H1_INPUT_HIGH_WATER);
    cds_conn_rearm_timer(c);
    h1_on_read(c);
    return 0;
}

/* A request that cannot be parsed gets a bare 400 and the connection closes. */
static void refuse(cds_conn *c, int status)
{
    cds_req *r = c->h1_req;
    if (!r) {
        r = c->h1_req = cds_req_new(c, CDS_PROTO_H1);
    }
    r->early_status = status;
    if (!r->request_id[0]) cds_req_headers_done(r);
    c->h1_keepalive = 0;
    c->h1_busy = 1;
    r->dispatched = 1;
    cds_req_early_problem(r, status);
}

static void h1_on_read(cds_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->h1_busy && c->phase == PH_PROTO && !c->close_after_write) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0) return;
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) return;
        size_t used = http_parser_execute(&c->parser, &settings, v.iov_base, v.iov_len);
        evbuffer_drain(in, used);
        enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
        cds_req *r = c->h1_req;
        if (err == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            if (r && r->early_status) {
                /* Refused before or during the body: answer and close without reading on. */
                c->h1_keepalive = 0;
                c->h1_busy = 1;
                cds_req_dispatch(r);
                return;
            }
            if (c->h1_busy) {
                cds_conn_rearm_timer(c);
                cds_req_dispatch(r); /* may answer synchronously: the loop goes on */
            }
            continue;
        }
        if (err != HPE_OK) {
            if (r && r->early_status == 431) refuse(c, 431);
            else if (err == HPE_HEADER_OVERFLOW) refuse(c, 431);
            else refuse(c, 400);
            return;
        }
        if (used < v.iov_len) { /* upgrade: we don't switch protocols; answer as HTTP/1.1 */
            refuse(c, 400);
            return;
        }
    }
}

static void h1_send(cds_req *r)
{
    cds_conn *c = r->conn;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int keep = c->h1_keepalive && !c->t->stopping && !r->early_status;
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\ndate: %s\r\ncontent-length: %zu\r\n", r->status,
                        cds_status_text(r->status), cds_thread_date(c->t), r->resp_len);
    if (!keep) evbuffer_add(out, "connection: close\r\n", 19);
    for (cds_hdr_out *h = r->rh; h; h = h->next)
        evbuffer_add_printf(out, "%s: %s\r\n", h->name, h->value);
    evbuffer_add(out, "\r\n", 2);
    if (r->resp_len && !r->head_only) evbuffer_add(out, r->resp_body, r->resp_len);
    int upgrade = c->parser.upgrade;
    cds_req_free(r);
    c->h1_req = NULL;
    c->h1_busy = 0;
    if (!keep) {
        c->close_after_write = 1;
        bufferevent_disable(c->bev, EV_READ);
        return;
    }
    if (upgrade) http_parser_init(&c->parser, HTTP_REQUEST);
    cds_conn_rearm_timer(c);
    /* Pipelined requests already buffered are picked up when the answer has
     * been flushed (cds_h1_on_drained), which also keeps recursion flat. */
}

static void h1_on_drained(cds_conn *c)
{
    if (!c->h1_busy && evbuffer_get_length(bufferevent_get_input(c->bev)))
        h1_on_read(c);
}

static int h1_timer_ms(cds_conn *c)
{
    const cds_server_config *cfg = c->t->cfg;
    if (c->h1_busy) return 0; /* the handler has it */
    return c->h1_req ? cfg->header_timeout_ms : cfg->idle_timeout_ms;
}

static void h1_timeout(cds_conn *c)
{
    if (c->h1_req && !c->h1_busy) { /* slow headers or body */
        c->h1_req->early_status = 408;
        c->h1_keepalive = 0;
        c->h1_busy = 1;
        c->h1_req->dispatched = 1;
        cds_req_early_problem(c->h1_req, 408);
        return;
    }
    cds_conn_close(c); /* idle keep-alive connection */
}

static void h1_free(cds_conn *c)
{
    if (c->h1_req) {
        cds_req_free(c->h1_req);
        c->h1_req = NULL;
    }
}

static void h1_shutdown(cds_conn *c)
{
    c->h1_keepalive = 0;
    if (!c->h1_req) cds_conn_close(c);
}

const cds_conn_ops cds_h1_ops = {
    .name = "http/1.1",
    .start = h1_start,
    .on_read = h1_on_read,
    .send = h1_send,
    .on_drained = h1_on_drained,
    .timer_ms = h1_timer_ms,
    .timeout = h1_timeout,
    .shutdown = h1_shutdown,
    .free = h1_free,
};
