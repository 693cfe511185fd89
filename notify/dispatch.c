/* The dispatcher of one event-loop thread.
 *
 * Wake-ups: a NOTIFY on channel cds_outbox (written by every step that
 * queues notifications, and by the sweeper) reaches the process's LISTEN
 * thread, which activates each thread's wake event; a poll timer claims
 * anyway every CDS_NOTIFY_POLL_MS, for retries that fall due and NOTIFYs
 * lost while the LISTEN connection was down.
 *
 * Claims: cds_outbox_claim() takes up to `batch` due rows with FOR UPDATE
 * SKIP LOCKED and marks them `sending`, so no two dispatchers (threads or
 * processes) ever hold the same row. A full batch is followed by another
 * claim at once; the number of sends in flight per thread is capped
 * (max_inflight), and a claim waits for room.
 *
 * Database: each thread's dispatcher has a connection of its own, apart from
 * the thread's pool that serves the API. Sharing it, claims and results
 * queued in the pipeline behind whatever requests were in flight: during a
 * burst of dossier imports (600 in about a second) a step's SMS waited
 * 300-500 ms for its claim and again for its record, while the same SMS
 * took 10 ms in steady traffic. Claims and records are few and short, so
 * one connection per thread (pipelined) carries them.
 *
 * Results: each finished attempt becomes one JSON object in a batch that
 * cds_outbox_record() writes in one statement, when 256 are waiting or 5 ms
 * after the first. A result is applied only if the row is still claimed by
 * that attempt. If the process dies between a send and its record, the row
 * stays `sending`; the sweeper (thread 0 of each process) hands it back after
 * CDS_NOTIFY_CLAIM_TIMEOUT and it is sent again with the same idempotency
 * key (the outbox id), which the provider uses to drop the repeat.
 *
 * Retries: a temporary failure waits base * 2^(attempt-1), capped, with
 * "equal jitter" (half fixed, half random) so a gateway that comes back is
 * not hit by every message at once; the provider's Retry-After wins when
 * longer. After max_attempts the message fails as technical-failure. */
#include "internal.h"
#include "core/db.h"
#include "core/db_listen.h"
#include "core/log.h"
#include "core/metrics.h"

#include <event2/event.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD_BATCH 256
#define RECORD_DELAY_MS 5
#define MAX_THREADS 256

struct nt_worker {
    cds_worker *cw;
    cds_db_pool *db; /* the dispatcher's own connection (see the top comment) */
    int claiming, want, stopping, asked;
    int inflight;
    atomic_int full; /* no room to claim: the LISTEN thread wakes another */
    nt_msg *msgs; /* in flight, to cancel when the thread stops */
    cds_db_query *claim_q, *record_q, *sweep_q;
    struct event *wake, *poll, *flush, *sweep;
    json_t *results; /* waiting to be recorded */
    int flush_armed, recording;
    nt_fcm_state fcm;
};

static int stmt_claim = -1, stmt_record = -1, stmt_sweep = -1;
static char g_node[128];
static char *g_conninfo;
static char g_channels[32]; /* "{sms,push}" or less; "" : nothing to send */
static cds_listener *g_listener;
static pthread_mutex_t g_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static nt_worker *g_workers[MAX_THREADS];

static atomic_llong c_claimed, c_accepted, c_temporary, c_permanent, c_technical, c_swept;

static int64_t m_claimed(void) { return c_claimed; }
static int64_t m_accepted(void) { return c_accepted; }
static int64_t m_temporary(void) { return c_temporary; }
static int64_t m_permanent(void) { return c_permanent; }
static int64_t m_technical(void) { return c_technical; }
static int64_t m_swept(void) { return c_swept; }

cds_http_client *nt_http(nt_worker *w)
{
    return w->cw->http;
}

struct event_base *nt_base(nt_worker *w)
{
    return w->cw->base;
}

int nt_worker_id(nt_worker *w)
{
    return w->cw->id;
}

nt_fcm_state *nt_fcm_of(nt_worker *w)
{
    return &w->fcm;
}

/* ---- results ---- */

static void flush(nt_worker *w);

static void on_recorded(void *arg, PGresult *res)
{
    nt_worker *w = arg;
    w->recording = 0;
    w->record_q = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        cds_log(CDS_LOG_WARN, "notify_record_failed",
                "results not recorded (%s); the sweeper will hand the rows back",
                res ? PQresultErrorMessage(res) : "connection lost");
    if (!w->stopping && json_array_size(w->results) > 0) flush(w);
}

