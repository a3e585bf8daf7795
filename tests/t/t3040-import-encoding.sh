#!/bin/sh
# import --encoding: a Windows-1252 file (Excel's CSV) converts to UTF-8 while
# it is staged; without --encoding, a file that is not UTF-8 but looks like
# Windows-1252 gets a warning that says to use --encoding windows-1252
# (issue 11, point 10).
# Regression: such a file had every row with an accent rejected as "not valid
# UTF-8", with nothing saying why or what to do.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/import-lib.sh"

# "Café" and “quoted” in Windows-1252: é = 0xe9, “ = 0x93, ” = 0x94, € = 0x80
printf 'sku,name,description\r\nW-1,Caf\351,\223quoted\224 \200 5\r\nW-2,Plain,ascii\r\n' >"$TEST_TMP/cp.csv"

t_import 65 "a Windows-1252 file without --encoding: rows rejected" "$TEST_TMP/cp.csv"
t_like "$ERR" "is not valid UTF-8 \\(line 2: byte 0xe9\\) and looks like Windows-1252" \
	"the warning names the first bad byte and its line"
t_like "$ERR" "use --encoding windows-1252|import it with --encoding windows-1252" "and says what to do"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku = 'W-1'")" 0 "the row with é was rejected"

t_import 0 "--encoding windows-1252 imports it" "$TEST_TMP/cp.csv" --encoding windows-1252
# shellcheck disable=SC1111 # the curly quotes are the data: Windows-1252 0x93 and 0x94
t_is "$(tpsql -c "SELECT name || ' ' || description FROM products WHERE sku = 'W-1'")" "Café “quoted” € 5" \
	"é, curly quotes and the euro sign arrive as UTF-8"
t_unlike "$ERR" "not valid UTF-8" "no warning when converting"

printf 'sku,name\nL-1,Gr\374n\n' >"$TEST_TMP/latin.csv"
t_import 0 "--encoding latin1" "$TEST_TMP/latin.csv" --encoding latin1
t_is "$(tpsql -c "SELECT name FROM products WHERE sku = 'L-1'")" "Grün" "Latin-1 converts"

printf 'sku,name\nU-1,Caf\303\251\n' >"$TEST_TMP/utf8.csv"
t_import 0 "a UTF-8 file, --encoding utf-8" "$TEST_TMP/utf8.csv" --encoding utf-8
t_unlike "$ERR" "warning" "valid UTF-8 gets no warning"

# larger than the 64 KiB buffer: characters fall on every boundary
awk 'BEGIN { print "sku,name"; for (i = 1; i <= 6000; i++) printf "BIG-%d,Caf\351 cr\350me %d\n", i, i }' \
	>"$TEST_TMP/big.csv"
t_import 0 "a file larger than the conversion buffer" "$TEST_TMP/big.csv" --encoding windows-1252
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku LIKE 'BIG-%' AND name = 'Café crème ' || substr(sku, 5)")" \
	6000 "every row converted exactly"

printf 'sku,name\nX-1,bad \201 byte\n' >"$TEST_TMP/undef.csv"
t_exit 65 "a byte Windows-1252 does not define" acmectl import "$TEST_TMP/undef.csv" --encoding windows-1252
t_like "$ERR" "line 2: byte 0x81 is not a Windows-1252 character" "is refused with its line"
t_exit 2 "an unknown encoding" acmectl import "$TEST_TMP/cp.csv" --encoding ebcdic
t_like "$ERR" "utf-8|windows-1252|latin1" "the message lists the encodings"

# not Windows-1252 either: a plain warning
printf 'sku,name\nZ-1,x\201y\n' >"$TEST_TMP/junk.csv"
t_import 65 "invalid UTF-8 that is not Windows-1252" "$TEST_TMP/junk.csv"
t_like "$ERR" "not valid UTF-8 \\(line 2: byte 0x81\\): rows with such bytes will be rejected" "a plain warning"
t_unlike "$ERR" "looks like Windows-1252" "without the Windows-1252 guess"

t_done
