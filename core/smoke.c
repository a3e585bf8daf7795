/* smoke.c — the steps of `acmectl smoke-test` and their cleanup; see smoke.h.
 *
 * Everything runs on two connections of its own: PostgreSQL (with the
 * session setting acme.smoke = on, so every outbox event it causes is marked)
 * and Redis. Waits poll the job or the delivery every WAIT_STEP_MS and check
 * the deadline and the stop flag each time, so a signal is answered within
 * that (plus one statement).
 */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/failpoint.h"
#include "core/health.h"
#include "core/httpd.h"
#include "core/import.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/jobwait.h"
#include "core/products.h"
#include "core/queue.h"
#include "core/recode.h"
#include "core/rds.h"
#include "core/smoke.h"
#include "core/webhook.h"
#include "core/whsig.h"
#include "core/workers.h"
#include "core/xalloc.h"

#define WAIT_STEP_MS      100
#define PREFLIGHT_PAUSE_MS 500
#define CLEANUP_CANCEL_MS 15000     /* an import asked to cancel stops at its next heartbeat */
#define COMMAND           "smoke-test"

enum { ST_PREFLIGHT, ST_SCHEMA, ST_WORKERS, ST_IMPORT, ST_PRODUCTS, ST_WEBHOOK };

static const char *const step_names[SMOKE_STEPS] = {
	"preflight", "schema", "workers", "import", "products", "webhook",
};

const char *smoke_step_name(int i)
{
	return i >= 0 && i < SMOKE_STEPS ? step_names[i] : NULL;
}

const char *smoke_status_name(enum smoke_status s)
{
	static const char *const names[] = { "pass", "fail", "skip", "not run" };
	return names[s];
}

/* The loopback receiver: a thread serving httpd until told to stop. */
struct receiver {
	struct httpd h;
	pthread_t thread;
	bool running;
	volatile sig_atomic_t stop;
	pthread_mutex_t lock;
	struct whsig_key key;
	/* what arrived (under lock) */
	int received, verified;
	char event_id[64], type[64];
	char why[ACME_ERR_MSG_MAX];      /* the last signature failure */
};

struct run {
	const struct smoke_opts *o;
	struct smoke_result *r;
	PGconn *db;
	redisContext *rc;
	struct queue q;
	bool queue_ready;
	const char *prefix;
	long long deadline;              /* monotonic ms */
	const volatile sig_atomic_t *stop;   /* NULL during cleanup: a second signal does not cut it short */
	/* what cleanup must remove */
	char *import_job, *import_queue;
	char skus[3][64];
	long long webhook_id;
	struct receiver rx;
};

static bool stopped(const struct run *run)
{
	return run->stop && *run->stop;
}

static bool expired(const struct run *run)
{
	return clock_mono_ms() >= run->deadline;
}

