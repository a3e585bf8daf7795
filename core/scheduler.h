/* scheduler.h — periodic jobs (the old Celery beat), run inside
 * `acmectl worker --beat` or `--beat-only`.
 *
 * Schedules come from the config file, one section each:
 *
 *   [schedule.nightly-export]
 *   cron = 0 2 * * *          ; or: every = 10m
 *   type = noop
 *   queue = default           ; optional: the type's default queue
 *   payload = {"sleep_ms": 10}  ; optional JSON object
 *   max_attempts = 3          ; optional
 *
 * plus the built-in `housekeeping` (every hour: purge finished jobs, staged
 * uploads and relayed outbox rows past retention, and sweep the webhook
 * deliveries) and `webhook-sweep` (every minute: job type webhook.sweep,
 * core/whsweep.c), each unless the config file has a section of its name.
 *
 * Exactly once: one scheduler at a time holds a leader lease in Redis
 * (renewed and released by compare-and-set, so a paused ex-leader cannot
 * extend or delete a lease it lost). Each tick has an identity (schedule name
 * + tick time, computed the same by everyone from UTC) and is enqueued with a
 * job id derived from it, "sched-<name>-<tick>" (for names too long to fit
 * in a job id, the name is shortened and a hash of it added:
 * queue_derive_id), so every tick has an id of its own; enqueue is idempotent by id (the jobs row's primary
 * key), so two schedulers that overlap during a handover still enqueue each
 * tick once. Only then is the tick marked fired in Redis (a key per tick,
 * kept a week, and the schedule's last fired tick), so a leader that dies
 * between the two leaves the tick to the next one instead of losing it.
 * A new leader goes on from the last fired tick: ticks missed by less than a
 * minute (handover, restart) are still fired, older ones are not replayed,
 * and a schedule that never fired starts now.
 */
#ifndef ACME_SCHEDULER_H
#define ACME_SCHEDULER_H
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <time.h>

#include "core/config.h"
#include "core/cron.h"
#include "core/err.h"
#include "core/queue.h"

#define SCHEDULER_LEASE_MS  10000
#define SCHEDULER_GRACE_S   60

struct schedule {
	char *name;
	char *expr;              /* as written: "cron 0 2 * * *" or "every 10m" */
	struct schedule_spec spec;
	char *type, *queue, *payload;
	int max_attempts;        /* 0 = the type's */
	bool builtin;
	char *origin;            /* "file:line" or "built-in" */
};

/* Every schedule (config + built-in), validated: bad cron, unknown job type,
 * bad payload JSON are ACME_E_CONFIG naming the section. *out owned:
 * schedules_free(). */
int schedules_load(const struct config *cfg, struct schedule **out, size_t *n,
		   struct acme_err *err);
void schedules_free(struct schedule *s, size_t n);

struct scheduler;

int scheduler_new(const struct config *cfg, struct scheduler **out, struct acme_err *err);
/* Hold or renew the leader lease and, as leader, enqueue due ticks. Call a
 * few times a second. 0 / -1 (Redis or PostgreSQL failed). */
int scheduler_tick(struct scheduler *s, redisContext *rc, PGconn *db, struct queue *q,
		   struct acme_err *err);
bool scheduler_is_leader(const struct scheduler *s);
/* Give the lease up (at shutdown) if we hold it. */
void scheduler_resign(struct scheduler *s, redisContext *rc);
void scheduler_free(struct scheduler *s);

#endif
