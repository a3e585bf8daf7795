/* cmd.h — how commands are declared and run.
 *
 * How to add a command:
 *   1. Create cmd/<name>.c with a header comment saying what it does.
 *   2. Declare its options as a `static const struct opt name_opts[]` table ended
 *      by OPT_END. The table drives parsing, `--help`, `acmectl __complete`
 *      (and through it the bash/zsh/fish completions) and tests/t/t0050.
 *   3. For nested verbs (`webhooks add|list`), give each verb a struct cmd_verb
 *      with its own usage and option table, in the parent's file. A verb that
 *      changes or destroys anything gets CMD_MUTATES: it then runs under its
 *      full name only (read-only verbs may be shortened to a unique prefix).
 *   4. Export `const struct cmd_entry cmd_<name>` and add it to the table in
 *      cmd/main.c (and its extern below).
 *   5. Set CMD_NEEDS_DB / CMD_NEEDS_REDIS so main connects for you (the
 *      connections are in ctx->s.db / ctx->s.redis, the session of
 *      core/session.h), or connect lazily with ctx_db() / ctx_redis().
 *      Commands never call libpq or hiredis themselves: they pass the
 *      connection to core/.
 *   6. exec returns an exit status (>= 0), or -1 with ctx->err set: main prints
 *      "acmectl: <message>" and exits with the status of the error's code.
 *      Never call exit(); print data to stdout (ctx->out) and messages through
 *      the logger or ctx_msg().
 *   7. Write man/acmectl-<name>.1, add the command to man/acmectl.1, and
 *      tests under tests/t/. t0050 checks help, man page and completions agree.
 */
#ifndef ACME_CMD_H
#define ACME_CMD_H
#include <stdbool.h>
#include <stdio.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/confirm.h"
#include "core/err.h"
#include "core/output.h"
#include "core/session.h"

enum opt_type {
	OPT_FLAG,      /* --yes */
	OPT_STRING,    /* --name TEXT */
	OPT_INT,       /* --limit N, checked against [min, max] */
	OPT_DURATION,  /* --timeout 30s | 5m | 2h | 1d; stored as milliseconds */
};

#define OPT_REPEAT 0x1    /* may be given many times (args_all) */
#define OPT_HIDDEN 0x2    /* not in --help or completions */

struct opt {
	const char *name;      /* long name without "--" */
	char shortname;        /* 0 for none */
	enum opt_type type;
	const char *argname;   /* "N", "FILE" */
	const char *help;
	long long min, max;    /* OPT_INT / OPT_DURATION range (0,0 = any >= 0) */
	const char *complete;  /* completion hint: NULL, "file", "dir", or "a|b|c" */
	unsigned flags;
};
#define OPT_END { NULL, 0, OPT_FLAG, NULL, NULL, 0, 0, NULL, 0 }

/* command flags */
#define CMD_NEEDS_DB     0x1
#define CMD_NEEDS_REDIS  0x2
#define CMD_NO_CONFIG    0x4   /* runs before/without configuration (help, version) */
#define CMD_HIDDEN       0x8
#define CMD_NO_VALIDATE  0x10  /* loads config but tolerates bad values (config show) */
#define CMD_RAW_ARGS     0x20  /* every word after the command is a positional */
#define CMD_MUTATES      0x40  /* the verb changes or destroys something: it runs
				* under its full name only, never a prefix */
#define CMD_LAZY_CONFIG  0x80  /* main does not load the configuration: the command
				* calls ctx_load_config() once it needs it (tui
				* checks its terminal first, and --keys needs none) */
#define CMD_OWN_OUTPUT   0x100 /* the command reads -o itself (smoke-test: tap|json),
				* so main leaves the global format alone */

struct ctx;
struct args;
typedef int (*cmd_exec_fn)(struct ctx *ctx, struct args *args);

struct cmd_verb {
	const char *name;
	const char *usage;       /* arguments after the verb: "[--to V] [--dry-run]" */
	const char *summary;
	const struct opt *opts;  /* may be NULL */
	cmd_exec_fn exec;
	unsigned flags;
	int min_args, max_args;  /* positional arguments; max -1 = any */
	const char *arg_complete;  /* completion hint for positionals */
};

struct cmd_entry {
	const char *name;
	const char *const *aliases;  /* NULL-terminated, may be NULL */
	const char *summary;
	const char *usage;           /* for commands without verbs */
	const char *description;     /* a paragraph for --help */
	const struct opt *opts;      /* options of the command itself */
	cmd_exec_fn exec;            /* NULL when it has verbs */
	const struct cmd_verb *verbs;  /* ended by { NULL } */
	unsigned flags;
	int min_args, max_args;
	const char *arg_complete;
};

/* Parsed arguments of one invocation. */
struct args {
	int argc;                  /* positionals (after the command and verb) */
	char **argv;
	const struct opt **optv;   /* every option occurrence, in order */
	char **valv;               /* its value (NULL for flags) */
	int nopt;
	const char *cmdname;       /* "migrate up" */
	const char **scratch;      /* args_all()'s last answer */
};

