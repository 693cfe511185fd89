#!/usr/bin/env bash
# The courier, VNeID and staff OIDC stand-ins are witnesses, not copies of the server:
# they may use the HTTP frame (core/http*, core/log, sim/), never the
# server's signing, parsing or domain code. Two checks:
#   - their sources include no header of auth/, delivery/, payment/,
#     dossiers/, notify/, receipts/, api/, nor core/jose.h or core/hmac_*.h;
#   - their compiled objects reference no symbol of that code (cds_jws_*,
#     cds_jwk_*, cds_jwt_*, cds_b64url_*, cds_pkey_*, cds_ct_equal,
#     cds_hmac_*, cds_mask_id, dl_*, cds_delivery_*, cds_oidc_*).
set -euo pipefail
src=${CDS_SOURCE_DIR:?} build=${CDS_BUILD_DIR:?}
fail=0
files=$(cd "$src" && ls sim/courier_*.c sim/vneid*.c sim/vneid.h sim/staffid.c)
for f in $files; do
    if bad=$(grep -nE '#include "(auth|delivery|payment|dossiers|notify|receipts|api)/|#include "core/(jose|hmac_[a-z]+)\.h"' "$src/$f"); then
        echo "FAIL $f includes server code: $bad"
        fail=1
    fi
done
objdir="$build/CMakeFiles/cds-sim.dir/sim"
for f in $files; do
    [[ $f == *.c ]] || continue
    o="$objdir/$(basename "$f").o"
    if [[ ! -f $o ]]; then
        echo "FAIL $o not built"
        fail=1
        continue
    fi
    if bad=$(nm -u "$o" | grep -E ' (cds_(jws|jwk|jwt|b64url|pkey|hmac|delivery|oidc)_[a-z0-9_]*|cds_ct_equal|cds_mask_id|dl_[a-z0-9_]*)$'); then
        echo "FAIL $f calls server code:"
        echo "$bad"
        fail=1
    fi
done
[[ $fail == 0 ]] && echo "sim witnesses: $(wc -w <<<"$files") files clean"
exit $fail
