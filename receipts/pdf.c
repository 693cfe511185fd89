/* Receipt PDF with cairo (see pdf.h).
 *
 * Fonts. DejaVu Sans has every precomposed Vietnamese letter (Latin
 * Extended Additional) and is a Debian package of its own, so the server
 * depends on a file path, not on what fontconfig happens to find. Each face
 * is opened once with FreeType and wrapped in a cairo font face; both stay
 * for the life of the process. cairo locks a face whenever it reads glyphs
 * or font tables from it, so threads share the two faces safely; a mutex
 * guards loading only, and an atomic flag makes the common case a single
 * load-acquire. The PDF surface embeds the glyphs used as a TrueType subset
 * with a ToUnicode map, which is what lets pdftotext (and a screen reader,
 * and copy-paste) get the Vietnamese text back.
 *
 * Text. cairo's toy text API places glyphs by their advances without
 * kerning, so a line's width is the sum of its words' widths and of its
 * spaces: lines are broken greedily at spaces by measuring each word once,
 * and a word wider than the column (a URL) is cut between characters. A
 * page break is taken before any line that would cross the bottom margin,
 * so even texts at their maximum length print in full.
 *
 * QR. The verification link is encoded by libqrencode (byte mode, level M)
 * and drawn as vector strokes, one dashed line a row (see draw_qr), so it
 * prints sharp at any resolution, on a white square that includes the
 * quiet zone of four modules.
 *
 * Output. The PDF is written through cairo_pdf_surface_create_for_stream
 * into a growing buffer with a hard cap. The creation date is the receipt's
 * issued_at, so the same receipt always gives the same bytes. */
#include "receipts/pdf.h"

#include "core/buf.h"
#include "core/utf8.h"
#include "core/vn.h"

#include <cairo-ft.h>
#include <cairo-pdf.h>
#include <cairo.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <pthread.h>
#include <qrencode.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A5 portrait: 148 x 210 mm in points (1 pt = 25.4/72 mm). */
#define PAGE_W 419.5276
#define PAGE_H 595.2756
#define MARGIN 30.0
#define CONTENT_W (PAGE_W - 2 * MARGIN)
#define BOTTOM (PAGE_H - MARGIN)

#define LABEL_W 122.0 /* the label column of the rows */
#define ROW_SIZE 8.5
#define MAX_LINES 48  /* of one wrapped text; a 512-byte text needs far fewer */
#define TEXT_BUF 1024 /* bytes of one measured or shown piece; inputs are <= 512 */

/* ---------------- fonts ---------------- */

static pthread_mutex_t font_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int fonts_ready;
static FT_Library ft_lib;
static cairo_font_face_t *face_regular, *face_bold;

static void done_face(void *ft)
{
    FT_Done_Face(ft);
}

static cairo_font_face_t *open_face(const char *dir, const char *file)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof path) return NULL;
    FT_Face ft = NULL;
    if (FT_New_Face(ft_lib, path, 0, &ft) != 0) return NULL;
    cairo_font_face_t *f = cairo_ft_font_face_create_for_ft_face(ft, 0);
    static const cairo_user_data_key_t owner_key;
    /* The FT_Face lives as long as the cairo face, which here is forever;
     * tying them anyway keeps a failed load from leaking the face. */
    if (cairo_font_face_status(f) != CAIRO_STATUS_SUCCESS ||
        cairo_font_face_set_user_data(f, &owner_key, ft, done_face) != CAIRO_STATUS_SUCCESS) {
        cairo_font_face_destroy(f);
        FT_Done_Face(ft);
        return NULL;
    }
    return f;
}

