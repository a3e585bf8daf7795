#!/bin/sh
# The outbox relay: rows written to outbox become exactly one event.dispatch
# job each, even with two workers relaying at once while rows keep coming;
# event.dispatch counts the webhooks subscribed to the event. Housekeeping
# purges finished jobs, staged uploads and relayed outbox rows past retention,
# in batches, and keeps everything else.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

P=$ACME_REDIS_PREFIX

tpsql -c "INSERT INTO webhooks (url, events, secret, enabled) VALUES
	('https://a.example/hook', '{product.updated}', 's', true),
	('https://b.example/hook', '{*}', 's', true),
	('https://c.example/hook', '{product.updated,import.completed}', 's', true),
	('https://d.example/hook', '{product.updated}', 's', false),
	('https://e.example/hook', '{import.completed}', 's', true)"

# ---- two workers relay while rows keep coming ----
tpsql -c "INSERT INTO outbox (event_type, payload) SELECT 'product.updated',
	jsonb_build_object('n', g) FROM generate_series(1, 150) g"
start_worker r1 -Q webhooks=1 --lease 5s
start_worker r2 -Q webhooks=1 --lease 5s
for _ in 1 2 3 4 5; do
	tpsql -c "INSERT INTO outbox (event_type, payload) SELECT 'product.updated',
		jsonb_build_object('n', g) FROM generate_series(1, 20) g"
	tpsql -c "INSERT INTO outbox (event_type, payload) VALUES ('import.completed', '{}')"
	sleep 0.2
done
total=$((150 + 5 * 21))
t_ok "every outbox row is relayed" wait_for 30 \
	"[ \$(tpsql -c 'SELECT count(*) FROM outbox WHERE relayed_at IS NOT NULL') = $total ]"
t_ok "and every event.dispatch job succeeds" wait_for 30 \
	"[ \$(tpsql -c \"SELECT count(*) FROM jobs WHERE type = 'event.dispatch' AND state = 'succeeded'\") = $total ]"
stop_worker r1
stop_worker r2
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE type = 'event.dispatch'")" "$total" \
	"exactly one job per outbox row"
t_is "$(tpsql -c "SELECT count(*) FROM outbox o LEFT JOIN jobs j ON j.id = 'dispatch-evt_' || o.id
	WHERE j.id IS NULL")" 0 "each job's id is its event's (dispatch-evt_<id>)"
t_is "$(tredis --scan --pattern "${P}{webhooks}:job:dispatch-evt_*" | wc -l | tr -d ' ')" "$total" \
	"Redis holds one job per event (the queue also carries webhook.deliver jobs)"
t_is "$(tpsql -c "SELECT max(attempts) FROM jobs WHERE type = 'event.dispatch'")" 1 "each ran once"
# the dispatcher makes one delivery per enabled subscribed endpoint
t_is "$(tpsql -c "SELECT DISTINCT n FROM (SELECT o.id, count(d.id) AS n FROM outbox o
	LEFT JOIN webhook_deliveries d ON d.event_id = 'evt_' || o.id
	WHERE o.event_type = 'product.updated' GROUP BY o.id) x")" 3 \
	"product.updated: one delivery to each of 3 enabled subscribers (a, b, c)"
t_is "$(tpsql -c "SELECT DISTINCT n FROM (SELECT o.id, count(d.id) AS n FROM outbox o
	LEFT JOIN webhook_deliveries d ON d.event_id = 'evt_' || o.id
	WHERE o.event_type = 'import.completed' GROUP BY o.id) x")" 3 "import.completed: 3 (b, c, e)"
t_json "$(tpsql -c "SELECT payload FROM jobs WHERE id = 'dispatch-evt_1'")" \
	"d['event_id'] == 'evt_1' and d['type'] == 'product.updated' and d['data'] == {'n': 1} and d['created_at']" \
	"the job carries the event"
t_is "$(cat "$TEST_TMP/r1.log" "$TEST_TMP/r2.log" | grep -c 'outbox relay:')" 0 "no relay errors"

# ---- housekeeping ----
# finished long ago / recently, waiting and running jobs, with uploads
tpsql <<'EOS' >/dev/null
INSERT INTO jobs (id, type, state, finished_at, created_at) VALUES
	('hk-old-1', 'noop', 'succeeded', now() - interval '8 days', now() - interval '9 days'),
	('hk-old-2', 'noop', 'dead', now() - interval '10 days', now() - interval '11 days'),
	('hk-old-3', 'noop', 'cancelled', now() - interval '8 days', now() - interval '9 days'),
	('hk-mid', 'noop', 'succeeded', now() - interval '2 days', now() - interval '2 days'),
	('hk-new', 'noop', 'failed', now() - interval '1 hour', now() - interval '1 hour'),
	('hk-run', 'noop', 'running', NULL, now() - interval '30 days'),
	('hk-wait', 'noop', 'queued', NULL, now() - interval '30 days');
