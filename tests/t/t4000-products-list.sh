#!/bin/sh
# products list: each filter alone and combined, literal matching of SQL
# injection strings, LIKE wildcards and unicode, sorting and keyset paging
# compared with PostgreSQL's own ORDER BY, --page, cursor misuse, totals,
# every output format, and SKU completion from the database.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

# skus: one line per row; ids in SQL order
skus() { printf '%s' "$OUT" | python3 -c 'import json,sys
for i in json.load(sys.stdin)["items"]: print(i["sku"])'; }
list_skus() {	# filters... -> sorted SKUs of the JSON list
	acmectl products list -o json "$@" >"$TEST_TMP/l.json" 2>"$TEST_TMP/l.err" ||
		{ echo "exit $?: $(cat "$TEST_TMP/l.err")"; return; }
	python3 -c 'import json,sys
print(" ".join(sorted(i["sku"] for i in json.load(open(sys.argv[1]))["items"])))' "$TEST_TMP/l.json"
}

tpsql <<'SQL'
INSERT INTO products (sku, name, description, price, active) VALUES
  ('ABC-001', 'Steel Bracket', 'Heavy 100% steel', 12.50, true),
  ('abc-002', 'Hinge_small', 'a_b c', NULL, true),
  ('ABD-003', 'Café Größe', 'Ünïcode 東京 text', 3.00, false),
  ('XYZ-1', 'Robert''); DROP TABLE products;--', 'injection', 1.00, true),
  ('X%Y', '100% cotton', '50% off', 2.00, true),
  ('X_Y', 'underscore sku', 'aXb under', NULL, false),
  ('B\S', 'back\slash', 'path C:\dir', 5.00, true),
  ('QRY-9', 'Plain', 'mentions abc inside', 9.00, true);
SQL

# ---- each filter alone ----------------------------------------------------------------
t_is "$(list_skus)" 'ABC-001 ABD-003 B\S QRY-9 X%Y XYZ-1 X_Y abc-002' "no filter lists everything"
t_is "$(list_skus --sku abc-001)" "ABC-001" "--sku is exact and case-insensitive"
t_is "$(list_skus --sku ABC-00)" "" "--sku without * is not a prefix"
t_is "$(list_skus --sku 'abc*')" "ABC-001 abc-002" "--sku 'abc*' is a case-insensitive prefix"
t_is "$(list_skus --sku 'AB*')" "ABC-001 ABD-003 abc-002" "--sku 'AB*'"
t_is "$(list_skus --sku 'X%Y')" "X%Y" "% in --sku is literal"
t_is "$(list_skus --sku 'X_*')" "X_Y" "_ in a --sku prefix is literal"
t_is "$(list_skus --sku 'X%*')" "X%Y" "% in a --sku prefix is literal"
t_is "$(list_skus --sku 'B\S')" 'B\S' "backslash in --sku is literal"
t_is "$(list_skus --name bracket)" "ABC-001" "--name is a case-insensitive substring"
t_is "$(list_skus --name '_')" "abc-002" "_ in --name is literal"
t_is "$(list_skus --name '%')" "X%Y" "% in --name is literal"
t_is "$(list_skus --name 'k\s')" 'B\S' "backslash in --name is literal"
t_is "$(list_skus --description '100%')" "ABC-001" "--description substring with %"
t_is "$(list_skus --description 'a_b')" "abc-002" "_ in --description does not match aXb"
t_is "$(list_skus --description 'C:\')" 'B\S' "--description with a backslash"
t_is "$(list_skus --query abc)" "ABC-001 QRY-9 abc-002" "--query: SKU prefix or name/description substring"
t_is "$(list_skus --query cotton)" "X%Y" "--query matches names"
t_is "$(list_skus --active)" 'ABC-001 B\S QRY-9 X%Y XYZ-1 abc-002' "--active"
t_is "$(list_skus --inactive)" "ABD-003 X_Y" "--inactive"

# ---- combined --------------------------------------------------------------------------
t_is "$(list_skus --sku 'abc*' --active --name hinge)" "abc-002" "sku prefix + active + name"
t_is "$(list_skus --sku 'abc*' --inactive)" "" "sku prefix + inactive: none"
t_is "$(list_skus --query abc --description steel)" "ABC-001" "query + description"
t_is "$(list_skus --name e --description e)" "ABC-001 ABD-003 XYZ-1 X_Y" "name + description"
t_is "$(list_skus --name e --description e --active)" "ABC-001 XYZ-1" "name + description + active"
t_is "$(list_skus --sku 'a*' --query abc --name small)" "abc-002" "sku + query + name"
t_is "$(list_skus --sku 'a*' --query 100)" "ABC-001" "sku + query (a description substring)"
t_exit 2 "--active with --inactive is a usage error" acmectl products list --active --inactive
t_exit 2 "an empty filter value is a usage error" acmectl products list --name ''

# ---- injection and unicode: literal matches only ----------------------------------------
t_is "$(list_skus --name "Robert'); DROP TABLE products;--")" "XYZ-1" "an injection string matches literally"
t_is "$(list_skus --sku "' OR 1=1 --")" "" "--sku \"' OR 1=1 --\" matches nothing"
t_is "$(list_skus --sku "' OR ''='*")" "" "an injection prefix matches nothing"
t_is "$(list_skus --query "%' OR '1'='1")" "" "--query with quotes and % matches nothing"
t_is "$(list_skus --description "'; DELETE FROM products; --")" "" "--description injection matches nothing"
t_is "$(list_skus --name '$1')" "" "a placeholder-looking value is just text"
t_is "$(tpsql -c "SELECT count(*) FROM products")" 8 "the catalog is intact"
t_is "$(list_skus --name 'CAFÉ')" "ABD-003" "unicode name, other case"
t_is "$(list_skus --name 'größe')" "ABD-003" "unicode name with ß"
t_is "$(list_skus --description '東京')" "ABD-003" "CJK description substring"
t_is "$(list_skus --query 'ÜNÏ')" "ABD-003" "--query with unicode in another case"
t_exit 65 "invalid UTF-8 in a filter is bad input" acmectl products list --name "$(printf 'a\377')"
t_like "$ERR" "not valid UTF-8" "the message says why"

# ---- output formats ----------------------------------------------------------------------
t_ok "-o json" acmectl products list -o json --sku ABC-001
t_json "$OUT" "list(d) == ['items', 'page'] and list(d['page']) == ['limit', 'total', 'total_is_estimate', 'next_cursor']" \
	"JSON has items and page {limit, total, total_is_estimate, next_cursor}"
t_json "$OUT" "d['page'] == {'limit': 50, 'total': 1, 'total_is_estimate': False, 'next_cursor': None}" \
	"page metadata of a one-row result"
t_json "$OUT" "d['items'][0]['price'] == '12.50' and d['items'][0]['active'] is True and isinstance(d['items'][0]['id'], int) and d['items'][0]['description'] == 'Heavy 100% steel'" \
	"JSON values are typed; the price is an exact string"
t_json "$OUT" "sorted(d['items'][0]) == sorted(['id', 'sku', 'name', 'description', 'price', 'active', 'created_at', 'updated_at'])" \
	"every field is in JSON"
t_ok "-o json of nothing" acmectl products list -o json --sku nosuch
t_json "$OUT" "d['items'] == [] and d['page']['total'] == 0" "an empty list is valid JSON"
t_ok "-o ndjson" acmectl products list -o ndjson
t_is "$(printf '%s\n' "$OUT" | python3 -c 'import json,sys
print(sum(1 for l in sys.stdin if json.loads(l)["sku"]))')" 8 "-o ndjson: one JSON object per line"
t_ok "-o csv" acmectl products list -o csv --sort id
t_is "$(printf '%s\n' "$OUT" | python3 -c 'import csv,sys
r = list(csv.DictReader(sys.stdin)); print(len(r), r[0]["sku"], r[3]["name"], r[1]["price"] == "")')" \
	"8 ABC-001 Robert'); DROP TABLE products;-- True" "-o csv parses with a header"
