#!/bin/sh
# Migrations that fail: a transactional one rolls back completely and names
# its statement; a no-transaction one leaves a marker that stops later runs
# until it is repaired (golang-migrate's "dirty" database, but explained);
# lock_timeout fires and names the lock it waited for; --lock-timeout expires
# with 75 while another migrator holds the advisory lock.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

# The failures below are migrations numbered after 0001: revert the binary's
# later migrations (0002_webhook_secret_keys: nothing encrypted yet) first.
t_ok "revert to 0001" acmectl migrate down 1 --yes
t_is "$(tpsql -c 'SELECT max(version) FROM acmectl_migrations')" 1 "the history ends at 0001"

mdir="$TEST_TMP/migrations"
mkdir -p "$mdir"
cp "$TEST_TOP/core/migrations/0001_initial.sql" "$mdir/"
export ACME_MIGRATIONS_DIR="$mdir"
PSQL="$TEST_PG_BIN/psql -X -q -At -h $TEST_PG_HOST -U acme -d $TEST_DB"

history() { tpsql -c "SELECT string_agg(version || ':' || state, ',' ORDER BY version) FROM acmectl_migrations"; }

# wait until a background session shows up in pg_locks (query returns t)
wait_for() {
	i=0
	while [ "$(tpsql -c "$1")" != t ]; do
		i=$((i + 1)); [ $i -lt 100 ] || return 1
		sleep 0.1
	done
}

# Is the lock of the background session still granted? (its holder never
# lets go by itself: it sleeps an hour and is ended by stop_app)
holds() { tpsql -c "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	WHERE a.application_name = '$1' AND $2 AND l.granted)"; }

stop_app() {	# application_name
	tpsql -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '$1'" >/dev/null
}

# ---- a failing migration in a transaction ----
cat > "$mdir/0002_fail.sql" <<'EOF'
CREATE TABLE t1020_a (id int);
INSERT INTO t1020_a VALUES (1);
-- the next statement fails
SELECT 1 / 0;
-- acmectl:down
DROP TABLE t1020_a;
EOF
t_exit 1 "a failing migration exits 1" acmectl migrate up
t_like "$ERR" "migration 0002 fail \\(up\\): line 4: \"SELECT 1 / 0\": division by zero" \
	"the error names the migration, line and statement"
t_like "$ERR" "rolled back" "the error says it was rolled back"
t_is "$(tpsql -c "SELECT to_regclass('t1020_a') IS NULL")" t "its earlier statements were rolled back"
t_is "$(history)" "1:applied" "the database stays at 0001"
rm "$mdir/0002_fail.sql"

# ---- no-transaction: one statement only ----
printf -- '-- acmectl:no-transaction\nCREATE INDEX CONCURRENTLY a ON products (name);\nCREATE INDEX CONCURRENTLY b ON products (sku);\n' \
	> "$mdir/0002_two.sql"
t_exit 65 "a no-transaction migration with two statements is refused" acmectl migrate up
t_like "$ERR" "0002_two.sql: .*exactly one statement" "the refusal names the file"
t_exit 65 "even list refuses a malformed migration" acmectl migrate list
rm "$mdir/0002_two.sql"

# ---- no-transaction: success and down ----
cat > "$mdir/0002_idx.sql" <<'EOF'
-- acmectl:no-transaction
CREATE INDEX CONCURRENTLY t1020_desc_idx ON products (description);
-- acmectl:down
-- acmectl:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS t1020_desc_idx;
EOF
t_ok "a no-transaction migration" acmectl migrate up
t_like "$ERR" "applying 0002 idx \\(outside a transaction\\)" "it says it runs outside a transaction"
t_is "$(tpsql -c "SELECT indisvalid FROM pg_index WHERE indexrelid = 't1020_desc_idx'::regclass")" t \
	"the index was built and is valid"
t_is "$(history)" "1:applied,2:applied" "history records it"
t_ok "its down part runs outside a transaction too" acmectl migrate down --yes
t_is "$(tpsql -c "SELECT to_regclass('t1020_desc_idx') IS NULL")" t "the index is gone"
t_is "$(history)" "1:applied" "history forgot it"

# ---- no-transaction: failure leaves a marker ----
tpsql -c "INSERT INTO products (sku, name) VALUES ('T1020-A', 'a'), ('T1020-B', 'b')"
cat > "$mdir/0003_uniq.sql" <<'EOF'
-- acmectl:no-transaction
CREATE UNIQUE INDEX CONCURRENTLY t1020_uniq ON products (active);
-- acmectl:down
-- acmectl:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS t1020_uniq;
EOF
t_exit 1 "a failing no-transaction migration exits 1" acmectl migrate up
t_like "$ERR" "migration 0003 uniq \\(up\\): line 2: \"CREATE UNIQUE INDEX CONCURRENTLY" \
	"the error names the statement"
t_like "$ERR" "marked failed in acmectl_migrations" "the error says it left a marker"
t_is "$(history)" "1:applied,2:applied,3:failed" "history holds the failed marker"
t_like "$(tpsql -c 'SELECT error FROM acmectl_migrations WHERE version = 3')" "could not create unique index" \
	"the marker keeps the error"
t_is "$(tpsql -c "SELECT indisvalid FROM pg_index WHERE indexrelid = 't1020_uniq'::regclass")" f \
	"the half-built index is left behind (what the marker warns about)"

