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

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on"))
		*out = 1;
	else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
		 !strcasecmp(v, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* The query string q (after '?'): name=value pairs joined by '&'. */
static int parse_query(const char *q, struct redis_url *u, const char *shown,
		       struct acme_err *err)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		if (n == 0) {
			q++;
			continue;
		}
		if (!eq) {
			return acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": option \"%.*s\" "
					    "needs a value (name=value)", shown, (int)n, q);
		}
		size_t kn = (size_t)(eq - q);
		char *val = pct_decode(eq + 1, n - kn - 1);
		char **slot = NULL;
		int rc = 0;
		long v;
		if (kn == 2 && !memcmp(q, "db", 2)) {
			if (parse_int(val, strlen(val), 0, 1000, &v) < 0)
				rc = acme_err_set(err, ACME_E_CONFIG,
						  "redis url \"%s\": db must be a number", shown);
			else
				u->db = (int)v;
		} else if (kn == 6 && !memcmp(q, "tls_ca", 6)) {
			slot = &u->tls_ca;
		} else if (kn == 8 && !memcmp(q, "tls_cert", 8)) {
			slot = &u->tls_cert;
		} else if (kn == 7 && !memcmp(q, "tls_key", 7)) {
			slot = &u->tls_key;
		} else if (kn == 15 && !memcmp(q, "tls_server_name", 15)) {
			slot = &u->tls_server_name;
		} else if (kn == 13 && !memcmp(q, "sentinel_user", 13) && u->sentinel) {
			slot = &u->sentinel_user;
		} else if (kn == 17 && !memcmp(q, "sentinel_password", 17) && u->sentinel) {
			slot = &u->sentinel_password;
		} else if (kn == 12 && !memcmp(q, "tls_insecure", 12)) {
			if (parse_bool(val, &u->tls_insecure) < 0)
				rc = acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": tls_insecure "
						  "must be 1 or 0", shown);
		} else {
			rc = acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": unknown option "
					  "\"%.*s\" (known: db, tls_ca, tls_cert, tls_key, "
					  "tls_server_name, tls_insecure%s)", shown, (int)kn, q,
					  u->sentinel ? ", sentinel_user, sentinel_password" : "");
		}
		if (rc == 0 && kn > 4 && !memcmp(q, "tls_", 4) && !u->tls)
			rc = acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": %.*s applies to TLS "
					  "connections only: use rediss://", shown, (int)kn, q);
		if (rc == 0 && slot) {
			if (!val[0]) {
				rc = acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": %.*s is empty",
						  shown, (int)kn, q);
			} else {
				free(*slot);
				*slot = val;
				val = NULL;
			}
		}
		free(val);
		if (rc < 0)
			return -1;
		q += n;
		if (*q == '&')
			q++;
	}
	return 0;
}

/* host[:port],host[:port].../master[/db][?opts] after redis+sentinel:// and
 * the user information. */
