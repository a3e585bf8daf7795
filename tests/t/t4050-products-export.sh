#!/bin/sh
# products export: CSV with the header sku,name,description,active,price that
# re-imports unchanged, NDJSON, a JSON array streamed a product per line,
# filters, streaming through a server-side cursor across batches with bounded
# memory, and a reader that leaves early; no table.
#
# `acmectl import` does not exist yet, so "re-imports unchanged" is checked
# twice without it: the CSV parsed by python3's csv module must equal the
# database rows, and the CSV read by the import's own reader and validator
# (core/csvimport.c, through tests/helpers/acme-csvimport-ndjson.c) must give
# back exactly the exported products.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

tpsql <<'SQL'
INSERT INTO products (sku, name, description, price, active) VALUES
  ('Q-1', 'Comma, and "quotes"', 'line one
line two, with "quotes"', 12.50, true),
  ('Q-2', 'Café Größe 東京', NULL, NULL, false),
  ('Q-3', 'plain', '  leading and trailing spaces  ', 0, true),
  ('Q-4', 'tabs', E'\ttab first, tab last\t', 9999999999.99, true),
  ('Q-5', 'x', '"', 1, false),
  ('Q-6', 'semi;colon', 'back\slash \N', 3.10, true),
  ('q-7', 'lower sku', 'multi
line
text', 7, true);
SQL

# the database rows as the CSV should hold them
db_rows() {
	tpsql -F '|' -c "SELECT sku, name, coalesce(description, ''), CASE WHEN active THEN 'true' ELSE 'false' END, coalesce(price::text, '')
		FROM products ORDER BY sku_lower" -R '@@@' -A | python3 -c 'import sys, json
data = sys.stdin.read()
data = data[:-1] if data.endswith("\n") else data
print(json.dumps([r.split("|") for r in data.split("@@@") if r]))'
}
csv_rows() {
	python3 -c 'import csv, sys, json
r = list(csv.reader(open(sys.argv[1], newline="")))
print(json.dumps(r[0])); print(json.dumps(r[1:]))' "$1"
}

t_ok "export" acmectl products export
cp "$TEST_TMP/out" "$TEST_TMP/all.csv"
t_like "$ERR" "exported 7 products" "export says how many on stderr"
t_is "$(head -1 "$TEST_TMP/all.csv")" "sku,name,description,active,price" "the CSV header"
t_is "$(csv_rows "$TEST_TMP/all.csv" | sed -n 2p)" "$(db_rows)" \
	"python's csv module reads back exactly the database rows (quotes, commas, newlines, spaces, tabs, unicode)"

helper=$ACME_HELPERS/acme-csvimport-ndjson     # tests/helpers/acme-csvimport-ndjson.c
t_ok "the csvimport helper is built" test -x "$helper"
if [ -x "$helper" ]; then
	"$helper" <"$TEST_TMP/all.csv" >"$TEST_TMP/reimport.ndjson"
	t_is "$?" 0 "the import's reader accepts the export"
	t_is "$(grep -c reject "$TEST_TMP/reimport.ndjson")" 0 "no record is rejected"
	acmectl products export -o ndjson >"$TEST_TMP/all.ndjson" 2>/dev/null
	t_is "$(python3 -c 'import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
b = [{k: p[k] for k in ("sku", "name", "description", "active", "price")} for p in b]
print("same" if a == b else "differs:\n%s\n%s" % (a, b))' "$TEST_TMP/reimport.ndjson" "$TEST_TMP/all.ndjson")" \
		same "the import's reader and validator give back exactly the exported products"
fi

# ---- filters, NDJSON ----------------------------------------------------------------
t_ok "export with filters" acmectl products export --sku 'q*' --active --name sku
t_is "$(printf '%s\n' "$OUT" | python3 -c 'import csv, sys; print(" ".join(r[0] for r in list(csv.reader(sys.stdin))[1:]))')" \
	"q-7" "filters select what is exported"
t_ok "export -o ndjson" acmectl products export -o ndjson --inactive
t_is "$(printf '%s\n' "$OUT" | python3 -c 'import json, sys
print(" ".join(json.loads(l)["sku"] for l in sys.stdin))')" "Q-2 Q-5" "-o ndjson: one product per line"
t_ok "export -o json" acmectl products export -o json --inactive
t_is "$(printf '%s\n' "$OUT" | python3 -c 'import json, sys
print(" ".join(p["sku"] for p in json.load(sys.stdin)))')" "Q-2 Q-5" "-o json: one array of the products"
t_is "$(printf '%s\n' "$OUT" | sed -n '1p;$p' | tr '\n' ' ')" "[ ] " "streamed: the brackets on lines of their own"
acmectl products export -o ndjson >"$TEST_TMP/all.ndjson" 2>/dev/null
acmectl products export -o json >"$TEST_TMP/all.json" 2>/dev/null
t_is "$(python3 -c 'import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = json.load(open(sys.argv[2]))
print("same" if a == b and len(a) == 7 else "differs:\n%s\n%s" % (a, b))' "$TEST_TMP/all.ndjson" "$TEST_TMP/all.json")" \
	same "-o json holds exactly the objects of -o ndjson, in the same order"
t_ok "export -o json of nothing" acmectl products export -o json --sku nosuch
t_is "$OUT" "[]" "is an empty array"
t_exit 2 "export -o table is refused" acmectl products export -o table
t_like "$ERR" "export streams csv, ndjson or json" "and says which formats it takes"
t_exit 2 "export -o tsv is refused" acmectl products export -o tsv
t_ok "export of nothing" acmectl products export --sku nosuch
t_is "$OUT" "sku,name,description,active,price" "an empty export is the header alone"

# ---- streaming: batches of 10,000 rows, bounded memory ---------------------------------
tpsql -c "INSERT INTO products (sku, name, description, price)
	SELECT 'BIG-' || lpad(g::text, 6, '0'), 'big ' || g, repeat('x', 400), g % 1000
	FROM generate_series(1, 60000) g"
/usr/bin/time -f '%M' -o "$TEST_TMP/rss.small" "$ACMECTL" products export --sku 'Q*' >/dev/null 2>&1
/usr/bin/time -f '%M' -o "$TEST_TMP/rss.big" "$ACMECTL" products export --sku 'BIG*' >"$TEST_TMP/big.csv" 2>/dev/null
t_is "$(python3 -c 'import csv, sys
r = list(csv.reader(open(sys.argv[1], newline="")))[1:]
print(len(r), len(set(x[0] for x in r)), r[0][0], r[-1][0], r == sorted(r, key=lambda x: x[0].lower()))' "$TEST_TMP/big.csv")" \
	"60000 60000 BIG-000001 BIG-060000 True" "60,000 rows across 6 FETCH batches, each once, in SKU order"
small=$(tail -1 "$TEST_TMP/rss.small")
big=$(tail -1 "$TEST_TMP/rss.big")
t_diag "peak RSS: ${small} KiB for 7 products, ${big} KiB for 60,000 (25 MB of CSV)"
if [ -n "${ASAN_OPTIONS:-}" ]; then
	t_skip "peak RSS means nothing under AddressSanitizer"
else
	t_is "$([ $((big - small)) -lt 16384 ] && echo bounded)" bounded \
		"memory does not grow with the export (${small} KiB vs ${big} KiB peak RSS)"
fi

/usr/bin/time -f '%M' -o "$TEST_TMP/rss.json" "$ACMECTL" products export -o json --sku 'BIG*' >"$TEST_TMP/big.json" 2>/dev/null
t_is "$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(len(r), r[0]["sku"], r[-1]["sku"])' "$TEST_TMP/big.json")" "60000 BIG-000001 BIG-060000" \
	"-o json: the 60,000 rows as one array"
if [ -z "${ASAN_OPTIONS:-}" ]; then
	t_is "$([ $(($(tail -1 "$TEST_TMP/rss.json") - small)) -lt 16384 ] && echo bounded)" bounded \
		"-o json streams too: memory does not grow ($(tail -1 "$TEST_TMP/rss.json") KiB peak RSS)"
else
	t_skip "peak RSS means nothing under AddressSanitizer"
fi

"$ACMECTL" products export --sku 'BIG*' 2>"$TEST_TMP/head.err" | head -3 >"$TEST_TMP/head.out"
t_is "$(wc -l <"$TEST_TMP/head.out" | tr -d ' ')" 3 "export | head works"
t_is "$(cat "$TEST_TMP/head.err")" "" "a reader that leaves early is no error"

t_done
