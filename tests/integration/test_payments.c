/* Fees by VietQR end to end over real sockets, with a real PostgreSQL: the
 * citizen asks to pay, the providers' webhooks (payOS, Casso and SePay
 * shapes, signed as each provider signs) pay, the dossier moves on.
 *
 *   intent        breakdown, reference, VietQR payload (decoded back),
 *                 PNG and SVG, asking again returns the same intent
 *   paid          exact amount: paid, the dossier step `paid` and its
 *                 notifications; the same webhook five times changes once
 *   partial       less: partially_paid, the remainder notified and offered
 *                 as the same QR with the remaining amount; then the rest
 *   overpaid      more: paid and refund_due; the refund recorded, audited
 *   mangled       the reference lower-cased, spaced, behind a bank prefix
 *   unmatched     no reference: kept for a person, resolved by hand (audited)
 *   expired       paid after expiry: accepted and flagged
 *   cancelled     paid for a cancelled dossier: recorded, owed back, the
 *                 dossier unchanged
 *   one transfer, three providers
 *                 the same transfer (bank reference, account, amount, day)
 *                 reported by payOS, Casso and SePay in every order and all
 *                 at once: credited once, one receipt, two duplicates; one
 *                 report naming no intent then another naming one: credited
 *                 once; a report without a bank reference: held for a person
 *   bad input     forged signature, signature over another body, stale
 *                 timestamp, amounts as a string / negative / zero / 1e12,
 *                 malformed JSON, unknown provider secret: refused, nothing
 *                 written
 *   reconciliation  per day and account, JSON and CSV, duplicates apart; a
 *                 bad range refused */
#include "payment/reference.h"
#include "payment/vietqr.h"
#include "payment/webhook.h"
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROCEDURE "1.009994"
#define PID_A "079085001234"
#define PID_B "079064009876"
#define PAYOS_KEY "test-payos-checksum-key-0001"
#define CASSO_SECRET "test-casso-webhook-secret-0001"
#define SEPAY_KEY "test-sepay-api-key-00000001"

static char *db;
static th_sim sim;
static th_proc srv;
static th_login citizen_a, citizen_b;
static int seq;
static char account[32]; /* the receiving account of PROCEDURE's agency */

#define count(...) th_db_count(db, __VA_ARGS__)

#define value(...) th_db_text(db, __VA_ARGS__)

static const char *u(const char *path)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s%s", srv.url, path);
    return buf[i];
}

/* A counter dossier of citizen A (or B) in fee_requested for `fee`; its id in id_out. */
static void fee_dossier(const char *pid, long fee, const char *extra, char code[64], char id_out[40])
{
    snprintf(code, 64, "PAY-%d-%d", (int)getpid(), ++seq);
    CHECK_INT(th_partner_import(srv.url, code, PROCEDURE, pid, "Nguyễn Văn An", "0912345678"), 201);
    char ev[80], ex[200];
    snprintf(ev, sizeof ev, "%s-fee", code);
    snprintf(ex, sizeof ex, ",\"fee_vnd\":%ld%s", fee, extra ? extra : "");
    CHECK_INT(th_partner_step(srv.url, code, ev, "fee_requested", 10, ex), 200);
    char *id = value("SELECT id FROM dossiers WHERE code = '%s'", code);
    snprintf(id_out, 40, "%s", id);
    free(id);
}

static long open_payment(const th_login *who, const char *dossier, json_t **out)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/dossiers/%.36s/payment", dossier);
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, "POST", u(path), who->access, "{}", (void **)&j);
    th_resp_free(&r);
    if (out)
        *out = j;
    else
        json_decref(j);
    return st;
}

static const char *ref_of(json_t *p)
{
    return json_string_value(json_object_get(p, "reference"));
}

/* A counter dossier of citizen A in fee_requested for `fee` with its open
 * intent: code, dossier id and payment reference out. */
static void fresh_intent(long fee, char code[64], char id[40], char ref[16])
{
    fee_dossier(PID_A, fee, NULL, code, id);
    json_t *p = NULL;
    CHECK_INT(open_payment(&citizen_a, id, &p), 201);
    snprintf(ref, 16, "%s", ref_of(p) ? ref_of(p) : "");
    json_decref(p);
}

static long post(const char *path, const char *const *headers, const char *body, th_resp *out)
{
    th_resp r;
    th_http(&r, 1, "POST", u(path), headers, body, strlen(body));
    long st = r.status;
    if (out)
        *out = r;
    else
        th_resp_free(&r);
    return st;
}

/* A payOS webhook for a transfer of `amount` with `description`. `amount_json`
 * replaces the amount's JSON text when not NULL ("\"1000\"", "-5" ...). */
static long payos(const char *tx, const char *amount_json, long amount, const char *description,
                  int forge, th_resp *out)
{
    char amt[48], data[1024], sig[65], body[2048];
    if (amount_json)
        snprintf(amt, sizeof amt, "%s", amount_json);
    else
        snprintf(amt, sizeof amt, "%ld", amount);
    snprintf(data, sizeof data,
             "{\"orderCode\":%d,\"amount\":%s,\"description\":\"%s\",\"accountNumber\":\"%s\","
             "\"reference\":\"FT%s\",\"transactionDateTime\":\"2026-11-23 10:20:30\","
             "\"currency\":\"VND\",\"paymentLinkId\":\"link-%s\",\"code\":\"00\",\"desc\":\"success\","
             "\"counterAccountBankId\":\"970415\",\"counterAccountBankName\":\"VietinBank\","
             "\"counterAccountName\":\"NGUYEN VAN AN\",\"counterAccountNumber\":\"1012345678\","
             "\"virtualAccountName\":\"\",\"virtualAccountNumber\":\"\"}",
             ++seq, amt, description, account, tx, tx);
    if (cds_hook_payos_sign(data, strlen(data), PAYOS_KEY, sig) != CDS_HOOK_OK)
        snprintf(sig, sizeof sig, "%064d", 0);
    if (forge) sig[0] = sig[0] == 'a' ? 'b' : 'a';
    snprintf(body, sizeof body,
             "{\"code\":\"00\",\"desc\":\"success\",\"success\":true,\"data\":%s,\"signature\":\"%s\"}",
             data, sig);
    const char *h[] = {"Content-Type: application/json", NULL};
    return post("/v1/webhooks/payos", h, body, out);
}

