/* Accept-Language (lang.h). One pass over the header: each member is
 * parsed on its own (range, then parameters), so one malformed member
 * costs only itself. Weights are kept in thousandths to compare exactly. */
#include "core/lang.h"

#include <ctype.h>
#include <string.h>

static const char *const TAGS[CDS_LANG__COUNT] = {"vi", "en"};

const char *cds_lang_tag(cds_lang l)
{
    return (unsigned)l < CDS_LANG__COUNT ? TAGS[l] : TAGS[CDS_LANG_VI];
}

cds_lang cds_lang_from_tag(const char *tag)
{
    return tag && strcmp(tag, "en") == 0 ? CDS_LANG_EN : CDS_LANG_VI;
}

const char *cds_lang_pick(cds_lang l, const char *vi, const char *en)
{
    return l == CDS_LANG_EN && en ? en : vi;
}

static int ows(char c)
{
    return c == ' ' || c == '\t';
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in
 * thousandths; -1 when s[0..n) is not one. */
static int qvalue(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1')) return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1) return q;
    if (s[1] != '.' || n > 5) return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!isdigit((unsigned char)s[i])) return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* language-range = (1*8ALPHA *("-" 1*8alphanum)) / "*" */
static int range_valid(const char *s, size_t n)
{
    if (n == 1 && s[0] == '*') return 1;
    size_t run = 0;
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-') {
            if (run == 0) return 0;
            run = 0;
            first = 0;
            continue;
        }
        if (first ? !isalpha((unsigned char)s[i]) : !isalnum((unsigned char)s[i])) return 0;
        if (++run > 8) return 0;
    }
    return run > 0;
}

/* How specifically range r[0..n) names tag (2 letters): 0 not at all, 1
 * "*", 2 by truncation or prefix ("en-US"), 3 exactly ("en"). */
static int specificity(const char *r, size_t n, const char *tag)
{
    if (n == 1 && r[0] == '*') return 1;
    if (n < 2 || tolower((unsigned char)r[0]) != tag[0] || tolower((unsigned char)r[1]) != tag[1])
        return 0;
    if (n == 2) return 3;
    return r[2] == '-' ? 2 : 0;
}

/* The language asked for; *named set to 1 when the header named it (see
 * cds_lang_named). */
static cds_lang parse(const char *h, int *named)
{
    int best_spec[CDS_LANG__COUNT] = {0}, weight[CDS_LANG__COUNT] = {0};
    /* Order of appearance breaks ties between two equally weighted languages. */
    int first_seen[CDS_LANG__COUNT] = {-1, -1};
    int member = 0;
    for (const char *p = h; p && *p; member++) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *s = p, *e = end;
        p = *end ? end + 1 : end;
        while (s < e && ows(*s))
            s++;
        while (e > s && ows(e[-1]))
            e--;
        const char *semi = memchr(s, ';', (size_t)(e - s));
        const char *re = semi ? semi : e;
        while (re > s && ows(re[-1]))
            re--;
        if (!range_valid(s, (size_t)(re - s))) continue;
        int q = 1000, ok = 1;
        /* weight = OWS ";" OWS "q=" qvalue; other parameters make the member invalid. */
        if (semi) {
            const char *w = semi + 1;
            while (w < e && ows(*w))
                w++;
            if (e - w >= 2 && (w[0] == 'q' || w[0] == 'Q') && w[1] == '=')
                q = qvalue(w + 2, (size_t)(e - w - 2));
            else
                ok = 0;
            if (q < 0) ok = 0;
        }
        if (!ok) continue;
        for (int l = 0; l < CDS_LANG__COUNT; l++) {
            int sp = specificity(s, (size_t)(re - s), TAGS[l]);
            if (sp == 0 || sp < best_spec[l]) continue;
            /* Equally specific ranges (en-US and en-GB): the heavier one. */
            if (sp == best_spec[l] && q <= weight[l]) continue;
            best_spec[l] = sp;
            weight[l] = q;
            if (sp >= 2 && first_seen[l] < 0) first_seen[l] = member;
        }
    }
    int en_named = best_spec[CDS_LANG_EN] >= 2, vi_named = best_spec[CDS_LANG_VI] >= 2;
    cds_lang won;
    if (weight[CDS_LANG_EN] > weight[CDS_LANG_VI])
        won = CDS_LANG_EN;
    else if (weight[CDS_LANG_EN] < weight[CDS_LANG_VI] || weight[CDS_LANG_EN] == 0)
        won = CDS_LANG_VI;
    /* A tie: a language named beats one reached through "*"; of two named,
     * the one named first. */
    else if (en_named && (!vi_named || first_seen[CDS_LANG_EN] < first_seen[CDS_LANG_VI]))
        won = CDS_LANG_EN;
    else
        won = CDS_LANG_VI;
    /* Named: the winner by name with a weight, or through "*" with the
     * other one refused by name. */
    cds_lang other = won == CDS_LANG_EN ? CDS_LANG_VI : CDS_LANG_EN;
    *named = weight[won] > 0 && (best_spec[won] >= 2 || (best_spec[other] >= 2 && weight[other] == 0));
    return won;
}

cds_lang cds_lang_parse(const char *h)
{
    int named;
    return parse(h, &named);
}

int cds_lang_named(const char *h)
{
    int named;
    cds_lang l = parse(h, &named);
    return named ? (int)l : -1;
}
