/* The Apple Push Notification service stand-in (`apns`, port 9006), from
 * Apple's "Establishing a token-based connection to APNs", "Sending
 * notification requests to APNs" and "Handling notification responses from
 * APNs"; our provider token is checked with the stand-in's own ES256
 * verifier (sim/witness_jose.c), not the server's. APNs'
 * provider API with token-based authentication, served over TLS with the
 * development certificate (tls=1: the frame offers ALPN h2), HTTP/2 only
 * like Apple's (an HTTP/1.1 request is answered 505).
 *
 *   POST /3/device/{device token}
 *     authorization: bearer <JWT>   header {"alg":"ES256","kid":<key id>},
 *                                   claims {"iss":<team id>,"iat":<seconds>}
 *     apns-topic (required: the app's bundle id), apns-push-type (alert,
 *     background, ...), apns-priority (10, 5, 1), apns-expiration (epoch
 *     seconds), apns-collapse-id (<= 64 bytes), apns-id (a UUID; made up
 *     when absent), body: a JSON dictionary, <= 4096 bytes (5120 for voip)
 *   -> 200, empty body, headers apns-id and apns-unique-id
 *   -> an error: {"reason":"..."} with apns-id, Apple's reasons:
 *      400 BadMessageId, BadDeviceToken, MissingTopic, TopicDisallowed,
 *          InvalidPushType, BadPriority, BadExpirationDate, BadCollapseId,
 *          PayloadEmpty; BadPayload (ours: body not a JSON dictionary; Apple
 *          documents no reason for that)
 *      403 MissingProviderToken, InvalidProviderToken (bad signature, other
 *          kid or team, iat in the future), ExpiredProviderToken (iat more
 *          than 60 minutes old)
 *      404 BadPath, 413 PayloadTooLarge,
 *      410 {"reason":"Unregistered","timestamp":<ms>} for tokens marked at
 *          /_sim/tokens,
 *      and injected: 429 TooManyRequests, TooManyProviderTokenUpdates,
 *          500 InternalServerError, 503 ServiceUnavailable, Shutdown.
 *
 * Idempotency: APNs has none; our server sends its outbox id as apns-id (a
 * UUID), so a repeated apns-id gets the first answer and is counted once in
 * /_sim/messages. A request without apns-id is always a new notification.
 *
 * Key material: GET /_sim/auth-key.p8 is the signing key as Apple hands it
 * out (PKCS#8 PEM, P-256) with headers x-apns-key-id and x-apns-team-id;
 * GET /_sim/auth-key.json gives {"key_id","team_id","topic","private_key"}.
 * The key is made at start or read from CDS_SIM_APNS_KEY_FILE.
 * Configuration: CDS_SIM_APNS_KEY_ID ("CDSKEY0001"), CDS_SIM_APNS_TEAM_ID
 * ("CDSTEAM001"), CDS_SIM_APNS_TOPIC ("vn.gov.hochiminhcity.congdanso").
 *
 * Not modelled: TooManyProviderTokenUpdates for a token changed more often
 * than every 20 minutes on one connection (the HTTP core does not tell a
 * handler which connection a request came on); it can be injected. */
#include "sim/gateway_common.h"
#include "sim/witness.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TOKEN_MAX_AGE_S 3600
#define FUTURE_SKEW_S 60
#define PAYLOAD_MAX 4096
#define PAYLOAD_MAX_VOIP 5120
#define COLLAPSE_ID_MAX 64
#define CACHE_SLOTS 16
#define PROVIDER_TOKEN_MAX 1024

typedef struct verified {
    char token[PROVIDER_TOKEN_MAX];
    long long iat;
} verified;

typedef struct apns_state {
    gw g;
    char key_id[32], team_id[32], topic[256];
    EVP_PKEY *key; /* read-only after init */
    char *key_pem;
    /* below: g.mu */
    gw_set *unregistered;
    verified cache[CACHE_SLOTS]; /* provider tokens whose signature checked out */
    size_t cache_next;
} apns_state;

static apns_state *g_apns;

static apns_state *apns_of(cds_req *r)
{
    return gw_of(r)->provider;
}

static void reason(cds_req *r, int delay, int status, const char *why)
{
    gw_respond_json(r, delay, status, json_pack("{s:s}", "reason", why));
}

/* ---------------- injected errors ---------------- */

