/* Unit tests of delivery/'s pure parts:
 *   - the tariff: zones by district (names folded: diacritics, case, the
 *     words Quận/Huyện/TP), other provinces, weight classes; a malformed
 *     tariff is refused;
 *   - the citizen's choice: pickup, post with every field, each missing
 *     address part, a bad phone, unknown fields, a district not in the
 *     tariff, COD;
 *   - the webhook signature: good, wrong secret, stale and future
 *     timestamps, malformed headers, the "sha256=" prefix, a changed body;
 *   - the VNPost adapter's events: one event, a list, raw codes kept,
 *     unknown codes, a delivery without proof of delivery, bad values;
 *   - the GHN adapter (no I/O): the create call it builds (GHN's field
 *     names, our shipment id as client_order_code, the agency's ShopId),
 *     how it reads GHN's answers (200/400/401/5xx, the lookup by client
 *     code), callbacks (every documented status mapped, event id
 *     OrderCode:Status:Time, Update_* taken without an event, unknown
 *     statuses and types refused) and the detail answer's log. (The
 *     source-address allow-list, core/cidr.h, is tested in test_settings.) */
#include "delivery/internal.h"
#include "core/assets.h"
#include "core/hmac_auth.h"
#include "tests/lib/t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_tariff(void)
{
    char err[256];
    const cds_asset *a = cds_asset_find("db/seed/tariff.json");
    CHECK(a != NULL);
    CHECK_INT(cds_delivery_tariff_load(a->data, err, sizeof err), 0);
    CHECK_INT(cds_delivery_fee("Thành phố Hồ Chí Minh", "Quận 1", "document"), 18000);
    CHECK_INT(cds_delivery_fee("TP. Hồ Chí Minh", "quan 1", "document"), 18000);
    CHECK_INT(cds_delivery_fee("TP.HCM", "Q.1", "parcel"), 35000);
    CHECK_INT(cds_delivery_fee("Hồ Chí Minh", "Bình Thạnh", "document"), 18000);
    CHECK_INT(cds_delivery_fee("Ho Chi Minh", "Quận Bình Thạnh", "small_parcel"), 25000);
    CHECK_INT(cds_delivery_fee("Thành phố Hồ Chí Minh", "Thành phố Thủ Đức", "document"), 22000);
    CHECK_INT(cds_delivery_fee("Thành phố Hồ Chí Minh", "Huyện Cần Giờ", "document"), 28000);
    CHECK_INT(cds_delivery_fee("Tỉnh Bình Dương", "Thành phố Thủ Dầu Một", "document"), 35000);
    CHECK_INT(cds_delivery_fee("Thành phố Hà Nội", "Quận Ba Đình", "parcel"), 65000);
    CHECK_INT(cds_delivery_fee("Thành phố Hồ Chí Minh", "Quận 99", "document"), -1);
    CHECK_INT(cds_delivery_fee("Thành phố Hồ Chí Minh", "Quận 1", "piano"), -1);
    /* Malformed tariffs are refused and the loaded one stays. */
    CHECK_INT(cds_delivery_tariff_load("{", err, sizeof err), -1);
    CHECK_INT(cds_delivery_tariff_load("{\"city\":\"HCM\"}", err, sizeof err), -1);
    CHECK_INT(cds_delivery_tariff_load(
                  "{\"city\":\"x\",\"default_weight_class\":\"d\",\"weight_classes\":[{\"code\":\"d\"}],"
                  "\"zones\":[{\"districts\":[\"a\"],\"fees\":{}}]}",
                  err, sizeof err),
              -1);
    CHECK(strstr(err, "fee") != NULL);
    CHECK_INT(cds_delivery_fee("Thành phố Hồ Chí Minh", "Quận 1", "document"), 18000);
}

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j) fprintf(stderr, "bad test JSON: %s: %s\n", e.text, s);
    return j;
}

