/* import.c — the Import tab: choose a CSV file (a path prompt with Tab
 * completion, or ":import PATH" from any tab), set the options (delimiter,
 * strict, dry run), and follow the import live to its summary and its first
 * rejected rows; the recent imports below.
 *
 * The parts, and where each runs:
 *
 *   submit     import_submit() (core/importsubmit.c), the function `acmectl
 *              import` calls: it stages the file and queues the job, so it
 *              blocks and runs as a task on the writer thread. The bytes
 *              staged come back through an atomic counter the screen shows.
 *   follow     core/jobwatch on the loop: its socket joins the poll set
 *              through pollfds/pollin (jobwatch_read when readable, then
 *              jobwatch_next until JOBWATCH_NONE); while it is disconnected
 *              tick calls jobwatch_next, which reconnects (once a second) and
 *              takes a fresh snapshot. A resync every 2 s guards against a
 *              missed message, as `jobs watch` does. Events are read the way
 *              `import --wait` and `jobs watch` read them: "progress" carries
 *              the progress object (phase, bytes, bytes_total, rows, rejected,
 *              elapsed_ms), anything else a state, a snapshot the whole job.
 *   finish     once the job is final, a task reads its row (the result with
 *              the counts, the error) and its first rejected rows with
 *              import_errors_each(), the function `acmectl jobs errors` uses.
 *   recent     the newest import jobs, job_list_start()/job_list_finish()
 *              through a slot, every few seconds while the tab is shown;
 *              marked stale while the database is unreachable.
 *
 * A generation counter ties tasks to the import they were started for: a
 * newer import (or Enter on a recent one) makes the older results moot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/import.h"
#include "core/job.h"
#include "core/jobwatch.h"
#include "core/output.h"
#include "core/recode.h"
#include "core/xalloc.h"
#include "tui/tui.h"

#define WATCH_TIMEOUT_MS 200

#define RECENT_MS        3000    /* refresh the recent imports this often */
#define RECENT_RETRY_MS  1000
#define RECENT_DEADLINE  5000
#define RECENT_MAX       20
#define RESYNC_MS        2000    /* a snapshot this often against a missed message */
#define WATCH_RETRY_MS   1000
#define REJ_MAX          200     /* rejected rows read for the screen */
#define SNIFF_BYTES      65536   /* what "auto" reads of the file to choose a delimiter */

/* the delimiter toggle */
static const char *const delim_name[] = { "auto", "comma", "semicolon", "tab", "pipe" };
static const char delim_char[] = { 0, ',', ';', '\t', '|' };
#define NDELIM 5

enum phase {
	PH_IDLE,          /* nothing yet */
	PH_SUBMITTING,    /* staging the file and queueing the job (a task) */
	PH_WATCHING,      /* following the job's events */
	PH_FINISHING,     /* final: reading the result and rejected rows (a task) */
	PH_DONE,          /* the summary is on screen */
	PH_FAILED,        /* not submitted, or the result could not be read */
};

struct rej {
	long long line;
	char *column, *message;
};

struct submit;

struct istate {
	/* options */
	int delim;
	bool strict, dry_run;
	/* the import on screen */
	unsigned gen;
	enum phase phase;
	char path[EDIT_MAX];
	char *job_id, *queue;
	struct submit *sub;           /* while PH_SUBMITTING */
	char delim_used;              /* what was submitted ("auto" resolved) */
	bool sub_strict, sub_dry_run;
	struct jobwatch jw;
	bool have_jw;
	long long watch_retry;        /* monotonic ms: next jobwatch_open */
	long long next_resync;
	bool checking;                /* a finish task is running */
	bool lost_said;
	bool have_state;
	enum job_state state;
	int attempts;
	json_t *progress, *result;
	char *error;
	char message[1024];           /* why it failed, or a note */
	/* the rejected rows */
	struct rej rej[REJ_MAX];
	size_t nrej;
	/* the recent imports */
	struct slot recent;
	struct job_row *rows;
	size_t nrows, sel;
	bool recent_loaded, recent_stale;
	long long recent_due;
	char recent_error[256];
	/* the path prompt */
	char last_dir[EDIT_MAX];
	/* where the last draw put the recent rows (view rows), for a click */
	int click_y0, click_n;
	size_t click_first;
};

/* ---- small helpers ---- */

static long long jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}


static const char *delim_text(char c)
{
	switch (c) {
	case 0: case ',': return "comma";
	case ';': return "semicolon";
	case '\t': return "tab";
	case '|': return "pipe";
	default: return "?";
	}
}

