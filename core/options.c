/* Table-driven option parsing (see options.h). Numbers are parsed strictly:
 * the whole value must be a number within the option's range. */
#include "core/options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set_value(const cds_opt *o, const char *v, const char *from, char *err, size_t cap)
{
    if (o->type == CDS_OPT_STR) {
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
    if (o->type == CDS_OPT_INT) *(int *)o->dst = (int)x;
    else *(size_t *)o->dst = (size_t)x;
    return 0;
}

int cds_opts_parse(const cds_opt *opts, size_t n, int argc, char **argv, int first, char *err,
                   size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
        if (v && *v && set_value(&opts[i], v, opts[i].env, err, cap) != 0) return -1;
    }
    for (int a = first; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return 1;
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, cap, "unexpected argument '%s'", arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const cds_opt *o = NULL;
        for (size_t i = 0; i < n; i++)
            if (strlen(opts[i].flag) == nlen && strncmp(opts[i].flag, name, nlen) == 0) o = &opts[i];
        if (!o) {
            snprintf(err, cap, "unknown option '%s' (see --help)", arg);
            return -1;
        }
        const char *v = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        if (!v) {
            snprintf(err, cap, "option '%s' needs a value", arg);
            return -1;
        }
        if (set_value(o, v, arg, err, cap) != 0) return -1;
    }
    return 0;
}

void cds_opts_help(FILE *f, const char *usage, const cds_opt *opts, size_t n)
{
    fprintf(f, "%s\n\nOptions (flag / environment variable):\n", usage);
    for (size_t i = 0; i < n; i++) {
        char def[64] = "";
        const cds_opt *o = &opts[i];
        if (o->type == CDS_OPT_STR) {
            const char *s = *(const char **)o->dst;
            if (s) snprintf(def, sizeof def, " (default: %s)", s);
        } else if (o->type == CDS_OPT_INT) {
            snprintf(def, sizeof def, " (default: %d)", *(int *)o->dst);
        } else {
            snprintf(def, sizeof def, " (default: %zu)", *(size_t *)o->dst);
        }
        fprintf(f, "  --%-22s %-26s %s%s\n", o->flag, o->env ? o->env : "", o->help, def);
    }
}
