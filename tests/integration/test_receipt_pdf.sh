#!/usr/bin/env bash
# E-receipts end to end, offline, through `cds receipt`: keygen makes agency
# keys, sign signs the sample content of tests/data/receipts, verify tells a
# genuine export from an altered one or one signed by another agency, and
# other tools agree (the openssl CLI verifies the signature over the
# content as jq -S rebuilds it, for ES256 and Ed25519). pdf renders the
# printable receipt, which is then read back as a person and a machine
# would: pdfinfo says A5, pdftotext finds the exact Vietnamese texts, and
# zbarimg reads the verification link out of a 200 dpi rendering.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

cds=$CDS_BUILD_DIR/cds
content=$CDS_SOURCE_DIR/tests/data/receipts/content.json
mkdir -p "$CDS_BUILD_DIR/Testing"
work=$(mktemp -d "$CDS_BUILD_DIR/Testing/receipt_XXXXXX")
url="https://congdanso.tphcm.gov.vn/v1/receipts/0f8e2c1a-3b4d-4e5f-8a6b-7c8d9e0f1a2b/verify"

# The key id the docs promise: SHA-256 of the DER public key, 16 hex digits.
kid_of() { openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -c1-16; }
# Base64url (no padding) to bytes on stdout.
b64u_decode() {
    local s=${1//-/+}
    s=${s//_//}
    while ((${#s} % 4)); do s+="="; done
    base64 -d <<<"$s"
}

# ---- keys ----
out=$("$cds" receipt keygen --out "$work/p256" 2>&1)
check_eq "keygen p256 exits 0" "$?" 0
check "private key written" test -s "$work/p256/receipt_key.pem"
check_eq "private key mode 600" "$(stat -c %a "$work/p256/receipt_key.pem")" 600
check "public key is a PUBLIC KEY PEM" grep -q -- "-----BEGIN PUBLIC KEY-----" \
    "$work/p256/receipt_pub.pem"
key_text() { openssl pkey -pubin -in "$1" -text -noout; }
check "P-256 key" grep -q "NIST CURVE: P-256" <<<"$(key_text "$work/p256/receipt_pub.pem")"
kid=$(kid_of "$work/p256/receipt_pub.pem")
check "keygen prints the key id openssl computes" grep -q "key id: *$kid\$" <<<"$out"
"$cds" receipt keygen --out "$work/p256" >/dev/null 2>&1
check_eq "keygen never overwrites" "$?" 2
"$cds" receipt keygen --out "$work/ed" --alg ed25519 >/dev/null
check_eq "keygen ed25519 exits 0" "$?" 0
check "Ed25519 key" grep -q ED25519 <<<"$(key_text "$work/ed/receipt_pub.pem")"
"$cds" receipt keygen --out "$work/x" --alg rsa >/dev/null 2>&1
check_eq "keygen refuses other algorithms" "$?" 2

# ---- sign and verify ----
"$cds" receipt sign --content "$content" --key "$work/p256/receipt_key.pem" --out "$work/r.json"
check_eq "sign exits 0" "$?" 0
"$cds" receipt sign --content "$content" --key "$work/ed/receipt_key.pem" >"$work/r-ed.json"
check_eq "sign to stdout exits 0" "$?" 0
check_eq "export names its key" "$(jq -r .signature.kid "$work/r.json")" "$kid"
check_eq "export alg ES256" "$(jq -r .signature.alg "$work/r.json")" ES256
check_eq "export alg EdDSA" "$(jq -r .signature.alg "$work/r-ed.json")" EdDSA

v=$("$cds" receipt verify --file "$work/r.json" --pubkey "$work/p256/receipt_pub.pem")
check_eq "verify genuine exits 0" "$?" 0
check_eq "verify says genuine" "$(head -1 <<<"$v")" genuine
check "verify shows the payer" grep -q "payer: *Nguyễn Thị Ánh Tuyết" <<<"$v"
check "verify shows the amount" \
    grep -qF "1.250.000 đồng (Một triệu hai trăm năm mươi nghìn đồng)" <<<"$v"
check "verify shows the number" grep -q "số 00001234" <<<"$v"
v=$("$cds" receipt verify --file "$work/r-ed.json" --pubkey "$work/ed/receipt_pub.pem")
check_eq "Ed25519 receipt genuine" "$(head -1 <<<"$v")" genuine

# Altered after signing: one letter of the name, the amount with its words.
sed 's/Ánh Tuyết/Ánh Tuyêt/' "$work/r.json" >"$work/name.json"
v=$("$cds" receipt verify --file "$work/name.json" --pubkey "$work/p256/receipt_pub.pem")
check_eq "altered name exits 1" "$?" 1
check_eq "altered name is not genuine" "$v" "NOT genuine: signature does not verify"
old='"amount":1250000,"amount_words":"Một triệu hai'
new='"amount":1350000,"amount_words":"Một triệu ba'
sed "s/$old/$new/" "$work/r.json" >"$work/amount.json"
v=$("$cds" receipt verify --file "$work/amount.json" --pubkey "$work/p256/receipt_pub.pem")
check_eq "altered amount is not genuine" "$v" "NOT genuine: signature does not verify"
sed 's/"amount":1250000/"amount":1350000/' "$work/r.json" >"$work/words.json"
v=$("$cds" receipt verify --file "$work/words.json" --pubkey "$work/p256/receipt_pub.pem")
check_eq "amount not matching its words" "$v" "NOT genuine: malformed receipt (amount_words)"
v=$("$cds" receipt verify --file "$work/r.json" --pubkey "$work/ed/receipt_pub.pem")
check_eq "other agency's key exits 1" "$?" 1
check "other agency's key is named" grep -q "^NOT genuine: signed with key $kid, not with" <<<"$v"
echo '{"content":{},"signature":{}}' >"$work/junk.json"
v=$("$cds" receipt verify --file "$work/junk.json" --pubkey "$work/p256/receipt_pub.pem")
check_eq "junk exits 1" "$?" 1
"$cds" receipt verify --file "$work/none.json" --pubkey "$work/p256/receipt_pub.pem" 2>/dev/null
check_eq "missing file exits 2" "$?" 2

# Another tool, same answer: the canonical content is what jq -cS prints
# (keys sorted, compact, UTF-8 as is), and openssl checks the signature.
jq -jcS .content "$work/r.json" >"$work/canon.bin"
check "export content is canonical" bash -c "grep -qF \"\$(cat '$work/canon.bin')\" '$work/r.json'"
b64u_decode "$(jq -r .signature.value "$work/r-ed.json")" >"$work/ed.sig"
jq -jcS .content "$work/r-ed.json" >"$work/canon-ed.bin"
check "openssl verifies the Ed25519 signature" bash -c "openssl pkeyutl -verify -pubin \
    -inkey '$work/ed/receipt_pub.pem' -rawin -in '$work/canon-ed.bin' -sigfile '$work/ed.sig' \
    >/dev/null"
# ES256's r||s to the DER SEQUENCE openssl wants.
der_int() { # hex of a 32-byte big-endian integer -> DER INTEGER hex
    local h=$1
    while [[ ${h:0:2} == 00 && ${#h} -gt 2 ]]; do h=${h:2}; done
    [[ ${h:0:1} =~ [89a-f] ]] && h=00$h
    printf '02%02x%s' $((${#h} / 2)) "$h"
}
rs=$(b64u_decode "$(jq -r .signature.value "$work/r.json")" | od -An -tx1 -v | tr -d ' \n')
body=$(der_int "${rs:0:64}")$(der_int "${rs:64:64}")
der=$(printf '30%02x%s' $((${#body} / 2)) "$body")
printf '%b' "$(sed 's/../\\x&/g' <<<"$der")" >"$work/es.der"
check "openssl verifies the ES256 signature (r||s)" bash -c "openssl dgst -sha256 -verify \
    '$work/p256/receipt_pub.pem' -signature '$work/es.der' '$work/canon.bin' >/dev/null"
jq -jcS .content "$work/name.json" >"$work/canon-name.bin"
check "openssl refuses it over the altered content" bash -c "! openssl dgst -sha256 -verify \
    '$work/p256/receipt_pub.pem' -signature '$work/es.der' '$work/canon-name.bin' >/dev/null"

# ---- PDF ----
out=$("$cds" receipt pdf --file "$work/r.json" --url "$url" --out "$work/r.pdf" \
    --pubkey "$work/p256/receipt_pub.pem")
check_eq "pdf exits 0" "$?" 0
check "pdf is a PDF" bash -c "head -c 5 '$work/r.pdf' | grep -q '%PDF-'"
size=$(pdfinfo "$work/r.pdf" | sed -n 's/^Page size: *\([0-9.]*\) x \([0-9.]*\) pts.*/\1 \2/p')
size=$(awk '{printf "%.2f x %.2f", $1, $2}' <<<"$size")
check_eq "page is A5 portrait" "$size" "419.53 x 595.28"
check_eq "one page" "$(pdfinfo "$work/r.pdf" | awk '/^Pages:/ {print $2}')" 1
check "DejaVu Sans embedded" bash -c "pdffonts '$work/r.pdf' | grep -q 'DejaVuSans .*yes'"
check "DejaVu Sans Bold embedded" bash -c "pdffonts '$work/r.pdf' | grep -q 'DejaVuSans-Bold .*yes'"
text=$(pdftotext "$work/r.pdf" - | tr -s '[:space:]' ' ')
for s in "BIÊN LAI THU PHÍ, LỆ PHÍ" "Ủy ban nhân dân Phường Bến Thành" "Mã số thuế: 0301234567" \
    "Mẫu số: 01BLP0-001" "Ký hiệu: AA-25E" "Số: 00001234" "Nguyễn Thị Ánh Tuyết" "079190012345" \
    "12 Lê Lợi, Phường Sài Gòn, Thành phố Hồ Chí Minh" \
    "Lệ phí cấp giấy phép xây dựng nhà ở riêng lẻ" "000.20.01.H29-250314-0001" \
    "1.250.000 đồng" "Một triệu hai trăm năm mươi nghìn đồng" "Chuyển khoản VietQR" \
    "FT25073912345678" "09:30:00 ngày 14/03/2025" "09:30:05 ngày 14/03/2025" \
    "Ngày 14 tháng 03 năm 2025" "Mã khóa ký: $kid"; do
    check "pdf text has '$s'" grep -qF "$s" <<<"$text"
done
check "pdf text has the link" grep -qF "congdanso.tphcm.gov.vn/v1/receipts/0f8e2c" <<<"$text"
check "an original names no replaced receipt" bash -c "! grep -q 'Thay thế' <<<'$text'"
pdftoppm -r 200 -png -singlefile "$work/r.pdf" "$work/page"
check_eq "QR code holds the verification link" \
    "$(zbarimg --raw -q "$work/page.png" 2>/dev/null)" "$url"
"$cds" receipt pdf --file "$work/r.json" --url "$url" --out "$work/r2.pdf" >/dev/null
check "same receipt, same bytes" cmp -s "$work/r.pdf" "$work/r2.pdf"

# A replacement says which receipt it replaces.
jq '.kind = "replacement" | .replaces = "5b0c7c1e-9d7a-4c4e-b0a2-3f1e2d3c4b5a"' "$content" \
    >"$work/repl-content.json"
"$cds" receipt sign --content "$work/repl-content.json" --key "$work/ed/receipt_key.pem" \
    --out "$work/repl.json"
"$cds" receipt pdf --file "$work/repl.json" --url "$url?r=2" --out "$work/repl.pdf" >/dev/null
check_eq "replacement pdf exits 0" "$?" 0
text=$(pdftotext "$work/repl.pdf" - | tr -s '[:space:]' ' ')
check "replacement names the replaced receipt" \
    grep -qF "Thay thế cho biên lai điện tử có mã 5b0c7c1e-9d7a-4c4e-b0a2-3f1e2d3c4b5a" <<<"$text"

# Refusals: not genuine, a bad URL, no fonts.
"$cds" receipt pdf --file "$work/name.json" --url "$url" --out "$work/bad.pdf" \
    --pubkey "$work/p256/receipt_pub.pem" 2>/dev/null
check_eq "no pdf for an altered receipt" "$?" 1
check "nothing written for it" test ! -e "$work/bad.pdf"
"$cds" receipt pdf --file "$work/r.json" --url "https://x/ a" --out "$work/bad.pdf" 2>/dev/null
check_eq "URL with a space refused" "$?" 2
"$cds" receipt pdf --file "$work/r.json" --url "$url" --out "$work/bad.pdf" \
    --font-dir "$work/nofonts" 2>/dev/null
check_eq "missing fonts reported" "$?" 2

rm -rf "$work"
th_done