static json_t *load_object(const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void rej_clear(struct istate *p)
{
	for (size_t i = 0; i < p->nrej; i++) {
		free(p->rej[i].column);
		free(p->rej[i].message);
	}
	p->nrej = 0;
}

static void watch_close(struct istate *p)
{
	if (p->have_jw)
		jobwatch_close(&p->jw);
	p->have_jw = false;
}

/* Forget the import on screen (a new one starts, or another is shown). */
static void import_reset(struct istate *p)
{
	p->gen++;
	watch_close(p);
	free(p->job_id);
	free(p->queue);
	p->job_id = p->queue = NULL;
	json_decref(p->progress);
	json_decref(p->result);
	p->progress = p->result = NULL;
	free(p->error);
	p->error = NULL;
	p->message[0] = '\0';
	p->have_state = false;
	p->attempts = 0;
	p->checking = false;
	p->lost_said = false;
	rej_clear(p);
}

/* ---- the recent imports (a slot) ---- */

static const struct job_filter recent_filter = { NULL, IMPORT_JOB_TYPE, NULL, RECENT_MAX, NULL };

static int recent_done(struct tui *t, struct slot *s, void *arg)
{
	struct istate *p = arg;
	struct acme_err err = { 0 };
	struct job_row *rows = NULL;
	char *next = NULL;
	int n = job_list_finish(&s->call, &recent_filter, &rows, &next, &err);
	free(next);
	if (n < 0) {
		p->recent_stale = p->recent_loaded;
		snprintf(p->recent_error, sizeof p->recent_error, "%s", err.msg);
		p->recent_due = t->now + RECENT_RETRY_MS;
		slot_finished(s, &err);
		return RD_VIEW;
	}
	job_rows_free(p->rows, p->nrows);
	p->rows = rows;
	p->nrows = (size_t)n;
	if (p->sel >= p->nrows)
		p->sel = p->nrows ? p->nrows - 1 : 0;
	p->recent_loaded = true;
	p->recent_stale = false;
	p->recent_error[0] = '\0';
	p->recent_due = t->now + RECENT_MS;
	slot_finished(s, NULL);
	return RD_VIEW;
}

static void start_recent(struct tui *t, struct istate *p)
{
	struct acme_err err = { 0 };
	if (job_list_start(&p->recent.call, p->recent.db, &recent_filter, RECENT_DEADLINE, &err) < 0) {
		snprintf(p->recent_error, sizeof p->recent_error, "%s", err.msg);
		p->recent_stale = p->recent_loaded;
		p->recent_due = t->now + RECENT_RETRY_MS;
		slot_finished(&p->recent, &err);
		return;
	}
	slot_started(&p->recent);
	p->recent_due = 0;
}

/* ---- finish: the final job's row and its first rejected rows (a task) ---- */

struct finish {
	struct istate *p;
	unsigned gen;
	char *id;
	struct job_row row;
	struct rej rej[REJ_MAX];
	size_t nrej;
	bool stopped, final;
};

static int keep_rejected(void *user, const struct import_error_row *row, struct acme_err *err)
{
	struct finish *f = user;
	if (f->nrej >= REJ_MAX) {
		/* enough for the screen: stop reading (import_errors_each cancels) */
		f->stopped = true;
		return acme_err_set(err, ACME_E_OK, "enough rows");
	}
	struct rej *r = &f->rej[f->nrej++];
	r->line = row->line;
	r->column = row->column ? xstrdup(row->column) : NULL;
	r->message = xstrdup(row->message);
	return 0;
}

static int finish_run(struct task_env *env, void *arg, struct acme_err *err)
{
	struct finish *f = arg;
	PGconn *db = task_db(env, err);
	if (!db)
		return -1;
	if (job_get(db, f->id, &f->row, err) < 0)
		return -1;
	f->final = job_state_is_final(f->row.state);
	if (!f->final)
		return 0;
	if (import_errors_each(db, f->id, keep_rejected, f, err) < 0 && !f->stopped)
		return -1;
	memset(err, 0, sizeof *err);
	return 0;
}

static void finish_free(struct finish *f)
{
	for (size_t i = 0; i < f->nrej; i++) {
		free(f->rej[i].column);
		free(f->rej[i].message);
	}
	job_row_release(&f->row);
	free(f->id);
	free(f);
}

/* The outcome as one line for the status (job_outcome's words). */
static void outcome_status(struct tui *t, struct istate *p)
{
	long long rejected = jint(p->result, "rejected");
	bool dry = json_is_true(json_object_get(p->result, "dry_run"));
	switch (p->state) {
	case JOB_SUCCEEDED:
		if (rejected > 0)
			tui_status(t, UI_WARN, "import %s%s: %lld row%s rejected (shown below)", p->job_id,
				   dry ? " (dry run)" : "", rejected, rejected == 1 ? "" : "s");
		else
			tui_status(t, UI_OK, "import %s%s succeeded", p->job_id, dry ? " (dry run)" : "");
		break;
	case JOB_CANCELLED:
		tui_status(t, UI_WARN, "import %s was cancelled; nothing was applied", p->job_id);
		break;
	default:
		tui_status(t, UI_ERROR, "import %s %s: %s", p->job_id, job_state_name(p->state),
			   p->error ? p->error : "no reason given");
		break;
	}
}

static int finish_done(struct tui *t, void *arg, int rc, const struct acme_err *err)
{
	struct finish *f = arg;
	struct istate *p = f->p;
	if (f->gen != p->gen) {
		finish_free(f);
		return RD_NONE;
	}
	p->checking = false;
	if (rc < 0) {
		/* try again: the job is final, its row is what we lack */
		snprintf(p->message, sizeof p->message, "cannot read the result yet: %s", err->msg);
		p->next_resync = t->now + RESYNC_MS;
		finish_free(f);
		return RD_VIEW;
	}
	if (!f->final) {
		/* Redis lost a job whose row is unfinished: say so once, keep watching */
		if (!p->lost_said)
			tui_status(t, UI_WARN, "job %s is %s in PostgreSQL but Redis does not have it; "
				   "'acmectl jobs retry %s' queues it again (still watching)", f->id,
				   job_state_name(f->row.state), f->id);
		p->lost_said = true;
		p->state = f->row.state;
		p->have_state = true;
		finish_free(f);
		return RD_ALL;
	}
	watch_close(p);
	p->state = f->row.state;
	p->have_state = true;
	p->attempts = f->row.attempts;
	json_decref(p->result);
	p->result = load_object(f->row.result);
	free(p->error);
	p->error = f->row.error && f->row.state != JOB_SUCCEEDED ? xstrdup(f->row.error) : NULL;
	if (!p->progress)
		p->progress = load_object(f->row.progress);
	rej_clear(p);
	memcpy(p->rej, f->rej, sizeof(struct rej) * f->nrej);
	p->nrej = f->nrej;
	f->nrej = 0;
	p->phase = PH_DONE;
	p->message[0] = '\0';
	p->recent_due = t->now;
	outcome_status(t, p);
	finish_free(f);
	return RD_ALL;
}

static void start_finish(struct tui *t, struct istate *p)
{
	if (p->checking || !p->job_id)
		return;
	struct finish *f = xcalloc(1, sizeof *f);
	f->p = p;
	f->gen = p->gen;
	f->id = xstrdup(p->job_id);
	p->checking = true;
	if (p->phase == PH_WATCHING && p->have_state && job_state_is_final(p->state))
		p->phase = PH_FINISHING;
	tui_task(t, finish_run, finish_done, f);
}

/* ---- follow: the job's events (core/jobwatch) ---- */

static void set_state_from(struct istate *p, json_t *ev)
{
	const char *state = json_string_value(json_object_get(ev, "state"));
	enum job_state st;
	if (state && state[0] && job_state_parse(state, &st) == 0) {
		p->state = st;
		p->have_state = true;
	}
	json_t *a = json_object_get(ev, "attempts");
	if (json_is_integer(a))
		p->attempts = (int)json_integer_value(a);
	const char *error = json_string_value(json_object_get(ev, "error"));
	if (error) {
		free(p->error);
		p->error = xstrdup(error);
	}
}

/* One event: as `import --wait` reads them. */
static void on_event(struct tui *t, struct istate *p, json_t *ev)
{
	const char *kind = json_string_value(json_object_get(ev, "event"));
	if (kind && strcmp(kind, "progress") == 0) {
		json_t *pr = json_object_get(ev, "progress");
		if (json_is_object(pr)) {
			json_decref(p->progress);
			p->progress = json_incref(pr);
		}
		if (!p->have_state || p->state != JOB_RUNNING) {
			p->state = JOB_RUNNING;
			p->have_state = true;
		}
		return;
	}
	if (kind && strcmp(kind, "snapshot") == 0) {
		if (!json_object_get(ev, "state")) {
			/* Redis does not have the job: its row says (a task) */
			start_finish(t, p);
			return;
		}
		set_state_from(p, ev);
		json_t *pr = json_object_get(ev, "progress");
		if (json_is_object(pr)) {
			json_decref(p->progress);
			p->progress = json_incref(pr);
		}
		return;
	}
	set_state_from(p, ev);
	if (p->have_state && p->state == JOB_RETRYING)
		tui_status(t, UI_WARN, "import %s: the attempt failed; it will be retried%s%s",
			   p->job_id, p->error ? ": " : "", p->error ? p->error : "");
}

/* Every event already received; then, at the end, the result. */
static int watch_drain(struct tui *t, struct istate *p)
{
	int rd = RD_NONE;
	for (int i = 0; i < 1000 && p->have_jw; i++) {
		json_t *ev = NULL;
		struct acme_err err = { 0 };
		int got = jobwatch_next(&p->jw, &ev, &err);
		if (got <= 0)
			break;
		on_event(t, p, ev);
		json_decref(ev);
		rd |= RD_VIEW;
	}
	if (p->phase == PH_WATCHING && p->have_state && job_state_is_final(p->state))
		start_finish(t, p);
	return rd;
}

static void watch_open(struct tui *t, struct istate *p)
{
	struct acme_err err = { 0 };
	/* no PostgreSQL connection lent: a job Redis lost is read by a task */
	/* the watch's connects and snapshots happen on the loop: keep them short
	 * (the local socket answers at once; a remote Redis that went away costs
	 * at most WATCH_TIMEOUT_MS per attempt, once a second) */
	if (jobwatch_open_ms(&p->jw, t->cfg, NULL, p->queue, p->job_id, WATCH_TIMEOUT_MS,
			     &err) < 0) {
		snprintf(p->message, sizeof p->message, "cannot follow the job: %s; retrying",
			 err.msg);
		p->watch_retry = t->now + WATCH_RETRY_MS;
		return;
	}
	p->have_jw = true;
	p->message[0] = '\0';
	p->next_resync = t->now + RESYNC_MS;
	watch_drain(t, p);
}

/* ---- submit (a task) ---- */

struct submit {
	struct istate *p;
	unsigned gen;
	char path[EDIT_MAX];
	bool auto_delim;
	struct import_params params;
	struct import_submit sub;
	_Atomic long long staged;
	long long total;
};

static void staged_bytes(void *arg, long long bytes)
{
	struct submit *s = arg;
	atomic_store(&s->staged, bytes);
}

/* "auto": the candidate that splits the header line most often (outside
 * quotes); a comma when none does. */
static char sniff_delimiter(int fd)
{
	static const char cand[] = { ',', ';', '\t', '|' };
	char *buf = xmalloc(SNIFF_BYTES);
	ssize_t n = pread(fd, buf, SNIFF_BYTES, 0);
	int count[4] = { 0 };
	bool quoted = false;
	for (ssize_t i = 0; i < n; i++) {
		char c = buf[i];
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && (c == '\n' || c == '\r'))
			break;
		else if (!quoted)
			for (int k = 0; k < 4; k++)
				count[k] += c == cand[k];
	}
	free(buf);
	int best = 0;
	for (int k = 1; k < 4; k++)
		if (count[k] > count[best])
			best = k;
	return cand[best];
}

