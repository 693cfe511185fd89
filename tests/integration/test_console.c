/* The operators' console (issue 19, part 3) over real sockets with libcurl:
 * `cds serve` with its database, staff accounts made with `cds staff
 * create`, the login form with password and TOTP, the session cookie and
 * the CSRF field of every form.
 *
 *   headers       every page: the strict CSP (no script, forms to us only),
 *                 no-store, no referrer; no <script> anywhere; the session
 *                 cookie HttpOnly, SameSite=Strict, Path=/console
 *   bad input     each refused with its page and nothing changed (the
 *                 database compared before and after):
 *                   a login with a wrong TOTP code (401, no cookie), a login
 *                   form posted without its CSRF token (403); a POST without
 *                   a CSRF token or with another session's (403); an auditor
 *                   posting an action (403; the pages show no forms); no
 *                   session (401); an expired session (401 on a POST, the
 *                   login page for a GET; a second server with
 *                   CDS_STAFF_TOKEN_TTL=60 waits its minute out)
 *   actions       each audited with the operator's identity: assigning an
 *                 unmatched transfer (the dossier becomes paid), a refund
 *                 recorded, a failed booking booked again and another
 *                 cancelled (the dossier waits at the counter), a failed
 *                 SMS sent again once (a second post changes nothing), a
 *                 courier account issued (the secret shown once, its
 *                 SHA-256 stored) and disabled, an agent account created
 *                 (its TOTP key shown once; it logs in) and disabled (its
 *                 session ends); an agent location opened (bad code, name,
 *                 agency, a code taken, an auditor, no CSRF token: refused,
 *                 nothing changed) and closed (its agents disabled, no new
 *                 agent there); the gateways page
 *   staff OIDC    through the staff issuer stand-in (cds-sim `staffid`): the
 *                 login page's link, the issuer, the callback to the
 *                 console, the session; a callback in a browser that did not
 *                 start the login (no state cookie, another state) is 400
 *                 and logs nobody in
 *   logout        ends the login session (the old cookie is refused after,
 *                 also by the other server) and clears the cookie */
#include "tests/lib/console.h"
#include "tests/lib/harness.h"
#include "tests/lib/partner.h"
#include "tests/lib/staff.h"
#include "tests/lib/t.h"

#include <openssl/sha.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAYOS_KEY "test-payos-checksum-key-0001"
#define CSP "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

static char *db;
static th_proc srv, srv_short;
static th_sim sim;
static th_staff op, aud, op_short;
static char op_cookie[2200], aud_cookie[2200], short_cookie[2200];
static char op_csrf[65], aud_csrf[65], short_csrf[65];
static time_t short_login_at;

/* A count(*) of a query with one %s argument. */
#define count(fmt, arg) th_db_count(db, fmt, arg)

static const char *contains(const char *hay, const char *needle)
{
    const char *p = hay ? strstr(hay, needle) : NULL;
    if (!p) fprintf(stderr, "  (missing: %s)\n", needle);
    return p;
}

/* A fingerprint of everything an action could change, to compare before
 * and after a refused one. */
static char *state(void)
{
    char *v = th_db_value(
        db, "SELECT (SELECT count(*) FROM audit_log) || '|' ||"
            " (SELECT string_agg(id || match_status, ',' ORDER BY id) FROM bank_transactions) || '|' ||"
            " (SELECT string_agg(status, ',' ORDER BY id) FROM payments) || '|' ||"
            " (SELECT string_agg(code || status, ',' ORDER BY code) FROM dossiers) || '|' ||"
            " (SELECT count(*) FROM outbox) || '|' ||"
            " (SELECT COALESCE(string_agg(status || book_state, ',' ORDER BY id), '') FROM shipments) || '|' ||"
            " (SELECT count(*) || COALESCE(max(disabled_at)::text, '') FROM couriers) || '|' ||"
            " (SELECT count(*) || COALESCE(max(disabled_at)::text, '') FROM agent_locations) || '|' ||"
            " (SELECT count(*) || COALESCE(max(disabled_at)::text, '') FROM staff)");
    return v ? v : strdup("?");
}

static void login_all(void)
{
    CHECK_INT(th_staff_create(db, &op, "vanhanh1", "operator", NULL), 0);
    CHECK_INT(th_staff_create(db, &aud, "kiemsoat1", "auditor", NULL), 0);
    CHECK_INT(th_staff_create(db, &op_short, "vanhanh2", "operator", NULL), 0);
    /* The short-lived session first: its minute runs while the rest is tested. */
    CHECK_INT(th_console_login(srv_short.url, &op_short, NULL, short_cookie, sizeof short_cookie), 200);
    short_login_at = time(NULL);
    CHECK_INT(th_console_login(srv.url, &op, NULL, op_cookie, sizeof op_cookie), 200);
    CHECK_INT(th_console_login(srv.url, &aud, NULL, aud_cookie, sizeof aud_cookie), 200);
    th_resp r;
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console"), op_cookie), 200);
    CHECK_INT(th_console_csrf(r.body, op_csrf), 0);
    CHECK(contains(r.body, "vanhanh1"));
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console"), aud_cookie), 200);
    CHECK_INT(th_console_csrf(r.body, aud_csrf), 0);
    CHECK(contains(r.body, "Kiểm soát viên"));
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, th_url(&srv_short, "/console/payments"), short_cookie), 200);
    CHECK_INT(th_console_csrf(r.body, short_csrf), 0);
    th_resp_free(&r);
}

