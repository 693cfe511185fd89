/* Integration test of the asynchronous PostgreSQL pool (core/db.c) against a
 * real PostgreSQL (the private test cluster named by the PG* environment).
 *
 * Each case builds a pool on a fresh event_base and runs the loop until the
 * case's condition holds (with a deadline), checking: pipelined answers in
 * order, error isolation between neighbours, queue limits, cancellation,
 * recovery after the server kills our backends, behaviour with no database
 * at all, that freeing a busy pool answers everything and leaks nothing
 * (run under ASan/LSan), and the batches of read-only statements: answers
 * right and in order, a failing read not taking its batch down with it, a
 * write never sharing a transaction with reads; and failover: a server that
 * answers a write "read-only transaction" (a standby, 25006) is left for
 * another connection, the write answered NULL (outcome unknown); binary
 * parameters (cds_db_exec_bin) arrive byte for byte. */
#include "core/db.h"
#include "tests/lib/harness.h"
#include "tests/lib/loop.h"
#include "tests/lib/t.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int S_ECHO, S_DIV, S_SLEEP, S_ISNULL, S_BIN, R_ECHO, R_DIV, W_PUT;
static struct event_base *base;
static const char *conninfo;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- running the loop until something holds ---- */

typedef bool (*pred_fn)(void *ctx);

/* Runs the loop until pred(ctx) or timeout_ms; returns whether pred held. */
static bool run_until(pred_fn pred, void *ctx, int timeout_ms)
{
    return tl_run_until(base, pred, ctx, timeout_ms);
}

static bool never(void *ctx)
{
    (void)ctx;
    return false;
}

static void run_for(int ms)
{
    run_until(never, NULL, ms);
}

static bool pool_is_ready(void *ctx)
{
    return cds_db_ready(ctx) == 1;
}

/* ---- a callback recording what it got ---- */

typedef struct {
    int calls;
    bool got_null;
    ExecStatusType status;
    char value[64];
    char sqlstate[8];
    int order; /* global completion sequence number */
} slot;

static int seq;

static void on_result(void *arg, PGresult *res)
{
    slot *s = arg;
    s->calls++;
    s->order = seq++;
    if (!res) {
        s->got_null = true;
        return;
    }
    s->status = PQresultStatus(res);
    if (s->status == PGRES_TUPLES_OK && PQntuples(res) > 0)
        snprintf(s->value, sizeof s->value, "%s", PQgetvalue(res, 0, 0));
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (st) snprintf(s->sqlstate, sizeof s->sqlstate, "%s", st);
}

typedef struct {
    slot *slots;
    int n;
} slots;

static bool all_called(void *ctx)
{
    slots *ss = ctx;
    for (int i = 0; i < ss->n; i++)
        if (ss->slots[i].calls == 0) return false;
    return true;
}

static cds_db_pool *new_pool(const char *info, int conns, int inflight, int queue)
{
    cds_db_config cfg = {
        .conninfo = info, .conns = conns, .max_inflight = inflight, .max_queue = queue};
    return cds_db_pool_new(base, &cfg);
}

static int exec1(cds_db_pool *p, int stmt, const char *v, slot *s, cds_db_query **out)
{
    const char *vals[1] = {v};
    return cds_db_exec(p, stmt, 1, vals, on_result, s, out);
}

static int exec_sleep(cds_db_pool *p, const char *secs, const char *v, slot *s, cds_db_query **out)
{
    const char *vals[2] = {secs, v};
    return cds_db_exec(p, S_SLEEP, 2, vals, on_result, s, out);
}

/* ---- cases ---- */

