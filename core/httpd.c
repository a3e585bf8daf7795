/* httpd.c — the poll() loop of the local webhook receiver; see httpd.h.
 *
 * Each connection is a small state machine: READ until a whole request is
 * buffered (head through httpreq_parse, then Content-Length bytes of body),
 * call the handler, HOLD the response until its delay has passed, WRITE it,
 * then READ again (keep-alive, leftover bytes kept) or, after a response
 * that ends the connection, CLOSING: our side is shut down and what the
 * client still sends is read and dropped until it closes too (or a short
 * linger passes), so the client reads our answer instead of a reset.
 * Sockets are non-blocking, so one slow or stalled client never blocks the
 * others.
 *
 * Every state but HOLD has a deadline (c->deadline): READ idle (no byte of a
 * request yet) HTTPD_IDLE_TIMEOUT_MS after the last response; READ with a
 * request begun, request_timeout_ms after its first byte, then 408; WRITE,
 * request_timeout_ms after the response became due; CLOSING, LINGER_MS.
 * Bytes arriving never move a deadline. Over the cap a new connection is
 * answered 503 and closed at once (see httpd.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/httpd.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#define LINGER_MS 2000          /* CLOSING: how long to wait for the client to close */

enum conn_state { C_READ, C_HOLD, C_WRITE, C_CLOSING };

struct conn {
	int fd;
	enum conn_state state;
	struct strbuf in;
	char *out;
	size_t out_len, out_off;
	long long send_at;        /* monotonic ms */
	long long deadline;       /* monotonic ms; 0 = none (HOLD) */
	bool request_begun;       /* READ: a byte of the next request is in */
	bool close_after;
	char peer[80];
};

int httpd_open(struct httpd *h, const char *bind_addr, int port, struct acme_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *addr = bind_addr ? bind_addr : "127.0.0.1";
	memset(h, 0, sizeof(*h));
	memset(&ss, 0, sizeof(ss));
	h->fd = -1;
	h->body_max = HTTPD_BODY_MAX;
	h->request_timeout_ms = HTTPD_REQUEST_TIMEOUT_MS;
	h->max_conns = HTTPD_MAX_CONNS;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		sl = sizeof(*s6);
	} else {
		return acme_err_set(err, ACME_E_USAGE, "listen: --bind %s is not an IP address", addr);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return acme_err_set(err, ACME_E_UNAVAILABLE, "listen: socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 512) < 0) {
		int e = errno;
		close(fd);
		return acme_err_set(err, ACME_E_UNAVAILABLE, "listen: cannot listen on %s port %d: %s",
				    addr, port, strerror(e));
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	h->port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
	h->fd = fd;
	return 0;
}

void httpd_close(struct httpd *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

static void conn_free(struct conn *c)
{
	close(c->fd);
	strbuf_release(&c->in);
	free(c->out);
	free(c);
}

static void peer_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%d", ip, ntohs(s->sin_port));
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%d", ip, ntohs(s->sin6_port));
	}
}

/* Waiting for the next request: its deadline runs from its first byte
 * (leftover pipelined bytes are one), the idle timeout until then. */
static void wait_request(const struct httpd *h, struct conn *c, long long now)
{
	c->state = C_READ;
	c->request_begun = c->in.len > 0;
	c->deadline = now + (c->request_begun ? h->request_timeout_ms : HTTPD_IDLE_TIMEOUT_MS);
}

/* Our side is done: shut it down and drop what the client still sends until
 * it closes, so it reads the answer before the connection goes. */
static void start_closing(struct conn *c, long long now)
{
	shutdown(c->fd, SHUT_WR);
	c->state = C_CLOSING;
	c->deadline = now + LINGER_MS;
}

static void set_response(struct conn *c, const struct httpd_response *r, bool close_after)
{
	struct strbuf out = STRBUF_INIT;
	strbuf_addf(&out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		    "Content-Length: %zu\r\n%s%s\r\n", r->status, httpreq_reason(r->status),
		    r->body_len, close_after ? "Connection: close\r\n" : "", r->headers);
	strbuf_add(&out, r->body, r->body_len);
	free(c->out);
	c->out = strbuf_detach(&out, &c->out_len);
	c->out_off = 0;
	c->close_after = close_after;
	c->send_at = clock_mono_ms() + (r->delay_ms > 0 ? r->delay_ms : 0);
	c->state = C_HOLD;
	c->deadline = 0;
}

/* A short answer written at once, as far as the socket takes it (it is
 * empty: nothing was sent on it yet or everything was), for connections
 * that are closed right after. */
