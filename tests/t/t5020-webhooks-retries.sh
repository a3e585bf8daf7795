#!/bin/sh
# Failure handling with a shortened schedule: 5xx is retried with the same
# webhook-id until it succeeds, Retry-After is honoured, the schedule ends,
# other 4xx and 3xx fail at once (redirects are not followed), 410 disables
# the endpoint, continuous failure disables it with the reason shown,
# timeouts and refused connections are retried.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

wh_config 'retry_schedule = 1s,1s,1s' 'timeout = 1s' 'connect_timeout = 1s' \
	'disable_after_failures = 100'

gap_at_least() {	# log n m seconds: request m came at least seconds after request n
	python3 -c 'import json,sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])]
sys.exit(0 if t[int(sys.argv[3]) - 1] - t[int(sys.argv[2]) - 1] >= float(sys.argv[4]) else 1)' \
		"$TEST_TMP/$1.log" "$2" "$3" "$4"
}
header_values() {	# log header: the distinct values, in order of first appearance
	python3 -c 'import json,sys
seen = []
for l in open(sys.argv[1]):
    v = json.loads(l)["headers"].get(sys.argv[2])
    if v not in seen: seen.append(v)
print(" ".join(map(str, seen)))' "$TEST_TMP/$1.log" "$2"
}

# ---- 500, 500, then 200 --------------------------------------------------------------
start_recv flaky --script 500,500,200
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*'
FLAKY=$WH_ID
E=$(outbox_event product.updated '{"id": 7}')
t_ok "worker" run_worker
t_is "$(recv_count flaky)" 3 "three requests: two 500s, then 200"
t_is "$(delivery_status "$FLAKY" "evt_$E")" succeeded "the delivery succeeded on the third attempt"
t_is "$(header_values flaky webhook-id)" "evt_$E" "webhook-id is the same on every attempt"
t_ok "each attempt is signed for its own timestamp (Python hmac)" \
	python3 "$WHRECV" verify --log "$TEST_TMP/flaky.log" --secret "$(cat "$TEST_TMP/secret.$FLAKY")"
t_ok "the retries wait the schedule's 1s" gap_at_least flaky 1 2 0.9
t_ok "each of them" gap_at_least flaky 2 3 0.9
t_is "$(tpsql -c "SELECT string_agg(attempt || ':' || coalesce(status_code, 0), ' ' ORDER BY attempt)
	FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = $FLAKY")" \
	"1:500 2:500 3:200" "every attempt is logged with its status"
t_is "$(tpsql -c "SELECT consecutive_failures, failing_since IS NULL FROM webhooks WHERE id = $FLAKY")" "0|t" \
	"a success resets the endpoint's failure count"

# ---- Retry-After is honoured -------------------------------------------------------------
start_recv later --script 503,200 --retry-after 3
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*'
LATER=$WH_ID
tpsql -c "UPDATE webhooks SET enabled = false WHERE id = $FLAKY" >/dev/null
E=$(outbox_event product.updated '{"id": 8}')
t_ok "worker" run_worker
t_is "$(recv_count later)" 2 "503 with Retry-After, then 200"
t_ok "the retry waited for Retry-After (3s), not the schedule (1s)" gap_at_least later 1 2 2.9
t_is "$(delivery_status "$LATER" "evt_$E")" succeeded "and succeeded"
t_is "$(tpsql -c "SELECT response_headers->>'retry-after' FROM webhook_attempts a JOIN webhook_deliveries d
	ON d.id = a.delivery_id WHERE d.webhook_id = $LATER AND attempt = 1")" 3 "the response headers are logged"
tpsql -c "UPDATE webhooks SET enabled = false WHERE id = $LATER" >/dev/null

# ---- the schedule runs out -----------------------------------------------------------------
start_recv down --script 502
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*'
DOWN=$WH_ID
E=$(outbox_event product.updated '{"id": 9}')
t_ok "worker" run_worker
t_is "$(recv_count down)" 4 "four attempts: the first and three retries"
t_is "$(tpsql -c "SELECT status, attempts, last_error FROM webhook_deliveries WHERE webhook_id = $DOWN")" \
	"failed|4|HTTP 502; gave up after 4 attempts" "then it failed, saying so"
t_is "$(tpsql -c "SELECT enabled, consecutive_failures FROM webhooks WHERE id = $DOWN")" "t|4" \
	"below the threshold the endpoint stays enabled, counting failures"
t_ok "list shows it failing" acmectl webhooks list
t_like "$OUT" "^$DOWN	.*	enabled \\(failing\\)" "list: enabled (failing)"
tpsql -c "UPDATE webhooks SET enabled = false WHERE id = $DOWN" >/dev/null

