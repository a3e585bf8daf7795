#!/bin/sh
# acmectl jobs watch: live state and progress over pub/sub while a worker
# runs the job; -o ndjson streams events; the exit status is the outcome
# (0 succeeded, 1 dead or failed, 4 cancelled); Ctrl-C detaches.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

t_exit 3 "an unknown job" acmectl jobs watch no-such-job
t_exit 2 "a job id is required" acmectl jobs watch

start_worker w -Q default=1 --lease 3s

# ---- success, with progress ----
job=$(enqueue noop '{"sleep_ms": 1200, "progress_steps": 4}' --delay 1s)
t_ok "watching a job until it succeeds exits 0" acmectl jobs watch "$job" -o ndjson
printf '%s\n' "$OUT" >"$TEST_TMP/events"
t_json "$(head -n 1 "$TEST_TMP/events")" "d['event'] == 'snapshot' and d['id'] == '$job' and
	d['state'] == 'scheduled'" "the first event is the job's state when watching began"
t_is "$(grep -c '"event":"progress"' "$TEST_TMP/events")" 4 "four progress events"
t_json "$(grep '"event":"progress"' "$TEST_TMP/events" | tail -n 1)" \
	"d['progress'] == {'step': 4, 'steps': 4} and d['state'] == 'running'" "with the handler's progress"
t_like "$(grep '"event":"state"' "$TEST_TMP/events" | python3 -c 'import json,sys
print(" ".join(json.loads(l)["state"] for l in sys.stdin))')" '^queued running succeeded$' \
	"state events: queued, running, succeeded"
t_json "$(tail -n 1 "$TEST_TMP/events")" "d['state'] == 'succeeded' and d['version'] > 0 and d['ts'] > 0" \
	"the last event is the outcome"

# ---- a finished job: at once ----
t_ok "watching a finished job prints its state and exits 0" acmectl jobs watch "$job"
t_like "$OUT" 'snapshot succeeded \(attempt 1\)' "for people: one line"

# ---- failure with retries: exit 1 ----
job=$(enqueue noop '{"fail": true}' --max-attempts 2)
t_exit 1 "a job that ends dead exits 1" acmectl jobs watch "$job"
t_like "$OUT" 'retrying \(attempt 1\): noop: failing as asked' "the retry is shown with its error"
t_like "$ERR" "job $job dead: noop: failing as asked" "the error says how it ended"

job=$(enqueue noop '{"bogus": 1}')
t_exit 1 "a job that fails permanently exits 1" acmectl jobs watch "$job" -o ndjson
t_like "$(printf '%s\n' "$OUT" | tail -n 1)" '"state":"failed"' "state failed"

# ---- cancel: exit 4 ----
job=$(enqueue noop '{"sleep_ms": 10000}')
"$ACMECTL" jobs watch "$job" -o ndjson >"$TEST_TMP/cancel.out" 2>"$TEST_TMP/cancel.err" &
watcher=$!
t_ok "the job runs" wait_for 15 "[ \"\$(job_col $job state)\" = running ]"
t_ok "cancel it" acmectl jobs cancel "$job"
wait "$watcher"
t_is "$?" 4 "watching a job that gets cancelled exits 4"
t_like "$(cat "$TEST_TMP/cancel.out")" '"event":"cancel_requested"' "the cancel request is an event"
t_like "$(tail -n 1 "$TEST_TMP/cancel.out")" '"state":"cancelled"' "the last event says cancelled"

# ---- Ctrl-C detaches ----
job=$(enqueue noop '{"sleep_ms": 4000}')
t_ok "a long job runs" wait_for 15 "[ \"\$(job_col $job state)\" = running ]"
"$ACMECTL" jobs watch "$job" >"$TEST_TMP/int.out" 2>"$TEST_TMP/int.err" &
watcher=$!
t_ok "the watcher prints the job's state" wait_for 10 "grep -q running '$TEST_TMP/int.out'"
kill -INT "$watcher"
wait "$watcher"
t_is "$?" 130 "Ctrl-C detaches with status 130"
t_like "$(cat "$TEST_TMP/int.err")" "detached from job $job; it goes on" "saying the job goes on"
t_ok "the job was not touched and succeeds" wait_for 15 "[ \"\$(job_col $job state)\" = succeeded ]"

stop_worker w
t_done
