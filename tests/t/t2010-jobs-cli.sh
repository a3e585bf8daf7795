#!/bin/sh
# `acmectl jobs` for people and scripts: enqueue options, list filters and
# formats, show (row + live Redis state), stats, retry (including a job Redis
# lost), and the errors and exit codes of bad input.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

K="${ACME_REDIS_PREFIX}{default}:"
pg() { tpsql -c "$1"; }
jget() {
	printf '%s' "$1" | python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print("" if v is None else json.dumps(v) if isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool) else v)' "$2"
}
dq() {
	_t_run acme_queue dequeue "$@"
	TOK=$(jget "$OUT" token)
}

# ---- enqueue: options and bad input ----------------------------------------------------------
t_ok "enqueue with every option" acmectl jobs enqueue noop --id opt1 --queue bulk \
	--max-attempts 7 --payload '{"sleep_ms": 5}' -o json
t_json "$OUT" "d['id'] == 'opt1' and d['queue'] == 'bulk' and d['max_attempts'] == 7 and \
d['payload'] == {'sleep_ms': 5} and d['created'] is True" "enqueue -o json describes the job"
t_is "$(pg "SELECT queue || ' ' || max_attempts || ' ' || state FROM jobs WHERE id = 'opt1'")" \
	"bulk 7 queued" "the row has the queue and attempts"
t_like "$(pg "SELECT created_by FROM jobs WHERE id = 'opt1'")" '^[^@]+@[^@]+$' "created_by is user@host"
t_is "$(tredis LLEN "${ACME_REDIS_PREFIX}{bulk}:ready")" "1" "it waits in its own queue"

t_exit 2 "unknown job type" acmectl jobs enqueue nosuchtype
t_like "$ERR" 'unknown job type "nosuchtype" \(known types: noop' "the error lists the known types"
t_exit 65 "payload that is not JSON" acmectl jobs enqueue noop --payload '{"a":'
t_like "$ERR" "payload: not valid JSON" "the error says the payload is not JSON"
t_exit 65 "payload that is not an object" acmectl jobs enqueue noop --payload '[1, 2]'
t_like "$ERR" "payload: expected a JSON object" "the error says an object is expected"
t_exit 2 "max attempts 0" acmectl jobs enqueue noop --max-attempts 0
t_exit 2 "a bad delay" acmectl jobs enqueue noop --delay soon
t_exit 2 "an id with a space" acmectl jobs enqueue noop --id "a b"
t_like "$ERR" "job id \"a b\": ' ' is not allowed" "the error names the bad character"
t_exit 2 "a queue name with a brace" acmectl jobs enqueue noop --queue 'x{y}'
t_is "$(pg "SELECT count(*) FROM jobs")" "1" "refused enqueues leave no rows"

# ---- list ------------------------------------------------------------------------------------------
acmectl jobs enqueue noop --id l1 >/dev/null
acmectl jobs enqueue noop --id l2 >/dev/null
acmectl jobs enqueue noop --id l3 --delay 1h >/dev/null
dq --lease 30s
acme_queue fail l1 "$TOK" --error "broken: line 1
line 2" --permanent >/dev/null
t_ok "list" acmectl jobs list
t_is "$(printf '%s\n' "$OUT" | head -n 1)" "$(printf 'id\ttype\tqueue\tstate\tattempts\tmax_attempts\tcreated_at\tfinished_at\tcreated_by\terror')" \
	"piped list is tab-separated with a header"
t_is "$(printf '%s\n' "$OUT" | sed 1d | cut -f1 | tr '\n' ' ')" "l3 l2 l1 opt1 " "newest first"
t_like "$OUT" 'broken: line 1\\nline 2' "newlines in errors are escaped in tsv"
t_ok "list --state" acmectl jobs list --state failed -o json
t_json "$OUT" "[j['id'] for j in d['items']] == ['l1'] and d['items'][0]['attempts'] == 1 and d['items'][0]['error'].startswith('broken')" \
	"--state filters; json carries the error"
t_ok "list --queue --limit" acmectl jobs list --queue default --limit 2 -o ndjson
t_is "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" "2" "--limit limits"
t_ok "list --type" acmectl jobs list --type housekeeping -o json
t_json "$OUT" "d == {'items': [], 'page': {'limit': 50, 'next_cursor': None}}" "an empty list is no items and no next page"
t_exit 2 "list --state with a bad state" acmectl jobs list --state sleeping
t_ok "list -o table" acmectl jobs list -o table --state failed
t_like "$OUT" '^ID +TYPE +QUEUE +STATE' "table has an upper-case header"
t_like "$OUT" 'broken: line 1\.\.\.' "tables show the first line of an error"

