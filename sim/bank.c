/* The stand-in bank (`bank`, port 9007): "pays" a payment intent the way a
 * citizen's bank app and the payment provider watching our account would.
 * Given the VietQR payload we showed the citizen, it decodes it with its
 * own reader (sim/vietqr_read.c, a bad one is refused with its message),
 * makes the bank transfer (amount from the payload, transfer description =
 * the purpose 62/08, possibly mangled as bank apps do), and delivers the
 * provider's webhook for it to our server, signed as that provider signs
 * with its own code from the providers' documents (sim/provider_sign.c,
 * never the server's): payOS, Casso or SePay shape. A payload that is the
 * qrCode of a payOS payment link the payOS stand-in made (sim/payos.c) is
 * reported under that link's orderCode and paymentLinkId, as payOS does.
 *
 *   POST /_sim/pay   {"payload": VietQR text,                     (required)
 *                     "provider": "payos"|"casso"|"sepay",        (default CDS_SIM_BANK_PROVIDER)
 *                     "amount": integer (a wrong amount) or any JSON value
 *                               (sent as is: "1000", -5, 0, 1e13 ...),
 *                     "description": text (replaces the purpose),
 *                     "mangle": "lower"|"spaces"|"punct"|"prefix"|"suffix"|"none"
 *                               or a list of them, applied in order,
 *                     "fields": {...} members set in the provider's transaction
 *                               object (payOS data, Casso data, SePay body),
 *                     "tx_id": the provider transaction id (replay a known one),
 *                     "auth": "hmac"|"apikey" (SePay only; default: hmac),
 *                     "forge": true (signed with a wrong secret / wrong API key),
 *                     "stale": true (timestamp 10 minutes old; Casso, SePay hmac),
 *                     "repeat": n (1..100, the same signed request n times),
 *                     "delay_ms": n (0..60000, wait before sending),
 *                     "hold": true (prepare only; send later with /_sim/send/{id})}
 *   POST /_sim/send/{id}  {"repeat"?, "forge"?, "stale"?, "delay_ms"?}: delivers a
 *                     prepared transfer (again): signed afresh, same transaction,
 *                     so two holds sent in reverse order arrive out of order
 *   GET  /_sim/transfers  every transfer prepared, oldest first
 *
 * The answer of a delivery: {"id", "provider", "tx_id", "idempotency_key"
 * (what our server deduplicates on: payOS paymentLinkId ":" reference, else
 * the id), "amount", "description", "url", "sent": {"headers", "body"},
 * "status" and "body" (our server's last answer), "attempts": [{"status",
 * "body"|"error"}, ...]}; HTTP 200 when every attempt got an answer, 502
 * when one did not. A hold answers 201 with the transfer. Every delivery
 * attempt is also recorded (GET /_sim/requests, kind "webhook").
 *
 * Identities: a fresh transaction id per transfer (random, so a restarted
 * bank never reuses one); payOS's paymentLinkId and orderCode are derived
 * from the payload (one payment link per intent), its "reference" is the
 * bank's transfer reference and what tx_id sets.
 *
 * Configuration: CDS_SIM_BANK_TARGET (our server, default
 * http://127.0.0.1:8080), CDS_SIM_BANK_PROVIDER (default payos),
 * CDS_SIM_BANK_PAYOS_PATH, CDS_SIM_BANK_CASSO_PATH, CDS_SIM_BANK_SEPAY_PATH
 * (default /v1/webhooks/payos, /casso, /sepay), CDS_SIM_BANK_CA_FILE; the
 * secrets under the server's own names, with the same development
 * defaults: CDS_PAYOS_CHECKSUM_KEY, CDS_CASSO_SECRET, CDS_SEPAY_API_KEY,
 * CDS_SEPAY_HMAC_SECRET (see BANK_HELP). */
#include "core/http_client.h"
#include "core/log.h"
#include "sim/payos.h"
#include "sim/sim.h"
#include "sim/witness.h"

#include <ctype.h>
#include <event2/event.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TARGET "http://127.0.0.1:8080"
#define DEFAULT_PAYOS_KEY "cds-dev-payos-checksum-key"
#define DEFAULT_CASSO_SECRET "cds-dev-casso-webhook-secret"
#define DEFAULT_SEPAY_API_KEY "cds-dev-sepay-api-key"
#define DEFAULT_SEPAY_HMAC "cds-dev-sepay-hmac-secret"
#define REPEAT_MAX 100
#define DELAY_MAX_MS 60000
#define CALL_TIMEOUT_MS 15000
#define STALE_S 600
#define TRANSFERS_MAX 65536
#define SECRET_MIN 16

enum { P_PAYOS = 1, P_CASSO = 2, P_SEPAY = 3 };
static const char *const provider_names[] = {"", "payos", "casso", "sepay"};

