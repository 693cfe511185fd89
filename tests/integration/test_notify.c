/* Notifications end to end over real sockets: the server's dispatchers
 * against the SMS (eSMS, SpeedSMS), FCM and APNs stand-ins, with a real
 * PostgreSQL.
 *
 *   journey      a step reaches the SMS gateway without diacritics, FCM and
 *                APNs with diacritics and the dossier as collapse key; the
 *                delivery receipt marks the SMS delivered; the inbox lists it
 *                and marks it read, and lists a courier update (no dossier
 *                step) as an entry of its own
 *   English      a citizen who chose English (PATCH /v1/me language, a
 *                bad value refused and changing nothing) gets the fee push
 *                (FCM and APNs) and its inbox entry in English, the amount grouped the
 *                English way; the SMS stays Vietnamese without diacritics.
 *                The inbox answers in the language Accept-Language names,
 *                else the stored one, with Content-Language and Vary: the
 *                English push shown in Vietnamese, a Vietnamese citizen's
 *                entries in English. A login's Accept-Language sets the
 *                language of a citizen who has not chosen one (English from
 *                the first step, also for an SMS-only citizen's inbox), and
 *                never overrides a choice
 *   bad input    reports with a wrong token or none, from an address the
 *                gateway's allow-list leaves out, for an unknown message,
 *                malformed, repeated, replayed after the final one (each
 *                changes nothing); an unregistered FCM token and APNs token
 *                (410) prune the device; a template variable missing fails
 *                that message alone
 *   receipt batch  receipts arriving together (applied in one statement per
 *                turn of the server's loop), repeats and unknown messages
 *                among them: each gets its own answer, each message changes
 *                once
 *   failover     eSMS failing: SpeedSMS takes the traffic, and eSMS gets it
 *                back once it recovers
 *   outage       both gateways down: messages wait, then all go out
 *   rate limit   over CDS_SMS_PER_HOUR nothing is dropped: the demo sequence
 *                (two dossiers, 7 SMS, limit 3) and a burst of 54 steps end
 *                with the citizen's last SMS stating the final state, no SMS
 *                failed; two dossiers held back together are one SMS
 *   two nodes    two dispatching servers on one database send nothing twice
 *   SIGKILL      the server killed in the middle of a burst of 1,000 steps and
 *                started again: every message is delivered and the gateway saw
 *                each idempotency key once after deduplication */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROCEDURE "1.009994"
#define PID_A "079085001234"

static char *db;
static th_sim sim;
static th_proc srv, srv2;
static int port;
static char esms[64], speedsms[64], fcm[64], apns[64];
static char env_buf[16][512];
static const char *env[32];

#define count(...) th_db_count(db, __VA_ARGS__)

#define value(sql) th_db_text(db, "%s", (sql))

#define wait_count(want, seconds, sql) th_db_wait_count(db, want, seconds, "%s", (sql))

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

/* The stand-in's record of the message with idempotency key `key`, or NULL. */
static json_t *sim_message(const char *base, const char *key)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/messages?key=%s", base, key);
    json_t *j = get_json(url);
    json_t *it = json_incref(json_array_get(json_object_get(j, "items"), 0));
    json_decref(j);
    return it;
}

static long sim_stat(const char *base, const char *field)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/messages?limit=1", base);
    json_t *j = get_json(url);
    long n = j ? (long)json_integer_value(json_object_get(j, field)) : -1;
    json_decref(j);
    return n;
}

static int start_server(th_proc *p, int on_port, const char *extra)
{
    const char *e[40];
    int n = 0;
    for (; env[n]; n++) e[n] = env[n];
    if (extra) e[n++] = extra;
    e[n] = NULL;
    return th_server_start_on(p, on_port, db, e);
}

static int start_server2(th_proc *p, const char *x1, const char *x2)
{
    const char *e[40];
    int n = 0;
    for (; env[n]; n++) e[n] = env[n];
    e[n++] = x1;
    e[n++] = x2;
    e[n] = NULL;
    return th_server_start_on(p, port, db, e);
}

static const char *fetch_keys(void)
{
    static char sa_path[256], p8_path[256];
    snprintf(sa_path, sizeof sa_path, "%s/Testing/fcm_sa_%d.json", CDS_BUILD_DIR, (int)getpid());
    snprintf(p8_path, sizeof p8_path, "%s/Testing/apns_%d.p8", CDS_BUILD_DIR, (int)getpid());
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/service-account.json", fcm);
    th_resp r;
    if (th_http(&r, 1, "GET", url, NULL, NULL, 0) != 0 || r.status != 200) return "fcm key";
    FILE *f = fopen(sa_path, "w");
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    th_resp_free(&r);
    snprintf(url, sizeof url, "%s/_sim/auth-key.json", apns);
    json_t *k = NULL;
    if (th_http(&r, 2, "GET", url, NULL, NULL, 0) == 0 && r.status == 200)
        k = json_loads(r.body, 0, NULL);
    th_resp_free(&r);
    if (!k) return "apns key";
    f = fopen(p8_path, "w");
    fputs(json_string_value(json_object_get(k, "private_key")), f);
    fclose(f);
    int i = 0;
    snprintf(env_buf[i++], 512, "CDS_ESMS_URL=%s", esms);
    snprintf(env_buf[i++], 512, "CDS_ESMS_API_KEY=cds-dev-esms-apikey");
    snprintf(env_buf[i++], 512, "CDS_ESMS_SECRET_KEY=cds-dev-esms-secretkey");
    snprintf(env_buf[i++], 512, "CDS_SPEEDSMS_URL=%s", speedsms);
    snprintf(env_buf[i++], 512, "CDS_SPEEDSMS_TOKEN=cds-dev-speedsms-token");
    snprintf(env_buf[i++], 512, "CDS_FCM_URL=%s", fcm);
    snprintf(env_buf[i++], 512, "CDS_FCM_SERVICE_ACCOUNT=%s", sa_path);
    snprintf(env_buf[i++], 512, "CDS_APNS_URL=%s", apns);
    snprintf(env_buf[i++], 512, "CDS_APNS_KEY_FILE=%s", p8_path);
    snprintf(env_buf[i++], 512, "CDS_APNS_KEY_ID=%s", json_string_value(json_object_get(k, "key_id")));
    snprintf(env_buf[i++], 512, "CDS_APNS_TEAM_ID=%s", json_string_value(json_object_get(k, "team_id")));
    snprintf(env_buf[i++], 512, "CDS_APNS_TOPIC=%s", json_string_value(json_object_get(k, "topic")));
    snprintf(env_buf[i++], 512, "CDS_APNS_CA_FILE=%s/Testing/dev-cert.pem", CDS_BUILD_DIR);
    json_decref(k);
    int n = 0;
    for (int j = 0; j < i; j++) env[n++] = env_buf[j];
    env[n++] = "CDS_AUTO_MIGRATE=1";
    env[n++] = "CDS_SMS_PER_HOUR=0";
    env[n++] = "CDS_NOTIFY_BACKOFF_MS=200";
    env[n++] = "CDS_NOTIFY_BACKOFF_MAX_MS=1000";
    env[n++] = "CDS_NOTIFY_CLAIM_TIMEOUT=2";
    env[n++] = "CDS_SMS_BREAKER_COOLDOWN_MS=500";
    /* Small receipt batches: the receipt-batch test then fills several in
     * one turn of the server's loop (a full batch is sent at once). */
    env[n++] = "CDS_SMS_RECEIPT_BATCH=4";
    /* The stand-ins report from 127.0.0.1; 127.0.0.2 is then a stranger. */
    env[n++] = "CDS_ESMS_CALLBACK_ALLOW=127.0.0.1/32, ::1";
    env[n++] = "CDS_SPEEDSMS_CALLBACK_ALLOW=127.0.0.1";
    env[n] = NULL;
    return NULL;
}

