#!/bin/sh
# Ack-and-fetch (issue 15): a worker child's ack also takes the next job of
# its queue, in the same round trip. Every job still runs once, with one
# attempt; a job so taken and not yet started is never lost and never costs
# an attempt: the supervisor gives it back when the child dies before
# starting it, and the child gives it back itself when it stops.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

P=$ACME_REDIS_PREFIX
rcol() { tredis HGET "${P}{default}:job:$1" "$2"; }

# ---- one child, 200 jobs back to back: each runs once ----
t_ok "200 jobs queued" acmectl -q jobs enqueue noop --count 200
start_worker w1 -Q default=1
t_ok "all succeed" wait_for 120 "[ \"\$(tpsql -c \"SELECT count(*) FROM jobs WHERE state = 'succeeded'\")\" = 200 ]"
t_is "$(tpsql -c "SELECT sum(attempts) FROM jobs")" 200 "with one attempt each"
t_is "$(tredis ZCARD "${P}{default}:active")" 0 "no lease is left behind"
stop_worker w1
t_is "$W_STATUS" 0 "the worker stops cleanly"

# ---- the child dies holding a job its ack took ----
a=$(enqueue noop)
b=$(enqueue noop)
export ACME_FAILPOINTS='worker.after-ack=1*pause'
start_worker w2 -Q default=1
unset ACME_FAILPOINTS
pid=$(fp_reached "$TEST_TMP/w2.log" worker.after-ack)
t_like "$pid" '^[0-9]+$' "the child acked its first job and stopped"
t_is "$(rcol "$a" state)" succeeded "the first job is acked"
t_is "$(rcol "$b" state) $(rcol "$b" attempts)" "running 1" "the same round trip took the second"
t_like "$(rcol "$b" worker)" ":$pid:" "for that child"
t_ok "kill -9 of the child" kill -KILL "$pid"
t_ok "the second job runs and succeeds" wait_for 60 "[ \"\$(rcol $b state)\" = succeeded ]"
t_is "$(rcol "$b" attempts)" 1 "its lost fetch did not count as an attempt"
t_like "$(cat "$TEST_TMP/w2.log")" "job $b: taken by a child that stopped before starting it; released" \
	"the supervisor gave it back at once and said so"
t_ok "its row says so too" wait_for 30 "[ \"\$(job_col $b state)\" = succeeded ]"
stop_worker w2

# ---- the child stops holding one: it gives it back ----
c=$(enqueue noop)
d=$(enqueue noop)
export ACME_FAILPOINTS='worker.after-ack=1*pause'
start_worker w3 -Q default=1
unset ACME_FAILPOINTS
pid=$(fp_reached "$TEST_TMP/w3.log" worker.after-ack)
t_is "$(rcol "$c" state) $(rcol "$d" state)" "succeeded running" "an ack took the next job"
t_ok "the queue is paused (a new child must not take it back)" acmectl -q jobs pause default
t_ok "the child is told to stop, and goes on" sh -c "kill -TERM $pid && kill -CONT $pid"
t_ok "it gives the job back, unstarted" wait_for 60 "[ \"\$(rcol $d state)\" = queued ]"
t_is "$(rcol "$d" attempts)" 0 "not counted as an attempt"
t_ok "the queue resumes" acmectl -q jobs resume default
t_ok "the job runs" wait_for 60 "[ \"\$(rcol $d state)\" = succeeded ]"
t_is "$(rcol "$d" attempts)" 1 "once"
stop_worker w3
t_is "$W_STATUS" 0 "the worker stops cleanly"

t_done
