#!/bin/sh
# import.sh — `make bench`: `acmectl import --wait` end to end against the
# floor of issue 5, measured in the same run on the same generated catalog:
# psql's \copy into a TEMP table, then one INSERT ... SELECT DISTINCT ON
# (lower(sku)) ... ON CONFLICT DO UPDATE ... WHERE ... IS DISTINCT FROM, in one
# transaction. Each runs in its own freshly migrated database of one
# throwaway PostgreSQL (default durability: fsync and full-page writes on)
# with a throwaway Redis, the cases interleaved, a CHECKPOINT and a VACUUM
# ANALYZE of products between them, so both start every case from the same
# state. After each case the two catalogs must be identical.
#
# Cases, in this order: "empty" (the catalog into an empty table),
# "10%-changed" (the same SKUs, a tenth of them with other names and prices),
# "all-update" (every product changes), "unchanged" (that file again).
# acmectl runs with --method auto unless IMPORT_OPTS says otherwise
# (IMPORT_OPTS="--method merge" measures the row-by-row merge on every case);
# the method each case took is printed. For acmectl the time is the command's wall clock: staging the
# file, the queue, a burst worker started when the job is queued, the job,
# the summary. Peak RSS (VmHWM, through /usr/bin/time -v) is measured for the
# worker (its whole process tree) and the CLI; MEMORY_ROWS adds a --dry-run
# import of a bigger file for the memory bound of issue 5 (the worker's
# work on the file is the same with --dry-run; only the server-side merge is
# left out).
#
#   tests/bench/import.sh                         # ROWS=500000, MEMORY_ROWS=2000000
#   ROWS=100000 MEMORY_ROWS=0 tests/bench/import.sh
#   REPEAT=3 ...                                  # three runs on fresh databases; medians
#   KEEP=1 ...                                    # leave the servers running, print where
#   IMPORT_OPTS="--method merge" ...              # options for every acmectl import
#
# Times on a shared or busy machine vary by tens of percent from run to run;
# compare the two columns of one line, and use REPEAT for medians. A run whose
# burst worker exits non-zero, or whose two catalogs differ, stops the bench
# with an error instead of printing a figure.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
ROWS=${ROWS:-500000}
REPEAT=${REPEAT:-1}
MEMORY_ROWS=${MEMORY_ROWS:-2000000}
acmectl=${ACMECTL:-$top/acmectl}
data=$top/build/bench
mkdir -p "$data"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] || { echo "import.sh: PostgreSQL server binaries not found" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "import.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 1; }
[ -x "$acmectl" ] || { echo "import.sh: build acmectl first (make)" >&2; exit 1; }

# ---- the files ----------------------------------------------------------------
gen() {	# rows variant [changed share] -> path
	f=$data/catalog-$1-v$2${3:+-c$3}.csv
	if [ ! -s "$f" ]; then
		python3 tests/bench/gen-catalog.py -n "$1" --variant "$2" ${3:+--changed "$3"} -o "$f.tmp"
		mv "$f.tmp" "$f"
	fi
	echo "$f"
}
base=$(gen "$ROWS" 0)
tenth=$(gen "$ROWS" 1 0.1)
update=$(gen "$ROWS" 2)

# ---- throwaway servers ------------------------------------------------------------
dir=$(mktemp -d /tmp/acme-bench.XXXXXX)
chmod 755 "$dir"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop() {
	[ -n "${KEEP:-}" ] && { echo "servers kept in $dir"; return; }
	as_pg "$pgbin/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null 2>&1 || true
	[ -r "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM
mkdir -p "$dir/pg"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir" "$dir/pg"
as_pg "$pgbin/initdb" -D "$dir/pg" -U acme --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
as_pg "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
	-o "-c listen_addresses='' -c unix_socket_directories='$dir'" start >/dev/null
redis-server --port 0 --unixsocket "$dir/redis.sock" --daemonize yes --pidfile "$dir/redis.pid" \
	--logfile "$dir/redis.log" --save '' --appendonly no >/dev/null
while ! redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1; do sleep 0.1; done

psql() { "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -U acme "$@"; }
export REDIS_URL="unix://$dir/redis.sock" ACME_ENV=test ACME_REDIS_PREFIX="bench:"
fresh_databases() {
	for db in peer acme; do
		psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_$db" -c "CREATE DATABASE bench_$db"
		DATABASE_URL="postgresql:///bench_$db?host=$dir&user=acme" "$acmectl" -q migrate up
	done
}
export DATABASE_URL="postgresql:///bench_acme?host=$dir&user=acme"

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
settle() {	# the same starting line for both databases
	for db in peer acme; do psql -d "bench_$db" -c "VACUUM ANALYZE products"; done
	psql -d postgres -c "CHECKPOINT"
}
catalog_md5() {
	psql -d "bench_$1" -c "SELECT sku, name, description, active, price FROM products ORDER BY sku_lower" | md5sum | cut -c1-32
}
rss_mb() { awk '/Maximum resident set size/ { printf "%.1f", $NF / 1024 }' "$1"; }

# ---- the peer: \copy + one upsert, one transaction -----------------------------------
peer() {	# file -> seconds
	cat >"$dir/peer.sql" <<EOF
BEGIN;
CREATE TEMP TABLE stage (seq bigserial, sku text, name text, description text,
                         active boolean, price numeric(12,2)) ON COMMIT DROP;
\\copy stage (sku, name, description, active, price) FROM '$1' WITH (FORMAT csv, HEADER true)
INSERT INTO products (sku, name, description, active, price)
SELECT DISTINCT ON (lower(sku)) sku, name, description, coalesce(active, true), price
FROM stage ORDER BY lower(sku), seq DESC
ON CONFLICT (sku_lower) DO UPDATE
SET sku = EXCLUDED.sku, name = EXCLUDED.name, description = EXCLUDED.description,
    active = EXCLUDED.active, price = EXCLUDED.price, updated_at = now()
WHERE (products.sku, products.name, products.description, products.active, products.price)
      IS DISTINCT FROM (EXCLUDED.sku, EXCLUDED.name, EXCLUDED.description, EXCLUDED.active,
                        EXCLUDED.price);
COMMIT;
EOF
	t0=$(now)
	psql -d bench_peer -f "$dir/peer.sql" >/dev/null
	secs "$t0" "$(now)"
}

# ---- acmectl: import --wait with a burst worker ------------------------------------------
acme() {	# file [import options] -> seconds; leaves $dir/summary, $dir/worker.time, $dir/cli.time
	f=$1; shift
	queued_before=$(psql -d bench_acme -c "SELECT count(*) FROM jobs")
	t0=$(now)
	# shellcheck disable=SC2086 # IMPORT_OPTS is a list of options
	/usr/bin/time -v -o "$dir/cli.time" "$acmectl" -q import "$f" --wait -o json ${IMPORT_OPTS:-} "$@" \
		>"$dir/events" 2>"$dir/cli.err" &
	cli=$!
	while [ "$(psql -d bench_acme -c "SELECT count(*) FROM jobs")" = "$queued_before" ]; do
		kill -0 "$cli" 2>/dev/null || break
		sleep 0.02
	done
	/usr/bin/time -v -o "$dir/worker.time" "$acmectl" worker --burst --queues import \
		>"$dir/worker.log" 2>&1 &
	worker=$!
	wait "$cli" || { echo "import.sh: acmectl import failed:" >&2; cat "$dir/cli.err" >&2; exit 1; }
	t1=$(now)
	# a figure counts only if the worker that produced it ended well
	wst=0
	wait "$worker" || wst=$?
	if [ "$wst" -ne 0 ]; then
		echo "import.sh: the burst worker exited $wst; its log ends:" >&2
		tail -n 20 "$dir/worker.log" >&2
		exit 1
	fi
	tail -n 1 "$dir/events" >"$dir/summary"
	secs "$t0" "$t1"
}

field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d$1)" "$dir/summary"; }
steps() {
	psql -d bench_acme -c "SELECT result->'steps_ms' FROM jobs WHERE type = 'import'
		ORDER BY created_at DESC LIMIT 1"
}

printf 'acmectl import benchmark: %s rows (%s MiB), PostgreSQL %s, %s CPUs, %s\n' "$ROWS" \
	"$(( $(wc -c <"$base") / 1048576 ))" "$("$pgbin/postgres" --version | awk '{print $3}')" \
	"$(nproc)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf '%-12s %9s %11s %7s %-8s %s\n' case "peer (s)" "acmectl (s)" ratio method "acmectl: parse / merge steps (ms), counts"
worker_rss=0
cli_rss=0
: >"$dir/ratios"
for _ in $(seq "$REPEAT"); do
fresh_databases
for c in empty 10%-changed all-update unchanged; do
	case $c in empty) f=$base ;; 10%-changed) f=$tenth ;; *) f=$update ;; esac
	settle
	tp=$(peer "$f")
	settle
	ta=$(acme "$f")
	[ "$(catalog_md5 peer)" = "$(catalog_md5 acme)" ] ||
		{ echo "import.sh: case $c: the two catalogs differ" >&2; exit 1; }
	echo "$c $tp $ta" >>"$dir/ratios"
	printf '%-12s %9.2f %11.2f %7.2f %-8s parse %s, %s; ins %s upd %s unch %s dup %s rej %s\n' "$c" "$tp" "$ta" \
		"$(echo "$ta / $tp" | bc -l)" \
		"$(psql -d bench_acme -c "SELECT result->>'method' FROM jobs WHERE type = 'import' ORDER BY created_at DESC LIMIT 1")" \
		"$(psql -d bench_acme -c "SELECT result->'parse_ms' FROM jobs WHERE type = 'import' ORDER BY created_at DESC LIMIT 1")" \
		"$(steps)" "$(field "['inserted']")" "$(field "['updated']")" "$(field "['unchanged']")" \
		"$(field "['duplicates']")" "$(field "['rejected']")"
	worker_rss=$(echo "$(rss_mb "$dir/worker.time") $worker_rss" | awk '{print ($1 > $2) ? $1 : $2}')
	cli_rss=$(echo "$(rss_mb "$dir/cli.time") $cli_rss" | awk '{print ($1 > $2) ? $1 : $2}')
