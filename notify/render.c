/* A claimed outbox row becomes the text to send.
 *
 * Templates: db/seed/templates.json (built into the binary; CDS_NOTIFY_TEMPLATES
 * names another file), checked once at start (notify/template.h). The highest
 * version of a step's template is used and recorded with the message.
 *
 * Variables: the step's vars from the row (dossier code, procedure name,
 * amount, due date, missing documents, note) plus `link`, the dossier's
 * public lookup link, derived here because the lookup secret is never
 * stored. A variable a template needs and the data lacks fails that message
 * alone as technical-failure, naming the variable.
 *
 * SMS: rendered with diacritics, then stripped to GSM-7 (core/vn_fold.h);
 * the phone is unsealed (it is sealed at rest) and must be a Vietnamese
 * mobile number. Push: title and body keep their diacritics.
 *
 * Language: a push whose vars say "lang": "en" (the citizen reads English:
 * citizens.language, copied by cds_outbox_for_step) is rendered from the
 * English template of the step, amounts grouped the English way
 * ("1,250,000"); the inbox shows that text, or renders the push template
 * again in the language its reader asks for (nt_render_push_text). SMS are
 * always Vietnamese. */
#include "internal.h"
#include "notify/sms_text.h"
#include "core/vn_fold.h"
#include "notify/template.h"
#include "auth/auth.h"
#include "core/assets.h"
#include "core/json_out.h"
#include "core/lang.h"
#include "core/log.h"
#include "core/vn.h"
#include "dossiers/dossiers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 2048

static json_t *g_templates;
/* The latest template of each step, channel and language, by the key
 * "step\x1fchannel\x1flang" (borrowed from g_templates): one hash lookup per
 * message instead of a scan of the whole list (cds_templates_find_lang),
 * made once when the templates are loaded. */
static json_t *g_latest;

static int latest_key(char *key, size_t cap, const char *step, const char *channel,
                      const char *lang)
{
    int n = snprintf(key, cap, "%s\x1f%s\x1f%s", step, channel, lang);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static json_t *index_latest(const json_t *doc)
{
    json_t *idx = json_object();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "templates"), i, t) {
        const char *step = json_string_value(json_object_get(t, "step"));
        const char *channel = json_string_value(json_object_get(t, "channel"));
        const char *lang = json_string_value(json_object_get(t, "lang"));
        if (!lang) lang = "vi";
        char key[256];
        if (!idx || !step || !channel || latest_key(key, sizeof key, step, channel, lang) != 0 ||
            json_object_get(idx, key))
            continue;
        const json_t *best = cds_templates_find_lang(doc, step, channel, lang, 0);
        if (best) json_object_set(idx, key, (json_t *)best);
    }
    return idx;
}

/* cds_templates_find_lang(g_templates, step, channel, lang, 0) */
static const json_t *find_latest(const char *step, const char *channel, const char *lang)
{
    char key[256];
    if (!g_latest || latest_key(key, sizeof key, step, channel, lang) != 0)
        return cds_templates_find_lang(g_templates, step, channel, lang, 0);
    return json_object_get(g_latest, key);
}

int nt_templates_load(const char *file)
{
    json_error_t e;
    json_t *doc;
    if (file && *file) {
        doc = json_load_file(file, JSON_REJECT_DUPLICATES, &e);
    } else {
        const cds_asset *a = cds_asset_find("db/seed/templates.json");
        doc = a ? json_loadb(a->data, a->len, JSON_REJECT_DUPLICATES, &e) : NULL;
        if (!a) snprintf(e.text, sizeof e.text, "not built in");
    }
    if (!doc) {
        cds_log(CDS_LOG_ERROR, "notify_templates", "%s: %s", file && *file ? file : "built-in",
                e.text);
        return -1;
    }
    char err[256];
    if (cds_templates_check(doc, err, sizeof err) != 0) {
        cds_log(CDS_LOG_ERROR, "notify_templates", "%s: %s", file && *file ? file : "built-in",
                err);
        json_decref(doc);
        return -1;
    }
    json_t *idx = index_latest(doc);
    if (!idx) {
        json_decref(doc);
        return -1;
    }
    json_decref(g_latest);
    json_decref(g_templates);
    g_templates = doc;
    g_latest = idx;
    return 0;
}

void nt_templates_free(void)
{
    json_decref(g_latest);
    g_latest = NULL;
    json_decref(g_templates);
    g_templates = NULL;
}

