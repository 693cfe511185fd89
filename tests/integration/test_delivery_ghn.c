/* GHN beside VNPost, end to end over real sockets: `cds serve` with a real
 * PostgreSQL, the GHN stand-in (sim/courier_ghn.c, written from GHN's API
 * documentation: Token/ShopId headers, required fields, GHN's envelope and
 * callbacks), the VNPost stand-in and the VNeID stand-in.
 *
 *   catalog      an agency's carrier and GHN shop come from `cds catalog
 *                load`; an unknown carrier is refused and nothing changes
 *   two agencies agency A books with VNPost, agency B with GHN (its own
 *                ShopId, our shipment id as client_order_code, the fields
 *                GHN requires)
 *   journey      GHN callbacks: picked -> out_for_delivery, a repeat is a
 *                duplicate, an older one is recorded late, delivered
 *                completes the dossier, a later one moves nothing; the
 *                citizen is told; GHN's own "order created" (ready_to_pick)
 *                tells the citizen nothing twice
 *   forged       a wrong URL token, an unknown order, an unknown status or
 *                type, an update without a status: nothing recorded
 *   bad address  GHN refuses the ward: the booking fails for good, with
 *                GHN's reason, and no order exists
 *   crash        a booking resent after its answer was lost: GHN refuses the
 *                repeated client_order_code, the order is looked up, one
 *                order
 *   fee, cancel  the adapter's fee quote and cancellation against the
 *                stand-in; a cancelled order's callback cancels the shipment
 *   bad token    GHN answers 401: the booking waits and is retried; with the
 *                right token it is booked
 *   allow-list   a callback from an address outside CDS_GHN_CALLBACK_ALLOW
 *                is refused (403)
 *   polling      callbacks lost (refused): GHN's order detail is polled and
 *                its log delivers the shipment
 *   console      an operator's cancel of a booked GHN parcel: GHN's cancel
 *                call (through the carrier-request outbox), the shipment
 *                cancelled once although GHN's callback says it too, the
 *                dossier waits at the counter and the citizen is told,
 *                audited with the operator; refused with a page and nothing
 *                changed (database compared): a parcel picked up, a cancelled
 *                one, a post without CSRF token, an auditor; GHN refusing a
 *                cancel we thought possible (its callback was lost) changes
 *                nothing but the request; the re-poll reads GHN's detail and
 *                applies it as a webhook would (the lost callback, sent
 *                again, is then a duplicate)
 *   retries      the request queue against GHN failing on purpose
 *                (/_sim/fail by call): a cancel meeting one 503 is sent
 *                twice and cancels once (one audit row, one notice per
 *                channel), a double click queues one request; a retrying
 *                cancel whose parcel GHN's callback cancelled closes
 *                unsent, audited; a re-poll
 *                meeting 502s is retried; a 400 ends a cancel refused after
 *                one call; a cancel meeting 503 every time ends failed after
 *                CDS_DELIVERY_MAX_ATTEMPTS calls, listed on the console's
 *                shipments page with its reason; a re-poll to an address
 *                where nobody answers ends failed the same way */
#include "delivery/internal.h"
#include "core/assets.h"
#include "tests/lib/console.h"
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/staff.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROC_A "1.001193" /* agency 000.20.01.H29: VNPost (the default) */
#define PROC_B "1.000656" /* agency 000.20.02.H29: GHN, shop 886 */
#define PID_A "079085001234"

static char *db;
static th_sim sim;
static th_proc srv;
static int port;
static char ghn[64], vnpost[64];
static th_login login_a;
static int seq;
static const char *env[24];

#define count(...) th_db_count(db, __VA_ARGS__)

#define value(fmt, arg) th_db_text(db, fmt, arg)
#define wait_for(want, seconds, fmt, arg) th_db_wait_count(db, want, seconds, fmt, arg)

static void new_dossier(const char *procedure, char code[64], char id[64])
{
    snprintf(code, 64, "GH-%d-%d", (int)getpid(), ++seq);
    CHECK_INT(th_partner_import(srv.url, code, procedure, PID_A, "Nguyễn Văn An", "0912345678"), 201);
    char *v = value("SELECT id FROM dossiers WHERE code = '%s'", code);
    snprintf(id, 64, "%s", v);
    free(v);
}

static long step(const char *code, const char *st)
{
    char ev[64];
    snprintf(ev, sizeof ev, "gh-%d-%d", (int)getpid(), ++seq);
    return th_partner_step(srv.url, code, ev, st, seq, NULL);
}

static long put_delivery(const char *id, const char *ward)
{
    char url[256], body[1024];
    snprintf(url, sizeof url, "%s/v1/dossiers/%s/delivery", srv.url, id);
    snprintf(body, sizeof body,
             "{\"method\":\"post\",\"recipient\":{\"name\":\"Nguyễn Văn An\",\"phone\":"
             "\"0912345678\",\"address\":{\"province\":\"Thành phố Hồ Chí Minh\",\"district\":"
             "\"Quận 1\",\"ward\":\"%s\",\"street\":\"12 Nguyễn Huệ\"}},\"notes\":\"Gọi trước\"}",
             ward);
    th_resp r;
    long st = th_json(&r, "PUT", url, login_a.access, body, NULL);
    th_resp_free(&r);
    return st;
}

/* A dossier of `procedure` with delivery to `ward`, moved to result_ready. */
static void ready(const char *procedure, const char *ward, char code[64], char id[64])
{
    new_dossier(procedure, code, id);
    CHECK_INT(put_delivery(id, ward), 200);
    CHECK_INT(step(code, "processing"), 200);
    CHECK_INT(step(code, "result_ready"), 200);
}

static char *tracking_of(const char *id)
{
    CHECK_INT(wait_for(1, 20, "SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND "
                              "tracking_no IS NOT NULL", id), 1);
    return value("SELECT tracking_no FROM shipments WHERE dossier_id = '%s'", id);
}

