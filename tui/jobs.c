/* jobs.c — the Jobs tab: the jobs table, newest first, live.
 *
 * One PostgreSQL slot reads a page of jobs (job_list_start/_finish, the
 * core's keyset paging on (created_at, id)) and reads it again every second,
 * so states, attempts and progress move on screen as workers run them. A
 * stack of cursors remembers the pages before this one: PgDn follows the
 * page's next cursor, PgUp goes back exactly; g returns to the newest page.
 * The selection follows its job (by id) across refreshes.
 *
 * f opens a form filtering by state, type and queue (struct job_filter);
 * ":filter TEXT" sets the state (a state name), the type (any other word)
 * or several at once ("state=failed queue=import"); an empty one clears it.
 *
 * c cancels the selected job after a y/n question and R retries it: both are
 * the core verbs `acmectl jobs cancel|retry` call (job_cancel, job_retry),
 * run as tasks on the writer thread with a struct queue on the writer's
 * Redis connection, audited as "tui jobs cancel|retry".
 *
 * Enter opens the details pane: the job's fields and error from the row,
 * and for an import its first rejected rows (import_errors_each, the
 * function behind `acmectl jobs errors`), read once by a task.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/import.h"
#include "core/job.h"
#include "core/xalloc.h"
#include "tui/tui.h"

#define REFRESH_MS    1000
#define LIST_DEADLINE 5000
#define MAX_PAGE      200
#define DETAILS_H     12
#define MAX_REJECTS   5

struct jstate {
	struct slot list;
	/* the filter */
	char *state, *type, *queue;
	/* the page on screen */
	struct job_row *rows;
	size_t nrows;
	size_t sel;
	char sel_id[QUEUE_ID_MAX + 1];   /* the selection follows this job */
	char **cursors;           /* cursors[i] loads page i (cursors[0] = NULL: newest) */
	size_t depth, cap;
	long long offset;         /* rows before this page (PgDn adds the page size) */
	long long *offsets;
	char *next_cursor;
	bool select_last;
	bool loaded, stale;
	char error[512];
	/* calls */
	long long due;            /* monotonic ms: start the list; 0 none */
	unsigned gen, list_gen;
	struct job_filter inflight;
	char *inflight_strings[4];
	int limit;
	/* details */
	bool details;
	char det_id[QUEUE_ID_MAX + 1];
	bool det_loading;
	bool det_import;
	long long det_nrej;       /* rejected rows in all; -1 unknown */
	char *det_rej[MAX_REJECTS];
	size_t det_n;
	char det_error[256];
	unsigned det_gen;
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s && *s ? xstrdup(s) : NULL;
}

static void stack_reset(struct jstate *p)
{
	for (size_t i = 0; i < p->cap; i++)
		free(p->cursors[i]);
	free(p->cursors);
	free(p->offsets);
	p->cap = 16;
	p->cursors = xcalloc(p->cap, sizeof *p->cursors);
	p->offsets = xcalloc(p->cap, sizeof *p->offsets);
	p->depth = 0;
}

/* A new filter (or g): the newest page, at once. */
static void requery(struct tui *t, struct jstate *p)
{
	stack_reset(p);
	p->sel = 0;
	p->sel_id[0] = '\0';
	p->select_last = false;
	p->gen++;
	p->due = t->now;
}

static void reload(struct tui *t, struct jstate *p)
{
	p->gen++;
	p->due = t->now;
}

static void inflight_free(struct jstate *p)
{
	for (int i = 0; i < 4; i++) {
		free(p->inflight_strings[i]);
		p->inflight_strings[i] = NULL;
	}
	memset(&p->inflight, 0, sizeof p->inflight);
}

static void remember_sel(struct jstate *p)
{
	if (p->sel < p->nrows)
		snprintf(p->sel_id, sizeof p->sel_id, "%s", p->rows[p->sel].id);
	else
		p->sel_id[0] = '\0';
}

/* ---- the list call ---- */

