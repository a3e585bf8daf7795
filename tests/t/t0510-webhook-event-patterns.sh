#!/bin/sh
# Webhook event names and patterns (issue 11, points 6 and 7): --event takes
# "*", "product.*", "import.*" and exact event names, as the README says; the
# dispatcher honours the patterns; an unknown name or pattern exits 2 listing
# the valid ones, in add, edit and deliveries --event.
# What broke: the README's first webhook example,
# `webhooks add URL --event 'product.*'`, was refused.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

VALID='is not one of \*\|product\.created\|product\.updated\|product\.deleted\|product\.bulk_deleted\|import\.completed\|import\.failed\|product\.\*\|import\.\*$'

# ---- what --event accepts --------------------------------------------------------------
start_recv prod
PORT_PROD=$RECV_PORT
start_recv imp
PORT_IMP=$RECV_PORT
start_recv mixed
PORT_MIXED=$RECV_PORT

t_ok "add --event 'product.*' (the README's example)" \
	acmectl webhooks add "http://127.0.0.1:$PORT_PROD/p" --event 'product.*' -o json
t_json "$OUT" 'd["events"] == ["product.*"]' "the pattern is stored as given"
PROD=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
t_ok "add --event 'import.*'" acmectl webhooks add "http://127.0.0.1:$PORT_IMP/i" -e 'import.*' -o json
IMP=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
t_ok "add a pattern and an exact name together" \
	acmectl webhooks add "http://127.0.0.1:$PORT_MIXED/m" -e 'import.*' -e product.deleted -o json
MIXED=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
t_ok "add --event '*'" acmectl webhooks add https://hooks.example.com/all -e '*' --disabled

for bad in 'webhook.*' 'webhook.test' 'prod*' 'product.' '*.created' 'product.**' 'nosuch.event' 'order.*' ''; do
	t_exit 2 "add --event '$bad' is refused" acmectl webhooks add https://hooks.example.com/x -e "$bad"
	t_like "$ERR" "$VALID" "add --event '$bad': the message lists the valid names and patterns"
done
t_ok "edit --event 'product.*'" acmectl webhooks edit "$MIXED" -e 'product.*' -e 'import.*'
t_is "$(tpsql -c "SELECT array_to_string(events, ',') FROM webhooks WHERE id = $MIXED")" \
	'product.*,import.*' "edit stores the patterns"
t_exit 2 "edit --event 'nope.*' is refused" acmectl webhooks edit "$MIXED" -e 'nope.*'
t_like "$ERR" "$VALID" "edit: the message lists them too"
t_is "$(tpsql -c "SELECT count(*) FROM webhooks")" 4 "no refused add left an endpoint"

t_exit 2 "deliveries --event with an unknown name is refused" acmectl webhooks deliveries --event product.create
t_like "$ERR" 'product\.created' "deliveries --event: the message lists the event names"
t_ok "deliveries --event takes an exact name" acmectl webhooks deliveries --event product.created
t_ok "deliveries --event takes webhook.test" acmectl webhooks deliveries --event webhook.test

# ---- the dispatcher honours the patterns ------------------------------------------------
tpsql -c "UPDATE webhooks SET events = '{import.*,product.deleted}' WHERE id = $MIXED"
E1=$(outbox_event product.created '{"id": 1, "sku": "A-1"}')
E2=$(outbox_event product.bulk_deleted '{"count": 2}')
E3=$(outbox_event product.deleted '{"id": 1, "sku": "A-1"}')
E4=$(outbox_event import.completed '{"job_id": "01J0", "inserted": 3}')
t_ok "the worker dispatches and delivers" run_worker
dl() { tpsql -c "SELECT coalesce(string_agg(event_type, ',' ORDER BY event_type), '') FROM webhook_deliveries WHERE webhook_id = $1"; }
t_is "$(dl "$PROD")" "product.bulk_deleted,product.created,product.deleted" \
	"product.* gets every product event and no import event"
t_is "$(dl "$IMP")" "import.completed" "import.* gets the import event only"
t_is "$(dl "$MIXED")" "import.completed,product.deleted" "a pattern and an exact name together"
t_is "$(recv_count prod) $(recv_count imp) $(recv_count mixed)" "3 1 2" "and the receivers got them"
: "$E1$E2$E3$E4"

t_done
