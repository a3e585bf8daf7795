#!/bin/sh
# The TUI's Import tab in tmux against the test servers and a real worker:
# the path prompt's Tab completion, a dry run (the y toggle) that changes
# nothing, an import started with ":import PATH" from another tab reaching
# 100% with the counts the database has, its rejected rows (line, column,
# reason), the recent imports, and the delimiter toggle.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$(dirname "$0")/../lib/tui-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

# 300 data rows; line 51 has a bad price and line 121 no name
file=$TEST_TMP/catalog-import.csv
awk 'BEGIN {
	print "sku,name,price"
	for (i = 1; i <= 300; i++)
		if (i == 50) print "IMP-50,Bad price,12.5.0"
		else if (i == 120) print "IMP-120,,3"
		else printf "IMP-%d,Item %d,%d.50\n", i, i, i
}' >"$file"
: >"$TEST_TMP/other.txt"

start_worker w1 -Q import=1
tui_start --tab import
tui_wait "No import yet" && t_ok "the Import tab opens with a hint" true || t_ok "import tab" false
tui_wait "Recent imports"
t_like "$(tui_screen)" 'no imports yet' "the recent imports list is empty"
t_like "$(tui_screen)" 'delimiter: auto .*strict: off .*dry run: off' "the options show as toggles"

# ---- the path prompt: Tab completes the file name ----
tui_keys y
tui_wait "dry run: on" && t_ok "y turns dry run on" true || t_ok "y" false
tui_keys i
tui_wait "import file" && t_ok "i opens the path prompt" true || t_ok "prompt" false
tui_keys C-u
tui_type "$TEST_TMP/catalog-im"
tui_keys Tab
tui_wait "$file" 5 && t_ok "Tab completes the file name in the prompt" true || t_ok "Tab completion" false
t_is "$(tpsql -c "SELECT count(*) FROM jobs")" 0 "nothing is submitted before Enter"

# ---- the dry run changes nothing ----
tui_keys Enter
tui_wait_re "job [0-9A-Z]{26} +succeeded +\(delimiter comma, dry run\)" 60 &&
	t_ok "the dry run is followed to its end" true || t_ok "dry run followed" false
tui_wait "dry run: nothing was changed" 10
scr=$(tui_screen)
t_like "$scr" '100%  done  300 rows' "the bar reaches 100% with the rows read"
t_like "$scr" 'inserted 298  updated 0  unchanged 0  rejected 2  duplicates 0' \
	"the dry run counts what it would insert and reject"
t_is "$(tpsql -c "SELECT count(*) FROM products")" 0 "the dry run changed no product"
t_is "$(tpsql -c "SELECT (payload->>'dry_run') || ' ' || state FROM jobs")" "true succeeded" \
	"the job was a dry run and it succeeded"

# ---- strict: the rejected rows refuse the whole file ----
tui_keys y
tui_wait "dry run: off"
tui_keys S
tui_wait "strict: on" && t_ok "S turns strict on" true || t_ok "S" false
tui_keys : ; tui_type "import $file" ; tui_keys Enter
tui_wait_re "job [0-9A-Z]{26} +failed +\(delimiter comma, strict\)" 60 &&
	t_ok "a strict import with rejected rows fails" true || t_ok "strict fails" false
tui_wait "Rejected rows: 2" 10
t_like "$(tui_screen)" 'failed: .*reject' "the reason is on the screen"
t_is "$(tpsql -c "SELECT count(*) FROM products")" 0 "the strict refusal changed no product"
tui_keys S
tui_wait "strict: off"

# ---- :import from another tab: to 100%, the counts as in the database ----
tui_keys 1
tui_wait " 1 Products "
tui_keys : ; tui_type "import $file" ; tui_keys Enter
tui_wait_re "job [0-9A-Z]{26} +succeeded +\(delimiter comma\)" 60 &&
	t_ok ":import PATH from the Products tab imports on the Import tab" true || t_ok ":import" false
