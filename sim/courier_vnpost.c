/* The VNPost/EMS-style courier stand-in (`vnpost`, port 9008): the carrier's
 * booking and tracking API, and the signed status webhooks it sends to our
 * server (delivery/carrier_vnpost.c speaks the other side).
 *
 * Carrier API (header Token must be CDS_SIM_VNPOST_TOKEN):
 *   POST /api/v1/orders          {"client_order_id", "receiver", ...}: 201
 *                                {"code":"00","data":{"tracking_number",...}};
 *                                the same client_order_id again answers 200
 *                                with the same order (idempotent booking)
 *   GET  /api/v1/orders/{tn}/events  every event of the order so far
 * Control (tests, demos):
 *   GET  /_sim/orders            the orders, each with how many booking calls
 *   POST /_sim/fail              {"count": n, "status": 503, "delay_ms"?: d,
 *                                "delay_count"?: m}: the next n booking calls
 *                                fail so; the next m are made at once but
 *                                answered d ms later (an answer lost in a
 *                                crash of the caller)
 *   POST /_sim/emit              {"tracking_number", "status_code",
 *                                "event_id"?, "occurred_at"?, "reason"?,
 *                                "reason_code"?, "location"?, "pod"?,
 *                                "cod_collected"?, "sign": good|bad|stale|none,
 *                                "repeat": n, "webhook": true|false,
 *                                "as_carrier"?: the path's carrier name}:
 *                                stores the event (the tracking API shows
 *                                it) and, unless webhook is false, signs and
 *                                POSTs it to our server; answers what our
 *                                server answered. A delivered event gets a
 *                                proof of delivery unless one is given.
 *   POST /_sim/scenario          {"tracking_number", "plan": deliver |
 *                                fail_return | fail_deliver, "interval_ms"?,
 *                                "cod_collected"?}: the plan's events sent one
 *                                by one on a timer (202 at once)
 * With CDS_SIM_VNPOST_AUTO=deliver (or fail_return) every new booking plays
 * that plan, CDS_SIM_VNPOST_AUTO_MS apart (scripts/run's demo).
 *
 * Webhook signature: X-Vnpost-Timestamp (Unix seconds) and X-Vnpost-Signature
 * = hex(HMAC-SHA256(CDS_SIM_VNPOST_SECRET, timestamp "." body)). Target:
 * CDS_SIM_VNPOST_TARGET (our base URL, default http://127.0.0.1:8080). */
#include "core/http_client.h"
#include "core/log.h"
#include "sim/callback.h"
#include "sim/sim.h"

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ORDERS 100000
#define REPEAT_MAX 20

typedef struct order {
    char client_id[64];
    char tracking[24];
    int bookings;
    json_t *request; /* the first booking body */
    json_t *events;  /* emitted so far */
} order;

