/* Vietnamese formats checked at the edge: personal ID numbers (căn cước,
 * 12 digits, the first three a province code) and mobile phone numbers,
 * normalised to the national form, e.g. "0912345678". */
#ifndef CDS_VN_H
#define CDS_VN_H
#include <stddef.h>

/* 1 when s is exactly 12 ASCII digits whose first three are a province code
 * (001..096, as issued since 2016). */
int cds_vn_pid_valid(const char *s);
/* Accepts "0912345678", "+84912345678", "84912345678" (spaces, dots and dashes
 * between digits tolerated) for the mobile prefixes 03/05/07/08/09; writes
 * "0912345678" to out (cap >= 11). Returns 0, or -1 when not a mobile number. */
int cds_vn_phone_normalize(const char *in, char *out, size_t cap);

#endif
