#!/bin/sh
# Many hosts (issue 16, part 1): three workers on three hosts, each host a
# network namespace with its own address on a bridge made here, PostgreSQL,
# Redis and a webhook receiver on a fourth (tests/lib/netns.sh); two of the
# workers run the scheduler. Under a load of noop jobs that each commit one
# audit row, imports of disjoint SKU sets and product changes whose events
# fan out to two endpoints:
#   1. host 1 is cut off (its link down) in the middle of a job, stays away
#      past its lease while another host runs the job again and commits it,
#      then comes back and goes on: its stale attempt must be fenced (its
#      write does not land);
#   2. host 2, a scheduler, is killed whole (every process, kill -9), then
#      started again;
#   3. every worker is restarted in turn with SIGTERM (a rolling deploy).
# Then the load drains and the invariants are checked: no job lost (every
# job final and succeeded), no effect twice (one audit row per noop and per
# scheduler tick, one outbox event per product change and per import, one
# delivery row per event and endpoint, the catalog exactly the imported
# rows), every tick once and none missing. Delivery over HTTP is at least
# once (Standard Webhooks: receivers deduplicate on webhook-id), so a request
# the receiver saw twice is counted and must follow a fault; what is asserted
# is that every event reached every endpoint and no webhook-id was given to
# two deliveries.
# Skipped, saying why, where network namespaces cannot be made (not root, no
# iproute2, a kernel or container that forbids them).
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_TOP/tests/lib/netns.sh"
. "$TEST_TOP/tests/lib/worker-lib.sh"     # fp_reached

why=$(ns_can) || t_skip_all "$why"
command -v redis-server >/dev/null || t_skip_all "redis-server is not installed"

SRV="sh $TEST_TOP/tests/lib/servers.sh"
TEST_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PG=$TEST_TMP/pg
RD=$TEST_TMP/redis
W=$TEST_TMP/w
mkdir -p "$RD" "$W" "$TEST_TMP/config/acmectl" "$TEST_TMP/csv"
chmod 755 "$TEST_TMP"
LEASE=3s

