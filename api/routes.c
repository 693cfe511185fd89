/* The route tables of the API server: every route the server answers, in one
 * place, with the body cap of each: the public table (the API ports) and the
 * admin table (the admin listener, loopback by default, for operators only:
 * /metrics carries payment and receipt counters). tests/unit/test_openapi
 * checks both against openapi.yaml. Also the start-up of every module. */
#include "api/api.h"
#include "api/ops.h"
#include "auth/staff.h"
#include "payment/webhook.h"

#define SMALL (16 * 1024) /* bodies of login, profile, device and step calls */
#define FORM (256 * 1024) /* a dossier's form values */
#define WEBHOOK CDS_HOOK_BODY_MAX /* a payment provider's call */

static const cds_route routes[] = {
    {"GET", "/healthz", cds_ops_healthz, 0},
    {"GET", "/readyz", cds_ops_readyz, 0},
    {"GET", "/openapi.yaml", cds_ops_openapi, 0},
    {"POST", "/v1/auth/login", cds_auth_login_start, SMALL},
    {"POST", "/v1/auth/callback", cds_auth_login_finish, SMALL},
    {"POST", "/v1/auth/refresh", cds_auth_refresh, SMALL},
    {"POST", "/v1/auth/logout", cds_auth_logout, SMALL},
    {"GET", "/v1/me", cds_me_get, 0},
    {"PATCH", "/v1/me", cds_me_patch, SMALL},
    {"POST", "/v1/me/devices", cds_me_device_add, SMALL},
    {"DELETE", "/v1/me/devices/{id}", cds_me_device_remove, 0},
    {"GET", "/v1/procedures", cds_procedures_list, 0},
    {"GET", "/v1/procedures/{code}", cds_procedure_get, 0},
    {"GET", "/v1/procedures/{code}/form", cds_procedure_form, 0},
    {"PUT", "/v1/partner/procedures/{code}", cds_partner_procedure_put, 64 * 1024},
    {"POST", "/v1/attachments", cds_attachment_upload, CDS_STREAMED(ATTACHMENT_MAX_BYTES)},
    {"GET", "/v1/attachments/{id}", cds_attachment_download, 0},
    {"POST", "/v1/dossiers", cds_dossier_file, FORM},
    {"GET", "/v1/dossiers", cds_dossiers_list, 0},
    {"GET", "/v1/dossiers/{id}", cds_dossier_get, 0},
    {"POST", "/v1/dossiers/{id}/cancel", cds_dossier_cancel, SMALL},
    {"POST", "/v1/dossiers/{id}/supplements", cds_dossier_supplement, SMALL},
    {"POST", "/v1/partner/dossiers", cds_partner_import, SMALL},
    {"POST", "/v1/partner/dossiers/{code}/steps", cds_partner_step, SMALL},
    {"GET", "/v1/partner/dossiers/overdue", cds_partner_overdue, 0},
    {"GET", "/v1/dossiers/{id}/lookup-qr.png", cds_dossier_lookup_qr, 0},
    {"GET", "/v1/lookup/{code}", cds_lookup_json, 0},
    {"GET", "/lookup/{code}", cds_lookup_page, 0},
    {"GET", "/app/dossiers/{id}", cds_dossier_app_link, 0},
    {"GET", "/v1/notifications", cds_notifications_list, 0},
    {"POST", "/v1/notifications/{id}/read", cds_notification_read, 0},
    {"GET", "/v1/callbacks/sms/esms/{token}", cds_sms_receipt_esms, 0},
    {"POST", "/v1/callbacks/sms/speedsms/{token}", cds_sms_receipt_speedsms, SMALL},
    {"POST", "/v1/callbacks/zns", cds_zns_webhook, SMALL},
    {"POST", "/v1/dossiers/{id}/payment", cds_payment_open, SMALL},
    {"GET", "/v1/dossiers/{id}/payment", cds_payment_get, 0},
    {"GET", "/v1/payments/{id}/qr.png", cds_payment_qr_png, 0},
    {"GET", "/v1/payments/{id}/qr.svg", cds_payment_qr_svg, 0},
    {"POST", "/v1/webhooks/payos", cds_webhook_payos, WEBHOOK},
    {"POST", "/v1/webhooks/casso", cds_webhook_casso, WEBHOOK},
    {"POST", "/v1/webhooks/sepay", cds_webhook_sepay, WEBHOOK},
    {"GET", "/v1/partner/payments/reconciliation", cds_payment_reconciliation, 0},
    {"GET", "/v1/partner/payments/unmatched", cds_payment_unmatched, 0},
    {"POST", "/v1/partner/payments/transactions/{id}/resolve", cds_payment_resolve, SMALL},
    {"POST", "/v1/partner/payments/{id}/refunded", cds_payment_refunded, SMALL},
    {"GET", "/v1/receipts", cds_receipts_list, 0},
    {"GET", "/v1/receipts/{id}", cds_receipt_get, 0},
    {"GET", "/v1/receipts/{id}/export", cds_receipt_export_doc, 0},
    {"GET", "/v1/receipts/{id}/pdf", cds_receipt_pdf_get, 0},
    {"GET", "/v1/receipt-checks/{id}", cds_receipt_check_json, 0},
    {"GET", "/r/{id}", cds_receipt_check_page, 0},
    {"GET", "/v1/receipt-keys/{kid}", cds_receipt_key_get, 0},
    {"POST", "/v1/partner/receipts/{id}/corrections", cds_partner_receipt_correct, SMALL},
    {"GET", "/v1/partner/receipts/export", cds_partner_receipts_export, 0},
    {"PUT", "/v1/dossiers/{id}/delivery", cds_delivery_put, SMALL},
    {"GET", "/v1/dossiers/{id}/delivery", cds_delivery_get, 0},
    {"GET", "/v1/dossiers/{id}/shipment", cds_shipment_get, 0},
    {"PUT", "/v1/dossiers/{id}/rating", cds_rating_put, SMALL},
    {"GET", "/v1/dossiers/{id}/rating", cds_rating_get, 0},
    {"POST", "/v1/dossiers/{id}/feedback", cds_feedback_post, SMALL},
    {"GET", "/v1/partner/ratings/summary", cds_rating_summary, 0},
    {"GET", "/lookup/{code}/rating", cds_rating_page_form, 0},
    {"POST", "/lookup/{code}/rating", cds_rating_page_rate, SMALL},
    {"POST", "/lookup/{code}/feedback", cds_rating_page_feedback, SMALL},
    {"POST", "/v1/webhooks/couriers/vnpost", cds_courier_webhook_vnpost, 64 * 1024},
    {"POST", "/v1/webhooks/couriers/ghn/{token}", cds_courier_webhook_ghn, 64 * 1024},
    {"POST", "/v1/courier/token", cds_courier_token, SMALL},
    {"GET", "/v1/courier/shipments/by-waybill/{code}", cds_courier_shipment_get, 0},
    {"POST", "/v1/courier/photos", cds_courier_photo_post, 2 * 1024 * 1024},
    {"POST", "/v1/courier/events", cds_courier_events_post, 256 * 1024},
    {"POST", "/v1/partner/couriers", cds_partner_courier_create, SMALL},
    {"POST", "/v1/partner/couriers/{id}/disable", cds_partner_courier_disable, SMALL},
    {"POST", "/v1/staff/login", cds_staff_login_route, SMALL},
    {"POST", "/v1/staff/logout", cds_staff_logout_route, 0},
    {"GET", "/v1/staff/me", cds_staff_me_route, 0},
    {"POST", "/v1/staff/oidc/start", cds_staff_oidc_start_route, SMALL},
    {"POST", "/v1/staff/oidc/callback", cds_staff_oidc_callback_route, SMALL},
    {"POST", "/v1/staff/accounts", cds_staff_accounts_create_route, SMALL},
    {"POST", "/v1/staff/accounts/{id}/disable", cds_staff_accounts_disable_route, 0},
    {"POST", "/v1/agent/consents", cds_agent_consent_start, SMALL},
    {"POST", "/v1/agent/consents/{id}/verify", cds_agent_consent_verify, SMALL},
    {"GET", "/v1/agent/consents/{id}/citizen", cds_agent_consent_citizen, 0},
    {"POST", "/v1/agent/vneid-consents", cds_agent_vneid_consent_start, 0},
    {"POST", "/v1/agent/vneid-consents/callback", cds_agent_vneid_consent_finish, SMALL},
    {"POST", "/v1/agent/consents/{id}/attachments", cds_agent_attachment_upload, CDS_STREAMED(ATTACHMENT_MAX_BYTES)},
    {"POST", "/v1/agent/dossiers", cds_agent_dossier_file, FORM},
    {"GET", "/v1/agent/dossiers", cds_agent_dossiers_list, 0},
    {"GET", "/v1/agent/dossiers/{id}", cds_agent_dossier_get, 0},
    {"POST", "/v1/agent/dossiers/{id}/cash", cds_agent_cash, SMALL},
    {"GET", "/v1/agent/dossiers/{id}/slip", cds_agent_slip, 0},
    {"GET", "/v1/partner/agents/counts", cds_partner_agent_counts, 0},
    {"GET", "/console", cds_console_home, 0},
    {"GET", "/console/login", cds_console_login_form, 0},
    {"POST", "/console/login", cds_console_login, SMALL},
    {"GET", "/console/login/oidc", cds_console_oidc_start, 0},
    {"GET", "/console/login/callback", cds_console_oidc_callback, 0},
    {"POST", "/console/logout", cds_console_logout, SMALL},
    {"GET", "/console/payments", cds_console_payments, 0},
    {"POST", "/console/payments/transactions/{id}/resolve", cds_console_payment_resolve, SMALL},
    {"POST", "/console/payments/{id}/refunded", cds_console_payment_refunded, SMALL},
    {"GET", "/console/dossiers/{code}", cds_console_dossier, 0},
    {"GET", "/console/shipments", cds_console_shipments, 0},
    {"POST", "/console/shipments/{id}/retry", cds_console_shipment_retry, SMALL},
    {"POST", "/console/shipments/{id}/cancel", cds_console_shipment_cancel, SMALL},
    {"POST", "/console/shipments/{id}/repoll", cds_console_shipment_repoll, SMALL},
    {"GET", "/console/notifications", cds_console_notifications, 0},
    {"POST", "/console/notifications/{id}/resend", cds_console_notification_resend, SMALL},
    {"GET", "/console/gateways", cds_console_gateways, 0},
    {"GET", "/console/couriers", cds_console_couriers, 0},
    {"POST", "/console/couriers", cds_console_courier_create, SMALL},
    {"POST", "/console/couriers/{id}/disable", cds_console_courier_disable, SMALL},
    {"GET", "/console/agents", cds_console_agents, 0},
    {"POST", "/console/agents", cds_console_agent_create, SMALL},
    {"POST", "/console/agents/{id}/disable", cds_console_agent_disable, SMALL},
    {"POST", "/console/agents/locations", cds_console_location_create, SMALL},
    {"POST", "/console/agents/locations/{id}/disable", cds_console_location_disable, SMALL},
    {"GET", "/console/audit", cds_console_audit, 0},
};

