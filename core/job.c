/* job.c — the jobs table: enqueue through PostgreSQL, the versioned mirror of
 * Redis transitions, the lease fence, and the row-level verbs behind `acmectl
 * jobs` (get, list, cancel, retry, purge). See job.h for the model.
 *
 * All SQL of the module is here, parameterised. Snapshots travel to
 * PostgreSQL as one jsonb array read with jsonb_to_recordset(), so a batch of
 * any size is one statement and one round trip.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/audit.h"
#include "core/failpoint.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/output.h"
#include "core/xalloc.h"

#define FINAL_STATES "('succeeded', 'failed', 'dead', 'cancelled')"
#define ISO(col) CLOCK_SQL_TEXT(col)

char *job_created_by(void)
{
	return acme_whoami();
}

/* ---- mirror ------------------------------------------------------------------ */

static json_t *json_or_null(const char *text)
{
	json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	return j ? j : json_null();
}

static json_t *ms_or_null(long long ms)
{
	return ms > 0 ? json_integer(ms) : json_null();
}

static const char mirror_sql[] =
	"UPDATE jobs AS j SET state = u.state, attempts = u.attempts, lease_token = u.token,"
	" error = u.error, result = u.result, progress = u.progress,"
	" cancel_requested = u.cancel,"
	" scheduled_at = to_timestamp(u.scheduled_ms / 1000.0),"
	" started_at = to_timestamp(u.started_ms / 1000.0),"
	" finished_at = to_timestamp(u.finished_ms / 1000.0),"
	" version = u.version, updated_at = now()"
	" FROM (SELECT DISTINCT ON (x.id) x.* FROM jsonb_to_recordset($1::jsonb) AS x("
	"   id text, state text, attempts int, token text, error text, result jsonb,"
	"   progress jsonb, cancel boolean, scheduled_ms bigint, started_ms bigint,"
	"   finished_ms bigint, version bigint)"
	"   ORDER BY x.id, x.version DESC) AS u"
	/* the ANY() over the ids steers the planner to the primary key: it
	 * guesses 100 rows for jsonb_to_recordset and would scan a small table */
	" WHERE j.id = ANY(ARRAY(SELECT jsonb_array_elements($1::jsonb) ->> 'id'))"
	" AND j.id = u.id AND j.version < u.version AND j.state NOT IN " FINAL_STATES;

/* The same for one snapshot, with plain parameters: what a worker does for
 * every transition, so it is kept cheap (no JSON decoding, no sort). */
static const char mirror_one_sql[] =
	"UPDATE jobs SET state = $2, attempts = $3::int, lease_token = $4, error = $5,"
	" result = $6::jsonb, progress = $7::jsonb, cancel_requested = $8::boolean,"
	" scheduled_at = to_timestamp($9::bigint / 1000.0),"
	" started_at = to_timestamp($10::bigint / 1000.0),"
	" finished_at = to_timestamp($11::bigint / 1000.0),"
	" version = $12::bigint, updated_at = now()"
	" WHERE id = $1 AND version < $12::bigint AND state NOT IN " FINAL_STATES;

/* A JSON text for a jsonb parameter, or NULL when it is not valid JSON. */
static const char *valid_json(const char *text)
{
	json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	json_decref(j);
	return j ? text : NULL;
}

static int mirror_one(PGconn *db, const struct queue_job *j, struct acme_err *err)
{
	char att[16], sched[24], start[24], fin[24], ver[24];
	snprintf(att, sizeof(att), "%d", j->attempts);
	snprintf(sched, sizeof(sched), "%lld", j->scheduled_ms);
	snprintf(start, sizeof(start), "%lld", j->started_ms);
	snprintf(fin, sizeof(fin), "%lld", j->finished_ms);
	snprintf(ver, sizeof(ver), "%lld", j->version);
	const char *params[12] = {
		j->id, job_state_name(j->state), att, j->token, j->error, valid_json(j->result),
		valid_json(j->progress), j->cancel_requested ? "true" : "false",
		j->scheduled_ms > 0 ? sched : NULL, j->started_ms > 0 ? start : NULL,
		j->finished_ms > 0 ? fin : NULL, ver,
	};
	PGresult *res = db_exec(db, err, mirror_one_sql, 12, params);
	if (!res)
		return acme_err_prefix(err, "recording the state of job %s in the jobs table", j->id);
	int n = atoi(PQcmdTuples(res));
	PQclear(res);
	return n;
}

int job_mirror(PGconn *db, const struct queue_job *jobs, size_t n, struct acme_err *err)
{
	if (n == 1)
		return jobs[0].known && jobs[0].id ? mirror_one(db, &jobs[0], err) : 0;

	json_t *arr = json_array();
	char *text = NULL;
	PGresult *res = NULL;
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		const struct queue_job *j = &jobs[i];
		if (!j->known || !j->id)
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:b, s:o, "
						     "s:o, s:o, s:I}",
			"id", j->id, "state", job_state_name(j->state), "attempts", j->attempts,
			"token", json_str_or_null(j->token), "error", json_str_or_null(j->error),
			"result", json_or_null(j->result), "progress", json_or_null(j->progress),
			"cancel", j->cancel_requested, "scheduled_ms", ms_or_null(j->scheduled_ms),
			"started_ms", ms_or_null(j->started_ms), "finished_ms", ms_or_null(j->finished_ms),
			"version", (json_int_t)j->version));
	}
	if (json_array_size(arr) == 0) {
		rc = 0;
		goto out;
	}
	text = json_dumps(arr, JSON_COMPACT);
	/* The LIMIT tells the planner how many rows the batch has: without it
	 * jsonb_to_recordset() is estimated at 100 rows, and a jobs table of up
	 * to some ten thousand rows is then hash-joined by a sequential scan on
	 * every call (the worker makes two per job). */
	const char *params[1] = { text };
	res = db_exec(db, err, mirror_sql, 1, params);
	if (!res) {
		acme_err_prefix(err, "recording job states in the jobs table");
		goto out;
	}
	rc = atoi(PQcmdTuples(res));
