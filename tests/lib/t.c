/* Counters behind tests/lib/t.h. */
#include "tests/lib/t.h"

int t_pass, t_fail;

int t_done(void)
{
    printf("%d passed, %d failed\n", t_pass, t_fail);
    return (t_fail == 0 && t_pass > 0) ? 0 : 1;
}
