/* Staff passwords: argon2id through the reference library (Debian's
 * libargon2, the PHC winner's code), stored in its encoded form
 * ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash") so the parameters travel
 * with each hash and can be raised later without breaking old ones.
 *
 * Parameters: OWASP Password Storage Cheat Sheet, "Argon2id": "a minimum
 * configuration of 19 MiB of memory, an iteration count of 2, and 1 degree
 * of parallelism"; RFC 9106 section 4 recommends 16-byte salts and 32-byte
 * tags. A check costs tens of milliseconds and 19 MiB, so it never runs on a
 * loop thread (staff_login.c hands it to the work pool, whose few threads
 * also bound the memory). */
#include "internal.h"
#include "auth/staff.h"

#include <argon2.h>
#include <openssl/rand.h>
#include <string.h>

#define T_COST 2
#define M_COST_KIB 19456
#define PARALLELISM 1
#define SALT_LEN 16
#define HASH_LEN 32

int cds_staff_password_hash(const char *password, char out[CDS_STAFF_HASH_MAX])
{
    unsigned char salt[SALT_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1) return -1;
    if (argon2_encodedlen(T_COST, M_COST_KIB, PARALLELISM, SALT_LEN, HASH_LEN, Argon2_id) >
        CDS_STAFF_HASH_MAX)
        return -1;
    return argon2id_hash_encoded(T_COST, M_COST_KIB, PARALLELISM, password, strlen(password), salt,
                                 sizeof salt, HASH_LEN, out, CDS_STAFF_HASH_MAX) == ARGON2_OK
               ? 0
               : -1;
}

int cds_staff_password_verify(const char *encoded, const char *password)
{
    if (!encoded || strncmp(encoded, "$argon2id$", 10) != 0 || !password) return 0;
    return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK;
}

int cds_staff_password_acceptable(const char *password, const char **why)
{
    size_t n = password ? strlen(password) : 0;
    if (n < 12) return *why = "at least 12 characters", 0;
    if (n > 128) return *why = "at most 128 bytes", 0;
    size_t same = 0;
    while (same < n && password[same] == password[0]) same++;
    if (same == n) return *why = "not one character repeated", 0;
    return 1;
}
