/* workers.c — the Workers tab: the queues and the workers serving them, live.
 *
 * Above, one line per queue: its sizes (ready, scheduled, running, dead,
 * paused, the age of the oldest ready job) from queue_stats_start/_finish on
 * a Redis slot, and its rates. Rates come from the queue's own counters
 * (enqueued, succeeded, failed + dead, kept by Redis in P{Q}:stats): the
 * change of each counter over the last ~10 s of samples, divided by the time
 * between them on the Redis clock, so they need no query of the jobs table.
 * The queue names (queue_names(), the P queues set) are read by a task on
 * the writer thread every few seconds: there is no non-blocking version.
 *
 * Below, one block per live worker from the heartbeat records
 * (workers_list_start/_finish on a second Redis slot, as `acmectl jobs
 * workers` reads them): host, pid, version, pools, busy children, jobs done,
 * RSS and the last heartbeat, then a line per child running a job.
 *
 * Everything is read again every second while the tab is on screen; when
 * Redis is unreachable the last data stays, marked stale.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/xalloc.h"
#include "tui/tui.h"

#define REFRESH_MS       1000
#define NAMES_MS         5000
#define CALL_DEADLINE    2000
#define NSAMPLES         11      /* rates over the last ~10 refreshes */

struct sample {
	long long at_ms;             /* Redis clock */
	long long enqueued, done, failed;
};

struct qrow {
	char *name;
	struct queue_stats st;
	bool have;
	struct sample s[NSAMPLES];
	int ns, head;                /* ring: head is the next to write */
};

struct wstate {
	struct slot wk, qs;
	/* workers */
	struct worker_list wl;
	bool wl_loaded;
	long long wk_due;
	char wk_error[256];
	/* queues */
	struct qrow *q;
	size_t nq;
	size_t qi;                   /* the next queue to read this round; nq: round over */
	char *q_inflight;            /* the name being read */
	long long qs_due;
	bool q_loaded;
	char q_error[256];
	long long names_due;
	bool names_pending;
	/* the worker lines scroll */
	int top;
	int nlines;                  /* lines drawn last time (for scrolling) */
	bool stale;
};

/* ---- the queue names: a task ---- */

struct names_task {
	struct wstate *p;
	const char *prefix;
	char **names;
	int n;
};

static int names_run(struct task_env *env, void *arg, struct acme_err *err)
{
	struct names_task *c = arg;
	redisContext *rd = task_redis(env, err);
	if (!rd)
		return -1;
	struct queue q;
	if (queue_init(&q, rd, c->prefix, err) < 0)
		return -1;
	c->n = queue_names(&q, &c->names, err);
	queue_release(&q);
	return c->n < 0 ? -1 : 0;
}

