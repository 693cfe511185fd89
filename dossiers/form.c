/* Procedure forms: checking a form schema when the catalog is loaded or
 * updated, checking a citizen's submitted values against it, and filling a
 * form from the citizen's VNeID profile so nobody types their ID data twice.
 *
 * A schema is {"fields":[{name,label,type,required,max_length,min,max,
 * options,prefill}]} (see dossiers/internal.h). Values are a flat JSON object
 * {"field name": value}. Checking is strict on purpose: the dossier goes to
 * the city's TTHC system as is, so a number sent as a string, a date that is
 * not on the calendar or a field the form does not have is refused here, with
 * a Vietnamese message naming the field's label, rather than by an officer
 * days later. Messages are cut at a UTF-8 character boundary so a long label
 * never yields invalid UTF-8 in a JSON answer. */
#include "internal.h"
#include "core/date.h"
#include "core/utf8.h"
#include "core/vn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STRING_MAX_DEFAULT 500
#define TEXT_MAX_DEFAULT 5000
#define FIELDS_MAX 100
#define OPTIONS_MAX 200
#define LABEL_MAX 200 /* characters */

enum ftype {
    T_STRING,
    T_TEXT,
    T_INTEGER,
    T_NUMBER,
    T_BOOLEAN,
    T_DATE,
    T_ENUM,
    T_PID,
    T_PHONE,
    T_BAD
};

static const char *const type_names[] = {"string", "text", "integer",     "number", "boolean",
                                         "date",   "enum", "personal_id", "phone"};

static enum ftype type_of(const char *s)
{
    for (int i = 0; s && i < T_BAD; i++)
        if (strcmp(s, type_names[i]) == 0) return (enum ftype)i;
    return T_BAD;
}

static const char *const prefill_keys[] = {"full_name", "personal_id", "birth_date", "gender",
                                           "address",   "phone",       "email"};

static void put(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *dst, size_t cap, const char *fmt, ...)
{
    if (!dst || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    if (n < 0)
        dst[0] = 0;
    else if ((size_t)n >= cap) /* vsnprintf cut at a byte: not inside a character */
        dst[cds_utf8_whole(dst, cap - 1)] = 0;
}

/* Control characters other than the ones a multi-line text may hold. */
static int has_control(const char *s, int multiline)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == 0x7f) return 1;
        if (*p < 0x20 && !(multiline && (*p == '\n' || *p == '\r' || *p == '\t'))) return 1;
    }
    return 0;
}

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 48 || !(s[0] >= 'a' && s[0] <= 'z')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* "YYYY-MM-DD" naming a day that exists, 1900..2100: the documents and
 * birth dates a form asks for all fall in that range. */
static int date_ok(const char *s)
{
    return cds_date_parse(s, 1900, 2100, NULL) == 0;
}

static const char *option_value(const json_t *o)
{
    return json_is_string(o) ? json_string_value(o)
                             : json_string_value(json_object_get(o, "value"));
}

/* ------------------------------------------------------------------ schema */

static int known_key(const char *k)
{
    static const char *const keys[] = {"name", "label", "type",    "required", "max_length",
                                       "min",  "max",   "options", "prefill"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(k, keys[i]) == 0) return 1;
    return 0;
}

