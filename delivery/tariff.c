/* The delivery tariff and the citizen's delivery choice.
 *
 * The tariff (db/seed/tariff.json, or CDS_DELIVERY_TARIFF) prices a shipment
 * by zone and weight class: the zone is the recipient's district inside the
 * city, or "other provinces" outside it; the weight class is the procedure's
 * (procedure_weight_class) or the default. Names are compared folded:
 * without diacritics (core/vn_fold.h), lower-case, without
 * punctuation and without the administrative words (Quận, Huyện, Thành phố,
 * TP, Tỉnh), so the app may send "Q. Bình Thạnh" or "quan binh thanh".
 *
 * cds_delivery_choice() validates what the app sends (recipient, phone,
 * address down to the ward, notes, COD) and returns the object stored in
 * dossiers.delivery, with fee_vnd from the tariff: the payment module adds
 * it to the amount due unless cod is true (the courier collects it). The
 * tariff is loaded once before the threads start and only read afterwards. */
#include "internal.h"
#include "core/assets.h"
#include "core/log.h"
#include "core/vn.h"
#include "core/vn_fold.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 200
#define FOLD_MAX 256

static json_t *g_tariff;
static char g_city[FOLD_MAX];

const char *const cds_shipment_statuses[CDS_SHIPMENT_STATUS_COUNT] = {
    "booked",          "picked_up",       "in_transit", "out_for_delivery", "delivered",
    "delivery_failed", "returning",       "returned",   "cancelled"};

/* "Quận Bình Thạnh" -> "binh thanh"; "Q.1" -> "1"; "TP. Hồ Chí Minh" -> "ho chi minh". */
static void fold(const char *in, char out[FOLD_MAX])
{
    char ascii[FOLD_MAX * 2];
    out[0] = 0;
    if (!in || cds_vn_fold(in, ascii, sizeof ascii) < 0) return;
    char tmp[FOLD_MAX];
    size_t o = 0;
    int space = 1;
    for (const char *p = ascii; *p && o + 1 < sizeof tmp; p++) {
        unsigned char c = (unsigned char)tolower((unsigned char)*p);
        if (isalnum(c)) {
            /* "q1", "p12": a letter prefix glued to a number */
            tmp[o++] = (char)c;
            space = 0;
        } else if (!space) {
            tmp[o++] = ' ';
            space = 1;
        }
    }
    while (o && tmp[o - 1] == ' ') o--;
    tmp[o] = 0;
    static const char *const prefixes[] = {"thanh pho ", "tp ", "quan ", "huyen ", "thi xa ",
                                           "tinh ", "q ", "h ", "phuong ", "p ", "xa "};
    const char *s = tmp;
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
            size_t n = strlen(prefixes[i]);
            if (strncmp(s, prefixes[i], n) == 0 && s[n]) {
                s += n;
                again = 1;
            }
        }
    }
    /* "q1" / "p12" */
    if ((s[0] == 'q' || s[0] == 'p') && isdigit((unsigned char)s[1])) s++;
    snprintf(out, FOLD_MAX, "%s", s);
    if (strcmp(out, "hcm") == 0 || strcmp(out, "tphcm") == 0 || strcmp(out, "hcmc") == 0)
        snprintf(out, FOLD_MAX, "ho chi minh");
}

int cds_delivery_tariff_load(const char *text, char *err, size_t cap)
{
    json_error_t je;
    json_t *t = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!t) {
        snprintf(err, cap, "tariff: %s (line %d)", je.text, je.line);
        return -1;
    }
    json_t *classes = json_object_get(t, "weight_classes"), *zones = json_object_get(t, "zones");
    const char *dflt = json_string_value(json_object_get(t, "default_weight_class"));
    const char *city = json_string_value(json_object_get(t, "city"));
    if (!json_is_array(classes) || !json_array_size(classes) || !json_is_array(zones) ||
        !json_array_size(zones) || !dflt || !city) {
        snprintf(err, cap, "tariff: needs city, weight_classes, default_weight_class and zones");
        json_decref(t);
        return -1;
    }
    size_t i, k;
    json_t *z, *c;
    json_array_foreach(zones, i, z) {
        json_t *fees = json_object_get(z, "fees");
        json_array_foreach(classes, k, c) {
            const char *code = json_string_value(json_object_get(c, "code"));
            json_t *fee = json_object_get(fees, code ? code : "");
            if (!code || !json_is_integer(fee) || json_integer_value(fee) < 0 ||
                json_integer_value(fee) > 100000000) {
                snprintf(err, cap, "tariff: zones[%zu] has no fee (integer VND) for class %s", i,
                         code ? code : "?");
                json_decref(t);
                return -1;
            }
        }
        if (!json_is_array(json_object_get(z, "districts")) &&
            !json_is_true(json_object_get(z, "other_provinces"))) {
            snprintf(err, cap, "tariff: zones[%zu] needs districts or other_provinces", i);
            json_decref(t);
            return -1;
        }
    }
    json_decref(g_tariff);
    g_tariff = t;
    fold(city, g_city);
    return 0;
}

