#!/bin/sh
# Every transition of the Redis job queue, driven one step at a time through
# the queue driver `acme-queue` (tests/helpers) against real Redis and PostgreSQL:
# idempotent enqueue, dequeue, heartbeat, progress, ack, fail with backoff
# then dead, permanent failure, reaping with fencing, delayed jobs and
# promotion, cancel in every state, release, pause/resume, purge; and the
# PostgreSQL row following each step.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

K="${ACME_REDIS_PREFIX}{default}:"

# jget JSON PATH — one field of a JSON document ("a.b" for nesting)
jget() {
	printf '%s' "$1" | python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print("" if v is None else json.dumps(v) if isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool) else v)' "$2"
}
pg() { tpsql -c "$1"; }
row() { pg "SELECT state || ' ' || attempts || ' ' || coalesce(lease_token, '-') FROM jobs WHERE id = '$1'"; }
# dq [ARGS] — dequeue; sets ID, TOK
dq() {
	_t_run acme_queue dequeue "$@"
	ID=$(jget "$OUT" id)
	TOK=$(jget "$OUT" token)
}

# ---- enqueue: idempotent by id ------------------------------------------------------------
t_ok "enqueue with an id" acmectl jobs enqueue noop --id e1 --payload '{"sleep_ms": 1}'
t_is "$OUT" "e1" "enqueue prints the id"
t_ok "enqueue the same id again" acmectl jobs enqueue noop --id e1 --payload '{"sleep_ms": 999}'
t_like "$ERR" "job e1 exists already \(queued\); not enqueued again" "second enqueue says it exists"
t_is "$(tredis LLEN "${K}ready")" "1" "the id is in the ready list once"
t_is "$(pg "SELECT count(*) || ' ' || (payload->>'sleep_ms') FROM jobs WHERE id = 'e1' GROUP BY payload")" \
	"1 1" "one row, with the first payload"
t_is "$(tredis HGET "${K}job:e1" payload)" '{"sleep_ms": 1}' "redis keeps the first payload"
t_is "$(row e1)" "queued 0 -" "row: queued, no attempts, no lease"
t_ok "enqueue without an id" acmectl jobs enqueue noop
t_like "$OUT" '^[0-9A-HJKMNP-TV-Z]{26}$' "a generated id is a ULID"
gen=$OUT

# ---- dequeue, heartbeat, ack ------------------------------------------------------------------
t_ok "dequeue takes a job" acme_queue dequeue --lease 30s --worker w1
ID=$(jget "$OUT" id)
TOK=$(jget "$OUT" token)
t_is "$ID" "e1" "jobs come out in order (FIFO)"
t_like "$TOK" '^[0-9a-f]{32}$' "the lease token is 128 bits of hex"
t_is "$(jget "$OUT" state) $(jget "$OUT" attempts) $(jget "$OUT" start)" "running 1 ok" \
	"dequeued: running, attempt 1, recorded in postgresql"
t_is "$(row e1)" "running 1 $TOK" "row: running with the lease token"
t_like "$(tredis ZSCORE "${K}active" e1)" '^[0-9]+$' "the lease is in the active set"

dl1=$(tredis HGET "${K}job:e1" deadline_ms)
t_ok "heartbeat with the token" acme_queue heartbeat e1 "$TOK" --lease 60s
t_is "$(jget "$OUT" outcome)" "extended" "heartbeat extends the lease"
dl2=$(tredis HGET "${K}job:e1" deadline_ms)
t_is "$((dl2 > dl1 + 29000))" 1 "the deadline moved forward by the new lease"
t_exit 4 "heartbeat with another token is refused" \
	acme_queue heartbeat e1 0123456789abcdef0123456789abcdef
t_like "$ERR" "lease lost" "the refusal says the lease is lost"

t_exit 4 "ack with a wrong token is refused" acme_queue ack e1 0123456789abcdef0123456789abcdef
t_is "$(tredis HGET "${K}job:e1" state)" "running" "a refused ack changes nothing"
t_ok "ack with the token" acme_queue ack e1 "$TOK" --result '{"rows": 3}'
t_is "$(jget "$OUT" state)" "succeeded" "acked: succeeded"
t_is "$(row e1)" "succeeded 1 -" "row: succeeded, lease cleared"
t_is "$(pg "SELECT result->>'rows' FROM jobs WHERE id = 'e1'")" "3" "row keeps the result"
t_is "$(pg "SELECT finished_at IS NOT NULL AND started_at IS NOT NULL FROM jobs WHERE id = 'e1'")" \
	"t" "row has start and finish times"
