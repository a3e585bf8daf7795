#!/bin/sh
# The systemd units (packaging/systemd) and the worker's side of them (issue
# 14, point 3): every unit passes `systemd-analyze verify`, is hardened as
# promised and scores "OK" or better in `systemd-analyze security`; the
# worker under Type=notify really sends READY=1 once it serves, WATCHDOG=1
# when the unit asks for a watchdog, STATUS= while a server is missing, and
# STOPPING=1 on SIGTERM, then exits 0 within TimeoutStopSec. The protocol is
# driven for real: the test listens on the NOTIFY_SOCKET datagram socket
# systemd would give the service.
. "$(dirname "$0")/../lib/test-lib.sh"
command -v systemd-analyze >/dev/null 2>&1 || t_skip_all "systemd-analyze is not installed (packaging/install-deps)"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

UNITS="acmectl-worker@.service acmectl-scheduler.service acmectl-migrate.service"
U=$TEST_TMP/units
mkdir -p "$U"
# verify needs the ExecStart binary where the unit says: point it at ours
for u in $UNITS; do
	sed "s|/usr/bin/acmectl|$ACMECTL|" "$TEST_TOP/packaging/systemd/$u" >"$U/$u"
done
INST=$(systemd-escape 'default,import=2')   # default\x2cimport\x3d2
cp "$U/acmectl-worker@.service" "$U/acmectl-worker@$INST.service"

for u in "acmectl-worker@$INST.service" acmectl-scheduler.service acmectl-migrate.service; do
	t_ok "systemd-analyze verify $u" systemd-analyze verify --man=no "$U/$u"
	t_is "$ERR" "" "$u: verify has nothing to say"
done

# ---- what the units promise ------------------------------------------------------------------
prop() {	# unit key: the values of key=, one line
	sed -n "s/^$2=//p" "$TEST_TOP/packaging/systemd/$1" | tr '\n' ' ' | sed 's/ $//'
}
for u in $UNITS; do
	for kv in ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
		CapabilityBoundingSet= "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
		"SystemCallFilter=@system-service ~@privileged" User=acmectl UMask=0077; do
		t_is "$(prop "$u" "${kv%%=*}")" "${kv#*=}" "$u: ${kv%%=*}=${kv#*=}"
	done
	t_like "$(prop "$u" LoadCredential)" "^database-url:/etc/acmectl/credentials/database-url redis-url:" \
		"$u: the URLs come as credentials"
	t_like "$(prop "$u" Environment)" "DATABASE_URL_FILE=%d/database-url REDIS_URL_FILE=%d/redis-url" \
		"$u: read through the *_FILE variables"
	t_like "$(prop "$u" MemoryMax)" "^[0-9]+[MG]$" "$u: MemoryMax is set"
done
for u in acmectl-worker@.service acmectl-scheduler.service; do
	t_is "$(prop "$u" Type)" "notify" "$u: Type=notify"
	t_like "$(prop "$u" WatchdogSec)" "^[0-9]+s$" "$u: a watchdog"
	t_like "$(prop "$u" After)" "acmectl-migrate.service" "$u: starts after the migration"
done
t_is "$(prop acmectl-migrate.service Type)" "oneshot" "migrate: a oneshot"
t_like "$(prop acmectl-migrate.service ExecStart)" "migrate up --lock-timeout 10m$" "migrate: migrate up with a lock timeout"

# MemoryMax covers three children at --max-memory-per-child plus the supervisor
args=$(prop acmectl-worker@.service Environment | sed -n 's/.*ACME_WORKER_ARGS=\([^"]*\)".*/\1/p')
per_child=$(printf '%s\n' "$args" | sed -n 's/.*--max-memory-per-child \([0-9]*\).*/\1/p')
max=$(prop acmectl-worker@.service MemoryMax)
case $max in *G) max_mb=$((${max%G} * 1024)) ;; *M) max_mb=${max%M} ;; esac
t_ok "MemoryMax ($max) holds 3 children of $per_child MB and the supervisor" \
	test "$max_mb" -ge $((3 * per_child + 128))
