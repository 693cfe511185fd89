/* The couriers' handheld API end to end over real sockets (issue 19 part 2):
 * `cds serve` with a real PostgreSQL and the VNeID stand-in (for a citizen
 * token to refuse).
 *
 *   accounts     couriers created through the signed partner API (one per
 *                carrier); the same external id again, a bad carrier and an
 *                unsigned call change nothing
 *   login        the secret gives a courier token; a wrong one is refused
 *   scan         the courier's own carrier's waybill answers; another
 *                carrier's is 404 like an unknown one; a citizen token and
 *                no token are refused
 *   queue        a handheld queue sent shuffled applies in event-time order
 *                (nothing "late"); sent again (shuffled otherwise) it
 *                changes nothing; the citizen's app shows the progress
 *   merge        the same step from the handheld and the carrier's webhook
 *                (GHN callback) counts once, whichever comes first
 *   code         a sensitive result: delivered without the code, with a
 *                wrong code, with a wrong COD amount refused (nothing
 *                changed but the try counter); the right code delivers;
 *                five wrong codes lock it (the right one is refused after)
 *   cli          `cds couriers add|disable` issue and end an account
 *   bad input    unknown reason, GPS out of range, bad photo type, an
 *                impossible time: 4xx and nothing changed
 *   disable      a disabled courier's token is refused; a courier token is
 *                refused on citizen routes */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POSTAL "1.001193"
#define SENSITIVE "2.000635" /* marked sensitive_result by the test */
#define PID_A "079085001234"

static char *db;
static th_sim sim;
static th_proc srv;
static th_login citizen;
static int seq;

#define count(...) th_db_count(db, __VA_ARGS__)

/* An ISO time `off` seconds from now (UTC), in one of 16 rotating buffers. */
static const char *iso(long off)
{
    static char buf[16][40];
    static int i;
    char *b = buf[i++ % 16];
    time_t t = time(NULL) + off;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(b, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return b;
}

static long step(const char *code, const char *st)
{
    char ev[64];
    snprintf(ev, sizeof ev, "cr-%d-%d", (int)getpid(), ++seq);
    return th_partner_step(srv.url, code, ev, st, seq, NULL);
}

/* A result of `procedure` on its way by post with `carrier` under waybill
 * `tn` (booked: the booking itself is test_delivery's). cod: COD of 25000. */
static void shipment(const char *procedure, const char *carrier, const char *tn, int cod)
{
    char code[64], sql[1024];
    snprintf(code, sizeof code, "CR-%d-%d", (int)getpid(), ++seq);
    CHECK_INT(th_partner_import(srv.url, code, procedure, PID_A, "Nguyễn Văn An", "0912345678"), 201);
    snprintf(sql, sizeof sql,
             "UPDATE dossiers SET delivery = '{\"method\":\"post\",\"carrier\":\"%s\",\"cod\":%s,"
             "\"fee_vnd\":25000,\"recipient\":{\"name\":\"Nguyễn Văn An\",\"phone\":\"0912345678\","
             "\"address\":{\"province\":\"TP. Hồ Chí Minh\",\"district\":\"Quận 1\",\"ward\":"
             "\"Phường Bến Nghé\",\"street\":\"12 Nguyễn Huệ\"}}}' WHERE code = '%s'",
             carrier, cod ? "true" : "false", code);
    CHECK_INT(th_db_exec(db, sql), 0);
    CHECK_INT(step(code, "processing"), 200);
    CHECK_INT(step(code, "result_ready"), 200);
    snprintf(sql, sizeof sql,
             "UPDATE shipments s SET carrier = '%s', tracking_no = '%s', status = 'booked', "
             "book_state = 'done', booked_at = now(), last_event_at = now() - interval '1 day' "
             "FROM dossiers d WHERE d.id = s.dossier_id AND d.code = '%s'",
             carrier, tn, code);
    CHECK_INT(th_db_exec(db, sql), 0);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE tracking_no = '%s'", tn), 1);
}

typedef struct courier {
    char id[37], secret[65], token[2048];
} courier;

static long create_courier(const char *body, json_t **ans)
{
    th_resp r;
    long st = th_partner(&r, srv.url, "POST", "/v1/partner/couriers", body);
    if (ans) *ans = r.body ? json_loads(r.body, 0, NULL) : NULL;
    th_resp_free(&r);
    return st;
}

static long login(courier *c, const char *secret)
{
    char url[256], body[256];
    snprintf(url, sizeof url, "%s/v1/courier/token", srv.url);
    snprintf(body, sizeof body, "{\"courier_id\":\"%s\",\"secret\":\"%s\"}", c->id, secret);
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, "POST", url, NULL, body, (void **)&j);
    if (st == 200)
        snprintf(c->token, sizeof c->token, "%s", json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    th_resp_free(&r);
    return st;
}

static long scan(const char *token, const char *tn, json_t **ans)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/courier/shipments/by-waybill/%s", srv.url, tn);
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, "GET", url, token, NULL, (void **)&j);
    th_resp_free(&r);
    if (ans) *ans = j;
    else json_decref(j);
    return st;
}

