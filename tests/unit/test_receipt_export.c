/* The daily export's date range check (receipts/export.h): real dates
 * only, from <= to, at most 31 days; each refusal names why. */
#include "receipts/export.h"
#include "tests/lib/t.h"

static int ok(const char *from, const char *to)
{
    const char *why = NULL;
    int rc = cds_receipt_date_range(from, to, &why);
    if (rc != 0 && (!why || !*why)) return -2; /* a refusal must say why */
    return rc;
}

int main(void)
{
    CHECK_INT(ok("2026-11-23", NULL), 0);
    CHECK_INT(ok("2026-11-23", "2026-11-23"), 0);
    CHECK_INT(ok("2026-11-01", "2026-12-01"), 0);   /* 31 days */
    CHECK_INT(ok("2026-11-01", "2026-12-02"), -1);  /* 32 days */
    CHECK_INT(ok("2024-02-29", NULL), 0);           /* leap day */
    CHECK_INT(ok("2026-02-29", NULL), -1);
    CHECK_INT(ok("2026-02-30", NULL), -1);
    CHECK_INT(ok("2026-04-31", NULL), -1);
    CHECK_INT(ok("2100-02-29", NULL), -1);          /* not a leap year */
    CHECK_INT(ok("2000-02-29", NULL), 0);           /* a leap year */
    CHECK_INT(ok("2026-11-20", "2026-11-19"), -1);  /* backwards */
    CHECK_INT(ok("2026-12-31", "2027-01-01"), 0);   /* across a year */
    CHECK_INT(ok("2026-1-1", NULL), -1);
    CHECK_INT(ok("2026/11/23", NULL), -1);
    CHECK_INT(ok("2026-11-23T00", NULL), -1);
    CHECK_INT(ok("", NULL), -1);
    CHECK_INT(ok(NULL, NULL), -1);
    CHECK_INT(ok("yesterday", NULL), -1);
    CHECK_INT(ok("1999-12-31", NULL), -1);
    CHECK_INT(ok("2026-13-01", NULL), -1);
    CHECK_INT(ok("2026-00-10", NULL), -1);
    CHECK_INT(ok("2026-11-00", NULL), -1);
    CHECK_INT(ok("2026-11-23", "2026-11-2x"), -1);
    return t_done();
}
