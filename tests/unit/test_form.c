/* Unit tests of dossiers/form.c: the schema check (what the catalog may
 * store), validation of submitted values field type by field type, valid and
 * invalid, the Vietnamese messages naming the label, and the prefill from a
 * VNeID profile (only values the form would accept). Also the procedure
 * shape check of dossiers/catalog.c that the catalog loader and the TTHC
 * system's updates share. */
#include "dossiers/internal.h"
#include "tests/lib/t.h"

#include <stdlib.h>
#include <string.h>

int cds_form_schema_check(const json_t *schema, char *err, size_t cap);
int cds_catalog_procedure_check(const json_t *p, char *err, size_t cap);

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j) fprintf(stderr, "bad test JSON: %s: %s\n", e.text, s);
    return j;
}

static const char SCHEMA[] =
    "{\"fields\":["
    "{\"name\":\"full_name\",\"label\":\"Họ và "
    "tên\",\"type\":\"string\",\"required\":true,\"max_length\":10,\"prefill\":\"full_name\"},"
    "{\"name\":\"note\",\"label\":\"Ghi chú\",\"type\":\"text\",\"max_length\":20},"
    "{\"name\":\"title\",\"label\":\"Tiêu đề\",\"type\":\"string\"},"
    "{\"name\":\"story\",\"label\":\"Trình bày\",\"type\":\"text\"},"
    "{\"name\":\"floors\",\"label\":\"Số tầng\",\"type\":\"integer\",\"min\":1,\"max\":12},"
    "{\"name\":\"area\",\"label\":\"Diện tích (m²)\",\"type\":\"number\",\"min\":0.5,\"max\":1000},"
    "{\"name\":\"agree\",\"label\":\"Cam kết\",\"type\":\"boolean\",\"required\":true},"
    "{\"name\":\"day\",\"label\":\"Ngày cấp\",\"type\":\"date\"},"
    "{\"name\":\"kind\",\"label\":\"Loại\",\"type\":\"enum\",\"options\":[\"Mới\",\"Sửa chữa\"]},"
    "{\"name\":\"gender\",\"label\":\"Giới "
    "tính\",\"type\":\"enum\",\"options\":[{\"value\":\"male\",\"label\":\"Nam\"},{\"value\":"
    "\"female\",\"label\":\"Nữ\"}],\"prefill\":\"gender\"},"
    "{\"name\":\"pid\",\"label\":\"Số định danh cá "
    "nhân\",\"type\":\"personal_id\",\"prefill\":\"personal_id\"},"
    "{\"name\":\"phone\",\"label\":\"Số điện thoại\",\"type\":\"phone\",\"prefill\":\"phone\"}"
    "]}";

static json_t *schema;

/* Validates `values` (JSON text); returns 0/-1 and leaves field and msg. */
static char field[128], msg[512];
static int V(const char *values)
{
    json_t *v = J(values);
    int rc = cds_form_validate(schema, v, field, sizeof field, msg, sizeof msg);
    json_decref(v);
    return rc;
}

/* Base valid values plus one extra "key":value pair (or replacing one). */
static int W(const char *extra)
{
    size_t cap = strlen(extra) + 64;
    char *buf = malloc(cap);
    snprintf(buf, cap, "{\"full_name\":\"Nguyễn An\",\"agree\":true%s%s}", extra[0] ? "," : "",
             extra);
    int rc = V(buf);
    free(buf);
    return rc;
}

static void test_valid(void)
{
    CHECK_INT(W(""), 0);
    CHECK_STR(field, "");
    CHECK_STR(msg, "");
    CHECK_INT(V("{\"full_name\":\"Nguyễn An\",\"agree\":false}"), 0); /* false is an answer */
    CHECK_INT(W("\"note\":\"dòng 1\\ndòng 2\\tcột\",\"title\":\"\",\"floors\":12,\"area\":12.5,"
                "\"day\":\"2024-02-29\",\"kind\":\"Sửa chữa\",\"gender\":\"female\","
                "\"pid\":\"079085001234\",\"phone\":\"+84 912 345 678\""),
              0);
    CHECK_INT(W("\"area\":1000"), 0); /* an integer is a number */
    CHECK_INT(W("\"floors\":1"), 0);
    CHECK_INT(W("\"floors\":null,\"note\":null"), 0); /* null = not given */
    CHECK_INT(W("\"phone\":\"0381234567\""), 0);
    CHECK_INT(W("\"day\":\"2000-02-29\""), 0);
}

