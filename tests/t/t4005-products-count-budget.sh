#!/bin/sh
# The time budget of a count (products list's total) is enforced by the
# client cancelling the query, never by SET statement_timeout.
#
# Regression: `products list` counted under `SET statement_timeout = 10`
# followed by `RESET statement_timeout`; the RESET itself ran under the 10 ms
# timeout, so on a loaded machine it could be cancelled and the list failed
# with exit 1 (seen once in t4000's keyset walk under two parallel suites).
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

helper=$ACME_HELPERS/acme-db-budget     # tests/helpers/acme-db-budget.c

t_is "$("$helper" "SELECT pg_sleep(30)" 50)" "timeout statement_timeout=0 then=42" \
	"a query over its budget is cancelled, the session keeps statement_timeout=0 and answers"
t_is "$("$helper" "SELECT generate_series(1, 3)" 60000)" "rows 3 statement_timeout=0 then=42" \
	"a query within its budget returns its rows"
t_is "$("$helper" "SELECT 1/0" 60000)" \
	"error postgresql: division by zero (SQLSTATE 22012) statement_timeout=0 then=42" \
	"a failing query is an error, not a timeout"
t_is "$(cd "$TEST_TOP" && grep -c 'statement_timeout' core/products.c)" 0 \
	"core/products.c no longer sets statement_timeout"
t_done
