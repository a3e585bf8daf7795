/* failpoint.h — named failpoints, so fault tests stop racing the clock
 * (issue 10; the idea of FreeBSD's fail(9) and the fail-rs crate).
 *
 * A failpoint is a named place in the code where a test can make the process
 * misbehave on purpose, at exactly that step: die as if killed, fail as if
 * the server refused, sleep, or stop until the test lets it go on. Tests arm
 * them with the environment:
 *
 *   ACME_FAILPOINTS="NAME=ACTION[,NAME=ACTION]..."
 *
 *   ACTION   exit       _exit(137) at once, as if killed with SIGKILL
 *            error      the step fails (ACME_E_FAILURE, "failpoint NAME: injected
 *                       error"), as if its server refused it
 *            sleep:MS   sleep MS milliseconds, then go on
 *            pause      write "failpoint NAME reached (pid P)" to stderr, then
 *                       block until the process gets SIGCONT
 *            off        nothing (a point listed but disarmed)
 *            N*ACTION   only the first N hits act; later hits pass
 *
 * Hit counts live in memory shared by every process forked after
 * failpoint_setup() (a worker's supervisor and all its children), so
 * "1*exit" kills one child once, not every child that replaces it.
 *
 * The names are fixed (FAILPOINT_NAMES below); a spec naming another is
 * refused, so a typo in a test cannot silently test nothing. Failpoints are
 * refused with ACME_E_CONFIG (exit 78) when the environment is production.
 *
 * Cost: when ACME_FAILPOINTS is unset, FAILPOINT() is one load and one
 * branch. The only output is the pause announcement, written to fd 2 with
 * write(2): it is the protocol a test waits on, not a log line.
 */
#ifndef ACME_FAILPOINT_H
#define ACME_FAILPOINT_H
#include <stdbool.h>

#include "core/err.h"

/* X(constant, name, where) — every point in the code. */
#define FAILPOINT_NAMES(X)                                                                  \
	X(JOB_BEFORE_START, "job.before-start", "a worker took a job from the queue; its start " \
	  "is not recorded in PostgreSQL yet")                                               \
	X(JOB_AFTER_START, "job.after-start", "the runner recorded the job as running, before " \
	  "its handler")                                                                    \
	X(JOB_BEFORE_COMMIT, "job.before-commit", "a job's transaction holds its effects; " \
	  "job_commit has not taken the fence yet")                                          \
	X(JOB_AFTER_FENCE, "job.after-fence", "job_commit holds the fence (the job's row is " \
	  "locked) and wrote the outcome; COMMIT not yet sent")                              \
	X(IMPORT_BEFORE_MERGE, "import.before-merge", "an import staged every row; the merge " \
	  "into products has not started")                                                  \
	X(IMPORT_BEFORE_SWAP, "import.before-swap", "a rebuilding import built the new catalog " \
	  "beside products (indexes, statistics); the swap has not started")                \
	X(IMPORT_BEFORE_COMMIT, "import.before-commit", "an import's transaction is complete, " \
	  "COMMIT not yet sent")                                                            \
	X(IMPORT_AFTER_COMMIT, "import.after-commit", "an import committed (products and the " \
	  "job's outcome), not yet acked in Redis")                                         \
	X(DELIVER_AFTER_SEND, "deliver.after-send", "a webhook delivery's HTTP answer is in, " \
	  "its outcome not yet recorded")                                                   \
	X(RELAY_AFTER_ENQUEUE, "relay.after-enqueue", "the outbox relay enqueued a batch, not " \
	  "yet marked relayed")                                                             \
	X(SCHEDULER_AFTER_ENQUEUE, "scheduler.after-enqueue", "the scheduler enqueued a tick's " \
	  "job")                                                                            \
	X(WORKER_AFTER_ACK, "worker.after-ack", "a job was acked in Redis, its final state not " \
	  "yet written to PostgreSQL")                                                      \
	X(JOBWATCH_AFTER_SNAPSHOT, "jobwatch.after-snapshot", "a job watch (jobs watch, import " \
	  "--wait) subscribed and read the job's state, before reading any event")              \
	X(SMOKE_AFTER_IMPORT, "smoke.after-import", "a smoke test's import committed its rows, " \
	  "before they are read back and deleted")

enum failpoint {
#define X(c, s, w) FP_##c,
	FAILPOINT_NAMES(X)
#undef X
	FP__COUNT
};

/* Non-zero when any failpoint is armed; read only through FAILPOINT(). */
extern volatile int failpoints_armed;

/* Arm the points of spec (ACME_FAILPOINTS's value; NULL or "" arms none).
 * production: refuse any spec (ACME_E_CONFIG). A malformed spec or an unknown
 * name: ACME_E_CONFIG naming it and the known names. Call once, before any
 * fork. 0 / -1. */
int failpoint_setup(const char *spec, bool production, struct acme_err *err);

/* The i-th point's name and description, NULL past the end (for docs). */
const char *failpoint_name(enum failpoint fp);
const char *failpoint_where(enum failpoint fp);

/* Evaluate point fp: 0 to go on (after any sleep or pause), -1 with err set
 * for the "error" action. "exit" does not return. */
int failpoint_eval(enum failpoint fp, struct acme_err *err);

/* The check to put in code: 0, or -1 with err set (the step must fail). */
#define FAILPOINT(fp, err) (failpoints_armed ? failpoint_eval(FP_##fp, (err)) : 0)

#endif
