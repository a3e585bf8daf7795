/* queue.h — the reliable job queue in Redis (DESIGN.md section 6, issue 4).
 *
 * Keys, for queue Q under the configured prefix P (ACME_REDIS_PREFIX); the
 * {Q} hash tag keeps one queue in one Redis Cluster slot:
 *
 *   P{Q}:ready        list of job ids waiting to run (LPUSH in, RPOP out: FIFO)
 *   P{Q}:sched        zset id -> due time (ms): delayed jobs and retries
 *   P{Q}:active       zset id -> lease deadline (ms): running jobs
 *   P{Q}:dead         zset id -> time of death (ms): dead and failed jobs
 *   P{Q}:job:<id>     hash: the job (fields: QUEUE_FIELDS below)
 *   P{Q}:paused       string, present while the queue is paused
 *   P{Q}:wake         list holding at most one token: "there may be work"
 *   P{Q}:stats        hash of counters (enqueued, succeeded, retried, dead, ...)
 *   P queues          set of queue names seen (for stats)
 *   P events:job:<id> pub/sub channel: one JSON event per transition/progress
 *
 * Events (for `jobs watch` and the TUI; PSUBSCRIBE "P events:job:*" for all):
 *   {"id":"ID","event":"state","state":"running","version":5,"ts":MS,"attempts":1}
 *   event is "state" (every transition; failures add "error":"TEXT"),
 *   "progress" (adds "progress":{...}) or "cancel_requested". ts is the
 *   Redis clock in ms; attempts is the job's attempt count after the
 *   transition (the running attempt's number); anything else: queue_get().
 *
 * Every state transition is one Lua script run with EVALSHA; the SHA1 of each
 * script is computed locally and the script is loaded (SCRIPT LOAD) the first
 * time Redis answers NOSCRIPT, so a restarted or failed-over Redis needs no
 * special handling. The scripts read the time from Redis (TIME), so all
 * workers on all hosts agree on lease deadlines and due times whatever their
 * clocks say; every *_ms value in this API is on that clock.
 *
 * Life of a job:
 *
 *   enqueue ──> queued ──dequeue──> running ──ack──> succeeded
 *      │          ^  ^                │  │
 *      │ delay    │  └──release───────┘  ├─fail / lease expired (reap)─> retrying ─┐
 *      v          │    (not an attempt)  │      (attempts < max_attempts)          │
 *   scheduled ────┴──────────promote───────────────────────────────────────────────┘
 *                                        ├─fail / reap, attempts used up ─> dead
 *                                        └─fail(permanent) ─> failed
 *   cancel: queued/scheduled/retrying -> cancelled at once; running -> a cancel
 *   flag that heartbeat/progress report (QUEUE_CANCEL); the handler stops and
 *   reports with queue_fail() or queue_release_job(), which finish it as
 *   cancelled.
 *
 * Leases and fencing: dequeue hands out a fresh 128-bit random token. Only the
 * holder of the current token can heartbeat, progress, ack, fail or release;
 * any other token gets QUEUE_LOST and changes nothing. When a lease passes its
 * deadline without a heartbeat, queue_reap() counts a failed attempt and
 * clears the token, so a stalled holder that wakes up later is refused
 * everywhere. Before a job commits effects to PostgreSQL it also checks its
 * token there (job_check_lease() in core/job.h).
 *
 * Waiting: queue_dequeue() first runs the dequeue script on each queue in the
 * order given (the order is the priority). Only when all are empty does it
 * block, with BRPOP on the queues' wake lists, for at most q->block_ms per
 * call, then tries again. Enqueue, promote, release and resume push a wake
 * token (the list is trimmed to one element); a dequeue that leaves jobs
 * behind pushes one too, so a burst wakes idle workers one after another. An
 * idle worker therefore starts a new job about two round trips after it was
 * enqueued (the BRPOP reply, then the dequeue script), and a busy worker never
 * blocks. Nothing here promotes due scheduled jobs or reaps leases on its own:
 * the worker's supervisor calls queue_promote() and queue_reap() periodically
 * (every 100-500 ms is plenty).
 *
 * Connections: a struct queue uses a hiredis context it does not own. The
 * context's command timeout (rds_connect) must be longer than q->block_ms plus
 * a round trip, or a blocking wait fails as a timeout. After reconnecting, give
 * the new context to queue_set_connection(). One struct queue per connection;
 * not thread-safe. With Redis Cluster, dequeue from several queues needs them
 * in one slot (BRPOP across slots is refused); use one connection per queue.
 *
 * A heartbeat that arrives after the deadline but before the reaper ran still
 * succeeds: a lease is lost when it is reaped, not when its deadline passes.
 *
 * Scripts touch the job hashes of ids they pop (dequeue, promote, reap,
 * purge) by computing their keys; those keys share the queue's hash tag, so
 * this works on Redis Cluster, though the keys are not all declared up front.
 *
 * Ownership: every struct queue_job out-parameter must be zero-initialised
 * (or released) before the call; a call that fills it releases what it held.
 *
 * Return values: -1 means Redis failed (err set: ACME_E_UNAVAILABLE when the
 * connection is gone, the context is then unusable). Otherwise a
 * non-negative enum queue_rc saying what happened; each function lists which.
 */