out:
	PQclear(res);
	free(text);
	json_decref(arr);
	return rc;
}

static char *col(const PGresult *res, int r, int c);

void job_start_info_release(struct job_start_info *info)
{
	free(info->result);
	free(info->error);
	memset(info, 0, sizeof(*info));
}

int job_start(PGconn *db, const struct queue_job *job, struct job_start_info *info,
	      struct acme_err *err)
{
	PGresult *res = NULL;
	int rc = -1;

	int n = job_mirror(db, job, 1, err);
	if (n < 0)
		return -1;
	if (n == 1)
		return JOB_START_OK;
	const char *params[1] = { job->id };
	res = db_exec(db, err, "SELECT state, lease_token, version, result::text, error FROM jobs"
		      " WHERE id = $1", 1, params);
	if (!res)
		return -1;
	enum job_state st = JOB_QUEUED;
	if (PQntuples(res) == 0) {
		rc = JOB_START_NO_ROW;
		goto out;
	}
	job_state_parse(PQgetvalue(res, 0, 0), &st);
	if (job_state_is_final(st))
		rc = JOB_START_FINISHED;
	else if (job->token && !PQgetisnull(res, 0, 1) && strcmp(PQgetvalue(res, 0, 1), job->token) == 0)
		rc = JOB_START_OK;     /* recorded already (a repeated call) */
	else
		rc = JOB_START_STALE;
	if (info && rc != JOB_START_OK) {
		job_start_info_release(info);
		info->state = st;
		info->version = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		info->result = col(res, 0, 3);
		info->error = col(res, 0, 4);
	}
out:
	PQclear(res);
	return rc;
}

int job_save_progress(PGconn *db, const struct queue_job *job, struct acme_err *err)
{
	if (!job->progress || !job->token)
		return 0;
	const char *params[3] = { job->id, job->token, job->progress };
	return db_cmd(db, err, "UPDATE jobs SET progress = $3::jsonb, updated_at = now()"
		      " WHERE id = $1 AND lease_token = $2 AND state = 'running'", 3, params);
}

int job_check_lease(PGconn *db, const char *id, const char *token, bool *cancel_requested,
		    struct acme_err *err)
{
	PGresult *res = NULL;
	int rc = -1;

	if (PQtransactionStatus(db) != PQTRANS_INTRANS)
		return acme_err_set(err, ACME_E_USAGE, "job %s: the lease must be checked inside the "
				    "transaction that commits the job's effects", id);
	const char *params[1] = { id };
	res = db_exec(db, err, "SELECT state, lease_token, cancel_requested FROM jobs"
		      " WHERE id = $1 FOR UPDATE", 1, params);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		acme_err_set(err, ACME_E_NOT_FOUND, "job %s: no row in the jobs table", id);
		goto out;
	}
	const char *state = PQgetvalue(res, 0, 0);
	if (strcmp(state, "running") != 0 || PQgetisnull(res, 0, 1) || !token ||
	    strcmp(PQgetvalue(res, 0, 1), token) != 0) {
		acme_err_set(err, ACME_E_REFUSED, "job %s: lease lost (the job is %s%s); this "
			     "attempt must not commit", id, state,
			     strcmp(state, "running") == 0 ? " under another lease" : "");
		goto out;
	}
	if (cancel_requested)
		*cancel_requested = PQgetvalue(res, 0, 2)[0] == 't';
	rc = 0;
out:
	PQclear(res);
	return rc;
}

static const char commit_outcome_sql[] =
	"UPDATE jobs SET state = $2, result = COALESCE($3::jsonb, result), error = $4,"
	" lease_token = NULL, finished_at = now(), updated_at = now(), version = version + 1"
	" WHERE id = $1";

int job_commit(PGconn *db, const struct queue_job *job, enum job_state state,
	       const char *result_json, const char *error, struct acme_err *err)
{
	bool cancel = false;

	if (!job_state_is_final(state))
		return acme_err_set(err, ACME_E_USAGE, "job %s: job_commit needs a final state, "
				    "not %s", job->id, job_state_name(state));
	if (FAILPOINT(JOB_BEFORE_COMMIT, err) < 0 ||
	    job_check_lease(db, job->id, job->token, &cancel, err) < 0)
		return -1;
	if (cancel) {
		if (state == JOB_SUCCEEDED)
			return acme_err_set(err, ACME_E_REFUSED, "cancelled on request");
		state = JOB_CANCELLED;
	}
	const char *params[4] = {
		job->id, job_state_name(state),
		state != JOB_CANCELLED ? valid_json(result_json) : NULL,   /* a failure may keep one */
		state == JOB_SUCCEEDED ? NULL : (error && error[0] ? error : "failed"),
	};
	if (db_cmd(db, err, commit_outcome_sql, 4, params) < 0)
		return acme_err_prefix(err, "job %s: recording its outcome", job->id);
	if (FAILPOINT(JOB_AFTER_FENCE, err) < 0 || db_commit(db, err) < 0)
		return acme_err_prefix(err, "job %s: COMMIT", job->id);
	return 0;
}

/* ---- reconciler -------------------------------------------------------------- */

static const char reconcile_sql[] =
	"SELECT id, queue, type, state, version, attempts, max_attempts, payload::text,"
	" GREATEST(0, ceil(extract(epoch FROM scheduled_at - now()) * 1000))::bigint,"
	" created_at::text FROM jobs"
	" WHERE state IN ('scheduled', 'queued', 'running', 'retrying')"
	" AND updated_at < now() - $3::bigint * interval '1 millisecond'"
	" AND (created_at, id) > ($1::timestamptz, $2) ORDER BY created_at, id LIMIT $4::int";

