/* db.h — PostgreSQL connections and small query helpers.
 *
 * Every SQL statement with a value from outside goes through db_exec() with
 * parameters; nothing is ever concatenated into SQL text.
 */
#ifndef ACME_DB_H
#define ACME_DB_H
#include <libpq-fe.h>
#include <stdbool.h>
#include "core/config.h"
#include "core/err.h"

/* Connect with the configured URL and connect_timeout. On failure the error
 * (ACME_E_UNAVAILABLE) names the host or socket, says what to check, and is
 * marked transient when retrying may help (refused, starting up); a bad
 * password or a missing database is not transient. Returns an owned
 * connection (PQfinish it) or NULL. */
PGconn *db_connect(const struct config *cfg, struct acme_err *err);
/* Same, for an explicit URL (never printed unredacted). */
PGconn *db_connect_url(const char *url, int timeout_s, const char *app, struct acme_err *err);

/* Fill err from a failed connection's message (the text db_connect_url()
 * gives: where, libpq's first line, what to check; transient when retrying
 * may help). Returns -1. */
int db_connect_error(PGconn *conn, struct acme_err *err);

/* Run sql with nparams text parameters. Returns an owned PGresult (PQclear
 * it) whose status is COMMAND_OK or TUPLES_OK, or NULL with err set to
 * ACME_E_FAILURE holding the server's message (and SQLSTATE), or
 * ACME_E_UNAVAILABLE when the connection was lost. */
PGresult *db_exec(PGconn *db, struct acme_err *err, const char *sql, int nparams,
		  const char *const *params);
/* Check a result of any PQexec* call: returns it when its status is
 * COMMAND_OK or TUPLES_OK, else clears it and returns NULL with err set as
 * for db_exec(). res is consumed on failure. */
PGresult *db_check(PGconn *db, PGresult *res, struct acme_err *err);

/* After a call failed (res: its result, may be NULL): is the connection gone?
 * Also true for a server that went away while libpq still calls the
 * connection OK (a failed write; it is marked bad here). Classify errors
 * with it: lost is ACME_E_UNAVAILABLE, the caller drops the connection.
 * Take PQerrorMessage() first: the read may append libpq's message again. */
bool db_lost(PGconn *db, const PGresult *res);

/* Set err for a failed call (res may be NULL): "PREFIX: libpq's message",
 * ACME_E_UNAVAILABLE (transient) when the connection is lost (db_lost()),
 * else ACME_E_FAILURE. The message is taken before db_lost() reads. -1. */
int db_error(PGconn *db, const PGresult *res, struct acme_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* db_exec() for statements whose result is not needed. 0 / -1. */
int db_cmd(PGconn *db, struct acme_err *err, const char *sql, int nparams,
	   const char *const *params);

/* db_exec() with a time budget enforced by the client (a pgcall, core/call.h,
 * that waits for the cancel to be answered): the query is sent,
 * and if no answer has come within budget_ms it is cancelled (PQcancel) and
 * the call returns NULL with *timed_out set and err untouched. Nothing is
 * changed on the server session (a SET statement_timeout would itself run,
 * and could be cancelled, under the short timeout it just set). Otherwise as
 * db_exec(), with *timed_out false. */
PGresult *db_exec_budget(PGconn *db, struct acme_err *err, const char *sql, int nparams,
			 const char *const *params, int budget_ms, bool *timed_out);

/* Transactions, one idiom everywhere. db_begin() runs BEGIN, or begin_sql
 * when not NULL ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
 * db_commit() runs COMMIT. Both 0 / -1 with err set as for db_exec().
 * db_rollback() ends whatever transaction is open (idle, failed or in
 * progress) so the connection can be used again, and never fails its caller:
 * it is for cleanup after an error that is already reported, so its own
 * failure (a lost connection) is ignored, and on an idle connection it does
 * nothing (no "no transaction in progress" warning). */
int db_begin(PGconn *db, const char *begin_sql, struct acme_err *err);
int db_commit(PGconn *db, struct acme_err *err);
void db_rollback(PGconn *db);

/* A second connection with the same parameters as db (host, database, user,
 * password, TLS...) under another application_name, for work beside it (an
 * import's COPY, a migration's lock watcher). NULL with err set
 * (ACME_E_UNAVAILABLE, transient). */
PGconn *db_connect_like(PGconn *db, const char *app, struct acme_err *err);

/* Close a connection (NULL is fine): for front ends, which never call libpq. */
void db_close(PGconn *db);

/* Can db run another statement? PQstatus() alone is not enough: when the
 * server goes away in the middle of a pipeline (whdeliver.c's claim), libpq
 * 15 keeps the connection CONNECTION_OK but stuck in pipeline mode with
 * uncollected results, and every later statement fails with the stale
 * "server closed the connection unexpectedly". false for NULL, a bad
 * connection, or one still in pipeline mode: drop it and connect again. */
bool db_connection_ok(PGconn *db);

/* The SQLSTATE of a failed result ("" when none). */
const char *db_sqlstate(const PGresult *res);

/* "unix socket /run/x/.s.PGSQL.5432" or "db.example:5432", for messages. */
char *db_describe(PGconn *conn);

#endif
