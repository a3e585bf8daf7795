/* import.c — `acmectl import FILE|-`: stage a CSV file in PostgreSQL, queue
 * an import job for the workers, and with --wait follow it to the end.
 *
 * Staging streams the file into uploads (core/upload.h) in one transaction,
 * so an interrupted or failed staging leaves nothing behind; then one job of
 * type "import" (core/import.h) is recorded and queued, and the upload linked
 * to it for retention. The job id goes to stdout.
 *
 * Following (--wait) listens to the job's pub/sub channel on a second Redis
 * connection and reads the job itself every second as well, so a missed
 * message, a Redis that does not publish, or a job that finished before we
 * subscribed all end the same way. Without a worker the job stays queued and
 * --wait waits for one, for at most --timeout, and says after 5 s why no
 * worker takes it (cmd/wait.h). Ctrl-C detaches: the job goes on in the
 * worker. The exit status is the job's outcome (job_outcome, core/jobwait.h),
 * the one `jobs watch` gives too.
 *
 * The `jobs errors` verb (the rejected rows of an import) lives here too, next
 * to what writes them; cmd/jobs.c only lists it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "cmd/wait.h"
#include "core/output.h"
#include "core/import.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/jobwait.h"
#include "core/jobwatch.h"
#include "core/queue.h"
#include "core/rds.h"
#include "core/recode.h"
#include "core/upload.h"
#include "core/xalloc.h"

#define EXIT_DETACHED 130     /* Ctrl-C while following: 128 + SIGINT, as shells do */
#define POLL_MS       1000    /* read the job this often whatever pub/sub says */
#define DRAW_MS       100     /* redraw the progress line at most this often */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- formatting for people ------------------------------------------------------ */


/* "0.8 s", "51.2 s", "2:05" */
static const char *fmt_seconds(char *buf, size_t len, long long ms)
{
	if (ms < 60000)
		snprintf(buf, len, "%.1f s", (double)ms / 1000.0);
	else
		human_duration(buf, len, ms);
	return buf;
}

