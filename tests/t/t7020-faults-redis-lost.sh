#!/bin/sh
# Redis loses data or goes back in time; PostgreSQL, the durable truth for
# jobs, wins (issue 10, fixes 2 and 3).
#  - Back in time (a failover to a lagging replica, a restart from an older
#    RDB/AOF): the jobs row has a newer version than Redis's job. Regression:
#    job_start answered STALE, the runner neither ran nor released the job,
#    and the lease was reaped as a failed attempt again and again until the
#    job died unrun. Now Redis's version is raised and the job runs.
#  - Data lost (FLUSHALL, a restart without persistence, a new empty
#    instance): every non-final row is queued again under its own id within a
#    reconciler period, with a warning saying how many; scheduled and
#    retrying rows keep their due time; relayed outbox events are dispatched
#    and delivered; the set of known queues is rebuilt. Regression: the
#    reconciler looked at running rows only, and only reported them.
# Only this test's keys are dropped (its own prefix): other tests share the
# Redis server.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"
. "$TEST_TOP/tests/lib/worker-lib.sh"
trap '_w_cleanup; _wh_cleanup' EXIT

P=$ACME_REDIS_PREFIX
rfield() { tredis HGET "${P}{$1}:job:$2" "$3"; }
lose_redis() {	# drop every key of this environment, as FLUSHALL would
	tredis --scan --pattern "${P}*" | while read -r k; do tredis DEL "$k" >/dev/null; done
}

# ---- Redis went back in time ----
job=$(enqueue noop '{"commit": "behind"}')
# the row saw ten transitions that Redis no longer remembers
tpsql -c "UPDATE jobs SET version = version + 10 WHERE id = '$job'"
rowv=$(job_col "$job" version)
start_worker w1 -Q default=1 --lease 2s
t_ok "the job runs and succeeds" wait_for 30 "[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(commits behind) $(job_col "$job" attempts)" "1 1" "once, on its first attempt"
t_ok "Redis's version was raised above the row's" \
	test "$(rfield default "$job" version)" -gt "$rowv"
t_like "$(cat "$TEST_TMP/w1.log")" "job $job: Redis is behind PostgreSQL .*went back in time" \
	"the worker says what happened"
stop_worker w1

# ---- Redis lost everything ----
start_recv hooks
add_endpoint "http://127.0.0.1:$RECV_PORT/hooks" -e 'product.created'
q1=$(enqueue noop '{"commit": "lost-1"}')
q2=$(enqueue noop '{"commit": "lost-2"}')
q3=$(enqueue noop '{"commit": "lost-3"}')
sched=$(enqueue noop '{"commit": "lost-sched"}' --delay 1h)
retry=$(enqueue noop '{"commit": "lost-retry"}')
# a row that was waiting to retry in ten minutes, attempt 1 used
tpsql -c "UPDATE jobs SET state = 'retrying', attempts = 1, version = version + 2,
	scheduled_at = now() + interval '10 minutes' WHERE id = '$retry'"
t_ok "a product is created (one outbox event)" acmectl products create --sku LOST-EVT --name Lost
# a worker serving no webhooks queue relays the event (a dispatch job is
# queued), then Redis loses everything before anything dispatched it
start_worker relay -Q import=1
t_ok "the event is relayed" wait_for 30 \
	"[ \$(tpsql -c 'SELECT count(*) FROM outbox WHERE relayed_at IS NOT NULL') = 1 ]"
stop_worker relay
evt=$(tpsql -c "SELECT id FROM jobs WHERE type = 'event.dispatch'")
t_is "$(job_col "$evt" state)" queued "its dispatch job waits in Redis"
lose_redis
t_is "$(tredis --scan --pattern "${P}*" | wc -l | tr -d ' ')" 0 "Redis has lost every key"

start_worker w2 -Q default=1,webhooks=1
start_worker w3 -Q default=1,webhooks=1
t_ok "the queued jobs are queued again and run" wait_for 90 \
	"[ \$(tpsql -c \"SELECT count(*) FROM jobs WHERE id IN ('$q1', '$q2', '$q3') AND state = 'succeeded'\") = 3 ]"
t_is "$(commits lost-1) $(commits lost-2) $(commits lost-3)" "1 1 1" \
	"each once, although two reconcilers raced to queue them"
t_ok "the relayed event is dispatched" wait_for 60 "[ \"\$(job_col $evt state)\" = succeeded ]"
t_ok "and its webhook is delivered" wait_for 60 "[ \"\$(recv_count hooks)\" -ge 1 ]"
t_is "$(python3 -c 'import base64, json, sys
r = json.loads(open(sys.argv[1]).readline())
b = json.loads(base64.b64decode(r["body_b64"]))
print(r["headers"]["webhook-id"], b["type"], b["data"]["sku"])' "$TEST_TMP/hooks.log")" \
	"evt_1 product.created LOST-EVT" "the delivery is the lost event, under its own id"
t_ok "signed with the endpoint's secret" python3 "$WHRECV" verify --log "$TEST_TMP/hooks.log" --secret "$WH_SECRET"
t_ok "the delayed job is scheduled again" wait_for 30 \
	"[ -n \"\$(tredis ZSCORE '${P}{default}:sched' $sched)\" ]"
t_is "$(job_col "$sched" state) $(rfield default "$sched" state) $(commits lost-sched)" \
	"scheduled scheduled 0" "for later, not run now"
due_ms=$(tpsql -c "SELECT (extract(epoch FROM scheduled_at) * 1000)::bigint FROM jobs WHERE id = '$sched'")
t_ok "with its due time (within a second)" test "$(( $(tredis ZSCORE "${P}{default}:sched" "$sched" | cut -d. -f1) - due_ms ))" -gt -1000
t_ok "the retrying job is scheduled again" wait_for 30 \
	"[ -n \"\$(tredis ZSCORE '${P}{default}:sched' $retry)\" ]"
t_is "$(rfield default "$retry" attempts) $(commits lost-retry)" "1 0" \
	"with the attempt it had used, waiting for its retry"
t_ok "the set of known queues is rebuilt" wait_for 30 \
	"tredis SISMEMBER '${P}queues' webhooks | grep -qx 1 && tredis SISMEMBER '${P}queues' default | grep -qx 1"
t_like "$(cat "$TEST_TMP/w2.log" "$TEST_TMP/w3.log")" \
	"reconciler: Redis had lost [0-9]+ waiting or running jobs? \\(e.g. [^)]*\\): queued again from the jobs table" \
	"a warning says how many and why"
n=$(cat "$TEST_TMP/w2.log" "$TEST_TMP/w3.log" | sed -n 's/.*Redis had lost \([0-9]*\) .*/\1/p' | awk '{ s += $1 } END { print s }')
t_is "$n" 6 "six jobs in all were queued again (three noop, scheduled, retrying, the dispatch)"
stop_worker w2
stop_worker w3

# ---- a running row Redis does not know is queued again too ----
tpsql -c "INSERT INTO jobs (id, type, state, version, payload, updated_at)
	VALUES ('ghost', 'noop', 'running', 5, '{\"commit\": \"ghost\"}', now() - interval '1 minute')"
start_worker w4 -Q default=1
t_ok "it runs and succeeds" wait_for 60 "[ \"\$(job_col ghost state)\" = succeeded ]"
t_is "$(commits ghost)" 1 "once"
stop_worker w4

t_done
