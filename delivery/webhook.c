/* Couriers report each delivery step here: one route per carrier
 * (POST /v1/webhooks/couriers/<carrier>), signed with the carrier's secret
 * (delivery/signature.c through the adapter), parsed and normalized by the
 * adapter, and each event recorded by one call of cds_shipment_event (state,
 * history, the dossier step, notifications, COD) in order.
 *
 * Carriers that sign nothing (GHN: DL_AUTH_URL_TOKEN) are called back on
 * POST /v1/webhooks/couriers/<carrier>/{token} instead: the secret token is
 * the URL we registered with them, and an optional allow-list fences the
 * source addresses.
 *
 * Answers: 200 {"code":"00",...} for every event taken (applied, a duplicate,
 * a late one kept in the history, one after a final state) and for a call
 * that reports no status (GHN's weight/COD/fee updates: results empty): only
 * a 2xx stops a carrier's retries, and a repeat must change nothing. A
 * refusal is a problem+json whose code says why: 401
 * courier_signature_invalid / courier_timestamp_stale /
 * courier_signature_missing / courier_not_configured / courier_token_invalid,
 * 403 courier_source_refused, 422 invalid_event, 404 shipment_not_found, 409
 * shipment_other_carrier. */
#include "internal.h"
#include "core/db.h"
#include "core/hmac_auth.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/problem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_MAX 50

int dl_stmt_event = -1;

static atomic_llong c_applied, c_repeat, c_refused;
static int64_t m_applied(void) { return c_applied; }
static int64_t m_repeat(void) { return c_repeat; }
static int64_t m_refused(void) { return c_refused; }

int dl_events_init(void)
{
    dl_stmt_event = cds_db_stmt_register(
        "courier_event",
        "SELECT e.status, e.shipment_status, e.dossier_status FROM cds_shipment_event($1, $2, $3, "
        "$4, $5, $6, $7::timestamptz, $8, $9::jsonb, $10::bigint, $11::int, $12, $13) e",
        13);
    if (dl_stmt_event < 0) return -1;
    cds_metrics_register("cds_courier_events_applied_total",
                         "Courier events that moved a shipment (webhooks and polling).", m_applied);
    cds_metrics_register("cds_courier_events_kept_total",
                         "Courier events taken without moving anything: duplicates, late, after a final state.",
                         m_repeat);
    cds_metrics_register("cds_courier_webhooks_refused_total",
                         "Courier webhook calls refused: signature, timestamp, unknown shipment, malformed.",
                         m_refused);
    return 0;
}

void dl_events_count(const char *status)
{
    if (strcmp(status, "applied") == 0) c_applied++;
    else if (strcmp(status, "duplicate") == 0 || strcmp(status, "late") == 0 ||
             strcmp(status, "final") == 0)
        c_repeat++;
}

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

void dl_event_params(const char *carrier, const dl_event *e, const char *source, char max_failed[16],
                     char cod[24], const char *out[12])
{
    snprintf(max_failed, 16, "%d", g_delivery.max_failed_attempts);
    if (e->cod >= 0) snprintf(cod, 24, "%lld", e->cod);
    else cod[0] = 0;
    out[0] = carrier;
    out[1] = e->tracking;
    out[2] = e->event_id;
    out[3] = e->status;
    out[4] = nz(e->raw_code);
    out[5] = nz(e->raw_reason);
    out[6] = e->occurred_at;
    out[7] = nz(e->location);
    out[8] = e->pod;
    out[9] = nz(cod);
    out[10] = max_failed;
    out[11] = source;
}

typedef struct hook_ctx {
    const dl_carrier *carrier;
    dl_event ev[EVENTS_MAX];
    size_t n, next;
    json_t *results;
} hook_ctx;

static void hook_free(void *p)
{
    hook_ctx *h = p;
    for (size_t i = 0; i < h->n; i++) dl_event_clear(&h->ev[i]);
    json_decref(h->results);
    free(h);
}

static void next_event(cds_req *r);

static void on_event(cds_req *r, PGresult *res)
{
    hook_ctx *h = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (state && strncmp(state, "22", 2) == 0) {
            cds_problem(r, 422, "invalid_event", "Thời điểm hoặc dữ liệu của sự kiện không hợp lệ.");
            return;
        }
        cds_req_db_failed(r, "courier_event_db", res);
        return;
    }
    const char *status = PQgetvalue(res, 0, 0);
    dl_event *e = &h->ev[h->next];
    dl_events_count(status);
    if (strcmp(status, "unknown") == 0 || strcmp(status, "wrong_carrier") == 0) c_refused++;
    if (strcmp(status, "unknown") == 0) {
        cds_problem(r, 404, "shipment_not_found",
                    cds_req_printf(r, "Không có vận đơn %s của đơn vị vận chuyển này.", e->tracking));
        return;
    }
    if (strcmp(status, "wrong_carrier") == 0) {
        cds_problem(r, 409, "shipment_other_carrier",
                    cds_req_printf(r, "Vận đơn %s thuộc đơn vị vận chuyển khác.", e->tracking));
        return;
    }
    const char *result = strcmp(status, "late") == 0    ? "recorded_late"
                         : strcmp(status, "final") == 0 ? "ignored_final"
                                                        : status;
    json_array_append_new(h->results,
                          json_pack("{s:s,s:s,s:s,s:s}", "event_id", e->event_id, "result", result,
                                    "shipment_status", PQgetvalue(res, 0, 1), "dossier_status",
                                    PQgetvalue(res, 0, 2)));
    h->next++;
    next_event(r);
}

