#!/bin/sh
# products get/create/update/delete: the product rules of the importer (exit
# 65), SKU uniqueness in any case (exit 4 naming the product) and --upsert,
# SKU and id:N lookup (t4060 has the rest), missing products (exit 3), --from-json in its three shapes,
# and the outbox event and audit row every change writes; `acmectl audit`.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

count() { tpsql -c "SELECT count(*) FROM $1"; }

# ---- create ------------------------------------------------------------------------
t_ok "create" acmectl products create --sku ' ABC-1 ' --name ' Steel bracket ' --price 12.5 \
	--description 'Heavy, "quoted"' -o json
t_json "$OUT" "d['sku'] == 'ABC-1' and d['name'] == 'Steel bracket' and d['price'] == '12.50' and d['active'] is True and d['description'] == 'Heavy, \"quoted\"'" \
	"create trims SKU and name, normalises the price, prints the product"
id1=$(tpsql -c "SELECT id FROM products WHERE sku = 'ABC-1'")
t_like "$ERR" "created product $id1 \\(ABC-1\\)" "create says what it did on stderr"
t_is "$(tpsql -c "SELECT event_type || ' ' || (payload->>'sku') || ' ' || (payload->>'price') FROM outbox")" \
	"product.created ABC-1 12.50" "create writes product.created with the product"
t_is "$(tpsql -c "SELECT environment || '|' || command || '|' || target || '|' || (details->>'event') FROM audit_log WHERE command LIKE 'products%'")" \
	"test|products create|ABC-1|product.created" "create writes an audit row"
t_like "$(tpsql -c "SELECT os_user || '@' || host FROM audit_log WHERE command = 'products create'")" \
	"^$(id -un)@" "the audit row names the OS user"

t_exit 4 "a SKU that exists in another case" acmectl products create --sku abc-1 --name Other
t_like "$ERR" "SKU \"abc-1\" already exists as product id:$id1 \\(SKU \"ABC-1\", name \"Steel bracket\"\\)" \
	"the error names the existing product"
t_like "$ERR" "--upsert" "and says how to overwrite it"
t_is "$(count products)" 1 "nothing was created"
t_is "$(count outbox)" 1 "no event for a refused create"

t_ok "create --inactive" acmectl products create --sku B-2 --name Hinge --inactive -o json
t_json "$OUT" "d['active'] is False and d['price'] is None and d['description'] is None" "--inactive, no price, no description"
t_exit 2 "create without --name" acmectl products create --sku C-3
t_exit 65 "a bad price" acmectl products create --sku C-3 --name x --price 12,5
t_like "$ERR" 'products create: --price: price "12,5" is not a number' "the message names the option and the value"
t_exit 65 "a negative price" acmectl products create --sku C-3 --name x --price -1
t_exit 65 "three decimals" acmectl products create --sku C-3 --name x --price 1.234
t_exit 65 "a control character in the SKU" acmectl products create --sku "$(printf 'C\0013')" --name x
t_exit 65 "a SKU over 64 bytes" acmectl products create --sku "$(printf '%065d' 0)" --name x
t_exit 65 "a blank name" acmectl products create --sku C-3 --name '   '
t_exit 65 "invalid UTF-8" acmectl products create --sku C-3 --name "$(printf 'caf\351')"
t_is "$(count products)" 2 "no invalid product was created"

# ---- --upsert ---------------------------------------------------------------------------
t_ok "--upsert of an existing SKU in another case" acmectl products create --sku abc-1 --name 'New name' --upsert -o json
t_json "$OUT" "d['id'] == $id1 and d['sku'] == 'abc-1' and d['name'] == 'New name' and d['price'] == '12.50'" \
	"upsert overwrites given fields and keeps the others"
t_like "$ERR" "updated product $id1" "upsert says updated"
t_is "$(tpsql -c "SELECT event_type FROM outbox ORDER BY id DESC LIMIT 1")" "product.updated" "upsert of an existing product is product.updated"
t_ok "--upsert with the same values" acmectl products create --sku abc-1 --name 'New name' --upsert
t_like "$ERR" "unchanged product $id1" "an identical upsert is unchanged"
t_is "$(count outbox)" 3 "an unchanged upsert writes no event"
t_ok "--upsert of a new SKU" acmectl products create --sku D-4 --name Dee --upsert
t_like "$ERR" "created product" "upsert of a new SKU creates it"

