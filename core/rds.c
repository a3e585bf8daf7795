/* rds.c — Redis connection helpers; see rds.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/rds.h"
#include "core/url.h"
#include "core/xalloc.h"

static int fail_ctx(redisContext *c, const char *where, struct acme_err *err)
{
	const char *e = c ? c->errstr : "out of memory";
	acme_err_set(err, ACME_E_UNAVAILABLE, "redis at %s: %s; is redis-server running and "
		     "reachable? check REDIS_URL ('acmectl config show'), or start the dev stack "
		     "with 'acmectl dev up'", where, e[0] ? e : "connection failed");
	err->transient = true;
	return -1;
}

redisReply *rds_command(redisContext *c, struct acme_err *err, int argc, const char **argv,
			const size_t *argvlen)
{
	return rds_check_reply(c, redisCommandArgv(c, argc, argv, argvlen), err);
}

redisReply *rds_check_reply(redisContext *c, redisReply *r, struct acme_err *err)
{
	if (!r) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "redis: %s",
			     c->errstr[0] ? c->errstr : "connection lost");
		err->transient = true;
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		enum acme_code code = ACME_E_FAILURE;
		bool transient = false;
		if (strncmp(r->str, "LOADING", 7) == 0 || strncmp(r->str, "BUSY", 4) == 0 ||
		    strncmp(r->str, "MASTERDOWN", 10) == 0) {
			code = ACME_E_UNAVAILABLE;
			transient = true;
		} else if (strncmp(r->str, "NOAUTH", 6) == 0 || strncmp(r->str, "WRONGPASS", 9) == 0) {
			code = ACME_E_UNAVAILABLE;
		}
		acme_err_set(err, code, "redis: %s", r->str);
		err->transient = transient;
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static redisReply *cmd2(redisContext *c, struct acme_err *err, const char *a, const char *b,
			const char *d)
{
	const char *argv[3] = { a, b, d };
	int argc = d ? 3 : b ? 2 : 1;
	return rds_command(c, err, argc, argv, NULL);
}

int rds_ping(redisContext *c, struct acme_err *err)
{
	redisReply *r = cmd2(c, err, "PING", NULL, NULL);
	if (!r)
		return -1;
	bool pong = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	if (!pong)
		acme_err_set(err, ACME_E_UNAVAILABLE, "redis: PING answered \"%s\", not PONG",
			     r->str ? r->str : "(non-string reply)");
	freeReplyObject(r);
	return pong ? 0 : -1;
}

redisContext *rds_connect_url(const char *url, int connect_timeout_s, int timeout_ms,
			      struct acme_err *err)
{
	return rds_connect_url_ms(url, (connect_timeout_s > 0 ? connect_timeout_s : 5) * 1000L,
				  timeout_ms, err);
}

redisContext *rds_connect_url_ms(const char *url, long connect_ms, int timeout_ms,
				 struct acme_err *err)
{
	struct redis_url u;
	redisContext *c = NULL;
	char *where = NULL;
	redisReply *r = NULL;

	if (redis_url_parse(url, &u, err) < 0)
		return NULL;
	where = redis_url_describe(&u);

	if (connect_ms <= 0)
		connect_ms = 5000;
	struct timeval ct = { connect_ms / 1000, (connect_ms % 1000) * 1000 };
	struct timeval ot = ct;
	if (timeout_ms > 0) {
		ot.tv_sec = timeout_ms / 1000;
		ot.tv_usec = (timeout_ms % 1000) * 1000;
	}
	/* hiredis 0.14 (Debian 12): connect with a timeout, then set the
	 * timeout for every command */
	c = u.socket ? redisConnectUnixWithTimeout(u.socket, ct)
		     : redisConnectWithTimeout(u.host, u.port, ct);
	if (!c || c->err) {
		fail_ctx(c, where, err);
		goto fail;
	}
	if (redisSetTimeout(c, ot) != REDIS_OK) {
		fail_ctx(c, where, err);
		goto fail;
	}
	if (!u.socket)
		redisEnableKeepAlive(c);
	if (u.password) {
		r = u.user ? cmd2(c, err, "AUTH", u.user, u.password) : cmd2(c, err, "AUTH", u.password, NULL);
		if (!r) {
			acme_err_prefix(err, "redis at %s: authentication failed; check the password "
					"in REDIS_URL", where);
			err->code = ACME_E_UNAVAILABLE;
			err->transient = false;
			goto fail;
		}
		freeReplyObject(r);
	}
	if (u.db) {
		char db[16];
		snprintf(db, sizeof(db), "%d", u.db);
		r = cmd2(c, err, "SELECT", db, NULL);
		if (!r) {
			acme_err_prefix(err, "redis at %s", where);
			goto fail;
		}
		freeReplyObject(r);
	}
	free(where);
	redis_url_release(&u);
	return c;
fail:
	if (c)
		redisFree(c);
	free(where);
	redis_url_release(&u);
	return NULL;
}

redisContext *rds_connect(const struct config *cfg, int timeout_ms, struct acme_err *err)
{
	const char *url = config_get(cfg, CFG_REDIS_URL);
	if (!url) {
		acme_err_set(err, ACME_E_CONFIG, "REDIS_URL is not set");
		return NULL;
	}
	return rds_connect_url(url, config_connect_timeout(cfg), timeout_ms, err);
}

void rds_close(redisContext *c)
{
	if (c)
		redisFree(c);
}
