/* jobs.c — `acmectl jobs enqueue|list|show|watch|cancel|retry|purge|stats|pause|resume|
 * workers|schedules`:
 * the job queue for people and scripts, on core/queue (Redis) and core/job
 * (the PostgreSQL history).
 *
 * The queue's single-step driver for tests and benches is not here: it is
 * tests/helpers/acme-queue.c, built by `make helpers` and never shipped.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "cmd/wait.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/jobwait.h"
#include "core/jobwatch.h"
#include "core/workers.h"
#include "core/output.h"
#include "core/queue.h"
#include "core/rds.h"
#include "core/scheduler.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#define FINAL_STATE_CHOICES "succeeded|failed|dead|cancelled"
#define STATE_CHOICES "scheduled|queued|running|retrying|" FINAL_STATE_CHOICES

/* ---- shared helpers ---------------------------------------------------------------- */

static int open_queue(struct ctx *ctx, struct queue *q)
{
	redisContext *rc = ctx_redis(ctx);
	if (!rc)
		return -1;
	return queue_init(q, rc, config_get(&ctx->s.cfg, CFG_REDIS_PREFIX), &ctx->err);
}

/* Only known queues may be named (issue 11): `jobs pause nosuchqueue` must not
 * say "paused". Known: every job type's default queue and every queue Redis
 * has seen (core/jobtypes.h). quiet_if_down: when Redis cannot be asked, do
 * not fail (jobs list reads PostgreSQL only). */
static int known_queue(struct ctx *ctx, const char *queue, bool quiet_if_down)
{
	struct queue q;
	if (queue_check_name("queue", queue, &ctx->err) < 0)
		return -1;
	if (open_queue(ctx, &q) < 0) {
		if (quiet_if_down && ctx->err.code == ACME_E_UNAVAILABLE) {
			memset(&ctx->err, 0, sizeof(ctx->err));
			return 0;
		}
		return -1;
	}
	int rc = jobtype_check_queue(&q, queue, &ctx->err);
	queue_release(&q);
	return rc;
}

/* Print a JSON object: as JSON for -o json/ndjson, else as field/value rows. */
static void print_object(struct ctx *ctx, json_t *obj)
{
	enum out_format fmt = ctx_format(ctx);
	if (fmt == OUT_JSON || fmt == OUT_NDJSON) {
		output_json(ctx->out, obj, fmt == OUT_JSON);
		return;
	}
	static const struct out_col cols[] = { { "field", COL_STR }, { "value", COL_STR } };
	struct output *o = ctx_output_new(ctx, cols, 2);
	if (!o) {       /* the job is there: show it whole rather than nothing */
		ctx_msg(ctx, "%s", ctx->err.msg);
		o = output_new(ctx->out, fmt, cols, 2);
	}
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		char *text = json_is_string(v) ? xstrdup(json_string_value(v)) :
			     json_is_null(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (json_is_object(v) && strcmp(key, "live") == 0) {
			/* one level of nesting: live.state etc. */
			const char *k2;
			json_t *v2;
			free(text);
			json_object_foreach(v, k2, v2) {
				char name[64];
				char *t2 = json_is_string(v2) ? xstrdup(json_string_value(v2)) :
					   json_is_null(v2) ? NULL :
					   json_dumps(v2, JSON_COMPACT | JSON_ENCODE_ANY);
				snprintf(name, sizeof(name), "live.%s", k2);
				const char *row[2] = { name, t2 };
				output_row(o, row);
				free(t2);
			}
			continue;
		}
		const char *row[2] = { key, text };
		output_row(o, row);
		free(text);
	}
	output_end(o, NULL);
}

/* ---- enqueue -------------------------------------------------------------------------- */

/* Bulk enqueue: --count N copies of one spec, or one job per line of an
 * NDJSON file, in batches of ENQUEUE_BATCH (one INSERT and one pipelined
 * Redis round trip each). The file is read twice: every line is checked
 * before the first job is made, so a bad line enqueues nothing; input that
 * cannot be read again (a pipe) is copied to a private temporary file. */
#define ENQUEUE_BATCH 1000
#define NDJSON_LINE_MAX (1024 * 1024)

struct bulk {
	struct ctx *ctx;
	struct queue *q;
	enum out_format fmt;
	char *by;
	struct queue_spec specs[ENQUEUE_BATCH];
	json_t *lines[ENQUEUE_BATCH];         /* own the strings of specs (NDJSON) */
	char *payloads[ENQUEUE_BATCH];        /* their payloads, as text */
	char ids[ENQUEUE_BATCH][QUEUE_ULID_LEN + 1];
	bool existed[ENQUEUE_BATCH];
	size_t n;
	long long made, there;
};

static void bulk_clear(struct bulk *b)
{
	for (size_t i = 0; i < b->n; i++) {
		json_decref(b->lines[i]);
		free(b->payloads[i]);
		b->lines[i] = NULL;
		b->payloads[i] = NULL;
	}
	b->n = 0;
}

static int bulk_flush(struct bulk *b)
{
	int rc = 0;
	if (b->n == 0)
		return 0;
	int got = job_enqueue_many(b->ctx->s.db, b->q, b->specs, b->n, b->by, b->ids, b->existed,
				   &b->ctx->err);
	if (got < 0) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < b->n; i++) {
		b->existed[i] ? b->there++ : b->made++;
		if (b->fmt == OUT_NDJSON) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "id", b->ids[i], "type",
					      b->specs[i].type, "queue", b->specs[i].queue, "created",
					      !b->existed[i]);
			output_json(b->ctx->out, o, false);
			json_decref(o);
		} else if (b->fmt != OUT_JSON) {
			fprintf(b->ctx->out, "%s\n", b->ids[i]);
		}
	}
	if (fflush(b->ctx->out) != 0) {
		acme_err_set(&b->ctx->err, ACME_E_FAILURE, "writing the ids: %s", strerror(errno));
		rc = -1;
	}
out:
	bulk_clear(b);
	return rc;
}

/* One NDJSON line into spec (strings borrowed from *obj, which the caller
 * frees): {"type", "payload", "queue", "delay", "max_attempts", "id"}, every
 * key optional but type when no TYPE was given. */
