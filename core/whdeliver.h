/* whdeliver.h — the job types that carry webhooks out: `event.dispatch`
 * (an outbox event becomes one delivery per subscribed endpoint) and
 * `webhook.deliver` (the deliverer, core/whdeliver.c), and `webhook.sweep`
 * (expired claims made due again, core/whsweep.c). core/jobtypes.c lists
 * them through WEBHOOK_JOBTYPES; the path of an event is in webhook.h. */
#ifndef ACME_WHDELIVER_H
#define ACME_WHDELIVER_H
#include "core/err.h"

struct job_run;

int webhook_dispatch_run(struct job_run *run, struct acme_err *err);
int webhook_deliver_run(struct job_run *run, struct acme_err *err);
int webhook_sweep_run(struct job_run *run, struct acme_err *err);

#define WEBHOOK_JOBTYPES                                                                       \
	{ .name = "event.dispatch", .summary = "turn an outbox event into one webhook delivery "  \
	  "per subscribed endpoint", .handler = webhook_dispatch_run, .queue = "webhooks",        \
	  .max_attempts = 10, .lease_ms = 30000, .soft_limit_ms = 0, .hard_limit_ms = 0,          \
	  .backoff_ms = 1000, .backoff_max_ms = 300000 },                                         \
	{ .name = "webhook.deliver", .summary = "send due webhook deliveries (libcurl multi, "    \
	  "per-endpoint cap) until none is left", .handler = webhook_deliver_run,                 \
	  .queue = "webhooks", .max_attempts = 5, .lease_ms = 30000, .soft_limit_ms = 0,          \
	  .hard_limit_ms = 0, .backoff_ms = 1000, .backoff_max_ms = 60000 },                       \
	{ .name = "webhook.sweep", .summary = "make expired delivery claims due again and wake a " \
	  "deliverer when deliveries are due (built-in schedule, every minute)",                  \
	  .handler = webhook_sweep_run, .queue = "webhooks", .max_attempts = 3, .lease_ms = 30000, \
	  .soft_limit_ms = 0, .hard_limit_ms = 0, .backoff_ms = 5000, .backoff_max_ms = 60000 }

#endif
