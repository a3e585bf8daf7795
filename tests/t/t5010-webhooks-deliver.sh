#!/bin/sh
# Events from the outbox reach every subscribed endpoint exactly once, signed
# per Standard Webhooks, with the stored body byte for byte, through a real
# worker and a real (independent, Python) receiver; the delivery log shows
# what was sent and answered.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"
T0=$(date +%s)   # before anything is sent

wh_config 'retry_schedule = 1s'

start_recv all
PORT_ALL=$RECV_PORT
start_recv created
PORT_CREATED=$RECV_PORT
start_recv off
PORT_OFF=$RECV_PORT
start_recv imports
PORT_IMPORTS=$RECV_PORT

add_endpoint "http://127.0.0.1:$PORT_ALL/all" -e '*'
ALL=$WH_ID
add_endpoint "http://127.0.0.1:$PORT_CREATED/created" -e product.created -e product.deleted
CREATED=$WH_ID
add_endpoint "http://127.0.0.1:$PORT_OFF/off" -e '*' --disabled
add_endpoint "http://127.0.0.1:$PORT_IMPORTS/imports" -e import.completed -e import.failed
IMPORTS=$WH_ID

# A product change and an import, as their commands write them: the outbox
# row in the change's transaction. (Unicode and escapes in the data check that
# the body goes out exactly as stored.)
E1=$(outbox_event product.created '{"id": 1, "sku": "ÄB-1", "name": "Tea \"green\"", "price": "2.50"}')
E2=$(outbox_event product.updated '{"id": 1, "sku": "ÄB-1", "changes": ["price"]}')
E3=$(outbox_event import.completed '{"job_id": "01J0", "inserted": 3, "updated": 1, "rejected": 0}')
t_ok "the worker delivers" run_worker
t_is "$(tpsql -c 'SELECT count(*) FROM outbox WHERE relayed_at IS NULL')" 0 "the outbox is relayed"

t_is "$(recv_count all)" 3 "the * endpoint got all three events"
t_is "$(recv_count created)" 1 "the product.created endpoint got one"
t_is "$(recv_count off)" 0 "the disabled endpoint got none"
t_is "$(recv_count imports)" 1 "the import endpoint got the import event"
t_is "$(tpsql -c "SELECT string_agg(webhook_id || ':' || event_id || ':' || status, ' ' ORDER BY webhook_id, event_id)
	FROM webhook_deliveries")" \
	"$ALL:evt_$E1:succeeded $ALL:evt_$E2:succeeded $ALL:evt_$E3:succeeded $CREATED:evt_$E1:succeeded $IMPORTS:evt_$E3:succeeded" \
	"one delivery row per subscribed endpoint and event, all succeeded"

# ---- exactly once: relays and dispatches that run again add nothing ---------------
tpsql -c "UPDATE outbox SET relayed_at = NULL" >/dev/null
t_ok "relay everything again (a relay that crashed before marking)" run_worker
t_ok "dispatch an event again under another job id" acmectl jobs enqueue event.dispatch --id again-1 \
	--payload "{\"event_id\": \"evt_$E1\", \"type\": \"product.created\", \"created_at\": \"2026-01-01T00:00:00Z\", \"data\": {}}"
t_ok "and run it" run_worker
t_is "$(tpsql -c 'SELECT count(*) FROM webhook_deliveries')" 5 "still one delivery per endpoint and event"
t_is "$(recv_count all):$(recv_count created):$(recv_count imports)" "3:1:1" "and no request was sent twice"
t_ok "the dispatch job reports what it did" acmectl jobs show again-1 -o json
t_json "$OUT" 'd["state"] == "succeeded" and d["result"]["endpoints"] == 2 and d["result"]["deliveries_created"] == 0' \
	"dispatch result: 2 endpoints subscribed, 0 new deliveries"

# ---- signatures, checked by an independent implementation ---------------------------
t_ok "every request verifies with the endpoint's secret (Python hmac)" \
	python3 "$WHRECV" verify --log "$TEST_TMP/all.log" --secret "$(cat "$TEST_TMP/secret.$ALL")"
t_is "$OUT" 3 "three verified"
t_ok "the product endpoint's request verifies with its own secret" \
	python3 "$WHRECV" verify --log "$TEST_TMP/created.log" --secret "$(cat "$TEST_TMP/secret.$CREATED")"
t_exit 1 "and not with another endpoint's secret" \
	python3 "$WHRECV" verify --log "$TEST_TMP/created.log" --secret "$(cat "$TEST_TMP/secret.$ALL")"

# ---- headers and body ----------------------------------------------------------------
python3 - "$TEST_TMP/all.log" "$TEST_TMP/bodies" <<'EOF'
import base64, json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        r = json.loads(line)
        h = r["headers"]
        out.write("%s %s %s %s %s\n" % (h["webhook-id"], h["content-type"], h["user-agent"].split("/")[0],
                  len(h["webhook-signature"].split()), r["body_b64"]))
