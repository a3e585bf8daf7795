#!/bin/sh
# Job ids: a unique prefix works wherever a job id is taken (as git takes
# short hashes); an ambiguous one exits 2 listing the candidates; recent ids
# complete; jobs list says on stderr when it cut the list at --limit.
# Regression (issue 11, point 11): every verb wanted the whole 26-character id.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

for id in abc-1 abc-2 xyz_1; do
	acmectl jobs enqueue noop --id "$id" >/dev/null || t_diag "enqueue $id failed"
done

t_ok "jobs show by a unique prefix" acmectl jobs show xyz -o json
t_json "$OUT" "d['id'] == 'xyz_1'" "it is the job with that prefix"
t_exit 2 "an ambiguous prefix" acmectl jobs show abc
t_like "$ERR" "job id abc is ambiguous: it could be abc-2, abc-1" "lists the candidates, newest first"
t_exit 3 "no job starts with it" acmectl jobs show nosuch
t_ok "a whole id that is also a prefix of nothing else" acmectl jobs show abc-1 -o json
t_json "$OUT" "d['id'] == 'abc-1'" "is itself"
t_exit 3 "'_' is not a wildcard" acmectl jobs show 'abc_'
t_ok "jobs cancel by prefix" acmectl jobs cancel xy
t_like "$ERR" "job xyz_1 cancelled" "names the whole id"
t_ok "jobs retry by prefix" acmectl jobs retry xyz
t_like "$ERR" "job xyz_1 queued again" "retried"
t_exit 2 "jobs cancel of an ambiguous prefix cancels nothing" acmectl jobs cancel ab
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE state = 'cancelled'")" 0 "nothing cancelled"
t_exit 2 "jobs errors by prefix" acmectl jobs errors xy -o json
t_like "$ERR" "job xyz_1 is a noop job" "finds the job (which has no rejected rows)"

# completion offers recent job ids
t_is "$(acmectl __complete jobs show ab | sort | tr '\n' ' ')" "abc-1 abc-2 " \
	"__complete jobs show offers job ids"
t_is "$(acmectl __complete jobs watch '' | wc -l | tr -d ' ')" 3 "every recent job"
t_is "$(acmectl __complete jobs list --type imp)" "import" "--type completes job types"

# jobs list says when there are more rows
t_ok "jobs list --limit 2 of 3" acmectl jobs list --limit 2 -o tsv
t_is "$(printf '%s\n' "$OUT" | sed 1d | wc -l | tr -d ' ')" 2 "two rows"
t_like "$ERR" "showing the first 2 jobs; there are more: the next page with --after [0-9]+[.]" "and a hint on stderr, with the cursor"
t_ok "jobs list --limit 3 of 3" acmectl jobs list --limit 3 -o tsv
t_is "$ERR" "" "no hint when nothing more"
t_ok "jobs list --limit 2 -o json" acmectl jobs list --limit 2 -o json
t_is "$ERR" "" "no hint in machine formats"
t_ok "-q silences the hint" acmectl -q jobs list --limit 1
t_is "$ERR" "" "quiet"

t_done
