/* main.c — acmectl's entry point: the command table, global options, and the
 * one place that turns results into exit codes.
 *
 * Flow: parse global options up to the command name; find the command (name,
 * alias or unique prefix); find its verb; parse the rest against the verb's,
 * command's and global option tables; load and check the configuration;
 * connect what the command needs; run it; flush stdout; exit.
 */
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmd/cmd.h"
#include "core/devstack.h"
#include "core/failpoint.h"
#include "core/db.h"
#include "core/job.h"
#include "core/log.h"
#include "core/rds.h"
#include "core/version.h"
#include "core/xalloc.h"

const struct cmd_entry *const commands[] = {
	&cmd_audit,
	&cmd_config,
	&cmd_dev,
	&cmd_health,
	&cmd_import,
	&cmd_jobs,
	&cmd_help,
	&cmd_migrate,
	&cmd_products,
	&cmd_smoke_test,
	&cmd_tui,
	&cmd_version,
	&cmd_webhooks,
	&cmd_worker,
	&cmd_complete,
	NULL,
};

const struct opt global_opts[] = {
	{ "env", 0, OPT_STRING, "NAME", "environment profile: development, test or production",
	  0, 0, "development|test|production", 0 },
	{ "config", 0, OPT_STRING, "FILE", "read this config file instead of the default ones",
	  0, 0, "file", 0 },
	{ "output", 'o', OPT_STRING, "FORMAT", "output format: " OUT_FORMAT_NAMES,
	  0, 0, "table|tsv|csv|json|ndjson", 0 },
	{ "quiet", 'q', OPT_FLAG, NULL, "print only data and errors", 0, 0, NULL, 0 },
	{ "verbose", 'v', OPT_FLAG, NULL, "print debugging messages", 0, 0, NULL, 0 },
	{ "no-color", 0, OPT_FLAG, NULL, "never use colour (NO_COLOR is honoured too)", 0, 0, NULL, 0 },
	{ "no-headers", 0, OPT_FLAG, NULL, "table, tsv and csv: leave out the header line",
	  0, 0, NULL, 0 },
	{ "columns", 0, OPT_STRING, "A,B,C", "table, tsv and csv: show these columns in this order",
	  0, 0, NULL, 0 },
	{ "help", 'h', OPT_FLAG, NULL, "show help for the command", 0, 0, NULL, 0 },
	{ "version", 0, OPT_FLAG, NULL, "show version, revision, build date and libraries",
	  0, 0, NULL, 0 },
	OPT_END
};

/* ---- command lookup ------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
	return args_distance(a, strlen(a), b);
}

const struct cmd_entry *cmd_find(const char *name, const struct cmd_entry **ambiguous)
{
	const struct cmd_entry *found = NULL;
	size_t len = strlen(name);
	int nprefix = 0;

	if (ambiguous)
		*ambiguous = NULL;
	for (int i = 0; commands[i]; i++) {
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
		for (const char *const *al = commands[i]->aliases; al && *al; al++)
			if (strcmp(*al, name) == 0)
				return commands[i];
	}
	for (int i = 0; commands[i]; i++) {
		if (commands[i]->flags & CMD_HIDDEN)
			continue;
		if (strncmp(commands[i]->name, name, len) == 0) {
			if (found && ambiguous)
				*ambiguous = commands[i];
			found = commands[i];
			nprefix++;
		}
	}
	return nprefix == 1 ? found : NULL;
}

static const char *closest_command(const char *name)
{
	const char *best = NULL;
	size_t bestd = 99;
	for (int i = 0; commands[i]; i++) {
		if (commands[i]->flags & CMD_HIDDEN)
			continue;
		size_t d = edit_distance(name, commands[i]->name);
		if (d < bestd) {
			bestd = d;
			best = commands[i]->name;
		}
		for (const char *const *al = commands[i]->aliases; al && *al; al++)
			if ((d = edit_distance(name, *al)) < bestd) {
				bestd = d;
				best = commands[i]->name;
			}
	}
	return bestd <= 3 ? best : NULL;
}

/* Verbs may be shortened only when that cannot change anything: a prefix
 * runs a verb only when it names exactly one verb and that verb is read-only.
 * A verb marked CMD_MUTATES runs under its full name only (`products d 1`
 * once deleted a product), as in git, gh and kubectl. */