/* POST /v1/courier/events with events (a JSON array text); the answer's
 * "code" (problem) into code when given. */
static long events(const char *token, const char *arr, json_t **ans)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/courier/events", srv.url);
    size_t n = strlen(arr) + 32;
    char *body = malloc(n);
    snprintf(body, n, "{\"events\":%s}", arr);
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, "POST", url, token, body, (void **)&j);
    free(body);
    th_resp_free(&r);
    if (ans) *ans = j;
    else json_decref(j);
    return st;
}

static const char *jcode(json_t *j)
{
    const char *c = json_string_value(json_object_get(j, "code"));
    return c ? c : "";
}

static const char *result_of(json_t *j, size_t i)
{
    const char *c = json_string_value(json_object_get(json_array_get(json_object_get(j, "results"), i), "result"));
    return c ? c : "";
}

/* A GHN callback (Type switch_status) for waybill tn. */
static long ghn(const char *tn, const char *status, const char *at, json_t **ans)
{
    char url[256], body[512];
    snprintf(url, sizeof url, "%s/v1/webhooks/couriers/ghn/cds-dev-ghn-callback-token", srv.url);
    snprintf(body, sizeof body,
             "{\"Type\":\"switch_status\",\"OrderCode\":\"%s\",\"Status\":\"%s\",\"Time\":\"%s\","
             "\"ShopID\":885}", tn, status, at);
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, "POST", url, NULL, body, (void **)&j);
    th_resp_free(&r);
    if (ans) *ans = j;
    else json_decref(j);
    return st;
}

static courier vn, gh;
static char tn_a[32], tn_b[32], tn_c[32], photo[64];

static void test_accounts(void)
{
    json_t *a = NULL;
    CHECK_INT(create_courier("{\"carrier\":\"vnpost\",\"external_id\":\"BT-001\",\"name\":\"Trần Văn "
                             "Bưu\",\"phone\":\"0987654321\"}", &a), 201);
    snprintf(vn.id, sizeof vn.id, "%s", json_string_value(json_object_get(a, "id")));
    snprintf(vn.secret, sizeof vn.secret, "%s", json_string_value(json_object_get(a, "secret")));
    CHECK_INT((long)strlen(vn.secret), 64);
    json_decref(a);
    CHECK_INT(create_courier("{\"carrier\":\"ghn\",\"external_id\":\"GHN-77\",\"name\":\"Lê Thị Giao\"}",
                             &a), 201);
    snprintf(gh.id, sizeof gh.id, "%s", json_string_value(json_object_get(a, "id")));
    snprintf(gh.secret, sizeof gh.secret, "%s", json_string_value(json_object_get(a, "secret")));
    json_decref(a);
    /* The secret is kept hashed only. */
    CHECK_INT(count("SELECT count(*) FROM couriers WHERE secret_sha256 = '%s'", vn.secret), 0);
    /* The same external id again: 409, nothing changes. */
    CHECK_INT(create_courier("{\"carrier\":\"vnpost\",\"external_id\":\"BT-001\",\"name\":\"X\"}", &a), 409);
    CHECK_STR(jcode(a), "courier_exists");
    json_decref(a);
    /* A carrier we do not have, no name, a bad phone. */
    CHECK_INT(create_courier("{\"carrier\":\"dhl\",\"external_id\":\"D1\",\"name\":\"X\"}", &a), 422);
    CHECK_STR(jcode(a), "invalid_courier");
    json_decref(a);
    CHECK_INT(create_courier("{\"carrier\":\"ghn\",\"external_id\":\"D2\"}", NULL), 422);
    CHECK_INT(create_courier("{\"carrier\":\"ghn\",\"external_id\":\"D3\",\"name\":\"X\",\"phone\":\"12\"}", NULL), 422);
    /* Unsigned. */
    char url[256];
    snprintf(url, sizeof url, "%s/v1/partner/couriers", srv.url);
    th_resp r;
    CHECK_INT(th_json(&r, "POST", url, NULL, "{\"carrier\":\"ghn\",\"external_id\":\"D4\",\"name\":\"X\"}", NULL), 401);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM couriers"), 2);

    CHECK_INT(login(&vn, "wrong-secret"), 401);
    CHECK_INT(login(&vn, vn.secret), 200);
    CHECK_INT(login(&gh, gh.secret), 200);
}

