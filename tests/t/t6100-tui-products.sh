#!/bin/sh
# The TUI's Products tab in tmux against the test servers: first paint,
# filter as you type, paging with PgDn and G over 100,000 products, sort,
# an inline edit saved and audited, a validation error shown in place, a new
# product, delete with a y/n confirm, bulk delete with the typed count, and
# q restoring the terminal.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$(dirname "$0")/../lib/tui-lib.sh"
need_servers

tpsql -c "INSERT INTO products (sku, name, description, price, active)
	SELECT 'SKU-' || lpad(g::text, 6, '0'), 'Widget ' || g, 'desc ' || g, g % 1000 + 0.5, g % 7 <> 0
	FROM generate_series(1, 100000) g;
	INSERT INTO products (sku, name, description, price) VALUES
	('ZZ-CJK', '東京タワー模型', 'e' || chr(769) || 'cole 😀', 12.00);
	ANALYZE products" >/dev/null

tui_start
tui_wait "rows 1-" && t_ok "first paint shows the first page" true || t_ok "first paint" false
scr=$(tui_screen)
t_like "$scr" 'db: connected' "the title line says the database is connected"
t_like "$scr" 'SKU-000001 +Widget 1 ' "the first product is on the first row"
t_like "$scr" ' 1 Products ' "the tab bar names the Products tab"

# filter as you type
tui_keys /
tui_type "Widget 4242"
tui_wait "SKU-004242" && tui_wait_re "rows 1-[0-9]+ of ~1[0-9]" 10
scr=$(tui_screen)
t_like "$scr" 'SKU-004242 +Widget 4242 ' "typing a filter shows the matching product"
t_unlike "$scr" 'SKU-000001 ' "rows that do not match are gone"
tui_keys Enter
tui_wait '/Widget 4242' 5
t_like "$(tui_screen)" 'filter /Widget 4242' "the summary line shows the filter"

# Esc on a new / prompt restores the previous filter; :filter clears it
tui_keys : ; tui_type "filter " ; tui_keys Enter
tui_wait "SKU-000001 " && t_ok ":filter with no text clears the filter" true || t_ok ":filter" false

# paging
tui_keys NPage
tui_wait_re "rows 3[0-9]-" && t_ok "PgDn shows the next page" true || t_ok "PgDn" false
tui_keys PPage
tui_wait "rows 1-" && t_ok "PgUp goes back to the first page" true || t_ok "PgUp" false
tui_keys G
tui_wait "ZZ-CJK" && t_ok "G shows the last page (the last SKU)" true || t_ok "G" false
tui_wait_re "rows [0-9]+-100001 of ~100001"
t_like "$(tui_screen)" 'rows [0-9]+-100001 of ~100001 \(100%\)' "the last page counts to the total, at 100%"
t_like "$(tui_screen)" '東京タワー模型' "a CJK name is shown"
tui_keys g
tui_wait "SKU-000001 " && t_ok "g goes back to the first row" true || t_ok "g" false

# sort: select the Price column (3 to the right) and press s twice
tui_keys l l l s
tui_wait "Price ^" && t_ok "s sorts by the selected column" true || t_ok "sort" false
tui_keys s
tui_wait "Price v" && t_ok "s again sorts descending" true || t_ok "sort desc" false
tui_wait_re "999.50 +(yes|no)"
t_like "$(tui_screen)" '999.50' "the most expensive products come first"
tui_keys : ; tui_type "sort sku" ; tui_keys Enter
tui_wait "SKU ^" && t_ok ":sort sku sorts by SKU" true || t_ok ":sort" false
tui_wait "SKU-000001 "

# inline edit of the name of the first product: col Name (1 right of SKU)
tui_keys g h h h h h l e C-u
tui_type "Renamed widget"
tui_keys Enter
tui_wait "saved SKU-000001" && t_ok "Enter saves the edited cell" true || t_ok "edit saved" false
t_is "$(tpsql -c "SELECT name FROM products WHERE sku = 'SKU-000001'")" "Renamed widget" \
	"the new name is in the database"
t_is "$(tpsql -c "SELECT count(*) FROM audit_log WHERE command = 'tui products update'")" 1 \
	"the edit is in the audit log"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE event_type = 'product.updated'")" 1 \
	"the edit emitted product.updated"

# a validation error shows in place and keeps the edit: price column
tui_keys l l e C-u
tui_type "12,5x"
tui_keys Enter
tui_wait 'price' 5
scr=$(tui_screen)
t_like "$scr" 'price.*(number|valid)' "a bad price shows the reason in place"
t_is "$(tpsql -c "SELECT price FROM products WHERE sku = 'SKU-000001'")" "1.50" "nothing was saved"
tui_keys C-u
tui_type "7.25"
tui_keys Enter
tui_wait "saved SKU-000001"
t_is "$(tpsql -c "SELECT price FROM products WHERE sku = 'SKU-000001'")" "7.25" \
	"the corrected edit is saved"

# new product
tui_keys n
tui_wait "New product"
tui_type "NEW-1"; tui_keys Tab; tui_type "Brand new"; tui_keys Tab Tab; tui_type "3.50"; tui_keys C-s
tui_wait "created NEW-1" && t_ok "n creates a product" true || t_ok "new product" false
t_is "$(tpsql -c "SELECT name || '|' || price FROM products WHERE sku = 'NEW-1'")" "Brand new|3.50" \
	"the new product is in the database"
# a duplicate SKU keeps the form open with the reason
tui_keys n
tui_wait "New product"
tui_type "new-1"; tui_keys Tab; tui_type "Dup"; tui_keys C-s
tui_wait "exists" 10 && t_ok "a SKU that exists is refused in the form" true || t_ok "dup refused" false
tui_keys Escape
tui_wait_gone "New product"

# delete with confirm: filter to NEW-1 first
tui_keys : ; tui_type "filter NEW-1" ; tui_keys Enter
tui_wait "Brand new"
tui_keys d
tui_wait "[y/N]"
tui_keys n
tui_wait "not deleted"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku = 'NEW-1'")" 1 "n keeps the product"
tui_keys d
tui_wait "[y/N]"
tui_keys y
tui_wait "deleted NEW-1" && t_ok "y deletes it" true || t_ok "delete" false
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE sku = 'NEW-1'")" 0 "the product is gone"

# bulk delete with the typed count
tui_keys : ; tui_type "filter Widget 9999" ; tui_keys Enter
tui_wait "SKU-009999"
tui_keys D
tui_wait "type 11 to confirm" && t_ok "D asks for the count" true || t_ok "D count" false
tui_type "10"; tui_keys Enter
tui_wait "bulk delete cancelled"
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE name LIKE 'Widget 9999%'")" 11 \
	"a wrong count deletes nothing"
tui_keys D
tui_wait "type 11 to confirm"
tui_type "11"; tui_keys Enter
tui_wait "deleted 11 products" && t_ok "the typed count deletes them" true || t_ok "bulk" false
t_is "$(tpsql -c "SELECT count(*) FROM products WHERE name LIKE 'Widget 9999%'")" 0 \
	"the matching products are gone"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE event_type = 'product.bulk_deleted'")" 1 \
	"one product.bulk_deleted event"

# help from the key table
tui_keys '?'
tui_wait "structured filter" && t_ok "? shows the help made from the key table" true || t_ok "help" false
tui_keys Escape
tui_wait_gone "structured filter"

# quit restores the terminal
tui_keys q
tui_wait_exit && t_is "$TUI_EXIT" 0 "q exits 0"
t_ok "the terminal settings are restored" tui_stty_same
t_like "$(tui_screen)" 'TUI EXITED' "the shell is back on the normal screen"
t_done
