/* worker.h — the worker daemon: a supervisor that pre-forks children per pool,
 * each running one job at a time (DESIGN.md section 6, issue 4).
 *
 * The supervisor owns signals, the worker heartbeat record, the reaper and
 * promoter of every queue its pools serve, the outbox relay and (with beat)
 * the scheduler. Children own their connections, take one job at a time (no
 * prefetch), keep its lease alive from a heartbeat thread, and exit after
 * max_jobs_per_child jobs or above max_memory_kb so the supervisor starts a
 * fresh one.
 *
 * Shared state between the supervisor and its children is one small shared
 * memory table of slots (pid, current job, lease token, start time, RSS), so
 * the supervisor can report current jobs, enforce hard time limits and give
 * leases back at shutdown even when a child is stuck or killed.
 *
 * worker_run() forks: it returns in every child too, with *is_child set, so
 * that the caller (cmd/worker.c) ends the process and core never exits.
 */
#ifndef ACME_WORKER_H
#define ACME_WORKER_H
#include <stdbool.h>
#include <stddef.h>
#include "core/config.h"
#include "core/err.h"

#define WORKER_MAX_POOLS   8
#define WORKER_MAX_QUEUES  8     /* per pool */
#define WORKER_MAX_CHILDREN 256

struct worker_pool {
	char name[64];
	char queues[WORKER_MAX_QUEUES][64];
	size_t nqueues;
	int size;                /* children */
};

struct worker_opts {
	struct worker_pool pools[WORKER_MAX_POOLS];
	size_t npools;
	int max_jobs_per_child;       /* 0 = no limit */
	long max_memory_kb;           /* 0 = no limit */
	long long shutdown_timeout_ms;
	long long lease_ms;           /* lease per heartbeat (>= 1000) */
	long long time_limit_ms;      /* hard limit for types without one; 0 = none */
	bool burst;                   /* exit when the queues are empty */
	bool beat, beat_only;         /* run the scheduler (beside / instead of pools) */
	bool json_logs;
	bool no_mirror;               /* benchmarks: jobs run without PostgreSQL (no
				       * mirror, no fence) */
};

/* Parse "--queues" style pool specs: "import=2,default,webhooks=1" means pool
 * import (queue import, 2 children), pool default (default_size children),
 * pool webhooks (1). A pool may serve several queues in priority order with
 * "name:q1+q2=3". 0 / -1 (ACME_E_USAGE). */
int worker_parse_pools(const char *spec, int default_size, struct worker_opts *opts,
		       struct acme_err *err);

/* Run until stopped (SIGTERM/SIGINT), or with burst until the queues are
 * empty. Returns 0 for a clean stop; in a child *is_child is set and the
 * caller must end the process with *child_status. */
int worker_run(const struct config *cfg, const struct worker_opts *opts, bool *is_child,
	       int *child_status, struct acme_err *err);

#endif
