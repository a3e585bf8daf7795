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

SRV=$TEST_TMP/srv
sh "$TEST_TOP/tests/lib/servers.sh" start "$SRV" >&2 || { echo "Bail out! cannot start private servers"; exit 1; }
_t_own_servers=$SRV      # stopped at exit by test-lib
# shellcheck disable=SC1091
. "$SRV/env"
export DATABASE_URL="postgresql:///acme_template?host=$TEST_PG_HOST&user=acme"
export REDIS_URL="unix://$TEST_REDIS_SOCK"
export ACME_REDIS_PREFIX="t:pgdeliver:"
# shellcheck disable=SC2034 # read by tpsql (test-lib.sh)
TEST_DB=acme_template
. "$TEST_TOP/tests/lib/webhooks.sh"

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# the options of tests/lib/servers.sh but synchronous_commit=on: an immediate
# stop must not take back commits the worker saw succeed
start_pg() {
	as_pg "$TEST_PG_BIN/pg_ctl" -D "$SRV/pg/data" -l "$SRV/pg/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$SRV/pg' -c fsync=off \
		    -c synchronous_commit=on -c full_page_writes=off -c max_connections=200 \
		    -c shared_buffers=128MB" start >/dev/null
	head -n 1 "$SRV/pg/data/postmaster.pid" >"$SRV/pg.pid"
}
as_pg "$TEST_PG_BIN/pg_ctl" -D "$SRV/pg/data" -w -t 60 -m fast stop >/dev/null
start_pg

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

as_pg "$TEST_PG_BIN/pg_ctl" -D "$SRV/pg/data" -w -t 60 -m immediate stop >/dev/null
t_ok "PostgreSQL stopped (immediate) while the deliverer claims" test -n "$(cat "$SRV/pg.pid")"
start_pg
# (a claim the restart cut off expires after the timeout and a 60 s margin)
t_ok "the retry is delivered after the restart" wait_for 90 delivered "$E1"
E2=$(outbox_event product.updated '{"n": 2}')
t_ok "a new event is delivered by the same worker" wait_for 60 delivered "$E2"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE state IN ('dead', 'failed')")" 0 "no job died"
t_like "$(cat "$TEST_TMP/worker.log")" "connection lost while claiming deliveries|the PostgreSQL connection is unusable|server closed" \
	"the log says the connection was lost"
stop_worker
t_done
