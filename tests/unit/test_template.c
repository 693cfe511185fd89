/* Unit tests of notify/template.c and of the texts in db/seed/templates.json:
 *   - the file: every dossier step has exactly one SMS and one push template
 *     per version, nothing else, and cds_templates_check agrees; every push
 *     has its English version (same version, same variables), no SMS has one,
 *     and the check refuses a file where one is missing;
 *   - every SMS, rendered with the longest realistic values (a 36-character
 *     dossier code, the longest procedure name and the three longest document
 *     names of db/seed/catalog.json, 999.999.999.999 đ, a long note, a
 *     70-character link) and stripped, fits in 2 segments; every push title in
 *     65 characters and body in 240; with only the variables every step has,
 *     the optional parts disappear and only the steps that need more fail;
 *   - the renderer: value formatting (thousands separators, lists), spaces in
 *     braces, the length filter (character boundaries, combining marks),
 *     sections, missing variables, malformed templates, the buffer bound. */
#include "dossiers/internal.h"
#include "core/vn_fold.h"
#include "notify/sms_text.h"
#include "notify/template.h"
#include "tests/lib/t.h"

#include <stdlib.h>
#include <string.h>

static char out[8192], missing[128];

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (!j) fprintf(stderr, "bad test JSON: %s: %s\n", e.text, s);
    return j;
}

/* Renders tmpl with vars (JSON text); returns the result, or "<rc>" on an
 * error, with the missing name left in `missing`. */
static char result[8192];
static const char *R(const char *tmpl, const char *vars)
{
    json_t *v = vars ? J(vars) : NULL;
    int rc = cds_template_render(tmpl, v, out, sizeof out, missing, sizeof missing);
    json_decref(v);
    if (rc < 0) {
        snprintf(result, sizeof result, "<%d>", rc);
        if (out[0]) snprintf(result, sizeof result, "<%d but out not empty>", rc);
        return result;
    }
    if ((size_t)rc != strlen(out)) return "<length mismatch>";
    return out;
}

/* Characters (code points) of a UTF-8 string, as a phone counts them. */
static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) n++;
    return n;
}

/* ---------------- the renderer ---------------- */

static void test_values(void)
{
    CHECK_STR(R("Xin chào {{name}}!", "{\"name\":\"Nguyễn Văn An\"}"), "Xin chào Nguyễn Văn An!");
    CHECK_STR(R("{{a}}", "{\"a\":0}"), "0");
    CHECK_STR(R("{{a}}", "{\"a\":999}"), "999");
    CHECK_STR(R("{{a}}", "{\"a\":1000}"), "1.000");
    CHECK_STR(R("{{a}} đ", "{\"a\":37500}"), "37.500 đ");
    CHECK_STR(R("{{a}}", "{\"a\":999999999999}"), "999.999.999.999");
    CHECK_STR(R("{{a}}", "{\"a\":1000000000000}"), "1.000.000.000.000");
    CHECK_STR(R("{{a}}", "{\"a\":-1234567}"), "-1.234.567");
    CHECK_STR(R("{{a}}", "{\"a\":9223372036854775807}"), "9.223.372.036.854.775.807");
    CHECK_STR(R("{{a}}", "{\"a\":37500.0}"), "37.500"); /* a whole real */
    CHECK_STR(R("{{a}}", "{\"a\":1.5}"), "<-1>");       /* a fraction has no rendering */
    CHECK_STR(missing, "a");
    CHECK_STR(R("{{a}}", "{\"a\":[\"Tờ khai\",\"Bản sao căn cước\",\"Ảnh 4x6\"]}"),
              "Tờ khai, Bản sao căn cước, Ảnh 4x6");
    CHECK_STR(R("{{a}}", "{\"a\":[\"Một\"]}"), "Một");
    CHECK_STR(R("{{a}}", "{\"a\":[1000, \"x\"]}"), "1.000, x");
    CHECK_STR(R("{{a}}", "{\"a\":[{\"b\":1}]}"), "<-1>");
    CHECK_STR(R("{{a}}", "{\"a\":{\"b\":1}}"), "<-1>");
    CHECK_STR(R("{{a}}", "{\"a\":true}"), "<-1>");
    /* A value is not a template: its braces stay as they are. */
    CHECK_STR(R("{{a}}", "{\"a\":\"{{b}} {{\"}"), "{{b}} {{");
    /* Lone braces are text; spaces and tabs inside a tag are tolerated. */
    CHECK_STR(R("a { b } c }} {a} {", "{}"), "a { b } c }} {a} {");
    CHECK_STR(R("[{{ a }}][{{\ta\t}}][{{a }}][{{ a|5 }}][{{ a | 5 }}]", "{\"a\":\"x\"}"),
              "[x][x][x][x][x]");
    CHECK_STR(R("{{a}}{{b}}{{a}}", "{\"a\":\"1\",\"b\":\"2\"}"), "121");
    CHECK_STR(R("", "{}"), "");
    CHECK_STR(R("không có biến", NULL), "không có biến");
}

