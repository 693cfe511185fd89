/* If-Match parsing and the answers of optimistic concurrency (etag.h). */
#include "core/etag.h"

#include <string.h>

static const char *ows(const char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

enum cds_if_match cds_if_match(cds_req *r, const char **tags)
{
    *tags = NULL;
    const char *h = cds_req_header(r, "if-match");
    if (!h) return CDS_IFM_NONE;
    const char *p = ows(h);
    if (p[0] == '*' && *ows(p + 1) == 0) return CDS_IFM_ANY;
    /* Worst case every byte is escaped: twice the header plus the braces. */
    size_t cap = 2 * strlen(h) + 3, n = 0;
    char *out = cds_req_alloc(r, cap);
    out[n++] = '{';
    int count = 0;
    for (;;) {
        p = ows(p);
        int weak = p[0] == 'W' && p[1] == '/';
        if (weak) p += 2;
        if (*p != '"') goto bad;
        const char *q = p + 1;
        while (*q && *q != '"') {
            unsigned char ch = (unsigned char)*q;
            if (ch < 0x21 || ch == 0x7f) goto bad; /* etagc */
            q++;
        }
        if (*q != '"') goto bad;
        if (!weak) {
            if (count++) out[n++] = ',';
            out[n++] = '"';
            for (const char *c = p + 1; c < q; c++) {
                if (*c == '\\') out[n++] = '\\';
                out[n++] = *c;
            }
            out[n++] = '"';
        }
        p = ows(q + 1);
        if (*p == 0) break;
        if (*p != ',') goto bad;
        p++;
    }
    out[n++] = '}';
    out[n] = 0;
    *tags = out;
    return CDS_IFM_TAGS;
bad:
    cds_problem(r, 400, "invalid_if_match", "Tiêu đề If-Match không hợp lệ (ví dụ: If-Match: \"abc\").");
    return CDS_IFM_BAD;
}

void cds_resp_etag(cds_req *r, const char *tag)
{
    cds_resp_header(r, "etag", cds_req_printf(r, "\"%s\"", tag));
}

void cds_precondition_failed(cds_req *r)
{
    cds_problem(r, 412, "precondition_failed",
                "Dữ liệu đã được thay đổi kể từ lần bạn đọc; hãy tải lại rồi thử lại.");
}

void cds_precondition_required(cds_req *r)
{
    cds_problem(r, 428, "precondition_required",
                "Yêu cầu này cần tiêu đề If-Match với ETag của lần đọc gần nhất "
                "(hoặc If-None-Match: * để tạo mới).");
}
