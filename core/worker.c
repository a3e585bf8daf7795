/* worker.c — the worker daemon's supervisor and children; see worker.h.
 *
 * Why pre-forked children and not threads: a job may run C code that crashes
 * or leaks (libcsv on hostile input, libcurl), and an operator must be able to
 * bound and recycle it. A child that dies takes only its own job with it, and
 * the supervisor still holds the job's lease token in the shared slot table,
 * so it fails that attempt at once instead of waiting for the lease to expire.
 *
 * Signals: the first SIGTERM or SIGINT stops fetching (children finish their
 * current job; the job itself is not told), then after shutdown_timeout the
 * supervisor kills children still busy and releases their leases so another
 * worker takes the jobs at once. A second signal does that immediately. A
 * child whose supervisor dies gets SIGTERM from the kernel (PDEATHSIG) and
 * does the same: it finishes its job and stops.
 *
 * PostgreSQL and Redis may restart at any time. Whatever the queue in Redis
 * has recorded but the jobs table has not yet (the mirror write failed) is
 * kept in a pending list and written again first thing after reconnecting,
 * so a row never stays behind; a job whose attempt stopped because
 * PostgreSQL went away is released (not an attempt) rather than left to its
 * lease; a job whose Redis connection broke is left to its lease, which the
 * reaper turns into a retry.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/completer.h"
#include "core/db.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/log.h"
#include "core/outbox.h"
#include "core/queue.h"
#include "core/rds.h"
#include "core/scheduler.h"
#include "core/sdnotify.h"
#include "core/version.h"
#include "core/worker.h"
#include "core/workers.h"
#include "core/xalloc.h"

#define ABORT_GRACE_MS     3000   /* shutdown: time to give jobs back before SIGKILL */
#define TICK_MS            100
#define MAINT_INTERVAL_MS  250    /* reaper, promoter, outbox relay */
#define RECORD_INTERVAL_MS 5000   /* worker heartbeat record */
#define RECORD_TTL_S       15
#define RECONCILE_INTERVAL_MS 5000   /* the jobs table against Redis */
#define RECONCILE_AGE_MS   10000  /* rows untouched this long are checked */
#define RECONCILE_BATCH    500
#define RECONCILE_BATCHES  40     /* a call looks at up to 20,000 rows */
#define DEQUEUE_WAIT_MS    1000
#define EXIT_RECYCLE       3      /* child: done its share, start a new one */
#define EXIT_DRAINED       0      /* child: stopped or (burst) nothing left */

/* One per child, in memory shared with the supervisor. */
struct slot {
	volatile pid_t pid;
	int pool;
	volatile int busy;
	char job_id[QUEUE_ID_MAX + 1];
	char queue[QUEUE_NAME_MAX + 1];
	char type[QUEUE_NAME_MAX + 1];
	char token[QUEUE_TOKEN_LEN + 1];
	volatile long long started_ms;
	volatile long long hard_deadline_ms;   /* 0 = none */
	volatile long rss_kb;
	volatile unsigned jobs_done;
	volatile int killed_for_time;
	/* a job taken with the last ack (ack-and-fetch, queue_set_fetch) and
	 * not started yet: given back if the child dies before it runs it */
	volatile int next_busy;
	char next_id[QUEUE_ID_MAX + 1];
	char next_queue[QUEUE_NAME_MAX + 1];
	char next_token[QUEUE_TOKEN_LEN + 1];
	/* the supervisor's own bookkeeping (children do not touch these) */
	long long respawn_ms;      /* start a child here no sooner than this */
	bool finished;             /* burst: drained, not replaced */
};

static volatile sig_atomic_t sig_stop;     /* number of stop signals seen */
static volatile sig_atomic_t child_stop;   /* child: take no new job */
static volatile sig_atomic_t child_abort;  /* child: stop the job and release it */
static pid_t supervisor_pid;

static void on_stop_signal(int sig)
{
	(void)sig;
	sig_stop++;
}

static void on_child_stop(int sig)
{
	(void)sig;
	child_stop = 1;
}

static void on_child_abort(int sig)
{
	(void)sig;
	child_stop = 1;
	child_abort = 1;
}

