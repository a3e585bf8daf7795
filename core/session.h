/* session.h — what a front end holds to talk to the catalog: the loaded
 * configuration and the PostgreSQL and Redis connections, opened on first
 * use. In development (the embedded default), the first connection starts
 * the private dev stack and migrates it to head, as `acmectl dev up` does.
 *
 * Both front ends hold one: cmd/'s struct ctx embeds it, and the TUI keeps
 * one for its whole run (it may drop and reopen a connection after a
 * server went away: session_drop_db / session_drop_redis).
 *
 * A session never prints. Starting the dev stack takes a few seconds, so the
 * front end may be told first through on_devstack (cmd/ prints a line on
 * stderr; a TUI shows it in its status line).
 */
#ifndef ACME_SESSION_H
#define ACME_SESSION_H
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/err.h"

struct session {
	struct config cfg;
	bool cfg_loaded;
	PGconn *db;               /* NULL until session_db() */
	redisContext *redis;      /* NULL until session_redis() */
	/* called before the dev stack is started on demand (may be NULL) */
	void (*on_devstack)(void *arg, const char *dir);
	void *on_devstack_arg;
};

/* Zero s. Nothing is loaded or opened. */
void session_init(struct session *s);
/* Load the configuration (config_load) and, when validate, check it
 * (config_validate). 0 / -1 with err set. */
int session_load(struct session *s, const struct config_flags *flags, bool validate,
		 struct acme_err *err);
/* The connection, opened on first use (starting the dev stack when the
 * configuration is the embedded default and it is not running). NULL with
 * err set on failure; the next call tries again. Owned by the session. */
PGconn *session_db(struct session *s, struct acme_err *err);
redisContext *session_redis(struct session *s, struct acme_err *err);
/* Close one connection (a lost server, or before fork): the next
 * session_db()/session_redis() opens a new one. */
void session_drop_db(struct session *s);
void session_drop_redis(struct session *s);
/* Start the dev stack if it is not running and migrate its database to this
 * binary's head: the dev stack is always "migrated and ready". started: it
 * was started just now; current: the migration it is at; applied: how many
 * were applied now. For `acmectl dev up` and the automatic start. */
int session_devstack_up(struct session *s, bool *started, int *current, size_t *applied,
			struct acme_err *err);
/* Close both connections and release the configuration. */
void session_release(struct session *s);

#endif