void nt_msg_free(nt_msg *m)
{
    if (!m) return;
    free(m->text);
    free(m->title);
    free(m->body);
    free(m->token);
    free(m->rendered);
    json_decref(m->vars);
    free(m);
}

static int technical(nt_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int technical(nt_result *r, const char *fmt, ...)
{
    memset(r, 0, sizeof *r);
    r->status = NT_TECHNICAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    return -1;
}

/* Renders field `field` ("body" or "title") of template t into out. */
static int render_field(const json_t *t, const char *field, const json_t *vars, char *out,
                        size_t cap, const char *step, const char *channel, nt_result *r)
{
    const char *tmpl = json_string_value(json_object_get(t, field));
    int version = (int)json_integer_value(json_object_get(t, "version"));
    if (!tmpl) return technical(r, "template %s/%s v%d has no text", step, channel, version);
    char missing[80];
    int n = cds_template_render(tmpl, vars, out, cap, missing, sizeof missing);
    if (n == CDS_TEMPLATE_MISSING)
        return technical(r, "template %s/%s v%d: variable '%s' missing from the message data",
                         step, channel, version, missing);
    if (n < 0) return technical(r, "template %s/%s v%d cannot be rendered", step, channel, version);
    return 0;
}

/* Integers of 1000 and more become text grouped the English way
 * ("1,250,000"): the templates' own grouping is Vietnamese ("1.250.000"). */
static void english_numbers(json_t *vars)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(vars, tmp, k, v) {
        if (!json_is_integer(v)) continue;
        json_int_t n = json_integer_value(v);
        if (n < 1000 && n > -1000) continue;
        char s[CDS_VN_GROUPED_MAX];
        cds_vn_grouped((long long)n, s, sizeof s);
        for (char *p = s; *p; p++)
            if (*p == '.') *p = ',';
        json_object_set_new(vars, k, json_string(s));
    }
}

static char *open_phone(const char *sealed)
{
    /* The outbox copies the contact phone when set, else VNeID's: they are
     * sealed under different associated data. VNeID's is tried first: every
     * citizen has it and few set a contact phone, and a wrong guess costs an
     * AES-GCM open that fails (it cannot succeed under the other data). */
    char *p = cds_auth_open(sealed, "citizen.phone");
    if (!p) p = cds_auth_open(sealed, "citizen.contact_phone");
    return p;
}

/* Template `name` of `channel` rendered with vars (a JSON object; the
 * dossier's lookup link is added): the body into text and, for a push or a
 * ZNS message, the title. 0, or -1 with *r filled. */
static int render_one(nt_msg *m, const char *channel, const char *name, json_t *vars,
                      const char *dossier_id, char *text, size_t cap, char *title,
                      size_t tcap, nt_result *r)
{
    /* A push for a citizen who reads English (vars.lang, cds_outbox_for_step)
     * uses the English template and English digit grouping. */
    const char *lang = json_string_value(json_object_get(vars, "lang"));
    int en = m->channel == NT_PUSH && lang && strcmp(lang, "en") == 0;
    const json_t *t = en ? find_latest(name, channel, "en") : NULL;
    if (t)
        english_numbers(vars);
    else
        t = find_latest(name, channel, "vi");
    if (!t) return technical(r, "no %s template for step '%s'", channel, name);
    m->template_version = (int)json_integer_value(json_object_get(t, "version"));
    const char *code = json_string_value(json_object_get(vars, "dossier_code"));
    if (code && dossier_id && *dossier_id) {
        char link[512];
        if (cds_dossier_lookup_link(dossier_id, code, link, sizeof link) > 0)
            json_object_set_new(vars, "link", json_string(link));
    }
    int rc = render_field(t, "body", vars, text, cap, name, channel, r);
    if (rc == 0 && title) rc = render_field(t, "title", vars, title, tcap, name, channel, r);
    return rc;
}

int nt_render_push_text(const char *name, const char *vars_json, const char *dossier_id, int lang,
                        char *title, size_t tcap, char *body, size_t bcap)
{
    json_t *vars = json_loads(vars_json ? vars_json : "{}", 0, NULL);
    /* English only from an English template (render_one falls back to
     * Vietnamese for a send). */
    if (!json_is_object(vars) || !name ||
        (lang == CDS_LANG_EN && !find_latest(name, "push", "en"))) {
        json_decref(vars);
        return -1;
    }
    if (lang == CDS_LANG_EN)
        json_object_set_new(vars, "lang", json_string("en"));
    else
        json_object_del(vars, "lang");
    nt_msg m;
    memset(&m, 0, sizeof m);
    m.channel = NT_PUSH;
    nt_result r;
    int rc = render_one(&m, "push", name, vars, dossier_id, body, bcap, title, tcap, &r);
    json_decref(vars);
    return rc;
}