t_exit 65 "the next run stops at the marker" acmectl migrate up
t_like "$ERR" "0003 uniq was interrupted or failed outside a transaction" "it names the failed migration"
t_like "$ERR" "--retry-failed" "it says how to proceed"
t_ok "status shows the marker" acmectl migrate status
t_like "$OUT" "uniq	failed" "status lists 0003 as failed"
t_exit 65 "status --exit-code is 65 with a failed migration" acmectl migrate status --exit-code
t_exit 65 "verify is 65 with a failed migration" acmectl migrate verify
t_exit 1 "health --ready fails for good with a failed migration" acmectl health --ready
t_like "$ERR" "needs repair" "health says it needs repair"

# repair path 1: down runs the down part (drops the invalid index) and removes the marker
t_ok "down reverts the failed migration" acmectl migrate down --yes
t_is "$(history)" "1:applied,2:applied" "the marker is gone"
t_is "$(tpsql -c "SELECT to_regclass('t1020_uniq') IS NULL")" t "the invalid index is gone"

# repair path 2: fix by hand, then --retry-failed
t_exit 1 "fails again" acmectl migrate up
tpsql -c "DROP INDEX t1020_uniq; DELETE FROM products WHERE sku = 'T1020-B'"
t_ok "up --retry-failed after the repair" acmectl migrate up --retry-failed
t_is "$(history)" "1:applied,2:applied,3:applied" "0003 is applied"
t_is "$(tpsql -c "SELECT indisvalid FROM pg_index WHERE indexrelid = 't1020_uniq'::regclass")" t \
	"the index is valid now"

# repair path 3: an interrupted run (a "running" row) recorded as done with baseline
tpsql -c "UPDATE acmectl_migrations SET state = 'running' WHERE version = 3"
t_exit 65 "an interrupted no-transaction migration stops later runs" acmectl migrate up
t_ok "status shows it interrupted" acmectl migrate status
t_like "$OUT" "uniq	interrupted" "status says interrupted"
t_ok "baseline records it as done" acmectl migrate baseline 3 --yes
t_is "$(history)" "1:applied,2:applied,3:baseline" "0003 is a baseline row"
t_ok "up is clean again" acmectl migrate up

# ---- lock_timeout names the lock ----
cat > "$mdir/0004_add_col.sql" <<'EOF'
ALTER TABLE products ADD COLUMN t1020_col int;
-- acmectl:down
ALTER TABLE products DROP COLUMN t1020_col;
EOF
PGAPPNAME=t1020-holder $PSQL -c "BEGIN; LOCK TABLE products IN ACCESS SHARE MODE; SELECT pg_sleep(3600)" \
	>/dev/null 2>&1 &
holder=$!
wait_for "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	WHERE a.application_name = 't1020-holder' AND l.relation = 'products'::regclass AND l.granted)"
# The holder keeps its lock for an hour, so only the lock timeout can end the
# wait (the message's figure is the lock_timeout acmectl set); the 120 s
# bound only turns a hang into a failure.
t_exit 75 "a migration waiting on a busy table gives up (75)" \
	timeout --foreground 120 "$ACMECTL" migrate up --ddl-lock-timeout 1s
t_like "$ERR" "gave up after waiting 1.0 s for AccessExclusiveLock on relation products" \
	"the error names the lock and the relation"
t_like "$ERR" "held by pid [0-9]+ \\(t1020-holder, (active|idle in transaction)\\)" "the error names the holder"
t_like "$ERR" "line 1: \"ALTER TABLE products ADD COLUMN t1020_col int\"" "the error names the statement"
t_is "$(holds t1020-holder "l.relation = 'products'::regclass")" t \
	"it gave up while the lock was still held (its own timeout, not the holder's end)"
t_is "$(tpsql -c "SELECT count(*) FROM information_schema.columns WHERE column_name = 't1020_col'")" 0 \
	"nothing was applied"
t_is "$(history)" "1:applied,2:applied,3:baseline" "history unchanged"
stop_app t1020-holder
wait $holder 2>/dev/null

# ---- the advisory lock: another migrator holds it ----
PGAPPNAME=t1020-migrator $PSQL -c "SELECT pg_advisory_lock(1634561381, 1835624306); SELECT pg_sleep(3600)" \
	>/dev/null 2>&1 &
migrator=$!
wait_for "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	WHERE a.application_name = 't1020-migrator' AND l.locktype = 'advisory' AND l.granted)"
# the default --lock-timeout is 5 min: the 120 s bound fails a run that ignores
# the option, and the holder (an hour) cannot end the wait for it
t_exit 75 "--lock-timeout expires while another migrator holds the lock" \
	timeout --foreground 120 "$ACMECTL" migrate up --lock-timeout 1s
t_like "$ERR" "another migrator holds the migration lock \\(pid [0-9]+ \\(t1020-migrator" \
	"the error names the other migrator"
t_like "$ERR" "--lock-timeout" "the error says how to wait longer"
t_like "$ERR" "gave up after ([1-9]|[1-9][0-9])\\.[0-9] s" "it waited out the timeout before giving up"
t_is "$(holds t1020-migrator "l.locktype = 'advisory'")" t \
	"it gave up while the other migrator still held the lock"
t_ok "status works while the lock is held" acmectl migrate status
rm "$mdir/0004_add_col.sql"
t_ok "at head, up needs no lock" acmectl migrate up --lock-timeout 1s
t_like "$ERR" "nothing to do" "and finds nothing to do"
stop_app t1020-migrator
wait $migrator 2>/dev/null

t_done
