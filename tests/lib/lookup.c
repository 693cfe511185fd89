/* Lookup secrets and SHA-256 digests for the tests (lookup.h). */
#include "tests/lib/lookup.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

void th_lookup_secret(const char *id, char out[11])
{
    static const char alphabet[] = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    unsigned char key[32], mac[32];
    unsigned int maclen = 0;
    for (int i = 0; i < 32; i++) key[i] = (unsigned char)i;
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)id, strlen(id), mac, &maclen);
    int k = 0;
    for (unsigned i = 0; i < maclen && k < 10; i++)
        if (mac[i] < 248) out[k++] = alphabet[mac[i] % 31];
    out[k] = 0;
}

void th_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}
