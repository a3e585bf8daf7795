#!/bin/sh
# The scheduler: two `worker --beat-only` over many ticks of an `every = 1s`
# schedule enqueue each tick exactly once with no tick missing, also across a
# leader handover when the leader is killed; `jobs schedules` lists the
# schedules with their next run; bad schedules are configuration errors.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

P=$ACME_REDIS_PREFIX
mkdir -p "$XDG_CONFIG_HOME/acmectl"
cat >"$XDG_CONFIG_HOME/acmectl/config" <<'EOC'
[schedule.tick]
every = 1s
type = noop
payload = {"sleep_ms": 1}

[schedule.nightly]
cron = 30 2 * * *
type = noop
queue = import
max_attempts = 5
EOC

# ---- jobs schedules ----
t_ok "jobs schedules -o json" acmectl jobs schedules -o json
t_json "$OUT" "[s['name'] for s in d['items']] == ['tick', 'nightly', 'housekeeping', 'webhook-sweep']" \
	"the config's schedules, then the built-in housekeeping and webhook sweep"
t_json "$OUT" "d['items'][1]['schedule'] == 'cron 30 2 * * *' and d['items'][1]['queue'] == 'import' and
	d['items'][1]['max_attempts'] == 5 and d['items'][1]['next_run'].endswith('T02:30:00.000Z')" \
	"a cron schedule with its next run"
t_json "$OUT" "d['items'][2]['schedule'] == 'every 1h' and d['items'][2]['type'] == 'housekeeping' and
	d['items'][2]['origin'] == 'built-in' and d['items'][2]['next_run'].endswith(':00:00.000Z')" \
	"housekeeping runs hourly"
t_ok "jobs schedules as a table" acmectl jobs schedules
t_like "$OUT" '^tick	every 1s	noop	default	' "one row per schedule"

# ---- two schedulers ----
start_worker b1 --beat-only
b1=$W_PID
start_worker b2 --beat-only
b2=$W_PID
ticks() { tpsql -c "SELECT count(*) FROM jobs WHERE id LIKE 'sched-tick-%'"; }
t_ok "ticks are enqueued" wait_for 15 "[ \$(ticks) -ge 6 ]"
leader=$(tredis GET "${P}scheduler:leader" | cut -d: -f2)
t_ok "one of them leads ($leader)" test "$leader" = "$b1" -o "$leader" = "$b2"
if [ "$leader" = "$b1" ]; then other=b2; else other=b1; fi
before=$(ticks)
kill -KILL "$leader"
wait "$leader" 2>/dev/null
# the lease (10 s) runs out, then the other takes over and fires what was missed
t_ok "the other scheduler takes over" wait_for 25 \
	"grep -q 'this worker is the leader' '$TEST_TMP/$other.log'"
t_ok "and goes on firing" wait_for 10 "[ \$(ticks) -ge $((before + 14)) ]"
stop_worker "$other"
t_is "$W_STATUS" 0 "it stops cleanly"

tpsql -c "SELECT substring(id FROM 'sched-tick-([0-9]+)')::bigint FROM jobs
	WHERE id LIKE 'sched-tick-%' ORDER BY 1" >"$TEST_TMP/ticks"
n=$(wc -l <"$TEST_TMP/ticks")
first=$(head -n 1 "$TEST_TMP/ticks")
last=$(tail -n 1 "$TEST_TMP/ticks")
t_diag "$n ticks from $first to $last"
t_ok "many ticks ($n)" test "$n" -ge 20
t_is "$((last - first + 1))" "$n" "no tick is missing, across the handover too"
t_is "$(sort -u "$TEST_TMP/ticks" | wc -l)" "$n" "no tick twice"
fired=$(cat "$TEST_TMP/b1.log" "$TEST_TMP/b2.log" | grep -c 'scheduler: tick fired')
t_is "$fired" "$n" "each tick was fired by one scheduler only"
t_is "$(tpsql -c "SELECT count(DISTINCT payload::text) || ' ' || min(queue) || ' ' || min(max_attempts)
	FROM jobs WHERE id LIKE 'sched-tick-%'")" '1 default 3' "with the schedule's payload, queue and attempts"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE id LIKE 'sched-nightly-%' OR id LIKE 'sched-housekeeping-%'")" \
	0 "schedules that were never due did not fire"
t_is "$(tredis EXISTS "${P}scheduler:leader")" 0 "a scheduler that stops gives the lease up"

# ---- restarting: no replay of what was fired, the gap since is filled ----
before=$(ticks)
sleep 2
start_worker b3 --beat-only
t_ok "a new scheduler fires again" wait_for 15 "[ \$(ticks) -ge $((before + 5)) ]"
stop_worker b3
tpsql -c "SELECT substring(id FROM 'sched-tick-([0-9]+)')::bigint FROM jobs
	WHERE id LIKE 'sched-tick-%' ORDER BY 1" >"$TEST_TMP/ticks"
n=$(wc -l <"$TEST_TMP/ticks")
t_is "$(($(tail -n 1 "$TEST_TMP/ticks") - $(head -n 1 "$TEST_TMP/ticks") + 1))" "$n" \
	"the ticks missed while no scheduler ran (under a minute) were fired, none twice"

# ---- the scheduler beside children: its jobs run ----
start_worker both -Q default=1 --beat
t_ok "--beat: scheduled jobs run in the same worker" wait_for 15 \
	"[ \$(tpsql -c \"SELECT count(*) FROM jobs WHERE id LIKE 'sched-tick-%' AND state = 'succeeded'\") -ge 2 ]"
stop_worker both

# ---- the housekeeping schedule, here every second ----
cat >"$XDG_CONFIG_HOME/acmectl/config" <<'EOC'
[schedule.housekeeping]
every = 1s
type = housekeeping
payload = {"jobs_older_than": "1h"}
EOC
tpsql -c "INSERT INTO jobs (id, type, state, finished_at) VALUES
	('hk-old', 'noop', 'succeeded', now() - interval '2 hours')"
t_ok "jobs schedules: the config's housekeeping replaces the built-in" acmectl jobs schedules -o json
t_json "$OUT" "[s['name'] for s in d['items']] == ['housekeeping', 'webhook-sweep'] and d['items'][0]['schedule'] == 'every 1s'
	and not d['items'][0]['origin'] == 'built-in'" "one housekeeping schedule, from the file (and the built-in webhook sweep)"
start_worker hk -Q default=1 --beat
t_ok "the scheduled housekeeping runs and purges" wait_for 20 \
	"[ -z \"\$(job_col hk-old id)\" ]"
stop_worker hk
t_ok "its jobs succeeded" test "$(tpsql -c "SELECT count(*) FROM jobs WHERE id LIKE 'sched-housekeeping-%'
	AND state = 'succeeded'")" -ge 1

# ---- bad schedules ----
cat >"$XDG_CONFIG_HOME/acmectl/config" <<'EOC'
[schedule.bad]
cron = 61 * * * *
type = noop
EOC
t_exit 78 "a bad cron expression is a configuration error" acmectl worker --beat-only --burst
t_like "$ERR" 'config:2: \[schedule.bad\]' "naming the file, line and section"
t_exit 78 "jobs schedules says the same" acmectl jobs schedules
cat >"$XDG_CONFIG_HOME/acmectl/config" <<'EOC'
[schedule.bad]
every = 10m
type = no-such-type
EOC
t_exit 78 "an unknown job type is a configuration error" acmectl jobs schedules
t_like "$ERR" 'unknown job type "no-such-type"' "naming the type"

t_done
