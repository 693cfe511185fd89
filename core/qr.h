/* QR codes with libqrencode (byte mode, error correction M unless asked,
 * a quiet zone of 4 modules), rendered as PNG with libpng or as SVG. Used
 * for the public lookup link of a dossier, VietQR payment codes and the
 * verification code printed on e-receipts. */
#ifndef CDS_QR_H
#define CDS_QR_H
#include <stddef.h>

enum { CDS_QR_ECC_L, CDS_QR_ECC_M, CDS_QR_ECC_Q, CDS_QR_ECC_H };

/* PNG of `text` with `scale` pixels per module (1..32); malloc'ed, *len set.
 * NULL when the text does not fit a QR code or on a library failure. */
unsigned char *cds_qr_png(const char *text, int ecc, int scale, size_t *len);
/* SVG document of `text` (one path, viewBox in modules); malloc'ed, NUL-terminated. */
char *cds_qr_svg(const char *text, int ecc, size_t *len);

#endif
