/* url.c — redaction of secrets in connection strings, and Redis URL parsing.
 *
 * Redaction must err on the side of hiding: anything between "://user:" and the
 * last '@' before the first '/' is a password, and any password= parameter or libpq
 * keyword has its value replaced whatever quoting it uses.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/strbuf.h"
#include "core/url.h"
#include "core/xalloc.h"

/* Replace the value of every "password=" (query parameter or conninfo keyword). */
static void redact_password_params(struct strbuf *out, const char *s)
{
	const char *p = s;
	while (*p) {
		const char *hit = strcasestr(p, "password");
		if (!hit) {
			strbuf_adds(out, p);
			return;
		}
		const char *q = hit + 8;
		while (*q == ' ')
			q++;
		bool boundary = hit == s || !isalnum((unsigned char)hit[-1]) || hit[-1] == '_';
		if (*q != '=' || !boundary) {
			strbuf_add(out, p, (size_t)(hit - p) + 8);
			p = hit + 8;
			continue;
		}
		q++;
		while (*q == ' ')
			q++;
		strbuf_add(out, p, (size_t)(q - p));
		strbuf_adds(out, "***");
		if (*q == '\'') {               /* libpq quoted value */
			q++;
			while (*q && *q != '\'') {
				if (*q == '\\' && q[1])
					q++;
				q++;
			}
			if (*q)
				q++;
		} else {                        /* libpq: a\ b is "a b" */
			while (*q && *q != '&' && *q != ' ' && *q != '#') {
				if (*q == '\\' && q[1])
					q++;
				q++;
			}
		}
		p = q;
	}
}

char *url_redact(const char *s)
{
	struct strbuf out = STRBUF_INIT, tmp = STRBUF_INIT;
	const char *scheme = strstr(s, "://");

	if (scheme) {
		const char *auth = scheme + 3;
		/* the userinfo may hold '?' and '#': libpq and redis_url_parse()
		 * read a password up to the '@' before the first '/' (found by
		 * tests/fuzz/fuzz_url.c: "redis://:pa#ss@host" was shown whole) */
		const char *end = auth + strcspn(auth, "/");
		const char *at = NULL;
		for (const char *c = auth; c < end; c++)
			if (*c == '@')
				at = c;
		const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon) {
			strbuf_add(&tmp, s, (size_t)(colon + 1 - s));
			strbuf_adds(&tmp, "***");
			strbuf_adds(&tmp, at);
		} else {
			strbuf_adds(&tmp, s);
		}
	} else {
		strbuf_adds(&tmp, s);
	}
	redact_password_params(&out, tmp.buf);
	strbuf_release(&tmp);
	return strbuf_detach(&out, NULL);
}

static char *pct_decode(const char *s, size_t n)
{
	char *d = xmalloc(n + 1), *o = d;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = { s[i + 1], s[i + 2], 0 };
			*o++ = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return d;
}

static int parse_int(const char *s, size_t n, long min, long max, long *out)
{
	char buf[16];
	char *end;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	long v = strtol(buf, &end, 10);
	if (*end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int redis_url_parse(const char *s, struct redis_url *u, struct acme_err *err)
{
	const char *rest;
	bool is_unix;
	long v;
	char *shown = url_redact(s);

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncmp(s, "redis://", 8) == 0) {
		rest = s + 8;
		is_unix = false;
	} else if (strncmp(s, "unix://", 7) == 0) {
		rest = s + 7;
		is_unix = true;
	} else if (strncmp(s, "rediss://", 9) == 0) {
		acme_err_set(err, ACME_E_CONFIG,
			     "redis url \"%s\": TLS (rediss://) is not supported; use redis:// over a "
			     "private network or a unix:// socket", shown);
		goto fail;
	} else {
		acme_err_set(err, ACME_E_CONFIG,
			     "redis url \"%s\": expected redis://[:password@]host[:port][/db] "
			     "or unix:///path/to/socket[?db=N]", shown);
		goto fail;
	}

	/* userinfo: everything up to the last '@' before the path */
	const char *path = is_unix ? strchr(rest, '/') : rest + strcspn(rest, "/?");
	if (!path)
		path = rest + strlen(rest);
	const char *at = NULL;
	for (const char *c = rest; c < path; c++)
		if (*c == '@')
			at = c;
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		if (colon) {
			if (colon > rest)
				u->user = pct_decode(rest, (size_t)(colon - rest));
			u->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
		} else if (at > rest) {
			u->user = pct_decode(rest, (size_t)(at - rest));
		}
		rest = at + 1;
	}

	if (is_unix) {
		size_t n = strcspn(rest, "?");
		if (n == 0 || rest[0] != '/') {
			acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": the socket path must be absolute", shown);
			goto fail;
		}
		u->socket = pct_decode(rest, n);
		const char *q = rest + n;
		if (*q == '?') {
			const char *db = strstr(q, "db=");
			if (db) {
				if (parse_int(db + 3, strcspn(db + 3, "&"), 0, 1000, &v) < 0) {
					acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": db must be a number", shown);
					goto fail;
				}
				u->db = (int)v;
			}
		}
	} else {
		const char *hend = rest + strcspn(rest, ":/?");
		if (*rest == '[') {              /* [ipv6] */
			const char *rb = strchr(rest, ']');
			if (!rb) {
				acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": unterminated [ipv6] host", shown);
				goto fail;
			}
			u->host = xstrndup(rest + 1, (size_t)(rb - rest - 1));
			hend = rb + 1;
		} else {
			u->host = xstrndup(rest, (size_t)(hend - rest));
		}
		if (!u->host[0]) {
			free(u->host);
			u->host = xstrdup("localhost");
		}
		if (*hend == ':') {
			const char *pend = hend + 1 + strcspn(hend + 1, "/?");
			if (parse_int(hend + 1, (size_t)(pend - hend - 1), 1, 65535, &v) < 0) {
				acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": port must be 1-65535", shown);
				goto fail;
			}
			u->port = (int)v;
			hend = pend;
		}
		if (*hend == '/' && hend[1] && hend[1] != '?') {
			if (parse_int(hend + 1, strcspn(hend + 1, "?"), 0, 1000, &v) < 0) {
				acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": database must be a number", shown);
				goto fail;
			}
			u->db = (int)v;
		}
	}
	free(shown);
	return 0;
fail:
	free(shown);
	redis_url_release(u);
	return -1;
}

void redis_url_release(struct redis_url *u)
{
	free(u->host);
	free(u->socket);
	free(u->user);
	free(u->password);
	memset(u, 0, sizeof(*u));
}

char *redis_url_describe(const struct redis_url *u)
{
	if (u->socket)
		return xasprintf("unix socket %s", u->socket);
	return xasprintf("%s:%d", u->host, u->port);
}
