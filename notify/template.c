/* Notification templates (see template.h): the {{...}} renderer and the
 * checks of the templates document.
 *
 * Rendering is two passes over the template text. The first only parses
 * (cds_template_syntax), so a malformed template is refused the same way
 * whatever data it meets, and the second can then trust the tags: it copies
 * the text between tags, formats each variable straight into the caller's
 * buffer and either renders or skips each section's inner span. Writing
 * stops at the buffer's end but parsing goes on, so a missing variable later
 * in the text is still named (a clearer failure than "too long").
 *
 * A variable with a length filter is measured before it is written: the
 * value is visited as pieces (a string, a formatted number, the ", " between
 * array items) once to count its characters and once to write them, so no
 * temporary copy of a possibly long value (a 2 000-character note, fifty
 * missing documents) is made. */
#include "notify/template.h"

#include "core/vn.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum {
    NAME_MAX_LEN = 64,
    DEPTH_MAX = 8,
    CUT_MIN = 4, /* room for one character and the "..." */
    CUT_MAX = 10000,
};

const char *const cds_template_steps[CDS_TEMPLATE_STEP_COUNT] = {
    "submitted",        "received",      "supplement_requested",
    "supplemented",     "fee_requested", "paid",
    "processing",       "result_ready",  "out_for_delivery",
    "ready_for_pickup", "completed",     "rejected",
    "cancelled",        "payment_partial",
};

const char *const cds_template_courier[CDS_TEMPLATE_COURIER_COUNT] = {
    "courier_booked",          "courier_picked_up", "courier_in_transit",
    "courier_out_for_delivery", "courier_delivered", "courier_delivery_failed",
    "courier_returning",       "courier_returned",  "courier_cancelled",
};

const char *const cds_template_sms_only[CDS_TEMPLATE_SMS_ONLY_COUNT] = {"agent_consent"};

#define WITH_PUSH (CDS_TEMPLATE_STEP_COUNT + CDS_TEMPLATE_COURIER_COUNT)
#define TEMPLATE_NAMES (WITH_PUSH + CDS_TEMPLATE_SMS_ONLY_COUNT)

static const char *template_name(int i)
{
    return i < CDS_TEMPLATE_STEP_COUNT ? cds_template_steps[i]
           : i < WITH_PUSH             ? cds_template_courier[i - CDS_TEMPLATE_STEP_COUNT]
                                       : cds_template_sms_only[i - WITH_PUSH];
}

/* ---------------- parsing ---------------- */

typedef struct tag {
    char kind;        /* 0 a variable, '#' a section, '/' a section's end */
    const char *name; /* not NUL-terminated */
    size_t name_len;
    int cut;         /* the |N filter, 0 without */
    const char *end; /* just past the closing braces */
} tag;

