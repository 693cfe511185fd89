/* The console's pages: the layout (core/html.h's page with the console's
 * navigation above the body and its own CSS), message and error pages,
 * the redirect to the login page of a page asked without a session, and
 * the little formatting the pages share (times, amounts, notices). */
#include "internal.h"
#include "core/lang.h"
#include "core/log.h"
#include "core/vn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cn_t(cds_req *r, const char *vi, const char *en)
{
    return cds_lang_pick(cds_req_lang(r), vi, en);
}

void cn_render(cds_req *r, cds_buf *out, const char *name, const cds_html_var *v, size_t nv)
{
    char path[128];
    snprintf(path, sizeof path, "console/pages/%s.html", name);
    cds_html_render_lang(out, path, cds_req_lang(r), v, nv);
}

void cn_send(cds_req *r, int status, const cn_session *s, const char *title, cds_buf *body)
{
    cds_buf all;
    cds_buf_init(&all, CDS_HTML_PAGE_MAX);
    if (s) {
        const cds_html_var v[] = {
            {"name", s->who.name},
            {"login", s->who.login},
            {"role", s->can_act ? cn_t(r, "Cán bộ vận hành", "Operator")
                                : cn_t(r, "Kiểm soát viên (chỉ xem)", "Auditor (read only)")},
            {"csrf", s->csrf},
        };
        cn_render(r, &all, "nav", v, sizeof v / sizeof v[0]);
    }
    cds_buf_add(&all, body->p ? body->p : "", body->len);
    if (body->err) cds_buf_fail(&all);
    cds_buf_free(body);
    int lang = cds_req_lang(r);
    const cds_html_page page = {
        cds_req_printf(r, "%s · %s", title, cn_t(r, "Bàn điều khiển", "Console")), title,
        cn_t(r, "Bàn điều khiển vận hành · mọi thao tác được ghi nhật ký kiểm tra.",
             "Operators' console · every action is written to the audit log."),
        "console/pages/console.css", lang};
    cds_html_send(r, status, &page, &all, CN_CSP);
}

void cn_message(cds_req *r, int status, const cn_session *s, const char *title, const char *msg)
{
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    const cds_html_var v[] = {{"title", title}, {"message", msg}, {"session", s ? "1" : NULL}};
    cn_render(r, &b, "message", v, sizeof v / sizeof v[0]);
    cn_send(r, status, s, title, &b);
}

void cn_redirect(cds_req *r, const char *location)
{
    cds_resp_header(r, "location", location);
    cds_resp_header(r, "cache-control", "no-store");
    cds_resp_header(r, "referrer-policy", "no-referrer");
    cds_respond(r, 303, "text/plain; charset=utf-8", "", 0);
}

void cn_db_failed(cds_req *r, const char *what, PGresult *res)
{
    cds_log(CDS_LOG_ERROR, what, "%s", res ? PQresultErrorMessage(res) : "connection lost");
    cn_message(r, 503, NULL, cn_t(r, "Hệ thống đang bận", "The system is busy"),
               cn_t(r, "Không truy cập được cơ sở dữ liệu; vui lòng thử lại sau ít phút.",
                    "The database could not be reached; please try again in a few minutes."));
}

int cn_rows(cds_req *r, const char *what, PGresult *res)
{
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) return 1;
    cn_db_failed(r, what, res);
    return 0;
}

int cn_one(cds_req *r, const char *what, PGresult *res)
{
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) return 1;
    cn_db_failed(r, what, res);
    return 0;
}

const char *cn_when(cds_req *r, const char *ts)
{
    if (!ts || !*ts) return "";
    if (strlen(ts) >= 16 && ts[10] == 'T')
        return cds_req_printf(r, "%.2s/%.2s/%.4s %.5s", ts + 8, ts + 5, ts, ts + 11);
    return ts;
}

const char *cn_vnd(cds_req *r, long long vnd)
{
    char s[CDS_VN_GROUPED_MAX];
    cds_vn_grouped(vnd, s, sizeof s);
    if (cds_req_lang(r) != CDS_LANG_EN) return cds_req_printf(r, "%s đ", s);
    for (char *p = s; *p; p++)
        if (*p == '.') *p = ',';
    return cds_req_printf(r, "VND %s", s);
}

const char *cn_notice(cds_req *r, const cn_session *s)
{
    (void)r;
    return s ? s->notice : NULL;
}

const char *cn_form_text(cds_req *r, const char *name, size_t max)
{
    const char *s = cds_req_form(r, name);
    if (!s || !*s || strlen(s) > max) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t') || *p == 0x7f) return NULL;
    int blank = 1;
    for (const char *p = s; *p && blank; p++) blank = *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t';
    return blank ? NULL : s;
}

const char *cn_js(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

long long cn_ji(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

int cn_listed(const char *list, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (!list || n == 0) return 0;
    for (const char *p = strstr(list, name); p; p = strstr(p + 1, name))
        if ((p[-1] == '{' || p[-1] == ',') && (p[n] == '}' || p[n] == ',')) return 1;
    return 0;
}
