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
 *     unknown codes, a delivery without proof of delivery, bad values. */
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

int main(void)
{
    test_tariff();
    test_choice();
    test_signature();
    test_vnpost_events();
    return t_done();
}
