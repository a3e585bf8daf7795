#!/bin/sh
# The job runner and the noop type (through `acme_queue run`), blocking
# dequeue and its wake-ups, cancelling a job while it runs, heartbeats that
# outlast the lease, and what job_start() does with a row that finished, moved
# on, or does not exist; and the queue bench refusing a bad BENCH_REPEAT.
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
# wait_for SQL WANT — poll the database for up to 30 s
wait_for() {
	_i=0
	while [ "$(pg "$1")" != "$2" ] && [ $_i -lt 600 ]; do sleep 0.05; _i=$((_i + 1)); done
}
due() { tredis ZSCORE "${K}sched" "$1"; }

# ---- noop: sleep, progress, result ------------------------------------------------------------
acmectl jobs enqueue noop --id n1 --payload '{"sleep_ms": 60, "progress_steps": 3}' >/dev/null
t_ok "run one noop job" acme_queue run --max 1
t_json "$OUT" "d['state'] == 'succeeded' and d['result'] == {'slept_ms': 60, 'progress_steps': 3, 'attempt': 1} \
and d['progress'] == {'step': 3, 'steps': 3}" "noop sleeps, reports progress and a result"
t_like "$ERR" "ran 1 job" "run says how many it ran"
t_is "$(row n1)" "succeeded 1" "row: succeeded"
t_is "$(pg "SELECT result->>'slept_ms' || ' ' || (progress->>'steps') FROM jobs WHERE id = 'n1'")" "60 3" \
	"row: result and progress"

acmectl jobs enqueue noop --id n2 --payload '{"fail_times": 1}' >/dev/null
t_ok "run a job that fails once" acme_queue run
t_is "$(jget "$OUT" state)" "retrying" "the first attempt fails and is retried"
t_like "$(jget "$OUT" error)" "noop: failing as asked \(attempt 1 of the first 1\)" "with the handler's error"
wait_past "$(due n2)"
acme_queue promote >/dev/null
t_ok "run it again" acme_queue run
t_is "$(jget "$OUT" state) $(jget "$OUT" attempts)" "succeeded 2" "the second attempt succeeds"
t_is "$(row n2)" "succeeded 2" "row: succeeded after 2 attempts"

acmectl jobs enqueue noop --id n3 --payload '{"fail": true}' --max-attempts 2 >/dev/null
acme_queue run >/dev/null 2>&1
wait_past "$(due n3)"
acme_queue promote >/dev/null
t_ok "run a job that always fails" acme_queue run
t_is "$(jget "$OUT" state)" "dead" "it is dead after its attempts"
t_is "$(pg "SELECT state || ': ' || error FROM jobs WHERE id = 'n3'")" \
	'dead: noop: failing as asked ("fail": true)' "row: dead with the error kept"

acmectl jobs enqueue noop --id n4 --payload '{"sleep": 5}' >/dev/null
t_ok "run a job with a bad payload" acme_queue run
t_is "$(jget "$OUT" state) $(jget "$OUT" attempts)" "failed 1" "bad input fails at once, no retry"
t_like "$(jget "$OUT" error)" 'unknown payload key "sleep"' "the error names the key"
acmectl jobs enqueue noop --id n5 --payload '{"sleep_ms": "ten"}' >/dev/null
t_ok "run a job with a mistyped payload" acme_queue run
t_like "$(jget "$OUT" state) $(jget "$OUT" error)" 'failed noop: payload "sleep_ms" must be a whole number' \
	"a mistyped value fails at once"

acmectl jobs enqueue noop --id n6 >/dev/null
tredis HSET "${K}job:n6" type bogus >/dev/null
t_ok "run a job of an unknown type" acme_queue run
t_like "$(jget "$OUT" state) $(jget "$OUT" error)" 'failed unknown job type "bogus"' \
	"an unknown type fails at once"

# ---- heartbeats outlast the lease ------------------------------------------------------------------
# A 7 s job on a 3 s lease, the reaper running all along. The runner renews
# after a third of the lease, so only a stall of 2 s could cost it the lease
# (the 0.3 s lease this used to have made a busy machine fail it). What is
# checked is an order on the Redis clock: the reaper ran after the job's
# first deadline had passed, while the job still ran, and did not take it.
acmectl jobs enqueue noop --id hb --payload '{"sleep_ms": 7000}' >/dev/null
"$ACME_HELPERS/acme-queue" run --max 1 --lease 3s > "$TEST_TMP/hb.out" 2> "$TEST_TMP/hb.err" &
runner=$!
wait_for "SELECT state FROM jobs WHERE id = 'hb'" running
first=$(( $(tredis HGET "${K}job:hb" started_ms) + 3000 ))
past=0 last=0 i=0
while _t_alive "$runner" && [ $i -lt 600 ]; do
	before=$(redis_now_ms)
	acme_queue reap >/dev/null
	dl=$(tredis HGET "${K}job:hb" deadline_ms)
	if [ "$(tredis HGET "${K}job:hb" state)" = running ] && [ -n "$dl" ]; then
		last=$dl
		[ "$before" -gt "$first" ] && past=1
	fi
	sleep 0.1
	i=$((i + 1))
