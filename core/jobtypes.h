/* jobtypes.h — the job types: one table, name -> handler and defaults (default
 * queue, attempts, lease, time limits, retry backoff), and a runner that takes
 * one leased job through its handler to ack, fail or release.
 *
 * To add a type: write `static int <name>_run(struct job_run *, struct
 * acme_err *)` in a core/ file, declare it in jobtypes.c and add a line to the
 * table there. A handler:
 *   - reads run->payload (a JSON object, borrowed);
 *   - calls run->checkpoint() often (at least every lease/3) and stops with
 *     its error when it fails: that is how cancel, the soft time limit, a
 *     lost lease and shutdown reach it; run->progress() reports progress and
 *     checkpoints too;
 *   - commits its database effects in one transaction that ends with
 *     job_commit(run->db, job, JOB_SUCCEEDED, result, NULL, err) (core/job.h):
 *     the fence, the job's outcome in its row, and COMMIT, so the effects
 *     and the record that the job ended commit together and an attempt that
 *     runs again after a lost ack or a reap finds it finished (the runner
 *     then acks it without calling the handler). A failure that ends the job
 *     and leaves a trace (a refusal, an import.failed event) commits it the
 *     same way with JOB_FAILED/JOB_DEAD. Types whose work is many small
 *     transactions, each idempotent by its own key (housekeeping's purges,
 *     webhook.deliver's deliveries fenced by attempt number), may run again
 *     harmlessly and need no outcome in the row;
 *   - returns 0 with run->result set (a JSON object, or NULL), or -1 with err
 *     set, and run->permanent = true when retrying cannot help (bad input).
 */
#ifndef ACME_JOBTYPES_H
#define ACME_JOBTYPES_H
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>

#include "core/err.h"
#include "core/queue.h"

struct job_run {
	struct queue_job *job;     /* the leased job (borrowed) */
	json_t *payload;           /* job->payload parsed (borrowed) */
	PGconn *db;                /* the runner's connection; NULL when it has none */
	struct queue *queue;       /* the runner's queue (borrowed), for handlers that
				    * manage jobs themselves (housekeeping) */
	/* Report progress (a JSON object, borrowed): stored, published to
	 * watchers, saved to the row now and then; also a checkpoint. 0, or -1
	 * with err when the handler must stop. */
	int (*progress)(struct job_run *run, json_t *progress, struct acme_err *err);
	/* 0 to go on, or -1 with err (ACME_E_REFUSED) when the handler must stop:
	 * cancel requested, soft time limit passed, lease lost, shutting down.
	 * Cheap unless a heartbeat is due. */
	int (*checkpoint)(struct job_run *run, struct acme_err *err);
	json_t *result;            /* set by the handler on success; the runner decrefs it */
	bool permanent;            /* set by the handler with a failure */
	void *runner;              /* the runner's own state */
};

typedef int (*job_handler_fn)(struct job_run *run, struct acme_err *err);

struct jobtype {
	const char *name;
	const char *summary;
	job_handler_fn handler;
	const char *queue;           /* default queue */
	int max_attempts;            /* default attempts */
	long long lease_ms;          /* lease per heartbeat; heartbeats every lease/3 */
	long long soft_limit_ms;     /* checkpoint() fails after this; 0 = none */
	long long hard_limit_ms;     /* the worker kills the attempt after this; 0 = none */
	long long backoff_ms;        /* retry delay base (see queue_backoff_ms) */
	long long backoff_max_ms;    /* and cap */
	/* true when this job's attempts write nothing to PostgreSQL under the
	 * lease fence (no job_commit, no progress in the row), so running it
	 * again after a lost ack is harmless and its start need not be in the
	 * row before it runs: the runner then hands the start to the batched
	 * writer instead of job_start(). NULL: always fenced (the safe default). */
	bool (*unfenced)(const char *payload);
};

/* The type called name, or NULL. */
const struct jobtype *jobtype_find(const char *name);
/* The i-th type, or NULL past the end (for listings and completion). */
const struct jobtype *jobtype_at(size_t i);

/* 0 when name is a job type; -1 with ACME_E_USAGE naming the known types
 * otherwise (`jobs list --type imp` must not quietly list nothing). */
int jobtype_check(const char *name, struct acme_err *err);

/* The queues a command may name (`jobs pause|resume|stats|purge|list
 * --queue`): the default queue of every job type, plus every queue Redis has
 * seen (queue_names: one a job was ever enqueued to, or paused). Sorted,
 * without duplicates; *names is owned by the caller (free each and the array).
 * Returns the count, or -1. */
int jobtype_known_queues(struct queue *q, char ***names, struct acme_err *err);
/* 0 when queue is one of jobtype_known_queues(); -1 with ACME_E_USAGE listing
 * them when it is not, or with Redis's error when it cannot be asked. */
int jobtype_check_queue(struct queue *q, const char *queue, struct acme_err *err);

/* Fill spec->type's defaults into the fields spec leaves at 0/NULL (queue,
 * max_attempts, backoff). -1 with ACME_E_USAGE naming the known types when
 * the type does not exist. */
int jobtype_fill_spec(struct queue_spec *spec, struct acme_err *err);

/* The runner. Takes a job just dequeued (job, its lease token inside) to the
 * end of this attempt:
 *   - job_start() when db is given (a final row is acked without running; a
 *     stale lease is dropped);
 *   - the handler, with checkpoint/progress hooks that heartbeat every
 *     lease/3, publish progress, save it to the row at most every 250 ms, stop
 *     on cancel, on the soft limit and when *stop becomes non-zero;
 *   - queue_ack(), queue_fail() (cancelled when cancel was requested) or,
 *     after *stop, queue_release_job(); then job_mirror() when db is given
 *     (through done when given).
 * job becomes the final snapshot. A lost lease ends the attempt without
 * touching Redis. Returns 0 whatever the job's outcome (see job->state), -1
 * when Redis or PostgreSQL failed. lease_ms 0 = the type's. stop may be NULL. */
struct completer;
/* done, when given (with db), takes the jobs table's writes that need not
 * wait: the final snapshot after the ack, and the start of an unfenced job
 * (core/completer.h); without it they are written here, one statement each. */
int jobtype_execute(struct queue *q, PGconn *db, struct completer *done, struct queue_job *job,
		    long long lease_ms, const volatile sig_atomic_t *stop, struct acme_err *err);

#endif