static int ndjson_spec(const char *line, const struct queue_spec *tmpl, json_t **obj,
		       struct queue_spec *spec, struct acme_err *err)
{
	json_error_t je;
	*obj = json_loads(line, JSON_REJECT_DUPLICATES, &je);
	if (!*obj)
		return acme_err_set(err, ACME_E_DATA, "not JSON: %s (column %d)", je.text, je.column);
	if (!json_is_object(*obj))
		return acme_err_set(err, ACME_E_DATA, "a job is a JSON object, not %s",
				    json_is_array(*obj) ? "an array" : "a scalar");
	*spec = *tmpl;
	const char *key;
	json_t *v;
	json_object_foreach(*obj, key, v) {
		if (strcmp(key, "type") == 0 || strcmp(key, "queue") == 0 || strcmp(key, "id") == 0 ||
		    strcmp(key, "delay") == 0) {
			if (!json_is_string(v))
				return acme_err_set(err, ACME_E_DATA, "field %s: a string, please", key);
			const char *sv = json_string_value(v);
			if (key[0] == 't')
				spec->type = sv;
			else if (key[0] == 'q')
				spec->queue = sv;
			else if (key[0] == 'i')
				spec->id = sv;
			else if (parse_duration_ms(sv, &spec->delay_ms) < 0 || spec->delay_ms < 0)
				return acme_err_set(err, ACME_E_DATA, "field delay: \"%s\" is not a "
						    "duration (as 30s, 5m, 2h)", sv);
		} else if (strcmp(key, "payload") == 0) {
			if (!json_is_object(v))
				return acme_err_set(err, ACME_E_DATA, "field payload: a JSON object, "
						    "please");
		} else if (strcmp(key, "max_attempts") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > 1000)
				return acme_err_set(err, ACME_E_DATA, "field max_attempts: an integer "
						    "from 1 to 1000, please");
			spec->max_attempts = (int)json_integer_value(v);
		} else {
			return acme_err_set(err, ACME_E_DATA, "unknown field \"%s\" (known: type, "
					    "payload, queue, delay, max_attempts, id)", key);
		}
	}
	if (!spec->type)
		return acme_err_set(err, ACME_E_DATA, "field type: missing, and no TYPE was given");
	spec->payload = NULL;
	return (jobtype_fill_spec(spec, err) < 0 || queue_check_spec(spec, err) < 0) ? -1 : 0;
}

/* Read the next line of f into *buf; 1 a line, 0 the end, -1 an error. */
static int read_line(FILE *f, char **buf, size_t *cap, const char *what, long long lineno,
		     struct acme_err *err)
{
	errno = 0;
	ssize_t len = getline(buf, cap, f);
	if (len < 0) {
		if (ferror(f))
			return acme_err_set(err, ACME_E_FAILURE, "%s: %s", what, strerror(errno));
		return 0;
	}
	if (len > NDJSON_LINE_MAX)
		return acme_err_set(err, ACME_E_DATA, "%s:%lld: a line over 1 MiB", what, lineno);
	while (len > 0 && ((*buf)[len - 1] == '\n' || (*buf)[len - 1] == '\r'))
		(*buf)[--len] = '\0';
	return 1;
}

static bool blank(const char *s)
{
	return s[strspn(s, " \t")] == '\0';
}

static int enqueue_ndjson(struct bulk *b, const struct queue_spec *tmpl, const char *path)
{
	struct acme_err *err = &b->ctx->err;
	const char *what = strcmp(path, "-") == 0 ? "stdin" : path;
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	FILE *spool = NULL, *f = in;
	char *buf = NULL;
	size_t cap = 0;
	long long lineno = 0;
	int rc = -1, got;

	if (!in)
		return acme_err_set(err, errno == ENOENT ? ACME_E_NOT_FOUND : ACME_E_FAILURE,
				    "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(in), &st) < 0 || !S_ISREG(st.st_mode) || ftello(in) < 0) {
		spool = tmpfile();   /* O_TMPFILE: unlinked, mode 0600 */
		if (!spool) {
			acme_err_set(err, ACME_E_FAILURE, "a temporary file for %s: %s", what,
				     strerror(errno));
			goto out;
		}
	}
	off_t start = spool ? 0 : ftello(in);
	/* pass 1: every line checked (and copied when it cannot be read twice) */
	while ((got = read_line(in, &buf, &cap, what, lineno + 1, err)) > 0) {
		lineno++;
		if (spool && fprintf(spool, "%s\n", buf) < 0) {
			acme_err_set(err, ACME_E_FAILURE, "copying %s: %s", what, strerror(errno));
			goto out;
		}
		if (blank(buf))
			continue;
		json_t *obj = NULL;
		struct queue_spec spec;
		int bad = ndjson_spec(buf, tmpl, &obj, &spec, err);
		json_decref(obj);
		if (bad < 0) {
			char msg[ACME_ERR_MSG_MAX];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			acme_err_set(err, ACME_E_DATA, "%s:%lld: %s; nothing was enqueued", what,
				     lineno, msg);
			goto out;
		}
	}
	if (got < 0)
		goto out;
	if (spool)
		f = spool;
	if (fflush(f) != 0 || fseeko(f, start, SEEK_SET) < 0) {
		acme_err_set(err, ACME_E_FAILURE, "reading %s again: %s", what, strerror(errno));
		goto out;
	}
	/* pass 2: the same lines, in batches */
	for (long long l = 0; l < lineno; l++) {
		if ((got = read_line(f, &buf, &cap, what, l + 1, err)) <= 0) {
			if (got == 0)
				acme_err_set(err, ACME_E_FAILURE, "%s changed while it was read", what);
			goto out;
		}
		if (blank(buf))
			continue;
		struct queue_spec *spec = &b->specs[b->n];
		if (ndjson_spec(buf, tmpl, &b->lines[b->n], spec, err) < 0) {
			json_decref(b->lines[b->n]);
			b->lines[b->n] = NULL;
			acme_err_prefix(err, "%s:%lld changed while it was read", what, l + 1);
			goto out;
		}
		json_t *pl = json_object_get(b->lines[b->n], "payload");
		if (pl)
			spec->payload = b->payloads[b->n] = json_dumps(pl, JSON_COMPACT);
		else
			spec->payload = tmpl->payload;
		if (++b->n == ENQUEUE_BATCH && bulk_flush(b) < 0)
			goto out;
	}
	if (bulk_flush(b) < 0)
		goto out;
	rc = 0;
out:
	bulk_clear(b);
	free(buf);
	if (spool)
		fclose(spool);
	if (in != stdin)
		fclose(in);
	return rc;
}

static int enqueue_bulk(struct ctx *ctx, struct queue *q, const struct queue_spec *tmpl,
			long long count, const char *ndjson)
{
	struct bulk *b = xcalloc(1, sizeof(*b));
	b->ctx = ctx;
	b->q = q;
	b->fmt = ctx->fmt_given ? ctx_format(ctx) : OUT_TABLE;
	b->by = job_created_by();
	int rc = 0;

	if (ndjson) {
		rc = enqueue_ndjson(b, tmpl, ndjson);
	} else {
		for (long long i = 0; i < count && rc == 0; i++) {
			b->specs[b->n++] = *tmpl;
			if (b->n == ENQUEUE_BATCH || i + 1 == count)
				rc = bulk_flush(b);
		}
	}
	if (rc < 0 && b->made + b->there > 0)
		acme_err_prefix(&ctx->err, "%lld jobs were enqueued before this (their ids are "
				"printed)", b->made + b->there);
	if (rc == 0) {
		if (b->fmt == OUT_JSON) {
			json_t *o = json_pack("{s:I, s:I}", "enqueued", (json_int_t)b->made, "existed",
					      (json_int_t)b->there);
			output_json(ctx->out, o, true);
			json_decref(o);
		}
		if (b->there > 0)
			ctx_msg(ctx, "enqueued %lld jobs; %lld ids existed already and were not "
				"enqueued again", b->made, b->there);
		else
			ctx_msg(ctx, "enqueued %lld jobs", b->made);
	}
	free(b->by);
	free(b);
	return rc;
}