done
done
echo "the two catalogs were identical after every case"
if [ "$REPEAT" -gt 1 ]; then
	for c in empty 10%-changed all-update unchanged; do
		awk -v c="$c" '$1 == c { print $2, $3, $3 / $2 }' "$dir/ratios" | sort -n -k3 |
			awk -v c="$c" '{ p[NR] = $1; a[NR] = $2; r[NR] = $3 }
			END { m = int((NR + 1) / 2); printf "median %-12s peer %.2f s, acmectl %.2f s, ratio %.2f (of %d runs: %.2f..%.2f)\n", c, p[m], a[m], r[m], NR, r[1], r[NR] }'
	done
fi
printf 'peak RSS: worker %s MB (whole process tree), acmectl import %s MB\n' "$worker_rss" "$cli_rss"

if [ "$MEMORY_ROWS" -gt 0 ]; then
	big=$(gen "$MEMORY_ROWS" 0)
	t=$(acme "$big" --dry-run)
	printf 'memory: %s rows (%s MiB), import --dry-run --wait in %.1f s: worker peak RSS %s MB, acmectl import %s MB\n' \
		"$MEMORY_ROWS" "$(( $(wc -c <"$big") / 1048576 ))" "$t" "$(rss_mb "$dir/worker.time")" \
		"$(rss_mb "$dir/cli.time")"
fi