/* The first "{{" in [p, end), or NULL. */
static const char *find_open(const char *p, const char *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '{' && p[1] == '{') return p;
    return NULL;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static const char *skip_spaces(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Parses the tag whose "{{" is at p, within [p, end). 0, or -1 with the
 * reason in *why. */
static int parse_tag(const char *p, const char *end, tag *t, const char **why)
{
    const char *close = NULL;
    for (const char *q = p + 2; q + 1 < end; q++)
        if (q[0] == '}' && q[1] == '}') {
            close = q;
            break;
        }
    if (!close) {
        *why = "\"{{\" without \"}}\"";
        return -1;
    }
    memset(t, 0, sizeof *t);
    t->end = close + 2;
    const char *q = skip_spaces(p + 2, close);
    if (q < close && (*q == '#' || *q == '/')) t->kind = *q++;
    q = skip_spaces(q, close);
    t->name = q;
    while (q < close && is_name_char(*q))
        q++;
    t->name_len = (size_t)(q - t->name);
    if (t->name_len == 0 || t->name_len > NAME_MAX_LEN) {
        *why = "a tag without a valid name ([A-Za-z0-9_], 1 to 64)";
        return -1;
    }
    q = skip_spaces(q, close);
    if (q < close && *q == '|') {
        if (t->kind) {
            *why = "a length filter on a section tag";
            return -1;
        }
        q = skip_spaces(q + 1, close);
        const char *digits = q;
        long n = 0;
        while (q < close && *q >= '0' && *q <= '9' && n <= CUT_MAX)
            n = n * 10 + (*q++ - '0');
        if (q == digits || n < CUT_MIN || n > CUT_MAX) {
            *why = "a length filter that is not a number from 4 to 10000";
            return -1;
        }
        t->cut = (int)n;
        q = skip_spaces(q, close);
    }
    if (q != close) {
        *why = "unexpected text inside {{ }}";
        return -1;
    }
    return 0;
}

static void set_err(char *err, size_t cap, const char *msg)
{
    if (err && cap) snprintf(err, cap, "%s", msg);
}

int cds_template_syntax(const char *tmpl, char *err, size_t cap)
{
    set_err(err, cap, "");
    if (!tmpl) {
        set_err(err, cap, "no template");
        return CDS_TEMPLATE_MALFORMED;
    }
    const char *end = tmpl + strlen(tmpl), *p = tmpl, *why = NULL;
    tag open[DEPTH_MAX];
    int depth = 0;
    while ((p = find_open(p, end)) != NULL) {
        tag t;
        if (parse_tag(p, end, &t, &why) != 0) {
            if (err && cap) snprintf(err, cap, "%s at offset %zu", why, (size_t)(p - tmpl));
            return CDS_TEMPLATE_MALFORMED;
        }
        if (t.kind == '#') {
            if (depth == DEPTH_MAX) {
                set_err(err, cap, "sections nested more than 8 deep");
                return CDS_TEMPLATE_MALFORMED;
            }
            open[depth++] = t;
        } else if (t.kind == '/') {
            if (depth == 0 || open[depth - 1].name_len != t.name_len ||
                memcmp(open[depth - 1].name, t.name, t.name_len) != 0) {
                if (err && cap)
                    snprintf(err, cap, "{{/%.*s}} does not close the open section", (int)t.name_len,
                             t.name);
                return CDS_TEMPLATE_MALFORMED;
            }
            depth--;
        }
        p = t.end;
    }
    if (depth > 0) {
        if (err && cap)
            snprintf(err, cap, "section {{#%.*s}} never closed", (int)open[depth - 1].name_len,
                     open[depth - 1].name);
        return CDS_TEMPLATE_MALFORMED;
    }
    return 0;
}

/* ---------------- values ---------------- */

static const json_t *lookup(const json_t *vars, const tag *t)
{
    char name[NAME_MAX_LEN + 1];
    memcpy(name, t->name, t->name_len);
    name[t->name_len] = 0;
    return json_is_object(vars) ? json_object_get(vars, name) : NULL;
}

/* What a citizen would read as "there is nothing": also what makes a
 * section disappear. */
static int present(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v)) return 0;
    if (json_is_string(v) && json_string_value(v)[0] == 0) return 0;
    if (json_is_array(v) && json_array_size(v) == 0) return 0;
    return 1;
}

/* A real is shown only when it is a whole number (a fee from a system that
 * writes 37500.0); a fraction has no agreed rendering in these messages. */
static int whole_real(const json_t *v, long long *out)
{
    double d = json_real_value(v);
    if (!isfinite(d) || d != floor(d) || fabs(d) >= 1e15) return 0;
    *out = (long long)d;
    return 1;
}

static int printable_scalar(const json_t *v)
{
    long long n;
    return json_is_string(v) || json_is_integer(v) || (json_is_real(v) && whole_real(v, &n));
}

static int printable(const json_t *v)
{
    if (!json_is_array(v)) return printable_scalar(v);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (!printable_scalar(e)) return 0;
    return 1;
}

typedef int (*piece_fn)(void *ctx, const char *s, size_t n);

static int scalar_piece(const json_t *v, piece_fn fn, void *ctx)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return fn(ctx, s, strlen(s)); /* stops at an embedded NUL, as the text would */
    }
    char num[CDS_VN_GROUPED_MAX];
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : 0;
    if (json_is_real(v)) whole_real(v, &n);
    return fn(ctx, num, cds_vn_grouped(n, num, sizeof num));
}

/* Calls fn for each piece of a printable value; stops when fn returns
 * nonzero. */
static int each_piece(const json_t *v, piece_fn fn, void *ctx)
{
    if (!json_is_array(v)) return scalar_piece(v, fn, ctx);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (i > 0 && fn(ctx, ", ", 2)) return 1;
        if (scalar_piece(e, fn, ctx)) return 1;
    }
    return 0;
}

/* Bytes of the UTF-8 character at s (at most n), and whether it is a
 * combining mark U+0300..U+036F, which belongs to the character before. */
static size_t char_len(const unsigned char *s, size_t n, int *mark)
{
    size_t l = s[0] < 0x80             ? 1
               : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 1;
    if (l > n) l = n;
    *mark = l == 2 && (s[0] == 0xcc || (s[0] == 0xcd && s[1] <= 0xaf));
    return l;
}

/* ---------------- rendering ---------------- */

typedef struct writer {
    char *out;
    size_t cap, len;
    int overflow;
    const json_t *vars;
    char *missing;
    size_t missing_cap;
} writer;

