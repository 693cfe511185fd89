/* Zalo ZNS as the text channel (issue 18, part 4), end to end over real
 * sockets: the server's dispatcher against the ZNS and eSMS stand-ins, with
 * a real PostgreSQL.
 *
 *   preference   PATCH /v1/me notification_preferences.zalo; a bad value
 *                is a 422 that changes nothing
 *   delivered    a Zalo user's step goes by ZNS (phone in 84 form, the
 *                template's data with diacritics, the outbox id as
 *                tracking_id), after the OA access token was fetched with
 *                the refresh token (when the dispatcher started); the
 *                signed webhook marks it delivered; no SMS
 *   fallback     a number without a Zalo account (-118): the same message
 *                goes by SMS, once, with ZNS's answer kept
 *   transient    ZNS failing (-100) twice: retried on ZNS and delivered
 *                there, never handed to SMS
 *   token        the access token expired at Zalo (-124): refreshed, the
 *                message sent again and delivered
 *   restart      a new process finds the rotated refresh token in the
 *                database (the configured one is spent) and sends
 *   webhook      a forged signature, a stale timestamp, another app id are
 *                401 and change nothing; a good one for an unknown message
 *                is 404; another event is acknowledged and ignored */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define PROCEDURE "1.009994"
#define PID "079085001234"
#define APP_ID "cds-dev-zalo-app"
#define OA_SECRET "cds-dev-zalo-oa-secret"

static char *db;
static th_sim sim;
static th_proc srv;
static char esms[64], zns[64];
static th_login login;

#define count(...) th_db_count(db, __VA_ARGS__)

#define value(sql) th_db_text(db, "%s", (sql))

#define wait_count(want, seconds, sql) th_db_wait_count(db, want, seconds, "%s", (sql))

static long settled(void)
{
    return wait_count(0, 30,
                      "SELECT count(*) FROM outbox WHERE status IN ('created', 'sending', "
                      "'temporary-failure', 'pending')");
}

static json_t *get_json(const char *url)
{
    th_resp r;
    json_t *j = NULL;
    if (th_http(&r, 1, "GET", url, NULL, NULL, 0) == 0 && r.status == 200)
        j = json_loads(r.body, 0, NULL);
    th_resp_free(&r);
    return j;
}

static long sim_post(const char *base, const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    const char *h[] = {"Content-Type: application/json", NULL};
    th_resp r;
    long st = th_http(&r, 1, "POST", url, h, body, strlen(body)) == 0 ? r.status : 0;
    th_resp_free(&r);
    return st;
}

/* The stand-in's record of the message with key `key` (tracking_id /
 * RequestId), or NULL. */
static json_t *sim_message(const char *base, const char *key)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/messages?key=%s", base, key);
    json_t *j = get_json(url);
    json_t *it = json_incref(json_array_get(json_object_get(j, "items"), 0));
    json_decref(j);
    return it;
}

static long refreshes(void)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/token", zns);
    json_t *j = get_json(url);
    long n = j ? (long)json_integer_value(json_object_get(j, "refreshes")) : -1;
    json_decref(j);
    return n;
}

static long patch_me(const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/me", srv.url);
    th_resp r;
    long st = th_json(&r, "PATCH", url, login.access, body, NULL);
    th_resp_free(&r);
    return st;
}

static int seq;

/* Imports dossier TZ-<tag> for the citizen; returns its SMS/ZNS outbox id (malloc). */
static char *import(const char *tag)
{
    char code[64];
    snprintf(code, sizeof code, "TZ-%s-%d", tag, (int)getpid());
    CHECK_INT(th_partner_import(srv.url, code, PROCEDURE, PID, "Nguyễn Văn An", "0912345678"), 201);
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT o.id FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE d.code = '%s' "
             "AND o.channel IN ('sms', 'zns')",
             code);
    seq++;
    return value(sql);
}

static void test_preference(void)
{
    CHECK_INT(th_login_as(&srv, PID, &login), 200);
    CHECK_INT(patch_me("{\"notification_preferences\":{\"zalo\":\"yes\"}}"), 422);
    CHECK_INT(count("SELECT count(*) FROM citizens WHERE notify_zalo"), 0);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/me", srv.url);
    th_resp r;
    json_t *j = NULL;
    CHECK_INT(th_json(&r, "PATCH", url, login.access,
                      "{\"notification_preferences\":{\"zalo\":true}}", (void **)&j),
              200);
    CHECK(json_is_true(json_object_get(json_object_get(j, "notification_preferences"), "zalo")));
    CHECK(json_is_true(json_object_get(json_object_get(j, "notification_preferences"), "sms")));
    json_decref(j);
    th_resp_free(&r);
}

