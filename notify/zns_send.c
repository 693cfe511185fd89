/* Sending a step's text message by Zalo ZNS (the calls are built and read
 * by zns.c), with the OA access token and the fallback to SMS.
 *
 * Token: cached per process, shared by its threads (a mutex), safe to lose;
 * the state is in PostgreSQL (zns_oauth, 0022_zns.sql, sealed). It starts
 * from CDS_ZNS_ACCESS_TOKEN when given; when there is no usable one (none,
 * 5 minutes from expiry, or ZNS answered -124 Access token invalid) the
 * process first reads zns_oauth (another process may have refreshed: its
 * access token is taken as is), else refreshes with the refresh token found
 * there (or CDS_ZNS_REFRESH_TOKEN before the first refresh) and writes the
 * answer back: Zalo's refresh tokens are good once, the answer brings the
 * next. Two processes refreshing at the same instant: Zalo refuses the
 * second, whose next attempt reads the first one's tokens. The message that
 * found no token waits for this and is sent again once; the others of the
 * process meanwhile wait on their thread's list, looked at every 2 ms, and
 * go as soon as the token is there (until 2026-12-05 each was answered as a
 * temporary failure and retried 300 ms later: ~35 messages at the start of
 * every drain of row g). A refresh that ended without a token fails the
 * waiting ones as before (temporary, 300 ms); one that never ended (its
 * thread stopped) is forgotten after two call timeouts.
 *
 * Each thread's dispatcher fetches the token when it starts, before its
 * first claim comes back, with a fetch of its own that carries no message
 * (an nt_msg with no channel, freed when the fetch ends): the first
 * messages of a drain find it there or under way.
 *
 * Outcomes (zns.c): accepted -> pending (the delivery webhook says
 * delivered); a definite failure -> fallback: the outbox row becomes an SMS
 * (cds_outbox_record); anything else -> temporary failure on ZNS. A node
 * with SMS but without ZNS configured hands every ZNS message to SMS the
 * same way, so a citizen's choice of Zalo never leaves a step untold. */
#include "internal.h"
#include "auth/auth.h"
#include "core/log.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EARLY_US (5ull * 60 * 1000000)
#define WAIT_MS 300
#define TICK_MS 2       /* how often a thread looks whether the token came */
#define TRIED_REFRESH 1u /* m->tried: this attempt already refreshed the token */

/* One thread's messages waiting for the refresh under way, and its fetch at
 * start. */
typedef struct zns_thread {
    nt_worker *w;
    nt_msg *fetch;              /* the message-less fetch, while under way */
    nt_msg *waiting, **waiting_tail; /* linked by m->next */
    struct event *tick;
} zns_thread;
static int g_slot = -1;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static nt_zns_token g_tok;    /* access (may be ""), refresh */
static uint64_t g_expires_us; /* 0: unknown (a configured token: until refused) */
static int g_refreshing;
static uint64_t g_refresh_started_us;
static int stmt_get = -1, stmt_put = -1;

#define AAD_REFRESH "zns.refresh_token"
#define AAD_ACCESS "zns.access_token"

int nt_zns_init(void)
{
    stmt_get = cds_db_stmt_register(
        "zns_token_get",
        "SELECT refresh_sealed, access_sealed, "
        "floor(extract(epoch FROM access_expires_at - now()))::bigint FROM zns_oauth WHERE id = 1",
        0);
    stmt_put = cds_db_stmt_register(
        "zns_token_put",
        "INSERT INTO zns_oauth AS z (id, refresh_sealed, access_sealed, access_expires_at) "
        "VALUES (1, $1, $2, now() + make_interval(secs => $3::int)) ON CONFLICT (id) DO UPDATE "
        "SET refresh_sealed = EXCLUDED.refresh_sealed, access_sealed = EXCLUDED.access_sealed, "
        "access_expires_at = EXCLUDED.access_expires_at, updated_at = now()",
        3);
    g_slot = cds_worker_slot("notify.zns");
    if (stmt_get < 0 || stmt_put < 0 || g_slot < 0) return -1;
    pthread_mutex_lock(&g_mu);
    memset(&g_tok, 0, sizeof g_tok);
    g_expires_us = 0;
    g_refreshing = 0;
    if (g_notify.zns_access_token)
        snprintf(g_tok.access, sizeof g_tok.access, "%s", g_notify.zns_access_token);
    if (g_notify.zns_refresh_token)
        snprintf(g_tok.refresh, sizeof g_tok.refresh, "%s", g_notify.zns_refresh_token);
    pthread_mutex_unlock(&g_mu);
    if (nt_zns_configured() && !g_tok.access[0] && !g_tok.refresh[0]) {
        cds_log(CDS_LOG_ERROR, "zns_config",
                "CDS_ZNS_URL is set but neither CDS_ZNS_ACCESS_TOKEN nor CDS_ZNS_REFRESH_TOKEN");
        return -1;
    }
    return 0;
}

