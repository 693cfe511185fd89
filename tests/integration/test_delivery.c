/* Courier delivery end to end over real sockets: `cds serve` with a real
 * PostgreSQL, the VNPost stand-in (booking API, tracking API, signed
 * webhooks) and the VNeID stand-in for the citizen's login.
 *
 *   choice       PUT /v1/dossiers/{id}/delivery prices by the tariff; an
 *                address without a ward and a procedure whose results may not
 *                go by post are refused, and nothing changes
 *   journey      result_ready books the shipment (once, with our id as the
 *                idempotency key); picked_up -> out_for_delivery; a duplicate
 *                and a late event change nothing; delivered (with proof)
 *                completes the dossier; an event after it moves nothing back;
 *                tracking in the app and on the public lookup; notifications
 *   failures     3 failed attempts: the shipment returns, the dossier is
 *                ready_for_pickup, the citizen is told
 *   COD          the cash collected becomes a bank transaction, matched when
 *                it is what was due and unmatched otherwise
 *   bad input    bad signature, stale timestamp, unknown tracking number,
 *                another carrier's shipment: a clear error and nothing changed
 *   retries      the carrier failing: the booking is retried and is one order;
 *                a booking resent after a lost answer is the same order
 *   SIGKILL      the server killed while the carrier holds its bookings'
 *                answers: restarted, it books again and each is one order
 *   reconcile    the COD transactions in the payments' reconciliation report
 *   polling      a carrier without webhooks: the tracking API is polled */
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

#define POSTAL "1.001193"    /* results may go by post */
#define NO_POSTAL "1.000894" /* results may not */
#define PID_A "079085001234"

static char *db;
static th_sim sim;
static th_proc srv;
static int port;
static char vnpost[64];
static th_login login_a;
static int seq;
static const char *env[24];

#define count(...) th_db_count(db, __VA_ARGS__)

#define value_of(fmt, arg) th_db_text(db, fmt, arg)
#define wait_count(want, seconds, fmt, arg) th_db_wait_count(db, want, seconds, fmt, arg)

/* A counter dossier of citizen A for `procedure`; its id into id[37]. */
static void new_dossier(const char *procedure, char code[64], char id[64])
{
    snprintf(code, 64, "DL-%d-%d", (int)getpid(), ++seq);
    CHECK_INT(th_partner_import(srv.url, code, procedure, PID_A, "Nguyễn Văn An", "0912345678"), 201);
    char *v = value_of("SELECT id FROM dossiers WHERE code = '%s'", code);
    snprintf(id, 64, "%s", v);
    free(v);
}

static long step(const char *code, const char *st)
{
    char ev[64];
    snprintf(ev, sizeof ev, "dl-%d-%d", (int)getpid(), ++seq);
    return th_partner_step(srv.url, code, ev, st, seq, NULL);
}

static long put_delivery(const char *id, const char *body, json_t **ans)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/dossiers/%s/delivery", srv.url, id);
    th_resp r;
    long st = th_json(&r, "PUT", url, login_a.access, body, (void **)ans);
    th_resp_free(&r);
    return st;
}

static const char *POST_Q1 =
    "{\"method\":\"post\",\"recipient\":{\"name\":\"Nguyễn Văn An\",\"phone\":\"0912345678\","
    "\"address\":{\"province\":\"Thành phố Hồ Chí Minh\",\"district\":\"Quận 1\",\"ward\":"
    "\"Phường Bến Nghé\",\"street\":\"12 Nguyễn Huệ\"}},\"notes\":\"Gọi trước khi giao\"}";
static const char *POST_COD =
    "{\"method\":\"post\",\"cod\":true,\"recipient\":{\"name\":\"Nguyễn Văn An\",\"phone\":"
    "\"0912345678\",\"address\":{\"province\":\"TP. Hồ Chí Minh\",\"district\":\"Huyện Củ Chi\","
    "\"ward\":\"Xã Tân Thông Hội\",\"street\":\"5 Tỉnh lộ 8\"}}}";

/* Sends a control call to the stand-in; returns our server's HTTP status as
 * the stand-in reports it (or the stand-in's own status on a refusal). */
static long emit(const char *body, json_t **answer)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/emit", vnpost);
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, "POST", url, NULL, body, (void **)&j);
    th_resp_free(&r);
    long ours = st == 200 ? (long)json_integer_value(json_object_get(j, "status")) : st;
    if (answer) *answer = j;
    else json_decref(j);
    return ours;
}

