#!/bin/bash
# Products are named by SKU; ids have their own form (issue 11, point 2).
# Regression: `products get 1` showed the product with id 1 when no SKU "1"
# existed, and a product whose SKU was "5" hid product 5 from get, update
# and delete; creating a duplicate SKU exited 1 instead of 4 (refused).
# Now a bare word is a SKU, always; id:N and --id N name an id; sku:TEXT
# names a SKU that itself starts with "id:"; completion follows the same rule.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

# Ids are made to differ from the numeric SKUs: product "1" is not id 1.
tpsql -c "SELECT setval(pg_get_serial_sequence('products', 'id'), 40)" >/dev/null
t_ok "create A-1" acmectl products create --sku A-1 --name 'first' -o json
ida=$(tpsql -c "SELECT id FROM products WHERE sku = 'A-1'")
t_ok "create a product whose SKU is a number" acmectl products create --sku "$ida" --name 'numeric' -o json
idn=$(tpsql -c "SELECT id FROM products WHERE sku = '$ida'")
t_ok "create a product whose SKU is 1" acmectl products create --sku 1 --name 'sku one' -o json

# ---- get ---------------------------------------------------------------------------
t_ok "get 1" acmectl products get 1 -o json
t_json "$OUT" "d['sku'] == '1' and d['name'] == 'sku one'" "get 1 finds SKU \"1\", not id 1"
t_ok "get of a number that is both a SKU and an id" acmectl products get "$ida" -o json
t_json "$OUT" "d['name'] == 'numeric' and d['id'] == $idn" "the bare number is the SKU"
t_ok "get id:N" acmectl products get "id:$ida" -o json
t_json "$OUT" "d['sku'] == 'A-1'" "id:N is the id"
t_ok "get --id N" acmectl products get --id "$ida" -o json
t_json "$OUT" "d['sku'] == 'A-1'" "--id N is the id"
t_exit 3 "a number that is only an id" acmectl products get "$idn"
t_like "$ERR" "no product with SKU \"$idn\".*id:$idn" "the message says how to name the id"
t_exit 3 "a missing id" acmectl products get id:999999
t_like "$ERR" "no product with id 999999" "the message names the id"
t_exit 2 "id:x" acmectl products get id:x
t_like "$ERR" "positive whole number" "a malformed id is a usage error"
t_exit 2 "a SKU and --id" acmectl products get A-1 --id "$ida"
t_exit 2 "neither" acmectl products get

# a SKU that starts with id: is named sku:...
tpsql -c "INSERT INTO products (sku, name) VALUES ('id:7', 'odd sku')"
t_ok "sku:id:7" acmectl products get sku:id:7 -o json
t_json "$OUT" "d['name'] == 'odd sku'" "sku:TEXT names the SKU TEXT"

# ---- update and delete ---------------------------------------------------------------
t_ok "update 1" acmectl products update 1 --name 'still sku one' -o json
t_json "$OUT" "d['sku'] == '1' and d['name'] == 'still sku one'" "update 1 changes SKU \"1\""
t_ok "update --id N" acmectl products update --id "$ida" --price 2 -o json
t_json "$OUT" "d['sku'] == 'A-1' and d['price'] == '2.00'" "update --id changes the id"
t_ok "update id:N" acmectl products update "id:$idn" --price 3 -o json
t_json "$OUT" "d['sku'] == '$ida' and d['price'] == '3.00'" "update id:N changes the id"
t_ok "delete a numeric SKU" acmectl products delete "$ida"
t_is "$(tpsql -c "SELECT string_agg(sku, ',' ORDER BY sku) FROM products")" "1,A-1,id:7" \
	"delete N deleted SKU \"N\", not id N"
t_ok "delete --id N and id:N" acmectl products delete --id "$ida" sku:id:7
t_is "$(tpsql -c "SELECT string_agg(sku, ',' ORDER BY sku) FROM products")" "1" "both are gone"

# ---- a duplicate SKU is refused (exit 4) with the existing id --------------------------------
id1=$(tpsql -c "SELECT id FROM products WHERE sku = '1'")
t_exit 4 "creating a duplicate SKU" acmectl products create --sku 1 --name again
t_like "$ERR" "SKU \"1\" already exists as product id:$id1" "the message names the existing id"

# ---- completion -------------------------------------------------------------------------
for n in 1 2 3; do acmectl products create --sku "C-$n" --name c >/dev/null 2>&1; done
idc=$(tpsql -c "SELECT min(id) FROM products WHERE sku LIKE 'C-%'")
t_is "$(acmectl __complete products get 'c-' | sort)" "$(printf 'C-1\nC-2\nC-3')" "bare words complete SKUs"
t_is "$(acmectl __complete products get "id:$idc")" "id:$idc" "id: completes ids"
t_like "$(acmectl __complete products get 'id:')" "^id:$id1\$" "id: lists ids"
t_unlike "$(acmectl __complete products get '')" "^id:" "ids are not offered for a bare word"
t_is "$(acmectl __complete products delete --id "$idc")" "$idc" "--id completes ids"
tpsql -c "INSERT INTO products (sku, name) VALUES ('id:9', 'odd')"
t_is "$(acmectl __complete products get 'i')" "sku:id:9" "a SKU starting with id: is offered as sku:"

# bash splits "id:12" at the colon (COMP_WORDBREAKS); the completion joins it again
. "$TEST_TOP/tests/lib/bash-comp.sh"
t_is "$(comp products get id : "$idc")" "$idc" "bash: id:N completes the part after the colon"
t_like "$(comp products get id : '')" "^$idc\$" "bash: id: offers ids"
t_is "$(comp products get c-)" "$(printf 'C-1\nC-2\nC-3')" "bash: SKUs still complete"

t_done