static long rss_kb_of(pid_t pid)
{
	char path[64];
	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/statm");
	FILE *f = fopen(path, "r");
	long pages = 0, rss = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- snapshots the jobs table has not recorded yet ------------------------- */

#define PENDING_MAX 100000

struct pending {
	struct queue_job *jobs;
	size_t n, cap;
};

/* Keep job's snapshot for a later job_mirror(); takes over its strings and
 * leaves *job empty. Past PENDING_MAX the oldest is dropped (a later
 * transition of the same job brings its row up to date). */
static void pending_add(struct pending *p, struct queue_job *job)
{
	if (!job->known || !job->id) {
		queue_job_release(job);
		return;
	}
	if (p->n == PENDING_MAX) {
		log_warn("job %s: too many state changes wait for PostgreSQL; dropping the oldest",
			 p->jobs[0].id);
		queue_job_release(&p->jobs[0]);
		memmove(p->jobs, p->jobs + 1, (p->n - 1) * sizeof(*p->jobs));
		p->n--;
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->jobs = xrealloc(p->jobs, p->cap * sizeof(*p->jobs));
	}
	p->jobs[p->n++] = *job;
	memset(job, 0, sizeof(*job));
}

/* Mirror n snapshots; those PostgreSQL did not take are kept in p. */
static int mirror_or_keep(struct pending *p, PGconn *db, struct queue_job *jobs, size_t n,
			  struct acme_err *err)
{
	if (n == 0)
		return 0;
	if (db && job_mirror(db, jobs, n, err) >= 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		pending_add(p, &jobs[i]);
	return -1;
}

/* Write what waits; 0 when nothing is left. */
static int pending_flush(struct pending *p, PGconn *db, struct acme_err *err)
{
	if (p->n == 0)
		return 0;
	if (job_mirror(db, p->jobs, p->n, err) < 0) {
		if (PQstatus(db) != CONNECTION_OK)
			return -1;
		/* PostgreSQL answers but refuses them: trying again cannot help;
		 * the reconciler repairs the rows from Redis */
		log_error("dropping %zu job state changes PostgreSQL refuses: %s", p->n, err->msg);
	} else {
		log_info("recorded %zu job state change%s that waited for PostgreSQL", p->n,
			 p->n == 1 ? "" : "s");
	}
	for (size_t i = 0; i < p->n; i++)
		queue_job_release(&p->jobs[i]);
	p->n = 0;
	return 0;
}

static void pending_release(struct pending *p)
{
	queue_jobs_free(p->jobs, p->n);
	memset(p, 0, sizeof(*p));
}

/* ---- pool specs ------------------------------------------------------------ */

int worker_parse_pools(const char *spec, int default_size, struct worker_opts *opts,
		       struct acme_err *err)
{
	char *copy = xstrdup(spec), *save = NULL;
	int rc = -1;
	opts->npools = 0;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (opts->npools == WORKER_MAX_POOLS) {
			acme_err_set(err, ACME_E_USAGE, "--queues: at most %d pools", WORKER_MAX_POOLS);
			goto out;
		}
		struct worker_pool *p = &opts->pools[opts->npools];
		memset(p, 0, sizeof(*p));
		p->size = default_size;
		char *eq = strchr(item, '=');
		if (eq) {
			*eq = '\0';
			char *end;
			long n = strtol(eq + 1, &end, 10);
			if (*end || n < 1 || n > 64) {
				acme_err_set(err, ACME_E_USAGE, "--queues: \"%s\": the pool size must be 1-64",
					     eq + 1);
				goto out;
			}
			p->size = (int)n;
		}
		char *colon = strchr(item, ':');
		char *queues = colon ? colon + 1 : item;
		if (colon)
			*colon = '\0';
		if (queue_check_name("pool", item, err) < 0)
			goto out;
		snprintf(p->name, sizeof(p->name), "%s", item);
		char *qsave = NULL;
		for (char *q = strtok_r(queues, "+", &qsave); q; q = strtok_r(NULL, "+", &qsave)) {
			if (p->nqueues == WORKER_MAX_QUEUES) {
				acme_err_set(err, ACME_E_USAGE, "--queues: at most %d queues per pool",
					     WORKER_MAX_QUEUES);
				goto out;
			}
			if (queue_check_name("queue", q, err) < 0)
				goto out;
			snprintf(p->queues[p->nqueues++], sizeof(p->queues[0]), "%s", q);
		}
		if (p->nqueues == 0) {
			acme_err_set(err, ACME_E_USAGE, "--queues: pool \"%s\" has no queue", item);
			goto out;
		}
		opts->npools++;
	}
	if (opts->npools == 0) {
		acme_err_set(err, ACME_E_USAGE, "--queues: no pool given");
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/* ---- shared slots ------------------------------------------------------------ */

struct supervisor {
	const struct config *cfg;
	const struct worker_opts *opts;
	struct slot *slots;
	int nslots;
	redisContext *rc;
	struct queue q;
	bool have_q;
	PGconn *db;
	char host[256];
	char worker_key[512];
	long long started_ms;
	long long next_connect_ms;
	int backoff_ms;
	struct scheduler *sched;
	bool warned_policy;
	struct pending pending;       /* snapshots PostgreSQL has not recorded yet */
	unsigned jobs_done;           /* by children that have ended */
	struct job_reconcile rec;   /* the reconciler's walk over the jobs table */
};

static int live_children(const struct supervisor *sv)
{
	int n = 0;
	for (int i = 0; i < sv->nslots; i++)
		n += sv->slots[i].pid > 0;
	return n;
}

static void slot_clear(struct slot *s)
{
	s->busy = 0;
	s->job_id[0] = s->queue[0] = s->type[0] = s->token[0] = '\0';
	s->started_ms = 0;
	s->hard_deadline_ms = 0;
	s->killed_for_time = 0;
}

static void slot_clear_next(struct slot *s)
{
	__atomic_store_n(&s->next_busy, 0, __ATOMIC_SEQ_CST);
	s->next_id[0] = s->next_queue[0] = s->next_token[0] = '\0';
}

/* queue_fetch.on_fetch: publish the job an ack took before anything else */
static void slot_publish_next(const struct queue_job *job, void *arg)
{
	struct slot *s = arg;
	snprintf(s->next_id, sizeof(s->next_id), "%s", job->id);
	snprintf(s->next_queue, sizeof(s->next_queue), "%s", job->queue);
	snprintf(s->next_token, sizeof(s->next_token), "%s", job->token ? job->token : "");
	__atomic_store_n(&s->next_busy, 1, __ATOMIC_SEQ_CST);
}

/* ---- the child ---------------------------------------------------------------- */

/* A child's state: its pool, its connections, what PostgreSQL missed. */
struct child {
	const struct config *cfg;
	const struct worker_opts *opts;
	const struct worker_pool *pool;
	struct slot *slot;
	struct queue q;
	bool have_q;
	redisContext *rc;
	PGconn *db;
	struct pending pending;
	struct completer *writer;     /* the batched jobs table writer (NULL: --no-mirror) */
	const char *queues[WORKER_MAX_QUEUES];
	char name[320];
	int backoff;                  /* ms before the next connection attempt */
	unsigned done;                /* jobs run */
};

/* SIGTERM: take no new job, finish this one. SIGUSR1: stop this one at its
 * next checkpoint and give it back. No SA_RESTART, so a blocking wait for
 * jobs returns at once. */
static void child_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_child_stop;
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_child_abort;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGINT, SIG_IGN);          /* the supervisor decides what Ctrl-C means */
	/* if the supervisor dies (kill -9, OOM), finish the current job and stop
	 * rather than run on unsupervised */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != supervisor_pid)      /* it died before prctl */
		child_stop = 1;
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t unblock;
	sigemptyset(&unblock);
	sigaddset(&unblock, SIGTERM);
	sigaddset(&unblock, SIGINT);
	sigaddset(&unblock, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &unblock, NULL);   /* blocked by spawn() across fork */
}