static int list_done(struct tui *t, struct slot *s, void *arg)
{
	struct jstate *p = arg;
	struct acme_err err = { 0 };
	struct job_row *rows = NULL;
	char *next = NULL;
	bool current = p->list_gen == p->gen;
	int n = job_list_finish(&s->call, &p->inflight, &rows, &next, &err);
	inflight_free(p);
	if (!current) {
		/* abandoned: a newer query replaced it */
		if (n > 0)
			job_rows_free(rows, (size_t)n);
		free(next);
		slot_finished(s, NULL);
		return RD_NONE;
	}
	if (n < 0) {
		p->stale = true;
		snprintf(p->error, sizeof p->error, "%s", err.msg);
		if (err.code == ACME_E_UNAVAILABLE || err.code == ACME_E_TEMPFAIL)
			p->due = t->now + REFRESH_MS;     /* ask again once it is back */
		else
			tui_status(t, UI_ERROR, "jobs: %s", err.msg);
		slot_finished(s, &err);
		return RD_ALL;
	}
	slot_finished(s, NULL);
	job_rows_free(p->rows, p->nrows);
	p->rows = rows;
	p->nrows = (size_t)n;
	free(p->next_cursor);
	p->next_cursor = next;
	p->loaded = true;
	p->stale = false;
	p->error[0] = '\0';
	/* keep the selected job selected, wherever it moved */
	if (p->select_last) {
		p->sel = p->nrows ? p->nrows - 1 : 0;
	} else if (p->sel_id[0]) {
		for (size_t i = 0; i < p->nrows; i++)
			if (strcmp(p->rows[i].id, p->sel_id) == 0) {
				p->sel = i;
				break;
			}
	}
	p->select_last = false;
	if (p->sel >= p->nrows)
		p->sel = p->nrows ? p->nrows - 1 : 0;
	remember_sel(p);
	if (!p->due)
		p->due = t->now + REFRESH_MS;     /* live: read it again in a second */
	return RD_VIEW;
}

static void start_list(struct tui *t, struct jstate *p)
{
	struct acme_err err = { 0 };
	inflight_free(p);
	p->inflight_strings[0] = dup_or_null(p->state);
	p->inflight_strings[1] = dup_or_null(p->type);
	p->inflight_strings[2] = dup_or_null(p->queue);
	p->inflight_strings[3] = dup_or_null(p->cursors[p->depth]);
	struct job_filter *f = &p->inflight;
	f->state = p->inflight_strings[0];
	f->type = p->inflight_strings[1];
	f->queue = p->inflight_strings[2];
	f->after = p->inflight_strings[3];
	f->limit = p->limit;
	p->list_gen = p->gen;
	p->due = 0;
	if (job_list_start(&p->list.call, p->list.db, f, LIST_DEADLINE, &err) < 0) {
		inflight_free(p);
		snprintf(p->error, sizeof p->error, "%s", err.msg);
		p->stale = true;
		slot_finished(&p->list, &err);
		p->due = t->now + REFRESH_MS;
		if (err.code != ACME_E_UNAVAILABLE && err.code != ACME_E_TEMPFAIL)
			tui_status(t, UI_ERROR, "jobs: %s", err.msg);
		return;
	}
	slot_started(&p->list);
}

static int rows_that_fit(const struct jstate *p)
{
	int want = ui_size().rows - 3 - 2 - (p->details ? DETAILS_H : 0);
	if (want < 1)
		want = 1;
	return want > MAX_PAGE ? MAX_PAGE : want;
}

static int jobs_tick(struct tui *t, struct view *v, long long now, long *wait_ms)
{
	struct jstate *p = v->priv;
	int rd = RD_NONE;
	int want = rows_that_fit(p);
	if (want != p->limit) {
		p->limit = want;
		if (p->loaded)
			reload(t, p);
	}
	/* a newer query abandons the call in flight (its _finish cancels it) */
	if (slot_busy(&p->list) && p->list_gen != p->gen)
		p->list.done(t, &p->list, p);
	/* live only while on screen: another tab's jobs are not read every second */
	if (p->due && (t->tab == TAB_JOBS || (!p->loaded && tui_background_ok(t)))) {
		if (now >= p->due) {
			if (slot_ready(&p->list))
				start_list(t, p);
		} else if (p->due - now < *wait_ms) {
			*wait_ms = (long)(p->due - now);
		}
	}
	if (t->db_state == CONN_DOWN && !p->stale && p->loaded) {
		p->stale = true;
		rd |= RD_VIEW;
	}
	return rd;
}

