/* iOS push through APNs' provider API (HTTP/2 over TLS).
 *
 * Written from Apple's documents: "Establishing a token-based connection to
 * APNs" (https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns:
 * header alg ES256 + kid, claims iss = team id and iat, refreshed no more
 * often than every 20 minutes and no less than every 60), "Sending
 * notification requests to APNs" (the apns-* headers, apns-id a UUID) and
 * "Handling notification responses from APNs" (the status codes and
 * reasons). Apple publishes no signed vector; the ES256 under it is tested
 * against RFC 7515 A.3 (test_jose), and the APNs stand-in checks our tokens
 * with its own verifier (sim/witness_jose.c).
 *
 * Authentication: the .p8 signing key (CDS_APNS_KEY, its PEM text, or
 * CDS_APNS_KEY_FILE, P-256), its key id
 * and the team id make an ES256 provider token {"iss": team, "iat": now}.
 * Apple refuses a token older than an hour and one replaced more often than
 * every 20 minutes, so one token per process is made and replaced after 40
 * minutes (or at once when APNs calls it expired or invalid, if it is still
 * the current one); every thread uses it under a lock.
 *
 *   POST {CDS_APNS_URL}/3/device/{token}
 *   apns-topic (bundle id), apns-push-type: alert, apns-priority: 10,
 *   apns-expiration: now + 1 day, apns-collapse-id: <dossier id>,
 *   apns-id: a UUID made from the outbox id (our idempotency key)
 *   {"aps":{"alert":{"title","body"},"sound":"default","thread-id":<dossier>},
 *    "dossier_id","step","message_id"}
 *
 * Answers: 200 sent; 410 Unregistered deletes the device; 429, 500, 503 are
 * retried; 403 Expired/InvalidProviderToken renews the token and sends once
 * more; other refusals (BadDeviceToken, ...) are final. curl multiplexes the
 * messages of a thread over one HTTP/2 connection. */
#include "internal.h"
#include "core/jose.h"
#include "core/log.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_RENEW_S (40 * 60) /* between Apple's 20 and 60 minutes */
#define AUTH_RETRIED 0x100u

static EVP_PKEY *g_key;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_jwt[1024];
static time_t g_iat;

static int apns_init(void)
{
    if (!g_notify.apns_key) return 0;
    g_key = cds_pkey_from_pem(g_notify.apns_key);
    if (!g_key || EVP_PKEY_get_base_id(g_key) != EVP_PKEY_EC || !g_notify.apns_key_id ||
        !*g_notify.apns_key_id || !g_notify.apns_team_id || !*g_notify.apns_team_id ||
        !g_notify.apns_topic || !*g_notify.apns_topic) {
        cds_log(CDS_LOG_ERROR, "apns_config",
                "CDS_APNS_KEY (or CDS_APNS_KEY_FILE) must be a P-256 key (.p8) and CDS_APNS_KEY_ID, "
                "CDS_APNS_TEAM_ID, CDS_APNS_TOPIC set");
        EVP_PKEY_free(g_key);
        g_key = NULL;
        return -1;
    }
    return 0;
}

static int apns_enabled(void)
{
    return g_key != NULL;
}

static void apns_shutdown(void)
{
    EVP_PKEY_free(g_key);
    g_key = NULL;
}

/* The current provider token into out; `stale` (may be NULL) is a token
 * APNs refused: renewed if it is still the current one. */
static int provider_token(char *out, size_t cap, const char *stale)
{
    time_t now = time(NULL);
    int rc = 0;
    pthread_mutex_lock(&g_mu);
    if (!g_jwt[0] || now - g_iat >= TOKEN_RENEW_S || (stale && strcmp(stale, g_jwt) == 0)) {
        json_t *claims = json_pack("{s:s,s:I}", "iss", g_notify.apns_team_id, "iat",
                                   (json_int_t)now);
        char *jwt = claims ? cds_jws_sign(g_key, CDS_ALG_ES256, g_notify.apns_key_id, claims)
                           : NULL;
        json_decref(claims);
        if (jwt && strlen(jwt) < sizeof g_jwt) {
            snprintf(g_jwt, sizeof g_jwt, "%s", jwt);
            g_iat = now;
        } else {
            rc = -1;
        }
        free(jwt);
    }
    if (rc == 0) snprintf(out, cap, "%s", g_jwt);
    pthread_mutex_unlock(&g_mu);
    return rc;
}

static int token_ok(const char *t)
{
    size_t n = strlen(t);
    return n >= 8 && n <= 200 && strspn(t, "0123456789abcdefABCDEF") == n;
}

static void send_once(nt_msg *m, const char *stale);