static const struct {
    const char *name;
    int status;
} injectable[] = {
    {"ServiceUnavailable", 503}, {"Shutdown", 503},
    {"InternalServerError", 500}, {"TooManyRequests", 429},
    {"TooManyProviderTokenUpdates", 429},
};
#define NINJECT (sizeof injectable / sizeof injectable[0])

static int error_valid(const char *e)
{
    for (size_t i = 0; i < NINJECT; i++)
        if (strcmp(e, injectable[i].name) == 0) return 1;
    return 0;
}

static void answer_error(cds_req *r, const char *e)
{
    for (size_t i = 0; i < NINJECT; i++)
        if (strcmp(e, injectable[i].name) == 0) reason(r, 0, injectable[i].status, e);
}

/* ---------------- the provider token ---------------- */

/* NULL when the token is good, else the reason to answer 403 with. */
static const char *check_provider_token(apns_state *st, cds_req *r)
{
    const char *h = cds_req_header(r, "authorization");
    if (!h) return "MissingProviderToken";
    if (strncasecmp(h, "bearer ", 7) != 0) return "InvalidProviderToken";
    const char *t = h + 7;
    while (*t == ' ') t++;
    size_t n = strlen(t);
    if (n == 0 || n >= PROVIDER_TOKEN_MAX) return "InvalidProviderToken";
    long long now = (long long)time(NULL), iat = -1;
    pthread_mutex_lock(&st->g.mu);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (strcmp(st->cache[i].token, t) == 0) {
            iat = st->cache[i].iat;
            break;
        }
    pthread_mutex_unlock(&st->g.mu);
    if (iat < 0) { /* not seen yet: check it in full */
        sim_jws jwt;
        const char *err;
        if (sim_jws_read(t, n, &jwt, &err) != 0) return "InvalidProviderToken";
        json_t *jiss = json_object_get(jwt.claims, "iss"),
               *jiat = json_object_get(jwt.claims, "iat");
        int ok = strcmp(jwt.kid, st->key_id) == 0 && sim_jws_verify(&jwt, st->key, "ES256") == 0 &&
                 json_is_string(jiss) && strcmp(json_string_value(jiss), st->team_id) == 0 &&
                 json_is_integer(jiat);
        if (ok) iat = (long long)json_integer_value(jiat);
        sim_jws_free(&jwt);
        if (!ok) return "InvalidProviderToken";
        pthread_mutex_lock(&st->g.mu);
        snprintf(st->cache[st->cache_next].token, PROVIDER_TOKEN_MAX, "%s", t);
        st->cache[st->cache_next].iat = iat;
        st->cache_next = (st->cache_next + 1) % CACHE_SLOTS;
        pthread_mutex_unlock(&st->g.mu);
    }
    if (iat > now + FUTURE_SKEW_S) return "InvalidProviderToken";
    if (now - iat > TOKEN_MAX_AGE_S) return "ExpiredProviderToken";
    return NULL;
}

/* ---------------- pushing ---------------- */

/* apns-id as Apple's "Sending notification requests to APNs" describes it:
 * a canonical UUID, 32 hexadecimal digits in the 8-4-4-4-12 format
 * (Apple's example is lower case; upper case is taken too). */
static int apns_id_ok(const char *s)
{
    if (strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-'
                 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/* A random (version 4, RFC 9562 section 5.4) UUID, as APNs makes one. */
static void new_uuid(char out[37])
{
    char h[33];
    if (gw_random_hex(h, sizeof h, 16) != 0) abort();
    h[12] = '4';
    h[16] = "89ab"[(h[16] <= '9' ? h[16] - '0' : h[16] - 'a' + 10) & 3];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static int device_token_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n < 64 || n > 200 || n % 2) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return 0;
    }
    return 1;
}

static int push_type_ok(const char *t)
{
    static const char *const types[] = {"alert", "background", "location", "voip",
                                        "complication", "fileprovider", "mdm", "liveactivity",
                                        "pushtotalk", "widgets", "controls"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(t, types[i]) == 0) return 1;
    return 0;
}

