/* W3C Trace Context end to end (core/trace.h), over real sockets with a real
 * PostgreSQL: a partner step call carrying traceparent/tracestate writes
 * outbox rows holding that trace; the dispatcher's SMS to the eSMS stand-in
 * and its pushes to the FCM and APNs stand-ins carry the same trace id (with
 * a span id of their own as parent-id) and the tracestate, as the stand-ins
 * record the headers (GET /_sim/requests); the request's log lines carry
 * the trace id next to its request id.
 *
 *   given        the caller's trace continues to the gateways
 *   none         without traceparent a trace is started (random id) and still
 *                reaches the gateway; the log lines and the row name it
 *   invalid      an invalid traceparent (upper case) is ignored: a new trace,
 *                its tracestate dropped
 *   booking      result_ready of a dossier going by post: the booking queued
 *                by that step carries its trace to the courier stand-in, and
 *                the citizen's "booked" message continues it
 *   HTTP/1.1     the header is read over HTTP/1.1 too (access log line) */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define PROCEDURE "1.009994"
#define PID "079192004567" /* a citizen the VNeID stand-in knows */
#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT_ID "00f067aa0ba902b7"
#define TRACEPARENT "00-" TRACE_ID "-" PARENT_ID "-01"
#define TRACESTATE "congo=t61rcWkgMzE"

static char *db;
static th_sim sim;
static th_proc srv;
static char esms[64], fcm[64], apns[64], vnpost[64];
static th_login login;
static char env_buf[16][512];
static const char *env[32];
static char code[64], dossier[64];
static int step_seq;

#define count(...) th_db_count(db, __VA_ARGS__)

#define value(sql) th_db_text(db, "%s", (sql))

#define wait_count(want, seconds, sql) th_db_wait_count(db, want, seconds, "%s", (sql))

static json_t *get_json(const char *url, int version)
{
    th_resp r;
    json_t *j = NULL;
    if (th_http(&r, version, "GET", url, NULL, NULL, 0) == 0 && r.status == 200)
        j = json_loads(r.body, 0, NULL);
    th_resp_free(&r);
    return j;
}

static const char *fetch_keys(void)
{
    static char sa_path[256], p8_path[256];
    snprintf(sa_path, sizeof sa_path, "%s/Testing/trace_fcm_sa_%d.json", CDS_BUILD_DIR, (int)getpid());
    snprintf(p8_path, sizeof p8_path, "%s/Testing/trace_apns_%d.p8", CDS_BUILD_DIR, (int)getpid());
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/service-account.json", fcm);
    th_resp r;
    if (th_http(&r, 1, "GET", url, NULL, NULL, 0) != 0 || r.status != 200) return "fcm key";
    FILE *f = fopen(sa_path, "w");
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    th_resp_free(&r);
    snprintf(url, sizeof url, "%s/_sim/auth-key.json", apns);
    json_t *k = get_json(url, 2);
    if (!k) return "apns key";
    f = fopen(p8_path, "w");
    fputs(json_string_value(json_object_get(k, "private_key")), f);
    fclose(f);
    int i = 0;
    snprintf(env_buf[i++], 512, "CDS_ESMS_URL=%s", esms);
    snprintf(env_buf[i++], 512, "CDS_ESMS_API_KEY=cds-dev-esms-apikey");
    snprintf(env_buf[i++], 512, "CDS_ESMS_SECRET_KEY=cds-dev-esms-secretkey");
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
    snprintf(env_buf[i], 512, "CDS_VNPOST_URL=%s", vnpost);
    env[n++] = env_buf[i++];
    env[n++] = "CDS_AUTO_MIGRATE=1";
    env[n++] = "CDS_SMS_PER_HOUR=0";
    env[n++] = "CDS_DELIVERY_POLL_MS=200";
    env[n] = NULL;
    return NULL;
}

/* One partner step of dossier `dcode` with the given extra headers; returns the status. */
static long step_of(const char *dcode, const char *st, const char *const *headers)
{
    char body[512], path[256], at[40];
    time_t t = time(NULL) - 86400 + (++step_seq) + 7 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
    snprintf(body, sizeof body, "{\"event_id\":\"tr-%d-%d\",\"step\":\"%s\",\"occurred_at\":\"%s\"}",
             (int)getpid(), step_seq, st, at);
    snprintf(path, sizeof path, "/v1/partner/dossiers/%s/steps", dcode);
    th_resp r;
    long s = th_partner_with(&r, srv.url, "POST", path, body, headers);
    th_resp_free(&r);
    return s;
}

static long step(const char *st, const char *const *headers)
{
    return step_of(code, st, headers);
}

/* Waits until the step's three messages (SMS, FCM, APNs) left the outbox. */
static long wait_sent(const char *template)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = '%s' AND status "
             "IN ('sent', 'delivered', 'pending')", dossier, template);
    return wait_count(3, 20, sql);
}

