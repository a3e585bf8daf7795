/* fuzz_httpreq.c — libFuzzer target for the webhook receiver's request-head
 * parser (core/httpreq.h, used by core/httpd.c for `webhooks listen`).
 *
 * The first byte picks the body limit; the rest is what a client sent.
 * Checked, as httpreq.h promises:
 *   - a refusal is one of 400, 413, 431, 501, 505 with a reason, and leaves
 *     nothing allocated (LeakSanitizer);
 *   - a parsed head ends on its empty line within HTTPREQ_HEAD_MAX bytes;
 *     method and header names are tokens, the target and values carry no
 *     control bytes, values are trimmed; at most HTTPREQ_HEADERS_MAX fields;
 *     no Transfer-Encoding; Content-Length within the limit and equal to the
 *     header's value; every header is found by name;
 *   - the verdict does not depend on how the bytes arrived: the head alone
 *     parses the same, any shorter prefix is incomplete, and bytes after the
 *     head (the body, a pipelined request) change nothing;
 *   - the request written back out (method, target, version, fields) parses
 *     to the same request.
 */
#include <ctype.h>
#include <stdbool.h>
#include <strings.h>

#include "core/httpreq.h"
#include "core/strbuf.h"
#include "tests/fuzz/fuzz.h"

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

static void check_done(const struct httpreq *r, const char *buf, size_t len, size_t head_len,
		       long long body_max)
{
	CHECK(head_len > 0 && head_len <= len && head_len <= HTTPREQ_HEAD_MAX);
	CHECK(buf[head_len - 1] == '\n');
	CHECK(is_token(r->method));
	CHECK(r->target && r->target[0]);
	for (const char *c = r->target; *c; c++)
		CHECK((unsigned char)*c > 0x20 && *c != 0x7f);
	CHECK(r->minor == 0 || r->minor == 1);
	CHECK(r->nheaders <= HTTPREQ_HEADERS_MAX);
	CHECK(r->content_length >= 0 && r->content_length <= body_max);
	CHECK(httpreq_header(r, "transfer-encoding") == NULL);
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *v = r->headers[i].value;
		size_t n = strlen(v);
		CHECK(is_token(r->headers[i].name));
		CHECK(httpreq_header(r, r->headers[i].name) != NULL);
		if (n)
			CHECK(v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t');
		for (size_t k = 0; k < n; k++)
			CHECK(((unsigned char)v[k] >= 0x20 || v[k] == '\t') && v[k] != 0x7f);
		if (strcasecmp(r->headers[i].name, "content-length") == 0)
			CHECK(strtoll(v, NULL, 10) == r->content_length);
	}
}

static bool same(const struct httpreq *a, const struct httpreq *b)
{
	if (strcmp(a->method, b->method) || strcmp(a->target, b->target) || a->minor != b->minor ||
	    a->nheaders != b->nheaders || a->content_length != b->content_length ||
	    a->keep_alive != b->keep_alive)
		return false;
	for (size_t i = 0; i < a->nheaders; i++)
		if (strcmp(a->headers[i].name, b->headers[i].name) ||
		    strcmp(a->headers[i].value, b->headers[i].value))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long long limits[] = { 0, 10, 1 << 20, 1LL << 40 };
	struct httpreq r, r2;
	size_t head_len = 0, head_len2 = 0;
	int status = 0, status2 = 0;
	const char *why = NULL, *why2 = NULL;

	if (size < 1)
		return 0;
	long long body_max = limits[data[0] & 3];
	size_t len = size - 1;
	char *buf = malloc(len ? len : 1);     /* exactly len: ASan sees overreads */
	CHECK(buf != NULL);
	memcpy(buf, data + 1, len);

	int rc = httpreq_parse(&r, buf, len, body_max, &head_len, &status, &why);
	CHECK(rc == HTTPREQ_INCOMPLETE || rc == HTTPREQ_DONE || rc == HTTPREQ_BAD);
	if (rc == HTTPREQ_BAD) {
		CHECK(status == 400 || status == 413 || status == 431 || status == 501 ||
		      status == 505);
		CHECK(why && why[0]);
		CHECK(httpreq_reason(status)[0]);
	} else if (rc == HTTPREQ_INCOMPLETE) {
		CHECK(len <= HTTPREQ_HEAD_MAX);
	} else {
		check_done(&r, buf, len, head_len, body_max);

		/* the head alone: the same request */
		CHECK(httpreq_parse(&r2, buf, head_len, body_max, &head_len2, &status2, &why2) ==
		      HTTPREQ_DONE);
		CHECK(head_len2 == head_len && same(&r, &r2));
		httpreq_release(&r2);
		/* one byte short of the head: not yet */
		CHECK(httpreq_parse(&r2, buf, head_len - 1, body_max, &head_len2, &status2, &why2) ==
		      HTTPREQ_INCOMPLETE);

		/* written back out */
		struct strbuf out = STRBUF_INIT;
		strbuf_addf(&out, "%s %s HTTP/1.%d\r\n", r.method, r.target, r.minor);
		for (size_t i = 0; i < r.nheaders; i++)
			strbuf_addf(&out, "%s: %s\r\n", r.headers[i].name, r.headers[i].value);
		strbuf_adds(&out, "\r\n");
		CHECK(httpreq_parse(&r2, out.buf, out.len, body_max, &head_len2, &status2, &why2) ==
		      HTTPREQ_DONE);
		CHECK(head_len2 == out.len && same(&r, &r2));
		httpreq_release(&r2);
		strbuf_release(&out);
		httpreq_release(&r);
	}
	free(buf);
	return 0;
}
