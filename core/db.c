/* Asynchronous PostgreSQL pool: libpq in non-blocking pipeline mode, driven by
 * one libevent event_base (see core/db.h for the contract).
 *
 * How it works
 *
 * A pool owns N connections. Each connection walks a small state machine:
 *
 *   BACKOFF --timer--> CONNECTING --PQconnectPoll OK--> PREPARING --sync--> READY
 *      ^                    |                               |                 |
 *      +------- failure / connect deadline / connection lost -+---------------+
 *
 * CONNECTING is driven by PQconnectPoll on a one-shot event re-armed on every
 * step with the socket libpq reports at that moment, because libpq may switch
 * sockets mid-way (several hosts, SSL or GSS fallback). Once connected, the
 * connection goes non-blocking and enters pipeline mode, and every statement of
 * the global registry is prepared in one pipelined batch; only when that
 * batch's sync point comes back is the connection READY for queries.
 *
 * Each query is sent as PQsendQueryPrepared followed by its own sync point, so
 * it runs in its own implicit transaction: an error aborts only that query,
 * never its neighbours in the pipeline. The exception is a statement
 * registered read-only (cds_db_stmt_register_ro): such queries sent on one
 * connection during one turn of the event loop share a single sync point,
 * sent when the turn's callbacks are done (an event made active, so it runs
 * after the I/O callbacks of the same turn). libpq 15 flushes at every sync
 * and PostgreSQL writes its answer at every sync, so under load this turns
 * one send and one wake-up per read on each side into one per batch. A
 * failing read in a batch makes PostgreSQL skip the rest of it
 * (PGRES_PIPELINE_ABORTED): those never ran, and are sent again. A write
 * never joins a batch: the open batch is closed before it is sent.
 *
 * The answer of a query is handed over when its PGRES_PIPELINE_SYNC arrives
 * (not when its rows arrive), because the implicit transaction commits at the
 * sync: a commit-time error must replace the rows, and a caller must never act
 * on a write that did not commit. Results arrive in send order, so each
 * connection keeps a FIFO of what it sent; the results belong to the oldest
 * query still receiving, each query's ending with a NULL.
 *
 * Reading: a persistent EV_READ event calls PQconsumeInput and then takes
 * results while PQisBusy is false. Writing: PQflush after each sync point; EV_WRITE
 * is armed only while PQflush returns 1 (data left in libpq's buffer), so an
 * idle connection costs no wake-ups.
 *
 * Dispatch: a new query goes to the READY connection with the fewest queries
 * in flight (below max_inflight); otherwise it waits in the pool's bounded
 * FIFO, which is drained whenever a slot frees or a connection becomes ready.
 * When no connection is READY and none is in the middle of connecting, the
 * pool is down: cds_db_exec answers CDS_DB_EDOWN at once and queries still
 * waiting are failed (callback with NULL) so that nobody waits for a database
 * that is not coming back soon.
 *
 * Failures: a lost connection fails every query it had in flight (callback
 * with NULL), then is retried after 100 ms doubling to 2 s, with "equal
 * jitter" (half fixed, half random) so a fleet of processes does not reconnect
 * in lock-step after a database restart. The cap is short because a failover
 * (below) is over in seconds and the pool should not sleep through its end.
 *
 * Failover: the connection string may name several hosts (libpq multi-host,
 * `host=a,b,c` or `postgresql://h1:p1,h2:p2/db`) with
 * `target_session_attrs=read-write`, so every (re)connection lands on the
 * current primary. When the primary dies or is demoted, a connection learns
 * it in one of two ways: the socket breaks (handled as above), or the server
 * answers a query with an error that says "not here any more": SQLSTATE
 * class 08 (connection exception), 57P01/57P02/57P03 (admin or crash
 * shutdown, cannot connect now) or 25006 (read-only transaction: the node is
 * a standby now). Such an error is not the query's fault: the connection is
 * dropped and reconnected with backoff, and every query it carried, this one
 * included, gets NULL ("no answer"), exactly as if the socket had broken.
 * For a write that NULL means its outcome is unknown (the commit may or may
 * not have reached the synchronous standby): callers answer 503 with
 * Retry-After, never a success, and the client's retry with the same
 * idempotency key (event id, bank reference, Idempotency-Key) finds the
 * first outcome if there was one.
 *
 * Re-entrancy: callbacks may call cds_db_exec and cds_db_cancel on the same
 * pool. Every query is unlinked from its list before its callback runs, and a
 * send failure detected inside cds_db_exec is handled on the next loop turn
 * (a zero timer), so cds_db_exec never runs a callback before returning.
 * cds_db_pool_free must not be called from one of the pool's own callbacks
 * (it aborts with a message if it is).
 *
 * Threading: a pool belongs to the thread running its event_base. The
 * statement registry is written only before the first pool exists, and the
 * gauges are per-thread shares (core/metrics.h), so pools on different
 * threads share nothing else. */
