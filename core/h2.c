/* HTTP/2 on a connection with nghttp2 (the shape of nghttp2's
 * libevent-server example, written for this server).
 *
 * Limits: SETTINGS_MAX_CONCURRENT_STREAMS (100 by default) is enforced by
 * nghttp2, which refuses extra streams; the 16 KiB header cap and the body cap
 * are ours (431/413, answered as soon as they are known, then the upload is
 * stopped with RST_STREAM(NO_ERROR) once the answer is out); nghttp2's flood
 * detection and our client-reset rate limit close the connection. A stream
 * the client resets has its request freed at once, which cancels its
 * database or HTTP work (see cds_req_abandon).
 *
 * Flow control is ours (NO_AUTO_WINDOW_UPDATE): the connection's window is
 * reopened for every byte at once, a stream's for a whole body at once too,
 * but for a body taken in pieces (req_body.c) only for the piece its handler
 * asked for, so a handler still writing a piece holds the peer to one stream
 * window more. Such a request is dispatched at its headers; it counts as
 * receiving (the header timeout runs) only while it waits for the peer, and
 * each piece asked for gives the peer a fresh timeout.
 *
 * Slow read: an answer body is not copied into the session; nghttp2 pulls it
 * through the data provider (read_body) as the peer's window allows, and
 * until then it counts as held bytes of the connection (cds_conn_body_held). A
 * complete request is handed to its handler only while the connection may
 * take more work (cds_conn_may_dispatch); otherwise it waits in a FIFO that
 * runs again when the output drains. A peer that opens no window is closed
 * by the stall timer (server.c), GOAWAY first. */
#include "core/clock.h"
#include "core/conn.h"
#include "core/h2_mem.h"
#include "core/log.h"
#include "core/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H2_OUTPUT_HIGH_WATER (64 * 1024)

static void link_req(cds_conn *c, cds_req *r)
{
    r->next = c->h2_reqs;
    c->h2_reqs = r;
}

static void unlink_req(cds_conn *c, cds_req *r)
{
    for (cds_req **pp = &c->h2_reqs; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            return;
        }
}

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    cds_conn *c = ud;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) >= H2_OUTPUT_HIGH_WATER) return NGHTTP2_ERR_WOULDBLOCK;
    if (evbuffer_add(out, data, len) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

/* The unsent part of an answer body no longer counts as held. */
static void body_released(cds_conn *c, cds_req *r)
{
    if (!r->body_queued) return;
    r->body_queued = 0;
    cds_conn_body_held(c, 0, r->resp_len - r->resp_off);
}

static void undefer(cds_conn *c, cds_req *r)
{
    if (!r->deferred) return;
    r->deferred = 0;
    for (cds_req **pp = &c->h2_deferred; *pp; pp = &(*pp)->deferred_next)
        if (*pp == r) {
            *pp = r->deferred_next;
            return;
        }
}

/* A complete request: to its handler now, or in line behind held answers. */
static void dispatch(cds_conn *c, cds_req *r)
{
    if (!c->h2_deferred && cds_conn_may_dispatch(c)) {
        cds_req_dispatch(r);
        return;
    }
    r->deferred = 1;
    r->deferred_next = NULL;
    cds_req **pp = &c->h2_deferred;
    while (*pp) pp = &(*pp)->deferred_next;
    *pp = r;
}

/* Hands waiting requests to their handlers while the caps allow. Answers
 * given here are flushed by the caller (in_recv), so a failed flush cannot
 * free the connection under this loop. */
static void run_deferred(cds_conn *c)
{
    int was = c->in_recv;
    c->in_recv = 1;
    while (c->h2_deferred && cds_conn_may_dispatch(c) && !c->close_after_write) {
        cds_req *r = c->h2_deferred;
        c->h2_deferred = r->deferred_next;
        r->deferred = 0;
        cds_req_dispatch(r);
    }
    c->in_recv = was;
}

static void receiving_done(cds_conn *c, cds_req *r)
{
    if (!r->receiving) return;
    r->receiving = 0;
    if (--c->h2_receiving == 0) cds_conn_rearm_timer(c);
}

/* The request of a stream. The callbacks of one request's frames ask for
 * the same stream several times in a row (each header, the frame, the
 * close): the last answer is kept, and forgotten when that stream closes. */
static cds_req *req_of(cds_conn *c, nghttp2_session *s, int32_t stream_id)
{
    if (c->h2_last_req && c->h2_last_sid == stream_id) return c->h2_last_req;
    cds_req *r = nghttp2_session_get_stream_user_data(s, stream_id);
    c->h2_last_sid = stream_id;
    c->h2_last_req = r;
    return r;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    cds_conn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    cds_req *r = cds_req_new(c, CDS_PROTO_H2);
    r->stream_id = f->hd.stream_id;
    r->receiving = 1;
    link_req(c, r);
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, r);
    c->h2_last_sid = f->hd.stream_id;
    c->h2_last_req = r;
    c->h2_streams++;
    if (c->h2_receiving++ == 0) cds_conn_rearm_timer(c);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    cds_req *r = req_of(ud, s, f->hd.stream_id);
    if (!r || r->dispatched) return 0; /* trailers: ignored */
    if (nlen && name[0] == ':') {
        r->header_bytes += nlen + vlen + 32;
        if (r->header_bytes > r->conn->t->cfg->max_header_bytes) {
            r->early_status = 431;
            return 0;
        }
        if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
            if (vlen >= sizeof r->method) r->early_status = 400;
            else memcpy(r->method, value, vlen), r->method[vlen] = 0;
        } else if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
            r->path = cds_arena_strndup(&r->arena, (const char *)value, vlen);
        }
        return 0;
    }
    cds_req_add_header(r, (const char *)name, nlen, (const char *)value, vlen);
    return 0;
}