static const char *body_code(json_t *ans)
{
    return json_string_value(json_object_get(json_object_get(ans, "body"), "code"));
}

static const char *first_result(json_t *ans)
{
    json_t *res = json_object_get(json_object_get(ans, "body"), "results");
    return json_string_value(json_object_get(json_array_get(res, 0), "result"));
}

/* Books: result_ready; waits for the tracking number; returns it (static). */
static const char *book(const char *code, const char *id)
{
    static char tn[64];
    CHECK_INT(step(code, "processing"), 200);
    CHECK_INT(step(code, "result_ready"), 200);
    CHECK_INT(wait_count(1, 20,
                         "SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND status = "
                         "'booked' AND tracking_no IS NOT NULL",
                         id),
              1);
    char *v = value_of("SELECT tracking_no FROM shipments WHERE dossier_id = '%s'", id);
    snprintf(tn, sizeof tn, "%s", v);
    free(v);
    return tn;
}

static char code1[64], id1[64], tn1[64];

static void test_choice(void)
{
    char code2[64], id2[64];
    new_dossier(POSTAL, code1, id1);
    new_dossier(NO_POSTAL, code2, id2);
    long outbox0 = count("SELECT count(*) FROM outbox");
    json_t *ans = NULL;
    /* An address without a ward. */
    CHECK_INT(put_delivery(id1,
                           "{\"method\":\"post\",\"recipient\":{\"name\":\"Nguyễn Văn An\","
                           "\"phone\":\"0912345678\",\"address\":{\"province\":\"Thành phố Hồ Chí "
                           "Minh\",\"district\":\"Quận 1\",\"street\":\"12 Nguyễn Huệ\"}}}",
                           &ans),
              422);
    CHECK_STR(json_string_value(json_object_get(ans, "code")), "invalid_delivery");
    CHECK(strstr(json_string_value(json_object_get(ans, "detail")), "phường/xã") != NULL);
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND delivery->>'method' = "
                    "'pickup'", id1), 1);
    /* Delivery by post for a procedure whose results may not go by post. */
    CHECK_INT(put_delivery(id2, POST_Q1, &ans), 422);
    CHECK_STR(json_string_value(json_object_get(ans, "code")), "postal_not_allowed");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND delivery->>'method' = "
                    "'pickup'", id2), 1);
    CHECK_INT(count("SELECT count(*) FROM outbox"), outbox0);
    CHECK_INT(count("SELECT count(*) FROM shipments"), 0);
    /* A district the tariff does not know. */
    CHECK_INT(put_delivery(id1,
                           "{\"method\":\"post\",\"recipient\":{\"name\":\"A\",\"phone\":"
                           "\"0912345678\",\"address\":{\"province\":\"Hồ Chí Minh\",\"district\":"
                           "\"Quận 99\",\"ward\":\"P1\",\"street\":\"1 A\"}}}",
                           NULL),
              422);
    /* A good one: priced by the tariff (Quận 1, document: 18.000 đ). */
    CHECK_INT(put_delivery(id1, POST_Q1, &ans), 200);
    json_t *d = json_object_get(ans, "delivery");
    CHECK_INT(json_integer_value(json_object_get(d, "fee_vnd")), 18000);
    CHECK(json_is_false(json_object_get(d, "cod")));
    CHECK_STR(json_string_value(json_object_get(json_object_get(d, "recipient"), "phone")), "0912345678");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND delivery->>'fee_vnd' = "
                    "'18000' AND delivery->'recipient'->'address'->>'ward' = 'Phường Bến Nghé'",
                    id1), 1);
    /* Another citizen's dossier, or a malformed id: 404. */
    CHECK_INT(put_delivery("00000000-0000-4000-8000-000000000000", POST_Q1, NULL), 404);
}