static struct qrow *find_q(struct qrow *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static int names_done(struct tui *t, void *arg, int rc, const struct acme_err *err)
{
	struct names_task *c = arg;
	struct wstate *p = c->p;
	p->names_pending = false;
	p->names_due = t->now + NAMES_MS;
	if (rc < 0) {
		snprintf(p->q_error, sizeof p->q_error, "queue names: %s", err->msg);
	} else {
		/* the new list, keeping what we know of queues already shown */
		struct qrow *nv = xcalloc((size_t)c->n + 1, sizeof *nv);
		for (int i = 0; i < c->n; i++) {
			struct qrow *old = find_q(p->q, p->nq, c->names[i]);
			if (old) {
				nv[i] = *old;
				old->name = NULL;
			} else {
				nv[i].name = xstrdup(c->names[i]);
			}
		}
		for (size_t i = 0; i < p->nq; i++)
			free(p->q[i].name);
		free(p->q);
		p->q = nv;
		p->nq = (size_t)c->n;
		if (p->qi > p->nq)
			p->qi = p->nq;
		if (!p->q_error[0] || strncmp(p->q_error, "queue names", 11) == 0)
			p->q_error[0] = '\0';
	}
	for (int i = 0; i < c->n; i++)
		free(c->names[i]);
	free(c->names);
	free(c);
	return RD_VIEW;
}

/* ---- the queue stats: one queue at a time on the slot ---- */

static void add_sample(struct qrow *r)
{
	struct sample *s = &r->s[r->head];
	s->at_ms = r->st.now_ms;
	s->enqueued = r->st.enqueued;
	s->done = r->st.succeeded;
	s->failed = r->st.failed + r->st.dead_total;
	r->head = (r->head + 1) % NSAMPLES;
	if (r->ns < NSAMPLES)
		r->ns++;
}

/* Per second over the samples kept: which 0 enqueued, 1 done, 2 failed.
 * -1 until there are two samples. */
static double rate(const struct qrow *r, int which)
{
	if (r->ns < 2)
		return -1;
	const struct sample *newest = &r->s[(r->head + NSAMPLES - 1) % NSAMPLES];
	const struct sample *oldest = &r->s[(r->head + NSAMPLES - r->ns) % NSAMPLES];
	double dt = (double)(newest->at_ms - oldest->at_ms) / 1000.0;
	if (dt <= 0)
		return -1;
	long long d = which == 0 ? newest->enqueued - oldest->enqueued
		: which == 1 ? newest->done - oldest->done : newest->failed - oldest->failed;
	return d < 0 ? 0 : (double)d / dt;
}

static int qs_done(struct tui *t, struct slot *s, void *arg)
{
	struct wstate *p = arg;
	struct acme_err err = { 0 };
	struct queue_stats st;
	memset(&st, 0, sizeof st);
	int rc = queue_stats_finish(&s->rc, &st, &err);
	char *name = p->q_inflight;
	p->q_inflight = NULL;
	if (rc < 0) {
		snprintf(p->q_error, sizeof p->q_error, "queue %s: %s", name ? name : "?", err.msg);
		p->qi = p->nq;           /* this round is over; the next in a second */
		p->qs_due = t->now + REFRESH_MS;
		free(name);
		slot_finished(s, &err);
		return RD_VIEW;
	}
	struct qrow *r = name ? find_q(p->q, p->nq, name) : NULL;
	if (r) {
		r->st = st;
		r->have = true;
		add_sample(r);
	}
	free(name);
	if (p->qi >= p->nq) {
		p->q_loaded = true;
		if (strncmp(p->q_error, "queue names", 11) != 0)
			p->q_error[0] = '\0';
	}
	slot_finished(s, NULL);
	return RD_VIEW;
}

static void start_qs(struct tui *t, struct wstate *p)
{
	struct acme_err err = { 0 };
	const char *name = p->q[p->qi].name;
	p->qi++;
	if (queue_stats_start(&p->qs.rc, &p->qs.q, name, CALL_DEADLINE, &err) < 0) {
		snprintf(p->q_error, sizeof p->q_error, "queue %s: %s", name, err.msg);
		p->qi = p->nq;
		p->qs_due = t->now + REFRESH_MS;
		slot_finished(&p->qs, &err);
		return;
	}
	p->q_inflight = xstrdup(name);
	slot_started(&p->qs);
}

/* ---- the heartbeat records ---- */

static int rec_cmp(const void *a, const void *b)
{
	const struct worker_record *x = a, *y = b;
	return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

static int wk_done(struct tui *t, struct slot *s, void *arg)
{
	struct wstate *p = arg;
	struct acme_err err = { 0 };
	struct worker_list wl;
	memset(&wl, 0, sizeof wl);
	int rc = workers_list_finish(&s->wc, &wl, &err);
	p->wk_due = t->now + REFRESH_MS;
	if (rc < 0) {
		snprintf(p->wk_error, sizeof p->wk_error, "workers: %s", err.msg);
		slot_finished(s, &err);
		return RD_VIEW;
	}
	if (wl.n > 1)
		qsort(wl.v, wl.n, sizeof *wl.v, rec_cmp);
	if (p->wl_loaded)
		workers_list_release(&p->wl);
	p->wl = wl;
	p->wl_loaded = true;
	p->wk_error[0] = '\0';
	p->stale = false;
	slot_finished(s, NULL);
	return RD_VIEW;
}

static int workersv_tick(struct tui *t, struct view *v, long long now, long *wait_ms)
{
	struct wstate *p = v->priv;
	int rd = RD_NONE;
	if (t->tab != TAB_WORKERS)
		return RD_NONE;          /* live only while on screen */
	if (!p->names_pending && now >= p->names_due) {
		struct names_task *c = xcalloc(1, sizeof *c);
		c->p = p;
		c->prefix = config_get(t->cfg, CFG_REDIS_PREFIX);
		p->names_pending = true;
		tui_task(t, names_run, names_done, c);
	}
	if (now >= p->wk_due && slot_ready(&p->wk)) {
		struct acme_err err = { 0 };
		p->wk.workers = true;
		if (workers_list_start(&p->wk.wc, p->wk.rd, config_get(t->cfg, CFG_REDIS_PREFIX),
				       CALL_DEADLINE, &err) < 0) {
			snprintf(p->wk_error, sizeof p->wk_error, "workers: %s", err.msg);
			p->wk_due = now + REFRESH_MS;
			slot_finished(&p->wk, &err);
		} else {
			p->wk_due = now + 60000;   /* wk_done sets the next one */
			slot_started(&p->wk);
		}
	} else if (p->wk_due > now && p->wk_due - now < *wait_ms) {
		*wait_ms = (long)(p->wk_due - now);
	}
	/* a round of stats: every queue once, then wait for the next second */
	if (p->qi >= p->nq && p->nq && now >= p->qs_due && !slot_busy(&p->qs)) {
		p->qi = 0;
		p->qs_due = now + REFRESH_MS;
	}
	if (p->qi < p->nq && slot_ready(&p->qs))
		start_qs(t, p);
	else if (p->qs_due > now && p->qs_due - now < *wait_ms)
		*wait_ms = (long)(p->qs_due - now);
	if (t->rd_state == CONN_DOWN && !p->stale && (p->wl_loaded || p->q_loaded)) {
		p->stale = true;
		rd |= RD_VIEW;
	}
	return rd;
}

/* ---- drawing ---- */

static void fmt_rate(char *buf, size_t n, double r)
{
	if (r < 0)
		snprintf(buf, n, "-");
	else if (r < 10)
		snprintf(buf, n, "%.1f", r);
	else
		fmt_count(buf, n, (long long)(r + 0.5));
}

static void fmt_rss(char *buf, size_t n, long long kb)
{
	if (kb <= 0)
		snprintf(buf, n, "-");
	else if (kb < 10 * 1024)
		snprintf(buf, n, "%lldk", kb);
	else
		snprintf(buf, n, "%.1fM", (double)kb / 1024.0);
}

static long long jint(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "?";
}

static void draw_queues(struct wstate *p, int *yp, int ymax, int w)
{
	int y = *yp;
	static const int qw[] = { 16, 7, 7, 8, 7, 7, 9, 8, 8, 9 };
	static const char *const qt[] = { "Queue", "Ready", "Sched", "Running", "Dead", "Paused",
					  "Oldest", "In/s", "Done/s", "Failed/s" };
	int x = 1;
	for (size_t c = 0; c < sizeof qw / sizeof qw[0] && y < ymax; c++) {
		if (x + qw[c] > w)
			break;
		ui_text(y, x, qw[c], qt[c], UI_HEADER, true);
		x += qw[c] + 1;
	}
	y++;
	if (p->nq == 0 && y < ymax)
		ui_text(y++, 2, w - 3, p->q_error[0] ? p->q_error : "no queues yet",
			p->q_error[0] ? UI_ERROR : UI_DIM, false);
	for (size_t i = 0; i < p->nq && y < ymax; i++, y++) {
		const struct qrow *r = &p->q[i];
		char v[10][32];
		enum ui_style st = p->stale ? UI_DIM : UI_NORMAL;
		snprintf(v[0], 32, "%s", r->name);
		if (!r->have) {
			ui_text(y, 1, qw[0], v[0], st, true);
			ui_text(y, 1 + qw[0] + 1, w - qw[0] - 3, "...", UI_DIM, false);
			continue;
		}
		snprintf(v[1], 32, "%lld", r->st.ready);
		snprintf(v[2], 32, "%lld", r->st.scheduled);
		snprintf(v[3], 32, "%lld", r->st.running);
		snprintf(v[4], 32, "%lld", r->st.dead);
		snprintf(v[5], 32, "%s", r->st.paused ? "PAUSED" : "no");
		if (r->st.oldest_ready_ms > 0)
			snprintf(v[6], 32, "%.1fs", (double)(r->st.now_ms - r->st.oldest_ready_ms) / 1000.0);
		else
			snprintf(v[6], 32, "-");
		fmt_rate(v[7], 32, rate(r, 0));
		fmt_rate(v[8], 32, rate(r, 1));
		fmt_rate(v[9], 32, rate(r, 2));
		x = 1;
		for (int c = 0; c < 10; c++) {
			if (x + qw[c] > w)
				break;
			enum ui_style cs = st;
			if (!p->stale && ((c == 4 && r->st.dead > 0) || (c == 9 && rate(r, 2) > 0)))
				cs = UI_ERROR;
			if (!p->stale && c == 5 && r->st.paused)
				cs = UI_WARN;
			if (!p->stale && c == 3 && r->st.running > 0)
				cs = UI_INFO;
			if (c == 0)
				ui_text(y, x, qw[c], v[c], cs, true);
			else
				ui_text_right(y, x, qw[c], v[c], cs);
			x += qw[c] + 1;
		}
	}
	*yp = y;
}

static void workersv_draw(struct tui *t, struct view *v, int y, int h, int w)
{
	struct wstate *p = v->priv;
	(void)t;
	int ymax = y + h;
	/* summary */
	char line[256];
	size_t busy = 0;
	for (size_t i = 0; i < p->wl.n; i++)
		busy += json_array_size(json_object_get(p->wl.v[i].rec, "current_jobs"));
	if (!p->wl_loaded && !p->q_loaded)
		snprintf(line, sizeof line, "loading workers and queues...");
	else
		snprintf(line, sizeof line, "%zu queue%s, %zu live worker%s, %zu job%s running", p->nq,
			 p->nq == 1 ? "" : "s", p->wl.n, p->wl.n == 1 ? "" : "s", busy,
			 busy == 1 ? "" : "s");
	int x = ui_text(y, 1, w - 2, line, UI_BOLD, false) + 1;
	x += ui_text(y, x + 1, w - x - 1, "  rates: per second over ~10 s", UI_DIM, false) + 1;
	if (p->stale)
		ui_text(y, x + 2, w - x - 2, "STALE (Redis unreachable; showing the last data)", UI_WARN,
			false);
	else if (p->q_error[0] && p->nq)
		ui_text(y, x + 2, w - x - 2, p->q_error, UI_ERROR, false);
	y++;
	draw_queues(p, &y, ymax, w);
	if (y + 1 >= ymax)
		return;
	y++;
	/* workers */
	static const int ww[] = { 20, 8, 10, 22, 6, 7, 8, 10, 7 };
	static const char *const wt[] = { "Host", "PID", "Version", "Pools", "Busy", "Done", "RSS",
					  "Heartbeat", "Leader" };
	x = 1;
	for (size_t c = 0; c < sizeof ww / sizeof ww[0]; c++) {
		if (x + ww[c] > w)
			break;
		ui_text(y, x, ww[c], wt[c], UI_HEADER, true);
		x += ww[c] + 1;
	}
	y++;
	if (p->wk_error[0] && y < ymax)
		ui_text(y++, 2, w - 3, p->wk_error, UI_ERROR, false);
	if (p->wl_loaded && p->wl.n == 0 && y < ymax)
		ui_text(y++, 2, w - 3, "no live worker (start one with 'acmectl worker')", UI_WARN,
			false);
	/* the worker lines, scrolled by top */
	int line_no = 0;
	enum ui_style st = p->stale ? UI_DIM : UI_NORMAL;
	for (size_t i = 0; i < p->wl.n; i++) {
		const json_t *rec = p->wl.v[i].rec;
		if (!rec)
			continue;
		if (line_no++ >= p->top && y < ymax) {
			char f[9][128];
			snprintf(f[0], 128, "%s", jstr(rec, "host"));
			snprintf(f[1], 128, "%lld", jint(rec, "pid"));
			snprintf(f[2], 128, "%s", jstr(rec, "version"));
			size_t len = 0, j;
			json_t *pool;
			f[3][0] = '\0';
			json_array_foreach(json_object_get(rec, "pools"), j, pool)
				if (len < 128)
					len += (size_t)snprintf(f[3] + len, 128 - len, "%s%s=%lld", j ? "," : "",
								jstr(pool, "name"), jint(pool, "size"));
			snprintf(f[4], 128, "%zu/%lld",
				 json_array_size(json_object_get(rec, "current_jobs")),
				 jint(rec, "children"));
			snprintf(f[5], 128, "%lld", jint(rec, "jobs_done"));
			fmt_rss(f[6], 128, jint(rec, "rss_kb"));
			fmt_ago(f[7], 128, NULL, jint(rec, "updated_ms"));
			snprintf(f[8], 128, "%s", json_is_true(json_object_get(rec, "leader")) ? "yes" : "");
			x = 1;
			for (int c = 0; c < 9; c++) {
				if (x + ww[c] > w)
					break;
				if (c == 1 || c == 5 || c == 6)
					ui_text_right(y, x, ww[c], f[c], st);
				else
					ui_text(y, x, ww[c], f[c], c == 0 && !p->stale ? UI_BOLD : st, true);
				x += ww[c] + 1;
			}
			y++;
		}
		size_t j;
		json_t *cj;
		json_array_foreach(json_object_get(rec, "current_jobs"), j, cj) {
			if (line_no++ < p->top || y >= ymax)
				continue;
			char ago[32];
			long long started = jint(cj, "started_ms");
			fmt_ago(ago, sizeof ago, NULL, started > 0 ? started : -1);
			ui_textf(y, 3, w - 4, p->stale ? UI_DIM : UI_INFO, false,
				 "child %lld (%s): %s %s on %s, started %s", jint(cj, "pid"),
				 jstr(cj, "pool"), jstr(cj, "type"), jstr(cj, "job_id"), jstr(cj, "queue"),
				 ago);
			y++;
		}
	}
	p->nlines = line_no;
}

/* ---- keys ---- */

static int workersv_key(struct tui *t, struct view *v, enum tui_action a)
{
	struct wstate *p = v->priv;
	int page = ui_size().rows / 2;
	switch (a) {
	case ACT_UP:
		if (p->top > 0)
			p->top--;
		return RD_VIEW;
	case ACT_DOWN:
		if (p->top + 1 < p->nlines)
			p->top++;
		return RD_VIEW;
	case ACT_PAGE_UP:
		p->top = p->top > page ? p->top - page : 0;
		return RD_VIEW;
	case ACT_PAGE_DOWN:
		p->top = p->top + page < p->nlines ? p->top + page : (p->nlines ? p->nlines - 1 : 0);
		return RD_VIEW;
	case ACT_FIRST:
		p->top = 0;
		return RD_VIEW;
	case ACT_LAST:
		p->top = p->nlines ? p->nlines - 1 : 0;
		return RD_VIEW;
	case ACT_REFRESH:
		p->wk_due = t->now;
		p->qs_due = t->now;
		p->names_due = t->now;
		tui_status(t, UI_INFO, "refreshing workers and queues");
		return RD_VIEW | RD_STATUS;
	default:
		return RD_NONE;
	}
}

static int workersv_open(struct tui *t, struct view *v)
{
	struct wstate *p = xcalloc(1, sizeof *p);
	v->priv = p;
	slot_init(&p->wk, t, SLOT_REDIS, "workers", wk_done, p);
	p->wk.workers = true;
	slot_init(&p->qs, t, SLOT_REDIS, "queue stats", qs_done, p);
	p->wk_due = p->qs_due = p->names_due = t->now;
	return 0;
}

static void workersv_close(struct tui *t, struct view *v)
{
	struct wstate *p = v->priv;
	(void)t;
	slot_release(&p->wk);
	slot_release(&p->qs);
	free(p->q_inflight);
	if (p->wl_loaded)
		workers_list_release(&p->wl);
	for (size_t i = 0; i < p->nq; i++)
		free(p->q[i].name);
	free(p->q);
	free(p);
	v->priv = NULL;
}

const struct view_ops view_workers = {
	.name = "Workers",
	.tab = TAB_WORKERS,
	.open = workersv_open,
	.close = workersv_close,
	.draw = workersv_draw,
	.key = workersv_key,
	.tick = workersv_tick,
};
