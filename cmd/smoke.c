/* smoke.c — `acmectl smoke-test`: the last step of a deploy. The steps and
 * their cleanup are in core/smoke.c; this file reads the options, turns
 * SIGINT/SIGTERM/SIGHUP into "stop and clean up", and reports: TAP as each
 * step ends (the default, which CI logs show as they come), or one JSON
 * document, plus a JUnit XML file with --junit for CI test reports.
 *
 * Exit status: 0 every check passed (skips allowed); 1 a check or the
 * cleanup failed; 69 the preflight never passed (could not test); 130 / 143
 * interrupted by SIGINT / SIGTERM, after cleaning up; 2 usage; 78 config.
 *
 * Like health it connects by itself and never starts the dev stack: it
 * checks what is deployed.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/whsecret.h"
#include "core/clock.h"
#include "core/output.h"
#include "core/smoke.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

static volatile sig_atomic_t smoke_signal;

static void on_signal(int sig)
{
	smoke_signal = sig;
}

struct report {
	struct ctx *ctx;
	bool tap;
	int failed_at;           /* the first failed step, -1 none */
};

/* A TAP description or diagnostic stays on one line. */
static void tap_text(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s == '#' ? '_' : *s, f);
}

static void tap_line(FILE *f, int n, const struct smoke_step *s, const char *why_not_run)
{
	bool ok = s->status != SMOKE_FAIL;
	fprintf(f, "%s %d - %s", ok ? "ok" : "not ok", n, s->name);
	if (s->status == SMOKE_NOT_RUN) {
		fprintf(f, " # SKIP not run: %s\n", why_not_run);
		return;
	}
	fprintf(f, " (%lld ms)", s->duration_ms);
	if (s->status == SMOKE_SKIP) {
		fputs(" # SKIP ", f);
		tap_text(f, s->detail);
		fputc('\n', f);
		return;
	}
	fputs(": ", f);
	tap_text(f, s->detail);
	fputc('\n', f);
}

static void on_step(void *arg, int i, const struct smoke_step *s)
{
	struct report *rp = arg;
	if (s->status == SMOKE_FAIL && rp->failed_at < 0)
		rp->failed_at = i;
	if (!rp->tap)
		return;
	tap_line(rp->ctx->out, i + 1, s, "");
	fflush(rp->ctx->out);
}

static const char *verdict_name(enum smoke_verdict v)
{
	static const char *const names[] = { "pass", "fail", "unavailable", "interrupted" };
	return names[v];
}

static void why_not_run(const struct smoke_result *r, int failed_at, char *buf, size_t len)
{
	if (r->verdict == SMOKE_INTERRUPTED)
		snprintf(buf, len, "interrupted");
	else if (failed_at >= 0)
		snprintf(buf, len, "%s failed", r->steps[failed_at].name);
	else
		snprintf(buf, len, "stopped");
}

/* ---- JUnit ----------------------------------------------------------------------------- */

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '&')
			fputs("&amp;", f);
		else if (c == '<')
			fputs("&lt;", f);
		else if (c == '>')
			fputs("&gt;", f);
		else if (c == '"')
			fputs("&quot;", f);
		else if (c < 0x20 && c != '\n' && c != '\t')
			fputc(' ', f);        /* not allowed in XML 1.0 */
		else
			fputc(c, f);
	}
}

