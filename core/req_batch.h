/* Many small writes of one kind, from the requests of one turn of the event
 * loop, sent to PostgreSQL as one statement.
 *
 * A callback route that does one short write per request (a delivery receipt)
 * costs PostgreSQL a round trip, a transaction and a wake-up each; at
 * thousands a second that is most of its work. Requests of one batch kind
 * that arrive in the same turn of a thread's loop are gathered (up to
 * `max_items`) and sent as one call of the kind's statement, whose only
 * parameter is a JSON array of the items:
 *
 *     [{"i": 0, ...item...}, {"i": 1, ...}, ...]
 *
 * and which returns one row per item with the item's "i" in column 0. Each
 * request's callback then gets the whole result and its own row. The
 * statement should isolate its items from each other (a failing item answers
 * for itself), because a statement that fails fails the whole batch: every
 * callback then gets row -1 (as does a request whose item the statement did
 * not answer). A request that dies while its batch is in flight is simply
 * left out when the answers come back. */
#ifndef CDS_REQ_BATCH_H
#define CDS_REQ_BATCH_H
#include "core/http.h"

/* row: the request's row in res, or -1 (res NULL or failed, or no row). */
typedef void (*cds_req_batch_cb)(cds_req *r, PGresult *res, int row);

typedef struct cds_req_batch_kind {
    const char *name; /* for the logs */
    int stmt;         /* registered statement taking one jsonb parameter */
    int max_items;    /* a batch is sent at once when it reaches this size */
    cds_req_batch_cb cb;
} cds_req_batch_kind;

/* Queues `item` (a JSON object; the reference is stolen, "i" is added) for
 * the kind's next batch on r's thread. On failure (no database, out of
 * memory) it answers r with a problem and returns -1. */
int cds_req_batch(cds_req *r, const cds_req_batch_kind *kind, json_t *item);

/* Frees this thread's batching state (call from the thread at shutdown);
 * requests still gathered are answered as a failed batch. */
void cds_req_batch_thread_end(void);

#endif
