# test-lib.sh — shared by every tests/t/tNNNN-*.sh; emits TAP.
#
#   . "$(dirname "$0")/../lib/test-lib.sh"
#   need_servers                 # a private database + redis prefix (optional)
#   t_ok   "desc" cmd args...    # passes when cmd exits 0
#   t_exit N "desc" cmd args...  # passes when cmd exits N
#   t_is   "$got" "$want" "desc"
#   t_like "$got" 'ERE' "desc"   # grep -E
#   t_unlike "$got" 'ERE' "desc"
#   t_done                       # prints the plan; exit status = failures
#   redis_now_ms                 # the Redis clock (ms), the one the queue's scripts read
#   wait_past MS                 # until the Redis clock is past MS, at most 30 s
#   wait_pid PID [SECS]          # wait for a background child, at most SECS (60);
#                                # its status, or 124 after killing it at the limit
#
# $TEST_TMP is a private directory removed at exit. `acmectl` runs the binary
# under test ($ACMECTL). Output of the last t_ok/t_exit command is kept in
# $TEST_TMP/out and $TEST_TMP/err (and $OUT / $ERR).
# shellcheck shell=sh

set -u
TEST_NAME=$(basename "$0" .sh)
TEST_TOP=$(cd "$(dirname "$0")/../.." && pwd)
ACMECTL=${ACMECTL:-$TEST_TOP/acmectl}
# test helper programs (tests/helpers/*.c, `make helpers`)
ACME_HELPERS=${ACME_HELPERS:-$TEST_TOP/build/tests/helpers}
TEST_TMP=$(mktemp -d "/tmp/acme-$TEST_NAME.XXXXXX")
chmod 755 "$TEST_TMP"
_t_n=0
_t_failed=0
_t_own_servers=
_t_db=

# Isolate from the developer's environment and config files.
unset DATABASE_URL REDIS_URL DATABASE_URL_FILE REDIS_URL_FILE ACME_REDIS_PREFIX ACME_SECRET_KEY_FILE \
	ACME_LOG_LEVEL ACME_LOG_FORMAT ACME_CONFIG ACME_DEV_DIR NO_COLOR
export ACME_ENV=test
export XDG_CONFIG_HOME="$TEST_TMP/config"
export XDG_STATE_HOME="$TEST_TMP/state"
export HOME="$TEST_TMP/home"
mkdir -p "$HOME"
# Webhook secrets are encrypted at rest with this file's key, as production
# requires (core/whsecret.h); a test of plain text unsets it.
TEST_SECRET_KEY="$TEST_TMP/secret.key"
(umask 077 && openssl rand -base64 32 > "$TEST_SECRET_KEY")
export ACME_SECRET_KEY_FILE="$TEST_SECRET_KEY"

_t_cleanup_extra=
_t_cleanup() {
	for _tc_f in $_t_cleanup_extra; do "$_tc_f"; done
	if [ -n "$_t_db" ] && [ -n "${TEST_PG_HOST:-}" ]; then
		"$TEST_PG_BIN/psql" -X -q -h "$TEST_PG_HOST" -U acme -d postgres \
			-c "DROP DATABASE IF EXISTS \"$_t_db\" WITH (FORCE)" >/dev/null 2>&1 || true
	fi
	if [ -n "$_t_own_servers" ]; then
		sh "$TEST_TOP/tests/lib/servers.sh" stop "$_t_own_servers" || true
	fi
	[ -n "${TEST_KEEP:-}" ] || rm -rf "$TEST_TMP"
}
trap _t_cleanup EXIT
trap 'exit 130' INT TERM

acmectl() { "$ACMECTL" "$@"; }
# the queue driver (tests/helpers/acme-queue.c): single transitions, a burst
# runner; never part of acmectl
acme_queue() { "$ACME_HELPERS/acme-queue" "$@"; }