static void test_journey(void)
{
    long outbox0 = count("SELECT count(*) FROM outbox WHERE template LIKE 'courier_%%'");
    snprintf(tn1, sizeof tn1, "%s", book(code1, id1));
    /* Booked once, with our shipment id as the client order id. */
    char *sid = value_of("SELECT id FROM shipments WHERE dossier_id = '%s'", id1);
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/orders", vnpost);
    th_resp r;
    json_t *orders = NULL;
    CHECK_INT(th_json(&r, "GET", url, NULL, NULL, (void **)&orders), 200);
    th_resp_free(&r);
    int found = 0;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(orders, "orders"), i, o) {
        if (strcmp(json_string_value(json_object_get(o, "client_order_id")), sid) != 0) continue;
        found++;
        CHECK_INT(json_integer_value(json_object_get(o, "bookings")), 1);
        CHECK_STR(json_string_value(json_object_get(o, "tracking_number")), tn1);
        json_t *rcv = json_object_get(json_object_get(o, "request"), "receiver");
        CHECK_STR(json_string_value(json_object_get(rcv, "ward")), "Phường Bến Nghé");
    }
    CHECK_INT(found, 1);
    json_decref(orders);
    CHECK(count("SELECT count(*) FROM outbox WHERE template = 'courier_booked' AND dossier_id = '%s'",
                id1) >= 1);

    /* picked_up: the dossier is out for delivery. */
    char b[1024];
    json_t *ans = NULL;
    snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"200\",\"event_id\":\"p-%s\","
                          "\"location\":\"Bưu cục Sài Gòn\"}", tn1, tn1);
    CHECK_INT(emit(b, &ans), 200);
    CHECK_STR(first_result(ans), "applied");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'out_for_delivery'",
                    id1), 1);
    CHECK(count("SELECT count(*) FROM outbox WHERE template = 'out_for_delivery' AND dossier_id = '%s'",
                id1) >= 1);
    /* in_transit sent twice: the second is a duplicate and changes nothing. */
    snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"300\",\"event_id\":\"t-%s\","
                          "\"repeat\":2}", tn1, tn1);
    CHECK_INT(emit(b, &ans), 200);
    json_t *resps = json_object_get(ans, "responses");
    CHECK_INT(json_array_size(resps), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(
                  json_array_get(resps, 1), "body"), "results"), 0), "result")), "duplicate");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE event_id = 't-%s'", tn1), 1);
    long in_transit_msgs =
        count("SELECT count(*) FROM outbox WHERE template = 'courier_in_transit' AND dossier_id = '%s'", id1);
    CHECK(in_transit_msgs >= 1);
    /* An older event arriving late: in the history, the state does not move. */
    char old[40];
    time_t t = time(NULL) - 3600 + 7 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(old, sizeof old, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
    snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"100\",\"event_id\":\"old-%s\","
                          "\"occurred_at\":\"%s\"}", tn1, tn1, old);
    CHECK_INT(emit(b, &ans), 200);
    CHECK_STR(first_result(ans), "recorded_late");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE tracking_no = '%s' AND status = 'in_transit'",
                    tn1), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE event_id = 'old-%s' AND NOT applied",
                    tn1), 1);

    /* delivered with its proof: the dossier is completed. */
    snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"500\",\"event_id\":\"d-%s\","
                          "\"location\":\"Bưu cục phát Bến Nghé\"}", tn1, tn1);
    CHECK_INT(emit(b, &ans), 200);
    CHECK_STR(first_result(ans), "applied");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'completed'", id1), 1);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE tracking_no = '%s' AND status = 'delivered' "
                    "AND pod->>'recipient_name' = 'Nguyễn Văn An' AND length(pod->>'image_sha256') = 64",
                    tn1), 1);
    CHECK(count("SELECT count(*) FROM outbox WHERE template = 'completed' AND dossier_id = '%s'", id1) >= 1);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions"), 0); /* not COD */

    /* An event that would move the delivered shipment back: nothing changes. */
    long events0 = count("SELECT count(*) FROM shipment_events WHERE applied AND shipment_id = '%s'", sid);
    long outbox1 = count("SELECT count(*) FROM outbox WHERE dossier_id = '%s'", id1);
    snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"300\",\"event_id\":\"back-%s\"}",
             tn1, tn1);
    CHECK_INT(emit(b, &ans), 200);
    CHECK_STR(first_result(ans), "ignored_final");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'delivered'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'completed'", id1), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE applied AND shipment_id = '%s'", sid),
              events0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s'", id1), outbox1);

    /* Tracking in the app. */
    snprintf(url, sizeof url, "%s/v1/dossiers/%s/shipment", srv.url, id1);
    json_t *j = NULL;
    CHECK_INT(th_json(&r, "GET", url, login_a.access, NULL, (void **)&j), 200);
    th_resp_free(&r);
    json_t *sh = json_object_get(j, "shipment");
    CHECK_STR(json_string_value(json_object_get(sh, "status")), "delivered");
    CHECK_STR(json_string_value(json_object_get(sh, "tracking_no")), tn1);
    CHECK(json_array_size(json_object_get(sh, "timeline")) >= 5);
    CHECK_STR(json_string_value(json_object_get(json_object_get(sh, "proof_of_delivery"), "recipient_name")),
              "Nguyễn Văn An");
    json_decref(j);
    /* And on the public lookup, without the address or the proof's names. */
    snprintf(url, sizeof url, "%s/v1/dossiers/%s", srv.url, id1);
    CHECK_INT(th_json(&r, "GET", url, login_a.access, NULL, (void **)&j), 200);
    th_resp_free(&r);
    char lookup[64];
    snprintf(lookup, sizeof lookup, "%s",
             json_string_value(json_object_get(json_object_get(j, "lookup"), "secret")));
    char lurl[512];
    snprintf(lurl, sizeof lurl, "%s/v1/lookup/%s?secret=%s", srv.url, code1, lookup);
    json_decref(j);
    j = NULL;
    CHECK_INT(th_json(&r, "GET", lurl, NULL, NULL, (void **)&j), 200);
    CHECK(strstr(r.body, tn1) != NULL);
    CHECK(strstr(r.body, "Nguyễn Huệ") == NULL);
    CHECK(strstr(r.body, "Đã giao thành công") != NULL);
    th_resp_free(&r);
    json_decref(j);
    snprintf(lurl, sizeof lurl, "%s/lookup/%s?s=%s", srv.url, code1, lookup);
    CHECK_INT(th_http(&r, 1, "GET", lurl, NULL, NULL, 0), 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, "Chuyển phát kết quả") != NULL && strstr(r.body, tn1) != NULL);
    char note[160];
    snprintf(note, sizeof note, "Đã giao kết quả qua VNPost (mã vận đơn %s).", tn1);
    CHECK(r.body && strstr(r.body, note) != NULL);
    th_resp_free(&r);
    /* In English: the notes the system wrote too (an agency's stay as
     * recorded), on the page and in the JSON. */
    const char *en[] = {"Accept-Language: en", NULL};
    CHECK_INT(th_http(&r, 1, "GET", lurl, en, NULL, 0), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(th_resp_header(&r, "content-language"), "en");
    snprintf(note, sizeof note, "Result delivered by VNPost (tracking number %s).", tn1);
    CHECK(r.body && strstr(r.body, note) != NULL);
    CHECK(r.body && strstr(r.body, "Đã giao kết quả") == NULL && strstr(r.body, "Mã vận đơn") == NULL);
    th_resp_free(&r);
    snprintf(lurl, sizeof lurl, "%s/v1/lookup/%s?secret=%s", srv.url, code1, lookup);
    CHECK_INT(th_http(&r, 2, "GET", lurl, en, NULL, 0), 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, note) != NULL && strstr(r.body, "note_en") == NULL);
    th_resp_free(&r);
    CHECK(count("SELECT count(*) FROM outbox WHERE template LIKE 'courier_%%'") > outbox0);
    free(sid);
}

