/* libFuzzer target: the other parsers of outside data, one input split by
 * its first byte: form values checked against a realistic procedure form
 * schema, form schemas themselves (partner catalog updates), pagination
 * cursors, the signed-request headers of the TTHC system, Vietnamese phone
 * numbers and personal ID numbers, W3C trace context headers (traceparent
 * and tracestate fields, and the trace stored in an outbox row),
 * Accept-Language headers (core/lang.h). */
#include "core/cursor.h"
#include "core/hmac_auth.h"
#include "core/lang.h"
#include "core/trace.h"
#include "core/vn.h"
#include "dossiers/internal.h"

#include <stdlib.h>
#include <string.h>

static const char *schema_text =
    "{\"fields\":["
    "{\"name\":\"full_name\",\"label\":\"Họ tên\",\"type\":\"string\",\"required\":true,\"max_length\":100},"
    "{\"name\":\"personal_id\",\"label\":\"Số định danh\",\"type\":\"personal_id\",\"required\":true},"
    "{\"name\":\"phone\",\"label\":\"Điện thoại\",\"type\":\"phone\"},"
    "{\"name\":\"birth_date\",\"label\":\"Ngày sinh\",\"type\":\"date\"},"
    "{\"name\":\"floors\",\"label\":\"Số tầng\",\"type\":\"integer\",\"min\":1,\"max\":7},"
    "{\"name\":\"area\",\"label\":\"Diện tích\",\"type\":\"number\",\"min\":0},"
    "{\"name\":\"agree\",\"label\":\"Cam kết\",\"type\":\"boolean\"},"
    "{\"name\":\"kind\",\"label\":\"Loại\",\"type\":\"enum\",\"options\":[\"a\",{\"value\":\"b\",\"label\":\"B\"}]},"
    "{\"name\":\"note\",\"label\":\"Ghi chú\",\"type\":\"text\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *schema;
    static cds_hmac_clients *clients;
    if (!schema) {
        schema = json_loads(schema_text, 0, NULL);
        clients = cds_hmac_clients_parse("tthc-hcm:fuzz-secret-0123456789", NULL);
        unsigned char key[32] = {1, 2, 3};
        cds_cursor_set_key(key);
    }
    if (size < 1) return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    char *text = malloc(n + 1);
    memcpy(text, s, n);
    text[n] = 0;
    char a[256], b[512];
    switch (data[0] % 6) {
    case 0: {
        json_t *v = json_loadb(s, n, 0, NULL);
        if (v) {
            (void)cds_form_validate(schema, v, a, sizeof a, b, sizeof b);
            json_t *p = cds_form_prefill(schema, v);
            json_decref(p);
            json_decref(v);
        }
        break;
    }
    case 1: {
        json_t *v = json_loadb(s, n, 0, NULL);
        if (v) {
            (void)cds_form_schema_check(v, b, sizeof b);
            json_decref(v);
        }
        break;
    }
    case 2:
        (void)cds_cursor_decode(text, b, sizeof b);
        break;
    case 3: {
        /* Four header values separated by newlines, then the body. */
        char *parts[4] = {0};
        char *p = text;
        for (int i = 0; i < 4 && p; i++) {
            parts[i] = p;
            p = strchr(p, '\n');
            if (p) *p++ = 0;
        }
        const char *body = p ? p : "";
        (void)cds_hmac_verify(clients, parts[0], parts[1], parts[2], "POST",
                              parts[3] ? parts[3] : "/v1/partner/dossiers", body, strlen(body),
                              1795000000, 300);
        break;
    }
    case 5: {
        /* traceparent, then up to 8 tracestate fields, separated by newlines. */
        const char *f[9] = {0};
        int nf = 0;
        for (char *p = text; p && nf < 9;) {
            f[nf++] = p;
            p = strchr(p, '\n');
            if (p) *p++ = 0;
        }
        cds_trace t, u;
        cds_trace_begin(&t, f[0], f + 1, nf > 1 ? nf - 1 : 0);
        if (strlen(t.trace_id) != 32 || strspn(t.trace_id, "0123456789abcdef") != 32 ||
            strlen(t.span_id) != 16 || strlen(t.state) > CDS_TRACESTATE_MAX)
            abort();
        char stored[CDS_TRACEPARENT_LEN + 2 + CDS_TRACESTATE_MAX];
        if (cds_trace_stored(&t, stored, sizeof stored) != 0) abort();
        if (cds_trace_resume(&u, stored) != 0 || strcmp(u.trace_id, t.trace_id) != 0 ||
            strcmp(u.parent_id, t.span_id) != 0 || strcmp(u.state, t.state) != 0)
            abort();
        (void)cds_trace_resume(&u, f[0]);
        break;
    }
    default:
        (void)cds_vn_phone_normalize(text, a, sizeof a);
        (void)cds_vn_pid_valid(text);
        (void)cds_lang_parse(text);
        break;
    }
    free(text);
    return 0;
}
