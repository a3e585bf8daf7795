/* db.c — PostgreSQL connection and query helpers; see db.h.
 *
 * libpq's connection errors are precise but not actionable: "No such file or
 * directory" for a missing socket says nothing about DATABASE_URL. We keep
 * libpq's text and add which server we tried and what to check.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/call.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/url.h"
#include "core/xalloc.h"

char *db_describe(PGconn *conn)
{
	const char *host = PQhost(conn);
	const char *port = PQport(conn);
	if (!port || !port[0])
		port = "5432";
	if (!host || !host[0])
		host = "/var/run/postgresql";
	if (host[0] == '/')
		return xasprintf("unix socket %s/.s.PGSQL.%s", host, port);
	return xasprintf("%s:%s", host, port);
}

static bool contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

PGconn *db_connect_url(const char *url, int timeout_s, const char *app, struct acme_err *err)
{
	char timeout[16];
	snprintf(timeout, sizeof(timeout), "%d", timeout_s > 0 ? timeout_s : 5);
	const char *const kw[] = { "dbname", "connect_timeout", "application_name",
				   "client_encoding", NULL };
	const char *const val[] = { url, timeout, app ? app : "acmectl", "UTF8", NULL };

	PGconn *conn = PQconnectdbParams(kw, val, 1);
	if (!conn) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "postgresql: out of memory connecting");
		return NULL;
	}
	if (PQstatus(conn) == CONNECTION_OK)
		return conn;
	db_connect_error(conn, err);
	PQfinish(conn);
	return NULL;
}

/* The reason libpq gives for one server: the text after "failed: " on a
 * "connection to server ... failed: REASON" line, else the line itself. */
static void reason_of(const char *line, size_t len, char *out, size_t outsz)
{
	const char *text = line;
	if (len >= 20 && strncmp(line, "connection to server", 20) == 0) {
		const char *colon = strstr(line, "failed: ");
		if (colon && colon < line + len)
			text = colon + 8;
	}
	snprintf(out, outsz, "%.*s", (int)(len - (size_t)(text - line)), text);
}

/* libpq's text names one server per "connection to server at" line when a
 * multi-host DATABASE_URL (h1:p1,h2:p2) tried several: keep each server's
 * reason ("127.0.0.1:5432: Connection refused; 127.0.0.1:5433: session is
 * read-only"); with one server, its first line. */
static int summarize(const char *msg, char *out, size_t outsz)
{
	size_t used = 0;
	int servers = 0;
	out[0] = '\0';
	for (const char *p = msg; p && *p; ) {
		size_t len = strcspn(p, "\n");
		if (len > 20 && strncmp(p, "connection to server", 20) == 0)
			servers++;
		p += len;
		p += *p == '\n';
	}
	if (servers < 2) {
		reason_of(msg, strcspn(msg, "\n"), out, outsz);
		return servers;
	}
	for (const char *p = msg; *p && used + 1 < outsz; ) {
		size_t len = strcspn(p, "\n");
		if (len > 20 && strncmp(p, "connection to server", 20) == 0) {
			/* connection to server at "HOST" (ADDR), port N failed: R
			 * or: connection to server on socket "PATH" failed: R */
			char host[256] = "?", port[16] = "", reason[256];
			const char *q = strchr(p, '"');
			if (q && q < p + len) {
				size_t hl = strcspn(q + 1, "\"");
				snprintf(host, sizeof(host), "%.*s", (int)hl, q + 1);
			}
			const char *pt = strstr(p, ", port ");
			if (pt && pt < p + len)
				snprintf(port, sizeof(port), ":%.*s", (int)strcspn(pt + 7, " "), pt + 7);
			reason_of(p, len, reason, sizeof(reason));
			int n = snprintf(out + used, outsz - used, "%s%s%s: %s", used ? "; " : "",
					 host, port, reason);
			if (n < 0 || (size_t)n >= outsz - used)
				break;
			used += (size_t)n;
		}
		p += len;
		p += *p == '\n';
	}
	return servers;
}

int db_connect_error(PGconn *conn, struct acme_err *err)
{
	const char *msg = PQerrorMessage(conn);
	char *where = db_describe(conn);
	const char *hint;
	bool transient = false;
	/* TLS first: "root certificate file ... does not exist" is no missing
	 * database, and a certificate that fails verification will fail the
	 * same way on the next try */
	if (contains(msg, "certificate verify failed") || contains(msg, "does not match host name") ||
	    contains(msg, "root certificate file") || contains(msg, "certificate revocation list") ||
	    contains(msg, "server certificate")) {
		hint = "TLS certificate verification failed: check that sslrootcert in DATABASE_URL "
		       "names the CA file that signed the server's certificate, and that the "
		       "certificate is for the host name in DATABASE_URL (sslmode=verify-full)";
	} else if (contains(msg, "does not support SSL")) {
		hint = "the server does not offer TLS: enable ssl on the server, or change sslmode "
		       "in DATABASE_URL";
	} else if (contains(msg, "password authentication failed") || contains(msg, "no password supplied") ||
	    contains(msg, "authentication failed")) {
		hint = "check the user and password in DATABASE_URL";
	} else if (contains(msg, "does not exist")) {
		hint = "check the database and user names in DATABASE_URL; "
		       "run 'acmectl migrate up' once the database exists";
	} else if (contains(msg, "pg_hba.conf")) {
		hint = "the server refuses this client in pg_hba.conf";
	} else if (contains(msg, "session is read-only") || contains(msg, "hot standby mode") ||
		   contains(msg, "read-write")) {
		/* target_session_attrs=read-write found no primary: a failover
		 * under way (the standby not yet promoted) */
		hint = "no server in DATABASE_URL accepts writes yet (a standby, or a failover "
		       "under way); retry shortly";
		transient = true;
	} else if (contains(msg, "starting up") || contains(msg, "shutting down") ||
		   contains(msg, "recovery")) {
		hint = "the server is starting or stopping; retry shortly";
		transient = true;
	} else {
		hint = "is the server running and reachable? check DATABASE_URL "
		       "('acmectl config show'), or start the dev stack with 'acmectl dev up'";
		transient = true;
	}
	char text[768];
	if (summarize(msg, text, sizeof(text)) > 1)
		acme_err_set(err, ACME_E_UNAVAILABLE, "postgresql: no server in DATABASE_URL could "
			     "be used: %s; %s", text, hint);
	else
		acme_err_set(err, ACME_E_UNAVAILABLE, "postgresql at %s: %s; %s", where, text, hint);
	err->transient = transient;
	free(where);
	return -1;
}

