/* Filing at a public-service agent end to end over real sockets (issue 19
 * part 1): `cds serve` with a real PostgreSQL, the VNeID stand-in (the
 * citizen and their phone on record), the eSMS stand-in (the consent code
 * travels through the notification outbox and the SMS dispatcher like any
 * message; the test reads it where the citizen would: in the SMS).
 *
 *   accounts   an operator creates an agent over POST /v1/staff/accounts
 *              (a citizen token and an agent token may not); the new agent
 *              logs in with the TOTP secret shown once
 *   consent    a code by SMS; a wrong code, the 6th try (locked after 5,
 *              even the right code), an expired code, the 4th code for one
 *              phone: refused, nothing granted; the right code grants
 *   vneid      or the citizen logs in with VNeID on the agent's device: the
 *              consent is granted at once; the state cannot be finished by
 *              another agent nor on the citizens' callback
 *   prefill    the citizen's data only after consent
 *   filing     without consent refused (nothing filed, no scan stored); with it: a scan
 *              uploaded for the citizen, the dossier filed FOR the citizen
 *              (owned by them), the citizen's read says who filed it, where
 *              and when; every act in the audit log
 *   scope      another agent cannot read it (404), lists only their own; a
 *              citizen token and an operator token on agent routes refused
 *   cash       counter cash: a wrong amount refused (no intent left open),
 *              the right one pays the dossier with an e-receipt; a retry
 *              changes nothing
 *   slip       the printed slip (code, secret, QR) in Vietnamese and English
 *   counts     the partner API's dossiers per location and day
 *   disable    a disabled agent's token and login are refused */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/staff.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PID_A "079085001234"
#define PROCEDURE "2.000635" /* level 1, one required document (to_khai), a fee */
#define AGENCY "000.20.01.H29"

static char *db;
static th_sim sim;
static th_proc srv;
static th_login citizen;
static char location[37], esms[64];
static th_staff op, ag_a, ag_b;
static char dossier_id[40], dossier_code[64];

#define count(...) th_db_count(db, __VA_ARGS__)

#define u(...) th_url(&srv, __VA_ARGS__)

static long call(const char *method, const char *url, const char *token, const char *body, json_t **out)
{
    th_resp r;
    json_t *j = NULL;
    long st = th_json(&r, method, url, token, body, (void **)&j);
    if (out) *out = j;
    else json_decref(j);
    th_resp_free(&r);
    return st;
}

static const char *jstr(json_t *j, const char *k)
{
    const char *v = json_string_value(json_object_get(j, k));
    return v ? v : "";
}

/* The consent code the citizen received: the SMS of outbox row `key`. */
static int sms_code(const char *consent, char code[7])
{
    char *key = NULL;
    for (int i = 0; i < 100 && !key; i++) {
        key = th_db_value(db, "SELECT o.id::text FROM outbox o JOIN agent_consents a ON "
                              "a.citizen_id = o.citizen_id WHERE o.template = 'agent_consent' "
                              "ORDER BY o.id DESC LIMIT 1");
        if (!key) usleep(50000);
    }
    (void)consent;
    if (!key) return -1;
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/messages?key=%s", esms, key);
    free(key);
    for (int i = 0; i < 200; i++) {
        th_resp r;
        json_t *j = NULL;
        if (th_http(&r, 1, "GET", url, NULL, NULL, 0) == 0 && r.status == 200) j = json_loads(r.body, 0, NULL);
        th_resp_free(&r);
        const char *content = json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "content"));
        const char *p = content ? strstr(content, "Ma xac nhan ") : NULL;
        if (p) {
            snprintf(code, 7, "%.6s", p + 12);
            json_decref(j);
            return 0;
        }
        json_decref(j);
        usleep(50000);
    }
    return -1;
}

static long consent_start(const th_staff *a, char id[40], json_t **out)
{
    json_t *j = NULL;
    long st = call("POST", u("/v1/agent/consents"), a->token, "{\"personal_id\":\"" PID_A "\"}", &j);
    snprintf(id, 40, "%s", jstr(j, "id"));
    if (out) *out = j;
    else json_decref(j);
    return st;
}

static long verify(const th_staff *a, const char *id, const char *code, char *prob)
{
    char body[64];
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    json_t *j = NULL;
    long st = call("POST", u("/v1/agent/consents/%s/verify", id), a->token, body, &j);
    if (prob) snprintf(prob, 64, "%s", jstr(j, "code"));
    json_decref(j);
    return st;
}

