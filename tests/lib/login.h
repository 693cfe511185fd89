/* Logging a test citizen in through the VNeID stand-in, as the app does:
 * start, authorize with login_hint, callback. Shared by the integration
 * tests that need a logged-in citizen. */
#ifndef CDS_TEST_LOGIN_H
#define CDS_TEST_LOGIN_H
#include "tests/lib/harness.h"

typedef struct th_login {
    long status;           /* of the callback */
    char access[2048];
    char refresh[128];
    char problem[64];      /* problem code on failure */
} th_login;

/* The value of query parameter `name` in URL `u` (not decoded), into out; 0 or -1. */
int th_query_param(const char *u, const char *name, char *out, size_t cap);

/* Logs citizen `pid` in on `server`; returns the callback's HTTP status. */
long th_login_as(const th_proc *server, const char *pid, th_login *out);
/* The same, the app sending Accept-Language `start_lang` with the start and
 * `callback_lang` with the callback (NULL: no header), as a phone in that
 * language does. */
long th_login_as_lang(const th_proc *server, const char *pid, const char *start_lang,
                      const char *callback_lang, th_login *out);

/* The logged-in citizen's id (GET /v1/me), malloc'd; "" when none came. */
char *th_me_id(const th_proc *server, const th_login *l);

#endif
