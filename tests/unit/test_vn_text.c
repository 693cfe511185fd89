/* The core text toolkit: UTF-8 decoding (well-formed, overlong, surrogate,
 * out of range, truncated), character counts and cuts at a byte limit,
 * strict YYYY-MM-DD day numbers (leap years, bounds, shape), thousands
 * grouping (signs, the extremes, a buffer too small) and the UUID check.
 * Diacritic folding has its own test (test_sms_text.c). */
#include "core/date.h"
#include "core/utf8.h"
#include "core/uuid.h"
#include "core/vn.h"
#include "tests/lib/t.h"

#include <limits.h>
#include <string.h>

static void test_utf8(void)
{
    uint32_t cp = 0;
    CHECK_INT(cds_utf8_next("a", &cp), 1);
    CHECK_INT(cp, 'a');
    CHECK_INT(cds_utf8_next("ệ", &cp), 3);
    CHECK_INT(cp, 0x1ec7);
    CHECK_INT(cds_utf8_next("\xc3\xa0", &cp), 2);
    CHECK_INT(cp, 0xe0);
    CHECK_INT(cds_utf8_next("\xf0\x9f\x98\x80", &cp), 4);
    CHECK_INT(cp, 0x1f600);
    CHECK_INT(cds_utf8_next("\xc0\x80", &cp), 0);         /* overlong NUL */
    CHECK_INT(cds_utf8_next("\xe0\x80\xaf", &cp), 0);     /* overlong '/' */
    CHECK_INT(cds_utf8_next("\xed\xa0\x80", &cp), 0);     /* surrogate */
    CHECK_INT(cds_utf8_next("\xf4\x90\x80\x80", &cp), 0); /* above U+10FFFF */
    CHECK_INT(cds_utf8_next("\xe1\xbb", &cp), 0);         /* truncated by the NUL */
    CHECK_INT(cds_utf8_next("\x80", &cp), 0);             /* stray continuation */

    CHECK_INT(cds_utf8_chars(""), 0);
    CHECK_INT(cds_utf8_chars("Nguyễn Văn An"), 13);

    const char *s = "aệb"; /* a, 3 bytes, b */
    CHECK_INT(cds_utf8_cut(s, 5, 10), 5);
    CHECK_INT(cds_utf8_cut(s, 5, 5), 5);
    CHECK_INT(cds_utf8_cut(s, 5, 4), 4);
    CHECK_INT(cds_utf8_cut(s, 5, 3), 1); /* not inside ệ */
    CHECK_INT(cds_utf8_cut(s, 5, 1), 1);
    CHECK_INT(cds_utf8_cut(s, 5, 0), 0);

    CHECK_INT(cds_utf8_whole(s, 5), 5);
    CHECK_INT(cds_utf8_whole(s, 4), 4);
    CHECK_INT(cds_utf8_whole(s, 3), 1); /* half of ệ left by a byte limit */
    CHECK_INT(cds_utf8_whole(s, 2), 1);
    CHECK_INT(cds_utf8_whole(s, 0), 0);
}

