/* The notification dispatcher: the notify outbox run by core/outbox.h on
 * every event-loop thread, and what is notify's own in it.
 *
 * Wake-ups: a NOTIFY on channel cds_outbox (written by every step that
 * queues notifications, and by the sweeper) wakes one thread in turn; a poll
 * timer claims anyway every CDS_NOTIFY_POLL_MS.
 *
 * Claims: cds_outbox_claim() takes up to `batch` due rows with FOR UPDATE
 * SKIP LOCKED and marks them `sending`, so no two dispatchers (threads or
 * processes) ever hold the same row; at most max_inflight sends per thread.
 * Each row is rendered and handed to its channel (g_channel_table): the SMS
 * gateway choice (sms.c), Zalo ZNS (zns_send.c) or the push adapter of the
 * device's platform (push.c).
 *
 * Database: each thread's dispatcher has a connection of its own, apart from
 * the thread's pool that serves the API. Sharing it, during a burst of
 * dossier imports (600 in about a second) a step's SMS waited 300-500 ms for
 * its claim and again for its record, while the same SMS took 10 ms in
 * steady traffic.
 *
 * Results: each finished attempt becomes one JSON object in a batch that
 * cds_outbox_record() (SQL) writes in one statement at the end of the event
 * loop's turn (or when 256 are waiting); results that finish while a record
 * is in flight go with the next one, as soon as it returns, so batches grow
 * with the load and no result waits for a timer. A 5 ms wait (until
 * 2026-12-05) held back each dossier's next text message (promoted by the
 * record) and made delivery receipts that beat their record answer 503 and
 * come back a second later. A result is applied only if the row is still
 * claimed by that attempt. If the process dies between a send and its record, the row
 * stays `sending`; the sweeper (thread 0 of each process) hands it back after
 * CDS_NOTIFY_CLAIM_TIMEOUT and it is sent again with the same idempotency
 * key (the outbox id), which the provider uses to drop the repeat.
 *
 * Retries: a temporary failure waits cds_outbox_backoff_ms (exponential,
 * capped, equal jitter; the provider's Retry-After wins when longer). After
 * max_attempts the message fails as technical-failure. */
#include "internal.h"
#include "core/db.h"
#include "core/json_out.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/outbox.h"
#include "core/periodic.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_BATCH 256
#define RECORD_DELAY_MS 0 /* the end of this turn of the event loop */

/* The notify state of one event-loop thread (its worker slot). */
struct nt_worker {
    cds_worker *cw;
    cds_outbox_worker *ow;
    cds_periodic *sweep; /* thread 0 */
};

static int stmt_claim = -1, stmt_record = -1, stmt_sweep = -1;
static int g_slot = -1;
static char g_channels[32]; /* "{sms,push}" or less; "" : nothing to send */
static char g_per_hour[16], g_window[16];
static cds_outbox *g_outbox;

static atomic_llong c_accepted, c_temporary, c_permanent, c_technical, c_swept, c_fallback;

static int64_t m_claimed(void) { return cds_outbox_claimed(g_outbox); }
static int64_t m_accepted(void) { return c_accepted; }
static int64_t m_temporary(void) { return c_temporary; }
static int64_t m_permanent(void) { return c_permanent; }
static int64_t m_technical(void) { return c_technical; }
static int64_t m_swept(void) { return c_swept; }
static int64_t m_fallback(void) { return c_fallback; }

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

cds_worker *nt_thread(nt_worker *w)
{
    return w->cw;
}

cds_db_pool *nt_db(nt_worker *w)
{
    return cds_outbox_db(w->ow);
}

const char *nt_node(void)
{
    return g_outbox ? cds_outbox_node(g_outbox) : "";
}

/* ---- results ---- */

static const char *status_name(int s)
{
    switch (s) {
    case NT_PENDING: return "pending";
    case NT_SENT: return "sent";
    case NT_TEMPORARY: return "temporary-failure";
    case NT_PERMANENT: return "permanent-failure";
    case NT_FALLBACK: return "fallback";
    default: return "technical-failure";
    }
}