int job_reconcile_batch(PGconn *db, struct queue *q, long long min_age_ms, int limit,
			struct job_reconcile *rec, struct acme_err *err)
{
	char age[24], lim[16];
	PGresult *res = NULL;
	const char **queues = NULL, **ids = NULL, **names = NULL;
	long long *versions = NULL;
	struct queue_spec *specs = NULL;
	struct queue_job *snaps = NULL, *newer = NULL;
	int *rcs = NULL;
	size_t nspec = 0, nnewer = 0, nnames = 0;
	int rc = -1;

	snprintf(age, sizeof(age), "%lld", min_age_ms);
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[4] = { rec->at[0] ? rec->at : "-infinity", rec->id, age, lim };
	res = db_exec(db, err, reconcile_sql, 4, params);
	if (!res)
		return acme_err_prefix(err, "reconciler");
	int rows = PQntuples(res);
	size_t cap = rows > 0 ? (size_t)rows : 1;
	queues = xcalloc(cap, sizeof(*queues));
	ids = xcalloc(cap, sizeof(*ids));
	names = xcalloc(cap, sizeof(*names));
	versions = xcalloc(cap, sizeof(*versions));
	specs = xcalloc(cap, sizeof(*specs));
	snaps = xcalloc(cap, sizeof(*snaps));
	newer = xcalloc(cap, sizeof(*newer));
	rcs = xcalloc(cap, sizeof(*rcs));
	for (int i = 0; i < rows; i++) {
		ids[i] = PQgetvalue(res, i, 0);
		queues[i] = PQgetvalue(res, i, 1);
	}
	if (rows > 0 && queue_versions(q, queues, ids, (size_t)rows, versions, err) < 0)
		goto out;
	for (int i = 0; i < rows; i++) {
		long long rowv = strtoll(PQgetvalue(res, i, 4), NULL, 10);
		const char *state = PQgetvalue(res, i, 3);
		if (versions[i] < 0) {
			struct queue_spec *sp = &specs[nspec++];
			sp->id = ids[i];
			sp->queue = queues[i];
			sp->type = PQgetvalue(res, i, 2);
			sp->payload = PQgetvalue(res, i, 7);
			sp->max_attempts = atoi(PQgetvalue(res, i, 6));
			sp->attempts = atoi(PQgetvalue(res, i, 5));
			sp->version = rowv + 1;
			if (strcmp(state, "scheduled") == 0 || strcmp(state, "retrying") == 0)
				sp->delay_ms = strtoll(PQgetvalue(res, i, 8), NULL, 10);
			const struct jobtype *t = jobtype_find(sp->type);
			sp->backoff_ms = t ? t->backoff_ms : 1000;
			sp->backoff_max_ms = t ? t->backoff_max_ms : 300000;
			bool seen = false;
			for (size_t k = 0; k < nnames; k++)
				seen = seen || strcmp(names[k], queues[i]) == 0;
			if (!seen)
				names[nnames++] = queues[i];
		} else if (versions[i] > rowv) {
			int got = queue_get(q, queues[i], ids[i], &newer[nnewer], err);
			if (got < 0)
				goto out;
			if (got == QUEUE_OK)
				nnewer++;
		}
	}
	if (nspec > 0) {
		if (queue_register_names(q, names, nnames, err) < 0 ||
		    queue_enqueue_many(q, specs, nspec, rcs, NULL, snaps, err) < 0)
			goto out;
		size_t fresh = 0;
		for (size_t i = 0; i < nspec; i++)
			if (rcs[i] == QUEUE_OK) {
				if (!rec->example[0])
					snprintf(rec->example, sizeof(rec->example), "%s", specs[i].id);
				fresh++;
			}
		if (job_mirror(db, snaps, nspec, err) < 0)
			goto out;
		rec->requeued += (long long)fresh;
	}
	if (nnewer > 0) {
		int n = job_mirror(db, newer, nnewer, err);
		if (n < 0)
			goto out;
		rec->recorded += n;
	}
	rec->pass_done = rows < limit;
	if (rec->pass_done) {
		rec->at[0] = rec->id[0] = '\0';
	} else {
		snprintf(rec->at, sizeof(rec->at), "%s", PQgetvalue(res, rows - 1, 9));
		snprintf(rec->id, sizeof(rec->id), "%s", PQgetvalue(res, rows - 1, 0));
	}
	rc = 0;
out:
	queue_jobs_free(snaps, nspec);
	queue_jobs_free(newer, nnewer);
	free(rcs);
	free(specs);
	free(versions);
	free(names);
	free(ids);
	free(queues);
	PQclear(res);
	return rc;
}

/* ---- rows --------------------------------------------------------------------- */

/* The columns of struct job_row, in order; PAYLOAD is the payload expression. */
#define ROW_COLUMNS(PAYLOAD)                                                        \
	"id, type, queue, state, " PAYLOAD ", attempts, max_attempts, progress::text," \
	" result::text, error, created_by, " ISO("created_at") ", " ISO("scheduled_at") \
	", " ISO("started_at") ", " ISO("finished_at") ", " ISO("updated_at") ","      \
	" cancel_requested, version, (extract(epoch FROM created_at) * 1000)::bigint"

static char *col(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : xstrdup(PQgetvalue(res, r, c));
}

static char *col_text(const PGresult *res, int r, int c)
{
	return xstrdup(PQgetvalue(res, r, c));  /* "" for NULL */
}

