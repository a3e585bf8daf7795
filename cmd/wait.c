/* wait.c — --timeout and the "no live worker serves the queue" line for the
 * commands that wait for a worker (see wait.h). The decision comes from the
 * workers' heartbeat records (core/jobwait.c), not from how long it took: a
 * busy worker that serves the queue gets no hint, a worker that serves only
 * other queues does not count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/wait.h"
#include "core/clock.h"

#define CHECK_EVERY_MS 2000

void wait_watch_init(struct wait_watch *w, struct ctx *ctx, const char *queue,
		     long long timeout_ms)
{
	const char *env = getenv("ACME_WAIT_HINT_AFTER");
	long long grace;

	memset(w, 0, sizeof(*w));
	w->ctx = ctx;
	w->queue = queue;
	w->start = clock_mono_ms();
	w->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	w->grace_ms = env && env[0] && parse_duration_ms(env, &grace) == 0 ? grace : WAIT_HINT_MS;
}

/* The hint on a line of its own; on a terminal, a status line being drawn
 * there (import's progress line) is cleared first, and redrawn by its owner. */
static void say(struct wait_watch *w)
{
	if (w->ctx->quiet)
		return;
	if (w->ctx->stderr_tty)
		fputs("\r\033[K", stderr);
	ctx_msg(w->ctx, "%s", w->hint);
}

/* Ask the heartbeats; fills w->hint ("" when a live worker serves the queue
 * and it is not paused). false when Redis could not say. */
static bool check(struct wait_watch *w)
{
	struct acme_err err;
	redisContext *c = ctx_redis(w->ctx);
	w->next_check = clock_mono_ms() + CHECK_EVERY_MS;
	if (!c || jobwait_serving(c, config_get(&w->ctx->s.cfg, CFG_REDIS_PREFIX), w->queue,
				  &w->serving, &err) < 0)
		return false;
	w->checked = true;
	if (w->serving.paused)
		snprintf(w->hint, sizeof(w->hint), "queue %s is paused: no worker takes its jobs; "
			 "'acmectl jobs resume %s' lets them run", w->queue, w->queue);
	else if (w->serving.workers == 0)
		snprintf(w->hint, sizeof(w->hint), "no live worker serves queue %s%s; start one with "
			 "'acmectl worker --queues %s'", w->queue, w->serving.others ?
			 " (the live workers serve other queues)" : "", w->queue);
	else
		w->hint[0] = '\0';
	return true;
}

bool wait_watch_tick(struct wait_watch *w, bool waiting)
{
	long long now = clock_mono_ms();
	if (!waiting || w->said || now - w->start < w->grace_ms || now < w->next_check)
		return false;
	if (!check(w) || !w->hint[0])
		return false;
	w->said = true;
	say(w);
	return true;
}

bool wait_watch_expired(const struct wait_watch *w)
{
	return w->timeout_ms > 0 && clock_mono_ms() - w->start >= w->timeout_ms;
}

int wait_watch_cap(const struct wait_watch *w, int ms)
{
	long long now = clock_mono_ms();
	if (!w->said) {
		/* wake for the hint's next check, when one is due later */
		long long due = w->start + w->grace_ms;
		if (w->next_check > due)
			due = w->next_check;
		if (due > now && due - now < ms)
			ms = (int)(due - now);
	}
	if (w->timeout_ms <= 0)
		return ms;
	long long left = w->start + w->timeout_ms - now;
	if (left < 0)
		left = 0;
	return left < ms ? (int)left : ms;
}

const char *wait_watch_within(struct wait_watch *w, char *buf, size_t len)
{
	long long ms = w->timeout_ms;
	if (ms % 3600000 == 0)
		snprintf(buf, len, "within %lldh", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(buf, len, "within %lldm", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "within %llds", ms / 1000);
	else
		snprintf(buf, len, "within %lldms", ms);
	return buf;
}

const char *wait_watch_why(struct wait_watch *w, bool waiting, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!waiting)
		return buf;
	/* the line of the grace, once, even when the deadline came first */
	if (check(w) && w->hint[0] && !w->said) {
		w->said = true;
		say(w);
	}
	if (w->hint[0])
		snprintf(buf, len, " (%s)", w->hint);
	return buf;
}

void wait_print_event(FILE *f, json_t *ev)
{
	json_t *ts = json_object_get(ev, "ts");
	if (json_is_integer(ts)) {
		char buf[40];
		clock_format_ms(json_integer_value(ts), buf, sizeof(buf));
		json_object_set_new(ev, "ts", json_string(buf));
	}
	output_json(f, ev, false);
	fflush(f);
}