static int jobs_enqueue(struct ctx *ctx, struct args *a)
{
	struct queue q;
	struct queue_job job = { 0 };
	bool existed = false;
	int rc = -1;
	const char *ndjson = args_get(a, "from-ndjson");
	long long count = args_int(a, "count", 1);

	if (!ndjson && a->argc < 1)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "jobs enqueue: TYPE is missing (or "
				    "give --from-ndjson FILE)");
	if (ndjson && args_has(a, "count"))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "jobs enqueue: --count and "
				    "--from-ndjson do not go together");
	if ((ndjson || count > 1) && args_has(a, "id"))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "jobs enqueue: --id names one job; "
				    "with %s give each its \"id\" in the file or none",
				    ndjson ? "--from-ndjson" : "--count");

	struct queue_spec spec = { 0 };
	spec.type = a->argc > 0 ? a->argv[0] : NULL;
	spec.payload = args_get(a, "payload");
	spec.queue = args_get(a, "queue");
	spec.max_attempts = (int)args_int(a, "max-attempts", 0);
	spec.delay_ms = args_int(a, "delay", 0);
	struct queue_spec defaults = spec;   /* for the lines of --from-ndjson, unfilled */
	spec.id = args_get(a, "id");
	if (spec.type && (jobtype_fill_spec(&spec, &ctx->err) < 0 ||
			  queue_check_spec(&spec, &ctx->err) < 0)) {
		acme_err_prefix(&ctx->err, "jobs enqueue");
		return -1;
	}
	if (open_queue(ctx, &q) < 0)
		return -1;
	if (ndjson || args_has(a, "count")) {
		rc = enqueue_bulk(ctx, &q, ndjson ? &defaults : &spec, count, ndjson);
		if (rc < 0)
			acme_err_prefix(&ctx->err, "jobs enqueue");
		goto out;
	}
	if (job_enqueue(ctx->s.db, &q, &spec, NULL, &job, &existed, &ctx->err) < 0)
		goto out;
	if (existed)
		ctx_msg(ctx, "job %s exists already (%s); not enqueued again", job.id,
			job.known ? job_state_name(job.state) : "finished");
	enum out_format fmt = ctx_format(ctx);
	if (ctx->fmt_given && (fmt == OUT_JSON || fmt == OUT_NDJSON)) {
		json_t *o = job_snapshot_json(&job, false);
		json_object_set_new(o, "created", json_boolean(!existed));
		output_json(ctx->out, o, fmt == OUT_JSON);
		json_decref(o);
	} else {
		fprintf(ctx->out, "%s\n", job.id);
	}
	rc = 0;
out:
	queue_job_release(&job);
	queue_release(&q);
	return rc;
}

/* ---- list, show ------------------------------------------------------------------------ */

/* Tell people (table and tsv only: machine formats carry their own paging)
 * that a list was cut at --limit, and how to see the rest. */
static void more_rows_hint(struct ctx *ctx, enum out_format fmt, const char *noun, long shown,
			   const char *next)
{
	if (fmt != OUT_TABLE && fmt != OUT_TSV)
		return;
	ctx_msg(ctx, "showing the first %ld %s; there are more: the next page with --after %s "
		"(or raise --limit, or narrow with filters)", shown, noun, next);
}

static int jobs_list(struct ctx *ctx, struct args *a)
{
	static const struct out_col cols[] = {
		{ "id", COL_STR }, { "type", COL_STR }, { "queue", COL_STR }, { "state", COL_STR },
		{ "attempts", COL_INT }, { "max_attempts", COL_INT }, { "created_at", COL_STR },
		{ "finished_at", COL_STR }, { "created_by", COL_STR }, { "error", COL_STR },
	};
	struct job_filter f = { args_get(a, "state"), args_get(a, "type"), args_get(a, "queue"),
				(long)args_int(a, "limit", 50), args_get(a, "after") };
	struct job_row *rows = NULL;
	char *next = NULL;
	enum out_format fmt = ctx_format(ctx);

	if ((f.type && jobtype_check(f.type, &ctx->err) < 0) ||
	    (f.queue && known_queue(ctx, f.queue, true) < 0))
		return -1;
	int n = job_list_page(ctx->s.db, &f, &rows, &next, &ctx->err);
	if (n < 0)
		return -1;
	struct output *o = ctx_output_new(ctx, cols, sizeof(cols) / sizeof(cols[0]));
	if (!o) {
		job_rows_free(rows, (size_t)n);
		free(next);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const struct job_row *r = &rows[i];
		char att[16], max[16], err[84];
		snprintf(att, sizeof(att), "%d", r->attempts);
		snprintf(max, sizeof(max), "%d", r->max_attempts);
		const char *error = r->error;
		if (error && fmt == OUT_TABLE) {
			/* tables are for people: the first line, cut short */
			size_t len = strcspn(error, "\n");
			snprintf(err, sizeof(err), "%.*s%s", (int)(len > 72 ? 72 : len), error,
				 len > 72 || error[len] ? "..." : "");
			error = err;
		}
		const char *row[] = { r->id, r->type, r->queue, job_state_name(r->state), att, max,
				      r->created_at, r->finished_at[0] ? r->finished_at : NULL,
				      r->created_by, error };
		output_row(o, row);
	}
	output_end(o, output_page(f.limit, next));
	job_rows_free(rows, (size_t)n);
	if (next)
		more_rows_hint(ctx, fmt, "jobs", f.limit, next);
	free(next);
	return 0;
}