static void test_pipelined(int conns)
{
    enum { N = 600 };
    cds_db_pool *p = new_pool(conninfo, conns, 16, N);
    CHECK(p != NULL);
    CHECK(run_until(pool_is_ready, p, 5000));
    static slot s[N];
    memset(s, 0, sizeof s);
    seq = 0;
    int ok = 0;
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        if (exec1(p, S_ECHO, v, &s[i], NULL) == CDS_DB_OK) ok++;
    }
    CHECK_INT(ok, N);
    /* Parameters were copied: the buffer above is gone. */
    CHECK(cds_db_gauge_inflight() + cds_db_gauge_waiting() == N);
    slots ss = {s, N};
    CHECK(run_until(all_called, &ss, 10000));
    int right = 0, in_order = 0, once = 0;
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        if (s[i].status == PGRES_TUPLES_OK && strcmp(s[i].value, v) == 0) right++;
        if (s[i].order == i) in_order++;
        if (s[i].calls == 1) once++;
    }
    CHECK_INT(right, N);
    CHECK_INT(once, N);
    /* One connection answers strictly in the order queries were issued. */
    if (conns == 1) CHECK_INT(in_order, N);
    CHECK_INT(cds_db_gauge_inflight(), 0);
    CHECK_INT(cds_db_gauge_waiting(), 0);
    cds_db_pool_free(p);
}

static void test_error_isolated(void)
{
    cds_db_pool *p = new_pool(conninfo, 1, 8, 16);
    CHECK(run_until(pool_is_ready, p, 5000));
    slot s[3] = {0};
    CHECK_INT(exec1(p, S_DIV, "1", &s[0], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, S_DIV, "0", &s[1], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, S_DIV, "2", &s[2], NULL), CDS_DB_OK);
    slots ss = {s, 3};
    CHECK(run_until(all_called, &ss, 5000));
    CHECK_INT(s[0].status, PGRES_TUPLES_OK);
    CHECK_STR(s[0].value, "1");
    CHECK_INT(s[1].status, PGRES_FATAL_ERROR);
    CHECK_STR(s[1].sqlstate, "22012"); /* division_by_zero */
    CHECK_INT(s[2].status, PGRES_TUPLES_OK);
    CHECK_STR(s[2].value, "0"); /* 1 / 2 in integers */
    /* SQL NULL parameters travel as NULL. */
    slot n = {0};
    const char *nullv[1] = {NULL};
    CHECK_INT(cds_db_exec(p, S_ISNULL, 1, nullv, on_result, &n, NULL), CDS_DB_OK);
    slots sn = {&n, 1};
    CHECK(run_until(all_called, &sn, 5000));
    CHECK_STR(n.value, "t");
    /* Bad statement id or parameter count. */
    CHECK_INT(exec1(p, 999, "1", &n, NULL), CDS_DB_EINVAL);
    CHECK_INT(cds_db_exec(p, S_ECHO, 2, nullv, on_result, &n, NULL), CDS_DB_EINVAL);
    CHECK_INT(cds_db_exec(p, S_ECHO, 1, NULL, on_result, &n, NULL), CDS_DB_EINVAL);
    cds_db_pool_free(p);
}

/* Binary parameters (cds_db_exec_bin): bytes with a NUL, a backslash and
 * 0xff arrive as they are beside a text parameter, copied by the pool (the
 * caller's buffer is overwritten before the query goes out); an empty one
 * is empty, not NULL. */
static void test_binary(void)
{
    cds_db_pool *p = new_pool(conninfo, 1, 8, 16);
    CHECK(run_until(pool_is_ready, p, 5000));
    slot s[2] = {0};
    char bytes[] = {0x00, 0x5c, 'x', (char)0xff, 0x01};
    const char *v1[] = {bytes, "ok"};
    const int l1[] = {(int)sizeof bytes, -1};
    CHECK_INT(cds_db_exec_bin(p, S_BIN, 2, v1, l1, on_result, &s[0], NULL), CDS_DB_OK);
    memset(bytes, 'z', sizeof bytes);
    const char *v2[] = {bytes, "empty"};
    const int l2[] = {0, -1};
    CHECK_INT(cds_db_exec_bin(p, S_BIN, 2, v2, l2, on_result, &s[1], NULL), CDS_DB_OK);
    slots ss = {s, 2};
    CHECK(run_until(all_called, &ss, 5000));
    CHECK_STR(s[0].value, "005c78ff01/ok");
    CHECK_STR(s[1].value, "/empty");
    /* Text parameters through cds_db_exec_bin with no lengths: as cds_db_exec. */
    slot t = {0};
    const char *v3[] = {"\\x0102", "text"};
    CHECK_INT(cds_db_exec_bin(p, S_BIN, 2, v3, NULL, on_result, &t, NULL), CDS_DB_OK);
    slots st = {&t, 1};
    CHECK(run_until(all_called, &st, 5000));
    CHECK_STR(t.value, "0102/text");
    cds_db_pool_free(p);
}

