/* Receipt content: checks, JSON in and out, canonical bytes (see
 * canonical.h for the rules and the canonical form).
 *
 * The canonical writer does not sort anything at run time: the field list
 * is fixed, so it is written out below already in key order (a unit test
 * compares it with jansson's JSON_SORT_KEYS output to keep it honest). It
 * refuses to write a content that fails cds_receipt_check(), which is what
 * makes "escape only quote and backslash" a complete escaping rule: a
 * control character never reaches it.
 *
 * Reading JSON is strict the same way as the partner API: a member we do not
 * know is an error, not something to ignore, because an ignored member would
 * be shown nowhere yet could be believed signed. */
#include "receipts/canonical.h"

#include "core/buf.h"
#include "core/utf8.h"
#include "core/uuid.h"
#include "core/vn.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

const char *cds_receipt_kind_name(cds_receipt_kind kind)
{
    switch (kind) {
    case CDS_RCPT_ORIGINAL:
        return "original";
    case CDS_RCPT_REPLACEMENT:
        return "replacement";
    case CDS_RCPT_ADJUSTMENT:
        return "adjustment";
    }
    return NULL;
}

/* ---------------- field checks ---------------- */

/* Length of the well-formed UTF-8 character at s that is not a control
 * character (C0, DEL, C1 U+0080..U+009F), or 0. */
static size_t text_char(const char *s)
{
    uint32_t cp;
    size_t n = cds_utf8_next(s, &cp);
    return n && cp >= 0x20 && (cp < 0x7f || cp > 0x9f) ? n : 0;
}

static int text_ok(const char *s, size_t max)
{
    size_t len = strnlen(s, max + 1);
    if (len == 0 || len > max) return 0;
    while (*s) {
        size_t n = text_char(s);
        if (n == 0) return 0;
        s += n;
    }
    return 1;
}

/* 1..max characters, each a letter, a digit or one of `extra`. */
static int code_ok(const char *s, size_t max, const char *extra)
{
    size_t len = strnlen(s, max + 1);
    if (len == 0 || len > max) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              strchr(extra, c)))
            return 0;
    }
    return 1;
}

static int bank_ref_ok(const char *s)
{
    size_t len = strnlen(s, CDS_RCPT_REF_MAX + 1);
    if (len == 0 || len > CDS_RCPT_REF_MAX) return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~') return 0;
    return 1;
}

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* Vietnamese tax code (mã số thuế): 10 digits, or 10 + "-" + 3 for a branch. */
static int tax_code_ok(const char *s)
{
    size_t n = strnlen(s, 15);
    if (n == 10) return digits(s, 10);
    return n == 14 && digits(s, 10) && s[10] == '-' && digits(s + 11, 3);
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* "YYYY-MM-DDTHH:MM:SS+07:00" naming a real instant; its year to *year. */
static int time_ok(const char *s, int *year)
{
    static const int MDAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strnlen(s, CDS_RCPT_TIME_LEN + 1) != CDS_RCPT_TIME_LEN) return 0;
    if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) ||
        s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' ||
        !digits(s + 17, 2) || memcmp(s + 19, "+07:00", 6) != 0)
        return 0;
    int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
    if (y < 2000 || mo < 1 || mo > 12) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int mdays = MDAYS[mo - 1] + (mo == 2 && leap);
    if (d < 1 || d > mdays) return 0;
    if (num(s + 11, 2) > 23 || num(s + 14, 2) > 59 || num(s + 17, 2) > 59) return 0;
    if (year) *year = y;
    return 1;
}

/* Lowercase only: the canonical bytes must not depend on who typed the id. */
static int receipt_id_ok(const char *s)
{
    if (strnlen(s, 37) != 36 || !cds_uuid_valid(s)) return 0;
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'F') return 0;
    return 1;
}

