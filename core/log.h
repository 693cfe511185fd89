/* Structured logs: one JSON object per line on stdout (access log) or stderr
 * (events and errors). Every free-text field goes through cds_scrub first, so
 * a personal ID number, phone number or bearer token that slips into a
 * message is masked before it reaches a log line. */
#ifndef CDS_LOG_H
#define CDS_LOG_H
#include "core/trace.h"

#include <stddef.h>
#include <stdint.h>

enum { CDS_LOG_DEBUG, CDS_LOG_INFO, CDS_LOG_WARN, CDS_LOG_ERROR };

void cds_log_set_level(int level);
/* {"time":...,"level":...,"request_id":...,"trace_id":...,"span_id":...,
 * "event":event,"msg":scrubbed message} on stderr; request_id while this
 * thread serves a request, trace_id and span_id while it works for a trace
 * (a request, or an outbox row sent for one; see cds_log_ctx). */
void cds_log(int level, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The request this thread is serving, which every event line carries as
 * "request_id", and its trace (core/trace.h: "trace_id", "span_id"; outgoing
 * calls send it on as traceparent). request.c sets it around a handler; the asynchronous parts of
 * core (database pool, request batches, outgoing HTTP, work pool) take it
 * when work starts and set it again around the callback, so a module's log
 * lines carry the id without passing it. Copied, never borrowed: a callback
 * may free the request and log afterwards. */
typedef struct cds_log_ctx {
    char request_id[65]; /* "" outside a request */
    cds_trace trace;     /* trace_id "" outside a trace */
} cds_log_ctx;
/* This thread's current context, to carry into asynchronous work. */
void cds_log_ctx_get(cds_log_ctx *out);
/* Makes `ctx` current (NULL: none); the previous one goes to *prev when not
 * NULL, to be set again when the callback returns. */
void cds_log_ctx_set(const cds_log_ctx *ctx, cds_log_ctx *prev);
/* The same from a request's id and trace, without a cds_log_ctx of its own
 * (the request's dispatch). */
void cds_log_ctx_set_req(const char *request_id, const cds_trace *trace, cds_log_ctx *prev);
/* out = that id (NULL: "") and trace (NULL: none), copying the used bytes. */
void cds_log_ctx_fill(cds_log_ctx *out, const char *request_id, const cds_trace *trace);
/* The same from a request id (NULL or "": none) and no trace. */
void cds_log_ctx_set_id(const char *request_id, cds_log_ctx *prev);
/* The current context's trace, or NULL when there is none. */
const cds_trace *cds_log_trace(void);

typedef struct cds_access {
    const char *request_id, *trace_id, *span_id, *proto, *method, *route, *peer;
    int status;
    uint64_t duration_us;
    size_t bytes_in, bytes_out;
} cds_access;
void cds_log_access(const cds_access *a);
void cds_log_access_enable(int on);

/* Masks in place: runs of 9+ digits keep only their last 3 digits; JWT-like
 * tokens ("eyJ...") and the value after "Bearer " become "***". Returns s. */
char *cds_scrub(char *s);
/* Masks a personal ID number for display: all but the last 3 digits as '*'. */
void cds_mask_id(const char *id, char *out, size_t cap);

/* RFC 3339 time with the Ho Chi Minh City offset (+07:00), millisecond precision. */
void cds_time_rfc3339(char *out, size_t cap);

#endif
