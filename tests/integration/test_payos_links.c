/* payOS payment links end to end (issue 16, item 2), over real sockets with
 * a real PostgreSQL, the server against cds-sim's payOS stand-in (which
 * checks our request signature with its own code) and its stand-in bank:
 *
 *   link          an intent of an account whose provider is payos gets a
 *                 payOS link: the app is given payOS's qrCode and checkoutUrl;
 *                 asking again gives the same link, no second create
 *   paid          the bank pays the qrCode, payOS reports it by orderCode
 *                 (the text names no reference): credited; the same webhook
 *                 five times credits once; the link is not cancelled
 *   expired       the intent expires: its link is cancelled at payOS
 *   other way     paid through Casso (the reference in the text): the payOS
 *                 link is cancelled
 *   partial       part paid through Casso: the link (for the whole amount) is
 *                 cancelled, asking again gives a link for what remains
 *   dossier cancelled  its intent closes, its link is cancelled
 *   turned away   payOS answers 429: 503 with Retry-After, and asking again
 *                 at once makes the link (nothing was made the first time)
 *   lost answer   payOS made the link but its answer was lost: asked again
 *                 at once, 503 (a create in flight); later, the same orderCode
 *                 is refused (231), the link read and cancelled, a new one made
 *   bad input     forged signature, unknown orderCode, amounts that are not
 *                 amounts: nothing recorded, the link still open
 *   confirm       `cds payments payos-confirm-webhook`: payOS's sample call
 *                 reaches our webhook, is acknowledged and records nothing */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROCEDURE "1.009994"
#define AGENCY "000.20.01.H29"
#define PID_A "079085001234"
#define SECRETS                                                                                    \
    "CDS_PAYOS_CHECKSUM_KEY=test-payos-link-checksum-01", "CDS_PAYOS_CLIENT_ID=test-client-01",    \
        "CDS_PAYOS_API_KEY=test-payos-api-key-01", "CDS_CASSO_SECRET=test-payos-casso-0001",       \
        "CDS_SEPAY_HMAC_SECRET=test-payos-sepay-0001"

static char *db;
static th_sim sim;
static th_proc srv;
static th_login citizen;
static int seq;

#define value(...) th_db_text(db, __VA_ARGS__)

#define count(...) th_db_count(db, __VA_ARGS__)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char last_code[64]; /* the code of the last dossier fee_dossier made */

/* A counter dossier of the citizen in fee_requested; its id. */
static void fee_dossier(long fee, char id[40])
{
    char *code = last_code, ev[80], ex[64];
    snprintf(code, sizeof last_code, "PAYOS-%d-%d", (int)getpid(), ++seq);
    CHECK_INT(th_partner_import(srv.url, code, PROCEDURE, PID_A, "Nguyễn Văn An", "0912345678"),
              201);
    snprintf(ev, sizeof ev, "%s-fee", code);
    snprintf(ex, sizeof ex, ",\"fee_vnd\":%ld", fee);
    CHECK_INT(th_partner_step(srv.url, code, ev, "fee_requested", 10, ex), 200);
    char *v = value("SELECT id FROM dossiers WHERE code = '%s'", code);
    snprintf(id, 40, "%s", v);
    free(v);
}

static long open_payment(const char *dossier, json_t **out, th_resp *raw)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/dossiers/%s/payment", srv.url, dossier);
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, "POST", url, citizen.access, "{}", (void **)&j);
    if (raw)
        *raw = r;
    else
        th_resp_free(&r);
    if (out)
        *out = j;
    else
        json_decref(j);
    return st;
}

static long sim_post(const char *name, const char *path, const char *body, json_t **out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", th_sim_url(&sim, name), path);
    th_resp r;
    long st = th_json(&r, "POST", url, NULL, body, (void **)out);
    th_resp_free(&r);
    return st;
}

/* The payOS stand-in's link of orderCode `oc` (new reference), or NULL. */
static json_t *sim_link(long long oc)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/links", th_sim_url(&sim, "payos"));
    th_resp r;
    json_t *j = NULL, *found = NULL, *it;
    size_t i;
    th_json(&r, "GET", url, NULL, NULL, (void **)&j);
    th_resp_free(&r);
    json_array_foreach(json_object_get(j, "items"), i, it)
        if (json_integer_value(json_object_get(it, "orderCode")) == oc) found = json_incref(it);
    json_decref(j);
    return found;
}

