/* Configuration from CDS_* environment variables and command-line flags,
 * declared once as a table so that parsing, validation and `--help` (and the
 * README's table) always agree. Flags override the environment.
 *
 * The option tables are also the registry of what production mode checks
 * (core/settings_check.c): an option whose type is CDS_OPT_SECRET,
 * CDS_OPT_KEY or CDS_OPT_URL is a string with rules. Declaring a new secret
 * is its option line with that type, nothing else:
 *
 *   {"ghn-token", "CDS_GHN_TOKEN", CDS_OPT_SECRET, &c->ghn_token, 0, 0, "GHN API token"},
 *   {"ghn-url", "CDS_GHN_URL", CDS_OPT_URL, &c->ghn_url, 0, 0, "GHN API base URL"},
 *   {"casso-secret", "CDS_CASSO_SECRET", CDS_OPT_SECRET | CDS_OPT_OPTIONAL, ...}
 *   {"apns-key-id", "CDS_APNS_KEY_ID", CDS_OPT_STR | CDS_OPT_WITH_PREV, ...}
 *
 * Its development default is the value the module's config_defaults gives
 * it (what the option holds before parsing), or none (a key made in the
 * development keys directory). */
#ifndef CDS_OPTIONS_H
#define CDS_OPTIONS_H
#include <stddef.h>
#include <stdio.h>

enum {
    CDS_OPT_STR,
    CDS_OPT_INT,
    CDS_OPT_SIZE,
    /* Strings with production rules (see the top comment):            */
    CDS_OPT_SECRET, /* a secret; also NAME_FILE. Production: set, and not a development value */
    CDS_OPT_KEY,    /* a key or key list (unset: a development key); rules as a secret */
    CDS_OPT_URL,    /* a base URL, parsed at start in every mode (libcurl's URL API, http or
                       https); production: set, https, not loopback or a stand-in port */
};
/* Or'ed into a SECRET, KEY or URL type: production checks it only when set
 * (a provider that may be off, such as a payment provider an agency does not use). */
#define CDS_OPT_OPTIONAL 0x100
/* Or'ed into any string option: it configures one provider together with
 * the option just before it in the table (a run of such options is one
 * provider, e.g. APNs: URL, key, key id, team id, topic). In production,
 * once any option of the run is given, every one must have a value (given
 * or its default), so a provider half configured is refused at start, the
 * missing settings named, instead of failing at its first send. */
#define CDS_OPT_WITH_PREV 0x200
#define CDS_OPT_KIND(type) ((type) & 0xff)

typedef struct cds_opt {
    const char *flag;  /* "port" for --port */
    const char *env;   /* "CDS_PORT" */
    int type;
    void *dst;         /* const char ** (strings), int *, size_t * */
    long long min, max; /* for numbers */
    const char *help;
} cds_opt;

/* What parsing saw of each option, one per option, for the checks. */
typedef struct cds_opt_seen {
    const char *dflt; /* the string value before parsing: the module's default */
    char *owned;      /* the value read from NAME_FILE (freed by cds_opts_seen_free) */
    int set;          /* 1: given by the environment or a flag; -1: its problem is reported */
} cds_opt_seen;

/* Parses env then argv[first..]; positional arguments are an error. A SECRET
 * or KEY may come from NAME_FILE as below (kept until exit).
 * Returns 0, 1 for --help (printed), or -1 (a flag) or -2 (the environment)
 * with a message in err. */
int cds_opts_parse(const cds_opt *opts, size_t n, int argc, char **argv, int first, char *err,
                   size_t cap);
/* The same, filling seen[0..n) and reading a SECRET or KEY from the file
 * named by NAME_FILE (a systemd credential, a container secret) when NAME is
 * not set: both set is an error, an unreadable file is an error naming it,
 * trailing line ends are trimmed. Every problem with the environment is
 * reported, one line each ("NAME: why"), and -2 returned after the flags
 * were read (-1: a flag is wrong, err says which). */
int cds_opts_parse_seen(const cds_opt *opts, size_t n, int argc, char **argv, int first,
                        cds_opt_seen *seen, char *err, size_t cap);
void cds_opts_seen_free(cds_opt_seen *seen, size_t n);
/* A SIGHUP reload (core/reload.h) of a SECRET or KEY given as NAME_FILE:
 * the file's value as it is now (malloc; wipe and free it) in *out, or
 * *out NULL when NAME_FILE is not set (the value read at start stands).
 * -1 with why in msg when the file cannot be read. */
int cds_opt_reread(const char *env, char **out, char *msg, size_t cap);
void cds_opts_help(FILE *f, const char *usage, const cds_opt *opts, size_t n);

/* core/settings_check.c. Checks every SECRET, KEY and URL option: in every
 * mode a URL that is set must parse; in production (production != 0) every
 * rule of the top comment. Appends one line "  NAME: why\n" per offending
 * setting to out (NUL-terminated, cut at cap) and returns how many. */
int cds_opts_check(const cds_opt *opts, size_t n, const cds_opt_seen *seen, int production,
                   char *out, size_t cap);
/* One URL against the rules: NULL when fine, else why not (static text). */
const char *cds_url_problem(const char *url, int production);

#endif