static void test_cut(void)
{
    CHECK_STR(R("{{n|10}}", "{\"n\":\"abcdefghij\"}"), "abcdefghij");
    CHECK_STR(R("{{n|10}}", "{\"n\":\"abcdefghijk\"}"), "abcdefg...");
    CHECK_STR(R("{{n|4}}", "{\"n\":\"abcde\"}"), "a...");
    /* Characters, not bytes: 17 letters with marks are 17 characters. */
    CHECK_STR(R("{{n|17}}", "{\"n\":\"Đăng ký khai sinh\"}"), "Đăng ký khai sinh");
    CHECK_STR(R("{{n|16}}", "{\"n\":\"Đăng ký khai sinh\"}"), "Đăng ký khai...");
    /* Trailing spaces and commas go before the "...". */
    CHECK_STR(R("{{n|8}}", "{\"n\":\"Đăng ký khai sinh\"}"), "Đăng...");
    CHECK_STR(R("{{n|12}}", "{\"n\":[\"Tờ khai\",\"Ảnh\",\"Giấy\"]}"), "Tờ khai...");
    CHECK_STR(R("{{n|14}}", "{\"n\":[\"Tờ khai\",\"Ảnh\",\"Giấy\"]}"), "Tờ khai, Ản...");
    /* A combining mark belongs to its letter: never counted, never cut off. */
    CHECK_STR(R("{{n|6}}", "{\"n\":\"to\xcc\x9b\xcc\x80 khai\"}"), "to\xcc\x9b\xcc\x80...");
    CHECK_STR(R("{{n|7}}", "{\"n\":\"to\xcc\x9b\xcc\x80 kh\"}"), "to\xcc\x9b\xcc\x80 kh");
    /* Numbers are cut after formatting. */
    CHECK_STR(R("{{n|6}}", "{\"n\":1234567}"), "1.2...");
    /* Emoji are one character each (4 bytes). */
    CHECK_STR(R("{{n|5}}", "{\"n\":\"😀😀😀😀😀😀\"}"), "😀😀...");
}

static void test_sections(void)
{
    const char *t = "Hồ sơ bị từ chối{{#note}} (lý do: {{note}}){{/note}}.";
    CHECK_STR(R(t, "{\"note\":\"thiếu giấy tờ\"}"), "Hồ sơ bị từ chối (lý do: thiếu giấy tờ).");
    CHECK_STR(R(t, "{}"), "Hồ sơ bị từ chối.");
    CHECK_STR(R(t, "{\"note\":null}"), "Hồ sơ bị từ chối.");
    CHECK_STR(R(t, "{\"note\":\"\"}"), "Hồ sơ bị từ chối.");
    CHECK_STR(R(t, NULL), "Hồ sơ bị từ chối.");
    CHECK_STR(R("{{#a}}A{{/a}}", "{\"a\":false}"), "");
    CHECK_STR(R("{{#a}}A{{/a}}", "{\"a\":true}"), "A");
    CHECK_STR(R("{{#a}}A{{/a}}", "{\"a\":[]}"), "");
    CHECK_STR(R("{{#a}}A{{/a}}", "{\"a\":0}"), "A"); /* a zero fee is still a fee */
    CHECK_STR(R("{{ #a }}A{{ / a }}", "{\"a\":1}"), "A");
    /* Variables inside a skipped section are not needed. */
    CHECK_STR(R("x{{#a}}{{b}}{{/a}}y", "{}"), "xy");
    CHECK_STR(R("x{{#a}}{{b}}{{/a}}y", "{\"a\":1}"), "<-1>");
    CHECK_STR(missing, "b");
    /* Nesting, the same name twice, siblings. */
    const char *n = "{{#a}}[a{{#b}}[b{{#a}}[a2]{{/a}}]{{/b}}]{{/a}}{{#b}}(b){{/b}}";
    CHECK_STR(R(n, "{\"a\":1,\"b\":1}"), "[a[b[a2]]](b)");
    CHECK_STR(R(n, "{\"a\":1}"), "[a]");
    CHECK_STR(R(n, "{\"b\":1}"), "(b)");
    CHECK_STR(
        R("{{#a}}{{#b}}{{#c}}{{#d}}{{#e}}{{#f}}{{#g}}{{#h}}{{h}}{{/h}}{{/g}}{{/f}}{{/e}}{{/d}}{{/"
          "c}}{{/b}}{{/a}}",
          "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":8}"),
        "8"); /* 8 deep, with a variable at the bottom */
}

