#!/bin/sh
# Failpoints (ACME_FAILPOINTS, core/failpoint.h): the test hook every fault
# test stands on. A malformed or unknown spec is refused with exit 78 (a typo
# must not silently test nothing), as is any spec in production; pause stops
# a process at a named step until SIGCONT; N*exit spends its budget once
# across a worker's children (the replacement child does not die again);
# error makes a step fail as if its server refused it.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

# ---- the spec ----
t_exit 78 "an unknown failpoint is refused" env ACME_FAILPOINTS=job.after-strat=exit "$ACMECTL" config show
t_like "$ERR" 'unknown failpoint "job.after-strat" \(known: job.before-start, job.after-start, .*worker.after-ack' \
	"it names the point and lists the known ones"
t_exit 78 "an unknown action is refused" env ACME_FAILPOINTS=job.after-start=crash "$ACMECTL" config show
t_like "$ERR" 'job.after-start: unknown action "crash"' "it names the action"
t_exit 78 "a count below 1 is refused" env ACME_FAILPOINTS=job.after-start=0*exit "$ACMECTL" config show
t_exit 78 "a bad sleep is refused" env ACME_FAILPOINTS=job.after-start=sleep:soon "$ACMECTL" config show
t_exit 78 "an item without = is refused" env ACME_FAILPOINTS=job.after-start "$ACMECTL" config show
t_exit 78 "failpoints are refused in production" \
	env ACME_ENV=production ACME_FAILPOINTS=job.after-start=off "$ACMECTL" config show
t_like "$ERR" "refused when ACME_ENV is production" "and it says why"
t_ok "an empty spec arms nothing" env ACME_FAILPOINTS= "$ACMECTL" config show
t_ok "off is accepted" env ACME_FAILPOINTS=job.after-start=off,worker.after-ack=2*off "$ACMECTL" config show

# ---- the documentation lists every point ----
missing=
for name in $(sed -n 's/^[[:space:]]*X([A-Z_]*, "\([a-z.-]*\)".*/\1/p' "$TEST_TOP/core/failpoint.h"); do
	grep -q "^\.It Cm $name\$" "$TEST_TOP/man/acmectl-worker.8" || missing="$missing $name"
done
t_is "${missing:-none}" none "acmectl-worker(8) lists every failpoint under TESTING"
t_is "$(sed -n 's/^[[:space:]]*X([A-Z_]*, "\([a-z.-]*\)".*/\1/p' "$TEST_TOP/core/failpoint.h" | wc -l | tr -d ' ')" 14 \
	"the header declares the fourteen points"

# ---- pause: a child stops at the step until SIGCONT ----
export ACME_FAILPOINTS='job.after-start=1*pause'
start_worker w1 -Q default=1
unset ACME_FAILPOINTS
job=$(enqueue noop '{"commit": "paused"}')
pid=$(fp_reached "$TEST_TMP/w1.log" job.after-start)
t_like "$pid" '^[0-9]+$' "the child announces it reached job.after-start, with its pid"
t_is "$(job_col "$job" state) $(commits paused)" "running 0" \
	"the job is recorded as running and nothing is committed while it waits"
t_ok "SIGCONT lets it go on" kill -CONT "$pid"
t_ok "the job then succeeds" wait_for 30 "[ \"\$(job_col $job state)\" = succeeded ]"
job2=$(enqueue noop '{"commit": "second"}')
t_ok "the budget of 1 is spent: the next job runs straight through" wait_for 30 \
	"[ \"\$(job_col $job2 state)\" = succeeded ]"
t_is "$(grep -c 'failpoint job.after-start reached' "$TEST_TMP/w1.log")" 1 "one pause in all"
stop_worker w1

# ---- 1*exit: the child dies as if killed, once across all children ----
export ACME_FAILPOINTS='job.after-start=1*exit'
start_worker w2 -Q default=1
unset ACME_FAILPOINTS
job=$(enqueue noop '{"commit": "exit-once"}')
t_ok "the job succeeds on its second attempt" wait_for 30 "[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(job_col "$job" attempts) $(commits exit-once)" "2 1" "two attempts, one commit"
t_is "$(grep -c 'exited with status 137' "$TEST_TMP/w2.log")" 2 \
	"the child exited with 137, once (the attempt failed, and the child was replaced)"
t_ok "the supervisor lives on" kill -0 "$(worker_pid w2)"
stop_worker w2
t_is "$W_STATUS" 0 "and stops cleanly"

# ---- error: the step fails as if the server refused it ----
# relay.after-enqueue=1*error: the relay enqueued the batch but did not mark
# it relayed; the next pass enqueues it again, idempotently (one job per row).
tpsql -c "INSERT INTO outbox (event_type, payload) SELECT 'product.updated',
	jsonb_build_object('n', g) FROM generate_series(1, 3) g"
