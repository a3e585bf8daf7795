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

struct redis_url {
	char *host;      /* NULL for a unix socket */
	int port;
	char *socket;    /* unix socket path or NULL */
	char *user;      /* NULL unless given */
	char *password;  /* NULL unless given; a secret: never print it */
	int db;
};

/* Accepts redis://[[user]:password@]host[:port][/db] and
 * unix://[[user]:password@]/path/to/socket[?db=N]. */
int redis_url_parse(const char *s, struct redis_url *out, struct acme_err *err);
void redis_url_release(struct redis_url *u);
/* "host:port" or "unix socket /path", for messages. Caller frees. */
char *redis_url_describe(const struct redis_url *u);

#endif
