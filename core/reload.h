/* SIGHUP: key material re-read without a restart (issue 17, item 6).
 *
 * A module that holds reloadable material (auth/: token signing keys;
 * receipts/: receipt signing keys) registers a hook when it starts; the
 * server's main thread runs every hook on SIGHUP, after the TLS certificate
 * (core/tls.c), never on a loop thread. A hook builds the new material
 * completely first and publishes it in one atomic store; on any error it
 * logs why and keeps the material it had (returns -1). Material replaced by
 * a reload is kept until the module shuts down, since a request or the
 * signer may still hold a pointer into it: a reload costs a few keys of
 * memory, never a use after free. */
#ifndef CDS_RELOAD_H
#define CDS_RELOAD_H

typedef int (*cds_reload_fn)(void);

/* Adds fn under `name` (for the log); at most 8 hooks, registered at start. */
void cds_reload_register(const char *name, cds_reload_fn fn);
/* Removes fn (a module shutting down). */
void cds_reload_unregister(cds_reload_fn fn);
/* Runs every hook; returns how many failed. */
int cds_reload_run(void);

#endif
