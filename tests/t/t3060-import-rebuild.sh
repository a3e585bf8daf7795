#!/bin/sh
# import --method rebuild (issue 15): the new catalog is written beside
# products without indexes, its indexes are built in bulk, and it is swapped
# in at commit. The result is the merge's, row for row (ids, created_at, an
# updated_at that moves only for changed rows, last-wins duplicates,
# case-insensitive overwrite, rejected rows kept with their lines, exact
# counts); the table keeps everything a migration or an operator gave it
# (index and constraint names and definitions, the identity sequence and its
# position, grants, comments, storage parameters, statistics targets);
# readers keep the old catalog until the swap, writers wait and then write to
# the new one; a kill before the swap loses
# nothing and leaves nothing behind; a table a swap would harm (a view, a
# trigger, a name taken) is merged instead, with the reason in the result;
# auto rebuilds a large import and merges a small one.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/import-lib.sh"
. "$TEST_TOP/tests/lib/worker-lib.sh"

# The table's shape as the catalogs describe it, without its OID.
shape() {
	tpsql -c "SELECT 'index ' || c.relname || ': ' || pg_get_indexdef(c.oid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'products'::regclass
		UNION ALL SELECT 'constraint ' || conname || ': ' || pg_get_constraintdef(oid)
		FROM pg_constraint WHERE conrelid = 'products'::regclass
		UNION ALL SELECT 'column ' || attname || ' ' || format_type(atttypid, atttypmod) || ' '
			|| attnotnull || ' ' || attidentity::text || ' ' || attgenerated::text || ' ' || attstattarget
			|| ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-') || ' '
			|| coalesce(col_description(a.attrelid, a.attnum), '-')
		FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = 'products'::regclass AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL SELECT 'table ' || coalesce(relacl::text, '-') || ' ' || coalesce(reloptions::text, '-')
			|| ' ' || pg_get_userbyid(relowner) || ' ' || coalesce(obj_description(oid, 'pg_class'), '-')
		FROM pg_class WHERE oid = 'products'::regclass
		UNION ALL SELECT 'index comment ' || c.relname || ' ' || obj_description(c.oid, 'pg_class')
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'products'::regclass AND obj_description(c.oid, 'pg_class') IS NOT NULL
		UNION ALL SELECT 'sequence ' || pg_get_serial_sequence('products', 'id')
		ORDER BY 1"
}
ids() { tpsql -F '|' -c "SELECT sku_lower, id, created_at FROM products ORDER BY sku_lower"; }
relations_named_next() {
	tpsql -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'products\_import\_next%'"
}

# ---- a catalog made by a merge, with what an operator may add ----
cat >"$TEST_TMP/a.csv" <<'EOF'
sku,name,description,active,price
A-1,Anvil,Heavy iron,true,10.00
B-2,Bolt,,false,0.5
C-3,Crate,"Wooden, big",yes,
D-4,Drill,Cordless,true,99.00
EOF
t_import 0 "a first import (merge)" "$TEST_TMP/a.csv" --method merge
t_json "$(result_of "$(last_job)")" "d['method'] == 'merge' and d['inserted'] == 4" \
	"--method merge merges, and the result says so"
tpsql -c "GRANT SELECT ON products TO PUBLIC" \
	-c "COMMENT ON TABLE products IS 'the catalog'" \
	-c "COMMENT ON COLUMN products.sku IS 'stock keeping unit'" \
	-c "COMMENT ON INDEX products_name_trgm_idx IS 'name search'" \
	-c "ALTER TABLE products SET (autovacuum_vacuum_scale_factor = 0.05)" \
	-c "ALTER TABLE products ALTER COLUMN name SET STATISTICS 500" \
	-c "ALTER TABLE products CLUSTER ON products_pkey" >/dev/null
shape_before=$(shape)
ids_before=$(ids)
sleep 0.01   # updated_at of a changed row must differ from the first import's
updated_before=$(tpsql -F '|' -c "SELECT sku, updated_at FROM products ORDER BY sku")

# ---- the rebuild: updates (another case), new rows, a duplicate, a rejected row ----
cat >"$TEST_TMP/b.csv" <<'EOF'
sku,name,description,active,price
a-1,Anvil II,Heavy iron,true,10.00
B-2,Bolt,,false,0.5
E-5,Engine,First,true,5
E-5,Engine,Second (last wins),true,6
F-6,,no name,true,1
G-7,Gear,,true,7
EOF
t_import 65 "--method rebuild: exit 65 (a row is rejected)" "$TEST_TMP/b.csv" --method rebuild
job=$(last_job)
t_json "$(result_of "$job")" "d['method'] == 'rebuild' and d['inserted'] == 2 and d['updated'] == 1 and d['unchanged'] == 1 and d['duplicates'] == 1 and d['rejected'] == 1 and 'method_note' not in d" \
	"the result: rebuilt, 2 inserted, 1 updated, 1 unchanged, 1 duplicate, 1 rejected"
