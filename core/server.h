/* The HTTP server: N event-loop threads, each with its own SO_REUSEPORT
 * listeners, database pool and curl multi handle; TLS with ALPN (h2,
 * http/1.1) and a cleartext port that detects the HTTP/2 client preface.
 * cds_server_run blocks until SIGTERM/SIGINT and shuts down gracefully. */
#ifndef CDS_SERVER_H
#define CDS_SERVER_H
#include "core/http.h"
#include "core/proxy.h"
#include "core/router.h"
#include <stddef.h>

#define CDS_MAX_LISTENERS 16
#define CDS_MAX_THREADS 256 /* event-loop threads at most (CDS_THREADS) */

typedef struct cds_listen {
    const char *host;
    int port;                /* 0: disabled */
    int tls;
    const cds_router *router;
    const char *name;        /* for logs: "api", "vneid", ... */
    cds_handler fallback;    /* answers paths no route matches; NULL: 404 */
    void *data;              /* the listener's owner (a simulator stand-in) */
} cds_listen;

typedef struct cds_server_config {
    cds_listen listen[CDS_MAX_LISTENERS];
    int nlisten;
    int threads;
    const char *tls_cert, *tls_key; /* PEM files; both NULL: development certificate */
    const char *dev_cert_dir;       /* where the development certificate is kept */
    int max_conns_per_thread;
    int max_streams;
    size_t max_header_bytes;
    size_t max_body;
    int handshake_timeout_ms, header_timeout_ms, idle_timeout_ms, shutdown_grace_ms;
    int reset_burst, reset_rate;    /* client stream resets allowed: burst, then per second */
    /* Answers held for peers that do not read them (slow read): past these a
     * connection that already holds answer bytes gets no new request handled
     * until they drain; a peer that takes none of them for stall_timeout_ms
     * is closed (HTTP/2: GOAWAY first). */
    size_t max_conn_buffer;         /* answer bytes held per connection */
    size_t max_thread_buffer;       /* answer bytes held by all connections of a thread */
    int stall_timeout_ms;
    /* Behind a load balancer: peers inside these networks must open every
     * connection (TLS or clear) with a PROXY protocol v2 header, whose source
     * address then is the client's (logs, rate limits); a trusted peer
     * without one is closed. Peers outside never may send one: a header from
     * them closes the connection. */
    const struct cds_cidr_list *proxy_trusted; /* core/cidr.h; NULL: none */
    unsigned proxy_listeners;       /* bit i: listen[i] is behind the balancer */
    /* On SIGTERM: this long /readyz answers 503 (cds_server_draining) while
     * everything else is served, so a balancer stops sending new work; then
     * the shutdown above. A second signal cuts it short. */
    int drain_ms;
    const char *db_conninfo;        /* NULL: no database */
    int db_conns, db_queue, db_inflight;
    void (*on_worker_start)(cds_worker *w, void *ctx);
    void (*on_worker_stop)(cds_worker *w, void *ctx);
    void *ctx;
} cds_server_config;

/* Fills the defaults documented in the README. */
void cds_server_config_defaults(cds_server_config *c);
/* Returns 0 after a clean shutdown, non-zero if the server could not start. */
int cds_server_run(const cds_server_config *c);
/* 1 from the stop signal until the drain period ends (/readyz says 503). */
int cds_server_draining(void);
/* Ask a running server to stop, as SIGTERM would (tests, embedding). */
void cds_server_stop(void);

/* Per-thread module state has one shape: a module that keeps state per
 * event-loop thread (an outbox worker, a sweeper's timer, a token cache)
 * registers a slot once, from its init, before the server starts, and keeps
 * thread w's state in w->slot[id]: set by its on_worker_start on that thread,
 * read there only, cleared by its on_worker_stop. No module keeps arrays
 * indexed by thread or globals that only thread 0 may touch. The same name
 * gives the same id (init may run more than once in a process); -1 when all
 * CDS_WORKER_SLOTS are taken. */
int cds_worker_slot(const char *name);
static inline void *cds_worker_get(const cds_worker *w, int slot)
{
    return slot >= 0 && slot < CDS_WORKER_SLOTS ? w->slot[slot] : NULL;
}
static inline void cds_worker_set(cds_worker *w, int slot, void *state)
{
    if (slot >= 0 && slot < CDS_WORKER_SLOTS) w->slot[slot] = state;
}

#endif
