/* The worker pool behind core/workpool.h: a fixed set of threads taking jobs
 * from one bounded FIFO, and one completion queue per event_base that hands
 * finished jobs back to the loop thread that submitted them.
 *
 * How it works
 *   - Pending jobs sit in a doubly linked FIFO under the pool mutex (at most
 *     WP_QUEUE_CAP; beyond that cds_job_submit returns NULL and the caller
 *     answers 503). Doubly linked so a cancelled job leaves it in O(1).
 *   - A worker pops a job, runs work(arg) with no lock held, then appends the
 *     job to its base's completion queue (a mutex-protected list) and, when
 *     the list was empty, makes the queue's event active with event_active():
 *     the loop thread wakes and delivers every finished job in one callback,
 *     calling done(arg), or cleanup(arg) for a job cancelled meanwhile.
 *     event_active() from another thread needs libevent's locking, which is
 *     why evthread_use_pthreads() must run before the bases are created.
 *   - The completion queue of a base is made on the first submit from it and
 *     remembered in a thread-specific list of the submitting (= loop)
 *     thread, so finding it costs no lock.
 *   - Its event is only ever made active, never added: it does not keep a
 *     loop running by itself (the server's loops always have listeners or
 *     timers pending), and the base holds no reference to it while idle.
 *
 * Cancellation (from the submitting thread only, on a handle whose done or
 * cleanup has not run yet):
 *   queued   -> unlinked, cleanup(arg) at once on the caller's thread;
 *   running, or finished but not delivered -> marked; done is never called,
 *               cleanup(arg) runs on the loop thread when the job comes back.
 * Only the loop thread reads or writes the mark, so it needs no lock.
 *
 * Lifetimes, and the order the server must use
 *   1. evthread_use_pthreads(); cds_workpool_start(n); create the bases.
 *   2. Run the loops. When a loop ends, its thread cancels what it still
 *      tracks (closing its connections) and then EXITS. At thread exit a
 *      destructor detaches that thread's completion queues while their bases
 *      are still alive: the event is freed, jobs of that base still queued
 *      are dropped with cleanup, finished ones are cleaned up, and jobs still
 *      running will be cleaned up by cds_workpool_stop. From then on no
 *      worker touches that base, so it may be freed before the pool stops.
 *   3. event_base_free() the bases, then cds_workpool_stop() (core/server.c
 *      frees its bases inside cds_server_run; the application stops the pool
 *      after it returns). Stop wakes and joins the workers (a running work
 *      finishes first), then calls cleanup for every job not delivered and
 *      frees every completion queue.
 *   A base whose thread has NOT exited when the pool stops (a test running a
 *   base on its main thread) must still be alive at cds_workpool_stop: its
 *   event is freed there. The one unsupported order is a thread freeing a
 *   base it submitted from and then living on, or exiting, with the pool
 *   still running: the completion queue would outlive its base.
 *
 * Worker threads block every signal: they are created before cds_server_run
 * blocks SIGTERM/SIGINT for sigwait, and a termination signal delivered to a
 * worker would kill the process without a graceful shutdown. */
#include "core/workpool.h"
#include "core/log.h"
#include "core/metrics.h"

#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WP_MAX_THREADS 64
#define WP_QUEUE_CAP 4096

typedef struct compq compq;

struct cds_job {
    cds_job *prev, *next; /* pending FIFO (pool mutex), then completion list (queue mutex) */
    compq *cq;
    void (*work)(void *);
    void (*done)(void *);
    void (*cleanup)(void *);
    void *arg;
    int queued;    /* in the pending FIFO: pool mutex */
    int cancelled; /* submitting loop thread only */
    cds_log_ctx log_ctx; /* the submitter's request, for done()'s log lines */
};