# ---- get ---------------------------------------------------------------------------------
t_ok "get by SKU in any case" acmectl products get ABC-1 -o json
t_json "$OUT" "d['id'] == $id1" "get finds the SKU case-insensitively"
t_ok "get by id" acmectl products get "id:$id1" -o json
t_json "$OUT" "d['sku'] == 'abc-1'" "get finds the id"
tpsql -c "INSERT INTO products (sku, name) VALUES ('$id1', 'numeric sku')"
t_ok "a SKU that looks like an id is a SKU" acmectl products get "$id1" -o json
t_json "$OUT" "d['name'] == 'numeric sku'" "a bare word is a SKU"
t_exit 3 "get of a missing product" acmectl products get nosuch
t_like "$ERR" 'no product with SKU "nosuch"' "the message names it"
t_exit 3 "get of a missing id" acmectl products get id:999999
t_ok "get -o table" acmectl products get D-4 -o table
t_like "$OUT" '^description +$' "a table lists FIELD VALUE, empty description"
t_ok "get tsv" acmectl products get D-4
t_is "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 2 "tsv: header and one row"

# ---- update --------------------------------------------------------------------------------
before=$(count outbox)
t_ok "update the price and deactivate" acmectl products update B-2 --price 3 --inactive --description 'new desc' -o json
t_json "$OUT" "d['price'] == '3.00' and d['active'] is False and d['description'] == 'new desc' and d['name'] == 'Hinge'" \
	"update changes only the given fields"
t_is "$(tpsql -c "SELECT event_type || ' ' || (payload->>'price') FROM outbox ORDER BY id DESC LIMIT 1")" \
	"product.updated 3.00" "update writes product.updated"
t_is "$(tpsql -c "SELECT details->'fields' FROM audit_log ORDER BY id DESC LIMIT 1")" \
	'["description", "active", "price"]' "the audit row lists the fields"
t_ok "clear description and price" acmectl products update b-2 --description '' --price '' -o json
t_json "$OUT" "d['price'] is None and d['description'] is None" "empty values clear"
t_ok "update to the same values" acmectl products update B-2 --name Hinge
t_like "$ERR" "unchanged" "an update that changes nothing says so"
t_is "$(count outbox)" "$((before + 2))" "and writes no event"
t_ok "rename the SKU's case" acmectl products update b-2 --sku b-2 -o json
t_json "$OUT" "d['sku'] == 'b-2'" "a case change is a rename"
t_exit 4 "rename onto another product's SKU" acmectl products update b-2 --sku D-4
t_like "$ERR" 'SKU "D-4" already exists' "the clash is named"
t_exit 3 "update of a missing product" acmectl products update nosuch --name x
t_exit 2 "update with nothing to change" acmectl products update b-2
t_exit 65 "update with a bad value" acmectl products update b-2 --price abc
t_exit 2 "update --active --inactive" acmectl products update b-2 --active --inactive

# ---- --from-json -------------------------------------------------------------------------------
printf '{"sku": "J-1", "name": "Json one", "price": 4.5, "active": false}\n' >"$TEST_TMP/one.json"
t_ok "--from-json with one object" acmectl products create --from-json "$TEST_TMP/one.json" -o json
t_json "$OUT" "d['sku'] == 'J-1' and d['price'] == '4.50' and d['active'] is False" "a JSON object, number price"
printf '[{"sku": "J-2", "name": "two", "price": "7"}, {"sku": "J-3", "name": "three", "active": "yes", "description": null}]' >"$TEST_TMP/arr.json"
t_ok "--from-json - with an array" acmectl products create --from-json - -o json <"$TEST_TMP/arr.json"
t_json "$OUT" "[i['sku'] for i in d['items']] == ['J-2', 'J-3']" "an array creates several"
acmectl products export -o ndjson --sku 'J-*' 2>/dev/null | sed 's/"J-/"K-/' >"$TEST_TMP/k.ndjson"
t_ok "--from-json with NDJSON from export" acmectl products create --from-json "$TEST_TMP/k.ndjson"
t_is "$(tpsql -c "SELECT string_agg(sku || '=' || coalesce(price::text, '-') || '=' || active, ' ' ORDER BY sku) FROM products WHERE sku LIKE 'K-%'")" \
	"K-1=4.50=false K-2=7.00=true K-3=-=true" "export -o ndjson re-creates the products"
