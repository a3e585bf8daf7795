/* recode.c — an import file's bytes as UTF-8, converted by iconv or checked
 * on the way; see recode.h.
 *
 * Conversion reads the file RECODE_BUF bytes at a time into a fixed buffer
 * and lets iconv(3) write straight into the caller's buffer; what iconv left
 * (the caller's buffer was full, or a multibyte sequence was cut by the end
 * of the buffer) stays for the next call. The two encodings we offer are one
 * byte per character, but the loop does not rely on it.
 *
 * The UTF-8 check is a small state machine over the bytes as they pass (the
 * ranges of RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF), so a sequence cut between two reads is judged as a whole. When a
 * sequence breaks, its first byte is what a Windows-1252 file would have
 * there (é is 0xe9 followed by plain text): if every such byte is one that
 * Windows-1252 defines (all but 0x81, 0x8d, 0x8f, 0x90 and 0x9d), the file
 * "looks like" Windows-1252.
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/recode.h"
#include "core/xalloc.h"

struct recode {
	int fd;
	enum recode_encoding enc;
	const char *what;
	iconv_t cd;                 /* (iconv_t)-1 for RECODE_UTF8 */
	unsigned char in[RECODE_BUF];
	size_t in_off, in_len;      /* unconverted bytes: in[in_off .. in_off + in_len) */
	bool eof;
	long long line;             /* line of the next input byte, 1-based */

	/* the UTF-8 check */
	int need;                   /* continuation bytes still expected */
	unsigned char lo, hi;       /* the range of the next continuation byte */
	unsigned char lead;         /* first byte of the sequence in progress */
	long long lead_line;
	bool invalid, not_cp1252;
	long long bad_line;
	unsigned bad_byte;
};

static const struct {
	const char *name;
	enum recode_encoding enc;
} names[] = {
	{ "utf-8", RECODE_UTF8 }, { "utf8", RECODE_UTF8 },
	{ "windows-1252", RECODE_WINDOWS_1252 }, { "cp1252", RECODE_WINDOWS_1252 },
	{ "latin1", RECODE_LATIN1 }, { "iso-8859-1", RECODE_LATIN1 },
};

int recode_parse(const char *name, enum recode_encoding *out, struct acme_err *err)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*out = names[i].enc;
			return 0;
		}
	}
	return acme_err_set(err, ACME_E_USAGE, "--encoding \"%s\": not one of " RECODE_NAMES, name);
}

const char *recode_name(enum recode_encoding e)
{
	return e == RECODE_WINDOWS_1252 ? "windows-1252" : e == RECODE_LATIN1 ? "latin1" : "utf-8";
}

struct recode *recode_new(int fd, enum recode_encoding enc, const char *what,
			  struct acme_err *err)
{
	struct recode *r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->enc = enc;
	r->what = what;
	r->line = 1;
	r->cd = (iconv_t)-1;
	if (enc != RECODE_UTF8) {
		r->cd = iconv_open("UTF-8", enc == RECODE_WINDOWS_1252 ? "WINDOWS-1252" : "ISO-8859-1");
		if (r->cd == (iconv_t)-1) {
			acme_err_set(err, ACME_E_FAILURE, "--encoding %s: iconv: %s", recode_name(enc),
				     strerror(errno));
			free(r);
			return NULL;
		}
	}
	return r;
}

/* ---- the UTF-8 check --------------------------------------------------------------- */

static void broken(struct recode *r, unsigned char b, long long line)
{
	if (!r->invalid) {
		r->invalid = true;
		r->bad_line = line;
		r->bad_byte = b;
	}
	if (b == 0x81 || b == 0x8d || b == 0x8f || b == 0x90 || b == 0x9d || b < 0x80)
		r->not_cp1252 = true;
}

