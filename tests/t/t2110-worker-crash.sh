#!/bin/sh
# Crashes: kill -9 of a child mid-job (the job runs again and commits once),
# kill -9 of the supervisor (its children finish their jobs; when they die
# too, another worker reaps the lease and completes the job), and a
# SIGSTOPped child whose lease was taken over cannot commit when continued.
# "Once" is the jobs row (state, attempts) and the job's own effect: noop's
# "commit" writes one audit row per committed execution, behind the lease
# check in PostgreSQL.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

P=$ACME_REDIS_PREFIX
runner_pid() { tredis HGET "${P}{default}:job:$1" worker | cut -d: -f2; }
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
running() { [ "$(job_col "$1" state)" = running ] && [ -n "$(runner_pid "$1")" ]; }

# ---- kill -9 of a child mid-job ----
start_worker w1 -Q default=1 --lease 2s
job=$(enqueue noop '{"sleep_ms": 1500, "commit": "child-kill"}')
t_ok "the job runs" wait_for 15 "running $job"
child=$(runner_pid "$job")
t_ok "kill -9 of the child ($child)" kill -KILL "$child"
t_ok "the job runs again and succeeds" wait_for 20 "[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(job_col "$job" attempts)" 2 "two attempts: the killed one counted"
t_is "$(commits child-kill)" 1 "its effect was committed once"
t_unlike "$(runner_pid "$job")" "^$child\$" "by another child"
t_like "$(cat "$TEST_TMP/w1.log")" "worker child $child was killed by signal 9.*starting another|job $job: worker child $child was killed by signal 9; will retry" \
	"the supervisor failed the attempt at once and started a new child"
t_ok "the supervisor lives on" alive "$(worker_pid w1)"
stop_worker w1
t_is "$W_STATUS" 0 "and stops cleanly"

# ---- kill -9 of the supervisor: its child finishes the job ----
start_worker w2 -Q default=1 --lease 2s
sup=$W_PID
job=$(enqueue noop '{"sleep_ms": 2000, "commit": "sup-kill"}')
t_ok "the job runs" wait_for 15 "running $job"
child=$(runner_pid "$job")
kill -KILL "$sup"
wait "$sup" 2>/dev/null
t_ok "the child notices its supervisor died and finishes the job" wait_for 20 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_ok "then it exits" wait_for 10 "! alive $child"
t_is "$(job_col "$job" attempts)" 1 "one attempt"
t_is "$(commits sup-kill)" 1 "one commit"
t_is "$(runner_pid "$job")" "$child" "by the orphaned child"

# ---- kill -9 of supervisor and child: another worker reaps and completes ----
start_worker w3 -Q default=1 --lease 2s
sup=$W_PID
job=$(enqueue noop '{"sleep_ms": 3000, "commit": "both-kill"}')
t_ok "the job runs" wait_for 15 "running $job"
child=$(runner_pid "$job")
kill -KILL "$sup" "$child"
wait "$sup" 2>/dev/null
t_is "$(job_col "$job" state)" running "the row still says running"
start_worker w4 -Q default=1 --lease 2s
t_ok "another worker reaps the expired lease and completes the job" wait_for 30 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(job_col "$job" attempts)" 2 "the dead worker's attempt counted"
t_is "$(commits both-kill)" 1 "one commit"
t_like "$(cat "$TEST_TMP/w4.log")" "job $job: lease expired; retrying" "the reaper says so"
stop_worker w4

# ---- a SIGSTOPped child whose lease was taken over cannot commit ----
# stall_ms: the handler blocks without a checkpoint, then commits; while the
# child is stopped its lease expires and another worker takes the job over.
start_worker w5 -Q default=1 --lease 2s
job=$(enqueue noop '{"sleep_ms": 200, "stall_ms": 1500, "commit": "zombie"}')
t_ok "the job runs" wait_for 15 "running $job"
zombie=$(runner_pid "$job")
t_ok "SIGSTOP the child ($zombie)" kill -STOP "$zombie"
t_ok "its lease expires: the job is retried" wait_for 20 \
	"[ \"\$(tredis HGET '${P}{default}:job:$job' state)\" != running ]"
start_worker w6 -Q default=1 --lease 3s
t_ok "another worker takes it over" wait_for 20 \
	"[ \"\$(job_col $job attempts)\" = 2 ] && [ \"\$(job_col $job state)\" = running ]"
t_ok "SIGCONT the stopped child" kill -CONT "$zombie"
t_ok "the job succeeds" wait_for 20 "[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(commits zombie)" 1 "one commit: the stopped child's late commit was refused"
t_is "$(job_col "$job" attempts)" 2 "two attempts"
t_ok "the stopped child reports its lost lease" wait_for 10 \
	"grep -q 'lease lost' '$TEST_TMP/w5.log'"
t_like "$(cat "$TEST_TMP/w5.log")" "job $job: lease lost.*this attempt must not commit|job $job: lease lost after" \
	"the fence (or the queue) refused it"
stop_worker w5
stop_worker w6
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE state <> 'succeeded'")" 0 "every job succeeded"

# ---- a lost final mirror write is repaired ----
# As when a child is killed between its ack in Redis and the row's update:
# the row is put back to running, older than Redis, untouched for a minute.
# Regression: such a row used to stay running for ever (and jobs retry
# refused it, since Redis said succeeded).
start_worker w7 -Q default=1
job=$(enqueue noop)
t_ok "a job succeeds" wait_for 15 "[ \"\$(job_col $job state)\" = succeeded ]"
tpsql -c "UPDATE jobs SET state = 'running', version = version - 1, finished_at = NULL,
	updated_at = now() - interval '1 minute' WHERE id = '$job'"
t_ok "the reconciler brings the row back in line with Redis" wait_for 20 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_like "$(cat "$TEST_TMP/w7.log")" "job $job: the jobs table said running, Redis says succeeded; recorded" \
	"and says so"
tpsql -c "INSERT INTO jobs (id, type, state, version, updated_at)
	VALUES ('ghost', 'noop', 'running', 5, now() - interval '1 minute')"
t_ok "a running row Redis does not know is reported" wait_for 20 \
	"grep -q 'running in PostgreSQL but unknown to Redis (e.g. ghost)' '$TEST_TMP/w7.log'"
t_is "$(job_col ghost state)" running "and left alone (jobs retry is the operator's call)"
stop_worker w7

t_done
