/* devstack.c — start, stop and inspect the private development stack; see
 * devstack.h for the layout and the root rules.
 *
 * The servers are started through their own tools (initdb, pg_ctl,
 * redis-server with daemonize) in a new session, so they outlive the CLI and
 * a Ctrl-C in the terminal does not reach them. Their pids come from the
 * files the servers write, and are checked against /proc before any signal
 * is sent, so a recycled pid is never killed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/devstack.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#define START_TIMEOUT_S 60
#define STOP_TIMEOUT_S  30

/* ---- paths ------------------------------------------------------------------ */

/* Can "others" (the postgres account) reach path? Checks every existing
 * ancestor for search permission. */
static bool traversable_by_others(const char *path)
{
	char *p = xstrdup(path);
	bool ok = true;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char save = *s;
			*s = '\0';
			struct stat sb;
			if (stat(p, &sb) == 0 && !(sb.st_mode & S_IXOTH))
				ok = false;
			*s = save;
			if (!save)
				break;
		}
	}
	free(p);
	return ok;
}

static char *find_pg_bindir(void)
{
	glob_t g;
	char *best = NULL;
	int bestv = 0;
	if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) != 0)
		return NULL;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
		if (v > bestv) {
			bestv = v;
			free(best);
			best = xstrndup(g.gl_pathv[i], strlen(g.gl_pathv[i]) - strlen("/pg_ctl"));
		}
	}
	globfree(&g);
	return best;
}

int devstack_init(struct devstack *ds, const char *dir_override, struct acme_err *err)
{
	memset(ds, 0, sizeof(*ds));
	ds->as_root = geteuid() == 0;
	if (dir_override && dir_override[0]) {
		if (dir_override[0] != '/')
			return acme_err_set(err, ACME_E_CONFIG, "dev_dir \"%s\" must be an absolute path",
					    dir_override);
		ds->dir = xstrdup(dir_override);
	} else {
		const char *xdg = getenv("XDG_STATE_HOME");
		const char *home = getenv("HOME");
		if (xdg && xdg[0] == '/')
			ds->dir = xasprintf("%s/acmectl/dev", xdg);
		else if (home && home[0] == '/')
			ds->dir = xasprintf("%s/.local/state/acmectl/dev", home);
		else
			ds->dir = xstrdup("/var/lib/acmectl/dev");
		/* root's home is private; the postgres account could not enter it */
		if (ds->as_root && !traversable_by_others(ds->dir)) {
			free(ds->dir);
			ds->dir = xstrdup("/var/lib/acmectl/dev");
		}
	}
	size_t n = strlen(ds->dir);
	while (n > 1 && ds->dir[n - 1] == '/')
		ds->dir[--n] = '\0';
	if (n > 80) {
		acme_err_set(err, ACME_E_CONFIG, "dev directory %s is too long for a unix "
			     "socket path (at most 80 characters); set ACME_DEV_DIR", ds->dir);
		devstack_release(ds);
		return -1;
	}
	ds->pg_bindir = find_pg_bindir();
	ds->pg_data = xasprintf("%s/pg/data", ds->dir);
	ds->pg_sockdir = xasprintf("%s/pg/run", ds->dir);
	ds->pg_log = xasprintf("%s/pg/server.log", ds->dir);
	ds->redis_dir = xasprintf("%s/redis", ds->dir);
	ds->redis_sock = xasprintf("%s/redis/redis.sock", ds->dir);
	ds->redis_pidfile = xasprintf("%s/redis/redis.pid", ds->dir);
	ds->redis_log = xasprintf("%s/redis/redis.log", ds->dir);
	ds->key_file = xasprintf("%s/secret.key", ds->dir);
	return 0;
}

void devstack_release(struct devstack *ds)
{
	free(ds->dir);
	free(ds->pg_bindir);
	free(ds->pg_data);
	free(ds->pg_sockdir);
	free(ds->pg_log);
	free(ds->redis_dir);
	free(ds->redis_sock);
	free(ds->redis_pidfile);
	free(ds->redis_log);
	free(ds->key_file);
	memset(ds, 0, sizeof(*ds));
}

/* Percent-encode a path for a URL query value. */
static void add_encoded(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("/-._~", c))
			strbuf_addch(sb, (char)c);
		else
			strbuf_addf(sb, "%%%02X", c);
	}
}

char *devstack_database_url(const struct devstack *ds)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "postgresql:///" DEVSTACK_DB_NAME "?host=");
	add_encoded(&sb, ds->pg_sockdir);
	strbuf_adds(&sb, "&user=" DEVSTACK_DB_USER);
	return strbuf_detach(&sb, NULL);
}

char *devstack_redis_url(const struct devstack *ds)
{
	return xasprintf("unix://%s", ds->redis_sock);
}

