/* Notifications: delivery of the outbox rows every dossier step writes (an
 * SMS to the citizen's phone, a push to each registered device), the SMS
 * gateways' delivery-receipt callbacks and the citizen's in-app inbox.
 *
 * Dispatching runs on the server's event-loop threads (cds_notify_worker_start
 * from the server's on_worker_start hook): each thread claims due rows with
 * FOR UPDATE SKIP LOCKED, renders them from the templates, sends them with
 * its curl multi handle and records the results in batches. Any number of
 * processes may dispatch against one database. db/migrations/0004_notify.sql
 * holds the statuses, db/functions/notify.sql the SQL side. */
#ifndef CDS_NOTIFY_H
#define CDS_NOTIFY_H
#include "core/http.h"
#include "core/options.h"

typedef struct cds_notify_config {
    int dispatch;                 /* 1: this process sends (when a channel is configured) */
    const char *node;             /* name recorded in claimed_by; default host:pid */
    int batch, max_inflight, poll_ms;
    int claim_timeout_s, max_attempts, backoff_base_ms, backoff_max_ms;
    int sms_per_hour;             /* per citizen and window; 0 = no limit */
    int sms_window_s;             /* the limit's window: 3600 (an hour) */
    const char *templates_file;   /* NULL: the embedded db/seed/templates.json */
    /* SMS gateways: eSMS-style first, SpeedSMS-style second */
    const char *esms_url, *esms_api_key, *esms_secret_key, *esms_brandname, *esms_sms_type;
    const char *esms_callback_url;
    const char *speedsms_url, *speedsms_token, *speedsms_sender;
    int sms_timeout_ms, sms_slow_ms, breaker_failures, breaker_cooldown_ms;
    /* delivery reports: the secret token in the callback URL of each gateway
     * and, optionally, the source addresses it may call from (CIDR list) */
    const char *esms_callback_token, *esms_callback_allow;
    const char *speedsms_callback_token, *speedsms_callback_allow;
    int receipt_batch;            /* delivery receipts applied by one statement, at most */
    /* Zalo ZNS (notify/zns.c) */
    const char *zns_url, *zns_oauth_url, *zns_app_id, *zns_secret_key, *zns_oa_secret_key;
    const char *zns_access_token, *zns_refresh_token, *zns_template_id;
    int zns_webhook_window_s; /* a delivery webhook's timestamp may be this far off */
    /* push */
    const char *fcm_service_account, *fcm_url;
    const char *apns_url, *apns_key, *apns_key_id, *apns_team_id, *apns_topic;
    const char *apns_ca_file;
    int push_timeout_ms;
    const char *keys_dir;         /* development secrets (set by the api module) */
} cds_notify_config;

void cds_notify_config_defaults(cds_notify_config *c);
size_t cds_notify_options(cds_notify_config *c, cds_opt *out, size_t cap);
/* Before the loop threads start: loads templates, keys and provider
 * settings, registers statements, starts the LISTEN thread. 0 on success. */
int cds_notify_init(const cds_notify_config *c, const char *db_conninfo);
void cds_notify_shutdown(void);
/* Per loop thread (server hooks). */
void cds_notify_worker_start(cds_worker *w);
void cds_notify_worker_stop(cds_worker *w);

/* The SMS gateways' circuit breakers in this process (sms.c), for the
 * operators' console: in the order traffic tries them (the first usable
 * one takes it, the next when it fails). Each process keeps its own. */
typedef struct cds_sms_gateway_state {
    const char *name;  /* "esms", "speedsms" */
    int failures;      /* failures (or slow answers) in a row */
    int open;          /* the breaker is open: the gateway gets no traffic */
    int probing;       /* cooled down: one message is testing it */
    long long wait_ms; /* open: until a message may probe it */
} cds_sms_gateway_state;
/* Fills out (at most cap) and returns how many gateways are configured. */
size_t cds_notify_sms_gateways(cds_sms_gateway_state *out, size_t cap);

/* Routes. */
void cds_sms_receipt_esms(cds_req *r);     /* GET  /v1/callbacks/sms/esms/{token} */
void cds_sms_receipt_speedsms(cds_req *r); /* POST /v1/callbacks/sms/speedsms/{token} */
void cds_zns_webhook(cds_req *r);          /* POST /v1/callbacks/zns */
void cds_notifications_list(cds_req *r);   /* GET  /v1/notifications */
void cds_notification_read(cds_req *r);    /* POST /v1/notifications/{id}/read */

#endif
