/* acme-queue — the queue's test and bench driver: single transitions
 * (dequeue, heartbeat, progress, ack, fail, release, reap, promote, get,
 * check-lease), a burst runner, and the queue benchmark's enqueue-and-verify
 * loop, and a job put into Redis alone (enqueue-redis). It drives core/queue.c and core/job.c directly, as a worker would,
 * so tests can put a job in any state. It is built by `make helpers` into
 * build/tests/helpers and never shipped: acmectl has no such command.
 *
 *   acme-queue VERB [ARG]... [--queue Q]... [--lease DUR] [--wait DUR]
 *              [--worker NAME] [--result JSON] [--error TEXT] [--permanent]
 *              [--max N] [--no-db] [--quiet-jobs] [--batch N] [--rate N]
 *
 * Configuration as acmectl's (ACME_ENV, DATABASE_URL, REDIS_URL, config
 * file). Output: one JSON object per line on stdout. Errors: a message on
 * stderr and acmectl's exit codes (3 not found, 4 lease lost, 65 bad data,
 * 69 unavailable). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/failpoint.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/log.h"
#include "core/output.h"
#include "core/queue.h"
#include "core/session.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

struct ctx {
	struct session s;
	struct acme_err err;
	FILE *out;
};

/* ---- options: --name VALUE or --name=VALUE, flags, durations in ms ---- */

enum kind { FLAG, TEXT, NUM, DUR };
static const struct { const char *name; enum kind kind; } known_opts[] = {
	{ "queue", TEXT }, { "lease", DUR }, { "wait", DUR }, { "worker", TEXT },
	{ "result", TEXT }, { "error", TEXT }, { "permanent", FLAG }, { "max", NUM },
	{ "no-db", FLAG }, { "quiet-jobs", FLAG }, { "batch", NUM }, { "rate", NUM },
};
#define MAX_OPTS 64

struct args {
	int argc;
	char **argv;
	const char *name[MAX_OPTS];
	char *val[MAX_OPTS];
	int nopt;
	const char *all[MAX_OPTS];
};

static int args_parse(struct args *a, int argc, char **argv, struct acme_err *err)
{
	memset(a, 0, sizeof(*a));
	a->argv = xcalloc((size_t)argc + 1, sizeof(char *));
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0 || !argv[i][2]) {
			a->argv[a->argc++] = argv[i];
			continue;
		}
		const char *name = argv[i] + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		size_t k = 0;
		while (k < sizeof(known_opts) / sizeof(known_opts[0]) &&
		       (strlen(known_opts[k].name) != len || strncmp(known_opts[k].name, name, len)))
			k++;
		if (k == sizeof(known_opts) / sizeof(known_opts[0]))
			return acme_err_set(err, ACME_E_USAGE, "unknown option --%.*s", (int)len, name);
		if (a->nopt == MAX_OPTS)
			return acme_err_set(err, ACME_E_USAGE, "too many options");
		const char *v = NULL;
		if (known_opts[k].kind != FLAG) {
			v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
			if (!v)
				return acme_err_set(err, ACME_E_USAGE, "--%s needs a value",
						    known_opts[k].name);
		}
		long long ms;
		if (known_opts[k].kind == DUR) {
			if (parse_duration_ms(v, &ms) < 0)
				return acme_err_set(err, ACME_E_USAGE, "--%s: \"%s\" is not a duration",
						    known_opts[k].name, v);
			a->val[a->nopt] = xasprintf("%lld", ms);
		} else {
			a->val[a->nopt] = v ? xstrdup(v) : NULL;
		}
		a->name[a->nopt++] = known_opts[k].name;
	}
	return 0;
}

static void args_release(struct args *a)
{
	for (int i = 0; i < a->nopt; i++)
		free(a->val[i]);
	free(a->argv);
}

static const char *args_get(const struct args *a, const char *name)
{
	const char *v = NULL;
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->name[i], name) == 0)
			v = a->val[i];
	return v;
}

static bool args_has(const struct args *a, const char *name)
{
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->name[i], name) == 0)
			return true;
	return false;
}

static long long args_int(const struct args *a, const char *name, long long def)
{
	const char *v = args_get(a, name);
	return v ? strtoll(v, NULL, 10) : def;
}

static int args_all(struct args *a, const char *name, const char ***out)
{
	int n = 0;
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->name[i], name) == 0)
			a->all[n++] = a->val[i];
	*out = a->all;
	return n;
}

/* ---- the connections, through the session as acmectl's ---- */

static int open_queue(struct ctx *ctx, struct queue *q)
{
	redisContext *rc = session_redis(&ctx->s, &ctx->err);
	if (!rc)
		return -1;
	return queue_init(q, rc, config_get(&ctx->s.cfg, CFG_REDIS_PREFIX), &ctx->err);
}

