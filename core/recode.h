/* recode.h — the bytes of an import file as UTF-8: `acmectl import
 * --encoding windows-1252|latin1|utf-8` (issue 11, point 10).
 *
 * Excel on Windows saves CSV in Windows-1252, where é is the single byte
 * 0xe9; the importer wants UTF-8 and rejects such rows. A recode reads a file
 * descriptor and hands back its bytes converted to UTF-8 by iconv(3), through
 * one fixed input buffer (RECODE_BUF bytes), so memory does not depend on the
 * file's size. With RECODE_UTF8 the bytes pass unchanged, and are checked on
 * the way: the first invalid UTF-8 byte is noted with its line, and whether
 * every invalid byte is a Windows-1252 character (then the file most likely
 * is Windows-1252, and the caller says to use --encoding windows-1252).
 *
 *   struct recode *r = recode_new(fd, RECODE_WINDOWS_1252, "in.csv", &err);
 *   while ((n = recode_read(r, buf, sizeof(buf), &err)) > 0)
 *           use(buf, n);
 *   recode_free(r);
 *
 * Errors (ACME_E_DATA): a byte the encoding does not define ("line 3: byte
 * 0x81 is not a Windows-1252 character"), a read error.
 */
#ifndef ACME_RECODE_H
#define ACME_RECODE_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/err.h"

#define RECODE_BUF (64 * 1024)
#define RECODE_NAMES "utf-8, windows-1252, latin1"

enum recode_encoding { RECODE_UTF8, RECODE_WINDOWS_1252, RECODE_LATIN1 };

/* "utf-8", "utf8", "windows-1252", "cp1252", "latin1", "iso-8859-1" (any
 * case). 0 / -1 with ACME_E_USAGE listing them. */
int recode_parse(const char *name, enum recode_encoding *out, struct acme_err *err);
const char *recode_name(enum recode_encoding e);

/* A reader of fd (not closed by recode_free); what names it in messages
 * (owned by the caller, must outlive the recode). NULL with err when iconv
 * does not know the encoding. */
struct recode *recode_new(int fd, enum recode_encoding enc, const char *what,
			  struct acme_err *err);
/* Up to len bytes of UTF-8 into buf: the count, 0 at the end, -1 with err.
 * len must hold one character (4 bytes). */
ssize_t recode_read(struct recode *r, void *buf, size_t len, struct acme_err *err);

/* What RECODE_UTF8 saw (after the end): true when some byte was not valid
 * UTF-8; *line is the line of the first one, *byte its value, *cp1252 whether
 * every invalid byte is a Windows-1252 character. Always false when converting. */
bool recode_invalid_utf8(const struct recode *r, long long *line, unsigned *byte, bool *cp1252);
void recode_free(struct recode *r);

#endif
