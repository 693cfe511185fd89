/* Android push through FCM HTTP v1.
 *
 * Written from Google's documents: "Firebase Cloud Messaging HTTP v1 API",
 * method projects.messages.send
 * (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send),
 * the Message resource and the ErrorCode enum
 * (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode); and
 * "Using OAuth 2.0 for Server to Server Applications"
 * (https://developers.google.com/identity/protocols/oauth2/service-account),
 * section "Preparing to make an authorized API call" (the JWT's header,
 * claims iss/scope/aud/exp/iat, at most one hour, and the jwt-bearer grant).
 * Google publishes no signed vector; the RS256 under it is tested against
 * RFC 7515 A.2 (test_jose), and the FCM stand-in checks our tokens with its
 * own verifier (sim/witness_jose.c).
 *
 * Authentication: the service-account key (CDS_FCM_SERVICE_ACCOUNT: the
 * JSON Google hands out, or the path of its file; CDS_FCM_SERVICE_ACCOUNT_FILE
 * reads it from a file) gives the RSA key, its id, the client e-mail and the
 * token URI, which must pass the URL checks (in production: https, not this
 * machine nor a stand-in port, as the key of a stand-in would point there). A JWT (RS256; iss = client e-mail, aud = token URI, scope
 * firebase.messaging, one hour) is exchanged there for an OAuth2 access
 * token (grant type jwt-bearer), kept per thread (in a worker slot) until 5
 * minutes before it expires. Messages that arrive while a token is being fetched wait for it.
 * A 401 drops the token and the message goes again once with a new one.
 *
 *   POST {CDS_FCM_URL}/v1/projects/{project_id}/messages:send
 *   {"message":{"token","notification":{"title","body"},
 *     "data":{"dossier_id","step","message_id"},
 *     "android":{"collapse_key":<dossier id>,"priority":"HIGH","ttl":"86400s"}}}
 *
 * The collapse key is the dossier: a phone that was offline shows the
 * dossier's latest step, not every one it missed. FCM has no idempotency
 * key; the outbox id goes in X-Idempotency-Key and data.message_id so the
 * app (and our stand-in) can drop a repeat. Errors: UNREGISTERED deletes the
 * device; QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL are retried (Retry-After
 * honoured); other refusals are final. An http:// URL (the development
 * stand-in) is spoken as h2c so messages multiplex as they do over TLS,
 * except with a libcurl older than 8.0.0: core/http_client.c must give each
 * h2c call a fresh connection there (a reused one breaks, curl/curl#10634),
 * a TCP handshake and an HTTP/2 session per message on both sides, so
 * HTTP/1.1 with keep-alive is spoken instead. */
#include "internal.h"
#include "core/devkeys.h"
#include "core/files.h"
#include "core/options.h"
#include "core/jose.h"
#include "core/log.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define AUTH_RETRIED 0x100u /* in nt_msg.tried: already re-sent after a 401 */

/* Per-thread state: the token cache and the messages waiting for a token. */
typedef struct fcm_state {
    char token[512];
    int64_t expires_s;     /* refresh a little before */
    int fetching;
    nt_msg *waiting, *waiting_tail;
    cds_http_call *call;
} fcm_state;

static int g_slot = -1;
static EVP_PKEY *g_key;
static char g_kid[128], g_email[256], g_token_uri[512], g_project[128];
static int g_h2c_reuse; /* this libcurl reuses h2c connections (set before the threads start) */

static fcm_state *state_of(nt_worker *w)
{
    return cds_worker_get(nt_thread(w), g_slot);
}

static int fcm_init(void)
{
    if (!g_notify.fcm_service_account) return 0;
    g_slot = cds_worker_slot("notify.fcm");
    if (g_slot < 0) return -1;
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    g_h2c_reuse = v && v->version_num >= 0x080000;
    json_error_t e;
    const char *given = g_notify.fcm_service_account;
    /* The JSON itself (inline or read from NAME_FILE), or a path to it. */
    int inline_json = given[strspn(given, " \t\r\n")] == '{';
    json_t *sa = inline_json ? json_loads(given, 0, &e) : json_load_file(given, 0, &e);
    const char *where = inline_json ? "CDS_FCM_SERVICE_ACCOUNT" : given;
    const char *pem = json_string_value(json_object_get(sa, "private_key"));
    const char *kid = json_string_value(json_object_get(sa, "private_key_id"));
    const char *email = json_string_value(json_object_get(sa, "client_email"));
    const char *uri = json_string_value(json_object_get(sa, "token_uri"));
    const char *project = json_string_value(json_object_get(sa, "project_id"));
    if (!pem || !email || !uri || !project || strlen(email) >= sizeof g_email ||
        strlen(uri) >= sizeof g_token_uri || strlen(project) >= sizeof g_project ||
        (kid && strlen(kid) >= sizeof g_kid)) {
        cds_log(CDS_LOG_ERROR, "fcm_config", "%s: %s", where,
                sa ? "not a service-account key (private_key, client_email, token_uri, project_id)"
                   : e.text);
        json_decref(sa);
        return -1;
    }
    const char *bad_uri = cds_url_problem(uri, cds_devkeys_forbidden());
    if (bad_uri) {
        cds_log(CDS_LOG_ERROR, "fcm_config", "%s: token_uri %s", where, bad_uri);
        json_decref(sa);
        return -1;
    }
    g_key = cds_pkey_from_pem(pem);
    snprintf(g_kid, sizeof g_kid, "%s", kid ? kid : "");
    snprintf(g_email, sizeof g_email, "%s", email);
    snprintf(g_token_uri, sizeof g_token_uri, "%s", uri);
    snprintf(g_project, sizeof g_project, "%s", project);
    json_decref(sa);
    if (!g_key || EVP_PKEY_get_base_id(g_key) != EVP_PKEY_RSA) {
        cds_log(CDS_LOG_ERROR, "fcm_config", "%s: the private key is not an RSA key", where);
        return -1;
    }
    return 0;
}

