/* jobwait.h — what a command that waits for a job needs from the core (issue
 * 11, points 3 and 4): one answer to "how did it end", as an error code and
 * so as one exit status, shared by `import --wait` and `jobs watch`; the job
 * as it is now, wherever it is kept; and whether any live worker serves the
 * queue it waits in.
 *
 * The outcome of a final job (job_outcome), DESIGN.md section 11:
 *
 *   succeeded, nothing rejected                         0   (returns 0)
 *   succeeded, but its result counts rejected rows      65  ACME_E_DATA
 *     ("rejected" > 0: an import applied the valid rows)
 *   failed: refused, retrying cannot help (a bad file,  65  ACME_E_DATA
 *     --strict and something to refuse, a bad payload)
 *   dead: every attempt failed                          1   ACME_E_FAILURE
 *   cancelled                                           4   ACME_E_REFUSED
 *   not final (still waiting or running)                75  ACME_E_TEMPFAIL
 *
 * "failed" is the queue's permanent failure (core/jobtypes.h: a handler sets
 * run->permanent when retrying cannot help, which is bad input), so it maps
 * to bad input data whatever the job's type; a job that kept failing for
 * other reasons ends dead after its attempts.
 *
 * Worker heartbeats (jobwait_serving) are the records `acmectl worker`
 * writes under <prefix>worker:<host>:<pid> with a TTL (core/worker.c,
 * `jobs workers`): JSON with "pools": [{"name", "queues": [...], "size"}].
 * A pool of size 0 (a scheduler alone) runs no job.
 *
 * Functions return 0 (or a count) or -1 with err set. Nothing here prints.
 */
#ifndef ACME_JOBWAIT_H
#define ACME_JOBWAIT_H
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "core/err.h"
#include "core/queue.h"

/* The outcome of job (a snapshot: id, type, state, attempts, result, error
 * are read) as above: 0 for a clean success, else -1 with err's code giving
 * the exit status and its message saying what happened and what to do. */
int job_outcome(const struct queue_job *job, struct acme_err *err);

/* The job as it is now: from Redis (queue_get on queue), or from its row in
 * PostgreSQL when Redis no longer has it. out must be zeroed (or released);
 * out->known is set. -1 with ACME_E_NOT_FOUND when neither has it. */
int job_load(PGconn *db, struct queue *q, const char *queue, const char *id,
	     struct queue_job *out, struct acme_err *err);

/* Why a job may not start: how many live workers serve queue (a pool with
 * at least one child listing it), and whether the queue is paused. */
struct jobwait_serving {
	long workers;            /* live workers whose pools serve the queue */
	long others;             /* live workers that do not */
	bool paused;
};
int jobwait_serving(redisContext *c, const char *prefix, const char *queue,
		    struct jobwait_serving *out, struct acme_err *err);

#endif
