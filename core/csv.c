/* The shared CSV writer (see csv.h). */
#include "core/csv.h"

#include <stdlib.h>
#include <string.h>

static void put(cds_csv *c, const char *s, size_t n)
{
    cds_buf_add(&c->b, s, n);
}

void cds_csv_begin(cds_csv *c)
{
    memset(c, 0, sizeof *c);
    cds_buf_init(&c->b, CDS_CSV_MAX);
    put(c, "\xEF\xBB\xBF", 3);
}

static void sep(cds_csv *c)
{
    if (c->col++) put(c, ",", 1);
}

/* What a spreadsheet would take as the start of a formula (or, for tab and
 * CR, would strip to reach one). */
static int formula_lead(unsigned char ch)
{
    return ch == '=' || ch == '+' || ch == '-' || ch == '@' || ch == '\t' || ch == '\r';
}

static void field(cds_csv *c, const char *v, int neutralise)
{
    sep(c);
    if (!v || !*v) return;
    int prefix = neutralise && formula_lead((unsigned char)v[0]);
    int quote = prefix || strpbrk(v, ",\"\r\n") != NULL;
    if (quote) put(c, "\"", 1);
    if (prefix) put(c, "'", 1);
    for (const char *p = v; *p;) {
        const char *q = strchr(p, '"');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        put(c, p, n);
        if (!q) break;
        put(c, "\"\"", 2);
        p = q + 1;
    }
    if (quote) put(c, "\"", 1);
}

void cds_csv_text(cds_csv *c, const char *v)
{
    field(c, v, 1);
}

static int plain_number(const char *v)
{
    const char *p = v + (*v == '-');
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == 0;
}

void cds_csv_number(cds_csv *c, const char *v)
{
    field(c, v, !(v && plain_number(v)));
}

void cds_csv_row_end(cds_csv *c)
{
    put(c, "\r\n", 2);
    c->col = 0;
}

char *cds_csv_finish(cds_csv *c, size_t *len)
{
    char *s = cds_buf_take(&c->b, len);
    c->col = 0;
    return s;
}
