/* payment/reference: payment reference codes.
 *
 * The check symbol against every single wrong symbol and every swap of
 * neighbours; generated references valid and distinct; a random body
 * passing the check about one time in 32 (so the check is not degenerate);
 * then cds_payref_find on transfer descriptions as Vietnamese bank apps
 * deliver them (Vietcombank, MB, Techcombank, VietinBank, BIDV, ACB,
 * Agribank, TPBank, e-wallets), mangled by case, separators and
 * look-alike letters, and on descriptions that must not match. */
#include "payment/reference.h"
#include "tests/lib/t.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Made with cds_payref_make from fixed symbols (see test_make). */
#define A "CDS7M2K9QX4P1"
#define B "CDSY150VC8G37"
#define C "CDS00110RENAJ"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void test_make(void)
{
    char out[CDS_PAYREF_LEN + 1];
    const unsigned char a[9] = {7, 20, 2, 19, 9, 23, 29, 4, 22};
    cds_payref_make(a, out);
    CHECK_STR(out, A);
    const unsigned char b[9] = {30, 1, 5, 0, 27, 12, 8, 16, 3};
    cds_payref_make(b, out);
    CHECK_STR(out, B);
    const unsigned char c[9] = {0, 0, 1, 1, 0, 24, 14, 21, 10};
    cds_payref_make(c, out);
    CHECK_STR(out, C);
    /* only the low 5 bits count */
    const unsigned char a2[9] = {7 + 32, 20 + 64, 2 + 128, 19, 9, 23, 29, 4, 22 + 224};
    cds_payref_make(a2, out);
    CHECK_STR(out, A);
    CHECK_INT(strlen(out), CDS_PAYREF_LEN);
}

static void test_valid(void)
{
    CHECK(cds_payref_valid(A));
    CHECK(cds_payref_valid(B));
    CHECK(cds_payref_valid(C));
    CHECK(!cds_payref_valid(NULL));
    CHECK(!cds_payref_valid(""));
    CHECK(!cds_payref_valid("cds7m2k9qx4p1")); /* canonical only */
    CHECK(!cds_payref_valid("CDS 7M2K9QX4P1"));
    CHECK(!cds_payref_valid("CDSOO11ORENAJ")); /* look-alikes are for find */
    CHECK(!cds_payref_valid(A "0"));
    CHECK(!cds_payref_valid("CDS7M2K9QX4P"));
    CHECK(!cds_payref_valid("XDS7M2K9QX4P1"));

    /* every single wrong symbol, every swap of different neighbours */
    const char *refs[] = {A, B, C};
    int subst_caught = 0, subst = 0, swap_caught = 0, swap = 0;
    char m[CDS_PAYREF_LEN + 1], found[CDS_PAYREF_LEN + 1];
    for (int r = 0; r < 3; r++) {
        for (int pos = 3; pos < CDS_PAYREF_LEN; pos++) {
            for (int s = 0; s < 32; s++) {
                memcpy(m, refs[r], sizeof m);
                if (m[pos] == alphabet[s]) continue;
                m[pos] = alphabet[s];
                subst++;
                subst_caught +=
                    !cds_payref_valid(m) && cds_payref_find(m, found) == CDS_PAYREF_NONE;
            }
            if (pos + 1 < CDS_PAYREF_LEN && refs[r][pos] != refs[r][pos + 1]) {
                memcpy(m, refs[r], sizeof m);
                m[pos] = refs[r][pos + 1];
                m[pos + 1] = refs[r][pos];
                swap++;
                swap_caught += !cds_payref_valid(m) && cds_payref_find(m, found) == CDS_PAYREF_NONE;
            }
        }
    }
    CHECK_INT(subst, 3 * 10 * 31);
    CHECK_INT(subst_caught, subst);
    CHECK(swap >= 25);
    CHECK_INT(swap_caught, swap);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static unsigned next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 11);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_generated(void)
{
    enum { N = 2000 };
    static char refs[N][CDS_PAYREF_LEN + 1];
    int ok = 0;
    for (int i = 0; i < N; i++) {
        char text[80], low[CDS_PAYREF_LEN + 1], spaced[40], out[CDS_PAYREF_LEN + 1];
        CHECK_INT(cds_payref_new(refs[i]), 0);
        int v = cds_payref_valid(refs[i]);
        for (int k = 0; k <= CDS_PAYREF_LEN; k++)
            low[k] = (char)tolower((unsigned char)refs[i][k]);
        snprintf(spaced, sizeof spaced, "%.3s %.3s-%.4s %.3s", refs[i], refs[i] + 3, refs[i] + 6,
                 refs[i] + 10);
        snprintf(text, sizeof text, "IBFT %s Nguyen Van A", low);
        v = v && cds_payref_find(text, out) == CDS_PAYREF_FOUND && strcmp(out, refs[i]) == 0;
        v = v && cds_payref_find(spaced, out) == CDS_PAYREF_FOUND && strcmp(out, refs[i]) == 0;
        ok += v;
    }
    CHECK_INT(ok, N);
    qsort(refs, N, sizeof refs[0], cmp_str);
    int dup = 0;
    for (int i = 1; i < N; i++)
        dup += strcmp(refs[i - 1], refs[i]) == 0;
    CHECK_INT(dup, 0);

    /* random bodies pass the check about 1 time in 32 */
    int pass = 0;
    for (int i = 0; i < 32000; i++) {
        char m[CDS_PAYREF_LEN + 1] = "CDS";
        for (int k = 3; k < CDS_PAYREF_LEN; k++)
            m[k] = alphabet[next_rand() & 31];
        m[CDS_PAYREF_LEN] = 0;
        pass += cds_payref_valid(m);
    }
    CHECK(pass > 800 && pass < 1200);
}

