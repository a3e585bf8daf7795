/* url.h — connection URLs: redaction for display and parsing of Redis URLs.
 * PostgreSQL URLs and keyword strings are parsed by libpq itself. */
#ifndef ACME_URL_H
#define ACME_URL_H
#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

/* Copy of s with every password replaced by "***": the password of
 * scheme://user:pass@host, a password= query parameter, and a password=
 * keyword of a libpq conninfo string. Caller frees. */
char *url_redact(const char *s);

#define REDIS_URL_MAX_SENTINELS 8

struct redis_url {
	char *host;      /* NULL for a unix socket */
	int port;
	char *socket;    /* unix socket path or NULL */
	char *user;      /* NULL unless given */
	char *password;  /* NULL unless given; a secret: never print it */
	int db;
	/* rediss://: TLS, with the options of its query string (NULL or -1
	 * when not given there) */
	bool tls;
	char *tls_ca;          /* ?tls_ca=FILE: CA certificates to verify the server */
	char *tls_cert;        /* ?tls_cert=FILE: client certificate (chain) */
	char *tls_key;         /* ?tls_key=FILE: its private key */
	char *tls_server_name; /* ?tls_server_name=NAME: SNI and the name to verify */
	int tls_insecure;      /* ?tls_insecure=1: no verification (development) */
	/* redis+sentinel:// (rediss+sentinel:// with TLS): the primary is the one
	 * the sentinels name for master_name; host and port are NULL and 0 */
	bool sentinel;
	char *master_name;
	size_t nsentinels;
	struct redis_sentinel_addr { char *host; int port; } sentinels[REDIS_URL_MAX_SENTINELS];
	char *sentinel_user;     /* ?sentinel_user=, ?sentinel_password=: the */
	char *sentinel_password; /* sentinels' own AUTH (a secret) */
};

/* Accepts redis://[[user]:password@]host[:port][/db][?opts],
 * rediss://... (TLS), unix://[[user]:password@]/path/to/socket[?db=N] and
 * redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db][?opts]
 * (rediss+sentinel:// with TLS; sentinel port 26379 by default; the user and
 * password are the primary's; sentinel_user and sentinel_password options).
 * opts: db=N, and for rediss:// tls_ca, tls_cert, tls_key, tls_server_name,
 * tls_insecure; an unknown option, or a tls_ option without rediss://, is an
 * error (ACME_E_CONFIG). */
int redis_url_parse(const char *s, struct redis_url *out, struct acme_err *err);
void redis_url_release(struct redis_url *u);
/* "host:port" or "unix socket /path", for messages. Caller frees. */
char *redis_url_describe(const struct redis_url *u);

#endif