#include "core/db.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DB_DEFAULT_CONNS 4
#define DB_DEFAULT_INFLIGHT 32
#define DB_DEFAULT_QUEUE 1024
#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 2000
/* libpq's connect_timeout applies only to blocking connects; ours covers the
 * whole way from PQconnectStart to the prepared statements being ready. */
#define DB_CONNECT_TIMEOUT_MS 10000
/* PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes; longer statement
 * names could silently collide on the server. */
#define DB_STMT_NAME_MAX 63
#define DB_MAX_PARAMS 65535
#define DB_LOG_MAX 512
/* A read skipped because an earlier read of its batch failed is sent again,
 * at most this many times (each batch answers at least its first query, so
 * this bounds only pathological streams of failing reads). */
#define DB_RESEND_MAX 16

/* ------------------------------------------------------------------------ */
/* Logging: one line per event on stderr. Messages from libpq end with a
 * newline and may span lines; they are flattened. The conninfo string is never
 * logged because it may carry a password. */

__attribute__((format(printf, 1, 2))) static void db_log(const char *fmt, ...)
{
    char buf[DB_LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    /* Squeeze every run of whitespace to one space. */
    size_t len = 0;
    for (size_t i = 0; buf[i]; i++) {
        bool ws = buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t' || buf[i] == ' ';
        if (ws && (len == 0 || buf[len - 1] == ' ')) continue;
        buf[len++] = ws ? ' ' : buf[i];
    }
    while (len > 0 && buf[len - 1] == ' ')
        len--;
    buf[len] = '\0';
    fprintf(stderr, "cds db: %s\n", buf);
}

/* ------------------------------------------------------------------------ */
/* Statement registry and gauges (process-wide). */

typedef struct db_stmt {
    char *name;
    char *sql;
    int nparams;
    bool readonly; /* may share its sync point with other reads */
} db_stmt;

static db_stmt *g_stmts;
static int g_nstmts, g_capstmts;
static atomic_bool g_pool_created;

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int stmt_register(const char *name, const char *sql, int nparams, bool readonly);

int cds_db_stmt_register(const char *name, const char *sql, int nparams)
{
    return stmt_register(name, sql, nparams, false);
}

int cds_db_stmt_register_ro(const char *name, const char *sql, int nparams)
{
    return stmt_register(name, sql, nparams, true);
}

static int stmt_register(const char *name, const char *sql, int nparams, bool readonly)
{
    if (!name || !sql || name[0] == '\0' || strlen(name) > DB_STMT_NAME_MAX || nparams < 0 ||
        nparams > DB_MAX_PARAMS) {
        db_log("cannot register statement \"%s\": bad name, SQL or parameter count",
               name ? name : "(null)");
        return CDS_DB_EINVAL;
    }
    if (atomic_load(&g_pool_created)) {
        /* A pool already connected would not have it prepared. */
        db_log("cannot register statement \"%s\" after a pool was created", name);
        return CDS_DB_EINVAL;
    }
    for (int i = 0; i < g_nstmts; i++) {
        if (strcmp(g_stmts[i].name, name) != 0) continue;
        /* Registering the same thing twice is harmless (a module initialised
         * twice); the same name for different SQL is a bug. */
        if (strcmp(g_stmts[i].sql, sql) == 0 && g_stmts[i].nparams == nparams &&
            g_stmts[i].readonly == readonly)
            return i;
        db_log("statement \"%s\" registered twice with different SQL", name);
        return CDS_DB_EINVAL;
    }
    if (g_nstmts == g_capstmts) {
        int cap = g_capstmts ? g_capstmts * 2 : 32;
        db_stmt *n = realloc(g_stmts, (size_t)cap * sizeof *n);
        if (!n) return CDS_DB_EINVAL;
        g_stmts = n;
        g_capstmts = cap;
    }
    db_stmt *s = &g_stmts[g_nstmts];
    s->name = dup_str(name);
    s->sql = dup_str(sql);
    if (!s->name || !s->sql) {
        free(s->name);
        free(s->sql);
        return CDS_DB_EINVAL;
    }
    s->nparams = nparams;
    s->readonly = readonly;
    return g_nstmts++;
}

int64_t cds_db_gauge_inflight(void)
{
    return cds_metrics_get(CDS_G_DB_INFLIGHT);
}

int64_t cds_db_gauge_waiting(void)
{
    return cds_metrics_get(CDS_G_DB_WAITING);
}

/* The pool's thread's share of the gauge (core/metrics.h sums them). */
static void gauge_add(enum cds_gauge g, int64_t d)
{
    cds_metrics_add(g, d);
}

/* ------------------------------------------------------------------------ */
/* Queries and intrusive FIFO lists. */

enum {
    Q_QUEUED,   /* in pool->queue, not sent */
    Q_SENT,     /* in a connection's sent FIFO */
    Q_DETACHED, /* taken off a failing connection or queue, callback pending */
    Q_DONE,     /* callback running */
};

/* stmt == DB_PREPARE_BATCH marks the internal entry that stands for the batch
 * of PQsendPrepare calls made when a connection comes up. */
#define DB_PREPARE_BATCH (-1)

struct cds_db_query {
    cds_db_query *prev, *next;
    cds_db_pool *pool;
    cds_db_cb cb;
    void *arg;
    PGresult *res; /* kept until the sync point says the transaction is over */
    const char **values;
    int *lengths, *formats; /* NULL: every parameter is text */
    int stmt;
    int nparams;
    int state;
    int nresults;    /* results seen so far (the prepare batch has one per statement) */
    int first_error; /* index of the first failed one, -1 if none */
    bool cancelled;
    bool group_end; /* a sync point was sent right after it */
    unsigned char resent; /* times sent again after an earlier read of its batch failed */
    uint64_t sent_us;     /* for cds_db_query_duration_seconds */
    cds_log_ctx log_ctx;  /* the request that asked, for the callback's log lines */
};

typedef struct qlist {
    cds_db_query *head, *tail;
    size_t n;
} qlist;

static void ql_push(qlist *l, cds_db_query *q)
{
    q->next = NULL;
    q->prev = l->tail;
    if (l->tail)
        l->tail->next = q;
    else
        l->head = q;
    l->tail = q;
    l->n++;
}

static void ql_remove(qlist *l, cds_db_query *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        l->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        l->tail = q->prev;
    q->prev = q->next = NULL;
    l->n--;
}

/* Inserts q after `after` (at the head when `after` is NULL). */
static void ql_insert_after(qlist *l, cds_db_query *after, cds_db_query *q)
{
    q->prev = after;
    q->next = after ? after->next : l->head;
    if (q->next)
        q->next->prev = q;
    else
        l->tail = q;
    if (after)
        after->next = q;
    else
        l->head = q;
    l->n++;
}

/* Moves every element of `from` to the end of `to`. */
static void ql_splice(qlist *to, qlist *from)
{
    if (!from->head) return;
    if (to->tail) {
        to->tail->next = from->head;
        from->head->prev = to->tail;
    } else {
        to->head = from->head;
    }
    to->tail = from->tail;
    to->n += from->n;
    from->head = from->tail = NULL;
    from->n = 0;
}

/* The bytes parameter i takes in the query: a binary one's length, a text
 * one's with its NUL. */
static size_t param_size(const char *const *values, const int *lengths, int i)
{
    return lengths && lengths[i] >= 0 ? (size_t)lengths[i] : strlen(values[i]) + 1;
}

/* One allocation holds the query, its parameter pointers (and, with binary
 * parameters, their lengths and formats) and the bytes of every parameter,
 * so the caller's values may go away right after cds_db_exec returns. */
static cds_db_query *query_new(cds_db_pool *pool, int stmt, int nparams, const char *const *values,
                               const int *lengths, cds_db_cb cb, void *arg)
{
    size_t head = sizeof(cds_db_query);
    /* Keep the pointer array aligned after the struct. */
    head = (head + sizeof(void *) - 1) / sizeof(void *) * sizeof(void *);
    size_t ptrs = (size_t)nparams * sizeof(char *);
    size_t ints = lengths ? 2 * (size_t)nparams * sizeof(int) : 0;
    size_t total = head + ptrs + ints;
    for (int i = 0; i < nparams; i++) {
        if (!values[i]) continue;
        size_t len = param_size(values, lengths, i);
        if (len > SIZE_MAX - total) return NULL;
        total += len;
    }
    char *mem = malloc(total);
    if (!mem) return NULL;
    cds_db_query *q = (cds_db_query *)(void *)mem;
    memset(q, 0, sizeof *q);
    q->pool = pool;
    q->cb = cb;
    q->arg = arg;
    q->stmt = stmt;
    q->nparams = nparams;
    q->state = Q_QUEUED;
    q->first_error = -1;
    cds_log_ctx_get(&q->log_ctx);
    q->values = (const char **)(void *)(mem + head);
    if (lengths) {
        q->lengths = (int *)(void *)(mem + head + ptrs);
        q->formats = q->lengths + nparams;
        for (int i = 0; i < nparams; i++) {
            q->formats[i] = lengths[i] >= 0;
            q->lengths[i] = lengths[i] >= 0 ? lengths[i] : 0;
        }
    }
    char *p = mem + head + ptrs + ints;
    for (int i = 0; i < nparams; i++) {
        if (!values[i]) {
            q->values[i] = NULL;
            continue;
        }
        size_t len = param_size(values, lengths, i);
        if (len) memcpy(p, values[i], len);
        q->values[i] = p;
        p += len;
    }
    return q;
}

static void query_free(cds_db_query *q)
{
    PQclear(q->res);
    free(q);
}

static bool result_is_error(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED || st == PGRES_BAD_RESPONSE ||
           st == PGRES_NONFATAL_ERROR;
}

/* An error that says the server is no longer the place to write (see
 * "Failover" above), not that the query was wrong. */
static bool result_says_gone(const PGresult *r)
{
    if (PQresultStatus(r) != PGRES_FATAL_ERROR) return false;
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!st) return false;
    return strncmp(st, "08", 2) == 0 || strcmp(st, "25006") == 0 || strcmp(st, "57P01") == 0 ||
           strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0;
}