static int write_junit(struct ctx *ctx, const char *path, const struct smoke_result *r,
		       const char *notrun)
{
	char tmp[4096], host[256] = "", stamp[40];
	int failures = r->cleanup_failed, skipped = 0;
	FILE *f;

	for (int i = 0; i < SMOKE_STEPS; i++) {
		failures += r->steps[i].status == SMOKE_FAIL;
		skipped += r->steps[i].status == SMOKE_SKIP || r->steps[i].status == SMOKE_NOT_RUN;
	}
	gethostname(host, sizeof(host) - 1);
	clock_format_ms(clock_wall_ms() - r->duration_ms, stamp, sizeof(stamp));
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (!(f = fopen(tmp, "w")))
		return acme_err_set(&ctx->err, ACME_E_FAILURE, "--junit %s: %s", path, strerror(errno));
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
	fprintf(f, "<testsuites name=\"acmectl smoke-test\" tests=\"%d\" failures=\"%d\" errors=\"0\" "
		"skipped=\"%d\" time=\"%.3f\">\n", SMOKE_STEPS + 1, failures, skipped,
		(double)r->duration_ms / 1000.0);
	fprintf(f, "  <testsuite name=\"acmectl smoke-test\" tests=\"%d\" failures=\"%d\" errors=\"0\" "
		"skipped=\"%d\" time=\"%.3f\" timestamp=\"%s\" hostname=\"", SMOKE_STEPS + 1, failures,
		skipped, (double)r->duration_ms / 1000.0, stamp);
	xml_text(f, host);
	fputs("\">\n", f);
	fprintf(f, "    <properties><property name=\"run_id\" value=\"%s\"/>"
		"<property name=\"verdict\" value=\"%s\"/></properties>\n", r->run_id,
		verdict_name(r->verdict));
	for (int i = 0; i < SMOKE_STEPS; i++) {
		const struct smoke_step *s = &r->steps[i];
		fprintf(f, "    <testcase classname=\"acmectl.smoke-test\" name=\"%s\" time=\"%.3f\"",
			s->name, (double)s->duration_ms / 1000.0);
		if (s->status == SMOKE_PASS) {
			fputs("/>\n", f);
			continue;
		}
		fputs(">\n      <", f);
		fputs(s->status == SMOKE_FAIL ? "failure type=\"check\" message=\"" : "skipped message=\"", f);
		if (s->status == SMOKE_NOT_RUN) {
			fputs("not run: ", f);
			xml_text(f, notrun);
		} else {
			xml_text(f, s->detail);
		}
		fputs(s->status == SMOKE_FAIL ? "\">" : "\"/>\n", f);
		if (s->status == SMOKE_FAIL) {
			xml_text(f, s->detail);
			fputs("</failure>\n", f);
		}
		fputs("    </testcase>\n", f);
	}
	fputs("    <testcase classname=\"acmectl.smoke-test\" name=\"cleanup\" time=\"0\"", f);
	if (r->cleanup_failed) {
		fputs(">\n      <failure type=\"cleanup\" message=\"", f);
		xml_text(f, r->cleanup);
		fputs("\"/>\n    </testcase>\n", f);
	} else {
		fputs("/>\n", f);
	}
	fputs("    <system-out>", f);
	xml_text(f, r->cleanup);
	fputs("</system-out>\n  </testsuite>\n</testsuites>\n", f);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return acme_err_set(&ctx->err, ACME_E_FAILURE, "--junit %s: %s", path, strerror(e));
	}
	return 0;
}

/* ---- the command ----------------------------------------------------------------------- */

