/* The TTHC outbox: ratings and feedback (rating.c, rating_page.c) reach the
 * city's TTHC system as signed partner calls, from the tthc_outbox table
 * (db/migrations/0026_ratings.sql) run by core/outbox.h on every event-loop
 * thread: woken by NOTIFY cds_tthc, a poll covering retries and lost
 * wake-ups.
 *
 * The call: POST {CDS_TTHC_URL}/api/v1/ratings or /api/v1/feedback with the
 * row's JSON payload, signed as every server-to-server call between the TTHC
 * system and us is (core/hmac_auth.h: X-Client-Id, X-Timestamp,
 * X-Signature over method, path, timestamp and the body's SHA-256) with our
 * client id and secret at the TTHC side (CDS_TTHC_CLIENT, CDS_TTHC_SECRET),
 * plus Idempotency-Key: the row's key ("rating:<dossier>:v<version>",
 * "feedback:<reference>"), also in the body. A retry (no answer, 408, 429,
 * 5xx) sends the same bytes under the same key, so the TTHC side counts a
 * rating version once however often it arrives. A 2xx is `sent`; another
 * 4xx is a refusal for good (`failed`, for a person), as is the last of
 * CDS_TTHC_ATTEMPTS. Without CDS_TTHC_URL the rows wait (logged at start). */
#include "internal.h"
#include "core/db.h"
#include "core/hmac_auth.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/outbox.h"
#include "core/outbox_call.h"
#include "core/server.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLAIM_TIMEOUT_S "60"
#define BATCH 32
#define BACKOFF_MAX_MS (30 * 60 * 1000)
#define CALL_TIMEOUT_MS 15000

typedef struct tt_row {
    cds_outbox_call c; /* first: key (the row's id), attempt, call and query in flight */
    char *url, *body;
    char *headers[8];
} tt_row;

static int st_claim = -1;
static int g_slot = -1;
static cds_outbox *g_outbox;
static cds_outbox_results g_results = {.stmt = -1,
                                       .log_event = "tthc_send",
                                       .failed_event = "tthc_record_failed",
                                       .key_name = "row"};

static int64_t m_sent(void) { return atomic_load(&g_results.done); }
static int64_t m_retried(void) { return atomic_load(&g_results.retried); }
static int64_t m_failed(void) { return atomic_load(&g_results.failed); }

/* outcome: sent | retry | failed */
static void record(tt_row *t, const char *outcome, const char *error, long hint_ms)
{
    cds_outbox_call_result(&g_results, &t->c, outcome, error, hint_ms, g_dossiers.tthc_attempts,
                           g_dossiers.tthc_backoff_ms, BACKOFF_MAX_MS);
}

static void on_answer(void *arg, const cds_http_response *resp)
{
    tt_row *c = arg;
    c->c.http = NULL;
    long st = resp->status;
    char err[200];
    if (st >= 200 && st < 300) {
        record(c, "sent", NULL, 0);
        return;
    }
    long hint = 0;
    char ra[16];
    if (resp->headers &&
        cds_http_header_get(resp->headers, resp->headers_len, "retry-after", ra, sizeof ra) > 0)
        hint = strtol(ra, NULL, 10) * 1000;
    if (st == 0 || st == 408 || st == 429 || st >= 500) {
        if (st)
            snprintf(err, sizeof err, "HTTP %ld", st);
        else
            snprintf(err, sizeof err, "%s", resp->error ? resp->error : "no answer");
        record(c, "retry", err, hint);
    } else {
        snprintf(err, sizeof err, "refused: HTTP %ld %.*s", st,
                 (int)(resp->body_len > 120 ? 120 : resp->body_len), resp->body ? resp->body : "");
        record(c, "failed", err, 0);
    }
}

/* The path part of the base URL, "" when none ("http://h:1/x" -> "/x"). */
static const char *base_path(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    return p ? p : "";
}

static cds_outbox_row *take(cds_outbox_worker *ow, PGresult *res, int row)
{
    return cds_outbox_call_take(ow, res, row, sizeof(tt_row), 4);
}