struct compq {
    struct event_base *base;
    struct event *ev; /* made active by workers while not detached */
    pthread_mutex_t mu;
    cds_job *head, *tail; /* finished, not delivered yet: mu */
    int detached;         /* the loop thread has exited: mu */
    compq *tnext;         /* the submitting thread's list */
    compq *gnext;         /* every queue, for cds_workpool_stop: pool mutex */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, stopping;
    int nthreads;
    pthread_t tids[WP_MAX_THREADS];
    cds_job *qhead, *qtail;
    int qlen;
    compq *cqs;
    pthread_key_t key; /* valid while started: the thread's compq list */
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Pool mutex held. */
static void fifo_unlink(cds_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        P.qhead = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        P.qtail = j->prev;
    j->prev = j->next = NULL;
    j->queued = 0;
    P.qlen--;
}

static void drop(cds_job *j)
{
    if (j->cleanup) j->cleanup(j->arg);
    free(j);
}

static void drop_list(cds_job *j)
{
    while (j) {
        cds_job *next = j->next;
        drop(j);
        j = next;
    }
}

/* ---------------- loop side ---------------- */

static void on_completed(evutil_socket_t fd, short what, void *arg)
{
    compq *cq = arg;
    pthread_mutex_lock(&cq->mu);
    cds_job *j = cq->head;
    cq->head = cq->tail = NULL;
    pthread_mutex_unlock(&cq->mu);
    /* A done() may cancel a job further down this private list: the mark is
     * read when that job's turn comes. */
    while (j) {
        cds_job *next = j->next;
        if (j->cancelled) {
            if (j->cleanup) j->cleanup(j->arg);
        } else {
            cds_log_ctx prev;
            cds_log_ctx_set(&j->log_ctx, &prev);
            j->done(j->arg);
            cds_log_ctx_set(&prev, NULL);
        }
        free(j);
        j = next;
    }
}

/* Thread-exit destructor (see "Lifetimes" above): runs on the loop thread
 * after its loop ended, while its bases are still alive. */
static void thread_exit(void *list)
{
    for (compq *cq = list; cq; cq = cq->tnext) {
        cds_job *queued = NULL;
        pthread_mutex_lock(&P.mu);
        for (cds_job *j = P.qhead, *next; j; j = next) {
            next = j->next;
            if (j->cq != cq) continue;
            fifo_unlink(j);
            j->next = queued;
            queued = j;
        }
        pthread_mutex_unlock(&P.mu);
        pthread_mutex_lock(&cq->mu);
        cq->detached = 1;
        cds_job *finished = cq->head;
        cq->head = cq->tail = NULL;
        pthread_mutex_unlock(&cq->mu);
        event_free(cq->ev);
        cq->ev = NULL;
        drop_list(queued);
        drop_list(finished);
    }
}

/* The completion queue of `base`, made on first use by this thread. */
static compq *thread_cq(struct event_base *base)
{
    compq *list = pthread_getspecific(P.key);
    for (compq *cq = list; cq; cq = cq->tnext)
        if (cq->base == base) return cq;
    compq *cq = calloc(1, sizeof *cq);
    if (!cq) return NULL;
    cq->base = base;
    cq->ev = event_new(base, -1, 0, on_completed, cq);
    if (!cq->ev || pthread_mutex_init(&cq->mu, NULL) != 0) {
        if (cq->ev) event_free(cq->ev);
        free(cq);
        return NULL;
    }
    cq->tnext = list;
    if (pthread_setspecific(P.key, cq) != 0) {
        event_free(cq->ev);
        pthread_mutex_destroy(&cq->mu);
        free(cq);
        return NULL;
    }
    pthread_mutex_lock(&P.mu);
    cq->gnext = P.cqs;
    P.cqs = cq;
    pthread_mutex_unlock(&P.mu);
    return cq;
}

cds_job *cds_job_submit(struct event_base *base, void (*work)(void *), void (*done)(void *),
                        void (*cleanup)(void *), void *arg)
{
    if (!base || !work || !done) return NULL;
    pthread_mutex_lock(&P.mu);
    int up = P.started && !P.stopping;
    pthread_mutex_unlock(&P.mu);
    if (!up) return NULL; /* before start, the key does not exist */
    compq *cq = thread_cq(base);
    cds_job *j = cq ? calloc(1, sizeof *j) : NULL;
    if (!j) return NULL;
    j->cq = cq;
    j->work = work;
    j->done = done;
    j->cleanup = cleanup;
    j->arg = arg;
    cds_log_ctx_get(&j->log_ctx);
    pthread_mutex_lock(&P.mu);
    if (P.stopping || P.qlen >= WP_QUEUE_CAP) {
        pthread_mutex_unlock(&P.mu);
        free(j);
        return NULL;
    }
    j->queued = 1;
    j->prev = P.qtail;
    if (P.qtail)
        P.qtail->next = j;
    else
        P.qhead = j;
    P.qtail = j;
    P.qlen++;
    pthread_cond_signal(&P.cv);
    pthread_mutex_unlock(&P.mu);
    return j;
}

void cds_job_cancel(cds_job *j)
{
    if (!j) return;
    pthread_mutex_lock(&P.mu);
    if (j->queued) {
        fifo_unlink(j);
        pthread_mutex_unlock(&P.mu);
        drop(j);
        return;
    }
    pthread_mutex_unlock(&P.mu);
    /* Running or waiting in the completion list: the worker never reads the
     * mark, the loop thread reads it on delivery. */
    j->cancelled = 1;
}

/* ---------------- workers ---------------- */

static void complete(cds_job *j)
{
    compq *cq = j->cq;
    pthread_mutex_lock(&cq->mu);
    j->next = NULL;
    int was_empty = cq->head == NULL;
    if (cq->tail)
        cq->tail->next = j;
    else
        cq->head = j;
    cq->tail = j;
    /* One wake-up per batch; after detach the base may be gone: the job then
     * waits for cds_workpool_stop. */
    if (was_empty && !cq->detached) event_active(cq->ev, 0, 0);
    pthread_mutex_unlock(&cq->mu);
}

static void *worker_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (!P.qhead && !P.stopping)
            pthread_cond_wait(&P.cv, &P.mu);
        if (P.stopping) break; /* what is still queued is cleaned up by stop */
        cds_job *j = P.qhead;
        fifo_unlink(j);
        pthread_mutex_unlock(&P.mu);
        j->work(j->arg);
        complete(j);
        pthread_mutex_lock(&P.mu);
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

static void join_workers(void)
{
    pthread_mutex_lock(&P.mu);
    P.stopping = 1;
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
    for (int i = 0; i < P.nthreads; i++)
        pthread_join(P.tids[i], NULL);
    P.nthreads = 0;
}

/* Scrape-time gauges (the pool mutex is taken once per scrape, not per job). */
static int64_t m_queued(void)
{
    pthread_mutex_lock(&P.mu);
    int64_t n = P.qlen;
    pthread_mutex_unlock(&P.mu);
    return n;
}

static int64_t m_workers(void)
{
    pthread_mutex_lock(&P.mu);
    int64_t n = P.started ? P.nthreads : 0;
    pthread_mutex_unlock(&P.mu);
    return n;
}

int cds_workpool_start(int threads)
{
    cds_metrics_register("cds_workpool_jobs_queued",
                         "Jobs (file I/O, PDFs, images) waiting for a worker thread.", m_queued);
    cds_metrics_register("cds_workpool_threads", "Worker threads running.", m_workers);
    pthread_mutex_lock(&P.mu);
    int already = P.started;
    pthread_mutex_unlock(&P.mu);
    if (already) {
        cds_log(CDS_LOG_ERROR, "workpool", "cds_workpool_start called twice");
        return -1;
    }
    if (threads < 1 || threads > WP_MAX_THREADS) {
        cds_log(CDS_LOG_ERROR, "workpool", "worker threads must be 1..%d, not %d", WP_MAX_THREADS,
                threads);
        return -1;
    }
    if (pthread_key_create(&P.key, thread_exit) != 0) return -1;
    P.stopping = 0;
    P.nthreads = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* inherited by the workers */
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&P.tids[i], NULL, worker_main, NULL) != 0) break;
        char name[16];
        snprintf(name, sizeof name, "cds-work-%u", (unsigned)i % 100u); /* i < 64 */
        pthread_setname_np(P.tids[i], name);
        P.nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (P.nthreads != threads) {
        cds_log(CDS_LOG_ERROR, "workpool", "could only start %d of %d worker threads", P.nthreads,
                threads);
        join_workers();
        P.stopping = 0;
        pthread_key_delete(P.key);
        return -1;
    }
    pthread_mutex_lock(&P.mu);
    P.started = 1;
    pthread_mutex_unlock(&P.mu);
    return 0;
}

