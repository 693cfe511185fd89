/* Vietnamese formats: personal ID numbers (căn cước, 12 digits, the first
 * three a province code) and mobile phone numbers checked at the edge, the
 * latter normalised to the national form, e.g. "0912345678"; amounts
 * written the Vietnamese way, thousands grouped by dots ("1.250.000"). */
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

/* v with its thousands grouped by dots: -1234567 -> "-1.234.567". Returns
 * the length written; 0 with out "" when cap (NUL included) is too small,
 * which CDS_VN_GROUPED_MAX never is. */
#define CDS_VN_GROUPED_MAX 32
size_t cds_vn_grouped(long long v, char *out, size_t cap);

#endif
