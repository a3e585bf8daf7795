#!/bin/sh
# webhooks add/list/edit/enable/disable/delete/rotate-secret without a
# worker: validation, secrets (generated and printed once, read from a file
# or stdin, masked everywhere after), audit rows, the guard on IP literals in
# production, the delivery-log verbs on an empty log, and live ids in the
# completions.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

# ---- add ------------------------------------------------------------------------
t_exit 2 "add needs --event" acmectl webhooks add https://example.com/hook
t_like "$ERR" 'give the events' "add without --event says what to give"
t_exit 2 "add refuses an unknown event" acmectl webhooks add https://example.com/hook -e product.create
t_like "$ERR" '"product.create" is not one of \*\|product.created' "the message lists the events"
t_exit 2 "webhook.test is not a subscription" acmectl webhooks add https://example.com/hook -e webhook.test
t_exit 65 "add refuses ftp://" acmectl webhooks add ftp://example.com/x -e '*'
t_like "$ERR" 'only http:// and https://' "only http and https"
t_exit 65 "add refuses a URL without a scheme" acmectl webhooks add example.com/hook -e '*'
t_exit 65 "add refuses a URL with a space" acmectl webhooks add 'https://example.com/a b' -e '*'

t_ok "add generates a secret" acmectl webhooks add https://hooks.example.com/a \
	-e product.created -e product.updated -e product.created --description "first" -o json
ADD1=$OUT
t_json "$ADD1" 'd["id"] == 1 and d["events"] == ["product.created", "product.updated"]' \
	"add: id 1, events deduplicated in order"
t_json "$ADD1" 'd["secret"].startswith("whsec_") and len(d["secret"]) == 38' \
	"add prints the generated whsec_ secret (24 bytes) once"
