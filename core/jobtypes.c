/* jobtypes.c — the table of job types, the `noop` type, and the runner that
 * takes one leased job through its handler (see jobtypes.h).
 *
 * The runner owns the conversation with the queue while a handler works:
 * handlers only see checkpoint() and progress(), and learn through their
 * errors that they must stop. Heartbeats go out from checkpoint() once a third
 * of the lease has passed, so a handler that checkpoints often never loses its
 * lease; one that blocks longer than a lease is reaped and retried, and its
 * late commit is refused by the fence in PostgreSQL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/audit.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/failpoint.h"
#include "core/import.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/log.h"
#include "core/systemjobs.h"
#include "core/webhook.h"
#include "core/whdeliver.h"
#include "core/completer.h"
#include "core/xalloc.h"

static int noop_run(struct job_run *run, struct acme_err *err);

/* noop writes to PostgreSQL only with "commit" (job_commit) or
 * "progress_steps" (progress saved in the row); a key named so anywhere in
 * the payload counts, which errs on the fenced side */
static bool noop_unfenced(const char *payload)
{
	return !payload || (!strstr(payload, "\"commit\"") && !strstr(payload, "\"progress_steps\""));
}

static const struct jobtype types[] = {
	{ .name = "noop", .summary = "does nothing, optionally slowly, failing or with progress "
	  "(tests and benchmarks)", .handler = noop_run, .queue = "default", .max_attempts = 3,
	  .lease_ms = 30000, .soft_limit_ms = 0, .hard_limit_ms = 0, .backoff_ms = 100,
	  .backoff_max_ms = 2000, .unfenced = noop_unfenced },
	{ .name = "housekeeping", .summary = "purge finished jobs, staged uploads and relayed outbox "
	  "rows past retention", .handler = housekeeping_run, .queue = "default", .max_attempts = 3,
	  .lease_ms = 30000, .backoff_ms = 10000, .backoff_max_ms = 600000 },
	WEBHOOK_JOBTYPES,
	/* the handler never blocks: it checkpoints every 200 ms even inside
	 * long statements, so 60 s of lease is generous; a third of it (the
	 * heartbeat interval) stays below the worker's default 30 s first lease */
	{ .name = "import", .summary = "import a staged CSV file into products (acmectl import)",
	  .handler = import_run, .queue = "import", .max_attempts = 3, .lease_ms = 60000,
	  .soft_limit_ms = 0, .hard_limit_ms = 6LL * 3600 * 1000, .backoff_ms = 5000,
	  .backoff_max_ms = 300000 },
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

const struct jobtype *jobtype_find(const char *name)
{
	for (size_t i = 0; name && i < NTYPES; i++)
		if (strcmp(types[i].name, name) == 0)
			return &types[i];
	return NULL;
}

const struct jobtype *jobtype_at(size_t i)
{
	return i < NTYPES ? &types[i] : NULL;
}

static void known_types(char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < NTYPES && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", types[i].name);
}

int jobtype_check(const char *name, struct acme_err *err)
{
	char known[256];
	if (jobtype_find(name))
		return 0;
	known_types(known, sizeof(known));
	return acme_err_set(err, ACME_E_USAGE, "unknown job type \"%s\" (known types: %s)",
			    name ? name : "", known);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int jobtype_known_queues(struct queue *q, char ***names, struct acme_err *err)
{
	char **seen = NULL;
	int n = queue_names(q, &seen, err);
	if (n < 0)
		return -1;
	char **v = xcalloc((size_t)n + NTYPES + 1, sizeof(char *));
	size_t m = 0;
	for (int i = 0; i < n; i++)
		v[m++] = seen[i];
	free(seen);
	for (size_t i = 0; i < NTYPES; i++)
		v[m++] = xstrdup(types[i].queue);
	qsort(v, m, sizeof(char *), cmp_name);
	size_t u = 0;
	for (size_t i = 0; i < m; i++) {
		if (u && strcmp(v[u - 1], v[i]) == 0) {
			free(v[i]);
			continue;
		}
		v[u++] = v[i];
	}
	v[u] = NULL;
	*names = v;
	return (int)u;
}

int jobtype_check_queue(struct queue *q, const char *queue, struct acme_err *err)
{
	char **names = NULL;
	char known[512] = "";
	size_t off = 0;
	bool found = false;
	if (queue_check_name("queue", queue, err) < 0)
		return -1;
	int n = jobtype_known_queues(q, &names, err);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		found |= strcmp(names[i], queue) == 0;
		if (off < sizeof(known))
			off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s", i ? ", " : "",
						names[i]);
		free(names[i]);
	}
	free(names);
	if (found)
		return 0;
	return acme_err_set(err, ACME_E_USAGE, "unknown queue \"%s\" (known queues: %s)", queue,
			    known);
}