static void test_login_refusals(void)
{
    char cookie[2200] = "", code[7];
    th_staff bad = op;
    /* A wrong TOTP code: the form again, 401, no session cookie. */
    th_staff_code(&op, op.next_step + 5, code); /* a valid code, but of another time */
    CHECK_INT(th_console_login(srv.url, &bad, code, cookie, sizeof cookie), 401);
    CHECK(cookie[0] == 0);
    CHECK_INT(th_console_login(srv.url, &bad, "000000", cookie, sizeof cookie), 401);
    CHECK(cookie[0] == 0);
    /* A login form posted without its CSRF token or its nonce cookie: 403. */
    th_resp r;
    char form[512];
    th_staff_code(&op, (long long)time(NULL) / 30, code);
    snprintf(form, sizeof form, "login=%s&password=%s&totp=%s", op.login, op.password, code);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/login"), "cds_console_login=0123456789abcdef0123456789abcdef", form), 403);
    CHECK(th_set_cookie(&r, "cds_console", cookie, sizeof cookie, NULL) == NULL);
    th_resp_free(&r);
    /* A GET without a session goes to the login form. */
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/payments"), NULL), 303);
    CHECK_STR(th_resp_header(&r, "location"), "/console/login");
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/payments"), "cds_console=not.a.token"), 303);
    th_resp_free(&r);
}

static void test_headers(void)
{
    const char *pages[] = {"/console", "/console/payments", "/console/shipments",
                           "/console/notifications", "/console/gateways", "/console/couriers",
                           "/console/audit", "/console/login"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        th_resp r;
        CHECK_INT(th_console_get(&r, th_url(&srv, "%s", pages[i]), i < 7 ? op_cookie : NULL), 200);
        CHECK_STR(th_resp_header(&r, "content-security-policy"), CSP);
        CHECK_STR(th_resp_header(&r, "cache-control"), "no-store");
        CHECK_STR(th_resp_header(&r, "referrer-policy"), "no-referrer");
        CHECK_STR(th_resp_header(&r, "x-content-type-options"), "nosniff");
        CHECK(r.body && !strstr(r.body, "<script") && !strstr(r.body, "javascript:"));
        th_resp_free(&r);
    }
    /* The session cookie's flags (cleartext: not Secure). */
    th_staff s;
    CHECK_INT(th_staff_create(db, &s, "vanhanh3", "operator", NULL), 0);
    char url[256], nonce[128], csrf[65], line[4096] = "", tok[2048], code[7], jar[256], form[512];
    snprintf(url, sizeof url, "%s/console/login", srv.url);
    th_resp r;
    CHECK_INT(th_console_get(&r, url, NULL), 200);
    CHECK(th_set_cookie(&r, "cds_console_login", nonce, sizeof nonce, line) != NULL);
    CHECK(contains(line, "HttpOnly") && contains(line, "SameSite=Strict"));
    CHECK_INT(th_console_csrf(r.body, csrf), 0);
    th_resp_free(&r);
    th_staff_code(&s, s.next_step, code);
    snprintf(jar, sizeof jar, "cds_console_login=%s", nonce);
    snprintf(form, sizeof form, "csrf=%s&login=%s&password=%s&totp=%s", csrf, s.login, s.password, code);
    CHECK_INT(th_console_post(&r, url, jar, form), 200);
    CHECK(contains(r.body, "id=\"count-unmatched\""));
    CHECK(th_set_cookie(&r, "cds_console", tok, sizeof tok, line) != NULL);
    CHECK(contains(line, "; Path=/console") && contains(line, "; HttpOnly") &&
          contains(line, "; SameSite=Strict") && contains(line, "Max-Age="));
    CHECK(!strstr(line, "Secure"));
    th_resp_free(&r);
}

static th_fee_dossier fd;
static char tx[24];