/* ---------------------------------------------------------------------- */

static char code_a[64], dossier_a[64];
static th_login login_a;
static int step_seq;

static long step(const char *code, const char *st, const char *extra)
{
    char ev[64];
    snprintf(ev, sizeof ev, "ev-%d-%d", (int)getpid(), ++step_seq);
    return th_partner_step(srv.url, code, ev, st, step_seq, extra);
}

/* Waits until no outbox row of the dossier is on its way; returns how many still are. */
static long wait_settled(const char *dossier, int seconds)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND status IN "
             "('created', 'sending', 'temporary-failure', 'pending')", dossier);
    return wait_count(0, seconds, sql);
}

static void test_journey(void)
{
    CHECK_INT(th_login_as(&srv, PID_A, &login_a), 200);
    const char *fcm_body = "{\"platform\":\"fcm\",\"token\":\"fcm-token-citizen-a-0001\"}";
    char apns_body[200];
    snprintf(apns_body, sizeof apns_body, "{\"platform\":\"apns\",\"token\":\"%s\"}",
             "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90");
    char url[256];
    snprintf(url, sizeof url, "%s/v1/me/devices", srv.url);
    th_resp r;
    CHECK_INT(th_json(&r, "POST", url, login_a.access, fcm_body, NULL), 201);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url, login_a.access, apns_body, NULL), 201);
    th_resp_free(&r);

    snprintf(code_a, sizeof code_a, "TN-A-%d", (int)getpid());
    CHECK_INT(th_partner_import(srv.url, code_a, PROCEDURE, PID_A, "Nguyễn Văn An", "0912345678"),
              201);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM dossiers WHERE code = '%s'", code_a);
    char *id = value(sql);
    snprintf(dossier_a, sizeof dossier_a, "%s", id);
    free(id);
    CHECK_INT(step(code_a, "processing", NULL), 200);
    CHECK_INT(wait_settled(dossier_a, 20), 0);

    /* The SMS: eSMS, without diacritics, the dossier code and the lookup link. */
    snprintf(sql, sizeof sql,
             "SELECT id FROM outbox WHERE dossier_id = '%s' AND channel = 'sms' AND template = "
             "'processing'", dossier_a);
    char *sms_id = value(sql);
    json_t *m = sim_message(esms, sms_id);
    CHECK(m != NULL);
    const char *content = json_string_value(json_object_get(m, "content"));
    CHECK(content && strstr(content, code_a) != NULL);
    CHECK(content && strstr(content, "/lookup/") != NULL);
    int ascii = content != NULL;
    for (const char *c = content; c && *c; c++) ascii &= (unsigned char)*c < 0x80;
    CHECK(ascii);
    CHECK_INT(json_integer_value(json_object_get(m, "times_seen")), 1);
    json_decref(m);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND status = 'delivered' AND "
                    "provider = 'esms' AND template_version = 1 AND delivered_at IS NOT NULL",
                    sms_id), 1);

    /* FCM: title with diacritics, the dossier as collapse key and deep link. */
    snprintf(sql, sizeof sql,
             "SELECT o.id FROM outbox o JOIN devices d ON d.id = o.device_id WHERE o.dossier_id = "
             "'%s' AND d.platform = 'fcm' AND o.template = 'processing'", dossier_a);
    char *fcm_id = value(sql);
    m = sim_message(fcm, fcm_id);
    CHECK(m != NULL);
    const char *title = json_string_value(json_object_get(json_object_get(m, "notification"), "title"));
    int marked = 0;
    for (const char *c = title; c && *c; c++) marked |= (unsigned char)*c >= 0x80;
    CHECK(marked);
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "android"), "collapse_key")), dossier_a);
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "data"), "dossier_id")), dossier_a);
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "data"), "step")), "processing");
    CHECK_STR(json_string_value(json_object_get(m, "key_from")), "x-idempotency-key");
    json_decref(m);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND status = 'sent'", fcm_id), 1);

    /* APNs: HTTP/2 over TLS, collapse id, push type, topic, apns-id from the outbox id. */
    long apns_before = sim_stat(apns, "distinct");
    CHECK(apns_before >= 2);
    snprintf(sql, sizeof sql,
             "SELECT o.id FROM outbox o JOIN devices d ON d.id = o.device_id WHERE o.dossier_id = "
             "'%s' AND d.platform = 'apns' AND o.template = 'processing'", dossier_a);
    char *apns_id = value(sql);
    char key[64];
    snprintf(key, sizeof key, "00000000-0000-4000-8000-%012llx", strtoull(apns_id, NULL, 10));
    m = sim_message(apns, key);
    CHECK(m != NULL);
    CHECK_STR(json_string_value(json_object_get(m, "collapse_id")), dossier_a);
    CHECK_STR(json_string_value(json_object_get(m, "push_type")), "alert");
    CHECK_STR(json_string_value(json_object_get(m, "priority")), "10");
    CHECK(json_string_value(json_object_get(m, "expiration")) != NULL);
    json_t *alert = json_object_get(json_object_get(json_object_get(m, "payload"), "aps"), "alert");
    CHECK(json_string_value(json_object_get(alert, "title")) != NULL);
    json_decref(m);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND status = 'sent'", apns_id), 1);

    /* The inbox: newest first, push text shown, both channels; mark read. */
    snprintf(url, sizeof url, "%s/v1/notifications?limit=1", srv.url);
    json_t *j = NULL;
    CHECK_INT(th_json(&r, "GET", url, login_a.access, NULL, (void **)&j), 200);
    th_resp_free(&r);
    json_t *first = json_array_get(json_object_get(j, "items"), 0);
    CHECK_STR(json_string_value(json_object_get(first, "step")), "processing");
    CHECK_STR(json_string_value(json_object_get(first, "dossier_code")), code_a);
    CHECK(json_string_value(json_object_get(first, "title")) != NULL);
    CHECK_INT(json_array_size(json_object_get(first, "channels")), 2);
    CHECK(json_is_false(json_object_get(first, "read")));
    char entry[32];
    snprintf(entry, sizeof entry, "%s", json_string_value(json_object_get(first, "id")));
    const char *cursor = json_string_value(json_object_get(j, "next_cursor"));
    CHECK(cursor != NULL); /* the import's "received" is on the next page */
    char next[512];
    snprintf(next, sizeof next, "%s/v1/notifications?limit=5&cursor=%s", srv.url, cursor ? cursor : "");
    json_decref(j);
    j = NULL;
    CHECK_INT(th_json(&r, "GET", next, login_a.access, NULL, (void **)&j), 200);
    th_resp_free(&r);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "step")), "received");
    json_decref(j);
    snprintf(next, sizeof next, "%s/v1/notifications?cursor=AAAA", srv.url);
    CHECK_INT(th_json(&r, "GET", next, login_a.access, NULL, NULL), 400); /* tampered cursor */
    th_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/notifications/%s/read", srv.url, entry);
    CHECK_INT(th_json(&r, "POST", url, login_a.access, "", NULL), 204);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url, login_a.access, "", NULL), 204); /* again: no change */
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url, NULL, "", NULL), 401);
    th_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/notifications/999999999/read", srv.url);
    CHECK_INT(th_json(&r, "POST", url, login_a.access, "", NULL), 404);
    th_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/notifications?limit=1", srv.url);
    j = NULL;
    CHECK_INT(th_json(&r, "GET", url, login_a.access, NULL, (void **)&j), 200);
    th_resp_free(&r);
    CHECK(json_is_true(json_object_get(json_array_get(json_object_get(j, "items"), 0), "read")));
    json_decref(j);

    /* A message that no dossier step caused (a courier update, written as
     * delivery/ writes it) is an inbox entry of its own, above the step's,
     * and is marked read on its own. */
    char courier_sql[900];
    snprintf(courier_sql, sizeof courier_sql,
             "SELECT cds_outbox_for_step(d, NULL, 'courier_picked_up', jsonb_build_object("
             "'dossier_code', d.code, 'dossier_id', d.id, 'procedure_name', p.name, "
             "'step', 'courier_picked_up', 'carrier_name', 'VNPost', 'tracking_no', "
             "'EB123456785VN')) FROM dossiers d JOIN procedures p ON p.code = d.procedure_code "
             "WHERE d.id = '%s'", dossier_a);
    free(value(courier_sql));
    CHECK_INT(wait_settled(dossier_a, 20), 0);
    snprintf(url, sizeof url, "%s/v1/notifications?limit=2", srv.url);
    j = NULL;
    CHECK_INT(th_json(&r, "GET", url, login_a.access, NULL, (void **)&j), 200);
    th_resp_free(&r);
    json_t *courier = json_array_get(json_object_get(j, "items"), 0);
    json_t *step_entry = json_array_get(json_object_get(j, "items"), 1);
    CHECK_STR(json_string_value(json_object_get(courier, "step")), "courier_picked_up");
    CHECK_STR(json_string_value(json_object_get(courier, "title")), "Bưu điện đã nhận kết quả");
    CHECK(strstr(json_string_value(json_object_get(courier, "body")) ? json_string_value(json_object_get(courier, "body")) : "",
                 "EB123456785VN") != NULL);
    CHECK_INT(json_array_size(json_object_get(courier, "channels")), 2);
    CHECK(json_is_false(json_object_get(courier, "read")));
    CHECK_STR(json_string_value(json_object_get(step_entry, "step")), "processing");
    CHECK(json_is_true(json_object_get(step_entry, "read")));
    char courier_entry[32];
    snprintf(courier_entry, sizeof courier_entry, "%s", json_string_value(json_object_get(courier, "id")));
    json_decref(j);
    snprintf(url, sizeof url, "%s/v1/notifications/%s/read", srv.url, courier_entry);
    CHECK_INT(th_json(&r, "POST", url, login_a.access, "", NULL), 204);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = "
                    "'courier_picked_up' AND read_at IS NULL", dossier_a), 0);
    CHECK(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = "
                "'courier_picked_up' AND read_at IS NOT NULL", dossier_a) >= 2);
    free(sms_id);
    free(fcm_id);
    free(apns_id);
}

