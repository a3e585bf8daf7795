#!/bin/sh
# The TUI's Webhooks tab in tmux against the test servers, a real worker and
# a real local receiver (acmectl webhooks listen): an endpoint added through
# the form (and a bad event refused in it), a test whose result appears in
# the row, disable and enable with Space, the deliveries pane with the test
# delivery and its attempt, a redelivery, an edit, delete with a y/n
# confirm, and stale data while the database is unreachable, fresh data again
# by itself when it is back.
# Every change is checked in the database and the audit log.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"
. "$TEST_TOP/tests/lib/tui-lib.sh"

start_listen ok
start_worker

tui_start
tui_keys 3
tui_wait "no webhook endpoints" && t_ok "the Webhooks tab paints with no endpoints" true ||
	t_ok "first paint" false

# ---- add through the form ------------------------------------------------------------------
tui_keys a
tui_wait "Add a webhook"
tui_type "http://127.0.0.1:$RECV_PORT/hook"
tui_keys Tab C-u
tui_type "product.created, no.such"
tui_keys Tab
tui_type "TUI endpoint"
tui_keys C-s
tui_wait 'unknown event "no.such"' 10 && t_ok "an unknown event is refused in the form" true ||
	t_ok "bad event refused" false
t_is "$(tpsql -c "SELECT count(*) FROM webhooks")" 0 "nothing was added"
tui_keys Up C-u
tui_type "product.created, product.updated"
tui_keys C-s
tui_wait "added; its signing secret" 10 && t_ok "the form adds the endpoint" true ||
	t_ok "add" false
WID=$(tpsql -c "SELECT id FROM webhooks")
t_is "$(tpsql -c "SELECT url || '|' || array_to_string(events, ',') || '|' || description || '|' || enabled FROM webhooks")" \
	"http://127.0.0.1:$RECV_PORT/hook|product.created,product.updated|TUI endpoint|true" \
	"the database has its URL, events, description, enabled"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'tui webhooks add'")" 1 \
	"the add is in the audit log"
tui_wait "product.created,product.updated" 10
scr=$(tui_screen)
t_like "$scr" "^ *$WID +http://127\\.0\\.0\\.1:$RECV_PORT/hook +product\\.created,product\\.updated +yes +0( |$)" \
	"the row shows id, URL, events, enabled and no failures"

# ---- a test whose result appears in the row -----------------------------------------------------
tui_keys t
tui_wait "testing..." 10 && t_ok "t marks the row as testing" true || t_ok "testing" false
tui_wait_re "$WID .*HTTP 200 in [0-9]+ ms" 30 && t_ok "the test's result appears in the row" true ||
	t_ok "test result" false
t_is "$(tpsql -c "SELECT last_test_status_code FROM webhooks WHERE id = $WID")" 200 \
	"the database has the test as the endpoint's last test"
t_is "$(grep -c '"type":"webhook.test"' "$TEST_TMP/ok.log")" 1 "the receiver got one test event"
# the list read again shows last_test_* from the database
tui_wait_re "$WID .*HTTP 200 in [0-9]+ ms, [0-9]+[smh] ago" 20 &&
	t_ok "the refreshed list shows the last test with its age" true || t_ok "last test" false

# ---- disable and enable with Space -----------------------------------------------------------------
tui_keys Space
tui_wait "webhook $WID disabled" 10 && t_ok "Space disables the endpoint" true || t_ok "disable" false
t_is "$(tpsql -c "SELECT enabled FROM webhooks WHERE id = $WID")" f "disabled in the database"
t_like "$(tpsql -c "SELECT disabled_reason FROM webhooks WHERE id = $WID")" "disabled by .* \\(tui\\)" \
	"with the reason"
tui_wait_re "^ *$WID .* no +disabled by" 10 && t_ok "the row says disabled and why" true ||
	t_ok "disabled row" false
tui_keys Space
tui_wait "webhook $WID enabled" 10 && t_ok "Space enables it again" true || t_ok "enable" false
t_is "$(tpsql -c "SELECT enabled FROM webhooks WHERE id = $WID")" t "enabled in the database"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command IN ('tui webhooks disable', 'tui webhooks enable')")" 2 \
	"both are in the audit log"

# ---- the deliveries pane -----------------------------------------------------------------------
DID=$(tpsql -c "SELECT id FROM webhook_deliveries WHERE webhook_id = $WID")
tui_keys Enter
tui_wait "Deliveries of webhook $WID" && t_ok "Enter opens the endpoint's deliveries" true ||
	t_ok "pane" false
