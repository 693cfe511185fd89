/* Sending a step's text message by Zalo ZNS (the calls are built and read
 * by zns.c), with the OA access token and the fallback to SMS.
 *
 * Token: one per process, shared by its threads (a mutex), safe to lose.
 * It starts from CDS_ZNS_ACCESS_TOKEN when given, else is fetched with
 * CDS_ZNS_REFRESH_TOKEN on first use; it is refreshed 5 minutes before it
 * expires and whenever ZNS answers -124 (Access token invalid), then the
 * message is sent again once. Zalo's refresh tokens are used once each: the
 * refresh answer brings the next one, kept in memory. One refresh at a time
 * per process: the message that started it waits for it; others meanwhile
 * are retried shortly (temporary failure, 300 ms), which costs an attempt,
 * not a message. A refresh that never ended (its thread stopped) is
 * forgotten after two call timeouts.
 *
 * Outcomes (zns.c): accepted -> pending (the delivery webhook says
 * delivered); a definite failure -> fallback: the outbox row becomes an SMS
 * (cds_outbox_record); anything else -> temporary failure on ZNS. A node
 * with SMS but without ZNS configured hands every ZNS message to SMS the
 * same way, so a citizen's choice of Zalo never leaves a step untold. */
#include "internal.h"
#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EARLY_US (5ull * 60 * 1000000)
#define WAIT_MS 300
#define TRIED_REFRESH 1u /* m->tried: this attempt already refreshed the token */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static nt_zns_token g_tok;       /* access (may be ""), refresh */
static uint64_t g_expires_us;    /* 0: unknown (a configured token: until refused) */
static int g_refreshing;
static uint64_t g_refresh_started_us;

int nt_zns_init(void)
{
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
        nt_fail(m, NT_TEMPORARY, "zns", "ZNS: %s", err);
        return;
    }
    cds_log(CDS_LOG_INFO, "zns_token", "OA access token refreshed, valid %ld s", t.expires_s);
    send_with(m, t.access);
}

/* Starts a token refresh for m, which continues in on_token; when another
 * refresh is under way (or this one cannot start) m is answered as a
 * temporary failure and retried shortly. */
static void refresh_or_wait(nt_msg *m)
{
    uint64_t now = cds_now_us();
    char refresh[sizeof g_tok.refresh];
    pthread_mutex_lock(&g_mu);
    int mine = 0;
    if (!g_refreshing ||
        now > g_refresh_started_us + 2000ull * (uint64_t)g_notify.sms_timeout_ms) {
        g_refreshing = mine = 1;
        g_refresh_started_us = now;
        snprintf(refresh, sizeof refresh, "%s", g_tok.refresh);
    }
    pthread_mutex_unlock(&g_mu);
    if (!mine) {
        nt_result r;
        memset(&r, 0, sizeof r);
        r.status = NT_TEMPORARY;
        r.provider = "zns";
        r.retry_after_ms = WAIT_MS;
        snprintf(r.error, sizeof r.error, "ZNS: waiting for the OA access token");
        nt_done(m, &r);
        return;
    }
    nt_call c;
    memset(&c, 0, sizeof c);
    if (nt_zns_token_build(refresh, &c) != 0 ||
        nt_call_start(m, &c, "POST", g_notify.sms_timeout_ms, NULL, 0, on_token) != 0) {
        free(c.body);
        pthread_mutex_lock(&g_mu);
        g_refreshing = 0;
        pthread_mutex_unlock(&g_mu);
        nt_fail(m, NT_TEMPORARY, "zns", "ZNS: the token refresh cannot be started%s",
                refresh[0] ? "" : " (no refresh token)");
    }
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
