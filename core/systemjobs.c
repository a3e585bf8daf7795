/* systemjobs.c — housekeeping; see systemjobs.h.
 *
 * It also runs the webhook sweep (core/whsweep.c), so deliveries whose
 * deliverer died or whose wake-up was lost are resumed wherever housekeeping
 * runs, even with the sweep's own schedule replaced.
 *
 * Housekeeping deletes in small batches, each its own statement (so its own
 * transaction) with a checkpoint in between: a backlog of millions of rows
 * never holds locks for long, never outlives its lease, and a crash or a
 * cancel in the middle leaves only fewer rows to delete next time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cron.h"
#include "core/db.h"
#include "core/job.h"
#include "core/outbox.h"
#include "core/queue.h"
#include "core/systemjobs.h"
#include "core/webhook.h"
#include "core/xalloc.h"

#define FINAL_STATES "('succeeded', 'failed', 'dead', 'cancelled')"
#define UPLOADS_BATCH 20          /* uploads carry their chunks: keep batches small */

/* ---- housekeeping ---------------------------------------------------------------- */

static int age_ms(struct job_run *run, const char *key, const char *def, long long *out,
		  struct acme_err *err)
{
	json_t *v = json_object_get(run->payload, key);
	struct schedule_spec spec;
	struct acme_err perr;
	const char *text = v ? json_string_value(v) : def;
	if (!text || interval_parse(text, &spec, &perr) < 0) {
		run->permanent = true;
		return acme_err_set(err, ACME_E_DATA, "housekeeping: payload \"%s\" must be a duration "
				    "such as \"7d\" or \"12h\" (1s to 366d)", key);
	}
	*out = spec.interval_ms;
	return 0;
}

/* Run a DELETE ... LIMIT batch statement until it deletes nothing. */
static int delete_batches(struct job_run *run, const char *sql, long long age, long long batch,
			  long long *n, struct acme_err *err)
{
	char a[24], b[24];
	snprintf(a, sizeof(a), "%lld", age);
	snprintf(b, sizeof(b), "%lld", batch);
	const char *params[2] = { a, b };
	for (;;) {
		PGresult *res = db_exec(run->db, err, sql, 2, params);
		if (!res)
			return -1;
		long long rows = strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		*n += rows;
		if (rows < batch)
			return 0;
		if (run->checkpoint(run, err) < 0)
			return -1;
	}
}

/* Finished jobs: rows in batches, then their Redis state queue by queue. */
static int purge_jobs(struct job_run *run, long long age, long long batch, long long *n,
		      struct acme_err *err)
{
	char a[24], b[24];
	snprintf(a, sizeof(a), "%lld", age);
	snprintf(b, sizeof(b), "%lld", batch);
	const char *params[2] = { a, b };
	for (;;) {
		PGresult *res = db_exec(run->db, err, "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"
			" WHERE state IN " FINAL_STATES " AND finished_at IS NOT NULL"
			" AND finished_at < now() - $1::bigint * interval '1 millisecond'"
			" ORDER BY finished_at LIMIT $2::bigint) RETURNING queue, id", 2, params);
		if (!res)
			return -1;
		int rows = PQntuples(res);
		*n += rows;
		int rc = run->queue ? job_forget_rows(run->queue, res, err) : 0;
		PQclear(res);
		if (rc < 0)
			return -1;
		if (rows < batch)
			break;
		if (run->checkpoint(run, err) < 0)
			return -1;
	}
	/* dead and failed jobs Redis keeps in its dead sets past the same age */
	if (run->queue) {
		char **names = NULL;
		int nq = queue_names(run->queue, &names, err);
		if (nq < 0)
			return -1;
		int rc = 0;
		for (int i = 0; i < nq; i++) {
			if (rc == 0 && queue_purge_dead(run->queue, names[i], age, err) < 0)
				rc = -1;
			free(names[i]);
		}
		free(names);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int housekeeping_run(struct job_run *run, struct acme_err *err)
{
	long long jobs_age, uploads_age, outbox_age, batch = 1000;
	long long jobs = 0, uploads = 0, outbox = 0;
	const char *key;
	json_t *v;

	json_object_foreach(run->payload, key, v) {
		if (strcmp(key, "batch") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > 100000) {
				run->permanent = true;
				return acme_err_set(err, ACME_E_DATA, "housekeeping: payload \"batch\" must "
						    "be a whole number from 1 to 100000");
			}
			batch = json_integer_value(v);
		} else if (strcmp(key, "jobs_older_than") != 0 && strcmp(key, "uploads_older_than") != 0 &&
			   strcmp(key, "outbox_older_than") != 0) {
			run->permanent = true;
			return acme_err_set(err, ACME_E_DATA, "housekeeping: unknown payload key \"%s\" "
					    "(known: jobs_older_than, uploads_older_than, "
					    "outbox_older_than, batch)", key);
		}
	}
	if (age_ms(run, "jobs_older_than", "7d", &jobs_age, err) < 0 ||
	    age_ms(run, "uploads_older_than", "1d", &uploads_age, err) < 0 ||
	    age_ms(run, "outbox_older_than", "7d", &outbox_age, err) < 0)
		return -1;
	if (!run->db) {
		run->permanent = true;
		return acme_err_set(err, ACME_E_USAGE, "housekeeping: needs a database connection");
	}

	long long ubatch = batch < UPLOADS_BATCH ? batch : UPLOADS_BATCH;
	if (delete_batches(run, "DELETE FROM uploads WHERE id IN (SELECT u.id FROM uploads u"
			   " LEFT JOIN jobs j ON j.id = u.job_id"
			   " WHERE u.created_at < now() - $1::bigint * interval '1 millisecond'"
			   " AND (u.job_id IS NULL OR (j.state IN " FINAL_STATES
			   " AND j.finished_at < now() - $1::bigint * interval '1 millisecond'))"
			   " LIMIT $2::bigint)", uploads_age, ubatch, &uploads, err) < 0)
		return acme_err_prefix(err, "housekeeping: staged uploads");
	if (purge_jobs(run, jobs_age, batch, &jobs, err) < 0)
		return acme_err_prefix(err, "housekeeping: finished jobs");
	/* the dispatch reads its event from the row (core/whdeliver.c): keep it
	 * while its dispatch job is not final */
	if (delete_batches(run, "DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox o"
			   " WHERE o.relayed_at IS NOT NULL"
			   " AND o.relayed_at < now() - $1::bigint * interval '1 millisecond'"
			   " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = '" OUTBOX_JOB_ID_HEAD
			   OUTBOX_EVENT_ID_HEAD "' || o.id AND j.state NOT IN " FINAL_STATES ")"
			   " LIMIT $2::bigint)", outbox_age, batch, &outbox, err) < 0)
		return acme_err_prefix(err, "housekeeping: relayed outbox rows");
	/* and the webhook sweep, so deliveries move on even where only
	 * housekeeping is scheduled */
	json_t *sweep = NULL;
	if (webhook_sweep_job(run, &sweep, err) < 0)
		return acme_err_prefix(err, "housekeeping");
	run->result = json_pack("{s:I, s:I, s:I, s:o}", "uploads_deleted", (json_int_t)uploads,
				"jobs_deleted", (json_int_t)jobs, "outbox_deleted", (json_int_t)outbox,
				"webhook_sweep", sweep);
	return 0;
}
