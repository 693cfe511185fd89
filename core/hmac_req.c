/* The signed-request check of core/hmac_auth.h applied to an incoming
 * request, with the refusal answered: used in front of the partner routes
 * (the TTHC system) and the delivery-receipt callbacks of the SMS gateways.
 *
 * It runs on the request as received: method, raw path plus "?" and the raw
 * query when there is one, and the body bytes exactly, against our clock and
 * the caller's window. A refusal is a 401 problem with a stable code
 * ("<prefix>_signature_invalid", "_timestamp_stale", "_unknown_client",
 * "_signature_missing") and WWW-Authenticate: HMAC-SHA256, and one log line
 * with the client id and the reason; the signature itself is never logged,
 * and a client id that is not well formed is logged by its length only. */
#include "core/hmac_req.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int loggable_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n == 64 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n > 0;
}

/* For the log only: which header failed the format check. */
static const char *malformed_header(const char *id, const char *ts, const char *sig)
{
    if (!id) return "x-client-id missing";
    if (!ts) return "x-timestamp missing";
    if (!sig) return "x-signature missing";
    if (!loggable_id(id)) return "x-client-id malformed";
    size_t tl = strlen(ts);
    if (tl == 0 || tl > 12 || strspn(ts, "0123456789") != tl || (ts[0] == '0' && tl > 1))
        return "x-timestamp malformed";
    return "x-signature malformed";
}

const char *cds_hmac_req_verify(cds_req *r, const cds_hmac_clients *clients, int window,
                                const char *prefix)
{
    const char *id = cds_req_header(r, "x-client-id");
    const char *ts = cds_req_header(r, "x-timestamp");
    const char *sig = cds_req_header(r, "x-signature");
    const char *path = cds_req_path(r), *q = cds_req_query_string(r);
    const char *pq = *q ? cds_req_printf(r, "%s?%s", path, q) : path;
    size_t blen = 0;
    const char *body = cds_req_body(r, &blen);
    if (!body) blen = 0;
    int rc = cds_hmac_verify(clients, id, ts, sig, cds_req_method(r), pq, body, blen, time(NULL),
                             window);
    if (rc == CDS_HMAC_OK) return cds_req_strdup(r, id);

    const char *code, *detail, *reason;
    switch (rc) {
    case CDS_HMAC_UNKNOWN:
        code = cds_req_printf(r, "%s_unknown_client", prefix);
        reason = "unknown client";
        detail = "Mã đối tác (X-Client-Id) không được cấp quyền gọi API này.";
        break;
    case CDS_HMAC_STALE:
        code = cds_req_printf(r, "%s_timestamp_stale", prefix);
        reason = "timestamp outside the window";
        detail = cds_req_printf(r,
                                "Thời điểm ký (X-Timestamp) lệch quá %d giây so với đồng hồ máy "
                                "chủ; vui lòng đồng bộ đồng hồ và ký lại yêu cầu.",
                                window);
        break;
    case CDS_HMAC_BAD:
        code = cds_req_printf(r, "%s_signature_invalid", prefix);
        reason = "signature mismatch";
        detail = "Chữ ký yêu cầu (X-Signature) không hợp lệ.";
        break;
    default:
        code = cds_req_printf(r, "%s_signature_missing", prefix);
        reason = malformed_header(id, ts, sig);
        detail = "Thiếu hoặc sai định dạng chữ ký yêu cầu: cần các header X-Client-Id, "
                 "X-Timestamp (giây Unix) và X-Signature (HMAC-SHA256, 64 ký tự hex).";
        break;
    }
    char who[96];
    if (!id)
        snprintf(who, sizeof who, "(none)");
    else if (loggable_id(id))
        snprintf(who, sizeof who, "%s", id);
    else
        snprintf(who, sizeof who, "(malformed, %zu bytes)", strlen(id));
    cds_log(CDS_LOG_WARN, "hmac_auth_failed",
            "scope=%s client=%s reason=%s code=%s %s %s peer=%s request_id=%s", prefix, who, reason,
            code, cds_req_method(r), path, cds_req_peer(r), cds_req_id(r));
    cds_resp_header(r, "www-authenticate", "HMAC-SHA256");
    cds_problem(r, 401, code, detail);
    return NULL;
}
