/* Test login through the VNeID stand-in (see login.h). */
#include "tests/lib/login.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int th_query_param(const char *u, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strchr(u, '?'); p; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, name, nl) == 0 && p[1 + nl] == '=') {
            const char *v = p + 2 + nl;
            size_t n = strcspn(v, "&#");
            if (n >= cap) return -1;
            memcpy(out, v, n);
            out[n] = 0;
            return 0;
        }
    }
    return -1;
}

long th_login_as(const th_proc *server, const char *pid, th_login *out)
{
    return th_login_as_lang(server, pid, NULL, NULL, out);
}

long th_login_as_lang(const th_proc *server, const char *pid, const char *start_lang,
                      const char *callback_lang, th_login *out)
{
    char al[128], sl[128];
    if (callback_lang) snprintf(al, sizeof al, "Accept-Language: %s", callback_lang);
    if (start_lang) snprintf(sl, sizeof sl, "Accept-Language: %s", start_lang);
    char url[256], target[2048], code[600], state[200], body[1024];
    th_resp r;
    json_t *j = NULL;
    memset(out, 0, sizeof *out);
    snprintf(url, sizeof url, "%s/v1/auth/login", server->url);
    if (th_json_h(&r, "POST", url, NULL, start_lang ? sl : NULL, "{}", (void **)&j) != 200) {
        th_resp_free(&r);
        json_decref(j);
        return -1;
    }
    snprintf(target, sizeof target, "%s&login_hint=%s",
             json_string_value(json_object_get(j, "authorization_url")), pid);
    snprintf(state, sizeof state, "%s", json_string_value(json_object_get(j, "state")));
    json_decref(j);
    th_resp_free(&r);
    th_http(&r, 1, "GET", target, NULL, NULL, 0);
    const char *loc = th_resp_header(&r, "location");
    int ok = r.status == 302 && loc && th_query_param(loc, "code", code, sizeof code) == 0;
    th_resp_free(&r);
    if (!ok) return -1;
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"state\":\"%s\"}", code, state);
    snprintf(url, sizeof url, "%s/v1/auth/callback", server->url);
    out->status =
        th_json_h(&r, "POST", url, NULL, callback_lang ? al : NULL, body, (void **)&j);
    const char *a = json_string_value(json_object_get(j, "access_token"));
    const char *rt = json_string_value(json_object_get(j, "refresh_token"));
    const char *pc = json_string_value(json_object_get(j, "code"));
    if (a) snprintf(out->access, sizeof out->access, "%s", a);
    if (rt) snprintf(out->refresh, sizeof out->refresh, "%s", rt);
    if (pc) snprintf(out->problem, sizeof out->problem, "%s", pc);
    json_decref(j);
    th_resp_free(&r);
    return out->status;
}

char *th_me_id(const th_proc *server, const th_login *l)
{
    char url[128];
    snprintf(url, sizeof url, "%s/v1/me", server->url);
    th_resp r;
    json_t *j = NULL;
    th_json(&r, "GET", url, l->access, NULL, (void **)&j);
    const char *s = json_string_value(json_object_get(j, "id"));
    char *id = strdup(s ? s : "");
    json_decref(j);
    th_resp_free(&r);
    return id;
}
