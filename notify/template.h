/* Notification templates: text kept as data (db/seed/templates.json), one per
 * dossier step, channel and version, filled with the step's variables.
 *
 * The file is {"templates":[{"step":"received","channel":"sms","version":1,
 * "body":"..."}, {"step":"received","channel":"push","version":1,"title":
 * "...","body":"..."}, ...]}, Vietnamese with diacritics; an SMS is stripped
 * (core/vn_fold.h) after rendering, a push keeps them. Each push also has an
 * English version ("lang":"en") for citizens who read English (SMS stay
 * Vietnamese). A sent message
 * records the version it was rendered from, so a text can change without
 * rewriting history: add the next version, the highest one is used.
 *
 * Template syntax (Mustache-like, deliberately small):
 *   {{name}}          the variable; spaces inside the braces are tolerated
 *                     ("{{ name }}"). Names are [A-Za-z0-9_], at most 64.
 *   {{name|N}}        the same, cut to at most N characters (4..10000): a
 *                     longer value keeps its first N-3 characters, loses
 *                     trailing spaces and commas, and gets "...". Characters
 *                     are code points; a combining mark stays with its
 *                     letter, so the cut never splits one.
 *   {{#name}}..{{/name}}  the enclosed text only when name is present (an
 *                     optional note or due date); may nest, 8 deep.
 * A lone "{" or "}" is text. Values: a string as is; an integer (or a real
 * with no fraction) with '.' thousands separators, "37500" -> "37.500" (the
 * template writes the unit: "{{amount}} đ"); an array of those joined with
 * ", ". A variable is present when it is in vars and is not null, false, ""
 * or []. */
#ifndef CDS_TEMPLATE_H
#define CDS_TEMPLATE_H
#include <jansson.h>
#include <stddef.h>

#define CDS_TEMPLATE_MISSING (-1) /* a variable absent from the data, or not printable */
#define CDS_TEMPLATE_MALFORMED                                                                     \
    (-2) /* "{{" never closed, a bad name or filter, unbalanced sections */
#define CDS_TEMPLATE_TOO_LONG (-3) /* the result does not fit in out */

/* Renders tmpl with vars (a JSON object; NULL means no variables) into out
 * (cap bytes, NUL included). Returns the length, or: -2 when the template is
 * malformed (checked before any variable is looked at, so a bad template
 * fails whatever the data); -1 when a variable used outside a skipped
 * section is missing or cannot be printed (an object, a boolean, a real with
 * a fraction), with its name in missing (missing_cap bytes; missing may be
 * NULL); -3 when the result does not fit (a missing variable anywhere in the
 * template is still reported as -1 first). out is "" after an error. */
int cds_template_render(const char *tmpl, const json_t *vars, char *out, size_t cap, char *missing,
                        size_t missing_cap);

/* 0 when tmpl is well-formed, else -2 with the reason in err. */
int cds_template_syntax(const char *tmpl, char *err, size_t cap);

/* What has templates: the 13 dossier steps of db/migrations/0003_dossiers.sql
 * in state-machine order, then events that are not steps (a fee partly
 * paid, db/migrations/0006_payments.sql). */
#define CDS_TEMPLATE_STEP_COUNT 14
extern const char *const cds_template_steps[CDS_TEMPLATE_STEP_COUNT];
/* The courier statuses that are not dossier steps also have templates
 * ("courier_<status>", delivery/ and db/migrations/0008_delivery.sql). */
#define CDS_TEMPLATE_COURIER_COUNT 9
extern const char *const cds_template_courier[CDS_TEMPLATE_COURIER_COUNT];
/* Messages about no dossier, by SMS only (no push): the consent code a
 * public-service agent asks the citizen for (dossiers/agent_consent.c). */
#define CDS_TEMPLATE_SMS_ONLY_COUNT 1
extern const char *const cds_template_sms_only[CDS_TEMPLATE_SMS_ONLY_COUNT];

/* The template object of step and channel ("sms" or "push") in a loaded
 * templates document: the given version, or the highest when version is 0.
 * NULL when there is none. The result is borrowed from doc. */
const json_t *cds_templates_find(const json_t *doc, const char *step, const char *channel,
                                 int version);

/* The same in a language: entries carry "lang": "en" for English; one
 * without "lang" is Vietnamese ("vi"). Only pushes have English versions:
 * SMS stay Vietnamese without diacritics. */
const json_t *cds_templates_find_lang(const json_t *doc, const char *step, const char *channel,
                                      const char *lang, int version);

/* Checks a loaded templates document: every entry has a known step, a
 * channel, a version >= 1, a well-formed body (and, for push, title; an SMS
 * has none), a lang "vi" (or none) or "en" (push only); no
 * step/channel/lang/version appears twice; every step has both channels;
 * every Vietnamese push has an English one of the same version. Returns 0,
 * or -1 with the first problem in err. */
int cds_templates_check(const json_t *doc, char *err, size_t cap);

#endif