typedef struct bank_cfg {
    char target[512], ca_file[512];
    char path[4][256]; /* by provider */
    char payos_key[256], casso_secret[256], sepay_api_key[256], sepay_hmac[256];
    int provider;
} bank_cfg;

/* Read-only after bank_init. */
static bank_cfg g_bank;

/* A prepared transfer; immutable once stored except `sends`. */
typedef struct bank_transfer {
    long id;
    int provider;
    int sepay_apikey; /* SePay: authenticate with the API key instead of HMAC */
    char *tx;         /* the provider's transaction object, compact JSON */
    json_t *summary;  /* id, provider, tx_id, idempotency_key, amount, description, payload */
    int sends;
} bank_transfer;

static struct {
    pthread_mutex_t mu;
    bank_transfer *ring[TRANSFERS_MAX];
    long next;
} g_store = {PTHREAD_MUTEX_INITIALIZER, {0}, 1};

static const char BANK_HELP[] =
    "  bank (9007): POST /_sim/pay {\"payload\": VietQR, \"provider\"?, \"amount\"?, "
    "\"description\"?,\n"
    "       \"mangle\"?, \"tx_id\"?, \"forge\"?, \"stale\"?, \"repeat\"?, \"delay_ms\"?, "
    "\"hold\"?},\n"
    "       POST /_sim/send/{id}, GET /_sim/transfers: signed provider webhooks to our server.\n"
    "       CDS_SIM_BANK_TARGET [http://127.0.0.1:8080], CDS_SIM_BANK_PROVIDER [payos],\n"
    "       CDS_SIM_BANK_{PAYOS,CASSO,SEPAY}_PATH [/v1/webhooks/<provider>], "
    "CDS_SIM_BANK_CA_FILE;\n"
    "       secrets as the server reads them: CDS_PAYOS_CHECKSUM_KEY [" DEFAULT_PAYOS_KEY "],\n"
    "       CDS_CASSO_SECRET [" DEFAULT_CASSO_SECRET "], CDS_SEPAY_API_KEY [" DEFAULT_SEPAY_API_KEY
    "],\n"
    "       CDS_SEPAY_HMAC_SECRET [" DEFAULT_SEPAY_HMAC "]\n";

static void copy_env(char *dst, size_t cap, const char *name, const char *dflt)
{
    const char *v = getenv(name);
    snprintf(dst, cap, "%s", v && *v ? v : dflt);
}

static int provider_of(const char *s)
{
    for (int p = P_PAYOS; p <= P_SEPAY; p++)
        if (s && strcmp(s, provider_names[p]) == 0) return p;
    return 0;
}

static int bank_init(sim_standin *s)
{
    char prov[32];
    copy_env(g_bank.target, sizeof g_bank.target, "CDS_SIM_BANK_TARGET", DEFAULT_TARGET);
    copy_env(g_bank.ca_file, sizeof g_bank.ca_file, "CDS_SIM_BANK_CA_FILE", "");
    copy_env(g_bank.path[P_PAYOS], sizeof g_bank.path[0], "CDS_SIM_BANK_PAYOS_PATH",
             "/v1/webhooks/payos");
    copy_env(g_bank.path[P_CASSO], sizeof g_bank.path[0], "CDS_SIM_BANK_CASSO_PATH",
             "/v1/webhooks/casso");
    copy_env(g_bank.path[P_SEPAY], sizeof g_bank.path[0], "CDS_SIM_BANK_SEPAY_PATH",
             "/v1/webhooks/sepay");
    copy_env(g_bank.payos_key, sizeof g_bank.payos_key, "CDS_PAYOS_CHECKSUM_KEY",
             DEFAULT_PAYOS_KEY);
    copy_env(g_bank.casso_secret, sizeof g_bank.casso_secret, "CDS_CASSO_SECRET",
             DEFAULT_CASSO_SECRET);
    copy_env(g_bank.sepay_api_key, sizeof g_bank.sepay_api_key, "CDS_SEPAY_API_KEY",
             DEFAULT_SEPAY_API_KEY);
    copy_env(g_bank.sepay_hmac, sizeof g_bank.sepay_hmac, "CDS_SEPAY_HMAC_SECRET",
             DEFAULT_SEPAY_HMAC);
    copy_env(prov, sizeof prov, "CDS_SIM_BANK_PROVIDER", "payos");
    size_t n = strlen(g_bank.target);
    while (n > 0 && g_bank.target[n - 1] == '/')
        g_bank.target[--n] = 0;
    if (strncmp(g_bank.target, "http://", 7) != 0 && strncmp(g_bank.target, "https://", 8) != 0) {
        fprintf(stderr, "cds-sim: CDS_SIM_BANK_TARGET must be an http:// or https:// base URL\n");
        return -1;
    }
    if (!(g_bank.provider = provider_of(prov))) {
        fprintf(stderr, "cds-sim: CDS_SIM_BANK_PROVIDER must be payos, casso or sepay\n");
        return -1;
    }
    for (int p = P_PAYOS; p <= P_SEPAY; p++)
        if (g_bank.path[p][0] != '/' || strpbrk(g_bank.path[p], " \r\n#")) {
            fprintf(stderr, "cds-sim: the bank's %s webhook path must start with '/'\n",
                    provider_names[p]);
            return -1;
        }
    const char *secrets[] = {g_bank.payos_key, g_bank.casso_secret, g_bank.sepay_api_key,
                             g_bank.sepay_hmac};
    for (size_t i = 0; i < 4; i++)
        if (strlen(secrets[i]) < SECRET_MIN || strpbrk(secrets[i], "\r\n")) {
            fprintf(stderr,
                    "cds-sim: the bank's webhook secrets must be at least %d characters "
                    "on one line\n",
                    SECRET_MIN);
            return -1;
        }
    s->state = &g_bank;
    return 0;
}

