/* webhooks.c — the Webhooks tab: the endpoints with their events, state,
 * failures and last test; add, edit, delete, enable/disable and test them;
 * an endpoint's deliveries with each attempt, and redelivery.
 *
 * Reads go through slots: the endpoint list (webhook_list_start, read again
 * every few seconds so failure counts and last tests stay current), the
 * deliveries of the endpoint whose pane is open (webhook_deliveries_start)
 * and the attempts of the selected delivery (webhook_attempts_start). When
 * the database is away the last data stays on screen marked stale.
 *
 * Changes are tasks on the writer thread through the very functions
 * `acmectl webhooks` calls (webhook_add, _edit, _delete, _set_enabled,
 * _test, _redeliver), audited as "tui webhooks VERB". A test is
 * webhook_test() in a task; its outcome is then looked for as `webhooks test
 * --wait` does (webhook_find_test), one short task every 300 ms, so nothing
 * waits for the worker: the row says "testing..." and shows the result when
 * it arrives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/url.h"
#include "core/webhook.h"
#include "core/whsig.h"
#include "core/xalloc.h"
#include "tui/tui.h"

#define LIST_DEADLINE   5000
#define REFRESH_MS      3000     /* the list and the open pane read again */
#define TEST_CHECK_MS   300      /* look for a test's outcome */
#define TEST_TIMEOUT_MS 60000    /* as `webhooks test --wait` */
#define MAX_TESTS       16
#define DELIVERIES_MAX  50

/* A test sent from this screen, until its outcome has reached the list. */
struct wtest {
	bool used;
	long long wid;
	char event_id[64];
	long long started, next_check;
	bool checking;            /* a find task is out */
	bool done;
	unsigned clear_seq;       /* dropped once a list started at or after it arrives */
	char text[256];
	enum ui_style st;
};

struct wstate {
	struct slot list, dl, at;
	/* the endpoints */
	struct webhook *ws;
	size_t n, sel;
	bool loaded, stale;
	char error[512];
	long long list_due;       /* monotonic ms; 0 none */
	unsigned list_seq;        /* lists started */
	unsigned inflight_seq;
	/* the deliveries pane */
	bool pane;
	long long pane_wid;
	struct webhook_delivery *ds;
	size_t nd, dsel;
	bool dloaded, dstale;
	long long dl_due;
	unsigned dgen, dl_gen;
	struct webhook_delivery_filter dfilter;   /* of the call in flight */
	/* the attempts of the selected delivery */
	long long at_want;        /* the delivery whose attempts are wanted; 0 none */
	long long at_have;        /* the delivery whose attempts are shown */
	long long at_inflight;
	struct webhook_attempt *as;
	size_t na;
	long long at_due;
	/* tests sent */
	struct wtest tests[MAX_TESTS];
};

/* ---- small helpers ---- */

static void events_text(const struct webhook *w, char *buf, size_t n)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < w->nevents && len < n; i++)
		len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "," : "", w->events[i]);
}

/* "2026-12-03T07:14:16.123Z" -> "07:14:16" (or the text as it is) */
static const char *hms(const char *iso, char *buf, size_t n)
{
	if (!iso)
		return "";
	if (strlen(iso) >= 19 && iso[10] == 'T')
		snprintf(buf, n, "%.8s", iso + 11);
	else
		snprintf(buf, n, "%s", iso);
	return buf;
}

static struct wtest *test_of(struct wstate *p, long long wid)
{
	for (int i = MAX_TESTS - 1; i >= 0; i--)
		if (p->tests[i].used && p->tests[i].wid == wid)
			return &p->tests[i];
	return NULL;
}

static void pane_clear(struct wstate *p)
{
	webhook_deliveries_free(p->ds, p->nd);
	p->ds = NULL;
	p->nd = 0;
	p->dsel = 0;
	p->dloaded = false;
	p->dstale = false;
	webhook_attempts_free(p->as, p->na);
	p->as = NULL;
	p->na = 0;
	p->at_have = 0;
	p->at_want = 0;
}

/* ---- the endpoint list ---- */

static int list_done(struct tui *t, struct slot *s, void *arg)
{
	struct wstate *p = arg;
	struct acme_err err = { 0 };
	struct webhook *ws = NULL;
	int n = webhook_list_finish(&s->call, &ws, &err);
	if (n < 0) {
		p->stale = true;
		snprintf(p->error, sizeof p->error, "%s", err.msg);
		if (err.code != ACME_E_UNAVAILABLE && err.code != ACME_E_TEMPFAIL)
			tui_status(t, UI_ERROR, "webhooks: %s", err.msg);
		p->list_due = t->now + 1000;
		slot_finished(s, &err);
		return RD_ALL;
	}
	slot_finished(s, NULL);
	/* keep the selection on the same endpoint */
	long long selid = p->sel < p->n ? p->ws[p->sel].id : 0;
	webhooks_free(p->ws, p->n);
	p->ws = ws;
	p->n = (size_t)n;
	p->sel = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->ws[i].id == selid)
			p->sel = i;
	p->loaded = true;
	p->stale = false;
	p->error[0] = '\0';
	/* tests whose outcome this list already has */
	for (int i = 0; i < MAX_TESTS; i++)
		if (p->tests[i].used && p->tests[i].done && p->tests[i].clear_seq <= p->inflight_seq)
			p->tests[i].used = false;
	if (!p->list_due)
		p->list_due = t->now + REFRESH_MS;
	return RD_VIEW;
}

