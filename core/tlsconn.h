/* tlsconn.h — a TLS client connection (OpenSSL) carried to a local socket.
 *
 * Debian's hiredis 0.14 has no TLS and reads and writes its file descriptor
 * itself. tlsconn_open() connects over TCP, completes a verified TLS handshake
 * within the connect time, and returns one end of a local socket pair; a
 * thread of its own (the pump) moves bytes between the other end and the TLS
 * session. hiredis then runs on the returned descriptor exactly as on a plain
 * TCP one: its writer, its reader, timeouts, pipelines, pub/sub and the
 * nonblocking steps of core/call.h all stay the one code path.
 *
 * Closing the returned descriptor (redisFree) ends the pump: it sends the TLS
 * close_notify and frees the session. When the server closes or the TLS
 * session fails, the pump delivers what it has read and then closes its end,
 * so the reader sees end of file, as with TCP. A fork()ed child closes every
 * pump's descriptors (the pumps are threads of the parent only), so a child can
 * never write into its parent's TLS session; a fork waits until no pump is
 * inside OpenSSL. */
#ifndef ACME_TLSCONN_H
#define ACME_TLSCONN_H
#include <stdbool.h>
#include "core/err.h"

struct tls_opts {
	const char *ca_file;     /* NULL: the system's CA store */
	const char *cert_file;   /* client certificate chain, or NULL */
	const char *key_file;    /* its key (NULL: in cert_file) */
	const char *server_name; /* SNI and the name verified; NULL: the host */
	bool insecure;           /* no verification at all (development only) */
};

/* Connect to host:port and shake hands within connect_ms. Returns the local
 * descriptor (close-on-exec) or -1 with err: ACME_E_UNAVAILABLE, transient
 * for a refused or timed-out connection, not for a failed verification
 * (whose message names the reason: unknown CA, name mismatch, expired...);
 * ACME_E_CONFIG for an unreadable CA, certificate or key file. */
int tlsconn_open(const char *host, int port, const struct tls_opts *o, long connect_ms,
		 struct acme_err *err);

/* Pumps running now (for tests and diagnostics). */
int tlsconn_active(void);

#endif