static int term_width(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* One line on a terminal, replacing the one before. */
static void draw_line(const char *text)
{
	int w = term_width() - 1;
	fprintf(stderr, "\r%.*s\033[K", w, text);
	fflush(stderr);
}

static void clear_line(void)
{
	fputs("\r\033[K", stderr);
	fflush(stderr);
}

/* ---- staging ------------------------------------------------------------------------ */

struct stage_view {
	struct ctx *ctx;
	const char *what;
	long long total;          /* -1 when unknown (a pipe) */
	long long last_draw;
	bool drawn;
};

static void stage_progress(void *user, long long bytes)
{
	struct stage_view *v = user;
	char line[256], b1[32], b2[32];
	long long now = clock_mono_ms();

	if (now - v->last_draw < DRAW_MS)
		return;
	v->last_draw = now;
	if (v->total > 0)
		snprintf(line, sizeof(line), "staging %s: %s of %s (%.0f%%)", v->what,
			 human_bytes(b1, sizeof(b1), (double)bytes), human_bytes(b2, sizeof(b2), (double)v->total),
			 100.0 * (double)bytes / (double)v->total);
	else
		snprintf(line, sizeof(line), "staging %s: %s", v->what,
			 human_bytes(b1, sizeof(b1), (double)bytes));
	draw_line(line);
	v->drawn = true;
}

/* Staged as UTF-8 without --encoding but not valid UTF-8: the rows with
 * those bytes will be rejected; say so now, and what to do. */
static void say_invalid_utf8(struct ctx *ctx, const struct import_submit *sub)
{
	if (!sub->invalid_utf8)
		return;
	if (sub->cp1252)
		ctx_msg(ctx, "warning: %s is not valid UTF-8 (line %lld: byte 0x%02x) and looks like "
			"Windows-1252, as Excel saves CSV: rows with such bytes will be rejected; import "
			"it with --encoding windows-1252", sub->what, sub->bad_line, sub->bad_byte);
	else
		ctx_msg(ctx, "warning: %s is not valid UTF-8 (line %lld: byte 0x%02x): rows with such "
			"bytes will be rejected; --encoding names the file's encoding (" RECODE_NAMES ")",
			sub->what, sub->bad_line, sub->bad_byte);
}

/* ---- the job as it is now -------------------------------------------------------------- */

struct job_now {
	bool known;
	enum job_state state;
	int attempts, max_attempts;
	char *error;
	json_t *result, *progress;
};

static void job_now_release(struct job_now *j)
{
	free(j->error);
	json_decref(j->result);
	json_decref(j->progress);
	memset(j, 0, sizeof(*j));
}

static json_t *load_json(const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	return json_is_object(j) ? j : (json_decref(j), NULL);
}

/* From Redis, or from the jobs table when Redis no longer has the job. */
static int job_now_load(struct ctx *ctx, struct queue *q, const char *id, struct job_now *out,
			struct acme_err *err)
{
	struct queue_job qj = { 0 };
	struct job_row row = { 0 };

	job_now_release(out);
	int got = queue_get(q, IMPORT_QUEUE, id, &qj, err);
	if (got < 0)
		return -1;
	if (got == QUEUE_OK) {
		out->known = true;
		out->state = qj.state;
		out->attempts = qj.attempts;
		out->max_attempts = qj.max_attempts;
		out->error = qj.error ? xstrdup(qj.error) : NULL;
		out->result = load_json(qj.result);
		out->progress = load_json(qj.progress);
		queue_job_release(&qj);
		return 0;
	}
	queue_job_release(&qj);
	if (job_get(ctx->s.db, id, &row, err) < 0)
		return -1;
	out->known = true;
	out->state = row.state;
	out->attempts = row.attempts;
	out->max_attempts = row.max_attempts;
	out->error = row.error ? xstrdup(row.error) : NULL;
	out->result = load_json(row.result);
	out->progress = load_json(row.progress);
	job_row_release(&row);
	return 0;
}

/* ---- following ----------------------------------------------------------------------- */

struct follow {
	struct ctx *ctx;
	struct queue *q;
	const char *id;
	struct jobwatch jw;       /* its events (core/jobwatch) */
	bool have_jw;             /* false: polling only */
	bool bar;                 /* progress line on stderr */
	bool ndjson;              /* events on stdout */
	long long started;        /* when the command started (monotonic ms) */
	long long last_draw, last_poll;
	enum job_state last_state;
	int last_attempts;
	bool said_waiting;
	struct wait_watch ww;     /* --timeout, and why no worker takes the job */
	char *last_progress;      /* compact text of the last progress printed */
	struct job_now now;
};

static void emit(struct follow *f, json_t *ev)
{
	wait_print_event(f->ctx->out, ev);
	json_decref(ev);
}

static long long jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void draw_progress(json_t *p)
{
	char line[512], b1[32], b2[32], r[32], d[32];
	const char *phase = json_string_value(json_object_get(p, "phase"));
	const char *step = json_string_value(json_object_get(p, "step"));
	long long bytes = jint(p, "bytes"), total = jint(p, "bytes_total");
	long long rows = jint(p, "rows"), rejected = jint(p, "rejected"), ms = jint(p, "elapsed_ms");

	if (!phase)
		return;
	if (strcmp(phase, "parse") == 0 && total > 0) {
		int width = 20, filled = (int)(width * bytes / total);
		char bar[32];
		for (int i = 0; i < width; i++)
			bar[i] = i < filled ? '#' : '-';
		bar[width] = '\0';
		double rate = ms > 0 ? (double)rows * 1000.0 / (double)ms : 0;
		double brate = ms > 0 ? (double)bytes * 1000.0 / (double)ms : 0;
		long long eta = brate > 0 ? (long long)((double)(total - bytes) * 1000.0 / brate) : 0;
		int n = snprintf(line, sizeof(line), "parse  [%s] %3.0f%%  %s/%s  %s rows/s",
				 bar, 100.0 * (double)bytes / (double)total,
				 human_bytes(b1, sizeof(b1), (double)bytes), human_bytes(b2, sizeof(b2), (double)total),
				 human_rate(r, sizeof(r), rate));
		if (rejected > 0)
			n += snprintf(line + n, sizeof(line) - (size_t)n, "  %lld rejected", rejected);
		if (brate > 0)
			snprintf(line + n, sizeof(line) - (size_t)n, "  ETA %s", human_duration(d, sizeof(d), eta));
	} else if (strcmp(phase, "merge") == 0) {
		snprintf(line, sizeof(line), "merge  %-10s  %lld rows read, %lld rejected  %s", step ? step : "",
			 rows, rejected, human_duration(d, sizeof(d), ms));
	} else {
		snprintf(line, sizeof(line), "%s  %s", phase, human_duration(d, sizeof(d), ms));
	}
	draw_line(line);
}

/* Something new about the job: show it. */
static void show(struct follow *f)
{
	struct job_now *j = &f->now;
	long long now = clock_mono_ms();

	if (!j->known)
		return;
	if (j->state != f->last_state || j->attempts != f->last_attempts) {
		if (f->ndjson)
			emit(f, json_pack("{s:s, s:s, s:s, s:i, s:i}", "event", "state", "job_id", f->id,
					  "state", job_state_name(j->state), "attempt", j->attempts,
					  "max_attempts", j->max_attempts));
		if (f->bar && j->state == JOB_RETRYING)
			draw_line("import: the attempt failed; it will be retried");
		f->last_state = j->state;
		f->last_attempts = j->attempts;
	}
	bool waiting = j->state == JOB_QUEUED || j->state == JOB_SCHEDULED || j->state == JOB_RETRYING;
	if (wait_watch_tick(&f->ww, waiting) && f->bar) {
		char line[300];
		snprintf(line, sizeof(line), "queued: %s", f->ww.hint);
		draw_line(line);
		f->said_waiting = true;
	} else if (waiting && f->bar && now - f->started > 3000 && !f->said_waiting) {
		draw_line("queued: waiting for a worker");
		f->said_waiting = true;
	}
	if (j->state != JOB_RUNNING || !j->progress)
		return;
	char *text = json_dumps(j->progress, JSON_COMPACT | JSON_SORT_KEYS);
	bool fresh = !f->last_progress || strcmp(text, f->last_progress) != 0;
	if (fresh && f->ndjson) {
		json_t *ev = json_pack("{s:s, s:s}", "event", "progress", "job_id", f->id);
		json_object_update(ev, j->progress);
		emit(f, ev);
	}
	if (fresh) {
		free(f->last_progress);
		f->last_progress = text;
		text = NULL;
	}
	free(text);
	if (f->bar && now - f->last_draw >= DRAW_MS) {
		draw_progress(j->progress);
		f->last_draw = now;
	}
}

/* An event: a progress event carries the progress itself; anything else (a
 * state change, a snapshot) sends us to read the job. Returns 1 to read it. */
static int on_event(struct follow *f, json_t *ev)
{
	const char *kind = json_string_value(json_object_get(ev, "event"));
	if (kind && strcmp(kind, "progress") == 0 && json_is_object(json_object_get(ev, "progress")) &&
	    f->now.known && f->now.state == JOB_RUNNING) {
		json_decref(f->now.progress);
		f->now.progress = json_incref(json_object_get(ev, "progress"));
		show(f);
		return 0;
	}
	return 1;
}

/* Wait up to ms for news of the job. Returns 1 when the job should be read. */
static int wait_news(struct follow *f, int ms)
{
	struct acme_err err;
	int read_job = 0, fd = f->have_jw ? jobwatch_fd(&f->jw) : -1;
	struct pollfd pfd = { fd, POLLIN, 0 };
	int n = poll(&pfd, fd >= 0 ? 1 : 0, ms);
	if (!f->have_jw)
		return 1;                /* no pub/sub: polling alone */
	if (n > 0 && jobwatch_read(&f->jw, &err) < 0)
		read_job = 1;            /* lost: it reconnects and sends a snapshot */
	json_t *ev;
	int got;
	while ((got = jobwatch_next(&f->jw, &ev, &err)) == JOBWATCH_EVENT) {
		read_job |= on_event(f, ev);
		json_decref(ev);
	}
	return read_job || got < 0 || fd < 0;
}

/* ---- the summary ------------------------------------------------------------------------ */

static const char *const count_keys[] = { "rows", "inserted", "updated", "unchanged", "rejected",
					  "duplicates" };
#define NCOUNTS (sizeof(count_keys) / sizeof(count_keys[0]))

static void print_summary(struct follow *f, long long total_ms)
{
	struct ctx *ctx = f->ctx;
	struct job_now *j = &f->now;
	json_t *counts = j->result ? j->result : j->progress;
	enum out_format fmt = ctx_format(ctx);
	json_t *doc = json_pack("{s:s, s:s, s:s}", "event", "summary", "job_id", f->id, "state",
				job_state_name(j->state));

	for (size_t i = 0; i < NCOUNTS; i++) {
		json_t *v = json_object_get(counts, count_keys[i]);
		json_object_set_new(doc, count_keys[i], json_is_integer(v) ? json_incref(v) : json_null());
	}
	if (j->result) {
		json_object_set(doc, "dry_run", json_object_get(j->result, "dry_run"));
		json_object_set(doc, "duration_ms", json_object_get(j->result, "duration_ms"));
		json_object_set(doc, "unknown_columns", json_object_get(j->result, "unknown_columns"));
	}
	json_object_set_new(doc, "total_ms", json_integer(total_ms));
	json_object_set_new(doc, "error", j->error && j->state != JOB_SUCCEEDED ?
			    json_string(j->error) : json_null());
	if (fmt == OUT_JSON || fmt == OUT_NDJSON) {
		emit(f, doc);
		return;
	}
	static const struct out_col cols[] = { { "field", COL_STR }, { "value", COL_STR } };
	struct output *o = output_new(ctx->out, fmt, cols, 2);
	output_set_color(o, ctx->color);
	const char *key;
	json_t *v;
	json_object_foreach(doc, key, v) {
		char buf[64];
		const char *text = NULL;
		char *owned = NULL;
		size_t klen = strlen(key);
		bool ms = klen > 3 && strcmp(key + klen - 3, "_ms") == 0;
		if (strcmp(key, "event") == 0 || json_is_null(v) ||
		    (json_is_array(v) && json_array_size(v) == 0))
			continue;
		if (json_is_string(v))
			text = json_string_value(v);
		else if (ms)
			text = fmt_seconds(buf, sizeof(buf), json_integer_value(v));
		else
			text = owned = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		char name[32];
		snprintf(name, sizeof(name), "%.*s", (int)(ms ? klen - 3 : klen), key);
		const char *row[2] = { name, text };
		output_row(o, row);
		free(owned);
	}
	output_end(o, NULL);
	json_decref(doc);
}

/* Follow job id to its end. Returns the exit status, or -1 with ctx->err. */
static int follow_job(struct ctx *ctx, struct queue *q, const char *id, long long started,
		      long long timeout_ms)
{
	struct follow f;
	struct sigaction sa, old;
	int status = -1;

	memset(&f, 0, sizeof(f));
	f.ctx = ctx;
	f.q = q;
	f.id = id;
	f.started = started;
	f.bar = ctx->stderr_tty && !ctx->quiet;
	f.ndjson = ctx->fmt_given && (ctx->fmt == OUT_JSON || ctx->fmt == OUT_NDJSON);
	f.last_state = JOB_STATE__COUNT;
	f.last_attempts = -1;
	wait_watch_init(&f.ww, ctx, IMPORT_QUEUE, timeout_ms);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;        /* no SA_RESTART: poll() returns at once */
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old);

	if (f.bar)
		fprintf(stderr, "acmectl: following import job %s (Ctrl-C detaches; the job goes on)\n", id);
	/* subscribe first; without pub/sub it polls alone */
	struct acme_err serr;
	f.have_jw = jobwatch_open(&f.jw, &ctx->s.cfg, ctx->s.db, IMPORT_QUEUE, id, &serr) == 0;
	for (bool read_job = true; !interrupted;) {
		long long now = clock_mono_ms();
		if (read_job || now - f.last_poll >= POLL_MS) {
			if (job_now_load(ctx, q, id, &f.now, &ctx->err) < 0)
				goto out;
			f.last_poll = now;
			show(&f);
			if (f.now.known && job_state_is_final(f.now.state))
				break;
		}
		if (wait_watch_expired(&f.ww))
			break;
		read_job = wait_news(&f, wait_watch_cap(&f.ww, POLL_MS / 4)) != 0;
	}
	if (f.bar)
		clear_line();
	if (interrupted) {
		if (f.ndjson)
			emit(&f, json_pack("{s:s, s:s}", "event", "detached", "job_id", id));
		fprintf(stderr, "acmectl: detached from job %s; it goes on in the worker. Follow it with "
			"'acmectl jobs watch %s' or look at it with 'acmectl jobs show %s'\n", id, id, id);
		status = EXIT_DETACHED;
		goto out;
	}

	if (!(f.now.known && job_state_is_final(f.now.state))) {
		/* --timeout: the job goes on without us */
		char within[32], why[320];
		bool waiting = !f.now.known || f.now.state != JOB_RUNNING;
		const char *state = f.now.known ? job_state_name(f.now.state) : "queued";
		if (f.ndjson)
			emit(&f, json_pack("{s:s, s:s, s:s}", "event", "timeout", "job_id", id,
					   "state", state));
		wait_watch_why(&f.ww, waiting, why, sizeof(why));
		status = acme_err_set(&ctx->err, ACME_E_TEMPFAIL, "import %s: not finished %s: it %s%s%s; "
				      "follow it with 'acmectl jobs watch %s'", id,
				      wait_watch_within(&f.ww, within, sizeof(within)),
				      waiting ? "stays " : "goes on ", waiting ? state :
				      "running in a worker", why, id);
		goto out;
	}
	print_summary(&f, clock_mono_ms() - started);
	json_t *res = f.now.result;
	json_t *unknown = json_object_get(res, "unknown_columns");
	if (json_array_size(unknown) > 0 && !ctx->quiet) {
		size_t i;
		json_t *u;
		fprintf(stderr, "acmectl: ignored column%s not in the product fields:",
			json_array_size(unknown) == 1 ? "" : "s");
		json_array_foreach(unknown, i, u)
			fprintf(stderr, "%s \"%s\"", i ? "," : "", json_string_value(u));
		fprintf(stderr, " (map them with --map HEADER=FIELD, or refuse them with --strict)\n");
	}
	/* the outcome is the exit status, the one `jobs watch` gives too */
	struct queue_job final = { 0 };
	struct acme_err lerr;
	if (job_load(ctx->s.db, q, IMPORT_QUEUE, id, &final, &lerr) < 0 ||
	    !job_state_is_final(final.state)) {
		queue_job_release(&final);
		final.id = xstrdup(id);
		final.type = xstrdup(IMPORT_JOB_TYPE);
		final.state = f.now.state;
		final.attempts = f.now.attempts;
		final.error = f.now.error ? xstrdup(f.now.error) : NULL;
		final.result = f.now.result ? json_dumps(f.now.result, JSON_COMPACT) : NULL;
	}
	status = job_outcome(&final, &ctx->err) < 0 ? -1 : 0;
	queue_job_release(&final);
out:
	sigaction(SIGINT, &old, NULL);
	if (f.have_jw)
		jobwatch_close(&f.jw);
	free(f.last_progress);
	job_now_release(&f.now);
	return status;
}

