#!/bin/sh
# Webhook signing secrets at rest (issue 16, part 5): after `webhooks add` the
# secret is in neither the table nor pg_dump; deliveries are signed with it
# and verify (Python hmac); rotate-secret with grace signs with both;
# rotate-key moves every value to a new key (key id changes, deliveries still
# verify) and the old key line can then go; a key the file lacks is named;
# production without a key refuses; a plain-text row keeps working and is
# encrypted by migrate; key file permissions and format.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/webhooks.sh"

KEY1="$TEST_SECRET_KEY"
KID1=$(openssl base64 -d -A <"$KEY1" | sha256sum | cut -c1-8)
start_recv r
URL="http://127.0.0.1:$RECV_PORT/in"

# ---- add: encrypted, bound to its row ---------------------------------------------------
add_endpoint "$URL" -e '*'
A=$WH_ID
SA=$WH_SECRET
t_is "$(tpsql -c "SELECT secret_key_id FROM webhooks WHERE id = $A")" "$KID1" "the key id is stored beside the value"
t_like "$(tpsql -c "SELECT secret FROM webhooks WHERE id = $A")" '^v1:' "the stored value is sealed"
t_is "$(tpsql -c "SELECT count(*) FROM webhooks WHERE secret LIKE '%' || '${SA#whsec_}' || '%'")" 0 "the secret is not in the table"
"$TEST_PG_BIN/pg_dump" -h "$TEST_PG_HOST" -U acme -d "$TEST_DB" >"$TEST_TMP/dump.sql" 2>"$TEST_TMP/dump.err"
t_ok "pg_dump ran" test -s "$TEST_TMP/dump.sql"
t_is "$(grep -c "${SA#whsec_}" "$TEST_TMP/dump.sql")" 0 "the secret is not in pg_dump's output"
t_is "$(wh_secret "$A")" "$SA" "it opens with the key"

# a value copied to another endpoint or column does not open
add_endpoint "$URL" -e '*'
B=$WH_ID
tpsql -c "UPDATE webhooks SET secret = (SELECT secret FROM webhooks WHERE id = $A) WHERE id = $B" >/dev/null
t_exit 65 "a value copied to another endpoint does not open" wh_secret "$B"
tpsql -c "UPDATE webhooks SET previous_secret = secret, previous_secret_key_id = secret_key_id,
	previous_secret_expires_at = now() + interval '1 day' WHERE id = $A" >/dev/null
t_exit 65 "nor one copied to previous_secret" wh_secret "$A" previous_secret
tpsql -c "UPDATE webhooks SET previous_secret = NULL, previous_secret_key_id = NULL,
	previous_secret_expires_at = NULL" >/dev/null
tpsql -c "DELETE FROM webhooks WHERE id = $B" >/dev/null

# ---- deliveries are signed with the right secret ------------------------------------------
outbox_event product.created '{"id": 1}' >/dev/null
t_ok "the worker delivers" run_worker
t_ok "the request verifies with the endpoint's secret (Python hmac)" \
	python3 "$WHRECV" verify --log "$TEST_TMP/r.log" --secret "$SA"
t_is "$OUT" 1 "one verified"

# ---- rotate-secret with grace signs with both ---------------------------------------------
t_ok "rotate-secret with grace" acmectl webhooks rotate-secret "$A" --grace 1h -o json
SA2=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
t_is "$(wh_secret "$A" previous_secret):$(wh_secret "$A")" "$SA:$SA2" "previous_secret is re-sealed for its column"
: >"$TEST_TMP/r.log"
outbox_event product.updated '{"id": 1}' >/dev/null
t_ok "deliver during the grace" run_worker
t_ok "verifies with the old secret" python3 "$WHRECV" verify --log "$TEST_TMP/r.log" --secret "$SA"
t_ok "and with the new one" python3 "$WHRECV" verify --log "$TEST_TMP/r.log" --secret "$SA2"

# ---- rotate-key ---------------------------------------------------------------------------
t_ok "rotate-key with nothing to do" acmectl webhooks rotate-key -o json
t_json "$OUT" "d['key_id'] == '$KID1' and d['current'] == 2 and d['reencrypted'] == 0 and d['encrypted'] == 0" "everything is under the key already"
openssl rand -base64 32 >"$TEST_TMP/key2.new"
cat "$KEY1" >>"$TEST_TMP/key2.new"
chmod 600 "$TEST_TMP/key2.new"
KEY2=$TEST_TMP/key2.new
KID2=$(head -n1 "$KEY2" | openssl base64 -d -A | sha256sum | cut -c1-8)
export ACME_SECRET_KEY_FILE="$KEY2"
t_ok "rotate-key --dry-run" acmectl webhooks rotate-key --dry-run -o json
t_json "$OUT" "d['dry_run'] and d['reencrypted'] == 2 and d['key_id'] == '$KID2'" "counts what would change"
t_is "$(tpsql -c "SELECT secret_key_id FROM webhooks WHERE id = $A")" "$KID1" "and changes nothing"
t_ok "rotate-key" acmectl webhooks rotate-key -o json
t_json "$OUT" "d['reencrypted'] == 2 and d['current'] == 0 and d['endpoints'] == 1" "re-encrypts the secret and the previous one"
t_like "$ERR" "no longer needed" "says the old line can go"
t_is "$(tpsql -c "SELECT secret_key_id || previous_secret_key_id FROM webhooks WHERE id = $A")" "$KID2$KID2" "the key id changed"
t_ok "rotate-key again is a no-op" acmectl webhooks rotate-key -o json
t_json "$OUT" "d['reencrypted'] == 0 and d['current'] == 2" "idempotent"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'webhooks rotate-key'")" 3 "each run is audited"
head -n1 "$KEY2" >"$TEST_TMP/key2.only"
chmod 600 "$TEST_TMP/key2.only"
export ACME_SECRET_KEY_FILE="$TEST_TMP/key2.only"
: >"$TEST_TMP/r.log"
outbox_event product.deleted '{"id": 1}' >/dev/null
t_ok "with the old key line removed the worker still delivers" run_worker
t_ok "and the request verifies" python3 "$WHRECV" verify --log "$TEST_TMP/r.log" --secret "$SA2"

# ---- a key the file does not hold is named ------------------------------------------------
export ACME_SECRET_KEY_FILE="$KEY1"
t_exit 78 "rotate-key with only the old key" acmectl webhooks rotate-key
t_like "$ERR" "encrypted with key $KID2, which the secret key file does not hold" "names the missing key id"
t_exit 78 "rotate-secret with grace too" acmectl webhooks rotate-secret "$A" --grace 1h
t_like "$ERR" "key $KID2" "names it"
export ACME_SECRET_KEY_FILE="$TEST_TMP/key2.only"

# ---- production without a key ---------------------------------------------------------------
for cmd in "webhooks add https://hooks.example.com/x -e product.created" "webhooks rotate-secret $A --yes" "webhooks rotate-key --yes" "worker --burst --queues webhooks"; do
	# shellcheck disable=SC2086
	ACME_SECRET_KEY_FILE='' t_exit 78 "production without a key: $cmd" acmectl --env production $cmd
	t_like "$ERR" "production needs a key to encrypt webhook secrets: set ACME_SECRET_KEY_FILE" "says why and what to set"
done
ACME_SECRET_KEY_FILE='' t_ok "development without a key: add stores plain text" acmectl --env test webhooks add "$URL" -e '*' -o json
t_like "$ERR" "webhook secrets are stored in plain text" "with a warning"
t_is "$(printf '%s' "$ERR" | grep -c 'plain text')" 1 "one warning"
P=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
SP=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
t_is "$(tpsql -c "SELECT secret_key_id IS NULL, secret FROM webhooks WHERE id = $P")" "t|$SP" "a plain-text row"

# ---- a plain-text row keeps working; migrate encrypts it ----------------------------------------
tpsql -c "UPDATE webhooks SET enabled = false WHERE id = $A" >/dev/null
: >"$TEST_TMP/r.log"
outbox_event product.created '{"id": 2}' >/dev/null
t_ok "the plain-text row is delivered with a key configured" run_worker
t_ok "and verifies" python3 "$WHRECV" verify --log "$TEST_TMP/r.log" --secret "$SP"
t_ok "migrate up with a key" acmectl migrate up
t_like "$ERR" "encrypted 1 webhook secret stored in plain text under key $KID2" "says what it encrypted"
t_is "$(tpsql -c "SELECT secret_key_id FROM webhooks WHERE id = $P")" "$KID2" "the row is sealed"
t_is "$(wh_secret "$P")" "$SP" "with the same secret"
t_ok "migrate up again" acmectl migrate up
t_unlike "$ERR" "encrypted" "has nothing more to encrypt"

# ---- the key file ---------------------------------------------------------------------------
chmod 644 "$TEST_TMP/key2.only"
t_exit 78 "a world-readable key file is refused" acmectl webhooks rotate-key
t_like "$ERR" "secret key file $TEST_TMP/key2.only holds a secret and is accessible by others \\(mode 0644\\); run: chmod 600" "with the fix"
t_exit 78 "the worker refuses to start with it" acmectl worker --burst --queues webhooks
chmod 600 "$TEST_TMP/key2.only"
printf '# keys\nnot-a-key\n' >"$TEST_TMP/bad.key"
chmod 600 "$TEST_TMP/bad.key"
ACME_SECRET_KEY_FILE="$TEST_TMP/bad.key" t_exit 78 "a malformed key file is refused" acmectl webhooks rotate-key
t_like "$ERR" "bad.key:2: not a key" "naming the line"
ACME_SECRET_KEY_FILE="$TEST_TMP/none" t_exit 78 "a missing key file" acmectl webhooks rotate-key
t_like "$ERR" "openssl rand -base64 32" "says how to make one"
t_unlike "$(cat "$TEST_TMP/worker.log" "$TEST_TMP/transcript" 2>/dev/null)" "$(head -n1 "$TEST_TMP/key2.only")" "the key never appears in output"

t_done