static int sim_links(void)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/links", th_sim_url(&sim, "payos"));
    th_resp r;
    json_t *j = NULL;
    th_json(&r, "GET", url, NULL, NULL, (void **)&j);
    th_resp_free(&r);
    int n = (int)json_array_size(json_object_get(j, "items"));
    json_decref(j);
    return n;
}

/* Waits up to `secs` for the stand-in to show link `oc` in `status`. */
static int link_becomes(long long oc, const char *status, double secs)
{
    double end = now_s() + secs;
    do {
        json_t *l = sim_link(oc);
        const char *s = json_string_value(json_object_get(l, "status"));
        int ok = s && strcmp(s, status) == 0;
        json_decref(l);
        if (ok) return 1;
        usleep(50000);
    } while (now_s() < end);
    return 0;
}

typedef struct intent {
    char dossier[40], id[40], ref[20], qr[600], checkout[300];
    long long order_code, amount;
} intent;

static void payos_intent(long fee, intent *it)
{
    memset(it, 0, sizeof *it);
    fee_dossier(fee, it->dossier);
    json_t *p = NULL;
    CHECK_INT(open_payment(it->dossier, &p, NULL), 201);
    json_t *link = json_object_get(p, "payos");
    snprintf(it->id, sizeof it->id, "%s", json_string_value(json_object_get(p, "id")) ?: "");
    snprintf(it->ref, sizeof it->ref, "%s", json_string_value(json_object_get(p, "reference")) ?: "");
    snprintf(it->qr, sizeof it->qr, "%s", json_string_value(json_object_get(link, "qr_code")) ?: "");
    snprintf(it->checkout, sizeof it->checkout, "%s",
             json_string_value(json_object_get(link, "checkout_url")) ?: "");
    it->order_code = json_integer_value(json_object_get(link, "order_code"));
    it->amount = json_integer_value(json_object_get(p, "amount_vnd"));
    CHECK_STR(json_string_value(json_object_get(p, "provider")), "payos");
    CHECK(it->order_code > 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(p, "vietqr"), "payload")), it->qr);
    json_decref(p);
}

static void test_link(void)
{
    intent it;
    int before = sim_links();
    payos_intent(150000, &it);
    CHECK_INT(sim_links(), before + 1);
    CHECK(strncmp(it.qr, "000201", 6) == 0);
    CHECK(strstr(it.checkout, "/web/") != NULL);
    json_t *l = sim_link(it.order_code);
    CHECK_INT(json_integer_value(json_object_get(l, "amount")), it.amount);
    CHECK_STR(json_string_value(json_object_get(l, "description")), it.ref);
    CHECK_STR(json_string_value(json_object_get(l, "qrCode")), it.qr);
    char *exp = value("SELECT extract(epoch FROM expires_at)::bigint FROM payments WHERE id = '%s'",
                      it.id);
    CHECK_INT(json_integer_value(json_object_get(l, "expiredAt")), strtoll(exp, NULL, 10));
    free(exp);
    json_decref(l);
    /* asked again: the same link, no second create */
    json_t *p = NULL;
    CHECK_INT(open_payment(it.dossier, &p, NULL), 200);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(p, "payos"), "order_code")),
              it.order_code);
    json_decref(p);
    CHECK_INT(sim_links(), before + 1);
    /* its image is payOS's code */
    char url[256];
    snprintf(url, sizeof url, "%s/v1/payments/%s/qr.png", srv.url, it.id);
    char auth[2200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", citizen.access);
    const char *h[] = {auth, NULL};
    th_resp r;
    th_http(&r, 2, "GET", url, h, NULL, 0);
    CHECK_INT(r.status, 200);
    th_resp_free(&r);
}