# ---- show ------------------------------------------------------------------------------------------
t_ok "show -o json" acmectl jobs show l3 -o json
t_json "$OUT" "d['id'] == 'l3' and d['state'] == 'scheduled' and d['live']['state'] == 'scheduled' \
and d['live']['retry_at'] and d['payload'] == {}" "show has the row and the live state"
t_ok "show" acmectl jobs show l1
t_like "$OUT" "$(printf 'state\tfailed')" "show prints field/value rows"
t_like "$OUT" "$(printf 'live.state\tfailed')" "and the live fields"
t_exit 3 "show an unknown job" acmectl jobs show nope
t_like "$ERR" "job nope not found" "the error names the job"
t_exit 2 "show a bad id" acmectl jobs show 'x y'

# ---- stats -------------------------------------------------------------------------------------------
t_ok "stats -o json" acmectl jobs stats -o json
t_json "$OUT" "sorted(q['queue'] for q in d['items']) == ['bulk', 'default'] and \
[q for q in d['items'] if q['queue'] == 'default'][0]['ready'] == 1 and \
[q for q in d['items'] if q['queue'] == 'default'][0]['scheduled'] == 1 and \
[q for q in d['items'] if q['queue'] == 'default'][0]['failed'] == 1" "stats count each queue"
t_ok "stats" acmectl jobs stats --queue default
t_like "$(printf '%s\n' "$OUT" | sed -n 2p)" "^default	false	1	1	0	1	[0-9.]+	" "stats tsv row"

# ---- retry ------------------------------------------------------------------------------------------
t_ok "retry a failed job" acmectl jobs retry l1
t_like "$ERR" "job l1 queued again on default" "retry says so"
t_is "$(pg "SELECT state || ' ' || attempts || ' ' || coalesce(error, '-') FROM jobs WHERE id = 'l1'")" \
	"queued 0 -" "row: queued, attempts and error reset"
t_is "$(tredis HGET "${K}job:l1" state) $(tredis HGET "${K}job:l1" attempts)" "queued 0" "redis: queued, attempts reset"
t_is "$(tredis ZSCORE "${K}dead" l1)" "" "it left the dead set"
t_exit 4 "retry a queued job" acmectl jobs retry l2
t_like "$ERR" "job l2 is queued; there is nothing to retry" "and says why"
t_exit 3 "retry an unknown job" acmectl jobs retry nope

# a job Redis lost (flushed, failed over, evicted): the row brings it back
tredis DEL "${K}job:l2" >/dev/null
tredis LREM "${K}ready" 0 l2 >/dev/null
t_ok "retry a job redis lost" acmectl jobs retry l2
t_is "$(tredis HGET "${K}job:l2" state) $(tredis HGET "${K}job:l2" type)" "queued noop" \
	"it is re-created from its row"
t_is "$(pg "SELECT state || ' ' || (version > 1) FROM jobs WHERE id = 'l2'")" "queued true" "row: queued, newer version"
# enqueue of the same id repairs it too
tredis DEL "${K}job:l2" >/dev/null
tredis LREM "${K}ready" 0 l2 >/dev/null
t_ok "enqueue the id of a lost waiting job" acmectl jobs enqueue noop --id l2
t_is "$(tredis HGET "${K}job:l2" state)" "queued" "enqueue puts it back"
t_is "$(tredis LRANGE "${K}ready" 0 -1 | grep -c '^l2$')" "1" "once"

# a job redis lost can be cancelled from its row
tredis DEL "${ACME_REDIS_PREFIX}{bulk}:job:opt1" >/dev/null
t_ok "cancel a job redis lost" acmectl jobs cancel opt1
t_is "$(pg "SELECT state FROM jobs WHERE id = 'opt1'")" "cancelled" "the row is cancelled"

# ---- purge input ---------------------------------------------------------------------------------------
t_exit 2 "purge needs --older-than or --queue" acmectl jobs purge --yes
t_exit 2 "not both" acmectl jobs purge --older-than 1d --queue default --yes
t_exit 2 "only final states" acmectl jobs purge --older-than 1d --state running --yes
t_exit 4 "purge refuses without --yes when not on a terminal" acmectl jobs purge --older-than 1d
t_like "$ERR" "without --yes" "and says what to do"
t_exit 4 "production always wants --yes" env ACME_ENV=production "$ACMECTL" jobs purge --older-than 1d
t_like "$ERR" "in production without --yes" "and says why"

# ---- the queue driver is a test helper, not part of acmectl (issue 12) ---------------------------------
t_ok "the driver is a test helper" test -x "$ACME_HELPERS/acme-queue"
t_exit 0 "acmectl holds no __queue command" sh -c '! grep -q __queue "$1"' sh "$ACMECTL"
t_exit 2 "and does not run one" acmectl __queue get x
t_ok "help" acmectl help
t_unlike "$OUT" '__queue' "help does not list __queue"
t_ok "completion of commands" acmectl __complete ''
t_unlike "$OUT" '__queue' "completion does not offer __queue"
t_like "$OUT" 'jobs' "but offers jobs"
t_ok "completion of jobs verbs" acmectl __complete jobs ''
t_like "$(printf '%s\n' "$OUT" | tr '\n' ' ')" 'enqueue list show watch cancel retry purge errors stats pause resume workers schedules' \
	"completion offers the verbs"

t_done
