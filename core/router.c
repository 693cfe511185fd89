/* Router: each template is split into segments once at start-up; matching
 * walks the request path segment by segment against every route. With the
 * few hundred routes of this service a linear scan of pre-split segments is a
 * few hundred nanoseconds, cheaper than anything the database does. */
#include "core/router.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SEGS 16

typedef struct seg {
    const char *s;
    size_t len;
    int param; /* 1: {name} */
} seg;

typedef struct compiled {
    const cds_route *route;
    int nsegs;
    seg segs[MAX_SEGS];
    char names[CDS_MAX_PARAMS][32];
} compiled;

struct cds_router {
    size_t n;
    compiled *c;
};

static int compile(const cds_route *r, compiled *c)
{
    const char *p = r->path;
    int np = 0;
    if (*p != '/') return -1;
    c->route = r;
    c->nsegs = 0;
    while (*p == '/') {
        p++;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 && !e) break; /* trailing slash or root */
        if (c->nsegs == MAX_SEGS) return -1;
        seg *s = &c->segs[c->nsegs++];
        s->s = p;
        s->len = len;
        s->param = len > 2 && p[0] == '{' && p[len - 1] == '}';
        if (s->param) {
            if (np == CDS_MAX_PARAMS || len - 2 >= sizeof c->names[0]) return -1;
            memcpy(c->names[np], p + 1, len - 2);
            c->names[np][len - 2] = 0;
            np++;
        }
        p += len;
    }
    return 0;
}

cds_router *cds_router_new(const cds_route *routes, size_t n)
{
    cds_router *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->c = calloc(n ? n : 1, sizeof *r->c);
    r->n = n;
    if (!r->c) {
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (compile(&routes[i], &r->c[i]) != 0) {
            cds_router_free(r);
            return NULL;
        }
    return r;
}

void cds_router_free(cds_router *r)
{
    if (!r) return;
    free(r->c);
    free(r);
}

size_t cds_router_count(const cds_router *r)
{
    return r->n;
}

const cds_route *cds_router_at(const cds_router *r, size_t i)
{
    return i < r->n ? r->c[i].route : NULL;
}

static int path_matches(const compiled *c, const char *path, size_t plen, cds_match *m)
{
    const char *p = path, *end = path + plen;
    int i = 0, np = 0;
    if (p == end || *p != '/') return 0;
    while (p < end) {
        p++; /* skip '/' */
        const char *e = memchr(p, '/', (size_t)(end - p));
        if (!e) e = end;
        size_t len = (size_t)(e - p);
        if (len == 0 && e == end) break; /* "/" alone, or a trailing slash */
        if (i == c->nsegs || len == 0) return 0;
        const seg *s = &c->segs[i++];
        if (s->param) {
            if (m) {
                m->names[np] = c->names[np];
                m->start[np] = p;
                m->len[np] = len;
            }
            np++;
        } else if (s->len != len || memcmp(s->s, p, len) != 0) {
            return 0;
        }
        p = e;
    }
    if (i != c->nsegs) return 0;
    if (m) m->nparams = np;
    return 1;
}

static void allow_add(cds_match *m, const char *method)
{
    size_t len = strlen(m->allow), add = strlen(method);
    if (strstr(m->allow, method)) return;
    if (len + add + 3 >= sizeof m->allow) return;
    if (len) {
        memcpy(m->allow + len, ", ", 2);
        len += 2;
    }
    memcpy(m->allow + len, method, add + 1);
}

int cds_router_match(const cds_router *r, const char *method, const char *path, size_t path_len,
                     cds_match *m)
{
    int path_seen = 0;
    int head = strcmp(method, "HEAD") == 0;
    /* Not a memset of the whole match (its allow buffer): what is read. */
    m->route = NULL;
    m->nparams = 0;
    m->allow[0] = 0;
    m->index = -1;
    for (size_t i = 0; i < r->n; i++) {
        const compiled *c = &r->c[i];
        /* Fills m's parameters (and nparams) only when the whole path matches. */
        if (!path_matches(c, path, path_len, m)) continue;
        const char *rm = c->route->method;
        if (strcmp(rm, method) == 0 || (head && strcmp(rm, "GET") == 0)) {
            m->route = c->route;
            m->index = (int)i;
            m->allow[0] = 0;
            return CDS_ROUTE_FOUND;
        }
        path_seen = 1;
        allow_add(m, rm);
        if (strcmp(rm, "GET") == 0) allow_add(m, "HEAD");
    }
    m->nparams = 0; /* those of a path matched with another method */
    return path_seen ? CDS_ROUTE_BAD_METHOD : CDS_ROUTE_NOT_FOUND;
}
