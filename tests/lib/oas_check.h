/* Checks JSON answers against openapi.yaml: the operation is found by method
 * and path template, the response by status (exact, then "4XX", then
 * default), the schema by the answer's media type, and the body is checked
 * against the subset of JSON Schema the document uses (type, properties,
 * required, additionalProperties, items, enum, const, $ref, allOf, oneOf,
 * anyOf, nullable, minimum/maximum, minItems/maxItems). th_http calls it for
 * every answer of a server the harness started, so every C integration test
 * keeps the document true to the server. */
#ifndef CDS_OAS_CHECK_H
#define CDS_OAS_CHECK_H
#include <stddef.h>

/* 0 when the answer conforms or is not JSON of a documented operation; -1
 * after printing "openapi: METHOD PATH STATUS: at POINTER: why" to stderr. */
int oas_check(const char *method, const char *path, long status, const char *content_type,
              const char *body, size_t body_len);

#endif