bool args_has(const struct args *a, const char *name);
const char *args_get(const struct args *a, const char *name);     /* last value */
long long args_int(const struct args *a, const char *name, long long def);
/* every value of a repeatable option; returns the count, fills *out (owned by a) */
int args_all(const struct args *a, const char *name, const char ***out);

struct ctx {
	struct session s;          /* configuration and connections (core/session.h) */
	enum out_format fmt;
	bool fmt_given;            /* -o given explicitly */
	bool quiet, verbose, color;
	bool no_headers;           /* --no-headers */
	const char *columns;       /* --columns a,b,c (NULL: every column) */
	bool stdout_tty, stderr_tty, stdin_tty;
	struct acme_err err;
	FILE *out;                 /* stdout */
	const struct cmd_entry *cmd;
	const struct cmd_verb *verb;
};

/* Connect on first use (starting the dev stack when it is the embedded
 * default). NULL with ctx->err set on failure. */
PGconn *ctx_db(struct ctx *ctx);
redisContext *ctx_redis(struct ctx *ctx);
/* Load the configuration, failpoints and logging as main does for every
 * command without CMD_NO_CONFIG / CMD_LAZY_CONFIG. 0 / -1 with ctx->err. */
int ctx_load_config(struct ctx *ctx, const struct args *a);
/* A message for the user on stderr, suppressed by -q. */
void ctx_msg(struct ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The output format: -o if given, else table on a TTY, tsv when piped. */
enum out_format ctx_format(const struct ctx *ctx);
/* A new output in ctx_format() with the global --no-headers, --columns and
 * colour applied; for a list, JSON is the {"items", "page"} envelope (end it
 * with output_end(o, output_page(limit, next_cursor))). NULL with ctx->err
 * set (usage) when --columns names a column that is not one of cols. */
struct output *ctx_output_new(struct ctx *ctx, const struct out_col *cols, size_t ncols);
/* Check -o is one of the allowed formats (mask of 1 << OUT_*). */
int ctx_require_format(struct ctx *ctx, unsigned allowed);
/* Ask for confirmation on a TTY. Returns true if confirmed. */
bool ctx_confirm(struct ctx *ctx, const char *prompt, const char *expected);
/* What a confirmation is about. what: the action in lower case, for refusals
 * and the y/N question ("delete webhook 3 (https://...)"); headline: the first
 * line of a typed prompt (NULL: "This will <what> in the <env> environment.");
 * noun: what the count counts ("products"); nothing: what a refusal left
 * alone ("nothing was deleted"). */
struct confirm_text {
	const char *what, *headline, *noun, *nothing;
};
/* The one confirmation policy (core/confirm.h) with --yes from a (verbs that
 * call this have a "yes" option): 0 to go on, or -1 with ctx->err
 * ACME_E_REFUSED (exit 4) when refused or not confirmed. count: for
 * CONFIRM_BULK, how many things would go. */
int ctx_confirm_action(struct ctx *ctx, const struct args *a, enum confirm_kind kind,
		       long long count, const struct confirm_text *t);
/* With --dry-run in a: print "would <what>" on stdout, say nothing was changed
 * and return true; the caller then stops, changing nothing. */
bool ctx_dry_run(struct ctx *ctx, const struct args *a, const char *what);

/* The command table (cmd/main.c). */
extern const struct cmd_entry *const commands[];
const struct cmd_entry *cmd_find(const char *name, const struct cmd_entry **ambiguous);
/* A verb by name, or by a prefix naming exactly one verb that is not
 * CMD_MUTATES; NULL otherwise, with err (may be NULL) saying why and listing
 * the candidates (ACME_E_USAGE). */
const struct cmd_verb *cmd_verb_lookup(const struct cmd_entry *cmd, const char *name,
				       struct acme_err *err);
const struct cmd_verb *cmd_verb_find(const struct cmd_entry *cmd, const char *name);
extern const struct opt global_opts[];

/* Help text (cmd/help.c). */
void help_command(FILE *f, const struct cmd_entry *cmd, const struct cmd_verb *verb);
void help_main(FILE *f);

extern const struct cmd_entry cmd_config;
extern const struct cmd_entry cmd_dev;
extern const struct cmd_entry cmd_health;
extern const struct cmd_entry cmd_import;
/* `acmectl import`, also `acmectl products import` (cmd/import.c) */
int import_exec(struct ctx *ctx, struct args *a);
extern const struct opt import_opts[];
extern const char import_summary[], import_usage[];
/* `jobs errors`: the rejected rows of an import (cmd/import.c) */
int jobs_errors_exec(struct ctx *ctx, struct args *a);
extern const struct opt jobs_errors_opts[];
extern const struct cmd_entry cmd_jobs;  /* cmd/jobs.c */
extern const struct cmd_entry cmd_migrate;
extern const struct cmd_entry cmd_worker;
extern const struct cmd_entry cmd_help;
extern const struct cmd_entry cmd_smoke_test;  /* cmd/smoke.c */
extern const struct cmd_entry cmd_tui;
extern const struct cmd_entry cmd_version;
extern const struct cmd_entry cmd_complete;
extern const struct cmd_entry cmd_products;
extern const struct cmd_entry cmd_audit;
extern const struct cmd_entry cmd_webhooks;

#endif
