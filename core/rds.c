/* rds.c — Redis connection helpers; see rds.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/rds.h"
#include "core/tlsconn.h"
#include "core/strbuf.h"
#include "core/url.h"
#include "core/xalloc.h"

/* The time to reach one sentinel and hear its answer, at most. */
#define SENTINEL_MS 3000

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

bool rds_note_reply(redisContext *c, const redisReply *r)
{
	if (!c || !r || r->type != REDIS_REPLY_ERROR || c->err)
		return false;
	if (strncmp(r->str, "READONLY", 8) && strncmp(r->str, "UNBLOCKED", 9))
		return false;
	c->err = REDIS_ERR_IO;
	snprintf(c->errstr, sizeof(c->errstr), "the server is no longer the primary (%.60s); "
		 "a new connection finds the one that is", r->str);
	return true;
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
		rds_note_reply(c, r);
		enum acme_code code = ACME_E_FAILURE;
		bool transient = false;
		if (strncmp(r->str, "LOADING", 7) == 0 || strncmp(r->str, "BUSY", 4) == 0 ||
		    strncmp(r->str, "MASTERDOWN", 10) == 0 || c->err) {
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

/* The TLS options of a rediss:// URL: its query string first, then the
 * redis_tls_* settings of cfg (NULL: none). */
static void tls_options(const struct redis_url *u, const struct config *cfg, struct tls_opts *o)
{
#define PICK(field, key) (u->field ? u->field : cfg ? config_get(cfg, key) : NULL)
	o->ca_file = PICK(tls_ca, CFG_REDIS_TLS_CA);
	o->cert_file = PICK(tls_cert, CFG_REDIS_TLS_CERT);
	o->key_file = PICK(tls_key, CFG_REDIS_TLS_KEY);
	o->server_name = PICK(tls_server_name, CFG_REDIS_TLS_SERVER_NAME);
#undef PICK
	if (u->tls_insecure >= 0)
		o->insecure = u->tls_insecure == 1;
	else
		o->insecure = cfg && config_get(cfg, CFG_REDIS_TLS_INSECURE) &&
			      config_bool(config_get(cfg, CFG_REDIS_TLS_INSECURE)) == 1;
}

static bool closed_at_first(redisContext *c, bool tls, const char *where, struct acme_err *err)
{
	if (!tls || !c->err)
		return false;
	/* TLS 1.3: a server that wants a client certificate says so by
	 * closing, after the handshake, at the first command */
	acme_err_set(err, ACME_E_UNAVAILABLE, "redis at %s: the server closed the TLS connection "
		     "at the first command (%s); does it require a client certificate (tls_cert "
		     "and tls_key)?", where, c->errstr);
	return true;
}

/* One server: connected (over TLS when o), its command timeout set, and
 * authenticated when password is given. where names it in messages. */
static redisContext *open_one(const char *host, int port, const char *sock,
			      const struct tls_opts *o, const char *user, const char *password,
			      long connect_ms, struct timeval ot, const char *where,
			      struct acme_err *err)
{
	struct timeval ct = { connect_ms / 1000, (connect_ms % 1000) * 1000 };
	redisContext *c = NULL;
	redisReply *r;

	/* hiredis 0.14 (Debian 12): connect with a timeout, then set the
	 * timeout for every command */
	if (o) {
		int fd = tlsconn_open(host, port, o, connect_ms, err);
		if (fd < 0) {
			acme_err_prefix(err, "redis at %s", where);
			return NULL;
		}
		if (!(c = redisConnectFd(fd))) {
			close(fd);
			fail_ctx(c, where, err);
			return NULL;
		}
	} else {
		c = sock ? redisConnectUnixWithTimeout(sock, ct) : redisConnectWithTimeout(host, port, ct);
	}
	if (!c || c->err || redisSetTimeout(c, ot) != REDIS_OK) {
		fail_ctx(c, where, err);
		goto fail;
	}
	if (!sock && !o)
		redisEnableKeepAlive(c);
	if (password) {
		r = user ? cmd2(c, err, "AUTH", user, password) : cmd2(c, err, "AUTH", password, NULL);
		if (!r && closed_at_first(c, o, where, err))
			goto fail;
		if (!r) {
			acme_err_prefix(err, "redis at %s: authentication failed; check the password "
					"in REDIS_URL", where);
			err->code = ACME_E_UNAVAILABLE;
			err->transient = false;
			goto fail;
		}
		freeReplyObject(r);
	} else if (o) {
		r = cmd2(c, err, "PING", NULL, NULL);
		if (!r && closed_at_first(c, o, where, err))
			goto fail;
		if (!r) {
			acme_err_prefix(err, "redis at %s", where);
			goto fail;
		}
		freeReplyObject(r);
	}
	return c;
fail:
	if (c)
		redisFree(c);
	return NULL;
}

/* Ask the sentinels, in order, where the primary of u->master_name is. */
static int sentinel_lookup(const struct redis_url *u, const struct tls_opts *o, long connect_ms,
			   char **host, int *port, struct acme_err *err)
{
	struct strbuf why = STRBUF_INIT;
	long ms = connect_ms < SENTINEL_MS ? connect_ms : SENTINEL_MS;
	struct timeval ot = { ms / 1000, (ms % 1000) * 1000 };

	for (size_t i = 0; i < u->nsentinels; i++) {
		struct acme_err e = { 0 };
		char *sw = xasprintf("sentinel %s:%d", u->sentinels[i].host, u->sentinels[i].port);
		redisContext *c = open_one(u->sentinels[i].host, u->sentinels[i].port, NULL, o,
					   u->sentinel_user, u->sentinel_password, ms, ot, sw, &e);
		redisReply *r = NULL;
		if (c) {
			const char *argv[3] = { "SENTINEL", "get-master-addr-by-name", u->master_name };
			r = rds_command(c, &e, 3, argv, NULL);
		}
		if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    r->element[1]->type == REDIS_REPLY_STRING) {
			*host = xstrdup(r->element[0]->str);
			*port = atoi(r->element[1]->str);
			freeReplyObject(r);
			redisFree(c);
			free(sw);
			strbuf_release(&why);
			return 0;
		}
		strbuf_addf(&why, "%s%s: %s", why.len ? "; " : "", sw,
			    r ? "it does not know that name" : e.msg);
		if (r)
			freeReplyObject(r);
		if (c)
			redisFree(c);
		free(sw);
	}
	acme_err_set(err, ACME_E_UNAVAILABLE, "no sentinel named the primary \"%s\" (%s)",
		     u->master_name, why.buf);
	err->transient = true;
	strbuf_release(&why);
	return -1;
}

static redisContext *connect_cfg(const struct config *cfg, const char *url, long connect_ms,
				 int timeout_ms, struct acme_err *err)
{
	struct redis_url u;
	redisContext *c = NULL;
	char *where = NULL, *primary = NULL;
	redisReply *r = NULL;
	struct tls_opts o = { 0 };
	const char *host;
	int port;

	if (redis_url_parse(url, &u, err) < 0)
		return NULL;
	where = redis_url_describe(&u);

	if (connect_ms <= 0)
		connect_ms = 5000;
	struct timeval ot = { connect_ms / 1000, (connect_ms % 1000) * 1000 };
	if (timeout_ms > 0) {
		ot.tv_sec = timeout_ms / 1000;
		ot.tv_usec = (timeout_ms % 1000) * 1000;
	}
	if (u.tls) {
		tls_options(&u, cfg, &o);
		if (o.insecure && cfg && config_is_production(cfg)) {
			acme_err_set(err, ACME_E_CONFIG, "redis at %s: tls_insecure turns off "
				     "certificate verification and is refused in production; give "
				     "the CA file instead (tls_ca)", where);
			goto fail;
		}
	}
	host = u.host;
	port = u.port;
	if (u.sentinel) {
		if (sentinel_lookup(&u, u.tls ? &o : NULL, connect_ms, &primary, &port, err) < 0) {
			acme_err_prefix(err, "redis: %s", where);
			goto fail;
		}
		host = primary;
		free(where);
		where = xasprintf("%s:%d (primary \"%s\" from sentinel%s)", host, port,
				  u.master_name, u.tls ? ", TLS" : "");
	}
	c = open_one(host, port, u.socket, u.tls ? &o : NULL, u.user, u.password, connect_ms,
		     ot, where, err);
	if (!c)
		goto fail;
	if (u.sentinel) {
		/* the sentinels may still name the old primary during a failover */
		r = cmd2(c, err, "ROLE", NULL, NULL);
		bool primary_now = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
				   r->element[0]->type == REDIS_REPLY_STRING &&
				   !strcmp(r->element[0]->str, "master");
		if (r)
			freeReplyObject(r);
		if (!primary_now) {
			acme_err_set(err, ACME_E_UNAVAILABLE, "redis at %s: the sentinels name it "
				     "the primary, but it is not one (yet): a failover is under way; "
				     "try again", where);
			err->transient = true;
			goto fail;
		}
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
	free(primary);
	free(where);
	redis_url_release(&u);
	return c;
fail:
	if (c)
		redisFree(c);
	free(primary);
	free(where);
	redis_url_release(&u);
	return NULL;
}

redisContext *rds_connect_url_ms(const char *url, long connect_ms, int timeout_ms,
				 struct acme_err *err)
{
	return connect_cfg(config_current(), url, connect_ms, timeout_ms, err);
}

redisContext *rds_connect(const struct config *cfg, int timeout_ms, struct acme_err *err)
{
	const char *url = config_get(cfg, CFG_REDIS_URL);
	if (!url) {
		acme_err_set(err, ACME_E_CONFIG, "REDIS_URL is not set");
		return NULL;
	}
	int s = config_connect_timeout(cfg);
	return connect_cfg(cfg, url, (s > 0 ? s : 5) * 1000L, timeout_ms, err);
}

void rds_close(redisContext *c)
{
	if (c)
		redisFree(c);
}
