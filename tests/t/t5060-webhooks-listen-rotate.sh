#!/bin/sh
# `webhooks listen` verifies what an independent (Python) sender signs with
# the specification's test secret, refuses tampered and stale requests, and
# answers as told (--fail-first, --count); it refuses malformed HTTP. Secret
# rotation: during the grace period every request carries both signatures;
# after it, only the new one.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

VEC=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
printf '%s\n' "$VEC" >"$TEST_TMP/vec"

# ---- listen verifies an independent sender -----------------------------------------------
start_listen l1 --secret-file "$TEST_TMP/vec"
URL="http://127.0.0.1:$RECV_PORT/in"
t_ok "a correctly signed request" python3 "$WHRECV" send --url "$URL" --secret "$VEC" --id msg_1 --body '{"a": 1}'
t_is "$OUT" 200 "is answered 200"
t_ok "a tampered body" python3 "$WHRECV" send --url "$URL" --secret "$VEC" --id msg_2 --body '{"a": 2}' --sign-body '{"a": 1}'
t_is "$OUT" 401 "is answered 401"
t_ok "a stale timestamp" python3 "$WHRECV" send --url "$URL" --secret "$VEC" --id msg_3 --body '{}' --timestamp 1614265330
t_is "$OUT" 401 "is answered 401"
OTHER=whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
t_ok "another secret" python3 "$WHRECV" send --url "$URL" --secret "$OTHER" --id msg_4 --body '{}'
t_is "$OUT" 401 "is answered 401"
# the listener may print a request's line after its answer is out: wait for
# the four lines rather than for a while
logged() { [ "$(recv_count "$1")" -ge "$2" ]; }
t_ok "listen printed a line for each of the four requests" wait_for 30 logged l1 4
t_json "$(sed -n 1p "$TEST_TMP/l1.log")" "d['signature'] == 'verified' and d['webhook_id'] == 'msg_1' and d['answered'] == 200 and d['body'] == {'a': 1} and d['method'] == 'POST' and d['path'] == '/in'" \
	"NDJSON: the verified request"
t_json "$(sed -n 2p "$TEST_TMP/l1.log")" "d['signature'] == 'invalid' and d['signature_error'].startswith('no signature matches')" "the tampered one"
t_json "$(sed -n 3p "$TEST_TMP/l1.log")" "d['signature'] == 'invalid' and 'old' in d['signature_error']" "the stale one"

# ---- malformed HTTP ----------------------------------------------------------------------
raw() {	# port request-bytes (printf format): the status line of the answer
	python3 -c 'import socket,sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
print(s.recv(4096).decode("latin-1").split("\r\n")[0])' "$1" "$2"
}
t_is "$(raw "$RECV_PORT" 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')" \
	"HTTP/1.1 501 Not Implemented" "chunked bodies are refused (501)"
t_is "$(raw "$RECV_PORT" 'POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n')" \
	"HTTP/1.1 413 Content Too Large" "bodies over 1 MiB are refused (413)"
t_is "$(raw "$RECV_PORT" 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab')" \
	"HTTP/1.1 400 Bad Request" "conflicting lengths are refused (400)"
t_is "$(raw "$RECV_PORT" 'GARBAGE\r\n\r\n')" "HTTP/1.1 400 Bad Request" "garbage is refused (400)"
t_is "$(raw "$RECV_PORT" 'POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n')" \
	"HTTP/1.1 401 Unauthorized" "a request without a signature gets 401 (and a pipelined one after it is fine)"

t_exit 69 "a port in use" acmectl webhooks listen --port "$RECV_PORT"
t_like "$ERR" "cannot listen on 127.0.0.1 port $RECV_PORT" "names the address"

# ---- answers as told ---------------------------------------------------------------------
acmectl webhooks listen --port 0 --port-file "$TEST_TMP/l2.port" --fail-first 2 --count 3 \
	>"$TEST_TMP/l2.out" 2>"$TEST_TMP/l2.err" &
L2=$!
_wait_port "$TEST_TMP/l2.port"
for n in 1 2 3; do
	python3 "$WHRECV" send --url "http://127.0.0.1:$RECV_PORT/" --secret "$VEC" --id "m$n" --body '{}' >>"$TEST_TMP/l2.codes"
done
t_is "$(tr '\n' ' ' <"$TEST_TMP/l2.codes")" "500 500 200 " "--fail-first 2: two 500s, then 200"
t_ok "--count 3 stops after three requests" wait_for 5 sh -c "! kill -0 $L2"
t_like "$(cat "$TEST_TMP/l2.out")" " POST / m1 - signature unchecked -> 500" "the text output: a line per request"
t_like "$(cat "$TEST_TMP/l2.err")" 'received 3 requests' "and a summary"

# ---- rotation: both signatures during the grace period ----------------------------------------
wh_config 'retry_schedule = none'
start_recv raw
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*'
RAW=$WH_ID
S1=$WH_SECRET
t_ok "rotate-secret" acmectl webhooks rotate-secret "$RAW" -o json
S2=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
E=$(outbox_event product.updated '{"id": 1}')
t_ok "worker" run_worker
t_is "$(python3 -c 'import json,sys; print(len(json.loads(open(sys.argv[1]).readline())["headers"]["webhook-signature"].split()))' "$TEST_TMP/raw.log")" \
	2 "during the grace period a request carries two signatures"
t_ok "one under the new secret and one under the old (Python hmac)" \
	python3 "$WHRECV" verify --log "$TEST_TMP/raw.log" --each --secret "$S1" --secret "$S2"

# a receiver that still has only the old secret keeps accepting
printf '%s\n' "$VEC" >"$TEST_TMP/l3.secret"
start_listen l3 --secret-file "$TEST_TMP/l3.secret"
add_endpoint "http://127.0.0.1:$RECV_PORT/" -e '*' --secret-file "$TEST_TMP/vec"
LIS=$WH_ID
tpsql -c "UPDATE webhooks SET enabled = (id = $LIS)" >/dev/null
t_ok "rotate its secret" acmectl webhooks rotate-secret "$LIS" --grace 1h
E=$(outbox_event product.updated '{"id": 2}')
t_ok "worker" run_worker
t_is "$(delivery_status "$LIS" "evt_$E")" succeeded "a receiver with the old secret accepts during the grace period"
t_json "$(tail -n 1 "$TEST_TMP/l3.log")" "d['signature'] == 'verified'" "listen verified it"
t_ok "rotate again, no grace" acmectl webhooks rotate-secret "$LIS" --grace 0
E=$(outbox_event product.updated '{"id": 3}')
t_ok "worker" run_worker
t_is "$(tpsql -c "SELECT status, last_error FROM webhook_deliveries WHERE webhook_id = $LIS AND event_id = 'evt_$E'")" \
	"failed|HTTP 401" "after the grace period the old secret no longer verifies"
t_json "$(tail -n 1 "$TEST_TMP/l3.log")" "d['signature'] == 'invalid' and len(d['headers']['webhook-signature'].split()) == 1" \
	"one signature only"

# ---- no secret leaks into what listen prints ----------------------------------------------------
t_unlike "$(cat "$TEST_TMP"/l*.log "$TEST_TMP"/l*.err "$TEST_TMP"/l2.out)" 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw|whsec_' \
	"listen never prints a secret"

t_done
