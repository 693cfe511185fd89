/* Threads, listeners, connections, timers and graceful shutdown.
 *
 * Each loop thread owns an event_base, its own listening sockets (the same
 * ports, SO_REUSEPORT, so the kernel spreads connections), a database pool
 * and a curl multi handle. A connection starts in TLS handshake (TLS port) or
 * in preface detection (cleartext port: "PRI * HTTP/2.0..." means h2c with
 * prior knowledge, anything else HTTP/1.1) and then belongs to h1.c or h2.c.
 * One timer per connection enforces the handshake, header and idle timeouts;
 * a second one, the stall timer, runs while answers wait for a peer that
 * does not read them (see queued()).
 * Behind a load balancer (cfg->proxy_trusted): an accepted socket from a
 * trusted network first waits, as a proxy_wait, for its PROXY v2 header,
 * read with exact-length recv() calls so not one byte of what follows (the
 * TLS ClientHello, the HTTP request) is taken; then it becomes a connection
 * whose peer is the header's source address. A trusted peer that sends no
 * valid header within the handshake timeout is closed, and so is an
 * untrusted one that sends a header (cleartext: seen in preface detection;
 * TLS: it is not a ClientHello, so the handshake fails).
 * SIGHUP: the TLS certificate and the modules' keys are re-read (reload()),
 * connections untouched.
 * SIGTERM/SIGINT: first the drain period (cds_server_draining: /readyz 503,
 * all else served), then listeners close, HTTP/2 peers get GOAWAY, HTTP/1.1 answers
 * carry "connection: close", in-flight requests finish for up to the grace
 * period, then pools close and cds_server_run returns 0. */
#include "core/cidr.h"
#include "core/clock.h"
#include "core/conn.h"
#include "core/db.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/reload.h"
#include "core/req_batch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
static atomic_int draining;

int cds_server_draining(void)
{
    return atomic_load(&draining);
}

void cds_server_config_defaults(cds_server_config *c)
{
    memset(c, 0, sizeof *c);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = n > 0 ? (int)n : 1;
    c->max_conns_per_thread = 10000;
    c->max_streams = 100;
    c->max_header_bytes = 16 * 1024;
    c->max_body = 1024 * 1024;
    c->handshake_timeout_ms = 10000;
    c->header_timeout_ms = 10000;
    c->idle_timeout_ms = 60000;
    c->shutdown_grace_ms = 10000;
    c->reset_burst = 200;
    c->reset_rate = 100;
    c->max_conn_buffer = 512 * 1024;
    c->max_thread_buffer = 8 * 1024 * 1024;
    c->stall_timeout_ms = 30000;
    c->db_conns = 4;
    c->db_queue = 1024;
    c->db_inflight = 32;
}

