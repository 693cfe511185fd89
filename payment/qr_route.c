/* The images of a payment's VietQR code, for the owner's app:
 *
 *   GET /v1/payments/{id}/qr.png[?scale=1..16]   PNG, 8 pixels a module by default
 *   GET /v1/payments/{id}/qr.svg                 SVG, scalable
 *
 * Both encode what remains to be paid (the same payload as the payment's
 * JSON), error correction M, a quiet zone of 4 modules (core/qr.h). Only an
 * open intent has a code: a paid, expired or cancelled one answers 409, so
 * nobody pays a closed intent from a stale screenshot. An intent of a payOS
 * account shows payOS's own code (the qrCode of its active payment link;
 * 409 while it has none). A payload of ~130
 * characters makes a small image: rendering on the loop thread is bounded. */
#include "internal.h"
#include "payment/vietqr.h"

#include "auth/auth.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/qr.h"
#include "core/qr_req.h"

#include <stdlib.h>
#include <string.h>

#define SCALE_DEFAULT 8

enum { FORMAT_PNG, FORMAT_SVG };

typedef struct qr_ctx {
    int format, scale;
} qr_ctx;

static int st_qr = -1;

int pm_qr_init(void)
{
    st_qr = cds_db_stmt_register(
        "payment_qr",
        "SELECT bank_bin, account_no, amount_vnd - received_vnd, reference,"
        " status IN ('created', 'partially_paid') AND expires_at > now(), provider,"
        " (SELECT l.qr_code FROM payos_links l WHERE l.payment_id = payments.id"
        "  AND l.state = 'active')"
        " FROM payments WHERE id = $1 AND citizen_id = $2",
        2);
    return st_qr < 0 ? -1 : 0;
}

static void on_qr(cds_req *r, PGresult *res)
{
    qr_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_req_db_failed(r, "payment_qr", res);
        return;
    }
    if (PQntuples(res) != 1) {
        cds_fail(r, CDS_P_PAYMENT_NOT_FOUND);
        return;
    }
    long long remaining = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    if (strcmp(PQgetvalue(res, 0, 4), "t") != 0 || remaining <= 0) {
        cds_problem(r, 409, "payment_finished",
                    "Khoản thanh toán đã kết thúc (đã nộp, hết hạn hoặc đã hủy); mã QR không còn dùng được.");
        return;
    }
    char payload[CDS_VIETQR_PAYLOAD_MAX + 1];
    if (strcmp(PQgetvalue(res, 0, 5), "payos") == 0) {
        if (PQgetisnull(res, 0, 6) || PQgetlength(res, 0, 6) > CDS_VIETQR_PAYLOAD_MAX) {
            cds_problem(r, 409, "payment_link_missing",
                        "Khoản thanh toán chưa có mã payOS: hãy yêu cầu thanh toán lại.");
            return;
        }
        snprintf(payload, sizeof payload, "%s", PQgetvalue(res, 0, 6));
    } else if (pm_vietqr_payload(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), remaining,
                                 PQgetvalue(res, 0, 3), payload, sizeof payload) != 0) {
        cds_fail(r, CDS_P_QR_FAILED);
        return;
    }
    size_t len = 0;
    if (c->format == FORMAT_PNG) {
        unsigned char *png = cds_qr_png(payload, CDS_QR_ECC_M, c->scale, &len);
        if (!png) {
            cds_fail(r, CDS_P_QR_FAILED);
            return;
        }
        cds_resp_header(r, "cache-control", "private, no-store");
        cds_respond(r, 200, "image/png", (const char *)png, len);
        free(png);
    } else {
        char *svg = cds_qr_svg(payload, CDS_QR_ECC_M, &len);
        if (!svg) {
            cds_fail(r, CDS_P_QR_FAILED);
            return;
        }
        cds_resp_header(r, "cache-control", "private, no-store");
        cds_respond(r, 200, "image/svg+xml", svg, len);
        free(svg);
    }
}

static void qr_route(cds_req *r, int format)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_PAYMENT_NOT_FOUND);
    if (!id) return;
    qr_ctx *c = cds_req_alloc(r, sizeof *c);
    c->format = format;
    c->scale = format == FORMAT_PNG ? cds_qr_scale_param(r, SCALE_DEFAULT) : SCALE_DEFAULT;
    if (c->scale < 0) return;
    cds_req_set_user(r, c, NULL);
    const char *params[] = {id, p->citizen_id};
    cds_req_db(r, st_qr, 2, params, on_qr);
}

void cds_payment_qr_png(cds_req *r)
{
    qr_route(r, FORMAT_PNG);
}

void cds_payment_qr_svg(cds_req *r)
{
    qr_route(r, FORMAT_SVG);
}
