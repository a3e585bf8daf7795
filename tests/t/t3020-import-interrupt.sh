#!/bin/sh
# import: interruptions and concurrency. Progress comes through parse and
# merge in order; Ctrl-C on `import --wait` detaches and the job goes on; a
# cancel before the merge rolls everything back (exit 4); a worker child
# killed before its commit, then the retry, gives exactly the catalog of a
# clean run and one import.completed event; a job that keeps failing ends
# dead (exit 1) with nothing applied; two imports of overlapping files at
# once finish without deadlock with the catalog of one serial order.
# Faults are placed with failpoints, never by the timing of a signal (the
# rate of progress events is a figure for `make bench`, not a test).
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/import-lib.sh"

worker_pid=
stop_worker() {
	[ -n "$worker_pid" ] || return 0
	kill -TERM "$worker_pid" 2>/dev/null
	wait "$worker_pid" 2>/dev/null
	worker_pid=
}
trap 'stop_worker; _t_cleanup' EXIT

gen=$TEST_TOP/tests/bench/gen-catalog.py
python3 "$gen" -n 25000 -o "$TEST_TMP/big.csv"

# ---- a clean run: the reference catalog, and its progress ----
t_import 0 "a clean import of 25,000 rows" "$TEST_TMP/big.csv" -o json
clean=$(catalog | md5sum)
printf '%s\n' "$OUT" >"$TEST_TMP/events"
t_json "$(python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
p = [e for e in ev if e["event"] == "progress" and e["phase"] in ("parse", "merge")]
phases = [e["phase"] for e in p]
print(json.dumps({"phases": sorted(set(phases)),
                  "ordered": phases == sorted(phases, key=lambda x: x != "parse"),
                  "monotonic": all(a["elapsed_ms"] <= b["elapsed_ms"] for a, b in zip(p, p[1:]))}))' "$TEST_TMP/events")" \
	"d['phases'] == ['merge', 'parse'] and d['ordered'] and d['monotonic']" \
	"progress events come through parse, then merge, in time order"

# ---- Ctrl-C while waiting detaches ----
printf 'sku,name\nCC-1,Control C\n' >"$TEST_TMP/cc.csv"
"$ACMECTL" import "$TEST_TMP/cc.csv" --wait -o ndjson >"$TEST_TMP/cc.out" 2>"$TEST_TMP/cc.err" &
pid=$!
# the first event is printed once it follows the job (its Ctrl-C handler set)
i=0
while ! grep -q '"event": *"state"' "$TEST_TMP/cc.out" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
t_like "$(grep '"event": *"state"' "$TEST_TMP/cc.out" | head -n 1)" '"state": *"queued"' \
	"it follows the job: its first state event is printed"
kill -INT "$pid"
wait "$pid"
t_is "$?" 130 "Ctrl-C on import --wait exits 130"
job=$(last_job)
t_like "$(cat "$TEST_TMP/cc.err")" "detached from job $job; it goes on in the worker. Follow it with 'acmectl jobs watch $job'" \
	"it says the job goes on and how to follow it again"
t_is "$(tpsql -c "SELECT state FROM jobs WHERE id = '$job'")" queued "the job was not cancelled"
run_worker
t_is "$(tpsql -c "SELECT state FROM jobs WHERE id = '$job'") $(tpsql -c "SELECT count(*) FROM products WHERE sku = 'CC-1'")" \
	"succeeded 1" "a worker then runs it"

# ---- cancel before the merge rolls back ----
# import.before-merge holds the child with every row staged; the cancel lands
# there, and the merge's first checkpoint stops and rolls back.
tpsql -c "TRUNCATE products"
"$ACMECTL" import "$TEST_TMP/big.csv" --wait >"$TEST_TMP/cancel.out" 2>"$TEST_TMP/cancel.err" &
pid=$!
wait_until "SELECT count(*) = 1 FROM jobs WHERE state = 'queued'" 10
export ACME_FAILPOINTS='import.before-merge=1*pause'
run_worker &
wpid=$!
unset ACME_FAILPOINTS
job=$(last_job)
i=0
child=
while [ -z "$child" ] && [ $i -lt 600 ]; do
	child=$(sed -n 's/.*failpoint import.before-merge reached (pid \([0-9]*\)).*/\1/p' "$WORKER_LOG" | tail -n 1)
	[ -n "$child" ] || sleep 0.1
	i=$((i + 1))
