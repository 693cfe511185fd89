#!/usr/bin/env bash
# Every event line written while serving a request carries that request's id
# (core/log.h, cds_log_ctx): lines logged by a handler itself, from a database
# callback, and from an outgoing-HTTP callback, over HTTP/1.1 and h2c, with an
# id the client sent and with one the server made (read back from the
# response's X-Request-Id); lines outside any request carry none.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

db=$(th_db_new logrid)
dead=$(th_free_port) # VNeID "down": the discovery call fails in its callback
th_serve L CDS_DATABASE_URL="$db" CDS_AUTO_MIGRATE=1 CDS_VNEID_ISSUER="http://127.0.0.1:$dead" ||
    { fail "server start"; th_done; exit 1; }

# event_line EVENT ID: the event lines of EVENT that carry request id ID.
event_line() { grep -F "\"event\":\"$1\"" "$L_LOG" | grep -F "\"request_id\":\"$2\""; }

# In the handler itself: a bearer token that is not one of ours (HTTP/1.1).
v=$(curl -s -o /dev/null -w '%{http_code}' --http1.1 -H 'Authorization: Bearer not-a-token' \
    -H 'X-Request-Id: opsec-sync-1' "$L_URL/v1/me")
check_eq "bad bearer token refused" "$v" 401
check "handler's line carries the client's id" th_wait_for 5 event_line auth_token opsec-sync-1

# In a database callback: an unknown refresh token (h2c).
v=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H 'X-Request-Id: opsec-db-1' \
    -H 'Content-Type: application/json' -d '{"refresh_token":"AAAAAAAAAAAAAAAAAAAAAAAA"}' \
    "$L_URL/v1/auth/refresh")
check_eq "unknown refresh token refused" "$v" 401
check "database callback's line carries the id" th_wait_for 5 event_line auth_refresh opsec-db-1

# In an outgoing-HTTP callback, with the id the server made.
hdrs=$(curl -s -o /dev/null -D - --http2-prior-knowledge -X POST "$L_URL/v1/auth/login" | tr -d '\r')
rid=$(sed -n 's/^x-request-id: //Ip' <<<"$hdrs")
check "the server made an id" test -n "$rid"
check "the login failed on the dead VNeID" grep -Eq '^HTTP/2 5[0-9][0-9]' <<<"$hdrs"
check "HTTP callback's line carries the server's id" th_wait_for 5 event_line vneid_discovery "$rid"

# Every line of those events carries some id; start-up lines carry none.
n_all=$(grep -Ec '"event":"(auth_token|auth_refresh|vneid_discovery)"' "$L_LOG")
n_id=$(grep -E '"event":"(auth_token|auth_refresh|vneid_discovery)"' "$L_LOG" | grep -c '"request_id":"')
check "request lines seen" test "$n_all" -ge 3
check_eq "every request's event line has a request_id" "$n_id" "$n_all"
check "start-up lines have no request_id" bash -c "grep '\"event\":\"listening\"' '$L_LOG' | grep -vq request_id"
check "no start-up line has one" bash -c "! grep '\"event\":\"listening\"' '$L_LOG' | grep -q request_id"

th_stop "$L_PID" TERM
check_eq "exit status" "$TH_STATUS" 0
th_done
