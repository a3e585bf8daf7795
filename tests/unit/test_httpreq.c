/* test_httpreq.c — the local receiver's HTTP/1.1 request parser: complete
 * and partial heads, limits, and the shapes it must refuse rather than guess
 * at (chunked bodies, folded lines, conflicting lengths, HTTP/2). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/httpreq.h"
#include "core/strbuf.h"

static int parse(const char *s, struct httpreq *r, size_t *head, int *status)
{
	const char *why = NULL;
	*status = 0;
	return httpreq_parse(r, s, strlen(s), 1000, head, status, &why);
}

static void test_simple(void **state)
{
	struct httpreq r;
	size_t head;
	int status;
	(void)state;
	const char *req = "POST /hook?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
			  "Content-Length: 2\r\nwebhook-id:   evt_1  \r\n\r\n{}";
	assert_int_equal(parse(req, &r, &head, &status), HTTPREQ_DONE);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.target, "/hook?x=1");
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.content_length, 2);
	assert_true(r.keep_alive);
	assert_string_equal(httpreq_header(&r, "WEBHOOK-ID"), "evt_1");
	assert_string_equal(httpreq_header(&r, "content-type"), "application/json");
	assert_null(httpreq_header(&r, "missing"));
	assert_int_equal(head, strlen(req) - 2);
	httpreq_release(&r);
}

static void test_incomplete_then_complete(void **state)
{
	struct httpreq r;
	size_t head;
	int status;
	(void)state;
	const char *full = "GET / HTTP/1.0\r\nA: b\r\n\r\n";
	for (size_t n = 0; n < strlen(full); n++) {
		char buf[64];
		memcpy(buf, full, n);
		const char *why;
		assert_int_equal(httpreq_parse(&r, buf, n, 10, &head, &status, &why), HTTPREQ_INCOMPLETE);
	}
	assert_int_equal(parse(full, &r, &head, &status), HTTPREQ_DONE);
	assert_false(r.keep_alive);               /* HTTP/1.0 without keep-alive */
	assert_int_equal(r.content_length, 0);
	httpreq_release(&r);
	/* bare LF line ends are accepted */
	assert_int_equal(parse("GET / HTTP/1.1\nConnection: close\n\n", &r, &head, &status),
			 HTTPREQ_DONE);
	assert_false(r.keep_alive);
	httpreq_release(&r);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r, &head, &status),
			 HTTPREQ_DONE);
	assert_true(r.keep_alive);
	httpreq_release(&r);
}

static void expect_bad(const char *req, int want)
{
	struct httpreq r;
	size_t head;
	int status;
	assert_int_equal(parse(req, &r, &head, &status), HTTPREQ_BAD);
	assert_int_equal(status, want);
}

static void test_refusals(void **state)
{
	(void)state;
	expect_bad("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
	expect_bad("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413);
	expect_bad("POST / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nBad Name: b\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nName : b\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\n: b\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400);
	expect_bad("POST / HTTP/2.0\r\n\r\n", 505);
	expect_bad("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
	expect_bad("POST /\r\n\r\n", 400);
	expect_bad("POST  / HTTP/1.1\r\n\r\n", 400);
	expect_bad("P(ST / HTTP/1.1\r\n\r\n", 400);
	/* same length twice is fine */
	struct httpreq r;
	size_t head;
	int status;
	assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
			       &r, &head, &status), HTTPREQ_DONE);
	httpreq_release(&r);
}

/* Regression: the value check compared a signed char with 0x20, so every
 * byte from 0x80 up (UTF-8, obs-text) counted as a control byte and the
 * request was refused with 400. */
static void test_non_ascii_values(void **state)
{
	struct httpreq r;
	size_t head;
	int status;
	const char *why;
	(void)state;
	const char *req = "POST / HTTP/1.1\r\nX-Name: caf\xc3\xa9 \xe2\x82\xac\r\n"
			  "X-Latin1: d\xe9j\xe0 vu\xff\r\nX-Tab: a\tb\r\n\r\n";
	assert_int_equal(parse(req, &r, &head, &status), HTTPREQ_DONE);
	assert_string_equal(httpreq_header(&r, "x-name"), "caf\xc3\xa9 \xe2\x82\xac");
	assert_string_equal(httpreq_header(&r, "x-latin1"), "d\xe9j\xe0 vu\xff");
	assert_string_equal(httpreq_header(&r, "x-tab"), "a\tb");
	httpreq_release(&r);
	/* control bytes are still refused, and so is a name that is not a token */
	expect_bad("POST / HTTP/1.1\r\nA: b\x1f\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nA: b\x7f\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nA: \x1b[31m\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);
	expect_bad("POST / HTTP/1.1\r\nX-Caf\xc3\xa9: b\r\n\r\n", 400);
	static const char nul[] = "POST / HTTP/1.1\r\nA: b\0c\r\n\r\n";
	assert_int_equal(httpreq_parse(&r, nul, sizeof(nul) - 1, 1000, &head, &status, &why),
			 HTTPREQ_BAD);
	assert_int_equal(status, 400);
}

static void test_limits(void **state)
{
	struct httpreq r;
	size_t head;
	int status;
	const char *why;
	struct strbuf sb = STRBUF_INIT;
	(void)state;
	/* a head that never ends is refused once it passes the limit */
	strbuf_adds(&sb, "GET / HTTP/1.1\r\n");
	while (sb.len <= HTTPREQ_HEAD_MAX)
		strbuf_adds(&sb, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	assert_int_equal(httpreq_parse(&r, sb.buf, sb.len, 10, &head, &status, &why), HTTPREQ_BAD);
	assert_int_equal(status, 431);
	strbuf_release(&sb);
	/* too many fields */
	strbuf_adds(&sb, "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= HTTPREQ_HEADERS_MAX; i++)
		strbuf_addf(&sb, "H%d: v\r\n", i);
	strbuf_adds(&sb, "\r\n");
	assert_int_equal(httpreq_parse(&r, sb.buf, sb.len, 10, &head, &status, &why), HTTPREQ_BAD);
	assert_int_equal(status, 431);
	strbuf_release(&sb);
	assert_string_equal(httpreq_reason(410), "Gone");
	assert_string_equal(httpreq_reason(299), "Status");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_incomplete_then_complete),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_non_ascii_values),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
