/* notify/ configuration and start-up: options (CDS_NOTIFY_*, CDS_SMS_*,
 * CDS_ZNS_*, CDS_FCM_*, CDS_APNS_*), templates, providers, statements. A channel is
 * sent only when its provider is configured; a process with none (or with
 * CDS_NOTIFY_DISPATCH=0) leaves the outbox to others. */
#include "internal.h"
#include "core/log.h"

#include <string.h>

cds_notify_config g_notify;

void cds_notify_config_defaults(cds_notify_config *c)
{
    memset(c, 0, sizeof *c);
    c->dispatch = 1;
    /* Every send in flight to an HTTP/1.1 gateway holds a connection of its
     * own, so the cap is also the connection count per thread and gateway:
     * 2048 opened hundreds per thread, which the gateways (and libcurl's
     * connection cache) churned through. 128 sends in flight carry 2,500
     * messages/s per thread even at 50 ms per call. */
    c->batch = 64;
    c->max_inflight = 128;
    c->poll_ms = 1000;
    c->claim_timeout_s = 120;
    c->max_attempts = 10;
    c->backoff_base_ms = 2000;
    c->backoff_max_ms = 30 * 60 * 1000;
    c->sms_per_hour = 10;
    c->sms_window_s = 3600;
    c->esms_brandname = "CONGDANSO";
    c->esms_sms_type = "2";
    c->speedsms_sender = "CONGDANSO";
    c->sms_timeout_ms = 5000;
    c->sms_slow_ms = 2000;
    c->breaker_failures = 3;
    c->breaker_cooldown_ms = 10000;
    c->esms_callback_token = "cds-dev-esms-callback-token";
    c->speedsms_callback_token = "cds-dev-speedsms-callback-token";
    c->receipt_batch = 64;
    c->zns_url = NULL; /* Zalo's is https://business.openapi.zalo.me */
    c->zns_oauth_url = "https://oauth.zaloapp.com";
    c->zns_webhook_window_s = 300;
    c->fcm_url = "https://fcm.googleapis.com";
    c->apns_url = "https://api.push.apple.com";
    c->apns_topic = "vn.gov.hochiminhcity.congdanso";
    c->push_timeout_ms = 10000;
}

