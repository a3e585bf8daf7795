#!/bin/sh
# products.sh — `acmectl products list` on a 1,000,000-product catalog, timed
# end to end (process start, configuration, connection, queries, output):
#
#   name     products list --name bracket -o json   (substring, ~5% of names)
#   first    products list -o json                  (first page, by SKU)
#   deep     products list -o json --after CURSOR   (page 10,001: 500,000 rows in)
#
# Each with the JSON page metadata (total, estimate flag, next cursor). The
# peer is psql running the same page query over the same socket, process
# start included. Target: every acmectl case under 50 ms. The verdict uses
# the median, which a busy shared machine's scheduling hiccups move least;
# the mean, min and max are printed beside it.
#
# BENCH_PRODUCTS (default 1000000) sets the catalog size; BENCH_RUNS (default
# 30) the runs per case. Uses hyperfine when installed (unless
# BENCH_NO_HYPERFINE is set), else a date +%s%N loop.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
acmectl=${ACMECTL:-$top/acmectl}
n=${BENCH_PRODUCTS:-1000000}
runs=${BENCH_RUNS:-30}
target_ms=50

dir=$(mktemp -d /tmp/acmectl-bench.XXXXXX)
cleanup() {
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
export REDIS_URL="unix://$TEST_REDIS_SOCK" ACME_ENV=test
unset ACME_REDIS_PREFIX ACME_CONFIG NO_COLOR

. "$top/tests/bench/catalog.inc"

# the cursor of page 10,001 (50 per page; halfway for smaller catalogs), from
# the page before it by number
page=$((n / 100))
[ "$page" -le 10000 ] || page=10000
[ "$page" -ge 1 ] || page=1
cursor=$("$acmectl" products list --page "$page" -o json |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["page"]["next_cursor"])')
name_hits=$($psql -d bench -c "SELECT count(*) FROM products WHERE name ILIKE '%bracket%'")

cols="id::text, sku, name, description, price::text, active, created_at, updated_at"
last=$($psql -d bench -c "SELECT sku_lower || '|' || id FROM products ORDER BY sku_lower OFFSET $((page * 50 - 1)) LIMIT 1")
last_sku=${last%|*}

# ---- timing -----------------------------------------------------------------------
# mean_ms NAME CMD...: "mean median min max" wall time of CMD in ms (stdout
# discarded) into $dir/NAME
mean_ms() {
	name=$1; shift
	if [ -z "${BENCH_NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null 2>&1; then
		hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$dir/$name.json" \
			"$*" >/dev/null 2>"$dir/$name.err" || { cat "$dir/$name.err" >&2; exit 1; }
		python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%.1f %.1f %.1f %.1f" % (r["mean"] * 1e3, r["median"] * 1e3, r["min"] * 1e3, r["max"] * 1e3))' "$dir/$name.json" >"$dir/$name"
	else
		i=0
		: >"$dir/$name.raw"
		while [ $i -lt $((runs + 3)) ]; do
			s=$(date +%s%N)
			"$@" >/dev/null
			e=$(date +%s%N)
			[ $i -ge 3 ] && echo $(((e - s) / 1000)) >>"$dir/$name.raw"
			i=$((i + 1))
		done
		python3 -c 'import sys
v = sorted(int(x) / 1e3 for x in open(sys.argv[1]))
m = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
print("%.1f %.1f %.1f %.1f" % (sum(v) / len(v), m, v[0], v[-1]))' "$dir/$name.raw" >"$dir/$name"
	fi
}

tool="hyperfine"
{ [ -z "${BENCH_NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null 2>&1; } || tool="a date +%s%N loop"
echo "timing $runs runs per case with $tool (after 3 warm-up runs)"
mean_ms name "$acmectl" products list --name bracket -o json
mean_ms first "$acmectl" products list -o json
mean_ms deep "$acmectl" products list -o json --after "$cursor"
mean_ms psql_name $psql -d bench -c "SELECT $cols FROM products WHERE name ILIKE '%bracket%' ORDER BY sku_lower LIMIT 51"
mean_ms psql_first $psql -d bench -c "SELECT $cols FROM products ORDER BY sku_lower LIMIT 51"
mean_ms psql_deep $psql -d bench -c "SELECT $cols FROM products WHERE sku_lower > '$last_sku' ORDER BY sku_lower LIMIT 51"

status=0
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) on $(nproc 2>/dev/null || echo '?') CPUs"
printf '\n%-46s %7s %7s %7s %7s %12s %6s  %s\n' "case ($n products)" "median" "mean" "min" "max" "psql median" "ratio" "target (median)"
for c in name first deep; do
	read -r mean median min max <"$dir/$c"
	read -r _ pmedian _ _ <"$dir/psql_$c"
	case $c in
	name) what="list --name bracket ($name_hits matches)" ;;
	first) what="list (first page)" ;;
	deep) what="list --after CURSOR (page $((page + 1)))" ;;
	esac
	ok=$(python3 -c "import sys; print('ok' if float(sys.argv[1]) < $target_ms else 'MISSED')" "$median")
	[ "$ok" = ok ] || status=1
	ratio=$(python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$median" "$pmedian")
	printf '%-46s %7s %7s %7s %7s %12s %6s  %s\n' "$what" "$median" "$mean" "$min" "$max" "$pmedian" "$ratio" "< $target_ms ms $ok"
done
echo "(times in ms, end to end; psql: the same page query in psql -c, process start"
echo " included; ratio = acmectl median / psql median)"
exit $status