_t_result() {	# status desc
	_t_n=$((_t_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_t_n - $2"
	else
		_t_failed=$((_t_failed + 1))
		echo "not ok $_t_n - $2"
	fi
}

t_diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# shellcheck disable=SC2034 # OUT and ERR are read by the tests
_t_run() {
	"$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	_t_rc=$?
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
}

t_ok() {
	_d=$1; shift
	_t_run "$@"
	if [ $_t_rc -ne 0 ]; then
		t_diag "command: $*" "exit: $_t_rc" "stdout: $(head -c 2000 "$TEST_TMP/out")" \
			"stderr: $(head -c 2000 "$TEST_TMP/err")"
	fi
	_t_result $_t_rc "$_d"
}

t_exit() {
	_want=$1; _d=$2; shift 2
	_t_run "$@"
	if [ "$_t_rc" -ne "$_want" ]; then
		t_diag "command: $*" "exit: $_t_rc (wanted $_want)" \
			"stdout: $(head -c 2000 "$TEST_TMP/out")" "stderr: $(head -c 2000 "$TEST_TMP/err")"
		_t_result 1 "$_d"
	else
		_t_result 0 "$_d"
	fi
}

t_is() {
	if [ "$1" = "$2" ]; then
		_t_result 0 "$3"
	else
		t_diag "got:  $1" "want: $2"
		_t_result 1 "$3"
	fi
}

t_like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		_t_result 0 "$3"
	else
		t_diag "got: $(printf '%s' "$1" | head -c 2000)" "does not match: $2"
		_t_result 1 "$3"
	fi
}

t_unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		t_diag "got: $(printf '%s' "$1" | head -c 2000)" "matches but must not: $2"
		_t_result 1 "$3"
	else
		_t_result 0 "$3"
	fi
}

# True while pid $1 is still a child of this test's shell. A background
# process that ended and was reaped frees its pid, which the system may give
# to a stranger (another test's TUI, under two parallel runs): signal a
# recorded pid only when it is still ours.
_t_ours() {
	[ -r "/proc/$1/stat" ] || return 1
	read -r _to_l <"/proc/$1/stat" 2>/dev/null || return 1
	_to_l=${_to_l##*) }
	_to_l=${_to_l#* }
	[ "${_to_l%% *}" = "$$" ]
}

# Is PID running (not gone, not a zombie waiting to be reaped)? No fork.
_t_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	read -r _ta_l <"/proc/$1/stat" 2>/dev/null || return 1
	_ta_l=${_ta_l##*) }
	case ${_ta_l%% *} in Z|X|'') return 1 ;; esac
	return 0
}

# wait_pid PID [SECS] — `wait` for a background child of this shell, bounded:
# its exit status once it ends, or, if it still runs after SECS seconds
# (default 60), a diagnostic, SIGKILL to it and its children, and 124.
wait_pid() {
	_wp_n=$(( ${2:-60} * 10 ))
	# only our own child: a pid that ended and was reaped may be a stranger's now
	while _t_ours "$1" && _t_alive "$1" && [ "$_wp_n" -gt 0 ]; do
		sleep 0.1
		_wp_n=$((_wp_n - 1))
	done
	if _t_ours "$1" && _t_alive "$1"; then
		t_diag "pid $1 ($(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")) still ran after ${2:-60} s: killed"
		for _wp_c in $(awk -v p="$1" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null); do
			kill -KILL "$_wp_c" 2>/dev/null
		done
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1"
}

t_skip() { _t_n=$((_t_n + 1)); echo "ok $_t_n # skip $1"; }

t_skip_all() { echo "1..0 # SKIP $1"; exit 0; }

t_done() {
	echo "1..$_t_n"
	[ $_t_failed -eq 0 ] || exit 1
	exit 0
}

