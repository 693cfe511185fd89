/* The couriers' access tokens (issue 19, the carrier's handheld app).
 *
 * The same JWT as the citizens' (tokens.c): ES256 with our signing key (kid,
 * so keys rotate), iss our issuer, but audience "cds-courier" and claims
 * sub = courier id, carrier, scope "courier". A citizen token is refused on
 * courier routes (audience "cds-app") and a courier token on citizen routes
 * (cds_access_token_check wants "cds-app"). No refresh token: the handheld
 * logs in again with its secret. Whether the courier is still enabled is
 * asked of the database by every courier route (cds_courier_active), so
 * disabling one ends their tokens at once. */
#include "internal.h"
#include "core/log.h"
#include "core/uuid.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define COURIER_AUDIENCE "cds-courier"

char *cds_courier_token_issue(const char *courier_id, const char *carrier, int ttl_s)
{
    time_t now = time(NULL);
    json_t *claims = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "iss", g_auth.token_issuer, "aud",
                               COURIER_AUDIENCE, "sub", courier_id, "carrier", carrier, "scope",
                               "courier", "iat", (json_int_t)now, "exp",
                               (json_int_t)(now + ttl_s));
    const char *kid;
    EVP_PKEY *key = cds_auth_token_signer(&kid);
    char *t = claims ? cds_jws_sign(key, CDS_ALG_ES256, kid,
                                    claims)
                     : NULL;
    json_decref(claims);
    return t;
}

static int courier_check(const char *token, size_t len, cds_courier_principal *p, const char **why)
{
    cds_jwt jwt;
    if (cds_auth_own_token_open(token, len, COURIER_AUDIENCE, &jwt, why) != 0) return -1;
    int rc = -1;
    json_t *c = jwt.claims;
    const char *sub = json_string_value(json_object_get(c, "sub"));
    const char *carrier = json_string_value(json_object_get(c, "carrier"));
    const char *scope = json_string_value(json_object_get(c, "scope"));
    if (!scope || strcmp(scope, "courier") != 0) *why = "wrong scope";
    else if (!cds_uuid_valid(sub)) *why = "bad subject";
    else if (!carrier || strlen(carrier) >= sizeof p->carrier) *why = "bad carrier";
    else {
        memcpy(p->courier_id, sub, 37);
        snprintf(p->carrier, sizeof p->carrier, "%s", carrier);
        rc = 0;
    }
    cds_jwt_free(&jwt);
    return rc;
}

const cds_courier_principal *cds_auth_courier(cds_req *r)
{
    const char *h = cds_req_header(r, "authorization");
    const char *why = "";
    cds_courier_principal *p = cds_req_alloc(r, sizeof *p);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        cds_resp_header(r, "www-authenticate", "Bearer realm=\"cds-courier\"");
        cds_problem(r, 401, "authentication_required",
                    "Bưu tá cần đăng nhập (POST /v1/courier/token) để tiếp tục.");
        return NULL;
    }
    const char *tok = h + 7;
    while (*tok == ' ') tok++;
    if (courier_check(tok, strlen(tok), p, &why) != 0) {
        cds_log(CDS_LOG_INFO, "courier_token", "refused: %s", why);
        cds_resp_header(r, "www-authenticate", "Bearer realm=\"cds-courier\", error=\"invalid_token\"");
        cds_problem(r, 401, "invalid_token",
                    strcmp(why, "expired") == 0 ? "Phiên đăng nhập của bưu tá đã hết hạn."
                                                : "Mã truy cập không hợp lệ cho ứng dụng bưu tá.");
        return NULL;
    }
    return p;
}
