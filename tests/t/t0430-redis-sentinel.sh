#!/bin/sh
# Redis Sentinel: redis+sentinel:// finds the primary through the first
# sentinel that answers; a failover in the middle of a load of jobs moves the
# worker (supervisor and children) to the new primary without a restart, and
# every job ends once. Servers: a primary, a replica and a sentinel started
# here on free ports of 127.0.0.1.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

sdir=$TEST_TMP/sentinel
mkdir -p "$sdir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=
stop_all() {
	for _p in $pids; do kill "$_p" 2>/dev/null; done
	for _p in $pids; do wait_pid "$_p" 30 || kill -9 "$_p" 2>/dev/null; done
}
_t_cleanup_extra="$_t_cleanup_extra stop_all"

# start NAME PORT ARGS... — a redis-server (or sentinel) on 127.0.0.1:PORT;
# fails when the port was taken meanwhile
start() {
	_n=$1 _port=$2; shift 2
	mkdir -p "$sdir/$_n"
	redis-server "$@" --bind 127.0.0.1 --port "$_port" --daemonize yes \
		--pidfile "$sdir/$_n/pid" --logfile "$sdir/$_n/log" --dir "$sdir/$_n" \
		>/dev/null 2>&1 || return 1
	wait_for 10 "[ -s '$sdir/$_n/pid' ] && redis-cli -p $_port PING >/dev/null 2>&1" || return 1
	pids="$pids $(cat "$sdir/$_n/pid")"
}
up=
for _try in 1 2 3 4 5; do
	p1=$(free_port); p2=$(free_port); ps=$(free_port); dead=$(free_port)
	[ "$(printf '%s\n' "$p1" "$p2" "$ps" "$dead" | sort -u | wc -l)" -eq 4 ] || continue
	start one "$p1" --save '' --appendonly no || continue
	start two "$p2" --save '' --appendonly no --replicaof 127.0.0.1 "$p1" || { stop_all; pids=; continue; }
	cat >"$sdir/sentinel.conf" <<-EOF
	sentinel monitor acme 127.0.0.1 $p1 1
	sentinel down-after-milliseconds acme 2000
	sentinel failover-timeout acme 20000
	EOF
	start sentinel "$ps" "$sdir/sentinel.conf" --sentinel || { stop_all; pids=; continue; }
	up=1
	break
done
[ -n "$up" ] || t_skip_all "could not start a primary, a replica and a sentinel on free ports"
r1() { redis-cli -p "$p1" "$@"; }
r2() { redis-cli -p "$p2" "$@"; }
rs() { redis-cli -p "$ps" "$@"; }

t_ok "the replica follows the primary" \
	wait_for 30 "r2 INFO replication | grep -q 'master_link_status:up'"
t_ok "the sentinel knows the replica" \
	wait_for 30 "rs SENTINEL replicas acme | grep -q '$p2'"

# the first sentinel listed is down: the next one answers
export REDIS_URL="redis+sentinel://127.0.0.1:$dead,127.0.0.1:$ps/acme"
t_ok "commands find the primary through the sentinel" acmectl -q health --ready
id=$(acmectl -q jobs enqueue noop)
t_is "$(r1 EXISTS "${ACME_REDIS_PREFIX}{default}:job:$id")" 1 "a job lands on the primary"

t_exit 69 "a name no sentinel knows" env REDIS_URL="redis+sentinel://127.0.0.1:$ps/nope" \
	"$ACMECTL" jobs stats
t_like "$ERR" "no sentinel named the primary \"nope\".*does not know that name" "says so"
t_exit 69 "no sentinel answers" env REDIS_URL="redis+sentinel://127.0.0.1:$dead/acme" \
	"$ACMECTL" jobs stats
t_like "$ERR" "sentinel 127.0.0.1:$dead: .*refused" "names each sentinel and why"
t_exit 78 "a sentinel URL without the primary's name" env REDIS_URL="redis+sentinel://127.0.0.1:$ps" \
	"$ACMECTL" jobs stats
t_like "$ERR" "name of the primary is missing" "says so"

# ---- a failover under load ----
# jobs that each commit one audit row under their own tag: the effect to
# count. SENTINEL FAILOVER promotes the replica while the old primary still
# takes writes until it is turned into a replica: jobs it handed out in that
# window are handed out again by the new primary, and the fence in
# PostgreSQL must keep their effects to one.
n=1000
for i in $(seq 1 $n); do
	printf '{"type": "noop", "payload": {"commit": "so-%d"}, "max_attempts": 25}\n' "$i"
done >"$TEST_TMP/jobs.ndjson"
acmectl -q jobs enqueue --from-ndjson "$TEST_TMP/jobs.ndjson" >/dev/null
t_is "$?" 0 "enqueue $n jobs"
start_worker w1 -Q default=2
wpid=$W_PID
done_count() { tpsql -c "SELECT count(*) FROM jobs WHERE state = 'succeeded'"; }
t_ok "the worker starts on them" wait_for 60 "[ \$(done_count) -ge 100 ]"
rs SENTINEL FAILOVER acme >/dev/null
t_ok "the sentinel promotes the replica" \
	wait_for 60 "rs SENTINEL get-master-addr-by-name acme | grep -qx '$p2'"
t_ok "which is a primary now" wait_for 30 "r2 ROLE | head -n 1 | grep -qx master"
t_ok "the old primary follows it" wait_for 60 "r1 ROLE | head -n 1 | grep -qx slave"
t_ok "the worker notices" wait_for 30 \
	"grep -Eq 'Server closed the connection|no longer the primary' '$TEST_TMP/w1.log'"
t_ok "and runs every job on the new primary" wait_for 120 "[ \$(done_count) -eq $((n + 1)) ]"
t_ok "without a restart" kill -0 "$wpid"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE state <> 'succeeded'")" 0 "no job failed, died or was lost"
t_is "$(tpsql -c "SELECT count(*) || ' ' || count(DISTINCT target) FROM audit_log
	WHERE command = 'noop commit' AND target LIKE 'so-%'")" "$n $n" \
	"one committed effect per job: none lost, none twice"
again=$(grep -c 'not run again' "$TEST_TMP/w1.log")
t_diag "$again jobs handed out again by the new primary were found done in the jobs table and not run again"
t_ok "the worker's connections moved to the new primary" \
	wait_for 30 "[ \$(r2 CLIENT LIST | grep -c 'cmd=') -ge 3 ]"
id=$(acmectl -q jobs enqueue noop)
t_is "$(r2 EXISTS "${ACME_REDIS_PREFIX}{default}:job:$id")" 1 "new jobs land on the new primary"
t_ok "and run" wait_for 30 "[ \"\$(job_col $id state)\" = succeeded ]"
stop_worker w1
t_is "$W_STATUS" 0 "the worker stops cleanly"

t_done