static void ctx_msg(struct ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	(void)ctx;
	va_start(ap, fmt);
	fputs("acme-queue: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char *one_queue(struct args *a)
{
	const char *qn = args_get(a, "queue");
	return qn ? qn : "default";
}

/* The job id/token of argv as a held job: its snapshot with our token. */
static int load_held(struct ctx *ctx, struct queue *q, struct args *a, struct queue_job *job)
{
	int got = queue_get(q, one_queue(a), a->argv[0], job, &ctx->err);
	if (got < 0)
		return -1;
	if (got == QUEUE_MISSING)
		return acme_err_set(&ctx->err, ACME_E_NOT_FOUND, "job %s is not in queue %s",
				    a->argv[0], one_queue(a));
	free(job->token);
	job->token = xstrdup(a->argv[1]);
	return 0;
}

static void print_snapshot(struct ctx *ctx, const char *outcome, const struct queue_job *job,
			   bool with_token)
{
	json_t *o = job_snapshot_json(job, with_token);
	json_object_set_new(o, "outcome", json_string(outcome));
	output_json(ctx->out, o, false);
	json_decref(o);
}

/* Print the outcome; mirror the snapshot to PostgreSQL. LOST is exit 4. */
static int held_outcome(struct ctx *ctx, int rc, const char *ok_word, struct queue_job *job)
{
	if (rc < 0)
		return -1;
	if (rc == QUEUE_LOST)
		return acme_err_set(&ctx->err, ACME_E_REFUSED, "job %s: lease lost (token refused)",
				    job->id);
	if (job_mirror(ctx->s.db, job, 1, &ctx->err) < 0)
		return -1;
	print_snapshot(ctx, rc == QUEUE_CANCEL ? "cancel" : ok_word, job, false);
	return 0;
}

static int q_dequeue(struct ctx *ctx, struct args *a)
{
	struct queue q;
	struct queue_job job = { 0 };
	const char **names;
	int n = args_all(a, "queue", &names), rc = -1;
	static const char *const def[] = { "default" };

	if (open_queue(ctx, &q) < 0)
		return -1;
	int got = queue_dequeue(&q, n ? names : def, n ? (size_t)n : 1, args_int(a, "lease", 30000),
				args_int(a, "wait", 0), args_get(a, "worker"), &job, &ctx->err);
	if (got < 0)
		goto out;
	if (got == QUEUE_EMPTY) {
		rc = acme_err_set(&ctx->err, ACME_E_NOT_FOUND, "no job ready");
		goto out;
	}
	int s = job_start(ctx->s.db, &job, NULL, &ctx->err);
	if (s < 0)
		goto out;
	static const char *const start_words[] = { "ok", "finished", "stale", "no_row" };
	json_t *o = job_snapshot_json(&job, true);
	json_object_set_new(o, "start", json_string(start_words[s]));
	output_json(ctx->out, o, false);
	json_decref(o);
	rc = 0;
out:
	queue_job_release(&job);
	queue_release(&q);
	return rc;
}

/* heartbeat/progress/ack/fail/release: ID TOKEN [...] */
static int q_held(struct ctx *ctx, struct args *a, const char *verb)
{
	struct queue q;
	struct queue_job job = { 0 };
	int rc = -1;

	if (open_queue(ctx, &q) < 0)
		return -1;
	if (load_held(ctx, &q, a, &job) < 0)
		goto out;
	if (strcmp(verb, "heartbeat") == 0) {
		rc = held_outcome(ctx, queue_heartbeat(&q, &job, args_int(a, "lease", 30000), &ctx->err),
				  "extended", &job);
	} else if (strcmp(verb, "progress") == 0) {
		if (a->argc < 3) {
			rc = acme_err_set(&ctx->err, ACME_E_USAGE, "__queue progress ID TOKEN JSON");
			goto out;
		}
		rc = held_outcome(ctx, queue_progress(&q, &job, a->argv[2], &ctx->err), "stored", &job);
		if (rc == 0 && job_save_progress(ctx->s.db, &job, &ctx->err) < 0)
			rc = -1;
	} else if (strcmp(verb, "ack") == 0) {
		rc = held_outcome(ctx, queue_ack(&q, &job, args_get(a, "result"), &ctx->err), "acked",
				  &job);
	} else if (strcmp(verb, "fail") == 0) {
		rc = held_outcome(ctx, queue_fail(&q, &job, args_get(a, "error"),
						  args_has(a, "permanent"), &ctx->err), "failed", &job);
	} else {
		rc = held_outcome(ctx, queue_release_job(&q, &job, &ctx->err), "released", &job);
	}
out:
	queue_job_release(&job);
	queue_release(&q);
	return rc;
}

static int q_heartbeat(struct ctx *ctx, struct args *a) { return q_held(ctx, a, "heartbeat"); }
static int q_progress(struct ctx *ctx, struct args *a) { return q_held(ctx, a, "progress"); }
static int q_ack(struct ctx *ctx, struct args *a) { return q_held(ctx, a, "ack"); }
static int q_fail(struct ctx *ctx, struct args *a) { return q_held(ctx, a, "fail"); }
static int q_release(struct ctx *ctx, struct args *a) { return q_held(ctx, a, "release"); }

/* reap / promote: print one line per job, then mirror */
static int q_sweep(struct ctx *ctx, struct args *a, bool reap)
{
	struct queue q;
	struct queue_job *jobs = NULL;
	size_t n = 0;
	int rc = -1;

	if (open_queue(ctx, &q) < 0)
		return -1;
	int got = reap ? queue_reap(&q, one_queue(a), 1000, &jobs, &n, &ctx->err) :
			 queue_promote(&q, one_queue(a), 1000, &jobs, &n, &ctx->err);
	if (got < 0)
		goto out;
	if (job_mirror(ctx->s.db, jobs, n, &ctx->err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		print_snapshot(ctx, reap ? "reaped" : "promoted", &jobs[i], false);
	rc = 0;
out:
	queue_jobs_free(jobs, n);
	queue_release(&q);
	return rc;
}

static int q_reap(struct ctx *ctx, struct args *a) { return q_sweep(ctx, a, true); }
static int q_promote(struct ctx *ctx, struct args *a) { return q_sweep(ctx, a, false); }

static int q_get(struct ctx *ctx, struct args *a)
{
	struct queue q;
	struct queue_job job = { 0 };
	int rc = -1;
	if (open_queue(ctx, &q) < 0)
		return -1;
	int got = queue_get(&q, one_queue(a), a->argv[0], &job, &ctx->err);
	if (got == QUEUE_MISSING)
		acme_err_set(&ctx->err, ACME_E_NOT_FOUND, "job %s is not in queue %s", a->argv[0],
			     one_queue(a));
	else if (got == QUEUE_OK) {
		print_snapshot(ctx, "found", &job, false);
		rc = 0;
	}
	queue_job_release(&job);
	queue_release(&q);
	return rc;
}

/* A job put into Redis only, with no row in the jobs table: what anyone with
 * write access to Redis can do (acmectl(7)); tests check what a worker then
 * refuses to do with it. */
static int q_enqueue_redis(struct ctx *ctx, struct args *a)
{
	struct queue q;
	struct queue_job job = { 0 };
	int rc = -1;
	if (open_queue(ctx, &q) < 0)
		return -1;
	struct queue_spec spec = { .type = a->argv[0], .payload = a->argv[1],
				   .queue = one_queue(a), .max_attempts = 1 };
	int got = queue_enqueue(&q, &spec, &job, &ctx->err);
	if (got == QUEUE_OK) {
		print_snapshot(ctx, "enqueued", &job, false);
		rc = 0;
	} else if (got >= 0) {
		acme_err_set(&ctx->err, ACME_E_FAILURE, "enqueue: unexpected answer %d", got);
	}
	queue_job_release(&job);
	queue_release(&q);
	return rc;
}

/* The fields of a and b that differ, appended to out ("" when none). */
static void snap_diff(const char *step, const struct queue_job *a, const struct queue_job *b,
		      struct strbuf *out)
{
#define S_(f) if (strcmp(a->f ? a->f : "", b->f ? b->f : "") != 0) strbuf_addf(out, " %s.%s", step, #f);
#define N_(f) if (a->f != b->f) strbuf_addf(out, " %s.%s", step, #f);
	S_(id) S_(type) S_(queue) S_(payload) S_(token) S_(error) S_(result) S_(progress) S_(worker)
	N_(state) N_(known) N_(attempts) N_(max_attempts) N_(version) N_(cancel_requested)
	N_(created_ms) N_(scheduled_ms) N_(enqueued_ms) N_(started_ms) N_(finished_ms)
	N_(deadline_ms) N_(backoff_ms) N_(backoff_max_ms)
#undef S_
#undef N_
}

/* Compare what the caller's copy says after a step with Redis's hash. */
static int snap_same(struct ctx *ctx, struct queue *q, const char *queue, const char *step,
		     const struct queue_job *mine, struct strbuf *out)
{
	struct queue_job real = { 0 };
	if (queue_get(q, queue, mine->id, &real, &ctx->err) != QUEUE_OK) {
		queue_job_release(&real);
		return acme_err_set(&ctx->err, ACME_E_FAILURE, "%s: job %s not found", step, mine->id);
	}
	snap_diff(step, mine, &real, out);
	queue_job_release(&real);
	return 0;
}

static int snap_take(struct ctx *ctx, struct queue *q, const char *queue, struct queue_job *job)
{
	if (queue_dequeue(q, (const char *const[]){ queue }, 1, 60000, 0, "snapcheck", job,
			  &ctx->err) != QUEUE_OK)
		return acme_err_set(&ctx->err, ACME_E_FAILURE, "snapcheck: no job to take");
	return 0;
}

/* snapcheck: the snapshots the enqueue and ack scripts no longer send in
 * full and the one the dequeue assembles (issue 15), against the job hash,
 * every field: immediate and delayed enqueues with every spec field set, a
 * generated id, enqueue_many (the reconciler's path) and an id that exists;
 * acks with and without a result, after progress, a heartbeat, a cancel
 * request, a raised version, and a retried attempt (an old error and a
 * schedule in the hash); and ack-and-fetch with the job it fetched. Prints
 * "same" or the fields that differ. */
static int q_snapcheck(struct ctx *ctx, struct args *a)
{
	struct queue q;
	struct strbuf diff = STRBUF_INIT;
	struct queue_job job = { 0 }, other = { 0 }, many[2] = { { 0 } };
	const char *queue = one_queue(a);
	char id[64];
	int rc = -1;

	if (open_queue(ctx, &q) < 0)
		return -1;
	for (int round = 0; round < 8; round++) {
		snprintf(id, sizeof(id), "snap-%d-%lld", round, (long long)getpid());
		struct queue_spec spec = {
			.id = round == 5 ? NULL : id, .type = "noop", .queue = queue,
			.payload = round % 2 ? "{\"n\": 1}" : NULL, .max_attempts = 2 + round,
			.delay_ms = round == 1 ? 600000 : 0, .backoff_ms = round == 7 ? 0 : 100 * round,
			.backoff_max_ms = 1000 * round, .version = round == 2 ? 7 : 0,
			.attempts = round == 3 ? 1 : 0,
		};
		if (queue_enqueue(&q, &spec, &job, &ctx->err) != QUEUE_OK)
			goto out;
		if (snap_same(ctx, &q, queue, "enqueue", &job, &diff) < 0)
			goto out;
		if (round == 1) {       /* scheduled: nothing to take; enqueue it again */
			if (queue_enqueue(&q, &spec, &other, &ctx->err) != QUEUE_EXISTS ||
			    snap_same(ctx, &q, queue, "exists", &other, &diff) < 0)
				goto out;
			continue;
		}
		if (snap_take(ctx, &q, queue, &job) < 0 ||
		    snap_same(ctx, &q, queue, "dequeue", &job, &diff) < 0)
			goto out;
		if (round == 3 && queue_progress(&q, &job, "{\"done\": 3}", &ctx->err) < 0)
			goto out;
		if (round == 4 && queue_cancel(&q, queue, job.id, &other, &ctx->err) < 0)
			goto out;
		if (round == 5) {       /* ack-and-fetch: the next job comes behind */
			struct queue_spec next = spec;
			next.id = NULL;
			if (queue_enqueue(&q, &next, &other, &ctx->err) != QUEUE_OK)
				goto out;
			queue_set_fetch(&q, &(struct queue_fetch){ .queue = queue, .lease_ms = 60000,
								  .worker = "snapcheck" });
		}
		if (round == 6 && (queue_heartbeat(&q, &job, 90000, &ctx->err) < 0 ||
				   queue_raise_version(&q, &job, job.version + 10, &ctx->err) < 0))
			goto out;
		if (round == 7) {       /* a failed attempt, retried at once */
			struct queue_job *due = NULL;
			size_t ndue = 0;
			if (queue_fail(&q, &job, "first try", false, &ctx->err) != QUEUE_OK ||
			    queue_promote(&q, queue, 10, &due, &ndue, &ctx->err) < 0)
				goto out;
			queue_jobs_free(due, ndue);
			if (snap_take(ctx, &q, queue, &job) < 0 ||
			    snap_same(ctx, &q, queue, "retry", &job, &diff) < 0)
				goto out;
		}
		if (queue_ack(&q, &job, round % 2 ? NULL : "{\"ok\": true}", &ctx->err) != QUEUE_OK)
			goto out;
		if (snap_same(ctx, &q, queue, "ack", &job, &diff) < 0)
			goto out;
		if (round == 5) {
			if (!q.fetched) {
				acme_err_set(&ctx->err, ACME_E_FAILURE, "ack-and-fetch took no job");
				goto out;
			}
			/* the fetched job, then run to its end like any */
			struct queue_job *f = q.fetched;
			q.fetched = NULL;
			queue_set_fetch(&q, NULL);
			int r = snap_same(ctx, &q, queue, "fetch", f, &diff);
			if (r == 0 && queue_ack(&q, f, NULL, &ctx->err) != QUEUE_OK)
				r = -1;
			if (r == 0)
				r = snap_same(ctx, &q, queue, "ack", f, &diff);
			queue_job_release(f);
			free(f);
			if (r < 0)
				goto out;
		}
	}
	/* enqueue_many: one generated id, one given */
	char ids[2][QUEUE_ULID_LEN + 1];
	int rcs[2];
	snprintf(id, sizeof(id), "snap-many-%lld", (long long)getpid());
	struct queue_spec specs[2] = {
		{ .type = "noop", .queue = queue, .max_attempts = 4, .backoff_ms = 5,
		  .backoff_max_ms = 50 },
		{ .id = id, .type = "noop", .queue = queue, .payload = "{\"m\": 2}", .max_attempts = 1,
		  .delay_ms = 600000, .version = 3, .attempts = 2 },
	};
	if (queue_enqueue_many(&q, specs, 2, rcs, ids, many, &ctx->err) < 0)
		goto out;
	for (int i = 0; i < 2; i++)
		if (snap_same(ctx, &q, queue, "enqueue_many", &many[i], &diff) < 0)
			goto out;
	printf("%s\n", diff.len ? diff.buf + 1 : "same");
	rc = 0;
out:
	strbuf_release(&diff);
	queue_job_release(&job);
	queue_job_release(&other);
	queue_job_release(&many[0]);
	queue_job_release(&many[1]);
	queue_release(&q);
	return rc;
}

/* The fence, as a job would use it: BEGIN; job_check_lease; COMMIT. */
static int q_check_lease(struct ctx *ctx, struct args *a)
{
	bool cancel = false;
	if (db_begin(ctx->s.db, NULL, &ctx->err) < 0)
		return -1;
	int rc = job_check_lease(ctx->s.db, a->argv[0], a->argv[1], &cancel, &ctx->err);
	if (rc == 0 && db_commit(ctx->s.db, &ctx->err) < 0)
		rc = -1;
	db_rollback(ctx->s.db);
	if (rc == 0)
		fprintf(ctx->out, "%s\n", cancel ? "held, cancel requested" : "held");
	return rc;
}

/* A burst runner: dequeue and run jobs until the queues are empty (or --max). */
static int q_run(struct ctx *ctx, struct args *a)
{
	struct queue q;
	const char **names;
	int n = args_all(a, "queue", &names), rc = -1;
	static const char *const def[] = { "default" };
	long long max = args_int(a, "max", 0), done = 0;

	if (open_queue(ctx, &q) < 0)
		return -1;
	while (max == 0 || done < max) {
		struct queue_job job = { 0 };
		int got = queue_dequeue(&q, n ? names : def, n ? (size_t)n : 1,
					args_int(a, "lease", 30000), args_int(a, "wait", 0),
					args_get(a, "worker"), &job, &ctx->err);
		if (got < 0)
			goto out;
		if (got == QUEUE_EMPTY)
			break;
		if (jobtype_execute(&q, args_has(a, "no-db") ? NULL : ctx->s.db, NULL, &job,
				    args_int(a, "lease", 0), NULL, &ctx->err) < 0) {
			queue_job_release(&job);
			goto out;
		}
		if (!args_has(a, "quiet-jobs"))
			print_snapshot(ctx, "ran", &job, false);
		queue_job_release(&job);
		done++;
	}
	ctx_msg(ctx, "ran %lld job%s", done, done == 1 ? "" : "s");
	rc = 0;
out:
	queue_release(&q);
	return rc;
}

/* The queue benchmark's driver (tests/bench/queue.sh): enqueue N noop jobs
 * to a queue in pipelined batches (with their jobs rows, unless --no-db),
 * wait until workers have run them all, and print throughput and
 * enqueue-to-start latency from the jobs' Redis timestamps as JSON.
 *
 * A figure is only printed for a run that did what it claims: every job is
 * checked on its own (its Redis state succeeded, its three timestamps set and
 * in order, and with --db its row succeeded), not through the queue's
 * counters, which the wait uses only to know when to look. A run with any
 * job that did not check out still prints its JSON (with the counts and the
 * first bad job) and then fails. */
static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}


static int q_bench(struct ctx *ctx, struct args *a)
{
	struct queue q;
	const char *queue = args_get(a, "queue") ? args_get(a, "queue") : "bench";
	long long n = strtoll(a->argv[0], NULL, 10);
	long long batch = args_int(a, "batch", 1000), rate = args_int(a, "rate", 0);
	long long wait = args_int(a, "wait", 600000);
	bool with_db = !args_has(a, "no-db");
	char run[32];
	char (*ids)[QUEUE_ID_MAX + 1] = NULL;
	struct queue_spec *specs = NULL;
	int *rcs = NULL;
	long long *lat = NULL;
	struct queue_stats st;
	int rc = -1;

	if (n < 1 || n > 10000000)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "__queue bench N: N must be 1-10000000");
	if (batch < 1)
		batch = 1000;
	if (queue_check_name("queue", queue, &ctx->err) < 0 || open_queue(ctx, &q) < 0)
		return -1;
	char *by = job_created_by();
	snprintf(run, sizeof(run), "b%lld", clock_wall_ms());
	ids = xcalloc((size_t)n, sizeof(*ids));
	specs = xcalloc((size_t)batch, sizeof(*specs));
	rcs = xcalloc((size_t)batch, sizeof(*rcs));
	for (long long i = 0; i < n; i++)
		snprintf(ids[i], sizeof(ids[i]), "%s-%lld", run, i);
	if (queue_stats(&q, queue, &st, &ctx->err) < 0)
		goto out;
	long long done_before = st.succeeded;

	long long t0 = clock_wall_ms();
	for (long long off = 0; off < n; off += batch) {
		long long k = n - off < batch ? n - off : batch;
		if (with_db) {
			struct strbuf arr = STRBUF_INIT;
			strbuf_addch(&arr, '{');
			for (long long i = 0; i < k; i++)
				strbuf_addf(&arr, "%s%s", i ? "," : "", ids[off + i]);
			strbuf_addch(&arr, '}');
			const char *params[3] = { arr.buf, queue, by };
			int r = db_cmd(ctx->s.db, &ctx->err, "INSERT INTO jobs (id, type, queue, state, payload,"
				       " max_attempts, created_by, version) SELECT id, 'noop', $2, 'queued',"
				       " '{}', 3, $3, 1 FROM unnest($1::text[]) AS id", 3, params);
			strbuf_release(&arr);
			if (r < 0)
				goto out;
		}
		for (long long i = 0; i < k; i++) {
			memset(&specs[i], 0, sizeof(specs[i]));
			specs[i].id = ids[off + i];
			specs[i].type = "noop";
			specs[i].queue = queue;
			specs[i].payload = "{}";
			specs[i].max_attempts = 3;
			specs[i].backoff_ms = 100;
			specs[i].backoff_max_ms = 2000;
		}
		if (queue_enqueue_many(&q, specs, (size_t)k, rcs, NULL, NULL, &ctx->err) < 0)
			goto out;
		if (rate > 0) {
			long long due = t0 + (off + k) * 1000 / rate;
			long long left = due - clock_wall_ms();
			if (left > 0) {
				struct timespec d = { (time_t)(left / 1000), (long)(left % 1000) * 1000000 };
				nanosleep(&d, NULL);
			}
		}
	}
	long long t_enq = clock_wall_ms();
	for (;;) {
		if (queue_stats(&q, queue, &st, &ctx->err) < 0)
			goto out;
		if (st.succeeded - done_before >= n)
			break;
		if (clock_wall_ms() - t0 > wait) {
			acme_err_set(&ctx->err, ACME_E_TEMPFAIL, "__queue bench: %lld of %lld jobs done "
				     "after %lld ms; are workers running on queue %s?",
				     st.succeeded - done_before, n, wait, queue);
			goto out;
		}
		struct timespec d = { 0, 5 * 1000000 };
		nanosleep(&d, NULL);
	}

	/* each job on its own: state and timings from its Redis hash */
	lat = xcalloc((size_t)n, sizeof(*lat));
	long long first_enq = 0, last_fin = 0, not_succeeded = 0, bad_times = 0;
	char first_bad[QUEUE_ID_MAX + 80] = "";
	char *base = xasprintf("%s{%s}:job:", q.prefix, queue);
	for (long long off = 0; off < n; off += batch) {
		long long k = n - off < batch ? n - off : batch;
		for (long long i = 0; i < k; i++)
			redisAppendCommand(q.rc, "HMGET %s%s state enqueued_ms started_ms finished_ms",
					   base, ids[off + i]);
		for (long long i = 0; i < k; i++) {
			redisReply *r = NULL;
			if (redisGetReply(q.rc, (void **)&r) != REDIS_OK || !r) {
				free(base);
				acme_err_set(&ctx->err, ACME_E_UNAVAILABLE, "redis: %s", q.rc->errstr);
				goto out;
			}
			const char *state = NULL;
			long long e = 0, s0 = 0, f = 0;
			if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
				state = r->element[0]->str;
				e = r->element[1]->str ? strtoll(r->element[1]->str, NULL, 10) : 0;
				s0 = r->element[2]->str ? strtoll(r->element[2]->str, NULL, 10) : 0;
				f = r->element[3]->str ? strtoll(r->element[3]->str, NULL, 10) : 0;
			}
			if (!state || strcmp(state, "succeeded") != 0) {
				if (!not_succeeded++ && !first_bad[0])
					snprintf(first_bad, sizeof(first_bad), "job %s is %s", ids[off + i],
						 state ? state : "gone from redis");
			} else if (e <= 0 || s0 < e || f < s0) {
				if (!bad_times++ && !first_bad[0])
					snprintf(first_bad, sizeof(first_bad), "job %s: enqueued %lld, "
						 "started %lld, finished %lld ms", ids[off + i], e, s0, f);
			}
			freeReplyObject(r);
			lat[off + i] = s0 - e;
			if (e && (!first_enq || e < first_enq))
				first_enq = e;
			if (f > last_fin)
				last_fin = f;
		}
	}
	free(base);
	qsort(lat, (size_t)n, sizeof(*lat), cmp_ll);
	long long rows_done = -1, rows = -1;
	if (with_db) {
		/* the final mirror write follows the ack: give it a moment; the run's
		 * ids are unique, so these count rows, one per job */
		const char *params[1] = { run };
		for (int tries = 0; tries < 200; tries++) {
			PGresult *res = db_exec(ctx->s.db, &ctx->err, "SELECT count(*),"
						" count(*) FILTER (WHERE state = 'succeeded') FROM jobs"
						" WHERE id LIKE $1 || '-%'", 1, params);
			if (!res)
				goto out;
			rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			rows_done = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
			PQclear(res);
			if (rows_done >= n)
				break;
			struct timespec d = { 0, 10 * 1000000 };
			nanosleep(&d, NULL);
		}
		if (rows_done != n && !first_bad[0]) {
			PGresult *res = db_exec(ctx->s.db, &ctx->err, "SELECT id, state FROM jobs WHERE"
						" id LIKE $1 || '-%' AND state <> 'succeeded' ORDER BY id"
						" LIMIT 1", 1, params);
			if (!res)
				goto out;
			if (PQntuples(res) == 1)
				snprintf(first_bad, sizeof(first_bad), "the row of job %s is %s",
					 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
			else
				snprintf(first_bad, sizeof(first_bad), "%lld of %lld jobs rows exist",
					 rows, n);
			PQclear(res);
		}
	}
	bool ok = not_succeeded == 0 && bad_times == 0 && (!with_db || (rows == n && rows_done == n));
	double total_s = (double)(last_fin - first_enq) / 1000.0;
	json_t *o = json_pack("{s:s, s:s, s:I, s:b, s:f, s:f, s:f, s:f, s:{s:I, s:I, s:I, s:I, s:I},"
			      " s:I, s:I, s:b, s:I, s:I}",
		"run", run, "queue", queue, "jobs", (json_int_t)n, "mirror", with_db,
		"enqueue_s", (double)(t_enq - t0) / 1000.0,
		"enqueue_per_s", (double)n * 1000.0 / (double)(t_enq - t0 > 0 ? t_enq - t0 : 1),
		"end_to_end_s", total_s,
		"jobs_per_s", total_s > 0 ? (double)n / total_s : 0.0,
		"latency_ms", "p50", (json_int_t)lat[n / 2], "p90", (json_int_t)lat[n * 9 / 10],
		"p99", (json_int_t)lat[n * 99 / 100], "max", (json_int_t)lat[n - 1],
		"min", (json_int_t)lat[0],
		"rows", (json_int_t)rows, "rows_succeeded", (json_int_t)rows_done,
		"verified", ok, "not_succeeded", (json_int_t)not_succeeded,
		"bad_timestamps", (json_int_t)bad_times);
	if (first_bad[0])
		json_object_set_new(o, "first_bad", json_string(first_bad));
	output_json(ctx->out, o, false);
	json_decref(o);
	if (!ok) {
		acme_err_set(&ctx->err, ACME_E_FAILURE, "__queue bench: the run did not check out: "
			     "%lld of %lld jobs not succeeded, %lld with timestamps out of order%s; "
			     "first: %s", not_succeeded, n, bad_times,
			     with_db ? (rows_done == n ? "" : ", jobs rows not all succeeded") : "",
			     first_bad[0] ? first_bad : "?");
		goto out;
	}
	rc = 0;
out:
	free(by);
	free(ids);
	free(specs);
	free(rcs);
	free(lat);
	queue_release(&q);
	return rc;
}


/* ---- the verbs ---- */

#define NEEDS_DB    0x1
#define NEEDS_REDIS 0x2

static const struct verb {
	const char *name;
	int (*fn)(struct ctx *, struct args *);
	unsigned needs;
	int min_args, max_args;
	const char *usage;
} verbs[] = {
	{ "dequeue", q_dequeue, NEEDS_DB | NEEDS_REDIS, 0, 0,
	  "[--queue Q]... [--lease DUR] [--wait DUR] [--worker NAME]" },
	{ "heartbeat", q_heartbeat, NEEDS_DB | NEEDS_REDIS, 2, 2, "ID TOKEN [--lease DUR]" },
	{ "progress", q_progress, NEEDS_DB | NEEDS_REDIS, 3, 3, "ID TOKEN JSON" },
	{ "ack", q_ack, NEEDS_DB | NEEDS_REDIS, 2, 2, "ID TOKEN [--result JSON]" },
	{ "fail", q_fail, NEEDS_DB | NEEDS_REDIS, 2, 2, "ID TOKEN [--error TEXT] [--permanent]" },
	{ "release", q_release, NEEDS_DB | NEEDS_REDIS, 2, 2, "ID TOKEN" },
	{ "reap", q_reap, NEEDS_DB | NEEDS_REDIS, 0, 0, "[--queue Q]" },
	{ "promote", q_promote, NEEDS_DB | NEEDS_REDIS, 0, 0, "[--queue Q]" },
	{ "get", q_get, NEEDS_REDIS, 1, 1, "ID [--queue Q]" },
	{ "enqueue-redis", q_enqueue_redis, NEEDS_REDIS, 2, 2, "TYPE JSON [--queue Q]" },
	{ "snapcheck", q_snapcheck, NEEDS_REDIS, 0, 0, "[--queue Q]" },
	{ "check-lease", q_check_lease, NEEDS_DB, 2, 2, "ID TOKEN" },
	{ "bench", q_bench, NEEDS_DB | NEEDS_REDIS, 1, 1,
	  "N [--queue Q] [--batch N] [--rate N] [--no-db] [--wait DUR]" },
	{ "run", q_run, NEEDS_DB | NEEDS_REDIS, 0, 0,
	  "[--queue Q]... [--max N] [--lease DUR] [--no-db] [--quiet-jobs]" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  acme-queue %s %s\n", verbs[i].name, verbs[i].usage);
}

int main(int argc, char **argv)
{
	struct ctx ctx;
	struct args a;
	const struct verb *v = NULL;
	int status;

	memset(&ctx, 0, sizeof(ctx));
	memset(&a, 0, sizeof(a));
	session_init(&ctx.s);
	ctx.out = stdout;
	for (size_t i = 0; argc > 1 && i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			v = &verbs[i];
	if (!v) {
		usage(stderr);
		return 2;
	}
	if (args_parse(&a, argc - 2, argv + 2, &ctx.err) < 0)
		goto fail;
	if (a.argc < v->min_args || a.argc > v->max_args) {
		acme_err_set(&ctx.err, ACME_E_USAGE, "usage: acme-queue %s %s", v->name, v->usage);
		goto fail;
	}
	if (session_load(&ctx.s, &(struct config_flags){ 0 }, true, &ctx.err) < 0 ||
	    failpoint_setup(getenv("ACME_FAILPOINTS"), config_is_production(&ctx.s.cfg),
			    &ctx.err) < 0)
		goto fail;
	struct log_config lc = { LOG_INFO, LOG_TEXT, false, "acmectl", NULL, NULL, NULL };
	log_level_parse(config_get(&ctx.s.cfg, CFG_LOG_LEVEL), &lc.level);
	log_format_parse(config_get(&ctx.s.cfg, CFG_LOG_FORMAT), &lc.format);
	log_setup(&lc);
	if ((v->needs & NEEDS_DB) && !session_db(&ctx.s, &ctx.err))
		goto fail;
	if ((v->needs & NEEDS_REDIS) && !session_redis(&ctx.s, &ctx.err))
		goto fail;
	if (v->fn(&ctx, &a) == 0) {
		status = 0;
		goto out;
	}
fail:
	fprintf(stderr, "acme-queue: %s\n", ctx.err.msg[0] ? ctx.err.msg :
		acme_code_description(ctx.err.code));
	status = acme_exit_status(ctx.err.code);
	if (status == 0)
		status = 1;
out:
	args_release(&a);
	session_release(&ctx.s);
	fflush(stdout);
	return status;
}
