/* tlsconn.c — TLS client connections carried to a local socket; see tlsconn.h.
 *
 * The pump is one thread per connection with two fixed buffers (one each
 * way), nonblocking descriptors and poll(): it moves whatever can move, and
 * sleeps in poll() only when nothing can. OpenSSL is entered with ssl_lock
 * held, so that pthread_atfork's prepare handler can wait until no pump is
 * inside OpenSSL before the process forks (a child must not inherit a lock
 * held by a thread it does not have).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/clock.h"
#include "core/secretbox.h"
#include "core/tlsconn.h"
#include "core/xalloc.h"

#define PUMP_BUF   16384
#define PUMP_STACK (256 * 1024)

struct pump {
	struct pump *next;
	SSL_CTX *ctx;
	SSL *ssl;
	int tcp;        /* the TLS connection */
	int app;        /* our end of the pair; hiredis has the other */
	bool live;      /* false once ended, or in a child after fork */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER; /* the list */
static pthread_mutex_t ssl_lock = PTHREAD_MUTEX_INITIALIZER; /* held inside OpenSSL */
static struct pump *pumps;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void at_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
	pthread_mutex_lock(&ssl_lock);
}

static void at_parent(void)
{
	pthread_mutex_unlock(&ssl_lock);
	pthread_mutex_unlock(&reg_lock);
}

/* The child has no pumps: close their descriptors so that the child cannot
 * keep its parent's connections open, nor reach them. The sessions stay on
 * the list (still reachable, never used). */
static void at_child(void)
{
	for (struct pump *p = pumps; p; p = p->next) {
		if (!p->live)
			continue;
		close(p->tcp);
		close(p->app);
		p->tcp = p->app = -1;
		p->live = false;
	}
	pthread_mutex_unlock(&ssl_lock);
	pthread_mutex_unlock(&reg_lock);
}

static void init(void)
{
	OPENSSL_init_ssl(0, NULL);
	pthread_atfork(at_prepare, at_parent, at_child);
}

int tlsconn_active(void)
{
	int n = 0;
	pthread_mutex_lock(&reg_lock);
	for (struct pump *p = pumps; p; p = p->next)
		n += p->live;
	pthread_mutex_unlock(&reg_lock);
	return n;
}

/* ---- the pump ------------------------------------------------------------------- */

/* One SSL_read or SSL_write under ssl_lock: returns bytes moved (> 0), or 0
 * with *want set to POLLIN or POLLOUT, or -1 when the session is over. */
static int ssl_io(SSL *ssl, bool writing, void *buf, size_t len, short *want)
{
	pthread_mutex_lock(&ssl_lock);
	ERR_clear_error();
	int r = writing ? SSL_write(ssl, buf, (int)len) : SSL_read(ssl, buf, (int)len);
	int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
	pthread_mutex_unlock(&ssl_lock);
	if (r > 0)
		return r;
	if (e == SSL_ERROR_WANT_READ) {
		*want |= POLLIN;
		return 0;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		*want |= POLLOUT;
		return 0;
	}
	return -1;
}

