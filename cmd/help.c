/* help.c — `acmectl help [CMD [VERB]]` and the --help text of every command,
 * generated from the command and option tables so they cannot drift. */
#include <string.h>

#include "cmd/cmd.h"

static void print_opts(FILE *f, const struct opt *opts)
{
	for (const struct opt *o = opts; o && o->name; o++) {
		char left[64];
		if (o->flags & OPT_HIDDEN)
			continue;
		if (o->shortname)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->shortname, o->name,
				 o->argname ? " " : "", o->argname ? o->argname : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->argname ? " " : "",
				 o->argname ? o->argname : "");
		fprintf(f, "  %-28s %s\n", left, o->help ? o->help : "");
	}
}

void help_main(FILE *f)
{
	fprintf(f, "usage: acmectl [global options] COMMAND [ARGS]\n\n"
		   "Administer the Acme product catalog: imports, products, webhooks, jobs.\n\n"
		   "Commands:\n");
	for (int i = 0; commands[i]; i++) {
		if (commands[i]->flags & CMD_HIDDEN)
			continue;
		fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	}
	fprintf(f, "\nGlobal options:\n");
	print_opts(f, global_opts);
	fprintf(f, "\nRun 'acmectl help COMMAND' for a command's options; man acmectl for more.\n");
}

void help_command(FILE *f, const struct cmd_entry *cmd, const struct cmd_verb *verb)
{
	if (verb) {
		fprintf(f, "usage: acmectl %s %s%s%s\n\n%s\n", cmd->name, verb->name,
			verb->usage && verb->usage[0] ? " " : "", verb->usage ? verb->usage : "",
			verb->summary);
		if (verb->opts && verb->opts->name) {
			fprintf(f, "\nOptions:\n");
			print_opts(f, verb->opts);
		}
	} else if (cmd->verbs) {
		fprintf(f, "usage: acmectl %s VERB [ARGS]\n\n%s\n", cmd->name, cmd->summary);
		if (cmd->description)
			fprintf(f, "\n%s\n", cmd->description);
		fprintf(f, "\nVerbs:\n");
		for (const struct cmd_verb *v = cmd->verbs; v->name; v++)
			fprintf(f, "  %-10s %s\n", v->name, v->summary);
		fprintf(f, "\nRun 'acmectl %s VERB --help' for a verb's options.\n", cmd->name);
	} else {
		fprintf(f, "usage: acmectl %s%s%s\n\n%s\n", cmd->name, cmd->usage && cmd->usage[0] ? " " : "",
			cmd->usage ? cmd->usage : "", cmd->summary);
		if (cmd->description)
			fprintf(f, "\n%s\n", cmd->description);
	}
	if (cmd->opts && cmd->opts->name) {
		fprintf(f, "\nOptions of '%s':\n", cmd->name);
		print_opts(f, cmd->opts);
	}
	if (cmd->aliases && cmd->aliases[0]) {
		fprintf(f, "\nAliases:");
		for (const char *const *a = cmd->aliases; *a; a++)
			fprintf(f, " %s", *a);
		fputc('\n', f);
	}
	fprintf(f, "\nGlobal options:\n");
	print_opts(f, global_opts);
	fprintf(f, "\nSee man acmectl-%s for details.\n", cmd->name);
}

static int help_exec(struct ctx *ctx, struct args *a)
{
	if (a->argc == 0) {
		help_main(ctx->out);
		return 0;
	}
	const struct cmd_entry *amb;
	const struct cmd_entry *cmd = cmd_find(a->argv[0], &amb);
	if (!cmd)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "help: '%s' is not an acmectl command",
				    a->argv[0]);
	const struct cmd_verb *verb = NULL;
	if (a->argc > 1) {
		if (!cmd->verbs)
			return acme_err_set(&ctx->err, ACME_E_USAGE, "help: '%s' has no verbs",
					    cmd->name);
		verb = cmd_verb_find(cmd, a->argv[1]);
		if (!verb)
			return acme_err_set(&ctx->err, ACME_E_USAGE, "help: '%s' is not a verb of '%s'",
					    a->argv[1], cmd->name);
	}
	help_command(ctx->out, cmd, verb);
	return 0;
}

const struct cmd_entry cmd_help = {
	.name = "help",
	.summary = "show help for acmectl or one of its commands",
	.usage = "[COMMAND [VERB]]",
	.exec = help_exec,
	.flags = CMD_NO_CONFIG,
	.min_args = 0,
	.max_args = 2,
	.arg_complete = "@command",
};
