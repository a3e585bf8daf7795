/* dev.c — `acmectl dev up|down|status|env|psql|redis-cli`: the private
 * PostgreSQL and Redis a developer (and `make demo`) works against. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/devstack.h"
#include "core/output.h"
#include "core/xalloc.h"

static int open_stack(struct ctx *ctx, struct devstack *ds)
{
	return devstack_init(ds, config_get(&ctx->s.cfg, CFG_DEV_DIR), &ctx->err);
}

static int dev_up(struct ctx *ctx, struct args *a)
{
	bool started = false;
	size_t applied = 0;
	int current = 0;
	(void)a;
	if (session_devstack_up(&ctx->s, &started, &current, &applied, &ctx->err) < 0)
		return -1;
	ctx_msg(ctx, "dev stack %s in %s", started ? "started" : "already running",
		config_get(&ctx->s.cfg, CFG_DEV_DIR));
	ctx_msg(ctx, "dev database at migration %04d%s", current,
		applied ? " (migrated just now)" : "");
	return 0;
}

static int dev_down(struct ctx *ctx, struct args *a)
{
	struct devstack ds;
	bool purge = args_has(a, "purge");
	if (open_stack(ctx, &ds) < 0)
		return -1;
	if (purge) {
		/* every dev database goes: the one confirmation policy (core/confirm.h) */
		char *what = xasprintf("stop the dev stack and delete its data in %s (every dev "
				       "database and the Redis data)", ds.dir);
		struct confirm_text ct = { what, NULL, NULL, "nothing was stopped or deleted" };
		bool dry = ctx_dry_run(ctx, a, what);
		int confirmed = dry ? 0 : ctx_confirm_action(ctx, a, CONFIRM_DESTRUCTIVE, 1, &ct);
		free(what);
		if (dry || confirmed < 0) {
			devstack_release(&ds);
			return dry ? 0 : -1;
		}
	} else if (ctx_dry_run(ctx, a, "stop the dev stack (its data stays)")) {
		devstack_release(&ds);
		return 0;
	}
	int rc = devstack_down(&ds, purge, &ctx->err);
	if (rc == 0)
		ctx_msg(ctx, "dev stack stopped%s", purge ? " and its data removed" : "");
	devstack_release(&ds);
	return rc;
}

static int dev_status(struct ctx *ctx, struct args *a)
{
	struct devstack ds;
	struct devstack_status st;
	char pgpid[16], rpid[16];
	(void)a;
	if (open_stack(ctx, &ds) < 0)
		return -1;
	if (devstack_status(&ds, &st, &ctx->err) < 0) {
		devstack_release(&ds);
		return -1;
	}
	const char *pgstate = st.pg_ready ? "ready" : st.pg_running ? "starting" :
			      st.pg_initialised ? "stopped" : "absent";
	const char *rstate = st.redis_ready ? "ready" : st.redis_running ? "starting" : "stopped";
	char *pgaddr = xasprintf("%s/.s.PGSQL.5432", ds.pg_sockdir);
	snprintf(pgpid, sizeof(pgpid), "%d", (int)st.pg_pid);
	snprintf(rpid, sizeof(rpid), "%d", (int)st.redis_pid);

	enum out_format fmt = ctx_format(ctx);
	if (fmt == OUT_JSON) {
		json_t *doc = json_pack("{s:s, s:{s:s, s:o, s:s}, s:{s:s, s:o, s:s}}",
			"dir", ds.dir,
			"postgresql", "state", pgstate,
			"pid", st.pg_running ? json_integer(st.pg_pid) : json_null(), "socket", pgaddr,
			"redis", "state", rstate,
			"pid", st.redis_running ? json_integer(st.redis_pid) : json_null(),
			"socket", ds.redis_sock);
		output_json(ctx->out, doc, true);
		json_decref(doc);
	} else {
		static const struct out_col cols[] = {
			{ "service", COL_STR }, { "state", COL_STR }, { "pid", COL_INT }, { "socket", COL_STR },
		};
		struct output *o = ctx_output_new(ctx, cols, 4);
		if (!o) {
			free(pgaddr);
			devstack_release(&ds);
			return -1;
		}
		const char *r1[] = { "postgresql", pgstate, st.pg_running ? pgpid : NULL, pgaddr };
		const char *r2[] = { "redis", rstate, st.redis_running ? rpid : NULL, ds.redis_sock };
		output_row(o, r1);
		output_row(o, r2);
		output_end(o, NULL);
	}
	free(pgaddr);
	devstack_release(&ds);
	/* scripts: 0 when both answer, 69 (unavailable) otherwise */
	return st.pg_ready && st.redis_ready ? 0 : 69;
}