/* Read-only statements issued in one turn share a sync point. */
static void test_ro_batches(void)
{
    enum { N = 400 };
    cds_db_pool *p = new_pool(conninfo, 1, 64, N);
    CHECK(run_until(pool_is_ready, p, 5000));
    static slot s[N];
    memset(s, 0, sizeof s);
    seq = 0;
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        CHECK_INT(exec1(p, R_ECHO, v, &s[i], NULL), CDS_DB_OK);
    }
    slots ss = {s, N};
    CHECK(run_until(all_called, &ss, 10000));
    int right = 0, in_order = 0;
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        if (s[i].calls == 1 && s[i].status == PGRES_TUPLES_OK && strcmp(s[i].value, v) == 0) right++;
        if (s[i].order == i) in_order++;
    }
    CHECK_INT(right, N);
    CHECK_INT(in_order, N);

    /* A failing read: its error is its own, the reads after it in the batch
     * (skipped by PostgreSQL) are sent again and answered. */
    slot d[5] = {0};
    CHECK_INT(exec1(p, R_DIV, "1", &d[0], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, R_DIV, "0", &d[1], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, R_DIV, "2", &d[2], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, R_DIV, "0", &d[3], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, R_ECHO, "7", &d[4], NULL), CDS_DB_OK);
    slots sd = {d, 5};
    CHECK(run_until(all_called, &sd, 5000));
    CHECK_INT(d[0].status, PGRES_TUPLES_OK);
    CHECK_STR(d[0].value, "1");
    CHECK_INT(d[1].status, PGRES_FATAL_ERROR);
    CHECK_STR(d[1].sqlstate, "22012");
    CHECK_INT(d[2].status, PGRES_TUPLES_OK);
    CHECK_STR(d[2].value, "0");
    CHECK_INT(d[3].status, PGRES_FATAL_ERROR);
    CHECK_STR(d[3].sqlstate, "22012");
    CHECK_INT(d[4].status, PGRES_TUPLES_OK);
    CHECK_STR(d[4].value, "7");
    for (int i = 0; i < 5; i++) CHECK_INT(d[i].calls, 1);

    /* A write between reads is a transaction of its own: it commits although
     * the read after it fails, and a failing write takes no read with it. */
    slot w[6] = {0};
    CHECK_INT(exec1(p, R_ECHO, "1", &w[0], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, W_PUT, "41", &w[1], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, R_DIV, "0", &w[2], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, R_ECHO, "3", &w[3], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, W_PUT, "-1", &w[4], NULL), CDS_DB_OK); /* the CHECK refuses it */
    CHECK_INT(exec1(p, R_ECHO, "5", &w[5], NULL), CDS_DB_OK);
    slots sw = {w, 6};
    CHECK(run_until(all_called, &sw, 5000));
    CHECK_STR(w[0].value, "1");
    CHECK_INT(w[1].status, PGRES_TUPLES_OK);
    CHECK_STR(w[1].value, "41");
    CHECK_INT(w[2].status, PGRES_FATAL_ERROR);
    CHECK_STR(w[3].value, "3");
    CHECK_INT(w[4].status, PGRES_FATAL_ERROR);
    CHECK_STR(w[4].sqlstate, "23514"); /* check_violation */
    CHECK_STR(w[5].value, "5");
    CHECK_INT(cds_db_gauge_inflight(), 0);
    CHECK_INT(cds_db_gauge_waiting(), 0);
    cds_db_pool_free(p);
    char *kept = th_db_value(conninfo, "SELECT string_agg(x::text, ',' ORDER BY x) FROM t_ro_batch");
    CHECK_STR(kept, "41");
    free(kept);
}

