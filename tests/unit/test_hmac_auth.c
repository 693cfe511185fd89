/* core/hmac_auth: the signed-request scheme of partner calls.
 *
 * Fixed vectors computed independently with the openssl CLI:
 *   bh=$(printf '%s' "$BODY" | openssl dgst -sha256 -r | cut -d' ' -f1)
 *   printf 'POST\n/v1/partner/dossiers/000.00.01.H29-240506-0001/steps?x=1\n1714959000\n%s' "$bh" \
 *     | openssl dgst -sha256 -hmac cds-dev-partner-secret
 * (and the same for a GET with an empty body). Then every verdict: good
 * (either hex case, both edges of the window), missing or malformed headers,
 * unknown client, stale both ways, a wrong secret, a signature over another
 * body / path / query / method / timestamp, truncated, over-long and non-hex
 * signatures; and the client spec parser's rules. */
#include "core/hmac_auth.h"
#include "tests/lib/t.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "cds-dev-partner-secret"
#define PATH "/v1/partner/dossiers/000.00.01.H29-240506-0001/steps?x=1"
#define BODY                                                                                       \
    "{\"event_id\":\"evt-1\",\"step\":\"received\",\"occurred_at\":\"2024-05-06T08:30:00+07:00\"," \
    "\"note\":\"Tiếp nhận hồ sơ\"}"
#define TS 1714959000LL
#define SIG "2d7080e58abc48eed479cbce60a91e381b3e1d32e6b452a65904fee43fef9baf"
#define SIG_GET_EMPTY "fae73e1d6efa7a6a6a2d48eae0d0ffe90b506cfe14932fd598b5ebea11125e7d"

static void test_sign_vectors(void)
{
    char out[65];
    cds_hmac_sign(SECRET, "POST", PATH, TS, BODY, strlen(BODY), out);
    CHECK_STR(out, SIG);
    cds_hmac_sign(SECRET, "GET", "/v1/partner/dossiers/overdue", TS, NULL, 0, out);
    CHECK_STR(out, SIG_GET_EMPTY);
    cds_hmac_sign(SECRET, "GET", "/v1/partner/dossiers/overdue", TS, "", 0, out);
    CHECK_STR(out, SIG_GET_EMPTY);
    /* a different secret, a different signature */
    cds_hmac_sign("another-secret-0123456789", "POST", PATH, TS, BODY, strlen(BODY), out);
    CHECK(strcmp(out, SIG) != 0);
    CHECK_INT(strlen(out), 64);
}

static int V(const cds_hmac_clients *c, const char *id, const char *ts, const char *sig,
             const char *method, const char *path, const char *body, time_t now, int window)
{
    return cds_hmac_verify(c, id, ts, sig, method, path, body, body ? strlen(body) : 0, now,
                           window);
}