static void test_csrf_and_roles(void)
{
    CHECK_INT(th_console_fee_dossier(db, srv.url, "CONSOLE", 150000, &fd), 0);
    CHECK_INT(th_console_unmatched(db, srv.url, PAYOS_KEY, fd.account, fd.amount, tx), 0);
    th_resp r;
    /* The operator sees the transfer with its form; the auditor without. */
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/payments"), op_cookie), 200);
    char want[64];
    snprintf(want, sizeof want, "id=\"resolve-%s\"", tx);
    CHECK(contains(r.body, want));
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/payments"), aud_cookie), 200);
    snprintf(want, sizeof want, "id=\"tx-%s\"", tx);
    CHECK(contains(r.body, want));
    CHECK(r.body && !strstr(r.body, "id=\"resolve-"));
    th_resp_free(&r);

    char *before = state();
    char form[512];
    const char *path = th_url(&srv, "/console/payments/transactions/%s/resolve", tx);
    /* No CSRF token: 403. */
    snprintf(form, sizeof form, "dossier_code=%s&reason=chuyen+nham", fd.code);
    CHECK_INT(th_console_post(&r, path, op_cookie, form), 403);
    CHECK(contains(r.body, "CSRF"));
    th_resp_free(&r);
    /* Another session's token (the auditor's): 403. */
    snprintf(form, sizeof form, "csrf=%s&dossier_code=%s&reason=x", aud_csrf, fd.code);
    CHECK_INT(th_console_post(&r, path, op_cookie, form), 403);
    th_resp_free(&r);
    /* An empty or malformed token: 403. */
    snprintf(form, sizeof form, "csrf=&dossier_code=%s&reason=x", fd.code);
    CHECK_INT(th_console_post(&r, path, op_cookie, form), 403);
    th_resp_free(&r);
    /* The auditor with their own valid token: 403, read only. */
    snprintf(form, sizeof form, "csrf=%s&dossier_code=%s&reason=x", aud_csrf, fd.code);
    CHECK_INT(th_console_post(&r, path, aud_cookie, form), 403);
    CHECK(contains(r.body, "chỉ được xem"));
    th_resp_free(&r);
    snprintf(form, sizeof form, "csrf=%s&carrier=vnpost&external_id=AUD-1&name=Nguyen", aud_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/couriers"), aud_cookie, form), 403);
    th_resp_free(&r);
    /* No session: 401. */
    snprintf(form, sizeof form, "csrf=%s&dossier_code=%s&reason=x", op_csrf, fd.code);
    CHECK_INT(th_console_post(&r, path, NULL, form), 401);
    th_resp_free(&r);
    /* Bad fields with a good token: 400. */
    snprintf(form, sizeof form, "csrf=%s&dossier_code=%s&reason=", op_csrf, fd.code);
    CHECK_INT(th_console_post(&r, path, op_cookie, form), 400);
    th_resp_free(&r);
    /* A citizen's page form posted to the console: not a form post of ours. */
    char *after = state();
    CHECK_STR(after, before);
    free(after);
    free(before);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE id = %s AND match_status = 'unmatched'", tx), 1);
}

static void test_resolve(void)
{
    th_resp r;
    char form[512];
    snprintf(form, sizeof form, "csrf=%s&dossier_code=%s&reason=Chuy%%E1%%BB%%83n+kho%%E1%%BA%%A3n+thi%%E1%%BA%%BFu+m%%C3%%A3",
             op_csrf, fd.code);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/payments/transactions/%s/resolve", tx), op_cookie, form), 200);
    CHECK(contains(r.body, "id=\"dossier-status\">paid<"));
    CHECK(contains(r.body, "id=\"notice\""));
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'paid'", fd.id), 1);
    char who[128];
    snprintf(who, sizeof who, "staff:%s vanhanh1", op.id);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'payment.resolve' AND actor = '%s'", who), 1);
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/dossiers/%s", fd.code), op_cookie), 200);
    CHECK(contains(r.body, "id=\"dossier-status\">paid<"));
    th_resp_free(&r);
    /* Again: 409, nothing more. */
    char *before = state();
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/payments/transactions/%s/resolve", tx), op_cookie, form), 409);
    th_resp_free(&r);
    char *after = state();
    CHECK_STR(after, before);
    free(after);
    free(before);
}

static void test_refund(void)
{
    /* A dossier paid twice over: the excess is owed back. */
    th_fee_dossier d;
    CHECK_INT(th_console_fee_dossier(db, srv.url, "CONSOLE", 100000, &d), 0);
    char t1[24], t2[24];
    CHECK_INT(th_console_unmatched(db, srv.url, PAYOS_KEY, d.account, d.amount + 50000, t1), 0);
    th_resp r;
    char form[512];
    snprintf(form, sizeof form, "csrf=%s&dossier_code=%s&reason=du", op_csrf, d.code);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/payments/transactions/%s/resolve", t1), op_cookie, form), 200);
    th_resp_free(&r);
    char *pay = th_db_value(db, "SELECT id FROM payments WHERE status = 'refund_due' LIMIT 1");
    CHECK(pay != NULL);
    (void)t2;
    if (!pay) return;
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/payments"), op_cookie), 200);
    char want[96];
    snprintf(want, sizeof want, "id=\"refunded-%s\"", pay);
    CHECK(contains(r.body, want));
    th_resp_free(&r);
    snprintf(form, sizeof form, "csrf=%s&reason=UNC+so+123", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/payments/%s/refunded", pay), op_cookie, form), 200);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM payments WHERE id = '%s' AND status = 'refunded'", pay), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'payment.refunded' AND subject = 'payment:%s'", pay), 1);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/payments/%s/refunded", pay), op_cookie, form), 409);
    th_resp_free(&r);
    free(pay);
}

