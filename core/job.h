/* job.h — the PostgreSQL side of jobs: the `jobs` table is the durable
 * history of the queue in Redis (core/queue.h) and the place where a job
 * proves it still holds its lease before it commits.
 *
 * Mirroring: every transition in Redis returns a snapshot of the job with a
 * version that the transition bumped. job_mirror() writes snapshots to their
 * rows and applies one only when it is newer than the row (jobs.version) and
 * the row is not final, so writes that arrive late, twice or batched never
 * move a row backwards, and a row that reached succeeded/failed/dead/cancelled
 * stays there (only job_retry() reopens one, and it writes the row first).
 *
 * The worker's order for one job:
 *
 *   queue_dequeue()                     lease token T, attempt n
 *   job_start(db, job)                  row: running, lease_token T   (before any work)
 *   ... work; queue_heartbeat() while it runs ...
 *   BEGIN
 *   ... the job's own writes ...
 *   job_commit(db, job, succeeded, ...) the fence (SELECT ... FOR UPDATE; refuses if T
 *                                       is not current), the outcome into the row, COMMIT
 *   queue_ack() / queue_fail()          then job_mirror() of the snapshot (a no-op
 *                                       for a row job_commit already finished)
 *
 * Because job_start() writes the new token before the new holder works and
 * job_check_lease() locks the row, a stalled process whose lease was reaped
 * and taken over cannot commit after the new holder started: its token is no
 * longer the row's.
 *
 * Functions return 0 (or a count, or an enum value >= 0) or -1 with err set.
 * Every string in the structs here is owned by the struct.
 */
#ifndef ACME_JOB_H
#define ACME_JOB_H
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "core/audit.h"
#include "core/call.h"
#include "core/err.h"
#include "core/queue.h"

/* "user@host" of this process, for jobs.created_by. Caller frees. */
char *job_created_by(void);

/* Enqueue: insert the row (queued, or scheduled with delay_ms; version 1),
 * then queue_enqueue() with the same id (generated when spec->id is NULL).
 * Idempotent by id: when the row exists, *existed is set and nothing changes,
 * except that a job whose row says it is still waiting but which Redis does
 * not have is queued again. When Redis fails after the row was written, the
 * error says so and the row stays: a worker's reconciler (job_reconcile_batch)
 * or `acmectl jobs retry ID` queues it. out (may
 * be NULL) gets the Redis snapshot, out->id the id. */
int job_enqueue(PGconn *db, struct queue *q, const struct queue_spec *spec,
		const char *created_by, struct queue_job *out, bool *existed, struct acme_err *err);

/* Enqueue n jobs at once: their rows in one INSERT, then the new ones in
 * one pipelined round trip to Redis. ids[i] gets each job's id (generated
 * where specs[i].id is NULL); existed[i] is set for an id whose row was
 * there already, which changes nothing (as job_enqueue; a waiting job Redis
 * lost is the reconciler's). When Redis fails after the rows were written,
 * the error says so: the reconciler queues them. Returns the number of new
 * jobs. */
int job_enqueue_many(PGconn *db, struct queue *q, const struct queue_spec *specs, size_t n,
		     const char *created_by, char (*ids)[QUEUE_ULID_LEN + 1], bool *existed,
		     struct acme_err *err);

/* Write n snapshots to their rows in one statement (see above). Snapshots
 * with known == false are skipped. Returns the number of rows changed. */
int job_mirror(PGconn *db, const struct queue_job *jobs, size_t n, struct acme_err *err);

enum job_start_rc {
	JOB_START_OK,        /* the row is running with this lease token: work */
	JOB_START_FINISHED,  /* the row is final: an earlier attempt committed its
			      * effects and its outcome together (job_commit) and
			      * only the ack was lost; *info says how it ended. Do
			      * not run it again: finish it in Redis as the row says */
	JOB_START_STALE,     /* the row has a newer version and another lease token:
			      * either this lease is already lost (drop the job) or
			      * Redis went back in time (failover to a lagging
			      * replica, an old RDB/AOF) and this token still holds
			      * in Redis; *info has the row's version, so the caller
			      * can ask Redis which (jobtype_execute does) */
	JOB_START_NO_ROW,    /* no row (enqueued to Redis only): run it unfenced */
};
/* What job_start() found in the row when it could not record the start. */
struct job_start_info {
	enum job_state state;
	long long version;
	char *result, *error;    /* owned; NULL when NULL */
};
void job_start_info_release(struct job_start_info *info);
/* Record a freshly dequeued job (its snapshot from queue_dequeue) as running,
 * with its lease token, before any work. Returns enum job_start_rc or -1.
 * info (may be NULL; zero it first) is filled for FINISHED and STALE. */
int job_start(PGconn *db, const struct queue_job *job, struct job_start_info *info,
	      struct acme_err *err);

