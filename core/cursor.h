/* Opaque pagination cursors: the position of the last item of a page
 * (e.g. "2026-11-22T09:30:00.123456+07:00|<uuid>") wrapped as
 * base64url(position "." tag) where the tag is a truncated HMAC-SHA256 under
 * a server key, so a client cannot craft or alter one (a tampered cursor is
 * a 400, never an odd query). The key is shared by every node (configured). */
#ifndef CDS_CURSOR_H
#define CDS_CURSOR_H
#include <stddef.h>

/* Sets the process-wide key (32 bytes). */
void cds_cursor_set_key(const unsigned char key[32]);
/* Encodes `position` (≤ 256 bytes) into out; returns 0 or -1 if it does not fit. */
int cds_cursor_encode(const char *position, char *out, size_t cap);
/* Decodes and checks a cursor; 0 and the position in out, or -1 (tampered,
 * malformed, too long). */
int cds_cursor_decode(const char *cursor, char *out, size_t cap);

/* 1 when `s` is a timestamp as PostgreSQL prints one ("2026-11-22
 * 09:30:00.123456+07"; 'T' and 'Z' accepted too) on a date that exists. The
 * time part of a "<timestamp>|<uuid>" position is checked with it before it
 * reaches a query, so a position that is signed but wrong is a 400, never a
 * cast error (503). */
int cds_cursor_time_ok(const char *s);

#endif
