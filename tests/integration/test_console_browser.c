/* The operators' console in headless Chromium (issue 19, part 3): an
 * operator logs in with password and TOTP, finds the transfer that matched
 * nothing on the payments page, assigns it to the dossier it was meant for,
 * and lands on the dossier, now paid. Every step is a real page of `cds
 * serve` in a real browser (Chrome DevTools Protocol over a pipe,
 * tests/lib/cdp.h): the form is typed into and its button pressed, the
 * browser keeps the session cookie and follows the login redirect, and the
 * pages run no script (their CSP forbids any). Screenshots at a desk's
 * width, saved to <build>/Testing/console_{login,home,payments,dossier_paid,
 * agents_location,payments_en}.png. An agent location is opened from the
 * agents page's form too. The database confirms what the pages say: the dossier
 * paid, the transfer resolved, the receipt issued, audit_log naming the
 * operator.
 *
 * Without Chromium (no package) the test says so and exits 77: skipped,
 * never passed. */
#include "tests/lib/cdp.h"
#include "tests/lib/console.h"
#include "tests/lib/harness.h"
#include "tests/lib/staff.h"
#include "tests/lib/t.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAYOS_KEY "test-payos-checksum-key-0001"
#define SKIP 77
#define WIDTH 1280
#define HEIGHT 900

static char *db;
static th_proc srv;

static const char *contains(const char *hay, const char *needle)
{
    const char *p = hay ? strstr(hay, needle) : NULL;
    if (!p) fprintf(stderr, "  (missing: %s)\n", needle);
    return p;
}

static void shot(th_cdp *c, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/Testing/console_%s.png", CDS_BUILD_DIR, name);
    unlink(path);
    CHECK_INT(th_cdp_screenshot(c, path), 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 10 * 1024);
    fprintf(stderr, "console screenshot: %s (%lld bytes)\n", path, (long long)st.st_size);
}