t_ok "tsv when piped" acmectl products list
t_is "$(printf '%s\n' "$OUT" | head -1)" "$(printf 'id\tsku\tname\tdescription\tprice\tactive\tcreated_at\tupdated_at')" "tsv header"
t_is "$(printf '%s\n' "$OUT" | awk -F'\t' 'NF != 8' | wc -l | tr -d ' ')" 0 "every tsv line has 8 fields"
t_ok "-o table" acmectl products list -o table
t_like "$OUT" '^ID +SKU +NAME +PRICE +ACTIVE +UPDATED AT' "a table for people leaves out the description"
t_like "$OUT" 'Café Größe' "the table shows unicode"

# ---- sorting and keyset paging against PostgreSQL's order -----------------------------------
tpsql -c "INSERT INTO products (sku, name, price, active, created_at)
	SELECT 'S-' || g, 'n' || (g % 9), CASE WHEN g % 4 = 0 THEN NULL ELSE (g % 5) * 1.5 END, g % 3 > 0,
	       now() - (g % 6) * interval '1 hour'
	FROM generate_series(1, 53) g"
# walk SORT LIMIT -> ids in page order, or an error
walk() {
	python3 - "$ACMECTL" "$1" "$2" <<'PY'
import json, subprocess, sys
acmectl, sort, limit = sys.argv[1:4]
cur, ids, pages = None, [], 0
while True:
    cmd = [acmectl, "products", "list", "--sort", sort, "--limit", limit, "-o", "json"]
    if cur: cmd += ["--after", cur]
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        # say what acmectl said: a failed walk must be diagnosable
        sys.exit("%s: exit %d: %s" % (" ".join(cmd[1:]), r.returncode,
                                       r.stderr.decode(errors="replace").strip()))
    d = json.loads(r.stdout)
    ids += [i["id"] for i in d["items"]]
    pages += 1
    cur = d["page"]["next_cursor"]
    if not cur or pages > 1000: break
print(" ".join(map(str, ids)))
PY
}
for s in sku sku:desc name name:desc price price:desc created_at created_at:desc updated_at id id:desc; do
	f=${s%:desc}
	case $s in *:desc) dir="DESC" ;; *) dir="ASC" ;; esac
	key=$f; [ "$f" = sku ] && key=sku_lower
	tie=", id $dir"; [ "$f" = sku ] || [ "$f" = id ] && tie=
	want=$(tpsql -c "SELECT string_agg(id::text, ' ' ORDER BY $key $dir$tie) FROM products")
	lims="7 100"
	# one row per page crosses every boundary (NULL prices, equal keys)
	case $s in price*|name) lims="1 $lims" ;; esac
	for lim in $lims; do
		t_is "$(walk "$s" $lim)" "$want" "--sort $s --limit $lim: pages by cursor give ORDER BY $key $dir$tie"
	done