# wait_for_cmd SECS CMD...: run CMD every 0.1 s until it succeeds (0) or SECS pass (1)
wait_for_cmd() {
	_wn=$(($1 * 10)); shift
	while [ "$_wn" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		_wn=$((_wn - 1))
	done
	return 1
}

stop_all() {
	for _i in 1 2 3; do
		_p=$(cat "$W/h$_i.pid" 2>/dev/null) || continue
		kill -KILL "$_p" 2>/dev/null
	done
	[ -z "${RECV_PID:-}" ] || kill "$RECV_PID" 2>/dev/null
	$SRV pg-stop "$PG" immediate 2>/dev/null
	[ ! -r "$RD/redis.pid" ] || kill "$(cat "$RD/redis.pid")" 2>/dev/null
}
_t_cleanup_extra="$_t_cleanup_extra stop_all"

t_ok "three hosts and a server on a bridge, in network namespaces" ns_setup 3 ||
	{ echo "Bail out! the namespaces could not be made: $(cat "$TEST_TMP/err")"; exit 1; }
t_diag "subnet $NS_NET.0/24; server $NS_SRV_ADDR; hosts $(ns_addr 1) $(ns_addr 2) $(ns_addr 3)"

# ---- the servers, in the server namespace: TCP on the bridge for the hosts,
# unix sockets for this test's own reads ----
mkdir -p "$PG"
chmod 755 "$PG"
printf 'local all all trust\nhost all all %s/24 trust\nhost all all 127.0.0.1/32 trust\n' "$NS_NET.0" >"$PG/hba.conf"
chmod 644 "$PG/hba.conf"
t_ok "PostgreSQL on $NS_SRV_ADDR" ns_srv sh "$TEST_TOP/tests/lib/servers.sh" pg-tcp-start "$PG" \
	-c "listen_addresses=$NS_SRV_ADDR" -c "hba_file=$PG/hba.conf" -c synchronous_commit=on \
	-c max_connections=200
PGPORT=$(cat "$PG/port")
q() { "$TEST_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PG" -p "$PGPORT" -U acme -d acme "$@"; }
"$TEST_PG_BIN/psql" -X -q -h "$PG" -p "$PGPORT" -U acme -d postgres -c 'CREATE DATABASE acme' >/dev/null
t_ok "Redis on $NS_SRV_ADDR (AOF, fsync always)" ns_srv redis-server --bind "$NS_SRV_ADDR" --port 6379 \
	--protected-mode no --unixsocket "$RD/redis.sock" --unixsocketperm 700 --daemonize yes \
	--pidfile "$RD/redis.pid" --logfile "$RD/redis.log" --dir "$RD" --save '' \
	--appendonly yes --appendfsync always
t_ok "Redis answers" wait_for_cmd 20 redis-cli -s "$RD/redis.sock" PING
r() { redis-cli -s "$RD/redis.sock" "$@"; }
t_is "$(ns_run 1 redis-cli -h "$NS_SRV_ADDR" -p 6379 PING 2>&1)" PONG "host 1 reaches Redis over the bridge"
t_is "$(ns_run 3 "$TEST_PG_BIN/psql" -X -At -h "$NS_SRV_ADDR" -p "$PGPORT" -U acme -d postgres -c 'SELECT 1' 2>&1)" 1 \
	"host 3 reaches PostgreSQL over the bridge"

# this test's commands: unix sockets; the hosts': TCP over the bridge
export ACME_ENV=test ACME_REDIS_PREFIX=hosts: XDG_CONFIG_HOME="$TEST_TMP/config"
export DATABASE_URL="postgresql:///acme?host=$PG&port=$PGPORT&user=acme"
export REDIS_URL="unix://$RD/redis.sock"
H_DB="postgresql://acme@$NS_SRV_ADDR:$PGPORT/acme?connect_timeout=3"
H_RD="redis://$NS_SRV_ADDR:6379"
cat >"$TEST_TMP/config/acmectl/config" <<EOF
[webhooks]
timeout = 5s
retry_schedule = 1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s
disable_after_failures = 0

[schedule.tick]
every = 1s
type = noop
payload = {"commit": "tick"}
max_attempts = 25
EOF
t_ok "migrate up" acmectl -q migrate up

ns_srv python3 "$TEST_TOP/tests/lib/whrecv.py" serve --bind "$NS_SRV_ADDR" \
	--port-file "$TEST_TMP/recv.port" --log "$TEST_TMP/recv.log" 2>"$TEST_TMP/recv.err" &
RECV_PID=$!
t_ok "the webhook receiver listens on $NS_SRV_ADDR" wait_for_cmd 20 test -s "$TEST_TMP/recv.port"
RPORT=$(cat "$TEST_TMP/recv.port")
for e in a b; do
	t_ok "endpoint $e" acmectl -q webhooks add "http://$NS_SRV_ADDR:$RPORT/$e" -e '*' --allow-private
done

# start_host I [worker options]: the worker of host I, over the bridge
start_host() {
	_i=$1; shift
	# ip and env exec: $! is the worker itself
	ip netns exec "${NS_P}-h$_i" env DATABASE_URL="$H_DB" REDIS_URL="$H_RD" \
		ACME_FAILPOINTS="${HOST_FP:-}" \
		"$ACMECTL" worker -Q default=2,import=1,webhooks=1 --lease "$LEASE" "$@" \
		>>"$W/h$_i.log" 2>&1 &
	echo $! >"$W/h$_i.pid"
}
stop_host() {	# I [SIGNAL]: signal host I's worker and wait (bounded) for it to exit
	_p=$(cat "$W/h$1.pid")
	kill -"${2:-TERM}" "$_p" 2>/dev/null
	wait_pid "$_p" 60
}
started() { [ "$(grep -c ' started' "$W/h$1.log" 2>/dev/null)" -ge "${2:-1}" ]; }
state_of() { q -c "SELECT state FROM jobs WHERE id = '$1'"; }
commits() { q -c "SELECT count(*) FROM audit_log WHERE command = 'noop commit' AND target = '$1'"; }

# ---- load ----
NOOPS=0
noops() {	# N: enqueue N noop jobs, each committing its own tag
	_f=$TEST_TMP/noops.ndjson
	: >"$_f"
	_k=0
	while [ $_k -lt "$1" ]; do
		NOOPS=$((NOOPS + 1)); _k=$((_k + 1))
		printf '{"type": "noop", "id": "n-%05d", "max_attempts": 25, "payload": {"commit": "n-%05d", "sleep_ms": %d}}\n' \
			"$NOOPS" "$NOOPS" "$((NOOPS % 7 * 20))" >>"$_f"
	done
	acmectl -q jobs enqueue --from-ndjson - <"$_f" >/dev/null
}
IMPORTS=0
IMPORT_ROWS=0
import_one() {	# N rows with SKUs of their own
	IMPORTS=$((IMPORTS + 1))
	_f=$TEST_TMP/csv/i$IMPORTS.csv
	printf 'sku,name,price\n' >"$_f"
	_k=1
	while [ $_k -le "$1" ]; do
		printf 'NS-%d-%d,Item %d of %d,%d.%02d\n' "$IMPORTS" "$_k" "$_k" "$IMPORTS" "$_k" "$IMPORTS" >>"$_f"
		_k=$((_k + 1))
	done
	IMPORT_ROWS=$((IMPORT_ROWS + $1))
	acmectl -q import "$_f" >>"$TEST_TMP/imports" || return 1
}
CHANGES=0
changes() {	# N product changes, each one outbox event
	_k=0
	while [ $_k -lt "$1" ]; do
		CHANGES=$((CHANGES + 1)); _k=$((_k + 1))
		acmectl -q products create --upsert --sku "WH-$((CHANGES % 10))" --name "Hook $CHANGES" \
			--price "$CHANGES.00" >/dev/null || return 1
	done
}
settled_deliveries() {	# every event so far relayed, dispatched and delivered
	[ "$(q -c "SELECT (SELECT count(*) FROM outbox WHERE relayed_at IS NULL) +
		(SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded') +
		(SELECT count(*) FROM outbox o WHERE (SELECT count(*) FROM webhook_deliveries d
			WHERE d.event_id = 'evt_' || o.id) <> 2)")" = 0 ]
}

# ---- 1. a host cut off mid-job ----
# Host 1 starts first and alone, and stops at the failpoint right after it
# recorded the start of the first job it takes: the job is running there.
HOST_FP='job.after-start=1*pause'
start_host 1
HOST_FP=
t_ok "host 1's worker started" wait_for_cmd 30 started 1
acmectl -q jobs enqueue noop --id cut-1 --max-attempts 25 --payload '{"commit": "cut-1"}' >/dev/null
held=$(fp_reached "$W/h1.log" job.after-start)
t_ok "host 1 runs job cut-1 (held at job.after-start, pid $held)" test -n "$held"
t_is "$(state_of cut-1)" running "the job is recorded running"
t_like "$(r HGET 'hosts:{default}:job:cut-1' worker)" ":$held:" "under host 1's lease"
start_host 2 --beat
start_host 3 --beat
t_ok "hosts 2 and 3 started (both with the scheduler)" wait_for_cmd 30 started 2 &&
	wait_for_cmd 30 started 3
t_ok "host 1's link is cut" ns_cut 1
t_ok "host 1 no longer reaches the server" test "$(ns_run 1 timeout 3 redis-cli -h "$NS_SRV_ADDR" -p 6379 PING 2>&1)" != PONG
noops 150
import_one 40
changes 10
succeeded() { [ "$(state_of "$1")" = succeeded ]; }
t_ok "past host 1's lease another host runs cut-1 and commits it" wait_for_cmd 60 succeeded cut-1
t_is "$(commits cut-1)" 1 "cut-1 committed once"
t_unlike "$(r HGET 'hosts:{default}:job:cut-1' worker)" ":$held:" "by another host's worker"
t_ok "host 1's link is back" ns_mend 1
kill -CONT "$held"
t_ok "host 1's stale attempt goes on and is refused" wait_for_cmd 60 \
	grep -Eq 'job cut-1: lease lost|cut-1.*(must not commit|report was refused)' "$W/h1.log"
t_is "$(commits cut-1)" 1 "its write did not land: still one commit"
t_is "$(state_of cut-1)" succeeded "and the job stays succeeded"

# ---- 2. a host killed whole ----
t_ok "the events so far are delivered" wait_for_cmd 90 settled_deliveries
noops 150
import_one 40
t_ok "host 2 is killed (every process, kill -9)" ns_kill 2
t_is "$(ns_pids 2)" "" "nothing runs on host 2"
noops 50
start_host 2 --beat
t_ok "host 2's worker started again" wait_for_cmd 30 started 2 2

# ---- 3. rolling restart with SIGTERM ----
for i in 1 2 3; do
	noops 50
	changes 5
	beat=--beat
	[ "$i" = 1 ] && beat=
	stop_host "$i"
	t_is "$?" 0 "host $i's worker stops on SIGTERM with status 0"
	start_host "$i" $beat
	t_ok "and starts again" wait_for_cmd 30 started "$i" "$((2 + (i == 2)))"
done
import_one 30

# ---- drain ----
all_final() {
	[ "$(q -c "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'dead', 'cancelled')")" = 0 ] &&
		[ "$(q -c "SELECT count(*) FROM jobs WHERE id LIKE 'n-%'")" = "$NOOPS" ]
}
t_ok "every job ends" wait_for_cmd 180 all_final
t_ok "every event is delivered" wait_for_cmd 120 settled_deliveries
for i in 1 2 3; do
	stop_host "$i"
	t_is "$?" 0 "host $i's worker stops cleanly"
done

# ---- invariants ----
t_is "$(q -c "SELECT count(*) FROM jobs WHERE state <> 'succeeded'")" 0 \
	"no job lost or failed: every job succeeded"
bad=$(q -c "SELECT id, type, state, attempts, error FROM jobs WHERE state <> 'succeeded' LIMIT 10")
[ -z "$bad" ] || t_diag "$bad"
t_is "$(q -c "SELECT count(*) FROM jobs WHERE id LIKE 'n-%'")" "$NOOPS" "all $NOOPS noop jobs have their row"
t_is "$(q -c "SELECT count(*), count(DISTINCT target) FROM audit_log WHERE command = 'noop commit' AND target LIKE 'n-%'")" \
	"$NOOPS|$NOOPS" "one commit per noop job: none lost, none twice"
t_is "$(q -c "SELECT count(*) FROM jobs WHERE type = 'import'")" "$IMPORTS" "every import has its job"
t_is "$(q -c "SELECT count(*), count(DISTINCT sku) FROM products WHERE sku LIKE 'NS-%'")" \
	"$IMPORT_ROWS|$IMPORT_ROWS" "the catalog holds exactly the imported rows"
t_is "$(q -c "SELECT count(*) FROM products WHERE sku LIKE 'NS-%'
	AND name <> 'Item ' || split_part(sku, '-', 3) || ' of ' || split_part(sku, '-', 2)")" 0 \
	"with the values of their files"
t_is "$(q -c "SELECT count(*) FROM outbox WHERE event_type = 'import.completed'")" "$IMPORTS" \
	"one import.completed event per import"
t_is "$(q -c "SELECT count(*) FROM outbox WHERE event_type IN ('product.created', 'product.updated')")" \
	"$CHANGES" "one event per product change"
events=$(q -c "SELECT count(*) FROM outbox")
t_is "$(q -c "SELECT count(*), count(DISTINCT (webhook_id, event_id)) FROM webhook_deliveries")" \
	"$((events * 2))|$((events * 2))" "one delivery per event and endpoint ($events events)"
python3 - "$TEST_TMP/recv.log" >"$TEST_TMP/recv.sum" <<'EOF'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    k = (r["path"], r["headers"]["webhook-id"])
    seen[k] = seen.get(k, 0) + 1
print(len(seen), sum(n - 1 for n in seen.values()))
EOF
read -r distinct dups <"$TEST_TMP/recv.sum"
t_is "$distinct" "$((events * 2))" "the receiver got every event at each endpoint"
t_diag "requests received twice (at least once over HTTP; each after a fault): $dups"
t_ok "at most one per fault (a cut, a kill, three restarts)" test "$dups" -le 5
ticks=$(q -c "SELECT count(*) FROM jobs WHERE id LIKE 'sched-tick-%'")
t_ok "the scheduler ticked ($ticks ticks)" test "$ticks" -ge 5
t_is "$(q -c "SELECT max(t) - min(t) + 1 - count(*) FROM (SELECT substring(id FROM 'sched-tick-([0-9]+)')::bigint t
	FROM jobs WHERE id LIKE 'sched-tick-%') s")" 0 "no tick missing between the first and the last"
t_is "$(q -c "SELECT count(*) FROM (SELECT details->>'job_id' FROM audit_log WHERE command = 'noop commit'
	AND target = 'tick' GROUP BY 1 HAVING count(*) <> 1) s")" 0 "each tick committed once"
t_is "$(q -c "SELECT count(DISTINCT details->>'job_id') FROM audit_log WHERE command = 'noop commit' AND target = 'tick'")" \
	"$ticks" "every tick committed"

t_done