static struct {
    pthread_mutex_t mu;
    order *orders;
    size_t n;
    long seq;
    int fail_count, fail_status;
    int delay_count, delay_ms; /* the next delay_count bookings answer after delay_ms */
    char target[512], secret[256], token[256], auto_plan[32];
    int auto_ms;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void env(char *dst, size_t cap, const char *name, const char *dflt)
{
    const char *v = getenv(name);
    snprintf(dst, cap, "%s", v && *v ? v : dflt);
}

static int vnpost_init(sim_standin *s)
{
    env(g.target, sizeof g.target, "CDS_SIM_VNPOST_TARGET", "http://127.0.0.1:8080");
    env(g.secret, sizeof g.secret, "CDS_SIM_VNPOST_SECRET", "cds-dev-vnpost-webhook-secret");
    env(g.token, sizeof g.token, "CDS_SIM_VNPOST_TOKEN", "cds-dev-vnpost-token");
    env(g.auto_plan, sizeof g.auto_plan, "CDS_SIM_VNPOST_AUTO", "");
    char ms[16];
    env(ms, sizeof ms, "CDS_SIM_VNPOST_AUTO_MS", "3000");
    g.auto_ms = (int)strtol(ms, NULL, 10);
    if (g.auto_ms < 10) g.auto_ms = 10;
    g.orders = calloc(MAX_ORDERS, sizeof *g.orders);
    unsigned int r = 0;
    RAND_bytes((unsigned char *)&r, sizeof r);
    g.seq = 100000000 + (long)(r % 800000000u);
    s->state = &g;
    return g.orders ? 0 : -1;
}

static order *find_locked(const char *client_id, const char *tracking)
{
    for (size_t i = 0; i < g.n; i++)
        if ((client_id && strcmp(g.orders[i].client_id, client_id) == 0) ||
            (tracking && strcmp(g.orders[i].tracking, tracking) == 0))
            return &g.orders[i];
    return NULL;
}

/* Now in Vietnam's time, to the millisecond: a carrier's event a moment
 * after the booking must not look older than it. */
static void now_rfc3339(char *out, size_t cap, int offset_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t t = ts.tv_sec + 7 * 3600 + offset_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    int ms = (int)((ts.tv_nsec / 1000000) % 1000);
    snprintf(out, cap, "%.19s.%03d+07:00", base, ms);
}

/* ---------------- the carrier API ---------------- */

static int authorized(cds_req *r)
{
    const char *t = cds_req_header(r, "token");
    if (t && strcmp(t, g.token) == 0) return 1;
    cds_respond_json(r, 401, json_pack("{s:s,s:s}", "code", "401", "message", "Token không hợp lệ"));
    return 0;
}

static void start_plan(cds_worker *w, const char *tracking, const char *plan, int interval_ms,
                       long long cod);

typedef struct delayed {
    cds_req *r;
    json_t *answer;
    int status, slot;
    struct event *timer;
} delayed;

static void delayed_free(delayed *d)
{
    event_free(d->timer);
    json_decref(d->answer);
    free(d);
}

static void delayed_cancel(void *p)
{
    delayed_free(p); /* the caller went away: the answer is lost */
}

static void on_delayed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    delayed *d = arg;
    cds_req_untrack(d->r, d->slot);
    cds_respond_json(d->r, d->status, json_incref(d->answer));
    delayed_free(d);
}

static void api_book(cds_req *r)
{
    sim_record(r);
    if (!authorized(r)) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *cid = json_string_value(json_object_get(j, "client_order_id"));
    json_t *rcv = json_object_get(j, "receiver");
    if (!cid || strlen(cid) >= 64 || !json_is_object(rcv) ||
        !json_string_value(json_object_get(rcv, "ward"))) {
        cds_respond_json(r, 400, json_pack("{s:s,s:s}", "code", "400", "message",
                                           "Thiếu client_order_id hoặc địa chỉ người nhận"));
        return;
    }
    pthread_mutex_lock(&g.mu);
    if (g.fail_count > 0) {
        g.fail_count--;
        int st = g.fail_status;
        pthread_mutex_unlock(&g.mu);
        cds_respond_json(r, st, json_pack("{s:s,s:s}", "code", "503", "message", "Hệ thống bận"));
        return;
    }
    order *o = find_locked(cid, NULL);
    int created = 0;
    if (!o && g.n < MAX_ORDERS) {
        o = &g.orders[g.n++];
        snprintf(o->client_id, sizeof o->client_id, "%s", cid);
        snprintf(o->tracking, sizeof o->tracking, "EB%09ldVN", g.seq++ % 1000000000);
        o->request = json_incref(j);
        o->events = json_array();
        created = 1;
    }
    if (!o) {
        pthread_mutex_unlock(&g.mu);
        cds_respond_json(r, 507, json_pack("{s:s}", "code", "507"));
        return;
    }
    o->bookings++;
    json_t *ans = json_pack("{s:s,s:s,s:{s:s,s:s,s:I}}", "code", "00", "message",
                            created ? "Tạo đơn thành công" : "Đơn đã tồn tại", "data",
                            "tracking_number", o->tracking, "client_order_id", o->client_id,
                            "fee", (json_int_t)22000);
    char tracking[24];
    snprintf(tracking, sizeof tracking, "%s", o->tracking);
    long long cod = json_integer_value(json_object_get(j, "cod_amount"));
    int delay = 0;
    if (g.delay_count > 0) {
        g.delay_count--;
        delay = g.delay_ms;
    }
    pthread_mutex_unlock(&g.mu);
    /* The worker, before answering: the answer may free the request. */
    cds_worker *w = cds_req_worker(r);
    if (delay > 0) {
        delayed *d = calloc(1, sizeof *d);
        if (!d) abort();
        d->r = r;
        d->answer = ans;
        d->status = created ? 201 : 200;
        d->timer = evtimer_new(w->base, on_delayed, d);
        d->slot = cds_req_track(r, delayed_cancel, d);
        struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
        evtimer_add(d->timer, &tv);
    } else {
        cds_respond_json(r, created ? 201 : 200, ans);
    }
    if (created && g.auto_plan[0]) start_plan(w, tracking, g.auto_plan, g.auto_ms, cod);
}