/* Never on the public ports. */
static const cds_route admin_routes[] = {
    {"GET", "/metrics", cds_ops_metrics, 0},
};

const cds_route *cds_api_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}

const cds_route *cds_api_admin_routes(size_t *n)
{
    *n = sizeof admin_routes / sizeof admin_routes[0];
    return admin_routes;
}

void cds_api_config_defaults(cds_api_config *c)
{
    cds_auth_config_defaults(&c->auth);
    cds_dossiers_config_defaults(&c->dossiers);
    cds_notify_config_defaults(&c->notify);
    cds_payment_config_defaults(&c->payment);
    cds_receipts_config_defaults(&c->receipts);
    cds_delivery_config_defaults(&c->delivery);
    cds_console_config_defaults(&c->console);
    c->db_conninfo = NULL;
}

size_t cds_api_options(cds_api_config *c, cds_opt *out, size_t cap)
{
    size_t n = cds_auth_options(&c->auth, out, cap);
    n += cds_dossiers_options(&c->dossiers, out + n, cap - n);
    n += cds_notify_options(&c->notify, out + n, cap - n);
    n += cds_payment_options(&c->payment, out + n, cap - n);
    n += cds_receipts_options(&c->receipts, out + n, cap - n);
    n += cds_delivery_options(&c->delivery, out + n, cap - n);
    return n + cds_console_options(&c->console, out + n, cap - n);
}

