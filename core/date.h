/* Calendar dates as day numbers: days since 1970-01-01 of a civil date
 * (proleptic Gregorian), and the strict "YYYY-MM-DD" parser that every
 * date range, export window and form field uses. */
#ifndef CDS_DATE_H
#define CDS_DATE_H

/* Days since 1970-01-01 of y-m-d (negative before); m and d are not
 * checked, see cds_date_valid. */
long long cds_days_from_civil(int y, int m, int d);
/* 1 when y-m-d names a day that exists. */
int cds_date_valid(int y, int m, int d);
/* 0 when s is exactly "YYYY-MM-DD" naming a day that exists with
 * min_year <= YYYY <= max_year, its day number then in *day (when not
 * NULL); -1 otherwise. */
int cds_date_parse(const char *s, int min_year, int max_year, long *day);

#endif