static void test_missing(void)
{
    CHECK_STR(R("Xin chào {{ten}}", "{}"), "<-1>");
    CHECK_STR(missing, "ten");
    CHECK_STR(R("{{a}} {{b}}", "{\"a\":\"x\"}"), "<-1>");
    CHECK_STR(missing, "b");
    CHECK_STR(R("{{a}}", "{\"a\":null}"), "<-1>");
    CHECK_STR(R("{{a}}", "{\"a\":\"\"}"), "<-1>");
    CHECK_STR(R("{{a}}", "{\"a\":[]}"), "<-1>");
    CHECK_STR(R("{{a}}", NULL), "<-1>");
    CHECK_STR(R("{{a}}", "[1]"), "<-1>"); /* vars not an object */
    CHECK_STR(R("{{ dossier_code |20}}", "{}"), "<-1>");
    CHECK_STR(missing, "dossier_code");
    /* The name is cut to the buffer given, or not written at all. */
    char small[4];
    CHECK_INT(cds_template_render("{{abcdef}}", NULL, out, sizeof out, small, sizeof small), -1);
    CHECK_STR(small, "abc");
    CHECK_INT(cds_template_render("{{abcdef}}", NULL, out, sizeof out, NULL, 0), -1);
    /* A missing variable is named even after the output ran out. */
    CHECK_INT(cds_template_render("0123456789{{x}}", NULL, out, 4, missing, sizeof missing), -1);
    CHECK_STR(missing, "x");
    /* A successful render clears a previous name. */
    CHECK_STR(R("ok", "{}"), "ok");
    CHECK_STR(missing, "");
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "{{name",                    /* unclosed */
        "Hồ sơ {{dossier_code}} {{", /* unclosed at the end */
        "{{name}",                   /* half closed */
        "{{}}",
        "{{ }}",
        "{{|5}}", /* no name */
        "{{na me}}",
        "{{tên}}",
        "{{a-b}}",
        "{{a.b}}", /* not a name */
        "{{{a}}}", /* Mustache's triple braces are not supported */
        "{{a|}}",
        "{{a|3}}",
        "{{a|0}}",
        "{{a|x}}",
        "{{a|10001}}",
        "{{a|99999999999999999999}}",
        "{{a|5|6}}",
        "{{a|5 x}}",
        "{{a b}}",
        "{{#a}}x",                  /* section never closed */
        "{{/a}}",                   /* closing nothing */
        "{{#a}}{{/b}}",             /* closing the wrong one */
        "{{#a}}{{#b}}{{/a}}{{/b}}", /* crossed */
        "{{#a|5}}x{{/a}}",          /* a filter on a section */
        ("{{#a}}{{#b}}{{#c}}{{#d}}{{#e}}{{#f}}{{#g}}{{#h}}{{#i}}9{{/i}}{{/h}}{{/g}}{{/f}}{{/e}}"
         "{{/d}}{{/c}}{{/b}}{{/a}}"),                                            /* 9 deep */
        "{{abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb}}", /* 65 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *got = R(bad[i], "{\"a\":\"x\",\"b\":\"y\",\"name\":\"z\"}");
        if (strcmp(got, "<-2>") != 0) fprintf(stderr, "  malformed #%zu: %s\n", i, bad[i]);
        CHECK_STR(got, "<-2>");
        char why[160];
        CHECK_INT(cds_template_syntax(bad[i], why, sizeof why), -2);
        CHECK(why[0] != 0);
    }
    /* Malformed wins over missing, whatever the data. */
    CHECK_STR(R("{{missing_var}} {{", "{}"), "<-2>");
    CHECK_STR(R("{{abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb}}",
                "{\"abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\":1}"),
              "<-2>");
    CHECK_STR(R("{{abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb}}",
                "{\"abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\":1}"),
              "1"); /* 64 is fine */
    CHECK_INT(cds_template_syntax("ok {{a|4}} {{#b}}{{/b}}", NULL, 0), 0);
    CHECK_INT(cds_template_syntax(NULL, NULL, 0), -2);
    CHECK_INT(cds_template_render(NULL, NULL, out, sizeof out, NULL, 0), -2);
}

