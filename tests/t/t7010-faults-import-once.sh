#!/bin/sh
# An import is applied once, whatever fails around its commit (issue 10, fix
# 1). The transaction that applies an import also records the job as
# succeeded with its result (job_commit), so a later attempt finds it
# finished, acks it without running again and emits nothing.
# Regression: the commit recorded nothing in the jobs row, so a worker killed
# after COMMIT (its ack lost) or a reap landing between the fence and COMMIT
# re-ran the whole import: a second import.completed with "0 inserted / N
# unchanged" counts, and product edits made between the attempts overwritten.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

P=$ACME_REDIS_PREFIX
rstate() { tredis HGET "${P}{import}:job:$1" state; }
completed() {
	tpsql -c "SELECT count(*) FROM outbox WHERE event_type = 'import.completed' AND payload->>'job_id' = '$1'"
}
printf 'sku,name,price\nONCE-1,First,1.00\nONCE-2,Second,2.00\nONCE-3,Third,3.00\n' >"$TEST_TMP/a.csv"

# ---- killed after COMMIT, before the ack; a product edited in between ----
export ACME_FAILPOINTS='import.after-commit=1*pause'
start_worker w1 -Q import=1
unset ACME_FAILPOINTS
t_ok "import" acmectl -q import "$TEST_TMP/a.csv"
job=$OUT
pid=$(fp_reached "$TEST_TMP/w1.log" import.after-commit)
t_like "$pid" '^[0-9]+$' "the child committed and stopped before its ack"
t_is "$(job_col "$job" state) $(completed "$job")" "succeeded 1" \
	"the commit recorded the job as succeeded, with one import.completed"
t_ok "a product is edited after the commit" acmectl products update ONCE-2 --name Edited
t_ok "kill -9 of the child before it acked" kill -KILL "$pid"
t_ok "the job ends succeeded in Redis too" wait_for 60 "[ \"\$(rstate $job)\" = succeeded ]"
t_is "$(tredis HGET "${P}{import}:job:$job" attempts)" 2 "after a second attempt"
t_like "$(cat "$TEST_TMP/w1.log")" "job $job: already succeeded in the jobs table .*not run again" \
	"which found it finished and did not run it again"
t_is "$(completed "$job")" 1 "still exactly one import.completed"
t_is "$(tpsql -c "SELECT name FROM products WHERE sku = 'ONCE-2'")" Edited "the edit made between the attempts stands"
t_json "$(tpsql -c "SELECT result FROM jobs WHERE id = '$job'")" \
	"d['inserted'] == 3 and d['unchanged'] == 0" "the recorded result is the first attempt's"
t_json "$(tredis HGET "${P}{import}:job:$job" result)" "d['inserted'] == 3" "and Redis got the same result"
stop_worker w1

# ---- the reaper lands between the fence and COMMIT ----
# job.after-fence holds the child with the row locked and the outcome
# written; the lease is then expired in Redis and reaped (the reaper's write
# to the row waits for the lock); the child commits.
printf 'sku,name\nRACE-1,One\nRACE-2,Two\n' >"$TEST_TMP/b.csv"
export ACME_FAILPOINTS='job.after-fence=1*pause'
start_worker w2 -Q import=1
unset ACME_FAILPOINTS
t_ok "import" acmectl -q import "$TEST_TMP/b.csv"
job=$OUT
pid=$(fp_reached "$TEST_TMP/w2.log" job.after-fence)
t_like "$pid" '^[0-9]+$' "the child holds the fence, COMMIT not sent"
tredis ZADD "${P}{import}:active" 1 "$job" >/dev/null
t_ok "the lease is reaped meanwhile" wait_for 30 "[ \"\$(rstate $job)\" = retrying ]"
t_ok "the child goes on and commits" kill -CONT "$pid"
t_ok "the job ends succeeded in Redis" wait_for 60 "[ \"\$(rstate $job)\" = succeeded ]"
t_is "$(job_col "$job" state)" succeeded "and in the jobs table (the reaper's write did not undo it)"
t_is "$(completed "$job")" 1 "exactly one import.completed"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku LIKE 'RACE-%'")" 2 "the rows are there"
t_like "$(cat "$TEST_TMP/w2.log")" "job $job: its work finished, but the lease was lost before it was reported" \
	"the child says its report came too late"
t_like "$(cat "$TEST_TMP/w2.log")" "job $job: already succeeded in the jobs table" \
	"the retry found it finished"
stop_worker w2

# ---- killed before COMMIT: the retry applies it, once ----
printf 'sku,name\nKILL-1,One\n' >"$TEST_TMP/c.csv"
export ACME_FAILPOINTS='import.before-commit=1*exit'
start_worker w3 -Q import=1
unset ACME_FAILPOINTS
t_ok "import" acmectl -q import "$TEST_TMP/c.csv"
job=$OUT
t_ok "the job succeeds" wait_for 60 "[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(job_col "$job" attempts) $(completed "$job")" "2 1" "on its second attempt, with one event"
t_json "$(tpsql -c "SELECT result FROM jobs WHERE id = '$job'")" "d['inserted'] == 1" \
	"nothing of the killed attempt was applied"
stop_worker w3

t_done