export ACME_FAILPOINTS='relay.after-enqueue=1*error'
start_worker w3 -Q webhooks=1
unset ACME_FAILPOINTS
t_ok "every outbox row is relayed in the end" wait_for 30 \
	"[ \$(tpsql -c 'SELECT count(*) FROM outbox WHERE relayed_at IS NULL') = 0 ]"
t_like "$(cat "$TEST_TMP/w3.log")" "outbox relay: failpoint relay.after-enqueue: injected error" \
	"the injected error was reported"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE type = 'event.dispatch'")" 3 \
	"one event.dispatch job per row although the batch was enqueued twice"
stop_worker w3

# ---- the supervisor killed after relaying, before marking: no duplicate ----
tpsql -c "INSERT INTO outbox (event_type, payload) VALUES ('product.updated', '{\"n\": 4}')"
export ACME_FAILPOINTS='relay.after-enqueue=1*exit'
start_worker w4 -Q webhooks=1
unset ACME_FAILPOINTS
wait "$(worker_pid w4)"
t_is "$?" 137 "the supervisor died at relay.after-enqueue"
t_is "$(tpsql -c 'SELECT count(*) FROM outbox WHERE relayed_at IS NULL')" 1 "the row is not marked relayed"
start_worker w5 -Q webhooks=1
t_ok "a new worker relays it" wait_for 30 \
	"[ \$(tpsql -c 'SELECT count(*) FROM outbox WHERE relayed_at IS NULL') = 0 ]"
t_ok "and its dispatch succeeds" wait_for 30 \
	"[ \$(tpsql -c \"SELECT count(*) FROM jobs WHERE type = 'event.dispatch' AND state = 'succeeded'\") = 4 ]"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE type = 'event.dispatch'")" 4 "still one job per row"
stop_worker w5

# ---- worker.after-ack: acked in Redis, the row not written, child killed ----
# (a job without a commit of its own: only the mirror records its end)
export ACME_FAILPOINTS='worker.after-ack=1*exit'
start_worker w6 -Q default=1
unset ACME_FAILPOINTS
job=$(enqueue noop)
t_ok "Redis records the job as succeeded" wait_for 30 \
	"[ \"\$(tredis HGET '${ACME_REDIS_PREFIX}{default}:job:$job' state)\" = succeeded ]"
# (a noop without commit is unfenced: its start went to the batched writer
# too, which the kill also beat; the row may say queued or running)
t_like "$(job_col "$job" state)" "^(queued|running)$" "the row missed it"
t_ok "the reconciler records it from Redis" wait_for 60 "[ \"\$(job_col $job state)\" = succeeded ]"
t_like "$(cat "$TEST_TMP/w6.log")" "reconciler: 1 row recorded from Redis" "and says so"
t_is "$(job_col "$job" attempts)" 1 "one attempt"
stop_worker w6

# ---- scheduler.after-enqueue: the scheduler dies after enqueueing a tick ----
# the tick is not marked fired; the next leader may fire it again, and the
# tick's job id makes that the same job: each tick runs once.
mkdir -p "$XDG_CONFIG_HOME/acmectl"
cat >"$XDG_CONFIG_HOME/acmectl/config" <<'EOC'
[schedule.tick]
every = 1s
type = noop
payload = {"commit": "tick"}
EOC
export ACME_FAILPOINTS='scheduler.after-enqueue=1*exit'
start_worker b1 --beat-only
unset ACME_FAILPOINTS
wait "$(worker_pid b1)"
t_is "$?" 137 "the scheduler died right after enqueueing a tick"
first=$(tpsql -c "SELECT id FROM jobs WHERE payload->>'commit' = 'tick' ORDER BY created_at LIMIT 1")
t_like "$first" '.' "its tick's job is recorded"
start_worker b2 --beat -Q default=1
t_ok "the next scheduler takes over and ticks go on" wait_for 60 \
	"[ \$(tpsql -c \"SELECT count(*) FROM jobs WHERE payload->>'commit' = 'tick' AND state = 'succeeded'\") -ge 3 ]"
stop_worker b2
t_is "$(job_col "$first" state)" succeeded "the tick enqueued before the crash ran"
t_is "$(tpsql -c "SELECT count(*) FROM (SELECT details->>'job_id' FROM audit_log WHERE command = 'noop commit'
	AND target = 'tick' GROUP BY 1 HAVING count(*) > 1) x")" 0 "and every tick's job committed once"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE payload->>'commit' = 'tick' AND state = 'succeeded'")" \
	"$(commits tick)" "one commit per tick job"

t_done