int jobtype_fill_spec(struct queue_spec *spec, struct acme_err *err)
{
	const struct jobtype *t = jobtype_find(spec->type);
	if (!t) {
		char known[256];
		known_types(known, sizeof(known));
		return acme_err_set(err, ACME_E_USAGE, "unknown job type \"%s\" (known types: %s)",
				    spec->type ? spec->type : "", known);
	}
	if (!spec->queue)
		spec->queue = t->queue;
	if (spec->max_attempts <= 0)
		spec->max_attempts = t->max_attempts;
	if (spec->backoff_ms <= 0)
		spec->backoff_ms = t->backoff_ms;
	if (spec->backoff_max_ms <= 0)
		spec->backoff_max_ms = t->backoff_max_ms;
	return 0;
}

/* ---- noop ---------------------------------------------------------------------- */

static int noop_bad(struct job_run *run, struct acme_err *err, const char *key, const char *want)
{
	run->permanent = true;
	return acme_err_set(err, ACME_E_DATA, "noop: payload \"%s\" must be %s", key, want);
}

/* Commit one audit_log row (command "noop commit", target tag) together
 * with the job's outcome (job_commit): the observable effect tests count to
 * prove a job committed once, whatever fails around it. */
static int noop_commit(struct job_run *run, const char *tag, struct acme_err *err)
{
	char *result = NULL;
	if (!run->db) {
		run->permanent = true;
		return acme_err_set(err, ACME_E_USAGE, "noop: \"commit\" needs a database connection");
	}
	if (db_begin(run->db, NULL, err) < 0)
		return -1;
	char *details = xasprintf("{\"job_id\": \"%s\", \"attempt\": %d}", run->job->id,
				  run->job->attempts);
	int rc = audit_add(run->db, "-", "noop commit", tag, details, err);
	if (rc == 0) {
		result = json_dumps(run->result, JSON_COMPACT);
		rc = job_commit(run->db, run->job, JOB_SUCCEEDED, result, NULL, err);
	}
	if (rc < 0 && PQtransactionStatus(run->db) != PQTRANS_IDLE)
		db_rollback(run->db);
	free(result);
	free(details);
	return rc;
}

/* payload {"sleep_ms": N, "fail": bool, "fail_times": N, "progress_steps": N,
 * "stall_ms": N, "commit": "TAG"}: stall_ms blocks after the sleep without a
 * checkpoint (a handler stuck in work: no heartbeat meanwhile); commit then
 * writes one row together with the job's success (noop_commit), on the
 * attempt that succeeds: attempts that fail as asked commit nothing. */
