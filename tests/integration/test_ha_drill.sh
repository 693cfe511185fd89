#!/usr/bin/env bash
# Issue 17, the failover drill in its short form (scripts/ha-drill --short:
# 20 s of mixed load through HAProxy, the primary PostgreSQL killed at 7 s,
# a `cds serve` node at 14 s) with this build's binaries (sanitizers on).
# Passes when the drill finds every acknowledged write, no duplicate, no
# receipt gap and every SMS delivered once; its last line is shown.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

out=$CDS_BUILD_DIR/Testing/ha_drill_$$.log
mkdir -p "$CDS_BUILD_DIR/Testing"
CDS_BUILD_DIR=$CDS_BUILD_DIR "$CDS_SOURCE_DIR/scripts/ha-drill" --short >"$out" 2>&1
rc=$?
tail -n 12 "$out"
check_eq "ha-drill exit status" "$rc" 0
check "last line: nothing lost or duplicated" \
    grep -qE '^ha-drill: acknowledged [1-9][0-9]*, lost 0, duplicated 0, write outage [0-9.]+ s$' \
    <(tail -n 1 "$out")
th_done
