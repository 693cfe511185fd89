/* Internal to core/: the per-thread state, the connection and the request
 * objects shared by server.c (sockets, timers, shutdown), h1.c (HTTP/1.1),
 * h2.c (HTTP/2) and request.c (the handler-facing API).
 *
 * server.c and request.c never name a protocol: once a connection has chosen
 * one (ALPN or the h2c preface), everything protocol-specific goes through
 * its operations table (cds_conn_ops), the way h2o's connection callbacks
 * do. So the dependency runs one way: h1.c/h2.c -> request.c/server.c. */
#ifndef CDS_CONN_H
#define CDS_CONN_H
#include "core/arena.h"
#include "core/router.h"
#include "core/server.h"
#include "core/trace.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <llhttp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdint.h>

typedef struct cds_conn cds_conn;
typedef struct cds_thread cds_thread;

typedef struct cds_thread {
    cds_worker w; /* first: handlers see this part */
    const cds_server_config *cfg;
    struct evconnlistener *listeners[CDS_MAX_LISTENERS];
    int nconns;
    size_t out_queued; /* answer bytes held by all its connections (see cds_conn) */
    cds_conn *conns; /* doubly linked, for shutdown */
    struct event *stop_ev, *grace_ev;
    int stopping;
    struct proxy_wait *proxy_waits; /* accepted, reading their PROXY header (server.c) */
    int nproxy_waits;
    uint64_t rng;
    char date[40];   /* cached IMF-fixdate for the Date header */
    time_t date_sec;
} cds_thread;

enum conn_phase { PH_HANDSHAKE, PH_DETECT, PH_PROTO };

/* What a protocol does for a connection. Every member is required. */
typedef struct cds_conn_ops {
    const char *name;                 /* "http/1.1", "h2": access log */
    int (*start)(cds_conn *c);        /* protocol chosen; may read buffered input; -1: close */
    void (*on_read)(cds_conn *c);     /* bytes arrived */
    void (*send)(cds_req *r);         /* the request is answered: carry r's response */
    void (*on_drained)(cds_conn *c);  /* the output buffer was flushed */
    int (*timer_ms)(cds_conn *c);     /* the deadline that applies now; 0: none */
    void (*timeout)(cds_conn *c);     /* that deadline passed */
    void (*shutdown)(cds_conn *c);    /* the server stops: finish what is in flight */
    void (*goaway)(cds_conn *c);      /* about to be closed by force: tell the peer if we can */
    void (*free)(cds_conn *c);        /* the connection closes: free protocol state */
    /* Streamed answers (cds_respond_stream): the next piece of body, and
     * the end of an answer that cannot be finished. */
    void (*stream_write)(cds_req *r, const char *p, size_t n);
    void (*stream_abort)(cds_req *r);
    /* Streamed request bodies (req_body.c): the handler wants (more of) the
     * body; called from the event loop, never from inside a handler. */
    void (*body_resume)(cds_req *r);
} cds_conn_ops;

typedef struct cds_hdr_out {
    const char *name, *value;
    size_t nlen, vlen;     /* measured once, when added (h2 hands them to nghttp2) */
    unsigned char upper;   /* the name has upper-case letters (h2: nghttp2 copies and lowers it) */
    unsigned char unique;  /* a value unique to this answer (x-request-id): kept out of HPACK's table */
    struct cds_hdr_out *next;
} cds_hdr_out;

#define CDS_MAX_TRACKED 8