/* A Casso webhook; bank_ref is the bank's reference of the transfer. */
static long casso_ref(long id, const char *bank_ref, long amount, const char *description,
                      long long t_ms)
{
    char body[1024], sig[200], hdr[256];
    snprintf(body, sizeof body,
             "{\"error\":0,\"data\":{\"id\":%ld,\"reference\":\"%s\",\"description\":\"%s\","
             "\"amount\":%ld,\"runningBalance\":0,\"transactionDateTime\":\"2026-11-23 10:21:00\","
             "\"accountNumber\":\"%s\",\"bankName\":\"Vietcombank\",\"bankAbbreviation\":"
             "\"VCB\",\"virtualAccountNumber\":\"\",\"virtualAccountName\":\"\","
             "\"counterAccountName\":\"\",\"counterAccountNumber\":\"\",\"counterAccountBankId\":\"\","
             "\"counterAccountBankName\":\"\"}}",
             id, bank_ref, description, amount, account);
    if (t_ms == 0) t_ms = (long long)time(NULL) * 1000;
    CHECK_INT(cds_hook_casso_sign(body, strlen(body), CASSO_SECRET, t_ms, sig, sizeof sig), CDS_HOOK_OK);
    snprintf(hdr, sizeof hdr, "X-Casso-Signature: %s", sig);
    const char *h[] = {"Content-Type: application/json", hdr, NULL};
    return post("/v1/webhooks/casso", h, body, NULL);
}

static long casso(long id, long amount, const char *description, long long t_ms)
{
    char ref[32];
    snprintf(ref, sizeof ref, "MB%ld", id);
    return casso_ref(id, ref, amount, description, t_ms);
}

/* A SePay webhook; bank_ref NULL sends referenceCode null. */
static long sepay_ref(long id, const char *bank_ref, long amount, const char *description,
                      const char *key)
{
    char body[1024], auth[128], ref[80];
    if (bank_ref)
        snprintf(ref, sizeof ref, "\"%s\"", bank_ref);
    else
        snprintf(ref, sizeof ref, "null");
    snprintf(body, sizeof body,
             "{\"id\":%ld,\"gateway\":\"Vietcombank\",\"transactionDate\":\"2026-11-23 10:22:00\","
             "\"accountNumber\":\"%s\",\"content\":\"%s\",\"transferType\":\"in\","
             "\"transferAmount\":%ld,\"accumulated\":0,\"referenceCode\":%s,"
             "\"description\":\"BankAPINotify %s\"}",
             id, account, description, amount, ref, description);
    snprintf(auth, sizeof auth, "Authorization: Apikey %s", key);
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    return post("/v1/webhooks/sepay", h, body, NULL);
}

static long sepay(long id, long amount, const char *description, const char *key)
{
    char ref[32];
    snprintf(ref, sizeof ref, "SP%ld", id);
    return sepay_ref(id, ref, amount, description, key);
}

static char *payment_status(const char *ref)
{
    return value("SELECT status || '/' || received_vnd || '/' || refund_due_vnd FROM payments "
                 "WHERE reference = '%s'",
                 ref);
}

static char *dossier_status(const char *id)
{
    return value("SELECT status FROM dossiers WHERE id = '%s'", id);
}

#define CHECK_VALUE(expr, want)                                                                    \
    do {                                                                                           \
        char *v_ = (expr);                                                                         \
        CHECK_STR(v_, want);                                                                       \
        free(v_);                                                                                  \
    } while (0)

/* Everything a refused webhook must leave alone. */
static long state_sum(void)
{
    return count("SELECT (SELECT count(*) FROM bank_transactions) * 1000000 + "
                 "(SELECT count(*) FROM dossier_events) * 1000 + "
                 "(SELECT count(*) FROM payments WHERE status <> 'created')");
}

/* ---------------- the intent ---------------- */

static char code1[64], id1[40], ref1[16];

