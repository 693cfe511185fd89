/* Method + path-template routing. Templates are literal segments and
 * `{name}` segments matching one non-empty path segment. A path that matches
 * some template but not with this method yields the Allow list for a 405.
 * HEAD is served by the GET route. */
#ifndef CDS_ROUTER_H
#define CDS_ROUTER_H
#include "core/http.h"

#define CDS_MAX_PARAMS 8

typedef struct cds_router cds_router;

typedef struct cds_match {
    const cds_route *route;
    int index;                    /* position in the table given to cds_router_new */
    int nparams;
    const char *names[CDS_MAX_PARAMS];
    const char *start[CDS_MAX_PARAMS]; /* slices of the path, percent-encoded */
    size_t len[CDS_MAX_PARAMS];
    char allow[96];               /* "GET, HEAD, POST" when the method did not match */
} cds_match;

enum { CDS_ROUTE_FOUND = 0, CDS_ROUTE_NOT_FOUND = -1, CDS_ROUTE_BAD_METHOD = -2 };

/* `routes` must outlive the router. Returns NULL on an invalid template. */
cds_router *cds_router_new(const cds_route *routes, size_t n);
void cds_router_free(cds_router *r);
int cds_router_match(const cds_router *r, const char *method, const char *path, size_t path_len,
                     cds_match *m);
size_t cds_router_count(const cds_router *r);
const cds_route *cds_router_at(const cds_router *r, size_t i);

#endif