static void flush(nt_worker *w)
{
    if (w->recording || json_array_size(w->results) == 0) return;
    char *txt = json_dumps(w->results, JSON_COMPACT);
    json_array_clear(w->results);
    if (!txt) return;
    const char *p[1] = {txt};
    if (cds_db_exec(w->db, stmt_record, 1, p, on_recorded, w, &w->record_q) == CDS_DB_OK)
        w->recording = 1;
    else
        cds_log(CDS_LOG_WARN, "notify_record_failed",
                "database busy or down; the sweeper will hand the rows back");
    free(txt);
}

static void on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nt_worker *w = arg;
    w->flush_armed = 0;
    flush(w);
}

static long backoff_ms(int attempt, long hint_ms)
{
    long d = g_notify.backoff_base_ms;
    for (int i = 1; i < attempt && d < g_notify.backoff_max_ms; i++) d *= 2;
    if (d > g_notify.backoff_max_ms) d = g_notify.backoff_max_ms;
    unsigned int rnd = 0;
    RAND_bytes((unsigned char *)&rnd, sizeof rnd);
    long half = d / 2;
    d = half + (half > 0 ? (long)(rnd % (unsigned long)(half + 1)) : 0);
    return hint_ms > d ? hint_ms : d;
}

static const char *status_name(int s)
{
    switch (s) {
    case NT_PENDING: return "pending";
    case NT_SENT: return "sent";
    case NT_TEMPORARY: return "temporary-failure";
    case NT_PERMANENT: return "permanent-failure";
    default: return "technical-failure";
    }
}

static void claim(nt_worker *w);

void nt_done(nt_msg *m, const nt_result *r)
{
    nt_worker *w = m->w;
    int status = r->status;
    char err[300];
    snprintf(err, sizeof err, "%s", r->error);
    if (status == NT_TEMPORARY && m->attempt >= g_notify.max_attempts) {
        status = NT_TECHNICAL;
        snprintf(err, sizeof err, "attempts exhausted (%d); last: %.200s", m->attempt, r->error);
    }
    cds_metrics_observe(CDS_H_NOTIFY_DISPATCH, cds_now_us() - m->started_us);
    switch (status) {
    case NT_PENDING:
    case NT_SENT: c_accepted++; break;
    case NT_TEMPORARY: c_temporary++; break;
    case NT_PERMANENT: c_permanent++; break;
    default: c_technical++; break;
    }
    if (status != NT_PENDING && status != NT_SENT)
        cds_log(CDS_LOG_INFO, "notify_failed", "id=%lld attempt=%d status=%s provider=%s error=%s",
                (long long)m->id, m->attempt, status_name(status), r->provider ? r->provider : "-",
                err);
    json_t *o = json_pack("{s:I,s:i,s:s}", "id", (json_int_t)m->id, "attempt", m->attempt,
                          "status", status_name(status));
    if (r->provider) json_object_set_new(o, "provider", json_string(r->provider));
    if (r->provider_id[0]) json_object_set_new(o, "provider_message_id", json_string(r->provider_id));
    if (err[0]) json_object_set_new(o, "error", json_string(err));
    if (status == NT_TEMPORARY)
        json_object_set_new(o, "retry_ms", json_integer(backoff_ms(m->attempt, r->retry_after_ms)));
    if (m->template_version) json_object_set_new(o, "template_version", json_integer(m->template_version));
    if (m->rendered && (status == NT_PENDING || status == NT_SENT))
        json_object_set(o, "rendered", m->rendered);
    if (r->delete_device) json_object_set_new(o, "delete_device", json_true());
    json_array_append_new(w->results, o);
    if (m->lprev) m->lprev->lnext = m->lnext;
    else w->msgs = m->lnext;
    if (m->lnext) m->lnext->lprev = m->lprev;
    nt_msg_free(m);
    w->inflight--;
    if (w->stopping) return;
    if (json_array_size(w->results) >= RECORD_BATCH) {
        flush(w);
    } else if (!w->flush_armed) {
        struct timeval tv = {0, RECORD_DELAY_MS * 1000};
        evtimer_add(w->flush, &tv);
        w->flush_armed = 1;
    }
    if (w->want && w->inflight <= g_notify.max_inflight - g_notify.batch) claim(w);
}