static void test_shipments(void)
{
    /* Two dossiers whose booking failed for good. */
    th_fee_dossier a, b;
    CHECK_INT(th_console_fee_dossier(db, srv.url, "SHIP", 1000, &a), 0);
    CHECK_INT(th_console_fee_dossier(db, srv.url, "SHIP", 1000, &b), 0);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "UPDATE dossiers SET status = 'result_ready' WHERE id IN ('%s', '%s');"
             "INSERT INTO shipments (dossier_id, carrier, status, delivery, book_state, book_attempts, book_error)"
             " VALUES ('%s', 'vnpost', 'booking_failed', '{}', 'failed', 8, 'ward unknown'),"
             "        ('%s', 'vnpost', 'booking_failed', '{}', 'failed', 8, 'ward unknown')",
             a.id, b.id, a.id, b.id);
    CHECK_INT(th_db_exec(db, sql), 0);
    snprintf(sql, sizeof sql, "SELECT id FROM shipments WHERE dossier_id = '%s'", a.id);
    char *sa = th_db_value(db, sql);
    snprintf(sql, sizeof sql, "SELECT id FROM shipments WHERE dossier_id = '%s'", b.id);
    char *sb = th_db_value(db, sql);
    if (!sa || !sb) {
        CHECK(0);
        return;
    }
    th_resp r;
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/shipments"), op_cookie), 200);
    char want[96];
    snprintf(want, sizeof want, "id=\"retry-%s\"", sa);
    CHECK(contains(r.body, want));
    CHECK(contains(r.body, "ward unknown"));
    th_resp_free(&r);
    char form[256];
    snprintf(form, sizeof form, "csrf=%s&reason=da+sua+dia+chi", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/shipments/%s/retry", sa), op_cookie, form), 200);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'pending'"
                    " AND book_state = 'queued' AND book_attempts = 0", sa), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'shipment.retry' AND subject = 'shipment:%s'", sa), 1);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/shipments/%s/cancel", sb), op_cookie, form), 200);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM shipments WHERE id = '%s' AND status = 'cancelled'", sb), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'ready_for_pickup'", b.id), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'shipment.cancel' AND subject = 'shipment:%s'", sb), 1);
    /* Cancelled: neither again. */
    char *before = state();
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/shipments/%s/cancel", sb), op_cookie, form), 409);
    th_resp_free(&r);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/shipments/%s/retry", sb), op_cookie, form), 409);
    th_resp_free(&r);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/shipments/00000000-0000-4000-8000-000000000000/retry"), op_cookie, form), 404);
    th_resp_free(&r);
    char *after = state();
    CHECK_STR(after, before);
    free(after);
    free(before);
    free(sa);
    free(sb);
}

static void test_notifications(void)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO outbox (channel, citizen_id, dossier_id, template, vars, status, attempts,"
             " next_attempt_at, provider, last_error)"
             " SELECT 'sms', citizen_id, id, 'fee_requested', '{}', 'permanent-failure', 1, NULL,"
             "        'esms', 'number refused' FROM dossiers WHERE id = '%s' RETURNING id",
             fd.id);
    char *id = th_db_value(db, sql);
    if (!id) {
        CHECK(0);
        return;
    }
    th_resp r;
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/notifications"), op_cookie), 200);
    char want[96];
    snprintf(want, sizeof want, "id=\"resend-%s\"", id);
    CHECK(contains(r.body, want));
    CHECK(contains(r.body, "number refused"));
    th_resp_free(&r);
    long before = th_db_count(db, "SELECT count(*) FROM outbox");
    char form[256];
    snprintf(form, sizeof form, "csrf=%s&reason=so+da+sua", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/notifications/%s/resend", id), op_cookie, form), 200);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM outbox"), before + 1);
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN outbox n ON n.id = o.resent_as"
                    " WHERE o.id = %s AND n.status = 'created' AND n.template = 'fee_requested'", id), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'notification.resend' AND subject = 'outbox:%s'", id), 1);
    /* A second post (a double click): nothing more. */
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/notifications/%s/resend", id), op_cookie, form), 200);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM outbox"), before + 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'notification.resend' AND subject = 'outbox:%s'", id), 1);
    free(id);
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/gateways"), aud_cookie), 200);
    CHECK(contains(r.body, "id=\"queue-sms\""));
    CHECK(contains(r.body, "id=\"queue-booking\""));
    CHECK(contains(r.body, "id=\"queue-carrier_request\""));
    th_resp_free(&r);
}