EOF
FIRST=$(grep "^evt_$E1 " "$TEST_TMP/bodies")
t_like "$FIRST" "^evt_$E1 application/json acmectl-webhooks 1 " "webhook-id is the event id; content-type, user-agent, one signature"
t_is "$(printf '%s' "$FIRST" | cut -d' ' -f5)" \
	"$(tpsql -c "SELECT encode(body, 'base64') FROM webhook_deliveries WHERE webhook_id = $ALL AND event_id = 'evt_$E1'" | tr -d '\n')" \
	"the body received is the stored body, byte for byte"
BODY=$(printf '%s' "$FIRST" | cut -d' ' -f5 | base64 -d)
t_json "$BODY" "d['id'] == 'evt_$E1' and d['type'] == 'product.created' and d['data']['sku'] == 'ÄB-1' and d['data']['name'] == 'Tea \"green\"' and d['timestamp'].endswith('Z')" \
	"the body: id, type, timestamp and the event's data"
t_is "$(tpsql -c "SELECT count(DISTINCT body) FROM webhook_deliveries WHERE event_id = 'evt_$E1'")" 1 \
	"every endpoint got the same bytes for one event"
TS=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["headers"]["webhook-timestamp"])' "$TEST_TMP/all.log")
NOW=$(date +%s)
# bounded by the clock before the first send and after the receipt, not by
# an elapsed time (a loaded machine may take minutes)
t_ok "webhook-timestamp is the time of sending" test "$T0" -le "$TS" -a "$TS" -le "$NOW"

# ---- the delivery log ----------------------------------------------------------------
t_ok "deliveries" acmectl webhooks deliveries
t_is "$(printf '%s\n' "$OUT" | tail -n +2 | wc -l | tr -d ' ')" 5 "five deliveries listed"
t_like "$OUT" "	evt_$E3	import.completed	succeeded	1	200	" "a row: event, type, status, attempts, code"
t_ok "deliveries of one endpoint, filtered" acmectl webhooks deliveries "$ALL" --status succeeded --event product.updated -o json
t_json "$OUT" "len(d['items']) == 1 and d['items'][0]['event_id'] == 'evt_$E2' and d['items'][0]['last_status_code'] == 200" "filters by endpoint, status and event"
DID=$(tpsql -c "SELECT id FROM webhook_deliveries WHERE webhook_id = $ALL AND event_id = 'evt_$E1'")
t_ok "delivery show" acmectl webhooks delivery show "$DID" -o json
SHOW=$OUT
t_json "$SHOW" "d['status'] == 'succeeded' and d['body']['data']['sku'] == 'ÄB-1' and len(d['attempts_log']) == 1" \
	"delivery show: status, body and one attempt"
t_json "$SHOW" "d['attempts_log'][0]['status_code'] == 200 and d['attempts_log'][0]['remote_addr'] == '127.0.0.1:$PORT_ALL' and d['attempts_log'][0]['request_headers']['webhook-id'] == 'evt_$E1' and d['attempts_log'][0]['request_headers']['webhook-signature'].startswith('v1,') and d['attempts_log'][0]['response_excerpt'].startswith('answer 200') and d['attempts_log'][0]['response_headers']['content-type'] == 'text/plain' and d['attempts_log'][0]['latency_ms'] >= 0" \
	"an attempt: status, latency, remote address, request headers, response headers and excerpt"
t_ok "delivery show as a table" acmectl webhooks delivery show "$DID"
t_like "$OUT" '^attempts_log\.1\.status_code	200$' "the table flattens attempts"
t_like "$OUT" '^attempts_log\.1\.request_headers\.webhook-id	evt_' "and their request headers"

# ---- redelivery keeps webhook-id and body ------------------------------------------------
t_ok "redeliver" acmectl webhooks redeliver "$DID"
NEW=$OUT
t_ok "deliver it" run_worker
t_is "$(recv_count all)" 4 "the endpoint got the redelivery"
t_is "$(tpsql -c "SELECT event_id, redelivery_of, status, body = (SELECT body FROM webhook_deliveries WHERE id = $DID)
	FROM webhook_deliveries WHERE id = $NEW")" "evt_$E1|$DID|succeeded|t" "the redelivery: same event id and body, points at the original"
t_is "$(sed -n 4p "$TEST_TMP/all.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["headers"]["webhook-id"])')" \
	"evt_$E1" "the redelivered request has the same webhook-id"
t_is "$(sed -n 4p "$TEST_TMP/all.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["body_b64"])')" \
	"$(printf '%s' "$FIRST" | cut -d' ' -f5)" "and the same body bytes"