int nt_zns_enabled(void)
{
    return nt_zns_configured();
}

static void send_with(nt_msg *m, const char *token);
static void on_db_token(void *arg, PGresult *res);
static void wake(zns_thread *t);

static zns_thread *thread_of(nt_worker *w)
{
    return cds_worker_get(nt_thread(w), g_slot);
}

/* The fetch at start is an nt_msg with no channel: no outbox row. */
static int is_fetch(const nt_msg *m)
{
    return m->channel == 0;
}

static void fetch_end(nt_msg *m)
{
    zns_thread *t = thread_of(m->w);
    if (t && t->fetch == m) t->fetch = NULL;
    nt_msg_free(m);
}

/* A token came for m: a message is sent with it; the fetch ends. Either way
 * this thread's waiting messages go too. */
static void got_token(nt_msg *m, const char *token)
{
    zns_thread *t = thread_of(m->w);
    if (is_fetch(m))
        fetch_end(m);
    else
        send_with(m, token);
    if (t) wake(t);
}

/* No token for m: a message is retried (temporary failure); the fetch is
 * only logged (a message will try again). */
static void no_token(nt_msg *m, const char *err)
{
    zns_thread *t = thread_of(m->w);
    if (is_fetch(m)) {
        cds_log(CDS_LOG_WARN, "zns_token", "fetch at start: %s", err);
        fetch_end(m);
    } else {
        nt_fail(m, NT_TEMPORARY, "zns", "ZNS: %s", err);
    }
    if (t) wake(t);
}

/* Copies a usable token into out (1), or 0 when there is none now. */
static int token_get(char *out, size_t cap)
{
    uint64_t now = cds_now_us();
    pthread_mutex_lock(&g_mu);
    int ok = g_tok.access[0] && (g_expires_us == 0 || now + EARLY_US < g_expires_us);
    if (ok) snprintf(out, cap, "%s", g_tok.access);
    pthread_mutex_unlock(&g_mu);
    return ok;
}

/* Forgets `used` when it is still the current token (refused by ZNS). */
static void token_refused(const char *used)
{
    pthread_mutex_lock(&g_mu);
    if (strcmp(g_tok.access, used) == 0) g_tok.access[0] = 0;
    pthread_mutex_unlock(&g_mu);
}

static void on_stored(void *arg, PGresult *res)
{
    (void)arg;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        cds_log(CDS_LOG_ERROR, "zns_token",
                "the refreshed OA tokens could not be saved: %s; the next process to start "
                "needs a new refresh token",
                res ? PQresultErrorMessage(res) : "no database");
}

/* Writes the tokens of a refresh to zns_oauth (sealed). */
static void token_store(nt_msg *m, const nt_zns_token *t)
{
    char *rs = cds_auth_seal(t->refresh, AAD_REFRESH), *as = cds_auth_seal(t->access, AAD_ACCESS);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%ld", t->expires_s);
    const char *prm[3] = {rs, as, ttl};
    if (!rs || !as ||
        cds_db_exec(nt_db(m->w), stmt_put, 3, prm, on_stored, NULL, NULL) != CDS_DB_OK)
        on_stored(NULL, NULL);
    free(rs);
    free(as);
}

static void on_token(void *arg, const cds_http_response *resp)
{
    nt_msg *m = arg;
    m->call = NULL;
    nt_zns_token t;
    char err[256];
    int rc = nt_zns_token_parse(resp, &t, err, sizeof err);
    pthread_mutex_lock(&g_mu);
    g_refreshing = 0;
    if (rc == 0) {
        g_tok = t;
        g_expires_us = cds_now_us() + (uint64_t)t.expires_s * 1000000u;
    }
    pthread_mutex_unlock(&g_mu);
    if (rc != 0) {
        cds_log(CDS_LOG_WARN, "zns_token", "%s", err);
        no_token(m, err);
        return;
    }
    cds_log(CDS_LOG_INFO, "zns_token", "OA access token refreshed, valid %ld s", t.expires_s);
    token_store(m, &t);
    got_token(m, t.access);
}