/* The trace column of the step's rows, all equal: returns it (malloc) or "". */
static char *row_trace(const char *template)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT CASE WHEN count(DISTINCT trace) = 1 AND count(trace) = 3 THEN min(trace) END "
             "FROM outbox WHERE dossier_id = '%s' AND template = '%s'", dossier, template);
    return value(sql);
}

typedef struct seen {
    int n;                 /* requests with that trace id on the path */
    int parents_fresh;     /* each one's parent-id is not one of `not_parent` */
    int state_ok;          /* each one's tracestate is the expected one (or absent when NULL) */
    int body_has_code;     /* at least one body names the dossier */
} seen;

/* The requests a stand-in recorded on paths starting with `prefix` whose
 * traceparent carries trace id `tid`. */
static seen recorded(const char *base, const char *prefix, const char *tid,
                     const char *const *not_parent, const char *state)
{
    seen s = {0, 1, 1, 0};
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/requests?limit=10000", base);
    json_t *j = get_json(url, strncmp(base, "https", 5) == 0 ? 2 : 1);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "items"), i, e) {
        const char *path = json_string_value(json_object_get(e, "path"));
        json_t *h = json_object_get(e, "headers");
        const char *tp = json_string_value(json_object_get(h, "traceparent"));
        const char *ts = json_string_value(json_object_get(h, "tracestate"));
        if (!path || strncmp(path, prefix, strlen(prefix)) != 0 || !tp) continue;
        if (strlen(tp) != 55 || strncmp(tp, "00-", 3) != 0 || strncmp(tp + 3, tid, 32) != 0)
            continue;
        s.n++;
        for (int k = 0; not_parent && not_parent[k]; k++)
            if (strncmp(tp + 36, not_parent[k], 16) == 0) s.parents_fresh = 0;
        if (state ? !ts || strcmp(ts, state) != 0 : ts != NULL) s.state_ok = 0;
        const char *body = json_string_value(json_object_get(e, "body"));
        if (body && strstr(body, code)) s.body_has_code = 1;
    }
    json_decref(j);
    return s;
}

/* Lines of the server's log naming request id `rid`; how many of them also
 * carry "trace_id":"<tid>" in *with. */
static int log_lines(const char *rid, const char *tid, int *with)
{
    FILE *f = fopen(srv.log, "r");
    char line[8192], want_rid[128], want_tid[64];
    snprintf(want_rid, sizeof want_rid, "\"request_id\":\"%s\"", rid);
    snprintf(want_tid, sizeof want_tid, "\"trace_id\":\"%s", tid);
    int n = 0;
    *with = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strstr(line, want_rid)) continue;
        n++;
        if (strstr(line, want_tid)) (*with)++;
    }
    if (f) fclose(f);
    return n;
}

static void check_gateways(const char *tid, const char *const *not_parent, const char *state)
{
    seen s = recorded(esms, "/MainService.svc/json/SendMultipleMessage_V4_post_json", tid,
                      not_parent, state);
    CHECK_INT(s.n, 1);
    CHECK(s.parents_fresh);
    CHECK(s.state_ok);
    CHECK(s.body_has_code);
    s = recorded(fcm, "/v1/projects/", tid, not_parent, state);
    CHECK_INT(s.n, 1);
    CHECK(s.parents_fresh);
    CHECK(s.state_ok);
    s = recorded(apns, "/3/device/", tid, not_parent, state);
    CHECK_INT(s.n, 1);
    CHECK(s.parents_fresh);
    CHECK(s.state_ok);
}

/* The caller's trace: outbox rows, gateways, log lines. */
static void test_given(void)
{
    const char *h[] = {"traceparent: " TRACEPARENT, "tracestate: " TRACESTATE,
                       "X-Request-Id: trace-given-1", NULL};
    CHECK_INT(step("processing", h), 200);
    CHECK_INT(wait_sent("processing"), 3);
    char *tr = row_trace("processing");
    /* "00-<the caller's trace>-<the step request's own span>-01 <tracestate>" */
    CHECK_INT(strlen(tr), 55 + 1 + strlen(TRACESTATE));
    if (strlen(tr) != 55 + 1 + strlen(TRACESTATE)) {
        free(tr);
        return;
    }
    CHECK(strncmp(tr, "00-" TRACE_ID "-", 36) == 0);
    CHECK(strncmp(tr + 36, PARENT_ID, 16) != 0);
    CHECK(strncmp(tr + 52, "-01 " TRACESTATE, 4 + strlen(TRACESTATE)) == 0);
    char span[17] = "";
    memcpy(span, tr + 36, 16);
    const char *not_parent[] = {PARENT_ID, span, NULL};
    check_gateways(TRACE_ID, not_parent, TRACESTATE);
    free(tr);

    /* Every line of the request carries the trace id, the access line
     * among them (with the request's span). */
    int with = 0;
    int n = log_lines("trace-given-1", TRACE_ID, &with);
    CHECK(n >= 1);
    CHECK_INT(with, n);
    char want[64];
    snprintf(want, sizeof want, "\"span_id\":\"%s\"", span);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "grep -F '\"request_id\":\"trace-given-1\"' '%s' | grep -qF '%s'",
             srv.log, want);
    CHECK(system(cmd) == 0);
}

