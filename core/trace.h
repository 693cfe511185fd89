/* W3C Trace Context (W3C Recommendation "Trace Context",
 * https://www.w3.org/TR/trace-context/: "Traceparent Header", "Tracestate
 * Header", "Mutating the traceparent Field"): the
 * trace a request belongs to, read from `traceparent`/`tracestate` or started
 * here, carried in every log line (core/log.h), on every outgoing call
 * (core/http_client.c) and into outbox rows (cds_trace_stored), so a message
 * sent later by a dispatcher continues the trace of the step that caused it.
 *
 * Ids come from OpenSSL's CSPRNG (RAND_bytes): a trace id must not be
 * guessable from another one ("Privacy Considerations", "Security Considerations"). */
#ifndef CDS_TRACE_H
#define CDS_TRACE_H
#include <stddef.h>

#define CDS_TRACEPARENT_LEN 55  /* "00-" 32 "-" 16 "-" 2 */
#define CDS_TRACESTATE_MAX 512  /* what we propagate at most ("tracestate Limits") */
#define CDS_TRACESTATE_MEMBERS 32

typedef struct cds_trace {
    char trace_id[33];  /* 32 lower-hex; "" when there is no trace */
    char span_id[17];   /* this operation's id: the parent-id of our outgoing calls */
    char parent_id[17]; /* the caller's span; "" when the trace started here */
    unsigned char flags;
    char state[CDS_TRACESTATE_MAX + 1]; /* tracestate to pass on, "" none */
} cds_trace;

/* Parses one traceparent value strictly ("traceparent Header Field Values"): version 00 is
 * exactly 55 characters; a higher version (01..fe) is read as "Versioning of traceparent"
 * says (the 00 fields first, then end or '-'); version ff, upper case,
 * wrong lengths, all-zero ids are invalid. Leading and trailing spaces and
 * tabs (OWS) are ignored. 0 with the fields set, or -1. */
int cds_traceparent_parse(const char *value, char trace_id[33], char parent_id[17],
                          unsigned char *flags);

/* The combined tracestate of the `n` header values (joined with ',' in
 * order, RFC 9110 section 5.3) into out: every list member checked against
 * the key/value grammar ("tracestate Header Field Values"), empty members dropped, more than
 * 32 members or one bad member discards the whole header (out = "");
 * longer than CDS_TRACESTATE_MAX: members over 128 characters go first,
 * then members from the right ("tracestate Limits"). cap > CDS_TRACESTATE_MAX.
 * Returns 0, or -1 when discarded. */
int cds_tracestate_combine(const char *const *values, int n, char *out, size_t cap);

/* n bytes at in as 2n lower-hex characters and a NUL at out (cap >= 2n + 1). */
void cds_hex_lower(char *out, const unsigned char *in, size_t n);
/* n random bytes as 2n lower-hex characters, never all zero. */
void cds_trace_random_hex(char *out, size_t nbytes);

/* The trace of an incoming request: continues `traceparent` (may be NULL)
 * when it is valid, with its tracestate values, else starts a new trace
 * (the tracestate is then dropped: "If the vendor failed to parse
 * traceparent, it MUST NOT attempt to parse tracestate"); a new span id either way. */
void cds_trace_begin(cds_trace *t, const char *traceparent, const char *const *states,
                     int nstates);
/* A new trace (no parent, flags 00, no state). */
void cds_trace_new(cds_trace *t);

/* "00-<trace-id>-<span>-<flags>" into out (cap > CDS_TRACEPARENT_LEN);
 * span: the parent-id to send (a new id for an outgoing call). -1 without a trace. */
int cds_traceparent_format(const cds_trace *t, const char *span, char *out, size_t cap);

/* The form stored in an outbox row: "<traceparent with our span>" then, when
 * there is a tracestate, one space and the tracestate. -1 without a trace
 * or when it does not fit. */
int cds_trace_stored(const cds_trace *t, char *out, size_t cap);
/* Continues a stored trace (a dispatcher sending a row): the trace id and
 * flags of `stored`, its span as parent, a new span id. -1 (t untouched)
 * when `stored` is not of that form. */
int cds_trace_resume(cds_trace *t, const char *stored);

#endif
