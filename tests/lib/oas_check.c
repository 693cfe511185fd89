/* Response validation against openapi.yaml (see oas_check.h). The document
 * is read once with libyaml and turned into a jansson tree (plain scalars
 * typed as YAML 1.2's core schema does: null, booleans, integers, floats;
 * quoted ones stay strings), so the checks below walk JSON on both sides. */
#include "tests/lib/oas_check.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

static json_t *g_doc;
static int g_loaded;

static json_t *scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return json_string(v);
    if (!strcmp(v, "null") || !strcmp(v, "~") || !*v) return json_null();
    if (!strcmp(v, "true")) return json_true();
    if (!strcmp(v, "false")) return json_false();
    char *end;
    long long i = strtoll(v, &end, 10);
    if (*v && !*end && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))) return json_integer(i);
    double d = strtod(v, &end);
    if (*v && !*end && (v[0] == '-' || v[0] == '.' || (v[0] >= '0' && v[0] <= '9')))
        return json_real(d);
    return json_string(v);
}

static json_t *convert(yaml_document_t *d, yaml_node_t *n, int depth)
{
    if (!n || depth > 64) return json_null();
    switch (n->type) {
    case YAML_SCALAR_NODE: return scalar(n);
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++)
            json_array_append_new(a, convert(d, yaml_document_get_node(d, *i), depth + 1));
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(d, p->key);
            if (k->type != YAML_SCALAR_NODE) continue;
            json_object_set_new(o, (const char *)k->data.scalar.value,
                                convert(d, yaml_document_get_node(d, p->value), depth + 1));
        }
        return o;
    }
    default: return json_null();
    }
}

static void free_doc(void)
{
    json_decref(g_doc);
    g_doc = NULL;
}