static void test_accounts(void)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"login\":\"ag.cuong\",\"display_name\":\"Võ Văn Cường\",\"role\":\"agent\","
             "\"agent_location_id\":\"%s\",\"password\":\"cuong-pass-phrase\"}", location);
    json_t *j = NULL;
    CHECK_INT(call("POST", u("/v1/staff/accounts"), citizen.access, body, NULL), 401);
    CHECK_INT(call("POST", u("/v1/staff/accounts"), ag_a.token, body, &j), 403);
    CHECK_STR(jstr(j, "code"), "staff_role_forbidden");
    json_decref(j);
    long before = count("SELECT count(*) FROM staff");
    CHECK_INT(call("POST", u("/v1/staff/accounts"), op.token, body, &j), 201);
    th_staff c = {0};
    snprintf(c.login, sizeof c.login, "ag.cuong");
    snprintf(c.password, sizeof c.password, "cuong-pass-phrase");
    snprintf(c.secret, sizeof c.secret, "%s", jstr(j, "totp_secret"));
    c.next_step = (long long)time(NULL) / 30 - 1;
    CHECK(strncmp(jstr(j, "otpauth_uri"), "otpauth://totp/", 15) == 0);
    json_decref(j);
    CHECK_INT(count("SELECT count(*) FROM staff"), before + 1);
    CHECK_INT(th_staff_login(&srv, &c, NULL, NULL, NULL), 200);
    /* Again: taken; a location that does not exist; an agent without one. */
    CHECK_INT(call("POST", u("/v1/staff/accounts"), op.token, body, &j), 409);
    json_decref(j);
    CHECK_INT(call("POST", u("/v1/staff/accounts"), op.token,
                   "{\"login\":\"ag.khong\",\"display_name\":\"X\",\"role\":\"agent\","
                   "\"agent_location_id\":\"6f1c1f6e-3f7e-4b8e-9a59-2f8d1f7e9b10\","
                   "\"password\":\"khong-pass-phrase\"}", NULL), 422);
    CHECK_INT(call("POST", u("/v1/staff/accounts"), op.token,
                   "{\"login\":\"ag.khong\",\"display_name\":\"X\",\"role\":\"agent\","
                   "\"password\":\"khong-pass-phrase\"}", NULL), 422);
    CHECK_INT(count("SELECT count(*) FROM staff"), before + 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE action = 'staff_create' AND actor = 'staff:%s'", op.id), 1);
}

static char consent_ok[40];

