#!/bin/sh
# import: what the file may look like and what is rejected. A BOM, CRLF line
# ends, quoted commas, doubled quotes and line breaks; in-file duplicates
# differing in case (the last wins, counted); every rejection reason with its
# physical line, column and message in import_errors and in `jobs errors`
# (a CSV that parses back); --strict refusing everything; unknown columns;
# files refused as a whole (empty, header only, no header): exit 65 with a
# clear message.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/import-lib.sh"

# ---- BOM, CRLF, quoting ----
printf '\357\273\277sku,name,description,active,price\r\n' >"$TEST_TMP/q.csv"
printf 'Q-1,"Bolt, hex","He said ""tight"".\r\nSecond line, still quoted",Y,1.5\r\n' >>"$TEST_TMP/q.csv"
printf 'Q-2,  Nut  ,"  kept  ",0,\r\n' >>"$TEST_TMP/q.csv"
printf 'Q-3,Back\\slash,"tab\there \\N",1,\r\n' >>"$TEST_TMP/q.csv"
t_import 0 "a file with a BOM, CRLF and quoted values imports" "$TEST_TMP/q.csv"
t_is "$(summary inserted) $(summary rejected)" "3 0" "every row is imported"
t_is "$(tpsql -c "SELECT name FROM products WHERE sku = 'Q-1'")" "Bolt, hex" "a quoted comma stays in the value"
t_is "$(tpsql -c "SELECT description = E'He said \"tight\".\\r\\nSecond line, still quoted' FROM products WHERE sku = 'Q-1'")" t \
	"doubled quotes become one, a quoted line break is kept as written"
t_is "$(tpsql -c "SELECT active::text || ' ' || price FROM products WHERE sku = 'Q-1'")" "true 1.50" \
	"the last column carries no carriage return"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku LIKE '%\\r%' OR name LIKE E'%\\r%'")" 0 \
	"no carriage return is left in any SKU or name"
t_is "$(tpsql -c "SELECT '[' || name || '][' || description || '] ' || active FROM products WHERE sku = 'Q-2'")" \
	"[Nut][  kept  ] false" "unquoted spaces are trimmed, quoted ones kept"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku LIKE E'\\357\\273\\277%' OR sku LIKE '%sku%'")" 0 \
	"the BOM is not glued to the header"
t_is "$(tpsql -c "SELECT name = 'Back\\slash' AND description = E'tab\\there \\\\N' FROM products WHERE sku = 'Q-3'")" t \
	"backslashes, tabs and a literal \\N survive the COPY into staging (regression guard for its escaping)"

# ---- duplicates inside the file, differing in case ----
printf 'sku,name,price\nDUP-1,first,1\nX-1,other,2\ndup-1,second,3\nDup-1,third,4\n' >"$TEST_TMP/dup.csv"
t_import 0 "in-file duplicates import" "$TEST_TMP/dup.csv"
t_is "$(summary rows) $(summary inserted) $(summary duplicates)" "4 2 2" \
	"two earlier rows of the same SKU are collapsed and counted"
t_is "$(tpsql -F '|' -c "SELECT sku, name, price FROM products WHERE sku_lower = 'dup-1'")" "Dup-1|third|4.00" \
	"the last row in the file wins, its SKU spelling too"
printf 'sku,name,price\ndup-1,fourth,5\n' >"$TEST_TMP/dup2.csv"
t_import 0 "a later file overwrites the SKU case-insensitively" "$TEST_TMP/dup2.csv"
t_is "$(tpsql -F '|' -c "SELECT count(*), min(sku), min(name) FROM products WHERE sku_lower = 'dup-1'")" "1|dup-1|fourth" \
	"still one product for that SKU"