int cds_api_init(const cds_api_config *c)
{
    if (cds_ops_init() != 0) return -1;
    if (cds_auth_init(&c->auth, c->db_conninfo) != 0) return -1;
    cds_dossiers_config d = c->dossiers;
    d.keys_dir = c->auth.keys_dir; /* one development keys directory */
    d.db_conninfo = c->db_conninfo; /* the TTHC outbox */
    if (cds_dossiers_init(&d) != 0) return -1;
    cds_payment_config pc = c->payment;
    pc.db_conninfo = c->db_conninfo; /* the payOS cancel outbox */
    if (cds_payment_init(&pc) != 0) return -1;
    if (cds_notify_init(&c->notify, c->db_conninfo) != 0) return -1;
    cds_receipts_config rc = c->receipts;
    rc.keys_dir = c->auth.keys_dir;
    rc.public_base_url = c->dossiers.public_base_url;
    if (cds_receipts_init(&rc, c->db_conninfo) != 0) return -1;
    if (cds_delivery_init(&c->delivery, c->db_conninfo) != 0) return -1;
    cds_console_config cc = c->console;
    cc.keys_dir = c->auth.keys_dir;
    return cds_console_init(&cc);
}

void cds_api_worker_start(cds_worker *w, void *ctx)
{
    (void)ctx;
    cds_notify_worker_start(w);
    cds_payment_worker_start(w);
    cds_delivery_worker_start(w);
    cds_dossiers_worker_start(w);
}

void cds_api_worker_stop(cds_worker *w, void *ctx)
{
    (void)ctx;
    cds_dossiers_worker_stop(w);
    cds_payment_worker_stop(w);
    cds_delivery_worker_stop(w);
    cds_notify_worker_stop(w);
}

void cds_api_shutdown(void)
{
    cds_console_shutdown();
    cds_receipts_shutdown();
    cds_delivery_shutdown();
    cds_notify_shutdown();
    cds_payment_shutdown();
    cds_dossiers_shutdown();
    cds_auth_shutdown();
}
