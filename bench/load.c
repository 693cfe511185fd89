/* What the load generators share (bench/load.h). */
#include "bench/load.h"
#include "core/buf.h"
#include "core/hmac_auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long long bench_epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *bench_xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) abort();
    va_end(ap);
    return s;
}

void bench_vn_time(char *out, size_t cap, long delta, int rfc3339)
{
    time_t t = time(NULL) + delta + 7 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, rfc3339 ? "%Y-%m-%dT%H:%M:%S+07:00" : "%Y-%m-%d %H:%M:%S", &tm);
}

size_t bench_on_body(char *data, size_t size, size_t nmemb, void *buf)
{
    size_t n = size * nmemb;
    return cds_buf_add(buf, data, n) == CDS_BUF_OK ? n : 0;
}

struct curl_slist *bench_partner_headers(struct curl_slist *h, const char *path, const char *body)
{
    char sig[65], line[128];
    long long ts = (long long)time(NULL);
    cds_hmac_sign(BENCH_PARTNER_SECRET, "POST", path, ts, body, strlen(body), sig);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "X-Client-Id: " BENCH_PARTNER_CLIENT);
    snprintf(line, sizeof line, "X-Timestamp: %lld", ts);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Signature: %s", sig);
    return curl_slist_append(h, line);
}