#ifndef ACME_QUEUE_H
#define ACME_QUEUE_H
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct rdscall;   /* core/call.h */

/* X(constant, name) — the states, in the order of the jobs.state CHECK constraint. */
#define JOB_STATES(X) X(SCHEDULED, "scheduled") X(QUEUED, "queued") X(RUNNING, "running") \
	X(RETRYING, "retrying") X(SUCCEEDED, "succeeded") X(FAILED, "failed") X(DEAD, "dead") \
	X(CANCELLED, "cancelled")

enum job_state {
#define X(c, s) JOB_##c,
	JOB_STATES(X)
#undef X
	JOB_STATE__COUNT
};

const char *job_state_name(enum job_state s);
int job_state_parse(const char *s, enum job_state *out);   /* 0 / -1 */
/* succeeded, failed, dead, cancelled: nothing will happen to it any more */
bool job_state_is_final(enum job_state s);

/* The job hash's fields, in the order the scripts return them. */
#define QUEUE_FIELDS(X) X(id) X(type) X(queue) X(state) X(payload) X(attempts)    \
	X(max_attempts) X(version) X(token) X(error) X(result) X(progress) X(cancel) \
	X(created_ms) X(scheduled_ms) X(enqueued_ms) X(started_ms) X(finished_ms)    \
	X(deadline_ms) X(backoff_ms) X(backoff_max_ms) X(worker)

#define QUEUE_NAME_MAX    64          /* queue and type names */
#define QUEUE_ID_MAX      64          /* job ids */
#define QUEUE_ULID_LEN    26          /* generated ids */
#define QUEUE_TOKEN_LEN   32          /* lease tokens: 128 bits as hex */
#define QUEUE_PAYLOAD_MAX (1 << 20)   /* payload JSON, bytes */
#define QUEUE_RESULT_MAX  (64 << 10)  /* result and progress JSON, bytes */
#define QUEUE_ERROR_MAX   4096        /* error text is cut to this, between
					* characters, and made valid UTF-8 */

/* A job as Redis holds it: every transition fills one of these from the
 * script's answer (a snapshot taken inside the script, so it is exactly the
 * state the transition produced). Strings are owned; free with
 * queue_job_release(). NULL / 0 mean "not set". */
struct queue_job {
	char *id, *type, *queue;
	enum job_state state;
	bool known;               /* false: Redis has no such job (all else empty) */
	char *payload;            /* JSON object text */
	int attempts;             /* attempts started, including a running one */
	int max_attempts;
	long long version;        /* bumped by every transition; see core/job.h */
	char *token;              /* lease token while running */
	char *error;              /* last failure */
	char *result, *progress;  /* JSON text */
	bool cancel_requested;
	long long created_ms, scheduled_ms, enqueued_ms, started_ms, finished_ms;
	long long deadline_ms;    /* lease deadline while running */
	long long backoff_ms, backoff_max_ms;
	char *worker;             /* who holds (or last held) the lease */
};

