/* libFuzzer target: the parsers that read what VNeID (or an attacker posing
 * as it, or a client with a forged access token) sends: compact JWT parsing,
 * signature verification with every algorithm allowed, JWK import, the
 * ID-token claim checks and the mapping of claims to a citizen. */
#include "auth/internal.h"
#include "core/jose.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static EVP_PKEY *rsa, *ec;
    if (!rsa) {
        rsa = cds_pkey_generate(CDS_ALG_RS256);
        ec = cds_pkey_generate(CDS_ALG_ES256);
    }
    cds_jwt jwt;
    const char *why;
    if (cds_jwt_parse((const char *)data, size, &jwt, &why) == CDS_JOSE_OK) {
        int all = CDS_ALG_RS256 | CDS_ALG_ES256 | CDS_ALG_EDDSA;
        (void)cds_jws_verify(&jwt, rsa, all);
        (void)cds_jws_verify(&jwt, ec, all);
        cds_oidc_expect e = {"http://127.0.0.1:9001", "cds-app", "n", 1700000000, 60};
        (void)cds_oidc_check_claims(jwt.claims, &e, &why);
        cds_identity id;
        (void)cds_identity_from_claims(jwt.claims, &id, &why);
        cds_jwt_free(&jwt);
    }
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (j) {
        EVP_PKEY *k = cds_jwk_to_pkey(j, &why);
        EVP_PKEY_free(k);
        cds_identity id;
        (void)cds_identity_from_claims(j, &id, &why);
        json_decref(j);
    }
    unsigned char out[4096];
    size_t outlen;
    (void)cds_b64url_decode((const char *)data, size, out, sizeof out, &outlen);
    return 0;
}