/* A refresh is under way and not yet forgotten (one whose thread stopped
 * is, after two call timeouts). Called with g_mu held. */
static int refresh_live(uint64_t now)
{
    return g_refreshing && now <= g_refresh_started_us + 2000ull * (uint64_t)g_notify.sms_timeout_ms;
}

/* The answer a message gets when the token does not come in time. */
static void wait_fail(nt_msg *m)
{
    nt_result r;
    memset(&r, 0, sizeof r);
    r.status = NT_TEMPORARY;
    r.provider = "zns";
    r.retry_after_ms = WAIT_MS;
    snprintf(r.error, sizeof r.error, "ZNS: waiting for the OA access token");
    nt_done(m, &r);
}

/* This thread's waiting messages: sent when the token is there, failed as
 * before (temporary, 300 ms) when the refresh ended without one or is
 * forgotten; else looked at again in TICK_MS. */
static void wake(zns_thread *t)
{
    if (!t->waiting) return;
    char token[sizeof g_tok.access];
    int have = token_get(token, sizeof token), busy = 0;
    if (!have) {
        uint64_t now = cds_now_us();
        pthread_mutex_lock(&g_mu);
        busy = refresh_live(now);
        pthread_mutex_unlock(&g_mu);
        if (busy) {
            struct timeval tv = {0, TICK_MS * 1000};
            evtimer_add(t->tick, &tv);
            return;
        }
    }
    nt_msg *list = t->waiting;
    t->waiting = NULL;
    t->waiting_tail = &t->waiting;
    while (list) {
        nt_msg *m = list;
        list = m->next;
        m->next = NULL;
        cds_log_ctx prev;
        cds_log_ctx_set(&m->log, &prev);
        if (have)
            send_with(m, token);
        else
            wait_fail(m);
        cds_log_ctx_set(&prev, NULL);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wake(arg);
}

/* Gets a token for m (zns_oauth, else a refresh), which continues in
 * on_db_token and on_token; when another is under way m waits on its
 * thread's list (wake), and a fetch at start simply ends. */
static void refresh_or_wait(nt_msg *m)
{
    uint64_t now = cds_now_us();
    pthread_mutex_lock(&g_mu);
    int mine = 0;
    if (!refresh_live(now)) {
        g_refreshing = mine = 1;
        g_refresh_started_us = now;
    }
    pthread_mutex_unlock(&g_mu);
    if (!mine) {
        zns_thread *t = thread_of(m->w);
        if (is_fetch(m)) {
            fetch_end(m); /* another fetch is under way */
        } else if (t) {
            m->next = NULL;
            *t->waiting_tail = m;
            t->waiting_tail = &m->next;
            if (!evtimer_pending(t->tick, NULL)) {
                struct timeval tv = {0, TICK_MS * 1000};
                evtimer_add(t->tick, &tv);
            }
        } else {
            wait_fail(m);
        }
        return;
    }
    if (cds_db_exec(nt_db(m->w), stmt_get, 0, NULL, on_db_token, m, &m->dbq) != CDS_DB_OK) {
        m->dbq = NULL;
        on_db_token(m, NULL);
    }
}

/* Refreshes with `refresh` (the refresh in progress is this message's). */
static void do_refresh(nt_msg *m, const char *refresh)
{
    nt_call c;
    memset(&c, 0, sizeof c);
    if (nt_zns_token_build(refresh, &c) != 0 ||
        nt_call_start(m, &c, "POST", g_notify.sms_timeout_ms, NULL, 0, on_token) != 0) {
        free(c.body);
        pthread_mutex_lock(&g_mu);
        g_refreshing = 0;
        pthread_mutex_unlock(&g_mu);
        no_token(m, refresh[0] ? "the token refresh cannot be started"
                               : "the token refresh cannot be started (no refresh token)");
    }
}

/* zns_oauth as the database has it: another process's access token is taken
 * when still good (and not the one ZNS just refused); else its refresh token
 * (newer than ours) is used. */
static void on_db_token(void *arg, PGresult *res)
{
    nt_msg *m = arg;
    m->dbq = NULL;
    char *refresh = NULL, *access = NULL;
    long left = 0;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        refresh = cds_auth_open(PQgetvalue(res, 0, 0), AAD_REFRESH);
        if (!PQgetisnull(res, 0, 1)) access = cds_auth_open(PQgetvalue(res, 0, 1), AAD_ACCESS);
        if (!PQgetisnull(res, 0, 2)) left = strtol(PQgetvalue(res, 0, 2), NULL, 10);
    }
    int adopt = access && left > (long)(EARLY_US / 1000000u) &&
                !(m->token && strcmp(m->token, access) == 0) &&
                strlen(access) < sizeof g_tok.access;
    char use[sizeof g_tok.refresh];
    pthread_mutex_lock(&g_mu);
    if (refresh && strlen(refresh) < sizeof g_tok.refresh)
        snprintf(g_tok.refresh, sizeof g_tok.refresh, "%s", refresh);
    if (adopt) {
        snprintf(g_tok.access, sizeof g_tok.access, "%s", access);
        g_expires_us = cds_now_us() + (uint64_t)left * 1000000u;
        g_refreshing = 0;
    }
    snprintf(use, sizeof use, "%s", g_tok.refresh);
    pthread_mutex_unlock(&g_mu);
    char token[sizeof g_tok.access];
    if (adopt) snprintf(token, sizeof token, "%s", access);
    free(refresh);
    free(access);
    if (adopt)
        got_token(m, token);
    else
        do_refresh(m, use);
}