static void test_couriers(void)
{
    th_resp r;
    char form[512];
    snprintf(form, sizeof form, "csrf=%s&carrier=vnpost&external_id=BT-0042&name=Tr%%E1%%BA%%A7n+V%%C4%%83n+B&phone=0987654321", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/couriers"), op_cookie, form), 201);
    const char *sec = r.body ? strstr(r.body, "id=\"courier-secret\">") : NULL;
    char secret[65] = "";
    if (sec) snprintf(secret, sizeof secret, "%.64s", sec + strlen("id=\"courier-secret\">"));
    CHECK(strlen(secret) == 64 && strspn(secret, "0123456789abcdef") == 64);
    th_resp_free(&r);
    unsigned char md[32];
    char hex[65];
    SHA256((const unsigned char *)secret, strlen(secret), md);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    CHECK_INT(count("SELECT count(*) FROM couriers WHERE external_id = 'BT-0042' AND secret_sha256 = '%s'", hex), 1);
    char *cid = th_db_value(db, "SELECT id FROM couriers WHERE external_id = 'BT-0042'");
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'courier.create' AND subject = 'courier:%s'", cid ? cid : ""), 1);
    /* The same staff id again: 409, nothing new. */
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/couriers"), op_cookie, form), 409);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM couriers"), 1);
    /* A bad phone: 400. */
    snprintf(form, sizeof form, "csrf=%s&carrier=vnpost&external_id=BT-0043&name=X&phone=12345", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/couriers"), op_cookie, form), 400);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM couriers"), 1);
    snprintf(form, sizeof form, "csrf=%s&reason=nghi+viec", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/couriers/%s/disable", cid ? cid : "x"), op_cookie, form), 200);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM couriers WHERE id = '%s' AND disabled_at IS NOT NULL", cid ? cid : ""), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'courier.disable' AND subject = 'courier:%s'", cid ? cid : ""), 1);
    free(cid);
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/audit"), aud_cookie), 200);
    CHECK(contains(r.body, "courier.disable"));
    CHECK(contains(r.body, "payment.resolve"));
    th_resp_free(&r);
}

static void test_agents(void)
{
    char loc[37], agency[64];
    char *ag = th_db_value(db, "SELECT code FROM agencies ORDER BY code LIMIT 1");
    snprintf(agency, sizeof agency, "%s", ag ? ag : "");
    free(ag);
    CHECK_INT(th_staff_location(db, "BD-Q3", agency, loc), 0);
    th_resp r;
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/agents"), op_cookie), 200);
    CHECK(contains(r.body, "BD-Q3"));
    CHECK(contains(r.body, "id=\"agent-create\""));
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/agents"), aud_cookie), 200);
    CHECK(r.body && !strstr(r.body, "id=\"agent-create\""));
    th_resp_free(&r);
    char form[768];
    /* The auditor: refused, nothing made. */
    snprintf(form, sizeof form, "csrf=%s&location_id=%s&login=daily.q3&display_name=Ho&password=daily.q3-pass-phrase", aud_csrf, loc);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents"), aud_cookie, form), 403);
    th_resp_free(&r);
    /* A short password: 400, nothing made. */
    snprintf(form, sizeof form, "csrf=%s&location_id=%s&login=daily.q3&display_name=Ho&password=short", op_csrf, loc);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents"), op_cookie, form), 400);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM staff WHERE login = 'daily.q3'"), 0);
    snprintf(form, sizeof form,
             "csrf=%s&location_id=%s&login=daily.q3&display_name=L%%C3%%AA+Th%%E1%%BB%%8B+Hoa&password=daily.q3-pass-phrase",
             op_csrf, loc);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents"), op_cookie, form), 201);
    th_staff agent;
    memset(&agent, 0, sizeof agent);
    snprintf(agent.login, sizeof agent.login, "daily.q3");
    snprintf(agent.password, sizeof agent.password, "daily.q3-pass-phrase");
    const char *k = r.body ? strstr(r.body, "id=\"totp-secret\">") : NULL;
    if (k) snprintf(agent.secret, sizeof agent.secret, "%.32s", k + strlen("id=\"totp-secret\">"));
    CHECK(strlen(agent.secret) == 32);
    th_resp_free(&r);
    agent.next_step = (long long)time(NULL) / 30 - 1;
    char *aid = th_db_value(db, "SELECT id FROM staff WHERE login = 'daily.q3' AND role = 'agent'");
    CHECK(aid != NULL);
    char who[128];
    snprintf(who, sizeof who, "staff:%s vanhanh1", op.id);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'staff_create' AND actor = '%s'", who), 1);
    /* The same login again: 409. */
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents"), op_cookie, form), 409);
    th_resp_free(&r);
    /* The agent logs in with the key shown (the staff API), then is disabled. */
    char prob[64];
    CHECK_INT(th_staff_login(&srv, &agent, NULL, NULL, prob), 200);
    /* An agent has no console: the login form refuses, no session cookie. */
    char cookie[2200] = "";
    CHECK_INT(th_console_login(srv.url, &agent, NULL, cookie, sizeof cookie), 403);
    CHECK(cookie[0] == 0);
    snprintf(form, sizeof form, "csrf=%s", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents/%s/disable", aid ? aid : "x"), op_cookie, form), 200);
    CHECK(contains(r.body, "id=\"notice\""));
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM staff WHERE id = '%s' AND disabled_at IS NOT NULL", aid ? aid : ""), 1);
    CHECK_INT(th_staff_login(&srv, &agent, NULL, NULL, prob), 403);
    free(aid);
}