static void test_scan(void)
{
    json_t *a = NULL;
    CHECK_INT(scan(vn.token, tn_a, &a), 200);
    CHECK_STR(json_string_value(json_object_get(a, "waybill")), tn_a);
    CHECK_STR(json_string_value(json_object_get(a, "status")), "booked");
    CHECK(json_object_get(a, "recipient") != NULL);
    json_decref(a);
    /* Another carrier's waybill: 404 exactly like an unknown one. */
    CHECK_INT(scan(vn.token, tn_b, &a), 404);
    CHECK_STR(jcode(a), "shipment_not_found");
    char *other = json_dumps(a, JSON_SORT_KEYS);
    json_decref(a);
    CHECK_INT(scan(vn.token, "NOSUCH0001", &a), 404);
    char *unknown = json_dumps(a, JSON_SORT_KEYS);
    json_decref(a);
    CHECK(other && unknown && strstr(other, tn_b) == NULL);
    json_t *jo = json_loads(other, 0, NULL), *ju = json_loads(unknown, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(jo, "detail")),
              json_string_value(json_object_get(ju, "detail")));
    json_decref(jo);
    json_decref(ju);
    free(other);
    free(unknown);
    CHECK_INT(scan(gh.token, tn_b, NULL), 200);
    /* A citizen token, no token. */
    CHECK_INT(scan(citizen.access, tn_a, &a), 401);
    CHECK_STR(jcode(a), "invalid_token");
    json_decref(a);
    CHECK_INT(scan(NULL, tn_a, NULL), 401);
}