/* Save job->progress to the row while job->token holds it. Callers throttle
 * this (a few times a second at most); Redis carries the live value. */
int job_save_progress(PGconn *db, const struct queue_job *job, struct acme_err *err);

/* The fence: inside the job's own open transaction, lock the row
 * (SELECT ... FOR UPDATE) and check that token is its lease token and it is
 * running. 0 when it is (the lock holds until COMMIT, so no reaper or new
 * holder can change the row in between); -1 with ACME_E_REFUSED when the
 * lease was lost (the caller must roll back), ACME_E_NOT_FOUND without a row,
 * ACME_E_USAGE outside a transaction. *cancel_requested (may be NULL) says
 * whether someone asked to cancel the job meanwhile. */
int job_check_lease(PGconn *db, const char *id, const char *token, bool *cancel_requested,
		    struct acme_err *err);

/* The one way a job commits its PostgreSQL effects (issue 10, DESIGN 10a).
 * Call it inside the job's own open transaction, after the job's writes: it
 * takes the fence (job_check_lease), writes the outcome into the job's row
 * (state, result or error, finished_at, no lease token) and COMMITs. The
 * effect and the record that it happened therefore commit together, or not
 * at all: an attempt that runs again after a lost ack, or after a reap that
 * raced the commit, finds the row final (job_start: JOB_START_FINISHED) and
 * acks without doing anything twice. Later mirror writes never move a final
 * row (job_mirror), so the row keeps what was committed.
 *
 * state is JOB_SUCCEEDED (result_json: the job's result, may be NULL) or a
 * failure that ends the job (JOB_FAILED, JOB_DEAD, JOB_CANCELLED; error says
 * why; a failure may keep a result too, as an import refused under --strict
 * keeps its counts and header, but a cancelled job keeps none). A cancel requested meanwhile turns a failure into JOB_CANCELLED; with
 * JOB_SUCCEEDED it commits nothing and returns -1 with ACME_E_REFUSED
 * ("cancelled on request"). On any -1 the transaction is still open, or
 * aborted: the caller rolls back. 0 when committed. */
int job_commit(PGconn *db, const struct queue_job *job, enum job_state state,
	       const char *result_json, const char *error, struct acme_err *err);

/* The reconciler: the jobs table against Redis, one batch at a time.
 *
 * PostgreSQL is the durable truth for jobs; Redis carries their live state
 * and can lose it (FLUSHALL, a restart without persistence, a new empty
 * instance, a failover). Each batch reads up to limit rows that are not
 * final and that nobody touched for min_age_ms (so a job being enqueued,
 * whose row is written before Redis, is not raced), in (created_at, id)
 * order from the cursor, and asks Redis for their versions in one round trip:
 *   - Redis has no such job: it is queued again under its own id (queued, or
 *     scheduled until the row's due time for scheduled and retrying rows),
 *     with the row's attempts and a version above the row's, and the row
 *     records that. Enqueue is idempotent by id, so reconcilers on many
 *     workers racing each other queue it once. Counted in requeued.
 *   - a row that Redis has moved on from (newer version: a mirror write was
 *     lost, such as a final state after a child was killed, or a batched
 *     write of core/completer.h that never ran): Redis's snapshot is
 *     written. Counted in recorded.
 * The queue names of requeued jobs are added to the set of known queues.
 * When a batch is shorter than limit the pass is over: rec->pass_done is set
 * and the cursor starts again. 0 / -1. */
struct job_reconcile {
	char at[64];                     /* cursor: created_at of the last row ("" = start) */
	char id[256];                    /* and its id (jobs.id allows 200) */
	bool pass_done;                  /* the last batch ended a pass */
	long long requeued, recorded;    /* added up by each batch; the caller resets them */
	char example[QUEUE_ID_MAX + 1];  /* one requeued job id */
};
int job_reconcile_batch(PGconn *db, struct queue *q, long long min_age_ms, int limit,
			struct job_reconcile *rec, struct acme_err *err);

/* A job id from a unique prefix of one, as git takes short hashes. *out (the
 * caller frees it) is the full id when prefix is a job's id or the start of
 * exactly one job's id, NULL when no id starts with it (the caller goes on
 * with what was typed, and says "not found" its own way). -1 with
 * ACME_E_USAGE naming the candidates (newest first, at most 10) when several
 * ids start with it. */
int job_resolve_id(PGconn *db, const char *prefix, char **out, struct acme_err *err);

/* For completion: up to limit ids of the most recent jobs starting with
 * prefix, newest first, each passed to fn. Returns the count, or -1. */
int job_recent_ids(PGconn *db, const char *prefix, int limit,
		   void (*fn)(void *arg, const char *id), void *arg, struct acme_err *err);

/* Forget in Redis the jobs a DELETE ... RETURNING queue, id removed (res),
 * one queue at a time. 0 / -1 with err set. */