static void pump_end(struct pump *p)
{
	pthread_mutex_lock(&reg_lock);
	pthread_mutex_lock(&ssl_lock);
	if (p->live) {
		close(p->tcp);
		close(p->app);
		p->live = false;
	}
	SSL_free(p->ssl);
	SSL_CTX_free(p->ctx);
	for (struct pump **pp = &pumps; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	free(p);
	pthread_mutex_unlock(&ssl_lock);
	pthread_mutex_unlock(&reg_lock);
}

static void *pump_main(void *arg)
{
	struct pump *p = arg;
	unsigned char up[PUMP_BUF], down[PUMP_BUF];
	size_t ulen = 0, uoff = 0, dlen = 0, doff = 0;
	bool app_eof = false, tls_eof = false;

	for (;;) {
		short tls_want = 0, app_want = 0;
		bool moved;
		do {
			moved = false;
			tls_want = app_want = 0;
			if (ulen == 0 && !app_eof) {
				ssize_t n = recv(p->app, up, sizeof(up), MSG_DONTWAIT);
				if (n > 0) {
					ulen = (size_t)n;
					uoff = 0;
					moved = true;
				} else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
						      errno != EINTR)) {
					app_eof = true;
				}
			}
			if (tls_eof)        /* nowhere to send it */
				ulen = uoff = 0;
			if (uoff < ulen) {
				int r = ssl_io(p->ssl, true, up + uoff, ulen - uoff, &tls_want);
				if (r < 0) {
					tls_eof = true;
					ulen = uoff = 0;
				} else if (r > 0) {
					uoff += (size_t)r;
					if (uoff == ulen)
						ulen = uoff = 0;
					moved = true;
				}
			}
			if (dlen == 0 && !tls_eof) {
				int r = ssl_io(p->ssl, false, down, sizeof(down), &tls_want);
				if (r < 0) {
					tls_eof = true;    /* close_notify, end of file or an error */
				} else if (r > 0) {
					dlen = (size_t)r;
					doff = 0;
					moved = true;
				}
			}
			if (doff < dlen && !app_eof) {
				ssize_t n = send(p->app, down + doff, dlen - doff,
						 MSG_DONTWAIT | MSG_NOSIGNAL);
				if (n > 0) {
					doff += (size_t)n;
					if (doff == dlen)
						dlen = doff = 0;
					moved = true;
				} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
						     errno == EINTR)) {
					app_want |= POLLOUT;
				} else {
					app_eof = true;
				}
			}
		} while (moved);

		if (app_eof) {
			/* hiredis closed its end (redisFree): say goodbye */
			pthread_mutex_lock(&ssl_lock);
			if (!tls_eof)
				SSL_shutdown(p->ssl);
			pthread_mutex_unlock(&ssl_lock);
			break;
		}
		if (tls_eof && dlen == 0)
			break;             /* the reader sees end of file when we close */

		if (ulen == 0)
			app_want |= POLLIN;
		struct pollfd f[2] = {
			{ p->app, app_want, 0 },
			{ tls_want ? p->tcp : -1, tls_want, 0 },
		};
		if (poll(f, 2, -1) < 0 && errno != EINTR)
			break;
		if (f[0].revents & (POLLHUP | POLLERR) && !(f[0].revents & POLLIN))
			app_eof = true;
	}
	pump_end(p);
	return NULL;
}

/* ---- connecting ------------------------------------------------------------------- */

static int wait_fd(int fd, short ev, long long deadline)
{
	for (;;) {
		long long left = deadline - clock_mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd f = { fd, ev, 0 };
		int r = poll(&f, 1, (int)(left > 60000 ? 60000 : left));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int tcp_connect(const char *host, int port, long long deadline, struct acme_err *err)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	char ps[8];
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%d", port);
	int g = getaddrinfo(host, ps, &hints, &res);
	if (g != 0) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "cannot resolve %s: %s", host, gai_strerror(g));
		err->transient = g == EAI_AGAIN;
		return -1;
	}
	int fd = -1, why = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			why = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			int w = wait_fd(fd, POLLOUT, deadline);
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && !soerr)
				break;
			why = w == 0 ? ETIMEDOUT : soerr ? soerr : errno;
		} else {
			why = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "%s", why == ETIMEDOUT ?
			     "Connection timed out" : strerror(why));
		err->transient = true;
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	return fd;
}

static const char *ssl_errtext(char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();
	if (!e)
		return NULL;
	ERR_error_string_n(e, buf, n);
	return buf;
}

static const char *errtext_or(char *buf, size_t n, const char *dflt)
{
	const char *t = ssl_errtext(buf, n);
	return t ? t : dflt;
}

