/* call.h — PostgreSQL and Redis calls with a deadline and a way out.
 *
 * Every read a screen or a probe makes must end by a deadline whatever the
 * server does (stopped, partitioned, waiting on a lock). One primitive does
 * it for PostgreSQL: struct pgcall sends a statement asynchronously
 * (PQsendQueryParams on a nonblocking connection), exposes the socket so a
 * poll() loop can drive several calls at once, and at the deadline sends
 * PQcancel. The blocking helpers below (db_exec_deadline, pgcall_run) are the
 * same call with the poll loop written once.
 *
 * Timeouts are ACME_E_TEMPFAIL (exit 75, "retrying is safe"), transient, with
 * a message that names the server and the deadline. Nothing else a call
 * reports is ACME_E_TEMPFAIL: a server error is ACME_E_FAILURE, a lost
 * connection ACME_E_UNAVAILABLE, as for db_exec().
 *
 * The connection after a timeout. A cancelled statement is still running
 * until the server reads the cancel; a blocking helper waits a short grace
 * (PGCALL_CANCEL_WAIT_MS) for that answer and then returns anyway, so a
 * stopped server cannot hold the caller. The connection is then still busy:
 * the next pgcall_start() on it first discards the old statement's result
 * (within its own deadline), and a plain db_exec() waits for it (libpq's
 * PQexec discards earlier results). So a connection recovers by itself once
 * the server answers; PQfinish it if it never does.
 *
 * Redis (hiredis 0.14): a command with a deadline sets the socket timeout;
 * struct rdscall is the non-blocking form: the command is appended, the
 * socket exposed, and the reply read when it is readable. A reply that did
 * not come by the deadline would be read later as the answer to the next
 * command, so a timed-out context is marked failed (c->err) either way: free
 * it and connect again (rds_connect*), which is how a Redis caller recovers.
 */
#ifndef ACME_CALL_H
#define ACME_CALL_H
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "core/err.h"

/* After a cancel, how long the blocking helpers wait for the server to
 * acknowledge it before giving up on a clean connection. */
#define PGCALL_CANCEL_WAIT_MS 25
/* How often a tick callback runs when it does not say (see pgcall_tick_fn). */
#define PGCALL_TICK_MS 100

/* Called while a blocking call waits. Return a number of milliseconds to be
 * called again after that long (0: PGCALL_TICK_MS), or -1 with err set to
 * stop: the statement is cancelled and the call returns NULL with the tick's
 * error. */
typedef long (*pgcall_tick_fn)(void *arg, struct acme_err *err);

enum pgcall_state {
	PGCALL_IDLE,       /* not started, or finished */
	PGCALL_DRAINING,   /* discarding a previous statement's results before sending */
	PGCALL_SENDING,    /* the statement is being written (nonblocking flush) */
	PGCALL_RUNNING,    /* waiting for results */
	PGCALL_DONE,       /* every result read: pgcall_finish() */
	PGCALL_FAILED,     /* the connection failed or the deadline passed: pgcall_finish() */
};

struct pgcall {
	PGconn *conn;               /* borrowed */
	enum pgcall_state state;
	long long started_ms;       /* monotonic */
	long long deadline;         /* monotonic ms; 0: none */
	long deadline_ms;           /* as given, for messages */
	bool cancelled;             /* PQcancel was sent */
	bool timed_out;             /* the deadline passed */
	bool raw;                   /* pgcall_finish returns error results unchecked */
	bool simple;                /* PQsendQuery: several statements, no parameters */
	bool was_nonblocking;       /* the connection's mode before the call */
	const char *copy_refusal;   /* message ending an unexpected COPY FROM STDIN */
	/* the statement, kept until it is sent (a DRAINING call sends it later) */
	char *sql;
	int nparams;
	char **params;
	PGresult *res;              /* the result kept so far (owned) */
	struct acme_err err;        /* why the call failed (state PGCALL_FAILED) */
};

/* Start sql with nparams text parameters (copied: the caller's may go) on
 * conn, which the call borrows until pgcall_finish(). deadline_ms <= 0: no
 * deadline. Never blocks. Returns 0, or -1 with err set when the statement
 * could not even be queued (the connection is gone). */
int pgcall_start(struct pgcall *call, PGconn *conn, const char *sql, int nparams,
		 const char *const *params, long deadline_ms, struct acme_err *err);
/* The same for a script of several statements without parameters (the
 * simple query protocol): the first error result is kept, and an
 * unexpected COPY FROM STDIN is ended with copy_refusal (NULL: a default). */
int pgcall_start_script(struct pgcall *call, PGconn *conn, const char *sql,
			const char *copy_refusal, long deadline_ms, struct acme_err *err);

/* The socket to poll and for what (POLLIN, plus POLLOUT while the statement
 * is still being written); -1 when the call needs no waiting (done). */
int pgcall_fd(const struct pgcall *call);
short pgcall_events(const struct pgcall *call);
/* Milliseconds until the deadline (at least 0), or -1 without a deadline:
 * the timeout for poll(). */
int pgcall_wait_ms(const struct pgcall *call);

/* Read what arrived, write what is pending, and check the deadline (which
 * sends PQcancel and fails the call). Never blocks. 1 done (pgcall_finish),
 * 0 pending, -1 failed (pgcall_finish gives the error). */
int pgcall_step(struct pgcall *call);

