#!/bin/sh
# Verbs that change or destroy anything run under their full name only; read
# only verbs and command names may still be shortened. Unknown options get a
# did-you-mean. Regression (issue 11, point 1): `acmectl products d 1` matched
# "delete" by prefix and deleted the product whose SKU is "1" without asking.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

t_ok "a product with SKU 1" acmectl products create --sku 1 --name one
t_exit 2 "products d 1 is refused" acmectl products d 1 </dev/null
t_like "$ERR" "'d' could be: delete" "it lists the candidates"
t_like "$ERR" "must be typed in full" "and says why"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku = '1'")" 1 "the product survives"
t_exit 2 "products del 1 is refused too" acmectl products del 1 </dev/null
t_exit 2 "products upd is refused" acmectl products upd 1 --name two
t_is "$(tpsql -c "SELECT name FROM products WHERE sku = '1'")" one "nothing was updated"

# every verb that changes something, shortened by one letter, is refused
for cv in "products create" "products update" "products delete" "jobs enqueue" "jobs cancel" \
	"jobs retry" "jobs purge" "jobs pause" "jobs resume" "webhooks add" "webhooks edit" \
	"webhooks delete" "webhooks enable" "webhooks disable" "webhooks rotate-secret" \
	"webhooks redeliver" "webhooks test" "migrate up" "migrate down" "migrate baseline" \
	"dev up" "dev down"; do
	c=${cv% *}; v=${cv#* }
	p=$(printf '%s' "$v" | sed 's/.$//')
	t_exit 2 "acmectl $c $p (prefix of $v) is refused" acmectl "$c" "$p" </dev/null
	t_like "$ERR" "could be: .*$v" "acmectl $c $p names $v"
done
t_exit 2 "an ambiguous read-only prefix exits 2" acmectl jobs s
t_like "$ERR" "'s' could be: show, stats, schedules" "and lists the candidates"

# read-only verbs and commands may be shortened
t_ok "products g 1 (get) still works" acmectl prod g 1
t_like "$OUT" "one" "and shows the product"
t_ok "products l (list) works" acmectl products l
t_ok "the full name works" acmectl products delete 1 </dev/null
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku = '1'")" 0 "and deletes"

# unknown options: did you mean
t_exit 2 "--limt is refused" acmectl products list --limt 3
t_like "$ERR" "unknown option --limt; did you mean --limit\\?" "with a did-you-mean"
t_exit 2 "--outptu is refused" acmectl config show --outptu json
t_like "$ERR" "did you mean --output\\?" "global options are suggested too"
t_exit 2 "nonsense options get no suggestion" acmectl config show --zzzzzzzz
t_unlike "$ERR" "did you mean" "when nothing is near"

t_done
