/* log.h — the logger: text or JSON lines on one stream (stderr), with levels.
 *
 * This is the only way core code may say something to a human: cmd/main.c
 * configures the sink from --quiet/--verbose, ACME_LOG_LEVEL and ACME_LOG_FORMAT.
 * Messages must never contain secrets; pass URLs through url_redact() first.
 */
#ifndef ACME_LOG_H
#define ACME_LOG_H
#include <stdbool.h>
#include <stdio.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT, LOG_JSON };

struct log_config {
	enum log_level level;
	enum log_format format;
	bool timestamps;     /* text format: prefix an ISO-8601 UTC time */
	const char *prog;    /* "acmectl", or "acmectl worker" */
	FILE *stream;        /* not owned; NULL = stderr */
};

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
