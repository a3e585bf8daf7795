# import-lib.sh — helpers for the import tests (tests/t/t3*-import-*.sh), on
# top of test-lib.sh and need_servers.
#
#   run_worker [OPTIONS]         # `acmectl worker --burst` on the import queue, in the foreground
#                                # (killed after 300 s: a hung job fails the test, not the run)
#   import_wait ARGS...          # `acmectl import ARGS --wait` with a burst worker; $OUT $ERR $RC
#   t_import N "desc" ARGS...    # import_wait, then expect exit status N
#   last_job                     # id of the newest import job
#   result_of ID                 # the job's result JSON
#   catalog                      # products as sorted text (sku, name, description, active, price)
#   wait_until "SQL" [SECS]      # poll until the query answers t
# shellcheck shell=sh

WORKER_LOG=$TEST_TMP/worker.log

# shellcheck disable=SC2120 # the tests pass options
run_worker() {
	timeout --foreground -k 10 300 "$ACMECTL" worker --burst --queues import "$@" >>"$WORKER_LOG" 2>&1
}

# Queued import jobs, for knowing when a backgrounded import has enqueued.
queued_imports() {
	tpsql -c "SELECT count(*) FROM jobs WHERE type = 'import' AND state = 'queued'"
}

import_wait() {
	# a background command's stdin is /dev/null unless redirected explicitly
	exec 9<&0
	"$ACMECTL" import "$@" --wait <&9 >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
	_iw_pid=$!
	exec 9<&-
	_iw_i=0
	# until the job is queued, or the command ended (refused before any job)
	while _t_alive "$_iw_pid" && [ "$(queued_imports)" = 0 ] && [ $_iw_i -lt 300 ]; do
		sleep 0.05
		_iw_i=$((_iw_i + 1))
	done
	_t_alive "$_iw_pid" && run_worker
	wait_pid "$_iw_pid" 300
	RC=$?
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
}

t_import() {
	_ti_want=$1; _ti_d=$2; shift 2
	import_wait "$@"
	if [ "$RC" -ne "$_ti_want" ]; then
		t_diag "import $* --wait: exit $RC (wanted $_ti_want)" "stdout: $OUT" "stderr: $ERR" \
			"worker: $(tail -n 5 "$WORKER_LOG")"
		_t_result 1 "$_ti_d"
	else
		_t_result 0 "$_ti_d"
	fi
}

last_job() {
	tpsql -c "SELECT id FROM jobs WHERE type = 'import' ORDER BY created_at DESC, id DESC LIMIT 1"
}

result_of() {
	tpsql -c "SELECT result FROM jobs WHERE id = '$1'"
}

# A field of the summary table printed by `import --wait` (tsv when piped).
summary() {
	printf '%s\n' "$OUT" | awk -F '\t' -v k="$1" '$1 == k { print $2 }'
}

catalog() {
	tpsql -F '|' -c "SELECT sku, name, coalesce(description, '<null>'), active, coalesce(price::text, '<null>')
		FROM products ORDER BY sku_lower"
}

wait_until() {
	_wu_n=$(( ${2:-30} * 20 ))
	while [ "$_wu_n" -gt 0 ]; do
		[ "$(tpsql -c "$1" 2>/dev/null)" = t ] && return 0
		sleep 0.05
		_wu_n=$((_wu_n - 1))
	done
	return 1
}
