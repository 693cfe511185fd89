/* The capped buffer: the maximum reached exactly and passed by one byte,
 * zero-length appends, growth through several reallocations, printf past
 * the cap, the sticky error, fixed (caller-owned) memory, take and reset. */
#include "core/buf.h"
#include "tests/lib/t.h"

#include <stdlib.h>
#include <string.h>

static void test_cap_exact(void)
{
    cds_buf b;
    cds_buf_init(&b, 5);
    CHECK_INT(cds_buf_adds(&b, "abc"), CDS_BUF_OK);
    CHECK_INT(cds_buf_add(&b, "de", 2), CDS_BUF_OK); /* exactly max */
    CHECK_INT(b.len, 5);
    CHECK_STR(cds_buf_str(&b), "abcde");
    CHECK_INT(cds_buf_add(&b, "", 0), CDS_BUF_OK); /* nothing more fits, nothing asked */
    CHECK_INT(b.err, 0);
    CHECK_INT(cds_buf_addc(&b, 'f'), CDS_BUF_E_CAP); /* max + 1 */
    CHECK_INT(b.len, 5);
    CHECK_STR(cds_buf_str(&b), "abcde"); /* not cut, not changed */
    CHECK_INT(b.need, 6);
    CHECK(b.cap <= 6); /* never more than max + 1 allocated */
    /* Sticky: a later append that would fit fails too. */
    cds_buf_reset(&b);
    CHECK_INT(cds_buf_adds(&b, "x"), CDS_BUF_OK);
    CHECK_INT(cds_buf_adds(&b, "123456"), CDS_BUF_E_CAP);
    CHECK_INT(cds_buf_adds(&b, "y"), CDS_BUF_E_CAP);
    CHECK_STR(cds_buf_str(&b), "x");
    CHECK_INT(b.need, 8);
    CHECK(cds_buf_take(&b, NULL) == NULL); /* a failed buffer hands nothing */
    CHECK(b.p == NULL && b.len == 0);
    cds_buf_free(&b);
}

static void test_empty(void)
{
    cds_buf b;
    cds_buf_init(&b, 0);
    CHECK_STR(cds_buf_str(&b), "");
    CHECK_INT(cds_buf_add(&b, NULL, 0), CDS_BUF_OK);
    CHECK_INT(cds_buf_printf(&b, "%s", ""), CDS_BUF_OK);
    CHECK_INT(b.len, 0);
    CHECK_INT(cds_buf_addc(&b, 'a'), CDS_BUF_E_CAP);
    cds_buf_free(&b);
    cds_buf_init(&b, 10);
    size_t n = 99;
    char *s = cds_buf_take(&b, &n); /* empty content: an allocated "" */
    CHECK(s && s[0] == '\0' && n == 0);
    free(s);
}

static void test_growth(void)
{
    cds_buf b;
    cds_buf_init(&b, 100000);
    char chunk[333];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 300; i++)
        CHECK_INT(cds_buf_add(&b, chunk, sizeof chunk), CDS_BUF_OK); /* 99,900 bytes */
    CHECK_INT(b.len, 99900);
    CHECK(b.cap >= 99901 && b.cap <= 100001);
    CHECK_INT(cds_buf_printf(&b, "%0100d", 7), CDS_BUF_OK); /* to 100,000 exactly */
    CHECK_INT(b.len, 100000);
    CHECK(b.p[99999] == '7' && b.p[100000] == '\0');
    CHECK_INT(cds_buf_printf(&b, "%d", 1), CDS_BUF_E_CAP);
    CHECK_INT(b.len, 100000);
    CHECK(b.p[100000] == '\0');
    cds_buf_free(&b);
}

static void test_printf(void)
{
    cds_buf b;
    cds_buf_init(&b, 12);
    CHECK_INT(cds_buf_printf(&b, "%s-%d", "ab", 42), CDS_BUF_OK);
    CHECK_STR(cds_buf_str(&b), "ab-42");
    /* Longer than what is allocated but within max: grows and retries. */
    CHECK_INT(cds_buf_printf(&b, "%7s", "q"), CDS_BUF_OK);
    CHECK_STR(cds_buf_str(&b), "ab-42      q");
    CHECK_INT(cds_buf_printf(&b, "%d", 5), CDS_BUF_E_CAP);
    CHECK_STR(cds_buf_str(&b), "ab-42      q");
    size_t n;
    char *s = cds_buf_take(&b, &n);
    CHECK(s == NULL && n == 0);
    /* printf past the max on a buffer whose memory would hold it. */
    cds_buf_init(&b, 300);
    CHECK_INT(cds_buf_adds(&b, "x"), CDS_BUF_OK); /* 256 bytes allocated */
    CHECK_INT(cds_buf_printf(&b, "%400d", 1), CDS_BUF_E_CAP);
    CHECK_STR(cds_buf_str(&b), "x");
    CHECK_INT(b.need, 401);
    cds_buf_free(&b);
    cds_buf_init(&b, 300);
    CHECK_INT(cds_buf_printf(&b, "%299d", 1), CDS_BUF_OK);
    s = cds_buf_take(&b, &n);
    CHECK(s && n == 299 && s[298] == '1' && s[299] == '\0');
    free(s);
}

static void test_fixed(void)
{
    char mem[6];
    memset(mem, '#', sizeof mem);
    cds_buf b;
    cds_buf_init_fixed(&b, mem, 4); /* room for 3 and the NUL, mem[4..5] untouched */
    CHECK_STR(cds_buf_str(&b), "");
    CHECK_INT(cds_buf_adds(&b, "ab"), CDS_BUF_OK);
    CHECK_INT(cds_buf_printf(&b, "%d", 1), CDS_BUF_OK); /* cap exactly */
    CHECK_STR(mem, "ab1");
    CHECK_INT(cds_buf_printf(&b, "%d", 2), CDS_BUF_E_CAP);
    CHECK_INT(cds_buf_add(&b, "c", 1), CDS_BUF_E_CAP);
    CHECK_STR(mem, "ab1");
    CHECK(mem[4] == '#' && mem[5] == '#');
    CHECK_INT(b.need, 5); /* what a caller would need: 5 and the NUL */
    CHECK(cds_buf_take(&b, NULL) == NULL); /* the memory is not the buffer's */
    cds_buf_free(&b);                        /* frees nothing */
    CHECK(b.p == mem && b.len == 0 && b.err == 0);
    CHECK_INT(cds_buf_adds(&b, "xyz"), CDS_BUF_OK);
    CHECK_STR(mem, "xyz");
}

int main(void)
{
    test_cap_exact();
    test_empty();
    test_growth();
    test_printf();
    test_fixed();
    return t_done();
}
