/* The HTML kit (html.h). The renderer walks the template once: text runs
 * are copied, a tag is looked up among the variables. A section that is
 * off skips to its closing tag without emitting anything. */
#include "core/html.h"

#include "core/assets.h"
#include "core/lang.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

int cds_html_escape(cds_buf *out, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *ent;
        switch (*s) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: continue;
        }
        cds_buf_add(out, run, (size_t)(s - run));
        cds_buf_adds(out, ent);
        run = s + 1;
    }
    return cds_buf_add(out, run, (size_t)(s - run));
}

static const char *lookup(const cds_html_var *vars, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
            return vars[i].value ? vars[i].value : "";
    return "";
}

/* The end of the section {{/name}} that closes at p, or NULL. */
static const char *section_end(const char *p, const char *name, size_t len)
{
    for (const char *q = strstr(p, "{{/"); q; q = strstr(q + 3, "{{/"))
        if (strncmp(q + 3, name, len) == 0 && strncmp(q + 3 + len, "}}", 2) == 0) return q;
    return NULL;
}

static int render(cds_buf *out, const char *t, const char *end, const cds_html_var *vars,
                  size_t nvars)
{
    while (t < end) {
        const char *open = strstr(t, "{{");
        if (!open || open >= end) open = end;
        cds_buf_add(out, t, (size_t)(open - t));
        if (open == end) break;
        int raw = strncmp(open, "{{{", 3) == 0;
        const char *name = open + (raw ? 3 : 2);
        char kind = *name == '#' || *name == '^' ? *name++ : 0;
        const char *close = strstr(name, raw ? "}}}" : "}}");
        if (!close || close >= end || close == name) return -1;
        size_t len = (size_t)(close - name);
        const char *v = lookup(vars, nvars, name, len);
        t = close + (raw ? 3 : 2);
        if (kind) {
            const char *stop = section_end(t, name, len);
            if (!stop || stop >= end || raw) return -1;
            if ((kind == '#') == (*v != '\0') && render(out, t, stop, vars, nvars)) return -1;
            t = stop + 3 + len + 2;
        } else if (raw) {
            cds_buf_adds(out, v);
        } else {
            cds_html_escape(out, v);
        }
    }
    return out->err ? -1 : 0;
}

int cds_html_render_text(cds_buf *out, const char *tmpl, const cds_html_var *vars, size_t nvars)
{
    if (render(out, tmpl, tmpl + strlen(tmpl), vars, nvars) == 0) return 0;
    cds_buf_fail(out);
    return -1;
}

int cds_html_render(cds_buf *out, const char *path, const cds_html_var *vars, size_t nvars)
{
    const cds_asset *a = cds_asset_find(path);
    if (!a) {
        cds_log(CDS_LOG_ERROR, "html", "no template %s", path);
    } else if (render(out, a->data, a->data + a->len, vars, nvars) == 0) {
        return 0;
    } else if (!out->err) {
        cds_log(CDS_LOG_ERROR, "html", "template %s is malformed", path);
    }
    cds_buf_fail(out);
    return -1;
}

int cds_html_render_lang(cds_buf *out, const char *path, int lang, const cds_html_var *vars,
                         size_t nvars)
{
    size_t n = strlen(path);
    if (lang != CDS_LANG_EN || n < 5 || strcmp(path + n - 5, ".html") != 0)
        return cds_html_render(out, path, vars, nvars);
    char en[256];
    if (n + 3 >= sizeof en) {
        cds_buf_fail(out);
        return -1;
    }
    snprintf(en, sizeof en, "%.*s.en.html", (int)(n - 5), path);
    return cds_html_render(out, en, vars, nvars);
}

void cds_html_send(cds_req *r, int status, const cds_html_page *page, cds_buf *body,
                   const char *csp)
{
    const cds_asset *base = cds_asset_find("core/pages/base.css");
    const cds_asset *own = cds_asset_find(page->css_path);
    cds_buf css, doc;
    cds_buf_init(&css, CDS_HTML_PAGE_MAX);
    cds_buf_init(&doc, CDS_HTML_PAGE_MAX);
    cds_buf_adds(&css, base ? base->data : "");
    cds_buf_adds(&css, own ? own->data : "");
    const cds_html_var vars[] = {
        {"title", page->title},   {"heading", page->heading}, {"footer", page->footer},
        {"css", cds_buf_str(&css)}, {"body", cds_buf_str(body)},
    };
    int rc = body->err || css.err ? -1
             : cds_html_render_lang(&doc, "core/pages/page.html", page->lang, vars,
                                    sizeof vars / sizeof vars[0]);
    cds_resp_header(r, "content-security-policy", csp);
    cds_resp_header(r, "x-content-type-options", "nosniff");
    cds_resp_header(r, "referrer-policy", "no-referrer");
    cds_resp_header(r, "cache-control", "no-store");
    if (rc) {
        /* In the page's language, as the page would have been. */
        static const char vi[] = "<!DOCTYPE html><html lang=\"vi\"><meta charset=\"utf-8\">"
                                 "<title>Lỗi</title><p>Không hiển thị được trang.</p></html>";
        static const char en[] = "<!DOCTYPE html><html lang=\"en\"><meta charset=\"utf-8\">"
                                 "<title>Error</title><p>The page cannot be shown.</p></html>";
        if (page->lang == CDS_LANG_EN)
            cds_respond(r, 500, "text/html; charset=utf-8", en, sizeof en - 1);
        else
            cds_respond(r, 500, "text/html; charset=utf-8", vi, sizeof vi - 1);
    } else {
        cds_respond(r, status, "text/html; charset=utf-8", doc.p, doc.len);
    }
    cds_buf_free(&doc);
    cds_buf_free(&css);
    cds_buf_free(body);
}
