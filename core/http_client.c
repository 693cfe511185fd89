/* Outgoing HTTP on an event loop: one libcurl multi handle per client (one
 * client per event-loop thread), driven by that thread's event_base.
 *
 * How it works. libcurl tells us which sockets it wants watched
 * (CURLMOPT_SOCKETFUNCTION -> on_curl_socket) and when it next needs a kick
 * (CURLMOPT_TIMERFUNCTION -> on_curl_timer). We keep one persistent libevent
 * event per socket and one timer event; when either fires we call
 * curl_multi_socket_action and then drain curl_multi_info_read, which is
 * where finished transfers are reported and user callbacks run. No libcurl
 * call here ever blocks: name resolution, connecting, TLS and transfer all
 * advance in those socket actions.
 *
 * Connections are shared: every transfer asks for HTTP/2 (over TLS via ALPN,
 * or h2c with prior knowledge), with CURLOPT_PIPEWAIT, so parallel calls to
 * one host wait for the first connection and multiplex over it instead of
 * opening one connection each.
 *
 * Re-entrancy. User callbacks run from drain_done(), never from inside a
 * libcurl callback, so they may start calls, cancel calls and even free the
 * client. Cancelling a call whose completion is already queued is safe
 * because curl_multi_remove_handle also drops the handle's queued message.
 * Freeing the client from a callback is deferred until the drain loop ends
 * (client->depth counts nested drains).
 *
 * Traces. Every call carries traceparent (and tracestate) of the trace the
 * calling code works for (core/trace.h), unless the caller set its own.
 *
 * Memory. Each call owns copies of everything from its request and two
 * growing buffers (body, headers), each with a fixed maximum; going past it
 * aborts the transfer from the write/header callback. */
#include "core/http_client.h"
#include "core/log.h"

#include "core/buf.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT_MS 10000L
#define DEFAULT_MAX_RESPONSE ((size_t)1 << 20)
#define MAX_MAX_RESPONSE ((size_t)1 << 30)
/* Caps on what a request may carry, so a bad caller fails fast instead of
 * handing libcurl something absurd. */
#define MAX_URL_LEN 8192
#define MAX_METHOD_LEN 16
#define MAX_HEADERS 64
#define MAX_HEADER_LEN 8192
/* The response header block of one exchange; providers send a few hundred bytes. */
#define MAX_RESPONSE_HEADERS (64 * 1024)
/* Connections the multi handle keeps open. libcurl's default is four per
 * transfer in the handle at the moment one ends, so a burst of calls that
 * ends (a batch of notifications, say) closes almost every connection it
 * opened and the next burst opens them again: a TCP handshake per HTTP/1.1
 * call, a TLS handshake (and the CA file read again) per HTTP/2 connection.
 * A fixed ceiling keeps them for the next burst. */
#define MAX_IDLE_CONNS 256L
/* Reset easy handles kept per client for reuse (see struct cds_http_client). */
#define SPARE_EASY 128

enum call_state {
    CALL_PENDING,  /* in the multi handle, in client->calls */
    CALL_CALLBACK, /* out of both, its callback is running */
};

struct cds_http_call {
    cds_http_client *client;
    cds_http_call *prev, *next; /* client->calls */
    enum call_state state;
    CURL *easy;
    /* The request's header list, nodes and text in one allocation (libcurl
     * only reads CURLOPT_HTTPHEADER's list): one malloc per call instead of
     * two per header with curl_slist_append. Freed with free(). */
    struct curl_slist *req_headers;
    char *url;
    char *method;
    char *body;
    char *ca_file;
    cds_http_cb cb;
    void *arg;
    cds_buf resp_body;
    cds_buf resp_headers;
    int body_too_large;
    int headers_too_large;
    char errbuf[CURL_ERROR_SIZE];
    cds_log_ctx log_ctx; /* the caller's request, for the callback's log lines */
};

/* One socket libcurl asked us to watch. */
typedef struct sock_watch {
    cds_http_client *client;
    struct sock_watch *prev, *next; /* client->socks */
    struct event *ev;
} sock_watch;

struct cds_http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    cds_http_call *calls;
    sock_watch *socks;
    /* Easy handles of finished calls, reset and kept for the next ones:
     * creating one costs an allocation of its state and of its 16 KiB
     * receive buffer, and most of the client's work is many small calls. */
    CURL *spare[SPARE_EASY];
    int nspare;
    int depth;          /* drains in progress (user callbacks may nest) */
    int free_requested; /* cds_http_client_free called during a drain */
    int closing;        /* being torn down: no new calls */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