int cds_receipt_check(const cds_receipt *r, const char **why)
{
    const char *bad = NULL;
    int issued_year = 0;
    char words[CDS_AMOUNT_WORDS_CAP];
    long long min_amount = r && r->kind == CDS_RCPT_ADJUSTMENT ? 0 : 1;
    if (!r)
        bad = "content";
    else if (!code_ok(r->template_no, CDS_RCPT_CODE_MAX, "./-"))
        bad = "template_no";
    else if (!code_ok(r->serial, CDS_RCPT_CODE_MAX, "./-"))
        bad = "serial";
    else if (r->number < 1 || r->number > 99999999L)
        bad = "number";
    else if (!text_ok(r->issuer.agency_name, CDS_RCPT_TEXT_MAX))
        bad = "issuer.agency_name";
    else if (!tax_code_ok(r->issuer.tax_code))
        bad = "issuer.tax_code";
    else if (!text_ok(r->issuer.address, CDS_RCPT_ADDR_MAX))
        bad = "issuer.address";
    else if (!text_ok(r->payer.name, CDS_RCPT_TEXT_MAX))
        bad = "payer.name";
    else if (strnlen(r->payer.personal_id, sizeof r->payer.personal_id) != 12 ||
             !cds_vn_pid_valid(r->payer.personal_id))
        bad = "payer.personal_id";
    else if (!text_ok(r->payer.address, CDS_RCPT_ADDR_MAX))
        bad = "payer.address";
    else if (!text_ok(r->fee_name, CDS_RCPT_TEXT_MAX))
        bad = "fee_name";
    else if (!code_ok(r->dossier_code, CDS_RCPT_REF_MAX, "._/-"))
        bad = "dossier_code";
    else if (r->amount < min_amount || r->amount > CDS_AMOUNT_WORDS_MAX_VND)
        bad = "amount";
    else if (cds_amount_words(r->amount, words, sizeof words) < 0 ||
             strncmp(words, r->amount_words, sizeof words) != 0)
        bad = "amount_words";
    else if (!text_ok(r->payment_method, CDS_RCPT_TEXT_MAX))
        bad = "payment_method";
    else if (!bank_ref_ok(r->bank_ref))
        bad = "bank_ref";
    else if (!time_ok(r->paid_at, NULL))
        bad = "paid_at";
    else if (!time_ok(r->issued_at, &issued_year))
        bad = "issued_at";
    else if (r->year != issued_year)
        bad = "year";
    else if (!cds_receipt_kind_name(r->kind))
        bad = "kind";
    else if (r->kind == CDS_RCPT_ORIGINAL ? r->replaces[0] != '\0' : !receipt_id_ok(r->replaces))
        bad = "replaces";
    if (why) *why = bad;
    return bad ? -1 : 0;
}

/* ---------------- JSON in ---------------- */

static const char *const TOP_KEYS[] = {
    "amount",   "amount_words", "bank_ref",    "dossier_code", "fee_name", "issued_at",
    "issuer",   "kind",         "number",      "paid_at",      "payer",    "payment_method",
    "replaces", "serial",       "template_no", "year",
};
static const char *const ISSUER_KEYS[] = {"address", "agency_name", "tax_code"};
static const char *const PAYER_KEYS[] = {"address", "name", "personal_id"};

/* 1 when every member of o is in keys and every key but `optional` is in o. */
static int members_ok(const json_t *o, const char *const *keys, size_t n, const char *optional)
{
    if (!json_is_object(o)) return 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i = 0;
        while (i < n && strcmp(k, keys[i]) != 0)
            i++;
        if (i == n) return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(o, keys[i]) && !(optional && strcmp(keys[i], optional) == 0)) return 0;
    return 1;
}

/* Copies string member `key` of o into dst (cap bytes). */
static int get_str(const json_t *o, const char *key, char *dst, size_t cap)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    if (!s) return 0;
    size_t n = json_string_length(v);
    if (n != strlen(s) || n >= cap) return 0;
    memcpy(dst, s, n + 1);
    return 1;
}

static int get_int(const json_t *o, const char *key, long long min, long long max, long long *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) return 0;
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) return 0;
    *out = (long long)x;
    return 1;
}

