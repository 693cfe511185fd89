/* The payOS stand-in (`payos`, port 9020): payOS's payment-request API as
 * its documents describe it, checked and signed with the stand-in's own
 * code (sim/provider_sign.c), never the server's.
 *
 * Sources: payOS API reference (https://payos.vn/docs/api/), sections "Tạo
 * link thanh toán" (POST /v2/payment-requests), "Lấy thông tin link thanh
 * toán" (GET /v2/payment-requests/{id}), "Huỷ link thanh toán" (POST
 * /v2/payment-requests/{id}/cancel) and "Kiểm tra và thêm hoặc cập nhật
 * Webhook url" (POST /confirm-webhook); the payOS Node.js SDK
 * (github.com/payOSHQ/payos-lib-node: src/client.ts, the headers x-client-id
 * and x-api-key, {code, desc, data, signature} answers, code "00" success;
 * src/resources/v2/payment-requests/payment-requests.ts, the fields).
 *
 *   POST /v2/payment-requests   {orderCode, amount, description, cancelUrl,
 *        returnUrl, expiredAt?, signature, ...}: the signature is checked
 *        (HMAC-SHA256, checksum key, over amount=..&cancelUrl=..&
 *        description=..&orderCode=..&returnUrl=..); the description at most
 *        CDS_SIM_PAYOS_DESCRIPTION_MAX characters (the reference: 9 for a
 *        bank account not linked through payOS; 25 here by default, a
 *        linked one). Answer data {bin, accountNumber, accountName, amount,
 *        description, orderCode, currency, paymentLinkId, status PENDING,
 *        expiredAt, checkoutUrl, qrCode (a VietQR code paying the channel's
 *        account with the description as purpose)} and the signature of
 *        data (sorted key=value, as webhooks). An orderCode used before is
 *        refused with code "231", "Đơn thanh toán đã tồn tại", the answer
 *        payOS gives (HTTP 200).
 *   GET  /v2/payment-requests/{orderCode or paymentLinkId}: data {id,
 *        orderCode, amount, amountPaid, amountRemaining, status, createdAt,
 *        transactions, canceledAt, cancellationReason}, signed.
 *   POST /v2/payment-requests/{id}/cancel {cancellationReason?}: a PENDING
 *        link becomes CANCELLED; the same data, signed.
 *   POST /confirm-webhook {webhookUrl}: as payOS does, sends a sample
 *        webhook (the reference's sample data, signed) to the URL, which
 *        must answer 2xx; then data {webhookUrl, accountNumber, accountName,
 *        name, shortName}; HTTP 400 when the URL does not answer 2xx.
 *
 * Refusals the reference does not spell out are the stand-in's own: HTTP
 * 401 without the right x-client-id/x-api-key; HTTP 200 with code "20"
 * (a bad field or signature) or "101" (no such link, or a link that is not
 * PENDING for a cancel). A link past its expiredAt reads EXPIRED.
 *
 *   GET /_sim/links   every link, oldest first (tests look at cancellations)
 *   POST /_sim/fail   {"count": n, "status": HTTP status, "after"?: true}:
 *        the next n API calls fail with that status; with "after" each is
 *        handled first and only its answer replaced (an answer lost on the
 *        way back: the link exists, the caller does not know it)
 *
 * Configuration: CDS_PAYOS_CLIENT_ID, CDS_PAYOS_API_KEY,
 * CDS_PAYOS_CHECKSUM_KEY (under the server's names, the same development
 * defaults), CDS_SIM_PAYOS_ACCOUNT "bin:account:name" (the channel's bank
 * account), CDS_SIM_PAYOS_DESCRIPTION_MAX [25], CDS_SIM_PAYOS_CA_FILE. */
#include "core/http_client.h"
#include "sim/payos.h"
#include "sim/sim.h"
#include "sim/witness.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CLIENT_ID "cds-dev-payos-client-id"
#define DEFAULT_API_KEY "cds-dev-payos-api-key"
#define DEFAULT_CHECKSUM_KEY "cds-dev-payos-checksum-key"
#define LINKS_MAX 8192
#define URL_MAX 1024
#define ORDER_CODE_MAX 9007199254740991LL /* payOS's SDK sends a JavaScript number */

typedef struct link {
    long long order_code, amount, paid, expired_at;
    char id[33];
    char description[128];
    char status[12];
    char created_at[32], canceled_at[32];
    char reason[200];
    char qr[512];
    int cancelled;
} link;