static void check_byte(struct recode *r, unsigned char c)
{
	if (r->need) {
		if (c >= r->lo && c <= r->hi) {
			r->need--;
			r->lo = 0x80;
			r->hi = 0xbf;
			return;
		}
		broken(r, r->lead, r->lead_line);
		r->need = 0;   /* c starts afresh */
	}
	if (c < 0x80)
		return;
	r->lead = c;
	r->lead_line = r->line;
	r->lo = 0x80;
	r->hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		r->need = 1;
	else if (c == 0xe0)
		r->need = 2, r->lo = 0xa0;
	else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
		r->need = 2;
	else if (c == 0xed)
		r->need = 2, r->hi = 0x9f;
	else if (c == 0xf0)
		r->need = 3, r->lo = 0x90;
	else if (c >= 0xf1 && c <= 0xf3)
		r->need = 3;
	else if (c == 0xf4)
		r->need = 3, r->hi = 0x8f;
	else
		broken(r, c, r->line);
}

static void check(struct recode *r, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x80 && !r->need) {
			if (p[i] == '\n')
				r->line++;
			continue;
		}
		check_byte(r, p[i]);
		if (p[i] == '\n')
			r->line++;
	}
}

/* ---- reading -------------------------------------------------------------------------- */

/* Fill the input buffer. 0, or -1 with err. */
static int fill(struct recode *r, struct acme_err *err)
{
	if (r->in_off && r->in_len)
		memmove(r->in, r->in + r->in_off, r->in_len);
	r->in_off = 0;
	while (!r->eof && r->in_len < sizeof(r->in)) {
		ssize_t n = read(r->fd, r->in + r->in_len, sizeof(r->in) - r->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return acme_err_set(err, ACME_E_DATA, "%s: read error: %s", r->what, strerror(errno));
		if (n == 0)
			r->eof = true;
		r->in_len += (size_t)n;
	}
	return 0;
}

static long long lines_in(const unsigned char *p, size_t n)
{
	long long k = 0;
	for (const unsigned char *e = p + n; p < e && (p = memchr(p, '\n', (size_t)(e - p))); p++)
		k++;
	return k;
}

ssize_t recode_read(struct recode *r, void *buf, size_t len, struct acme_err *err)
{
	if (r->cd == (iconv_t)-1) {
		/* UTF-8: pass through, checked */
		size_t got = 0;
		while (got < len) {
			ssize_t n = read(r->fd, (char *)buf + got, len - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return acme_err_set(err, ACME_E_DATA, "%s: read error: %s", r->what,
						    strerror(errno));
			if (n == 0) {
				if (r->need) {
					broken(r, r->lead, r->lead_line);   /* cut at the end */
					r->need = 0;
				}
				break;
			}
			check(r, (unsigned char *)buf + got, (size_t)n);
			got += (size_t)n;
		}
		return (ssize_t)got;
	}

	char *out = buf;
	size_t out_left = len;
	while (out_left > 0) {
		if (r->in_len == 0 || (r->in_len < 8 && !r->eof)) {
			if (fill(r, err) < 0)
				return -1;
			if (r->in_len == 0)
				break;
		}
		char *in = (char *)r->in + r->in_off;
		size_t in_left = r->in_len;
		size_t rc = iconv(r->cd, &in, &in_left, &out, &out_left);
		size_t used = r->in_len - in_left;
		r->line += lines_in(r->in + r->in_off, used);
		r->in_off += used;
		r->in_len = in_left;
		if (rc != (size_t)-1)
			continue;   /* all of it converted: read on */
		if (errno == E2BIG && out_left < len)
			break;      /* buf is full */
		if (errno == E2BIG)
			return acme_err_set(err, ACME_E_FAILURE, "%s: a read of %zu bytes cannot hold "
					    "one character", r->what, len);
		if (errno == EINVAL && !r->eof) {
			if (fill(r, err) < 0)
				return -1;
			continue;
		}
		return acme_err_set(err, ACME_E_DATA, "%s: line %lld: byte 0x%02x is not a %s character",
				    r->what, r->line, r->in_len ? r->in[r->in_off] : 0,
				    r->enc == RECODE_WINDOWS_1252 ? "Windows-1252" : "Latin-1");
	}
	return (ssize_t)(len - out_left);
}

bool recode_invalid_utf8(const struct recode *r, long long *line, unsigned *byte, bool *cp1252)
{
	*line = r->bad_line;
	*byte = r->bad_byte;
	*cp1252 = r->invalid && !r->not_cp1252;
	return r->invalid;
}

void recode_free(struct recode *r)
{
	if (!r)
		return;
	if (r->cd != (iconv_t)-1)
		iconv_close(r->cd);
	free(r);
}
