#!/bin/sh
# --help, the man pages and the completions agree with the command tables, the
# configuration keys and the exit codes, and every man page is lint-clean.
#
# Everything is discovered from the program (acmectl __complete, --help,
# config show -o json) and from core/err.h, so a new command, verb, option,
# setting or exit code is checked without editing this file. The rules:
#   - every visible command is an `.It Cm NAME` entry of COMMANDS in
#     acmectl.1, and nothing else is (planned commands are not documented
#     as existing), and it has its own page man/acmectl-NAME.1, which its
#     --help points to; commands without verbs (help, version) are no exception;
#   - every verb appears as "acmectl CMD VERB" in the SYNOPSIS of its page,
#     every option of the command and its verbs somewhere in that page (with
#     its short form as "-x, --long" when it has one);
#   - --help and __complete offer the same options, commands and verbs;
#   - the global options are in GLOBAL OPTIONS of acmectl.1;
#   - every setting's key and variable are in acmectl.conf.5 and the variable
#     in ENVIRONMENT of acmectl.1; a setting that takes VAR_FILE (found by
#     trying it) has VAR_FILE and key_file documented too;
#   - every variable the C code reads with getenv("...") is in ENVIRONMENT;
#   - the EXIT STATUS list of acmectl.1 is exactly the codes of core/err.h.
. "$(dirname "$0")/../lib/test-lib.sh"

command -v mandoc >/dev/null 2>&1 || t_skip_all "mandoc is not installed"
[ -x "$ACMECTL" ] || { echo "Bail out! $ACMECTL is not built"; exit 1; }

MAN=$TEST_TOP/man

# A page as plain text, one paragraph per line.
render() { mandoc -T ascii -O width=1000 "$1" | perl -pe 's/.\x08//g'; }
# The body of one section of rendered text on stdin.
section() { awk -v s="$1" '/^[A-Z]/ { on = ($0 == s); next } on'; }
# The long options listed by a --help text on stdin, sorted.
help_opts() { grep -E '^  (-[^ ], |    )--[a-z0-9]' | sed 's/^ *\(-[^ ], \)\{0,1\}//; s/ .*//' | sort; }
# "-x, --long" for every option with a short form in a --help text on stdin.
help_short_pairs() { grep -E '^  -[^ ], --' | sed 's/^  \(-[^ ], --[a-z0-9-]*\).*/\1/'; }
# Is word $1 in the text $2? (not as part of a longer name)
has_word() { printf '%s\n' "$2" | grep -Eq -- "(^|[^A-Za-z0-9_-])$1([^A-Za-z0-9_-]|$)"; }
t_has() {	# word text desc
	_r="\"$1\" is not there"
	[ -n "$1" ] && has_word "$1" "$2" && _r=found
	t_is "$_r" found "$3"
}
t_same() {	# got want desc: sorted lists equal, and not empty
	[ -n "$2" ] || { t_is "(empty)" "a list" "$3"; return; }
	t_is "$(printf '%s\n' "$1" | sort -u)" "$(printf '%s\n' "$2" | sort -u)" "$3"
}