/* ---- paging ---- */

static void push_page(struct tui *t, struct jstate *p)
{
	if (!p->next_cursor)
		return;
	if (p->depth + 1 >= p->cap) {
		size_t ncap = p->cap * 2;
		p->cursors = xrealloc(p->cursors, ncap * sizeof *p->cursors);
		p->offsets = xrealloc(p->offsets, ncap * sizeof *p->offsets);
		memset(p->cursors + p->cap, 0, (ncap - p->cap) * sizeof *p->cursors);
		memset(p->offsets + p->cap, 0, (ncap - p->cap) * sizeof *p->offsets);
		p->cap = ncap;
	}
	p->depth++;
	free(p->cursors[p->depth]);
	p->cursors[p->depth] = xstrdup(p->next_cursor);
	p->offsets[p->depth] = p->offsets[p->depth - 1] + (long long)p->nrows;
	p->sel = 0;
	p->sel_id[0] = '\0';
	reload(t, p);
}

static bool pop_page(struct tui *t, struct jstate *p)
{
	if (p->depth == 0)
		return false;
	free(p->cursors[p->depth]);
	p->cursors[p->depth] = NULL;
	p->depth--;
	p->sel = 0;
	p->sel_id[0] = '\0';
	reload(t, p);
	return true;
}

/* ---- drawing ---- */

static enum ui_style state_style(enum job_state s)
{
	switch (s) {
	case JOB_RUNNING: return UI_INFO;
	case JOB_SUCCEEDED: return UI_OK;
	case JOB_FAILED:
	case JOB_DEAD: return UI_ERROR;
	case JOB_CANCELLED: return UI_DIM;
	case JOB_RETRYING: return UI_WARN;
	default: return UI_NORMAL;
	}
}

/* The fraction done from a progress object: step/steps (noop and most
 * handlers), bytes/bytes_total (imports), or "percent". -1: none. */
static double progress_frac(const char *progress, char *label, size_t n)
{
	label[0] = '\0';
	if (!progress)
		return -1;
	json_t *p = json_loads(progress, 0, NULL);
	if (!json_is_object(p)) {
		json_decref(p);
		return -1;
	}
	double frac = -1;
	json_t *a, *b;
	if ((a = json_object_get(p, "step")) && (b = json_object_get(p, "steps")) &&
	    json_number_value(b) > 0) {
		frac = json_number_value(a) / json_number_value(b);
	} else if ((a = json_object_get(p, "bytes")) && (b = json_object_get(p, "bytes_total")) &&
		   json_number_value(b) > 0) {
		frac = json_number_value(a) / json_number_value(b);
	} else if ((a = json_object_get(p, "percent")) && json_is_number(a)) {
		frac = json_number_value(a) / 100.0;
	}
	const char *phase = json_string_value(json_object_get(p, "phase"));
	if (frac >= 0)
		snprintf(label, n, "%3d%%%s%s", (int)(frac * 100 + 0.5), phase ? " " : "",
			 phase ? phase : "");
	else if (phase)
		snprintf(label, n, "%s", phase);
	json_decref(p);
	if (frac > 1)
		frac = 1;
	return frac;
}

/* "2026-12-03T07:15:47Z" -> "12-03 07:15:47" */
static const char *short_time(const char *iso, char *buf, size_t n)
{
	if (!iso || strlen(iso) < 19) {
		snprintf(buf, n, "%s", iso ? iso : "");
		return buf;
	}
	snprintf(buf, n, "%.5s %.8s", iso + 5, iso + 11);
	return buf;
}

static void describe_filter(const struct jstate *p, char *buf, size_t n)
{
	buf[0] = '\0';
	size_t len = 0;
#define ADD(...) do { if (len < n) len += (size_t)snprintf(buf + len, n - len, __VA_ARGS__); } while (0)
	if (p->state) ADD(" state=%s", p->state);
	if (p->type) ADD(" type=%s", p->type);
	if (p->queue) ADD(" queue=%s", p->queue);
#undef ADD
}

