/* csvimport.c — turn a stream of CSV bytes into validated product rows and
 * rejected records with physical line numbers; see csvimport.h for the format.
 *
 * libcsv does the tokenising. It runs in strict mode with CSV_REPALL_NL, so
 * that every LF of the input reaches us exactly once: inside a field's data
 * (a quoted line break), as a record terminator, or as an "empty row" for a
 * blank line or the LF of a CRLF. Counting LFs in those callbacks gives the
 * physical line without ever knowing byte offsets, which libcsv does not
 * report, and so the result cannot depend on how the input was chunked. A
 * record starts on the line counted when its first field arrives (minus the
 * line breaks inside that field, which are counted after).
 *
 * libcsv stops in two situations we recover from, one record at a time:
 *
 *   CSV_EPARSE  malformed quoting. The record is rejected and the rest of
 *               its physical line skipped (to the next LF or CR); parsing
 *               restarts on the next line.
 *   CSV_ENOMEM  a field outgrew the cap that our realloc hook puts on libcsv's
 *               field buffer (max_record + 2). The record is rejected as too
 *               long; its data so far is dropped and libcsv is put back in the
 *               middle of a field of the same kind (unquoted, quoted, or just
 *               after a quote inside a quoted field) by feeding it one or two
 *               synthetic bytes, so it keeps finding the record's real end.
 *
 * Dropping libcsv's state is csv_fini() with our end-of-record callback muted;
 * it hands over the partial field, whose line breaks are then counted too.
 * Telling the three kinds of field apart needs libcsv's parser state, which
 * csv.h exposes as struct fields but whose state numbers only libcsv.c names
 * (checked against libcsv 3.0.3, the current release); the #if below keeps a
 * future major version from compiling silently, and the unit tests and the
 * fuzz target exercise every one of the three resumptions.
 *
 * The realloc hook has no user pointer, so the cap travels in a thread-local
 * that is set around each call into libcsv and restored afterwards.
 */
#include <csv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/csvimport.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#if CSV_MAJOR != 3
#error "csvimport.c reads libcsv 3.x parser state; check recover_too_long()"
#endif
#define LIBCSV_FIELD_MIGHT_HAVE_ENDED 3   /* libcsv.c: quote seen inside a quoted field */

#define CSV_OPTIONS (CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL)
#define MAX_RECORD_MIN    64
#define HEADER_NAME_MAX   256
#define FIELD_IGNORED     (-1)
#define HEADER_RAW_MAX    4096   /* bytes of the header line kept for the delimiter hint */

enum problem {
	PROB_NONE,
	PROB_TOO_LONG,
	PROB_QUOTE_IN_UNQUOTED,
	PROB_TEXT_AFTER_QUOTE,
	PROB_UNTERMINATED,
};

struct map {
	char *header;      /* trimmed */
	int field;         /* enum product_field or FIELD_IGNORED */
};

struct csvimport {
	struct csv_parser parser;
	char delim;
	bool strict;
	size_t max_record;
	struct map *maps;
	size_t nmaps;
	int (*on_header)(void *, const struct csvimport_header *, struct acme_err *);
	int (*on_row)(void *, const struct product_row *, long, struct acme_err *);
	int (*on_reject)(void *, const struct csvimport_reject *, struct acme_err *);
	void *user;

	/* stream state */
	int bom_state;          /* BOM bytes matched so far; 3 when decided */
	bool failed;            /* sticky: fail holds the error */
	struct acme_err fail;
	bool finished;
	bool mute_row_end;      /* inside drop_parser_state() */
	bool skip_to_eol;       /* after malformed quoting */
	long line;              /* current physical line, 1-based */
	struct csvimport_stats stats;

	/* the record being read */
	bool in_record;
	long rec_line;
	size_t nfields;         /* fields seen */
	size_t nstored;         /* fields stored: min(nfields, CSVIMPORT_MAX_COLUMNS) */
	size_t rec_bytes;       /* field bytes plus delimiters seen */
	bool truncated;         /* some field data was not stored */
	bool long_quoted;       /* the field that made it too long was quoted */
	int resumed;            /* the next field continues the last one: 1, or 2 when
	                           it starts with a filler byte of ours (see recover_too_long) */
	enum problem problem;
	size_t problem_field;
	struct strbuf rec;      /* stored fields, each followed by a NUL */
	size_t off[CSVIMPORT_MAX_COLUMNS];
	size_t len[CSVIMPORT_MAX_COLUMNS];

	/* the header */
	char header_raw[HEADER_RAW_MAX + 1];   /* its first line as read, for the hint */
	size_t header_raw_len;
	bool header_raw_done;
	bool have_header;
	struct csvimport_header hdr;
	char **colnames;
	char *header_record;
	int *colfields;
	char **unknown;

