#!/bin/sh
# products delete asks before it deletes: bulk deletes on a terminal (a pty
# from script(1)) want the number of products typed back, and in production
# the environment name too; without a terminal they need --yes; a refusal
# deletes nothing and exits 4. One product.bulk_deleted event and one audit
# row per bulk delete. Deletes by SKU ask only in production.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
command -v script >/dev/null 2>&1 || t_skip_all "script(1) is not installed"

count() { tpsql -c "SELECT count(*) FROM products${1:+ WHERE $1}"; }
seed() {
	tpsql -c "DELETE FROM products" -c "INSERT INTO products (sku, name, active)
		SELECT CASE WHEN g <= 5 THEN 'OLD-' ELSE 'NEW-' END || g, 'p' || g, g % 2 = 0
		FROM generate_series(1, 12) g"
}
# on_tty INPUT CMD...: run CMD on a pty with INPUT typed (lines separated by
# \n); output in $OUT, status in $_t_rc
on_tty() {
	_in=$1; shift
	_cmd=$(printf "'%s' " "$@")
	printf "$_in" | script -qec "$_cmd" /dev/null >"$TEST_TMP/tty" 2>&1
	_t_rc=$?
	OUT=$(tr -d '\r' <"$TEST_TMP/tty")
}
t_tty() {	# want desc input cmd...
	_want=$1; _d=$2; shift 2
	on_tty "$@"
	[ "$_t_rc" -eq "$_want" ] || t_diag "exit $_t_rc (wanted $_want)" "$OUT"
	t_is "$_t_rc" "$_want" "$_d"
}

seed
# ---- without a terminal ----------------------------------------------------------------
t_exit 4 "bulk delete without a terminal and without --yes is refused" \
	acmectl products delete --sku 'OLD-*' </dev/null
t_like "$ERR" "refusing to delete 5 products matching .* without --yes.*nothing was deleted" \
	"the refusal says how many and what to do"
t_is "$(count)" 12 "the refusal deleted nothing"
t_exit 4 "--all without a terminal is refused too" acmectl products delete --all </dev/null
t_is "$(count "sku LIKE 'OLD-%'")" 5 "still nothing deleted"
t_is "$(tpsql -c "SELECT count(*) FROM outbox") $(tpsql -c "SELECT count(*) FROM audit_log WHERE command LIKE 'products%'")" \
	"0 0" "a refusal writes no event and no audit row"

t_ok "bulk delete with --yes" acmectl products delete --sku 'OLD-*' --active --yes </dev/null
t_like "$ERR" "deleted 2 products" "it says how many went"
t_is "$(count "sku LIKE 'OLD-%'")" 3 "exactly the matching products went"
t_is "$(tpsql -c "SELECT event_type || ' ' || payload::text FROM outbox")" \
	'product.bulk_deleted {"count": 2, "filter": {"sku": "OLD-*", "active": true}}' \
	"one product.bulk_deleted event with the count and the filter"
t_is "$(tpsql -c "SELECT command || '|' || target || '|' || (details->>'count') FROM audit_log WHERE command LIKE 'products%'")" \
	'products delete|{"sku":"OLD-*","active":true}|2' "one audit row with the filter and the count"
t_ok "bulk delete of nothing" acmectl products delete --sku 'NOPE*' </dev/null
t_like "$ERR" "no products match; nothing to delete" "nothing to delete is not an error"
t_exit 2 "delete without arguments or filters" acmectl products delete --yes
t_exit 2 "--all with a filter" acmectl products delete --all --active --yes
t_exit 2 "SKUs and filters together" acmectl products delete NEW-6 --active --yes
t_ok "delete by SKU needs no confirmation outside production" acmectl products delete NEW-6 </dev/null
t_is "$(count "sku = 'NEW-6'")" 0 "deleted"

# ---- on a terminal ---------------------------------------------------------------------------
seed
t_tty 4 "a wrong number is refused" '4\n' "$ACMECTL" products delete --sku 'old-*'
t_like "$OUT" "This deletes 5 products matching .* from the test database" "the prompt says how many and where"
t_like "$OUT" "Type the number of products \\(5\\) to confirm:" "the prompt asks for the number"
t_like "$OUT" "not confirmed; nothing was deleted" "the refusal is explained"
t_is "$(count)" 12 "a wrong number deletes nothing"
t_tty 4 "y is not the number" 'y\n' "$ACMECTL" products delete --sku 'old-*'
t_tty 4 "no answer (end of input) is a refusal" '' "$ACMECTL" products delete --sku 'old-*'
t_is "$(count)" 12 "still nothing deleted"
t_tty 0 "typing the number deletes" '5\n' "$ACMECTL" products delete --sku 'old-*'
t_like "$OUT" "deleted 5 products" "it says so"
t_is "$(count "sku LIKE 'OLD-%'")" 0 "the matching products are gone"
t_is "$(count)" 7 "the others stay"
t_tty 0 "--all on a terminal: type the number" '7\n' "$ACMECTL" products delete --all
t_like "$OUT" "This deletes all 7 products" "--all says all"
t_is "$(count)" 0 "every product is gone"
seed
t_tty 0 "--yes on a terminal does not ask" '' "$ACMECTL" products delete --all --yes
t_unlike "$OUT" "Type the" "no prompt with --yes"
t_is "$(count)" 0 "deleted"

# the catalog changes between the question and the answer: nothing is deleted
seed
{ sleep 1; tpsql -c "INSERT INTO products (sku, name) VALUES ('OLD-99', 'late')"; printf '5\n'; } |
	script -qec "'$ACMECTL' products delete --sku 'OLD-*'" /dev/null >"$TEST_TMP/tty" 2>&1
t_is "$?" 75 "a confirmed count that no longer matches exits 75"
t_like "$(cat "$TEST_TMP/tty")" "6 products matched when you confirmed 5.*nothing was deleted" "and says why"
t_is "$(count "sku LIKE 'OLD-%'")" 6 "nothing was deleted"

# ---- production -------------------------------------------------------------------------------------
seed
export ACME_ENV=production
t_tty 4 "production: the number alone is not enough" '5\nno\n' "$ACMECTL" products delete --sku 'OLD-*'
t_like "$OUT" "Type the environment name \\(production\\) to confirm:" "production asks for its name"
t_is "$(count)" 12 "nothing deleted"
t_tty 0 "production: number and environment name" '5\nproduction\n' "$ACMECTL" products delete --sku 'OLD-*'
t_is "$(count "sku LIKE 'OLD-%'")" 0 "deleted"
t_is "$(tpsql -c "SELECT environment FROM audit_log ORDER BY id DESC LIMIT 1")" production "the audit row says production"
t_exit 4 "production: delete by SKU without a terminal needs --yes" acmectl products delete NEW-6 </dev/null
t_is "$(count "sku = 'NEW-6'")" 1 "not deleted"
t_tty 4 "production: delete by SKU on a terminal, wrong name" 'prod\n' "$ACMECTL" products delete NEW-6
t_like "$OUT" "This deletes 1 product from the production database" "the prompt names the environment"
t_tty 0 "production: delete by SKU on a terminal, right name" 'production\n' "$ACMECTL" products delete NEW-6
t_is "$(count "sku = 'NEW-6'")" 0 "deleted"
t_ok "production: delete by SKU with --yes" acmectl products delete NEW-7 --yes </dev/null
t_exit 4 "production: bulk delete without a terminal needs --yes" acmectl products delete --all </dev/null
t_ok "production: bulk delete with --yes" acmectl products delete --all --yes </dev/null
t_is "$(count)" 0 "deleted"

t_done