/* Whether an answer given before the end of a body taken in pieces is to be
 * followed by RST_STREAM(NO_ERROR) (RFC 9113 8.1): yes unless the body is
 * declared at most one window long, which is then read and dropped, so that
 * the client sees a plain answer (some clients, curl 7.88 among them, lose
 * an answer followed by a reset). */
static int body_left_large(const cds_req *r)
{
    const char *cl = cds_req_header(r, "content-length");
    return !cl || strtoull(cl, NULL, 10) > 65535; /* headers_done checked its syntax */
}

/* The body of a request taken in pieces ended (END_STREAM): an answer from
 * now on needs no RST_STREAM, and the last piece can go. */
static void body_end(cds_conn *c, cds_req *r)
{
    receiving_done(c, r);
    r->body_ended = 1;
    r->rst_after_answer = 0;
    if (r->dispatched) cds_req_body_deliver(r);
}

/* A streamed body's bytes: buffered, the stream's window reopened only for
 * the piece the handler waits for. */
static void body_data(cds_conn *c, cds_req *r, const uint8_t *data, size_t len)
{
    if (cds_req_body_append(r, (const char *)data, len) != 0) { /* past the cap: 413 */
        nghttp2_session_consume_stream(c->h2, r->stream_id, len);
        receiving_done(c, r);
        undefer(c, r);
        r->rst_after_answer = 1;
        cds_req_body_refuse(r, 413);
        return;
    }
    size_t a = cds_req_body_ackable(r);
    if (a) nghttp2_session_consume_stream(c->h2, r->stream_id, a);
    if (r->dispatched && cds_req_body_deliver(r) == 0 && r->body_state != CDS_BODY_WANT)
        receiving_done(c, r); /* the handler has a piece: not waiting for the peer */
}

/* Answer now, before the request is complete (early refusal): the stream's
 * upload is stopped once the answer has been sent (see on_frame_send). */