static void start_list(struct tui *t, struct wstate *p)
{
	struct acme_err err = { 0 };
	p->list_due = 0;
	p->inflight_seq = ++p->list_seq;
	if (webhook_list_start(&p->list.call, p->list.db, LIST_DEADLINE, &err) < 0) {
		p->stale = true;
		snprintf(p->error, sizeof p->error, "%s", err.msg);
		slot_finished(&p->list, &err);
		p->list_due = t->now + 1000;
		return;
	}
	slot_started(&p->list);
}

/* ---- the deliveries of the open pane ---- */

static int dl_done(struct tui *t, struct slot *s, void *arg)
{
	struct wstate *p = arg;
	struct acme_err err = { 0 };
	struct webhook_delivery *ds = NULL;
	long long next = 0;
	int n = webhook_deliveries_finish(&s->call, &p->dfilter, &ds, &next, &err);
	bool current = p->dl_gen == p->dgen && p->pane;
	if (!current) {
		/* abandoned: the pane closed or shows another endpoint */
		if (n >= 0)
			webhook_deliveries_free(ds, (size_t)n);
		slot_finished(s, NULL);
		return RD_NONE;
	}
	if (n < 0) {
		p->dstale = true;
		if (err.code != ACME_E_UNAVAILABLE && err.code != ACME_E_TEMPFAIL)
			tui_status(t, UI_ERROR, "deliveries of webhook %lld: %s", p->pane_wid, err.msg);
		p->dl_due = t->now + 1000;
		slot_finished(s, &err);
		return RD_ALL;
	}
	slot_finished(s, NULL);
	long long selid = p->dsel < p->nd ? p->ds[p->dsel].id : 0;
	webhook_deliveries_free(p->ds, p->nd);
	p->ds = ds;
	p->nd = (size_t)n;
	p->dsel = 0;
	for (size_t i = 0; i < p->nd; i++)
		if (p->ds[i].id == selid)
			p->dsel = i;
	p->dloaded = true;
	p->dstale = false;
	/* the attempts of the selected delivery, read again with it */
	p->at_want = p->nd ? p->ds[p->dsel].id : 0;
	p->at_due = t->now;
	if (!p->dl_due)
		p->dl_due = t->now + REFRESH_MS;
	return RD_VIEW;
}

static void start_dl(struct tui *t, struct wstate *p)
{
	struct acme_err err = { 0 };
	p->dl_due = 0;
	memset(&p->dfilter, 0, sizeof p->dfilter);
	p->dfilter.webhook_id = p->pane_wid;
	p->dfilter.limit = DELIVERIES_MAX;
	p->dl_gen = p->dgen;
	if (webhook_deliveries_start(&p->dl.call, p->dl.db, &p->dfilter, LIST_DEADLINE, &err) < 0) {
		p->dstale = true;
		slot_finished(&p->dl, &err);
		p->dl_due = t->now + 1000;
		return;
	}
	slot_started(&p->dl);
}

static int at_done(struct tui *t, struct slot *s, void *arg)
{
	struct wstate *p = arg;
	struct acme_err err = { 0 };
	struct webhook_attempt *as = NULL;
	size_t na = 0;
	int n = webhook_attempts_finish(&s->call, &as, &na, &err);
	if (n < 0) {
		slot_finished(s, &err);
		if (p->pane && p->at_inflight == p->at_want)
			p->at_due = t->now + 1000;
		return RD_NONE;
	}
	slot_finished(s, NULL);
	if (!p->pane || p->at_inflight != p->at_want) {
		webhook_attempts_free(as, na);
		return RD_NONE;
	}
	webhook_attempts_free(p->as, p->na);
	p->as = as;
	p->na = na;
	p->at_have = p->at_inflight;
	return RD_VIEW;
}

static void start_at(struct tui *t, struct wstate *p)
{
	struct acme_err err = { 0 };
	p->at_due = 0;
	p->at_inflight = p->at_want;
	if (webhook_attempts_start(&p->at.call, p->at.db, p->at_want, LIST_DEADLINE, &err) < 0) {
		slot_finished(&p->at, &err);
		p->at_due = t->now + 1000;
		return;
	}
	slot_started(&p->at);
}

static void open_pane(struct tui *t, struct wstate *p, long long wid)
{
	pane_clear(p);
	p->pane = true;
	p->pane_wid = wid;
	p->dgen++;
	p->dl_due = t->now;
}

/* ---- tests: webhook_test, then webhook_find_test until final ---- */

struct test_task {
	struct wstate *p;
	long long wid;
	char event_id[64];
	int slot;                 /* the struct wtest it checks; -1 for the send */
	bool found;
	struct webhook_delivery d;
};

static int test_send_run(struct task_env *env, void *arg, struct acme_err *err)
{
	struct test_task *tt = arg;
	PGconn *db = task_db(env, err);
	if (!db)
		return -1;
	return webhook_test(db, tt->wid, tt->event_id, err);
}