int cds_receipt_pdf_init(const char *font_dir)
{
    if (atomic_load_explicit(&fonts_ready, memory_order_acquire)) return CDS_PDF_OK;
    int rc = CDS_PDF_EFONT;
    pthread_mutex_lock(&font_lock);
    if (atomic_load_explicit(&fonts_ready, memory_order_relaxed)) {
        rc = CDS_PDF_OK;
    } else if (ft_lib || FT_Init_FreeType(&ft_lib) == 0) {
        const char *dir = font_dir && *font_dir ? font_dir : CDS_RECEIPT_FONT_DIR;
        cairo_font_face_t *r = open_face(dir, "DejaVuSans.ttf");
        cairo_font_face_t *b = r ? open_face(dir, "DejaVuSans-Bold.ttf") : NULL;
        if (r && b) {
            face_regular = r;
            face_bold = b;
            atomic_store_explicit(&fonts_ready, 1, memory_order_release);
            rc = CDS_PDF_OK;
        } else {
            cairo_font_face_destroy(r); /* NULL is fine */
        }
    }
    pthread_mutex_unlock(&font_lock);
    return rc;
}

/* ---------------- output buffer ---------------- */

static cairo_status_t mem_write(void *closure, const unsigned char *data, unsigned int n)
{
    return cds_buf_add(closure, data, n) ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

/* ---------------- text ---------------- */

typedef struct slice {
    const char *s;
    size_t n;
} slice;

typedef struct pen {
    cairo_t *cr;
    double y; /* baseline of the next line */
} pen;

static void set_font(cairo_t *cr, int bold, double size)
{
    cairo_set_font_face(cr, bold ? face_bold : face_regular);
    cairo_set_font_size(cr, size);
}

static size_t utf8_len(const char *s)
{
    unsigned char c = (unsigned char)*s;
    return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* Copies a piece into a NUL-terminated buffer, cut at a character boundary
 * if it ever were longer than the buffer. */
static void piece(char *buf, const char *s, size_t n)
{
    n = cds_utf8_cut(s, n, TEXT_BUF - 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
}

static double text_width(cairo_t *cr, const char *s, size_t n)
{
    char buf[TEXT_BUF];
    cairo_text_extents_t e;
    piece(buf, s, n);
    cairo_text_extents(cr, buf, &e);
    return e.x_advance;
}

static void show(cairo_t *cr, double x, double y, const char *s, size_t n)
{
    char buf[TEXT_BUF];
    piece(buf, s, n);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, buf);
}

/* Greedy line breaking of s into lines of at most maxw points, in the
 * current font. Returns the number of lines (0 for an empty text). */
static int wrap(cairo_t *cr, const char *s, double maxw, slice *lines, int max)
{
    double space = text_width(cr, " ", 1), lw = 0;
    const char *ls = NULL, *le = NULL, *p = s;
    int nl = 0;
    while (*p == ' ')
        p++;
    while (*p && nl < max) {
        const char *we = p;
        while (*we && *we != ' ')
            we++;
        double w = text_width(cr, p, (size_t)(we - p));
        double gap = ls ? (double)(p - le) * space : 0;
        if (ls && lw + gap + w <= maxw) {
            lw += gap + w;
            le = we;
        } else {
            if (ls) {
                lines[nl++] = (slice){ls, (size_t)(le - ls)};
                ls = NULL;
            }
            if (w <= maxw) {
                ls = p;
                le = we;
                lw = w;
            } else { /* cut the word between characters */
                const char *c = p;
                while (c < we && nl < max) {
                    const char *cs = c;
                    double cw = 0;
                    while (c < we) {
                        size_t k = utf8_len(c);
                        double chw = text_width(cr, c, k);
                        if (cw + chw > maxw && c > cs) break;
                        cw += chw;
                        c += k;
                    }
                    if (c < we) {
                        lines[nl++] = (slice){cs, (size_t)(c - cs)};
                    } else {
                        ls = cs;
                        le = c;
                        lw = cw;
                    }
                }
            }
        }
        p = we;
        while (*p == ' ')
            p++;
    }
    if (ls && nl < max) lines[nl++] = (slice){ls, (size_t)(le - ls)};
    return nl;
}

/* Room for h more points on this page, or a new page. */
static void need(pen *pg, double h)
{
    if (pg->y + h <= BOTTOM) return;
    cairo_show_page(pg->cr);
    pg->y = MARGIN + 10;
}

enum { LEFT, CENTER };

/* A wrapped paragraph in [x, x + w], left-aligned or centred. */
static void para(pen *pg, const char *s, double x, double w, int bold, double size, int align)
{
    slice lines[MAX_LINES];
    set_font(pg->cr, bold, size);
    int n = wrap(pg->cr, s, w, lines, MAX_LINES);
    for (int i = 0; i < n; i++) {
        need(pg, size * 1.4);
        double lx = x;
        if (align == CENTER) lx = x + (w - text_width(pg->cr, lines[i].s, lines[i].n)) / 2;
        show(pg->cr, lx, pg->y, lines[i].s, lines[i].n);
        pg->y += size * 1.4;
    }
}

/* "Label:   value" with the value wrapped in its own column. */
static void row(pen *pg, const char *label, const char *value, int bold)
{
    slice lines[MAX_LINES];
    cairo_t *cr = pg->cr;
    set_font(cr, bold, ROW_SIZE);
    int n = wrap(cr, value, CONTENT_W - LABEL_W, lines, MAX_LINES);
    for (int i = 0; i < n; i++) {
        need(pg, ROW_SIZE * 1.45);
        if (i == 0) {
            set_font(cr, 0, ROW_SIZE);
            show(cr, MARGIN, pg->y, label, strlen(label));
            set_font(cr, bold, ROW_SIZE);
        }
        show(cr, MARGIN + LABEL_W, pg->y, lines[i].s, lines[i].n);
        pg->y += ROW_SIZE * 1.45;
    }
    pg->y += 2.5;
}

static void rule(pen *pg)
{
    need(pg, 8);
    cairo_set_line_width(pg->cr, 0.6);
    cairo_move_to(pg->cr, MARGIN, pg->y - 4);
    cairo_line_to(pg->cr, PAGE_W - MARGIN, pg->y - 4);
    cairo_stroke(pg->cr);
    pg->y += 8;
}

/* ---------------- formats ---------------- */

/* 1250000 -> "1.250.000 đồng" */
static void fmt_vnd(long long v, char *out, size_t cap)
{
    char t[CDS_VN_GROUPED_MAX];
    cds_vn_grouped(v, t, sizeof t);
    snprintf(out, cap, "%s đồng", t);
}

/* "2025-03-14T09:30:00+07:00" -> "09:30:00 ngày 14/03/2025 (GMT+7)" */
static void fmt_time(const char *ts, char *out, size_t cap)
{
    snprintf(out, cap, "%.8s ngày %.2s/%.2s/%.4s (GMT+7)", ts + 11, ts + 8, ts + 5, ts);
}

/* ---------------- drawing ---------------- */

/* Each row of the code is one horizontal line, one module thick, whose dash
 * pattern is the row's dark and light runs: exactly the modules' squares,
 * as vector strokes with butt caps. cairo writes a rectangle as a
 * five-operator subpath of eight numbers, and a receipt's code has about
 * 450 runs; a dashed row costs four numbers plus one per run, which makes
 * the whole PDF render about 1.7 times faster than with rectangles. */
static int draw_qr(cairo_t *cr, const char *url, double x, double y, double side)
{
    QRcode *q = QRcode_encodeData((int)strlen(url), (const unsigned char *)url, 0, QR_ECLEVEL_M);
    if (!q) return -1;
    double m = side / (q->width + 8), dash[178]; /* version 40: 177 modules a row */
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, x, y, side, side);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, m);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    for (int r = 0; r < q->width; r++) {
        const unsigned char *row = q->data + (size_t)r * (size_t)q->width;
        int nd = 0, first = -1;
        for (int c = 0; c < q->width;) { /* runs, from the first dark one: on, off, on ... */
            int c0 = c, dark = row[c] & 1;
            while (c < q->width && (row[c] & 1) == dark)
                c++;
            if (dark && first < 0) first = c0;
            if (first >= 0) dash[nd++] = (c - c0) * m;
        }
        if (first < 0) continue;
        if (nd % 2) dash[nd++] = m; /* ends dark: an "off" past the end, never drawn */
        cairo_set_dash(cr, dash, nd, 0);
        cairo_move_to(cr, x + (4 + first) * m, y + (4.5 + r) * m);
        cairo_line_to(cr, x + (4 + q->width) * m, y + (4.5 + r) * m);
        cairo_stroke(cr);
    }
    cairo_set_dash(cr, NULL, 0, 0);
    QRcode_free(q);
    return 0;
}

