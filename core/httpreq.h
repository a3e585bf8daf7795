/* httpreq.h — a small, strict HTTP/1.1 request-head parser for the local
 * webhook receiver (`acmectl webhooks listen`, core/httpd.c).
 *
 * It reads what webhook senders send: a request line, header fields, and a
 * body framed by Content-Length. Everything from outside is bounded: the
 * head (HTTPREQ_HEAD_MAX), the number of header fields, and the body (the
 * caller's limit). Anything it does not support is refused with the status
 * a server should answer, never guessed at: Transfer-Encoding (501; senders
 * of signed webhooks know the length), obsolete line folding, conflicting
 * Content-Length values and request smuggling shapes (400), HTTP/2 prefaces
 * and versions other than 1.0/1.1 (505).
 */
#ifndef ACME_HTTPREQ_H
#define ACME_HTTPREQ_H
#include <stdbool.h>
#include <stddef.h>

#define HTTPREQ_HEAD_MAX    16384
#define HTTPREQ_HEADERS_MAX 100

struct httpreq_header {
	char *name;    /* as sent */
	char *value;   /* leading and trailing blanks removed */
};

struct httpreq {
	char method[16];
	char *target;                 /* "/path?query" */
	int minor;                    /* HTTP/1.<minor> */
	struct httpreq_header *headers;
	size_t nheaders;
	long long content_length;     /* 0 when absent */
	bool keep_alive;              /* the connection may carry another request */
};

enum httpreq_rc {
	HTTPREQ_INCOMPLETE = 0,       /* need more bytes */
	HTTPREQ_DONE = 1,             /* *head_len = bytes of the head; the body follows */
	HTTPREQ_BAD = -1,             /* *status and *why say what to answer */
};

/* Parse the head at the start of buf[0..len). On HTTPREQ_DONE, r is filled
 * (release it with httpreq_release) and *head_len is set. On HTTPREQ_BAD,
 * *status is 400, 413, 431, 501 or 505 and *why a static reason. A body
 * longer than body_max is 413. */
int httpreq_parse(struct httpreq *r, const char *buf, size_t len, long long body_max,
		  size_t *head_len, int *status, const char **why);
void httpreq_release(struct httpreq *r);

/* The value of a header field by case-insensitive name, or NULL. */
const char *httpreq_header(const struct httpreq *r, const char *name);

/* The reason phrase of a status code ("OK", "Internal Server Error"). */
const char *httpreq_reason(int status);

#endif