static void send_now(int fd, int status, const char *extra)
{
	char buf[256];
	const char *reason = httpreq_reason(status);
	int n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8"
			 "\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s\n", status, reason,
			 strlen(reason) + 1, extra, reason);
	if (n > 0 && (size_t)n < sizeof(buf)) {
		ssize_t put = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)put;           /* best effort: the connection is closed anyway */
	}
}

/* Over the cap: a new connection is told so and closed at once, instead of
 * waiting in the listen backlog for a slot. What it sent already is read
 * first, so closing does not reset the connection before our answer. */
static void refuse_conn(int fd)
{
	char drop[4096];
	while (recv(fd, drop, sizeof(drop), MSG_DONTWAIT) > 0)
		;
	send_now(fd, 503, "Retry-After: 1\r\n");
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* The cap, lowered to fit the open-file limit (with room for the listening
 * socket, a refused connection, stdio and libraries). */
static size_t conn_cap(const struct httpd *h)
{
	long long cap = h->max_conns > 0 ? h->max_conns : HTTPD_MAX_CONNS;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (long long)rl.rlim_cur - 32 < cap)
		cap = (long long)rl.rlim_cur - 32;
	return cap < 1 ? 1 : (size_t)cap;
}

static void default_body(struct httpd_response *r)
{
	r->body_len = (size_t)snprintf(r->body, sizeof(r->body), "%s\n", httpreq_reason(r->status));
}

/* A whole request buffered? Hand it to the handler and prepare the answer. */
static void try_request(struct httpd *h, struct conn *c, httpd_handler_fn handler, void *user)
{
	struct httpreq req;
	size_t head_len = 0;
	int status = 0;
	const char *why = NULL;
	int rc = httpreq_parse(&req, c->in.buf, c->in.len, h->body_max, &head_len, &status, &why);
	if (rc == HTTPREQ_INCOMPLETE)
		return;
	if (rc == HTTPREQ_BAD) {
		struct httpd_response r;
		memset(&r, 0, sizeof(r));
		r.status = status;
		r.body_len = (size_t)snprintf(r.body, sizeof(r.body), "%s\n", why);
		h->bad_requests++;
		set_response(c, &r, true);
		return;
	}
	size_t need = head_len + (size_t)req.content_length;
	if (c->in.len < need) {
		httpreq_release(&req);
		return;
	}
	/* NUL-terminate the body for the handler without losing a pipelined byte */
	char saved = c->in.buf[need];
	c->in.buf[need] = '\0';
	struct httpd_request hr = { &req, c->in.buf + head_len, (size_t)req.content_length, c->peer,
				    clock_wall_ms() };
	struct httpd_response r;
	memset(&r, 0, sizeof(r));
	r.status = 200;
	h->requests++;
	handler(user, &hr, &r);
	c->in.buf[need] = saved;
	if (r.status < 100 || r.status > 999)
		r.status = 500;
	if (r.body_len == 0 && r.status != 204 && r.status != 304)
		default_body(&r);
	set_response(c, &r, !req.keep_alive);
	httpreq_release(&req);
	/* keep what follows (a pipelined request) */
	memmove(c->in.buf, c->in.buf + need, c->in.len - need);
	c->in.len -= need;
	c->in.buf[c->in.len] = '\0';
}