static void test_failed_attempts(void)
{
    char code[64], id[64];
    new_dossier(POSTAL, code, id);
    CHECK_INT(put_delivery(id, POST_Q1, NULL), 200);
    const char *tn = book(code, id);
    char b[512];
    snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"200\"}", tn);
    CHECK_INT(emit(b, NULL), 200);
    for (int i = 1; i <= 3; i++) {
        snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"550\",\"reason_code\":"
                              "\"R01\",\"reason\":\"Người nhận vắng nhà\"}", tn);
        CHECK_INT(emit(b, NULL), 200);
        if (i < 3)
            CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND status = "
                            "'delivery_failed'", id), 1);
    }
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND status = 'returning' "
                    "AND failed_attempts = 3", id), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'ready_for_pickup'", id), 1);
    CHECK(count("SELECT count(*) FROM outbox WHERE template = 'ready_for_pickup' AND dossier_id = '%s'", id) >= 1);
    CHECK(count("SELECT count(*) FROM outbox WHERE template = 'courier_delivery_failed' AND dossier_id = '%s' "
                "AND vars->>'reason' = 'Người nhận vắng nhà'", id) >= 2);
    CHECK_INT(count("SELECT count(*) FROM shipment_events e JOIN shipments s ON s.id = e.shipment_id "
                    "WHERE s.dossier_id = '%s' AND e.raw_code = '550/R01'", id), 3);
    /* The carrier brings it back. */
    snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"700\"}", tn);
    CHECK_INT(emit(b, NULL), 200);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND status = 'returned'", id), 1);
    CHECK(count("SELECT count(*) FROM outbox WHERE template = 'courier_returned' AND dossier_id = '%s'", id) >= 1);
}