void queue_job_release(struct queue_job *job);
/* Release n jobs and free the array. */
void queue_jobs_free(struct queue_job *jobs, size_t n);

/* What to enqueue. Strings are borrowed. */
struct queue_spec {
	const char *id;           /* NULL: queue_enqueue() generates a ULID */
	const char *type;
	const char *queue;
	const char *payload;      /* a JSON object; NULL = "{}" */
	int max_attempts;         /* >= 1 */
	long long delay_ms;       /* > 0: scheduled, promoted when due */
	long long backoff_ms;     /* retry delay before the 2nd attempt ... */
	long long backoff_max_ms; /* ... doubling up to this */
	long long version;        /* the first version; 0 = 1 */
	int attempts;             /* attempts already used (a job re-created from its
				   * PostgreSQL row after Redis lost it); 0 = new */
};

enum queue_rc {
	QUEUE_OK = 0,
	QUEUE_EXISTS,     /* enqueue: a job with this id exists; nothing changed */
	QUEUE_EMPTY,      /* dequeue: nothing ready before the wait ran out */
	QUEUE_LOST,       /* this token does not hold the lease (reaped, released,
			   * cancelled, finished): change nothing, commit nothing */
	QUEUE_CANCEL,     /* heartbeat/progress done, but cancel was requested */
	QUEUE_MISSING,    /* Redis has no such job */
	QUEUE_REQUESTED,  /* cancel: running; it stops at its next heartbeat */
	QUEUE_FINAL,      /* cancel/forget: already finished; nothing changed */
	QUEUE_BUSY,       /* requeue/forget: waiting or running; nothing changed */
};

struct queue_scripts;

struct queue {
	redisContext *rc;          /* not owned */
	char *prefix;              /* owned copy of the key prefix */
	long long keep_ms;         /* succeeded/cancelled job hashes expire after
				    * this (default 24 h; PostgreSQL keeps history) */
	int block_ms;              /* longest single blocking wait (default 1000) */
	const volatile sig_atomic_t *stop;  /* non-zero: dequeue stops waiting */
	/* private */
	struct queue_fetch *fetch;         /* ack-and-fetch, when on (queue_set_fetch) */
	struct queue_job *fetched;         /* the job it took, not yet dequeued */
	struct queue_scripts *scripts;
	char **registered;         /* queue names already added to P queues */
	size_t nregistered;
};

/* Set up q on a connection (not owned) and a key prefix (copied; must not
 * contain braces). No network traffic. 0 / -1 (ACME_E_CONFIG). */
int queue_init(struct queue *q, redisContext *rc, const char *prefix, struct acme_err *err);
void queue_set_connection(struct queue *q, redisContext *rc);
void queue_release(struct queue *q);

/* ---- names, ids, tokens, backoff (no network) ----------------------------- */

/* Queue and type names: 1-64 of [A-Za-z0-9_.-]. what = "queue" / "job type". */
int queue_check_name(const char *what, const char *name, struct acme_err *err);
/* Job ids: 1-64 of [A-Za-z0-9_.:-]. */
int queue_check_id(const char *id, struct acme_err *err);
/* A job id derived from parts, head + name + tail, such as "sched-" NAME
 * "-1767225600": the same parts always give the same id, and it is never cut
 * short. When the three fit in QUEUE_ID_MAX characters, that is the id.
 * Otherwise the name is shortened and a hash of the whole name added:
 * head + the name's first characters + ':' + 16 hex digits of SHA-256(name)
 * + tail, exactly QUEUE_ID_MAX characters. So ids of different names differ
 * (but for a 64-bit hash collision), and a shortened id can never equal a
 * whole one when names cannot hold ':' (queue_check_name). head and tail are
 * the caller's constants, valid id characters, together at most
 * QUEUE_ID_MAX - 24 long (abort() otherwise). out[QUEUE_ID_MAX + 1]. */
