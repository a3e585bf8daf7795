/* health.c — readiness probes for `acmectl health`; see health.h.
 *
 * Every probe must end by its deadline whatever the server does: the
 * connection and the query are calls with a deadline (core/call.h; the
 * query is cancelled at the deadline), and Redis connects and commands run
 * with a timeout in milliseconds. Errors keep the transient flag
 * core/db.c and core/rds.c set, which is what `--wait` retries on.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/call.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/health.h"
#include "core/workers.h"
#include "core/migrate.h"
#include "core/rds.h"
#include "core/strbuf.h"
#include "core/xalloc.h"


const char *health_status_name(enum health_status s)
{
	static const char *const names[] = { "pass", "fail", "skip" };
	return names[s];
}

static void init(struct health_check *hc, const char *name)
{
	memset(hc, 0, sizeof(*hc));
	hc->name = name;
	hc->status = HEALTH_FAIL;
}

static int fail(struct health_check *hc, bool transient, long long t0, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct health_check *hc, bool transient, long long t0, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hc->detail, sizeof(hc->detail), fmt, ap);
	va_end(ap);
	hc->status = HEALTH_FAIL;
	hc->transient = transient;
	hc->duration_ms = clock_mono_ms() - t0;
	return -1;
}

static int pass(struct health_check *hc, long long t0)
{
	hc->status = HEALTH_PASS;
	hc->transient = false;
	hc->duration_ms = clock_mono_ms() - t0;
	return 0;
}

void health_skip(struct health_check *hc, const char *why)
{
	hc->status = HEALTH_SKIP;
	hc->transient = false;
	snprintf(hc->detail, sizeof(hc->detail), "%s", why);
}

/* ---- PostgreSQL ------------------------------------------------------------------ */

int health_postgres(const char *url, long long timeout_ms, struct health_check *hc, PGconn **out)
{
	struct acme_err err = { 0 };
	long long t0 = clock_mono_ms(), deadline = t0 + timeout_ms;
	PGconn *db = NULL;
	PGresult *r = NULL;

	init(hc, "postgresql");
	if (out)
		*out = NULL;
	if (!url)
		return fail(hc, false, t0, "DATABASE_URL is not set");
	db = db_connect_deadline(url, "acmectl health", (long)(timeout_ms > 0 ? timeout_ms : 1), &err);
	if (!db)
		return fail(hc, err.transient, t0, "%s", err.msg);
	long long left = deadline - clock_mono_ms();
	struct pgcall_opts o = { .deadline_ms = left > 0 ? (long)left : 1, .raw = true };
	r = pgcall_run(db, "SELECT 1", 0, NULL, &o, &err);
	if (!r) {
		if (err.code == ACME_E_TEMPFAIL)
			fail(hc, true, t0, "postgresql connected but did not answer SELECT 1 within %lld ms",
			     timeout_ms);
		else
			fail(hc, true, t0, "%.*s", (int)strcspn(err.msg, "\n"), err.msg);
		goto out;
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		fail(hc, true, t0, "postgresql: SELECT 1 failed: %s (SQLSTATE %s)",
		     m ? m : "no message", db_sqlstate(r));
		goto out;
	}
	pass(hc, t0);
	if (out) {
		*out = db;
		db = NULL;
	}
out:
	PQclear(r);
	if (db)
		PQfinish(db);
	return hc->status == HEALTH_PASS ? 0 : -1;
}

int health_schema(PGconn *db, const struct config *cfg, struct health_check *hc)
{
	struct acme_err err = { 0 };
	struct migrate_schema st;
	long long t0 = clock_mono_ms();

	init(hc, "schema");
	if (migrate_schema_state(db, cfg, &st, &err) < 0)
		return fail(hc, err.transient, t0, "%s", err.msg);
	hc->current = st.current;
	hc->head = st.head;
	hc->pending = (long)st.pending;
	if (st.failed)
		return fail(hc, false, t0, "a migration failed outside a transaction and needs repair; "
			    "see 'acmectl migrate status'");
	if (st.pending)
		return fail(hc, true, t0, "schema at %04d, this binary needs %04d: %zu migration%s "
			    "pending; run 'acmectl migrate up'", st.current, st.head, st.pending,
			    st.pending == 1 ? "" : "s");
	if (st.unknown)
		snprintf(hc->detail, sizeof(hc->detail), "at %04d, ahead of this binary (%zu newer "
			 "migration%s); expected during a rolling deploy", st.current, st.unknown,
			 st.unknown == 1 ? "" : "s");
	else if (st.drifted)
		snprintf(hc->detail, sizeof(hc->detail), "at %04d, but %zu applied migration%s differ "
			 "from this binary; see 'acmectl migrate verify'", st.current, st.drifted,
			 st.drifted == 1 ? "" : "s");
	else
		snprintf(hc->detail, sizeof(hc->detail), "at %04d (head)", st.current);
	return pass(hc, t0);
}

/* ---- Redis ------------------------------------------------------------------------- */

int health_redis(const char *url, long long timeout_ms, struct health_check *hc, redisContext **out)
{
	struct acme_err err = { 0 };
	long long t0 = clock_mono_ms();
	redisContext *c;

	init(hc, "redis");
	if (out)
		*out = NULL;
	if (!url)
		return fail(hc, false, t0, "REDIS_URL is not set");
	c = rds_connect_url_ms(url, (long)(timeout_ms < 1 ? 1 : timeout_ms),
			       (int)(timeout_ms < 1 ? 1 : timeout_ms), &err);
	if (!c)
		return fail(hc, err.transient && err.code != ACME_E_CONFIG, t0, "%s", err.msg);
	if (rds_ping(c, &err) < 0) {
		redisFree(c);
		if (strstr(err.msg, "LOADING"))
			return fail(hc, true, t0, "%s; redis is loading its dataset, retry shortly",
				    err.msg);
		if (strstr(err.msg, "NOAUTH") || strstr(err.msg, "WRONGPASS"))
			return fail(hc, false, t0, "%s; check the password in REDIS_URL", err.msg);
		return fail(hc, err.transient, t0, "%s", err.msg);
	}
	pass(hc, t0);
	if (out)
		*out = c;
	else
		redisFree(c);
	return 0;
}

int health_worker(redisContext *c, const char *prefix, struct health_check *hc)
{
	struct acme_err err = { 0 };
	struct worker_list wl;
	long long t0 = clock_mono_ms();

	init(hc, "worker");
	if (workers_list(c, prefix, &wl, &err) < 0)
		return fail(hc, err.transient, t0, "%s", err.msg);
	long alive = (long)wl.n;
	size_t stale = wl.stale;
	workers_list_release(&wl);
	hc->workers = alive;
	if (!alive) {
		char *pattern = workers_pattern(prefix);
		int rc = fail(hc, true, t0, "no live worker: no key %s with a TTL%s; start one with "
			      "'acmectl worker'", pattern, stale ? " (only keys without a TTL)" : "");
		free(pattern);
		return rc;
	}
	snprintf(hc->detail, sizeof(hc->detail), "%ld live worker%s", alive, alive == 1 ? "" : "s");
	return pass(hc, t0);
}