static int submit_run(struct task_env *env, void *arg, struct acme_err *err)
{
	struct submit *s = arg;
	int fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return acme_err_set(err, errno == ENOENT ? ACME_E_NOT_FOUND : ACME_E_FAILURE,
				    "import: %s: %s", s->path, strerror(errno));
	int rc = -1;
	struct stat st;
	if (fstat(fd, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			acme_err_set(err, ACME_E_USAGE, "import: %s is a directory; choose a CSV file",
				     s->path);
			goto out;
		}
		if (S_ISREG(st.st_mode))
			s->total = st.st_size;
	}
	if (s->auto_delim)
		s->params.delimiter = S_ISREG(st.st_mode) ? sniff_delimiter(fd) : ',';
	if (import_params_check(&s->params, err) < 0)
		goto out;
	PGconn *db = task_db(env, err);
	if (!db)
		goto out;
	redisContext *rd = task_redis(env, err);
	if (!rd)
		goto out;
	s->sub.fd = fd;
	s->sub.enc = RECODE_UTF8;
	s->sub.what = s->path;
	s->sub.params = &s->params;
	s->sub.progress = staged_bytes;
	s->sub.progress_arg = s;
	rc = import_submit(db, rd, config_get(env->cfg, CFG_REDIS_PREFIX), &s->sub, err);
out:
	close(fd);
	return rc;
}

