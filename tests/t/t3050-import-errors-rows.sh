#!/bin/sh
# jobs errors ID --rows writes the rejected records under the file's own header
# plus an error column, so a user fixes them and imports that file as it is
# (issue 11, point 10): a round trip.
# Regression: `jobs errors` gave only line, column, message and a 512-byte
# excerpt; nothing could be re-imported without rebuilding rows by hand.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/import-lib.sh"

{
	printf 'SKU,Name,price,colour\n'
	printf 'R-1,Good,1.00,red\n'
	printf 'R-2,"Bad, price",12.5.0,blue\n'
	printf 'R-3,Bad "quote" here,3,green\n'
	printf 'R-4,,4,\n'
	printf 'R-5,Five,x,"two\nlines"\n'
	printf 'R-6,Bad \377 byte,6,white\n'
} >"$TEST_TMP/in.csv"
t_import 65 "an import with rejected rows" "$TEST_TMP/in.csv"
job=$(summary job_id)
t_is "$(summary rejected)" 5 "five rows are rejected"

t_ok "jobs errors --rows" acmectl jobs errors "$job" --rows
printf '%s\n' "$OUT" >"$TEST_TMP/fix.csv"
t_is "$(head -1 "$TEST_TMP/fix.csv")" "SKU,Name,price,colour,error" "the file's own header, plus error"
t_is "$(sed -n 2p "$TEST_TMP/fix.csv")" 'R-2,"Bad, price",12.5.0,blue,"line 3: price: price ""12.5.0"" is not a number"' \
	"a record as the file had it, with its reason"
t_is "$(sed -n 3p "$TEST_TMP/fix.csv")" 'R-3,Bad "quote" here,3,green,"line 4: Name: malformed quoting: a quote inside an unquoted value (quote the whole value and double its quotes: ""12"""" monitor"")"' \
	"malformed quoting is written back whole, as it was"
t_is "$(grep -a '^R-6' "$TEST_TMP/fix.csv" | head -c 11 | od -An -c | tr -s ' ')" "$(printf 'R-6,Bad \377 b' | od -An -c | tr -s ' ')" \
	"bytes that are not UTF-8 are written back unchanged"
t_is "$(python3 -c 'import csv,sys; r = list(csv.reader(open(sys.argv[1], newline="", encoding="latin-1"))); print(len(r), r[4][3] == "two\nlines")' "$TEST_TMP/fix.csv")" \
	"6 True" "a value with a line break stays one value"
t_like "$ERR" "5 rejected records under the file's header" "stderr says what to do with it"

# the user fixes the records and imports the file as it is
LC_ALL=C sed -e 's/12\.5\.0/12.50/' -e 's/Bad "quote" here/"Bad ""quote"" here"/' -e 's/^R-4,,/R-4,Four,/' \
	-e 's/^R-5,Five,x,/R-5,Five,5,/' -e "s/Bad \\o377 byte/Bad byte/" "$TEST_TMP/fix.csv" >"$TEST_TMP/fixed.csv"
t_import 0 "the fixed file imports as it is" "$TEST_TMP/fixed.csv"
t_is "$(summary inserted) $(summary rejected)" "5 0" "every fixed row is imported"
t_unlike "$ERR" "ignored column.*error" "the error column is ignored silently"
t_is "$(tpsql -F '|' -c "SELECT sku, name, price FROM products ORDER BY sku")" \
"R-1|Good|1.00
R-2|Bad, price|12.50
R-3|Bad \"quote\" here|3.00
R-4|Four|4.00
R-5|Five|5.00
R-6|Bad byte|6.00" "the catalog has every row"
t_import 0 "under --strict too (with the options of the first import)" "$TEST_TMP/fixed.csv" --strict --map colour=-

# another delimiter: the records keep it
printf 'sku;name;price\nS-1;ok;1\nS-2;bad;1,5\n' >"$TEST_TMP/semi.csv"
t_import 65 "a semicolon file with a rejected row" "$TEST_TMP/semi.csv" --delimiter ';'
t_ok "jobs errors --rows" acmectl jobs errors "$(summary job_id)" --rows
t_is "$OUT" 'sku;name;price;error
S-2;bad;1,5;"line 3: price: price ""1,5"" is not a number"' "header and records keep the file's delimiter"
printf '%s\n' "$OUT" | sed 's/1,5/1.5/' >"$TEST_TMP/semi-fixed.csv"
t_import 0 "and import again with it" "$TEST_TMP/semi-fixed.csv" --delimiter ';'

# --strict refused the whole file: the rows come with a note
t_import 65 "a --strict refusal" "$TEST_TMP/in.csv" --strict --map colour=-
t_ok "jobs errors --rows of a refused import" acmectl jobs errors "$(summary job_id)" --rows
t_is "$(printf '%s\n' "$OUT" | head -1)" "SKU,Name,price,colour,error" "the records are there"
t_like "$ERR" "imported nothing.*import the whole file again" "with a note that nothing was imported"

t_exit 2 "--rows takes no other format" acmectl jobs errors "$job" --rows -o json
t_ok "jobs errors without --rows is unchanged" acmectl jobs errors "$job"
t_is "$(printf '%s\n' "$OUT" | head -1)" "line,column,message,record" "line, column, message, record"

t_done
