#!/bin/sh
# Shutdown: the first SIGTERM stops fetching and lets the running job finish;
# past --shutdown-timeout the job is killed and released (not counted as an
# attempt) and a second worker finishes it; a second SIGTERM stops at once.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

P=$ACME_REDIS_PREFIX
runner_pid() { tredis HGET "${P}{default}:job:$1" worker | cut -d: -f2; }
running() { [ "$(job_col "$1" state)" = running ] && [ -n "$(runner_pid "$1")" ]; }
# line_of NAME ERE — the number of the first line of NAME's log that matches
line_of() { grep -En -- "$2" "$TEST_TMP/$1.log" | head -n 1 | cut -d: -f1; }
# No check here reads a clock: the jobs outlast the shutdown timeouts by
# seconds, and what is checked is the order of the worker's own log lines
# and the state the jobs are left in.

# ---- graceful: the running job finishes, nothing new starts ----
start_worker w1 -Q default=1 --shutdown-timeout 20s
job=$(enqueue noop '{"sleep_ms": 4000, "commit": "graceful"}')
t_ok "the job runs" wait_for 15 "running $job"
kill -TERM "$(worker_pid w1)"
t_ok "the worker stops fetching" wait_for 15 "grep -q 'stopping: no new jobs' '$TEST_TMP/w1.log'"
t_is "$(job_col "$job" state)" running "the job still runs after the stop began"
# enqueued after the stop began: a worker that still fetched would take it
next=$(enqueue noop)
stop_worker w1 0        # signal 0: it was signalled already, only wait (bounded)
t_is "$W_STATUS" 0 "SIGTERM: the worker exits 0"
t_is "$(job_col "$job" state)" succeeded "the running job was let finish"
t_is "$(job_col "$job" attempts)" 1 "in one attempt"
t_is "$(commits graceful)" 1 "and committed once"
t_is "$(job_col "$next" state)" queued "the next job was not taken"
t_like "$(cat "$TEST_TMP/w1.log")" 'stopping: no new jobs; waiting up to 20000 ms' "the log says so"
t_unlike "$(cat "$TEST_TMP/w1.log")" 'releasing' "nothing was released"
t_ok "a burst worker runs the waiting job" timeout 60 "$ACMECTL" worker --burst -Q default=1
t_is "$(job_col "$next" state)" succeeded "done"

# ---- past the shutdown timeout: killed, released, finished by another ----
start_worker w2 -Q default=1 --shutdown-timeout 1s
job=$(enqueue noop '{"sleep_ms": 6000, "commit": "released"}')
t_ok "the long job runs" wait_for 15 "running $job"
stop_worker w2
t_is "$W_STATUS" 0 "the worker exits 0"
t_like "$(cat "$TEST_TMP/w2.log")" 'stopping now: releasing the jobs of 1 children' \
	"the log says it released the job"
drain=$(line_of w2 'stopping: no new jobs; waiting up to 1000 ms')
release=$(line_of w2 'stopping now: releasing')
t_is "$(( ${drain:-0} > 0 && ${release:-0} > drain ))" 1 "it waited for the job first, then released it"
ran=$(sed -n "s/.*job $job released after \([0-9]*\) ms.*/\1/p" "$TEST_TMP/w2.log")
t_is "$(( ${ran:-0} >= 1000 ))" 1 "the job ran through the 1 s timeout before it was released (${ran:-?} ms)"
t_is "$(job_col "$job" state)" queued "the job is queued again"
t_is "$(job_col "$job" attempts)" 0 "the released attempt is not counted"
t_is "$(tredis HGET "${P}{default}:job:$job" state)" queued "in Redis too"
t_is "$(commits released)" 0 "nothing was committed"
t_ok "a second worker finishes it" timeout 60 "$ACMECTL" worker --burst -Q default=1
t_is "$(job_col "$job" state)" succeeded "it succeeded"
t_is "$(job_col "$job" attempts)" 1 "in one counted attempt"
t_is "$(commits released)" 1 "committed once"

# ---- a second SIGTERM stops at once ----
# the job sleeps an hour and the shutdown timeout is an hour: the worker
# ending at all (within the 60 s bound) is the second signal's doing
start_worker w3 -Q default=1 --shutdown-timeout 1h
wpid=$W_PID
job=$(enqueue noop '{"sleep_ms": 3600000}')
t_ok "the long job runs" wait_for 15 "running $job"
kill -TERM "$wpid"
t_ok "the first SIGTERM starts the drain" wait_for 15 "grep -q 'stopping: no new jobs' '$TEST_TMP/w3.log'"
kill -TERM "$wpid"
wait_pid "$wpid" 60
st=$?
t_is "$st" 0 "the second SIGTERM: the worker exits 0 at once, not after the hour-long timeout or job"
t_is "$(job_col "$job" state)" queued "the job was released"
t_is "$(job_col "$job" attempts)" 0 "not counted as an attempt"
acmectl jobs cancel "$job" >/dev/null 2>&1   # it would hold the next worker's child for an hour

# ---- SIGUSR1 to a child: it gives its job back and is replaced ----
start_worker w5 -Q default=1
job=$(enqueue noop '{"sleep_ms": 2500}')
t_ok "a job runs" wait_for 15 "running $job"
child=$(runner_pid "$job")
t_ok "SIGUSR1 to its child ($child)" kill -USR1 "$child"
t_ok "the job is released and run again by a new child" wait_for 20 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(job_col "$job" attempts)" 1 "the released attempt did not count"
t_unlike "$(runner_pid "$job")" "^$child\$" "a new child finished it"
t_like "$(cat "$TEST_TMP/w5.log")" "job $job released after [0-9]+ ms \(not counted as an attempt\)" \
	"the log says so"
stop_worker w5

# ---- SIGINT is a stop signal too ----
start_worker w4 -Q default=1
wpid=$W_PID
t_ok "the worker is up" wait_for 10 "grep -q started '$TEST_TMP/w4.log'"
stop_worker w4 INT
t_is "$W_STATUS" 0 "SIGINT: it exits 0"

t_done
