/* HTTP/1.1 on a connection, parsed by llhttp in strict mode (built from
 * Debian's node-llhttp sources, see cmake/llhttp.cmake).
 *
 * Strict framing (RFC 9112): llhttp refuses whitespace between a header name
 * and its colon, header names with spaces or other non-token bytes, bare LF
 * line ends, Content-Length together with Transfer-Encoding, a duplicate or
 * malformed Content-Length, a Transfer-Encoding whose last coding is not
 * chunked, and chunk sizes that overflow. On top of it this file refuses
 * obs-fold, an HTTP version other than 1.0 and 1.1, and a request without
 * exactly one Host (HTTP/1.1) or with more than one (HTTP/1.0). Each of them
 * is a 400 and the connection closes: after a framing error nothing that
 * follows on the connection can be trusted.
 *
 * One request at a time: when a request is complete the parser is paused and
 * the handler runs; pipelined bytes wait in the input buffer (whose size is
 * capped by a read watermark) until the answer is written. A request refused
 * before its body (404/405/413/431) is answered at once with
 * "connection: close", so an oversized upload is never read.
 *
 * A body taken in pieces (req_body.c): the handler is called once the
 * headers are parsed, and the body is parsed only while the handler waits
 * for a piece that is not complete; otherwise the bytes stay in the input
 * buffer, whose watermark stops reading the socket. An answer given before
 * the body's end closes the connection (the rest is never read). Each piece
 * must come within the header timeout of the handler asking for it.
 *
 * Slow read: a large answer body goes to the output buffer by reference (no
 * copy), and pipelined requests are parsed only while the connection may take
 * more work (cds_conn_may_dispatch): a client that pipelines and never reads
 * holds at most one connection cap of answers, then the stall timer
 * (server.c) closes it. */
#include "core/conn.h"
#include "core/log.h"
#include "core/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define H1_INPUT_HIGH_WATER (64 * 1024)
/* Answer bodies up to this size are copied into the output buffer, larger
 * ones handed over by reference: a reference costs more than a short copy. */
#define H1_COPY_MAX (16 * 1024)

static cds_conn *conn_of(llhttp_t *p) { return p->data; }

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
    /* Trailing whitespace is not part of the value (llhttp passes it on). */
    while (r->hval_len && (r->hval[r->hval_len - 1] == ' ' || r->hval[r->hval_len - 1] == '\t'))
        r->hval_len--;
    /* add_header counts name+value+32 again on top of the raw bytes: the cap
     * stays conservative, never lax. */
    r->header_bytes -= r->hname_len + r->hval_len;
    int rc = cds_req_add_header(r, r->hname, r->hname_len, r->hval ? r->hval : "", r->hval_len);
    r->hname = r->hval = NULL;
    r->hname_len = r->hval_len = 0;
    return rc;
}

static int on_message_begin(llhttp_t *p)
{
    cds_conn *c = conn_of(p);
    c->h1_req = cds_req_new(c, CDS_PROTO_H1);
    cds_conn_rearm_timer(c);
    return 0;
}

/* obs-fold (RFC 9112 5.2: refuse it or replace it by spaces; we refuse).
 * llhttp joins a folded line into the value without telling: it ends the
 * value span at CR and starts a new one after the CRLF and whitespace. So
 * the bytes skipped between spans are watched: the gap before a value span
 * holds a line feed only when the value was folded (the gap after the name is
 * ":" and whitespace). A gap may straddle two reads, hence h1_gap_lf. */
static void gap_scan(cds_conn *c, const char *upto)
{
    if (c->h1_mark && upto > c->h1_mark && memchr(c->h1_mark, '\n', (size_t)(upto - c->h1_mark)))
        c->h1_gap_lf = 1;
}