static void row_from(const PGresult *res, int r, struct job_row *row)
{
	memset(row, 0, sizeof(*row));
	row->id = col_text(res, r, 0);
	row->type = col_text(res, r, 1);
	row->queue = col_text(res, r, 2);
	if (job_state_parse(PQgetvalue(res, r, 3), &row->state) < 0)
		row->state = JOB_QUEUED;
	row->payload = col(res, r, 4);
	row->attempts = atoi(PQgetvalue(res, r, 5));
	row->max_attempts = atoi(PQgetvalue(res, r, 6));
	row->progress = col(res, r, 7);
	row->result = col(res, r, 8);
	row->error = col(res, r, 9);
	row->created_by = col(res, r, 10);
	row->created_at = col_text(res, r, 11);
	row->scheduled_at = col_text(res, r, 12);
	row->started_at = col_text(res, r, 13);
	row->finished_at = col_text(res, r, 14);
	row->updated_at = col_text(res, r, 15);
	row->cancel_requested = PQgetvalue(res, r, 16)[0] == 't';
	row->version = strtoll(PQgetvalue(res, r, 17), NULL, 10);
	row->created_ms = strtoll(PQgetvalue(res, r, 18), NULL, 10);
}

void job_row_release(struct job_row *row)
{
	free(row->id);
	free(row->type);
	free(row->queue);
	free(row->payload);
	free(row->progress);
	free(row->result);
	free(row->error);
	free(row->created_by);
	free(row->created_at);
	free(row->scheduled_at);
	free(row->started_at);
	free(row->finished_at);
	free(row->updated_at);
	memset(row, 0, sizeof(*row));
}

void job_rows_free(struct job_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		job_row_release(&rows[i]);
	free(rows);
}

int job_get(PGconn *db, const char *id, struct job_row *row, struct acme_err *err)
{
	const char *params[1] = { id };
	PGresult *res = db_exec(db, err, "SELECT " ROW_COLUMNS("payload::text")
				" FROM jobs WHERE id = $1", 1, params);
	if (!res)
		return -1;
	int rc = 0;
	if (PQntuples(res) == 0)
		rc = acme_err_set(err, ACME_E_NOT_FOUND, "job %s not found", id);
	else
		row_from(res, 0, row);
	PQclear(res);
	return rc;
}

/* Ids starting with prefix, newest first. left() rather than LIKE: ids may
 * hold '_', a LIKE wildcard. A sequential scan of jobs, run only when the
 * prefix is not itself an id (job_resolve_id) or for completion. */
static PGresult *ids_starting(PGconn *db, const char *prefix, int limit, struct acme_err *err)
{
	char lim[24];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[2] = { prefix, lim };
	return db_exec(db, err, "SELECT id FROM jobs WHERE left(id, length($1)) = $1"
		       " ORDER BY created_at DESC, id DESC LIMIT $2::int", 2, params);
}

int job_resolve_id(PGconn *db, const char *prefix, char **out, struct acme_err *err)
{
	const char *params[1] = { prefix };
	char list[1024] = "";
	size_t off = 0;
	*out = NULL;
	PGresult *res = db_exec(db, err, "SELECT id FROM jobs WHERE id = $1", 1, params);
	if (!res)
		return -1;
	int n = PQntuples(res);
	PQclear(res);
	if (n == 1) {
		*out = xstrdup(prefix);
		return 0;
	}
	if (!prefix[0] || !(res = ids_starting(db, prefix, 11, err)))
		return prefix[0] ? -1 : 0;
	n = PQntuples(res);
	if (n == 1)
		*out = xstrdup(PQgetvalue(res, 0, 0));
	for (int i = 0; n > 1 && i < n && i < 10; i++)
		off += (size_t)snprintf(list + off, off < sizeof(list) ? sizeof(list) - off : 0,
					"%s%s", i ? ", " : "", PQgetvalue(res, i, 0));
	PQclear(res);
	if (n > 1)
		return acme_err_set(err, ACME_E_USAGE, "job id %s is ambiguous: it could be %s%s", prefix,
				    list, n > 10 ? ", ..." : "");
	return 0;
}

int job_recent_ids(PGconn *db, const char *prefix, int limit,
		   void (*fn)(void *arg, const char *id), void *arg, struct acme_err *err)
{
	PGresult *res = ids_starting(db, prefix, limit, err);
	if (!res)
		return -1;
	int n = PQntuples(res);
	for (int i = 0; i < n; i++)
		fn(arg, PQgetvalue(res, i, 0));
	PQclear(res);
	return n;
}

