#!/usr/bin/env bash
# `cds vietqr` end to end: payloads written by `cds vietqr encode --png` are
# read back by a real scanner (zbarimg, Debian's zbar-tools) and must come
# out byte for byte, then decode again (`cds vietqr decode -` reading the
# scanner's output); the SVG must be well-formed XML with an <svg> root
# holding a path; --scale must set the PNG's pixels per module. The
# payloads are NAPAS's published examples 6.1.2 (static, to a card) and
# 6.1.3 (dynamic, to an account, bill number and purpose), subiz/vietqr's
# example (its purpose typed in Vietnamese, which must come out without
# diacritics) and a 19-digit card with a bill number. Then the CLI's
# refusals: the decoder's message on stderr with exit 1, exit 2 for usage.
set -euo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

cds=$CDS_BUILD_DIR/cds
work=$(mktemp -d "${TMPDIR:-/tmp}/vietqr_scan.XXXXXX")
trap 'th_cleanup; rm -rf "$work"' EXIT

NAPAS_612=00020101021138600010A00000072701300006970403011697040311012345670208QRIBFTTC53037045802VN63044F52
NAPAS_613="00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA530370454061800005802VN62340107NPS68690819thanh toan don hang63042E2E"
SUBIZ="00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA530370454061200005802VN62170813ung ho lu lut6304C15C"
CARD19="00020101021238630010A00000072701330006970422011997042292087067309020208QRIBFTTC530370454061000005802VN62160112HS-2026-00016304C856"

# svg_ok FILE: parses as XML (python3 when there is one, else a structural
# grep) with an <svg> root in the SVG namespace holding a path.
svg_ok() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
assert root.find(ns + "path") is not None
EOF
    else
        head -c 5 "$1" | grep -q '^<?xml' && grep -q '^<svg xmlns="http://www.w3.org/2000/svg"' "$1" &&
            grep -q '<path ' "$1" && tail -n 1 "$1" | grep -qx '</svg>'
    fi
}

# png_width FILE: the width in the IHDR chunk (bytes 16..19, big-endian).
png_width() {
    local b
    read -r -a b < <(od -An -tu1 -j16 -N4 "$1")
    echo $(((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]))
}

# scan NAME EXPECTED ENCODE-ARGS...: encodes with a PNG and an SVG; checks
# the printed payload, the scanned one, that the scan decodes, the SVG.
scan() {
    local name=$1 want=$2
    shift 2
    local png=$work/$name.png svg=$work/$name.svg got scanned
    got=$("$cds" vietqr encode "$@" --png "$png" --svg "$svg") || got="<exit $?>"
    check_eq "$name: payload" "$got" "$want"
    scanned=$(zbarimg --raw -q -Sdisable -Sqrcode.enable "$png" 2>/dev/null) || scanned="<no scan>"
    check_eq "$name: scanned" "$scanned" "$want"
    check "$name: scan decodes" bash -c 'zbarimg --raw -q -Sdisable -Sqrcode.enable "$1" 2>/dev/null |
        "$2" vietqr decode - >/dev/null' _ "$png" "$cds"
    check "$name: SVG well-formed" svg_ok "$svg"
}

if ! command -v zbarimg >/dev/null 2>&1; then
    fail "zbarimg not found: install zbar-tools (scripts/bootstrap)"
fi

scan static-card "$NAPAS_612" --bin 970403 --account 9704031101234567 --service card
scan dynamic-account "$NAPAS_613" --bin 970403 --account 0011012345678 --amount 180000 \
    --purpose "thanh toan don hang" --bill NPS6869
scan vietnamese-purpose "$SUBIZ" --bin 970415 --account 0011001932418 --amount 120000 \
    --purpose "ủng hộ lũ lụt" --scale 3
scan card-19-digits "$CARD19" --bin 970422 --account=9704229208706730902 --service=card \
    --amount=100000 --bill HS-2026-0001

