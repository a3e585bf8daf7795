#!/bin/sh
# tui.sh — `acmectl tui` on a 1,000,000-product catalog, in tmux at 120x40:
#
#   first paint   from the exec of acmectl to the first screen showing a
#                 page of products (process start, configuration, connect,
#                 the first page query, drawing)          budget < 150 ms
#   keystroke     from a filter key read to the screen showing the result
#                 of the new filter (debounce, cancel of the previous query,
#                 the query, drawing), per key of a typed filter
#                                                         budget < 50 ms
#   RSS           the tui's resident memory after the filter and 200 pages
#                 of PgDn and a G                         budget < 30 MB
#
# Times come from the tui's own trace (ACME_TUI_TRACE: a line per key read
# and per paint with the wall clock in ms): the terminal's and tmux's own
# latency is not counted, the whole of acmectl's is. The verdict uses the
# median; the max is printed beside it. BENCH_PRODUCTS (default 1000000),
# BENCH_RUNS (default 10) first paints.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
acmectl=${ACMECTL:-$top/acmectl}
n=${BENCH_PRODUCTS:-1000000}
runs=${BENCH_RUNS:-10}
command -v tmux >/dev/null || { echo "tmux is not installed: skipped"; exit 0; }

dir=$(mktemp -d /tmp/acmectl-bench.XXXXXX)
sock=$dir/tmux.sock
cleanup() {
	tmux -S "$sock" kill-server 2>/dev/null || true
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

trace=$dir/trace
printf 'set -g default-terminal xterm-256color\nset -g status off\nset -g escape-time 0\n' >"$dir/tmux.conf"
# start: a fresh tui; its exec time goes to $dir/t0
start() {
	rm -f "$trace"
	tmux -S "$sock" -f "$dir/tmux.conf" new-session -d -s tui -x 120 -y 40 \
		sh -c "date +%s%3N >'$dir/t0'; ACME_TUI_TRACE='$trace' exec '$acmectl' tui"
}
stop() { tmux -S "$sock" kill-server 2>/dev/null || true; }
# wait_trace ERE: the first trace line matching it, within 60 s
wait_trace() {
	i=0
	while [ $i -lt 1200 ]; do
		l=$(grep -E -- "$1" "$trace" 2>/dev/null | head -n 1) && [ -n "$l" ] && { echo "$l"; return 0; }
		sleep 0.05
		i=$((i + 1))
	done
	echo "no trace line matched $1" >&2
	return 1
}
stats() {	# stdin: numbers -> "median max"
	sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[NR] }'
}

# ---- first paint ----
: >"$dir/first"
r=0
while [ $r -lt "$runs" ]; do
	start
	l=$(wait_trace '^paint [0-9]+ Products loaded=1 current=1 rows=[1-9]')
	t0=$(cat "$dir/t0")
	echo $(( $(echo "$l" | cut -d' ' -f2) - t0 )) >>"$dir/first"
	stop
	r=$((r + 1))
done
stats <"$dir/first" >"$dir/first.stats"
read -r first_med first_max <"$dir/first.stats"

# ---- keystroke to repainted filter result ----
start
wait_trace '^paint [0-9]+ Products loaded=1 current=1 rows=[1-9]' >/dev/null
tmux -S "$sock" send-keys -t tui /
query="bracket 42"
: >"$dir/keys"
i=1
while [ $i -le ${#query} ]; do
	prefix=$(printf '%s' "$query" | cut -c1-$i)
	ch=$(printf '%s' "$query" | cut -c$i)
	before=$(grep -c '^key ' "$trace" || true)
	tmux -S "$sock" send-keys -t tui -l "$ch"
	# the key line of this keystroke, then the first paint of its result
	j=0
	while [ "$(grep -c '^key ' "$trace")" -le "$before" ] && [ $j -lt 1200 ]; do sleep 0.02; j=$((j + 1)); done
	kt=$(grep '^key ' "$trace" | sed -n "$((before + 1))p" | cut -d' ' -f2)
	l=$(wait_trace "^paint [0-9]+ Products loaded=1 current=1 rows=[0-9]+ total=-?[0-9]+ query=$prefix\$")
	echo $(( $(echo "$l" | cut -d' ' -f2) - kt )) >>"$dir/keys"
	i=$((i + 1))
done
stats <"$dir/keys" >"$dir/keys.stats"
read -r key_med key_max <"$dir/keys.stats"
tmux -S "$sock" send-keys -t tui Escape
# ---- memory after paging ----
p=0
while [ $p -lt 200 ]; do tmux -S "$sock" send-keys -t tui NPage; p=$((p + 1)); done
wait_trace '^paint [0-9]+ Products loaded=1 current=1 rows=[1-9]' >/dev/null
tmux -S "$sock" send-keys -t tui G
sleep 1
pid=$(pgrep -f -n "^$acmectl tui")
rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
hwm_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
stop

verdict() { if [ "$1" -lt "$2" ]; then echo "ok"; else echo "OVER BUDGET"; fi; }
printf '%-34s %8s %8s %10s  %s\n' "tui ($n products, 120x40)" median max budget verdict
printf '%-34s %6s ms %6s ms %7s ms  %s\n' "first paint" "$first_med" "$first_max" 150 "$(verdict "${first_med%.*}" 150)"
printf '%-34s %6s ms %6s ms %7s ms  %s\n' "filter keystroke to result" "$key_med" "$key_max" 50 "$(verdict "${key_med%.*}" 50)"
printf '%-34s %6s MB %6s MB %7s MB  %s\n' "RSS after 200 pages (peak)" "$((rss_kb / 1024))" "$((hwm_kb / 1024))" 30 "$(verdict $((hwm_kb / 1024)) 30)"
echo "(keystrokes: $(tr '\n' ' ' <"$dir/keys")ms; first paints: $(tr '\n' ' ' <"$dir/first")ms)"