static void test_required_and_unknown(void)
{
    CHECK_INT(V("{\"agree\":true}"), -1);
    CHECK_STR(field, "full_name");
    CHECK_STR(msg, "Vui lòng nhập “Họ và tên”.");
    CHECK_INT(V("{\"full_name\":null,\"agree\":true}"), -1);
    CHECK_STR(field, "full_name");
    CHECK_INT(V("{\"full_name\":\"   \",\"agree\":true}"), -1); /* blanks are not a name */
    CHECK_STR(field, "full_name");
    CHECK_INT(V("{\"full_name\":\"An\"}"), -1);
    CHECK_STR(field, "agree");
    CHECK_STR(msg, "Vui lòng chọn “Cam kết”.");
    CHECK_INT(W("\"ful_name\":\"x\""), -1);
    CHECK_STR(field, "ful_name");
    CHECK(strstr(msg, "không có trường") != NULL);
    CHECK_INT(V("[]"), -1);
    CHECK_STR(field, "");
    CHECK(strstr(msg, "đối tượng JSON") != NULL);
    CHECK_INT(V("\"x\""), -1);
    /* An unknown key with a long Vietnamese name: the message stays valid UTF-8. */
    char big[1200];
    size_t o = 0;
    big[o++] = '"';
    for (int i = 0; i < 150; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "ệ");
    snprintf(big + o, sizeof big - o, "\":1");
    CHECK_INT(W(big), -1);
    json_t *s = json_string(msg);
    CHECK(s != NULL);
    json_decref(s);
}

static void test_strings(void)
{
    CHECK_INT(W("\"full_name\":\"Đặng Thị Ngọc\""), -1); /* 13 characters > 10 */
    CHECK_STR(field, "full_name");
    CHECK_STR(msg, "“Họ và tên” không được dài quá 10 ký tự.");
    CHECK_INT(W("\"full_name\":\"Đặng Thị N\""), 0); /* exactly 10 characters, more bytes */
    CHECK_INT(W("\"full_name\":\"a\\nb\""), -1);     /* single line */
    CHECK_STR(field, "full_name");
    CHECK_INT(W("\"title\":\"a\\tb\""), -1);
    CHECK_INT(W("\"title\":\"a\\u0000b\""), -1); /* embedded NUL */
    CHECK_INT(W("\"title\":\"a\\u007fb\""), -1);
    CHECK_INT(W("\"full_name\":123"), -1);
    CHECK_STR(msg, "“Họ và tên” phải là chuỗi ký tự.");
    CHECK_INT(W("\"note\":\"\\u0007\""), -1); /* bell in a text */
    CHECK_INT(W("\"note\":\"123456789012345678901\""), -1);
    CHECK_STR(field, "note");
    CHECK_INT(W("\"note\":[\"x\"]"), -1);
    /* Default caps: 500 for a string, 5000 for a text. */
    const size_t cap = 6200;
    char *big = malloc(cap), *many = malloc(5002);
    memset(many, 'a', 501);
    many[501] = 0;
    snprintf(big, cap, "\"title\":\"%.500s\"", many);
    CHECK_INT(W(big), 0);
    snprintf(big, cap, "\"title\":\"%.501s\"", many);
    CHECK_INT(W(big), -1);
    CHECK_STR(msg, "“Tiêu đề” không được dài quá 500 ký tự.");
    memset(many, 'b', 5001);
    many[5001] = 0;
    snprintf(big, cap, "\"story\":\"%.5000s\"", many);
    CHECK_INT(W(big), 0);
    snprintf(big, cap, "\"story\":\"%.5001s\"", many);
    CHECK_INT(W(big), -1);
    CHECK_STR(field, "story");
    free(many);
    free(big);
}

