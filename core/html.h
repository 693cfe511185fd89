/* The HTML kit of the public pages (dossier lookup, receipt check): HTML
 * escaping, a small template renderer over page templates embedded in the
 * binary (<module>/pages/, cmake/embed.cmake), the shared page layout
 * and CSS (core/pages/), and the answer with its strict headers.
 *
 * Templates, mustache-like and deliberately small:
 *   {{name}}                 the value, HTML-escaped (text or quoted attribute)
 *   {{{name}}}               the value as is: only for trusted fragments that
 *                            are themselves rendered templates or embedded CSS
 *   {{#name}} ... {{/name}}  the part between, when the value is not empty
 *   {{^name}} ... {{/name}}  the part between, when it is empty
 * A name not given is empty. Sections do not nest within the same name. */
#ifndef CDS_HTML_H
#define CDS_HTML_H
#include "core/buf.h"
#include "core/http.h"

#include <stddef.h>

/* The CSP of a page with forms: nothing loads, nothing runs (no script at
 * all), styles only inline, forms post to us, never framed. */
#define CDS_HTML_CSP                                                                          \
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; " \
    "frame-ancestors 'none'"

/* The largest page the kit renders. */
#define CDS_HTML_PAGE_MAX ((size_t)512 * 1024)

typedef struct cds_html_var {
    const char *name;
    const char *value; /* NULL is empty */
} cds_html_var;

/* s into out, escaped for element text and quoted attributes (& < > " '). */
int cds_html_escape(cds_buf *out, const char *s);
/* Renders the embedded template `path` (e.g. "dossiers/pages/lookup.html")
 * into out. 0, or -1 (no such template, a malformed tag, out's error);
 * out is then marked failed (cds_buf_fail). */
int cds_html_render(cds_buf *out, const char *path, const cds_html_var *vars, size_t nvars);

/* The same in a language (core/lang.h): English renders the template's
 * English sibling, "<module>/pages/<name>.en.html" beside "<name>.html"
 * (tests/lint: every page template has one). */
int cds_html_render_lang(cds_buf *out, const char *path, int lang, const cds_html_var *vars,
                         size_t nvars);

/* The same over template text (NUL-terminated) rather than an embedded file. */
int cds_html_render_text(cds_buf *out, const char *tmpl, const cds_html_var *vars, size_t nvars);

/* A whole page: core/pages/page.html around `body` (a rendered fragment),
 * with the shared CSS and the page's own (`css_path`, an embedded .css),
 * the <title>, the heading and the footer text. */
typedef struct cds_html_page {
    const char *title, *heading, *footer, *css_path;
    int lang; /* core/lang.h; the layout's language (CDS_LANG_VI when left 0) */
} cds_html_page;
/* Renders the page and answers r with it: text/html, the given CSP,
 * nosniff, no referrer, no-store; a short 500 page when rendering failed.
 * `body` is freed. */
void cds_html_send(cds_req *r, int status, const cds_html_page *page, cds_buf *body,
                   const char *csp);

#endif