/* ------------------------------------------------------------------------ */
/* Pool and connections. */

typedef enum {
    C_BACKOFF,    /* waiting for the retry timer */
    C_CONNECTING, /* PQconnectPoll in progress */
    C_PREPARING,  /* connected, prepare batch in flight */
    C_READY,      /* taking queries */
    C_CLOSED,     /* pool is being freed */
} conn_state;

typedef struct db_conn {
    cds_db_pool *pool;
    int idx;
    conn_state state;
    PGconn *pg;
    struct event *ev_connect; /* one-shot, re-armed on each PQconnectPoll step */
    struct event *ev_read;    /* persistent while connected */
    struct event *ev_write;   /* persistent, armed only while PQflush returns 1 */
    struct event *ev_timer;   /* backoff, connect deadline, deferred failure */
    bool writing;
    bool broken; /* failure seen where callbacks may not run yet */
    bool gone;   /* the server said it is no longer the primary (failover) */
    int backoff_ms;
    unsigned failures; /* consecutive failed attempts */
    qlist sent;        /* sent and unanswered, in send order */
    int nuser;         /* user queries in `sent` (not the prepare batch) */
    cds_db_query *rcv; /* the query whose results are arriving (NULL: the head of sent) */
    int unsynced;      /* read-only queries sent since the last sync point */
    struct event *ev_sync; /* made active to close the batch at the end of the turn */
} db_conn;

