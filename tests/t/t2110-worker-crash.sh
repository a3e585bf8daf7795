#!/bin/sh
# Crashes: kill -9 of a child mid-job (the job runs again and commits once),
# kill -9 of the supervisor (its children finish their jobs; when they die
# too, another worker reaps the lease and completes the job), and a child
# stopped past its last checkpoint whose lease was taken over cannot commit
# when it goes on. "Once" is the jobs row (state, attempts) and the job's own
# effect: noop's "commit" writes one audit row together with the job's
# outcome (job_commit), behind the lease check in PostgreSQL.
# Every process is stopped at a named step with a failpoint (pause) before
# it is killed, so no assertion depends on when a signal lands.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

P=$ACME_REDIS_PREFIX
runner_pid() { tredis HGET "${P}{default}:job:$1" worker | cut -d: -f2; }
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# ---- kill -9 of a child mid-job ----
# A long lease: only the supervisor's own notice of the dead child can
# retry the job within the wait below, never the reaper. (With 2 s, a loaded
# machine let the lease expire while the child was paused, and the reaper's
# line replaced the one this checks.)
export ACME_FAILPOINTS='job.after-start=1*pause'
start_worker w1 -Q default=1 --lease 60s
unset ACME_FAILPOINTS
job=$(enqueue noop '{"commit": "child-kill"}')
child=$(fp_reached "$TEST_TMP/w1.log" job.after-start)
t_is "$child $(job_col "$job" state)" "$(runner_pid "$job") running" "the job runs in a child, stopped after its start"
t_ok "kill -9 of the child ($child)" kill -KILL "$child"
t_ok "the job runs again and succeeds" wait_for 20 "[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(job_col "$job" attempts)" 2 "two attempts: the killed one counted"
t_is "$(commits child-kill)" 1 "its effect was committed once"
t_unlike "$(runner_pid "$job")" "^$child\$" "by another child"
t_like "$(cat "$TEST_TMP/w1.log")" "job $job: worker child $child was killed by signal 9; will retry" \
	"the supervisor failed the attempt at once"
t_like "$(cat "$TEST_TMP/w1.log")" "worker child $child was killed by signal 9; starting another" \
	"and started a new child"
t_ok "the supervisor lives on" alive "$(worker_pid w1)"
stop_worker w1
t_is "$W_STATUS" 0 "and stops cleanly"

# ---- kill -9 of the supervisor: its child finishes the job ----
export ACME_FAILPOINTS='job.after-start=1*pause'
start_worker w2 -Q default=1 --lease 2s
unset ACME_FAILPOINTS
sup=$W_PID
job=$(enqueue noop '{"commit": "sup-kill"}')
child=$(fp_reached "$TEST_TMP/w2.log" job.after-start)
kill -KILL "$sup"
wait "$sup" 2>/dev/null
t_ok "the supervisor is gone" wait_for 10 "! alive $sup"
t_ok "the child goes on" kill -CONT "$child"
t_ok "the child notices its supervisor died and finishes the job" wait_for 20 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_ok "then it exits" wait_for 10 "! alive $child"
t_is "$(job_col "$job" attempts)" 1 "one attempt"
t_is "$(commits sup-kill)" 1 "one commit"
t_is "$(runner_pid "$job")" "$child" "by the orphaned child"

# ---- kill -9 of supervisor and child: another worker reaps and completes ----
export ACME_FAILPOINTS='job.after-start=1*pause'
start_worker w3 -Q default=1 --lease 2s
unset ACME_FAILPOINTS
sup=$W_PID
job=$(enqueue noop '{"commit": "both-kill"}')
child=$(fp_reached "$TEST_TMP/w3.log" job.after-start)
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

# ---- a stopped child whose lease was taken over cannot commit ----
# job.before-commit holds the child past its last checkpoint, its effect in
# its open transaction; its lease expires meanwhile and another worker takes
# the job over and commits; then the stopped child goes on to its commit.
export ACME_FAILPOINTS='job.before-commit=1*pause'
start_worker w5 -Q default=1 --lease 2s
unset ACME_FAILPOINTS
job=$(enqueue noop '{"commit": "zombie"}')
zombie=$(fp_reached "$TEST_TMP/w5.log" job.before-commit)
t_like "$zombie" '^[0-9]+$' "the child stops just before its commit"
t_ok "its lease expires: the job is retried" wait_for 20 \
	"[ \"\$(tredis HGET '${P}{default}:job:$job' state)\" != running ]"
start_worker w6 -Q default=1 --lease 3s
t_ok "another worker takes it over and commits" wait_for 20 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_ok "the stopped child goes on" kill -CONT "$zombie"
t_ok "the fence refuses its commit" wait_for 10 \
	"grep -q 'job $job: job $job: lease lost (the job is succeeded); this attempt must not commit' '$TEST_TMP/w5.log'"
t_is "$(commits zombie)" 1 "one commit: the stopped child's late commit was refused"
t_is "$(job_col "$job" attempts)" 2 "two attempts"
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
t_like "$(cat "$TEST_TMP/w7.log")" "reconciler: 1 row recorded from Redis \\(a state change had not been written\\)" \
	"and says so"
tpsql -c "INSERT INTO jobs (id, type, state, version, updated_at)
	VALUES ('ghost', 'noop', 'running', 5, now() - interval '1 minute')"
t_ok "a running row Redis does not know is queued again (t7020 has more)" wait_for 20 \
	"grep -q 'Redis had lost 1 waiting or running job (e.g. ghost)' '$TEST_TMP/w7.log'"
t_ok "and runs" wait_for 20 "[ \"\$(job_col ghost state)\" = succeeded ]"
stop_worker w7

t_done