/* No traceparent: a trace is started and reaches the gateways. */
static void test_none(void)
{
    const char *h[] = {"X-Request-Id: trace-none-1", NULL};
    CHECK_INT(step("result_ready", h), 200);
    CHECK_INT(wait_sent("result_ready"), 3);
    char *tr = row_trace("result_ready");
    CHECK_INT(strlen(tr), 55); /* no tracestate */
    if (strlen(tr) != 55) {
        free(tr);
        return;
    }
    char tid[33] = "";
    if (strlen(tr) == 55) memcpy(tid, tr + 3, 32);
    CHECK(strspn(tid, "0123456789abcdef") == 32 && strcmp(tid, TRACE_ID) != 0);
    CHECK(strspn(tid, "0") != 32);
    CHECK(strncmp(tr + 52, "-00", 3) == 0); /* started here: not sampled */
    char span[17] = "";
    if (strlen(tr) == 55) memcpy(span, tr + 36, 16);
    const char *not_parent[] = {span, NULL};
    check_gateways(tid, not_parent, NULL);
    int with = 0;
    int n = log_lines("trace-none-1", tid, &with);
    CHECK(n >= 1);
    CHECK_INT(with, n);
    free(tr);
}

/* An invalid traceparent is ignored (a new trace), its tracestate with it. */
static void test_invalid(void)
{
    const char *h[] = {"traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
                       "tracestate: " TRACESTATE, "X-Request-Id: trace-invalid-1", NULL};
    CHECK_INT(step("completed", h), 200);
    CHECK_INT(wait_sent("completed"), 3);
    char *tr = row_trace("completed");
    CHECK_INT(strlen(tr), 55);
    if (strlen(tr) != 55) {
        free(tr);
        return;
    }
    CHECK(strncasecmp(tr + 3, TRACE_ID, 32) != 0);
    char tid[33] = "";
    if (strlen(tr) == 55) memcpy(tid, tr + 3, 32);
    seen s = recorded(esms, "/MainService.svc/json/SendMultipleMessage_V4_post_json", tid, NULL,
                      NULL);
    CHECK_INT(s.n, 1);
    CHECK(s.state_ok); /* no tracestate passed on */
    free(tr);
}

#define TRACE_B "0af7651916cd43dd8448eb211c80319c"

