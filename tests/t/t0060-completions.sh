#!/bin/bash
# The shell completions: completions/acmectl.bash is sourced and _acmectl run
# as bash would run it (COMP_WORDS, COMP_CWORD); COMPREPLY must hold what the
# command tables say. The zsh and fish scripts are syntax-checked, and fish's
# is run through `complete -C`, when those shells are installed.
. "$(dirname "$0")/../lib/test-lib.sh"

[ -x "$ACMECTL" ] || { echo "Bail out! $ACMECTL is not built"; exit 1; }
COMPLETIONS=$TEST_TOP/completions
. "$TEST_TOP/tests/lib/bash-comp.sh"
sorted() { printf '%s\n' "$@" | sort; }

t_like "$(complete -p acmectl)" '-F _acmectl acmectl$' "bash: complete -F _acmectl acmectl"

commands=$(acmectl __complete '' | sort)
t_is "$(comp '')" "$commands" "bash: commands after acmectl"
t_like "$(comp '')" '^config$' "bash: commands include config"
t_like "$(comp '')" '^version$' "bash: commands include version"
t_unlike "$(comp '')" '__complete' "bash: the hidden __complete is not offered"
t_is "$(comp c)" "config" "bash: command from a prefix"
t_is "$(comp de)" "dev" "bash: another command from a prefix"
t_is "$(comp nosuch '')" "" "bash: nothing after an unknown command"

t_is "$(comp config '')" "$(sorted check show)" "bash: verbs of config"
t_is "$(comp cfg '')" "$(sorted check show)" "bash: verbs of config through its alias"
t_is "$(comp config s)" "show" "bash: verb from a prefix"
t_is "$(comp dev '')" "$(acmectl __complete dev '' | sort)" "bash: verbs of dev"
for v in up down status env psql redis-cli; do
	t_like "$(comp dev '')" "^$v\$" "bash: dev verbs include $v"
done
t_is "$(comp --env production dev s)" "status" "bash: verb after a global option with a value"

globals=$(acmectl __complete -- | sort)
t_is "$(comp --)" "$globals" "bash: global options after --"
for o in --env --config --output --quiet --verbose --no-color --help --version; do
	t_like "$(comp --)" "^$o\$" "bash: global options include $o"
done
t_is "$(comp --no-c)" "--no-color" "bash: option from a prefix"
t_is "$(comp dev down --p)" "--purge" "bash: a verb's own option"
t_like "$(comp config show --)" '^--output$' "bash: global options after a verb"

formats=$(sorted table tsv csv json ndjson)
t_is "$(comp -o '')" "$formats" "bash: -o values"
t_is "$(comp --output '')" "$formats" "bash: --output values"
t_is "$(comp config show -o j)" "json" "bash: -o value from a prefix after a verb"
t_is "$(comp --output = '')" "$formats" "bash: --output= values"
t_is "$(comp --output = n)" "ndjson" "bash: --output=n completes the value"
t_is "$(comp -o json '')" "$commands" "bash: commands after -o VALUE"

t_is "$(comp --env '')" "$(sorted development test production)" "bash: --env values"
t_is "$(comp --env p)" "production" "bash: --env value from a prefix"

mkdir -p "$TEST_TMP/files/sub"
: >"$TEST_TMP/files/a.conf"
: >"$TEST_TMP/files/b.ini"
cd "$TEST_TMP/files" || exit 1
t_is "$(comp --config '')" "$(sorted a.conf b.ini sub)" "bash: --config completes file names"
t_is "$(comp --config a)" "a.conf" "bash: --config completes a file name prefix"
t_is "$(comp --config = b)" "b.ini" "bash: --config=b completes a file name"
t_is "$(comp config show --config s)" "sub" "bash: --config after a verb completes file names"
t_is "$(comp -o '')" "$formats" "bash: -o values are not mixed with file names"
cd "$TEST_TOP" || exit 1

COMP_WORDS=("$ACMECTL" c)
COMP_CWORD=1
COMPREPLY=()
_acmectl "$ACMECTL" c "$ACMECTL"
t_is "${COMPREPLY[*]}" "config" "bash: the program is run from the path typed"

t_is "$(comp help '')" "$commands" "bash: help completes command names"

# The scripts name no command, verb or option: all of them come from __complete.
names=$( { acmectl __complete ''; acmectl __complete --
	for c in $commands; do acmectl __complete "$c" ''; acmectl __complete "$c" --; done; } | sort -u)
for f in acmectl.bash _acmectl acmectl.fish; do
	code=$(grep -v '^[[:space:]]*#' "$COMPLETIONS/$f")
	found=
	for n in $names; do
		case $n in :*) continue ;; esac	# ":file", ":dir": hints the scripts do know
		case $n in --*) re="(^|[^A-Za-z0-9_-])$n([^A-Za-z0-9_-]|\$)" ;;
		*) re="[\"' ]$n([\"' ]|\$)" ;; esac
		printf '%s\n' "$code" | grep -Eq -- "$re" && found="$found $n"
	done
	t_is "$found" "" "$f names no command, verb or option"
done

if command -v zsh >/dev/null 2>&1; then
	t_ok "zsh -n _acmectl" zsh -n "$COMPLETIONS/_acmectl"
	t_like "$(head -1 "$COMPLETIONS/_acmectl")" '^#compdef acmectl$' "_acmectl starts with #compdef acmectl"
else
	t_skip "zsh is not installed: _acmectl not checked"
	t_skip "zsh is not installed: #compdef not checked"
fi

if command -v fish >/dev/null 2>&1; then
	t_ok "fish -n acmectl.fish" fish --no-execute "$COMPLETIONS/acmectl.fish"
	fish_comp() {
		fish --no-config -c "source '$COMPLETIONS/acmectl.fish'; complete -C '$1'" 2>&1 |
			cut -f1 | sort
	}
	t_is "$(fish_comp 'acmectl c')" "config" "fish: command from a prefix"
	t_is "$(fish_comp 'acmectl config ')" "$(sorted check show)" "fish: verbs of config"
	t_is "$(fish_comp 'acmectl -o ')" "$formats" "fish: -o values"
	t_like "$(fish_comp 'acmectl --output=')" '^--output=json$' "fish: --output= values"
	t_like "$(fish_comp 'acmectl --env ')" '^production$' "fish: --env values"
else
	t_skip "fish is not installed: acmectl.fish not checked"
	for _ in 1 2 3 4 5; do t_skip "fish is not installed"; done
fi

# dynamic candidates: migration versions come from the binary itself
t_is "$(acmectl __complete migrate print '')" "$(ls "$TEST_TOP"/core/migrations/ | sed -n 's/^\([0-9]\{4\}\)_.*\.sql$/\1/p')" \
	"migrate print offers every embedded migration version"
t_like "$(acmectl __complete migrate up --to '')" '^0001' "--to offers migration versions"

t_done