static int digits_only(const char *s)
{
    if (!*s || strlen(s) > 12) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static void apns_push(cds_req *r)
{
    sim_record(r);
    apns_state *st = apns_of(r);
    const char *given_id = cds_req_header(r, "apns-id");
    int id_ok = !given_id || apns_id_ok(given_id);
    char id[37];
    if (given_id && id_ok) snprintf(id, sizeof id, "%s", given_id);
    else new_uuid(id);
    cds_resp_header(r, "apns-id", id);
    if (cds_req_proto(r) != CDS_PROTO_H2) {
        reason(r, 0, 505, "HTTP/2 is required");
        return;
    }
    int delay = gw_gate(r);
    if (delay < 0) return;
    if (!id_ok) {
        reason(r, delay, 400, "BadMessageId");
        return;
    }
    const char *bad = check_provider_token(st, r);
    if (bad) {
        reason(r, delay, 403, bad);
        return;
    }
    const char *device = cds_req_param(r, "token");
    if (!device || !*device) {
        reason(r, delay, 400, "MissingDeviceToken");
        return;
    }
    if (!device_token_ok(device)) {
        reason(r, delay, 400, "BadDeviceToken");
        return;
    }
    const char *topic = cds_req_header(r, "apns-topic");
    const char *push_type = cds_req_header(r, "apns-push-type");
    const char *priority = cds_req_header(r, "apns-priority");
    const char *expiration = cds_req_header(r, "apns-expiration");
    const char *collapse = cds_req_header(r, "apns-collapse-id");
    if (!topic || !*topic) {
        reason(r, delay, 400, "MissingTopic");
        return;
    }
    size_t tl = strlen(st->topic);
    int voip = push_type && strcmp(push_type, "voip") == 0;
    if (strncmp(topic, st->topic, tl) != 0 ||
        (topic[tl] && strcmp(topic + tl, ".voip") != 0 &&
         strcmp(topic + tl, ".complication") != 0 && strncmp(topic + tl, ".push-type.", 11) != 0)) {
        reason(r, delay, 400, "TopicDisallowed");
        return;
    }
    if (push_type && !push_type_ok(push_type)) {
        reason(r, delay, 400, "InvalidPushType");
        return;
    }
    if (priority && strcmp(priority, "10") != 0 && strcmp(priority, "5") != 0 &&
        strcmp(priority, "1") != 0) {
        reason(r, delay, 400, "BadPriority");
        return;
    }
    if (expiration && !digits_only(expiration)) {
        reason(r, delay, 400, "BadExpirationDate");
        return;
    }
    if (collapse && strlen(collapse) > COLLAPSE_ID_MAX) {
        reason(r, delay, 400, "BadCollapseId");
        return;
    }
    size_t blen;
    const char *body = cds_req_body(r, &blen);
    if (blen == 0) {
        reason(r, delay, 400, "PayloadEmpty");
        return;
    }
    if (blen > (voip ? PAYLOAD_MAX_VOIP : PAYLOAD_MAX)) {
        reason(r, delay, 413, "PayloadTooLarge");
        return;
    }
    json_t *payload = json_loadb(body, blen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(payload)) {
        json_decref(payload);
        reason(r, delay, 400, "BadPayload");
        return;
    }
    gw_answer a;
    if (gw_store_find(&st->g, given_id, &a)) {
        json_decref(payload);
        gw_respond(r, delay, a.status, a.ctype, a.body, a.len);
        gw_answer_free(&a);
        return;
    }
    pthread_mutex_lock(&st->g.mu);
    int gone = gw_set_has(st->unregistered, device);
    pthread_mutex_unlock(&st->g.mu);
    if (gone) {
        json_decref(payload);
        gw_respond_json(r, delay, 410,
                        json_pack("{s:s,s:I}", "reason", "Unregistered", "timestamp",
                                  (json_int_t)gw_now_ms()));
        return;
    }
    json_t *fields = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:b}", "device_token", device,
                               "topic", topic, "push_type",
                               push_type ? json_string(push_type) : json_null(), "priority",
                               priority ? json_string(priority) : json_null(), "expiration",
                               expiration ? json_string(expiration) : json_null(), "collapse_id",
                               collapse ? json_string(collapse) : json_null(), "payload", payload,
                               "apns_id_given", given_id != NULL);
    char unique[37];
    new_uuid(unique);
    cds_resp_header(r, "apns-unique-id", unique);
    if (gw_store_put(&st->g, given_id, id, fields, 200, "", "", 0, &a)) {
        gw_respond(r, delay, a.status, NULL, a.body, a.len);
        gw_answer_free(&a);
        return;
    }
    gw_respond(r, delay, 200, NULL, "", 0);
}

