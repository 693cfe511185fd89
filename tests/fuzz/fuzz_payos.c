/* libFuzzer target: the payOS payment-request API's answers as
 * payment/payos.c reads them (outside data: what comes back from payOS).
 * The first byte picks the HTTP status (200, 400, 401, 429, 500) and the
 * answer kind (create, payment link, confirm); the rest is the body.
 * Beyond the sanitizers: the outcome is one of the four, an accepted
 * created link has its id, checkout URL and qrCode, an accepted link its
 * status. */
#include "payment/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 200, 200, 400, 401, 429, 500, 0};
    if (size < 1) return 0;
    g_payment.payos_checksum_key = "fuzz-payos-checksum-key-0123456789";
    char *body = malloc(size);
    if (!body) return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = 0;
    cds_http_response resp = {0};
    resp.status = statuses[data[0] & 7];
    resp.body = body;
    resp.body_len = size - 1;
    resp.headers = "HTTP/1.1 200 OK\r\nRetry-After: 3\r\n\r\n";
    resp.headers_len = strlen(resp.headers);
    if (resp.status == 0) resp.error = "Operation timed out";
    int kind = 1 + (data[0] >> 3) % 3;
    pm_payos_answer a;
    int rc = pm_payos_parse(&resp, kind, &a);
    if (rc != a.outcome || rc < PM_PAYOS_OK || rc > PM_PAYOS_RETRY) abort();
    if (rc == PM_PAYOS_OK && kind == PM_PAYOS_CREATE &&
        (!a.link_id[0] || !a.checkout_url[0] || !a.qr_code[0]))
        abort();
    if (rc == PM_PAYOS_OK && kind == PM_PAYOS_LINK && !a.status[0]) abort();
    free(body);
    return 0;
}
