/* version.c — `acmectl version`: what this binary is and what it runs on. */
#include <jansson.h>

#include "cmd/cmd.h"
#include "core/output.h"
#include "core/version.h"

static int version_exec(struct ctx *ctx, struct args *a)
{
	char buf[128];
	(void)a;
	if (ctx->fmt_given && (ctx->fmt == OUT_JSON || ctx->fmt == OUT_NDJSON)) {
		json_t *libs = json_array();
		for (int i = 0; acme_library_version(i, buf, sizeof(buf)); i++)
			json_array_append_new(libs, json_string(buf));
		json_t *doc = json_pack("{s:s, s:s, s:s, s:o}", "version", acme_version(),
					"revision", acme_git_rev(), "build_date", acme_build_date(),
					"libraries", libs);
		output_json(ctx->out, doc, ctx->fmt == OUT_JSON);
		json_decref(doc);
		return 0;
	}
	fprintf(ctx->out, "acmectl %s (revision %s, built %s)\n", acme_version(), acme_git_rev(),
		acme_build_date());
	for (int i = 0; acme_library_version(i, buf, sizeof(buf)); i++)
		fprintf(ctx->out, "  %s\n", buf);
	return 0;
}

const struct cmd_entry cmd_version = {
	.name = "version",
	.summary = "show version, git revision, build date and library versions",
	.exec = version_exec,
	.flags = CMD_NO_CONFIG,
	.max_args = 0,
};
