/* worker.c — `acmectl worker`: run the job worker daemon (and optionally the
 * scheduler) in the foreground, for systemd, Kubernetes or a terminal. */
#include <string.h>

#include "cmd/cmd.h"
#include "core/log.h"
#include "core/whsecret.h"
#include "core/worker.h"

static const struct opt worker_opts[] = {
	{ "queues", 'Q', OPT_STRING, "POOLS", "pools and queues: \"import=2,default,webhooks\" "
	  "(POOL[:Q1+Q2][=SIZE],...; default default,import,webhooks)", 0, 0, NULL, 0 },
	{ "concurrency", 'c', OPT_INT, "N", "children per pool without an explicit size (default 1)",
	  1, 64, NULL, 0 },
	{ "max-jobs-per-child", 0, OPT_INT, "N", "replace a child after N jobs (default: never)",
	  1, 100000000, NULL, 0 },
	{ "max-memory-per-child", 0, OPT_INT, "MB", "replace a child whose RSS passes MB after a job",
	  1, 1048576, NULL, 0 },
	{ "shutdown-timeout", 0, OPT_DURATION, "DUR", "on SIGTERM, wait this long for running jobs "
	  "before releasing them (default 30s)", 0, 86400000, NULL, 0 },
	{ "lease", 0, OPT_DURATION, "DUR", "job lease, renewed by heartbeat every third of it "
	  "(default 30s)", 1000, 3600000, NULL, 0 },
	{ "time-limit", 0, OPT_DURATION, "DUR", "kill an attempt that runs longer than DUR, for job "
	  "types without a hard time limit of their own (default: none)", 1000, 604800000, NULL, 0 },
	{ "burst", 0, OPT_FLAG, NULL, "exit when the queues are empty (scripts and tests)", 0, 0, NULL, 0 },
	{ "beat", 0, OPT_FLAG, NULL, "also run the scheduler (periodic jobs)", 0, 0, NULL, 0 },
	{ "beat-only", 0, OPT_FLAG, NULL, "run only the scheduler, no job children", 0, 0, NULL, 0 },
	{ "no-mirror", 0, OPT_FLAG, NULL, "benchmarks: run jobs without the PostgreSQL mirror and fence",
	  0, 0, NULL, OPT_HIDDEN },
	{ "log-format", 0, OPT_STRING, "FORMAT", "text or json log lines on stderr", 0, 0,
	  "text|json", 0 },
	OPT_END
};

static int worker_exec(struct ctx *ctx, struct args *a)
{
	struct worker_opts opts;
	bool is_child = false;
	int child_status = 0;

	memset(&opts, 0, sizeof(opts));
	const char *pools = args_get(a, "queues");
	if (worker_parse_pools(pools ? pools : "default,import,webhooks",
			       (int)args_int(a, "concurrency", 1), &opts, &ctx->err) < 0)
		return -1;
	opts.max_jobs_per_child = (int)args_int(a, "max-jobs-per-child", 0);
	opts.max_memory_kb = (long)args_int(a, "max-memory-per-child", 0) * 1024;
	opts.shutdown_timeout_ms = args_int(a, "shutdown-timeout", 30000);
	opts.lease_ms = args_int(a, "lease", 30000);
	opts.time_limit_ms = args_int(a, "time-limit", 0);
	opts.burst = args_has(a, "burst");
	opts.beat = args_has(a, "beat");
	opts.beat_only = args_has(a, "beat-only");
	opts.no_mirror = args_has(a, "no-mirror");

	/* a daemon's log: timestamps, pids, and JSON when asked */
	struct log_config lc = { LOG_INFO, LOG_TEXT, true, "acmectl-worker", NULL, NULL, NULL };
	log_level_parse(config_get(&ctx->s.cfg, CFG_LOG_LEVEL), &lc.level);
	log_format_parse(config_get(&ctx->s.cfg, CFG_LOG_FORMAT), &lc.format);
	if (args_get(a, "log-format"))
		log_format_parse(args_get(a, "log-format"), &lc.format);
	log_setup(&lc);

	/* the webhook deliverer opens the stored secrets: a production worker
	 * without a usable key refuses to start rather than fail every delivery */
	if (whsecret_require(&ctx->s.cfg, &ctx->err) < 0)
		return -1;

	/* in development, make sure the dev stack is up before forking */
	if (config_uses_devstack(&ctx->s.cfg) && (!ctx_db(ctx) || !ctx_redis(ctx)))
		return -1;
	session_drop_db(&ctx->s);
	session_drop_redis(&ctx->s);
	int rc = worker_run(&ctx->s.cfg, &opts, &is_child, &child_status, &ctx->err);
	if (is_child)
		return child_status;
	return rc;
}

const struct cmd_entry cmd_worker = {
	.name = "worker",
	.summary = "run the job worker daemon (and the scheduler with --beat)",
	.usage = "[--queues POOLS] [--concurrency N] [--burst] [--beat|--beat-only] [options]",
	.description = "Pre-forks children per pool; each runs one job at a time with its own\n"
		       "connections. SIGTERM stops fetching and lets running jobs finish within\n"
		       "--shutdown-timeout, then releases them; a second signal stops at once.",
	.opts = worker_opts,
	.exec = worker_exec,
	.max_args = 0,
};