static int parse_sentinels(const char *rest, struct redis_url *u, const char *shown,
			   struct acme_err *err)
{
	const char *hosts_end = rest + strcspn(rest, "/?");
	const char *p = rest;
	long v;
	while (p < hosts_end) {
		const char *e = memchr(p, ',', (size_t)(hosts_end - p));
		if (!e)
			e = hosts_end;
		if (u->nsentinels == REDIS_URL_MAX_SENTINELS)
			return acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": at most %d "
					    "sentinels", shown, REDIS_URL_MAX_SENTINELS);
		struct redis_sentinel_addr *a = &u->sentinels[u->nsentinels];
		const char *hend, *port = NULL;
		if (*p == '[') {
			const char *rb = memchr(p, ']', (size_t)(e - p));
			if (!rb)
				return acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": "
						    "unterminated [ipv6] host", shown);
			a->host = xstrndup(p + 1, (size_t)(rb - p - 1));
			hend = rb + 1;
		} else {
			hend = memchr(p, ':', (size_t)(e - p));
			if (!hend)
				hend = e;
			a->host = xstrndup(p, (size_t)(hend - p));
		}
		u->nsentinels++;
		if (hend < e && *hend == ':')
			port = hend + 1;
		else if (hend != e)
			return acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": a sentinel "
					    "is host[:port]", shown);
		a->port = 26379;
		if (port) {
			if (parse_int(port, (size_t)(e - port), 1, 65535, &v) < 0)
				return acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": port "
						    "must be 1-65535", shown);
			a->port = (int)v;
		}
		if (!a->host[0])
			return acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": an empty "
					    "sentinel host", shown);
		p = e < hosts_end ? e + 1 : e;
	}
	if (u->nsentinels == 0)
		return acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": no sentinel "
				    "(redis+sentinel://host[:port],.../master)", shown);
	if (*hosts_end != '/' || !hosts_end[1] || hosts_end[1] == '?' || hosts_end[1] == '/')
		return acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": the name of the "
				    "primary is missing (redis+sentinel://host[:port],.../master)",
				    shown);
	const char *name = hosts_end + 1;
	size_t nn = strcspn(name, "/?");
	u->master_name = pct_decode(name, nn);
	const char *after = name + nn;
	if (*after == '/' && after[1] && after[1] != '?') {
		if (parse_int(after + 1, strcspn(after + 1, "?"), 0, 1000, &v) < 0)
			return acme_err_set(err, ACME_E_CONFIG, "redis url \"%s\": database "
					    "must be a number", shown);
		u->db = (int)v;
	}
	const char *q = strchr(after, '?');
	return q ? parse_query(q + 1, u, shown, err) : 0;
}

int redis_url_parse(const char *s, struct redis_url *u, struct acme_err *err)
{
	const char *rest;
	bool is_unix;
	long v;
	char *shown = url_redact(s);

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	u->tls_insecure = -1;
	if (strncmp(s, "redis://", 8) == 0) {
		rest = s + 8;
		is_unix = false;
	} else if (strncmp(s, "unix://", 7) == 0) {
		rest = s + 7;
		is_unix = true;
	} else if (strncmp(s, "rediss://", 9) == 0) {
		rest = s + 9;
		is_unix = false;
		u->tls = true;
	} else if (strncmp(s, "redis+sentinel://", 17) == 0 ||
		   strncmp(s, "rediss+sentinel://", 18) == 0) {
		u->tls = s[5] == 's';      /* rediss+sentinel:// */
		u->sentinel = true;
		rest = s + (u->tls ? 18 : 17);
		is_unix = false;
	} else {
		acme_err_set(err, ACME_E_CONFIG,
			     "redis url \"%s\": expected redis://[:password@]host[:port][/db], "
			     "rediss://... (TLS), redis+sentinel://host[:port],.../master "
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
		if (rest[n] == '?' && parse_query(rest + n + 1, u, shown, err) < 0)
			goto fail;
	} else if (u->sentinel) {
		if (parse_sentinels(rest, u, shown, err) < 0)
			goto fail;
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
		const char *q = strchr(hend, '?');
		if (q && parse_query(q + 1, u, shown, err) < 0)
			goto fail;
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
	free(u->tls_ca);
	free(u->tls_cert);
	free(u->tls_key);
	free(u->tls_server_name);
	free(u->master_name);
	for (size_t i = 0; i < u->nsentinels; i++)
		free(u->sentinels[i].host);
	free(u->sentinel_user);
	free(u->sentinel_password);
	memset(u, 0, sizeof(*u));
}

char *redis_url_describe(const struct redis_url *u)
{
	if (u->socket)
		return xasprintf("unix socket %s", u->socket);
	if (u->sentinel) {
		struct strbuf b = STRBUF_INIT;
		strbuf_addf(&b, "primary \"%s\" of sentinel", u->master_name);
		for (size_t i = 0; i < u->nsentinels; i++)
			strbuf_addf(&b, "%s%s:%d", i ? "," : " ", u->sentinels[i].host,
				    u->sentinels[i].port);
		if (u->tls)
			strbuf_adds(&b, " (TLS)");
		return strbuf_detach(&b, NULL);
	}
	return xasprintf("%s:%d%s", u->host, u->port, u->tls ? " (TLS)" : "");
}