t_json "$(result_of "$job")" "all(k in d['steps_ms'] for k in ('rebuild-copy', 'rebuild-indexes', 'statistics', 'swap'))" \
	"its steps are timed"
t_is "$(catalog)" "a-1|Anvil II|Heavy iron|t|10.00
B-2|Bolt|<null>|f|0.50
C-3|Crate|Wooden, big|t|<null>
D-4|Drill|Cordless|t|99.00
E-5|Engine|Second (last wins)|t|6.00
G-7|Gear|<null>|t|7.00" "the catalog: overwritten without regard to case, last duplicate wins, rejected row left out"
t_is "$(tpsql -c "SELECT line FROM import_errors WHERE job_id = '$job'")" 6 "the rejected row is kept with its line"
t_is "$(ids | grep -v '^[eg]-')" "$ids_before" "every product kept its id and created_at"
t_is "$(tpsql -c "SELECT bool_and(id > (SELECT max(id) FROM products WHERE sku_lower < 'e')) FROM products WHERE sku_lower IN ('e-5', 'g-7')")" t \
	"new products get ids after the existing ones"
t_is "$(tpsql -F '|' -c "SELECT sku, updated_at FROM products WHERE sku IN ('B-2', 'C-3', 'D-4') ORDER BY sku")" \
	"$(printf '%s\n' "$updated_before" | grep -E '^(B-2|C-3|D-4)\|')" "unchanged products keep their updated_at"
t_is "$(tpsql -c "SELECT updated_at > (SELECT created_at FROM products WHERE sku = 'a-1') FROM products WHERE sku = 'a-1'")" t \
	"the changed product's updated_at moved"
t_is "$(shape)" "$shape_before" \
	"the table kept its shape: indexes, constraints, columns, identity, grants, comments, options, owner"
t_is "$(tpsql -c "SELECT indisclustered FROM pg_index WHERE indexrelid = 'products_pkey'::regclass")" t \
	"and its clustered index"
t_is "$(relations_named_next)" 0 "nothing is left beside it"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE event_type = 'import.completed' AND payload->>'job_id' = '$job'")" 1 \
	"one import.completed event"

# the table works as before
t_ok "a product created afterwards" acmectl products create --sku H-8 --name Hammer
t_is "$(tpsql -c "SELECT id = (SELECT max(id) FROM products) AND id > (SELECT max(id) FROM products WHERE sku <> 'H-8') FROM products WHERE sku = 'H-8'")" t \
	"takes the next id from the carried-over sequence"
t_exit 4 "a duplicate SKU in another case is still refused" acmectl products create --sku h-8 --name Again
t_like "$(tpsql -c "INSERT INTO products (sku, name) VALUES ('h-8', 'Again')" 2>&1)" \
	'duplicate key value violates unique constraint "products_sku_lower_key"' "by the unique constraint too"
t_like "$(tpsql -c "INSERT INTO products (sku, name) VALUES ('Z-0', ' ')" 2>&1)" \
	'violates check constraint "products_name_not_blank"' "and a blank name by its check constraint"
t_ok "search by description" acmectl products list --description 'last wins' -o json
t_json "$OUT" "[p['sku'] for p in d['items']] == ['E-5']" "the trigram search finds the rebuilt rows"

# ---- readers keep the old catalog until the swap; a kill before it loses nothing ----
printf 'sku,name\nA-1,Anvil III\nR-1,Reader test\n' >"$TEST_TMP/c.csv"
export ACME_FAILPOINTS='import.before-swap=1*pause'
start_worker w1 -Q import=1
unset ACME_FAILPOINTS
t_ok "import queued" acmectl -q import "$TEST_TMP/c.csv" --method rebuild
job=$OUT
pid=$(fp_reached "$TEST_TMP/w1.log" import.before-swap)
t_like "$pid" '^[0-9]+$' "the import built the new catalog and stopped before the swap"
t_is "$(timeout 20 "$TEST_PG_BIN/psql" -X -q -At -h "$TEST_PG_HOST" -U acme -d "$TEST_DB" \
	-c "SELECT count(*) || ' ' || max(name) FILTER (WHERE sku = 'a-1') FROM products")" "7 Anvil II" \
	"a reader meanwhile is not blocked and sees the old catalog"
"$ACMECTL" products update D-4 --price 98 >"$TEST_TMP/writer.out" 2>&1 &
writer=$!
t_ok "a writer meanwhile waits for the import" wait_for 30 \
	"[ \"\$(tpsql -c \"SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database()\")\" -ge 1 ]"
t_ok "the import goes on" kill -CONT "$pid"
t_ok "and succeeds" wait_for 60 "[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(tpsql -c "SELECT count(*) || ' ' || max(name) FILTER (WHERE sku = 'A-1') FROM products")" "8 Anvil III" \
	"readers then see the new catalog"