static void answer_early(cds_conn *c, cds_req *r)
{
    receiving_done(c, r);
    r->rst_after_answer = 1;
    cds_req_dispatch(r);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    cds_conn *c = ud;
    cds_req *r = NULL;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        r = req_of(c, s, f->hd.stream_id);
        if (r && r->body_stream) { /* trailers of a body taken in pieces */
            if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) body_end(c, r);
            return 0;
        }
        if (!r || r->dispatched) return 0;
        if (f->headers.cat == NGHTTP2_HCAT_REQUEST && (f->hd.flags & NGHTTP2_FLAG_END_HEADERS)) {
            if (cds_req_headers_done(r) != 0) {
                if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
                    receiving_done(c, r);
                    cds_req_dispatch(r);
                } else {
                    answer_early(c, r);
                }
                return 0;
            }
            if (r->body_stream) { /* to its handler now; the body follows in pieces */
                if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) body_end(c, r);
                else r->rst_after_answer = body_left_large(r);
                dispatch(c, r);
                return 0;
            }
        }
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            receiving_done(c, r);
            dispatch(c, r);
        }
        return 0;
    case NGHTTP2_DATA:
        r = req_of(c, s, f->hd.stream_id);
        if (r && r->body_stream) {
            if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) body_end(c, r);
            return 0;
        }
        if (r && !r->dispatched && !r->deferred && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
            receiving_done(c, r);
            dispatch(c, r);
        }
        return 0;
    case NGHTTP2_RST_STREAM: {
        /* Token bucket on client resets (rapid reset, CVE-2023-44487): the
         * attack makes us start work and throw it away, so only a reset of
         * a stream whose request is still with us counts. A reset of a
         * stream already answered and closed costs nothing, and some
         * clients send one after every exchange (libcurl 7.88 over HTTP/2
         * does, at thousands a second when pushing to APNs). */
        if (!req_of(c, s, f->hd.stream_id)) return 0;
        const cds_server_config *cfg = c->t->cfg;
        uint64_t now = cds_now_us();
        c->reset_tokens += (double)(now - c->reset_last_us) / 1e6 * cfg->reset_rate;
        if (c->reset_tokens > cfg->reset_burst) c->reset_tokens = cfg->reset_burst;
        c->reset_last_us = now;
        if (--c->reset_tokens < 0) {
            cds_metrics_add(CDS_G_PROTOCOL_ERRORS, 1);
            cds_log(CDS_LOG_WARN, "h2_reset_flood", "peer %s reset streams too fast", c->peer);
            nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
            c->close_after_write = 1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *ud)
{
    cds_conn *c = ud;
    cds_req *r = req_of(c, s, stream_id);
    nghttp2_session_consume_connection(s, len);
    if (r && r->body_stream && !r->responded) {
        body_data(c, r, data, len);
        return 0;
    }
    nghttp2_session_consume_stream(s, stream_id, len);
    if (!r || r->dispatched) return 0;
    if (cds_req_body_append(r, (const char *)data, len) != 0) answer_early(c, r);
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR) {
        cds_conn *c = ud;
        cds_log(CDS_LOG_WARN, "h2_goaway", "closing the connection of %s: %s", c->peer,
                nghttp2_http2_strerror(f->goaway.error_code));
        return 0;
    }
    if ((f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    cds_req *r = req_of(ud, s, f->hd.stream_id);
    if (r && r->rst_after_answer) nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t code, void *ud)
{
    cds_conn *c = ud;
    cds_req *r = req_of(c, s, stream_id);
    c->h2_last_req = NULL; /* r is freed below */
    if (!r) return 0;
    nghttp2_session_set_stream_user_data(s, stream_id, NULL);
    receiving_done(c, r);
    body_released(c, r);
    undefer(c, r);
    unlink_req(c, r);
    c->h2_streams--;
    cds_req_free(r); /* cancels whatever work the request still had */
    if (c->h2_streams == 0) cds_conn_rearm_timer(c);
    return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    cds_req *r = src->ptr;
    size_t n = r->resp_len - r->resp_off;
    if (n > len) n = len;
    memcpy(buf, r->resp_body + r->resp_off, n);
    r->resp_off += n;
    if (r->body_queued) cds_conn_body_held(r->conn, 0, n); /* now in a frame, on to the output */
    if (r->resp_off == r->resp_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* A streamed answer: the current piece into frames; when it is used up the
 * next is asked for, and until it comes the stream waits (DEFERRED, resumed
 * by h2_stream_write). One piece at most waits here per stream. */
static ssize_t read_stream(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    cds_req *r = src->ptr;
    size_t n = r->resp_len - r->resp_off;
    if (n == 0) {
        cds_req_stream_pull(r); /* answers later, never from here */
        return NGHTTP2_ERR_DEFERRED;
    }
    if (n > len) n = len;
    memcpy(buf, r->resp_body + r->resp_off, n);
    r->resp_off += n;
    r->stream_framed += n;
    if (r->body_queued) cds_conn_body_held(r->conn, 0, n);
    if (r->stream_framed == r->stream_total) *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (r->resp_off == r->resp_len) cds_req_stream_pull(r); /* fetch ahead */
    return (ssize_t)n;
}

/* Frames are gathered in a buffer on the stack and go to the output buffer
 * in one evbuffer_add per flush (most often one turn's answers), not one per
 * frame: one copy, one output callback, one lock (callgrind, issue 21). The
 * high-water mark holds back frames as on_send does. */
static int flush(cds_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    uint8_t stage[16384];
    size_t n = 0, have = evbuffer_get_length(out);
    for (;;) {
        if (have + n >= H2_OUTPUT_HIGH_WATER) break;
        const uint8_t *data;
        ssize_t len = nghttp2_session_mem_send(c->h2, &data);
        if (len < 0) {
            cds_metrics_add(CDS_G_PROTOCOL_ERRORS, 1);
            return -1;
        }
        if (len == 0) break;
        if (n + (size_t)len > sizeof stage) {
            if (n && evbuffer_add(out, stage, n) != 0) return -1;
            have += n;
            n = 0;
            if ((size_t)len > sizeof stage) {
                if (evbuffer_add(out, data, (size_t)len) != 0) return -1;
                have += (size_t)len;
                continue;
            }
        }
        memcpy(stage + n, data, (size_t)len);
        n += (size_t)len;
    }
    if (n && evbuffer_add(out, stage, n) != 0) return -1;
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
        c->close_after_write = 1;
    return 0;
}

static void h2_on_read(cds_conn *c);

static int h2_start(cds_conn *c)
{
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    const cds_server_config *cfg = c->t->cfg;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, on_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_option_new(&opt);
    /* nghttp2's own reset limit counts every RST_STREAM, also those of
     * streams already answered and closed, which a client like libcurl sends
     * after each exchange: at 2 x ours it closed a busy APNs-style connection
     * every second. Ours (on_frame_recv) counts only resets of live requests,
     * the rapid-reset attack; nghttp2's stays as a ceiling on RST_STREAM
     * frames of any kind, far above what an honest client sends. */
    nghttp2_option_set_stream_reset_rate_limit(opt, (uint64_t)cfg->reset_burst * 100,
                                               (uint64_t)cfg->reset_rate * 200);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_no_auto_window_update(opt, 1); /* see the top of this file */
    int rv = nghttp2_session_server_new3(&c->h2, cb, c, opt, cds_h2_mem());
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) return -1;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)cfg->max_streams},
        /* Advertise more than we accept so clients send an oversized block and
         * get our 431 instead of failing on their side. */
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 65536},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535},
    };
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 3) != 0) return -1;
    c->reset_tokens = cfg->reset_burst;
    c->reset_last_us = cds_now_us();
    cds_conn_rearm_timer(c);
    h2_on_read(c);
    return 0;
}