int dl_tariff_init(void)
{
    char err[256];
    char *text = NULL;
    if (g_delivery.tariff_file && *g_delivery.tariff_file) {
        FILE *f = fopen(g_delivery.tariff_file, "rb");
        if (!f) {
            cds_log(CDS_LOG_ERROR, "delivery_tariff", "cannot open %s", g_delivery.tariff_file);
            return -1;
        }
        text = calloc(1, 1024 * 1024 + 1);
        size_t n = text ? fread(text, 1, 1024 * 1024, f) : 0;
        fclose(f);
        if (!text || n == 0) {
            free(text);
            cds_log(CDS_LOG_ERROR, "delivery_tariff", "cannot read %s", g_delivery.tariff_file);
            return -1;
        }
    } else {
        const cds_asset *a = cds_asset_find("db/seed/tariff.json");
        if (!a) return -1;
        text = strdup(a->data);
    }
    int rc = cds_delivery_tariff_load(text, err, sizeof err);
    free(text);
    if (rc) cds_log(CDS_LOG_ERROR, "delivery_tariff", "%s", err);
    return rc;
}

void dl_tariff_free(void)
{
    json_decref(g_tariff);
    g_tariff = NULL;
}

static const json_t *zone_of(const char *province, const char *district)
{
    char p[FOLD_MAX], d[FOLD_MAX], x[FOLD_MAX];
    fold(province, p);
    fold(district, d);
    int in_city = strcmp(p, g_city) == 0;
    size_t i, k;
    json_t *z, *name;
    json_array_foreach(json_object_get(g_tariff, "zones"), i, z) {
        if (!in_city) {
            if (json_is_true(json_object_get(z, "other_provinces"))) return z;
            continue;
        }
        json_array_foreach(json_object_get(z, "districts"), k, name) {
            fold(json_string_value(name), x);
            if (x[0] && strcmp(x, d) == 0) return z;
        }
    }
    return NULL;
}

static const char *weight_class_of(const char *procedure_code)
{
    const char *w = json_string_value(
        json_object_get(json_object_get(g_tariff, "procedure_weight_class"), procedure_code ? procedure_code : ""));
    return w ? w : json_string_value(json_object_get(g_tariff, "default_weight_class"));
}

long long cds_delivery_fee(const char *province, const char *district, const char *weight_class)
{
    const json_t *z = g_tariff ? zone_of(province, district) : NULL;
    json_t *fee = z ? json_object_get(json_object_get(z, "fees"), weight_class ? weight_class : "") : NULL;
    return json_is_integer(fee) ? (long long)json_integer_value(fee) : -1;
}

long dl_weight_grams(const char *weight_class)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(g_tariff, "weight_classes"), i, c) {
        const char *code = json_string_value(json_object_get(c, "code"));
        json_t *g = json_object_get(c, "max_grams");
        if (code && weight_class && strcmp(code, weight_class) == 0 && json_is_integer(g) &&
            json_integer_value(g) > 0 && json_integer_value(g) <= 1000000)
            return (long)json_integer_value(g);
    }
    return -1;
}

/* A non-empty string of at most max bytes without control characters. */
static const char *text_field(const json_t *o, const char *key, size_t max)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) return NULL;
    size_t n = strlen(s), sp = 0;
    if (n == 0 || n > max || n != json_string_length(json_object_get(o, key))) return NULL;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return NULL;
        sp += s[i] == ' ';
    }
    return sp == n ? NULL : s;
}

