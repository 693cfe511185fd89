/* The checks every access token we signed ourselves passes before its
 * kind's own claims are read (citizen, staff and courier tokens): size,
 * shape, a key of ours by kid, the ES256 signature, issuer, audience,
 * expiry and issue time. */
#include "auth/internal.h"

#include <string.h>
#include <time.h>

int cds_auth_own_token_open(const char *token, size_t len, const char *audience, cds_jwt *jwt,
                            const char **why)
{
    *why = "";
    if (len > CDS_JWT_MAX) {
        *why = "token too long";
        return -1;
    }
    if (cds_jwt_parse(token, len, jwt, why) != CDS_JOSE_OK) return -1;
    EVP_PKEY *key = cds_auth_token_key(jwt->kid);
    time_t now = time(NULL);
    const json_t *c = jwt->claims;
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const char *aud = json_string_value(json_object_get(c, "aud"));
    const json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
    if (!key) *why = "unknown key id";
    else if (cds_jws_verify_own(jwt, key, CDS_ALG_ES256) != CDS_JOSE_OK) *why = "bad signature";
    else if (!iss || strcmp(iss, g_auth.token_issuer) != 0) *why = "wrong issuer";
    else if (!aud || strcmp(aud, audience) != 0) *why = "wrong audience";
    else if (!json_is_integer(exp) || json_integer_value(exp) <= now) *why = "expired";
    else if (!json_is_integer(iat) || json_integer_value(iat) > now + 60) *why = "issued in the future";
    else return 0;
    cds_jwt_free(jwt);
    return -1;
}