static void h2_on_read(cds_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->in_recv = 1; /* answers given from inside nghttp2's callbacks are flushed below */
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
        ssize_t n = nghttp2_session_mem_recv(c->h2, v.iov_base, v.iov_len);
        if (n < 0) {
            if (n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_BAD_CLIENT_MAGIC)
                cds_log(CDS_LOG_WARN, "h2_protocol_error", "peer %s: %s", c->peer,
                        nghttp2_strerror((int)n));
            cds_metrics_add(CDS_G_PROTOCOL_ERRORS, 1);
            c->in_recv = 0;
            c->close_after_write = 1;
            evbuffer_drain(in, evbuffer_get_length(in));
            bufferevent_disable(c->bev, EV_READ);
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    run_deferred(c); /* streams closed by the peer may have released held bytes */
    c->in_recv = 0;
    if (flush(c) != 0) {
        c->close_after_write = 1;
        bufferevent_disable(c->bev, EV_READ);
    }
}

/* v in decimal at out (cap >= 21), its length returned: what
 * snprintf("%zu") wrote here, without the format parsing, once per response. */
static size_t dec(char *out, size_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    out[n] = 0;
    return n;
}

static void h2_send(cds_req *r)
{
    cds_conn *c = r->conn;
    unsigned st = r->status >= 100 && r->status <= 999 ? (unsigned)r->status : 500;
    r->h2_status[0] = (char)('0' + st / 100);
    r->h2_status[1] = (char)('0' + st / 10 % 10);
    r->h2_status[2] = (char)('0' + st % 10);
    r->h2_status[3] = 0;
    size_t clen_len = dec(r->h2_clen, r->stream ? r->stream_total : r->resp_len);
    /* Not copied by nghttp2 (NO_COPY flags, but for names not in lower case:
     * see below): every name and value lives until
     * the stream closes, which is after its HEADERS frame was sent or
     * dropped: the literals, the request's own fields and arena (names and
     * values of cds_resp_header are copies in it), and the thread's date
     * (same length whenever it is rewritten, by this thread). */
    nghttp2_nv nva[32];
    size_t n = 0;
    const uint8_t nocopy = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
#define NV(n_, v_, vlen_) (nghttp2_nv){(uint8_t *)(n_), (uint8_t *)(v_), sizeof n_ - 1, (vlen_), nocopy}
    nva[n++] = NV(":status", r->h2_status, 3);
    nva[n++] = NV("date", cds_thread_date(c->t), 29); /* IMF-fixdate: always 29 */
    nva[n++] = NV("content-length", r->h2_clen, clen_len);
#undef NV
    for (cds_hdr_out *h = r->rh; h && n < 32; h = h->next) {
        nva[n] = (nghttp2_nv){(uint8_t *)h->name, (uint8_t *)h->value, h->nlen, h->vlen, nocopy};
        /* HTTP/2 names are lower case: nghttp2 lowers a name it copies, so
         * a handler's "Retry-After" is copied; the others are not. */
        if (h->upper) nva[n].flags &= (uint8_t)~NGHTTP2_NV_FLAG_NO_COPY_NAME;
        /* A value unique to each answer would churn the HPACK dynamic table
         * (and cost both ends a lookup chain walk per response): keep it out,
         * but for one answer in 64 of the connection (the first among them),
         * whose entry gives the others an indexed name instead of a literal
         * one, Huffman-coded each time (callgrind, issue 21). */
        if (h->unique && (c->h2_answers++ & 63) != 0) nva[n].flags |= NGHTTP2_NV_FLAG_NO_INDEX;
        n++;
    }
    nghttp2_data_provider prd = {.source.ptr = r,
                                 .read_callback = r->stream ? read_stream : read_body};
    int has_body = (r->stream ? r->stream_total : r->resp_len) > 0 && !r->head_only;
    if (r->stream) {
        r->resp_len = 0; /* no piece yet; the first is asked for by read_stream */
    } else if (has_body) {
        r->body_queued = 1;
        cds_conn_body_held(c, r->resp_len, 0);
    }
    if (nghttp2_submit_response(c->h2, r->stream_id, nva, n, has_body ? &prd : NULL) != 0) {
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_INTERNAL_ERROR);
    }
    if (c->in_recv) return; /* h2_on_read flushes */
    if (flush(c) != 0) cds_conn_close(c);
}