static void step_done(struct run *run, int i, enum smoke_status st, long long t0, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void step_done(struct run *run, int i, enum smoke_status st, long long t0, const char *fmt, ...)
{
	struct smoke_step *s = &run->r->steps[i];
	va_list ap;
	s->status = st;
	s->duration_ms = clock_mono_ms() - t0;
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
	if (run->o->on_step)
		run->o->on_step(run->o->arg, i, s);
}

/* Sleep up to ms, less when the deadline is nearer; false once stopped. */
static bool pause_ms(struct run *run, long long ms)
{
	long long left = run->deadline - clock_mono_ms();
	if (stopped(run))
		return false;
	clock_sleep_ms(left < ms ? (left > 0 ? left : 0) : ms);
	return !stopped(run);
}

/* ---- preflight and schema ---------------------------------------------------------------- */

static int preflight(struct run *run)
{
	const struct config *cfg = run->o->cfg;
	long long t0 = clock_mono_ms();
	struct health_check pg, schema, redis;
	char last[ACME_ERR_MSG_MAX] = "";
	int rounds = 0;

	for (;;) {
		long long left = run->deadline - clock_mono_ms();
		rounds++;
		memset(&pg, 0, sizeof(pg));
		memset(&schema, 0, sizeof(schema));
		memset(&redis, 0, sizeof(redis));
		db_close(run->db);
		run->db = NULL;
		rds_close(run->rc);
		run->rc = NULL;
		bool pg_ok = health_postgres(config_get(cfg, CFG_DATABASE_URL), left > 100 ? left : 100,
					     &pg, &run->db) == 0;
		bool schema_ok = pg_ok && health_schema(run->db, cfg, &schema) == 0;
		bool redis_ok = health_redis(config_get(cfg, CFG_REDIS_URL), left > 100 ? left : 100,
					     &redis, &run->rc) == 0;
		if (pg_ok && schema_ok && redis_ok)
			break;
		/* the first failure, as health names it */
		const struct health_check *f = !pg_ok ? &pg : !redis_ok ? &redis : &schema;
		bool named = strncmp(f->detail, f->name, strlen(f->name)) == 0;
		snprintf(last, sizeof(last), "%s%s%s", named ? "" : f->name, named ? "" : ": ", f->detail);
		bool transient = (pg_ok || pg.transient) && (redis_ok || redis.transient) &&
				 (!pg_ok || schema_ok || schema.transient);
		if (!transient) {
			step_done(run, ST_PREFLIGHT, SMOKE_FAIL, t0, "%s", last);
			return -1;
		}
		if (expired(run) || !pause_ms(run, PREFLIGHT_PAUSE_MS) || expired(run)) {
			step_done(run, ST_PREFLIGHT, SMOKE_FAIL, t0, "not ready %s: %s",
				  stopped(run) ? "when interrupted" : "before the deadline", last);
			return -1;
		}
	}
	step_done(run, ST_PREFLIGHT, SMOKE_PASS, t0, "postgresql, redis and the schema are ready "
		  "(%d attempt%s)", rounds, rounds == 1 ? "" : "s");

	t0 = clock_mono_ms();
	step_done(run, ST_SCHEMA, SMOKE_PASS, t0, "version %d, this release's head %d%s%s",
		  schema.current, schema.head, schema.detail[0] ? "; " : "", schema.detail);
	return 0;
}

/* Our connection marks every outbox event it causes; the import is marked by
 * its payload. */
static int mark_session(struct run *run, struct acme_err *err)
{
	PGresult *res = db_exec(run->db, err, "SELECT set_config('acme.smoke', 'on', false), "
				"set_config('application_name', 'acmectl smoke-test', false)", 0, NULL);
	if (!res)
		return -1;
	PQclear(res);
	return queue_init(&run->q, run->rc, run->prefix, err) < 0 ? -1 :
	       (run->queue_ready = true, 0);
}

/* ---- workers ------------------------------------------------------------------------------- */

/* The distinct queues of the built-in job types, in table order. */
static size_t builtin_queues(const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; jobtype_at(i); i++) {
		const char *q = jobtype_at(i)->queue;
		bool seen = false;
		for (size_t k = 0; k < n; k++)
			seen |= strcmp(out[k], q) == 0;
		if (!seen && n < max)
			out[n++] = q;
	}
	return n;
}

static int workers_step(struct run *run)
{
	long long t0 = clock_mono_ms();
	const char *queues[16];
	size_t nq = builtin_queues(queues, 16);
	char why[ACME_ERR_MSG_MAX], done[ACME_ERR_MSG_MAX];

	for (;;) {
		struct acme_err err = { 0 };
		size_t off = 0;
		why[0] = '\0';
		for (size_t i = 0; i < nq && !why[0]; i++) {
			struct jobwait_serving s;
			if (jobwait_serving(run->rc, run->prefix, queues[i], &s, &err) < 0) {
				snprintf(why, sizeof(why), "%s", err.msg);
				break;
			}
			if (s.paused)
				snprintf(why, sizeof(why), "queue %s is paused ('acmectl jobs resume %s')",
					 queues[i], queues[i]);
			else if (s.workers == 0)
				snprintf(why, sizeof(why), "no live worker serves queue %s%s", queues[i],
					 s.others ? " (the live workers serve other queues)" : "");
			else
				off += (size_t)snprintf(done + off, off < sizeof(done) ? sizeof(done) - off : 0,
							"%s%s: %ld", off ? ", " : "", queues[i], s.workers);
		}
		if (!why[0]) {
			step_done(run, ST_WORKERS, SMOKE_PASS, t0, "live workers per queue: %s", done);
			return 0;
		}
		if (expired(run) || !pause_ms(run, 250) || expired(run)) {
			step_done(run, ST_WORKERS, SMOKE_FAIL, t0, "%s%s", why,
				  stopped(run) ? " (interrupted)" : " at the deadline");
			return -1;
		}
	}
}