PGconn *db_connect(const struct config *cfg, struct acme_err *err)
{
	const char *url = config_get(cfg, CFG_DATABASE_URL);
	if (!url) {
		acme_err_set(err, ACME_E_CONFIG, "DATABASE_URL is not set");
		return NULL;
	}
	return db_connect_url(url, config_connect_timeout(cfg), "acmectl", err);
}

const char *db_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

bool db_lost(PGconn *db, const PGresult *res)
{
	if (!db)
		return true;
	/* An error libpq made itself (no SQLSTATE) on a connection it still
	 * calls OK: a failed write to a server that went away is reported so
	 * (libpq 15 marks the connection bad only once it reads the end of the
	 * stream). Read what is there: at the end of the stream libpq marks the
	 * connection bad now. */
	if (PQstatus(db) == CONNECTION_OK && !(res && PQresultErrorField(res, PG_DIAG_SQLSTATE)))
		PQconsumeInput(db);
	return PQstatus(db) != CONNECTION_OK;
}

int db_error(PGconn *db, const PGresult *res, struct acme_err *err, const char *fmt, ...)
{
	char prefix[256], msg[ACME_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(db));
	bool lost = db_lost(db, res);
	acme_err_set(err, lost ? ACME_E_UNAVAILABLE : ACME_E_FAILURE, "%s: %s", prefix, msg);
	err->transient = lost;
	return -1;
}

PGresult *db_check(PGconn *db, PGresult *res, struct acme_err *err)
{
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	/* the message as it was: db_lost()'s read appends libpq's own again */
	char msg[sizeof(err->msg)];
	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(db));
	if (db_lost(db, res)) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "postgresql: connection lost: %s", msg);
		err->transient = true;
	} else {
		const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		acme_err_set(err, ACME_E_FAILURE, "postgresql: %s (SQLSTATE %s)",
			     primary ? primary : msg, db_sqlstate(res));
	}
	PQclear(res);
	return NULL;
}

PGresult *db_exec(PGconn *db, struct acme_err *err, const char *sql, int nparams,
		  const char *const *params)
{
	return db_check(db, PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0), err);
}

int db_cmd(PGconn *db, struct acme_err *err, const char *sql, int nparams,
	   const char *const *params)
{
	PGresult *res = db_exec(db, err, sql, nparams, params);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

int db_begin(PGconn *db, const char *begin_sql, struct acme_err *err)
{
	return db_cmd(db, err, begin_sql ? begin_sql : "BEGIN", 0, NULL);
}

int db_commit(PGconn *db, struct acme_err *err)
{
	return db_cmd(db, err, "COMMIT", 0, NULL);
}

void db_rollback(PGconn *db)
{
	if (!db || PQstatus(db) != CONNECTION_OK)
		return;
	PGTransactionStatusType ts = PQtransactionStatus(db);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
		PQclear(PQexec(db, "ROLLBACK"));
}

PGresult *db_exec_budget(PGconn *db, struct acme_err *err, const char *sql, int nparams,
			 const char *const *params, int budget_ms, bool *timed_out)
{
	/* after the cancel, wait for the server's answer (error or rows): the
	 * connection is idle again when this returns */
	struct pgcall_opts o = { .deadline_ms = budget_ms > 0 ? budget_ms : 1, .cancel_wait_ms = -1 };
	struct acme_err e = { 0 };
	PGresult *res = pgcall_run(db, sql, nparams, params, &o, &e);
	*timed_out = !res && e.code == ACME_E_TEMPFAIL;
	if (!res && !*timed_out)
		*err = e;
	return res;
}

bool db_connection_ok(PGconn *db)
{
	return db && PQstatus(db) == CONNECTION_OK && PQpipelineStatus(db) == PQ_PIPELINE_OFF;
}

void db_close(PGconn *db)
{
	if (db)
		PQfinish(db);
}

PGconn *db_connect_like(PGconn *db, const char *app, struct acme_err *err)
{
	PQconninfoOption *opts = PQconninfo(db);
	size_t n = 0, k = 0;
	PGconn *c;

	if (!opts) {
		acme_err_set(err, ACME_E_FAILURE, "cannot read the connection parameters");
		return NULL;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		n++;
	const char **kw = xcalloc(n + 2, sizeof(char *));
	const char **val = xcalloc(n + 2, sizeof(char *));
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !o->val[0] || strcmp(o->keyword, "application_name") == 0)
			continue;
		kw[k] = o->keyword;
		val[k++] = o->val;
	}
	kw[k] = "application_name";
	val[k++] = app;
	c = PQconnectdbParams(kw, val, 0);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "second postgresql connection: %s",
			     c ? PQerrorMessage(c) : "out of memory");
		err->transient = true;
		PQfinish(c);
		c = NULL;
	}
	free(kw);
	free(val);
	PQconninfoFree(opts);
	return c;
}