t_is "$(tredis ZSCORE "${K}active" e1)" "" "the lease is gone from the active set"
ttl=$(tredis PTTL "${K}job:e1")
t_is "$((ttl > 0))" 1 "a finished job's hash expires (postgresql keeps the history)"
t_exit 4 "acking twice is refused" acme_queue ack e1 "$TOK"

# ---- progress (stored, published, saved) ------------------------------------------------------
dq --lease 30s
t_is "$ID" "$gen" "the next job comes out"
chan="${ACME_REDIS_PREFIX}events:job:$gen"
# redis-cli itself in the background (not through a function, so $! is its
# pid), bounded by timeout in case the test dies first
timeout 20 redis-cli -s "$TEST_REDIS_SOCK" SUBSCRIBE "$chan" > "$TEST_TMP/events" 2>&1 </dev/null &
sub=$!
i=0; while [ "$(tredis PUBSUB NUMSUB "$chan" | tail -n 1)" != 1 ] && [ $i -lt 50 ]; do sleep 0.05; i=$((i+1)); done
t_ok "progress with the token" acme_queue progress "$gen" "$TOK" '{"rows": 10, "phase": "copy"}'
t_is "$(tredis HGET "${K}job:$gen" progress)" '{"rows": 10, "phase": "copy"}' "redis holds the progress"
t_is "$(pg "SELECT progress->>'phase' FROM jobs WHERE id = '$gen'")" "copy" "the row holds the progress"
t_exit 4 "progress with a wrong token is refused" \
	acme_queue progress "$gen" 0123456789abcdef0123456789abcdef '{"x": 1}'
t_exit 65 "progress that is not a JSON object is bad data" acme_queue progress "$gen" "$TOK" '[1]'
t_ok "ack" acme_queue ack "$gen" "$TOK"
i=0; while ! grep -q '"state":"succeeded"' "$TEST_TMP/events" && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null
events=$(cat "$TEST_TMP/events")
t_like "$events" '"event":"progress".*"progress":\{"rows": 10, "phase": "copy"\}' \
	"watchers get the progress event"
t_like "$events" '"event":"state".*"state":"succeeded"' "watchers get the state change"

# ---- fail: retry with backoff, then dead with the error kept ----------------------------------
acmectl jobs enqueue noop --id f1 --max-attempts 2 >/dev/null
dq --lease 30s
before=$(redis_now_ms)
t_ok "fail an attempt" acme_queue fail f1 "$TOK" --error "boom 1"
after=$(redis_now_ms)
due=$(tredis ZSCORE "${K}sched" f1)
t_is "$(jget "$OUT" state)" "retrying" "a failed attempt with attempts left is retrying"
# noop: backoff 100 ms, so attempt 1 waits 50-100 ms (equal jitter); the fail
# happened between before and after on the Redis clock
t_is "$((due - before >= 50 && due - after <= 100))" 1 \
	"retry is due 50-100 ms after the failure ($((due - after))-$((due - before)) ms)"
t_is "$(row f1)" "retrying 1 -" "row: retrying, attempt 1, lease cleared"
t_is "$(pg "SELECT error FROM jobs WHERE id = 'f1'")" "boom 1" "row keeps the error"
t_exit 3 "nothing to dequeue before the retry is due" acme_queue dequeue
# regression: this was `sh -c "! acmectl ..."`, which a crash passed too
t_exit 4 "fail with the old token is refused" acme_queue fail f1 "$TOK" --error again
t_like "$ERR" "lease lost" "the refusal says the lease is lost"
wait_past "$due"
t_ok "promote the due retry" acme_queue promote
t_is "$(jget "$OUT" id) $(jget "$OUT" state)" "f1 queued" "promote queues the retry"
t_is "$(row f1)" "queued 1 -" "row: queued again"
dq --lease 30s
t_is "$ID $(jget "$OUT" attempts)" "f1 2" "the second attempt"
t_ok "fail the last attempt" acme_queue fail f1 "$TOK" --error "boom 2"
t_is "$(jget "$OUT" state)" "dead" "out of attempts: dead"
t_like "$(tredis ZSCORE "${K}dead" f1)" '^[0-9]+$' "dead jobs are in the dead set"
t_is "$(tredis ZSCORE "${K}sched" f1)" "" "and not scheduled"
t_is "$(row f1)" "dead 2 -" "row: dead after 2 attempts"
t_is "$(pg "SELECT error FROM jobs WHERE id = 'f1'")" "boom 2" "the last error is kept"

