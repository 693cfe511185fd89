/* The daily export's formats (export.h). Receipt rows carry what the tax
 * authority's summary needs: series, number, times, kind and status (a
 * replaced receipt stays listed with its status), agency, payer name (not
 * the personal ID number), fee, dossier, bank reference, amount; total rows
 * carry count and amount per template, serial and fee. */
#include "receipts/export.h"
#include "core/csv.h"
#include "core/date.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    X_TYPE,
    X_TEMPLATE,
    X_SERIAL,
    X_YEAR,
    X_NUMBER,
    X_ISSUED,
    X_PAID,
    X_KIND,
    X_STATUS,
    X_REPLACES,
    X_AGENCY,
    X_TAX,
    X_PAYER,
    X_FEE,
    X_DOSSIER,
    X_BANK_REF,
    X_AMOUNT,
    X_COUNT,
    X_N
};

static const char *const NAMES[X_N] = {
    "type",        "template_no",     "serial",     "year",     "number",
    "issued_at",   "paid_at",         "kind",       "status",   "replaces_number",
    "agency_code", "issuer_tax_code", "payer_name", "fee_name", "dossier_code",
    "bank_ref",    "amount_vnd",      "count"};

int cds_receipt_date_range(const char *from, const char *to, const char **why)
{
    long a = -1, b = -1;
    if (cds_date_parse(from, 2000, 2999, &a) || (to && cds_date_parse(to, 2000, 2999, &b))) {
        *why = "Ngày phải có dạng YYYY-MM-DD và là ngày có thật (from, to).";
        return -1;
    }
    if (!to) b = a;
    if (b < a) {
        *why = "Ngày kết thúc (to) không được trước ngày bắt đầu (from).";
        return -1;
    }
    if (b - a + 1 > CDS_RECEIPT_EXPORT_MAX_DAYS) {
        *why = "Mỗi lần kết xuất tối đa 31 ngày.";
        return -1;
    }
    return 0;
}

static int numeric(int c)
{
    return c == X_YEAR || c == X_NUMBER || c == X_REPLACES || c == X_AMOUNT || c == X_COUNT;
}

/* Payer and fee names come from citizens and agencies: core/csv.h quotes
 * them and keeps a spreadsheet from running them as formulas. */
static char *render_csv(PGresult *res, size_t *len)
{
    cds_csv w;
    cds_csv_begin(&w);
    for (int c = 0; c < X_N; c++) cds_csv_text(&w, NAMES[c]);
    cds_csv_row_end(&w);
    for (int i = 0; i < PQntuples(res); i++) {
        for (int c = 0; c < X_N; c++) {
            const char *v = PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c);
            if (numeric(c)) cds_csv_number(&w, v);
            else cds_csv_text(&w, v);
        }
        cds_csv_row_end(&w);
    }
    return cds_csv_finish(&w, len);
}

char *cds_receipt_export_render(PGresult *res, int csv, size_t *len)
{
    if (csv) return render_csv(res, len);
    cds_buf b;
    cds_buf_init(&b, CDS_CSV_MAX); /* the same bound as the CSV form */
    int rows = PQntuples(res);
    for (int i = 0; i < rows && !b.err; i++) {
        int total = strcmp(PQgetvalue(res, i, X_TYPE), "total") == 0;
        json_t *o = json_object();
        for (int c = 0; c < X_N; c++) {
            if (total && c != X_TYPE && c != X_TEMPLATE && c != X_SERIAL && c != X_FEE &&
                c != X_AMOUNT && c != X_COUNT)
                continue;
            if (!total && c == X_COUNT) continue;
            json_t *v = PQgetisnull(res, i, c) ? json_null()
                        : numeric(c) ? json_integer(strtoll(PQgetvalue(res, i, c), NULL, 10))
                                     : json_string(PQgetvalue(res, i, c));
            json_object_set_new(o, NAMES[c], v);
        }
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!line) {
            cds_buf_free(&b);
            return NULL;
        }
        cds_buf_adds(&b, line);
        cds_buf_addc(&b, '\n');
        free(line);
    }
    return cds_buf_take(&b, len);
}
