/* The flipped-s twin of an ES256 token (see jws_twin.h), computed with
 * OpenSSL's BIGNUMs apart from core/jose.c so the test does not borrow the
 * code it checks. */
#include "tests/lib/jws_twin.h"

#include "core/jose.h"

#include <openssl/bn.h>
#include <stdlib.h>
#include <string.h>

/* The order of P-256 (FIPS 186-4 D.1.2.3), hex. */
#define P256_N "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"

char *th_es256_twin(const char *token)
{
    const char *dot = token ? strrchr(token, '.') : NULL;
    unsigned char sig[64];
    size_t sl = 0;
    if (!dot || cds_b64url_decode(dot + 1, strlen(dot + 1), sig, sizeof sig, &sl) != 0 || sl != 64)
        return NULL;
    BIGNUM *n = NULL, *s = BN_bin2bn(sig + 32, 32, NULL);
    int ok = s && BN_hex2bn(&n, P256_N) > 0 && BN_sub(s, n, s) == 1 &&
             BN_bn2binpad(s, sig + 32, 32) == 32;
    BN_free(s);
    BN_free(n);
    if (!ok) return NULL;
    size_t head = (size_t)(dot - token) + 1, cap = head + 90;
    char *out = malloc(cap);
    if (!out) return NULL;
    memcpy(out, token, head);
    if (cds_b64url_encode(sig, sizeof sig, out + head, cap - head) == 0) {
        free(out);
        return NULL;
    }
    return out;
}