size_t cds_notify_options(cds_notify_config *c, cds_opt *out, size_t cap)
{
    const cds_opt o[] = {
        {"notify-dispatch", "CDS_NOTIFY_DISPATCH", CDS_OPT_INT, &c->dispatch, 0, 1, "send the outbox's notifications from this process"},
        {"notify-node", "CDS_NOTIFY_NODE", CDS_OPT_STR, &c->node, 0, 0, "dispatcher name recorded on claimed rows; default host:pid"},
        {"notify-batch", "CDS_NOTIFY_BATCH", CDS_OPT_INT, &c->batch, 1, 10000, "outbox rows claimed at once per thread"},
        {"notify-max-inflight", "CDS_NOTIFY_MAX_INFLIGHT", CDS_OPT_INT, &c->max_inflight, 1, 100000, "sends in flight per thread"},
        {"notify-poll-ms", "CDS_NOTIFY_POLL_MS", CDS_OPT_INT, &c->poll_ms, 10, 600000, "look for due rows this often even without NOTIFY"},
        {"notify-claim-timeout", "CDS_NOTIFY_CLAIM_TIMEOUT", CDS_OPT_INT, &c->claim_timeout_s, 1, 86400, "seconds before a claimed row with no result is handed back"},
        {"notify-max-attempts", "CDS_NOTIFY_MAX_ATTEMPTS", CDS_OPT_INT, &c->max_attempts, 1, 100, "attempts before a message fails for good"},
        {"notify-backoff-ms", "CDS_NOTIFY_BACKOFF_MS", CDS_OPT_INT, &c->backoff_base_ms, 1, 3600000, "first retry delay; doubles each attempt, with jitter"},
        {"notify-backoff-max-ms", "CDS_NOTIFY_BACKOFF_MAX_MS", CDS_OPT_INT, &c->backoff_max_ms, 1, 86400000, "longest retry delay"},
        {"sms-per-hour", "CDS_SMS_PER_HOUR", CDS_OPT_INT, &c->sms_per_hour, 0, 1000000, "SMS per citizen (one phone each) and window (an hour); 0: no limit. Over it, step SMS are deferred and coalesced, never dropped"},
        {"sms-window", "CDS_SMS_WINDOW", CDS_OPT_INT, &c->sms_window_s, 1, 86400, "seconds of the per-citizen SMS window (3600)"},
        {"notify-templates", "CDS_NOTIFY_TEMPLATES", CDS_OPT_STR, &c->templates_file, 0, 0, "templates file; unset: the built-in db/seed/templates.json"},
        {"esms-url", "CDS_ESMS_URL", CDS_OPT_URL, &c->esms_url, 0, 0, "eSMS API base URL (first SMS gateway); unset: not used"},
        {"esms-api-key", "CDS_ESMS_API_KEY", CDS_OPT_SECRET, &c->esms_api_key, 0, 0, "eSMS ApiKey"},
        {"esms-secret-key", "CDS_ESMS_SECRET_KEY", CDS_OPT_SECRET, &c->esms_secret_key, 0, 0, "eSMS SecretKey"},
        {"esms-brandname", "CDS_ESMS_BRANDNAME", CDS_OPT_STR, &c->esms_brandname, 0, 0, "registered sender name"},
        {"esms-sms-type", "CDS_ESMS_SMS_TYPE", CDS_OPT_STR, &c->esms_sms_type, 0, 0, "eSMS SmsType (2: customer care with brandname)"},
        {"esms-callback-url", "CDS_ESMS_CALLBACK_URL", CDS_OPT_URL, &c->esms_callback_url, 0, 0, "report URL given to eSMS with each message: <public base>/v1/callbacks/sms/esms/<token>; unset: none sent"},
        {"speedsms-url", "CDS_SPEEDSMS_URL", CDS_OPT_URL, &c->speedsms_url, 0, 0, "SpeedSMS API base URL (second SMS gateway); unset: not used"},
        {"speedsms-token", "CDS_SPEEDSMS_TOKEN", CDS_OPT_SECRET, &c->speedsms_token, 0, 0, "SpeedSMS access token"},
        {"speedsms-sender", "CDS_SPEEDSMS_SENDER", CDS_OPT_STR, &c->speedsms_sender, 0, 0, "SpeedSMS sender name"},
        {"sms-timeout-ms", "CDS_SMS_TIMEOUT_MS", CDS_OPT_INT, &c->sms_timeout_ms, 100, 120000, "an SMS gateway call longer than this failed"},
        {"sms-slow-ms", "CDS_SMS_SLOW_MS", CDS_OPT_INT, &c->sms_slow_ms, 10, 120000, "an answer slower than this counts against the gateway"},
        {"sms-breaker-failures", "CDS_SMS_BREAKER_FAILURES", CDS_OPT_INT, &c->breaker_failures, 1, 1000, "failures in a row that move traffic to the other gateway"},
        {"sms-breaker-cooldown-ms", "CDS_SMS_BREAKER_COOLDOWN_MS", CDS_OPT_INT, &c->breaker_cooldown_ms, 10, 3600000, "time before the first gateway is tried again"},
        {"esms-callback-token", "CDS_ESMS_CALLBACK_TOKEN", CDS_OPT_SECRET, &c->esms_callback_token, 0, 0, "secret token in eSMS's report URL /v1/callbacks/sms/esms/{token} (16-128 of A-Z a-z 0-9 - _ . ~)"},
        {"esms-callback-allow", "CDS_ESMS_CALLBACK_ALLOW", CDS_OPT_STR, &c->esms_callback_allow, 0, 0, "addresses eSMS reports may come from (CIDR list); unset: any"},
        {"speedsms-callback-token", "CDS_SPEEDSMS_CALLBACK_TOKEN", CDS_OPT_SECRET, &c->speedsms_callback_token, 0, 0, "secret token in SpeedSMS's report URL /v1/callbacks/sms/speedsms/{token}"},
        {"speedsms-callback-allow", "CDS_SPEEDSMS_CALLBACK_ALLOW", CDS_OPT_STR, &c->speedsms_callback_allow, 0, 0, "addresses SpeedSMS reports may come from (CIDR list); unset: any"},
        {"sms-receipt-batch", "CDS_SMS_RECEIPT_BATCH", CDS_OPT_INT, &c->receipt_batch, 1, 1000, "delivery receipts of one loop turn applied by one statement, at most"},
        {"zns-url", "CDS_ZNS_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL, &c->zns_url, 0, 0, "Zalo ZNS API base (https://business.openapi.zalo.me); unset: no ZNS, messages of citizens who chose Zalo go by SMS"},
        {"zns-oauth-url", "CDS_ZNS_OAUTH_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->zns_oauth_url, 0, 0, "Zalo OAuth base for the OA access token refresh"},
        {"zns-app-id", "CDS_ZNS_APP_ID", CDS_OPT_STR | CDS_OPT_WITH_PREV, &c->zns_app_id, 0, 0, "Zalo app id (token refresh, webhook signature)"},
        {"zns-secret-key", "CDS_ZNS_SECRET_KEY", CDS_OPT_SECRET | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->zns_secret_key, 0, 0, "Zalo app secret key (token refresh)"},
        {"zns-oa-secret-key", "CDS_ZNS_OA_SECRET_KEY", CDS_OPT_SECRET | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->zns_oa_secret_key, 0, 0, "OA secret key: checks the delivery webhook's X-ZEvent-Signature"},
        {"zns-refresh-token", "CDS_ZNS_REFRESH_TOKEN", CDS_OPT_SECRET | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->zns_refresh_token, 0, 0, "OA refresh token: fetches the access token"},
        {"zns-template-id", "CDS_ZNS_TEMPLATE_ID", CDS_OPT_STR | CDS_OPT_WITH_PREV, &c->zns_template_id, 0, 0, "approved ZNS template of dossier updates (dossier_code, status, message)"},
        {"zns-access-token", "CDS_ZNS_ACCESS_TOKEN", CDS_OPT_SECRET | CDS_OPT_OPTIONAL, &c->zns_access_token, 0, 0, "OA access token to start with (optional)"},
        {"zns-webhook-window", "CDS_ZNS_WEBHOOK_WINDOW", CDS_OPT_INT, &c->zns_webhook_window_s, 10, 3600, "seconds a ZNS delivery webhook's timestamp may be off (replay window)"},
        {"fcm-service-account", "CDS_FCM_SERVICE_ACCOUNT", CDS_OPT_KEY | CDS_OPT_OPTIONAL, &c->fcm_service_account, 0, 0, "FCM service-account key: the JSON Google gives, or a path to it; unset: no Android push"},
        {"fcm-url", "CDS_FCM_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->fcm_url, 0, 0, "FCM API base URL (http:// is spoken as h2c)"},
        {"apns-key", "CDS_APNS_KEY", CDS_OPT_KEY | CDS_OPT_OPTIONAL, &c->apns_key, 0, 0, "APNs signing key (.p8, P-256): its PEM text; unset: no iOS push"},
        {"apns-key-id", "CDS_APNS_KEY_ID", CDS_OPT_STR | CDS_OPT_WITH_PREV, &c->apns_key_id, 0, 0, "APNs key id (10 characters, beside the key in Apple's account)"},
        {"apns-team-id", "CDS_APNS_TEAM_ID", CDS_OPT_STR | CDS_OPT_WITH_PREV, &c->apns_team_id, 0, 0, "Apple team id"},
        {"apns-topic", "CDS_APNS_TOPIC", CDS_OPT_STR | CDS_OPT_WITH_PREV, &c->apns_topic, 0, 0, "the app's bundle id"},
        {"apns-url", "CDS_APNS_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->apns_url, 0, 0, "APNs base URL"},
        {"apns-ca-file", "CDS_APNS_CA_FILE", CDS_OPT_STR, &c->apns_ca_file, 0, 0, "extra trust anchor for APNs (the development stand-in)"},
        {"push-timeout-ms", "CDS_PUSH_TIMEOUT_MS", CDS_OPT_INT, &c->push_timeout_ms, 100, 120000, "an FCM or APNs call longer than this failed"},
    };
    size_t n = sizeof o / sizeof o[0];
    if (n > cap) n = cap;
    memcpy(out, o, n * sizeof o[0]);
    return n;
}

static int empty(const char *s)
{
    return !s || !*s;
}

int cds_notify_init(const cds_notify_config *c, const char *db_conninfo)
{
    g_notify = *c;
    if (empty(g_notify.esms_url)) g_notify.esms_url = NULL;
    if (empty(g_notify.speedsms_url)) g_notify.speedsms_url = NULL;
    if (empty(g_notify.zns_url)) g_notify.zns_url = NULL;
    if (empty(g_notify.zns_oauth_url)) g_notify.zns_oauth_url = NULL;
    if (empty(g_notify.zns_access_token)) g_notify.zns_access_token = NULL;
    if (empty(g_notify.zns_refresh_token)) g_notify.zns_refresh_token = NULL;
    if (empty(g_notify.fcm_service_account)) g_notify.fcm_service_account = NULL;
    if (empty(g_notify.apns_key)) g_notify.apns_key = NULL;
    if (nt_templates_load(g_notify.templates_file) != 0) return -1;
    if (nt_receipts_init() != 0) return -1;
    if (nt_inbox_init() != 0) return -1;
    if (nt_sms_init() != 0 || nt_zns_init() != 0 || nt_push_init() != 0) return -1;
    return nt_dispatch_init(db_conninfo);
}

void cds_notify_shutdown(void)
{
    nt_dispatch_shutdown();
    nt_push_shutdown();
    nt_receipts_shutdown();
    nt_templates_free();
}
