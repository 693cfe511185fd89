/* The Firebase Cloud Messaging stand-in (`fcm`, port 9005), from Google's
 * "Firebase Cloud Messaging HTTP v1 API" (projects.messages.send, ErrorCode)
 * and "Using OAuth 2.0 for Server to Server Applications"; it checks our
 * JWT with its own verifier (sim/witness_jose.c), not the server's. Google's
 * OAuth 2.0 token endpoint for service accounts and the FCM HTTP v1 send
 * API, over HTTP/1.1 or h2c (prior knowledge).
 *
 *   GET  /_sim/service-account.json
 *        A service-account key file in Google's format (type, project_id,
 *        private_key_id, private_key (PKCS#8 PEM), client_email, client_id,
 *        auth_uri, token_uri = this stand-in's /token, ...). The RSA key is
 *        made at start, or read from CDS_SIM_FCM_KEY_FILE (PEM).
 *   POST /token   application/x-www-form-urlencoded
 *        grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT
 *        The JWT (RS256, header kid = private_key_id when present) must be
 *        signed by that key (checked by sim/witness_jose.c, not the server's
 *        JOSE; Google, "Using OAuth 2.0 for Server to Server Applications",
 *        section "Preparing to make an authorized API call": header
 *        {"alg":"RS256","typ":"JWT"}, claims iss, scope, aud, exp, iat) with iss = client_email, aud = token_uri, a
 *        scope, and iat/exp with exp - iat <= 3600 around now.
 *        -> 200 {"access_token":"ya29.c.<...>","expires_in":3599,"token_type":"Bearer"}
 *           (Google answers 3599; CDS_SIM_FCM_TOKEN_TTL changes it)
 *        -> 400 {"error":"invalid_grant"|"unsupported_grant_type"|
 *           "invalid_request"|"invalid_scope","error_description":"..."}
 *   POST /v1/projects/{project}/messages:send   Authorization: Bearer <token>
 *        {"validate_only"?: bool, "message": {"token"|"topic"|"condition",
 *         "notification"?: {"title","body","image"}, "data"?: {string: string},
 *         "android"?: {"collapse_key","priority":"NORMAL"|"HIGH","ttl":"<n>s",
 *         "restricted_package_name","data","notification","fcm_options",
 *         "direct_boot_ok"}, "apns"?, "webpush"?, "fcm_options"?, "name"?}}
 *        -> 200 {"name":"projects/{project}/messages/0:<ms>%<hex>"}
 *        -> errors as google.rpc.Status: {"error":{"code","message","status",
 *           "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError",
 *           "errorCode":...}|{"@type":"type.googleapis.com/google.rpc.BadRequest",
 *           "fieldViolations":[{"field","description"}]}]}}:
 *           400 INVALID_ARGUMENT (bad shape, non-string data value, bad token),
 *           401 UNAUTHENTICATED (no, unknown or expired access token),
 *           403 PERMISSION_DENIED (other project, token without the FCM scope),
 *           404 NOT_FOUND + errorCode UNREGISTERED (token marked at /_sim/tokens),
 *           and injected: 429 RESOURCE_EXHAUSTED + QUOTA_EXCEEDED,
 *           503 UNAVAILABLE, 500 INTERNAL, 403 SENDER_ID_MISMATCH,
 *           401 THIRD_PARTY_AUTH_ERROR.
 *
 * Idempotency: FCM has none. Our server sends its outbox id in the header
 * X-Idempotency-Key and in data.message_id; the stand-in takes the header,
 * else data.message_id, and answers a repeat with the first answer (same
 * message name), counting it once in /_sim/messages.
 *
 * Test controls: POST /_sim/tokens {"unregistered":[...]} | {"reset":true};
 * POST /_sim/revoke (every access token becomes invalid: 401 on the next
 * send); GET|POST /_sim/config {"token_down":bool,"token_ttl":seconds};
 * /_sim/fail (send endpoint only), /_sim/messages.
 *
 * Configuration: CDS_SIM_FCM_PROJECT ("cong-dan-so-dev"),
 * CDS_SIM_FCM_CLIENT_EMAIL ("firebase-adminsdk-cds@<project>.iam.gserviceaccount.com"),
 * CDS_SIM_FCM_KEY_FILE, CDS_SIM_FCM_TOKEN_TTL (3599). */
