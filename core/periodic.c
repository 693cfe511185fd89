/* Periodic jobs (core/periodic.h): a persistent libevent timer and at most
 * one statement in flight, whose handle is dropped when its answer comes
 * and cancelled when the job stops. */
#include "core/periodic.h"

#include <event2/event.h>
#include <stdlib.h>

struct cds_periodic {
    struct event *timer;
    cds_periodic_fn tick;
    void *arg;
    cds_db_query *q;
    cds_db_cb cb;
};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cds_periodic *p = arg;
    p->tick(p, p->arg);
}

cds_periodic *cds_periodic_start(struct event_base *base, long every_ms, cds_periodic_fn tick,
                                 void *arg)
{
    cds_periodic *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->tick = tick;
    p->arg = arg;
    p->timer = event_new(base, -1, EV_PERSIST, on_timer, p);
    struct timeval tv = {every_ms / 1000, (every_ms % 1000) * 1000};
    if (!p->timer || event_add(p->timer, &tv) != 0) {
        if (p->timer) event_free(p->timer);
        free(p);
        return NULL;
    }
    return p;
}

static void on_answer(void *arg, PGresult *res)
{
    cds_periodic *p = arg;
    p->q = NULL;
    p->cb(p->arg, res);
}

int cds_periodic_query(cds_periodic *p, cds_db_pool *db, int stmt, int nparams,
                       const char *const *values, cds_db_cb cb)
{
    if (p->q) return 0;
    p->cb = cb;
    return cds_db_exec(db, stmt, nparams, values, on_answer, p, &p->q) == CDS_DB_OK ? 0 : -1;
}

void cds_periodic_stop(cds_periodic *p)
{
    if (!p) return;
    if (p->q) cds_db_cancel(p->q);
    event_free(p->timer);
    free(p);
}