/* One result as cds_outbox_record (SQL) reads it, as JSON text: written
 * at once, with no json_t tree per message. */
static int write_result(cds_buf *o, const nt_msg *m, int status, const nt_result *r,
                        const char *err, long retry_ms)
{
    cds_buf_addc(o, '{');
    cds_json_member_int(o, "id", (long long)m->id);
    cds_json_member_int(o, "attempt", m->attempt);
    cds_json_member_str(o, "status", status_name(status));
    if (r->provider) cds_json_member_str(o, "provider", r->provider);
    if (r->provider_id[0]) cds_json_member_text(o, "provider_message_id", r->provider_id);
    if (err[0]) cds_json_member_text(o, "error", err);
    if (status == NT_TEMPORARY) cds_json_member_int(o, "retry_ms", retry_ms);
    if (m->template_version) cds_json_member_int(o, "template_version", m->template_version);
    if (m->rendered && (status == NT_PENDING || status == NT_SENT))
        cds_json_member_raw(o, "rendered", m->rendered);
    if (r->delete_device) cds_json_member_raw(o, "delete_device", "true");
    return cds_buf_addc(o, '}');
}

void nt_done(nt_msg *m, const nt_result *r)
{
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
    case NT_FALLBACK: c_fallback++; break;
    default: c_technical++; break;
    }
    if (status != NT_PENDING && status != NT_SENT)
        cds_log(CDS_LOG_INFO, "notify_failed", "id=%lld attempt=%d status=%s provider=%s error=%s",
                (long long)m->id, m->attempt, status_name(status), r->provider ? r->provider : "-",
                err);
    long retry_ms = status == NT_TEMPORARY
                        ? cds_outbox_backoff_ms(m->attempt, g_notify.backoff_base_ms,
                                                g_notify.backoff_max_ms, r->retry_after_ms)
                        : 0;
    /* Written on the stack; a result longer than that (a long rendered
     * text) on the heap. */
    char mem[4096];
    cds_buf o;
    cds_buf_init_fixed(&o, mem, sizeof mem);
    if (write_result(&o, m, status, r, err, retry_ms) != CDS_BUF_OK) {
        cds_buf_init(&o, (size_t)1 << 20);
        write_result(&o, m, status, r, err, retry_ms);
    }
    if (o.err)
        cds_log(CDS_LOG_WARN, "notify_record_failed",
                "id=%lld: the result cannot be written; the sweeper will hand the row back",
                (long long)m->id);
    else
        cds_outbox_record_text(m->w->ow, cds_buf_str(&o), o.len);
    cds_buf_free(&o);
    cds_outbox_done(&m->row);
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

/* ---- claimed rows ---- */

static cds_outbox_row *take(cds_outbox_worker *ow, PGresult *res, int row)
{
    nt_msg *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->w = cds_outbox_worker_arg(ow);
    m->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    m->attempt = (int)strtol(PQgetvalue(res, row, 2), NULL, 10);
    snprintf(m->key, sizeof m->key, "%lld", (long long)m->id);
    m->started_us = cds_now_us();
    /* The step's trace goes on (a row written outside any trace starts one). */
    if (PQgetisnull(res, row, 11) || cds_trace_resume(&m->log.trace, PQgetvalue(res, row, 11)) != 0)
        cds_trace_new(&m->log.trace);
    return &m->row;
}

static void handle_row(nt_msg *m, PGresult *res, int i);
/* The channels of the outbox (0003, 0022_zns.sql) and whether this node
 * sends each: a ZNS message needs ZNS, or SMS to fall back to. */
static int zns_or_sms(void)
{
    return nt_zns_enabled() || nt_sms_enabled();
}
static const struct {
    const char *name;
    int channel;
    int (*enabled)(void);
} g_channel_table[] = {
    {"sms", NT_SMS, nt_sms_enabled},
    {"push", NT_PUSH, nt_push_enabled},
    {"zns", NT_ZNS, zns_or_sms},
};
#define NCHANNELS (sizeof g_channel_table / sizeof g_channel_table[0])

