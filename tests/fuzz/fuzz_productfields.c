/* fuzz_productfields.c — libFuzzer target for the product field validators
 * (core/productfields.h).
 *
 * The first byte picks the validator; the rest is the raw value (any bytes,
 * NULs included). Checked, as productfields.h promises:
 *   - product_utf8_valid_len() agrees with an independent strict decoder;
 *   - an accepted sku/name is a trimmed slice of the input, within its limit,
 *     valid UTF-8 without NUL or control characters, and validating it again
 *     gives it back unchanged (normalisation is idempotent);
 *   - an accepted description is the input verbatim (NULL when empty);
 *   - an accepted price has cents within NUMERIC(12,2), its text is exactly
 *     the cents printed as "I.CC", and that text validates to the same cents;
 *   - active accepts exactly the documented words (any case, trimmed);
 *   - a refusal is ACME_E_DATA with a one-line message naming the field.
 */
#include <ctype.h>
#include <stdbool.h>
#include <strings.h>

#include "core/productfields.h"
#include "tests/fuzz/fuzz.h"

/* Reference: length of the longest valid strict UTF-8 prefix. */
static size_t ref_utf8_len(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		unsigned cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return i;
		}
		if (i + n >= len)      /* truncated */
			return i;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return i;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* No C0, DEL or C1 control (C1 is U+0080..U+009F: 0xc2 0x80..0x9f). */
static bool no_controls(const char *s, size_t len, bool allow_tab_nl)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			if (allow_tab_nl && (c == '\t' || c == '\r' || c == '\n'))
				continue;
			return false;
		}
		if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f)
			return false;
	}
	return true;
}

static void check_refusal(const struct acme_err *err, const char *field)
{
	CHECK(err->code == ACME_E_DATA);
	CHECK(err->msg[0] != '\0');
	CHECK(fuzz_one_line(err->msg));
	CHECK(strstr(err->msg, field) != NULL);
}

static void check_trimmed(const char *in, size_t len, const struct product_text *t, size_t max,
			  int (*again)(const char *, size_t, struct product_text *, struct acme_err *))
{
	struct product_text t2;
	struct acme_err err;
	CHECK(t->ptr != NULL);
	CHECK(t->ptr >= in && t->ptr + t->len <= in + len);
	CHECK(t->len > 0 && t->len <= max);
	CHECK(!is_ws(t->ptr[0]) && !is_ws(t->ptr[t->len - 1]));
	CHECK(memchr(t->ptr, '\0', t->len) == NULL);
	CHECK(product_utf8_valid_len(t->ptr, t->len) == t->len);
	CHECK(no_controls(t->ptr, t->len, false));
	/* everything cut off was whitespace */
	for (const char *p = in; p < t->ptr; p++)
		CHECK(is_ws(*p));
	for (const char *p = t->ptr + t->len; p < in + len; p++)
		CHECK(is_ws(*p));
	CHECK(again(t->ptr, t->len, &t2, &err) == 0);
	CHECK(t2.ptr == t->ptr && t2.len == t->len);
}

static void fuzz_price(const char *s, size_t len)
{
	struct product_price p, p2;
	struct acme_err err;
	char buf[32];

	if (product_validate_price(s, len, &p, &err) < 0) {
		check_refusal(&err, "price");
		return;
	}
	if (p.is_null) {
		CHECK(p.text[0] == '\0');
		for (size_t i = 0; i < len; i++)
			CHECK(is_ws(s[i]));
		return;
	}
	CHECK(p.cents >= 0 && p.cents <= PRODUCT_PRICE_MAX_CENTS);
	snprintf(buf, sizeof(buf), "%lld.%02lld", (long long)(p.cents / 100),
		 (long long)(p.cents % 100));
	CHECK(strcmp(buf, p.text) == 0);
	CHECK(product_validate_price(p.text, strlen(p.text), &p2, &err) == 0);
	CHECK(!p2.is_null && p2.cents == p.cents && strcmp(p2.text, p.text) == 0);
	/* only digits, one point, an optional leading "-0" case and blanks */
	for (size_t i = 0; i < len; i++)
		CHECK(isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == '-' || is_ws(s[i]));
}

static void fuzz_active(const char *s, size_t len)
{
	static const char *const yes[] = { "true", "t", "yes", "y", "1", "" };
	static const char *const no[] = { "false", "f", "no", "n", "0" };
	struct acme_err err;
	bool v;
	size_t b = 0, e = len;
	while (b < e && is_ws(s[b]))
		b++;
	while (e > b && is_ws(s[e - 1]))
		e--;
	int want = -1;
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		if (strlen(yes[i]) == e - b && strncasecmp(yes[i], s + b, e - b) == 0)
			want = 1;
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
		if (strlen(no[i]) == e - b && strncasecmp(no[i], s + b, e - b) == 0)
			want = 0;
	if (memchr(s, '\0', len))
		want = -1;
	int rc = product_validate_active(s, len, &v, &err);
	if (want < 0) {
		CHECK(rc < 0);
		check_refusal(&err, "active");
	} else {
		CHECK(rc == 0 && v == (want == 1));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct product_text t;
	struct acme_err err;
	enum product_field f;

	if (size < 1)
		return 0;
	unsigned which = data[0] % 7;
	/* a copy of exactly the value, so ASan sees any read past its end */
	size_t len = size - 1;
	char *s = malloc(len ? len : 1);
	CHECK(s != NULL);
	memcpy(s, data + 1, len);

	size_t valid = product_utf8_valid_len(s, len);
	CHECK(valid == ref_utf8_len((const unsigned char *)s, len));

	switch (which) {
	case 0:
		if (product_validate_sku(s, len, &t, &err) == 0)
			check_trimmed(s, len, &t, PRODUCT_SKU_MAX, product_validate_sku);
		else
			check_refusal(&err, "sku");
		break;
	case 1:
		if (product_validate_name(s, len, &t, &err) == 0)
			check_trimmed(s, len, &t, PRODUCT_NAME_MAX, product_validate_name);
		else
			check_refusal(&err, "name");
		break;
	case 2:
		if (product_validate_description(s, len, &t, &err) == 0) {
			CHECK(len <= PRODUCT_DESCRIPTION_MAX);
			CHECK(valid == len && memchr(s, '\0', len) == NULL);
			CHECK(no_controls(s, len, true));
			if (len == 0)
				CHECK(t.ptr == NULL);
			else
				CHECK(t.ptr == s && t.len == len);
		} else {
			check_refusal(&err, "description");
		}
		break;
	case 3:
		fuzz_active(s, len);
		break;
	case 4:
	case 5:
		fuzz_price(s, len);
		break;
	case 6:
		if (product_field_lookup(s, len, &f) == 0) {
			const char *name = product_field_name(f);
			CHECK(name != NULL);
			CHECK(product_field_lookup(name, strlen(name), &f) == 0);
			CHECK(strcmp(product_field_name(f), name) == 0);
		}
		if (product_check_text("x", s, len, &err) == 0)
			CHECK(valid == len && memchr(s, '\0', len) == NULL);
		else
			CHECK(err.code == ACME_E_DATA && fuzz_one_line(err.msg));
		break;
	}
	free(s);
	return 0;
}