int job_purge_count(PGconn *db, long long older_than_ms, const char *state, long long *n,
		    struct acme_err *err)
{
	char age[24];
	enum job_state st;
	*n = 0;
	if (state && (job_state_parse(state, &st) < 0 || !job_state_is_final(st)))
		return acme_err_set(err, ACME_E_USAGE, "purge: state \"%s\": only finished jobs are "
				    "purged (succeeded, failed, dead, cancelled)", state);
	char *states = state ? xasprintf("{%s}", state) : xstrdup("{succeeded,failed,dead,cancelled}");
	snprintf(age, sizeof(age), "%lld", older_than_ms);
	const char *params[2] = { states, age };
	PGresult *res = db_exec(db, err, "SELECT count(*) FROM jobs WHERE state = ANY($1::text[])"
				" AND finished_at IS NOT NULL"
				" AND finished_at < now() - $2::bigint * interval '1 millisecond'",
				2, params);
	free(states);
	if (!res)
		return -1;
	*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

int job_list(PGconn *db, const struct job_filter *f, struct job_row **rows, struct acme_err *err)
{
	return job_list_page(db, f, rows, NULL, err);
}

/* A cursor is "<created_at in µs since the epoch>.<id>" of the last row
 * shown: exact (no rounding of the time), and the id breaks ties. */
#define LIST_SQL "SELECT " ROW_COLUMNS("NULL::text") "," \
	" (extract(epoch FROM created_at) * 1000000)::bigint FROM jobs" \
	" WHERE ($1::text IS NULL OR state = $1)" \
	" AND ($2::text IS NULL OR type = $2)" \
	" AND ($3::text IS NULL OR queue = $3)" \
	" AND ($5::bigint IS NULL OR (created_at, id) < (timestamptz 'epoch' +" \
	" $5::bigint * interval '1 microsecond', $6::text))" \
	" ORDER BY created_at DESC, id DESC LIMIT $4::bigint"

struct list_params {
	char limit[24], after_us[24];
	const char *v[6];
};

/* The parameters of LIST_SQL for f (pointing into f and lp). 0 / -1. */
static int list_params(const struct job_filter *f, struct list_params *lp, struct acme_err *err)
{
	const char *after_id = NULL;
	long lim = f->limit > 0 ? f->limit : 50;
	memset(lp, 0, sizeof(*lp));
	if (f->after) {
		size_t nd = strspn(f->after, "0123456789");
		struct acme_err ignored = { 0 };
		if (nd == 0 || nd >= sizeof(lp->after_us) || f->after[nd] != '.' ||
		    queue_check_id(f->after + nd + 1, &ignored) < 0)
			return acme_err_set(err, ACME_E_USAGE, "--after %s: not a cursor of jobs list "
					    "(use the page's next_cursor as it is)", f->after);
		memcpy(lp->after_us, f->after, nd);
		after_id = f->after + nd + 1;
	}
	/* one row more than asked tells whether there is a next page */
	snprintf(lp->limit, sizeof(lp->limit), "%ld", lim + 1);
	lp->v[0] = f->state;
	lp->v[1] = f->type;
	lp->v[2] = f->queue;
	lp->v[3] = lp->limit;
	lp->v[4] = after_id ? lp->after_us : NULL;
	lp->v[5] = after_id;
	return 0;
}

/* The rows of a page (res is cleared). Returns their count. */
static int list_rows(PGresult *res, const struct job_filter *f, struct job_row **rows,
		     char **next_cursor)
{
	long lim = f->limit > 0 ? f->limit : 50;
	int n = PQntuples(res);
	bool more = n > lim;
	if (more)
		n = (int)lim;
	*rows = xcalloc((size_t)n + 1, sizeof(**rows));
	for (int i = 0; i < n; i++)
		row_from(res, i, &(*rows)[i]);
	if (more && next_cursor && n > 0)
		*next_cursor = xasprintf("%s.%s", PQgetvalue(res, n - 1, 19), PQgetvalue(res, n - 1, 0));
	PQclear(res);
	return n;
}

int job_list_page(PGconn *db, const struct job_filter *f, struct job_row **rows,
		  char **next_cursor, struct acme_err *err)
{
	struct list_params lp;
	*rows = NULL;
	if (next_cursor)
		*next_cursor = NULL;
	if (list_params(f, &lp, err) < 0)
		return -1;
	/* unnamed statement: planned with the values, so the NULL tests fold
	 * away and the (state|type, created_at) indexes are used */
	PGresult *res = db_exec(db, err, LIST_SQL, 6, lp.v);
	if (!res)
		return -1;
	return list_rows(res, f, rows, next_cursor);
}

int job_list_start(struct pgcall *call, PGconn *db, const struct job_filter *f, long deadline_ms,
		   struct acme_err *err)
{
	struct list_params lp;
	if (list_params(f, &lp, err) < 0)
		return -1;
	return pgcall_start(call, db, LIST_SQL, 6, lp.v, deadline_ms, err);
}

int job_list_finish(struct pgcall *call, const struct job_filter *f, struct job_row **rows,
		    char **next_cursor, struct acme_err *err)
{
	*rows = NULL;
	if (next_cursor)
		*next_cursor = NULL;
	PGresult *res = pgcall_finish(call, err);
	if (!res)
		return -1;
	return list_rows(res, f, rows, next_cursor);
}

/* ---- enqueue -------------------------------------------------------------------- */

int job_enqueue(PGconn *db, struct queue *q, const struct queue_spec *spec_in,
		const char *created_by, struct queue_job *out, bool *existed, struct acme_err *err)
{
	struct queue_spec spec = *spec_in;
	struct queue_job tmp = { 0 };
	struct queue_job *snap = out ? out : &tmp;
	char id[QUEUE_ULID_LEN + 1];
	char maxa[16], delay[24];
	char *by = NULL;
	PGresult *res = NULL;
	int rc = -1;

	*existed = false;
	if (!spec.id) {
		if (queue_new_id(id, err) < 0)
			return -1;
		spec.id = id;
	}
	if (queue_check_spec(&spec, err) < 0)
		return -1;
	by = created_by ? xstrdup(created_by) : job_created_by();
	snprintf(maxa, sizeof(maxa), "%d", spec.max_attempts);
	snprintf(delay, sizeof(delay), "%lld", spec.delay_ms);
	const char *params[8] = { spec.id, spec.type, spec.queue,
				  spec.delay_ms > 0 ? "scheduled" : "queued",
				  spec.payload ? spec.payload : "{}", maxa, by, delay };
	res = db_exec(db, err, "INSERT INTO jobs (id, type, queue, state, payload, max_attempts,"
		      " created_by, scheduled_at, version) VALUES ($1, $2, $3, $4, $5::jsonb, $6::int,"
		      " $7, CASE WHEN $8::bigint > 0 THEN now() + $8::bigint * interval '1 millisecond'"
		      " END, 1) ON CONFLICT (id) DO NOTHING RETURNING id", 8, params);
	if (!res)
		goto out;
	if (PQntuples(res) == 1) {
		spec.version = 1;
		rc = queue_enqueue(q, &spec, snap, err);
		if (rc < 0) {
			acme_err_prefix(err, "job %s is recorded but not queued; run 'acmectl jobs retry "
					"%s' once Redis answers", spec.id, spec.id);
			goto out;
		}
		rc = 0;
		goto out;
	}

	/* the id exists: change nothing, but repair a waiting job Redis lost */
	*existed = true;
	PQclear(res);
	const char *p1[1] = { spec.id };
	res = db_exec(db, err, "SELECT queue, state, version, type, payload::text, max_attempts"
		      " FROM jobs WHERE id = $1", 1, p1);
	if (!res)
		goto out;
	if (PQntuples(res) == 0) {   /* deleted in between */
		acme_err_set(err, ACME_E_TEMPFAIL, "job %s changed while enqueuing; try again", spec.id);
		goto out;
	}
	const char *state = PQgetvalue(res, 0, 1);
	if (strcmp(state, "queued") == 0 || strcmp(state, "scheduled") == 0) {
		struct queue_spec again = spec;
		again.queue = PQgetvalue(res, 0, 0);
		again.type = PQgetvalue(res, 0, 3);
		again.payload = PQgetvalue(res, 0, 4);
		again.max_attempts = atoi(PQgetvalue(res, 0, 5));
		again.version = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		if (queue_enqueue(q, &again, snap, err) < 0)
			goto out;
	} else if (queue_get(q, PQgetvalue(res, 0, 0), spec.id, snap, err) < 0) {
		goto out;
	}
	if (!snap->id)
		snap->id = xstrdup(spec.id);
	rc = 0;
out:
	if (rc < 0 || !out)
		queue_job_release(&tmp);
	PQclear(res);
	free(by);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int job_enqueue_many(PGconn *db, struct queue *q, const struct queue_spec *specs_in, size_t n,
		     const char *created_by, char (*ids)[QUEUE_ULID_LEN + 1], bool *existed,
		     struct acme_err *err)
{
	struct queue_spec *specs = xcalloc(n ? n : 1, sizeof(*specs));
	struct queue_spec *fresh = xcalloc(n ? n : 1, sizeof(*fresh));
	const char **made = xcalloc(n ? n : 1, sizeof(*made));
	int *rcs = xcalloc(n ? n : 1, sizeof(*rcs));
	bool *used = xcalloc(n ? n : 1, sizeof(*used));
	json_t *rows = json_array();
	char *by = created_by ? xstrdup(created_by) : job_created_by(), *doc = NULL;
	PGresult *res = NULL;
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		specs[i] = specs_in[i];
		existed[i] = false;
		if (specs[i].id) {
			snprintf(ids[i], sizeof(ids[i]), "%s", specs[i].id);
		} else if (queue_new_id(ids[i], err) < 0) {
			goto out;
		}
		specs[i].id = ids[i];
		if (queue_check_spec(&specs[i], err) < 0)
			goto out;
		json_t *payload = json_loads(specs[i].payload ? specs[i].payload : "{}", 0, NULL);
		if (!payload) {
			acme_err_set(err, ACME_E_DATA, "job %zu: the payload is not JSON", i + 1);
			goto out;
		}
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:o, s:i, s:I}", "id", ids[i],
						      "type", specs[i].type, "queue", specs[i].queue,
						      "payload", payload, "max_attempts",
						      specs[i].max_attempts, "delay_ms",
						      (json_int_t)specs[i].delay_ms));
	}
	doc = json_dumps(rows, JSON_COMPACT);
	const char *params[2] = { doc, by };
	res = db_exec(db, err, "INSERT INTO jobs (id, type, queue, state, payload, max_attempts,"
		      " created_by, scheduled_at, version)"
		      " SELECT id, type, queue, CASE WHEN delay_ms > 0 THEN 'scheduled' ELSE 'queued' END,"
		      " payload, max_attempts, $2, CASE WHEN delay_ms > 0 THEN now() + delay_ms *"
		      " interval '1 millisecond' END, 1"
		      " FROM jsonb_to_recordset($1::jsonb) AS r(id text, type text, queue text,"
		      " payload jsonb, max_attempts int, delay_ms bigint)"
		      " ON CONFLICT (id) DO NOTHING RETURNING id", 2, params);
	if (!res)
		goto out;
	size_t nmade = (size_t)PQntuples(res), nfresh = 0;
	for (size_t i = 0; i < nmade; i++)
		made[i] = PQgetvalue(res, (int)i, 0);
	qsort(made, nmade, sizeof(*made), cmp_str);
	for (size_t i = 0; i < n; i++) {
		const char *key = ids[i];
		const char **hit = bsearch(&key, made, nmade, sizeof(*made), cmp_str);
		if (!hit || used[hit - made]) {   /* there before, or twice in specs */
			existed[i] = true;
			continue;
		}
		used[hit - made] = true;
		fresh[nfresh] = specs[i];
		fresh[nfresh++].version = 1;
	}
	if (nfresh > 0 && queue_enqueue_many(q, fresh, nfresh, rcs, NULL, NULL, err) < 0) {
		acme_err_prefix(err, "%zu jobs (%s...) are recorded but not queued; a worker's "
				"reconciler queues them once Redis answers", nfresh, fresh[0].id);
		goto out;
	}
	rc = (int)nfresh;
