#!/bin/sh
# The TUI's Workers tab in tmux against the test servers and a real worker:
# the live worker (host, pid, pools, the job its child runs, RSS, last
# heartbeat) and the queue sizes above it, refreshed by themselves; Redis
# stopped while it shows them (the data stays, marked stale) and started
# again (fresh data). On private servers: the run's shared ones are never
# stopped.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$(dirname "$0")/../lib/tui-lib.sh"

own_servers tuiworkers
. "$TEST_TOP/tests/lib/worker-lib.sh"

start_redis() {
	redis-server --port 0 --unixsocket "$TEST_REDIS_SOCK" --unixsocketperm 700 \
		--daemonize yes --pidfile "$SRV/redis/redis.pid" --logfile "$SRV/redis/redis.log" \
		--dir "$SRV/redis" --save '' --appendonly no >/dev/null
	wait_for 10 'tredis PING >/dev/null 2>&1'
	cp "$SRV/redis/redis.pid" "$SRV/redis.pid"
}

start_worker w -Q default=2 --lease 5s
wpid=$W_PID
wait_for 30 "acmectl -q jobs workers -o ndjson 2>/dev/null | grep -q '\"pid\": *${wpid}[,}]'" ||
	t_diag "the worker did not publish a heartbeat"
host=$(acmectl -q jobs workers -o ndjson | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["host"])')

tui_start --tab workers
tui_wait "1 live worker" && t_ok "the Workers tab finds the live worker" true || t_ok "worker" false
scr=$(tui_screen)
t_is "$host" "$(hostname)" "jobs workers names this host"
t_like "$scr" "$host +$wpid " "its host and pid"
t_like "$scr" "default=2" "its pool and size"
t_like "$scr" "[0-9.]+[kM] +[0-9]+s ago" "its RSS and last heartbeat"
t_like "$scr" "Queue +Ready +Sched +Running +Dead" "the queue table's header"

# a job running: its child's line, and the queue's running count
long=$(enqueue noop '{"sleep_ms": 60000}')
tui_wait "$long" && t_ok "the child running a job shows it" true || t_ok "current job" false
t_like "$(tui_screen)" "child [0-9]+ \(default\): noop $long on default" "with its pid, pool, type and queue"
tui_wait_re "default +0 +0 +1 " && t_ok "the queue line counts the running job" true ||
	t_ok "running count" false

# waiting jobs: the ready count, and the pause
acmectl -q jobs pause default >/dev/null
for _ in 1 2 3; do enqueue noop '{}' >/dev/null; done
acmectl -q jobs enqueue noop --delay 1h >/dev/null
tui_wait_re "default +3 +1 +1 +0 +PAUSED" && t_ok "the queue sizes follow: 3 ready, 1 scheduled, paused" true ||
	t_ok "queue sizes" false
t_is "$(acmectl -q jobs stats --queue default -o ndjson | python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); print(d["ready"], d["scheduled"])')" "3 1" \
	"the same as jobs stats says"
acmectl -q jobs resume default >/dev/null
tui_wait_re "default +0 +1 +[0-9] +0 +no " && t_ok "resumed: the ready jobs ran" true || t_ok "resumed" false
tui_wait_re "^ *default +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +no +[^ ]+ +[^ ]+ +(0\.[1-9]|[1-9])" 10 &&
	t_ok "the done rate (per second over the last seconds) is above zero" true || t_ok "done rate" false

# 80x24: the worker line still fits
tui_resize 80 24
tui_wait_re "^ *default +[0-9]+ " 5
t_like "$(tui_screen)" "$host +$wpid " "at 80x24 the worker's host and pid are shown"
tui_resize 120 40

# Redis stops: the last data stays, marked stale; it comes back by itself
tredis SHUTDOWN NOSAVE >/dev/null 2>&1
tui_wait "STALE (Redis unreachable" && t_ok "Redis stopped: the tab says its data is stale" true ||
	t_ok "stale" false
scr=$(tui_screen)
t_like "$scr" "redis: reconnecting" "the title line says Redis is reconnecting"
t_like "$scr" "$host +$wpid " "the last data stays on screen"
tui_keys r
tui_wait "refreshing workers" && t_ok "keys still work while Redis is down" true || t_ok "responsive" false
start_redis
tui_wait_gone "STALE" 30 && t_ok "Redis back: fresh data, no longer stale" true || t_ok "recovered" false
tui_wait_re "$host +$wpid " 30 && t_ok "the worker shows again (its next heartbeat)" true ||
	t_ok "worker again" false

# the Jobs tab with PostgreSQL stopped: stale, then fresh when it returns
tui_keys 4
tui_wait "$long" && t_ok "the Jobs tab lists the running job" true || t_ok "jobs tab" false
pg_stop_own fast
tui_wait "STALE (database unreachable" && t_ok "PostgreSQL stopped: the Jobs tab says its data is stale" true ||
	t_ok "jobs stale" false
t_like "$(tui_screen)" "$long" "the last page stays on screen"
pg_start_own
tui_wait_gone "STALE" 30 && t_ok "PostgreSQL back: the Jobs tab is fresh again" true || t_ok "jobs fresh" false
tui_keys 5
tui_wait "live worker"

# the worker stops: it leaves the list
acmectl -q jobs cancel "$long" >/dev/null 2>&1 || true
stop_worker w TERM 60
tui_wait "0 live workers" && t_ok "a stopped worker leaves the list" true || t_ok "worker gone" false
t_like "$(tui_screen)" "no live worker" "and the tab says so"
tui_keys q
tui_wait_exit && t_is "$TUI_EXIT" 0 "q quits with status 0"

t_done
