/* csvimport.h — the streaming CSV reader and row validator of `acmectl import`.
 *
 * The import worker feeds the staged file in chunks of any size (one byte at a
 * time gives exactly the same result as the whole file at once) and receives,
 * in file order, one callback per record: on_row for a valid product, on_reject
 * for a rejected record with its physical line number, column and reason.
 * Nothing here touches a database.
 *
 *   struct csvimport_opts o = { .on_row = copy_row, .on_reject = log_reject,
 *                               .user = job };
 *   struct csvimport *ci = csvimport_new(&o, &err);
 *   while ((n = read_chunk(buf, sizeof(buf))) > 0)
 *           if (csvimport_feed(ci, buf, n, &err) < 0)
 *                   goto fail;
 *   if (csvimport_finish(ci, &err) < 0)
 *           goto fail;
 *   csvimport_free(ci);
 *
 * Format (DESIGN.md section 7, issue 5):
 *   - RFC 4180 CSV read by libcsv in strict mode: a field may be quoted with ",
 *     and a quoted field may hold delimiters, doubled quotes ("") and line
 *     breaks. A quote inside an unquoted field (12" monitor) or text after a
 *     closing quote is a rejected record ("malformed quoting"); the reader
 *     then skips to the end of that physical line and goes on.
 *   - The delimiter is ',' unless opts.delimiter says otherwise (';', '\t', ...).
 *   - LF, CRLF (and lone CR) end records; no \r is ever left in a value. Blank
 *     lines (and lines of only spaces) are skipped. Spaces and tabs around an
 *     unquoted value are dropped by the reader; quote a value to keep them.
 *   - A UTF-8 byte-order mark at the very start of the file is dropped.
 *   - The first non-blank record is the header: each name is trimmed and
 *     matched without regard to case against the mappings (opts.maps, from
 *     `--map HEADER=FIELD`) and then against the field names (sku, name,
 *     description, active, price). sku and name are required; a column named
 *     twice, or two columns mapped to one field, is an error. Other columns
 *     are unknown: listed once in the header report and ignored, or an error
 *     when opts.strict is set. A mapping to "-" ignores a column silently, and
 *     so is a last column named "error" (what `jobs errors --rows` adds).
 *   - When the header lacks a required column (or is malformed) and another
 *     of , ; tab | would have split it into the required columns, the error
 *     says which --delimiter to use.
 *   - Line numbers are physical: 1-based, counting every LF in the file,
 *     including those inside quoted values; a record's number is the line
 *     where it starts.
 *
 * Errors that stop the whole import (feed/finish return -1, code ACME_E_DATA,
 * message starting "line N: " where a line applies): an empty file or one
 * with only blank lines ("no header row"), a bad header (missing required
 * column, duplicate column, unknown column under strict, malformed, more than
 * CSVIMPORT_MAX_COLUMNS columns, invalid UTF-8). A callback returning -1 also
 * stops the import with the callback's error. After an error every further
 * call fails the same way.
 *
 * Rejected records (on_reject; the import goes on): wrong number of fields,
 * malformed quoting, a quoted value not closed before the end of the file,
 * a record over opts.max_record bytes, a NUL byte or invalid UTF-8 in any
 * field, and whatever productfields.h's validators refuse. One reject per record;
 * the first problem in column order is reported.
 *
 * Memory is bounded whatever the input: libcsv's field buffer is capped at
 * max_record + 2 bytes through its realloc hook, and the record in progress
 * is held in a buffer that stops growing past max_record (plus what an
 * excerpt needs); with the default 1 MiB that is at most about 3 MiB, the
 * record buffer's doubling included, plus fixed tables; a rejected record
 * re-written whole (reject.record) takes up to twice max_record more.
 */
#ifndef ACME_CSVIMPORT_H
#define ACME_CSVIMPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/productfields.h"

#define CSVIMPORT_RECORD_MAX   (1024 * 1024)  /* default max_record: bytes of field data per record */
#define CSVIMPORT_MAX_COLUMNS  256            /* columns in the header */
#define CSVIMPORT_EXCERPT_MAX  512            /* bytes of a reject's excerpt, NUL excluded */
#define CSVIMPORT_TOO_LONG     "record is longer than"   /* how that reject's message starts */