static void test_consent(void)
{
    char id[40], code[7], prob[64], wrong[12];
    long dossiers0 = count("SELECT count(*) FROM dossiers");
    /* Filing, prefill and upload with no consent at all, or an unverified one. */
    char body[256];
    snprintf(body, sizeof body, "{\"consent_id\":\"6f1c1f6e-3f7e-4b8e-9a59-2f8d1f7e9b10\","
             "\"procedure_code\":\"" PROCEDURE "\",\"form\":{}}");
    json_t *j = NULL;
    CHECK_INT(call("POST", u("/v1/agent/dossiers"), ag_a.token, body, &j), 403);
    CHECK_STR(jstr(j, "code"), "agent_consent_required");
    json_decref(j);
    CHECK_INT(consent_start(&ag_a, id, &j), 201);
    CHECK_STR(jstr(j, "phone"), "*******678");
    json_decref(j);
    CHECK_INT(sms_code(id, code), 0);
    CHECK_INT(call("GET", u("/v1/agent/consents/%s/citizen", id), ag_a.token, NULL, NULL), 403);
    /* A scan before consent: refused, nothing stored. */
    long atts = count("SELECT count(*) FROM attachments");
    char url[512], auth[2100];
    snprintf(url, sizeof url, "%s/v1/agent/consents/%s/attachments?name=x.pdf", srv.url, id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", ag_a.token);
    const char *h[] = {auth, "Content-Type: application/pdf", NULL};
    th_resp r;
    CHECK_INT(th_http(&r, 2, "POST", url, h, "%PDF-1.4\n%%EOF\n", 15), 0);
    CHECK_INT(r.status, 403);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM attachments"), atts);
    snprintf(body, sizeof body, "{\"consent_id\":\"%s\",\"procedure_code\":\"" PROCEDURE "\",\"form\":{}}", id);
    CHECK_INT(call("POST", u("/v1/agent/dossiers"), ag_a.token, body, NULL), 403);
    /* Another agent cannot use this consent. */
    CHECK_INT(verify(&ag_b, id, code, prob), 404);
    /* A wrong code, then the right one. */
    snprintf(wrong, sizeof wrong, "%06d", (int)((strtol(code, NULL, 10) + 1) % 1000000));
    CHECK_INT(verify(&ag_a, id, wrong, prob), 403);
    CHECK_STR(prob, "consent_code_wrong");
    CHECK_INT(verify(&ag_a, id, "12ab56", prob), 422);
    CHECK_INT(count("SELECT count(*) FROM agent_consents WHERE granted_at IS NOT NULL"), 0);
    CHECK_INT(verify(&ag_a, id, code, prob), 200);
    CHECK_INT(verify(&ag_a, id, code, prob), 200); /* a retry */
    snprintf(consent_ok, sizeof consent_ok, "%s", id);

    /* The 6th try: five wrong codes lock it, the right one then too. */
    char id2[40], code2[7];
    CHECK_INT(consent_start(&ag_a, id2, NULL), 201);
    CHECK_INT(sms_code(id2, code2), 0);
    snprintf(wrong, sizeof wrong, "%06d", (int)((strtol(code2, NULL, 10) + 7) % 1000000));
    for (int i = 0; i < 4; i++) CHECK_INT(verify(&ag_a, id2, wrong, prob), 403);
    CHECK_INT(verify(&ag_a, id2, wrong, prob), 429);
    CHECK_STR(prob, "consent_code_locked");
    CHECK_INT(verify(&ag_a, id2, code2, prob), 429);
    CHECK_STR(prob, "consent_code_locked");
    CHECK_INT(count("SELECT count(*) FROM agent_consents WHERE id = '%s' AND granted_at IS NULL", id2), 1);

    /* Expired: five minutes passed (moved here into the past). */
    char id3[40], code3[7];
    CHECK_INT(consent_start(&ag_a, id3, NULL), 201);
    CHECK_INT(sms_code(id3, code3), 0);
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE agent_consents SET expires_at = now() - interval '1 second' WHERE id = '%s'", id3);
    CHECK_INT(th_db_exec(db, sql), 0);
    CHECK_INT(verify(&ag_a, id3, code3, prob), 410);
    CHECK_STR(prob, "consent_code_expired");
    CHECK_INT(count("SELECT count(*) FROM agent_consents WHERE id = '%s' AND granted_at IS NULL", id3), 1);

    /* A fourth code to the same phone within 15 minutes: refused, no SMS. */
    long sms = count("SELECT count(*) FROM outbox WHERE template = 'agent_consent'");
    char id4[40];
    CHECK_INT(consent_start(&ag_b, id4, &j), 429);
    CHECK_STR(jstr(j, "code"), "too_many_requests");
    json_decref(j);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE template = 'agent_consent'"), sms);
    /* An unknown citizen; a malformed personal ID. */
    CHECK_INT(call("POST", u("/v1/agent/consents"), ag_b.token, "{\"personal_id\":\"079999999999\"}", NULL), 404);
    CHECK_INT(call("POST", u("/v1/agent/consents"), ag_b.token, "{\"personal_id\":\"12345\"}", NULL), 422);
    CHECK_INT(count("SELECT count(*) FROM dossiers"), dossiers0);
}

/* The citizen logs in with VNeID on agent B's device (the stand-in, by
 * login_hint as the tests do); `state` from start (or another). */
static long vneid_consent(const th_staff *a, const char *pid, const char *force_state, json_t **out)
{
    json_t *j = NULL;
    if (call("POST", u("/v1/agent/vneid-consents"), a->token, NULL, &j) != 200) {
        json_decref(j);
        return -1;
    }
    char target[2048], code[600], state[200], body[1024];
    snprintf(target, sizeof target, "%s&login_hint=%s", jstr(j, "authorization_url"), pid);
    snprintf(state, sizeof state, "%s", force_state ? force_state : jstr(j, "state"));
    json_decref(j);
    th_resp r;
    th_http(&r, 1, "GET", target, NULL, NULL, 0);
    const char *loc = th_resp_header(&r, "location");
    int ok = r.status == 302 && loc && th_query_param(loc, "code", code, sizeof code) == 0;
    th_resp_free(&r);
    if (!ok) return -2;
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"state\":\"%s\"}", code, state);
    return call("POST", u("/v1/agent/vneid-consents/callback"), a->token, body, out);
}

