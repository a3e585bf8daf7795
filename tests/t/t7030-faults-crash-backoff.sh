#!/bin/sh
# A crash retries after the job's backoff (issue 10, fix 5). When a child
# dies while it holds a job (a crash, the OOM killer, the hard time limit),
# the supervisor fails the attempt at once, and the retry waits the job
# type's backoff like every other failure.
# Regression: that path computed the backoff from an empty snapshot (0 ms),
# so a CSV that crashed its child looped through the pool every ~250 ms and
# an import killed at its 6-hour limit started again at once.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

P=$ACME_REDIS_PREFIX
rfield() { tredis HGET "${P}{default}:job:$1" "$2"; }

# housekeeping retries after 10 s doubling: the first retry comes no sooner
# than 5 s after the failure (equal jitter: d/2 + r * d/2)
export ACME_FAILPOINTS='job.after-start=1*exit'
start_worker w1 -Q default=1
unset ACME_FAILPOINTS
job=$(enqueue housekeeping)
t_ok "the child dies while it holds the job; the attempt is failed" wait_for 30 \
	"rfield $job error | grep -q 'exited with status 137'"
started=$(rfield "$job" started_ms)
due=$(rfield "$job" scheduled_ms)
t_ok "the retry is due at least half the type's 10 s backoff later ($((due - started)) ms after the start)" \
	test $((due - started)) -ge 5000
t_is "$(rfield "$job" state) $(rfield "$job" attempts)" "retrying 1" "it waits for its retry"
t_is "$(tredis ZSCORE "${P}{default}:sched" "$job" | cut -d. -f1)" "$due" "it waits in the schedule"
stop_worker w1

t_done