static void put(writer *w, const char *s, size_t n)
{
    if (w->overflow || n == 0) return;
    if (n >= w->cap - w->len) { /* keep a byte for the NUL */
        w->overflow = 1;
        return;
    }
    memcpy(w->out + w->len, s, n);
    w->len += n;
}

static int put_piece(void *ctx, const char *s, size_t n)
{
    put(ctx, s, n);
    return 0;
}

typedef struct counter {
    writer *w; /* NULL: only count */
    size_t limit, chars;
    int stopped;
} counter;

/* Counts (and, with a writer, writes) characters up to the limit. */
static int count_piece(void *ctx, const char *s, size_t n)
{
    counter *c = ctx;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int mark;
        size_t l = char_len(u + i, n - i, &mark);
        if (!mark) {
            if (c->chars == c->limit) {
                c->stopped = 1;
                return 1;
            }
            c->chars++;
        }
        if (c->w) put(c->w, s + i, l);
        i += l;
    }
    return 0;
}

static int put_var(writer *w, const tag *t)
{
    const json_t *v = lookup(w->vars, t);
    if (!present(v) || !printable(v)) {
        if (w->missing && w->missing_cap)
            snprintf(w->missing, w->missing_cap, "%.*s", (int)t->name_len, t->name);
        return CDS_TEMPLATE_MISSING;
    }
    counter all = {.w = NULL, .limit = t->cut ? (size_t)t->cut : SIZE_MAX};
    if (t->cut) each_piece(v, count_piece, &all);
    if (!all.stopped) {
        each_piece(v, put_piece, w);
        return 0;
    }
    /* Too long: N-3 characters, then "..." instead of the rest. */
    size_t start = w->len;
    counter head = {.w = w, .limit = (size_t)t->cut - 3};
    each_piece(v, count_piece, &head);
    while (w->len > start && (w->out[w->len - 1] == ' ' || w->out[w->len - 1] == ','))
        w->len--; /* "A, B, ..." reads better as "A, B..." */
    put(w, "...", 3);
    return 0;
}

/* Renders the well-formed span [p, end). */
static int render_span(writer *w, const char *p, const char *end, int depth)
{
    const char *why;
    while (p < end) {
        const char *o = find_open(p, end);
        if (!o) {
            put(w, p, (size_t)(end - p));
            break;
        }
        put(w, p, (size_t)(o - p));
        tag t;
        if (parse_tag(o, end, &t, &why) != 0 || t.kind == '/' ||
            (t.kind == '#' && depth >= DEPTH_MAX))
            return CDS_TEMPLATE_MALFORMED; /* cannot happen after cds_template_syntax */
        if (t.kind == 0) {
            int rc = put_var(w, &t);
            if (rc) return rc;
            p = t.end;
            continue;
        }
        /* A section: find its end, counting the nested ones. */
        const char *q = t.end;
        tag u;
        int nest = 0;
        for (;;) {
            q = find_open(q, end);
            if (!q || parse_tag(q, end, &u, &why) != 0) return CDS_TEMPLATE_MALFORMED;
            if (u.kind == '#') nest++;
            if (u.kind == '/' && nest-- == 0) break;
            q = u.end;
        }
        if (present(lookup(w->vars, &t))) {
            int rc = render_span(w, t.end, q, depth + 1);
            if (rc) return rc;
        }
        p = u.end;
    }
    return 0;
}

int cds_template_render(const char *tmpl, const json_t *vars, char *out, size_t cap, char *missing,
                        size_t missing_cap)
{
    if (missing && missing_cap) missing[0] = 0;
    if (!out || cap == 0) return CDS_TEMPLATE_TOO_LONG;
    out[0] = 0;
    if (cds_template_syntax(tmpl, NULL, 0) != 0) return CDS_TEMPLATE_MALFORMED;
    writer w = {
        .out = out, .cap = cap, .vars = vars, .missing = missing, .missing_cap = missing_cap};
    int rc = render_span(&w, tmpl, tmpl + strlen(tmpl), 0);
    if (rc == 0 && (w.overflow || w.len > INT_MAX)) rc = CDS_TEMPLATE_TOO_LONG;
    if (rc) {
        out[0] = 0;
        return rc;
    }
    out[w.len] = 0;
    return (int)w.len;
}

/* ---------------- the templates document ---------------- */

static int step_index(const char *s)
{
    for (int i = 0; s && i < TEMPLATE_NAMES; i++)
        if (strcmp(s, template_name(i)) == 0) return i;
    return -1;
}

/* An entry's language: its "lang", Vietnamese when absent. */
static const char *entry_lang(const json_t *t)
{
    const char *l = json_string_value(json_object_get(t, "lang"));
    return l ? l : "vi";
}

const json_t *cds_templates_find(const json_t *doc, const char *step, const char *channel,
                                 int version)
{
    return cds_templates_find_lang(doc, step, channel, "vi", version);
}

