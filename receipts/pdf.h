/* The printable form of an e-receipt: one A5 portrait PDF page (more only
 * if very long texts need them) in Vietnamese, made with cairo's PDF
 * surface in memory, with DejaVu Sans (regular and bold) embedded as
 * subsets so every Vietnamese letter prints on any reader, and a vector QR
 * code of the verification link with the link printed under it.
 *
 * The fonts are loaded once per process, through FreeType, and shared by
 * every thread (cairo serialises its use of a face). cds_receipt_pdf_init()
 * loads them and may be called at start-up to fail early; the first render
 * calls it otherwise. Rendering is CPU work of about a millisecond: not for
 * an event-loop thread, for the worker pool. */
#ifndef CDS_RECEIPT_PDF_H
#define CDS_RECEIPT_PDF_H
#include "receipts/canonical.h"

#include <stddef.h>

#define CDS_RECEIPT_FONT_DIR "/usr/share/fonts/truetype/dejavu" /* Debian fonts-dejavu-core */
#define CDS_RECEIPT_URL_MAX 512
#define CDS_RECEIPT_PDF_MAX ((size_t)4 * 1024 * 1024) /* a receipt PDF is ~30 KB */

enum {
    CDS_PDF_OK = 0,
    CDS_PDF_EINVAL = -1,  /* content fails its checks, bad kid or URL (1..512 printable ASCII) */
    CDS_PDF_EFONT = -2,   /* DejaVuSans.ttf / DejaVuSans-Bold.ttf missing or unreadable */
    CDS_PDF_ERENDER = -3, /* cairo failed, or the PDF would exceed CDS_RECEIPT_PDF_MAX */
    CDS_PDF_ENOMEM = -4,
};

/* Loads DejaVuSans.ttf and DejaVuSans-Bold.ttf from font_dir (NULL:
 * CDS_RECEIPT_FONT_DIR). The first call that succeeds fixes the fonts for
 * the life of the process; later calls return CDS_PDF_OK without reading
 * anything. Thread-safe. */
int cds_receipt_pdf_init(const char *font_dir);

/* Renders r, signed under key id `kid` (printed; may be NULL or "" for a
 * draft, then printed as "chưa ký"), with the QR code and text of
 * verify_url. *out is malloc'ed (free() it), *len its size. CDS_PDF_OK or
 * an error code, with *out NULL. */
int cds_receipt_pdf(const cds_receipt *r, const char *kid, const char *verify_url,
                    unsigned char **out, size_t *len);

#endif
