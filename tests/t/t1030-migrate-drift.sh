#!/bin/sh
# What the history must agree on with the binary: an edited migration
# (checksum drift), versions the binary does not know, and out-of-order
# versions are refused with 65 and named; line-end and BOM variants of the
# same file are not drift (Flyway's false alarms after a checkout).
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

# The checks below run on a history of 0001 alone: revert the binary's later
# migrations (0002_webhook_secret_keys: no secret is encrypted yet, so its
# down part may run) before reading migrations from a directory.
t_ok "revert to 0001" acmectl migrate down 1 --yes
t_is "$(tpsql -c 'SELECT max(version) FROM acmectl_migrations')" 1 "the history ends at 0001"

mdir="$TEST_TMP/migrations"
mkdir -p "$mdir"
orig="$TEST_TOP/core/migrations/0001_initial.sql"
export ACME_MIGRATIONS_DIR="$mdir"

# ---- CRLF and BOM variants verify clean ----
sed 's/$/\r/' "$orig" > "$mdir/0001_initial.sql"
t_ok "a CRLF copy of 0001 verifies" acmectl migrate verify
t_ok "and up finds nothing to do" acmectl migrate up
t_like "$ERR" "nothing to do" "CRLF is not an edit"
{ printf '\357\273\277'; cat "$orig"; } > "$mdir/0001_initial.sql"
t_ok "a BOM copy of 0001 verifies" acmectl migrate verify
{ printf '\357\273\277'; sed 's/$/\r/' "$orig"; } > "$mdir/0001_initial.sql"
t_ok "a BOM + CRLF copy of 0001 verifies" acmectl migrate verify
t_ok "list of the BOM + CRLF copy" acmectl migrate list -o json
t_json "$OUT" "d['items'][0]['checksum'] == '$(sha256sum "$orig" | cut -d' ' -f1)'" \
	"its checksum is the LF file's SHA-256"
t_ok "print keeps the file as it is" acmectl migrate print 1
t_like "$(printf '%s' "$OUT" | od -c | head -n 1)" "357 273 277" "print does not rewrite the bytes"

# ---- drift ----
{ cat "$orig"; printf -- '-- an innocent-looking edit\n'; } > "$mdir/0001_initial.sql"
t_exit 65 "verify refuses an edited migration" acmectl migrate verify
t_like "$ERR" "checksum mismatch for 0001 initial" "verify names the drifted version"
t_like "$ERR" "new migration" "verify says what to do"
printf 'SELECT 1;\n' > "$mdir/0002_next.sql"
t_exit 65 "up refuses to run past drift" acmectl migrate up
t_is "$(tpsql -c 'SELECT max(version) FROM acmectl_migrations')" 1 "nothing was applied"
t_exit 65 "status --exit-code is 65 with drift" acmectl migrate status --exit-code
t_like "$OUT" "initial	drifted" "status marks it drifted"
t_ok "status -o json reports the problem" acmectl migrate status -o json
t_json "$OUT" "d['items'][0]['state'] == 'drifted' and 'checksum mismatch' in d['problem']" \
	"status JSON names the problem"
t_exit 65 "baseline refuses with drift too" acmectl migrate baseline 2
cp "$orig" "$mdir/0001_initial.sql"
t_ok "restoring the file clears it" acmectl migrate verify
rm "$mdir/0002_next.sql"

# ---- versions this binary does not know ----
tpsql -c "INSERT INTO acmectl_migrations (version, name, checksum, applied_by, tool_version)
	VALUES (9999, 'from_the_future', 'x', 'someone@elsewhere', 'acmectl 9.9.9')"
t_exit 65 "verify refuses unknown applied versions" acmectl migrate verify
t_like "$ERR" "does not know: 9999 from_the_future" "verify names the unknown version"
t_exit 65 "up refuses unknown applied versions" acmectl migrate up
t_exit 65 "down refuses unknown applied versions" acmectl migrate down --yes
t_is "$(tpsql -c "SELECT to_regclass('products') IS NOT NULL")" t "down reverted nothing"
t_ok "status still reports" acmectl migrate status
t_like "$OUT" "from_the_future	unknown" "status lists it as unknown"
t_ok "health --ready passes when the database is ahead (rolling deploys)" acmectl health --ready -o json
t_json "$OUT" "'ahead' in d['checks']['schema']['detail']" "health notes the database is ahead"
tpsql -c "DELETE FROM acmectl_migrations WHERE version = 9999"

# ---- gaps: a pending version below an applied one ----
cat > "$mdir/0003_third.sql" <<'EOF'
CREATE TABLE t1030_third (id int);
-- acmectl:down
DROP TABLE t1030_third;
EOF
t_ok "apply 0003" acmectl migrate up
cat > "$mdir/0002_second.sql" <<'EOF'
CREATE TABLE t1030_second (id int);
EOF
t_exit 65 "a pending version below an applied one is refused" acmectl migrate up
t_like "$ERR" "0002 second is pending but 0003 is already applied" "the refusal names both versions"
t_is "$(tpsql -c "SELECT to_regclass('t1030_second') IS NULL")" t "0002 did not run"
t_ok "status shows it out of order" acmectl migrate status
t_like "$OUT" "second	out-of-order" "status marks it"
t_exit 65 "status --exit-code is 65 with a gap" acmectl migrate status --exit-code
t_ok "verify is not about pending versions" acmectl migrate verify

t_done