static void test_numbers(void)
{
    CHECK_INT(W("\"floors\":0"), -1);
    CHECK_STR(field, "floors");
    CHECK_STR(msg, "“Số tầng” phải lớn hơn hoặc bằng 1.");
    CHECK_INT(W("\"floors\":13"), -1);
    CHECK_STR(msg, "“Số tầng” phải nhỏ hơn hoặc bằng 12.");
    CHECK_INT(W("\"floors\":\"3\""), -1); /* a number sent as a string */
    CHECK_STR(msg, "“Số tầng” phải là số nguyên.");
    CHECK_INT(W("\"floors\":3.0"), -1); /* not an integer in JSON terms */
    CHECK_INT(W("\"floors\":2.5"), -1);
    CHECK_INT(W("\"floors\":true"), -1);
    CHECK_INT(W("\"area\":0.4"), -1);
    CHECK_STR(field, "area");
    CHECK_STR(msg, "“Diện tích (m²)” phải lớn hơn hoặc bằng 0.5.");
    CHECK_INT(W("\"area\":1000.01"), -1);
    CHECK_INT(W("\"area\":\"12\""), -1);
    CHECK_STR(msg, "“Diện tích (m²)” phải là số.");
    CHECK_INT(W("\"area\":0.5"), 0);
}

static void test_boolean_date_enum(void)
{
    CHECK_INT(V("{\"full_name\":\"An\",\"agree\":\"true\"}"), -1);
    CHECK_STR(field, "agree");
    CHECK_INT(V("{\"full_name\":\"An\",\"agree\":1}"), -1);
    static const char *bad_dates[] = {
        "2023-02-29", "2100-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "2024-01-00",
        "24-01-01",   "2024/01/01", "2024-1-1",   "1899-12-31", "2101-01-01", "2024-01-01T00:00:00",
        "",           "abcd-ef-gh"};
    for (size_t i = 0; i < sizeof bad_dates / sizeof bad_dates[0]; i++) {
        char buf[96];
        snprintf(buf, sizeof buf, "\"day\":\"%s\"", bad_dates[i]);
        CHECK_INT(W(buf), -1);
        CHECK_STR(field, "day");
    }
    CHECK(strstr(msg, "“Ngày cấp” phải là một ngày có thật") == msg);
    CHECK_INT(W("\"day\":20240101"), -1);
    CHECK_INT(W("\"day\":\"2024-12-31\""), 0);
    CHECK_INT(W("\"day\":\"1900-01-01\""), 0);
    CHECK_INT(W("\"kind\":\"Mới\""), 0);
    CHECK_INT(W("\"kind\":\"mới\""), -1); /* exact value */
    CHECK_STR(field, "kind");
    CHECK_STR(msg, "“Loại” phải là một trong các lựa chọn cho sẵn.");
    CHECK_INT(W("\"kind\":1"), -1);
    CHECK_INT(W("\"gender\":\"male\""), 0);
    CHECK_INT(W("\"gender\":\"Nam\""), -1); /* the value, not the label */
}

static void test_pid_phone(void)
{
    CHECK_INT(W("\"pid\":\"079085001234\""), 0);
    CHECK_INT(W("\"pid\":\"07908500123\""), -1); /* 11 digits */
    CHECK_STR(field, "pid");
    CHECK_STR(msg, "“Số định danh cá nhân” phải là số định danh cá nhân gồm 12 chữ số.");
    CHECK_INT(W("\"pid\":\"0790850012345\""), -1);
    CHECK_INT(W("\"pid\":\"099085001234\""), -1); /* no province 099 */
    CHECK_INT(W("\"pid\":\"07908500123a\""), -1);
    CHECK_INT(W("\"pid\":79085001234"), -1);
    CHECK_INT(W("\"phone\":\"0912345678\""), 0);
    CHECK_INT(W("\"phone\":\"84912345678\""), 0);
    CHECK_INT(W("\"phone\":\"0212345678\""), -1); /* landline prefix */
    CHECK_STR(field, "phone");
    CHECK(strstr(msg, "“Số điện thoại” phải là số điện thoại di động hợp lệ") == msg);
    CHECK_INT(W("\"phone\":\"091234567\""), -1);
    CHECK_INT(W("\"phone\":912345678"), -1);
    CHECK_INT(W("\"phone\":\"0912 345 678 0912 345 678 0000\""), -1);
}

static void test_messages_truncate_on_characters(void)
{
    json_t *v = J("{\"agree\":true}");
    char f[8], m[12]; /* "Vui lòng nhập ..." cut in the middle of "ò" (2 bytes at offset 5) */
    CHECK_INT(cds_form_validate(schema, v, f, sizeof f, m, sizeof m), -1);
    json_t *s = json_string(m);
    CHECK(s != NULL);
    json_decref(s);
    CHECK(strlen(m) < sizeof m);
    for (size_t cap = 1; cap < 40; cap++) {
        char mm[40];
        cds_form_validate(schema, v, f, sizeof f, mm, cap);
        s = json_string(mm);
        CHECK(s != NULL);
        json_decref(s);
    }
    json_decref(v);
}

