/* cds-bench-vietqr: VietQR payload + PNG generation per second on one core,
 * the work behind every payment intent's QR image: a dynamic NAPAS payload
 * (payment/vietqr.h, amount and purpose varying per iteration) rendered by
 * core/qr.h (libqrencode, error correction M, quiet zone 4, libpng) at
 * SCALE pixels per module. Single thread. bench/vietqr_node.js does the same
 * sequence with the npm packages vietnam-qr-pay and qrcode; bench/run prints
 * the two side by side.
 *
 *   cds-bench-vietqr [-n ITERATIONS] [-t SECONDS] [-s SCALE] [-b BIN] [-a ACCOUNT]
 *
 * Stops after ITERATIONS (default 1000000) or SECONDS of wall time (default
 * 5), whichever comes first.
 * Iteration i: amount 10000 + (i % 1000) * 1000 VND, purpose "CDS" + i as
 * 10 digits. Prints
 *   sample <payload of iteration 0>
 *   png <width> <bytes>           (of iteration 0)
 *   rate <ops per wall second> <ops per CPU second> <iterations> <wall s>
 */
#include "core/qr.h"
#include "payment/vietqr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One payload + PNG; returns the PNG size (0 on failure). */
static size_t one(long i, const char *bin, const char *account, int scale, char *payload,
                  unsigned char **png_out)
{
    cds_vietqr q;
    memset(&q, 0, sizeof q);
    snprintf(q.bin, sizeof q.bin, "%s", bin);
    snprintf(q.account, sizeof q.account, "%s", account);
    q.service = CDS_VIETQR_ACCOUNT;
    q.amount = 10000 + (uint64_t)(i % 1000) * 1000;
    snprintf(q.purpose, sizeof q.purpose, "CDS%010ld", i);
    q.initiation = CDS_VIETQR_DYNAMIC;
    if (cds_vietqr_encode(&q, payload, CDS_VIETQR_PAYLOAD_MAX + 1, NULL) < 0) return 0;
    size_t len = 0;
    unsigned char *png = cds_qr_png(payload, CDS_QR_ECC_M, scale, &len);
    if (!png) return 0;
    if (png_out)
        *png_out = png;
    else
        free(png);
    return len;
}

int main(int argc, char **argv)
{
    long n = 1000000;
    double limit = 5;
    int scale = 8, opt;
    const char *bin = "970436", *account = "0011001234567";
    while ((opt = getopt(argc, argv, "n:t:s:b:a:h")) != -1) {
        switch (opt) {
        case 'n':
            n = strtol(optarg, NULL, 10);
            break;
        case 't':
            limit = strtod(optarg, NULL);
            break;
        case 's':
            scale = (int)strtol(optarg, NULL, 10);
            break;
        case 'b':
            bin = optarg;
            break;
        case 'a':
            account = optarg;
            break;
        default:
            fprintf(stderr,
                    "usage: cds-bench-vietqr [-n ITERATIONS] [-t SECONDS] [-s SCALE] [-b BIN] "
                    "[-a ACCOUNT]\n");
            return 2;
        }
    }
    if (n < 1 || !(limit > 0) || scale < 1 || scale > 32) {
        fprintf(stderr, "cds-bench-vietqr: -n must be >= 1, -t > 0, -s 1..32\n");
        return 2;
    }
    char payload[CDS_VIETQR_PAYLOAD_MAX + 1];
    unsigned char *png = NULL;
    size_t len = one(0, bin, account, scale, payload, &png);
    if (!len || len < 24) {
        fprintf(stderr, "cds-bench-vietqr: encoding failed (BIN/account?)\n");
        return 1;
    }
    unsigned width = (unsigned)png[16] << 24 | (unsigned)png[17] << 16 | (unsigned)png[18] << 8 |
                     png[19]; /* IHDR */
    printf("sample %s\npng %u %zu\n", payload, width, len);
    free(png);
    for (long i = 1; i <= 50; i++) /* warm-up: caches, allocator */
        one(i, bin, account, scale, payload, NULL);
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    size_t bytes = 0;
    long i;
    for (i = 0; i < n && now_s(CLOCK_MONOTONIC) - w0 < limit; i++) {
        size_t l = one(i, bin, account, scale, payload, NULL);
        if (!l) {
            fprintf(stderr, "cds-bench-vietqr: iteration %ld failed\n", i);
            return 1;
        }
        bytes += l;
    }
    double w = now_s(CLOCK_MONOTONIC) - w0, c = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    n = i;
    printf("rate %.0f %.0f %ld %.3f\n", n / w, n / (c > 0 ? c : w), n, w);
    fprintf(stderr, "cds-bench-vietqr: %ld payloads + PNGs (%.1f KiB average) in %.3f s\n", n,
            (double)bytes / (double)n / 1024, w);
    return 0;
}