tui_wait "Rejected rows" 10
scr=$(tui_screen)
t_like "$scr" '100%  done  300 rows' "the bar reaches 100%"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku LIKE 'IMP-%'")" 298 "298 products are in the database"
t_like "$scr" "inserted $(tpsql -c "SELECT count(*) FROM products") " "the screen's inserted count is the database's"
t_like "$scr" 'rejected 2  duplicates 0' "two rows rejected, no duplicates"
t_like "$scr" 'Rejected rows: 2' "the rejected rows are listed"
t_like "$scr" ' 51 +price +price "12.5.0" is not a number' "line 51: the column and the reason"
t_like "$scr" ' 121 +name +.*(empty|required|missing)' "line 121: the empty name"
t_is "$(tpsql -c "SELECT string_agg(line::text, ',' ORDER BY line) FROM import_errors
	WHERE job_id = (SELECT id FROM jobs WHERE state = 'succeeded' AND NOT (payload->>'dry_run')::boolean)")" "51,121" \
	"the lines shown are the recorded ones"
t_like "$scr" 'import .* 2 rows rejected' "the status line says rows were rejected"

# ---- the recent imports ----
tui_wait_re "succeeded .* 300 +298 +0 +2 +dry-run" 10
scr=$(tui_screen)
t_like "$scr" 'succeeded .* 300 +298 +0 +2 +dry-run' "the dry run is in the recent imports"
t_like "$scr" 'succeeded .* 300 +298 +0 +2 *$' "the import is in the recent imports"

# ---- the delimiter: auto finds semicolons; the toggle names it ----
printf 'sku;name;price\nSEMI-1;Semi one;1.00\nSEMI-2;Semi two;2.00\n' >"$TEST_TMP/semi.csv"
tui_keys : ; tui_type "import $TEST_TMP/semi.csv" ; tui_keys Enter
tui_wait_re "job [0-9A-Z]{26} +succeeded +\(delimiter semicolon\)" 60 &&
	t_ok "auto reads a semicolon file" true || t_ok "auto delimiter" false
t_is "$(tpsql -c "SELECT string_agg(name, ',' ORDER BY sku) FROM products WHERE sku LIKE 'SEMI-%'")" \
	"Semi one,Semi two" "its rows are in the database"
tui_keys o o o
tui_wait "delimiter: tab" && t_ok "o cycles the delimiter" true || t_ok "o" false

# Enter on a recent import shows its summary and rejected rows again
tui_keys g j Enter
tui_wait_re "job [0-9A-Z]{26} +succeeded +\(delimiter comma\)" 10 && tui_wait "Rejected rows: 2" 10 &&
	t_ok "Enter on a recent import shows its summary and rejected rows" true ||
	t_ok "Enter on a recent import" false

# a click on a recent import selects it (Enter then shows the dry run)
row=$(tui_screen | grep -n 'dry-run *$' | cut -d: -f1)
tui_keys g
printf '\033[M %s%s' "$(printf "\\$(printf '%03o' 33)")" "$(printf "\\$(printf '%03o' $((32 + row)))")" >"$TEST_TMP/click"
_tmux send-keys -t tui -l "$(cat "$TEST_TMP/click")"
tui_keys Enter
tui_wait_re "job [0-9A-Z]{26} +succeeded +\(delimiter comma, dry run\)" 10 &&
	t_ok "a click selects a recent import" true || t_ok "click" false

# 80x24 still shows the summary, a rejected row and the recent imports
tui_resize 80 24
tui_wait "Rejected rows: 2" 5; tui_wait " 51 " 5; tui_wait "Recent imports" 5
scr=$(tui_screen)
t_like "$scr" 'rejected 2' "at 80x24 the summary is there"
t_like "$scr" ' 51 +price ' "at 80x24 a rejected row is there"
t_like "$scr" 'Recent imports' "at 80x24 the recent imports are there"
tui_resize 120 40

# a path that does not exist is refused with the reason; nothing is queued
jobs=$(tpsql -c "SELECT count(*) FROM jobs")
tui_keys i C-u
tui_type "$TEST_TMP/nope.csv"
tui_keys Enter
tui_wait "nope.csv: No such file" 5 && t_ok "a missing file is refused with the reason" true ||
	t_ok "missing file" false
t_is "$(tpsql -c "SELECT count(*) FROM jobs")" "$jobs" "no job for a missing file"
tui_keys i
tui_wait "import file"
t_like "$(tui_screen)" "import file \\(Tab completes\\): $TEST_TMP/\$" "i opens the prompt again in the same directory"
tui_keys Escape
tui_wait "import cancelled"

tui_keys q
tui_wait_exit && t_is "$TUI_EXIT" 0 "q exits 0"
t_ok "the terminal settings are restored" tui_stty_same
t_done
