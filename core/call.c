/* call.c — calls with a deadline and a way out; see call.h.
 *
 * A pgcall is a small state machine over libpq's asynchronous API:
 * DRAINING (a previous, cancelled statement still owes results: discard
 * them), SENDING (PQflush until the statement is written), RUNNING
 * (PQconsumeInput, then PQgetResult while it does not block), DONE. The
 * connection is put in nonblocking mode for the call and put back when it
 * ends, so COPY and PQexec users of the same connection see what they
 * expect. The deadline is checked at every step: past it the statement is
 * cancelled (PQcancel, which opens its own short connection to the
 * postmaster) and the call fails with a timeout; its results, when they
 * come, are discarded by the next call.
 *
 * The blocking helpers are one poll() loop over a pgcall, with the tick
 * callback in between and a bounded wait for the server to acknowledge a
 * cancel, so a stopped server costs at most deadline + PGCALL_CANCEL_WAIT_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "core/call.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/rds.h"
#include "core/xalloc.h"

/* ---- PostgreSQL statements ------------------------------------------------------ */

static void *cancel_thread(void *arg)
{
	PGcancel *c = arg;
	char buf[256];
	PQcancel(c, buf, sizeof(buf));
	PQfreeCancel(c);
	return NULL;
}

/* PQcancel (libpq 15) opens a connection to the postmaster and waits for it
 * to hang up: a stopped postmaster or an unreachable host would hold the
 * caller for as long as the network allows. So the request is sent from a
 * short detached thread that owns its PGcancel; the caller goes on at once.
 * Without a thread it is sent in line. */
void db_cancel(PGconn *conn)
{
	PGcancel *c = conn ? PQgetCancel(conn) : NULL;
	if (!c)
		return;
	pthread_attr_t attr;
	pthread_t t;
	bool started = false;
	if (pthread_attr_init(&attr) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&t, &attr, cancel_thread, c) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!started)
		cancel_thread(c);
}

static void set_failed(struct pgcall *call, enum acme_code code, bool transient, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_failed(struct pgcall *call, enum acme_code code, bool transient, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	acme_err_vset(&call->err, code, fmt, ap);
	va_end(ap);
	call->err.transient = transient;
	call->state = PGCALL_FAILED;
}

static void set_lost(struct pgcall *call)
{
	set_failed(call, ACME_E_UNAVAILABLE, true, "postgresql: connection lost: %s",
		   PQerrorMessage(call->conn));
}

static void free_statement(struct pgcall *call)
{
	free(call->sql);
	call->sql = NULL;
	for (int i = 0; i < call->nparams; i++)
		free(call->params[i]);
	free(call->params);
	call->params = NULL;
	call->nparams = 0;
}

/* The connection owes results of an earlier statement (a cancelled call's). */
static bool conn_busy(PGconn *conn)
{
	return PQtransactionStatus(conn) == PQTRANS_ACTIVE;
}

static void send_statement(struct pgcall *call)
{
	int ok = call->simple ? PQsendQuery(call->conn, call->sql)
			      : PQsendQueryParams(call->conn, call->sql, call->nparams, NULL,
						  (const char *const *)call->params, NULL, NULL, 0);
	free_statement(call);
	if (!ok) {
		set_lost(call);
		return;
	}
	call->state = PGCALL_SENDING;
}

static int start(struct pgcall *call, PGconn *conn, bool simple, const char *sql, int nparams,
		 const char *const *params, long deadline_ms, struct acme_err *err)
{
	memset(call, 0, sizeof(*call));
	call->conn = conn;
	call->simple = simple;
	call->started_ms = clock_mono_ms();
	call->deadline_ms = deadline_ms;
	call->deadline = deadline_ms > 0 ? call->started_ms + deadline_ms : 0;
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "postgresql: connection lost: %s",
			     conn ? PQerrorMessage(conn) : "no connection");
		err->transient = true;
		return -1;
	}
	call->was_nonblocking = PQisnonblocking(conn);
	if (!call->was_nonblocking)
		PQsetnonblocking(conn, 1);
	call->sql = xstrdup(sql);
	call->nparams = nparams;
	if (nparams > 0) {
		call->params = xcalloc((size_t)nparams, sizeof(*call->params));
		for (int i = 0; i < nparams; i++)
			call->params[i] = params[i] ? xstrdup(params[i]) : NULL;
	}
	if (conn_busy(conn)) {
		call->state = PGCALL_DRAINING;
		return 0;
	}
	send_statement(call);
	if (call->state == PGCALL_FAILED) {
		*err = call->err;
		if (!call->was_nonblocking)
			PQsetnonblocking(conn, 0);
		call->state = PGCALL_IDLE;
		return -1;
	}
	return 0;
}