static void test_dates(void)
{
    long d = -2;
    CHECK_INT(cds_date_parse("1970-01-01", 1900, 2999, &d), 0);
    CHECK_INT(d, 0);
    CHECK_INT(cds_date_parse("2026-12-04", 2000, 2999, &d), 0);
    CHECK_INT(d, 20791);
    CHECK_INT(cds_date_parse("1969-12-31", 1900, 2999, &d), 0);
    CHECK_INT(d, -1); /* a day number, not an error */
    CHECK_INT(cds_date_parse("2024-02-29", 2000, 2999, &d), 0);
    CHECK_INT(cds_date_parse("2023-02-29", 2000, 2999, &d), -1);
    CHECK_INT(cds_date_parse("2000-02-29", 2000, 2999, NULL), 0); /* divisible by 400 */
    CHECK_INT(cds_date_parse("2100-02-29", 1900, 2100, NULL), -1); /* by 100, not 400 */
    CHECK_INT(cds_date_parse("2026-04-31", 2000, 2999, NULL), -1);
    CHECK_INT(cds_date_parse("2026-13-01", 2000, 2999, NULL), -1);
    CHECK_INT(cds_date_parse("2026-00-10", 2000, 2999, NULL), -1);
    CHECK_INT(cds_date_parse("2026-01-00", 2000, 2999, NULL), -1);
    CHECK_INT(cds_date_parse("1999-12-31", 2000, 2999, NULL), -1); /* bounds */
    CHECK_INT(cds_date_parse("3000-01-01", 2000, 2999, NULL), -1);
    CHECK_INT(cds_date_parse("2026-1-01", 2000, 2999, NULL), -1); /* shape */
    CHECK_INT(cds_date_parse("2026-01-011", 2000, 2999, NULL), -1);
    CHECK_INT(cds_date_parse("2026/01/01", 2000, 2999, NULL), -1);
    CHECK_INT(cds_date_parse("+026-01-01", 0, 2999, NULL), -1);
    CHECK_INT(cds_date_parse(NULL, 2000, 2999, NULL), -1);
    CHECK(cds_days_from_civil(2000, 3, 1) - cds_days_from_civil(2000, 2, 28) == 2);
    CHECK_INT(cds_date_valid(2024, 2, 29), 1);
    CHECK_INT(cds_date_valid(2024, 2, 30), 0);
}

static void test_grouped(void)
{
    char out[CDS_VN_GROUPED_MAX];
    CHECK_INT(cds_vn_grouped(0, out, sizeof out), 1);
    CHECK_STR(out, "0");
    CHECK_INT(cds_vn_grouped(999, out, sizeof out), 3);
    CHECK_STR(out, "999");
    CHECK_INT(cds_vn_grouped(1000, out, sizeof out), 5);
    CHECK_STR(out, "1.000");
    CHECK_INT(cds_vn_grouped(1250000, out, sizeof out), 9);
    CHECK_STR(out, "1.250.000");
    CHECK_INT(cds_vn_grouped(-123, out, sizeof out), 4);
    CHECK_STR(out, "-123"); /* no dot after the sign */
    CHECK_INT(cds_vn_grouped(-1234567, out, sizeof out), 10);
    CHECK_STR(out, "-1.234.567");
    CHECK(cds_vn_grouped(LLONG_MIN, out, sizeof out) > 0);
    CHECK_STR(out, "-9.223.372.036.854.775.808");
    char small[6];
    CHECK_INT(cds_vn_grouped(12345, small, sizeof small), 0); /* "12.345" needs 7 */
    CHECK_STR(small, "");
    CHECK_INT(cds_vn_grouped(1234, small, sizeof small), 5); /* exactly fits */
    CHECK_STR(small, "1.234");
}

static void test_uuid(void)
{
    CHECK_INT(cds_uuid_valid("3f2b8c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7b"), 1);
    CHECK_INT(cds_uuid_valid("3F2B8C1E-9A4D-4E6F-8B1A-2C3D4E5F6A7B"), 1);
    CHECK_INT(cds_uuid_valid("3f2b8c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7"), 0);
    CHECK_INT(cds_uuid_valid("3f2b8c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7bb"), 0);
    CHECK_INT(cds_uuid_valid("3f2b8c1e09a4d-4e6f-8b1a-2c3d4e5f6a7b"), 0);
    CHECK_INT(cds_uuid_valid("3f2b8c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7g"), 0);
    CHECK_INT(cds_uuid_valid(NULL), 0);
    char id[37];
    cds_uuid_v4(id);
    CHECK_INT(cds_uuid_valid(id), 1);
}

int main(void)
{
    test_utf8();
    test_dates();
    test_grouped();
    test_uuid();
    return t_done();
}