/* Keeps the first 1 KiB of an answer. */
static size_t keep_report(char *p, size_t size, size_t n, void *arg)
{
    char *buf = arg;
    size_t have = strlen(buf), add = size * n;
    if (have + add < 1024) {
        memcpy(buf + have, p, add);
        buf[have + add] = '\0';
    }
    return size * n;
}

#define ESMS_TOKEN "cds-dev-esms-callback-token"
#define SPEEDSMS_TOKEN "cds-dev-speedsms-callback-token"

/* An eSMS report as eSMS sends it (GET, no signature) to our URL with
 * `token`, from the source address `from` (NULL: the default); the status,
 * and the problem's code in code[] when there is one. */
static long esms_report(const char *query, const char *token, const char *from, char code[64])
{
    char url[700];
    snprintf(url, sizeof url, "%s/v1/callbacks/sms/esms%s%s?%s", srv.url, token ? "/" : "",
             token ? token : "", query);
    CURL *c = curl_easy_init();
    char body[1024] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_report);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, (void *)body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (from) curl_easy_setopt(c, CURLOPT_INTERFACE, from);
    long st = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(c);
    if (code) {
        code[0] = 0;
        const char *k = strstr(body, "\"code\":\"");
        if (k) sscanf(k + 8, "%63[^\"]", code);
    }
    return st;
}

/* A SpeedSMS report as SpeedSMS posts it, to our URL with `token`. */
static long speedsms_report(const char *json, const char *token, char code[64])
{
    char url[600];
    snprintf(url, sizeof url, "%s/v1/callbacks/sms/speedsms/%s", srv.url, token);
    const char *h[] = {"Content-Type: application/json", NULL};
    th_resp r;
    long st = th_http(&r, 2, "POST", url, h, json, strlen(json)) == 0 ? r.status : 0;
    if (code) {
        code[0] = 0;
        const char *k = r.body ? strstr(r.body, "\"code\":\"") : NULL;
        if (k) sscanf(k + 8, "%63[^\"]", code);
    }
    th_resp_free(&r);
    return st;
}

/* GET /v1/me's language for a token. */
static char *me_language(const char *access)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/me", srv.url);
    th_resp r;
    json_t *j = NULL;
    char *lang = NULL;
    if (th_json(&r, "GET", url, access, NULL, (void **)&j) == 200)
        lang = strdup(json_string_value(json_object_get(j, "language")) ? json_string_value(json_object_get(j, "language")) : "");
    json_decref(j);
    th_resp_free(&r);
    return lang ? lang : strdup("?");
}

/* A login with Accept-Language `header` on its callback (the start
 * sending none); the citizen's language after it is `want`. */
#define LOGIN_LANG(pid, header, want) LOGIN_LANG2(pid, NULL, header, want)
#define LOGIN_LANG2(pid, start, header, want)                                                      \
    do {                                                                                           \
        th_login l_;                                                                               \
        CHECK_INT(th_login_as_lang(&srv, (pid), (start), (header), &l_), 200);                     \
        char *g_ = me_language(l_.access);                                                         \
        CHECK_STR(g_, (want));                                                                     \
        free(g_);                                                                                  \
    } while (0)

/* A login's Accept-Language and the stored language (issue 18, part 5). */
static void test_login_language(void)
{
    /* Đặng Quốc Bảo has not chosen: each login's header decides, a login
     * naming no language leaves it. */
    LOGIN_LANG("079090003210", "en-US,en;q=0.9", "en");
    LOGIN_LANG("079090003210", "vi-VN", "vi");
    LOGIN_LANG("079090003210", "en", "en");
    LOGIN_LANG("079090003210", NULL, "en");
    LOGIN_LANG("079090003210", "fr, *", "en");
    /* The start's header when the callback names none; the callback's wins. */
    LOGIN_LANG2("079090003210", "vi-VN,vi;q=0.9", NULL, "vi");
    LOGIN_LANG2("079090003210", "en-GB", "fr", "en");
    LOGIN_LANG2("079090003210", "vi", "en-US", "en");
    CHECK_INT(count("SELECT count(*) FROM citizens WHERE language_chosen"), 1); /* Nhung's PATCH */
    /* His first step arrives in English: no device, so the SMS alone went
     * out (Vietnamese, without diacritics) and the inbox shows the step in
     * English. */
    char code[64], sql[300];
    snprintf(code, sizeof code, "TN-EN2-%d", (int)getpid());
    CHECK_INT(th_partner_import(srv.url, code, PROCEDURE, "079090003210", "Đặng Quốc Bảo", "0856781234"), 201);
    snprintf(sql, sizeof sql, "SELECT id FROM dossiers WHERE code = '%s'", code);
    char *id = value(sql);
    CHECK_INT(step(code, "fee_requested", ",\"fee_vnd\":37500"), 200);
    CHECK_INT(wait_settled(id, 20), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND channel = 'sms' "
             "AND status IN ('sent', 'delivered', 'pending') AND rendered->>'body' LIKE '%%37.500 d%%'", id);
    CHECK_INT(count("%s", sql), 1);
    th_login bao;
    CHECK_INT(th_login_as_lang(&srv, "079090003210", "en", "en", &bao), 200);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/notifications?limit=1", srv.url);
    th_resp r;
    json_t *j = NULL;
    CHECK_INT(th_json(&r, "GET", url, bao.access, NULL, (void **)&j), 200);
    json_t *first = json_array_get(json_object_get(j, "items"), 0);
    CHECK_STR(json_string_value(json_object_get(first, "title")), "Please pay the fee");
    const char *b = json_string_value(json_object_get(first, "body"));
    CHECK(b && strstr(b, "VND 37,500") != NULL && strstr(b, code) != NULL);
    CHECK_STR(json_string_value(json_array_get(json_object_get(first, "channels"), 0)), "sms");
    CHECK_STR(th_resp_header(&r, "content-language"), "en");
    json_decref(j);
    th_resp_free(&r);
    free(id);
    /* A choice stays: PATCH to Vietnamese, then logins in English change nothing. */
    snprintf(url, sizeof url, "%s/v1/me", srv.url);
    CHECK_INT(th_json(&r, "PATCH", url, bao.access, "{\"language\":\"vi\"}", NULL), 200);
    th_resp_free(&r);
    LOGIN_LANG("079090003210", "en", "vi");
    LOGIN_LANG("079090003210", "en-GB,en;q=0.8", "vi");
    LOGIN_LANG2("079090003210", "en", NULL, "vi");
    /* Nhung chose English before: a Vietnamese login keeps it. */
    LOGIN_LANG("079155008642", "vi", "en");
    CHECK_INT(count("SELECT count(*) FROM citizens WHERE language_chosen"), 2);
}

