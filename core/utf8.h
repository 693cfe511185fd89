/* UTF-8 helpers shared by every module that measures, cuts or decodes text:
 * strict decoding of one character, counting characters, and cutting a
 * text at a byte limit without splitting a character. */
#ifndef CDS_UTF8_H
#define CDS_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* Decodes one well-formed UTF-8 sequence at s: its length in bytes, and the
 * code point in *cp; 0 when the bytes are not one (overlong forms,
 * surrogates, above U+10FFFF, a stray continuation byte). A NUL ends a
 * truncated sequence, so this never reads past the string. */
size_t cds_utf8_next(const char *s, uint32_t *cp);
/* Characters in s, counted as the bytes that do not continue a sequence
 * (for text already known to be UTF-8). */
size_t cds_utf8_chars(const char *s);
/* The byte length of the longest prefix of s (n bytes) that is at most max
 * bytes and does not end inside a character. */
size_t cds_utf8_cut(const char *s, size_t n, size_t max);
/* n less a last sequence that s[0..n) holds only part of (what a byte
 * limit such as vsnprintf's may leave). */
size_t cds_utf8_whole(const char *s, size_t n);

#endif