typedef struct fcase {
    const char *text;
    int rc;
    const char *ref;
} fcase;

static const fcase finds[] = {
    /* as typed */
    {A, CDS_PAYREF_FOUND, A},
    {"cds7m2k9qx4p1", CDS_PAYREF_FOUND, A},
    {"Cds7M2k9Qx4P1", CDS_PAYREF_FOUND, A},
    {"CDS 7M2-K9QX4P1", CDS_PAYREF_FOUND, A},
    {"CDS-7M2K-9QX4-P1", CDS_PAYREF_FOUND, A},
    {"CDS.7M2K9QX4P1", CDS_PAYREF_FOUND, A},
    {"cds 7m2 k9q x4p 1", CDS_PAYREF_FOUND, A},
    {"C D S 7 M 2 K 9 Q X 4 P 1", CDS_PAYREF_FOUND, A},
    {"CDS - 7M2K9QX4P1", CDS_PAYREF_FOUND, A},
    {"CDS_7M2K9QX4P1", CDS_PAYREF_FOUND, A},
    {"(CDS7M2K9QX4P1)", CDS_PAYREF_FOUND, A},
    {"\"cds7m2k9qx4p1\"", CDS_PAYREF_FOUND, A},
    /* look-alikes: O for 0, I and L for 1 */
    {"CDSOO11ORENAJ", CDS_PAYREF_FOUND, C},
    {"cdsooilorenaj", CDS_PAYREF_FOUND, C},
    {"CDS0OIL0RENAJ", CDS_PAYREF_FOUND, C},
    {"CDS 7M2K9QX4PI", CDS_PAYREF_FOUND, A},
    {"cds7m2k9qx4pl", CDS_PAYREF_FOUND, A},
    /* Vietcombank (internet/mobile banking, "MBVCB.<ref>.<seq>.<content>.CT tu ...") */
    {"MBVCB.5678901234.075896.CDS7M2K9QX4P1.CT tu 1012345678 NGUYEN VAN A toi 0071001234567 UBND "
     "PHUONG BEN NGHE tai Vietcombank",
     CDS_PAYREF_FOUND, A},
    {"MBVCB.5678901234.075896.cds 7m2k9qx4p1.CT tu 1012345678 NGUYEN VAN A toi 0071001234567",
     CDS_PAYREF_FOUND, A},
    {"IBVCB.1234567890.CDS7M2K9QX4P1 NOP LE PHI.CT tu 0011004123456 TRAN THI B toi 0071001234567",
     CDS_PAYREF_FOUND, A},
    /* MB Bank */
    {"NGUYEN VAN A chuyen tien CDS7M2K9QX4P1 FT24280123456789", CDS_PAYREF_FOUND, A},
    {"CDS7M2K9QX4P1- Ma GD ACSP/ lU123456", CDS_PAYREF_FOUND, A},
    {"CUSTOMER CDS7M2K9QX4P1. TU: NGUYEN VAN A", CDS_PAYREF_FOUND, A},
    /* Techcombank */
    {"NGUYEN VAN A chuyen khoan CDS7M2K9QX4P1", CDS_PAYREF_FOUND, A},
    {"CDSY150VC8G37 FT24280987654321", CDS_PAYREF_FOUND, B},
    /* VietinBank */
    {"CT DEN:428012345678 CDS7M2K9QX4P1", CDS_PAYREF_FOUND, A},
    {"CT DEN:428012345678 NGUYEN VAN A chuyen tien le phi CDSY150VC8G37", CDS_PAYREF_FOUND, B},
    /* BIDV */
    {"TKThe :0123456789, tai MB. CDS7M2K9QX4P1 -CTLNHIDO000009876543210-1/1-CRE-002",
     CDS_PAYREF_FOUND, A},
    {"REM Tfr Ac: 12510000123456 CDS7M2K9QX4P1 NGUYEN VAN A", CDS_PAYREF_FOUND, A},
    /* ACB */
    {"CDS7M2K9QX4P1 GD 189604-100624 09:15:02", CDS_PAYREF_FOUND, A},
    {"NGUYEN VAN A CK CDS00110RENAJ GD 189604-100624 09:15:02", CDS_PAYREF_FOUND, C},
    /* Agribank, NAPAS fast transfers */
    {"IBFT CDS7M2K9QX4P1", CDS_PAYREF_FOUND, A},
    {"IBFT Thanh toan CDS7M2K9QX4P1 ma GD 123456", CDS_PAYREF_FOUND, A},
    /* TPBank, glued suffix */
    {"CDS7M2K9QX4P1-TPB", CDS_PAYREF_FOUND, A},
    /* glued on both sides */
    {"IBFTCDS7M2K9QX4P1NGUYEN VAN A", CDS_PAYREF_FOUND, A},
    {"NOPLEPHICDS7M2K9QX4P1", CDS_PAYREF_FOUND, A},
    /* e-wallets and text with diacritics around */
    {"Chuyển tiền CDS7M2K9QX4P1 qua Ví MoMo", CDS_PAYREF_FOUND, A},
    {"ZaloPay: Nộp lệ phí hồ sơ mã CDS 7M2K 9QX4 P1 - Nguyễn Văn A", CDS_PAYREF_FOUND, A},
    {"Thanh toán lệ phí cấp phép xây dựng; mã: cds-y150-vc8g-37", CDS_PAYREF_FOUND, B},
    /* a C just before the prefix */
    {"CCDS7M2K9QX4P1", CDS_PAYREF_FOUND, A},
    {"ABCDS7M2K9QX4P1", CDS_PAYREF_FOUND, A},
    /* the same reference twice is one */
    {"CDS7M2K9QX4P1 CDS7M2K9QX4P1", CDS_PAYREF_FOUND, A},
    {"CDS7M2K9QX4P1 cds 7m2k9qx4p1", CDS_PAYREF_FOUND, A},
    /* two different ones: the first, flagged */
    {"CDS7M2K9QX4P1 va CDSY150VC8G37", CDS_PAYREF_SEVERAL, A},
    {"le phi CDSY150VC8G37, CDS00110RENAJ", CDS_PAYREF_SEVERAL, B},

    /* no reference */
    {"", CDS_PAYREF_NONE, ""},
    {"CT tu 0123456789 NGUYEN VAN A toi 0071001234567", CDS_PAYREF_NONE, ""},
    {"Thanh toan le phi ho so", CDS_PAYREF_NONE, ""},
    {"MBVCB.5678901234.075896.NGUYEN VAN A chuyen tien.CT tu 1012345678 toi 0071001234567",
     CDS_PAYREF_NONE, ""},
    {"CDS", CDS_PAYREF_NONE, ""},
    {"CDS 12345", CDS_PAYREF_NONE, ""},
    {"CDS7M2K9QX4P", CDS_PAYREF_NONE, ""},              /* check symbol missing */
    {"CDS7M2K9QX4P NGUYEN VAN A", CDS_PAYREF_NONE, ""}, /* a symbol dropped */
    {"CDS7M2K9QX4P2", CDS_PAYREF_NONE, ""},             /* last symbol wrong */
    {"CDS8M2K9QX4P1", CDS_PAYREF_NONE, ""},             /* first symbol wrong */
    {"CDSM72K9QX4P1", CDS_PAYREF_NONE, ""},             /* neighbours swapped */
    {"CDS7M2K9QX41P", CDS_PAYREF_NONE, ""},             /* swapped with the check symbol */
    {"CDS7M2K9QU4P1", CDS_PAYREF_NONE, ""},             /* U is not in the alphabet */
    {"CDX7M2K9QX4P1", CDS_PAYREF_NONE, ""},             /* another prefix */
    {"7M2K9QX4P1", CDS_PAYREF_NONE, ""},                /* no prefix at all */
    {"CDS    7M2K9QX4P1", CDS_PAYREF_NONE, ""},         /* 4 separators: too far */
    {"CDS7M2K9 \t\r\n QX4P1", CDS_PAYREF_NONE, ""},
    {"CDS7M2K9QXđ4P1", CDS_PAYREF_NONE, ""},          /* a letter that is not ASCII */
    {"CDS7M2K9QX(4P1", CDS_PAYREF_NONE, ""},          /* '(' is not a separator */
    {"CDS7M2K9X4P1 NOP LE PHI", CDS_PAYREF_NONE, ""}, /* Q dropped, N swallowed */
    {"Hoc phi CDSCDSCDSCDSCDS", CDS_PAYREF_NONE, ""},
    {"So TK 0071001234567890123456789 CDS", CDS_PAYREF_NONE, ""},
    {"ABCDSFGHJKMNPQR CDSABC", CDS_PAYREF_NONE, ""},
    {"Chuyen tien hoc phi cho con NGUYEN VAN B lop 5A", CDS_PAYREF_NONE, ""},
    {"TRA LUONG THANG 10 CONG TY TNHH CDS VIET NAM", CDS_PAYREF_NONE, ""},
};

