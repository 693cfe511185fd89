/* The receiving bank account of each agency (payment_accounts), loaded
 * with the catalog by `cds catalog load` (cli/catalog_cmd.c). Every entry is
 * checked before anything is written: the account must be encodable in a
 * VietQR code (6-digit BIN, 1..19 letters or digits), the names non-empty,
 * the service charge and lifetime in range, the provider "transfer" (a
 * VietQR code of ours, reported by the providers watching the account:
 * Casso, SePay) or "payos" (a payOS payment link per intent). The database
 * re-checks the same ranges and that the agency exists. */
#include "payment/payment.h"
#include "payment/vietqr.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 200
#define TTL_HOURS_MAX (24 * 90)
#define SERVICE_CHARGE_MAX 100000000

static int digits(const char *s, size_t n)
{
    if (!s || strlen(s) != n) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static int alnum(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max) return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
            return 0;
    return 1;
}

static int name_ok(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && *s && strlen(s) <= NAME_MAX_BYTES && json_string_length(v) == strlen(s);
}

int cds_payment_accounts_check(const json_t *doc, char *err, size_t cap)
{
    const json_t *list = json_object_get(doc, "accounts");
    if (!json_is_array(list)) {
        snprintf(err, cap, "'accounts' must be an array");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *a = json_array_get(list, i);
        const char *agency = json_string_value(json_object_get(a, "agency_code"));
        const json_t *charge = json_object_get(a, "service_charge_vnd");
        const json_t *ttl = json_object_get(a, "intent_ttl_hours");
        const char *why = NULL;
        if (!json_is_object(a)) why = "must be an object";
        else if (!agency || !*agency) why = "'agency_code' missing";
        else if (!digits(json_string_value(json_object_get(a, "bank_bin")), CDS_VIETQR_BIN_LEN))
            why = "'bank_bin' must be 6 digits (the bank's NAPAS BIN)";
        else if (!alnum(json_string_value(json_object_get(a, "account_no")), CDS_VIETQR_ACCOUNT_MAX))
            why = "'account_no' must be 1..19 letters or digits";
        else if (!name_ok(json_object_get(a, "bank_name"))) why = "'bank_name' missing or too long";
        else if (!name_ok(json_object_get(a, "account_name")))
            why = "'account_name' missing or too long";
        else if (charge && (!json_is_integer(charge) || json_integer_value(charge) < 0 ||
                            json_integer_value(charge) > SERVICE_CHARGE_MAX))
            why = "'service_charge_vnd' must be an integer 0..100000000";
        else if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
                         json_integer_value(ttl) > TTL_HOURS_MAX))
            why = "'intent_ttl_hours' must be an integer 1..2160";
        else if (json_object_get(a, "provider") &&
                 (!json_is_string(json_object_get(a, "provider")) ||
                  (strcmp(json_string_value(json_object_get(a, "provider")), "transfer") != 0 &&
                   strcmp(json_string_value(json_object_get(a, "provider")), "payos") != 0)))
            why = "'provider' must be \"transfer\" or \"payos\"";
        if (why) {
            snprintf(err, cap, "accounts[%zu] (%s): %s", i, agency ? agency : "?", why);
            return -1;
        }
    }
    return 0;
}

static const char UPSERT_SQL[] =
    "INSERT INTO payment_accounts AS p (agency_code, bank_bin, bank_name, account_no, account_name,"
    " service_charge_vnd, intent_ttl, provider) VALUES ($1, $2, $3, $4, $5, $6::bigint,"
    " make_interval(hours => $7::int), $8)"
    " ON CONFLICT (agency_code) DO UPDATE SET bank_bin = EXCLUDED.bank_bin,"
    " bank_name = EXCLUDED.bank_name, account_no = EXCLUDED.account_no,"
    " account_name = EXCLUDED.account_name, service_charge_vnd = EXCLUDED.service_charge_vnd,"
    " intent_ttl = EXCLUDED.intent_ttl, provider = EXCLUDED.provider"
    " WHERE (p.bank_bin, p.bank_name, p.account_no, p.account_name, p.service_charge_vnd,"
    " p.intent_ttl, p.provider) IS DISTINCT FROM (EXCLUDED.bank_bin, EXCLUDED.bank_name,"
    " EXCLUDED.account_no, EXCLUDED.account_name, EXCLUDED.service_charge_vnd,"
    " EXCLUDED.intent_ttl, EXCLUDED.provider)";

long cds_payment_accounts_write(PGconn *conn, const json_t *doc, char *err, size_t cap)
{
    const json_t *list = json_object_get(doc, "accounts");
    long changed = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *a = json_array_get(list, i);
        char charge[24], ttl[24];
        const json_t *c = json_object_get(a, "service_charge_vnd");
        const json_t *t = json_object_get(a, "intent_ttl_hours");
        snprintf(charge, sizeof charge, "%lld", c ? (long long)json_integer_value(c) : 0LL);
        snprintf(ttl, sizeof ttl, "%lld", t ? (long long)json_integer_value(t) : 168LL);
        const char *v[] = {json_string_value(json_object_get(a, "agency_code")),
                           json_string_value(json_object_get(a, "bank_bin")),
                           json_string_value(json_object_get(a, "bank_name")),
                           json_string_value(json_object_get(a, "account_no")),
                           json_string_value(json_object_get(a, "account_name")),
                           charge,
                           ttl,
                           json_object_get(a, "provider")
                               ? json_string_value(json_object_get(a, "provider"))
                               : "transfer"};
        PGresult *r = PQexecParams(conn, UPSERT_SQL, 8, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, cap, "accounts[%zu] (%s): %s", i, v[0], PQresultErrorMessage(r));
            PQclear(r);
            return -1;
        }
        changed += strtol(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    return changed;
}
