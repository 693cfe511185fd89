/* Table-driven option parsing (see options.h). Numbers are parsed strictly:
 * the whole value must be a number within the option's range. A secret may
 * come from the file NAME_FILE names (read whole, at most 64 KiB, trailing
 * line ends trimmed); the copy is owned by the caller's seen[] and wiped
 * when freed. Under systemd, a secret set neither way is read from the
 * credential of the same name ($CREDENTIALS_DIRECTORY/NAME, LoadCredential=
 * in deploy/systemd/cds.service) when there is one. */
#include "core/options.h"
#include "core/buf.h"
#include "core/files.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET_FILE_MAX 65536

static int is_string(int type)
{
    int k = CDS_OPT_KIND(type);
    return k == CDS_OPT_STR || k == CDS_OPT_SECRET || k == CDS_OPT_KEY || k == CDS_OPT_URL;
}

static int set_value(const cds_opt *o, const char *v, const char *from, char *err, size_t cap)
{
    if (is_string(o->type)) {
        *(const char **)o->dst = v;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < o->min || x > o->max) {
        snprintf(err, cap, "%s: '%s' is not a number between %lld and %lld", from, v, o->min, o->max);
        return -1;
    }
    if (CDS_OPT_KIND(o->type) == CDS_OPT_INT) *(int *)o->dst = (int)x;
    else *(size_t *)o->dst = (size_t)x;
    return 0;
}

/* The value of NAME_FILE's file, or NULL with why in msg. */
static char *read_secret_file(const char *env, const char *path, char *msg, size_t cap)
{
    size_t len = 0;
    errno = 0;
    char *s = cds_read_file(path, SECRET_FILE_MAX, &len);
    if (!s) {
        snprintf(msg, cap, "%s_FILE: cannot read %s: %s", env, path,
                 errno ? strerror(errno) : "larger than 64 KiB");
        return NULL;
    }
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r')) s[--len] = 0;
    if (strlen(s) != len) {
        OPENSSL_cleanse(s, len);
        free(s);
        snprintf(msg, cap, "%s_FILE: %s holds a NUL byte", env, path);
        return NULL;
    }
    return s;
}

int cds_opt_reread(const char *env, char **out, char *msg, size_t cap)
{
    char name[128];
    snprintf(name, sizeof name, "%s_FILE", env);
    const char *path = getenv(name);
    *out = NULL;
    if (!path || !*path) return 0;
    *out = read_secret_file(env, path, msg, cap);
    return *out ? 0 : -1;
}

/* Values read from NAME_FILE by cds_opts_parse (no seen[] to own them):
 * kept for the life of the process (the command's configuration), wiped
 * and freed at exit. Start-up code only: no lock. */
static struct kept {
    char *s;
    struct kept *next;
} *g_kept;

static void kept_free(void)
{
    while (g_kept) {
        struct kept *k = g_kept;
        g_kept = k->next;
        OPENSSL_cleanse(k->s, strlen(k->s));
        free(k->s);
        free(k);
    }
}

static void keep(char *s)
{
    struct kept *k = malloc(sizeof *k);
    if (!k) abort();
    if (!g_kept) atexit(kept_free);
    k->s = s;
    k->next = g_kept;
    g_kept = k;
}

/* The environment's value of option i (NAME, or NAME_FILE for a secret or
 * key): 0 with *v set (NULL when neither is set), or -1 with the problem
 * appended to `problems`. */
static int env_value(const cds_opt *o, cds_opt_seen *seen, const char **v, cds_buf *problems)
{
    *v = NULL;
    if (!o->env) return 0;
    const char *inline_v = getenv(o->env);
    if (inline_v && !*inline_v) inline_v = NULL;
    int kind = CDS_OPT_KIND(o->type);
    if (kind != CDS_OPT_SECRET && kind != CDS_OPT_KEY) {
        *v = inline_v;
        return 0;
    }
    char name[128], cred[640];
    snprintf(name, sizeof name, "%s_FILE", o->env);
    const char *path = getenv(name);
    if (path && !*path) path = NULL;
    if (inline_v && path) {
        cds_buf_printf(problems, "%s: set %s or %s, not both\n", o->env, o->env, name);
        return -1;
    }
    const char *creds = getenv("CREDENTIALS_DIRECTORY");
    if (!inline_v && !path && creds && *creds && creds[0] == '/') {
        snprintf(cred, sizeof cred, "%s/%s", creds, o->env);
        if (access(cred, F_OK) == 0) path = cred;
    }
    if (!path) {
        *v = inline_v;
        return 0;
    }
    char msg[512];
    char *s = read_secret_file(o->env, path, msg, sizeof msg);
    if (!s) {
        cds_buf_printf(problems, "%s\n", msg);
        return -1;
    }
    if (seen) seen->owned = s;
    else keep(s);
    *v = s;
    return 0;
}

