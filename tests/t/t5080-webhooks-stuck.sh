#!/bin/sh
# Webhook deliveries never stay stuck (issue 10, item 4).
# What broke: a deliverer child killed after a request was answered, before
# the outcome was recorded, left the delivery 'delivering' for good: its claim
# expired but nothing resumed it until some new event happened to start
# another deliverer; and a due delivery whose deliverer job was lost (a
# failed hand-over) was never sent at all. The periodic sweep (the built-in
# webhook-sweep schedule, and housekeeping) now finds both and wakes a
# deliverer, leaving live claims alone.
#
# No sleeps and no signal timing: the child dies at the deliver.after-send
# failpoint, and the claim's expiry (the request timeout plus a minute) is
# reached by moving it into the past rather than by waiting.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

# The claim lasts timeout + 1 min: with 10m it stays live for the whole test
# until the test expires it.
wh_config 'timeout = 10m'

row() {	# event id: status:attempts of its delivery
	tpsql -c "SELECT status || ':' || attempts FROM webhook_deliveries WHERE event_id = '$1'
		AND redelivery_of IS NULL"
}
job_state() { tpsql -c "SELECT state FROM jobs WHERE id = '$1'"; }
job_is() { [ "$(job_state "$1")" = "$2" ]; }	# id state
status_is() {	# status event-id...: each of these deliveries has this status
	_want=$1
	shift
	for _e in "$@"; do
		[ "$(tpsql -c "SELECT status FROM webhook_deliveries WHERE event_id = '$_e'")" = "$_want" ] ||
			return 1
	done
}
webhook_ids() {	# receiver: the webhook-id of each request, in order
	python3 -c 'import json,sys
print(" ".join(json.loads(l)["headers"].get("webhook-id", "-") for l in open(sys.argv[1])))' \
		"$TEST_TMP/$1.log"
}
same_bodies() {	# receiver: every request carried the same body
	python3 -c 'import json,sys
sys.exit(0 if len({json.loads(l)["body_b64"] for l in open(sys.argv[1])}) == 1 else 1)' \
		"$TEST_TMP/$1.log"
}
# A worker process of our own (webhooks.sh's start_worker takes no
# environment): start_bg NAME [env...] -- worker args; pid in $BG_PID.
start_bg() {
	_n=$1
	shift
	_envs=
	while [ "$1" != -- ]; do _envs="$_envs $1"; shift; done
	shift
	# shellcheck disable=SC2086 # the variable assignments are words
	env $_envs "$ACMECTL" worker "$@" >>"$TEST_TMP/$_n.log" 2>&1 &
	BG_PID=$!
	echo "$BG_PID" >>"$TEST_TMP/bg.pids"
}
# No deliverer or sweep is queued, running or due within the hour (so a
# phase's deliverer cannot carry over into the next one; a deliverer that ends
# leaves one for the retry due tomorrow).
quiet() {
	[ "$(tpsql -c "SELECT count(*) FROM jobs WHERE type IN ('webhook.deliver', 'webhook.sweep')
		AND (state IN ('queued', 'running') OR (state IN ('scheduled', 'retrying')
		AND coalesce(scheduled_at, now()) < now() + interval '1 hour'))")" = 0 ]
}
stop_pid() {	# pid: SIGTERM, wait (bounded) for it to end; its exit status in $STOP_STATUS
	kill "$1" 2>/dev/null
	wait_for 60 sh -c "! kill -0 $1"
	wait "$1"
	STOP_STATUS=$?
}

# ---- the built-in schedule -------------------------------------------------------------
t_ok "jobs schedules -o json" acmectl jobs schedules -o json
t_json "$OUT" "[(s['name'], s['schedule'], s['type'], s['queue'], s['origin']) for s in d['items']
	if s['name'] == 'webhook-sweep'] == [('webhook-sweep', 'every 1m', 'webhook.sweep', 'webhooks',
	'built-in')]" "a built-in schedule sweeps the deliveries every minute"
# from here on every second, as a config section of that name replaces it
cat >>"$XDG_CONFIG_HOME/acmectl/config" <<'EOC'
[schedule.webhook-sweep]
every = 1s
type = webhook.sweep
EOC
t_ok "jobs schedules" acmectl jobs schedules -o json
t_json "$OUT" "[s['schedule'] for s in d['items'] if s['name'] == 'webhook-sweep'] == ['every 1s']" \
	"a config section replaces the built-in schedule"

start_recv r1
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e product.updated
WH=$WH_ID

# ---- a deliverer child killed after the answer, before the record -----------------------
E=evt_$(outbox_event product.updated '{"id": 1}')
start_bg w1 ACME_FAILPOINTS=deliver.after-send=1*exit -- --queues webhooks --shutdown-timeout 2s
W1=$BG_PID
t_ok "the deliverer child dies at deliver.after-send" \
	wait_for 60 grep -q 'exited with status 137; starting another' "$TEST_TMP/w1.log"
t_ok "its job is retried in a new child and ends: nothing is left to claim" \
	wait_for 60 job_is "whd-$E" succeeded
t_is "$(tpsql -c "SELECT attempts FROM jobs WHERE id = 'whd-$E'")" 2 "(in two attempts)"
t_is "$(recv_count r1)" 1 "the receiver got the request once"
t_is "$(row "$E")" "delivering:1" "the delivery is left delivering, its claim unexpired"

