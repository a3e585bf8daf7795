#!/bin/sh
# queue.sh — the job queue end to end (issue 4 item 7): BENCH_JOBS (20,000)
# noop jobs from enqueue to done through `acmectl worker` with 1 and with 2
# children, with the PostgreSQL mirror (jobs rows; each child's batched
# writer, core/completer.h, records a noop's start and end) and without it
# (--no-mirror, no rows), on a throwaway PostgreSQL +
# Redis pair (tests/lib/servers.sh: unix sockets, fsync off). Printed beside
# redis-benchmark LPUSH against the same Redis in the same run, the peer the
# queue's ceiling is measured against (DESIGN.md section 14), and, when
# python3-celery (and python3-redis, which its Redis transport needs) is
# installed, beside Celery: tests/bench/celery-peer.py runs the same
# BENCH_JOBS noop tasks through a Celery prefork worker with 1 and with 2
# processes on the same Redis (its own database, db 1), enqueued while the
# worker runs, first enqueue to last finish. It has no result backend, so
# its figure compares with the --no-mirror runs. Without Celery the bench
# says so and goes on; a Celery run that fails stops it like any other.
# The python3 tried is the one on PATH, then /usr/bin/python3 (where the
# Debian package is importable when PATH has another python3 first).
#
# Jobs are enqueued while the workers run, in pipelined batches of 1,000
# (`acme-queue bench`, tests/helpers/acme-queue.c: queue_enqueue_many, rows inserted per batch with
# one statement); jobs/s is first enqueue to last finish, and the latency is
# each job's started_ms - enqueued_ms from its Redis hash (that run includes
# the backlog the enqueue burst builds). Paced runs (2,000 jobs, below
# capacity: 200 jobs/s with the mirror, 2,000 without, in batches of 10)
# show the latency of a job that does not wait behind others. The wake-up
# runs time how soon a worker blocked on an empty queue gets a job (the
# figure tests/t/t2020 checks only as an order): enqueued_ms to started_ms on
# the Redis clock, against the 1 s poll a missed wake-up falls back to.
#
# A run counts only if it did what it claims: the driver checks every job on
# its own (state succeeded, timestamps in order, its row succeeded with the
# mirror) and fails otherwise; the worker must exit 0 after SIGTERM; no
# latency may be negative. Any of these stops the bench with an error.
#
# BENCH_REPEAT=N (1 or more; anything else exits 64) runs the four
# end-to-end configurations N times, in turn
# (so a burst of load on a shared machine hits all of them alike), and adds
# the median and range of each.
#
#   sh tests/bench/queue.sh            BENCH_JOBS=5000 BENCH_REPEAT=5 sh tests/bench/queue.sh
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
ACMECTL=${ACMECTL:-$top/acmectl}
N=${BENCH_JOBS:-20000}
REPEAT=${BENCH_REPEAT:-1}
case $REPEAT in
''|*[!0-9]*|0*) echo "queue.sh: BENCH_REPEAT=$REPEAT: expected a whole number of rounds, 1 or more" >&2; exit 64 ;;
esac
dir=$(mktemp -d /tmp/acme-qbench.XXXXXX)
chmod 755 "$dir"
wpid=

