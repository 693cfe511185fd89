/* A VND amount in Vietnamese words, as printed on a receipt beside the
 * figures ("Số tiền bằng chữ"): "Một trăm năm mươi nghìn đồng".
 *
 * Vietnamese usage, as receipts and invoices write it:
 *   - 10..19 read "mười ...", 20..90 "... mươi";
 *   - 1 after mươi is "mốt" (21 Hai mươi mốt), after mười it stays "một"
 *     (11 Mười một); 5 after mười or mươi is "lăm" (15 Mười lăm, 25 Hai
 *     mươi lăm); 4 after mươi is "tư" (24 Hai mươi tư; "bốn" is also heard,
 *     "tư" is the more common written form, so it is the one chosen here),
 *     after mười it stays "bốn" (14 Mười bốn);
 *   - zero tens before a non-zero unit read "linh" (105 Một trăm linh năm);
 *   - groups of three digits carry nghìn / triệu / tỷ; a group after the
 *     first non-zero one is read in full, "không trăm" included (1.050.000
 *     Một triệu không trăm năm mươi nghìn đồng), and a group of three zeros
 *     is left out (1.000.000.005 Một tỷ không trăm linh năm đồng);
 *   - 0 is "Không đồng"; the first letter is a capital; " đồng" ends it. */
#ifndef CDS_AMOUNT_WORDS_H
#define CDS_AMOUNT_WORDS_H
#include <stddef.h>

#define CDS_AMOUNT_WORDS_MAX_VND 999999999999LL
/* Bytes (NUL included) that hold the words of any amount in range, with
 * room to spare: the longest (777.777.777.777, 141.141.141.141 ...) take 151. */
#define CDS_AMOUNT_WORDS_CAP 256

/* Writes the words of `vnd` (0..CDS_AMOUNT_WORDS_MAX_VND) to out, UTF-8 and
 * NUL-terminated. Returns the length written, or -1 when vnd is negative or
 * above the maximum, or out (cap bytes) is too small; out is then "" when
 * cap > 0. */
int cds_amount_words(long long vnd, char *out, size_t cap);

#endif