	/* scratch for one row */
	char sku[PRODUCT_SKU_MAX + 1];
	char name[PRODUCT_NAME_MAX + 1];
	struct product_price price;
	struct acme_err verr;
	char excerpt[CSVIMPORT_EXCERPT_MAX + 1];
	struct strbuf record;   /* a rejected record as the file had it */
	struct strbuf tail;     /* the rest of a malformed record's line, as read */
	bool tail_cut;
	size_t tail_spaces;     /* spaces libcsv held back before the stray quote */
};

static const unsigned char bom[3] = { 0xef, 0xbb, 0xbf };

/* libcsv's field buffer cap for the call in progress; see the top comment. */
static _Thread_local size_t libcsv_cap;

static void *capped_realloc(void *p, size_t n)
{
	if (n > libcsv_cap)
		return NULL;
	return xrealloc(p, n);
}

static void set_fatal(struct csvimport *ci, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_fatal(struct csvimport *ci, const char *fmt, ...)
{
	va_list ap;

	if (ci->failed)
		return;
	va_start(ap, fmt);
	acme_err_vset(&ci->fail, ACME_E_DATA, fmt, ap);
	va_end(ap);
	ci->failed = true;
}

/* A callback said -1: keep its error (or make one up if it left none). */
static void set_callback_failed(struct csvimport *ci, const char *what)
{
	if (ci->fail.code == ACME_E_OK)
		acme_err_set(&ci->fail, ACME_E_FAILURE, "import: %s callback failed", what);
	ci->failed = true;
}

static void set_problem(struct csvimport *ci, enum problem p, size_t field)
{
	if (ci->problem == PROB_NONE) {
		ci->problem = p;
		ci->problem_field = field;
	} else if (p == PROB_UNTERMINATED || (ci->problem == PROB_TOO_LONG && p != PROB_TOO_LONG)) {
		/* the more telling reason wins; the column stays where it started */
		ci->problem = p;
	}
}

static void reset_record(struct csvimport *ci)
{
	ci->in_record = false;
	ci->nfields = ci->nstored = ci->rec_bytes = 0;
	ci->truncated = ci->long_quoted = false;
	ci->resumed = 0;
	ci->problem = PROB_NONE;
	ci->problem_field = 0;
	strbuf_reset(&ci->rec);
	strbuf_reset(&ci->tail);
	ci->tail_cut = false;
	ci->tail_spaces = 0;
}

/* ---- the excerpt of a rejected record ----------------------------------- */

struct out {
	char *buf;
	size_t len, cap;
	bool cut;
};

static void out_put(struct out *o, const char *s, size_t n)
{
	if (o->cut || o->len + n > o->cap) {
		o->cut = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* Append one value as CSV, made valid UTF-8 without stray control bytes. */
static void out_value(struct out *o, const char *s, size_t n, char delim)
{
	static const char replacement[] = "\xef\xbf\xbd";   /* U+FFFD */
	bool quote = n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');

	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == delim || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (quote)
		out_put(o, "\"", 1);
	for (size_t i = 0; i < n && !o->cut;) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f &&
		    (unsigned char)s[i + 1] >= 0x80) {
			out_put(o, replacement, 3);   /* C1 control */
			i += 2;
			continue;
		}
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				out_put(o, replacement, 3);
			else if (c == '"')
				out_put(o, "\"\"", 2);
			else
				out_put(o, s + i, 1);
			i++;
			continue;
		}
		size_t clen = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (product_utf8_valid_len(s + i, n - i < clen ? n - i : clen) == 0) {
			out_put(o, replacement, 3);
			i++;
		} else {
			out_put(o, s + i, clen);
			i += clen;
		}
	}
	if (quote)
		out_put(o, "\"", 1);
}

static const char *make_excerpt(struct csvimport *ci)
{
	struct out o = { ci->excerpt, 0, CSVIMPORT_EXCERPT_MAX - 3, false };

	for (size_t i = 0; i < ci->nstored && !o.cut; i++) {
		if (i)
			out_put(&o, &ci->delim, 1);
		out_value(&o, ci->rec.buf + ci->off[i], ci->len[i], ci->delim);
	}
	if (o.cut || ci->truncated || ci->nstored < ci->nfields) {
		memcpy(o.buf + o.len, "...", 3);
		o.len += 3;
	}
	o.buf[o.len] = '\0';
	return o.buf;
}