# TimeoutStopSec leaves the drain (--shutdown-timeout) and the release (3 s) room
drain=$(printf '%s\n' "$args" | sed -n 's/.*--shutdown-timeout \([0-9]*\)s.*/\1/p')
stop=$(prop acmectl-worker@.service TimeoutStopSec)
t_ok "TimeoutStopSec ($stop) is above --shutdown-timeout (${drain}s) + 3 s" test "${stop%s}" -gt $((drain + 3))

for u in "acmectl-worker@$INST.service" acmectl-scheduler.service acmectl-migrate.service; do
	_t_run systemd-analyze security --offline=yes --no-pager "$U/$u"
	level=$(printf '%s\n' "$OUT" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	t_diag "$u: exposure $level"
	t_ok "$u: systemd-analyze security exposure $level is at most 2.0" \
		awk -v l="$level" 'BEGIN { exit !(l != "" && l + 0 <= 2.0) }'
done

# ---- sd_notify, for real ------------------------------------------------------------------------
SOCK=$TEST_TMP/notify.sock
MSGS=$TEST_TMP/notify.log
python3 - "$SOCK" "$MSGS" <<'EOF' &
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(300)
with open(log, "a") as f:
    try:
        while True:
            data = s.recv(4096).decode()
            if data == "QUIT":
                break
            for line in data.split("\n"):
                f.write(line + "\n")
            f.flush()
    except socket.timeout:
        pass
EOF
LISTENER=$!
wait_for 30 '[ -S "$SOCK" ]' || t_diag "the notify socket never appeared"
has() { grep -q "^$1" "$MSGS" 2>/dev/null; }

# a worker that cannot reach Redis yet says why in STATUS= and is not READY
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=1000000 REDIS_URL="redis://127.0.0.1:1" \
	start_worker down --queues default
t_ok "without Redis: STATUS= says it is waiting" wait_for 60 'has "STATUS=waiting: "'
t_ok "without Redis: the watchdog is still fed" wait_for 60 'has "WATCHDOG=1"'
t_ok "without Redis: no READY=1" sh -c "! grep -q '^READY=1' '$MSGS'"
stop_worker down
t_is "$W_STATUS" "0" "and SIGTERM stops it cleanly"
: >"$MSGS"

NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=1000000 start_worker w --queues default,import
t_ok "READY=1 once it serves" wait_for 60 'has "READY=1"'
t_like "$(cat "$MSGS")" "STATUS=serving jobs" "with a STATUS= line"
t_ok "WATCHDOG=1 (WATCHDOG_USEC=1s)" wait_for 60 'has "WATCHDOG=1"'
# shellcheck disable=SC2034 # read by the wait_for condition
n1=$(grep -c '^WATCHDOG=1' "$MSGS")
t_ok "the watchdog keeps coming" wait_for 60 '[ "$(grep -c "^WATCHDOG=1" "$MSGS")" -gt "$n1" ]'
# shellcheck disable=SC2034 # read by the wait_for condition
id=$(enqueue noop)
t_ok "the worker runs a job" wait_for 60 '[ "$(job_col "$id" state)" = succeeded ]'
t_is "$(grep -c '^READY=1' "$MSGS")" "1" "READY=1 is sent once"
stop_worker w TERM 45
t_is "$W_STATUS" "0" "SIGTERM: exit 0 within TimeoutStopSec"
t_like "$(cat "$MSGS")" "STOPPING=1" "STOPPING=1 on SIGTERM"

# the scheduler has no children and is READY all the same; no watchdog asked, none sent
: >"$MSGS"
NOTIFY_SOCKET=$SOCK start_worker beat --beat-only
t_ok "--beat-only: READY=1" wait_for 60 'has "READY=1"'
t_like "$(cat "$MSGS")" "STATUS=scheduler running" "--beat-only: its STATUS= line"
stop_worker beat
t_is "$W_STATUS" "0" "--beat-only: SIGTERM, exit 0"
t_ok "without WATCHDOG_USEC no WATCHDOG=1" sh -c "! grep -q '^WATCHDOG=1' '$MSGS'"

python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"QUIT", sys.argv[1])' "$SOCK"
wait_pid "$LISTENER" 30 >/dev/null

# without NOTIFY_SOCKET (a terminal, Kubernetes) nothing changes
start_worker plain --queues default --burst
wait_pid "$W_PID" 60
t_is "$?" "0" "without NOTIFY_SOCKET the worker runs as before"
t_done