int job_forget_rows(struct queue *q, const PGresult *res, struct acme_err *err);

/* How many jobs job_purge() would delete now (the same arguments), for its
 * confirmation and --dry-run. 0 / -1. */
int job_purge_count(PGconn *db, long long older_than_ms, const char *state, long long *n,
		    struct acme_err *err);

/* A row of jobs. Times are ISO 8601 UTC text ("" when NULL). */
struct job_row {
	char *id, *type, *queue, *payload;
	enum job_state state;
	int attempts, max_attempts;
	char *progress, *result, *error, *created_by;   /* NULL when NULL */
	char *created_at, *scheduled_at, *started_at, *finished_at, *updated_at;
	bool cancel_requested;
	long long version;
	long long created_ms;
};
void job_row_release(struct job_row *row);
void job_rows_free(struct job_row *rows, size_t n);

/* One row; -1 with ACME_E_NOT_FOUND when there is none. */
int job_get(PGconn *db, const char *id, struct job_row *row, struct acme_err *err);

struct job_filter {
	const char *state, *type, *queue;   /* NULL = any */
	long limit;
	const char *after;   /* a next_cursor of an earlier page; NULL = from the newest */
};
/* Newest first. *rows owned (job_rows_free). Returns the count or -1
 * (ACME_E_USAGE for a malformed f->after). */
int job_list(PGconn *db, const struct job_filter *f, struct job_row **rows, struct acme_err *err);
/* The same, by keyset on (created_at, id): *next_cursor (owned, may be NULL
 * for "no more rows") is what f->after takes to read the page after this
 * one; concurrent inserts never shift rows between pages. */
int job_list_page(PGconn *db, const struct job_filter *f, struct job_row **rows,
		  char **next_cursor, struct acme_err *err);
/* Non-blocking job_list_page() for a screen (core/call.h): _start sends the
 * statement and returns at once; when the call is done (or to abandon it),
 * _finish with the same f gives what job_list_page() gives, or -1 with err
 * (ACME_E_TEMPFAIL when deadline_ms, <= 0: none, passed). f's strings are
 * copied by _start. */
int job_list_start(struct pgcall *call, PGconn *db, const struct job_filter *f, long deadline_ms,
		   struct acme_err *err);
int job_list_finish(struct pgcall *call, const struct job_filter *f, struct job_row **rows,
		    char **next_cursor, struct acme_err *err);

/* The verbs below change jobs on someone's behalf: with who (may be NULL:
 * no row) each writes one audit_log row (core/audit.h) when it changed
 * something. Redis holds the state they change, so the row is written after
 * the change; where the change is a PostgreSQL row (a retry reopening it, a
 * cancel of a job Redis lost) the audit row commits with it. */

/* `jobs cancel`: cancel in Redis (queue_cancel) and mirror. When Redis has
 * lost the job, the row alone is marked cancelled. Returns QUEUE_OK
 * (cancelled), QUEUE_REQUESTED (running: it stops at its next heartbeat) or
 * QUEUE_FINAL (already finished; *out / the row say how; no audit row), or
 * -1 (ACME_E_NOT_FOUND without a row). out may be NULL. */
int job_cancel(PGconn *db, struct queue *q, const char *id, const struct audit_actor *who,
	       struct queue_job *out, struct acme_err *err);

/* `jobs retry`: put a failed, dead or cancelled job back in its queue with
 * fresh attempts, or re-create a job Redis has lost from its row. The row is
 * reopened first (with the audit row), then Redis. -1 with ACME_E_REFUSED
 * when it succeeded or is alive in Redis, ACME_E_NOT_FOUND without a row.
 * out may be NULL. */
int job_retry(PGconn *db, struct queue *q, const char *id, const struct audit_actor *who,
	      struct queue_job *out, struct acme_err *err);

/* `jobs purge`: delete the rows of final jobs (state, or every final state
 * when NULL) that finished more than older_than_ms ago, in batches, and their
 * Redis state. Returns the number of rows deleted through *n; 0 / -1. The
 * audit row counts them (also after a failure that left some deleted). */
int job_purge(PGconn *db, struct queue *q, long long older_than_ms, const char *state,
	      const struct audit_actor *who, long long *n, struct acme_err *err);

/* `jobs purge --queue`: cancel every waiting job of a queue (queue_purge)
 * and mirror them; *n = how many. 0 / -1. */
int job_purge_queue(PGconn *db, struct queue *q, const char *queue,
		    const struct audit_actor *who, size_t *n, struct acme_err *err);

/* A job's Redis snapshot as the JSON object `jobs get -o json` prints (times
 * in RFC 3339 UTC, payload/progress/result as JSON); the lease token only
 * when with_token (it is the holder's capability). Caller owns it. */
json_t *job_snapshot_json(const struct queue_job *j, bool with_token);

#endif
