#!/bin/sh
# A slow endpoint does not delay a fast one: one worker child, one deliverer,
# a slow receiver (2 s per answer) and a fast one both subscribed to every
# event. The slow endpoint never has more than max_in_flight_per_endpoint
# requests open; the fast one gets every event at once, including events
# created while the slow endpoint still holds requests open.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

wh_config 'max_in_flight_per_endpoint = 2' 'timeout = 10s'
start_listen slow --delay 2s
add_endpoint "http://127.0.0.1:$RECV_PORT/slow" -e '*'
SLOW=$WH_ID
start_listen fast
add_endpoint "http://127.0.0.1:$RECV_PORT/fast" -e '*'
FAST=$WH_ID

i=1
while [ $i -le 6 ]; do
	outbox_event product.updated "{\"id\": $i}" >/dev/null
	i=$((i + 1))
done

start_worker --concurrency 1
T0=$(date +%s.%N)
t_ok "the fast endpoint gets all six events" wait_for 20 sh -c \
	"[ \"\$(wc -l <'$TEST_TMP/fast.log')\" -ge 6 ]"
T1=$(date +%s.%N)
t_ok "...within 3 s of the worker starting ($(python3 -c "print(round($T1 - $T0, 2))") s)" \
	python3 -c "import sys; sys.exit(0 if $T1 - $T0 < 3 else 1)"
t_ok "while the slow one has had at most two" test "$(recv_count slow)" -le 2

# a new event while the slow endpoint holds requests open
sleep 0.3
T2=$(date +%s.%N)
E=$(outbox_event product.created '{"id": 99}')
t_ok "a new event reaches the fast endpoint while the slow one is busy" wait_for 10 sh -c \
	"grep -q 'evt_$E' '$TEST_TMP/fast.log'"
T3=$(date +%s.%N)
t_ok "...within 1.5 s of its commit ($(python3 -c "print(round($T3 - $T2, 2))") s)" python3 -c "import sys; sys.exit(0 if $T3 - $T2 < 1.5 else 1)"
t_is "$(tpsql -c "SELECT status FROM webhook_deliveries WHERE webhook_id = $SLOW AND event_id = 'evt_$E'")" \
	"pending" "the slow endpoint's copy waits its turn (cap reached)"

t_ok "the slow endpoint gets all seven in the end" wait_for 30 sh -c \
	"[ \"\$(wc -l <'$TEST_TMP/slow.log')\" -ge 7 ]"
all_succeeded() { [ "$(tpsql -c "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")" = 14 ]; }
t_ok "every delivery succeeded" wait_for 10 all_succeeded
stop_worker

# the slow endpoint's requests came two at a time, 2 s apart
python3 - "$TEST_TMP/slow.log" >"$TEST_TMP/waves" <<'EOF'
import json, sys, datetime
t = []
for l in open(sys.argv[1]):
    s = json.loads(l)["received_at"]
    t.append(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp())
t.sort()
# with a cap of 2 and 2 s answers, request k (0-based) cannot arrive before
# about (k // 2) * 2 s after the first
late = [k for k in range(len(t)) if t[k] - t[0] < (k // 2) * 2.0 - 0.3]
print("ok" if not late else "too early: %s" % late)
EOF
t_is "$(cat "$TEST_TMP/waves")" ok "the slow endpoint never had more than two requests open"
t_like "$(cat "$TEST_TMP/worker.log")" "jobs taken inline" "the deliverer took new dispatch jobs itself"

t_done
