/* Minimal assertion helpers for the C tests: every CHECK counts, a failing
 * one prints file:line and the expression, and t_done() prints
 * "N passed, N failed" and returns the exit status. */
#ifndef CDS_T_H
#define CDS_T_H
#include <stdio.h>
#include <string.h>

extern int t_pass, t_fail;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            t_pass++;                                                                          \
        } else {                                                                               \
            t_fail++;                                                                          \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                   \
        }                                                                                      \
    } while (0)

#define CHECK_INT(a, b)                                                                        \
    do {                                                                                       \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                \
        if (t_a_ == t_b_) {                                                                    \
            t_pass++;                                                                          \
        } else {                                                                               \
            t_fail++;                                                                          \
            fprintf(stderr, "FAIL %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, \
                    t_a_, t_b_);                                                               \
        }                                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                                        \
    do {                                                                                       \
        const char *t_a_ = (a), *t_b_ = (b);                                                   \
        if (t_a_ && t_b_ && strcmp(t_a_, t_b_) == 0) {                                         \
            t_pass++;                                                                          \
        } else {                                                                               \
            t_fail++;                                                                          \
            fprintf(stderr, "FAIL %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                    #a, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                       \
        }                                                                                      \
    } while (0)

/* Prints the summary; returns 0 when nothing failed and something passed. */
int t_done(void);

#endif
