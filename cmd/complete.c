/* complete.c — the hidden `acmectl __complete WORD...` the shell completions
 * call. WORDs are the command line after "acmectl", the last one being the word
 * under the cursor (possibly empty). It prints one candidate per line; a line
 * ":file" or ":dir" asks the shell to complete file or directory names.
 * Everything comes from the command and option tables.
 */
#include <string.h>

#include "cmd/args.h"
#include "cmd/cmd.h"
#include "core/migrate.h"

static void emit(FILE *f, const char *cand, const char *prefix)
{
	if (strncmp(cand, prefix, strlen(prefix)) == 0)
		fprintf(f, "%s\n", cand);
}

static void emit_opts(FILE *f, const struct opt *opts, const char *prefix)
{
	char buf[80];
	for (const struct opt *o = opts; o && o->name; o++) {
		if (o->flags & OPT_HIDDEN)
			continue;
		snprintf(buf, sizeof(buf), "--%s", o->name);
		emit(f, buf, prefix);
	}
}

/* Dynamic candidates: "@name" hints in option tables name one of these.
 * Providers must be quick and must fail silently (print nothing) when what
 * they need (the database, say) is not there. */
static void complete_commands(FILE *f, const char *prefix)
{
	for (int i = 0; commands[i]; i++)
		if (!(commands[i]->flags & CMD_HIDDEN))
			emit(f, commands[i]->name, prefix);
}

static void complete_migrations(FILE *f, const char *prefix)
{
	struct migration_set set;
	struct acme_err err;
	char v[16];
	if (migration_set_load_embedded(&set, &err) < 0)
		return;
	for (size_t i = 0; i < set.n; i++) {
		snprintf(v, sizeof(v), "%04d", set.v[i].version);
		emit(f, v, prefix);
	}
	migration_set_release(&set);
}

static const struct {
	const char *hint;
	void (*fn)(FILE *f, const char *prefix);
} providers[] = {
	{ "@command", complete_commands },
	{ "@migration", complete_migrations },
};

static void emit_hint(FILE *f, const char *hint, const char *prefix)
{
	if (!hint)
		return;
	if (strcmp(hint, "file") == 0 || strcmp(hint, "dir") == 0) {
		fprintf(f, ":%s\n", hint);
		return;
	}
	if (hint[0] == '@') {
		for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
			if (strcmp(hint, providers[i].hint) == 0)
				providers[i].fn(f, prefix);
		return;
	}
	for (const char *c = hint; *c;) {
		size_t n = strcspn(c, "|");
		char cand[128];
		snprintf(cand, sizeof(cand), "%.*s", (int)n, c);
		emit(f, cand, prefix);
		c += n + (c[n] == '|');
	}
}

static const struct opt *find_opt(const struct opt *const *tables, const char *word)
{
	if (word[0] != '-')
		return NULL;
	if (word[1] == '-')
		return opt_lookup_long(tables, word + 2, strcspn(word + 2, "="));
	for (int t = 0; tables[t]; t++)
		for (const struct opt *o = tables[t]; o->name; o++)
			if (o->shortname && o->shortname == word[strlen(word) - 1])
				return o;
	return NULL;
}

static int complete_exec(struct ctx *ctx, struct args *a)
{
	FILE *f = ctx->out;
	int n = a->argc;
	const char *cur = n ? a->argv[n - 1] : "";
	const struct cmd_entry *cmd = NULL;
	const struct cmd_verb *verb = NULL;
	int npos = 0;       /* positionals after command/verb before cur */
	const struct opt *const globals[] = { global_opts, NULL };

	/* walk the words before the current one */
	for (int i = 0; i < n - 1; i++) {
		const char *w = a->argv[i];
		const struct opt *const tables[] = {
			verb && verb->opts ? verb->opts : global_opts,
			cmd && cmd->opts ? cmd->opts : global_opts, global_opts, NULL };
		if (w[0] == '-' && w[1]) {
			const struct opt *o = find_opt(cmd ? tables : globals, w);
			if (o && o->type != OPT_FLAG && !strchr(w, '='))
				i++;    /* skip its value */
			continue;
		}
		if (!cmd) {
			cmd = cmd_find(w, NULL);
			if (!cmd)
				return 0;
		} else if (cmd->verbs && !verb) {
			for (const struct cmd_verb *v = cmd->verbs; v->name; v++)
				if (strcmp(v->name, w) == 0)
					verb = v;
			if (!verb)
				return 0;
		} else {
			npos++;
		}
	}
	(void)npos;

	const struct opt *const tables[] = { verb && verb->opts ? verb->opts : global_opts,
					     cmd && cmd->opts ? cmd->opts : global_opts, global_opts,
					     NULL };
	/* the value of an option? */
	if (n >= 2) {
		const char *prev = a->argv[n - 2];
		const struct opt *o = find_opt(cmd ? tables : globals, prev);
		if (o && o->type != OPT_FLAG && !strchr(prev, '=')) {
			emit_hint(f, o->complete, cur);
			return 0;
		}
	}
	if (cur[0] == '-') {
		if (verb)
			emit_opts(f, verb->opts, cur);
		if (cmd)
			emit_opts(f, cmd->opts, cur);
		emit_opts(f, global_opts, cur);
		return 0;
	}
	if (!cmd) {
		emit_hint(f, "@command", cur);
		return 0;
	}
	if (cmd->verbs && !verb) {
		for (const struct cmd_verb *v = cmd->verbs; v->name; v++)
			emit(f, v->name, cur);
		return 0;
	}
	emit_hint(f, verb ? verb->arg_complete : cmd->arg_complete, cur);
	return 0;
}

const struct cmd_entry cmd_complete = {
	.name = "__complete",
	.summary = "print completion candidates (used by the shell completions)",
	.usage = "WORD...",
	.exec = complete_exec,
	.flags = CMD_NO_CONFIG | CMD_HIDDEN | CMD_RAW_ARGS,
	.max_args = -1,
};