/* (Re)connect what is missing; PostgreSQL and Redis may restart under us.
 * 0, -1 to retry later, or -2 for a fatal error (err set). */
static int child_connect(struct child *c, struct acme_err *err)
{
	if (c->db && !db_connection_ok(c->db)) {
		/* lost, or left unusable (a pipeline the server dropped): a
		 * connection libpq still calls OK would fail every job's start */
		log_warn("%s: the PostgreSQL connection is unusable; connecting again",
			 c->pool->name);
		PQfinish(c->db);
		c->db = NULL;
	}
	if (c->rc && c->db)
		return 0;
	if (!c->rc && !(c->rc = rds_connect(c->cfg, DEQUEUE_WAIT_MS + 5000, err)))
		return -1;
	if (!c->db && !(c->db = db_connect(c->cfg, err)))
		return -1;
	if (!c->have_q) {
		if (queue_init(&c->q, c->rc, config_get(c->cfg, CFG_REDIS_PREFIX), err) < 0)
			return -2;
		c->q.stop = &child_stop;
		c->have_q = true;
		/* one round trip per job: each ack takes the next job of the
		 * pool's first queue (queue_set_fetch) */
		struct queue_fetch f = { .queue = c->queues[0], .lease_ms = c->opts->lease_ms,
					 .worker = c->name, .on_fetch = slot_publish_next,
					 .arg = c->slot };
		queue_set_fetch(&c->q, &f);
	} else {
		queue_set_connection(&c->q, c->rc);
	}
	if (c->backoff > 100)
		log_info("%s: connected again", c->pool->name);
	c->backoff = 100;
	return 0;
}

/* A snapshot the jobs table still needs: to the batched writer, which
 * retries until PostgreSQL is back, or (without one) to the pending list
 * written before the next job. */
static void child_keep(struct child *c, struct queue_job *job)
{
	if (c->writer)
		completer_add(c->writer, job);
	else
		pending_add(&c->pending, job);
}

/* What to do after a job's handler failed (err): keep its outcome for the
 * jobs table, give it back when PostgreSQL went away, drop a lost
 * connection. */
static void child_job_failed(struct child *c, struct queue_job *job, const struct acme_err *err)
{
	bool redis_down = c->rc->err != 0;
	bool db_down = !db_connection_ok(c->db);
	log_warn("%s: job %s: %s", c->pool->name, job->id, err->msg);
	if (job->known && job->state != JOB_RUNNING) {
		/* Redis took the outcome; only the jobs table missed it */
		child_keep(c, job);
	} else if (db_down && !redis_down && job->token) {
		/* PostgreSQL went away under the job: give it back now (not an
		 * attempt, up to QUEUE_FREE_RELEASES times) instead of waiting
		 * for its lease */
		struct acme_err rerr;
		bool counted = false;
		int rr = queue_release_lost(&c->q, job, QUEUE_FREE_RELEASES, err->msg, &counted, &rerr);
		if (rr == QUEUE_OK && counted) {
			log_warn("%s: job %s: PostgreSQL went away under it more than %d times; this "
				 "attempt counts (%s)", c->pool->name, job->id, QUEUE_FREE_RELEASES,
				 job_state_name(job->state));
			child_keep(c, job);
		} else if (rr == QUEUE_OK) {
			log_warn("%s: job %s released: PostgreSQL is unavailable", c->pool->name,
				 job->id);
			child_keep(c, job);
		} else if (rr < 0) {
			log_warn("%s: job %s: %s", c->pool->name, job->id, rerr.msg);
		}
	}
	/* otherwise its lease expires and the reaper retries the attempt */
	if (db_down) {
		PQfinish(c->db);
		c->db = NULL;
	}
	if (redis_down || (c->rc && c->rc->err)) {
		redisFree(c->rc);
		c->rc = NULL;
	}
}

/* Run one job taken from the queue, publishing it in the slot while it runs,
 * and log how it ended. */
static void child_run_job(struct child *c, struct queue_job *job, struct acme_err *err)
{
	struct slot *slot = c->slot;
	const char *pool = c->pool->name;

	/* publish what we run before running it */
	snprintf(slot->job_id, sizeof(slot->job_id), "%s", job->id);
	snprintf(slot->queue, sizeof(slot->queue), "%s", job->queue);
	snprintf(slot->type, sizeof(slot->type), "%s", job->type);
	snprintf(slot->token, sizeof(slot->token), "%s", job->token ? job->token : "");
	slot->started_ms = clock_wall_ms();
	const struct jobtype *jt = jobtype_find(job->type);
	long long hard = jt && jt->hard_limit_ms ? jt->hard_limit_ms : c->opts->time_limit_ms;
	slot->hard_deadline_ms = hard > 0 ? slot->started_ms + hard : 0;
	__atomic_store_n(&slot->busy, 1, __ATOMIC_SEQ_CST);
	if (slot->next_busy && strcmp(slot->next_id, job->id) == 0)
		slot_clear_next(slot);

	/* JSON log lines carry the job until it is done (core/log.h) */
	log_set_context(&(struct log_context){ NULL, job->id, job->type, job->queue, job->attempts });
	log_info("%s: job %s (%s) attempt %d/%d", pool, job->id, job->type, job->attempts,
		 job->max_attempts);
	long long t0 = clock_wall_ms();
	/* the lease the job was dequeued with is the one its heartbeats renew */
	int r = jobtype_execute(&c->q, c->opts->no_mirror ? NULL : c->db, c->writer, job,
				c->opts->lease_ms, &child_abort, err);
	if (r < 0) {
		child_job_failed(c, job, err);
	} else if (job->state == JOB_QUEUED) {
		log_info("%s: job %s released after %lld ms (not counted as an attempt)", pool,
			 job->id, clock_wall_ms() - t0);
	} else if (job->state == JOB_RUNNING) {
		/* the runner found its lease gone (reaped, taken over) */
		log_warn("%s: job %s: lease lost after %lld ms (reaped or taken over); this "
			 "attempt's report was refused", pool, job->id, clock_wall_ms() - t0);
	} else {
		log_info("%s: job %s %s in %lld ms%s%s", pool, job->id, job_state_name(job->state),
			 clock_wall_ms() - t0, job->error && job->state != JOB_SUCCEEDED ? ": " : "",
			 job->error && job->state != JOB_SUCCEEDED ? job->error : "");
	}
	log_set_context(&(struct log_context){ 0 });
	slot_clear(slot);
	slot->jobs_done = ++c->done;
	/* the supervisor reads our RSS for the heartbeat record itself */
	if (c->opts->max_memory_kb)
		slot->rss_kb = rss_kb_of(0);
}