struct cds_req {
    cds_arena arena;
    cds_conn *conn;
    int32_t stream_id; /* HTTP/2 */
    int proto;
    char method[16];
    char *path, *query;  /* arena */
    char *url;           /* h1: raw request target being accumulated */
    size_t url_len;
    struct {
        const char *name, *value;
    } *hdrs;
    int nhdrs, hdr_cap;
    /* Noted as headers arrive (cds_req_add_header), so that the per-request
     * work does not scan them by name: the first x-request-id and
     * content-length, and how many traceparent/tracestate fields came. */
    const char *h_request_id, *h_content_length;
    int h_trace_fields;
    size_t header_bytes;
    char *hname;         /* h1: header name being accumulated */
    size_t hname_len, hval_len;
    char *hval;
    cds_match match;
    int match_rc;
    const cds_route *route;
    int metric_slot;
    size_t max_body;
    char *body;          /* malloc, max_body cap */
    size_t body_len, body_cap;
    size_t bytes_in;
    char request_id[65];
    cds_trace trace;     /* from traceparent/tracestate, or a new trace */
    uint64_t t_start_us;
    int early_status;    /* 413/431/400 decided before the handler */
    int dispatched;
    int receiving;        /* h2: request not complete yet */
    int rst_after_answer; /* h2: stop the client's upload once the answer is sent */
    json_t *json;
    void *user;
    void (*user_free)(void *);
    struct {
        void (*cancel)(void *);
        void *handle;
    } tracked[CDS_MAX_TRACKED];
    int ever_tracked; /* a slot was used: cds_req_abandon looks at them only then */
    /* response */
    int responded;
    int status;
    int lang;        /* cds_lang of the answer's text */
    int lang_from;   /* 0: no language-dependent text, 1: Accept-Language, 2: set by the handler */
    cds_hdr_out *rh;
    char h2_status[4], h2_clen[24]; /* h2: values of the response HEADERS (not copied by nghttp2) */
    char *resp_body; /* malloc, or in the arena when resp_body_arena */
    int resp_body_arena; /* a small answer's body, freed with the arena (request.c cds_respond) */
    size_t resp_len, resp_off;
    int head_only;
    cds_req *next;   /* h2: list of the connection's live requests */
    cds_req *deferred_next; /* h2: FIFO of c->h2_deferred */
    int deferred;
    int body_queued;  /* h2: the unsent part of resp_body counts in conn->out_queued */
    /* Streamed answer: resp_body holds the current piece (h2), resp_len its
     * length; stream_total is the whole body's. */
    int stream;
    int pulling;      /* the handler was asked for a piece and has not given it */
    size_t stream_total, stream_sent; /* sent: given by the handler */
    size_t stream_framed;             /* h2: of those, cut into DATA frames */
    void (*pull)(cds_req *r, void *arg);
    void *pull_arg;
    /* Streamed request body (req_body.c): body/body_len hold what arrived
     * and the handler has not taken yet, the piece it holds first. */
    int body_stream;      /* the route takes its body in pieces */
    int body_state;       /* CDS_BODY_IDLE, _WANT, _HELD, _DONE */
    int body_ended;       /* the protocol saw the body's end */
    int body_expect;      /* h1: "100 Continue" is owed once the handler reads */
    size_t body_piece, body_held;
    size_t body_unacked;  /* h2: received bytes whose stream window is not reopened */
    cds_body_piece body_cb;
    void *body_arg;
    int *body_alive;      /* cleared if the request is freed inside body_cb */
    struct event *body_ev; /* runs ops->body_resume from the loop */
};

struct cds_conn {
    cds_thread *t;
    struct bufferevent *bev;
    const cds_listen *listen;
    int phase;
    const cds_conn_ops *ops; /* set once phase is PH_PROTO */
    int tls;
    char peer[64];
    struct event *timer;
    /* The deadline of `timer` (monotonic us; 0: none) and when the armed
     * event fires (0: not armed). Moving the deadline later only records it:
     * the event, when it fires early, re-arms for the rest (one event_add
     * per deadline instead of one per request). */
    uint64_t timer_due_us, timer_armed_us;
    /* h2: the request of the stream a callback asked for last (core/h2.c req_of) */
    int32_t h2_last_sid;
    cds_req *h2_last_req;
    cds_conn *prev, *next;
    int close_after_write;
    /* Answer bytes held for the peer: the output buffer plus HTTP/2 bodies
     * not yet cut into DATA frames (flow control). The stall timer closes the
     * connection when they exist and none has left for stall_timeout_ms. */
    size_t out_queued;
    int moved; /* output drained to the peer (or began to wait) in this stall period */
    /* Of those, HTTP/2 bodies the peer's window holds back; they progress
     * only when the window opens: reading our PING answers is not taking
     * the answers. */
    size_t body_held;
    int body_moved;
    struct event *stall_ev;
    struct evbuffer_cb_entry *out_cb;
    int stall_closing;
    /* HTTP/1.1 */
    llhttp_t parser;
    cds_req *h1_req;     /* request being read or handled */
    int h1_busy;         /* a request is with its handler: parsing is paused */
    int h1_keepalive;
    const char *h1_mark; /* end of the last parser span in the buffer being parsed */
    int h1_gap_lf;       /* a line feed since that span: see h1.c, obs-fold */
    /* HTTP/2 */
    nghttp2_session *h2;
    int h2_streams;      /* open streams */
    int h2_receiving;    /* streams whose request is not complete yet */
    unsigned h2_answers; /* answers sent: one in 64 indexes its x-request-id (h2.c h2_send) */
    double reset_tokens;
    uint64_t reset_last_us;
    cds_req *h2_reqs;
    cds_req *h2_deferred; /* complete requests waiting for held answers to drain */
    int in_recv;         /* inside nghttp2_session_mem_recv: answers are flushed after it */
};