/* ---- acmectl import ---------------------------------------------------------------------- */

int import_exec(struct ctx *ctx, struct args *a)
{
	struct import_params params;
	struct import_submit sub;
	struct queue q;
	bool have_q = false;
	enum recode_encoding enc = RECODE_UTF8;
	const char *path = a->argv[0];
	const char **maps = NULL;
	int fd = -1, status = -1;
	long long started = clock_mono_ms();

	memset(&params, 0, sizeof(params));
	memset(&sub, 0, sizeof(sub));
	if (args_has(a, "timeout") && !args_has(a, "wait"))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "import: --timeout needs --wait");
	params.strict = args_has(a, "strict");
	params.dry_run = args_has(a, "dry-run");
	if (args_get(a, "delimiter") &&
	    import_parse_delimiter(args_get(a, "delimiter"), &params.delimiter, &ctx->err) < 0)
		goto out;
	int nmaps = args_all(a, "map", &maps);
	for (int i = 0; i < nmaps; i++)
		if (import_params_add_map(&params, maps[i], &ctx->err) < 0)
			goto out;
	if (import_params_check(&params, &ctx->err) < 0)
		goto out;
	if (args_get(a, "method") &&
	    import_parse_method(args_get(a, "method"), &params.method, &ctx->err) < 0)
		goto out;
	if (args_get(a, "encoding") && recode_parse(args_get(a, "encoding"), &enc, &ctx->err) < 0)
		goto out;

	const char *what = strcmp(path, "-") == 0 ? "stdin" : path;
	struct stage_view view = { ctx, what, -1, 0, false };
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
		if (ctx->stdin_tty && !ctx->quiet)
			ctx_msg(ctx, "reading CSV from the terminal; end it with Ctrl-D");
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		acme_err_set(&ctx->err, errno == ENOENT ? ACME_E_NOT_FOUND : ACME_E_FAILURE,
			     "import: %s: %s", path, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		view.total = st.st_size;

	/* 1. stage the file, 2. record and queue the job (core/import.h) */
	sub.fd = fd;
	sub.enc = enc;
	sub.what = what;
	sub.params = &params;
	sub.progress = ctx->stderr_tty && !ctx->quiet ? stage_progress : NULL;
	sub.progress_arg = &view;
	int r = import_submit(ctx->s.db, ctx->s.redis, config_get(&ctx->s.cfg, CFG_REDIS_PREFIX),
			      &sub, &ctx->err);
	if (view.drawn)
		clear_line();
	if (r < 0)
		goto out;
	say_invalid_utf8(ctx, &sub);
	if (sub.link_warning[0])
		ctx_msg(ctx, "warning: %s", sub.link_warning);

	if (!args_has(a, "wait")) {
		if (ctx->fmt_given && (ctx->fmt == OUT_JSON || ctx->fmt == OUT_NDJSON)) {
			json_t *o = json_pack("{s:s, s:I, s:I, s:s, s:s}", "job_id", sub.job_id,
					      "upload_id", (json_int_t)sub.upload_id, "size",
					      (json_int_t)sub.size, "sha256", sub.sha256, "queue", sub.queue);
			output_json(ctx->out, o, ctx->fmt == OUT_JSON);
			json_decref(o);
		} else {
			fprintf(ctx->out, "%s\n", sub.job_id);
		}
		ctx_msg(ctx, "staged %s (%lld bytes, sha256 %.12s...) and queued import job %s; "
			"follow it with 'acmectl jobs show %s'", what, sub.size, sub.sha256, sub.job_id,
			sub.job_id);
		status = 0;
		goto out;
	}
	if (ctx->fmt_given && (ctx->fmt == OUT_JSON || ctx->fmt == OUT_NDJSON)) {
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s}", "event", "queued", "job_id",
				      sub.job_id, "upload_id", (json_int_t)sub.upload_id, "size",
				      (json_int_t)sub.size, "sha256", sub.sha256);
		output_json(ctx->out, o, false);
		json_decref(o);
		fflush(ctx->out);
	} else if (!ctx->stderr_tty) {
		ctx_msg(ctx, "import job %s queued", sub.job_id);
	}

	/* 3. follow it */
	if (queue_init(&q, ctx->s.redis, config_get(&ctx->s.cfg, CFG_REDIS_PREFIX), &ctx->err) < 0)
		goto out;
	have_q = true;
	status = follow_job(ctx, &q, sub.job_id, started, args_int(a, "timeout", 0));
