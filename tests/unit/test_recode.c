/* test_recode.c — `import --encoding`: conversion to UTF-8 through a fixed
 * buffer whatever the caller's buffer size, and the UTF-8 check that says a
 * file looks like Windows-1252 (issue 11, point 10).
 * Regression: a Windows-1252 file (Excel's CSV) had every row with an accent
 * rejected, and nothing said why. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/recode.h"
#include "core/strbuf.h"

/* Everything recode_read gives for input in, read `chunk` bytes at a time;
 * *rc gets the last return (0, or -1 with err). Owned. */
static char *through(const char *in, size_t len, enum recode_encoding enc, size_t chunk,
		     struct recode **keep, int *rc, struct acme_err *err)
{
	FILE *f = tmpfile();
	struct strbuf out = STRBUF_INIT;
	char buf[8192];
	assert_non_null(f);
	assert_int_equal(fwrite(in, 1, len, f), len);
	rewind(f);
	struct recode *r = recode_new(fileno(f), enc, "in.csv", err);
	assert_non_null(r);
	ssize_t n;
	while ((n = recode_read(r, buf, chunk, err)) > 0)
		strbuf_add(&out, buf, (size_t)n);
	*rc = (int)n;
	if (keep)
		*keep = r;
	else
		recode_free(r);
	fclose(f);
	return strbuf_detach(&out, NULL);
}

static void test_windows_1252(void **state)
{
	struct acme_err err;
	int rc;
	(void)state;
	static const char in[] = "sku,name\nA,Caf\xe9 \x93q\x94 \x80\n";
	static const char want[] = "sku,name\nA,Caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d \xe2\x82\xac\n";
	/* one byte at a time (E2BIG for every multibyte character), and whole */
	for (size_t chunk = 1; chunk <= 8192; chunk = chunk < 8 ? chunk + 1 : chunk * 16) {
		char *got = through(in, sizeof(in) - 1, RECODE_WINDOWS_1252, chunk < 3 ? 3 : chunk,
				    NULL, &rc, &err);
		assert_int_equal(rc, 0);
		assert_string_equal(got, want);
		free(got);
	}
	char *got = through("a\nb\x81", 4, RECODE_WINDOWS_1252, 4096, NULL, &rc, &err);
	assert_int_equal(rc, -1);
	assert_string_equal(err.msg, "in.csv: line 2: byte 0x81 is not a Windows-1252 character");
	free(got);
	got = through("Gr\xfcn", 4, RECODE_LATIN1, 4096, NULL, &rc, &err);
	assert_string_equal(got, "Gr\xc3\xbcn");
	free(got);
}

/* larger than the fixed input buffer */
static void test_big(void **state)
{
	struct acme_err err;
	int rc;
	(void)state;
	size_t n = 3 * RECODE_BUF + 7;
	char *in = malloc(n);
	for (size_t i = 0; i < n; i++)
		in[i] = i % 10 == 9 ? '\n' : (char)0xe9;
	char *got = through(in, n, RECODE_WINDOWS_1252, 1000, NULL, &rc, &err);
	assert_int_equal(rc, 0);
	size_t lines = n / 10;
	assert_int_equal(strlen(got), (n - lines) * 2 + lines);
	free(got);
	free(in);
}

static void check(const char *in, bool invalid, long long line, unsigned byte, bool cp1252)
{
	struct acme_err err;
	struct recode *r;
	int rc;
	long long l;
	unsigned b;
	bool c;
	for (size_t chunk = 1; chunk <= 4096; chunk *= 4) {
		char *got = through(in, strlen(in), RECODE_UTF8, chunk, &r, &rc, &err);
		assert_string_equal(got, in);   /* unchanged */
		assert_int_equal(recode_invalid_utf8(r, &l, &b, &c), invalid);
		if (invalid) {
			assert_int_equal(l, line);
			assert_int_equal(b, byte);
			assert_int_equal(c, cp1252);
		}
		recode_free(r);
		free(got);
	}
}

static void test_utf8_check(void **state)
{
	(void)state;
	check("sku,name\nA,Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n", false, 0, 0, false);
	check("sku,name\nA,Caf\xe9\nB,\x93q\x94\n", true, 2, 0xe9, true);
	check("a\n\xc3", true, 2, 0xc3, true);             /* cut at the end */
	check("a\n\xe9\xc3\xa9\n\x81", true, 2, 0xe9, false); /* 0x81 is no Windows-1252 */
	check("\xed\xa0\x80", true, 1, 0xed, true);          /* a surrogate */
	check("\xc0\xaf", true, 1, 0xc0, true);              /* overlong */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_windows_1252),
		cmocka_unit_test(test_big),
		cmocka_unit_test(test_utf8_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
