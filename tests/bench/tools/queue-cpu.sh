#!/bin/sh
# queue-cpu.sh — where a queue run's CPU goes (issue 15): N noop jobs through
# `acmectl worker -Q bench=CHILDREN` (with the mirror, or no-mirror), driven by
# `acme-queue bench` as in tests/bench/queue.sh, on throwaway servers; prints
# the CPU seconds Redis, PostgreSQL and the worker used before and after the
# run (every redis-server and postgres process on the machine: run it on a
# quiet one), PostgreSQL's transactions in the run, jobs/s, and Redis's
# per-command statistics. TOP=DIR measures another build (a git worktree), so
# two builds can be run alternately on the same machine.
#
#   ACME_HELPERS=build/tests/helpers sh tests/bench/tools/queue-cpu.sh 1 mirror 30000
set -eu
top=${TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
[ $# -eq 3 ] || { echo "usage: queue-cpu.sh CHILDREN mirror|no-mirror JOBS" >&2; exit 64; }
: "${ACME_HELPERS:?set ACME_HELPERS to build/tests/helpers}"
ch=$1; mode=$2; N=$3
dir=$(mktemp -d /tmp/acme-prof.XXXXXX); chmod 755 "$dir"
wpid=
trap '[ -z "$wpid" ] || kill -KILL "$wpid" 2>/dev/null; sh "$top/tests/lib/servers.sh" stop "$dir/srv" >/dev/null 2>&1; rm -rf "$dir"' EXIT
sh $top/tests/lib/servers.sh start $dir/srv >/dev/null
. $dir/srv/env
unset DATABASE_URL_FILE REDIS_URL_FILE ACME_CONFIG
export ACME_ENV=test XDG_CONFIG_HOME=$dir/config REDIS_URL="unix://$TEST_REDIS_SOCK" ACME_LOG_LEVEL=warning
"$TEST_PG_BIN/psql" -X -q -h "$TEST_PG_HOST" -U acme -d postgres -c "CREATE DATABASE p1 TEMPLATE acme_template"
export DATABASE_URL="postgresql:///p1?host=$TEST_PG_HOST&user=acme" ACME_REDIS_PREFIX="p:"
wopt=; bopt=
[ "$mode" = no-mirror ] && { wopt=--no-mirror; bopt=--no-db; }
$top/acmectl worker -Q "bench=$ch" $wopt > $dir/w.log 2>&1 &
wpid=$!
until redis-cli -s "$TEST_REDIS_SOCK" --scan --pattern "p:worker:*" | grep -q .; do sleep 0.1; done
cpu() { # total utime+stime ticks by class
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ -r "/proc/$p/stat" ] || continue
    c=$(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | cut -c1-60)
    case "$c" in *redis-server*$dir*|*redis-server*) k=redis;; postgres:*) k=pg;; *acmectl\ worker*) k=worker;; *) continue;; esac
    awk -v k=$k '{print k, $14+$15}' /proc/$p/stat 2>/dev/null
  done | awk '{s[$1]+=$2} END {for (k in s) printf "%s=%.2fs ", k, s[k]/100; print ""}'
}
before=$(cpu)
x0=$("$TEST_PG_BIN/psql" -X -At -h "$TEST_PG_HOST" -U acme -d p1 -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'p1'")
/usr/bin/time -f "driver %U+%S s" $ACME_HELPERS/acme-queue bench $N $bopt > $dir/b.json
after=$(cpu)
sleep 0.6   # the batched writers' last statements
x1=$("$TEST_PG_BIN/psql" -X -At -h "$TEST_PG_HOST" -U acme -d p1 -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'p1'")
echo "transactions: $((x1 - x0))"
echo "before: $before"; echo "after:  $after"
python3 -c "import json;d=json.load(open('$dir/b.json'));print('jobs/s', round(d['jobs_per_s']), 'enqueue/s', round(d['enqueue_per_s']), 'e2e', d['end_to_end_s'])"
redis-cli -s "$TEST_REDIS_SOCK" INFO commandstats | grep -v "^#" | sort -t= -k3 -rn | head -25
kill -TERM "$wpid"; wait "$wpid" || true
wpid=