out:
	PQclear(res);
	free(doc);
	json_decref(rows);
	free(by);
	free(rcs);
	free(used);
	free(made);
	free(fresh);
	free(specs);
	return rc;
}

/* ---- cancel, retry, purge ----------------------------------------------------------- */

/* The audit row of a jobs verb; consumes details (may be NULL). */
static int job_audit(PGconn *db, const struct audit_actor *who, const char *target,
		     json_t *details, struct acme_err *err)
{
	if (!who) {
		json_decref(details);
		return 0;
	}
	char *text = details ? json_dumps(details, JSON_COMPACT) : NULL;
	int rc = audit_add(db, who->environment, who->command, target, text, err);
	free(text);
	json_decref(details);
	return rc;
}

int job_cancel(PGconn *db, struct queue *q, const char *id, const struct audit_actor *who,
	       struct queue_job *out, struct acme_err *err)
{
	struct queue_job tmp = { 0 };
	struct queue_job *snap = out ? out : &tmp;
	PGresult *res = NULL;
	int rc = -1;

	const char *params[1] = { id };
	res = db_exec(db, err, "SELECT queue, state FROM jobs WHERE id = $1", 1, params);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		acme_err_set(err, ACME_E_NOT_FOUND, "job %s not found", id);
		goto out;
	}
	int qrc = queue_cancel(q, PQgetvalue(res, 0, 0), id, snap, err);
	if (qrc < 0)
		goto out;
	char *queue = xstrdup(PQgetvalue(res, 0, 0));
	if (qrc != QUEUE_MISSING) {
		if (job_mirror(db, snap, 1, err) < 0)
			goto out_queue;
		if (qrc != QUEUE_FINAL &&
		    job_audit(db, who, id, json_pack("{s:s, s:s}", "queue", queue, "outcome",
						     qrc == QUEUE_OK ? "cancelled" : "requested"),
			      err) < 0)
			goto out_queue;
		rc = qrc;
		goto out_queue;
	}
	/* Redis lost the job: the row is all there is */
	PQclear(res);
	res = NULL;
	if (db_begin(db, NULL, err) < 0)
		goto out_queue;
	res = db_exec(db, err, "UPDATE jobs SET state = 'cancelled', finished_at = now(),"
		      " lease_token = NULL, error = 'cancelled (redis had lost the job)',"
		      " version = version + 1, updated_at = now()"
		      " WHERE id = $1 AND state NOT IN " FINAL_STATES " RETURNING id", 1, params);
	if (res && PQntuples(res) == 1 &&
	    job_audit(db, who, id, json_pack("{s:s, s:s}", "queue", queue, "outcome",
					     "cancelled"), err) < 0) {
		PQclear(res);
		res = NULL;
	}
	if (!res || db_commit(db, err) < 0) {
		db_rollback(db);
		goto out_queue;
	}
	rc = PQntuples(res) == 1 ? QUEUE_OK : QUEUE_FINAL;
