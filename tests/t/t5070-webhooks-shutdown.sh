#!/bin/sh
# A worker stopped (SIGTERM) while requests are in flight lets them run for
# its shutdown timeout, then aborts them and gives their deliveries back
# without counting the attempt, rather than waiting for the receiver to
# answer; the next worker sends them again under the same webhook-id.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

wh_config 'timeout = 30s'
start_listen slow --delay 10s
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*'
for i in 1 2 3; do outbox_event product.updated "{\"id\": $i}" >/dev/null; done

start_worker --shutdown-timeout 1s
t_ok "three requests are in flight" wait_for 20 sh -c "[ \"\$(wc -l <'$TEST_TMP/slow.log')\" -ge 3 ]"
T0=$(date +%s.%N)
stop_worker
T1=$(date +%s.%N)
t_ok "the worker stops without waiting for the answers ($(python3 -c "print(round($T1 - $T0, 2))") s)" \
	python3 -c "import sys; sys.exit(0 if $T1 - $T0 < 6 else 1)"
t_is "$(tpsql -c "SELECT string_agg(status || ':' || attempts, ',') FROM webhook_deliveries")" \
	"pending:0,pending:0,pending:0" "the deliveries are given back, the attempt not counted"
t_is "$(tpsql -c "SELECT count(*) FROM webhook_attempts")" 0 "no attempt is logged for them"
t_like "$(cat "$TEST_TMP/worker.log")" "3 deliveries in flight given back" "the worker log says so"

t_ok "the next worker sends them" run_worker
t_is "$(tpsql -c "SELECT string_agg(status || ':' || attempts, ',') FROM webhook_deliveries")" \
	"succeeded:1,succeeded:1,succeeded:1" "and they succeed"
t_is "$(python3 -c 'import json,sys
ids = [json.loads(l)["webhook_id"] for l in open(sys.argv[1])]
print(len(ids), len(set(ids)))' "$TEST_TMP/slow.log")" "6 3" "the receiver saw each webhook-id twice: it can deduplicate"

t_done