static void test_queue(void)
{
    long ev0 = count("SELECT count(*) FROM shipment_events");
    long ob0 = count("SELECT count(*) FROM outbox");
    char e1[256], e2[256], e3[384], arr[1024];
    snprintf(e1, sizeof e1, "{\"id\":\"q-1\",\"waybill\":\"%s\",\"kind\":\"picked_up\",\"occurred_at\":\"%s\"}",
             tn_a, iso(-3600));
    snprintf(e2, sizeof e2, "{\"id\":\"q-2\",\"waybill\":\"%s\",\"kind\":\"out_for_delivery\",\"occurred_at\":\"%s\"}",
             tn_a, iso(-1800));
    snprintf(e3, sizeof e3, "{\"id\":\"q-3\",\"waybill\":\"%s\",\"kind\":\"delivery_failed\",\"occurred_at\":\"%s\","
             "\"reason\":\"recipient_absent\",\"next_attempt_at\":\"%s\"}", tn_a, iso(-600), iso(86400));
    /* Shuffled: the last first. */
    snprintf(arr, sizeof arr, "[%s,%s,%s]", e3, e1, e2);
    json_t *a = NULL;
    CHECK_INT(events(vn.token, arr, &a), 200);
    CHECK_STR(result_of(a, 0), "applied");
    CHECK_STR(result_of(a, 1), "applied");
    CHECK_STR(result_of(a, 2), "applied");
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM shipment_events e JOIN shipments s ON s.id = e.shipment_id "
                    "WHERE s.tracking_no = '%s' AND e.source = 'handheld' AND e.applied", tn_a), 3);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE tracking_no = '%s' AND status = "
                    "'delivery_failed' AND failed_attempts = 1 AND next_attempt_at IS NOT NULL", tn_a), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers d JOIN shipments s ON s.dossier_id = d.id "
                    "WHERE s.tracking_no = '%s' AND d.status = 'out_for_delivery'", tn_a), 1);
    /* The citizen is told as for a webhook (out for delivery, failed attempt). */
    CHECK(count("SELECT count(*) FROM outbox") > ob0);
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN shipments s ON s.dossier_id = o.dossier_id "
                    "WHERE s.tracking_no = '%s' AND o.template = 'courier_delivery_failed'", tn_a) > 0, 1);
    /* The citizen sees the courier's progress in the app. */
    {
        char sql[256], url[256];
        snprintf(sql, sizeof sql, "SELECT dossier_id FROM shipments WHERE tracking_no = '%s'", tn_a);
        char *did = th_db_value(db, sql);
        snprintf(url, sizeof url, "%s/v1/dossiers/%s/shipment", srv.url, did ? did : "x");
        free(did);
        th_resp r;
        json_t *j = NULL;
        CHECK_INT(th_json(&r, "GET", url, citizen.access, NULL, (void **)&j), 200);
        th_resp_free(&r);
        char *txt = j ? json_dumps(j, 0) : NULL;
        CHECK(txt && strstr(txt, "\"picked_up\"") && strstr(txt, "\"out_for_delivery\"") &&
              strstr(txt, "Người nhận vắng nhà"));
        free(txt);
        json_decref(j);
    }
    long ev1 = count("SELECT count(*) FROM shipment_events");
    long ob1 = count("SELECT count(*) FROM outbox");
    CHECK_INT(ev1, ev0 + 3);
    /* The same queue again after losing coverage, in another order. */
    snprintf(arr, sizeof arr, "[%s,%s,%s]", e2, e3, e1);
    CHECK_INT(events(vn.token, arr, &a), 200);
    CHECK_STR(result_of(a, 0), "replayed");
    CHECK_STR(result_of(a, 1), "replayed");
    CHECK_STR(result_of(a, 2), "replayed");
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM shipment_events"), ev1);
    CHECK_INT(count("SELECT count(*) FROM outbox"), ob1);
    CHECK_INT(count("SELECT count(*) FROM courier_events"), 3);
}