static json_t *sim_get(const char *base, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    th_resp r;
    json_t *j = NULL;
    CHECK_INT(th_json(&r, "GET", url, NULL, NULL, (void **)&j), 200);
    th_resp_free(&r);
    return j;
}

/* The GHN stand-in's order whose client_order_code is `cc` (borrowed from *all). */
static json_t *ghn_order(json_t **all, const char *cc)
{
    *all = sim_get(ghn, "/_sim/orders");
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(*all, "orders"), i, o)
        if (strcmp(json_string_value(json_object_get(o, "client_order_code")), cc) == 0) return o;
    return NULL;
}

/* Asks the stand-in to send a callback; returns our server's status. */
static long callback(const char *body, json_t **ans)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/callback", ghn);
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, "POST", url, NULL, body, (void **)&j);
    th_resp_free(&r);
    long ours = st == 200 ? (long)json_integer_value(json_object_get(j, "status")) : st;
    if (ans) *ans = j;
    else json_decref(j);
    return ours;
}

static const char *result_of(json_t *ans)
{
    json_t *res = json_object_get(json_object_get(ans, "body"), "results");
    return json_string_value(json_object_get(json_array_get(res, 0), "result"));
}

static const char *problem_of(json_t *ans)
{
    return json_string_value(json_object_get(json_object_get(ans, "body"), "code"));
}

/* ---- catalog ---- */

static int load_catalog(const char *agency, const char *carrier, const char *account)
{
    json_t *cat = json_load_file(CDS_SOURCE_DIR "/db/seed/catalog.json", 0, NULL);
    size_t i;
    json_t *ag;
    json_array_foreach(json_object_get(cat, "agencies"), i, ag)
        if (strcmp(json_string_value(json_object_get(ag, "code")), agency) == 0) {
            json_object_set_new(ag, "carrier", json_string(carrier));
            if (account) json_object_set_new(ag, "carrier_account", json_string(account));
        }
    char path[256];
    snprintf(path, sizeof path, "%s/ghn-catalog-%d.json",
             getenv("CDS_TEST_TMP") ? getenv("CDS_TEST_TMP") : "/tmp", (int)getpid());
    CHECK_INT(json_dump_file(cat, path, 0), 0);
    json_decref(cat);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load --file %s >/dev/null 2>&1",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR, path);
    int rc = system(cmd);
    unlink(path);
    return rc;
}

static void test_catalog(void)
{
    CHECK(load_catalog("000.20.02.H29", "dhl", NULL) != 0);
    CHECK_INT(count("SELECT count(*) FROM agencies WHERE carrier IS NOT NULL%s", ""), 0);
    CHECK_INT(load_catalog("000.20.02.H29", "ghn", "886"), 0);
    CHECK_INT(count("SELECT count(*) FROM agencies WHERE code = '%s' AND carrier = 'ghn' AND "
                    "carrier_account = '886'", "000.20.02.H29"), 1);
    CHECK_INT(count("SELECT count(*) FROM agencies WHERE carrier IS NOT NULL%s", ""), 1);
}

/* ---- two agencies, one journey ---- */

static char code_b[64], id_b[64], tn_b[64];

static void test_two_agencies(void)
{
    char code_a[64], id_a[64];
    ready(PROC_A, "Phường Bến Nghé", code_a, id_a);
    ready(PROC_B, "Phường Bến Nghé", code_b, id_b);
    char *tn_a = tracking_of(id_a);
    char *t = tracking_of(id_b);
    snprintf(tn_b, sizeof tn_b, "%s", t);
    free(t);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND carrier = 'vnpost'",
                    id_a), 1);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND carrier = 'ghn' "
                    "AND status = 'booked'", id_b), 1);
    CHECK(strncmp(tn_a, "EB", 2) == 0);
    /* The citizen's choice names the agency's carrier. */
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND delivery->>'carrier' = 'ghn'",
                    id_b), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND delivery->>'carrier' = "
                    "'vnpost'", id_a), 1);
    free(tn_a);
    /* GHN got what its documentation requires, once, from agency B's shop. */
    char *sid = value("SELECT id FROM shipments WHERE dossier_id = '%s'", id_b);
    json_t *all = NULL, *o = ghn_order(&all, sid);
    CHECK(o != NULL);
    if (o) {
        json_t *rq = json_object_get(o, "request");
        CHECK_STR(json_string_value(json_object_get(o, "order_code")), tn_b);
        CHECK_INT(json_integer_value(json_object_get(o, "creates")), 1);
        CHECK_STR(json_string_value(json_object_get(o, "shop_id")), "886");
        CHECK_STR(json_string_value(json_object_get(rq, "to_ward_name")), "Phường Bến Nghé");
        CHECK_STR(json_string_value(json_object_get(rq, "to_district_name")), "Quận 1");
        CHECK_STR(json_string_value(json_object_get(rq, "to_phone")), "0912345678");
        CHECK_STR(json_string_value(json_object_get(rq, "required_note")), "KHONGCHOXEMHANG");
        CHECK_INT(json_integer_value(json_object_get(rq, "payment_type_id")), 1);
        CHECK_INT(json_integer_value(json_object_get(rq, "service_type_id")), 2);
        CHECK_INT(json_integer_value(json_object_get(rq, "weight")), 500);
    }
    json_decref(all);
    /* The VNPost stand-in got agency A's and nothing of agency B's. */
    all = sim_get(vnpost, "/_sim/orders");
    size_t i;
    int n_b = 0;
    json_array_foreach(json_object_get(all, "orders"), i, o)
        if (strcmp(json_string_value(json_object_get(o, "client_order_id")), sid) == 0) n_b++;
    CHECK_INT(n_b, 0);
    json_decref(all);
    free(sid);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE template = 'courier_booked' AND "
                    "dossier_id = '%s'", id_b), 1);
}

