#!/usr/bin/env bash
# Every stand-in (all of sim/) is a witness, not a copy of the server: it
# may use the HTTP frame (serving, outgoing calls, logging, options) and
# its own code (sim/witness.h: VietQR, provider signatures, JOSE), never the
# server's signing, parsing or domain code. Two checks over every file of
# sim/:
#   - its sources include, of the server's headers, only the frame's:
#     core/http.h, core/http_client.h, core/log.h, core/options.h,
#     core/server.h, core/buf.h;
#   - its compiled object references, of the symbols the project's
#     libraries define (libcds*.a), only the frame's: cds_req_*, cds_resp_*,
#     cds_respond*, cds_router_*, cds_server_*, cds_http_*, cds_log_*,
#     cds_time_rfc3339, cds_opts_parse/help, cds_problem, cds_buf_*. So no
#     cds_jws_*, cds_b64url_*, cds_hmac_*, cds_ct_equal, cds_uuid_*, dl_*,
#     nt_* ... whatever the server's code is called tomorrow.
# And cds-sim is linked with the frame's library alone (cdsframe, which
# cds-linkcheck-frame proves holds no signing code), none of the others.
set -euo pipefail
src=${CDS_SOURCE_DIR:?} build=${CDS_BUILD_DIR:?}
fail=0
allowed_headers='core/(http|http_client|log|options|server|buf)\.h|sim/[a-z0-9_]+\.h'
allowed_symbols='^(cds_(req_|resp_|respond|router_|server_|http_|log_|buf_)[a-z0-9_]*|cds_time_rfc3339|cds_opts_(parse|help)|cds_problem)$'

mapfile -t files < <(cd "$src" && ls sim/*.c sim/*.h)
((${#files[@]} > 20)) || { echo "FAIL only ${#files[@]} files under sim/"; exit 1; }
for f in "${files[@]}"; do
    if bad=$(grep -nE '^#include "' "$src/$f" | grep -vE "#include \"($allowed_headers)\""); then
        echo "FAIL $f includes server code: $bad"
        fail=1
    fi
done

# What the project's libraries define.
shopt -s nullglob
libs=("$build"/libcds*.a)
((${#libs[@]} >= 8)) || { echo "FAIL the project's libraries are not built under $build"; exit 1; }
defined=$(nm --defined-only "${libs[@]}" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBR]/ {print $3}' | sort -u)

objdir="$build/CMakeFiles/cds-sim.dir/sim"
nobj=0
for f in "${files[@]}"; do
    [[ $f == *.c ]] || continue
    o="$objdir/$(basename "$f").o"
    if [[ ! -f $o ]]; then
        echo "FAIL $o not built"
        fail=1
        continue
    fi
    nobj=$((nobj + 1))
    used=$(nm -u "$o" | awk '{print $2}' | sort -u)
    if bad=$(comm -12 <(echo "$used") <(echo "$defined") | grep -vE "$allowed_symbols"); then
        echo "FAIL $f calls server code:"
        echo "$bad"
        fail=1
    fi
done
link="$build/CMakeFiles/cds-sim.dir/link.txt"
if [[ ! -f $link ]]; then
    echo "FAIL $link missing"
    fail=1
elif ! grep -q 'libcdsframe\.a' "$link" || grep -oE 'libcds[a-z]+\.a' "$link" | grep -qv '^libcdsframe\.a$'; then
    echo "FAIL cds-sim links more than the frame: $(grep -oE 'libcds[a-z]+\.a' "$link" | sort -u | tr '\n' ' ')"
    fail=1
fi
[[ $fail == 0 ]] && echo "sim witnesses: ${#files[@]} files, $nobj objects clean"
exit $fail