enum jcol { J_ID, J_TYPE, J_QUEUE, J_STATE, J_ATT, J_PROGRESS, J_CREATED, J_ERROR, J__COUNT };
static const char *const jcol_title[J__COUNT] = {
	"ID", "Type", "Queue", "State", "Att", "Progress", "Created", "Error",
};

static void jcol_widths(int w, int *cw)
{
	cw[J_ID] = 26;
	cw[J_TYPE] = 14;
	cw[J_QUEUE] = 9;
	cw[J_STATE] = 9;
	cw[J_ATT] = 4;
	cw[J_PROGRESS] = 16;
	cw[J_CREATED] = w >= 110 ? 14 : 0;
	int used = 1;
	for (int c = 0; c < J_ERROR; c++)
		used += cw[c] ? cw[c] + 1 : 0;
	cw[J_ERROR] = w - used - 1;
	if (cw[J_ERROR] < 0)
		cw[J_ERROR] = 0;
}

static void draw_details(struct jstate *p, int dy, int w)
{
	const struct job_row *r = &p->rows[p->sel];
	char a[32], b[32], c[32];
	ui_fill(dy, 0, w, UI_HEADER);
	ui_textf(dy, 1, w - 2, UI_HEADER, false, "Job %s   Esc closes", r->id);
	ui_textf(dy + 1, 2, w - 4, UI_NORMAL, false, "Type: %s   Queue: %s   Attempts: %d/%d%s",
		 r->type, r->queue, r->attempts, r->max_attempts,
		 r->cancel_requested ? "   cancel requested" : "");
	ui_text(dy + 2, 2, 7, "State:", UI_NORMAL, false);
	ui_text(dy + 2, 9, w - 11, job_state_name(r->state), state_style(r->state), false);
	ui_textf(dy + 3, 2, w - 4, UI_NORMAL, false, "Created: %s   Started: %s   Finished: %s",
		 short_time(r->created_at, a, sizeof a),
		 r->started_at && r->started_at[0] ? short_time(r->started_at, b, sizeof b) : "-",
		 r->finished_at && r->finished_at[0] ? short_time(r->finished_at, c, sizeof c) : "-");
	ui_textf(dy + 4, 2, w - 4, UI_NORMAL, false, "Progress: %s",
		 r->progress ? r->progress : "-");
	ui_textf(dy + 5, 2, w - 4, UI_NORMAL, false, "Result: %s", r->result ? r->result : "-");
	ui_text(dy + 6, 2, 7, "Error:", UI_NORMAL, false);
	ui_text(dy + 6, 9, w - 11, r->error ? r->error : "-", r->error ? UI_ERROR : UI_NORMAL,
		false);
	int y = dy + 7;
	if (!p->det_import || strcmp(p->det_id, r->id) != 0)
		return;
	if (p->det_loading) {
		ui_text(y, 2, w - 4, "Rejected rows: loading...", UI_DIM, false);
		return;
	}
	if (p->det_error[0]) {
		ui_textf(y, 2, w - 4, UI_ERROR, false, "Rejected rows: %s", p->det_error);
		return;
	}
	if (p->det_nrej == 0) {
		ui_text(y, 2, w - 4, "Rejected rows: none", UI_NORMAL, false);
		return;
	}
	ui_textf(y++, 2, w - 4, UI_BOLD, false, "Rejected rows (%lld; the first %zu):", p->det_nrej,
		 p->det_n);
	for (size_t i = 0; i < p->det_n && y < dy + DETAILS_H; i++)
		ui_text(y++, 4, w - 6, p->det_rej[i], UI_NORMAL, false);
}

