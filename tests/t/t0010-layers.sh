#!/bin/sh
# The layers of HACKING.md, as far as a script can check them (issue 12):
# cmd/ and tui/ never include or call libpq or hiredis (they pass core/ the
# connections of their session); core/ never includes cmd/ or tui/ and never
# writes to stdout or stderr (messages go through the log sink); the queue's
# test driver is a helper under tests/, not part of the shipped binary.
. "$(dirname "$0")/../lib/test-lib.sh"

cd "$TEST_TOP" || exit 1
front=$(ls cmd/*.c cmd/*.h tui/*.c tui/*.h 2>/dev/null)

t_is "$(grep -lE '#include *<(libpq-fe|hiredis/hiredis)\.h>' $front | tr '\n' ' ')" "" \
	"no file in cmd/ or tui/ includes libpq-fe.h or hiredis.h"
t_is "$(grep -nE '\b(PQ[a-zA-Z]+|redis[A-Z][a-zA-Z]*|freeReplyObject)\(' $front | head -5)" "" \
	"and none calls a libpq or hiredis function"
t_is "$(grep -lE '#include "(cmd|tui)/' core/*.c core/*.h | tr '\n' ' ')" "" \
	"core/ includes nothing from cmd/ or tui/"
t_is "$(grep -nE '\b(stdout|printf\(|puts\(|putchar\()' core/*.c | grep -vE 'snprintf|asprintf|strbuf_addf' | head -5)" "" \
	"core/ never writes to stdout"
t_is "$(grep -nE '\bstderr\b|STDERR_FILENO' core/*.c | grep -vE '^core/(log|failpoint|xalloc|devstack)\.c:' | head -5)" "" \
	"core/ writes to stderr only through the log sink (and the documented exceptions)"
t_is "$(grep -nE '\bexit\(' core/*.c | grep -v '_exit(' | head -5)" "" "core/ never calls exit()"

# the TUI (issue 13): one module draws (tui/ui.c), the loop owns the
# terminal (tui/app.c); key codes are shared by the key table and the line
# editor; a view never includes ncurses, and tui/ sends no SQL
t_is "$(grep -lE '#include *<(n?curses|term)\.h>' tui/*.c | grep -vE '^tui/(ui|app|edit|keys)\.c$' | tr '\n' ' ')" "" \
	"in tui/ only ui.c, app.c, edit.c and keys.c include ncurses"
t_is "$(grep -nE '"(SELECT|INSERT|UPDATE|DELETE) ' tui/*.c | head -5)" "" "tui/ sends no SQL of its own"

t_ok "the queue driver is a test helper" test -x "$ACME_HELPERS/acme-queue"
t_exit 1 "the binary holds no __queue" grep -q __queue "$ACMECTL"

t_done