int pgcall_start(struct pgcall *call, PGconn *conn, const char *sql, int nparams,
		 const char *const *params, long deadline_ms, struct acme_err *err)
{
	return start(call, conn, false, sql, nparams, params, deadline_ms, err);
}

int pgcall_start_script(struct pgcall *call, PGconn *conn, const char *sql,
			const char *copy_refusal, long deadline_ms, struct acme_err *err)
{
	if (start(call, conn, true, sql, 0, NULL, deadline_ms, err) < 0)
		return -1;
	call->copy_refusal = copy_refusal;
	return 0;
}

int pgcall_fd(const struct pgcall *call)
{
	if (call->state != PGCALL_DRAINING && call->state != PGCALL_SENDING &&
	    call->state != PGCALL_RUNNING)
		return -1;
	return PQsocket(call->conn);
}

short pgcall_events(const struct pgcall *call)
{
	return call->state == PGCALL_SENDING ? POLLIN | POLLOUT : POLLIN;
}

int pgcall_wait_ms(const struct pgcall *call)
{
	if (!call->deadline || call->timed_out)
		return -1;
	long long left = call->deadline - clock_mono_ms();
	return left < 0 ? 0 : left > 1000000000 ? 1000000000 : (int)left;
}

/* Keep a result: the first error wins (a script stops at it), else the last. */
static void keep(struct pgcall *call, PGresult *r)
{
	if (call->res && PQresultStatus(call->res) == PGRES_FATAL_ERROR) {
		PQclear(r);
		return;
	}
	PQclear(call->res);
	call->res = r;
}

/* Read every result that is ready. Returns true when the statement is over. */
static bool read_results(struct pgcall *call, bool discard)
{
	PGresult *r;
	while (!PQisBusy(call->conn)) {
		r = PQgetResult(call->conn);
		if (!r)
			return true;
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_COPY_IN) {
			PQputCopyEnd(call->conn, call->copy_refusal ? call->copy_refusal :
				     "COPY FROM STDIN is not supported here");
			PQclear(r);
			continue;
		}
		if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
			/* not a statement a call may run: give up the connection's state */
			PQclear(r);
			set_failed(call, ACME_E_FAILURE, false, "postgresql: COPY is not supported in a call");
			return true;
		}
		if (discard)
			PQclear(r);
		else
			keep(call, r);
	}
	return false;
}

int pgcall_step(struct pgcall *call)
{
	switch (call->state) {
	case PGCALL_DONE:
		return 1;
	case PGCALL_FAILED:
	case PGCALL_IDLE:
		return -1;
	default:
		break;
	}
	if (call->state == PGCALL_DRAINING) {
		if (!PQconsumeInput(call->conn)) {
			set_lost(call);
			return -1;
		}
		if (read_results(call, true) && call->state != PGCALL_FAILED)
			send_statement(call);
		if (call->state == PGCALL_FAILED)
			return -1;
	}
	if (call->state == PGCALL_SENDING) {
		int f = PQflush(call->conn);
		if (f < 0) {
			set_lost(call);
			return -1;
		}
		if (f == 0)
			call->state = PGCALL_RUNNING;
	}
	if (call->state == PGCALL_RUNNING) {
		if (!PQconsumeInput(call->conn)) {
			set_lost(call);
			return -1;
		}
		if (read_results(call, false)) {
			if (call->state == PGCALL_FAILED)
				return -1;
			call->state = PGCALL_DONE;
			return 1;
		}
	}
	if (call->deadline && clock_mono_ms() >= call->deadline) {
		pgcall_cancel(call);
		call->timed_out = true;
		char *where = db_describe(call->conn);
		set_failed(call, ACME_E_TEMPFAIL, true, "postgresql at %s: no answer within %ld ms; "
			   "the statement was cancelled; retry, or check the server's load and locks",
			   where, call->deadline_ms);
		free(where);
		return -1;
	}
	return 0;
}

