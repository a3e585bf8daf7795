/* health.c — `acmectl health [--live|--ready] [--wait]`: liveness and
 * readiness probes for orchestrators, compose files and CI, in place of
 * `sleep`. The probes are in core/health.c; this file runs them in rounds
 * until they pass, fail for good, or the deadline comes, and reports.
 *
 * It connects by itself rather than through CMD_NEEDS_DB, and validates the
 * configuration itself, so that every failure becomes a report (and a JSON
 * document with -o json) instead of an early exit. It never starts the dev
 * stack: a probe observes, it does not fix.
 *
 * Exit status: 0 every check passed; 1 a check failed in a way waiting will
 * not fix (bad password, missing database, NOAUTH, a failed migration);
 * 69 not ready: a server is unreachable, starting or loading, migrations are
 * pending or no worker is alive (with --wait: still so at the deadline);
 * 78 the configuration is invalid.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/health.h"
#include "core/output.h"
#include "core/rds.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

enum { CHK_CONFIG, CHK_POSTGRES, CHK_SCHEMA, CHK_REDIS, CHK_WORKER, CHK__COUNT };

struct round {
	struct health_check c[CHK__COUNT];
	bool used[CHK__COUNT];
};

/* One pass over the readiness checks, each bounded by timeout_ms. */
static void run_ready(struct ctx *ctx, struct round *rd, long long timeout_ms, bool worker)
{
	PGconn *db = NULL;
	redisContext *rc = NULL;

	rd->used[CHK_POSTGRES] = rd->used[CHK_SCHEMA] = rd->used[CHK_REDIS] = true;
	if (health_postgres(config_get(&ctx->s.cfg, CFG_DATABASE_URL), timeout_ms,
			    &rd->c[CHK_POSTGRES], &db) == 0) {
		health_schema(db, &ctx->s.cfg, &rd->c[CHK_SCHEMA]);
		db_close(db);
	} else {
		rd->c[CHK_SCHEMA].name = "schema";
		health_skip(&rd->c[CHK_SCHEMA], "postgresql is not ready");
	}
	if (worker)
		rd->used[CHK_WORKER] = true;
	if (health_redis(config_get(&ctx->s.cfg, CFG_REDIS_URL), timeout_ms, &rd->c[CHK_REDIS],
			 worker ? &rc : NULL) == 0) {
		if (worker) {
			health_worker(rc, config_get(&ctx->s.cfg, CFG_REDIS_PREFIX), &rd->c[CHK_WORKER]);
			rds_close(rc);
		}
	} else if (worker) {
		rd->c[CHK_WORKER].name = "worker";
		health_skip(&rd->c[CHK_WORKER], "redis is not ready");
	}
}

/* 0 all pass; 1 a permanent failure; 69 only transient failures. */
static int verdict(const struct round *rd)
{
	bool failed = false;
	for (int i = 0; i < CHK__COUNT; i++) {
		if (!rd->used[i] || rd->c[i].status != HEALTH_FAIL)
			continue;
		if (!rd->c[i].transient)
			return i == CHK_CONFIG ? 78 : 1;
		failed = true;
	}
	return failed ? 69 : 0;
}

static char *failures(const struct round *rd)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < CHK__COUNT; i++)
		if (rd->used[i] && rd->c[i].status == HEALTH_FAIL) {
			/* core's messages often start with the service's name already */
			bool named = strncmp(rd->c[i].detail, rd->c[i].name, strlen(rd->c[i].name)) == 0;
			strbuf_addf(&sb, "%s%s%s%s", sb.len ? "; " : "", named ? "" : rd->c[i].name,
				    named ? "" : ": ", rd->c[i].detail);
		}
	return strbuf_detach(&sb, NULL);
}

static void report(struct ctx *ctx, const struct round *rd, const char *mode, int status,
		   int attempts, long long duration_ms)
{
	if (ctx_format(ctx) == OUT_JSON) {
		json_t *checks = json_object();
		for (int i = 0; i < CHK__COUNT; i++) {
			const struct health_check *c = &rd->c[i];
			if (!rd->used[i])
				continue;
			json_t *o = json_pack("{s:s, s:I}", "status", health_status_name(c->status),
					      "duration_ms", (json_int_t)c->duration_ms);
			if (c->status == HEALTH_FAIL) {
				json_object_set_new(o, "error", json_string(c->detail));
				json_object_set_new(o, "transient", json_boolean(c->transient));
			} else if (c->detail[0]) {
				json_object_set_new(o, "detail", json_string(c->detail));
			}
			if (i == CHK_SCHEMA && c->status != HEALTH_SKIP && c->head) {
				json_object_set_new(o, "current", json_integer(c->current));
				json_object_set_new(o, "head", json_integer(c->head));
				json_object_set_new(o, "pending", json_integer(c->pending));
			}
			if (i == CHK_WORKER && c->status != HEALTH_SKIP)
				json_object_set_new(o, "workers", json_integer(c->workers));
			json_object_set_new(checks, c->name, o);
		}
		json_t *doc = json_pack("{s:s, s:s, s:o, s:i, s:I}", "status", status == 0 ? "pass" : "fail",
					"mode", mode, "checks", checks, "attempts", attempts,
					"duration_ms", (json_int_t)duration_ms);
		output_json(ctx->out, doc, false);
		json_decref(doc);
	} else {
		static const struct out_col cols[] = {
			{ "check", COL_STR }, { "status", COL_STR }, { "duration_ms", COL_INT },
			{ "detail", COL_STR },
		};
		struct output *o = ctx_output_new(ctx, cols, 4);
		if (!o) {       /* the checks ran: show them whole rather than nothing */
			ctx_msg(ctx, "%s", ctx->err.msg);
			o = output_new(ctx->out, ctx_format(ctx), cols, 4);
		}
		for (int i = 0; i < CHK__COUNT; i++) {
			const struct health_check *c = &rd->c[i];
			char ms[24];
			if (!rd->used[i])
				continue;
			snprintf(ms, sizeof(ms), "%lld", c->duration_ms);
			const char *row[4] = { c->name, health_status_name(c->status), ms,
					       c->detail[0] ? c->detail : NULL };
			output_row(o, row);
		}
		output_end(o, NULL);
	}
	if (status != 0) {
		char *why = failures(rd);
		fprintf(stderr, "acmectl: health: %s%s\n", status == 69 && attempts > 1 ?
			"not ready before the deadline: " : status == 69 ? "not ready: " : "", why);
		free(why);
	}
}