static void jobs_draw(struct tui *t, struct view *v, int y, int h, int w)
{
	struct jstate *p = v->priv;
	(void)t;
	int details_h = p->details && p->sel < p->nrows ? DETAILS_H : 0;
	int table_h = h - 1 - details_h;
	char fdesc[256], line[512];
	describe_filter(p, fdesc, sizeof fdesc);
	if (!p->loaded)
		snprintf(line, sizeof line, "loading jobs...");
	else if (!p->nrows)
		snprintf(line, sizeof line, "no jobs%s", fdesc[0] ? " match the filter" : "");
	else
		snprintf(line, sizeof line, "jobs %lld-%lld, newest first%s",
			 p->offsets[p->depth] + 1, p->offsets[p->depth] + (long long)p->nrows,
			 p->next_cursor ? " (PgDn: older)" : "");
	int x = ui_text(y, 1, w - 2, line, UI_BOLD, false) + 1;
	if (fdesc[0]) {
		x += ui_text(y, x, w - x, "  filter", UI_DIM, false);
		x += ui_text(y, x, w - x, fdesc, UI_INFO, false);
	}
	if (p->stale && p->loaded)
		ui_text(y, x + 2, w - x - 2, "STALE (database unreachable; showing the last data)",
			UI_WARN, false);
	else if (p->error[0] && p->stale)
		ui_text(y, x + 2, w - x - 2, p->error, UI_ERROR, false);
	/* header */
	int cw[J__COUNT];
	jcol_widths(w, cw);
	int hy = y + 1;
	x = 1;
	for (int c = 0; c < J__COUNT; c++) {
		if (!cw[c])
			continue;
		ui_text(hy, x, cw[c], jcol_title[c], UI_HEADER, true);
		x += cw[c] + 1;
	}
	/* rows */
	for (size_t i = 0; i < p->nrows && (int)i < table_h - 1; i++) {
		const struct job_row *r = &p->rows[i];
		int ry = hy + 1 + (int)i;
		bool sel = i == p->sel;
		enum ui_style st = p->stale ? UI_DIM : sel ? UI_SELECTED : UI_NORMAL;
		if (sel)
			ui_fill(ry, 0, w, st);
		x = 1;
		for (int c = 0; c < J__COUNT; c++) {
			if (!cw[c])
				continue;
			char buf[64];
			enum ui_style cs = st;
			switch (c) {
			case J_ID: ui_text(ry, x, cw[c], r->id, cs, true); break;
			case J_TYPE: ui_text(ry, x, cw[c], r->type, cs, true); break;
			case J_QUEUE: ui_text(ry, x, cw[c], r->queue, cs, true); break;
			case J_STATE:
				if (!sel && !p->stale)
					cs = state_style(r->state);
				ui_text(ry, x, cw[c], job_state_name(r->state), cs, true);
				break;
			case J_ATT:
				snprintf(buf, sizeof buf, "%d/%d", r->attempts, r->max_attempts);
				ui_text(ry, x, cw[c], buf, cs, true);
				break;
			case J_PROGRESS: {
				char label[48];
				/* a finished job's last saved progress says nothing now */
				double frac = job_state_is_final(r->state) ? -1 :
					progress_frac(r->progress, label, sizeof label);
				if (job_state_is_final(r->state))
					label[0] = '\0';
				if (frac >= 0) {
					int bw = 6;
					ui_bar(ry, x, bw, frac, UI_BAR);
					ui_text(ry, x + bw + 1, cw[c] - bw - 1, label, cs, true);
				} else {
					ui_text(ry, x, cw[c], label, cs, true);
				}
				break;
			}
			case J_CREATED:
				ui_text(ry, x, cw[c], short_time(r->created_at, buf, sizeof buf), cs, true);
				break;
			case J_ERROR:
				if (!sel && !p->stale && r->error)
					cs = UI_ERROR;
				ui_text(ry, x, cw[c], r->error ? r->error : "", cs, true);
				break;
			}
			x += cw[c] + 1;
		}
	}
	if (details_h)
		draw_details(p, y + h - details_h, w);
}

/* ---- tasks: cancel, retry, the rejected rows ---- */

struct jtask {
	struct jstate *p;
	enum { JT_CANCEL, JT_RETRY, JT_REJECTS } kind;
	char id[QUEUE_ID_MAX + 1];
	const char *env;
	const char *prefix;
	int qrc;
	struct queue_job job;
	unsigned gen;
	long long nrej;
	char *rej[MAX_REJECTS];
	size_t nr;
};

