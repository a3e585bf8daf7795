/* tui.c — `acmectl tui`: the ncurses front end (tui/). This file only parses
 * the options, makes sure the dev stack is up when the configuration is the
 * embedded default (before the screen opens, so its messages are readable),
 * and hands the session to tui_run(). `--keys` prints the key table (the
 * `?` screen's) as text or as the roff of acmectl-tui(1).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "tui/tui.h"

static const struct opt tui_opts[] = {
	{ "tab", 0, OPT_STRING, "TAB", "start on this tab: products, import, webhooks, jobs, workers",
	  0, 0, "products|import|webhooks|jobs|workers", 0 },
	{ "no-mouse", 0, OPT_FLAG, NULL, "do not take the mouse (keep the terminal's selection)",
	  0, 0, NULL, 0 },
	{ "keys", 0, OPT_STRING, "FORMAT", "print the key table (text or man) and exit",
	  0, 0, "text|man", 0 },
	OPT_END
};

static const char *const tab_words[TAB__COUNT] = {
	"products", "import", "webhooks", "jobs", "workers",
};

static int tui_exec(struct ctx *ctx, struct args *a)
{
	const char *keys = args_get(a, "keys");
	if (keys) {
		if (strcmp(keys, "text") != 0 && strcmp(keys, "man") != 0)
			return acme_err_set(&ctx->err, ACME_E_USAGE,
					    "tui: --keys takes text or man, not \"%s\"", keys);
		tui_keys_print(ctx->out, strcmp(keys, "man") == 0);
		return 0;
	}
	struct tui_opts o = { TAB_PRODUCTS, args_has(a, "no-mouse") };
	const char *tab = args_get(a, "tab");
	if (tab) {
		int found = -1;
		for (int i = 0; i < TAB__COUNT; i++)
			if (strcmp(tab, tab_words[i]) == 0)
				found = i;
		if (found < 0)
			return acme_err_set(&ctx->err, ACME_E_USAGE,
					    "tui: --tab takes products, import, webhooks, jobs or "
					    "workers, not \"%s\"", tab);
		o.start_tab = (enum tui_tab)found;
	}
	if (!ctx->stdin_tty || !isatty(fileno(ctx->out)))
		return acme_err_set(&ctx->err, ACME_E_USAGE,
				    "tui: needs a terminal on stdin and stdout; for scripts use "
				    "the commands (acmectl products list, acmectl jobs list, ...)");
	if (ctx_load_config(ctx, a) < 0)
		return -1;
	/* The embedded default: start the dev stack now, with its messages on
	 * stderr, rather than under the screen. */
	if (config_uses_devstack(&ctx->s.cfg) && !ctx_db(ctx))
		return -1;
	session_drop_db(&ctx->s);
	session_drop_redis(&ctx->s);
	int rc = tui_run(&ctx->s, &o, &ctx->err);
	return rc;
}

const struct cmd_entry cmd_tui = {
	.name = "tui",
	.summary = "the catalog, imports, webhooks, jobs and workers in one terminal screen",
	.usage = "[--tab TAB] [--no-mouse] [--keys text|man]",
	.description =
		"Tabs for Products, Import, Webhooks, Jobs and Workers; ? shows every key. "
		"Reads never block the screen: a server that goes away shows as "
		"\"reconnecting\" in the title line and the last data stays on screen, "
		"marked stale, until it is back. Changes go through the same validation, "
		"audit log and events as the commands.",
	.opts = tui_opts,
	.exec = tui_exec,
	.flags = CMD_LAZY_CONFIG,
	.max_args = 0,
};