static void on_answer(void *arg, const cds_http_response *resp)
{
    nt_msg *m = arg;
    m->call = NULL;
    nt_result r;
    memset(&r, 0, sizeof r);
    int refused = nt_zns_parse(resp, &r);
    if (refused) {
        token_refused(m->token ? m->token : "");
        if (!(m->tried & TRIED_REFRESH)) {
            m->tried |= TRIED_REFRESH;
            refresh_or_wait(m);
            return;
        }
    }
    nt_done(m, &r);
}

static void send_with(nt_msg *m, const char *token)
{
    free(m->token);
    m->token = strdup(token); /* the token this call used (for -124) */
    nt_call c;
    memset(&c, 0, sizeof c);
    if (!m->token || nt_zns_build(m, token, &c) != 0) {
        free(c.body);
        nt_fail(m, NT_TECHNICAL, "zns", "the request to ZNS cannot be built");
        return;
    }
    if (nt_call_start(m, &c, "POST", g_notify.sms_timeout_ms, NULL, 0, on_answer) != 0)
        nt_fail(m, NT_TEMPORARY, "zns", "the call to ZNS cannot be started");
}

void nt_zns_send(nt_msg *m)
{
    if (!nt_zns_configured()) {
        nt_fail(m, NT_FALLBACK, NULL, "ZNS is not configured on this node");
        return;
    }
    char token[sizeof g_tok.access];
    if (token_get(token, sizeof token))
        send_with(m, token);
    else
        refresh_or_wait(m);
}

void nt_zns_worker_start(nt_worker *w)
{
    if (!nt_zns_configured()) return;
    zns_thread *t = calloc(1, sizeof *t);
    if (!t) return;
    t->w = w;
    t->waiting_tail = &t->waiting;
    t->tick = evtimer_new(nt_base(w), on_tick, t);
    if (!t->tick) {
        free(t);
        return;
    }
    cds_worker_set(nt_thread(w), g_slot, t);
    char token[sizeof g_tok.access];
    if (token_get(token, sizeof token)) return;
    nt_msg *m = calloc(1, sizeof *m);
    if (!m) return;
    m->w = w;
    m->started_us = cds_now_us();
    cds_trace_new(&m->log.trace);
    t->fetch = m;
    cds_log_ctx prev;
    cds_log_ctx_set(&m->log, &prev);
    refresh_or_wait(m); /* may end (and free) m at once */
    cds_log_ctx_set(&prev, NULL);
}

void nt_zns_worker_stop(nt_worker *w)
{
    zns_thread *t = thread_of(w);
    if (!t) return;
    /* The waiting messages are rows in flight: the outbox frees them. */
    t->waiting = NULL;
    if (t->fetch) {
        nt_msg *m = t->fetch;
        if (m->call) cds_http_cancel(m->call);
        if (m->dbq) cds_db_cancel(m->dbq);
        t->fetch = NULL;
        nt_msg_free(m);
    }
    event_free(t->tick);
    cds_worker_set(nt_thread(w), g_slot, NULL);
    free(t);
}
