#!/usr/bin/env bash
# Every text the public sees has an English version (issue 18, part 5):
#   - each page template <module>/pages/<name>.html has <name>.en.html
#     beside it, and both use the same {{tags}} (a tag lost in translation
#     is a value the English page would not show);
#   - each push template of db/seed/templates.json (step, version) has an
#     English entry ("lang": "en") of the same version. SMS stay
#     Vietnamese without diacritics by design and have none.
# Names every missing or mismatched one; exits 1 if any.
set -euo pipefail
cd "$CDS_SOURCE_DIR"
bad=0
tags() { grep -o '{{[{#^/]\?[A-Za-z0-9_]*' "$1" | sed 's/^{{[{#^/]\?//' | sort -u; }
for f in */pages/*.html; do
    case $f in *.en.html) continue ;; esac
    en=${f%.html}.en.html
    if [[ ! -f $en ]]; then
        echo "translations: $f has no English version $en" >&2
        bad=1
        continue
    fi
    if ! diff <(tags "$f") <(tags "$en") >/dev/null; then
        echo "translations: $en does not use the same tags as $f:" >&2
        diff <(tags "$f") <(tags "$en") >&2 || true
        bad=1
    fi
done
for en in */pages/*.en.html; do
    [[ -f ${en%.en.html}.html ]] || { echo "translations: $en has no Vietnamese original" >&2; bad=1; }
done
missing=$(jq -r '
  [.templates[] | select(.channel == "push" and (.lang // "vi") == "vi")] as $vi
  | [.templates[] | select(.channel == "push" and .lang == "en")] as $en
  | $vi[] | . as $t
  | select([$en[] | select(.step == $t.step and .version == $t.version)] | length == 0)
  | "\(.step) v\(.version)"' db/seed/templates.json)
if [[ -n $missing ]]; then
    echo "translations: push templates without an English version (db/seed/templates.json):" >&2
    echo "$missing" >&2
    bad=1
fi
exit $bad