static json_t *fail(char *err, size_t cap, const char *msg)
{
    snprintf(err, cap, "%s", msg);
    return NULL;
}

json_t *cds_delivery_choice(const json_t *in, const char *procedure_code, char *err, size_t cap)
{
    if (!in || json_is_null(in)) return json_pack("{s:s}", "method", "pickup");
    const char *m = json_string_value(json_object_get(in, "method"));
    if (!json_is_object(in) || !m) return fail(err, cap, "Phương thức nhận kết quả không hợp lệ.");
    if (strcmp(m, "pickup") == 0) {
        if (json_object_size(in) != 1) return fail(err, cap, "Nhận tại quầy không cần địa chỉ.");
        return json_pack("{s:s}", "method", "pickup");
    }
    if (strcmp(m, "post") != 0)
        return fail(err, cap, "Phương thức nhận kết quả phải là 'pickup' hoặc 'post'.");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v) {
        if (strcmp(k, "method") && strcmp(k, "recipient") && strcmp(k, "notes") && strcmp(k, "cod"))
            return fail(err, cap, "Thông tin nhận kết quả có trường không hợp lệ.");
    }
    json_t *rcp = json_object_get(in, "recipient");
    json_t *addr = json_object_get(rcp, "address");
    const char *name = text_field(rcp, "name", NAME_MAX_BYTES);
    const char *phone = json_string_value(json_object_get(rcp, "phone"));
    if (!json_is_object(rcp) || !name)
        return fail(err, cap, "Vui lòng nhập họ tên người nhận kết quả.");
    char norm[16];
    if (!phone || cds_vn_phone_normalize(phone, norm, sizeof norm) != 0)
        return fail(err, cap, "Số điện thoại người nhận không hợp lệ.");
    if (!json_is_object(addr)) return fail(err, cap, "Vui lòng nhập địa chỉ nhận kết quả.");
    static const struct {
        const char *key, *msg;
    } need[] = {
        {"province", "Địa chỉ nhận kết quả thiếu tỉnh/thành phố."},
        {"district", "Địa chỉ nhận kết quả thiếu quận/huyện."},
        {"ward", "Địa chỉ nhận kết quả thiếu phường/xã."},
        {"street", "Địa chỉ nhận kết quả thiếu số nhà, tên đường."},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!text_field(addr, need[i].key, NAME_MAX_BYTES)) return fail(err, cap, need[i].msg);
    json_t *notes = json_object_get(in, "notes");
    if (notes && !json_is_null(notes) && !text_field(in, "notes", 500))
        return fail(err, cap, "Ghi chú giao hàng phải là văn bản tối đa 500 byte.");
    json_t *cod = json_object_get(in, "cod");
    if (cod && !json_is_boolean(cod))
        return fail(err, cap, "Lựa chọn thu phí khi giao (cod) phải là true hoặc false.");
    const char *wc = weight_class_of(procedure_code);
    const char *province = json_string_value(json_object_get(addr, "province"));
    const char *district = json_string_value(json_object_get(addr, "district"));
    long long fee = cds_delivery_fee(province, district, wc);
    if (fee < 0)
        return fail(err, cap, "Quận/huyện nhận kết quả không có trong danh mục của Thành phố Hồ Chí "
                              "Minh; vui lòng chọn lại.");
    json_t *out = json_pack(
        "{s:s,s:{s:s,s:s,s:{s:s,s:s,s:s,s:s}},s:I,s:b,s:s,s:s}", "method", "post", "recipient",
        "name", name, "phone", norm, "address", "province", province, "district", district, "ward",
        json_string_value(json_object_get(addr, "ward")), "street",
        json_string_value(json_object_get(addr, "street")), "fee_vnd", (json_int_t)fee, "cod",
        json_is_true(cod), "weight_class", wc, "carrier",
        g_delivery.carrier && *g_delivery.carrier ? g_delivery.carrier : "vnpost");
    if (out && notes && json_is_string(notes))
        json_object_set(out, "notes", notes);
    if (!out) return fail(err, cap, "Thông tin nhận kết quả không hợp lệ.");
    return out;
}