# ---- rejected rows: every reason, with its physical line ----
{
	printf 'sku,name,description,active,price\n'
	printf 'OK-1,Good,"two\nlines",yes,1.00\n'
	printf ',Empty sku,,,\n'
	printf 'E-2,,desc,,\n'
	printf 'E-3,Bad bool,,maybe,\n'
	printf 'E-4,Bad price,,,"12,5"\n'
	printf 'E-5,Neg price,,,-1\n'
	printf 'E-6,Too precise,,,1.234\n'
	printf 'E-7,Too big,,,12345678901\n'
	printf 'E-8,Wrong columns\n'
	printf 'E-9,Bad "quote",,,\n'
	printf 'E-10,Bad \377 byte,,,\n'
	printf 'E-11,NUL\000here,,,\n'
	printf '%s,Long sku,,,\n' "$(printf 'S%.0s' $(seq 65))"
	printf 'E-13,Ctl\001char,,,\n'
	printf 'OK-2,Good two,,no,2\n'
	printf 'E-14,"never closed\n'
} >"$TEST_TMP/rej.csv"
t_import 65 "rows rejected: exit 65" "$TEST_TMP/rej.csv"
job=$(summary job_id)
t_is "$(summary rows) $(summary inserted) $(summary rejected)" "16 2 14" "the valid rows are imported, 14 rejected"
t_like "$ERR" "14 rows rejected; see 'acmectl jobs errors $job'" "stderr says where the rejected rows are"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku IN ('OK-1', 'OK-2')")" 2 "the valid rows are in the catalog"
t_is "$(tpsql -F '|' -c "SELECT line, coalesce(column_name, '-') FROM import_errors WHERE job_id = '$job' ORDER BY line")" \
"4|sku
5|name
6|active
7|price
8|price
9|price
10|price
11|-
12|name
13|name
14|name
15|sku
16|name
18|name" "import_errors has each rejected record's physical line and column (line breaks inside quotes counted)"
t_ok "jobs errors ID" acmectl jobs errors "$job"
cat >"$TEST_TMP/want-errors.csv" <<'EOF'
line,column,message,record
4,sku,sku is empty,",Empty sku,,,"
5,name,name is empty,"E-2,,desc,,"
6,active,"active ""maybe"" is not a boolean (use true/false, yes/no, y/n or 1/0)","E-3,Bad bool,,maybe,"
7,price,"price ""12,5"" is not a number","E-4,Bad price,,,""12,5"""
8,price,"price ""-1"" is negative","E-5,Neg price,,,-1"
9,price,"price ""1.234"" has more than 2 decimal places","E-6,Too precise,,,1.234"
10,price,"price ""12345678901"" is too large (at most 9999999999.99)","E-7,Too big,,,12345678901"
11,,"wrong number of columns: expected 5, found 2","E-8,Wrong columns"
12,name,"malformed quoting: a quote inside an unquoted value (quote the whole value and double its quotes: ""12"""" monitor"")","E-9,Bad ""quote"",,,"
13,name,name is not valid UTF-8 (byte 5),"E-10,Bad � byte,,,"
14,name,name contains a NUL byte (byte 4),"E-11,NUL�here,,,"
15,sku,sku is too long: 65 bytes (at most 64),"SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS,Long sku,,,"
16,name,name contains a control character (U+0001 at byte 4),"E-13,Ctl�char,,,"
18,name,unterminated quoted value: its closing quote is missing before the end of the file,"E-14,""never closed
"""
EOF
t_is "$OUT" "$(cat "$TEST_TMP/want-errors.csv")" "jobs errors prints line, column, message and the record as CSV"
t_json "$(printf '%s\n' "$OUT" | python3 -c 'import csv,json,sys; print(json.dumps(list(csv.reader(sys.stdin))))')" \
	"len(d) == 15 and all(len(r) == 4 for r in d) and d[14][3] == 'E-14,\"never closed\n\"'" \
	"the CSV parses back: 14 rows of 4 values, records with line breaks in one value"
t_ok "jobs errors -o json" acmectl jobs errors "$job" -o json
t_json "$OUT" "len(d['items']) == 14 and d['items'][0] == {'line': 4, 'column': 'sku', 'message': 'sku is empty', 'record': ',Empty sku,,,'} and d['items'][7]['column'] is None" \
	"-o json gives typed lines and null for a whole-record problem"
