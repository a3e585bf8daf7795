#!/bin/sh
# Connection failures name the server and what to check, exit 69, and never
# print a password.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

t_ok "both servers reachable" acmectl config check --connect

DATABASE_URL="postgresql:///x?host=$TEST_TMP/nowhere&user=acme" \
	t_exit 69 "missing PostgreSQL socket exits 69" acmectl config check --connect
t_like "$ERR" "postgresql at unix socket $TEST_TMP/nowhere/.s.PGSQL.5432" "names the socket"
t_like "$ERR" "check DATABASE_URL" "says what to check"

DATABASE_URL="postgresql://acme:topsecret@127.0.0.1:9/x" \
	t_exit 69 "refused TCP connection exits 69" acmectl config check --connect
t_like "$ERR" "127.0.0.1:9: .*refused" "names host and port"
t_unlike "$ERR" "topsecret" "no password in the error"

DATABASE_URL="postgresql:///no_such_db?host=$TEST_PG_HOST&user=acme" \
	t_exit 69 "missing database exits 69" acmectl config check --connect
t_like "$ERR" 'database "no_such_db" does not exist' "says the database is missing"

REDIS_URL="unix://$TEST_TMP/nowhere.sock" t_exit 69 "missing redis socket exits 69" acmectl config check --connect
t_like "$ERR" "redis at unix socket $TEST_TMP/nowhere.sock" "names the redis socket"
REDIS_URL="redis://:redissecret@127.0.0.1:9" t_exit 69 "refused redis exits 69" acmectl config check --connect
t_like "$ERR" "redis at 127.0.0.1:9" "names host and port"
t_unlike "$ERR" "redissecret" "no redis password in the error"

REDIS_URL="unix://$TEST_REDIS_SOCK?db=1" t_ok "redis db selection works" acmectl config check --connect
REDIS_URL="unix://:wrongpass@$TEST_REDIS_SOCK" t_exit 69 "a password the server does not expect fails" \
	acmectl config check --connect
t_like "$ERR" "authentication failed" "says authentication failed"
t_unlike "$ERR" "wrongpass" "without printing the password"

t_done
