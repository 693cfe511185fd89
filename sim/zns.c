/* The Zalo ZNS stand-in (`zns`, port 9009): ZNS's template-message API, the
 * OA access-token refresh and the delivery webhook, as Zalo's public
 * documentation describes them, written here without the server's code.
 *
 *   POST /message/template   (business.openapi.zalo.me)
 *     header access_token: <OA access token>
 *     {"phone":"84xxxxxxxxx","template_id":"..","template_data":{..},
 *      "tracking_id":".."?}
 *     -> {"error":0,"message":"Success","data":{"msg_id":"..","sent_time":"<ms>",
 *         "quota":{"dailyQuota":"..","remainingQuota":".."}}}
 *     refusals (always HTTP 200, Zalo's codes, zalo.cloud "Cách xử lý mã lỗi"):
 *       -124 Access token invalid (missing, unknown or expired)
 *       -108 Phone number invalid (not 84 followed by 9 digits)
 *       -109 Template ID invalid (not one of CDS_SIM_ZNS_TEMPLATES)
 *       -111 Template data empty (not a non-empty object)
 *       -118 Zalo account not existed (a phone marked by /_sim/zalo)
 *       -100 Unknown error (the default injected error; also -115 Out of
 *            quota, -119 Account can not receive ZNS can be injected)
 *     tracking_id deduplicates: a repeat gets the first answer (Zalo does
 *     not document its behaviour for a repeated tracking_id; this is ours).
 *   POST /v4/oa/access_token  (oauth.zaloapp.com)
 *     header secret_key: <app secret>; form refresh_token, app_id,
 *     grant_type=refresh_token
 *     -> {"access_token":"..","refresh_token":"..","expires_in":"<s>"}
 *     A refresh token is good once: the answer brings the next, and the old
 *     access token stops working. Refused: {"error":-14014,
 *     "error_name":"Invalid refresh token"} (error numbers of the OAuth
 *     endpoint are not in the pages we read: ours).
 *   The webhook, after each accepted message: POST to
 *     CDS_SIM_ZNS_WEBHOOK_URL (default: CDS_SIM_SMS_CALLBACK_BASE with its
 *     last segment "sms" replaced by "zns", i.e.
 *     http://127.0.0.1:8080/v1/callbacks/zns)
 *     {"app_id","user_id_by_app","event_name":"user_received_message",
 *      "message":{"msg_id","delivery_time","tracking_id"},"timestamp":"<ms>"}
 *     X-ZEvent-Signature: mac=<hex SHA-256(app_id + body + timestamp + OA secret key)>
 *
 * Settings: CDS_SIM_ZNS_APP_ID ("cds-dev-zalo-app"), CDS_SIM_ZNS_SECRET_KEY
 * ("cds-dev-zalo-app-secret"), CDS_SIM_ZNS_OA_SECRET_KEY
 * ("cds-dev-zalo-oa-secret"), CDS_SIM_ZNS_REFRESH_TOKEN (the first refresh
 * token, "cds-dev-zalo-refresh-token"), CDS_SIM_ZNS_TEMPLATES
 * ("cds-dossier-step", comma-separated), CDS_SIM_ZNS_TOKEN_TTL (90000 s).
 * Test controls: /_sim/fail, /_sim/messages, /_sim/dlr (gateway_common.h),
 * POST /_sim/zalo {"no_zalo":["84.."]} | {"no_zalo_percent":N} | {"reset":true}
 * (numbers without a Zalo account: listed, or a fixed N % of all numbers by
 * a hash of the number, for benchmarks), GET /_sim/token, POST /_sim/token {"expire":true} (the
 * current access token stops working). */
#include "sim/gateway_common.h"
#include "sim/witness.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct zns_cfg {
    char app_id[128], secret_key[128], oa_secret[128], templates[512];
    long ttl_s;
    /* under g_gw.mu */
    char access[80], refresh[160];
    long long access_until_ms;
    long refreshes;
    gw_set *no_zalo;
    int no_zalo_percent; /* numbers whose hash falls below it have no Zalo (benchmarks) */
} zns_cfg;

static zns_cfg g_cfg;
static gw g_gw;