cleanup() {
	[ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null || true
	[ -r "$dir/tls-redis/redis.pid" ] && kill "$(cat "$dir/tls-redis/redis.pid")" 2>/dev/null || true
	sh "$top/tests/lib/servers.sh" stop "$dir/srv" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sh "$top/tests/lib/servers.sh" start "$dir/srv" >/dev/null
# shellcheck disable=SC1091
. "$dir/srv/env"
unset DATABASE_URL_FILE REDIS_URL_FILE ACME_CONFIG
export ACME_ENV=test XDG_CONFIG_HOME="$dir/config" REDIS_URL="unix://$TEST_REDIS_SOCK"
# per-job log lines are info: a benchmark measures the queue, not stderr
export ACME_LOG_LEVEL=warning
psql() { "$TEST_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$TEST_PG_HOST" -U acme "$@"; }
RCLI="redis-cli -s $TEST_REDIS_SOCK"   # the bench's Redis, for its own reads

cores=$(nproc)
echo "machine: $cores cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "servers: $("$TEST_PG_BIN/postgres" --version | sed 's/.*) //') (fsync off), redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
echo "jobs: $N noop jobs per run, enqueued in pipelined batches of 1000 while the worker runs"
echo

# ---- the peer: redis-benchmark LPUSH on the same Redis ----
lpush() {
	redis-benchmark -s "$TEST_REDIS_SOCK" -t lpush -n 100000 -c "$1" -q 2>/dev/null |
		tr '\r' '\n' | sed -n 's/^LPUSH: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1
}
lp1=$(lpush 1)
lp50=$(lpush 50)
printf '%-44s %10s ops/s\n' "redis-benchmark -t lpush -n 100000 -c 1" "$lp1"
printf '%-44s %10s ops/s\n' "redis-benchmark -t lpush -n 100000 -c 50" "$lp50"

# ---- the peer: Celery, the same noop jobs on the same Redis (db 1) ----
celery_py=
for py in python3 /usr/bin/python3; do
	if "$py" -c 'import celery' 2>/dev/null; then celery_py=$py; break; fi
done
if [ -z "$celery_py" ]; then
	echo "celery: not measured (python3-celery is not installed)"
elif ! "$celery_py" -c 'import redis' 2>/dev/null; then
	echo "celery: not measured (python3-redis is not installed; Celery's Redis transport needs it)"
else
	echo "celery: $N noop tasks, first enqueue to last finish; no result backend, so compare with no-mirror:"
	mkdir "$dir/celery"
	if ! "$celery_py" "$top/tests/bench/celery-peer.py" --sock "$TEST_REDIS_SOCK" --db 1 \
		--jobs "$N" --concurrency 1,2 --log-dir "$dir/celery"; then
		echo "queue.sh: the Celery peer failed" >&2
		exit 1
	fi
fi
echo

run=0
# one configuration: $1 children, $2 = mirror|no-mirror, $3 = extra bench options
measure() {
	run=$((run + 1))
	db="qbench_$run"
	psql -d postgres -c "CREATE DATABASE $db TEMPLATE acme_template"
	export DATABASE_URL="postgresql:///$db?host=$TEST_PG_HOST&user=acme"
	export ACME_REDIS_PREFIX="qbench:$run:"
	wopt=
	bopt=
	if [ "$2" = no-mirror ]; then wopt=--no-mirror; bopt=--no-db; fi
	# shellcheck disable=SC2086
	"$ACMECTL" worker -Q "bench=$1" $wopt >"$dir/worker-$run.log" 2>&1 &
	wpid=$!
	i=0
	until $RCLI --scan --pattern "qbench:$run:worker:*" | grep -q .; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "the worker did not start:" >&2; cat "$dir/worker-$run.log" >&2; exit 1; }
		sleep 0.1
	done
	# shellcheck disable=SC2086
	if ! "$ACME_HELPERS/acme-queue" bench "${COUNT:-$N}" $bopt ${3:-} >"$dir/bench-$run.json"; then
		echo "queue.sh: run $run ($1 children, $2): the driver failed: $(cat "$dir/bench-$run.json")" >&2
		exit 1
	fi
	stop_worker "$run"
	python3 - "$dir/bench-$run.json" "$1" "$2" "${3:-}" "$dir/rates" <<'EOPY'
import json, sys
d = json.load(open(sys.argv[1]))
label = "%s child%s, %s%s%s" % (sys.argv[2], "" if sys.argv[2] == "1" else "ren", sys.argv[3],
                                " " + sys.argv[4] if sys.argv[4] else "",
                                __import__("os").environ.get("BENCH_VIA", ""))
l = d["latency_ms"]
bad = []
if not d["verified"] or d["not_succeeded"] or d["bad_timestamps"]:
    bad.append("the driver did not verify every job (%s)" % d.get("first_bad", "?"))
if d["mirror"] and not (d["rows"] == d["rows_succeeded"] == d["jobs"]):
    bad.append("%d of %d jobs rows say succeeded" % (d["rows_succeeded"], d["jobs"]))
if l["min"] < 0:
    bad.append("a negative latency (%d ms)" % l["min"])
if bad:
    sys.exit("queue.sh: %s: %s" % (label, "; ".join(bad)))
print("%-48s %8.0f jobs/s  %6.2f s  latency p50 %6d ms  p99 %6d ms  (enqueue %6.0f/s)" % (
      label, d["jobs_per_s"], d["end_to_end_s"], l["p50"], l["p99"], d["enqueue_per_s"]))
with open(sys.argv[5], "a") as f:
    f.write("%s\t%.0f\n" % (label, d["jobs_per_s"]))
EOPY
}

# SIGTERM to the worker of run $1; it must exit 0 within a minute
stop_worker() {
	kill -TERM "$wpid"
	i=0
	while [ $i -lt 600 ]; do
		case $(ps -o stat= -p "$wpid") in Z*|'') break ;; esac
		sleep 0.1; i=$((i + 1))
	done
	kill -KILL "$wpid" 2>/dev/null || true
	wst=0
	wait "$wpid" || wst=$?
	wpid=
	if [ "$wst" -ne 0 ]; then
		echo "queue.sh: run $1: the worker exited $wst; its log ends:" >&2
		tail -n 20 "$dir/worker-$1.log" >&2
		exit 1
	fi
}

