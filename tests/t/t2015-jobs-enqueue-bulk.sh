#!/bin/sh
# `acmectl jobs enqueue --count N` and `--from-ndjson FILE|-` (issue 15): many
# jobs from one process, in batches of 1000 (one INSERT, one pipelined Redis
# round trip each). Every job has its row and waits in Redis; ids print in
# input order; ids already there change nothing; a bad line anywhere names
# file, line and field and enqueues nothing, from a file or from a pipe.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

pg() { tpsql -c "$1"; }
ready() { tredis LLEN "${ACME_REDIS_PREFIX}{$1}:ready"; }

# ---- --count ---------------------------------------------------------------------------------
t_ok "enqueue --count 2500" acmectl jobs enqueue noop --count 2500 --payload '{"n": 1}'
t_is "$(printf '%s\n' "$OUT" | wc -l)" "2500" "one id per job on stdout"
t_is "$(printf '%s\n' "$OUT" | sort -u | wc -l)" "2500" "the ids are distinct"
t_like "$ERR" "^acmectl: enqueued 2500 jobs$" "stderr says how many"
t_is "$(pg "SELECT count(*) FROM jobs WHERE type = 'noop' AND state = 'queued' AND payload = '{\"n\": 1}'")" \
	"2500" "2500 rows, queued, with the payload"
t_is "$(ready default)" "2500" "2500 jobs wait in Redis"
first=$(printf '%s\n' "$OUT" | head -n 1)
t_ok "a job of the batch is whole" acmectl jobs show "$first" -o json
t_json "$OUT" "d['state'] == 'queued' and d['type'] == 'noop' and d['payload'] == {'n': 1}" \
	"show: the job's row and its live state agree"

t_ok "--count with a queue, a delay and -o json" acmectl jobs enqueue noop --count 3 \
	--queue bulkq --delay 1h -o json
t_json "$OUT" "d == {'enqueued': 3, 'existed': 0}" "-o json is one summary document"
t_is "$(pg "SELECT count(*) FROM jobs WHERE queue = 'bulkq' AND state = 'scheduled' AND scheduled_at > now() + interval '50 minutes'")" \
	"3" "delayed jobs are scheduled an hour ahead"

t_exit 2 "--count with --id" acmectl jobs enqueue noop --count 2 --id x1
t_like "$ERR" "--id names one job" "the error says why"
t_exit 2 "--count 0" acmectl jobs enqueue noop --count 0
t_exit 2 "--count with --from-ndjson" acmectl jobs enqueue noop --count 2 --from-ndjson /dev/null
t_exit 2 "no TYPE and no file" acmectl jobs enqueue
t_like "$ERR" "TYPE is missing" "the error names what is missing"

# ---- --from-ndjson: a file -----------------------------------------------------------------------
pg "DELETE FROM jobs" >/dev/null
tredis DEL "${ACME_REDIS_PREFIX}{default}:ready" >/dev/null
cat >"$TEST_TMP/jobs.ndjson" <<'EOF'
{"type": "noop", "id": "nd-1", "payload": {"sleep_ms": 1}}
{"id": "nd-2", "max_attempts": 9}

{"type": "noop", "id": "nd-3", "queue": "other", "delay": "2h"}
{"type": "housekeeping", "id": "nd-4"}
EOF
t_ok "enqueue --from-ndjson FILE noop" acmectl jobs enqueue --from-ndjson "$TEST_TMP/jobs.ndjson" noop
t_is "$OUT" "nd-1
nd-2
nd-3
nd-4" "ids in the file's order; the blank line is no job"
t_is "$(pg "SELECT string_agg(id || ' ' || type || ' ' || queue || ' ' || state || ' ' || max_attempts || ' ' || payload::text, ',' ORDER BY id) FROM jobs")" \
	'nd-1 noop default queued 3 {"sleep_ms": 1},nd-2 noop default queued 9 {},nd-3 noop other scheduled 3 {},nd-4 housekeeping default queued 3 {}' \
	"each line's fields, TYPE where a line has none, the type's defaults elsewhere"

t_ok "the same file again" acmectl jobs enqueue --from-ndjson "$TEST_TMP/jobs.ndjson" noop -o ndjson
t_is "$(printf '%s\n' "$OUT" | python3 -c 'import json, sys; print(" ".join(str(json.loads(l)["created"]) for l in sys.stdin))')" \
	"False False False False" "-o ndjson: one object per job, none created again"