static int jobs_show(struct ctx *ctx, struct args *a)
{
	struct job_row row = { 0 };
	struct queue_job live = { 0 };
	struct queue q;
	int rc = -1;

	if (queue_check_id(a->argv[0], &ctx->err) < 0 || job_get(ctx->s.db, a->argv[0], &row, &ctx->err) < 0)
		return -1;
	if (open_queue(ctx, &q) < 0)
		goto out_row;
	int got = queue_get(&q, row.queue, row.id, &live, &ctx->err);
	if (got < 0)
		goto out;

	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(row.id));
	json_object_set_new(o, "type", json_string(row.type));
	json_object_set_new(o, "queue", json_string(row.queue));
	json_object_set_new(o, "state", json_string(job_state_name(row.state)));
	json_object_set_new(o, "attempts", json_integer(row.attempts));
	json_object_set_new(o, "max_attempts", json_integer(row.max_attempts));
	json_object_set_new(o, "payload", json_text_value(row.payload));
	json_object_set_new(o, "progress", json_text_value(row.progress));
	json_object_set_new(o, "result", json_text_value(row.result));
	json_object_set_new(o, "error", json_nonempty_or_null(row.error));
	json_object_set_new(o, "created_by", json_nonempty_or_null(row.created_by));
	json_object_set_new(o, "created_at", json_nonempty_or_null(row.created_at));
	json_object_set_new(o, "scheduled_at", json_nonempty_or_null(row.scheduled_at));
	json_object_set_new(o, "started_at", json_nonempty_or_null(row.started_at));
	json_object_set_new(o, "finished_at", json_nonempty_or_null(row.finished_at));
	json_object_set_new(o, "updated_at", json_nonempty_or_null(row.updated_at));
	json_object_set_new(o, "cancel_requested", json_boolean(row.cancel_requested));
	json_object_set_new(o, "version", json_integer(row.version));
	if (got == QUEUE_OK) {
		/* what Redis says right now: fresher than the row while it runs */
		json_t *l = json_object();
		json_object_set_new(l, "state", json_string(job_state_name(live.state)));
		json_object_set_new(l, "attempts", json_integer(live.attempts));
		json_object_set_new(l, "version", json_integer(live.version));
		json_object_set_new(l, "progress", json_text_value(live.progress));
		json_object_set_new(l, "worker", json_nonempty_or_null(live.worker));
		json_object_set_new(l, "lease_deadline", json_time_or_null(live.deadline_ms));
		json_object_set_new(l, "retry_at", live.state == JOB_RETRYING ||
				    live.state == JOB_SCHEDULED ? json_time_or_null(live.scheduled_ms) :
				    json_null());
		json_object_set_new(l, "cancel_requested", json_boolean(live.cancel_requested));
		json_object_set_new(o, "live", l);
	} else {
		json_object_set_new(o, "live", json_null());
	}
	print_object(ctx, o);
	json_decref(o);
	rc = 0;
out:
	queue_job_release(&live);
	queue_release(&q);
out_row:
	job_row_release(&row);
	return rc;
}

/* ---- cancel, retry ------------------------------------------------------------------- */

/* cancel and retry act on one job the user named: its id is checked,
 * --dry-run says what would happen to it, and production asks
 * (core/confirm.h, CONFIRM_NAMED); then the queue is opened in q. 1 after a
 * dry run, 0 to go on (release q), -1 refused or failed. */
static int job_guard(struct ctx *ctx, struct args *a, const char *verb, const char *nothing,
		     struct queue *q)
{
	struct job_row row = { 0 };
	char what[400];
	if (queue_check_id(a->argv[0], &ctx->err) < 0)
		return -1;
	if (args_has(a, "dry-run")) {
		if (job_get(ctx->s.db, a->argv[0], &row, &ctx->err) < 0)
			return -1;
		snprintf(what, sizeof(what), "%s job %s (%s, %s)", verb, row.id, row.type,
			 job_state_name(row.state));
		job_row_release(&row);
		ctx_dry_run(ctx, a, what);
		return 1;
	}
	snprintf(what, sizeof(what), "%s job %s", verb, a->argv[0]);
	struct confirm_text ct = { what, NULL, NULL, nothing };
	if (ctx_confirm_action(ctx, a, CONFIRM_NAMED, 1, &ct) < 0)
		return -1;
	return open_queue(ctx, q) < 0 ? -1 : 0;
}

static int jobs_cancel(struct ctx *ctx, struct args *a)
{
	struct queue q;
	struct queue_job job = { 0 };
	const char *id = a->argv[0];
	int status = -1;

	int g = job_guard(ctx, a, "cancel", "nothing was cancelled", &q);
	if (g != 0)
		return g < 0 ? -1 : 0;
	struct audit_actor who = { config_get(&ctx->s.cfg, CFG_ENV), "jobs cancel" };
	int rc = job_cancel(ctx->s.db, &q, id, &who, &job, &ctx->err);
	if (rc < 0)
		goto out;
	status = 0;
	if (rc == QUEUE_OK) {
		ctx_msg(ctx, "job %s cancelled", id);
	} else if (rc == QUEUE_REQUESTED) {
		ctx_msg(ctx, "job %s is running; it stops at its next heartbeat (cancel requested)", id);
	} else if (job.known && job.state == JOB_CANCELLED) {
		ctx_msg(ctx, "job %s was cancelled already", id);
	} else {
		status = acme_err_set(&ctx->err, ACME_E_REFUSED, "job %s already %s; nothing to cancel",
				      id, job.known ? job_state_name(job.state) : "finished");
	}
	if (status == 0 && ctx->fmt_given && (ctx->fmt == OUT_JSON || ctx->fmt == OUT_NDJSON)) {
		json_t *o = json_pack("{s:s, s:s}", "id", id, "outcome",
				      rc == QUEUE_OK ? "cancelled" : rc == QUEUE_REQUESTED ?
				      "requested" : "already_cancelled");
		output_json(ctx->out, o, ctx->fmt == OUT_JSON);
		json_decref(o);
	}
out:
	queue_job_release(&job);
	queue_release(&q);
	return status;
}

static int jobs_retry(struct ctx *ctx, struct args *a)
{
	struct queue q;
	struct queue_job job = { 0 };
	const char *id = a->argv[0];
	int rc = -1;

	int g = job_guard(ctx, a, "retry", "nothing was queued", &q);
	if (g != 0)
		return g < 0 ? -1 : 0;
	struct audit_actor who = { config_get(&ctx->s.cfg, CFG_ENV), "jobs retry" };
	if (job_retry(ctx->s.db, &q, id, &who, &job, &ctx->err) < 0)
		goto out;
	ctx_msg(ctx, "job %s queued again on %s", id, job.queue);
	if (ctx->fmt_given && (ctx->fmt == OUT_JSON || ctx->fmt == OUT_NDJSON)) {
		json_t *o = job_snapshot_json(&job, false);
		output_json(ctx->out, o, ctx->fmt == OUT_JSON);
		json_decref(o);
	}
	rc = 0;
out:
	queue_job_release(&job);
	queue_release(&q);
	return rc;
}

/* ---- purge ------------------------------------------------------------------------------- */