static int smoke_exec(struct ctx *ctx, struct args *a)
{
	struct smoke_opts o;
	struct smoke_result r;
	struct report rp = { ctx, true, -1 };
	const char *fmt = args_get(a, "output");
	const char *junit = args_get(a, "junit");
	char notrun[64];

	if (fmt && strcmp(fmt, "tap") != 0 && strcmp(fmt, "json") != 0)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "smoke-test: -o %s: expected tap or json",
				    fmt);
	rp.tap = !fmt || strcmp(fmt, "tap") == 0;
	if (args_has(a, "skip-webhook") && args_get(a, "webhook-url"))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "smoke-test: --skip-webhook and "
				    "--webhook-url exclude each other");

	/* its webhook step adds an endpoint, whose secret is sealed */
	if (!args_has(a, "skip-webhook") && whsecret_require(&ctx->s.cfg, &ctx->err) < 0)
		return -1;
	memset(&o, 0, sizeof(o));
	o.cfg = &ctx->s.cfg;
	o.timeout_ms = args_int(a, "timeout", 120000);
	o.skip_webhook = args_has(a, "skip-webhook");
	o.webhook_url = args_get(a, "webhook-url");
	o.environment = config_get(&ctx->s.cfg, CFG_ENV);
	o.stop = &smoke_signal;
	o.on_step = on_step;
	o.arg = &rp;

	struct sigaction sa, old[3];
	static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;        /* no SA_RESTART: a wait wakes at once */
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);

	if (rp.tap) {
		fprintf(ctx->out, "1..%d\n", SMOKE_STEPS + 1);
		fflush(ctx->out);
	}
	enum smoke_verdict v = smoke_run(&o, &r);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	why_not_run(&r, rp.failed_at, notrun, sizeof(notrun));

	if (rp.tap) {
		for (int i = 0; i < SMOKE_STEPS; i++)
			if (r.steps[i].status == SMOKE_NOT_RUN)
				tap_line(ctx->out, i + 1, &r.steps[i], notrun);
		fprintf(ctx->out, "%s %d - cleanup: ", r.cleanup_failed ? "not ok" : "ok", SMOKE_STEPS + 1);
		tap_text(ctx->out, r.cleanup);
		fprintf(ctx->out, "\n# smoke-test %s in %.1f s (run %s)\n", verdict_name(v),
			(double)r.duration_ms / 1000.0, r.run_id);
	} else {
		json_t *steps = json_array();
		for (int i = 0; i < SMOKE_STEPS; i++) {
			const struct smoke_step *s = &r.steps[i];
			json_array_append_new(steps, json_pack("{s:s, s:s, s:I, s:s}", "name", s->name,
				"status", s->status == SMOKE_NOT_RUN ? "skip" : smoke_status_name(s->status),
				"duration_ms", (json_int_t)s->duration_ms, "detail",
				s->status == SMOKE_NOT_RUN ? notrun : s->detail));
		}
		json_t *doc = json_pack("{s:s, s:s, s:I, s:o, s:{s:b, s:s}}", "status", verdict_name(v),
					"run_id", r.run_id, "duration_ms", (json_int_t)r.duration_ms,
					"steps", steps, "cleanup", "ok", !r.cleanup_failed, "detail",
					r.cleanup);
		output_json(ctx->out, doc, false);
		json_decref(doc);
	}
	fflush(ctx->out);
	if (junit && write_junit(ctx, junit, &r, notrun) < 0)
		return -1;

	switch (v) {
	case SMOKE_OK:
		return 0;
	case SMOKE_FAILED:
		if (rp.failed_at >= 0)
			fprintf(stderr, "acmectl: smoke-test: %s: %s\n", r.steps[rp.failed_at].name,
				r.steps[rp.failed_at].detail);
		if (r.cleanup_failed)
			fprintf(stderr, "acmectl: smoke-test: cleanup %s\n", r.cleanup);
		return 1;
	case SMOKE_UNAVAILABLE:
		fprintf(stderr, "acmectl: smoke-test: could not test: %s\n", r.steps[0].status ==
			SMOKE_FAIL ? r.steps[0].detail : r.steps[1].detail);
		return acme_exit_status(ACME_E_UNAVAILABLE);
	case SMOKE_INTERRUPTED:
		fprintf(stderr, "acmectl: smoke-test: interrupted by %s; cleanup: %s\n",
			smoke_signal == SIGINT ? "SIGINT" : smoke_signal == SIGHUP ? "SIGHUP" : "SIGTERM",
			r.cleanup);
		return 128 + (smoke_signal ? smoke_signal : SIGTERM);
	}
	return 1;
}

static const struct opt smoke_opts[] = {
	{ "timeout", 't', OPT_DURATION, "DUR", "deadline of the checks, the preflight's wait "
	  "included (default 2m; the cleanup has its own 15s)", 1000, 24LL * 3600 * 1000, NULL, 0 },
	{ "output", 'o', OPT_STRING, "FORMAT", "tap (the default, each step as it ends) or json",
	  0, 0, "tap|json", 0 },
	{ "junit", 0, OPT_STRING, "FILE", "also write a JUnit XML report to FILE", 0, 0, "file", 0 },
	{ "skip-webhook", 0, OPT_FLAG, NULL, "do not check webhook delivery", 0, 0, NULL, 0 },
	{ "webhook-url", 0, OPT_STRING, "URL", "deliver the test event to this receiver instead of "
	  "one on 127.0.0.1 (for workers on other hosts)", 0, 0, NULL, 0 },
	OPT_END
};

const struct cmd_entry cmd_smoke_test = {
	.name = "smoke-test",
	.summary = "check a deployed environment end to end, leaving nothing behind",
	.usage = "[--timeout DUR] [-o tap|json] [--junit FILE] [--skip-webhook] [--webhook-url URL]",
	.description = "Preflight (as health --ready --wait), schema, a live worker per queue, an\n"
		       "import through the queue, a product round trip and a signed webhook\n"
		       "delivery, each timed; everything it made is removed. Exit 0 pass, 1 a check\n"
		       "failed, 69 not ready before the deadline. See acmectl-smoke-test(1).",
	.opts = smoke_opts,
	.exec = smoke_exec,
	.flags = CMD_OWN_OUTPUT,
	.min_args = 0,
	.max_args = 0,
};
