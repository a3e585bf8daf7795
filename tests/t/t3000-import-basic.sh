#!/bin/sh
# import: the command and the job end to end with a real worker: a file and
# stdin, without and with --wait, the summary and its counts, re-importing
# (idempotent: everything unchanged), overwriting by SKU without regard to
# case, columns the file lacks left alone, --map and --delimiter, --dry-run,
# NDJSON events, the outbox event, usage errors before any job exists.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/import-lib.sh"

cat >"$TEST_TMP/a.csv" <<'EOF'
sku,name,description,active,price
A-1,Anvil,Heavy,true,10.00
B-2,Bolt,,false,0.5
C-3,Crate,"Wooden, big",yes,
EOF

# ---- without --wait: the job id, then a worker runs it ----
t_ok "import prints a job id" acmectl import "$TEST_TMP/a.csv"
job=$OUT
t_like "$job" '^[0-9A-Z]{26}$' "the job id is a ULID on stdout"
t_like "$ERR" "queued import job $job" "a message on stderr says it is queued"
t_is "$(tpsql -c "SELECT state || ' ' || queue || ' ' || type FROM jobs WHERE id = '$job'")" \
	"queued import import" "the job is queued on the import queue"
t_is "$(tpsql -c "SELECT u.size || ' ' || length(u.sha256) || ' ' || (u.job_id = '$job') FROM uploads u")" \
	"$(wc -c <"$TEST_TMP/a.csv" | tr -d ' ') 64 true" "the upload has its size, sha256, and is linked to the job"
t_is "$(tpsql -c "SELECT count(*) FROM products")" 0 "nothing is imported before a worker runs"
run_worker
t_is "$(tpsql -c "SELECT state FROM jobs WHERE id = '$job'")" succeeded "the worker ran the job"
t_json "$(result_of "$job")" "d['rows'] == 3 and d['inserted'] == 3 and d['updated'] == 0 and d['unchanged'] == 0 and d['rejected'] == 0 and d['duplicates'] == 0" \
	"the job's result has the counts"
t_is "$(catalog)" "A-1|Anvil|Heavy|t|10.00
B-2|Bolt|<null>|f|0.50
C-3|Crate|Wooden, big|t|<null>" "the products are in the catalog"

# ---- the same file again with --wait: everything unchanged ----
t_import 0 "re-import with --wait exits 0" "$TEST_TMP/a.csv"
t_is "$(summary state) $(summary inserted) $(summary updated) $(summary unchanged)" "succeeded 0 0 3" \
	"re-importing the same file changes nothing: 0 inserted, 0 updated, 3 unchanged"
t_like "$(summary job_id)" '^[0-9A-Z]{26}$' "the summary names the job"
t_like "$(summary duration)" '^[0-9.]+ s$' "the summary has the duration"
t_is "$(tpsql -c "SELECT count(*) FROM products")" 3 "still 3 products"

# ---- stdin; overwrite by SKU without regard to case; missing columns kept ----
printf 'SKU , Name\na-1,Anvil II\nD-4,Drill\n' >"$TEST_TMP/b.csv"
import_wait - <"$TEST_TMP/b.csv"
t_is "$RC" 0 "import - reads stdin"
t_is "$(summary inserted) $(summary updated) $(summary unchanged)" "1 1 0" "a-1 updates A-1, D-4 is new"
t_is "$(catalog | head -n 1)" "a-1|Anvil II|Heavy|t|10.00" \
	"the SKU spelling and name are overwritten; description, active, price (not in the file) are kept"
t_is "$(tpsql -c "SELECT description IS NULL AND active AND price IS NULL FROM products WHERE sku = 'D-4'")" t \
	"a new product without those columns gets the defaults"
t_is "$(tpsql -c "SELECT upload_id IS NOT NULL FROM (SELECT (payload->>'upload_id')::bigint AS upload_id FROM jobs WHERE id = '$(last_job)') j JOIN uploads u ON u.id = j.upload_id")" t \
	"stdin is staged like a file"

# ---- --map and --delimiter ----
printf 'Item;Title;Cost;Internal note\nE-5;Engine;99.90;do not import\nA-1;Anvil III;11;x\n' >"$TEST_TMP/c.csv"
t_import 0 "--delimiter ';' with --map" "$TEST_TMP/c.csv" --delimiter ';' --map Item=sku \
	--map 'title=name' --map 'Cost=price' --map 'Internal note=-'
t_is "$(summary inserted) $(summary updated)" "1 1" "mapped columns are read"
t_is "$(tpsql -F '|' -c "SELECT sku, name, price FROM products WHERE sku_lower IN ('e-5', 'a-1') ORDER BY 1")" \
	"A-1|Anvil III|11.00
E-5|Engine|99.90" "values land in the mapped fields"
t_unlike "$ERR" "ignored column" "a column mapped to - is ignored silently"
printf 'sku\tname\tprice\nT-1\tTabbed\t1\n' >"$TEST_TMP/t.tsv"
t_import 0 "--delimiter tab" "$TEST_TMP/t.tsv" --delimiter tab
t_is "$(tpsql -c "SELECT name FROM products WHERE sku = 'T-1'")" "Tabbed" "tab-separated values are read"

