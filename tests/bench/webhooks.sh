#!/bin/sh
# webhooks.sh — deliveries per second from ONE webhook worker child
# (`acmectl worker --burst --queues webhooks=1`) to a local receiver
# (`acmectl webhooks listen`):
#
#   fast   the receiver answers at once            target >= 2,000/s
#   slow   the receiver answers after 200 ms       target >=   200/s
#
# Each delivery is the whole real path: claim in PostgreSQL under the
# per-endpoint cap, sign (HMAC-SHA256), POST through libcurl's multi
# interface, log the attempt (headers, status, latency, excerpt) and record
# the outcome. The deliveries are inserted with SQL (as event.dispatch would
# insert them) so that the time measured is delivery alone; the rate is the
# deliverer's own count over its own running time, and the wall time of the
# whole worker run is printed beside it.
#
# The peer is curl(1) itself sending the same number of POSTs with the same
# body to the same receiver with --parallel (libcurl multi, keep-alive, no
# signing, no database): the HTTP floor on this machine. The slow case uses
# max_in_flight_per_endpoint (default 50) as curl's --parallel-max.
#
# BENCH_FAST (default 20000) and BENCH_SLOW (default 2000) set the counts.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
acmectl=${ACMECTL:-$top/acmectl}
n_fast=${BENCH_FAST:-20000}
n_slow=${BENCH_SLOW:-2000}
cap=50

dir=$(mktemp -d /tmp/acmectl-bench.XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	sh "$top/tests/lib/servers.sh" stop "$dir" || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
sh "$top/tests/lib/servers.sh" start "$dir" >/dev/null
# shellcheck disable=SC1091
. "$dir/env"
psql="$TEST_PG_BIN/psql -X -q -At -v ON_ERROR_STOP=1 -h $TEST_PG_HOST -U acme"
$psql -d postgres -c "CREATE DATABASE bench TEMPLATE acme_template"
export DATABASE_URL="postgresql:///bench?host=$TEST_PG_HOST&user=acme"
export REDIS_URL="unix://$TEST_REDIS_SOCK" ACME_ENV=test ACME_REDIS_PREFIX=bench:
export XDG_CONFIG_HOME="$dir/config"
mkdir -p "$XDG_CONFIG_HOME/acmectl"
printf '[webhooks]\nmax_in_flight_per_endpoint = %d\ntimeout = 30s\n' "$cap" >"$XDG_CONFIG_HOME/acmectl/config"
unset ACME_CONFIG NO_COLOR
$psql -d bench -c "CREATE TABLE done_jobs (id text)"

body='{"id":"evt_bench","type":"product.updated","timestamp":"2026-01-01T00:00:00.000Z","data":{"id":123456,"sku":"ABC-0012345","name":"Steel bracket 42","price":"12.50","active":true}}'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"

# case name count delay
run_case() {
	name=$1 n=$2 delay=$3
	"$acmectl" webhooks listen --port 0 --port-file "$dir/$name.port" --delay "$delay" \
		>/dev/null 2>"$dir/$name.listen" &
	pids="$pids $!"
	i=0
	while [ ! -s "$dir/$name.port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	port=$(cat "$dir/$name.port")
	url="http://127.0.0.1:$port/$name"

	id=$("$acmectl" -q webhooks add "$url" -e '*' -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	$psql -d bench -c "UPDATE webhooks SET enabled = (id = $id)"
	$psql -d bench -v body="$body" -v n="$n" -v id="$id" -v name="$name" <<'SQL'
INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, next_attempt_at)
SELECT :id, :'name' || '_' || g, 'product.updated', convert_to(:'body', 'UTF8'), now()
FROM generate_series(1, :n) g;
ANALYZE webhook_deliveries;
SQL
	"$acmectl" -q jobs enqueue webhook.deliver >/dev/null
	t0=$(date +%s%N)
	"$acmectl" worker --burst --queues webhooks=1 >"$dir/$name.worker" 2>&1
	t1=$(date +%s%N)
	ok=$($psql -d bench -c "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $id AND status = 'succeeded'")
	# from the moment the deliverer job started to the last recorded outcome
	# (the deliverer then lingers PUMP_IDLE_EXIT_MS for more work: not counted)
	ms=$($psql -d bench -c "SELECT round(extract(epoch FROM (SELECT max(delivered_at) FROM webhook_deliveries
		WHERE webhook_id = $id) - (SELECT min(started_at) FROM jobs WHERE type = 'webhook.deliver'
		AND started_at > now() - interval '1 hour' AND id NOT IN (SELECT id FROM done_jobs))) * 1000)")
	$psql -d bench -c "INSERT INTO done_jobs SELECT id FROM jobs WHERE type = 'webhook.deliver'"
	sent=$n
	wall_ms=$(((t1 - t0) / 1000000))
	grep -o 'deliverer [^ ]*: .*' "$dir/$name.worker" | sed 's/^/      /' | head -n 3

	# the peer: curl --parallel, same body, same receiver
	printf '%s' "$body" >"$dir/body"
	k=0
	: >"$dir/$name.curl"
	while [ $k -lt "$n" ]; do
		printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$dir/$name.curl"
		k=$((k + 1))
	done
	par=$cap
	[ "$delay" = 0 ] && par=$cap
	c0=$(date +%s%N)
	curl -s --no-progress-meter --parallel --parallel-max "$par" -H 'content-type: application/json' \
		--data-binary "@$dir/body" -K "$dir/$name.curl"
	c1=$(date +%s%N)
	curl_ms=$(((c1 - c0) / 1000000))

	python3 - "$name" "$n" "$ok" "$sent" "$ms" "$wall_ms" "$curl_ms" "$4" <<'EOF'
import sys
name, n, ok, sent, ms, wall, curl_ms, target = sys.argv[1:]
n, ok, sent, ms, wall, curl_ms, target = int(n), int(ok), int(sent or 0), int(ms or 1), int(wall), int(curl_ms), int(target)
rate = sent / (ms / 1000.0)
peer = n / (curl_ms / 1000.0)
print("%-5s %6d deliveries, %6d succeeded: %7.0f/s (%d ms from the deliverer's start to the last outcome;\n      the whole worker run, start and idle exit included: %d ms, %.0f/s)"
      % (name, n, ok, rate, ms, wall, n / (wall / 1000.0)))
print("      peer: curl --parallel %6.0f/s; acmectl/curl = %.2f; target %d/s: %s"
      % (peer, rate / peer, target, "met" if rate >= target and ok == n else "NOT MET"))
sys.exit(0 if rate >= target and ok == n else 1)
EOF
}

status=0
run_case fast "$n_fast" 0 2000 || status=1
run_case slow "$n_slow" 200ms 200 || status=1
exit $status
