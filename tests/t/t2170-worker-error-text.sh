#!/bin/sh
# The error text of a failed job reaches the jobs table as valid UTF-8: a
# long message is cut at a character boundary, and bytes that are not UTF-8
# are replaced, so PostgreSQL accepts the mirror write and the row shows the
# job's real end.
# Regression: a message cut at 1024 bytes in the middle of a character (and
# invalid UTF-8 passed through from outside) was refused by PostgreSQL when
# mirrored ("invalid byte sequence for encoding UTF8"), so the row stayed
# behind (and a batch of mirror writes was refused whole).
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

K="${ACME_REDIS_PREFIX}{default}:"
valid_utf8() {	# id: the error text of the row, checked by Python's decoder
	tpsql -c "SELECT encode(convert_to(error, 'UTF8'), 'hex') FROM jobs WHERE id = '$1'" |
		python3 -c 'import sys
b = bytes.fromhex(sys.stdin.read().strip())
b.decode("utf-8")
print("valid" if b else "empty")'
}

# ---- a long multi-byte message, cut where a character starts ----------------------------
# noop refuses an unknown payload key and names it: "noop: unknown payload key
# "k\xc3\xa9\xc3\xa9..." (27 + 1 bytes before the first é), so a cut at 1023
# bytes would land between the two bytes of an é
KEY=k$(python3 -c 'print("é" * 600)')
t_ok "enqueue a job whose error is long and multi-byte" \
	acmectl jobs enqueue noop --id long-utf8 --max-attempts 1 --payload "{\"$KEY\": 1}"
t_ok "a burst worker runs it" timeout 60 "$ACMECTL" worker --burst -Q default=1
t_is "$(job_col long-utf8 state)" failed "the jobs table records that it failed"
t_is "$(valid_utf8 long-utf8)" valid "its error is valid UTF-8"
# 1023 bytes fit: 28 before the first é, then 497 whole ones (994 bytes)
t_is "$(job_col long-utf8 error)" "$(python3 -c 'print("noop: unknown payload key \"k" + "é" * 497)')" \
	"cut at the last character boundary that fits, whole characters kept"
t_unlike "$(cat "$TEST_TMP/out" "$TEST_TMP/err")" 'invalid byte sequence' \
	"the worker had no mirror write refused"

# ---- bytes that are not UTF-8, straight into a failure ------------------------------------
t_ok "enqueue" acmectl jobs enqueue noop --id latin1 --max-attempts 1
t_ok "dequeue it" acme_queue dequeue --lease 30s --worker w1
TOK=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
bad=$(printf 'caf\351 \377 cr\303\250me \342\202')   # latin-1 é, 0xff, UTF-8 è, a cut €
t_ok "fail it with an error that is not UTF-8" acme_queue fail latin1 "$TOK" --error "$bad"
t_is "$(job_col latin1 state)" dead "the jobs table records its end"
t_is "$(valid_utf8 latin1)" valid "its error is valid UTF-8"
t_is "$(job_col latin1 error)" "caf? ? crème ??" "each byte that is not UTF-8 became '?'"
t_is "$(tredis HGET "${K}job:latin1" error)" "caf? ? crème ??" "Redis keeps the same text"

# ---- a batch of mirror writes with such errors goes through whole -----------------------------
# the reaper's message names the worker; these names are not UTF-8
for i in 1 2 3; do
	acmectl jobs enqueue noop --id "reap$i" --max-attempts 1 >/dev/null
	acme_queue dequeue --lease 1ms --worker "$(printf 'w\351%d' "$i")" >/dev/null
done
dead_reaped() { tpsql -c "SELECT count(*) FROM jobs WHERE id LIKE 'reap%' AND state = 'dead'"; }
t_ok "the expired leases are reaped and the rows recorded" wait_for 10 \
	"acme_queue reap >/dev/null 2>&1; [ \$(dead_reaped) -eq 3 ]"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE id LIKE 'reap%' AND state = 'dead'
	AND error LIKE 'lease expired: worker w?_ stopped%'")" 3 \
	"with the worker's name made valid"

t_done
