/* The outbox worker (core/outbox.h): per-thread claim loop, rows in flight,
 * the batch result writer, and the process's LISTEN wake-ups of one queue.
 *
 * The registry of the queue's workers (one per thread, by thread id) is the
 * only state shared between threads: the LISTEN thread reads it under the
 * lock to wake a worker, and a worker's `full` flag, which it reads without
 * the lock, says the worker has no room to claim. Everything else of a
 * worker belongs to its thread. */
#include "core/outbox.h"
#include "core/buf.h"
#include "core/db_listen.h"
#include "core/log.h"
#include "core/periodic.h"
#include "core/server.h"

#include <event2/event.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The text of one batch of results: record_batch of them, each a few KiB
 * at most (a rendered message, an error). */
#define RESULTS_MAX ((size_t)64 << 20)

struct cds_outbox {
    cds_outbox_def def;
    char node[128];
    char ev_claim[64], ev_record[64], ev_dispatch[64];
    char *conninfo;
    cds_listener *listener;
    pthread_mutex_t mu;
    cds_outbox_worker *reg[CDS_MAX_THREADS];
    unsigned next; /* wake_one's turn; only the LISTEN thread touches it */
    atomic_llong claimed;
};

struct cds_outbox_worker {
    cds_outbox *ob;
    cds_worker *cw;
    void *arg;
    cds_db_pool *db;
    int claiming, want, asked, stopping, inflight;
    atomic_int full; /* no room to claim: the LISTEN thread wakes another */
    cds_outbox_row *rows;
    cds_db_query *claim_q, *record_q;
    struct event *wake, *flush;
    cds_periodic *poll;
    cds_buf results; /* waiting to be recorded: "[{..},{..}" (the ']' at the flush) */
    int nresults;
    int flush_armed, recording;
};

long cds_outbox_backoff_ms(int attempt, long base_ms, long max_ms, long hint_ms)
{
    long d = base_ms;
    for (int i = 1; i < attempt && d < max_ms; i++) d *= 2;
    if (d > max_ms) d = max_ms;
    unsigned int rnd = 0;
    RAND_bytes((unsigned char *)&rnd, sizeof rnd);
    long half = d / 2;
    d = half + (half > 0 ? (long)(rnd % (unsigned long)(half + 1)) : 0);
    return hint_ms > d ? hint_ms : d;
}

/* ---- results ---- */

static void flush(cds_outbox_worker *ow);

static void on_recorded(void *arg, PGresult *res)
{
    cds_outbox_worker *ow = arg;
    ow->recording = 0;
    ow->record_q = NULL;
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        cds_log(CDS_LOG_WARN, ow->ob->ev_record,
                "results not recorded (%s); the sweeper will hand the rows back",
                res ? PQresultErrorMessage(res) : "connection lost");
    if (!ow->stopping && ow->nresults > 0) flush(ow);
}

static void flush(cds_outbox_worker *ow)
{
    if (ow->recording || ow->nresults == 0) return;
    int bad = cds_buf_addc(&ow->results, ']') != CDS_BUF_OK;
    if (!bad) {
        const char *p[1] = {cds_buf_str(&ow->results)};
        if (cds_db_exec(ow->db, ow->ob->def.record_stmt, 1, p, on_recorded, ow,
                        &ow->record_q) == CDS_DB_OK)
            ow->recording = 1;
        else
            cds_log(CDS_LOG_WARN, ow->ob->ev_record,
                    "database busy or down; the sweeper will hand the rows back");
    } else {
        cds_log(CDS_LOG_WARN, ow->ob->ev_record,
                "%d results could not be written (out of memory); the sweeper will hand the "
                "rows back", ow->nresults);
    }
    cds_buf_reset(&ow->results);
    ow->nresults = 0;
}

static void on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cds_outbox_worker *ow = arg;
    ow->flush_armed = 0;
    flush(ow);
}

void cds_outbox_record(cds_outbox_worker *ow, json_t *result)
{
    if (!result) return;
    char *txt = json_dumps(result, JSON_COMPACT);
    json_decref(result);
    if (!txt) return;
    cds_outbox_record_text(ow, txt, strlen(txt));
    free(txt);
}

void cds_outbox_record_text(cds_outbox_worker *ow, const char *json, size_t len)
{
    if (!json || len == 0) return;
    cds_buf_addc(&ow->results, ow->nresults ? ',' : '[');
    cds_buf_add(&ow->results, json, len);
    ow->nresults++;
    if (ow->stopping) return;
    if (ow->nresults >= ow->ob->def.record_batch) {
        flush(ow);
    } else if (!ow->flush_armed) {
        int ms = ow->ob->def.record_delay_ms;
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(ow->flush, &tv);
        ow->flush_armed = 1;
    }
}

/* ---- claims ---- */

static void claim(cds_outbox_worker *ow);

static void unlink_row(cds_outbox_row *r)
{
    cds_outbox_worker *ow = r->ow;
    if (r->prev) r->prev->next = r->next;
    else ow->rows = r->next;
    if (r->next) r->next->prev = r->prev;
    ow->inflight--;
}

