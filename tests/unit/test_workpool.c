/* The worker pool (core/workpool.c) with real event loops on real threads:
 * many jobs from two loop threads, cancelled at every stage (queued, running,
 * finished but not delivered), exact done/cleanup counts and the thread each
 * runs on, the bounded queue (NULL when full), the server's shutdown order
 * (loop threads exit, bases freed, then the pool stops) and a stop with jobs
 * still queued and running. Every job owns a malloc'd payload freed only by
 * its done or cleanup, so a lost job is also a leak under ASan. */
#include "core/workpool.h"
#include "tests/lib/t.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_THREADS 4
#define QUEUE_CAP 4096

enum { K_PLAIN, K_CANCEL_AT_ONCE, K_CANCEL_RUNNING, K_CANCEL_FINISHED, K_GATED, K_QUEUED_CANCEL };

typedef struct loop loop;

typedef struct tjob {
    int kind;
    loop *L;
    cds_job *h;
    int *payload;
    atomic_int work_runs, started, finished, release;
    atomic_int done_runs, cleanup_runs;
    atomic_int wrong_thread;      /* done/cleanup not on the submitting thread */
    atomic_int cleanup_in_cancel; /* cleanup ran inside cds_job_cancel */
} tjob;

struct loop {
    struct event_base *base;
    pthread_t tid;
    int check_thread;
    int in_cancel;
    tjob *jobs;
    int njobs;
    int phase;
    struct event *tick;
};

static atomic_int gate_open;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void work(void *arg)
{
    tjob *j = arg;
    atomic_fetch_add(&j->work_runs, 1);
    atomic_store(&j->started, 1);
    switch (j->kind) {
    case K_CANCEL_RUNNING:
        while (!atomic_load(&j->release))
            usleep(50);
        break;
    case K_GATED:
        while (!atomic_load(&gate_open))
            usleep(100);
        break;
    default: {
        /* A little CPU so jobs overlap. */
        unsigned x = (unsigned)j->payload[0];
        for (int i = 0; i < 2000; i++)
            x = x * 1103515245u + 12345u;
        j->payload[1] = (int)(x & 0xffff);
        break;
    }
    }
    atomic_store(&j->finished, 1);
}

static void job_free_payload(tjob *j)
{
    free(j->payload);
    j->payload = NULL;
}

static void done(void *arg)
{
    tjob *j = arg;
    if (j->L && j->L->check_thread && !pthread_equal(pthread_self(), j->L->tid))
        atomic_fetch_add(&j->wrong_thread, 1);
    atomic_fetch_add(&j->done_runs, 1);
    job_free_payload(j);
}

static void cleanup(void *arg)
{
    tjob *j = arg;
    if (j->L && j->L->check_thread && !pthread_equal(pthread_self(), j->L->tid))
        atomic_fetch_add(&j->wrong_thread, 1);
    if (j->L && j->L->in_cancel) atomic_fetch_add(&j->cleanup_in_cancel, 1);
    atomic_fetch_add(&j->cleanup_runs, 1);
    job_free_payload(j);
}

static int submit(loop *L, tjob *j, int kind)
{
    j->kind = kind;
    j->L = L;
    j->payload = malloc(2 * sizeof *j->payload);
    j->payload[0] = (int)(j - L->jobs);
    j->h = cds_job_submit(L->base, work, done, cleanup, j);
    if (!j->h) job_free_payload(j);
    return j->h ? 0 : -1;
}

static void cancel(loop *L, tjob *j)
{
    L->in_cancel = 1;
    cds_job_cancel(j->h);
    L->in_cancel = 0;
}

static int accounted(const loop *L)
{
    int n = 0;
    for (int i = 0; i < L->njobs; i++)
        n += atomic_load(&L->jobs[i].done_runs) + atomic_load(&L->jobs[i].cleanup_runs);
    return n;
}

/* ---------------- two loop threads, every cancellation stage ---------------- */

#define PER_LOOP 1200
#define FINISHED_BATCH 24

