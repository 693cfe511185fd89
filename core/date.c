/* Day numbers (date.h). The conversion is Howard Hinnant's days_from_civil:
 * years start in March so the leap day is the last of the year, an era is
 * 400 years (146,097 days). */
#include "core/date.h"

#include <string.h>

long long cds_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int cds_date_valid(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

int cds_date_parse(const char *s, int min_year, int max_year, long *day)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return -1;
    int v[3] = {0, 0, 0}, k = 0;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            k++;
            continue;
        }
        if (s[i] < '0' || s[i] > '9') return -1;
        v[k] = v[k] * 10 + (s[i] - '0');
    }
    if (v[0] < min_year || v[0] > max_year || !cds_date_valid(v[0], v[1], v[2])) return -1;
    if (day) *day = (long)cds_days_from_civil(v[0], v[1], v[2]);
    return 0;
}