const char *cds_thread_date(cds_thread *t)
{
    time_t now = time(NULL);
    if (now != t->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(t->date, sizeof t->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        t->date_sec = now;
    }
    return t->date;
}

/* ---------------- connections ---------------- */

void cds_conn_close(cds_conn *c)
{
    cds_thread *t = c->t;
    if (c->ops) c->ops->free(c);
    if (c->timer) event_free(c->timer);
    if (c->stall_ev) event_free(c->stall_ev);
    if (c->out_cb) evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
    t->out_queued -= c->out_queued;
    if (c->bev) bufferevent_free(c->bev);
    if (c->prev) c->prev->next = c->next;
    else t->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
    t->nconns--;
    cds_metrics_add(CDS_G_CONNECTIONS, -1);
    if (t->stopping && t->nconns == 0) event_base_loopexit(t->w.base, NULL);
}

void cds_conn_rearm_timer(cds_conn *c)
{
    const cds_server_config *cfg = c->t->cfg;
    int ms = 0;
    switch (c->phase) {
    case PH_HANDSHAKE: ms = cfg->handshake_timeout_ms; break;
    case PH_DETECT: ms = cfg->header_timeout_ms; break;
    case PH_PROTO: ms = c->ops->timer_ms(c); break;
    default: break;
    }
    if (ms <= 0) {
        c->timer_due_us = 0; /* an armed event finds nothing due */
        return;
    }
    uint64_t due = cds_now_us() + (uint64_t)ms * 1000;
    c->timer_due_us = due;
    if (c->timer_armed_us && c->timer_armed_us <= due) return; /* fires first, re-arms */
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(c->timer, &tv);
    c->timer_armed_us = due;
}

/* ---------------- answers held for the peer (slow read) ---------------- */

static void stall_arm(cds_conn *c, uint64_t us)
{
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    evtimer_add(c->stall_ev, &tv);
}

static void queued(cds_conn *c, size_t add, size_t sub)
{
    size_t before = c->out_queued;
    c->out_queued = c->out_queued + add - sub;
    c->t->out_queued = c->t->out_queued + add - sub;
    if (before == 0 && c->out_queued > 0) { /* answers begin to wait: a period starts */
        c->moved = 1;
        if (!evtimer_pending(c->stall_ev, NULL))
            stall_arm(c, (uint64_t)c->t->cfg->stall_timeout_ms * 1000);
    }
}

void cds_conn_body_held(cds_conn *c, size_t add, size_t sub)
{
    if (sub || !c->body_held) c->body_moved = 1;
    c->body_held = c->body_held + add - sub;
    queued(c, add, sub);
}

int cds_conn_may_dispatch(const cds_conn *c)
{
    const cds_server_config *cfg = c->t->cfg;
    return c->out_queued == 0 ||
           (c->out_queued < cfg->max_conn_buffer && c->t->out_queued < cfg->max_thread_buffer);
}

/* Every change of the output buffer: bytes added are held, bytes removed
 * went to the socket (or TLS), which is the peer making progress. This runs
 * for every write into the buffer, so it only sets a flag: the stall timer
 * looks at it once per period instead of reading the clock here. */
static void on_output(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
    cds_conn *c = arg;
    if (info->n_deleted) c->moved = 1;
    queued(c, info->n_added, info->n_deleted);
}

static void on_stall(evutil_socket_t fd, short what, void *arg)
{
    cds_conn *c = arg;
    if (c->stall_closing) { /* the goodbye had its chance */
        cds_conn_close(c);
        return;
    }
    if (c->out_queued == 0) return; /* all taken: the next answer starts a period */
    /* A whole period without progress: closed between one and two periods
     * after the peer last took something. */
    int moved = c->body_held ? c->body_moved : c->moved;
    c->moved = c->body_moved = 0;
    if (moved) {
        stall_arm(c, (uint64_t)c->t->cfg->stall_timeout_ms * 1000);
        return;
    }
    cds_metrics_add(CDS_G_CONN_TIMEOUTS, 1);
    cds_log(CDS_LOG_WARN, "slow_reader", "peer %s took none of %zu answer bytes in %d ms: closing",
            c->peer, c->out_queued, c->t->cfg->stall_timeout_ms);
    if (c->ops) c->ops->goaway(c);
    /* The peer gets a second to take the goodbye, not more: it reads nothing. */
    c->close_after_write = 1;
    c->stall_closing = 1;
    bufferevent_disable(c->bev, EV_READ);
    stall_arm(c, 1000000);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    cds_conn *c = arg;
    c->timer_armed_us = 0;
    if (!c->timer_due_us) return; /* the deadline was lifted meanwhile */
    uint64_t now = cds_now_us();
    if (now < c->timer_due_us) { /* moved later meanwhile: wait for the rest */
        uint64_t us = c->timer_due_us - now;
        struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
        event_add(c->timer, &tv);
        c->timer_armed_us = c->timer_due_us;
        return;
    }
    c->timer_due_us = 0;
    cds_metrics_add(CDS_G_CONN_TIMEOUTS, 1);
    if (c->ops) c->ops->timeout(c);
    else cds_conn_close(c);
}

static void start_protocol(cds_conn *c, int h2)
{
    c->phase = PH_PROTO;
    c->ops = h2 ? &cds_h2_ops : &cds_h1_ops;
    if (c->ops->start(c) != 0) {
        cds_conn_close(c);
        return;
    }
    /* The protocol may have decided to close while reading buffered input. */
    if (c->close_after_write && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        cds_conn_close(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    cds_conn *c = arg;
    if (c->phase == PH_DETECT) {
        struct evbuffer *in = bufferevent_get_input(bev);
        size_t n = evbuffer_get_length(in);
        /* A PROXY header from a peer not trusted to send one: someone trying
         * to choose the address we log and rate-limit. */
        size_t sn = n < sizeof cds_proxy_v2_sig ? n : sizeof cds_proxy_v2_sig;
        if (memcmp(evbuffer_pullup(in, (ev_ssize_t)sn), cds_proxy_v2_sig, sn) == 0) {
            if (sn < sizeof cds_proxy_v2_sig) return;
            cds_log(CDS_LOG_WARN, "proxy_untrusted", "PROXY header from untrusted peer %s: closing",
                    c->peer);
            cds_conn_close(c);
            return;
        }
        size_t cmp = n < sizeof h2_preface - 1 ? n : sizeof h2_preface - 1;
        unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)cmp);
        if (memcmp(p, h2_preface, cmp) != 0) {
            start_protocol(c, 0);
        } else if (cmp == sizeof h2_preface - 1) {
            start_protocol(c, 1);
        }
        return; /* a prefix of the preface: wait for more */
    }
    if (c->ops) c->ops->on_read(c);
    else evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    if (c->close_after_write && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        cds_conn_close(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    cds_conn *c = arg;
    if (c->close_after_write) {
        cds_conn_close(c);
        return;
    }
    if (c->ops) c->ops->on_drained(c);
    if (c->close_after_write && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        cds_conn_close(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    cds_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        const unsigned char *alpn = NULL;
        unsigned int alen = 0;
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        if (ssl) SSL_get0_alpn_selected(ssl, &alpn, &alen);
        start_protocol(c, alen == 2 && memcmp(alpn, "h2", 2) == 0);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) cds_conn_close(c);
}

typedef struct listener_ctx {
    cds_thread *t;
    const cds_listen *ls;
} listener_ctx;

cds_conn *cds_conn_attach(cds_thread *t, const cds_listen *ls, struct bufferevent *bev,
                          const char *peer, int tls)
{
    cds_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->t = t;
    c->listen = ls;
    c->tls = tls;
    c->bev = bev;
    c->phase = tls ? PH_HANDSHAKE : PH_DETECT;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->timer = evtimer_new(t->w.base, on_timer, c);
    c->stall_ev = evtimer_new(t->w.base, on_stall, c);
    c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), on_output, c);
    c->next = t->conns;
    if (t->conns) t->conns->prev = c;
    t->conns = c;
    t->nconns++;
    cds_metrics_add(CDS_G_CONNECTIONS, 1);
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    cds_conn_rearm_timer(c);
    return c;
}

/* The socket becomes a connection of thread t with `peer` as its client. */
static void conn_start(cds_thread *t, const cds_listen *ls, evutil_socket_t fd, const char *peer)
{
    struct bufferevent *bev = NULL;
    if (ls->tls) {
        SSL *ssl = cds_tls_ssl_new();
        if (ssl) {
            bev = bufferevent_openssl_socket_new(t->w.base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
            if (!bev) SSL_free(ssl);
        }
    } else {
        bev = bufferevent_socket_new(t->w.base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    if (!cds_conn_attach(t, ls, bev, peer, ls->tls)) bufferevent_free(bev);
}

/* ---------------- PROXY protocol v2 (trusted balancers) ---------------- */

typedef struct proxy_wait {
    cds_thread *t;
    const cds_listen *ls;
    evutil_socket_t fd;
    struct event *ev;
    char peer[64]; /* the balancer's address */
    size_t have, need;
    unsigned char buf[CDS_PROXY_V2_FIXED + CDS_PROXY_V2_MAX_LEN];
    struct proxy_wait *prev, *next;
} proxy_wait;

static void proxy_wait_free(proxy_wait *w, int close_fd)
{
    cds_thread *t = w->t;
    if (w->prev) w->prev->next = w->next;
    else t->proxy_waits = w->next;
    if (w->next) w->next->prev = w->prev;
    t->nproxy_waits--;
    event_free(w->ev);
    if (close_fd) evutil_closesocket(w->fd);
    free(w);
}

static void proxy_refuse(proxy_wait *w, const char *why)
{
    cds_metrics_add(CDS_G_CONN_REJECTED, 1);
    cds_log(CDS_LOG_WARN, "proxy_refused", "trusted peer %s: %s: closing", w->peer, why);
    proxy_wait_free(w, 1);
}

static void on_proxy_read(evutil_socket_t fd, short what, void *arg)
{
    proxy_wait *w = arg;
    if (what & EV_TIMEOUT) {
        proxy_refuse(w, "no PROXY header in time");
        return;
    }
    for (;;) {
        ssize_t n = recv(fd, w->buf + w->have, w->need - w->have, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
            proxy_refuse(w, n == 0 ? "closed before its PROXY header" : strerror(errno));
            return;
        }
        w->have += (size_t)n;
        char client[64];
        size_t need = 0;
        int rc = cds_proxy_v2_parse(w->buf, w->have, &need, client, sizeof client);
        if (rc == CDS_PROXY_BAD) {
            proxy_refuse(w, "no valid PROXY v2 header");
            return;
        }
        if (rc == CDS_PROXY_MORE) {
            w->need = need; /* grows from 16 to the whole header, never past it */
            continue;
        }
        cds_thread *t = w->t;
        const cds_listen *ls = w->ls;
        char peer[64];
        snprintf(peer, sizeof peer, "%s", client[0] ? client : w->peer);
        proxy_wait_free(w, 0);
        conn_start(t, ls, fd, peer);
        return;
    }
}

static void proxy_wait_start(cds_thread *t, const cds_listen *ls, evutil_socket_t fd,
                             const char *peer)
{
    proxy_wait *w = calloc(1, sizeof *w);
    if (!w || !(w->ev = event_new(t->w.base, fd, EV_READ | EV_PERSIST, on_proxy_read, w))) {
        free(w);
        evutil_closesocket(fd);
        return;
    }
    w->t = t;
    w->ls = ls;
    w->fd = fd;
    w->need = CDS_PROXY_V2_FIXED;
    snprintf(w->peer, sizeof w->peer, "%s", peer);
    w->next = t->proxy_waits;
    if (t->proxy_waits) t->proxy_waits->prev = w;
    t->proxy_waits = w;
    t->nproxy_waits++;
    int ms = t->cfg->handshake_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(w->ev, &tv);
}

static void accept_conn(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                        int slen, void *arg)
{
    listener_ctx *lc = arg;
    cds_thread *t = lc->t;
    if (t->stopping || t->nconns + t->nproxy_waits >= t->cfg->max_conns_per_thread) {
        if (!t->stopping) cds_metrics_add(CDS_G_CONN_REJECTED, 1);
        evutil_closesocket(fd);
        return;
    }
    char peer[64] = "";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, peer, sizeof peer);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, peer, sizeof peer);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    evutil_make_socket_nonblocking(fd);
    if ((t->cfg->proxy_listeners >> (lc->ls - t->cfg->listen) & 1u) && t->cfg->proxy_trusted &&
        cds_cidr_match_sa(t->cfg->proxy_trusted, sa)) {
        proxy_wait_start(t, lc->ls, fd, peer);
        return;
    }
    conn_start(t, lc->ls, fd, peer);
}

/* ---------------- threads ---------------- */

typedef struct server {
    const cds_server_config *cfg;
    cds_thread *threads;
    listener_ctx *lctx; /* threads * nlisten */
    int *fds;           /* threads * nlisten */
    pthread_t *tids;
} server;

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    cds_thread *t = arg;
    cds_log(CDS_LOG_WARN, "shutdown_grace_expired", "thread %d: %d connections still open", t->w.id,
            t->nconns);
    event_base_loopbreak(t->w.base);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    cds_thread *t = arg;
    if (t->stopping) return;
    t->stopping = 1;
    for (int i = 0; i < CDS_MAX_LISTENERS; i++)
        if (t->listeners[i]) {
            evconnlistener_free(t->listeners[i]);
            t->listeners[i] = NULL;
        }
    while (t->proxy_waits) proxy_wait_free(t->proxy_waits, 1);
    for (cds_conn *c = t->conns, *next; c; c = next) {
        next = c->next;
        if (c->ops) c->ops->shutdown(c);
        else cds_conn_close(c);
    }
    if (t->nconns == 0) {
        event_base_loopexit(t->w.base, NULL);
        return;
    }
    int ms = t->cfg->shutdown_grace_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    t->grace_ev = evtimer_new(t->w.base, on_grace, t);
    event_add(t->grace_ev, &tv);
}

static void *thread_main(void *arg)
{
    cds_thread *t = arg;
    const cds_server_config *cfg = t->cfg;
    if (cfg->db_conninfo) {
        cds_db_config dc = {cfg->db_conninfo, cfg->db_conns, cfg->db_inflight, cfg->db_queue};
        t->w.db = cds_db_pool_new(t->w.base, &dc);
    }
    t->w.http = cds_http_client_new(t->w.base);
    if (cfg->on_worker_start) cfg->on_worker_start(&t->w, cfg->ctx);
    event_base_dispatch(t->w.base);
    while (t->conns) cds_conn_close(t->conns); /* cancels what is left */
    while (t->proxy_waits) proxy_wait_free(t->proxy_waits, 1);
    cds_req_batch_thread_end();
    if (cfg->on_worker_stop) cfg->on_worker_stop(&t->w, cfg->ctx);
    if (t->w.http) cds_http_client_free(t->w.http);
    if (t->w.db) cds_db_pool_free(t->w.db);
    return NULL;
}

static int open_listener(const cds_listen *ls)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    char port[8];
    snprintf(port, sizeof port, "%d", ls->port);
    int rc = getaddrinfo(ls->host, port, &hints, &res);
    if (rc != 0) {
        cds_log(CDS_LOG_ERROR, "listen", "%s:%d: %s", ls->host, ls->port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        cds_log(CDS_LOG_ERROR, "listen", "%s:%d: %s", ls->host, ls->port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* ---------------- metric slots ---------------- */

/* Every route of every listener's router has a metric slot, so requests on
 * the admin listener are counted under their own route, not as "unmatched".
 * Routes with the same method and template share a slot (one router serves
 * several ports; stand-ins share routes such as /_sim/health), so no series
 * is exposed twice. Built before the threads start, read-only after. */
static struct {
    const cds_router *router;
    int *slot; /* route index -> metric slot */
} metric_map[CDS_MAX_LISTENERS];
static int nmetric_map;

int cds_server_metric_slot(const cds_router *router, int index)
{
    for (int i = 0; i < nmetric_map; i++)
        if (metric_map[i].router == router) return metric_map[i].slot[index];
    return -1;
}

static void metric_slots_free(void)
{
    for (int i = 0; i < nmetric_map; i++) free(metric_map[i].slot);
    nmetric_map = 0;
    cds_metrics_free();
}

static void metric_slots_init(const cds_server_config *cfg)
{
    size_t total = 0, nlabels = 0;
    for (int li = 0; li < cfg->nlisten; li++) total += cds_router_count(cfg->listen[li].router);
    const char **meth = calloc(total + 1, sizeof *meth), **paths = calloc(total + 1, sizeof *paths);
    if (!meth || !paths) abort();
    for (int li = 0; li < cfg->nlisten; li++) {
        const cds_router *r = cfg->listen[li].router;
        if (cds_server_metric_slot(r, 0) >= 0 || cds_router_count(r) == 0) continue;
        size_t nr = cds_router_count(r);
        int *slot = calloc(nr, sizeof *slot);
        if (!slot) abort();
        for (size_t i = 0; i < nr; i++) {
            const cds_route *rt = cds_router_at(r, i);
            size_t k = 0;
            while (k < nlabels && !(strcmp(meth[k], rt->method) == 0 && strcmp(paths[k], rt->path) == 0))
                k++;
            if (k == nlabels) {
                meth[nlabels] = rt->method;
                paths[nlabels++] = rt->path;
            }
            slot[i] = (int)k;
        }
        metric_map[nmetric_map].router = r;
        metric_map[nmetric_map++].slot = slot;
    }
    cds_metrics_init(meth, paths, nlabels);
    free(meth);
    free(paths);
}

static volatile sig_atomic_t stop_requested;
static pthread_t main_tid;

void cds_server_stop(void)
{
    stop_requested = 1;
    pthread_kill(main_tid, SIGTERM);
}

/* SIGHUP, on the main thread: the TLS certificate, then every module's
 * keys. Loop threads keep serving meanwhile; nothing is closed. */
static void reload(const cds_server_config *cfg)
{
    cds_log(CDS_LOG_INFO, "reload", "SIGHUP: re-reading the certificate and keys");
    int failed = cds_tls_reload(cfg) != 0;
    failed += cds_reload_run();
    if (failed) cds_log(CDS_LOG_ERROR, "reload", "%d part(s) not reloaded; the rest is", failed);
}

int cds_server_run(const cds_server_config *cfg)
{
    int nt = cfg->threads > 0 ? cfg->threads : 1, nl = cfg->nlisten, rc = 1;
    server s = {.cfg = cfg};
    main_tid = pthread_self();
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* threads inherit: only sigwait sees them */
    evthread_use_pthreads();

    metric_slots_init(cfg);

    int tls = 0;
    for (int i = 0; i < nl; i++)
        if (cfg->listen[i].tls && cfg->listen[i].port && !tls) {
            if (cds_tls_start(cfg) != 0) goto out;
            tls = 1;
        }

    s.threads = calloc((size_t)nt, sizeof *s.threads);
    s.lctx = calloc((size_t)(nt * nl) + 1, sizeof *s.lctx);
    s.fds = calloc((size_t)(nt * nl) + 1, sizeof *s.fds);
    s.tids = calloc((size_t)nt, sizeof *s.tids);
    for (int i = 0; i < nt * nl; i++) s.fds[i] = -1;
    for (int ti = 0; ti < nt; ti++)
        for (int li = 0; li < nl; li++) {
            if (!cfg->listen[li].port) continue;
            int fd = open_listener(&cfg->listen[li]);
            if (fd < 0) goto out;
            s.fds[ti * nl + li] = fd;
        }
    for (int ti = 0; ti < nt; ti++) {
        cds_thread *t = &s.threads[ti];
        t->cfg = cfg;
        t->w.id = ti;
        t->w.base = event_base_new();
        if (getrandom(&t->rng, sizeof t->rng, 0) != sizeof t->rng || !t->rng)
            t->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(ti + 1);
        t->stop_ev = event_new(t->w.base, -1, 0, on_stop, t);
        for (int li = 0; li < nl; li++) {
            int fd = s.fds[ti * nl + li];
            if (fd < 0) continue;
            listener_ctx *lc = &s.lctx[ti * nl + li];
            lc->t = t;
            lc->ls = &cfg->listen[li];
            /* Backlog 0: the socket already listens (4096); -1 would make
             * libevent call listen() again with its default of 128. */
            t->listeners[li] = evconnlistener_new(t->w.base, accept_conn, lc,
                                                  LEV_OPT_CLOSE_ON_FREE, 0, fd);
            s.fds[ti * nl + li] = -1; /* owned by the listener now */
        }
    }
    for (int ti = 0; ti < nt; ti++) pthread_create(&s.tids[ti], NULL, thread_main, &s.threads[ti]);
    for (int li = 0; li < nl; li++)
        if (cfg->listen[li].port)
            cds_log(CDS_LOG_INFO, "listening", "%s %s://%s:%d (%d threads)",
                    cfg->listen[li].name ? cfg->listen[li].name : "http",
                    cfg->listen[li].tls ? "https" : "http", cfg->listen[li].host,
                    cfg->listen[li].port, nt);
    int sig = 0;
    /* SIGHUP: certificate and keys re-read (reload.h); then wait again. */
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) reload(cfg);
    if (cfg->drain_ms > 0) {
        /* The balancer's health check sees 503 and stops sending new work;
         * what it still sends is served. A second signal ends it early. */
        atomic_store(&draining, 1);
        cds_log(CDS_LOG_INFO, "drain", "signal %d: /readyz answers 503 for %d ms", sig,
                cfg->drain_ms);
        struct timespec end, now;
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += cfg->drain_ms / 1000;
        end.tv_nsec += (long)(cfg->drain_ms % 1000) * 1000000L;
        if (end.tv_nsec >= 1000000000L) end.tv_sec++, end.tv_nsec -= 1000000000L;
        int again = 0;
        for (;;) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            long long left_ns = (long long)(end.tv_sec - now.tv_sec) * 1000000000LL +
                                (end.tv_nsec - now.tv_nsec);
            if (left_ns <= 0) break;
            struct timespec ts = {(time_t)(left_ns / 1000000000LL), (long)(left_ns % 1000000000LL)};
            again = sigtimedwait(&sigs, NULL, &ts);
            if (again == SIGHUP) {
                reload(cfg); /* a reload does not end the drain */
                again = 0;
            } else if (again > 0 || errno != EINTR) break;
        }
        if (again > 0) cds_log(CDS_LOG_INFO, "drain", "signal %d: drain cut short", again);
    }
    cds_log(CDS_LOG_INFO, "shutdown", "signal %d: draining connections", sig);
    for (int ti = 0; ti < nt; ti++) event_active(s.threads[ti].stop_ev, 0, 0);
    for (int ti = 0; ti < nt; ti++) pthread_join(s.tids[ti], NULL);
    rc = 0;
    atomic_store(&draining, 0);
    cds_log(CDS_LOG_INFO, "shutdown", "stopped cleanly");
out:
    for (int ti = 0; s.threads && ti < nt; ti++) {
        cds_thread *t = &s.threads[ti];
        for (int li = 0; li < CDS_MAX_LISTENERS; li++)
            if (t->listeners[li]) evconnlistener_free(t->listeners[li]);
        if (t->grace_ev) event_free(t->grace_ev);
        if (t->stop_ev) event_free(t->stop_ev);
        if (t->w.base) event_base_free(t->w.base);
    }
    for (int i = 0; s.fds && i < nt * nl; i++)
        if (s.fds[i] >= 0) close(s.fds[i]);
    free(s.threads);
    free(s.lctx);
    free(s.fds);
    free(s.tids);
    if (tls) cds_tls_stop();
    metric_slots_free();
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    return rc;
}
