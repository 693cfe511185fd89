/* openapi.yaml stays true to the router: every route in the server's tables
 * is documented with its method, every documented operation exists, admin
 * routes (served on the admin listener only) carry a path-level `servers`
 * naming that listener while public ones do not, and
 * every operation documents its success answer and its errors (a 4xx/5xx
 * entry or `default` pointing at the Problem response), and every answer
 * that is problem+json or a page (text in the answer's language, core/
 * request.c) documents its Content-Language header. Parsed with libyaml
 * (document model), not by pattern matching. */
#include "api/api.h"
#include "tests/lib/t.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

static yaml_node_t *get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

/* The response a "$ref: '#/components/responses/X'" names, or r itself. */
static yaml_node_t *deref(yaml_document_t *d, yaml_node_t *root, yaml_node_t *r)
{
    yaml_node_t *ref = get(d, r, "$ref");
    static const char prefix[] = "#/components/responses/";
    if (!ref || ref->type != YAML_SCALAR_NODE ||
        strncmp((char *)ref->data.scalar.value, prefix, sizeof prefix - 1) != 0)
        return r;
    return get(d, get(d, get(d, root, "components"), "responses"),
               (char *)ref->data.scalar.value + sizeof prefix - 1);
}

/* A problem+json or HTML answer says its language (Content-Language). */
static void language_documented(yaml_document_t *d, yaml_node_t *root, yaml_node_t *r,
                                const char *where, const char *code)
{
    r = deref(d, root, r);
    yaml_node_t *content = get(d, r, "content");
    if (!get(d, content, "application/problem+json") && !get(d, content, "text/html")) return;
    int ok = get(d, get(d, r, "headers"), "Content-Language") != NULL;
    if (!ok) fprintf(stderr, "%s %s: no Content-Language header documented\n", where, code);
    CHECK(ok);
}

int main(void)
{
    FILE *f = fopen(CDS_SOURCE_DIR "/openapi.yaml", "rb");
    CHECK(f != NULL);
    if (!f) return t_done();
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int ok = yaml_parser_load(&parser, &doc);
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "openapi.yaml: %s at line %zu\n", parser.problem, parser.problem_mark.line + 1);
        return t_done();
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *paths = get(&doc, root, "paths");
    CHECK(paths && paths->type == YAML_MAPPING_NODE);

    size_t npub, nadm;
    const cds_route *pub = cds_api_routes(&npub), *adm = cds_api_admin_routes(&nadm);
    size_t n = npub + nadm;
    cds_route routes[256];
    CHECK(n <= sizeof routes / sizeof routes[0]);
    if (n > sizeof routes / sizeof routes[0]) return t_done();
    memcpy(routes, pub, npub * sizeof *pub);
    memcpy(routes + npub, adm, nadm * sizeof *adm);
    /* Every route is documented; an admin route says where it is served. */
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *servers = get(&doc, get(&doc, paths, routes[i].path), "servers");
        int admin_doc = servers && servers->type == YAML_SEQUENCE_NODE &&
                        servers->data.sequence.items.top > servers->data.sequence.items.start;
        if (admin_doc != (i >= npub))
            fprintf(stderr, "%s: servers %s but the route is %s\n", routes[i].path,
                    admin_doc ? "overridden" : "not overridden", i >= npub ? "admin" : "public");
        CHECK(admin_doc == (i >= npub));
        char method[16];
        snprintf(method, sizeof method, "%s", routes[i].method);
        for (char *c = method; *c; c++) *c = (char)(*c - 'A' + 'a');
        yaml_node_t *op = get(&doc, get(&doc, paths, routes[i].path), method);
        if (!op) fprintf(stderr, "not in openapi.yaml: %s %s\n", routes[i].method, routes[i].path);
        CHECK(op != NULL);
    }
    /* Every documented operation is a route, with success and error answers. */
    static const char *verbs[] = {"get", "put", "post", "delete", "patch", "head", "options"};
    for (yaml_node_pair_t *p = paths->data.mapping.pairs.start; p < paths->data.mapping.pairs.top; p++) {
        const char *path = (char *)yaml_document_get_node(&doc, p->key)->data.scalar.value;
        yaml_node_t *item = yaml_document_get_node(&doc, p->value);
        for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++) {
            yaml_node_t *op = get(&doc, item, verbs[v]);
            if (!op) continue;
            int found = 0;
            for (size_t i = 0; i < n; i++)
                if (strcmp(routes[i].path, path) == 0 && strcasecmp(routes[i].method, verbs[v]) == 0)
                    found = 1;
            if (!found) fprintf(stderr, "documented but not routed: %s %s\n", verbs[v], path);
            CHECK(found);
            yaml_node_t *resp = get(&doc, op, "responses");
            CHECK(resp != NULL);
            int success = 0, errors = 0;
            for (yaml_node_pair_t *r = resp ? resp->data.mapping.pairs.start : NULL;
                 resp && r < resp->data.mapping.pairs.top; r++) {
                const char *code = (char *)yaml_document_get_node(&doc, r->key)->data.scalar.value;
                if (code[0] == '2' || code[0] == '3') success = 1;
                if (code[0] == '4' || code[0] == '5' || strcmp(code, "default") == 0) errors = 1;
                char where[300];
                snprintf(where, sizeof where, "%s %s", verbs[v], path);
                language_documented(&doc, root, yaml_document_get_node(&doc, r->value), where, code);
            }
            if (!success || !errors) fprintf(stderr, "%s %s: responses incomplete\n", verbs[v], path);
            CHECK(success && errors);
            CHECK(get(&doc, op, "operationId") != NULL);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return t_done();
}