static void test_queue_full(void)
{
    cds_db_pool *p = new_pool(conninfo, 1, 1, 2);
    CHECK(run_until(pool_is_ready, p, 5000));
    slot s[4] = {0};
    CHECK_INT(exec_sleep(p, "0.1", "1", &s[0], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, S_ECHO, "2", &s[1], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, S_ECHO, "3", &s[2], NULL), CDS_DB_OK);
    CHECK_INT(cds_db_gauge_inflight(), 1);
    CHECK_INT(cds_db_gauge_waiting(), 2);
    CHECK_INT(exec1(p, S_ECHO, "4", &s[3], NULL), CDS_DB_EBUSY);
    slots ss = {s, 3};
    CHECK(run_until(all_called, &ss, 5000));
    CHECK_STR(s[0].value, "1");
    CHECK_STR(s[1].value, "2");
    CHECK_STR(s[2].value, "3");
    CHECK_INT(s[3].calls, 0);
    CHECK(s[0].order < s[1].order && s[1].order < s[2].order);
    CHECK_INT(cds_db_gauge_waiting(), 0);
    cds_db_pool_free(p);
}

static void test_cancel(void)
{
    /* Queued and in-flight, with one slot per connection. */
    cds_db_pool *p = new_pool(conninfo, 1, 1, 8);
    CHECK(run_until(pool_is_ready, p, 5000));
    slot s[3] = {0};
    cds_db_query *q0 = NULL, *q1 = NULL;
    CHECK_INT(exec_sleep(p, "0.05", "1", &s[0], &q0), CDS_DB_OK);
    CHECK_INT(exec1(p, S_ECHO, "2", &s[1], &q1), CDS_DB_OK);
    CHECK_INT(exec1(p, S_ECHO, "3", &s[2], NULL), CDS_DB_OK);
    CHECK(q0 != NULL && q1 != NULL);
    CHECK_INT(cds_db_gauge_waiting(), 2);
    cds_db_cancel(q1); /* queued: dropped at once */
    CHECK_INT(cds_db_gauge_waiting(), 1);
    cds_db_cancel(q0); /* in flight: its answer is discarded */
    slots last = {&s[2], 1};
    CHECK(run_until(all_called, &last, 5000));
    run_for(50);
    CHECK_INT(s[0].calls, 0);
    CHECK_INT(s[1].calls, 0);
    CHECK_STR(s[2].value, "3");
    CHECK_INT(cds_db_gauge_inflight(), 0);
    cds_db_pool_free(p);

    /* Cancelling the middle of a pipeline keeps the neighbours' answers aligned. */
    p = new_pool(conninfo, 1, 8, 8);
    CHECK(run_until(pool_is_ready, p, 5000));
    slot t[3] = {0};
    cds_db_query *mid = NULL;
    CHECK_INT(exec1(p, S_ECHO, "10", &t[0], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, S_ECHO, "20", &t[1], &mid), CDS_DB_OK);
    CHECK_INT(exec1(p, S_ECHO, "30", &t[2], NULL), CDS_DB_OK);
    CHECK_INT(cds_db_gauge_inflight(), 3);
    cds_db_cancel(mid);
    slots ends = {&t[2], 1};
    CHECK(run_until(all_called, &ends, 5000));
    CHECK_STR(t[0].value, "10");
    CHECK_INT(t[1].calls, 0);
    CHECK_STR(t[2].value, "30");
    CHECK_INT(cds_db_gauge_inflight(), 0);
    cds_db_pool_free(p);
}

/* Chained queries: each callback issues the next one. */
typedef struct {
    cds_db_pool *pool;
    int left, done, bad;
} chain;

static void on_chain(void *arg, PGresult *res)
{
    chain *c = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) c->bad++;
    c->done++;
    if (--c->left > 0) {
        const char *v[1] = {"5"};
        if (cds_db_exec(c->pool, S_ECHO, 1, v, on_chain, c, NULL) != CDS_DB_OK) c->bad++;
    }
}

static bool chain_done(void *ctx)
{
    return ((chain *)ctx)->left <= 0;
}