static void test_intent(void)
{
    fee_dossier(PID_A, 200000, NULL, code1, id1);
    json_t *p = NULL;
    CHECK_INT(open_payment(&citizen_a, id1, &p), 201);
    snprintf(ref1, sizeof ref1, "%s", ref_of(p) ? ref_of(p) : "");
    CHECK(cds_payref_valid(ref1));
    CHECK_STR(json_string_value(json_object_get(p, "status")), "created");
    CHECK(json_is_false(json_object_get(p, "finished")));
    CHECK_INT(json_integer_value(json_object_get(p, "amount_vnd")), 200000);
    CHECK_INT(json_integer_value(json_object_get(p, "remaining_vnd")), 200000);
    json_t *b = json_object_get(p, "breakdown");
    CHECK_INT(json_integer_value(json_object_get(b, "fee_vnd")), 200000);
    CHECK_INT(json_integer_value(json_object_get(b, "online_discount_vnd")), 0);
    CHECK_INT(json_integer_value(json_object_get(b, "delivery_fee_vnd")), 0);
    CHECK_INT(json_integer_value(json_object_get(b, "advance_vnd")), 0);
    json_t *bank = json_object_get(p, "bank");
    char *acct_bin = value("SELECT a.bank_bin FROM payment_accounts a JOIN procedures p ON "
                           "p.agency_code = a.agency_code WHERE p.code = '" PROCEDURE "'");
    char *acct_no = value("SELECT a.account_no FROM payment_accounts a JOIN procedures p ON "
                          "p.agency_code = a.agency_code WHERE p.code = '" PROCEDURE "'");
    snprintf(account, sizeof account, "%s", acct_no);
    CHECK(strlen(acct_bin) == 6 && strlen(acct_no) > 0);
    CHECK_STR(json_string_value(json_object_get(bank, "bin")), acct_bin);
    CHECK_STR(json_string_value(json_object_get(bank, "account_no")), acct_no);
    CHECK(json_string_value(json_object_get(p, "expires_at")) != NULL);

    /* The payload decodes to the account, the amount and the reference. */
    const char *payload = json_string_value(json_object_get(json_object_get(p, "vietqr"), "payload"));
    cds_vietqr_decoded d;
    CHECK(payload && cds_vietqr_decode(payload, strlen(payload), &d, NULL) == 0);
    if (payload) {
        CHECK_STR(d.q.bin, acct_bin);
        CHECK_STR(d.q.account, acct_no);
        CHECK_INT((long)d.q.amount, 200000);
        CHECK_STR(d.q.purpose, ref1);
        CHECK_INT(d.q.initiation, CDS_VIETQR_DYNAMIC);
    }
    free(acct_bin);
    free(acct_no);
    /* The images. */
    const char *png = json_string_value(json_object_get(json_object_get(p, "vietqr"), "png_url"));
    char auth[2200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", citizen_a.access);
    const char *h[] = {auth, NULL};
    th_resp r;
    th_http(&r, 2, "GET", u(png ? png : "/x"), h, NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body_len > 8 && memcmp(r.body, "\x89PNG", 4) == 0);
    /* A standard scanner reads the served image back to the same payload. */
    char file[256], cmd[512], scanned[1024] = "";
    snprintf(file, sizeof file, "%s/Testing/payment_qr_%d.png", CDS_BUILD_DIR, (int)getpid());
    FILE *f = fopen(file, "wb");
    if (f) {
        fwrite(r.body, 1, r.body_len, f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "zbarimg --raw -q '%s' 2>/dev/null", file);
    FILE *z = popen(cmd, "r");
    size_t zn = z ? fread(scanned, 1, sizeof scanned - 1, z) : 0;
    scanned[zn] = 0;
    if (z) pclose(z);
    while (zn && (scanned[zn - 1] == '\n' || scanned[zn - 1] == '\r')) scanned[--zn] = 0;
    CHECK_STR(scanned, payload ? payload : "?");
    unlink(file);
    th_resp_free(&r);
    const char *svg = json_string_value(json_object_get(json_object_get(p, "vietqr"), "svg_url"));
    th_http(&r, 2, "GET", u(svg ? svg : "/x"), h, NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, "<svg") != NULL);
    th_resp_free(&r);
    /* Another citizen sees neither the image nor the payment. */
    char auth_b[2200];
    snprintf(auth_b, sizeof auth_b, "Authorization: Bearer %s", citizen_b.access);
    const char *hb[] = {auth_b, NULL};
    th_http(&r, 2, "GET", u(png ? png : "/x"), hb, NULL, 0);
    CHECK_INT(r.status, 404);
    th_resp_free(&r);
    CHECK_INT(open_payment(&citizen_b, id1, NULL), 404);
    json_decref(p);

    /* Asking again: the same intent. */
    CHECK_INT(open_payment(&citizen_a, id1, &p), 200);
    CHECK_STR(ref_of(p), ref1);
    json_decref(p);
    CHECK_INT(count("SELECT count(*) FROM payments WHERE dossier_id = '%s'", id1), 1);
    char path[128];
    snprintf(path, sizeof path, "/v1/dossiers/%s/payment", id1);
    CHECK_INT(th_json(&r, "GET", u(path), citizen_a.access, NULL, (void **)&p), 200);
    th_resp_free(&r);
    CHECK_STR(ref_of(p), ref1);
    json_decref(p);

    /* A dossier not waiting for a fee has nothing to pay. */
    char code[64], id[40];
    snprintf(code, sizeof code, "PAY-%d-%d", (int)getpid(), ++seq);
    CHECK_INT(th_partner_import(srv.url, code, PROCEDURE, PID_A, "Nguyễn Văn An", "0912345678"), 201);
    char *did = value("SELECT id FROM dossiers WHERE code = '%s'", code);
    snprintf(id, sizeof id, "%s", did);
    free(did);
    CHECK_INT(open_payment(&citizen_a, id, &p), 409);
    CHECK_STR(json_string_value(json_object_get(p, "code")), "payment_not_requested");
    json_decref(p);
    CHECK_INT(count("SELECT count(*) FROM payments WHERE dossier_id = '%s'", id), 0);
}

/* ---------------- paid, five times ---------------- */

static void test_paid(void)
{
    long before_events = count("SELECT count(*) FROM dossier_events WHERE dossier_id = '%s'", id1);
    char desc[64], tx[32];
    snprintf(desc, sizeof desc, "%s", ref1);
    snprintf(tx, sizeof tx, "%d-%d", (int)getpid(), ++seq);
    for (int i = 0; i < 5; i++) {
        th_resp r;
        CHECK_INT(payos(tx, NULL, 200000, desc, 0, &r), 200);
        json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
        CHECK(json_is_true(json_object_get(j, "success")));
        json_decref(j);
        th_resp_free(&r);
    }
    CHECK_VALUE(payment_status(ref1), "paid/200000/0");
    CHECK_VALUE(dossier_status(id1), "paid");
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE provider = 'payos' AND "
                    "provider_tx_id = 'link-%s:FT%s' AND match_status = 'matched' AND applied_vnd = 200000",
                    tx, tx), 1);
    CHECK_INT(count("SELECT count(*) FROM dossier_events WHERE dossier_id = '%s'", id1),
              before_events + 1);
    CHECK_INT(count("SELECT count(*) FROM dossier_events WHERE dossier_id = '%s' AND step = 'paid' "
                    "AND applied AND source = 'payment' AND fee_vnd = 200000", id1), 1);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = 'paid'", id1), 1);
    /* Paid: no code any more, and no second intent. */
    json_t *p = NULL;
    CHECK_INT(open_payment(&citizen_a, id1, &p), 409);
    json_decref(p);
    char path[128];
    snprintf(path, sizeof path, "/v1/dossiers/%s/payment", id1);
    th_resp r;
    CHECK_INT(th_json(&r, "GET", u(path), citizen_a.access, NULL, (void **)&p), 200);
    th_resp_free(&r);
    CHECK_STR(json_string_value(json_object_get(p, "status")), "paid");
    CHECK(json_is_true(json_object_get(p, "finished")));
    CHECK(json_is_null(json_object_get(p, "vietqr")));
    json_decref(p);
}

/* ---------------- at the same time ---------------- */

/* Five deliveries of one webhook racing each other, then two halves of a fee
 * arriving together: each transfer is recorded once, the intent adds up. */