static void test_journey(void)
{
    char b[1024];
    json_t *ans = NULL;
    /* GHN's own "created" (ready_to_pick) again: booked already, nothing new to say. */
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"ready_to_pick\",\"type\":\"Create\"}", tn_b);
    CHECK_INT(callback(b, NULL), 200);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE template = 'courier_booked' AND "
                    "dossier_id = '%s'", id_b), 1);
    /* picked: out for delivery. */
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"picked\",\"warehouse\":\"Bưu cục Quận 1\"}", tn_b);
    CHECK_INT(callback(b, &ans), 200);
    CHECK_STR(result_of(ans), "applied");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'out_for_delivery'",
                    id_b), 1);
    CHECK(count("SELECT count(*) FROM outbox WHERE template = 'out_for_delivery' AND dossier_id = '%s'",
                id_b) >= 1);
    /* storing, sent twice (GHN's retry, or a replay): the second is a duplicate. */
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"storing\",\"repeat\":2}", tn_b);
    CHECK_INT(callback(b, &ans), 200);
    json_t *second = json_array_get(json_object_get(ans, "responses"), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(
                  json_object_get(second, "body"), "results"), 0), "result")), "duplicate");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM shipment_events e JOIN shipments s ON s.id = "
                    "e.shipment_id WHERE s.dossier_id = '%s' AND e.raw_code = 'storing'", id_b), 1);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE template = 'courier_in_transit' AND "
                    "dossier_id = '%s'", id_b), 1);
    /* An older event, late: kept, the state does not move. */
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"picking\",\"time\":\"2020-01-01T00:00:00.000Z\"}",
             tn_b);
    CHECK_INT(callback(b, &ans), 200);
    CHECK_STR(result_of(ans), "recorded_late");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND status = 'in_transit'",
                    id_b), 1);
    /* delivered: the dossier is completed (GHN sends no proof of delivery). */
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"delivered\"}", tn_b);
    CHECK_INT(callback(b, &ans), 200);
    CHECK_STR(result_of(ans), "applied");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'completed'", id_b), 1);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND status = 'delivered' "
                    "AND pod IS NULL", id_b), 1);
    CHECK(count("SELECT count(*) FROM outbox WHERE template = 'completed' AND dossier_id = '%s'",
                id_b) >= 1);
    /* After the final state: kept, nothing moves. */
    long outbox0 = count("SELECT count(*) FROM outbox WHERE dossier_id = '%s'", id_b);
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"returning\"}", tn_b);
    CHECK_INT(callback(b, &ans), 200);
    CHECK_STR(result_of(ans), "ignored_final");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s'", id_b), outbox0);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND status = 'delivered'",
                    id_b), 1);
}

static void test_forged(void)
{
    char b[1024];
    json_t *ans = NULL;
#define EVENTS "SELECT count(*) FROM shipment_events WHERE carrier = 'ghn'"
    long events0 = count(EVENTS);
    long outbox0 = count("SELECT count(*) FROM outbox%s", "");
    /* A wrong token in the URL. */
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"return\",\"token\":\"not-the-token-0123456789\"}",
             tn_b);
    CHECK_INT(callback(b, &ans), 401);
    CHECK_STR(problem_of(ans), "courier_token_invalid");
    json_decref(ans);
    /* An order GHN never made for us. */
    CHECK_INT(callback("{\"order_code\":\"GZZZZZZZ\",\"status\":\"delivered\"}", &ans), 404);
    CHECK_STR(problem_of(ans), "shipment_not_found");
    json_decref(ans);
    /* A status GHN does not document, and a type it does not send. */
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"teleported\"}", tn_b);
    CHECK_INT(callback(b, &ans), 422);
    CHECK_STR(problem_of(ans), "invalid_event");
    json_decref(ans);
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"delivered\",\"type\":\"Switch_colour\"}", tn_b);
    CHECK_INT(callback(b, NULL), 422);
    /* A weight update reports no status: taken, nothing recorded. */
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"delivered\",\"type\":\"Update_weight\"}", tn_b);
    CHECK_INT(callback(b, &ans), 200);
    CHECK_INT(json_array_size(json_object_get(json_object_get(ans, "body"), "results")), 0);
    json_decref(ans);
    CHECK_INT(count(EVENTS), events0);
    CHECK_INT(count("SELECT count(*) FROM outbox%s", ""), outbox0);
}

static void test_bad_address(void)
{
    char code[64], id[64];
    ready(PROC_B, "Phường Không Tồn Tại", code, id);
    CHECK_INT(wait_for(1, 20, "SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND "
                              "status = 'booking_failed' AND book_error LIKE '%%phường/xã%%'", id), 1);
    char *sid = value("SELECT id FROM shipments WHERE dossier_id = '%s'", id);
    json_t *all = NULL;
    CHECK(ghn_order(&all, sid) == NULL);
    json_decref(all);
    free(sid);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE template = 'courier_booked' AND dossier_id = '%s'",
                    id), 0);
}