static struct {
    char client_id[256], api_key[256], checksum_key[256], ca_file[512];
    char bin[16], account[32], account_name[128];
    int description_max;
    pthread_mutex_t mu;
    link *links[LINKS_MAX];
    size_t n;
    int fail_count, fail_status, fail_after;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char PAYOS_HELP[] =
    "  payos (9020): payOS payment-request API: POST /v2/payment-requests, GET and\n"
    "       POST .../{id}/cancel, POST /confirm-webhook; GET /_sim/links, POST /_sim/fail.\n"
    "       CDS_PAYOS_CLIENT_ID [" DEFAULT_CLIENT_ID "], CDS_PAYOS_API_KEY [" DEFAULT_API_KEY "],\n"
    "       CDS_PAYOS_CHECKSUM_KEY [" DEFAULT_CHECKSUM_KEY "], CDS_SIM_PAYOS_ACCOUNT\n"
    "       [970415:371100001000:SO TU PHAP TP HCM], CDS_SIM_PAYOS_DESCRIPTION_MAX [25]\n";

static void env(char *dst, size_t cap, const char *name, const char *dflt)
{
    const char *v = getenv(name);
    snprintf(dst, cap, "%s", v && *v ? v : dflt);
}

static int payos_init(sim_standin *s)
{
    char acct[256], max[16];
    env(g.client_id, sizeof g.client_id, "CDS_PAYOS_CLIENT_ID", DEFAULT_CLIENT_ID);
    env(g.api_key, sizeof g.api_key, "CDS_PAYOS_API_KEY", DEFAULT_API_KEY);
    env(g.checksum_key, sizeof g.checksum_key, "CDS_PAYOS_CHECKSUM_KEY", DEFAULT_CHECKSUM_KEY);
    env(g.ca_file, sizeof g.ca_file, "CDS_SIM_PAYOS_CA_FILE", "");
    env(acct, sizeof acct, "CDS_SIM_PAYOS_ACCOUNT", "970415:371100001000:SO TU PHAP TP HCM");
    env(max, sizeof max, "CDS_SIM_PAYOS_DESCRIPTION_MAX", "25");
    g.description_max = (int)strtol(max, NULL, 10);
    if (sscanf(acct, "%15[0-9]:%31[0-9A-Za-z]:%127[^\n]", g.bin, g.account, g.account_name) != 3 ||
        strlen(g.bin) != 6 || g.description_max < 1 || g.description_max > 99) {
        fprintf(stderr, "cds-sim: CDS_SIM_PAYOS_ACCOUNT must be bin:account:name and "
                        "CDS_SIM_PAYOS_DESCRIPTION_MAX 1..99\n");
        return -1;
    }
    s->state = &g;
    return 0;
}

/* ---- answers ---- */

static __thread int t_lose; /* the status replacing this call's answer ("after") */

static void answer_signed(cds_req *r, int http, const char *code, const char *desc, json_t *data,
                          int sign)
{
    if (t_lose) {
        int st = t_lose;
        t_lose = 0;
        json_decref(data);
        cds_respond_json(r, st, json_pack("{s:s,s:s}", "code", "503", "desc", "answer lost"));
        return;
    }
    json_t *out = json_pack("{s:s,s:s}", "code", code, "desc", desc);
    if (data) {
        char sig[65];
        if (sign && sim_payos_sign_object(data, g.checksum_key, sig) == 0)
            json_object_set_new(out, "signature", json_string(sig));
        json_object_set_new(out, "data", data);
    } else {
        json_object_set_new(out, "data", json_null());
    }
    cds_respond_json(r, http, out);
}

static void answer(cds_req *r, int http, const char *code, const char *desc, json_t *data)
{
    answer_signed(r, http, code, desc, data, 1);
}

/* The API's common gate: recorded, the injected failure, the keys. 1 when
 * the call may go on. */
static int gate(cds_req *r)
{
    sim_record(r);
    pthread_mutex_lock(&g.mu);
    int fail = g.fail_count > 0 ? (g.fail_count--, 1) : 0;
    int status = g.fail_status, after = g.fail_after;
    pthread_mutex_unlock(&g.mu);
    t_lose = 0;
    if (fail && !after) {
        cds_respond_json(r, status, json_pack("{s:s,s:s}", "code", "503", "desc", "injected failure"));
        return 0;
    }
    const char *id = cds_req_header(r, "x-client-id"), *key = cds_req_header(r, "x-api-key");
    if (!id || !key || strcmp(id, g.client_id) != 0 || strcmp(key, g.api_key) != 0) {
        cds_respond_json(r, 401, json_pack("{s:s,s:s,s:n}", "code", "401", "desc",
                                           "Unauthorized: x-client-id / x-api-key", "data"));
        return 0;
    }
    t_lose = fail && after ? status : 0;
    return 1;
}

static void now_text(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

static const char *status_of(link *l)
{
    if (strcmp(l->status, "PENDING") == 0 && l->expired_at && time(NULL) > l->expired_at)
        return "EXPIRED";
    return l->status;
}

static json_t *link_json(link *l)
{
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:s,s:s,s:[],s:o,s:o}", "id", l->id, "orderCode",
                     (json_int_t)l->order_code, "amount", (json_int_t)l->amount, "amountPaid",
                     (json_int_t)l->paid, "amountRemaining",
                     (json_int_t)(l->amount > l->paid ? l->amount - l->paid : 0), "status",
                     status_of(l), "createdAt", l->created_at, "transactions", "canceledAt",
                     l->canceled_at[0] ? json_string(l->canceled_at) : json_null(),
                     "cancellationReason", l->reason[0] ? json_string(l->reason) : json_null());
}