void queue_derive_id(char *out, const char *head, const char *name, const char *tail);
/* A new ULID (26 Crockford base32 characters: 48-bit ms time, 80 random bits),
 * so ids sort by creation time. out[QUEUE_ULID_LEN + 1]. 0 / -1. */
int queue_new_id(char *out, struct acme_err *err);
/* A lease token: 128 random bits from the OpenSSL CSPRNG as 32 lowercase hex
 * characters. out[QUEUE_TOKEN_LEN + 1]. 0 / -1. */
int queue_new_token(char *out, struct acme_err *err);
/* The delay before retrying after failed attempt number `attempt` (1-based):
 * d = min(cap, base * 2^(attempt-1)), then "equal jitter": d/2 + r * d/2 for r
 * in [0, 1), so retries spread out but never come sooner than d/2. */
long long queue_backoff_ms(int attempt, long long base_ms, long long cap_ms, double r);
/* A uniform random number in [0, 1) from the CSPRNG. */
double queue_random_unit(void);

/* Check a spec before anything is written: names, id, attempts, delays, and
 * that the payload is a JSON object of at most QUEUE_PAYLOAD_MAX bytes
 * (ACME_E_DATA). 0 / -1. */
int queue_check_spec(const struct queue_spec *spec, struct acme_err *err);

/* ---- transitions ----------------------------------------------------------- */

/* Enqueue (or schedule, with delay_ms). Idempotent by id: when the id exists
 * in Redis nothing changes and QUEUE_EXISTS is returned with the existing
 * job in *out. QUEUE_OK with the new job in *out. out may be NULL. */
int queue_enqueue(struct queue *q, const struct queue_spec *spec, struct queue_job *out,
		  struct acme_err *err);
/* The same for n jobs in one pipelined round trip; rcs[i] gets each result
 * and the generated ids are written to ids[i] (QUEUE_ULID_LEN + 1 bytes each;
 * ids may be NULL when every spec has an id). out (may be NULL; n zeroed
 * jobs) gets each job's snapshot, new or existing. 0 / -1. */
int queue_enqueue_many(struct queue *q, const struct queue_spec *specs, size_t n, int *rcs,
		       char (*ids)[QUEUE_ULID_LEN + 1], struct queue_job *out, struct acme_err *err);

/* Take the next ready job from the first non-paused, non-empty queue of
 * queues[0..n), in that order, waiting up to wait_ms (0: do not wait) for one
 * to arrive. The job gets a fresh lease token, a lease of lease_ms, and one
 * more attempt; worker (may be NULL) is recorded as its holder. QUEUE_OK with
 * the job in *job (the caller owns it and keeps it for the calls below), or
 * QUEUE_EMPTY. */
int queue_dequeue(struct queue *q, const char *const *queues, size_t n, long long lease_ms,
		  long long wait_ms, const char *worker, struct queue_job *job, struct acme_err *err);

/* Ack-and-fetch (issue 15): with a fetch set, every queue_ack() on q also
 * takes the next job of fetch->queue, as queue_dequeue() would (fresh token,
 * lease_ms, worker), with the dequeue script pipelined behind the ack: one
 * round trip per job instead of two. The next queue_dequeue() that asks for
 * that queue returns the fetched job first. on_fetch (may be NULL) is called
 * as soon as the job is taken, so the caller can publish that it holds it
 * (the worker's supervisor gives it back if the child dies before running
 * it). A fetched job not yet dequeued is given back (not an attempt) by
 * queue_return_fetched(): call it when no more jobs are taken on q. Nothing
 * is fetched while one waits. f is copied; its strings are not and must
 * outlive q's use of them. NULL turns fetching off. */
struct queue_fetch {
	const char *queue;
	long long lease_ms;
	const char *worker;
	void (*on_fetch)(const struct queue_job *job, void *arg);
	void *arg;
};
void queue_set_fetch(struct queue *q, const struct queue_fetch *f);
/* 1 a fetched job was given back, 0 none was held, -1 error (its lease then
 * expires and the reaper retries it). */