static void test_english(void)
{
    th_login en;
    CHECK_INT(th_login_as(&srv, "079155008642", &en), 200);
    char url[256];
    th_resp r;
    snprintf(url, sizeof url, "%s/v1/me/devices", srv.url);
    CHECK_INT(th_json(&r, "POST", url, en.access, "{\"platform\":\"fcm\",\"token\":\"fcm-token-citizen-en-0001\"}", NULL), 201);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url, en.access, "{\"platform\":\"apns\",\"token\":\"e1e2e3e4e5e6e7e8e9e0e1e2e3e4e5e6e7e8e9e0e1e2e3e4e5e6e7e8e9e0e1e2\"}", NULL), 201);
    th_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/me", srv.url);
    json_t *j = NULL;
    CHECK_INT(th_json(&r, "PATCH", url, en.access, "{\"language\":\"en\"}", (void **)&j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "language")), "en");
    json_decref(j);
    th_resp_free(&r);
    /* Refused, and nothing changed. */
    CHECK_INT(th_json(&r, "PATCH", url, en.access, "{\"language\":\"fr\",\"email\":\"a@b.vn\"}", NULL), 422);
    CHECK(r.body && strstr(r.body, "invalid_language") != NULL);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "PATCH", url, en.access, "{\"language\":null}", NULL), 422);
    th_resp_free(&r);
    j = NULL;
    CHECK_INT(th_json(&r, "GET", url, en.access, NULL, (void **)&j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "language")), "en");
    CHECK(json_is_null(json_object_get(j, "email")));
    json_decref(j);
    th_resp_free(&r);

    char code[64], sql[400];
    snprintf(code, sizeof code, "TN-EN-%d", (int)getpid());
    CHECK_INT(th_partner_import(srv.url, code, PROCEDURE, "079155008642", "Dương Thị Hồng Nhung", "0912000111"), 201);
    snprintf(sql, sizeof sql, "SELECT id FROM dossiers WHERE code = '%s'", code);
    char *id = value(sql);
    CHECK_INT(step(code, "fee_requested", ",\"fee_vnd\":1250000"), 200);
    CHECK_INT(wait_settled(id, 20), 0);
    snprintf(sql, sizeof sql,
             "SELECT id FROM outbox WHERE dossier_id = '%s' AND channel = 'push' AND template = "
             "'fee_requested'", id);
    char *push_id = value(sql);
    json_t *m = sim_message(fcm, push_id);
    const char *title = json_string_value(json_object_get(json_object_get(m, "notification"), "title"));
    const char *body = json_string_value(json_object_get(json_object_get(m, "notification"), "body"));
    CHECK(title && strcmp(title, "Please pay the fee") == 0);
    CHECK(body && strstr(body, "VND 1,250,000") != NULL && strstr(body, code) != NULL);
    if (body) printf("English push: %s | %s\n", title ? title : "?", body);
    json_decref(m);
    /* The same on iOS (APNs alert). */
    snprintf(sql, sizeof sql,
             "SELECT o.id FROM outbox o JOIN devices d ON d.id = o.device_id WHERE o.dossier_id = "
             "'%s' AND d.platform = 'apns' AND o.template = 'fee_requested'", id);
    char *apns_id = value(sql);
    char key[64];
    snprintf(key, sizeof key, "00000000-0000-4000-8000-%012llx", strtoull(apns_id, NULL, 10));
    m = sim_message(apns, key);
    json_t *alert = json_object_get(json_object_get(json_object_get(m, "payload"), "aps"), "alert");
    CHECK_STR(json_string_value(json_object_get(alert, "title")), "Please pay the fee");
    const char *ab = json_string_value(json_object_get(alert, "body"));
    CHECK(ab && strstr(ab, "VND 1,250,000") != NULL);
    json_decref(m);
    free(apns_id);
    /* The SMS of the same step: Vietnamese without diacritics. */
    snprintf(sql, sizeof sql,
             "SELECT rendered->>'body' FROM outbox WHERE dossier_id = '%s' AND channel = 'sms' AND "
             "template = 'fee_requested'", id);
    char *sms = value(sql);
    CHECK(strstr(sms, "can nop phi, le phi 1.250.000 d") != NULL);
    free(sms);
    /* The inbox shows the English push text. */
    snprintf(url, sizeof url, "%s/v1/notifications?limit=1", srv.url);
    j = NULL;
    CHECK_INT(th_json(&r, "GET", url, en.access, NULL, (void **)&j), 200);
    json_t *first = json_array_get(json_object_get(j, "items"), 0);
    CHECK_STR(json_string_value(json_object_get(first, "title")), "Please pay the fee");
    CHECK_STR(th_resp_header(&r, "content-language"), "en");
    CHECK_STR(th_resp_header(&r, "vary"), "accept-language");
    json_decref(j);
    th_resp_free(&r);
    /* A header naming no language of ours: the stored one still. */
    j = NULL;
    CHECK_INT(th_json_h(&r, "GET", url, en.access, "Accept-Language: fr, *;q=0.5", NULL, (void **)&j), 200);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "title")),
              "Please pay the fee");
    CHECK_STR(th_resp_header(&r, "content-language"), "en");
    json_decref(j);
    th_resp_free(&r);
    /* Asked in Vietnamese: the same entry, the push template rendered again
     * in Vietnamese (with diacritics, the amount grouped the Vietnamese way). */
    j = NULL;
    CHECK_INT(th_json_h(&r, "GET", url, en.access, "Accept-Language: vi-VN,vi;q=0.9,en;q=0.5", NULL, (void **)&j), 200);
    first = json_array_get(json_object_get(j, "items"), 0);
    CHECK_STR(json_string_value(json_object_get(first, "title")), "Vui lòng nộp phí, lệ phí");
    const char *vb = json_string_value(json_object_get(first, "body"));
    CHECK(vb && strstr(vb, "1.250.000 đ") != NULL && strstr(vb, code) != NULL);
    CHECK_STR(json_string_value(json_object_get(first, "step")), "fee_requested");
    CHECK_STR(th_resp_header(&r, "content-language"), "vi");
    CHECK_STR(th_resp_header(&r, "vary"), "accept-language");
    json_decref(j);
    th_resp_free(&r);
    /* Citizen A reads Vietnamese: no header, Vietnamese; asked in English,
     * every entry in English (no Vietnamese title left). */
    snprintf(url, sizeof url, "%s/v1/notifications?limit=100", srv.url);
    j = NULL;
    CHECK_INT(th_json(&r, "GET", url, login_a.access, NULL, (void **)&j), 200);
    CHECK_STR(th_resp_header(&r, "content-language"), "vi");
    CHECK(json_array_size(json_object_get(j, "items")) > 0);
    json_decref(j);
    th_resp_free(&r);
    j = NULL;
    CHECK_INT(th_json_h(&r, "GET", url, login_a.access, "Accept-Language: en-US,en;q=0.9", NULL, (void **)&j), 200);
    CHECK_STR(th_resp_header(&r, "content-language"), "en");
    size_t k;
    json_t *it;
    int english = 0;
    json_array_foreach(json_object_get(j, "items"), k, it) {
        const char *t = json_string_value(json_object_get(it, "title"));
        const char *b = json_string_value(json_object_get(it, "body"));
        CHECK(t != NULL && b != NULL);
        /* The English titles are plain ASCII; the Vietnamese ones are not. */
        int ascii = t != NULL;
        for (const char *c = t; c && *c; c++)
            if ((unsigned char)*c >= 0x80) ascii = 0;
        if (ascii && b) english++;
        else fprintf(stderr, "not English: %s | %s\n", t ? t : "(null)", b ? b : "(null)");
    }
    CHECK(english > 0 && (size_t)english == json_array_size(json_object_get(j, "items")));
    json_decref(j);
    th_resp_free(&r);
    free(push_id);
    free(id);
    /* The later tests count citizen A's devices alone. */
    CHECK_INT(th_db_exec(db, "DELETE FROM devices WHERE token IN ('fcm-token-citizen-en-0001', "
                             "'e1e2e3e4e5e6e7e8e9e0e1e2e3e4e5e6e7e8e9e0e1e2e3e4e5e6e7e8e9e0e1e2')"), 0);
}

