/* core/qr: QR codes as PNG and SVG.
 *
 * The PNG is read back two ways: by a real scanner (zbarimg, Debian's
 * zbar-tools, installed by scripts/bootstrap) which must return exactly the
 * text encoded, for a lookup URL and a VietQR (EMVCo) payload at every error
 * correction level and several scales; and by libpng's own reader, to check
 * the geometry (side = (modules + 8) * scale, a white quiet zone of 4
 * modules, crisp module-sized cells). The SVG is checked for well-formed
 * structure, its viewBox, and that its path covers exactly the dark modules
 * of the PNG drawn at scale 1. Then the refusals: text too long for any QR
 * version, empty or NULL text, a bad ECC level, scales out of 1..32. */
#include "core/qr.h"
#include "tests/lib/t.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define URL "https://dichvucong.hochiminhcity.gov.vn/lookup/000.00.01.H29-260314-0007?s=7KQ4MXZ2PA"
#define VIETQR "00020101021238570010A00000072701270006970436011301234567890120208QRIBFTTA53037045802VN6304ABCD"

static int have_zbar;

/* Gray 8-bit pixels of a PNG in memory (malloc), or NULL. */
static unsigned char *png_pixels(const unsigned char *png, size_t len, unsigned *w, unsigned *h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, png, len)) return NULL;
    img.format = PNG_FORMAT_GRAY;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
    if (!px || !png_image_finish_read(&img, NULL, px, 0, NULL)) {
        free(px);
        png_image_free(&img);
        return NULL;
    }
    *w = img.width;
    *h = img.height;
    return px;
}

/* Runs zbarimg on the PNG; returns what it decoded (malloc, no trailing
 * newline), or NULL. */
static char *zbar_decode(const unsigned char *png, size_t len)
{
    char path[] = "/tmp/cds-test-qr-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    int ok = write(fd, png, len) == (ssize_t)len;
    close(fd);
    char cmd[256], *out = NULL;
    snprintf(cmd, sizeof cmd, "zbarimg --raw -q -Sdisable -Sqrcode.enable '%s' 2>/dev/null", path);
    FILE *p = ok ? popen(cmd, "r") : NULL;
    if (p) {
        size_t cap = 16384, n = 0;
        out = malloc(cap);
        size_t got;
        while (out && (got = fread(out + n, 1, cap - 1 - n, p)) > 0) n += got;
        if (out) {
            while (n && (out[n - 1] == '\n' || out[n - 1] == '\r')) n--;
            out[n] = 0;
        }
        if (pclose(p) != 0) {
            free(out);
            out = NULL;
        }
    }
    unlink(path);
    return out;
}

static void check_scans(const char *text, int ecc, int scale)
{
    size_t len = 0;
    unsigned char *png = cds_qr_png(text, ecc, scale, &len);
    CHECK(png != NULL && len > 100);
    CHECK(png && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
    if (png && have_zbar) {
        char *got = zbar_decode(png, len);
        if (!got || strcmp(got, text) != 0)
            fprintf(stderr, "zbarimg (ecc %d, scale %d): got \"%s\"\n", ecc, scale, got ? got : "(nothing)");
        CHECK(got && strcmp(got, text) == 0);
        free(got);
    }
    free(png);
}

/* Geometry of the PNG: square, (modules + 8) * scale, a valid QR width,
 * white quiet zone, and every scale x scale cell of one colour. Returns the
 * module count (0 on failure). */
static int check_geometry(const char *text, int scale)
{
    size_t len = 0;
    unsigned char *png = cds_qr_png(text, CDS_QR_ECC_M, scale, &len);
    unsigned w = 0, h = 0;
    unsigned char *px = png ? png_pixels(png, len, &w, &h) : NULL;
    free(png);
    CHECK(px != NULL);
    if (!px) return 0;
    CHECK_INT(w, h);
    CHECK_INT(w % (unsigned)scale, 0);
    int modules = (int)(w / (unsigned)scale) - 8;
    CHECK(modules >= 21 && modules <= 177 && (modules - 21) % 4 == 0);
    int quiet_white = 1, cells_solid = 1, any_dark = 0;
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++) {
            unsigned char v = px[y * w + x];
            unsigned mx = x / (unsigned)scale, my = y / (unsigned)scale;
            if (v != 0 && v != 255) cells_solid = 0;
            if (mx < 4 || my < 4 || mx >= (unsigned)modules + 4 || my >= (unsigned)modules + 4) {
                if (v != 255) quiet_white = 0;
            } else if (v == 0) {
                any_dark = 1;
            }
            /* every pixel equals the top-left pixel of its cell */
            if (v != px[(my * (unsigned)scale) * w + mx * (unsigned)scale]) cells_solid = 0;
        }
    CHECK(quiet_white);
    CHECK(cells_solid);
    CHECK(any_dark);
    /* The top-left finder pattern: a dark 7x7 ring at modules (4..10, 4..10). */
    CHECK_INT(px[(4 * (unsigned)scale) * w + 4 * (unsigned)scale], 0);
    CHECK_INT(px[(5 * (unsigned)scale) * w + 5 * (unsigned)scale], 255);
    CHECK_INT(px[(7 * (unsigned)scale) * w + 7 * (unsigned)scale], 0);
    free(px);
    return modules;
}