# A sweep while the claim is live leaves it alone: the request may still be in
# flight, so sending it again now would send it twice.
S1=$("$ACMECTL" -q jobs enqueue webhook.sweep)
t_ok "a sweep runs" wait_for 60 job_is "$S1" succeeded
t_json "$(tpsql -c "SELECT result FROM jobs WHERE id = '$S1'")" \
	"d['recovered'] == 0 and d['due'] == 0 and d['woken'] is False" "it finds nothing to do"
t_is "$(row "$E"):$(recv_count r1)" "delivering:1:1" "a live claim is not sent again"

# The claim runs out (as if the timeout and a minute had passed).
tpsql -c "UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 second'
	WHERE event_id = '$E' AND status = 'delivering'" >/dev/null
start_bg beat -- --beat-only
BEAT=$BG_PID
t_ok "the scheduler's sweep has it sent again, with no new event" \
	wait_for 90 status_is succeeded "$E"
t_is "$(webhook_ids r1)" "$E $E" "the receiver saw it twice under the same webhook-id"
t_ok "with the same body" same_bodies r1
t_is "$(row "$E")" "succeeded:2" "the row ends delivered; the lost attempt counts once"
t_is "$(tpsql -c "SELECT delivered_at IS NOT NULL FROM webhook_deliveries WHERE event_id = '$E'")" t \
	"with its delivery time"
t_is "$(tpsql -c "SELECT string_agg(attempt || ':' || coalesce(status_code, 0), ' ' ORDER BY attempt)
	FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.event_id = '$E'")" \
	"2:200" "the successful attempt is recorded"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE type = 'webhook.sweep' AND id LIKE 'sched-webhook-sweep-%'
	AND (result->>'recovered')::int = 1")" 1 "one sweep recovered it"
t_like "$(cat "$TEST_TMP/w1.log")" "1 deliveries were interrupted" "the worker log says so"
stop_pid "$BEAT"
t_ok "with the scheduler stopped, the deliverer ends" wait_for 60 quiet
stop_pid "$W1"
t_is "$STOP_STATUS" 0 "the worker stops cleanly"

# ---- due deliveries nobody queued a deliverer for ----------------------------------------
# As a dispatch whose wake-up was lost leaves them (pending), and a deliverer
# whose hand-over to the next one failed (retrying, due long ago); a retry due
# tomorrow must wait.
tpsql >/dev/null <<EOS
INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, status, attempts, next_attempt_at)
VALUES ($WH, 'evt_lost_1', 'product.updated', convert_to('{"id":"evt_lost_1"}', 'UTF8'), 'pending', 0, now()),
       ($WH, 'evt_lost_2', 'product.updated', convert_to('{"id":"evt_lost_2"}', 'UTF8'), 'retrying', 1,
        now() - interval '10 minutes'),
       ($WH, 'evt_later', 'product.updated', convert_to('{"id":"evt_later"}', 'UTF8'), 'retrying', 1,
        now() + interval '1 day');
EOS
t_ok "no deliverer is waiting" quiet
: >"$TEST_TMP/r1.log"
start_bg w2 -- --queues webhooks --shutdown-timeout 2s
W2=$BG_PID
start_bg beat -- --beat-only
BEAT=$BG_PID
t_ok "the scheduler's sweep has both sent" wait_for 90 status_is succeeded evt_lost_1 evt_lost_2
t_is "$(webhook_ids r1 | tr ' ' '\n' | sort | tr '\n' ' ')" "evt_lost_1 evt_lost_2 " \
	"the receiver got each once, and not the retry due tomorrow"
t_is "$(row evt_later)" "retrying:1" "which still waits"
t_like "$(tpsql -c "SELECT string_agg(id, ' ') FROM jobs WHERE type = 'webhook.deliver'
	AND id LIKE 'whd-sched-webhook-sweep-%'")" '^whd-sched-webhook-sweep-[0-9]+' \
	"the deliverer was woken by a sweep"
stop_pid "$BEAT"
t_ok "with the scheduler stopped, the deliverer ends" wait_for 60 quiet
stop_pid "$W2"
t_is "$STOP_STATUS" 0 "the worker stops cleanly"

# ---- housekeeping sweeps too -------------------------------------------------------------
tpsql >/dev/null <<EOS
INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, status, attempts, next_attempt_at)
VALUES ($WH, 'evt_lost_3', 'product.updated', convert_to('{"id":"evt_lost_3"}', 'UTF8'), 'pending', 0, now());
EOS
t_ok "no deliverer is waiting" quiet
HK=$("$ACMECTL" -q jobs enqueue housekeeping)
t_ok "housekeeping runs" timeout 60 "$ACMECTL" worker --burst -Q default=1
t_is "$(job_state "$HK")" succeeded "it succeeded"
t_json "$(tpsql -c "SELECT result FROM jobs WHERE id = '$HK'")" \
	"d['webhook_sweep'] == {'recovered': 0, 'given_up': 0, 'due': 1, 'woken': True}" \
	"it found the due delivery and woke a deliverer"
t_is "$(job_state "whd-$HK")" queued "the deliverer waits in the webhooks queue"
t_ok "a webhooks worker" run_worker
t_is "$(row evt_lost_3)" "succeeded:1" "and sends it"
t_like "$(webhook_ids r1)" "evt_lost_3" "the receiver got it"

t_done
