/* Asynchronous PostgreSQL pool, one per event-loop thread.
 *
 * Every connection runs libpq in non-blocking pipeline mode driven by the
 * thread's event_base: queries are sent with PQsendQueryPrepared (each followed
 * by its own sync point so one failing query does not abort its neighbours),
 * results are read with PQconsumeInput/PQisBusy/PQgetResult when the socket is
 * readable. No call here ever blocks the loop.
 *
 * Statements are registered once at start-up (cds_db_stmt_register) and
 * prepared on every connection as soon as it is up, so handlers only name them
 * by id. When PostgreSQL goes away, in-flight queries fail (callback with
 * res == NULL), the connection is retried with exponential backoff, and
 * cds_db_ready() is false until one connection is back.
 *
 * Failover: with a multi-host connection string and
 * target_session_attrs=read-write, a reconnection finds the new primary. A
 * server that answers "not the primary any more" (SQLSTATE 25006, 57P01-03,
 * class 08) is treated as a lost connection: its queries get NULL too. */
#ifndef CDS_DB_H
#define CDS_DB_H
#include <libpq-fe.h>
#include <stdint.h>

struct event_base;
typedef struct cds_db_pool cds_db_pool;
typedef struct cds_db_query cds_db_query;

enum {
    CDS_DB_OK = 0,
    CDS_DB_EBUSY = -1,  /* wait queue full: answer 503 */
    CDS_DB_EDOWN = -2,  /* no connection up and none coming soon: answer 503 */
    CDS_DB_EINVAL = -3, /* bad statement id or parameter count */
};

/* Called exactly once per query unless the query was cancelled first.
 * res == NULL: the connection was lost (or its server stopped being the
 * primary) or the pool is closing: no answer, and for a write an unknown
 * outcome, so the caller answers 503 (cds_req_db_failed), never a success.
 * Otherwise res is owned by the pool and cleared after the callback returns;
 * check PQresultStatus (PGRES_TUPLES_OK / PGRES_COMMAND_OK, or
 * PGRES_FATAL_ERROR with PQresultErrorField(res, PG_DIAG_SQLSTATE)). */
typedef void (*cds_db_cb)(void *arg, PGresult *res);

/* Register a statement before any pool is created. Returns its id (>= 0). */
int cds_db_stmt_register(const char *name, const char *sql, int nparams);
/* The same for a statement that only reads (no writes, no locks taken,
 * nothing whose effect must commit on its own): queries of such statements
 * sent in the same turn of the event loop on one connection share one
 * implicit transaction and one sync point, which saves a round of system
 * calls and wake-ups per query under load. A failure of one makes
 * PostgreSQL skip the ones after it in the batch; those are sent again. */
int cds_db_stmt_register_ro(const char *name, const char *sql, int nparams);

typedef struct cds_db_config {
    const char *conninfo; /* libpq connection string or URI */
    int conns;            /* connections in this pool (default 4) */
    int max_inflight;     /* queries pipelined per connection (default 32) */
    int max_queue;        /* queries waiting for a connection (default 1024) */
} cds_db_config;

cds_db_pool *cds_db_pool_new(struct event_base *base, const cds_db_config *cfg);
/* Fails every pending query (callback with NULL), closes connections. */
void cds_db_pool_free(cds_db_pool *pool);

/* Queue statement `stmt` with text parameters (values may be NULL for SQL
 * NULL; the pool copies them). On success returns CDS_DB_OK and, if `out` is
 * not NULL, a handle valid until the callback runs or the query is cancelled. */
int cds_db_exec(cds_db_pool *pool, int stmt, int nparams, const char *const *values, cds_db_cb cb,
                void *arg, cds_db_query **out);
/* The same with binary parameters: lengths[i] >= 0 sends values[i] as
 * lengths[i] bytes in PostgreSQL's binary form of the parameter's type (for
 * bytea, the bytes themselves; libpq paramFormats 1), lengths[i] < 0 as
 * text like cds_db_exec. lengths NULL: every parameter is text. */
int cds_db_exec_bin(cds_db_pool *pool, int stmt, int nparams, const char *const *values,
                    const int *lengths, cds_db_cb cb, void *arg, cds_db_query **out);

/* The caller no longer wants the answer: a query still waiting is dropped
 * without being sent; one already sent has its result discarded. The callback
 * is never called after this. */
void cds_db_cancel(cds_db_query *q);

/* 1 when at least one connection is up and prepared. */
int cds_db_ready(const cds_db_pool *pool);
/* 1 once every pool of this process has had a connection up and prepared
 * (each event-loop thread has its own pool and connects on its own): until
 * then the process is starting, and a load balancer should not send it
 * traffic whichever thread its check lands on. Safe from any thread. */
int cds_db_all_started(void);

/* Process-wide gauges, summed over every pool: queries sent and not answered,
 * and queries waiting for a connection. */
int64_t cds_db_gauge_inflight(void);
int64_t cds_db_gauge_waiting(void);

#endif