/* ---------------- the store ---------------- */

static void transfer_free(bank_transfer *t)
{
    if (!t) return;
    free(t->tx);
    json_decref(t->summary);
    free(t);
}

static long store_put(bank_transfer *t)
{
    pthread_mutex_lock(&g_store.mu);
    t->id = g_store.next++;
    json_object_set_new(t->summary, "id", json_integer(t->id));
    size_t slot = (size_t)t->id % TRANSFERS_MAX;
    transfer_free(g_store.ring[slot]);
    g_store.ring[slot] = t;
    pthread_mutex_unlock(&g_store.mu);
    return t->id;
}

/* A copy of what a send needs, taken under the lock (another thread may
 * replace the slot meanwhile). 0, or -1 when no such transfer. */
typedef struct transfer_copy {
    long id;
    int provider, sepay_apikey;
    char *tx;        /* arena */
    json_t *summary; /* new reference (a deep copy) */
} transfer_copy;

static int store_get(cds_req *r, long id, transfer_copy *out)
{
    int rc = -1;
    pthread_mutex_lock(&g_store.mu);
    bank_transfer *t = id > 0 ? g_store.ring[(size_t)id % TRANSFERS_MAX] : NULL;
    if (t && t->id == id) {
        t->sends++;
        out->id = id;
        out->provider = t->provider;
        out->sepay_apikey = t->sepay_apikey;
        out->tx = cds_req_strdup(r, t->tx);
        json_object_set_new(t->summary, "sends", json_integer(t->sends));
        out->summary = json_deep_copy(t->summary);
        rc = 0;
    }
    pthread_mutex_unlock(&g_store.mu);
    return rc;
}

static void list_transfers(cds_req *r)
{
    json_t *items = json_array();
    pthread_mutex_lock(&g_store.mu);
    long first = g_store.next - TRANSFERS_MAX;
    if (first < 1) first = 1;
    for (long id = first; id < g_store.next; id++) {
        bank_transfer *t = g_store.ring[(size_t)id % TRANSFERS_MAX];
        if (t && t->id == id) json_array_append_new(items, json_deep_copy(t->summary));
    }
    pthread_mutex_unlock(&g_store.mu);
    cds_respond_json(r, 200, json_pack("{s:o}", "items", items));
}

/* ---------------- building a transfer ---------------- */

static void bad_control(cds_req *r, const char *detail)
{
    cds_problem(r, 400, "invalid_control", detail);
}

/* n random decimal digits (the first not 0). */
static const char *random_digits(cds_req *r, int n)
{
    unsigned char raw[32];
    char *out = cds_req_alloc(r, (size_t)n + 1);
    if (n > 32 || RAND_bytes(raw, n) != 1) abort();
    for (int i = 0; i < n; i++)
        out[i] = (char)('0' + raw[i] % 10);
    if (out[0] == '0') out[0] = '1';
    out[n] = 0;
    return out;
}

/* "YYYY-MM-DD HH:MM:SS" in Vietnam time, as all three providers write it. */
static const char *vn_time(cds_req *r)
{
    time_t t = time(NULL) + 7 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return cds_req_strdup(r, buf);
}

static const struct {
    const char *bin, *name, *abbr;
} banks[] = {
    {"970436", "Vietcombank", "VCB"}, {"970415", "VietinBank", "ICB"},
    {"970418", "BIDV", "BIDV"},       {"970405", "Agribank", "VBA"},
    {"970422", "MB Bank", "MB"},      {"970407", "Techcombank", "TCB"},
    {"970416", "ACB", "ACB"},         {"970423", "TPBank", "TPB"},
    {"970432", "VPBank", "VPB"},      {"970403", "Sacombank", "STB"},
    {"970448", "OCB", "OCB"},         {"970441", "VIB", "VIB"},
};

