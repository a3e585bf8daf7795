/* rds.h — Redis connections (hiredis) with timeouts, AUTH, SELECT and errors
 * that say which server and what to check. */
#ifndef ACME_RDS_H
#define ACME_RDS_H
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include "core/config.h"
#include "core/err.h"

/* Connect, authenticate and select the database of REDIS_URL. The command
 * timeout is the connect timeout unless timeout_ms > 0. Errors are
 * ACME_E_UNAVAILABLE (transient when refused or LOADING), or ACME_E_CONFIG for
 * a malformed URL. Returns an owned context (redisFree it) or NULL. */
redisContext *rds_connect(const struct config *cfg, int timeout_ms, struct acme_err *err);
redisContext *rds_connect_url(const char *url, int connect_timeout_s, int timeout_ms,
			      struct acme_err *err);
/* The same with the connect timeout in milliseconds (<= 0: 5 s); the command
 * timeout is connect_ms unless timeout_ms > 0, and AUTH and SELECT run
 * under it. */
redisContext *rds_connect_url_ms(const char *url, long connect_ms, int timeout_ms,
				 struct acme_err *err);

/* PING and require exactly PONG; a server still loading its dataset answers
 * LOADING, which is reported as transient ACME_E_UNAVAILABLE. */
int rds_ping(redisContext *c, struct acme_err *err);

/* Run a command (argv form, binary-safe). Returns an owned reply
 * (freeReplyObject) or NULL with err set; a REDIS_REPLY_ERROR reply is turned
 * into ACME_E_FAILURE with its text. */
redisReply *rds_command(redisContext *c, struct acme_err *err, int argc, const char **argv,
			const size_t *argvlen);

/* A reply that says the server is no longer a primary (READONLY after a
 * failover, UNBLOCKED when it turned replica under a blocked command) marks
 * c failed, as a lost connection: the caller's reconnect then finds the new
 * primary. Returns true when it did. Every reply of a Redis write should go
 * through here (rds_check_reply() does). */
bool rds_note_reply(redisContext *c, const redisReply *r);

/* Close a context (NULL is fine): for front ends, which never call hiredis. */
void rds_close(redisContext *c);

/* The checks of rds_command() on a reply r read from c (NULL: the
 * connection failed): returns r, or NULL with err (r is freed). */
redisReply *rds_check_reply(redisContext *c, redisReply *r, struct acme_err *err);

#endif
