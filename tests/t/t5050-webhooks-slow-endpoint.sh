#!/bin/sh
# A slow endpoint does not delay a fast one: one worker child, one deliverer,
# a slow receiver and a fast one both subscribed to every event. The slow
# endpoint never has more than max_in_flight_per_endpoint requests open; the
# fast one gets every event while the slow one still holds its requests,
# including events created meanwhile.
#
# The slow receiver answers nothing until the test creates a file (whrecv.py
# --hold-file), so "while the slow endpoint holds its requests" is a state the
# test controls, not a window of time: no check here reads a clock. The
# request timeout (120 s) is longer than every wait, so a deliverer that
# queued the fast endpoint behind the slow one fails the waits instead of
# being rescued by the slow requests timing out.
# Regression: this test used to time the deliveries (all six within 5 s, the
# new event within 2.5 s) and failed on a loaded machine.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

wh_config 'max_in_flight_per_endpoint = 2' 'timeout = 120s'
start_recv slow --hold-file "$TEST_TMP/release"
add_endpoint "http://127.0.0.1:$RECV_PORT/slow" -e '*'
start_listen fast
add_endpoint "http://127.0.0.1:$RECV_PORT/fast" -e '*'

# seen NAME EVENT_ID: how many requests NAME logged for that event (the
# listener logs webhook_id, whrecv.py the headers)
seen() {
	python3 -c 'import json, sys
n = 0
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("webhook_id", r.get("headers", {}).get("webhook-id")) == "evt_" + sys.argv[2]:
        n += 1
print(n)' "$TEST_TMP/$1.log" "$2"
}
at_least() { [ "$(recv_count "$1")" -ge "$2" ]; }
got() { [ "$(seen "$1" "$2")" -ge 1 ]; }

i=1
while [ $i -le 6 ]; do
	outbox_event product.updated "{\"id\": $i}" >/dev/null
	i=$((i + 1))
done

start_worker --concurrency 1
t_ok "the slow endpoint gets two requests and holds them" wait_for 60 at_least slow 2
t_ok "the fast endpoint gets all six events meanwhile" wait_for 60 at_least fast 6
t_is "$(recv_count slow)" 2 "the slow endpoint still has only its two (max_in_flight_per_endpoint)"

# a new event while the slow endpoint holds requests open
E=$(outbox_event product.created '{"id": 99}')
t_ok "a new event reaches the fast endpoint while the slow one is busy" wait_for 60 got fast "$E"
t_is "$(seen fast "$E")" 1 "once"
t_is "$(seen slow "$E") $(recv_count slow)" "0 2" "the slow endpoint has not got it: its two slots are still taken"

touch "$TEST_TMP/release"
t_ok "the slow endpoint gets all seven once it answers" wait_for 60 at_least slow 7
t_is "$(seen slow "$E")" 1 "the new event among them, once"
all_succeeded() { [ "$(tpsql -c "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")" = 14 ]; }
t_ok "every delivery succeeded" wait_for 30 all_succeeded
stop_worker

t_is "$(python3 -c 'import json, sys; print(max(json.loads(l)["open"] for l in open(sys.argv[1])))' "$TEST_TMP/slow.log")" 2 \
	"the slow endpoint never had more than two requests open"
t_like "$(cat "$TEST_TMP/worker.log")" "jobs taken inline" "the deliverer took new dispatch jobs itself"

t_done
