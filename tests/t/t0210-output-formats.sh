#!/bin/sh
# Output formats: tab-separated when piped, an aligned table on a TTY, and
# json, ndjson and csv that parse.
. "$(dirname "$0")/../lib/test-lib.sh"
unset ACME_ENV

t_ok "piped output defaults to tsv" acmectl config show
t_is "$(printf '%s\n' "$OUT" | head -n 1)" "$(printf 'setting\tvalue\tsource\torigin')" "tsv header"
t_is "$(printf '%s\n' "$OUT" | awk -F'\t' 'NF != 4' | wc -l)" "0" "every tsv line has 4 fields"

t_ok "-o csv" acmectl config show -o csv
t_is "$(printf '%s\n' "$OUT" | python3 -c "import csv,sys; r=list(csv.reader(sys.stdin)); print(len(r[0]), all(len(x)==4 for x in r), r[1][0])")" \
	"4 True env" "csv parses with 4 columns"

t_ok "-o json" acmectl config show -o json
t_json "$OUT" "'settings' in d and 'environment' in d" "json parses"

t_ok "-o ndjson" acmectl config show -o ndjson
t_is "$(printf '%s\n' "$OUT" | python3 -c "import json,sys; print(all(json.loads(l)['setting'] for l in sys.stdin))")" \
	"True" "every ndjson line is an object"

t_ok "-o table when piped is aligned" acmectl config show -o table
t_like "$(printf '%s\n' "$OUT" | head -n 1)" '^SETTING +VALUE +SOURCE +ORIGIN$' "table header"

if command -v script >/dev/null 2>&1; then
	script -qec "$ACMECTL config show" /dev/null > "$TEST_TMP/tty" 2>&1
	t_like "$(cat "$TEST_TMP/tty")" 'SETTING' "a TTY gets a table by default"
	t_like "$(cat "$TEST_TMP/tty")" "$(printf '\033')\[1m" "table header is bold on a TTY"
	NO_COLOR=1 script -qec "$ACMECTL config show" /dev/null > "$TEST_TMP/tty" 2>&1
	t_unlike "$(cat "$TEST_TMP/tty")" "$(printf '\033')" "NO_COLOR disables colour"
	NO_COLOR='' script -qec "$ACMECTL config show" /dev/null > "$TEST_TMP/tty" 2>&1
	t_like "$(cat "$TEST_TMP/tty")" "$(printf '\033')" "an empty NO_COLOR does not (no-color.org)"
	script -qec "$ACMECTL --no-color config show" /dev/null > "$TEST_TMP/tty" 2>&1
	t_unlike "$(cat "$TEST_TMP/tty")" "$(printf '\033')" "--no-color disables colour"
else
	t_skip "script(1) not installed"
	t_skip "script(1) not installed"
	t_skip "script(1) not installed"
	t_skip "script(1) not installed"
	t_skip "script(1) not installed"
fi

# a closed pipe is the reader's choice, not an error. The pipe's read end is
# closed before acmectl starts, so every write fails with EPIPE, and the
# status checked is acmectl's own (in `acmectl | head` it would be head's).
# Regression: the check used to be `sh -c "acmectl ... | head -c1"`, which
# passed whatever acmectl did.
closed_pipe() {
	python3 -c 'import os, subprocess, sys
r, w = os.pipe()
os.close(r)
sys.exit(subprocess.call(sys.argv[1:], stdout=w))' "$@"
}
t_ok "writing into a closed pipe is not an error" closed_pipe "$ACMECTL" config show -o json
t_is "$ERR" "" "and says nothing about it"
t_exit 1 "a full disk is an error" sh -c "$ACMECTL config show > /dev/full"
t_like "$ERR" 'error writing output' "says output could not be written"

t_done