static int noop_run(struct job_run *run, struct acme_err *err)
{
	long long sleep_total = 0, steps = 0, fail_times = 0, stall = 0;
	bool fail = false;
	const char *key, *commit = NULL;
	json_t *v;

	json_object_foreach(run->payload, key, v) {
		if (strcmp(key, "sleep_ms") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 86400000)
				return noop_bad(run, err, key, "a whole number of milliseconds (0-86400000)");
			sleep_total = json_integer_value(v);
		} else if (strcmp(key, "fail") == 0) {
			if (!json_is_boolean(v))
				return noop_bad(run, err, key, "true or false");
			fail = json_is_true(v);
		} else if (strcmp(key, "fail_times") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				return noop_bad(run, err, key, "a whole number (0 or more)");
			fail_times = json_integer_value(v);
		} else if (strcmp(key, "progress_steps") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 100000)
				return noop_bad(run, err, key, "a whole number (0-100000)");
			steps = json_integer_value(v);
		} else if (strcmp(key, "stall_ms") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 86400000)
				return noop_bad(run, err, key, "a whole number of milliseconds (0-86400000)");
			stall = json_integer_value(v);
		} else if (strcmp(key, "commit") == 0) {
			if (!json_is_string(v) || !json_string_value(v)[0])
				return noop_bad(run, err, key, "a non-empty string");
			commit = json_string_value(v);
		} else {
			run->permanent = true;
			return acme_err_set(err, ACME_E_DATA, "noop: unknown payload key \"%s\" (known: "
					    "sleep_ms, fail, fail_times, progress_steps, stall_ms, commit)",
					    key);
		}
	}

	long long nslices = steps > 0 ? steps : 1;
	for (long long i = 1; i <= nslices; i++) {
		long long slice = sleep_total / nslices + (i <= sleep_total % nslices);
		while (slice > 0) {
			long long nap = slice < 50 ? slice : 50;
			clock_sleep_ms(nap);
			slice -= nap;
			if (run->checkpoint(run, err) < 0)
				return -1;
		}
		if (steps > 0) {
			json_t *p = json_pack("{s:I, s:I}", "step", (json_int_t)i, "steps", (json_int_t)steps);
			int rc = run->progress(run, p, err);
			json_decref(p);
			if (rc < 0)
				return -1;
		}
	}
	if (run->checkpoint(run, err) < 0)
		return -1;
	if (stall > 0)
		clock_sleep_ms(stall);
	if (fail)
		return acme_err_set(err, ACME_E_FAILURE, "noop: failing as asked (\"fail\": true)");
	if (run->job->attempts <= fail_times)
		return acme_err_set(err, ACME_E_FAILURE, "noop: failing as asked (attempt %d of the "
				    "first %lld)", run->job->attempts, fail_times);
	run->result = json_pack("{s:I, s:I, s:i}", "slept_ms", (json_int_t)sleep_total,
				"progress_steps", (json_int_t)steps, "attempt", run->job->attempts);
	if (commit && noop_commit(run, commit, err) < 0)
		return -1;
	return 0;
}

/* ---- the runner ------------------------------------------------------------------- */

struct runner {
	struct queue *q;
	PGconn *db;
	long long lease_ms, soft_ms;
	const volatile sig_atomic_t *stop;
	long long started, last_beat, last_save;
	bool lost, cancel, stopping;
	bool broken;                  /* Redis failed: infra holds why */
	struct acme_err infra;
};

/* What a queue answer means for the handler. */
static int runner_answer(struct runner *r, int qrc, struct acme_err *err)
{
	if (qrc < 0) {
		r->broken = true;
		*err = r->infra;
		return -1;
	}
	if (qrc == QUEUE_LOST) {
		r->lost = true;
		return acme_err_set(err, ACME_E_REFUSED, "lease lost: the job was reaped or taken "
				    "over; stopping without committing");
	}
	if (qrc == QUEUE_CANCEL) {
		r->cancel = true;
		return acme_err_set(err, ACME_E_REFUSED, "cancelled on request");
	}
	return 0;
}

static int runner_checkpoint(struct job_run *run, struct acme_err *err)
{
	struct runner *r = run->runner;
	if (r->broken) {
		*err = r->infra;
		return -1;
	}
	if (r->lost)
		return runner_answer(r, QUEUE_LOST, err);
	if (r->cancel)
		return runner_answer(r, QUEUE_CANCEL, err);
	if (r->stop && *r->stop) {
		r->stopping = true;
		return acme_err_set(err, ACME_E_REFUSED, "the worker is shutting down");
	}
	long long now = clock_mono_ms();
	if (r->soft_ms > 0 && now - r->started > r->soft_ms)
		return acme_err_set(err, ACME_E_TEMPFAIL, "soft time limit of %lld ms exceeded",
				    r->soft_ms);
	if (now - r->last_beat >= r->lease_ms / 3) {
		int qrc = queue_heartbeat(r->q, run->job, r->lease_ms, &r->infra);
		r->last_beat = now;
		return runner_answer(r, qrc, err);
	}
	return 0;
}