static void test_find(void)
{
    char out[CDS_PAYREF_LEN + 1];
    for (size_t i = 0; i < sizeof finds / sizeof finds[0]; i++) {
        int rc = cds_payref_find(finds[i].text, out);
        if (rc != finds[i].rc || strcmp(out, finds[i].ref) != 0)
            fprintf(stderr, "  find(\"%s\") = %d \"%s\"\n", finds[i].text, rc, out);
        CHECK_INT(rc, finds[i].rc);
        CHECK_STR(out, finds[i].ref);
    }
    CHECK_INT(cds_payref_find(NULL, out), CDS_PAYREF_NONE);
    CHECK_STR(out, "");

    /* only the first 4096 bytes are read */
    char *big = malloc(6000);
    memset(big, 'x', 5999);
    big[5999] = 0;
    memcpy(big + 4000, " " A " ", CDS_PAYREF_LEN + 2);
    CHECK_INT(cds_payref_find(big, out), CDS_PAYREF_FOUND);
    memset(big + 4000, 'x', CDS_PAYREF_LEN + 2);
    memcpy(big + 5000, " " A " ", CDS_PAYREF_LEN + 2);
    CHECK_INT(cds_payref_find(big, out), CDS_PAYREF_NONE);
    free(big);
}

int main(void)
{
    test_make();
    test_valid();
    test_generated();
    test_find();
    return t_done();
}