static const char *choice_error(const char *text)
{
    static char err[300];
    json_t *in = J(text);
    json_t *out = cds_delivery_choice(in, "1.001193", err, sizeof err);
    json_decref(in);
    if (out) {
        json_decref(out);
        return NULL;
    }
    return err;
}

#define ADDR(extra)                                                                                \
    "{\"method\":\"post\",\"recipient\":{\"name\":\"Nguyễn Văn An\",\"phone\":\"+84912345678\","    \
    "\"address\":{" extra "}}}"

static void test_choice(void)
{
    char err[300];
    json_t *out = cds_delivery_choice(NULL, "x", err, sizeof err);
    CHECK_STR(json_string_value(json_object_get(out, "method")), "pickup");
    json_decref(out);
    CHECK(choice_error("{\"method\":\"pickup\"}") == NULL);
    CHECK(choice_error("{\"method\":\"pickup\",\"recipient\":{}}") != NULL);
    CHECK(choice_error("{\"method\":\"drone\"}") != NULL);
    CHECK(choice_error("[]") != NULL);

    json_t *in = J("{\"method\":\"post\",\"cod\":true,\"notes\":\"Gọi trước\",\"recipient\":{\"name\":"
                   "\"Nguyễn Văn An\",\"phone\":\"+84 912 345 678\",\"address\":{\"province\":\"TP. Hồ "
                   "Chí Minh\",\"district\":\"Quận 3\",\"ward\":\"Phường 6\",\"street\":\"1 Lê Quý Đôn\"}}}");
    out = cds_delivery_choice(in, "1.001193", err, sizeof err);
    json_decref(in);
    CHECK(out != NULL);
    CHECK_INT(json_integer_value(json_object_get(out, "fee_vnd")), 18000);
    CHECK(json_is_true(json_object_get(out, "cod")));
    CHECK_STR(json_string_value(json_object_get(out, "weight_class")), "document");
    CHECK_STR(json_string_value(json_object_get(out, "carrier")), "vnpost");
    CHECK_STR(json_string_value(json_object_get(out, "notes")), "Gọi trước");
    CHECK_STR(json_string_value(json_object_get(json_object_get(out, "recipient"), "phone")), "0912345678");
    json_decref(out);

    const char *e;
    e = choice_error(ADDR("\"province\":\"HCM\",\"district\":\"Quận 1\",\"street\":\"1 A\""));
    CHECK(e && strstr(e, "phường/xã") != NULL);
    e = choice_error(ADDR("\"province\":\"HCM\",\"district\":\"Quận 1\",\"ward\":\"  \",\"street\":\"1 A\""));
    CHECK(e && strstr(e, "phường/xã") != NULL);
    e = choice_error(ADDR("\"district\":\"Quận 1\",\"ward\":\"P1\",\"street\":\"1 A\""));
    CHECK(e && strstr(e, "tỉnh") != NULL);
    e = choice_error(ADDR("\"province\":\"HCM\",\"ward\":\"P1\",\"street\":\"1 A\""));
    CHECK(e && strstr(e, "quận/huyện") != NULL);
    e = choice_error(ADDR("\"province\":\"HCM\",\"district\":\"Quận 1\",\"ward\":\"P1\""));
    CHECK(e && strstr(e, "số nhà") != NULL);
    e = choice_error(ADDR("\"province\":\"HCM\",\"district\":\"Quận 77\",\"ward\":\"P1\",\"street\":\"1 A\""));
    CHECK(e && strstr(e, "danh mục") != NULL);
    CHECK(choice_error(ADDR("\"province\":\"HCM\",\"district\":\"Quận 1\",\"ward\":\"P1\",\"street\":\"1 A\"")) == NULL);
    CHECK(choice_error("{\"method\":\"post\",\"recipient\":{\"name\":\"A\",\"phone\":\"12345\",\"address\":"
                       "{\"province\":\"HCM\",\"district\":\"Q1\",\"ward\":\"P1\",\"street\":\"1 A\"}}}") != NULL);
    CHECK(choice_error("{\"method\":\"post\",\"recipient\":{\"phone\":\"0912345678\",\"address\":"
                       "{\"province\":\"HCM\",\"district\":\"Q1\",\"ward\":\"P1\",\"street\":\"1 A\"}}}") != NULL);
    CHECK(choice_error("{\"method\":\"post\",\"cod\":\"yes\",\"recipient\":{\"name\":\"A\",\"phone\":"
                       "\"0912345678\",\"address\":{\"province\":\"HCM\",\"district\":\"Q1\",\"ward\":"
                       "\"P1\",\"street\":\"1 A\"}}}") != NULL);
    CHECK(choice_error("{\"method\":\"post\",\"fee_vnd\":0,\"recipient\":{\"name\":\"A\",\"phone\":"
                       "\"0912345678\",\"address\":{\"province\":\"HCM\",\"district\":\"Q1\",\"ward\":"
                       "\"P1\",\"street\":\"1 A\"}}}") != NULL); /* the fee is ours to set */
}