/* End the call and give its result: an owned PGresult (PQclear it) checked
 * like db_check() (COMMAND_OK or TUPLES_OK, else NULL with err), or with raw
 * set any result the statement gave. NULL with err for a timeout
 * (ACME_E_TEMPFAIL) or a failed connection (ACME_E_UNAVAILABLE). A call
 * finished before it is done is cancelled first (pgcall_cancel). The
 * connection is then free for the next call (see the top comment on a
 * cancelled statement). */
PGresult *pgcall_finish(struct pgcall *call, struct acme_err *err);

/* Send PQcancel for the running statement (once); the call stays pending
 * until the server answers. Harmless on a call that is done. */
void pgcall_cancel(struct pgcall *call);
/* Whether the call ended at its deadline. */
bool pgcall_timed_out(const struct pgcall *call);

/* Send a cancel request for whatever conn is running. Does not wait: the
 * request goes from a detached thread, so a stopped postmaster cannot hold
 * the caller (a request that arrives late may cancel a later statement on
 * the same connection, as libpq warns for any cancel). */
void db_cancel(PGconn *conn);

/* Options of a blocking call; zero means the defaults. */
struct pgcall_opts {
	long deadline_ms;           /* <= 0: none */
	long cancel_wait_ms;        /* after a cancel: 0 PGCALL_CANCEL_WAIT_MS, < 0 until answered */
	pgcall_tick_fn tick;        /* may be NULL */
	void *tick_arg;
	bool raw;                   /* as in struct pgcall */
	bool script;                /* several statements, no parameters */
	const char *copy_refusal;   /* for a script */
};

/* Start, wait (poll on the socket, calling tick) and finish one statement:
 * the blocking form of struct pgcall. Returns as pgcall_finish(). */
PGresult *pgcall_run(PGconn *conn, const char *sql, int nparams, const char *const *params,
		     const struct pgcall_opts *opts, struct acme_err *err);

/* db_exec() with a deadline and a tick: the common blocking call. */
PGresult *db_exec_deadline(PGconn *db, struct acme_err *err, const char *sql, int nparams,
			   const char *const *params, long deadline_ms, pgcall_tick_fn tick,
			   void *tick_arg);

/* ---- PostgreSQL connect with a deadline ---- */

struct pgconnect {
	PGconn *conn;               /* owned until pgconnect_finish() */
	PostgresPollingStatusType poll;
	long long deadline;
	long deadline_ms;
	char *where;                /* for messages */
};

/* Start connecting to url (as db_connect_url: application_name app, UTF8)
 * with deadline_ms (<= 0: the libpq default, no deadline). 0 / -1. */
int pgconnect_start(struct pgconnect *pc, const char *url, const char *app, long deadline_ms,
		    struct acme_err *err);
int pgconnect_fd(const struct pgconnect *pc);
short pgconnect_events(const struct pgconnect *pc);
int pgconnect_wait_ms(const struct pgconnect *pc);
/* Advance the handshake; never blocks. 1 connected, 0 pending, -1 failed or
 * past the deadline (pgconnect_finish gives the error). */
int pgconnect_step(struct pgconnect *pc);
/* The connection (owned: PQfinish it), or NULL with err: the messages of
 * db_connect_url(), or ACME_E_TEMPFAIL at the deadline. Always releases pc. */
PGconn *pgconnect_finish(struct pgconnect *pc, struct acme_err *err);

/* Connect within deadline_ms, blocking. */
PGconn *db_connect_deadline(const char *url, const char *app, long deadline_ms,
			    struct acme_err *err);

/* ---- Redis ---- */

/* A command whose reply must come within deadline_ms (the socket timeout is
 * set for it and put back). A reply that does not come is ACME_E_TEMPFAIL
 * and leaves c unusable: redisFree it and connect again. Otherwise as
 * rds_command(). */
redisReply *rds_command_deadline(redisContext *c, struct acme_err *err, long deadline_ms,
				 int argc, const char **argv, const size_t *argvlen);

struct rdscall {
	redisContext *c;            /* borrowed */
	long long deadline;
	long deadline_ms;
	bool timed_out;
	redisReply *reply;          /* owned until rdscall_finish() */
	struct acme_err err;
	int state;                  /* 0 idle, 1 pending, 2 done, -1 failed */
};

/* Append a command on c and start writing it. Never blocks. 0 / -1. */
int rdscall_start(struct rdscall *call, redisContext *c, int argc, const char **argv,
		  const size_t *argvlen, long deadline_ms, struct acme_err *err);
int rdscall_fd(const struct rdscall *call);
short rdscall_events(const struct rdscall *call);
int rdscall_wait_ms(const struct rdscall *call);
/* Write what is pending, read what arrived; never blocks. 1 done, 0 pending,
 * -1 failed or past the deadline (the context is then failed: see the top
 * comment). */
int rdscall_step(struct rdscall *call);
/* The reply (owned; freeReplyObject), checked as rds_command() does, or NULL
 * with err (ACME_E_TEMPFAIL past the deadline). */
redisReply *rdscall_finish(struct rdscall *call, struct acme_err *err);

/* ---- pings ---- */

/* Non-blocking liveness checks (a front end's "connected / reconnecting"):
 * SELECT 1 and PING, driven like any pgcall / rdscall. */
int db_ping_start(struct pgcall *call, PGconn *db, long deadline_ms, struct acme_err *err);
int rds_ping_start(struct rdscall *call, redisContext *c, long deadline_ms, struct acme_err *err);
/* Finish a call whose result is not wanted: 0, or -1 with err as _finish. */
int pgcall_finish_ok(struct pgcall *call, struct acme_err *err);
int rdscall_finish_ok(struct rdscall *call, struct acme_err *err);

#endif