static int test_send_done(struct tui *t, void *arg, int rc, const struct acme_err *err)
{
	struct test_task *tt = arg;
	struct wstate *p = tt->p;
	if (rc < 0) {
		tui_status(t, UI_ERROR, "webhook %lld: test not sent: %s", tt->wid, err->msg);
		free(tt);
		return RD_ALL;
	}
	/* a newer test of the same endpoint replaces an older one (a check of
	 * the older one still out finds it gone) */
	for (int i = 0; i < MAX_TESTS; i++)
		if (p->tests[i].used && p->tests[i].wid == tt->wid)
			p->tests[i].used = false;
	/* a free place (the oldest when all are taken) */
	int k = 0;
	for (int i = 0; i < MAX_TESTS; i++) {
		if (!p->tests[i].used) {
			k = i;
			break;
		}
		if (p->tests[i].started < p->tests[k].started)
			k = i;
	}
	struct wtest *w = &p->tests[k];
	memset(w, 0, sizeof *w);
	w->used = true;
	w->wid = tt->wid;
	snprintf(w->event_id, sizeof w->event_id, "%s", tt->event_id);
	w->started = t->now;
	w->next_check = t->now + TEST_CHECK_MS;
	snprintf(w->text, sizeof w->text, "testing... (queued)");
	w->st = UI_INFO;
	tui_status(t, UI_INFO, "test event %s for webhook %lld queued; the result appears in its row",
		   tt->event_id, tt->wid);
	if (p->pane && p->pane_wid == tt->wid)
		p->dl_due = t->now;
	free(tt);
	return RD_ALL;
}

static int test_find_run(struct task_env *env, void *arg, struct acme_err *err)
{
	struct test_task *tt = arg;
	PGconn *db = task_db(env, err);
	if (!db)
		return -1;
	struct acme_err e = { 0 };
	if (webhook_find_test(db, tt->wid, tt->event_id, &tt->d, &e) == 0) {
		tt->found = true;
		return 0;
	}
	if (e.code == ACME_E_NOT_FOUND)
		return 0;         /* not yet: tt->d.relayed says where it is */
	*err = e;
	return -1;
}

static int test_find_done(struct tui *t, void *arg, int rc, const struct acme_err *err)
{
	struct test_task *tt = arg;
	struct wstate *p = tt->p;
	struct wtest *w = &p->tests[tt->slot];
	int rd = RD_NONE;
	if (!w->used || w->wid != tt->wid || strcmp(w->event_id, tt->event_id) != 0)
		goto out;         /* replaced meanwhile */
	w->checking = false;
	w->next_check = t->now + TEST_CHECK_MS;
	rd = RD_VIEW;
	if (rc < 0) {
		/* the database is away: keep looking */
		snprintf(w->text, sizeof w->text, "testing... (%s)", err->msg);
		goto out;
	}
	if (tt->found && delivery_status_is_final(tt->d.state)) {
		if (tt->d.state == DELIVERY_SUCCEEDED) {
			snprintf(w->text, sizeof w->text, "HTTP %d in %d ms (just now)",
				 tt->d.last_status_code, tt->d.last_latency_ms);
			w->st = UI_OK;
			tui_status(t, UI_OK, "webhook %lld answered HTTP %d in %d ms", tt->wid,
				   tt->d.last_status_code, tt->d.last_latency_ms);
		} else {
			snprintf(w->text, sizeof w->text, "failed: %s",
				 tt->d.last_error ? tt->d.last_error : tt->d.status);
			w->st = UI_ERROR;
			tui_status(t, UI_ERROR, "webhook %lld: test failed: %s", tt->wid,
				   tt->d.last_error ? tt->d.last_error : tt->d.status);
		}
		w->done = true;
		/* the list read after this one has the endpoint's last test */
		w->clear_seq = p->list_seq + 1;
		p->list_due = t->now;
		if (p->pane && p->pane_wid == tt->wid)
			p->dl_due = t->now;
		rd = RD_ALL;
		goto out;
	}
	if (t->now - w->started >= TEST_TIMEOUT_MS) {
		snprintf(w->text, sizeof w->text, "no outcome within %d s (%s); is a worker running?",
			 TEST_TIMEOUT_MS / 1000, tt->found ? tt->d.status :
			 tt->d.relayed ? "dispatching" : "waiting in the outbox");
		w->st = UI_WARN;
		w->done = true;
		w->clear_seq = (unsigned)-1;     /* stays until replaced */
		goto out;
	}
	snprintf(w->text, sizeof w->text, "testing... (%s)",
		 tt->found ? tt->d.status : tt->d.relayed ? "dispatching" : "queued");
out:
	if (tt->found)
		webhook_delivery_release(&tt->d);
	free(tt);
	return rd;
}

static void tests_tick(struct tui *t, struct wstate *p, long long now, long *wait_ms)
{
	for (int i = 0; i < MAX_TESTS; i++) {
		struct wtest *w = &p->tests[i];
		if (!w->used || w->done || w->checking)
			continue;
		if (now < w->next_check) {
			if (w->next_check - now < *wait_ms)
				*wait_ms = (long)(w->next_check - now);
			continue;
		}
		struct test_task *tt = xcalloc(1, sizeof *tt);
		tt->p = p;
		tt->wid = w->wid;
		tt->slot = i;
		snprintf(tt->event_id, sizeof tt->event_id, "%s", w->event_id);
		w->checking = true;
		tui_task(t, test_find_run, test_find_done, tt);
	}
}

/* ---- changes: tasks on the writer thread ---- */

enum change_kind { CH_ADD, CH_EDIT, CH_DELETE, CH_ENABLE, CH_REDELIVER };

struct change {
	struct wstate *p;
	enum change_kind kind;
	long long id, result;
	char *url, *description;
	char **events;
	size_t nevents;
	bool enabled, changed;
	char reason[300];
	char secret[WHSIG_SECRET_MAX];
	const char *env;
	unsigned form;       /* the form being saved (tui_form_current) */
	char woke[300];           /* redeliver: why no deliverer was woken */
};

