#!/bin/sh
# migrate on a fresh database: status, dry run, up, re-run, verify, list,
# print, --to, down (with its confirmation rules), baseline, audit rows.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers --empty

# This file checks the history of 0001 alone: the binary's later migrations
# (0002_webhook_secret_keys, ...) are left out by reading 0001 from a
# directory (ACME_MIGRATIONS_DIR, honoured in the test environment).
m1dir="$TEST_TMP/m1"
mkdir -p "$m1dir"
cp "$TEST_TOP/core/migrations/0001_initial.sql" "$m1dir/"
export ACME_MIGRATIONS_DIR="$m1dir"

t_exit 2 "'he' is an ambiguous prefix (health, help)" acmectl he
t_like "$ERR" "ambiguous" "the ambiguity is explained"

# ---- a fresh database ----
t_ok "status on an empty database" acmectl migrate status
t_like "$OUT" "initial.*pending" "0001 is pending"
t_like "$ERR" "database at 0000" "status says where the database is"
t_exit 1 "status --exit-code is 1 while migrations are pending" acmectl migrate status --exit-code

t_ok "up --dry-run" acmectl migrate up --dry-run
t_like "$OUT" "CREATE TABLE products" "dry run prints the SQL"
t_like "$OUT" "^-- apply 0001 initial" "dry run names the migration"
t_is "$(tpsql -c "SELECT to_regclass('acmectl_migrations') IS NULL AND to_regclass('products') IS NULL")" \
	t "dry run changed nothing (no history table, no products)"

t_ok "up --dry-run -o json" acmectl migrate up --dry-run -o json
t_json "$OUT" "d['dry_run'] and d['plan'][0]['version'] == 1 and d['plan'][0]['transaction']" \
	"dry run JSON lists the plan"

t_ok "up applies the schema" acmectl migrate up
t_like "$ERR" "applied 0001 initial" "up reports what it applied"
for tbl in products jobs uploads uploads_chunks import_errors webhooks webhook_deliveries \
	webhook_attempts outbox audit_log; do
	t_is "$(tpsql -c "SELECT to_regclass('$tbl') IS NOT NULL")" t "table $tbl exists"
done
t_is "$(tpsql -c "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")" 1 "pg_trgm is installed"
t_is "$(tpsql -c "SELECT version || ' ' || name || ' ' || state FROM acmectl_migrations")" \
	"1 initial applied" "history holds 0001"
t_like "$(tpsql -c "SELECT applied_by FROM acmectl_migrations")" "^[^@]+@.+" "applied_by is user@host"
t_like "$(tpsql -c "SELECT tool_version FROM acmectl_migrations")" "^acmectl [0-9]" "tool_version is recorded"
t_like "$(tpsql -c "SELECT execution_ms FROM acmectl_migrations")" "^[0-9]+$" "execution_ms is recorded"

# the schema behaves as documented
t_ok "SKUs are unique case-insensitively" tpsql -c "INSERT INTO products (sku, name) VALUES ('AbC-1', 'x')"
t_exit 1 "a case variant of a SKU is refused" tpsql -c "INSERT INTO products (sku, name) VALUES ('abc-1', 'y')"
t_ok "upsert on sku_lower" tpsql -c "INSERT INTO products (sku, name) VALUES ('ABC-1', 'z')
	ON CONFLICT (sku_lower) DO UPDATE SET name = EXCLUDED.name"
t_is "$(tpsql -c "SELECT sku || ' ' || name FROM products")" "AbC-1 z" "the upsert updated the row"
t_exit 1 "job states are checked" tpsql -c "INSERT INTO jobs (id, type, state) VALUES ('j1', 'noop', 'bogus')"

# ---- re-running and inspecting ----
t_ok "up again" acmectl migrate up
t_like "$ERR" "nothing to do" "re-run is a no-op"
t_is "$(tpsql -c "SELECT count(*) FROM acmectl_migrations")" 1 "still one history row"
t_ok "status --exit-code at head" acmectl migrate status --exit-code
t_ok "status -o json" acmectl migrate status -o json
t_json "$OUT" "d['current'] == d['head'] == 1 and d['pending'] == 0 and d['items'][0]['state'] == 'applied' and d['problem'] is None" \
	"status JSON says at head"
t_ok "verify" acmectl migrate verify
t_like "$ERR" "ok: 1 recorded migration matches" "verify says ok"

t_ok "list -o json" acmectl migrate list -o json
t_json "$OUT" "d['items'][0]['version'] == 1 and d['items'][0]['name'] == 'initial' and len(d['items'][0]['checksum']) == 64 and d['items'][0]['reversible']" \
	"list shows version, name, checksum"
t_is "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["checksum"])')" \
	"$(tpsql -c 'SELECT checksum FROM acmectl_migrations')" "the recorded checksum is the binary's"
t_is "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["checksum"])')" \
	"$(sha256sum "$TEST_TOP/core/migrations/0001_initial.sql" | cut -d' ' -f1)" \
	"the checksum is the file's SHA-256"
t_ok "print 1" acmectl migrate print 1
t_is "$OUT" "$(cat "$TEST_TOP/core/migrations/0001_initial.sql")" "print shows the file"
t_ok "print 0001_initial" acmectl migrate print 0001_initial
t_exit 3 "print of an unknown version" acmectl migrate print 999
t_exit 2 "print of a non-version" acmectl migrate print latest

