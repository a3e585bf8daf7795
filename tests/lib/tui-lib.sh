# tui-lib.sh — drive `acmectl tui` in tmux for tests/t/61xx (source it after
# test-lib.sh and need_servers).
#
#   tui_start [ARGS...]       acmectl tui ARGS in a private tmux server, 120x40
#   tui_keys KEY...           tmux send-keys (names: Enter, Escape, Tab, BTab,
#                             Up, Down, PPage, NPage, C-l, or text with -l)
#   tui_type TEXT             send TEXT literally
#   tui_screen                the screen as text
#   tui_wait TEXT [SECS]      until the screen shows TEXT (fixed string), at most
#                             SECS (20); on failure the screen goes to the diag
#   tui_wait_re ERE [SECS]    the same with an extended regex
#   tui_wait_gone TEXT [SECS] until TEXT is no longer on the screen
#   tui_resize COLS ROWS
#   tui_wait_exit [SECS]      until the tui exited; its status in $TUI_EXIT
#   tui_stty_same             the terminal settings after exit equal the ones before
#
# Waits poll the screen every 50 ms: they wait on what the screen shows,
# never on a guess of how long something takes.
# shellcheck shell=sh

TUI_SOCK="$TEST_TMP/tmux.sock"
TUI_EXIT=

_tui_cleanup_hook() { tmux -S "$TUI_SOCK" kill-server 2>/dev/null || true; }
_t_cleanup_extra="${_t_cleanup_extra:-} _tui_cleanup_hook"

_tmux() { tmux -S "$TUI_SOCK" "$@"; }

tui_start() {
	command -v tmux >/dev/null || t_skip_all "tmux is not installed"
	cat >"$TEST_TMP/tui-run.sh" <<EOS
stty -g >"$TEST_TMP/stty.before"
tput cnorm 2>/dev/null >"$TEST_TMP/tput.cnorm"
"$ACMECTL" tui "\$@" 2>"$TEST_TMP/tui.stderr"
echo \$? >"$TEST_TMP/tui.exit.tmp"
stty -g >"$TEST_TMP/stty.after"
mv "$TEST_TMP/tui.exit.tmp" "$TEST_TMP/tui.exit"
echo "TUI EXITED"
exec sleep 600
EOS
	rm -f "$TEST_TMP/tui.exit"
	printf 'set -g default-terminal "%s"\nset -g status off\nset -g escape-time 0\n' \
		"${TUI_TERM:-xterm-256color}" >"$TEST_TMP/tmux.conf"
	_tmux -f "$TEST_TMP/tmux.conf" new-session -d -s tui -x "${TUI_COLS:-120}" -y "${TUI_ROWS:-40}" \
		sh "$TEST_TMP/tui-run.sh" "$@"
}

tui_keys() { _tmux send-keys -t tui "$@"; }
tui_type() { _tmux send-keys -t tui -l "$1"; }
tui_screen() { _tmux capture-pane -t tui -p; }
tui_resize() { _tmux resize-window -t tui -x "$1" -y "$2"; }

_tui_wait() {	# mode pattern secs
	_tw_n=$(( ${3:-20} * 20 ))
	while [ "$_tw_n" -gt 0 ]; do
		_tw_s=$(tui_screen)
		case $1 in
		fixed) printf '%s\n' "$_tw_s" | grep -qF -- "$2" && return 0 ;;
		re) printf '%s\n' "$_tw_s" | grep -qE -- "$2" && return 0 ;;
		gone) printf '%s\n' "$_tw_s" | grep -qF -- "$2" || return 0 ;;
		esac
		sleep 0.05
		_tw_n=$((_tw_n - 1))
	done
	t_diag "waited ${3:-20} s for the screen to $1 \"$2\"; it shows:"
	tui_screen | sed 's/^/|/' | while IFS= read -r l; do t_diag "$l"; done
	[ -s "$TEST_TMP/tui.stderr" ] && t_diag "stderr: $(head -c 2000 "$TEST_TMP/tui.stderr")"
	return 1
}
tui_wait() { _tui_wait fixed "$1" "${2:-20}"; }
tui_wait_re() { _tui_wait re "$1" "${2:-20}"; }
tui_wait_gone() { _tui_wait gone "$1" "${2:-20}"; }

tui_wait_exit() {
	_te_n=$(( ${1:-20} * 20 ))
	while [ ! -f "$TEST_TMP/tui.exit" ] && [ "$_te_n" -gt 0 ]; do
		sleep 0.05
		_te_n=$((_te_n - 1))
	done
	[ -f "$TEST_TMP/tui.exit" ] || { t_diag "the tui did not exit"; return 1; }
	# shellcheck disable=SC2034 # read by the tests
	TUI_EXIT=$(cat "$TEST_TMP/tui.exit")
}

tui_stty_same() { cmp -s "$TEST_TMP/stty.before" "$TEST_TMP/stty.after"; }

# The pid of the acmectl tui process.
# The TUI of this test's own tmux session: the child of its pane's shell
# (tui-run.sh). Matching the command line across the machine could find
# another test's TUI started at the same moment (tests run in parallel), and
# signal it instead.
tui_pid() { pgrep -P "$(_tmux display-message -p -t tui '#{pane_pid}')" -f -n "^$ACMECTL tui" ; }