static void change_free(struct change *c)
{
	free(c->url);
	free(c->description);
	for (size_t i = 0; i < c->nevents; i++)
		free(c->events[i]);
	free(c->events);
	memset(c->secret, 0, sizeof c->secret);
	free(c);
}

static int change_run(struct task_env *env, void *arg, struct acme_err *err)
{
	struct change *c = arg;
	PGconn *db = task_db(env, err);
	if (!db)
		return -1;
	static const char *const what[] = {
		"tui webhooks add", "tui webhooks edit", "tui webhooks delete",
		"tui webhooks enable", "tui webhooks redeliver",
	};
	struct webhook_actor who = { c->env, what[c->kind] };
	if (c->kind == CH_ENABLE && !c->enabled)
		who.command = "tui webhooks disable";
	switch (c->kind) {
	case CH_ADD: {
		if (whsig_secret_new(c->secret, err) < 0)
			return -1;
		struct webhook_spec spec = { c->url, (const char *const *)c->events, c->nevents,
					     c->description, 1, 0, c->secret };
		return webhook_add(db, &who, &spec, &c->result, err);
	}
	case CH_EDIT: {
		struct webhook_spec spec = { c->url, (const char *const *)c->events, c->nevents,
					     c->description ? c->description : "", -1, -1, NULL };
		return webhook_edit(db, &who, c->id, &spec, err);
	}
	case CH_DELETE:
		return webhook_delete(db, &who, c->id, err);
	case CH_ENABLE:
		return webhook_set_enabled(db, &who, c->id, c->enabled, c->reason, &c->changed, err);
	case CH_REDELIVER: {
		if (webhook_redeliver(db, &who, c->id, &c->result, err) < 0)
			return -1;
		/* wake a deliverer; if Redis is away the next one picks it up anyway */
		struct acme_err e = { 0 };
		struct queue q;
		redisContext *rd = task_redis(env, &e);
		if (!rd || queue_init(&q, rd, config_get(env->cfg, CFG_REDIS_PREFIX), &e) < 0) {
			snprintf(c->woke, sizeof c->woke, "%s", e.msg);
			return 0;
		}
		if (webhook_wake(db, &q, NULL, 0, &e) < 0)
			snprintf(c->woke, sizeof c->woke, "%s", e.msg);
		queue_release(&q);
		return 0;
	}
	}
	return 0;
}

static int change_done(struct tui *t, void *arg, int rc, const struct acme_err *err)
{
	struct change *c = arg;
	struct wstate *p = c->p;
	switch (c->kind) {
	case CH_ADD:
	case CH_EDIT:
		if (rc < 0) {
			tui_form_error(t, c->form, err->msg);
			if (!tui_modal_open(t))
				tui_status(t, UI_ERROR, "webhook not %s: %s",
					   c->kind == CH_ADD ? "added" : "changed", err->msg);
			break;
		}
		tui_form_close(t, c->form);
		if (c->kind == CH_ADD)
			/* the only time it is shown, as `webhooks add` does */
			tui_status(t, UI_OK, "webhook %lld added; its signing secret is shown this "
				   "once, store it now: %s", c->result, c->secret);
		else
			tui_status(t, UI_OK, "webhook %lld changed", c->id);
		break;
	case CH_DELETE:
		if (rc < 0) {
			tui_status(t, UI_ERROR, "webhook %lld not deleted: %s", c->id, err->msg);
			break;
		}
		tui_status(t, UI_OK, "webhook %lld deleted", c->id);
		if (p->pane && p->pane_wid == c->id) {
			p->pane = false;
			p->dgen++;
			pane_clear(p);
		}
		break;
	case CH_ENABLE:
		if (rc < 0) {
			tui_status(t, UI_ERROR, "webhook %lld: %s", c->id, err->msg);
			break;
		}
		if (!c->changed)
			tui_status(t, UI_INFO, "webhook %lld was %s already", c->id,
				   c->enabled ? "enabled" : "disabled");
		else if (c->enabled)
			tui_status(t, UI_OK, "webhook %lld enabled (its failure count starts again at 0)",
				   c->id);
		else
			tui_status(t, UI_OK, "webhook %lld disabled; deliveries waiting for it are "
				   "cancelled", c->id);
		break;
	case CH_REDELIVER:
		if (rc < 0) {
			tui_status(t, UI_ERROR, "not redelivered: %s", err->msg);
			break;
		}
		if (c->woke[0])
			tui_status(t, UI_WARN, "delivery %lld queued, but no deliverer could be woken "
				   "(%s); the next one sends it", c->result, c->woke);
		else
			tui_status(t, UI_OK, "delivery %lld sends delivery %lld again (same webhook-id "
				   "and body)", c->result, c->id);
		if (p->pane)
			p->dl_due = t->now;
		break;
	}
	p->list_due = t->now;
	change_free(c);
	return RD_ALL;
}

static struct change *change_new(struct tui *t, struct wstate *p, enum change_kind kind)
{
	struct change *c = xcalloc(1, sizeof *c);
	c->p = p;
	c->kind = kind;
	c->env = tui_environment(t);
	return c;
}

/* The events of the form ("product.*, import.completed" or with spaces),
 * checked as `webhooks add --event` checks them. */
static int parse_events(const char *text, struct change *c, struct acme_err *err)
{
	if (webhook_events_add(text, ", \t", &c->events, &c->nevents, err) < 0)
		return -1;
	if (c->nevents == 0)
		return acme_err_set(err, ACME_E_USAGE, "events: give the events to send, separated by "
				    "commas (* for all)");
	return 0;
}