static void test_cod(void)
{
    for (int k = 0; k < 2; k++) {
        char code[64], id[64];
        new_dossier(POSTAL, code, id);
        json_t *ans = NULL;
        CHECK_INT(put_delivery(id, POST_COD, &ans), 200);
        long fee = (long)json_integer_value(json_object_get(json_object_get(ans, "delivery"), "fee_vnd"));
        CHECK_INT(fee, 28000); /* Củ Chi: suburban */
        json_decref(ans);
        const char *tn = book(code, id);
        char b[512], txid[128];
        snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"500\",\"event_id\":"
                              "\"cod-%s\",\"cod_collected\":%ld}", tn, tn, k == 0 ? fee : fee - 8000);
        CHECK_INT(emit(b, NULL), 200);
        snprintf(txid, sizeof txid, "vnpost:cod-%s", tn);
        CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE provider = 'cod' AND "
                        "provider_tx_id = '%s' AND account_no = 'COD-vnpost'", txid), 1);
        if (k == 0)
            CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE provider_tx_id = '%s' AND "
                            "match_status = 'matched' AND applied_vnd = 28000 AND amount_vnd = 28000", txid), 1);
        else
            CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE provider_tx_id = '%s' AND "
                            "match_status = 'unmatched' AND applied_vnd = 0 AND amount_vnd = 20000", txid), 1);
    }
}

static void test_bad_input(void)
{
    char code[64], id[64], code3[64], id3[64];
    new_dossier(POSTAL, code3, id3); /* for another carrier's shipment below */
    new_dossier(POSTAL, code, id);
    CHECK_INT(put_delivery(id, POST_Q1, NULL), 200);
    const char *tn = book(code, id);
    char tnc[64];
    snprintf(tnc, sizeof tnc, "%s", tn);
    long ev0 = count("SELECT count(*) FROM shipment_events");
    long out0 = count("SELECT count(*) FROM outbox");
    long tx0 = count("SELECT count(*) FROM bank_transactions");
    char b[512];
    json_t *ans = NULL;
    struct {
        const char *sign, *code;
        long status;
    } cases[] = {{"bad", "courier_signature_invalid", 401},
                 {"stale", "courier_timestamp_stale", 401},
                 {"none", "courier_signature_missing", 401}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"500\",\"sign\":\"%s\"}",
                 tnc, cases[i].sign);
        CHECK_INT(emit(b, &ans), cases[i].status);
        CHECK_STR(body_code(ans), cases[i].code);
        json_decref(ans);
    }
    /* An unknown tracking number. */
    CHECK_INT(emit("{\"tracking_number\":\"EB000000000VN\",\"status_code\":\"200\"}", &ans), 404);
    CHECK_STR(body_code(ans), "shipment_not_found");
    json_decref(ans);
    /* A status for another carrier's shipment. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO shipments (dossier_id, carrier, status, tracking_no, delivery, book_state) "
             "SELECT id, 'ghn', 'booked', 'GHN%d', delivery, 'done' FROM dossiers WHERE code = '%s'",
             (int)getpid(), code3);
    CHECK_INT(th_db_exec(db, sql), 0);
    snprintf(b, sizeof b, "{\"tracking_number\":\"GHN%d\",\"status_code\":\"500\"}", (int)getpid());
    CHECK_INT(emit(b, &ans), 409);
    CHECK_STR(body_code(ans), "shipment_other_carrier");
    json_decref(ans);
    /* A malformed event. */
    snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"123\"}", tnc);
    CHECK_INT(emit(b, &ans), 422);
    CHECK_STR(body_code(ans), "invalid_event");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM shipment_events"), ev0);
    CHECK_INT(count("SELECT count(*) FROM outbox"), out0);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions"), tx0);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE tracking_no = '%s' AND status = 'booked'", tnc), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'result_ready'", id), 1);
    /* Too late to choose delivery now. */
    CHECK_INT(put_delivery(id, "{\"method\":\"pickup\"}", &ans), 409);
    CHECK_STR(json_string_value(json_object_get(ans, "code")), "delivery_too_late");
    json_decref(ans);
}