INSERT INTO uploads (job_id, filename, size, created_at) VALUES
	('hk-mid', 'mid.csv', 3, now() - interval '2 days'),
	('hk-new', 'new.csv', 3, now() - interval '1 hour'),
	('hk-run', 'run.csv', 3, now() - interval '30 days'),
	(NULL, 'orphan-old.csv', 3, now() - interval '2 days'),
	(NULL, 'orphan-new.csv', 3, now() - interval '1 hour');
INSERT INTO uploads_chunks (upload_id, seq, data) SELECT id, g, 'abc'::bytea
	FROM uploads, generate_series(0, 2) g;
UPDATE outbox SET relayed_at = now() - interval '8 days' WHERE id <= 100;
INSERT INTO outbox (event_type, relayed_at) VALUES ('old.unrelayed', NULL);
EOS
tpsql -c "UPDATE outbox SET created_at = now() - interval '9 days' WHERE event_type = 'old.unrelayed'"
# relayed long ago, but its dispatch has not run yet (a paused webhooks queue):
# the dispatch reads the event from this row, so it must stay
pend=$(tpsql -c "INSERT INTO outbox (event_type, relayed_at) VALUES ('old.pending', now() - interval '8 days') RETURNING id")
tpsql -c "INSERT INTO jobs (id, type, queue, state, created_at) VALUES
	('dispatch-evt_$pend', 'event.dispatch', 'webhooks', 'queued', now() - interval '8 days')" >/dev/null
hk=$(enqueue housekeeping '{"batch": 7}')
t_ok "housekeeping runs (batch 7)" timeout 60 "$ACMECTL" worker --burst -Q default=1
t_is "$(job_col "$hk" state)" succeeded "it succeeded"
t_json "$(job_col "$hk" result)" "{k: d[k] for k in ('uploads_deleted', 'jobs_deleted', 'outbox_deleted')} ==
	{'uploads_deleted': 2, 'jobs_deleted': 3, 'outbox_deleted': 100} and
	sorted(d['webhook_sweep']) == ['due', 'given_up', 'recovered', 'woken']" \
	"it says what it deleted, and what its webhook sweep found (t5080 tests the sweep)"
t_is "$(tpsql -c "SELECT string_agg(id, ' ' ORDER BY id) FROM jobs WHERE id LIKE 'hk-%'")" \
	"hk-mid hk-new hk-run hk-wait" "finished jobs older than 7 days are gone; the rest stay"
t_is "$(tpsql -c "SELECT string_agg(filename, ' ' ORDER BY filename) FROM uploads")" \
	"new.csv orphan-new.csv run.csv" "uploads of jobs finished over a day ago and old orphans are gone"
t_is "$(tpsql -c "SELECT count(*) FROM uploads_chunks")" 9 "with their chunks"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE relayed_at < now() - interval '7 days' AND id <> $pend")" 0 \
	"outbox rows relayed over 7 days ago are gone"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE event_type = 'old.unrelayed'")" 1 \
	"an old row relayed only now (or not yet) stays"
t_is "$(tpsql -c "SELECT count(*) FROM outbox WHERE id = $pend")" 1 \
	"an old relayed row whose dispatch job is not final stays"
tpsql -c "DELETE FROM jobs WHERE id = 'dispatch-evt_$pend'" >/dev/null

# Redis state of purged jobs goes too
old=$(enqueue noop)
t_ok "a job runs" timeout 60 "$ACMECTL" worker --burst -Q default=1
tpsql -c "UPDATE jobs SET finished_at = now() - interval '3 hours' WHERE id = '$old'"
t_is "$(tredis EXISTS "${P}{default}:job:$old")" 1 "Redis still has the finished job"
hk=$(enqueue housekeeping '{"jobs_older_than": "2h", "uploads_older_than": "30m", "outbox_older_than": "1d"}')
t_ok "housekeeping with shorter retentions" timeout 60 "$ACMECTL" worker --burst -Q default=1
t_json "$(job_col "$hk" result)" "d['jobs_deleted'] == 2 and d['uploads_deleted'] == 2" \
	"the payload's retentions are used"
t_is "$(tredis EXISTS "${P}{default}:job:$old")" 0 "the purged job's Redis hash is gone"
t_is "$(job_col "$old" id)" "" "and its row"
bad=$(enqueue housekeeping '{"jobs_older_than": "soon"}')
t_ok "a bad retention" timeout 60 "$ACMECTL" worker --burst -Q default=1
t_is "$(job_col "$bad" state)" failed "fails the job at once (retrying cannot help)"
t_like "$(job_col "$bad" error)" 'jobs_older_than" must be a duration' "saying which key"

t_done