static void test_signature(void)
{
    const char *body = "{\"event_id\":\"e1\"}";
    char sig[65], ts[24], pre[80];
    time_t now = 1800000000;
    snprintf(ts, sizeof ts, "%lld", (long long)now);
    dl_sign("s3cret", ts, body, strlen(body), sig);
    CHECK_INT(strlen(sig), 64);
    CHECK_INT(dl_sig_check("s3cret", ts, sig, body, strlen(body), now, 300), CDS_HMAC_OK);
    snprintf(pre, sizeof pre, "sha256=%s", sig);
    CHECK_INT(dl_sig_check("s3cret", ts, pre, body, strlen(body), now, 300), CDS_HMAC_OK);
    CHECK_INT(dl_sig_check("other", ts, sig, body, strlen(body), now, 300), CDS_HMAC_BAD);
    CHECK_INT(dl_sig_check("s3cret", ts, sig, "{\"event_id\":\"e2\"}", strlen(body), now, 300), CDS_HMAC_BAD);
    CHECK_INT(dl_sig_check("s3cret", ts, sig, body, strlen(body), now + 301, 300), CDS_HMAC_STALE);
    CHECK_INT(dl_sig_check("s3cret", ts, sig, body, strlen(body), now - 301, 300), CDS_HMAC_STALE);
    CHECK_INT(dl_sig_check("s3cret", ts, sig, body, strlen(body), now + 300, 300), CDS_HMAC_OK);
    CHECK_INT(dl_sig_check("s3cret", NULL, sig, body, strlen(body), now, 300), CDS_HMAC_MISSING);
    CHECK_INT(dl_sig_check("s3cret", ts, NULL, body, strlen(body), now, 300), CDS_HMAC_MISSING);
    CHECK_INT(dl_sig_check("s3cret", "12a", sig, body, strlen(body), now, 300), CDS_HMAC_MISSING);
    CHECK_INT(dl_sig_check("s3cret", ts, "abc", body, strlen(body), now, 300), CDS_HMAC_MISSING);
    CHECK_INT(dl_sig_check(NULL, ts, sig, body, strlen(body), now, 300), CDS_HMAC_UNKNOWN);
    /* Upper-case hex is the same signature. */
    for (char *c = sig; *c; c++)
        if (*c >= 'a' && *c <= 'f') *c = (char)(*c - 32);
    CHECK_INT(dl_sig_check("s3cret", ts, sig, body, strlen(body), now, 300), CDS_HMAC_OK);
}

static int parse(const char *body, dl_event *ev, size_t cap, size_t *n, char *err)
{
    return dl_vnpost.parse_events(body, strlen(body), ev, cap, n, err, 300);
}