struct cds_db_pool {
    struct event_base *base;
    char *conninfo;
    db_conn *conns;
    int nconns;
    int max_inflight;
    int max_queue;
    qlist queue;
    uint64_t rng;
    int delivering; /* callbacks running right now */
    bool closing;
    bool was_up; /* one connection has been ready once */
};

/* Pools of this process that have never had a connection ready: while any
 * has not, the process is still starting (cds_db_all_started). */
static atomic_int g_pools_never_up;

static void pool_mark_up(cds_db_pool *pool)
{
    if (pool->was_up) return;
    pool->was_up = true;
    atomic_fetch_sub(&g_pools_never_up, 1);
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg);
static void conn_fail(db_conn *c, const char *why);
static void pool_dispatch(cds_db_pool *pool);

/* xorshift64*: jitter only needs to differ between processes and threads. */
static uint32_t pool_rand(cds_db_pool *pool)
{
    uint64_t x = pool->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    pool->rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static struct timeval ms_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* Runs the callback of a query already unlinked from every list, then frees
 * it. `res` is cleared afterwards: the callback only borrows it. */
static void deliver(cds_db_query *q, PGresult *res)
{
    cds_db_pool *pool = q->pool;
    cds_db_cb cb = q->cancelled ? NULL : q->cb;
    q->state = Q_DONE;
    if (cb) {
        cds_log_ctx prev;
        cds_log_ctx_set(&q->log_ctx, &prev);
        pool->delivering++;
        cb(q->arg, res);
        pool->delivering--;
        cds_log_ctx_set(&prev, NULL);
    }
    PQclear(res);
    query_free(q);
}

/* Fails a list of detached queries (callback with NULL), in order. */
static void deliver_failed(qlist *l)
{
    cds_db_query *q;
    while ((q = l->head) != NULL) {
        ql_remove(l, q);
        deliver(q, NULL);
    }
}

/* Takes every query off the connection into `out` (state DETACHED), keeping
 * the gauges right. The prepare batch is internal and simply freed. */
static void conn_detach_sent(db_conn *c, qlist *out)
{
    cds_db_query *q;
    while ((q = c->sent.head) != NULL) {
        ql_remove(&c->sent, q);
        if (q->stmt == DB_PREPARE_BATCH) {
            query_free(q);
            continue;
        }
        PQclear(q->res);
        q->res = NULL;
        q->state = Q_DETACHED;
        gauge_add(CDS_G_DB_INFLIGHT, -1);
        ql_push(out, q);
    }
    c->nuser = 0;
    c->rcv = NULL;
    c->unsynced = 0;
}

static void pool_detach_queue(cds_db_pool *pool, qlist *out)
{
    for (cds_db_query *q = pool->queue.head; q; q = q->next)
        q->state = Q_DETACHED;
    gauge_add(CDS_G_DB_WAITING, -(int64_t)pool->queue.n);
    ql_splice(out, &pool->queue);
}

static bool conn_usable(const db_conn *c)
{
    return c->state == C_READY && !c->broken;
}

/* Up, or on its way up right now (a connection in backoff does not count:
 * queries would wait for seconds behind it). */
static bool pool_alive(const cds_db_pool *pool)
{
    for (int i = 0; i < pool->nconns; i++) {
        const db_conn *c = &pool->conns[i];
        if (conn_usable(c) || ((c->state == C_CONNECTING || c->state == C_PREPARING) && !c->broken))
            return true;
    }
    return false;
}

static db_conn *pool_pick(cds_db_pool *pool)
{
    db_conn *best = NULL;
    for (int i = 0; i < pool->nconns; i++) {
        db_conn *c = &pool->conns[i];
        if (!conn_usable(c) || c->nuser >= pool->max_inflight) continue;
        if (!best || c->nuser < best->nuser) best = c;
    }
    return best;
}

/* Drops the libpq connection and its events; the caller decides what next. */
static void conn_close(db_conn *c)
{
    event_del(c->ev_connect);
    event_del(c->ev_read);
    event_del(c->ev_write);
    event_del(c->ev_timer);
    event_del(c->ev_sync);
    c->writing = false;
    c->broken = false;
    c->gone = false;
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
}

static void conn_schedule_retry(db_conn *c)
{
    cds_db_pool *pool = c->pool;
    int b = c->backoff_ms;
    int delay = b / 2 + (int)(pool_rand(pool) % (uint32_t)(b / 2 + 1));
    c->backoff_ms = b >= DB_BACKOFF_MAX_MS / 2 ? DB_BACKOFF_MAX_MS : b * 2;
    c->state = C_BACKOFF;
    struct timeval tv = ms_tv(delay);
    evtimer_add(c->ev_timer, &tv);
}

/* The connection is gone or never came up: fail what it carried, retry
 * later, and if that leaves the pool with nothing up or coming up, fail the
 * waiting queries too. */
static void conn_fail(db_conn *c, const char *why)
{
    cds_db_pool *pool = c->pool;
    if (c->state == C_READY)
        db_log("connection %d lost: %s", c->idx, why);
    else if (c->failures == 0 || c->backoff_ms >= DB_BACKOFF_MAX_MS)
        /* While the database stays down, one line per attempt at full backoff
         * is enough to follow it without flooding the log. */
        db_log("connection %d: cannot connect: %s", c->idx, why);
    c->failures++;

    qlist failed = {0};
    conn_detach_sent(c, &failed);
    conn_close(c);
    conn_schedule_retry(c);
    if (!pool_alive(pool)) pool_detach_queue(pool, &failed);
    deliver_failed(&failed);
}

/* A failure noticed where running callbacks is not allowed (inside
 * cds_db_exec): handled from the event loop right away. */
static void conn_fail_later(db_conn *c, const char *why)
{
    if (c->broken) return;
    db_log("connection %d: %s", c->idx, why);
    c->broken = true;
    struct timeval tv = {0, 0};
    evtimer_add(c->ev_timer, &tv);
}

static void conn_flush(db_conn *c)
{
    int r = PQflush(c->pg);
    if (r < 0) {
        conn_fail_later(c, PQerrorMessage(c->pg));
        return;
    }
    bool want = r == 1;
    if (want == c->writing) return;
    if (want)
        event_add(c->ev_write, NULL);
    else
        event_del(c->ev_write);
    c->writing = want;
}

static void conn_set_ready(db_conn *c)
{
    if (c->failures > 0) db_log("connection %d up again", c->idx);
    c->state = C_READY;
    c->failures = 0;
    c->backoff_ms = DB_BACKOFF_MIN_MS;
    event_del(c->ev_timer); /* the connect deadline */
    pool_mark_up(c->pool);
    pool_dispatch(c->pool);
}

/* Closes the open batch of reads with one sync point (and flushes). */
static void conn_sync(db_conn *c)
{
    if (c->unsynced == 0 || c->broken || !c->pg) return;
    c->unsynced = 0;
    if (c->sent.tail) c->sent.tail->group_end = true;
    if (!PQpipelineSync(c->pg)) {
        conn_fail_later(c, PQerrorMessage(c->pg));
        return;
    }
    conn_flush(c);
}

static void on_sync(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_sync(arg);
}

/* Sends one query on a usable connection. Errors are deferred: this runs
 * inside cds_db_exec too. */
static void conn_send(db_conn *c, cds_db_query *q)
{
    const db_stmt *s = &g_stmts[q->stmt];
    /* A write gets a transaction of its own: close the open batch of reads. */
    if (!s->readonly && c->unsynced > 0) conn_sync(c);
    q->state = Q_SENT;
    q->group_end = false;
    ql_push(&c->sent, q);
    c->nuser++;
    gauge_add(CDS_G_DB_INFLIGHT, 1);
    q->sent_us = cds_now_us();
    if (!PQsendQueryPrepared(c->pg, s->name, q->nparams, q->values, q->lengths, q->formats, 0)) {
        conn_fail_later(c, PQerrorMessage(c->pg));
        return;
    }
    if (s->readonly) {
        /* In pipeline mode libpq only buffers it; the sync goes at the end of the turn. */
        if (c->unsynced++ == 0) event_active(c->ev_sync, EV_TIMEOUT, 1);
        return;
    }
    q->group_end = true;
    if (!PQpipelineSync(c->pg)) {
        conn_fail_later(c, PQerrorMessage(c->pg));
        return;
    }
    conn_flush(c);
}

static void pool_dispatch(cds_db_pool *pool)
{
    cds_db_query *q;
    db_conn *c;
    while ((q = pool->queue.head) != NULL && (c = pool_pick(pool)) != NULL) {
        ql_remove(&pool->queue, q);
        gauge_add(CDS_G_DB_WAITING, -1);
        conn_send(c, q);
    }
}

/* The prepare batch came back: every statement prepared, or the first error. */
static void conn_prepared(db_conn *c, cds_db_query *batch)
{
    if (batch->res && result_is_error(batch->res)) {
        char why[DB_LOG_MAX];
        int i = batch->first_error;
        snprintf(why, sizeof why, "preparing statement \"%s\" failed: %s",
                 i >= 0 && i < g_nstmts ? g_stmts[i].name : "?", PQresultErrorMessage(batch->res));
        query_free(batch);
        conn_fail(c, why);
        return;
    }
    query_free(batch);
    conn_set_ready(c);
}

/* Takes every result libpq has complete. Results belong to the query whose
 * turn it is (c->rcv, else the head of `sent`): a NULL ends one query's
 * results and, inside a batch of reads, passes the turn to the next one. A
 * PGRES_PIPELINE_SYNC ends the group (one query, or a batch of reads) and
 * hands every query of it its answer. Returns -1 when the connection was
 * failed here (the caller must not touch c->pg). */
static int conn_take_results(db_conn *c)
{
    int nulls = 0;
    while (c->pg && !c->broken && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        cds_db_query *q = c->rcv ? c->rcv : c->sent.head;
        if (!r) {
            /* One NULL ends a query's results; libpq also answers NULL when
             * nothing is pending, so a second one in a row means "no more". */
            if (!q) break;
            if (q->nresults > 0 && !q->group_end && q->next) {
                c->rcv = q->next;
                nulls = 0;
                continue;
            }
            if (++nulls >= 2) break;
            continue;
        }
        nulls = 0;
        if (!q) {
            PQclear(r);
            conn_fail(c, "result with no query waiting for it (protocol out of step)");
            return -1;
        }
        if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
            q->nresults++;
            if (q->first_error < 0 && result_is_error(r)) q->first_error = q->nresults - 1;
            if (result_says_gone(r)) c->gone = true;
            /* Keep the first error (e.g. the real cause before an aborted
             * pipeline), otherwise the latest result. */
            if (q->res && result_is_error(q->res)) {
                PQclear(r);
            } else {
                PQclear(q->res);
                q->res = r;
            }
            continue;
        }
        PQclear(r);
        c->rcv = NULL;
        if (c->gone) {
            /* Failover: this group and everything behind it get no answer. */
            conn_fail(c, "the server is no longer a writable primary (failover?)");
            return -1;
        }
        if (c->sent.head && c->sent.head->stmt == DB_PREPARE_BATCH) {
            q = c->sent.head;
            ql_remove(&c->sent, q);
            conn_prepared(c, q);
            if (c->state != C_READY) return -1;
            continue;
        }
        /* Every query of the group, in order. A read skipped because an
         * earlier one of its batch failed never ran: it is sent again. */
        bool end = false;
        cds_db_query *again = NULL; /* the last one put back in the queue */
        while (!end && (q = c->sent.head) != NULL) {
            end = q->group_end;
            ql_remove(&c->sent, q);
            c->nuser--;
            gauge_add(CDS_G_DB_INFLIGHT, -1);
            cds_metrics_observe(CDS_H_DB_QUERY, cds_now_us() - q->sent_us);
            PGresult *res = q->res;
            q->res = NULL;
            if (res && PQresultStatus(res) == PGRES_PIPELINE_ABORTED && q->resent < DB_RESEND_MAX &&
                g_stmts[q->stmt].readonly && !q->cancelled) {
                PQclear(res);
                q->resent++;
                q->nresults = 0;
                q->first_error = -1;
                q->state = Q_QUEUED;
                /* Ahead of the queue, in their order: they were sent before
                 * anything waiting there. In the queue at once, so a callback
                 * below may cancel them like any queued query. */
                ql_insert_after(&c->pool->queue, again, q);
                again = q;
                gauge_add(CDS_G_DB_WAITING, 1);
                continue;
            }
            deliver(q, res);
        }
    }
    return 0;
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    db_conn *c = arg;
    cds_db_pool *pool = c->pool;
    if (c->broken) return; /* the zero timer will fail it */
    if ((what & EV_READ) && !PQconsumeInput(c->pg)) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    /* Nothing here LISTENs, but a statement could: never let them pile up. */
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL)
        PQfreemem(n);
    if (conn_take_results(c) < 0) return;
    if (c->broken) return;
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    if (c->writing || (what & EV_WRITE)) conn_flush(c);
    pool_dispatch(pool);
}