static void draw_header(pen *pg, const cds_receipt *r)
{
    char buf[2 * CDS_RCPT_ADDR_MAX];
    const double left_w = 215, right_x = MARGIN + 232, right_w = CONTENT_W - 232;
    double top = pg->y;
    para(pg, r->issuer.agency_name, MARGIN, left_w, 1, 9, LEFT);
    snprintf(buf, sizeof buf, "Mã số thuế: %s", r->issuer.tax_code);
    para(pg, buf, MARGIN, left_w, 0, 8, LEFT);
    snprintf(buf, sizeof buf, "Địa chỉ: %s", r->issuer.address);
    para(pg, buf, MARGIN, left_w, 0, 8, LEFT);
    double left_end = pg->y;

    pg->y = top;
    snprintf(buf, sizeof buf, "Mẫu số: %s", r->template_no);
    para(pg, buf, right_x, right_w, 0, 8.5, LEFT);
    snprintf(buf, sizeof buf, "Ký hiệu: %s", r->serial);
    para(pg, buf, right_x, right_w, 0, 8.5, LEFT);
    snprintf(buf, sizeof buf, "Số: %08ld", r->number);
    para(pg, buf, right_x, right_w, 1, 9, LEFT);
    if (left_end > pg->y) pg->y = left_end;
    pg->y += 10;
}

