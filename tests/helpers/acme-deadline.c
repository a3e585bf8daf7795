/* acme-deadline.c — test helper for calls with a deadline (core/call.h).
 *
 *   acme-deadline pg-connect MS      connect to $DATABASE_URL within MS
 *   acme-deadline pg-query MS        SELECT 1 with db_exec_deadline()
 *   acme-deadline pg-call MS         SELECT 1 as a pgcall driven by poll()
 *   acme-deadline redis-command MS   PING with rds_command_deadline()
 *   acme-deadline redis-call MS      PING as an rdscall driven by poll()
 *   acme-deadline screen MS          what a screen refreshes, all at once
 *
 * screen starts the non-blocking forms (worker list, products page and count, jobs page,
 * webhooks and deliveries, queue stats of "default") on their own
 * connections, drives them from one poll() loop, and prints one line each
 * with what the blocking function gives for comparison:
 * "NAME async=X blocking=Y".
 *
 * Every mode but pg-connect first connects (without a deadline) and prints
 * "ready PID" (the PostgreSQL backend's pid; 0 for Redis), then waits for a
 * line on stdin, so the test can stop the server in between. It then makes
 * the call and prints one line:
 *
 *   elapsed=MS code=CODE msg=TEXT
 *
 * (CODE is OK or the acme_err code name), then waits for a second line and
 * shows that the client recovers once the server runs again: PostgreSQL on
 * the same connection, Redis on a new one (a timed-out context is failed by
 * design), printing "then=42" / "then=PONG" or "then-error=TEXT".
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/call.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/job.h"
#include "core/products.h"
#include "core/queue.h"
#include "core/rds.h"
#include "core/webhook.h"
#include "core/workers.h"

static void wait_line(void)
{
	char line[64];
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		exit(3);
}

static void report(long long t0, int rc, const struct acme_err *err)
{
	printf("elapsed=%lld code=%s msg=%s\n", clock_mono_ms() - t0,
	       rc == 0 ? "OK" : acme_code_name(err->code), rc == 0 ? "" : err->msg);
}

static PGresult *pg_call(PGconn *db, long ms, struct acme_err *err)
{
	struct pgcall call;
	if (pgcall_start(&call, db, "SELECT 1", 0, NULL, ms, err) < 0)
		return NULL;
	while (pgcall_step(&call) == 0) {
		struct pollfd pfd = { pgcall_fd(&call), pgcall_events(&call), 0 };
		poll(&pfd, 1, pgcall_wait_ms(&call));
	}
	return pgcall_finish(&call, err);
}

static int pg(const char *mode, long ms)
{
	struct acme_err err = { 0 };
	const char *url = getenv("DATABASE_URL");
	if (!url)
		return 2;
	if (strcmp(mode, "pg-connect") == 0) {
		long long t0 = clock_mono_ms();
		PGconn *db = db_connect_deadline(url, "acme-deadline", ms, &err);
		report(t0, db ? 0 : -1, &err);
		if (db)
			PQfinish(db);
		return 0;
	}
	PGconn *db = db_connect_url(url, 10, "acme-deadline", &err);
	if (!db) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	printf("ready %d\n", PQbackendPID(db));
	wait_line();
	long long t0 = clock_mono_ms();
	PGresult *res = strcmp(mode, "pg-call") == 0 ? pg_call(db, ms, &err)
		: db_exec_deadline(db, &err, "SELECT 1", 0, NULL, ms, NULL, NULL);
	report(t0, res ? 0 : -1, &err);
	PQclear(res);
	wait_line();
	res = db_exec_deadline(db, &err, "SELECT 41 + 1", 0, NULL, 10000, NULL, NULL);
	if (res)
		printf("then=%s\n", PQgetvalue(res, 0, 0));
	else
		printf("then-error=%s\n", err.msg);
	PQclear(res);
	PQfinish(db);
	return 0;
}

static redisReply *redis_call(redisContext *c, long ms, struct acme_err *err)
{
	struct rdscall call;
	const char *argv[] = { "PING" };
	if (rdscall_start(&call, c, 1, argv, NULL, ms, err) < 0)
		return NULL;
	while (rdscall_step(&call) == 0) {
		struct pollfd pfd = { rdscall_fd(&call), rdscall_events(&call), 0 };
		poll(&pfd, 1, rdscall_wait_ms(&call));
	}
	return rdscall_finish(&call, err);
}

static int redis(const char *mode, long ms)
{
	struct acme_err err = { 0 };
	const char *url = getenv("REDIS_URL");
	if (!url)
		return 2;
	redisContext *c = rds_connect_url(url, 5, 10000, &err);
	if (!c) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	printf("ready 0\n");
	wait_line();
	long long t0 = clock_mono_ms();
	const char *argv[] = { "PING" };
	redisReply *r = strcmp(mode, "redis-call") == 0 ? redis_call(c, ms, &err)
		: rds_command_deadline(c, &err, ms, 1, argv, NULL);
	report(t0, r ? 0 : -1, &err);
	if (r)
		freeReplyObject(r);
	wait_line();
	if (c->err) {
		redisFree(c);
		c = rds_connect_url(url, 5, 10000, &err);
	}
	r = c ? rds_command(c, &err, 1, argv, NULL) : NULL;
	if (r)
		printf("then=%s\n", r->str ? r->str : "?");
	else
		printf("then-error=%s\n", err.msg);
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return 0;
}

static int count_row(void *arg, const struct products_row *row, struct acme_err *err)
{
	(void)row;
	(void)err;
	(*(long *)arg)++;
	return 0;
}

enum { S_PAGE, S_COUNT, S_JOBS, S_HOOKS, S_DELIV, S_PG };

static int screen(long ms)
{
	struct acme_err err = { 0 };
	const char *url = getenv("DATABASE_URL"), *rurl = getenv("REDIS_URL");
	const char *prefix = getenv("ACME_REDIS_PREFIX");
	PGconn *db[S_PG];
	struct pgcall call[S_PG];
	bool done[S_PG + 1] = { false };
	struct products_list_opts po = { .filter = PRODUCTS_FILTER_INIT, .limit = 5 };
	struct products_filter pf = PRODUCTS_FILTER_INIT;
	struct job_filter jf = { .limit = 5 };
	struct webhook_delivery_filter wf = { .limit = 5 };
	struct queue q;
	struct rdscall rc;
	struct workers_call wc;

	if (!url || !rurl)
		return 2;
	for (int i = 0; i < S_PG; i++)
		if (!(db[i] = db_connect_url(url, 10, "acme-deadline", &err))) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
	redisContext *c = rds_connect_url(rurl, 5, 10000, &err);
	redisContext *c2 = c ? rds_connect_url(rurl, 5, 10000, &err) : NULL;
	if (!c || !c2 || queue_init(&q, c, prefix ? prefix : "", &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	if (products_list_start(&call[S_PAGE], db[S_PAGE], &po, ms, &err) < 0 ||
	    products_count_start(&call[S_COUNT], db[S_COUNT], &pf, ms, &err) < 0 ||
	    job_list_start(&call[S_JOBS], db[S_JOBS], &jf, ms, &err) < 0 ||
	    webhook_list_start(&call[S_HOOKS], db[S_HOOKS], ms, &err) < 0 ||
	    webhook_deliveries_start(&call[S_DELIV], db[S_DELIV], &wf, ms, &err) < 0 ||
	    queue_stats_start(&rc, &q, "default", ms, &err) < 0 ||
	    workers_list_start(&wc, c2, prefix ? prefix : "", ms, &err) < 0) {
		fprintf(stderr, "start: %s\n", err.msg);
		return 1;
	}
	int left = S_PG + 2;
	bool wdone = false;
	while (left > 0) {
		struct pollfd pfd[S_PG + 2];
		int wait = -1;
		for (int i = 0; i < S_PG; i++) {
			pfd[i].fd = done[i] ? -1 : pgcall_fd(&call[i]);
			pfd[i].events = done[i] ? 0 : pgcall_events(&call[i]);
			int w = done[i] ? -1 : pgcall_wait_ms(&call[i]);
			if (w >= 0 && (wait < 0 || w < wait))
				wait = w;
		}
		pfd[S_PG].fd = done[S_PG] ? -1 : rdscall_fd(&rc);
		pfd[S_PG].events = done[S_PG] ? 0 : rdscall_events(&rc);
		pfd[S_PG + 1].fd = wdone ? -1 : workers_call_fd(&wc);
		pfd[S_PG + 1].events = wdone ? 0 : workers_call_events(&wc);
		poll(pfd, S_PG + 2, wait);
		for (int i = 0; i < S_PG; i++)
			if (!done[i] && pgcall_step(&call[i]) != 0)
				done[i] = true, left--;
		if (!done[S_PG] && rdscall_step(&rc) != 0)
			done[S_PG] = true, left--;
		if (!wdone && workers_call_step(&wc) != 0)
			wdone = true, left--;
	}

	long rows = 0, brows = 0;
	struct products_page pg, bpg;
	int rc1 = products_list_finish(&call[S_PAGE], &po, count_row, &rows, &pg, &err);
	int rc2 = products_list(db[S_PAGE], &po, count_row, &brows, &bpg, &err);
	printf("products-page async=%d:%ld:%s blocking=%d:%ld:%s\n", rc1, rows,
	       pg.next_cursor ? pg.next_cursor : "-", rc2, brows, bpg.next_cursor ? bpg.next_cursor : "-");
	products_page_release(&pg);
	products_page_release(&bpg);

	long long n = -1, bn = -1;
	products_count_finish(&call[S_COUNT], &n, &err);
	products_count(db[S_COUNT], &pf, &bn, &err);
	printf("products-count async=%lld blocking=%lld\n", n, bn);

	struct job_row *jr = NULL, *bjr = NULL;
	char *cur = NULL, *bcur = NULL;
	int jn = job_list_finish(&call[S_JOBS], &jf, &jr, &cur, &err);
	int bjn = job_list_page(db[S_JOBS], &jf, &bjr, &bcur, &err);
	printf("jobs-page async=%d:%s:%s blocking=%d:%s:%s\n", jn, jn > 0 ? jr[0].id : "-",
	       cur ? cur : "-", bjn, bjn > 0 ? bjr[0].id : "-", bcur ? bcur : "-");
	job_rows_free(jr, jn > 0 ? (size_t)jn : 0);
	job_rows_free(bjr, bjn > 0 ? (size_t)bjn : 0);
	free(cur);
	free(bcur);

	struct webhook *w = NULL, *bw = NULL;
	int wn = webhook_list_finish(&call[S_HOOKS], &w, &err);
	int bwn = webhook_list(db[S_HOOKS], &bw, &err);
	printf("webhooks async=%d:%s blocking=%d:%s\n", wn, wn > 0 ? w[0].url : "-", bwn,
	       bwn > 0 ? bw[0].url : "-");
	webhooks_free(w, wn > 0 ? (size_t)wn : 0);
	webhooks_free(bw, bwn > 0 ? (size_t)bwn : 0);

	struct webhook_delivery *d = NULL, *bd = NULL;
	long long next = 0, bnext = 0;
	int dn = webhook_deliveries_finish(&call[S_DELIV], &wf, &d, &next, &err);
	int bdn = webhook_deliveries(db[S_DELIV], &wf, &bd, &bnext, &err);
	printf("deliveries async=%d:%lld blocking=%d:%lld\n", dn, next, bdn, bnext);
	webhook_deliveries_free(d, dn > 0 ? (size_t)dn : 0);
	webhook_deliveries_free(bd, bdn > 0 ? (size_t)bdn : 0);

	struct queue_stats st, bst;
	int s1 = queue_stats_finish(&rc, &st, &err);
	int s2 = queue_stats(&q, "default", &bst, &err);
	printf("stats async=%d:%lld:%lld:%lld blocking=%d:%lld:%lld:%lld\n", s1, st.ready,
	       st.enqueued, st.succeeded, s2, bst.ready, bst.enqueued, bst.succeeded);

	struct worker_list wl, bwl;
	int w1 = workers_list_finish(&wc, &wl, &err);
	int w2 = workers_list(c2, prefix ? prefix : "", &bwl, &err);
	printf("workers async=%d:%zu:%zu:%s blocking=%d:%zu:%zu:%s\n", w1, wl.n, wl.stale,
	       wl.n ? json_string_value(json_object_get(wl.v[0].rec, "host")) : "-", w2, bwl.n,
	       bwl.stale, bwl.n ? json_string_value(json_object_get(bwl.v[0].rec, "host")) : "-");
	workers_list_release(&wl);
	workers_list_release(&bwl);

	queue_release(&q);
	redisFree(c);
	redisFree(c2);
	for (int i = 0; i < S_PG; i++)
		PQfinish(db[i]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: acme-deadline pg-connect|pg-query|pg-call|redis-command|"
			"redis-call|screen MS\n");
		return 2;
	}
	long ms = strtol(argv[2], NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "screen") == 0)
		return screen(ms);
	if (strncmp(argv[1], "pg-", 3) == 0)
		return pg(argv[1], ms);
	if (strncmp(argv[1], "redis-", 6) == 0)
		return redis(argv[1], ms);
	fprintf(stderr, "acme-deadline: unknown mode %s\n", argv[1]);
	return 2;
}