out_queue:
	free(queue);
out:
	queue_job_release(&tmp);
	PQclear(res);
	return rc;
}

int job_retry(PGconn *db, struct queue *q, const char *id, const struct audit_actor *who,
	      struct queue_job *out, struct acme_err *err)
{
	struct queue_job tmp = { 0 }, live = { 0 };
	struct queue_job *snap = out ? out : &tmp;
	struct job_row row = { 0 };
	PGresult *res = NULL;
	int rc = -1;

	if (job_get(db, id, &row, err) < 0)
		return -1;
	if (row.state == JOB_SUCCEEDED) {
		acme_err_set(err, ACME_E_REFUSED, "job %s succeeded; it is not run again (enqueue a "
			     "new job instead)", id);
		goto out;
	}
	int got = queue_get(q, row.queue, id, &live, err);
	if (got < 0)
		goto out;
	if (got == QUEUE_OK && !job_state_is_final(live.state)) {
		acme_err_set(err, ACME_E_REFUSED, "job %s is %s; there is nothing to retry", id,
			     job_state_name(live.state));
		goto out;
	}
	if (got == QUEUE_OK && live.state == JOB_SUCCEEDED) {
		acme_err_set(err, ACME_E_REFUSED, "job %s succeeded; it is not run again (enqueue a "
			     "new job instead)", id);
		goto out;
	}

	/* reopen the row first, so no mirror write from the new run can find
	 * it final and be ignored */
	const char *p1[1] = { id };
	if (db_begin(db, NULL, err) < 0)
		goto out;
	res = db_exec(db, err, "UPDATE jobs SET state = 'queued', attempts = 0, lease_token = NULL,"
		      " error = NULL, result = NULL, progress = NULL, cancel_requested = false,"
		      " scheduled_at = NULL, started_at = NULL, finished_at = NULL,"
		      " version = version + 1, updated_at = now()"
		      " WHERE id = $1 AND state <> 'succeeded' RETURNING version", 1, p1);
	if (res && PQntuples(res) != 1) {
		acme_err_set(err, ACME_E_TEMPFAIL, "job %s changed while retrying; try again", id);
		PQclear(res);
		res = NULL;
	}
	if (!res || job_audit(db, who, id, json_pack("{s:s, s:s, s:i}", "queue", row.queue,
						      "was", job_state_name(row.state),
						      "attempts", row.attempts), err) < 0 ||
	    db_commit(db, err) < 0) {
		db_rollback(db);
		goto out;
	}
	struct queue_spec spec = { 0 };
	spec.id = id;
	spec.type = row.type;
	spec.queue = row.queue;
	spec.payload = row.payload;
	spec.max_attempts = row.max_attempts;
	spec.version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	const struct jobtype *t = jobtype_find(row.type);
	spec.backoff_ms = t ? t->backoff_ms : 1000;
	spec.backoff_max_ms = t ? t->backoff_max_ms : 300000;
	int qrc = queue_requeue(q, &spec, row.created_ms, snap, err);
	if (qrc < 0) {
		acme_err_prefix(err, "job %s is reopened but not queued; run 'acmectl jobs retry %s' "
				"again once Redis answers", id, id);
		goto out;
	}
	if (qrc == QUEUE_BUSY) {
		acme_err_set(err, ACME_E_TEMPFAIL, "job %s became %s while retrying; try again", id,
			     job_state_name(snap->state));
		goto out;
	}
	if (job_mirror(db, snap, 1, err) < 0)
		goto out;
	rc = 0;
out:
	queue_job_release(&tmp);
	queue_job_release(&live);
	job_row_release(&row);
	PQclear(res);
	return rc;
}

