/* cds-bench-receipt-pdf: e-receipt PDF renders per CPU-second on one core,
 * the work behind GET /v1/receipts/{id}/pdf (receipts/pdf.h: cairo PDF
 * surface, DejaVu Sans subsets embedded, vector QR code of the verification
 * link), on the repository's sample content (tests/data/receipts/content.json)
 * with the number varying per iteration. Single thread; the server runs
 * renders on its worker pool (CDS_WORKERS threads), so its PDF capacity is
 * about this figure times the workers it can give them.
 *
 *   cds-bench-receipt-pdf [-t SECONDS] [-c CONTENT.json] [-f FONT_DIR]
 *
 * Prints
 *   pdf <bytes of iteration 0>
 *   rate <renders per wall second> <renders per CPU second> <iterations> <wall s>
 */
#include "receipts/pdf.h"

#include <jansson.h>
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

int main(int argc, char **argv)
{
    double seconds = 5;
    const char *content = "tests/data/receipts/content.json", *fonts = NULL;
    int o;
    while ((o = getopt(argc, argv, "t:c:f:")) != -1) {
        if (o == 't')
            seconds = atof(optarg);
        else if (o == 'c')
            content = optarg;
        else if (o == 'f')
            fonts = optarg;
        else {
            fprintf(stderr,
                    "usage: cds-bench-receipt-pdf [-t SECONDS] [-c CONTENT.json] [-f FONT_DIR]\n");
            return 2;
        }
    }
    json_error_t err;
    json_t *j = json_load_file(content, JSON_REJECT_DUPLICATES, &err);
    cds_receipt r;
    const char *why = NULL;
    if (!j || cds_receipt_from_json(j, &r, &why) != 0) {
        fprintf(stderr, "cds-bench-receipt-pdf: %s: %s\n", content, j ? why : err.text);
        return 1;
    }
    json_decref(j);
    if (cds_receipt_pdf_init(fonts) != CDS_PDF_OK) {
        fprintf(stderr, "cds-bench-receipt-pdf: DejaVu fonts not found\n");
        return 1;
    }
    const char *kid = "3f2a9c0d1e4b5a68";
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    long n = 0;
    size_t first = 0;
    while (now_s(CLOCK_MONOTONIC) - w0 < seconds) {
        char url[256];
        r.number = 1 + n % 99999999;
        snprintf(
            url, sizeof url,
            "https://congdanso.tphcm.gov.vn/r/8b0e5b9e-6c55-4b1f-9d3a-2f1c0e7d4a%02ld?n=%08ld&s="
            "TwtdU6WS_qU2tZbV_"
            "xdUUATtAK4RoWGaAXtTrNt7ZycQaxi8fTb4XztINbhkNGakvikXWIyNPQ3EhHJkc529wg",
            n % 100, r.number);
        unsigned char *pdf = NULL;
        size_t len = 0;
        if (cds_receipt_pdf(&r, kid, url, &pdf, &len) != CDS_PDF_OK) {
            fprintf(stderr, "cds-bench-receipt-pdf: render %ld failed\n", n);
            return 1;
        }
        if (n == 0) first = len;
        free(pdf);
        n++;
    }
    double wall = now_s(CLOCK_MONOTONIC) - w0, cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    printf("pdf %zu\n", first);
    printf("rate %.1f %.1f %ld %.2f\n", (double)n / wall, cpu > 0 ? (double)n / cpu : 0.0, n, wall);
    return 0;
}
