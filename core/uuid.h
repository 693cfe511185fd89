/* Random (version 4) UUIDs made in C, for rows whose id must be known before
 * they are inserted (a dossier's lookup secret derives from its id). Also
 * the strict shape check used on ids from URLs. */
#ifndef CDS_UUID_H
#define CDS_UUID_H

void cds_uuid_v4(char out[37]);
/* 1 when s is 36 characters 8-4-4-4-12 of hex digits. */
int cds_uuid_valid(const char *s);

#endif
