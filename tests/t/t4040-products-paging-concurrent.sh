#!/bin/sh
# Keyset paging while rows are inserted: walking every page with --after
# under concurrent inserts (which land before, between and after the pages
# already read) returns every pre-existing product exactly once and never a
# product twice, for each sort. --page numbers cannot promise this; cursors do.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

tpsql -c "INSERT INTO products (sku, name, price, created_at)
	SELECT 'P-' || lpad((g * 7919 % 3000)::text, 5, '0'), 'name ' || (g % 37),
	       CASE WHEN g % 9 = 0 THEN NULL ELSE (g % 50) + 0.25 END, now() - g * interval '1 second'
	FROM generate_series(1, 1500) g"
tpsql -c "SELECT id FROM products ORDER BY id" >"$TEST_TMP/before"

# the inserter: 5 rows at a time with SKUs, names and prices all over the order
inserter() {
	i=0
	while [ ! -e "$TEST_TMP/stop" ]; do
		i=$((i + 1))
		tpsql -c "INSERT INTO products (sku, name, price)
			SELECT 'C-' || $i || '-' || g || '-' || md5(random()::text), 'name ' || (random() * 40)::int,
			       CASE WHEN random() < 0.1 THEN NULL ELSE round((random() * 60)::numeric, 2) END
			FROM generate_series(1, 5) g" || break
		echo $((i * 5)) >"$TEST_TMP/inserted"
	done
}
inserter &
ins=$!

walk() {	# sort -> "pages seen dups missing" of the pre-existing rows
	python3 - "$ACMECTL" "$1" "$TEST_TMP/before" <<'PY'
import json, subprocess, sys
acmectl, sort, before = sys.argv[1:4]
want = set(int(l) for l in open(before) if l.strip())
cur, seen, pages = None, [], 0
while True:
    cmd = [acmectl, "products", "list", "--sort", sort, "--limit", "40", "-o", "json"]
    if cur: cmd += ["--after", cur]
    d = json.loads(subprocess.run(cmd, capture_output=True, check=True).stdout)
    seen += [i["id"] for i in d["items"]]
    pages += 1
    cur = d["page"]["next_cursor"]
    if not cur or pages > 10000: break
dups = len(seen) - len(set(seen))
missing = len(want - set(seen))
print(pages > 30, dups, missing)
PY
}
for s in sku name:desc price price:desc created_at id:desc; do
	t_is "$(walk $s)" "True 0 0" "--sort $s under concurrent inserts: no product twice, none of the old ones missed"
done
touch "$TEST_TMP/stop"
wait $ins
n=$(cat "$TEST_TMP/inserted" 2>/dev/null || echo 0)
t_like "$n" '^[0-9]+$' "rows were inserted meanwhile ($n)"
t_is "$([ "$n" -gt 0 ] && echo yes)" yes "the inserter really ran"

t_done