void nt_fail(nt_msg *m, int status, const char *provider, const char *fmt, ...)
{
    nt_result r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.provider = provider;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.error, sizeof r.error, fmt, ap);
    va_end(ap);
    nt_done(m, &r);
}

/* ---- claims ---- */

static void route(nt_msg *m, PGresult *res, int row)
{
    const char *channel = PQgetvalue(res, row, 1);
    const char *platform = PQgetisnull(res, row, 7) ? NULL : PQgetvalue(res, row, 7);
    nt_result r;
    memset(&r, 0, sizeof r);
    m->channel = strcmp(channel, "sms") == 0 ? NT_SMS : NT_PUSH;
    if (!PQgetisnull(res, row, 9))
        snprintf(m->dossier_id, sizeof m->dossier_id, "%s", PQgetvalue(res, row, 9));
    snprintf(m->step, sizeof m->step, "%s", PQgetvalue(res, row, 3));
    if (m->channel == NT_PUSH) {
        if (!platform) {
            nt_fail(m, NT_PERMANENT, NULL, "the device was removed before the push was sent");
            return;
        }
        m->platform = strcmp(platform, "apns") == 0 ? NT_APNS : NT_FCM;
        m->token = strdup(PQgetvalue(res, row, 8));
    }
    if (nt_render(m, PQgetvalue(res, row, 3), PQgetvalue(res, row, 4),
                  PQgetisnull(res, row, 5) ? NULL : PQgetvalue(res, row, 5), &r) != 0) {
        nt_done(m, &r);
        return;
    }
    if (m->channel == NT_SMS) {
        nt_sms_send(m);
    } else if (m->platform == NT_APNS) {
        if (nt_apns_enabled()) nt_apns_send(m);
        else nt_fail(m, NT_TEMPORARY, "apns", "APNs is not configured on dispatcher %s", g_node);
    } else {
        if (nt_fcm_enabled()) nt_fcm_send(m);
        else nt_fail(m, NT_TEMPORARY, "fcm", "FCM is not configured on dispatcher %s", g_node);
    }
}

static void on_claimed(void *arg, PGresult *res)
{
    nt_worker *w = arg;
    w->claiming = 0;
    w->claim_q = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_log(CDS_LOG_WARN, "notify_claim_failed", "%s",
                res ? PQresultErrorMessage(res) : "connection lost");
        return; /* the poll timer tries again */
    }
    int n = PQntuples(res);
    c_claimed += n;
    uint64_t now = cds_now_us();
    for (int i = 0; i < n && !w->stopping; i++) {
        nt_msg *m = calloc(1, sizeof *m);
        if (!m) break; /* left in `sending`: the sweeper hands it back */
        m->w = w;
        m->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        m->attempt = (int)strtol(PQgetvalue(res, i, 2), NULL, 10);
        snprintf(m->key, sizeof m->key, "%lld", (long long)m->id);
        m->started_us = now;
        m->lnext = w->msgs;
        if (w->msgs) w->msgs->lprev = m;
        w->msgs = m;
        w->inflight++;
        route(m, res, i);
    }
    if (n > 0 && n >= w->asked) w->want = 1; /* a full batch: there may be more */
    if (w->want) claim(w);
}

