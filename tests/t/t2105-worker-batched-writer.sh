#!/bin/sh
# The worker's batched jobs-table writer (core/completer; issue 15): each
# child hands the rows' state changes to a thread that writes them many per
# statement. Checked here: every job's row ends succeeded with its times
# in order, whatever batches carried it; an unfenced job (noop without
# commit) sends its start and its end through the writer, a fenced one
# (noop with commit: job_start, then its outcome committed with its effect)
# only its end, and its effect is committed once; the writer accounts for
# every state it took (written, never silently dropped) and says how many
# statements it used; a burst run leaves nothing unwritten (the writer is
# flushed before a child exits), and a running worker's rows follow without a
# flush. PostgreSQL going away under the writer is
# in t2130, a child killed before its writer wrote in t7000.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

# the writer's closing lines of one run: "... N job states in M statements"
states() { sed -n 's/.*jobs table writer: \([0-9]*\) job states* in \([0-9]*\) statements*.*/\1 \2/p' "$1"; }
sum() { awk -v c="$1" '{ s += $c } END { print s + 0 }'; }

# ---- unfenced: 400 noop jobs, 2 children ----
t_ok "400 noop jobs enqueued" acmectl jobs enqueue noop --count 400
t_ok "a burst run with two children ends" timeout 120 "$ACMECTL" worker --burst -Q default=2
cp "$TEST_TMP/err" "$TEST_TMP/b1.err"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE type = 'noop' AND state = 'succeeded' AND attempts = 1
	AND started_at IS NOT NULL AND finished_at >= started_at")" 400 \
	"every row says succeeded at the first attempt, started and finished in order"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE state <> 'succeeded'")" 0 "no row is left behind"
t_is "$(states "$TEST_TMP/b1.err" | wc -l | tr -d ' ')" 2 "each child's writer reports at exit"
t_is "$(states "$TEST_TMP/b1.err" | sum 1)" 800 "800 states written: each job's start and end"
st=$(states "$TEST_TMP/b1.err" | sum 2)
t_ok "in $st statements, at most one per state" test "$st" -ge 1 -a "$st" -le 800
t_unlike "$(cat "$TEST_TMP/b1.err")" "not recorded in PostgreSQL|dropping" "nothing dropped or left unwritten"

# ---- fenced: noop with commit ----
t_ok "30 noop jobs that commit" acmectl jobs enqueue noop --payload '{"commit": "t2105"}' --count 30
t_ok "a burst run with one child ends" timeout 120 "$ACMECTL" worker --burst -Q default=1
cp "$TEST_TMP/err" "$TEST_TMP/b2.err"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'noop commit' AND target = 't2105'")" 30 \
	"each committed its effect once"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE payload->>'commit' = 't2105' AND state = 'succeeded'")" 30 \
	"and its row says succeeded"
t_is "$(states "$TEST_TMP/b2.err" | sum 1)" 30 \
	"the writer took only their ends (the start is written before the handler runs)"

# ---- a running worker's writer writes without being flushed ----
# (it lingers up to 10 ms for a batch, and adds do not wake it meanwhile: a
# wake-up lost there would leave the rows until the worker stops)
start_worker live -Q default=1
t_ok "3 jobs for a running worker" acmectl jobs enqueue noop --payload '{"sleep_ms": 1}' --count 3
live_rows() { tpsql -c "SELECT count(*) FROM jobs WHERE payload->>'sleep_ms' = '1' AND state = 'succeeded'"; }
t_ok "their rows say succeeded while the worker runs" wait_for 60 '[ "$(live_rows)" = 3 ]'
t_ok "the worker is still running" kill -0 "$(worker_pid live)"
# the writer, not the reconciler (which repairs only rows untouched for 10 s)
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE payload->>'sleep_ms' = '1'
	AND updated_at < finished_at + interval '5 seconds'")" 3 "written by the writer as they finished"
stop_worker live
t_is "$W_STATUS" 0 "it stops cleanly"
t_done