/* ---- processes -------------------------------------------------------------- */

/* Is pid alive and running the program named comm? A zombie counts as gone. */
static bool process_is(pid_t pid, const char *comm)
{
	char path[64], buf[512];
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) S ..." */
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r || r[1] != ' ')
		return false;
	if (r[2] == 'Z' || r[2] == 'X')
		return false;
	*r = '\0';
	return strncmp(l + 1, comm, 15) == 0;
}

static pid_t read_pidfile(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

static int lookup_postgres_account(uid_t *uid, gid_t *gid, struct acme_err *err)
{
	struct passwd *pw = getpwnam("postgres");
	if (!pw)
		return acme_err_set(err, ACME_E_UNAVAILABLE, "PostgreSQL refuses to run as root and "
				    "there is no 'postgres' account; install the postgresql package "
				    "(packaging/install-deps) or run as an ordinary user");
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* Run argv in a new session, as the postgres account when the stack runs as
 * root, with output appended to logpath. Waits for it and returns its exit
 * status, or -1 with err set when it could not be started. */
static int run_tool(const struct devstack *ds, bool as_postgres, char *const argv[],
		    const char *logpath, struct acme_err *err)
{
	uid_t uid = 0;
	gid_t gid = 0;
	if (as_postgres && ds->as_root && lookup_postgres_account(&uid, &gid, err) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return acme_err_set(err, ACME_E_FAILURE, "fork: %s", strerror(errno));
	if (pid == 0) {
		setsid();
		if (as_postgres && ds->as_root) {
			if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
				_exit(126);
		}
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		int log = logpath ? open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
		if (log < 0)
			log = devnull;
		dup2(log, STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execv(argv[0], argv);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return acme_err_set(err, ACME_E_FAILURE, "waitpid: %s", strerror(errno));
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int mkdir_p(const char *path, mode_t mode, struct acme_err *err)
{
	char *p = xstrdup(path);
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char save = *s;
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				acme_err_set(err, ACME_E_FAILURE, "cannot create %s: %s", p, strerror(errno));
				free(p);
				return -1;
			}
			*s = save;
			if (!save)
				break;
		}
	}
	free(p);
	return 0;
}

/* ---- status ------------------------------------------------------------------- */

static bool pg_answers(const struct devstack *ds)
{
	const char *const kw[] = { "host", "dbname", "user", "connect_timeout", NULL };
	const char *const val[] = { ds->pg_sockdir, "postgres", DEVSTACK_DB_USER, "2", NULL };
	return PQpingParams(kw, val, 0) == PQPING_OK;
}

static bool redis_answers(const struct devstack *ds)
{
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectUnixWithTimeout(ds->redis_sock, tv);
	bool ok = false;
	if (c && !c->err) {
		redisReply *r = redisCommand(c, "PING");
		ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
		if (r)
			freeReplyObject(r);
	}
	if (c)
		redisFree(c);
	return ok;
}

int devstack_status(const struct devstack *ds, struct devstack_status *st, struct acme_err *err)
{
	char *pidfile = xasprintf("%s/postmaster.pid", ds->pg_data);
	char *version = xasprintf("%s/PG_VERSION", ds->pg_data);
	struct stat sb;
	(void)err;

	memset(st, 0, sizeof(*st));
	st->pg_initialised = stat(version, &sb) == 0;
	st->pg_pid = read_pidfile(pidfile);
	st->pg_running = process_is(st->pg_pid, "postgres");
	st->pg_ready = st->pg_running && pg_answers(ds);
	st->redis_pid = read_pidfile(ds->redis_pidfile);
	st->redis_running = process_is(st->redis_pid, "redis-server");
	st->redis_ready = st->redis_running && redis_answers(ds);
	free(pidfile);
	free(version);
	return 0;
}

/* ---- up ------------------------------------------------------------------------ */

static int pg_init(struct devstack *ds, struct acme_err *err)
{
	char *initdb = xasprintf("%s/initdb", ds->pg_bindir);
	char *const argv[] = { initdb, "-D", ds->pg_data, "-U", DEVSTACK_DB_USER, "--auth=trust",
			       "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", NULL };
	int rc = run_tool(ds, true, argv, ds->pg_log, err);
	free(initdb);
	if (rc < 0)
		return -1;
	if (rc != 0)
		return acme_err_set(err, ACME_E_FAILURE, "initdb failed (exit %d); see %s", rc, ds->pg_log);
	return 0;
}

static int pg_start(struct devstack *ds, struct acme_err *err)
{
	char *pg_ctl = xasprintf("%s/pg_ctl", ds->pg_bindir);
	char *opts = xasprintf("-c listen_addresses='' -c unix_socket_directories='%s' "
			       "-c unix_socket_permissions=0700 -c max_connections=100",
			       ds->pg_sockdir);
	char timeout[16];
	snprintf(timeout, sizeof(timeout), "%d", START_TIMEOUT_S);
	char *const argv[] = { pg_ctl, "-D", ds->pg_data, "-l", ds->pg_log, "-o", opts, "-w",
			       "-t", timeout, "start", NULL };
	int rc = run_tool(ds, true, argv, NULL, err);
	free(pg_ctl);
	free(opts);
	if (rc < 0)
		return -1;
	if (rc != 0)
		return acme_err_set(err, ACME_E_UNAVAILABLE, "postgresql did not start (pg_ctl exit %d); "
				    "see %s", rc, ds->pg_log);
	return 0;
}

static int pg_create_db(struct devstack *ds, struct acme_err *err)
{
	const char *const kw[] = { "host", "dbname", "user", NULL };
	const char *const val[] = { ds->pg_sockdir, "postgres", DEVSTACK_DB_USER, NULL };
	PGconn *c = PQconnectdbParams(kw, val, 0);
	int rc = 0;
	if (PQstatus(c) != CONNECTION_OK) {
		rc = acme_err_set(err, ACME_E_UNAVAILABLE, "dev stack postgresql: %s", PQerrorMessage(c));
		goto out;
	}
	const char *params[1] = { DEVSTACK_DB_NAME };
	PGresult *r = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL,
				   params, NULL, NULL, 0);
	bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	if (!exists) {
		r = PQexec(c, "CREATE DATABASE " DEVSTACK_DB_NAME);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = acme_err_set(err, ACME_E_FAILURE, "dev stack: cannot create database: %s",
					  PQerrorMessage(c));
		PQclear(r);
	}
out:
	PQfinish(c);
	return rc;
}

static int redis_start(struct devstack *ds, struct acme_err *err)
{
	char *conf = xasprintf("%s/redis.conf", ds->redis_dir);
	FILE *f = fopen(conf, "w");
	int rc = -1;
	if (!f) {
		acme_err_set(err, ACME_E_FAILURE, "cannot write %s: %s", conf, strerror(errno));
		goto out;
	}
	fprintf(f, "# written by acmectl dev up; rewritten at every start\n"
		   "port 0\nunixsocket %s\nunixsocketperm 700\ndaemonize yes\npidfile %s\n"
		   "logfile %s\ndir %s\nmaxmemory-policy noeviction\nappendonly no\n",
		ds->redis_sock, ds->redis_pidfile, ds->redis_log, ds->redis_dir);
	if (fclose(f) != 0) {
		acme_err_set(err, ACME_E_FAILURE, "cannot write %s", conf);
		goto out;
	}
	unlink(ds->redis_pidfile);
	char *const argv[] = { "/usr/bin/redis-server", conf, NULL };
	if (access(argv[0], X_OK) < 0) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "redis-server is not installed at %s; run "
			     "packaging/install-deps", argv[0]);
		goto out;
	}
	int st = run_tool(ds, false, argv, ds->redis_log, err);
	if (st < 0)
		goto out;
	if (st != 0) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "redis-server did not start (exit %d); see %s",
			     st, ds->redis_log);
		goto out;
	}
	for (int i = 0; i < START_TIMEOUT_S * 10; i++) {
		if (redis_answers(ds)) {
			rc = 0;
			goto out;
		}
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	acme_err_set(err, ACME_E_UNAVAILABLE, "redis-server did not answer within %d s; see %s",
		     START_TIMEOUT_S, ds->redis_log);
out:
	free(conf);
	return rc;
}

