/* outbox.c — the transactional outbox and its relay; see outbox.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/failpoint.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/outbox.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

int outbox_add(PGconn *db, const char *event_type, json_t *payload, long long *id,
	       struct acme_err *err)
{
	char *text = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
	const char *params[2] = { event_type, text ? text : "{}" };
	PGresult *res = db_exec(db, err, "INSERT INTO outbox (event_type, payload) VALUES ($1, "
				"CASE WHEN current_setting('acme.smoke', true) = 'on' "
				"THEN $2::jsonb || jsonb_build_object('" OUTBOX_SMOKE_KEY "', true) "
				"ELSE $2::jsonb END) RETURNING id", 2, params);
	free(text);
	if (!res)
		return acme_err_prefix(err, "outbox: %s", event_type);
	if (id)
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

int outbox_relay(PGconn *db, struct queue *q, int limit, long long *n, struct acme_err *err)
{
	char lim[16];
	struct strbuf done = STRBUF_INIT;
	int rc = -1;
	char *created_by = job_created_by();
	*n = 0;
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[1] = { lim };
	PGresult *res = db_exec(db, err,
		"SELECT id, event_type, payload::text, "
		CLOCK_SQL_TEXT("created_at") " "
		"FROM outbox WHERE relayed_at IS NULL ORDER BY id LIMIT $1", 1, params);
	if (!res)
		goto out;
	strbuf_addch(&done, '{');
	for (int i = 0; i < PQntuples(res); i++) {
		const char *id = PQgetvalue(res, i, 0);
		char job_id[64], event_id[64];
		snprintf(event_id, sizeof(event_id), OUTBOX_EVENT_ID_HEAD "%s", id);
		snprintf(job_id, sizeof(job_id), OUTBOX_JOB_ID_HEAD "%s", event_id);
		json_t *data = json_loads(PQgetvalue(res, i, 2), 0, NULL);
		json_t *payload = json_pack("{s:s, s:s, s:s, s:o}", "event_id", event_id,
					    "type", PQgetvalue(res, i, 1), "created_at",
					    PQgetvalue(res, i, 3), "data", data ? data : json_object());
		char *text = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(payload);
		struct queue_spec spec = { 0 };
		spec.id = job_id;
		spec.type = OUTBOX_JOB_TYPE;
		spec.payload = text;
		bool existed = false;
		int r = jobtype_fill_spec(&spec, err);
		if (r == 0)
			r = job_enqueue(db, q, &spec, created_by, NULL, &existed, err);
		free(text);
		if (r < 0)
			break;           /* relay what was enqueued; the rest next time */
		strbuf_addf(&done, "%s%s", done.len > 1 ? "," : "", id);
		(*n)++;
	}
	strbuf_addch(&done, '}');
	if (*n > 0 && FAILPOINT(RELAY_AFTER_ENQUEUE, err) < 0)
		goto out;
	if (*n > 0) {
		const char *p[1] = { done.buf };
		if (db_cmd(db, err, "UPDATE outbox SET relayed_at = now() WHERE id = ANY($1::bigint[])",
			   1, p) < 0)
			goto out;
	}
	rc = (*n == 0 && PQntuples(res) > 0) ? -1 : 0;
out:
	PQclear(res);
	strbuf_release(&done);
	free(created_by);
	return rc;
}