/* ---- waiting for a job --------------------------------------------------------------------- */

/* Until the job is final: 0 with *job filled (release it), -1 with why. */
static int wait_job(struct run *run, const char *queue, const char *id, struct queue_job *job,
		    char *why, size_t len)
{
	for (;;) {
		struct acme_err err = { 0 };
		queue_job_release(job);
		memset(job, 0, sizeof(*job));
		if (job_load(run->db, &run->q, queue, id, job, &err) < 0 && err.code != ACME_E_NOT_FOUND) {
			snprintf(why, len, "job %s: %s", id, err.msg);
			return -1;
		}
		if (job->known && job_state_is_final(job->state))
			return 0;
		if (expired(run) || !pause_ms(run, WAIT_STEP_MS) || expired(run)) {
			snprintf(why, len, "job %s is still %s %s", id, job->known ?
				 job_state_name(job->state) : "unknown",
				 stopped(run) ? "(interrupted)" : "at the deadline");
			return -1;
		}
	}
}

/* ---- reading back ------------------------------------------------------------------------- */

struct want {
	const char *sku, *name, *description, *price;
	bool active;
};

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Read the product and compare every field: 0, or -1 with why. */
static int check_product(struct run *run, const struct want *w, char *why, size_t len)
{
	struct products_row row;
	struct acme_err err = { 0 };
	memset(&row, 0, sizeof(row));
	if (products_get(run->db, w->sku, &row, &err) < 0) {
		snprintf(why, len, "reading %s back: %s", w->sku, err.msg);
		return -1;
	}
	const char *bad = !same(row.sku, w->sku) ? "sku" : !same(row.name, w->name) ? "name" :
			  !same(row.description, w->description) ? "description" :
			  !same(row.price, w->price) ? "price" : row.active != w->active ? "active" : NULL;
	if (bad)
		snprintf(why, len, "%s read back with the wrong %s (sku \"%s\", name \"%s\", price %s)",
			 w->sku, bad, row.sku ? row.sku : "", row.name ? row.name : "",
			 row.price ? row.price : "null");
	products_row_release(&row);
	return bad ? -1 : 0;
}

static int check_gone(struct run *run, const char *sku, char *why, size_t len)
{
	struct products_row row;
	struct acme_err err = { 0 };
	memset(&row, 0, sizeof(row));
	if (products_get(run->db, sku, &row, &err) == 0) {
		products_row_release(&row);
		snprintf(why, len, "%s still exists after its delete", sku);
		return -1;
	}
	if (err.code != ACME_E_NOT_FOUND) {
		snprintf(why, len, "reading %s: %s", sku, err.msg);
		return -1;
	}
	return 0;
}

static const struct products_actor *actor(const struct run *run)
{
	static struct products_actor who;
	who.environment = run->o->environment ? run->o->environment : "";
	who.command = COMMAND;
	return &who;
}

/* Delete one product if it exists: 1 deleted, 0 none, -1 with err. */
static int delete_sku(struct run *run, const char *sku, struct acme_err *err)
{
	const char *keys[1] = { sku };
	if (products_delete(run->db, keys, 1, actor(run), NULL, NULL, err) == 0)
		return 1;
	return err->code == ACME_E_NOT_FOUND ? 0 : -1;
}

/* ---- import -------------------------------------------------------------------------------- */

static long long result_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? json_integer_value(v) : -1;
}

