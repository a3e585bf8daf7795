#!/bin/sh
# A schedule with the longest name allowed (64 characters) fires on every
# tick, each tick as its own job with an id of at most 64 characters.
# Regression: the job id "sched-<name>-<tick>" was cut to 64 bytes, so from
# about 51 characters every tick got the same id, enqueueing was a no-op
# after the first, and the schedule silently stopped firing.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

NAME=$(printf 'x%.0s' $(seq 1 56))-nightly   # 64 characters
t_is "${#NAME}" 64 "the schedule name has 64 characters"
mkdir -p "$XDG_CONFIG_HOME/acmectl"
cat >"$XDG_CONFIG_HOME/acmectl/config" <<EOC
[schedule.$NAME]
every = 1s
type = noop
payload = {"sleep_ms": 1}
EOC

t_ok "jobs schedules accepts the name" acmectl jobs schedules -o json
t_json "$OUT" "d['items'][0]['name'] == '$NAME'" "and lists it"

ticks() { tpsql -c "SELECT count(*) FROM jobs WHERE type = 'noop' AND id LIKE 'sched-%'"; }
start_worker beat --beat-only
t_ok "the schedule fires on three ticks" wait_for 30 "[ \$(ticks) -ge 3 ]"
stop_worker beat
t_is "$W_STATUS" 0 "the scheduler stops cleanly"

tpsql -c "SELECT id FROM jobs WHERE type = 'noop' AND id LIKE 'sched-%' ORDER BY id" >"$TEST_TMP/ids"
n=$(wc -l <"$TEST_TMP/ids")
t_diag "$(cat "$TEST_TMP/ids")"
t_is "$(awk 'length($0) > 64' "$TEST_TMP/ids")" "" "every job id fits in 64 characters"
t_is "$(sort -u "$TEST_TMP/ids" | wc -l)" "$n" "one job per tick, each with its own id"
sed 's/.*-\([0-9][0-9]*\)$/\1/' "$TEST_TMP/ids" | sort -n >"$TEST_TMP/ticks"
t_is "$(($(tail -n 1 "$TEST_TMP/ticks") - $(head -n 1 "$TEST_TMP/ticks") + 1))" "$n" \
	"consecutive ticks, none missing"
t_like "$(head -n 1 "$TEST_TMP/ids")" "^sched-xxxxxxxxxxxxxxxx" "the id still starts with the schedule's name"
fired=$(grep -c "scheduler: $NAME fired" "$TEST_TMP/beat.log")
t_is "$fired" "$n" "the log names the schedule in full for each tick"

t_done