static void test_vneid_consent(void)
{
    json_t *j = NULL;
    long consents = count("SELECT count(*) FROM agent_consents");
    CHECK_INT(vneid_consent(&ag_b, "079192004567", NULL, &j), 201);
    CHECK_STR(jstr(j, "method"), "vneid");
    char id[40];
    snprintf(id, sizeof id, "%s", jstr(j, "id"));
    json_decref(j);
    CHECK_INT(call("GET", u("/v1/agent/consents/%s/citizen", id), ag_b.token, NULL, &j), 200);
    CHECK_STR(jstr(j, "full_name"), "Trần Thị Bích Ngọc");
    json_decref(j);
    /* Not agent A's consent. */
    CHECK_INT(call("GET", u("/v1/agent/consents/%s/citizen", id), ag_a.token, NULL, NULL), 403);
    /* Agent B's login state on agent A's callback; a citizen's state. */
    CHECK_INT(call("POST", u("/v1/agent/vneid-consents"), ag_b.token, NULL, &j), 200);
    char b_state[200];
    snprintf(b_state, sizeof b_state, "%s", jstr(j, "state"));
    json_decref(j);
    CHECK_INT(vneid_consent(&ag_a, "079192004567", b_state, &j), 400);
    CHECK_STR(jstr(j, "code"), "login_state_invalid");
    json_decref(j);
    CHECK_INT(call("POST", u("/v1/auth/login"), NULL, "{}", &j), 200);
    char c_state[200];
    snprintf(c_state, sizeof c_state, "%s", jstr(j, "state"));
    json_decref(j);
    CHECK_INT(vneid_consent(&ag_a, "079192004567", c_state, NULL), 400);
    CHECK_INT(call("POST", u("/v1/agent/vneid-consents/callback"), ag_a.token, "{\"code\":\"\"}", NULL), 422);
    CHECK_INT(count("SELECT count(*) FROM agent_consents"), consents + 1);
}

static void test_filing(void)
{
    /* Prefill from the citizen's data, now that they agreed. */
    json_t *c = NULL;
    CHECK_INT(call("GET", u("/v1/agent/consents/%s/citizen", consent_ok), ag_a.token, NULL, &c), 200);
    CHECK_STR(jstr(c, "full_name"), "Nguyễn Văn An");
    CHECK_STR(jstr(c, "personal_id"), PID_A);
    /* The scan, uploaded for the citizen. */
    static const char pdf[] = "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
    char url[512];
    snprintf(url, sizeof url, "%s/v1/agent/consents/%s/attachments?name=to-khai.pdf&document_code=to_khai",
             srv.url, consent_ok);
    char auth[2100];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", ag_a.token);
    const char *h[] = {auth, "Content-Type: application/pdf", NULL};
    th_resp r;
    CHECK_INT(th_http(&r, 2, "POST", url, h, pdf, sizeof pdf - 1), 0);
    CHECK_INT(r.status, 201);
    json_t *att = r.body ? json_loads(r.body, 0, NULL) : NULL;
    th_resp_free(&r);
    char att_id[40];
    snprintf(att_id, sizeof att_id, "%s", jstr(att, "id"));
    json_decref(att);
    CHECK_INT(count("SELECT count(*) FROM attachments a JOIN citizens c ON c.id = a.citizen_id "
                    "WHERE a.id = '%s' AND c.full_name = 'Nguyễn Văn An'", att_id), 1);

    const char *phone = jstr(c, "phone");
    json_t *body = json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i},s:[{s:s,s:s}],s:{s:s}}", "consent_id",
        consent_ok, "procedure_code", PROCEDURE, "form", "full_name", jstr(c, "full_name"),
        "personal_id", jstr(c, "personal_id"), "birth_date", jstr(c, "birth_date"), "address",
        jstr(c, "address"), "phone", strncmp(phone, "+84", 3) == 0 ? "0912345678" : phone,
        "record_type", "Khai sinh", "subject_full_name", "Nguyễn Văn Bình", "copies", 2,
        "attachments", "id", att_id, "document_code", "to_khai", "delivery", "method", "pickup");
    json_decref(c);
    char *b = json_dumps(body, 0);
    json_decref(body);
    json_t *d = NULL;
    CHECK_INT(call("POST", u("/v1/agent/dossiers"), ag_a.token, b, &d), 201);
    free(b);
    snprintf(dossier_id, sizeof dossier_id, "%s", jstr(d, "id"));
    snprintf(dossier_code, sizeof dossier_code, "%s", jstr(d, "code"));
    CHECK(json_object_get(json_object_get(d, "lookup"), "secret") != NULL);
    json_decref(d);
    /* The citizen's dossier, filed for them. */
    CHECK_INT(count("SELECT count(*) FROM dossiers d JOIN citizens c ON c.id = d.citizen_id WHERE "
                    "d.id = '%s' AND c.full_name = 'Nguyễn Văn An' AND d.filed_by_staff = '%s'",
                    dossier_id, ag_a.id), 1);
    CHECK_INT(call("GET", u("/v1/dossiers/%s", dossier_id), citizen.access, NULL, &d), 200);
    json_t *fb = json_object_get(d, "filed_by");
    CHECK_STR(jstr(fb, "agent_name"), "Cán bộ ag.an");
    CHECK_STR(jstr(fb, "location_name"), "Bưu điện BD-Q1");
    CHECK(strlen(jstr(fb, "filed_at")) >= 20);
    json_decref(d);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE actor = 'staff:%s' AND action IN "
                    "('agent_consent_requested', 'agent_consent_granted', 'agent_file')", ag_a.id), 5);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE actor = 'staff:%s' AND action IN "
                    "('agent_prefill_read', 'agent_upload') AND subject = 'citizen:' || "
                    "(SELECT citizen_id FROM dossiers WHERE id = '%s')", ag_a.id, dossier_id), 2);
}

