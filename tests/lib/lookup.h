/* The public lookup secret of a dossier as the tests' own witness of
 * dossiers/secret.c (written out again on purpose, from the development
 * key 0x00..0x1f the test servers run with), and the SHA-256 hex digests
 * the database keeps of such secrets and of files. */
#ifndef CDS_TEST_LOOKUP_H
#define CDS_TEST_LOOKUP_H
#include <stddef.h>

/* The 10-character lookup secret of dossier `id`. */
void th_lookup_secret(const char *id, char out[11]);
/* Lower-case hex SHA-256 of p[0..n). */
void th_sha256_hex(const void *p, size_t n, char out[65]);

#endif
