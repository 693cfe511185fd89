/* Source rules the compiler does not enforce, checked on every test run
 * (tests/lint/CMakeLists.txt) and naming file:line for each breach:
 *
 *   srccheck banned ROOT DIR...
 *       No call to (or any mention in code of) atoi, sprintf, vsprintf,
 *       strcpy, strcat or gets in the .c/.h files of ROOT/DIR: they write
 *       without a bound or fail without a sign (use snprintf, memcpy with
 *       lengths, strtol with checks). Comments, strings and character
 *       literals are skipped, so prose may name them, as curl's checksrc
 *       does.
 *
 *   srccheck includes ROOT MODULE=DEP,DEP... ...
 *       The files of ROOT/MODULE include, by "dir/file.h", only headers of
 *       MODULE itself and of its DEPs (CMakeLists.txt's CDS_DEPS_<module>),
 *       never a folder that is not a module (tests/, sim/, bench/), and never
 *       another module's internal headers (*internal.h), even an allowed
 *       one's. Bare "file.h" names the module's own folder.
 *
 * Exits 0 when clean, 1 with one line per breach on stderr, 2 on misuse. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODULES 32
#define MAX_NAME 64

static const char *const banned[][2] = {
    {"atoi", "strtol with checks"},     {"sprintf", "snprintf"},
    {"vsprintf", "vsnprintf"},          {"strcpy", "memcpy with a length"},
    {"strcat", "memcpy with a length"}, {"gets", "fgets"},
};

static int breaches;

/* Reads a whole file (NUL-terminated); NULL when it cannot. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[len] = 0;
    return buf;
}

static int is_source(const char *name)
{
    size_t n = strlen(name);
    return n > 2 && name[n - 2] == '.' && (name[n - 1] == 'c' || name[n - 1] == 'h');
}

/* Calls fn(path, display, arg) for each .c/.h file of ROOT/dir, sorted so
 * the report reads the same on every machine. Returns -1 when the folder
 * cannot be read (a misspelt module must not pass as clean). */
