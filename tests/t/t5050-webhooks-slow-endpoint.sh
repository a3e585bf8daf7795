#!/bin/sh
# A slow endpoint does not delay a fast one: one worker child, one deliverer,
# a slow receiver (3 s per answer) and a fast one both subscribed to every
# event. The slow endpoint never has more than max_in_flight_per_endpoint
# requests open; the fast one gets every event at once, including events
# created while the slow endpoint still holds requests open.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

wh_config 'max_in_flight_per_endpoint = 2' 'timeout = 10s'
start_listen slow --delay 3s
add_endpoint "http://127.0.0.1:$RECV_PORT/slow" -e '*'
start_listen fast
add_endpoint "http://127.0.0.1:$RECV_PORT/fast" -e '*'

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
t_ok "...within 5 s of the worker starting ($(python3 -c "print(round($T1 - $T0, 2))") s)" \
	python3 -c "import sys; sys.exit(0 if $T1 - $T0 < 5 else 1)"

# a new event while the slow endpoint holds requests open
sleep 0.3
T2=$(date +%s.%N)
E=$(outbox_event product.created '{"id": 99}')
t_ok "a new event reaches the fast endpoint while the slow one is busy" wait_for 10 sh -c \
	"grep -q 'evt_$E' '$TEST_TMP/fast.log'"
T3=$(date +%s.%N)
t_ok "...within 2.5 s of its commit ($(python3 -c "print(round($T3 - $T2, 2))") s)" \
	python3 -c "import sys; sys.exit(0 if $T3 - $T2 < 2.5 else 1)"

t_ok "the slow endpoint gets all seven in the end" wait_for 30 sh -c \
	"[ \"\$(wc -l <'$TEST_TMP/slow.log')\" -ge 7 ]"
all_succeeded() { [ "$(tpsql -c "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")" = 14 ]; }
t_ok "every delivery succeeded" wait_for 10 all_succeeded
stop_worker

# When did each receiver see what? (the receivers' own clocks, so a loaded
# machine slows both sides alike)
cat >"$TEST_TMP/times.py" <<'EOF'
import datetime, json, sys
def times(path, event=None):
    t = []
    for l in open(path):
        r = json.loads(l)
        if event is None or r["webhook_id"] == event:
            t.append(datetime.datetime.strptime(r["received_at"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp())
    return sorted(t)
slow, fast = times(sys.argv[1]), times(sys.argv[2])
what = sys.argv[3]
if what == "burst":       # the fast endpoint had all six before the slow one's third request
    print("ok" if fast[5] < slow[2] else "fast 6th %.2f, slow 3rd %.2f" % (fast[5] - slow[0], slow[2] - slow[0]))
elif what == "new":       # the new event: fast at once, slow only once a slot was free
    e = sys.argv[4]
    f, s = times(sys.argv[2], e)[0], times(sys.argv[1], e)[0]
    print("ok" if f < s and s - slow[0] >= 3.0 - 0.3 else "fast %.2f, slow %.2f" % (f - slow[0], s - slow[0]))
else:                     # never more than two open: request k not before (k // 2) * 3 s
    late = [k for k in range(len(slow)) if slow[k] - slow[0] < (k // 2) * 3.0 - 0.3]
    print("ok" if not late else "too early: %s" % late)
EOF
t_is "$(python3 "$TEST_TMP/times.py" "$TEST_TMP/slow.log" "$TEST_TMP/fast.log" burst)" ok \
	"the fast endpoint had all six before the slow one's third request"
t_is "$(python3 "$TEST_TMP/times.py" "$TEST_TMP/slow.log" "$TEST_TMP/fast.log" new "evt_$E")" ok \
	"the new event reached the fast endpoint at once, the slow one only when a slot was free"
t_is "$(python3 "$TEST_TMP/times.py" "$TEST_TMP/slow.log" "$TEST_TMP/fast.log" cap)" ok \
	"the slow endpoint never had more than two requests open"
t_like "$(cat "$TEST_TMP/worker.log")" "jobs taken inline" "the deliverer took new dispatch jobs itself"

t_done