const char *csvimport_excerpt(const char *s, size_t n, char *buf)
{
	static const char replacement[] = "\xef\xbf\xbd";   /* U+FFFD */
	struct out o = { buf, 0, CSVIMPORT_EXCERPT_MAX, false };

	for (size_t i = 0; i < n && !o.cut;) {
		unsigned char c = (unsigned char)s[i];
		size_t clen = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				out_put(&o, replacement, 3);
			else
				out_put(&o, s + i, 1);
			i++;
		} else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
			   (unsigned char)s[i + 1] <= 0x9f) {
			out_put(&o, replacement, 3);   /* C1 control */
			i += 2;
		} else if (product_utf8_valid_len(s + i, n - i < clen ? n - i : clen) == 0) {
			out_put(&o, replacement, 3);
			i++;
		} else {
			out_put(&o, s + i, clen);
			i += clen;
		}
	}
	if (o.cut) {
		o.len = o.len < CSVIMPORT_EXCERPT_MAX - 3 ? o.len : CSVIMPORT_EXCERPT_MAX - 3;
		while (o.len > 0 && ((unsigned char)buf[o.len] & 0xc0) == 0x80)
			o.len--;   /* not inside a character */
		memcpy(buf + o.len, "...", 3);
		o.len += 3;
	}
	buf[o.len] = '\0';
	return buf;
}

/* One value as CSV, its bytes unchanged: quoted when it holds the delimiter,
 * a quote, a line break or surrounding spaces. */
static void raw_value(struct strbuf *sb, const char *s, size_t n, char delim, bool quote)
{
	if (n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		quote = true;
	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == delim || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!quote) {
		strbuf_add(sb, s, n);
		return;
	}
	strbuf_addch(sb, '"');
	for (const char *p = s, *end = s + n; p < end;) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		if (!q) {
			strbuf_add(sb, p, (size_t)(end - p));
			break;
		}
		strbuf_add(sb, p, (size_t)(q - p) + 1);
		strbuf_addch(sb, '"');
		p = q + 1;
	}
	strbuf_addch(sb, '"');
}

/* The record being rejected as the file had it (see csvimport.h), or NULL. */
static const char *make_record(struct csvimport *ci, size_t *len)
{
	bool malformed = ci->problem == PROB_QUOTE_IN_UNQUOTED || ci->problem == PROB_TEXT_AFTER_QUOTE;
	*len = 0;
	if (ci->truncated || ci->nstored < ci->nfields || ci->problem == PROB_TOO_LONG ||
	    (malformed && ci->tail_cut))
		return NULL;
	strbuf_reset(&ci->record);
	for (size_t i = 0; i < ci->nstored; i++) {
		const char *v = ci->rec.buf + ci->off[i];
		size_t n = ci->len[i];
		if (i)
			strbuf_addch(&ci->record, ci->delim);
		if (malformed && i + 1 == ci->nstored && ci->problem == PROB_QUOTE_IN_UNQUOTED) {
			strbuf_add(&ci->record, v, n);          /* then the quote, in the tail */
			for (size_t k = 0; k < ci->tail_spaces && k < ci->max_record; k++)
				strbuf_addch(&ci->record, ' ');
		} else
			raw_value(&ci->record, v, n, ci->delim,
				  malformed && i + 1 == ci->nstored);   /* "abc" then the text after it */
	}
	if (malformed)
		strbuf_add(&ci->record, ci->tail.buf, ci->tail.len);
	*len = ci->record.len;
	return ci->record.buf;
}

/* A validated (trimmed) value copied NUL-terminated into dst, which the
 * caller sized for the field's maximum; its length in *len. */
static const char *keep_text(char *dst, const struct product_text *t, size_t *len)
{
	memcpy(dst, t->ptr, t->len);
	dst[t->len] = '\0';
	*len = t->len;
	return dst;
}

/* ---- records ------------------------------------------------------------- */

static const char *column_name(const struct csvimport *ci, size_t i)
{
	if (ci->have_header && i < ci->hdr.ncolumns)
		return ci->colnames[i];
	return NULL;
}

static void reject(struct csvimport *ci, const char *column, const char *message)
{
	struct csvimport_reject r = {
		.line = ci->rec_line,
		.column = column,
		.message = message,
		.excerpt = make_excerpt(ci),
	};
	r.record = make_record(ci, &r.record_len);

	ci->stats.rejected++;
	acme_err_clear(&ci->fail);
	if (ci->on_reject && ci->on_reject(ci->user, &r, &ci->fail) < 0)
		set_callback_failed(ci, "reject");
}

static const char *problem_message(struct csvimport *ci, char *buf, size_t size)
{
	switch (ci->problem) {
	case PROB_TOO_LONG:
		snprintf(buf, size, CSVIMPORT_TOO_LONG " %zu bytes%s", ci->max_record,
		         ci->long_quoted ? " (a quoted value left open?)" : "");
		return buf;
	case PROB_QUOTE_IN_UNQUOTED:
		return "malformed quoting: a quote inside an unquoted value "
		       "(quote the whole value and double its quotes: \"12\"\" monitor\")";
	case PROB_TEXT_AFTER_QUOTE:
		return "malformed quoting: text after the closing quote of a value";
	case PROB_UNTERMINATED:
		return "unterminated quoted value: its closing quote is missing before the end of the file";
	case PROB_NONE:
	default:
		return "malformed record";
	}
}