/* The URL as `webhooks add` checks it: http(s), a host, the private-address
 * guard of the configuration. */
static int check_url(struct tui *t, const char *url, bool allow_private, struct acme_err *err)
{
	struct webhook_settings s;
	if (webhook_settings_load(t->cfg, &s, err) < 0)
		return -1;
	if (!url[0])
		return acme_err_set(err, ACME_E_USAGE, "url: give the endpoint's URL (http:// or "
				    "https://)");
	if (webhook_check_url(url, webhook_guard_on(&s, allow_private), err) < 0)
		return acme_err_prefix(err, "url");
	return 0;
}

struct form_ctx {
	struct wstate *p;
	long long id;             /* edit: the endpoint; add: 0 */
	bool allow_private;
	char *old_url;            /* edit: the URL as the form shows it (redacted) */
};

static struct form_ctx the_form;   /* one form at a time: its arg */

static int form_submit(struct tui *t, void *arg, char *const *values, struct acme_err *err)
{
	struct form_ctx *f = arg;
	struct change *c = change_new(t, f->p, f->id ? CH_EDIT : CH_ADD);
	c->id = f->id;
	/* edit: the form shows the URL redacted; left as it is, it is not
	 * changed (nor checked again) */
	bool new_url = !f->id || !f->old_url || strcmp(values[0], f->old_url) != 0;
	if ((new_url && check_url(t, values[0], f->allow_private, err) < 0) ||
	    parse_events(values[1], c, err) < 0) {
		change_free(c);
		return -1;
	}
	if (new_url)
		c->url = xstrdup(values[0]);
	c->description = xstrdup(values[2]);
	c->form = tui_form_current(t);
	tui_status(t, UI_INFO, f->id ? "saving webhook %lld..." : "adding the webhook...", f->id);
	tui_task(t, change_run, change_done, c);
	return 1;
}

static void open_form(struct tui *t, struct wstate *p, const struct webhook *w)
{
	free(the_form.old_url);
	memset(&the_form, 0, sizeof the_form);
	the_form.p = p;
	char events[1024] = "*", title[96];
	if (w) {
		the_form.id = w->id;
		the_form.allow_private = w->allow_private;
		the_form.old_url = url_redact(w->url);   /* a password never on screen */
		events_text(w, events, sizeof events);
		snprintf(title, sizeof title, "Edit webhook %lld (events: a,b or * for all)", w->id);
	}
	struct form_field ff[] = {
		{ "URL", w ? the_form.old_url : "", NULL },
		{ "Events", events, NULL },
		{ "Description", w && w->description ? w->description : "", NULL },
	};
	tui_form(t, w ? title : "Add a webhook (events: a,b or * for all)", ff, 3, form_submit,
		 &the_form);
}

static int delete_answer(struct tui *t, void *arg, bool yes)
{
	struct wstate *p = arg;
	if (!yes || p->sel >= p->n) {
		tui_status(t, UI_INFO, "nothing was deleted");
		return RD_STATUS;
	}
	struct change *c = change_new(t, p, CH_DELETE);
	c->id = p->ws[p->sel].id;
	tui_task(t, change_run, change_done, c);
	return RD_STATUS;
}

/* ---- tick ---- */

static int webhooks_tick(struct tui *t, struct view *v, long long now, long *wait_ms)
{
	struct wstate *p = v->priv;
	int rd = RD_NONE;
	bool shown = t->tab == TAB_WEBHOOKS;
	/* the list: at once when asked, then every few seconds while the tab
	 * shows (hidden, it is read again when the tab comes back) */
	if (p->list_due && (shown || (!p->loaded && tui_background_ok(t))) && !slot_busy(&p->list)) {
		if (now >= p->list_due) {
			if (slot_ready(&p->list))
				start_list(t, p);
		} else if (p->list_due - now < *wait_ms) {
			*wait_ms = (long)(p->list_due - now);
		}
	}
	if (p->pane) {
		if (slot_busy(&p->dl) && p->dl_gen != p->dgen)
			p->dl.done(t, &p->dl, p);        /* abandon the other endpoint's */
		if (p->dl_due && now >= p->dl_due && slot_ready(&p->dl))
			start_dl(t, p);
		else if (p->dl_due && p->dl_due > now && p->dl_due - now < *wait_ms)
			*wait_ms = (long)(p->dl_due - now);
		if (p->at_want && p->at_due && now >= p->at_due && !slot_busy(&p->at) &&
		    slot_ready(&p->at))
			start_at(t, p);
	}
	tests_tick(t, p, now, wait_ms);
	if (t->db_state == CONN_DOWN && p->loaded && !p->stale) {
		p->stale = true;
		rd |= RD_VIEW;
	}
	if (t->db_state == CONN_DOWN && p->pane && p->dloaded && !p->dstale) {
		p->dstale = true;
		rd |= RD_VIEW;
	}
	return rd;
}

/* ---- drawing ---- */

enum col { C_ID, C_URL, C_EVENTS, C_ENABLED, C_FAILURES, C_TEST, C__COUNT };
static const char *const col_title[C__COUNT] = {
	"ID", "URL", "Events", "Enabled", "Failures", "Last test",
};

/* The events column as wide as the longest list (up to 40% of what is left),
 * the last test at least 25 columns ("HTTP 200 in 9 ms, 3m ago"), the URL
 * the rest; on a narrow screen (80 columns) each gets its share. */
