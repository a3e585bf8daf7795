/* slot.c — a read call with a connection of its own.
 *
 * A slot is one PostgreSQL connection (or one Redis connection) and at most
 * one call on it: a screen that loads two things at once (a page of products
 * and their count) has two slots. The loop polls every slot's socket; a slot
 * never blocks:
 *
 *   DOWN        no connection. slot_ready() starts connecting when the retry
 *               time has come (1 s after a failure, doubling to 8 s).
 *   CONNECTING  PostgreSQL: the non-blocking handshake (pgconnect). Redis
 *               connects at once with a short timeout (on the local socket
 *               the dev stack and the tests use, connect never waits).
 *   IDLE        connected, free for a call (slot_ready() is true).
 *   BUSY        a call is running; when it ends the slot's done callback
 *               reads it with the matching _finish and calls slot_finished().
 *
 * A call that fails because the server went away or did not answer by its
 * deadline drops the connection: the title line says "reconnecting", the
 * view keeps its last data (marked stale) and asks again, and the slot
 * connects anew when the server is back.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/rds.h"
#include "tui/tui.h"

#define SLOT_CONNECT_MS   3000   /* PostgreSQL handshake deadline */
#define SLOT_REDIS_MS     200    /* Redis connect and command timeout (blocking connect) */
#define SLOT_RETRY_MIN_MS 1000
#define SLOT_RETRY_MAX_MS 8000

void slot_init(struct slot *s, struct tui *t, enum slot_kind kind, const char *name,
	       slot_done_fn done, void *arg)
{
	memset(s, 0, sizeof *s);
	s->t = t;
	s->kind = kind;
	s->name = name;
	s->done = done;
	s->arg = arg;
	s->state = SLOT_DOWN;
	s->next = t->slots;
	t->slots = s;
}

static void set_state(struct slot *s, bool up, const struct acme_err *err)
{
	struct tui *t = s->t;
	enum conn_state *st = s->kind == SLOT_PG ? &t->db_state : &t->rd_state;
	char *msg = s->kind == SLOT_PG ? t->db_error : t->rd_error;
	enum conn_state now = up ? CONN_UP : CONN_DOWN;
	if (*st != now)
		t->redraw |= RD_TITLE | RD_VIEW;
	*st = now;
	if (up)
		msg[0] = '\0';
	else if (err)
		snprintf(msg, sizeof t->db_error, "%.200s", err->msg);
}

static void drop(struct slot *s, const struct acme_err *err)
{
	if (s->db) {
		db_close(s->db);
		s->db = NULL;
	}
	if (s->have_q) {
		queue_release(&s->q);
		s->have_q = false;
	}
	if (s->rd) {
		rds_close(s->rd);
		s->rd = NULL;
	}
	s->failures++;
	long delay = SLOT_RETRY_MIN_MS;
	for (int i = 1; i < s->failures && delay < SLOT_RETRY_MAX_MS; i++)
		delay *= 2;
	if (delay > SLOT_RETRY_MAX_MS)
		delay = SLOT_RETRY_MAX_MS;
	s->retry_at = clock_mono_ms() + delay;
	s->state = SLOT_DOWN;
	set_state(s, false, err);
}

static void connected(struct slot *s)
{
	s->state = SLOT_IDLE;
	s->failures = 0;
	set_state(s, true, NULL);
}

static void start_connect(struct slot *s)
{
	struct acme_err err = { 0 };
	const struct config *cfg = s->t->cfg;
	if (s->kind == SLOT_PG) {
		if (pgconnect_start(&s->pc, config_get(cfg, CFG_DATABASE_URL), "acmectl-tui",
				    SLOT_CONNECT_MS, &err) < 0) {
			drop(s, &err);
			return;
		}
		s->state = SLOT_CONNECTING;
		return;
	}
	s->rd = rds_connect_url_ms(config_get(cfg, CFG_REDIS_URL), SLOT_REDIS_MS, SLOT_REDIS_MS,
				   &err);
	if (!s->rd || queue_init(&s->q, s->rd, config_get(cfg, CFG_REDIS_PREFIX), &err) < 0) {
		drop(s, &err);
		return;
	}
	s->have_q = true;
	connected(s);
}