static void test_paid_once(void)
{
    intent it;
    payos_intent(160000, &it);
    long rows = count("SELECT count(*) FROM bank_transactions");
    char body[1200];
    /* the text names no reference: the orderCode alone says which intent */
    snprintf(body, sizeof body,
             "{\"payload\":\"%s\",\"provider\":\"payos\",\"description\":\"CSX9 chuyen tien\","
             "\"repeat\":5}",
             it.qr);
    json_t *a = NULL;
    CHECK_INT(sim_post("bank", "/_sim/pay", body, &a), 200);
    json_t *att;
    size_t i;
    json_array_foreach(json_object_get(a, "attempts"), i, att)
        CHECK_INT(json_integer_value(json_object_get(att, "status")), 200);
    CHECK_INT(json_array_size(json_object_get(a, "attempts")), 5);
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions"), rows + 1);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE payment_id = '%s' AND "
                    "match_status = 'matched' AND applied_vnd = %lld",
                    it.id, it.amount),
              1);
    char *st = value("SELECT status FROM payments WHERE id = '%s'", it.id);
    CHECK_STR(st, "paid");
    free(st);
    st = value("SELECT state FROM payos_links WHERE order_code = %lld", it.order_code);
    CHECK_STR(st, "paid");
    free(st);
    usleep(300000);
    json_t *l = sim_link(it.order_code);
    CHECK_INT(json_integer_value(json_object_get(l, "cancelCalls")), 0);
    CHECK_STR(json_string_value(json_object_get(l, "status")), "PAID");
    json_decref(l);
}

static void test_expiry_cancels(void)
{
    intent it;
    payos_intent(170000, &it);
    CHECK_INT(th_db_exec(db, "UPDATE payments SET expires_at = now() - interval '1 second' "
                             "WHERE status = 'created' AND provider = 'payos'"),
              0);
    int ok = link_becomes(it.order_code, "CANCELLED", 15);
    if (!ok) fprintf(stderr, "expired intent: link %lld not cancelled\n", it.order_code);
    CHECK(ok);
    char *st = value("SELECT state FROM payos_links WHERE order_code = %lld", it.order_code);
    double end = now_s() + 5;
    while (strcmp(st, "cancelled") != 0 && now_s() < end) {
        free(st);
        usleep(50000);
        st = value("SELECT state FROM payos_links WHERE order_code = %lld", it.order_code);
    }
    CHECK_STR(st, "cancelled");
    free(st);
}

static void test_paid_via_casso(void)
{
    intent it;
    payos_intent(180000, &it);
    char body[1200];
    snprintf(body, sizeof body, "{\"payload\":\"%s\",\"provider\":\"casso\"}", it.qr);
    json_t *a = NULL;
    CHECK_INT(sim_post("bank", "/_sim/pay", body, &a), 200);
    CHECK_INT(json_integer_value(json_object_get(a, "status")), 200);
    json_decref(a);
    char *st = value("SELECT status FROM payments WHERE id = '%s'", it.id);
    CHECK_STR(st, "paid");
    free(st);
    int ok = link_becomes(it.order_code, "CANCELLED", 15);
    if (!ok) fprintf(stderr, "paid via Casso: link %lld not cancelled\n", it.order_code);
    CHECK(ok);
}

static void test_partial_via_casso(void)
{
    intent it;
    payos_intent(210000, &it);
    char body[1200];
    snprintf(body, sizeof body, "{\"payload\":\"%s\",\"provider\":\"casso\",\"amount\":50000}",
             it.qr);
    json_t *a = NULL;
    CHECK_INT(sim_post("bank", "/_sim/pay", body, &a), 200);
    CHECK_INT(json_integer_value(json_object_get(a, "status")), 200);
    json_decref(a);
    char *st = value("SELECT status FROM payments WHERE id = '%s'", it.id);
    CHECK_STR(st, "partially_paid");
    free(st);
    CHECK(link_becomes(it.order_code, "CANCELLED", 15));
    json_t *p = NULL;
    CHECK_INT(open_payment(it.dossier, &p, NULL), 200);
    long long oc = json_integer_value(json_object_get(json_object_get(p, "payos"), "order_code"));
    CHECK(oc > 0 && oc != it.order_code);
    CHECK_INT(json_integer_value(json_object_get(p, "remaining_vnd")), it.amount - 50000);
    json_decref(p);
    json_t *l = sim_link(oc);
    CHECK_INT(json_integer_value(json_object_get(l, "amount")), it.amount - 50000);
    json_decref(l);
}

static void test_dossier_cancelled(void)
{
    intent it;
    payos_intent(220000, &it);
    char ev[96];
    snprintf(ev, sizeof ev, "%s-cancel", last_code);
    CHECK_INT(th_partner_step(srv.url, last_code, ev, "cancelled", 20, NULL), 200);
    int ok = link_becomes(it.order_code, "CANCELLED", 15);
    if (!ok) fprintf(stderr, "dossier cancelled: link %lld not cancelled\n", it.order_code);
    CHECK(ok);
}