/* Under the lock. */
static link *find(const char *id)
{
    char *end;
    long long code = strtoll(id, &end, 10);
    int numeric = *id && !*end;
    for (size_t i = 0; i < g.n; i++)
        if ((numeric && g.links[i]->order_code == code) || strcmp(g.links[i]->id, id) == 0)
            return g.links[i];
    return NULL;
}

/* ---- the API ---- */

static const char *str_field(json_t *in, const char *k)
{
    json_t *v = json_object_get(in, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void create(cds_req *r)
{
    if (!gate(r)) return;
    json_t *in = cds_req_json(r);
    if (!in) return;
    json_t *oc = json_object_get(in, "orderCode"), *am = json_object_get(in, "amount");
    json_t *ex = json_object_get(in, "expiredAt");
    const char *desc = str_field(in, "description"), *cancel = str_field(in, "cancelUrl");
    const char *ret = str_field(in, "returnUrl"), *sig = str_field(in, "signature");
    const char *bad = NULL;
    if (!json_is_integer(oc) || json_integer_value(oc) < 1 || json_integer_value(oc) > ORDER_CODE_MAX)
        bad = "orderCode must be a positive integer";
    else if (!json_is_integer(am) || json_integer_value(am) < 1 || json_integer_value(am) > 10000000000LL)
        bad = "amount must be a positive integer";
    else if (!desc || !*desc) bad = "description is required";
    else if ((int)json_string_length(json_object_get(in, "description")) > g.description_max)
        bad = "description is longer than the channel allows";
    else if (!cancel || !ret || !*cancel || !*ret) bad = "cancelUrl and returnUrl are required";
    else if (ex && !json_is_null(ex) &&
             (!json_is_integer(ex) || json_integer_value(ex) < 0 || json_integer_value(ex) > 2147483647))
        bad = "expiredAt must be a Unix time, Int32";
    else if (!sig) bad = "signature is required";
    if (!bad) {
        char want[65];
        if (sim_payos_sign_request(json_integer_value(am), cancel, desc, json_integer_value(oc), ret,
                                   g.checksum_key, want) != 0 ||
            strcmp(want, sig) != 0)
            bad = "signature does not match the request";
    }
    if (bad) {
        answer(r, 200, "20", bad, NULL);
        return;
    }
    link *l = calloc(1, sizeof *l);
    if (!l) abort();
    l->order_code = json_integer_value(oc);
    l->amount = json_integer_value(am);
    l->expired_at = json_is_integer(ex) ? json_integer_value(ex) : 0;
    snprintf(l->description, sizeof l->description, "%s", desc);
    snprintf(l->status, sizeof l->status, "PENDING");
    now_text(l->created_at, sizeof l->created_at);
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) abort();
    for (int i = 0; i < 16; i++)
        snprintf(l->id + 2 * i, 3, "%02x", raw[i]);
    sim_vietqr q = {0};
    snprintf(q.bin, sizeof q.bin, "%s", g.bin);
    snprintf(q.account, sizeof q.account, "%s", g.account);
    snprintf(q.purpose, sizeof q.purpose, "%s", desc);
    q.amount = (unsigned long long)l->amount;
    q.dynamic = 1;
    if (sim_vietqr_write(&q, l->qr, sizeof l->qr) != 0) {
        free(l);
        answer(r, 200, "20", "cannot encode the VietQR code", NULL);
        return;
    }
    pthread_mutex_lock(&g.mu);
    link *dup = NULL;
    for (size_t i = 0; i < g.n && !dup; i++)
        if (g.links[i]->order_code == l->order_code) dup = g.links[i];
    if (!dup && g.n < LINKS_MAX) g.links[g.n++] = l;
    pthread_mutex_unlock(&g.mu);
    if (dup || g.n >= LINKS_MAX) {
        free(l);
        answer(r, 200, dup ? "231" : "20", dup ? "Đơn thanh toán đã tồn tại" : "store full", NULL);
        return;
    }
    json_t *data = json_pack(
        "{s:s,s:s,s:s,s:I,s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "bin", g.bin, "accountNumber", g.account,
        "accountName", g.account_name, "amount", (json_int_t)l->amount, "description",
        l->description, "orderCode", (json_int_t)l->order_code, "currency", "VND", "paymentLinkId",
        l->id, "status", "PENDING", "checkoutUrl",
        cds_req_printf(r, "%s/web/%s", sim_of(r)->base_url, l->id), "qrCode", l->qr);
    if (l->expired_at) json_object_set_new(data, "expiredAt", json_integer(l->expired_at));
    answer(r, 200, "00", "success", data);
}

static void get(cds_req *r)
{
    if (!gate(r)) return;
    pthread_mutex_lock(&g.mu);
    link *l = find(cds_req_param(r, "id"));
    json_t *data = l ? link_json(l) : NULL;
    pthread_mutex_unlock(&g.mu);
    if (!data)
        answer(r, 200, "101", "Không tìm thấy link thanh toán", NULL);
    else
        answer(r, 200, "00", "success", data);
}

static void cancel(cds_req *r)
{
    if (!gate(r)) return;
    size_t len = 0;
    cds_req_body(r, &len);
    json_t *in = len ? cds_req_json(r) : NULL;
    if (len && !in) return;
    const char *reason = in ? str_field(in, "cancellationReason") : NULL;
    char when[32];
    now_text(when, sizeof when);
    pthread_mutex_lock(&g.mu);
    link *l = find(cds_req_param(r, "id"));
    json_t *data = NULL;
    const char *why = "Không tìm thấy link thanh toán";
    if (l && strcmp(status_of(l), "PENDING") == 0) {
        snprintf(l->status, sizeof l->status, "CANCELLED");
        snprintf(l->canceled_at, sizeof l->canceled_at, "%s", when);
        snprintf(l->reason, sizeof l->reason, "%s", reason ? reason : "");
        l->cancelled++;
        data = link_json(l);
    } else if (l) {
        why = "Link thanh toán không ở trạng thái PENDING";
    }
    pthread_mutex_unlock(&g.mu);
    if (data)
        answer(r, 200, "00", "success", data);
    else
        answer(r, 200, "101", why, NULL);
}

/* ---- confirm-webhook: a sample call to the URL ---- */

typedef struct confirm_call {
    cds_req *r;
    char url[URL_MAX];
    char *body;
    int slot;
} confirm_call;

static void confirm_free(void *p)
{
    confirm_call *c = p;
    free(c->body);
    free(c);
}

static void on_sample(void *arg, const cds_http_response *resp)
{
    confirm_call *c = arg;
    cds_req_untrack(c->r, c->slot);
    sim_record_event(sim_of(c->r), "confirm_webhook",
                     json_pack("{s:s,s:I,s:s?}", "url", c->url, "status", (json_int_t)resp->status,
                               "error", resp->error));
    if (resp->error || resp->status < 200 || resp->status > 299) {
        answer(c->r, 400, "20",
               cds_req_printf(c->r, "Webhook url invalid: the sample call got %ld%s%s",
                              resp->status, resp->error ? " " : "", resp->error ? resp->error : ""),
               NULL);
        return;
    }
    /* the reference's sample of this answer carries no signature */
    answer_signed(c->r, 200, "00", "success",
                  json_pack("{s:s,s:s,s:s,s:s,s:s}", "webhookUrl", c->url, "accountNumber",
                            g.account, "accountName", g.account_name, "name",
                            "cds-sim payOS channel", "shortName", "CDS"),
                  0);
}

static void cancel_call(void *call)
{
    cds_http_cancel(call);
}

static void confirm(cds_req *r)
{
    if (!gate(r)) return;
    json_t *in = cds_req_json(r);
    if (!in) return;
    const char *url = str_field(in, "webhookUrl");
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        strlen(url) >= URL_MAX) {
        answer(r, 400, "20", "Webhook url invalid", NULL);
        return;
    }
    /* the reference's sample webhook data, signed with the channel's key */
    json_t *data = json_pack(
        "{s:i,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "orderCode", 123,
        "amount", 3000, "description", "VQRIO123", "accountNumber", "12345678", "reference",
        "TF230204212323", "transactionDateTime", "2023-02-04 18:25:00", "currency", "VND",
        "paymentLinkId", "124c33293c43417ab7879e14c8d9eb18", "code", "00", "desc", "Thành công",
        "counterAccountBankId", "", "counterAccountBankName", "", "counterAccountName", "",
        "counterAccountNumber", "", "virtualAccountName", "", "virtualAccountNumber", "");
    char sig[65];
    if (!data || sim_payos_sign_object(data, g.checksum_key, sig) != 0) abort();
    json_t *body = json_pack("{s:s,s:s,s:b,s:o,s:s}", "code", "00", "desc", "success", "success", 1,
                             "data", data, "signature", sig);
    confirm_call *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->r = r;
    snprintf(c->url, sizeof c->url, "%s", url);
    c->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    cds_req_set_user(r, c, confirm_free);
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    cds_http_request hr = {.method = "POST",
                           .url = c->url,
                           .headers = headers,
                           .body = c->body,
                           .body_len = strlen(c->body),
                           .timeout_ms = 10000,
                           .ca_file = g.ca_file[0] ? g.ca_file : NULL};
    cds_http_call *call = cds_http_start(cds_req_worker(r)->http, &hr, on_sample, c);
    if (!call) {
        answer(r, 400, "20", "Webhook url invalid", NULL);
        return;
    }
    c->slot = cds_req_track(r, cancel_call, call);
}