static void test_crash_lookup(void)
{
    char code[64], id[64];
    ready(PROC_B, "Phường Tân Định", code, id);
    char *tn = tracking_of(id);
    /* As if the answer had been lost: the shipment is queued again. */
    char sql[512];
    snprintf(sql, sizeof sql, "UPDATE shipments SET book_state = 'queued', tracking_no = NULL, "
                              "status = 'pending', book_next_at = now() WHERE dossier_id = '%s'", id);
    CHECK_INT(th_db_exec(db, sql), 0);
    CHECK_INT(wait_for(1, 20, "SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND "
                              "book_state = 'done' AND tracking_no IS NOT NULL", id), 1);
    char *tn2 = value("SELECT tracking_no FROM shipments WHERE dossier_id = '%s'", id);
    CHECK_STR(tn2, tn);
    char *sid = value("SELECT id FROM shipments WHERE dossier_id = '%s'", id);
    json_t *all = NULL, *o = ghn_order(&all, sid);
    CHECK(o != NULL);
    CHECK_INT(json_integer_value(json_object_get(o, "creates")), 2);
    size_t i, n = 0;
    json_array_foreach(json_object_get(all, "orders"), i, o)
        if (strcmp(json_string_value(json_object_get(o, "client_order_code")), sid) == 0) n++;
    CHECK_INT(n, 1);
    json_decref(all);
    free(sid);
    free(tn);
    free(tn2);
}

/* One adapter call sent to the stand-in (the adapter does no I/O). */
static cds_http_response send_call(dl_http *h, th_resp *r)
{
    CHECK_INT(th_http(r, 1, h->method, h->url, (const char *const *)h->headers, h->body,
                      h->body_len), 0);
    cds_http_response resp = {.status = r->status, .body = r->body, .body_len = r->body_len};
    return resp;
}

static void test_fee_cancel(void)
{
    char err[300];
    cds_delivery_config c;
    cds_delivery_config_defaults(&c);
    static char url[128];
    snprintf(url, sizeof url, "%s/shiip/public-api", ghn);
    g_delivery = c;
    g_delivery.ghn_url = url;
    g_delivery.ghn_token = "cds-dev-ghn-token"; /* the stand-in's */
    const cds_asset *a = cds_asset_find("db/seed/tariff.json");
    CHECK_INT(cds_delivery_tariff_load(a->data, err, sizeof err), 0);
    /* A fee quote for a shipment of agency B. */
    json_t *payload = json_pack(
        "{s:s,s:s,s:I,s:{s:s},s:{s:s,s:{s:s,s:s,s:{s:s,s:s,s:s,s:s}}}}", "shipment_id",
        "00000000-0000-4000-8000-00000000f00d", "dossier_code", "X", "cod_amount_vnd",
        (json_int_t)0, "sender", "carrier_account", "886", "delivery", "weight_class",
        "small_parcel", "recipient", "name", "A", "phone", "0912345678", "address", "province",
        "Hồ Chí Minh", "district", "Quận 1", "ward", "Phường Đa Kao", "street", "1 Lê Duẩn");
    dl_http h = {0};
    th_resp r;
    CHECK_INT(dl_ghn.fee_request(payload, &h, err, sizeof err), 0);
    cds_http_response resp = send_call(&h, &r);
    long long fee = -1;
    CHECK_INT(dl_ghn.fee_parse(&resp, &fee, err, sizeof err), 0);
    CHECK(fee > 0);
    th_resp_free(&r);
    dl_http_clear(&h);
    json_decref(payload);

    /* Cancel an order before pick-up: GHN's callback cancels the shipment. */
    char code[64], id[64];
    ready(PROC_B, "Phường Cô Giang", code, id);
    char *tn = tracking_of(id);
    CHECK_INT(dl_ghn.cancel_request(tn, "886", &h, err, sizeof err), 0);
    resp = send_call(&h, &r);
    CHECK_INT(dl_ghn.cancel_parse(&resp, err, sizeof err), 0);
    th_resp_free(&r);
    dl_http_clear(&h);
    CHECK_INT(wait_for(1, 20, "SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND "
                              "status = 'cancelled'", id), 1);
    /* Cancel it again: GHN refuses (no longer before pick-up), for good. */
    CHECK_INT(dl_ghn.cancel_request(tn, "886", &h, err, sizeof err), 0);
    resp = send_call(&h, &r);
    CHECK_INT(dl_ghn.cancel_parse(&resp, err, sizeof err), DL_FAILED);
    th_resp_free(&r);
    dl_http_clear(&h);
    /* A wrong token: GHN's 401, retried. */
    g_delivery.ghn_token = "wrong-token";
    CHECK_INT(dl_ghn.cancel_request(tn, "886", &h, err, sizeof err), 0);
    resp = send_call(&h, &r);
    CHECK_INT(resp.status, 401);
    CHECK_INT(dl_ghn.cancel_parse(&resp, err, sizeof err), DL_RETRY);
    th_resp_free(&r);
    dl_http_clear(&h);
    free(tn);
    cds_delivery_tariff_load(a->data, err, sizeof err);
}

/* ---- the operators' console: cancel at the carrier, re-poll ---- */

static th_staff op, aud;
static char op_cookie[2200], aud_cookie[2200], op_csrf[65], aud_csrf[65];

static char *fingerprint(void)
{
    char *v = th_db_value(
        db, "SELECT (SELECT count(*) FROM audit_log) || '|' ||"
            " (SELECT string_agg(id || status || COALESCE(tracking_no, ''), ',' ORDER BY id) FROM shipments) || '|' ||"
            " (SELECT count(*) FROM shipment_events) || '|' ||"
            " (SELECT COALESCE(string_agg(id || state, ',' ORDER BY id), '') FROM shipment_requests) || '|' ||"
            " (SELECT string_agg(code || status, ',' ORDER BY code) FROM dossiers) || '|' ||"
            " (SELECT count(*) FROM outbox)");
    return v ? v : strdup("?");
}

static long console_post(const char *cookie, const char *csrf, const char *action,
                         const char *shipment, th_resp *r)
{
    char url[256], form[256];
    snprintf(url, sizeof url, "%s/console/shipments/%s/%s", srv.url, shipment, action);
    if (csrf) snprintf(form, sizeof form, "csrf=%s&reason=nguoi+dan+nhan+tai+quay", csrf);
    else snprintf(form, sizeof form, "reason=nguoi+dan+nhan+tai+quay");
    return th_console_post(r, url, cookie, form);
}