/* libcurl before 8.0.0 breaks a reused h2c prior-knowledge connection ("Error
 * in the HTTP2 framing layer", curl/curl#10634, fixed in 8.0.0 by #10643);
 * Debian 12 ships 7.88.1. There, such calls get a connection of their own. */
static int h2c_reuse_broken;

static void global_init_once(void)
{
    /* Nothing useful can be done if this fails; the first curl_easy_init
     * will then fail and cds_http_start returns NULL. */
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    h2c_reuse_broken = !v || v->version_num < 0x080000;
}

void cds_http_global_init(void)
{
    pthread_once(&global_once, global_init_once);
}

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- libcurl transfer callbacks ----------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *userdata)
{
    cds_http_call *call = userdata;
    size_t n = size * nmemb;
    if (cds_buf_add(&call->resp_body, p, n) != 0) {
        call->body_too_large = 1;
        return 0; /* a short count makes libcurl abort the transfer */
    }
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *userdata)
{
    cds_http_call *call = userdata;
    size_t n = size * nmemb;
    /* A new status line starts a new response (after a 100 Continue or an
     * interim 1xx): only the last header block is kept. */
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) cds_buf_reset(&call->resp_headers);
    if (cds_buf_add(&call->resp_headers, p, n) != 0) {
        call->headers_too_large = 1;
        return 0;
    }
    return n;
}

/* ---- calls -------------------------------------------------------------- */

static void call_link(cds_http_client *c, cds_http_call *call)
{
    call->prev = NULL;
    call->next = c->calls;
    if (c->calls) c->calls->prev = call;
    c->calls = call;
}

static void call_unlink(cds_http_client *c, cds_http_call *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next) call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

/* The handle must be out of the multi handle. */
static void easy_release(cds_http_client *c, CURL *easy)
{
    if (!easy) return;
    if (c && !c->closing && c->nspare < SPARE_EASY) {
        curl_easy_reset(easy);
        c->spare[c->nspare++] = easy;
        return;
    }
    curl_easy_cleanup(easy);
}

static CURL *easy_take(cds_http_client *c)
{
    return c->nspare > 0 ? c->spare[--c->nspare] : curl_easy_init();
}

static void call_free(cds_http_call *call)
{
    easy_release(call->client, call->easy);
    free(call->req_headers);
    free(call->url);
    free(call->method);
    free(call->body);
    free(call->ca_file);
    cds_buf_free(&call->resp_body);
    cds_buf_free(&call->resp_headers);
    free(call);
}

/* Takes a pending call out of the client: out of the multi handle (so
 * libcurl forgets it and any queued completion message) and out of the list. */
static void call_detach(cds_http_call *call)
{
    cds_http_client *c = call->client;
    curl_multi_remove_handle(c->multi, call->easy);
    call_unlink(c, call);
    call->state = CALL_CALLBACK;
}

static void call_finish(cds_http_call *call, long status, const char *error)
{
    cds_http_response r = {
        .status = status,
        .error = error,
        .body = cds_buf_str(&call->resp_body),
        .body_len = call->resp_body.len,
        .headers = cds_buf_str(&call->resp_headers),
        .headers_len = call->resp_headers.len,
    };
    cds_log_ctx prev;
    cds_log_ctx_set(&call->log_ctx, &prev);
    call->cb(call->arg, &r);
    cds_log_ctx_set(&prev, NULL);
    call_free(call);
}

static const char *call_error(cds_http_call *call, CURLcode rc)
{
    if (call->body_too_large || rc == CURLE_FILESIZE_EXCEEDED) return "response too large";
    if (call->headers_too_large) return "response headers too large";
    if (rc == CURLE_OK) return NULL;
    return call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc);
}

static void client_destroy(cds_http_client *c);

/* Reports every finished transfer. User callbacks may cancel other calls
 * (their queued messages vanish with curl_multi_remove_handle), start calls
 * or ask to free the client (deferred to the end). */