const json_t *cds_templates_find_lang(const json_t *doc, const char *step, const char *channel,
                                      const char *lang, int version)
{
    const json_t *best = NULL, *list = json_object_get(doc, "templates");
    json_int_t best_v = 0;
    size_t i;
    json_t *t;
    if (!step || !channel || !lang || version < 0) return NULL;
    json_array_foreach(list, i, t)
    {
        const char *s = json_string_value(json_object_get(t, "step"));
        const char *c = json_string_value(json_object_get(t, "channel"));
        json_int_t v = json_integer_value(json_object_get(t, "version"));
        if (!s || !c || strcmp(s, step) != 0 || strcmp(c, channel) != 0 ||
            strcmp(entry_lang(t), lang) != 0)
            continue;
        if (version ? v == version : v > best_v) {
            best = t;
            best_v = v;
        }
    }
    return best;
}

static int check_text(const json_t *t, const char *field, size_t idx, char *err, size_t cap)
{
    const char *s = json_string_value(json_object_get(t, field));
    char why[160];
    if (!s || !s[0]) {
        if (err && cap) snprintf(err, cap, "templates[%zu]: no %s", idx, field);
        return -1;
    }
    if (cds_template_syntax(s, why, sizeof why) != 0) {
        if (err && cap) snprintf(err, cap, "templates[%zu].%s: %s", idx, field, why);
        return -1;
    }
    return 0;
}

int cds_templates_check(const json_t *doc, char *err, size_t cap)
{
    set_err(err, cap, "");
    const json_t *list = json_object_get(doc, "templates");
    if (!json_is_array(list)) {
        set_err(err, cap, "no \"templates\" array");
        return -1;
    }
    int have[TEMPLATE_NAMES][2] = {{0}};
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *step = json_string_value(json_object_get(t, "step"));
        const char *ch = json_string_value(json_object_get(t, "channel"));
        const json_t *ver = json_object_get(t, "version");
        int si = step_index(step);
        int push = ch && strcmp(ch, "push") == 0;
        if (si < 0 || !ch || (!push && strcmp(ch, "sms") != 0) || !json_is_integer(ver) ||
            json_integer_value(ver) < 1 || json_integer_value(ver) > INT_MAX) {
            if (err && cap)
                snprintf(err, cap,
                         "templates[%zu]: needs a known step, channel sms or push "
                         "and a version >= 1",
                         i);
            return -1;
        }
        if (push && si >= WITH_PUSH) {
            if (err && cap) snprintf(err, cap, "templates[%zu]: %s is sent by SMS only", i, step);
            return -1;
        }
        const json_t *lang = json_object_get(t, "lang");
        int en = lang && json_is_string(lang) && strcmp(json_string_value(lang), "en") == 0;
        if (lang && !en && !(json_is_string(lang) && strcmp(json_string_value(lang), "vi") == 0)) {
            if (err && cap) snprintf(err, cap, "templates[%zu]: lang is \"vi\" or \"en\"", i);
            return -1;
        }
        if (en && !push) {
            if (err && cap)
                snprintf(err, cap, "templates[%zu]: an SMS is Vietnamese only (no lang \"en\")", i);
            return -1;
        }
        if (check_text(t, "body", i, err, cap) != 0) return -1;
        if (push ? check_text(t, "title", i, err, cap) != 0 : json_object_get(t, "title") != NULL) {
            if (!push && err && cap) snprintf(err, cap, "templates[%zu]: an SMS has no title", i);
            return -1;
        }
        if (cds_templates_find_lang(doc, step, ch, entry_lang(t), (int)json_integer_value(ver)) != t) {
            if (err && cap)
                snprintf(err, cap, "templates[%zu]: %s/%s%s version %lld appears twice", i, step, ch,
                         en ? " (en)" : "", (long long)json_integer_value(ver));
            return -1;
        }
        /* Every Vietnamese push has its English version, of the same
         * version number (issue 18: a template without one is refused). */
        if (push && !en &&
            !cds_templates_find_lang(doc, step, ch, "en", (int)json_integer_value(ver))) {
            if (err && cap)
                snprintf(err, cap, "templates[%zu]: push %s version %lld has no English version",
                         i, step, (long long)json_integer_value(ver));
            return -1;
        }
        if (!en) have[si][push] = 1;
    }
    for (int s = 0; s < TEMPLATE_NAMES; s++)
        for (int c = 0; c < (s < WITH_PUSH ? 2 : 1); c++)
            if (!have[s][c]) {
                if (err && cap)
                    snprintf(err, cap, "no %s template for step %s", c ? "push" : "sms",
                             template_name(s));
                return -1;
            }
    return 0;
}