void pgcall_cancel(struct pgcall *call)
{
	if (call->cancelled || (call->state != PGCALL_RUNNING && call->state != PGCALL_SENDING))
		return;
	call->cancelled = true;
	db_cancel(call->conn);
}

bool pgcall_timed_out(const struct pgcall *call)
{
	return call->timed_out;
}

PGresult *pgcall_finish(struct pgcall *call, struct acme_err *err)
{
	PGresult *res = NULL;
	if (call->state == PGCALL_IDLE) {
		acme_err_set(err, ACME_E_FAILURE, "postgresql: no call in progress");
		return NULL;
	}
	if (call->state != PGCALL_DONE && call->state != PGCALL_FAILED) {
		pgcall_cancel(call);
		if (call->state == PGCALL_DRAINING)
			acme_err_set(&call->err, ACME_E_TEMPFAIL, "postgresql: the call was abandoned "
				     "before it was sent");
		else
			acme_err_set(&call->err, ACME_E_TEMPFAIL, "postgresql: the call was abandoned "
				     "and its statement cancelled");
		call->err.transient = true;
		call->state = PGCALL_FAILED;
	}
	if (call->state == PGCALL_FAILED) {
		*err = call->err;
		PQclear(call->res);
	} else if (call->raw) {
		res = call->res ? call->res : PQmakeEmptyPGresult(call->conn, PGRES_EMPTY_QUERY);
	} else {
		res = db_check(call->conn, call->res, err);
	}
	call->res = NULL;
	free_statement(call);
	if (!call->was_nonblocking && call->conn)
		PQsetnonblocking(call->conn, 0);
	call->state = PGCALL_IDLE;
	return res;
}

/* Wait up to wait_ms (< 0: until it comes) for the server to end a
 * cancelled statement, discarding its results, so the connection is idle
 * for the next call. Gives up silently: the next call drains the rest. */
static void drain(PGconn *conn, long wait_ms)
{
	long long until = clock_mono_ms() + wait_ms;
	while (conn_busy(conn)) {
		if (!PQconsumeInput(conn))
			return;
		PGresult *r;
		while (!PQisBusy(conn) && (r = PQgetResult(conn)) != NULL) {
			if (PQresultStatus(r) == PGRES_COPY_IN)
				PQputCopyEnd(conn, "cancelled");
			PQclear(r);
		}
		if (!conn_busy(conn))
			return;
		long long left = until - clock_mono_ms();
		if (wait_ms >= 0 && left <= 0)
			return;
		struct pollfd pfd = { PQsocket(conn), POLLIN, 0 };
		if (poll(&pfd, 1, wait_ms < 0 ? 1000 : (int)left) < 0 && errno != EINTR)
			return;
	}
}

/* Stop a call with the caller's error (a tick asked to, poll failed). */
static void stop(struct pgcall *call, const struct acme_err *why)
{
	pgcall_cancel(call);
	call->err = *why;
	call->state = PGCALL_FAILED;
}