static void test_bad_input(void)
{
    /* Receipts held back: the next SMS stays pending. */
    CHECK_INT(sim_post(esms, "/_sim/dlr", "{\"outcome\":\"pending\",\"count\":1}"), 200);
    CHECK_INT(step(code_a, "fee_requested", ",\"fee_vnd\":37500"), 200);
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = 'fee_requested' "
             "AND channel = 'sms' AND status = 'pending'", dossier_a);
    CHECK_INT(wait_count(1, 20, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT id || ' ' || provider_message_id FROM outbox WHERE dossier_id = '%s' AND "
             "template = 'fee_requested' AND channel = 'sms'", dossier_a);
    char *v = value(sql);
    char id[32] = "", smsid[128] = "";
    sscanf(v, "%31s %127s", id, smsid);
    free(v);
    char q[300], code[64];
#define STILL_PENDING "SELECT count(*) FROM outbox WHERE id = %s AND status = 'pending'"
    snprintf(q, sizeof q, "SMSID=%s&SendFailed=1&SendStatus=5&SendSuccess=0&TotalPrice=0.0000"
             "&TotalReceiver=1&TotalSent=1&RequestId=%s&TypeId=2&telcoid=1&phonenumber=0901888484"
             "&switchsmsid=", smsid, id);
    /* A wrong token, another gateway's token, none: a route that does not exist. */
    CHECK_INT(esms_report(q, "not-the-token-0123456789", NULL, code), 404);
    CHECK_STR(code, "route_not_found");
    CHECK_INT(esms_report(q, SPEEDSMS_TOKEN, NULL, code), 404);
    CHECK_INT(esms_report(q, NULL, NULL, code), 404);
    /* The right token from an address eSMS does not call from. */
    CHECK_INT(esms_report(q, ESMS_TOKEN, "127.0.0.2", code), 403);
    CHECK_STR(code, "callback_address_not_allowed");
    CHECK_INT(count(STILL_PENDING, id), 1);
    /* eSMS's sample report, for a message nobody sent. */
    CHECK_INT(esms_report("SMSID=dc712784-9c5f-4c69-b9a8-ea69d56adc9a87&SendFailed=2&SendStatus=5"
                          "&SendSuccess=0&TotalPrice=0.0000&TotalReceiver=2&TotalSent=2&RequestId="
                          "&TypeId=2&telcoid=1&phonenumber=0901888484&switchsmsid=",
                          ESMS_TOKEN, NULL, code), 404);
    CHECK_STR(code, "notification_not_found");
    snprintf(q, sizeof q, "RequestId=%s&SendStatus=x", id);
    CHECK_INT(esms_report(q, ESMS_TOKEN, NULL, code), 400);
    snprintf(q, sizeof q, "RequestId=%s&SendStatus=5&SendSuccess=one", id);
    CHECK_INT(esms_report(q, ESMS_TOKEN, NULL, code), 400);
    /* Still with the telco (7): nothing final yet. */
    snprintf(q, sizeof q, "SMSID=%s&SendFailed=0&SendStatus=7&SendSuccess=0&RequestId=%s", smsid, id);
    CHECK_INT(esms_report(q, ESMS_TOKEN, NULL, code), 200);
    CHECK_STR(code, "");
    CHECK_INT(count(STILL_PENDING, id), 1);
    /* Delivered; the same report again; an older one replayed; a failure
     * replayed after the delivery: the first moves it, the rest nothing. */
    snprintf(q, sizeof q, "SMSID=%s&SendFailed=0&SendStatus=5&SendSuccess=1&TotalPrice=800.0000"
             "&TotalReceiver=1&TotalSent=1&RequestId=%s&TypeId=2", smsid, id);
    CHECK_INT(esms_report(q, ESMS_TOKEN, NULL, code), 200);
    CHECK_STR(code, "");
    CHECK_INT(esms_report(q, ESMS_TOKEN, NULL, code), 200); /* repeat */
    snprintf(q, sizeof q, "SMSID=%s&SendFailed=0&SendStatus=7&SendSuccess=0&RequestId=%s", smsid, id);
    CHECK_INT(esms_report(q, ESMS_TOKEN, NULL, code), 200);
    snprintf(q, sizeof q, "SMSID=%s&SendFailed=1&SendStatus=5&SendSuccess=0&RequestId=%s", smsid, id);
    CHECK_INT(esms_report(q, ESMS_TOKEN, NULL, code), 200);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND status = 'delivered' AND "
                    "last_error IS NULL", id), 1);
    /* SpeedSMS: its token only, its shape only. */
    const char *unknown = "{\"type\":\"report\",\"tranId\":987654321012,\"phone\":\"84912345678\",\"status\":0}";
    CHECK_INT(speedsms_report(unknown, ESMS_TOKEN, code), 404);
    CHECK_STR(code, "route_not_found");
    CHECK_INT(speedsms_report(unknown, SPEEDSMS_TOKEN, code), 404);
    CHECK_STR(code, "notification_not_found");
    CHECK_INT(speedsms_report("{\"type\":\"report\",\"tranId\":\"x\",\"status\":0}", SPEEDSMS_TOKEN, code), 400);
    CHECK_INT(speedsms_report("{\"type\":\"incoming\",\"phone\":\"84912345678\",\"content\":\"ok\"}",
                              SPEEDSMS_TOKEN, code), 200);

    /* Dead device tokens are pruned, on either platform. */
    CHECK_INT(sim_post(fcm, "/_sim/tokens", "{\"unregistered\":[\"fcm-token-citizen-a-0001\"]}"), 200);
    CHECK_INT(sim_post(apns, "/_sim/tokens", "{\"unregistered\":[\"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90\"]}"), 200);
    CHECK_INT(step(code_a, "paid", NULL), 200);
    CHECK_INT(wait_settled(dossier_a, 20), 0);
    CHECK_INT(count("SELECT count(*) FROM devices d JOIN citizens c ON c.id = d.citizen_id"), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = 'paid' "
                    "AND channel = 'push' AND status = 'permanent-failure'", dossier_a), 2);

    /* A message whose data lacks a variable fails alone, clearly. */
    char ins[600];
    snprintf(ins, sizeof ins,
             "INSERT INTO outbox (channel, citizen_id, dossier_id, template, vars, recipient_sealed) "
             "SELECT 'sms', citizen_id, dossier_id, 'received', '{\"due_date\":\"01/01/2027\"}', "
             "recipient_sealed FROM outbox WHERE id = %s RETURNING id", id);
    char *bad = value(ins);
    CHECK_INT(step(code_a, "processing", NULL), 200);
    CHECK_INT(wait_settled(dossier_a, 20), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %s AND status = 'technical-failure' "
                    "AND last_error LIKE '%%dossier_code%%'", bad), 1);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = "
                    "'processing' AND channel = 'sms' AND status = 'delivered'", dossier_a), 2);
    free(bad);
}