# Wake-up latency: $1 workers blocked on the empty queue "wake" (known to be
# blocked: the only blocked clients of this Redis), then $1 jobs, $2 rounds.
# Each job's latency is started_ms - enqueued_ms from its Redis hash.
wake() {
	run=$((run + 1))
	db="qbench_$run"
	psql -d postgres -c "CREATE DATABASE $db TEMPLATE acme_template"
	export DATABASE_URL="postgresql:///$db?host=$TEST_PG_HOST&user=acme"
	export ACME_REDIS_PREFIX="qbench:$run:"
	: >"$dir/wake-$run.ids"
	r=0
	while [ $r -lt "$2" ]; do
		pids=
		w=0
		while [ $w -lt "$1" ]; do
			"$ACME_HELPERS/acme-queue" dequeue --queue wake --wait 60s --lease 60s \
				>>"$dir/wake-$run.got" 2>>"$dir/wake-$run.err" &
			pids="$pids $!"
			w=$((w + 1))
		done
		i=0
		until [ "$(redis-cli -s "$TEST_REDIS_SOCK" INFO clients | tr -d '\r' |
			sed -n 's/^blocked_clients://p')" = "$1" ]; do
			i=$((i + 1)); [ $i -lt 200 ] || { echo "queue.sh: the waiters did not block" >&2; exit 1; }
			sleep 0.05
		done
		w=0
		while [ $w -lt "$1" ]; do
			"$ACMECTL" -q jobs enqueue noop --queue wake --id "wk-$r-$w" >/dev/null
			echo "wk-$r-$w" >>"$dir/wake-$run.ids"
			w=$((w + 1))
		done
		for p in $pids; do
			wait "$p" || { echo "queue.sh: a waiter failed: $(cat "$dir/wake-$run.err")" >&2; exit 1; }
		done
		r=$((r + 1))
	done
	while read -r id; do
		echo "$id $(redis-cli -s "$TEST_REDIS_SOCK" HMGET "qbench:$run:{wake}:job:$id" state enqueued_ms started_ms |
			tr '\n' ' ')"
	done <"$dir/wake-$run.ids" >"$dir/wake-$run.times"
	python3 - "$dir/wake-$run.times" "$dir/wake-$run.got" "$1" <<'EOPY'
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
got = sorted(json.loads(l)["id"] for l in open(sys.argv[2]))
want = sorted(r[0] for r in rows)
if got != want:
    sys.exit("queue.sh: wake-up: the waiters got %s, not the jobs enqueued %s" % (got[:5], want[:5]))
lat = []
for r in rows:
    if len(r) != 4 or r[1] != "running":
        sys.exit("queue.sh: wake-up: job %s is not running: %s" % (r[0], r[1:]))
    lat.append(int(r[3]) - int(r[2]))
if min(lat) < 0:
    sys.exit("queue.sh: wake-up: a negative latency (%d ms)" % min(lat))