static void test_too_long(void)
{
    json_t *v = J("{\"a\":\"12345\"}");
    CHECK_INT(cds_template_render("ab{{a}}", v, out, 8, missing, sizeof missing), 7);
    CHECK_STR(out, "ab12345");
    memcpy(out, "junk", 5);
    CHECK_INT(cds_template_render("ab{{a}}", v, out, 7, missing, sizeof missing), -3);
    CHECK_STR(out, "");
    CHECK_INT(cds_template_render("abcdefgh", v, out, 8, NULL, 0), -3);
    CHECK_INT(cds_template_render("{{a|4}}", v, out, 5, NULL, 0), 4);
    CHECK_STR(out, "1...");
    CHECK_INT(cds_template_render("", v, out, 1, NULL, 0), 0);
    CHECK_INT(cds_template_render("a", v, out, 0, NULL, 0), -3);
    CHECK_INT(cds_template_render("a", v, NULL, 10, NULL, 0), -3);
    json_decref(v);
}

/* ---------------- the templates in db/seed ---------------- */

static const char *const STEPS[] = {"submitted",        "received",      "supplement_requested",
                                    "supplemented",     "fee_requested", "paid",
                                    "processing",       "result_ready",  "out_for_delivery",
                                    "ready_for_pickup", "completed",     "rejected",
                                    "cancelled",        "payment_partial"};
enum { NSTEPS = sizeof STEPS / sizeof STEPS[0], NSTEPS_MACHINE = 13 };

static json_t *load(const char *rel)
{
    char path[1024];
    json_error_t e;
    snprintf(path, sizeof path, "%s/%s", CDS_SOURCE_DIR, rel);
    json_t *j = json_load_file(path, 0, &e);
    if (!j) fprintf(stderr, "cannot load %s: %s (line %d)\n", path, e.text, e.line);
    return j;
}