void cds_outbox_done(cds_outbox_row *r)
{
    cds_outbox_worker *ow = r->ow;
    const cds_outbox_def *d = &ow->ob->def;
    unlink_row(r);
    d->ops->release(r);
    if (ow->stopping) return;
    if (ow->want && ow->inflight <= d->max_inflight - d->refill) claim(ow);
}

static void on_claimed(void *arg, PGresult *res)
{
    cds_outbox_worker *ow = arg;
    const cds_outbox_def *d = &ow->ob->def;
    ow->claiming = 0;
    ow->claim_q = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_log(CDS_LOG_WARN, ow->ob->ev_claim, "%s",
                res ? PQresultErrorMessage(res) : "connection lost");
        return; /* the poll timer tries again */
    }
    int n = PQntuples(res);
    ow->ob->claimed += n;
    for (int i = 0; i < n && !ow->stopping; i++) {
        cds_outbox_row *r = d->ops->take(ow, res, i);
        if (!r) break; /* left claimed: handed back after the timeout */
        r->ow = ow;
        r->prev = NULL;
        r->next = ow->rows;
        if (ow->rows) ow->rows->prev = r;
        ow->rows = r;
        ow->inflight++;
        d->ops->handle(r, res, i);
    }
    /* a full batch: there may be more; with drain, any rows (an empty
     * claim ends it) */
    if (n > 0 && (n >= ow->asked || d->drain)) ow->want = 1;
    if (ow->want) claim(ow);
}