/* After a job: has this child done its share (jobs or memory)? */
static bool child_should_recycle(const struct child *c)
{
	const struct worker_opts *opts = c->opts;
	if (opts->max_jobs_per_child && c->done >= (unsigned)opts->max_jobs_per_child) {
		log_info("%s: child %d ran %u jobs; recycling", c->pool->name, (int)getpid(), c->done);
		return true;
	}
	if (opts->max_memory_kb && c->slot->rss_kb > opts->max_memory_kb) {
		log_info("%s: child %d uses %ld kB (limit %ld kB); recycling", c->pool->name,
			 (int)getpid(), c->slot->rss_kb, opts->max_memory_kb);
		return true;
	}
	return false;
}

/* Wait before connecting again, doubling up to 5 s, stopping early when told. */
static void child_backoff(struct child *c, const struct acme_err *err)
{
	log_warn("%s: %s; retrying in %d ms", c->pool->name, err->msg, c->backoff);
	for (int waited = 0; waited < c->backoff && !child_stop; waited += 50)
		clock_sleep_ms(50);
	c->backoff = c->backoff * 2 > 5000 ? 5000 : c->backoff * 2;
}

/* A child: connect, take one job at a time from the pool's queues, run it,
 * until told to stop, out of work in burst mode, or done its share. */
static int child_main(const struct config *cfg, const struct worker_opts *opts,
		      const struct worker_pool *pool, struct slot *slot)
{
	struct child c = { .cfg = cfg, .opts = opts, .pool = pool, .slot = slot, .backoff = 100 };
	struct acme_err err;
	char host[256];
	int status = EXIT_DRAINED;

	child_signals();
	for (size_t i = 0; i < pool->nqueues; i++)
		c.queues[i] = pool->queues[i];
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	snprintf(c.name, sizeof(c.name), "%s:%d:%s", host, (int)getpid(), pool->name);
	log_set_context(&(struct log_context){ .worker = c.name });
	if (!opts->no_mirror && !(c.writer = completer_start(cfg, &err)))
		log_warn("%s: %s; job states are written one by one", pool->name, err.msg);

	while (!child_stop) {
		int cr = child_connect(&c, &err);
		if (cr == -2) {
			log_error("%s: %s", pool->name, err.msg);
			status = 1;
			break;
		}
		/* first what the jobs table missed while PostgreSQL was away */
		if (cr == 0 && pending_flush(&c.pending, c.db, &err) < 0) {
			PQfinish(c.db);
			c.db = NULL;
			cr = -1;
		}
		if (cr < 0) {
			child_backoff(&c, &err);
			continue;
		}

		struct queue_job job;
		memset(&job, 0, sizeof(job));
		int r = queue_dequeue(&c.q, c.queues, pool->nqueues, opts->lease_ms, DEQUEUE_WAIT_MS,
				      c.name, &job, &err);
		if (r < 0) {
			redisFree(c.rc);
			c.rc = NULL;
			child_backoff(&c, &err);
			continue;
		}
		if (r == QUEUE_EMPTY) {
			if (opts->burst)
				break;
			continue;
		}
		child_run_job(&c, &job, &err);
		queue_job_release(&job);
		if (child_should_recycle(&c)) {
			status = EXIT_RECYCLE;
			break;
		}
		if (!c.rc || !c.db)
			child_backoff(&c, &err);
	}
	/* a job the last ack took goes back to its queue, unstarted */
	if (c.have_q && c.q.fetched) {
		int fr = c.rc ? queue_return_fetched(&c.q, &err) : -1;
		if (fr < 0)
			log_warn("%s: a job taken with the last ack was not given back (%s); it runs "
				 "again when its lease expires", pool->name, c.rc ? err.msg :
				 "Redis is not connected");
		else
			slot_clear_next(c.slot);
	}
	/* what the batched writer holds, then what the jobs table missed */
	completer_stop(c.writer, clock_mono_ms() + 5000);
	if (status != 1 && c.pending.n && c.db && pending_flush(&c.pending, c.db, &err) < 0)
		log_warn("%s: %zu job state changes not recorded in PostgreSQL: %s", pool->name,
			 c.pending.n, err.msg);
	pending_release(&c.pending);
	if (c.have_q)
		queue_release(&c.q);
	if (c.rc)
		redisFree(c.rc);
	if (c.db)
		PQfinish(c.db);
	return status;
}

/* ---- the supervisor ------------------------------------------------------------ */

