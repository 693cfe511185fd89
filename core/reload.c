/* The SIGHUP hook registry (reload.h). Registration happens at start and
 * shutdown, the runs on the main thread: a mutex keeps a late registration
 * and a run from meeting anyway. */
#include "core/reload.h"
#include "core/log.h"

#include <pthread.h>
#include <stddef.h>

#define MAX_HOOKS 8

static struct {
    const char *name;
    cds_reload_fn fn;
} hooks[MAX_HOOKS];
static int nhooks;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

void cds_reload_register(const char *name, cds_reload_fn fn)
{
    pthread_mutex_lock(&mu);
    int i = 0;
    while (i < nhooks && hooks[i].fn != fn)
        i++;
    if (i == nhooks && nhooks < MAX_HOOKS) {
        hooks[nhooks].name = name;
        hooks[nhooks++].fn = fn;
    }
    pthread_mutex_unlock(&mu);
}

void cds_reload_unregister(cds_reload_fn fn)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < nhooks; i++)
        if (hooks[i].fn == fn) {
            hooks[i] = hooks[--nhooks];
            break;
        }
    pthread_mutex_unlock(&mu);
}

int cds_reload_run(void)
{
    int failed = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < nhooks; i++) {
        if (hooks[i].fn() == 0) {
            cds_log(CDS_LOG_INFO, "reload", "%s reloaded", hooks[i].name);
        } else {
            cds_log(CDS_LOG_ERROR, "reload", "%s: reload failed, the previous ones stay in use",
                    hooks[i].name);
            failed++;
        }
    }
    pthread_mutex_unlock(&mu);
    return failed;
}