/* Collects a response body (for the concurrent receipts). */
static size_t keep_body(char *p, size_t size, size_t n, void *arg)
{
    char *buf = arg;
    size_t have = strlen(buf), add = size * n;
    if (have + add < 256) {
        memcpy(buf + have, p, add);
        buf[have + add] = '\0';
    }
    return size * n;
}

static void import_many(const char *tag, int n, int phone_base);

/* Receipts that arrive together are applied by one statement per turn of
 * the server's loop: sent all at once (each message's receipt twice, and
 * receipts for messages nobody sent), each still gets its own answer and
 * each message changes once. */
static void test_receipt_batch(void)
{
    enum { M = 8, U = 3, N = 2 * M + U };
    CHECK_INT(sim_post(esms, "/_sim/dlr", "{\"outcome\":\"pending\",\"count\":8}"), 200);
    import_many("RB", M, 600);
    const char *pending = "SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id "
                          "WHERE d.code LIKE 'TN-RB-%' AND o.channel = 'sms' AND o.status = 'pending'";
    CHECK_INT(wait_count(M, 20, pending), M);
    char *list = value("SELECT string_agg(o.id || ' ' || o.provider_message_id, ' ' ORDER BY o.id) "
                       "FROM outbox o JOIN dossiers d ON d.id = o.dossier_id "
                       "WHERE d.code LIKE 'TN-RB-%' AND o.channel = 'sms'");
    char ids[M][32], smsids[M][128];
    const char *cur = list ? list : "";
    int got = 0, used = 0;
    while (got < M && sscanf(cur, "%31s %127s%n", ids[got], smsids[got], &used) == 2) {
        cur += used;
        got++;
    }
    free(list);
    CHECK_INT(got, M);
    if (got != M) return;

    /* One HTTP/2 connection (over TLS: libcurl 7.88 multiplexes h2c badly),
     * the requests multiplexed: they reach the server together, so they
     * fill whole batches of the server's size in one turn of its loop. */
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    CURL *easy[N];
    char body[N][256];
    for (int i = 0; i < N; i++) {
        char path[512], url[600];
        if (i < 2 * M)
            snprintf(path, sizeof path, "/v1/callbacks/sms/esms/" ESMS_TOKEN "?SMSID=%s&RequestId=%s"
                     "&SendStatus=5&SendSuccess=1&SendFailed=0", smsids[i % M], ids[i % M]);
        else
            snprintf(path, sizeof path, "/v1/callbacks/sms/esms/" ESMS_TOKEN "?SMSID=nosuch-%d"
                     "&SendStatus=5&SendSuccess=1&SendFailed=0", i);
        snprintf(url, sizeof url, "%s%s", srv.tls_url, path);
        body[i][0] = '\0';
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, keep_body);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, (void *)body[i]);
        curl_easy_setopt(easy[i], CURLOPT_TIMEOUT, 20L);
        curl_easy_setopt(easy[i], CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(easy[i], CURLOPT_SSL_VERIFYPEER, 0L); /* the development certificate */
        curl_easy_setopt(easy[i], CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(easy[i], CURLOPT_PIPEWAIT, 1L);
        curl_multi_add_handle(multi, easy[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(multi, &running);
        if (running) curl_multi_poll(multi, NULL, 0, 200, NULL);
    }
    int applied[M] = {0}, unchanged[M] = {0};
    for (int i = 0; i < N; i++) {
        long st = 0;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &st);
        if (i < 2 * M) {
            CHECK_INT(st, 200);
            applied[i % M] += strstr(body[i], "\"applied\"") != NULL;
            unchanged[i % M] += strstr(body[i], "\"unchanged\"") != NULL;
        } else {
            CHECK_INT(st, 404);
        }
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    curl_multi_cleanup(multi);
    for (int k = 0; k < M; k++) {
        CHECK_INT(applied[k], 1);
        CHECK_INT(unchanged[k], 1);
    }
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id "
                    "WHERE d.code LIKE 'TN-RB-%%' AND o.channel = 'sms' AND o.status = 'delivered' "
                    "AND o.delivered_at IS NOT NULL"), M);
}

/* Imports `n` dossiers TN-<tag>-<i> (each its own citizen and phone). */
static void import_many(const char *tag, int n, int phone_base)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        char code[64], pid[16], phone[16];
        snprintf(code, sizeof code, "TN-%s-%d-%d", tag, (int)getpid(), i);
        snprintf(pid, sizeof pid, "079%09d", phone_base + i);
        snprintf(phone, sizeof phone, "09%08d", phone_base + i);
        long st = th_partner_import(srv.url, code, PROCEDURE, pid, "Trần Thị Bình", phone);
        ok += st == 201 || st == 200;
    }
    CHECK_INT(ok, n);
}

static long settled_all(int seconds)
{
    return wait_count(0, seconds,
                      "SELECT count(*) FROM outbox WHERE status IN ('created', 'sending', "
                      "'temporary-failure', 'pending')");
}

static void test_failover(void)
{
    CHECK_INT(sim_post(esms, "/_sim/fail", "{\"mode\":\"error\"}"), 200);
    import_many("FO", 6, 100);
    CHECK_INT(settled_all(30), 0);
    /* After the breaker opened, SpeedSMS took the messages and reported them. */
    CHECK(count("SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE "
                "d.code LIKE 'TN-FO-%%' AND o.provider = 'speedsms' AND o.status = 'delivered'") >= 5);
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE "
                    "d.code LIKE 'TN-FO-%%' AND o.status <> 'delivered'"), 0);
    /* eSMS recovers: after the cool-down a probe succeeds and traffic returns.
     * The probe goes alone: a message claimed while it is still out goes to
     * SpeedSMS by design (half-open lets one message through). */
    CHECK_INT(sim_post(esms, "/_sim/fail", "{\"mode\":\"ok\"}"), 200);
    usleep(700 * 1000);
    import_many("FB", 1, 200);
    CHECK_INT(settled_all(30), 0);
    import_many("FC", 3, 210);
    CHECK_INT(settled_all(30), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE "
                    "(d.code LIKE 'TN-FB-%%' OR d.code LIKE 'TN-FC-%%') AND o.provider = 'esms' "
                    "AND o.status = 'delivered'"), 4);
}