static void span(cds_conn *c, const char *at, size_t n)
{
    gap_scan(c, at);
    c->h1_mark = at + n;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    cds_req *r = conn_of(p)->h1_req;
    span(conn_of(p), at, n);
    return append(r, &r->url, &r->url_len, at, n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    cds_conn *c = conn_of(p);
    span(c, at, n);
    c->h1_gap_lf = 0;
    return append(c->h1_req, &c->h1_req->hname, &c->h1_req->hname_len, at, n);
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    cds_conn *c = conn_of(p);
    span(c, at, n);
    if (c->h1_gap_lf) return -1; /* folded */
    return append(c->h1_req, &c->h1_req->hval, &c->h1_req->hval_len, at, n);
}

static int on_header_value_complete(llhttp_t *p)
{
    return flush_header(conn_of(p)->h1_req) == 0 ? 0 : -1;
}

/* What llhttp leaves to us: the version and the Host rule (RFC 9112 3.2). */
static int acceptable(llhttp_t *p, const cds_req *r)
{
    if (p->http_major != 1 || p->http_minor > 1) return 0;
    int hosts = 0;
    for (int i = 0; i < r->nhdrs; i++) hosts += strcmp(r->hdrs[i].name, "host") == 0;
    return p->http_minor == 1 ? hosts == 1 : hosts <= 1;
}

static int on_headers_complete(llhttp_t *p)
{
    cds_conn *c = conn_of(p);
    cds_req *r = c->h1_req;
    snprintf(r->method, sizeof r->method, "%s", llhttp_method_name((llhttp_method_t)p->method));
    r->path = r->url ? r->url : "";
    c->h1_keepalive = llhttp_should_keep_alive(p);
    p->upgrade = 0; /* we never switch protocols: an Upgrade request is answered as HTTP/1.1 */
    if (!r->early_status && !acceptable(p, r)) r->early_status = 400;
    if (cds_req_headers_done(r) != 0) return HPE_PAUSED; /* answer now, read no body */
    const char *expect = cds_req_header(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0) {
        if (r->body_stream) r->body_expect = 1; /* once the handler wants the body */
        else bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    cds_req *r = conn_of(p)->h1_req;
    /* 413 past the cap: the error stops the parser, the status is kept. */
    return cds_req_body_append(r, at, n) == 0 ? 0 : -1;
}

static int on_message_complete(llhttp_t *p)
{
    cds_conn *c = conn_of(p);
    c->h1_busy = 1;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void h1_on_read(cds_conn *c);

static int h1_start(cds_conn *c)
{
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
    c->h1_keepalive = 1;
    bufferevent_setwatermark(c->bev, EV_READ, 0, H1_INPUT_HIGH_WATER);
    cds_conn_rearm_timer(c);
    h1_on_read(c);
    return 0;
}

/* A request that cannot be parsed gets a bare 400 (431, 413 when a cap
 * stopped the parser) and the connection closes. */
static void refuse(cds_conn *c, int status)
{
    cds_req *r = c->h1_req;
    if (!r) {
        r = c->h1_req = cds_req_new(c, CDS_PROTO_H1);
    }
    c->h1_keepalive = 0;
    c->h1_busy = 1;
    if (r->body_stream && r->dispatched) { /* its handler is not called again */
        cds_req_body_refuse(r, status);
        return;
    }
    r->early_status = status;
    if (!r->request_id[0]) cds_req_headers_done(r);
    r->dispatched = 1;
    cds_req_early_problem(r, status);
}

/* Whether the body of the request being read may be parsed now: yes but for
 * a body taken in pieces whose handler has not asked for more. */
static int body_room(const cds_conn *c)
{
    const cds_req *r = c->h1_req;
    return !r || !r->body_stream || !r->dispatched || cds_req_body_room(r);
}

/* A request whose body is taken in pieces, after the parser ran: to its
 * handler once the headers are in, then its pieces as they fill. */
static void body_step(cds_conn *c, cds_req *r)
{
    if (!r->dispatched) {
        cds_conn_rearm_timer(c);
        cds_req_dispatch(r);
        return; /* its first piece comes once it asks (body_resume) */
    }
    if (cds_req_body_deliver(r) == 0 && r->body_state != CDS_BODY_WANT)
        cds_conn_rearm_timer(c); /* the handler has a piece: no timeout meanwhile */
}

static void h1_on_read(cds_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->h1_busy && c->phase == PH_PROTO && !c->close_after_write &&
           cds_conn_may_dispatch(c) && body_room(c)) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0) return;
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) return;
        c->h1_mark = v.iov_base;
        llhttp_errno_t err = llhttp_execute(&c->parser, v.iov_base, v.iov_len);
        cds_req *r = c->h1_req;
        if (err == HPE_OK) {
            gap_scan(c, (const char *)v.iov_base + v.iov_len);
            c->h1_mark = NULL; /* the buffer is gone */
            evbuffer_drain(in, v.iov_len);
            if (r && r->body_stream) body_step(c, r); /* r may be gone after */
            continue;
        }
        if (err != HPE_PAUSED) {
            refuse(c, r && r->early_status ? r->early_status : 400);
            return;
        }
        const char *stop = llhttp_get_error_pos(&c->parser);
        gap_scan(c, stop);
        c->h1_mark = NULL;
        evbuffer_drain(in, (size_t)(stop - (const char *)v.iov_base));
        llhttp_resume(&c->parser);
        if (r && r->early_status) {
            /* Refused before the body: answer and close without reading on. */
            c->h1_keepalive = 0;
            c->h1_busy = 1;
            cds_req_dispatch(r);
            return;
        }
        if (c->h1_busy && r->body_stream) { /* the body ended */
            r->body_ended = 1;
            body_step(c, r);
        } else if (c->h1_busy) {
            cds_conn_rearm_timer(c);
            cds_req_dispatch(r); /* may answer synchronously: the loop goes on */
        }
    }
}