static void claim(nt_worker *w)
{
    if (w->stopping || !w->db || !g_channels[0]) return;
    if (w->claiming) {
        w->want = 1;
        return;
    }
    int room = g_notify.max_inflight - w->inflight;
    int n = room < g_notify.batch ? room : g_notify.batch;
    if (n <= 0 || (n < g_notify.batch / 4 && n < room)) {
        w->want = 1;
        atomic_store_explicit(&w->full, 1, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&w->full, 0, memory_order_relaxed);
    char limit[16], per_hour[16];
    snprintf(limit, sizeof limit, "%d", n);
    snprintf(per_hour, sizeof per_hour, "%d", g_notify.sms_per_hour);
    const char *p[4] = {g_node, limit, g_channels, per_hour};
    w->want = 0;
    w->asked = n; /* a full answer means more may be due */
    if (cds_db_exec(w->db, stmt_claim, 4, p, on_claimed, w, &w->claim_q) == CDS_DB_OK)
        w->claiming = 1;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    claim(arg);
}

/* ---- the sweeper ---- */

static void on_swept(void *arg, PGresult *res)
{
    nt_worker *w = arg;
    w->sweep_q = NULL;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        if (n > 0) {
            c_swept += n;
            cds_log(CDS_LOG_WARN, "notify_swept", "%ld messages left in 'sending' handed back", n);
        }
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nt_worker *w = arg;
    char after[16], max[16];
    snprintf(after, sizeof after, "%d", g_notify.claim_timeout_s);
    snprintf(max, sizeof max, "%d", g_notify.max_attempts);
    const char *p[2] = {after, max};
    if (!w->sweep_q) cds_db_exec(w->db, stmt_sweep, 2, p, on_swept, w, &w->sweep_q);
}

/* ---- LISTEN ---- */

static void wake_all(void)
{
    pthread_mutex_lock(&g_reg_mu);
    for (int i = 0; i < MAX_THREADS; i++)
        if (g_workers[i]) event_active(g_workers[i]->wake, EV_READ, 0);
    pthread_mutex_unlock(&g_reg_mu);
}

/* One NOTIFY wakes one thread, in turn, skipping threads with no room to
 * claim: a step queues a handful of rows, which one claim takes, and every
 * other thread woken would only have made an empty claim (a database round
 * trip each, one per thread and step). A thread that finds a full batch
 * claims again at once, and the poll timer covers a thread that misses its
 * turn. */
static void wake_one(void)
{
    static unsigned next; /* only the LISTEN thread calls this */
    pthread_mutex_lock(&g_reg_mu);
    int pick = -1;
    for (int k = 0; k < MAX_THREADS; k++) {
        unsigned i = (next + (unsigned)k) % MAX_THREADS;
        if (!g_workers[i]) continue;
        if (pick < 0) pick = (int)i;
        if (!atomic_load_explicit(&g_workers[i]->full, memory_order_relaxed)) {
            pick = (int)i;
            break;
        }
    }
    if (pick >= 0) {
        event_active(g_workers[pick]->wake, EV_READ, 0);
        next = (unsigned)pick + 1;
    }
    pthread_mutex_unlock(&g_reg_mu);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    (void)channel;
    (void)payload;
    (void)arg;
    wake_one();
}

static void on_listen_connect(PGconn *conn, void *arg)
{
    (void)conn;
    (void)arg;
    wake_all(); /* whatever was queued while we were not listening */
}

/* ---- life ---- */

int nt_dispatch_init(const char *db_conninfo)
{
    stmt_claim = cds_db_stmt_register(
        "notify_claim",
        "SELECT id, channel, attempts, template, vars::text, recipient_sealed, device_id, "
        "platform, token, dossier_id FROM cds_outbox_claim($1, $2::int, $3::text[], $4::int)",
        4);
    stmt_record = cds_db_stmt_register("notify_record", "SELECT cds_outbox_record($1::jsonb)", 1);
    stmt_sweep = cds_db_stmt_register(
        "notify_sweep", "SELECT cds_outbox_sweep(make_interval(secs => $1::int), $2::int)", 2);
    if (stmt_claim < 0 || stmt_record < 0 || stmt_sweep < 0) return -1;
    cds_metrics_register("cds_notify_claimed_total", "Outbox rows claimed for sending.", m_claimed);
    cds_metrics_register("cds_notify_accepted_total",
                         "Notifications a provider accepted (pending or sent).", m_accepted);
    cds_metrics_register("cds_notify_temporary_failures_total",
                         "Attempts that failed and will be retried.", m_temporary);
    cds_metrics_register("cds_notify_permanent_failures_total",
                         "Notifications refused for good by a provider or the rate limit.",
                         m_permanent);
    cds_metrics_register("cds_notify_technical_failures_total",
                         "Notifications we could not send (template, attempts exhausted).",
                         m_technical);
    cds_metrics_register("cds_notify_swept_total",
                         "Rows handed back after their dispatcher left them in sending.", m_swept);

    if (g_notify.node && *g_notify.node) {
        snprintf(g_node, sizeof g_node, "%s", g_notify.node);
    } else {
        char host[64] = "";
        gethostname(host, sizeof host - 1);
        snprintf(g_node, sizeof g_node, "%s:%ld", host, (long)getpid());
    }
    int sms = nt_sms_enabled(), push = nt_fcm_enabled() || nt_apns_enabled();
    snprintf(g_channels, sizeof g_channels, "%s", sms && push ? "{sms,push}" : sms ? "{sms}"
                                                  : push ? "{push}" : "");
    free(g_conninfo);
    g_conninfo = db_conninfo ? strdup(db_conninfo) : NULL;
    if (!g_notify.dispatch || !db_conninfo || !g_channels[0]) {
        g_channels[0] = 0;
        cds_log(CDS_LOG_INFO, "notify_dispatch", "this process does not send notifications (%s)",
                !g_notify.dispatch ? "CDS_NOTIFY_DISPATCH=0"
                : !db_conninfo     ? "no database"
                                   : "no SMS gateway, FCM or APNs configured");
        return 0;
    }
    const char *channels[] = {"cds_outbox"};
    g_listener = cds_listener_start(db_conninfo, channels, 1, on_notify, on_listen_connect, NULL);
    if (!g_listener) return -1;
    cds_log(CDS_LOG_INFO, "notify_dispatch", "node=%s channels=%s batch=%d max_inflight=%d",
            g_node, g_channels, g_notify.batch, g_notify.max_inflight);
    return 0;
}

void nt_dispatch_shutdown(void)
{
    if (g_listener) cds_listener_stop(g_listener);
    g_listener = NULL;
    free(g_conninfo);
    g_conninfo = NULL;
}

void cds_notify_worker_start(cds_worker *cw)
{
    if (!g_channels[0] || !cw->db || cw->id < 0 || cw->id >= MAX_THREADS) return;
    nt_worker *w = calloc(1, sizeof *w);
    if (!w) return;
    w->cw = cw;
    cds_db_config dc = {.conninfo = g_conninfo, .conns = 1};
    w->db = g_conninfo ? cds_db_pool_new(cw->base, &dc) : NULL;
    if (!w->db) {
        cds_log(CDS_LOG_WARN, "notify_dispatch",
                "thread %d: no connection of its own; claims share the API pool", cw->id);
        w->db = cw->db;
    }
    w->results = json_array();
    w->wake = event_new(cw->base, -1, 0, on_wake, w);
    w->poll = event_new(cw->base, -1, EV_PERSIST, on_wake, w);
    w->flush = evtimer_new(cw->base, on_flush_timer, w);
    struct timeval pt = {g_notify.poll_ms / 1000, (g_notify.poll_ms % 1000) * 1000};
    event_add(w->poll, &pt);
    if (cw->id == 0) {
        int every = g_notify.claim_timeout_s / 4;
        if (every < 1) every = 1;
        if (every > 30) every = 30;
        w->sweep = event_new(cw->base, -1, EV_PERSIST, on_sweep, w);
        struct timeval st = {every, 0};
        event_add(w->sweep, &st);
    }
    cw->app = w;
    pthread_mutex_lock(&g_reg_mu);
    g_workers[cw->id] = w;
    pthread_mutex_unlock(&g_reg_mu);
    event_active(w->wake, EV_READ, 0); /* rows may be waiting from before we started */
}

void cds_notify_worker_stop(cds_worker *cw)
{
    nt_worker *w = cw->app;
    if (!w || cw->id < 0 || cw->id >= MAX_THREADS || g_workers[cw->id] != w) return;
    pthread_mutex_lock(&g_reg_mu);
    g_workers[cw->id] = NULL;
    pthread_mutex_unlock(&g_reg_mu);
    w->stopping = 1;
    /* Sends and queries still in flight are cancelled; their rows stay
     * `sending` and the sweeper of a live dispatcher hands them back. */
    nt_fcm_worker_stop(w);
    while (w->msgs) {
        nt_msg *m = w->msgs;
        w->msgs = m->lnext;
        if (m->call) cds_http_cancel(m->call);
        nt_msg_free(m);
    }
    if (w->claim_q) cds_db_cancel(w->claim_q);
    if (w->record_q) cds_db_cancel(w->record_q);
    if (w->sweep_q) cds_db_cancel(w->sweep_q);
    if (w->db != cw->db) cds_db_pool_free(w->db);
    event_free(w->wake);
    event_free(w->poll);
    event_free(w->flush);
    if (w->sweep) event_free(w->sweep);
    json_decref(w->results);
    cw->app = NULL;
    free(w);
}
