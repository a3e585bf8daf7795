/* utf8.c — cutting and cleaning text so it stays valid UTF-8; see utf8.h.
 * The validity check is the importer's (product_utf8_valid_len), so what the
 * catalog accepts and what is written here agree. */
#include <string.h>

#include "core/productfields.h"
#include "core/utf8.h"
#include "core/xalloc.h"

size_t utf8_trim_partial(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t k = n;
	/* back over at most three continuation bytes to the byte before them */
	while (k > 0 && n - k < 3 && (s[k - 1] & 0xc0) == 0x80)
		k--;
	if (k == 0)
		return n;
	unsigned char lead = s[k - 1];
	size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	if (lead < 0xc0 || lead > 0xf4)
		return n;               /* ASCII, a stray continuation byte, or never a lead */
	return n - (k - 1) < want ? k - 1 : n;
}

char *utf8_clean(const char *s, size_t len, size_t max)
{
	char *out = xmalloc(len + 1);
	size_t o = 0, i = 0;
	while (i < len) {
		size_t ok = product_utf8_valid_len(s + i, len - i);
		memcpy(out + o, s + i, ok);
		o += ok;
		i += ok;
		if (i < len) {
			out[o++] = '?';
			i++;
		}
	}
	for (size_t k = 0; k < o; k++)
		if (out[k] == '\0')
			out[k] = ' ';     /* valid UTF-8, but it would end the C string */
	/* valid now, so a cut only has to avoid continuation bytes */
	if (max && o > max) {
		o = max;
		while (o > 0 && ((unsigned char)out[o] & 0xc0) == 0x80)
			o--;
	}
	out[o] = '\0';
	return out;
}
