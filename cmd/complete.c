/* complete.c — the hidden `acmectl __complete WORD...` the shell completions
 * call. WORDs are the command line after "acmectl", the last one being the word
 * under the cursor (possibly empty). It prints one candidate per line; a line
 * ":file" or ":dir" asks the shell to complete file or directory names.
 * Everything comes from the command and option tables, except "@NAME" hints,
 * whose values come from the database (SKUs for `products get`, ids as id:N
 * after "id:"): one cheap
 * indexed query, never starting the dev stack, silent when anything fails.
 */
#include <string.h>

#include "cmd/args.h"
#include "cmd/cmd.h"
#include "core/config.h"
#include "core/complete.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/migrate.h"

/* Where a dynamic hint looks: --env and --config as typed on the line; and
 * which positional argument is being completed (0 = the first). */
struct complete_where {
	const char *env, *config;
	int npos;
};

/* Values from the database (core/complete.h): silent on any failure, never
 * starting the dev stack. */
static void print_value(void *arg, const char *value)
{
	fprintf(arg, "%s\n", value);
}

static void from_db(FILE *f, const char *prefix, const struct complete_where *where,
		    enum complete_kind kind)
{
	struct config_flags cf = { where->env, where->config, "error" };
	complete_values(&cf, kind, prefix, print_value, f);
}

static void complete_skus(FILE *f, const char *prefix, const struct complete_where *where)
{
	from_db(f, prefix, where, COMPLETE_SKU);
}

static void complete_product_ids(FILE *f, const char *prefix, const struct complete_where *where)
{
	from_db(f, prefix, where, COMPLETE_PRODUCT_ID);
}

/* Webhook and delivery ids; `delivery show DID` offers "show" first. */
static void complete_webhooks(FILE *f, const char *prefix, const struct complete_where *where)
{
	if (where->npos == 0)
		from_db(f, prefix, where, COMPLETE_WEBHOOK);
}

static void complete_deliveries(FILE *f, const char *prefix, const struct complete_where *where)
{
	if (where->npos == 0)
		from_db(f, prefix, where, COMPLETE_DELIVERY);
}

static void complete_delivery_show(FILE *f, const char *prefix, const struct complete_where *where)
{
	if (where->npos == 0) {
		if (strncmp("show", prefix, strlen(prefix)) == 0)
			fputs("show\n", f);
		return;
	}
	if (where->npos == 1)
		from_db(f, prefix, where, COMPLETE_DELIVERY);
}

/* Job ids, the most recent first (they are long ULIDs: nobody types them) */
static void complete_jobs(FILE *f, const char *prefix, const struct complete_where *where)
{
	if (where->npos == 0)
		from_db(f, prefix, where, COMPLETE_JOB);
}

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
static void complete_commands(FILE *f, const char *prefix, const struct complete_where *where)
{
	(void)where;
	for (int i = 0; commands[i]; i++)
		if (!(commands[i]->flags & CMD_HIDDEN))
			emit(f, commands[i]->name, prefix);
}

static void complete_migrations(FILE *f, const char *prefix, const struct complete_where *where)
{
	struct migration_set set;
	struct acme_err err;
	char v[16];
	(void)where;
	if (migration_set_load_embedded(&set, &err) < 0)
		return;
	for (size_t i = 0; i < set.n; i++) {
		snprintf(v, sizeof(v), "%04d", set.v[i].version);
		emit(f, v, prefix);
	}
	migration_set_release(&set);
}

static void complete_jobtypes(FILE *f, const char *prefix, const struct complete_where *where)
{
	const struct jobtype *t;
	(void)where;
	for (size_t i = 0; (t = jobtype_at(i)); i++)
		emit(f, t->name, prefix);
}

/* The job types' default queues (always known; core/jobtypes.h). Queues
 * only Redis knows are not offered: completion never waits on a server. */
static void complete_queues(FILE *f, const char *prefix, const struct complete_where *where)
{
	const struct jobtype *t;
	(void)where;
	for (size_t i = 0; (t = jobtype_at(i)); i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= strcmp(jobtype_at(j)->queue, t->queue) == 0;
		if (!seen)
			emit(f, t->queue, prefix);
	}
}

static const struct {
	const char *hint;
	void (*fn)(FILE *f, const char *prefix, const struct complete_where *where);
} providers[] = {
	{ "@command", complete_commands },
	{ "@migration", complete_migrations },
	{ "@sku", complete_skus },
	{ "@product-id", complete_product_ids },
	{ "@webhook", complete_webhooks },
	{ "@delivery", complete_deliveries },
	{ "@delivery-show", complete_delivery_show },
	{ "@job", complete_jobs },
	{ "@jobtype", complete_jobtypes },
	{ "@queue", complete_queues },
};

static void emit_hint(FILE *f, const char *hint, const char *prefix,
		      const struct complete_where *where)
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
				providers[i].fn(f, prefix, where);
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
	struct complete_where where = { NULL, NULL, 0 };

	/* walk the words before the current one */
	for (int i = 0; i < n - 1; i++) {
		const char *w = a->argv[i];
		const struct opt *const tables[] = {
			verb && verb->opts ? verb->opts : global_opts,
			cmd && cmd->opts ? cmd->opts : global_opts, global_opts, NULL };
		if (w[0] == '-' && w[1]) {
			const struct opt *o = find_opt(cmd ? tables : globals, w);
			const char *val = strchr(w, '=') ? strchr(w, '=') + 1 :
					  i + 1 < n - 1 ? a->argv[i + 1] : NULL;
			if (o && o->type != OPT_FLAG && val && strcmp(o->name, "env") == 0)
				where.env = val;
			if (o && o->type != OPT_FLAG && val && strcmp(o->name, "config") == 0)
				where.config = val;
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

	const struct opt *const tables[] = { verb && verb->opts ? verb->opts : global_opts,
					     cmd && cmd->opts ? cmd->opts : global_opts, global_opts,
					     NULL };
	/* the value of an option? */
	if (n >= 2) {
		const char *prev = a->argv[n - 2];
		const struct opt *o = find_opt(cmd ? tables : globals, prev);
		if (o && o->type != OPT_FLAG && !strchr(prev, '=')) {
			emit_hint(f, o->complete, cur, &where);
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
		emit_hint(f, "@command", cur, &where);
		return 0;
	}
	if (cmd->verbs && !verb) {
		for (const struct cmd_verb *v = cmd->verbs; v->name; v++)
			emit(f, v->name, cur);
		return 0;
	}
	where.npos = npos;
	emit_hint(f, verb ? verb->arg_complete : cmd->arg_complete, cur, &where);
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
