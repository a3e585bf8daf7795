# worker-lib.sh — helpers for the worker tests (t21NN); source after
# test-lib.sh and need_servers.
#
#   start_worker NAME [worker options...]   # background; pid in $W_PID, log in $TEST_TMP/NAME.log
#   stop_worker NAME [SIGNAL [SECS]]        # signal (TERM) and wait for the exit, at most SECS
#                                           # (120); status in $W_STATUS (124: killed at the limit)
#   wait_for SECONDS 'shell condition'      # poll every 0.1 s; 0 when it became true
#   children_of PID                         # the pids of PID's children
#   enqueue TYPE [PAYLOAD [more options]]   # prints the job id
#   job_col ID COLUMN                       # a column of the job's row
#
# Every worker started here is killed when the test ends.
# shellcheck shell=sh

_w_pids=
_w_cleanup() {
	for _p in $_w_pids; do
		_t_ours "$_p" || continue      # ended already: the pid may be a stranger's now
		kill -KILL "$_p" 2>/dev/null
		for _c in $(children_of "$_p"); do kill -KILL "$_c" 2>/dev/null; done
	done
	_w_pids=
}
trap '_w_cleanup; _t_cleanup' EXIT

children_of() {
	awk -v p="$1" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null
}

start_worker() {
	_name=$1; shift
	"$ACMECTL" worker "$@" >"$TEST_TMP/$_name.log" 2>&1 &
	W_PID=$!
	echo "$W_PID" >"$TEST_TMP/$_name.pid"
	_w_pids="$_w_pids $W_PID"
}

worker_pid() { cat "$TEST_TMP/$1.pid"; }

stop_worker() {
	_pid=$(worker_pid "$1")
	! _t_ours "$_pid" || kill -"${2:-TERM}" "$_pid" 2>/dev/null
	wait_pid "$_pid" "${3:-120}"
	# shellcheck disable=SC2034 # read by the tests
	W_STATUS=$?
}

wait_for() {
	_tries=$(($1 * 10))
	while [ "$_tries" -gt 0 ]; do
		eval "$2" && return 0
		sleep 0.1
		_tries=$((_tries - 1))
	done
	return 1
}

enqueue() {
	_type=$1; shift
	if [ $# -gt 0 ]; then
		_payload=$1; shift
		"$ACMECTL" -q jobs enqueue "$_type" --payload "$_payload" "$@"
	else
		"$ACMECTL" -q jobs enqueue "$_type"
	fi
}

job_col() {
	tpsql -c "SELECT $2 FROM jobs WHERE id = '$1'"
}

# How many rows "noop commit" with this tag wrote (one per committed execution).
commits() {
	tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'noop commit' AND target = '$1'"
}

# Failpoints (core/failpoint.h). fp_reached LOG NAME: wait (bounded) until the
# log says a process stopped at failpoint NAME (pause), and print its pid.
fp_reached() {
	_fp_i=0
	while [ $_fp_i -lt 600 ]; do
		_fp_pid=$(sed -n "s/.*failpoint $2 reached (pid \([0-9]*\)).*/\1/p" "$1" 2>/dev/null | tail -n 1)
		if [ -n "$_fp_pid" ]; then
			echo "$_fp_pid"
			return 0
		fi
		sleep 0.1
		_fp_i=$((_fp_i + 1))
	done
	return 1
}
