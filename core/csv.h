/* CSV that spreadsheets open safely, for every export (payments'
 * reconciliation, receipts' daily export): a UTF-8 byte order mark first (so
 * Excel reads Vietnamese text as UTF-8), RFC 4180 quoting (a field holding a
 * comma, quote, CR or LF is quoted, quotes doubled; rows end in CRLF), and
 * text that a spreadsheet would run as a formula (a cell starting with =, +,
 * -, @, tab or CR) prefixed with a single quote, as OWASP advises.
 * Numbers written with cds_csv_number stay numbers ("-5000"); anything that
 * is not a plain decimal number is treated as text. */
#ifndef CDS_CSV_H
#define CDS_CSV_H
#include "core/buf.h"

#include <stddef.h>

/* The largest document: the rows are in memory already (a PGresult), this
 * only stops a runaway. */
#define CDS_CSV_MAX ((size_t)1 << 30)

typedef struct cds_csv {
    cds_buf b; /* past CDS_CSV_MAX or out of memory: cds_csv_finish returns NULL */
    int col;   /* fields in the current row */
} cds_csv;

/* Starts a document: zeroes *c and writes the byte order mark. */
void cds_csv_begin(cds_csv *c);
void cds_csv_text(cds_csv *c, const char *v);   /* NULL: an empty field */
void cds_csv_number(cds_csv *c, const char *v); /* text unless -?digits[.digits] */
void cds_csv_row_end(cds_csv *c);
/* The document (malloc'ed, NUL-terminated, *len set), or NULL when out of
 * memory or over CDS_CSV_MAX; either way *c is spent. */
char *cds_csv_finish(cds_csv *c, size_t *len);

#endif