# JSON check: t_json "$doc" 'python expression over d' "desc"
t_json() {
	_r=$(printf '%s' "$1" | python3 -c "import json,sys
d=json.load(sys.stdin)
print('yes' if ($2) else 'no')" 2>&1)
	if [ "$_r" = yes ]; then
		_t_result 0 "$3"
	else
		t_diag "json: $(printf '%s' "$1" | head -c 2000)" "check: $2" "result: $_r"
		_t_result 1 "$3"
	fi
}

# Private servers for a test that stops or restarts them (the run's shared
# ones are never restarted): PostgreSQL and Redis from tests/lib/servers.sh
# in $SRV, stopped at exit, the environment pointed at them.
#   own_servers PREFIX [SYNC]   # Redis key prefix t:PREFIX:; SYNC on: every
#                               # commit synchronous (an immediate stop then
#                               # takes back nothing a client saw succeed)
#   pg_stop_own [fast|immediate]   pg_start_own   pg_restart_own [MODE [SECS]]
own_servers() {
	SRV=$TEST_TMP/srv
	_t_pg_sync=${2:-off}
	sh "$TEST_TOP/tests/lib/servers.sh" start "$SRV" >&2 || {
		echo "Bail out! cannot start private servers"; exit 1; }
	_t_own_servers=$SRV      # stopped at exit
	# shellcheck disable=SC1091
	. "$SRV/env"
	export DATABASE_URL="postgresql:///acme_template?host=$TEST_PG_HOST&user=acme"
	export REDIS_URL="unix://$TEST_REDIS_SOCK"
	export ACME_REDIS_PREFIX="t:$1:"
	TEST_DB=acme_template
	[ "$_t_pg_sync" = off ] || { pg_stop_own fast && pg_start_own; }
}
_t_as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_stop_own() {
	_t_as_pg "$TEST_PG_BIN/pg_ctl" -D "$SRV/pg/data" -w -t 60 -m "${1:-fast}" stop >/dev/null
}
# the options of tests/lib/servers.sh, with own_servers's synchronous_commit
pg_start_own() {
	_t_as_pg "$TEST_PG_BIN/pg_ctl" -D "$SRV/pg/data" -l "$SRV/pg/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$SRV/pg' -c fsync=off \
		    -c synchronous_commit=$_t_pg_sync -c full_page_writes=off -c max_connections=200 \
		    -c shared_buffers=128MB" start >/dev/null &&
		head -n 1 "$SRV/pg/data/postmaster.pid" >"$SRV/pg.pid"
}
pg_restart_own() {
	pg_stop_own "${1:-fast}" || return 1
	[ -z "${2:-}" ] || sleep "$2"
	pg_start_own
}

# Start (or join) the run's servers and give this test file its own database
# cloned from the migrated template, and its own Redis key prefix.
# --empty: clone template0 instead (an unmigrated database).
need_servers() {
	if [ -z "${ACME_TEST_SERVERS:-}" ]; then
		_t_own_servers="$TEST_TMP/srv"
		sh "$TEST_TOP/tests/lib/servers.sh" start "$_t_own_servers" >&2 || {
			echo "Bail out! cannot start test servers"; exit 1; }
		ACME_TEST_SERVERS=$_t_own_servers
	fi
	# shellcheck disable=SC1091
	. "$ACME_TEST_SERVERS/env"
	_t_db="t_$(echo "$TEST_NAME" | tr -c 'a-zA-Z0-9\n' '_')_$$"
	_tmpl=acme_template
	[ "${1:-}" = --empty ] && _tmpl=template0
	"$TEST_PG_BIN/psql" -X -q -h "$TEST_PG_HOST" -U acme -d postgres \
		-c "CREATE DATABASE \"$_t_db\" TEMPLATE $_tmpl" >/dev/null || {
		echo "Bail out! cannot create database $_t_db"; exit 1; }
	export DATABASE_URL="postgresql:///$_t_db?host=$TEST_PG_HOST&user=acme"
	export REDIS_URL="unix://$TEST_REDIS_SOCK"
	export ACME_REDIS_PREFIX="t:$TEST_NAME:$$:"
	TEST_DB=$_t_db
}

# psql against this test's database: tpsql -c 'SELECT ...'
tpsql() {
	"$TEST_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$TEST_PG_HOST" -U acme -d "$TEST_DB" "$@"
}

# redis-cli against the run's redis
tredis() {
	redis-cli -s "$TEST_REDIS_SOCK" "$@"
}

# redis_now_ms — the Redis clock, the one the queue's scripts read
redis_now_ms() { tredis TIME | { read -r s; read -r us; echo $((s * 1000 + us / 1000)); }; }

# wait_past MS — until the Redis clock is past MS, at most 30 s. When it
# returns, a lease or a due time has passed for the queue's scripts too: no
# sleep guesses at it.
wait_past() {
	_wp_i=0
	while [ "$(redis_now_ms)" -le "$1" ]; do
		_wp_i=$((_wp_i + 1))
		[ $_wp_i -lt 600 ] || { t_diag "the redis clock never passed $1"; return 1; }
		sleep 0.05
	done
}