# ---- --dry-run ----
before=$(catalog)
printf 'sku,name,price\nA-1,Anvil III,11\nB-2,Bolt v2,0.5\nZ-9,Zebra,1\n' >"$TEST_TMP/d.csv"
t_import 0 "--dry-run exits 0" "$TEST_TMP/d.csv" --dry-run
t_is "$(summary inserted) $(summary updated) $(summary unchanged) $(summary dry_run)" "1 1 1 true" \
	"--dry-run reports what would be inserted, updated and left unchanged"
t_is "$(catalog)" "$before" "--dry-run changes no product"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE payload->>'job_id' = '$(last_job)'")" 0 \
	"--dry-run writes no event"

# ---- NDJSON events ----
printf 'sku,name\nN-1,New\n' >"$TEST_TMP/e.csv"
import_wait "$TEST_TMP/e.csv" -o json
t_is "$RC" 0 "import --wait -o json exits 0"
t_json "$(printf '%s\n' "$OUT" | python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in sys.stdin]))')" \
	"d[0]['event'] == 'queued' and d[-1]['event'] == 'summary' and all(e['job_id'] == d[0]['job_id'] for e in d) and 'state' in [e['event'] for e in d]" \
	"-o json prints one JSON event per line: queued, state..., summary"
t_json "$(printf '%s\n' "$OUT" | tail -n 1)" \
	"d['state'] == 'succeeded' and d['inserted'] == 1 and d['rows'] == 1 and d['rejected'] == 0 and d['error'] is None and isinstance(d['duration_ms'], int)" \
	"the summary event has the counts"
t_json "$(printf '%s\n' "$OUT" | grep '"event":"progress"' | head -n 1)" \
	"d['phase'] in ('start', 'parse', 'merge', 'done') and 'bytes_total' in d and 'rows' in d" \
	"progress events have the phase, bytes and rows"
import_wait "$TEST_TMP/e.csv" -o ndjson
t_json "$(printf '%s\n' "$OUT" | tail -n 1)" "d['event'] == 'summary' and d['unchanged'] == 1" "-o ndjson is the same stream"

# ---- the outbox: one import.completed per import, in the import's transaction ----
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE event_type = 'import.completed' AND payload->>'job_id' = '$job'")" 1 \
	"exactly one import.completed event for the first import"
t_json "$(tpsql -c "SELECT payload FROM outbox WHERE payload->>'job_id' = '$job'")" \
	"d['inserted'] == 3 and d['rows'] == 3 and d['upload_id'] > 0" "the event carries the counts"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE event_type LIKE 'import.%'")" \
	"$(tpsql -c "SELECT count(*) FROM jobs WHERE type = 'import' AND state = 'succeeded' AND NOT (payload->>'dry_run')::boolean")" \
	"one event per applied import, none per row"

# ---- jobs errors of a clean import ----
t_ok "jobs errors of an import without rejected rows" acmectl jobs errors "$job"
t_is "$OUT" "line,column,message,record" "it prints the CSV header only"

# ---- a products export imports back unchanged ----
n=$(tpsql -c "SELECT count(*) FROM products")
t_ok "products export" sh -c "'$ACMECTL' products export >'$TEST_TMP/export.csv'"
t_import 0 "importing the export" "$TEST_TMP/export.csv"
t_is "$(summary rows) $(summary inserted) $(summary updated) $(summary unchanged)" "$n 0 0 $n" \
	"every exported product comes back unchanged"

# ---- regression: an anti-join planned on an empty, analyzed catalog became a
# nested loop rescanning products once per row while filling it (quadratic:
# minutes for 500,000 rows). No statement may read products while it grows.
tpsql -c "TRUNCATE products" -c "VACUUM ANALYZE products"
scans() { tpsql -c "SELECT pg_stat_force_next_flush(); SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'products'" | tail -n 1; }
s0=$(scans)
python3 "$TEST_TOP/tests/bench/gen-catalog.py" -n 2000 -o "$TEST_TMP/2k.csv"
t_import 0 "import 2,000 rows into an empty, analyzed catalog" "$TEST_TMP/2k.csv"
t_is "$(( $(scans) - s0 <= 3 ))" 1 "products is scanned a few times, not once per row ($s0 -> $(scans))"
t_is "$(tpsql -c "SELECT reltuples::bigint FROM pg_class WHERE relname = 'products'")" \
	"$(tpsql -c "SELECT count(*) FROM products")" \
	"after a big change the import refreshes the catalog's statistics (they said empty)"

# ---- refused before any job ----
jobs_before=$(tpsql -c "SELECT count(*) FROM jobs")
t_exit 2 "--map without = is a usage error" acmectl import "$TEST_TMP/a.csv" --map sku
t_like "$ERR" 'expected HEADER=FIELD' "it says what --map expects"
t_exit 2 "--map to an unknown field is a usage error" acmectl import "$TEST_TMP/a.csv" --map x=colour
t_like "$ERR" 'unknown field "colour"' "it names the field"
t_exit 2 "a quote as the delimiter is a usage error" acmectl import "$TEST_TMP/a.csv" --delimiter '"'
t_exit 2 "a two-character delimiter is a usage error" acmectl import "$TEST_TMP/a.csv" --delimiter ';;'
t_exit 3 "a missing file is not found" acmectl import "$TEST_TMP/nope.csv"
t_like "$ERR" 'nope.csv: No such file' "it names the file"
t_exit 2 "import without a file is a usage error" acmectl import
t_is "$(tpsql -c "SELECT count(*) FROM jobs")" "$jobs_before" "no job was created by refused commands"

t_done