static void process_row(struct csvimport *ci)
{
	struct acme_err *e = &ci->verr;
	struct product_row row = { .active = true, .present = ci->hdr.present };
	struct product_text t;
	char buf[HEADER_NAME_MAX + 64];

	ci->stats.records++;
	if (ci->problem != PROB_NONE) {
		reject(ci, column_name(ci, ci->problem_field), problem_message(ci, buf, sizeof(buf)));
		return;
	}
	if (ci->nfields != ci->hdr.ncolumns) {
		snprintf(buf, sizeof(buf), "wrong number of columns: expected %zu, found %zu",
		         ci->hdr.ncolumns, ci->nfields);
		reject(ci, NULL, buf);
		return;
	}
	for (size_t i = 0; i < ci->nfields; i++) {
		const char *v = ci->rec.buf + ci->off[i];
		size_t n = ci->len[i];
		int rc = 0;

		switch (ci->colfields[i]) {
		case PRODUCT_SKU:
			rc = product_validate_sku(v, n, &t, e);
			if (rc == 0)
				row.sku = keep_text(ci->sku, &t, &row.sku_len);
			break;
		case PRODUCT_NAME:
			rc = product_validate_name(v, n, &t, e);
			if (rc == 0)
				row.name = keep_text(ci->name, &t, &row.name_len);
			break;
		case PRODUCT_DESCRIPTION:
			/* untrimmed, so the stored field (NUL-terminated) is the value */
			rc = product_validate_description(v, n, &t, e);
			if (rc == 0) {
				row.description = t.ptr;
				row.description_len = t.len;
			}
			break;
		case PRODUCT_ACTIVE:
			rc = product_validate_active(v, n, &row.active, e);
			break;
		case PRODUCT_PRICE:
			rc = product_validate_price(v, n, &ci->price, e);
			if (rc == 0 && !ci->price.is_null) {
				row.price = ci->price.text;
				row.price_cents = ci->price.cents;
			}
			break;
		default:
			snprintf(buf, sizeof(buf), "column \"%s\"", ci->colnames[i]);
			rc = product_check_text(buf, v, n, e);
			break;
		}
		if (rc < 0) {
			reject(ci, ci->colnames[i], e->msg);
			return;
		}
	}
	ci->stats.accepted++;
	acme_err_clear(&ci->fail);
	if (ci->on_row && ci->on_row(ci->user, &row, ci->rec_line, &ci->fail) < 0)
		set_callback_failed(ci, "row");
}

static int lookup_column(const struct csvimport *ci, const char *name, size_t len)
{
	enum product_field f;

	for (size_t m = 0; m < ci->nmaps; m++)
		if (strlen(ci->maps[m].header) == len && strncasecmp(ci->maps[m].header, name, len) == 0)
			return ci->maps[m].field;
	if (product_field_lookup(name, len, &f) == 0)
		return (int)f;
	return -2;   /* unknown */
}

/* Which delimiter the header line seems to use, when it is not ours: the
 * one of , ; tab | that splits it into columns naming every required field.
 * Quotes are honoured roughly (no escapes); 0 when none fits. */
static char guess_delimiter(const struct csvimport *ci)
{
	static const char candidates[] = { ',', ';', '\t', '|' };
	const char *raw = ci->header_raw;
	size_t n = ci->header_raw_len;

	for (size_t c = 0; c < sizeof(candidates); c++) {
		char d = candidates[c];
		unsigned seen = 0;
		size_t start = 0, ncols = 0;
		bool inq = false;
		if (d == ci->delim)
			continue;
		for (size_t i = 0; i <= n; i++) {
			if (i < n && raw[i] == '"')
				inq = !inq;
			if (i < n && (raw[i] != d || inq))
				continue;
			const char *t = raw + start;
			size_t len = i - start;
			while (len > 0 && (*t == ' ' || *t == '\t' || *t == '"'))
				t++, len--;
			while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t' || t[len - 1] == '"' ||
					   t[len - 1] == '\r'))
				len--;
			int f = lookup_column(ci, t, len);
			if (f >= 0)
				seen |= PRODUCT_F(f);
			ncols++;
			start = i + 1;
		}
		if (ncols > 1 && (seen & PRODUCT_F_REQUIRED) == PRODUCT_F_REQUIRED)
			return d;
	}
	return 0;
}

/* A fatal header error, with "; the header looks separated by ';': use
 * --delimiter ';'" when another delimiter would have found the columns. */