# ---- 4xx fails at once; 3xx is not followed ------------------------------------------------
start_recv target
TARGET_PORT=$RECV_PORT
start_recv redirect --script 302 --location "http://127.0.0.1:$TARGET_PORT/elsewhere"
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*'
REDIRECT=$WH_ID
start_recv bad --script 400
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*'
BAD=$WH_ID
E=$(outbox_event product.deleted '{"id": 10}')
t_ok "worker" run_worker
t_is "$(recv_count redirect)" 1 "a 302 is tried once"
t_is "$(recv_count target)" 0 "and its Location is not followed"
t_like "$(tpsql -c "SELECT status || ' ' || last_error FROM webhook_deliveries WHERE webhook_id = $REDIRECT")" \
	"^failed HTTP 302: redirect to http://127.0.0.1:$TARGET_PORT/elsewhere not followed" "the error says where it pointed"
t_is "$(recv_count bad)" 1 "a 400 is tried once"
t_is "$(tpsql -c "SELECT status, attempts, last_error FROM webhook_deliveries WHERE webhook_id = $BAD")" \
	"failed|1|HTTP 400" "and fails at once"
tpsql -c "UPDATE webhooks SET enabled = false WHERE id IN ($REDIRECT, $BAD)" >/dev/null

# ---- 410 disables the endpoint ---------------------------------------------------------------
start_recv gone --script 410
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*'
GONE=$WH_ID
E=$(outbox_event product.updated '{"id": 11}')
outbox_event product.updated '{"id": 12}' >/dev/null
t_ok "worker" run_worker
t_is "$(tpsql -c "SELECT enabled FROM webhooks WHERE id = $GONE")" f "410 Gone disabled the endpoint"
t_like "$(tpsql -c "SELECT disabled_reason FROM webhooks WHERE id = $GONE")" \
	"^the endpoint answered 410 Gone to delivery [0-9]+ \\(event evt_" "with the reason"
t_ok "list" acmectl webhooks list
t_like "$OUT" "^$GONE	.*	disabled: the endpoint answered 410 Gone" "list shows why"
t_like "$(tpsql -c "SELECT string_agg(status, ',' ORDER BY id) FROM webhook_deliveries WHERE webhook_id = $GONE")" \
	'^(failed,cancelled|failed,failed|cancelled,failed)$' "the 410'd delivery failed; the other one was cancelled or failed too"

# ---- continuous failure disables the endpoint -----------------------------------------------
wh_config 'retry_schedule = 1s,1s,1s' 'timeout = 1s' 'connect_timeout = 1s' \
	'disable_after_failures = 3' 'disable_after = 0'
start_recv broken --script 500
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*'
BROKEN=$WH_ID
E=$(outbox_event product.updated '{"id": 13}')
t_ok "worker" run_worker
t_is "$(recv_count broken)" 3 "three failed attempts"
t_is "$(tpsql -c "SELECT enabled, consecutive_failures FROM webhooks WHERE id = $BROKEN")" "f|3" \
	"then the endpoint was disabled (threshold 3)"
t_like "$(tpsql -c "SELECT disabled_reason FROM webhooks WHERE id = $BROKEN")" \
	'^3 consecutive failed attempts since [0-9T:.-]+Z \(last: HTTP 500\)$' "the reason: how many, since when, the last error"
t_is "$(delivery_status "$BROKEN" "evt_$E")" cancelled "its retry was cancelled"
t_ok "list -o json" acmectl webhooks list -o json
t_json "$OUT" "[w for w in d['items'] if w['id'] == $BROKEN][0]['disabled_reason'].startswith('3 consecutive failed attempts')" \
	"JSON shows the reason"
t_ok "enable it again" acmectl webhooks enable "$BROKEN"
t_is "$(tpsql -c "SELECT consecutive_failures, failing_since IS NULL FROM webhooks WHERE id = $BROKEN")" "0|t" \
	"enabling resets the count"
tpsql -c "UPDATE webhooks SET enabled = false WHERE id = $BROKEN" >/dev/null

# ---- timeouts and refused connections are retried --------------------------------------------
wh_config 'retry_schedule = 1s' 'timeout = 1s' 'connect_timeout = 1s'
start_recv slow --delay 3
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*'
SLOW=$WH_ID
# a port nobody listens on: bind one, note it, close it
CLOSED=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
add_endpoint "http://127.0.0.1:$CLOSED/" -e '*'
REFUSED=$WH_ID
E=$(outbox_event product.updated '{"id": 14}')
t_ok "worker" run_worker
t_is "$(tpsql -c "SELECT status, attempts FROM webhook_deliveries WHERE webhook_id = $SLOW")" "failed|2" \
	"a timeout is retried (and fails when the schedule ends)"
t_like "$(tpsql -c "SELECT error FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
	WHERE d.webhook_id = $SLOW AND attempt = 1")" '^timed out after [0-9]+ ms without a complete response \(timeout 1000 ms\)$' "the attempt says it timed out"
t_is "$(tpsql -c "SELECT status, attempts FROM webhook_deliveries WHERE webhook_id = $REFUSED")" "failed|2" \
	"a refused connection is retried"
t_like "$(tpsql -c "SELECT error FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
	WHERE d.webhook_id = $REFUSED AND attempt = 1")" '^cannot connect to 127.0.0.1:[0-9]+: Connection refused' "the attempt says the connection was refused"

t_done
