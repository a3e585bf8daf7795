/* acme-db-budget.c — test helper (built by make helpers) for db_exec_budget() (core/db.c): connect to
 * DATABASE_URL, run argv[1] with a budget of argv[2] ms, then print one line:
 * "timeout", "rows N" or "error MESSAGE", followed by the session's
 * statement_timeout and whether the connection still answers, so a test can
 * check that a budget never leaves the session changed or broken. */
#include <stdio.h>
#include <stdlib.h>

#include "core/db.h"

int main(int argc, char **argv)
{
	struct acme_err err = { 0 };
	if (argc != 3 || !getenv("DATABASE_URL"))
		return 2;
	PGconn *db = db_connect_url(getenv("DATABASE_URL"), 10, "db-budget", &err);
	if (!db) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	bool timed_out;
	PGresult *res = db_exec_budget(db, &err, argv[1], 0, NULL, atoi(argv[2]), &timed_out);
	if (timed_out)
		printf("timeout");
	else if (res)
		printf("rows %d", PQntuples(res));
	else
		printf("error %s", err.msg);
	PQclear(res);
	res = db_exec(db, &err, "SHOW statement_timeout", 0, NULL);
	printf(" statement_timeout=%s", res ? PQgetvalue(res, 0, 0) : "?");
	PQclear(res);
	res = db_exec(db, &err, "SELECT 41 + 1", 0, NULL);
	printf(" then=%s\n", res ? PQgetvalue(res, 0, 0) : err.msg);
	PQclear(res);
	PQfinish(db);
	return 0;
}
