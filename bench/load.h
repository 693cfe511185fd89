/* What the load generators share (cds-ha-load, cds-bench-webhooks,
 * cds-bench-courier, cds-bench-setup-dossier and the courier fixture):
 * clocks, the Vietnam-time stamps their requests carry, a malloc'd printf,
 * libcurl answers collected into core's cds_buf, and partner calls signed
 * as the TTHC system signs them (core/hmac_auth.h, the code the server
 * verifies with). */
#ifndef CDS_BENCH_LOAD_H
#define CDS_BENCH_LOAD_H
#include <curl/curl.h>
#include <stddef.h>

#define BENCH_PARTNER_CLIENT "tthc-hcm"
#define BENCH_PARTNER_SECRET "cds-dev-partner-secret"
/* Largest answer a load keeps: a JSON answer or a bench attachment. */
#define BENCH_RESP_MAX (1u << 20)

/* Seconds on the monotonic clock. */
double bench_now_s(void);
/* Wall-clock milliseconds since the epoch. */
long long bench_epoch_ms(void);
/* A malloc'd printf; aborts when memory runs out. */
char *bench_xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Local time in Ho Chi Minh City `delta` seconds from now: RFC 3339
 * ("...T...+07:00") or "YYYY-MM-DD HH:MM:SS". */
void bench_vn_time(char *out, size_t cap, long delta, int rfc3339);
/* CURLOPT_WRITEFUNCTION appending to the cds_buf of CURLOPT_WRITEDATA (an
 * answer past its maximum fails the transfer). */
size_t bench_on_body(char *data, size_t size, size_t nmemb, void *buf);
/* Appends to h the headers of a partner POST of body to path: Content-Type
 * (JSON), X-Client-Id, X-Timestamp (now) and X-Signature. */
struct curl_slist *bench_partner_headers(struct curl_slist *h, const char *path, const char *body);

#endif