static int runner_progress(struct job_run *run, json_t *progress, struct acme_err *err)
{
	struct runner *r = run->runner;
	char *text = json_dumps(progress, JSON_COMPACT);
	if (!text)
		return acme_err_set(err, ACME_E_FAILURE, "progress: cannot encode as JSON");
	int qrc = queue_progress(r->q, run->job, text, &r->infra);
	free(text);
	if (runner_answer(r, qrc, err) < 0)
		return -1;
	long long now = clock_mono_ms();
	if (r->db && now - r->last_save >= 250) {
		struct acme_err ignored;
		/* the row's progress is a convenience; Redis has the live value */
		job_save_progress(r->db, run->job, &ignored);
		r->last_save = now;
	}
	return runner_checkpoint(run, err);
}

/* job_start(), and when the row is newer than Redis's snapshot: ask Redis
 * whether this token still holds the lease. It does not (QUEUE_LOST): the
 * lease was reaped and taken over, drop the job. It does: Redis went back in
 * time (failover to a lagging replica, restart from an older RDB or AOF) and
 * PostgreSQL's version wins, so Redis's is raised above the row's and the
 * start recorded again. Returns enum job_start_rc (STALE: drop it) or -1. */
static int runner_start(struct queue *q, PGconn *db, struct queue_job *job, long long lease_ms,
			struct job_start_info *info, struct acme_err *err)
{
	int s = job_start(db, job, info, err);
	if (s != JOB_START_STALE)
		return s;
	long long was = job->version;
	int qrc = queue_heartbeat(q, job, lease_ms, err);
	if (qrc < 0)
		return -1;
	if (qrc == QUEUE_LOST)
		return JOB_START_STALE;
	qrc = queue_raise_version(q, job, info->version + 1, err);
	if (qrc < 0)
		return -1;
	if (qrc == QUEUE_LOST)
		return JOB_START_STALE;
	log_warn("job %s: Redis is behind PostgreSQL (version %lld, the jobs table has %lld): "
		 "Redis went back in time; its version was raised and the job runs", job->id,
		 was, info->version);
	return job_start(db, job, info, err);
}

/* The row is final: an earlier attempt committed its effects together with
 * its outcome (job_commit) and only the report to Redis was lost (a lost ack,
 * or a reap that raced the commit). Do nothing again: finish the job in Redis
 * as the row says. Returns JOB_START_FINISHED or -1. */
static int finish_as_recorded(struct queue *q, PGconn *db, struct queue_job *job,
			      const struct job_start_info *info, struct acme_err *err)
{
	int qrc;
	if (info->state == JOB_SUCCEEDED)
		qrc = queue_ack(q, job, info->result, err);
	else
		qrc = queue_fail(q, job, info->error ? info->error : job_state_name(info->state), true,
				 err);
	if (qrc < 0)
		return -1;
	log_info("job %s: already %s in the jobs table (an earlier attempt committed; its report "
		 "to Redis was lost); not run again", job->id, job_state_name(info->state));
	(void)db;   /* the row is final: mirroring Redis's snapshot would change nothing */
	return JOB_START_FINISHED;
}

static void warn_late_report(const struct queue_job *job)
{
	log_warn("job %s: its work finished, but the lease was lost before it was reported "
		 "(reaped or taken over); what it committed with its outcome is not run again",
		 job->id);
}

