#!/bin/sh
# The TUI never blocks and never lies, on private servers (the run's shared
# ones are never stopped): resize to 80x24 and below it; PostgreSQL stopped
# (the title says reconnecting, the last rows stay on screen marked STALE,
# keys still answer) and started again (fresh data by itself); PostgreSQL
# frozen (SIGSTOP: every read ends at its deadline, keys answer meanwhile);
# NO_COLOR and TERM=dumb; and the terminal restored after Ctrl-C, SIGTERM, a
# crash (SIGSEGV) and a lost terminal.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$(dirname "$0")/../lib/tui-lib.sh"
command -v tmux >/dev/null || t_skip_all "tmux is not installed"

own_servers tuires

stop_pg() { pg_stop_own fast; }
start_pg() { pg_start_own; }
pg_pids() { pgrep -f "$SRV/pg/data" ; pgrep -P "$(head -n 1 "$SRV/pg/data/postmaster.pid")"; }

tpsql -c "INSERT INTO products (sku, name, price) SELECT 'R-' || lpad(g::text, 4, '0'), 'Row ' || g, g FROM generate_series(1, 500) g" >/dev/null

# ---- resize ----
tui_start
tui_wait "rows 1-" && t_ok "first paint at 120x40" true || t_ok "first paint" false
tui_resize 80 24
tui_wait_re "rows 1-1[0-9] of" && t_ok "at 80x24 the page shrinks to fit" true || t_ok "80x24" false
t_like "$(tui_screen)" 'db: connected' "the title line is still there at 80x24"
tui_resize 60 20
tui_wait "needs at least 80x24" && t_ok "below 80x24 one line says the size needed" true || t_ok "60x20" false
tui_resize 120 40
tui_wait_re "rows 1-3[0-9] of" && t_ok "back at 120x40 the full page returns" true || t_ok "120x40" false

# ---- PostgreSQL stopped, then started ----
stop_pg
tui_keys r
tui_wait "db: reconnecting" && t_ok "a stopped database shows as reconnecting" true || t_ok "reconnecting" false
tui_wait "STALE"
scr=$(tui_screen)
t_like "$scr" 'STALE' "the rows on screen are marked stale"
t_like "$scr" 'R-0001 +Row 1 ' "the last data stays on screen"
tui_keys /
tui_type "typed while down"
tui_wait "/typed while down" 5 && t_ok "keys are answered while the database is down" true || t_ok "keys while down" false
tui_keys Escape
tpsql_up() { tpsql "$@" 2>/dev/null; }
start_pg
tpsql -c "INSERT INTO products (sku, name) VALUES ('A-AFTER', 'inserted after the restart')" >/dev/null
tui_wait "db: connected" 30 && t_ok "it reconnects by itself" true || t_ok "reconnect" false
tui_wait "inserted after the restart" 30 && t_ok "fresh data comes back by itself" true || t_ok "fresh data" false
tui_wait_gone "STALE" && t_ok "the stale mark is gone" true || t_ok "stale gone" false

# ---- PostgreSQL frozen: reads end at their deadline, keys answer ----
pids=$(pg_pids | sort -u)
# shellcheck disable=SC2086
kill -STOP $pids
tui_keys r
tui_keys /
tui_type "frozen"
tui_wait "/frozen" 5 && t_ok "keys are answered while the database is frozen" true || t_ok "keys frozen" false
tui_keys Escape
tui_wait "db: reconnecting" 30 && t_ok "a frozen database ends the read at its deadline" true || t_ok "deadline" false
# shellcheck disable=SC2086
kill -CONT $pids
tui_wait "db: connected" 30 && t_ok "and it recovers when the database thaws" true || t_ok "thaw" false

# ---- Ctrl-C restores the terminal ----
tui_keys C-c
tui_wait_exit && t_is "$TUI_EXIT" 130 "Ctrl-C exits 130"
t_ok "Ctrl-C restores the terminal settings" tui_stty_same
_tmux kill-server

# ---- SIGTERM ----
tui_start
tui_wait "rows 1-"
pid=$(tui_pid)
kill -TERM "$pid"
tui_wait_exit && t_is "$TUI_EXIT" 143 "SIGTERM exits 143"
t_ok "SIGTERM restores the terminal settings" tui_stty_same
_tmux kill-server

# ---- a crash ----
tui_start
tui_wait "rows 1-"
kill -SEGV "$(tui_pid)"
tui_wait_exit && t_is "$TUI_EXIT" 139 "a crash dies of its signal (139)"
t_ok "a crash restores the terminal settings" tui_stty_same
t_like "$(tui_screen)" 'TUI EXITED' "a crash leaves the alternate screen"
_tmux kill-server

# ---- a lost terminal ----
tui_start
tui_wait "rows 1-"
pid=$(tui_pid)
_tmux kill-server
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
t_ok "a lost terminal ends the tui" sh -c "! kill -0 $pid 2>/dev/null"

# ---- NO_COLOR and TERM=dumb ----
NO_COLOR=1 tui_start
tui_wait "rows 1-"
t_unlike "$(_tmux capture-pane -t tui -p -e | head -3)" '\[(3[0-7]|4[0-7]|38;|48;)' "NO_COLOR: no colour in the output"
tui_keys q
tui_wait_exit && t_is "$TUI_EXIT" 0 "NO_COLOR: q exits 0"
_tmux kill-server
tui_start
tui_wait "rows 1-"
t_like "$(_tmux capture-pane -t tui -p -e | head -1)" '\[(4[0-7]|48;)' "with colours the title line has a background colour"
tui_keys q
tui_wait_exit
_tmux kill-server
TUI_TERM=dumb tui_start
tui_wait_exit && t_is "$TUI_EXIT" 2 "TERM=dumb: refused with exit 2 (it cannot move the cursor)"
t_like "$(cat "$TEST_TMP/tui.stderr")" 'cannot move the cursor; set TERM' "TERM=dumb: the message says why and what to do"
t_ok "TERM=dumb: the terminal settings are untouched" tui_stty_same
t_done