static void col_widths(const struct wstate *p, int w, int *cw)
{
	cw[C_ID] = 4;
	cw[C_ENABLED] = 7;
	cw[C_FAILURES] = w >= 110 ? 20 : 12;
	int rest = w - (cw[C_ID] + cw[C_ENABLED] + cw[C_FAILURES]) - (C__COUNT - 1) - 1;
	if (rest < 30)
		rest = 30;
	int ev = 6;
	for (size_t i = 0; i < p->n; i++) {
		char buf[1024];
		events_text(&p->ws[i], buf, sizeof buf);
		int n = ui_width(buf);
		if (n > ev)
			ev = n;
	}
	int test;
	if (rest >= 75) {
		if (ev > rest * 40 / 100)
			ev = rest * 40 / 100;
		test = rest * 30 / 100;
		if (test < 25)
			test = 25;
	} else {
		if (ev > rest * 25 / 100)
			ev = rest * 25 / 100;
		test = rest * 35 / 100;
	}
	cw[C_EVENTS] = ev;
	cw[C_TEST] = test;
	cw[C_URL] = rest - ev - test;
}

static void test_cell(struct wstate *p, const struct webhook *w, char *buf, size_t n,
		      enum ui_style *st)
{
	const struct wtest *x = test_of(p, w->id);
	if (x) {
		snprintf(buf, n, "%s", x->text);
		*st = x->st;
		return;
	}
	buf[0] = '\0';
	if (!w->tested)
		return;
	char ago[32];
	fmt_ago(ago, sizeof ago, w->last_test_at, -1);
	if (w->last_test_status) {
		snprintf(buf, n, "HTTP %d in %d ms, %s", w->last_test_status, w->last_test_latency_ms,
			 ago);
		*st = w->last_test_status >= 200 && w->last_test_status < 300 ? UI_OK : UI_ERROR;
	} else {
		snprintf(buf, n, "error %s: %s", ago,
			 w->last_test_error ? w->last_test_error : "no response");
		*st = UI_ERROR;
	}
}

static void failure_cell(const struct webhook *w, char *buf, size_t n, enum ui_style *st)
{
	if (!w->enabled) {
		/* Enabled says "no"; this says why */
		snprintf(buf, n, "%s", w->disabled_reason ? w->disabled_reason : "(no reason given)");
		*st = UI_WARN;
	} else if (w->consecutive_failures) {
		char ago[32] = "";
		if (w->failing_since)
			fmt_ago(ago, sizeof ago, w->failing_since, -1);
		snprintf(buf, n, "%d failing%s%s", w->consecutive_failures, ago[0] ? " since " : "",
			 ago);
		*st = UI_ERROR;
	} else {
		snprintf(buf, n, "0");
	}
}

static void draw_pane(struct tui *t, struct wstate *p, int y, int h, int w)
{
	(void)t;
	ui_fill(y, 0, w, UI_HEADER);
	const char *url = "";
	for (size_t i = 0; i < p->n; i++)
		if (p->ws[i].id == p->pane_wid)
			url = p->ws[i].url;
	char *shown = url_redact(url);
	ui_textf(y, 1, w - 2, UI_HEADER, false, "Deliveries of webhook %lld%s   Up/Down select, "
		 "R redelivers, Esc closes   %s", p->pane_wid, p->dstale ? "  STALE" : "", shown);
	free(shown);
	if (!p->dloaded) {
		ui_text(y + 1, 2, w - 4, "loading...", UI_DIM, false);
		return;
	}
	if (!p->nd) {
		ui_text(y + 1, 2, w - 4, "no deliveries yet (t sends a test event)", UI_DIM, false);
		return;
	}
	/* the deliveries (as many as there are, leaving at least 4 lines),
	 * then the selected delivery's attempts in what is left */
	int list_h = h - 2 - 1 - 4;
	if (list_h > (int)p->nd)
		list_h = (int)p->nd;
	if (list_h < 1)
		list_h = 1;
	int att_h = h - 2 - list_h - 1 - 1;
	if (att_h < 1)
		att_h = 1;
	ui_textf(y + 1, 1, w - 2, UI_BOLD, true, "%-8s %-20s %-18s %-10s %8s %6s %8s  %s", "ID",
		 "Event", "Type", "Status", "Attempts", "Code", "Latency", "Created");
	size_t first = 0;
	if ((int)p->dsel >= list_h)
		first = p->dsel - (size_t)list_h + 1;
	for (int i = 0; i < list_h && first + (size_t)i < p->nd; i++) {
		const struct webhook_delivery *d = &p->ds[first + (size_t)i];
		bool sel = first + (size_t)i == p->dsel;
		enum ui_style st = p->dstale ? UI_DIM : sel ? UI_SELECTED : UI_NORMAL;
		if (!sel && !p->dstale)
			st = d->state == DELIVERY_SUCCEEDED ? UI_OK :
			     d->state == DELIVERY_FAILED ? UI_ERROR :
			     d->state == DELIVERY_CANCELLED ? UI_DIM : UI_NORMAL;
		char code[16] = "", lat[16] = "", created[16], redo[32] = "";
		if (d->last_status_code)
			snprintf(code, sizeof code, "%d", d->last_status_code);
		if (d->last_latency_ms >= 0)
			snprintf(lat, sizeof lat, "%d ms", d->last_latency_ms);
		if (d->redelivery_of)
			snprintf(redo, sizeof redo, "  (redelivers %lld)", d->redelivery_of);
		if (sel)
			ui_fill(y + 2 + i, 0, w, st);
		ui_textf(y + 2 + i, 1, w - 2, st, true, "%-8lld %-20s %-18s %-10s %8d %6s %8s  %s%s",
			 d->id, d->event_id ? d->event_id : "", d->event_type ? d->event_type : "",
			 d->status ? d->status : "", d->attempts, code, lat,
			 hms(d->created_at, created, sizeof created), redo);
	}
	int ay = y + 2 + list_h + 1;
	const struct webhook_delivery *d = &p->ds[p->dsel];
	ui_textf(ay, 1, w - 2, UI_BOLD, true, "Attempts of delivery %lld%s%s", d->id,
		 d->last_error && d->state != DELIVERY_SUCCEEDED ? "  last error: " : "",
		 d->last_error && d->state != DELIVERY_SUCCEEDED ? d->last_error : "");
	if (p->at_have != d->id) {
		ui_text(ay + 1, 2, w - 4, "loading...", UI_DIM, false);
		return;
	}
	if (!p->na) {
		ui_text(ay + 1, 2, w - 4, d->next_attempt_at ? "none yet; the first is due" :
			"none yet", UI_DIM, false);
		return;
	}
	/* the newest attempts when they do not all fit */
	size_t afirst = p->na > (size_t)att_h ? p->na - (size_t)att_h : 0;
	for (size_t i = afirst; i < p->na && (int)(i - afirst) < att_h; i++) {
		const struct webhook_attempt *a = &p->as[i];
		char res[64], when[16];
		if (a->status_code)
			snprintf(res, sizeof res, "HTTP %d", a->status_code);
		else
			snprintf(res, sizeof res, "no response");
		char lat[24] = "";
		if (a->latency_ms >= 0)
			snprintf(lat, sizeof lat, " in %d ms", a->latency_ms);
		ui_textf(ay + 1 + (int)(i - afirst), 2, w - 4,
			 a->status_code >= 200 && a->status_code < 300 ? UI_OK : UI_ERROR, true,
			 "#%d at %s: %s%s%s%s%s%s", a->attempt, hms(a->started_at, when, sizeof when),
			 res, lat, a->remote_addr ? " from " : "", a->remote_addr ? a->remote_addr : "",
			 a->error ? ": " : "", a->error ? a->error : "");
	}
}