int devstack_make_key(const char *path, struct acme_err *err)
{
	unsigned char key[32];
	char line[64];
	struct stat sb;
	if (lstat(path, &sb) == 0)
		return 0;
	/* written whole under a temporary name, then linked into place: a
	 * command racing this one, or a crash, never sees a partial key, and
	 * link() refuses to replace one another process made meanwhile */
	char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		acme_err_set(err, ACME_E_FAILURE, "cannot create the dev key file %s: %s", path,
			     strerror(errno));
		free(tmp);
		return -1;
	}
	int rc = -1;
	if (RAND_bytes(key, sizeof(key)) != 1) {
		acme_err_set(err, ACME_E_FAILURE, "no random bytes for the dev key");
		close(fd);
		goto out;
	}
	int n = EVP_EncodeBlock((unsigned char *)line, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	line[n++] = '\n';
	ssize_t w = write(fd, line, (size_t)n);
	OPENSSL_cleanse(line, sizeof(line));
	int e = w < 0 ? errno : EIO;
	if (w == n && fsync(fd) < 0)
		e = errno, w = -1;
	if (close(fd) < 0 && w == n)
		e = errno, w = -1;
	if (w != n) {
		acme_err_set(err, ACME_E_FAILURE, "cannot write the dev key file %s: %s", path,
			     strerror(e));
		goto out;
	}
	if (link(tmp, path) < 0 && errno != EEXIST) {
		acme_err_set(err, ACME_E_FAILURE, "cannot create the dev key file %s: %s", path,
			     strerror(errno));
		goto out;
	}
	rc = 1;
out:
	unlink(tmp);
	free(tmp);
	return rc;
}

