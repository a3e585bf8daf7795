#!/bin/sh
# smoke-test against the test servers with a real worker: a pass (TAP, JSON,
# JUnit), a failing check (no worker, a paused queue, a failpoint in the
# import, a receiver answering 500), a server down (69), SIGTERM in the middle
# (cleans up, 143), and production. Whatever happened, nothing of its own is
# left behind, and no event of its own reaches a real endpoint.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

# nothing of the smoke test's own stays: products, endpoints
no_trace() {
	t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku LIKE '\\_\\_smoke-%'")" 0 "$1: no smoke product is left"
	t_is "$(tpsql -c "SELECT count(*) FROM webhooks WHERE description LIKE 'acmectl smoke-test %'")" 0 \
		"$1: no smoke endpoint is left"
}

# ---- usage ------------------------------------------------------------------------------
t_exit 2 "-o table is refused" acmectl smoke-test -o table
t_like "$ERR" "expected tap or json" "and says which formats it has"
t_exit 2 "--skip-webhook with --webhook-url is refused" acmectl smoke-test --skip-webhook \
	--webhook-url http://127.0.0.1:9/
t_ok "--help lists the options" acmectl smoke-test --help
t_like "$OUT" "--junit FILE" "--junit is in the help"

# ---- a server down: 69, could not test ------------------------------------------------------
REDIS_URL="unix://$TEST_TMP/no-such.sock" t_exit 69 "redis down: exit 69 at the deadline" \
	acmectl smoke-test --timeout 1s
t_like "$OUT" "^1\\.\\.7" "TAP plan first"
t_like "$OUT" "not ok 1 - preflight \\([0-9]+ ms\\): not ready before the deadline: redis" \
	"the preflight names what is not ready"
t_like "$OUT" "ok 3 - workers # SKIP not run" "later steps are reported as not run"
t_like "$ERR" "could not test" "stderr says it could not test"
REDIS_URL="unix://$TEST_TMP/no-such.sock" t_exit 69 "-o json, redis down" \
	acmectl smoke-test --timeout 1s -o json
t_json "$OUT" "d['status'] == 'unavailable' and d['steps'][0]['status'] == 'fail' and len(d['steps']) == 6" \
	"JSON says unavailable"

# ---- no worker: a failing check --------------------------------------------------------------
t_exit 1 "no worker: exit 1" acmectl smoke-test --timeout 2s
t_like "$OUT" "ok 1 - preflight" "the preflight passes"
t_like "$OUT" "ok 2 - schema \\([0-9]+ ms\\): version [0-9]+, this release's head [0-9]+" "the schema step gives versions"
t_like "$OUT" "not ok 3 - workers \\([0-9]+ ms\\): no live worker serves queue" "the workers step fails"
t_like "$OUT" "ok 4 - import # SKIP not run: workers failed" "the import did not run"
t_like "$OUT" "ok 7 - cleanup" "the cleanup passes"
no_trace "no worker"

# ---- a real endpoint subscribed to everything: it must get nothing of the smoke test's ----------
start_recv real
add_endpoint "http://127.0.0.1:$RECV_PORT/real" -e '*'
REAL=$WH_ID

"$ACMECTL" worker --queues default,import,webhooks >"$TEST_TMP/worker.log" 2>&1 &
WPID=$!
echo "$WPID" >>"$TEST_TMP/bg.pids"

# ---- a pass -------------------------------------------------------------------------------------
t_ok "smoke-test passes with a worker" acmectl smoke-test --timeout 60s --junit "$TEST_TMP/smoke.xml"
t_like "$OUT" "^1\\.\\.7
ok 1 - preflight \\([0-9]+ ms\\): postgresql, redis and the schema are ready" "TAP, step by step"
t_like "$OUT" "ok 3 - workers \\([0-9]+ ms\\): live workers per queue: default: 1, webhooks: 1, import: 1" \
	"a live worker per queue"
