/* config.c — `acmectl config show|check`: the effective configuration with
 * each value's source (secrets redacted), and validation for scripts and CI. */
#include <jansson.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "core/config.h"
#include "core/db.h"
#include "core/rds.h"
#include "core/output.h"
#include "core/xalloc.h"

static int config_show(struct ctx *ctx, struct args *a)
{
	(void)a;
	enum out_format fmt = ctx_format(ctx);
	const struct config *cfg = &ctx->s.cfg;

	if (fmt == OUT_JSON) {
		json_t *doc = json_object();
		json_t *settings = json_object();
		for (int k = 0; k < CFG__COUNT; k++) {
			char *shown = config_display_value(cfg, (enum config_key)k);
			const struct config_value *cv = &cfg->v[k];
			json_object_set_new(settings, config_key_name((enum config_key)k),
				json_pack("{s:o, s:s, s:s, s:s, s:b}",
					  "value", cv->value ? json_string(shown) : json_null(),
					  "source", config_source_name(cv->source),
					  "origin", cv->origin ? cv->origin : "",
					  "env_var", config_key_envvar((enum config_key)k),
					  "secret", (config_key_flags((enum config_key)k) & CFG_SECRET) != 0));
			free(shown);
		}
		json_object_set_new(doc, "environment", json_string(config_get(cfg, CFG_ENV)));
		json_object_set_new(doc, "config_file", cfg->file ? json_string(cfg->file) : json_null());
		json_object_set_new(doc, "settings", settings);
		output_json(ctx->out, doc, true);
		json_decref(doc);
		return 0;
	}

	static const struct out_col cols[] = {
		{ "setting", COL_STR }, { "value", COL_STR }, { "source", COL_STR }, { "origin", COL_STR },
	};
	struct output *o = ctx_output_new(ctx, cols, 4);
	if (!o)
		return -1;
	for (int k = 0; k < CFG__COUNT; k++) {
		char *shown = config_display_value(cfg, (enum config_key)k);
		const struct config_value *cv = &cfg->v[k];
		const char *row[4] = { config_key_name((enum config_key)k), cv->value ? shown : NULL,
				       config_source_name(cv->source), cv->origin };
		output_row(o, row);
		free(shown);
	}
	output_end(o, NULL);
	return 0;
}

/* One check's outcome for -o json: {"check", "status": "pass"|"fail", "error"?}. */
static void add_check(json_t *checks, const char *name, bool ok, const struct acme_err *err)
{
	json_t *c = json_pack("{s:s, s:s}", "check", name, "status", ok ? "pass" : "fail");
	if (!ok)
		json_object_set_new(c, "error", json_string(err->msg));
	json_array_append_new(checks, c);
}

static int config_check(struct ctx *ctx, struct args *a)
{
	/* -o json: one document whatever happens (scripts parse it); the exit
	 * status and the message on stderr stay those of the text form */
	bool json = ctx->fmt_given && ctx_format(ctx) == OUT_JSON;
	json_t *checks = json_array();
	int rc = -1;

	/* the dispatcher has validated already; say so for people */
	if (!json)
		ctx_msg(ctx, "configuration ok (environment %s, config file %s)",
			config_get(&ctx->s.cfg, CFG_ENV), ctx->s.cfg.file ? ctx->s.cfg.file : "none");
	add_check(checks, "config", true, NULL);
	if (!args_has(a, "connect")) {
		rc = 0;
		goto out;
	}
	/* reachability: connect directly, never start the dev stack from here */
	PGconn *db = db_connect(&ctx->s.cfg, &ctx->err);
	add_check(checks, "postgresql", db != NULL, &ctx->err);
	if (!db)
		goto out;
	db_close(db);
	if (!json)
		ctx_msg(ctx, "postgresql ok");
	redisContext *r = rds_connect(&ctx->s.cfg, 0, &ctx->err);
	int pong = r ? rds_ping(r, &ctx->err) : -1;
	rds_close(r);
	add_check(checks, "redis", pong == 0, &ctx->err);
	if (pong < 0)
		goto out;
	if (!json)
		ctx_msg(ctx, "redis ok");
	rc = 0;
out:
	if (json) {
		json_t *doc = json_pack("{s:s, s:o, s:b, s:O}", "environment",
					config_get(&ctx->s.cfg, CFG_ENV), "config_file",
					ctx->s.cfg.file ? json_string(ctx->s.cfg.file) : json_null(),
					"ok", rc == 0, "checks", checks);
		output_json(ctx->out, doc, true);
		json_decref(doc);
	}
	json_decref(checks);
	return rc;
}

static const struct opt check_opts[] = {
	{ "connect", 0, OPT_FLAG, NULL, "also connect to PostgreSQL and Redis (exit 69 when either "
	  "cannot be reached)", 0, 0, NULL, 0 },
	OPT_END
};

static const struct cmd_verb config_verbs[] = {
	{ "show", "[-o FORMAT]", "print every effective setting, its value (secrets redacted) and "
	  "where it came from", NULL, config_show, CMD_NO_VALIDATE, 0, 0, NULL },
	{ "check", "[--connect] [-o json]", "validate the configuration; exit 78 with the first problem",
	  check_opts,
	  config_check, 0, 0, 0, NULL },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, 0, NULL }
};

static const char *const config_aliases[] = { "cfg", NULL };

const struct cmd_entry cmd_config = {
	.name = "config",
	.aliases = config_aliases,
	.summary = "show and check the effective configuration",
	.description = "Settings come from command-line flags, then the environment, then the "
		       "config file\n($XDG_CONFIG_HOME/acmectl/config or /etc/acmectl/config), "
		       "then built-in defaults.\nSee acmectl.conf(5).",
	.verbs = config_verbs,
};