done
wait_pid "$runner" 60
t_is "$(jget "$(cat "$TEST_TMP/hb.out")" state)" "succeeded" \
	"a 7 s job with a 3 s lease succeeds: the runner heartbeats"
t_is "$(row hb)" "succeeded 1" "in one attempt, the reaper running all along"
t_is "$past" 1 "the reaper ran past the first deadline while the job ran, and left it alone"
t_is "$((last > first))" 1 "the heartbeats moved the deadline on ($last > $first)"

# ---- cancel while it runs --------------------------------------------------------------------------
# the job would sleep an hour: the runner ending at all (within the 60 s
# bound) shows it stopped at a heartbeat, not at the end of the job
acmectl jobs enqueue noop --id cr --payload '{"sleep_ms": 3600000}' >/dev/null
"$ACME_HELPERS/acme-queue" run --max 1 --lease 600ms > "$TEST_TMP/cr.out" 2> "$TEST_TMP/cr.err" &
runner=$!
wait_for "SELECT state FROM jobs WHERE id = 'cr'" running
t_ok "cancel the running job" acmectl jobs cancel cr
wait_pid "$runner" 60
runner_rc=$?
t_is "$((runner_rc != 124))" 1 "the runner stopped long before its hour-long sleep"
t_is "$(row cr)" "cancelled 1" "the runner saw the cancel at a heartbeat and stopped"
t_like "$(pg "SELECT error FROM jobs WHERE id = 'cr'")" "cancelled on request" "the row says why"

# ---- blocking dequeue --------------------------------------------------------------------------------
# Only the lower bound is timed (a wait cannot end early however loaded the
# machine is); the 60 s bound turns a wait that never ends into a failure.
start=$(now_ms)
t_exit 3 "a wait on an empty queue times out" timeout --foreground 60 "$ACME_HELPERS/acme-queue" dequeue --wait 400ms
took=$(( $(now_ms) - start ))
t_is "$((took >= 400))" 1 "after the wait ($took ms)"

# The wake-ups run on a private Redis, whose only BRPOP clients are this
# test's waiters. A waiter blocks for at most a second at a time (then looks
# at the queue and blocks again), so "it is blocked right now" is a moment,
# not a state; the checks use states instead: a paused queue hands out
# nothing and sends no signal, so a waiter started while it is paused is
# certainly waiting, however slow the machine, until the queue resumes. How a
# waiter is woken is checked on the wake list (the signal an enqueue pushes,
# the list a waiter blocks on), not on a clock; how fast is a figure of
# `make bench` (tests/bench/queue.sh, wake-up latency).
WR=$TEST_TMP/wake
mkdir -p "$WR"
redis-server --port 0 --unixsocket "$WR/redis.sock" --unixsocketperm 700 --daemonize yes \
	--pidfile "$WR/redis.pid" --logfile "$WR/redis.log" --dir "$WR" --save '' --appendonly no >/dev/null
trap 'kill "$(cat "$WR/redis.pid" 2>/dev/null)" 2>/dev/null; _t_cleanup' EXIT
wredis() { redis-cli -s "$WR/redis.sock" "$@"; }
i=0; until wredis PING >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
wq() { REDIS_URL="unix://$WR/redis.sock" "$ACMECTL" "$@"; }
wqd() { REDIS_URL="unix://$WR/redis.sock" "$ACME_HELPERS/acme-queue" "$@"; }
W="${K}wake"
# signals_taken: until the wake list is empty again (a waiter popped it), 30 s
signals_taken() {
	_st_i=0
	while [ "$(wredis LLEN "$W")" != 0 ] && [ $_st_i -lt 300 ]; do sleep 0.1; _st_i=$((_st_i + 1)); done
	[ "$(wredis LLEN "$W")" = 0 ]
}
# waiters N: until N distinct clients have been seen in BRPOP (over several
# looks: each leaves BRPOP for a moment every second), at most 300 looks
waiters() {
	: >"$TEST_TMP/brpop.ids"
	_wt_i=0
	while [ $_wt_i -lt 300 ]; do
		wredis CLIENT LIST | tr -d '\r' | sed -n 's/^id=\([0-9]*\) .* cmd=brpop .*/\1/p' >>"$TEST_TMP/brpop.ids"
		[ "$(sort -u "$TEST_TMP/brpop.ids" | wc -l)" -ge "$1" ] && return 0
		sleep 0.1
		_wt_i=$((_wt_i + 1))
	done
	return 1
}

wq jobs enqueue noop --id sig1 >/dev/null
t_is "$(wredis LLEN "$W")" 1 "an enqueue with nobody waiting leaves one signal on the wake list"
wqd dequeue --lease 30s >/dev/null
wredis DEL "$W" >/dev/null

