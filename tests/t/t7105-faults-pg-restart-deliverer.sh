#!/bin/sh
# A PostgreSQL restart under a webhook deliverer that is claiming: the
# worker's child connects again and deliveries go on.
# Regression (found by the soak, tests/soak/run, SOAK_SEED=2): the claim runs
# in libpq's pipeline mode; when the server went away mid-pipeline, libpq 15
# left the connection CONNECTION_OK but stuck in pipeline mode, the child
# kept it, and every later job it took failed its start with the stale
# "server closed the connection unexpectedly" until its lease expired: the
# webhook jobs went dead after their attempts and events were never
# delivered.
. "$(dirname "$0")/../lib/test-lib.sh"

# synchronous_commit=on: an immediate stop must not take back commits the
# worker saw succeed
own_servers pgdeliver on
. "$TEST_TOP/tests/lib/webhooks.sh"

# the first answer fails: the deliverer then lingers, claiming every 100 ms,
# for the retry due in 5 s
wh_config 'retry_schedule = 5s,1s,1s,1s,1s' 'disable_after_failures = 0' 'timeout = 2s'
start_recv r --script 500,200
add_endpoint "http://127.0.0.1:$RECV_PORT/r" -e '*'
delivered() {	# event id: its delivery succeeded
	[ "$(tpsql -c "SELECT status FROM webhook_deliveries WHERE event_id = 'evt_$1'")" = succeeded ]
}
start_worker -Q webhooks=1
E1=$(outbox_event product.updated '{"n": 1}')
t_ok "the first attempt is answered 500" wait_for 30 sh -c "[ \$(wc -l <'$TEST_TMP/r.log') -ge 1 ]"
t_ok "the deliverer lingers for its retry" wait_for 10 \
	grep -q "job whd-evt_$E1 (webhook.deliver) attempt" "$TEST_TMP/worker.log"

t_ok "PostgreSQL stopped (immediate) while the deliverer claims" pg_stop_own immediate
pg_start_own
# (a claim the restart cut off expires after the timeout and a 60 s margin)
t_ok "the retry is delivered after the restart" wait_for 90 delivered "$E1"
E2=$(outbox_event product.updated '{"n": 2}')
t_ok "a new event is delivered by the same worker" wait_for 60 delivered "$E2"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE state IN ('dead', 'failed')")" 0 "no job died"
t_like "$(cat "$TEST_TMP/worker.log")" "connection lost while claiming deliveries|the PostgreSQL connection is unusable|server closed" \
	"the log says the connection was lost"
stop_worker
t_done