done
t_like "$child" '^[0-9]+$' "the import staged every row and stopped before the merge"
t_ok "jobs cancel before the merge" acmectl jobs cancel "$job"
t_ok "the child goes on" kill -CONT "$child"
wait "$wpid"
wait "$pid"
t_is "$?" 4 "import --wait of a cancelled job exits 4"
t_like "$(cat "$TEST_TMP/cancel.err")" "import $job was cancelled; nothing was applied" "it says nothing was applied"
t_is "$(tpsql -c "SELECT state FROM jobs WHERE id = '$job'")" cancelled "the job is cancelled"
t_is "$(tpsql -c "SELECT count(*) FROM products")" 0 "the cancelled import left no product"
t_is "$(tpsql -c "SELECT string_agg(event_type || ':' || (payload->>'cancelled'), ',') FROM outbox WHERE payload->>'job_id' = '$job'")" \
	"import.failed:true" "one import.failed event says it was cancelled"

# ---- the worker child killed before its commit, then the retry ----
# import.before-commit=1*exit: the child dies as if killed with everything
# merged but not committed; the retry applies the file once.
export ACME_FAILPOINTS='import.before-commit=1*exit'
"$ACMECTL" worker --queues import >>"$WORKER_LOG" 2>&1 &
worker_pid=$!
unset ACME_FAILPOINTS
t_ok "import without --wait" acmectl import "$TEST_TMP/big.csv"
job=$OUT
t_ok "the retry succeeds" wait_until "SELECT state = 'succeeded' FROM jobs WHERE id = '$job'" 120
t_like "$(cat "$WORKER_LOG")" "job $job: worker child [0-9]+ exited with status 137; will retry" \
	"the first attempt died before its commit"
t_is "$(tpsql -c "SELECT attempts FROM jobs WHERE id = '$job'")" 2 "it took two attempts"
t_is "$(catalog | md5sum)" "$clean" "the catalog is exactly that of a clean run"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE event_type = 'import.completed' AND payload->>'job_id' = '$job'")" 1 \
	"exactly one import.completed event"
t_json "$(result_of "$job")" "d['inserted'] + d['unchanged'] + d['duplicates'] == 25000 and d['updated'] == 0" \
	"the retry's counts add up"

# ---- a job that keeps failing ends dead: exit 1, nothing applied ----
tpsql -c "CREATE FUNCTION t_refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'refused by test trigger'; END \$\$;
	CREATE TRIGGER t_refuse BEFORE INSERT ON products FOR EACH ROW EXECUTE FUNCTION t_refuse()"
printf 'sku,name\nDEAD-1,Never\n' >"$TEST_TMP/dead.csv"
t_exit 1 "import --wait of a job that fails every attempt exits 1" acmectl import "$TEST_TMP/dead.csv" --wait
t_like "$ERR" "failed after 3 attempts, nothing applied: .*refused by test trigger" "it says why"
t_is "$(tpsql -c "SELECT state FROM jobs WHERE id = '$(last_job)'")" dead "the job is dead"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku = 'DEAD-1'")" 0 "nothing applied"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE payload->>'job_id' = '$(last_job)'")" 1 \
	"one import.failed event, for the last attempt only"
tpsql -c "DROP TRIGGER t_refuse ON products"
stop_worker

# ---- two imports of overlapping files at once ----
python3 "$gen" -n 10000 --seed 1 -o "$TEST_TMP/x.csv"
python3 "$gen" -n 10000 --seed 2 -o "$TEST_TMP/y.csv"
serial() {
	tpsql -c "TRUNCATE products"
	"$ACMECTL" -q import "$1" >/dev/null && run_worker && "$ACMECTL" -q import "$2" >/dev/null && run_worker
	catalog | md5sum
}
xy=$(serial "$TEST_TMP/x.csv" "$TEST_TMP/y.csv")
yx=$(serial "$TEST_TMP/y.csv" "$TEST_TMP/x.csv")
t_unlike "$xy" "$yx" "the two serial orders give different catalogs (the files overlap)"
tpsql -c "TRUNCATE products"
n0=$(tpsql -c "SELECT count(*) FROM jobs WHERE state = 'succeeded'")
"$ACMECTL" -q import "$TEST_TMP/x.csv" >/dev/null
"$ACMECTL" -q import "$TEST_TMP/y.csv" >/dev/null
run_worker --queues import=2
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE state = 'succeeded'")" "$((n0 + 2))" \
	"both concurrent imports succeeded (no deadlock)"
both=$(catalog | md5sum)
t_like "$both" "^($(echo "$xy" | cut -c1-32)|$(echo "$yx" | cut -c1-32)) " \
	"the catalog is that of one of the two serial orders"

t_done
