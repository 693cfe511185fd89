/* The rows of an outbox queue (core/outbox.h) that are each one call to a
 * provider and one result statement: the TTHC outbox (dossiers/
 * tthc_outbox.c) and payOS link cancels (payment/payos_cancel.c). What
 * they share is here once: the row in flight (its call and its query,
 * dropped when the thread stops), taking a claimed row, writing its outcome
 * (counted, logged, the backoff of a retry) and the queue's slot on each
 * event-loop thread. The module keeps the call itself and what an answer
 * means. */
#ifndef CDS_OUTBOX_CALL_H
#define CDS_OUTBOX_CALL_H
#include "core/http_client.h"
#include "core/outbox.h"
#include "core/server.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The head of the module's row: first in the module's struct. */
typedef struct cds_outbox_call {
    cds_outbox_row row; /* first: the outbox's head of a row in flight */
    cds_worker *w;      /* the thread (its HTTP client) */
    long long key;      /* the row's key: column 0 of the claim, $1 of the result */
    int attempt;
    cds_http_call *http; /* the call in flight, if any */
    cds_db_query *q;     /* the result being written, if any */
    struct cds_outbox_results *rs; /* whose result is being written */
} cds_outbox_call;

/* A queue's result statement and counters. */
struct cds_outbox_results {
    int stmt;                 /* ($1 key::bigint, $2 attempt::int, $3 outcome, $4 error, $5 retry ms::bigint) */
    const char *log_event;    /* the log event of an outcome with an error */
    const char *failed_event; /* the log event of a result not written */
    const char *key_name;     /* how logs name the key ("row", "orderCode") */
    atomic_llong done, retried, failed; /* outcomes other than retry/failed count as done */
};
typedef struct cds_outbox_results cds_outbox_results;

/* A zeroed row of `size` bytes (a struct starting with cds_outbox_call) for
 * claimed row `row` of res: key from column 0, attempt from attempt_col. */
cds_outbox_row *cds_outbox_call_take(cds_outbox_worker *ow, PGresult *res, int row, size_t size,
                                     int attempt_col);

/* Writes c's outcome, then c is done. "retry" on the last of attempts_max
 * becomes "failed"; a retry waits cds_outbox_backoff_ms(attempt,
 * backoff_base_ms, backoff_max_ms, hint_ms). error may be NULL. */
void cds_outbox_call_result(cds_outbox_results *rs, cds_outbox_call *c, const char *outcome,
                            const char *error, long hint_ms, int attempts_max,
                            long backoff_base_ms, long backoff_max_ms);

/* The ops' cancel: drops the row's call and query in flight. */
void cds_outbox_call_cancel(cds_outbox_row *r);

/* The queue ob on thread w, kept in w's slot; stop (ob may be gone). */
void cds_outbox_slot_start(cds_outbox *ob, int slot, cds_worker *w);
void cds_outbox_slot_stop(int slot, cds_worker *w);

#endif