static void submit_free(struct submit *s)
{
	import_submit_release(&s->sub);
	import_params_release(&s->params);
	free(s);
}

static int submit_done(struct tui *t, void *arg, int rc, const struct acme_err *err)
{
	struct submit *s = arg;
	struct istate *p = s->p;
	if (p->sub == s)
		p->sub = NULL;
	if (s->gen != p->gen) {
		submit_free(s);
		return RD_NONE;
	}
	if (rc < 0) {
		p->phase = PH_FAILED;
		snprintf(p->message, sizeof p->message, "%s", err->msg);
		tui_status(t, UI_ERROR, "%s", err->msg);
		submit_free(s);
		return RD_ALL;
	}
	p->delim_used = s->params.delimiter;
	p->job_id = xstrdup(s->sub.job_id);
	p->queue = xstrdup(s->sub.queue ? s->sub.queue : IMPORT_QUEUE);
	p->phase = PH_WATCHING;
	p->state = JOB_QUEUED;
	p->have_state = true;
	p->recent_due = t->now;
	if (s->sub.invalid_utf8)
		tui_status(t, UI_WARN, "%s is not valid UTF-8 (line %lld: byte 0x%02x)%s: rows with "
			   "such bytes will be rejected", s->path, s->sub.bad_line, s->sub.bad_byte,
			   s->sub.cp1252 ? " and looks like Windows-1252" : "");
	else if (s->sub.link_warning[0])
		tui_status(t, UI_WARN, "%s", s->sub.link_warning);
	else
		tui_status(t, UI_INFO, "staged %s (%lld bytes) and queued import job %s",
			   s->path, s->sub.size, p->job_id);
	submit_free(s);
	watch_open(t, p);
	return RD_ALL;
}

int tui_import_start(struct tui *t, const char *path)
{
	struct istate *p = t->views[TAB_IMPORT].priv;
	tui_switch(t, TAB_IMPORT);
	if (!p) {
		tui_status(t, UI_ERROR, "import: the Import tab could not open");
		return -1;
	}
	while (*path == ' ')
		path++;
	if (!*path) {
		tui_status(t, UI_ERROR, "import: give a file: :import PATH");
		return -1;
	}
	if (p->phase == PH_SUBMITTING) {
		tui_status(t, UI_ERROR, "import: %s is still being staged; wait for it to be queued",
			   p->path);
		return -1;
	}
	import_reset(p);
	snprintf(p->path, sizeof p->path, "%s", path);
	/* the prompt opens in this directory next time */
	const char *slash = strrchr(p->path, '/');
	if (slash)
		snprintf(p->last_dir, sizeof p->last_dir, "%.*s", (int)(slash - p->path + 1), p->path);
	struct submit *s = xcalloc(1, sizeof *s);
	s->p = p;
	s->gen = p->gen;
	snprintf(s->path, sizeof s->path, "%s", p->path);
	s->auto_delim = delim_char[p->delim] == 0;
	s->params.delimiter = delim_char[p->delim];
	s->params.strict = p->strict;
	s->params.dry_run = p->dry_run;
	s->total = -1;
	p->sub_strict = p->strict;
	p->sub_dry_run = p->dry_run;
	p->delim_used = delim_char[p->delim];
	p->sub = s;
	p->phase = PH_SUBMITTING;
	tui_status(t, UI_INFO, "staging %s...", p->path);
	tui_task(t, submit_run, submit_done, s);
	t->redraw |= RD_ALL;
	return 0;
}

/* Show a recent import: its summary when it ended, else follow it. */
static int show_job(struct tui *t, struct istate *p, const struct job_row *row)
{
	if (p->phase == PH_SUBMITTING) {
		tui_status(t, UI_ERROR, "import: %s is still being staged", p->path);
		return RD_STATUS;
	}
	import_reset(p);
	p->job_id = xstrdup(row->id);
	p->queue = xstrdup(row->queue ? row->queue : IMPORT_QUEUE);
	/* a listed row has no payload; the result says what the options were */
	json_t *opts = load_object(row->payload ? row->payload : row->result);
	const char *d = json_string_value(json_object_get(opts, "delimiter"));
	p->delim_used = d ? d[0] : ',';
	p->sub_strict = json_is_true(json_object_get(opts, "strict"));
	p->sub_dry_run = json_is_true(json_object_get(opts, "dry_run"));
	json_decref(opts);
	snprintf(p->path, sizeof p->path, "(upload of job %s)", row->id);
	p->state = row->state;
	p->have_state = true;
	p->progress = load_object(row->progress);
	p->phase = PH_WATCHING;
	if (job_state_is_final(row->state))
		start_finish(t, p);
	else
		watch_open(t, p);
	return RD_ALL;
}

