#!/bin/bash
# The rough edges of issue 11, point 12, each a regression:
#   - `config check --connect -o json` printed text, not JSON;
#   - --log-format json lines carried only msg: now worker, job, type, queue
#     and attempt too, while a worker runs a job;
#   - TERM=dumb still got bold table headers;
#   - bash completion of a SKU with a space split it into two words.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

# ---- config check -o json ----------------------------------------------------------------
t_ok "config check --connect -o json" acmectl config check --connect -o json
t_json "$OUT" "d['ok'] is True and [c['check'] for c in d['checks']] == ['config', 'postgresql', 'redis'] and all(c['status'] == 'pass' for c in d['checks'])" \
	"a JSON document with every check passed"
t_is "$ERR" "" "and nothing on stderr"
t_exit 69 "config check --connect -o json, Redis unreachable" \
	env REDIS_URL="unix://$TEST_TMP/nosuch.sock" "$ACMECTL" config check --connect -o json
t_json "$OUT" "d['ok'] is False and d['checks'][2]['check'] == 'redis' and d['checks'][2]['status'] == 'fail' and 'error' in d['checks'][2]" \
	"the failed check is in the document"
t_like "$ERR" "redis" "and the error on stderr"

# ---- JSON log lines carry the job ---------------------------------------------------------
id=$(enqueue noop '{}')
ACME_LOG_FORMAT=json timeout 120 "$ACMECTL" worker --burst -Q default=1 \
	>"$TEST_TMP/w.out" 2>"$TEST_TMP/w.err"
t_is "$?" 0 "a burst worker with JSON logs ran the job"
line=$(grep "\"job\": *\"$id\"" "$TEST_TMP/w.err" | grep 'attempt 1/' | head -1)
t_json "$line" "d['job'] == '$id' and d['type'] == 'noop' and d['queue'] == 'default' and d['attempt'] == 1 and d['worker'].endswith(':default') and d['level'] == 'info' and d['pid'] > 0 and d['ts'] and d['msg']" \
	"the line about the job has ts, level, pid, worker, job, type, queue, attempt, msg"
t_like "$(grep -c "\"job\": *\"$id\"" "$TEST_TMP/w.err")" '^[2-9]' "its end is logged with the job too"
t_unlike "$(grep 'worker stopped' "$TEST_TMP/w.err")" '"job"' "lines outside a job carry no job"

# ---- TERM=dumb ------------------------------------------------------------------------------------
if command -v script >/dev/null 2>&1; then
	TERM=xterm script -qec "'$ACMECTL' config show -o table" /dev/null >"$TEST_TMP/tty" 2>&1
	t_like "$(cat -v "$TEST_TMP/tty")" '\^\[\[1m' "a terminal gets a bold header"
	TERM=dumb script -qec "'$ACMECTL' config show -o table" /dev/null >"$TEST_TMP/tty" 2>&1
	t_unlike "$(cat -v "$TEST_TMP/tty")" '\^\[' "TERM=dumb gets no escape sequence"
	t_like "$(cat "$TEST_TMP/tty")" 'SETTING' "but the table"
else
	t_skip "script(1) is not installed"; t_skip "script(1)"; t_skip "script(1)"
fi

# ---- SKU completion quotes values with spaces ------------------------------------------------
tpsql -c "INSERT INTO products (sku, name) VALUES ('Red Shirt', 'r'), ('Red-Cap', 'c')" >/dev/null
. "$TEST_TOP/tests/lib/bash-comp.sh"
t_is "$(comp products get Re | tr '\n' ' ')" 'Red-Cap Red\ Shirt ' "bash: a SKU with a space comes back escaped"
t_is "$(comp products get 'Red\ S')" 'Red\ Shirt' "bash: an escaped prefix completes"
t_is "$(comp products get '"Red S')" '"Red Shirt"' "bash: a quoted prefix completes, quoted"
t_is "$(acmectl __complete products get 'Red S')" 'Red Shirt' "__complete prints the plain value"

t_done