# --scale: pixels per module, (modules + 8 of quiet zone) per side.
w3=$(png_width "$work/vietnamese-purpose.png")
w8=$(png_width "$work/dynamic-account.png")
check "scale 3: width $w3 is (21 + 4k + 8) * 3" test $((w3 % 3)) -eq 0 -a $(((w3 / 3 - 29) % 4)) -eq 0
check "scale 8 by default: width $w8 is (21 + 4k + 8) * 8" \
    test $((w8 % 8)) -eq 0 -a $(((w8 / 8 - 29) % 4)) -eq 0

# --static with an amount, --dynamic without.
out=$("$cds" vietqr encode --bin 970422 --account 0129837294 --amount 50000 --static)
check "--static with an amount" grep -q '^000201010211.*5405500005802VN6304' <<<"$out"
out=$("$cds" vietqr encode --bin 970422 --account 0129837294 --dynamic)
check "--dynamic without an amount" grep -q '^000201010212.*53037045802VN6304' <<<"$out"

# decode: the fields as JSON.
st=0
json=$("$cds" vietqr decode "$NAPAS_613") || st=$?
check_eq "decode exit" "$st" 0
if command -v jq >/dev/null 2>&1; then
    check_eq "decode fields" \
        "$(jq -c '[.initiation,.bin,.account,.service,.amount,.purpose,.bill_number,.crc]' <<<"$json")" \
        '["dynamic","970403","0011012345678","account",180000,"thanh toan don hang","NPS6869","2E2E"]'
else
    check "decode fields" grep -q '"amount": 180000' <<<"$json"
fi

# decode: refusals on stderr, exit 1, nothing on stdout.
st=0
err=$("$cds" vietqr decode "${NAPAS_613%2E2E}2E2F" 2>&1 >/dev/null) || st=$?
check_eq "wrong CRC exit" "$st" 1
check_eq "wrong CRC message" "$err" "cds vietqr: CRC mismatch: payload says 2E2F, computed 2E2E"
st=0
err=$("$cds" vietqr decode "${NAPAS_613%2E2E}2e2e" 2>&1 >/dev/null) || st=$?
check_eq "lowercase CRC exit" "$st" 1
check_eq "lowercase CRC message" "$err" \
    'cds vietqr: field 63 (CRC): "2e2e" is not four uppercase hex digits'
st=0
out=$("$cds" vietqr decode "${NAPAS_612:0:50}" 2>/dev/null) || st=$?
check_eq "truncated exit" "$st" 1
check_eq "nothing on stdout when refused" "$out" ""

# encode: a refused field exits 1, a usage mistake 2.
st=0
err=$("$cds" vietqr encode --bin 97040 --account 1 2>&1) || st=$?
check_eq "short BIN exit" "$st" 1
check_eq "short BIN message" "$err" \
    "cds vietqr: field 38.01.00 (acquirer BIN): 5 characters, must be 6 digits"
st=0
err=$("$cds" vietqr encode --bin 970403 --account 9704A --service card 2>&1) || st=$?
check_eq "card letter exit" "$st" 1
check_eq "card letter message" "$err" \
    "cds vietqr: field 38.01.01 (card number): character 'A' at position 5 is not a digit"
usage_exit() {
    local st=0
    "$cds" vietqr "$@" >/dev/null 2>&1 || st=$?
    echo "$st"
}
check_eq "decimal amount exit" "$(usage_exit encode --bin 970403 --account 1 --amount 1.5)" 2
check_eq "zero amount exit" "$(usage_exit encode --bin 970403 --account 1 --amount 0)" 2
check_eq "static and dynamic exit" "$(usage_exit encode --bin 970403 --account 1 --static --dynamic)" 2
check_eq "missing BIN exit" "$(usage_exit encode --account 1)" 2
check_eq "bad scale exit" "$(usage_exit encode --bin 970403 --account 1 --scale 33)" 2
check_eq "unknown subcommand exit" "$(usage_exit frobnicate)" 2
check_eq "help exit" "$(usage_exit --help)" 0
check "help text" grep -q 'cds vietqr encode' <<<"$("$cds" vietqr --help)"

th_done
