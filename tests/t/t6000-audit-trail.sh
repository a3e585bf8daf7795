#!/bin/sh
# The audit trail (issue 11, point 5): every import writes one audit_log row
# in its own transaction (who queued it, environment, file, size, sha256,
# counts, job id); so do `jobs cancel|retry|purge` and every webhooks
# change; `acmectl audit` filters by --actor, --action and --since.
# What broke: an import of 19,603 products left no audit row at all, and
# jobs cancel/retry/purge left none either.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/import-lib.sh"

# audit_rows FILTER: "command|target|os_user|host|environment" of each row, oldest first
audit_rows() {
	tpsql -F '|' -c "SELECT command, coalesce(target, ''), os_user, host, environment
		FROM audit_log WHERE $1 ORDER BY id"
}
# detail ID KEY: one key of a row's details
detail() {
	tpsql -c "SELECT details->>'$2' FROM audit_log WHERE id = $1"
}

ME=$(id -un)

# ---- imports ---------------------------------------------------------------------
cat >"$TEST_TMP/a.csv" <<'EOF'
sku,name,description,active,price
A-1,Anvil,Heavy,true,10.00
B-2,Bolt,,false,0.5
C-3,Crate,"Wooden, big",yes,
C-3,Crate,"Wooden, bigger",yes,
EOF
SIZE=$(wc -c <"$TEST_TMP/a.csv" | tr -d ' ')
SHA=$(sha256sum "$TEST_TMP/a.csv" | cut -d' ' -f1)

t_ok "import queues a job" acmectl import "$TEST_TMP/a.csv"
job=$OUT
t_is "$(tpsql -c "SELECT created_by FROM jobs WHERE id = '$job'")" "$ME@$(hostname)" \
	"the job records who queued it (user@host)"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'import'")" 0 \
	"queueing alone writes no import row (nothing changed yet)"
# the worker runs as someone else in real life: the row must name who queued it
tpsql -c "UPDATE jobs SET created_by = 'alice@ci-runner' WHERE id = '$job'"
run_worker
t_is "$(tpsql -c "SELECT state FROM jobs WHERE id = '$job'")" succeeded "the worker imported it"
t_is "$(audit_rows "command = 'import'")" "import|$job|alice|ci-runner|test" \
	"one audit row: import, the job id, who queued it (not the worker's user), the environment"
aid=$(tpsql -c "SELECT id FROM audit_log WHERE command = 'import'")
aid=${aid:-0}
t_is "$(detail "$aid" job_id) $(detail "$aid" file) $(detail "$aid" size) $(detail "$aid" sha256)" \
	"$job $TEST_TMP/a.csv $SIZE $SHA" "details: job id, file name, size, sha256"
t_is "$(detail "$aid" inserted) $(detail "$aid" updated) $(detail "$aid" unchanged) $(detail "$aid" rejected) $(detail "$aid" duplicates)" \
	"3 0 0 0 1" "details: inserted, updated, unchanged, rejected, duplicates"
t_is "$(detail "$aid" outcome)" succeeded "details: the outcome"
t_is "$(tpsql -c "SELECT (SELECT finished_at FROM jobs WHERE id = '$job') = at FROM audit_log WHERE id = $aid")" t \
	"the row commits in the import's transaction (same now() as the job's end)"

t_import 0 "a re-import" "$TEST_TMP/a.csv"
job2=$(last_job)
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'import' AND target = '$job2'")" 1 \
	"the re-import writes its own row"
t_is "$(tpsql -c "SELECT details->>'unchanged' FROM audit_log WHERE target = '$job2'")" 3 "with its counts"

printf 'sku,name,price\nD-4,Drill,abc\nE-5,Eel,1\n' >"$TEST_TMP/bad.csv"
t_import 65 "a strict import with a bad row is refused" --strict "$TEST_TMP/bad.csv"
job3=$(last_job)
t_is "$(tpsql -c "SELECT details->>'outcome' || ' ' || (details->>'rejected') || ' ' || (details->>'inserted') FROM audit_log WHERE target = '$job3'")" \
	"refused 1 0" "a --strict refusal is audited too: outcome refused, nothing inserted"

t_import 0 "a dry run" --dry-run "$TEST_TMP/a.csv"
job4=$(last_job)
t_is "$(tpsql -c "SELECT details->>'dry_run' FROM audit_log WHERE target = '$job4'")" true \
	"a dry run's row says it was one"

# ---- jobs cancel, retry, purge ----------------------------------------------------------
t_ok "enqueue a job" acmectl -q jobs enqueue noop
nj=$OUT
t_ok "cancel it" acmectl jobs cancel "$nj"
t_is "$(audit_rows "command = 'jobs cancel'")" "jobs cancel|$nj|$ME|$(hostname)|test" "jobs cancel is audited"
t_is "$(tpsql -c "SELECT details->>'outcome' FROM audit_log WHERE command = 'jobs cancel'")" cancelled \
	"with its outcome"
t_ok "retry it" acmectl jobs retry "$nj"
t_is "$(audit_rows "command = 'jobs retry'")" "jobs retry|$nj|$ME|$(hostname)|test" "jobs retry is audited"
t_exit 4 "retry a queued job is refused" acmectl jobs retry "$nj"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'jobs retry'")" 1 \
	"a refused retry writes no row"
t_ok "purge the waiting jobs of a queue" acmectl jobs purge --queue default --yes
t_is "$(tpsql -F '|' -c "SELECT target, details->>'cancelled' FROM audit_log WHERE command = 'jobs purge'")" \
	"default|1" "jobs purge --queue is audited with the count"
t_ok "purge a queue with nothing waiting" acmectl jobs purge --queue default --yes
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'jobs purge'")" 1 \
	"a purge that changed nothing writes no row"