static int channel_of(const char *name)
{
    for (size_t i = 0; i < NCHANNELS; i++)
        if (strcmp(g_channel_table[i].name, name) == 0) return g_channel_table[i].channel;
    return NT_PUSH;
}

static void handle(cds_outbox_row *row, PGresult *res, int i)
{
    nt_msg *m = (nt_msg *)row;
    cds_log_ctx prev;
    cds_log_ctx_set(&m->log, &prev);
    handle_row(m, res, i); /* m may be freed */
    cds_log_ctx_set(&prev, NULL);
}

static void handle_row(nt_msg *m, PGresult *res, int i)
{
    const char *channel = PQgetvalue(res, i, 1);
    const char *platform = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7);
    nt_result r;
    memset(&r, 0, sizeof r);
    m->channel = channel_of(channel);
    if (!PQgetisnull(res, i, 9))
        snprintf(m->dossier_id, sizeof m->dossier_id, "%s", PQgetvalue(res, i, 9));
    snprintf(m->step, sizeof m->step, "%s", PQgetvalue(res, i, 3));
    if (m->channel == NT_PUSH) {
        if (!platform) {
            nt_fail(m, NT_PERMANENT, NULL, "the device was removed before the push was sent");
            return;
        }
        m->token = strdup(PQgetvalue(res, i, 8));
    }
    if (nt_render(m, PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
                  PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5),
                  PQgetisnull(res, i, 10) ? NULL : PQgetvalue(res, i, 10), &r) != 0) {
        nt_done(m, &r);
        return;
    }
    if (m->channel == NT_SMS) nt_sms_send(m);
    else if (m->channel == NT_ZNS) nt_zns_send(m);
    else nt_push_send(m, platform);
}

static void cancel(cds_outbox_row *row)
{
    nt_msg *m = (nt_msg *)row;
    if (m->call) cds_http_cancel(m->call);
    m->call = NULL;
    if (m->dbq) cds_db_cancel(m->dbq);
    m->dbq = NULL;
}

static void release(cds_outbox_row *row)
{
    nt_msg_free((nt_msg *)row);
}

static const cds_outbox_ops ops = {take, handle, cancel, release};

/* ---- the sweeper ---- */

static void on_swept(void *arg, PGresult *res)
{
    (void)arg;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        if (n > 0) {
            c_swept += n;
            cds_log(CDS_LOG_WARN, "notify_swept", "%ld messages left in 'sending' handed back", n);
        }
    }
}

static void on_sweep(cds_periodic *p, void *arg)
{
    nt_worker *w = arg;
    char after[16], max[16];
    snprintf(after, sizeof after, "%d", g_notify.claim_timeout_s);
    snprintf(max, sizeof max, "%d", g_notify.max_attempts);
    const char *prm[2] = {after, max};
    cds_periodic_query(p, cds_outbox_db(w->ow), stmt_sweep, 2, prm, on_swept);
}

/* ---- life ---- */