static pid_t spawn(struct supervisor *sv, int idx, bool *is_child, int *child_status)
{
	struct slot *s = &sv->slots[idx];
	const struct worker_pool *pool = &sv->opts->pools[s->pool];
	sigset_t block, old;
	fflush(NULL);
	supervisor_pid = getpid();
	/* no stop signal may reach the child before it has its own handlers */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid_t pid = fork();
	if (pid != 0)
		sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_error("fork: %s; trying again in a second", strerror(errno));
		s->respawn_ms = clock_wall_ms() + 1000;
		return -1;
	}
	if (pid == 0) {
		/* The child: the supervisor's connections are not ours. Close our
		 * copies of their sockets first, so nothing goes on the wire (a
		 * PQfinish on the open socket would end the supervisor's
		 * PostgreSQL session), then free our copies of the structures:
		 * libpq's goodbye fails on the closed descriptor and is dropped,
		 * and hiredis closes nothing once fd is -1. When the supervisor
		 * dies its servers see it at once. */
		if (sv->rc) {
			close(sv->rc->fd);
			sv->rc->fd = -1;
			redisFree(sv->rc);
			sv->rc = NULL;
		}
		if (sv->db) {
			close(PQsocket(sv->db));
			PQfinish(sv->db);
			sv->db = NULL;
		}
		if (sv->have_q)
			queue_release(&sv->q);
		sv->have_q = false;
		s->pid = getpid();
		*is_child = true;
		*child_status = child_main(sv->cfg, sv->opts, pool, s);
		return 0;
	}
	s->pid = pid;
	slot_clear(s);
	s->jobs_done = 0;
	s->rss_kb = 0;
	return pid;
}

static bool redis_ok(const struct supervisor *sv)
{
	return sv->rc && !sv->rc->err;
}

static bool db_ok(const struct supervisor *sv)
{
	return sv->db && PQstatus(sv->db) == CONNECTION_OK;
}

static void warn_policy(struct supervisor *sv)
{
	redisReply *r = redisCommand(sv->rc, "CONFIG GET maxmemory-policy");
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[1]->str, "noeviction") != 0)
		log_warn("redis maxmemory-policy is %s, not noeviction: under memory pressure "
			 "Redis may evict queued jobs; set maxmemory-policy noeviction",
			 r->element[1]->str);
	if (r)
		freeReplyObject(r);
	sv->warned_policy = true;
}

/* Connect what is not connected, with backoff. 0 when both servers are. */
static int sv_connect(struct supervisor *sv)
{
	struct acme_err err;
	if (redis_ok(sv) && db_ok(sv))
		return 0;
	if (clock_wall_ms() < sv->next_connect_ms)
		return -1;
	if (sv->rc && sv->rc->err) {
		redisFree(sv->rc);
		sv->rc = NULL;
	}
	if (sv->db && PQstatus(sv->db) != CONNECTION_OK) {
		PQfinish(sv->db);
		sv->db = NULL;
	}
	if (!sv->rc) {
		if (!(sv->rc = rds_connect(sv->cfg, 5000, &err)))
			goto fail;
		if (!sv->have_q) {
			if (queue_init(&sv->q, sv->rc, config_get(sv->cfg, CFG_REDIS_PREFIX), &err) < 0)
				goto fail;
			sv->have_q = true;
		} else {
			queue_set_connection(&sv->q, sv->rc);
		}
		if (!sv->warned_policy)
			warn_policy(sv);
	}
	if (!sv->db && !(sv->db = db_connect(sv->cfg, &err)))
		goto fail;
	if (sv->backoff_ms > 250)
		log_info("supervisor: connected again");
	sv->backoff_ms = 250;
	return 0;
fail:
	log_warn("supervisor: %s; retrying in %d ms", err.msg, sv->backoff_ms);
	sdn_status("waiting: %s", err.msg);
	sv->next_connect_ms = clock_wall_ms() + sv->backoff_ms;
	sv->backoff_ms = sv->backoff_ms * 2 > 5000 ? 5000 : sv->backoff_ms * 2;
	return -1;
}

/* The job of a slot as a minimal snapshot the queue can fail or release. */
static void slot_job(const struct slot *s, struct queue_job *job)
{
	memset(job, 0, sizeof(*job));
	job->id = xstrdup(s->job_id);
	job->queue = xstrdup(s->queue);
	job->type = xstrdup(s->type);
	job->token = xstrdup(s->token);
	job->known = true;
	job->state = JOB_RUNNING;
}

/* A child died holding a job its last ack took (ack-and-fetch) and had not
 * started: give it back, not as an attempt. */
static void settle_next(struct supervisor *sv, struct slot *s)
{
	struct queue_job job;
	struct acme_err err;
	if (!s->next_busy || !s->next_id[0]) {
		slot_clear_next(s);
		return;
	}
	if (sv_connect(sv) < 0 && !redis_ok(sv)) {
		slot_clear_next(s);
		return;           /* the reaper settles it when the lease expires */
	}
	memset(&job, 0, sizeof(job));
	job.id = xstrdup(s->next_id);
	job.queue = xstrdup(s->next_queue);
	job.token = xstrdup(s->next_token);
	job.known = true;
	job.state = JOB_RUNNING;
	int r = queue_release_job(&sv->q, &job, &err);
	if (r < 0)
		log_warn("job %s: %s", job.id, err.msg);
	else if (r == QUEUE_OK)
		log_warn("job %s: taken by a child that stopped before starting it; released", job.id);
	queue_job_release(&job);
	slot_clear_next(s);
}

/* A child died while it held a job: fail that attempt now (or, shutting
 * down, give the job back) instead of waiting for the lease to expire. */
