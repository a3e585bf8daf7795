/* outbox.h — events written to the `outbox` table in the same transaction as
 * the change that caused them, and their relay into the job queue.
 *
 * outbox_add() is called inside the caller's open transaction, so an event
 * exists exactly when its change committed. The worker's supervisor calls
 * outbox_relay() a few times a second: each unrelayed row becomes one
 * `event.dispatch` job whose id is derived from the event's id,
 * "dispatch-evt_<row id>", so the relay may crash or run twice concurrently
 * and still enqueue each event exactly once (enqueue is idempotent by id);
 * the row is then marked relayed.
 *
 * One id format per kind: an event is evt_<row id> everywhere (payloads,
 * webhook-id, deliveries); a job derived from a thing is "<job kind>-<its
 * id>": dispatch-evt_7, whd-evt_7 (its delivery), sched-<name>-<tick>. (Until
 * issue 11 the dispatch job was evt-7, which read as a second event id
 * format. Its deliveries are unique per endpoint and event, so a dispatch
 * enqueued under the old id and again under the new one sends nothing twice.)
 */
#ifndef ACME_OUTBOX_H
#define ACME_OUTBOX_H
#include <jansson.h>
#include <libpq-fe.h>
#include "core/err.h"
#include "core/queue.h"

#define OUTBOX_JOB_TYPE  "event.dispatch"
#define OUTBOX_QUEUE     "webhooks"
#define OUTBOX_EVENT_ID_HEAD "evt_"       /* an event's id: evt_<row id> */
#define OUTBOX_JOB_ID_HEAD   "dispatch-"  /* its dispatch job: dispatch-evt_<row id> */

/* A smoke test's event (core/smoke.h) carries "acme_smoke": true in its
 * payload: outbox_add() adds it to every event of a connection whose session
 * setting acme.smoke is "on", the import adds it for a smoke import, and the
 * dispatcher sends such an event nowhere (but a webhook.test to the one
 * endpoint it names, which the smoke test made). */
#define OUTBOX_SMOKE_KEY     "acme_smoke"

/* Insert an event (payload: a JSON object, borrowed). Must run inside the
 * transaction of the change. The new row id goes to *id (may be NULL). */
int outbox_add(PGconn *db, const char *event_type, json_t *payload, long long *id,
	       struct acme_err *err);

/* Relay up to limit unrelayed rows; *n = how many were relayed. */
int outbox_relay(PGconn *db, struct queue *q, int limit, long long *n, struct acme_err *err);

#endif
