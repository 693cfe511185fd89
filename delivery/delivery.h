/* Courier delivery of results: the citizen's delivery choice (priced by the
 * tariff), booking with the carrier through the shipments outbox, the
 * carriers' status webhooks and the polling fallback, and tracking.
 *
 * Booking runs on the server's event-loop threads (cds_delivery_worker_start
 * from api/routes.c): each thread claims due bookings with SKIP LOCKED and
 * calls the carrier with its curl multi handle. Carriers are adapters
 * (delivery/internal.h, dl_carrier): VNPost/EMS-style and GHN; each agency
 * books with its own carrier (agencies.carrier) or CDS_DELIVERY_CARRIER. The SQL: tables in db/migrations/0008_delivery.sql,
 * functions in db/functions/delivery.sql. */
#ifndef CDS_DELIVERY_H
#define CDS_DELIVERY_H
#include "core/http.h"
#include "core/options.h"

#include <jansson.h>

typedef struct cds_delivery_config {
    const char *tariff_file;      /* NULL: the built-in db/seed/tariff.json */
    const char *carrier;          /* carrier of new shipments ("vnpost") */
    const char *webhook_secrets;  /* "vnpost:secret[,...]": webhook signers */
    int webhook_window_s;         /* replay window of signed webhooks */
    int max_failed_attempts;      /* then the shipment returns to the agency */
    int dispatch;                 /* 1: this process books shipments */
    int batch, poll_ms, claim_timeout_s, max_attempts, backoff_base_ms, backoff_max_ms;
    const char *poll_carriers;    /* carriers asked by polling: "vnpost[,...]" ("" none) */
    int poll_after_s;             /* shipments not updated for this long are polled */
    int poll_every_ms;            /* how often the polling round runs */
    const char *vnpost_url, *vnpost_token, *vnpost_customer_code;
    /* GHN (delivery/carrier_ghn.c): API base URL, account token, the shop
     * of agencies without their own (agencies.carrier_account), the secret
     * token of the callback URL, the callback's allowed source addresses,
     * the service type of bookings (2: light goods). */
    const char *ghn_url, *ghn_token, *ghn_shop_id, *ghn_callback_token, *ghn_callback_allow;
    int ghn_service_type_id;
    int call_timeout_ms;
    int courier_token_ttl_s; /* lifetime of a courier's handheld token */
} cds_delivery_config;

void cds_delivery_config_defaults(cds_delivery_config *c);
size_t cds_delivery_options(cds_delivery_config *c, cds_opt *out, size_t cap);
/* Before threads start: tariff, carriers, statements, LISTEN. 0 on success. */
int cds_delivery_init(const cds_delivery_config *c, const char *db_conninfo);
void cds_delivery_shutdown(void);
void cds_delivery_worker_start(cds_worker *w);
void cds_delivery_worker_stop(cds_worker *w);

/* The citizen's delivery choice as sent by the app, for procedure
 * `procedure_code`: NULL/absent or {"method":"pickup"}, or {"method":"post",
 * "recipient":{"name","phone","address":{"province","district","ward",
 * "street"}},"notes"?,"cod"?}. On success returns the JSON to store in
 * dossiers.delivery (new reference: phone normalized, fee_vnd from the
 * tariff, weight_class, carrier, cod); NULL with a Vietnamese message on a
 * bad choice. Pure: the tariff must be loaded (cds_delivery_init or
 * cds_delivery_tariff_load). */
json_t *cds_delivery_choice(const json_t *in, const char *procedure_code, char *err, size_t cap);
/* Loads a tariff document (JSON text); -1 with a message. */
int cds_delivery_tariff_load(const char *json_text, char *err, size_t cap);
/* The fee of a district/province and weight class; -1 when none applies. */
long long cds_delivery_fee(const char *province, const char *district, const char *weight_class);

/* 1 when `name` is a carrier this build has an adapter for ("vnpost", "ghn"). */
int cds_delivery_carrier_known(const char *name);

/* The carriers whose adapter offers the cancel call (cancel 1) or the
 * tracking call (0), as a PostgreSQL text[] literal ("{ghn}"): the console
 * queues those calls only for them (delivery/requests.c sends them). */
const char *cds_delivery_carriers_offering(int cancel);

/* The normalized statuses (Karrio's names). */
#define CDS_SHIPMENT_STATUS_COUNT 9
extern const char *const cds_shipment_statuses[CDS_SHIPMENT_STATUS_COUNT];

/* Routes. */
void cds_delivery_put(cds_req *r);          /* PUT  /v1/dossiers/{id}/delivery */
void cds_delivery_get(cds_req *r);          /* GET  /v1/dossiers/{id}/delivery */
void cds_shipment_get(cds_req *r);          /* GET  /v1/dossiers/{id}/shipment */
void cds_courier_webhook_vnpost(cds_req *r); /* POST /v1/webhooks/couriers/vnpost */
void cds_courier_webhook_ghn(cds_req *r);    /* POST /v1/webhooks/couriers/ghn/{token} */
/* The couriers' handheld app (handheld.c) and accounts (couriers.c). */
void cds_courier_token(cds_req *r);          /* POST /v1/courier/token */
void cds_courier_shipment_get(cds_req *r);   /* GET  /v1/courier/shipments/by-waybill/{code} */
void cds_courier_photo_post(cds_req *r);     /* POST /v1/courier/photos */
void cds_courier_events_post(cds_req *r);    /* POST /v1/courier/events */
void cds_partner_courier_create(cds_req *r); /* POST /v1/partner/couriers */
/* A new courier account, for every caller (the partner route, the
 * operators' console): the checks of its fields (phone "" or NULL when
 * none), NULL when fine, else why (Vietnamese); and a new login secret
 * (64 hex digits, shown once) with its SHA-256 as stored
 * (cds_courier_create's p_secret_sha256). */
const char *cds_courier_fields_check(const char *carrier, const char *external_id,
                                     const char *name, const char *phone);
void cds_courier_secret_new(char secret[65], char sha256_hex[65]);
void cds_partner_courier_disable(cds_req *r); /* POST /v1/partner/couriers/{id}/disable */

#endif