static void settle_slot(struct supervisor *sv, struct slot *s, const char *why, bool release)
{
	struct queue_job job;
	struct acme_err err;
	settle_next(sv, s);
	if (!s->busy || !s->job_id[0]) {
		slot_clear(s);
		return;
	}
	if (sv_connect(sv) < 0 && !redis_ok(sv)) {
		slot_clear(s);
		return;           /* the reaper settles it when the lease expires */
	}
	slot_job(s, &job);
	if (!release) {
		/* the retry waits the job's backoff: the slot knows only the
		 * lease, so read attempts and backoff from Redis (a crashing
		 * file or a killed 6-hour import must not come back at once) */
		struct queue_job cur;
		memset(&cur, 0, sizeof(cur));
		if (queue_get(&sv->q, s->queue, s->job_id, &cur, &err) == QUEUE_OK) {
			job.attempts = cur.attempts;
			job.max_attempts = cur.max_attempts;
			job.backoff_ms = cur.backoff_ms;
			job.backoff_max_ms = cur.backoff_max_ms;
		}
		queue_job_release(&cur);
	}
	int r = release ? queue_release_job(&sv->q, &job, &err) :
			  queue_fail(&sv->q, &job, why, false, &err);
	if (r < 0) {
		log_warn("job %s: %s", s->job_id, err.msg);
	} else if (r == QUEUE_OK) {
		log_warn("job %s: %s; %s", s->job_id, why, release ? "released" :
			 job.state == JOB_RETRYING ? "will retry" : job_state_name(job.state));
		if (mirror_or_keep(&sv->pending, db_ok(sv) ? sv->db : NULL, &job, 1, &err) < 0)
			log_warn("job %s: not recorded in PostgreSQL yet: %s", s->job_id,
				 db_ok(sv) ? err.msg : "not connected");
	}
	queue_job_release(&job);
	slot_clear(s);
}

static void write_record(struct supervisor *sv)
{
	struct acme_err err;
	struct worker_state st = { sv->host, (int)getpid(), json_array(), json_array(), rss_kb_of(0),
				   sv->started_ms, sv->sched != NULL,
				   sv->sched && scheduler_is_leader(sv->sched), live_children(sv),
				   (int)sv->jobs_done };
	for (size_t i = 0; i < sv->opts->npools; i++) {
		const struct worker_pool *p = &sv->opts->pools[i];
		const char *qs[WORKER_MAX_QUEUES];
		for (size_t j = 0; j < p->nqueues; j++)
			qs[j] = p->queues[j];
		json_array_append_new(st.pools, workers_pool_json(p->name, qs, p->nqueues,
								  sv->opts->beat_only ? 0 : p->size));
	}
	for (int i = 0; i < sv->nslots; i++) {
		struct slot *s = &sv->slots[i];
		if (s->pid > 0)
			st.rss_kb += rss_kb_of(s->pid);
		if (s->pid > 0 && s->busy && s->job_id[0])
			json_array_append_new(st.current_jobs, workers_job_json(s->job_id, s->type,
				s->queue, (int)s->pid, sv->opts->pools[s->pool].name, s->started_ms));
	}
	if (workers_publish(sv->rc, sv->worker_key, &st, RECORD_TTL_S, &err) < 0)
		log_debug("heartbeat record: %s", err.msg);
}

/* Reaper, promoter and outbox relay for every queue of every pool. */
static void maintain(struct supervisor *sv)
{
	struct acme_err err;
	struct queue_job *jobs = NULL;
	size_t n = 0;
	if (pending_flush(&sv->pending, sv->db, &err) < 0) {
		log_warn("supervisor: %zu job state changes wait for PostgreSQL: %s", sv->pending.n,
			 err.msg);
		return;
	}
	for (size_t i = 0; i < sv->opts->npools; i++) {
		for (size_t j = 0; j < sv->opts->pools[i].nqueues; j++) {
			const char *qn = sv->opts->pools[i].queues[j];
			if (queue_reap(&sv->q, qn, 100, &jobs, &n, &err) < 0) {
				log_warn("reaper: %s", err.msg);
				return;
			}
			for (size_t k = 0; k < n; k++)
				log_warn("job %s: lease expired; %s", jobs[k].id,
					 job_state_name(jobs[k].state));
			if (mirror_or_keep(&sv->pending, sv->db, jobs, n, &err) < 0)
				log_warn("reaper: %s", err.msg);
			queue_jobs_free(jobs, n);
			jobs = NULL;
			if (queue_promote(&sv->q, qn, 1000, &jobs, &n, &err) < 0) {
				log_warn("promoter: %s", err.msg);
				return;
			}
			if (mirror_or_keep(&sv->pending, sv->db, jobs, n, &err) < 0)
				log_warn("promoter: %s", err.msg);
			queue_jobs_free(jobs, n);
			jobs = NULL;
		}
	}
	long long relayed = 0;
	if (outbox_relay(sv->db, &sv->q, 500, &relayed, &err) < 0)
		log_warn("outbox relay: %s", err.msg);
	else if (relayed)
		log_debug("outbox relay: %lld events", relayed);
}

/* The jobs table against Redis (job_reconcile_batch): rows Redis lost are
 * queued again under their own ids, rows whose mirror write was lost (a
 * child killed between its ack and the write, or before its batched writer
 * wrote) get Redis's snapshot. Up to RECONCILE_BATCHES batches a call, so a whole pass over a
 * few ten thousand waiting jobs fits in one period; a longer one goes on
 * where it stopped. The set of known queues is rebuilt every call (Redis may
 * have lost it with everything else). */
static void reconcile(struct supervisor *sv)
{
	struct acme_err err;
	const char **names = NULL;
	size_t nnames = 0;

	for (size_t i = 0; i < sv->opts->npools; i++)
		for (size_t j = 0; j < sv->opts->pools[i].nqueues; j++) {
			names = xrealloc(names, (nnames + 1) * sizeof(*names));
			names[nnames++] = sv->opts->pools[i].queues[j];
		}
	if (queue_register_names(&sv->q, names, nnames, &err) < 0)
		log_warn("reconciler: %s", err.msg);
	free(names);

	for (int b = 0; b < RECONCILE_BATCHES; b++) {
		if (job_reconcile_batch(sv->db, &sv->q, RECONCILE_AGE_MS, RECONCILE_BATCH, &sv->rec,
					&err) < 0) {
			log_warn("%s", err.msg);
			return;
		}
		if (sv->rec.pass_done)
			break;
	}
	if (!sv->rec.pass_done)
		return;
	if (sv->rec.requeued)
		log_warn("reconciler: Redis had lost %lld waiting or running job%s (e.g. %s): "
			 "queued again from the jobs table under the same id%s",
			 sv->rec.requeued, sv->rec.requeued == 1 ? "" : "s", sv->rec.example,
			 sv->rec.requeued == 1 ? "" : "s");
	if (sv->rec.recorded)
		log_info("reconciler: %lld row%s recorded from Redis (a state change had not "
			 "been written)", sv->rec.recorded,
			 sv->rec.recorded == 1 ? "" : "s");
	sv->rec.requeued = sv->rec.recorded = 0;
	sv->rec.example[0] = '\0';
}