int cds_receipt_from_json(const json_t *c, cds_receipt *out, const char **why)
{
    const char *bad = NULL;
    long long year = 0, number = 0, amount = 0;
    char kind[16] = "";
    const json_t *issuer = json_object_get(c, "issuer"), *payer = json_object_get(c, "payer");
    if (!out) {
        if (why) *why = "content";
        return -1;
    }
    memset(out, 0, sizeof *out);
    if (!members_ok(c, TOP_KEYS, sizeof TOP_KEYS / sizeof TOP_KEYS[0], "replaces"))
        bad = "content (members)";
    else if (!members_ok(issuer, ISSUER_KEYS, 3, NULL))
        bad = "issuer (members)";
    else if (!members_ok(payer, PAYER_KEYS, 3, NULL))
        bad = "payer (members)";
    else if (!get_str(c, "template_no", out->template_no, sizeof out->template_no))
        bad = "template_no";
    else if (!get_str(c, "serial", out->serial, sizeof out->serial))
        bad = "serial";
    else if (!get_int(c, "year", 0, 9999, &year))
        bad = "year";
    else if (!get_int(c, "number", 1, 99999999, &number))
        bad = "number";
    else if (!get_str(issuer, "agency_name", out->issuer.agency_name,
                      sizeof out->issuer.agency_name))
        bad = "issuer.agency_name";
    else if (!get_str(issuer, "tax_code", out->issuer.tax_code, sizeof out->issuer.tax_code))
        bad = "issuer.tax_code";
    else if (!get_str(issuer, "address", out->issuer.address, sizeof out->issuer.address))
        bad = "issuer.address";
    else if (!get_str(payer, "name", out->payer.name, sizeof out->payer.name))
        bad = "payer.name";
    else if (!get_str(payer, "personal_id", out->payer.personal_id, sizeof out->payer.personal_id))
        bad = "payer.personal_id";
    else if (!get_str(payer, "address", out->payer.address, sizeof out->payer.address))
        bad = "payer.address";
    else if (!get_str(c, "fee_name", out->fee_name, sizeof out->fee_name))
        bad = "fee_name";
    else if (!get_str(c, "dossier_code", out->dossier_code, sizeof out->dossier_code))
        bad = "dossier_code";
    else if (!get_int(c, "amount", 0, CDS_AMOUNT_WORDS_MAX_VND, &amount))
        bad = "amount";
    else if (!get_str(c, "amount_words", out->amount_words, sizeof out->amount_words))
        bad = "amount_words";
    else if (!get_str(c, "payment_method", out->payment_method, sizeof out->payment_method))
        bad = "payment_method";
    else if (!get_str(c, "bank_ref", out->bank_ref, sizeof out->bank_ref))
        bad = "bank_ref";
    else if (!get_str(c, "paid_at", out->paid_at, sizeof out->paid_at))
        bad = "paid_at";
    else if (!get_str(c, "issued_at", out->issued_at, sizeof out->issued_at))
        bad = "issued_at";
    else if (json_object_get(c, "replaces") &&
             !get_str(c, "replaces", out->replaces, sizeof out->replaces))
        bad = "replaces";
    else if (!get_str(c, "kind", kind, sizeof kind))
        bad = "kind";
    if (!bad) {
        out->year = (int)year;
        out->number = (long)number;
        out->amount = amount;
        if (strcmp(kind, "original") == 0)
            out->kind = CDS_RCPT_ORIGINAL;
        else if (strcmp(kind, "replacement") == 0)
            out->kind = CDS_RCPT_REPLACEMENT;
        else if (strcmp(kind, "adjustment") == 0)
            out->kind = CDS_RCPT_ADJUSTMENT;
        else
            bad = "kind";
        /* A present "replaces" must be meaningful: an original with one is refused. */
        if (!bad && json_object_get(c, "replaces") && out->replaces[0] == '\0') bad = "replaces";
    }
    if (!bad && cds_receipt_check(out, &bad) == 0) {
        if (why) *why = NULL;
        return 0;
    }
    if (why) *why = bad;
    return -1;
}

/* ---------------- JSON out ---------------- */