static void test_file_shape(const json_t *doc)
{
    char err[256];
    CHECK_INT(cds_templates_check(doc, err, sizeof err), 0);
    if (err[0]) fprintf(stderr, "  templates.json: %s\n", err);
    /* The notifier's list of steps is the state machine's, then the events
     * that are not steps (NSTEPS_MACHINE on). */
    CHECK_INT(CDS_TEMPLATE_STEP_COUNT, NSTEPS);
    for (int i = 0; i < NSTEPS; i++) {
        CHECK_STR(cds_template_steps[i], STEPS[i]);
        CHECK_INT(cds_step_known(STEPS[i]), i < NSTEPS_MACHINE);
    }
    /* Counted here independently: each (step, channel, version) once, each
     * step and channel present in version 1, no other step or channel. */
    const json_t *list = json_object_get(doc, "templates");
    CHECK(json_array_size(list) >= 2 * (NSTEPS + CDS_TEMPLATE_COURIER_COUNT));
    size_t i, j;
    json_t *t, *u;
    json_array_foreach(list, i, t)
    {
        const char *step = json_string_value(json_object_get(t, "step"));
        const char *ch = json_string_value(json_object_get(t, "channel"));
        json_int_t ver = json_integer_value(json_object_get(t, "version"));
        int known = 0;
        for (int s = 0; s < NSTEPS; s++)
            known |= step && strcmp(step, STEPS[s]) == 0;
        for (int s = 0; s < CDS_TEMPLATE_COURIER_COUNT; s++)
            known |= step && strcmp(step, cds_template_courier[s]) == 0;
        int sms_only = 0;
        for (int s = 0; s < CDS_TEMPLATE_SMS_ONLY_COUNT; s++)
            sms_only |= step && strcmp(step, cds_template_sms_only[s]) == 0;
        known |= sms_only;
        CHECK(known);
        CHECK(!sms_only || strcmp(ch, "sms") == 0);
        CHECK(ch && (strcmp(ch, "sms") == 0 || strcmp(ch, "push") == 0));
        CHECK(ver >= 1);
        const char *lang = json_string_value(json_object_get(t, "lang"));
        int en = lang && strcmp(lang, "en") == 0;
        CHECK(!lang || en || strcmp(lang, "vi") == 0);
        CHECK(!en || strcmp(ch, "push") == 0); /* SMS stay Vietnamese */
        int same = 0;
        json_array_foreach(list, j, u) {
            const char *ul = json_string_value(json_object_get(u, "lang"));
            same += step && ch && strcmp(step, json_string_value(json_object_get(u, "step"))) == 0 &&
                    strcmp(ch, json_string_value(json_object_get(u, "channel"))) == 0 &&
                    ver == json_integer_value(json_object_get(u, "version")) &&
                    en == (ul && strcmp(ul, "en") == 0);
        }
        CHECK_INT(same, 1);
        const char *body = json_string_value(json_object_get(t, "body"));
        /* A message about a dossier names it; an SMS-only one is about none. */
        CHECK(body && (sms_only || strstr(body, "{{dossier_code}}") != NULL));
        if (en) {
            /* The Vietnamese text of the same step and version uses exactly
             * the same variables and sections. */
            const json_t *vi = cds_templates_find(doc, step, ch, (int)ver);
            const char *vb = json_string_value(json_object_get(vi, "body"));
            CHECK(vb != NULL);
            for (const char *p = vb; vb && (p = strstr(p, "{{")) != NULL; p += 2) {
                const char *e = strstr(p, "}}");
                const char *bar = strchr(p, '|');
                size_t n = (size_t)((bar && bar < e ? bar : e) - p);
                char tag[96];
                snprintf(tag, sizeof tag, "%.*s", (int)n, p);
                if (!strstr(body, tag)) fprintf(stderr, "  %s (en) lacks %s}}\n", step, tag);
                CHECK(strstr(body, tag) != NULL);
            }
        } else {
            /* Texts are written with diacritics; the SMS is stripped at send. */
            CHECK(body && chars(body) < strlen(body));
        }
    }
    for (int s = 0; s < NSTEPS; s++) {
        const json_t *sms = cds_templates_find(doc, STEPS[s], "sms", 1);
        const json_t *push = cds_templates_find(doc, STEPS[s], "push", 1);
        CHECK(sms != NULL);
        CHECK(push != NULL);
        CHECK(cds_templates_find(doc, STEPS[s], "sms", 0) != NULL); /* the latest */
        CHECK(sms && json_object_get(sms, "title") == NULL);
        CHECK(push && json_is_string(json_object_get(push, "title")));
        const json_t *push_en = cds_templates_find_lang(doc, STEPS[s], "push", "en", 1);
        CHECK(push_en != NULL && push_en != push);
        CHECK(cds_templates_find_lang(doc, STEPS[s], "sms", "en", 0) == NULL);
        CHECK(cds_templates_find_lang(doc, STEPS[s], "push", "vi", 1) == push);
    }
    for (int s = 0; s < CDS_TEMPLATE_COURIER_COUNT; s++)
        CHECK(cds_templates_find_lang(doc, cds_template_courier[s], "push", "en", 0) != NULL);
    CHECK(cds_templates_find(doc, "received", "sms", 99) == NULL);
    CHECK(cds_templates_find(doc, "nope", "sms", 0) == NULL);
    CHECK(cds_templates_find(doc, "received", "fax", 0) == NULL);
}

