#!/bin/sh
# `jobs watch` ends with the exit status `import --wait` gives for the same
# job, for every outcome (one core function, job_outcome in core/jobwait.h):
# clean 0, rows rejected 65, --strict refusal 65, a refused file 65, dead
# after every attempt failed 1, cancelled 4. Both say the same last line.
# What broke (issue 11): watch exited 0 for an import that --wait reported
# as 65 (rows rejected) and 1 for a --strict refusal (65), so CI that
# re-attached with `jobs watch` passed when it should have failed; and every
# live event said "attempt 0".
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"
. "$TEST_TOP/tests/lib/import-lib.sh"

start_worker w -Q import=1

# both CASE FILE [import options]: follow one import job with `import --wait`
# and `jobs watch -o ndjson` at once; the queue is paused until both follow
# it. Sets IRC and WRC (their exit statuses) and JOB; output in
# $TEST_TMP/CASE.{iout,ierr,wout,werr}.
both() {
	_c=$1; _f=$2; shift 2
	acmectl -q jobs pause import >/dev/null
	"$ACMECTL" import "$_f" --wait "$@" >"$TEST_TMP/$_c.iout" 2>"$TEST_TMP/$_c.ierr" &
	_ipid=$!
	wait_for 30 "[ \"\$(queued_imports)\" = 1 ]"
	JOB=$(last_job)
	"$ACMECTL" jobs watch "$JOB" -o ndjson >"$TEST_TMP/$_c.wout" 2>"$TEST_TMP/$_c.werr" &
	_wpid=$!
	wait_for 30 "[ -s '$TEST_TMP/$_c.wout' ]"
	if [ -n "${CANCEL:-}" ]; then
		acmectl -q jobs cancel "$JOB" >/dev/null
	fi
	acmectl -q jobs resume import >/dev/null
	wait_pid "$_ipid" 120
	IRC=$?
	wait_pid "$_wpid" 120
	WRC=$?
}

# the last line each printed on stderr (the outcome's message)
last_err() { tail -n 1 "$TEST_TMP/$1.$2err"; }

# ---- clean: 0 ----
printf 'sku,name\nW-1,One\nW-2,Two\n' >"$TEST_TMP/clean.csv"
both clean "$TEST_TMP/clean.csv"
t_is "$IRC $WRC" "0 0" "clean: import --wait and jobs watch both exit 0"
t_json "$(grep '"state":"running"' "$TEST_TMP/clean.wout" | head -n 1)" "d['attempts'] == 1" \
	"the live running event carries attempt 1"

# ---- rows rejected: 65 ----
printf 'sku,name,price\nW-3,Three,1\nW-4,Four,lots\n' >"$TEST_TMP/rej.csv"
both rej "$TEST_TMP/rej.csv"
t_is "$IRC $WRC" "65 65" "rows rejected: both exit 65 (watch said 0)"
t_like "$(last_err rej w)" "import $JOB: 1 row rejected; see 'acmectl jobs errors $JOB'" \
	"watch says where the rejected rows are"
t_is "$(last_err rej w)" "$(last_err rej i)" "and says it as --wait does"

# ---- --strict refusal: 65 ----
both strict "$TEST_TMP/rej.csv" --strict
t_is "$IRC $WRC" "65 65" "a --strict refusal: both exit 65 (watch said 1)"
t_like "$(last_err strict w)" "import $JOB failed: refused under --strict: 1 row rejected, nothing applied" \
	"watch says it was refused"
t_is "$(last_err strict w)" "$(last_err strict i)" "as --wait does"

# ---- a refused file (failed at once): 65 ----
printf 'sku,name\n' >"$TEST_TMP/header.csv"
both header "$TEST_TMP/header.csv"
t_is "$IRC $WRC" "65 65" "a file refused as a whole: both exit 65"
t_is "$(last_err header w)" "$(last_err header i)" "with the same message"

# ---- dead: every attempt failed: 1 ----
tpsql -c "CREATE FUNCTION t_refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'refused by test trigger'; END \$\$;
	CREATE TRIGGER t_refuse BEFORE INSERT ON products FOR EACH ROW EXECUTE FUNCTION t_refuse()"
printf 'sku,name\nW-5,Never\n' >"$TEST_TMP/dead.csv"
both dead "$TEST_TMP/dead.csv"
tpsql -c "DROP TRIGGER t_refuse ON products"
t_is "$IRC $WRC" "1 1" "a job that failed every attempt: both exit 1"
t_like "$(last_err dead w)" "import $JOB failed after 3 attempts, nothing applied: .*refused by test trigger" \
	"watch says why"
t_is "$(last_err dead w)" "$(last_err dead i)" "as --wait does"
t_is "$(python3 -c 'import json,sys
print(" ".join("%s:%d" % (e["state"], e["attempts"]) for e in map(json.loads, open(sys.argv[1]))
               if e["event"] == "state"))' "$TEST_TMP/dead.wout")" \
	"running:1 retrying:1 queued:1 running:2 retrying:2 queued:2 running:3 dead:3" \
	"live events carry the real attempt number (they all said 0)"

# ---- cancelled: 4 ----
printf 'sku,name\nW-6,Cancelled\n' >"$TEST_TMP/cancel.csv"
CANCEL=1
both cancel "$TEST_TMP/cancel.csv"
CANCEL=
t_is "$IRC $WRC" "4 4" "a cancelled job: both exit 4"
t_like "$(last_err cancel w)" "import $JOB was cancelled; nothing was applied" "watch says nothing was applied"
t_is "$(last_err cancel w)" "$(last_err cancel i)" "as --wait does"

stop_worker w
t_done
