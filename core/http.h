/* The request/response abstraction every handler sees, the same for HTTP/1.1
 * and HTTP/2, and the route table a module declares.
 *
 * A handler is called once the request's headers and body are complete
 * (a route that takes its body as a stream: once the headers are, see
 * "streamed request bodies" below). It
 * answers with exactly one cds_respond* / cds_problem call, either at once or
 * later from an asynchronous callback (database, outgoing HTTP). Memory for a
 * request comes from a per-request arena freed in one go when it ends.
 *
 * A request is gone once answered: the cds_respond* / cds_problem call hands
 * it to the protocol, which may free it (and its arena) before the call
 * returns. After that call a handler must not touch the cds_req, nor any
 * memory it got from cds_req_alloc/strdup/printf/param/query/header/body.
 * Everything a handler wants to do after answering it does before.
 *
 * If the client goes away first (stream reset, connection closed), every
 * asynchronous operation started through cds_req_db()/cds_req_track() is
 * cancelled and the request is freed: callbacks of a dead request never run. */
#ifndef CDS_HTTP_H
#define CDS_HTTP_H
#include "core/trace.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cds_req cds_req;
typedef struct cds_worker cds_worker;
typedef void (*cds_handler)(cds_req *req);

typedef struct cds_route {
    const char *method;  /* "GET", "POST", ... */
    const char *path;    /* template, e.g. "/v1/dossiers/{id}" */
    cds_handler handler;
    size_t max_body;     /* 0: the server default (1 MiB); CDS_STREAMED(cap): a stream */
} cds_route;

/* max_body of a route that takes its body in pieces as it arrives (see
 * "streamed request bodies"), `cap` bytes at most. A flag bit rather than a
 * member, so that every route table keeps its four initializers. */
#define CDS_BODY_STREAMED ((size_t)1 << (sizeof(size_t) * 8 - 1))
#define CDS_STREAMED(cap) ((size_t)(cap) | CDS_BODY_STREAMED)

enum { CDS_PROTO_H1 = 1, CDS_PROTO_H2 = 2 };

/* -------- reading the request -------- */
const char *cds_req_method(const cds_req *r);
const char *cds_req_path(const cds_req *r);           /* without the query */
const char *cds_req_query_string(const cds_req *r);   /* "" when none */
const cds_route *cds_req_route(const cds_req *r);
int cds_req_proto(const cds_req *r);
const char *cds_req_id(const cds_req *r);
/* The request's trace (core/trace.h): the caller's traceparent/tracestate
 * continued, or a trace started for it. */
const cds_trace *cds_req_trace(const cds_req *r);
/* That trace as an outbox row stores it (cds_trace_stored), in the request's
 * arena: the value of a writing SQL function's p_trace parameter. */
const char *cds_req_trace_stored(cds_req *r);
/* The request's log context (core/log.h): its id and trace, e.g. to log as
 * that request from a callback that serves several. */
struct cds_log_ctx;
void cds_req_log_ctx(const cds_req *r, struct cds_log_ctx *out);
const char *cds_req_peer(const cds_req *r);           /* client address, no port */
/* 1 when the request came over TLS (e.g. to mark a cookie Secure). */
int cds_req_tls(const cds_req *r);
cds_worker *cds_req_worker(const cds_req *r);
/* The `data` of the listener the request came in on (see core/server.h). */
void *cds_req_listener_data(const cds_req *r);
/* Header value by lower-case name, or NULL. */
const char *cds_req_header(const cds_req *r, const char *name);
/* Path parameter of the route template, e.g. "id", or NULL. */
const char *cds_req_param(const cds_req *r, const char *name);
/* Decoded query parameter, or NULL (arena memory). */
const char *cds_req_query(cds_req *r, const char *name);
/* Decoded field of an application/x-www-form-urlencoded body (an HTML
 * form's POST), or NULL (absent, another content type, a bad escape). */
const char *cds_req_form(cds_req *r, const char *name);
const char *cds_req_body(const cds_req *r, size_t *len);
/* The `limit` query parameter: dflt when absent, else 1..max; otherwise
 * answers 400 invalid_limit and returns -1. */
int cds_req_limit(cds_req *r, int dflt, int max);
/* Parse the body as a JSON object or array. Enforces the depth limit (32)
 * and answers 400 problem+json itself (with the error position) on failure,
 * returning NULL. The returned reference belongs to the request. */
json_t *cds_req_json(cds_req *r);