static void api_events(cds_req *r)
{
    sim_record(r);
    if (!authorized(r)) return;
    const char *tn = cds_req_param(r, "tracking");
    pthread_mutex_lock(&g.mu);
    order *o = find_locked(NULL, tn);
    json_t *ev = o ? json_deep_copy(o->events) : NULL;
    pthread_mutex_unlock(&g.mu);
    if (!ev) {
        cds_respond_json(r, 404, json_pack("{s:s,s:s}", "code", "404", "message", "Không có vận đơn"));
        return;
    }
    cds_respond_json(r, 200, json_pack("{s:s,s:{s:s,s:o}}", "code", "00", "data", "tracking_number",
                                       tn, "events", ev));
}

/* ---------------- events and webhooks ---------------- */

static void sign(const char *ts, const char *body, char out[65])
{
    size_t tl = strlen(ts), bl = strlen(body);
    unsigned char *msg = malloc(tl + 1 + bl + 1), md[32];
    unsigned int ml = 0;
    if (!msg) abort();
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, body, bl);
    HMAC(EVP_sha256(), g.secret, (int)strlen(g.secret), msg, tl + 1 + bl, md, &ml);
    free(msg);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static const char *status_name(const char *code)
{
    static const char *const names[][2] = {
        {"100", "Đã tiếp nhận đơn"}, {"200", "Đã nhận hàng"}, {"300", "Đang vận chuyển"},
        {"301", "Đến bưu cục phát"}, {"400", "Đang phát"},    {"500", "Phát thành công"},
        {"550", "Phát không thành công"}, {"600", "Đang chuyển hoàn"}, {"700", "Đã chuyển hoàn"},
        {"900", "Đã hủy"}};
    for (size_t i = 0; code && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(code, names[i][0]) == 0) return names[i][1];
    return "";
}

