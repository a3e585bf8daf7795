#!/bin/sh
# PostgreSQL restarted between a worker taking a job and recording its start:
# the start fails on the dead connection, and the job must be given back at
# once, not counted as an attempt, and then run once. Found by the soak
# (tests/soak/run, SOAK_SEED=1143391033): an import whose starts met three
# restarts ended dead. Driven here by the job.before-start failpoint, for a
# job fenced in the jobs table (noop commit) and for an import.
. "$(dirname "$0")/../lib/test-lib.sh"
own_servers pgstart on
. "$TEST_TOP/tests/lib/worker-lib.sh"
. "$TEST_TOP/tests/lib/import-lib.sh"

# ---- a noop job that commits one audit row ------------------------------------------------
export ACME_FAILPOINTS='job.before-start=1*pause'
start_worker w -Q default=1 --lease 30s
ID=$(enqueue noop '{"commit": "fp-start-1"}' --max-attempts 1)
held=$(fp_reached "$TEST_TMP/w.log" job.before-start)
t_ok "the child stopped before recording the start" test -n "$held"
t_ok "PostgreSQL restarted (immediate) under it" pg_restart_own immediate
kill -CONT "$held"
t_ok "the job succeeds" wait_for 60 "[ \"\$(job_col $ID state)\" = succeeded ]"
t_is "$(job_col "$ID" attempts)" 1 "with its one attempt: the failed start was not counted"
t_is "$(commits fp-start-1)" 1 "its effect committed once"
t_like "$(cat "$TEST_TMP/w.log")" "job $ID released: PostgreSQL is unavailable" \
	"the log says the job was given back"
stop_worker w
t_is "$W_STATUS" 0 "the worker stops cleanly"

# ---- a job PostgreSQL went away under too often: the attempt counts ------------------------
# (a job that itself takes the server down must not come back for ever: past
# QUEUE_FREE_RELEASES (5) free releases the attempt counts; the count is
# set here as if five restarts had happened)
export ACME_FAILPOINTS='job.before-start=1*pause'
start_worker w2 -Q default=1 --lease 30s
ID=$(enqueue noop '{"commit": "fp-start-2"}' --max-attempts 1)
held=$(fp_reached "$TEST_TMP/w2.log" job.before-start)
t_ok "the child stopped before recording the start" test -n "$held"
tredis HSET "${ACME_REDIS_PREFIX}{default}:job:$ID" freed 5 >/dev/null
t_ok "PostgreSQL restarted under it" pg_restart_own immediate
kill -CONT "$held"
t_ok "the job ends dead: its one attempt counted" wait_for 60 "[ \"\$(job_col $ID state)\" = dead ]"
t_is "$(commits fp-start-2)" 0 "nothing committed"
t_like "$(cat "$TEST_TMP/w2.log")" "job $ID: PostgreSQL went away under it more than 5 times; this attempt counts \\(dead\\)" \
	"the log says why the attempt counted"
stop_worker w2
t_is "$W_STATUS" 0 "the worker stops cleanly"

# ---- an import: its start, then its merge, each meeting a restart -------------------------
printf 'sku,name,price\nPGS-1,One,1.00\nPGS-2,Two,2.00\n' >"$TEST_TMP/p.csv"
export ACME_FAILPOINTS='job.before-start=1*pause,import.before-merge=1*pause'
start_worker wi -Q import=1 --lease 30s
t_ok "an import is submitted" "$ACMECTL" -q import "$TEST_TMP/p.csv"
IMP=$(last_job)
held=$(fp_reached "$TEST_TMP/wi.log" job.before-start)
t_ok "the child stopped before recording the import's start" test -n "$held"
t_ok "PostgreSQL restarted under it" pg_restart_own immediate
kill -CONT "$held"
held=$(fp_reached "$TEST_TMP/wi.log" import.before-merge)
t_ok "the import ran again and stopped before its merge" test -n "$held"
t_ok "PostgreSQL restarted again" pg_restart_own immediate
kill -CONT "$held"
t_ok "the import completes" wait_for 60 "[ \"\$(job_col $IMP state)\" = succeeded ]"
t_is "$(job_col "$IMP" attempts)" 1 "with one attempt: neither restart was counted"
t_is "$(tpsql -c "SELECT string_agg(sku || ':' || price, ' ' ORDER BY sku) FROM products
	WHERE sku LIKE 'PGS-%'")" "PGS-1:1.00 PGS-2:2.00" "its rows are in the catalog"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE event_type = 'import.completed'
	AND payload->>'job_id' = '$IMP'")" 1 "one import.completed event"
stop_worker wi
t_is "$W_STATUS" 0 "the worker stops cleanly"

t_done