# the backoff doubles
acmectl jobs enqueue noop --id f2 --max-attempts 5 >/dev/null
dq --lease 30s
acme_queue fail f2 "$TOK" --error one >/dev/null
wait_past "$(tredis ZSCORE "${K}sched" f2)"
acme_queue promote >/dev/null
dq --lease 30s
before=$(redis_now_ms)
acme_queue fail f2 "$TOK" --error two >/dev/null
after=$(redis_now_ms)
due=$(tredis ZSCORE "${K}sched" f2)
t_is "$((due - before >= 100 && due - after <= 200))" 1 \
	"attempt 2 waits 100-200 ms ($((due - after))-$((due - before)) ms)"
acmectl jobs cancel f2 2>/dev/null

# permanent failure: no retry
acmectl jobs enqueue noop --id p1 >/dev/null
dq --lease 30s
t_ok "fail permanently" acme_queue fail p1 "$TOK" --error "bad input" --permanent
t_is "$(jget "$OUT" state)" "failed" "a permanent failure is failed at once"
t_is "$(row p1)" "failed 1 -" "row: failed after 1 of 3 attempts"

# ---- reaper: expired leases are failed attempts, and the old token is fenced --------------
# The leases that must hold are minutes long and the reaper runs once the
# Redis clock is past the deadline that must not count any more, so no
# schedule of this test on a loaded machine changes an outcome.
acmectl jobs enqueue noop --id r1 >/dev/null
dq --lease 1s --worker w-stalled
A=$TOK
first=$(tredis HGET "${K}job:r1" deadline_ms)
# a heartbeat moves the deadline past the first one, by its own lease
acme_queue heartbeat r1 "$A" --lease 10m >/dev/null
t_is "$(( $(tredis HGET "${K}job:r1" deadline_ms) > first + 500000 ))" 1 "the heartbeat moved the deadline on"
t_ok "the fence holds for the lease holder" acme_queue check-lease r1 "$A"
t_ok "reap while the lease is alive" acme_queue reap
t_is "$OUT" "" "nothing is reaped before the deadline"
wait_past "$first"
acme_queue reap >/dev/null
t_is "$(tredis HGET "${K}job:r1" state)" "running" "a heartbeat keeps the reaper away past the first deadline"
# now let it lapse: a short lease, no more heartbeats
acme_queue heartbeat r1 "$A" --lease 100ms >/dev/null
wait_past "$(tredis HGET "${K}job:r1" deadline_ms)"
t_ok "reap the expired lease" acme_queue reap
t_is "$(jget "$OUT" id) $(jget "$OUT" state) $(jget "$OUT" attempts)" "r1 retrying 1" \
	"an expired lease is a failed attempt, retried"
t_like "$(jget "$OUT" error)" "lease expired: worker w-stalled stopped sending heartbeats" \
	"the error names the worker"
t_is "$(row r1)" "retrying 1 -" "row: retrying, the old lease token cleared"
t_exit 4 "the stalled holder's ack is refused" acme_queue ack r1 "$A"
t_exit 4 "its heartbeat is refused" acme_queue heartbeat r1 "$A"
t_exit 4 "its progress is refused" acme_queue progress r1 "$A" '{"late": true}'
t_exit 4 "its fence in postgresql refuses to commit" acme_queue check-lease r1 "$A"
t_like "$ERR" "lease lost" "the fence says the lease is lost"
wait_past "$(tredis ZSCORE "${K}sched" r1)"
acme_queue promote >/dev/null
dq --lease 30s --worker w-new
B=$TOK
t_is "$(row r1)" "running 2 $B" "the new holder's token is in the row"
t_exit 4 "the stalled holder still cannot commit" acme_queue check-lease r1 "$A"
t_ok "the new holder can" acme_queue check-lease r1 "$B"
t_exit 4 "nor fail the job of the new holder" acme_queue fail r1 "$A" --error late
t_ok "the new holder acks" acme_queue ack r1 "$B"

acmectl jobs enqueue noop --id r2 --max-attempts 1 >/dev/null
dq --lease 100ms
wait_past "$(tredis HGET "${K}job:r2" deadline_ms)"
t_ok "reap the last attempt" acme_queue reap
t_is "$(jget "$OUT" state)" "dead" "a reaped last attempt is dead"
t_is "$(row r2)" "dead 1 -" "row: dead"

# ---- delayed jobs and promotion -----------------------------------------------------------------
# d0 is due in an hour: whatever the machine's speed, it is not due during
# this test; d1 is due in a second, and promoted once the Redis clock passed it.
t_ok "enqueue with a delay" acmectl jobs enqueue noop --id d0 --delay 1h
t_is "$(tredis HGET "${K}job:d0" state)" "scheduled" "a delayed job is scheduled"
t_is "$(pg "SELECT state || ' ' || (scheduled_at > now()) FROM jobs WHERE id = 'd0'")" "scheduled true" \
	"row: scheduled, in the future"