static void claim(cds_outbox_worker *ow)
{
    const cds_outbox_def *d = &ow->ob->def;
    if (ow->stopping) return;
    if (ow->claiming) {
        ow->want = 1;
        return;
    }
    int room = d->max_inflight - ow->inflight;
    int n = room < d->batch ? room : d->batch;
    if (n <= 0 || (n < d->batch / 4 && n < room)) {
        ow->want = 1;
        atomic_store_explicit(&ow->full, 1, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&ow->full, 0, memory_order_relaxed);
    char limit[16];
    snprintf(limit, sizeof limit, "%d", n);
    const char *p[2 + CDS_OUTBOX_CLAIM_ARGS] = {ow->ob->node, limit};
    for (int i = 0; i < d->nclaim_args; i++) p[2 + i] = d->claim_args[i];
    ow->want = 0;
    ow->asked = n; /* a full answer means more may be due */
    if (cds_db_exec(ow->db, d->claim_stmt, 2 + d->nclaim_args, p, on_claimed, ow, &ow->claim_q) ==
        CDS_DB_OK)
        ow->claiming = 1;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    claim(arg);
}

static void on_poll(cds_periodic *p, void *arg)
{
    (void)p;
    claim(arg);
}

/* ---- LISTEN ---- */

static void wake_all(cds_outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    for (int i = 0; i < CDS_MAX_THREADS; i++)
        if (ob->reg[i]) event_active(ob->reg[i]->wake, EV_READ, 0);
    pthread_mutex_unlock(&ob->mu);
}

/* One NOTIFY wakes one thread, in turn, skipping threads with no room to
 * claim: a change queues a handful of rows, which one claim takes, and every
 * other thread woken would only have made an empty claim (a database round
 * trip each, one per thread and change). A thread that finds a full batch
 * claims again at once (a `drain` queue: any rows), and the poll timer
 * covers a thread that misses its turn. */
static void wake_one(cds_outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    int pick = -1;
    for (int k = 0; k < CDS_MAX_THREADS; k++) {
        unsigned i = (ob->next + (unsigned)k) % CDS_MAX_THREADS;
        if (!ob->reg[i]) continue;
        if (pick < 0) pick = (int)i;
        if (!atomic_load_explicit(&ob->reg[i]->full, memory_order_relaxed)) {
            pick = (int)i;
            break;
        }
    }
    if (pick >= 0) {
        event_active(ob->reg[pick]->wake, EV_READ, 0);
        ob->next = (unsigned)pick + 1;
    }
    pthread_mutex_unlock(&ob->mu);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    (void)channel;
    (void)payload;
    cds_outbox *ob = arg;
    if (ob->def.wake_one) wake_one(ob);
    else wake_all(ob);
}

static void on_listen_connect(PGconn *conn, void *arg)
{
    (void)conn;
    wake_all(arg); /* whatever was queued while we were not listening */
}

/* ---- life ---- */

cds_outbox *cds_outbox_new(const cds_outbox_def *def, const char *conninfo)
{
    if (!conninfo || !def->ops || !def->ops->take || !def->ops->handle ||
        !def->ops->cancel || !def->ops->release ||
        def->nclaim_args < 0 || def->nclaim_args > CDS_OUTBOX_CLAIM_ARGS || def->batch < 1 ||
        def->max_inflight < 1 || def->poll_ms < 1)
        return NULL;
    cds_outbox *ob = calloc(1, sizeof *ob);
    if (!ob) return NULL;
    ob->def = *def;
    if (ob->def.refill < 1) ob->def.refill = 1;
    if (ob->def.record_batch < 1) ob->def.record_batch = 1;
    pthread_mutex_init(&ob->mu, NULL);
    snprintf(ob->ev_claim, sizeof ob->ev_claim, "%s_claim_failed", def->name);
    snprintf(ob->ev_record, sizeof ob->ev_record, "%s_record_failed", def->name);
    snprintf(ob->ev_dispatch, sizeof ob->ev_dispatch, "%s_dispatch", def->name);
    if (def->node && *def->node) {
        snprintf(ob->node, sizeof ob->node, "%s", def->node);
    } else {
        char host[64] = "";
        gethostname(host, sizeof host - 1);
        snprintf(ob->node, sizeof ob->node, "%s:%ld", host, (long)getpid());
    }
    ob->conninfo = strdup(conninfo);
    const char *channels[] = {def->channel};
    if (ob->conninfo)
        ob->listener = cds_listener_start(conninfo, channels, 1, on_notify, on_listen_connect, ob);
    if (!ob->listener) {
        cds_outbox_free(ob);
        return NULL;
    }
    return ob;
}

void cds_outbox_free(cds_outbox *ob)
{
    if (!ob) return;
    if (ob->listener) cds_listener_stop(ob->listener);
    pthread_mutex_destroy(&ob->mu);
    free(ob->conninfo);
    free(ob);
}

const char *cds_outbox_node(const cds_outbox *ob)
{
    return ob->node;
}

int64_t cds_outbox_claimed(const cds_outbox *ob)
{
    return ob ? (int64_t)ob->claimed : 0;
}

void *cds_outbox_worker_arg(const cds_outbox_worker *ow)
{
    return ow->arg;
}

cds_db_pool *cds_outbox_db(const cds_outbox_worker *ow)
{
    return ow->db;
}

int cds_outbox_stopping(const cds_outbox_worker *ow)
{
    return ow->stopping;
}

cds_outbox_worker *cds_outbox_worker_start(cds_outbox *ob, cds_worker *cw, void *arg)
{
    if (!ob || !cw->db || cw->id < 0 || cw->id >= CDS_MAX_THREADS) return NULL;
    cds_outbox_worker *ow = calloc(1, sizeof *ow);
    if (!ow) return NULL;
    ow->ob = ob;
    ow->cw = cw;
    ow->arg = arg;
    ow->db = cw->db;
    if (ob->def.own_conn) {
        /* Claims and results queued behind the API's queries in the thread's
         * pipeline wait for them: under a burst of API traffic a row's claim
         * and record each took hundreds of ms. They are few and short, so one
         * pipelined connection per thread carries them. */
        cds_db_config dc = {.conninfo = ob->conninfo, .conns = 1};
        ow->db = cds_db_pool_new(cw->base, &dc);
        if (!ow->db) {
            cds_log(CDS_LOG_WARN, ob->ev_dispatch,
                    "thread %d: no connection of its own; claims share the API pool", cw->id);
            ow->db = cw->db;
        }
    }
    cds_buf_init(&ow->results, RESULTS_MAX);
    ow->wake = event_new(cw->base, -1, 0, on_wake, ow);
    ow->flush = evtimer_new(cw->base, on_flush_timer, ow);
    ow->poll = cds_periodic_start(cw->base, ob->def.poll_ms, on_poll, ow);
    if (!ow->wake || !ow->flush || !ow->poll) {
        cds_outbox_worker_stop(ow);
        return NULL;
    }
    pthread_mutex_lock(&ob->mu);
    ob->reg[cw->id] = ow;
    pthread_mutex_unlock(&ob->mu);
    event_active(ow->wake, EV_READ, 0); /* rows may be waiting from before we started */
    return ow;
}

void cds_outbox_worker_stop(cds_outbox_worker *ow)
{
    if (!ow) return;
    cds_outbox *ob = ow->ob;
    pthread_mutex_lock(&ob->mu);
    if (ob->reg[ow->cw->id] == ow) ob->reg[ow->cw->id] = NULL;
    pthread_mutex_unlock(&ob->mu);
    ow->stopping = 1;
    /* Work and queries still in flight are cancelled; their rows stay
     * claimed and are handed back to be done again (same idempotency key). */
    while (ow->rows) {
        cds_outbox_row *r = ow->rows;
        ob->def.ops->cancel(r);
        unlink_row(r);
        ob->def.ops->release(r);
    }
    if (ow->claim_q) cds_db_cancel(ow->claim_q);
    if (ow->record_q) cds_db_cancel(ow->record_q);
    if (ow->db && ow->db != ow->cw->db) cds_db_pool_free(ow->db);
    cds_periodic_stop(ow->poll);
    if (ow->wake) event_free(ow->wake);
    if (ow->flush) event_free(ow->flush);
    cds_buf_free(&ow->results);
    free(ow);
}