/* Periodic: cancels running K_CANCEL_RUNNING jobs then lets them go; ends the
 * loop once every job has come back. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    loop *L = arg;
    for (int i = 0; i < L->njobs; i++) {
        tjob *j = &L->jobs[i];
        if (j->kind == K_CANCEL_RUNNING && atomic_load(&j->started) && !atomic_load(&j->release)) {
            cancel(L, j);
            atomic_store(&j->release, 1);
        }
    }
    if (accounted(L) == L->njobs) event_base_loopbreak(L->base);
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
    loop *L = arg;
    int base_n = PER_LOOP;
    /* Stage "finished, not delivered": this callback holds the loop while
     * the jobs run and land in the completion list, then cancels them. */
    for (int i = 0; i < FINISHED_BATCH; i++)
        submit(L, &L->jobs[base_n + i], K_CANCEL_FINISHED);
    for (int spins = 0; spins < 20000; spins++) {
        int all = 1;
        for (int i = 0; i < FINISHED_BATCH; i++)
            all &= atomic_load(&L->jobs[base_n + i].finished);
        if (all) break;
        usleep(500);
    }
    sleep_ms(30); /* lets the workers append them to the completion list */
    for (int i = 0; i < FINISHED_BATCH; i++)
        cancel(L, &L->jobs[base_n + i]);

    /* Plain jobs, jobs cancelled at once (mostly still queued) and jobs
     * cancelled while running (on_tick). */
    for (int i = 0; i < PER_LOOP; i++) {
        tjob *j = &L->jobs[i];
        int kind = i % 3 == 0 ? K_PLAIN : i % 3 == 1 ? K_CANCEL_AT_ONCE : K_CANCEL_RUNNING;
        if (i % 50 == 49) kind = K_CANCEL_RUNNING;
        if (submit(L, j, kind) != 0) {
            fprintf(stderr, "submit %d failed\n", i);
            continue;
        }
        if (kind == K_CANCEL_AT_ONCE) cancel(L, j);
    }
    struct timeval tv = {0, 1000};
    L->tick = event_new(L->base, -1, EV_PERSIST, on_tick, L);
    event_add(L->tick, &tv);
}

static void *loop_main(void *arg)
{
    loop *L = arg;
    L->tid = pthread_self();
    L->check_thread = 1;
    struct event *start = event_new(L->base, -1, 0, on_start, L);
    event_active(start, 0, 0);
    event_base_dispatch(L->base);
    event_free(start);
    if (L->tick) event_free(L->tick);
    return NULL;
}

static void test_two_loops(void)
{
    loop L[2];
    pthread_t th[2];
    memset(L, 0, sizeof L);
    for (int k = 0; k < 2; k++) {
        L[k].base = event_base_new();
        L[k].njobs = PER_LOOP + FINISHED_BATCH;
        L[k].jobs = calloc((size_t)L[k].njobs, sizeof *L[k].jobs);
        pthread_create(&th[k], NULL, loop_main, &L[k]);
    }
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++) {
        int bad_counts = 0, bad_thread = 0, bad_work = 0, sync_cleanup_bad = 0;
        int plain = 0, at_once = 0, running = 0, finished = 0, at_once_sync = 0;
        for (int i = 0; i < L[k].njobs; i++) {
            tjob *j = &L[k].jobs[i];
            int d = atomic_load(&j->done_runs), c = atomic_load(&j->cleanup_runs);
            bad_thread += atomic_load(&j->wrong_thread);
            if (atomic_load(&j->work_runs) > 1) bad_work++;
            switch (j->kind) {
            case K_PLAIN:
                plain++;
                if (d != 1 || c != 0 || atomic_load(&j->work_runs) != 1) bad_counts++;
                break;
            case K_CANCEL_AT_ONCE:
                at_once++;
                if (d != 0 || c != 1) bad_counts++;
                /* Cleanup inside cancel exactly when work never ran. */
                if (atomic_load(&j->cleanup_in_cancel) != (atomic_load(&j->work_runs) == 0))
                    sync_cleanup_bad++;
                at_once_sync += atomic_load(&j->cleanup_in_cancel);
                break;
            case K_CANCEL_RUNNING:
            case K_CANCEL_FINISHED:
                if (j->kind == K_CANCEL_RUNNING)
                    running++;
                else
                    finished++;
                if (d != 0 || c != 1 || atomic_load(&j->work_runs) != 1) bad_counts++;
                if (atomic_load(&j->cleanup_in_cancel)) sync_cleanup_bad++;
                break;
            }
            if (j->payload) bad_counts++;
        }
        CHECK_INT(bad_counts, 0);
        CHECK_INT(bad_thread, 0);
        CHECK_INT(bad_work, 0);
        CHECK_INT(sync_cleanup_bad, 0);
        CHECK_INT(plain + at_once + running + finished, PER_LOOP + FINISHED_BATCH);
        CHECK_INT(finished, FINISHED_BATCH);
        CHECK(running > 300 && plain > 300 && at_once > 300);
        /* Most jobs cancelled right after submit were still queued. */
        CHECK(at_once_sync > 0);
        event_base_free(L[k].base);
        free(L[k].jobs);
    }
}

