/* jobwait.c — the outcome of a job as one exit status, the job wherever it
 * is kept, and whether a live worker serves a queue (see jobwait.h).
 *
 * `import --wait` and `jobs watch` both end with job_outcome(), so a script
 * that re-attaches with `jobs watch` after a Ctrl-C gets the status the
 * first wait would have given (issue 11: watch said 0 for an import with
 * rejected rows and 1 for a --strict refusal, where --wait said 65).
 *
 * The heartbeat records are read with workers_list (core/workers.h), as
 * `jobs workers` and `health --require-worker` read them; waiting commands
 * read them every few seconds at most, so their cost does not matter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/import.h"
#include "core/job.h"
#include "core/jobwait.h"
#include "core/rds.h"
#include "core/workers.h"
#include "core/xalloc.h"

/* An import is one transaction: when it did not succeed, nothing was applied. */
static bool is_import(const struct queue_job *job)
{
	return job->type && strcmp(job->type, IMPORT_JOB_TYPE) == 0;
}

/* "import" for imports, "job" for the rest: the noun of the messages */
static const char *noun(const struct queue_job *job)
{
	return is_import(job) ? "import" : "job";
}

static long long result_int(json_t *result, const char *key)
{
	json_t *v = json_object_get(result, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

int job_outcome(const struct queue_job *job, struct acme_err *err)
{
	const char *id = job->id ? job->id : "?";
	const char *why = job->error && job->error[0] ? job->error : "no reason given";
	int rc = 0;

	switch (job->state) {
	case JOB_SUCCEEDED: {
		json_t *result = job->result ? json_loads(job->result, 0, NULL) : NULL;
		long long rejected = result_int(result, "rejected");
		long long recorded = result_int(result, "errors_recorded");
		if (rejected > 0)
			rc = acme_err_set(err, ACME_E_DATA, "%s %s: %lld row%s rejected%s; see "
					  "'acmectl jobs errors %s'", noun(job), id, rejected,
					  rejected == 1 ? "" : "s", recorded >= 0 && recorded < rejected ?
					  " (the first ones are recorded)" : "", id);
		json_decref(result);
		return rc;
	}
	case JOB_FAILED:
		return acme_err_set(err, ACME_E_DATA, "%s %s failed: %s", noun(job), id, why);
	case JOB_DEAD:
		return acme_err_set(err, ACME_E_FAILURE, "%s %s failed after %d attempt%s%s: %s",
				    noun(job), id, job->attempts, job->attempts == 1 ? "" : "s",
				    is_import(job) ? ", nothing applied" : "", why);
	case JOB_CANCELLED:
		return acme_err_set(err, ACME_E_REFUSED, "%s %s was cancelled%s", noun(job), id,
				    is_import(job) ? "; nothing was applied" : "");
	default:
		return acme_err_set(err, ACME_E_TEMPFAIL, "%s %s has not ended: it is %s", noun(job),
				    id, job_state_name(job->state));
	}
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int job_load(PGconn *db, struct queue *q, const char *queue, const char *id,
	     struct queue_job *out, struct acme_err *err)
{
	struct job_row row = { 0 };
	int got = queue_get(q, queue, id, out, err);
	if (got < 0)
		return -1;
	if (got == QUEUE_OK && out->known)
		return 0;
	queue_job_release(out);
	if (job_get(db, id, &row, err) < 0)
		return -1;
	out->known = true;
	out->id = xstrdup(row.id);
	out->type = xstrdup(row.type);
	out->queue = xstrdup(row.queue);
	out->payload = dup_or_null(row.payload);
	out->state = row.state;
	out->attempts = row.attempts;
	out->max_attempts = row.max_attempts;
	out->version = row.version;
	out->error = dup_or_null(row.error);
	out->result = dup_or_null(row.result);
	out->progress = dup_or_null(row.progress);
	out->cancel_requested = row.cancel_requested;
	out->created_ms = row.created_ms;
	job_row_release(&row);
	return 0;
}

int jobwait_serving(redisContext *c, const char *prefix, const char *queue,
		    struct jobwait_serving *out, struct acme_err *err)
{
	struct queue q;
	struct queue_stats st;
	struct worker_list wl;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (workers_list(c, prefix, &wl, err) < 0)
		return -1;
	for (size_t i = 0; i < wl.n; i++) {
		if (!wl.v[i].rec)
			continue;
		if (workers_serves(wl.v[i].rec, queue))
			out->workers++;
		else
			out->others++;
	}
	workers_list_release(&wl);

	if (queue_init(&q, c, prefix ? prefix : "", err) < 0)
		goto out;
	int s = queue_stats(&q, queue, &st, err);
	queue_release(&q);
	if (s < 0)
		goto out;
	out->paused = st.paused;
	rc = 0;
out:
	return rc;
}
