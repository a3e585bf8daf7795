#!/bin/sh
# The TUI's Jobs tab in tmux against the test servers and a real worker:
# jobs appear with their state; a scheduled job cancelled with c + y; a dead
# job retried with R; the details pane with the error, and an import's
# rejected rows; the filter form and :filter.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$(dirname "$0")/../lib/tui-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"
. "$TEST_TOP/tests/lib/import-lib.sh"

# an import with rejected rows (a burst worker on the import queue)
{
	printf 'SKU,Name,price\n'
	printf 'I-1,Good,1.00\n'
	printf 'I-2,Bad price,12.5.0\n'
} >"$TEST_TMP/in.csv"
t_import 65 "an import with a rejected row" "$TEST_TMP/in.csv"
imp=$(summary job_id)

start_worker w -Q default=1 --lease 3s
ok=$(enqueue noop '{}')
dead=$(enqueue noop '{"fail": true}' --max-attempts 1)
wait_for 30 "[ \"\$(job_col $ok state)\" = succeeded ] && [ \"\$(job_col $dead state)\" = dead ]"
t_is "$(job_col "$dead" state)" dead "a job that fails ends dead"
sched=$(enqueue noop '{}' --delay 1h)

tui_start --tab jobs
tui_wait "$sched" && t_ok "the Jobs tab lists the newest job" true || t_ok "jobs listed" false
scr=$(tui_screen)
t_like "$scr" "$sched +noop +default +scheduled" "a scheduled job with its type, queue and state"
t_like "$scr" "$dead +noop +default +dead +1/1 .*noop: failing" "a dead job with its attempts and error"
t_like "$scr" "$ok +noop +default +succeeded" "a succeeded job"
t_like "$scr" "$imp +import +import +succeeded" "the import job"

# live: a job enqueued now appears by itself
acmectl -q jobs pause default >/dev/null
live=$(enqueue noop '{}')
tui_wait "$live" && t_ok "a new job appears without a key" true || t_ok "live" false
t_like "$(tui_screen)" "$live +noop +default +queued" "queued while its queue is paused"
acmectl -q jobs resume default >/dev/null
tui_wait_re "$live +noop +default +succeeded" && t_ok "its state moves on by itself" true ||
	t_ok "state moves" false

# a running job with progress: a bar and its percentage
prog=$(enqueue noop '{"sleep_ms": 6000, "progress_steps": 3}')
tui_wait_re "$prog +noop +default +running +1/3 .* (33|67)%" 20 &&
	t_ok "a running job shows its progress" true || t_ok "progress" false
tui_wait_re "$prog +noop +default +succeeded" 20

# cancel the scheduled job: filter to it, c, n keeps it, c + y cancels it
tui_keys : ; tui_type "filter scheduled" ; tui_keys Enter
tui_wait "filter state=scheduled"
tui_wait_gone "$ok"
t_like "$(tui_screen)" "$sched +noop +default +scheduled" ":filter STATE shows only that state"
tui_keys c
tui_wait "[y/N]"
t_like "$(tui_screen)" "cancel job $sched" "c asks before cancelling"
tui_keys n
tui_wait "not cancelled"
t_is "$(job_col "$sched" state)" scheduled "n keeps the job"
tui_keys c
tui_wait "[y/N]"
tui_keys y
tui_wait "job $sched cancelled" && t_ok "c + y cancels the job" true || t_ok "cancel" false
t_is "$(job_col "$sched" state)" cancelled "the database says cancelled"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'tui jobs cancel' AND target LIKE '%$sched%'")" 1 \
	"the cancel is audited"

# the filter form: state dead
tui_keys f
tui_wait "Filter jobs"
tui_keys C-s
tui_wait_gone "Filter jobs"
tui_keys : ; tui_type "filter state=dead queue=default" ; tui_keys Enter
tui_wait "filter state=dead queue=default"
tui_wait_gone "$sched"
t_like "$(tui_screen)" "$dead +noop +default +dead" ":filter state=dead queue=default shows the dead job"
tui_keys : ; tui_type "filter bogus=1 state=nosuch" ; tui_keys Enter
tui_wait "unknown job state" && t_ok "a bad filter says why" true || t_ok "bad filter" false

# details of the dead job
tui_keys Enter
tui_wait "Esc closes" && t_ok "Enter opens the details" true || t_ok "details" false
scr=$(tui_screen)
t_like "$scr" "Job $dead" "the details name the job"
t_like "$scr" 'Error: +noop: failing as asked' "the details show its error"
t_like "$scr" 'Attempts: 1/1' "and its attempts"
tui_keys Escape
tui_wait_gone "Esc closes"

# retry it (its queue paused so the retried job stays queued for the check)
acmectl -q jobs pause default >/dev/null
tui_keys R
tui_wait "job $dead queued again on default" && t_ok "R retries the dead job" true || t_ok "retry" false
t_is "$(job_col "$dead" state)" queued "the database says queued again"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'tui jobs retry'")" 1 "the retry is audited"
tui_keys : ; tui_type "filter queued" ; tui_keys Enter
tui_wait_re "$dead +noop +default +queued"
tui_keys R
tui_wait "not retried" && t_ok "retrying a queued job is refused" true || t_ok "retry refused" false
acmectl -q jobs resume default >/dev/null

# the import's details: its rejected row
tui_keys : ; tui_type "filter type=import" ; tui_keys Enter
tui_wait "filter type=import"
tui_wait "$imp"
tui_keys g Enter
tui_wait "Rejected rows (1" && t_ok "an import's details show its rejected rows" true ||
	t_ok "rejected rows" false
t_like "$(tui_screen)" 'line 3, price: .*12\.5\.0' "the rejected row with its line, column and reason"
tui_keys Escape

# :filter with no words clears it; q quits
tui_keys : ; tui_type "filter " ; tui_keys Enter
tui_wait "$ok"
t_unlike "$(tui_screen)" "filter state" "an empty :filter clears the filter"
# 80x24: the rows still fit (fewer columns)
tui_resize 80 24
tui_wait_re "$ok +noop +default +succeeded" 10 &&
	t_ok "at 80x24 a job's id, type, queue and state are shown" true || t_ok "80x24" false

# keyset paging: more jobs than fit at 80x24 (19 rows)
for _ in $(seq 1 20); do enqueue noop '{}' --delay 1h >/dev/null; done
tui_wait "(PgDn: older)" && t_ok "more jobs than fit: the summary offers the older ones" true ||
	t_ok "more jobs" false
tui_keys NPage
tui_wait_re "jobs 20-[0-9]+, newest first" && t_ok "PgDn shows the next page (older jobs)" true ||
	t_ok "PgDn" false
# (the list refreshes every second: wait for the row, do not sample once)
tui_wait_re "$ok +noop +default +succeeded" && t_ok "the older page has the first jobs" true ||
	t_ok "the older page has the first jobs" false
tui_keys PPage
tui_wait "jobs 1-19, newest first" && t_ok "PgUp goes back to the newest page" true || t_ok "PgUp" false
tui_keys q
tui_wait_exit && t_is "$TUI_EXIT" 0 "q quits with status 0"

t_done
