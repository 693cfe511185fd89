/* The GHN (Giao Hàng Nhanh) courier stand-in (`ghn`, port 9012), written
 * from GHN's public API documentation (https://api.ghn.vn/home/docs/detail:
 * Create Order, Calculate Fee, Cancel Order, Order Info, Callback) with its
 * own code: it checks what GHN documents, not what our adapter sends.
 *
 * GHN's API, under /shiip/public-api (so our CDS_GHN_URL is
 * http://127.0.0.1:9012/shiip/public-api), every call a POST with JSON:
 *   headers  Token must be CDS_SIM_GHN_TOKEN (else HTTP 401, code 401);
 *            ShopId must be one of CDS_SIM_GHN_SHOP_IDS (create, fee,
 *            cancel, by-client-code; else 400)
 *   /v2/shipping-order/create  required: to_name, to_phone (a Vietnamese
 *            number), to_address, the ward and district (to_ward_code +
 *            to_district_id, or to_ward_name + to_district_name +
 *            to_province_name), weight 1..30000 g, length/width/height
 *            1..150 cm, service_type_id or service_id, payment_type_id 1|2,
 *            required_note CHOTHUHANG|CHOXEMHANGKHONGTHU|KHONGCHOXEMHANG,
 *            cod_amount 0..10000000; client_order_code unique per account
 *            (a second create with it is refused, 400). A ward this
 *            stand-in does not know is refused (400), as GHN refuses an
 *            address outside its master data. 200 {"code":200,"message":
 *            "Success","data":{"order_code","sort_code","trans_type",
 *            "total_fee","expected_delivery_time","fee":{...}}}
 *   /v2/shipping-order/fee     the same address, weight and service ->
 *            {"data":{"total","service_fee","insurance_fee",...}}
 *   /v2/switch-status/cancel   {"order_codes":[...]} -> {"data":[{order_code,
 *            result, message}]}; only before pick-up (ready_to_pick,
 *            picking); a cancelled order gets its Switch_status callback
 *   /v2/shipping-order/detail  {"order_code"} -> data {order_code,
 *            client_order_code, status, log:[{status, updated_date}]}
 *   /v2/shipping-order/detail-by-client-code  {"client_order_code"}
 *   Refusals: HTTP 400 {"code":400,"message","code_message_value","data":null}.
 *   GHN's exact refusal texts are not published; these are ours.
 *
 * Callbacks, as GHN sends them: POST JSON {CODAmount, CODTransferDate,
 * ClientOrderCode, ConvertedWeight, Description, Fee{...}, Height,
 * IsPartialReturn, Length, OrderCode, PartialReturnCode, PaymentType,
 * Reason, ReasonCode, ShopID, Status, Time, TotalFee, Type, Warehouse,
 * Weight, Width} with no signature, to the URL registered with GHN:
 * CDS_SIM_GHN_TARGET + /v1/webhooks/couriers/ghn/ + CDS_SIM_GHN_CALLBACK_TOKEN.
 * Every order gets a Create callback (ready_to_pick) when made.
 *
 * Control (tests, demos):
 *   GET  /_sim/orders       every order with its create calls and log
 *   POST /_sim/fail         {"count","status","call"?}: the next `count`
 *                           calls of one kind answer HTTP `status` (GHN's
 *                           refusal envelope): call "create" (the default),
 *                           "cancel" or "detail" (/v2/shipping-order/detail);
 *                           each kind has its own count. The orders list
 *                           counts every cancel and detail call naming an
 *                           order ("cancels", "details"), failed ones too
 *   POST /_sim/callback     {"order_code","status","type"?,"time"?,
 *                           "reason"?,"reason_code"?,"warehouse"?,
 *                           "token"?: another URL token, "repeat"?}: logs the
 *                           status on the order (unless type is an Update_*)
 *                           and sends the callback; answers what our server
 *                           answered
 *   POST /_sim/scenario     {"order_code","plan":deliver|fail_return,
 *                           "interval_ms"?}: the plan's callbacks on a timer
 * CDS_SIM_GHN_AUTO=deliver (or fail_return) plays a plan for every new
 * order, CDS_SIM_GHN_AUTO_MS apart (scripts/run's demo). */