static void test_reentrant(void)
{
    cds_db_pool *p = new_pool(conninfo, 2, 4, 8);
    CHECK(run_until(pool_is_ready, p, 5000));
    chain c = {p, 200, 0, 0};
    const char *v[1] = {"5"};
    CHECK_INT(cds_db_exec(p, S_ECHO, 1, v, on_chain, &c, NULL), CDS_DB_OK);
    CHECK(run_until(chain_done, &c, 10000));
    CHECK_INT(c.done, 200);
    CHECK_INT(c.bad, 0);
    cds_db_pool_free(p);
}

/* Watches cds_db_ready every millisecond: saw it drop, then come back. */
typedef struct {
    cds_db_pool *pool;
    bool saw_down, saw_up_again;
} watch;

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    watch *w = arg;
    int r = cds_db_ready(w->pool);
    if (!r) w->saw_down = true;
    if (r && w->saw_down) w->saw_up_again = true;
}

static bool watch_done(void *ctx)
{
    return ((watch *)ctx)->saw_up_again;
}

static void test_backend_killed(void)
{
    cds_db_pool *p = new_pool(conninfo, 2, 8, 64);
    CHECK(run_until(pool_is_ready, p, 5000));
    /* Both connections up, so that killing them all takes the pool down. */
    slot warm[2] = {0};
    exec_sleep(p, "0.05", "1", &warm[0], NULL);
    exec_sleep(p, "0.05", "2", &warm[1], NULL);
    slots sw = {warm, 2};
    CHECK(run_until(all_called, &sw, 5000));

    slot s = {0};
    CHECK_INT(exec_sleep(p, "30", "1", &s, NULL), CDS_DB_OK);
    run_for(50); /* let it reach the server */
    watch w = {p, false, false};
    struct event *tick = event_new(base, -1, EV_PERSIST, on_watch, &w);
    struct timeval ms1 = {0, 1000};
    event_add(tick, &ms1);
    CHECK_INT(th_db_exec(conninfo, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> "
                                   "pg_backend_pid()"),
              0);
    slots ss = {&s, 1};
    double t0 = now_ms();
    CHECK(run_until(all_called, &ss, 5000));
    CHECK(now_ms() - t0 < 2000); /* not the 30 s of the sleep */
    CHECK(s.got_null);
    CHECK_INT(s.calls, 1);
    CHECK(run_until(watch_done, &w, 10000));
    CHECK(w.saw_down);
    CHECK(w.saw_up_again);
    event_free(tick);
    CHECK_INT(cds_db_gauge_inflight(), 0);

    slot after = {0};
    CHECK_INT(exec1(p, S_ECHO, "7", &after, NULL), CDS_DB_OK);
    slots sa = {&after, 1};
    CHECK(run_until(all_called, &sa, 5000));
    CHECK_STR(after.value, "7");
    cds_db_pool_free(p);
}

static bool never_ready_flag;
static void on_ready_probe(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    if (cds_db_ready(arg)) never_ready_flag = false;
}

static void test_no_database(void)
{
    cds_db_pool *p = new_pool("host=/nonexistent/cds-test-socket dbname=cds user=cds", 3, 8, 8);
    CHECK(p != NULL);
    never_ready_flag = true;
    struct event *tick = event_new(base, -1, EV_PERSIST, on_ready_probe, p);
    struct timeval ms1 = {0, 1000};
    event_add(tick, &ms1);
    run_for(400);
    event_free(tick);
    CHECK(never_ready_flag);
    CHECK_INT(cds_db_ready(p), 0);
    slot s = {0};
    double t0 = now_ms();
    CHECK_INT(exec1(p, S_ECHO, "1", &s, NULL), CDS_DB_EDOWN);
    CHECK(now_ms() - t0 < 5);
    CHECK_INT(s.calls, 0);
    cds_db_pool_free(p);

    /* Malformed connection strings are refused up front. */
    CHECK(new_pool("host=/tmp dbname", 1, 1, 1) == NULL);
}

/* A server that accepts and hangs up at once: the pool is "connecting" for a
 * moment (queries wait), then down (waiting queries fail with NULL). */
