/* The operators' console for the tests (tests/lib/console.h). */
#include "tests/lib/console.h"
#include "payment/reference.h"
#include "payment/webhook.h"
#include "tests/lib/partner.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *th_set_cookie(const th_resp *r, const char *name, char *value, size_t cap, char *line)
{
    size_t n = strlen(name);
    for (const char *h = r->headers; h && *h;) {
        const char *eol = strstr(h, "\r\n");
        size_t len = eol ? (size_t)(eol - h) : strlen(h);
        if (len > 12 && strncasecmp(h, "set-cookie: ", 12) == 0 && len > 12 + n &&
            strncmp(h + 12, name, n) == 0 && h[12 + n] == '=') {
            const char *v = h + 13 + n, *end = memchr(v, ';', len - 13 - n);
            size_t vl = end ? (size_t)(end - v) : len - 13 - n;
            snprintf(value, cap, "%.*s", (int)vl, v);
            if (line) snprintf(line, 4096, "%.*s", (int)len, h);
            return value;
        }
        h = eol ? eol + 2 : h + len;
    }
    return NULL;
}

int th_console_csrf(const char *html, char out[65])
{
    const char *p = html ? strstr(html, "name=\"csrf\" value=\"") : NULL;
    if (!p) return -1;
    p += strlen("name=\"csrf\" value=\"");
    if (strspn(p, "0123456789abcdef") != 64) return -1;
    snprintf(out, 65, "%.64s", p);
    return 0;
}

long th_console_get(th_resp *r, const char *url, const char *cookie)
{
    char h[4096];
    snprintf(h, sizeof h, "Cookie: %s", cookie ? cookie : "");
    const char *hs[] = {h, NULL};
    if (th_http(r, 1, "GET", url, cookie ? hs : NULL, NULL, 0) != 0) return 0;
    return r->status;
}

long th_console_post(th_resp *r, const char *url, const char *cookie, const char *form)
{
    char h[4096];
    snprintf(h, sizeof h, "Cookie: %s", cookie ? cookie : "");
    const char *hs[] = {"Content-Type: application/x-www-form-urlencoded", cookie ? h : NULL, NULL};
    if (th_http(r, 1, "POST", url, hs, form, strlen(form)) != 0) return 0;
    return r->status;
}

long th_console_login(const char *base, th_staff *s, const char *code, char *cookie, size_t cap)
{
    char url[256], nonce[128], csrf[65], c[7], jar[256], form[1024];
    th_resp r;
    snprintf(url, sizeof url, "%s/console/login", base);
    long st = th_console_get(&r, url, NULL);
    int ok = st == 200 && th_set_cookie(&r, "cds_console_login", nonce, sizeof nonce, NULL) &&
             th_console_csrf(r.body, csrf) == 0;
    th_resp_free(&r);
    if (!ok) return -1;
    if (!code) {
        long long now = (long long)time(NULL) / 30;
        if (s->next_step < now - 1) s->next_step = now - 1;
        th_staff_code(s, s->next_step, c);
        code = c;
    }
    snprintf(jar, sizeof jar, "cds_console_login=%s", nonce);
    snprintf(form, sizeof form, "csrf=%s&login=%s&password=%s&totp=%s", csrf, s->login, s->password,
             code);
    st = th_console_post(&r, url, jar, form);
    char tok[2048];
    if (st == 200 && th_set_cookie(&r, "cds_console", tok, sizeof tok, NULL) && tok[0]) {
        snprintf(cookie, cap, "cds_console=%s", tok);
        if (code == c) s->next_step++;
    }
    th_resp_free(&r);
    return st;
}

