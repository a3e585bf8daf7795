#!/bin/sh
# core/jobwatch, the one live view of a job that `jobs watch`, `import --wait`
# and the TUI share (issue 12): it subscribes first and then reads the state,
# so a change right after the snapshot arrives as an event; it reconnects by
# itself when Redis drops the subscription, and loses nothing.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

jget() {
	printf '%s' "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
# take the job as a worker would, then finish it: two state events
run_by_hand() {	# ID
	_out=$(acme_queue dequeue --lease 30s --worker t2300) || return 1
	[ "$(jget "$_out" id)" = "$1" ] || return 1
	acme_queue ack "$1" "$(jget "$_out" token)" >/dev/null
}
kill_subscribers() { [ "$(tredis CLIENT KILL TYPE pubsub)" -ge 1 ]; }
states() {	# FILE: the "state" events' states, in order
	grep '"event":"state"' "$1" | python3 -c 'import json, sys
print(" ".join(json.loads(l)["state"] for l in sys.stdin))'
}

# ---- no gap: what happens right after the snapshot comes as events ----
job=$(enqueue noop)
ACME_FAILPOINTS='jobwatch.after-snapshot=1*pause' "$ACMECTL" jobs watch "$job" -o ndjson \
	>"$TEST_TMP/gap.out" 2>"$TEST_TMP/gap.err" &
watcher=$!
t_ok "the watch stops after its snapshot" wait_for 30 \
	"grep -q 'failpoint jobwatch.after-snapshot reached' '$TEST_TMP/gap.err'"
t_ok "meanwhile the job runs and succeeds" run_by_hand "$job"
kill -CONT "$watcher"
wait "$watcher"
t_is "$?" 0 "the watch ends with the job's success"
t_json "$(head -n 1 "$TEST_TMP/gap.out")" "d['event'] == 'snapshot' and d['state'] == 'queued'" \
	"its first line is the snapshot taken before the job ran"
t_is "$(states "$TEST_TMP/gap.out")" "running succeeded" \
	"the changes after the snapshot arrive as events over the subscription it made first"

# ---- the subscription is killed: it reconnects and catches up ----
job=$(enqueue noop)
"$ACMECTL" jobs watch "$job" -o ndjson >"$TEST_TMP/rc.out" 2>"$TEST_TMP/rc.err" &
watcher=$!
t_ok "the watch is under way" wait_for 30 "[ -s '$TEST_TMP/rc.out' ]"
t_ok "Redis drops every subscriber" kill_subscribers
t_ok "the watch says it reconnects" wait_for 30 "grep -q 'reconnecting' '$TEST_TMP/rc.err'"
t_ok "the job runs and succeeds" run_by_hand "$job"
wait "$watcher"
t_is "$?" 0 "the watch still ends with the job's success"
t_like "$(tail -n 1 "$TEST_TMP/rc.out")" '"state":"succeeded"' "and its last line says so"

# ---- import --wait follows through the same watch, across a reconnect ----
printf 'sku,name,price\nJW-1,One,1.00\n' >"$TEST_TMP/one.csv"
ACME_FAILPOINTS='jobwatch.after-snapshot=1*pause' "$ACMECTL" import "$TEST_TMP/one.csv" --wait \
	-o ndjson >"$TEST_TMP/imp.out" 2>"$TEST_TMP/imp.err" &
importer=$!
t_ok "import --wait stops after its snapshot" wait_for 30 \
	"grep -q 'failpoint jobwatch.after-snapshot reached' '$TEST_TMP/imp.err'"
t_ok "Redis drops every subscriber" kill_subscribers
start_worker w -Q import=1
kill -CONT "$importer"
wait "$importer"
t_is "$?" 0 "the import is followed to its end"
t_json "$(grep '"event":"summary"' "$TEST_TMP/imp.out")" \
	"d['state'] == 'succeeded' and d['inserted'] == 1" "with its summary"
stop_worker w

t_done