int httpd_run(struct httpd *h, httpd_handler_fn handler, void *user,
	      const volatile sig_atomic_t *stop, struct acme_err *err)
{
	size_t cap = conn_cap(h);
	struct conn **conns = xcalloc(cap, sizeof(*conns));
	struct pollfd *pfd = xcalloc(cap + 1, sizeof(*pfd));
	size_t n = 0;
	long long stop_deadline = 0, accept_paused_until = 0;
	int rc = 0;
	if (h->request_timeout_ms <= 0)
		h->request_timeout_ms = HTTPD_REQUEST_TIMEOUT_MS;

	for (;;) {
		long long now = clock_mono_ms();
		if (*stop && !stop_deadline)
			stop_deadline = now + 5000;
		if (stop_deadline) {
			/* stopping: drop connections with nothing left to send */
			for (size_t i = 0; i < n;) {
				if (conns[i]->state == C_READ || conns[i]->state == C_CLOSING ||
				    now >= stop_deadline) {
					conn_free(conns[i]);
					conns[i] = conns[--n];
				} else {
					i++;
				}
			}
			if (n == 0)
				break;
		}
		/* deadlines and held responses that are due */
		long long wait = stop_deadline ? 50 : 200;
		for (size_t i = 0; i < n;) {
			struct conn *c = conns[i];
			if (c->state == C_HOLD && now >= c->send_at) {
				c->state = C_WRITE;
				c->deadline = now + h->request_timeout_ms;
			}
			if (c->state == C_HOLD && c->send_at - now < wait)
				wait = c->send_at - now;
			if (c->deadline && now >= c->deadline) {
				if (c->state == C_READ && c->request_begun) {
					/* the whole request did not come in time */
					h->timed_out++;
					send_now(c->fd, 408, "");
					start_closing(c, now);
					i++;
					continue;
				}
				if (c->state == C_WRITE)
					h->timed_out++;  /* the client does not take its answer */
				conn_free(c);           /* or idle, or done lingering */
				conns[i] = conns[--n];
				continue;
			}
			if (c->deadline && c->deadline - now < wait)
				wait = c->deadline - now;
			i++;
		}
		size_t np = 0;
		bool accepting = !stop_deadline && now >= accept_paused_until;
		if (accepting)
			pfd[np++] = (struct pollfd){ h->fd, POLLIN, 0 };
		for (size_t i = 0; i < n; i++)
			pfd[np++] = (struct pollfd){ conns[i]->fd,
				(short)(conns[i]->state == C_READ || conns[i]->state == C_CLOSING ? POLLIN :
					conns[i]->state == C_WRITE ? POLLOUT : 0), 0 };
		int pr = poll(pfd, np, (int)(wait < 0 ? 0 : wait));
		if (pr < 0 && errno != EINTR) {
			rc = acme_err_set(err, ACME_E_FAILURE, "listen: poll: %s", strerror(errno));
			break;
		}
		if (pr <= 0)
			continue;
		now = clock_mono_ms();
		size_t base = accepting ? 1 : 0;
		/* connections first (indices are stable until we remove) */
		for (size_t k = n; k-- > 0;) {
			struct conn *c = conns[k];
			short re = pfd[base + k].revents;
			bool drop = false;
			if (re & (POLLERR | POLLNVAL))
				drop = true;
			else if (c->state == C_CLOSING && (re & (POLLIN | POLLHUP))) {
				char buf[16384];
				ssize_t got = read(c->fd, buf, sizeof(buf));
				if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
					drop = true;    /* the client closed too */
			} else if (c->state == C_READ && (re & (POLLIN | POLLHUP))) {
				char buf[16384];
				ssize_t got = read(c->fd, buf, sizeof(buf));
				if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
					drop = true;
				} else if (got > 0) {
					if (!c->request_begun) {
						c->request_begun = true;
						c->deadline = now + h->request_timeout_ms;
					}
					if (strbuf_add(&c->in, buf, (size_t)got) < 0) {
						struct httpd_response r;
						memset(&r, 0, sizeof(r));
						r.status = 413;
						default_body(&r);
						set_response(c, &r, true);
					} else {
						try_request(h, c, handler, user);
					}
				}
			} else if (c->state == C_WRITE && (re & (POLLOUT | POLLHUP))) {
				ssize_t put = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
						   MSG_NOSIGNAL);
				if (put < 0 && errno != EAGAIN && errno != EINTR) {
					drop = true;
				} else if (put > 0) {
					c->out_off += (size_t)put;
					if (c->out_off == c->out_len) {
						if (c->close_after) {
							start_closing(c, now);
						} else {
							wait_request(h, c, now);
							try_request(h, c, handler, user);  /* pipelined */
						}
					}
				}
			}
			if (drop) {
				conn_free(c);
				conns[k] = conns[--n];
				pfd[base + k] = pfd[base + n];   /* keep indices consistent */
			}
		}
		if (accepting && (pfd[0].revents & POLLIN)) {
			for (int i = 0; i < 64; i++) {
				struct sockaddr_storage ss;
				socklen_t sl = sizeof(ss);
				int fd = accept4(h->fd, (struct sockaddr *)&ss, &sl,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0) {
					/* out of descriptors: the connection stays in the
					 * backlog; do not spin on it */
					if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
					    errno == ENOMEM)
						accept_paused_until = now + 100;
					break;
				}
				if (n >= cap) {
					h->refused++;
					refuse_conn(fd);
					continue;
				}
				int one = 1;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				struct conn *c = xcalloc(1, sizeof(*c));
				c->fd = fd;
				strbuf_init(&c->in, HTTPREQ_HEAD_MAX + (size_t)h->body_max);
				wait_request(h, c, now);
				peer_text(&ss, c->peer, sizeof(c->peer));
				conns[n++] = c;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		conn_free(conns[i]);
	free(conns);
	free(pfd);
	return rc;
}