static int keep_reject(void *user, const struct import_error_row *row, struct acme_err *err)
{
	(void)err;
	struct jtask *c = user;
	if (c->nr >= MAX_REJECTS)
		return 0;
	c->rej[c->nr++] = xasprintf("line %lld%s%s: %s%s%s", row->line, row->column ? ", " : "",
				    row->column ? row->column : "", row->message,
				    row->record && row->record[0] ? "  | " : "",
				    row->record ? row->record : "");
	return 0;
}

static int jtask_run(struct task_env *env, void *arg, struct acme_err *err)
{
	struct jtask *c = arg;
	PGconn *db = task_db(env, err);
	if (!db)
		return -1;
	if (c->kind == JT_REJECTS) {
		c->nrej = import_errors_each(db, c->id, keep_reject, c, err);
		return c->nrej < 0 ? -1 : 0;
	}
	redisContext *rd = task_redis(env, err);
	if (!rd)
		return -1;
	struct queue q;
	if (queue_init(&q, rd, c->prefix, err) < 0)
		return -1;
	struct audit_actor who = { c->env, c->kind == JT_CANCEL ? "tui jobs cancel" :
				   "tui jobs retry" };
	int rc = c->kind == JT_CANCEL ? job_cancel(db, &q, c->id, &who, &c->job, err)
		: job_retry(db, &q, c->id, &who, &c->job, err);
	queue_release(&q);
	c->qrc = rc;
	return rc < 0 ? -1 : 0;
}

static void jtask_free(struct jtask *c)
{
	queue_job_release(&c->job);
	for (size_t i = 0; i < c->nr; i++)
		free(c->rej[i]);
	free(c);
}

static void det_clear(struct jstate *p)
{
	for (size_t i = 0; i < p->det_n; i++)
		free(p->det_rej[i]);
	p->det_n = 0;
	p->det_nrej = -1;
	p->det_error[0] = '\0';
}

static int jtask_done(struct tui *t, void *arg, int rc, const struct acme_err *err)
{
	struct jtask *c = arg;
	struct jstate *p = c->p;
	switch (c->kind) {
	case JT_CANCEL:
		if (rc < 0)
			tui_status(t, UI_ERROR, "not cancelled: %s", err->msg);
		else if (c->qrc == QUEUE_OK)
			tui_status(t, UI_OK, "job %s cancelled", c->id);
		else if (c->qrc == QUEUE_REQUESTED)
			tui_status(t, UI_INFO, "job %s is running; it stops at its next heartbeat "
				   "(cancel requested)", c->id);
		else if (c->job.known && c->job.state == JOB_CANCELLED)
			tui_status(t, UI_INFO, "job %s was cancelled already", c->id);
		else
			tui_status(t, UI_ERROR, "job %s already %s; nothing to cancel", c->id,
				   c->job.known ? job_state_name(c->job.state) : "finished");
		reload(t, p);
		break;
	case JT_RETRY:
		if (rc < 0)
			tui_status(t, UI_ERROR, "not retried: %s", err->msg);
		else
			tui_status(t, UI_OK, "job %s queued again on %s", c->id,
				   c->job.queue ? c->job.queue : "its queue");
		reload(t, p);
		break;
	case JT_REJECTS:
		if (c->gen != p->det_gen)
			break;     /* another job's details are open now */
		det_clear(p);
		p->det_loading = false;
		if (rc < 0) {
			snprintf(p->det_error, sizeof p->det_error, "%s", err->msg);
			break;
		}
		p->det_nrej = c->nrej;
		for (size_t i = 0; i < c->nr; i++) {
			p->det_rej[i] = c->rej[i];
			c->rej[i] = NULL;
		}
		p->det_n = c->nr;
		c->nr = 0;
		break;
	}
	jtask_free(c);
	return RD_ALL;
}

static struct jtask *jtask_new(struct tui *t, struct jstate *p, int kind, const char *id)
{
	struct jtask *c = xcalloc(1, sizeof *c);
	c->p = p;
	c->kind = kind;
	c->env = tui_environment(t);
	c->prefix = config_get(t->cfg, CFG_REDIS_PREFIX);
	snprintf(c->id, sizeof c->id, "%s", id);
	return c;
}