static int fcm_enabled(void)
{
    return g_key != NULL;
}

static int h2c(const char *url)
{
    return g_h2c_reuse && strncmp(url, "http://", 7) == 0;
}

static void send_now(nt_msg *m);

static void fail_waiting(fcm_state *st, const char *why)
{
    nt_msg *m = st->waiting;
    st->waiting = st->waiting_tail = NULL;
    while (m) {
        nt_msg *next = m->next;
        m->next = NULL;
        nt_fail(m, NT_TEMPORARY, "fcm", "no access token: %s", why);
        m = next;
    }
}

static void on_token(void *arg, const cds_http_response *resp)
{
    fcm_state *st = arg;
    st->call = NULL;
    st->fetching = 0;
    json_error_t e;
    json_t *j = resp->error ? NULL : json_loadb(resp->body, resp->body_len, 0, &e);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    json_int_t ttl = json_integer_value(json_object_get(j, "expires_in"));
    if (resp->status != 200 || !tok || strlen(tok) >= sizeof st->token || ttl <= 0) {
        char why[200];
        const char *err = json_string_value(json_object_get(j, "error"));
        snprintf(why, sizeof why, "token endpoint: %s (HTTP %ld)",
                 resp->error ? resp->error : err ? err : "unexpected answer", resp->status);
        cds_log(CDS_LOG_WARN, "fcm_token_failed", "%s", why);
        json_decref(j);
        fail_waiting(st, why);
        return;
    }
    snprintf(st->token, sizeof st->token, "%s", tok);
    /* Kept until 5 minutes before it expires (a tenth of a short lifetime). */
    json_int_t margin = ttl > 3000 ? 300 : ttl / 10;
    st->expires_s = (int64_t)time(NULL) + ttl - margin;
    json_decref(j);
    nt_msg *m = st->waiting;
    st->waiting = st->waiting_tail = NULL;
    while (m) {
        nt_msg *next = m->next;
        m->next = NULL;
        send_now(m);
        m = next;
    }
}

static void fetch_token(nt_worker *w, fcm_state *st)
{
    time_t now = time(NULL);
    json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", g_email, "scope", SCOPE, "aud",
                               g_token_uri, "iat", (json_int_t)now, "exp", (json_int_t)now + 3600);
    char *jwt = claims ? cds_jws_sign(g_key, CDS_ALG_RS256, g_kid, claims) : NULL;
    json_decref(claims);
    if (!jwt) {
        fail_waiting(st, "the assertion cannot be signed");
        return;
    }
    static const char pre[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                              "&assertion=";
    size_t n = sizeof pre - 1 + strlen(jwt);
    char *body = malloc(n + 1);
    if (!body) {
        free(jwt);
        fail_waiting(st, "out of memory");
        return;
    }
    memcpy(body, pre, sizeof pre - 1);
    memcpy(body + sizeof pre - 1, jwt, strlen(jwt) + 1);
    free(jwt);
    const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    cds_http_request req = {.method = "POST", .url = g_token_uri, .headers = hdr, .body = body,
                            .body_len = n, .timeout_ms = g_notify.push_timeout_ms,
                            .max_response = 64 * 1024};
    st->fetching = 1;
    st->call = cds_http_start(nt_http(w), &req, on_token, st);
    free(body);
    if (!st->call) {
        st->fetching = 0;
        fail_waiting(st, "the token call cannot be started");
    }
}

static void enqueue(nt_msg *m)
{
    fcm_state *st = state_of(m->w);
    if (!st) {
        nt_fail(m, NT_TEMPORARY, "fcm", "FCM has no state on this thread");
        return;
    }
    m->next = NULL;
    if (st->waiting_tail) st->waiting_tail->next = m;
    else st->waiting = m;
    st->waiting_tail = m;
    if (!st->fetching) fetch_token(m->w, st);
}