static void test_outage(void)
{
    CHECK_INT(sim_post(esms, "/_sim/fail", "{\"mode\":\"down\"}"), 200);
    CHECK_INT(sim_post(speedsms, "/_sim/fail", "{\"mode\":\"down\"}"), 200);
    import_many("OU", 5, 300);
    /* They wait, retried with backoff, none lost. */
    CHECK_INT(wait_count(5, 20,
                         "SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id "
                         "WHERE d.code LIKE 'TN-OU-%' AND o.status = 'temporary-failure'"), 5);
    usleep(1500 * 1000);
    CHECK_INT(sim_post(esms, "/_sim/fail", "{\"mode\":\"ok\"}"), 200);
    CHECK_INT(sim_post(speedsms, "/_sim/fail", "{\"mode\":\"ok\"}"), 200);
    CHECK_INT(settled_all(30), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE "
                    "d.code LIKE 'TN-OU-%%' AND o.status = 'delivered' AND o.attempts > 1"), 5);
}

/* Steps of the legal cycle after "received". */
static const char *const cycle[] = {"processing", "fee_requested", "paid", "processing",
                                    "supplement_requested", "supplemented"};

static long cycle_step(const char *base, const char *code, int k)
{
    const char *st = cycle[k % 6];
    const char *extra = strcmp(st, "fee_requested") == 0 ? ",\"fee_vnd\":50000"
                        : strcmp(st, "supplement_requested") == 0
                            ? ",\"missing_documents\":[\"Bản vẽ mặt cắt\"]"
                            : NULL;
    char ev[96];
    snprintf(ev, sizeof ev, "%s-%d", code, k);
    return th_partner_step(base, code, ev, st, 10 + k, extra);
}

/* The citizen's last SMS to `phone` (national form, used by one test only)
 * that names dossier `code` (any when NULL) at either SMS stand-in, by the
 * time the stand-in took it (eSMS records the national form, SpeedSMS the
 * 84 form); "" when none (malloc). *n gets how many the phone received.
 * Per dossier: the order holds within a dossier, not across a citizen's
 * dossiers (a retried SMS of another may arrive later). */
static char *last_sms_to(const char *phone, const char *code, int *n)
{
    char intl[24];
    snprintf(intl, sizeof intl, "84%s", phone + 1);
    const char *bases[] = {esms, speedsms};
    char last[2048] = "", when[48] = "";
    *n = 0;
    for (int b = 0; b < 2; b++) {
        char url[256];
        snprintf(url, sizeof url, "%s/_sim/messages", bases[b]);
        json_t *j = get_json(url);
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(j, "items"), i, it) {
            const char *p = json_string_value(json_object_get(it, "phone"));
            if (!p) p = json_string_value(json_array_get(json_object_get(it, "phones"), 0));
            if (!p || (strcmp(p, phone) != 0 && strcmp(p, intl) != 0)) continue;
            (*n)++;
            const char *at = json_string_value(json_object_get(it, "first_seen"));
            const char *c = json_string_value(json_object_get(it, "content"));
            if (at && c && (!code || strstr(c, code)) && strcmp(at, when) >= 0) {
                snprintf(when, sizeof when, "%s", at);
                snprintf(last, sizeof last, "%s", c);
            }
        }
        json_decref(j);
    }
    return strdup(last);
}

/* The SMS body recorded for the newest SMS of dossier `code` that reached
 * the citizen, and its template. */
static void last_sent(const char *code, char **body, char **tmpl)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT o.rendered->>'body' FROM outbox o JOIN dossiers d ON d.id = o.dossier_id "
             "WHERE d.code = '%s' AND o.channel = 'sms' AND o.status = 'delivered' "
             "ORDER BY o.id DESC LIMIT 1", code);
    *body = value(sql);
    snprintf(sql, sizeof sql,
             "SELECT o.template FROM outbox o JOIN dossiers d ON d.id = o.dossier_id "
             "WHERE d.code = '%s' AND o.channel = 'sms' AND o.status = 'delivered' "
             "ORDER BY o.id DESC LIMIT 1", code);
    *tmpl = value(sql);
}

/* SMS of the dossiers `like` in a failed or waiting state. */
static long sms_not_final(const char *like)
{
    return count("SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE "
                 "d.code LIKE '%s' AND o.channel = 'sms' AND o.status NOT IN ('delivered', "
                 "'superseded')", like);
}

/* The per-citizen limit never drops a step message (issue 18): over it, a
 * state that asks the citizen to act or ends the dossier goes out anyway,
 * any other waits for the next window, is superseded by a newer state of
 * its dossier or coalesced with the citizen's other dossiers. */
static void test_rate_limit(void)
{
    th_proc_stop(&srv, SIGTERM);
    /* The demo sequence (demo-dossier, then demo-delivery for the same
     * citizen) with a limit of 3 an hour: no message waits for the hour. */
    CHECK_INT(start_server(&srv, port, "CDS_SMS_PER_HOUR=3"), 0);
    char a[64], b[64];
    snprintf(a, sizeof a, "TN-RL-%d-A", (int)getpid());
    snprintf(b, sizeof b, "TN-RL-%d-B", (int)getpid());
    CHECK_INT(th_partner_import(srv.url, a, PROCEDURE, "079000000401", "Trần Thị Bình",
                                "0900000401"), 201);
    CHECK_INT(th_partner_step(srv.url, a, "rl-a1", "fee_requested", 10, ",\"fee_vnd\":50000"), 200);
    CHECK_INT(th_partner_step(srv.url, a, "rl-a2", "paid", 11, NULL), 200);
    /* the demos run one after the other: A's messages are out before B's
     * begin (else which three fit the hour depends on the machine's speed) */
    CHECK_INT(settled_all(30), 0);
    CHECK_INT(th_partner_import(srv.url, b, PROCEDURE, "079000000401", "Trần Thị Bình",
                                "0900000401"), 201);
    const char *bsteps[] = {"processing", "result_ready", "completed"};
    for (int k = 0; k < 3; k++) {
        char ev[32];
        snprintf(ev, sizeof ev, "rl-b%d", k);
        CHECK_INT(th_partner_step(srv.url, b, ev, bsteps[k], 20 + k, NULL), 200);
    }
    CHECK_INT(settled_all(30), 0);
    char like[64];
    snprintf(like, sizeof like, "TN-RL-%d-%%", (int)getpid());
    CHECK_INT(sms_not_final(like), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE last_error LIKE 'rate_limited%%'"), 0);
    char *body, *tmpl;
    last_sent(b, &body, &tmpl);
    CHECK_STR(tmpl, "completed");
    int n = 0;
    char *got = last_sms_to("0900000401", b, &n);
    CHECK_STR(got, body);
    CHECK(n >= 5); /* 3 within the limit, result ready and completed over it */
    free(got);
    free(body);
    free(tmpl);
    last_sent(a, &body, &tmpl);
    CHECK_STR(tmpl, "paid");
    free(body);
    free(tmpl);
    th_proc_stop(&srv, SIGTERM);

    /* A burst of 50 steps on one dossier, limit 10 per window of 3 s: the
     * last SMS states the final state (supplemented: not one that goes out
     * over the limit, so it waited for the window). */
    CHECK_INT(start_server2(&srv, "CDS_SMS_PER_HOUR=10", "CDS_SMS_WINDOW=3"), 0);
    char c[64];
    snprintf(c, sizeof c, "TN-RL-%d-C", (int)getpid());
    CHECK_INT(th_partner_import(srv.url, c, PROCEDURE, "079000000402", "Trần Thị Bình",
                                "0900000402"), 201);
    /* 4 steps, then the burst of 50 */
    for (int k = 0; k < 54; k++) CHECK_INT(cycle_step(srv.url, c, k), 200);
    CHECK_INT(settled_all(30), 0);
    CHECK_INT(sms_not_final(c), 0);
    CHECK(count("SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE "
                "d.code = '%s' AND o.status = 'superseded'", c) > 0);
    last_sent(c, &body, &tmpl);
    CHECK_STR(tmpl, cycle[53 % 6]);
    got = last_sms_to("0900000402", c, &n);
    CHECK_STR(got, body);
    printf("# burst of 54 steps: %d SMS reached the citizen\n", n);
    free(got);
    free(body);
    free(tmpl);
    th_proc_stop(&srv, SIGTERM);

    /* Two dossiers of one citizen held back in the same window go out as
     * one SMS when the next opens (limit 1 per 5 s, started at the
     * beginning of a window). */
    CHECK_INT(start_server2(&srv, "CDS_SMS_PER_HOUR=1", "CDS_SMS_WINDOW=5"), 0);
    while (time(NULL) % 5 != 0) usleep(50000);
    char d1[64], d2[64];
    snprintf(d1, sizeof d1, "TN-RL-%d-D1", (int)getpid());
    snprintf(d2, sizeof d2, "TN-RL-%d-D2", (int)getpid());
    CHECK_INT(th_partner_import(srv.url, d1, PROCEDURE, "079000000403", "Trần Thị Bình",
                                "0900000403"), 201);
    CHECK_INT(th_partner_import(srv.url, d2, PROCEDURE, "079000000403", "Trần Thị Bình",
                                "0900000403"), 201);
    CHECK_INT(cycle_step(srv.url, d1, 0), 200); /* processing */
    CHECK_INT(settled_all(30), 0);
    snprintf(like, sizeof like, "TN-RL-%d-D%%", (int)getpid());
    CHECK_INT(sms_not_final(like), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id "
                    "WHERE d.code LIKE '%s' AND o.status = 'superseded' AND o.last_error LIKE "
                    "'coalesced%%'", like), 1);
    got = last_sms_to("0900000403", NULL, &n);
    CHECK_INT(n, 2); /* d1 received; then d2 received and d1 processing together */
    CHECK(strstr(got, d1) != NULL);
    CHECK(strstr(got, d2) != NULL);
    CHECK(strstr(got, "dang duoc giai quyet") != NULL);
    free(got);
    th_proc_stop(&srv, SIGTERM);
    CHECK_INT(start_server(&srv, port, NULL), 0);
}