# ---- more migrations, from a test directory ----
mdir="$TEST_TMP/migrations"
mkdir -p "$mdir"
cp "$TEST_TOP/core/migrations/0001_initial.sql" "$mdir/"
cat > "$mdir/0002_add_color.sql" <<'EOF'
ALTER TABLE products ADD COLUMN t1000_color text;
-- acmectl:down
ALTER TABLE products DROP COLUMN t1000_color;
EOF
cat > "$mdir/0003_add_size.sql" <<'EOF'
ALTER TABLE products ADD COLUMN t1000_size int;
COMMENT ON COLUMN products.t1000_size IS 'test; with a semicolon';
-- acmectl:down
ALTER TABLE products DROP COLUMN t1000_size;
EOF
export ACME_MIGRATIONS_DIR="$mdir"

t_ok "list reads the test directory" acmectl migrate list
t_like "$ERR" "ACME_MIGRATIONS_DIR" "list says where migrations come from"
t_like "$OUT" "add_size" "list shows 0003"
t_ok "the test directory is ignored outside the test environment" \
	env ACME_ENV=development "$ACMECTL" migrate list
t_unlike "$OUT" "add_size" "development lists only embedded migrations"

t_exit 3 "--to an unknown version" acmectl migrate up --to 7
t_exit 2 "--to garbage" acmectl migrate up --to x
t_ok "up --to 2" acmectl migrate up --to 2
t_is "$(tpsql -c 'SELECT max(version) FROM acmectl_migrations')" 2 "--to stopped at 0002"
t_exit 1 "status --exit-code: 0003 pending" acmectl migrate status --exit-code
t_ok "up --to 1 when past it" acmectl migrate up --to 1
t_like "$ERR" "already past 0001" "says it is past the target"
t_ok "up" acmectl migrate up
t_is "$(tpsql -c "SELECT string_agg(version::text, ',' ORDER BY version) FROM acmectl_migrations")" \
	"1,2,3" "all three applied"
t_is "$(tpsql -c "SELECT string_agg(target, ',' ORDER BY id) FROM audit_log WHERE command = 'migrate up'")" \
	"0001_initial,0002_add_color,0003_add_size" "every migration is audited (0001 in its own transaction)"

# ---- down ----
t_exit 4 "down without --yes and no TTY is refused" acmectl migrate down
t_like "$ERR" "--yes" "the refusal says how to confirm"
t_is "$(tpsql -c 'SELECT max(version) FROM acmectl_migrations')" 3 "refusals reverted nothing"
t_ok "down --dry-run" acmectl migrate down 2 --dry-run
t_like "$OUT" "DROP COLUMN t1000_size" "down dry run shows the down SQL"
t_ok "down 2 --yes" acmectl migrate down 2 --yes
t_like "$ERR" "reverted 0003 add_size" "down reverts the newest first"
t_is "$(tpsql -c 'SELECT max(version) FROM acmectl_migrations')" 1 "back at 0001"
t_is "$(tpsql -c "SELECT count(*) FROM information_schema.columns WHERE column_name LIKE 't1000_%'")" 0 \
	"the columns are gone"
t_exit 2 "down with a bad count" acmectl migrate down zero --yes

# a migration without a down part cannot be reverted
printf 'CREATE TABLE t1000_forever (id int);\n' > "$mdir/0002_add_color.sql"
rm "$mdir/0003_add_size.sql"
t_ok "up an irreversible migration" acmectl migrate up
t_exit 1 "down of a migration without a down part" acmectl migrate down --yes
t_like "$ERR" "0002 add_color has no down part" "the error names it"
t_is "$(tpsql -c "SELECT to_regclass('t1000_forever') IS NOT NULL")" t "nothing was reverted"
tpsql -c "DROP TABLE t1000_forever; DELETE FROM acmectl_migrations WHERE version = 2"
export ACME_MIGRATIONS_DIR="$m1dir"

t_exit 4 "down in production without --yes is refused" acmectl --env production migrate down
t_like "$ERR" "production" "the refusal names production"
t_is "$(tpsql -c "SELECT to_regclass('products') IS NOT NULL")" t "the refusal reverted nothing"

t_ok "down the initial schema" acmectl migrate down --yes
t_is "$(tpsql -c "SELECT to_regclass('products') IS NULL AND to_regclass('audit_log') IS NULL")" t \
	"down of 0001 dropped the schema"
t_is "$(tpsql -c 'SELECT count(*) FROM acmectl_migrations')" 0 "history is empty"
t_ok "down with nothing applied" acmectl migrate down --yes
t_like "$ERR" "nothing to do" "says nothing to do"

# ---- baseline ----
t_ok "up again after down" acmectl migrate up
tpsql -c "DELETE FROM acmectl_migrations"
t_exit 3 "baseline of an unknown version" acmectl migrate baseline 42
t_ok "baseline 1 records an existing schema" acmectl migrate baseline 1 --yes
t_is "$(tpsql -c 'SELECT state FROM acmectl_migrations WHERE version = 1')" baseline "0001 is a baseline row"
t_ok "up after baseline" acmectl migrate up
t_like "$ERR" "nothing to do" "baseline counts as applied"
t_ok "baseline again" acmectl migrate baseline 1
t_like "$ERR" "nothing to do" "a second baseline has nothing to do"
t_ok "verify after baseline" acmectl migrate verify

t_done