t_like "$ERR" "enqueued 0 jobs; 4 ids existed already" "stderr says none were new"
t_is "$(pg "SELECT count(*) FROM jobs")" "4" "no row was added"
t_is "$(ready default)" "3" "Redis holds each job once"

# ---- --from-ndjson: a pipe, and more lines than a batch ---------------------------------------------
pg "DELETE FROM jobs" >/dev/null
tredis DEL "${ACME_REDIS_PREFIX}{default}:ready" >/dev/null
python3 -c 'import json
for i in range(2345):
    print(json.dumps({"type": "noop", "id": "p-%d" % i, "payload": {"i": i}}))
print(json.dumps({"type": "noop", "id": "p-7"}))' >"$TEST_TMP/many.ndjson"
t_ok "enqueue --from-ndjson - (a pipe), 2346 lines, one id twice" \
	sh -c 'cat "$1" | "$2" jobs enqueue --from-ndjson -' sh "$TEST_TMP/many.ndjson" "$ACMECTL"
t_is "$(printf '%s\n' "$OUT" | wc -l)" "2346" "an id per line"
t_like "$ERR" "enqueued 2345 jobs; 1 ids existed already" "the repeated id is counted once"
t_is "$(pg "SELECT count(*) || ' ' || sum((payload->>'i')::int) FROM jobs")" "2345 2748340" \
	"every row with its own payload"
t_is "$(ready default)" "2345" "every job waits in Redis once"

# ---- bad lines: nothing is enqueued ---------------------------------------------------------------
pg "DELETE FROM jobs" >/dev/null
tredis DEL "${ACME_REDIS_PREFIX}{default}:ready" >/dev/null
bad() {	# name, the bad line, the error pattern
	{ head -n 1500 "$TEST_TMP/many.ndjson"; printf '%s\n' "$2"; } >"$TEST_TMP/bad.ndjson"
	t_exit 65 "bad line: $1" acmectl jobs enqueue --from-ndjson "$TEST_TMP/bad.ndjson"
	t_like "$ERR" "bad.ndjson:1501: $3" "$1: the error names the file, the line and the problem"
	t_like "$ERR" "nothing was enqueued" "$1: and says nothing was enqueued"
}
bad "not JSON" '{"type": "noop",' "not JSON"
bad "an array" '[1]' "a job is a JSON object, not an array"
bad "unknown type" '{"type": "nosuch"}' 'unknown job type "nosuch"'
bad "no type" '{"id": "z"}' "field type: missing"
bad "unknown field" '{"type": "noop", "paylod": {}}' 'unknown field "paylod"'
bad "payload not an object" '{"type": "noop", "payload": 3}' "field payload: a JSON object"
bad "a bad delay" '{"type": "noop", "delay": "soon"}' "field delay"
bad "max_attempts 0" '{"type": "noop", "max_attempts": 0}' "field max_attempts"
bad "an id with a space" '{"type": "noop", "id": "a b"}' "job id \"a b\""
t_is "$(pg "SELECT count(*) FROM jobs")" "0" "no bad file left a row"
t_is "$(ready default)" "0" "no bad file left a job in Redis"
t_exit 65 "a bad line through a pipe" \
	sh -c 'cat "$1" | "$2" jobs enqueue --from-ndjson -' sh "$TEST_TMP/bad.ndjson" "$ACMECTL"
t_like "$ERR" "stdin:1501: " "from a pipe the error names stdin and the line"
t_is "$(pg "SELECT count(*) FROM jobs")" "0" "and nothing was enqueued"
t_exit 3 "a missing file" acmectl jobs enqueue --from-ndjson "$TEST_TMP/nope.ndjson"
t_like "$ERR" "nope.ndjson: No such file" "the error names the file"

# ---- the jobs run -------------------------------------------------------------------------------
t_ok "enqueue 300 more" acmectl jobs enqueue noop --count 300
t_ok "a burst worker runs them all" timeout -k 10 300 "$ACMECTL" worker --burst --queues default
t_is "$(pg "SELECT state || ' ' || count(*) FROM jobs GROUP BY state")" "succeeded 300" \
	"every bulk-enqueued job succeeded"
t_done