void cds_workpool_stop(void)
{
    pthread_mutex_lock(&P.mu);
    int up = P.started;
    pthread_mutex_unlock(&P.mu);
    if (!up) return;
    join_workers();
    /* No worker is left; loops have ended: nothing else touches the pool. */
    pthread_mutex_lock(&P.mu);
    cds_job *queued = P.qhead;
    P.qhead = P.qtail = NULL;
    P.qlen = 0;
    compq *cqs = P.cqs;
    P.cqs = NULL;
    pthread_mutex_unlock(&P.mu);
    for (cds_job *j = queued; j; j = j->next)
        j->queued = 0;
    drop_list(queued);
    while (cqs) {
        compq *next = cqs->gnext;
        pthread_mutex_lock(&cqs->mu);
        cds_job *finished = cqs->head;
        cqs->head = cqs->tail = NULL;
        pthread_mutex_unlock(&cqs->mu);
        if (cqs->ev) event_free(cqs->ev); /* thread alive: so is its base (see above) */
        drop_list(finished);
        pthread_mutex_destroy(&cqs->mu);
        free(cqs);
        cqs = next;
    }
    /* Threads still alive keep a stale list under the old key: deleting the
     * key means their exit destructor never sees the freed queues. */
    pthread_key_delete(P.key);
    pthread_mutex_lock(&P.mu);
    P.started = 0;
    P.stopping = 0;
    pthread_mutex_unlock(&P.mu);
}