#include "sim/gateway_common.h"
#include "sim/vneid.h" /* the strict form parser */
#include "sim/witness.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define JWT_BEARER "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define SCOPE_FCM "https://www.googleapis.com/auth/firebase.messaging"
#define SCOPE_CLOUD "https://www.googleapis.com/auth/cloud-platform"
#define MAX_TOKENS 4096
#define ACCESS_TOKEN_MAX 96
#define CLOCK_SKEW_S 300
#define PAYLOAD_MAX 4096 /* FCM's limit for a message's payload */
#define REG_TOKEN_MAX 4096

typedef struct fcm_access {
    char token[ACCESS_TOKEN_MAX];
    time_t expires;
    int scope_ok; /* granted the FCM (or cloud-platform) scope */
} fcm_access;

typedef struct fcm_state {
    gw g;
    char project[64]; /* Google project ids have 6 to 30 characters */
    char client_email[256];
    char key_id[48];
    char client_id[32];
    char token_uri[160];
    EVP_PKEY *key; /* read-only after init */
    char *key_pem;
    /* below: g.mu */
    int ttl, token_down;
    fcm_access tokens[MAX_TOKENS];
    size_t ntokens, next_slot;
    gw_set *unregistered;
} fcm_state;

static fcm_state *g_fcm; /* for the exit cleanup */

static fcm_state *fcm_of(cds_req *r)
{
    return gw_of(r)->provider;
}

/* ---------------- google.rpc.Status errors ---------------- */

static void fcm_error(cds_req *r, int delay, int code, const char *status, const char *message,
                      const char *fcm_code, const char *field)
{
    json_t *details = json_array();
    if (fcm_code)
        json_array_append_new(details,
                              json_pack("{s:s,s:s}", "@type",
                                        "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                        "errorCode", fcm_code));
    if (field)
        json_array_append_new(
            details, json_pack("{s:s,s:[{s:s,s:s}]}", "@type",
                               "type.googleapis.com/google.rpc.BadRequest", "fieldViolations",
                               "field", field, "description", message));
    json_t *err = json_pack("{s:i,s:s,s:s}", "code", code, "message", message, "status", status);
    if (json_array_size(details)) json_object_set_new(err, "details", details);
    else json_decref(details);
    gw_respond_json(r, delay, code, json_pack("{s:o}", "error", err));
}

static void invalid_argument(cds_req *r, int delay, const char *message, const char *field)
{
    fcm_error(r, delay, 400, "INVALID_ARGUMENT", message, field ? NULL : "INVALID_ARGUMENT", field);
}

static const struct {
    const char *name;
    int code;
    const char *status, *message;
} injectable[] = {
    {"UNAVAILABLE", 503, "UNAVAILABLE", "The service is currently unavailable."},
    {"QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED",
     "Quota exceeded for quota metric 'Send requests' and limit 'Send requests per minute'."},
    {"INTERNAL", 500, "INTERNAL", "Internal error encountered."},
    {"SENDER_ID_MISMATCH", 403, "PERMISSION_DENIED", "SenderId mismatch"},
    {"THIRD_PARTY_AUTH_ERROR", 401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"},
    {"UNREGISTERED", 404, "NOT_FOUND", "Requested entity was not found."},
    {"INVALID_ARGUMENT", 400, "INVALID_ARGUMENT", "Request contains an invalid argument."},
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
        if (strcmp(e, injectable[i].name) == 0)
            fcm_error(r, 0, injectable[i].code, injectable[i].status, injectable[i].message,
                      injectable[i].name, NULL);
}

/* ---------------- the token endpoint ---------------- */

static void oauth_error(cds_req *r, int status, const char *error, const char *desc)
{
    cds_resp_header(r, "cache-control", "no-cache, no-store, max-age=0, must-revalidate");
    cds_respond_json(r, status, json_pack("{s:s,s:s}", "error", error, "error_description", desc));
}

/* 1 when the space-separated `scope` holds `want` as one item. */
static int has_scope(const char *scope, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = scope; *p;) {
        while (*p == ' ') p++;
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, want, n) == 0) return 1;
        p += l;
    }
    return 0;
}