/* A console request refused with `want`, its page holding `needle` (if
 * given), and nothing changed in the shipments, requests, dossiers, audit
 * log or outbox. */
static void refused(const char *cookie, const char *csrf, const char *action, const char *sid,
                    long want, const char *needle)
{
    char *before = fingerprint();
    th_resp r;
    CHECK_INT(console_post(cookie, csrf, action, sid, &r), want);
    if (needle) CHECK(r.body && strstr(r.body, needle));
    th_resp_free(&r);
    char *after = fingerprint();
    CHECK_STR(after, before);
    free(before);
    free(after);
}

static void console_login(void)
{
    CHECK_INT(th_staff_create(db, &op, "vanhanh.ghn", "operator", NULL), 0);
    CHECK_INT(th_staff_create(db, &aud, "kiemsoat.ghn", "auditor", NULL), 0);
    CHECK_INT(th_console_login(srv.url, &op, NULL, op_cookie, sizeof op_cookie), 200);
    CHECK_INT(th_console_login(srv.url, &aud, NULL, aud_cookie, sizeof aud_cookie), 200);
    th_resp r;
    char url[256];
    snprintf(url, sizeof url, "%s/console", srv.url);
    CHECK_INT(th_console_get(&r, url, op_cookie), 200);
    CHECK_INT(th_console_csrf(r.body, op_csrf), 0);
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, url, aud_cookie), 200);
    CHECK_INT(th_console_csrf(r.body, aud_csrf), 0);
    th_resp_free(&r);
}

static void test_console_cancel(void)
{
    console_login();
    char code[64], id[64];
    ready(PROC_B, "Phường Bến Thành", code, id);
    char *tn = tracking_of(id);
    char *sid = value("SELECT id FROM shipments WHERE dossier_id = '%s'", id);
    th_resp r;
    /* Refused, nothing changed: no CSRF token, an auditor. */
    refused(op_cookie, NULL, "cancel", sid, 403, NULL);
    refused(aud_cookie, aud_csrf, "cancel", sid, 403, NULL);
    refused(aud_cookie, aud_csrf, "repoll", sid, 403, NULL);
    /* Booked a moment ago, not stuck: found by its dossier code, with the cancel form. */
    char url[256], want[96];
    snprintf(url, sizeof url, "%s/console/shipments?q=%s", srv.url, code);
    CHECK_INT(th_console_get(&r, url, op_cookie), 200);
    snprintf(want, sizeof want, "id=\"carrier-cancel-%s\"", sid);
    CHECK(r.body && strstr(r.body, want));
    th_resp_free(&r);
    /* The operator's cancel: GHN's cancel call, then the shipment is cancelled. */
    CHECK_INT(console_post(op_cookie, op_csrf, "cancel", sid, &r), 200);
    CHECK(r.body && strstr(r.body, "id=\"notice\""));
    th_resp_free(&r);
    char who[160];
    snprintf(who, sizeof who, "staff:%s vanhanh.ghn", op.id);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'shipment.carrier_cancel' AND "
                    "subject = 'shipment:%s' AND actor = '%s'", sid, who), 1);
    CHECK_INT(wait_for(1, 20, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND kind = 'cancel' AND state = 'done'", sid), 1);
    CHECK_INT(wait_for(1, 20, "SELECT count(*) FROM shipments WHERE id = '%s' AND status = "
                              "'cancelled'", sid), 1);
    json_t *all = NULL, *o = ghn_order(&all, sid);
    CHECK_STR(o ? json_string_value(json_object_get(o, "status")) : "", "cancel");
    json_decref(all);
    /* GHN's own cancel callback and our confirmed request count once. */
    CHECK_INT(wait_for(1, 20, "SELECT count(*) FROM shipment_events WHERE shipment_id = '%s' AND "
                              "status = 'cancelled'", sid), 1);
    usleep(500000); /* GHN's callback, sent as it answered the cancel, is in */
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s' AND "
                    "status = 'cancelled'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s' AND "
                    "status = 'cancelled' AND applied", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'ready_for_pickup'",
                    id), 1);
    CHECK(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = "
                "'ready_for_pickup'", id) >= 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'shipment.cancel_done' AND "
                    "subject = 'shipment:%s'", sid), 1);
    /* Cancelled: a second cancel is refused with its page, nothing changed. */
    refused(op_cookie, op_csrf, "cancel", sid, 409, NULL);
    refused(op_cookie, op_csrf, "repoll", sid, 409, NULL);
    free(tn);
    free(sid);

    /* Picked up (GHN's callback told us): GHN cancels only before pick-up. */
    ready(PROC_B, "Phường Cầu Kho", code, id);
    tn = tracking_of(id);
    sid = value("SELECT id FROM shipments WHERE dossier_id = '%s'", id);
    char b[512];
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"picked\"}", tn);
    CHECK_INT(callback(b, NULL), 200);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'picked_up'", sid), 1);
    refused(op_cookie, op_csrf, "cancel", sid, 409, "lấy hàng");
    free(tn);
    free(sid);

    /* GHN picked it up but its callback was lost: we think it booked, GHN
     * refuses the cancel; only the request changes. The re-poll then reads
     * GHN's detail and the shipment is picked up. */
    ready(PROC_B, "Phường Tân Định", code, id);
    tn = tracking_of(id);
    sid = value("SELECT id FROM shipments WHERE dossier_id = '%s'", id);
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"picked\",\"token\":"
                          "\"lost-callback-0123456789\"}", tn);
    CHECK_INT(callback(b, NULL), 401);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'booked'", sid), 1);
    long events = count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s'", sid);
    CHECK_INT(console_post(op_cookie, op_csrf, "cancel", sid, &r), 200);
    th_resp_free(&r);
    CHECK_INT(wait_for(1, 20, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND kind = 'cancel' AND state = 'refused' AND result LIKE "
                              "'not cancelled:%%'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'booked'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s'", sid), events);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'result_ready'", id), 1);
    /* Listed as stuck (no news for days): its row offers the re-poll and
     * shows the refused request. */
    CHECK_INT(th_db_execf(db, "UPDATE shipments SET last_event_at = now() - interval '100 hours' "
                              "WHERE id = '%s'", sid), 0);
    snprintf(url, sizeof url, "%s/console/shipments", srv.url);
    CHECK_INT(th_console_get(&r, url, op_cookie), 200);
    snprintf(want, sizeof want, "id=\"repoll-%s\"", sid);
    CHECK(r.body && strstr(r.body, want));
    snprintf(want, sizeof want, "id=\"request-%s\"", sid);
    CHECK(r.body && strstr(r.body, want));
    CHECK(r.body && strstr(r.body, "refused"));
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, url, aud_cookie), 200);
    snprintf(want, sizeof want, "id=\"repoll-%s\"", sid);
    CHECK(r.body && !strstr(r.body, want));
    th_resp_free(&r);
    CHECK_INT(console_post(op_cookie, op_csrf, "repoll", sid, &r), 200);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'shipment.repoll' AND "
                    "subject = 'shipment:%s' AND actor = '%s'", sid, who), 1);
    CHECK_INT(wait_for(1, 20, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND kind = 'track' AND state = 'done'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'picked_up'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'out_for_delivery'", id), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s' AND source = "
                    "'poll' AND status = 'picked_up' AND applied", sid), 1);
    /* The lost callback arrives after all: the same event, a duplicate. */
    all = NULL;
    o = ghn_order(&all, sid);
    const char *at = NULL;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(o, "log"), i, l)
        if (strcmp(json_string_value(json_object_get(l, "status")), "picked") == 0)
            at = json_string_value(json_object_get(l, "updated_date"));
    CHECK(at != NULL);
    json_t *ans = NULL;
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"picked\",\"time\":\"%s\"}",
             tn, at ? at : "");
    json_decref(all);
    CHECK_INT(callback(b, &ans), 200);
    CHECK_STR(result_of(ans), "duplicate");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s' AND status = "
                    "'picked_up' AND applied", sid), 1);
    /* A re-poll again: nothing new, nothing applied twice. */
    CHECK_INT(console_post(op_cookie, op_csrf, "repoll", sid, &r), 200);
    th_resp_free(&r);
    CHECK_INT(wait_for(2, 20, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND kind = 'track' AND state = 'done'", sid), 2);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s' AND applied "
                    "AND status = 'picked_up'", sid), 1);
    free(tn);
    free(sid);
}

