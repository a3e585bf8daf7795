/* workers.h — the worker heartbeat records: the one place that knows their
 * key and format. A worker supervisor writes <prefix>worker:<host>:<pid>
 * every few seconds with a TTL (core/worker.c, through workers_publish);
 * `jobs workers`, `health --require-worker`, the waits' "why does no worker
 * take this job" (core/jobwait.c) and the TUI read them with workers_list.
 *
 * A record (JSON): {"host", "pid", "version", "pools": [{"name", "queues":
 * [..], "size"}], "current_jobs": [{"job_id", "type", "queue", "pid",
 * "pool", "started_ms"}], "rss_kb", "started_ms", "updated_ms", "beat",
 * "leader", "children", "jobs_done"}. A key without a TTL is not a heartbeat.
 */
#ifndef ACME_WORKERS_H
#define ACME_WORKERS_H
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* ---- writing (the supervisor) ---- */

/* "<prefix>worker:<host>:<pid>" (caller frees). */
char *workers_key(const char *prefix, const char *host, int pid);
/* One pool: {"name", "queues", "size"}. */
json_t *workers_pool_json(const char *name, const char *const *queues, size_t nqueues, int size);
/* One running job of a child. */
json_t *workers_job_json(const char *job_id, const char *type, const char *queue, int pid,
			 const char *pool, long long started_ms);
struct worker_state {
	const char *host;
	int pid;
	json_t *pools, *current_jobs;   /* stolen */
	long rss_kb;
	long long started_ms;
	bool beat, leader;
	int children, jobs_done;
};
/* SET key record EX ttl_s. 0 / -1 with err set. */
int workers_publish(redisContext *c, const char *key, const struct worker_state *st, int ttl_s,
		    struct acme_err *err);
/* DEL key (a clean stop). */
void workers_unpublish(redisContext *c, const char *key);

/* ---- reading ---- */

struct worker_record {
	char *key;
	json_t *rec;          /* the record (owned); NULL when it is not a JSON object */
	long long ttl_ms;     /* > 0: the heartbeat is alive */
};
struct worker_list {
	struct worker_record *v;   /* live records (a TTL), in SCAN order */
	size_t n;
	size_t stale;              /* keys without a TTL */
};

/* Every live heartbeat record (SCAN <prefix>worker:*, then GET and PTTL of
 * each, pipelined). 0 with *out filled (release it), or -1 with err set. */
int workers_list(redisContext *c, const char *prefix, struct worker_list *out,
		 struct acme_err *err);
void workers_list_release(struct worker_list *l);
/* The same without blocking, for an event loop (core/call.h): a SCAN at a
 * time, then one script that reads every record and its TTL. Drive it like
 * an rdscall: poll workers_call_fd() for workers_call_events() at most
 * workers_call_wait_ms(), then workers_call_step() (1 done, 0 pending, -1
 * failed); workers_list_finish() exactly once. deadline_ms covers the whole
 * list (<= 0: none). */
struct rdscall;
struct workers_call {
	redisContext *c;
	struct rdscall *rc;        /* the command in flight */
	char *pattern;
	char cursor[32];
	char **keys;
	size_t nkeys;
	int scans;
	int phase;                 /* 0 scanning, 1 reading, 2 done, -1 failed */
	long long deadline;        /* monotonic ms, 0 none */
	long deadline_ms;
	redisReply *records;       /* the script's answer */
	struct acme_err err;
};
int workers_list_start(struct workers_call *w, redisContext *c, const char *prefix,
		       long deadline_ms, struct acme_err *err);
int workers_call_fd(const struct workers_call *w);
short workers_call_events(const struct workers_call *w);
int workers_call_wait_ms(const struct workers_call *w);
int workers_call_step(struct workers_call *w);
int workers_list_finish(struct workers_call *w, struct worker_list *out, struct acme_err *err);

/* The glob pattern the list scans, for messages (caller frees). */
char *workers_pattern(const char *prefix);
/* Does the worker of rec run a pool of size >= 1 that takes queue? */
bool workers_serves(const json_t *rec, const char *queue);
/* The record as acmectl prints it (-o json): with "key" and "ttl_s", times
 * as RFC 3339 "*_at" instead of "*_ms". New reference. */
json_t *workers_record_public(const struct worker_record *r);

#endif