static int jobs_purge(struct ctx *ctx, struct args *a)
{
	struct queue q;
	const char *queue = args_get(a, "queue");
	const char *older = args_get(a, "older-than");
	char what[256];
	int rc = -1;

	if (!queue == !older)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "jobs purge: give --older-than DUR "
				    "(finished jobs) or --queue Q (waiting jobs of a queue)");
	if (queue && args_get(a, "state"))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "jobs purge: --state goes with "
				    "--older-than, not --queue");
	if (queue && known_queue(ctx, queue, false) < 0)
		return -1;
	if (queue)
		snprintf(what, sizeof(what), "cancel every waiting job of queue %s", queue);
	else
		snprintf(what, sizeof(what), "delete %s jobs that finished more than %s ago",
			 args_get(a, "state") ? args_get(a, "state") : "all finished", older);
	if (open_queue(ctx, &q) < 0)
		return -1;
	struct audit_actor who = { config_get(&ctx->s.cfg, CFG_ENV), "jobs purge" };
	/* how many would go: typed back on a terminal, printed by --dry-run */
	long long count = 0;
	struct queue_stats st;
	if (queue ? queue_stats(&q, queue, &st, &ctx->err) < 0 :
	    job_purge_count(ctx->s.db, args_int(a, "older-than", 0), args_get(a, "state"), &count,
			    &ctx->err) < 0)
		goto out;
	if (queue)
		count = st.ready + st.scheduled;
	char *whatn = xasprintf("%s (%lld job%s)", what, count, count == 1 ? "" : "s");
	struct confirm_text ct = { whatn, NULL, "jobs", "nothing was purged" };
	bool dry = ctx_dry_run(ctx, a, whatn);
	int confirmed = dry ? 0 : ctx_confirm_action(ctx, a, CONFIRM_BULK, count, &ct);
	free(whatn);
	if (dry)
		rc = 0;
	if (dry || confirmed < 0)
		goto out;
	if (queue) {
		size_t n = 0;
		if (job_purge_queue(ctx->s.db, &q, queue, &who, &n, &ctx->err) < 0)
			goto out;
		ctx_msg(ctx, "%zu waiting job%s of queue %s cancelled", n, n == 1 ? "" : "s", queue);
		fprintf(ctx->out, "%zu\n", n);
	} else {
		long long n = 0;
		if (job_purge(ctx->s.db, &q, args_int(a, "older-than", 0), args_get(a, "state"), &who,
			      &n, &ctx->err) < 0)
			goto out;
		ctx_msg(ctx, "%lld finished job%s deleted", n, n == 1 ? "" : "s");
		fprintf(ctx->out, "%lld\n", n);
	}
	rc = 0;
out:
	queue_release(&q);
	return rc;
}

/* ---- stats, pause, resume ---------------------------------------------------------------- */

static int jobs_stats(struct ctx *ctx, struct args *a)
{
	static const struct out_col cols[] = {
		{ "queue", COL_STR }, { "paused", COL_BOOL }, { "ready", COL_INT },
		{ "scheduled", COL_INT }, { "running", COL_INT }, { "dead", COL_INT },
		{ "oldest_ready_s", COL_NUM }, { "enqueued", COL_INT }, { "succeeded", COL_INT },
		{ "retried", COL_INT }, { "failed", COL_INT }, { "cancelled", COL_INT },
	};
	struct queue q;
	char **names = NULL;
	int n = 0, rc = -1;
	const char *only = args_get(a, "queue");

	if (only && known_queue(ctx, only, false) < 0)
		return -1;
	if (open_queue(ctx, &q) < 0)
		return -1;
	if (only) {
		names = xcalloc(2, sizeof(char *));
		names[0] = xstrdup(only);
		n = 1;
	} else if ((n = queue_names(&q, &names, &ctx->err)) < 0) {
		goto out;
	}
	struct output *o = ctx_output_new(ctx, cols, sizeof(cols) / sizeof(cols[0]));
	if (!o)
		goto out;
	for (int i = 0; i < n; i++) {
		struct queue_stats st;
		if (queue_stats(&q, names[i], &st, &ctx->err) < 0) {
			output_end(o, NULL);
			goto out;
		}
		char v[11][32];
		snprintf(v[0], 32, "%lld", st.ready);
		snprintf(v[1], 32, "%lld", st.scheduled);
		snprintf(v[2], 32, "%lld", st.running);
		snprintf(v[3], 32, "%lld", st.dead);
		snprintf(v[4], 32, "%.3f", st.oldest_ready_ms > 0 ?
			 (double)(st.now_ms - st.oldest_ready_ms) / 1000.0 : 0.0);
		snprintf(v[5], 32, "%lld", st.enqueued);
		snprintf(v[6], 32, "%lld", st.succeeded);
		snprintf(v[7], 32, "%lld", st.retried);
		snprintf(v[8], 32, "%lld", st.failed + st.dead_total);
		snprintf(v[9], 32, "%lld", st.cancelled);
		const char *row[] = { names[i], st.paused ? "true" : "false", v[0], v[1], v[2], v[3],
				      st.oldest_ready_ms > 0 ? v[4] : NULL, v[5], v[6], v[7], v[8], v[9] };
		output_row(o, row);
	}
	output_end(o, NULL);
	rc = 0;
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	queue_release(&q);
	return rc;
}

static int pause_or_resume(struct ctx *ctx, struct args *a, bool pause)
{
	struct queue q;
	bool was = false;
	const char *queue = a->argv[0];
	if (known_queue(ctx, queue, false) < 0 || open_queue(ctx, &q) < 0)
		return -1;
	int rc = (pause ? queue_pause : queue_resume)(&q, queue, &was, &ctx->err);
	queue_release(&q);
	if (rc < 0)
		return -1;
	if (pause)
		ctx_msg(ctx, was ? "queue %s was paused already" : "queue %s paused; running jobs go on, "
			"no new ones start", queue);
	else
		ctx_msg(ctx, was ? "queue %s resumed" : "queue %s was not paused", queue);
	return 0;
}

static int jobs_pause(struct ctx *ctx, struct args *a) { return pause_or_resume(ctx, a, true); }
static int jobs_resume(struct ctx *ctx, struct args *a) { return pause_or_resume(ctx, a, false); }

/* ---- workers, schedules ------------------------------------------------------------------ */

/* The heartbeat's NAME_ms (ms since the epoch) becomes NAME_at (text). */
/* Every live worker's heartbeat record (the worker writes
 * P worker:<host>:<pid> as JSON with a TTL; core/worker.c). */