static int schema_ok(const char *s)
{
    json_t *j = J(s);
    char err[256];
    int rc = cds_form_schema_check(j, err, sizeof err);
    if (rc == 0)
        CHECK_STR(err, "");
    else
        CHECK(err[0] != 0);
    json_decref(j);
    return rc;
}

static void test_schema_check(void)
{
    CHECK_INT(cds_form_schema_check(schema, NULL, 0), 0);
    CHECK_INT(schema_ok("{\"fields\":[]}"), 0);
    CHECK_INT(schema_ok("{\"fields\":{}}"), -1);
    CHECK_INT(schema_ok("{\"fields\":[],\"x\":1}"), -1);
    CHECK_INT(schema_ok("[]"), -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"string\"}]}"), 0);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"A\",\"label\":\"A\",\"type\":\"string\"}]}"), -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a-b\",\"label\":\"A\",\"type\":\"string\"}]}"),
              -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"\",\"type\":\"string\"}]}"), -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}"), -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"file\"}]}"), -1);
    CHECK_INT(
        schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"string\",\"hint\":1}]}"),
        -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"string\"},"
                        "{\"name\":\"a\",\"label\":\"B\",\"type\":\"text\"}]}"),
              -1);
    CHECK_INT(
        schema_ok(
            "{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"string\",\"required\":1}]}"),
        -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"string\",\"max_"
                        "length\":501}]}"),
              -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"text\",\"max_"
                        "length\":5000}]}"),
              0);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"integer\",\"max_"
                        "length\":5}]}"),
              -1);
    CHECK_INT(
        schema_ok(
            "{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"integer\",\"min\":1.5}]}"),
        -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"number\",\"min\":"
                        "1.5,\"max\":2}]}"),
              0);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"integer\",\"min\":"
                        "3,\"max\":2}]}"),
              -1);
    CHECK_INT(
        schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"string\",\"min\":1}]}"),
        -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"enum\"}]}"), -1);
    CHECK_INT(
        schema_ok(
            "{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"enum\",\"options\":[]}]}"),
        -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"enum\","
                        "\"options\":[\"x\",\"x\"]}]}"),
              -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"enum\","
                        "\"options\":[\"x\",2]}]}"),
              -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"enum\","
                        "\"options\":[{\"value\":\"x\"}]}]}"),
              -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"enum\","
                        "\"options\":[{\"value\":\"x\",\"label\":\"X\",\"extra\":1}]}]}"),
              -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"string\","
                        "\"options\":[\"x\"]}]}"),
              -1);
    CHECK_INT(schema_ok("{\"fields\":[{\"name\":\"a\",\"label\":\"A\",\"type\":\"string\","
                        "\"prefill\":\"nickname\"}]}"),
              -1);
    /* More than 100 fields. */
    const size_t cap = 101 * 64 + 32;
    char *many = malloc(cap);
    size_t o = (size_t)snprintf(many, cap, "{\"fields\":[");
    for (int i = 0; i < 101; i++)
        o += (size_t)snprintf(many + o, cap - o,
                              "%s{\"name\":\"f%d\",\"label\":\"F\",\"type\":\"boolean\"}",
                              i ? "," : "", i);
    snprintf(many + o, cap - o, "]}");
    CHECK_INT(schema_ok(many), -1);
    free(many);
}

