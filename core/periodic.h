/* A periodic job on one event-loop thread: the outbox's poll for rows whose
 * retry fell due, the sweepers (notify's stuck rows, payment's expired
 * intents) and the courier polling all run on it instead of timers of their
 * own. Every `every_ms` the tick runs on the thread's loop. A job that runs
 * one statement per tick uses cds_periodic_query: a tick whose previous
 * statement is still in flight is skipped (a slow database is not piled on),
 * and the statement in flight is cancelled when the job stops. */
#ifndef CDS_PERIODIC_H
#define CDS_PERIODIC_H
#include "core/db.h"

struct event_base;
typedef struct cds_periodic cds_periodic;
typedef void (*cds_periodic_fn)(cds_periodic *p, void *arg);

/* Starts the timer (first tick after every_ms). NULL when out of memory. */
cds_periodic *cds_periodic_start(struct event_base *base, long every_ms, cds_periodic_fn tick,
                                 void *arg);
/* Runs `stmt` on `db` unless this job's last statement is still running;
 * cb gets the job's arg. 0 when sent or skipped, -1 when the pool refused. */
int cds_periodic_query(cds_periodic *p, cds_db_pool *db, int stmt, int nparams,
                       const char *const *values, cds_db_cb cb);
/* Stops the timer, cancels the statement in flight, frees p (NULL is fine). */
void cds_periodic_stop(cds_periodic *p);

#endif
