/* xalloc.h — allocation wrappers that abort on out-of-memory, so callers never
 * check for NULL. Every returned pointer is owned by the caller (free()). */
#ifndef ACME_XALLOC_H
#define ACME_XALLOC_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A failure nothing can recover from (out of memory inside a library, a
 * crypto library that cannot compute): said through the log sink at error
 * level, then abort(). */
void xdie(const char *what) __attribute__((noreturn));

#endif