/* The event object from a control body (new reference); stored with its order. */
static json_t *make_event(json_t *in)
{
    json_t *e = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v) {
        if (strcmp(k, "sign") && strcmp(k, "repeat") && strcmp(k, "webhook") && strcmp(k, "as_carrier"))
            json_object_set(e, k, v);
    }
    if (!json_object_get(e, "event_id")) {
        unsigned char raw[8];
        RAND_bytes(raw, sizeof raw);
        char id[40];
        snprintf(id, sizeof id, "vnp-%02x%02x%02x%02x%02x%02x%02x%02x", raw[0], raw[1], raw[2],
                 raw[3], raw[4], raw[5], raw[6], raw[7]);
        json_object_set_new(e, "event_id", json_string(id));
    }
    if (!json_object_get(e, "occurred_at")) {
        char ts[40];
        now_rfc3339(ts, sizeof ts, 0);
        json_object_set_new(e, "occurred_at", json_string(ts));
    }
    const char *code = json_string_value(json_object_get(e, "status_code"));
    if (!json_object_get(e, "status_name") && code)
        json_object_set_new(e, "status_name", json_string(status_name(code)));
    if (code && strcmp(code, "500") == 0 && !json_object_get(e, "pod"))
        json_object_set_new(
            e, "pod",
            json_pack("{s:s,s:s,s:O,s:{s:f,s:f},s:s,s:s}", "recipient_name", "Nguyễn Văn An",
                      "relation", "self", "delivered_at", json_object_get(e, "occurred_at"),
                      "position", "lat", 10.776889, "lng", 106.700806, "image_ref",
                      "vnpost://pod/sig-0001.png", "image_sha256",
                      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"));
    const char *tn = json_string_value(json_object_get(e, "tracking_number"));
    pthread_mutex_lock(&g.mu);
    order *o = find_locked(NULL, tn);
    if (o) {
        json_object_set_new(e, "client_order_id", json_string(o->client_id));
        json_array_append(o->events, e);
    }
    pthread_mutex_unlock(&g.mu);
    return e;
}

/* Builds and sends the signed webhook of `event`. r may be NULL. */
static int send_event(cds_req *r, cds_worker *w, sim_standin *s, json_t *event, const char *mode,
                      int repeat, const char *carrier)
{
    sim_callback *c = sim_callback_new(s, w->http, "webhook", "event", json_incref(event),
                                       json_dumps(event, JSON_COMPACT));
    long long ts = (long long)time(NULL);
    if (strcmp(mode, "stale") == 0) ts -= 600;
    char tss[24], sig[65];
    snprintf(tss, sizeof tss, "%lld", ts);
    sign(tss, sim_callback_body(c), sig);
    if (strcmp(mode, "bad") == 0) sig[0] = sig[0] == '0' ? '1' : '0';
    if (strcmp(mode, "none") != 0 &&
        (sim_callback_header(c, "X-Vnpost-Timestamp: %s", tss) < 0 ||
         sim_callback_header(c, "X-Vnpost-Signature: %s", sig) < 0))
        abort();
    char *url;
    if (asprintf(&url, "%s/v1/webhooks/couriers/%s", g.target, carrier) < 0) abort();
    sim_callback_start(c, r, url, repeat);
    free(url);
    return 0;
}

static void ctl_emit(cds_req *r)
{
    sim_record(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    if (!json_is_object(in) || !json_string_value(json_object_get(in, "tracking_number"))) {
        cds_problem(r, 400, "invalid_control", "Thiếu tracking_number.");
        return;
    }
    const char *mode = json_string_value(json_object_get(in, "sign"));
    if (!mode) mode = "good";
    if (strcmp(mode, "good") && strcmp(mode, "bad") && strcmp(mode, "stale") && strcmp(mode, "none")) {
        cds_problem(r, 400, "invalid_control", "\"sign\" phải là good, bad, stale hoặc none.");
        return;
    }
    json_int_t repeat = json_is_integer(json_object_get(in, "repeat"))
                            ? json_integer_value(json_object_get(in, "repeat")) : 1;
    if (repeat < 1 || repeat > REPEAT_MAX) {
        cds_problem(r, 400, "invalid_control", "\"repeat\" từ 1 đến 20.");
        return;
    }
    const char *carrier = json_string_value(json_object_get(in, "as_carrier"));
    if (!carrier) carrier = "vnpost";
    json_t *event = make_event(in);
    if (json_is_false(json_object_get(in, "webhook"))) {
        cds_respond_json(r, 200, json_pack("{s:i,s:o}", "status", 0, "event", event));
        return;
    }
    send_event(r, cds_req_worker(r), sim_of(r), event, mode, (int)repeat, carrier);
    json_decref(event);
}

static void ctl_orders(cds_req *r)
{
    json_t *list = json_array();
    pthread_mutex_lock(&g.mu);
    for (size_t i = 0; i < g.n; i++)
        json_array_append_new(list, json_pack("{s:s,s:s,s:i,s:O,s:O}", "client_order_id",
                                              g.orders[i].client_id, "tracking_number",
                                              g.orders[i].tracking, "bookings", g.orders[i].bookings,
                                              "request", g.orders[i].request, "events",
                                              g.orders[i].events));
    pthread_mutex_unlock(&g.mu);
    cds_respond_json(r, 200, json_pack("{s:o}", "orders", list));
}

static void ctl_fail(cds_req *r)
{
    sim_record(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    json_int_t n = json_integer_value(json_object_get(in, "count"));
    json_int_t st = json_is_integer(json_object_get(in, "status"))
                        ? json_integer_value(json_object_get(in, "status")) : 503;
    json_int_t dms = json_integer_value(json_object_get(in, "delay_ms"));
    json_int_t dn = json_integer_value(json_object_get(in, "delay_count"));
    if (n < 0 || n > 1000 || st < 400 || st > 599 || dms < 0 || dms > 600000 || dn < 0 ||
        dn > 100000) {
        cds_problem(r, 400, "invalid_control",
                    "count 0..1000, status 400..599, delay_ms 0..600000, delay_count 0..100000.");
        return;
    }
    pthread_mutex_lock(&g.mu);
    g.fail_count = (int)n;
    g.fail_status = (int)st;
    g.delay_ms = (int)dms;
    g.delay_count = (int)dn;
    pthread_mutex_unlock(&g.mu);
    cds_respond_json(r, 200, json_pack("{s:I,s:I}", "count", n, "status", st));
}

/* ---------------- scenarios ---------------- */

typedef struct plan {
    cds_worker *w;
    struct event *timer;
    char tracking[24];
    json_t *steps; /* [{"status_code", ...}] */
    size_t next;
    int interval_ms;
} plan;

static void on_plan_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    plan *p = arg;
    if (p->next >= json_array_size(p->steps)) {
        event_free(p->timer);
        json_decref(p->steps);
        free(p);
        return;
    }
    json_t *in = json_deep_copy(json_array_get(p->steps, p->next++));
    json_object_set_new(in, "tracking_number", json_string(p->tracking));
    json_t *ev = make_event(in);
    json_decref(in);
    send_event(NULL, p->w, NULL, ev, "good", 1, "vnpost");
    json_decref(ev);
    struct timeval tv = {p->interval_ms / 1000, (p->interval_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

static json_t *plan_steps(const char *name, long long cod)
{
    if (strcmp(name, "deliver") == 0)
        return json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s,s:I}]", "status_code", "200",
                         "location", "Bưu cục Sài Gòn", "status_code", "300", "location",
                         "Trung tâm khai thác Hồ Chí Minh", "status_code", "400", "location",
                         "Bưu cục phát Bến Nghé", "status_code", "500", "location",
                         "Bưu cục phát Bến Nghé", "cod_collected", (json_int_t)cod);
    if (strcmp(name, "fail_return") == 0)
        return json_pack("[{s:s},{s:s},{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s},{s:s}]",
                         "status_code", "200", "status_code", "400", "status_code", "550",
                         "reason_code", "R01", "reason", "Người nhận vắng nhà", "status_code",
                         "550", "reason_code", "R02", "reason", "Không liên lạc được người nhận",
                         "status_code", "550", "reason_code", "R01", "reason",
                         "Người nhận vắng nhà", "status_code", "600", "status_code", "700");
    if (strcmp(name, "fail_deliver") == 0)
        return json_pack("[{s:s},{s:s},{s:s,s:s,s:s},{s:s},{s:s,s:I}]", "status_code", "200",
                         "status_code", "400", "status_code", "550", "reason_code", "R01",
                         "reason", "Người nhận vắng nhà", "status_code", "400", "status_code",
                         "500", "cod_collected", (json_int_t)cod);
    return NULL;
}

static void start_plan(cds_worker *w, const char *tracking, const char *name, int interval_ms,
                       long long cod)
{
    json_t *steps = plan_steps(name, cod);
    if (!steps) return;
    if (cod <= 0)
        for (size_t i = 0; i < json_array_size(steps); i++)
            json_object_del(json_array_get(steps, i), "cod_collected");
    plan *p = calloc(1, sizeof *p);
    if (!p) abort();
    p->w = w;
    snprintf(p->tracking, sizeof p->tracking, "%s", tracking);
    p->steps = steps;
    p->interval_ms = interval_ms;
    p->timer = evtimer_new(w->base, on_plan_timer, p);
    struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

static void ctl_scenario(cds_req *r)
{
    sim_record(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    const char *tn = json_string_value(json_object_get(in, "tracking_number"));
    const char *name = json_string_value(json_object_get(in, "plan"));
    json_int_t ms = json_is_integer(json_object_get(in, "interval_ms"))
                        ? json_integer_value(json_object_get(in, "interval_ms")) : 200;
    json_t *test = name ? plan_steps(name, 1) : NULL;
    if (!tn || strlen(tn) >= 24 || !test || ms < 1 || ms > 600000) {
        json_decref(test);
        cds_problem(r, 400, "invalid_control",
                    "Cần tracking_number và plan: deliver, fail_return hoặc fail_deliver.");
        return;
    }
    json_decref(test);
    start_plan(cds_req_worker(r), tn, name, (int)ms,
               json_integer_value(json_object_get(in, "cod_collected")));
    cds_respond_json(r, 202, json_pack("{s:s,s:s}", "tracking_number", tn, "plan", name));
}

static const cds_route vnpost_routes[] = {
    {"POST", "/api/v1/orders", api_book, 64 * 1024},
    {"GET", "/api/v1/orders/{tracking}/events", api_events, 0},
    {"GET", "/_sim/orders", ctl_orders, 0},
    {"POST", "/_sim/fail", ctl_fail, 4096},
    {"POST", "/_sim/emit", ctl_emit, 64 * 1024},
    {"POST", "/_sim/scenario", ctl_scenario, 4096},
};

sim_standin sim_vnpost = {
    .name = "vnpost",
    .default_port = 9008,
    .routes = vnpost_routes,
    .nroutes = sizeof vnpost_routes / sizeof vnpost_routes[0],
    .init = vnpost_init,
};