static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    (void)arg;
    close(fd);
}

static void test_connect_fails_later(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct evconnlistener *l =
        evconnlistener_new_bind(base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                16, (struct sockaddr *)&sin, sizeof sin);
    CHECK(l != NULL);
    if (!l) return;
    struct sockaddr_in bound;
    socklen_t blen = sizeof bound;
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&bound, &blen);
    char info[128];
    snprintf(info, sizeof info, "host=127.0.0.1 port=%d dbname=cds user=cds",
             ntohs(bound.sin_port));
    cds_db_pool *p = new_pool(info, 1, 4, 4);
    CHECK(p != NULL);
    slot s = {0};
    CHECK_INT(exec1(p, S_ECHO, "1", &s, NULL), CDS_DB_OK); /* waits: still connecting */
    CHECK_INT(cds_db_gauge_waiting(), 1);
    slots ss = {&s, 1};
    CHECK(run_until(all_called, &ss, 5000));
    CHECK(s.got_null);
    CHECK_INT(cds_db_gauge_waiting(), 0);
    CHECK_INT(cds_db_ready(p), 0);
    cds_db_pool_free(p);
    evconnlistener_free(l);
}

static int free_calls, free_nulls;
static cds_db_pool *freeing;
static void on_free_result(void *arg, PGresult *res)
{
    (void)arg;
    free_calls++;
    if (!res) free_nulls++;
    /* A callback run by cds_db_pool_free may try again: it is told no. */
    const char *v[1] = {"1"};
    if (cds_db_exec(freeing, S_ECHO, 1, v, on_free_result, NULL, NULL) != CDS_DB_EDOWN)
        free_nulls = -1000;
}

static void test_free_pending(void)
{
    cds_db_pool *p = new_pool(conninfo, 1, 2, 8);
    freeing = p;
    CHECK(run_until(pool_is_ready, p, 5000));
    const char *sl[2] = {"5", "1"};
    const char *one[1] = {"1"};
    for (int i = 0; i < 2; i++)
        CHECK_INT(cds_db_exec(p, S_SLEEP, 2, sl, on_free_result, NULL, NULL), CDS_DB_OK);
    for (int i = 0; i < 3; i++)
        CHECK_INT(cds_db_exec(p, S_ECHO, 1, one, on_free_result, NULL, NULL), CDS_DB_OK);
    CHECK_INT(cds_db_gauge_inflight(), 2);
    CHECK_INT(cds_db_gauge_waiting(), 3);
    run_for(20);
    double t0 = now_ms();
    cds_db_pool_free(p);
    CHECK(now_ms() - t0 < 1000);
    CHECK_INT(free_calls, 5);
    CHECK_INT(free_nulls, 5);
    CHECK_INT(cds_db_gauge_inflight(), 0);
    CHECK_INT(cds_db_gauge_waiting(), 0);
}

/* In a child, before any statement exists in this process: a statement that
 * does not prepare keeps every connection from becoming ready. */
static int bad_statement_child(void)
{
    int id = cds_db_stmt_register("t_bad", "SELEC 1", 0);
    base = event_base_new();
    cds_db_pool *p = new_pool(conninfo, 2, 4, 4);
    never_ready_flag = true;
    struct event *tick = event_new(base, -1, EV_PERSIST, on_ready_probe, p);
    struct timeval ms1 = {0, 1000};
    event_add(tick, &ms1);
    run_for(400);
    event_free(tick);
    slot s = {0};
    /* Down (or, if a retry happens to be under way, waiting for it). */
    int rc = cds_db_exec(p, id, 0, NULL, on_result, &s, NULL);
    int ok = id >= 0 && p && never_ready_flag && (rc == CDS_DB_EDOWN || rc == CDS_DB_OK);
    cds_db_pool_free(p);
    event_base_free(base);
    return ok ? 0 : 1;
}

