#!/bin/sh
# The test harness itself: each test file gets a private database cloned from
# the template and its own Redis prefix, on the run's private servers.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

t_like "$DATABASE_URL" "^postgresql:///t_t0100" "DATABASE_URL names this file's database"
t_is "$(tpsql -c 'SELECT current_database()')" "$TEST_DB" "psql reaches the private database"
t_is "$(tpsql -c 'SHOW fsync')" "off" "test cluster runs with fsync off"
t_is "$(tredis ping)" "PONG" "redis answers on the private socket"
t_like "$ACME_REDIS_PREFIX" "^t:t0100-harness-servers:[0-9]+:$" "redis prefix is per test file"
t_done