/* The blocking loop shared by pgcall_run and the deadline helpers. */
static PGresult *run(struct pgcall *call, const struct pgcall_opts *o, struct acme_err *err)
{
	long cancel_wait = o->cancel_wait_ms ? o->cancel_wait_ms : PGCALL_CANCEL_WAIT_MS;
	long long next_tick = o->tick ? clock_mono_ms() : 0;   /* the first tick at once */
	int rc;

	while ((rc = pgcall_step(call)) == 0) {
		long long now = clock_mono_ms();
		if (o->tick && now >= next_tick) {
			struct acme_err why = { 0 };
			long t = o->tick(o->tick_arg, &why);
			if (t < 0) {
				stop(call, &why);
				rc = -1;
				break;
			}
			now = clock_mono_ms();
			next_tick = now + (t > 0 ? t : PGCALL_TICK_MS);
		}
		long long wait = pgcall_wait_ms(call);
		if (o->tick && (wait < 0 || next_tick - now < wait))
			wait = next_tick - now > 0 ? next_tick - now : 0;
		struct pollfd pfd = { pgcall_fd(call), pgcall_events(call), 0 };
		if (poll(&pfd, 1, (int)wait) < 0 && errno != EINTR) {
			struct acme_err why = { 0 };
			acme_err_set(&why, ACME_E_FAILURE, "postgresql: poll: %s", strerror(errno));
			stop(call, &why);
			rc = -1;
			break;
		}
	}
	if (rc < 0 && call->cancelled)
		drain(call->conn, cancel_wait);
	return pgcall_finish(call, err);
}

PGresult *pgcall_run(PGconn *conn, const char *sql, int nparams, const char *const *params,
		     const struct pgcall_opts *opts, struct acme_err *err)
{
	static const struct pgcall_opts none;
	const struct pgcall_opts *o = opts ? opts : &none;
	struct pgcall call;
	if (start(&call, conn, o->script, sql, nparams, params, o->deadline_ms, err) < 0)
		return NULL;
	call.raw = o->raw;
	call.copy_refusal = o->copy_refusal;
	return run(&call, o, err);
}

PGresult *db_exec_deadline(PGconn *db, struct acme_err *err, const char *sql, int nparams,
			   const char *const *params, long deadline_ms, pgcall_tick_fn tick,
			   void *tick_arg)
{
	struct pgcall_opts o = { .deadline_ms = deadline_ms, .tick = tick, .tick_arg = tick_arg };
	return pgcall_run(db, sql, nparams, params, &o, err);
}

/* ---- PostgreSQL connect with a deadline ------------------------------------------- */

static int connect_timed_out(struct pgconnect *pc, struct acme_err *err)
{
	acme_err_set(err, ACME_E_TEMPFAIL, "postgresql at %s: no answer to the connection "
		     "within %ld ms; is the server overloaded or stopped? retry, or check "
		     "DATABASE_URL ('acmectl config show')", pc->where ? pc->where : "?",
		     pc->deadline_ms);
	err->transient = true;
	return -1;
}

int pgconnect_start(struct pgconnect *pc, const char *url, const char *app, long deadline_ms,
		    struct acme_err *err)
{
	const char *const kw[] = { "dbname", "application_name", "client_encoding", NULL };
	const char *const val[] = { url, app ? app : "acmectl", "UTF8", NULL };

	memset(pc, 0, sizeof(*pc));
	pc->deadline_ms = deadline_ms;
	pc->deadline = deadline_ms > 0 ? clock_mono_ms() + deadline_ms : 0;
	pc->conn = PQconnectStartParams(kw, val, 1);
	if (!pc->conn)
		return acme_err_set(err, ACME_E_UNAVAILABLE, "postgresql: out of memory connecting");
	pc->where = db_describe(pc->conn);
	if (PQstatus(pc->conn) == CONNECTION_BAD) {
		db_connect_error(pc->conn, err);
		PQfinish(pc->conn);
		free(pc->where);
		memset(pc, 0, sizeof(*pc));
		return -1;
	}
	pc->poll = PGRES_POLLING_WRITING;
	return 0;
}

int pgconnect_fd(const struct pgconnect *pc)
{
	return pc->conn ? PQsocket(pc->conn) : -1;
}

short pgconnect_events(const struct pgconnect *pc)
{
	return pc->poll == PGRES_POLLING_READING ? POLLIN : POLLOUT;
}