static int check_options(const json_t *opts, char *err, size_t cap, const char *fname)
{
    size_t n = json_array_size(opts);
    if (!json_is_array(opts) || n == 0 || n > OPTIONS_MAX) {
        put(err, cap, "trường '%s': kiểu enum cần 'options' là mảng 1..%d lựa chọn", fname,
            OPTIONS_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(opts, i);
        const char *v = option_value(o);
        if (json_is_object(o)) {
            const char *k;
            json_t *x;
            const char *label = json_string_value(json_object_get(o, "label"));
            json_object_foreach((json_t *)o, k, x) {
                if (strcmp(k, "value") != 0 && strcmp(k, "label") != 0) v = NULL;
            }
            if (!label || !*label || cds_utf8_chars(label) > LABEL_MAX) v = NULL;
        }
        if (!v || !*v || cds_utf8_chars(v) > LABEL_MAX || has_control(v, 0)) {
            put(err, cap,
                "trường '%s': lựa chọn %zu phải là chuỗi khác rỗng hoặc {\"value\",\"label\"}",
                fname, i);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(v, option_value(json_array_get(opts, j))) == 0) {
                put(err, cap, "trường '%s': lựa chọn '%.*s' bị lặp", fname, (int)cds_utf8_cut(v, strlen(v), 100), v);
                return -1;
            }
    }
    return 0;
}

/* Checks a schema before it is stored (catalog file, TTHC system update):
 * the form a citizen is later held to must itself make sense. */
int cds_form_schema_check(const json_t *schema, char *err, size_t cap)
{
    put(err, cap, "%s", "");
    const json_t *fields = json_object_get(schema, "fields");
    if (!json_is_object(schema) || json_object_size(schema) != 1 || !json_is_array(fields)) {
        put(err, cap, "form_schema phải có dạng {\"fields\":[...]}");
        return -1;
    }
    if (json_array_size(fields) > FIELDS_MAX) {
        put(err, cap, "form_schema có quá %d trường", FIELDS_MAX);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const json_t *f = json_array_get(fields, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        if (!json_is_object(f) || !name_ok(name)) {
            put(err, cap, "trường thứ %zu: 'name' phải khớp [a-z][a-z0-9_]{0,47}", i);
            return -1;
        }
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)f, k, x) {
            if (!known_key(k)) {
                put(err, cap, "trường '%s': khóa '%.*s' không được hỗ trợ", name,
                    (int)cds_utf8_cut(k, strlen(k), 40), k);
                return -1;
            }
        }
        for (size_t j = 0; j < i; j++) {
            const json_t *earlier = json_array_get(fields, j);
            if (strcmp(name, json_string_value(json_object_get(earlier, "name"))) == 0) {
                put(err, cap, "trường '%s' được khai báo hai lần", name);
                return -1;
            }
        }
        const char *label = json_string_value(json_object_get(f, "label"));
        if (!label || !*label || cds_utf8_chars(label) > LABEL_MAX || has_control(label, 0)) {
            put(err, cap, "trường '%s': 'label' phải dài 1..%d ký tự, một dòng", name, LABEL_MAX);
            return -1;
        }
        enum ftype t = type_of(json_string_value(json_object_get(f, "type")));
        if (t == T_BAD) {
            put(err, cap, "trường '%s': 'type' không hợp lệ", name);
            return -1;
        }
        const json_t *req = json_object_get(f, "required");
        if (req && !json_is_boolean(req)) {
            put(err, cap, "trường '%s': 'required' phải là true hoặc false", name);
            return -1;
        }
        const json_t *ml = json_object_get(f, "max_length");
        if (ml) {
            long long lim = t == T_TEXT ? TEXT_MAX_DEFAULT : STRING_MAX_DEFAULT;
            if ((t != T_STRING && t != T_TEXT) || !json_is_integer(ml) ||
                json_integer_value(ml) < 1 || json_integer_value(ml) > lim) {
                put(err, cap,
                    "trường '%s': 'max_length' chỉ dùng cho string (1..%d) và text (1..%d)", name,
                    STRING_MAX_DEFAULT, TEXT_MAX_DEFAULT);
                return -1;
            }
        }
        const json_t *mn = json_object_get(f, "min"), *mx = json_object_get(f, "max");
        if (mn || mx) {
            int ok = t == T_INTEGER || t == T_NUMBER;
            if (t == T_INTEGER)
                ok = ok && (!mn || json_is_integer(mn)) && (!mx || json_is_integer(mx));
            else
                ok = ok && (!mn || json_is_number(mn)) && (!mx || json_is_number(mx));
            if (ok && mn && mx) ok = json_number_value(mn) <= json_number_value(mx);
            if (!ok) {
                put(err, cap,
                    "trường '%s': 'min'/'max' chỉ dùng cho integer (số nguyên) và number, min <= "
                    "max",
                    name);
                return -1;
            }
        }
        const json_t *opts = json_object_get(f, "options");
        if (t == T_ENUM) {
            if (check_options(opts, err, cap, name) != 0) return -1;
        } else if (opts) {
            put(err, cap, "trường '%s': 'options' chỉ dùng cho kiểu enum", name);
            return -1;
        }
        const json_t *pf = json_object_get(f, "prefill");
        if (pf) {
            int ok = 0;
            for (size_t j = 0;
                 json_is_string(pf) && j < sizeof prefill_keys / sizeof prefill_keys[0]; j++)
                ok |= strcmp(json_string_value(pf), prefill_keys[j]) == 0;
            if (!ok) {
                put(err, cap,
                    "trường '%s': 'prefill' phải là full_name, personal_id, birth_date, "
                    "gender, address, phone hoặc email",
                    name);
                return -1;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------- validation */

static const json_t *field_named(const json_t *fields, const char *name)
{
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const json_t *f = json_array_get(fields, i);
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && strcmp(n, name) == 0) return f;
    }
    return NULL;
}

static void fmt_num(const json_t *v, char *out, size_t cap)
{
    if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else
        snprintf(out, cap, "%g", json_number_value(v));
}

/* One value against its field: 0 when it is acceptable, else -1 with the
 * message (Vietnamese, naming the label) written to msg. */
static int check_value(const json_t *f, const json_t *v, char *msg, size_t cap)
{
    const char *label = json_string_value(json_object_get(f, "label"));
    if (!label) label = json_string_value(json_object_get(f, "name"));
    enum ftype t = type_of(json_string_value(json_object_get(f, "type")));
    int required = json_is_true(json_object_get(f, "required"));
    switch (t) {
    case T_STRING:
    case T_TEXT: {
        if (!json_is_string(v)) {
            put(msg, cap, "“%s” phải là chuỗi ký tự.", label);
            return -1;
        }
        const char *s = json_string_value(v);
        if (json_string_length(v) != strlen(s) || has_control(s, t == T_TEXT)) {
            put(msg, cap,
                t == T_STRING ? "“%s” chỉ được gồm một dòng, không chứa ký tự điều khiển."
                              : "“%s” chứa ký tự không hợp lệ.",
                label);
            return -1;
        }
        const json_t *ml = json_object_get(f, "max_length");
        long long max = json_is_integer(ml) ? json_integer_value(ml)
                        : t == T_TEXT       ? TEXT_MAX_DEFAULT
                                            : STRING_MAX_DEFAULT;
        if ((long long)cds_utf8_chars(s) > max) {
            put(msg, cap, "“%s” không được dài quá %lld ký tự.", label, max);
            return -1;
        }
        /* A required field filled with blanks is not filled. */
        if (required && strspn(s, " \t\r\n") == strlen(s)) {
            put(msg, cap, "Vui lòng nhập “%s”.", label);
            return -1;
        }
        return 0;
    }
    case T_INTEGER:
    case T_NUMBER: {
        if (t == T_INTEGER ? !json_is_integer(v) : !json_is_number(v)) {
            put(msg, cap, t == T_INTEGER ? "“%s” phải là số nguyên." : "“%s” phải là số.", label);
            return -1;
        }
        const json_t *mn = json_object_get(f, "min"), *mx = json_object_get(f, "max");
        int below, above;
        if (t == T_INTEGER) {
            below = json_is_integer(mn) && json_integer_value(v) < json_integer_value(mn);
            above = json_is_integer(mx) && json_integer_value(v) > json_integer_value(mx);
        } else {
            below = json_is_number(mn) && json_number_value(v) < json_number_value(mn);
            above = json_is_number(mx) && json_number_value(v) > json_number_value(mx);
        }
        char lim[32];
        if (below) {
            fmt_num(mn, lim, sizeof lim);
            put(msg, cap, "“%s” phải lớn hơn hoặc bằng %s.", label, lim);
            return -1;
        }
        if (above) {
            fmt_num(mx, lim, sizeof lim);
            put(msg, cap, "“%s” phải nhỏ hơn hoặc bằng %s.", label, lim);
            return -1;
        }
        return 0;
    }
    case T_BOOLEAN:
        if (!json_is_boolean(v)) {
            put(msg, cap, "“%s” phải là true (có) hoặc false (không).", label);
            return -1;
        }
        return 0;
    case T_DATE:
        if (!date_ok(json_string_value(v))) {
            put(msg, cap, "“%s” phải là một ngày có thật, dạng NNNN-TT-NN (ví dụ 2025-01-31).",
                label);
            return -1;
        }
        return 0;
    case T_ENUM: {
        const char *s = json_string_value(v);
        const json_t *opts = json_object_get(f, "options");
        for (size_t i = 0; s && i < json_array_size(opts); i++) {
            const char *o = option_value(json_array_get(opts, i));
            if (o && strcmp(o, s) == 0) return 0;
        }
        put(msg, cap, "“%s” phải là một trong các lựa chọn cho sẵn.", label);
        return -1;
    }
    case T_PID:
        if (!cds_vn_pid_valid(json_string_value(v))) {
            put(msg, cap, "“%s” phải là số định danh cá nhân gồm 12 chữ số.", label);
            return -1;
        }
        return 0;
    case T_PHONE: {
        char norm[16];
        const char *s = json_string_value(v);
        if (!s || strlen(s) > 24 || cds_vn_phone_normalize(s, norm, sizeof norm) != 0) {
            put(msg, cap, "“%s” phải là số điện thoại di động hợp lệ (ví dụ: 0912345678).", label);
            return -1;
        }
        return 0;
    }
    default:
        put(msg, cap, "Biểu mẫu của thủ tục có trường “%s” không hợp lệ.", label);
        return -1;
    }
}

int cds_form_validate(const json_t *schema, const json_t *values, char *field, size_t field_cap,
                      char *msg, size_t msg_cap)
{
    put(field, field_cap, "%s", "");
    put(msg, msg_cap, "%s", "");
    const json_t *fields = json_object_get(schema, "fields");
    if (!json_is_object(values)) {
        put(msg, msg_cap, "Dữ liệu biểu mẫu phải là một đối tượng JSON.");
        return -1;
    }
    /* Unknown fields first: a misspelt name would otherwise surface as the
     * real field being "missing", which misleads. */
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)values, key, v) {
        if (!field_named(fields, key)) {
            put(field, field_cap, "%s", key);
            put(msg, msg_cap, "Biểu mẫu không có trường “%.*s”.", (int)cds_utf8_cut(key, strlen(key), 100), key);
            return -1;
        }
    }
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const json_t *f = json_array_get(fields, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *label = json_string_value(json_object_get(f, "label"));
        if (!name) continue;
        v = json_object_get(values, name);
        /* null is "not given": the app may send every field of the form. */
        if (!v || json_is_null(v)) {
            if (json_is_true(json_object_get(f, "required"))) {
                enum ftype t = type_of(json_string_value(json_object_get(f, "type")));
                put(field, field_cap, "%s", name);
                put(msg, msg_cap,
                    t == T_ENUM || t == T_BOOLEAN ? "Vui lòng chọn “%s”." : "Vui lòng nhập “%s”.",
                    label ? label : name);
                return -1;
            }
            continue;
        }
        if (check_value(f, v, msg, msg_cap) != 0) {
            put(field, field_cap, "%s", name);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- prefill */

/* The profile's value for a prefill key, as a string, or NULL. The contact
 * phone the citizen chose wins over the one VNeID knows. */
static const char *profile_value(const json_t *profile, const char *key)
{
    if (strcmp(key, "phone") == 0) {
        const char *c = json_string_value(json_object_get(profile, "contact_phone"));
        if (c && *c) return c;
    }
    return json_string_value(json_object_get(profile, key));
}

json_t *cds_form_prefill(const json_t *schema, const json_t *profile)
{
    json_t *out = json_object();
    const json_t *fields = json_object_get(schema, "fields");
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const json_t *f = json_array_get(fields, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *key = json_string_value(json_object_get(f, "prefill"));
        if (!name || !key) continue;
        const char *pv = profile_value(profile, key);
        if (!pv || !*pv) continue;
        enum ftype t = type_of(json_string_value(json_object_get(f, "type")));
        char norm[16];
        const char *val = pv;
        if (t == T_PHONE && cds_vn_phone_normalize(pv, norm, sizeof norm) == 0) val = norm;
        if (t == T_ENUM && strcmp(key, "gender") == 0) {
            /* VNeID says male/female; a form may list Vietnamese options. */
            const json_t *opts = json_object_get(f, "options");
            const char *vn = strcmp(pv, "male") == 0     ? "Nam"
                             : strcmp(pv, "female") == 0 ? "Nữ"
                                                         : NULL;
            for (size_t j = 0; vn && j < json_array_size(opts); j++) {
                const char *o = option_value(json_array_get(opts, j));
                if (o && strcmp(o, vn) == 0) val = vn;
            }
        }
        /* Only what the form would accept: a prefilled value the citizen
         * then cannot submit is worse than an empty field. */
        json_t *cand = json_string(val);
        char msg[8];
        if (cand && check_value(f, cand, msg, sizeof msg) == 0)
            json_object_set_new(out, name, cand);
        else
            json_decref(cand);
    }
    return out;
}