/* One --map HEADER=FIELD. field is a product field name or "-" (ignore). */
struct csvimport_map {
	const char *header;
	const char *field;
};

/* What the header said; passed to on_header once, before any row. Owned by
 * the csvimport, valid until csvimport_free(). */
struct csvimport_header {
	long line;                    /* physical line of the header */
	size_t ncolumns;
	const char *const *columns;   /* names as written, trimmed, NUL-terminated */
	const int *fields;            /* per column: an enum product_field, or -1 (ignored) */
	unsigned present;             /* PRODUCT_F() bits of the fields the file supplies */
	size_t nunknown;
	const char *const *unknown;   /* unknown column names, as in columns ("" for a nameless one) */
	const char *record;           /* the header re-written as CSV with the file's delimiter */
};

struct csvimport_reject {
	long line;             /* physical line where the record starts, 1-based */
	const char *column;    /* header name of the offending column; NULL for the record */
	const char *message;   /* lowercase, no line prefix: price "12,5" is not a number */
	const char *excerpt;   /* the record re-written as CSV, valid UTF-8 without NUL or
	                          control characters other than tab/LF/CR, at most
	                          CSVIMPORT_EXCERPT_MAX bytes (cut ones end in "...") */
	const char *record;    /* the whole record as the file had it, to be fixed and imported
	                          again: its values re-written as CSV with the file's delimiter,
	                          bytes unchanged (may be invalid UTF-8 or hold NUL); for
	                          malformed quoting, the values read so far and then the rest of
	                          the line as it was. NULL for a record too long to keep. */
	size_t record_len;
};

struct csvimport_opts {
	char delimiter;                       /* 0 means ','; not '"', CR, LF, NUL or space */
	const struct csvimport_map *maps;     /* copied by csvimport_new */
	size_t nmaps;
	bool strict;                          /* unknown columns stop the import */
	size_t max_record;                    /* 0 means CSVIMPORT_RECORD_MAX */

	/* Callbacks, each optional, called from inside feed/finish. Pointers they
	 * receive are valid only during the call. Return 0, or -1 with err filled
	 * to stop the import (feed/finish then return -1 with that error). */
	int (*on_header)(void *user, const struct csvimport_header *hdr, struct acme_err *err);
	int (*on_row)(void *user, const struct product_row *row, long line, struct acme_err *err);
	int (*on_reject)(void *user, const struct csvimport_reject *rej, struct acme_err *err);
	void *user;
};

struct csvimport_stats {
	uint64_t bytes;      /* bytes fed */
	uint64_t records;    /* data records seen (the header and blank lines excluded) */
	uint64_t accepted;   /* on_row calls */
	uint64_t rejected;   /* on_reject calls */
	long lines;          /* physical lines so far: LFs seen + 1 */
};

/* An excerpt of the bytes s[0..n) as csvimport_reject.excerpt is made: valid
 * UTF-8 (invalid bytes, NUL and control characters other than tab/LF/CR
 * become U+FFFD), at most CSVIMPORT_EXCERPT_MAX bytes (cut ones end in
 * "..."), into buf (CSVIMPORT_EXCERPT_MAX + 1 bytes), which it returns. */
const char *csvimport_excerpt(const char *s, size_t n, char *buf);

/* NULL with err (ACME_E_USAGE) for a bad delimiter or mapping, e.g.
 * `--map: unknown field "colour" (known: sku, name, ...)`. Free with csvimport_free. */
struct csvimport *csvimport_new(const struct csvimport_opts *opts, struct acme_err *err);
/* Feed the next n bytes of the file. */
int csvimport_feed(struct csvimport *ci, const void *buf, size_t n, struct acme_err *err);
/* End of file: flush the last record, then check there was a header. */
int csvimport_finish(struct csvimport *ci, struct acme_err *err);
void csvimport_stats(const struct csvimport *ci, struct csvimport_stats *out);
/* The parsed header, or NULL before it has been read. */
const struct csvimport_header *csvimport_header(const struct csvimport *ci);
void csvimport_free(struct csvimport *ci);

#endif
