/* fuzz_url.c — libFuzzer target for connection URLs (core/url.h):
 * url_redact() and redis_url_parse().
 *
 * Checked, as url.h promises:
 *   - the password redis_url_parse() finds is hidden by url_redact(): when it
 *     appears once in the URL as written, it no longer appears after
 *     redaction (config show, logs and error messages print the redacted
 *     form, so a password the parser reads but the redactor misses leaks);
 *   - a password= query parameter's value is hidden;
 *   - a parsed URL has a port 1-65535, a database 0-1000, a host or an
 *     absolute socket path, never both;
 *   - a refusal is ACME_E_CONFIG and its message does not carry the password
 *     either (it quotes the redacted URL).
 */
#include <stdbool.h>

#include "core/url.h"
#include "tests/fuzz/fuzz.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Is secret absent from the redacted text? Unknowable when the secret also
 * appears elsewhere in the URL (a password "db" in host "db"), so only
 * judged when it appears exactly once. */
static bool hidden(const char *url, const char *red, const char *secret)
{
	if (!secret || !secret[0] || strchr(secret, '*'))   /* may meet the "***" */
		return true;
	if (count(url, secret) != 1)
		return true;            /* also elsewhere: cannot tell */
	return strstr(red, secret) == NULL;
}

/* When the secret is written literally (not %-encoded) where the parser took
 * it from, the redacted text must not show it. Judged only at that place: the
 * same text elsewhere (inside a bracketed host, say) is not the secret. */
static void hidden_at(const char *url, const char *red, const char *at, size_t len,
		      const char *secret)
{
	if (at && len == strlen(secret) && memcmp(at, secret, len) == 0)
		CHECK(hidden(url, red, secret));
}

/* the password of the userinfo: after the first ':' of what precedes the
 * first '@' after the scheme */
static void hidden_userinfo(const char *url, const char *red, const char *secret)
{
	const char *a = strstr(url, "://");
	if (!a)
		return;
	a += 3;
	const char *end = strchr(a, '@');
	const char *c = end ? memchr(a, ':', (size_t)(end - a)) : NULL;
	if (c)
		hidden_at(url, red, c + 1, (size_t)(end - c - 1), secret);
}

/* a query parameter NAME=value, its value up to the next '&' or '#' */
static void hidden_param(const char *url, const char *red, const char *name, const char *secret)
{
	size_t n = strlen(name);
	for (const char *p = strstr(url, name); p; p = strstr(p + 1, name))
		if (p > url && (p[-1] == '?' || p[-1] == '&') && p[n] == '=')
			hidden_at(url, red, p + n + 1, strcspn(p + n + 1, "&#"), secret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct redis_url u;
	struct acme_err err;

	if (size > 512)
		return 0;
	char *s = fuzz_str(data, size);
	char *red = url_redact(s);

	/* password= parameters */
	const char *pw = strstr(s, "password=");
	if (pw && (pw == s || pw[-1] == '?' || pw[-1] == '&')) {
		char val[64];
		size_t n = strcspn(pw + 9, "& #'@:");    /* '@', ':': userinfo overlaps */
		if (n >= 4 && n < sizeof(val)) {
			memcpy(val, pw + 9, n);
			val[n] = '\0';
			CHECK(hidden(s, red, val));
		}
	}

	if (redis_url_parse(s, &u, &err) == 0) {
		CHECK(u.port >= 1 && u.port <= 65535);
		CHECK(u.db >= 0 && u.db <= 1000);
		if (u.sentinel) {
			/* the primary is found at connect time: only the sentinels */
			CHECK(u.host == NULL && u.socket == NULL);
			CHECK(u.nsentinels >= 1 && u.nsentinels <= REDIS_URL_MAX_SENTINELS);
			CHECK(u.master_name != NULL);
			for (size_t i = 0; i < u.nsentinels; i++)
				CHECK(u.sentinels[i].host && u.sentinels[i].host[0] &&
				      u.sentinels[i].port >= 1 && u.sentinels[i].port <= 65535);
			if (u.sentinel_password && strlen(u.sentinel_password) >= 4 &&
			    !strpbrk(u.sentinel_password, "%& #'@:"))
				hidden_param(s, red, "sentinel_password", u.sentinel_password);
		} else {
			CHECK((u.host == NULL) != (u.socket == NULL));
			CHECK(u.nsentinels == 0 && !u.master_name && !u.sentinel_password);
		}
		/* TLS options only with rediss:// */
		CHECK(u.tls || (!u.tls_ca && !u.tls_cert && !u.tls_key && !u.tls_server_name &&
				u.tls_insecure == -1));
		CHECK(u.tls_insecure >= -1 && u.tls_insecure <= 1);
		if (u.socket)
			CHECK(u.socket[0] == '/');
		if (u.password)
			hidden_userinfo(s, red, u.password);
		char *d = redis_url_describe(&u);
		CHECK(d != NULL && d[0] != '\0');
		free(d);
		redis_url_release(&u);
	} else {
		CHECK(err.code == ACME_E_CONFIG && err.msg[0]);
		/* the message quotes the URL redacted (or not at all) */
		CHECK(strstr(err.msg, red) || !strstr(err.msg, s) || strcmp(red, s) == 0 ||
		      strlen(err.msg) >= ACME_ERR_MSG_MAX - 1);
	}
	free(red);
	free(s);
	return 0;
}