/* Minimal well-formedness: the prolog, one <svg> root closed at the end,
 * balanced quotes inside every tag, nothing but the expected elements. */
static int svg_well_formed(const char *s)
{
    if (strncmp(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 38) != 0) return 0;
    int depth = 0, roots = 0;
    for (const char *p = strchr(s + 38, '<'); p; p = strchr(p, '<')) {
        const char *end = strchr(p, '>');
        if (!end) return 0;
        int quotes = 0;
        for (const char *q = p; q < end; q++) {
            if (*q == '"') quotes++;
            if (*q == '<' && q != p) return 0;
            if (*q == '&') return 0;
        }
        if (quotes % 2) return 0;
        if (strncmp(p, "</svg>", 6) == 0) {
            depth--;
        } else if (strncmp(p, "<svg ", 5) == 0) {
            depth++;
            roots++;
        } else if (strncmp(p, "<path ", 6) == 0 || strncmp(p, "<rect ", 6) == 0) {
            if (end[-1] != '/' || depth != 1) return 0;
        } else {
            return 0;
        }
        p = end + 1;
    }
    const char *tail = strstr(s, "</svg>");
    return depth == 0 && roots == 1 && tail && strspn(tail + 6, "\n") == strlen(tail + 6);
}

static void test_svg(const char *text)
{
    size_t len = 0;
    char *svg = cds_qr_svg(text, CDS_QR_ECC_M, &len);
    CHECK(svg != NULL && len == (svg ? strlen(svg) : 0));
    if (!svg) return;
    CHECK(svg_well_formed(svg));
    CHECK(strstr(svg, "shape-rendering=\"crispEdges\"") != NULL);
    /* exactly one path */
    const char *path = strstr(svg, "<path ");
    CHECK(path && !strstr(path + 1, "<path"));

    /* The PNG at scale 1 is the module grid with its quiet zone. */
    size_t plen = 0;
    unsigned char *png = cds_qr_png(text, CDS_QR_ECC_M, 1, &plen);
    unsigned w = 0, h = 0;
    unsigned char *px = png ? png_pixels(png, plen, &w, &h) : NULL;
    free(png);
    CHECK(px != NULL);
    int side = 0;
    const char *vb = strstr(svg, "viewBox=\"0 0 ");
    CHECK(vb && sscanf(vb, "viewBox=\"0 0 %d", &side) == 1);
    CHECK_INT(side, w);
    if (px && side > 0 && (unsigned)side == w) {
        unsigned char *grid = calloc((size_t)side * (size_t)side, 1);
        const char *d = path ? strstr(path, " d=\"") : NULL;
        int ok = d != NULL;
        if (d) d += 4;
        while (ok && *d && *d != '"') {
            int x, y, n, n2, used = 0;
            if (sscanf(d, "M%d %dh%dv1h-%dz%n", &x, &y, &n, &n2, &used) != 4 || used == 0 || n != n2 ||
                n < 1 || x < 0 || y < 0 || x + n > side || y >= side) {
                ok = 0;
                break;
            }
            for (int i = 0; i < n; i++) grid[y * side + x + i]++;
            d += used;
        }
        CHECK(ok);
        int same = 1;
        for (int i = 0; i < side * side; i++)
            if (grid[i] != (px[i] == 0 ? 1 : 0)) same = 0; /* dark exactly once, light never */
        CHECK(same);
        free(grid);
    }
    free(px);
    free(svg);
}