static void test_turned_away(void)
{
    char dossier[40];
    fee_dossier(230000, dossier);
    json_t *x = NULL;
    CHECK_INT(sim_post("payos", "/_sim/fail", "{\"count\":1,\"status\":429}", &x), 200);
    json_decref(x);
    int before = sim_links();
    th_resp r;
    CHECK_INT(open_payment(dossier, NULL, &r), 503);
    CHECK(th_resp_header(&r, "retry-after") != NULL);
    th_resp_free(&r);
    CHECK_INT(sim_links(), before);
    json_t *p = NULL;
    CHECK_INT(open_payment(dossier, &p, NULL), 200);
    CHECK(json_integer_value(json_object_get(json_object_get(p, "payos"), "order_code")) > 0);
    json_decref(p);
    CHECK_INT(sim_links(), before + 1);
}

static void test_lost_answer(void)
{
    char dossier[40];
    fee_dossier(190000, dossier);
    json_t *x = NULL;
    CHECK_INT(sim_post("payos", "/_sim/fail", "{\"count\":1,\"status\":502,\"after\":true}", &x),
              200);
    json_decref(x);
    int before = sim_links();
    th_resp r;
    CHECK_INT(open_payment(dossier, NULL, &r), 503);
    CHECK(th_resp_header(&r, "retry-after") != NULL);
    th_resp_free(&r);
    CHECK_INT(sim_links(), before + 1); /* payOS has it; we do not know */
    char *oc1 = value("SELECT l.order_code FROM payos_links l JOIN payments p ON p.id = l.payment_id"
                      " WHERE p.dossier_id = '%s' AND l.state = 'creating'",
                      dossier);
    CHECK(*oc1);
    /* asked again at once: a create may still be in flight */
    CHECK_INT(open_payment(dossier, NULL, NULL), 503);
    CHECK_INT(sim_links(), before + 1);
    /* later (the row older than a call): 231, read, cancelled, a new link */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SET session_replication_role = replica; UPDATE payos_links SET updated_at = now() - "
             "interval '1 minute' WHERE order_code = %s",
             oc1);
    CHECK_INT(th_db_exec(db, sql), 0);
    json_t *p = NULL;
    CHECK_INT(open_payment(dossier, &p, NULL), 200);
    long long oc2 = json_integer_value(json_object_get(json_object_get(p, "payos"), "order_code"));
    CHECK(oc2 > 0 && oc2 != strtoll(oc1, NULL, 10));
    json_decref(p);
    CHECK_INT(sim_links(), before + 2);
    CHECK(link_becomes(strtoll(oc1, NULL, 10), "CANCELLED", 15));
    json_t *l = sim_link(oc2);
    CHECK_STR(json_string_value(json_object_get(l, "status")), "PENDING");
    json_decref(l);
    free(oc1);
}

static void refused(const intent *it, const char *how, long want_status, const char *want_code)
{
    long rows = count("SELECT count(*) FROM bank_transactions");
    char body[1400];
    snprintf(body, sizeof body, "{\"payload\":\"%s\",\"provider\":\"payos\",%s}", it->qr, how);
    json_t *a = NULL;
    CHECK_INT(sim_post("bank", "/_sim/pay", body, &a), 200);
    CHECK_INT(json_integer_value(json_object_get(a, "status")), want_status);
    const char *code = json_string_value(json_object_get(json_object_get(a, "body"), "code"));
    if (want_code) CHECK_STR(code ? code : "", want_code);
    json_decref(a);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions"), rows);
    char *st = value("SELECT status || '/' || received_vnd FROM payments WHERE id = '%s'", it->id);
    CHECK_STR(st, "created/0");
    free(st);
    st = value("SELECT state FROM payos_links WHERE order_code = %lld", it->order_code);
    CHECK_STR(st, "active");
    free(st);
}

static void test_bad_inputs(void)
{
    intent it;
    payos_intent(200000, &it);
    refused(&it, "\"forge\":true", 401, "bad_signature");
    /* an orderCode that is none of ours, a text naming no payment: acknowledged, nothing kept */
    refused(&it, "\"fields\":{\"orderCode\":987654321987},\"description\":\"chuyen tien\"", 200,
            NULL);
    refused(&it, "\"amount\":\"200000\"", 400, "bad_amount");
    refused(&it, "\"amount\":0", 400, "bad_amount");
    refused(&it, "\"amount\":-200000", 400, "bad_amount");
    refused(&it, "\"amount\":1000000000000", 400, "bad_amount");
}