t_like "$OUT" "ok 4 - import \\([0-9]+ ms\\): job [0-9A-Z]+ imported 3 lines \\(2 products, 1 duplicate\\), read back and deleted" \
	"the import went through the queue"
t_like "$OUT" "ok 5 - products \\([0-9]+ ms\\): __smoke-[0-9a-f]{12}-crud created, updated and deleted" \
	"the product round trip"
t_like "$OUT" "ok 6 - webhook \\([0-9]+ ms\\): evt_[0-9]+ delivered to http://127.0.0.1:[0-9]+/acmectl-smoke-[0-9a-f]+ in [0-9]+ ms, signature verified" \
	"the webhook was delivered and its signature verified"
t_like "$OUT" "ok 7 - cleanup: 1 item removed" "the cleanup removed the endpoint"
t_like "$OUT" "# smoke-test pass in [0-9.]+ s \\(run [0-9a-f]{12}\\)" "a summary line"
t_unlike "$OUT" "not ok" "no step failed"
no_trace "pass"
t_ok "the JUnit report is well-formed XML with 7 cases, none failed" python3 -c '
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
s = r.find("testsuite")
cases = s.findall("testcase")
assert r.tag == "testsuites" and len(cases) == 7, len(cases)
assert s.get("failures") == "0" and s.get("skipped") == "0", s.attrib
assert [c.get("name") for c in cases] == ["preflight", "schema", "workers", "import", "products", "webhook", "cleanup"]
assert all(float(c.get("time")) >= 0 for c in cases)
' "$TEST_TMP/smoke.xml"

# its events are marked and went nowhere; a normal change still reaches the real endpoint
t_ok "every outbox event of the smoke test is marked" test "$(tpsql -c \
	"SELECT count(*) FROM outbox WHERE payload->>'acme_smoke' = 'true'")" -ge 6
relayed() { [ "$(tpsql -c "SELECT count(*) FROM outbox WHERE relayed_at IS NULL")" = 0 ]; }
dispatched() {
	[ "$(tpsql -c "SELECT count(*) FROM jobs WHERE type = 'event.dispatch' AND state NOT IN
		('succeeded', 'failed', 'dead', 'cancelled')")" = 0 ]
}
got_real() { [ "$(recv_count real)" -ge 1 ]; }
t_ok "the outbox is relayed" wait_for 30 relayed
t_ok "every dispatch job has finished" wait_for 30 dispatched
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE type = 'event.dispatch' AND result->>'skipped' = 'a smoke test''s event'")" \
	"$(tpsql -c "SELECT count(*) FROM outbox WHERE payload->>'acme_smoke' = 'true' AND event_type <> 'webhook.test'")" \
	"the dispatcher skipped each of them"
t_is "$(tpsql -c "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $REAL")" 0 \
	"the real endpoint got no delivery from the smoke test"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'smoke-test'")" 7 \
	"its changes are in the audit log as smoke-test (2 deletes after the import, 3 product changes, the endpoint added and deleted)"
t_ok "a normal change still reaches the real endpoint" acmectl products create --sku REAL-1 --name Real
t_ok "delivered" wait_for 30 got_real

# ---- -o json ------------------------------------------------------------------------------------
t_ok "-o json" acmectl smoke-test -o json --timeout 60s
t_json "$OUT" "d['status'] == 'pass' and [s['name'] for s in d['steps']] == ['preflight', 'schema', 'workers', 'import', 'products', 'webhook'] and all(s['status'] == 'pass' and s['duration_ms'] >= 0 for s in d['steps']) and d['cleanup']['ok'] and len(d['run_id']) == 12" \
	"one document, every step passed"

