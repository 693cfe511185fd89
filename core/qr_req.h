/* The request side of the routes that serve QR images (a dossier's lookup
 * link, a payment's VietQR code): their common `scale` query parameter.
 * Kept beside core/qr.h rather than in the generic request API, which
 * knows nothing of images. */
#ifndef CDS_QR_REQ_H
#define CDS_QR_REQ_H
#include "core/http.h"

#define CDS_QR_SCALE_MAX 16
/* The `scale` query parameter of a QR image (pixels per module): dflt when
 * absent, else 1..CDS_QR_SCALE_MAX; otherwise answers 422 invalid_scale and
 * returns -1. */
int cds_qr_scale_param(cds_req *r, int dflt);

#endif