static void webhooks_draw(struct tui *t, struct view *v, int y, int h, int w)
{
	struct wstate *p = v->priv;
	(void)t;
	int pane_h = 0;
	if (p->pane) {
		int want_table = (int)p->n + 2;
		if (want_table < 4)
			want_table = 4;
		if (want_table > h / 3)
			want_table = h / 3;
		pane_h = h - want_table;
	}
	int table_h = h - pane_h;
	char line[256];
	if (!p->loaded)
		snprintf(line, sizeof line, p->error[0] ? "cannot load the endpoints" : "loading...");
	else if (!p->n)
		snprintf(line, sizeof line, "no webhook endpoints; a adds one");
	else
		snprintf(line, sizeof line, "%zu endpoint%s", p->n, p->n == 1 ? "" : "s");
	int x = 1 + ui_text(y, 1, w - 2, line, UI_BOLD, false);
	if (p->stale && p->loaded)
		ui_text(y, x + 2, w - x - 3, "STALE (database unreachable; showing the last data)",
			UI_WARN, false);
	else if (p->error[0] && p->stale)
		ui_text(y, x + 2, w - x - 3, p->error, UI_ERROR, false);
	else
		ui_text(y, x + 2, w - x - 3, "a add  e edit  d delete  Space enable/disable  t test  "
			"Enter deliveries", UI_DIM, false);
	int cw[C__COUNT];
	col_widths(p, w, cw);
	int hy = y + 1;
	x = 1;
	for (int c = 0; c < C__COUNT; c++) {
		ui_text(hy, x, cw[c], col_title[c], UI_HEADER, true);
		x += cw[c] + 1;
	}
	int rows = table_h - 2;
	size_t first = 0;
	if (rows > 0 && (int)p->sel >= rows)
		first = p->sel - (size_t)rows + 1;
	for (int i = 0; i < rows && first + (size_t)i < p->n; i++) {
		struct webhook *wh = &p->ws[first + (size_t)i];
		int ry = hy + 1 + i;
		bool sel = first + (size_t)i == p->sel;
		enum ui_style base = p->stale ? UI_DIM : sel ? UI_SELECTED : UI_NORMAL;
		if (sel)
			ui_fill(ry, 0, w, base);
		char id[24], ev[1024], fail[600], test[400];
		snprintf(id, sizeof id, "%lld", wh->id);
		events_text(wh, ev, sizeof ev);
		enum ui_style fst = base, tst = base;
		failure_cell(wh, fail, sizeof fail, &fst);
		test_cell(p, wh, test, sizeof test, &tst);
		if (sel || p->stale)
			fst = tst = base;
		char *url = url_redact(wh->url);
		const char *cells[C__COUNT] = { id, url, ev, wh->enabled ? "yes" : "no", fail, test };
		x = 1;
		for (int c = 0; c < C__COUNT; c++) {
			enum ui_style cs = c == C_FAILURES ? fst : c == C_TEST ? tst : base;
			if (c == C_ENABLED && !wh->enabled && !sel && !p->stale)
				cs = UI_WARN;
			ui_text(ry, x, cw[c], cells[c], cs, true);
			x += cw[c] + 1;
		}
		free(url);
	}
	if (p->pane)
		draw_pane(t, p, y + table_h, pane_h, w);
}

/* ---- keys ---- */