/* ---- the carrier-request queue's retries ---- */

#define MAX_ATTEMPTS 12 /* CDS_DELIVERY_MAX_ATTEMPTS in this test's env */

/* The next `n` calls of kind `call` (create|cancel|detail) at the GHN
 * stand-in answer HTTP `status`. */
static void ghn_fail(const char *call, int n, int status)
{
    char url[256], body[128];
    snprintf(url, sizeof url, "%s/_sim/fail", ghn);
    snprintf(body, sizeof body, "{\"call\":\"%s\",\"count\":%d,\"status\":%d}", call, n, status);
    th_resp r;
    CHECK_INT(th_json(&r, "POST", url, NULL, body, NULL), 200);
    th_resp_free(&r);
}

/* How many `field` (cancels|details) calls the stand-in saw for shipment `sid`. */
static long ghn_calls(const char *sid, const char *field)
{
    json_t *all = NULL, *o = ghn_order(&all, sid);
    long n = o ? (long)json_integer_value(json_object_get(o, field)) : -1;
    json_decref(all);
    return n;
}

/* A GHN-booked shipment of a new dossier: its id (malloc) and the dossier's. */
static char *booked(const char *ward, char code[64], char id[64])
{
    ready(PROC_B, ward, code, id);
    free(tracking_of(id));
    return value("SELECT id FROM shipments WHERE dossier_id = '%s'", id);
}

static void restart3(const char *extra1, const char *extra2, const char *extra3);