static void test_retries(void)
{
    char code[64], id[64], url[256];
    new_dossier(POSTAL, code, id);
    CHECK_INT(put_delivery(id, POST_Q1, NULL), 200);
    snprintf(url, sizeof url, "%s/_sim/fail", vnpost);
    th_resp r;
    CHECK_INT(th_json(&r, "POST", url, NULL, "{\"count\":2,\"status\":503}", NULL), 200);
    th_resp_free(&r);
    const char *tn = book(code, id);
    CHECK(tn[0] != 0);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND book_attempts = 3", id), 1);
    /* The answer lost (the dispatcher died after sending): claimed again after
     * the timeout, sent again with the same id, one order at the carrier. */
    char tnc[64];
    snprintf(tnc, sizeof tnc, "%s", tn);
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE shipments SET book_state = 'sending', book_claimed_at = now() - interval '1 hour' "
             "WHERE dossier_id = '%s'", id);
    CHECK_INT(th_db_exec(db, sql), 0);
    CHECK_INT(wait_count(1, 20, "SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND "
                                "book_state = 'done' AND book_attempts = 4", id), 1);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND tracking_no = '%s'",
                    id, tnc), 1);
    char *sid = value_of("SELECT id FROM shipments WHERE dossier_id = '%s'", id);
    snprintf(url, sizeof url, "%s/_sim/orders", vnpost);
    json_t *orders = NULL;
    CHECK_INT(th_json(&r, "GET", url, NULL, NULL, (void **)&orders), 200);
    th_resp_free(&r);
    int n = 0;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(orders, "orders"), i, o) if (
        strcmp(json_string_value(json_object_get(o, "client_order_id")), sid) == 0) {
        n++;
        CHECK_INT(json_integer_value(json_object_get(o, "bookings")), 2);
    }
    CHECK_INT(n, 1);
    json_decref(orders);
    free(sid);
}


static json_t *sim_orders(void)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/orders", vnpost);
    th_resp r;
    json_t *orders = NULL;
    CHECK_INT(th_json(&r, "GET", url, NULL, NULL, (void **)&orders), 200);
    th_resp_free(&r);
    return orders;
}

static void test_sigkill(void)
{
    enum { N = 5 };
    char codes[N][64], ids[N][64], url[256];
    for (int i = 0; i < N; i++) {
        new_dossier(POSTAL, codes[i], ids[i]);
        CHECK_INT(put_delivery(ids[i], POST_Q1, NULL), 200);
        CHECK_INT(step(codes[i], "processing"), 200);
    }
    snprintf(url, sizeof url, "%s/_sim/fail", vnpost);
    th_resp r;
    CHECK_INT(th_json(&r, "POST", url, NULL, "{\"count\":0,\"delay_ms\":3000,\"delay_count\":5}", NULL), 200);
    th_resp_free(&r);
    for (int i = 0; i < N; i++) CHECK_INT(step(codes[i], "result_ready"), 200);
    /* Every booking sent (the carrier made the orders), none answered yet. */
    long want = count("SELECT count(*) FROM shipments WHERE carrier = 'vnpost'");
    for (int k = 0; k < 100; k++) {
        json_t *o = sim_orders();
        long made = (long)json_array_size(json_object_get(o, "orders"));
        json_decref(o);
        if (made == want && count("SELECT count(*) FROM shipments WHERE book_state = 'sending'") == N)
            break;
        usleep(50000);
    }
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE book_state = 'sending'"), N);
    CHECK(th_proc_stop(&srv, SIGKILL) != 0);
    CHECK_INT(th_server_start_on(&srv, port, db, env), 0);
    for (int i = 0; i < N; i++)
        CHECK_INT(wait_count(1, 20, "SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND "
                                    "book_state = 'done' AND status = 'booked'", ids[i]), 1);
    json_t *orders = sim_orders();
    for (int i = 0; i < N; i++) {
        char *sid = value_of("SELECT id FROM shipments WHERE dossier_id = '%s'", ids[i]);
        char *tn = value_of("SELECT tracking_no FROM shipments WHERE dossier_id = '%s'", ids[i]);
        int found = 0;
        size_t k;
        json_t *o;
        json_array_foreach(json_object_get(orders, "orders"), k, o) {
            if (strcmp(json_string_value(json_object_get(o, "client_order_id")), sid) != 0) continue;
            found++;
            CHECK_INT(json_integer_value(json_object_get(o, "bookings")), 2); /* sent twice, one order */
            CHECK_STR(json_string_value(json_object_get(o, "tracking_number")), tn);
        }
        CHECK_INT(found, 1);
        free(sid);
        free(tn);
    }
    json_decref(orders);
}