static void on_sent(void *arg, const cds_http_response *resp)
{
    nt_msg *m = arg;
    m->call = NULL;
    if (nt_call_unanswered(m, resp, "apns", "APNs")) return;
    nt_result r;
    memset(&r, 0, sizeof r);
    r.provider = "apns";
    if (resp->status == 200) {
        r.status = NT_SENT;
        if (!resp->headers || cds_http_header_get(resp->headers, resp->headers_len, "apns-id",
                                                  r.provider_id, sizeof r.provider_id) <= 0)
            r.provider_id[0] = 0;
        nt_done(m, &r);
        return;
    }
    json_error_t e;
    json_t *j = json_loadb(resp->body, resp->body_len, 0, &e);
    char reason[64];
    snprintf(reason, sizeof reason, "%s",
             json_string_value(json_object_get(j, "reason")) ? json_string_value(json_object_get(j, "reason")) : "");
    json_decref(j);
    if (resp->status == 403 && !(m->tried & AUTH_RETRIED) &&
        (strcmp(reason, "ExpiredProviderToken") == 0 ||
         strcmp(reason, "InvalidProviderToken") == 0)) {
        m->tried |= AUTH_RETRIED;
        char used[1024];
        snprintf(used, sizeof used, "%s", m->text ? m->text : "");
        send_once(m, used);
        return;
    }
    if (resp->status == 410) {
        r.status = NT_PERMANENT;
        r.delete_device = 1;
    } else if (resp->status == 429 || resp->status >= 500 || resp->status == 403) {
        r.status = NT_TEMPORARY;
    } else {
        r.status = NT_PERMANENT;
    }
    snprintf(r.error, sizeof r.error, "APNs HTTP %ld %s", resp->status, reason);
    nt_done(m, &r);
}

static void send_once(nt_msg *m, const char *stale)
{
    if (!token_ok(m->token)) {
        nt_fail(m, NT_PERMANENT, "apns", "the device token is not an APNs token");
        return;
    }
    char jwt[1024];
    if (provider_token(jwt, sizeof jwt, stale) != 0) {
        nt_fail(m, NT_TECHNICAL, "apns", "the provider token cannot be signed");
        return;
    }
    /* The token used is kept in m->text (unused by a push) to renew it if refused. */
    free(m->text);
    m->text = strdup(jwt);
    nt_call c;
    memset(&c, 0, sizeof c);
    int url_bad = nt_call_url(&c, g_notify.apns_url, "/3/device/%s", m->token);
    cds_buf b;
    cds_buf_init(&b, NT_BODY_MAX);
    cds_buf_adds(&b, "{\"aps\":{\"alert\":{");
    cds_json_member_str(&b, "title", m->title);
    cds_json_member_str(&b, "body", m->body);
    cds_buf_addc(&b, '}');
    cds_json_member_str(&b, "sound", "default");
    if (m->dossier_id[0]) cds_json_member_str(&b, "thread-id", m->dossier_id);
    cds_buf_addc(&b, '}');
    cds_json_member_str(&b, "dossier_id", m->dossier_id);
    cds_json_member_str(&b, "step", m->step);
    cds_json_member_str(&b, "message_id", m->key);
    cds_buf_addc(&b, '}');
    c.body = cds_buf_take(&b, &c.body_len);
    unsigned long long id = (unsigned long long)m->id;
    int bad = url_bad || !c.body;
    bad = bad || nt_call_header(&c, "authorization", "bearer %s", jwt) != 0;
    bad = bad || nt_call_header(&c, "apns-topic", "%s", g_notify.apns_topic) != 0;
    bad = bad || nt_call_header(&c, "apns-push-type", "alert") != 0;
    bad = bad || nt_call_header(&c, "apns-priority", "10") != 0;
    bad = bad || nt_call_header(&c, "apns-expiration", "%lld", (long long)time(NULL) + 86400) != 0;
    bad = bad || nt_call_header(&c, "apns-id", "00000000-0000-4000-8000-%012llx",
                                id & 0xffffffffffffULL) != 0;
    bad = bad || nt_call_header(&c, "content-type", "application/json") != 0;
    if (!bad && m->dossier_id[0])
        bad = nt_call_header(&c, "apns-collapse-id", "%s", m->dossier_id) != 0;
    if (bad) {
        free(c.body);
        nt_fail(m, NT_TECHNICAL, "apns", "the APNs request cannot be built");
        return;
    }
    if (nt_call_start(m, &c, "POST", g_notify.push_timeout_ms, g_notify.apns_ca_file, 0,
                      on_sent) != 0)
        nt_fail(m, NT_TEMPORARY, "apns", "the APNs call cannot be started");
}

static void apns_send(nt_msg *m)
{
    send_once(m, NULL);
}

const nt_push_adapter nt_push_apns = {"apns", "APNs", apns_init, apns_enabled, apns_send,
                                      NULL, NULL, apns_shutdown};
