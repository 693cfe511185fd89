/* The citizen-facing and partner-facing HTTP API: the route tables the
 * server serves (public, and admin for operators), and the start-up hook that configures every module and
 * registers its prepared statements. */
#ifndef CDS_API_H
#define CDS_API_H
#include "auth/auth.h"
#include "console/console.h"
#include "delivery/delivery.h"
#include "dossiers/dossiers.h"
#include "notify/notify.h"
#include "payment/payment.h"
#include "receipts/receipts.h"
#include "core/http.h"
#include <stddef.h>

typedef struct cds_api_config {
    cds_auth_config auth;
    cds_dossiers_config dossiers;
    cds_notify_config notify;
    cds_payment_config payment;
    cds_receipts_config receipts;
    cds_delivery_config delivery;
    cds_console_config console;
    const char *db_conninfo;
} cds_api_config;

void cds_api_config_defaults(cds_api_config *c);
/* Appends every module's options (flags / CDS_* variables). */
size_t cds_api_options(cds_api_config *c, cds_opt *out, size_t cap);
/* Before threads start; 0 on success. */
int cds_api_init(const cds_api_config *c);
void cds_api_shutdown(void);
/* Server hooks for each event-loop thread (the notification dispatchers). */
void cds_api_worker_start(cds_worker *w, void *ctx);
void cds_api_worker_stop(cds_worker *w, void *ctx);
/* The public route table (the API ports). */
const cds_route *cds_api_routes(size_t *n);
/* The admin route table (/metrics): served only on the admin listener. */
const cds_route *cds_api_admin_routes(size_t *n);

#endif