static void test_reconciliation(void)
{
    char day[16], path[128];
    time_t t = time(NULL) + 7 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    snprintf(path, sizeof path, "/v1/partner/payments/reconciliation?from=%s&to=%s", day, day);
    th_resp r;
    CHECK_INT(th_partner(&r, srv.url, "GET", path, NULL), 200);
    json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    th_resp_free(&r);
    int seen = 0;
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(j, "days"), i, row) {
        const char *acct = json_string_value(json_object_get(row, "account_no"));
        if (!acct || strcmp(acct, "COD-vnpost") != 0) continue;
        seen++;
        CHECK_INT(json_integer_value(json_object_get(row, "matched_count")), 1);
        CHECK_INT(json_integer_value(json_object_get(row, "unmatched_count")), 1);
        CHECK_INT(json_integer_value(json_object_get(row, "received_vnd")), 48000);
    }
    CHECK_INT(seen, 1);
    json_decref(j);
}

static void test_polling(void)
{
    /* Restarted with polling on and the webhooks not sent. */
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    const char *e[32];
    int n = 0;
    for (; env[n]; n++) e[n] = env[n];
    e[n++] = "CDS_COURIER_POLL_CARRIERS=vnpost";
    e[n++] = "CDS_COURIER_POLL_AFTER=1";
    e[n++] = "CDS_COURIER_POLL_EVERY_MS=300";
    e[n] = NULL;
    CHECK_INT(th_server_start_on(&srv, port, db, e), 0);
    char code[64], id[64], b[512];
    new_dossier(POSTAL, code, id);
    CHECK_INT(put_delivery(id, POST_Q1, NULL), 200);
    const char *tn = book(code, id);
    const char *codes[] = {"200", "300", "500"};
    for (int i = 0; i < 3; i++) {
        snprintf(b, sizeof b, "{\"tracking_number\":\"%s\",\"status_code\":\"%s\",\"webhook\":false}",
                 tn, codes[i]);
        CHECK_INT(emit(b, NULL), 0);
        usleep(20000);
    }
    CHECK_INT(wait_count(1, 20, "SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'completed'",
                         id), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_events e JOIN shipments s ON s.id = e.shipment_id "
                    "WHERE s.dossier_id = '%s' AND e.source = 'poll' AND e.applied", id), 3);
}

int main(void)
{
    db = th_db_new("delivery");
    port = th_free_port();
    static char target[128];
    snprintf(target, sizeof target, "CDS_SIM_VNPOST_TARGET=http://127.0.0.1:%d", port);
    const char *names[] = {"vneid", "vnpost", NULL};
    const char *senv[] = {target, NULL};
    if (th_sim_start(&sim, names, senv) != 0) return 1;
    snprintf(vnpost, sizeof vnpost, "%s", th_sim_url(&sim, "vnpost"));
    static char iss[256], url[256];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    snprintf(url, sizeof url, "CDS_VNPOST_URL=%s", vnpost);
    int n = 0;
    env[n++] = iss;
    env[n++] = url;
    env[n++] = "CDS_AUTO_MIGRATE=1";
    env[n++] = "CDS_DELIVERY_BACKOFF_MS=100";
    env[n++] = "CDS_DELIVERY_BACKOFF_MAX_MS=300";
    env[n++] = "CDS_DELIVERY_POLL_MS=200";
    env[n++] = "CDS_DELIVERY_CLAIM_TIMEOUT=1";
    env[n] = NULL;
    if (th_server_start_on(&srv, port, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;
    CHECK_INT(th_login_as(&srv, PID_A, &login_a), 200);

    test_choice();
    test_journey();
    test_failed_attempts();
    test_cod();
    test_bad_input();
    test_retries();
    test_reconciliation();
    test_sigkill();
    test_polling();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    return t_done();
}