int th_console_fee_dossier(const char *db, const char *base, const char *prefix, long fee_vnd,
                           th_fee_dossier *d)
{
    static int seq;
    memset(d, 0, sizeof *d);
    snprintf(d->code, sizeof d->code, "%s-%d-%d", prefix, (int)getpid(), ++seq);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"ref\":\"T-%s\",\"code\":\"%s\",\"procedure_code\":\"1.009994\",\"applicant\":"
             "{\"personal_id\":\"079085001234\",\"full_name\":\"Nguyễn Văn An\","
             "\"phone\":\"0912345678\"},\"submitted_at\":\"2026-11-20T08:00:00+07:00\","
             "\"status\":\"received\"}",
             d->code, d->code);
    th_resp r;
    if (th_partner(&r, base, "POST", "/v1/partner/dossiers", body) != 201) {
        th_resp_free(&r);
        return -1;
    }
    json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
    const char *secret = json_string_value(json_object_get(j, "lookup_secret"));
    const char *id = json_string_value(json_object_get(j, "dossier_id"));
    snprintf(d->secret, sizeof d->secret, "%s", secret ? secret : "");
    snprintf(d->id, sizeof d->id, "%s", id ? id : "");
    json_decref(j);
    th_resp_free(&r);
    char ev[96], ex[64], url[512], sql[512];
    snprintf(ev, sizeof ev, "%s-fee", d->code);
    snprintf(ex, sizeof ex, ",\"fee_vnd\":%ld", fee_vnd);
    if (th_partner_step(base, d->code, ev, "fee_requested", 10, ex) != 200) return -1;
    /* The lookup page opens the payment intent, as the fee SMS's link does. */
    snprintf(url, sizeof url, "%s/lookup/%s?s=%s", base, d->code, d->secret);
    long st = th_console_get(&r, url, NULL);
    th_resp_free(&r);
    if (st != 200) return -1;
    snprintf(sql, sizeof sql,
             "SELECT amount_vnd || '|' || account_no FROM payments WHERE dossier_id = '%s'", d->id);
    char *v = th_db_value(db, sql);
    char *bar = v ? strchr(v, '|') : NULL;
    if (bar) {
        d->amount = strtol(v, NULL, 10);
        snprintf(d->account, sizeof d->account, "%s", bar + 1);
    }
    free(v);
    return bar ? 0 : -1;
}

int th_console_unmatched(const char *db, const char *base, const char *payos_key,
                         const char *account, long amount, char tx[24])
{
    static int seq;
    char data[1024], sig[65], body[2048], pid[64], url[256], ref[CDS_PAYREF_LEN + 1];
    int n = ++seq;
    /* A well-formed payment reference that is no payment's (a citizen who
     * typed another dossier's, or a stale one): recorded, matched to none. */
    if (cds_payref_new(ref) != 0) return -1;
    snprintf(pid, sizeof pid, "CONSOLE%d%d", (int)getpid(), n);
    snprintf(data, sizeof data,
             "{\"orderCode\":%d,\"amount\":%ld,\"description\":\"NGUYEN VAN AN nop phi %s\","
             "\"accountNumber\":\"%s\",\"reference\":\"FT%s\","
             "\"transactionDateTime\":\"2026-11-23 10:20:30\",\"currency\":\"VND\","
             "\"paymentLinkId\":\"link-%s\",\"code\":\"00\",\"desc\":\"success\","
             "\"counterAccountBankId\":\"970415\",\"counterAccountBankName\":\"VietinBank\","
             "\"counterAccountName\":\"NGUYEN VAN AN\",\"counterAccountNumber\":\"1012345678\","
             "\"virtualAccountName\":\"\",\"virtualAccountNumber\":\"\"}",
             700000 + n, amount, ref, account, pid, pid);
    if (cds_hook_payos_sign(data, strlen(data), payos_key, sig) != CDS_HOOK_OK) return -1;
    snprintf(body, sizeof body,
             "{\"code\":\"00\",\"desc\":\"success\",\"success\":true,\"data\":%s,\"signature\":\"%s\"}",
             data, sig);
    const char *h[] = {"Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s/v1/webhooks/payos", base);
    th_resp r;
    th_http(&r, 1, "POST", url, h, body, strlen(body));
    long st = r.status;
    th_resp_free(&r);
    if (st != 200) return -1;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT id FROM bank_transactions WHERE match_status = 'unmatched' AND bank_reference "
             "ILIKE '%%%s'",
             pid);
    char *id = th_db_value(db, sql);
    snprintf(tx, 24, "%s", id ? id : "");
    free(id);
    return tx[0] ? 0 : -1;
}