static void on_notice(void *arg, const PGresult *res)
{
    db_conn *c = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    /* NOTICE and below are chatter (RAISE NOTICE, "already exists, skipping");
     * WARNING and FATAL (e.g. the server terminating us) are worth a line. */
    if (sev && (strcmp(sev, "NOTICE") == 0 || strcmp(sev, "INFO") == 0 || strcmp(sev, "LOG") == 0 ||
                strcmp(sev, "DEBUG") == 0))
        return;
    db_log("connection %d: server %s: %s", c->idx, sev ? sev : "message", msg ? msg : "");
}

/* Connected: switch to non-blocking pipeline mode and prepare the registry. */
static void conn_connected(db_conn *c)
{
    cds_db_pool *pool = c->pool;
    if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    PQsetNoticeReceiver(c->pg, on_notice, c);
    int fd = PQsocket(c->pg);
    event_assign(c->ev_read, pool->base, fd, EV_READ | EV_PERSIST, on_io, c);
    event_assign(c->ev_write, pool->base, fd, EV_WRITE | EV_PERSIST, on_io, c);
    event_add(c->ev_read, NULL);
    if (g_nstmts == 0) {
        conn_set_ready(c);
        return;
    }
    c->state = C_PREPARING;
    cds_db_query *batch = query_new(pool, DB_PREPARE_BATCH, 0, NULL, NULL, NULL, NULL);
    if (!batch) {
        conn_fail(c, "out of memory");
        return;
    }
    batch->state = Q_SENT;
    batch->group_end = true;
    ql_push(&c->sent, batch);
    for (int i = 0; i < g_nstmts; i++) {
        if (!PQsendPrepare(c->pg, g_stmts[i].name, g_stmts[i].sql, g_stmts[i].nparams, NULL)) {
            conn_fail(c, PQerrorMessage(c->pg));
            return;
        }
    }
    if (!PQpipelineSync(c->pg)) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    conn_flush(c);
}

