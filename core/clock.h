/* The one clock for intervals and timeouts: monotonic, in microseconds, so a
 * wall-clock change (NTP step, operator) never stretches or cuts a deadline.
 * Wall-clock times for people and the database come from PostgreSQL or
 * time(), never from this. */
#ifndef CDS_CLOCK_H
#define CDS_CLOCK_H
#include <stdint.h>

uint64_t cds_now_us(void);

#endif