wq jobs pause default 2>/dev/null
wqd dequeue --wait 60s --lease 30s > "$TEST_TMP/w1.out" 2> "$TEST_TMP/w1.err" &
w1=$!
wq jobs enqueue noop --id wake1 >/dev/null
t_is "$(wredis LLEN "$W")" 0 "a paused queue signals nobody"
wredis LPUSH "$W" 1 >/dev/null
t_ok "a waiter takes the signal from the wake list: an enqueue's signal wakes it at once" signals_taken
t_ok "the paused queue gave it nothing" _t_alive "$w1"
wq jobs resume default 2>/dev/null
wait_pid "$w1" 60
t_is "$(jget "$(cat "$TEST_TMP/w1.out")" id)" "wake1" "a waiting worker gets the job enqueued meanwhile"

# a dequeue that leaves jobs behind signals the next waiter, so two jobs
# under one signal (enqueued while paused: the resume signals once) reach two
# waiters
wredis DEL "$W" >/dev/null
wq jobs pause default 2>/dev/null
wq jobs enqueue noop --id chain1 >/dev/null
wq jobs enqueue noop --id chain2 >/dev/null
wq jobs resume default 2>/dev/null
t_is "$(wredis LLEN "$W")" 1 "resuming a queue with waiting jobs signals once"
wredis DEL "$W" >/dev/null
wqd dequeue --lease 30s >/dev/null
t_is "$(wredis LLEN "$W")" 1 "taking a job while another waits signals the next waiter"
wqd dequeue --lease 30s >/dev/null
wredis DEL "$W" >/dev/null

wq jobs pause default 2>/dev/null
wqd dequeue --wait 60s --lease 30s > "$TEST_TMP/w2.out" 2> "$TEST_TMP/w2.err" &
w2=$!
wqd dequeue --wait 60s --lease 30s > "$TEST_TMP/w3.out" 2> "$TEST_TMP/w3.err" &
w3=$!
t_ok "two waiters wait on the paused queue" waiters 2
wq jobs enqueue noop --id wake2 >/dev/null
wq jobs enqueue noop --id wake3 >/dev/null
wq jobs resume default 2>/dev/null
wait_pid "$w2" 60
wait_pid "$w3" 60
got="$(jget "$(cat "$TEST_TMP/w2.out")" id) $(jget "$(cat "$TEST_TMP/w3.out")" id)"
t_like "$got" '^(wake2 wake3|wake3 wake2)$' "two waiting workers get one job each from one signal"

acmectl jobs enqueue noop --id low1 --queue low >/dev/null
acmectl jobs enqueue noop --id high1 --queue high >/dev/null
t_ok "dequeue from two queues" acme_queue dequeue --queue high --queue low
t_is "$(jget "$OUT" id)" "high1" "the first queue named comes first"
t_ok "and again" acme_queue dequeue --queue high --queue low
t_is "$(jget "$OUT" id)" "low1" "then the next"

# ---- job_start: finished, stale, no row -------------------------------------------------------------
acmectl jobs enqueue noop --id fin >/dev/null
t_ok "dequeue" acme_queue dequeue --lease 30s
A=$(jget "$OUT" token)
# the attempt commits its effects and marks the row succeeded, then dies before acking
pg "UPDATE jobs SET state = 'succeeded', finished_at = now(), lease_token = NULL,
	result = '{\"committed\": true}' WHERE id = 'fin'"
acme_queue heartbeat fin "$A" --lease 50ms >/dev/null
wait_past "$(tredis HGET "${K}job:fin" deadline_ms)"
acme_queue reap >/dev/null
t_is "$(tredis HGET "${K}job:fin" state)" "retrying" "redis retries the job whose ack was lost"
t_is "$(row fin)" "succeeded 1" "the finished row is not moved back by the mirror"
wait_past "$(due fin)"
acme_queue promote >/dev/null
t_ok "run it" acme_queue run --max 1
t_is "$(tredis HGET "${K}job:fin" state)" "succeeded" "the runner acks it without running it again"
t_is "$(pg "SELECT state || ' ' || attempts || ' ' || (result->>'committed') FROM jobs WHERE id = 'fin'")" \
	"succeeded 1 true" "row: the committed attempt's result stays"

acmectl jobs enqueue noop --id stale >/dev/null
pg "UPDATE jobs SET version = 50 WHERE id = 'stale'"
t_ok "dequeue a job whose row is newer" acme_queue dequeue --lease 30s
t_is "$(jget "$OUT" start)" "stale" "job_start says the lease is stale"
t_is "$(pg "SELECT state FROM jobs WHERE id = 'stale'")" "queued" "and leaves the row alone"

acmectl jobs enqueue noop --id norow >/dev/null
pg "DELETE FROM jobs WHERE id = 'norow'"
t_ok "dequeue a job without a row" acme_queue dequeue --lease 30s
t_is "$(jget "$OUT" start)" "no_row" "job_start says there is no row"

# ---- the queue bench's rounds (BENCH_REPEAT) are checked before anything runs ----
for bad in abc 0 -2; do
	t_exit 64 "the queue bench refuses BENCH_REPEAT=$bad" env BENCH_REPEAT="$bad" \
		sh "$TEST_TOP/tests/bench/queue.sh"
	t_like "$ERR" "BENCH_REPEAT=$bad: expected a whole number of rounds" "and says why ($bad)"
done

t_done
