#!/bin/sh
# demo.sh — what `make demo` runs: the main job on the embedded default (the
# dev stack), as a newcomer would see it: a private PostgreSQL and Redis, the
# schema, a worker, and a generated product catalog imported through the
# real queue.
set -eu
cd "$(dirname "$0")/../.."
acmectl=./acmectl
unset DATABASE_URL REDIS_URL
export ACME_ENV=development

echo "== starting the dev stack (private PostgreSQL and Redis on unix sockets, migrated)"
$acmectl dev up
echo
echo "== configuration (secrets redacted, each value's source)"
$acmectl config show
echo
echo "== readiness"
$acmectl health --ready
$acmectl migrate status

echo
echo "== starting a worker in the background"
$acmectl worker --queues import,default,webhooks 2>"${TMPDIR:-/tmp}/acmectl-demo-worker.log" &
worker=$!
# the worker gets its --shutdown-timeout (30 s) and a margin, then SIGKILL
stop_worker() {
	kill "$worker" 2>/dev/null || return 0
	i=0
	while [ $i -lt 450 ]; do
		case $(ps -o stat= -p "$worker") in Z*|'') break ;; esac
		sleep 0.1; i=$((i + 1))
	done
	kill -KILL "$worker" 2>/dev/null || true
	wait "$worker" 2>/dev/null || true
}
trap stop_worker EXIT
$acmectl health --ready --require-worker --wait --timeout 30s -q

rows=${DEMO_ROWS:-20000}
catalog=${TMPDIR:-/tmp}/acmectl-demo-catalog.csv
echo
echo "== generating a sample catalog: $rows products (2% repeat a SKU in another case)"
python3 tests/bench/gen-catalog.py -n "$rows" -o "$catalog"
head -n 3 "$catalog"
echo
echo "== importing it: the file is staged in PostgreSQL, the worker runs the job, --wait follows it"
$acmectl import "$catalog" --wait || true
echo
echo "== a few products"
$acmectl products list --limit 5 --sort sku
echo
echo "== the same file again changes nothing: every row is unchanged"
$acmectl import "$catalog" --wait || true
rm -f "$catalog"
echo
echo "The dev stack keeps running (./acmectl dev status); stop it with: ./acmectl dev down"
