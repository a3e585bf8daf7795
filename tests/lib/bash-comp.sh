# bash-comp.sh — run completions/acmectl.bash as bash would, for bash tests
# (t0060, t0090, t4060). Source after test-lib.sh, from a #!/bin/bash test.
#
# comp WORD...: the sorted candidates for "acmectl WORD...", the last WORD
# being the one under the cursor. The completion finds acmectl on PATH, as a
# user's shell would.
# shellcheck shell=bash
mkdir -p "$TEST_TMP/bin"
ln -sf "$ACMECTL" "$TEST_TMP/bin/acmectl"
PATH=$TEST_TMP/bin:$PATH
unset -f acmectl    # the completions must find the program on PATH
# shellcheck source=../../completions/acmectl.bash
. "$TEST_TOP/completions/acmectl.bash"

comp() {
	COMP_WORDS=(acmectl "$@")
	COMP_CWORD=$#
	COMP_LINE="acmectl $*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_acmectl acmectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	((${#COMPREPLY[@]})) && printf '%s\n' "${COMPREPLY[@]}" | sort
}
