/* wait.h — what the commands that wait for a worker share (issue 11, point
 * 4: waits must end): `import --wait`, `jobs watch` and `webhooks test
 * --wait` take --timeout DUR and then exit 75 saying the job stays where it
 * is; and when the job has waited WAIT_HINT_MS for a worker, one line on
 * stderr says why none takes it, decided from the worker heartbeat records
 * (core/jobwait.h): no live worker serves the queue (and how to start one),
 * or the queue is paused.
 *
 * The grace before that line is 5 s; tests shorten it with the environment
 * variable ACME_WAIT_HINT_AFTER (a duration such as 100ms, 0 for at once),
 * which is deliberately not documented for users.
 *
 * Use: wait_watch_init() when the wait starts; wait_watch_tick() whenever the
 * job's state is known (it checks the heartbeats at most every 2 s, and only
 * after the grace, while the job waits); wait_watch_expired() before each
 * wait, and wait_watch_cap() to bound the wait by the deadline.
 */
#ifndef ACME_CMD_WAIT_H
#define ACME_CMD_WAIT_H
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "cmd/cmd.h"
#include "core/jobwait.h"

#define WAIT_HINT_MS 5000

struct wait_watch {
	struct ctx *ctx;
	const char *queue;        /* borrowed */
	long long start;          /* monotonic ms */
	long long timeout_ms;     /* 0 = wait for ever */
	long long grace_ms;
	long long next_check;
	bool checked;             /* serving holds a check's answer */
	bool said;                /* the hint line was printed */
	struct jobwait_serving serving;
	char hint[256];           /* why no worker takes the job; "" when none known */
};

void wait_watch_init(struct wait_watch *w, struct ctx *ctx, const char *queue,
		     long long timeout_ms);
/* The job waits for a worker (waiting) or not. Returns true when a hint
 * line is new: it is in w->hint and already printed on stderr (unless
 * --quiet); a caller with a status line may show it there too. */
bool wait_watch_tick(struct wait_watch *w, bool waiting);
/* --timeout has passed. */
bool wait_watch_expired(const struct wait_watch *w);
/* ms, or less when the deadline is closer. */
int wait_watch_cap(const struct wait_watch *w, int ms);
/* At the deadline: "within 2s", and (for a job still waiting) the hint,
 * checked once more, as " (no live worker serves queue import; ...)" or "".
 * Both point into w. */
const char *wait_watch_within(struct wait_watch *w, char *buf, size_t len);
const char *wait_watch_why(struct wait_watch *w, bool waiting, char *buf, size_t len);

/* Print one live event as an NDJSON line: its "ts" (ms since the epoch, as
 * Redis publishes it) becomes RFC 3339 UTC text like every time acmectl
 * prints. ev is not consumed. */
void wait_print_event(FILE *f, json_t *ev);

#endif