static void test_photo_and_delivered(void)
{
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                        'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    char url[256], auth[2100];
    snprintf(url, sizeof url, "%s/v1/courier/photos", srv.url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", vn.token);
    const char *h_png[] = {auth, "Content-Type: image/png", NULL};
    const char *h_txt[] = {auth, "Content-Type: text/plain", NULL};
    const char *h_lie[] = {auth, "Content-Type: image/jpeg", NULL};
    th_resp r;
    CHECK_INT(th_http(&r, 2, "POST", url, h_txt, "hello", 5), 0);
    CHECK_INT(r.status, 415);
    th_resp_free(&r);
    CHECK_INT(th_http(&r, 2, "POST", url, h_lie, (const char *)png, sizeof png), 0);
    CHECK_INT(r.status, 415);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM courier_photos"), 0);
    CHECK_INT(th_http(&r, 2, "POST", url, h_png, (const char *)png, sizeof png), 0);
    CHECK_INT(r.status, 201);
    json_t *j = json_loads(r.body, 0, NULL);
    snprintf(photo, sizeof photo, "%s", json_string_value(json_object_get(j, "id")));
    CHECK_INT((long)strlen(json_string_value(json_object_get(j, "sha256"))), 64);
    json_decref(j);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM courier_photos WHERE size_bytes = %zu", sizeof png), 1);

    /* Bad inputs change nothing. */
    long ev0 = count("SELECT count(*) FROM shipment_events");
    json_t *a = NULL;
    char arr[1024];
    snprintf(arr, sizeof arr, "[{\"id\":\"b-1\",\"waybill\":\"%s\",\"kind\":\"delivery_failed\","
             "\"occurred_at\":\"%s\",\"reason\":\"dog_ate_it\"}]", tn_a, iso(-300));
    CHECK_INT(events(vn.token, arr, &a), 422);
    CHECK_STR(jcode(a), "invalid_event");
    json_decref(a);
    snprintf(arr, sizeof arr, "[{\"id\":\"b-2\",\"waybill\":\"%s\",\"kind\":\"delivered\","
             "\"occurred_at\":\"%s\",\"recipient_name\":\"An\",\"photo_id\":\"%s\","
             "\"position\":{\"lat\":91,\"lng\":106.7}}]", tn_a, iso(-300), photo);
    CHECK_INT(events(vn.token, arr, NULL), 422);
    snprintf(arr, sizeof arr, "[{\"id\":\"b-3\",\"waybill\":\"%s\",\"kind\":\"delivered\","
             "\"occurred_at\":\"%s\",\"recipient_name\":\"An\"}]", tn_a, iso(-300));
    CHECK_INT(events(vn.token, arr, NULL), 422);
    /* A valid event beside one with an impossible date: nothing at all. */
    snprintf(arr, sizeof arr, "[{\"id\":\"b-4\",\"waybill\":\"%s\",\"kind\":\"returned\","
             "\"occurred_at\":\"%s\"},{\"id\":\"b-5\",\"waybill\":\"%s\",\"kind\":\"picked_up\","
             "\"occurred_at\":\"2026-13-45T25:00:00Z\"}]", tn_a, iso(-300), tn_a);
    CHECK_INT(events(vn.token, arr, &a), 422);
    json_decref(a);
    snprintf(arr, sizeof arr, "[{\"id\":\"b-6\",\"waybill\":\"%s\",\"kind\":\"lost\","
             "\"occurred_at\":\"%s\"}]", tn_a, iso(-300));
    CHECK_INT(events(vn.token, arr, NULL), 422);
    /* A photo that is not this courier's. */
    snprintf(arr, sizeof arr, "[{\"id\":\"b-7\",\"waybill\":\"%s\",\"kind\":\"delivered\","
             "\"occurred_at\":\"%s\",\"recipient_name\":\"An\",\"photo_id\":\"%s\"}]", tn_a,
             iso(-300), "6f1c1f6e-3f7e-4b8e-9a59-2f8d1f7e9b10");
    CHECK_INT(events(vn.token, arr, &a), 422);
    CHECK_STR(jcode(a), "photo_not_found");
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM shipment_events"), ev0);
    CHECK_INT(count("SELECT count(*) FROM courier_events"), 3);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE tracking_no = '%s' AND status = 'delivery_failed'", tn_a), 1);

    /* Delivered to a relative, with the photo and a position. */
    snprintf(arr, sizeof arr, "[{\"id\":\"q-4\",\"waybill\":\"%s\",\"kind\":\"delivered\","
             "\"occurred_at\":\"%s\",\"recipient_name\":\"Nguyễn Thị Bình\",\"relationship\":"
             "\"family\",\"photo_id\":\"%s\",\"position\":{\"lat\":10.7769,\"lng\":106.7009,"
             "\"accuracy_m\":12}}]", tn_a, iso(-60), photo);
    CHECK_INT(events(vn.token, arr, &a), 200);
    CHECK_STR(result_of(a, 0), "applied");
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE tracking_no = '%s' AND status = 'delivered' "
                    "AND pod->>'relation' = 'family' AND pod->>'image_ref' = 'courier-photo:%s' "
                    "AND round((pod->'position'->>'lat')::numeric, 4) = 10.7769", tn_a, photo), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers d JOIN shipments s ON s.dossier_id = d.id "
                    "WHERE s.tracking_no = '%s' AND d.status = 'completed'", tn_a), 1);
}

