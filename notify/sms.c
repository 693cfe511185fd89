/* Which SMS gateway takes a message: the first (eSMS-style) while it works,
 * the second (SpeedSMS-style) when it fails or is slow, and back to the
 * first once it recovers.
 *
 * A circuit breaker per gateway, shared by the process's threads: a call
 * that fails for a reason of the gateway's (transport error, timeout, HTTP
 * 5xx, an error code that is not about the message) or that answers slower
 * than CDS_SMS_SLOW_MS counts as a failure; CDS_SMS_BREAKER_FAILURES in a row
 * open the breaker for CDS_SMS_BREAKER_COOLDOWN_MS, during which the gateway
 * gets no traffic. After the cool-down one message at a time probes it
 * (half-open) while the rest still go to the other; a success closes the
 * breaker, a failure opens it again.
 *
 * Within one attempt a message whose gateway failed is handed at once to the
 * other gateway if that one is usable; if none is, the attempt is a
 * temporary failure and the outbox retries it with backoff. A message a
 * gateway refused for a reason of the message's (a bad number) is not
 * offered to the other: it would be refused there too. The idempotency key
 * goes to both gateways, but two gateways cannot see each other's keys: a
 * message accepted by a gateway that answered too late may also go out by
 * the other. That is the price of failover and it only follows a timeout. */
#include "internal.h"
#include "core/log.h"
#include "core/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GW 2

typedef struct breaker {
    int failures;
    uint64_t open_until_us; /* 0: closed */
    int probing;
} breaker;

static const nt_sms_gateway *g_gw[MAX_GW];
static int g_ngw;
static breaker g_br[MAX_GW];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

/* Gateways whose breaker is open or half-open (scrape time). */
static int64_t m_open(void)
{
    int64_t n = 0;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_ngw; i++) n += g_br[i].failures >= g_notify.breaker_failures;
    pthread_mutex_unlock(&g_mu);
    return n;
}

int nt_sms_init(void)
{
    cds_metrics_register("cds_notify_sms_breakers_open",
                         "SMS gateways taken out of traffic by their circuit breaker.", m_open);
    g_ngw = 0;
    memset(g_br, 0, sizeof g_br);
    if (nt_gateway_esms.configured()) g_gw[g_ngw++] = &nt_gateway_esms;
    if (nt_gateway_speedsms.configured()) g_gw[g_ngw++] = &nt_gateway_speedsms;
    return 0;
}

size_t cds_notify_sms_gateways(cds_sms_gateway_state *out, size_t cap)
{
    uint64_t now = cds_now_us();
    size_t n = 0;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_ngw && n < cap; i++, n++) {
        const breaker *b = &g_br[i];
        out[n].name = g_gw[i]->name;
        out[n].failures = b->failures;
        out[n].open = b->failures >= g_notify.breaker_failures;
        out[n].probing = out[n].open && b->probing;
        out[n].wait_ms = out[n].open && b->open_until_us > now
                             ? (long long)((b->open_until_us - now) / 1000u)
                             : 0;
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

int nt_sms_enabled(void)
{
    return g_ngw > 0;
}

/* The gateway for m's next call, or -1; sets m->probe. */
static int choose(nt_msg *m)
{
    uint64_t now = cds_now_us();
    int pick = -1;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_ngw && pick < 0; i++) {
        if (m->tried & (1u << i)) continue;
        breaker *b = &g_br[i];
        if (b->failures < g_notify.breaker_failures) {
            pick = i;
            m->probe = 0;
        } else if (now >= b->open_until_us && !b->probing) {
            b->probing = 1; /* half-open: this message tests the gateway */
            pick = i;
            m->probe = 1;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return pick;
}

/* 1 when a gateway m has not tried could take it now (no side effect). */
static int untried_usable(const nt_msg *m)
{
    uint64_t now = cds_now_us();
    int ok = 0;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_ngw && !ok; i++)
        ok = !(m->tried & (1u << i)) &&
             (g_br[i].failures < g_notify.breaker_failures ||
              (now >= g_br[i].open_until_us && !g_br[i].probing));
    pthread_mutex_unlock(&g_mu);
    return ok;
}

static void report(int i, int failed, int probe)
{
    breaker *b = &g_br[i];
    pthread_mutex_lock(&g_mu);
    int was_open = b->failures >= g_notify.breaker_failures;
    if (probe) b->probing = 0;
    if (failed) {
        b->failures++;
        if (b->failures >= g_notify.breaker_failures && (probe || !was_open))
            b->open_until_us = cds_now_us() + (uint64_t)g_notify.breaker_cooldown_ms * 1000u;
    } else {
        b->failures = 0;
        b->open_until_us = 0;
    }
    int now_open = b->failures >= g_notify.breaker_failures;
    pthread_mutex_unlock(&g_mu);
    if (now_open && (!was_open || probe))
        cds_log(CDS_LOG_WARN, "sms_gateway_open",
                "gateway %s failing: traffic goes to the other for %d ms", g_gw[i]->name,
                g_notify.breaker_cooldown_ms);
    else if (was_open && !now_open)
        cds_log(CDS_LOG_INFO, "sms_gateway_closed", "gateway %s works again", g_gw[i]->name);
}

static void on_answer(void *arg, const cds_http_response *resp)
{
    nt_msg *m = arg;
    m->call = NULL;
    int i = m->gw;
    nt_result r;
    memset(&r, 0, sizeof r);
    r.provider = g_gw[i]->name;
    int fault = g_gw[i]->parse(resp, &r);
    uint64_t took_ms = (cds_now_us() - m->call_us) / 1000u;
    report(i, fault || took_ms > (uint64_t)g_notify.sms_slow_ms, m->probe);
    if (fault) {
        if (r.status != NT_TEMPORARY && r.status != NT_TECHNICAL) r.status = NT_TEMPORARY;
        /* Another gateway may take it now; else the outbox retries later. */
        if (untried_usable(m)) {
            nt_sms_send(m);
            return;
        }
    }
    nt_done(m, &r);
}

void nt_sms_send(nt_msg *m)
{
    int i = choose(m);
    if (i < 0) {
        nt_fail(m, NT_TEMPORARY, NULL,
                m->tried ? "every SMS gateway failed for this message"
                         : "every SMS gateway is failing; waiting for one to recover");
        return;
    }
    m->tried |= 1u << i;
    m->gw = i;
    nt_call c;
    memset(&c, 0, sizeof c);
    if (g_gw[i]->build(m, &c) != 0) {
        free(c.body);
        if (m->probe) report(i, 0, 1);
        nt_fail(m, NT_TECHNICAL, g_gw[i]->name, "the request to %s cannot be built",
                g_gw[i]->name);
        return;
    }
    m->call_us = cds_now_us();
    if (nt_call_start(m, &c, "POST", g_notify.sms_timeout_ms, NULL, 0, on_answer) != 0) {
        if (m->probe) report(i, 0, 1);
        nt_fail(m, NT_TEMPORARY, g_gw[i]->name, "the call to %s cannot be started",
                g_gw[i]->name);
    }
}