done

t_ok "--page 2 --limit 5" acmectl products list --sort price --page 2 --limit 5 -o json
page2=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print([i["id"] for i in json.load(sys.stdin)["items"]])')
t_json "$OUT" "d['page']['number'] == 2 and d['page']['limit'] == 5" "--page shows its number"
c1=$(acmectl products list --sort price --limit 5 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["page"]["next_cursor"])')
t_ok "--after the first page" acmectl products list --sort price --limit 5 -o json --after "$c1"
t_is "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print([i["id"] for i in json.load(sys.stdin)["items"]])')" \
	"$page2" "--page 2 and --after the first page's cursor agree"
t_json "$OUT" "d['page']['total'] == 61 and d['page']['total_is_estimate'] is False" "the total is exact for a small catalog"
t_ok "tsv with a next page" acmectl products list --sort price --limit 5
t_like "$ERR" "5 products shown; next page: --after [A-Za-z0-9_-]+" "the next cursor is on stderr"

t_exit 2 "a cursor for another sort" acmectl products list --sort name --after "$c1"
t_like "$ERR" "made for --sort price" "the message names the cursor's sort"
t_exit 2 "a malformed cursor" acmectl products list --after 'not-a-cursor!'
t_exit 2 "base64 that is not a cursor" acmectl products list --after "$(printf '[1,2]' | base64 | tr -d '=')"
t_exit 2 "--page with --after" acmectl products list --page 2 --after "$c1"
t_exit 2 "--limit 0" acmectl products list --limit 0
t_exit 2 "--limit above 10000" acmectl products list --limit 10001
t_exit 2 "--sort on an unknown field" acmectl products list --sort colour
t_exit 2 "--sort with a bad direction" acmectl products list --sort name:up

# ---- completion from the database ---------------------------------------------------------------
t_is "$(acmectl __complete products get abc | sort)" "$(printf 'ABC-001\nabc-002')" "get completes SKUs by prefix, any case"
t_is "$(acmectl __complete products update 's-1' | wc -l | tr -d ' ')" 11 "update completes SKUs (S-1, S-10..S-19)"
t_like "$(acmectl __complete products delete '')" '^ABC-001$' "delete completes SKUs"
t_is "$(acmectl __complete products get 'X_' )" "X_Y" "an _ in the prefix is literal"
tpsql -c "INSERT INTO products (sku, name) SELECT 'MANY-' || g, 'm' FROM generate_series(1, 80) g"
t_is "$(acmectl __complete products get MANY | wc -l | tr -d ' ')" 50 "at most 50 SKUs are offered"
t_like "$(acmectl __complete products list --sku 'ab')" '^ABC-001$' "--sku completes SKUs too"
t_like "$(acmectl __complete products list --sort '')" '^price:desc$' "--sort completes the fields"
t_is "$(DATABASE_URL="postgresql:///nosuch?host=$TEST_TMP&user=acme" "$ACMECTL" __complete products get a 2>&1; echo "rc=$?")" \
	"rc=0" "an unreachable database completes nothing, silently"

t_done
