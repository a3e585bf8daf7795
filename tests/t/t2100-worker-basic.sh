#!/bin/sh
# acmectl worker: a burst run with two children, the heartbeat record (and
# health --require-worker, jobs workers), recycling by --max-jobs-per-child
# and --max-memory-per-child, and the hard time limit.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

P=$ACME_REDIS_PREFIX
host=$(uname -n)

# the pid of the child that ran (or runs) job $1, from its Redis hash
runner_pid() { tredis HGET "${P}{default}:job:$1" worker | cut -d: -f2; }

# ---- burst: 20 jobs, 2 children ----
# the first job a child takes holds it at a failpoint until the other child
# has run a job, so both children run jobs whatever the machine's load
ids=
for _ in $(seq 1 20); do ids="$ids $(enqueue noop '{"sleep_ms": 30}')"; done
ACME_FAILPOINTS='job.after-start=1*pause' timeout 120 "$ACMECTL" worker --burst -Q default=2 \
	>"$TEST_TMP/burst.out" 2>"$TEST_TMP/burst.err" &
bpid=$!
held=$(fp_reached "$TEST_TMP/burst.err" job.after-start)
t_like "$held" '^[0-9]+$' "one child holds its first job"
t_ok "the other child runs jobs meanwhile" wait_for 60 \
	"[ \$(tpsql -c \"SELECT count(*) FROM jobs WHERE state = 'succeeded'\") -ge 1 ]"
kill -CONT "$held"
wait "$bpid"
t_is "$?" 0 "burst run exits 0 once the queue is empty"
ERR=$(cat "$TEST_TMP/burst.err")
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempts = 1")" 20 \
	"all 20 jobs succeeded at the first attempt"
pids=$(for id in $ids; do runner_pid "$id"; done | sort -u | wc -l)
t_is "$pids" 2 "both children ran jobs"
t_like "$ERR" 'worker .* started: 2 children' "the log says how many children"
t_like "$ERR" 'worker stopped' "and that it stopped"

# ---- a pool serving two queues takes them in priority order ----
for _ in 1 2 3; do enqueue noop '{}' --queue low >/dev/null; done
for _ in 1 2 3; do enqueue noop '{}' --queue high >/dev/null; done
t_ok "burst run of pool mix:high+low" timeout 60 "$ACMECTL" worker --burst -Q mix:high+low=1
# (a noop takes well under a millisecond: start times may tie, so compare
# the last high start with the first low one)
t_is "$(tpsql -c "SELECT count(*) FILTER (WHERE queue = 'high') || ' ' || count(*) FILTER (WHERE queue = 'low')
	|| ' ' || (max(started_at) FILTER (WHERE queue = 'high') <= min(started_at) FILTER (WHERE queue = 'low'))
	FROM jobs WHERE queue IN ('high', 'low') AND state = 'succeeded'")" \
	"3 3 true" "the first queue's jobs ran first"
t_exit 2 "a pool without queues is a usage error" acmectl worker -Q 'mix:=2'
t_exit 2 "a pool size out of range is a usage error" acmectl worker -Q default=0

# ---- the heartbeat record ----
t_exit 69 "no worker: health --require-worker fails" acmectl health --ready --require-worker
start_worker w1 -Q default=1,import=1 --lease 3s
wpid=$W_PID
key="${P}worker:$host:$wpid"
t_ok "the heartbeat record appears" wait_for 10 "[ \"\$(tredis EXISTS '$key')\" = 1 ]"
ttl=$(tredis TTL "$key")
t_ok "it has a TTL (${ttl}s)" test "$ttl" -gt 0 -a "$ttl" -le 15
t_json "$(tredis GET "$key")" "d['host'] == '$host' and d['pid'] == $wpid and d['version'] and
	[p['name'] for p in d['pools']] == ['default', 'import'] and d['current_jobs'] == [] and
	d['rss_kb'] > 0" "the record has host, pid, version, pools, current_jobs, rss_kb"