static void test_vnpost_events(void)
{
    dl_event ev[4];
    size_t n = 9;
    char err[300];
    CHECK_INT(parse("{\"event_id\":\"e1\",\"tracking_number\":\"EB123456789VN\",\"status_code\":\"550\","
                    "\"reason_code\":\"R01\",\"reason\":\"Vắng nhà\",\"location\":\"Bưu cục 1\","
                    "\"occurred_at\":\"2026-11-23T08:00:00+07:00\"}",
                    ev, 4, &n, err),
              0);
    CHECK_INT(n, 1);
    CHECK_STR(ev[0].status, "delivery_failed");
    CHECK_STR(ev[0].raw_code, "550/R01");
    CHECK_STR(ev[0].raw_reason, "Vắng nhà");
    CHECK_STR(ev[0].location, "Bưu cục 1");
    CHECK_INT(ev[0].cod, -1);
    CHECK(ev[0].pod == NULL);
    dl_event_clear(&ev[0]);

    const char *pod = "\"pod\":{\"recipient_name\":\"Trần B\",\"relation\":\"spouse\",\"delivered_at\":"
                      "\"2026-11-23T09:00:00+07:00\",\"position\":{\"lat\":10.7,\"lng\":106.6},"
                      "\"image_ref\":\"r\",\"image_sha256\":"
                      "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}";
    char body[2048];
    snprintf(body, sizeof body,
             "{\"events\":[{\"event_id\":\"a\",\"tracking_number\":\"EB1VN00\",\"status_code\":\"200\","
             "\"occurred_at\":\"2026-11-23T08:00:00Z\"},{\"event_id\":\"b\",\"tracking_number\":"
             "\"EB1VN00\",\"status_code\":\"500\",\"occurred_at\":\"2026-11-23T09:00:00+07:00\","
             "\"cod_collected\":18000,%s}]}",
             pod);
    CHECK_INT(parse(body, ev, 4, &n, err), 0);
    CHECK_INT(n, 2);
    CHECK_STR(ev[0].status, "picked_up");
    CHECK_STR(ev[1].status, "delivered");
    CHECK_INT(ev[1].cod, 18000);
    CHECK(ev[1].pod && strstr(ev[1].pod, "\"relation\":\"spouse\"") != NULL);
    for (size_t i = 0; i < n; i++) dl_event_clear(&ev[i]);
    /* Tracking answers carry the list under data. */
    CHECK_INT(parse("{\"code\":\"00\",\"data\":{\"events\":[]}}", ev, 4, &n, err), 0);
    CHECK_INT(n, 0);

    static const char *const bad[] = {
        "[]",
        "{\"event_id\":\"e\",\"tracking_number\":\"EB1VN00\",\"status_code\":\"123\",\"occurred_at\":"
        "\"2026-11-23T08:00:00Z\"}",
        "{\"event_id\":\"e\",\"tracking_number\":\"EB1VN00\",\"status_code\":\"500\",\"occurred_at\":"
        "\"2026-11-23T08:00:00Z\"}", /* delivered without proof */
        "{\"event_id\":\"e\",\"tracking_number\":\"EB 1\",\"status_code\":\"200\",\"occurred_at\":"
        "\"2026-11-23T08:00:00Z\"}",
        "{\"event_id\":\"e\",\"tracking_number\":\"EB1VN00\",\"status_code\":\"200\",\"occurred_at\":"
        "\"yesterday\"}",
        "{\"event_id\":\"\",\"tracking_number\":\"EB1VN00\",\"status_code\":\"200\",\"occurred_at\":"
        "\"2026-11-23T08:00:00Z\"}",
        "{\"event_id\":\"e\",\"tracking_number\":\"EB1VN00\",\"status_code\":\"200\",\"occurred_at\":"
        "\"2026-11-23T08:00:00Z\",\"cod_collected\":-5}",
        "{\"event_id\":\"e\",\"tracking_number\":\"EB1VN00\",\"status_code\":\"200\",\"occurred_at\":"
        "\"2026-11-23T08:00:00Z\",\"reason\":\"a\\u0000b\"}",
        "{\"event_id\":\"e\",\"event_id\":\"f\",\"tracking_number\":\"EB1VN00\",\"status_code\":\"200\","
        "\"occurred_at\":\"2026-11-23T08:00:00Z\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK_INT(parse(bad[i], ev, 4, &n, err), -1);
        CHECK(err[0] != 0);
        CHECK_INT(n, 0);
    }
    /* A proof of delivery with a bad hash or position is no proof. */
    snprintf(body, sizeof body,
             "{\"event_id\":\"b\",\"tracking_number\":\"EB1VN00\",\"status_code\":\"500\",\"occurred_at\":"
             "\"2026-11-23T09:00:00+07:00\",\"pod\":{\"recipient_name\":\"B\",\"delivered_at\":"
             "\"2026-11-23T09:00:00+07:00\",\"image_ref\":\"r\",\"image_sha256\":\"abc\"}}");
    CHECK_INT(parse(body, ev, 4, &n, err), -1);
    /* More events than room: refused as a whole. */
    CHECK_INT(parse("{\"events\":[{},{}]}", ev, 1, &n, err), -1);
}

