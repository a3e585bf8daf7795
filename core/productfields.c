/* productfields.c — the product validators shared by the CSV import and the
 * `products` commands; the rules and limits are in productfields.h.
 *
 * Validators look at raw bytes and never allocate: they are called once per
 * field for half a million rows, so the UTF-8 check takes ASCII eight bytes at
 * a time and everything else is a single pass. Values echoed in messages are
 * cut short and made printable so a message is always one valid UTF-8 line.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/productfields.h"

static const char *const field_names[] = {
#define X(id, name) name,
	PRODUCT_FIELDS(X)
#undef X
};

const char *product_field_name(enum product_field f)
{
	return (unsigned)f < PRODUCT__NFIELDS ? field_names[f] : "?";
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void trim(const char **s, size_t *len)
{
	const char *p = *s;
	size_t n = *len;

	while (n > 0 && is_space((unsigned char)p[0])) {
		p++;
		n--;
	}
	while (n > 0 && is_space((unsigned char)p[n - 1]))
		n--;
	*s = p;
	*len = n;
}

int product_field_lookup(const char *name, size_t len, enum product_field *out)
{
	trim(&name, &len);
	for (unsigned i = 0; i < PRODUCT__NFIELDS; i++) {
		if (strlen(field_names[i]) == len && strncasecmp(field_names[i], name, len) == 0) {
			*out = (enum product_field)i;
			return 0;
		}
	}
	return -1;
}

size_t product_utf8_valid_len(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		/* ASCII fast path, eight bytes at a time */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= len)
			break;
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		unsigned char lo = 0x80, hi = 0xbf;   /* range of the second byte */
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;            /* overlong */
			else if (c == 0xed)
				hi = 0x9f;            /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;            /* overlong */
			else if (c == 0xf4)
				hi = 0x8f;            /* above U+10FFFF */
		} else {
			return i;                     /* 80..C1 (continuation, overlong), F5..FF */
		}
		if (len - i <= need)
			return i;                     /* truncated */
		if (s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
		i += need + 1;
	}
	return len;
}

int product_check_text(const char *what, const char *s, size_t len, struct acme_err *err)
{
	const char *nul = memchr(s, '\0', len);
	if (nul)
		return acme_err_set(err, ACME_E_DATA, "%s contains a NUL byte (byte %zu)",
		                    what, (size_t)(nul - s) + 1);
	size_t ok = product_utf8_valid_len(s, len);
	if (ok < len)
		return acme_err_set(err, ACME_E_DATA, "%s is not valid UTF-8 (byte %zu)",
		                    what, ok + 1);
	return 0;
}

/* The first control character of valid UTF-8 text, except those in allow:
 * C0 (U+0000..U+001F), DEL and C1 (U+0080..U+009F, encoded C2 80..C2 9F).
 * Returns its offset and code point, or -1 when there is none. */
static long find_control(const char *str, size_t len, const char *allow, unsigned *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;

	for (size_t i = 0; i < len; i++) {
		/* fast path: eight printable ASCII bytes (0x20..0x7e) at a time */
		while (i + 8 <= len) {
			uint64_t w, del;
			memcpy(&w, s + i, 8);
			del = w ^ (ones * 0x7f);
			if ((w & high) | ((w - ones * 0x20) & ~w & high) | ((del - ones) & ~del & high))
				break;
			i += 8;
		}
		if (i >= len)
			break;
		unsigned char c = s[i];
		if (c < 0x20 || c == 0x7f) {
			if (allow && c && strchr(allow, c))
				continue;
			*cp = c;
			return (long)i;
		}
		if (c == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
			*cp = s[i + 1];
			return (long)i;
		}
	}
	return -1;
}

/* Copy a value into out as a short printable excerpt for a message: valid
 * UTF-8, control characters shown as '?', cut at about 40 bytes with "...". */
static const char *excerpt(char *out, size_t size, const char *s, size_t len)
{
	size_t o = 0, i = 0;
	const size_t max = size - 4;  /* room for "..." and NUL */

	while (i < len) {
		size_t n = product_utf8_valid_len(s + i, len - i);
		if (n == 0) {
			if (o + 1 > max)
				break;
			out[o++] = '?';
			i++;
			continue;
		}
		/* copy the valid run character by character, within max */
		size_t end = i + n;
		while (i < end) {
			unsigned char c = (unsigned char)s[i];
			size_t clen = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
			if (o + clen > max)
				goto cut;
			if (c < 0x20 || c == 0x7f ||
			    (c == 0xc2 && (unsigned char)s[i + 1] <= 0x9f)) {
				out[o++] = '?';   /* control character (C1 when 0xc2) */
			} else {
				memcpy(out + o, s + i, clen);
				o += clen;
			}
			i += clen;
		}
	}
	out[o] = '\0';
	return out;
cut:
	memcpy(out + o, "...", 4);
	return out;
}

#define EXCERPT_SIZE 48

static int check_common(const char *what, const char *s, size_t len, const char *allow,
                        struct acme_err *err)
{
	unsigned cp;
	long at;

	if (product_check_text(what, s, len, err) < 0)
		return -1;
	at = find_control(s, len, allow, &cp);
	if (at >= 0)
		return acme_err_set(err, ACME_E_DATA,
		                    "%s contains a control character (U+%04X at byte %ld)",
		                    what, cp, at + 1);
	return 0;
}