int pgconnect_wait_ms(const struct pgconnect *pc)
{
	if (!pc->deadline)
		return -1;
	long long left = pc->deadline - clock_mono_ms();
	return left < 0 ? 0 : (int)left;
}

int pgconnect_step(struct pgconnect *pc)
{
	if (!pc->conn)
		return -1;
	if (pc->poll == PGRES_POLLING_OK)
		return 1;
	if (pc->poll == PGRES_POLLING_FAILED)
		return -1;
	/* libpq asks to be called when the socket is ready for what it wants;
	 * calling it early only does a nonblocking read or write that finds
	 * nothing, so a caller that is not sure may call it anyway */
	struct pollfd pfd = { PQsocket(pc->conn), pgconnect_events(pc), 0 };
	if (pfd.fd < 0 || poll(&pfd, 1, 0) > 0)
		pc->poll = PQconnectPoll(pc->conn);
	if (pc->poll == PGRES_POLLING_OK)
		return 1;
	if (pc->poll == PGRES_POLLING_FAILED)
		return -1;
	if (pc->deadline && clock_mono_ms() >= pc->deadline)
		return -1;
	return 0;
}

PGconn *pgconnect_finish(struct pgconnect *pc, struct acme_err *err)
{
	PGconn *conn = pc->conn;
	if (!conn) {
		acme_err_set(err, ACME_E_FAILURE, "postgresql: no connection in progress");
	} else if (pc->poll == PGRES_POLLING_OK && PQstatus(conn) == CONNECTION_OK) {
		/* the connection is ours: keep it */
	} else {
		if (pc->poll == PGRES_POLLING_FAILED)
			db_connect_error(conn, err);
		else
			connect_timed_out(pc, err);
		PQfinish(conn);
		conn = NULL;
	}
	free(pc->where);
	memset(pc, 0, sizeof(*pc));
	return conn;
}

PGconn *db_connect_deadline(const char *url, const char *app, long deadline_ms,
			    struct acme_err *err)
{
	struct pgconnect pc;
	int rc;
	if (pgconnect_start(&pc, url, app, deadline_ms, err) < 0)
		return NULL;
	while ((rc = pgconnect_step(&pc)) == 0) {
		struct pollfd pfd = { pgconnect_fd(&pc), pgconnect_events(&pc), 0 };
		if (poll(&pfd, 1, pgconnect_wait_ms(&pc)) < 0 && errno != EINTR)
			break;
	}
	return pgconnect_finish(&pc, err);
}

/* ---- Redis ----------------------------------------------------------------------------- */

static void tv_from_ms(struct timeval *tv, long ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* Mark c failed: a reply is owed that the next command would take for its own. */
static void rds_poison(redisContext *c, const char *why)
{
	c->err = REDIS_ERR_IO;
	snprintf(c->errstr, sizeof(c->errstr), "%s", why);
}

static int rds_timed_out(struct acme_err *err, long deadline_ms)
{
	acme_err_set(err, ACME_E_TEMPFAIL, "redis: no answer within %ld ms; is redis-server "
		     "overloaded or stopped? retry, or check REDIS_URL ('acmectl config show')",
		     deadline_ms);
	err->transient = true;
	return -1;
}

redisReply *rds_command_deadline(redisContext *c, struct acme_err *err, long deadline_ms,
				 int argc, const char **argv, const size_t *argvlen)
{
	struct timeval tv, old;
	socklen_t len = sizeof(old);
	bool restore = getsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &old, &len) == 0;
	if (deadline_ms > 0) {
		tv_from_ms(&tv, deadline_ms);
		if (redisSetTimeout(c, tv) != REDIS_OK)
			return rds_check_reply(c, NULL, err);
	}
	redisReply *r = redisCommandArgv(c, argc, argv, argvlen);
	if (!r && c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		rds_poison(c, "a reply did not come in time");
		rds_timed_out(err, deadline_ms);
		return NULL;
	}
	if (deadline_ms > 0 && restore && !c->err)
		redisSetTimeout(c, old);
	return rds_check_reply(c, r, err);
}