/* The check catches what a careless edit of the file would do. */
static void test_check_rejects(void)
{
    static const char *const docs[] = {
        "{}",
        "{\"templates\":{}}",
        "{\"templates\":[{\"step\":\"received\",\"channel\":\"sms\",\"version\":1,\"body\":\"{{x\"}"
        "]}",
        "{\"templates\":[{\"step\":\"nope\",\"channel\":\"sms\",\"version\":1,\"body\":\"x\"}]}",
        "{\"templates\":[{\"step\":\"received\",\"channel\":\"fax\",\"version\":1,\"body\":\"x\"}]"
        "}",
        "{\"templates\":[{\"step\":\"received\",\"channel\":\"sms\",\"version\":0,\"body\":\"x\"}]"
        "}",
        "{\"templates\":[{\"step\":\"received\",\"channel\":\"sms\",\"version\":1,\"body\":\"\"}]}",
        ("{\"templates\":[{\"step\":\"received\",\"channel\":\"sms\",\"version\":1,\"body\":\"x\","
         "\"title\":\"t\"}]}"),
        "{\"templates\":[{\"step\":\"received\",\"channel\":\"push\",\"version\":1,\"body\":\"x\"}]"
        "}",
    };
    char err[256];
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_t *d = J(docs[i]);
        CHECK_INT(cds_templates_check(d, err, sizeof err), -1);
        CHECK(err[0] != 0);
        json_decref(d);
    }
    /* A duplicate, and a missing step, in an otherwise complete file. */
    json_t *doc = load("db/seed/templates.json");
    json_t *list = json_object_get(doc, "templates");
    json_array_append_new(list, json_deep_copy(json_array_get(list, 0)));
    CHECK_INT(cds_templates_check(doc, err, sizeof err), -1);
    CHECK(strstr(err, "twice") != NULL);
    json_array_remove(list, json_array_size(list) - 1);
    json_array_remove(list, 0);
    CHECK_INT(cds_templates_check(doc, err, sizeof err), -1);
    CHECK(strstr(err, "no sms template for step submitted") != NULL);
    /* A push without its English version; an SMS in English; another language. */
    json_decref(doc);
    doc = load("db/seed/templates.json");
    list = json_object_get(doc, "templates");
    for (size_t k = 0; k < json_array_size(list); k++) {
        const char *l = json_string_value(json_object_get(json_array_get(list, k), "lang"));
        if (l && strcmp(l, "en") == 0) {
            json_array_remove(list, k);
            break;
        }
    }
    CHECK_INT(cds_templates_check(doc, err, sizeof err), -1);
    CHECK(strstr(err, "has no English version") != NULL);
    json_decref(doc);
    doc = load("db/seed/templates.json");
    list = json_object_get(doc, "templates");
    json_t *sms_en = json_deep_copy(cds_templates_find(doc, "received", "sms", 1));
    json_object_set_new(sms_en, "lang", json_string("en"));
    json_array_append_new(list, sms_en);
    CHECK_INT(cds_templates_check(doc, err, sizeof err), -1);
    CHECK(strstr(err, "SMS is Vietnamese only") != NULL);
    json_array_remove(list, json_array_size(list) - 1);
    json_t *fr = json_deep_copy(cds_templates_find(doc, "received", "push", 1));
    json_object_set_new(fr, "lang", json_string("fr"));
    json_array_append_new(list, fr);
    CHECK_INT(cds_templates_check(doc, err, sizeof err), -1);
    json_array_remove(list, json_array_size(list) - 1);
    CHECK_INT(cds_templates_check(doc, err, sizeof err), 0);
    /* A second version is allowed, and is the one found by default. */
    json_decref(doc);
    doc = load("db/seed/templates.json");
    list = json_object_get(doc, "templates");
    json_t *v2 = json_deep_copy(cds_templates_find(doc, "received", "sms", 1));
    json_object_set_new(v2, "version", json_integer(2));
    json_array_append_new(list, v2);
    CHECK_INT(cds_templates_check(doc, err, sizeof err), 0);
    const json_t *latest = cds_templates_find(doc, "received", "sms", 0);
    CHECK_INT(json_integer_value(json_object_get(latest, "version")), 2);
    json_decref(doc);
}