static void h2_stream_write(cds_req *r, const char *p, size_t n)
{
    cds_conn *c = r->conn;
    free(r->resp_body);
    r->resp_body = malloc(n);
    if (!r->resp_body) abort();
    memcpy(r->resp_body, p, n);
    r->resp_len = n;
    r->resp_off = 0;
    r->body_queued = 1;
    cds_conn_body_held(c, n, 0);
    nghttp2_session_resume_data(c->h2, r->stream_id);
    if (c->in_recv) return; /* h2_on_read flushes */
    if (flush(c) != 0) cds_conn_close(c);
}

static void h2_stream_abort(cds_req *r)
{
    cds_conn *c = r->conn;
    /* The stream closes with an error (and frees r): never a short body
     * taken for a whole one. */
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_INTERNAL_ERROR);
    if (c->in_recv) return;
    if (flush(c) != 0) cds_conn_close(c);
}

/* The handler of a body taken in pieces wants the next one (from the loop:
 * see req_body.c): reopen the stream's window for it, hand it over if it is
 * here. An answer given meanwhile is flushed here, at the end. */
static void h2_body_resume(cds_req *r)
{
    cds_conn *c = r->conn;
    int was = c->in_recv;
    c->in_recv = 1;
    size_t a = cds_req_body_ackable(r);
    if (a) nghttp2_session_consume_stream(c->h2, r->stream_id, a);
    if (!r->body_ended && !r->receiving) {
        r->receiving = 1;
        c->h2_receiving++;
    }
    cds_conn_rearm_timer(c); /* each piece gets the header timeout afresh */
    if (cds_req_body_deliver(r) == 0 && r->body_state != CDS_BODY_WANT) receiving_done(c, r);
    c->in_recv = was;
    if (was) return;
    if (flush(c) != 0) cds_conn_close(c);
}