static json_t *doc(void)
{
    if (g_loaded) return g_doc;
    g_loaded = 1;
    FILE *f = fopen(CDS_SOURCE_DIR "/openapi.yaml", "rb");
    if (!f) return NULL;
    yaml_parser_t p;
    yaml_document_t d;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    if (yaml_parser_load(&p, &d)) {
        g_doc = convert(&d, yaml_document_get_root_node(&d), 0);
        yaml_document_delete(&d);
        atexit(free_doc);
    } else {
        fprintf(stderr, "openapi: cannot parse openapi.yaml: %s\n", p.problem);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return g_doc;
}

/* "#/components/schemas/X" in the document. */
static json_t *deref(json_t *node)
{
    for (int hops = 0; hops < 16 && json_is_object(node); hops++) {
        const char *ref = json_string_value(json_object_get(node, "$ref"));
        if (!ref) return node;
        if (strncmp(ref, "#/", 2) != 0) return NULL;
        json_t *cur = doc();
        char buf[256];
        snprintf(buf, sizeof buf, "%s", ref + 2);
        for (char *save, *tok = strtok_r(buf, "/", &save); tok && cur; tok = strtok_r(NULL, "/", &save))
            cur = json_object_get(cur, tok);
        node = cur;
    }
    return node;
}

typedef struct ctx {
    char why[512];
    char at[512];
} ctx;

static int fail(ctx *c, const char *ptr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ctx *c, const char *ptr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    snprintf(c->at, sizeof c->at, "%s", ptr[0] ? ptr : "/");
    return -1;
}

static int type_ok(const char *t, const json_t *v)
{
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    return 1;
}

static int validate(ctx *c, json_t *schema, json_t *v, const char *ptr, int depth);

static void child(char *out, size_t cap, const char *ptr, const char *key)
{
    /* RFC 6901: ~ as ~0, / as ~1 */
    size_t n = (size_t)snprintf(out, cap, "%s/", ptr);
    for (const char *k = key; *k && n + 3 < cap; k++) {
        if (*k == '~') { out[n++] = '~'; out[n++] = '0'; }
        else if (*k == '/') { out[n++] = '~'; out[n++] = '1'; }
        else out[n++] = *k;
    }
    out[n < cap ? n : cap - 1] = 0;
}

static int validate(ctx *c, json_t *schema, json_t *v, const char *ptr, int depth)
{
    schema = deref(schema);
    if (!json_is_object(schema) || depth > 48) return 0;
    json_t *t = json_object_get(schema, "type");
    int nullable = json_is_true(json_object_get(schema, "nullable"));
    if (json_is_null(v) && nullable) return 0;
    if (json_is_string(t) && !type_ok(json_string_value(t), v))
        return fail(c, ptr, "expected %s", json_string_value(t));
    if (json_is_array(t)) {
        size_t i;
        json_t *e;
        int any = 0;
        json_array_foreach(t, i, e) any |= json_is_string(e) && type_ok(json_string_value(e), v);
        if (!any) return fail(c, ptr, "type not among those allowed");
    }
    json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        size_t i;
        json_t *e;
        int any = 0;
        json_array_foreach(en, i, e) any |= json_equal(e, v);
        if (!any) {
            char *s = json_dumps(v, JSON_ENCODE_ANY);
            int r = fail(c, ptr, "value %s not in enum", s ? s : "?");
            free(s);
            return r;
        }
    }
    json_t *cn = json_object_get(schema, "const");
    if (cn && !json_equal(cn, v)) return fail(c, ptr, "value differs from const");
    if (json_is_number(v)) {
        json_t *mn = json_object_get(schema, "minimum"), *mx = json_object_get(schema, "maximum");
        if (json_is_number(mn) && json_number_value(v) < json_number_value(mn))
            return fail(c, ptr, "below minimum %g", json_number_value(mn));
        if (json_is_number(mx) && json_number_value(v) > json_number_value(mx))
            return fail(c, ptr, "above maximum %g", json_number_value(mx));
    }
    json_t *all = json_object_get(schema, "allOf");
    if (json_is_array(all)) {
        size_t i;
        json_t *e;
        json_array_foreach(all, i, e) if (validate(c, e, v, ptr, depth + 1)) return -1;
    }
    static const char *const alts[] = {"oneOf", "anyOf"};
    for (int k = 0; k < 2; k++) {
        json_t *alt = json_object_get(schema, alts[k]);
        if (!json_is_array(alt)) continue;
        size_t i, matched = 0;
        json_t *e;
        ctx first = {{0}, {0}};
        json_array_foreach(alt, i, e) {
            ctx tmp = {{0}, {0}};
            if (validate(&tmp, e, v, ptr, depth + 1) == 0) matched++;
            else if (!first.why[0]) first = tmp;
        }
        if (matched == 0) {
            *c = first;
            return fail(c, first.at[0] ? first.at : ptr, "no %s alternative matches (first: %s)",
                        alts[k], first.why);
        }
        if (k == 0 && matched > 1) return fail(c, ptr, "%zu oneOf alternatives match", matched);
    }
    if (json_is_object(v)) {
        json_t *req = json_object_get(schema, "required"), *props = json_object_get(schema, "properties");
        size_t i;
        json_t *e;
        char cp[512];
        json_array_foreach(req, i, e) {
            if (json_is_string(e) && !json_object_get(v, json_string_value(e))) {
                child(cp, sizeof cp, ptr, json_string_value(e));
                return fail(c, cp, "required property missing");
            }
        }
        json_t *addl = json_object_get(schema, "additionalProperties");
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val) {
            child(cp, sizeof cp, ptr, key);
            json_t *ps = json_object_get(props, key);
            if (ps) {
                if (validate(c, ps, val, cp, depth + 1)) return -1;
            } else if (json_is_false(addl)) {
                return fail(c, cp, "property not in the schema (additionalProperties: false)");
            } else if (json_is_object(addl)) {
                if (validate(c, addl, val, cp, depth + 1)) return -1;
            }
        }
    }
    if (json_is_array(v)) {
        json_t *mi = json_object_get(schema, "minItems"), *ma = json_object_get(schema, "maxItems");
        if (json_is_integer(mi) && (json_int_t)json_array_size(v) < json_integer_value(mi))
            return fail(c, ptr, "fewer than %lld items", (long long)json_integer_value(mi));
        if (json_is_integer(ma) && (json_int_t)json_array_size(v) > json_integer_value(ma))
            return fail(c, ptr, "more than %lld items", (long long)json_integer_value(ma));
        json_t *items = json_object_get(schema, "items");
        if (items) {
            size_t i;
            json_t *e;
            char cp[512];
            json_array_foreach(v, i, e) {
                snprintf(cp, sizeof cp, "%s/%zu", ptr, i);
                if (validate(c, items, e, cp, depth + 1)) return -1;
            }
        }
    }
    return 0;
}