static void conn_wait_connect(db_conn *c, PostgresPollingStatusType st)
{
    int fd = PQsocket(c->pg);
    if (fd < 0) {
        conn_fail(c, "connection has no socket");
        return;
    }
    /* The socket may differ from the previous step's, hence re-assigning. */
    short what = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
    event_assign(c->ev_connect, c->pool->base, fd, what, on_connect_io, c);
    event_add(c->ev_connect, NULL);
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    db_conn *c = arg;
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    if (st == PGRES_POLLING_OK)
        conn_connected(c);
    else if (st == PGRES_POLLING_FAILED)
        conn_fail(c, PQerrorMessage(c->pg));
    else
        conn_wait_connect(c, st);
}

static void conn_start(db_conn *c)
{
    cds_db_pool *pool = c->pool;
    /* Note: with a host name (not hostaddr) libpq resolves it synchronously
     * here; deployments use a socket path or an address. */
    /* Named in pg_stat_activity unless the connection string names it. */
    static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const values[] = {pool->conninfo, "cds", NULL};
    c->pg = PQconnectStartParams(keys, values, 1);
    if (!c->pg) {
        conn_fail(c, "out of memory");
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    c->state = C_CONNECTING;
    struct timeval tv = ms_tv(DB_CONNECT_TIMEOUT_MS);
    evtimer_add(c->ev_timer, &tv);
    conn_wait_connect(c, PGRES_POLLING_WRITING);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    db_conn *c = arg;
    switch (c->state) {
    case C_BACKOFF:
        conn_start(c);
        break;
    case C_CONNECTING:
    case C_PREPARING:
        conn_fail(c, c->broken ? "send failed" : "connect timed out");
        break;
    case C_READY:
        if (c->broken) conn_fail(c, "send failed");
        break;
    case C_CLOSED:
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Public API. */

cds_db_pool *cds_db_pool_new(struct event_base *base, const cds_db_config *cfg)
{
    if (!base || !cfg || !cfg->conninfo) return NULL;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(cfg->conninfo, &perr);
    if (!opts) {
        /* libpq's message may quote part of the string, password included. */
        db_log("invalid database connection string (details withheld: it may hold a secret)");
        PQfreemem(perr);
        return NULL;
    }
    PQconninfoFree(opts);

    cds_db_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->base = base;
    pool->nconns = cfg->conns > 0 ? cfg->conns : DB_DEFAULT_CONNS;
    pool->max_inflight = cfg->max_inflight > 0 ? cfg->max_inflight : DB_DEFAULT_INFLIGHT;
    pool->max_queue = cfg->max_queue > 0 ? cfg->max_queue : DB_DEFAULT_QUEUE;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    pool->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
                (uint64_t)(uintptr_t)pool;
    if (pool->rng == 0) pool->rng = 0x9E3779B97F4A7C15ULL;
    pool->conninfo = dup_str(cfg->conninfo);
    pool->conns = calloc((size_t)pool->nconns, sizeof *pool->conns);
    if (!pool->conninfo || !pool->conns) goto fail;
    for (int i = 0; i < pool->nconns; i++) {
        db_conn *c = &pool->conns[i];
        c->pool = pool;
        c->idx = i;
        c->state = C_BACKOFF;
        c->backoff_ms = DB_BACKOFF_MIN_MS;
        c->ev_connect = event_new(base, -1, 0, on_connect_io, c);
        c->ev_read = event_new(base, -1, 0, on_io, c);
        c->ev_write = event_new(base, -1, 0, on_io, c);
        c->ev_timer = evtimer_new(base, on_timer, c);
        c->ev_sync = event_new(base, -1, 0, on_sync, c);
        if (!c->ev_connect || !c->ev_read || !c->ev_write || !c->ev_timer || !c->ev_sync) goto fail;
    }
    atomic_store(&g_pool_created, true);
    atomic_fetch_add(&g_pools_never_up, 1);
    for (int i = 0; i < pool->nconns; i++)
        conn_start(&pool->conns[i]);
    return pool;

fail:
    if (pool->conns) {
        for (int i = 0; i < pool->nconns; i++) {
            db_conn *c = &pool->conns[i];
            if (c->ev_connect) event_free(c->ev_connect);
            if (c->ev_read) event_free(c->ev_read);
            if (c->ev_write) event_free(c->ev_write);
            if (c->ev_timer) event_free(c->ev_timer);
            if (c->ev_sync) event_free(c->ev_sync);
        }
    }
    free(pool->conns);
    free(pool->conninfo);
    free(pool);
    return NULL;
}

void cds_db_pool_free(cds_db_pool *pool)
{
    if (!pool || pool->closing) return;
    if (pool->delivering > 0) {
        /* Freeing the pool under a callback would pull the connection and
         * its FIFO out from under the code that is iterating them. */
        fprintf(stderr, "cds db: cds_db_pool_free called from a pool callback\n");
        abort();
    }
    pool->closing = true;
    pool_mark_up(pool); /* a pool that goes away no longer holds the start back */
    qlist failed = {0};
    for (int i = 0; i < pool->nconns; i++) {
        db_conn *c = &pool->conns[i];
        conn_detach_sent(c, &failed);
        conn_close(c);
        c->state = C_CLOSED;
    }
    pool_detach_queue(pool, &failed);
    deliver_failed(&failed);
    for (int i = 0; i < pool->nconns; i++) {
        db_conn *c = &pool->conns[i];
        event_free(c->ev_connect);
        event_free(c->ev_read);
        event_free(c->ev_write);
        event_free(c->ev_timer);
        event_free(c->ev_sync);
    }
    free(pool->conns);
    free(pool->conninfo);
    free(pool);
}

int cds_db_exec(cds_db_pool *pool, int stmt, int nparams, const char *const *values, cds_db_cb cb,
                void *arg, cds_db_query **out)
{
    return cds_db_exec_bin(pool, stmt, nparams, values, NULL, cb, arg, out);
}

int cds_db_exec_bin(cds_db_pool *pool, int stmt, int nparams, const char *const *values,
                    const int *lengths, cds_db_cb cb, void *arg, cds_db_query **out)
{
    if (out) *out = NULL;
    if (!pool || pool->closing) return CDS_DB_EDOWN;
    if (stmt < 0 || stmt >= g_nstmts || nparams != g_stmts[stmt].nparams ||
        (nparams > 0 && !values))
        return CDS_DB_EINVAL;
    /* Behind a non-empty queue a new query waits its turn. */
    db_conn *c = pool->queue.n == 0 ? pool_pick(pool) : NULL;
    if (!c) {
        if (!pool_alive(pool)) return CDS_DB_EDOWN;
        if (pool->queue.n >= (size_t)pool->max_queue) return CDS_DB_EBUSY;
    }
    cds_db_query *q = query_new(pool, stmt, nparams, values, lengths, cb, arg);
    if (!q) return CDS_DB_EBUSY; /* out of memory: shed load like a full queue */
    if (c) {
        conn_send(c, q);
    } else {
        ql_push(&pool->queue, q);
        gauge_add(CDS_G_DB_WAITING, 1);
    }
    if (out) *out = q;
    return CDS_DB_OK;
}

void cds_db_cancel(cds_db_query *q)
{
    if (!q) return;
    switch (q->state) {
    case Q_QUEUED:
        ql_remove(&q->pool->queue, q);
        gauge_add(CDS_G_DB_WAITING, -1);
        query_free(q);
        break;
    case Q_SENT:
    case Q_DETACHED:
        /* Still owned by the connection's FIFO: its result must be read to
         * keep the pipeline in step, and is then dropped. */
        q->cancelled = true;
        q->cb = NULL;
        q->arg = NULL;
        break;
    default:
        break;
    }
}

int cds_db_all_started(void)
{
    return atomic_load(&g_pools_never_up) <= 0;
}

int cds_db_ready(const cds_db_pool *pool)
{
    if (!pool || pool->closing) return 0;
    for (int i = 0; i < pool->nconns; i++)
        if (conn_usable(&pool->conns[i])) return 1;
    return 0;
}