t_exit 3 "a scheduled job is not dequeued" acme_queue dequeue
t_ok "promote before it is due" acme_queue promote
t_is "$OUT" "" "nothing is promoted early"
acmectl jobs enqueue noop --id d1 --delay 1s >/dev/null
due=$(tredis ZSCORE "${K}sched" d1)
wait_past "$due"
t_ok "promote when due" acme_queue promote
t_is "$(jget "$OUT" id) $(jget "$OUT" state)" "d1 queued" "the due job is queued, the one due later is not"
t_is "$(row d1) / $(row d0)" "queued 0 - / scheduled 0 -" "rows: d1 queued, d0 still scheduled"
dq --lease 30s
t_is "$ID" "d1" "and can be dequeued"
acme_queue ack d1 "$TOK" >/dev/null
acmectl jobs cancel d0 >/dev/null 2>&1

# ---- release: back to the front, not an attempt -------------------------------------------------
acmectl jobs enqueue noop --id x1 >/dev/null
acmectl jobs enqueue noop --id x2 >/dev/null
dq --lease 30s
t_is "$ID" "x1" "x1 first"
t_ok "release" acme_queue release x1 "$TOK"
t_is "$(jget "$OUT" state) $(jget "$OUT" attempts)" "queued 0" "released: queued, the attempt not counted"
t_is "$(row x1)" "queued 0 -" "row: queued, attempts 0, lease cleared"
t_exit 4 "the released token is refused" acme_queue ack x1 "$TOK"
dq --lease 30s
t_is "$ID" "x1" "a released job goes to the front of the queue"
acme_queue ack x1 "$TOK" >/dev/null
dq --lease 30s
acme_queue ack x2 "$TOK" >/dev/null

# ---- cancel in each state -------------------------------------------------------------------------
acmectl jobs enqueue noop --id c-queued >/dev/null
t_ok "cancel a queued job" acmectl jobs cancel c-queued
t_like "$ERR" "job c-queued cancelled" "cancel says so"
t_is "$(tredis LLEN "${K}ready")" "0" "it left the ready list"
t_is "$(row c-queued)" "cancelled 0 -" "row: cancelled"
t_ok "cancel it again" acmectl jobs cancel c-queued
t_like "$ERR" "cancelled already" "a second cancel says it was cancelled already"

acmectl jobs enqueue noop --id c-sched --delay 1h >/dev/null
t_ok "cancel a scheduled job" acmectl jobs cancel c-sched
t_is "$(tredis ZSCORE "${K}sched" c-sched)" "" "it left the schedule"
t_is "$(row c-sched)" "cancelled 0 -" "row: cancelled"

acmectl jobs enqueue noop --id c-retry >/dev/null
dq --lease 30s
acme_queue fail c-retry "$TOK" --error first >/dev/null
t_ok "cancel a retrying job" acmectl jobs cancel c-retry
t_is "$(tredis HGET "${K}job:c-retry" state):$(tredis ZSCORE "${K}sched" c-retry)" "cancelled:" \
	"retrying -> cancelled, unscheduled"
t_is "$(row c-retry)" "cancelled 1 -" "row: cancelled"

acmectl jobs enqueue noop --id c-run >/dev/null
dq --lease 30s
t_ok "cancel a running job" acmectl jobs cancel c-run
t_like "$ERR" "is running; it stops at its next heartbeat" "cancel of a running job is a request"
t_is "$(tredis HGET "${K}job:c-run" state) $(tredis HGET "${K}job:c-run" cancel)" "running 1" \
	"the job runs on with its cancel flag"
t_is "$(pg "SELECT state || ' ' || cancel_requested FROM jobs WHERE id = 'c-run'")" "running true" \
	"row: cancel_requested"
t_ok "heartbeat of a job asked to cancel" acme_queue heartbeat c-run "$TOK"
t_is "$(jget "$OUT" outcome)" "cancel" "the heartbeat reports the cancel request"
t_ok "the check in postgresql reports it too" acme_queue check-lease c-run "$TOK"
t_is "$OUT" "held, cancel requested" "check-lease: held, cancel requested"
t_ok "the handler stops and reports failure" acme_queue fail c-run "$TOK" --error "stopped"
t_is "$(jget "$OUT" state)" "cancelled" "a failure after a cancel request ends cancelled, not retried"
t_is "$(row c-run)" "cancelled 1 -" "row: cancelled"

