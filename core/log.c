/* log.c — text or JSON-lines logging to a sink (stderr, a ring buffer, a
 * callback; see log.h). One process-wide sink is the exception to "no global
 * state": it is part of the parsed configuration. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/utf8.h"

static struct log_config sink = { LOG_INFO, LOG_TEXT, false, "acmectl", NULL, NULL, NULL };

static const char *const level_names[] = { "error", "warning", "info", "debug" };

/* log_set_context(): copies, so the caller's strings may go */
static struct {
	char worker[128], job[128], type[128], queue[128];
	int attempt;
} context;

static void copy_field(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
	dst[utf8_trim_partial(dst, strlen(dst))] = '\0';
}

void log_set_context(const struct log_context *lc)
{
	if (lc->worker)
		copy_field(context.worker, sizeof(context.worker), lc->worker);
	copy_field(context.job, sizeof(context.job), lc->job);
	copy_field(context.type, sizeof(context.type), lc->job ? lc->type : NULL);
	copy_field(context.queue, sizeof(context.queue), lc->job ? lc->queue : NULL);
	context.attempt = lc->job ? lc->attempt : 0;
}

static void set_if(json_t *o, const char *key, const char *v)
{
	if (v[0]) {
		char *clean = utf8_clean(v, strlen(v), 0);
		json_object_set_new(o, key, json_string(clean));
		free(clean);
	}
}

void log_setup(const struct log_config *cfg)
{
	sink = *cfg;
	if (!sink.prog)
		sink.prog = "acmectl";
}

const struct log_config *log_get_config(void)
{
	return &sink;
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const struct { const char *name; enum log_level l; } map[] = {
		{ "error", LOG_ERROR }, { "warn", LOG_WARN }, { "warning", LOG_WARN },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(s, map[i].name) == 0) {
			*out = map[i].l;
			return 0;
		}
	return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (strcasecmp(s, "text") == 0)
		*out = LOG_TEXT;
	else if (strcasecmp(s, "json") == 0)
		*out = LOG_JSON;
	else
		return -1;
	return 0;
}

const char *log_level_name(enum log_level l)
{
	return level_names[l];
}

bool log_enabled(enum log_level l)
{
	return l <= sink.level;
}

static void timestamp(char *buf, size_t n)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + len, n - len, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

/* Hand one formatted line to the sink. */
static void emit(enum log_level l, const char *line)
{
	if (sink.sink) {
		sink.sink(sink.sink_arg, l, line);
		return;
	}
	FILE *f = sink.stream ? sink.stream : stderr;
	fprintf(f, "%s\n", line);
	fflush(f);
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	char msg[2048], ts[40], line[2300];
	va_list ap;

	if (!log_enabled(l))
		return;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(msg))       /* cut: not in the middle of a character */
		msg[utf8_trim_partial(msg, strlen(msg))] = '\0';

	if (sink.format == LOG_JSON) {
		/* a JSON string must be UTF-8, or jansson refuses it and the line
		 * is lost: bytes from outside that are not become '?' */
		char *clean = utf8_clean(msg, strlen(msg), 0);
		timestamp(ts, sizeof(ts));
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "ts", ts,
				      "level", level_names[l], "prog", sink.prog,
				      "msg", clean, "pid", (int)getpid());
		free(clean);
		if (o) {
			set_if(o, "worker", context.worker);
			set_if(o, "job", context.job);
			set_if(o, "type", context.type);
			set_if(o, "queue", context.queue);
			if (context.attempt > 0)
				json_object_set_new(o, "attempt", json_integer(context.attempt));
		}
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		if (text) {
			emit(l, text);
			free(text);
		}
		json_decref(o);
		return;
	}
	if (sink.timestamps) {
		timestamp(ts, sizeof(ts));
		snprintf(line, sizeof(line), "%s %s[%d]: %s: %s", ts, sink.prog, (int)getpid(),
			 level_names[l], msg);
	} else if (l == LOG_INFO) {
		snprintf(line, sizeof(line), "%s: %s", sink.prog, msg);
	} else {
		snprintf(line, sizeof(line), "%s: %s: %s", sink.prog, level_names[l], msg);
	}
	emit(l, line);
}

/* ---- the ring buffer sink ---- */

void log_ring_init(struct log_ring *r)
{
	memset(r, 0, sizeof(*r));
}

void log_ring_sink(void *ring, enum log_level level, const char *line)
{
	struct log_ring *r = ring;
	size_t slot = (size_t)(r->total % LOG_RING_LINES);
	snprintf(r->line[slot], LOG_RING_WIDTH, "%s", line);
	r->line[slot][utf8_trim_partial(r->line[slot], strlen(r->line[slot]))] = '\0';
	r->level[slot] = level;
	r->total++;
}

size_t log_ring_count(const struct log_ring *r)
{
	return r->total < LOG_RING_LINES ? (size_t)r->total : LOG_RING_LINES;
}

const char *log_ring_get(const struct log_ring *r, size_t i, enum log_level *level)
{
	size_t n = log_ring_count(r);
	if (i >= n)
		return NULL;
	size_t slot = (size_t)((r->total - n + i) % LOG_RING_LINES);
	if (level)
		*level = r->level[slot];
	return r->line[slot];
}