/* ---- the path prompt ---- */

static int path_tab(struct tui *t, void *arg, struct lineedit *e)
{
	(void)arg;
	char msg[256] = "";
	edit_complete_path(e, msg, sizeof msg);
	if (msg[0])
		tui_status(t, UI_INFO, "%s", msg);
	return RD_STATUS;
}

/* A path that cannot be imported closes the prompt with the reason on the
 * status line (a prompt covers the status line while it is open); i opens it
 * again in the same directory. */
static int path_accept(struct tui *t, void *arg, const char *text)
{
	struct istate *p = arg;
	while (*text == ' ')
		text++;
	if (!*text) {
		tui_status(t, UI_ERROR, "import: no file given; press i and type a path (Tab completes it)");
		return 0;
	}
	struct stat st;
	const char *why = NULL;
	if (stat(text, &st) < 0)
		why = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = "is a directory; choose a CSV file";
	if (why) {
		tui_status(t, UI_ERROR, "import: %s: %s; press i to choose another", text, why);
		const char *slash = strrchr(text, '/');
		if (slash)
			snprintf(p->last_dir, sizeof p->last_dir, "%.*s", (int)(slash - text + 1), text);
		return 0;
	}
	tui_import_start(t, text);
	return RD_ALL;
}

static int path_cancel(struct tui *t, void *arg)
{
	(void)arg;
	tui_status(t, UI_INFO, "import cancelled");
	return RD_STATUS;
}

static const struct prompt_ops path_ops = { NULL, path_accept, path_cancel, path_tab };

/* ---- drawing ---- */

static void draw_progress(struct istate *p, int y, int w)
{
	char line[512], b1[32], b2[32], r[32], d[32];
	int barw = w / 3 < 40 ? w / 3 : 40;
	double frac = 0;
	line[0] = '\0';
	json_t *pr = p->progress;
	const char *phase = json_string_value(json_object_get(pr, "phase"));
	long long bytes = jint(pr, "bytes"), total = jint(pr, "bytes_total");
	long long rows = jint(pr, "rows"), rejected = jint(pr, "rejected"), ms = jint(pr, "elapsed_ms");
	if (p->phase == PH_SUBMITTING) {
		long long staged = p->sub ? atomic_load(&p->sub->staged) : 0;
		long long size = p->sub ? p->sub->total : -1;
		frac = size > 0 ? (double)staged / (double)size : 0;
		if (size > 0)
			snprintf(line, sizeof line, "%3.0f%%  staging  %s of %s", 100 * frac,
				 human_bytes(b1, sizeof b1, (double)staged), human_bytes(b2, sizeof b2, (double)size));
		else
			snprintf(line, sizeof line, "staging  %s", human_bytes(b1, sizeof b1, (double)staged));
	} else if (p->have_state && p->state == JOB_SUCCEEDED) {
		frac = 1;
		long long dur = jint(p->result, "duration_ms");
		long long n = jint(p->result, "rows");
		double rate = dur > 0 && n >= 0 ? (double)n * 1000.0 / (double)dur : 0;
		int k = snprintf(line, sizeof line, "100%%  done");
		if (n >= 0)
			k += snprintf(line + k, sizeof line - (size_t)k, "  %lld rows", n);
		if (dur >= 0)
			k += snprintf(line + k, sizeof line - (size_t)k, " in %.1f s", (double)dur / 1000.0);
		if (rate > 0)
			snprintf(line + k, sizeof line - (size_t)k, "  %s rows/s", human_rate(r, sizeof r, rate));
	} else if (p->have_state && job_state_is_final(p->state)) {
		frac = total > 0 && bytes >= 0 ? (double)bytes / (double)total : 0;
		snprintf(line, sizeof line, "%3.0f%%  %s", 100 * frac, job_state_name(p->state));
	} else if (p->have_state && p->state != JOB_RUNNING) {
		snprintf(line, sizeof line, "  0%%  %s: waiting for a worker%s", job_state_name(p->state),
			 p->attempts > 0 ? " (it will be retried)" : "");
	} else if (phase && strcmp(phase, "parse") == 0 && total > 0) {
		frac = (double)bytes / (double)total;
		double rate = ms > 0 ? (double)rows * 1000.0 / (double)ms : 0;
		double brate = ms > 0 ? (double)bytes * 1000.0 / (double)ms : 0;
		long long eta = brate > 0 ? (long long)((double)(total - bytes) * 1000.0 / brate) : -1;
		int k = snprintf(line, sizeof line, "%3.0f%%  parse  %s of %s  %lld rows  %s rows/s",
				 100 * frac, human_bytes(b1, sizeof b1, (double)bytes),
				 human_bytes(b2, sizeof b2, (double)total), rows, human_rate(r, sizeof r, rate));
		if (rejected > 0)
			k += snprintf(line + k, sizeof line - (size_t)k, "  %lld rejected", rejected);
		if (eta >= 0)
			snprintf(line + k, sizeof line - (size_t)k, "  ETA %s",
				 human_duration(d, sizeof d, eta));
	} else if (phase && strcmp(phase, "merge") == 0) {
		frac = total > 0 ? (double)bytes / (double)total : 1;
		const char *step = json_string_value(json_object_get(pr, "step"));
		double rate = ms > 0 ? (double)rows * 1000.0 / (double)ms : 0;
		snprintf(line, sizeof line, "%3.0f%%  merge %s  %lld rows read, %lld rejected  %s rows/s  %s",
			 100 * frac, step ? step : "", rows, rejected, human_rate(r, sizeof r, rate),
			 human_duration(d, sizeof d, ms));
	} else {
		snprintf(line, sizeof line, "  0%%  %s  %s", phase ? phase : "running",
			 ms >= 0 ? human_duration(d, sizeof d, ms) : "");
	}
	ui_text(y, 1, 1, "[", UI_NORMAL, false);
	ui_bar(y, 2, barw, frac, UI_BAR);
	ui_text(y, 2 + barw, 1, "]", UI_NORMAL, false);
	ui_text(y, 4 + barw, w - barw - 5, line, UI_NORMAL, false);
}

