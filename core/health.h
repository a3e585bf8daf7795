/* health.h — the readiness probes behind `acmectl health`: PostgreSQL answers
 * SELECT 1, the schema is at the binary's head, Redis answers exactly PONG,
 * a worker is alive. Each probe has its own deadline, never prints, and
 * fills a struct health_check that says whether a failure is transient
 * (refused, starting up, LOADING, migrations pending, no worker yet: waiting
 * may fix it) or permanent (bad password, missing database, NOAUTH).
 */
#ifndef ACME_HEALTH_H
#define ACME_HEALTH_H
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "core/config.h"
#include "core/err.h"

enum health_status { HEALTH_PASS, HEALTH_FAIL, HEALTH_SKIP };

struct health_check {
	const char *name;          /* "postgresql", "schema", "redis", "worker", "config" */
	enum health_status status;
	bool transient;            /* for a failure: waiting may fix it */
	long long duration_ms;
	char detail[ACME_ERR_MSG_MAX];  /* why it failed or was skipped; a note when it passed */
	/* schema */
	int current, head;
	long pending;
	/* worker */
	long workers;
};

const char *health_status_name(enum health_status s);  /* "pass", "fail", "skip" */

/* Connect to url and run SELECT 1, all within timeout_ms. On success *db
 * (may be NULL) gets the open connection (PQfinish it). 0 pass / -1 fail. */
int health_postgres(const char *url, long long timeout_ms, struct health_check *hc, PGconn **db);
/* The schema against this binary's migrations: pending versions are a
 * transient failure (a migration job may still be running); a failed
 * no-transaction migration is permanent; versions this binary does not know
 * pass with a note (a newer release migrated first, as in a rolling deploy). */
int health_schema(PGconn *db, const struct config *cfg, struct health_check *hc);
/* Connect, authenticate and PING within timeout_ms; the answer must be
 * exactly PONG. On success *c (may be NULL) gets the connection. */
int health_redis(const char *url, long long timeout_ms, struct health_check *hc,
		 redisContext **c);
/* At least one key <prefix>worker:* with a TTL (found by SCAN). */
int health_worker(redisContext *c, const char *prefix, struct health_check *hc);

/* Mark hc skipped because of `why`. */
void health_skip(struct health_check *hc, const char *why);

#endif
