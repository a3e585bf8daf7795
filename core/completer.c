/* completer.c — see completer.h. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "core/clock.h"
#include "core/completer.h"
#include "core/db.h"
#include "core/err.h"
#include "core/job.h"
#include "core/log.h"
#include "core/xalloc.h"

struct completer {
	const struct config *cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work;          /* the writer: something to write, or stop */
	pthread_cond_t done;          /* producers: room, or a batch written */
	struct queue_job *buf;        /* waiting snapshots */
	size_t n, cap;
	size_t inflight;              /* taken by the writer, not yet written */
	bool stop;
	int flushing;                 /* completer_flush() callers waiting: no linger */
	bool db_down;                 /* the last write failed for the connection */
	bool napping;                 /* the writer waits on a timer (a linger for
				       * the batch to fill, or a backoff while
				       * PostgreSQL is away): an add does not
				       * wake it until the batch is full */
	unsigned long long written, batches, dropped;   /* dropped: logged at stop */
	PGconn *db;                   /* the writer's own */
};

/* Only the fields job_mirror() records. */
static void snapshot_copy(struct queue_job *dst, const struct queue_job *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->known = src->known;
	dst->id = src->id ? xstrdup(src->id) : NULL;
	dst->state = src->state;
	dst->attempts = src->attempts;
	dst->version = src->version;
	dst->token = src->token ? xstrdup(src->token) : NULL;
	dst->error = src->error ? xstrdup(src->error) : NULL;
	dst->result = src->result ? xstrdup(src->result) : NULL;
	dst->progress = src->progress ? xstrdup(src->progress) : NULL;
	dst->cancel_requested = src->cancel_requested;
	dst->scheduled_ms = src->scheduled_ms;
	dst->started_ms = src->started_ms;
	dst->finished_ms = src->finished_ms;
}

static int by_id_newest_first(const void *a, const void *b)
{
	const struct queue_job *x = a, *y = b;
	int d = strcmp(x->id, y->id);
	if (d)
		return d;
	return x->version < y->version ? 1 : x->version > y->version ? -1 : 0;
}

/* The newest snapshot of each job in jobs[0..n) moved to the front (a busy
 * child's batch holds a job's start and its end: only the end needs
 * writing; the statement would drop the older one anyway). The count kept;
 * the rest stay in the array, to be released with it. */
static size_t newest_only(struct queue_job *jobs, size_t n)
{
	if (n < 2)
		return n;
	qsort(jobs, n, sizeof(*jobs), by_id_newest_first);
	size_t k = 1;
	for (size_t i = 1; i < n; i++) {
		if (strcmp(jobs[i].id, jobs[k - 1].id) == 0)
			continue;
		struct queue_job t = jobs[k];
		jobs[k] = jobs[i];
		jobs[i] = t;
		k++;
	}
	return k;
}

/* Write one batch; 0 written (or refused for good), -1 to try again. */
static int write_batch(struct completer *c, struct queue_job *jobs, size_t n)
{
	struct acme_err err;
	if (!c->db && !(c->db = db_connect(c->cfg, &err))) {
		log_warn("jobs table: %s; %zu job states wait", err.msg, n);
		return -1;
	}
	if (job_mirror(c->db, jobs, newest_only(jobs, n), &err) >= 0)
		return 0;
	if (PQstatus(c->db) != CONNECTION_OK) {
		log_warn("jobs table: %s; %zu job states wait", err.msg, n);
		PQfinish(c->db);
		c->db = NULL;
		return -1;
	}
	/* PostgreSQL answers but refuses them: trying again cannot help; the
	 * reconciler repairs the rows from Redis */
	log_error("dropping %zu job state changes PostgreSQL refuses: %s", n, err.msg);
	return 0;
}

/* The condition variables wait on CLOCK_MONOTONIC (completer_start): a
 * wall clock stepped back would stretch a linger. */
