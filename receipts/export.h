/* The daily export of receipts for the tax authority's summary report,
 * shared by the partner route and `cds receipt export`: the rows of SQL
 * cds_receipt_export(from, to) (every receipt issued on those Vietnam
 * calendar days, then the totals per template, serial and fee) written as
 * JSON lines or CSV (core/csv.h: byte order mark, RFC 4180, formulas
 * neutralised; header first). */
#ifndef CDS_RECEIPT_EXPORT_H
#define CDS_RECEIPT_EXPORT_H
#include <libpq-fe.h>
#include <stddef.h>

#define CDS_RECEIPT_EXPORT_MAX_DAYS 31
#define CDS_RECEIPT_EXPORT_SQL "SELECT * FROM cds_receipt_export($1::date, $2::date)"

/* 0 when from and to are real dates YYYY-MM-DD, from <= to, and the range
 * spans at most CDS_RECEIPT_EXPORT_MAX_DAYS days; else -1 with *why, a
 * Vietnamese sentence. to may be NULL (one day). */
int cds_receipt_date_range(const char *from, const char *to, const char **why);
/* The rows of CDS_RECEIPT_EXPORT_SQL as JSON lines (csv = 0) or CSV
 * (malloc'ed, *len set); NULL when out of memory. */
char *cds_receipt_export_render(PGresult *res, int csv, size_t *len);

#endif
