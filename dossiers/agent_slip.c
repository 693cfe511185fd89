/* The lookup slip an agent prints for the citizen (issue 19 part 1):
 * GET /v1/agent/dossiers/{id}/slip (the agent's staff token; only a
 * dossier they filed) -> an HTML page with the dossier code, the lookup
 * secret and the QR code of the lookup link (core/qr.h, inline SVG: the
 * page loads nothing), in the layout of the public pages (core/html.h,
 * dossiers/pages/slip.html and its .en.html twin, by Accept-Language). */
#include "internal.h"
#include "auth/staff.h"
#include "core/db.h"
#include "core/html.h"
#include "core/lang.h"
#include "core/problem.h"
#include "core/qr.h"

#include <stdlib.h>
#include <string.h>

static int st_slip;

int cds_agent_slip_init(void)
{
    st_slip = cds_db_stmt_register(
        "agent_slip",
        "SELECT d.code, d.id, p.name, cds_rfc3339(d.submitted_at), s.display_name, l.name, "
        "l.address FROM dossiers d JOIN procedures p ON p.code = d.procedure_code "
        "JOIN staff s ON s.id = d.filed_by_staff AND s.disabled_at IS NULL "
        "JOIN agent_locations l ON l.id = d.agent_location_id "
        "WHERE d.id = $1::uuid AND d.filed_by_staff = $2::uuid",
        2);
    return st_slip < 0 ? -1 : 0;
}

static const char CSP[] = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'";

static void on_slip(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "agents_db", res, CDS_P_DOSSIER_NOT_FOUND)) return;
    int lang = cds_req_lang(r);
    const char *code = PQgetvalue(res, 0, 0), *id = PQgetvalue(res, 0, 1);
    const char *at = PQgetvalue(res, 0, 3);
    char secret[CDS_LOOKUP_SECRET_LEN + 1];
    cds_lookup_secret(id, secret);
    const char *url = cds_lookup_url(r, code, secret);
    size_t svg_len;
    char *svg = cds_qr_svg(url, CDS_QR_ECC_M, &svg_len);
    const char *inline_svg = svg ? strstr(svg, "<svg") : NULL;
    if (!inline_svg) {
        free(svg);
        cds_fail(r, CDS_P_QR_FAILED);
        return;
    }
    /* "2026-12-05T08:30:00+07:00" -> "08:30 05/12/2026" */
    const char *when = strlen(at) >= 16 ? cds_req_printf(r, "%.5s %.2s/%.2s/%.4s", at + 11, at + 8, at + 5, at) : at;
    const cds_html_var v[] = {
        {"code", code},
        {"secret", secret},
        {"procedure", PQgetvalue(res, 0, 2)},
        {"filed_at_iso", at},
        {"filed_at", when},
        {"agent", PQgetvalue(res, 0, 4)},
        {"location", PQgetvalue(res, 0, 5)},
        {"address", PQgetvalue(res, 0, 6)},
        {"qr", inline_svg},
        {"url", url},
    };
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    cds_html_render_lang(&b, "dossiers/pages/slip.html", lang, v, sizeof v / sizeof v[0]);
    free(svg);
    const char *heading = cds_lang_pick(lang, "Phiếu hẹn tra cứu hồ sơ", "Dossier lookup slip");
    const cds_html_page page = {
        cds_req_printf(r, "%s · %s", code, heading), heading,
        cds_lang_pick(lang, "Đại lý dịch vụ công nộp hồ sơ thay công dân; hồ sơ thuộc về công dân.",
                      "A public-service agent filed this dossier for the citizen, who owns it."),
        "dossiers/pages/lookup.css", lang};
    cds_html_send(r, 200, &page, &b, CSP);
}

void cds_agent_slip(cds_req *r)
{
    const cds_staff_principal *a = cds_auth_staff(r, CDS_STAFF_AGENT);
    if (!a) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_DOSSIER_NOT_FOUND);
    if (!id) return;
    const char *p[] = {id, a->staff_id};
    cds_req_db(r, st_slip, 2, p, on_slip);
}
