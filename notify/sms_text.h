/* SMS text without diacritics (không dấu) and GSM-7 segment counting.
 *
 * Vietnamese SMS are sent without marks so that they stay in the GSM 03.38
 * 7-bit alphabet: 160 characters in one message, 153 in each part of a
 * concatenated one, where UCS-2 would give 70 and 67. cds_vn_fold()
 * (core/vn_fold.h) turns any UTF-8 text into that form; cds_sms_segments()
 * says what it will cost.
 *
 * The stripped text is printable ASCII plus LF and CR: a subset of the GSM-7
 * default alphabet (the 8 ASCII characters of the extension table, ^ { } \ [
 * ~ ] |, are kept and cost 2 septets each). GSM-7's non-ASCII letters (é, ñ,
 * Ä, £, Δ ...) are deliberately not kept: a gateway that chooses the encoding
 * from the bytes it receives would send the whole message as UCS-2 for one of
 * them. The euro sign is written "EUR" for the same reason. */
#ifndef CDS_SMS_TEXT_H
#define CDS_SMS_TEXT_H
#include <stddef.h>

/* Segment sizes in septets (3GPP TS 23.038/23.040): a single message, and
 * each part of a concatenated one (7 septets go to the UDH). */
#define CDS_SMS_SINGLE_SEPTETS 160
#define CDS_SMS_PART_SEPTETS 153

/* Number of SMS a GSM-7 text costs: 0 for "", 1 up to 160 septets, else
 * parts of up to 153 septets. The text is UTF-8 of GSM-7 characters (what
 * cds_vn_fold writes, but also é, Δ, £ or € of the default alphabet and its
 * extension table); extension characters (^ { } \ [ ~ ] | € and form feed)
 * cost 2 septets, and since an escape pair is never split between two parts
 * one of them on a part boundary moves whole to the next part, so the count
 * can exceed ceil(septets / 153) by one per such boundary. The total septets
 * go to *septets when it is not NULL. Returns -1 when the text holds a
 * character outside GSM-7 or is not well-formed UTF-8. */
int cds_sms_segments(const char *gsm_text, int *septets);

#endif