/* The longest realistic values: read from the catalog where it has them. */
static json_t *longest_vars(void)
{
    json_t *cat = load("db/seed/catalog.json");
    const char *name = "", *docs[3] = {"", "", ""};
    size_t i, j;
    json_t *p, *d;
    json_array_foreach(json_object_get(cat, "procedures"), i, p)
    {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (n && chars(n) > chars(name)) name = n;
        json_array_foreach(json_object_get(p, "required_documents"), j, d)
        {
            const char *dn = json_string_value(json_object_get(d, "name"));
            if (!dn) continue;
            /* Keep the three longest distinct names, longest first. */
            if (strcmp(dn, docs[0]) == 0 || strcmp(dn, docs[1]) == 0 || strcmp(dn, docs[2]) == 0)
                continue;
            if (chars(dn) > chars(docs[0])) {
                docs[2] = docs[1];
                docs[1] = docs[0];
                docs[0] = dn;
            } else if (chars(dn) > chars(docs[1])) {
                docs[2] = docs[1];
                docs[1] = dn;
            } else if (chars(dn) > chars(docs[2])) {
                docs[2] = dn;
            }
        }
    }
    CHECK(chars(name) >= 100); /* the catalog has long names; this test is about them */
    CHECK(chars(docs[2]) >= 90);
    printf("longest procedure name (%zu characters): %s\n", chars(name), name);
    const char *code = "000.00.16.H29.G22.X01.A1-261123-0001";
    const char *link = "https://congdanso.hochiminhcity.gov.vn/h/000.00.16.H29-261123-0001#abc";
    CHECK_INT(strlen(code), 36);
    CHECK_INT(strlen(link), 70);
    json_t *v = json_pack(
        "{s:s, s:s, s:I, s:I, s:s, s:[s,s,s], s:s, s:s}", "dossier_code", code, "procedure_name", name,
        "amount", (json_int_t)999999999999LL, "received", (json_int_t)999999999998LL, "due_date", "31/12/2026", "missing_documents",
        docs[0], docs[1], docs[2], "note",
        "Hồ sơ không đủ điều kiện theo quy định tại Điều 12 Nghị định 123/2015/NĐ-CP: người "
        "yêu cầu không cung cấp được giấy tờ chứng minh nơi cư trú hợp pháp, bản sao không được "
        "chứng thực và thông tin trong tờ khai không khớp với Cơ sở dữ liệu quốc gia về dân cư. "
        "Đề nghị công dân liên hệ bộ phận một cửa để được hướng dẫn nộp lại hồ sơ.",
        "link", link);
    /* Courier statuses (delivery/): the longest a carrier may send. */
    json_object_update_new(
        v, json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:s}", "carrier_name", "VNPost", "tracking_no",
                     "EB1234567890123456VN", "reason",
                     "Người nhận không có mặt tại địa chỉ, điện thoại không liên lạc được sau ba "
                     "lần gọi; bưu tá đã để lại giấy báo phát và sẽ quay lại vào ngày làm việc kế tiếp",
                     "location", "Bưu cục phát Trung tâm Sài Gòn, 125 Hai Bà Trưng, Phường Bến Nghé, Quận 1",
                     "attempt", 3, "max_attempts", 3, "time", "23:59 31/12"));
    /* The agent's consent code (dossiers/agent_consent.c). */
    json_object_update_new(
        v, json_pack("{s:s,s:s,s:i}", "code", "123456", "location_name",
                     "Bưu điện Văn hóa xã Phạm Văn Hai, huyện Bình Chánh, Thành phố Hồ Chí Minh - điểm "
                     "phục vụ hành chính công",
                     "minutes", 5));
    json_decref(cat); /* the strings were copied by json_pack */
    return v;
}

static void test_every_template_fits(const json_t *doc)
{
    json_t *vars = longest_vars();
    char sms[2048], err[64];
    int worst = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "templates"), i, t)
    {
        const char *step = json_string_value(json_object_get(t, "step"));
        const char *ch = json_string_value(json_object_get(t, "channel"));
        const char *body = json_string_value(json_object_get(t, "body"));
        int n = cds_template_render(body, vars, out, sizeof out, err, sizeof err);
        CHECK(n > 0);
        if (n <= 0) {
            fprintf(stderr, "  %s/%s: %d (%s)\n", step, ch, n, err);
            continue;
        }
        if (strcmp(ch, "sms") == 0) {
            int len = cds_vn_fold(out, sms, sizeof sms), sept = 0;
            CHECK(len > 0);
            int seg = cds_sms_segments(sms, &sept);
            printf("sms  %-20s %3d septets, %d segment(s): %s\n", step, sept, seg, sms);
            CHECK(seg >= 1 && seg <= 2);
            CHECK(sept <= 2 * CDS_SMS_PART_SEPTETS);
            CHECK(strstr(sms, "{{") == NULL);
            if (sept > worst) worst = sept;
        } else {
            const char *title = json_string_value(json_object_get(t, "title"));
            char tbuf[512];
            int tn = cds_template_render(title, vars, tbuf, sizeof tbuf, err, sizeof err);
            CHECK(tn > 0);
            printf("push %-20s title %2zu, body %3zu characters: %s | %s\n", step,
                   tn > 0 ? chars(tbuf) : 0, chars(out), tn > 0 ? tbuf : "?", out);
            CHECK(tn > 0 && chars(tbuf) <= 65);
            CHECK(chars(out) <= 240);
        }
    }
    printf("longest SMS: %d septets of %d\n", worst, 2 * CDS_SMS_PART_SEPTETS);
    json_decref(vars);
}

