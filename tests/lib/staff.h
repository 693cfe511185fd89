/* Staff accounts for the integration tests: made with `cds staff`, as an
 * operator bootstraps them, and logged in over the staff routes with the
 * TOTP code of the printed secret. Shared by test_staff and test_agents. */
#ifndef CDS_TEST_STAFF_H
#define CDS_TEST_STAFF_H
#include "tests/lib/harness.h"

typedef struct th_staff {
    char id[37];
    char login[65];
    char password[64];
    char secret[64]; /* base32 TOTP secret */
    char token[2048];
    long long next_step; /* the next TOTP step to use (each is accepted once) */
} th_staff;

/* `cds staff location` for agency `agency`: the location id into id, 0 or -1. */
int th_staff_location(const char *db, const char *code, const char *agency, char id[37]);
/* `cds staff create` (password "<login>-pass-phrase"); location NULL unless
 * an agent. 0 or -1. */
int th_staff_create(const char *db, th_staff *s, const char *login, const char *role,
                    const char *location);
/* The 6-digit code of `step` for s's secret. */
void th_staff_code(const th_staff *s, long long step, char out[7]);
/* POST /v1/staff/login with s's password and the next unused step's code
 * (or `code` when not NULL); the token into s->token on 200. Returns the
 * status; the problem code (if any) into problem (64 bytes, may be NULL). */
long th_staff_login(const th_proc *srv, th_staff *s, const char *password, const char *code,
                    char *problem);

#endif