static int import_step(struct run *run)
{
	long long t0 = clock_mono_ms();
	char why[ACME_ERR_MSG_MAX] = "";
	char csv[1024];
	struct acme_err err = { 0 };
	struct import_params params;
	struct import_submit sub;
	struct queue_job job;
	json_t *res = NULL;
	int fd = -1, rc = -1;

	memset(&params, 0, sizeof(params));
	memset(&sub, 0, sizeof(sub));
	memset(&job, 0, sizeof(job));
	snprintf(run->skus[0], sizeof(run->skus[0]), SMOKE_SKU_HEAD "%s-1", run->r->run_id);
	snprintf(run->skus[1], sizeof(run->skus[1]), SMOKE_SKU_HEAD "%s-2", run->r->run_id);
	/* three lines, two SKUs: the last line of -1 wins; quoting, a comma and
	 * UTF-8 go through the real reader */
	int n = snprintf(csv, sizeof(csv),
			 "sku,name,description,price,active\n"
			 "%s,Smoke test first line,replaced by the last line,1.00,true\n"
			 "%s,\"Smoke test, quoted\",\"caf\xc3\xa9 \xe2\x9c\x93\",12.50,false\n"
			 "%s,Smoke test last line wins,,0.99,true\n",
			 run->skus[0], run->skus[1], run->skus[0]);
	/* the file lives in memory: nothing staged on disk */
	fd = memfd_create("acmectl-smoke.csv", MFD_CLOEXEC);
	if (fd < 0 || write(fd, csv, (size_t)n) != n || lseek(fd, 0, SEEK_SET) != 0) {
		snprintf(why, sizeof(why), "making the CSV in memory: %s", strerror(errno));
		goto out;
	}
	params.smoke = true;
	sub.fd = fd;
	sub.enc = RECODE_UTF8;
	sub.what = "smoke-test.csv";
	sub.params = &params;
	if (import_submit(run->db, run->rc, run->prefix, &sub, &err) < 0) {
		snprintf(why, sizeof(why), "submitting: %s", err.msg);
		goto out;
	}
	run->import_job = xstrdup(sub.job_id);
	run->import_queue = xstrdup(sub.queue);
	if (wait_job(run, sub.queue, sub.job_id, &job, why, sizeof(why)) < 0)
		goto out;
	if (job_outcome(&job, &err) < 0) {
		snprintf(why, sizeof(why), "%s", err.msg);
		goto out;
	}
	res = job.result ? json_loads(job.result, 0, NULL) : NULL;
	long long rows = result_int(res, "rows"), inserted = result_int(res, "inserted"),
		  dups = result_int(res, "duplicates"), rejected = result_int(res, "rejected");
	if (rows != 3 || inserted != 2 || dups != 1 || rejected != 0) {
		snprintf(why, sizeof(why), "job %s counted rows %lld, inserted %lld, duplicates %lld, "
			 "rejected %lld (expected 3, 2, 1, 0)", sub.job_id, rows, inserted, dups, rejected);
		goto out;
	}
	if (FAILPOINT(SMOKE_AFTER_IMPORT, &err) < 0) {
		snprintf(why, sizeof(why), "%s", err.msg);
		goto out;
	}
	if (stopped(run)) {           /* the cleanup removes the rows */
		snprintf(why, sizeof(why), "interrupted after job %s imported its rows", sub.job_id);
		goto out;
	}
	const struct want w[2] = {
		{ run->skus[0], "Smoke test last line wins", NULL, "0.99", true },
		{ run->skus[1], "Smoke test, quoted", "caf\xc3\xa9 \xe2\x9c\x93", "12.50", false },
	};
	for (int i = 0; i < 2; i++)
		if (check_product(run, &w[i], why, sizeof(why)) < 0)
			goto out;
	const char *keys[2] = { run->skus[0], run->skus[1] };
	if (products_delete(run->db, keys, 2, actor(run), NULL, NULL, &err) < 0) {
		snprintf(why, sizeof(why), "deleting the imported rows: %s", err.msg);
		goto out;
	}
	for (int i = 0; i < 2; i++)
		if (check_gone(run, keys[i], why, sizeof(why)) < 0)
			goto out;
	rc = 0;
out:
	if (rc == 0)
		step_done(run, ST_IMPORT, SMOKE_PASS, t0, "job %s imported 3 lines (2 products, 1 "
			  "duplicate), read back and deleted", sub.job_id);
	else
		step_done(run, ST_IMPORT, SMOKE_FAIL, t0, "%s", why);
	json_decref(res);
	queue_job_release(&job);
	import_submit_release(&sub);
	import_params_release(&params);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- products ------------------------------------------------------------------------------ */

static int set_fields(struct products_input *in, const char *const v[5], struct acme_err *err)
{
	static const enum product_field f[5] = { PRODUCT_SKU, PRODUCT_NAME, PRODUCT_DESCRIPTION,
						 PRODUCT_PRICE, PRODUCT_ACTIVE };
	memset(in, 0, sizeof(*in));
	for (int i = 0; i < 5; i++)
		if (v[i] && products_input_set(in, f[i], v[i], strlen(v[i]), err) < 0)
			return -1;
	return 0;
}

static int products_step(struct run *run)
{
	long long t0 = clock_mono_ms();
	char why[ACME_ERR_MSG_MAX] = "";
	struct acme_err err = { 0 };
	struct products_input in;
	int rc = -1;
	const char *sku = run->skus[2];

	snprintf(run->skus[2], sizeof(run->skus[2]), SMOKE_SKU_HEAD "%s-crud", run->r->run_id);
	const char *made[5] = { sku, "Smoke test product", "made by acmectl smoke-test", "3.10", "true" };
	if (set_fields(&in, made, &err) < 0 ||
	    products_create(run->db, &in, 1, false, actor(run), NULL, NULL, &err) < 0) {
		products_input_release(&in);
		snprintf(why, sizeof(why), "creating %s: %s", sku, err.msg);
		goto out;
	}
	products_input_release(&in);
	struct want w = { sku, made[1], made[2], "3.10", true };
	if (check_product(run, &w, why, sizeof(why)) < 0)
		goto out;
	const char *changed[5] = { NULL, "Smoke test product, updated", NULL, "4.20", "false" };
	if (set_fields(&in, changed, &err) < 0 ||
	    products_update(run->db, sku, &in, actor(run), NULL, NULL, &err) < 0) {
		products_input_release(&in);
		snprintf(why, sizeof(why), "updating %s: %s", sku, err.msg);
		goto out;
	}
	products_input_release(&in);
	struct want w2 = { sku, changed[1], made[2], "4.20", false };
	if (check_product(run, &w2, why, sizeof(why)) < 0)
		goto out;
	const char *keys[1] = { sku };
	if (products_delete(run->db, keys, 1, actor(run), NULL, NULL, &err) < 0) {
		snprintf(why, sizeof(why), "deleting %s: %s", sku, err.msg);
		goto out;
	}
	if (check_gone(run, sku, why, sizeof(why)) < 0)
		goto out;
	rc = 0;
out:
	if (rc == 0)
		step_done(run, ST_PRODUCTS, SMOKE_PASS, t0, "%s created, updated and deleted, each read "
			  "back", sku);
	else
		step_done(run, ST_PRODUCTS, SMOKE_FAIL, t0, "%s", why);
	return rc;
}

/* ---- webhook ------------------------------------------------------------------------------- */

static void on_request(void *user, const struct httpd_request *req, struct httpd_response *resp)
{
	struct receiver *rx = user;
	const struct httpreq *h = req->head;
	struct acme_err e = { 0 };
	int ok = whsig_verify(&rx->key, 1, httpreq_header(h, "webhook-id"),
			      httpreq_header(h, "webhook-timestamp"), httpreq_header(h, "webhook-signature"),
			      req->body, req->body_len, req->received_ms / 1000, WHSIG_TOLERANCE_S, &e);
	json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
	const char *id = json_string_value(json_object_get(body, "id"));
	const char *type = json_string_value(json_object_get(body, "type"));

	pthread_mutex_lock(&rx->lock);
	rx->received++;
	if (ok == 0) {
		rx->verified++;
		snprintf(rx->event_id, sizeof(rx->event_id), "%s", id ? id : "");
		snprintf(rx->type, sizeof(rx->type), "%s", type ? type : "");
	} else {
		snprintf(rx->why, sizeof(rx->why), "%s", e.msg);
	}
	pthread_mutex_unlock(&rx->lock);
	json_decref(body);
	resp->status = ok == 0 ? 200 : 401;
}

static void *serve(void *arg)
{
	struct receiver *rx = arg;
	struct acme_err err;
	httpd_run(&rx->h, on_request, rx, &rx->stop, &err);
	return NULL;
}

static int receiver_start(struct receiver *rx, struct acme_err *err)
{
	if (httpd_open(&rx->h, "127.0.0.1", 0, err) < 0)
		return -1;
	rx->h.request_timeout_ms = 10000;
	pthread_mutex_init(&rx->lock, NULL);
	if (pthread_create(&rx->thread, NULL, serve, rx) != 0) {
		httpd_close(&rx->h);
		pthread_mutex_destroy(&rx->lock);
		return acme_err_set(err, ACME_E_FAILURE, "smoke-test: cannot start the receiver thread");
	}
	rx->running = true;
	return 0;
}

static void receiver_stop(struct receiver *rx)
{
	if (!rx->running)
		return;
	rx->stop = 1;
	pthread_join(rx->thread, NULL);
	httpd_close(&rx->h);
	pthread_mutex_destroy(&rx->lock);
	rx->running = false;
}

/* A live worker on this host serves the webhooks queue: only such a worker
 * can reach a receiver on 127.0.0.1 here. */
static int local_deliverer(struct run *run, bool *yes, struct acme_err *err)
{
	char host[256] = "";
	struct worker_list wl;
	*yes = false;
	gethostname(host, sizeof(host) - 1);
	if (workers_list(run->rc, run->prefix, &wl, err) < 0)
		return -1;
	for (size_t i = 0; i < wl.n; i++) {
		const char *h = json_string_value(json_object_get(wl.v[i].rec, "host"));
		if (wl.v[i].rec && h && strcmp(h, host) == 0 && workers_serves(wl.v[i].rec, "webhooks"))
			*yes = true;
	}
	workers_list_release(&wl);
	return 0;
}

static int webhook_step(struct run *run)
{
	long long t0 = clock_mono_ms();
	char why[ACME_ERR_MSG_MAX] = "", url[512], desc[96], secret[WHSIG_SECRET_MAX];
	char event_id[64] = "";
	struct acme_err err = { 0 };
	struct webhook_settings ws;
	struct webhook_delivery d;
	const char *local_url = run->o->webhook_url;
	bool ours = !local_url, here = false;
	int rc = -1;

	memset(&d, 0, sizeof(d));
	if (run->o->skip_webhook) {
		step_done(run, ST_WEBHOOK, SMOKE_SKIP, t0, "--skip-webhook");
		return 0;
	}
	if (ours) {
		if (local_deliverer(run, &here, &err) < 0) {
			snprintf(why, sizeof(why), "%s", err.msg);
			goto out;
		}
		if (!here) {
			step_done(run, ST_WEBHOOK, SMOKE_SKIP, t0, "no worker serving queue webhooks runs "
				  "on this host, so none can reach a receiver on 127.0.0.1 here; give "
				  "--webhook-url with a receiver the workers reach");
			return 0;
		}
		if (receiver_start(&run->rx, &err) < 0) {
			snprintf(why, sizeof(why), "starting the receiver: %s", err.msg);
			goto out;
		}
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/acmectl-smoke-%s", run->rx.h.port,
			 run->r->run_id);
	} else {
		if (webhook_settings_load(run->o->cfg, &ws, &err) < 0 ||
		    webhook_check_url(local_url, webhook_guard_on(&ws, false), &err) < 0) {
			snprintf(why, sizeof(why), "--webhook-url: %s", err.msg);
			goto out;
		}
		snprintf(url, sizeof(url), "%s", local_url);
	}
	if (whsig_secret_new(secret, &err) < 0 ||
	    (ours && whsig_secret_parse(secret, &run->rx.key, NULL, &err) < 0)) {
		snprintf(why, sizeof(why), "%s", err.msg);
		goto out;
	}
	snprintf(desc, sizeof(desc), "acmectl smoke-test %s (temporary)", run->r->run_id);
	const char *events[1] = { WEBHOOK_EVENT_TEST };
	struct webhook_spec spec = {
		.url = url, .events = events, .nevents = 1, .description = desc,
		/* disabled: no real event is ever fanned out to it (a test still is) */
		.enabled = 0,
		/* our own receiver on loopback, which the guard would refuse */
		.allow_private = ours ? 1 : -1,
		.secret = secret,
	};
	struct webhook_actor who = { actor(run)->environment, COMMAND };
	if (webhook_add(run->db, &who, &spec, &run->webhook_id, &err) < 0) {
		snprintf(why, sizeof(why), "adding the temporary endpoint: %s", err.msg);
		goto out;
	}
	if (webhook_test(run->db, run->webhook_id, event_id, &err) < 0) {
		snprintf(why, sizeof(why), "sending the test event: %s", err.msg);
		goto out;
	}
	for (;;) {
		webhook_delivery_release(&d);
		memset(&d, 0, sizeof(d));
		int got = webhook_find_test(run->db, run->webhook_id, event_id, &d, &err);
		if (got < 0 && err.code != ACME_E_NOT_FOUND) {
			snprintf(why, sizeof(why), "%s", err.msg);
			goto out;
		}
		if (got == 0 && d.state == DELIVERY_SUCCEEDED)
			break;
		if (got == 0 && d.attempts > 0 && d.state != DELIVERY_DELIVERING) {
			if (d.last_status_code)
				snprintf(why, sizeof(why), "delivery of %s to %s: the receiver answered %d",
					 event_id, url, d.last_status_code);
			else
				snprintf(why, sizeof(why), "delivery of %s to %s failed: %s", event_id, url,
					 d.last_error ? d.last_error : d.status);
			goto out;
		}
		if (expired(run) || !pause_ms(run, WAIT_STEP_MS) || expired(run)) {
			snprintf(why, sizeof(why), "no delivery of %s %s (%s)", event_id,
				 stopped(run) ? "before the interrupt" : "before the deadline",
				 got < 0 && !d.relayed ? "the event was not relayed from the outbox yet" :
				 got < 0 ? "no delivery row yet" : d.status);
			goto out;
		}
	}
	if (ours) {
		pthread_mutex_lock(&run->rx.lock);
		bool good = run->rx.verified > 0 && strcmp(run->rx.event_id, event_id) == 0 &&
			    strcmp(run->rx.type, WEBHOOK_EVENT_TEST) == 0;
		if (!good)
			snprintf(why, sizeof(why), "the receiver got %d request%s, %d with a valid signature%s%s",
				 run->rx.received, run->rx.received == 1 ? "" : "s", run->rx.verified,
				 run->rx.why[0] ? ": " : "", run->rx.why);
		pthread_mutex_unlock(&run->rx.lock);
		if (!good)
			goto out;
	}
	rc = 0;
out:
	if (rc == 0)
		step_done(run, ST_WEBHOOK, SMOKE_PASS, t0, "%s delivered to %s in %d ms%s", event_id, url,
			  d.last_latency_ms, ours ? ", signature verified" : ", answered 2xx");
	else
		step_done(run, ST_WEBHOOK, SMOKE_FAIL, t0, "%s", why);
	webhook_delivery_release(&d);
	return rc;
}

