/* JSON text written straight into a core/buf buffer: a string quoted and
 * escaped as RFC 8259 section 7 says (what jansson's json_dumps writes:
 * '"', '\\' and the control characters escaped, the rest as is), and object
 * members. For the hot paths that only write JSON (a provider's request
 * body, an outbox result): no tree of json_t to build, dump and free.
 *
 * Text that is not UTF-8 is refused as jansson refuses it: the buffer is
 * failed (cds_buf_fail), so whoever sends it sees the failure. */
#ifndef CDS_JSON_OUT_H
#define CDS_JSON_OUT_H
#include "core/buf.h"

/* s as a JSON string, quotes included; CDS_BUF_OK or the buffer's error. */
int cds_json_str(cds_buf *b, const char *s);
int cds_json_strn(cds_buf *b, const char *s, size_t n);

/* One member of the object being written: `"key":value`, preceded by a
 * comma unless it is the first (the buffer ends with '{'). The key is
 * escaped too. */
int cds_json_member_str(cds_buf *b, const char *key, const char *s);
int cds_json_member_int(cds_buf *b, const char *key, long long v);
/* As cds_json_member_str, but the member is left out when s is not UTF-8
 * (as jansson leaves out a json_string of such text): for text that may come
 * cut or from outside, such as an error message, where a missing member is
 * better than a failed object. */
int cds_json_member_text(cds_buf *b, const char *key, const char *s);
/* value: JSON text written as is (an object or array written before, true). */
int cds_json_member_raw(cds_buf *b, const char *key, const char *json);

#endif