int jobtype_execute(struct queue *q, PGconn *db, struct completer *done, struct queue_job *job,
		    long long lease_ms, const volatile sig_atomic_t *stop, struct acme_err *err)
{
	const struct jobtype *t = jobtype_find(job->type);
	struct runner r = { 0 };
	struct job_run run = { 0 };
	struct acme_err herr = { 0 };
	json_t *payload = NULL;
	char *result = NULL;
	int hrc = -1, qrc, rc = -1;

	r.q = q;
	r.db = db;
	r.stop = stop;
	r.lease_ms = lease_ms > 0 ? lease_ms : t ? t->lease_ms : 30000;
	r.soft_ms = t ? t->soft_limit_ms : 0;
	r.started = r.last_beat = clock_mono_ms();

	/* an unfenced job's start goes to the batched writer, and its handler
	 * gets no connection: it has nothing to write under the fence */
	bool light = db && done && t && t->unfenced && t->unfenced(job->payload);
	if (light) {
		completer_add(done, job);
		if (FAILPOINT(JOB_AFTER_START, err) < 0)
			return -1;
		r.db = db = NULL;
	} else if (db) {
		struct job_start_info info = { 0 };
		if (FAILPOINT(JOB_BEFORE_START, err) < 0)
			return -1;
		int s = runner_start(q, db, job, r.lease_ms, &info, err);
		if (s == JOB_START_FINISHED)
			s = finish_as_recorded(q, db, job, &info, err);
		job_start_info_release(&info);
		if (s < 0)
			return -1;
		if (s != JOB_START_OK && s != JOB_START_NO_ROW)
			return 0;
		if (FAILPOINT(JOB_AFTER_START, err) < 0)
			return -1;
	}

	if (!t) {
		char known[256];
		known_types(known, sizeof(known));
		acme_err_set(&herr, ACME_E_DATA, "unknown job type \"%s\" (this worker knows: %s)",
			     job->type ? job->type : "", known);
		run.permanent = true;
	} else if (!(payload = json_loads(job->payload ? job->payload : "{}", 0, NULL)) ||
		   !json_is_object(payload)) {
		acme_err_set(&herr, ACME_E_DATA, "payload is not a JSON object");
		run.permanent = true;
	} else {
		run.job = job;
		run.payload = payload;
		run.db = db;
		run.queue = q;
		run.progress = runner_progress;
		run.checkpoint = runner_checkpoint;
		run.runner = &r;
		hrc = t->handler(&run, &herr);
	}

	if (r.broken) {
		*err = r.infra;
		goto out;
	}
	if (r.lost && hrc == 0)
		warn_late_report(job);
	if (r.lost) {
		rc = 0;         /* the new holder owns it now */
		goto out;
	}

	/* PostgreSQL went away under the handler (a restart, a failover): not
	 * the job's failure. Leave it to the worker, which finds its own
	 * connection lost too and gives the job back without counting the
	 * attempt (a fenced job committed nothing: its transaction died with
	 * the connection). */
	if (hrc < 0 && !run.permanent && db && db_lost(db, NULL)) {
		*err = herr;
		goto out;
	}
	if (r.stopping && hrc < 0) {
		qrc = queue_release_job(q, job, err);
	} else if (hrc == 0) {
		result = run.result ? json_dumps(run.result, JSON_COMPACT) : NULL;
		qrc = queue_ack(q, job, result, err);
	} else {
		qrc = queue_fail(q, job, herr.msg[0] ? herr.msg : "failed", run.permanent, err);
	}
	if (qrc < 0)
		goto out;
	if (qrc == QUEUE_LOST && hrc == 0)
		warn_late_report(job);
	else if (qrc == QUEUE_LOST)
		log_warn("job %s: %s", job->id, herr.msg[0] ? herr.msg : "failed");
	if (qrc == QUEUE_OK && FAILPOINT(WORKER_AFTER_ACK, err) < 0)
		goto out;
	if (qrc == QUEUE_OK && done && (light || db))
		completer_add(done, job);
	else if (qrc == QUEUE_OK && db && job_mirror(db, job, 1, err) < 0)
		goto out;
	rc = 0;
out:
	json_decref(run.result);
	json_decref(payload);
	free(result);
	return rc;
}