#include "core/http_client.h"
#include "sim/callback.h"
#include "sim/sim.h"

#include <event2/event.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_ORDERS 100000
#define REPEAT_MAX 20

typedef struct order {
    char client_code[64];
    char code[16];
    char shop[32];
    int creates; /* create calls naming this client_order_code */
    int cancels, details; /* cancel and detail calls naming it, failed ones too */
    long long cod;
    char status[32];
    json_t *request; /* the create body */
    json_t *log;     /* [{status, updated_date}] */
} order;

static struct {
    pthread_mutex_t mu;
    order *orders;
    size_t n;
    unsigned long seq;
    int fail_count[3], fail_status[3]; /* by fail_call */
    char token[256], shops[512], target[512], cb_token[256], auto_plan[32];
    int auto_ms;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Wards this stand-in knows (GHN's master data has them all). */
static const char *const wards[] = {
    "Phường Bến Nghé",  "Phường Bến Thành", "Phường Cầu Kho",   "Phường Cô Giang",
    "Phường Đa Kao",    "Phường Tân Định",  "Phường Phạm Ngũ Lão", "Phường Nguyễn Thái Bình",
    "Xã Tân Thông Hội", "Thị trấn Củ Chi",  "Phường 1",         "Phường 2",
    "Phường 10",        "Phường 25",        "Phường Linh Trung",
};

/* The calls /_sim/fail can make fail. */
enum { FAIL_CREATE, FAIL_CANCEL, FAIL_DETAIL };
static const char *const fail_calls[] = {"create", "cancel", "detail"};

/* Under g.mu: the HTTP status the next call of kind k must fail with, or 0. */
static int take_failure_locked(int k)
{
    if (g.fail_count[k] <= 0) return 0;
    g.fail_count[k]--;
    return g.fail_status[k];
}

static void env(char *dst, size_t cap, const char *name, const char *dflt)
{
    const char *v = getenv(name);
    snprintf(dst, cap, "%s", v && *v ? v : dflt);
}

static int ghn_init(sim_standin *s)
{
    env(g.token, sizeof g.token, "CDS_SIM_GHN_TOKEN", "cds-dev-ghn-token");
    env(g.shops, sizeof g.shops, "CDS_SIM_GHN_SHOP_IDS", "885,886");
    env(g.target, sizeof g.target, "CDS_SIM_GHN_TARGET", "http://127.0.0.1:8080");
    env(g.cb_token, sizeof g.cb_token, "CDS_SIM_GHN_CALLBACK_TOKEN", "cds-dev-ghn-callback-token");
    env(g.auto_plan, sizeof g.auto_plan, "CDS_SIM_GHN_AUTO", "");
    char ms[16];
    env(ms, sizeof ms, "CDS_SIM_GHN_AUTO_MS", "3000");
    g.auto_ms = (int)strtol(ms, NULL, 10);
    if (g.auto_ms < 10) g.auto_ms = 10;
    g.orders = calloc(MAX_ORDERS, sizeof *g.orders);
    unsigned int r = 0;
    RAND_bytes((unsigned char *)&r, sizeof r);
    g.seq = r % 1000000u;
    s->state = &g;
    return g.orders ? 0 : -1;
}

/* Now, UTC, as GHN writes times: 2026-12-04T03:52:50.158Z. */
static void now_iso(char *out, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", base, (int)((ts.tv_nsec / 1000000) % 1000));
}

static void refuse(cds_req *r, int http, const char *msg)
{
    cds_respond_json(r, http, json_pack("{s:i,s:s,s:s,s:n}", "code", http, "message", msg,
                                        "code_message_value", msg, "data"));
}

static void success(cds_req *r, json_t *data)
{
    cds_respond_json(r, 200, json_pack("{s:i,s:s,s:o}", "code", 200, "message", "Success", "data",
                                       data));
}

static int shop_known(const char *shop)
{
    size_t n = shop ? strlen(shop) : 0;
    if (n == 0 || n >= 32) return 0;
    for (const char *p = g.shops; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, shop, n) == 0) return 1;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

/* Token (and, when need_shop, ShopId) as GHN requires; answers otherwise. */
static int gate(cds_req *r, int need_shop)
{
    sim_record(r);
    const char *t = cds_req_header(r, "token");
    if (!t || strcmp(t, g.token) != 0) {
        refuse(r, 401, "Token is not valid");
        return 0;
    }
    if (need_shop && !shop_known(cds_req_header(r, "shopid"))) {
        refuse(r, 400, "ShopId không hợp lệ");
        return 0;
    }
    return 1;
}

static const char *str(const json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s && *s ? s : NULL;
}

static int int_in(const json_t *j, const char *k, long long lo, long long hi, int required)
{
    json_t *v = json_object_get(j, k);
    if (!v || json_is_null(v)) return !required;
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static int phone_ok(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    return n == 10 && p[0] == '0' && strspn(p, "0123456789") == n;
}

/* The address and parcel checks create and fee share; NULL or the reason. */
static const char *check_address(const json_t *j)
{
    const char *wcode = str(j, "to_ward_code"), *wname = str(j, "to_ward_name");
    if (wcode) {
        if (!int_in(j, "to_district_id", 1, 1000000, 1)) return "Thiếu to_district_id";
    } else if (!wname || !str(j, "to_district_name") || !str(j, "to_province_name")) {
        return "Thiếu phường/xã, quận/huyện hoặc tỉnh/thành của người nhận";
    } else {
        int known = 0;
        for (size_t i = 0; i < sizeof wards / sizeof wards[0]; i++)
            if (strcmp(wards[i], wname) == 0) known = 1;
        if (!known) return "Không tìm thấy phường/xã người nhận";
    }
    if (!int_in(j, "weight", 1, 30000, 1)) return "weight phải từ 1 đến 30000 gram";
    if (!int_in(j, "length", 1, 150, 1) || !int_in(j, "width", 1, 150, 1) ||
        !int_in(j, "height", 1, 150, 1))
        return "length, width, height phải từ 1 đến 150 cm";
    if (!int_in(j, "service_type_id", 1, 100, 0) || !int_in(j, "service_id", 1, 10000000, 0) ||
        (!json_object_get(j, "service_type_id") && !json_object_get(j, "service_id")))
        return "Thiếu service_type_id hoặc service_id";
    return NULL;
}

static long long fee_of(const json_t *j)
{
    long long w = json_integer_value(json_object_get(j, "weight"));
    return 16500 + (w > 500 ? (w - 500 + 499) / 500 * 2500 : 0);
}

static order *find_locked(const char *client_code, const char *code)
{
    for (size_t i = 0; i < g.n; i++)
        if ((client_code && strcmp(g.orders[i].client_code, client_code) == 0) ||
            (code && strcmp(g.orders[i].code, code) == 0))
            return &g.orders[i];
    return NULL;
}

static void log_status_locked(order *o, const char *status, const char *at)
{
    snprintf(o->status, sizeof o->status, "%s", status);
    json_array_append_new(o->log, json_pack("{s:s,s:s}", "status", status, "updated_date", at));
}

/* ---------------- callbacks ---------------- */

/* The callback body of order `code` (GHN's field names); NULL when unknown. */
static json_t *callback_body(const char *code, const char *status, const char *type,
                             const char *at, const json_t *in)
{
    pthread_mutex_lock(&g.mu);
    order *o = find_locked(NULL, code);
    json_t *b = NULL;
    if (o) {
        const json_t *rq = o->request;
        b = json_pack("{s:I,s:n,s:s,s:I,s:s,s:{s:I,s:I,s:I,s:I,s:I},s:I,s:b,s:I,s:s,s:s,s:i,"
                      "s:s,s:s,s:I,s:s,s:s,s:I,s:s,s:s,s:I,s:I}",
                      "CODAmount", (json_int_t)o->cod, "CODTransferDate", "ClientOrderCode",
                      o->client_code, "ConvertedWeight",
                      json_integer_value(json_object_get(rq, "weight")), "Description", status,
                      "Fee", "MainService", (json_int_t)fee_of(rq), "Insurance", (json_int_t)0,
                      "CODFee", (json_int_t)0, "Return", (json_int_t)0, "R2S", (json_int_t)0,
                      "Height", json_integer_value(json_object_get(rq, "height")),
                      "IsPartialReturn", 0, "Length",
                      json_integer_value(json_object_get(rq, "length")), "OrderCode", o->code,
                      "PartialReturnCode", "", "PaymentType",
                      (int)json_integer_value(json_object_get(rq, "payment_type_id")), "Reason",
                      "", "ReasonCode", "", "ShopID", (json_int_t)strtoll(o->shop, NULL, 10),
                      "Status", status, "Time", at, "TotalFee", (json_int_t)fee_of(rq), "Type",
                      type, "Warehouse", "", "Weight",
                      json_integer_value(json_object_get(rq, "weight")), "Width",
                      json_integer_value(json_object_get(rq, "width")));
    }
    pthread_mutex_unlock(&g.mu);
    if (b && in) {
        static const char *const map[][2] = {
            {"reason", "Reason"}, {"reason_code", "ReasonCode"}, {"warehouse", "Warehouse"}};
        for (size_t i = 0; i < 3; i++)
            if (json_string_value(json_object_get(in, map[i][0])))
                json_object_set(b, map[i][1], json_object_get(in, map[i][0]));
    }
    return b;
}

static void send_callback(cds_req *r, cds_http_client *http, sim_standin *s, json_t *body,
                          const char *token, int repeat)
{
    char *url;
    if (asprintf(&url, "%s/v1/webhooks/couriers/ghn/%s", g.target, token) < 0) abort();
    sim_callback *c =
        sim_callback_new(s, http, "callback", "callback", body, json_dumps(body, JSON_COMPACT));
    sim_callback_start(c, r, url, repeat);
    free(url);
}

/* A status change of an order: logged, then its Switch_status callback. */
static void change_status(cds_http_client *http, sim_standin *s, const char *code,
                          const char *status, const char *type, const json_t *in)
{
    char at[40];
    now_iso(at, sizeof at);
    pthread_mutex_lock(&g.mu);
    order *o = find_locked(NULL, code);
    if (o) log_status_locked(o, status, at);
    pthread_mutex_unlock(&g.mu);
    json_t *b = callback_body(code, status, type, at, in);
    if (b) send_callback(NULL, http, s, b, g.cb_token, 1);
}

/* ---------------- scenarios ---------------- */

typedef struct plan {
    cds_worker *w;
    sim_standin *s;
    struct event *timer;
    char code[16];
    const char *const *steps;
    size_t next;
    int interval_ms;
} plan;

static const char *const plan_deliver[] = {"picking", "picked", "storing", "transporting",
                                           "delivering", "delivered", NULL};
static const char *const plan_fail_return[] = {"picking", "picked", "delivering", "delivery_fail",
                                               "delivering", "delivery_fail", "delivering",
                                               "delivery_fail", "waiting_to_return", "return",
                                               "returned", NULL};

static const char *const *plan_named(const char *name)
{
    if (name && strcmp(name, "deliver") == 0) return plan_deliver;
    if (name && strcmp(name, "fail_return") == 0) return plan_fail_return;
    return NULL;
}

static void on_plan_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    plan *p = arg;
    const char *st = p->steps[p->next];
    if (!st) {
        event_free(p->timer);
        free(p);
        return;
    }
    p->next++;
    json_t *in = strcmp(st, "delivery_fail") == 0
                     ? json_pack("{s:s,s:s}", "reason", "Người nhận không nghe máy", "reason_code",
                                 "GHN-DFC1A0")
                     : NULL;
    change_status(p->w->http, p->s, p->code, st, "Switch_status", in);
    json_decref(in);
    struct timeval tv = {p->interval_ms / 1000, (p->interval_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

static void start_plan(cds_worker *w, sim_standin *s, const char *code, const char *name,
                       int interval_ms)
{
    const char *const *steps = plan_named(name);
    if (!steps) return;
    plan *p = calloc(1, sizeof *p);
    if (!p) abort();
    p->w = w;
    p->s = s;
    snprintf(p->code, sizeof p->code, "%s", code);
    p->steps = steps;
    p->interval_ms = interval_ms;
    p->timer = evtimer_new(w->base, on_plan_timer, p);
    struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

/* ---------------- GHN's API ---------------- */

static void api_create(cds_req *r)
{
    if (!gate(r, 1)) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *why = NULL;
    const char *note = str(j, "required_note");
    const char *cc = str(j, "client_order_code");
    if (!json_is_object(j)) why = "Nội dung không hợp lệ";
    else if (!str(j, "to_name") || strlen(str(j, "to_name")) > 1024) why = "Thiếu to_name";
    else if (!phone_ok(str(j, "to_phone"))) why = "Số điện thoại người nhận không hợp lệ";
    else if (!str(j, "to_address") || strlen(str(j, "to_address")) > 1024) why = "Thiếu to_address";
    else if ((why = check_address(j)) != NULL) {
    } else if (!int_in(j, "payment_type_id", 1, 2, 1)) why = "payment_type_id phải là 1 hoặc 2";
    else if (!note || (strcmp(note, "CHOTHUHANG") && strcmp(note, "CHOXEMHANGKHONGTHU") &&
                       strcmp(note, "KHONGCHOXEMHANG")))
        why = "required_note phải là CHOTHUHANG, CHOXEMHANGKHONGTHU hoặc KHONGCHOXEMHANG";
    else if (!int_in(j, "cod_amount", 0, 10000000, 0)) why = "cod_amount tối đa 10.000.000";
    else if (cc && strlen(cc) >= 64) why = "client_order_code quá dài";
    if (why) {
        refuse(r, 400, why);
        return;
    }
    char at[40], code[16];
    now_iso(at, sizeof at);
    pthread_mutex_lock(&g.mu);
    int fail = take_failure_locked(FAIL_CREATE);
    if (fail) {
        pthread_mutex_unlock(&g.mu);
        refuse(r, fail, "Hệ thống đang bận, vui lòng thử lại");
        return;
    }
    order *dup = cc ? find_locked(cc, NULL) : NULL;
    if (dup) {
        dup->creates++;
        pthread_mutex_unlock(&g.mu);
        refuse(r, 400, "Mã đơn hàng của khách hàng (client_order_code) đã tồn tại");
        return;
    }
    if (g.n == MAX_ORDERS) {
        pthread_mutex_unlock(&g.mu);
        refuse(r, 500, "Hết chỗ");
        return;
    }
    order *o = &g.orders[g.n++];
    static const char alpha[] = "ABCDEFGHJKLMNPQRSTUVWXY3456789";
    unsigned long v = g.seq++;
    snprintf(o->code, sizeof o->code, "G");
    for (int i = 1; i < 8; i++, v /= 30) o->code[i] = alpha[v % 30];
    o->code[8] = 0;
    snprintf(o->client_code, sizeof o->client_code, "%s", cc ? cc : o->code);
    snprintf(o->shop, sizeof o->shop, "%s", cds_req_header(r, "shopid"));
    o->creates = 1;
    o->cod = json_integer_value(json_object_get(j, "cod_amount"));
    o->request = json_incref(j);
    o->log = json_array();
    log_status_locked(o, "ready_to_pick", at);
    snprintf(code, sizeof code, "%s", o->code);
    long long fee = fee_of(j);
    pthread_mutex_unlock(&g.mu);
    /* The worker and stand-in, before answering: the answer may free the request. */
    cds_worker *w = cds_req_worker(r);
    sim_standin *self = sim_of(r);
    success(r, json_pack("{s:s,s:s,s:s,s:I,s:s,s:{s:I,s:I,s:I,s:I,s:I}}", "order_code", code,
                         "sort_code", "190-G-01-A1", "trans_type", "truck", "total_fee",
                         (json_int_t)fee, "expected_delivery_time", at, "fee", "main_service",
                         (json_int_t)fee, "insurance", (json_int_t)0, "station_do", (json_int_t)0,
                         "station_pu", (json_int_t)0, "return", (json_int_t)0));
    json_t *b = callback_body(code, "ready_to_pick", "Create", at, NULL);
    if (b) send_callback(NULL, w->http, self, b, g.cb_token, 1);
    if (g.auto_plan[0]) start_plan(w, self, code, g.auto_plan, g.auto_ms);
}

static void api_fee(cds_req *r)
{
    if (!gate(r, 1)) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *why = json_is_object(j) ? check_address(j) : "Nội dung không hợp lệ";
    if (!why && !int_in(j, "insurance_value", 0, 5000000, 0)) why = "insurance_value tối đa 5.000.000";
    if (why) {
        refuse(r, 400, why);
        return;
    }
    long long fee = fee_of(j);
    success(r, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "total", (json_int_t)fee, "service_fee",
                         (json_int_t)fee, "insurance_fee", (json_int_t)0, "pick_station_fee",
                         (json_int_t)0, "coupon_value", (json_int_t)0, "r2s_fee", (json_int_t)0,
                         "cod_fee", (json_int_t)0));
}

static json_t *detail_of_locked(const order *o)
{
    return json_pack("{s:s,s:s,s:s,s:I,s:O,s:s}", "order_code", o->code, "client_order_code",
                     o->client_code, "status", o->status, "cod_amount", (json_int_t)o->cod, "log",
                     o->log, "to_name", str(o->request, "to_name") ? str(o->request, "to_name") : "");
}

static void detail(cds_req *r, int by_client)
{
    if (!gate(r, by_client)) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *key = str(j, by_client ? "client_order_code" : "order_code");
    pthread_mutex_lock(&g.mu);
    order *o = key ? (by_client ? find_locked(key, NULL) : find_locked(NULL, key)) : NULL;
    if (o && !by_client) o->details++;
    int fail = by_client ? 0 : take_failure_locked(FAIL_DETAIL);
    json_t *d = o && !fail ? detail_of_locked(o) : NULL;
    pthread_mutex_unlock(&g.mu);
    if (fail) {
        refuse(r, fail, "Hệ thống đang bận, vui lòng thử lại");
        return;
    }
    if (!d) {
        refuse(r, 400, "Không tìm thấy đơn hàng");
        return;
    }
    success(r, d);
}

static void api_detail(cds_req *r)
{
    detail(r, 0);
}

static void api_detail_client(cds_req *r)
{
    detail(r, 1);
}

static void api_cancel(cds_req *r)
{
    if (!gate(r, 1)) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    json_t *codes = json_object_get(j, "order_codes");
    if (!json_is_array(codes) || json_array_size(codes) == 0 || json_array_size(codes) > 100) {
        refuse(r, 400, "Thiếu order_codes");
        return;
    }
    size_t i;
    json_t *c;
    pthread_mutex_lock(&g.mu);
    json_array_foreach(codes, i, c) {
        order *o = json_string_value(c) ? find_locked(NULL, json_string_value(c)) : NULL;
        if (o) o->cancels++;
    }
    int fail = take_failure_locked(FAIL_CANCEL);
    if (fail) {
        pthread_mutex_unlock(&g.mu);
        refuse(r, fail, "Hệ thống đang bận, vui lòng thử lại");
        return;
    }
    json_t *out = json_array();
    json_t *done = json_array();
    json_array_foreach(codes, i, c) {
        const char *code = json_string_value(c);
        order *o = code ? find_locked(NULL, code) : NULL;
        int ok = o && (strcmp(o->status, "ready_to_pick") == 0 || strcmp(o->status, "picking") == 0);
        json_array_append_new(out, json_pack("{s:s,s:b,s:s}", "order_code", code ? code : "",
                                             "result", ok, "message",
                                             ok ? "OK" : o ? "Đơn hàng đã lấy, không thể hủy"
                                                           : "Không tìm thấy đơn hàng"));
        if (ok) json_array_append_new(done, json_string(code));
    }
    pthread_mutex_unlock(&g.mu);
    cds_http_client *http = cds_req_worker(r)->http;
    sim_standin *self = sim_of(r);
    success(r, out);
    json_array_foreach(done, i, c)
        change_status(http, self, json_string_value(c), "cancel", "Switch_status", NULL);
    json_decref(done);
}

/* ---------------- control ---------------- */

static void ctl_orders(cds_req *r)
{
    json_t *list = json_array();
    pthread_mutex_lock(&g.mu);
    for (size_t i = 0; i < g.n; i++)
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:s,s:O,s:O}",
                                              "order_code", g.orders[i].code, "client_order_code",
                                              g.orders[i].client_code, "shop_id", g.orders[i].shop,
                                              "creates", g.orders[i].creates, "cancels",
                                              g.orders[i].cancels, "details", g.orders[i].details,
                                              "status",
                                              g.orders[i].status, "request", g.orders[i].request,
                                              "log", g.orders[i].log));
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
    const char *call = str(in, "call") ? str(in, "call") : "create";
    int k = -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(call, fail_calls[i]) == 0) k = i;
    if (n < 0 || n > 1000 || st < 400 || st > 599 || k < 0) {
        cds_problem(r, 400, "invalid_control",
                    "count 0..1000, status 400..599, call create|cancel|detail.");
        return;
    }
    pthread_mutex_lock(&g.mu);
    g.fail_count[k] = (int)n;
    g.fail_status[k] = (int)st;
    pthread_mutex_unlock(&g.mu);
    cds_respond_json(r, 200, json_pack("{s:I,s:I,s:s}", "count", n, "status", st, "call",
                                       fail_calls[k]));
}

static void ctl_callback(cds_req *r)
{
    sim_record(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    const char *code = str(in, "order_code"), *st = str(in, "status");
    const char *type = str(in, "type") ? str(in, "type") : "Switch_status";
    const char *token = str(in, "token") ? str(in, "token") : g.cb_token;
    json_int_t repeat = json_is_integer(json_object_get(in, "repeat"))
                            ? json_integer_value(json_object_get(in, "repeat")) : 1;
    if (!code || !st || strlen(st) >= 32 || repeat < 1 || repeat > REPEAT_MAX ||
        strlen(token) > 200) {
        cds_problem(r, 400, "invalid_control", "Cần order_code, status; repeat 1..20.");
        return;
    }
    char at[40];
    if (str(in, "time")) snprintf(at, sizeof at, "%.39s", str(in, "time"));
    else now_iso(at, sizeof at);
    int update = strncasecmp(type, "update_", 7) == 0;
    pthread_mutex_lock(&g.mu);
    order *o = find_locked(NULL, code);
    if (o && !update) log_status_locked(o, st, at);
    pthread_mutex_unlock(&g.mu);
    json_t *b = callback_body(code, st, type, at, in);
    if (!b) { /* an order GHN never made: a forged callback, as sent */
        b = json_pack("{s:s,s:s,s:s,s:s,s:I}", "OrderCode", code, "Status", st, "Type", type,
                      "Time", at, "ShopID", (json_int_t)885);
    }
    send_callback(r, cds_req_worker(r)->http, sim_of(r), b, token, (int)repeat);
}

static void ctl_scenario(cds_req *r)
{
    sim_record(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    const char *code = str(in, "order_code"), *name = str(in, "plan");
    json_int_t ms = json_is_integer(json_object_get(in, "interval_ms"))
                        ? json_integer_value(json_object_get(in, "interval_ms")) : 200;
    if (!code || strlen(code) >= 16 || !plan_named(name) || ms < 1 || ms > 600000) {
        cds_problem(r, 400, "invalid_control", "Cần order_code và plan: deliver hoặc fail_return.");
        return;
    }
    start_plan(cds_req_worker(r), sim_of(r), code, name, (int)ms);
    cds_respond_json(r, 202, json_pack("{s:s,s:s}", "order_code", code, "plan", name));
}

#define API "/shiip/public-api"
static const cds_route ghn_routes[] = {
    {"POST", API "/v2/shipping-order/create", api_create, 64 * 1024},
    {"POST", API "/v2/shipping-order/fee", api_fee, 64 * 1024},
    {"POST", API "/v2/switch-status/cancel", api_cancel, 16 * 1024},
    {"POST", API "/v2/shipping-order/detail", api_detail, 4096},
    {"POST", API "/v2/shipping-order/detail-by-client-code", api_detail_client, 4096},
    {"GET", "/_sim/orders", ctl_orders, 0},
    {"POST", "/_sim/fail", ctl_fail, 4096},
    {"POST", "/_sim/callback", ctl_callback, 16 * 1024},
    {"POST", "/_sim/scenario", ctl_scenario, 4096},
};

sim_standin sim_ghn = {
    .name = "ghn",
    .default_port = 9012,
    .routes = ghn_routes,
    .nroutes = sizeof ghn_routes / sizeof ghn_routes[0],
    .init = ghn_init,
};