/* ---- control ---- */

static void list_links(cds_req *r)
{
    json_t *items = json_array();
    pthread_mutex_lock(&g.mu);
    for (size_t i = 0; i < g.n; i++) {
        json_t *j = link_json(g.links[i]);
        json_object_set_new(j, "description", json_string(g.links[i]->description));
        json_object_set_new(j, "qrCode", json_string(g.links[i]->qr));
        json_object_set_new(j, "cancelCalls", json_integer(g.links[i]->cancelled));
        json_object_set_new(j, "expiredAt", json_integer(g.links[i]->expired_at));
        json_array_append_new(items, j);
    }
    pthread_mutex_unlock(&g.mu);
    cds_respond_json(r, 200, json_pack("{s:o}", "items", items));
}

static void fail_next(cds_req *r)
{
    sim_record(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    json_t *n = json_object_get(in, "count"), *st = json_object_get(in, "status");
    json_t *after = json_object_get(in, "after");
    if (!json_is_integer(n) || json_integer_value(n) < 0 || json_integer_value(n) > 1000 ||
        !json_is_integer(st) || json_integer_value(st) < 100 || json_integer_value(st) > 599) {
        cds_problem(r, 400, "invalid_control", "\"count\" 0..1000 và \"status\" 100..599.");
        return;
    }
    pthread_mutex_lock(&g.mu);
    g.fail_count = (int)json_integer_value(n);
    g.fail_status = (int)json_integer_value(st);
    g.fail_after = json_is_true(after);
    pthread_mutex_unlock(&g.mu);
    cds_respond_json(r, 200, json_pack("{s:I}", "count", json_integer_value(n)));
}

int sim_payos_link_of_qr(const char *qr, long long *order_code, char *link_id, size_t cap)
{
    int rc = -1;
    pthread_mutex_lock(&g.mu);
    for (size_t i = g.n; i-- > 0 && rc != 0;)
        if (strcmp(g.links[i]->qr, qr) == 0) {
            *order_code = g.links[i]->order_code;
            snprintf(link_id, cap, "%s", g.links[i]->id);
            rc = 0;
        }
    pthread_mutex_unlock(&g.mu);
    return rc;
}

void sim_payos_paid(long long order_code, long long amount)
{
    pthread_mutex_lock(&g.mu);
    for (size_t i = 0; i < g.n; i++)
        if (g.links[i]->order_code == order_code && strcmp(g.links[i]->status, "PENDING") == 0) {
            g.links[i]->paid += amount;
            if (g.links[i]->paid >= g.links[i]->amount)
                snprintf(g.links[i]->status, sizeof g.links[i]->status, "PAID");
        }
    pthread_mutex_unlock(&g.mu);
}

static const cds_route payos_routes[] = {
    {"POST", "/v2/payment-requests", create, 64 * 1024},
    {"GET", "/v2/payment-requests/{id}", get, 0},
    {"POST", "/v2/payment-requests/{id}/cancel", cancel, 16 * 1024},
    {"POST", "/confirm-webhook", confirm, 16 * 1024},
    {"GET", "/_sim/links", list_links, 0},
    {"POST", "/_sim/fail", fail_next, 1024},
};

sim_standin sim_payos = {
    .name = "payos",
    .default_port = 9020,
    .routes = payos_routes,
    .nroutes = sizeof payos_routes / sizeof payos_routes[0],
    .init = payos_init,
    .help = PAYOS_HELP,
};