static void test_prefill(void)
{
    json_t *profile =
        J("{\"id\":\"x\",\"personal_id\":\"079085001234\",\"full_name\":\"Nguyễn Văn An\","
          "\"birth_date\":\"1985-03-14\",\"gender\":\"male\",\"address\":\"12 Nguyễn Huệ\","
          "\"phone\":\"0912345678\",\"contact_phone\":null,\"email\":null}");
    json_t *v = cds_form_prefill(schema, profile);
    /* "Nguyễn Văn An" is 13 characters, over this form's 10: left empty. */
    CHECK(json_object_get(v, "full_name") == NULL);
    CHECK_STR(json_string_value(json_object_get(v, "pid")), "079085001234");
    CHECK_STR(json_string_value(json_object_get(v, "gender")), "male");
    CHECK_STR(json_string_value(json_object_get(v, "phone")), "0912345678");
    CHECK_INT(json_object_size(v), 3);
    json_decref(v);

    /* A form with Vietnamese gender options, a date and a contact phone. */
    json_t *s2 = J(
        "{\"fields\":["
        "{\"name\":\"ho_ten\",\"label\":\"Họ tên\",\"type\":\"string\",\"prefill\":\"full_name\"},"
        "{\"name\":\"ngay_sinh\",\"label\":\"Ngày "
        "sinh\",\"type\":\"date\",\"prefill\":\"birth_date\"},"
        "{\"name\":\"gioi_tinh\",\"label\":\"Giới "
        "tính\",\"type\":\"enum\",\"options\":[\"Nam\",\"Nữ\"],\"prefill\":\"gender\"},"
        "{\"name\":\"dia_chi\",\"label\":\"Địa chỉ\",\"type\":\"text\",\"prefill\":\"address\"},"
        "{\"name\":\"dt\",\"label\":\"Điện thoại\",\"type\":\"phone\",\"prefill\":\"phone\"},"
        "{\"name\":\"email\",\"label\":\"Email\",\"type\":\"string\",\"prefill\":\"email\"},"
        "{\"name\":\"so_tang\",\"label\":\"Số "
        "tầng\",\"type\":\"integer\",\"prefill\":\"personal_id\"},"
        "{\"name\":\"khac\",\"label\":\"Khác\",\"type\":\"string\"}]}");
    json_t *p2 = J(
        "{\"full_name\":\"Trần Thị Bích Ngọc\",\"birth_date\":\"1992-11-02\",\"gender\":\"female\","
        "\"address\":\"45/7 Lê Văn Sỹ\",\"phone\":\"0903123456\",\"contact_phone\":\"+84 988 777 "
        "666\","
        "\"email\":\"ngoc@example.vn\",\"personal_id\":\"079192004567\"}");
    CHECK_INT(cds_form_schema_check(s2, NULL, 0), 0);
    v = cds_form_prefill(s2, p2);
    CHECK_STR(json_string_value(json_object_get(v, "ho_ten")), "Trần Thị Bích Ngọc");
    CHECK_STR(json_string_value(json_object_get(v, "ngay_sinh")), "1992-11-02");
    CHECK_STR(json_string_value(json_object_get(v, "gioi_tinh")), "Nữ");
    CHECK_STR(json_string_value(json_object_get(v, "dia_chi")), "45/7 Lê Văn Sỹ");
    CHECK_STR(json_string_value(json_object_get(v, "dt")),
              "0988777666"); /* contact phone, normalised */
    CHECK_STR(json_string_value(json_object_get(v, "email")), "ngoc@example.vn");
    CHECK(json_object_get(v, "so_tang") == NULL); /* a string never fills an integer */
    CHECK(json_object_get(v, "khac") == NULL);
    /* What was prefilled passes validation. */
    CHECK_INT(cds_form_validate(s2, v, field, sizeof field, msg, sizeof msg), 0);
    json_decref(v);
    /* An empty or odd profile prefills nothing, and never crashes. */
    json_t *empty = J("{}");
    v = cds_form_prefill(s2, empty);
    CHECK_INT(json_object_size(v), 0);
    json_decref(v);
    v = cds_form_prefill(s2, NULL);
    CHECK_INT(json_object_size(v), 0);
    json_decref(v);
    json_t *weird = J("{\"birth_date\":\"1992-02-30\",\"gender\":\"other\",\"phone\":\"12345\"}");
    v = cds_form_prefill(s2, weird);
    CHECK_INT(json_object_size(v), 0);
    json_decref(v);
    json_decref(weird);
    json_decref(empty);
    json_decref(s2);
    json_decref(p2);
    json_decref(profile);
}

static int proc_ok(const char *s)
{
    json_t *j = J(s);
    char err[256];
    int rc = cds_catalog_procedure_check(j, err, sizeof err);
    if (rc != 0) {
        json_t *ok = json_string(err); /* the message is valid UTF-8 */
        CHECK(ok != NULL && err[0]);
        json_decref(ok);
    }
    json_decref(j);
    return rc;
}