static void apns_other(cds_req *r)
{
    sim_record(r);
    reason(r, 0, 404, "BadPath");
}

/* ---------------- test controls ---------------- */

static void sim_auth_key(cds_req *r)
{
    sim_record(r);
    apns_state *st = apns_of(r);
    cds_resp_header(r, "x-apns-key-id", st->key_id);
    cds_resp_header(r, "x-apns-team-id", st->team_id);
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond(r, 200, "application/x-pem-file", st->key_pem, strlen(st->key_pem));
}

static void sim_auth_key_json(cds_req *r)
{
    sim_record(r);
    apns_state *st = apns_of(r);
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, json_pack("{s:s,s:s,s:s,s:s}", "key_id", st->key_id, "team_id",
                                       st->team_id, "topic", st->topic, "private_key",
                                       st->key_pem));
}

static void sim_tokens(cds_req *r)
{
    apns_state *st = apns_of(r);
    gw_tokens_control(r, &st->g.mu, st->unregistered);
}

/* ---------------- life ---------------- */

static const gw_ops apns_ops = {
    .answer_error = answer_error,
    .error_valid = error_valid,
    .default_error = "ServiceUnavailable",
    .error_names = "\"ServiceUnavailable\", \"Shutdown\", \"InternalServerError\", "
                   "\"TooManyRequests\", \"TooManyProviderTokenUpdates\"",
};

static void cleanup(void)
{
    if (!g_apns) return;
    gw_free(&g_apns->g);
    gw_set_free(g_apns->unregistered);
    EVP_PKEY_free(g_apns->key);
    if (g_apns->key_pem) OPENSSL_cleanse(g_apns->key_pem, strlen(g_apns->key_pem));
    free(g_apns->key_pem);
    free(g_apns);
    g_apns = NULL;
}

static int apns_init(sim_standin *s)
{
    apns_state *st = calloc(1, sizeof *st);
    if (!st) return -1;
    gw_env_str(st->key_id, sizeof st->key_id, "CDS_SIM_APNS_KEY_ID", "CDSKEY0001");
    gw_env_str(st->team_id, sizeof st->team_id, "CDS_SIM_APNS_TEAM_ID", "CDSTEAM001");
    gw_env_str(st->topic, sizeof st->topic, "CDS_SIM_APNS_TOPIC", "vn.gov.hochiminhcity.congdanso");
    char key_file[512];
    gw_env_str(key_file, sizeof key_file, "CDS_SIM_APNS_KEY_FILE", "");
    st->key = key_file[0] ? sim_pkey_read_pem(key_file) : sim_pkey_generate("ES256");
    if (!st->key || EVP_PKEY_get_base_id(st->key) != EVP_PKEY_EC) {
        fprintf(stderr, "cds-sim: apns needs a P-256 key (CDS_SIM_APNS_KEY_FILE)\n");
        EVP_PKEY_free(st->key);
        free(st);
        return -1;
    }
    st->key_pem = sim_pkey_pem(st->key);
    st->unregistered = gw_set_new();
    if (!st->key_pem || gw_init(&st->g, s, &apns_ops, st) != 0) {
        gw_set_free(st->unregistered);
        EVP_PKEY_free(st->key);
        free(st->key_pem);
        free(st);
        return -1;
    }
    g_apns = st;
    /* Registered after OpenSSL initialised itself (key generation above),
     * so it runs before OpenSSL's own exit-time cleanup. */
    atexit(cleanup);
    return 0;
}

static const cds_route apns_routes[] = {
    {"POST", "/3/device/{token}", apns_push, 64 * 1024},
    {"GET", "/_sim/auth-key.p8", sim_auth_key, 0},
    {"GET", "/_sim/auth-key.json", sim_auth_key_json, 0},
    {"POST", "/_sim/tokens", sim_tokens, 4 * 1024 * 1024},
    {"GET", "/_sim/fail", gw_sim_fail, 0},
    {"POST", "/_sim/fail", gw_sim_fail, 4096},
    {"GET", "/_sim/messages", gw_sim_messages, 0},
    {"DELETE", "/_sim/messages", gw_sim_clear, 0},
};

sim_standin sim_apns = {
    .name = "apns",
    .default_port = 9006,
    .tls = 1,
    .routes = apns_routes,
    .nroutes = sizeof apns_routes / sizeof apns_routes[0],
    .fallback = apns_other,
    .init = apns_init,
};
