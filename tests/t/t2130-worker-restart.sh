#!/bin/sh
# Server restarts under a running worker, on private servers (the run's shared
# ones are never restarted): Redis restarted while the worker idles and while
# it works (it reconnects and goes on; the running job completes or is
# retried, never lost), PostgreSQL restarted the same way (the job is
# retried; the jobs table catches up), and the maxmemory-policy warning.
. "$(dirname "$0")/../lib/test-lib.sh"

own_servers restart
. "$TEST_TOP/tests/lib/worker-lib.sh"

P=$ACME_REDIS_PREFIX
runner_pid() { tredis HGET "${P}{default}:job:$1" worker | cut -d: -f2; }
running() { [ "$(job_col "$1" state)" = running ] && [ -n "$(runner_pid "$1")" ]; }

# Restart Redis keeping its data, as a production Redis with persistence
# does: SHUTDOWN SAVE writes the dataset, the new server loads it.
restart_redis() {
	tredis SHUTDOWN SAVE >/dev/null 2>&1
	i=0
	while [ -S "$TEST_REDIS_SOCK" ] && tredis PING >/dev/null 2>&1 && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	sleep "${1:-0.5}"       # down for a while
	redis-server --port 0 --unixsocket "$TEST_REDIS_SOCK" --unixsocketperm 700 \
		--daemonize yes --pidfile "$SRV/redis/redis.pid" --logfile "$SRV/redis/redis.log" \
		--dir "$SRV/redis" --save '' --appendonly no >/dev/null
	wait_for 10 'tredis PING >/dev/null 2>&1'
	cp "$SRV/redis/redis.pid" "$SRV/redis.pid"
}

stop_pg() { pg_stop_own fast; }
start_pg() { pg_start_own; }
restart_pg() { pg_restart_own fast "${1:-0.5}"; }

# ---- maxmemory-policy ----
tredis CONFIG SET maxmemory-policy allkeys-lru >/dev/null
start_worker warn -Q default=1
t_ok "a worker on an allkeys-lru Redis warns at start" wait_for 10 \
	"grep -q 'maxmemory-policy is allkeys-lru, not noeviction' '$TEST_TMP/warn.log'"
stop_worker warn
tredis CONFIG SET maxmemory-policy noeviction >/dev/null
start_worker quiet -Q default=1
# the policy is read when the supervisor connects, before its first heartbeat
# record: once the record is there, a warning would have been logged
t_ok "the worker is up and connected" wait_for 10 \
	"[ -n \"\$(tredis --scan --pattern '${P}worker:*:$W_PID')\" ]"
stop_worker quiet
t_unlike "$(cat "$TEST_TMP/quiet.log")" 'maxmemory-policy' "with noeviction it says nothing"

start_worker w -Q default=2 --lease 2s
t_ok "the worker is up" wait_for 10 "grep -q started '$TEST_TMP/w.log'"
t_ok "a first job runs" wait_for 15 "[ \"\$(job_col $(enqueue noop) state)\" = succeeded ]"

# ---- Redis restarted while the worker idles ----
restart_redis 1
job=$(enqueue noop '{"commit": "after-redis-idle"}')
t_ok "after a Redis restart an idle worker takes new jobs" wait_for 30 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_like "$(cat "$TEST_TMP/w.log")" 'connected again' "the log says it reconnected"

# ---- Redis restarted while the worker works ----
job=$(enqueue noop '{"sleep_ms": 3000, "commit": "redis-busy"}')
t_ok "a long job runs" wait_for 15 "running $job"
restart_redis 1
t_ok "the job completes (or is retried and completes)" wait_for 40 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(commits redis-busy)" 1 "committed once"
att=$(job_col "$job" attempts)
t_ok "in at most two attempts ($att)" test "$att" -le 2
t_is "$(tredis HGET "${P}{default}:job:$job" state)" succeeded "Redis agrees"
job=$(enqueue noop)
t_ok "and the worker goes on consuming" wait_for 20 "[ \"\$(job_col $job state)\" = succeeded ]"

# ---- PostgreSQL restarted while the worker idles ----
restart_pg 1
job=$(enqueue noop '{"commit": "after-pg-idle"}')
t_ok "after a PostgreSQL restart an idle worker takes new jobs" wait_for 30 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(commits after-pg-idle)" 1 "committed once"

# ---- PostgreSQL restarted while the worker works ----
# the job runs 6 s, and what is checked first is that PostgreSQL did go down
# while it ran (a 2 s job used to finish first on a loaded machine)
job=$(enqueue noop '{"sleep_ms": 6000, "commit": "pg-busy"}')
t_ok "a long job runs" wait_for 15 "running $job"
stop_pg
t_is "$(tredis HGET "${P}{default}:job:$job" state)" running "PostgreSQL went down while the job ran"
sleep 1         # down for a while
start_pg
t_ok "the job is retried, not lost, and succeeds" wait_for 40 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_is "$(commits pg-busy)" 1 "committed once"
t_is "$(job_col "$job" attempts)" 1 "the attempt PostgreSQL cut off was given back, not counted"
t_is "$(tredis HGET "${P}{default}:job:$job" state)" succeeded "Redis agrees"

# ---- PostgreSQL down while a job finishes: the row catches up ----
job=$(enqueue noop '{"sleep_ms": 5000}')
t_ok "a job runs" wait_for 15 "running $job"
stop_pg
t_is "$(tredis HGET "${P}{default}:job:$job" state)" running "PostgreSQL went down while the job ran"
t_ok "it succeeds in Redis while PostgreSQL is down" wait_for 20 \
	"[ \"\$(tredis HGET '${P}{default}:job:$job' state)\" = succeeded ]"
sleep 0.5
start_pg
t_ok "the jobs row records it once PostgreSQL is back" wait_for 30 \
	"[ \"\$(job_col $job state)\" = succeeded ]"
t_like "$(cat "$TEST_TMP/w.log")" 'recorded [0-9]+ job state changes? that waited for PostgreSQL' \
	"the log says the waiting change was recorded"

stop_worker w
t_is "$W_STATUS" 0 "the worker stops cleanly after all that"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE state <> 'succeeded'")" 0 "every job succeeded"

t_done