/* ---- cleanup ------------------------------------------------------------------------------- */

static void cleanup(struct run *run)
{
	struct smoke_result *r = run->r;
	struct acme_err err = { 0 };
	int removed = 0;
	char fail[ACME_ERR_MSG_MAX] = "";

	receiver_stop(&run->rx);
	if (!run->db || !run->queue_ready)
		goto out;
	/* cleanup has a deadline of its own: the run's may have passed */
	run->deadline = clock_mono_ms() + CLEANUP_CANCEL_MS;
	const volatile sig_atomic_t *stop = run->stop;
	run->stop = NULL;
	if (run->import_job) {
		struct queue_job job;
		memset(&job, 0, sizeof(job));
		if (job_load(run->db, &run->q, run->import_queue, run->import_job, &job, &err) == 0 &&
		    job.known && !job_state_is_final(job.state)) {
			struct audit_actor who = { actor(run)->environment, COMMAND };
			if (job_cancel(run->db, &run->q, run->import_job, &who, NULL, &err) < 0 ||
			    wait_job(run, run->import_queue, run->import_job, &job, fail, sizeof(fail)) < 0) {
				if (!fail[0])
					snprintf(fail, sizeof(fail), "cancelling import %s: %s", run->import_job,
						 err.msg);
			}
		}
		queue_job_release(&job);
	}
	for (int i = 0; i < 3 && !fail[0]; i++) {
		if (!run->skus[i][0])
			continue;
		int d = delete_sku(run, run->skus[i], &err);
		if (d < 0)
			snprintf(fail, sizeof(fail), "deleting %s: %s", run->skus[i], err.msg);
		removed += d > 0;
	}
	if (run->webhook_id && !fail[0]) {
		struct webhook_actor who = { actor(run)->environment, COMMAND };
		if (webhook_delete(run->db, &who, run->webhook_id, &err) < 0 && err.code != ACME_E_NOT_FOUND)
			snprintf(fail, sizeof(fail), "deleting endpoint %lld: %s", run->webhook_id, err.msg);
		else
			removed++;
	}
	run->stop = stop;
out:
	if (fail[0]) {
		r->cleanup_failed = true;
		snprintf(r->cleanup, sizeof(r->cleanup), "failed: %s (find what is left with "
			 "'acmectl products list --sku %s%s' and 'acmectl webhooks list')", fail,
			 SMOKE_SKU_HEAD, r->run_id);
	} else {
		snprintf(r->cleanup, sizeof(r->cleanup), "%d item%s removed", removed,
			 removed == 1 ? "" : "s");
	}
}