static int health_exec(struct ctx *ctx, struct args *a)
{
	struct round rd;
	long long t0 = clock_mono_ms();
	bool live = args_has(a, "live");
	bool wait = args_has(a, "wait");
	bool worker = args_has(a, "require-worker");
	const char *mode = live ? "live" : "ready";
	int status, attempts = 0;
	char *last = NULL;

	if (live && args_has(a, "ready"))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "health: --live and --ready exclude each "
				    "other");
	if (live && (worker || wait))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "health: --live checks nothing on the "
				    "network; --%s needs --ready", worker ? "require-worker" : "wait");
	long long timeout = args_int(a, "timeout", wait ? 60000 :
				     (long long)config_connect_timeout(&ctx->s.cfg) * 1000);
	long long interval = args_int(a, "interval", 1000);
	long long deadline = t0 + timeout;

	memset(&rd, 0, sizeof(rd));
	rd.used[CHK_CONFIG] = true;
	rd.c[CHK_CONFIG].name = "config";
	struct acme_err cerr = { 0 };
	if (config_validate(&ctx->s.cfg, &cerr) < 0) {
		snprintf(rd.c[CHK_CONFIG].detail, sizeof(rd.c[CHK_CONFIG].detail), "%s", cerr.msg);
		rd.c[CHK_CONFIG].status = HEALTH_FAIL;
		status = 78;
		goto done;
	}
	rd.c[CHK_CONFIG].status = HEALTH_PASS;
	snprintf(rd.c[CHK_CONFIG].detail, sizeof(rd.c[CHK_CONFIG].detail), "environment %s",
		 config_get(&ctx->s.cfg, CFG_ENV));
	if (live) {
		status = 0;
		goto done;
	}

	for (;;) {
		long long left = deadline - clock_mono_ms();
		attempts++;
		struct health_check cfgc = rd.c[CHK_CONFIG];
		memset(&rd, 0, sizeof(rd));
		rd.c[CHK_CONFIG] = cfgc;
		rd.used[CHK_CONFIG] = true;
		run_ready(ctx, &rd, left > 100 ? left : 100, worker);
		status = verdict(&rd);
		if (status != 69 || !wait)
			break;
		left = deadline - clock_mono_ms();
		if (left <= 0)
			break;
		char *why = failures(&rd);
		if (!last || strcmp(why, last) != 0)
			ctx_msg(ctx, "health: waiting (%.0f s left): %s", (double)left / 1000.0, why);
		free(last);
		last = why;
		clock_sleep_ms(interval < left ? interval : left);
	}
done:
	free(last);
	report(ctx, &rd, mode, status, attempts, clock_mono_ms() - t0);
	return status;
}

static const struct opt health_opts[] = {
	{ "live", 0, OPT_FLAG, NULL, "liveness: the process starts and reads its configuration "
	  "(no network)", 0, 0, NULL, 0 },
	{ "ready", 0, OPT_FLAG, NULL, "readiness (the default): PostgreSQL, schema at head, Redis",
	  0, 0, NULL, 0 },
	{ "require-worker", 0, OPT_FLAG, NULL, "also require a live worker heartbeat", 0, 0, NULL, 0 },
	{ "wait", 'w', OPT_FLAG, NULL, "retry transient failures until ready or the timeout",
	  0, 0, NULL, 0 },
	{ "timeout", 't', OPT_DURATION, "DUR", "deadline (default 60s with --wait, else the "
	  "connect timeout)", 100, 24LL * 3600 * 1000, NULL, 0 },
	{ "interval", 0, OPT_DURATION, "DUR", "pause between attempts with --wait (default 1s)",
	  10, 3600LL * 1000, NULL, 0 },
	OPT_END
};

const struct cmd_entry cmd_health = {
	.name = "health",
	.summary = "check liveness or readiness (PostgreSQL, schema, Redis, worker)",
	.usage = "[--live|--ready] [--require-worker] [--wait] [--timeout DUR] [--interval DUR] "
		 "[-o json]",
	.description = "Exit 0 when every check passes, 1 when one fails in a way waiting will not\n"
		       "fix, 69 when a service is not ready (with --wait: not before the deadline),\n"
		       "78 on a configuration error. See acmectl-health(1).",
	.opts = health_opts,
	.exec = health_exec,
	.flags = CMD_NO_VALIDATE,
	.min_args = 0,
	.max_args = 0,
};
