/* The console's cookies (RFC 6265): reading one from the Cookie header and
 * writing Set-Cookie. Every cookie of the console is scoped to /console,
 * HttpOnly (no script could read it anyway: the CSP runs none),
 * SameSite=Strict (a page of another site cannot make the browser send it)
 * and Secure when the request came over TLS. Values are ours (a JWT, hex),
 * never quoted or escaped. */
#include "internal.h"

#include <string.h>

const char *cn_cookie(cds_req *r, const char *name)
{
    const char *h = cds_req_header(r, "cookie");
    size_t n = strlen(name);
    while (h && *h) {
        while (*h == ' ' || *h == ';') h++;
        const char *end = strchr(h, ';');
        size_t len = end ? (size_t)(end - h) : strlen(h);
        if (len > n && strncmp(h, name, n) == 0 && h[n] == '=') {
            const char *v = h + n + 1;
            size_t vlen = len - n - 1;
            while (vlen && v[vlen - 1] == ' ') vlen--;
            char *out = cds_req_alloc(r, vlen + 1);
            memcpy(out, v, vlen);
            out[vlen] = 0;
            return out;
        }
        h = end;
    }
    return NULL;
}

void cn_cookie_set(cds_req *r, const char *name, const char *value, int max_age)
{
    cds_resp_header(r, "set-cookie",
                    cds_req_printf(r, "%s=%s; Path=/console; Max-Age=%d; HttpOnly; SameSite=Strict%s",
                                   name, max_age > 0 ? value : "", max_age > 0 ? max_age : 0,
                                   cds_req_tls(r) ? "; Secure" : ""));
}