/* ---- the run ------------------------------------------------------------------------------- */

enum smoke_verdict smoke_run(const struct smoke_opts *o, struct smoke_result *r)
{
	struct run run;
	unsigned char rnd[SMOKE_RUN_ID_LEN / 2];
	long long t0 = clock_mono_ms();
	struct acme_err err = { 0 };

	memset(r, 0, sizeof(*r));
	memset(&run, 0, sizeof(run));
	run.o = o;
	run.r = r;
	run.prefix = config_get(o->cfg, CFG_REDIS_PREFIX);
	run.stop = o->stop;
	run.deadline = t0 + (o->timeout_ms > 0 ? o->timeout_ms : 120000);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(r->run_id + 2 * i, 3, "%02x", rnd[i]);
	for (int i = 0; i < SMOKE_STEPS; i++) {
		r->steps[i].name = step_names[i];
		r->steps[i].status = SMOKE_NOT_RUN;
	}

	if (preflight(&run) < 0) {
		r->verdict = stopped(&run) ? SMOKE_INTERRUPTED : SMOKE_UNAVAILABLE;
		goto out;
	}
	if (mark_session(&run, &err) < 0) {
		snprintf(r->steps[ST_SCHEMA].detail, sizeof(r->steps[ST_SCHEMA].detail), "%s", err.msg);
		r->verdict = SMOKE_UNAVAILABLE;
		goto out;
	}
	int (*const steps[])(struct run *) = { workers_step, import_step, products_step, webhook_step };
	r->verdict = SMOKE_OK;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (stopped(&run))
			break;
		if (steps[i](&run) < 0) {
			r->verdict = SMOKE_FAILED;
			break;
		}
	}
	cleanup(&run);
	if (r->cleanup_failed)
		r->verdict = SMOKE_FAILED;
	if (stopped(&run))
		r->verdict = SMOKE_INTERRUPTED;
out:
	if (run.queue_ready)
		queue_release(&run.q);
	free(run.import_job);
	free(run.import_queue);
	db_close(run.db);
	rds_close(run.rc);
	r->duration_ms = clock_mono_ms() - t0;
	return r->verdict;
}