const struct cmd_verb *cmd_verb_lookup(const struct cmd_entry *cmd, const char *name,
				       struct acme_err *err)
{
	const struct cmd_verb *found = NULL;
	size_t len = strlen(name);
	int n = 0;
	bool mutating = false;
	char list[512] = "";
	size_t off = 0;

	for (const struct cmd_verb *v = cmd->verbs; v->name; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	for (const struct cmd_verb *v = cmd->verbs; len && v->name; v++)
		if (strncmp(v->name, name, len) == 0) {
			found = v;
			n++;
			mutating |= (v->flags & CMD_MUTATES) != 0;
			if (off < sizeof(list))
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
							off ? ", " : "", v->name);
		}
	if (n == 1 && !mutating)
		return found;
	if (!err)
		return NULL;
	if (n == 0)
		acme_err_set(err, ACME_E_USAGE, "'%s' is not a verb of 'acmectl %s'; see 'acmectl %s "
			     "--help'", name, cmd->name, cmd->name);
	else
		acme_err_set(err, ACME_E_USAGE, "'%s' could be: %s%s", name, list,
			     mutating ? "; verbs that change something must be typed in full" : "");
	return NULL;
}

const struct cmd_verb *cmd_verb_find(const struct cmd_entry *cmd, const char *name)
{
	return cmd_verb_lookup(cmd, name, NULL);
}

/* ---- context helpers ------------------------------------------------------ */