static int webhooks_key(struct tui *t, struct view *v, enum tui_action a)
{
	struct wstate *p = v->priv;
	struct webhook *w = p->sel < p->n ? &p->ws[p->sel] : NULL;
	switch (a) {
	case ACT_UP:
		if (p->pane) {
			if (p->dsel > 0)
				p->dsel--;
		} else if (p->sel > 0) {
			p->sel--;
		}
		break;
	case ACT_DOWN:
		if (p->pane) {
			if (p->dsel + 1 < p->nd)
				p->dsel++;
		} else if (p->sel + 1 < p->n) {
			p->sel++;
		}
		break;
	case ACT_PAGE_UP:
	case ACT_FIRST:
		if (p->pane)
			p->dsel = 0;
		else
			p->sel = 0;
		break;
	case ACT_PAGE_DOWN:
	case ACT_LAST:
		if (p->pane)
			p->dsel = p->nd ? p->nd - 1 : 0;
		else
			p->sel = p->n ? p->n - 1 : 0;
		break;
	case ACT_REFRESH:
		p->list_due = t->now;
		if (p->pane)
			p->dl_due = t->now;
		tui_status(t, UI_INFO, "refreshing webhooks");
		return RD_ALL;
	case ACT_ENTER:
		if (!w)
			return RD_NONE;
		open_pane(t, p, w->id);
		return RD_VIEW;
	case ACT_ESCAPE:
		if (!p->pane)
			return RD_NONE;
		p->pane = false;
		p->dgen++;
		pane_clear(p);
		return RD_VIEW;
	case ACT_ADD:
		open_form(t, p, NULL);
		return RD_ALL;
	case ACT_EDIT:
		if (!w)
			return RD_NONE;
		open_form(t, p, w);
		return RD_ALL;
	case ACT_DELETE: {
		if (!w)
			return RD_NONE;
		char q[600];
		char *url = url_redact(w->url);
		snprintf(q, sizeof q, "delete webhook %lld (%.400s) and its delivery log?", w->id, url);
		free(url);
		tui_confirm(t, q, delete_answer, p);
		return RD_ALL;
	}
	case ACT_TOGGLE: {
		if (!w)
			return RD_NONE;
		struct change *c = change_new(t, p, CH_ENABLE);
		c->id = w->id;
		c->enabled = !w->enabled;
		char *me = acme_whoami();
		snprintf(c->reason, sizeof c->reason, "disabled by %s (tui)", me);
		free(me);
		tui_status(t, UI_INFO, "%s webhook %lld...", c->enabled ? "enabling" : "disabling",
			   w->id);
		tui_task(t, change_run, change_done, c);
		return RD_STATUS;
	}
	case ACT_TEST: {
		if (!w)
			return RD_NONE;
		struct test_task *tt = xcalloc(1, sizeof *tt);
		tt->p = p;
		tt->wid = w->id;
		tt->slot = -1;
		tui_status(t, UI_INFO, "sending a test event to webhook %lld...", w->id);
		tui_task(t, test_send_run, test_send_done, tt);
		return RD_STATUS;
	}
	case ACT_REDELIVER: {
		if (!p->pane || p->dsel >= p->nd) {
			tui_status(t, UI_INFO, "Enter opens the endpoint's deliveries; R redelivers the "
				   "selected one");
			return RD_STATUS;
		}
		struct change *c = change_new(t, p, CH_REDELIVER);
		c->id = p->ds[p->dsel].id;
		tui_status(t, UI_INFO, "redelivering delivery %lld...", c->id);
		tui_task(t, change_run, change_done, c);
		return RD_STATUS;
	}
	default:
		return RD_NONE;
	}
	/* a movement: the pane's attempts follow the selected delivery */
	if (p->pane && p->dsel < p->nd && p->ds[p->dsel].id != p->at_want) {
		p->at_want = p->ds[p->dsel].id;
		p->at_due = t->now;
	}
	return RD_VIEW;
}

static int webhooks_click(struct tui *t, struct view *v, int row, int col)
{
	(void)t;
	(void)col;
	struct wstate *p = v->priv;
	int i = row - 2;          /* the summary and header lines */
	if (i >= 0 && (size_t)i < p->n && !p->pane) {
		p->sel = (size_t)i;
		return RD_VIEW;
	}
	return RD_NONE;
}

static int webhooks_open(struct tui *t, struct view *v)
{
	struct wstate *p = xcalloc(1, sizeof *p);
	v->priv = p;
	slot_init(&p->list, t, SLOT_PG, "webhooks", list_done, p);
	slot_init(&p->dl, t, SLOT_PG, "webhook deliveries", dl_done, p);
	slot_init(&p->at, t, SLOT_PG, "webhook attempts", at_done, p);
	p->list_due = t->now;
	return 0;
}

static void webhooks_close(struct tui *t, struct view *v)
{
	struct wstate *p = v->priv;
	(void)t;
	p->pane = false;
	p->dgen++;
	slot_release(&p->list);
	slot_release(&p->dl);
	slot_release(&p->at);
	pane_clear(p);
	webhooks_free(p->ws, p->n);
	free(the_form.old_url);
	the_form.old_url = NULL;
	free(p);
	v->priv = NULL;
}

const struct view_ops view_webhooks = {
	.name = "Webhooks",
	.tab = TAB_WEBHOOKS,
	.open = webhooks_open,
	.close = webhooks_close,
	.draw = webhooks_draw,
	.key = webhooks_key,
	.tick = webhooks_tick,
	.click = webhooks_click,
};
