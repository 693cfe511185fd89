/* Integration test of the outbox worker (core/outbox.c) and the periodic
 * job (core/periodic.c) against a real PostgreSQL table.
 *
 * A queue table with a claim statement (SKIP LOCKED), a handler that ends
 * some rows at once and some on a later turn of the loop, and the batch
 * result writer: two workers (two "threads" on one loop, each with its own
 * pool) take every row exactly once, never more than max_inflight each, and
 * every result lands once. A NOTIFY on the queue's channel brings new rows
 * in long before the poll timer would. Stopping a worker with rows in hand
 * cancels and frees each of them, records nothing and leaves them claimed.
 * The periodic job skips ticks while its statement runs and cancels it when
 * stopped. The backoff: doubling from base to the cap, equal jitter within
 * [d/2, d], the provider's longer hint winning. */
#include "core/db.h"
#include "core/outbox.h"
#include "core/periodic.h"
#include "tests/lib/harness.h"
#include "tests/lib/loop.h"
#include "tests/lib/t.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static struct event_base *base;
static const char *conninfo;
static int S_CLAIM, S_RECORD, S_SLEEP;

static bool run_until(bool (*pred)(void *), void *ctx, int timeout_ms)
{
    return tl_run_until(base, pred, ctx, timeout_ms);
}

/* ---- the module side: rows, handler, results ---- */

typedef struct trow {
    cds_outbox_row row;
    long long id;
    int attempt;
    struct event *later; /* odd rows end on a later loop turn */
} trow;

static int g_hold;                   /* 1: the handler keeps every row */
static int g_inflight[2], g_max_inflight[2];
static int g_taken, g_cancelled, g_released;

static int worker_no(cds_outbox_row *r)
{
    return *(int *)cds_outbox_worker_arg(r->ow);
}

static void finish(trow *t)
{
    json_t *o = json_pack("{s:I,s:s,s:i}", "id", (json_int_t)t->id, "status", "done", "attempt",
                          t->attempt);
    g_inflight[worker_no(&t->row)]--;
    cds_outbox_record(t->row.ow, o);
    cds_outbox_done(&t->row);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg);
}

static cds_outbox_row *take(cds_outbox_worker *ow, PGresult *res, int row)
{
    (void)ow;
    trow *t = calloc(1, sizeof *t);
    t->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    t->attempt = (int)strtol(PQgetvalue(res, row, 1), NULL, 10);
    g_taken++;
    return &t->row;
}

static void handle(cds_outbox_row *r, PGresult *res, int row)
{
    (void)res;
    (void)row;
    trow *t = (trow *)r;
    int n = worker_no(r);
    if (++g_inflight[n] > g_max_inflight[n]) g_max_inflight[n] = g_inflight[n];
    if (g_hold) return;
    if (t->id % 2 == 0) {
        finish(t);
        return;
    }
    t->later = evtimer_new(base, on_later, t);
    struct timeval tv = {0, 1000};
    evtimer_add(t->later, &tv);
}

static void cancel(cds_outbox_row *r)
{
    trow *t = (trow *)r;
    if (t->later) event_del(t->later);
    g_cancelled++;
}

static void release(cds_outbox_row *r)
{
    trow *t = (trow *)r;
    if (t->later) event_free(t->later);
    g_released++;
    free(t);
}

static const cds_outbox_ops ops = {take, handle, cancel, release};

static long count(const char *where)
{
    return th_db_count(conninfo, "SELECT count(*) FROM q WHERE %s", where);
}

static bool all_done(void *ctx)
{
    return count("state = 'done'") == *(long *)ctx;
}

static bool held(void *ctx)
{
    return g_inflight[0] == *(int *)ctx;
}

typedef struct {
    cds_worker cw;
    cds_outbox_worker *ow;
    int no;
} tworker;

static void worker_start(tworker *w, cds_outbox *ob, int id)
{
    memset(w, 0, sizeof *w);
    w->no = id;
    w->cw.id = id;
    w->cw.base = base;
    cds_db_config dc = {.conninfo = conninfo, .conns = 1};
    w->cw.db = cds_db_pool_new(base, &dc);
    w->ow = cds_outbox_worker_start(ob, &w->cw, &w->no);
}

static void worker_stop(tworker *w)
{
    cds_outbox_worker_stop(w->ow);
    cds_db_pool_free(w->cw.db);
}

static void test_round(void)
{
    th_db_exec(conninfo, "INSERT INTO q (tag) SELECT 'a' FROM generate_series(1, 500)");
    cds_outbox_def def = {
        .name = "test_outbox",
        .channel = "test_q",
        .node = "test-node",
        .claim_stmt = S_CLAIM,
        .claim_args = {"tagged"},
        .nclaim_args = 1,
        .batch = 16,
        .max_inflight = 24,
        .refill = 8,
        .poll_ms = 600000, /* only wake-ups and full batches bring rows in */
        .wake_one = 1,
        .own_conn = 1,
        .record_stmt = S_RECORD,
        .record_batch = 10,
        .record_delay_ms = 2,
        .ops = &ops,
    };
    cds_outbox *ob = cds_outbox_new(&def, conninfo);
    CHECK(ob != NULL);
    CHECK_STR(cds_outbox_node(ob), "test-node");
    tworker a, b;
    worker_start(&a, ob, 0);
    worker_start(&b, ob, 1);
    CHECK(a.ow != NULL && b.ow != NULL);
    CHECK(cds_outbox_db(a.ow) != a.cw.db); /* own_conn: a connection of its own */

    long want = 500;
    CHECK(run_until(all_done, &want, 60000));
    CHECK_INT(count("attempts = 1 AND records = 1 AND claimed_by = 'test-node' AND "
                    "note = 'tagged'"), 500);
    CHECK_INT(cds_outbox_claimed(ob), 500);
    CHECK_INT(g_taken, 500);
    CHECK_INT(g_released, 500);
    CHECK(g_max_inflight[0] <= 24 && g_max_inflight[1] <= 24);
    CHECK(g_max_inflight[0] > 0);

    /* New rows and a NOTIFY: claimed now, not at the next poll (10 min). */
    th_db_exec(conninfo, "INSERT INTO q (tag) SELECT 'b' FROM generate_series(1, 40); "
                         "NOTIFY test_q");
    want = 540;
    CHECK(run_until(all_done, &want, 30000));
    CHECK_INT(count("records = 1"), 540);

    /* Stopping with rows in hand: each is cancelled and freed, none is
     * recorded, and they stay claimed for the sweeper. */
    worker_stop(&b);
    g_hold = 1;
    g_taken = g_cancelled = g_released = 0;
    g_inflight[0] = 0;
    th_db_exec(conninfo, "INSERT INTO q (tag) SELECT 'c' FROM generate_series(1, 20); "
                         "NOTIFY test_q");
    int twenty = 20;
    CHECK(run_until(held, &twenty, 30000));
    worker_stop(&a);
    CHECK_INT(g_cancelled, 20);
    CHECK_INT(g_released, 20);
    CHECK_INT(count("state = 'sending' AND records = 0"), 20);
    cds_outbox_free(ob);
}