static void test_bad_statement(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(bad_statement_child());
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A standby, played by a session whose every transaction is read-only:
 * the write's 25006 means "not the primary any more", so the pool answers
 * it NULL (as for a lost connection: the caller answers 503, never a
 * success), drops the connection and connects again; a read before it is
 * answered normally. */
static void test_read_only_server(void)
{
    size_t n = strlen(conninfo) + 80;
    char *ro = malloc(n);
    CHECK(ro != NULL);
    snprintf(ro, n, "%s%coptions=-c%%20default_transaction_read_only%%3Don", conninfo,
             strchr(conninfo, '?') ? '&' : '?');
    cds_db_pool *p = new_pool(ro, 1, 8, 16);
    CHECK(run_until(pool_is_ready, p, 5000));
    slot s[2] = {0};
    CHECK_INT(exec1(p, S_ECHO, "5", &s[0], NULL), CDS_DB_OK);
    CHECK_INT(exec1(p, W_PUT, "424242", &s[1], NULL), CDS_DB_OK);
    slots ss = {s, 2};
    CHECK(run_until(all_called, &ss, 5000));
    CHECK_STR(s[0].value, "5");
    CHECK(s[1].got_null);
    CHECK_INT(s[1].calls, 1);
    CHECK(!cds_db_ready(p)); /* dropped: the next connection comes after a backoff */
    CHECK(run_until(pool_is_ready, p, 5000));
    CHECK_INT(cds_db_gauge_inflight(), 0);
    char *kept = th_db_value(conninfo, "SELECT count(*) FROM t_ro_batch WHERE x = 424242");
    CHECK_STR(kept, "0");
    free(kept);
    cds_db_pool_free(p);
    free(ro);
}

int main(void)
{
    conninfo = th_db_new("dbpool");
    test_bad_statement();
    S_ECHO = cds_db_stmt_register("t_echo", "SELECT $1::int", 1);
    S_DIV = cds_db_stmt_register("t_div", "SELECT 1 / $1::int", 1);
    S_SLEEP = cds_db_stmt_register("t_sleep", "SELECT $2::int FROM pg_sleep($1::float8)", 2);
    S_ISNULL = cds_db_stmt_register("t_isnull", "SELECT $1::text IS NULL", 1);
    S_BIN = cds_db_stmt_register("t_bin", "SELECT encode($1::bytea, 'hex') || '/' || $2::text", 2);
    R_ECHO = cds_db_stmt_register_ro("t_ro_echo", "SELECT $1::int", 1);
    R_DIV = cds_db_stmt_register_ro("t_ro_div", "SELECT 1 / $1::int", 1);
    W_PUT = cds_db_stmt_register("t_put", "INSERT INTO t_ro_batch VALUES ($1::int) RETURNING x", 1);
    CHECK(S_ECHO >= 0 && S_DIV >= 0 && S_SLEEP >= 0 && S_ISNULL >= 0 && S_BIN >= 0);
    CHECK(R_ECHO >= 0 && R_DIV >= 0 && W_PUT >= 0);
    /* The same name read-only after read-write (or back) is a different statement. */
    CHECK_INT(cds_db_stmt_register_ro("t_echo", "SELECT $1::int", 1), CDS_DB_EINVAL);
    char *made = th_db_value(conninfo, "CREATE TABLE t_ro_batch (x int CHECK (x >= 0)); SELECT 'ok'");
    CHECK_STR(made, "ok");
    free(made);
    CHECK_INT(cds_db_stmt_register("t_echo", "SELECT $1::int", 1), S_ECHO);
    CHECK_INT(cds_db_stmt_register("t_echo", "SELECT 2", 0), CDS_DB_EINVAL);
    base = event_base_new();

    test_pipelined(1);
    test_pipelined(3);
    test_error_isolated();
    test_binary();
    test_ro_batches();
    test_queue_full();
    test_cancel();
    test_reentrant();
    test_backend_killed();
    test_read_only_server();
    test_no_database();
    test_connect_fails_later();
    test_free_pending();

    /* The registry is closed once pools exist. */
    CHECK_INT(cds_db_stmt_register("t_late", "SELECT 1", 0), CDS_DB_EINVAL);

    event_base_free(base);
    free((void *)conninfo);
    return t_done();
}