/* Children that ended: settle their jobs and say whether to replace them. */
static void reap_children(struct supervisor *sv, bool stopping)
{
	int wst;
	pid_t pid;
	while ((pid = waitpid(-1, &wst, WNOHANG)) > 0) {
		for (int i = 0; i < sv->nslots; i++) {
			struct slot *s = &sv->slots[i];
			if (s->pid != pid)
				continue;
			char why[160];
			bool expected = WIFEXITED(wst) && (WEXITSTATUS(wst) == EXIT_RECYCLE ||
							   WEXITSTATUS(wst) == EXIT_DRAINED);
			if (s->killed_for_time)
				snprintf(why, sizeof(why), "hard time limit exceeded; the attempt was killed");
			else if (WIFSIGNALED(wst))
				snprintf(why, sizeof(why), "worker child %d was killed by signal %d",
					 (int)pid, WTERMSIG(wst));
			else
				snprintf(why, sizeof(why), "worker child %d exited with status %d",
					 (int)pid, WEXITSTATUS(wst));
			settle_slot(sv, s, why, false);
			sv->jobs_done += s->jobs_done;
			s->pid = 0;
			s->jobs_done = 0;
			if (sv->opts->burst && WIFEXITED(wst) && WEXITSTATUS(wst) == EXIT_DRAINED)
				s->finished = true;
			if (!expected && !stopping) {
				log_warn("%s; starting another", why);
				/* no fork storm when children crash at once */
				s->respawn_ms = clock_wall_ms() + 200;
			} else {
				s->respawn_ms = 0;
			}
		}
	}
}

