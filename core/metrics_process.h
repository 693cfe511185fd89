/* The standard process metrics of the Prometheus client libraries (CPU,
 * memory, file descriptors, start time) and cds_build_info, read from the
 * kernel at scrape time, for cds_metrics_render. */
#ifndef CDS_METRICS_PROCESS_H
#define CDS_METRICS_PROCESS_H
#include <stddef.h>

/* Writes the families into buf (truncated to cap) and returns buf. */
const char *cds_metrics_process_text(char *buf, size_t cap);

#endif