static void next_event(cds_req *r)
{
    hook_ctx *h = cds_req_user(r);
    if (h->next == h->n) {
        cds_respond_json(r, 200, json_pack("{s:s,s:s,s:O}", "code", "00", "message", "OK",
                                           "results", h->results));
        return;
    }
    char max_failed[16], cod[24];
    const char *p[13];
    dl_event_params(h->carrier->name, &h->ev[h->next], "webhook", max_failed, cod, p);
    p[12] = cds_req_trace_stored(r);
    cds_req_db(r, dl_stmt_event, 13, p, on_event);
}

static void webhook(cds_req *r, const dl_carrier *c)
{
    const char *secret = c->webhook_secret ? c->webhook_secret() : dl_secret_of(c->name);
    int rc = secret ? c->webhook_verify(r, secret, g_delivery.webhook_window_s, time(NULL))
                    : CDS_HMAC_UNKNOWN;
    if (rc == DL_SOURCE_REFUSED) {
        c_refused++;
        cds_log(CDS_LOG_WARN, "courier_webhook_refused", "carrier=%s code=courier_source_refused "
                "peer=%s request_id=%s", c->name, cds_req_peer(r), cds_req_id(r));
        cds_problem(r, 403, "courier_source_refused",
                    "Địa chỉ gọi không nằm trong danh sách được phép của đơn vị vận chuyển.");
        return;
    }
    if (rc != CDS_HMAC_OK && c->auth == DL_AUTH_URL_TOKEN) {
        c_refused++;
        cds_log(CDS_LOG_WARN, "courier_webhook_refused", "carrier=%s code=%s peer=%s request_id=%s",
                c->name, rc == CDS_HMAC_UNKNOWN ? "courier_not_configured" : "courier_token_invalid",
                cds_req_peer(r), cds_req_id(r));
        if (rc == CDS_HMAC_UNKNOWN)
            cds_problem(r, 401, "courier_not_configured",
                        "Đơn vị vận chuyển chưa được cấu hình mã bí mật của địa chỉ gọi lại.");
        else
            cds_problem(r, 401, "courier_token_invalid", "Mã bí mật trong địa chỉ gọi lại không đúng.");
        return;
    }
    if (rc != CDS_HMAC_OK) {
        const char *code, *detail;
        switch (rc) {
        case CDS_HMAC_STALE:
            code = "courier_timestamp_stale";
            detail = cds_req_printf(r, "Thời điểm ký lệch quá %d giây so với đồng hồ máy chủ.",
                                    g_delivery.webhook_window_s);
            break;
        case CDS_HMAC_BAD:
            code = "courier_signature_invalid";
            detail = "Chữ ký của yêu cầu không hợp lệ.";
            break;
        case CDS_HMAC_UNKNOWN:
            code = "courier_not_configured";
            detail = "Đơn vị vận chuyển chưa được cấu hình khóa ký.";
            break;
        default:
            code = "courier_signature_missing";
            detail = "Thiếu hoặc sai định dạng chữ ký: cần thời điểm ký (giây Unix) và chữ ký "
                     "HMAC-SHA256 (64 ký tự hex).";
            break;
        }
        c_refused++;
        cds_log(CDS_LOG_WARN, "courier_webhook_refused", "carrier=%s code=%s peer=%s request_id=%s",
                c->name, code, cds_req_peer(r), cds_req_id(r));
        cds_resp_header(r, "www-authenticate", "HMAC-SHA256");
        cds_problem(r, 401, code, detail);
        return;
    }
    hook_ctx *h = calloc(1, sizeof *h);
    if (!h) abort();
    h->carrier = c;
    h->results = json_array();
    cds_req_set_user(r, h, hook_free);
    size_t len = 0;
    const char *body = cds_req_body(r, &len);
    char err[300];
    int prc = body ? c->parse_events(body, len, h->ev, EVENTS_MAX, &h->n, err, sizeof err) : -1;
    if (prc < 0) {
        c_refused++;
        cds_problem(r, 422, "invalid_event", body ? err : "Thiếu nội dung sự kiện.");
        return;
    }
    if (prc == 1) { /* a call that reports no status: taken, nothing recorded */
        next_event(r);
        return;
    }
    if (h->n == 0) {
        cds_problem(r, 422, "invalid_event", "Không có sự kiện nào.");
        return;
    }
    next_event(r);
}

void cds_courier_webhook_vnpost(cds_req *r)
{
    webhook(r, &dl_vnpost);
}

void cds_courier_webhook_ghn(cds_req *r)
{
    webhook(r, &dl_ghn);
}