/* ---------------- queued cancel, deterministic; the bound ---------------- */

static int run_until(loop *L, int want, int max_ms)
{
    for (int t = 0; t < max_ms && accounted(L) < want; t++) {
        event_base_loop(L->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    return accounted(L);
}

static int wait_started(tjob *jobs, int n, int max_ms)
{
    for (int t = 0; t < max_ms; t++) {
        int all = 1;
        for (int i = 0; i < n; i++)
            all &= atomic_load(&jobs[i].started);
        if (all) return 0;
        usleep(1000);
    }
    return -1;
}

/* Bases dispatched on this thread live until the pool has stopped (see the
 * lifetimes in core/workpool.c). */
static struct event_base *main_base;

static void test_queued_and_full(void)
{
    loop L;
    memset(&L, 0, sizeof L);
    L.base = main_base;
    L.tid = pthread_self();
    L.check_thread = 1;
    L.njobs = POOL_THREADS + QUEUE_CAP + 1;
    L.jobs = calloc((size_t)L.njobs, sizeof *L.jobs);
    atomic_store(&gate_open, 0);
    /* Occupy every worker. */
    for (int i = 0; i < POOL_THREADS; i++)
        CHECK_INT(submit(&L, &L.jobs[i], K_GATED), 0);
    CHECK_INT(wait_started(L.jobs, POOL_THREADS, 5000), 0);
    /* Now the queue holds exactly what is submitted. */
    int n = 0;
    while (POOL_THREADS + n < L.njobs &&
           submit(&L, &L.jobs[POOL_THREADS + n], K_QUEUED_CANCEL) == 0)
        n++;
    CHECK_INT(n, QUEUE_CAP);
    L.njobs = POOL_THREADS + n; /* the refused one never existed */
    /* Cancel every other queued job: cleanup at once, inside cancel. */
    int sync = 0;
    for (int i = POOL_THREADS; i < L.njobs; i += 2) {
        cancel(&L, &L.jobs[i]);
        sync += atomic_load(&L.jobs[i].cleanup_runs) == 1 &&
                atomic_load(&L.jobs[i].cleanup_in_cancel) == 1 &&
                atomic_load(&L.jobs[i].work_runs) == 0;
    }
    CHECK_INT(sync, QUEUE_CAP / 2);
    /* Room again: one more fits. */
    tjob extra = {0};
    extra.L = &L;
    extra.payload = malloc(2 * sizeof(int));
    extra.payload[0] = 0;
    extra.kind = K_PLAIN;
    extra.h = cds_job_submit(L.base, work, done, cleanup, &extra);
    CHECK(extra.h != NULL);
    atomic_store(&gate_open, 1);
    CHECK_INT(run_until(&L, L.njobs, 20000), L.njobs);
    for (int t = 0; t < 5000 && !atomic_load(&extra.done_runs); t++) {
        event_base_loop(L.base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    CHECK_INT(atomic_load(&extra.done_runs), 1);
    int bad = 0;
    for (int i = 0; i < L.njobs; i++) {
        tjob *j = &L.jobs[i];
        int cancelled = i >= POOL_THREADS && (i - POOL_THREADS) % 2 == 0;
        if (atomic_load(&j->done_runs) != !cancelled ||
            atomic_load(&j->cleanup_runs) != cancelled ||
            atomic_load(&j->work_runs) != !cancelled || atomic_load(&j->wrong_thread))
            bad++;
    }
    CHECK_INT(bad, 0);
    free(L.jobs);
}

/* ---------------- shutdown: the server's order, and a stop with work pending ---------------- */

#define EXITING_JOBS 50
#define MAIN_JOBS 24

static void on_submit_and_leave(evutil_socket_t fd, short what, void *arg)
{
    loop *L = arg;
    for (int i = 0; i < L->njobs; i++)
        submit(L, &L->jobs[i], K_GATED);
    /* Wait until the workers hold some, then end the loop without cancelling. */
    for (int t = 0; t < 5000; t++) {
        int running = 0;
        for (int i = 0; i < L->njobs; i++)
            running += atomic_load(&L->jobs[i].started);
        if (running == POOL_THREADS) break;
        usleep(1000);
    }
    event_base_loopbreak(L->base);
}

static void *exiting_loop_main(void *arg)
{
    loop *L = arg;
    L->tid = pthread_self();
    struct event *ev = event_new(L->base, -1, 0, on_submit_and_leave, L);
    event_active(ev, 0, 0);
    event_base_dispatch(L->base);
    event_free(ev);
    return NULL; /* the pool's thread-exit hook detaches this base here */
}

static void *open_gate_later(void *arg)
{
    (void)arg;
    sleep_ms(100);
    atomic_store(&gate_open, 1);
    return NULL;
}

static void test_shutdown(void)
{
    atomic_store(&gate_open, 0);
    /* A loop thread leaves with jobs queued and running, as a server thread
     * does at shutdown; its base is freed before the pool stops. */
    loop T;
    memset(&T, 0, sizeof T);
    T.base = event_base_new();
    T.njobs = EXITING_JOBS;
    T.jobs = calloc(EXITING_JOBS, sizeof *T.jobs);
    pthread_t th;
    pthread_create(&th, NULL, exiting_loop_main, &T);
    pthread_join(th, NULL);
    int queued_dropped = 0, running = 0;
    for (int i = 0; i < EXITING_JOBS; i++) {
        queued_dropped += atomic_load(&T.jobs[i].cleanup_runs);
        running += atomic_load(&T.jobs[i].started);
    }
    /* Still-queued jobs were dropped with cleanup when the thread exited. */
    CHECK_INT(running, POOL_THREADS);
    CHECK_INT(queued_dropped, EXITING_JOBS - POOL_THREADS);
    event_base_free(T.base); /* before the pool stops, jobs still running */

    /* A base on this (living) thread, never dispatched: its jobs stay queued
     * or undelivered until the stop. */
    loop M;
    memset(&M, 0, sizeof M);
    M.base = main_base;
    M.njobs = MAIN_JOBS;
    M.jobs = calloc(MAIN_JOBS, sizeof *M.jobs);
    for (int i = 0; i < MAIN_JOBS; i++)
        CHECK_INT(submit(&M, &M.jobs[i], i % 2 ? K_GATED : K_PLAIN), 0);

    pthread_t opener;
    pthread_create(&opener, NULL, open_gate_later, NULL);
    cds_workpool_stop(); /* joins workers once the gate opens */
    pthread_join(opener, NULL);

    int bad = 0;
    for (int i = 0; i < EXITING_JOBS; i++)
        if (atomic_load(&T.jobs[i].done_runs) != 0 || atomic_load(&T.jobs[i].cleanup_runs) != 1 ||
            T.jobs[i].payload)
            bad++;
    for (int i = 0; i < MAIN_JOBS; i++)
        if (atomic_load(&M.jobs[i].done_runs) != 0 || atomic_load(&M.jobs[i].cleanup_runs) != 1 ||
            M.jobs[i].payload)
            bad++;
    CHECK_INT(bad, 0);
    event_base_free(main_base);
    free(T.jobs);
    free(M.jobs);

    /* Stopped: nothing is accepted; stopping again is harmless. */
    struct event_base *b = event_base_new();
    tjob j = {0};
    CHECK(cds_job_submit(b, work, done, cleanup, &j) == NULL);
    cds_workpool_stop();
    event_base_free(b);
}

int main(void)
{
    evthread_use_pthreads();
    struct event_base *b = event_base_new();
    tjob j = {0};
    CHECK(cds_job_submit(b, work, done, cleanup, &j) == NULL); /* not started */
    event_base_free(b);
    CHECK_INT(cds_workpool_start(0), -1);
    CHECK_INT(cds_workpool_start(POOL_THREADS), 0);
    CHECK_INT(cds_workpool_start(POOL_THREADS), -1); /* twice is an error */
    test_two_loops();
    main_base = event_base_new();
    test_queued_and_full();
    test_shutdown();
    /* The pool can start again after a stop. */
    CHECK_INT(cds_workpool_start(2), 0);
    cds_workpool_stop();
    return t_done();
}
