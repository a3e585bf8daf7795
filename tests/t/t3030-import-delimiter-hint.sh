#!/bin/sh
# import: a ;- or tab-separated file read with the default delimiter says which
# --delimiter to use, and `acmectl products import` is `acmectl import`
# (issue 11, point 10).
# Regression: a semicolon file failed with only "required column "sku" is
# missing (found "sku;name;price")", and `products import` did not exist.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/import-lib.sh"

printf 'sku;name;price\nS-1;Semi one;1,50\nS-2;Semi two;2\n' >"$TEST_TMP/semi.csv"
t_import 65 "a semicolon file read as commas is refused" "$TEST_TMP/semi.csv"
t_like "$ERR" "required column \"sku\" is missing" "the error names the missing column"
t_like "$ERR" "use --delimiter ';'" "and says which delimiter to use"
t_is "$(tpsql -c "SELECT message FROM import_errors WHERE job_id = '$(last_job)'")" \
	"header: required column \"sku\" is missing (found \"sku;name;price\"); the header looks separated by ';': use --delimiter ';'" \
	"jobs errors keeps the hint"
t_import 65 "with --delimiter ';' it imports (one price rejected)" "$TEST_TMP/semi.csv" --delimiter ';'
t_is "$(summary inserted) $(summary rejected)" "1 1" "the rows are read"

printf 'sku\tname\nT-1\tTab one\n' >"$TEST_TMP/tab.tsv"
t_import 65 "a tab-separated file read as commas is refused" "$TEST_TMP/tab.tsv"
t_like "$ERR" "use --delimiter tab" "the hint spells tab as the option takes it"
t_import 0 "with --delimiter tab it imports" "$TEST_TMP/tab.tsv" --delimiter tab

# ---- products import ----
printf 'sku,name\nP-1,Via products\n' >"$TEST_TMP/p.csv"
exec 9<&0
"$ACMECTL" products import "$TEST_TMP/p.csv" --wait <&9 >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
pid=$!
exec 9<&-
i=0
while _t_alive "$pid" && [ "$(queued_imports)" = 0 ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
run_worker
wait_pid "$pid" 300
t_is "$?" 0 "products import --wait imports"
t_is "$(tpsql -c "SELECT name FROM products WHERE sku = 'P-1'")" "Via products" "the product is there"
opts_of() { sed '/^Global options:/,$d' | grep '^  -'; }
t_is "$(acmectl products import --help | opts_of)" "$(acmectl import --help | opts_of)" \
	"products import --help lists the options of import"
t_is "$(acmectl products import --help | sed -n 3p)" "$(acmectl import --help | sed -n 3p)" \
	"and its summary"
t_is "$(acmectl __complete products import -- | sort)" "$(acmectl __complete import -- | sort)" \
	"and completes the same options"
t_exit 2 "products import without a file" acmectl products import

t_done