/* Single-quote s for a POSIX shell. */
static void put_shell_quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static int dev_env(struct ctx *ctx, struct args *a)
{
	struct devstack ds;
	(void)a;
	if (open_stack(ctx, &ds) < 0)
		return -1;
	char *db = devstack_database_url(&ds), *rd = devstack_redis_url(&ds);
	if (ctx->fmt_given && ctx->fmt == OUT_JSON) {
		json_t *doc = json_pack("{s:s, s:s, s:s}", "DATABASE_URL", db, "REDIS_URL", rd,
					"ACME_SECRET_KEY_FILE", ds.key_file);
		output_json(ctx->out, doc, true);
		json_decref(doc);
	} else {
		fputs("export DATABASE_URL=", ctx->out);
		put_shell_quoted(ctx->out, db);
		fputs("\nexport REDIS_URL=", ctx->out);
		put_shell_quoted(ctx->out, rd);
		fputs("\nexport ACME_SECRET_KEY_FILE=", ctx->out);
		put_shell_quoted(ctx->out, ds.key_file);
		fputc('\n', ctx->out);
	}
	free(db);
	free(rd);
	devstack_release(&ds);
	return 0;
}

/* Replace this process with a client of the dev stack, passing extra args. */
static int exec_client(struct ctx *ctx, struct args *a, bool psql)
{
	struct devstack ds;
	struct devstack_status st;
	if (open_stack(ctx, &ds) < 0)
		return -1;
	devstack_status(&ds, &st, &ctx->err);
	if (!(psql ? st.pg_ready : st.redis_ready)) {
		devstack_release(&ds);
		return acme_err_set(&ctx->err, ACME_E_UNAVAILABLE, "the dev stack is not running; "
				    "start it with 'acmectl dev up'");
	}
	char **argv = xcalloc((size_t)a->argc + 4, sizeof(char *));
	int n = 0;
	char *url = NULL;
	if (psql) {
		url = devstack_database_url(&ds);
		char *bin = ds.pg_bindir ? xasprintf("%s/psql", ds.pg_bindir) : xstrdup("psql");
		argv[n++] = access(bin, X_OK) == 0 ? bin : "psql";
		argv[n++] = url;
	} else {
		argv[n++] = "redis-cli";
		argv[n++] = "-s";
		argv[n++] = ds.redis_sock;
	}
	for (int i = 0; i < a->argc; i++)
		argv[n++] = a->argv[i];
	argv[n] = NULL;
	fflush(NULL);
	execvp(argv[0], argv);
	acme_err_set(&ctx->err, ACME_E_UNAVAILABLE, "cannot run %s: %s", argv[0], strerror(errno));
	free(argv);
	free(url);
	devstack_release(&ds);
	return -1;
}

static int dev_psql(struct ctx *ctx, struct args *a) { return exec_client(ctx, a, true); }
static int dev_redis_cli(struct ctx *ctx, struct args *a) { return exec_client(ctx, a, false); }

static const struct opt down_opts[] = {
	{ "purge", 0, OPT_FLAG, NULL, "also remove the data directory (asks on a terminal; "
	  "needs --yes without one)", 0, 0, NULL, 0 },
	{ "yes", 'y', OPT_FLAG, NULL, "do not ask before --purge removes the data", 0, 0, NULL, 0 },
	{ "dry-run", 'n', OPT_FLAG, NULL, "say what would be stopped and removed; change nothing",
	  0, 0, NULL, 0 },
	OPT_END
};

static const struct cmd_verb dev_verbs[] = {
	{ "up", "", "start the private PostgreSQL and Redis and wait until both answer (idempotent)",
	  NULL, dev_up, CMD_NO_VALIDATE | CMD_MUTATES, 0, 0, NULL },
	{ "down", "[--purge] [--yes] [--dry-run]",
	  "stop the dev stack's own processes; --purge removes its data", down_opts, dev_down,
	  CMD_NO_VALIDATE | CMD_MUTATES, 0, 0, NULL },
	{ "status", "[-o FORMAT]", "report both servers; exit 0 when both answer, 69 otherwise",
	  NULL, dev_status, CMD_NO_VALIDATE, 0, 0, NULL },
	{ "env", "[-o json]", "print shell exports of DATABASE_URL, REDIS_URL and ACME_SECRET_KEY_FILE for the dev stack",
	  NULL, dev_env, CMD_NO_VALIDATE, 0, 0, NULL },
	{ "psql", "[-- PSQL-ARGS...]", "run psql against the dev stack's database", NULL, dev_psql,
	  CMD_NO_VALIDATE, 0, -1, NULL },
	{ "redis-cli", "[-- REDIS-CLI-ARGS...]", "run redis-cli against the dev stack's Redis", NULL,
	  dev_redis_cli, CMD_NO_VALIDATE, 0, -1, NULL },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, 0, NULL }
};

const struct cmd_entry cmd_dev = {
	.name = "dev",
	.summary = "run a private PostgreSQL and Redis for development",
	.description = "The dev stack lives in $XDG_STATE_HOME/acmectl/dev (ACME_DEV_DIR overrides),\n"
		       "listens on unix sockets only and keeps running after acmectl exits. In the\n"
		       "development environment with no DATABASE_URL/REDIS_URL, every command uses it\n"
		       "and starts it when needed.",
	.verbs = dev_verbs,
};