static void draw_summary(struct istate *p, int y, int w)
{
	json_t *res = p->result;
	if (!res) {
		ui_text(y, 1, w - 2, "no counts recorded", UI_DIM, false);
		return;
	}
	static const char *const keys[] = { "inserted", "updated", "unchanged", "rejected",
					    "duplicates" };
	int x = 1;
	for (size_t i = 0; i < 5 && x < w - 2; i++) {
		long long v = jint(res, keys[i]);
		char buf[64];
		snprintf(buf, sizeof buf, "%s%s %lld", i ? "  " : "", keys[i], v < 0 ? 0 : v);
		x += ui_text(y, x, w - 1 - x, buf,
			     strcmp(keys[i], "rejected") == 0 && v > 0 ? UI_WARN : UI_BOLD, false);
	}
	long long rows = jint(res, "rows");
	char tail[256];
	int k = snprintf(tail, sizeof tail, "   of %lld rows", rows < 0 ? 0 : rows);
	if (json_is_true(json_object_get(res, "dry_run")))
		snprintf(tail + k, sizeof tail - (size_t)k, "  (dry run: nothing was changed)");
	if (x < w - 2)
		ui_text(y, x, w - 1 - x, tail, UI_NORMAL, false);
}

static void import_draw(struct tui *t, struct view *v, int y, int h, int w)
{
	struct istate *p = v->priv;
	int bottom = y + h;
	p->click_n = 0;
	/* the options */
	char opts[256];
	snprintf(opts, sizeof opts, "Options:  o delimiter: %s   S strict: %s   y dry run: %s",
		 delim_name[p->delim], p->strict ? "on" : "off", p->dry_run ? "on" : "off");
	int x = ui_text(y, 1, w - 2, opts, UI_BOLD, false);
	ui_text(y, 1 + x, w - 2 - x, "     i choose a file   :import PATH", UI_DIM, false);
	int row = y + 2;
	/* the import on screen */
	if (p->phase == PH_IDLE) {
		ui_text(row, 1, w - 2, "No import yet: press i to choose a CSV file, or type :import PATH",
			UI_DIM, false);
		row += 2;
	} else {
		char head[EDIT_MAX + 256];
		snprintf(head, sizeof head, "Import %s", p->path);
		ui_text(row++, 1, w - 2, head, UI_HEADER, true);
		int k = 0;
		head[0] = '\0';
		if (p->job_id)
			k += snprintf(head + k, sizeof head - (size_t)k, "job %s   ", p->job_id);
		if (p->have_state && p->phase != PH_SUBMITTING && p->phase != PH_FAILED)
			k += snprintf(head + k, sizeof head - (size_t)k, "%s   ", job_state_name(p->state));
		snprintf(head + k, sizeof head - (size_t)k, "(delimiter %s%s%s)",
			 p->delim_used ? delim_text(p->delim_used) : "auto",
			 p->sub_strict ? ", strict" : "", p->sub_dry_run ? ", dry run" : "");
		ui_text(row++, 1, w - 2, head, UI_BOLD, false);
		if (p->phase == PH_FAILED && !p->job_id) {
			ui_textf(row++, 1, w - 2, UI_ERROR, false, "not imported: %s", p->message);
		} else {
			draw_progress(p, row++, w);
			if (p->phase == PH_DONE) {
				draw_summary(p, row++, w);
				if (p->error)
					ui_textf(row++, 1, w - 2, UI_ERROR, false, "%s: %s",
						 job_state_name(p->state), p->error);
			} else if (p->phase == PH_FINISHING) {
				ui_text(row++, 1, w - 2, "reading the result...", UI_DIM, false);
			}
			if (p->message[0])
				ui_text(row++, 1, w - 2, p->message, UI_WARN, false);
		}
		row++;
	}
	/* the recent imports take the bottom: a header, up to 8 rows */
	int recent_rows = (int)(p->nrows < 8 ? p->nrows : 8);
	if (p->phase == PH_DONE && p->nrej > 0) {
		/* share what is left with the rejected rows */
		int half = (bottom - row - 4) / 2;
		if (recent_rows > half)
			recent_rows = half;
	}
	if (recent_rows < 1)
		recent_rows = 1;
	int recent_y = bottom - 2 - recent_rows;
	/* the rejected rows in between */
	if (p->phase == PH_DONE && p->nrej > 0 && row < recent_y - 2) {
		long long rejected = jint(p->result, "rejected");
		if (rejected < (long long)p->nrej)
			rejected = (long long)p->nrej;
		char title[256];
		int shown = recent_y - 1 - (row + 2);
		if (shown > (int)p->nrej)
			shown = (int)p->nrej;
		if (shown < (long long)rejected)
			snprintf(title, sizeof title, "Rejected rows: the first %d of %lld (all of them: "
				 "acmectl jobs errors %s)", shown, rejected, p->job_id);
		else
			snprintf(title, sizeof title, "Rejected rows: %lld", rejected);
		ui_text(row++, 1, w - 2, title, UI_BOLD, false);
		ui_textf(row++, 1, w - 2, UI_HEADER, true, "%-8s %-16s %s", "Line", "Column", "Reason");
		for (size_t i = 0; i < p->nrej && row < recent_y - 1; i++) {
			const struct rej *r = &p->rej[i];
			char line[32];
			if (r->line > 0)
				snprintf(line, sizeof line, "%lld", r->line);
			else
				snprintf(line, sizeof line, "file");
			ui_text(row, 1, 8, line, UI_NORMAL, false);
			ui_text(row, 10, 16, r->column ? r->column : "-", UI_NORMAL, false);
			ui_text(row, 27, w - 28, r->message, UI_NORMAL, false);
			row++;
		}
	}
	if (recent_y < row)
		recent_y = row;
	if (recent_y >= bottom)
		return;
	/* recent imports */
	bool stale = p->recent_stale || (t->db_state == CONN_DOWN && p->recent_loaded);
	char title[512];
	snprintf(title, sizeof title, "Recent imports%s%s", stale ? "  (stale: " : "",
		 stale ? (p->recent_error[0] ? p->recent_error : "database unreachable") : "");
	if (stale)
		strncat(title, ")", sizeof title - strlen(title) - 1);
	ui_text(recent_y, 1, w - 2, title, stale ? UI_WARN : UI_BOLD, false);
	ui_textf(recent_y + 1, 1, w - 2, UI_HEADER, true, "%-26s  %-10s  %-9s  %8s  %8s  %8s  %8s  %s",
		 "Job", "State", "Created", "Rows", "Inserted", "Updated", "Rejected", "Options");
	if (!p->recent_loaded) {
		ui_text(recent_y + 2, 1, w - 2, p->recent_error[0] ? p->recent_error : "loading...",
			UI_DIM, false);
		return;
	}
	if (!p->nrows) {
		ui_text(recent_y + 2, 1, w - 2, "no imports yet", UI_DIM, false);
		return;
	}
	size_t first = p->sel >= (size_t)recent_rows ? p->sel - (size_t)recent_rows + 1 : 0;
	p->click_y0 = recent_y + 2 - y;
	p->click_first = first;
	p->click_n = 0;
	for (int i = 0; i < recent_rows && first + (size_t)i < p->nrows; i++) {
		const struct job_row *r = &p->rows[first + (size_t)i];
		int ry = recent_y + 2 + i;
		if (ry >= bottom)
			break;
		json_t *res = load_object(r->result);
		json_t *pl = load_object(r->payload);
		char ago[32], n[4][24], opt[64];
		fmt_ago(ago, sizeof ago, NULL, r->created_ms);
		static const char *const keys[] = { "rows", "inserted", "updated", "rejected" };
		for (int k = 0; k < 4; k++) {
			long long val = jint(res, keys[k]);
			if (val < 0)
				snprintf(n[k], sizeof n[k], "-");
			else
				fmt_count(n[k], sizeof n[k], val);
		}
		json_t *o = pl ? pl : res;     /* listed rows have no payload: the result */
		const char *d = json_string_value(json_object_get(o, "delimiter"));
		snprintf(opt, sizeof opt, "%s%s%s", d && d[0] != ',' ? delim_text(d[0]) : "",
			 json_is_true(json_object_get(o, "strict")) ? " strict" : "",
			 json_is_true(json_object_get(o, "dry_run")) ? " dry-run" : "");
		p->click_n = i + 1;
		bool selected = first + (size_t)i == p->sel;
		enum ui_style st = selected ? UI_SELECTED : stale ? UI_DIM : UI_NORMAL;
		ui_textf(ry, 1, w - 2, st, true, "%-26s  %-10s  %-9s  %8s  %8s  %8s  %8s  %s", r->id,
			 job_state_name(r->state), ago, n[0], n[1], n[2], n[3],
			 opt[0] == ' ' ? opt + 1 : opt);
		if (!selected && !stale) {
			enum ui_style sst = r->state == JOB_SUCCEEDED ? UI_OK :
				r->state == JOB_RUNNING ? UI_INFO :
				job_state_is_final(r->state) ? UI_ERROR : UI_NORMAL;
			ui_textf(ry, 29, 10, sst, false, "%s", job_state_name(r->state));
		}
		json_decref(res);
		json_decref(pl);
	}
}

