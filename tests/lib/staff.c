/* Staff accounts for the integration tests (tests/lib/staff.h). */
#include "tests/lib/staff.h"
#include "auth/staff.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEYS "CDS_DEV_KEYS_DIR='" CDS_BUILD_DIR "/Testing/keys'"

int th_staff_location(const char *db, const char *code, const char *agency, char id[37])
{
    char cmd[2048], line[256];
    snprintf(cmd, sizeof cmd,
             "CDS_DATABASE_URL='%s' %s/cds staff location --code %s --name 'Bưu điện %s' "
             "--address '125 Hai Bà Trưng, Quận 1' --agency %s --actor test",
             db, CDS_BUILD_DIR, code, code, agency);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    id[0] = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "id=", 3) == 0) snprintf(id, 37, "%.36s", line + 3);
    return pclose(f) == 0 && id[0] ? 0 : -1;
}

int th_staff_create(const char *db, th_staff *s, const char *login, const char *role,
                    const char *location)
{
    memset(s, 0, sizeof *s);
    snprintf(s->login, sizeof s->login, "%s", login);
    snprintf(s->password, sizeof s->password, "%s-pass-phrase", login);
    char cmd[2048], line[512];
    snprintf(cmd, sizeof cmd,
             "printf '%%s\\n' '%s' | " KEYS " CDS_DATABASE_URL='%s' %s/cds staff create --login %s "
             "--name 'Cán bộ %s' --role %s %s%s --actor test",
             s->password, db, CDS_BUILD_DIR, login, login, role, location ? "--location " : "",
             location ? location : "");
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "id=", 3) == 0) snprintf(s->id, sizeof s->id, "%.36s", line + 3);
        if (strncmp(line, "totp_secret=", 12) == 0) snprintf(s->secret, sizeof s->secret, "%.32s", line + 12);
    }
    s->next_step = (long long)time(NULL) / 30 - 1;
    return pclose(f) == 0 && s->id[0] && s->secret[0] ? 0 : -1;
}

void th_staff_code(const th_staff *s, long long step, char out[7])
{
    unsigned char key[64];
    int n = cds_base32_decode(s->secret, key, sizeof key);
    snprintf(out, 7, "%06u", n > 0 ? (unsigned)cds_totp_code(key, (size_t)n, (uint64_t)step, 6) : 0u);
}

long th_staff_login(const th_proc *srv, th_staff *s, const char *password, const char *code,
                    char *problem)
{
    char c[7], url[256];
    if (!code) {
        long long now = (long long)time(NULL) / 30;
        if (s->next_step < now - 1) s->next_step = now - 1;
        th_staff_code(s, s->next_step, c);
        code = c;
    }
    json_t *body = json_pack("{s:s,s:s,s:s}", "login", s->login, "password",
                             password ? password : s->password, "totp", code);
    char *b = json_dumps(body, 0);
    json_decref(body);
    snprintf(url, sizeof url, "%s/v1/staff/login", srv->url);
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, "POST", url, NULL, b, (void **)&j);
    free(b);
    if (st == 200) {
        snprintf(s->token, sizeof s->token, "%s", json_string_value(json_object_get(j, "access_token")));
        if (code == c) s->next_step++;
    }
    if (problem) {
        const char *p = json_string_value(json_object_get(j, "code"));
        snprintf(problem, 64, "%s", p ? p : "");
    }
    json_decref(j);
    th_resp_free(&r);
    return st;
}