int queue_return_fetched(struct queue *q, struct acme_err *err);

/* Extend the lease of a job this process holds to now + lease_ms.
 * QUEUE_OK, QUEUE_CANCEL (extended; stop the job and report it with
 * queue_fail), or QUEUE_LOST. job->deadline_ms is updated. */
int queue_heartbeat(struct queue *q, struct queue_job *job, long long lease_ms, struct acme_err *err);

/* Redis went back in time and PostgreSQL has seen version min_version - 1 of
 * this held job: raise its version to at least min_version (nothing else
 * changes; no event). QUEUE_OK (job updated) or QUEUE_LOST. */
int queue_raise_version(struct queue *q, struct queue_job *job, long long min_version,
			struct acme_err *err);

/* Store progress (a JSON object, at most QUEUE_RESULT_MAX bytes) and publish
 * it to watchers. Does not extend the lease. QUEUE_OK, QUEUE_CANCEL, QUEUE_LOST. */
int queue_progress(struct queue *q, struct queue_job *job, const char *progress_json,
		   struct acme_err *err);

/* The job succeeded; result (JSON, may be NULL) is kept. QUEUE_OK or
 * QUEUE_LOST. On QUEUE_OK *job becomes the final snapshot (state succeeded). */
int queue_ack(struct queue *q, struct queue_job *job, const char *result_json, struct acme_err *err);

/* The attempt failed with error (bytes that are not UTF-8 replaced by '?',
 * cut to QUEUE_ERROR_MAX bytes between characters). The job is
 * retried after queue_backoff_ms() while attempts < max_attempts (state
 * retrying, job->scheduled_ms says when), else it is dead; with permanent
 * (retrying cannot help: bad input) it is failed at once. A job whose cancel
 * was requested ends cancelled instead. The error is kept in every case.
 * QUEUE_OK (see job->state) or QUEUE_LOST. */
int queue_fail(struct queue *q, struct queue_job *job, const char *error, bool permanent,
	       struct acme_err *err);

/* Give the job back without counting the attempt (a worker shutting down): it
 * goes to the front of its queue. A job whose cancel was requested ends
 * cancelled instead. QUEUE_OK or QUEUE_LOST. */
int queue_release_job(struct queue *q, struct queue_job *job, struct acme_err *err);

/* Give back a job whose run was cut off by the loss of a server it needs (a
 * PostgreSQL restart or failover: not the job's failure), without counting
 * the attempt, at most max_free times per job; past that the attempt counts
 * (queue_fail with why), so a job that itself takes the server down ends
 * dead after its attempts instead of coming back for ever (Sidekiq Pro's
 * poison pill). *counted says which. QUEUE_OK or QUEUE_LOST. */
#define QUEUE_FREE_RELEASES 5
int queue_release_lost(struct queue *q, struct queue_job *job, int max_free, const char *why,
		       bool *counted, struct acme_err *err);

/* Treat up to limit leases of queue that are past their deadline as failed
 * attempts ("lease expired"), retried with backoff or dead like queue_fail.
 * Their tokens stop working at once. Each reaped job's new snapshot is
 * returned in *out (n of them, free with queue_jobs_free; out may be NULL).
 * Returns the number reaped, or -1. */
int queue_reap(struct queue *q, const char *queue, size_t limit, struct queue_job **out,
	       size_t *n, struct acme_err *err);

/* Move up to limit scheduled/retrying jobs of queue whose time has come to
 * ready. Snapshots in *out as for queue_reap. Returns the number, or -1. */
int queue_promote(struct queue *q, const char *queue, size_t limit, struct queue_job **out,
		  size_t *n, struct acme_err *err);

/* Cancel a job: waiting (queued, scheduled, retrying) -> cancelled at once
 * (QUEUE_OK); running -> its cancel flag is set (QUEUE_REQUESTED); already
 * final -> QUEUE_FINAL; unknown -> QUEUE_MISSING. *out gets the snapshot. */