static void test_refusals(void)
{
    size_t len = 123;
    char *big = malloc(3001);
    memset(big, 'A', 3000);
    big[3000] = 0;
    /* 3000 bytes fit no version (byte mode max 2953 at 40-L). */
    CHECK(cds_qr_png(big, CDS_QR_ECC_L, 4, &len) == NULL);
    CHECK_INT(len, 0);
    CHECK(cds_qr_svg(big, CDS_QR_ECC_L, NULL) == NULL);
    /* 2000 bytes: fits at L, not at H (40-H holds 1273 bytes). */
    big[2000] = 0;
    unsigned char *ok = cds_qr_png(big, CDS_QR_ECC_L, 1, &len);
    CHECK(ok != NULL);
    free(ok);
    CHECK(cds_qr_png(big, CDS_QR_ECC_H, 1, &len) == NULL);
    free(big);

    CHECK(cds_qr_png("", CDS_QR_ECC_M, 4, &len) == NULL);
    CHECK(cds_qr_png(NULL, CDS_QR_ECC_M, 4, &len) == NULL);
    CHECK(cds_qr_svg(NULL, CDS_QR_ECC_M, &len) == NULL);
    CHECK(cds_qr_png(URL, 7, 4, &len) == NULL);
    CHECK(cds_qr_png(URL, -1, 4, &len) == NULL);
    CHECK(cds_qr_svg(URL, 4, &len) == NULL);

    /* scale bounds */
    CHECK(cds_qr_png(URL, CDS_QR_ECC_M, 0, &len) == NULL);
    CHECK(cds_qr_png(URL, CDS_QR_ECC_M, -3, &len) == NULL);
    CHECK(cds_qr_png(URL, CDS_QR_ECC_M, 33, &len) == NULL);
    unsigned char *p1 = cds_qr_png(URL, CDS_QR_ECC_M, 1, &len);
    CHECK(p1 != NULL);
    free(p1);
    unsigned char *p32 = cds_qr_png(URL, CDS_QR_ECC_H, 32, &len);
    CHECK(p32 != NULL && len < 8 * 1024 * 1024);
    free(p32);
    /* len may be NULL */
    unsigned char *nolen = cds_qr_png(URL, CDS_QR_ECC_M, 2, NULL);
    CHECK(nolen != NULL);
    free(nolen);
}

int main(void)
{
    have_zbar = system("command -v zbarimg >/dev/null 2>&1") == 0;
    if (!have_zbar) {
        /* Not a skip: the scanner is part of the test's tools (scripts/bootstrap). */
        fprintf(stderr, "FAIL: zbarimg not found: install zbar-tools (scripts/bootstrap)\n");
        t_fail++;
    }
    for (int ecc = CDS_QR_ECC_L; ecc <= CDS_QR_ECC_H; ecc++) {
        check_scans(URL, ecc, 4);
        check_scans(VIETQR, ecc, 4);
    }
    check_scans(URL, CDS_QR_ECC_M, 2);
    check_scans(VIETQR, CDS_QR_ECC_M, 8);
    check_scans("https://x.vn/?q=a%20b&c=d#e", CDS_QR_ECC_Q, 3);

    int m1 = check_geometry(URL, 1), m5 = check_geometry(URL, 5);
    CHECK(m1 > 0 && m1 == m5);
    CHECK(check_geometry(VIETQR, 3) > 0);

    test_svg(URL);
    test_svg(VIETQR);
    test_refusals();
    return t_done();
}
