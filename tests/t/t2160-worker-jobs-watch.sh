#!/bin/sh
# acmectl jobs watch: live state and progress over pub/sub while a worker
# runs the job; -o ndjson streams events; the exit status is the outcome
# (0 succeeded, 65 failed: refused, 1 dead, 4 cancelled: core/jobwait.h,
# the same as import --wait, t2250); Ctrl-C detaches.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

t_exit 3 "an unknown job" acmectl jobs watch no-such-job
t_exit 2 "a job id is required" acmectl jobs watch

start_worker w -Q default=1 --lease 3s

# Each watch starts while the queue is paused and the job waits, and the
# queue is resumed once the watcher has printed its first event, so the
# watcher sees every transition whatever the machine's load.
watch_bg() {	# NAME ID [watch options]: start a watcher; WATCHER is its pid
	_n=$1; shift
	"$ACMECTL" jobs watch "$@" >"$TEST_TMP/$_n.out" 2>"$TEST_TMP/$_n.err" &
	WATCHER=$!
	wait_for 30 "[ -s '$TEST_TMP/$_n.out' ]"
}

# ---- success, with progress ----
acmectl -q jobs pause default >/dev/null
job=$(enqueue noop '{"sleep_ms": 1200, "progress_steps": 4}')
watch_bg ok "$job" -o ndjson
acmectl -q jobs resume default >/dev/null
wait "$WATCHER"
t_is "$?" 0 "watching a job until it succeeds exits 0"
cp "$TEST_TMP/ok.out" "$TEST_TMP/events"
t_json "$(head -n 1 "$TEST_TMP/events")" "d['event'] == 'snapshot' and d['id'] == '$job' and
	d['state'] == 'queued'" "the first event is the job's state when watching began"
t_is "$(grep -c '"event":"progress"' "$TEST_TMP/events")" 4 "four progress events"
t_json "$(grep '"event":"progress"' "$TEST_TMP/events" | tail -n 1)" \
	"d['progress'] == {'step': 4, 'steps': 4} and d['state'] == 'running'" "with the handler's progress"
t_like "$(grep '"event":"state"' "$TEST_TMP/events" | python3 -c 'import json,sys
print(" ".join(json.loads(l)["state"] for l in sys.stdin))')" '^running succeeded$' \
	"state events: running, succeeded"
t_json "$(tail -n 1 "$TEST_TMP/events")" "d['state'] == 'succeeded' and d['version'] > 0 and d['ts'].endswith('Z') and d['ts'][10] == 'T'" \
	"the last event is the outcome"

# ---- a finished job: at once ----
t_ok "watching a finished job prints its state and exits 0" acmectl jobs watch "$job"
t_like "$OUT" 'snapshot succeeded \(attempt 1\)' "for people: one line"

# ---- failure with retries: exit 1 ----
acmectl -q jobs pause default >/dev/null
job=$(enqueue noop '{"fail": true}' --max-attempts 2)
watch_bg dead "$job"
acmectl -q jobs resume default >/dev/null
wait "$WATCHER"
t_is "$?" 1 "a job that ends dead exits 1"
# (live events said "attempt 0" before issue 11)
t_like "$(cat "$TEST_TMP/dead.out")" 'retrying \(attempt 1\): noop: failing as asked' "the retry is shown with its attempt and error"
t_like "$(cat "$TEST_TMP/dead.out")" 'dead \(attempt 2\): noop: failing as asked' "so is the end"
t_like "$(cat "$TEST_TMP/dead.err")" "job $job failed after 2 attempts: noop: failing as asked" "the error says how it ended"

job=$(enqueue noop '{"bogus": 1}')
t_exit 65 "a job refused for its input (failed at once) exits 65" acmectl jobs watch "$job" -o ndjson
t_like "$(printf '%s\n' "$OUT" | tail -n 1)" '"state":"failed"' "state failed"

# ---- cancel: exit 4 ----
job=$(enqueue noop '{"sleep_ms": 3600000}')
t_ok "the job runs" wait_for 15 "[ \"\$(job_col $job state)\" = running ]"
watch_bg cancel "$job" -o ndjson
t_ok "cancel it" acmectl jobs cancel "$job"
wait "$WATCHER"
t_is "$?" 4 "watching a job that gets cancelled exits 4"
t_like "$(cat "$TEST_TMP/cancel.out")" '"event":"cancel_requested"' "the cancel request is an event"
t_like "$(tail -n 1 "$TEST_TMP/cancel.out")" '"state":"cancelled"' "the last event says cancelled"

# ---- Ctrl-C detaches ----
job=$(enqueue noop '{"sleep_ms": 3600000}')
t_ok "a long job runs" wait_for 15 "[ \"\$(job_col $job state)\" = running ]"
"$ACMECTL" jobs watch "$job" >"$TEST_TMP/int.out" 2>"$TEST_TMP/int.err" &
watcher=$!
t_ok "the watcher prints the job's state" wait_for 10 "grep -q running '$TEST_TMP/int.out'"
kill -INT "$watcher"
wait "$watcher"
t_is "$?" 130 "Ctrl-C detaches with status 130"
t_like "$(cat "$TEST_TMP/int.err")" "detached from job $job; it goes on" "saying the job goes on"
t_is "$(job_col "$job" state)" running "the job was not touched"
t_ok "(cancel it)" acmectl jobs cancel "$job"
t_ok "(it ends)" wait_for 15 "[ \"\$(job_col $job state)\" = cancelled ]"

stop_worker w
t_done