static void drain_done(cds_http_client *c)
{
    c->depth++;
    CURLMsg *msg;
    int left;
    while (!c->free_requested && (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURLcode rc = msg->data.result;
        CURL *easy = msg->easy_handle;
        char *priv = NULL;
        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv) continue;
        cds_http_call *call = (cds_http_call *)(void *)priv;
        long status = 0;
        if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) status = 0;
        call_detach(call);
        call_finish(call, status, call_error(call, rc));
    }
    c->depth--;
    if (c->depth == 0 && c->free_requested) client_destroy(c);
}

/* ---- libevent <-> libcurl glue ------------------------------------------ */

static void on_timer_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cds_http_client *c = arg;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_done(c); /* may free c: nothing after this */
}

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    sock_watch *w = arg;
    cds_http_client *c = w->client; /* w may be freed by socket_action */
    int flags = 0;
    if (what & EV_READ) flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE) flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    drain_done(c);
}

static void watch_free(cds_http_client *c, sock_watch *w)
{
    if (w->ev) event_free(w->ev);
    if (w->prev)
        w->prev->next = w->next;
    else
        c->socks = w->next;
    if (w->next) w->next->prev = w->prev;
    free(w);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    cds_http_client *c = userp;
    sock_watch *w = socketp;

    if (what == CURL_POLL_REMOVE) {
        /* libcurl forgets its socket pointer itself; this may run inside
         * curl_multi_cleanup, where no multi call is allowed. */
        if (w) watch_free(c, w);
        return 0;
    }
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w) return -1;
        w->client = c;
        w->next = c->socks;
        if (c->socks) c->socks->prev = w;
        c->socks = w;
        curl_multi_assign(c->multi, s, w);
    }
    short events = EV_PERSIST;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= EV_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= EV_WRITE;
    if (w->ev) event_free(w->ev);
    w->ev = event_new(c->base, s, events, on_sock_event, w);
    if (!w->ev || event_add(w->ev, NULL) != 0) return -1;
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    cds_http_client *c = userp;
    if (timeout_ms < 0) return evtimer_del(c->timer) == 0 ? 0 : -1;
    /* Even a 0 ms timeout goes through the loop: libcurl must not be
     * re-entered from its own callback. */
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    return evtimer_add(c->timer, &tv) == 0 ? 0 : -1;
}

/* ---- client ------------------------------------------------------------- */

cds_http_client *cds_http_client_new(struct event_base *base)
{
    if (!base) return NULL;
    cds_http_global_init();
    cds_http_client *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->base = base;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer_event, c);
    if (!c->multi || !c->timer) goto fail;
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, MAX_IDLE_CONNS) != CURLM_OK)
        goto fail;
    return c;
fail:
    if (c->multi) curl_multi_cleanup(c->multi);
    if (c->timer) event_free(c->timer);
    free(c);
    return NULL;
}

static void client_destroy(cds_http_client *c)
{
    c->closing = 1;
    /* Pop one at a time: a callback may cancel other pending calls. */
    while (c->calls) {
        cds_http_call *call = c->calls;
        call_detach(call);
        call_finish(call, 0, "client closed");
    }
    while (c->nspare > 0)
        curl_easy_cleanup(c->spare[--c->nspare]);
    /* Cleanup closes cached connections and may still call the socket and
     * timer callbacks, so the events outlive it; whatever socket it did not
     * report removed is released after. */
    curl_multi_cleanup(c->multi);
    while (c->socks)
        watch_free(c, c->socks);
    event_free(c->timer);
    free(c);
}

void cds_http_client_free(cds_http_client *c)
{
    if (!c || c->closing || c->free_requested) return;
    if (c->depth > 0) {
        c->free_requested = 1;
        return;
    }
    client_destroy(c);
}

/* ---- requests ----------------------------------------------------------- */

static int method_ok(const char *m)
{
    size_t n = strnlen(m, MAX_METHOD_LEN + 1);
    if (n == 0 || n > MAX_METHOD_LEN) return 0;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z') return 0;
    return 1;
}

static int url_ok(const char *u)
{
    size_t n = strnlen(u, MAX_URL_LEN + 1);
    if (n > MAX_URL_LEN) return 0;
    if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= ' ' || u[i] == 0x7f) return 0;
    return 1;
}

