/* Small file-system helpers for start-up code (never on a loop thread):
 * creating a directory path and reading a small file whole. */
#ifndef CDS_FILES_H
#define CDS_FILES_H
#include <stddef.h>
#include <sys/types.h>

/* mkdir -p; 0 when the directory exists afterwards. */
int cds_mkdir_p(const char *path, mode_t mode);
/* The file's contents, NUL-terminated (malloc), at most `max` bytes; NULL if
 * it cannot be read or is larger. *len set if not NULL. */
char *cds_read_file(const char *path, size_t max, size_t *len);

#endif