out:
	if (fd > STDIN_FILENO)
		close(fd);
	if (have_q)
		queue_release(&q);
	import_submit_release(&sub);
	import_params_release(&params);
	return status;
}

const struct opt import_opts[] = {
	{ "wait", 'w', OPT_FLAG, NULL, "follow the job to its end: progress, then a summary",
	  0, 0, NULL, 0 },
	{ "timeout", 0, OPT_DURATION, "DUR", "with --wait: stop waiting after DUR (exit 75); the "
	  "job stays queued or running", 1, 30LL * 86400000, NULL, 0 },
	{ "strict", 0, OPT_FLAG, NULL, "refuse the whole file when a row is rejected or a column "
	  "is unknown", 0, 0, NULL, 0 },
	{ "dry-run", 0, OPT_FLAG, NULL, "validate and count what would change; change nothing",
	  0, 0, NULL, 0 },
	{ "delimiter", 'd', OPT_STRING, "C", "field delimiter: one character, or tab (default ,)",
	  0, 0, ",|;|tab|\\|", 0 },
	{ "map", 'm', OPT_STRING, "HEADER=FIELD", "read column HEADER as FIELD (sku, name, "
	  "description, active, price), or ignore it with -; repeatable", 0, 0, NULL, OPT_REPEAT },
	{ "method", 0, OPT_STRING, "HOW", "how products change: merge (row by row), rebuild (a new "
	  "table with its indexes built in bulk, swapped in) or auto (default: rebuild when the file "
	  "writes half the catalog or more)", 0, 0, "auto|merge|rebuild", 0 },
	{ "encoding", 0, OPT_STRING, "ENC", "the file's encoding: utf-8 (default), windows-1252 "
	  "(Excel's CSV) or latin1; converted to UTF-8 while staging", 0, 0,
	  "utf-8|windows-1252|latin1", 0 },
	OPT_END
};

