/* httpd.h — a small single-threaded HTTP/1.1 server for `acmectl webhooks
 * listen`: the local receiver developers point endpoints at, and the real
 * receiver of our own tests and benchmarks.
 *
 * One poll() loop serves many connections at once with keep-alive, so a
 * response held back on purpose (a slow endpoint, --delay) does not hold up
 * other connections. Requests are parsed by core/httpreq.c with its limits.
 *
 * Slow and numerous clients cannot hold the server:
 *   - a whole request (head and body) must arrive within request_timeout_ms
 *     of its first byte, however often bytes come (a per-read timeout would
 *     let a client sending a byte every 29 s keep its slot and buffer for
 *     ever); past it the client gets 408 and the connection is closed. A
 *     response must be taken within the same time once it is due.
 *   - an idle keep-alive connection (no request begun) is closed after
 *     HTTPD_IDLE_TIMEOUT_MS;
 *   - at most max_conns connections are open; one more is accepted, answered
 *     503 with Connection: close and closed at once, so a client over the
 *     cap learns it at once instead of waiting in the listen backlog. The cap
 *     is lowered to fit the process's open-file limit.
 * So a connection holds its slot for at most HTTPD_IDLE_TIMEOUT_MS +
 * request_timeout_ms + the response delay + request_timeout_ms per request.
 *
 * For each complete request the handler is called once, at once, and fills
 * in the response: status, extra header lines, a short body, and how long to
 * wait before sending it. The handler may print; this module does not.
 */
#ifndef ACME_HTTPD_H
#define ACME_HTTPD_H
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/httpreq.h"

#define HTTPD_MAX_CONNS          512     /* default cap on open connections */
#define HTTPD_REQUEST_TIMEOUT_MS 30000   /* default deadline of a whole request */
#define HTTPD_IDLE_TIMEOUT_MS    60000
#define HTTPD_BODY_MAX         (1 << 20)

struct httpd_request {
	const struct httpreq *head;
	const char *body;         /* body_len bytes, NUL-terminated for convenience */
	size_t body_len;
	const char *peer;         /* "127.0.0.1:54321" */
	long long received_ms;    /* wall clock, ms since the epoch */
};

struct httpd_response {
	int status;               /* default 200 */
	char headers[512];        /* extra header lines, each ending in \r\n */
	char body[1024];          /* default: the reason phrase */
	size_t body_len;
	long long delay_ms;       /* send the response this long after the request */
};

typedef void (*httpd_handler_fn)(void *user, const struct httpd_request *req,
				 struct httpd_response *resp);

struct httpd {
	int fd;
	int port;                 /* the bound port (chosen by the kernel for 0) */
	long long body_max;       /* default HTTPD_BODY_MAX */
	long long request_timeout_ms;  /* default HTTPD_REQUEST_TIMEOUT_MS */
	int max_conns;            /* default HTTPD_MAX_CONNS */
	/* counters */
	unsigned long long requests, bad_requests;
	unsigned long long timed_out;  /* connections closed at a request or answer
					* deadline (not idle ones) */
	unsigned long long refused;    /* connections over the cap, answered 503 */
};

/* Listen on bind_addr (an IPv4 or IPv6 literal; NULL = 127.0.0.1) and port
 * (0 = any free port; h->port says which). The limits get their defaults;
 * change them before httpd_run. 0 / -1 (ACME_E_UNAVAILABLE). */
int httpd_open(struct httpd *h, const char *bind_addr, int port, struct acme_err *err);

/* Serve until *stop becomes non-zero (the handler may set it, e.g. after N
 * requests); responses already decided are still sent, for at most 5 s.
 * 0 / -1 when the listening socket fails. */
int httpd_run(struct httpd *h, httpd_handler_fn handler, void *user,
	      const volatile sig_atomic_t *stop, struct acme_err *err);

void httpd_close(struct httpd *h);

#endif
