/* test_productfields.c — the product validators shared by import and `products`.
 *
 * The UTF-8 checker is compared with a slow, obviously-correct decoder over
 * every one-, two- and three-byte sequence and every four-byte sequence
 * starting with a plausible lead byte; the field validators are checked
 * value by value, messages included, since users read them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/productfields.h"

/* Reference: decode one code point the slow way; length or 0 if invalid. */
static size_t ref_decode(const unsigned char *s, size_t len)
{
	uint32_t cp;
	size_t n;

	if (len == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	else if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
		return 0;   /* overlong */
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;   /* surrogate */
	if (cp > 0x10ffff)
		return 0;
	return n;
}

static size_t ref_valid_len(const unsigned char *s, size_t len)
{
	size_t i = 0, n;
	while (i < len && (n = ref_decode(s + i, len - i)) > 0)
		i += n;
	return i;
}

static void check_same(const unsigned char *s, size_t len)
{
	size_t want = ref_valid_len(s, len);
	size_t got = product_utf8_valid_len((const char *)s, len);
	if (got != want)
		fail_msg("%02x %02x %02x %02x (len %zu): got %zu, want %zu",
		         s[0], len > 1 ? s[1] : 0, len > 2 ? s[2] : 0, len > 3 ? s[3] : 0,
		         len, got, want);
}

static void test_utf8_exhaustive(void **state)
{
	unsigned char s[16];
	(void)state;

	for (unsigned a = 0; a < 256; a++) {
		s[0] = (unsigned char)a;
		check_same(s, 1);
		for (unsigned b = 0; b < 256; b++) {
			s[1] = (unsigned char)b;
			check_same(s, 2);
			for (unsigned c = 0; c < 256; c++) {
				s[2] = (unsigned char)c;
				check_same(s, 3);
			}
		}
	}
	for (unsigned a = 0xf0; a < 0xf8; a++)
		for (unsigned b = 0x70; b < 0xd0; b++)
			for (unsigned c = 0x70; c < 0xd0; c += 7)
				for (unsigned d = 0x70; d < 0xd0; d++) {
					s[0] = (unsigned char)a, s[1] = (unsigned char)b;
					s[2] = (unsigned char)c, s[3] = (unsigned char)d;
					check_same(s, 4);
				}
	/* the eight-byte ASCII fast path, with the bad byte at every position */
	for (size_t bad = 0; bad < 16; bad++) {
		memset(s, 'a', sizeof(s));
		s[bad] = 0xff;
		assert_int_equal(product_utf8_valid_len((const char *)s, sizeof(s)), bad);
		s[bad] = 0xc3;
		if (bad + 1 < sizeof(s)) {
			s[bad + 1] = 0xa9;
			assert_int_equal(product_utf8_valid_len((const char *)s, sizeof(s)), sizeof(s));
		}
	}
}

static void test_check_text(void **state)
{
	struct acme_err err;
	(void)state;

	assert_int_equal(product_check_text("x", "abc", 3, &err), 0);
	assert_int_equal(product_check_text("x", "", 0, &err), 0);
	assert_int_equal(product_check_text("column \"notes\"", "ab\0c", 4, &err), -1);
	assert_int_equal(err.code, ACME_E_DATA);
	assert_string_equal(err.msg, "column \"notes\" contains a NUL byte (byte 3)");
	assert_int_equal(product_check_text("name", "ab\xed\xa0\x80", 5, &err), -1);
	assert_string_equal(err.msg, "name is not valid UTF-8 (byte 3)");
}

static void test_field_lookup(void **state)
{
	enum product_field f;
	(void)state;

	assert_int_equal(product_field_lookup("sku", 3, &f), 0);
	assert_int_equal(f, PRODUCT_SKU);
	assert_int_equal(product_field_lookup(" Description\t", 13, &f), 0);
	assert_int_equal(f, PRODUCT_DESCRIPTION);
	assert_int_equal(product_field_lookup("PRICE", 5, &f), 0);
	assert_int_equal(f, PRODUCT_PRICE);
	assert_int_equal(product_field_lookup("skus", 4, &f), -1);
	assert_int_equal(product_field_lookup("", 0, &f), -1);
	assert_string_equal(product_field_name(PRODUCT_ACTIVE), "active");
}

#define SKU_OK(in, want)                                                        \
	do {                                                                    \
		struct product_text t_;                                         \
		struct acme_err e_;                                             \
		assert_int_equal(product_validate_sku(in, strlen(in), &t_, &e_), 0); \
		assert_int_equal(t_.len, strlen(want));                         \
		assert_memory_equal(t_.ptr, want, t_.len);                      \
	} while (0)

#define FAILS(call, want_)                                                      \
	do {                                                                    \
		struct acme_err e_;                                             \
		acme_err_clear(&e_);                                            \
		assert_int_equal(call, -1);                                     \
		assert_int_equal(e_.code, ACME_E_DATA);                         \
		assert_string_equal(e_.msg, want_);                             \
	} while (0)

static void test_sku(void **state)
{
	struct product_text t;
	char long_sku[80];
	(void)state;

	SKU_OK("ABC-000123", "ABC-000123");
	SKU_OK("  ABC 1 \t", "ABC 1");
	SKU_OK("\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9");
	FAILS(product_validate_sku("", 0, &t, &e_), "sku is empty");
	FAILS(product_validate_sku(" \t ", 3, &t, &e_), "sku is empty");
	FAILS(product_validate_sku("A\x1b" "B", 3, &t, &e_),
	      "sku contains a control character (U+001B at byte 2)");
	FAILS(product_validate_sku("A\x7f", 2, &t, &e_),
	      "sku contains a control character (U+007F at byte 2)");
	FAILS(product_validate_sku("A\xc2\x9f", 3, &t, &e_),
	      "sku contains a control character (U+009F at byte 2)");
	FAILS(product_validate_sku("A\0", 2, &t, &e_), "sku contains a NUL byte (byte 2)");
	FAILS(product_validate_sku("\xc0\x80", 2, &t, &e_), "sku is not valid UTF-8 (byte 1)");
	/* the eight-bytes-at-a-time path: a control character at every position */
	for (size_t at = 1; at < 30; at++) {
		static const unsigned char bad[] = { 0x01, 0x1f, 0x7f };
		char buf[32], want[80];
		for (size_t k = 0; k < sizeof(bad); k++) {
			memset(buf, 'A', sizeof(buf));
			buf[at] = (char)bad[k];
			snprintf(want, sizeof(want),
			         "sku contains a control character (U+%04X at byte %zu)", bad[k], at + 1);
			FAILS(product_validate_sku(buf, 31, &t, &e_), want);
		}
		memset(buf, '~', sizeof(buf));
		buf[at] = ' ';
		assert_int_equal(product_validate_sku(buf, 31, &t, NULL), 0);
	}
	memset(long_sku, 'x', sizeof(long_sku));
	assert_int_equal(product_validate_sku(long_sku, PRODUCT_SKU_MAX, &t, NULL), 0);
	FAILS(product_validate_sku(long_sku, PRODUCT_SKU_MAX + 1, &t, &e_),
	      "sku is too long: 65 bytes (at most 64)");
}

static void test_name(void **state)
{
	struct product_text t;
	char buf[300];
	(void)state;

	assert_int_equal(product_validate_name(" Widget, large ", 15, &t, NULL), 0);
	assert_int_equal(t.len, 13);
	assert_memory_equal(t.ptr, "Widget, large", 13);
	FAILS(product_validate_name("", 0, &t, &e_), "name is empty");
	FAILS(product_validate_name("a\nb", 3, &t, &e_),
	      "name contains a control character (U+000A at byte 2)");
	memset(buf, 'n', sizeof(buf));
	assert_int_equal(product_validate_name(buf, PRODUCT_NAME_MAX, &t, NULL), 0);
	FAILS(product_validate_name(buf, PRODUCT_NAME_MAX + 1, &t, &e_),
	      "name is too long: 256 bytes (at most 255)");
	/* 128 two-byte characters: 256 bytes, too long though only 128 characters */
	for (int i = 0; i < 128; i++)
		buf[2 * i] = '\xc3', buf[2 * i + 1] = '\xa9';
	FAILS(product_validate_name(buf, 256, &t, &e_), "name is too long: 256 bytes (at most 255)");
}

static void test_description(void **state)
{
	struct product_text t;
	static char big[PRODUCT_DESCRIPTION_MAX + 1];
	(void)state;

	assert_int_equal(product_validate_description("", 0, &t, NULL), 0);
	assert_null(t.ptr);
	assert_int_equal(product_validate_description("  kept  ", 8, &t, NULL), 0);
	assert_int_equal(t.len, 8);
	assert_int_equal(product_validate_description("a\tb\r\nc", 6, &t, NULL), 0);
	FAILS(product_validate_description("a\x0c", 2, &t, &e_),
	      "description contains a control character (U+000C at byte 2)");
	memset(big, 'd', sizeof(big));
	assert_int_equal(product_validate_description(big, PRODUCT_DESCRIPTION_MAX, &t, NULL), 0);
	FAILS(product_validate_description(big, sizeof(big), &t, &e_),
	      "description is too long: 10001 bytes (at most 10000)");
}

static void test_active(void **state)
{
	static const char *const yes[] = { "true", "TRUE", "True", "t", "T", "yes", "YES", "y", "Y",
	                                   "1", " yes ", "", "  " };
	static const char *const no[] = { "false", "False", "f", "F", "no", "NO", "n", "N", "0",
	                                  "\tno" };
	bool v;
	(void)state;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		v = false;
		assert_int_equal(product_validate_active(yes[i], strlen(yes[i]), &v, NULL), 0);
		assert_true(v);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		v = true;
		assert_int_equal(product_validate_active(no[i], strlen(no[i]), &v, NULL), 0);
		assert_false(v);
	}
	FAILS(product_validate_active("on", 2, &v, &e_),
	      "active \"on\" is not a boolean (use true/false, yes/no, y/n or 1/0)");
	FAILS(product_validate_active("yess", 4, &v, &e_),
	      "active \"yess\" is not a boolean (use true/false, yes/no, y/n or 1/0)");
	FAILS(product_validate_active("2", 1, &v, &e_),
	      "active \"2\" is not a boolean (use true/false, yes/no, y/n or 1/0)");
	/* a long or binary value is cut and made printable in the message */
	FAILS(product_validate_active("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 56, &v, &e_),
	      "active \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is not a boolean "
	      "(use true/false, yes/no, y/n or 1/0)");
	FAILS(product_validate_active("a\x01\xc2\x85z", 5, &v, &e_),
	      "active \"a??z\" is not a boolean (use true/false, yes/no, y/n or 1/0)");
}

#define PRICE_OK(in, text_, cents_)                                            \
	do {                                                                    \
		struct product_price p_;                                        \
		assert_int_equal(product_validate_price(in, strlen(in), &p_, NULL), 0); \
		assert_false(p_.is_null);                                       \
		assert_string_equal(p_.text, text_);                           \
		assert_int_equal(p_.cents, cents_);                             \
	} while (0)

static void test_price(void **state)
{
	struct product_price p;
	(void)state;

	PRICE_OK("0", "0.00", 0);
	PRICE_OK("0.5", "0.50", 50);
	PRICE_OK("12.50", "12.50", 1250);
	PRICE_OK("12.5", "12.50", 1250);
	PRICE_OK("12.05", "12.05", 1205);
	PRICE_OK("12.500000", "12.50", 1250);
	PRICE_OK(".5", "0.50", 50);
	PRICE_OK("5.", "5.00", 500);
	PRICE_OK("000012", "12.00", 1200);
	PRICE_OK(" 3 ", "3.00", 300);
	PRICE_OK("-0", "0.00", 0);
	PRICE_OK("-0.00", "0.00", 0);
	PRICE_OK("9999999999.99", "9999999999.99", PRODUCT_PRICE_MAX_CENTS);
	PRICE_OK("00009999999999.99", "9999999999.99", PRODUCT_PRICE_MAX_CENTS);
	assert_int_equal(product_validate_price("", 0, &p, NULL), 0);
	assert_true(p.is_null);
	assert_int_equal(product_validate_price("  ", 2, &p, NULL), 0);
	assert_true(p.is_null);

	FAILS(product_validate_price("12,5", 4, &p, &e_), "price \"12,5\" is not a number");
	FAILS(product_validate_price("1e3", 3, &p, &e_), "price \"1e3\" is not a number");
	FAILS(product_validate_price("-1", 2, &p, &e_), "price \"-1\" is negative");
	FAILS(product_validate_price("-0.01", 5, &p, &e_), "price \"-0.01\" is negative");
	FAILS(product_validate_price("12.345", 6, &p, &e_),
	      "price \"12.345\" has more than 2 decimal places");
	FAILS(product_validate_price("12.3450x", 8, &p, &e_), "price \"12.3450x\" is not a number");
	FAILS(product_validate_price("10000000000", 11, &p, &e_),
	      "price \"10000000000\" is too large (at most 9999999999.99)");
	FAILS(product_validate_price("99999999999999999999999999999999", 32, &p, &e_),
	      "price \"99999999999999999999999999999999\" is too large (at most 9999999999.99)");
	FAILS(product_validate_price("+1", 2, &p, &e_), "price \"+1\" is not a number");
	FAILS(product_validate_price("1 000", 5, &p, &e_), "price \"1 000\" is not a number");
	FAILS(product_validate_price("1,000.00", 8, &p, &e_), "price \"1,000.00\" is not a number");
	FAILS(product_validate_price("inf", 3, &p, &e_), "price \"inf\" is not a number");
	FAILS(product_validate_price("0x10", 4, &p, &e_), "price \"0x10\" is not a number");
	FAILS(product_validate_price(".", 1, &p, &e_), "price \".\" is not a number");
	FAILS(product_validate_price("--1", 3, &p, &e_), "price \"--1\" is not a number");
	FAILS(product_validate_price("\xe2\x82\xac" "5", 4, &p, &e_),
	      "price \"\xe2\x82\xac" "5\" is not a number");
	FAILS(product_validate_price("5\xff", 2, &p, &e_), "price is not valid UTF-8 (byte 2)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_exhaustive),
		cmocka_unit_test(test_check_text),
		cmocka_unit_test(test_field_lookup),
		cmocka_unit_test(test_sku),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_description),
		cmocka_unit_test(test_active),
		cmocka_unit_test(test_price),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
