/* utf8.h — keeping text valid UTF-8 where it is cut short or comes from
 * outside.
 *
 * PostgreSQL refuses a text value that is not valid UTF-8 (the database and
 * the client encoding are UTF8), and jansson refuses such a JSON string; a
 * refused value can take a whole batch of writes with it. Text is cut to
 * fixed sizes in several places (error messages at ACME_ERR_MSG_MAX, job
 * errors at QUEUE_ERROR_MAX) and arrives from outside (libpq, hiredis and
 * libcurl messages, host names, HTTP answers, file names) in any encoding.
 * These helpers cut only between characters and replace what is not UTF-8.
 *
 * Pure functions; the one that allocates aborts on out-of-memory (xalloc).
 */
#ifndef ACME_UTF8_H
#define ACME_UTF8_H
#include <stddef.h>

/* Where to cut s[0..n), a text already cut at n bytes (by snprintf, say),
 * so that it does not end in half a character: n minus the bytes of an
 * incomplete UTF-8 sequence at its end, or n when there is none. Only the
 * end is looked at; invalid bytes before it stay (utf8_clean replaces
 * them). */
size_t utf8_trim_partial(const char *s, size_t n);

/* s[0..len) as valid UTF-8 of at most max bytes (max 0: no limit): every
 * byte that does not belong to a valid sequence (strict: no overlong forms,
 * surrogates or code points above U+10FFFF) becomes '?', a NUL byte a space,
 * and the text is cut between two characters. Owned by the caller (free()). */
char *utf8_clean(const char *s, size_t len, size_t max);

#endif
