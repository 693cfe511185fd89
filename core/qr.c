/* QR codes (see qr.h): libqrencode makes the module matrix, this file draws it.
 *
 * Encoding is always byte mode (QR_MODE_8) through QRcode_encodeData: the
 * texts are URLs and EMVCo/VietQR payloads, already ASCII, and byte mode
 * keeps a scanner's output identical to the input (no Kanji guessing). The
 * smallest version that fits is chosen; a text that fits no version gives
 * NULL.
 *
 * PNG: 1-bit greyscale (dark = 0), the 4-module quiet zone that ISO/IEC 18004
 * requires drawn in, `scale` pixels per module, written by libpng into a
 * growing memory buffer (png_set_write_fn) with a hard cap, so nothing
 * touches the disk. libpng reports errors by longjmp: everything it may leave
 * behind is allocated before the drawing function sets its jump point, and
 * freed by the caller whichever way it returns.
 *
 * SVG: one <path> made of a horizontal run per row of dark modules
 * ("M x y h n v1 h-n z"), on a white background, viewBox in modules with the
 * quiet zone included, so the document scales to any size and stays crisp
 * (shape-rendering="crispEdges"). */
#include "core/qr.h"

#include "core/buf.h"

#include <png.h>
#include <qrencode.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUIET 4                          /* modules of white border, each side */
#define MAX_SCALE 32
#define MAX_TEXT 7089                    /* more bytes than any QR code holds */
#define PNG_CAP ((size_t)8 * 1024 * 1024) /* far above (177+8)*32 px at 1 bit */
#define SVG_CAP ((size_t)1024 * 1024)     /* a run per dark module of version 40 is ~600 KB */

static QRcode *encode(const char *text, int ecc)
{
    static const QRecLevel levels[] = {QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q, QR_ECLEVEL_H};
    if (!text || ecc < CDS_QR_ECC_L || ecc > CDS_QR_ECC_H) return NULL;
    size_t n = strnlen(text, MAX_TEXT + 1);
    if (n == 0 || n > MAX_TEXT) return NULL;
    /* version 0: the smallest that holds the data. NULL (errno ERANGE) when
     * even version 40 is too small. */
    return QRcode_encodeData((int)n, (const unsigned char *)text, 0, levels[ecc]);
}

static int dark(const QRcode *q, int x, int y)
{
    return q->data[(size_t)y * (size_t)q->width + (size_t)x] & 1;
}

/* ---------------- PNG ---------------- */

static void mem_write(png_structp png, png_bytep data, size_t n)
{
    if (cds_buf_add(png_get_io_ptr(png), data, n)) png_error(png, "png over cap or out of memory");
}

static void mem_flush(png_structp png)
{
    (void)png;
}

/* Draws `q` through png/info into m. Kept apart from the allocations so the
 * setjmp that catches libpng's errors guards only code whose locals are not
 * read after a longjmp. 0, or -1 on any libpng error. */
static int draw_png(png_structp png, png_infop info, const QRcode *q, int scale, cds_buf *m,
                    unsigned char *row)
{
    size_t side = ((size_t)q->width + 2 * QUIET) * (size_t)scale;
    size_t rowbytes = (side + 7) / 8;
    if (setjmp(png_jmpbuf(png))) return -1;
    png_set_write_fn(png, m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)side, (png_uint_32)side, 1, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (size_t py = 0; py < side; py++) {
        long my = (long)(py / (size_t)scale) - QUIET;
        memset(row, 0xff, rowbytes); /* white: bit 1 */
        if (my >= 0 && my < q->width) {
            for (int mx = 0; mx < q->width; mx++) {
                if (!dark(q, mx, (int)my)) continue;
                size_t px0 = ((size_t)mx + QUIET) * (size_t)scale;
                for (size_t px = px0; px < px0 + (size_t)scale; px++)
                    row[px / 8] &= (unsigned char)~(0x80u >> (px % 8));
            }
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    return m->err ? -1 : 0;
}

unsigned char *cds_qr_png(const char *text, int ecc, int scale, size_t *len)
{
    if (len) *len = 0;
    if (scale < 1 || scale > MAX_SCALE) return NULL;
    QRcode *q = encode(text, ecc);
    if (!q) return NULL;
    size_t side = ((size_t)q->width + 2 * QUIET) * (size_t)scale;
    cds_buf m;
    cds_buf_init(&m, PNG_CAP);
    unsigned char *row = malloc((side + 7) / 8);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int ok = row && png && info && draw_png(png, info, q, scale, &m, row) == 0;
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    free(row);
    QRcode_free(q);
    if (!ok) {
        cds_buf_free(&m);
        return NULL;
    }
    return (unsigned char *)cds_buf_take(&m, len);
}

/* ---------------- SVG ---------------- */

char *cds_qr_svg(const char *text, int ecc, size_t *len)
{
    if (len) *len = 0;
    QRcode *q = encode(text, ecc);
    if (!q) return NULL;
    int side = q->width + 2 * QUIET;
    cds_buf b;
    cds_buf_init(&b, SVG_CAP);
    cds_buf_printf(&b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 %d %d\" "
              "shape-rendering=\"crispEdges\">\n"
              "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"",
              side, side, side, side);
    for (int y = 0; y < q->width; y++) {
        for (int x = 0; x < q->width;) {
            if (!dark(q, x, y)) {
                x++;
                continue;
            }
            int run = 0;
            while (x + run < q->width && dark(q, x + run, y)) run++;
            cds_buf_printf(&b, "M%d %dh%dv1h-%dz", x + QUIET, y + QUIET, run, run);
            x += run;
        }
    }
    cds_buf_printf(&b, "\"/>\n</svg>\n");
    QRcode_free(q);
    return cds_buf_take(&b, len);
}