/* -------- per-request memory -------- */
void *cds_req_alloc(cds_req *r, size_t n);
char *cds_req_strdup(cds_req *r, const char *s);
char *cds_req_printf(cds_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Handler-private state, freed with the request if `free_fn` is given. */
void cds_req_set_user(cds_req *r, void *user, void (*free_fn)(void *));
void *cds_req_user(const cds_req *r);

/* -------- answering -------- */
void cds_resp_header(cds_req *r, const char *name, const char *value);
/* The body is copied. */
void cds_respond(cds_req *r, int status, const char *content_type, const char *body, size_t len);
/* Serializes and releases `j` (steals the reference). */
void cds_respond_json(cds_req *r, int status, json_t *j);
/* RFC 9457 problem+json: {type, title, status, code, detail, request_id}.
 * `detail` is Vietnamese text the app shows as is; when the request asks
 * for English (cds_req_lang) it is replaced by the English detail of the
 * code (core/problem.h, cds_problem_detail_en). */
void cds_problem(cds_req *r, int status, const char *code, const char *detail);
/* The same with a title of the problem's own (core/problem.h's catalog);
 * cds_problem's title is the status text. */
void cds_problem_titled(cds_req *r, int status, const char *code, const char *title,
                        const char *detail);
/* The same with members of the problem's own (RFC 9457 extension members,
 * e.g. the form field at fault) from `extra` (borrowed; NULL: none); the
 * standard members are never replaced. */
void cds_problem_with(cds_req *r, int status, const char *code, const char *title,
                      const char *detail, json_t *extra);
/* The language of the answer's text (core/lang.h: CDS_LANG_VI or
 * CDS_LANG_EN), from Accept-Language. Calling it marks the answer as
 * language-dependent: it then carries Content-Language and
 * Vary: Accept-Language. */
int cds_req_lang(cds_req *r);
/* The same, with `stored` (a citizen's stored preference) when the
 * request's Accept-Language names neither language (absent, "*", "fr"):
 * the header still decides when it names one, so the answer carries
 * Content-Language and Vary: Accept-Language. */
int cds_req_lang_or(cds_req *r, int stored);
/* The answer's text is in `lang`, chosen otherwise (a stored preference):
 * Content-Language only, the request's headers did not choose it. */
void cds_req_set_lang(cds_req *r, int lang);
/* An answered request is gone (see the top of this file), so this is 0 for
 * every request a handler may still touch; a function that may answer says
 * so in its return value (NULL, -1) instead. */
int cds_req_responded(const cds_req *r);

/* -------- streamed answers (large bodies) --------
 * For a body too large to hold whole (an attachment), the answer is sent in
 * pieces as the peer takes them. cds_respond_stream sends the status and
 * headers with content-length `total` and then calls `pull` each time the
 * protocol has room for more (HTTP/1.1: the output buffer is below one
 * piece; HTTP/2: the piece before went into DATA frames, so flow control and
 * a slow reader hold at most one piece back). `pull` must not answer before
 * it returns: it starts asynchronous work (cds_req_track it) whose callback
 * gives the piece with cds_stream_write (copied, n > 0) or ends the answer
 * with cds_stream_abort (HTTP/1.1: the connection closes short of
 * content-length; HTTP/2: RST_STREAM), so a client never takes a partial
 * body for a whole one. The request lives until the write that completes
 * `total`, an abort, or the client going away (tracked work is cancelled
 * then, as always); after any of those it is gone. A HEAD request (or
 * total == 0) never pulls. */
typedef void (*cds_stream_pull)(cds_req *r, void *arg);
void cds_respond_stream(cds_req *r, int status, const char *content_type, size_t total,
                        cds_stream_pull pull, void *arg);
void cds_stream_write(cds_req *r, const char *p, size_t n);
void cds_stream_abort(cds_req *r);

/* -------- streamed request bodies (large uploads) --------
 * A route whose max_body is CDS_STREAMED(cap) has its handler called as
 * soon as the headers are complete and routed, before any of the body is
 * read (the core's own refusals come first as always: 404, 405, 431, and 413
 * from a Content-Length over the cap). The handler checks what it can and
 * either answers at once (the body is then never read: HTTP/1.1 closes the
 * connection after the answer, HTTP/2 stops the upload with
 * RST_STREAM(NO_ERROR)), or calls cds_req_body_read to take the body in
 * pieces of `piece` bytes: `on_piece` gets each one, the last one (maybe
 * shorter) with `last` set; an empty body is one call with n == 0, last
 * set. The piece is the core's memory, valid until cds_req_body_next or the
 * answer. Until the handler calls cds_req_body_next the core takes no more
 * than one flow-control window past the piece (HTTP/2: the stream's window
 * is not reopened; HTTP/1.1: the socket is not read), so an upload costs the
 * server about a piece and a window, whatever its size. After each piece the
 * handler (on_piece, or the work it started) either asks for the next or
 * answers; after the last one it answers. Slow-body defence: each piece must
 * arrive within the header timeout of the handler asking for it.
 * If the body cannot be completed (the client resets the stream or hangs up,
 * sends more than the cap: the core answers 413, less than its
 * Content-Length: HTTP/2 resets the stream, or too slowly: 408 or the
 * connection closes), the handler is not called again: its tracked work is
 * cancelled and its user state freed (cds_req_set_user), which is where it
 * undoes what it wrote. on_piece may answer; it must not touch the request
 * after answering. */
typedef void (*cds_body_piece)(cds_req *r, const char *p, size_t n, int last, void *arg);
void cds_req_body_read(cds_req *r, size_t piece, cds_body_piece on_piece, void *arg);
void cds_req_body_next(cds_req *r);

/* -------- asynchronous work bound to the request -------- */
typedef void (*cds_req_db_cb)(cds_req *r, PGresult *res);
/* Run a registered statement on this thread's pool. On a full queue or a
 * database that is down it answers 503 itself and returns -1. A NULL `res` in
 * the callback means the connection was lost mid-query (answer 503). */
int cds_req_db(cds_req *r, int stmt, int nparams, const char *const *values, cds_req_db_cb cb);
/* Generic: register something to cancel if the request dies. Returns a slot
 * to release with cds_req_untrack when the operation completes. */
int cds_req_track(cds_req *r, void (*cancel)(void *), void *handle);
void cds_req_untrack(cds_req *r, int slot);

/* -------- the per-thread context -------- */
#define CDS_WORKER_SLOTS 16
struct event_base;
struct cds_db_pool;
struct cds_http_client;
struct cds_worker {
    int id;
    struct event_base *base;
    struct cds_db_pool *db;       /* NULL when the server runs without a database */
    struct cds_http_client *http; /* outgoing calls */
    void *slot[CDS_WORKER_SLOTS]; /* per-thread module state: see core/server.h */
};

#endif