#define PBASE                                                                                      \
    "\"name\":\"Cấp giấy phép xây "                                                          \
    "dựng\",\"sector\":\"xay_dung\",\"agency_code\":\"000.20.01.H29\","

static void test_procedure_check(void)
{
    CHECK_INT(proc_ok("{\"code\":\"1.009994\"," PBASE "\"fee_vnd\":75000,\"processing_days\":15}"),
              0);
    CHECK_INT(
        proc_ok(
            "{" PBASE "\"fee_vnd\":0,\"processing_days\":0,\"online_discount_pct\":50,"
            "\"ial_required\":2,\"postal_allowed\":true,\"active\":false,"
            "\"required_documents\":[{\"code\":\"gcn_qsdd\",\"name\":\"GCN\",\"required\":true}],"
            "\"form_schema\":{\"fields\":[]}}"),
        0);
    CHECK_INT(proc_ok("[]"), -1);
    CHECK_INT(proc_ok("{\"code\":\"1 009\"," PBASE "\"fee_vnd\":1,\"processing_days\":1}"), -1);
    CHECK_INT(proc_ok("{\"code\":\"123456789012345678901234567890123\"," PBASE
                      "\"fee_vnd\":1,\"processing_days\":1}"),
              -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":\"75000\",\"processing_days\":1}"), -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":75000.5,\"processing_days\":1}"), -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":-1,\"processing_days\":1}"), -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1000000000001,\"processing_days\":1}"), -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1,\"processing_days\":366}"), -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1}"), -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1,\"processing_days\":1,\"online_discount_pct\":101}"),
              -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1,\"processing_days\":1,\"ial_required\":3}"), -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1,\"processing_days\":1,\"postal_allowed\":\"yes\"}"),
              -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1,\"processing_days\":1,\"fees\":1}"), -1);
    CHECK_INT(
        proc_ok(
            "{" PBASE
            "\"fee_vnd\":1,\"processing_days\":1,\"khóa_lạ_rất_dài_ệệệệệệệệệệệệệệệệệệệệệệệệ\":1}"),
        -1);
    CHECK_INT(proc_ok("{\"name\":\"\",\"sector\":\"xay_dung\",\"agency_code\":\"000.20.01.H29\","
                      "\"fee_vnd\":1,\"processing_days\":1}"),
              -1);
    CHECK_INT(proc_ok("{\"name\":\"a\\nb\",\"sector\":\"xay_dung\",\"agency_code\":\"000.20.01."
                      "H29\",\"fee_vnd\":1,\"processing_days\":1}"),
              -1);
    CHECK_INT(
        proc_ok("{\"name\":\"A\",\"sector\":\"Xây "
                "dựng\",\"agency_code\":\"000.20.01.H29\",\"fee_vnd\":1,\"processing_days\":1}"),
        -1);
    CHECK_INT(proc_ok("{\"name\":\"A\",\"sector\":\"xay_dung\",\"agency_code\":\"000.20.01.h29\","
                      "\"fee_vnd\":1,\"processing_days\":1}"),
              -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1,\"processing_days\":1,\"required_documents\":{}}"),
              -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1,\"processing_days\":1,\"required_documents\":[{"
                                "\"code\":\"a\",\"name\":\"A\",\"required\":true}]}"),
              -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1,\"processing_days\":1,\"required_documents\":[{"
                                "\"code\":\"ab\",\"name\":\"A\"}]}"),
              -1);
    CHECK_INT(proc_ok("{" PBASE "\"fee_vnd\":1,\"processing_days\":1,\"required_documents\":"
                      "[{\"code\":\"ab\",\"name\":\"A\",\"required\":true},{\"code\":\"ab\","
                      "\"name\":\"B\",\"required\":false}]}"),
              -1);
    CHECK_INT(
        proc_ok(
            "{" PBASE
            "\"fee_vnd\":1,\"processing_days\":1,\"form_schema\":{\"fields\":[{\"name\":\"x\"}]}}"),
        -1);
}

int main(void)
{
    schema = J(SCHEMA);
    char err[256];
    CHECK_INT(cds_form_schema_check(schema, err, sizeof err), 0);
    test_valid();
    test_required_and_unknown();
    test_strings();
    test_numbers();
    test_boolean_date_enum();
    test_pid_phone();
    test_messages_truncate_on_characters();
    test_schema_check();
    test_prefill();
    test_procedure_check();
    json_decref(schema);
    return t_done();
}