static void fcm_token(cds_req *r)
{
    sim_record(r);
    fcm_state *st = fcm_of(r);
    pthread_mutex_lock(&st->g.mu);
    int down = st->token_down, ttl = st->ttl;
    pthread_mutex_unlock(&st->g.mu);
    if (down) {
        oauth_error(r, 503, "internal_failure", "Backend Error");
        return;
    }
    const char *ct = cds_req_header(r, "content-type");
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        oauth_error(r, 400, "invalid_request",
                    "Request must be application/x-www-form-urlencoded.");
        return;
    }
    size_t blen;
    const char *body = cds_req_body(r, &blen);
    vneid_form f;
    if (vneid_form_parse(r, body, blen, &f) != VNEID_FORM_OK) {
        oauth_error(r, 400, "invalid_request", "Malformed or repeated form parameters.");
        return;
    }
    const char *grant = vneid_form_get(&f, "grant_type");
    const char *assertion = vneid_form_get(&f, "assertion");
    if (!grant) {
        oauth_error(r, 400, "invalid_request", "Missing required parameter: grant_type");
        return;
    }
    if (strcmp(grant, JWT_BEARER) != 0) {
        oauth_error(r, 400, "unsupported_grant_type",
                    cds_req_printf(r, "Invalid grant_type: %.64s", grant));
        return;
    }
    if (!assertion) {
        oauth_error(r, 400, "invalid_request", "Missing required parameter: assertion");
        return;
    }
    sim_jws jwt;
    const char *err = NULL;
    if (sim_jws_read(assertion, strlen(assertion), &jwt, &err) != 0) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT Signature.");
        return;
    }
    long long now = (long long)time(NULL);
    json_t *c = jwt.claims;
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const char *aud = json_string_value(json_object_get(c, "aud"));
    const char *scope = json_string_value(json_object_get(c, "scope"));
    json_t *jiat = json_object_get(c, "iat"), *jexp = json_object_get(c, "exp");
    if ((jwt.kid[0] && strcmp(jwt.kid, st->key_id) != 0) ||
        sim_jws_verify(&jwt, st->key, "RS256") != 0) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT Signature.");
    } else if (!iss || strcmp(iss, st->client_email) != 0) {
        oauth_error(r, 400, "invalid_grant", "Invalid grant: account not found");
    } else if (!aud || strcmp(aud, st->token_uri) != 0) {
        oauth_error(r, 400, "invalid_grant",
                    cds_req_printf(r, "Invalid JWT: Failed audience check. The expected audience "
                                      "is %s.", st->token_uri));
    } else if (!json_is_integer(jiat) || !json_is_integer(jexp) ||
               json_integer_value(jexp) - json_integer_value(jiat) > 3600 ||
               json_integer_value(jexp) <= json_integer_value(jiat) ||
               json_integer_value(jexp) < now - CLOCK_SKEW_S ||
               json_integer_value(jiat) > now + CLOCK_SKEW_S) {
        oauth_error(r, 400, "invalid_grant",
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                    "reasonable timeframe. Check your iat and exp values in the JWT claim.");
    } else if (!scope || !*scope) {
        oauth_error(r, 400, "invalid_scope", "Empty or missing scope not allowed.");
    } else {
        unsigned char raw[48];
        char b64[80];
        if (RAND_bytes(raw, sizeof raw) != 1 ||
            !sim_b64url_encode(raw, sizeof raw, b64, sizeof b64))
            abort();
        fcm_access a = {.expires = (time_t)(now + ttl),
                        .scope_ok = has_scope(scope, SCOPE_FCM) || has_scope(scope, SCOPE_CLOUD)};
        snprintf(a.token, sizeof a.token, "ya29.c.%s", b64);
        pthread_mutex_lock(&st->g.mu);
        /* A ring: the oldest token makes room (a busy test loses its
         * oldest token, never the process its memory). */
        st->tokens[st->next_slot] = a;
        st->next_slot = (st->next_slot + 1) % MAX_TOKENS;
        if (st->ntokens < MAX_TOKENS) st->ntokens++;
        pthread_mutex_unlock(&st->g.mu);
        sim_record_event(st->g.s, "token_issued",
                         json_pack("{s:s,s:s,s:O,s:O,s:i,s:b}", "iss", iss, "scope", scope, "iat",
                                   jiat, "exp", jexp, "expires_in", ttl, "scope_ok", a.scope_ok));
        cds_resp_header(r, "cache-control", "no-cache, no-store, max-age=0, must-revalidate");
        cds_respond_json(r, 200, json_pack("{s:s,s:i,s:s}", "access_token", a.token, "expires_in",
                                           ttl, "token_type", "Bearer"));
    }
    sim_jws_free(&jwt);
}