/* The SMS of a coalesced message: each dossier's own SMS, one per line. */
static int render_digest(nt_msg *m, const char *digest_json, char *text, size_t cap,
                         nt_result *r)
{
    json_t *d = json_loads(digest_json, 0, NULL);
    if (!json_is_array(d) || json_array_size(d) == 0) {
        json_decref(d);
        return technical(r, "coalesced message data is not a JSON array");
    }
    size_t len = 0, i;
    json_t *e;
    int rc = 0;
    text[0] = 0;
    json_array_foreach(d, i, e) {
        const char *name = json_string_value(json_object_get(e, "template"));
        json_t *vars = json_deep_copy(json_object_get(e, "vars"));
        char one[TEXT_MAX];
        if (!name || !json_is_object(vars)) {
            json_decref(vars);
            rc = technical(r, "coalesced message data entry %zu is malformed", i);
            break;
        }
        rc = render_one(m, "sms", name, vars,
                        json_string_value(json_object_get(e, "dossier_id")), one, sizeof one,
                        NULL, 0, r);
        json_decref(vars);
        if (rc != 0) break;
        int n = snprintf(text + len, cap - len, "%s%s", len ? "\n" : "", one);
        if (n < 0 || (size_t)n >= cap - len) {
            rc = technical(r, "coalesced message is longer than %zu bytes", cap);
            break;
        }
        len += (size_t)n;
    }
    json_decref(d);
    return rc;
}

/* What is recorded as sent: {"title": ..., "body": ...}, the title only for
 * a push or a ZNS message; NULL when it cannot be written (not UTF-8). */
static char *rendered_json(const char *title, const char *body)
{
    cds_buf b;
    cds_buf_init(&b, 4 * TEXT_MAX);
    cds_buf_addc(&b, '{');
    if (title) cds_json_member_str(&b, "title", title);
    cds_json_member_str(&b, "body", body);
    cds_buf_addc(&b, '}');
    return cds_buf_take(&b, NULL);
}

int nt_render(nt_msg *m, const char *template_name, const char *vars_json,
              const char *recipient_sealed, const char *digest_json, nt_result *r)
{
    const char *channel = m->channel == NT_SMS ? "sms" : "push";
    json_error_t e;
    json_t *vars = json_loads(vars_json ? vars_json : "{}", 0, &e);
    if (!json_is_object(vars)) {
        json_decref(vars);
        return technical(r, "message data of step '%s' is not a JSON object", template_name);
    }
    char text[TEXT_MAX];
    int rc;
    if (m->channel == NT_SMS && digest_json)
        rc = render_digest(m, digest_json, text, sizeof text, r);
    else if (m->channel == NT_SMS)
        rc = render_one(m, channel, template_name, vars, m->dossier_id, text, sizeof text, NULL,
                        0, r);
    else {
        char title[512];
        rc = render_one(m, channel, template_name, vars, m->dossier_id, text, sizeof text, title,
                        sizeof title, r);
        if (rc == 0) {
            m->title = strdup(title);
            m->body = strdup(text);
            m->rendered = rendered_json(title, text);
            if (m->channel == NT_ZNS) {
                m->vars = vars;
                vars = NULL;
            }
        }
    }
    if (rc == 0 && m->channel == NT_SMS) {
        char gsm[TEXT_MAX];
        if (cds_vn_fold(text, gsm, sizeof gsm) < 0) {
            rc = technical(r, "template %s/sms v%d gives text that is not UTF-8", template_name,
                           m->template_version);
        } else {
            m->text = strdup(gsm);
            m->rendered = rendered_json(NULL, gsm);
        }
    }
    json_decref(vars);
    if (rc != 0) return -1;
    if (m->channel == NT_SMS || m->channel == NT_ZNS) {
        if (!recipient_sealed) return technical(r, "no phone number");
        char *plain = open_phone(recipient_sealed);
        if (!plain) return technical(r, "the sealed phone number cannot be opened (key missing?)");
        int ok = cds_vn_phone_normalize(plain, m->phone, sizeof m->phone) == 0;
        free(plain);
        if (!ok) {
            memset(r, 0, sizeof *r);
            r->status = NT_PERMANENT;
            snprintf(r->error, sizeof r->error, "the phone number is not a Vietnamese mobile number");
            return -1;
        }
    }
    return 0;
}