static void test_console_retry(void)
{
    th_resp r;
    char code[64], id[64], url[256], want[96];

    /* A cancel meets one 503: retried, then GHN cancels. A double click
     * queues one request, audited once. */
    char *sid = booked("Phường Cô Giang", code, id);
    char first_id[64];
    snprintf(first_id, sizeof first_id, "%s", id);
    ghn_fail("cancel", 1, 503);
    CHECK_INT(console_post(op_cookie, op_csrf, "cancel", sid, &r), 200);
    th_resp_free(&r);
    CHECK_INT(console_post(op_cookie, op_csrf, "cancel", sid, &r), 200);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'shipment.carrier_cancel' AND "
                    "subject = 'shipment:%s'", sid), 1);
    CHECK_INT(wait_for(1, 30, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND kind = 'cancel' AND state = 'done' AND attempts = 2", sid), 1);
    CHECK_INT(ghn_calls(sid, "cancels"), 2);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'cancelled'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE subject = 'shipment:%s' AND action LIKE "
                    "'shipment.cancel\\_%%'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'shipment.cancel_done' AND "
                    "subject = 'shipment:%s'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'ready_for_pickup'",
                    id), 1);
    free(sid);

    /* A cancel meeting 503s while GHN's own callback cancels the parcel:
     * the retry is not sent, the request closes done, audited once. */
    sid = booked("Phường 2", code, id);
    char *tn = tracking_of(id);
    ghn_fail("cancel", 1000, 503);
    CHECK_INT(console_post(op_cookie, op_csrf, "cancel", sid, &r), 200);
    th_resp_free(&r);
    CHECK_INT(wait_for(1, 30, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND attempts >= 1 AND result LIKE '%%503%%'", sid), 1);
    char b[256];
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"cancel\"}", tn);
    CHECK_INT(callback(b, NULL), 200);
    CHECK_INT(wait_for(1, 30, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND state IN ('done', 'failed', 'refused')", sid), 1);
    ghn_fail("cancel", 0, 503);
    CHECK_INT(count("SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' AND state = "
                    "'done' AND result LIKE 'the shipment finished%%'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'cancelled'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE subject = 'shipment:%s' AND action LIKE "
                    "'shipment.cancel\\_%%'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s' AND "
                    "status = 'cancelled' AND applied", sid), 1);
    free(tn);
    free(sid);

    /* A re-poll meets two 502s: retried, the third reads GHN's detail. */
    sid = booked("Phường Phạm Ngũ Lão", code, id);
    ghn_fail("detail", 2, 502);
    CHECK_INT(console_post(op_cookie, op_csrf, "repoll", sid, &r), 200);
    th_resp_free(&r);
    CHECK_INT(wait_for(1, 30, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND kind = 'track' AND state = 'done' AND attempts = 3", sid), 1);
    CHECK_INT(ghn_calls(sid, "details"), 3);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'shipment.track_done' AND "
                    "subject = 'shipment:%s'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'booked'", sid), 1);
    char repolled[64];
    snprintf(repolled, sizeof repolled, "%s", sid);
    free(sid);

    /* GHN refuses for good (400): one call, the request ends refused. */
    sid = booked("Phường 25", code, id);
    ghn_fail("cancel", 1, 400);
    CHECK_INT(console_post(op_cookie, op_csrf, "cancel", sid, &r), 200);
    th_resp_free(&r);
    CHECK_INT(wait_for(1, 30, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND kind = 'cancel' AND state = 'refused' AND attempts = 1", sid), 1);
    CHECK_INT(ghn_calls(sid, "cancels"), 1);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'booked'", sid), 1);
    free(sid);

    /* A cancel that keeps meeting 503: MAX_ATTEMPTS calls, then the request
     * ends failed with the reason, the shipment unchanged, one audit row;
     * the console shows the failure on the shipment's row. */
    sid = booked("Phường 1", code, id);
    ghn_fail("cancel", 1000, 503);
    long events = count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s'", sid);
    CHECK_INT(console_post(op_cookie, op_csrf, "cancel", sid, &r), 200);
    th_resp_free(&r);
    CHECK_INT(console_post(op_cookie, op_csrf, "cancel", sid, &r), 200);
    th_resp_free(&r);
    CHECK_INT(wait_for(1, 60, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND state IN ('failed', 'done', 'refused')", sid), 1);
    ghn_fail("cancel", 0, 503);
    CHECK_INT(count("SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' AND "
                    "kind = 'cancel' AND state = 'failed' AND attempts = %d AND result "
                    "LIKE '%%503%%'", sid, MAX_ATTEMPTS), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s'", sid), 1);
    CHECK_INT(ghn_calls(sid, "cancels"), MAX_ATTEMPTS);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'booked'", sid), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s'", sid), events);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'shipment.cancel_failed' AND "
                    "subject = 'shipment:%s'", sid), 1);
    char *reason = value("SELECT result FROM shipment_requests WHERE shipment_id = '%s'", sid);
    snprintf(url, sizeof url, "%s/console/shipments?q=%s", srv.url, code);
    CHECK_INT(th_console_get(&r, url, op_cookie), 200);
    snprintf(want, sizeof want, "id=\"request-%s\"", sid);
    CHECK(r.body && strstr(r.body, want));
    CHECK(r.body && strstr(r.body, "failed"));
    CHECK(r.body && reason && strstr(r.body, reason));
    th_resp_free(&r);
    /* Listed without a search too: a failed call needs a person. */
    snprintf(url, sizeof url, "%s/console/shipments", srv.url);
    CHECK_INT(th_console_get(&r, url, op_cookie), 200);
    snprintf(want, sizeof want, "id=\"request-%s\"", sid);
    CHECK(r.body && strstr(r.body, want));
    CHECK(r.body && reason && strstr(r.body, reason));
    th_resp_free(&r);
    free(reason);
    free(sid);

    /* Nobody answers at GHN's address (connection refused): a re-poll is
     * retried and ends failed after MAX_ATTEMPTS, nothing applied. */
    static char dead[128];
    snprintf(dead, sizeof dead, "CDS_GHN_URL=http://127.0.0.1:%d/shiip/public-api", th_free_port());
    restart3(dead, NULL, NULL);
    events = count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s'", repolled);
    long details = ghn_calls(repolled, "details");
    CHECK_INT(console_post(op_cookie, op_csrf, "repoll", repolled, &r), 200);
    th_resp_free(&r);
    CHECK_INT(wait_for(1, 60, "SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' "
                              "AND kind = 'track' AND state IN ('failed', 'refused')", repolled), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_requests WHERE shipment_id = '%s' AND "
                    "kind = 'track' AND state = 'failed' AND attempts = %d", repolled, MAX_ATTEMPTS), 1);
    CHECK_INT(ghn_calls(repolled, "details"), details);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s'", repolled),
              events);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'shipment.track_failed' AND "
                    "subject = 'shipment:%s'", repolled), 1);
    restart3(NULL, NULL, NULL);

    /* By now GHN's own cancel callback for the first shipment is in: still
     * one cancellation, the citizen told once on each channel. */
    sid = value("SELECT id FROM shipments WHERE dossier_id = '%s'", first_id);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE shipment_id = '%s' AND "
                    "status = 'cancelled' AND applied", sid), 1);
    CHECK(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = "
                "'ready_for_pickup'", first_id) >= 1);
    CHECK_INT(count("SELECT count(*) - count(DISTINCT channel) FROM outbox WHERE dossier_id = "
                    "'%s' AND template = 'ready_for_pickup'", first_id), 0);
    free(sid);
}

