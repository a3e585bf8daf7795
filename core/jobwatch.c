/* jobwatch.c — follow one job over pub/sub (see jobwatch.h). */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/failpoint.h"
#include "core/job.h"
#include "core/jobwatch.h"
#include "core/output.h"
#include "core/rds.h"
#include "core/xalloc.h"

#define SUB_TIMEOUT_MS 5000     /* the SUBSCRIBE and snapshot round trips */
#define RECONNECT_MS   1000     /* at most one reconnect attempt a second */

static void drop(redisContext **c)
{
	if (*c)
		redisFree(*c);
	*c = NULL;
}

/* A connection for the watch: the configured connect timeout and
 * SUB_TIMEOUT_MS, or w->timeout_ms for both when it is set. */
static redisContext *watch_connect(struct jobwatch *w, struct acme_err *err)
{
	if (w->timeout_ms > 0)
		return rds_connect_url_ms(config_get(w->cfg, CFG_REDIS_URL), w->timeout_ms,
					  (int)w->timeout_ms, err);
	return rds_connect(w->cfg, SUB_TIMEOUT_MS, err);
}

/* (Re)connect the snapshot connection. 0 / -1. */
static int connect_reader(struct jobwatch *w, struct acme_err *err)
{
	if (w->rd)
		return 0;
	if (!(w->rd = watch_connect(w, err)))
		return -1;
	if (!w->have_q) {
		if (queue_init(&w->q, w->rd, config_get(w->cfg, CFG_REDIS_PREFIX), err) < 0) {
			drop(&w->rd);
			return -1;
		}
		w->have_q = true;
	} else {
		queue_set_connection(&w->q, w->rd);
	}
	return 0;
}

/* Subscribe on a new connection. 0 / -1. */
static int subscribe(struct jobwatch *w, struct acme_err *err)
{
	redisContext *c = watch_connect(w, err);
	if (!c)
		return -1;
	redisReply *r = redisCommand(c, "SUBSCRIBE %s", w->channel);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "redis: SUBSCRIBE: %s", r ? r->str : c->errstr);
		if (r)
			freeReplyObject(r);
		redisFree(c);
		return -1;
	}
	freeReplyObject(r);
	w->sub = c;
	w->want_snapshot = w->snapshot_first = true;   /* subscribed first; now the state */
	return 0;
}

int jobwatch_open(struct jobwatch *w, const struct config *cfg, PGconn *db, const char *queue,
		  const char *id, struct acme_err *err)
{
	return jobwatch_open_ms(w, cfg, db, queue, id, 0, err);
}

int jobwatch_open_ms(struct jobwatch *w, const struct config *cfg, PGconn *db, const char *queue,
		     const char *id, long timeout_ms, struct acme_err *err)
{
	memset(w, 0, sizeof(*w));
	w->timeout_ms = timeout_ms;
	w->cfg = cfg;
	w->db = db;
	w->id = xstrdup(id);
	w->queue = xstrdup(queue);
	if (connect_reader(w, err) < 0) {
		jobwatch_close(w);
		return -1;
	}
	w->channel = queue_events_channel(&w->q, id);
	if (subscribe(w, err) < 0) {
		jobwatch_close(w);
		return -1;
	}
	return 0;
}

int jobwatch_fd(const struct jobwatch *w)
{
	return w->sub ? w->sub->fd : -1;
}

bool jobwatch_connected(const struct jobwatch *w)
{
	return w->sub != NULL;
}

void jobwatch_resync(struct jobwatch *w)
{
	w->want_snapshot = true;
}

int jobwatch_read(struct jobwatch *w, struct acme_err *err)
{
	if (!w->sub)
		return 0;
	if (redisBufferRead(w->sub) == REDIS_OK)
		return 0;
	acme_err_set(err, ACME_E_UNAVAILABLE, "redis: %s",
		     w->sub->errstr[0] ? w->sub->errstr : "connection lost");
	drop(&w->sub);
	drop(&w->rd);        /* the same server went away: both come back together */
	w->retry_ms = 0;
	return -1;
}

/* The job's state now: from Redis, else from its row. 1 with *ev, 0 when
 * Redis cannot be read (try again later), -1 on a PostgreSQL error. */