static void test_scope(void)
{
    json_t *j = NULL;
    CHECK_INT(call("GET", u("/v1/agent/dossiers/%s", dossier_id), ag_a.token, NULL, NULL), 200);
    CHECK_INT(call("GET", u("/v1/agent/dossiers/%s", dossier_id), ag_b.token, NULL, &j), 404);
    CHECK_STR(jstr(j, "code"), "dossier_not_found");
    json_decref(j);
    CHECK_INT(call("GET", u("/v1/agent/dossiers/%s/slip", dossier_id), ag_b.token, NULL, NULL), 404);
    CHECK_INT(call("GET", u("/v1/agent/dossiers"), ag_a.token, NULL, &j), 200);
    CHECK_INT(json_array_size(json_object_get(j, "items")), 1);
    json_decref(j);
    CHECK_INT(call("GET", u("/v1/agent/dossiers"), ag_b.token, NULL, &j), 200);
    CHECK_INT(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    /* Tokens of other kinds. */
    CHECK_INT(call("GET", u("/v1/agent/dossiers"), citizen.access, NULL, NULL), 401);
    CHECK_INT(call("POST", u("/v1/agent/consents"), citizen.access, "{\"personal_id\":\"" PID_A "\"}", NULL), 401);
    CHECK_INT(call("GET", u("/v1/agent/dossiers/%s", dossier_id), op.token, NULL, &j), 403);
    CHECK_STR(jstr(j, "code"), "staff_role_forbidden");
    json_decref(j);
    CHECK_INT(call("GET", u("/v1/dossiers/%s", dossier_id), ag_a.token, NULL, NULL), 401);
}

static void test_cash_and_slip(void)
{
    /* The TTHC system's steps are dated a day back (tests/lib/partner.h):
     * the filing is moved before them. */
    char ev[80], sql[256];
    snprintf(sql, sizeof sql, "UPDATE dossier_events SET occurred_at = now() - interval '2 days' "
             "WHERE dossier_id = '%s'", dossier_id);
    CHECK_INT(th_db_exec(db, sql), 0);
    snprintf(sql, sizeof sql, "UPDATE dossiers SET last_event_at = now() - interval '2 days' "
             "WHERE id = '%s'", dossier_id);
    CHECK_INT(th_db_exec(db, sql), 0);
    snprintf(ev, sizeof ev, "%s-rcv", dossier_code);
    CHECK_INT(th_partner_step(srv.url, dossier_code, ev, "received", 5, NULL), 200);
    snprintf(ev, sizeof ev, "%s-fee", dossier_code);
    CHECK_INT(th_partner_step(srv.url, dossier_code, ev, "fee_requested", 10, ",\"fee_vnd\":8000"), 200);
    char url[256], auth[2100];
    snprintf(url, sizeof url, "%s/v1/agent/dossiers/%s/cash", srv.url, dossier_id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", ag_a.token);
    const char *h[] = {auth, "Content-Type: application/json", "Idempotency-Key: cash-1", NULL};
    const char *nokey[] = {auth, "Content-Type: application/json", NULL};
    th_resp r;
    CHECK_INT(th_http(&r, 2, "POST", url, nokey, "{\"amount_vnd\":1}", 16), 0);
    CHECK_INT(r.status, 400);
    th_resp_free(&r);
    CHECK_INT(th_http(&r, 2, "POST", url, h, "{\"amount_vnd\":1}", 16), 0);
    CHECK_INT(r.status, 422);
    if (r.status != 422) fprintf(stderr, "cash: %ld %s\n", r.status, r.body ? r.body : "");
    const char *dd = r.body ? strstr(r.body, "ph\xe1\xba\xa3i n\xe1\xbb\x99p: ") : NULL;
    long due = dd ? strtol(dd + strlen("ph\xe1\xba\xa3i n\xe1\xbb\x99p: "), NULL, 10) : 0;
    th_resp_free(&r);
    CHECK(due > 0);
    CHECK_INT(count("SELECT count(*) FROM payments WHERE dossier_id = '%s'", dossier_id), 0);
    /* Another agent: not their dossier. */
    char auth_b[2100];
    snprintf(auth_b, sizeof auth_b, "Authorization: Bearer %s", ag_b.token);
    const char *hb[] = {auth_b, "Content-Type: application/json", "Idempotency-Key: cash-1", NULL};
    char body[64];
    int bl = snprintf(body, sizeof body, "{\"amount_vnd\":%ld}", due);
    CHECK_INT(th_http(&r, 2, "POST", url, hb, body, (size_t)bl), 0);
    CHECK_INT(r.status, 404);
    th_resp_free(&r);
    CHECK_INT(th_http(&r, 2, "POST", url, h, body, (size_t)bl), 0);
    CHECK_INT(r.status, 201);
    json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    th_resp_free(&r);
    CHECK_STR(jstr(j, "payment_status"), "paid");
    CHECK(strlen(jstr(j, "receipt_id")) == 36);
    json_decref(j);
    CHECK_INT(th_http(&r, 2, "POST", url, h, body, (size_t)bl), 0);
    CHECK_INT(r.status, 200);
    th_resp_free(&r);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE provider = 'counter'"), 1);
    CHECK_INT(count("SELECT count(*) FROM dossiers WHERE id = '%s' AND status = 'paid'", dossier_id), 1);
    CHECK_INT(count("SELECT count(*) FROM receipts"), 1);

    /* The slip. */
    snprintf(url, sizeof url, "%s/v1/agent/dossiers/%s/slip", srv.url, dossier_id);
    const char *hs[] = {auth, NULL};
    CHECK_INT(th_http(&r, 2, "GET", url, hs, NULL, 0), 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, dossier_code) && strstr(r.body, "<svg") &&
          strstr(r.body, "Phiếu hẹn tra cứu hồ sơ"));
    CHECK(strstr(th_resp_header(&r, "content-type"), "text/html") != NULL);
    th_resp_free(&r);
    const char *hen[] = {auth, "Accept-Language: en", NULL};
    CHECK_INT(th_http(&r, 2, "GET", url, hen, NULL, 0), 0);
    CHECK(r.status == 200 && r.body && strstr(r.body, "Dossier lookup slip"));
    th_resp_free(&r);
}

static void test_counts(void)
{
    char path[128], day[16];
    time_t t = time(NULL) + 7 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    snprintf(path, sizeof path, "/v1/partner/agents/counts?from=%s&to=%s", day, day);
    th_resp r;
    CHECK_INT(th_partner(&r, srv.url, "GET", path, NULL), 200);
    json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    json_t *it = json_array_get(json_object_get(j, "items"), 0);
    CHECK_INT(json_integer_value(json_object_get(it, "dossiers")), 1);
    CHECK_STR(jstr(it, "location_code"), "BD-Q1");
    json_decref(j);
    th_resp_free(&r);
    CHECK_INT(th_partner(&r, srv.url, "GET", "/v1/partner/agents/counts?from=2026-13-01&to=2026-12-01", NULL), 400);
    th_resp_free(&r);
    CHECK_INT(call("GET", u("%s", path), NULL, NULL, NULL), 401);
}

static void test_disable(void)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/staff/accounts/%s/disable", ag_a.id);
    CHECK_INT(call("POST", u("%s", path), ag_b.token, NULL, NULL), 403);
    CHECK_INT(call("POST", u("%s", path), op.token, NULL, NULL), 200);
    CHECK_INT(call("POST", u("/v1/staff/accounts/%s/disable", "6f1c1f6e-3f7e-4b8e-9a59-2f8d1f7e9b10"), op.token, NULL, NULL), 404);
    long audit = count("SELECT count(*) FROM audit_log");
    /* Its open token stops at once (the session is revoked on every node). */
    for (int i = 0; i < 50 && call("GET", u("/v1/agent/dossiers"), ag_a.token, NULL, NULL) != 401; i++)
        usleep(20000);
    CHECK_INT(call("GET", u("/v1/agent/dossiers"), ag_a.token, NULL, NULL), 401);
    CHECK_INT(call("POST", u("/v1/agent/consents"), ag_a.token, "{\"personal_id\":\"" PID_A "\"}", NULL), 401);
    char prob[64];
    CHECK_INT(th_staff_login(&srv, &ag_a, NULL, NULL, prob), 403);
    CHECK_STR(prob, "staff_disabled");
    CHECK_INT(count("SELECT count(*) FROM audit_log"), audit);
    /* The SQL refuses it too, whatever token is shown (the consent granted before). */
    CHECK_INT(count("SELECT count(*) FROM cds_agent_consent_citizen('%s', '%s', NULL) WHERE status = 'agent_disabled'",
                    ag_a.id, consent_ok), 1);
}