int cds_opts_parse_seen(const cds_opt *opts, size_t n, int argc, char **argv, int first,
                        cds_opt_seen *seen, char *err, size_t cap)
{
    cds_buf problems;
    cds_buf_init_fixed(&problems, err, cap);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        cds_opt_seen *s = seen ? &seen[i] : NULL;
        if (s) {
            memset(s, 0, sizeof *s);
            if (is_string(opts[i].type)) s->dflt = *(const char **)opts[i].dst;
        }
        const char *v;
        if (env_value(&opts[i], s, &v, &problems) != 0) {
            if (s) s->set = -1; /* reported: the checks say nothing more of it */
            bad++;
            continue;
        }
        if (!v) continue;
        char one[512];
        if (set_value(&opts[i], v, opts[i].env, one, sizeof one) != 0) {
            cds_buf_printf(&problems, "%s\n", one);
            if (s) s->set = -1;
            bad++;
            continue;
        }
        if (s) s->set = 1;
    }
    if (bad && problems.len && err[problems.len - 1] == '\n')
        err[problems.len - 1] = 0; /* one line per problem; the last line end is the caller's */
    for (int a = first; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return 1;
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, cap, "unexpected argument '%s'", arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        size_t found = n;
        for (size_t i = 0; i < n; i++)
            if (strlen(opts[i].flag) == nlen && strncmp(opts[i].flag, name, nlen) == 0) found = i;
        if (found == n) {
            snprintf(err, cap, "unknown option '%s' (see --help)", arg);
            return -1;
        }
        const char *v = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        if (!v) {
            snprintf(err, cap, "option '%s' needs a value", arg);
            return -1;
        }
        if (set_value(&opts[found], v, arg, err, cap) != 0) return -1;
        if (seen) seen[found].set = 1;
    }
    return bad ? -2 : 0;
}

int cds_opts_parse(const cds_opt *opts, size_t n, int argc, char **argv, int first, char *err,
                   size_t cap)
{
    return cds_opts_parse_seen(opts, n, argc, argv, first, NULL, err, cap);
}

void cds_opts_seen_free(cds_opt_seen *seen, size_t n)
{
    for (size_t i = 0; seen && i < n; i++) {
        if (seen[i].owned) {
            OPENSSL_cleanse(seen[i].owned, strlen(seen[i].owned));
            free(seen[i].owned);
        }
        seen[i].owned = NULL;
    }
}

void cds_opts_help(FILE *f, const char *usage, const cds_opt *opts, size_t n)
{
    fprintf(f, "%s\n\nOptions (flag / environment variable):\n", usage);
    for (size_t i = 0; i < n; i++) {
        char def[112] = "";
        const cds_opt *o = &opts[i];
        int kind = CDS_OPT_KIND(o->type);
        if (kind == CDS_OPT_SECRET || kind == CDS_OPT_KEY) {
            /* A secret's value is never printed; NAME_FILE is offered. */
            if (*(const char **)o->dst) snprintf(def, sizeof def, " (development default; also %s_FILE)", o->env);
            else snprintf(def, sizeof def, " (also %s_FILE)", o->env);
        } else if (is_string(o->type)) {
            const char *s = *(const char **)o->dst;
            if (s) snprintf(def, sizeof def, " (default: %s)", s);
        } else if (CDS_OPT_KIND(o->type) == CDS_OPT_INT) {
            snprintf(def, sizeof def, " (default: %d)", *(int *)o->dst);
        } else {
            snprintf(def, sizeof def, " (default: %zu)", *(size_t *)o->dst);
        }
        fprintf(f, "  --%-22s %-26s %s%s\n", o->flag, o->env ? o->env : "", o->help, def);
    }
}