/* 1 valid with the FCM scope, 0 unknown/expired, -1 valid without the scope. */
static int check_bearer(fcm_state *st, cds_req *r)
{
    const char *h = cds_req_header(r, "authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    const char *t = h + 7;
    while (*t == ' ') t++;
    size_t n = strlen(t);
    if (n == 0 || n >= ACCESS_TOKEN_MAX) return 0;
    time_t now = time(NULL);
    int rc = 0;
    pthread_mutex_lock(&st->g.mu);
    for (size_t i = 0; i < st->ntokens; i++) {
        fcm_access *a = &st->tokens[i];
        if (strlen(a->token) == n && sim_ct_equal(a->token, t, n)) {
            rc = a->expires > now ? (a->scope_ok ? 1 : -1) : 0;
            break;
        }
    }
    pthread_mutex_unlock(&st->g.mu);
    return rc;
}

/* ---------------- message validation ---------------- */

/* The value as FCM's error quotes it: JSON text, at most 64 bytes. */
static const char *quote(cds_req *r, json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    const char *out = cds_req_printf(r, "%.64s", s ? s : "?");
    free(s);
    return out;
}

static int unknown_field(cds_req *r, int delay, const char *where, const char *name)
{
    const char *msg =
        where ? cds_req_printf(r, "Invalid JSON payload received. Unknown name \"%.64s\" at '%s': "
                                  "Cannot find field.", name, where)
              : cds_req_printf(r, "Invalid JSON payload received. Unknown name \"%.64s\": Cannot "
                                  "find field.", name);
    invalid_argument(r, delay, msg, where ? where : "");
    return -1;
}

static int allowed(const char *k, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(k, *names) == 0) return 1;
    return 0;
}

/* Checks a {string: string} map at `path`; adds its size to *bytes. */
static int check_string_map(cds_req *r, int delay, json_t *m, const char *path, size_t *bytes,
                            int reserved_keys)
{
    if (!json_is_object(m)) {
        invalid_argument(r, delay,
                         cds_req_printf(r, "Invalid value at '%s' (type.googleapis.com/"
                                           "google.protobuf.Struct), %s", path, quote(r, m)),
                         path);
        return -1;
    }
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v)) {
            const char *field = cds_req_printf(r, "%s[%zu].value", path, i);
            invalid_argument(r, delay,
                             cds_req_printf(r, "Invalid value at '%s' (TYPE_STRING), %s", field,
                                            quote(r, v)),
                             field);
            return -1;
        }
        if (reserved_keys && (strcmp(k, "from") == 0 || strcmp(k, "message_type") == 0 ||
                              strncmp(k, "google", 6) == 0 || strncmp(k, "gcm", 3) == 0)) {
            invalid_argument(r, delay, cds_req_printf(r, "Invalid data payload key: %.64s", k),
                             cds_req_printf(r, "%s[%zu].key", path, i));
            return -1;
        }
        *bytes += strlen(k) + json_string_length(v);
        i++;
    }
    return 0;
}

static int ttl_ok(const char *s)
{
    const char *p = s;
    if (!(*p >= '0' && *p <= '9')) return 0;
    while (*p >= '0' && *p <= '9') p++;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++) digits++;
        if (digits < 1 || digits > 9) return 0;
    }
    return p[0] == 's' && p[1] == 0;
}

static int reg_token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > REG_TOKEN_MAX) return 0;
    for (const char *p = t; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == ':' || *p == '.'))
            return 0;
    return 1;
}