int devstack_up(struct devstack *ds, bool *started, struct acme_err *err)
{
	struct devstack_status st;
	uid_t uid = 0;
	gid_t gid = 0;
	char *pgdir = xasprintf("%s/pg", ds->dir);
	int rc = -1;

	if (started)
		*started = false;
	if (!ds->pg_bindir) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "PostgreSQL server binaries not found under "
			     "/usr/lib/postgresql/*/bin; run packaging/install-deps");
		goto out;
	}
	if (ds->as_root && lookup_postgres_account(&uid, &gid, err) < 0)
		goto out;
	if (ds->as_root && !traversable_by_others(ds->dir)) {
		acme_err_set(err, ACME_E_CONFIG, "dev directory %s is not reachable by the postgres "
			     "account (a parent directory lacks o+x); set ACME_DEV_DIR to another place",
			     ds->dir);
		goto out;
	}
	if (mkdir_p(ds->dir, ds->as_root ? 0755 : 0700, err) < 0 ||
	    mkdir_p(pgdir, 0700, err) < 0 || mkdir_p(ds->redis_dir, 0700, err) < 0 ||
	    devstack_make_key(ds->key_file, err) < 0)
		goto out;
	if (ds->as_root && (chown(pgdir, uid, gid) < 0)) {
		acme_err_set(err, ACME_E_FAILURE, "cannot hand %s to the postgres account: %s", pgdir,
			     strerror(errno));
		goto out;
	}
	if (devstack_status(ds, &st, err) < 0)
		goto out;

	if (!st.pg_running) {
		if (!st.pg_initialised && pg_init(ds, err) < 0)
			goto out;
		if (mkdir_p(ds->pg_sockdir, 0700, err) < 0)
			goto out;
		if (ds->as_root && chown(ds->pg_sockdir, uid, gid) < 0) {
			acme_err_set(err, ACME_E_FAILURE, "cannot chown %s: %s", ds->pg_sockdir,
				     strerror(errno));
			goto out;
		}
		if (pg_start(ds, err) < 0)
			goto out;
		if (started)
			*started = true;
	}
	if (pg_create_db(ds, err) < 0)
		goto out;
	if (!st.redis_running) {
		if (redis_start(ds, err) < 0)
			goto out;
		if (started)
			*started = true;
	} else if (!st.redis_ready) {
		for (int i = 0; i < START_TIMEOUT_S * 10 && !redis_answers(ds); i++) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	rc = 0;
out:
	free(pgdir);
	return rc;
}

/* ---- down ------------------------------------------------------------------------ */

static int stop_process(pid_t pid, const char *comm, int sig, const char *what,
			struct acme_err *err)
{
	if (!process_is(pid, comm))
		return 0;
	if (kill(pid, sig) < 0 && errno != ESRCH)
		return acme_err_set(err, ACME_E_FAILURE, "cannot stop %s (pid %d): %s", what, (int)pid,
				    strerror(errno));
	for (int i = 0; i < STOP_TIMEOUT_S * 20; i++) {
		if (!process_is(pid, comm))
			return 0;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/* PostgreSQL's immediate shutdown, or redis's hard stop */
	kill(pid, sig == SIGINT ? SIGQUIT : SIGKILL);
	for (int i = 0; i < 100; i++) {
		if (!process_is(pid, comm))
			return 0;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return acme_err_set(err, ACME_E_FAILURE, "%s (pid %d) did not stop", what, (int)pid);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int devstack_down(struct devstack *ds, bool purge, struct acme_err *err)
{
	struct devstack_status st;
	if (devstack_status(ds, &st, err) < 0)
		return -1;
	/* SIGINT is PostgreSQL's "fast" shutdown: roll back and stop now */
	if (stop_process(st.pg_pid, "postgres", SIGINT, "postgresql", err) < 0)
		return -1;
	if (stop_process(st.redis_pid, "redis-server", SIGTERM, "redis-server", err) < 0)
		return -1;
	if (purge) {
		struct stat sb;
		if (stat(ds->dir, &sb) == 0 &&
		    nftw(ds->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
			return acme_err_set(err, ACME_E_FAILURE, "cannot remove %s: %s", ds->dir,
					    strerror(errno));
	}
	return 0;
}
