#!/bin/sh
# `webhooks listen` against clients that misbehave: a request that trickles
# in is closed once its deadline (--request-timeout) has passed, however
# often bytes arrive; connections beyond --max-connections are answered 503
# and closed at once, while the others go on and a freed slot is usable
# again. Header values may carry UTF-8 and other bytes from 0x80 up;
# control bytes are refused.
# Regressions: the timeout was per read, so a client sending a byte every
# 29 s kept its connection and buffer for ever; connections over the cap
# were left waiting in the listen backlog; every non-ASCII header byte was
# refused (400) because a signed char was compared with 0x20.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_TOP/tests/lib/webhooks.sh"

RAW="$TEST_TOP/tests/lib/rawhttp.py"

# ---- header values beyond ASCII ------------------------------------------------------------
start_listen l1
t_ok "a UTF-8 header value" python3 "$RAW" send --port "$RECV_PORT" --header 'X-Name: café ✓'
t_is "$OUT" 200 "is accepted"
t_ok "a Latin-1 (obs-text) header value" python3 "$RAW" send --port "$RECV_PORT" --hex \
	--header "$(printf 'X-Latin: caf\351' | od -An -tx1 | tr -d ' \n')"
t_is "$OUT" 200 "is accepted"
t_ok "a control byte in a header value" python3 "$RAW" send --port "$RECV_PORT" --hex \
	--header "$(printf 'X-Bad: a\033[1m' | od -An -tx1 | tr -d ' \n')"
t_is "$OUT" 400 "is refused"
wait_for 10 sh -c "[ \$(wc -l <'$TEST_TMP/l1.log') -ge 2 ]"
t_json "$(sed -n 1p "$TEST_TMP/l1.log")" "d['headers']['x-name'] == 'café ✓'" \
	"the UTF-8 value is printed as sent"

# ---- a request trickling in is cut off at its deadline ---------------------------------------
start_listen l2 --request-timeout 1s
t_ok "a client sending its head a byte at a time is closed" \
	python3 "$RAW" trickle --port "$RECV_PORT" --every 0.1 --give-up 60
t_like "$OUT" '^closed HTTP/1.1 408 Request Timeout after [0-9]+ bytes$' "with 408 Request Timeout"
t_ok "the listener goes on serving" python3 "$RAW" send --port "$RECV_PORT" --header 'X-A: b'
t_is "$OUT" 200 "a well-behaved request still gets 200"

# ---- a cap on open connections ----------------------------------------------------------------
start_listen l3 --max-connections 2
t_ok "two idle connections fill the cap; then a third, a request, a freed slot" \
	python3 "$RAW" cap --port "$RECV_PORT" --max 2 --give-up 60
t_is "$(printf '%s\n' "$OUT" | sed -n 1p)" "over: HTTP/1.1 503 Service Unavailable closed" \
	"a connection over the cap is answered 503 and closed, not left waiting"
t_is "$(printf '%s\n' "$OUT" | sed -n 2p)" "held: HTTP/1.1 200 OK" \
	"the connections within the cap are served"
t_is "$(printf '%s\n' "$OUT" | sed -n 3p)" "freed: HTTP/1.1 200 OK" \
	"once one closes, a new connection is served"

stop_bg
t_like "$(cat "$TEST_TMP/l2.err")" '1 connection timed out' "listen counts the connection it cut off"
t_like "$(cat "$TEST_TMP/l3.err")" '[1-9][0-9]* connections? refused' "and the ones it refused"

t_done