/* ---- the periodic job ---- */

typedef struct {
    cds_db_pool *db;
    int ticks, answers, refused;
} pjob;

static void on_slept(void *arg, PGresult *res)
{
    (void)res;
    pjob *j = arg;
    j->answers++;
}

static void on_ptick(cds_periodic *p, void *arg)
{
    pjob *j = arg;
    j->ticks++;
    const char *prm[1] = {"10"};
    if (cds_periodic_query(p, j->db, S_SLEEP, 1, prm, on_slept) != 0) j->refused++;
}

static long sleeping(void)
{
    return th_db_count(conninfo, "SELECT count(*) FROM pg_stat_activity WHERE "
                                 "datname = current_database() AND state = 'active' AND "
                                 "query LIKE '%%pg_sleep%%' AND pid <> pg_backend_pid()");
}

static bool ten_ticks_one_asleep(void *ctx)
{
    return ((pjob *)ctx)->ticks >= 10 && sleeping() >= 1;
}

static void test_periodic(void)
{
    cds_db_config dc = {.conninfo = conninfo, .conns = 2};
    pjob j = {.db = cds_db_pool_new(base, &dc)};
    cds_periodic *p = cds_periodic_start(base, 5, on_ptick, &j);
    CHECK(p != NULL);
    CHECK(run_until(ten_ticks_one_asleep, &j, 30000));
    /* One 10-second statement in flight (the pool has room for two): the
     * other ticks were skipped. */
    CHECK_INT(sleeping(), 1);
    CHECK_INT(j.refused, 0);
    cds_periodic_stop(p); /* cancels it: its callback never runs */
    cds_db_pool_free(j.db);
    CHECK_INT(j.answers, 0);
}

/* ---- the backoff ---- */

static void test_backoff(void)
{
    /* attempt 1: base; each further attempt doubles; capped at max. */
    long expect[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (int a = 1; a <= 7; a++) {
        long lo = 1000000, hi = 0;
        for (int i = 0; i < 200; i++) {
            long d = cds_outbox_backoff_ms(a, 1000, 30000, 0);
            if (d < lo) lo = d;
            if (d > hi) hi = d;
        }
        CHECK(lo >= expect[a - 1] / 2);
        CHECK(hi <= expect[a - 1]);
        CHECK(hi > lo); /* jittered: 200 draws are not all the same */
    }
    CHECK_INT(cds_outbox_backoff_ms(40, 1000, 30000, 0) <= 30000, 1); /* no overflow */
    CHECK_INT(cds_outbox_backoff_ms(1, 1000, 30000, 90000), 90000);   /* a longer hint wins */
    CHECK(cds_outbox_backoff_ms(3, 1000, 30000, 10) >= 2000);          /* a shorter one does not */
    CHECK_INT(cds_outbox_backoff_ms(1, 1, 30000, 0), 0);               /* half of 1 ms is 0 */
}

int main(void)
{
    test_backoff();
    evthread_use_pthreads(); /* the LISTEN thread wakes the loop */
    conninfo = th_db_new("outbox");
    CHECK_INT(th_db_exec(conninfo,
                         "CREATE TABLE q (id bigserial PRIMARY KEY, tag text, "
                         "state text NOT NULL DEFAULT 'due', claimed_by text, note text, "
                         "attempts int NOT NULL DEFAULT 0, records int NOT NULL DEFAULT 0)"),
              0);
    S_CLAIM = cds_db_stmt_register(
        "t_claim",
        "UPDATE q SET state = 'sending', claimed_by = $1, note = $3, attempts = q.attempts + 1 "
        "FROM (SELECT id FROM q WHERE state = 'due' ORDER BY id LIMIT $2::int "
        "FOR UPDATE SKIP LOCKED) d WHERE q.id = d.id RETURNING q.id, q.attempts",
        3);
    S_RECORD = cds_db_stmt_register(
        "t_record",
        "UPDATE q SET state = r.status, records = q.records + 1 "
        "FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, status text, attempt int) "
        "WHERE q.id = r.id AND q.state = 'sending' AND q.attempts = r.attempt",
        1);
    S_SLEEP = cds_db_stmt_register("t_psleep", "SELECT pg_sleep($1::float8)", 1);
    CHECK(S_CLAIM >= 0 && S_RECORD >= 0 && S_SLEEP >= 0);
    base = event_base_new();
    test_round();
    test_periodic();
    event_base_free(base);
    return t_done();
}