static void test_merge(void)
{
    /* Handheld first, then the carrier's callback for the same pickup. */
    char arr[512];
    json_t *a = NULL;
    snprintf(arr, sizeof arr, "[{\"id\":\"g-1\",\"waybill\":\"%s\",\"kind\":\"picked_up\","
             "\"occurred_at\":\"%s\"}]", tn_b, iso(-3000));
    CHECK_INT(events(gh.token, arr, &a), 200);
    CHECK_STR(result_of(a, 0), "applied");
    json_decref(a);
    long ob = count("SELECT count(*) FROM outbox");
    CHECK_INT(ghn(tn_b, "picked", iso(-2940), &a), 200);
    CHECK_STR(result_of(a, 0), "duplicate");
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM shipment_events e JOIN shipments s ON s.id = e.shipment_id "
                    "WHERE s.tracking_no = '%s' AND e.status = 'picked_up'", tn_b), 1);
    /* The carrier's callback first, then the handheld's out-for-delivery. */
    CHECK_INT(ghn(tn_b, "delivering", iso(-1200), &a), 200);
    CHECK_STR(result_of(a, 0), "applied");
    json_decref(a);
    long ob2 = count("SELECT count(*) FROM outbox");
    CHECK(ob2 > ob);
    snprintf(arr, sizeof arr, "[{\"id\":\"g-2\",\"waybill\":\"%s\",\"kind\":\"out_for_delivery\","
             "\"occurred_at\":\"%s\"}]", tn_b, iso(-1150));
    CHECK_INT(events(gh.token, arr, &a), 200);
    CHECK_STR(result_of(a, 0), "duplicate");
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM shipment_events e JOIN shipments s ON s.id = e.shipment_id "
                    "WHERE s.tracking_no = '%s' AND e.status = 'out_for_delivery'", tn_b), 1);
    CHECK_INT(count("SELECT count(*) FROM outbox"), ob2);
    /* A second failed attempt hours later is another event, not a duplicate. */
    CHECK_INT(ghn(tn_b, "delivery_fail", iso(-1000), &a), 200);
    json_decref(a);
    snprintf(arr, sizeof arr, "[{\"id\":\"g-3\",\"waybill\":\"%s\",\"kind\":\"delivery_failed\","
             "\"occurred_at\":\"%s\",\"reason\":\"phone_unreachable\"}]", tn_b, iso(-10));
    CHECK_INT(events(gh.token, arr, &a), 200);
    CHECK_STR(result_of(a, 0), "applied");
    json_decref(a);
    CHECK_INT(count("SELECT failed_attempts FROM shipments WHERE tracking_no = '%s'", tn_b), 2);
}

static void test_code(void)
{
    CHECK_INT(th_db_exec(db, "UPDATE procedures SET sensitive_result = true WHERE code = '" SENSITIVE "'"), 0);
    shipment(SENSITIVE, "vnpost", tn_c, 1);
    char arr[1024];
    json_t *a = NULL;
    snprintf(arr, sizeof arr, "[{\"id\":\"s-2\",\"waybill\":\"%s\",\"kind\":\"out_for_delivery\","
             "\"occurred_at\":\"%s\"},{\"id\":\"s-1\",\"waybill\":\"%s\",\"kind\":\"picked_up\","
             "\"occurred_at\":\"%s\"}]", tn_c, iso(-1800), tn_c, iso(-3600));
    CHECK_INT(events(vn.token, arr, &a), 200);
    CHECK_STR(result_of(a, 1), "applied");
    json_decref(a);
    /* The code went to the citizen with the out-for-delivery message. */
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT o.vars->>'delivery_code' FROM outbox o JOIN shipments s ON "
             "s.dossier_id = o.dossier_id WHERE s.tracking_no = '%s' AND o.template = "
             "'courier_out_for_delivery' AND o.vars ? 'delivery_code' LIMIT 1", tn_c);
    char *code = th_db_value(db, sql);
    CHECK(code && strlen(code) == 6);
    if (!code) code = strdup("000000");
    char wrong[8];
    snprintf(wrong, sizeof wrong, "%06d", (int)((strtol(code, NULL, 10) + 1) % 1000000));
    long ev0 = count("SELECT count(*) FROM shipment_events");
    long bt0 = count("SELECT count(*) FROM bank_transactions");