static void test_delivered(void)
{
    char *id = import("OK");
    CHECK_INT(settled(), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND channel = 'zns' AND status = "
                    "'delivered' AND provider = 'zns' AND delivered_at IS NOT NULL AND "
                    "fallback_from IS NULL",
                    id),
              1);
    json_t *m = sim_message(zns, id);
    CHECK(m != NULL);
    CHECK_STR(json_string_value(json_object_get(m, "phone")), "84912345678");
    const char *text =
        json_string_value(json_object_get(json_object_get(m, "template_data"), "message"));
    CHECK(text && strstr(text, "Hồ sơ") != NULL); /* diacritics kept */
    CHECK_INT(json_integer_value(json_object_get(m, "times_seen")), 1);
    json_decref(m);
    m = sim_message(esms, id);
    CHECK(m == NULL); /* no SMS */
    json_decref(m);
    /* The token was fetched with the refresh token: by the dispatcher when
     * it started, before its first claim. */
    CHECK(refreshes() >= 1);
    /* The inbox lists it, with the ZNS text. */
    char url[256];
    snprintf(url, sizeof url, "%s/v1/notifications", srv.url);
    th_resp r;
    json_t *j = NULL;
    CHECK_INT(th_json(&r, "GET", url, login.access, NULL, (void **)&j), 200);
    json_t *it = json_array_get(json_object_get(j, "items"), 0);
    CHECK_STR(json_string_value(json_array_get(json_object_get(it, "channels"), 0)), "zalo");
    const char *body = json_string_value(json_object_get(it, "body"));
    CHECK(body && strstr(body, "Hồ sơ") != NULL);
    json_decref(j);
    th_resp_free(&r);
    free(id);
}

static void test_fallback(void)
{
    CHECK_INT(sim_post(zns, "/_sim/zalo", "{\"no_zalo\":[\"84900000501\"]}"), 200);
    CHECK_INT(patch_me("{\"contact_phone\":\"0900000501\"}"), 200);
    char *id = import("NZ");
    CHECK_INT(settled(), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND channel = 'sms' AND status = "
                    "'delivered' AND provider = 'esms' AND fallback_from LIKE 'ZNS error -118%%'",
                    id),
              1);
    json_t *m = sim_message(esms, id);
    CHECK(m != NULL);
    CHECK_INT(m ? json_integer_value(json_object_get(m, "times_seen")) : 0, 1);
    CHECK_STR(m ? json_string_value(json_object_get(m, "phone")) : "", "0900000501");
    json_decref(m);
    m = sim_message(zns, id);
    CHECK(m == NULL); /* ZNS refused it: it was never sent there */
    json_decref(m);
    CHECK_INT(patch_me("{\"contact_phone\":null}"), 200);
    free(id);
}

static void test_transient(void)
{
    CHECK_INT(sim_post(zns, "/_sim/fail", "{\"mode\":\"error\",\"count\":2}"), 200);
    char *id = import("TR");
    CHECK_INT(settled(), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND channel = 'zns' AND status = "
                    "'delivered' AND attempts = 3 AND fallback_from IS NULL",
                    id),
              1);
    json_t *m = sim_message(esms, id);
    CHECK(m == NULL); /* a failure that may pass is never handed to SMS */
    json_decref(m);
    free(id);
}

static const char *const *g_env;
static int g_port;

/* A new process: the refresh token of the configuration was used long ago
 * (Zalo's are good once); the one the last refresh returned is read from
 * the database, and the message goes out. */
static void test_restart(void)
{
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    CHECK_INT(count("SELECT count(*) FROM zns_oauth WHERE refresh_sealed IS NOT NULL"), 1);
    CHECK_INT(sim_post(zns, "/_sim/token", "{\"expire\":true}"), 200);
    CHECK_INT(th_server_start_on(&srv, g_port, db, g_env), 0);
    long before = refreshes();
    char *id = import("RS");
    CHECK_INT(settled(), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND channel = 'zns' AND status = "
                    "'delivered'",
                    id),
              1);
    CHECK_INT(refreshes(), before + 1);
    free(id);
}

static void test_token(void)
{
    long before = refreshes();
    CHECK_INT(sim_post(zns, "/_sim/token", "{\"expire\":true}"), 200);
    char *id = import("TK");
    CHECK_INT(settled(), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND channel = 'zns' AND status = "
                    "'delivered' AND attempts = 1",
                    id),
              1);
    CHECK_INT(refreshes(), before + 1);
    free(id);
}