/* Answers 400 itself and returns -1 on a message FCM would refuse. */
static int check_message(cds_req *r, int delay, json_t *body, json_t **msg_out)
{
    static const char *const top[] = {"message", "validate_only", NULL};
    static const char *const msg_names[] = {"name",    "data",         "notification", "android",
                                            "webpush", "apns",         "fcm_options",  "token",
                                            "topic",   "condition",    NULL};
    static const char *const notif_names[] = {"title", "body", "image", NULL};
    static const char *const android_names[] = {"collapse_key", "priority", "ttl",
                                                "restricted_package_name", "data", "notification",
                                                "fcm_options", "direct_boot_ok", NULL};
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) if (!allowed(k, top)) return unknown_field(r, delay, NULL, k);
    json_t *vo = json_object_get(body, "validate_only");
    if (vo && !json_is_boolean(vo)) {
        invalid_argument(r, delay,
                         cds_req_printf(r, "Invalid value at 'validate_only' (TYPE_BOOL), %s",
                                        quote(r, vo)),
                         "validate_only");
        return -1;
    }
    json_t *m = json_object_get(body, "message");
    if (!json_is_object(m)) {
        invalid_argument(r, delay, "Request contains an invalid argument.", m ? "message" : NULL);
        return -1;
    }
    json_object_foreach(m, k, v) if (!allowed(k, msg_names)) return unknown_field(r, delay,
                                                                                  "message", k);
    int targets = 0;
    const char *tnames[] = {"token", "topic", "condition"};
    for (int i = 0; i < 3; i++) {
        json_t *t = json_object_get(m, tnames[i]);
        if (!t) continue;
        if (!json_is_string(t)) {
            const char *field = cds_req_printf(r, "message.%s", tnames[i]);
            invalid_argument(r, delay,
                             cds_req_printf(r, "Invalid value at '%s' (TYPE_STRING), %s", field,
                                            quote(r, t)),
                             field);
            return -1;
        }
        targets++;
    }
    if (targets == 0) {
        invalid_argument(r, delay, "Recipient of the message is not set.", NULL);
        return -1;
    }
    if (targets > 1) {
        invalid_argument(r, delay, "Invalid value at 'message' (oneof), oneof field 'target' is "
                                   "already set. Cannot set a second target.", "message");
        return -1;
    }
    const char *token = json_string_value(json_object_get(m, "token"));
    if (token && !reg_token_ok(token)) {
        invalid_argument(r, delay, "The registration token is not a valid FCM registration token",
                         NULL);
        return -1;
    }
    size_t bytes = 0;
    json_t *n = json_object_get(m, "notification");
    if (n) {
        if (!json_is_object(n)) {
            invalid_argument(r, delay,
                             cds_req_printf(r, "Invalid value at 'message.notification' "
                                               "(type.googleapis.com/google.firebase.fcm.v1."
                                               "Notification), %s", quote(r, n)),
                             "message.notification");
            return -1;
        }
        json_object_foreach(n, k, v) {
            if (!allowed(k, notif_names)) return unknown_field(r, delay, "message.notification", k);
            if (!json_is_string(v)) {
                const char *field = cds_req_printf(r, "message.notification.%s", k);
                invalid_argument(r, delay,
                                 cds_req_printf(r, "Invalid value at '%s' (TYPE_STRING), %s",
                                                field, quote(r, v)),
                                 field);
                return -1;
            }
            bytes += json_string_length(v);
        }
    }
    json_t *d = json_object_get(m, "data");
    if (d && check_string_map(r, delay, d, "message.data", &bytes, 1) != 0) return -1;
    json_t *a = json_object_get(m, "android");
    if (a) {
        if (!json_is_object(a)) {
            invalid_argument(r, delay,
                             cds_req_printf(r, "Invalid value at 'message.android' "
                                               "(type.googleapis.com/google.firebase.fcm.v1."
                                               "AndroidConfig), %s", quote(r, a)),
                             "message.android");
            return -1;
        }
        json_object_foreach(a, k, v) {
            if (!allowed(k, android_names)) return unknown_field(r, delay, "message.android", k);
        }
        json_t *ck = json_object_get(a, "collapse_key"), *pr = json_object_get(a, "priority"),
               *ttl = json_object_get(a, "ttl"),
               *rp = json_object_get(a, "restricted_package_name");
        if ((ck && !json_is_string(ck)) || (rp && !json_is_string(rp))) {
            const char *field = ck && !json_is_string(ck)
                                    ? "message.android.collapse_key"
                                    : "message.android.restricted_package_name";
            invalid_argument(r, delay,
                             cds_req_printf(r, "Invalid value at '%s' (TYPE_STRING), %s", field,
                                            quote(r, ck && !json_is_string(ck) ? ck : rp)),
                             field);
            return -1;
        }
        if (pr && !(json_is_string(pr) && (strcmp(json_string_value(pr), "NORMAL") == 0 ||
                                           strcmp(json_string_value(pr), "HIGH") == 0))) {
            invalid_argument(r, delay,
                             cds_req_printf(r, "Invalid value at 'message.android.priority' "
                                               "(type.googleapis.com/google.firebase.fcm.v1."
                                               "AndroidMessagePriority), %s", quote(r, pr)),
                             "message.android.priority");
            return -1;
        }
        if (ttl && !(json_is_string(ttl) && ttl_ok(json_string_value(ttl)))) {
            invalid_argument(r, delay,
                             cds_req_printf(r, "Invalid value at 'message.android.ttl' "
                                               "(type.googleapis.com/google.protobuf.Duration), %s",
                                            quote(r, ttl)),
                             "message.android.ttl");
            return -1;
        }
        json_t *ad = json_object_get(a, "data");
        if (ad && check_string_map(r, delay, ad, "message.android.data", &bytes, 1) != 0) return -1;
        json_t *dbo = json_object_get(a, "direct_boot_ok");
        json_t *an = json_object_get(a, "notification"), *afo = json_object_get(a, "fcm_options");
        if ((dbo && !json_is_boolean(dbo)) || (an && !json_is_object(an)) ||
            (afo && !json_is_object(afo))) {
            invalid_argument(r, delay, "Request contains an invalid argument.", "message.android");
            return -1;
        }
    }
    const char *objs[] = {"apns", "webpush", "fcm_options"};
    for (int i = 0; i < 3; i++) {
        json_t *o = json_object_get(m, objs[i]);
        if (o && !json_is_object(o)) {
            invalid_argument(r, delay, "Request contains an invalid argument.",
                             cds_req_printf(r, "message.%s", objs[i]));
            return -1;
        }
    }
    if (bytes > PAYLOAD_MAX) {
        invalid_argument(r, delay, "Message is too big", NULL);
        return -1;
    }
    *msg_out = m;
    return 0;
}