# ---- --skip-webhook, --webhook-url -----------------------------------------------------------------
t_ok "--skip-webhook" acmectl smoke-test --skip-webhook
t_like "$OUT" "ok 6 - webhook \\([0-9]+ ms\\) # SKIP --skip-webhook" "the webhook step is skipped"
start_listen good
t_ok "--webhook-url to a receiver that answers 200" acmectl smoke-test --webhook-url "http://127.0.0.1:$RECV_PORT/hook"
t_like "$OUT" "ok 6 - webhook \\([0-9]+ ms\\): evt_[0-9]+ delivered to http://127.0.0.1:$RECV_PORT/hook in [0-9]+ ms, answered 2xx" \
	"delivered to the URL given"
t_ok "the receiver got the signed test event" grep -q '"type":"webhook.test"' "$TEST_TMP/good.log"
start_listen bad --status 500
t_exit 1 "--webhook-url to a receiver that answers 500: exit 1" acmectl smoke-test \
	--webhook-url "http://127.0.0.1:$RECV_PORT/hook"
t_like "$OUT" "not ok 6 - webhook \\([0-9]+ ms\\): delivery of evt_[0-9]+ to http://127.0.0.1:$RECV_PORT/hook: the receiver answered 500" \
	"the failure names the answer"
no_trace "a failed delivery"

# ---- a paused queue -------------------------------------------------------------------------------
"$ACMECTL" -q jobs pause import >/dev/null
t_exit 1 "a paused import queue: exit 1" acmectl smoke-test --timeout 2s
t_like "$OUT" "not ok 3 - workers \\([0-9]+ ms\\): queue import is paused" "names the paused queue"
"$ACMECTL" -q jobs resume import >/dev/null

# ---- a failing check in the import (failpoint): the rows are removed -------------------------------
ACME_FAILPOINTS='smoke.after-import=error' t_exit 1 "a failing import check: exit 1" acmectl smoke-test
t_like "$OUT" "not ok 4 - import \\([0-9]+ ms\\): failpoint smoke.after-import: injected error" "the import step fails"
t_like "$OUT" "ok 5 - products # SKIP not run: import failed" "later steps did not run"
t_like "$OUT" "ok 7 - cleanup: 2 items removed" "the cleanup removed the imported rows"
t_like "$ERR" "smoke-test: import: failpoint" "stderr names the failed step"
no_trace "a failed import check"

# ---- SIGTERM in the middle: cleans up and exits 143 -------------------------------------------------
ACME_FAILPOINTS='smoke.after-import=pause' "$ACMECTL" smoke-test -o json >"$TEST_TMP/term.out" 2>"$TEST_TMP/term.err" &
SPID=$!
t_ok "the smoke test stops after its import" wait_for 60 grep -q "failpoint smoke.after-import reached" \
	"$TEST_TMP/term.err"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku LIKE '\\_\\_smoke-%'")" 2 "its imported rows exist now"
kill -TERM "$SPID"
kill -CONT "$SPID"
wait "$SPID"
t_is "$?" 143 "SIGTERM: exit 143 after cleaning up"
t_json "$(cat "$TEST_TMP/term.out")" "d['status'] == 'interrupted' and d['cleanup']['ok'] and d['cleanup']['detail'] == '2 items removed' and d['steps'][3]['status'] == 'fail' and d['steps'][3]['detail'].startswith('interrupted')" \
	"the report says interrupted and cleaned up"
t_like "$(cat "$TEST_TMP/term.err")" "interrupted by SIGTERM" "stderr says why"
no_trace "SIGTERM"

# ---- production: the same checks pass, nothing left -------------------------------------------------
kill "$WPID"
wait_pid "$WPID" 60
ACME_ENV=production "$ACMECTL" worker --queues default,import,webhooks >"$TEST_TMP/worker-prod.log" 2>&1 &
WPID=$!
echo "$WPID" >>"$TEST_TMP/bg.pids"
ACME_ENV=production t_ok "smoke-test passes in production (its loopback receiver is its own)" \
	acmectl smoke-test --timeout 60s
t_like "$OUT" "ok 6 - webhook .*signature verified" "the webhook step passed in production"
no_trace "production"
t_is "$(tpsql -c "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $REAL")" 1 \
	"the real endpoint still has only the normal change's delivery"

t_done
