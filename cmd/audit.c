/* audit.c — `acmectl audit [--actor WHO] [--action CMD] [--since DUR] [--limit N] [--after CURSOR]`:
 * the audit log, newest
 * first: who (OS user, host) ran which destructive or configuration-changing
 * command, on what, in which environment, with the details as JSON. */
#include "cmd/cmd.h"
#include "core/audit.h"
#include "core/output.h"

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 100000

static int audit_exec(struct ctx *ctx, struct args *a)
{
	static const struct out_col cols[] = {
		{ "id", COL_INT }, { "at", COL_STR }, { "os_user", COL_STR }, { "host", COL_STR },
		{ "environment", COL_STR }, { "command", COL_STR }, { "target", COL_STR },
		{ "details", COL_JSON },
	};
	long long since = args_int(a, "since", 0);
	long limit = (long)args_int(a, "limit", AUDIT_LIMIT_DEFAULT);
	struct audit_filter f = { since, args_get(a, "actor"), args_get(a, "action"), limit + 1,
				  args_get(a, "after") };
	struct audit_page page;
	if (audit_list(ctx->s.db, &f, &page, &ctx->err) < 0)
		return -1;
	struct output *o = ctx_output_new(ctx, cols, 8);
	if (!o) {
		audit_page_release(&page);
		return -1;
	}
	size_t n = page.n > (size_t)limit ? (size_t)limit : page.n;
	for (size_t r = 0; r < n; r++) {
		const struct audit_entry *e = &page.v[r];
		const char *row[8] = { e->id, e->at, e->os_user, e->host, e->environment,
				       e->command, e->target, e->details };
		output_row(o, row);
	}
	bool more = page.n > (size_t)limit;
	output_end(o, output_page(limit, more ? page.v[n - 1].cursor : NULL));
	if (more)
		ctx_msg(ctx, "showing the newest %ld; more with --after %s", limit,
			page.v[n - 1].cursor);
	if (page.n == 0)
		ctx_msg(ctx, "the audit log has no entries%s", since || f.actor || f.action ?
			" that match" : "");
	audit_page_release(&page);
	return 0;
}

static const struct opt audit_opts[] = {
	{ "actor", 0, OPT_STRING, "WHO", "only changes by this OS user, or USER@HOST", 0, 0, NULL, 0 },
	{ "action", 0, OPT_STRING, "CMD", "only this command (import, jobs, webhooks) or command "
	  "and verb ('jobs cancel')", 0, 0, NULL, 0 },
	{ "since", 0, OPT_DURATION, "DUR", "only entries younger than DUR (30m, 2h, 7d)",
	  0, 0, NULL, 0 },
	{ "limit", 0, OPT_INT, "N", "at most N entries (default 100)", 1, AUDIT_LIMIT_MAX, NULL, 0 },
	{ "after", 0, OPT_STRING, "CURSOR", "the page after this cursor (page.next_cursor of -o json)",
	  0, 0, NULL, 0 },
	OPT_END
};

const struct cmd_entry cmd_audit = {
	.name = "audit",
	.summary = "show the audit log of changes: who, what, when, where",
	.usage = "[--actor WHO] [--action CMD] [--since DUR] [--limit N] [--after CURSOR] [-o FORMAT]",
	.description = "Every destructive or configuration-changing command writes one row per\n"
		       "change, in the same transaction as the change. Newest first.\n"
		       "See acmectl-audit(1).",
	.opts = audit_opts,
	.exec = audit_exec,
	.flags = CMD_NEEDS_DB,
	.max_args = 0,
};
