/* Push: the adapter of each device platform, as sms.c lists the SMS
 * gateways. The dispatcher hands a push to nt_push_send with the device's
 * platform and never names a provider; an adapter is one table
 * (nt_push_adapter in internal.h): FCM (push_fcm.c), APNs (push_apns.c). A
 * platform whose adapter is not configured on this node is a temporary
 * failure: the message waits for a node that can send it. */
#include "internal.h"

#include <string.h>

static const nt_push_adapter *const g_adapters[] = {&nt_push_fcm, &nt_push_apns};
#define NADAPTERS (sizeof g_adapters / sizeof g_adapters[0])

int nt_push_init(void)
{
    for (size_t i = 0; i < NADAPTERS; i++)
        if (g_adapters[i]->init() != 0) return -1;
    return 0;
}

int nt_push_enabled(void)
{
    for (size_t i = 0; i < NADAPTERS; i++)
        if (g_adapters[i]->enabled()) return 1;
    return 0;
}

void nt_push_send(nt_msg *m, const char *platform)
{
    for (size_t i = 0; i < NADAPTERS; i++) {
        const nt_push_adapter *a = g_adapters[i];
        if (strcmp(a->platform, platform) != 0) continue;
        if (a->enabled()) a->send(m);
        else nt_fail(m, NT_TEMPORARY, a->platform, "%s is not configured on dispatcher %s",
                     a->label, nt_node());
        return;
    }
    nt_fail(m, NT_TEMPORARY, NULL, "no push adapter for platform %s on dispatcher %s", platform,
            nt_node());
}

void nt_push_worker_start(nt_worker *w)
{
    for (size_t i = 0; i < NADAPTERS; i++)
        if (g_adapters[i]->enabled() && g_adapters[i]->worker_start)
            g_adapters[i]->worker_start(w);
}

void nt_push_worker_stop(nt_worker *w)
{
    for (size_t i = 0; i < NADAPTERS; i++)
        if (g_adapters[i]->worker_stop) g_adapters[i]->worker_stop(w);
}

void nt_push_shutdown(void)
{
    for (size_t i = 0; i < NADAPTERS; i++) g_adapters[i]->shutdown();
}