lat.sort()
print("%-48s %d jobs: enqueue to start p50 %4d ms  max %4d ms  (a missed wake-up: up to 1000 ms)" % (
      "%s blocked waiter%s, a job each" % (sys.argv[3], "" if sys.argv[3] == "1" else "s"),
      len(lat), lat[len(lat) // 2], lat[-1]))
EOPY
}

echo "end to end (enqueue burst, backlog included in the latency):"
: >"$dir/rates"
rep=0
while [ $rep -lt "$REPEAT" ]; do
	measure 1 mirror
	measure 2 mirror
	measure 1 no-mirror
	measure 2 no-mirror
	rep=$((rep + 1))
done
if [ "$REPEAT" -gt 1 ]; then
	python3 - "$dir/rates" <<'EOPY'
import sys
runs = {}
for line in open(sys.argv[1]):
    label, rate = line.rstrip("\n").split("\t")
    runs.setdefault(label, []).append(float(rate))
for label, r in runs.items():
    r.sort()
    med = (r[(len(r) - 1) // 2] + r[len(r) // 2]) / 2
    print("median of %d: %-35s %8.0f jobs/s  (%.0f..%.0f)" % (len(r), label, med, r[0], r[-1]))
EOPY
fi
: >"$dir/rates"
echo
echo "paced below capacity, 2000 jobs (latency of a job that waits behind no backlog):"
COUNT=2000 measure 2 mirror "--rate 200 --batch 10"
COUNT=2000 measure 2 no-mirror "--rate 2000 --batch 10"

# ---- Redis over TLS (rediss://): the cost of the encryption ----
# One redis-server listening on a plain TCP port and a TLS port (a test CA
# and certificate made here), the same runs through each: the TLS figure
# compares with plain TCP, not with the unix socket above. BENCH_TLS=0 skips.
tls_bench() {
	pki=$dir/pki
	mkdir -p "$pki" "$dir/tls-redis"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-keyout "$pki/ca.key" -out "$pki/ca.crt" -subj /CN=acme-bench-ca \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$pki/server.key" -out "$pki/server.csr" -subj /CN=localhost 2>/dev/null &&
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$pki/server.ext" &&
	openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
		-CAcreateserial -days 2 -out "$pki/server.crt" -extfile "$pki/server.ext" 2>/dev/null || {
		echo "tls: not measured (openssl could not make the certificates)"; return 0; }
	chmod 600 "$pki"/*.key
	ports=$(python3 -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
	pport=${ports% *}; tport=${ports#* }
	redis-server --bind 127.0.0.1 --port "$pport" --tls-port "$tport" \
		--tls-cert-file "$pki/server.crt" --tls-key-file "$pki/server.key" \
		--tls-ca-cert-file "$pki/ca.crt" --tls-auth-clients no \
		--unixsocket "$dir/tls-redis/redis.sock" --unixsocketperm 700 --daemonize yes \
		--pidfile "$dir/tls-redis/redis.pid" --logfile "$dir/tls-redis/redis.log" \
		--dir "$dir/tls-redis" --save '' --appendonly no >/dev/null 2>&1 || {
		echo "tls: not measured (redis-server did not start with TLS)"; return 0; }
	i=0
	until redis-cli -s "$dir/tls-redis/redis.sock" PING >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "tls: not measured (redis-server did not answer)"; return 0; }
		sleep 0.1
	done
	saved_url=$REDIS_URL saved_rcli=$RCLI
	RCLI="redis-cli -s $dir/tls-redis/redis.sock"
	for via in plain tls; do
		if [ $via = plain ]; then
			export REDIS_URL="redis://127.0.0.1:$pport" BENCH_VIA=", plain TCP"
		else
			export REDIS_URL="rediss://localhost:$tport?tls_ca=$pki/ca.crt" BENCH_VIA=", TLS"
		fi
		measure 1 mirror
		measure 2 mirror
	done
	unset BENCH_VIA
	export REDIS_URL="$saved_url"
	RCLI=$saved_rcli
	kill "$(cat "$dir/tls-redis/redis.pid")" 2>/dev/null || true
}
if [ "${BENCH_TLS:-1}" != 0 ]; then
	echo
	echo "over TCP on loopback, plain (redis://) then TLS (rediss://, TLS 1.3), $N jobs:"
	: >"$dir/rates"
	tls_bench
fi
echo
echo "wake-up of workers blocked on an empty queue (Redis clock):"
wake 1 "${WAKE_ROUNDS:-20}"
wake 2 "${WAKE_ROUNDS:-20}"
echo
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end" \
	"(above $cores means other work shared the cores; compare within one run)"
echo "command: make bench   (or: BENCH_PARTS=queue tests/bench/run; BENCH_JOBS=N to change the count)"
