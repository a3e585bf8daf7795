#!/bin/sh
# The soak (tests/soak/run, `make soak`) in short: noop jobs, imports,
# webhook fan-out and the scheduler on two workers while random faults
# (kill -9 of supervisors and children, Redis and PostgreSQL restarts) are
# injected, then the invariants (no job lost, no effect twice, every tick
# once). Two runs with fixed seeds (the same fault schedules every time;
# SOAK_SEEDS='N M' to choose others): 2, which found a deliverer stuck in
# pipeline mode (t7105), and 1143391033, whose PostgreSQL restarts cut off
# an import three times until it died (t7110). Random seeds belong to `make
# soak`, not to a check that gates a merge. Each run keeps its logs on
# failure (the path is printed).
. "$(dirname "$0")/../lib/test-lib.sh"

SOAK_SHORT=${SOAK_SHORT:-60s}
for seed in ${SOAK_SEEDS:-2 1143391033}; do
	t_diag "soak for $SOAK_SHORT with SOAK_SEED=$seed"
	SOAK_SEED=$seed SOAK_DRAIN=100 DURATION=$SOAK_SHORT \
		timeout -k 10 400 python3 "$TEST_TOP/tests/soak/run" >"$TEST_TMP/soak.out" 2>&1
	rc=$?
	sed 's/^/# /' "$TEST_TMP/soak.out" | grep -v '^# soak: fault [0-9]' | tail -n 30
	t_is "$rc" 0 "soak with seed $seed: anomalies = 0"
	t_like "$(cat "$TEST_TMP/soak.out")" "^soak: faults [1-9][0-9]*: " "faults were injected"
done
t_done
