# webhooks.sh — helpers for the webhook tests (t5xxx), sourced after
# test-lib.sh and need_servers:
#
#   wh_config 'retry_schedule = 1s,1s' ...   # the [webhooks] section of the config file
#   start_recv NAME [whrecv.py serve options] # a Python receiver; sets RECV_PORT
#   start_listen NAME [listen options]        # acmectl webhooks listen; sets RECV_PORT
#   recv_count NAME                           # requests it has logged
#   add_endpoint URL [add options]            # sets WH_ID, WH_SECRET (also in secret.ID)
#   outbox_event TYPE JSON                    # an event as a change would write it; prints its id
#   run_worker [worker options]               # `worker --burst --queues webhooks`, logged
#   start_worker / stop_worker                # the same in the background
#   wait_for SECONDS CMD...                   # poll until CMD succeeds
#   stop_bg                                   # stop every background process (also at exit)
#
# Every command run through t_ok/t_exit, every worker log and every receiver
# output is appended to $TEST_TMP/transcript, so a test can check that a
# secret never appears anywhere.
# shellcheck shell=sh

WHRECV="$TEST_TOP/tests/lib/whrecv.py"
: >"$TEST_TMP/bg.pids"
: >"$TEST_TMP/transcript"
mkdir -p "$XDG_CONFIG_HOME/acmectl"

# shellcheck disable=SC2034 # OUT and ERR are test-lib.sh's, read by the tests
_t_run() {
	"$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	_t_rc=$?
	cat "$TEST_TMP/out" "$TEST_TMP/err" >>"$TEST_TMP/transcript"
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
}

stop_bg() {
	while read -r _p; do
		! _t_ours "$_p" || kill "$_p" 2>/dev/null
	done <"$TEST_TMP/bg.pids"
	while read -r _p; do
		_i=0
		while _t_ours "$_p" && _t_alive "$_p" && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
		! _t_ours "$_p" || kill -9 "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done <"$TEST_TMP/bg.pids"
	: >"$TEST_TMP/bg.pids"
}
_wh_cleanup() {
	stop_bg
	for _f in "$TEST_TMP"/*.out "$TEST_TMP"/*.err "$TEST_TMP"/*.log; do
		[ -f "$_f" ] && cat "$_f" >>"$TEST_TMP/transcript"
	done
	_t_cleanup
}
trap _wh_cleanup EXIT

wh_config() {
	{
		echo "[webhooks]"
		for _l in "$@"; do echo "$_l"; done
	} >"$XDG_CONFIG_HOME/acmectl/config"
}

wait_for() {	# seconds cmd...
	_deadline=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$_deadline" ] || return 1
		sleep 0.1
	done
}

_wait_port() {	# file
	_i=0
	while [ ! -s "$1" ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	RECV_PORT=$(cat "$1" 2>/dev/null)
	[ -n "$RECV_PORT" ] || { echo "Bail out! receiver did not start ($1)"; exit 1; }
}

start_recv() {	# name [serve options]
	_n=$1
	shift
	python3 "$WHRECV" serve --port-file "$TEST_TMP/$_n.port" --log "$TEST_TMP/$_n.log" "$@" \
		2>"$TEST_TMP/$_n.err" &
	echo $! >>"$TEST_TMP/bg.pids"
	: >>"$TEST_TMP/$_n.log"
	_wait_port "$TEST_TMP/$_n.port"
}

start_listen() {	# name [listen options]
	_n=$1
	shift
	"$ACMECTL" webhooks listen --port 0 --port-file "$TEST_TMP/$_n.port" -o ndjson "$@" \
		>"$TEST_TMP/$_n.log" 2>"$TEST_TMP/$_n.err" &
	echo $! >>"$TEST_TMP/bg.pids"
	_wait_port "$TEST_TMP/$_n.port"
}

recv_count() { [ -f "$TEST_TMP/$1.log" ] && wc -l <"$TEST_TMP/$1.log" | tr -d ' ' || echo 0; }

add_endpoint() {	# url [add options]; sets WH_ID and WH_SECRET
	"$ACMECTL" webhooks add "$@" -o json >"$TEST_TMP/add.json" 2>"$TEST_TMP/add.err" || {
		cat "$TEST_TMP/add.err" >&2
		echo "Bail out! cannot add endpoint $1"
		exit 1
	}
	WH_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TEST_TMP/add.json")
	WH_SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$TEST_TMP/add.json")
	printf '%s\n' "$WH_SECRET" >"$TEST_TMP/secret.$WH_ID"
	cat "$TEST_TMP/add.json" "$TEST_TMP/add.err" >>"$TEST_TMP/transcript"
}

outbox_event() {	# type json
	tpsql -c "INSERT INTO outbox (event_type, payload) VALUES ('$1', '$2'::jsonb) RETURNING id"
}

run_worker() {
	timeout --foreground -k 10 120 "$ACMECTL" worker --burst --queues webhooks "$@" >>"$TEST_TMP/worker.log" 2>&1
}

start_worker() {
	"$ACMECTL" worker --queues webhooks "$@" >>"$TEST_TMP/worker.log" 2>&1 &
	WORKER_PID=$!
	echo "$WORKER_PID" >>"$TEST_TMP/bg.pids"
}

stop_worker() {
	[ -n "${WORKER_PID:-}" ] || return 0
	! _t_ours "$WORKER_PID" || kill "$WORKER_PID" 2>/dev/null
	wait_pid "$WORKER_PID" 120 2>/dev/null
	WORKER_PID=
}

# The status of a delivery (by webhook and event id).
delivery_status() { tpsql -c "SELECT status FROM webhook_deliveries WHERE webhook_id = $1 AND event_id = '$2' ORDER BY id LIMIT 1"; }

# wh_secret ID [COLUMN]: the plain text of webhook ID's stored secret (COLUMN
# secret, the default, or previous_secret), opened with the key file as the
# deliverer does (tests/helpers/acme-whsecret); fails when it does not open.
wh_secret() {
	_ws_col=${2:-secret}
	_ws_row=$(tpsql -c "SELECT $_ws_col, coalesce(${_ws_col}_key_id, '') FROM webhooks WHERE id = $1")
	_ws_val=${_ws_row%|*}
	_ws_kid=${_ws_row##*|}
	if [ -n "$_ws_kid" ]; then
		"$ACME_HELPERS/acme-whsecret" "$1" "$_ws_col" "$_ws_val" "$_ws_kid"
	else
		"$ACME_HELPERS/acme-whsecret" "$1" "$_ws_col" "$_ws_val"
	fi
}