/* "Name: value" with a token name and no line breaks anywhere. */
static int header_ok(const char *h)
{
    size_t n = strnlen(h, MAX_HEADER_LEN + 1);
    if (n > MAX_HEADER_LEN) return 0;
    const char *colon = memchr(h, ':', n);
    if (!colon || colon == h) return 0;
    for (const char *p = h; p < colon; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return 0;
    return memchr(h, '\r', n) == NULL && memchr(h, '\n', n) == NULL;
}

static int request_ok(const cds_http_request *req)
{
    if (!req || !req->method || !req->url || !method_ok(req->method) || !url_ok(req->url)) return 0;
    if (req->body_len > 0 && !req->body) return 0;
    if (req->timeout_ms < 0 || req->max_response > MAX_MAX_RESPONSE) return 0;
    if (req->headers) {
        size_t i;
        for (i = 0; req->headers[i]; i++)
            if (i >= MAX_HEADERS || !header_ok(req->headers[i])) return 0;
    }
    return 1;
}

static int has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':') return 1;
    return 0;
}

/* W3C Trace Context on every outgoing call: the caller's trace (core/log.h
 * context: the request being served, or the outbox row being sent) with a
 * span id of this call's own as parent-id, and its tracestate unchanged.
 * The lines go into parent and state ("" when there is no tracestate). */
static int trace_headers(const cds_http_call *call, char *parent, size_t pcap, char *state,
                         size_t scap)
{
    const cds_trace *t = &call->log_ctx.trace;
    char span[17];
    cds_trace_random_hex(span, 8);
    state[0] = '\0';
    if (pcap < 14) return 1;
    memcpy(parent, "traceparent: ", 13);
    if (cds_traceparent_format(t, span, parent + 13, pcap - 13) != 0) return 1;
    if (t->state[0]) snprintf(state, scap, "tracestate: %s", t->state);
    return 0;
}

/* call->req_headers: the caller's headers (at most MAX_HEADERS, checked by
 * request_ok), then the extra lines that are not NULL, as one block of list
 * nodes followed by their text. */
static int build_headers(cds_http_call *call, const char *const *given, const char *const *extra,
                         size_t nextra)
{
    const char *all[MAX_HEADERS + 8];
    size_t n = 0, text = 0;
    for (size_t i = 0; given && given[i] && n < MAX_HEADERS; i++)
        all[n++] = given[i];
    for (size_t i = 0; i < nextra && n < sizeof all / sizeof all[0]; i++)
        if (extra[i]) all[n++] = extra[i];
    if (n == 0) return 0;
    size_t len[sizeof all / sizeof all[0]];
    for (size_t i = 0; i < n; i++) {
        len[i] = strlen(all[i]) + 1;
        text += len[i];
    }
    struct curl_slist *nodes = malloc(n * sizeof *nodes + text);
    if (!nodes) return 1;
    char *p = (char *)(nodes + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, all[i], len[i]);
        nodes[i].data = p;
        nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
        p += len[i];
    }
    call->req_headers = nodes;
    return 0;
}

/* The easy handle's options; returns non-zero if any is refused. */
static int call_setup(cds_http_call *call, const cds_http_request *req)
{
    CURL *e = call->easy;
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    size_t max = req->max_response > 0 ? req->max_response : DEFAULT_MAX_RESPONSE;
    long version = req->http2_prior_knowledge ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                                              : (long)CURL_HTTP_VERSION_2TLS;
    int bad = 0;

    bad |= curl_easy_setopt(e, CURLOPT_URL, call->url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    /* Ending a call still resolving a name (cancel, timeout) would otherwise
     * join the threaded resolver's getaddrinfo, blocking the loop for as long
     * as DNS takes; with this the thread is detached and frees itself. */
    bad |= curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, version) != CURLE_OK;
    /* Waiting for a connection to show whether it multiplexes pays only
     * where the answer comes early (ALPN in the TLS handshake, or h2c by
     * prior knowledge); libcurl learns it for cleartext HTTP/1.1 only from the
     * first response, so there a slow call would hold up every other. */
    if (req->http2_prior_knowledge || strncasecmp(call->url, "https://", 8) == 0)
        bad |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout) != CURLE_OK;
    /* Refuses up front a body announced too large (Content-Length), but not
     * for HEAD, whose Content-Length describes a body that never comes. */
    if (strcmp(call->method, "HEAD") != 0)
        bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)call) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, call) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, call) != CURLE_OK;
    if (req->http2_prior_knowledge && h2c_reuse_broken) {
        bad |= curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK;
    }
    if (call->ca_file)
        /* Replaces the default bundle; Debian's libcurl still consults the
         * hashed system directory (CURLOPT_CAPATH), so public roots stay. */
        bad |= curl_easy_setopt(e, CURLOPT_CAINFO, call->ca_file) != CURLE_OK;
    if (req->insecure) {
        bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK;
    }

    if (strcmp(call->method, "GET") == 0 && !call->body) {
        bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    } else if (strcmp(call->method, "HEAD") == 0) {
        bad |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK;
    } else {
        if (call->body || strcmp(call->method, "POST") == 0) {
            /* POSTFIELDS with an explicit size: binary bodies and empty POSTs alike. */
            bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) !=
                   CURLE_OK;
            bad |=
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body ? call->body : "") != CURLE_OK;
        }
        if (strcmp(call->method, "POST") != 0)
            bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method) != CURLE_OK;
    }

    char parent[16 + 64], state[16 + CDS_TRACESTATE_MAX];
    const char *extra[3] = {NULL, NULL, NULL};
    if (!has_header(req->headers, "traceparent")) {
        if (trace_headers(call, parent, sizeof parent, state, sizeof state) != 0) return 1;
        extra[0] = parent;
        extra[1] = state[0] ? state : NULL;
    }
    /* Over HTTP/1.1 libcurl would otherwise wait for a 100 Continue before
     * sending a large body, a round trip for nothing. */
    if (!has_header(req->headers, "Expect")) extra[2] = "Expect:";
    if (build_headers(call, req->headers, extra, 3) != 0) return 1;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->req_headers) != CURLE_OK;
    return bad;
}

