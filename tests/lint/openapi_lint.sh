#!/usr/bin/env bash
# openapi.yaml under `redocly lint` with the recommended rules (redocly.yaml):
# no error and no warning. The CLI is installed with npm, at a pinned version,
# into the build directory (build/<dir>/tools/redocly), once. When npm is
# missing or its registry cannot be reached, the test says so and exits 77,
# which ctest reports as skipped (SKIP_RETURN_CODE), never as passed.
set -uo pipefail
: "${CDS_SOURCE_DIR:?}" "${CDS_BUILD_DIR:?}"
version=2.77.0
dir=$CDS_BUILD_DIR/tools/redocly
bin=$dir/node_modules/.bin/redocly
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

installed=$(cat "$dir/version" 2>/dev/null || true)
if [[ ! -x $bin || $installed != "$version" ]]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "SKIPPED: npm is not installed; cannot install @redocly/cli@$version" >&2
        exit 77
    fi
    if ! npm ping >/dev/null 2>&1; then
        echo "SKIPPED: the npm registry is unreachable; cannot install @redocly/cli@$version" >&2
        exit 77
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if ! npm install --prefix "$dir" --no-save --no-package-lock --loglevel=error \
        "@redocly/cli@$version" >"$dir/install.log" 2>&1; then
        cat "$dir/install.log" >&2
        echo "FAIL: npm install @redocly/cli@$version" >&2
        exit 1
    fi
    echo "$version" >"$dir/version"
fi

cd "$CDS_SOURCE_DIR" || exit 1
# Stylish lines are "line:col severity rule message"; any warning fails too.
out=$("$bin" lint --config redocly.yaml --format stylish openapi.yaml 2>&1)
rc=$?
problems=$(grep -E '^\s+[0-9]+:[0-9]+\s+(error|warning)' <<<"$out")
if [[ $rc -ne 0 || -n $problems ]]; then
    echo "$out" | grep -v '[║╔╚]' >&2
    echo "FAIL: redocly lint (exit $rc)" >&2
    exit 1
fi
echo "redocly lint @$version: openapi.yaml clean under recommended"
