/* completer.h — the jobs table's batched writer (issue 15): a thread with
 * its own PostgreSQL connection that records job snapshots (the states
 * Redis's transitions produced) with job_mirror(), many per statement, off
 * the worker's critical path. Redis stays the source of live state; the
 * row follows within one batch write (group-commit style: while a batch is
 * written the next one gathers, so a busy worker writes big batches and an
 * idle one writes each snapshot at once). Snapshots carry their version, so
 * order does not matter and a snapshot older than the row changes nothing.
 *
 * Bounded: at most COMPLETER_MAX snapshots wait; completer_add() then waits
 * for room (back-pressure), unless PostgreSQL is down, when the oldest are
 * dropped with a warning and the reconciler repairs their rows from Redis
 * (as for any snapshot lost to a crash).
 *
 * Thread-safe between one producer and the writer thread. Never prints
 * except through core/log.h warnings. */
#ifndef ACME_COMPLETER_H
#define ACME_COMPLETER_H
#include <stddef.h>

#include "core/config.h"
#include "core/queue.h"

#define COMPLETER_MAX   20000   /* snapshots that may wait */
#define COMPLETER_BATCH 1000    /* snapshots per statement at most */
/* A batch smaller than COMPLETER_LINGER_MIN waits up to COMPLETER_LINGER_MS
 * for more (not when flushed, stopping, or PostgreSQL is away), and the
 * snapshots added meanwhile do not wake the writer until the batch is full:
 * with two children at full speed, statements of 4 rows cost PostgreSQL more
 * CPU than the jobs themselves, and a wake-up per job cost the worker a
 * context switch (issue 15: 6,300 jobs/s with neither, 10,000 with both).
 * The row follows Redis by up to this linger plus one statement. */
#define COMPLETER_LINGER_MIN 1000
#define COMPLETER_LINGER_MS  10

struct completer;

/* Start the writer (it connects on its first batch). NULL with err set when
 * the thread cannot be made. */
struct completer *completer_start(const struct config *cfg, struct acme_err *err);
/* Record job's snapshot (copied: job stays the caller's). */
void completer_add(struct completer *c, const struct queue_job *job);
/* Wait until everything added so far is written, at most until
 * deadline_ms (clock_mono_ms); the number still unwritten. */
size_t completer_flush(struct completer *c, long long deadline_ms);
/* Flush until deadline_ms, stop the thread, free c; the number of snapshots
 * left unwritten (logged). NULL is allowed. */
size_t completer_stop(struct completer *c, long long deadline_ms);

#endif