/* POSTs a webhook event; sig NULL: signed as Zalo documents with `secret`. */
static long webhook(const char *app, const char *msg_id, const char *event, long long ts_ms,
                    const char *secret, const char *sig)
{
    char ts[32], body[512];
    snprintf(ts, sizeof ts, "%lld", ts_ms);
    snprintf(body, sizeof body,
             "{\"app_id\":\"%s\",\"user_id_by_app\":\"u1\",\"event_name\":\"%s\","
             "\"message\":{\"msg_id\":\"%s\",\"delivery_time\":\"%s\"},\"timestamp\":\"%s\"}",
             app, event, msg_id, ts, ts);
    char cat[1024], hex[65], h[128];
    snprintf(cat, sizeof cat, "%s%s%s%s", app, body, ts, secret);
    unsigned char d[32];
    SHA256((const unsigned char *)cat, strlen(cat), d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    snprintf(h, sizeof h, "X-ZEvent-Signature: mac=%s", sig ? sig : hex);
    const char *hv[] = {"Content-Type: application/json", h, NULL};
    char url[256];
    snprintf(url, sizeof url, "%s/v1/callbacks/zns", srv.url);
    th_resp r;
    long st = th_http(&r, 1, "POST", url, hv, body, strlen(body)) == 0 ? r.status : 0;
    th_resp_free(&r);
    return st;
}

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void test_webhook(void)
{
    /* A message ZNS took but has not reported: pending. */
    CHECK_INT(sim_post(zns, "/_sim/dlr", "{\"outcome\":\"none\"}"), 200);
    char *id = import("WH");
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox WHERE id = %s AND status = 'pending'",
             id);
    CHECK_INT(wait_count(1, 20, sql), 1);
    snprintf(sql, sizeof sql, "SELECT provider_message_id FROM outbox WHERE id = %s", id);
    char *msg = value(sql);
    const char *ev = "user_received_message";
    long long t = now_ms();
    CHECK_INT(webhook(APP_ID, msg, ev, t, "wrong-oa-secret", NULL), 401);
    CHECK_INT(webhook(APP_ID, msg, ev, t, OA_SECRET,
                      "0000000000000000000000000000000000000000000000000000000000000000"),
              401);
    CHECK_INT(webhook(APP_ID, msg, ev, t - 3600 * 1000LL, OA_SECRET, NULL), 401); /* stale */
    CHECK_INT(webhook("another-app", msg, ev, t, OA_SECRET, NULL), 401);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND status = 'pending'", id), 1);
    CHECK_INT(webhook(APP_ID, "no-such-message", ev, t, OA_SECRET, NULL), 404);
    CHECK_INT(webhook(APP_ID, msg, "user_seen_message", t, OA_SECRET, NULL), 200);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND status = 'pending'", id), 1);
    CHECK_INT(webhook(APP_ID, msg, ev, t, OA_SECRET, NULL), 200);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND status = 'delivered'", id), 1);
    CHECK_INT(webhook(APP_ID, msg, ev, t, OA_SECRET, NULL), 200); /* a repeat: unchanged */
    CHECK_INT(sim_post(zns, "/_sim/dlr", "{\"outcome\":\"delivered\"}"), 200);
    free(msg);
    free(id);
}

int main(void)
{
    db = th_db_new("zns");
    int port = th_free_port();
    char cb[256];
    snprintf(cb, sizeof cb, "CDS_SIM_SMS_CALLBACK_BASE=http://127.0.0.1:%d/v1/callbacks/sms", port);
    const char *names[] = {"vneid", "sms-esms", "zns", NULL};
    const char *senv[] = {cb, "CDS_SIM_SMS_DLR_DELAY_MS=20", "CDS_SIM_SMS_CALLBACK_RETRY_MS=500",
                          "CDS_SIM_SMS_CALLBACK_ATTEMPTS=20", NULL};
    if (th_sim_start(&sim, names, senv) != 0) return 1;
    snprintf(esms, sizeof esms, "%s", th_sim_url(&sim, "sms-esms"));
    snprintf(zns, sizeof zns, "%s", th_sim_url(&sim, "zns"));
    static char e[16][256];
    int i = 0;
    snprintf(e[i++], 256, "CDS_ESMS_URL=%s", esms);
    snprintf(e[i++], 256, "CDS_ESMS_API_KEY=cds-dev-esms-apikey");
    snprintf(e[i++], 256, "CDS_ESMS_SECRET_KEY=cds-dev-esms-secretkey");
    snprintf(e[i++], 256, "CDS_ZNS_URL=%s", zns);
    snprintf(e[i++], 256, "CDS_ZNS_OAUTH_URL=%s", zns);
    snprintf(e[i++], 256, "CDS_ZNS_APP_ID=" APP_ID);
    snprintf(e[i++], 256, "CDS_ZNS_SECRET_KEY=cds-dev-zalo-app-secret");
    snprintf(e[i++], 256, "CDS_ZNS_OA_SECRET_KEY=" OA_SECRET);
    snprintf(e[i++], 256, "CDS_ZNS_REFRESH_TOKEN=cds-dev-zalo-refresh-token");
    snprintf(e[i++], 256, "CDS_ZNS_TEMPLATE_ID=cds-dossier-step");
    snprintf(e[i++], 256, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    const char *env[24];
    int n = 0;
    for (int k = 0; k < i; k++)
        env[n++] = e[k];
    env[n++] = "CDS_AUTO_MIGRATE=1";
    env[n++] = "CDS_SMS_PER_HOUR=0";
    env[n++] = "CDS_NOTIFY_BACKOFF_MS=200";
    env[n++] = "CDS_NOTIFY_BACKOFF_MAX_MS=1000";
    env[n] = NULL;
    g_env = env;
    g_port = port;
    if (th_server_start_on(&srv, port, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;

    test_preference();
    test_delivered();
    test_fallback();
    test_transient();
    test_token();
    test_restart();
    test_webhook();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    return t_done();
}