static void test_concurrent(void)
{
    char code[64], id[40];
    char ref[16];
    fresh_intent(120000, code, id, ref);
    char tx[3][32];
    for (int k = 0; k < 3; k++) snprintf(tx[k], sizeof tx[k], "race-%d-%d", (int)getpid(), k);
    pid_t kids[8];
    int nk = 0;
    for (int k = 0; k < 7; k++) {
        fflush(NULL);
        pid_t c = fork();
        if (c == 0) {
            /* 0..4: the same transfer of 60,000; 5 and 6: two other transfers of 30,000. */
            const char *t = k < 5 ? tx[0] : tx[k - 4];
            long st = payos(t, NULL, k < 5 ? 60000 : 30000, ref, 0, NULL);
            _exit(st == 200 ? 0 : 1);
        }
        if (c > 0) kids[nk++] = c;
    }
    int ok = 0;
    for (int i = 0; i < nk; i++) {
        int st;
        if (waitpid(kids[i], &st, 0) == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
    }
    CHECK_INT(ok, 7);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE reference = '%s'", ref), 3);
    CHECK_VALUE(payment_status(ref), "paid/120000/0");
    CHECK_INT(count("SELECT count(*) FROM dossier_events WHERE dossier_id = '%s' AND step = 'paid'", id), 1);
}

/* ---------------- partial, then the rest ---------------- */

static void test_partial(void)
{
    char code[64], id[40];
    char ref[16];
    fresh_intent(100000, code, id, ref);
    json_t *p = NULL;

    CHECK_INT(casso(1000000 + ++seq, 40000, ref, 0), 200);
    CHECK_VALUE(payment_status(ref), "partially_paid/40000/0");
    CHECK_VALUE(dossier_status(id), "fee_requested");
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = "
                    "'payment_partial' AND (vars->>'amount')::bigint = 60000", id), 1);
    /* The same intent, its code now for what remains. */
    CHECK_INT(open_payment(&citizen_a, id, &p), 200);
    CHECK_STR(ref_of(p), ref);
    CHECK_STR(json_string_value(json_object_get(p, "status")), "partially_paid");
    CHECK_INT(json_integer_value(json_object_get(p, "remaining_vnd")), 60000);
    const char *payload = json_string_value(json_object_get(json_object_get(p, "vietqr"), "payload"));
    cds_vietqr_decoded d;
    CHECK(payload && cds_vietqr_decode(payload, strlen(payload), &d, NULL) == 0);
    if (payload) CHECK_INT((long)d.q.amount, 60000);
    json_decref(p);

    CHECK_INT(sepay(2000000 + ++seq, 60000, ref, SEPAY_KEY), 200);
    CHECK_VALUE(payment_status(ref), "paid/100000/0");
    CHECK_VALUE(dossier_status(id), "paid");
}

/* ---------------- overpaid, refunded ---------------- */

static void test_overpaid(void)
{
    char code[64], id[40];
    fee_dossier(PID_A, 100000, NULL, code, id);
    json_t *p = NULL;
    CHECK_INT(open_payment(&citizen_a, id, &p), 201);
    char ref[16], pid[40];
    snprintf(ref, sizeof ref, "%s", ref_of(p) ? ref_of(p) : "");
    snprintf(pid, sizeof pid, "%s", json_string_value(json_object_get(p, "id")));
    json_decref(p);
    char tx[32];
    snprintf(tx, sizeof tx, "%d-%d", (int)getpid(), ++seq);
    CHECK_INT(payos(tx, NULL, 150000, ref, 0, NULL), 200);
    CHECK_VALUE(payment_status(ref), "refund_due/100000/50000");
    CHECK_VALUE(dossier_status(id), "paid");
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE provider_tx_id = 'link-%s:FT%s' "
                    "AND applied_vnd = 100000 AND excess_vnd = 50000", tx, tx), 1);

    char path[160], body[200];
    snprintf(path, sizeof path, "/v1/partner/payments/%s/refunded", pid);
    snprintf(body, sizeof body, "{\"actor\":\"ke.toan@tphcm.gov.vn\",\"reason\":\"Hoàn 50.000 đ chuyển thừa\"}");
    th_resp r;
    CHECK_INT(th_partner(&r, srv.url, "POST", path, body), 200);
    th_resp_free(&r);
    CHECK_VALUE(payment_status(ref), "refunded/100000/50000");
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'payment.refunded' AND subject = "
                    "'payment:%s' AND actor = 'ke.toan@tphcm.gov.vn'", pid), 1);
    /* Twice: refused, nothing more in the log. */
    CHECK_INT(th_partner(&r, srv.url, "POST", path, body), 409);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE subject = 'payment:%s'", pid), 1);
    /* Unsigned: refused. */
    CHECK_INT(post(path, (const char *const[]){"Content-Type: application/json", NULL}, body, NULL), 401);
}

/* ---------------- what banks do to a reference ---------------- */

static void test_mangled(void)
{
    static const char *forms[] = {"lower", "spaced", "prefixed"};
    for (int k = 0; k < 3; k++) {
        char code[64], id[40];
        fee_dossier(PID_A, 30000, NULL, code, id);
        json_t *p = NULL;
        CHECK_INT(open_payment(&citizen_a, id, &p), 201);
        const char *ref = ref_of(p) ? ref_of(p) : "CDS0000000000";
        char desc[128];
        if (k == 0) {
            snprintf(desc, sizeof desc, "%s", ref);
            for (char *c = desc; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        } else if (k == 1) {
            snprintf(desc, sizeof desc, "%.3s %.5s-%s nop phi", ref, ref + 3, ref + 8);
        } else {
            snprintf(desc, sizeof desc, "MBVCB.1234567.FT26327.%s.CT tu 1012345678 NGUYEN VAN AN", ref);
        }
        CHECK_INT(casso(3000000 + ++seq, 30000, desc, 0), 200);
        char *st = dossier_status(id);
        if (strcmp(st, "paid") != 0) fprintf(stderr, "  form %s: '%s' not matched\n", forms[k], desc);
        CHECK_STR(st, "paid");
        free(st);
        json_decref(p);
    }
}

/* ---------------- unmatched, resolved by hand ---------------- */

static void test_unmatched(void)
{
    char code[64], id[40];
    char ref[16];
    fresh_intent(50000, code, id, ref);
    long tx_id = 4000000 + ++seq;
    /* No reference, and a well-formed but unknown one. */
    CHECK_INT(sepay(tx_id, 50000, "nop phi ho so cho me", SEPAY_KEY), 200);
    CHECK_INT(sepay(tx_id + 1, 50000, "CDS7M2K9QX4P1", SEPAY_KEY), 200);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE provider = 'sepay' AND provider_tx_id "
                    "IN ('%ld', '%ld') AND match_status = 'unmatched' AND payment_id IS NULL",
                    tx_id, tx_id + 1), 2);
    CHECK_VALUE(dossier_status(id), "fee_requested");
    CHECK_VALUE(payment_status(ref), "created/0/0");

    th_resp r;
    CHECK_INT(th_partner(&r, srv.url, "GET", "/v1/partner/payments/unmatched?limit=100", NULL), 200);
    CHECK(r.body && strstr(r.body, "nop phi ho so cho me") != NULL);
    th_resp_free(&r);

    char *bid = value("SELECT id FROM bank_transactions WHERE provider = 'sepay' AND provider_tx_id = '%ld'",
                      tx_id);
    char path[160], body[300];
    snprintf(path, sizeof path, "/v1/partner/payments/transactions/%s/resolve", bid);
    snprintf(body, sizeof body,
             "{\"dossier_code\":\"%s\",\"actor\":\"doi.soat@tphcm.gov.vn\",\"reason\":\"Người nộp "
             "gọi điện xác nhận chuyển khoản cho hồ sơ\"}",
             code);
    CHECK_INT(th_partner(&r, srv.url, "POST", path, body), 200);
    th_resp_free(&r);
    CHECK_VALUE(payment_status(ref), "paid/50000/0");
    CHECK_VALUE(dossier_status(id), "paid");
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE id = %s AND match_status = 'resolved'",
                    bid), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'payment.resolve' AND subject = "
                    "'bank_transaction:%s'", bid), 1);
    /* Resolving again: refused, nothing more. */
    CHECK_INT(th_partner(&r, srv.url, "POST", path, body), 409);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE subject = 'bank_transaction:%s'", bid), 1);
    /* The command refuses without an actor and a reason, and resolves nothing. */
    {
        char cmd[1024], out[1024];
        snprintf(cmd, sizeof cmd,
                 "CDS_DATABASE_URL='%s' '%s/cds' payments resolve --tx %s --dossier %s 2>&1", db,
                 CDS_BUILD_DIR, bid, code);
        FILE *pp = popen(cmd, "r");
        size_t n = pp ? fread(out, 1, sizeof out - 1, pp) : 0;
        out[n] = 0;
        int st = pp ? pclose(pp) : -1;
        CHECK_INT(WIFEXITED(st) ? WEXITSTATUS(st) : 128, 2);
        CHECK(strstr(out, "--actor and --reason") != NULL);
    }
    /* Without a reason: refused. */
    char *bid2 = value("SELECT id FROM bank_transactions WHERE provider = 'sepay' AND provider_tx_id = '%ld'",
                       tx_id + 1);
    snprintf(path, sizeof path, "/v1/partner/payments/transactions/%s/resolve", bid2);
    snprintf(body, sizeof body, "{\"dossier_code\":\"%s\",\"actor\":\"x\"}", code);
    CHECK_INT(th_partner(&r, srv.url, "POST", path, body), 422);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE id = %s AND match_status = 'unmatched'",
                    bid2), 1);
    free(bid);
    free(bid2);
}