const char import_summary[] = "import products from a CSV file (or stdin), overwriting by SKU";
const char import_usage[] = "FILE|- [--wait [--timeout DUR]] [--strict] [--dry-run] [--delimiter C] "
	"[--map HEADER=FIELD]... [--method HOW] [--encoding ENC] [-o json]";

const struct cmd_entry cmd_import = {
	.name = "import",
	.summary = import_summary,
	.usage = import_usage,
	.description = "Stages the file in PostgreSQL and queues an import job for 'acmectl worker';\n"
		       "prints the job id. With --wait, follows the job to its end; Ctrl-C then\n"
		       "detaches without cancelling, and 'acmectl jobs watch ID' follows it again\n"
		       "with the same exit codes: 0 imported, 65 rows rejected or the file refused,\n"
		       "1 the job failed (after its retries), 4 it was cancelled, 75 --timeout\n"
		       "passed (the job stays queued). A job no worker takes for 5 s gets a line\n"
		       "saying why (no live worker serves queue import, or it is paused).",
	.opts = import_opts,
	.exec = import_exec,
	.flags = CMD_NEEDS_DB | CMD_NEEDS_REDIS,
	.min_args = 1,
	.max_args = 1,
	.arg_complete = "file",
};

/* ---- acmectl jobs errors ------------------------------------------------------------------- */

