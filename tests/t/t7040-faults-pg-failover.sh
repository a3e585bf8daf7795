#!/bin/sh
# PostgreSQL failover under load (issue 16, part 4): a primary and a
# streaming standby made here (pg_basebackup -R; synchronous replication, so
# a commit the primary acknowledged is on the standby), and acmectl pointed at
# both with a multi-host DATABASE_URL and target_session_attrs=read-write.
# A worker runs a steady load of noop jobs that each commit one audit row
# together with their success, and imports; once a third of the jobs are
# done, the primary is stopped in immediate mode and the standby promoted.
# Asserted: every job reaches succeeded, its row committed exactly once (one
# audit row per job: none lost, none run twice); each import either completed
# once or failed cleanly with nothing half-applied; the same worker process
# reconnects to the new primary without a restart; commands given the same
# URL find the new primary by themselves.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers                    # the run's Redis, under this file's prefix
. "$TEST_TOP/tests/lib/worker-lib.sh"

SRV="sh $TEST_TOP/tests/lib/servers.sh"
PRI=$TEST_TMP/pri
STB=$TEST_TMP/stb
stop_pair() { $SRV pg-stop "$PRI" immediate; $SRV pg-stop "$STB" immediate; }
_t_cleanup_extra="$_t_cleanup_extra stop_pair"
N=300                           # noop jobs

t_ok "a primary on 127.0.0.1" $SRV pg-tcp-start "$PRI" -c synchronous_commit=on
P1=$(cat "$PRI/port")
# psql on either server (over its unix socket): on PORT DIR
on() { _on_d=$1; shift; "$TEST_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$_on_d" -p "$(cat "$_on_d/port")" -U acme -d acme "$@"; }
"$TEST_PG_BIN/psql" -X -q -h "$PRI" -p "$P1" -U acme -d postgres -c 'CREATE DATABASE acme' >/dev/null
t_ok "a streaming standby of it (pg_basebackup -R)" $SRV pg-standby-start "$STB" "$PRI"
P2=$(cat "$STB/port")
# synchronous once the standby streams (before, a commit would wait for it)
on "$PRI" -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c 'SELECT pg_reload_conf()' >/dev/null
t_ok "the standby streams, synchronously" wait_for 30 \
	"[ \"\$(on $PRI -c \"SELECT sync_state FROM pg_stat_replication\")\" = sync ]"
t_is "$(on "$STB" -c 'SELECT pg_is_in_recovery()')" t "the standby is in recovery"

export DATABASE_URL="postgresql://acme@127.0.0.1:$P1,127.0.0.1:$P2/acme?target_session_attrs=read-write&connect_timeout=2"
t_ok "migrate up through the multi-host URL" acmectl -q migrate up
t_ok "the primary has the schema" on "$PRI" -c 'SELECT 1 FROM acmectl_migrations LIMIT 1'

# ---- load: N noop jobs, each committing one audit row under its own tag ----
i=0
while [ $i -lt $N ]; do
	i=$((i + 1))
	printf '{"id": "fo-%d", "payload": {"commit": "fo-%d", "sleep_ms": 20}, "max_attempts": 25}\n' $i $i
done >"$TEST_TMP/jobs.ndjson"
t_ok "the jobs are enqueued" acmectl -q jobs enqueue --from-ndjson "$TEST_TMP/jobs.ndjson" noop
csv() {	# FILE PREFIX ROWS
	echo 'sku,name,description,active,price' >"$1"
	_r=0
	while [ $_r -lt "$3" ]; do _r=$((_r + 1)); echo "$2-$_r,Item $_r,,true,1.00"; done >>"$1"
}
csv "$TEST_TMP/before.csv" IMPA 2000
csv "$TEST_TMP/during.csv" IMPB 2000
t_ok "an import is queued before the failover" acmectl -q import "$TEST_TMP/before.csv"
imp1=$OUT

# the first import to finish stops with its transaction complete and COMMIT
# not sent, so the failover catches it in flight
export ACME_FAILPOINTS='import.before-commit=1*pause'
start_worker w -Q default=2,import=1 --lease 10s
unset ACME_FAILPOINTS
wpid=$W_PID
fppid=$(fp_reached "$TEST_TMP/w.log" import.before-commit)
t_ok "the first import holds its whole transaction, COMMIT not sent" test -n "$fppid"
t_is "$(on "$PRI" -c "SELECT count(*) FROM products WHERE sku LIKE 'IMPA-%'")" 0 \
	"none of its products is visible yet"