static int each_source(const char *root, const char *dir,
                       void (*fn)(const char *path, const char *display, void *arg), void *arg)
{
    char folder[4096];
    if ((size_t)snprintf(folder, sizeof folder, "%s/%s", root, dir) >= sizeof folder) {
        fprintf(stderr, "srccheck: path too long: %s/%s\n", root, dir);
        return -1;
    }
    struct dirent **names;
    int n = scandir(folder, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "srccheck: cannot read %s\n", folder);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (is_source(names[i]->d_name)) {
            /* Room for the folder, a slash and any file name: no truncation. */
            char path[sizeof folder + sizeof names[i]->d_name + 1];
            char display[MAX_NAME + sizeof names[i]->d_name + 1];
            snprintf(path, sizeof path, "%s/%s", folder, names[i]->d_name);
            snprintf(display, sizeof display, "%.*s/%s", MAX_NAME, dir, names[i]->d_name);
            fn(path, display, arg);
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

/* ---------------- banned functions ---------------- */

static void check_banned(const char *path, const char *display, void *arg)
{
    (void)arg;
    char *text = slurp(path);
    if (!text) {
        fprintf(stderr, "%s: cannot read\n", display);
        breaches++;
        return;
    }
    int line = 1;
    for (const char *p = text; *p;) {
        if (p[0] == '/' && p[1] == '*') { /* block comment */
            p += 2;
            while (*p && !(p[0] == '*' && p[1] == '/'))
                line += *p++ == '\n';
            if (*p) p += 2;
        } else if (p[0] == '/' && p[1] == '/') { /* line comment */
            while (*p && *p != '\n')
                p++;
        } else if (*p == '"' || *p == '\'') { /* literal, escapes included */
            char q = *p++;
            while (*p && *p != q && *p != '\n') {
                if (*p == '\\' && p[1]) line += *++p == '\n'; /* a continued literal */
                p++;
            }
            if (*p == q) p++;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            const char *s = p;
            while (isalnum((unsigned char)*p) || *p == '_')
                p++;
            for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++)
                if (strlen(banned[i][0]) == (size_t)(p - s) &&
                    memcmp(s, banned[i][0], p - s) == 0) {
                    fprintf(stderr, "%s:%d: %s is banned here; use %s\n", display, line,
                            banned[i][0], banned[i][1]);
                    breaches++;
                }
        } else {
            line += *p++ == '\n';
        }
    }
    free(text);
}

/* ---------------- includes ---------------- */

typedef struct module {
    char name[MAX_NAME];
    char deps[MAX_MODULES][MAX_NAME];
    int ndeps;
} module;

typedef struct rules {
    module mods[MAX_MODULES];
    int n;
    const module *self; /* the module being checked */
} rules;

static const module *find_module(const rules *r, const char *name, size_t len)
{
    for (int i = 0; i < r->n; i++)
        if (strlen(r->mods[i].name) == len && memcmp(r->mods[i].name, name, len) == 0)
            return &r->mods[i];
    return NULL;
}

static int may_use(const module *m, const char *dir)
{
    if (strcmp(m->name, dir) == 0) return 1;
    for (int i = 0; i < m->ndeps; i++)
        if (strcmp(m->deps[i], dir) == 0) return 1;
    return 0;
}

static void check_includes(const char *path, const char *display, void *arg)
{
    const rules *r = arg;
    char *text = slurp(path);
    if (!text) {
        fprintf(stderr, "%s: cannot read\n", display);
        breaches++;
        return;
    }
    int line = 0;
    for (char *p = text, *next; p && *p; p = next) {
        line++;
        next = strchr(p, '\n');
        if (next) *next++ = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '#') continue;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "include", 7) != 0) continue;
        p += 7;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '"') continue; /* <system> headers */
        const char *name = ++p;
        char *end = strchr(name, '"');
        if (!end) continue;
        *end = 0;
        const char *slash = strchr(name, '/');
        if (!slash) continue; /* bare name: this module's own folder */
        const char *base = strrchr(name, '/') + 1;
        size_t blen = strlen(base);
        int internal = blen >= 10 && strcmp(base + blen - 10, "internal.h") == 0;
        const module *to = find_module(r, name, (size_t)(slash - name));
        if (!to) {
            fprintf(stderr, "%s:%d: includes \"%s\", which is not a module's header\n", display,
                    line, name);
            breaches++;
        } else if (!may_use(r->self, to->name)) {
            fprintf(stderr,
                    "%s:%d: includes \"%s\", but %s may not use %s (CDS_DEPS_%s in "
                    "CMakeLists.txt)\n",
                    display, line, name, r->self->name, to->name, r->self->name);
            breaches++;
        } else if (internal && to != r->self) {
            fprintf(stderr, "%s:%d: includes \"%s\", another module's internal header\n", display,
                    line, name);
            breaches++;
        }
    }
    free(text);
}

/* "name=dep,dep" (deps may be empty) into m; -1 when malformed. */
static int parse_rule(const char *spec, module *m)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= MAX_NAME) return -1;
    memset(m, 0, sizeof *m);
    memcpy(m->name, spec, (size_t)(eq - spec));
    for (const char *p = eq + 1; *p;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= MAX_NAME || m->ndeps == MAX_MODULES) return -1;
        memcpy(m->deps[m->ndeps++], p, len);
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: srccheck banned ROOT DIR...\n"
                    "       srccheck includes ROOT MODULE=DEP,DEP... ...\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 4) return usage();
    const char *root = argv[2];
    if (strcmp(argv[1], "banned") == 0) {
        for (int i = 3; i < argc; i++)
            if (each_source(root, argv[i], check_banned, NULL) != 0) return 2;
    } else if (strcmp(argv[1], "includes") == 0) {
        static rules r;
        if (argc - 3 > MAX_MODULES) return usage();
        for (int i = 3; i < argc; i++)
            if (parse_rule(argv[i], &r.mods[r.n++]) != 0) {
                fprintf(stderr, "srccheck: bad rule \"%s\"\n", argv[i]);
                return 2;
            }
        for (int i = 0; i < r.n; i++) {
            r.self = &r.mods[i];
            if (each_source(root, r.mods[i].name, check_includes, &r) != 0) return 2;
        }
    } else {
        return usage();
    }
    if (breaches) fprintf(stderr, "srccheck %s: %d breach(es)\n", argv[1], breaches);
    return breaches ? 1 : 0;
}
