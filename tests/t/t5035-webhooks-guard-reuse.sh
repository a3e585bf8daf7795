#!/bin/sh
# The outgoing-request guard holds on a reused connection: in production, an
# endpoint without --allow-private is refused even when the deliverer holds
# an open keep-alive connection to the same host and port, made for an
# endpoint with --allow-private.
# Regression: the guard ran only when a socket was opened, and libcurl reused
# the allowed endpoint's connection for the guarded one, so its request went
# to the loopback receiver.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

# One transfer at a time (and one pooled connection): the deliverer sends the
# allowed delivery, keeps its connection, then claims the guarded one.
wh_config 'retry_schedule = 1s' 'connect_timeout = 2s' 'timeout = 10s' 'max_in_flight = 1'
start_recv local                  # HTTP/1.1 with keep-alive
P=$RECV_PORT
add_endpoint "http://127.0.0.1:$P/allowed" -e product.created --allow-private
ALLOWED=$WH_ID
add_endpoint "http://127.0.0.1:$P/guarded" -e product.updated
GUARDED=$WH_ID
tpsql -c "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, next_attempt_at)
	VALUES ($ALLOWED, 'evt_a', 'product.created', convert_to('{\"n\": 1}', 'UTF8'), now() - interval '1 second'),
	       ($GUARDED, 'evt_g', 'product.updated', convert_to('{\"n\": 2}', 'UTF8'), now())" >/dev/null
t_ok "a deliverer job" acmectl -q jobs enqueue webhook.deliver
t_ok "a production worker delivers" run_worker --env production
t_is "$(tpsql -c "SELECT status FROM webhook_deliveries WHERE event_id = 'evt_a'")" succeeded \
	"the allowed endpoint got its delivery"
t_is "$(tpsql -c "SELECT status || ' ' || attempts || ' ' || last_error FROM webhook_deliveries WHERE event_id = 'evt_g'")" \
	"failed 1 refused by the outgoing-request guard: 127.0.0.1 is a loopback address; in production webhooks only go to public addresses (allow this endpoint with 'acmectl webhooks edit $GUARDED --allow-private')" \
	"the guarded endpoint is refused although a connection to its address was open"
t_is "$(recv_count local)" 1 "the receiver saw only the allowed endpoint's request"
t_is "$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["path"] for l in open(sys.argv[1])))' "$TEST_TMP/local.log")" \
	"/allowed" "which is the allowed one"
# the situation the test is about did happen: one deliverer sent both, the
# second after the first had its answer
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE type = 'webhook.deliver' AND (result->>'sent')::int = 2")" 1 \
	"one deliverer attempted both"
t_is "$(tpsql -c "SELECT (SELECT started_at + latency_ms * interval '1 millisecond' FROM webhook_attempts a
	JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.event_id = 'evt_a')
	< (SELECT started_at FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
	WHERE d.event_id = 'evt_g')")" t "the allowed request was answered before the guarded one started"

# ---- an allowed endpoint is not hurt: its requests still share connections ---------------------
tpsql -c "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, next_attempt_at)
	SELECT $ALLOWED, 'evt_more' || g, 'product.created', convert_to('{}', 'UTF8'), now()
	FROM generate_series(1, 3) g" >/dev/null
t_ok "a deliverer job" acmectl -q jobs enqueue webhook.deliver
t_ok "a production worker" run_worker --env production
t_is "$(tpsql -c "SELECT count(*) FROM webhook_deliveries WHERE event_id LIKE 'evt_more%' AND status = 'succeeded'")" 3 \
	"the allowed endpoint's deliveries all succeed"

t_done