static void answer(cds_req *r, int delay, long code, const char *message)
{
    gw_respond_json(r, delay, 200, json_pack("{s:i,s:s}", "error", (int)code, "message", message));
}

/* ---------------- injected errors ---------------- */

static const gw_error_table error_codes[] = {
    {"-100", "Unknown error"},
    {"-115", "Out of quota"},
    {"-119", "Account can not receive ZNS"},
};
#define NERRORS (sizeof error_codes / sizeof error_codes[0])

static int error_valid(const char *e)
{
    return gw_error_text(error_codes, NERRORS, e) != NULL;
}

static void answer_error(cds_req *r, const char *e)
{
    const char *text = gw_error_text(error_codes, NERRORS, e);
    if (text) answer(r, 0, strtol(e, NULL, 10), text);
}

/* ---------------- the webhook ---------------- */

static void sha256_hex(const char *data, size_t n, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)data, n, d);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * SHA256_DIGEST_LENGTH] = 0;
}

static int build_callback(gw *g, const char *provider_id, const char *key, json_t *fields,
                          const char *phone, int outcome, gw_http_out *out)
{
    (void)phone;
    if (outcome != GW_DLR_DELIVERED || !g->callback_url[0])
        return -1; /* Zalo reports receipt only */
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", gw_now_ms());
    const char *user = json_string_value(json_object_get(fields, "user_id_by_app"));
    const char *uid = user ? user : "", *tracking = key ? key : "";
    if (gw_json_plain(g_cfg.app_id) && gw_json_plain(uid) && gw_json_plain(provider_id) &&
        gw_json_plain(tracking)) { /* the usual event, printed as json_dumps would */
        if (asprintf(&out->body,
                     "{\"app_id\":\"%s\",\"user_id_by_app\":\"%s\",\"event_name\":"
                     "\"user_received_message\",\"message\":{\"msg_id\":\"%s\",\"delivery_time\":"
                     "\"%s\",\"tracking_id\":\"%s\"},\"timestamp\":\"%s\"}",
                     g_cfg.app_id, uid, provider_id, ts, tracking, ts) < 0)
            out->body = NULL;
    } else {
        json_t *ev = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s},s:s}", "app_id", g_cfg.app_id,
                               "user_id_by_app", uid, "event_name", "user_received_message",
                               "message", "msg_id", provider_id, "delivery_time", ts,
                               "tracking_id", tracking, "timestamp", ts);
        if (!ev) return -1;
        out->body = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
    }
    if (!out->body) return -1;
    out->body_len = strlen(out->body);
    size_t n = strlen(g_cfg.app_id) + out->body_len + strlen(ts) + strlen(g_cfg.oa_secret);
    char *cat = malloc(n + 1);
    if (!cat) abort();
    snprintf(cat, n + 1, "%s%s%s%s", g_cfg.app_id, out->body, ts, g_cfg.oa_secret);
    char hex[65];
    sha256_hex(cat, n, hex);
    free(cat);
    snprintf(out->header, sizeof out->header, "X-ZEvent-Signature: mac=%s", hex);
    out->own_signature = 1;
    snprintf(out->method, sizeof out->method, "POST");
    out->url = strdup(g->callback_url);
    if (!out->url) abort();
    return 0;
}

/* ---------------- sending ---------------- */

static int template_known(const char *id)
{
    size_t n = strlen(id);
    const char *p = g_cfg.templates;
    while (n && *p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, id, n) == 0) return 1;
        p = e ? e + 1 : p + l;
    }
    return 0;
}

static int phone_ok(const char *p)
{
    return p && strlen(p) == 11 && strncmp(p, "84", 2) == 0 && strspn(p, "0123456789") == 11;
}