int main(void)
{
    db = th_db_new("agents");
    const char *names[] = {"vneid", "sms-esms", NULL};
    if (th_sim_start(&sim, names, NULL) != 0) return 1;
    static char iss[256], esms_env[128];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    snprintf(esms, sizeof esms, "%s", th_sim_url(&sim, "sms-esms"));
    snprintf(esms_env, sizeof esms_env, "CDS_ESMS_URL=%s", esms);
    const char *env[] = {iss, esms_env, "CDS_ESMS_API_KEY=cds-dev-esms-apikey",
                         "CDS_ESMS_SECRET_KEY=cds-dev-esms-secretkey", "CDS_SMS_PER_HOUR=0",
                         "CDS_AUTO_MIGRATE=1", NULL};
    if (th_server_start(&srv, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;
    CHECK_INT(th_login_as(&srv, PID_A, &citizen), 200);
    CHECK_INT(th_staff_location(db, "BD-Q1", AGENCY, location), 0);
    CHECK_INT(th_staff_create(db, &op, "op.dung", "operator", NULL), 0);
    CHECK_INT(th_staff_create(db, &ag_a, "ag.an", "agent", location), 0);
    CHECK_INT(th_staff_create(db, &ag_b, "ag.bao", "agent", location), 0);
    CHECK_INT(th_staff_login(&srv, &op, NULL, NULL, NULL), 200);
    CHECK_INT(th_staff_login(&srv, &ag_a, NULL, NULL, NULL), 200);
    CHECK_INT(th_staff_login(&srv, &ag_b, NULL, NULL, NULL), 200);

    test_accounts();
    test_consent();
    test_vneid_consent();
    test_filing();
    test_scope();
    test_cash_and_slip();
    test_counts();
    test_disable();

    int stopped = th_proc_stop(&srv, SIGTERM);
    CHECK_INT(stopped, 0);
    if (stopped != 0 || t_fail) {
        char tail[512];
        snprintf(tail, sizeof tail, "tail -n 80 '%s' >&2", srv.log);
        if (system(tail) != 0) fprintf(stderr, "no server log\n");
    }
    th_sim_stop(&sim);
    return t_done();
}