/* A result going by post: the booking continues the result_ready step's trace. */
static void test_booking(void)
{
    char pcode[64], pid[64], sql[400], url[256], auth[2200];
    snprintf(pcode, sizeof pcode, "TRP-%d", (int)getpid());
    CHECK_INT(th_partner_import(srv.url, pcode, "1.001193", PID, "Trần Thị Bích Ngọc", "0912345679"),
              201);
    snprintf(sql, sizeof sql, "SELECT id FROM dossiers WHERE code = '%s'", pcode);
    char *v = value(sql);
    snprintf(pid, sizeof pid, "%s", v);
    free(v);
    snprintf(url, sizeof url, "%s/v1/dossiers/%s/delivery", srv.url, pid);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", login.access);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    const char *post =
        "{\"method\":\"post\",\"recipient\":{\"name\":\"Trần Thị Bích Ngọc\",\"phone\":"
        "\"0912345679\",\"address\":{\"province\":\"Thành phố Hồ Chí Minh\",\"district\":"
        "\"Quận 1\",\"ward\":\"Phường Bến Nghé\",\"street\":\"12 Nguyễn Huệ\"}}}";
    th_resp r;
    CHECK(th_http(&r, 2, "PUT", url, h, post, strlen(post)) == 0 && r.status == 200);
    th_resp_free(&r);
    CHECK_INT(step_of(pcode, "processing", NULL), 200);
    const char *th[] = {"traceparent: 00-" TRACE_B "-b7ad6b7169203331-01", NULL};
    CHECK_INT(step_of(pcode, "result_ready", th), 200);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND book_state = 'done' AND "
             "trace LIKE '00-" TRACE_B "-%%-01'", pid);
    CHECK_INT(wait_count(1, 20, sql), 1);
    seen s = recorded(vnpost, "/api/v1/orders", TRACE_B, (const char *[]){"b7ad6b7169203331", NULL},
                      NULL);
    CHECK_INT(s.n, 1);
    CHECK(s.parents_fresh);
    /* The citizen's "booked" SMS: written by the booking's result, same trace. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = 'courier_booked' "
             "AND channel = 'sms' AND trace LIKE '00-" TRACE_B "-%%' AND status IN ('sent', "
             "'delivered', 'pending')", pid);
    CHECK_INT(wait_count(1, 20, sql), 1);
}

/* Over HTTP/1.1: the access line of a request carries the caller's trace. */
static void test_h1(void)
{
    char url[256];
    snprintf(url, sizeof url, "%s/healthz", srv.url);
    const char *h[] = {"traceparent: 00-" TRACE_B "-00f067aa0ba902b7-00", "X-Request-Id: trace-h1-1",
                       NULL};
    th_resp r;
    CHECK(th_http(&r, 1, "GET", url, h, NULL, 0) == 0 && r.status == 200 && r.http_version == 2);
    th_resp_free(&r);
    int with = 0;
    for (int i = 0; i < 40 && log_lines("trace-h1-1", TRACE_B, &with) == 0; i++) usleep(50000);
    CHECK_INT(log_lines("trace-h1-1", TRACE_B, &with), 1);
    CHECK_INT(with, 1);
    /* Two traceparent fields are ambiguous: a new trace (the spec's test
     * suite, test_traceparent_duplicated). */
    const char *h2[] = {"traceparent: 00-" TRACE_B "-00f067aa0ba902b7-00",
                        "traceparent: 00-" TRACE_ID "-00f067aa0ba902b7-00",
                        "X-Request-Id: trace-h1-2", NULL};
    CHECK(th_http(&r, 1, "GET", url, h2, NULL, 0) == 0 && r.status == 200);
    th_resp_free(&r);
    for (int i = 0; i < 40 && log_lines("trace-h1-2", "", &with) == 0; i++) usleep(50000);
    CHECK_INT(log_lines("trace-h1-2", "", &with), 1);
    CHECK_INT(with, 1); /* it has a trace id... */
    CHECK_INT(log_lines("trace-h1-2", TRACE_B, &with), 1); /* ...neither of them */
    CHECK_INT(with, 0);
    CHECK_INT(log_lines("trace-h1-2", TRACE_ID, &with), 1);
    CHECK_INT(with, 0);
}

int main(void)
{
    db = th_db_new("trace");
    int port = th_free_port();
    const char *names[] = {"vneid", "sms-esms", "fcm", "apns", "vnpost", NULL};
    char cb[256], target[128];
    snprintf(cb, sizeof cb, "CDS_SIM_SMS_CALLBACK_BASE=http://127.0.0.1:%d/v1/callbacks/sms", port);
    snprintf(target, sizeof target, "CDS_SIM_VNPOST_TARGET=http://127.0.0.1:%d", port);
    const char *senv[] = {cb, "CDS_SIM_SMS_DLR_DELAY_MS=20", target, NULL};
    if (th_sim_start(&sim, names, senv) != 0) return 1;
    snprintf(esms, sizeof esms, "%s", th_sim_url(&sim, "sms-esms"));
    snprintf(fcm, sizeof fcm, "%s", th_sim_url(&sim, "fcm"));
    snprintf(apns, sizeof apns, "%s", th_sim_url(&sim, "apns"));
    snprintf(vnpost, sizeof vnpost, "%s", th_sim_url(&sim, "vnpost"));
    const char *err = fetch_keys();
    if (err) {
        fprintf(stderr, "cannot read the stand-ins' keys: %s\n", err);
        return 1;
    }
    static char iss[256];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    int n = 0;
    while (env[n]) n++;
    env[n++] = iss;
    env[n] = NULL;
    if (th_server_start_on(&srv, port, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;

    /* A citizen with an Android and an iPhone, and a dossier of theirs. */
    CHECK_INT(th_login_as(&srv, PID, &login), 200);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/me/devices", srv.url);
    th_resp r;
    CHECK_INT(th_json(&r, "POST", url, login.access,
                      "{\"platform\":\"fcm\",\"token\":\"fcm-token-trace-0001\"}", NULL), 201);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", url, login.access,
                      "{\"platform\":\"apns\",\"token\":"
                      "\"b1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90\"}", NULL),
              201);
    th_resp_free(&r);
    snprintf(code, sizeof code, "TR-%d", (int)getpid());
    CHECK_INT(th_partner_import(srv.url, code, PROCEDURE, PID, "Trần Thị Bích Ngọc", "0912345679"), 201);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM dossiers WHERE code = '%s'", code);
    char *id = value(sql);
    snprintf(dossier, sizeof dossier, "%s", id);
    free(id);

    test_given();
    test_none();
    test_invalid();
    test_booking();
    test_h1();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    return t_done();
}