/* ---------------- sending ---------------- */

static void fcm_send(cds_req *r)
{
    sim_record(r);
    int delay = gw_gate(r);
    if (delay < 0) return;
    fcm_state *st = fcm_of(r);
    int auth = check_bearer(st, r);
    if (auth == 0) {
        cds_resp_header(r, "www-authenticate",
                        "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"");
        fcm_error(r, delay, 401, "UNAUTHENTICATED",
                  "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                  "login cookie or other valid authentication credential. See "
                  "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                  NULL, NULL);
        return;
    }
    if (auth < 0) {
        fcm_error(r, delay, 403, "PERMISSION_DENIED",
                  "Request had insufficient authentication scopes.", NULL, NULL);
        return;
    }
    const char *project = cds_req_param(r, "project");
    if (!project || strcmp(project, st->project) != 0) {
        fcm_error(r, delay, 403, "PERMISSION_DENIED",
                  cds_req_printf(r,
                                 "Permission 'cloudmessaging.messages.create' denied on "
                                 "resource '//cloudresourcemanager.googleapis.com/projects/%.64s' "
                                 "(or it may not exist).",
                                 project ? project : ""),
                  NULL, NULL);
        return;
    }
    size_t blen;
    const char *raw = cds_req_body(r, &blen);
    json_error_t jerr;
    json_t *body = json_loadb(raw, blen, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        invalid_argument(r, delay, "Invalid JSON payload received. Unexpected token.", "");
        return;
    }
    /* The key first: a repeat gets the first answer whatever else holds. */
    const char *hkey = cds_req_header(r, "x-idempotency-key");
    json_t *dm = json_object_get(json_object_get(json_object_get(body, "message"), "data"),
                                 "message_id");
    const char *key = hkey ? hkey : json_string_value(dm);
    if (key && (!*key || strlen(key) > GW_KEY_MAX)) key = NULL;
    if (key) key = cds_req_strdup(r, key);
    gw_answer ans;
    if (gw_store_find(&st->g, key, &ans)) {
        json_decref(body);
        gw_respond(r, delay, ans.status, ans.ctype, ans.body, ans.len);
        gw_answer_free(&ans);
        return;
    }
    json_t *m = NULL;
    if (check_message(r, delay, body, &m) != 0) {
        json_decref(body);
        return;
    }
    const char *token = json_string_value(json_object_get(m, "token"));
    if (token) {
        pthread_mutex_lock(&st->g.mu);
        int gone = gw_set_has(st->unregistered, token);
        pthread_mutex_unlock(&st->g.mu);
        if (gone) {
            json_decref(body);
            fcm_error(r, delay, 404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED",
                      NULL);
            return;
        }
    }
    if (json_is_true(json_object_get(body, "validate_only"))) {
        json_decref(body);
        gw_respond_json(r, delay, 200,
                        json_pack("{s:s}", "name",
                                  cds_req_printf(r, "projects/%s/messages/fake_message_id",
                                                 st->project)));
        return;
    }
    char hex[17], name[GW_ID_MAX];
    if (gw_random_hex(hex, sizeof hex, 8) != 0) abort();
    snprintf(name, sizeof name, "projects/%s/messages/0:%lld%%%s", st->project, gw_now_ms() * 1000,
             hex);
    char *text = NULL;
    if (gw_json_plain(name)) { /* as json_dumps would write it */
        if (asprintf(&text, "{\"name\":\"%s\"}", name) < 0) text = NULL;
    } else {
        json_t *out = json_pack("{s:s}", "name", name);
        text = json_dumps(out, JSON_COMPACT);
        json_decref(out);
    }
    if (!text) abort();
    json_t *fields = json_object();
    const char *copy[] = {"token", "topic", "condition", "notification", "data",
                          "android", "apns",  "webpush",   "fcm_options"};
    for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
        json_t *v = json_object_get(m, copy[i]);
        if (v) json_object_set(fields, copy[i], v); /* the body is dropped below, unchanged */
    }
    json_object_set_new(fields, "key_from",
                        json_string(hkey ? "x-idempotency-key" : key ? "data.message_id" : "none"));
    json_object_set_new(fields, "proto", json_integer(cds_req_proto(r)));
    json_decref(body);
    if (gw_store_put(&st->g, key, name, fields, 200, "application/json", text, strlen(text),
                     &ans)) {
        gw_respond(r, delay, ans.status, ans.ctype, ans.body, ans.len);
        gw_answer_free(&ans);
    } else {
        gw_respond(r, delay, 200, "application/json", text, strlen(text));
    }
    free(text);
}

/* ---------------- test controls ---------------- */

static void sim_service_account(cds_req *r)
{
    sim_record(r);
    fcm_state *st = fcm_of(r);
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "type", "service_account", "project_id",
        st->project, "private_key_id", st->key_id, "private_key", st->key_pem, "client_email",
        st->client_email, "client_id", st->client_id, "auth_uri",
        "https://accounts.google.com/o/oauth2/auth", "token_uri", st->token_uri,
        "auth_provider_x509_cert_url", "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url",
        cds_req_printf(r, "https://www.googleapis.com/robot/v1/metadata/x509/%s", st->client_email),
        "universe_domain", "googleapis.com");
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, j);
}

