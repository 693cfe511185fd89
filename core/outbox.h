/* The outbox worker every queue uses (notify's messages, delivery's
 * bookings, the queues to come). A module describes its queue once
 * (cds_outbox_def); the outbox runs it on every event-loop thread:
 *
 * Wake-ups: a NOTIFY on the queue's channel reaches the process's LISTEN
 * thread (core/db_listen.h), which wakes one thread in turn (skipping threads
 * with no room) or every thread; a poll timer claims anyway every poll_ms,
 * for retries that fall due and NOTIFYs lost while not listening; every
 * thread claims when it starts and after each (re)connection of the LISTEN
 * connection.
 *
 * Claims: the module's claim statement takes $1 the node name, $2 how many
 * rows, then its own fixed arguments, and marks the rows taken (FOR UPDATE
 * SKIP LOCKED) so no two claimers hold one row. Up to `batch` rows a claim
 * and `max_inflight` rows in flight per thread; a full answer is followed by
 * another claim at once (with `drain`, any answer with rows: as soon as
 * there is room, until one comes back empty); a claim that would be small
 * (under a quarter of a batch while more room is coming) waits for room.
 *
 * Rows: for each claimed row, `take` makes the module's row (its struct
 * starts with a cds_outbox_row), then `handle` starts its work, which ends,
 * at once or later, with cds_outbox_done. Results: the module's writer, or
 * the outbox's batch writer (record_stmt >= 0): cds_outbox_record queues one
 * JSON result and every `record_batch` of them, or record_delay_ms after the
 * first (0: at the end of the event loop's turn), go to the database as one
 * jsonb array in one statement; one record is in flight per thread, and
 * what finished meanwhile goes as soon as it returns.
 *
 * Stopping: the rows in flight are cancelled (their calls dropped) and
 * freed; they stay claimed in the database and the module's claim timeout or
 * sweeper hands them back, to be sent again under the same idempotency key.
 *
 * Retries: cds_outbox_backoff_ms is the one backoff of every queue. */
#ifndef CDS_OUTBOX_H
#define CDS_OUTBOX_H
#include "core/db.h"
#include "core/http.h"

#include <jansson.h>
#include <stdint.h>

#define CDS_OUTBOX_CLAIM_ARGS 4

typedef struct cds_outbox cds_outbox;               /* one queue of this process */
typedef struct cds_outbox_worker cds_outbox_worker; /* that queue on one thread */

/* The head of a module's row in flight. */
typedef struct cds_outbox_row {
    cds_outbox_worker *ow;
    struct cds_outbox_row *prev, *next;
} cds_outbox_row;

/* What the module does with its rows. */
typedef struct cds_outbox_ops {
    /* The module's row for claimed row `row` of res, or NULL (out of memory:
     * the row stays claimed and comes back after the claim timeout). */
    cds_outbox_row *(*take)(cds_outbox_worker *ow, PGresult *res, int row);
    /* Starts the work of r; ends with cds_outbox_done(r), now or later. */
    void (*handle)(cds_outbox_row *r, PGresult *res, int row);
    /* The thread stops: drop r's calls in flight (r is released after). */
    void (*cancel)(cds_outbox_row *r);
    /* Frees r. */
    void (*release)(cds_outbox_row *r);
} cds_outbox_ops;

typedef struct cds_outbox_def {
    const char *name;    /* logs: "<name>_claim_failed", "<name>_record_failed" */
    const char *channel; /* the NOTIFY channel saying rows are waiting */
    const char *node;    /* the claimer's name in the rows; NULL or "": host:pid */
    int claim_stmt;      /* $1 node, $2 limit, then claim_args */
    const char *claim_args[CDS_OUTBOX_CLAIM_ARGS];
    int nclaim_args;
    int batch;           /* rows a claim asks for at most */
    int max_inflight;    /* rows in flight per thread */
    int refill;          /* room a finished row must leave before a claim waiting for room goes */
    int poll_ms;
    int wake_one;        /* a NOTIFY wakes one thread, in turn (else every thread) */
    int own_conn;        /* each thread claims and records on a connection of its own */
    int drain;           /* claim again after any answer with rows, not only a full one */
    int record_stmt;     /* $1: jsonb array of results; -1: the module records each row */
    int record_batch, record_delay_ms;
    const cds_outbox_ops *ops;
} cds_outbox_def;

/* Starts the queue (and its LISTEN) for this process; def is copied, its
 * strings and ops must outlive the queue. NULL on failure. */
cds_outbox *cds_outbox_new(const cds_outbox_def *def, const char *conninfo);
/* Stops LISTEN and frees the queue; every worker must have stopped. */
void cds_outbox_free(cds_outbox *ob);
const char *cds_outbox_node(const cds_outbox *ob);
/* Rows claimed by this process so far (for metrics). */
int64_t cds_outbox_claimed(const cds_outbox *ob);

/* The queue on thread cw (on that thread); arg is the module's. NULL when
 * ob is NULL, the thread has no database or out of memory. */
cds_outbox_worker *cds_outbox_worker_start(cds_outbox *ob, cds_worker *cw, void *arg);
void cds_outbox_worker_stop(cds_outbox_worker *ow);
void *cds_outbox_worker_arg(const cds_outbox_worker *ow);
/* The pool claims (and batched results) go to: the thread's own connection
 * with own_conn, else the thread's pool. */
cds_db_pool *cds_outbox_db(const cds_outbox_worker *ow);
int cds_outbox_stopping(const cds_outbox_worker *ow);

/* Queues one result for record_stmt (takes the reference). */
void cds_outbox_record(cds_outbox_worker *ow, json_t *result);
/* The same with the result already written as the JSON text of one object
 * (core/json_out.h): the batch is kept as text, so this costs a copy. */
void cds_outbox_record_text(cds_outbox_worker *ow, const char *json, size_t len);
/* Row r is finished: it is released, and a claim waiting for room goes. */
void cds_outbox_done(cds_outbox_row *r);

/* How long a temporary failure waits before attempt `attempt` + 1:
 * base * 2^(attempt-1) capped at max, with equal jitter (a uniform draw in
 * [d/2, d]) so a provider that comes back is not hit by every row at once;
 * the provider's hint (Retry-After, ms) wins when longer. */
long cds_outbox_backoff_ms(int attempt, long base_ms, long max_ms, long hint_ms);

#endif