acmectl jobs enqueue noop --id c-rel >/dev/null
dq --lease 30s
acmectl jobs cancel c-rel 2>/dev/null
t_ok "release a job asked to cancel" acme_queue release c-rel "$TOK"
t_is "$(jget "$OUT" state)" "cancelled" "released after a cancel request: cancelled"

t_exit 4 "cancel a succeeded job is refused" acmectl jobs cancel e1
t_like "$ERR" "job e1 already succeeded; nothing to cancel" "and says why"
t_exit 3 "cancel an unknown job" acmectl jobs cancel no-such-job

# ---- pause / resume -------------------------------------------------------------------------------
t_ok "pause" acmectl jobs pause default
t_like "$ERR" "queue default paused" "pause says so"
acmectl jobs enqueue noop --id pz >/dev/null
t_exit 3 "a paused queue hands out nothing" acme_queue dequeue
t_ok "stats" acmectl jobs stats --queue default -o json
t_json "$OUT" "d['items'][0]['paused'] is True and d['items'][0]['ready'] == 1" "stats show the pause and the waiting job"
t_ok "resume" acmectl jobs resume default
t_like "$ERR" "queue default resumed" "resume says so"
dq --lease 30s
t_is "$ID" "pz" "a resumed queue hands out jobs again"
acme_queue ack pz "$TOK" >/dev/null

# ---- purge of a queue's waiting jobs ------------------------------------------------------------------
for i in 1 2 3; do acmectl jobs enqueue noop --id pg$i >/dev/null; done
acmectl jobs enqueue noop --id pg4 --delay 1h >/dev/null
acmectl jobs enqueue noop --id pg5 >/dev/null
dq --lease 30s
t_is "$ID" "pg1" "one job is running"
t_exit 4 "purge without --yes (not a terminal) is refused" acmectl jobs purge --queue default
t_ok "purge the queue" acmectl jobs purge --queue default --yes
t_is "$OUT" "4" "four waiting jobs purged"
t_is "$(tredis LLEN "${K}ready") $(tredis ZCARD "${K}sched")" "0 0" "nothing waits any more"
t_is "$(pg "SELECT string_agg(id || ':' || state, ' ' ORDER BY id) FROM jobs WHERE id LIKE 'pg_'")" \
	"pg1:running pg2:cancelled pg3:cancelled pg4:cancelled pg5:cancelled" \
	"rows: purged jobs cancelled, the running one untouched"
t_is "$(pg "SELECT error FROM jobs WHERE id = 'pg2'")" "purged" "purged jobs say so"
acme_queue ack pg1 "$TOK" >/dev/null

# ---- purge of old finished jobs ------------------------------------------------------------------------
t_ok "purge finished jobs older than an hour" acmectl jobs purge --older-than 1h --yes
t_is "$OUT" "0" "nothing is that old"
pg "UPDATE jobs SET finished_at = now() - interval '2 days' WHERE id IN ('f1', 'p1', 'e1')"
t_ok "purge dead jobs older than a day" acmectl jobs purge --older-than 1d --state dead --yes
t_is "$OUT" "1" "one dead job purged"
t_is "$(pg "SELECT count(*) FROM jobs WHERE id = 'f1'")" "0" "its row is gone"
t_is "$(tredis EXISTS "${K}job:f1"):$(tredis ZSCORE "${K}dead" f1)" "0:" "and its redis state"
t_ok "purge every finished job older than a day" acmectl jobs purge --older-than 1d --yes
t_is "$OUT" "2" "the succeeded and the failed job"
t_is "$(pg "SELECT count(*) FROM jobs WHERE id IN ('e1', 'p1')")" "0" "their rows are gone"
t_is "$(pg "SELECT count(*) FROM jobs WHERE id = 'r1'")" "1" "recent finished jobs stay"

# ---- the snapshots the caller completes (issue 15) -------------------------------------
# The enqueue and ack scripts answer only the clock, the version and a cancel
# request, and the caller rebuilds the rest; the dequeue answers the snapshot
# it read, with the fields it set. Field by field against the hash: immediate
# and delayed enqueues with every spec field set, a generated id,
# enqueue_many, an id that exists; acks with and without a result, after
# progress, a heartbeat, a cancel request, a raised version and a retried
# attempt; ack-and-fetch and the job it fetched.
t_ok "snapshots rebuilt after enqueue, dequeue and ack" acme_queue snapcheck --queue snaps
t_is "$OUT" "same" "every field equals the job hash's"
t_is "$(tredis HGET "${ACME_REDIS_PREFIX}{snaps}:stats" succeeded)" "8" "eight acks ran"
t_is "$(tredis HGET "${ACME_REDIS_PREFIX}{snaps}:stats" retried)" "1" "one attempt was retried"

t_done