static int validate_required(const char *what, size_t max, const char *s, size_t len,
                             struct product_text *out, struct acme_err *err)
{
	if (product_check_text(what, s, len, err) < 0)
		return -1;
	trim(&s, &len);
	if (len == 0)
		return acme_err_set(err, ACME_E_DATA, "%s is empty", what);
	if (len > max)
		return acme_err_set(err, ACME_E_DATA, "%s is too long: %zu bytes (at most %zu)",
		                    what, len, max);
	if (check_common(what, s, len, NULL, err) < 0)
		return -1;
	out->ptr = s;
	out->len = len;
	return 0;
}

int product_validate_sku(const char *s, size_t len, struct product_text *out,
                         struct acme_err *err)
{
	return validate_required("sku", PRODUCT_SKU_MAX, s, len, out, err);
}

int product_validate_name(const char *s, size_t len, struct product_text *out,
                          struct acme_err *err)
{
	return validate_required("name", PRODUCT_NAME_MAX, s, len, out, err);
}

int product_validate_description(const char *s, size_t len, struct product_text *out,
                                 struct acme_err *err)
{
	if (len > PRODUCT_DESCRIPTION_MAX)
		return acme_err_set(err, ACME_E_DATA,
		                    "description is too long: %zu bytes (at most %d)",
		                    len, PRODUCT_DESCRIPTION_MAX);
	if (check_common("description", s, len, "\t\n\r", err) < 0)
		return -1;
	out->ptr = len ? s : NULL;
	out->len = len;
	return 0;
}

int product_validate_active(const char *s, size_t len, bool *out, struct acme_err *err)
{
	static const struct {
		const char *word;
		bool value;
	} words[] = {
		{ "true", true }, { "t", true }, { "yes", true }, { "y", true }, { "1", true },
		{ "false", false }, { "f", false }, { "no", false }, { "n", false }, { "0", false },
	};
	char buf[EXCERPT_SIZE];

	if (product_check_text("active", s, len, err) < 0)
		return -1;
	trim(&s, &len);
	if (len == 0) {
		*out = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i].word) == len && strncasecmp(words[i].word, s, len) == 0) {
			*out = words[i].value;
			return 0;
		}
	}
	return acme_err_set(err, ACME_E_DATA,
	                    "active \"%s\" is not a boolean (use true/false, yes/no, y/n or 1/0)",
	                    excerpt(buf, sizeof(buf), s, len));
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "1250" -> "12.50", without printf: this runs once per imported row. */
static void format_cents(char out[PRODUCT_PRICE_TEXT_MAX], int64_t cents)
{
	char tmp[24];
	size_t n = 0, o = 0;
	int64_t units = cents / 100;

	do {
		tmp[n++] = (char)('0' + units % 10);
		units /= 10;
	} while (units > 0);
	while (n > 0)
		out[o++] = tmp[--n];
	out[o++] = '.';
	out[o++] = (char)('0' + cents % 100 / 10);
	out[o++] = (char)('0' + cents % 10);
	out[o] = '\0';
}

int product_validate_price(const char *s, size_t len, struct product_price *out,
                           struct acme_err *err)
{
	const char *raw;
	size_t raw_len, i = 0, int_digits = 0, frac_digits = 0;
	bool negative = false, big = false;
	int64_t units = 0, cents = 0;
	char buf[EXCERPT_SIZE];

	if (product_check_text("price", s, len, err) < 0)
		return -1;
	trim(&s, &len);
	raw = s;
	raw_len = len;
	out->is_null = false;
	out->cents = 0;
	out->text[0] = '\0';
	if (len == 0) {
		out->is_null = true;
		return 0;
	}
	if (s[0] == '-') {
		negative = true;
		i++;
	}
	/* integer part: leading zeros do not count towards the digit limit */
	for (; i < len && is_digit(s[i]); i++) {
		if (int_digits == 0 && s[i] == '0')
			continue;
		if (++int_digits > PRODUCT_PRICE_INT_DIGITS)
			big = true;
		else
			units = units * 10 + (s[i] - '0');
	}
	bool any_digit = i > (negative ? 1u : 0u);
	if (i < len && s[i] == '.') {
		i++;
		for (; i < len && is_digit(s[i]); i++, frac_digits++) {
			any_digit = true;
			if (frac_digits < 2)
				cents = cents * 10 + (s[i] - '0');
			else if (s[i] != '0')
				goto too_precise;
		}
	}
	if (i != len || !any_digit)
		return acme_err_set(err, ACME_E_DATA, "price \"%s\" is not a number",
		                    excerpt(buf, sizeof(buf), raw, raw_len));
	if (frac_digits == 1)
		cents *= 10;
	if (big)
		return acme_err_set(err, ACME_E_DATA,
		                    "price \"%s\" is too large (at most 9999999999.99)",
		                    excerpt(buf, sizeof(buf), raw, raw_len));
	cents += units * 100;
	if (negative && cents != 0)
		return acme_err_set(err, ACME_E_DATA, "price \"%s\" is negative",
		                    excerpt(buf, sizeof(buf), raw, raw_len));
	out->cents = cents;
	format_cents(out->text, cents);
	return 0;

too_precise:
	/* still say "not a number" if the rest is garbage */
	for (; i < len && is_digit(s[i]); i++)
		;
	if (i != len)
		return acme_err_set(err, ACME_E_DATA, "price \"%s\" is not a number",
		                    excerpt(buf, sizeof(buf), raw, raw_len));
	return acme_err_set(err, ACME_E_DATA, "price \"%s\" has more than 2 decimal places",
	                    excerpt(buf, sizeof(buf), raw, raw_len));
}
