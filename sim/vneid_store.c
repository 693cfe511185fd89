/* The VNeID stand-in's memory of what it issued: authorization codes (60 s,
 * single use) and access tokens (300 s), in two fixed-size tables inside the
 * stand-in's state. Every function here runs with the state's mutex held.
 *
 * Tables, not hash maps: a test run issues at most a few thousand of each,
 * a linear scan over them costs microseconds, and a fixed size means a
 * runaway client cannot grow the simulator without bound. Adding first
 * drops what has expired; when the table is still full the oldest entry
 * goes. A used code stays until it expires so a replay is recognised as a
 * replay (and revokes the token issued from it, RFC 6749 4.1.2). */
#include "sim/vneid.h"

#include <string.h>

/* Drops entries of an array whose expiry is <= now, keeping order. */
#define COMPACT(arr, n, now)                                                                     \
    do {                                                                                         \
        size_t w_ = 0;                                                                           \
        for (size_t i_ = 0; i_ < (n); i_++)                                                      \
            if ((arr)[i_].expires > (now)) {                                                     \
                if (w_ != i_) (arr)[w_] = (arr)[i_];                                             \
                w_++;                                                                            \
            }                                                                                    \
        (n) = w_;                                                                                \
    } while (0)

vneid_code *vneid_store_add_code(vneid_store *st, time_t now)
{
    COMPACT(st->codes, st->ncodes, now);
    if (st->ncodes == VNEID_MAX_CODES) {
        memmove(&st->codes[0], &st->codes[1], (VNEID_MAX_CODES - 1) * sizeof st->codes[0]);
        st->ncodes--;
    }
    vneid_code *c = &st->codes[st->ncodes++];
    memset(c, 0, sizeof *c);
    return c;
}

vneid_code *vneid_store_find_code(vneid_store *st, const char *code)
{
    for (size_t i = 0; i < st->ncodes; i++)
        if (strcmp(st->codes[i].code, code) == 0) return &st->codes[i];
    return NULL;
}

void vneid_store_add_token(vneid_store *st, const vneid_token *t, time_t now)
{
    COMPACT(st->tokens, st->ntokens, now);
    if (st->ntokens == VNEID_MAX_TOKENS) {
        memmove(&st->tokens[0], &st->tokens[1], (VNEID_MAX_TOKENS - 1) * sizeof st->tokens[0]);
        st->ntokens--;
    }
    st->tokens[st->ntokens++] = *t;
}

vneid_token *vneid_store_find_token(vneid_store *st, const char *token, time_t now)
{
    for (size_t i = 0; i < st->ntokens; i++)
        if (strcmp(st->tokens[i].token, token) == 0)
            return st->tokens[i].expires > now ? &st->tokens[i] : NULL;
    return NULL;
}

void vneid_store_revoke_token(vneid_store *st, const char *token)
{
    for (size_t i = 0; i < st->ntokens; i++)
        if (strcmp(st->tokens[i].token, token) == 0) {
            st->tokens[i].expires = 0;
            return;
        }
}
