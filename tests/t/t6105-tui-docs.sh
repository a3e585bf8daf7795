#!/bin/sh
# The TUI's keys are one table (tui/keys.c): the KEYS section of
# acmectl-tui(1) is exactly what `acmectl tui --keys=man` prints (`make
# man-keys` rewrites it), the ? screen shows every line of it, and the
# command refuses to run without a terminal.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$(dirname "$0")/../lib/tui-lib.sh"

man="$TEST_TOP/man/acmectl-tui.1"
sed -n '/^\.\\" BEGIN KEYS/,/^\.\\" END KEYS/p' "$man" | sed '1d;$d' >"$TEST_TMP/page"
acmectl tui --keys=man >"$TEST_TMP/table"
t_ok "the KEYS section of acmectl-tui(1) is the key table (run make man-keys)" \
	cmp "$TEST_TMP/page" "$TEST_TMP/table"
t_like "$(acmectl tui --keys=text)" 'Ctrl-L +redraw the screen' "--keys=text lists Ctrl-L"
t_exit 2 "--keys takes text or man" acmectl tui --keys=html
t_like "$(cat "$TEST_TMP/err")" "not one of text.man" "and says so"
t_exit 2 "--tab takes a tab name" acmectl tui --tab nowhere --keys=text
t_exit 2 "without a terminal tui refuses (exit 2)" acmectl tui </dev/null
t_like "$(cat "$TEST_TMP/err")" 'needs a terminal' "and says it needs a terminal"

# every help line of the table is on the ? screen (scrolled through)
need_servers
TUI_ROWS=60 tui_start
tui_wait "db: connected"
tui_keys '?'
tui_wait "Everywhere"
seen=$(tui_screen)
for _ in 1 2 3 4 5 6; do
	tui_keys PageDown 2>/dev/null || tui_keys NPage
	seen="$seen
$(tui_screen)"
done
missing=
acmectl tui --keys=text | grep '^  ' | sed 's/^  [^ ].\{17\} //' | while IFS= read -r help; do
	printf '%s\n' "$seen" | grep -qF -- "$help" || echo "$help"
done >"$TEST_TMP/missing"
missing=$(cat "$TEST_TMP/missing")
t_is "$missing" "" "the ? screen shows every line of the key table"
tui_keys q q
tui_wait_exit
t_is "$TUI_EXIT" 0 "q closes the help, q again quits"
t_done