int rdscall_start(struct rdscall *call, redisContext *c, int argc, const char **argv,
		  const size_t *argvlen, long deadline_ms, struct acme_err *err)
{
	memset(call, 0, sizeof(*call));
	call->c = c;
	call->deadline_ms = deadline_ms;
	call->deadline = deadline_ms > 0 ? clock_mono_ms() + deadline_ms : 0;
	if (c->err || redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK) {
		rds_check_reply(c, NULL, err);
		return -1;
	}
	call->state = 1;
	rdscall_step(call);
	return 0;
}

int rdscall_fd(const struct rdscall *call)
{
	return call->state == 1 ? call->c->fd : -1;
}

short rdscall_events(const struct rdscall *call)
{
	return call->state == 1 && sdslen(call->c->obuf) > 0 ? POLLIN | POLLOUT : POLLIN;
}

int rdscall_wait_ms(const struct rdscall *call)
{
	if (!call->deadline || call->state != 1)
		return -1;
	long long left = call->deadline - clock_mono_ms();
	return left < 0 ? 0 : (int)left;
}

/* hiredis 0.14 treats EAGAIN as an error on a blocking context: for one
 * step, the socket is nonblocking and the context says so. */
static int io_step(redisContext *c, void **reply)
{
	int fl = fcntl(c->fd, F_GETFL);
	int flags = c->flags;
	int rc = REDIS_OK, done = 0;
	fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	c->flags &= ~REDIS_BLOCK;
	if (sdslen(c->obuf) > 0)
		rc = redisBufferWrite(c, &done);
	if (rc == REDIS_OK) {
		struct pollfd pfd = { c->fd, POLLIN, 0 };
		if (poll(&pfd, 1, 0) > 0)
			rc = redisBufferRead(c);
	}
	if (rc == REDIS_OK)
		rc = redisGetReplyFromReader(c, reply);
	c->flags = flags;
	fcntl(c->fd, F_SETFL, fl);
	return rc;
}

int rdscall_step(struct rdscall *call)
{
	if (call->state != 1)
		return call->state == 2 ? 1 : -1;
	void *reply = NULL;
	if (io_step(call->c, &reply) != REDIS_OK) {
		rds_check_reply(call->c, NULL, &call->err);
		call->state = -1;
		return -1;
	}
	if (reply) {
		call->reply = reply;
		call->state = 2;
		return 1;
	}
	if (call->deadline && clock_mono_ms() >= call->deadline) {
		call->timed_out = true;
		rds_poison(call->c, "a reply did not come in time");
		rds_timed_out(&call->err, call->deadline_ms);
		call->state = -1;
		return -1;
	}
	return 0;
}

redisReply *rdscall_finish(struct rdscall *call, struct acme_err *err)
{
	redisReply *r = NULL;
	if (call->state == 2) {
		r = rds_check_reply(call->c, call->reply, err);
	} else if (call->state == 1) {
		rds_poison(call->c, "a call was abandoned before its reply came");
		acme_err_set(err, ACME_E_TEMPFAIL, "redis: the call was abandoned before its reply came");
		err->transient = true;
	} else {
		*err = call->err;
	}
	memset(call, 0, sizeof(*call));
	return r;
}

/* ---- pings: is the server there? (the TUI's title line) ---- */

int db_ping_start(struct pgcall *call, PGconn *db, long deadline_ms, struct acme_err *err)
{
	return pgcall_start(call, db, "SELECT 1", 0, NULL, deadline_ms, err);
}

int rds_ping_start(struct rdscall *call, redisContext *c, long deadline_ms, struct acme_err *err)
{
	const char *argv[1] = { "PING" };
	return rdscall_start(call, c, 1, argv, NULL, deadline_ms, err);
}

int pgcall_finish_ok(struct pgcall *call, struct acme_err *err)
{
	PGresult *res = pgcall_finish(call, err);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

int rdscall_finish_ok(struct rdscall *call, struct acme_err *err)
{
	redisReply *r = rdscall_finish(call, err);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}
