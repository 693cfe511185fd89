/* Unit tests of core/json_out.c: strings as RFC 8259 section 7 writes them
 * (its examples: "\u005C" is '\\', the two-character escapes, a control
 * character as \u00XX, G clef U+1D11E as its UTF-8 bytes); every byte below
 * 0x80 and sample Vietnamese text written exactly as jansson's json_dumps
 * writes them (the writer replaces it on the notification paths), and read
 * back by jansson; text that is not UTF-8 refused as jansson refuses it;
 * members, commas and the buffer's cap. */
#include "core/json_out.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static char out[4096];

/* s written by cds_json_strn, or "<err>" when the buffer failed. */
static const char *W(const char *s, size_t n)
{
    cds_buf b;
    cds_buf_init_fixed(&b, out, sizeof out);
    if (cds_json_strn(&b, s, n) != CDS_BUF_OK) return "<err>";
    return out;
}

/* What jansson writes for the same string ("<null>" when it refuses it). */
static char *J(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (!j) return strdup("<null>");
    char *t = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    return t;
}

static void same_as_jansson(const char *s, size_t n)
{
    char *want = J(s, n);
    const char *got = W(s, n);
    if (strcmp(want, "<null>") == 0)
        CHECK_STR(got, "<err>");
    else
        CHECK_STR(got, want);
    free(want);
}

static void test_rfc8259(void)
{
    CHECK_STR(W("", 0), "\"\"");
    CHECK_STR(W("abc", 3), "\"abc\"");
    CHECK_STR(W("\\", 1), "\"\\\\\"");
    CHECK_STR(W("\"", 1), "\"\\\"\"");
    CHECK_STR(W("\b\f\n\r\t", 5), "\"\\b\\f\\n\\r\\t\"");
    CHECK_STR(W("\x01\x1f", 2), "\"\\u0001\\u001F\"");
    CHECK_STR(W("a\0b", 3), "\"a\\u0000b\"");
    CHECK_STR(W("/", 1), "\"/\""); /* '/' may stay as is */
    CHECK_STR(W("\xf0\x9d\x84\x9e", 4), "\"\xf0\x9d\x84\x9e\""); /* U+1D11E */
    CHECK_STR(W("\x7f", 1), "\"\x7f\"");
}

static void test_like_jansson(void)
{
    char s[2];
    for (int c = 1; c < 0x80; c++) {
        s[0] = (char)c;
        same_as_jansson(s, 1);
    }
    const char *texts[] = {
        "Hồ sơ 000.00.01.H29-241203-0001 đã được tiếp nhận",
        "Đề nghị bổ sung: \"Giấy khai sinh\"\n- bản sao\tcó chứng thực",
        "Xin chào \\ / ~ { } [ ]",
        "\xc3\xa0\xe1\xba\xa1\xe1\xbb\x87", /* à ạ ệ */
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        same_as_jansson(texts[i], strlen(texts[i]));
    /* Read back by jansson as the same text. */
    const char *got = W(texts[1], strlen(texts[1]));
    json_t *j = json_loads(got, JSON_DECODE_ANY, NULL);
    CHECK(j && strcmp(json_string_value(j), texts[1]) == 0);
    json_decref(j);
}

static void test_not_utf8(void)
{
    const char *bad[] = {
        "\x80",             /* a stray continuation byte */
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* a surrogate, U+D800 */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "ab\xe1\xba",       /* cut inside a character */
        "\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STR(W(bad[i], strlen(bad[i])), "<err>");
        same_as_jansson(bad[i], strlen(bad[i]));
    }
    /* A length that cuts a character is refused too, whatever follows. */
    CHECK_STR(W("\xe1\xba\xa1", 2), "<err>");
}

static void test_members(void)
{
    cds_buf b;
    cds_buf_init(&b, 1024);
    cds_buf_addc(&b, '{');
    cds_json_member_int(&b, "id", -42);
    cds_json_member_str(&b, "status", "sent");
    cds_json_member_text(&b, "error", "cut \xe1\xba"); /* left out: not UTF-8 */
    cds_json_member_raw(&b, "rendered", "{");
    cds_json_member_str(&b, "body", "a\"b");
    cds_buf_addc(&b, '}');
    cds_json_member_raw(&b, "delete_device", "true");
    cds_buf_addc(&b, '}');
    CHECK_INT(b.err, 0);
    CHECK_STR(cds_buf_str(&b),
              "{\"id\":-42,\"status\":\"sent\",\"rendered\":{\"body\":\"a\\\"b\"},"
              "\"delete_device\":true}");
    json_t *j = json_loads(cds_buf_str(&b), 0, NULL);
    CHECK(json_is_object(j) && json_integer_value(json_object_get(j, "id")) == -42);
    json_decref(j);
    cds_buf_free(&b);

    /* Past the cap the buffer fails, and stays failed. */
    char small[8];
    cds_buf_init_fixed(&b, small, sizeof small);
    CHECK(cds_json_str(&b, "12345678") != CDS_BUF_OK);
    CHECK(b.err != 0);
    /* A NULL string is written as "". */
    cds_buf_init_fixed(&b, small, sizeof small);
    CHECK_INT(cds_json_str(&b, NULL), CDS_BUF_OK);
    CHECK_STR(small, "\"\"");
}

int main(void)
{
    test_rfc8259();
    test_like_jansson();
    test_not_utf8();
    test_members();
    return t_done();
}
