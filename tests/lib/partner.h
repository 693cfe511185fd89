/* The city's TTHC system as the tests play it: signed partner calls
 * (core/hmac_auth.h) with the development client and secret, blocking. */
#ifndef CDS_TEST_PARTNER_H
#define CDS_TEST_PARTNER_H
#include "tests/lib/harness.h"

#define TH_PARTNER_CLIENT "tthc-hcm"
#define TH_PARTNER_SECRET "cds-dev-partner-secret"

/* Signs and sends METHOD path (query included) with `body` (may be NULL) to
 * server `base_url` over h2c; returns the HTTP status (0 on a transport
 * error) and leaves the answer in *out. */
long th_partner(th_resp *out, const char *base_url, const char *method, const char *path,
                const char *body);
/* The same with extra "Name: value" headers (NULL-ended, at most 11). */
long th_partner_with(th_resp *out, const char *base_url, const char *method, const char *path,
                     const char *body, const char *const *extra);
/* Imports a counter-filed dossier `code` for the applicant with personal ID
 * `pid` and phone `phone` (status "received"); returns the HTTP status. */
long th_partner_import(const char *base_url, const char *code, const char *procedure,
                       const char *pid, const char *name, const char *phone);
/* Pushes step `step` of dossier `code` with event id `event` and the extra
 * JSON members `extra` (may be NULL or "", e.g. ",\"fee_vnd\":1000");
 * occurred_at is a day ago plus `seconds` (later steps: more seconds). Returns the HTTP status. */
long th_partner_step(const char *base_url, const char *code, const char *event, const char *step,
                     int seconds, const char *extra);
#endif
