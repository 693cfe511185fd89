/* The shared CSV writer (core/csv.h): byte order mark, RFC 4180 quoting,
 * cells a spreadsheet would run as formulas neutralised, numbers kept. */
#include "core/csv.h"
#include "tests/lib/t.h"

#include <stdlib.h>

static char *one_row(const char *const *text, const char *number)
{
    cds_csv w;
    cds_csv_begin(&w);
    for (size_t i = 0; text[i]; i++) cds_csv_text(&w, text[i]);
    if (number) cds_csv_number(&w, number);
    cds_csv_row_end(&w);
    size_t len = 0;
    char *s = cds_csv_finish(&w, &len);
    CHECK(s && strlen(s) == len);
    return s;
}

static void row_is(const char *const *text, const char *number, const char *want)
{
    char *s = one_row(text, number);
    char full[512];
    snprintf(full, sizeof full, "\xEF\xBB\xBF%s\r\n", want);
    if (!s || strcmp(s, full) != 0) fprintf(stderr, "got [%s], want [%s]\n", s ? s : "(null)", full);
    CHECK(s && strcmp(s, full) == 0);
    free(s);
}

int main(void)
{
    row_is((const char *[]){"a", "b c", NULL}, NULL, "a,b c");
    row_is((const char *[]){"x,y", "say \"hi\"", "l1\nl2", NULL}, NULL,
           "\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\"");
    row_is((const char *[]){"Nguyễn Văn Ân", "", NULL}, NULL, "Nguyễn Văn Ân,");
    /* Formulas: =, +, -, @, and tab or CR that a spreadsheet strips. */
    row_is((const char *[]){"=1+2", "+1", "-2+3", "@SUM(A1)", NULL}, NULL,
           "\"'=1+2\",\"'+1\",\"'-2+3\",\"'@SUM(A1)\"");
    row_is((const char *[]){"\t=1", "\r=1", NULL}, NULL, "\"'\t=1\",\"'\r=1\"");
    row_is((const char *[]){"=HYPERLINK(\"http://x\",\"y\")", NULL}, NULL,
           "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
    row_is((const char *[]){"a=b", "1-2", NULL}, NULL, "a=b,1-2"); /* only a leading one */
    /* Numbers stay numbers; what is not a plain number is text. */
    row_is((const char *[]){NULL}, "-5000", "-5000");
    row_is((const char *[]){NULL}, "12.50", "12.50");
    row_is((const char *[]){NULL}, "-1+1", "\"'-1+1\"");
    row_is((const char *[]){NULL}, "-", "\"'-\"");
    row_is((const char *[]){NULL}, "1e5", "1e5");
    /* An empty (NULL) field, and the separator between rows. */
    cds_csv w;
    cds_csv_begin(&w);
    cds_csv_text(&w, NULL);
    cds_csv_text(&w, "b");
    cds_csv_row_end(&w);
    cds_csv_text(&w, "c");
    cds_csv_row_end(&w);
    size_t len;
    char *s = cds_csv_finish(&w, &len);
    CHECK_STR(s, "\xEF\xBB\xBF,b\r\nc\r\n");
    free(s);
    return t_done();
}