static int jobs_workers(struct ctx *ctx, struct args *a)
{
	static const struct out_col cols[] = {
		{ "host", COL_STR }, { "pid", COL_INT }, { "version", COL_STR }, { "pools", COL_JSON },
		{ "children", COL_INT }, { "busy", COL_INT }, { "current_jobs", COL_JSON },
		{ "jobs_done", COL_INT }, { "rss_kb", COL_INT }, { "beat", COL_BOOL },
		{ "leader", COL_BOOL }, { "started_at", COL_STR }, { "ttl_s", COL_INT },
	};
	(void)a;
	redisContext *rc = ctx_redis(ctx);
	struct worker_list wl;
	int rc_out = -1;

	if (!rc || workers_list(rc, config_get(&ctx->s.cfg, CFG_REDIS_PREFIX), &wl, &ctx->err) < 0)
		return -1;
	json_t *list = json_array();
	for (size_t i = 0; i < wl.n; i++)
		if (wl.v[i].rec)
			json_array_append_new(list, workers_record_public(&wl.v[i]));
	workers_list_release(&wl);

	enum out_format fmt = ctx_format(ctx);
	struct output *o = ctx_output_new(ctx, cols, sizeof(cols) / sizeof(cols[0]));
	if (!o) {
		json_decref(list);
		goto out;
	}
	if (output_is_json(o)) {
		size_t i;
		json_t *rec;
		json_array_foreach(list, i, rec)
			output_item(o, json_incref(rec));
		output_end(o, NULL);
	} else {
		size_t i;
		json_t *rec;
		json_array_foreach(list, i, rec) {
			char pid[24], children[24], busy[24], done[24], rss[24], ttl[24], started[40];
			char *pools = NULL, *current = NULL;
			struct strbuf pb = STRBUF_INIT;
			size_t j;
			json_t *pool;
			/* pools as "name=size" for people: default=2,import=1 */
			json_array_foreach(json_object_get(rec, "pools"), j, pool)
				strbuf_addf(&pb, "%s%s=%lld", j ? "," : "",
					    json_string_value(json_object_get(pool, "name")) ?: "?",
					    (long long)json_integer_value(json_object_get(pool, "size")));
			pools = fmt == OUT_TABLE ? strbuf_detach(&pb, NULL) :
				json_dumps(json_object_get(rec, "pools"), JSON_COMPACT);
			strbuf_release(&pb);
			json_t *cur = json_object_get(rec, "current_jobs");
			if (fmt == OUT_TABLE) {
				struct strbuf cb = STRBUF_INIT;
				json_t *cj;
				json_array_foreach(cur, j, cj)
					strbuf_addf(&cb, "%s%s", j ? "," : "",
						    json_string_value(json_object_get(cj, "job_id")) ?: "?");
				current = strbuf_detach(&cb, NULL);
			} else {
				current = json_dumps(cur ? cur : json_array(), JSON_COMPACT);
			}
			snprintf(pid, sizeof(pid), "%lld", (long long)json_integer_value(json_object_get(rec, "pid")));
			snprintf(children, sizeof(children), "%lld",
				 (long long)json_integer_value(json_object_get(rec, "children")));
			snprintf(busy, sizeof(busy), "%zu", json_array_size(cur));
			snprintf(done, sizeof(done), "%lld",
				 (long long)json_integer_value(json_object_get(rec, "jobs_done")));
			snprintf(rss, sizeof(rss), "%lld", (long long)json_integer_value(json_object_get(rec, "rss_kb")));
			snprintf(ttl, sizeof(ttl), "%lld", (long long)json_integer_value(json_object_get(rec, "ttl_s")));
			snprintf(started, sizeof(started), "%s",
				 json_string_value(json_object_get(rec, "started_at")) ?: "");
			const char *row[] = {
				json_string_value(json_object_get(rec, "host")), pid,
				json_string_value(json_object_get(rec, "version")), pools, children, busy,
				current, done, rss, json_is_true(json_object_get(rec, "beat")) ? "true" : "false",
				json_is_true(json_object_get(rec, "leader")) ? "true" : "false",
				started[0] ? started : NULL, ttl };
			output_row(o, row);
			free(pools);
			free(current);
		}
		output_end(o, NULL);
	}
	if (json_array_size(list) == 0)
		ctx_msg(ctx, "no live worker (start one with 'acmectl worker')");
	json_decref(list);
	rc_out = 0;
out:
	return rc_out;
}

/* The schedules of the config file and the built-in ones, with their next
 * run (core/scheduler.h). Needs no server. */