int nt_dispatch_init(const char *db_conninfo)
{
    stmt_claim = cds_db_stmt_register(
        "notify_claim",
        "SELECT id, channel, attempts, template, vars::text, recipient_sealed, device_id, "
        "platform, token, dossier_id, digest::text, trace "
        "FROM cds_outbox_claim($1, $2::int, $3::text[], $4::int, $5::int)",
        5);
    stmt_record = cds_db_stmt_register("notify_record", "SELECT cds_outbox_record($1::jsonb)", 1);
    stmt_sweep = cds_db_stmt_register(
        "notify_sweep", "SELECT cds_outbox_sweep(make_interval(secs => $1::int), $2::int)", 2);
    g_slot = cds_worker_slot("notify");
    if (stmt_claim < 0 || stmt_record < 0 || stmt_sweep < 0 || g_slot < 0) return -1;
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
    cds_metrics_register("cds_notify_zns_fallbacks_total",
                         "ZNS messages ZNS refused for good, handed to SMS.", m_fallback);
    cds_metrics_register("cds_notify_swept_total",
                         "Rows handed back after their dispatcher left them in sending.", m_swept);

    size_t len = 0;
    g_channels[0] = 0;
    for (size_t i = 0; i < NCHANNELS; i++)
        if (g_channel_table[i].enabled())
            len += (size_t)snprintf(g_channels + len, sizeof g_channels - len, "%s%s",
                                    len ? "," : "{", g_channel_table[i].name);
    if (len) snprintf(g_channels + len, sizeof g_channels - len, "}");
    snprintf(g_per_hour, sizeof g_per_hour, "%d", g_notify.sms_per_hour);
    snprintf(g_window, sizeof g_window, "%d", g_notify.sms_window_s);
    if (!g_notify.dispatch || !db_conninfo || !g_channels[0]) {
        g_channels[0] = 0;
        cds_log(CDS_LOG_INFO, "notify_dispatch", "this process does not send notifications (%s)",
                !g_notify.dispatch ? "CDS_NOTIFY_DISPATCH=0"
                : !db_conninfo     ? "no database"
                                   : "no SMS gateway, ZNS, FCM or APNs configured");
        return 0;
    }
    cds_outbox_def def = {
        .name = "notify",
        .channel = "cds_outbox",
        .node = g_notify.node,
        .claim_stmt = stmt_claim,
        .claim_args = {g_channels, g_per_hour, g_window},
        .nclaim_args = 3,
        .batch = g_notify.batch,
        .max_inflight = g_notify.max_inflight,
        .refill = g_notify.batch, /* claims go in batches, not one per finished send */
        .poll_ms = g_notify.poll_ms,
        .wake_one = 1,
        .own_conn = 1,
        /* A short claim does not mean the queue is dry: rows locked by the
         * other thread were skipped, or a dossier's next text became due
         * meanwhile. Claiming only after full batches, a thread sat idle
         * until a NOTIFY or the 1 s poll, and row g's drain left a third of
         * the machine idle (perf, 2026-12-05) at ~3,400 msg/s; claiming on
         * until an empty answer: 4,125 msg/s, for one empty claim per
         * burst. */
        .drain = 1,
        .record_stmt = stmt_record,
        .record_batch = RECORD_BATCH,
        .record_delay_ms = RECORD_DELAY_MS,
        .ops = &ops,
    };
    g_outbox = cds_outbox_new(&def, db_conninfo);
    if (!g_outbox) return -1;
    cds_log(CDS_LOG_INFO, "notify_dispatch", "node=%s channels=%s batch=%d max_inflight=%d",
            cds_outbox_node(g_outbox), g_channels, g_notify.batch, g_notify.max_inflight);
    return 0;
}

void nt_dispatch_shutdown(void)
{
    cds_outbox_free(g_outbox);
    g_outbox = NULL;
}

void cds_notify_worker_start(cds_worker *cw)
{
    if (!g_outbox || !cw->db) return;
    nt_worker *w = calloc(1, sizeof *w);
    if (!w) return;
    w->cw = cw;
    cds_worker_set(cw, g_slot, w);
    nt_push_worker_start(w);
    w->ow = cds_outbox_worker_start(g_outbox, cw, w);
    if (!w->ow) {
        cds_notify_worker_stop(cw);
        return;
    }
    /* The ZNS token's fetch goes on the dispatcher's connection ahead of
     * the first claim (queued at the next turn of the loop). */
    nt_zns_worker_start(w);
    if (cw->id == 0) {
        int every = g_notify.claim_timeout_s / 4;
        if (every < 1) every = 1;
        if (every > 30) every = 30;
        w->sweep = cds_periodic_start(cw->base, every * 1000L, on_sweep, w);
    }
}

void cds_notify_worker_stop(cds_worker *cw)
{
    nt_worker *w = cds_worker_get(cw, g_slot);
    if (!w) return;
    /* Sends and queries still in flight are cancelled; their rows stay
     * `sending` and the sweeper of a live dispatcher hands them back. */
    nt_push_worker_stop(w);
    nt_zns_worker_stop(w);
    cds_outbox_worker_stop(w->ow);
    cds_periodic_stop(w->sweep);
    cds_worker_set(cw, g_slot, NULL);
    free(w);
}