static void test_verify(void)
{
    const char *err = "x";
    cds_hmac_clients *c =
        cds_hmac_clients_parse("courier-1:0123456789abcdef,tthc-hcm:" SECRET, &err);
    CHECK(c != NULL);
    CHECK(err == NULL);
    time_t now = (time_t)TS;

    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_OK);
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)toupper((unsigned char)SIG[i]);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", upper, "POST", PATH, BODY, now, 300), CDS_HMAC_OK);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG_GET_EMPTY, "GET", "/v1/partner/dossiers/overdue",
                NULL, now, 300),
              CDS_HMAC_OK);
    /* the window is inclusive on both sides */
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST", PATH, BODY, now + 300, 300), CDS_HMAC_OK);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST", PATH, BODY, now - 300, 300), CDS_HMAC_OK);

    /* stale both ways */
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST", PATH, BODY, now + 301, 300),
              CDS_HMAC_STALE);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST", PATH, BODY, now - 301, 300),
              CDS_HMAC_STALE);
    CHECK_INT(V(c, "tthc-hcm", "0", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_STALE);
    CHECK_INT(V(c, "tthc-hcm", "999999999999", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_STALE);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST", PATH, BODY, now + 1, 0), CDS_HMAC_STALE);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST", PATH, BODY, now, 0), CDS_HMAC_OK);

    /* missing headers */
    CHECK_INT(V(c, NULL, "1714959000", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_MISSING);
    CHECK_INT(V(c, "tthc-hcm", NULL, SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_MISSING);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", NULL, "POST", PATH, BODY, now, 300), CDS_HMAC_MISSING);
    CHECK_INT(V(c, "", "1714959000", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_MISSING);
    CHECK_INT(V(c, "tthc-hcm", "", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_MISSING);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", "", "POST", PATH, BODY, now, 300), CDS_HMAC_MISSING);
    /* malformed: client id, timestamp (sign, spaces, 13 digits, decimals), signature */
    CHECK_INT(V(c, "tthc hcm", "1714959000", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_MISSING);
    CHECK_INT(V(c, "tthc-hcm", "+1714959000", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_MISSING);
    CHECK_INT(V(c, "tthc-hcm", "-1714959000", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_MISSING);
    CHECK_INT(V(c, "tthc-hcm", " 1714959000", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_MISSING);
    CHECK_INT(V(c, "tthc-hcm", "1714959000.5", SIG, "POST", PATH, BODY, now, 300),
              CDS_HMAC_MISSING);
    CHECK_INT(V(c, "tthc-hcm", "0001714959000", SIG, "POST", PATH, BODY, now, 300),
              CDS_HMAC_MISSING);
    /* one spelling per instant: leading zeros are malformed, so the signed
     * text is always the header's own text */
    CHECK_INT(V(c, "tthc-hcm", "001714959000", SIG, "POST", PATH, BODY, now, 300),
              CDS_HMAC_MISSING);
    char trunc[64];
    memcpy(trunc, SIG, 63);
    trunc[63] = 0;
    CHECK_INT(V(c, "tthc-hcm", "1714959000", trunc, "POST", PATH, BODY, now, 300),
              CDS_HMAC_MISSING);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG "00", "POST", PATH, BODY, now, 300),
              CDS_HMAC_MISSING);
    char nonhex[65];
    memcpy(nonhex, SIG, 65);
    nonhex[10] = 'g';
    CHECK_INT(V(c, "tthc-hcm", "1714959000", nonhex, "POST", PATH, BODY, now, 300),
              CDS_HMAC_MISSING);
    nonhex[10] = ' ';
    CHECK_INT(V(c, "tthc-hcm", "1714959000", nonhex, "POST", PATH, BODY, now, 300),
              CDS_HMAC_MISSING);

    /* unknown client; an id that only differs in case is another id */
    CHECK_INT(V(c, "tthc-hn", "1714959000", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_UNKNOWN);
    CHECK_INT(V(c, "TTHC-HCM", "1714959000", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_UNKNOWN);
    CHECK_INT(V(NULL, "tthc-hcm", "1714959000", SIG, "POST", PATH, BODY, now, 300),
              CDS_HMAC_UNKNOWN);

    /* bad signatures: another client's secret, and a signature over anything else */
    CHECK_INT(V(c, "courier-1", "1714959000", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_BAD);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST", PATH, BODY " ", now, 300), CDS_HMAC_BAD);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST", PATH, "", now, 300), CDS_HMAC_BAD);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST",
                "/v1/partner/dossiers/000.00.01.H29-240506-0002/steps?x=1", BODY, now, 300),
              CDS_HMAC_BAD);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "POST",
                "/v1/partner/dossiers/000.00.01.H29-240506-0001/steps", BODY, now, 300),
              CDS_HMAC_BAD);
    CHECK_INT(V(c, "tthc-hcm", "1714959000", SIG, "PUT", PATH, BODY, now, 300), CDS_HMAC_BAD);
    CHECK_INT(V(c, "tthc-hcm", "1714959001", SIG, "POST", PATH, BODY, now, 300), CDS_HMAC_BAD);
    char flipped[65];
    memcpy(flipped, SIG, 65);
    flipped[63] = flipped[63] == 'f' ? 'e' : 'f';
    CHECK_INT(V(c, "tthc-hcm", "1714959000", flipped, "POST", PATH, BODY, now, 300), CDS_HMAC_BAD);

    /* what the signer makes, the verifier accepts */
    char out[65];
    cds_hmac_sign("0123456789abcdef", "DELETE", "/x?a=b&c=d", 42, "\0bin\0", 5, out);
    CHECK_INT(
        cds_hmac_verify(c, "courier-1", "42", out, "DELETE", "/x?a=b&c=d", "\0bin\0", 5, 42, 1),
        CDS_HMAC_OK);
    CHECK_INT(
        cds_hmac_verify(c, "courier-1", "42", out, "DELETE", "/x?a=b&c=d", "\0bin\0", 4, 42, 1),
        CDS_HMAC_BAD);
    cds_hmac_clients_free(c);
}

static void test_parse(void)
{
    const char *err = NULL;
    static const char *const bad[] = {
        "",                                       /* nothing */
        "tthc-hcm",                               /* no secret */
        "tthc-hcm:short",                         /* secret < 16 bytes */
        "tthc-hcm:0123456789abcde",               /* 15 bytes */
        ":0123456789abcdef",                      /* empty id */
        "tthc hcm:0123456789abcdef",              /* space in id */
        "tthç:0123456789abcdef",                  /* non-ASCII id */
        "a:0123456789abcdef,",                    /* trailing empty entry */
        "a:0123456789abcdef,,b:0123456789abcdef", /* empty entry */
        ",a:0123456789abcdef",                    /* leading empty entry */
        "a:0123456789abcdef,a:fedcba9876543210",  /* duplicate */
        "a:0123456789abcdef,b:0123456789abcdef,a:0123456789abcdef",
        /* 65-character id */
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:0123456789abcdef",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = NULL;
        cds_hmac_clients *c = cds_hmac_clients_parse(bad[i], &err);
        if (c) fprintf(stderr, "accepted bad spec %zu: %s\n", i, bad[i]);
        CHECK(c == NULL);
        CHECK(err != NULL && *err);
        cds_hmac_clients_free(c);
    }
    CHECK(cds_hmac_clients_parse(NULL, &err) == NULL);
    CHECK(cds_hmac_clients_parse(NULL, NULL) == NULL); /* err is optional */

    /* 64-character id, every allowed character, a secret with ':' in it */
    const char *spec =
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:0123456789abcdef,"
        "Az09_.-:se:cret:with:colons";
    err = "x";
    cds_hmac_clients *c = cds_hmac_clients_parse(spec, &err);
    CHECK(c != NULL);
    CHECK(err == NULL);
    char out[65];
    cds_hmac_sign("se:cret:with:colons", "GET", "/", 7, NULL, 0, out);
    CHECK_INT(cds_hmac_verify(c, "Az09_.-", "7", out, "GET", "/", NULL, 0, 7, 300), CDS_HMAC_OK);
    cds_hmac_sign("0123456789abcdef", "GET", "/", 7, NULL, 0, out);
    CHECK_INT(cds_hmac_verify(c, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                              "7", out, "GET", "/", NULL, 0, 7, 300),
              CDS_HMAC_OK);
    /* a 65-character header value is malformed, not a lookup */
    CHECK_INT(cds_hmac_verify(c,
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                              "7", out, "GET", "/", NULL, 0, 7, 300),
              CDS_HMAC_MISSING);
    cds_hmac_clients_free(c);

    /* 64 clients fit, 65 do not */
    size_t cap = 65 * 32 + 1, len = 0;
    char *many = malloc(cap);
    for (int i = 0; i < 65; i++)
        len += (size_t)snprintf(many + len, cap - len, "%sc%d:0123456789abcdef", i ? "," : "", i);
    c = cds_hmac_clients_parse(many, &err);
    CHECK(c == NULL);
    char *last = strrchr(many, ',');
    *last = 0;
    c = cds_hmac_clients_parse(many, &err);
    CHECK(c != NULL);
    cds_hmac_clients_free(c);
    free(many);
}

int main(void)
{
    test_sign_vectors();
    test_verify();
    test_parse();
    return t_done();
}