static void test_locations(void)
{
    char *ag = th_db_value(db, "SELECT code FROM agencies ORDER BY code LIMIT 1");
    char agency[64];
    snprintf(agency, sizeof agency, "%s", ag ? ag : "");
    free(ag);
    th_resp r;
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/agents"), op_cookie), 200);
    CHECK(contains(r.body, "id=\"location-create\""));
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/agents"), aud_cookie), 200);
    CHECK(r.body && !strstr(r.body, "id=\"location-create\""));
    th_resp_free(&r);
    /* Refused, nothing changed: bad inputs, an auditor, no CSRF token. */
    char form[1024];
    const char *bad[][3] = {
        {"BD Q5!", "B%C6%B0u+c%E1%BB%A5c+Qu%E1%BA%ADn+5", ""},  /* the code */
        {"BD-Q5", "", ""},                                      /* no name */
        {"BD-Q5", "B%C6%B0u+c%E1%BB%A5c+Q5", "no-such-agency"}, /* the agency */
    };
    char *before = state();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(form, sizeof form, "csrf=%s&code=%s&name=%s&address=12+Tr%%E1%%BA%%A7n+H%%C6%%B0ng+%%C4%%90%%E1%%BA%%A1o&agency_code=%s",
                 op_csrf, bad[i][0], bad[i][1], *bad[i][2] ? bad[i][2] : agency);
        CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents/locations"), op_cookie, form), 400);
        th_resp_free(&r);
    }
    snprintf(form, sizeof form, "csrf=%s&code=BD-Q5&name=Q5&address=12+THD&agency_code=%s", aud_csrf, agency);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents/locations"), aud_cookie, form), 403);
    th_resp_free(&r);
    snprintf(form, sizeof form, "code=BD-Q5&name=Q5&address=12+THD&agency_code=%s", agency);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents/locations"), op_cookie, form), 403);
    th_resp_free(&r);
    char *after = state();
    CHECK_STR(after, before);
    free(before);
    free(after);
    /* Opened, audited with the operator. */
    snprintf(form, sizeof form,
             "csrf=%s&code=BD-Q5&name=B%%C6%%B0u+c%%E1%%BB%%A5c+Qu%%E1%%BA%%ADn+5&address=12+Tr%%E1%%BA%%A7n+H%%C6%%B0ng+%%C4%%90%%E1%%BA%%A1o&agency_code=%s",
             op_csrf, agency);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents/locations"), op_cookie, form), 200);
    CHECK(contains(r.body, "id=\"notice\""));
    th_resp_free(&r);
    char *loc = th_db_value(db, "SELECT id FROM agent_locations WHERE code = 'BD-Q5' AND disabled_at IS NULL");
    CHECK(loc != NULL);
    char who[128];
    snprintf(who, sizeof who, "staff:%s vanhanh1", op.id);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM audit_log WHERE action = 'agent_location_create'"
                              " AND subject = 'agent_location:%s' AND actor = '%s'", loc ? loc : "", who), 1);
    /* The same code again: 409, nothing new. */
    before = state();
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents/locations"), op_cookie, form), 409);
    th_resp_free(&r);
    after = state();
    CHECK_STR(after, before);
    free(before);
    free(after);
    /* An agent there, then the location closed: the agent is disabled. */
    snprintf(form, sizeof form, "csrf=%s&location_id=%s&login=daily.q5&display_name=Ho&password=daily.q5-pass-phrase",
             op_csrf, loc ? loc : "");
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents"), op_cookie, form), 201);
    th_resp_free(&r);
    snprintf(form, sizeof form, "csrf=%s", op_csrf); /* no reason */
    before = state();
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents/locations/%s/disable", loc ? loc : "x"), op_cookie, form), 400);
    th_resp_free(&r);
    snprintf(form, sizeof form, "csrf=%s&reason=x", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents/locations/00000000-0000-4000-8000-000000000000/disable"), op_cookie, form), 404);
    th_resp_free(&r);
    after = state();
    CHECK_STR(after, before);
    free(before);
    free(after);
    snprintf(form, sizeof form, "csrf=%s&reason=buu+cuc+dong+cua", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents/locations/%s/disable", loc ? loc : "x"), op_cookie, form), 200);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM agent_locations WHERE id = '%s' AND disabled_at IS NOT NULL", loc ? loc : ""), 1);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM staff WHERE login = '%s' AND disabled_at IS NOT NULL", "daily.q5"), 1);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM audit_log WHERE action = 'agent_location_disable'"
                              " AND subject = 'agent_location:%s' AND actor = '%s'", loc ? loc : "", who), 1);
    /* No new agent at a closed location; a second close changes nothing. */
    before = state();
    snprintf(form, sizeof form, "csrf=%s&location_id=%s&login=daily.q6&display_name=Ho&password=daily.q6-pass-phrase",
             op_csrf, loc ? loc : "");
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents"), op_cookie, form), 404);
    th_resp_free(&r);
    snprintf(form, sizeof form, "csrf=%s&reason=lai", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/agents/locations/%s/disable", loc ? loc : "x"), op_cookie, form), 200);
    th_resp_free(&r);
    after = state();
    CHECK_STR(after, before);
    free(before);
    free(after);
    free(loc);
}

