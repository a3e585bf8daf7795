/* strbuf.h — a growable, always NUL-terminated byte buffer with an optional
 * size limit for data that comes from outside (curl's dynbuf idea).
 *
 *   struct strbuf sb = STRBUF_INIT;
 *   strbuf_addf(&sb, "%d", 42);
 *   use(sb.buf);
 *   strbuf_release(&sb);
 */
#ifndef ACME_STRBUF_H
#define ACME_STRBUF_H
#include <stddef.h>

struct strbuf {
	char *buf;     /* owned; "" (static) until the first append */
	size_t len;
	size_t alloc;
	size_t limit;  /* 0 = unlimited; appends past it fail with -1 */
};

extern char strbuf_empty[];
#define STRBUF_INIT { strbuf_empty, 0, 0, 0 }

void strbuf_init(struct strbuf *sb, size_t limit);
int strbuf_add(struct strbuf *sb, const void *data, size_t n);  /* -1 past limit */
int strbuf_adds(struct strbuf *sb, const char *s);
int strbuf_addch(struct strbuf *sb, char c);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_reset(struct strbuf *sb);
/* Hand the buffer to the caller (free() it); the strbuf is re-initialised. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_release(struct strbuf *sb);

#endif
