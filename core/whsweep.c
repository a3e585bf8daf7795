/* whsweep.c — the periodic sweep that keeps webhook deliveries moving
 * (DESIGN.md section 6, issue 10): the job type `webhook.sweep`, fired every
 * minute by the scheduler's built-in `webhook-sweep` schedule, and the same
 * sweep inside `housekeeping`.
 *
 * Deliveries move only while a deliverer (`webhook.deliver`, whdeliver.c)
 * runs, and deliverers are started by events: a dispatch wakes one, and a
 * deliverer that ends hands over to a delayed one for the next retry. Two
 * things break that chain, and nothing else would mend it:
 *
 *   - a deliverer that dies between claiming and recording (kill -9, a
 *     crash, the OOM killer, a lost connection) leaves its deliveries
 *     'delivering' under a claim that expires after the request timeout
 *     plus a margin. A running deliverer makes expired claims due again,
 *     but when none runs, none does;
 *   - a wake-up or a hand-over that fails (Redis away for a moment, a worker
 *     killed in between) leaves due deliveries with no deliverer queued.
 *
 * The sweep works from PostgreSQL, the truth: it makes expired claims due
 * again (webhook_recover_claims(), which the deliverer uses too), then wakes
 * a deliverer when anything is due. It never touches a claim that has not
 * expired: that request may still be in flight, and sending it now would
 * send it twice. The attempt a dead deliverer made is counted once: the
 * claim counted it, recovery keeps the count, and the next claim counts the
 * new attempt. Recovery is one UPDATE per sweep, so two sweeps, or a sweep
 * and a deliverer, recovering at once change each row once.
 *
 * The wake-up's job id is derived from the sweep's own job id, so a sweep
 * that is retried wakes the same job (job_enqueue() is idempotent by id). A
 * wake-up that arrives while a deliverer runs is taken and absorbed by it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/log.h"
#include "core/webhook.h"
#include "core/whdeliver.h"
#include "core/xalloc.h"

int webhook_recover_claims(PGconn *db, const struct webhook_settings *s, long long *retried,
			   long long *given_up, struct acme_err *err)
{
	char n[16];
	snprintf(n, sizeof(n), "%d", s->nretries);
	const char *params[1] = { n };
	PGresult *res = db_exec(db, err,
		"UPDATE webhook_deliveries SET status = CASE WHEN attempts > $1::int "
		" OR event_type = 'webhook.test' THEN 'failed' ELSE 'retrying' END,"
		" next_attempt_at = CASE WHEN attempts > $1::int OR event_type = 'webhook.test' THEN NULL"
		" ELSE now() END, last_error = 'attempt ' || attempts || ' was interrupted (the "
		"deliverer stopped before it recorded the outcome)', updated_at = now()"
		" WHERE status = 'delivering' AND next_attempt_at <= now() RETURNING status", 1, params);
	if (!res)
		return -1;
	long long again = 0, failed = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		enum delivery_status st = DELIVERY_RETRYING;
		delivery_status_parse(PQgetvalue(res, i, 0), &st);
		if (st == DELIVERY_FAILED)
			failed++;
		else
			again++;
	}
	PQclear(res);
	if (again && failed)
		log_warn("webhooks: %lld deliveries were interrupted (their deliverer stopped); sending "
			 "%lld of them again, %lld had no attempt left and failed", again + failed, again,
			 failed);
	else if (again)
		log_warn("webhooks: %lld deliveries were interrupted (their deliverer stopped); sending "
			 "them again", again);
	else if (failed)
		log_warn("webhooks: %lld deliveries were interrupted (their deliverer stopped) and had "
			 "no attempt left; they failed", failed);
	if (retried)
		*retried = again;
	if (given_up)
		*given_up = failed;
	return 0;
}

int webhook_sweep(PGconn *db, struct queue *q, const struct webhook_settings *s,
		  const char *wake_id, struct webhook_sweep_result *out, struct acme_err *err)
{
	memset(out, 0, sizeof(*out));
	if (webhook_recover_claims(db, s, &out->recovered, &out->given_up, err) < 0)
		return acme_err_prefix(err, "webhook sweep: expired claims");
	/* due now, as the deliverer's claim sees them (webhook_deliveries_due_idx) */
	PGresult *res = db_exec(db, err,
		"SELECT count(*) FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
		" WHERE d.status IN ('pending', 'retrying') AND d.next_attempt_at <= now()"
		" AND (w.enabled OR d.event_type = 'webhook.test')", 0, NULL);
	if (!res)
		return acme_err_prefix(err, "webhook sweep: due deliveries");
	out->due = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (out->due == 0)
		return 0;
	if (!q)
		return acme_err_set(err, ACME_E_UNAVAILABLE, "webhook sweep: %lld deliveries are due, "
				    "but there is no Redis connection to wake a deliverer", out->due);
	if (webhook_wake(db, q, wake_id, 0, err) < 0)
		return acme_err_prefix(err, "webhook sweep: waking a deliverer");
	out->woken = true;
	log_debug("webhooks: sweep: %lld deliveries due; deliverer %s woken", out->due,
		  wake_id ? wake_id : "(new)");
	return 0;
}

/* "whd-<job id>", or "whd-<hash of the job id>" when that would be too long:
 * never a truncated id, which two sweeps could share. */
static void wake_id_of(const char *job_id, char out[QUEUE_ID_MAX + 1])
{
	if (strlen(job_id) + 4 <= QUEUE_ID_MAX) {
		snprintf(out, QUEUE_ID_MAX + 1, "whd-%s", job_id);
		return;
	}
	unsigned long long h = 14695981039346656037ULL;     /* FNV-1a, 64 bits */
	for (const unsigned char *c = (const unsigned char *)job_id; *c; c++)
		h = (h ^ *c) * 1099511628211ULL;
	snprintf(out, QUEUE_ID_MAX + 1, "whd-sweep-%016llx", h);
}

int webhook_sweep_job(struct job_run *run, json_t **result, struct acme_err *err)
{
	struct webhook_settings s;
	struct webhook_sweep_result r;
	char wake[QUEUE_ID_MAX + 1];

	*result = NULL;
	if (!run->db) {
		run->permanent = true;
		return acme_err_set(err, ACME_E_USAGE, "the webhook sweep needs PostgreSQL");
	}
	/* the retry schedule decides which interrupted deliveries may go again */
	if (!config_current()) {
		run->permanent = true;
		return acme_err_set(err, ACME_E_CONFIG, "the webhook sweep: no configuration loaded");
	}
	if (webhook_settings_load(config_current(), &s, err) < 0) {
		run->permanent = true;
		return -1;
	}
	wake_id_of(run->job->id, wake);
	if (webhook_sweep(run->db, run->queue, &s, wake, &r, err) < 0)
		return -1;
	*result = json_pack("{s:I, s:I, s:I, s:b}", "recovered", (json_int_t)r.recovered,
			    "given_up", (json_int_t)r.given_up, "due", (json_int_t)r.due, "woken",
			    r.woken);
	return 0;
}

int webhook_sweep_run(struct job_run *run, struct acme_err *err)
{
	if (json_object_size(run->payload) != 0) {
		run->permanent = true;
		return acme_err_set(err, ACME_E_DATA, "webhook.sweep takes no payload keys");
	}
	return webhook_sweep_job(run, &run->result, err);
}