bool slot_ready(struct slot *s)
{
	if (s->state == SLOT_DOWN && clock_mono_ms() >= s->retry_at)
		start_connect(s);
	return s->state == SLOT_IDLE;
}

bool slot_busy(const struct slot *s)
{
	return s->state == SLOT_BUSY;
}

void slot_started(struct slot *s)
{
	s->state = SLOT_BUSY;
}

void slot_finished(struct slot *s, const struct acme_err *err)
{
	if (err && err->code != ACME_E_OK &&
	    (err->code == ACME_E_UNAVAILABLE || err->code == ACME_E_TEMPFAIL ||
	     (s->kind == SLOT_REDIS && err->code != ACME_E_FAILURE))) {
		drop(s, err);
		return;
	}
	if (s->state == SLOT_BUSY || s->state == SLOT_IDLE)
		s->state = SLOT_IDLE;
	set_state(s, true, NULL);
}

/* For the loop: the fd to poll (or -1) and the longest wait. */
int slot_pollfd(struct slot *s, struct pollfd *p, long *wait_ms);
int slot_pollfd(struct slot *s, struct pollfd *p, long *wait_ms)
{
	int fd = -1, ms = -1;
	short ev = 0;
	if (s->state == SLOT_CONNECTING) {
		fd = pgconnect_fd(&s->pc);
		ev = pgconnect_events(&s->pc);
		ms = pgconnect_wait_ms(&s->pc);
	} else if (s->state == SLOT_BUSY && s->kind == SLOT_PG) {
		fd = pgcall_fd(&s->call);
		ev = pgcall_events(&s->call);
		ms = pgcall_wait_ms(&s->call);
	} else if (s->state == SLOT_BUSY && s->workers) {
		fd = workers_call_fd(&s->wc);
		ev = workers_call_events(&s->wc);
		ms = workers_call_wait_ms(&s->wc);
	} else if (s->state == SLOT_BUSY) {
		fd = rdscall_fd(&s->rc);
		ev = rdscall_events(&s->rc);
		ms = rdscall_wait_ms(&s->rc);
	}
	/* A slot that is DOWN sets no timeout: it connects when its view asks
	 * (slot_ready, from the view's tick, which runs at least every TICK_MS);
	 * a slot nobody asks for must not keep the loop awake. */
	if (s->state == SLOT_CONNECTING || s->state == SLOT_BUSY) {
		if (fd < 0)
			ms = 0;     /* nothing to wait for: step at once */
		if (ms >= 0 && ms < *wait_ms)
			*wait_ms = ms;
	}
	p->fd = fd;
	p->events = ev ? ev : POLLIN;
	p->revents = 0;
	return fd;
}

/* After poll: advance the connect or the call. Returns redraw flags. */
int slot_step(struct slot *s);
int slot_step(struct slot *s)
{
	struct acme_err err = { 0 };
	if (s->state == SLOT_CONNECTING) {
		int r = pgconnect_step(&s->pc);
		if (r == 0)
			return RD_NONE;
		s->db = pgconnect_finish(&s->pc, &err);
		if (!s->db) {
			drop(s, &err);
			return RD_TITLE;
		}
		connected(s);
		return RD_TITLE;
	}
	if (s->state != SLOT_BUSY)
		return RD_NONE;
	int r = s->kind == SLOT_PG ? pgcall_step(&s->call)
		: s->workers ? workers_call_step(&s->wc) : rdscall_step(&s->rc);
	if (r == 0)
		return RD_NONE;
	return s->done(s->t, s, s->arg);
}

void slot_release(struct slot *s)
{
	if (s->state == SLOT_CONNECTING) {
		struct acme_err err = { 0 };
		PGconn *c = pgconnect_finish(&s->pc, &err);
		if (c)
			db_close(c);
	}
	if (s->state == SLOT_BUSY) {
		/* abandon: the view's done callback finishes the call */
		s->done(s->t, s, s->arg);
	}
	if (s->db)
		db_close(s->db);
	if (s->have_q)
		queue_release(&s->q);
	if (s->rd)
		rds_close(s->rd);
	s->db = NULL;
	s->rd = NULL;
	s->have_q = false;
	s->state = SLOT_DOWN;
}

void slot_unlink(struct tui *t, struct slot *s)
{
	for (struct slot **pp = &t->slots; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			return;
		}
}