# ---- every page is lint-clean -------------------------------------------------
for m in "$MAN"/*.[1-8]; do
	t_is "$(mandoc -T lint -W warning "$m" 2>&1)" "" "mandoc lint clean: ${m#"$TEST_TOP"/}"
done

main_txt=$(render "$MAN/acmectl.1")
conf_txt=$(render "$MAN/acmectl.conf.5")

# ---- commands -------------------------------------------------------------------
commands=$(acmectl __complete '')
t_like "$commands" '^config$' "__complete lists commands"
help_cmds=$(acmectl help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([^ ][^ ]*\) .*/\1/p')
t_same "$help_cmds" "$commands" "acmectl help and __complete list the same commands"
doc_cmds=$(awk '/^\.Sh / { on = ($2 == "COMMANDS"); next }
	on && /^\.It Cm / { print $3 }' "$MAN/acmectl.1")
t_same "$doc_cmds" "$commands" "COMMANDS in acmectl.1 has one entry per visible command, no more"

global_opts=$(acmectl __complete -- | sort)
t_like "$global_opts" '^--help$' "__complete lists global options"
t_same "$(acmectl --help | help_opts)" "$global_opts" "acmectl --help and __complete list the same global options"
globals_txt=$(printf '%s\n' "$main_txt" | section "GLOBAL OPTIONS")
for o in $global_opts; do
	t_has "$o" "$globals_txt" "acmectl.1 GLOBAL OPTIONS documents $o"
done
acmectl --help | help_short_pairs >"$TEST_TMP/pairs"
while IFS= read -r p; do
	t_has "$p" "$globals_txt" "acmectl.1 GLOBAL OPTIONS documents \"$p\""
done <"$TEST_TMP/pairs"

# $1 = command, $2 = verb or "": its options agree between --help and
# __complete, and the ones that are not global are in the command's page.
check_opts() {
	_what="acmectl $1${2:+ $2}"
	# shellcheck disable=SC2086 # $2 is empty or one word
	_help=$(acmectl "$1" $2 --help)
	# shellcheck disable=SC2086
	_comp=$(acmectl __complete "$1" $2 --)
	t_same "$(printf '%s\n' "$_help" | help_opts)" "$_comp" "$_what: --help and __complete offer the same options"
	for _o in $_comp; do
		printf '%s\n' "$global_opts" | grep -qxe "$_o" && continue
		t_has "$_o" "$page_txt" "acmectl-$1.1 documents $_what $_o"
	done
	printf '%s\n' "$_help" | sed '/^Global options:/,$d' | help_short_pairs >"$TEST_TMP/pairs"
	while IFS= read -r _p; do
		t_has "$_p" "$page_txt" "acmectl-$1.1 documents $_what \"$_p\""
	done <"$TEST_TMP/pairs"
}

for c in $commands; do
	page=$MAN/acmectl-$c.1
	# daemons live in section 8 (acmectl-worker(8))
	[ -f "$MAN/acmectl-$c.8" ] && page=$MAN/acmectl-$c.8
	t_ok "man page of $c exists" test -f "$page"
	help=$(acmectl "$c" --help)
	t_like "$help" "See man acmectl-$c\\b" "acmectl $c --help points to acmectl-$c"
	[ -f "$page" ] || continue
	page_txt=$(render "$page")
	if printf '%s\n' "$help" | grep -q '^Verbs:'; then
		verbs=$(printf '%s\n' "$help" | sed -n '/^Verbs:/,/^$/p' | sed -n 's/^  \([^ ][^ ]*\).*/\1/p')
		t_same "$(acmectl __complete "$c" '')" "$verbs" "acmectl $c: --help and __complete list the same verbs"
		synopsis=$(printf '%s\n' "$page_txt" | section SYNOPSIS)
		for v in $verbs; do
			t_like "$synopsis" "^ +acmectl $c $v( |\$)" "acmectl-$c.1 SYNOPSIS has acmectl $c $v"
			check_opts "$c" "$v"
		done
	else
		check_opts "$c" ""
	fi
done

# ---- settings and environment -------------------------------------------------------
acmectl config show -o json >"$TEST_TMP/cfg.json"
settings=$(python3 -c 'import json,sys
for k, v in json.load(open(sys.argv[1]))["settings"].items():
    print(k, v["env_var"])' "$TEST_TMP/cfg.json")
t_like "$settings" '^database_url DATABASE_URL$' "config show -o json lists settings with their variables"
env_txt=$(printf '%s\n' "$main_txt" | section ENVIRONMENT)
printf 'x\n' >"$TEST_TMP/secret"
chmod 600 "$TEST_TMP/secret"     # a file holding a secret must be private
printf '%s\n' "$settings" >"$TEST_TMP/settings"
takes_file=
while read -r key var; do
	t_has "$key" "$conf_txt" "acmectl.conf.5 documents $key"
	t_has "$var" "$conf_txt" "acmectl.conf.5 documents $var"
	t_has "$var" "$env_txt" "acmectl.1 ENVIRONMENT documents $var"
	env "${var}_FILE=$TEST_TMP/secret" "$ACMECTL" config show -o json >"$TEST_TMP/cfg-file.json" ||
		t_ok "config show with ${var}_FILE" false
	origin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[2]))["settings"][sys.argv[1]]["origin"])' \
		"$key" "$TEST_TMP/cfg-file.json")
	case $origin in
	"env ${var}_FILE"*)
		takes_file="$takes_file $key"
		t_has "${var}_FILE" "$conf_txt" "acmectl.conf.5 documents ${var}_FILE"
		t_has "${var}_FILE" "$env_txt" "acmectl.1 ENVIRONMENT documents ${var}_FILE"
		t_has "${key}_file" "$conf_txt" "acmectl.conf.5 documents ${key}_file"
		;;
	esac
done <"$TEST_TMP/settings"
t_like "$takes_file" " database_url( .*)? redis_url" "the secrets database_url and redis_url were found taking _FILE"

for var in $(cat "$TEST_TOP"/cmd/*.c "$TEST_TOP"/core/*.c "$TEST_TOP"/tui/*.c 2>/dev/null |
	     sed -n 's/.*getenv("\([A-Za-z0-9_]*\)").*/\1/p' | sort -u); do
	t_has "$var" "$env_txt" "acmectl.1 ENVIRONMENT documents $var (read by the code)"
done

# ---- exit status ------------------------------------------------------------------------
codes=$(sed -n 's/^[[:space:]]*X([A-Z_]*, *\([0-9][0-9]*\),.*/\1/p' "$TEST_TOP/core/err.h")
t_like "$codes" '^78$' "exit codes read from core/err.h"
doc_codes=$(printf '%s\n' "$main_txt" | section "EXIT STATUS" | sed -n 's/^     \([0-9][0-9]*\) .*/\1/p')
t_same "$doc_codes" "$codes" "acmectl.1 EXIT STATUS lists exactly the codes of core/err.h"

t_done