tui_wait_re "$DID +evt_[0-9]+ +webhook\\.test +succeeded +1 +200" 10 &&
	t_ok "the pane shows the test delivery, succeeded with 200" true || t_ok "delivery row" false
tui_wait_re "#1 at [0-9:]+: HTTP 200 in [0-9]+ ms" 10 &&
	t_ok "and its attempt" true || t_ok "attempt" false

# redeliver the selected delivery
tui_keys R
tui_wait "sends delivery $DID again" 10 && t_ok "R redelivers the selected delivery" true ||
	t_ok "redeliver" false
t_is "$(tpsql -c "SELECT count(*) FROM webhook_deliveries WHERE redelivery_of = $DID")" 1 \
	"a redelivery row points at the original"
tui_wait_re "\\(redelivers $DID\\)" 10
t_ok "the redelivery is delivered" wait_for 20 sh -c \
	"[ \"\$(grep -c '\"type\":\"webhook.test\"' '$TEST_TMP/ok.log')\" = 2 ]"
tui_keys Down
tui_wait "Attempts of delivery $DID" 10 && t_ok "Down selects the original delivery again" true ||
	t_ok "down" false
tui_keys Escape
tui_wait_gone "Deliveries of webhook" 5 && t_ok "Esc closes the pane" true || t_ok "esc" false

# ---- edit ------------------------------------------------------------------------------------
tui_keys e
tui_wait "Edit webhook $WID"
tui_keys Tab C-u
tui_type "*"
tui_keys Tab C-u
tui_type "edited"
tui_keys C-s
tui_wait "webhook $WID changed" 10 && t_ok "e edits the endpoint" true || t_ok "edit" false
t_is "$(tpsql -c "SELECT array_to_string(events, ',') || '|' || description FROM webhooks WHERE id = $WID")" \
	"*|edited" "the new events and description are in the database"

# ---- delete with confirm --------------------------------------------------------------------------
tui_keys d
tui_wait "[y/N]"
tui_keys n
tui_wait "nothing was deleted"
t_is "$(tpsql -c "SELECT count(*) FROM webhooks")" 1 "n keeps the endpoint"
tui_keys d
tui_wait "[y/N]"
tui_keys y
tui_wait "webhook $WID deleted" 10 && t_ok "y deletes it" true || t_ok "delete" false
t_is "$(tpsql -c "SELECT count(*) FROM webhooks")" 0 "the endpoint is gone"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command LIKE 'tui webhooks %'")" 6 \
	"every change is audited (add, disable, enable, redeliver, edit, delete)"
tui_wait "no webhook endpoints" 10

# ---- the database unreachable: stale data, still responsive; then fresh data by itself --------------
# New connections to this test's database are refused and the TUI's are
# killed (the shared server keeps running for the other tests).
pg_admin() { "$TEST_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$TEST_PG_HOST" -U acme -d postgres -c "$1"; }
killed=$(pg_admin "ALTER DATABASE \"$TEST_DB\" ALLOW_CONNECTIONS false;
	SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE application_name = 'acmectl-tui' AND datname = '$TEST_DB'")
t_like "$killed" '^[1-9]' "the TUI's connections were killed"
tui_wait "STALE (database unreachable" 20 && t_ok "the tab marks its data stale" true ||
	t_ok "stale" false
t_like "$(tui_screen)" 'db: reconnecting' "the title line says the database is reconnecting"
tui_keys a
tui_wait "Add a webhook" 5 && t_ok "keys still work while the database is away" true ||
	t_ok "responsive" false
tui_keys Escape
tui_wait_gone "Add a webhook" 5
pg_admin "ALTER DATABASE \"$TEST_DB\" ALLOW_CONNECTIONS true"
add_endpoint "http://127.0.0.1:$RECV_PORT/second" -e import.completed
tui_wait_re "^ *$WH_ID +http://127\.0\.0\.1:$RECV_PORT/second +import\.completed +yes" 20 &&
	t_ok "once it is back the tab shows fresh data by itself" true || t_ok "recovery" false
tui_wait_gone "STALE" 10 && t_ok "and is no longer stale" true || t_ok "not stale" false

tui_keys q
tui_wait_exit && t_is "$TUI_EXIT" 0 "q exits 0"
t_done