t_ok "jobs errors -o tsv" acmectl jobs errors "$job" -o tsv
t_is "$(printf '%s\n' "$OUT" | sed -n 2p)" "4	sku	sku is empty	,Empty sku,,," "-o tsv works"
t_exit 3 "jobs errors of an unknown job" acmectl jobs errors 01ZZZZZZZZZZZZZZZZZZZZZZZZ

# ---- --strict: nothing applied ----
before=$(catalog)
t_import 65 "--strict with rejected rows exits 65" "$TEST_TMP/rej.csv" --strict
job=$(summary job_id)
t_is "$(summary state)" failed "the strict job failed"
t_like "$ERR" "refused under --strict: 14 rows rejected, nothing applied" "the error says nothing was applied"
t_is "$(catalog)" "$before" "--strict applied nothing, not even the valid rows"
t_is "$(tpsql -c "SELECT count(*) FROM import_errors WHERE job_id = '$job'")" 14 \
	"the rejected rows of a refused import are kept"
t_is "$(tpsql -c "SELECT event_type FROM outbox WHERE payload->>'job_id' = '$job'")" import.failed \
	"one import.failed event"

printf 'sku,name,colour\nS-1,Strict,red\n' >"$TEST_TMP/unknown.csv"
t_import 65 "--strict with an unknown column exits 65" "$TEST_TMP/unknown.csv" --strict
t_like "$ERR" 'unknown column "colour"' "the error names the column"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku = 'S-1'")" 0 "nothing applied"
t_import 0 "without --strict an unknown column is ignored" "$TEST_TMP/unknown.csv"
t_like "$ERR" 'ignored column not in the product fields: "colour"' "and reported once"
t_is "$(summary unknown_columns)" '["colour"]' "the summary lists it"

# ---- files refused as a whole ----
: >"$TEST_TMP/empty.csv"
jobs_before=$(tpsql -c "SELECT count(*) FROM jobs")
t_exit 65 "an empty file exits 65" acmectl import "$TEST_TMP/empty.csv" --wait
t_like "$ERR" 'the file is empty; a CSV needs at least a header row' "it says the file is empty"
t_is "$(tpsql -c "SELECT count(*) FROM jobs")" "$jobs_before" "no job for an empty file"
t_is "$(tpsql -c "SELECT count(*) FROM uploads WHERE size = 0")" 0 "and no upload left behind"
t_exit 65 "empty stdin exits 65" sh -c "'$ACMECTL' import - --wait </dev/null"

printf 'sku,name,price\r\n' >"$TEST_TMP/header-only.csv"
t_import 65 "a header without rows exits 65" "$TEST_TMP/header-only.csv"
t_like "$ERR" 'failed: line 1: no data rows: the file has a header but no product after it' \
	"it says there are no rows"
t_is "$(tpsql -F '|' -c "SELECT line, message FROM import_errors WHERE job_id = '$(last_job)'")" \
	"1|no data rows: the file has a header but no product after it" "jobs errors has the reason"

printf '\n\n   \n' >"$TEST_TMP/blank.csv"
t_import 65 "only blank lines exits 65" "$TEST_TMP/blank.csv"
t_like "$ERR" 'no header row: the file has only blank lines' "it says there is no header"

printf 'A-1,Anvil,10\nB-2,Bolt,2\n' >"$TEST_TMP/noheader.csv"
t_import 65 "a file without a header line exits 65" "$TEST_TMP/noheader.csv"
t_like "$ERR" 'line 1: header: required column "sku" is missing \(found "A-1", "Anvil", "10"\)' \
	"it says the header lacks sku and shows what it found"
t_is "$(tpsql -c "SELECT state FROM jobs WHERE id = '$(last_job)'")" failed "the job failed without retries"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE event_type = 'import.failed' AND payload->>'job_id' = '$(last_job)'")" 1 \
	"a refused file has one import.failed event"

t_done