static void deadline_ts(struct timespec *ts, long long wait_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += wait_ms / 1000;
	ts->tv_nsec += (wait_ms % 1000) * 1000000L;
	ts->tv_sec += ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

static void *writer(void *arg)
{
	struct completer *c = arg;
	struct queue_job *batch = xcalloc(COMPLETER_BATCH, sizeof(*batch));
	int backoff = 50;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (c->n == 0 && !c->stop)
			pthread_cond_wait(&c->work, &c->mu);
		if (c->n == 0 && c->stop)
			break;
		if (c->n < COMPLETER_LINGER_MIN && !c->stop && !c->flushing && !c->db_down) {
			/* a few ms for the batch to fill; completer_add() wakes
			 * us only when it is full (a wake-up per snapshot cost
			 * the producer a context switch per job) */
			struct timespec ts;
			deadline_ts(&ts, COMPLETER_LINGER_MS);
			c->napping = true;
			while (c->n < COMPLETER_LINGER_MIN && !c->stop && !c->flushing &&
			       pthread_cond_timedwait(&c->work, &c->mu, &ts) == 0)
				;
			c->napping = false;
		}
		size_t k = c->n < COMPLETER_BATCH ? c->n : COMPLETER_BATCH;
		memcpy(batch, c->buf, k * sizeof(*batch));
		memmove(c->buf, c->buf + k, (c->n - k) * sizeof(*c->buf));
		c->n -= k;
		c->inflight = k;
		pthread_mutex_unlock(&c->mu);

		int r = write_batch(c, batch, k);

		pthread_mutex_lock(&c->mu);
		if (r < 0) {
			/* put them back in front and wait before the next try (a
			 * stop still gets its deadline from completer_stop) */
			c->db_down = true;
			size_t room = COMPLETER_MAX - c->n < k ? COMPLETER_MAX - c->n : k;
			for (size_t i = room; i < k; i++) {
				queue_job_release(&batch[i]);
				c->dropped++;
			}
			if (c->n + room > c->cap) {
				c->cap = c->n + room;
				c->buf = xrealloc(c->buf, c->cap * sizeof(*c->buf));
			}
			memmove(c->buf + room, c->buf, c->n * sizeof(*c->buf));
			memcpy(c->buf, batch, room * sizeof(*batch));
			c->n += room;
			c->inflight = 0;
			pthread_cond_broadcast(&c->done);
			if (c->stop)
				break;
			/* the whole backoff: only a stop cuts it short (an add
			 * used to, so a worker retried the connection once per
			 * job while PostgreSQL was away) */
			struct timespec ts;
			deadline_ts(&ts, backoff);
			c->napping = true;
			while (!c->stop && pthread_cond_timedwait(&c->work, &c->mu, &ts) == 0)
				;
			c->napping = false;
			backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
			continue;
		}
		for (size_t i = 0; i < k; i++)
			queue_job_release(&batch[i]);
		if (c->db_down)
			log_info("recorded %zu job state change%s that waited for PostgreSQL%s", k,
				 k == 1 ? "" : "s", c->n ? "; the rest follow" : "");
		c->db_down = false;
		backoff = 50;
		c->written += k;
		c->batches++;
		c->inflight = 0;
		pthread_cond_broadcast(&c->done);
	}
	pthread_mutex_unlock(&c->mu);
	free(batch);
	return NULL;
}

struct completer *completer_start(const struct config *cfg, struct acme_err *err)
{
	struct completer *c = xcalloc(1, sizeof(*c));
	c->cfg = cfg;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->work, &ca);
	pthread_cond_init(&c->done, &ca);
	pthread_condattr_destroy(&ca);
	/* signals stay with the thread that handles them */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&c->thread, NULL, writer, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		acme_err_set(err, ACME_E_FAILURE, "cannot start the jobs table writer: %s", strerror(e));
		pthread_cond_destroy(&c->done);
		pthread_cond_destroy(&c->work);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	return c;
}

void completer_add(struct completer *c, const struct queue_job *job)
{
	if (!job->known || !job->id)
		return;
	pthread_mutex_lock(&c->mu);
	while (c->n >= COMPLETER_MAX && !c->db_down)
		pthread_cond_wait(&c->done, &c->mu);
	if (c->n >= COMPLETER_MAX) {
		/* PostgreSQL is away and the buffer full: drop the oldest */
		log_warn("job %s: too many state changes wait for PostgreSQL; dropping the oldest",
			 c->buf[0].id);
		queue_job_release(&c->buf[0]);
		memmove(c->buf, c->buf + 1, (c->n - 1) * sizeof(*c->buf));
		c->n--;
		c->dropped++;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->buf = xrealloc(c->buf, c->cap * sizeof(*c->buf));
	}
	snapshot_copy(&c->buf[c->n++], job);
	if (!c->napping || c->n >= COMPLETER_LINGER_MIN)
		pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->mu);
}

size_t completer_flush(struct completer *c, long long deadline_ms)
{
	if (!c)
		return 0;
	pthread_mutex_lock(&c->mu);
	c->flushing++;
	pthread_cond_signal(&c->work);
	unsigned long long target = c->written + c->n + c->inflight;
	while (c->written < target && (c->n || c->inflight)) {
		long long left = deadline_ms - clock_mono_ms();
		if (left <= 0)
			break;
		struct timespec ts;
		deadline_ts(&ts, left < 100 ? left : 100);
		pthread_cond_timedwait(&c->done, &c->mu, &ts);
	}
	size_t rest = c->n + c->inflight;
	c->flushing--;
	pthread_mutex_unlock(&c->mu);
	return rest;
}

size_t completer_stop(struct completer *c, long long deadline_ms)
{
	if (!c)
		return 0;
	size_t rest = completer_flush(c, deadline_ms);
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	rest = c->n;
	log_info("jobs table writer: %llu job state%s in %llu statement%s", c->written,
		 c->written == 1 ? "" : "s", c->batches, c->batches == 1 ? "" : "s");
	if (c->dropped)
		log_warn("jobs table writer: %llu job state%s dropped while PostgreSQL was away (the "
			 "reconciler repairs their rows from Redis)", c->dropped,
			 c->dropped == 1 ? "" : "s");
	if (rest)
		log_warn("%zu job state changes not recorded in PostgreSQL (the reconciler repairs "
			 "their rows from Redis)", rest);
	for (size_t i = 0; i < c->n; i++)
		queue_job_release(&c->buf[i]);
	free(c->buf);
	if (c->db)
		PQfinish(c->db);
	pthread_cond_destroy(&c->done);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return rest;
}