t_ok "health --ready --require-worker passes while it runs" acmectl health --ready --require-worker
long=$(enqueue noop '{"sleep_ms": 3600000}')
t_ok "the long job runs" wait_for 10 "[ \"\$(job_col $long state)\" = running ]"
# the record is rewritten every 5 s
t_ok "current_jobs shows it" wait_for 8 \
	"tredis GET '$key' | grep -q '\"job_id\":\"$long\"'"
t_ok "jobs workers -o json" acmectl jobs workers -o json
t_json "$OUT" "len(d['items']) == 1 and d['items'][0]['pid'] == $wpid and d['items'][0]['current_jobs'][0]['job_id'] == '$long'
	and d['items'][0]['children'] == 2 and 0 < d['items'][0]['ttl_s'] <= 15" "jobs workers lists it with its job"
t_ok "jobs workers as a table" acmectl jobs workers
t_like "$OUT" "^$host	$wpid	" "one row per worker"
# the cancel reaches it at its next heartbeat (lease/3)
t_ok "jobs cancel the long job" acmectl jobs cancel "$long"
t_ok "it ends cancelled" wait_for 10 "[ \"\$(job_col $long state)\" = cancelled ]"
stop_worker w1
t_is "$W_STATUS" 0 "SIGTERM: the worker exits 0"
t_is "$(tredis EXISTS "$key")" 0 "a clean stop removes the heartbeat record"
t_ok "jobs workers with none" acmectl jobs workers -o json
t_json "$OUT" "d['items'] == []" "no live worker: an empty list"

# ---- recycling ----
ids=
for _ in $(seq 1 6); do ids="$ids $(enqueue noop)"; done
start_worker w2 -Q default=1 --max-jobs-per-child 2
t_ok "--max-jobs-per-child 2: six jobs done" wait_for 20 \
	"[ \"\$(tpsql -c \"SELECT count(*) FROM jobs WHERE state = 'succeeded' AND id IN ('$(echo $ids | sed "s/ /','/g")')\")\" = 6 ]"
stop_worker w2
pids=$(for id in $ids; do runner_pid "$id"; done)
t_is "$(echo "$pids" | sort -u | wc -l)" 3 "by three children, two jobs each"
t_is "$(echo "$pids" | uniq -c | awk '{print $1}' | sort -u)" 2 "each child ran two jobs in a row"
t_like "$(cat "$TEST_TMP/w2.log")" 'ran 2 jobs; recycling' "the log says why"
t_unlike "$(cat "$TEST_TMP/w2.log")" 'starting another' "recycling is not a crash"

ids=
for _ in $(seq 1 3); do ids="$ids $(enqueue noop)"; done
start_worker w3 -Q default=1 --max-memory-per-child 1
t_ok "--max-memory-per-child 1: three jobs done" wait_for 20 \
	"[ \"\$(tpsql -c \"SELECT count(*) FROM jobs WHERE state = 'succeeded' AND id IN ('$(echo $ids | sed "s/ /','/g")')\")\" = 3 ]"
stop_worker w3
t_is "$(for id in $ids; do runner_pid "$id"; done | sort -u | wc -l)" 3 \
	"a child above the limit is replaced after each job"
t_like "$(cat "$TEST_TMP/w3.log")" 'uses [0-9]+ kB \(limit 1024 kB\); recycling' "the log says why"

# ---- hard time limit ----
slow=$(enqueue noop '{"sleep_ms": 20000}' --max-attempts 2)
start_worker w4 -Q default=1 --time-limit 1s
t_ok "--time-limit 1s: a 20 s job is killed twice and dead" wait_for 20 \
	"[ \"\$(job_col $slow state)\" = dead ]"
t_is "$(job_col "$slow" attempts)" 2 "both attempts were used"
t_like "$(job_col "$slow" error)" 'hard time limit exceeded' "the error says why"
t_like "$(cat "$TEST_TMP/w4.log")" "job $slow passed its hard time limit; killing child" "the log says so"
quick=$(enqueue noop)
t_ok "the worker goes on with a new child" wait_for 10 "[ \"\$(job_col $quick state)\" = succeeded ]"
stop_worker w4
t_is "$W_STATUS" 0 "and stops cleanly"

t_done