static SSL_CTX *make_ctx(const struct tls_opts *o, struct acme_err *err)
{
	char eb[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		acme_err_set(err, ACME_E_FAILURE, "TLS: cannot make a context: %s",
			     errtext_or(eb, sizeof(eb), "out of memory"));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (o->insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (o->ca_file) {
			if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
				acme_err_set(err, ACME_E_CONFIG, "TLS CA file %s: cannot read "
					     "certificates from it (%s); give a PEM file of CA "
					     "certificates", o->ca_file,
					     errtext_or(eb, sizeof(eb), "unreadable"));
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			acme_err_set(err, ACME_E_CONFIG, "TLS: cannot load the system's CA "
				     "certificates; give a CA file (tls_ca)");
			goto fail;
		}
	}
	if (o->cert_file || o->key_file) {
		const char *key = o->key_file ? o->key_file : o->cert_file;
		if (!o->cert_file) {
			acme_err_set(err, ACME_E_CONFIG, "TLS: a client key (tls_key) needs its "
				     "certificate (tls_cert)");
			goto fail;
		}
		int kfd = open(key, O_RDONLY | O_CLOEXEC);
		if (kfd >= 0) {
			int bad = secretbox_check_private(kfd, key, "TLS client key", err);
			close(kfd);
			if (bad < 0)
				goto fail;
		}
		if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
			acme_err_set(err, ACME_E_CONFIG, "TLS client certificate %s: cannot read it "
				     "(%s)", o->cert_file, errtext_or(eb, sizeof(eb), "unreadable"));
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			acme_err_set(err, ACME_E_CONFIG, "TLS client key %s: cannot read it, or it "
				     "does not match the certificate %s (%s)", key, o->cert_file,
				     errtext_or(eb, sizeof(eb), "unreadable"));
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int handshake(SSL *ssl, int fd, long long deadline, struct acme_err *err)
{
	char eb[256];
	for (;;) {
		pthread_mutex_lock(&ssl_lock);
		ERR_clear_error();
		int r = SSL_connect(ssl);
		int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
		long vr = SSL_get_verify_result(ssl);
		const char *why = r == 1 ? NULL : ssl_errtext(eb, sizeof(eb));
		pthread_mutex_unlock(&ssl_lock);
		if (r == 1)
			return 0;
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			int w = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
			if (w > 0)
				continue;
			acme_err_set(err, ACME_E_UNAVAILABLE, "the TLS handshake did not finish "
				     "in time; is this a TLS port?");
			err->transient = true;
			return -1;
		}
		if (vr != X509_V_OK) {
			acme_err_set(err, ACME_E_UNAVAILABLE, "TLS: the server's certificate was "
				     "not accepted: %s; check the CA file (tls_ca) and the server "
				     "name (tls_server_name)", X509_verify_cert_error_string(vr));
			err->transient = false;
			return -1;
		}
		acme_err_set(err, ACME_E_UNAVAILABLE, "the TLS handshake failed: %s",
			     why ? why : e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN ?
			     "the server closed the connection (is this a TLS port? does it "
			     "want a client certificate?)" : "unknown error");
		err->transient = false;
		return -1;
	}
}

static bool is_ip(const char *s)
{
	unsigned char b[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

int tlsconn_open(const char *host, int port, const struct tls_opts *o, long connect_ms,
		 struct acme_err *err)
{
	pthread_once(&init_once, init);
	long long deadline = clock_mono_ms() + (connect_ms > 0 ? connect_ms : 5000);
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	int fd = -1, sv[2] = { -1, -1 };

	pthread_mutex_lock(&ssl_lock);
	ctx = make_ctx(o, err);
	ssl = ctx ? SSL_new(ctx) : NULL;
	pthread_mutex_unlock(&ssl_lock);
	if (!ssl) {
		if (ctx)
			acme_err_set(err, ACME_E_FAILURE, "TLS: out of memory");
		goto fail;
	}
	const char *name = o->server_name ? o->server_name : host;
	if (!is_ip(name))
		SSL_set_tlsext_host_name(ssl, name);
	if (!o->insecure) {
		int ok = is_ip(name) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
				     : SSL_set1_host(ssl, name);
		if (ok != 1) {
			acme_err_set(err, ACME_E_CONFIG, "TLS: cannot verify the name \"%s\"", name);
			goto fail;
		}
	}
	if ((fd = tcp_connect(host, port, deadline, err)) < 0)
		goto fail;
	SSL_set_fd(ssl, fd);
	if (handshake(ssl, fd, deadline, err) < 0)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		acme_err_set(err, ACME_E_FAILURE, "TLS: socketpair: %s", strerror(errno));
		goto fail;
	}

	struct pump *p = xcalloc(1, sizeof(*p));
	p->ctx = ctx;
	p->ssl = ssl;
	p->tcp = fd;
	p->app = sv[1];
	p->live = true;

	/* The pump takes no signals: they stay with the threads that handle them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, PUMP_STACK);
	pthread_mutex_lock(&reg_lock);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t th;
	int rc = pthread_create(&th, &attr, pump_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0) {
		p->next = pumps;
		pumps = p;
	}
	pthread_mutex_unlock(&reg_lock);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(p);
		close(sv[1]);
		sv[1] = -1;
		acme_err_set(err, ACME_E_FAILURE, "TLS: cannot start a thread: %s", strerror(rc));
		goto fail;
	}
	return sv[0];
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&ssl_lock);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	pthread_mutex_unlock(&ssl_lock);
	return -1;
}