/* ---------------- paid after expiry ---------------- */

static void test_expired(void)
{
    char code[64], id[40];
    char ref[16];
    fresh_intent(70000, code, id, ref);
    json_t *p = NULL;
    /* Its week is over (the clock moved on). */
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE payments SET expires_at = now() - interval '1 minute' WHERE reference = '%s'", ref);
    CHECK_INT(th_db_exec(db, sql), 0);
    char path[128];
    snprintf(path, sizeof path, "/v1/dossiers/%s/payment", id);
    th_resp r;
    CHECK_INT(th_json(&r, "GET", u(path), citizen_a.access, NULL, (void **)&p), 200);
    th_resp_free(&r);
    CHECK_STR(json_string_value(json_object_get(p, "status")), "expired");
    json_decref(p);
    /* The citizen had scanned it before: the money arrives anyway. */
    CHECK_INT(casso(5000000 + ++seq, 70000, ref, 0), 200);
    CHECK_VALUE(payment_status(ref), "paid/70000/0");
    CHECK_INT(count("SELECT count(*) FROM payments WHERE reference = '%s' AND paid_after_expiry", ref), 1);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE reference = '%s' AND after_expiry", ref), 1);
    CHECK_VALUE(dossier_status(id), "paid");

    /* Asking after expiry gives a new code, the old one closed. */
    fee_dossier(PID_A, 70000, NULL, code, id);
    CHECK_INT(open_payment(&citizen_a, id, &p), 201);
    snprintf(ref, sizeof ref, "%s", ref_of(p) ? ref_of(p) : "");
    json_decref(p);
    snprintf(sql, sizeof sql,
             "UPDATE payments SET expires_at = now() - interval '1 minute' WHERE reference = '%s'", ref);
    CHECK_INT(th_db_exec(db, sql), 0);
    CHECK_INT(open_payment(&citizen_a, id, &p), 201);
    CHECK(ref_of(p) && strcmp(ref_of(p), ref) != 0);
    char ref2[16];
    snprintf(ref2, sizeof ref2, "%s", ref_of(p) ? ref_of(p) : "");
    json_decref(p);
    CHECK_VALUE(payment_status(ref), "expired/0/0");
    /* The money for the expired code arrives after all: it pays the fee,
     * and the newer code, open, is not needed any more (cancelled). The
     * credit looks for that other intent only when its own had expired. */
    CHECK_INT(casso(5000000 + ++seq, 70000, ref, 0), 200);
    CHECK_VALUE(payment_status(ref), "paid/70000/0");
    CHECK_VALUE(payment_status(ref2), "cancelled/0/0");
    CHECK_VALUE(dossier_status(id), "paid");
}

/* ---------------- a cancelled dossier ---------------- */

static void test_cancelled(void)
{
    char code[64], id[40];
    char ref[16];
    fresh_intent(90000, code, id, ref);
    json_t *p = NULL;
    char ev[80];
    snprintf(ev, sizeof ev, "%s-cancel", code);
    CHECK_INT(th_partner_step(srv.url, code, ev, "cancelled", 20, NULL), 200);
    CHECK_VALUE(payment_status(ref), "cancelled/0/0");
    long events = count("SELECT count(*) FROM dossier_events WHERE dossier_id = '%s'", id);
    long outbox = count("SELECT count(*) FROM outbox WHERE dossier_id = '%s'", id);
    /* The money still arrives: recorded and owed back, the dossier untouched. */
    CHECK_INT(casso(6000000 + ++seq, 90000, ref, 0), 200);
    CHECK_VALUE(dossier_status(id), "cancelled");
    CHECK_VALUE(payment_status(ref), "refund_due/0/90000");
    CHECK_INT(count("SELECT count(*) FROM dossier_events WHERE dossier_id = '%s'", id), events);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s'", id), outbox);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE reference = '%s' AND applied_vnd = 0 "
                    "AND excess_vnd = 90000 AND receipt_id IS NULL", ref), 1);
    /* And no new code for it. */
    CHECK_INT(open_payment(&citizen_a, id, &p), 409);
    json_decref(p);
}

/* ---------------- one transfer, three providers ---------------- */

/* Reports transfer `bank_ref` (which starts with "FT": payOS's reference is
 * "FT" + its tx) of 50,000 VND for `ref` through provider 0 payOS, 1 Casso
 * or 2 SePay, each under its own transaction id. */
