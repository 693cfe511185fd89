/* PostgreSQL LISTEN/NOTIFY for the whole process: one connection on a
 * background thread of its own (never an event-loop thread), shared by every
 * listener of the process on the same database, so a node learns at once
 * what another node did: a revoked login family, new outbox rows to send.
 * After every (re)connection, and on the live connection when a listener
 * starts, its `on_connect` runs on that thread with the connection, to reload
 * whatever may have been missed while disconnected; then the notifications of
 * its channels are delivered to its `on_notify`, also on that thread
 * (callbacks must be thread-safe, quick, and must not start or stop
 * listeners). Reconnects with backoff. */
#ifndef CDS_DB_LISTEN_H
#define CDS_DB_LISTEN_H
#include <libpq-fe.h>
#include <stddef.h>

typedef struct cds_listener cds_listener;
typedef void (*cds_notify_cb)(const char *channel, const char *payload, void *arg);
typedef void (*cds_listen_connect_cb)(PGconn *conn, void *arg);

/* Starts the thread; channels are copied. NULL on failure to start. */
cds_listener *cds_listener_start(const char *conninfo, const char *const *channels, size_t n,
                                 cds_notify_cb on_notify, cds_listen_connect_cb on_connect,
                                 void *arg);
/* Stops the thread and frees everything. */
void cds_listener_stop(cds_listener *l);

#endif