static char *text_of(th_cdp *c, const char *selector)
{
    char expr[256];
    snprintf(expr, sizeof expr, "(function(){var e=document.querySelector(%s);return e?e.textContent:'';})()",
             selector);
    return th_cdp_eval(c, expr);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *bin = th_cdp_binary();
    if (!bin) {
        fprintf(stderr, "SKIP: chromium not found: install the Debian package `chromium` "
                        "(scripts/bootstrap) to test the console in a browser\n");
        return SKIP;
    }
    mkdir(CDS_BUILD_DIR "/Testing", 0755);
    db = th_db_new("console_browser");
    int port = th_free_port();
    static char base[128];
    snprintf(base, sizeof base, "CDS_PUBLIC_BASE_URL=http://127.0.0.1:%d", port);
    const char *env[] = {base, "CDS_PAYOS_CHECKSUM_KEY=" PAYOS_KEY, "CDS_AUTO_MIGRATE=1",
                         "CDS_LOOKUP_BURST=1000", "CDS_LOOKUP_PER_MINUTE=60000", NULL};
    if (th_server_start_on(&srv, port, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;

    /* The situation: a dossier waiting for its fee, and the citizen's
     * transfer that named another reference, so it matched nothing. */
    th_staff op;
    CHECK_INT(th_staff_create(db, &op, "vanhanh", "operator", NULL), 0);
    th_fee_dossier d;
    char tx[24];
    CHECK_INT(th_console_fee_dossier(db, srv.url, "BROWSER", 200000, &d), 0);
    CHECK_INT(th_console_unmatched(db, srv.url, PAYOS_KEY, d.account, d.amount, tx), 0);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'fee_requested'", d.id), 1);

    th_cdp c;
    if (th_cdp_start(&c, bin, WIDTH, HEIGHT, "vi-VN,vi") != 0) {
        fprintf(stderr, "FAIL: chromium did not start\n");
        return 1;
    }
    char url[512], sel[128], code[7];
    /* Log in. */
    snprintf(url, sizeof url, "%s/console", srv.url);
    CHECK_INT(th_cdp_goto(&c, url), 0);
    char *loc = th_cdp_location(&c);
    snprintf(url, sizeof url, "%s/console/login", srv.url);
    CHECK_STR(loc, url); /* no session: sent to the login form */
    free(loc);
    shot(&c, "login");
    long long step = (long long)time(NULL) / 30;
    th_staff_code(&op, step, code);
    CHECK_INT(th_cdp_type(&c, "'#login-name'", op.login), 0);
    CHECK_INT(th_cdp_type(&c, "'#password'", op.password), 0);
    CHECK_INT(th_cdp_type(&c, "'#totp'", code), 0);
    CHECK_INT(th_cdp_click_wait(&c, "'#login-form button'"), 0);
    char *who = text_of(&c, "'#who'");
    CHECK(contains(who, "vanhanh") && contains(who, "Cán bộ vận hành"));
    free(who);
    char *n = text_of(&c, "'#count-unmatched'");
    CHECK_STR(n, "1");
    free(n);
    /* The cookie is out of the page's reach (HttpOnly). */
    char *cookies = th_cdp_eval(&c, "document.cookie");
    CHECK(cookies && !strstr(cookies, "cds_console="));
    free(cookies);
    shot(&c, "home");

    /* The payments page: the transfer, assigned to the dossier. */
    CHECK_INT(th_cdp_click_wait(&c, "'a[href=\"/console/payments\"]'"), 0);
    snprintf(sel, sizeof sel, "'#tx-%s'", tx);
    char *row = text_of(&c, sel);
    CHECK(contains(row, "NGUYEN VAN AN"));
    free(row);
    shot(&c, "payments");
    snprintf(sel, sizeof sel, "'#resolve-%s input[name=dossier_code]'", tx);
    CHECK_INT(th_cdp_type(&c, sel, d.code), 0);
    snprintf(sel, sizeof sel, "'#resolve-%s input[name=reason]'", tx);
    CHECK_INT(th_cdp_type(&c, sel, "Công dân ghi nhầm mã thanh toán; đã đối chiếu sao kê"), 0);
    snprintf(sel, sizeof sel, "'#resolve-%s button'", tx);
    CHECK_INT(th_cdp_click_wait(&c, sel), 0);

    /* The dossier, paid: the page the action answers with. */
    char *code_shown = text_of(&c, "'#dossier-code'");
    CHECK_STR(code_shown, d.code);
    free(code_shown);
    char *st = text_of(&c, "'#dossier-status'");
    CHECK_STR(st, "paid");
    free(st);
    char *notice = text_of(&c, "'#notice'");
    CHECK(contains(notice, "Đã gán giao dịch"));
    free(notice);
    char *pays = text_of(&c, "'#payments'");
    CHECK(contains(pays, "paid"));
    free(pays);
    shot(&c, "dossier_paid");
    /* The same dossier opened afresh says so too. */
    snprintf(url, sizeof url, "%s/console/dossiers/%s", srv.url, d.code);
    CHECK_INT(th_cdp_goto(&c, url), 0);
    st = text_of(&c, "'#dossier-status'");
    CHECK_STR(st, "paid");
    free(st);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'paid'", d.id), 1);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM bank_transactions WHERE id = %s AND match_status = 'resolved'"
                              " AND receipt_id IS NOT NULL", tx), 1);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM audit_log WHERE action = 'payment.resolve'"
                              " AND actor = 'staff:%s vanhanh' AND subject = 'bank_transaction:%s'", op.id, tx), 1);

    /* An agent location opened from the agents page's form. */
    CHECK_INT(th_cdp_click_wait(&c, "'a[href=\"/console/agents\"]'"), 0);
    CHECK_INT(th_cdp_type(&c, "'#loc_code'", "BD-Q10"), 0);
    CHECK_INT(th_cdp_type(&c, "'#loc_name'", "Bưu điện Quận 10"), 0);
    CHECK_INT(th_cdp_type(&c, "'#loc_address'", "270 Lý Thường Kiệt, Phường 14, Quận 10"), 0);
    CHECK_INT(th_cdp_click_wait(&c, "'#location-create button'"), 0);
    notice = text_of(&c, "'#notice'");
    CHECK(contains(notice, "Đã tạo điểm đại lý"));
    free(notice);
    char *locs = text_of(&c, "'#locations'");
    CHECK(contains(locs, "BD-Q10"));
    free(locs);
    shot(&c, "agents_location");
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM agent_locations WHERE code = 'BD-Q10' AND"
                              " created_by = 'staff:%s vanhanh'", op.id), 1);

    /* Nothing left to resolve; the English page. */
    th_cdp_stop(&c);
    if (th_cdp_start(&c, bin, WIDTH, HEIGHT, "en-US,en") != 0) return 1;
    snprintf(url, sizeof url, "%s/console/login", srv.url);
    CHECK_INT(th_cdp_goto(&c, url), 0);
    char *h = text_of(&c, "'h1'");
    CHECK_STR(h, "Console login");
    free(h);
    th_staff_code(&op, step + 1, code);
    CHECK_INT(th_cdp_type(&c, "'#login-name'", op.login), 0);
    CHECK_INT(th_cdp_type(&c, "'#password'", op.password), 0);
    CHECK_INT(th_cdp_type(&c, "'#totp'", code), 0);
    CHECK_INT(th_cdp_click_wait(&c, "'#login-form button'"), 0);
    snprintf(url, sizeof url, "%s/console/payments", srv.url);
    CHECK_INT(th_cdp_goto(&c, url), 0);
    char *none = text_of(&c, "'#no-unmatched'");
    CHECK_STR(none, "No transfer is waiting.");
    free(none);
    shot(&c, "payments_en");
    /* Log out: back to the form, the session gone. */
    CHECK_INT(th_cdp_click_wait(&c, "'#logout'"), 0);
    char *out = text_of(&c, "'#notice'");
    CHECK_STR(out, "Logged out.");
    free(out);
    snprintf(url, sizeof url, "%s/console/payments", srv.url);
    CHECK_INT(th_cdp_goto(&c, url), 0);
    loc = th_cdp_location(&c);
    snprintf(url, sizeof url, "%s/console/login", srv.url);
    CHECK_STR(loc, url);
    free(loc);
    th_cdp_stop(&c);

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    return t_done();
}
