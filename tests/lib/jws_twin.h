/* The malleable twin of an ES256 token: the same header and payload with
 * the signature (r, s) replaced by (r, n - s), n the order of P-256. Both
 * are valid ECDSA signatures of the same input; tests use the twin to check
 * that our own tokens accept only the low-S one (issue 14). */
#ifndef CDS_TEST_JWS_TWIN_H
#define CDS_TEST_JWS_TWIN_H

/* malloc'ed twin of compact JWS `token`, or NULL when it is not a compact
 * JWS with a 64-byte signature. */
char *th_es256_twin(const char *token);

#endif