static long report(int provider, const char *bank_ref, const char *ref, long id)
{
    if (provider == 0) return payos(bank_ref + 2, NULL, 50000, ref, 0, NULL);
    if (provider == 1) return casso_ref(id, bank_ref, 50000, ref, 0);
    return sepay_ref(id, bank_ref, 50000, ref, SEPAY_KEY);
}

/* One credit, one receipt, the other reports recorded as its duplicates. */
static void credited_once(const char *bank_ref, const char *ref, long duplicates)
{
    CHECK_VALUE(payment_status(ref), "partially_paid/50000/0");
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE upper(bank_reference) = "
                    "upper('%s') AND match_status = 'matched' AND applied_vnd = 50000",
                    bank_ref), 1);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions d JOIN bank_transactions f ON "
                    "f.id = d.duplicate_of WHERE upper(d.bank_reference) = upper('%s') AND "
                    "d.match_status = 'duplicate' AND d.applied_vnd = 0 AND d.payment_id IS NULL "
                    "AND f.match_status = 'matched'",
                    bank_ref), duplicates);
    CHECK_INT(count("SELECT count(*) FROM receipts r JOIN payments p ON p.id = r.payment_id "
                    "WHERE p.reference = '%s'", ref), 1);
}

/* The same 50,000 VND transfer (one bank reference, one receiving account,
 * one amount, one day) reported by payOS, Casso and SePay, all correctly
 * signed, in each of the six orders and then all at once (with a provider's
 * own retry in the race): a 100,000 intent takes it once, with one receipt
 * (issue 14: it used to take it three times, paid with three receipts). */
static void test_one_transfer_three_providers(void)
{
    static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int k = 0; k < 9; k++) {
        char code[64], id[40], ref[16], bank_ref[48];
        fresh_intent(100000, code, id, ref);
        snprintf(bank_ref, sizeof bank_ref, "FTXP%d%02d", (int)getpid(), k);
        if (k < 6) {
            for (int i = 0; i < 3; i++) {
                char form[48];
                snprintf(form, sizeof form, "%s", bank_ref);
                /* Providers differ in case: Casso's lower-cased in one round. */
                if (k == 3 && orders[k][i] == 1)
                    for (char *c = form; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
                CHECK_INT(report(orders[k][i], form, ref, 8000000 + ++seq), 200);
                if (i == 0) CHECK_VALUE(payment_status(ref), "partially_paid/50000/0");
            }
        } else {
            pid_t kids[4];
            int nk = 0;
            long base = 8000000 + (seq += 10);
            for (int c = 0; c < 4; c++) {
                fflush(NULL);
                pid_t pid = fork();
                if (pid == 0) _exit(report(c % 3, bank_ref, ref, base + c) == 200 ? 0 : 1);
                if (pid > 0) kids[nk++] = pid;
            }
            int ok = 0;
            for (int c = 0; c < nk; c++) {
                int st;
                if (waitpid(kids[c], &st, 0) == kids[c] && WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
            }
            CHECK_INT(ok, 4);
        }
        credited_once(bank_ref, ref, 2);
        CHECK_VALUE(dossier_status(id), "fee_requested");
    }

    /* The first report names no intent (recorded unmatched), a second
     * provider's names one: the transfer is credited then, once, on the
     * first row. */
    char code[64], id[40], ref[16], bank_ref[48];
    fresh_intent(100000, code, id, ref);
    snprintf(bank_ref, sizeof bank_ref, "FTXP%dU", (int)getpid());
    CHECK_INT(casso_ref(8000000 + ++seq, bank_ref, 50000, "chuyen tien nop phi", 0), 200);
    CHECK_VALUE(payment_status(ref), "created/0/0");
    CHECK_INT(sepay_ref(8000000 + ++seq, bank_ref, 50000, ref, SEPAY_KEY), 200);
    credited_once(bank_ref, ref, 1);
    CHECK_INT(payos(bank_ref + 2, NULL, 50000, ref, 0, NULL), 200);
    credited_once(bank_ref, ref, 2);

    /* No bank reference: nothing tells this report from another provider's
     * of the same transfer, so it is held for a person, not credited. */
    fresh_intent(100000, code, id, ref);
    long held = 8000000 + ++seq;
    CHECK_INT(sepay_ref(held, NULL, 50000, ref, SEPAY_KEY), 200);
    CHECK_VALUE(payment_status(ref), "created/0/0");
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE provider = 'sepay' AND "
                    "provider_tx_id = '%ld' AND match_status = 'unmatched' AND hold_reason = "
                    "'no_bank_reference' AND reference = '%s'", held, ref), 1);
    th_resp r;
    CHECK_INT(th_partner(&r, srv.url, "GET", "/v1/partner/payments/unmatched?limit=1000", NULL), 200);
    json_t *list = json_loads(r.body ? r.body : "", 0, NULL);
    int shown = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        const char *why = json_string_value(json_object_get(it, "hold_reason"));
        shown += why && strcmp(why, "no_bank_reference") == 0;
    }
    json_decref(list);
    CHECK_INT(shown, 1);
    th_resp_free(&r);
}

/* ---------------- bad input ---------------- */

static void refused(const char *what, long status, long want_status, long before)
{
    if (status != want_status) fprintf(stderr, "  %s: %ld, want %ld\n", what, status, want_status);
    CHECK_INT(status, want_status);
    long after = state_sum();
    if (after != before) fprintf(stderr, "  %s changed something\n", what);
    CHECK_INT(after, before);
}