struct errors_out {
	struct output *o;
};

static int print_error_row(void *user, const struct import_error_row *row, struct acme_err *err)
{
	struct errors_out *eo = user;
	char line[24];
	(void)err;
	snprintf(line, sizeof(line), "%lld", row->line);
	const char *values[4] = { line, row->column, row->message, row->record };
	output_row(eo->o, values);
	return 0;
}

/* ---- jobs errors --rows: the rejected records, to fix and import again ---- */

struct rows_out {
	struct ctx *ctx;
	const char *header;       /* the file's header as CSV */
	char delim;
	bool begun;
	long long written;
};

/* One CSV value, quoted when it needs to be. */
static void put_csv_value(FILE *f, const char *s, char delim)
{
	if (!strchr(s, delim) && !strpbrk(s, "\"\r\n") && s[0] != ' ' &&
	    (!s[0] || s[strlen(s) - 1] != ' ')) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int print_error_record(void *user, const struct import_error_row *row, struct acme_err *err)
{
	struct rows_out *ro = user;
	FILE *f = ro->ctx->out;
	(void)err;
	if (row->line <= 0 || !row->raw) {
		ctx_msg(ro->ctx, "not written: the file as a whole: %s", row->message);
		return 0;
	}
	if (strncmp(row->message, CSVIMPORT_TOO_LONG, strlen(CSVIMPORT_TOO_LONG)) == 0) {
		ctx_msg(ro->ctx, "not written: line %lld: %s; take it from the file itself", row->line,
			row->message);
		return 0;
	}
	if (!ro->begun) {
		fputs(ro->header, f);
		fputc(ro->delim, f);
		fputs("error\n", f);
		ro->begun = true;
	}
	fwrite(row->raw, 1, row->raw_len, f);
	fputc(ro->delim, f);
	char *msg = xasprintf("line %lld: %s%s%s", row->line, row->column ? row->column : "",
			      row->column ? ": " : "", row->message);
	put_csv_value(f, msg, ro->delim);
	free(msg);
	fputc('\n', f);
	ro->written++;
	return 0;
}

static int jobs_errors_rows(struct ctx *ctx, const char *id, const struct job_row *job)
{
	json_t *res = load_json(job->result);
	const char *header = json_string_value(json_object_get(res, "header"));
	const char *delim = json_string_value(json_object_get(res, "delimiter"));
	struct rows_out ro = { ctx, header, delim && delim[0] ? delim[0] : ',', false, 0 };
	int rc = -1;

	if (ctx->fmt_given && ctx->fmt != OUT_CSV) {
		acme_err_set(&ctx->err, ACME_E_USAGE, "jobs errors --rows: writes CSV as the file was; "
			     "leave out -o");
		goto out;
	}
	if (!header) {
		acme_err_set(&ctx->err, ACME_E_FAILURE, "jobs errors --rows: job %s kept no header (its "
			     "file was refused as a whole, or it ran before acmectl kept one); 'acmectl "
			     "jobs errors %s' lists its rejected rows", id, id);
		goto out;
	}
	long long n = import_errors_each(ctx->s.db, id, print_error_record, &ro, &ctx->err);
	if (n < 0)
		goto out;
	if (ro.written == 0)
		ctx_msg(ctx, "job %s has no rejected records to write", id);
	else if (job->state != JOB_SUCCEEDED)
		ctx_msg(ctx, "note: job %s imported nothing (%s): once these rows are fixed, import the "
			"whole file again, not only these rows", id, job->error ? job->error : "failed");
	else if (json_is_true(json_object_get(res, "dry_run")))
		ctx_msg(ctx, "note: job %s was a --dry-run: it imported nothing", id);
	else
		ctx_msg(ctx, "%lld rejected record%s under the file's header; fix them and import the file "
			"as it is (with the same --delimiter and --map; the error column is ignored)",
			ro.written, ro.written == 1 ? "" : "s");
	rc = 0;
out:
	json_decref(res);
	return rc;
}

int jobs_errors_exec(struct ctx *ctx, struct args *a)
{
	static const struct out_col cols[] = {
		{ "line", COL_INT }, { "column", COL_STR }, { "message", COL_STR }, { "record", COL_STR },
	};
	struct job_row row = { 0 };
	const char *id = a->argv[0];
	enum out_format fmt = ctx->fmt_given ? ctx->fmt : OUT_CSV;

	if (queue_check_id(id, &ctx->err) < 0 || job_get(ctx->s.db, id, &row, &ctx->err) < 0)
		return -1;
	if (strcmp(row.type, IMPORT_JOB_TYPE) != 0) {
		acme_err_set(&ctx->err, ACME_E_USAGE, "jobs errors: job %s is a %s job; only imports have "
			     "rejected rows", id, row.type);
		job_row_release(&row);
		return -1;
	}
	if (args_has(a, "rows")) {
		int rc = jobs_errors_rows(ctx, id, &row);
		job_row_release(&row);
		return rc;
	}
	job_row_release(&row);
	struct errors_out eo = { output_new(ctx->out, fmt, cols, 4) };
	output_set_color(eo.o, ctx->color);
	output_set_headers(eo.o, !ctx->no_headers);
	if (ctx->columns && output_select_columns(eo.o, ctx->columns, &ctx->err) < 0) {
		output_set_headers(eo.o, false);
		output_end(eo.o, NULL);
		return -1;
	}
	long long n = import_errors_each(ctx->s.db, id, print_error_row, &eo, &ctx->err);
	output_end(eo.o, NULL);
	if (n < 0)
		return -1;
	if (n == 0)
		ctx_msg(ctx, "job %s has no rejected rows", id);
	return 0;
}

const struct opt jobs_errors_opts[] = {
	{ "rows", 0, OPT_FLAG, NULL, "write the rejected records under the file's own header, "
	  "plus an error column: fix them and import that file as it is", 0, 0, NULL, 0 },
	OPT_END
};
