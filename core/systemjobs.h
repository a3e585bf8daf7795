/* systemjobs.h — the job types the system runs for itself: `housekeeping`
 * (the scheduler's built-in hourly schedule; core/scheduler.h). The outbox's
 * `event.dispatch` and the `webhook.sweep` live with the webhooks
 * (core/webhook.h).
 * Registered in the table of core/jobtypes.c; see jobtypes.h for handlers.
 */
#ifndef ACME_SYSTEMJOBS_H
#define ACME_SYSTEMJOBS_H
#include "core/err.h"
#include "core/jobtypes.h"

/* payload (every key optional): {"jobs_older_than": "7d",
 * "uploads_older_than": "1d", "outbox_older_than": "7d", "batch": 1000}.
 * Deletes, in batches of its own transaction each with a checkpoint between
 * them: staged uploads (and their chunks) of jobs that finished before
 * uploads_older_than, and uploads that never got a job and are that old;
 * finished jobs (rows, and their Redis state) that finished before
 * jobs_older_than, and dead/failed jobs Redis keeps past that age; outbox
 * rows relayed before outbox_older_than. Then the webhook sweep
 * (webhook_sweep_job(), core/webhook.h): expired delivery claims due again, a
 * deliverer woken when deliveries are due. Re-running it is harmless.
 * Returns {"uploads_deleted", "jobs_deleted", "outbox_deleted",
 * "webhook_sweep": {"recovered", "given_up", "due", "woken"}}. */
int housekeeping_run(struct job_run *run, struct acme_err *err);

#endif