static void zns_send(cds_req *r)
{
    sim_record(r);
    int delay = gw_gate(r);
    if (delay < 0) return;
    gw *g = gw_of(r);
    const char *token = cds_req_header(r, "access_token");
    pthread_mutex_lock(&g->mu);
    int token_ok = token && g_cfg.access[0] && strlen(token) == strlen(g_cfg.access) &&
                   sim_ct_equal(token, g_cfg.access, strlen(token)) &&
                   gw_now_ms() < g_cfg.access_until_ms;
    pthread_mutex_unlock(&g->mu);
    if (!token_ok) {
        answer(r, delay, -124, "Access token invalid");
        return;
    }
    json_t *in = cds_req_json(r);
    if (!in) return;
    const char *phone = json_string_value(json_object_get(in, "phone"));
    const char *tmpl = json_string_value(json_object_get(in, "template_id"));
    json_t *data = json_object_get(in, "template_data");
    json_t *tr = json_object_get(in, "tracking_id");
    const char *tracking = json_string_value(tr);
    if (!json_is_object(in)) {
        answer(r, delay, -100, "Body must be a JSON object");
        return;
    }
    if (!phone_ok(phone)) {
        answer(r, delay, -108, "Phone number invalid");
        return;
    }
    if (!tmpl || !template_known(tmpl)) {
        answer(r, delay, -109, "Template ID invalid");
        return;
    }
    if (!json_is_object(data) || json_object_size(data) == 0) {
        answer(r, delay, -111, "Template data empty");
        return;
    }
    if (tr && (!tracking || strlen(tracking) > 48)) {
        answer(r, delay, -100, "tracking_id must be a string of at most 48 characters");
        return;
    }
    unsigned h = 2166136261u; /* FNV-1a of the number: a fixed share without Zalo */
    for (const char *q = phone; *q; q++)
        h = (h ^ (unsigned char)*q) * 16777619u;
    pthread_mutex_lock(&g->mu);
    int no_zalo = gw_set_has(g_cfg.no_zalo, phone) || (int)(h % 100) < g_cfg.no_zalo_percent;
    pthread_mutex_unlock(&g->mu);
    if (no_zalo) {
        answer(r, delay, -118, "Zalo account not existed");
        return;
    }
    gw_answer a;
    if (tracking && *tracking && gw_store_find(g, tracking, &a)) {
        gw_respond(r, delay, a.status, a.ctype, a.body, a.len);
        gw_answer_free(&a);
        return;
    }
    char msg_id[33], user[40], ts[32];
    if (gw_random_hex(msg_id, sizeof msg_id, 16) != 0) abort();
    snprintf(user, sizeof user, "u%s", phone); /* a stable user id per number */
    snprintf(ts, sizeof ts, "%lld", gw_now_ms());
    /* Zalo's answer as json_dumps would write it (msg_id is hex, the time digits). */
    char body[256];
    snprintf(body, sizeof body,
             "{\"error\":0,\"message\":\"Success\",\"data\":{\"msg_id\":\"%s\",\"sent_time\":\"%s\","
             "\"quota\":{\"dailyQuota\":\"500\",\"remainingQuota\":\"499\"}}}",
             msg_id, ts);
    json_t *fields = json_pack("{s:s,s:s,s:O,s:s}", "phone", phone, "template_id", tmpl,
                               "template_data", data, "user_id_by_app", user);
    /* A reference for the webhook: stored fields are never changed. */
    json_t *dlr = json_incref(fields);
    if (gw_store_put(g, tracking && *tracking ? tracking : NULL, msg_id, fields, 200,
                     "application/json", body, strlen(body), &a)) {
        gw_respond(r, delay, a.status, a.ctype, a.body, a.len);
        gw_answer_free(&a);
        json_decref(dlr);
        return;
    }
    gw_dlr_schedule(r, msg_id, tracking && *tracking ? tracking : NULL, dlr);
    json_decref(dlr);
    gw_respond(r, delay, 200, "application/json", body, strlen(body));
}

/* ---------------- the OA access token ---------------- */

/* The value of `name` in a form body (first occurrence), decoded; "" when
 * absent. -1 when malformed or too long. */