/* With only what every step's data has (cds_step_vars always sets the code
 * and procedure name; the dispatcher adds the link), optional parts vanish
 * and only the steps that need a fee or a document list fail, by name. */
static void test_minimal_vars(const json_t *doc)
{
    json_t *vars = J("{\"dossier_code\":\"000.20.01.H29-261123-0001\","
                     "\"procedure_name\":\"Đăng ký khai sinh\",\"link\":\"https://x.vn/h/1\"}");
    for (int s = 0; s < NSTEPS; s++) {
        for (int c = 0; c < 2; c++) {
            const json_t *t = cds_templates_find(doc, STEPS[s], c ? "push" : "sms", 0);
            const char *body = json_string_value(json_object_get(t, "body"));
            int n = cds_template_render(body, vars, out, sizeof out, missing, sizeof missing);
            if (strcmp(STEPS[s], "fee_requested") == 0) {
                CHECK_INT(n, -1);
                CHECK_STR(missing, "amount");
            } else if (strcmp(STEPS[s], "payment_partial") == 0) {
                CHECK_INT(n, -1);
                CHECK_STR(missing, "received");
            } else if (strcmp(STEPS[s], "supplement_requested") == 0) {
                CHECK_INT(n, -1);
                CHECK_STR(missing, "missing_documents");
            } else {
                CHECK(n > 0);
                CHECK(strstr(out, "  ") == NULL && strstr(out, "()") == NULL &&
                      strstr(out, " .") == NULL);
            }
        }
    }
    json_decref(vars);
}

/* One message end to end, exactly. */
static void test_exact_messages(const json_t *doc)
{
    json_t *vars = J("{\"dossier_code\":\"000.20.01.H29-261123-0001\","
                     "\"procedure_name\":\"Đăng ký khai sinh\",\"due_date\":\"05/12/2026\","
                     "\"amount\":37500,\"link\":\"https://cds.vn/h/1\"}");
    char sms[1024];
    const json_t *t = cds_templates_find(doc, "received", "sms", 0);
    CHECK(cds_template_render(json_string_value(json_object_get(t, "body")), vars, out, sizeof out,
                              NULL, 0) > 0);
    CHECK(cds_vn_fold(out, sms, sizeof sms) > 0);
    CHECK_STR(sms, "Ho so 000.20.01.H29-261123-0001 (Dang ky khai sinh) da duoc tiep nhan. Han tra "
                   "ket qua: 05/12/2026. Tra cuu: https://cds.vn/h/1");
    t = cds_templates_find(doc, "received", "push", 0);
    CHECK(cds_template_render(json_string_value(json_object_get(t, "body")), vars, out, sizeof out,
                              NULL, 0) > 0);
    CHECK_STR(out, "Hồ sơ 000.20.01.H29-261123-0001 (Đăng ký khai sinh) đã được tiếp nhận. Hạn trả "
                   "kết quả: 05/12/2026.");
    t = cds_templates_find(doc, "fee_requested", "sms", 0);
    CHECK(cds_template_render(json_string_value(json_object_get(t, "body")), vars, out, sizeof out,
                              NULL, 0) > 0);
    CHECK(cds_vn_fold(out, sms, sizeof sms) > 0);
    CHECK(strstr(sms, " 37.500 d.") != NULL);
    json_decref(vars);
}

int main(void)
{
    test_values();
    test_cut();
    test_sections();
    test_missing();
    test_malformed();
    test_too_long();
    json_t *doc = load("db/seed/templates.json");
    CHECK(doc != NULL);
    if (doc) {
        test_file_shape(doc);
        test_check_rejects();
        test_every_template_fits(doc);
        test_minimal_vars(doc);
        test_exact_messages(doc);
    }
    json_decref(doc);
    return t_done();
}