cds_http_call *cds_http_start(cds_http_client *c, const cds_http_request *req, cds_http_cb cb,
                              void *arg)
{
    if (!c || c->closing || c->free_requested || !cb || !request_ok(req)) return NULL;
    size_t max = req->max_response > 0 ? req->max_response : DEFAULT_MAX_RESPONSE;
    cds_http_call *call = calloc(1, sizeof(*call));
    if (!call) return NULL;
    call->client = c;
    call->cb = cb;
    cds_buf_init(&call->resp_body, max);
    cds_buf_init(&call->resp_headers, MAX_RESPONSE_HEADERS);
    call->arg = arg;
    cds_log_ctx_get(&call->log_ctx);
    /* Outside any trace (a timer's refresh, a poller): the call starts one,
     * and its callback's log lines carry it. */
    if (!call->log_ctx.trace.trace_id[0]) cds_trace_new(&call->log_ctx.trace);
    call->url = dup_str(req->url);
    call->method = dup_str(req->method);
    call->ca_file = dup_str(req->ca_file);
    if (req->body) {
        /* One extra byte so an empty body still has a valid pointer. */
        call->body = malloc(req->body_len + 1);
        if (call->body) {
            memcpy(call->body, req->body, req->body_len);
            call->body[req->body_len] = '\0';
        }
    }
    if (!call->url || !call->method || (req->ca_file && !call->ca_file) ||
        (req->body && !call->body))
        goto fail;
    call->easy = easy_take(c);
    if (!call->easy || call_setup(call, req) != 0) goto fail;
    /* Arms the timer (0 ms): the transfer starts on the next loop turn, never
     * inside this call, so the callback cannot run before we return. */
    if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK) goto fail;
    call->state = CALL_PENDING;
    call_link(c, call);
    return call;
fail:
    call_free(call);
    return NULL;
}

void cds_http_cancel(cds_http_call *call)
{
    /* A call inside its own callback is freed when the callback returns. */
    if (!call || call->state != CALL_PENDING) return;
    call_detach(call);
    call_free(call);
}

/* ---- headers ------------------------------------------------------------ */

int cds_http_header_get(const char *headers, size_t len, const char *name, char *out, size_t cap)
{
    if (!headers || !name || !out || cap == 0) return -1;
    out[0] = '\0';
    size_t nlen = strlen(name);
    if (nlen == 0) return -1;
    const char *p = headers, *end = headers + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *next = eol ? eol + 1 : end;
        if (line_end > p && line_end[-1] == '\r') line_end--;
        if ((size_t)(line_end - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            while (v < line_end && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = line_end;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t vlen = (size_t)(ve - v);
            if (vlen >= cap || vlen > INT32_MAX) return -1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return (int)vlen;
        }
        p = next;
    }
    return -1;
}