/* Forget in Redis the jobs of res (text columns queue, id: a DELETE ...
 * RETURNING queue, id), one queue_forget() per queue. 0 / -1. */
int job_forget_rows(struct queue *q, const PGresult *res, struct acme_err *err)
{
	int rows = PQntuples(res), rc = 0;
	const char **ids = xcalloc((size_t)rows + 1, sizeof(char *));
	bool *done = xcalloc((size_t)rows + 1, sizeof(bool));
	for (int i = 0; i < rows && rc == 0; i++) {
		if (done[i])
			continue;
		const char *queue = PQgetvalue(res, i, 0);
		size_t k = 0;
		for (int j = i; j < rows; j++)
			if (!done[j] && strcmp(PQgetvalue(res, j, 0), queue) == 0) {
				ids[k++] = PQgetvalue(res, j, 1);
				done[j] = true;
			}
		rc = queue_forget(q, queue, ids, k, err);
	}
	free(ids);
	free(done);
	return rc < 0 ? -1 : 0;
}

int job_purge(PGconn *db, struct queue *q, long long older_than_ms, const char *state,
	      const struct audit_actor *who, long long *n, struct acme_err *err)
{
	enum job_state st = JOB_QUEUED;
	char age[24];
	const char *states = "{succeeded,failed,dead,cancelled}";
	PGresult *res = NULL;
	int rc = -1;

	*n = 0;
	if (state && (job_state_parse(state, &st) < 0 || !job_state_is_final(st)))
		return acme_err_set(err, ACME_E_USAGE, "purge: state \"%s\": only finished jobs are "
				    "purged (succeeded, failed, dead, cancelled)", state);
	char *one = state ? xasprintf("{%s}", state) : NULL;
	snprintf(age, sizeof(age), "%lld", older_than_ms);
	const char *params[2] = { one ? one : states, age };
	for (;;) {
		res = db_exec(db, err, "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"
			      " WHERE state = ANY($1::text[]) AND finished_at IS NOT NULL"
			      " AND finished_at < now() - $2::bigint * interval '1 millisecond'"
			      " LIMIT 2000) RETURNING queue, id", 2, params);
		if (!res)
			goto out;
		int rows = PQntuples(res);
		if (rows == 0)
			break;
		*n += rows;
		/* forget them in Redis, one queue at a time */
		if (job_forget_rows(q, res, err) < 0) {
			acme_err_prefix(err, "%lld job rows deleted, but their Redis state was not", *n);
			goto out;
		}
		PQclear(res);
		res = NULL;
	}
	/* dead and failed jobs Redis still keeps past the same age */
	if (!state || st == JOB_DEAD || st == JOB_FAILED) {
		char **names = NULL;
		int nq = queue_names(q, &names, err);
		if (nq < 0)
			goto out;
		int bad = 0;
		for (int i = 0; i < nq; i++) {
			if (!bad && queue_purge_dead(q, names[i], older_than_ms, err) < 0)
				bad = 1;
			free(names[i]);
		}
		free(names);
		if (bad)
			goto out;
	}
	rc = 0;
out:
	if (*n > 0) {
		struct acme_err aerr = { 0 };
		json_t *d = json_pack("{s:s?, s:I, s:I}", "state", state, "older_than_ms",
				      (json_int_t)older_than_ms, "deleted", (json_int_t)*n);
		if (job_audit(db, who, state ? state : "finished", d, rc == 0 ? err : &aerr) < 0)
			rc = -1;
	}
	PQclear(res);
	free(one);
	return rc;
}

int job_purge_queue(PGconn *db, struct queue *q, const char *queue,
		    const struct audit_actor *who, size_t *n, struct acme_err *err)
{
	struct queue_job *jobs = NULL;
	*n = 0;
	if (queue_purge(q, queue, &jobs, n, err) < 0)
		return -1;
	int m = job_mirror(db, jobs, *n, err);
	queue_jobs_free(jobs, *n);
	if (m < 0)
		return -1;
	if (*n == 0)
		return 0;
	return job_audit(db, who, queue, json_pack("{s:I}", "cancelled", (json_int_t)*n), err);
}

/* A Redis snapshot as JSON; the lease token only when asked (it is the
 * holder's capability, not something to print in listings). */
json_t *job_snapshot_json(const struct queue_job *j, bool with_token)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_nonempty_or_null(j->id));
	json_object_set_new(o, "type", json_nonempty_or_null(j->type));
	json_object_set_new(o, "queue", json_nonempty_or_null(j->queue));
	json_object_set_new(o, "state", json_string(job_state_name(j->state)));
	json_object_set_new(o, "attempts", json_integer(j->attempts));
	json_object_set_new(o, "max_attempts", json_integer(j->max_attempts));
	json_object_set_new(o, "version", json_integer(j->version));
	if (with_token)
		json_object_set_new(o, "token", json_nonempty_or_null(j->token));
	json_object_set_new(o, "payload", json_text_value(j->payload));
	json_object_set_new(o, "progress", json_text_value(j->progress));
	json_object_set_new(o, "result", json_text_value(j->result));
	json_object_set_new(o, "error", json_nonempty_or_null(j->error));
	json_object_set_new(o, "cancel_requested", json_boolean(j->cancel_requested));
	json_object_set_new(o, "created_at", json_time_or_null(j->created_ms));
	json_object_set_new(o, "scheduled_at", json_time_or_null(j->scheduled_ms));
	json_object_set_new(o, "enqueued_at", json_time_or_null(j->enqueued_ms));
	json_object_set_new(o, "started_at", json_time_or_null(j->started_ms));
	json_object_set_new(o, "finished_at", json_time_or_null(j->finished_ms));
	json_object_set_new(o, "lease_deadline", json_time_or_null(j->deadline_ms));
	json_object_set_new(o, "worker", json_nonempty_or_null(j->worker));
	return o;
}
