/* The city's staff identity provider stand-in (`staffid`, port 9014): the
 * OpenID Connect provider of the VNeID stand-in (sim/vneid*.c: discovery,
 * authorization code flow with PKCE S256, RS256 ID tokens, JWKS, userinfo,
 * the same test controls under /_sim) logging in test staff members instead
 * of citizens. The server's staff OIDC login (auth/staff_oidc.c) is
 * developed and tested against it over real sockets; like every stand-in it
 * is a witness: its JOSE and PKCE are the stand-in's own code.
 *
 * Claims: OpenID Connect Core 1.0, 5.1 standard claims: sub (stable, opaque:
 * "staff-" + the employee number), name, preferred_username (the login),
 * email, email_verified. The city has no published staff identity profile;
 * these are the standard names a relying party can rely on from any OIDC
 * provider (Keycloak, Entra ID, ...).
 *
 * Clients from CDS_SIM_STAFFID_CLIENTS ("id:secret:redirect_uri;..."),
 * default "cds-console:cds-dev-staff-secret:http://127.0.0.1:8080/console/login/callback".
 * login_hint = preferred_username skips the page (tests). */
#include "sim/vneid.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_CLIENTS "cds-console:cds-dev-staff-secret:http://127.0.0.1:8080/console/login/callback"

typedef struct staff_person {
    const char *employee; /* the sub is "staff-" + this */
    const char *username;
    const char *name;
    const char *unit;
} staff_person;

static const staff_person people[] = {
    {"HCM0001", "op.lan", "Nguyễn Thị Lan", "Trung tâm Chuyển đổi số"},
    {"HCM0002", "au.minh", "Trần Quang Minh", "Thanh tra Thành phố"},
    {"HCM0003", "ag.hoa", "Lê Thị Hoa", "Bưu điện Trung tâm Sài Gòn"},
    {"HCM0004", "op.khanh", "Phạm Văn Khánh", "Trung tâm Chuyển đổi số"},
};
#define NPEOPLE (sizeof people / sizeof people[0])

static size_t count(void)
{
    return NPEOPLE;
}

static int find(const char *hint)
{
    if (!hint) return -1;
    for (size_t i = 0; i < NPEOPLE; i++)
        if (strcmp(people[i].username, hint) == 0) return (int)i;
    return -1;
}

static const char *key(size_t i)
{
    return people[i].username;
}

static const char *name(size_t i)
{
    return people[i].name;
}

static void meta(size_t i, const char *acr_values, vneid_buf *b)
{
    vneid_buf_puts(b, "<div class=\"meta\">");
    vneid_buf_html(b, people[i].username);
    vneid_buf_puts(b, " · ");
    vneid_buf_html(b, people[i].unit);
    vneid_buf_puts(b, "</div>");
}

static json_t *claims(size_t i)
{
    const staff_person *p = &people[i];
    char sub[32], email[96];
    snprintf(sub, sizeof sub, "staff-%s", p->employee);
    snprintf(email, sizeof email, "%s@tphcm.gov.vn", p->username);
    return json_pack("{s:s,s:s,s:s,s:s,s:b}", "sub", sub, "name", p->name, "preferred_username",
                     p->username, "email", email, "email_verified", 1);
}

static const vneid_directory staff_directory = {
    .title = "Đăng nhập cán bộ Thành phố (giả lập)",
    .intro = "đề nghị xác nhận danh tính cán bộ của bạn (họ tên, tên đăng nhập, thư điện tử).",
    .count = count,
    .find = find,
    .key = key,
    .name = name,
    .meta = meta,
    .claims = claims,
};

static int staffid_init(sim_standin *s)
{
    s->nroutes = vneid_nroutes; /* not a constant expression for the initializer below */
    return vneid_standin_init(s, "CDS_SIM_STAFFID_CLIENTS", DEFAULT_CLIENTS, &staff_directory);
}

sim_standin sim_staffid = {
    .name = "staffid",
    .default_port = 9014,
    .routes = vneid_routes,
    .init = staffid_init,
    .help = "the city's staff OIDC issuer: the VNeID stand-in's provider with test staff "
            "(login_hint = op.lan, au.minh, ag.hoa, op.khanh)",
};