#define DELIVERED_FMT                                                                              \
    "[{\"id\":\"s-3\",\"waybill\":\"%s\",\"kind\":\"delivered\",\"occurred_at\":"                   \
    "\"%s\",\"recipient_name\":\"Nguyễn Văn An\",\"photo_id\":\"%s\"%s}]"
    char extra[128];
    /* No code. */
    snprintf(arr, sizeof arr, DELIVERED_FMT, tn_c, iso(-60), photo, ",\"cod_collected_vnd\":25000");
    CHECK_INT(events(vn.token, arr, &a), 422);
    CHECK_STR(jcode(a), "delivery_code_required");
    json_decref(a);
    /* A wrong code. */
    snprintf(extra, sizeof extra, ",\"cod_collected_vnd\":25000,\"delivery_code\":\"%s\"", wrong);
    snprintf(arr, sizeof arr, DELIVERED_FMT, tn_c, iso(-60), photo, extra);
    CHECK_INT(events(vn.token, arr, &a), 403);
    CHECK_STR(jcode(a), "delivery_code_wrong");
    json_decref(a);
    CHECK_INT(count("SELECT delivery_code_tries FROM shipments WHERE tracking_no = '%s'", tn_c), 1);
    /* The right code, the wrong COD amount. */
    snprintf(extra, sizeof extra, ",\"cod_collected_vnd\":20000,\"delivery_code\":\"%s\"", code);
    snprintf(arr, sizeof arr, DELIVERED_FMT, tn_c, iso(-60), photo, extra);
    CHECK_INT(events(vn.token, arr, &a), 422);
    CHECK_STR(jcode(a), "cod_amount_mismatch");
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM shipment_events"), ev0);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions"), bt0);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE tracking_no = '%s' AND status = 'out_for_delivery'", tn_c), 1);
    /* The right code and amount. */
    snprintf(extra, sizeof extra, ",\"cod_collected_vnd\":25000,\"delivery_code\":\"%s\"", code);
    snprintf(arr, sizeof arr, DELIVERED_FMT, tn_c, iso(-60), photo, extra);
    CHECK_INT(events(vn.token, arr, &a), 200);
    CHECK_STR(result_of(a, 0), "applied");
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE tracking_no = '%s' AND status = 'delivered' "
                    "AND cod_collected_vnd = 25000 AND (pod->>'code_checked')::boolean", tn_c), 1);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE provider = 'cod' AND "
                    "bank_reference = '%s' AND match_status = 'matched'", tn_c), 1);
    free(code);
}

/* Five wrong codes lock the delivery: the right one is refused after. */
static void test_code_locked(void)
{
    char tn[32], arr[1024];
    snprintf(tn, sizeof tn, "ED%08dVN", (int)getpid());
    shipment(SENSITIVE, "vnpost", tn, 0);
    json_t *a = NULL;
    snprintf(arr, sizeof arr, "[{\"id\":\"l-1\",\"waybill\":\"%s\",\"kind\":\"out_for_delivery\","
             "\"occurred_at\":\"%s\"}]", tn, iso(-600));
    CHECK_INT(events(vn.token, arr, NULL), 200);
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT o.vars->>'delivery_code' FROM outbox o JOIN shipments s ON "
             "s.dossier_id = o.dossier_id WHERE s.tracking_no = '%s' AND o.vars ? 'delivery_code' "
             "LIMIT 1", tn);
    char *code = th_db_value(db, sql);
    CHECK(code && strlen(code) == 6);
    if (!code) code = strdup("000000");
    char wrong[8];
    snprintf(wrong, sizeof wrong, "%06d", (int)((strtol(code, NULL, 10) + 7) % 1000000));
    for (int i = 1; i <= 5; i++) {
        snprintf(arr, sizeof arr, DELIVERED_FMT, tn, iso(-60), photo, "");
        memcpy(strstr(arr, "s-3"), "l-2", 3);
        char *p = strstr(arr, "}]");
        snprintf(p, sizeof arr - (size_t)(p - arr), ",\"delivery_code\":\"%s\"}]", wrong);
        CHECK_INT(events(vn.token, arr, &a), 403);
        CHECK_STR(jcode(a), i < 5 ? "delivery_code_wrong" : "delivery_code_locked");
        json_decref(a);
    }
    snprintf(arr, sizeof arr, DELIVERED_FMT, tn, iso(-60), photo, "");
    memcpy(strstr(arr, "s-3"), "l-2", 3);
    char *p = strstr(arr, "}]");
    snprintf(p, sizeof arr - (size_t)(p - arr), ",\"delivery_code\":\"%s\"}]", code);
    CHECK_INT(events(vn.token, arr, &a), 403);
    CHECK_STR(jcode(a), "delivery_code_locked");
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE tracking_no = '%s' AND status = "
                    "'out_for_delivery' AND delivery_code_tries = 5", tn), 1);
    free(code);
}

