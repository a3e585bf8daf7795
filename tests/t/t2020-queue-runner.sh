#!/bin/sh
# The job runner and the noop type (through `acmectl __queue run`), blocking
# dequeue and its wake-ups, cancelling a job while it runs, heartbeats that
# outlast the lease, and what job_start() does with a row that finished, moved
# on, or does not exist.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

K="${ACME_REDIS_PREFIX}{default}:"
pg() { tpsql -c "$1"; }
row() { pg "SELECT state || ' ' || attempts FROM jobs WHERE id = '$1'"; }
jget() {
	printf '%s' "$1" | python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print("" if v is None else json.dumps(v) if isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool) else v)' "$2"
}
now_ms() { date +%s%3N; }
# wait_for SQL WANT — poll the database for up to 5 s
wait_for() {
	_i=0
	while [ "$(pg "$1")" != "$2" ] && [ $_i -lt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
}

# ---- noop: sleep, progress, result ------------------------------------------------------------
acmectl jobs enqueue noop --id n1 --payload '{"sleep_ms": 60, "progress_steps": 3}' >/dev/null
t_ok "run one noop job" acmectl __queue run --max 1
t_json "$OUT" "d['state'] == 'succeeded' and d['result'] == {'slept_ms': 60, 'progress_steps': 3, 'attempt': 1} \
and d['progress'] == {'step': 3, 'steps': 3}" "noop sleeps, reports progress and a result"
t_like "$ERR" "ran 1 job" "run says how many it ran"
t_is "$(row n1)" "succeeded 1" "row: succeeded"
t_is "$(pg "SELECT result->>'slept_ms' || ' ' || (progress->>'steps') FROM jobs WHERE id = 'n1'")" "60 3" \
	"row: result and progress"

acmectl jobs enqueue noop --id n2 --payload '{"fail_times": 1}' >/dev/null
t_ok "run a job that fails once" acmectl __queue run
t_is "$(jget "$OUT" state)" "retrying" "the first attempt fails and is retried"
t_like "$(jget "$OUT" error)" "noop: failing as asked \(attempt 1 of the first 1\)" "with the handler's error"
sleep 0.15
acmectl __queue promote >/dev/null
t_ok "run it again" acmectl __queue run
t_is "$(jget "$OUT" state) $(jget "$OUT" attempts)" "succeeded 2" "the second attempt succeeds"
t_is "$(row n2)" "succeeded 2" "row: succeeded after 2 attempts"

acmectl jobs enqueue noop --id n3 --payload '{"fail": true}' --max-attempts 2 >/dev/null
acmectl __queue run >/dev/null 2>&1
sleep 0.15
acmectl __queue promote >/dev/null
t_ok "run a job that always fails" acmectl __queue run
t_is "$(jget "$OUT" state)" "dead" "it is dead after its attempts"
t_is "$(pg "SELECT state || ': ' || error FROM jobs WHERE id = 'n3'")" \
	'dead: noop: failing as asked ("fail": true)' "row: dead with the error kept"

acmectl jobs enqueue noop --id n4 --payload '{"sleep": 5}' >/dev/null
t_ok "run a job with a bad payload" acmectl __queue run
t_is "$(jget "$OUT" state) $(jget "$OUT" attempts)" "failed 1" "bad input fails at once, no retry"
t_like "$(jget "$OUT" error)" 'unknown payload key "sleep"' "the error names the key"
acmectl jobs enqueue noop --id n5 --payload '{"sleep_ms": "ten"}' >/dev/null
t_ok "run a job with a mistyped payload" acmectl __queue run
t_like "$(jget "$OUT" state) $(jget "$OUT" error)" 'failed noop: payload "sleep_ms" must be a whole number' \
	"a mistyped value fails at once"

acmectl jobs enqueue noop --id n6 >/dev/null
tredis HSET "${K}job:n6" type bogus >/dev/null
t_ok "run a job of an unknown type" acmectl __queue run
t_like "$(jget "$OUT" state) $(jget "$OUT" error)" 'failed unknown job type "bogus"' \
	"an unknown type fails at once"

# ---- heartbeats outlast the lease ------------------------------------------------------------------
acmectl jobs enqueue noop --id hb --payload '{"sleep_ms": 1500}' >/dev/null
"$ACMECTL" __queue run --max 1 --lease 300ms > "$TEST_TMP/hb.out" 2> "$TEST_TMP/hb.err" &
runner=$!
for _ in 1 2 3 4 5 6 7 8; do acmectl __queue reap >/dev/null; sleep 0.2; done
wait $runner
t_is "$(jget "$(cat "$TEST_TMP/hb.out")" state)" "succeeded" \
	"a 1.5 s job with a 0.3 s lease succeeds: the runner heartbeats"
t_is "$(row hb)" "succeeded 1" "in one attempt, the reaper running all along"

# ---- cancel while it runs --------------------------------------------------------------------------
acmectl jobs enqueue noop --id cr --payload '{"sleep_ms": 8000}' >/dev/null
start=$(now_ms)
"$ACMECTL" __queue run --max 1 --lease 600ms > "$TEST_TMP/cr.out" 2> "$TEST_TMP/cr.err" &
runner=$!
wait_for "SELECT state FROM jobs WHERE id = 'cr'" running
t_ok "cancel the running job" acmectl jobs cancel cr
wait $runner
took=$(( $(now_ms) - start ))
t_is "$(row cr)" "cancelled 1" "the runner saw the cancel at a heartbeat and stopped"
t_is "$((took < 4000))" 1 "well before its 8 s sleep ($took ms)"
t_like "$(pg "SELECT error FROM jobs WHERE id = 'cr'")" "cancelled on request" "the row says why"

# ---- blocking dequeue --------------------------------------------------------------------------------
start=$(now_ms)
t_exit 3 "a wait on an empty queue times out" acmectl __queue dequeue --wait 400ms
took=$(( $(now_ms) - start ))
t_is "$((took >= 400 && took < 3000))" 1 "after the wait ($took ms)"

"$ACMECTL" __queue dequeue --wait 10s --lease 30s > "$TEST_TMP/w1.out" 2> "$TEST_TMP/w1.err" &
w1=$!
sleep 0.5
start=$(now_ms)
acmectl jobs enqueue noop --id wake1 >/dev/null
wait $w1
took=$(( $(now_ms) - start ))
t_is "$(jget "$(cat "$TEST_TMP/w1.out")" id)" "wake1" "a waiting worker gets the job enqueued meanwhile"
t_is "$((took < 1000))" 1 "at once, not at its next poll ($took ms after enqueue returned)"

"$ACMECTL" __queue dequeue --wait 10s --lease 30s > "$TEST_TMP/w2.out" 2> "$TEST_TMP/w2.err" &
w2=$!
"$ACMECTL" __queue dequeue --wait 10s --lease 30s > "$TEST_TMP/w3.out" 2> "$TEST_TMP/w3.err" &
w3=$!
sleep 0.5
start=$(now_ms)
acmectl jobs enqueue noop --id wake2 >/dev/null
acmectl jobs enqueue noop --id wake3 >/dev/null
wait $w2
wait $w3
took=$(( $(now_ms) - start ))
got="$(jget "$(cat "$TEST_TMP/w2.out")" id) $(jget "$(cat "$TEST_TMP/w3.out")" id)"
t_like "$got" '^(wake2 wake3|wake3 wake2)$' "two waiting workers get one job each"
t_is "$((took < 1500))" 1 "both at once ($took ms)"

acmectl jobs enqueue noop --id low1 --queue low >/dev/null
acmectl jobs enqueue noop --id high1 --queue high >/dev/null
t_ok "dequeue from two queues" acmectl __queue dequeue --queue high --queue low
t_is "$(jget "$OUT" id)" "high1" "the first queue named comes first"
t_ok "and again" acmectl __queue dequeue --queue high --queue low
t_is "$(jget "$OUT" id)" "low1" "then the next"

# ---- job_start: finished, stale, no row -------------------------------------------------------------
acmectl jobs enqueue noop --id fin >/dev/null
t_ok "dequeue" acmectl __queue dequeue --lease 30s
A=$(jget "$OUT" token)
# the attempt commits its effects and marks the row succeeded, then dies before acking
pg "UPDATE jobs SET state = 'succeeded', finished_at = now(), lease_token = NULL,
	result = '{\"committed\": true}' WHERE id = 'fin'"
acmectl __queue heartbeat fin "$A" --lease 50ms >/dev/null
sleep 0.2
acmectl __queue reap >/dev/null
t_is "$(tredis HGET "${K}job:fin" state)" "retrying" "redis retries the job whose ack was lost"
t_is "$(row fin)" "succeeded 1" "the finished row is not moved back by the mirror"
sleep 0.15
acmectl __queue promote >/dev/null
t_ok "run it" acmectl __queue run --max 1
t_is "$(tredis HGET "${K}job:fin" state)" "succeeded" "the runner acks it without running it again"
t_is "$(pg "SELECT state || ' ' || attempts || ' ' || (result->>'committed') FROM jobs WHERE id = 'fin'")" \
	"succeeded 1 true" "row: the committed attempt's result stays"

acmectl jobs enqueue noop --id stale >/dev/null
pg "UPDATE jobs SET version = 50 WHERE id = 'stale'"
t_ok "dequeue a job whose row is newer" acmectl __queue dequeue --lease 30s
t_is "$(jget "$OUT" start)" "stale" "job_start says the lease is stale"
t_is "$(pg "SELECT state FROM jobs WHERE id = 'stale'")" "queued" "and leaves the row alone"

acmectl jobs enqueue noop --id norow >/dev/null
pg "DELETE FROM jobs WHERE id = 'norow'"
t_ok "dequeue a job without a row" acmectl __queue dequeue --lease 30s
t_is "$(jget "$OUT" start)" "no_row" "job_start says there is no row"

t_done
