/* The English detail of every problem code (problem.h,
 * cds_problem_detail_en), answered instead of the Vietnamese one when the
 * request asks for English (Accept-Language: en, core/lang.h). One line per
 * code of openapi.yaml's Problem enum, sorted by code for a binary search;
 * tests/unit/test_problem.c fails when a code of the enum has none. A
 * Vietnamese detail that quotes values (a field, a count of seconds) has a
 * general English one: the code and the status say the rest. */
#include "core/problem.h"

#include <stdlib.h>
#include <string.h>

typedef struct en_row {
    const char *code, *detail;
} en_row;

static const en_row EN[] = {
    {"attachment_corrupted", "The stored attachment is damaged; please contact support."},
    {"attachment_not_found", "An attachment does not exist or is not yours."},
    {"authentication_required", "Please log in with VNeID to continue."},
    {"bad_amount", "The amount must be an integer number of VND from 1 to 999,999,999,999."},
    {"bad_field", "A field of the notification has the wrong type or value."},
    {"bad_json", "The body is not valid JSON."},
    {"bad_request", "The request is malformed."},
    {"bad_signature", "The signature does not match the request."},
    {"callback_address_not_allowed", "This address may not send the message gateway's reports."},
    {"callback_signature_invalid", "The callback's signature does not match."},
    {"callback_signature_missing", "The callback is not signed."},
    {"callback_timestamp_stale", "The callback's timestamp is outside the allowed window."},
    {"citizen_not_found", "The citizen's record was not found."},
    {"cod_required",
     "The dossier's fee is already set or paid; the delivery fee can only be paid on delivery "
     "(cod: true)."},
    {"code_mismatch", "The procedure code in the body differs from the one in the path."},
    {"courier_disabled", "This courier account is disabled."},
    {"courier_exists",
     "The carrier already has a courier with this staff code; its secret is not shown again."},
    {"courier_not_configured", "Callbacks from this carrier are not set up on this server."},
    {"courier_not_found", "There is no such courier."},
    {"courier_source_refused", "This address may not send the carrier's callbacks."},
    {"courier_token_invalid", "The callback URL's token is not ours."},
    {"database_unavailable", "The system cannot reach its data right now; please try again later."},
    {"delivery_too_late", "Delivery can no longer be chosen or changed for this dossier."},
    {"device_not_found", "This device was not found."},
    {"dossier_code_taken", "This dossier code is already used by another dossier."},
    {"dossier_not_found",
     "Dossier not found, or the lookup code is wrong. Please check the dossier code and the "
     "lookup code printed on the acknowledgement."},
    {"draining", "The server is shutting down; please try again."},
    {"empty_file", "The uploaded file is empty."},
    {"export_too_large", "Too many receipts in this date range; please export one day at a time."},
    {"headers_too_large", "The request headers are too large."},
    {"id_token_invalid", "The login from VNeID could not be verified; please log in again."},
    {"idempotency_key_reused", "This Idempotency-Key was already used for a different request."},
    {"identification_level_insufficient",
     "This procedure needs a level 2 electronic identity. Please upgrade your VNeID account to "
     "level 2 and log in again."},
    {"identity_provider_error", "VNeID refused the login request; please try again later."},
    {"identity_provider_unavailable", "VNeID cannot be reached; please try again later."},
    {"illegal_transition", "This step is not allowed from the dossier's current state."},
    {"internal", "A system error occurred; please try again later."},
    {"internal_error", "A system error occurred; please try again later."},
    {"invalid_advance",
     "An advance (advance_vnd) only comes with a fee request and is an integer number of VND "
     "from 0 to 1,000,000,000,000."},
    {"invalid_app_version", "The app version is invalid."},
    {"invalid_applicant", "The applicant needs a personal ID number (12 digits) and a full name."},
    {"invalid_attachments", "The list of attachments is invalid."},
    {"invalid_correction", "The correction is invalid."},
    {"invalid_courier", "The courier's details are missing or not valid."},
    {"invalid_credentials", "The courier code or secret is wrong, or the account is disabled."},
    {"invalid_cursor", "The page cursor is invalid."},
    {"invalid_date_range",
     "Invalid date range: from and to as YYYY-MM-DD, from <= to, at most 366 days."},
    {"invalid_delivery", "The delivery choice is invalid."},
    {"invalid_device_token", "The device's notification token is invalid."},
    {"invalid_document_code",
     "Invalid document code: at most 64 bytes, without '/', '\\' or control characters."},
    {"invalid_email", "The email address is invalid."},
    {"invalid_event", "The event's time or data is invalid."},
    {"invalid_fee", "The fee must be an integer number of VND from 0 to 1,000,000,000,000."},
    {"invalid_file_name",
     "Invalid file name: at most 255 bytes, without '/', '\\' or control characters."},
    {"invalid_form", "The form is incomplete or a field is invalid."},
    {"invalid_format", "The requested format is not supported."},
    {"invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable characters."},
    {"invalid_identification_level", "The identification level must be 1 or 2."},
    {"invalid_if_match", "The If-Match header is invalid."},
    {"invalid_if_none_match", "Only If-None-Match: * is supported (to create a new procedure)."},
    {"invalid_import", "The imported dossier is invalid (ref, code, procedure, dates or status)."},
    {"invalid_json", "The body is not valid JSON."},
    {"invalid_language", "The language must be 'vi' (Vietnamese) or 'en' (English)."},
    {"invalid_limit", "The page size (limit) must be an integer from 1 to 100."},
    {"invalid_login_callback", "A valid login code (code) and state (state) are required."},
    {"invalid_missing_documents",
     "A supplement request needs the list of missing documents (missing_documents)."},
    {"invalid_note", "The note must be text of at most 1000 characters."},
    {"invalid_phone", "The mobile phone number is invalid (example: 0912345678)."},
    {"invalid_platform", "The platform must be 'fcm' (Android) or 'apns' (iOS)."},
    {"invalid_preferences", "The preferences are invalid."},
    {"invalid_procedure", "The procedure is invalid."},
    {"invalid_profile", "The update must be a JSON object with valid fields."},
    {"invalid_query", "The search parameters are invalid."},
    {"invalid_reason", "The reason must be text of at most 500 characters."},
    {"invalid_receipt", "The delivery receipt is invalid."},
    {"invalid_request", "The request lacks a required field or has one of the wrong type."},
    {"invalid_scale", "The scale parameter must be an integer from 1 to 16 (pixels per module)."},
    {"invalid_sector", "The sector is invalid."},
    {"invalid_status", "The status filter is invalid."},
    {"invalid_step", "The step needs an event_id, a valid step and occurred_at in RFC 3339."},
    {"invalid_token", "Your session is invalid; please log in again."},
    {"json_too_deep", "The JSON is nested too deeply (at most 32 levels)."},
    {"login_code_invalid", "The login code is invalid or already used; please log in again."},
    {"login_state_invalid", "The login session expired or is unknown; please log in again."},
    {"lookup_secret_required",
     "Please enter the lookup code printed on the dossier's acknowledgement."},
    {"method_not_allowed", "This method is not supported for the requested path."},
    {"missing_documents", "Required documents of the procedure are missing."},
    {"missing_field", "A required field of the notification is missing."},
    {"missing_signature", "The request is not signed."},
    {"name", "A name is missing or invalid."},
    {"not_configured", "This provider is not configured on the server."},
    {"not_ready", "The system is not ready: the database cannot be reached."},
    {"nothing_to_pay",
     "The dossier's fee is already covered (advance or exemption); nothing needs to be paid."},
    {"notification_not_found", "The notification was not found."},
    {"overloaded", "The system is overloaded; please try again later."},
    {"partner_signature_invalid", "The partner signature does not match the request."},
    {"partner_signature_missing", "The partner request is not signed."},
    {"partner_timestamp_stale", "The partner request's timestamp is outside the allowed window."},
    {"partner_unknown_client", "The partner request names an unknown client."},
    {"payload_too_large", "The request body is larger than allowed."},
    {"payment_account_missing",
     "The agency has not set up its receiving account yet; please try again later."},
    {"payment_finished",
     "The payment is over (paid, expired or cancelled); its QR code can no longer be used."},
    {"payment_link_missing", "The payment has no payOS code yet: please ask to pay again."},
    {"payment_not_found", "The payment was not found."},
    {"payment_not_refund_due", "The payment has nothing to refund."},
    {"payment_not_requested", "The dossier is not waiting for a fee payment."},
    {"payment_provider_refused",
     "The payOS payment gateway refused to create a payment code for this amount."},
    {"payment_provider_unavailable",
     "The payOS payment gateway is not answering right now; please try again later."},
    {"pdf_failed", "The receipt's printable copy could not be made; please try again later."},
    {"postal_not_allowed", "The result of this procedure is not delivered by post."},
    {"precondition_failed", "The data changed since you read it; reload and try again."},
    {"precondition_required",
     "This request needs an If-Match header with the ETag of your last read (or "
     "If-None-Match: * to create)."},
    {"procedure_not_found", "This administrative procedure was not found."},
    {"qr_failed", "The QR code could not be made; please try again later."},
    {"rating_not_found", "This dossier has not been rated yet."},
    {"receipt_already_corrected", "This receipt has already been replaced or adjusted."},
    {"receipt_being_issued", "The receipt is being issued (signed); please try again shortly."},
    {"receipt_content_invalid", "The receipt's content is invalid; please contact the agency."},
    {"receipt_key_not_found", "This public key was not found."},
    {"receipt_link_invalid", "The check link is invalid."},
    {"receipt_not_found", "The receipt was not found."},
    {"receipt_too_early", "The message is still being recorded; please resend the report shortly."},
    {"refresh_token_invalid", "Your session has expired; please log in again with VNeID."},
    {"request_timeout", "Timed out waiting for the request."},
    {"route_not_found", "The requested path was not found."},
    {"service_busy", "The system is busy; please try again in a few minutes."},
    {"shipment_not_found", "The shipment was not found."},
    {"shipment_other_carrier", "The shipment belongs to another carrier."},
    {"stale_timestamp", "The timestamp is outside the allowed window."},
    {"storage_error", "The file could not be stored or read; please try again later."},
    {"too_large", "The request is too large."},
    {"too_many_requests", "Too many requests; please try again later."},
    {"transaction_already_matched", "The transaction is already matched to a payment."},
    {"transaction_not_found", "The transaction was not found."},
    {"unknown_agency", "The agency code (agency_code) is not in the agency list."},
    {"unknown_procedure", "The procedure does not exist or no longer accepts dossiers."},
    {"unsupported_file_type", "Only PDF, JPEG or PNG files are accepted."},
    {"unsupported_media_type", "The body must be JSON (Content-Type: application/json)."},
    {"unsupported_photo",
     "The signed slip's photo must be JPEG or PNG (its Content-Type matching its bytes)."},
};

static int cmp(const void *key, const void *row)
{
    return strcmp((const char *)key, ((const en_row *)row)->code);
}

const char *cds_problem_detail_en(const char *code)
{
    if (!code) return NULL;
    const en_row *r = bsearch(code, EN, sizeof EN / sizeof EN[0], sizeof EN[0], cmp);
    return r ? r->detail : NULL;
}

int cds_problem_en_sorted(void)
{
    for (size_t i = 1; i < sizeof EN / sizeof EN[0]; i++)
        if (strcmp(EN[i - 1].code, EN[i].code) >= 0) return 0;
    return 1;
}