/* The operator's CLI issues an account the same way; the secret logs in. */
static void test_cli(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "CDS_DATABASE_URL='%s' %s/cds couriers add --carrier ghn "
             "--external-id OP-9 --name 'Phạm Văn Ca'", db, CDS_BUILD_DIR);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    courier c = {0};
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "id=", 3) == 0) snprintf(c.id, sizeof c.id, "%.36s", line + 3);
        if (strncmp(line, "secret=", 7) == 0) snprintf(c.secret, sizeof c.secret, "%.64s", line + 7);
    }
    CHECK_INT(f ? pclose(f) : -1, 0);
    CHECK_INT(login(&c, c.secret), 200);
    CHECK_INT(scan(c.token, tn_b, NULL), 200);
    /* Again: refused, nothing changes. */
    long n = count("SELECT count(*) FROM couriers");
    CHECK(system(cmd) != 0);
    CHECK_INT(count("SELECT count(*) FROM couriers"), n);
    snprintf(cmd, sizeof cmd, "CDS_DATABASE_URL='%s' %s/cds couriers disable --id %s --actor "
             "op.test >/dev/null", db, CDS_BUILD_DIR, c.id);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(scan(c.token, tn_b, NULL), 401);
}

static void test_disable(void)
{
    /* A courier token on a citizen route. */
    char url[256];
    snprintf(url, sizeof url, "%s/v1/me", srv.url);
    th_resp r;
    CHECK_INT(th_json(&r, "GET", url, vn.token, NULL, NULL), 401);
    th_resp_free(&r);

    char path[128];
    snprintf(path, sizeof path, "/v1/partner/couriers/%s/disable", vn.id);
    CHECK_INT(th_partner(&r, srv.url, "POST", path, "{}"), 200);
    th_resp_free(&r);
    CHECK_INT(th_partner(&r, srv.url, "POST", path, "{}"), 200);
    th_resp_free(&r);
    CHECK_INT(th_partner(&r, srv.url, "POST", "/v1/partner/couriers/6f1c1f6e-3f7e-4b8e-9a59-2f8d1f7e9b10/disable", "{}"), 404);
    th_resp_free(&r);
    json_t *a = NULL;
    CHECK_INT(scan(vn.token, tn_a, &a), 401);
    CHECK_STR(jcode(a), "courier_disabled");
    json_decref(a);
    long ev0 = count("SELECT count(*) FROM shipment_events");
    char arr[512];
    snprintf(arr, sizeof arr, "[{\"id\":\"d-1\",\"waybill\":\"%s\",\"kind\":\"returned\","
             "\"occurred_at\":\"%s\"}]", tn_a, iso(-5));
    CHECK_INT(events(vn.token, arr, NULL), 401);
    CHECK_INT(count("SELECT count(*) FROM shipment_events"), ev0);
    CHECK_INT(login(&vn, vn.secret), 401);
    /* The other carrier's courier is untouched. */
    CHECK_INT(scan(gh.token, tn_b, NULL), 200);
}

int main(void)
{
    db = th_db_new("courier");
    const char *names[] = {"vneid", NULL};
    if (th_sim_start(&sim, names, NULL) != 0) return 1;
    static char iss[256];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    /* the GHN callbacks carry the development token (the server has none of
     * its own: scripts/run gives it) */
    const char *env[] = {iss, "CDS_AUTO_MIGRATE=1", "CDS_DELIVERY_DISPATCH=0",
                         "CDS_GHN_CALLBACK_TOKEN=cds-dev-ghn-callback-token", NULL};
    if (th_server_start(&srv, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;
    CHECK_INT(th_login_as(&srv, PID_A, &citizen), 200);
    snprintf(tn_a, sizeof tn_a, "EA%08dVN", (int)getpid());
    snprintf(tn_b, sizeof tn_b, "GB%08d", (int)getpid());
    snprintf(tn_c, sizeof tn_c, "EC%08dVN", (int)getpid());
    shipment(POSTAL, "vnpost", tn_a, 0);
    shipment(POSTAL, "ghn", tn_b, 0);

    test_accounts();
    test_scan();
    test_queue();
    test_photo_and_delivered();
    test_merge();
    test_code();
    test_code_locked();
    test_cli();
    test_disable();

    int stopped = th_proc_stop(&srv, SIGTERM);
    CHECK_INT(stopped, 0);
    if (stopped != 0) {
        char tail[512];
        snprintf(tail, sizeof tail, "tail -n 60 '%s' >&2", srv.log);
        if (system(tail) != 0) fprintf(stderr, "no server log\n");
    }
    th_sim_stop(&sim);
    return t_done();
}