static void test_expired(void)
{
    /* The short server's tokens live 60 s (its pages were not visited since). */
    time_t wait = short_login_at + 62 - time(NULL);
    if (wait > 0) sleep((unsigned)wait);
    th_fee_dossier d;
    char t[24];
    CHECK_INT(th_console_fee_dossier(db, srv.url, "EXPIRED", 90000, &d), 0);
    CHECK_INT(th_console_unmatched(db, srv.url, PAYOS_KEY, d.account, d.amount, t), 0);
    char *before = state();
    th_resp r;
    char form[512];
    snprintf(form, sizeof form, "csrf=%s&dossier_code=%s&reason=x", short_csrf, d.code);
    CHECK_INT(th_console_post(&r, th_url(&srv_short, "/console/payments/transactions/%s/resolve", t), short_cookie, form), 401);
    CHECK(contains(r.body, "hết hạn"));
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, th_url(&srv_short, "/console/payments"), short_cookie), 303);
    CHECK_STR(th_resp_header(&r, "location"), "/console/login");
    th_resp_free(&r);
    char *after = state();
    CHECK_STR(after, before);
    free(after);
    free(before);
}

/* Starts a staff OIDC login on the console, has the stand-in log `hint`
 * in, and returns the callback URL it sends the browser to; the state
 * cookie into jar. */
static int oidc_begin(const char *hint, char *callback, size_t cap, char *jar, size_t jcap)
{
    th_resp r;
    if (th_console_get(&r, th_url(&srv, "/console/login/oidc"), NULL) != 200) {
        th_resp_free(&r);
        return -1;
    }
    char state[256], target[2048];
    /* The page's link to the issuer, as a browser reads it (&amp; is &). */
    const char *href = r.body ? strstr(r.body, "<a href=\"") : NULL;
    int ok = href && th_set_cookie(&r, "cds_console_oidc", state, sizeof state, NULL);
    if (ok) {
        size_t o = 0;
        for (const char *p = href + 9; *p && *p != '"' && o + 1 < sizeof target; p++) {
            target[o++] = *p;
            if (strncmp(p, "&amp;", 5) == 0) p += 4;
        }
        target[o] = 0;
        snprintf(target + o, sizeof target - o, "&login_hint=%s", hint);
        snprintf(jar, jcap, "cds_console_oidc=%s", state);
    }
    if (!ok) fprintf(stderr, "oidc page without a link or state cookie:\n%s\n%s\n", r.headers,
                     r.body ? r.body : "");
    th_resp_free(&r);
    if (!ok) return -1;
    th_http(&r, 1, "GET", target, NULL, NULL, 0);
    const char *loc = th_resp_header(&r, "location");
    ok = r.status == 302 && loc && strncmp(loc, srv.url, strlen(srv.url)) == 0;
    if (ok) snprintf(callback, cap, "%s", loc);
    else fprintf(stderr, "the issuer answered %ld, location %s\n", r.status, loc ? loc : "-");
    th_resp_free(&r);
    return ok ? 0 : -1;
}

static void test_oidc(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "CDS_DEV_KEYS_DIR='%s/Testing/keys' CDS_DATABASE_URL='%s' %s/cds staff "
             "create --login oidc.lan --name 'Nguyễn Thị Lan' --role operator --oidc-subject "
             "staff-HCM0001 --no-password 1 --actor test >/dev/null", CDS_BUILD_DIR, db, CDS_BUILD_DIR);
    CHECK_INT(system(cmd), 0);
    th_resp r;
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console/login"), NULL), 200);
    CHECK(contains(r.body, "href=\"/console/login/oidc\""));
    th_resp_free(&r);
    char cb[2048], jar[512], tok[2048], cookie[2200];
    CHECK_INT(oidc_begin("op.lan", cb, sizeof cb, jar, sizeof jar), 0);
    char want[256];
    snprintf(want, sizeof want, "%s/console/login/callback?", srv.url);
    CHECK(strncmp(cb, want, strlen(want)) == 0);
    CHECK_INT(th_console_get(&r, cb, jar), 200);
    CHECK(contains(r.body, "id=\"count-unmatched\""));
    CHECK(th_set_cookie(&r, "cds_console", tok, sizeof tok, NULL) != NULL);
    th_resp_free(&r);
    snprintf(cookie, sizeof cookie, "cds_console=%s", tok);
    CHECK_INT(th_console_get(&r, th_url(&srv, "/console"), cookie), 200);
    CHECK(contains(r.body, "Nguyễn Thị Lan"));
    th_resp_free(&r);
    /* The callback in a browser that did not start the login: 400, no session. */
    long sessions = th_db_count(db, "SELECT count(*) FROM staff_sessions");
    CHECK_INT(oidc_begin("op.lan", cb, sizeof cb, jar, sizeof jar), 0);
    CHECK_INT(th_console_get(&r, cb, NULL), 400);
    CHECK(th_set_cookie(&r, "cds_console", tok, sizeof tok, NULL) == NULL);
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, cb, "cds_console_oidc=another-state-of-another-login"), 400);
    CHECK(th_set_cookie(&r, "cds_console", tok, sizeof tok, NULL) == NULL);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM staff_sessions"), sessions);
    /* The right browser, but the issuer's code used already: refused. */
    CHECK_INT(oidc_begin("op.lan", cb, sizeof cb, jar, sizeof jar), 0);
    CHECK_INT(th_console_get(&r, cb, jar), 200);
    th_resp_free(&r);
    CHECK_INT(th_console_get(&r, cb, jar), 400);
    CHECK(th_set_cookie(&r, "cds_console", tok, sizeof tok, NULL) == NULL);
    th_resp_free(&r);
}