static int jobs_schedules(struct ctx *ctx, struct args *a)
{
	static const struct out_col cols[] = {
		{ "name", COL_STR }, { "schedule", COL_STR }, { "type", COL_STR }, { "queue", COL_STR },
		{ "next_run", COL_STR }, { "payload", COL_JSON }, { "max_attempts", COL_INT },
		{ "origin", COL_STR },
	};
	struct schedule *sched = NULL;
	size_t n = 0;
	(void)a;
	if (schedules_load(&ctx->s.cfg, &sched, &n, &ctx->err) < 0)
		return -1;
	time_t now = time(NULL);
	struct output *o = ctx_output_new(ctx, cols, sizeof(cols) / sizeof(cols[0]));
	if (!o) {
		schedules_free(sched, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char next[40] = "", maxa[16] = "";
		time_t t = schedule_next(&sched[i].spec, now);
		if (t != (time_t)-1)
			clock_format_ms((long long)t * 1000, next, sizeof(next));
		if (sched[i].max_attempts)
			snprintf(maxa, sizeof(maxa), "%d", sched[i].max_attempts);
		const char *row[] = { sched[i].name, sched[i].expr, sched[i].type, sched[i].queue,
				      next[0] ? next : NULL, sched[i].payload, maxa[0] ? maxa : NULL,
				      sched[i].origin };
		output_row(o, row);
	}
	output_end(o, NULL);
	schedules_free(sched, n);
	return 0;
}

/* ---- watch ------------------------------------------------------------------------------- */

static volatile sig_atomic_t watch_interrupted;

static void on_watch_sigint(int sig)
{
	(void)sig;
	watch_interrupted = 1;
}

struct watch {
	struct ctx *ctx;
	const char *id;
	bool ndjson;
	enum job_state state;
	bool have_state;
	char *error;
	bool told_lost;            /* said that Redis lost the job */
};

/* Print one event: NDJSON as it came, or a line for people. */
static void watch_print(struct watch *w, json_t *ev)
{
	if (w->ndjson) {
		wait_print_event(w->ctx->out, ev);
		return;
	}
	char when[40];
	clock_format_ms(json_integer_value(json_object_get(ev, "ts")), when, sizeof(when));
	const char *kind = json_string_value(json_object_get(ev, "event")) ?: "event";
	const char *state = json_string_value(json_object_get(ev, "state")) ?: "";
	if (strcmp(kind, "progress") == 0) {
		char *p = json_dumps(json_object_get(ev, "progress"), JSON_COMPACT | JSON_ENCODE_ANY);
		fprintf(w->ctx->out, "%s  progress %s\n", when, p ? p : "");
		free(p);
	} else {
		const char *error = json_string_value(json_object_get(ev, "error"));
		fprintf(w->ctx->out, "%s  %s%s%s (attempt %lld)%s%s\n", when,
			strcmp(kind, "state") == 0 ? "" : kind, strcmp(kind, "state") == 0 ? "" : " ",
			state, (long long)json_integer_value(json_object_get(ev, "attempts")),
			error ? ": " : "", error ? error : "");
	}
	fflush(w->ctx->out);
}

/* An event of the job: remember its state (and error), print it. */
static void watch_event(struct watch *w, json_t *ev)
{
	const char *state = json_string_value(json_object_get(ev, "state"));
	enum job_state st;
	if (state && state[0] && job_state_parse(state, &st) == 0) {
		w->state = st;
		w->have_state = true;
	}
	const char *error = json_string_value(json_object_get(ev, "error"));
	if (error) {
		free(w->error);
		w->error = xstrdup(error);
	}
	watch_print(w, ev);
}

/* A snapshot (core/jobwatch): print it when it is the first or when it
 * shows a state the events did not (a missed message, a reconnect); say
 * once when Redis lost a job PostgreSQL still has unfinished. */
static void watch_snapshot(struct watch *w, struct jobwatch *jw, json_t *ev)
{
	const char *state = json_string_value(json_object_get(ev, "state"));
	enum job_state st;
	if (jw->lost && !w->told_lost && state) {
		ctx_msg(w->ctx, "job %s is %s in PostgreSQL but Redis does not have it; "
			"'acmectl jobs retry %s' queues it again (still watching)", w->id, state, w->id);
		w->told_lost = true;
	}
	if (!state || job_state_parse(state, &st) < 0)
		return;
	if (!w->have_state || st != w->state)
		watch_event(w, ev);
}

static bool watch_waiting(enum job_state st)
{
	return st == JOB_QUEUED || st == JOB_SCHEDULED || st == JOB_RETRYING;
}

/* --timeout passed before the job ended: 75, and the job goes on. */
static int watch_timeout(struct ctx *ctx, struct watch *w, struct wait_watch *ww)
{
	char within[32], why[320];
	bool waiting = !w->have_state || watch_waiting(w->state);
	const char *state = w->have_state ? job_state_name(w->state) : "queued";
	if (w->ndjson) {
		json_t *ev = json_pack("{s:s, s:s, s:s}", "id", w->id, "event", "timeout", "state", state);
		output_json(ctx->out, ev, false);
		fflush(ctx->out);
		json_decref(ev);
	}
	wait_watch_why(ww, waiting, why, sizeof(why));
	return acme_err_set(&ctx->err, ACME_E_TEMPFAIL, "job %s: not finished %s: it %s%s%s; "
			    "'acmectl jobs watch %s' follows it again", w->id,
			    wait_watch_within(ww, within, sizeof(within)), waiting ? "stays " : "goes on ",
			    waiting ? state : "running in a worker", why, w->id);
}

/* The job has ended (w->state): its outcome as the exit status
 * (job_outcome, core/jobwait.h). The final job is read again for its result
 * (rows rejected), which state events do not carry. */
static int watch_outcome(struct ctx *ctx, struct watch *w, struct queue *q, const char *queue)
{
	struct queue_job job = { 0 };
	struct acme_err lerr;
	if (job_load(ctx->s.db, q, queue, w->id, &job, &lerr) < 0 || !job_state_is_final(job.state)) {
		/* cannot read it back: go by the events */
		queue_job_release(&job);
		job.id = xstrdup(w->id);
		job.state = w->state;
		job.error = w->error ? xstrdup(w->error) : NULL;
	}
	int rc = job_outcome(&job, &ctx->err) < 0 ? -1 : 0;
	queue_job_release(&job);
	return rc;
}

/* Follow a job over pub/sub until it ends: the exit status is its outcome
 * (job_outcome: 0 succeeded, 65 rows rejected or refused, 1 dead, 4
 * cancelled), as `import --wait` gives it; Ctrl-C detaches (130) and
 * --timeout stops watching (75), leaving the job alone. A job waiting for a
 * worker gets the line saying why none takes it (cmd/wait.h). Events are
 * checked against the job's state every 2 s, so a missed message or a Redis
 * reconnect loses nothing. */
static int jobs_watch(struct ctx *ctx, struct args *a)
{
	/* events are a stream: -o json prints them one per line like ndjson */
	struct watch w = { ctx, a->argv[0], ctx->fmt_given && (ctx_format(ctx) == OUT_NDJSON ||
							   ctx_format(ctx) == OUT_JSON),
			   JOB_QUEUED, false, NULL, false };
	struct job_row row = { 0 };
	struct queue q;
	struct jobwatch jw;
	bool have_jw = false;
	struct sigaction sa, old_int, old_term;
	struct wait_watch ww;
	int rc = -1;

	if (queue_check_id(w.id, &ctx->err) < 0 || job_get(ctx->s.db, w.id, &row, &ctx->err) < 0)
		return -1;
	wait_watch_init(&ww, ctx, row.queue, args_int(a, "timeout", 0));
	if (open_queue(ctx, &q) < 0) {
		job_row_release(&row);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_watch_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	/* subscribe first, then read the state: nothing falls in between */
	if (jobwatch_open(&jw, &ctx->s.cfg, ctx->s.db, row.queue, w.id, &ctx->err) < 0)
		goto out;
	have_jw = true;
	long long next_check = clock_mono_ms() + 2000;
	while (!(w.have_state && job_state_is_final(w.state))) {
		if (watch_interrupted) {
			ctx_msg(ctx, "detached from job %s; it goes on (acmectl jobs watch %s follows it "
				"again)", w.id, w.id);
			rc = 130;
			goto out;
		}
		if (wait_watch_expired(&ww)) {
			rc = watch_timeout(ctx, &w, &ww);
			goto out;
		}
		json_t *ev = NULL;
		int got = jobwatch_next(&jw, &ev, &ctx->err);
		if (got < 0)
			goto out;
		if (got == JOBWATCH_EVENT) {
			const char *kind = json_string_value(json_object_get(ev, "event"));
			if (kind && strcmp(kind, "snapshot") == 0)
				watch_snapshot(&w, &jw, ev);
			else
				watch_event(&w, ev);
			json_decref(ev);
			continue;
		}
		/* a check against the state every 2 s: a missed message loses nothing */
		long long now = clock_mono_ms();
		if (now >= next_check) {
			jobwatch_resync(&jw);
			next_check = now + 2000;
			continue;
		}
		wait_watch_tick(&ww, w.have_state && watch_waiting(w.state));
		int cap = wait_watch_cap(&ww, (int)(next_check - now));
		struct pollfd pfd = { jobwatch_fd(&jw), POLLIN, 0 };
		int pr = poll(&pfd, pfd.fd >= 0 ? 1 : 0, pfd.fd >= 0 ? cap : (cap < 250 ? cap : 250));
		if (pr < 0 && errno != EINTR) {
			acme_err_set(&ctx->err, ACME_E_FAILURE, "poll: %s", strerror(errno));
			goto out;
		}
		if (pr > 0 && jobwatch_read(&jw, &ctx->err) < 0) {
			/* Redis went away: the watch subscribes again and catches up */
			ctx_msg(ctx, "%s; reconnecting", ctx->err.msg);
			memset(&ctx->err, 0, sizeof(ctx->err));
		}
	}
	/* the outcome is the exit status, the one `import --wait` gives too */
	if (jw.reconnects) {
		/* the server went away meanwhile: so did our other connection */
		session_drop_redis(&ctx->s);
		if (!ctx_redis(ctx))
			goto out;
		queue_set_connection(&q, ctx->s.redis);
	}
	rc = watch_outcome(ctx, &w, &q, row.queue);
out:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (have_jw)
		jobwatch_close(&jw);
	free(w.error);
	queue_release(&q);
	job_row_release(&row);
	return rc;
}

/* ---- the command -------------------------------------------------------------------------- */

static const struct opt enqueue_opts[] = {
	{ "payload", 0, OPT_STRING, "JSON", "the job's payload, a JSON object (default {})",
	  0, 0, NULL, 0 },
	{ "queue", 0, OPT_STRING, "QUEUE", "the queue (default: the job type's)", 0, 0, NULL, 0 },
	{ "delay", 0, OPT_DURATION, "DUR", "start no sooner than DUR from now", 0, 0, NULL, 0 },
	{ "max-attempts", 0, OPT_INT, "N", "attempts before the job is dead (default: the type's)",
	  1, 1000, NULL, 0 },
	{ "id", 0, OPT_STRING, "ID", "the job id: enqueuing an id again changes nothing "
	  "(default: a new ULID)", 0, 0, NULL, 0 },
	{ "count", 0, OPT_INT, "N", "enqueue N such jobs in batches of 1000; prints their ids",
	  1, 10000000, NULL, 0 },
	{ "from-ndjson", 0, OPT_STRING, "FILE", "one job per line of FILE (- for stdin): "
	  "{\"type\", \"payload\", \"queue\", \"delay\", \"max_attempts\", \"id\"}; every line "
	  "is checked before any is enqueued", 0, 0, "file", 0 },
	OPT_END
};

static const struct opt list_opts[] = {
	{ "state", 0, OPT_STRING, "STATE", "only jobs in this state", 0, 0, STATE_CHOICES, 0 },
	{ "type", 0, OPT_STRING, "TYPE", "only jobs of this type", 0, 0, "@jobtype", 0 },
	{ "queue", 0, OPT_STRING, "QUEUE", "only jobs of this queue", 0, 0, NULL, 0 },
	{ "limit", 0, OPT_INT, "N", "at most N jobs, newest first (default 50)", 1, 100000, NULL, 0 },
	{ "after", 0, OPT_STRING, "CURSOR", "the page after the one whose next_cursor this is",
	  0, 0, NULL, 0 },
	OPT_END
};

static const struct opt guard_opts[] = {
	{ "yes", 'y', OPT_FLAG, NULL, "do not ask for confirmation (production asks on a terminal, "
	  "refuses without one)", 0, 0, NULL, 0 },
	{ "dry-run", 'n', OPT_FLAG, NULL, "say what would happen to the job; change nothing",
	  0, 0, NULL, 0 },
	OPT_END
};

static const struct opt purge_opts[] = {
	{ "older-than", 0, OPT_DURATION, "DUR", "delete finished jobs that finished more than "
	  "DUR ago", 0, 0, NULL, 0 },
	{ "state", 0, OPT_STRING, "STATE", "with --older-than: only jobs that ended in this state",
	  0, 0, FINAL_STATE_CHOICES, 0 },
	{ "queue", 0, OPT_STRING, "QUEUE", "instead: cancel every waiting job of QUEUE",
	  0, 0, NULL, 0 },
	{ "yes", 'y', OPT_FLAG, NULL, "do not ask for confirmation", 0, 0, NULL, 0 },
	{ "dry-run", 'n', OPT_FLAG, NULL, "say how many jobs would go; change nothing",
	  0, 0, NULL, 0 },
	OPT_END
};

static const struct opt watch_opts[] = {
	{ "timeout", 0, OPT_DURATION, "DUR", "stop watching after DUR (exit 75); the job goes on",
	  1, 30LL * 86400000, NULL, 0 },
	OPT_END
};

static const struct opt stats_opts[] = {
	{ "queue", 0, OPT_STRING, "QUEUE", "only this queue", 0, 0, NULL, 0 },
	OPT_END
};

#define DB_REDIS (CMD_NEEDS_DB | CMD_NEEDS_REDIS)
#define DB_REDIS_MUT (DB_REDIS | CMD_MUTATES)     /* and the verb changes something */

static const struct cmd_verb jobs_verbs[] = {
	{ "enqueue", "TYPE [--payload JSON] [--queue Q] [--delay DUR] [--max-attempts N] "
	  "[--id ID | --count N] | --from-ndjson FILE [TYPE]",
	  "record a job (or many) and queue it; prints its id", enqueue_opts, jobs_enqueue,
	  DB_REDIS_MUT, 0, 1, "@jobtype" },
	{ "list", "[--state S] [--type T] [--queue Q] [--limit N] [--after CURSOR] [-o FORMAT]",
	  "list jobs, newest first", list_opts, jobs_list, CMD_NEEDS_DB, 0, 0, NULL },
	{ "show", "ID [-o FORMAT]", "show one job: its row, and its live state in Redis", NULL,
	  jobs_show, DB_REDIS, 1, 1, "@job" },
	{ "watch", "ID [--timeout DUR] [-o ndjson]", "follow a job's state and progress live until "
	  "it ends; the exit status is its outcome", watch_opts, jobs_watch, DB_REDIS, 1, 1, "@job" },
	{ "cancel", "ID [--yes] [--dry-run]", "cancel a waiting job, or ask a running one to stop",
	  guard_opts, jobs_cancel, DB_REDIS_MUT, 1, 1, "@job" },
	{ "retry", "ID [--yes] [--dry-run]", "queue a failed, dead or cancelled job again (or one "
	  "Redis lost)", guard_opts, jobs_retry, DB_REDIS_MUT, 1, 1, "@job" },
	{ "purge", "--older-than DUR [--state S] [--yes] [--dry-run] | --queue Q [--yes] [--dry-run]",
	  "delete old finished jobs, or cancel the waiting jobs of a queue", purge_opts, jobs_purge,
	  DB_REDIS_MUT, 0, 0, NULL },
	{ "errors", "ID [-o csv|tsv|json|ndjson] | ID --rows", "the rejected rows of an import: line, "
	  "column, reason, record (CSV); --rows: the records under the file's header, to fix and "
	  "import", jobs_errors_opts, jobs_errors_exec, CMD_NEEDS_DB, 1, 1, "@job" },
	{ "stats", "[--queue Q] [-o FORMAT]", "queue sizes, age of the oldest ready job, counters",
	  stats_opts, jobs_stats, CMD_NEEDS_REDIS, 0, 0, NULL },
	{ "pause", "QUEUE", "stop starting jobs from QUEUE (running jobs go on)", NULL, jobs_pause,
	  CMD_NEEDS_REDIS | CMD_MUTATES, 1, 1, "@queue" },
	{ "resume", "QUEUE", "start jobs from QUEUE again", NULL, jobs_resume,
	  CMD_NEEDS_REDIS | CMD_MUTATES, 1, 1, "@queue" },
	{ "workers", "[-o FORMAT]", "live workers, from their heartbeat records", NULL, jobs_workers,
	  CMD_NEEDS_REDIS, 0, 0, NULL },
	{ "schedules", "[-o FORMAT]", "periodic jobs (config file and built-in) with their next run",
	  NULL, jobs_schedules, 0, 0, 0, NULL },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, 0, NULL }
};

static const char *const jobs_aliases[] = { "job", NULL };

const struct cmd_entry cmd_jobs = {
	.name = "jobs",
	.aliases = jobs_aliases,
	.summary = "enqueue, inspect, cancel and retry background jobs",
	.description = "Jobs run in `acmectl worker`. Redis holds the queues and live state;\n"
		       "the jobs table in PostgreSQL keeps every job's history.",
	.verbs = jobs_verbs,
};
