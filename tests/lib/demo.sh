#!/bin/sh
# demo.sh — what `make demo` runs: the main job on the embedded default (the
# dev stack), as a newcomer would see it.
set -eu
cd "$(dirname "$0")/../.."
acmectl=./acmectl
unset DATABASE_URL REDIS_URL
export ACME_ENV=development

echo "== starting the dev stack (private PostgreSQL and Redis on unix sockets)"
$acmectl dev up
echo
echo "== dev stack status"
$acmectl dev status
echo
echo "== configuration (secrets redacted, each value's source)"
$acmectl config show
echo
echo "== checking both servers answer"
$acmectl config check --connect
if $acmectl help migrate >/dev/null 2>&1; then
	echo
	echo "== migrating the schema"
	$acmectl migrate up
	$acmectl migrate status
fi
if $acmectl help health >/dev/null 2>&1; then
	echo
	echo "== readiness"
	$acmectl health --ready
fi
# `acmectl import FILE --wait` with a burst worker that starts once the job
# is queued (a burst worker exits as soon as its queue is empty)
import_with_worker() {
	(
		while [ -z "$($acmectl -q jobs list --type import --state queued 2>/dev/null | tail -n +2)" ]; do
			sleep 0.1
		done
		$acmectl worker --burst --queues import 2>/dev/null
	) &
	worker=$!
	$acmectl import "$1" --wait || true
	wait "$worker" 2>/dev/null || true
}
if $acmectl help import >/dev/null 2>&1; then
	rows=${DEMO_ROWS:-20000}
	catalog=${TMPDIR:-/tmp}/acmectl-demo-catalog.csv
	echo
	echo "== generating a sample catalog: $rows products (2% repeat a SKU in another case)"
	python3 tests/bench/gen-catalog.py -n "$rows" -o "$catalog"
	head -n 3 "$catalog"
	echo
	echo "== importing it: the file is staged, a burst worker runs the job, --wait follows it"
	import_with_worker "$catalog"
	echo
	echo "== a few products"
	$acmectl dev psql -- -X -c "SELECT sku, name, price, active FROM products ORDER BY sku_lower LIMIT 5" \
		-c "SELECT count(*) AS products FROM products"
	echo
	echo "== the same file again changes nothing: every row is unchanged"
	import_with_worker "$catalog"
	rm -f "$catalog"
fi
echo
echo "The dev stack keeps running; stop it with: ./acmectl dev down"