/* errorCode of an FcmError detail, else the google.rpc status. */
static void error_code(json_t *j, char *out, size_t cap)
{
    json_t *err = json_object_get(j, "error");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(err, "details"), i, d)
    {
        const char *c = json_string_value(json_object_get(d, "errorCode"));
        if (c) {
            snprintf(out, cap, "%s", c);
            return;
        }
    }
    const char *s = json_string_value(json_object_get(err, "status"));
    snprintf(out, cap, "%s", s ? s : "");
}

static void on_sent(void *arg, const cds_http_response *resp)
{
    nt_msg *m = arg;
    m->call = NULL;
    if (nt_call_unanswered(m, resp, "fcm", "FCM")) return;
    nt_result r;
    memset(&r, 0, sizeof r);
    r.provider = "fcm";
    json_error_t e;
    json_t *j = json_loadb(resp->body, resp->body_len, 0, &e);
    if (resp->status == 200) {
        const char *name = json_string_value(json_object_get(j, "name"));
        r.status = NT_SENT;
        if (name && strlen(name) < sizeof r.provider_id)
            snprintf(r.provider_id, sizeof r.provider_id, "%s", name);
        json_decref(j);
        nt_done(m, &r);
        return;
    }
    char code[64];
    error_code(j, code, sizeof code);
    json_decref(j);
    if (resp->status == 401 && !(m->tried & AUTH_RETRIED)) {
        fcm_state *st = state_of(m->w);
        if (st) st->expires_s = 0; /* revoked or expired early: fetch another */
        m->tried |= AUTH_RETRIED;
        enqueue(m);
        return;
    }
    if (strcmp(code, "UNREGISTERED") == 0) {
        r.status = NT_PERMANENT;
        r.delete_device = 1;
    } else if (strcmp(code, "QUOTA_EXCEEDED") == 0 || strcmp(code, "UNAVAILABLE") == 0 ||
               strcmp(code, "INTERNAL") == 0 || resp->status == 429 || resp->status >= 500 ||
               resp->status == 401) {
        r.status = NT_TEMPORARY;
        r.retry_after_ms = nt_retry_after_ms(resp);
    } else {
        r.status = NT_PERMANENT;
    }
    snprintf(r.error, sizeof r.error, "FCM HTTP %ld %s", resp->status, code);
    nt_done(m, &r);
}

static void send_now(nt_msg *m)
{
    fcm_state *st = state_of(m->w);
    if (!st || !st->token[0] || (int64_t)time(NULL) >= st->expires_s) {
        enqueue(m);
        return;
    }
    nt_call c;
    memset(&c, 0, sizeof c);
    int url_bad = nt_call_url(&c, g_notify.fcm_url, "/v1/projects/%s/messages:send", g_project);
    cds_buf b;
    cds_buf_init(&b, NT_BODY_MAX);
    cds_buf_adds(&b, "{\"message\":{");
    cds_json_member_str(&b, "token", m->token);
    cds_json_member_raw(&b, "notification", "{");
    cds_json_member_str(&b, "title", m->title);
    cds_json_member_str(&b, "body", m->body);
    cds_buf_addc(&b, '}');
    cds_json_member_raw(&b, "data", "{");
    cds_json_member_str(&b, "step", m->step);
    cds_json_member_str(&b, "message_id", m->key);
    if (m->dossier_id[0]) cds_json_member_str(&b, "dossier_id", m->dossier_id);
    cds_buf_addc(&b, '}');
    cds_json_member_raw(&b, "android", "{\"priority\":\"HIGH\",\"ttl\":\"86400s\"");
    if (m->dossier_id[0]) cds_json_member_str(&b, "collapse_key", m->dossier_id);
    cds_buf_adds(&b, "}}}");
    c.body = cds_buf_take(&b, &c.body_len);
    if (url_bad || !c.body ||
        nt_call_header(&c, "Content-Type", "application/json") != 0 ||
        nt_call_header(&c, "Authorization", "Bearer %s", st->token) != 0 ||
        nt_call_header(&c, "X-Idempotency-Key", "%s", m->key) != 0) {
        free(c.body);
        nt_fail(m, NT_TECHNICAL, "fcm", "the FCM request cannot be built");
        return;
    }
    if (nt_call_start(m, &c, "POST", g_notify.push_timeout_ms, NULL, h2c(c.url), on_sent) != 0)
        nt_fail(m, NT_TEMPORARY, "fcm", "the FCM call cannot be started");
}

static void fcm_worker_start(nt_worker *w)
{
    fcm_state *st = calloc(1, sizeof *st);
    if (st) cds_worker_set(nt_thread(w), g_slot, st);
}

static void fcm_worker_stop(nt_worker *w)
{
    fcm_state *st = state_of(w);
    if (!st) return;
    if (st->call) cds_http_cancel(st->call);
    /* the waiting messages are freed with the thread's rows in flight */
    cds_worker_set(nt_thread(w), g_slot, NULL);
    free(st);
}

static void fcm_shutdown(void)
{
    EVP_PKEY_free(g_key);
    g_key = NULL;
}

const nt_push_adapter nt_push_fcm = {"fcm", "FCM", fcm_init, fcm_enabled, send_now,
                                     fcm_worker_start, fcm_worker_stop, fcm_shutdown};