void ctx_msg(struct ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	if (ctx->quiet)
		return;
	fputs("acmectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

enum out_format ctx_format(const struct ctx *ctx)
{
	if (ctx->fmt_given)
		return ctx->fmt;
	return ctx->stdout_tty ? OUT_TABLE : OUT_TSV;
}

struct output *ctx_output_new(struct ctx *ctx, const struct out_col *cols, size_t ncols)
{
	enum out_format fmt = ctx_format(ctx);
	struct output *o = output_new(ctx->out, fmt, cols, ncols);
	output_set_color(o, ctx->color);
	output_set_headers(o, !ctx->no_headers);
	if (ctx->columns && output_select_columns(o, ctx->columns, &ctx->err) < 0) {
		output_set_headers(o, false);
		output_end(o, NULL);
		return NULL;
	}
	return o;
}

int ctx_require_format(struct ctx *ctx, unsigned allowed)
{
	enum out_format f = ctx_format(ctx);
	if (allowed & (1u << f))
		return 0;
	return acme_err_set(&ctx->err, ACME_E_USAGE, "-o %s is not available here",
			    out_format_name(f));
}

/* The session starts the dev stack on first use; say so, it takes seconds. */
static void devstack_notice(void *arg, const char *dir)
{
	struct ctx *ctx = arg;
	if (!ctx->quiet)
		fprintf(stderr, "acmectl: starting the dev stack in %s (stop it with 'acmectl dev down')\n",
			dir);
}

PGconn *ctx_db(struct ctx *ctx)
{
	return session_db(&ctx->s, &ctx->err);
}

redisContext *ctx_redis(struct ctx *ctx)
{
	return session_redis(&ctx->s, &ctx->err);
}

bool ctx_confirm(struct ctx *ctx, const char *prompt, const char *expected)
{
	char line[256];
	if (!ctx->stdin_tty || !ctx->stderr_tty)
		return false;
	fprintf(stderr, "%s ", prompt);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	if (expected)
		return strcmp(line, expected) == 0;
	return strcmp(line, "y") == 0 || strcmp(line, "yes") == 0;
}

int ctx_confirm_action(struct ctx *ctx, const struct args *a, enum confirm_kind kind,
		       long long count, const struct confirm_text *t)
{
	const char *env = ctx->s.cfg_loaded ? config_get(&ctx->s.cfg, CFG_ENV) : "development";
	bool prod = ctx->s.cfg_loaded && config_is_production(&ctx->s.cfg);
	const char *nothing = t->nothing ? t->nothing : "nothing was changed";
	struct confirm_facts facts = { kind, args_has(a, "yes"), ctx->stdin_tty && ctx->stderr_tty,
				       prod, env, count };
	struct confirm_plan plan;
	char *prompt = NULL;
	bool ok = true;

	switch (confirm_decide(&facts, &plan)) {
	case CONFIRM_PROCEED:
		return 0;
	case CONFIRM_REFUSE:
		return acme_err_set(&ctx->err, ACME_E_REFUSED, "refusing to %s%s without --yes (there "
				    "is no terminal to confirm on); %s", t->what,
				    prod ? " in production" : "", nothing);
	case CONFIRM_ASK:
		break;
	}
	if (plan.yes_no) {
		prompt = xasprintf("%s in environment %s? [y/N]", t->what, env);
		if (prompt[0] >= 'a' && prompt[0] <= 'z')
			prompt[0] = (char)(prompt[0] - 32);
		ok = ctx_confirm(ctx, prompt, NULL);
	} else {
		char *head = t->headline ? xstrdup(t->headline) :
			     xasprintf("This will %s in the %s environment.", t->what, env);
		if (plan.count[0]) {
			prompt = xasprintf("%s\nType the number of %s (%s) to confirm:", head,
					   t->noun ? t->noun : "things", plan.count);
			ok = ctx_confirm(ctx, prompt, plan.count);
			free(prompt);
			prompt = NULL;
		}
		if (ok && plan.env[0]) {
			prompt = plan.count[0] ?
				 xasprintf("Type the environment name (%s) to confirm:", plan.env) :
				 xasprintf("%s\nType the environment name (%s) to confirm:", head, plan.env);
			ok = ctx_confirm(ctx, prompt, plan.env);
		}
		free(head);
	}
	free(prompt);
	if (!ok)
		return acme_err_set(&ctx->err, ACME_E_REFUSED, "not confirmed; %s", nothing);
	return 0;
}

bool ctx_dry_run(struct ctx *ctx, const struct args *a, const char *what)
{
	if (!args_has(a, "dry-run"))
		return false;
	fprintf(ctx->out, "would %s\n", what);
	ctx_msg(ctx, "dry run: nothing was changed");
	return true;
}

/* ---- main ------------------------------------------------------------------- */

static void print_version(FILE *f)
{
	char buf[128];
	fprintf(f, "acmectl %s (revision %s, built %s)\n", acme_version(), acme_git_rev(),
		acme_build_date());
	for (int i = 0; acme_library_version(i, buf, sizeof(buf)); i++)
		fprintf(f, "  %s\n", buf);
}

static int usage_error(const struct ctx *ctx, const char *cmdname)
{
	fprintf(stderr, "acmectl: %s\n", ctx->err.msg);
	if (cmdname)
		fprintf(stderr, "acmectl: see 'acmectl %s --help'\n", cmdname);
	else
		fprintf(stderr, "acmectl: see 'acmectl help'\n");
	return acme_exit_status(ACME_E_USAGE);
}

/* Bold and colour need a terminal that knows them: not with NO_COLOR set
 * (no-color.org), nor on TERM=dumb (Emacs shell buffers, some CI logs). */
static bool color_allowed(void)
{
	const char *nc = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	return !(nc && nc[0]) && !(term && strcmp(term, "dumb") == 0);
}

static int apply_globals(struct ctx *ctx, const struct args *a)
{
	const char *o = args_get(a, "output");
	if (o && !(ctx->cmd->flags & CMD_OWN_OUTPUT)) {
		if (out_format_parse(o, &ctx->fmt) < 0)
			return acme_err_set(&ctx->err, ACME_E_USAGE, "-o %s: expected one of "
					    OUT_FORMAT_NAMES, o);
		ctx->fmt_given = true;
	}
	ctx->quiet = args_has(a, "quiet");
	ctx->no_headers = args_has(a, "no-headers");
	ctx->columns = args_get(a, "columns");
	if (ctx->columns && ctx->fmt_given && (ctx->fmt == OUT_JSON || ctx->fmt == OUT_NDJSON))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "--columns is for table, tsv and csv "
				    "output; JSON items carry every field (pick them with jq)");
	ctx->verbose = args_has(a, "verbose");
	if (args_has(a, "no-color") || !color_allowed() || !ctx->stdout_tty)
		ctx->color = false;
	return 0;
}

static int run(struct ctx *ctx, int argc, char **argv)
{
	struct args a = { 0 };
	const struct opt *const globals_only[] = { global_opts, NULL };
	int consumed = 0, status;
	char cmdname[128];
	char *job_id = NULL;

	/* 1. global options before the command */
	if (args_parse(&a, argc - 1, argv + 1, globals_only, true, &consumed, &ctx->err) < 0)
		return usage_error(ctx, NULL);
	int rest = 1 + consumed;
	if (args_has(&a, "version")) {
		print_version(stdout);
		args_release(&a);
		return 0;
	}
	if (rest >= argc) {
		if (args_has(&a, "help")) {
			help_main(stdout);
			args_release(&a);
			return 0;
		}
		help_main(stderr);
		args_release(&a);
		return acme_exit_status(ACME_E_USAGE);
	}

	/* 2. the command */
	const char *name = argv[rest++];
	const struct cmd_entry *amb = NULL;
	const struct cmd_entry *cmd = cmd_find(name, &amb);
	if (!cmd) {
		const char *near = closest_command(name);
		if (amb)
			fprintf(stderr, "acmectl: '%s' is ambiguous; did you mean '%s' or another command "
				"starting with it?\n", name, amb->name);
		else if (near)
			fprintf(stderr, "acmectl: '%s' is not an acmectl command; did you mean '%s'?\n",
				name, near);
		else
			fprintf(stderr, "acmectl: '%s' is not an acmectl command; see 'acmectl help'\n",
				name);
		args_release(&a);
		return acme_exit_status(ACME_E_USAGE);
	}
	ctx->cmd = cmd;
	snprintf(cmdname, sizeof(cmdname), "%s", cmd->name);
	if (cmd->flags & CMD_RAW_ARGS) {
		for (int i = rest; i < argc; i++) {
			a.argv = xrealloc(a.argv, (size_t)(a.argc + 2) * sizeof(char *));
			a.argv[a.argc++] = argv[i];
			a.argv[a.argc] = NULL;
		}
		status = cmd->exec(ctx, &a);
		goto out;
	}

	/* 3. the verb: the first positional after options */
	const struct opt *const tables_cmd[] = { cmd->opts ? cmd->opts : global_opts, global_opts, NULL };
	if (cmd->verbs) {
		int c2 = 0;
		if (args_parse(&a, argc - rest, argv + rest, tables_cmd, true, &c2, &ctx->err) < 0) {
			status = usage_error(ctx, cmdname);
			goto out;
		}
		rest += c2;
		if (rest >= argc) {
			bool help = args_has(&a, "help");
			help_command(help ? stdout : stderr, cmd, NULL);
			status = help ? 0 : acme_exit_status(ACME_E_USAGE);
			goto out;
		}
		ctx->verb = cmd_verb_lookup(cmd, argv[rest], &ctx->err);
		if (!ctx->verb) {
			fprintf(stderr, "acmectl: %s\n", ctx->err.msg);
			status = acme_exit_status(ACME_E_USAGE);
			goto out;
		}
		rest++;
		snprintf(cmdname, sizeof(cmdname), "%s %s", cmd->name, ctx->verb->name);
	}

	/* 4. everything else */
	const struct opt *verb_opts = ctx->verb && ctx->verb->opts ? ctx->verb->opts : global_opts;
	const struct opt *const tables[] = { verb_opts, cmd->opts ? cmd->opts : global_opts,
					     global_opts, NULL };
	if (args_parse(&a, argc - rest, argv + rest, tables, false, NULL, &ctx->err) < 0) {
		status = usage_error(ctx, cmdname);
		goto out;
	}
	a.cmdname = cmdname;
	if (args_has(&a, "version")) {
		print_version(stdout);
		status = 0;
		goto out;
	}
	if (args_has(&a, "help")) {
		help_command(stdout, cmd, ctx->verb);
		status = 0;
		goto out;
	}
	if (apply_globals(ctx, &a) < 0) {
		status = usage_error(ctx, cmdname);
		goto out;
	}
	int min = ctx->verb ? ctx->verb->min_args : cmd->min_args;
	int max = ctx->verb ? ctx->verb->max_args : cmd->max_args;
	if (a.argc < min || (max >= 0 && a.argc > max)) {
		if (a.argc < min)
			acme_err_set(&ctx->err, ACME_E_USAGE, "%s: missing argument", cmdname);
		else
			acme_err_set(&ctx->err, ACME_E_USAGE, "%s: unexpected argument \"%s\"", cmdname,
				     a.argv[max]);
		status = usage_error(ctx, cmdname);
		goto out;
	}

	/* 5. configuration, logging, connections */
	unsigned flags = cmd->flags | (ctx->verb ? ctx->verb->flags : 0);
	if (!(flags & (CMD_NO_CONFIG | CMD_LAZY_CONFIG)) && ctx_load_config(ctx, &a) < 0)
		goto fail;
	if ((flags & CMD_NEEDS_DB) && !ctx_db(ctx))
		goto fail;
	if ((flags & CMD_NEEDS_REDIS) && !ctx_redis(ctx))
		goto fail;

	/* a job id may be given by a unique prefix wherever a verb takes one (its
	 * positional completes "@job"), as git takes short hashes */
	if (ctx->verb && ctx->verb->arg_complete && strcmp(ctx->verb->arg_complete, "@job") == 0 &&
	    a.argc > 0 && ctx->s.db) {
		if (job_resolve_id(ctx->s.db, a.argv[0], &job_id, &ctx->err) < 0)
			goto fail;
		if (job_id)
			a.argv[0] = job_id;
	}
	cmd_exec_fn exec = ctx->verb ? ctx->verb->exec : cmd->exec;
	status = exec(ctx, &a);
	if (status < 0)
		goto fail;
	goto out;
fail:
	if (ctx->err.code == ACME_E_USAGE) {
		status = usage_error(ctx, cmdname);
	} else {
		fprintf(stderr, "acmectl: %s\n", ctx->err.msg[0] ? ctx->err.msg :
			acme_code_description(ctx->err.code));
		status = acme_exit_status(ctx->err.code);
		if (status == 0)
			status = 1;
	}
out:
	args_release(&a);
	free(job_id);
	return status;
}

/* Step 5 of main: the configuration, failpoints and logging. */
int ctx_load_config(struct ctx *ctx, const struct args *a)
{
	unsigned flags = ctx->cmd->flags | (ctx->verb ? ctx->verb->flags : 0);
	struct config_flags cf = { args_get(a, "env"), args_get(a, "config"),
				   ctx->verbose ? "debug" : ctx->quiet ? "error" : NULL };
	if (session_load(&ctx->s, &cf, false, &ctx->err) < 0)
		return -1;
	if (failpoint_setup(getenv("ACME_FAILPOINTS"), config_is_production(&ctx->s.cfg),
			    &ctx->err) < 0)
		return -1;
	if (!(flags & CMD_NO_VALIDATE) && config_validate(&ctx->s.cfg, &ctx->err) < 0)
		return -1;
	struct log_config lc = { LOG_INFO, LOG_TEXT, false, "acmectl", NULL, NULL, NULL };
	log_level_parse(config_get(&ctx->s.cfg, CFG_LOG_LEVEL), &lc.level);
	log_format_parse(config_get(&ctx->s.cfg, CFG_LOG_FORMAT), &lc.format);
	log_setup(&lc);
	return 0;
}

int main(int argc, char **argv)
{
	struct ctx ctx;
	memset(&ctx, 0, sizeof(ctx));
	session_init(&ctx.s);
	ctx.s.on_devstack = devstack_notice;
	ctx.s.on_devstack_arg = &ctx;
	setlocale(LC_ALL, "");
	signal(SIGPIPE, SIG_IGN);
	ctx.out = stdout;
	ctx.stdout_tty = isatty(STDOUT_FILENO);
	ctx.stderr_tty = isatty(STDERR_FILENO);
	ctx.stdin_tty = isatty(STDIN_FILENO);
	ctx.color = ctx.stdout_tty && color_allowed();

	int status = run(&ctx, argc, argv);

	session_release(&ctx.s);

	/* data that could not be written is a failure, except a closed pipe
	 * (`acmectl ... | head`), which is the reader's choice */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE) {
			fprintf(stderr, "acmectl: error writing output: %s\n", strerror(errno));
			if (status == 0)
				status = 1;
		}
	}
	return status;
}