static void test_logout(void)
{
    th_resp r;
    char form[128];
    snprintf(form, sizeof form, "csrf=%s", op_csrf);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/logout"), op_cookie, "csrf="), 403);
    th_resp_free(&r);
    CHECK_INT(th_console_post(&r, th_url(&srv, "/console/logout"), op_cookie, form), 200);
    CHECK(contains(r.body, "Đã đăng xuất"));
    char v[64] = "x", line[4096] = "";
    CHECK(th_set_cookie(&r, "cds_console", v, sizeof v, line) != NULL);
    CHECK(v[0] == 0 && contains(line, "Max-Age=0"));
    th_resp_free(&r);
    /* The old cookie is worth nothing now, on every node (the revocation
     * reaches each process through LISTEN within moments). */
    long st = 0;
    for (int i = 0; i < 100 && st != 303; i++) {
        if (i) usleep(50 * 1000);
        st = th_console_get(&r, th_url(&srv, "/console"), op_cookie);
        th_resp_free(&r);
    }
    CHECK_INT(st, 303);
    for (int i = 0, s2 = 0; i < 100 && s2 != 303; i++) {
        if (i) usleep(50 * 1000);
        s2 = (int)th_console_get(&r, th_url(&srv_short, "/console"), op_cookie);
        th_resp_free(&r);
        if (i == 99) CHECK_INT(s2, 303);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    mkdir(CDS_BUILD_DIR "/Testing", 0755);
    db = th_db_new("console");
    int port = th_free_port();
    static char base[128], iss[256], redirect[256], clients[256];
    /* The stand-in knows the console's redirect URI, as the city's issuer
     * would have it registered. */
    snprintf(clients, sizeof clients,
             "CDS_SIM_STAFFID_CLIENTS=cds-console:cds-dev-staff-secret:"
             "http://127.0.0.1:%d/console/login/callback", port);
    const char *names[] = {"staffid", NULL}, *sim_env[] = {clients, NULL};
    if (th_sim_start(&sim, names, sim_env) != 0) return 1;
    snprintf(base, sizeof base, "CDS_PUBLIC_BASE_URL=http://127.0.0.1:%d", port);
    snprintf(iss, sizeof iss, "CDS_STAFF_OIDC_ISSUER=%s", th_sim_url(&sim, "staffid"));
    snprintf(redirect, sizeof redirect,
             "CDS_STAFF_OIDC_REDIRECT_URI=http://127.0.0.1:%d/console/login/callback", port);
    const char *env[] = {base, iss, redirect, "CDS_STAFF_OIDC_CLIENT_SECRET=cds-dev-staff-secret",
                         "CDS_PAYOS_CHECKSUM_KEY=" PAYOS_KEY, "CDS_AUTO_MIGRATE=1",
                         "CDS_LOOKUP_BURST=1000", "CDS_LOOKUP_PER_MINUTE=60000",
                         "CDS_NOTIFY_DISPATCH=0", "CDS_DELIVERY_DISPATCH=0", NULL};
    if (th_server_start_on(&srv, port, db, env) != 0) return 1;
    const char *env_short[] = {base, "CDS_STAFF_TOKEN_TTL=60", "CDS_NOTIFY_DISPATCH=0",
                               "CDS_DELIVERY_DISPATCH=0", NULL};
    if (th_server_start(&srv_short, db, env_short) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;

    login_all();
    test_login_refusals();
    test_headers();
    test_csrf_and_roles();
    test_resolve();
    test_refund();
    test_shipments();
    test_notifications();
    test_couriers();
    test_agents();
    test_locations();
    test_oidc();
    test_expired();
    test_logout();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    CHECK_INT(th_proc_stop(&srv_short, SIGTERM), 0);
    th_sim_stop(&sim);
    return t_done();
}