static void sim_tokens(cds_req *r)
{
    fcm_state *st = fcm_of(r);
    gw_tokens_control(r, &st->g.mu, st->unregistered);
}

static void sim_revoke(cds_req *r)
{
    sim_record(r);
    fcm_state *st = fcm_of(r);
    pthread_mutex_lock(&st->g.mu);
    size_t n = st->ntokens;
    st->ntokens = st->next_slot = 0;
    pthread_mutex_unlock(&st->g.mu);
    cds_respond_json(r, 200, json_pack("{s:I}", "revoked", (json_int_t)n));
}

static void sim_config(cds_req *r)
{
    sim_record(r);
    fcm_state *st = fcm_of(r);
    if (strcmp(cds_req_method(r), "POST") == 0) {
        json_t *in = cds_req_json(r);
        if (!in) return;
        json_t *down = json_object_get(in, "token_down"), *ttl = json_object_get(in, "token_ttl");
        const char *k;
        json_t *v;
        int ok = json_is_object(in) && (!down || json_is_boolean(down)) &&
                 (!ttl || (json_is_integer(ttl) && json_integer_value(ttl) >= 1 &&
                           json_integer_value(ttl) <= 86400));
        json_object_foreach(in, k, v) if (strcmp(k, "token_down") && strcmp(k, "token_ttl")) ok = 0;
        if (!ok) {
            cds_problem(r, 400, "invalid_control",
                        "Nhận {\"token_down\": true|false, \"token_ttl\": 1..86400}.");
            return;
        }
        pthread_mutex_lock(&st->g.mu);
        if (down) st->token_down = json_is_true(down);
        if (ttl) st->ttl = (int)json_integer_value(ttl);
        pthread_mutex_unlock(&st->g.mu);
    }
    pthread_mutex_lock(&st->g.mu);
    json_t *j = json_pack("{s:b,s:i,s:s,s:s}", "token_down", st->token_down, "token_ttl", st->ttl,
                          "project_id", st->project, "token_uri", st->token_uri);
    pthread_mutex_unlock(&st->g.mu);
    cds_respond_json(r, 200, j);
}

static void fcm_other(cds_req *r)
{
    sim_record(r);
    fcm_error(r, 0, 404, "NOT_FOUND", "Requested entity was not found.", NULL, NULL);
}

/* ---------------- life ---------------- */

