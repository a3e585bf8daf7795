#!/bin/sh
# Every change commits with its outbox event and its audit row or not at all:
# a test-only trigger makes the outbox insert (then the audit insert) fail,
# and create, upsert, update, delete and bulk delete must leave the catalog
# exactly as it was, with no event and no audit row.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

tpsql -c "INSERT INTO products (sku, name, price) VALUES ('KEEP-1', 'keep one', 1), ('KEEP-2', 'keep two', 2)"
snapshot() {
	tpsql -c "SELECT string_agg(id || ':' || sku || ':' || name || ':' || coalesce(price::text, '-') || ':' || active || ':' || updated_at, ',' ORDER BY id) FROM products"
	tpsql -c "SELECT count(*) FROM outbox"
	tpsql -c "SELECT count(*) FROM audit_log"
}
# fail_on TABLE: every insert into TABLE raises an error
fail_on() {
	tpsql -c "SET client_min_messages = warning" -c "CREATE OR REPLACE FUNCTION t4030_fail() RETURNS trigger LANGUAGE plpgsql AS
		\$\$ BEGIN RAISE EXCEPTION 't4030: % insert refused', TG_TABLE_NAME; END \$\$" \
	      -c "DROP TRIGGER IF EXISTS t4030_fail ON outbox" -c "DROP TRIGGER IF EXISTS t4030_fail ON audit_log" \
	      -c "CREATE TRIGGER t4030_fail BEFORE INSERT ON $1 FOR EACH ROW EXECUTE FUNCTION t4030_fail()"
}

for table in outbox audit_log; do
	fail_on $table
	before=$(snapshot)
	t_exit 1 "$table fails: create fails" acmectl products create --sku NEW-1 --name new
	t_like "$ERR" "t4030: $table insert refused" "the error is the $table's"
	t_is "$(snapshot)" "$before" "$table fails: create left nothing behind"
	t_exit 1 "$table fails: upsert fails" acmectl products create --sku keep-1 --name changed --upsert
	t_is "$(snapshot)" "$before" "$table fails: upsert rolled back"
	t_exit 1 "$table fails: JSON batch fails" acmectl products create --from-json - <<'JSON'
[{"sku": "NEW-2", "name": "a"}, {"sku": "NEW-3", "name": "b"}]
JSON
	t_is "$(snapshot)" "$before" "$table fails: batch rolled back"
	t_exit 1 "$table fails: update fails" acmectl products update KEEP-1 --price 9 --name changed
	t_is "$(snapshot)" "$before" "$table fails: update rolled back"
	t_exit 1 "$table fails: delete fails" acmectl products delete KEEP-1 KEEP-2
	t_is "$(snapshot)" "$before" "$table fails: delete rolled back"
	t_exit 1 "$table fails: bulk delete fails" acmectl products delete --all --yes
	t_is "$(snapshot)" "$before" "$table fails: bulk delete rolled back"
done

tpsql -c "DROP TRIGGER t4030_fail ON audit_log"
# and with both tables working, each change writes exactly one event and one audit row
t_ok "create" acmectl products create --sku NEW-1 --name new
t_ok "update" acmectl products update NEW-1 --price 3
t_ok "delete" acmectl products delete NEW-1
t_ok "bulk delete" acmectl products delete --all --yes
t_is "$(tpsql -c "SELECT string_agg(event_type, ' ' ORDER BY id) FROM outbox")" \
	"product.created product.updated product.deleted product.bulk_deleted" "one event per change, in order"
t_is "$(tpsql -c "SELECT string_agg(command || '=' || target, ' ' ORDER BY id) FROM audit_log WHERE command LIKE 'products%'")" \
	"products create=NEW-1 products update=NEW-1 products delete=NEW-1 products delete=*" "one audit row per change"
t_is "$(tpsql -c "SELECT count(*) FROM (SELECT xmin FROM outbox) o JOIN (SELECT xmin FROM audit_log WHERE command LIKE 'products%') a USING (xmin)")" \
	4 "each event and its audit row were written by the same transaction"

t_done