static void restart3(const char *extra1, const char *extra2, const char *extra3)
{
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    static const char *e[32];
    int n = 0;
    while (env[n]) {
        e[n] = env[n];
        n++;
    }
    if (extra1) e[n++] = extra1;
    if (extra2) e[n++] = extra2;
    if (extra3) e[n++] = extra3;
    e[n] = NULL;
    CHECK_INT(th_server_start_on(&srv, port, db, e), 0);
}

static void restart(const char *extra1, const char *extra2)
{
    restart3(extra1, extra2, NULL);
}

static void test_bad_token_and_allow_list(void)
{
    restart("CDS_GHN_TOKEN=not-our-token", "CDS_GHN_CALLBACK_ALLOW=192.0.2.0/24,2001:db8::/32");
    char code[64], id[64];
    ready(PROC_B, "Phường Đa Kao", code, id);
    CHECK_INT(wait_for(1, 20, "SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND "
                              "book_attempts >= 2 AND book_error LIKE '%%401%%' AND status = "
                              "'pending'", id), 1);
    /* A callback from 127.0.0.1, outside the allow-list, even with our token. */
    json_t *ans = NULL;
    char b[256];
    long ev0 = count("SELECT count(*) FROM shipment_events WHERE carrier = 'ghn'%s", "");
    snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"return\"}", tn_b);
    CHECK_INT(callback(b, &ans), 403);
    CHECK_STR(problem_of(ans), "courier_source_refused");
    json_decref(ans);
    CHECK_INT(count("SELECT count(*) FROM shipment_events WHERE carrier = 'ghn'%s", ""), ev0);
    /* With the right token the waiting booking goes through. */
    restart("CDS_GHN_CALLBACK_ALLOW=127.0.0.0/8", NULL);
    char *tn = tracking_of(id);
    CHECK(tn[0] == 'G');
    free(tn);
}

static void test_polling(void)
{
    restart3("CDS_COURIER_POLL_CARRIERS=ghn", "CDS_COURIER_POLL_AFTER=1",
             "CDS_COURIER_POLL_EVERY_MS=300");
    char code[64], id[64];
    ready(PROC_B, "Phường 10", code, id);
    char *tn = tracking_of(id);
    /* GHN's callbacks never arrive (sent with a token that is not ours). */
    const char *steps[] = {"picked", "delivering", "delivered"};
    for (int i = 0; i < 3; i++) {
        char b[256];
        snprintf(b, sizeof b, "{\"order_code\":\"%s\",\"status\":\"%s\",\"token\":"
                              "\"lost-callback-0123456789\"}", tn, steps[i]);
        CHECK_INT(callback(b, NULL), 401);
        usleep(20000); /* distinct times in GHN's log */
    }
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND status = 'booked'",
                    id), 1);
    /* The polling round reads GHN's detail log. */
    CHECK_INT(wait_for(1, 30, "SELECT count(*) FROM shipments WHERE dossier_id = '%s' AND "
                              "status = 'delivered'", id), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'completed'", id), 1);
    CHECK_INT(count("SELECT count(*) FROM shipment_events e JOIN shipments s ON s.id = e.shipment_id "
                    "WHERE s.dossier_id = '%s' AND e.source = 'poll' AND e.applied", id), 3);
    free(tn);
}

int main(void)
{
    db = th_db_new("delivery_ghn");
    port = th_free_port();
    static char t1[128], t2[128];
    snprintf(t1, sizeof t1, "CDS_SIM_VNPOST_TARGET=http://127.0.0.1:%d", port);
    snprintf(t2, sizeof t2, "CDS_SIM_GHN_TARGET=http://127.0.0.1:%d", port);
    const char *names[] = {"vneid", "vnpost", "ghn", NULL};
    const char *senv[] = {t1, t2, NULL};
    if (th_sim_start(&sim, names, senv) != 0) return 1;
    snprintf(vnpost, sizeof vnpost, "%s", th_sim_url(&sim, "vnpost"));
    snprintf(ghn, sizeof ghn, "%s", th_sim_url(&sim, "ghn"));
    static char iss[256], vurl[256], gurl[256];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    snprintf(vurl, sizeof vurl, "CDS_VNPOST_URL=%s", vnpost);
    snprintf(gurl, sizeof gurl, "CDS_GHN_URL=%s/shiip/public-api", ghn);
    int n = 0;
    env[n++] = iss;
    env[n++] = vurl;
    env[n++] = gurl;
    /* the GHN stand-in's development credentials (the server has none of
     * its own: scripts/lib/courier_env.sh gives them to scripts/run) */
    env[n++] = "CDS_GHN_TOKEN=cds-dev-ghn-token";
    env[n++] = "CDS_GHN_CALLBACK_TOKEN=cds-dev-ghn-callback-token";
    env[n++] = "CDS_AUTO_MIGRATE=1";
    env[n++] = "CDS_DELIVERY_BACKOFF_MS=100";
    env[n++] = "CDS_DELIVERY_BACKOFF_MAX_MS=300";
    env[n++] = "CDS_DELIVERY_POLL_MS=200";
    env[n++] = "CDS_DELIVERY_MAX_ATTEMPTS=12";
    env[n] = NULL;
    if (th_server_start_on(&srv, port, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;
    CHECK_INT(th_login_as(&srv, PID_A, &login_a), 200);

    test_catalog();
    test_two_agencies();
    test_journey();
    test_forged();
    test_bad_address();
    test_crash_lookup();
    test_fee_cancel();
    test_console_cancel();
    test_console_retry();
    test_bad_token_and_allow_list();
    test_polling();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    return t_done();
}