int queue_cancel(struct queue *q, const char *queue, const char *id, struct queue_job *out,
		 struct acme_err *err);

/* Put a failed, dead or cancelled job back in its queue with its attempts
 * reset (`jobs retry`); when Redis lost the job, it is recreated from spec
 * (spec->version: the PostgreSQL row's version, so the new one is newer).
 * QUEUE_OK, or QUEUE_BUSY when the job is waiting, running or succeeded
 * (*out says which). */
int queue_requeue(struct queue *q, const struct queue_spec *spec, long long created_ms,
		  struct queue_job *out, struct acme_err *err);

/* The job as Redis holds it now (read only). QUEUE_OK or QUEUE_MISSING. */
int queue_get(struct queue *q, const char *queue, const char *id, struct queue_job *out,
	      struct acme_err *err);

/* The versions of n jobs (queues[i], ids[i]) in one pipelined round trip:
 * versions[i] = -1 when Redis has no such job. 0 / -1. (The reconciler's
 * check of the jobs table against Redis.) */
int queue_versions(struct queue *q, const char *const *queues, const char *const *ids, size_t n,
		   long long *versions, struct acme_err *err);

/* Add names to the P queues set now, whatever this struct has cached (after
 * Redis lost its data the set must be rebuilt). 0 / -1. */
int queue_register_names(struct queue *q, const char *const *names, size_t n,
			 struct acme_err *err);

/* Pause: dequeue skips the queue (running jobs go on; enqueue still works).
 * Resume wakes waiting workers. QUEUE_OK; *was (may be NULL) = paused before. */
int queue_pause(struct queue *q, const char *queue, bool *was, struct acme_err *err);
int queue_resume(struct queue *q, const char *queue, bool *was, struct acme_err *err);

/* Cancel every waiting job of queue (ready, scheduled, retrying) with the
 * error "purged"; running jobs are untouched. Snapshots in *out (may be NULL).
 * Returns the number purged, or -1. */
int queue_purge(struct queue *q, const char *queue, struct queue_job **out, size_t *n,
		struct acme_err *err);
/* Drop dead/failed jobs that died more than older_than_ms ago from Redis.
 * Returns the number dropped, or -1. */
int queue_purge_dead(struct queue *q, const char *queue, long long older_than_ms,
		     struct acme_err *err);
/* Drop the Redis state of finished jobs (history purged from PostgreSQL).
 * Jobs not yet final are left alone. Returns the number dropped, or -1. */
int queue_forget(struct queue *q, const char *queue, const char *const *ids, size_t n,
		 struct acme_err *err);

struct queue_stats {
	long long now_ms;          /* Redis clock */
	long long ready, scheduled, running, dead;
	bool paused;
	long long oldest_ready_ms; /* enqueued_ms of the next job to run; 0 = none */
	long long next_due_ms;     /* earliest scheduled due time; 0 = none */
	/* counters since the queue was first used */
	long long enqueued, succeeded, retried, failed, dead_total, cancelled, requeued;
};
int queue_stats(struct queue *q, const char *queue, struct queue_stats *st, struct acme_err *err);
/* Non-blocking queue_stats() for a screen (core/call.h): _start sends the
 * stats script on q's connection and returns at once; when the call is done
 * (or to abandon it) _finish fills st as queue_stats() does, or returns -1
 * with err (ACME_E_TEMPFAIL when deadline_ms, <= 0: none, passed; the
 * connection is then failed: connect again). */
int queue_stats_start(struct rdscall *rc, struct queue *q, const char *queue, long deadline_ms,
		      struct acme_err *err);
int queue_stats_finish(struct rdscall *rc, struct queue_stats *st, struct acme_err *err);
/* Every queue name ever used with this prefix, sorted. *names is owned
 * (free each and the array). Returns the count, or -1. */
int queue_names(struct queue *q, char ***names, struct acme_err *err);

/* The pub/sub channel of a job's events: P events:job:<id>. Caller frees. */
char *queue_events_channel(const struct queue *q, const char *id);

#endif