/* ---- keys ---- */

static int import_key(struct tui *t, struct view *v, enum tui_action a)
{
	struct istate *p = v->priv;
	switch (a) {
	case ACT_IMPORT:
		tui_prompt(t, "import file (Tab completes): ", p->last_dir, &path_ops, p);
		return RD_ALL;
	case ACT_OPT_DELIM:
		p->delim = (p->delim + 1) % NDELIM;
		tui_status(t, UI_INFO, "delimiter: %s", delim_name[p->delim]);
		return RD_VIEW | RD_STATUS;
	case ACT_OPT_STRICT:
		p->strict = !p->strict;
		tui_status(t, UI_INFO, "strict: %s", p->strict ? "on: any rejected row fails the import"
			   : "off: valid rows are imported, rejected ones listed");
		return RD_VIEW | RD_STATUS;
	case ACT_OPT_DRYRUN:
		p->dry_run = !p->dry_run;
		tui_status(t, UI_INFO, "dry run: %s", p->dry_run ? "on: validate and count, change nothing"
			   : "off: imports change the catalog");
		return RD_VIEW | RD_STATUS;
	case ACT_UP:
		if (p->sel > 0)
			p->sel--;
		return RD_VIEW;
	case ACT_DOWN:
		if (p->sel + 1 < p->nrows)
			p->sel++;
		return RD_VIEW;
	case ACT_PAGE_UP:
		p->sel = p->sel > 8 ? p->sel - 8 : 0;
		return RD_VIEW;
	case ACT_PAGE_DOWN:
		p->sel = p->sel + 8 < p->nrows ? p->sel + 8 : (p->nrows ? p->nrows - 1 : 0);
		return RD_VIEW;
	case ACT_FIRST:
		p->sel = 0;
		return RD_VIEW;
	case ACT_LAST:
		p->sel = p->nrows ? p->nrows - 1 : 0;
		return RD_VIEW;
	case ACT_ENTER:
		if (p->sel < p->nrows)
			return show_job(t, p, &p->rows[p->sel]);
		return RD_NONE;
	case ACT_REFRESH:
		p->recent_due = t->now;
		if (p->have_jw)
			jobwatch_resync(&p->jw);
		tui_status(t, UI_INFO, "refreshing imports");
		return RD_VIEW | RD_STATUS;
	default:
		return RD_NONE;
	}
}