static cds_http_response answer(long status, const char *body)
{
    cds_http_response r = {.status = status, .body = body, .body_len = body ? strlen(body) : 0};
    return r;
}

static void test_ghn_booking(void)
{
    char err[300], tn[48];
    long retry = 0;
    g_delivery.ghn_url = "https://dev-online-gateway.ghn.vn/shiip/public-api";
    g_delivery.ghn_token = "tok";
    g_delivery.ghn_shop_id = "885";
    g_delivery.ghn_service_type_id = 2;
    json_t *p = json_pack(
        "{s:s,s:s,s:I,s:{s:s,s:s},s:{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s,s:s,s:s}}}}", "shipment_id",
        "7c0e6f55-0000-4000-8000-000000000001", "dossier_code", "000.20.02.H29-261204-0001",
        "cod_amount_vnd", (json_int_t)18000, "sender", "name", "UBND", "carrier_account", "886",
        "delivery", "weight_class", "document", "notes", "Gọi trước", "recipient", "name",
        "Nguyễn Văn An", "phone", "0912345678", "address", "province", "Thành phố Hồ Chí Minh",
        "district", "Quận 1", "ward", "Phường Bến Nghé", "street", "12 Nguyễn Huệ");
    dl_http h = {0};
    CHECK_INT(dl_ghn.book_request(p, &h, err, sizeof err), 0);
    CHECK_STR(h.method, "POST");
    CHECK_STR(h.url, "https://dev-online-gateway.ghn.vn/shiip/public-api/v2/shipping-order/create");
    CHECK_STR(h.headers[2], "Token: tok");
    CHECK_STR(h.headers[3], "ShopId: 886"); /* the agency's own shop */
    json_t *b = json_loads(h.body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(b, "client_order_code")),
              "7c0e6f55-0000-4000-8000-000000000001");
    CHECK_STR(json_string_value(json_object_get(b, "to_name")), "Nguyễn Văn An");
    CHECK_STR(json_string_value(json_object_get(b, "to_phone")), "0912345678");
    CHECK_STR(json_string_value(json_object_get(b, "to_address")), "12 Nguyễn Huệ");
    CHECK_STR(json_string_value(json_object_get(b, "to_ward_name")), "Phường Bến Nghé");
    CHECK_STR(json_string_value(json_object_get(b, "to_district_name")), "Quận 1");
    CHECK_STR(json_string_value(json_object_get(b, "to_province_name")), "Thành phố Hồ Chí Minh");
    CHECK_STR(json_string_value(json_object_get(b, "required_note")), "KHONGCHOXEMHANG");
    CHECK_INT(json_integer_value(json_object_get(b, "payment_type_id")), 1);
    CHECK_INT(json_integer_value(json_object_get(b, "service_type_id")), 2);
    CHECK_INT(json_integer_value(json_object_get(b, "cod_amount")), 18000);
    CHECK_INT(json_integer_value(json_object_get(b, "weight")), 500);
    CHECK(json_integer_value(json_object_get(b, "length")) > 0);
    CHECK_STR(json_string_value(json_object_get(b, "note")), "Gọi trước");
    json_decref(b);
    dl_http_clear(&h);
    /* Without the agency's shop: the server's. */
    json_object_del(json_object_get(p, "sender"), "carrier_account");
    CHECK_INT(dl_ghn.book_request(p, &h, err, sizeof err), 0);
    CHECK_STR(h.headers[3], "ShopId: 885");
    dl_http_clear(&h);

    /* GHN's answers. */
    cds_http_response r = answer(200, "{\"code\":200,\"message\":\"Success\",\"data\":{\"order_code\":"
                                      "\"GAUVHB7M\",\"total_fee\":22000}}");
    CHECK_INT(dl_ghn.book_parse(&r, tn, sizeof tn, &retry, err, sizeof err), DL_BOOKED);
    CHECK_STR(tn, "GAUVHB7M");
    r = answer(400, "{\"code\":400,\"message\":\"Bad request\",\"code_message_value\":\"Sai phường\"}");
    CHECK_INT(dl_ghn.book_parse(&r, tn, sizeof tn, &retry, err, sizeof err), DL_LOOKUP);
    CHECK(strstr(err, "Sai phường") != NULL);
    r = answer(401, "{\"code\":401,\"message\":\"Token is not valid\"}");
    CHECK_INT(dl_ghn.book_parse(&r, tn, sizeof tn, &retry, err, sizeof err), DL_RETRY);
    r = answer(502, NULL);
    CHECK_INT(dl_ghn.book_parse(&r, tn, sizeof tn, &retry, err, sizeof err), DL_RETRY);
    r = answer(200, "{\"code\":200,\"data\":{}}"); /* no order code: not booked */
    CHECK_INT(dl_ghn.book_parse(&r, tn, sizeof tn, &retry, err, sizeof err), DL_RETRY);
    r = answer(404, "{}");
    CHECK_INT(dl_ghn.book_parse(&r, tn, sizeof tn, &retry, err, sizeof err), DL_FAILED);
    cds_http_response none = {.status = 0, .error = "timeout"};
    CHECK_INT(dl_ghn.book_parse(&none, tn, sizeof tn, &retry, err, sizeof err), DL_RETRY);

    /* The lookup by our client order code. */
    CHECK_INT(dl_ghn.lookup_request(p, &h, err, sizeof err), 0);
    CHECK(strstr(h.url, "/v2/shipping-order/detail-by-client-code") != NULL);
    CHECK(strstr(h.body, "7c0e6f55-0000-4000-8000-000000000001") != NULL);
    dl_http_clear(&h);
    r = answer(200, "{\"code\":200,\"data\":{\"order_code\":\"GAUVHB7M\"}}");
    CHECK_INT(dl_ghn.lookup_parse(&r, tn, sizeof tn, err, sizeof err), DL_BOOKED);
    r = answer(400, "{\"code\":400,\"message\":\"not found\"}");
    CHECK_INT(dl_ghn.lookup_parse(&r, tn, sizeof tn, err, sizeof err), DL_FAILED);
    r = answer(503, NULL);
    CHECK_INT(dl_ghn.lookup_parse(&r, tn, sizeof tn, err, sizeof err), DL_RETRY);
    json_decref(p);

    /* Tracking asks GHN's detail. */
    CHECK_INT(dl_ghn.track_request("GAUVHB7M", &h, err, sizeof err), 0);
    CHECK(strstr(h.url, "/v2/shipping-order/detail") != NULL);
    CHECK_STR(h.body, "{\"order_code\":\"GAUVHB7M\"}");
    dl_http_clear(&h);
    CHECK_INT(dl_ghn.track_request("GAU VHB", &h, err, sizeof err), -1);
    dl_http_clear(&h);
}

