#!/bin/sh
# health: --live without network; --ready against real servers, stopped
# servers, permanent failures (that must fail fast, not at the deadline),
# a Redis that answers LOADING or something other than PONG, pending
# migrations, the worker heartbeat; --wait succeeding when a server comes up
# partway and giving up at the deadline; JSON output. Servers this test stops
# are its own throwaway ones, never the run's.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

good_db=$DATABASE_URL
good_redis=$REDIS_URL
nowhere="$TEST_TMP/nothing-listens"
mkdir -p "$nowhere"

# Nothing here reads a clock: "did not wait" is one attempt, "gave up at the
# deadline" is the report's own duration (at least the timeout) and an attempt
# count no higher than the interval allows before the deadline (load only
# lowers it), so a loaded machine cannot change an outcome.

# a throwaway redis-server on its own socket in $TEST_TMP: start_redis NAME [ARGS...]
start_redis() {
	_n=$1; shift
	mkdir -p "$TEST_TMP/$_n"
	redis-server --port 0 --unixsocket "$TEST_TMP/$_n/redis.sock" --unixsocketperm 700 \
		--daemonize yes --pidfile "$TEST_TMP/$_n/redis.pid" --logfile "$TEST_TMP/$_n/redis.log" \
		--dir "$TEST_TMP/$_n" --save '' --appendonly no "$@" >/dev/null
}
stop_redis() {
	[ -r "$TEST_TMP/$1/redis.pid" ] && kill "$(cat "$TEST_TMP/$1/redis.pid")" 2>/dev/null
	i=0
	while [ -e "$TEST_TMP/$1/redis.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}
trap 'stop_redis late; stop_redis locked; [ -n "${fake:-}" ] && kill "$fake" 2>/dev/null; _t_cleanup' EXIT

# a fake redis answering every command with one fixed reply: fake_redis SOCK REPLY
fake_redis() {
	python3 -c '
import os, socket, sys, threading
path, reply = sys.argv[1], sys.argv[2].encode() + b"\r\n"
s = socket.socket(socket.AF_UNIX)
s.bind(path); s.listen(16)
def serve(c):
    while c.recv(4096):
        c.sendall(reply)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$1" "$2" &
	fake=$!
	i=0
	while [ ! -S "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

# ---- live ----
t_ok "health --live" acmectl health --live
t_ok "health --live -o json" acmectl health --live -o json
t_json "$OUT" "d['status'] == 'pass' and d['mode'] == 'live' and list(d['checks']) == ['config'] and isinstance(d['duration_ms'], int)" \
	"--live checks only the configuration"
t_ok "--live needs no server" env DATABASE_URL="postgresql:///x?host=$nowhere" \
	REDIS_URL="unix://$nowhere/r.sock" "$ACMECTL" health --live
t_exit 78 "--live with a bad configuration exits 78" env ACME_ENV=staging "$ACMECTL" health --live -o json
t_json "$OUT" "d['status'] == 'fail' and d['checks']['config']['status'] == 'fail' and 'staging' in d['checks']['config']['error']" \
	"the JSON names the configuration problem"
t_exit 2 "--live and --ready together" acmectl health --live --ready
t_exit 2 "--live --wait makes no sense" acmectl health --live --wait

# ---- ready, everything up ----
t_ok "health --ready" acmectl health --ready
head=$(ls "$TEST_TOP"/core/migrations/[0-9]*.sql | wc -l)
t_like "$OUT" "schema.*pass.*at $(printf %04d "$head") \\(head\\)" "the table shows the schema at head"
t_ok "health (ready is the default) -o json" acmectl health -o json
t_json "$OUT" "d['status'] == 'pass' and d['mode'] == 'ready' and all(d['checks'][k]['status'] == 'pass' for k in ('config', 'postgresql', 'schema', 'redis')) and d['checks']['schema']['current'] == d['checks']['schema']['head'] and isinstance(d['duration_ms'], int)" \
	"ready JSON: every check passes"
t_is "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 1 "the JSON is one document on one line"

# ---- Redis down (nothing on the socket) ----
t_exit 69 "redis not listening: 69" env REDIS_URL="unix://$nowhere/r.sock" "$ACMECTL" health --ready -o json
t_json "$OUT" "d['status'] == 'fail' and d['checks']['redis']['status'] == 'fail' and d['checks']['redis']['transient'] and d['checks']['postgresql']['status'] == 'pass'" \
	"JSON: redis fails (transient), postgresql passes"
t_like "$ERR" "not ready: redis" "stderr says what is not ready"

# ---- a throwaway Redis that we stop ----
start_redis locked
t_ok "a throwaway redis passes" env REDIS_URL="unix://$TEST_TMP/locked/redis.sock" "$ACMECTL" health --ready
stop_redis locked
t_exit 69 "the same redis after it was stopped: 69" \
	env REDIS_URL="unix://$TEST_TMP/locked/redis.sock" "$ACMECTL" health --ready

# ---- PostgreSQL down ----
t_exit 69 "postgresql not listening: 69" env DATABASE_URL="postgresql:///x?host=$nowhere" \
	"$ACMECTL" health --ready -o json
t_json "$OUT" "d['checks']['postgresql']['status'] == 'fail' and d['checks']['postgresql']['transient'] and d['checks']['schema']['status'] == 'skip' and d['checks']['redis']['status'] == 'pass'" \
	"JSON: postgresql fails, schema is skipped, redis passes"

# ---- permanent failures fail fast, even with --wait ----
# The test cluster trusts its socket, so a wrong password cannot be shown for
# PostgreSQL; a missing database is the same kind of failure (permanent).
t_exit 1 "a missing database fails at once with --wait" \
	env DATABASE_URL="postgresql:///no_such_db_t1100?host=$TEST_PG_HOST&user=acme" \
	"$ACMECTL" health --ready --wait --timeout 30s -o json
t_json "$OUT" "d['attempts'] == 1" "it did not wait for the deadline: one attempt"
t_json "$OUT" "d['checks']['postgresql']['transient'] == False and 'does not exist' in d['checks']['postgresql']['error']" \
	"JSON: permanent, and says the database does not exist"

start_redis locked --requirepass t1100-secret
t_exit 1 "redis NOAUTH (no password given) fails at once with --wait" \
	env REDIS_URL="unix://$TEST_TMP/locked/redis.sock" "$ACMECTL" health --ready --wait --timeout 30s -o json
t_like "$ERR" "NOAUTH" "the error says NOAUTH"
t_json "$OUT" "d['attempts'] == 1" "NOAUTH: one attempt, no waiting for the deadline"
t_exit 1 "redis wrong password fails at once with --wait" \
	env REDIS_URL="unix://:wrong@$TEST_TMP/locked/redis.sock" "$ACMECTL" health --ready --wait --timeout 30s -o json
t_json "$OUT" "d['checks']['redis']['status'] == 'fail' and not d['checks']['redis']['transient']" \
	"JSON: the wrong password is permanent"
t_unlike "$OUT$ERR" "wrong" "the password is never printed"
t_json "$OUT" "d['attempts'] == 1" "wrong password: one attempt, no waiting for the deadline"
t_ok "the right password passes" env REDIS_URL="unix://:t1100-secret@$TEST_TMP/locked/redis.sock" \
	"$ACMECTL" health --ready
stop_redis locked

# ---- Redis answering LOADING, or not PONG ----
fake_redis "$TEST_TMP/loading.sock" "-LOADING Redis is loading the dataset in memory"
t_exit 69 "a loading redis is not ready; --wait keeps trying until the deadline" \
	env REDIS_URL="unix://$TEST_TMP/loading.sock" "$ACMECTL" health --ready --wait --timeout 2s --interval 200ms -o json
t_json "$OUT" "d['checks']['redis']['transient'] and 'LOADING' in d['checks']['redis']['error'] and d['attempts'] > 1" \
	"JSON: LOADING is transient and was retried"
t_json "$OUT" "d['duration_ms'] >= 2000 and d['attempts'] <= 11" \
	"it gave up at the deadline: not before 2 s, after at most 11 attempts (one per 200 ms, one at the deadline)"
kill "$fake" 2>/dev/null; wait "$fake" 2>/dev/null; fake=
fake_redis "$TEST_TMP/notpong.sock" "+OK"
t_exit 1 "a redis answering something other than PONG fails (for good: it is not redis)" \
	env REDIS_URL="unix://$TEST_TMP/notpong.sock" "$ACMECTL" health --ready
t_like "$ERR" "not PONG" "the error says the answer was not PONG"
kill "$fake" 2>/dev/null; wait "$fake" 2>/dev/null; fake=

# ---- --wait: success when the server comes up partway ----
# health_bg ARGS: `health --ready --wait` in the background, stdout and stderr
# in $TEST_TMP/bg.out|err; then wait_waiting: until it has said it is
# waiting (it found the server down at least once); health_done: its status
# in $HRC, its output in $OUT and $ERR.
health_bg() {
	: >"$TEST_TMP/bg.err"
	"$@" >"$TEST_TMP/bg.out" 2>"$TEST_TMP/bg.err" &
	bg=$!
}
wait_waiting() {
	i=0
	while ! grep -q waiting "$TEST_TMP/bg.err" && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
}
health_done() {
	wait_pid "$bg" 60
	HRC=$?
	OUT=$(cat "$TEST_TMP/bg.out")
	ERR=$(cat "$TEST_TMP/bg.err")
	[ "$HRC" -eq 0 ] || t_diag "exit $HRC" "stdout: $OUT" "stderr: $ERR"
}
# redis starts only after health has found it down: the order, not a delay
health_bg env REDIS_URL="unix://$TEST_TMP/late/redis.sock" \
	"$ACMECTL" health --ready --wait --timeout 50s --interval 200ms -o json
wait_waiting
start_redis late
health_done
t_is "$HRC" 0 "--wait succeeds when redis starts partway"
t_json "$OUT" "d['status'] == 'pass' and d['attempts'] > 1" "JSON: passed after several attempts"
t_like "$ERR" "waiting" "progress went to stderr"
stop_redis late

# ---- --wait: giving up at the deadline ----
t_exit 69 "--wait gives up at the deadline with 69" env DATABASE_URL="postgresql:///x?host=$nowhere" \
	"$ACMECTL" health --ready --wait --timeout 2s --interval 300ms -o json
t_like "$ERR" "not ready before the deadline: postgresql" "the message says what never became ready"
t_json "$OUT" "d['duration_ms'] >= 2000 and 1 < d['attempts'] <= 8" \
	"it took the timeout: not before 2 s, after at most 8 attempts (one per 300 ms, one at the deadline)"
t_exit 69 "-q keeps only the result" env DATABASE_URL="postgresql:///x?host=$nowhere" \
	"$ACMECTL" -q health --ready --wait --timeout 1s --interval 300ms -o json
t_unlike "$ERR" "waiting" "no progress lines with -q"
t_json "$OUT" "d['status'] == 'fail'" "the JSON document is still printed"

# ---- the schema ----
tpsql -c "DELETE FROM acmectl_migrations"
t_exit 69 "pending migrations: not ready" acmectl health --ready -o json
t_json "$OUT" "d['checks']['schema']['status'] == 'fail' and d['checks']['schema']['transient'] and d['checks']['schema']['pending'] == $head and 'migrate up' in d['checks']['schema']['error']" \
	"JSON: the schema check says to migrate"
health_bg "$ACMECTL" health --ready --wait --timeout 50s --interval 200ms
wait_waiting
"$ACMECTL" -q migrate baseline "$head" --yes
health_done
t_is "$HRC" 0 "--wait passes once the migration is recorded"
t_like "$ERR" "waiting .*schema" "after waiting for the schema"

# ---- the worker heartbeat ----
t_exit 69 "--require-worker without a worker" acmectl health --ready --require-worker -o json
t_json "$OUT" "d['checks']['worker']['status'] == 'fail' and d['checks']['worker']['workers'] == 0" \
	"JSON: no worker"
tredis SET "${ACME_REDIS_PREFIX}worker:stale" x >/dev/null
t_exit 69 "a heartbeat key without a TTL does not count" acmectl health --ready --require-worker
t_like "$ERR" "only keys without a TTL" "it says why"
tredis SET "${ACME_REDIS_PREFIX}worker:host1:4242" x EX 30 >/dev/null
t_ok "--require-worker with a live heartbeat" acmectl health --ready --require-worker -o json
t_json "$OUT" "d['checks']['worker']['status'] == 'pass' and d['checks']['worker']['workers'] == 1" \
	"JSON: one live worker"
tredis DEL "${ACME_REDIS_PREFIX}worker:stale" "${ACME_REDIS_PREFIX}worker:host1:4242" >/dev/null
DATABASE_URL=$good_db REDIS_URL=$good_redis

t_done
