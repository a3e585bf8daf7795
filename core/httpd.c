/* httpd.c — the poll() loop of the local webhook receiver; see httpd.h.
 *
 * Each connection is a small state machine: READ until a whole request is
 * buffered (head through httpreq_parse, then Content-Length bytes of body),
 * call the handler, HOLD the response until its delay has passed, WRITE it,
 * then READ again (keep-alive, leftover bytes kept) or close. Sockets are
 * non-blocking, so one slow or stalled client never blocks the others.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/httpd.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

enum conn_state { C_READ, C_HOLD, C_WRITE };

struct conn {
	int fd;
	enum conn_state state;
	struct strbuf in;
	char *out;
	size_t out_len, out_off;
	long long send_at;        /* monotonic ms */
	long long last_active;    /* monotonic ms */
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
	struct conn **conns = xcalloc(HTTPD_MAX_CONNS, sizeof(*conns));
	struct pollfd *pfd = xcalloc(HTTPD_MAX_CONNS + 1, sizeof(*pfd));
	size_t n = 0;
	long long stop_deadline = 0;
	int rc = 0;

	for (;;) {
		long long now = clock_mono_ms();
		if (*stop && !stop_deadline)
			stop_deadline = now + 5000;
		if (stop_deadline) {
			/* stopping: drop connections with nothing left to send */
			for (size_t i = 0; i < n;) {
				if (conns[i]->state == C_READ || now >= stop_deadline) {
					conn_free(conns[i]);
					conns[i] = conns[--n];
				} else {
					i++;
				}
			}
			if (n == 0)
				break;
		}
		/* timeouts and held responses that are due */
		long long wait = stop_deadline ? 50 : 200;
		for (size_t i = 0; i < n;) {
			struct conn *c = conns[i];
			if (c->state == C_HOLD && now >= c->send_at)
				c->state = C_WRITE;
			if (c->state == C_HOLD && c->send_at - now < wait)
				wait = c->send_at - now;
			long long limit = c->in.len ? HTTPD_READ_TIMEOUT_MS : HTTPD_IDLE_TIMEOUT_MS;
			if (c->state == C_READ && now - c->last_active > limit) {
				conn_free(c);
				conns[i] = conns[--n];
				continue;
			}
			i++;
		}
		size_t np = 0;
		bool accepting = !stop_deadline && n < HTTPD_MAX_CONNS;
		if (accepting)
			pfd[np++] = (struct pollfd){ h->fd, POLLIN, 0 };
		for (size_t i = 0; i < n; i++)
			pfd[np++] = (struct pollfd){ conns[i]->fd,
				(short)(conns[i]->state == C_READ ? POLLIN :
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
			else if (c->state == C_READ && (re & (POLLIN | POLLHUP))) {
				char buf[16384];
				ssize_t got = read(c->fd, buf, sizeof(buf));
				if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
					drop = true;
				} else if (got > 0) {
					c->last_active = now;
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
					c->last_active = now;
					if (c->out_off == c->out_len) {
						if (c->close_after) {
							drop = true;
						} else {
							c->state = C_READ;
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
			for (int i = 0; i < 64 && n < HTTPD_MAX_CONNS; i++) {
				struct sockaddr_storage ss;
				socklen_t sl = sizeof(ss);
				int fd = accept4(h->fd, (struct sockaddr *)&ss, &sl,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0)
					break;
				int one = 1;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				struct conn *c = xcalloc(1, sizeof(*c));
				c->fd = fd;
				strbuf_init(&c->in, HTTPREQ_HEAD_MAX + (size_t)h->body_max);
				c->state = C_READ;
				c->last_active = now;
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