static int ghn_parse(const char *body, dl_event *ev, size_t cap, size_t *n, char *err)
{
    return dl_ghn.parse_events(body, strlen(body), ev, cap, n, err, 300);
}

static void test_ghn_callbacks(void)
{
    static const char *const map[][2] = {
        {"ready_to_pick", "booked"},         {"picking", "booked"},
        {"money_collect_picking", "booked"}, {"picked", "picked_up"},
        {"storing", "in_transit"},           {"transporting", "in_transit"},
        {"sorting", "in_transit"},           {"delivering", "out_for_delivery"},
        {"money_collect_delivering", "out_for_delivery"},
        {"delivered", "delivered"},          {"delivery_fail", "delivery_failed"},
        {"waiting_to_return", "returning"},  {"return", "returning"},
        {"return_transporting", "returning"}, {"return_sorting", "returning"},
        {"returning", "returning"},          {"return_fail", "returning"},
        {"returned", "returned"},            {"cancel", "cancelled"},
        {"exception", "in_transit"},         {"damage", "delivery_failed"},
        {"lost", "delivery_failed"},
    };
    dl_event ev[4];
    size_t n = 0;
    char err[300], body[1024];
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"OrderCode\":\"GAUVHB7M\",\"ClientOrderCode\":\"x\",\"ShopID\":885,\"Status\":"
                 "\"%s\",\"Type\":\"Switch_status\",\"Time\":\"2026-12-04T03:52:50.158Z\"}",
                 map[i][0]);
        CHECK_INT(ghn_parse(body, ev, 4, &n, err), 0);
        CHECK_INT(n, 1);
        if (n == 1) {
            CHECK_STR(ev[0].status, map[i][1]);
            CHECK_STR(ev[0].raw_code, map[i][0]);
            dl_event_clear(&ev[0]);
        }
    }
    /* The documented callback, with reason, warehouse and COD. */
    CHECK_INT(ghn_parse("{\"CODAmount\":18000,\"CODTransferDate\":null,\"ClientOrderCode\":\"s1\","
                        "\"ConvertedWeight\":500,\"Description\":\"Giao hàng thành công\",\"Fee\":"
                        "{\"MainService\":16500},\"Height\":2,\"IsPartialReturn\":false,\"Length\":35,"
                        "\"OrderCode\":\"GAUVHB7M\",\"PartialReturnCode\":\"\",\"PaymentType\":1,"
                        "\"Reason\":\"\",\"ReasonCode\":\"\",\"ShopID\":885,\"Status\":\"delivered\","
                        "\"Time\":\"2026-12-04T03:52:50.158Z\",\"TotalFee\":16500,\"Type\":"
                        "\"switch_status\",\"Warehouse\":\"Bưu cục Quận 1\",\"Weight\":500,\"Width\":25}",
                        ev, 4, &n, err),
              0);
    CHECK_STR(ev[0].event_id, "GAUVHB7M:delivered:2026-12-04T03:52:50.158Z");
    CHECK_STR(ev[0].tracking, "GAUVHB7M");
    CHECK_STR(ev[0].location, "Bưu cục Quận 1");
    CHECK_INT(ev[0].cod, 18000);
    CHECK(ev[0].pod == NULL);
    dl_event_clear(&ev[0]);
    CHECK_INT(ghn_parse("{\"OrderCode\":\"GAUVHB7M\",\"Status\":\"delivery_fail\",\"Type\":"
                        "\"Switch_status\",\"Time\":\"2026-12-04T03:52:50Z\",\"Reason\":\"Không liên "
                        "lạc được\",\"ReasonCode\":\"GHN-DFC1A0\",\"CODAmount\":18000}",
                        ev, 4, &n, err),
              0);
    CHECK_STR(ev[0].raw_code, "delivery_fail/GHN-DFC1A0");
    CHECK_STR(ev[0].raw_reason, "Không liên lạc được");
    CHECK_INT(ev[0].cod, -1); /* only a delivery collects */
    dl_event_clear(&ev[0]);
    /* Updates without a status change: taken, no event. */
    CHECK_INT(ghn_parse("{\"OrderCode\":\"GAUVHB7M\",\"Status\":\"storing\",\"Type\":\"Update_weight\","
                        "\"Time\":\"2026-12-04T03:52:50Z\"}", ev, 4, &n, err), 1);
    CHECK_INT(n, 0);
    CHECK_INT(ghn_parse("{\"OrderCode\":\"GAUVHB7M\",\"Type\":\"Update_cod\"}", ev, 4, &n, err), 1);
    /* Refused: unknown status or type, no Time, a bad Time, a bad OrderCode,
     * a negative COD, not an object, duplicate keys. */
    const char *bad[] = {
        "{\"OrderCode\":\"GAUVHB7M\",\"Status\":\"teleported\",\"Type\":\"Switch_status\",\"Time\":\"2026-12-04T03:52:50Z\"}",
        "{\"OrderCode\":\"GAUVHB7M\",\"Status\":\"picked\",\"Type\":\"Repaint\",\"Time\":\"2026-12-04T03:52:50Z\"}",
        "{\"OrderCode\":\"GAUVHB7M\",\"Status\":\"picked\",\"Type\":\"Switch_status\"}",
        "{\"OrderCode\":\"GAUVHB7M\",\"Status\":\"picked\",\"Type\":\"Switch_status\",\"Time\":\"yesterday\"}",
        "{\"OrderCode\":\"GA UV\",\"Status\":\"picked\",\"Type\":\"Switch_status\",\"Time\":\"2026-12-04T03:52:50Z\"}",
        "{\"OrderCode\":\"GAUVHB7M\",\"Status\":\"delivered\",\"Type\":\"Switch_status\",\"Time\":\"2026-12-04T03:52:50Z\",\"CODAmount\":-1}",
        "{\"OrderCode\":\"GAUVHB7M\",\"Status\":\"picked\",\"Time\":\"2026-12-04T03:52:50Z\"}",
        "[]",
        "{\"OrderCode\":\"A\",\"OrderCode\":\"GAUVHB7M\",\"Status\":\"picked\",\"Type\":\"Switch_status\",\"Time\":\"2026-12-04T03:52:50Z\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(ghn_parse(bad[i], ev, 4, &n, err), -1);
        CHECK_INT(n, 0);
    }
    /* The detail answer (polling): every log entry, GHN's order. */
    CHECK_INT(ghn_parse("{\"code\":200,\"message\":\"Success\",\"data\":{\"order_code\":\"GAUVHB7M\","
                        "\"status\":\"delivering\",\"log\":[{\"status\":\"ready_to_pick\",\"updated_date\":"
                        "\"2026-12-04T01:00:00Z\"},{\"status\":\"picked\",\"updated_date\":"
                        "\"2026-12-04T02:00:00Z\"},{\"status\":\"delivering\",\"updated_date\":"
                        "\"2026-12-04T03:00:00Z\"}]}}", ev, 4, &n, err), 0);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(ev[1].status, "picked_up");
        CHECK_STR(ev[1].event_id, "GAUVHB7M:picked:2026-12-04T02:00:00Z");
        CHECK_STR(ev[2].status, "out_for_delivery");
    }
    for (size_t i = 0; i < n; i++) dl_event_clear(&ev[i]);
    /* A log longer than the room: refused as a whole. */
    CHECK_INT(ghn_parse("{\"code\":200,\"data\":{\"order_code\":\"GAUVHB7M\",\"log\":[{},{}]}}", ev, 1,
                        &n, err), -1);
}

int main(void)
{
    test_tariff();
    test_choice();
    test_signature();
    test_vnpost_events();
    test_ghn_booking();
    test_ghn_callbacks();
    return t_done();
}