static void test_bad_input(void)
{
    char code[64], id[40];
    char ref[16];
    fresh_intent(100000, code, id, ref);
    long before = state_sum();
    char tx[32];
    snprintf(tx, sizeof tx, "bad-%d", (int)getpid());
    th_resp r;

    refused("forged payOS signature", payos(tx, NULL, 100000, ref, 1, NULL), 401, before);

    /* A signature made for one body, sent with another (the amount raised). */
    char data[512], sig[65], body[1024];
    snprintf(data, sizeof data,
             "{\"orderCode\":1,\"amount\":1000,\"description\":\"%s\",\"accountNumber\":\"%s\","
             "\"reference\":\"FTX\",\"transactionDateTime\":\"2026-11-23 10:20:30\",\"currency\":\"VND\","
             "\"paymentLinkId\":\"l\",\"code\":\"00\",\"desc\":\"success\"}",
             ref, account);
    CHECK_INT(cds_hook_payos_sign(data, strlen(data), PAYOS_KEY, sig), CDS_HOOK_OK);
    char *raised = strstr(data, "\"amount\":1000,");
    if (raised) memcpy(raised, "\"amount\":9000,", 14);
    snprintf(body, sizeof body, "{\"code\":\"00\",\"desc\":\"success\",\"success\":true,\"data\":%s,"
                                "\"signature\":\"%s\"}", data, sig);
    refused("signature over another body",
            post("/v1/webhooks/payos", (const char *const[]){"Content-Type: application/json", NULL},
                 body, NULL),
            401, before);

    long long stale = ((long long)time(NULL) - 600) * 1000;
    refused("stale Casso timestamp", casso(7000000 + ++seq, 100000, ref, stale), 401, before);
    refused("wrong SePay API key", sepay(7000000 + ++seq, 100000, ref, "not-the-key-000000000000"),
            401, before);
    refused("amount as a string", payos(tx, "\"100000\"", 0, ref, 0, NULL), 400, before);
    refused("negative amount", payos(tx, "-100000", 0, ref, 0, NULL), 400, before);
    refused("zero amount", payos(tx, "0", 0, ref, 0, NULL), 400, before);
    refused("amount of 1e12", payos(tx, "1000000000000", 0, ref, 0, NULL), 400, before);
    refused("malformed JSON",
            post("/v1/webhooks/payos", (const char *const[]){"Content-Type: application/json", NULL},
                 "{\"code\":\"00\",\"data\":{", NULL),
            400, before);
    refused("a provider we hold no key for (no Casso header at all)",
            post("/v1/webhooks/casso", (const char *const[]){"Content-Type: application/json", NULL},
                 "{\"error\":0,\"data\":{}}", &r),
            401, before);
    CHECK(r.body && strstr(r.body, "missing_signature") != NULL);
    CHECK(th_resp_header(&r, "content-type") &&
          strstr(th_resp_header(&r, "content-type"), "problem+json") != NULL);
    th_resp_free(&r);
    CHECK_VALUE(payment_status(ref), "created/0/0");
    CHECK_VALUE(dossier_status(id), "fee_requested");
}

/* ---------------- reconciliation ---------------- */

/* Runs a shell command; its exit status, stdout and stderr in out. */
static int run_cmd(const char *cmd, char *out, size_t cap)
{
    char full[1200];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_reconciliation(void)
{
    char today[16];
    char *d = value("SELECT cds_vn_date(timestamptz '2026-11-23 10:20:30+07')::text");
    snprintf(today, sizeof today, "%s", d);
    free(d);
    char path[160];
    snprintf(path, sizeof path, "/v1/partner/payments/reconciliation?from=%s&to=%s", today, today);
    th_resp r;
    CHECK_INT(th_partner(&r, srv.url, "GET", path, NULL), 200);
    json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
    th_resp_free(&r);
    json_t *days = json_object_get(j, "days");
    long received = 0, unmatched = 0, refunds = 0, rows = 0, duplicates = -1, duplicate_vnd = -1;
    for (size_t i = 0; i < json_array_size(days); i++) {
        json_t *row = json_array_get(days, i);
        if (strcmp(json_string_value(json_object_get(row, "account_no")), account) != 0) continue;
        rows++;
        received = (long)json_integer_value(json_object_get(row, "received_count"));
        unmatched = (long)json_integer_value(json_object_get(row, "unmatched_count"));
        refunds = (long)json_integer_value(json_object_get(row, "refund_due_vnd"));
        duplicates = (long)json_integer_value(json_object_get(row, "duplicate_count"));
        duplicate_vnd = (long)json_integer_value(json_object_get(row, "duplicate_vnd"));
    }
    json_decref(j);
    CHECK_INT(rows, 1);
    /* Each transfer once; the further reports of a transfer apart. */
    CHECK_INT(received, count("SELECT count(*) FROM bank_transactions WHERE account_no = '%s' AND "
                              "match_status <> 'duplicate'", account));
    CHECK_INT(unmatched, count("SELECT count(*) FROM bank_transactions WHERE account_no = '%s' AND "
                               "match_status = 'unmatched'", account));
    CHECK(unmatched >= 2); /* test_unmatched's, and the one held without a bank reference */
    CHECK_INT(duplicates, count("SELECT count(*) FROM bank_transactions WHERE account_no = '%s' AND "
                                "match_status = 'duplicate'", account));
    CHECK_INT(duplicates, 9 * 2 + 2);
    CHECK_INT(duplicate_vnd, duplicates * 50000);
    CHECK_INT(refunds, 50000 + 90000);

    snprintf(path, sizeof path, "/v1/partner/payments/reconciliation?from=%s&to=%s&format=csv", today, today);
    CHECK_INT(th_partner(&r, srv.url, "GET", path, NULL), 200);
    CHECK(r.body && strncmp(r.body, "\xEF\xBB\xBF" "day,account_no,received_count,received_vnd,", 46) == 0);
    CHECK(r.body && strstr(r.body, ",duplicate_count,duplicate_vnd\r\n") != NULL);
    CHECK(r.body && strstr(r.body, account) != NULL);
    char dup_tail[64];
    snprintf(dup_tail, sizeof dup_tail, ",%ld,%ld\r\n", duplicates, duplicate_vnd);
    CHECK(r.body && strstr(r.body, dup_tail) != NULL);
    th_resp_free(&r);

    /* A transfer crafted to run in the spreadsheet the operator opens the
     * export with: its receiving account (the provider's webhook says which)
     * is a formula with a comma. The cell is quoted (RFC 4180) and starts
     * with a single quote, so it stays text; no line starts a formula. */
    char saved[sizeof account];
    memcpy(saved, account, sizeof saved);
    snprintf(account, sizeof account, "=HYPERLINK(1),-2+3");
    CHECK_INT(casso(770001, 12000, "=cmd|' /C calc'!A0 @SUM(A1)", 0), 200);
    memcpy(account, saved, sizeof saved);
    CHECK_INT(th_partner(&r, srv.url, "GET", path, NULL), 200);
    CHECK(r.body && strstr(r.body, ",\"'=HYPERLINK(1),-2+3\",") != NULL);
    CHECK(r.body && strstr(r.body, "\n=") == NULL && strstr(r.body, ",=") == NULL);
    th_resp_free(&r);

    /* The command gives the same figures. */
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd,
             "CDS_DATABASE_URL='%s' '%s/cds' payments reconcile --from %s --to %s --csv 1", db,
             CDS_BUILD_DIR, today, today);
    CHECK_INT(run_cmd(cmd, out, sizeof out), 0);
    CHECK(strncmp(out, "\xEF\xBB\xBF" "day,account_no,received_count,received_vnd,", 46) == 0);
    CHECK(strstr(out, ",\"'=HYPERLINK(1),-2+3\",") != NULL); /* the same writer */
    char want[128];
    snprintf(want, sizeof want, "%s,%s,%ld,", today, account, received);
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, ",duplicate_count,duplicate_vnd\r\n") != NULL);
    snprintf(want, sizeof want, ",%ld,%ld\r\n", duplicates, duplicate_vnd);
    CHECK(strstr(out, want) != NULL);
    snprintf(cmd, sizeof cmd, "CDS_DATABASE_URL='%s' '%s/cds' payments unmatched", db, CDS_BUILD_DIR);
    CHECK_INT(run_cmd(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "CDS7M2K9QX4P1") != NULL);
    snprintf(cmd, sizeof cmd,
             "CDS_DATABASE_URL='%s' '%s/cds' payments reconcile --from 2026-11-30 --to 2026-11-01", db,
             CDS_BUILD_DIR);
    CHECK_INT(run_cmd(cmd, out, sizeof out), 2);

    CHECK_INT(th_partner(&r, srv.url, "GET",
                         "/v1/partner/payments/reconciliation?from=2026-11-30&to=2026-11-01", NULL), 400);
    th_resp_free(&r);
    CHECK_INT(th_partner(&r, srv.url, "GET",
                         "/v1/partner/payments/reconciliation?from=2026-02-30&to=2026-03-01", NULL), 400);
    th_resp_free(&r);
}