static void header_fatal(struct csvimport *ci, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void header_fatal(struct csvimport *ci, const char *fmt, ...)
{
	char msg[ACME_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char d = guess_delimiter(ci);
	if (!d)
		set_fatal(ci, "%s", msg);
	else if (d == '\t')
		set_fatal(ci, "%s; the header looks separated by tabs: use --delimiter tab", msg);
	else if (d == ',')
		set_fatal(ci, "%s; the header looks separated by ',': leave out --delimiter (, is the "
			  "default)", msg);
	else
		set_fatal(ci, "%s; the header looks separated by '%c': use --delimiter '%c'", msg, d, d);
}

static void process_header(struct csvimport *ci)
{
	struct csvimport_header *h = &ci->hdr;
	size_t ncols = ci->nfields, nunknown = 0;
	long line = ci->rec_line;
	int seen[PRODUCT__NFIELDS];
	char buf[HEADER_NAME_MAX + 64];

	if (ci->problem != PROB_NONE) {
		header_fatal(ci, "line %ld: header: %s", line, problem_message(ci, buf, sizeof(buf)));
		return;
	}
	if (ncols > CSVIMPORT_MAX_COLUMNS) {
		set_fatal(ci, "line %ld: header: %zu columns (at most %d)", line, ncols,
		          CSVIMPORT_MAX_COLUMNS);
		return;
	}
	ci->colnames = xcalloc(ncols, sizeof(*ci->colnames));
	ci->colfields = xcalloc(ncols, sizeof(*ci->colfields));
	ci->unknown = xcalloc(ncols, sizeof(*ci->unknown));
	h->line = line;
	h->ncolumns = ncols;
	h->columns = (const char *const *)ci->colnames;
	h->fields = ci->colfields;
	h->unknown = (const char *const *)ci->unknown;
	for (int f = 0; f < PRODUCT__NFIELDS; f++)
		seen[f] = -1;

	for (size_t i = 0; i < ncols; i++) {
		const char *s = ci->rec.buf + ci->off[i];
		size_t n = ci->len[i];

		snprintf(buf, sizeof(buf), "column %zu name", i + 1);
		if (product_check_text(buf, s, n, &ci->verr) < 0) {
			set_fatal(ci, "line %ld: header: %s", line, ci->verr.msg);
			return;
		}
		while (n > 0 && (*s == ' ' || *s == '\t'))
			s++, n--;
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
			n--;
		if (n > HEADER_NAME_MAX) {
			set_fatal(ci, "line %ld: header: column %zu name is longer than %d bytes",
			          line, i + 1, HEADER_NAME_MAX);
			return;
		}
		for (size_t k = 0; k < n; k++) {
			if ((unsigned char)s[k] < 0x20 || s[k] == 0x7f) {
				header_fatal(ci, "line %ld: header: column %zu name contains a control "
				             "character", line, i + 1);
				return;
			}
		}
		ci->colnames[i] = xstrndup(s, n);
		for (size_t j = 0; j < i && n > 0; j++) {
			if (strcasecmp(ci->colnames[j], ci->colnames[i]) == 0) {
				set_fatal(ci, "line %ld: header: column \"%s\" appears twice (columns %zu and %zu)",
				          line, ci->colnames[i], j + 1, i + 1);
				return;
			}
		}
		int f = lookup_column(ci, s, n);
		/* the column `jobs errors --rows` adds: its file imports as it is */
		if (f == -2 && i == ncols - 1 && i > 0 && strcasecmp(ci->colnames[i], "error") == 0)
			f = FIELD_IGNORED;
		if (f == -2) {
			ci->colfields[i] = FIELD_IGNORED;
			ci->unknown[nunknown++] = ci->colnames[i];
			if (ci->strict) {
				if (n == 0)
					set_fatal(ci, "line %ld: header: column %zu has no name "
					          "(--strict refuses unknown columns)", line, i + 1);
				else
					set_fatal(ci, "line %ld: header: unknown column \"%s\" (--strict refuses "
					          "unknown columns: map it with --map '%s=FIELD', ignore it with "
					          "--map '%s=-', or remove it)", line, ci->colnames[i],
					          ci->colnames[i], ci->colnames[i]);
				return;
			}
			continue;
		}
		ci->colfields[i] = f;
		if (f == FIELD_IGNORED)
			continue;
		if (seen[f] >= 0) {
			set_fatal(ci, "line %ld: header: columns \"%s\" (%d) and \"%s\" (%zu) are both %s",
			          line, ci->colnames[seen[f]], seen[f] + 1, ci->colnames[i], i + 1,
			          product_field_name((enum product_field)f));
			return;
		}
		seen[f] = (int)i;
		h->present |= PRODUCT_F(f);
	}
	h->nunknown = nunknown;
	strbuf_reset(&ci->record);
	for (size_t i = 0; i < ncols; i++) {
		if (i)
			strbuf_addch(&ci->record, ci->delim);
		raw_value(&ci->record, ci->colnames[i], strlen(ci->colnames[i]), ci->delim, false);
	}
	ci->header_record = strbuf_detach(&ci->record, NULL);
	strbuf_init(&ci->record, 0);
	h->record = ci->header_record;

	for (int f = 0; f < PRODUCT__NFIELDS; f++) {
		if (!(PRODUCT_F_REQUIRED & PRODUCT_F(f)) || seen[f] >= 0)
			continue;
		struct strbuf cols = STRBUF_INIT;
		for (size_t i = 0; i < ncols && cols.len < 200; i++)
			strbuf_addf(&cols, "%s\"%s\"", i ? ", " : "", ci->colnames[i]);
		header_fatal(ci, "line %ld: header: required column \"%s\" is missing (found %s%s)",
			     line, product_field_name((enum product_field)f), cols.buf,
			     cols.len >= 200 ? ", ..." : "");
		strbuf_release(&cols);
		return;
	}

	ci->have_header = true;
	acme_err_clear(&ci->fail);
	if (ci->on_header && ci->on_header(ci->user, h, &ci->fail) < 0)
		set_callback_failed(ci, "header");
}

static void end_record(struct csvimport *ci)
{
	if (!ci->in_record)
		return;   /* a blank line, or the LF of a CRLF */
	if (ci->have_header)
		process_row(ci);
	else
		process_header(ci);
	reset_record(ci);
}

/* ---- libcsv callbacks ------------------------------------------------------ */

static void on_field(void *data, size_t len, void *arg)
{
	struct csvimport *ci = arg;
	const char *s = data, *p, *end = s + len;
	size_t idx, keep = len;

	if (ci->failed)
		return;
	if (!ci->in_record) {
		ci->in_record = true;
		ci->rec_line = ci->line;
	}
	for (p = s; p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		ci->line++;

	if (ci->resumed) {
		/* the rest of a field whose start was handed over before; the
		 * record is too long already, so this only feeds the excerpt */
		if (ci->resumed == 2 && len > 0)
			s++, len--;
		ci->resumed = 0;
		ci->rec_bytes += len;
		idx = ci->nfields - 1;
		if (idx >= CSVIMPORT_MAX_COLUMNS || ci->nstored != ci->nfields || ci->rec.len == 0) {
			ci->truncated = true;
			return;
		}
		keep = ci->rec.len < CSVIMPORT_EXCERPT_MAX ? CSVIMPORT_EXCERPT_MAX - ci->rec.len : 0;
		if (keep > len)
			keep = len;
		if (keep < len)
			ci->truncated = true;
		ci->rec.len--;   /* the field's NUL */
		strbuf_add(&ci->rec, s, keep);
		strbuf_addch(&ci->rec, '\0');
		ci->len[idx] += keep;
		return;
	}

	idx = ci->nfields++;
	ci->rec_bytes += len + (idx ? 1 : 0);
	if (ci->rec_bytes > ci->max_record)
		set_problem(ci, PROB_TOO_LONG, idx);
	if (idx >= CSVIMPORT_MAX_COLUMNS) {
		ci->truncated = true;
		return;
	}
	if (ci->problem == PROB_TOO_LONG) {
		/* keep only what an excerpt can show */
		keep = ci->rec.len < CSVIMPORT_EXCERPT_MAX ? CSVIMPORT_EXCERPT_MAX : 0;
		if (keep > len)
			keep = len;
		if (keep < len)
			ci->truncated = true;
	}
	ci->off[idx] = ci->rec.len;
	ci->len[idx] = keep;
	strbuf_add(&ci->rec, s, keep);
	strbuf_addch(&ci->rec, '\0');
	ci->nstored = idx + 1;
}

static void on_record_end(int c, void *arg)
{
	struct csvimport *ci = arg;

	if (ci->failed || ci->mute_row_end)
		return;
	end_record(ci);
	if (c == '\n')
		ci->line++;
}

/* ---- driving libcsv -------------------------------------------------------- */

static size_t call_parse(struct csvimport *ci, const void *s, size_t n)
{
	size_t saved = libcsv_cap, used;

	libcsv_cap = ci->max_record + 2;
	used = csv_parse(&ci->parser, s, n, on_field, on_record_end, ci);
	libcsv_cap = saved;
	return used;
}

static int call_fini(struct csvimport *ci)
{
	size_t saved = libcsv_cap;
	int rc;

	libcsv_cap = ci->max_record + 2;
	rc = csv_fini(&ci->parser, on_field, on_record_end, ci);
	libcsv_cap = saved;
	return rc;
}

/* Make libcsv forget the record in progress: its partial field is handed to
 * on_field (so its line breaks are counted); the record stays open here. */
static void drop_parser_state(struct csvimport *ci)
{
	ci->mute_row_end = true;
	csv_set_opts(&ci->parser, CSV_OPTIONS & ~CSV_STRICT_FINI);
	call_fini(ci);
	csv_set_opts(&ci->parser, CSV_OPTIONS);
	ci->mute_row_end = false;
}

static void recover_malformed(struct csvimport *ci)
{
	size_t field = ci->nfields;

	set_problem(ci, ci->parser.quoted ? PROB_TEXT_AFTER_QUOTE : PROB_QUOTE_IN_UNQUOTED, field);
	/* libcsv trims an unquoted value: the spaces before the quote are
	 * pending there, and dropped with its state; the record keeps them */
	ci->tail_spaces = ci->parser.quoted ? 0 : ci->parser.spaces;
	drop_parser_state(ci);
	ci->skip_to_eol = true;
}

static void recover_too_long(struct csvimport *ci)
{
	bool quoted = ci->parser.quoted;
	bool after_quote = quoted && ci->parser.pstate == LIBCSV_FIELD_MIGHT_HAVE_ENDED;
	char filler = ci->delim == 'x' ? 'y' : 'x';
	size_t field = ci->nfields;

	if (ci->problem == PROB_NONE)
		ci->long_quoted = quoted;
	set_problem(ci, PROB_TOO_LONG, field);
	drop_parser_state(ci);
	/* back into a field of the same kind; no callback can fire. The
	 * field libcsv will hand over next continues the one just dropped. */
	if (after_quote)
		call_parse(ci, "\"\"", 2);   /* quoted, just after a quote */
	else if (quoted)
		call_parse(ci, "\"", 1);      /* quoted */
	else
		call_parse(ci, &filler, 1);    /* unquoted, starting with the filler */
	ci->resumed = quoted ? 1 : 2;
}

static void parse(struct csvimport *ci, const unsigned char *p, size_t n)
{
	while (n > 0 && !ci->failed) {
		if (ci->skip_to_eol) {
			/* to the end of the physical line: LF, or CR (the LF of a
			 * CRLF then reaches libcsv as a blank line, and a file with
			 * old Mac line ends does not lose its next lines) */
			size_t i = 0;
			while (i < n && p[i] != '\n' && p[i] != '\r')
				i++;
			if (ci->tail.len + i <= ci->max_record)
				strbuf_add(&ci->tail, p, i);
			else
				ci->tail_cut = true;
			if (i == n)
				return;
			ci->skip_to_eol = false;
			end_record(ci);
			if (p[i] == '\n')
				ci->line++;
			p += i + 1;
			n -= i + 1;
			continue;
		}
		size_t used = call_parse(ci, p, n);
		p += used;
		n -= used;
		if (n == 0 || ci->failed)
			return;
		switch (csv_error(&ci->parser)) {
		case CSV_EPARSE:
			recover_malformed(ci);
			break;
		case CSV_ENOMEM:
			recover_too_long(ci);
			break;
		default:
			set_fatal(ci, "line %ld: csv parser stopped: %s", ci->line,
			          csv_strerror(csv_error(&ci->parser)));
			ci->fail.code = ACME_E_FAILURE;
			return;
		}
	}
}

/* ---- public ---------------------------------------------------------------- */

struct csvimport *csvimport_new(const struct csvimport_opts *opts, struct acme_err *err)
{
	struct csvimport *ci = NULL;
	char delim = opts->delimiter ? opts->delimiter : ',';
	size_t max_record = opts->max_record ? opts->max_record : CSVIMPORT_RECORD_MAX;

	if (delim == '"' || delim == '\r' || delim == '\n' || delim == ' ') {
		acme_err_set(err, ACME_E_USAGE, "delimiter cannot be %s",
		             delim == '"' ? "the quote character" : delim == ' ' ? "a space" :
		             "a line break");
		goto fail;
	}
	if (max_record < MAX_RECORD_MIN || max_record > SIZE_MAX / 4) {
		acme_err_set(err, ACME_E_USAGE, "record size limit %zu is out of range", max_record);
		goto fail;
	}

	ci = xcalloc(1, sizeof(*ci));
	ci->delim = delim;
	ci->strict = opts->strict;
	ci->max_record = max_record;
	ci->on_header = opts->on_header;
	ci->on_row = opts->on_row;
	ci->on_reject = opts->on_reject;
	ci->user = opts->user;
	ci->line = 1;
	strbuf_init(&ci->rec, 0);
	strbuf_init(&ci->record, 0);
	strbuf_init(&ci->tail, 0);

	ci->maps = xcalloc(opts->nmaps, sizeof(*ci->maps));
	for (size_t i = 0; i < opts->nmaps; i++) {
		const char *h = opts->maps[i].header, *f = opts->maps[i].field;
		size_t hl = strlen(h);
		enum product_field pf;

		while (hl > 0 && (*h == ' ' || *h == '\t'))
			h++, hl--;
		while (hl > 0 && (h[hl - 1] == ' ' || h[hl - 1] == '\t'))
			hl--;
		if (hl == 0) {
			acme_err_set(err, ACME_E_USAGE, "--map: empty header name in \"=%s\"", f);
			goto fail;
		}
		ci->maps[i].header = xstrndup(h, hl);
		ci->nmaps = i + 1;
		if (strcmp(f, "-") == 0) {
			ci->maps[i].field = FIELD_IGNORED;
		} else if (product_field_lookup(f, strlen(f), &pf) == 0) {
			ci->maps[i].field = (int)pf;
		} else {
			acme_err_set(err, ACME_E_USAGE, "--map: unknown field \"%s\" (known: %s, or - to "
			             "ignore the column)", f, PRODUCT_FIELD_NAMES);
			goto fail;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcasecmp(ci->maps[j].header, ci->maps[i].header) == 0) {
				acme_err_set(err, ACME_E_USAGE, "--map: \"%s\" is mapped twice",
				             ci->maps[i].header);
				goto fail;
			}
		}
	}

	csv_init(&ci->parser, CSV_OPTIONS);
	csv_set_delim(&ci->parser, (unsigned char)delim);
	csv_set_realloc_func(&ci->parser, capped_realloc);
	csv_set_blk_size(&ci->parser, 4096);
	return ci;

fail:
	csvimport_free(ci);
	return NULL;
}

static int fail_with(struct csvimport *ci, struct acme_err *err)
{
	if (err) {
		err->code = ci->fail.code;
		err->transient = ci->fail.transient;
		memcpy(err->msg, ci->fail.msg, sizeof(err->msg));
	}
	return -1;
}

/* The first non-blank line as read (up to HEADER_RAW_MAX bytes): the
 * header, for guess_delimiter(). Blank as libcsv sees it: spaces and tabs,
 * but not the delimiter (with --delimiter tab, a line holding a tab is a
 * record of empty fields, the header; found by tests/fuzz/fuzz_csvimport.c,
 * whose hint then depended on how the input was split into chunks). */
static void keep_header_raw(struct csvimport *ci, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n && !ci->header_raw_done; i++) {
		if (p[i] == '\n' || p[i] == '\r') {
			bool blank = true;
			for (size_t k = 0; k < ci->header_raw_len && blank; k++)
				blank = (ci->header_raw[k] == ' ' || ci->header_raw[k] == '\t') &&
					ci->header_raw[k] != ci->delim;
			if (blank)
				ci->header_raw_len = 0;
			else
				ci->header_raw_done = true;
			continue;
		}
		if (ci->header_raw_len < HEADER_RAW_MAX)
			ci->header_raw[ci->header_raw_len++] = (char)p[i];
		else
			ci->header_raw_done = true;
	}
}

int csvimport_feed(struct csvimport *ci, const void *buf, size_t n, struct acme_err *err)
{
	const unsigned char *p = buf;

	if (ci->failed)
		return fail_with(ci, err);
	if (ci->finished)
		return acme_err_set(err, ACME_E_FAILURE, "import: data fed after the end of the file");
	ci->stats.bytes += n;

	/* a byte-order mark is dropped, even when it arrives one byte at a time */
	while (n > 0 && ci->bom_state < 3) {
		if (*p == bom[ci->bom_state]) {
			ci->bom_state++;
			p++;
			n--;
			continue;
		}
		int held = ci->bom_state;
		ci->bom_state = 3;
		parse(ci, bom, (size_t)held);
	}
	keep_header_raw(ci, p, n);
	parse(ci, p, n);
	return ci->failed ? fail_with(ci, err) : 0;
}

int csvimport_finish(struct csvimport *ci, struct acme_err *err)
{
	if (ci->failed)
		return fail_with(ci, err);
	if (ci->finished)
		return 0;
	ci->finished = true;

	if (ci->bom_state < 3) {
		int held = ci->bom_state;
		ci->bom_state = 3;
		parse(ci, bom, (size_t)held);
	}
	if (ci->skip_to_eol) {
		ci->skip_to_eol = false;
		end_record(ci);
	} else if (!ci->failed && call_fini(ci) < 0) {
		/* a quoted value still open at the end of the file */
		set_problem(ci, PROB_UNTERMINATED, ci->nfields);
		drop_parser_state(ci);
		end_record(ci);
	}
	if (!ci->failed && !ci->have_header)
		set_fatal(ci, ci->stats.bytes == 0 ? "empty file: no header row" :
		          "no header row: the file has only blank lines");
	return ci->failed ? fail_with(ci, err) : 0;
}

void csvimport_stats(const struct csvimport *ci, struct csvimport_stats *out)
{
	*out = ci->stats;
	out->lines = ci->line;
}

const struct csvimport_header *csvimport_header(const struct csvimport *ci)
{
	return ci->have_header ? &ci->hdr : NULL;
}

void csvimport_free(struct csvimport *ci)
{
	if (!ci)
		return;
	csv_free(&ci->parser);
	for (size_t i = 0; i < ci->nmaps; i++)
		free(ci->maps[i].header);
	free(ci->maps);
	if (ci->colnames)
		for (size_t i = 0; i < ci->hdr.ncolumns; i++)
			free(ci->colnames[i]);
	free(ci->colnames);
	free(ci->header_record);
	free(ci->colfields);
	free(ci->unknown);
	strbuf_release(&ci->rec);
	strbuf_release(&ci->record);
	strbuf_release(&ci->tail);
	free(ci);
}