t_like "$ERR" 'shown this once' "add says the secret is shown once"
SECRET1=$(printf '%s' "$ADD1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')

printf 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n' >"$TEST_TMP/given"
t_ok "add takes --secret-file" acmectl webhooks add https://hooks.example.com/b -e '*' \
	--secret-file "$TEST_TMP/given" -o json
t_json "$OUT" 'd["id"] == 2 and d["secret"] == "whsec_********"' "a given secret is not printed back"
t_is "$(wh_secret 2)" "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" \
	"the given secret is stored (encrypted: t5085)"
t_ok "add takes the secret from stdin" sh -c "printf 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' | \
	'$ACMECTL' webhooks add https://u:pw@hooks.example.com/c -e import.completed --secret-file - --disabled"
t_is "$(wh_secret 3)|$(tpsql -c 'SELECT enabled, disabled_reason FROM webhooks WHERE id = 3')" \
	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw|f|added disabled" \
	"a secret without the prefix is stored in canonical form; --disabled"
printf 'whsec_tooshort\n' >"$TEST_TMP/short"
t_exit 65 "a bad secret file is refused" acmectl webhooks add https://x.example/ -e '*' --secret-file "$TEST_TMP/short"
t_unlike "$ERR" 'tooshort' "the error does not repeat the secret"
t_exit 65 "a missing secret file is refused" acmectl webhooks add https://x.example/ -e '*' --secret-file "$TEST_TMP/nope"
t_exit 2 "there is no --secret option (secrets never on the command line)" \
	acmectl webhooks add https://x.example/ -e '*' --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

# ---- list -------------------------------------------------------------------------
t_ok "list" acmectl webhooks list
t_like "$OUT" '^id	url	events	status	last_test	description$' "list columns (tab-separated when piped)"
t_like "$OUT" '^1	https://hooks.example.com/a	product.created,product.updated	enabled		first$' "list row 1"
t_like "$OUT" '^3	https://u:\*\*\*@hooks.example.com/c	import.completed	disabled: added disabled' \
	"a password in a URL is redacted; a disabled endpoint says why"
t_ok "list -o json" acmectl webhooks list -o json
t_json "$OUT" 'len(d["items"]) == 3 and all(w["secret"] == "whsec_********" for w in d["items"])' "JSON masks every secret"
t_json "$OUT" 'd["items"][0]["last_test"] is None and d["items"][0]["consecutive_failures"] == 0' "JSON: no test yet"
t_ok "list -o ndjson" acmectl webhooks list -o ndjson
t_is "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 3 "ndjson: one line per endpoint"

# ---- edit -------------------------------------------------------------------------
t_exit 2 "edit needs something to change" acmectl webhooks edit 1
t_exit 2 "edit: a bad id is a usage error" acmectl webhooks edit one --url https://x.example/
t_exit 3 "edit: an unknown id is not found" acmectl webhooks edit 99 --url https://x.example/
t_ok "edit url, events and description" acmectl webhooks edit 1 --url https://hooks.example.com/a2 \
	-e '*' --description '' -o json
t_json "$OUT" 'd["url"] == "https://hooks.example.com/a2" and d["events"] == ["*"] and d["description"] is None' \
	"edit replaces the events and clears the description"
t_exit 2 "edit: --allow-private and --deny-private contradict" acmectl webhooks edit 1 --allow-private --deny-private

# ---- enable, disable --------------------------------------------------------------
t_ok "disable with a reason" acmectl webhooks disable 1 --reason "maintenance until Monday"
t_ok "list after disable" acmectl webhooks list
t_like "$OUT" '^1	.*	disabled: maintenance until Monday' "list shows the reason"
t_ok "disable again" acmectl webhooks disable 1
t_like "$ERR" 'disabled already' "disabling twice says so"
t_ok "enable" acmectl webhooks enable 1
t_is "$(tpsql -c 'SELECT enabled, disabled_reason IS NULL FROM webhooks WHERE id = 1')" "t|t" "enable clears the reason"
t_ok "disable without a reason" acmectl webhooks disable 2
t_like "$(tpsql -c 'SELECT disabled_reason FROM webhooks WHERE id = 2')" '^disabled by .+@.+' "the default reason says who"
t_exit 3 "enable an unknown id" acmectl webhooks enable 42

# ---- rotate-secret ----------------------------------------------------------------
t_ok "rotate-secret" acmectl webhooks rotate-secret 1 -o json
ROT=$OUT
t_json "$ROT" 'd["secret"].startswith("whsec_") and d["previous_secret_signs_until"] is not None' \
	"rotate-secret prints the new secret once and the grace end"
SECRET1B=$(printf '%s' "$ROT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
t_is "$(wh_secret 1 previous_secret)|$(wh_secret 1)|$(tpsql -c "SELECT
	previous_secret_expires_at BETWEEN now() + interval '23 hours' AND now() + interval '25 hours'
	FROM webhooks WHERE id = 1")" "$SECRET1|$SECRET1B|t" "the old secret keeps signing for the default grace (1d)"
t_ok "rotate-secret --grace 0 from a file" acmectl webhooks rotate-secret 2 --grace 0 --secret-file "$TEST_TMP/given" -o json
t_json "$OUT" 'd["secret"] == "whsec_********" and d["previous_secret_signs_until"] is None' \
	"with --grace 0 the old secret stops at once"
t_ok "list -o json after rotation" acmectl webhooks list -o json
t_json "$OUT" 'd["items"][0]["previous_secret_signs_until"] is not None' "list shows a rotation in progress"

# ---- delete -----------------------------------------------------------------------
t_exit 4 "delete without --yes and no terminal is refused" acmectl webhooks delete 3
t_like "$ERR" 'refusing to delete webhook 3' "the refusal names the endpoint"
t_exit 4 "delete in production needs --yes" acmectl --env production webhooks delete 3
t_ok "delete --yes" acmectl webhooks delete 3 --yes
t_exit 3 "deleted means gone" acmectl webhooks edit 3 --url https://x.example/
t_exit 3 "delete an unknown id" acmectl webhooks delete 3 --yes

# ---- audit ------------------------------------------------------------------------
t_is "$(tpsql -c "SELECT string_agg(command, ',' ORDER BY id) FROM audit_log WHERE target LIKE 'webhook %'")" \
	"webhooks add,webhooks add,webhooks add,webhooks edit,webhooks disable,webhooks enable,webhooks disable,webhooks rotate-secret,webhooks rotate-secret,webhooks delete" \
	"every change has an audit row"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE details::text LIKE '%whsec%' OR details::text LIKE '%MfKQ%'")" 0 \
	"no audit row holds a secret"
t_is "$(tpsql -c "SELECT details->>'url' FROM audit_log WHERE command = 'webhooks add' AND target = 'webhook 3'")" \
	"https://u:***@hooks.example.com/c" "audit rows redact URL passwords"

# ---- the guard on IP literals in production ------------------------------------------
for url in http://127.0.0.1:9/ 'http://[::1]/' 'http://[::ffff:127.0.0.1]/' http://10.0.0.1/ \
	http://169.254.169.254/latest/meta-data/ http://100.64.1.1/ http://0.0.0.0/ http://2130706433/; do
	t_exit 4 "production: add refuses $url" acmectl --env production webhooks add "$url" -e '*'
done
t_like "$ERR" 'refused by the outgoing-request guard: 127.0.0.1 is a loopback address' \
	"the refusal says why (an integer host is 127.0.0.1)"
t_ok "production: --allow-private lets it through" acmectl --env production webhooks add http://127.0.0.1:9/ -e '*' --allow-private
t_ok "test: no guard outside production" acmectl webhooks add http://10.0.0.1/ -e '*'
t_exit 4 "production: edit to a private URL is refused" acmectl --env production webhooks edit 1 --url http://192.168.0.1/
t_exit 4 "production: --deny-private re-checks the URL" acmectl --env production webhooks edit 4 --deny-private
printf '[webhooks]\nallow_private = true\n' >"$XDG_CONFIG_HOME/acmectl/config"
t_ok "production: allow_private in config lets it through" acmectl --env production webhooks add http://10.0.0.2/ -e '*'
printf '[webhooks]\ntimeout = fast\n' >"$XDG_CONFIG_HOME/acmectl/config"
t_exit 78 "a bad [webhooks] setting is a configuration error" acmectl webhooks add https://x.example/ -e '*'
t_like "$ERR" 'config:2: \[webhooks\] timeout = "fast": expected a duration' "it names the file, line and key"
printf '[webhooks]\nretries = 3\n' >"$XDG_CONFIG_HOME/acmectl/config"
t_exit 78 "an unknown [webhooks] key is a configuration error" acmectl webhooks rotate-secret 1
rm -f "$XDG_CONFIG_HOME/acmectl/config"

# ---- the delivery log, empty --------------------------------------------------------
t_ok "deliveries on an empty log" acmectl webhooks deliveries
t_is "$OUT" "id	webhook	event_id	event	status	attempts	code	next_attempt_at	created_at	error" "only the header"
t_exit 3 "deliveries of an unknown endpoint" acmectl webhooks deliveries 77
t_exit 2 "deliveries --status checks the state" acmectl webhooks deliveries --status finished
t_exit 3 "delivery show of an unknown delivery" acmectl webhooks delivery show 5
t_exit 2 "delivery needs show" acmectl webhooks delivery list 5
t_exit 2 "delivery show needs an id" acmectl webhooks delivery show
t_exit 3 "redeliver an unknown delivery" acmectl webhooks redeliver 5
t_exit 3 "test an unknown endpoint" acmectl webhooks test 99

# ---- completions offer live ids --------------------------------------------------------
t_is "$(acmectl __complete webhooks edit '' | tr '\n' ' ')" "1 2 4 5 6 " "edit completes endpoint ids"
t_is "$(acmectl __complete webhooks test 4)" "4" "ids complete from a prefix"
t_is "$(acmectl __complete webhooks delivery '')" "show" "delivery completes show first"
t_is "$(acmectl __complete webhooks delivery show '')" "" "then delivery ids (none yet)"
t_is "$(acmectl __complete webhooks add -e product.c)" "product.created" "--event completes event names"
t_is "$(DATABASE_URL='postgresql:///nosuch?host=/nonexistent' "$ACMECTL" __complete webhooks edit '')" "" \
	"no database: no candidates, no noise"

# ---- secrets never appear after creation ------------------------------------------------
# the transcript holds every command's output; the secrets may appear only in
# the two outputs that created them
grep -c -- "$SECRET1" "$TEST_TMP/transcript" >"$TEST_TMP/n1"
t_is "$(cat "$TEST_TMP/n1")" 1 "the first generated secret was printed exactly once"
grep -c -- "$SECRET1B" "$TEST_TMP/transcript" >"$TEST_TMP/n2"
t_is "$(cat "$TEST_TMP/n2")" 1 "the rotated secret was printed exactly once"
t_unlike "$(cat "$TEST_TMP/transcript")" 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' "a given secret is never printed"

t_done