wait_pid "$writer" 60
t_is "$?" 0 "the waiting writer then succeeds"
t_is "$(tpsql -c "SELECT price FROM products WHERE sku = 'D-4'")" 98.00 "its change is in the new catalog"
stop_worker w1

printf 'sku,name\nK-1,Killed once\n' >"$TEST_TMP/k.csv"
before=$(catalog)
export ACME_FAILPOINTS='import.before-swap=1*exit'
start_worker w2 -Q import=1
unset ACME_FAILPOINTS
t_ok "import queued" acmectl -q import "$TEST_TMP/k.csv" --method rebuild
job=$OUT
t_ok "the child is killed before the swap; the retry succeeds" \
	wait_for 120 "[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(job_col "$job" attempts)" 2 "on its second attempt"
t_is "$(catalog)" "$(printf '%s\nK-1|Killed once|<null>|t|<null>' "$before" | sort -t '|' -k1,1f)" \
	"the catalog has the file's product once, and everything else as before"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE event_type = 'import.completed' AND payload->>'job_id' = '$job'")" 1 \
	"one import.completed event"
t_is "$(relations_named_next)" 0 "the killed attempt left no table behind"
t_is "$(shape)" "$shape_before" "the table kept its shape"
stop_worker w2

# ---- what a swap would harm: merged instead, the reason in the result ----
printf 'sku,name\nA-1,Anvil IV\n' >"$TEST_TMP/d.csv"
tpsql -c "CREATE VIEW cheap AS SELECT sku FROM products WHERE price < 10" >/dev/null
t_import 0 "--method rebuild with a view on products" "$TEST_TMP/d.csv" --method rebuild
t_json "$(result_of "$(last_job)")" "d['method'] == 'merge' and 'view' in d['method_note'] and d['updated'] == 1" \
	"merges, saying a view depends on products"
t_is "$(tpsql -c "SELECT count(*) FROM cheap")" 3 "the view still works"
tpsql -c "DROP VIEW cheap" -c "CREATE FUNCTION noop_trigger() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'" \
	-c "CREATE TRIGGER t BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION noop_trigger()" >/dev/null
printf 'sku,name\nA-1,Anvil V\n' >"$TEST_TMP/e.csv"
t_import 0 "--method rebuild with a trigger" "$TEST_TMP/e.csv" --method rebuild
t_json "$(result_of "$(last_job)")" "d['method'] == 'merge' and d['method_note'] == 'products has triggers'" \
	"merges, saying products has triggers"
tpsql -c "DROP TRIGGER t ON products" -c "CREATE TABLE other (x int)" \
	-c "CREATE INDEX products_import_next_1 ON other (x)" >/dev/null
printf 'sku,name\nA-1,Anvil VI\n' >"$TEST_TMP/f.csv"
t_import 0 "--method rebuild when a temporary index name is taken" "$TEST_TMP/f.csv" --method rebuild
t_json "$(result_of "$(last_job)")" "d['method'] == 'merge' and d['method_note'].startswith('the rebuild failed, merged instead') and 'already exists' in d['method_note'] and d['updated'] == 1" \
	"the failed rebuild is rolled back to its savepoint and the import merges"
t_is "$(tpsql -c "SELECT name FROM products WHERE sku_lower = 'a-1'")" "Anvil VI" "the change is applied once"
t_is "$(tpsql -c "SELECT count(*) FROM pg_class WHERE relname = 'products_import_next'")" 0 "no table is left behind"
tpsql -c "DROP TABLE other" >/dev/null

# ---- auto: a small import merges, one that writes most of the catalog rebuilds ----
printf 'sku,name\nA-1,Anvil VII\n' >"$TEST_TMP/g.csv"
t_import 0 "a small import, method auto" "$TEST_TMP/g.csv"
t_json "$(result_of "$(last_job)")" "d['method'] == 'merge' and 'method_note' not in d" "merges"
awk 'BEGIN { print "sku,name,price"; for (i = 0; i < 25000; i++) printf "BULK-%05d,Bulk item %d,%d.50\n", i, i, i % 100 }' \
	>"$TEST_TMP/big.csv"
t_import 0 "25,000 new products, method auto" "$TEST_TMP/big.csv"
t_json "$(result_of "$(last_job)")" "d['method'] == 'rebuild' and d['inserted'] == 25000" "rebuilds"
t_is "$(tpsql -c "SELECT count(*) FROM products")" 25009 "every product is there"
t_is "$(shape)" "$shape_before" "the table kept its shape"

# ---- usage ----
t_exit 2 "--method with an unknown value" acmectl import "$TEST_TMP/g.csv" --method fast
t_like "$ERR" '"fast" is not one of auto.merge.rebuild' "says which values it takes"
t_ok "--help" acmectl import --help
t_like "$OUT" '--method HOW' "--help lists --method"
t_import 0 "--dry-run" "$TEST_TMP/big.csv" --dry-run --method rebuild
t_json "$(result_of "$(last_job)")" "'method' not in d and d['unchanged'] == 25000" "a dry run changes nothing and names no method"

t_done