static int snapshot(struct jobwatch *w, json_t **ev, struct acme_err *err)
{
	struct queue_job job = { 0 };
	struct job_row row = { 0 };
	struct acme_err rerr;
	json_int_t now = (json_int_t)time(NULL) * 1000;
	if (connect_reader(w, &rerr) < 0)
		return 0;
	int got = queue_get(&w->q, w->queue, w->id, &job, &rerr);
	if (got < 0) {
		drop(&w->rd);
		return 0;
	}
	if (got == QUEUE_OK) {
		*ev = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I}", "id", w->id, "event",
				"snapshot", "queue", w->queue, "state", job_state_name(job.state),
				"attempts", job.attempts, "version", (json_int_t)job.version, "ts", now);
		if (job.progress)
			json_object_set_new(*ev, "progress", json_text_value(job.progress));
		if (job.error)
			json_object_set_new(*ev, "error", json_string(job.error));
		if (job.result)
			json_object_set_new(*ev, "result", json_text_value(job.result));
		w->lost = false;
		queue_job_release(&job);
		return 1;
	}
	if (!w->db) {         /* no row to fall back on: a snapshot without a state */
		*ev = json_pack("{s:s, s:s, s:s, s:I}", "id", w->id, "event", "snapshot", "queue",
				w->queue, "ts", now);
		w->lost = true;
		return 1;
	}
	if (job_get(w->db, w->id, &row, err) < 0)
		return -1;
	*ev = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I}", "id", w->id, "event", "snapshot",
			"queue", w->queue, "state", job_state_name(row.state), "attempts", row.attempts,
			"version", (json_int_t)row.version, "ts", now);
	if (row.error)
		json_object_set_new(*ev, "error", json_string(row.error));
	if (row.result)
		json_object_set_new(*ev, "result", json_text_value(row.result));
	w->lost = !job_state_is_final(row.state);
	job_row_release(&row);
	return 1;
}

/* A due snapshot, if it can be taken now: 1 with *ev, 0 not now, -1 error. */
static int due_snapshot(struct jobwatch *w, json_t **ev, struct acme_err *err)
{
	if (!w->want_snapshot || clock_mono_ms() < w->snap_retry_ms)
		return 0;
	int s = snapshot(w, ev, err);
	if (s < 0)
		return -1;
	if (s == 0) {
		w->snap_retry_ms = clock_mono_ms() + RECONNECT_MS;
		return 0;
	}
	struct acme_err ferr;
	w->want_snapshot = w->snapshot_first = false;
	if (w->snapshots++ == 0)
		(void)FAILPOINT(JOBWATCH_AFTER_SNAPSHOT, &ferr);
	return 1;
}

/* The next message already received (reading what the socket holds without
 * waiting): 1 with *ev, 0 none. */
static int buffered_event(struct jobwatch *w, json_t **ev)
{
	bool tried_read = false;
	while (w->sub) {
		void *reply = NULL;
		if (redisGetReplyFromReader(w->sub, &reply) != REDIS_OK) {
			drop(&w->sub);
			w->retry_ms = 0;
			return 0;
		}
		if (!reply) {
			struct pollfd pfd = { w->sub->fd, POLLIN, 0 };
			if (tried_read || poll(&pfd, 1, 0) != 1)
				return 0;
			tried_read = true;
			struct acme_err rerr;
			if (jobwatch_read(w, &rerr) < 0)
				return 0;
			continue;
		}
		redisReply *r = reply;
		json_t *msg = NULL;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[0]->str, "message") == 0 &&
		    r->element[2]->type == REDIS_REPLY_STRING)
			msg = json_loads(r->element[2]->str, 0, NULL);
		freeReplyObject(r);
		if (json_is_object(msg)) {
			*ev = msg;
			return 1;
		}
		json_decref(msg);
	}
	return 0;
}

int jobwatch_next(struct jobwatch *w, json_t **ev, struct acme_err *err)
{
	int s;
	*ev = NULL;
	if (!w->sub && clock_mono_ms() >= w->retry_ms) {
		struct acme_err cerr;
		if (subscribe(w, &cerr) == 0)
			w->reconnects += w->snapshots > 0;
		else
			w->retry_ms = clock_mono_ms() + RECONNECT_MS;
	}
	/* right after subscribing, the snapshot first: it is the state the
	 * events that follow change */
	if (w->snapshot_first && (s = due_snapshot(w, ev, err)) != 0)
		return s < 0 ? -1 : JOBWATCH_EVENT;
	/* then what arrived, in order; a periodic snapshot only after it, so it
	 * never overtakes an event that was already on its way */
	if (buffered_event(w, ev))
		return JOBWATCH_EVENT;
	if ((s = due_snapshot(w, ev, err)) != 0)
		return s < 0 ? -1 : JOBWATCH_EVENT;
	return JOBWATCH_NONE;
}

void jobwatch_close(struct jobwatch *w)
{
	drop(&w->sub);
	if (w->have_q)
		queue_release(&w->q);
	drop(&w->rd);
	free(w->id);
	free(w->queue);
	free(w->channel);
	memset(w, 0, sizeof(*w));
}