printf '[{"sku": "L-1", "name": "ok"}, {"sku": "J-1", "name": "dup"}]' >"$TEST_TMP/dup.json"
t_exit 4 "one existing SKU in a batch" acmectl products create --from-json "$TEST_TMP/dup.json"
t_like "$ERR" "product 2 of 2" "the message says which"
t_is "$OUT" "" "nothing is printed for a batch that was rolled back"
t_is "$(count "products WHERE sku = 'L-1'")" 0 "a failed batch creates nothing"
printf '{"sku": "L-1", "name": "x", "colour": "red"}' >"$TEST_TMP/bad.json"
t_exit 65 "an unknown key" acmectl products create --from-json "$TEST_TMP/bad.json"
t_like "$ERR" 'unknown field "colour"' "the key is named"
printf '{"sku": "L-1", "name": "x", "price": "1,5"}' >"$TEST_TMP/bad.json"
t_exit 65 "a bad price in JSON" acmectl products create --from-json "$TEST_TMP/bad.json"
printf '{"sku": "L-1", ' >"$TEST_TMP/bad.json"
t_exit 65 "malformed JSON" acmectl products create --from-json "$TEST_TMP/bad.json"
t_exit 65 "a missing file" acmectl products create --from-json "$TEST_TMP/nosuch.json"
t_exit 2 "--from-json with --sku" acmectl products create --from-json "$TEST_TMP/one.json" --sku X

# ---- delete by name -------------------------------------------------------------------------------
t_exit 3 "delete of a missing product among others" acmectl products delete J-1 nosuch
t_like "$ERR" 'nothing was deleted: no product with SKU "nosuch"' "the missing one is named"
t_is "$(count "products WHERE sku = 'J-1'")" 1 "nothing was deleted"
idj2=$(tpsql -c "SELECT id FROM products WHERE sku = 'J-2'")
before=$(count outbox)
t_ok "delete by SKU and id (the same product twice)" acmectl products delete j-1 J-2 "id:$idj2"
t_is "$(count "products WHERE sku IN ('J-1', 'J-2')")" 0 "both are gone"
t_is "$(tpsql -c "SELECT string_agg(event_type || ' ' || (payload->>'sku'), ',' ORDER BY id) FROM outbox WHERE id > 0" | tr ',' '\n' | tail -2 | tr '\n' ' ')" \
	"product.deleted J-1 product.deleted J-2 " "one product.deleted each, with the product"
t_is "$(count outbox)" "$((before + 2))" "a product named twice is deleted once"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'products delete'")" 2 "one audit row per deleted product"
t_exit 3 "delete of a missing product" acmectl products delete J-1

# ---- audit -------------------------------------------------------------------------------------------
t_ok "audit" acmectl audit -o json
t_json "$OUT" "d['items'][0]['command'] == 'products delete' and d['items'][0]['details']['event'] == 'product.deleted' and d['items'][0]['environment'] == 'test'" \
	"audit lists the newest first with JSON details"
t_json "$OUT" "all(set(r) == {'id', 'at', 'os_user', 'host', 'environment', 'command', 'target', 'details'} for r in d['items'])" \
	"audit rows have every field"
t_ok "audit --limit 2" acmectl audit --limit 2 -o ndjson
t_is "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 2 "--limit"
tpsql -c "UPDATE audit_log SET at = at - interval '3 days' WHERE command = 'products create'"
t_ok "audit --since 1d" acmectl audit --since 1d -o json
t_json "$OUT" "len(d['items']) > 0 and all(r['command'] != 'products create' for r in d['items'])" "--since leaves out older rows"
t_ok "audit as a table" acmectl audit -o table
t_like "$OUT" '^ID +AT +OS USER' "audit table header"
t_exit 2 "audit --since nonsense" acmectl audit --since soon

t_done
