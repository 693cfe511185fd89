/* The `scale` parameter of QR image routes (see qr_req.h). Two digits at
 * most are read, so no overflow can slip a huge scale past the bound. */
#include "core/qr_req.h"

#include <stdlib.h>
#include <string.h>

int cds_qr_scale_param(cds_req *r, int dflt)
{
    const char *s = cds_req_query(r, "scale");
    if (!s) return dflt;
    char *end = NULL;
    long v = (*s >= '0' && *s <= '9' && strlen(s) <= 2) ? strtol(s, &end, 10) : -1;
    if (v < 1 || v > CDS_QR_SCALE_MAX || !end || *end) {
        cds_problem(r, 422, "invalid_scale",
                    "Tham số scale phải là số nguyên từ 1 đến 16 (số điểm ảnh mỗi ô).");
        return -1;
    }
    return (int)v;
}