static void draw_title(pen *pg, const cds_receipt *r)
{
    char buf[128];
    const char *t = r->issued_at;
    para(pg, "BIÊN LAI THU PHÍ, LỆ PHÍ", MARGIN, CONTENT_W, 1, 14, CENTER);
    pg->y -= 2;
    para(pg, "(Bản thể hiện của biên lai điện tử)", MARGIN, CONTENT_W, 0, 8, CENTER);
    snprintf(buf, sizeof buf, "Ngày %.2s tháng %.2s năm %.4s", t + 8, t + 5, t);
    para(pg, buf, MARGIN, CONTENT_W, 0, 9, CENTER);
    if (r->kind != CDS_RCPT_ORIGINAL) {
        snprintf(buf, sizeof buf, "%s biên lai điện tử có mã %s",
                 r->kind == CDS_RCPT_REPLACEMENT ? "Thay thế cho" : "Điều chỉnh cho", r->replaces);
        para(pg, buf, MARGIN, CONTENT_W, 1, 8.5, CENTER);
    }
    pg->y += 4;
}

static void draw_rows(pen *pg, const cds_receipt *r)
{
    char buf[64];
    row(pg, "Họ tên người nộp:", r->payer.name, 1);
    row(pg, "Số định danh cá nhân:", r->payer.personal_id, 0);
    row(pg, "Địa chỉ:", r->payer.address, 0);
    row(pg, "Tên phí, lệ phí:", r->fee_name, 0);
    row(pg, "Mã hồ sơ:", r->dossier_code, 0);
    fmt_vnd(r->amount, buf, sizeof buf);
    row(pg, "Số tiền:", buf, 1);
    row(pg, "Bằng chữ:", r->amount_words, 0);
    row(pg, "Hình thức thanh toán:", r->payment_method, 0);
    row(pg, "Mã giao dịch ngân hàng:", r->bank_ref, 0);
    fmt_time(r->paid_at, buf, sizeof buf);
    row(pg, "Thời điểm thanh toán:", buf, 0);
    fmt_time(r->issued_at, buf, sizeof buf);
    row(pg, "Thời điểm lập biên lai:", buf, 0);
}

/* Height of a wrapped paragraph, as para() will draw it. */
static double para_height(cairo_t *cr, const char *s, double w, int bold, double size)
{
    slice lines[MAX_LINES];
    set_font(cr, bold, size);
    return wrap(cr, s, w, lines, MAX_LINES) * size * 1.4;
}

/* The QR code with its link (left), the issuer's signature block (right).
 * Both columns are measured first and kept on one page together. */