static void test_two_dispatchers(void)
{
    CHECK_INT(start_server(&srv2, 0, "CDS_NOTIFY_NODE=second"), 0);
    long dup_esms = sim_stat(esms, "duplicates"), dup_speed = sim_stat(speedsms, "duplicates");
    long dup_fcm = sim_stat(fcm, "duplicates"), dup_apns = sim_stat(apns, "duplicates");
    import_many("TD", 40, 500);
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < 40; i++) {
            char code[64];
            snprintf(code, sizeof code, "TN-TD-%d-%d", (int)getpid(), i);
            CHECK_INT(cycle_step(i % 2 ? srv.url : srv2.url, code, k), 200);
        }
    CHECK_INT(settled_all(60), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE "
                    "d.code LIKE 'TN-TD-%%' AND o.status = 'delivered'"), 240);
    CHECK(count("SELECT count(DISTINCT claimed_by) FROM outbox WHERE claimed_by IS NOT NULL") >= 1);
    /* Nothing was sent twice. */
    CHECK_INT(sim_stat(esms, "duplicates"), dup_esms);
    CHECK_INT(sim_stat(speedsms, "duplicates"), dup_speed);
    CHECK_INT(sim_stat(fcm, "duplicates"), dup_fcm);
    CHECK_INT(sim_stat(apns, "duplicates"), dup_apns);
    CHECK_INT(th_proc_stop(&srv2, SIGTERM), 0); /* a clean exit: no sanitizer report */
}

static void test_sigkill(void)
{
    enum { D = 100, K = 10 };
    import_many("KL", D, 1000);
    CHECK_INT(settled_all(60), 0);
    long before = count("SELECT count(*) FROM outbox WHERE channel = 'sms'");
    int ok = 0, killed = 0;
    for (int k = 0; k < K; k++)
        for (int i = 0; i < D; i++) {
            if (k * D + i == D * K / 2) {
                /* In the middle of the burst: the dispatcher has sends in flight. */
                th_proc_stop(&srv, SIGKILL);
                killed = 1;
                CHECK_INT(start_server(&srv, port, NULL), 0);
            }
            char code[64];
            snprintf(code, sizeof code, "TN-KL-%d-%d", (int)getpid(), i);
            ok += cycle_step(srv.url, code, k) == 200;
        }
    CHECK(killed);
    CHECK_INT(ok, D * K);
    CHECK_INT(settled_all(90), 0);
    long rows = count("SELECT count(*) FROM outbox WHERE channel = 'sms'") - before;
    CHECK_INT(rows, D * K);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE status <> 'delivered' AND channel = 'sms' "
                    "AND dossier_id IN (SELECT id FROM dossiers WHERE code LIKE 'TN-KL-%%')"), 0);
    /* Every row's key reached a gateway, and each one counts once there. */
    char *ids = value("SELECT string_agg(o.id::text || ':' || o.provider, ',') FROM outbox o JOIN "
                      "dossiers d ON d.id = o.dossier_id WHERE d.code LIKE 'TN-KL-%' AND "
                      "o.channel = 'sms'");
    int found = 0, total = 0, resent = 0;
    for (char *tok = strtok(ids, ","); tok; tok = strtok(NULL, ",")) {
        char *colon = strchr(tok, ':');
        if (!colon) continue;
        *colon = 0;
        total++;
        json_t *m = sim_message(strcmp(colon + 1, "esms") == 0 ? esms : speedsms, tok);
        if (m) {
            found++;
            resent += json_integer_value(json_object_get(m, "times_seen")) > 1;
        }
        json_decref(m);
    }
    free(ids);
    CHECK_INT(total, D * (K + 1));
    CHECK_INT(found, total);
    printf("# SIGKILL burst: %d messages, %d resent after the crash and deduplicated by key\n",
           total, resent);
}

int main(void)
{
    db = th_db_new("notify");
    port = th_free_port();
    char cb[256];
    snprintf(cb, sizeof cb, "CDS_SIM_SMS_CALLBACK_BASE=http://127.0.0.1:%d/v1/callbacks/sms", port);
    const char *names[] = {"vneid", "sms-esms", "sms-speedsms", "fcm", "apns", NULL};
    const char *senv[] = {cb, "CDS_SIM_SMS_DLR_DELAY_MS=20", "CDS_SIM_SMS_CALLBACK_RETRY_MS=500",
                          "CDS_SIM_SMS_CALLBACK_ATTEMPTS=20", NULL};
    if (th_sim_start(&sim, names, senv) != 0) return 1;
    snprintf(esms, sizeof esms, "%s", th_sim_url(&sim, "sms-esms"));
    snprintf(speedsms, sizeof speedsms, "%s", th_sim_url(&sim, "sms-speedsms"));
    snprintf(fcm, sizeof fcm, "%s", th_sim_url(&sim, "fcm"));
    snprintf(apns, sizeof apns, "%s", th_sim_url(&sim, "apns"));
    const char *err = fetch_keys();
    if (err) {
        fprintf(stderr, "cannot read the stand-ins' keys: %s\n", err);
        return 1;
    }
    static char iss[256];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    if (start_server(&srv, port, iss) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;
    /* The issuer stays for later restarts. */
    int n = 0;
    while (env[n]) n++;
    env[n++] = iss;
    env[n] = NULL;

    test_journey();
    test_english();
    test_login_language();
    test_bad_input();
    test_receipt_batch();
    test_failover();
    test_outage();
    test_rate_limit();
    test_two_dispatchers();
    test_sigkill();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    return t_done();
}
