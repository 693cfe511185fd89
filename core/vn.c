/* Vietnamese identifiers (see vn.h). */
#include "core/vn.h"

#include "core/buf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int cds_vn_pid_valid(const char *s)
{
    if (!s || strlen(s) != 12) return 0;
    for (int i = 0; i < 12; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    int province = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    return province >= 1 && province <= 96;
}

int cds_vn_phone_normalize(const char *in, char *out, size_t cap)
{
    char d[24];
    size_t n = 0;
    if (!in || cap < 11) return -1;
    const char *p = in;
    if (*p == '+') p++;
    for (; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n + 1 >= sizeof d) return -1;
            d[n++] = *p;
        } else if (*p != ' ' && *p != '.' && *p != '-') {
            return -1;
        }
    }
    d[n] = 0;
    const char *national;
    if (n == 11 && d[0] == '8' && d[1] == '4') national = d + 2; /* e.g. 84912345678 */
    else if (n == 10 && d[0] == '0') national = d + 1;
    else return -1;
    if (!strchr("35789", national[0])) return -1;
    out[0] = '0';
    memcpy(out + 1, national, 9);
    out[10] = 0;
    return 0;
}

size_t cds_vn_grouped(long long v, char *out, size_t cap)
{
    char d[24];
    int n = snprintf(d, sizeof d, "%lld", v), i = d[0] == '-';
    cds_buf b;
    cds_buf_init_fixed(&b, out, cap);
    cds_buf_add(&b, d, (size_t)i);
    for (int k = i; k < n; k++) {
        if (k > i && (n - k) % 3 == 0) cds_buf_addc(&b, '.');
        cds_buf_addc(&b, d[k]);
    }
    if (!b.err) return b.len;
    if (cap) out[0] = '\0';
    return 0;
}
