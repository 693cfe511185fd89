/* The problem catalog: every row has a status a problem can have, a
 * snake_case code that openapi.yaml lists among the Problem codes, an
 * English title and a Vietnamese detail; no code appears twice; an id out
 * of range has no row. Every code of openapi.yaml's Problem enum has an
 * English detail (core/problem_en.c), answered to Accept-Language: en; the
 * test names each code that lacks one. */
#include "core/problem.h"
#include "tests/lib/t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

int main(void)
{
    char *spec = slurp(CDS_SOURCE_DIR "/openapi.yaml");
    CHECK(spec != NULL);
    for (int i = 0; i < CDS_P__COUNT; i++) {
        const cds_problem_def *p = cds_problem_get((cds_problem_id)i);
        CHECK(p != NULL);
        if (!p) continue;
        CHECK(p->status >= 400 && p->status <= 599);
        CHECK(p->code && strspn(p->code, "abcdefghijklmnopqrstuvwxyz_") == strlen(p->code));
        CHECK(p->title && p->title[0] >= 'A' && p->title[0] <= 'Z');
        CHECK(p->detail && strlen(p->detail) > 10);
        char item[96];
        snprintf(item, sizeof item, "\n            - %s\n", p->code);
        if (!(spec && strstr(spec, item))) fprintf(stderr, "openapi.yaml lacks code %s\n", p->code);
        CHECK(spec && strstr(spec, item));
        for (int j = 0; j < i; j++)
            CHECK(strcmp(cds_problem_get((cds_problem_id)j)->code, p->code) != 0);
    }
    CHECK(cds_problem_get(CDS_P__COUNT) == NULL);

    /* The English details: the Problem enum's codes, read from the spec
     * (the "enum:" list under "code:" of components.schemas.Problem). */
    CHECK(cds_problem_en_sorted());
    const char *at = spec ? strstr(spec, "\n    Problem:\n") : NULL;
    at = at ? strstr(at, "\n          enum:\n") : NULL;
    int codes = 0;
    /* at: the newline before an item "            - code". */
    at = at ? strchr(at + 1, '\n') : NULL;
    while (at && strncmp(at, "\n            - ", 15) == 0) {
        const char *c = at + 15, *e = strchr(c, '\n');
        if (!e) break;
        char code[96];
        snprintf(code, sizeof code, "%.*s", (int)(e - c), c);
        const char *en = cds_problem_detail_en(code);
        if (!en) fprintf(stderr, "problem code %s has no English detail (core/problem_en.c)\n", code);
        CHECK(en != NULL && strlen(en) > 10);
        codes++;
        at = e;
    }
    CHECK(codes >= 100);
    for (int i = 0; i < CDS_P__COUNT; i++) CHECK(cds_problem_detail_en(cds_problem_get((cds_problem_id)i)->code) != NULL);
    CHECK(cds_problem_detail_en("no_such_code") == NULL);
    CHECK(cds_problem_detail_en(NULL) == NULL);
    free(spec);
    return t_done();
}
