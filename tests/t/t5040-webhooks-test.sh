#!/bin/sh
# `webhooks test ID --wait` goes through the outbox, a running worker and the
# real delivery path, and reports status code, latency and a response
# excerpt, or the error: for 200, 500, a timeout, a refused connection and a
# name that does not resolve. The outcome is the endpoint's last test.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

wh_config 'timeout = 1s' 'connect_timeout = 1s'

# ---- no worker: the test waits in the outbox, and says so ------------------------------------
start_listen ok
add_endpoint "http://127.0.0.1:$RECV_PORT/ok" -e product.created
OK=$WH_ID
t_exit 75 "test --wait without a worker gives up at --timeout" acmectl webhooks test "$OK" --wait --timeout 1s
t_like "$ERR" "no outcome for test evt_[0-9]+ within 1000 ms \\(waiting in the outbox\\); it is still queued" \
	"and says where the test is"
t_ok "test without --wait prints the event id" acmectl webhooks test "$OK"
t_like "$OUT" '^evt_[0-9]+$' "an event id"
t_like "$ERR" 'a worker delivers it' "and says who delivers it"

start_worker
t_ok "the queued tests are delivered once a worker runs" wait_for 20 sh -c \
	"[ \"\$(grep -c '\"type\":\"webhook.test\"' '$TEST_TMP/ok.log')\" = 2 ]"

# ---- 200 ---------------------------------------------------------------------------------
t_ok "test --wait: 200" acmectl webhooks test "$OK" --wait -o json
t_json "$OUT" "d['status'] == 'succeeded' and d['status_code'] == 200 and d['latency_ms'] >= 0 and d['response_excerpt'] == 'OK\\n' and d['error'] is None and d['event_id'].startswith('evt_')" \
	"reports status code, latency and the response excerpt"
t_like "$ERR" "webhook $OK answered HTTP 200 in [0-9]+ ms" "and says so"
t_ok "test --wait as a table" acmectl webhooks test "$OK" --wait
t_like "$OUT" '^status_code	200$' "the table has the status code"
t_ok "the test is the endpoint's last test" acmectl webhooks list
t_like "$OUT" "^$OK	.*	HTTP 200 in [0-9]+ ms at [0-9T:.-]+Z	" "list shows the last test"
t_is "$(tpsql -c "SELECT count(*) FROM webhook_deliveries WHERE event_type = 'webhook.test' AND webhook_id <> $OK")" 0 \
	"a test goes only to the endpoint tested"

# ---- 500 -----------------------------------------------------------------------------------
start_listen fail --status 500
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e product.created
FAIL=$WH_ID
t_exit 1 "test --wait: 500 fails" acmectl webhooks test "$FAIL" --wait -o json
t_json "$OUT" "d['status'] == 'failed' and d['status_code'] == 500 and d['error'] == 'HTTP 500' and d['response_excerpt'] == 'Internal Server Error\\n'" \
	"reports the 500 and its body"
t_like "$ERR" "webhook $FAIL: test failed: HTTP 500" "the message"
t_is "$(recv_count fail)" 1 "a test is attempted once, not retried"
t_is "$(tpsql -c "SELECT consecutive_failures, enabled FROM webhooks WHERE id = $FAIL")" "0|t" \
	"a failed test does not count against the endpoint"

# ---- a timeout -----------------------------------------------------------------------------
start_listen slow --delay 3s
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e product.created
SLOW=$WH_ID
t_exit 1 "test --wait: a timeout fails" acmectl webhooks test "$SLOW" --wait -o json
t_json "$OUT" "d['status'] == 'failed' and d['status_code'] is None and d['error'].startswith('timed out after')" \
	"reports the timeout"

# ---- a refused connection ---------------------------------------------------------------------
CLOSED=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
add_endpoint "http://127.0.0.1:$CLOSED/" -e product.created
REFUSED=$WH_ID
t_exit 1 "test --wait: a refused connection fails" acmectl webhooks test "$REFUSED" --wait
t_like "$ERR" "test failed: cannot connect to 127.0.0.1:$CLOSED: Connection refused" "reports the refusal"

# ---- a name that does not resolve ---------------------------------------------------------------
add_endpoint "http://no-such-host.invalid/hook" -e product.created
NXDOMAIN=$WH_ID
t_exit 1 "test --wait: a name that does not resolve fails" acmectl webhooks test "$NXDOMAIN" --wait -o json
t_json "$OUT" "d['status'] == 'failed' and d['error'].startswith('cannot resolve the host name') and 'no-such-host.invalid' in d['error']" \
	"reports the resolution failure"

# ---- every outcome is stored as the last test ------------------------------------------------------
t_ok "list -o json" acmectl webhooks list -o json
t_json "$OUT" "{w['id']: (w['last_test']['status_code'], (w['last_test']['error'] or '')[:9]) for w in d['items']} == {$OK: (200, ''), $FAIL: (500, 'HTTP 500'), $SLOW: (None, 'timed out'), $REFUSED: (None, 'cannot co'), $NXDOMAIN: (None, 'cannot re')}" \
	"each endpoint's last test: status code or error"
t_ok "list" acmectl webhooks list
t_like "$OUT" "^$REFUSED	.*	error at [0-9T:.-]+Z: cannot connect" "the table shows a failed test's error"

# ---- a disabled endpoint can be tested before it is enabled again -----------------------------------
t_ok "disable" acmectl webhooks disable "$OK"
t_ok "test --wait a disabled endpoint" acmectl webhooks test "$OK" --wait
t_is "$(tpsql -c "SELECT enabled FROM webhooks WHERE id = $OK")" f "it stays disabled"
stop_worker

t_done