static int cancel_answer(struct tui *t, void *arg, bool yes)
{
	struct jstate *p = arg;
	if (!yes || p->sel >= p->nrows) {
		tui_status(t, UI_INFO, "not cancelled");
		return RD_STATUS;
	}
	struct jtask *c = jtask_new(t, p, JT_CANCEL, p->rows[p->sel].id);
	tui_status(t, UI_INFO, "cancelling job %s...", c->id);
	tui_task(t, jtask_run, jtask_done, c);
	return RD_STATUS;
}

/* Open the details of the selected job (and read an import's rejected rows). */
static void open_details(struct tui *t, struct jstate *p)
{
	const struct job_row *r = &p->rows[p->sel];
	p->details = true;
	det_clear(p);
	snprintf(p->det_id, sizeof p->det_id, "%s", r->id);
	p->det_gen++;
	p->det_import = strcmp(r->type, IMPORT_JOB_TYPE) == 0;
	p->det_loading = p->det_import;
	if (p->det_import) {
		struct jtask *c = jtask_new(t, p, JT_REJECTS, r->id);
		c->gen = p->det_gen;
		tui_task(t, jtask_run, jtask_done, c);
	}
}

/* ---- filter ---- */

static int check_filter(const char *state, const char *type, const char *queue,
			struct acme_err *err)
{
	enum job_state s;
	if (state && *state && job_state_parse(state, &s) < 0)
		return acme_err_set(err, ACME_E_USAGE, "unknown job state \"%s\" (scheduled, queued, "
				    "running, retrying, succeeded, failed, dead, cancelled)", state);
	if (type && *type && queue_check_name("job type", type, err) < 0)
		return -1;
	if (queue && *queue && queue_check_name("queue", queue, err) < 0)
		return -1;
	return 0;
}

static int filter_submit(struct tui *t, void *arg, char *const *values, struct acme_err *err)
{
	struct jstate *p = arg;
	const char *state = strcmp(values[0], "any") == 0 ? "" : values[0];
	if (check_filter(state, values[1], values[2], err) < 0)
		return -1;
	set_str(&p->state, state);
	set_str(&p->type, values[1]);
	set_str(&p->queue, values[2]);
	requery(t, p);
	return 0;
}

/* ":filter TEXT": words "state=S", "type=T", "queue=Q", a bare state name or
 * a bare type; no words clear the filter. */
static int jobs_filter_cmd(struct tui *t, struct view *v, const char *text)
{
	struct jstate *p = v->priv;
	char *state = NULL, *type = NULL, *queue = NULL;
	char *copy = xstrdup(text ? text : "");
	struct acme_err err = { 0 };
	enum job_state s;
	int rc = 0;
	for (char *save = NULL, *w = strtok_r(copy, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save)) {
		if (strncmp(w, "state=", 6) == 0)
			set_str(&state, w + 6);
		else if (strncmp(w, "type=", 5) == 0)
			set_str(&type, w + 5);
		else if (strncmp(w, "queue=", 6) == 0)
			set_str(&queue, w + 6);
		else if (job_state_parse(w, &s) == 0)
			set_str(&state, w);
		else
			set_str(&type, w);
	}
	if (check_filter(state, type, queue, &err) < 0) {
		tui_status(t, UI_ERROR, "filter: %s", err.msg);
		rc = -1;
	} else {
		set_str(&p->state, state);
		set_str(&p->type, type);
		set_str(&p->queue, queue);
		requery(t, p);
	}
	free(state);
	free(type);
	free(queue);
	free(copy);
	return rc;
}

/* ---- keys ---- */