/* server.c */
/* Makes `bev` (a socket, TLS or in-memory bufferevent) a client connection of
 * thread `t`; the fuzz target uses it with a bufferevent pair. */
cds_conn *cds_conn_attach(cds_thread *t, const cds_listen *ls, struct bufferevent *bev,
                          const char *peer, int tls);
void cds_conn_close(cds_conn *c);
void cds_conn_rearm_timer(cds_conn *c);
const char *cds_thread_date(cds_thread *t);
/* HTTP/2 answer bodies held back by flow control: `add` bytes begin to
 * wait, `sub` bytes went into DATA frames (or were dropped with the stream). */
void cds_conn_body_held(cds_conn *c, size_t add, size_t sub);
/* Whether the connection may hand one more request to its handler now: yes
 * when it holds no answer bytes, else only under both caps (per connection,
 * per thread). So a peer that does not read stops getting work, and a peer
 * that reads is never held up by the ones that do not. */
int cds_conn_may_dispatch(const cds_conn *c);
/* The metric slot of route `index` of `router`, or -1 ("unmatched"). */
int cds_server_metric_slot(const cds_router *router, int index);

/* request.c */
const char *cds_status_text(int status); /* "Not Found", for status lines and problem titles */
cds_req *cds_req_new(cds_conn *c, int proto);
void cds_req_free(cds_req *r);
/* Headers complete: method/path set. Routes, checks limits; returns the
 * status to answer early (404/405/413/431/400) or 0 to go on. */
int cds_req_headers_done(cds_req *r);
/* Appends body bytes; returns 413 when the cap is passed. */
int cds_req_body_append(cds_req *r, const char *p, size_t n);
/* Request complete: answer the early status or call the handler. */
void cds_req_dispatch(cds_req *r);
/* The client is gone: cancel tracked work (callbacks never run). */
void cds_req_abandon(cds_req *r);
int cds_req_add_header(cds_req *r, const char *name, size_t nlen, const char *value, size_t vlen);
void cds_req_early_problem(cds_req *r, int status);
/* A streamed answer wants its next piece: asks the handler unless it was
 * asked already. */
void cds_req_stream_pull(cds_req *r);

/* req_body.c: streamed request bodies (core/http.h) */
enum { CDS_BODY_IDLE, CDS_BODY_WANT, CDS_BODY_HELD, CDS_BODY_DONE };
/* Appends bytes of a streamed body; 413 past the route's cap. */
int cds_req_body_stream_append(cds_req *r, const char *p, size_t n);
/* 1 when the protocol may take in more of the body now: the handler asked
 * for a piece and it is not complete yet. */
int cds_req_body_room(const cds_req *r);
/* HTTP/2: how many received bytes may now reopen the stream's window (those
 * of the piece the handler waits for), counted as acknowledged. */
size_t cds_req_body_ackable(cds_req *r);
/* Hands the handler its next piece if it wants one and it is complete (or
 * the body ended). -1: r was answered or freed meanwhile, do not touch it. */
int cds_req_body_deliver(cds_req *r);
/* The body cannot be completed: the handler's work is cancelled, its user
 * state released, and `status` answered (413, 408) by the core. */
void cds_req_body_refuse(cds_req *r, int status);
void cds_req_body_free(cds_req *r);

/* h1.c, h2.c */
extern const cds_conn_ops cds_h1_ops, cds_h2_ops;

/* tls.c: the context of the TLS listeners. cds_tls_start makes it (0, or -1
 * logged); cds_tls_ssl_new is an SSL of the current one (NULL: none);
 * cds_tls_reload replaces it with one made from the files as they are now
 * (SIGHUP), or logs why not and keeps it (-1); cds_tls_stop frees it. */
SSL_CTX *cds_tls_ctx_new(const cds_server_config *cfg);
int cds_tls_start(const cds_server_config *cfg);
SSL *cds_tls_ssl_new(void);
int cds_tls_reload(const cds_server_config *cfg);
void cds_tls_stop(void);

#endif
