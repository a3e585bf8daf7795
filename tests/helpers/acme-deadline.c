/* acme-deadline.c — test helper for calls with a deadline (core/call.h).
 *
 *   acme-deadline pg-connect MS      connect to $DATABASE_URL within MS
 *   acme-deadline pg-query MS        SELECT 1 with db_exec_deadline()
 *   acme-deadline pg-call MS         SELECT 1 as a pgcall driven by poll()
 *   acme-deadline redis-command MS   PING with rds_command_deadline()
 *   acme-deadline redis-call MS      PING as an rdscall driven by poll()
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
#include "core/rds.h"

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

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: acme-deadline pg-connect|pg-query|pg-call|redis-command|"
			"redis-call MS\n");
		return 2;
	}
	long ms = strtol(argv[2], NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strncmp(argv[1], "pg-", 3) == 0)
		return pg(argv[1], ms);
	if (strncmp(argv[1], "redis-", 6) == 0)
		return redis(argv[1], ms);
	fprintf(stderr, "acme-deadline: unknown mode %s\n", argv[1]);
	return 2;
}
