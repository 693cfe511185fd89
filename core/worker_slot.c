/* The registry of per-thread module state slots (core/server.h): a name
 * per slot, handed out before the server threads start, so every module's
 * per-thread state lives in cds_worker.slot[] under an id of its own. */
#include "core/server.h"

#include <pthread.h>
#include <string.h>

static const char *g_names[CDS_WORKER_SLOTS];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

int cds_worker_slot(const char *name)
{
    int id = -1;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < CDS_WORKER_SLOTS && id < 0; i++) {
        if (!g_names[i]) g_names[i] = name;
        if (strcmp(g_names[i], name) == 0) id = i;
    }
    pthread_mutex_unlock(&g_mu);
    return id;
}