/* ---------------- a crash in the middle ---------------- */

static const char *const *server_env;

/* The server killed (SIGKILL) while a provider delivers 40 payments, each
 * retried until answered 200 as providers do; started again: every payment
 * is recorded exactly once and every dossier is paid once. */
static void test_crash(void)
{
    enum { N = 40 };
    static char refs[N][16], ids[N][40];
    for (int i = 0; i < N; i++) {
        char code[64];
        fee_dossier(PID_A, 10000 + i, NULL, code, ids[i]);
        json_t *p = NULL;
        CHECK_INT(open_payment(&citizen_a, ids[i], &p), 201);
        snprintf(refs[i], sizeof refs[i], "%s", ref_of(p) ? ref_of(p) : "");
        json_decref(p);
    }
    fflush(NULL);
    pid_t provider = fork();
    if (provider == 0) {
        for (int i = 0; i < N; i++) {
            char tx[32];
            snprintf(tx, sizeof tx, "crash-%d-%d", (int)getppid(), i);
            int ok = 0;
            for (int attempt = 0; attempt < 400 && !ok; attempt++) {
                ok = payos(tx, NULL, 10000 + i, refs[i], 0, NULL) == 200;
                if (!ok) usleep(50000);
            }
            if (!ok) _exit(1);
        }
        _exit(0);
    }
    usleep(150000);
    int port = srv.port_plain;
    th_proc_stop(&srv, SIGKILL); /* its exit status is the kill's */
    printf("killed with %ld of %d payments recorded\n",
           count("SELECT count(*) FROM bank_transactions WHERE provider_tx_id LIKE 'link-crash-%%'"), N);
    CHECK_INT(th_server_start_on(&srv, port, db, server_env), 0);
    int st = 0;
    CHECK(waitpid(provider, &st, 0) == provider && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int i = 0; i < N; i++) {
        CHECK_VALUE(dossier_status(ids[i]), "paid");
        CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE reference = '%s'", refs[i]), 1);
        CHECK_INT(count("SELECT count(*) FROM dossier_events WHERE dossier_id = '%s' AND step = 'paid'",
                        ids[i]), 1);
    }
}

/* ---------------- the breakdown of an online dossier ---------------- */

static void test_breakdown(void)
{
    char code[64], id[40];
    /* Filed online (the channel set as filing would), delivery by post, 20,000 paid at the counter. */
    snprintf(code, sizeof code, "PAY-%d-%d", (int)getpid(), ++seq);
    CHECK_INT(th_partner_import(srv.url, code, "2.000635", PID_A, "Nguyễn Văn An", "0912345678"), 201);
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE dossiers SET channel = 'online', delivery = '{\"method\":\"post\",\"fee_vnd\":"
             "25000,\"cod\":false}' WHERE code = '%s'", code);
    CHECK_INT(th_db_exec(db, sql), 0);
    char ev[80];
    snprintf(ev, sizeof ev, "%s-fee", code);
    CHECK_INT(th_partner_step(srv.url, code, ev, "fee_requested", 10,
                              ",\"fee_vnd\":80000,\"advance_vnd\":20000"), 200);
    char *did = value("SELECT id FROM dossiers WHERE code = '%s'", code);
    snprintf(id, sizeof id, "%s", did);
    free(did);
    json_t *p = NULL;
    CHECK_INT(open_payment(&citizen_a, id, &p), 201);
    json_t *b = json_object_get(p, "breakdown");
    CHECK_INT(json_integer_value(json_object_get(b, "fee_vnd")), 80000);
    CHECK_INT(json_integer_value(json_object_get(b, "online_discount_vnd")), 40000);
    CHECK_INT(json_integer_value(json_object_get(b, "delivery_fee_vnd")), 25000);
    CHECK_INT(json_integer_value(json_object_get(b, "advance_vnd")), 20000);
    CHECK_INT(json_integer_value(json_object_get(p, "amount_vnd")), 80000 - 40000 + 25000 - 20000);
    /* The fee request's SMS and push say the discounted fee, not the listed one. */
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE dossier_id = '%s' AND template = 'fee_requested' "
                    "AND (vars->>'amount')::bigint = 40000", id), 1);
    json_decref(p);
}

int main(void)
{
    db = th_db_new("payments");
    const char *names[] = {"vneid", NULL};
    if (th_sim_start(&sim, names, NULL) != 0) return 1;
    static char iss[256];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    const char *env[] = {iss, "CDS_PAYOS_CHECKSUM_KEY=" PAYOS_KEY, "CDS_CASSO_SECRET=" CASSO_SECRET,
                         "CDS_SEPAY_API_KEY=" SEPAY_KEY, "CDS_AUTO_MIGRATE=1", NULL};
    server_env = env;
    if (th_server_start(&srv, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;
    CHECK_INT(th_login_as(&srv, PID_A, &citizen_a), 200);
    CHECK_INT(th_login_as(&srv, PID_B, &citizen_b), 200);

    test_intent();
    test_paid();
    test_concurrent();
    test_partial();
    test_overpaid();
    test_mangled();
    test_unmatched();
    test_expired();
    test_cancelled();
    test_one_transfer_three_providers();
    test_bad_input();
    test_reconciliation();
    test_breakdown();
    test_crash();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    return t_done();
}
