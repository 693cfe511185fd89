/* The HTML kit's renderer: escaping of every special character, raw
 * fragments, sections on and off, names not given, malformed tags (the
 * buffer is marked failed), the cap passed through, and the embedded page
 * templates present and rendering (a step of the lookup timeline with a
 * hostile note). */
#include "core/html.h"
#include "core/lang.h"
#include "tests/lib/t.h"

#include <string.h>

static const char *render(cds_buf *b, const char *tmpl, const cds_html_var *v, size_t n, int *rc)
{
    cds_buf_reset(b);
    *rc = cds_html_render_text(b, tmpl, v, n);
    return cds_buf_str(b);
}

int main(void)
{
    cds_buf b;
    cds_buf_init(&b, 4096);
    int rc;
    const cds_html_var v[] = {
        {"x", "<a href=\"j\">Tom & 'Jerry'</a>"}, {"frag", "<b>ok</b>"}, {"on", "1"},
        {"off", ""}, {"nul", NULL},
    };
    size_t n = sizeof v / sizeof v[0];
    CHECK_STR(render(&b, "<p>{{x}}</p>", v, n, &rc),
              "<p>&lt;a href=&quot;j&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;</p>");
    CHECK_INT(rc, 0);
    CHECK_STR(render(&b, "[{{{frag}}}]", v, n, &rc), "[<b>ok</b>]");
    CHECK_STR(render(&b, "a{{#on}}B{{frag}}{{/on}}c", v, n, &rc), "aB&lt;b&gt;ok&lt;/b&gt;c");
    CHECK_STR(render(&b, "a{{#off}}B{{/off}}c{{^off}}D{{/off}}", v, n, &rc), "acD");
    CHECK_STR(render(&b, "{{#nul}}no{{/nul}}{{^nul}}yes{{/nul}}{{nul}}{{missing}}", v, n, &rc),
              "yes");
    CHECK_STR(render(&b, "{{#on}}1{{/on}}{{#on}}2{{/on}}", v, n, &rc), "12");
    CHECK_STR(render(&b, "", v, n, &rc), "");
    CHECK_INT(rc, 0);
    /* Malformed: unclosed tag, unclosed section, empty name, raw section. */
    const char *bad[] = {"a{{x", "{{#on}}x", "{{}}", "{{{#on}}}x{{/on}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        render(&b, bad[i], v, n, &rc);
        CHECK_INT(rc, -1);
        CHECK(b.err != 0);
    }
    /* The cap: escaping grows the text; past the cap the render fails. */
    cds_buf small;
    cds_buf_init(&small, 20);
    CHECK_INT(cds_html_render_text(&small, "{{x}}", v, n), -1);
    CHECK_INT(small.err, CDS_BUF_E_CAP);
    cds_buf_free(&small);
    /* Embedded templates. */
    const cds_html_var s[] = {{"step", "Tiếp nhận"}, {"at", "2026-03-16T09:30:00+07:00"},
                              {"when", "09:30 16/03/2026"}, {"note", "<script>x</script>"}};
    cds_buf_reset(&b);
    CHECK_INT(cds_html_render(&b, "dossiers/pages/step.html", s, 4), 0);
    CHECK(strstr(cds_buf_str(&b), "<p class=\"note\">&lt;script&gt;x&lt;/script&gt;</p>") != NULL);
    CHECK(strstr(cds_buf_str(&b), "<script>") == NULL);
    cds_buf_reset(&b);
    CHECK_INT(cds_html_render(&b, "no/such/template.html", s, 4), -1);
    CHECK(b.err != 0);
    const char *pages[] = {"core/pages/page.html",        "core/pages/base.css",
                           "dossiers/pages/message.html", "dossiers/pages/dossier.html",
                           "dossiers/pages/shipment.html", "dossiers/pages/lookup.css",
                           "receipts/pages/receipt.html", "receipts/pages/refused.html",
                           "receipts/pages/link.html",    "receipts/pages/audit.html",
                           "receipts/pages/check.css"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        cds_buf_reset(&b);
        CHECK_INT(cds_html_render(&b, pages[i], NULL, 0), 0);
    }
    /* Every template renders in English too (its .en.html sibling), and the
     * fee page's templates in both. */
    const char *both[] = {"core/pages/page.html",        "dossiers/pages/message.html",
                          "dossiers/pages/dossier.html", "dossiers/pages/shipment.html",
                          "dossiers/pages/step.html",    "dossiers/pages/pay.html",
                          "dossiers/pages/paid.html",    "dossiers/pages/payinfo.html",
                          "receipts/pages/receipt.html", "receipts/pages/refused.html",
                          "receipts/pages/link.html",    "receipts/pages/audit.html"};
    for (size_t i = 0; i < sizeof both / sizeof both[0]; i++)
        for (int l = 0; l < CDS_LANG__COUNT; l++) {
            cds_buf_reset(&b);
            CHECK_INT(cds_html_render_lang(&b, both[i], l, NULL, 0), 0);
        }
    const cds_html_var h[] = {{"heading", "X"}};
    cds_buf_reset(&b);
    CHECK_INT(cds_html_render_lang(&b, "core/pages/page.html", CDS_LANG_EN, h, 1), 0);
    CHECK(strstr(cds_buf_str(&b), "<html lang=\"en\">") != NULL);
    cds_buf_reset(&b);
    CHECK_INT(cds_html_render_lang(&b, "core/pages/page.html", CDS_LANG_VI, h, 1), 0);
    CHECK(strstr(cds_buf_str(&b), "<html lang=\"vi\">") != NULL);
    /* CSS has no language: the same file either way. */
    cds_buf_reset(&b);
    CHECK_INT(cds_html_render_lang(&b, "dossiers/pages/lookup.css", CDS_LANG_EN, NULL, 0), 0);
    cds_buf_free(&b);
    return t_done();
}