static const gw_ops fcm_ops = {
    .answer_error = answer_error,
    .error_valid = error_valid,
    .default_error = "UNAVAILABLE",
    .error_names = "\"UNAVAILABLE\", \"QUOTA_EXCEEDED\", \"INTERNAL\", \"SENDER_ID_MISMATCH\", "
                   "\"THIRD_PARTY_AUTH_ERROR\", \"UNREGISTERED\", \"INVALID_ARGUMENT\"",
};

static void cleanup(void)
{
    if (!g_fcm) return;
    gw_free(&g_fcm->g);
    gw_set_free(g_fcm->unregistered);
    EVP_PKEY_free(g_fcm->key);
    if (g_fcm->key_pem) OPENSSL_cleanse(g_fcm->key_pem, strlen(g_fcm->key_pem));
    free(g_fcm->key_pem);
    free(g_fcm);
    g_fcm = NULL;
}

static int fcm_init(sim_standin *s)
{
    fcm_state *st = calloc(1, sizeof *st);
    if (!st) return -1;
    gw_env_str(st->project, sizeof st->project, "CDS_SIM_FCM_PROJECT", "cong-dan-so-dev");
    char dflt[256];
    snprintf(dflt, sizeof dflt, "firebase-adminsdk-cds@%s.iam.gserviceaccount.com", st->project);
    gw_env_str(st->client_email, sizeof st->client_email, "CDS_SIM_FCM_CLIENT_EMAIL", dflt);
    snprintf(st->token_uri, sizeof st->token_uri, "%s/token", s->base_url);
    long ttl;
    if (gw_env_int("CDS_SIM_FCM_TOKEN_TTL", 3599, 1, 86400, &ttl) != 0) {
        free(st);
        return -1;
    }
    st->ttl = (int)ttl;
    char key_file[512];
    gw_env_str(key_file, sizeof key_file, "CDS_SIM_FCM_KEY_FILE", "");
    st->key = key_file[0] ? sim_pkey_read_pem(key_file) : sim_pkey_generate("RS256");
    if (!st->key || EVP_PKEY_get_base_id(st->key) != EVP_PKEY_RSA) {
        fprintf(stderr, "cds-sim: fcm needs an RSA key (CDS_SIM_FCM_KEY_FILE)\n");
        EVP_PKEY_free(st->key);
        free(st);
        return -1;
    }
    st->key_pem = sim_pkey_pem(st->key);
    char digits[24];
    if (!st->key_pem || gw_random_hex(st->key_id, sizeof st->key_id, 20) != 0 ||
        gw_random_hex(digits, sizeof digits, 10) != 0) {
        EVP_PKEY_free(st->key);
        free(st->key_pem);
        free(st);
        return -1;
    }
    /* client_id: 21 decimal digits, like Google's. */
    st->client_id[0] = '1';
    for (int i = 1; i < 21; i++) st->client_id[i] = (char)('0' + (digits[i - 1] % 10));
    st->client_id[21] = 0;
    st->unregistered = gw_set_new();
    if (gw_init(&st->g, s, &fcm_ops, st) != 0) {
        gw_set_free(st->unregistered);
        EVP_PKEY_free(st->key);
        free(st->key_pem);
        free(st);
        return -1;
    }
    g_fcm = st;
    /* Registered after OpenSSL initialised itself (key generation above),
     * so it runs before OpenSSL's own exit-time cleanup. */
    atexit(cleanup);
    return 0;
}

static const cds_route fcm_routes[] = {
    {"POST", "/token", fcm_token, 16384},
    {"POST", "/v1/projects/{project}/messages:send", fcm_send, 64 * 1024},
    {"GET", "/_sim/service-account.json", sim_service_account, 0},
    {"POST", "/_sim/tokens", sim_tokens, 4 * 1024 * 1024},
    {"POST", "/_sim/revoke", sim_revoke, 1024},
    {"GET", "/_sim/config", sim_config, 0},
    {"POST", "/_sim/config", sim_config, 4096},
    {"GET", "/_sim/fail", gw_sim_fail, 0},
    {"POST", "/_sim/fail", gw_sim_fail, 4096},
    {"GET", "/_sim/messages", gw_sim_messages, 0},
    {"DELETE", "/_sim/messages", gw_sim_clear, 0},
};

sim_standin sim_fcm = {
    .name = "fcm",
    .default_port = 9005,
    .routes = fcm_routes,
    .nroutes = sizeof fcm_routes / sizeof fcm_routes[0],
    .fallback = fcm_other,
    .init = fcm_init,
};
