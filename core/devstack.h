/* devstack.h — the private development stack: a PostgreSQL cluster and a
 * redis-server for this user, listening on unix sockets only, under
 * $XDG_STATE_HOME/acmectl/dev (default ~/.local/state/acmectl/dev).
 *
 * The servers run in the background and survive the CLI. Their pids are read
 * from the files the servers write themselves (postmaster.pid, redis.pid), so
 * `down` stops exactly these processes and nothing else.
 *
 * PostgreSQL refuses to run as root: when the caller is root the cluster runs
 * as Debian's `postgres` account, and the state directory must be reachable by
 * it; when the default one is not (root's home is private), the stack lives in
 * /var/lib/acmectl/dev instead.
 */
#ifndef ACME_DEVSTACK_H
#define ACME_DEVSTACK_H
#include <stdbool.h>
#include <sys/types.h>
#include "core/err.h"

struct devstack {
	char *dir;          /* state directory */
	char *pg_bindir;    /* /usr/lib/postgresql/N/bin, NULL if not found */
	char *pg_data;      /* dir/pg/data */
	char *pg_sockdir;   /* dir/pg/run: holds .s.PGSQL.5432 */
	char *pg_log;       /* dir/pg/server.log */
	char *redis_dir;    /* dir/redis */
	char *redis_sock;   /* dir/redis/redis.sock */
	char *redis_pidfile;
	char *redis_log;
	char *key_file;     /* dir/secret.key: the key that seals webhook secrets */
	bool as_root;       /* servers are run as the postgres account */
};

#define DEVSTACK_DB_NAME "acme"
#define DEVSTACK_DB_USER "acme"

struct devstack_status {
	bool pg_initialised, pg_running, pg_ready;
	pid_t pg_pid;
	bool redis_running, redis_ready;
	pid_t redis_pid;
};

/* Compute paths; dir_override (ACME_DEV_DIR) replaces the default directory.
 * Creates nothing. */
int devstack_init(struct devstack *ds, const char *dir_override, struct acme_err *err);
void devstack_release(struct devstack *ds);

/* Owned strings (free()); no secrets: the cluster trusts its private socket. */
char *devstack_database_url(const struct devstack *ds);
char *devstack_redis_url(const struct devstack *ds);

/* The dev stack's key file for webhook secrets at rest (core/secretbox.h):
 * 32 random bytes in base64, mode 0600, made when missing (`dev up`, or the
 * first command that needs it); an existing file is left as it is. 1 when
 * this call made it (or another process made it meanwhile), 0 when it was
 * there, -1 with err. */
int devstack_make_key(const char *path, struct acme_err *err);

/* Create, start and wait until both answer; idempotent. *started (may be NULL)
 * tells whether anything had to be started. */
int devstack_up(struct devstack *ds, bool *started, struct acme_err *err);
/* Stop both (by recorded pid) and wait for them to exit; purge removes data. */
int devstack_down(struct devstack *ds, bool purge, struct acme_err *err);
int devstack_status(const struct devstack *ds, struct devstack_status *st, struct acme_err *err);

#endif