/* A click on a recent import selects it. */
static int import_click(struct tui *t, struct view *v, int row, int col)
{
	(void)t;
	(void)col;
	struct istate *p = v->priv;
	int i = row - p->click_y0;
	if (i < 0 || i >= p->click_n || p->click_first + (size_t)i >= p->nrows)
		return RD_NONE;
	p->sel = p->click_first + (size_t)i;
	return RD_VIEW;
}

/* ---- the loop's callbacks ---- */

static int import_tick(struct tui *t, struct view *v, long long now, long *wait_ms)
{
	struct istate *p = v->priv;
	int rd = RD_NONE;
	/* the recent imports: while the tab is shown (and once at start) */
	if (p->recent_due && (t->tab == TAB_IMPORT || !p->recent_loaded)) {
		if (now >= p->recent_due) {
			if (!slot_busy(&p->recent) && slot_ready(&p->recent))
				start_recent(t, p);
		} else if (p->recent_due - now < *wait_ms) {
			*wait_ms = (long)(p->recent_due - now);
		}
	}
	if (t->db_state == CONN_DOWN && p->recent_loaded && !p->recent_stale) {
		p->recent_stale = true;
		rd |= RD_VIEW;
	}
	/* staging: the bytes move */
	if (p->phase == PH_SUBMITTING) {
		rd |= RD_VIEW;
		if (*wait_ms > 100)
			*wait_ms = 100;
	}
	/* following */
	if (p->phase == PH_WATCHING || p->phase == PH_FINISHING) {
		if (!p->have_jw && p->phase == PH_WATCHING && !p->checking && now >= p->watch_retry) {
			watch_open(t, p);
			rd |= RD_VIEW;
		}
		if (p->have_jw) {
			if (p->phase == PH_WATCHING && now >= p->next_resync) {
				jobwatch_resync(&p->jw);
				p->next_resync = now + RESYNC_MS;
				rd |= watch_drain(t, p);
			} else if (jobwatch_fd(&p->jw) < 0) {
				rd |= watch_drain(t, p);   /* reconnects, once a second */
			}
		}
		if (p->phase == PH_FINISHING && !p->checking && now >= p->next_resync) {
			start_finish(t, p);
			p->next_resync = now + RESYNC_MS;
		}
		if (p->have_jw && jobwatch_fd(&p->jw) < 0 && *wait_ms > 500)
			*wait_ms = 500;
		/* the elapsed time and ETA move */
		if (p->have_state && p->state == JOB_RUNNING && *wait_ms > 500)
			*wait_ms = 500;
	}
	return rd;
}

static int import_pollfds(struct tui *t, struct view *v, struct pollfd *pfd, int max)
{
	(void)t;
	struct istate *p = v->priv;
	if (!p->have_jw || max < 1 || jobwatch_fd(&p->jw) < 0)
		return 0;
	pfd[0].fd = jobwatch_fd(&p->jw);
	pfd[0].events = POLLIN;
	pfd[0].revents = 0;
	return 1;
}

static int import_pollin(struct tui *t, struct view *v, const struct pollfd *pfd, int n)
{
	struct istate *p = v->priv;
	if (n < 1 || !p->have_jw || !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
		return RD_NONE;
	struct acme_err err = { 0 };
	if (jobwatch_read(&p->jw, &err) < 0)
		snprintf(p->message, sizeof p->message, "%s; reconnecting to follow the job", err.msg);
	else if (p->message[0] && strstr(p->message, "reconnecting"))
		p->message[0] = '\0';
	return watch_drain(t, p) | RD_VIEW;
}

static int import_open(struct tui *t, struct view *v)
{
	struct istate *p = xcalloc(1, sizeof *p);
	v->priv = p;
	slot_init(&p->recent, t, SLOT_PG, "recent imports", recent_done, p);
	p->recent_due = t->now;
	return 0;
}

static void import_close(struct tui *t, struct view *v)
{
	struct istate *p = v->priv;
	(void)t;
	slot_release(&p->recent);
	import_reset(p);
	job_rows_free(p->rows, p->nrows);
	free(p);
	v->priv = NULL;
}

const struct view_ops view_import = {
	.name = "Import",
	.tab = TAB_IMPORT,
	.open = import_open,
	.close = import_close,
	.draw = import_draw,
	.key = import_key,
	.tick = import_tick,
	.pollfds = import_pollfds,
	.pollin = import_pollin,
	.click = import_click,
};