static int jobs_key(struct tui *t, struct view *v, enum tui_action a)
{
	struct jstate *p = v->priv;
	int rd = RD_NONE;
	switch (a) {
	case ACT_UP:
		if (p->sel > 0) {
			p->sel--;
			rd = RD_VIEW;
		} else if (pop_page(t, p)) {
			p->select_last = true;
			rd = RD_VIEW;
		}
		break;
	case ACT_DOWN:
		if (p->sel + 1 < p->nrows) {
			p->sel++;
			rd = RD_VIEW;
		} else if (p->next_cursor) {
			push_page(t, p);
			rd = RD_VIEW;
		}
		break;
	case ACT_PAGE_DOWN:
		if (p->next_cursor)
			push_page(t, p);
		else if (p->nrows)
			p->sel = p->nrows - 1;
		rd = RD_VIEW;
		break;
	case ACT_PAGE_UP:
		if (!pop_page(t, p))
			p->sel = 0;
		rd = RD_VIEW;
		break;
	case ACT_FIRST:
		if (p->depth > 0)
			requery(t, p);
		p->sel = 0;
		rd = RD_VIEW;
		break;
	case ACT_LAST:
		if (p->nrows)
			p->sel = p->nrows - 1;
		rd = RD_VIEW;
		break;
	case ACT_ENTER:
		if (p->sel < p->nrows)
			open_details(t, p);
		return RD_ALL;
	case ACT_ESCAPE:
		p->details = false;
		return RD_VIEW;
	case ACT_REFRESH:
		reload(t, p);
		tui_status(t, UI_INFO, "refreshing jobs");
		return RD_VIEW | RD_STATUS;
	case ACT_FILTER_FORM: {
		struct form_field ff[] = {
			{ "State", p->state ? p->state : "any",
			  "any|scheduled|queued|running|retrying|succeeded|failed|dead|cancelled" },
			{ "Type", p->type ? p->type : "", NULL },
			{ "Queue", p->queue ? p->queue : "", NULL },
		};
		tui_form(t, "Filter jobs", ff, 3, filter_submit, p);
		return RD_ALL;
	}
	case ACT_CANCEL: {
		if (p->sel >= p->nrows)
			return RD_NONE;
		const struct job_row *r = &p->rows[p->sel];
		char q[256];
		snprintf(q, sizeof q, "cancel job %s (%s, %s)?", r->id, r->type,
			 job_state_name(r->state));
		tui_confirm(t, q, cancel_answer, p);
		return RD_ALL;
	}
	case ACT_REDELIVER: {
		if (p->sel >= p->nrows)
			return RD_NONE;
		struct jtask *c = jtask_new(t, p, JT_RETRY, p->rows[p->sel].id);
		tui_status(t, UI_INFO, "retrying job %s...", c->id);
		tui_task(t, jtask_run, jtask_done, c);
		return RD_STATUS;
	}
	default:
		return RD_NONE;
	}
	remember_sel(p);
	if (p->details && p->sel < p->nrows && strcmp(p->det_id, p->rows[p->sel].id) != 0)
		open_details(t, p);
	return rd;
}

static int jobs_click(struct tui *t, struct view *v, int row, int col)
{
	(void)col;
	struct jstate *p = v->priv;
	int i = row - 2;          /* the summary and header lines */
	if (i >= 0 && (size_t)i < p->nrows) {
		p->sel = (size_t)i;
		remember_sel(p);
		if (p->details)
			open_details(t, p);
		return RD_VIEW;
	}
	return RD_NONE;
}

static int jobs_open(struct tui *t, struct view *v)
{
	struct jstate *p = xcalloc(1, sizeof *p);
	v->priv = p;
	slot_init(&p->list, t, SLOT_PG, "jobs", list_done, p);
	p->limit = 20;
	p->det_nrej = -1;
	requery(t, p);
	return 0;
}

static void jobs_close(struct tui *t, struct view *v)
{
	struct jstate *p = v->priv;
	(void)t;
	p->gen++;                 /* whatever is in flight is abandoned */
	slot_release(&p->list);
	inflight_free(p);
	job_rows_free(p->rows, p->nrows);
	for (size_t i = 0; i < p->cap; i++)
		free(p->cursors[i]);
	free(p->cursors);
	free(p->offsets);
	free(p->next_cursor);
	free(p->state);
	free(p->type);
	free(p->queue);
	det_clear(p);
	free(p);
	v->priv = NULL;
}

const struct view_ops view_jobs = {
	.name = "Jobs",
	.tab = TAB_JOBS,
	.open = jobs_open,
	.close = jobs_close,
	.draw = jobs_draw,
	.key = jobs_key,
	.tick = jobs_tick,
	.filter = jobs_filter_cmd,
	.click = jobs_click,
};
