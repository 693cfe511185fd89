/* The problem catalog and its database helpers (problem.h); the helpers
 * that read ids and pagination cursors are in req_params.c, so that the
 * HTTP frame (this file among it) needs none of the signing code. */
#include "core/problem.h"

#include "core/log.h"

#include <stdio.h>
#include <string.h>

static const cds_problem_def TABLE[CDS_P__COUNT] = {
    [CDS_P_INTERNAL] = {500, "internal_error", "Internal error",
                        "Đã xảy ra lỗi hệ thống, vui lòng thử lại sau."},
    [CDS_P_DB_UNAVAILABLE] = {503, "database_unavailable", "Database unavailable",
                              "Hệ thống tạm thời không truy cập được dữ liệu, vui lòng thử lại sau."},
    [CDS_P_SERVICE_BUSY] = {503, "service_busy", "Service busy",
                            "Hệ thống đang quá tải, vui lòng thử lại sau ít phút."},
    [CDS_P_OVERLOADED] = {503, "overloaded", "Overloaded",
                          "Hệ thống đang quá tải, vui lòng thử lại sau."},
    [CDS_P_INVALID_CURSOR] = {400, "invalid_cursor", "Invalid cursor",
                              "Con trỏ phân trang không hợp lệ."},
    [CDS_P_DOSSIER_NOT_FOUND] = {404, "dossier_not_found", "Dossier not found",
                                 "Không tìm thấy hồ sơ."},
    [CDS_P_PAYMENT_NOT_FOUND] = {404, "payment_not_found", "Payment not found",
                                 "Không tìm thấy khoản thanh toán."},
    [CDS_P_RECEIPT_NOT_FOUND] = {404, "receipt_not_found", "Receipt not found",
                                 "Không tìm thấy biên lai."},
    [CDS_P_QR_FAILED] = {500, "qr_failed", "QR code not made",
                         "Không tạo được mã QR, vui lòng thử lại sau."},
    [CDS_P_PAYLOAD_TOO_LARGE] = {413, "payload_too_large", "Payload too large",
                                 "Nội dung yêu cầu vượt quá dung lượng cho phép."},
    [CDS_P_POSTAL_NOT_ALLOWED] = {422, "postal_not_allowed", "Postal delivery not allowed",
                                  "Kết quả của thủ tục này không được trả qua bưu điện."},
    [CDS_P_RATING_NOT_FINISHED] = {409, "rating_not_allowed", "Dossier not finished",
                                   "Chỉ có thể đánh giá khi hồ sơ đã hoàn thành hoặc đã trả "
                                   "kết quả."},
    [CDS_P_RATING_EDIT_CLOSED] = {409, "rating_edit_closed", "Rating can no longer be changed",
                                  "Đánh giá chỉ sửa được trong 7 ngày kể từ lần đánh giá đầu "
                                  "tiên."},
};

const cds_problem_def *cds_problem_get(cds_problem_id id)
{
    return (unsigned)id < CDS_P__COUNT ? &TABLE[id] : NULL;
}

void cds_fail(cds_req *r, cds_problem_id id)
{
    const cds_problem_def *p = cds_problem_get(id);
    if (!p) p = &TABLE[CDS_P_INTERNAL];
    cds_problem_titled(r, p->status, p->code, p->title, p->detail);
}

void cds_req_db_failed(cds_req *r, const char *what, PGresult *res)
{
    if (res) cds_log(CDS_LOG_ERROR, what, "%s", PQresultErrorMessage(res));
    cds_fail(r, CDS_P_DB_UNAVAILABLE);
}

int cds_req_db_rows(cds_req *r, const char *what, PGresult *res)
{
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) return 1;
    cds_req_db_failed(r, what, res);
    return 0;
}

int cds_req_db_one(cds_req *r, const char *what, PGresult *res, cds_problem_id missing)
{
    if (!cds_req_db_rows(r, what, res)) return 0;
    if (PQntuples(res) == 1) return 1;
    cds_fail(r, missing);
    return 0;
}