static int form_get(const char *body, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name), o = 0;
    out[0] = 0;
    const char *p = body, *end = body + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if ((size_t)(e - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            for (const char *q = p + nl + 1; q < e; q++) {
                if (o + 1 >= cap) return -1;
                if (*q == '+') {
                    out[o++] = ' ';
                } else if (*q == '%') {
                    if (e - q < 3) return -1;
                    char h[3] = {q[1], q[2], 0};
                    char *bad;
                    long v = strtol(h, &bad, 16);
                    if (*bad) return -1;
                    out[o++] = (char)v;
                    q += 2;
                } else {
                    out[o++] = *q;
                }
            }
            out[o] = 0;
            return 0;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

static void token_refused(cds_req *r, const char *why)
{
    gw_respond_json(r, 0, 200,
                    json_pack("{s:i,s:s,s:s}", "error", -14014, "error_name",
                              "Invalid refresh token", "error_description", why));
}

static void zns_token(cds_req *r)
{
    sim_record(r);
    gw *g = gw_of(r);
    size_t n = 0;
    const char *body = cds_req_body(r, &n);
    const char *secret = cds_req_header(r, "secret_key");
    char rt[256], app[128], grant[64];
    if (!body || form_get(body, n, "refresh_token", rt, sizeof rt) != 0 ||
        form_get(body, n, "app_id", app, sizeof app) != 0 ||
        form_get(body, n, "grant_type", grant, sizeof grant) != 0) {
        token_refused(r, "malformed form body");
        return;
    }
    if (!secret || strlen(secret) != strlen(g_cfg.secret_key) ||
        !sim_ct_equal(secret, g_cfg.secret_key, strlen(secret)) || strcmp(app, g_cfg.app_id) != 0) {
        gw_respond_json(
            r, 0, 200,
            json_pack("{s:i,s:s}", "error", -14002, "error_name", "Invalid app id or secret key"));
        return;
    }
    if (strcmp(grant, "refresh_token") != 0) {
        token_refused(r, "grant_type must be refresh_token");
        return;
    }
    pthread_mutex_lock(&g->mu);
    int ok =
        rt[0] && strlen(rt) == strlen(g_cfg.refresh) && sim_ct_equal(rt, g_cfg.refresh, strlen(rt));
    char access[80], refresh[160];
    if (ok) {
        char a[33], b[33];
        if (gw_random_hex(a, sizeof a, 16) != 0 || gw_random_hex(b, sizeof b, 16) != 0) abort();
        snprintf(g_cfg.access, sizeof g_cfg.access, "at-%s", a);
        snprintf(g_cfg.refresh, sizeof g_cfg.refresh, "rt-%s", b);
        g_cfg.access_until_ms = gw_now_ms() + g_cfg.ttl_s * 1000;
        g_cfg.refreshes++;
        memcpy(access, g_cfg.access, sizeof access);
        memcpy(refresh, g_cfg.refresh, sizeof refresh);
    }
    pthread_mutex_unlock(&g->mu);
    if (!ok) {
        token_refused(r, "unknown or already used refresh token");
        return;
    }
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%ld", g_cfg.ttl_s);
    gw_respond_json(r, 0, 200,
                    json_pack("{s:s,s:s,s:s}", "access_token", access, "refresh_token", refresh,
                              "expires_in", ttl));
}

/* ---------------- test controls ---------------- */

static void sim_zalo(cds_req *r)
{
    sim_record(r);
    gw *g = gw_of(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    json_t *list = json_object_get(in, "no_zalo");
    json_t *pct = json_object_get(in, "no_zalo_percent");
    int reset = json_is_true(json_object_get(in, "reset"));
    if (!json_is_object(in) || (!reset && !json_is_array(list) && !pct) ||
        (pct &&
         (!json_is_integer(pct) || json_integer_value(pct) < 0 || json_integer_value(pct) > 100))) {
        cds_problem(r, 400, "invalid_control",
                    "Nhận {\"no_zalo\": [\"84...\"]}, {\"no_zalo_percent\": 0..100} hoặc "
                    "{\"reset\": true}.");
        return;
    }
    pthread_mutex_lock(&g->mu);
    if (reset) {
        gw_set_clear(g_cfg.no_zalo);
        g_cfg.no_zalo_percent = 0;
    }
    if (pct) g_cfg.no_zalo_percent = (int)json_integer_value(pct);
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p) if (json_is_string(p))
        gw_set_add(g_cfg.no_zalo, json_string_value(p));
    size_t n = gw_set_size(g_cfg.no_zalo);
    pthread_mutex_unlock(&g->mu);
    cds_respond_json(r, 200, json_pack("{s:I}", "no_zalo", (json_int_t)n));
}

static void sim_token(cds_req *r)
{
    sim_record(r);
    gw *g = gw_of(r);
    if (strcmp(cds_req_method(r), "POST") == 0) {
        json_t *in = cds_req_json(r);
        if (!in) return;
        if (!json_is_true(json_object_get(in, "expire"))) {
            cds_problem(r, 400, "invalid_control", "Nhận {\"expire\": true}.");
            return;
        }
        pthread_mutex_lock(&g->mu);
        g_cfg.access_until_ms = 0;
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_lock(&g->mu);
    json_t *j = json_pack("{s:s,s:b,s:I}", "refresh_token", g_cfg.refresh, "access_valid",
                          g_cfg.access[0] && gw_now_ms() < g_cfg.access_until_ms, "refreshes",
                          (json_int_t)g_cfg.refreshes);
    pthread_mutex_unlock(&g->mu);
    cds_respond_json(r, 200, j);
}

static const gw_ops zns_ops = {
    .answer_error = answer_error,
    .error_valid = error_valid,
    .default_error = "-100",
    .error_names = "\"-100\", \"-115\", \"-119\"",
    .build_callback = build_callback,
};

static void cleanup(void)
{
    gw_set_free(g_cfg.no_zalo);
    gw_free(&g_gw);
}

static int zns_init(sim_standin *s)
{
    gw_env_str(g_cfg.app_id, sizeof g_cfg.app_id, "CDS_SIM_ZNS_APP_ID", "cds-dev-zalo-app");
    gw_env_str(g_cfg.secret_key, sizeof g_cfg.secret_key, "CDS_SIM_ZNS_SECRET_KEY",
               "cds-dev-zalo-app-secret");
    gw_env_str(g_cfg.oa_secret, sizeof g_cfg.oa_secret, "CDS_SIM_ZNS_OA_SECRET_KEY",
               "cds-dev-zalo-oa-secret");
    gw_env_str(g_cfg.refresh, sizeof g_cfg.refresh, "CDS_SIM_ZNS_REFRESH_TOKEN",
               "cds-dev-zalo-refresh-token");
    gw_env_str(g_cfg.templates, sizeof g_cfg.templates, "CDS_SIM_ZNS_TEMPLATES",
               "cds-dossier-step");
    if (gw_env_int("CDS_SIM_ZNS_TOKEN_TTL", 90000, 1, 10000000, &g_cfg.ttl_s) != 0) return -1;
    g_cfg.no_zalo = gw_set_new();
    if (!g_cfg.no_zalo || gw_init(&g_gw, s, &zns_ops, &g_cfg) != 0) return -1;
    atexit(cleanup);
    if (gw_callback_config(&g_gw, "ZNS", "zns", "zns", "unused") != 0) return -1;
    char url[512];
    gw_env_str(url, sizeof url, "CDS_SIM_ZNS_WEBHOOK_URL", "");
    if (!url[0]) {
        /* .../v1/callbacks/sms/zns/<token> -> .../v1/callbacks/zns: Zalo's
         * webhook is signed, its URL carries no token */
        char *p = strstr(g_gw.callback_url, "/sms/zns");
        if (p) {
            memmove(p, p + 4, strlen(p + 4) + 1);
            p[4] = 0;
        }
    } else {
        snprintf(g_gw.callback_url, sizeof g_gw.callback_url, "%s", url);
    }
    return 0;
}

static const cds_route zns_routes[] = {
    {"POST", "/message/template", zns_send, 64 * 1024},
    {"POST", "/v4/oa/access_token", zns_token, 4096},
    GW_SMS_CONTROL_ROUTES,
    {"POST", "/_sim/zalo", sim_zalo, 64 * 1024},
    {"GET", "/_sim/token", sim_token, 0},
    {"POST", "/_sim/token", sim_token, 4096},
};

sim_standin sim_zns = {
    .name = "zns",
    .default_port = 9009,
    .routes = zns_routes,
    .nroutes = sizeof zns_routes / sizeof zns_routes[0],
    .init = zns_init,
};
