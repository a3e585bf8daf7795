#!/bin/sh
# Waits end: `import --wait`, `jobs watch` and `webhooks test --wait` take
# --timeout DUR and then exit 75 saying the job stays queued, with its id.
# Piped, a job that no worker takes gets one line on stderr saying no live
# worker serves its queue (named) and how to start one, decided from the
# workers' heartbeat records: a worker serving only other queues does not
# count, a worker serving the queue gets no such line, a paused queue says
# it is paused.
# What broke (issue 11): `import --wait | cat` with no worker hung silently
# for ever.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

# the 5 s grace before the hint, shortened for the test (hidden)
export ACME_WAIT_HINT_AFTER=0

# run_piped NAME CMD...: CMD with stdout into a pipe (| cat), stderr in
# $TEST_TMP/NAME.err; its exit status in RC
run_piped() {
	_n=$1; shift
	{ "$@" 2>"$TEST_TMP/$_n.err"; echo $? >"$TEST_TMP/$_n.rc"; } | cat >"$TEST_TMP/$_n.out"
	RC=$(cat "$TEST_TMP/$_n.rc")
	ERR=$(cat "$TEST_TMP/$_n.err")
}

live_workers() { acmectl jobs workers -o json 2>/dev/null | python3 -c 'import json,sys
d = json.load(sys.stdin)
print(len(d["items"] if isinstance(d, dict) else d))'; }

t_exit 2 "import --timeout needs --wait" acmectl import /dev/null --timeout 2s
t_exit 2 "jobs watch --timeout takes a duration" acmectl jobs watch 01ZZZZZZZZZZZZZZZZZZZZZZZZ --timeout soon

# ---- no worker at all ----
printf 'sku,name\nT-1,One\n' >"$TEST_TMP/one.csv"
run_piped imp acmectl import "$TEST_TMP/one.csv" --wait --timeout 2s
job=$(tpsql -c "SELECT id FROM jobs WHERE type = 'import' ORDER BY created_at DESC LIMIT 1")
t_is "$RC" 75 "import --wait --timeout 2s | cat without a worker exits 75"
t_like "$ERR" "no live worker serves queue import; start one with 'acmectl worker --queues import'" \
	"a line says no live worker serves the queue and how to start one"
t_is "$(grep -c 'no live worker serves' "$TEST_TMP/imp.err")" 2 "once as a line, once in the final message"
t_like "$(tail -n 1 "$TEST_TMP/imp.err")" \
	"import $job: not finished within 2s: it stays queued \\(no live worker .*\\); follow it with 'acmectl jobs watch $job'" \
	"at the timeout it says the job stays queued, with its id"
t_is "$(tpsql -c "SELECT state FROM jobs WHERE id = '$job'")" queued "the job is still queued"

run_piped watch acmectl jobs watch "$job" --timeout 1s
t_is "$RC" 75 "jobs watch --timeout 1s on a job no worker takes exits 75"
t_like "$ERR" "no live worker serves queue import; start one with 'acmectl worker --queues import'" "with the line"
t_like "$(tail -n 1 "$TEST_TMP/watch.err")" "job $job: not finished within 1s: it stays queued .*'acmectl jobs watch $job' follows it again" \
	"and says the job stays queued"

run_piped watchj acmectl jobs watch "$job" --timeout 1s -o ndjson
t_json "$(tail -n 1 "$TEST_TMP/watchj.out")" "d['event'] == 'timeout' and d['id'] == '$job' and d['state'] == 'queued'" \
	"-o ndjson ends with a timeout event"

# ---- on a terminal: the line, and the status line shows it too ----
if command -v script >/dev/null 2>&1; then
	script -qec "'$ACMECTL' import '$TEST_TMP/one.csv' --wait --timeout 2s" /dev/null >"$TEST_TMP/tty" 2>&1
	t_is "$?" 75 "on a terminal: 75 at the timeout too"
	t_like "$(cat "$TEST_TMP/tty")" "acmectl: no live worker serves queue import; start one with" "the line"
	t_like "$(cat "$TEST_TMP/tty")" "queued: no live worker serves queue import" "and the status line"
else
	t_skip "script(1) not installed"
	t_skip "script(1) not installed"
	t_skip "script(1) not installed"
fi

# ---- a worker that serves another queue does not count ----
start_worker other -Q default=1
t_ok "(the worker's heartbeat is up)" wait_for 30 "[ \"\$(live_workers)\" = 1 ]"
run_piped other acmectl jobs watch "$job" --timeout 1s
t_is "$RC" 75 "still 75"
t_like "$ERR" "no live worker serves queue import \\(the live workers serve other queues\\)" \
	"the line says so, from the heartbeat records"

# ---- a worker that serves the queue, which is paused ----
acmectl -q jobs pause import >/dev/null
start_worker imp -Q import=1
t_ok "(its heartbeat is up)" wait_for 30 "[ \"\$(live_workers)\" = 2 ]"
run_piped paused acmectl jobs watch "$job" --timeout 1s
t_is "$RC" 75 "a paused queue: 75"
t_unlike "$ERR" "no live worker" "a worker serves the queue: no 'no live worker' line"
t_like "$ERR" "queue import is paused: no worker takes its jobs; 'acmectl jobs resume import' lets them run" \
	"it says the queue is paused"
acmectl -q jobs resume import >/dev/null
t_ok "resumed, the job runs and watch ends with its outcome" acmectl jobs watch "$job" --timeout 60s
t_unlike "$ERR" "no live worker|paused" "no hint for a job a worker takes"
stop_worker imp
stop_worker other

# ---- webhooks test --wait ----
t_ok "an endpoint" acmectl webhooks add "http://127.0.0.1:9/hook" --event product.created
wid=$(tpsql -c "SELECT max(id) FROM webhooks")
run_piped wh acmectl webhooks test "$wid" --wait --timeout 2s
t_is "$RC" 75 "webhooks test --wait --timeout 2s without a worker exits 75"
t_like "$ERR" "no live worker serves queue webhooks; start one with 'acmectl worker --queues webhooks'" \
	"with the line naming the webhooks queue"
t_like "$(tail -n 1 "$TEST_TMP/wh.err")" "no outcome for test evt_[0-9]+ within 2000 ms .*it is still queued" \
	"and says the test stays queued"

t_done
