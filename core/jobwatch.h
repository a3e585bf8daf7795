/* jobwatch.h — follow one job live: its events over Redis pub/sub, with no
 * gap and no blocking, for `jobs watch`, `import --wait` and the TUI.
 *
 *   open     subscribe to the job's channel FIRST, then queue a snapshot of
 *            its current state: an event published between the two is seen
 *            as an event, one published before is in the snapshot.
 *   fd       the subscription's socket, for the caller's poll() (-1 while
 *            disconnected: poll on a timer then).
 *   read     call when the fd is readable: takes what arrived into the
 *            reader's buffer, never waits. A lost connection is dropped and
 *            reported once (-1 with err); jobwatch_next() reconnects by
 *            itself (subscribe again, then a fresh snapshot), at most once a
 *            second, so nothing is missed across a Redis restart.
 *   next     the next event already received, or JOBWATCH_NONE: never waits
 *            for the network (a reconnect attempt connects with the
 *            configured timeout).
 *
 * Events are the JSON objects the queue publishes ({"event": "state" |
 * "progress" | ..., "state", "attempts", "ts", ...}) plus snapshots built
 * here: {"id", "event": "snapshot", "queue", "state", "attempts", "version",
 * "ts", and "progress", "error", "result" when set}. A snapshot comes from
 * Redis, or from the jobs row in PostgreSQL when Redis no longer has the job
 * (then w->lost tells whether the row is unfinished: Redis lost it).
 *
 * The watch keeps two Redis connections of its own (the subscription, and
 * one for snapshots) and borrows a PostgreSQL connection (may be NULL: no
 * fallback to the row).
 */
#ifndef ACME_JOBWATCH_H
#define ACME_JOBWATCH_H
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "core/config.h"
#include "core/err.h"
#include "core/queue.h"

enum { JOBWATCH_NONE = 0, JOBWATCH_EVENT = 1 };

struct jobwatch {
	const struct config *cfg;
	PGconn *db;                /* borrowed, may be NULL */
	char *id, *queue, *channel;
	redisContext *sub;         /* the subscription; NULL while disconnected */
	redisContext *rd;          /* snapshots */
	struct queue q;            /* on rd */
	bool have_q;
	bool want_snapshot;        /* a snapshot is due (open, reconnect, resync) */
	bool snapshot_first;       /* it is due because we just subscribed */
	long long retry_ms;        /* monotonic: next reconnect attempt */
	long long snap_retry_ms;   /* monotonic: next snapshot attempt after a failed one */
	bool lost;                 /* the last snapshot: Redis lost an unfinished job */
	int reconnects;            /* how many times the subscription came back */
	int snapshots;             /* how many were taken */
	long timeout_ms;           /* connects and round trips; 0: the configured ones */
};

/* Subscribe, then queue the first snapshot. 0 / -1 with err set
 * (ACME_E_UNAVAILABLE when Redis cannot be reached). */
int jobwatch_open(struct jobwatch *w, const struct config *cfg, PGconn *db, const char *queue,
		  const char *id, struct acme_err *err);
/* The same with every connect and round trip bounded by timeout_ms, for a
 * loop that must not wait long (the TUI: a reconnect attempt then costs at
 * most that, never the configured connect timeout). */
int jobwatch_open_ms(struct jobwatch *w, const struct config *cfg, PGconn *db, const char *queue,
		     const char *id, long timeout_ms, struct acme_err *err);
int jobwatch_fd(const struct jobwatch *w);
bool jobwatch_connected(const struct jobwatch *w);
/* The fd is readable: take what came. 0, or -1 with err set when the
 * subscription was lost (it reconnects by itself from jobwatch_next). */
int jobwatch_read(struct jobwatch *w, struct acme_err *err);
/* JOBWATCH_EVENT with *ev (owned: json_decref it), JOBWATCH_NONE, or -1 with
 * err set when PostgreSQL could not be read for a snapshot. */
int jobwatch_next(struct jobwatch *w, json_t **ev, struct acme_err *err);
/* Ask for a fresh snapshot (a periodic check against missed messages). */
void jobwatch_resync(struct jobwatch *w);
void jobwatch_close(struct jobwatch *w);

#endif