/* Segments equal, "{x}" matching any one non-empty segment; the template
 * with the fewest parameters wins ("/v1/dossiers/mine" over "/{id}"). */
static int path_match(const char *tmpl, const char *path)
{
    int params = 0;
    while (*tmpl && *path) {
        if (*tmpl != '/' || *path != '/') return -1;
        tmpl++;
        path++;
        const char *te = strchr(tmpl, '/'), *pe = strchr(path, '/');
        size_t tl = te ? (size_t)(te - tmpl) : strlen(tmpl), pl = pe ? (size_t)(pe - path) : strlen(path);
        if (tl > 1 && tmpl[0] == '{' && tmpl[tl - 1] == '}') {
            if (pl == 0) return -1;
            params++;
        } else if (tl != pl || strncmp(tmpl, path, tl) != 0) {
            return -1;
        }
        tmpl += tl;
        path += pl;
    }
    return *tmpl || *path ? -1 : params;
}

int oas_check(const char *method, const char *path, long status, const char *content_type,
              const char *body, size_t body_len)
{
    if (!content_type || !body_len || !doc()) return 0;
    char media[128];
    size_t ml = strcspn(content_type, ";");
    while (ml > 0 && content_type[ml - 1] == ' ') ml--;
    snprintf(media, sizeof media, "%.*s", (int)ml, content_type);
    if (strcasecmp(media, "application/json") != 0 && strcasecmp(media, "application/problem+json") != 0)
        return 0;
    char p[1024];
    snprintf(p, sizeof p, "%.*s", (int)strcspn(path, "?#"), path);
    json_t *paths = json_object_get(g_doc, "paths"), *item = NULL;
    const char *tmpl = NULL, *k;
    json_t *val;
    int best = 1 << 30;
    json_object_foreach(paths, k, val) {
        int m = path_match(k, p);
        if (m >= 0 && m < best) {
            best = m;
            item = val;
            tmpl = k;
        }
    }
    if (!item) return 0; /* not an operation of the document (e.g. a 404 for an unknown path) */
    char lm[16];
    snprintf(lm, sizeof lm, "%s", method);
    for (char *q = lm; *q; q++) *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
    json_t *op = json_object_get(item, lm);
    if (!op) return 0; /* a method the path does not have: 405, from the router */
    json_t *responses = json_object_get(op, "responses");
    char code[24], range[24];
    snprintf(code, sizeof code, "%ld", status);
    snprintf(range, sizeof range, "%ldXX", status / 100);
    json_t *resp = json_object_get(responses, code);
    if (!resp) resp = json_object_get(responses, range);
    if (!resp) resp = json_object_get(responses, "default");
    resp = deref(resp);
    ctx c = {{0}, {0}};
    int rc = 0;
    json_t *content = json_object_get(resp, "content");
    json_t *mt = json_object_get(content, media);
    json_error_t jerr;
    json_t *v = json_loadb(body, body_len, JSON_DECODE_ANY, &jerr);
    if (!resp) {
        rc = fail(&c, "", "status %ld not documented", status);
    } else if (!v) {
        rc = fail(&c, "", "body is not JSON: %s", jerr.text);
    } else if (!mt) {
        rc = fail(&c, "", "no %s content documented for this status", media);
    } else if (json_object_get(mt, "schema")) {
        rc = validate(&c, json_object_get(mt, "schema"), v, "", 0);
    }
    json_decref(v);
    if (rc)
        fprintf(stderr, "openapi: %s %s (%s) %ld: at %s: %s\n", method, p, tmpl, status, c.at, c.why);
    return rc;
}