t_ok "purge finished jobs" acmectl jobs purge --older-than 0s --state cancelled --yes
t_is "$(tpsql -F '|' -c "SELECT details->>'state', details->>'deleted' FROM audit_log WHERE command = 'jobs purge' ORDER BY id DESC LIMIT 1")" \
	"cancelled|1" "jobs purge --older-than is audited with the count"

# ---- webhooks: every change --------------------------------------------------------------
t_ok "webhooks add" acmectl webhooks add https://hooks.example.com/a -e product.created
t_ok "webhooks edit" acmectl webhooks edit 1 -e import.completed
t_ok "webhooks disable" acmectl webhooks disable 1 --reason maintenance
t_ok "webhooks enable" acmectl webhooks enable 1
t_ok "webhooks rotate-secret" acmectl webhooks rotate-secret 1
tpsql -c "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, status)
	VALUES (1, 'evt_1', 'import.completed', '\\x7b7d', 'failed')"
t_ok "webhooks redeliver" acmectl webhooks redeliver 1
t_ok "webhooks delete" acmectl webhooks delete 1 --yes
t_is "$(tpsql -c "SELECT string_agg(command, ',' ORDER BY id) FROM audit_log WHERE command LIKE 'webhooks %'")" \
	"webhooks add,webhooks edit,webhooks disable,webhooks enable,webhooks rotate-secret,webhooks redeliver,webhooks delete" \
	"every webhooks change wrote its row"

# ---- acmectl audit --actor --action --since ----------------------------------------------
# col N: column N of the rows of a tsv listing in $OUT (its header left out)
col() { printf '%s\n' "$OUT" | awk -F '\t' -v c="$1" 'NR > 1 { print $c }'; }
t_ok "audit --action import" acmectl audit --action import -o tsv
t_is "$(col 6 | sort -u)" import "--action import: only import rows"
t_is "$(col 6 | wc -l | tr -d ' ')" 4 "--action import: all four imports"
t_ok "audit --action jobs" acmectl audit --action jobs -o tsv
t_is "$(col 6 | sort -u | tr '\n' ,)" "jobs cancel,jobs purge,jobs retry," \
	"--action CMD matches each of its verbs"
t_ok "audit --action 'webhooks delete'" acmectl audit --action 'webhooks delete' -o tsv
t_is "$(col 6)" "webhooks delete" "--action 'CMD VERB' matches that verb"
t_ok "audit --action job" acmectl audit --action job -o tsv
t_is "$(col 6)" "" "--action does not match a part of a word"
t_ok "audit --actor alice" acmectl audit --actor alice -o tsv
t_is "$(col 3):$(col 7)" "alice:$job" "--actor USER: the import alice queued"
t_ok "audit --actor alice@ci-runner" acmectl audit --actor alice@ci-runner -o tsv
t_is "$(col 7)" "$job" "--actor USER@HOST"
t_ok "audit --actor alice@elsewhere" acmectl audit --actor alice@elsewhere -o tsv
t_is "$(col 6)" "" "--actor USER@HOST matches the host too"
t_ok "audit --actor $ME --action import" acmectl audit --actor "$ME" --action import -o tsv
t_is "$(col 6 | wc -l | tr -d ' ')" 3 "--actor and --action together"
tpsql -c "UPDATE audit_log SET at = at - interval '3 days' WHERE command = 'webhooks add'"
t_ok "audit --since 1d --action webhooks" acmectl audit --since 1d --action webhooks -o tsv
t_is "$(col 6 | grep -c 'webhooks add')" 0 "--since leaves out older rows"
t_is "$(col 6 | wc -l | tr -d ' ')" 6 "--since keeps the younger ones"
t_ok "audit --action nosuch" acmectl audit --action nosuch
t_like "$ERR" 'no entries' "no match says so on stderr"

# ---- --after pages the whole log, newest first, by (at, id) ------------------------------
# two rows with the same time: the id breaks the tie
tpsql -c "INSERT INTO audit_log (os_user, host, environment, command, target, details, at)
	SELECT 'pager', 'h', 'test', 'products delete', 'P-' || g, '{}', timestamptz '2026-01-01 00:00:00+00'
	FROM generate_series(1, 2) g"
want=$(tpsql -c "SELECT string_agg(id::text, ' ' ORDER BY at DESC, id DESC) FROM audit_log")
got='' cur='' pages=0
while :; do
	if [ -n "$cur" ]; then _t_run acmectl audit --limit 3 -o json --after "$cur"
	else _t_run acmectl audit --limit 3 -o json; fi
	[ "${_t_rc:?}" = 0 ] || { t_diag "audit exited $_t_rc: $ERR"; break; }
	got="$got $(printf '%s' "$OUT" | python3 -c 'import json,sys; print(" ".join(str(i["id"]) for i in json.load(sys.stdin)["items"]))')"
	cur=$(printf '%s' "$OUT" | python3 -c 'import json,sys; c = json.load(sys.stdin)["page"]["next_cursor"]; print(c or "")')
	pages=$((pages + 1))
	[ -n "$cur" ] && [ $pages -lt 100 ] || break
done
# shellcheck disable=SC2086 # word splitting trims the list
t_is "$(echo $got)" "$want" "--after walks every row once, newest first, in pages of 3"
t_ok "a cut list" acmectl audit --limit 1 -o tsv
t_like "$ERR" 'more with --after [0-9]+[.][0-9]+' "a cut list says how to page on stderr"
t_exit 2 "a bad cursor" acmectl audit --after nonsense
t_like "$ERR" 'not a cursor of acmectl audit' "the error names the bad cursor"

t_done