static void bank_names(const char *bin, const char **name, const char **abbr)
{
    for (size_t i = 0; i < sizeof banks / sizeof banks[0]; i++)
        if (strcmp(bin, banks[i].bin) == 0) {
            *name = banks[i].name;
            *abbr = banks[i].abbr;
            return;
        }
    *name = "Ngan hang";
    *abbr = "NH";
}

/* Mangles: what bank apps and people do to a transfer description. */
static char *mangle_one(cds_req *r, const char *in, const char *how)
{
    size_t n = strlen(in);
    if (strcmp(how, "none") == 0) return cds_req_strdup(r, in);
    if (strcmp(how, "lower") == 0) {
        char *o = cds_req_strdup(r, in);
        for (char *p = o; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        return o;
    }
    if (strcmp(how, "prefix") == 0) /* MB-to-Vietcombank style: MBVCB.<trace>.<seq>.text */
        return cds_req_printf(r, "MBVCB.%s.%s.%s", random_digits(r, 10), random_digits(r, 6), in);
    if (strcmp(how, "suffix") == 0)
        return cds_req_printf(r, "%s.CT tu 0011223344 NGUYEN VAN AN toi %s", in,
                              random_digits(r, 10));
    if (strcmp(how, "spaces") == 0 || strcmp(how, "punct") == 0) {
        /* Runs of 8+ letters and digits (the reference) are cut as people
         * retype them: 3, then groups of 4; "punct" alternates - and . */
        int punct = how[0] == 'p';
        char *o = cds_req_alloc(r, 2 * n + 1), *w = o;
        size_t i = 0;
        while (i < n) {
            size_t j = i;
            while (j < n && isalnum((unsigned char)in[j]))
                j++;
            if (j - i >= 8) {
                int k = 0;
                for (size_t x = i; x < j; x++) {
                    size_t pos = x - i;
                    if (pos == 3 || (pos > 3 && (pos - 3) % 4 == 0))
                        *w++ = punct ? ((k++ & 1) ? '.' : '-') : ' ';
                    *w++ = in[x];
                }
            } else {
                memcpy(w, in + i, j - i);
                w += j - i;
            }
            if (j < n) *w++ = in[j++];
            i = j;
        }
        *w = 0;
        return o;
    }
    return NULL;
}

static const char MANGLE_HELP[] =
    "\"mangle\" phải là \"lower\", \"spaces\", \"punct\", \"prefix\", \"suffix\", \"none\" "
    "hoặc một danh sách các giá trị đó.";

/* Applies "mangle" (string or array); NULL after answering 400. */
static const char *mangle(cds_req *r, const char *text, json_t *m)
{
    if (!m) return text;
    if (json_is_string(m)) {
        const char *o = mangle_one(r, text, json_string_value(m));
        if (!o) bad_control(r, MANGLE_HELP);
        return o;
    }
    if (!json_is_array(m) || json_array_size(m) > 8) {
        bad_control(r, MANGLE_HELP);
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(m, i, v)
    {
        const char *o = json_is_string(v) ? mangle_one(r, text, json_string_value(v)) : NULL;
        if (!o) {
            bad_control(r, MANGLE_HELP);
            return NULL;
        }
        text = o;
    }
    return text;
}

/* The id given as tx_id: digits (up to 15) become a JSON integer, as
 * Casso and SePay send theirs; other text stays a string. */
static json_t *id_value(const char *s)
{
    size_t n = strlen(s);
    if (n >= 1 && n <= 15 && strspn(s, "0123456789") == n && (s[0] != '0' || n == 1))
        return json_integer((json_int_t)strtoll(s, NULL, 10));
    return json_string(s);
}

static int flag(json_t *in, const char *key, int *out)
{
    json_t *v = json_object_get(in, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return -1;
    *out = json_is_true(v);
    return 0;
}

static int int_opt(json_t *in, const char *key, long lo, long hi, long *out)
{
    json_t *v = json_object_get(in, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) return -1;
    *out = (long)json_integer_value(v);
    return 0;
}

/* Delivery options common to /pay and /send; 0 or -1 after answering 400. */
typedef struct send_opts {
    int forge, stale;
    long repeat, delay_ms;
} send_opts;

static int parse_send_opts(cds_req *r, json_t *in, int provider, int apikey, send_opts *o)
{
    if (flag(in, "forge", &o->forge) || flag(in, "stale", &o->stale)) {
        bad_control(r, "\"forge\" và \"stale\" phải là true hoặc false.");
        return -1;
    }
    if (int_opt(in, "repeat", 1, REPEAT_MAX, &o->repeat)) {
        bad_control(r, "\"repeat\" phải là số nguyên từ 1 đến 100.");
        return -1;
    }
    if (int_opt(in, "delay_ms", 0, DELAY_MAX_MS, &o->delay_ms)) {
        bad_control(r, "\"delay_ms\" phải là số nguyên từ 0 đến 60000.");
        return -1;
    }
    if (o->stale && (provider == P_PAYOS || (provider == P_SEPAY && apikey))) {
        bad_control(r, "\"stale\" chỉ áp dụng cho casso và sepay (hmac): payOS và khóa API "
                       "không gửi dấu thời gian.");
        return -1;
    }
    return 0;
}

static const char *const pay_keys[] = {"payload", "provider", "amount", "description", "mangle",
                                       "fields",  "tx_id",    "auth",   "forge",       "stale",
                                       "repeat",  "delay_ms", "hold",   NULL};

/* Builds the provider's transaction object for a payment; stores it. NULL
 * after answering 400. */
static bank_transfer *prepare(cds_req *r, json_t *in)
{
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v)
    {
        size_t i = 0;
        while (pay_keys[i] && strcmp(pay_keys[i], k) != 0)
            i++;
        if (!pay_keys[i]) {
            bad_control(r, cds_req_printf(r, "Khóa điều khiển không biết: \"%.60s\".", k));
            return NULL;
        }
    }
    const char *payload = json_string_value(json_object_get(in, "payload"));
    if (!payload) {
        bad_control(r, "Thiếu \"payload\" (nội dung mã VietQR).");
        return NULL;
    }
    sim_vietqr *q = cds_req_alloc(r, sizeof *q);
    char err[200];
    if (sim_vietqr_read(payload, json_string_length(json_object_get(in, "payload")), q, err,
                        sizeof err) != 0) {
        cds_problem(r, 400, "invalid_vietqr", cds_req_printf(r, "Mã VietQR không hợp lệ: %s", err));
        return NULL;
    }
    int provider = g_bank.provider;
    v = json_object_get(in, "provider");
    if (v && !(provider = provider_of(json_string_value(v)))) {
        bad_control(r, "\"provider\" phải là \"payos\", \"casso\" hoặc \"sepay\".");
        return NULL;
    }
    int apikey = 0;
    v = json_object_get(in, "auth");
    if (v) {
        const char *a = json_string_value(v);
        if (provider != P_SEPAY || !a || (strcmp(a, "hmac") != 0 && strcmp(a, "apikey") != 0)) {
            bad_control(r, "\"auth\" (chỉ cho sepay) phải là \"hmac\" hoặc \"apikey\".");
            return NULL;
        }
        apikey = strcmp(a, "apikey") == 0;
    }
    send_opts so = {0};
    int hold = 0;
    if (parse_send_opts(r, in, provider, apikey, &so) != 0) return NULL;
    if (flag(in, "hold", &hold)) {
        bad_control(r, "\"hold\" phải là true hoặc false.");
        return NULL;
    }
    json_t *amount = json_object_get(in, "amount");
    if (amount)
        amount = json_incref(amount);
    else if (q->amount)
        amount = json_integer((json_int_t)q->amount);
    else {
        bad_control(r, "Mã VietQR không có số tiền (mã tĩnh): hãy cho \"amount\".");
        return NULL;
    }
    const char *desc = q->purpose[0] ? q->purpose : "chuyen tien";
    v = json_object_get(in, "description");
    if (v) {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
            json_decref(amount);
            bad_control(r, "\"description\" phải là một chuỗi.");
            return NULL;
        }
        desc = json_string_value(v);
    }
    if (!(desc = mangle(r, desc, json_object_get(in, "mangle")))) {
        json_decref(amount);
        return NULL;
    }
    json_t *fields = json_object_get(in, "fields");
    json_t *txid_in = json_object_get(in, "tx_id");
    if ((fields && !json_is_object(fields)) ||
        (txid_in && !(json_is_string(txid_in) || json_is_integer(txid_in)))) {
        json_decref(amount);
        bad_control(r, "\"fields\" phải là một đối tượng, \"tx_id\" một chuỗi hoặc số nguyên.");
        return NULL;
    }
    const char *tx_id = json_is_integer(txid_in) ? cds_req_printf(r, "%" JSON_INTEGER_FORMAT,
                                                                  json_integer_value(txid_in))
                                                 : json_string_value(txid_in);

    const char *bank_name, *bank_abbr;
    bank_names(q->bin, &bank_name, &bank_abbr);
    const char *when = vn_time(r);
    json_int_t balance = 100000000 + (json_is_integer(amount) ? json_integer_value(amount) : 0);
    json_t *tx, *idem;
    if (provider == P_PAYOS) {
        /* The payment link the payload belongs to: one the payOS stand-in
         * made, else one derived from the payload (one link per intent). */
        char link[64];
        long long order = 0;
        if (sim_payos_link_of_qr(payload, &order, link, sizeof link) == 0) {
            if (json_is_integer(amount)) sim_payos_paid(order, (long long)json_integer_value(amount));
        } else {
            unsigned char h[SHA256_DIGEST_LENGTH];
            SHA256((const unsigned char *)payload, strlen(payload), h);
            for (int i = 0; i < 16; i++)
                snprintf(link + 2 * i, 3, "%02x", h[i]);
            for (int i = 16; i < 22; i++)
                order = order * 256 + h[i];
            order = order % 1000000000000LL + 1;
        }
        if (!tx_id) tx_id = cds_req_printf(r, "FT%s", random_digits(r, 14));
        tx = json_pack("{s:I,s:o,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
                       "orderCode", (json_int_t)order, "amount", amount, "description", desc, "accountNumber",
                       q->account, "reference", tx_id, "transactionDateTime", when, "currency",
                       "VND", "paymentLinkId", link, "code", "00", "desc", "success",
                       "counterAccountBankId", "970436", "counterAccountBankName", "Vietcombank",
                       "counterAccountName", "NGUYEN VAN AN", "counterAccountNumber", "0011223344",
                       "virtualAccountName", "", "virtualAccountNumber", "");
        idem = json_string(cds_req_printf(r, "%s:%s", link, tx_id));
    } else if (provider == P_CASSO) {
        if (!tx_id) tx_id = random_digits(r, 12);
        tx = json_pack("{s:o,s:s,s:s,s:o,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id",
                       id_value(tx_id), "reference",
                       cds_req_printf(r, "FT%s", random_digits(r, 14)), "description", desc,
                       "amount", amount, "runningBalance", balance, "transactionDateTime", when,
                       "accountNumber", q->account, "bankName", bank_name, "bankAbbreviation",
                       bank_abbr, "virtualAccountNumber", "", "virtualAccountName", "",
                       "counterAccountName", "NGUYEN VAN AN", "counterAccountNumber", "0011223344",
                       "counterAccountBankId", "970436", "counterAccountBankName", "Vietcombank");
        idem = json_string(tx_id);
    } else {
        if (!tx_id) tx_id = random_digits(r, 12);
        tx = json_pack("{s:o,s:s,s:s,s:s,s:n,s:s,s:s,s:o,s:I,s:n,s:s,s:s}", "id", id_value(tx_id),
                       "gateway", bank_name, "transactionDate", when, "accountNumber", q->account,
                       "code", "content", desc, "transferType", "in", "transferAmount", amount,
                       "accumulated", balance, "subAccount", "referenceCode",
                       cds_req_printf(r, "FT%s", random_digits(r, 14)), "description",
                       cds_req_printf(r, "BankAPINotify %s", desc));
        idem = json_string(tx_id);
    }
    if (!tx) abort();
    if (fields) json_object_update(tx, fields);
    bank_transfer *t = calloc(1, sizeof *t);
    if (!t) abort();
    t->provider = provider;
    t->sepay_apikey = apikey;
    t->tx = json_dumps(tx, JSON_COMPACT);
    if (!t->tx) {
        free(t);
        json_decref(tx);
        json_decref(idem);
        bad_control(r, "Không tạo được nội dung JSON của giao dịch.");
        return NULL;
    }
    t->summary =
        json_pack("{s:s,s:s,s:o,s:O,s:s,s:s,s:b,s:i}", "provider", provider_names[provider],
                  "tx_id", tx_id, "idempotency_key", idem, "amount",
                  json_object_get(tx, provider == P_SEPAY ? "transferAmount" : "amount"),
                  "description", desc, "payload", payload, "held", hold, "sends", 0);
    json_decref(tx);
    if (!t->summary) abort();
    store_put(t);
    return t;
}

/* ---------------- delivering ---------------- */

typedef struct bank_call {
    cds_req *r;
    sim_standin *s;
    long id;
    int provider;
    const char *url, *body; /* arena */
    size_t body_len;
    const char *headers[8];
    int left, total, failed;
    int slot;
    struct event *timer;
    cds_http_call *call;
    json_t *summary;  /* the transfer's, a copy */
    json_t *attempts; /* [{"status","body"|"error"}] */
} bank_call;

static void call_free(void *p)
{
    bank_call *c = p;
    if (c->timer) event_free(c->timer);
    json_decref(c->summary);
    json_decref(c->attempts);
    free(c);
}

static json_t *answer_body(const cds_http_response *resp)
{
    if (!resp->body || resp->body_len == 0) return json_null();
    json_t *j = json_loadb(resp->body, resp->body_len, JSON_DECODE_ANY, NULL);
    if (j) return j;
    j = json_stringn(resp->body, resp->body_len);
    return j ? j : json_string("(body not UTF-8)");
}

static json_t *sent_headers(bank_call *c)
{
    json_t *h = json_object();
    for (size_t i = 0; c->headers[i]; i++) {
        const char *colon = strchr(c->headers[i], ':');
        if (colon)
            json_object_set_new(
                h, cds_req_printf(c->r, "%.*s", (int)(colon - c->headers[i]), c->headers[i]),
                json_string(colon + 2));
    }
    return h;
}

static void finish(bank_call *c)
{
    json_t *out = json_deep_copy(c->summary);
    size_t n = json_array_size(c->attempts);
    json_t *last = json_array_get(c->attempts, n - 1);
    json_object_set_new(out, "url", json_string(c->url));
    json_object_set_new(
        out, "sent",
        json_pack("{s:o,s:s%}", "headers", sent_headers(c), "body", c->body, c->body_len));
    json_object_set(out, "status", json_object_get(last, "status"));
    json_object_set(out, "body",
                    json_object_get(last, "body") ? json_object_get(last, "body") : json_null());
    if (json_object_get(last, "error"))
        json_object_set(out, "error", json_object_get(last, "error"));
    json_object_set(out, "attempts", c->attempts);
    cds_respond_json(c->r, c->failed ? 502 : 200, out);
}

static void send_one(bank_call *c);

static void on_answer(void *arg, const cds_http_response *resp)
{
    bank_call *c = arg;
    cds_req_untrack(c->r, c->slot);
    c->call = NULL;
    json_t *one = json_pack("{s:I}", "status", (json_int_t)resp->status);
    if (resp->error) {
        json_object_set_new(one, "error", json_string(resp->error));
        c->failed = 1;
    }
    if (!resp->error || resp->body_len) json_object_set_new(one, "body", answer_body(resp));
    json_array_append(c->attempts, one);
    json_t *ev = json_pack("{s:I,s:s,s:s,s:o,s:s%,s:i,s:i}", "transfer", (json_int_t)c->id,
                           "provider", provider_names[c->provider], "url", c->url, "headers",
                           sent_headers(c), "sent_body", c->body, c->body_len, "attempt",
                           c->total - c->left + 1, "of", c->total);
    if (ev) {
        json_object_update(ev, one);
        sim_record_event(c->s, "webhook", ev);
    }
    json_decref(one);
    if (--c->left > 0 && !resp->error) {
        send_one(c);
        return;
    }
    finish(c);
}

static void cancel_call(void *call)
{
    cds_http_cancel(call);
}

static void send_one(bank_call *c)
{
    cds_http_request hr = {.method = "POST",
                           .url = c->url,
                           .headers = c->headers,
                           .body = c->body,
                           .body_len = c->body_len,
                           .timeout_ms = CALL_TIMEOUT_MS,
                           .max_response = 1024 * 1024,
                           .ca_file = g_bank.ca_file[0] ? g_bank.ca_file : NULL};
    c->call = cds_http_start(cds_req_worker(c->r)->http, &hr, on_answer, c);
    if (!c->call) {
        json_array_append_new(c->attempts, json_pack("{s:i,s:s}", "status", 0, "error",
                                                     "request refused by the HTTP client"));
        c->failed = 1;
        finish(c);
        return;
    }
    c->slot = cds_req_track(c->r, cancel_call, c->call);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    bank_call *c = arg;
    cds_req_untrack(c->r, c->slot);
    send_one(c);
}

static void cancel_delay(void *arg)
{
    bank_call *c = arg;
    event_del(c->timer);
}

/* Signs the transfer as its provider would now and sends it (after the
 * delay); answers the control request when done. Takes `summary`. */
static void deliver(cds_req *r, const transfer_copy *t, const send_opts *o)
{
    bank_call *c = calloc(1, sizeof *c);
    if (!c) abort();
    cds_req_set_user(r, c, call_free);
    c->r = r;
    c->s = sim_of(r);
    c->id = t->id;
    c->provider = t->provider;
    c->summary = t->summary;
    c->attempts = json_array();
    c->left = c->total = (int)(o->repeat ? o->repeat : 1);
    c->url = cds_req_printf(r, "%s%s", g_bank.target, g_bank.path[t->provider]);
    size_t h = 0;
    c->headers[h++] = "Content-Type: application/json";
    c->headers[h++] = "User-Agent: cds-sim-bank/1";
    time_t now = time(NULL) - (o->stale ? STALE_S : 0);
    int rc = 0;
    if (t->provider == P_PAYOS) {
        char sig[65];
        const char *key =
            o->forge ? cds_req_printf(r, "forged-%s", g_bank.payos_key) : g_bank.payos_key;
        json_t *data = json_loads(t->tx, 0, NULL);
        rc = data ? sim_payos_sign_object(data, key, sig) : -1;
        json_decref(data);
        c->body = cds_req_printf(r,
                                 "{\"code\":\"00\",\"desc\":\"success\",\"success\":true,"
                                 "\"data\":%s,\"signature\":\"%s\"}",
                                 t->tx, sig);
    } else if (t->provider == P_CASSO) {
        char sig[200];
        const char *key =
            o->forge ? cds_req_printf(r, "forged-%s", g_bank.casso_secret) : g_bank.casso_secret;
        c->body = cds_req_printf(r, "{\"error\":0,\"data\":%s}", t->tx);
        rc = sim_casso_signature(c->body, strlen(c->body), key, (long long)now * 1000, sig,
                                 sizeof sig);
        c->headers[h++] = cds_req_printf(r, "X-Casso-Signature: %s", sig);
    } else {
        c->body = t->tx;
        if (t->sepay_apikey) {
            c->headers[h++] = cds_req_printf(r, "Authorization: Apikey %s%s",
                                             o->forge ? "forged-" : "", g_bank.sepay_api_key);
        } else {
            char sig[80];
            const char *key =
                o->forge ? cds_req_printf(r, "forged-%s", g_bank.sepay_hmac) : g_bank.sepay_hmac;
            rc = sim_sepay_signature(c->body, strlen(c->body), key, (long long)now, sig);
            c->headers[h++] = cds_req_printf(r, "X-SePay-Timestamp: %lld", (long long)now);
            c->headers[h++] = cds_req_printf(r, "X-SePay-Signature: %s", sig);
        }
    }
    c->headers[h] = NULL;
    c->body_len = strlen(c->body);
    if (rc != 0) {
        cds_problem(r, 400, "cannot_sign",
                    "Không ký được webhook: kiểm tra \"amount\"/\"fields\".");
        return;
    }
    if (o->delay_ms > 0) {
        c->timer = evtimer_new(cds_req_worker(r)->base, on_delay, c);
        if (c->timer) {
            c->slot = cds_req_track(r, cancel_delay, c);
            struct timeval tv = {o->delay_ms / 1000, (o->delay_ms % 1000) * 1000};
            evtimer_add(c->timer, &tv);
            return;
        }
    }
    send_one(c);
}

/* ---------------- control endpoints ---------------- */

/* The control body as a new reference ({} when empty); NULL after a 400. */
static json_t *control_json(cds_req *r)
{
    size_t len = 0;
    cds_req_body(r, &len);
    if (len == 0) return json_object();
    json_t *in = cds_req_json(r);
    if (!in) return NULL;
    if (!json_is_object(in)) {
        bad_control(r, "Nội dung điều khiển phải là một đối tượng JSON.");
        return NULL;
    }
    return json_incref(in);
}

static void ctl_pay(cds_req *r)
{
    sim_record(r);
    json_t *in = control_json(r);
    if (!in) return;
    bank_transfer *t = prepare(r, in);
    if (t) {
        transfer_copy tc;
        int hold = json_is_true(json_object_get(in, "hold"));
        send_opts so = {0};
        flag(in, "forge", &so.forge);
        flag(in, "stale", &so.stale);
        int_opt(in, "repeat", 1, REPEAT_MAX, &so.repeat);
        int_opt(in, "delay_ms", 0, DELAY_MAX_MS, &so.delay_ms);
        if (hold) {
            pthread_mutex_lock(&g_store.mu);
            json_t *s = json_deep_copy(t->summary);
            pthread_mutex_unlock(&g_store.mu);
            cds_respond_json(r, 201, s);
        } else if (store_get(r, t->id, &tc) == 0) {
            deliver(r, &tc, &so);
        } else {
            cds_problem(r, 500, "transfer_lost", "Giao dịch vừa tạo đã bị thay thế.");
        }
    }
    json_decref(in);
}

static void ctl_send(cds_req *r)
{
    sim_record(r);
    const char *ids = cds_req_param(r, "id");
    char *end;
    long id = ids ? strtol(ids, &end, 10) : 0;
    transfer_copy tc;
    if (!ids || *end || id <= 0 || store_get(r, id, &tc) != 0) {
        cds_problem(r, 404, "transfer_not_found",
                    "Không có giao dịch này (đã chuẩn bị bằng hold).");
        return;
    }
    json_t *in = control_json(r);
    if (!in) {
        json_decref(tc.summary);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v)
    {
        if (strcmp(k, "repeat") && strcmp(k, "forge") && strcmp(k, "stale") &&
            strcmp(k, "delay_ms")) {
            json_decref(tc.summary);
            json_decref(in);
            bad_control(r, cds_req_printf(r, "Khóa điều khiển không biết: \"%.60s\".", k));
            return;
        }
    }
    send_opts so = {0};
    if (parse_send_opts(r, in, tc.provider, tc.sepay_apikey, &so) != 0) {
        json_decref(tc.summary);
        json_decref(in);
        return;
    }
    json_decref(in);
    deliver(r, &tc, &so);
}

static const cds_route bank_routes[] = {
    {"POST", "/_sim/pay", ctl_pay, 64 * 1024},
    {"POST", "/_sim/send/{id}", ctl_send, 16 * 1024},
    {"GET", "/_sim/transfers", list_transfers, 0},
};

sim_standin sim_bank = {
    .name = "bank",
    .default_port = 9007,
    .routes = bank_routes,
    .nroutes = sizeof bank_routes / sizeof bank_routes[0],
    .init = bank_init,
    .help = BANK_HELP,
};
