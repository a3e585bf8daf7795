/* test_err.c — error messages and cut text stay valid UTF-8: acme_err_set
 * and acme_err_prefix cut long messages between characters, utf8_trim_partial
 * finds where, and utf8_clean replaces bytes that are not UTF-8.
 * Regression: a message over ACME_ERR_MSG_MAX bytes was cut in the middle of
 * a character; as a job's error PostgreSQL refused it when mirrored to
 * jobs.error, and the whole batch of mirror writes with it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/productfields.h"
#include "core/utf8.h"

static int valid(const char *s)
{
	return product_utf8_valid_len(s, strlen(s)) == strlen(s);
}

static void test_trim_partial(void **state)
{
	(void)state;
	/* é = c3 a9, € = e2 82 ac, 😀 = f0 9f 98 80 */
	assert_int_equal(utf8_trim_partial("ab", 2), 2);
	assert_int_equal(utf8_trim_partial("", 0), 0);
	assert_int_equal(utf8_trim_partial("a\xc3\xa9", 3), 3);
	assert_int_equal(utf8_trim_partial("a\xc3", 2), 1);
	assert_int_equal(utf8_trim_partial("a\xe2\x82\xac", 4), 4);
	assert_int_equal(utf8_trim_partial("a\xe2\x82", 3), 1);
	assert_int_equal(utf8_trim_partial("a\xe2", 2), 1);
	assert_int_equal(utf8_trim_partial("a\xf0\x9f\x98\x80", 5), 5);
	assert_int_equal(utf8_trim_partial("a\xf0\x9f\x98", 4), 1);
	assert_int_equal(utf8_trim_partial("\xf0\x9f", 2), 0);
	/* not a sequence cut short: left alone (utf8_clean's job) */
	assert_int_equal(utf8_trim_partial("a\x80\x80\x80\x80", 5), 5);
	assert_int_equal(utf8_trim_partial("a\xff", 2), 2);
	assert_int_equal(utf8_trim_partial("a\xa9", 2), 2);
}

static void test_clean(void **state)
{
	(void)state;
	static const char mixed[] = "caf\xe9 \xff cr\xc3\xa8me \xe2\x82";
	char *s = utf8_clean(mixed, sizeof(mixed) - 1, 0);
	assert_string_equal(s, "caf? ? cr\xc3\xa8me ??");
	free(s);
	s = utf8_clean("ok \xc3\xa9", 5, 0);
	assert_string_equal(s, "ok \xc3\xa9");
	free(s);
	/* overlong, surrogate, above U+10FFFF */
	static const char odd[] = "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80";
	s = utf8_clean(odd, sizeof(odd) - 1, 0);
	assert_true(valid(s));
	assert_null(strchr(s, '\xc0'));
	free(s);
	/* NUL would end the string: a space */
	s = utf8_clean("a\0b", 3, 0);
	assert_string_equal(s, "a b");
	free(s);
	/* cut between characters */
	s = utf8_clean("ab\xc3\xa9", 4, 3);
	assert_string_equal(s, "ab");
	free(s);
	s = utf8_clean("ab\xc3\xa9", 4, 4);
	assert_string_equal(s, "ab\xc3\xa9");
	free(s);
	s = utf8_clean("\xe2\x82\xac\xe2\x82\xac", 6, 5);
	assert_string_equal(s, "\xe2\x82\xac");
	free(s);
}

static void test_err_cut_between_characters(void **state)
{
	struct acme_err err;
	char text[3000];
	(void)state;
	/* odd offsets: "x" then two-byte characters, so the cut falls inside one */
	text[0] = 'x';
	for (size_t i = 1; i + 2 < sizeof(text); i += 2) {
		text[i] = '\xc3';
		text[i + 1] = '\xa9';
		text[i + 2] = '\0';
	}
	acme_err_set(&err, ACME_E_FAILURE, "%s", text);
	assert_true(valid(err.msg));
	assert_true(strlen(err.msg) >= ACME_ERR_MSG_MAX - 4);
	assert_int_equal(strncmp(err.msg, text, strlen(err.msg)), 0);

	acme_err_set(&err, ACME_E_FAILURE, "y%s", text);
	assert_true(valid(err.msg));
	assert_true(strlen(err.msg) >= ACME_ERR_MSG_MAX - 4);

	/* the prefix moves the cut */
	acme_err_set(&err, ACME_E_FAILURE, "%s", text);
	acme_err_prefix(&err, "job %s", "j1");
	assert_true(valid(err.msg));
	assert_int_equal(strncmp(err.msg, "job j1: x\xc3\xa9", 11), 0);
	acme_err_prefix(&err, "z");
	assert_true(valid(err.msg));

	/* a long prefix with multi-byte characters */
	acme_err_set(&err, ACME_E_FAILURE, "short");
	acme_err_prefix(&err, "%s", text + 1);
	assert_true(valid(err.msg));

	/* three- and four-byte characters too */
	for (size_t i = 0; i + 4 < sizeof(text); i += 4)
		memcpy(text + i, "\xf0\x9f\x98\x80", 5);
	for (int shift = 0; shift < 4; shift++) {
		acme_err_set(&err, ACME_E_FAILURE, "%.*s%s", shift, "abc", text);
		assert_true(valid(err.msg));
	}
	/* short messages are untouched, trailing newline dropped as before */
	acme_err_set(&err, ACME_E_FAILURE, "caf\xc3\xa9\n");
	assert_string_equal(err.msg, "caf\xc3\xa9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trim_partial),
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_err_cut_between_characters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