t_ok "redeliver a redelivery" acmectl webhooks redeliver "$NEW"
t_is "$(tpsql -c "SELECT redelivery_of FROM webhook_deliveries WHERE id = $OUT")" "$DID" "it points at the first original"
t_exit 4 "a redelivery still pending cannot be redelivered" acmectl webhooks redeliver "$OUT"
t_ok "disable the endpoint" acmectl webhooks disable "$ALL"
t_exit 4 "redeliver to a disabled endpoint is refused" acmectl webhooks redeliver "$DID"
t_like "$ERR" 'is disabled; enable it first' "and says what to do"
t_is "$(tpsql -c "SELECT status FROM webhook_deliveries WHERE id = (SELECT max(id) FROM webhook_deliveries)")" \
	"cancelled" "disabling cancelled the pending redelivery"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'webhooks redeliver'")" 2 "redeliveries are audited"

# ---- a real product change: one delivery per subscribed endpoint -------------------------
tpsql -c "UPDATE webhooks SET enabled = (id = $CREATED)" >/dev/null
before=$(recv_count created)
t_ok "products create" acmectl products create --sku WH-1 --name "Webhook widget" --price 3.10
t_ok "products update (product.updated: this endpoint is not subscribed)" \
	acmectl products update WH-1 --price 3.20
t_ok "worker" run_worker
t_is "$(($(recv_count created) - before))" 1 "the product.created endpoint got exactly one request"
t_json "$(tail -n 1 "$TEST_TMP/created.log" | python3 -c 'import base64,json,sys; print(base64.b64decode(json.load(sys.stdin)["body_b64"]).decode())')" \
	"d['type'] == 'product.created' and d['data']['sku'] == 'WH-1'" "carrying the new product"
t_is "$(tpsql -c "SELECT count(*) FROM webhook_deliveries d JOIN outbox o ON d.event_id = 'evt_' || o.id
	WHERE o.event_type = 'product.created' AND o.payload->>'sku' = 'WH-1'")" 1 "one delivery row for that event"

# ---- the event comes from the outbox, never from the job's payload ----------------------
# Whoever can write to Redis can put a dispatch job there (acmectl(7)); the
# worker must not sign and send content it did not write itself.
tpsql -c "UPDATE webhooks SET enabled = (id IN ($ALL, $CREATED))" >/dev/null
E4=$(outbox_event product.updated '{"id": 1, "sku": "ÄB-1", "changes": ["name"]}')
tpsql -c "UPDATE outbox SET relayed_at = now() WHERE id = $E4" >/dev/null   # relay it ourselves
t_ok "a Redis-only dispatch of a real event, with forged content" acme_queue enqueue-redis \
	event.dispatch "{\"event_id\": \"evt_$E4\", \"type\": \"product.created\",
	\"created_at\": \"2020-01-01T00:00:00Z\", \"data\": {\"forged\": true}}" --queue webhooks
t_ok "a Redis-only dispatch of an event that does not exist" acme_queue enqueue-redis \
	event.dispatch '{"event_id": "evt_987654321", "type": "product.created",
	"created_at": "2020-01-01T00:00:00Z", "data": {"forged": true}}' --queue webhooks
t_ok "a Redis-only dispatch with a made-up event id" acme_queue enqueue-redis \
	event.dispatch '{"event_id": "forged-1", "type": "product.created",
	"created_at": "2020-01-01T00:00:00Z", "data": {"forged": true}}' --queue webhooks
b_all=$(recv_count all) b_created=$(recv_count created) b_imports=$(recv_count imports)
t_ok "the worker runs them" run_worker
t_is "$(($(recv_count all) - b_all)):$(($(recv_count created) - b_created)):$(($(recv_count imports) - b_imports))" \
	"1:0:0" "one request more, to the * endpoint only: the real event's type is product.updated"
t_is "$(tail -n 1 "$TEST_TMP/all.log" | python3 -c '
import base64, json, sys
r = json.loads(sys.stdin.read()); b = json.loads(base64.b64decode(r["body_b64"]))
print(b["id"], b["type"], "forged" in b["data"], b["data"]["changes"])')" \
	"evt_$E4 product.updated False ['name']" "its body is the outbox row's, not the payload's"
t_is "$(tpsql -c "SELECT count(*) FROM webhook_deliveries WHERE event_id IN ('evt_987654321', 'forged-1')")" 0 \
	"nothing was recorded for the made-up events"
t_like "$(cat "$TEST_TMP/worker.log")" "event evt_987654321 is not in the outbox" \
	"the log says the unknown event is not in the outbox"
t_like "$(cat "$TEST_TMP/worker.log")" "an event of the outbox \\(evt_<number>\\)" \
	"and that a made-up id is not an outbox event id"

t_done
