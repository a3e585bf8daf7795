#!/bin/sh
# The outgoing-request guard at connect time: in production a worker refuses
# to connect to loopback, private, link-local, CGNAT and unspecified
# addresses, IPv4-mapped forms included, and to names that resolve to them;
# nothing is resolved or decided before the socket is opened, so DNS
# rebinding has no earlier check to slip past. An endpoint with
# --allow-private, or allow_private in the config, goes through. The
# endpoints are added in the test environment, where add does not check, to
# reach the connect-time check.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

wh_config 'retry_schedule = 1s' 'connect_timeout = 1s' 'timeout = 2s'
start_recv local
P=$RECV_PORT

add_endpoint "http://127.0.0.1:$P/v4" -e '*'
V4=$WH_ID
add_endpoint "http://[::ffff:127.0.0.1]:$P/mapped" -e '*'
MAPPED=$WH_ID
add_endpoint "http://localhost:$P/name" -e '*'
NAME=$WH_ID
add_endpoint "http://10.0.0.1:$P/private" -e '*'
PRIVATE=$WH_ID
add_endpoint "http://169.254.169.254/latest/meta-data/" -e '*'
METADATA=$WH_ID
add_endpoint "http://0x7f000001:$P/hex" -e '*'
HEX=$WH_ID
add_endpoint "http://[::1]:$P/v6" -e '*'
V6=$WH_ID
add_endpoint "http://127.0.0.1:$P/allowed" -e '*' --allow-private
ALLOWED=$WH_ID

E=$(outbox_event product.created '{"id": 1}')
t_ok "a production worker" run_worker --env production
t_is "$(recv_count local)" 1 "only the endpoint with --allow-private reached the receiver"
t_is "$(delivery_status "$ALLOWED" "evt_$E")" succeeded "--allow-private: delivered"

refused() {	# id address class desc
	t_is "$(tpsql -c "SELECT status || ' ' || attempts || ' ' || last_error FROM webhook_deliveries WHERE webhook_id = $1")" \
		"failed 1 refused by the outgoing-request guard: $2 is a $3 address; in production webhooks only go to public addresses (allow this endpoint with 'acmectl webhooks edit $1 --allow-private')" \
		"$4"
}
refused "$V4" 127.0.0.1 loopback "127.0.0.1 is refused at once, not retried"
refused "$MAPPED" ::ffff:127.0.0.1 loopback "::ffff:127.0.0.1 is refused as loopback"
t_like "$(tpsql -c "SELECT last_error FROM webhook_deliveries WHERE webhook_id = $NAME")" \
	'^refused by the outgoing-request guard: (127\.0\.0\.1|::1) is a loopback address' \
	"a name that resolves to loopback (localhost) is refused when it connects"
refused "$PRIVATE" 10.0.0.1 private "10.0.0.1 is refused"
refused "$METADATA" 169.254.169.254 link-local "169.254.169.254 (cloud metadata) is refused"
refused "$HEX" 127.0.0.1 loopback "0x7f000001 is 127.0.0.1 and refused"
refused "$V6" ::1 loopback "::1 is refused"
t_is "$(tpsql -c "SELECT remote_addr FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
	WHERE d.webhook_id = $V4")" "127.0.0.1:$P" "the attempt logs the refused address"
t_is "$(tpsql -c "SELECT count(*) FROM webhooks WHERE enabled")" 8 "a refusal does not disable an endpoint by itself"

# ---- allow_private in the config lifts it for all ---------------------------------------
wh_config 'retry_schedule = 1s' 'connect_timeout = 1s' 'timeout = 2s' 'allow_private = true'
tpsql -c "UPDATE webhooks SET enabled = (id IN ($V4, $MAPPED, $NAME, $HEX))" >/dev/null
E=$(outbox_event product.updated '{"id": 1}')
t_ok "a production worker with allow_private" run_worker --env production
t_is "$(tpsql -c "SELECT string_agg(status, ',') FROM webhook_deliveries WHERE event_id = 'evt_$E'")" \
	"succeeded,succeeded,succeeded,succeeded" "every loopback endpoint got it"
t_is "$(recv_count local)" 5 "the receiver saw them"

# ---- outside production there is no guard ---------------------------------------------------
wh_config 'retry_schedule = 1s' 'connect_timeout = 1s' 'timeout = 2s'
E=$(outbox_event product.deleted '{"id": 1}')
t_ok "a test-environment worker" run_worker
t_is "$(tpsql -c "SELECT string_agg(status, ',') FROM webhook_deliveries WHERE event_id = 'evt_$E'")" \
	"succeeded,succeeded,succeeded,succeeded" "the test environment does not guard"

t_done