static void test_confirm_webhook(void)
{
    long rows = count("SELECT count(*) FROM bank_transactions");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "CDS_PAYOS_URL=%s CDS_PAYOS_CLIENT_ID=test-client-01 "
             "CDS_PAYOS_API_KEY=test-payos-api-key-01 %s/cds payments payos-confirm-webhook "
             "--url %s/v1/webhooks/payos > %s/confirm.out 2>&1",
             th_sim_url(&sim, "payos"), CDS_BUILD_DIR, srv.url, getenv("CDS_TEST_TMP") ?: "/tmp");
    CHECK_INT(system(cmd), 0);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions"), rows);
    /* a URL that answers nothing: payOS refuses it, the command fails */
    snprintf(cmd, sizeof cmd,
             "CDS_PAYOS_URL=%s CDS_PAYOS_CLIENT_ID=test-client-01 "
             "CDS_PAYOS_API_KEY=test-payos-api-key-01 %s/cds payments payos-confirm-webhook "
             "--url http://127.0.0.1:%d/v1/webhooks/payos >/dev/null 2>&1",
             th_sim_url(&sim, "payos"), CDS_BUILD_DIR, th_free_port());
    CHECK(system(cmd) != 0);
    /* wrong API key: refused */
    snprintf(cmd, sizeof cmd,
             "CDS_PAYOS_URL=%s CDS_PAYOS_CLIENT_ID=test-client-01 CDS_PAYOS_API_KEY=wrong "
             "%s/cds payments payos-confirm-webhook --url %s/v1/webhooks/payos >/dev/null 2>&1",
             th_sim_url(&sim, "payos"), CDS_BUILD_DIR, srv.url);
    CHECK(system(cmd) != 0);
}

int main(void)
{
    db = th_db_new("payoslinks");
    int port = th_free_port();
    static char target[128];
    snprintf(target, sizeof target, "CDS_SIM_BANK_TARGET=http://127.0.0.1:%d", port);
    const char *names[] = {"vneid", "bank", "payos", NULL};
    const char *sim_env[] = {target, SECRETS, NULL};
    if (th_sim_start(&sim, names, sim_env) != 0) return 1;
    static char iss[256], payos_url[256];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    snprintf(payos_url, sizeof payos_url, "CDS_PAYOS_URL=%s", th_sim_url(&sim, "payos"));
    const char *env[] = {iss,
                         payos_url,
                         SECRETS,
                         "CDS_PAYOS_RETURN_URL=https://cds.test/payos/return",
                         "CDS_PAYOS_CANCEL_URL=https://cds.test/payos/cancel",
                         "CDS_PAYOS_DESCRIPTION_MAX=25",
                         "CDS_PAYOS_TIMEOUT_MS=2000",
                         "CDS_PAYMENT_EXPIRE_EVERY=1",
                         "CDS_AUTO_MIGRATE=1",
                         NULL};
    if (th_server_start_on(&srv, port, db, env) != 0) return 1;
    /* the agency's receiving account, collected through payOS links */
    char tmp[256], load[1400];
    snprintf(tmp, sizeof tmp, "%s/payos_accounts_%d.json", getenv("CDS_TEST_TMP") ?: "/tmp",
             (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return 1;
    fprintf(f, "{\"accounts\":[{\"agency_code\":\"%s\",\"bank_bin\":\"970415\",\"bank_name\":"
               "\"VietinBank\",\"account_no\":\"371100001008\",\"account_name\":\"UBND Phuong Sai "
               "Gon\",\"provider\":\"payos\"}]}",
            AGENCY);
    fclose(f);
    snprintf(load, sizeof load,
             "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null && "
             "CDS_DATABASE_URL='%s' %s/cds catalog load --accounts %s >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR, db, CDS_BUILD_DIR, tmp);
    if (system(load) != 0) return 1;
    unlink(tmp);
    char *prov = value("SELECT provider FROM payment_accounts WHERE agency_code = '%s'", AGENCY);
    CHECK_STR(prov, "payos");
    free(prov);
    CHECK_INT(th_login_as(&srv, PID_A, &citizen), 200);

    test_link();
    test_paid_once();
    test_expiry_cancels();
    test_paid_via_casso();
    test_partial_via_casso();
    test_dossier_cancelled();
    test_turned_away();
    test_lost_answer();
    test_bad_inputs();
    test_confirm_webhook();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    return t_done();
}