static int draw_footer(pen *pg, const cds_receipt *r, const char *kid, const char *url)
{
    const double qr = 100, left_w = 170, right_x = MARGIN + 190, right_w = CONTENT_W - 190;
    char signer[CDS_RCPT_TEXT_MAX + 64], key[128], when[64];
    cairo_t *cr = pg->cr;
    snprintf(signer, sizeof signer, "Ký bởi: %s", r->issuer.agency_name);
    snprintf(key, sizeof key, "Mã khóa ký: %s", kid && *kid ? kid : "chưa ký");
    fmt_time(r->issued_at, when, sizeof when);
    double left_h = 7.5 * 1.4 + qr - 2 + para_height(cr, url, left_w, 0, 6.5);
    double right_h = 9 * 1.4 + 7.5 * 1.4 + 4 + para_height(cr, signer, right_w, 0, 7.5) +
                     para_height(cr, key, right_w, 0, 7.5) + 7.5 * 1.4;
    need(pg, 8 + (left_h > right_h ? left_h : right_h));
    rule(pg);
    double top = pg->y;
    para(pg, "Quét mã để kiểm tra biên lai:", MARGIN, left_w, 0, 7.5, LEFT);
    if (draw_qr(cr, url, MARGIN - 4, pg->y - 6, qr) != 0) return -1;
    pg->y += qr - 2;
    para(pg, url, MARGIN, left_w, 0, 6.5, LEFT);
    double left_end = pg->y;

    pg->y = top;
    para(pg, "ĐƠN VỊ THU PHÍ, LỆ PHÍ", right_x, right_w, 1, 9, CENTER);
    para(pg, "(Ký điện tử)", right_x, right_w, 0, 7.5, CENTER);
    pg->y += 4;
    para(pg, signer, right_x, right_w, 0, 7.5, CENTER);
    para(pg, key, right_x, right_w, 0, 7.5, CENTER);
    para(pg, when, right_x, right_w, 0, 7.5, CENTER);
    if (left_end > pg->y) pg->y = left_end;
    return 0;
}

/* ---------------- render ---------------- */

static int printable_ascii(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~') return 0;
    return 1;
}

int cds_receipt_pdf(const cds_receipt *r, const char *kid, const char *verify_url,
                    unsigned char **out, size_t *len)
{
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!out || !len || cds_receipt_check(r, NULL) != 0 || !verify_url ||
        !printable_ascii(verify_url, CDS_RECEIPT_URL_MAX) ||
        (kid && *kid && !printable_ascii(kid, 64)))
        return CDS_PDF_EINVAL;
    int rc = cds_receipt_pdf_init(NULL);
    if (rc != CDS_PDF_OK) return rc;

    cds_buf m;
    cds_buf_init(&m, CDS_RECEIPT_PDF_MAX);
    cairo_surface_t *s = cairo_pdf_surface_create_for_stream(mem_write, &m, PAGE_W, PAGE_H);
    cairo_t *cr = cairo_create(s);
    char title[128];
    snprintf(title, sizeof title, "Biên lai %s %s số %08ld", r->template_no, r->serial, r->number);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, title);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_AUTHOR, r->issuer.agency_name);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR, "Công dân số");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE, r->issued_at);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_MOD_DATE, r->issued_at);

    pen pg = {cr, MARGIN + 10};
    cairo_set_source_rgb(cr, 0, 0, 0);
    draw_header(&pg, r);
    draw_title(&pg, r);
    rule(&pg);
    draw_rows(&pg, r);
    rc = draw_footer(&pg, r, kid, verify_url) == 0 ? CDS_PDF_OK : CDS_PDF_EINVAL;
    cairo_show_page(cr);

    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS && rc == CDS_PDF_OK) rc = CDS_PDF_ERENDER;
    cairo_destroy(cr);
    cairo_surface_finish(s);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS && rc == CDS_PDF_OK) rc = CDS_PDF_ERENDER;
    cairo_surface_destroy(s);
    if (m.err && rc == CDS_PDF_OK) rc = m.err == CDS_BUF_E_NOMEM ? CDS_PDF_ENOMEM : CDS_PDF_ERENDER;
    if (rc != CDS_PDF_OK) {
        cds_buf_free(&m);
        return rc;
    }
    *out = (unsigned char *)cds_buf_take(&m, len);
    return *out ? CDS_PDF_OK : CDS_PDF_ENOMEM;
}
