/* log.h — the logger: levels, a line format, and a sink the line goes to.
 *
 * This is the only way core code may say something to a human: core never
 * writes to stderr or stdout itself. The front end chooses where lines go:
 *
 *   sink      who gets them                 line
 *   stderr    commands (the default)        "acmectl: message", "acmectl: warning: ..."
 *   stderr    the worker (timestamps)       "2026-12-03T04:05:06.789Z acmectl-worker[42]: info: ..."
 *             or JSON lines (log_format json), the journal-style line of a daemon
 *   ring      the TUI                       the last LOG_RING_LINES lines, kept in a fixed
 *                                           buffer it shows in a pane; nothing reaches the
 *                                           terminal under the full-screen UI
 *   callback  anything else (tests)         log_config.sink
 *
 * cmd/main.c configures it from --quiet/--verbose, ACME_LOG_LEVEL and
 * ACME_LOG_FORMAT. Messages must never contain secrets; pass URLs through
 * url_redact() first.
 */
#ifndef ACME_LOG_H
#define ACME_LOG_H
#include <stdbool.h>
#include <stdio.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT, LOG_JSON };

/* A sink: gets each formatted line (no newline) with its level. */
typedef void (*log_sink_fn)(void *arg, enum log_level level, const char *line);

struct log_config {
	enum log_level level;
	enum log_format format;
	bool timestamps;     /* text format: prefix an ISO-8601 UTC time */
	const char *prog;    /* "acmectl", or "acmectl worker" */
	FILE *stream;        /* not owned; NULL = stderr (when sink is NULL) */
	log_sink_fn sink;    /* NULL: write lines to stream */
	void *sink_arg;
};

/* The ring buffer sink: the newest LOG_RING_LINES lines, each cut at
 * LOG_RING_WIDTH - 1 bytes (at a character boundary), in fixed memory. */
#define LOG_RING_LINES 256
#define LOG_RING_WIDTH 512
struct log_ring {
	char line[LOG_RING_LINES][LOG_RING_WIDTH];
	enum log_level level[LOG_RING_LINES];
	unsigned long long total;   /* lines ever written: a reader's "anything new?" */
};
void log_ring_init(struct log_ring *r);
/* A sink for log_config.sink (arg: the ring). */
void log_ring_sink(void *ring, enum log_level level, const char *line);
/* How many lines it holds now (<= LOG_RING_LINES). */
size_t log_ring_count(const struct log_ring *r);
/* The i-th line it holds, oldest first (0 <= i < count), or NULL. */
const char *log_ring_get(const struct log_ring *r, size_t i, enum log_level *level);

/* What this process is doing now, carried by every JSON line as the fields
 * worker, job, type, queue and attempt (the ones set; text lines are
 * unchanged). The worker sets its name once per child and the job around each
 * job it runs (core/worker.c); commands leave it empty. Strings are copied
 * (cut at 127 bytes). */
struct log_context {
	const char *worker;   /* "host:pid:pool" */
	const char *job;      /* the current job's id */
	const char *type, *queue;
	int attempt;          /* 1-based; 0 = none */
};
/* worker: NULL leaves it; the job fields are replaced (NULL job clears them). */
void log_set_context(const struct log_context *lc);

void log_setup(const struct log_config *cfg);
/* The configuration in force (to change one field and set it again). */
const struct log_config *log_get_config(void);
int log_level_parse(const char *s, enum log_level *out);  /* 0 / -1 */
int log_format_parse(const char *s, enum log_format *out);
const char *log_level_name(enum log_level l);
bool log_enabled(enum log_level l);

void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