done_jobs() { on "$1" -c "SELECT count(*) FROM jobs WHERE type = 'noop' AND state = 'succeeded'" 2>/dev/null; }
t_ok "a third of the jobs are done" wait_for 60 "[ \"\$(done_jobs $PRI)\" -ge $((N / 3)) ]"
# the second import is queued and, with luck, running when the primary goes
acmectl -q import "$TEST_TMP/during.csv" >"$TEST_TMP/imp2.out" 2>"$TEST_TMP/imp2.err"
imp2_rc=$?
imp2=$(cat "$TEST_TMP/imp2.out")
t_is "$imp2_rc" 0 "the second import is queued"

# ---- failover ----
before=$(done_jobs "$PRI")
t_ok "the primary is stopped (immediate)" $SRV pg-stop "$PRI" immediate
t_ok "the standby is promoted" $SRV pg-promote "$STB"
t_is "$(on "$STB" -c 'SELECT pg_is_in_recovery()')" f "the standby is the primary now"
[ -z "$fppid" ] || kill -CONT "$fppid"     # the import sends its COMMIT to a server that is gone
t_diag "failed over with $before of $N jobs done"

t_ok "every job succeeds on the new primary" wait_for 90 "[ \"\$(done_jobs $STB)\" -eq $N ]"
t_is "$(on "$STB" -c "SELECT count(*), count(DISTINCT target) FROM audit_log WHERE command = 'noop commit' AND target LIKE 'fo-%'")" \
	"$N|$N" "one committed execution per job: none lost, none run twice"
t_is "$(on "$STB" -c "SELECT count(*) FROM jobs WHERE type = 'noop' AND state <> 'succeeded'")" 0 \
	"no job left behind or dead"
t_ok "the worker that started before the failover is still running" _t_alive "$wpid"
t_is "$(worker_pid w)" "$wpid" "no restart"

# ---- imports: completed once, or failed cleanly ----
t_ok "both imports reach a final state" wait_for 90 \
	"[ \"\$(on $STB -c \"SELECT count(*) FROM jobs WHERE id IN ('$imp1', '$imp2') AND state IN ('succeeded', 'dead', 'failed', 'cancelled')\")\" = 2 ]"
for pair in "$imp1 IMPA" "$imp2 IMPB"; do
	id=${pair% *}; pfx=${pair#* }
	st=$(on "$STB" -c "SELECT state FROM jobs WHERE id = '$id'")
	n=$(on "$STB" -c "SELECT count(*) FROM products WHERE sku LIKE '$pfx-%'")
	if [ "$st" = succeeded ]; then
		t_is "$n" 2000 "import $pfx succeeded: all of its 2000 products"
	else
		t_is "$n" 0 "import $pfx ended $st: none of its products"
	fi
	t_is "$(on "$STB" -c "SELECT count(*) FROM products WHERE sku LIKE '$pfx-%' GROUP BY sku HAVING count(*) > 1")" "" \
		"import $pfx: no product twice"
done

t_is "$(on "$STB" -c "SELECT state FROM jobs WHERE id = '$imp1'")" succeeded \
	"the import caught in flight succeeded on the new primary"
t_like "$(cat "$TEST_TMP/w.log")" "job $imp1 released: PostgreSQL is unavailable" \
	"its first run's COMMIT was lost with the old primary, and the job was given back"
t_is "$(on "$STB" -c "SELECT attempts FROM jobs WHERE id = '$imp1'")" 1 \
	"without counting the attempt the failover cut off"
t_is "$(on "$STB" -c "SELECT count(*) FROM outbox WHERE event_type = 'import.completed'")" \
	"$(on "$STB" -c "SELECT count(*) FROM jobs WHERE id IN ('$imp1', '$imp2') AND state = 'succeeded'")" \
	"one import.completed event per import that succeeded"

# ---- the same worker serves new work; commands find the new primary ----
after=$(enqueue noop '{"commit": "after-failover"}')
t_ok "a job enqueued after the failover runs" wait_for 60 \
	"[ \"\$(on $STB -c \"SELECT state FROM jobs WHERE id = '$after'\")\" = succeeded ]"
t_ok "health --ready through the multi-host URL" acmectl health --ready
stop_worker w
t_is "$W_STATUS" 0 "the worker stops cleanly"
t_diag "$(grep -c . "$TEST_TMP/w.log") worker log lines; the PostgreSQL ones:" \
	"$(grep -i -E 'postgres' "$TEST_TMP/w.log" | head -n 20)"

# ---- with no primary at all, a clear error ----
$SRV pg-stop "$STB" fast
t_exit 69 "with neither server up: exit 69" acmectl config check --connect
t_like "$ERR" "no server in DATABASE_URL could be used: 127.0.0.1:$P1: .*; 127.0.0.1:$P2: " \
	"the error names each server and its reason"

t_done