/* a then b, malloc'd. */
static char *cat2(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (!s) abort();
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

static void handle(cds_outbox_row *row, PGresult *res, int i)
{
    tt_row *c = (tt_row *)row;
    if (!g_dossiers.tthc_url || !*g_dossiers.tthc_url || !g_dossiers.tthc_secret) {
        record(c, "retry", "TTHC system not configured on this node", 0);
        return;
    }
    const char *kind = PQgetvalue(res, i, 1), *key = PQgetvalue(res, i, 2);
    const char *route = strcmp(kind, "rating") == 0 ? "/api/v1/ratings" : "/api/v1/feedback";
    size_t ul = strlen(g_dossiers.tthc_url);
    while (ul > 0 && g_dossiers.tthc_url[ul - 1] == '/') ul--;
    char base[1024];
    snprintf(base, sizeof base, "%.*s", (int)ul, g_dossiers.tthc_url);
    c->url = cat2(base, route);
    char *path = cat2(base_path(base), route);
    c->body = strdup(PQgetvalue(res, i, 3));
    if (!c->body) abort();
    long long ts = (long long)time(NULL);
    char sig[65], tsb[24];
    snprintf(tsb, sizeof tsb, "%lld", ts);
    cds_hmac_sign(g_dossiers.tthc_secret, "POST", path, ts, c->body, strlen(c->body), sig);
    free(path);
    c->headers[0] = cat2("Content-Type: ", "application/json");
    c->headers[1] = cat2("Accept: ", "application/json");
    c->headers[2] = cat2("X-Client-Id: ", g_dossiers.tthc_client);
    c->headers[3] = cat2("X-Timestamp: ", tsb);
    c->headers[4] = cat2("X-Signature: ", sig);
    c->headers[5] = cat2("Idempotency-Key: ", key);
    c->headers[6] = NULL;
    cds_http_request hr = {.method = "POST",
                           .url = c->url,
                           .headers = (const char *const *)c->headers,
                           .body = c->body,
                           .body_len = strlen(c->body),
                           .timeout_ms = CALL_TIMEOUT_MS};
    c->c.http = cds_http_start(c->c.w->http, &hr, on_answer, c);
    if (!c->c.http) record(c, "retry", "cannot start the call", 0);
}

static void release(cds_outbox_row *row)
{
    tt_row *c = (tt_row *)row;
    free(c->url);
    free(c->body);
    for (int i = 0; c->headers[i]; i++) free(c->headers[i]);
    free(c);
}

static const cds_outbox_ops ops = {take, handle, cds_outbox_call_cancel, release};

int cds_tthc_outbox_init(const char *db_conninfo)
{
    st_claim = cds_db_stmt_register(
        "tthc_claim",
        "SELECT id, kind, idempotency_key, payload, attempts FROM "
        "cds_tthc_claim($1, $2::int, $3::int)",
        3);
    g_results.stmt = cds_db_stmt_register(
        "tthc_result", "SELECT cds_tthc_result($1::bigint, $2::int, $3, $4, $5::bigint)", 5);
    g_slot = cds_worker_slot("tthc_outbox");
    if (st_claim < 0 || g_results.stmt < 0 || g_slot < 0) return -1;
    cds_metrics_register("cds_tthc_sent_total", "Ratings and feedback the TTHC system took.",
                         m_sent);
    cds_metrics_register("cds_tthc_retries_total", "TTHC deliveries to retry.", m_retried);
    cds_metrics_register("cds_tthc_failed_total", "TTHC deliveries failed for good.", m_failed);
    if (!db_conninfo) return 0;
    if (!g_dossiers.tthc_url || !*g_dossiers.tthc_url)
        cds_log(CDS_LOG_INFO, "tthc_dispatch",
                "CDS_TTHC_URL unset: ratings and feedback wait in tthc_outbox");
    cds_outbox_def def = {
        .name = "tthc",
        .channel = "cds_tthc",
        .claim_stmt = st_claim,
        .claim_args = {CLAIM_TIMEOUT_S},
        .nclaim_args = 1,
        .batch = BATCH,
        .max_inflight = BATCH,
        .refill = 1,
        .poll_ms = g_dossiers.tthc_poll_ms,
        .record_stmt = -1,
        .ops = &ops,
    };
    if (!g_dossiers.tthc_url || !*g_dossiers.tthc_url) return 0;
    g_outbox = cds_outbox_new(&def, db_conninfo);
    return g_outbox ? 0 : -1;
}

void cds_tthc_outbox_shutdown(void)
{
    cds_outbox_free(g_outbox);
    g_outbox = NULL;
}

void cds_dossiers_worker_start(cds_worker *w)
{
    cds_outbox_slot_start(g_outbox, g_slot, w);
}

void cds_dossiers_worker_stop(cds_worker *w)
{
    cds_outbox_slot_stop(g_slot, w);
}