static void free_body(const void *data, size_t len, void *arg)
{
    free((void *)data);
}

/* The answer is all in the output buffer: the request ends. */
static void h1_finish(cds_conn *c, cds_req *r, int keep)
{
    cds_req_free(r);
    c->h1_req = NULL;
    c->h1_busy = 0;
    if (!keep) {
        c->close_after_write = 1;
        bufferevent_disable(c->bev, EV_READ);
        return;
    }
    cds_conn_rearm_timer(c);
    /* Pipelined requests already buffered are picked up when the answer has
     * been flushed (cds_h1_on_drained), which also keeps recursion flat. */
}

static int h1_keep(const cds_conn *c, const cds_req *r)
{
    return c->h1_keepalive && !c->t->stopping && !r->early_status &&
           (!r->body_stream || r->body_ended); /* else the rest of the body is unread */
}

static void h1_send(cds_req *r)
{
    cds_conn *c = r->conn;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int keep = h1_keep(c, r);
    size_t clen = r->stream ? r->stream_total : r->resp_len;
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\ndate: %s\r\ncontent-length: %zu\r\n", r->status,
                        cds_status_text(r->status), cds_thread_date(c->t), clen);
    if (!keep) evbuffer_add(out, "connection: close\r\n", 19);
    for (cds_hdr_out *h = r->rh; h; h = h->next)
        evbuffer_add_printf(out, "%s: %s\r\n", h->name, h->value);
    evbuffer_add(out, "\r\n", 2);
    if (r->stream && clen && !r->head_only) {
        /* The request stays with its handler (h1_busy) until the last piece. */
        cds_req_stream_pull(r);
        return;
    }
    if (r->resp_len && !r->head_only) {
        if (r->resp_len <= H1_COPY_MAX) evbuffer_add(out, r->resp_body, r->resp_len);
        else if (evbuffer_add_reference(out, r->resp_body, r->resp_len, free_body, NULL) == 0)
            r->resp_body = NULL; /* the buffer frees it once written */
    }
    h1_finish(c, r, keep);
}

/* A piece of a streamed answer. The next is asked for at once while the
 * output holds less than one piece, else when it has drained: a slow reader
 * makes the server hold two pieces at most, never the body. */
static void h1_stream_write(cds_req *r, const char *p, size_t n)
{
    cds_conn *c = r->conn;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add(out, p, n);
    if (r->stream_sent == r->stream_total) {
        h1_finish(c, r, h1_keep(c, r));
        return;
    }
    if (evbuffer_get_length(out) < n) cds_req_stream_pull(r);
}

static void h1_stream_abort(cds_req *r)
{
    cds_conn *c = r->conn;
    /* Short of content-length: the peer sees a truncated answer. */
    h1_finish(c, r, 0);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) cds_conn_close(c);
}

static void h1_on_drained(cds_conn *c)
{
    cds_req *r = c->h1_req;
    if (r && r->stream && r->responded) { /* a streamed answer wants its next piece */
        cds_req_stream_pull(r);
        return;
    }
    cds_conn_rearm_timer(c); /* the idle clock starts once the answer is out */
    if (!c->h1_busy && evbuffer_get_length(bufferevent_get_input(c->bev)))
        h1_on_read(c);
}

/* The handler of a body taken in pieces wants the next one (from the loop:
 * see req_body.c): hand it over if it is here, else read on. */
static void h1_body_resume(cds_req *r)
{
    cds_conn *c = r->conn;
    if (r->body_expect) {
        r->body_expect = 0;
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    cds_conn_rearm_timer(c); /* each piece gets the header timeout afresh */
    if (cds_req_body_deliver(r) != 0) return;
    cds_conn_rearm_timer(c);
    if (!c->h1_busy) h1_on_read(c);
}

static int h1_timer_ms(cds_conn *c)
{
    const cds_server_config *cfg = c->t->cfg;
    if (c->h1_busy) return 0; /* the handler has it */
    if (c->h1_req && !body_room(c)) return 0; /* the handler has the body's next move */
    if (c->out_queued) return 0; /* an answer is being written: the stall timer watches */
    return c->h1_req ? cfg->header_timeout_ms : cfg->idle_timeout_ms;
}

static void h1_timeout(cds_conn *c)
{
    if (c->h1_req && !c->h1_busy) { /* slow headers or body */
        refuse(c, 408);
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

static void h1_goaway(cds_conn *c) {} /* HTTP/1.1 has no way to say it */

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
    .goaway = h1_goaway,
    .free = h1_free,
    .stream_write = h1_stream_write,
    .stream_abort = h1_stream_abort,
    .body_resume = h1_body_resume,
};