/* Set up the supervisor: the shared slots of the children, the signals. */
static int sv_setup(struct supervisor *sv, const struct config *cfg,
		    const struct worker_opts *opts, struct acme_err *err)
{
	struct sigaction sa;
	memset(sv, 0, sizeof(*sv));
	sv->cfg = cfg;
	sv->opts = opts;
	sv->started_ms = clock_wall_ms();
	sv->backoff_ms = 250;
	gethostname(sv->host, sizeof(sv->host));
	sv->host[sizeof(sv->host) - 1] = '\0';
	char *key = workers_key(config_get(cfg, CFG_REDIS_PREFIX), sv->host, (int)getpid());
	snprintf(sv->worker_key, sizeof(sv->worker_key), "%s", key);
	free(key);

	if (!opts->beat_only)
		for (size_t i = 0; i < opts->npools; i++)
			sv->nslots += opts->pools[i].size;
	if (sv->nslots > WORKER_MAX_CHILDREN)
		return acme_err_set(err, ACME_E_USAGE, "at most %d children in all", WORKER_MAX_CHILDREN);
	if (opts->lease_ms < 1000)
		return acme_err_set(err, ACME_E_USAGE, "the lease must be at least 1s");
	if (sv->nslots) {
		sv->slots = mmap(NULL, sizeof(struct slot) * (size_t)sv->nslots, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (sv->slots == MAP_FAILED) {
			sv->slots = NULL;
			return acme_err_set(err, ACME_E_FAILURE, "mmap: %s", strerror(errno));
		}
		memset(sv->slots, 0, sizeof(struct slot) * (size_t)sv->nslots);
		int k = 0;
		for (size_t i = 0; i < opts->npools; i++)
			for (int j = 0; j < opts->pools[i].size; j++)
				sv->slots[k++].pool = (int)i;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* A child has ended during shutdown: settle its job, count its work. */
static void sv_child_gone(struct supervisor *sv, struct slot *s)
{
	settle_slot(sv, s, "worker stopped", true);
	sv->jobs_done += s->jobs_done;
	s->pid = 0;
}

/* The first stop signal: no new jobs; children finish what they run. */
static void sv_drain(struct supervisor *sv)
{
	log_info("stopping: no new jobs; waiting up to %lld ms for running ones",
		 sv->opts->shutdown_timeout_ms);
	sdn_stopping("stopping: no new jobs; waiting for the running ones");
	for (int i = 0; i < sv->nslots; i++)
		if (sv->slots[i].pid > 0)
			kill(sv->slots[i].pid, SIGTERM);
	if (sv->sched && redis_ok(sv))
		scheduler_resign(sv->sched, sv->rc);
}

/* The shutdown timeout or a second signal: first ask each child to give its
 * job back (SIGUSR1: the job stops at its next checkpoint and is released, so
 * a handler can return what it holds, e.g. deliveries in flight) and wait a
 * grace period for them. */
static void sv_release_jobs(struct supervisor *sv)
{
	log_warn("stopping now: releasing the jobs of %d children", live_children(sv));
	for (int i = 0; i < sv->nslots; i++)
		if (sv->slots[i].pid > 0)
			kill(sv->slots[i].pid, SIGUSR1);
	long long grace_end = clock_mono_ms() + ABORT_GRACE_MS;
	while (clock_mono_ms() < grace_end) {
		pid_t done_pid;
		int wst;
		while ((done_pid = waitpid(-1, &wst, WNOHANG)) > 0)
			for (int i = 0; i < sv->nslots; i++)
				if (sv->slots[i].pid == done_pid)
					sv_child_gone(sv, &sv->slots[i]);
		if (!live_children(sv))
			break;
		clock_sleep_ms(50);
	}
}

/* Then kill those that did not manage, and settle their jobs. */
static void sv_kill_children(struct supervisor *sv)
{
	if (live_children(sv))
		log_warn("killing %d children that did not stop", live_children(sv));
	for (int i = 0; i < sv->nslots; i++)
		if (sv->slots[i].pid > 0)
			kill(sv->slots[i].pid, SIGKILL);
	for (int i = 0; i < sv->nslots; i++) {
		struct slot *s = &sv->slots[i];
		int wst;
		if (s->pid > 0) {
			while (waitpid(s->pid, &wst, 0) < 0 && errno == EINTR)
				;
			sv_child_gone(sv, s);
		}
	}
}

/* Kill the children that passed their job's hard time limit. */
static void sv_enforce_time_limits(struct supervisor *sv, long long now)
{
	for (int i = 0; i < sv->nslots; i++) {
		struct slot *s = &sv->slots[i];
		if (s->pid > 0 && s->busy && s->hard_deadline_ms && now > s->hard_deadline_ms &&
		    !s->killed_for_time) {
			log_warn("job %s passed its hard time limit; killing child %d", s->job_id,
				 (int)s->pid);
			s->killed_for_time = 1;
			kill(s->pid, SIGKILL);
		}
	}
}

/* burst mode: every child has run out of work */
static bool sv_burst_done(const struct supervisor *sv)
{
	if (!sv->opts->burst || live_children(sv))
		return false;
	for (int i = 0; i < sv->nslots; i++)
		if (!sv->slots[i].finished)
			return false;
	return true;
}

/* A clean stop: record what PostgreSQL missed, remove the heartbeat record,
 * hand the scheduler over. */
static void sv_finish(struct supervisor *sv)
{
	if (sv->pending.n && db_ok(sv)) {
		struct acme_err ferr;
		if (pending_flush(&sv->pending, sv->db, &ferr) < 0)
			log_warn("supervisor: %zu job state changes not recorded in PostgreSQL: %s",
				 sv->pending.n, ferr.msg);
	}
	if (redis_ok(sv)) {
		workers_unpublish(sv->rc, sv->worker_key);
		if (sv->sched)
			scheduler_resign(sv->sched, sv->rc);
	}
	log_info("worker stopped");
}

static void sv_release(struct supervisor *sv)
{
	if (sv->sched)
		scheduler_free(sv->sched);
	pending_release(&sv->pending);
	if (sv->have_q)
		queue_release(&sv->q);
	if (sv->rc)
		redisFree(sv->rc);
	if (sv->db)
		PQfinish(sv->db);
	if (sv->slots)
		munmap(sv->slots, sizeof(struct slot) * (size_t)sv->nslots);
}

int worker_run(const struct config *cfg, const struct worker_opts *opts, bool *is_child,
	       int *child_status, struct acme_err *err)
{
	struct supervisor sv;
	long long stop_deadline = 0;
	bool stopping = false;
	long long next_maint = 0, next_record = 0, next_reconcile = 0;

	*is_child = false;
	if (sv_setup(&sv, cfg, opts, err) < 0) {
		sv_release(&sv);
		return -1;
	}
	if ((opts->beat || opts->beat_only) && scheduler_new(cfg, &sv.sched, err) < 0) {
		sv_release(&sv);
		return -1;
	}
	log_info("worker %s:%d started: %d children, lease %lld ms%s%s", sv.host, (int)getpid(),
		 sv.nslots, opts->lease_ms, opts->burst ? ", burst" : "",
		 sv.sched ? ", scheduler" : "");
	/* connect once before the children, so the maxmemory-policy warning
	 * comes first and the heartbeat record appears at once */
	sv_connect(&sv);
	sdn_init();

	for (;;) {
		long long now = clock_wall_ms();
		reap_children(&sv, stopping);

		/* start children for empty slots */
		for (int i = 0; i < sv.nslots && !stopping && !sig_stop; i++) {
			struct slot *s = &sv.slots[i];
			if (s->pid > 0 || s->finished || now < s->respawn_ms)
				continue;
			if (spawn(&sv, i, is_child, child_status) == 0 && *is_child) {
				/* in a child: nothing of the supervisor's is ours to
				 * close over the wire; free memory only */
				if (sv.sched)
					scheduler_free(sv.sched);
				pending_release(&sv.pending);
				return 0;
			}
		}

		/* stopping: the first signal drains, the timeout or a second signal
		 * gives the running jobs back and kills what still runs */
		if (sig_stop && !stopping) {
			stopping = true;
			stop_deadline = now + opts->shutdown_timeout_ms;
			sv_drain(&sv);
		}
		if (stopping && (sig_stop > 1 || now >= stop_deadline) && live_children(&sv)) {
			sv_release_jobs(&sv);
			sv_kill_children(&sv);
		}
		if (stopping && !live_children(&sv))
			break;

		sv_enforce_time_limits(&sv, now);
		sdn_watchdog(clock_mono_ms());
		if (sv_connect(&sv) == 0) {
			if (!stopping && (live_children(&sv) || sv.nslots == 0))
				sdn_ready(sv.sched && !sv.nslots ? "scheduler running" : "serving jobs");
			if (now >= next_maint) {
				maintain(&sv);
				if (sv.sched && !stopping &&
				    scheduler_tick(sv.sched, sv.rc, sv.db, &sv.q, err) < 0)
					log_warn("scheduler: %s", err->msg);
				next_maint = now + MAINT_INTERVAL_MS;
			}
			if (now >= next_reconcile) {
				reconcile(&sv);
				next_reconcile = now + RECONCILE_INTERVAL_MS;
			}
		}
		/* the heartbeat record needs only Redis */
		if (redis_ok(&sv) && now >= next_record) {
			write_record(&sv);
			next_record = now + RECORD_INTERVAL_MS;
		}
		if (sv_burst_done(&sv))
			break;
		clock_sleep_ms(TICK_MS);
	}
	sv_finish(&sv);
	sv_release(&sv);
	return 0;
}
