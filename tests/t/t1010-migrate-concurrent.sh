#!/bin/sh
# Replicas racing each other: four `migrate up` at once on a fresh database
# all exit 0 and every migration is applied exactly once (dbmate and Alembic
# take no lock and fail here). A slow migration makes the race real.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers --empty

mdir="$TEST_TMP/migrations"
mkdir -p "$mdir"
cp "$TEST_TOP/core/migrations/0001_initial.sql" "$mdir/"
cat > "$mdir/0002_slow.sql" <<'EOF'
CREATE TABLE t1010_runs (at timestamptz DEFAULT clock_timestamp());
INSERT INTO t1010_runs DEFAULT VALUES;
SELECT pg_sleep(1.5);
-- acmectl:down
DROP TABLE t1010_runs;
EOF
cat > "$mdir/0003_after.sql" <<'EOF'
INSERT INTO t1010_runs DEFAULT VALUES;
EOF
export ACME_MIGRATIONS_DIR="$mdir"

for i in 1 2 3 4; do
	"$ACMECTL" migrate up >"$TEST_TMP/out.$i" 2>"$TEST_TMP/err.$i" &
	eval "pid$i=\$!"
done
for i in 1 2 3 4; do
	eval "wait \$pid$i"
	t_is "$?" 0 "racer $i exits 0"
done

t_is "$(tpsql -c "SELECT count(*) || ' ' || count(DISTINCT version) FROM acmectl_migrations")" "3 3" \
	"three history rows, one per version"
t_is "$(tpsql -c 'SELECT count(*) FROM t1010_runs')" 2 "each migration's statements ran exactly once"
all_err=$(cat "$TEST_TMP"/err.*)
t_is "$(printf '%s\n' "$all_err" | grep -c 'applied 0002 slow')" 1 "exactly one racer applied 0002"
t_is "$(printf '%s\n' "$all_err" | grep -c 'nothing to do')" 3 "the three losers found nothing to do"
t_like "$all_err" "waiting for the migration lock, held by pid [0-9]+ \\(acmectl migrate up" \
	"losers say who holds the lock"
t_ok "verify after the race" acmectl migrate verify

# at head, racers need no lock at all
for i in 1 2 3 4; do
	"$ACMECTL" migrate up >"$TEST_TMP/out.$i" 2>"$TEST_TMP/err.$i" &
	eval "pid$i=\$!"
done
ok=0
for i in 1 2 3 4; do
	eval "wait \$pid$i" && ok=$((ok + 1))
done
t_is "$ok" 4 "four runs at head all exit 0"
t_unlike "$(cat "$TEST_TMP"/err.*)" "waiting for the migration lock" "no run at head waited for the lock"

t_done
