#!/bin/sh
# One JSON shape (issue 11, point 8). Every list's -o json is
# {"items": [...], "page": {"limit", "next_cursor", ...}}; -o ndjson is the
# items, one per line; --after CURSOR reads the next page where a list pages;
# single objects are objects; every time is RFC 3339 UTC with milliseconds;
# an event is evt_N everywhere and its dispatch job dispatch-evt_N;
# --no-headers and --columns shape table, tsv and csv.
#
# Regression: products list gave the envelope while jobs, webhooks,
# deliveries, audit and migrate gave bare arrays; times came with µs in some
# places, ms in others and no fraction in migrate; the dispatch job of event
# evt_35 was evt-35.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

# shape "$json" — the top-level keys, sorted, and the page's, or "not an envelope"
shape() {
	printf '%s' "$1" | python3 -c 'import json, sys
d = json.load(sys.stdin)
ok = isinstance(d, dict) and isinstance(d.get("items"), list) and isinstance(d.get("page"), dict) \
	and "limit" in d["page"] and "next_cursor" in d["page"] \
	and all(isinstance(i, dict) for i in d["items"])
print("envelope" if ok else "not an envelope")'
}
# bad_times "$json-or-ndjson" — every string value under a key ending in _at
# (or named "at"), at any depth, that is not RFC 3339 UTC with ms; "" if none
bad_times() {
	printf '%s\n' "$1" | python3 -c 'import json, re, sys
pat = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
bad = []
def walk(v, key=""):
    if isinstance(v, dict):
        for k, x in v.items():
            walk(x, k)
    elif isinstance(v, list):
        for x in v:
            walk(x, key)
    elif isinstance(v, str) and (key.endswith("_at") or key == "at") and not pat.match(v):
        bad.append("%s=%s" % (key, v))
    elif isinstance(v, int) and not isinstance(v, bool) and key.endswith("_ms") and v > 10**12:
        bad.append("%s=%s (epoch ms, not text)" % (key, v))
text = sys.stdin.read()
try:
    walk(json.loads(text))
except ValueError:
    for line in text.splitlines():
        walk(json.loads(line))
print(" ".join(bad))'
}
count() { printf '%s' "$1" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))'; }
field() { printf '%s' "$1" | python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print("" if v is None else v)' "$2"; }

# ---- data for every list ----------------------------------------------------------
for i in 1 2 3; do
	acmectl -q products create --sku "SHAPE-$i" --name "Shape $i" --price "$i.50" >/dev/null
done
for i in 1 2 3 4 5; do
	acmectl -q jobs enqueue noop --id "shape-$i" >/dev/null
done
acmectl -q webhooks add https://hooks.example.com/shape -e '*' >/dev/null
WH=$(tpsql -c "SELECT max(id) FROM webhooks")
tpsql -c "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, next_attempt_at)
	SELECT $WH, 'evt_' || g, 'product.created', convert_to('{}', 'UTF8'), now()
	FROM generate_series(101, 105) g" >/dev/null
# a worker's heartbeat record, as core/worker.c writes it (a TTL longer than
# any run of this file: with EX 300 the record expired before the checks
# below on a machine running two suites at once)
tredis SET "${ACME_REDIS_PREFIX}worker:shapehost:4242" \
	'{"host":"shapehost","pid":4242,"version":"0","pools":[{"name":"default","size":1}],"current_jobs":[{"job_id":"shape-1","type":"noop","queue":"default","pid":4243,"pool":"default","started_ms":1764687845123}],"rss_kb":1,"started_ms":1764687845123,"updated_ms":1764687846123,"beat":false,"leader":false,"children":1,"jobs_done":0}' \
	EX 7200 >/dev/null

# ---- every list command: the envelope, ndjson, times ------------------------------------
while IFS='|' read -r name args; do
	# shellcheck disable=SC2086 # args is a list of words
	t_ok "$name -o json" acmectl $args -o json
	J=$OUT
	t_is "$(shape "$J")" envelope "$name -o json is {items, page{limit, next_cursor}}"
	t_is "$(bad_times "$J")" "" "$name -o json: times are RFC 3339 UTC with ms"
	# shellcheck disable=SC2086
	t_ok "$name -o ndjson" acmectl $args -o ndjson
	t_is "$(printf '%s' "$OUT" | python3 -c 'import json, sys
n = 0
for line in sys.stdin:
    o = json.loads(line)
    assert isinstance(o, dict) and "items" not in o and "page" not in o
    n += 1
print(n)')" "$(count "$J")" "$name -o ndjson streams the same items, one object per line"
done <<'EOF'
products list|products list
jobs list|jobs list
jobs stats|jobs stats
jobs workers|jobs workers
jobs schedules|jobs schedules
webhooks list|webhooks list
webhooks deliveries|webhooks deliveries
audit|audit
migrate list|migrate list
migrate status|migrate status
EOF

t_ok "jobs workers -o json" acmectl jobs workers -o json
t_is "$(field "$OUT" items.0.started_at) $(field "$OUT" items.0.current_jobs.0.started_at)" \
	"2025-12-02T15:04:05.123Z 2025-12-02T15:04:05.123Z" "jobs workers: the heartbeat's times as text"
t_ok "migrate status -o json" acmectl migrate status -o json
t_json "$OUT" "d['page'] == {'limit': None, 'next_cursor': None} and d['current'] == d['head'] and \
d['items'][0]['version'] == 1 and d['problem'] is None" \
	"migrate status: the migrations are the items, the rest sits beside them; it does not page"
t_ok "audit -o json" acmectl audit -o json
t_json "$OUT" "len(d['items']) >= 3 and d['page']['limit'] == 100" "audit: its rows, the limit in page"

# ---- tables show the same times ---------------------------------------------------------
t_ok "jobs list tsv" acmectl jobs list --columns created_at
t_unlike "$(printf '%s\n' "$OUT" | sed 1d | grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$')" \
	'.' "jobs list tsv: created_at in the same format"
t_ok "products list tsv" acmectl products list --columns updated_at
t_unlike "$(printf '%s\n' "$OUT" | sed 1d | grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$')" \
	'.' "products list tsv: updated_at with ms, not µs"
t_ok "migrate status tsv" acmectl migrate status --columns applied_at --no-headers
t_like "$OUT" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' \
	"migrate status: applied_at with ms"

# ---- paging: --after -------------------------------------------------------------------
t_ok "jobs list page 1" acmectl jobs list --limit 2 -o json
P1=$OUT
C1=$(field "$P1" page.next_cursor)
t_like "$C1" '.' "a full page has a next_cursor"
t_is "$(field "$P1" page.limit)" 2 "page.limit is the limit"
t_ok "jobs list page 2" acmectl jobs list --limit 2 --after "$C1" -o json
P2=$OUT
C2=$(field "$P2" page.next_cursor)
t_ok "jobs list page 3" acmectl jobs list --limit 2 --after "$C2" -o json
P3=$OUT
t_is "$(field "$P3" page.next_cursor)" "" "the last page has no next_cursor"
t_is "$(for p in "$P1" "$P2" "$P3"; do printf '%s' "$p" | python3 -c 'import json, sys
for i in json.load(sys.stdin)["items"]: print(i["id"])'; done | tr '\n' ' ')" \
	"shape-5 shape-4 shape-3 shape-2 shape-1 " "the pages hold every job once, newest first"
t_exit 2 "jobs list --after garbage" acmectl jobs list --after 'no such cursor'
t_like "$ERR" 'not a cursor' "says it is not a cursor"

t_ok "deliveries page 1" acmectl webhooks deliveries --limit 3 -o json
D1=$OUT
t_ok "deliveries page 2" acmectl webhooks deliveries --limit 3 --after "$(field "$D1" page.next_cursor)" -o json
D2=$OUT
t_is "$(for p in "$D1" "$D2"; do printf '%s' "$p" | python3 -c 'import json, sys
for i in json.load(sys.stdin)["items"]: print(i["event_id"])'; done | tr '\n' ' ')" \
	"evt_105 evt_104 evt_103 evt_102 evt_101 " "deliveries page by --after, none twice"
t_is "$(field "$D2" page.next_cursor)" "" "and end"
t_exit 2 "deliveries --after garbage" acmectl webhooks deliveries --after x1

# ---- single objects are objects ---------------------------------------------------------
t_ok "jobs show -o json" acmectl jobs show shape-1 -o json
t_json "$OUT" "d['id'] == 'shape-1' and 'items' not in d" "jobs show is one object"
t_is "$(bad_times "$OUT")" "" "jobs show: times are RFC 3339 UTC with ms"
t_ok "products get -o json" acmectl products get SHAPE-1 -o json
t_json "$OUT" "d['sku'] == 'SHAPE-1' and 'items' not in d" "products get is one object"
t_is "$(bad_times "$OUT")" "" "products get: times with ms"
DID=$(tpsql -c "SELECT id FROM webhook_deliveries WHERE event_id = 'evt_101'")
t_ok "webhooks delivery show -o json" acmectl webhooks delivery show "$DID" -o json
t_json "$OUT" "d['id'] == $DID and 'items' not in d" "webhooks delivery show is one object"
t_is "$(bad_times "$OUT")" "" "webhooks delivery show: times with ms"

# ---- one id format per kind: events ----------------------------------------------------
acmectl -q worker --burst --queues webhooks >/dev/null 2>&1 &
wait_pid $! 120 >/dev/null
t_like "$(tpsql -c "SELECT count(*) FROM outbox")" '^[1-9]' "the changes above wrote events"
t_is "$(tpsql -c "SELECT count(*) FROM outbox o JOIN jobs j ON j.id = 'dispatch-evt_' || o.id")" \
	"$(tpsql -c "SELECT count(*) FROM outbox")" "each event's dispatch job is dispatch-evt_N"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE id LIKE 'evt-%'")" 0 "no job id is evt-N"

# ---- --no-headers, --columns -----------------------------------------------------------
t_ok "tsv with headers" acmectl jobs list --state queued --columns state,id
t_is "$(printf '%s\n' "$OUT" | head -n 2)" "$(printf 'state\tid\nqueued\tshape-5')" \
	"--columns chooses and orders the columns"
t_ok "tsv --no-headers" acmectl jobs list --state queued --columns id --no-headers
t_is "$(printf '%s\n' "$OUT" | tr '\n' ' ')" "shape-5 shape-4 shape-3 shape-2 shape-1 " \
	"--no-headers: only data"
t_ok "csv" acmectl products list -o csv --columns sku,description --no-headers
t_is "$(printf '%s\n' "$OUT" | head -n 1)" "SHAPE-1," "csv too, and --columns reaches columns the table leaves out"
t_ok "table --no-headers" acmectl webhooks list -o table --no-headers --columns id
t_is "$OUT" "$WH" "a table without its header"
t_ok "an empty list --no-headers prints nothing" acmectl jobs list --state dead --no-headers
t_is "$OUT" "" "nothing at all"
t_exit 2 "an unknown column" acmectl jobs list --columns id,nosuch
t_like "$ERR" '"nosuch" is not a column here; the columns are id, type, queue, state' \
	"exits 2 listing the valid columns"
t_exit 2 "--columns with -o json" acmectl jobs list --columns id -o json
t_like "$ERR" 'for table, tsv and csv' "says --columns is for tables"

t_done
