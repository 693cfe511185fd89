/* The operators' console (issue 19, part 3): a web console in Vietnamese
 * (English when the browser asks for it) for the city's operators and
 * auditors, served under /console by the same server, rendered on the
 * server with the HTML kit of the public pages (core/html.h), working
 * without any script (the CSP forbids them), every form a plain POST.
 *
 * Who may: staff of auth/staff.h. Logging in (password + TOTP, or the
 * staff OpenID Connect issuer when configured) puts the short-lived staff
 * token in an HttpOnly, SameSite=Strict cookie (Secure over TLS). Operators
 * act; auditors read only (every action refused with 403). Every form
 * carries a CSRF token (HMAC of the login session with CDS_CONSOLE_KEY),
 * checked before anything is done: a POST without it or with a wrong one is
 * a 403 page and changes nothing. Every action goes to audit_log with the
 * operator's identity, through the same SQL functions as the partner API
 * and the `cds` commands where those exist.
 *
 * Pages: unmatched transfers and refunds due (payments.c), a dossier
 * (dossier.c), shipments that failed to book, are stuck or came back
 * (shipments.c), notifications that failed for good (notifications.c), the
 * SMS gateways and the queues (gateways.c), couriers and agents (couriers.c,
 * agents.c), the audit log (audit.c). */
#ifndef CDS_CONSOLE_H
#define CDS_CONSOLE_H
#include "core/http.h"
#include "core/options.h"

typedef struct cds_console_config {
    const char *key;      /* base64 32 bytes: CSRF tokens (unset: development key) */
    const char *keys_dir; /* development keys (set by the api module) */
    int stuck_hours;      /* a shipment with no news for this long is "stuck" */
} cds_console_config;

void cds_console_config_defaults(cds_console_config *c);
size_t cds_console_options(cds_console_config *c, cds_opt *out, size_t cap);
/* Before the loop threads start: key, statements. 0 on success. */
int cds_console_init(const cds_console_config *c);
void cds_console_shutdown(void);

/* Routes (api/routes.c). */
void cds_console_home(cds_req *r);                /* GET  /console */
void cds_console_login_form(cds_req *r);          /* GET  /console/login */
void cds_console_login(cds_req *r);               /* POST /console/login */
void cds_console_oidc_start(cds_req *r);          /* GET  /console/login/oidc */
void cds_console_oidc_callback(cds_req *r);       /* GET  /console/login/callback */
void cds_console_logout(cds_req *r);              /* POST /console/logout */
void cds_console_payments(cds_req *r);            /* GET  /console/payments */
void cds_console_payment_resolve(cds_req *r);     /* POST /console/payments/transactions/{id}/resolve */
void cds_console_payment_refunded(cds_req *r);    /* POST /console/payments/{id}/refunded */
void cds_console_dossier(cds_req *r);             /* GET  /console/dossiers/{code} */
void cds_console_shipments(cds_req *r);           /* GET  /console/shipments */
void cds_console_shipment_retry(cds_req *r);      /* POST /console/shipments/{id}/retry */
void cds_console_shipment_cancel(cds_req *r);     /* POST /console/shipments/{id}/cancel */
void cds_console_shipment_repoll(cds_req *r);     /* POST /console/shipments/{id}/repoll */
void cds_console_notifications(cds_req *r);       /* GET  /console/notifications */
void cds_console_notification_resend(cds_req *r); /* POST /console/notifications/{id}/resend */
void cds_console_gateways(cds_req *r);            /* GET  /console/gateways */
void cds_console_couriers(cds_req *r);            /* GET  /console/couriers */
void cds_console_courier_create(cds_req *r);      /* POST /console/couriers */
void cds_console_courier_disable(cds_req *r);     /* POST /console/couriers/{id}/disable */
void cds_console_agents(cds_req *r);              /* GET  /console/agents */
void cds_console_agent_create(cds_req *r);        /* POST /console/agents */
void cds_console_agent_disable(cds_req *r);       /* POST /console/agents/{id}/disable */
void cds_console_location_create(cds_req *r);     /* POST /console/agents/locations */
void cds_console_location_disable(cds_req *r);    /* POST /console/agents/locations/{id}/disable */
void cds_console_audit(cds_req *r);               /* GET  /console/audit */

#endif
