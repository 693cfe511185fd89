/* The operators' console as the tests use it over real sockets (libcurl):
 * its login form, cookies, CSRF fields, form posts; and the payments
 * situation its main flow resolves (a dossier waiting for its fee, and a
 * transfer for it that matched nothing). Shared by test_console and
 * test_console_browser. */
#ifndef CDS_TEST_CONSOLE_H
#define CDS_TEST_CONSOLE_H
#include "tests/lib/harness.h"
#include "tests/lib/staff.h"

#include <stddef.h>

/* The value of cookie `name` set by the answer (a Set-Cookie header), or
 * NULL; the whole Set-Cookie line into `line` when not NULL (4096 bytes). */
const char *th_set_cookie(const th_resp *r, const char *name, char *value, size_t cap,
                          char *line);
/* The first form's hidden csrf value of an HTML page into out (65 bytes):
 * 0, or -1 when there is none. */
int th_console_csrf(const char *html, char out[65]);
/* GET / POST (application/x-www-form-urlencoded) over HTTP/1.1 with
 * "Cookie: cookie" (NULL: none); returns the status (0: transport error). */
long th_console_get(th_resp *r, const char *url, const char *cookie);
long th_console_post(th_resp *r, const char *url, const char *cookie, const char *form);
/* Logs s in through the login form of the server at base (password and
 * the TOTP code `code`, NULL: the next unused step's). The status of the
 * POST; on 200 (the overview) the session cookie "cds_console=<token>"
 * into cookie. */
long th_console_login(const char *base, th_staff *s, const char *code, char *cookie, size_t cap);

/* A dossier filed at a counter (code prefix-pid-n) asked for fee_vnd, its
 * payment intent opened through its lookup page: code, id, the intent's
 * amount and the receiving account. 0 or -1. */
typedef struct th_fee_dossier {
    char code[64], id[40], secret[16], account[32];
    long amount;
} th_fee_dossier;
int th_console_fee_dossier(const char *db, const char *base, const char *prefix, long fee_vnd,
                           th_fee_dossier *d);
/* A payOS-style transfer of `amount` to `account` whose text names a
 * payment reference of no payment (signed with payos_key): unmatched. Its
 * bank_transactions id into tx (24 bytes). 0 or -1. */
int th_console_unmatched(const char *db, const char *base, const char *payos_key,
                         const char *account, long amount, char tx[24]);

#endif