json_t *cds_receipt_to_json(const cds_receipt *r)
{
    if (cds_receipt_check(r, NULL) != 0) return NULL;
    json_t *c = json_object(), *is = json_object(), *pa = json_object();
    int err = !c || !is || !pa;
    if (!err) {
        err |= json_object_set_new(is, "agency_name", json_string(r->issuer.agency_name));
        err |= json_object_set_new(is, "tax_code", json_string(r->issuer.tax_code));
        err |= json_object_set_new(is, "address", json_string(r->issuer.address));
        err |= json_object_set_new(pa, "name", json_string(r->payer.name));
        err |= json_object_set_new(pa, "personal_id", json_string(r->payer.personal_id));
        err |= json_object_set_new(pa, "address", json_string(r->payer.address));
        err |= json_object_set_new(c, "template_no", json_string(r->template_no));
        err |= json_object_set_new(c, "serial", json_string(r->serial));
        err |= json_object_set_new(c, "year", json_integer(r->year));
        err |= json_object_set_new(c, "number", json_integer(r->number));
        err |= json_object_set(c, "issuer", is);
        err |= json_object_set(c, "payer", pa);
        err |= json_object_set_new(c, "fee_name", json_string(r->fee_name));
        err |= json_object_set_new(c, "dossier_code", json_string(r->dossier_code));
        err |= json_object_set_new(c, "amount", json_integer(r->amount));
        err |= json_object_set_new(c, "amount_words", json_string(r->amount_words));
        err |= json_object_set_new(c, "payment_method", json_string(r->payment_method));
        err |= json_object_set_new(c, "bank_ref", json_string(r->bank_ref));
        err |= json_object_set_new(c, "paid_at", json_string(r->paid_at));
        err |= json_object_set_new(c, "issued_at", json_string(r->issued_at));
        if (r->kind != CDS_RCPT_ORIGINAL)
            err |= json_object_set_new(c, "replaces", json_string(r->replaces));
        err |= json_object_set_new(c, "kind", json_string(cds_receipt_kind_name(r->kind)));
    }
    json_decref(is);
    json_decref(pa);
    if (err) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* ---------------- canonical bytes ---------------- */

/* A JSON string: only " and \ need escaping in a checked content. */
static void jstr(cds_buf *b, const char *s)
{
    cds_buf_add(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        if (*s != '"' && *s != '\\') continue;
        cds_buf_add(b, run, (size_t)(s - run));
        cds_buf_add(b, "\\", 1);
        run = s; /* the quote or backslash itself starts the next run */
    }
    cds_buf_add(b, run, (size_t)(s - run));
    cds_buf_add(b, "\"", 1);
}

static void jint(cds_buf *b, long long v)
{
    cds_buf_printf(b, "%lld", v);
}

/* ,"key": (the comma unless first) */
static void key(cds_buf *b, const char *k, int first)
{
    if (!first) cds_buf_add(b, ",", 1);
    jstr(b, k);
    cds_buf_add(b, ":", 1);
}

static void kv_str(cds_buf *b, const char *k, const char *v, int first)
{
    key(b, k, first);
    jstr(b, v);
}

static void kv_int(cds_buf *b, const char *k, long long v, int first)
{
    key(b, k, first);
    jint(b, v);
}

int cds_receipt_canonical(const cds_receipt *r, char *out, size_t cap)
{
    if (!out || cap == 0) return -1;
    out[0] = '\0';
    if (cds_receipt_check(r, NULL) != 0) return -1;
    cds_buf b;
    cds_buf_init_fixed(&b, out, cap);
    /* Keys in byte order; keep it so when adding one (the test checks it). */
    cds_buf_adds(&b, "{");
    kv_int(&b, "amount", r->amount, 1);
    kv_str(&b, "amount_words", r->amount_words, 0);
    kv_str(&b, "bank_ref", r->bank_ref, 0);
    kv_str(&b, "dossier_code", r->dossier_code, 0);
    kv_str(&b, "fee_name", r->fee_name, 0);
    kv_str(&b, "issued_at", r->issued_at, 0);
    key(&b, "issuer", 0);
    cds_buf_adds(&b, "{");
    kv_str(&b, "address", r->issuer.address, 1);
    kv_str(&b, "agency_name", r->issuer.agency_name, 0);
    kv_str(&b, "tax_code", r->issuer.tax_code, 0);
    cds_buf_adds(&b, "}");
    kv_str(&b, "kind", cds_receipt_kind_name(r->kind), 0);
    kv_int(&b, "number", r->number, 0);
    kv_str(&b, "paid_at", r->paid_at, 0);
    key(&b, "payer", 0);
    cds_buf_adds(&b, "{");
    kv_str(&b, "address", r->payer.address, 1);
    kv_str(&b, "name", r->payer.name, 0);
    kv_str(&b, "personal_id", r->payer.personal_id, 0);
    cds_buf_adds(&b, "}");
    kv_str(&b, "payment_method", r->payment_method, 0);
    if (r->kind != CDS_RCPT_ORIGINAL) kv_str(&b, "replaces", r->replaces, 0);
    kv_str(&b, "serial", r->serial, 0);
    kv_str(&b, "template_no", r->template_no, 0);
    kv_int(&b, "year", r->year, 0);
    cds_buf_adds(&b, "}");
    if (b.err) {
        out[0] = '\0';
        return -1;
    }
    return (int)b.len;
}
