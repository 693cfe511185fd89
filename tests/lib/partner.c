/* Signed TTHC partner calls for the integration tests (see partner.h). */
#include "tests/lib/partner.h"
#include "core/hmac_auth.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

long th_partner_with(th_resp *out, const char *base_url, const char *method, const char *path,
                     const char *body, const char *const *extra)
{
    size_t blen = body ? strlen(body) : 0;
    long long ts = (long long)time(NULL);
    char sig[65], url[1024], h_id[64], h_ts[64], h_sig[96];
    cds_hmac_sign(TH_PARTNER_SECRET, method, path, ts, body ? body : "", blen, sig);
    snprintf(url, sizeof url, "%s%s", base_url, path);
    snprintf(h_id, sizeof h_id, "X-Client-Id: %s", TH_PARTNER_CLIENT);
    snprintf(h_ts, sizeof h_ts, "X-Timestamp: %lld", ts);
    snprintf(h_sig, sizeof h_sig, "X-Signature: %s", sig);
    const char *h[16] = {h_id, h_ts, h_sig, "Content-Type: application/json"};
    for (int i = 0, n = 4; extra && extra[i] && n < 15; i++) h[n++] = extra[i];
    if (th_http(out, 2, method, url, h, body, blen) != 0) return 0;
    return out->status;
}

long th_partner(th_resp *out, const char *base_url, const char *method, const char *path,
                const char *body)
{
    return th_partner_with(out, base_url, method, path, body, NULL);
}

static void rfc3339(time_t t, char *out, size_t cap)
{
    struct tm tm;
    t += 7 * 3600;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
}

long th_partner_import(const char *base_url, const char *code, const char *procedure,
                       const char *pid, const char *name, const char *phone)
{
    char at[40], body[1024];
    rfc3339(time(NULL) - 3 * 86400, at, sizeof at);
    snprintf(body, sizeof body,
             "{\"ref\":\"T-%s\",\"code\":\"%s\",\"procedure_code\":\"%s\",\"applicant\":"
             "{\"personal_id\":\"%s\",\"full_name\":\"%s\",\"phone\":\"%s\"},"
             "\"submitted_at\":\"%s\",\"status\":\"received\"}",
             code, code, procedure, pid, name, phone, at);
    th_resp r;
    long st = th_partner(&r, base_url, "POST", "/v1/partner/dossiers", body);
    th_resp_free(&r);
    return st;
}

long th_partner_step(const char *base_url, const char *code, const char *event, const char *step,
                     int seconds, const char *extra)
{
    char at[40], body[1024], path[256];
    rfc3339(time(NULL) - 86400 + seconds, at, sizeof at);
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"step\":\"%s\",\"occurred_at\":\"%s\"%s}",
             event, step, at, extra ? extra : "");
    snprintf(path, sizeof path, "/v1/partner/dossiers/%s/steps", code);
    th_resp r;
    long st = th_partner(&r, base_url, "POST", path, body);
    th_resp_free(&r);
    return st;
}
