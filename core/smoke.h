/* smoke.h — `acmectl smoke-test`: an end-to-end check of a deployed
 * environment that leaves nothing behind (issue 14, DESIGN.md section 9).
 *
 * The steps, in order, each timed:
 *
 *   preflight  PostgreSQL answers, Redis answers PONG, the schema is at this
 *              binary's head: as `health --ready --wait`, retried until the
 *              deadline. When it never passes nothing else runs (exit 69:
 *              "could not test", not "broken").
 *   schema     the versions it found (a newer schema passes with a note, as in
 *              a rolling deploy).
 *   workers    a live worker serves each queue of the built-in job types and
 *              none of them is paused (waited for until the deadline).
 *   import     a CSV of three rows, two SKUs (one duplicated: the last line
 *              wins) goes through import_submit and the real queue; the job's
 *              counts, then every field read back, are checked; the rows are
 *              deleted and their absence checked.
 *   products   create, read, update, read, delete, read (not found) of one
 *              product.
 *   webhook    a temporary endpoint, created disabled (so no real event is
 *              ever fanned out to it) and subscribed to nothing but
 *              webhook.test, gets a test event through the outbox, a worker
 *              and the real deliverer; the receiver is one this process runs
 *              on 127.0.0.1, which checks the Standard Webhooks signature with
 *              the endpoint's secret, or the URL given (then the delivery's
 *              2xx is what is checked). A loopback receiver needs a worker
 *              serving the webhooks queue on this host; without one the step
 *              is skipped saying so. The endpoint is deleted afterwards.
 *
 * Its rows: SKUs "__smoke-<run id>-<n>" (SMOKE_SKU_HEAD is reserved for this),
 * an endpoint described "acmectl smoke-test <run id>". Every outbox event it
 * causes is marked ("acme_smoke": true in the payload: on its own connection
 * through the session setting acme.smoke, in the import through the job's
 * payload) and the dispatcher sends marked events nowhere but to the
 * webhook.test's own endpoint. Audit rows are kept: the audit log is
 * append-only and says that a smoke test ran (command "smoke-test").
 *
 * Cleanup runs whatever happened (a failed step, the deadline, *stop set by a
 * signal): an import still queued or running is cancelled and waited for,
 * then every SKU of the run and the endpoint are deleted. A cleanup that
 * fails is itself a failure, named in the result.
 *
 * Nothing here prints; each step is reported through on_step as it ends.
 */
#ifndef ACME_SMOKE_H
#define ACME_SMOKE_H
#include <signal.h>
#include <stdbool.h>

#include "core/config.h"
#include "core/err.h"

#define SMOKE_SKU_HEAD   "__smoke-"
#define SMOKE_STEPS      6
#define SMOKE_RUN_ID_LEN 12          /* hex characters */

enum smoke_status { SMOKE_PASS, SMOKE_FAIL, SMOKE_SKIP, SMOKE_NOT_RUN };
const char *smoke_status_name(enum smoke_status s);   /* "pass", "fail", "skip", "not run" */

struct smoke_step {
	const char *name;            /* "preflight", "schema", "workers", "import", "products", "webhook" */
	enum smoke_status status;
	long long duration_ms;
	char detail[ACME_ERR_MSG_MAX];   /* what passed, why it failed or was skipped */
};

struct smoke_opts {
	const struct config *cfg;
	long long timeout_ms;        /* the deadline of the steps (cleanup has its own) */
	bool skip_webhook;
	const char *webhook_url;     /* NULL: a loopback receiver of our own */
	const char *environment;     /* for the audit rows */
	const volatile sig_atomic_t *stop;   /* set by a signal: stop, clean up, return */
	/* told of each step as it ends (i: 0..SMOKE_STEPS-1); may be NULL */
	void (*on_step)(void *arg, int i, const struct smoke_step *step);
	void *arg;
};

/* The outcome of a run. */
enum smoke_verdict {
	SMOKE_OK,                    /* every step passed or was skipped */
	SMOKE_FAILED,                /* a check (or the cleanup) failed */
	SMOKE_UNAVAILABLE,           /* the preflight never passed */
	SMOKE_INTERRUPTED,           /* *stop was set; cleaned up */
};

struct smoke_result {
	char run_id[SMOKE_RUN_ID_LEN + 1];
	struct smoke_step steps[SMOKE_STEPS];
	enum smoke_verdict verdict;
	long long duration_ms;
	bool cleanup_failed;
	char cleanup[ACME_ERR_MSG_MAX];  /* what the cleanup removed, or why it failed */
};

/* The step names in order (for a plan before the run). */
const char *smoke_step_name(int i);

/* Run every step, then clean up. Never prints; returns the verdict (also in
 * r->verdict). */
enum smoke_verdict smoke_run(const struct smoke_opts *o, struct smoke_result *r);

#endif