static void h2_on_drained(cds_conn *c)
{
    if (c->close_after_write) return;
    run_deferred(c);
    if (flush(c) != 0) c->close_after_write = 1;
}

static int h2_timer_ms(cds_conn *c)
{
    const cds_server_config *cfg = c->t->cfg;
    if (c->h2_receiving) return cfg->header_timeout_ms;
    return c->h2_streams == 0 ? cfg->idle_timeout_ms : 0; /* handlers have the streams */
}

static void h2_timeout(cds_conn *c)
{
    nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
    c->close_after_write = 1;
    if (nghttp2_session_send(c->h2) != 0 ||
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        cds_conn_close(c);
}

static void h2_free(cds_conn *c)
{
    /* Requests of streams still open: freeing them cancels their work. */
    c->h2_deferred = NULL;
    c->h2_last_req = NULL;
    while (c->h2_reqs) {
        cds_req *r = c->h2_reqs;
        c->h2_reqs = r->next;
        body_released(c, r);
        cds_req_free(r);
    }
    if (c->h2) nghttp2_session_del(c->h2);
    c->h2 = NULL;
}

static void h2_goaway(cds_conn *c)
{
    nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
    nghttp2_session_send(c->h2);
}

static void h2_shutdown(cds_conn *c)
{
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                          NGHTTP2_NO_ERROR, NULL, 0);
    if (flush(c) != 0 || c->h2_streams == 0) {
        c->close_after_write = 1;
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) cds_conn_close(c);
    }
}

const cds_conn_ops cds_h2_ops = {
    .name = "h2",
    .start = h2_start,
    .on_read = h2_on_read,
    .send = h2_send,
    .on_drained = h2_on_drained,
    .timer_ms = h2_timer_ms,
    .timeout = h2_timeout,
    .shutdown = h2_shutdown,
    .goaway = h2_goaway,
    .free = h2_free,
    .stream_write = h2_stream_write,
    .stream_abort = h2_stream_abort,
    .body_resume = h2_body_resume,
};
