/* scheduler.c — leader-elected periodic enqueueing; see scheduler.h. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/failpoint.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/log.h"
#include "core/rds.h"
#include "core/scheduler.h"
#include "core/xalloc.h"

struct scheduler {
	struct schedule *sched;
	size_t n;
	time_t *claimed_upto;     /* per schedule: ticks up to here are handled */
	char *prefix;
	char *me;                 /* host:pid:random, our lease value */
	bool leader;
	char *created_by;
};

/* ---- loading -------------------------------------------------------------------- */

static void schedule_release(struct schedule *s)
{
	free(s->name);
	free(s->expr);
	free(s->type);
	free(s->queue);
	free(s->payload);
	free(s->origin);
}

void schedules_free(struct schedule *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		schedule_release(&s[i]);
	free(s);
}

static struct schedule *find_or_add(struct schedule **arr, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*arr)[i].name, name) == 0)
			return &(*arr)[i];
	*arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
	struct schedule *s = &(*arr)[(*n)++];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	return s;
}

static int finish_schedule(struct schedule *s, struct acme_err *err)
{
	const char *what = s->origin ? s->origin : s->name;
	if (!s->expr)
		return acme_err_set(err, ACME_E_CONFIG, "%s: [schedule.%s] needs \"cron\" or \"every\"",
				    what, s->name);
	if (!s->type)
		return acme_err_set(err, ACME_E_CONFIG, "%s: [schedule.%s] needs \"type\" (a job type)",
				    what, s->name);
	const struct jobtype *jt = jobtype_find(s->type);
	if (!jt)
		return acme_err_set(err, ACME_E_CONFIG, "%s: [schedule.%s]: unknown job type \"%s\"",
				    what, s->name, s->type);
	if (!s->queue)
		s->queue = xstrdup(jt->queue);
	if (queue_check_name("queue", s->queue, err) < 0)
		return acme_err_prefix(err, "%s: [schedule.%s]", what, s->name);
	if (!s->payload)
		s->payload = xstrdup("{}");
	json_t *p = json_loads(s->payload, 0, NULL);
	bool ok = json_is_object(p);
	json_decref(p);
	if (!ok)
		return acme_err_set(err, ACME_E_CONFIG, "%s: [schedule.%s]: payload must be a JSON object",
				    what, s->name);
	return 0;
}

/* The built-in schedules, each unless the config file has a section of its
 * name: housekeeping, and the webhook sweep (core/whsweep.c) that resumes
 * deliveries whose deliverer died or whose wake-up was lost. */
static const struct { const char *name, *every, *type; } builtins[] = {
	{ "housekeeping", "1h", "housekeeping" },
	{ "webhook-sweep", "1m", "webhook.sweep" },
};

static int add_builtins(struct schedule **arr, size_t *cnt, struct acme_err *err)
{
	for (size_t b = 0; b < sizeof(builtins) / sizeof(builtins[0]); b++) {
		bool have = false;
		for (size_t i = 0; i < *cnt; i++)
			have |= strcmp((*arr)[i].name, builtins[b].name) == 0;
		if (have || !jobtype_find(builtins[b].type))
			continue;
		struct schedule *s = find_or_add(arr, cnt, builtins[b].name);
		if (interval_parse(builtins[b].every, &s->spec, err) < 0)
			return -1;
		s->expr = xasprintf("every %s", builtins[b].every);
		s->type = xstrdup(builtins[b].type);
		s->builtin = true;
		s->origin = xstrdup("built-in");
		if (finish_schedule(s, err) < 0)
			return -1;
	}
	return 0;
}

int schedules_load(const struct config *cfg, struct schedule **out, size_t *n,
		   struct acme_err *err)
{
	struct schedule *arr = NULL;
	size_t cnt = 0;

	for (size_t i = 0; i < config_extra_count(cfg); i++) {
		const struct config_entry *e = config_extra(cfg, i);
		if (strncmp(e->section, "schedule.", 9) != 0)
			continue;
		const char *name = e->section + 9;
		if (queue_check_name("schedule", name, err) < 0)
			goto fail_at;
		struct schedule *s = find_or_add(&arr, &cnt, name);
		if (!s->origin)
			s->origin = xasprintf("%s:%d", e->file, e->line);
		if (strcmp(e->key, "cron") == 0 || strcmp(e->key, "every") == 0) {
			if (s->expr) {
				acme_err_set(err, ACME_E_CONFIG, "schedule has both cron and every");
				goto fail_at;
			}
			int r = strcmp(e->key, "cron") == 0 ? cron_parse(e->value, &s->spec, err)
							    : interval_parse(e->value, &s->spec, err);
			if (r < 0)
				goto fail_at;
			s->expr = xasprintf("%s %s", e->key, e->value);
		} else if (strcmp(e->key, "type") == 0) {
			free(s->type);
			s->type = xstrdup(e->value);
		} else if (strcmp(e->key, "queue") == 0) {
			free(s->queue);
			s->queue = xstrdup(e->value);
		} else if (strcmp(e->key, "payload") == 0) {
			free(s->payload);
			s->payload = xstrdup(e->value);
		} else if (strcmp(e->key, "max_attempts") == 0) {
			char *end;
			long v = strtol(e->value, &end, 10);
			if (*end || v < 1 || v > 100) {
				acme_err_set(err, ACME_E_CONFIG, "max_attempts must be 1-100");
				goto fail_at;
			}
			s->max_attempts = (int)v;
		} else {
			acme_err_set(err, ACME_E_CONFIG, "unknown key \"%s\" (expected cron, every, type, "
				     "queue, payload, max_attempts)", e->key);
			goto fail_at;
		}
		continue;
fail_at:
		acme_err_prefix(err, "%s:%d: [%s]", e->file, e->line, e->section);
		goto fail;
	}
	for (size_t i = 0; i < cnt; i++)
		if (finish_schedule(&arr[i], err) < 0)
			goto fail;

	if (add_builtins(&arr, &cnt, err) < 0)
		goto fail;
	*out = arr;
	*n = cnt;
	return 0;
fail:
	schedules_free(arr, cnt);
	return -1;
}

/* ---- running ---------------------------------------------------------------------- */

int scheduler_new(const struct config *cfg, struct scheduler **out, struct acme_err *err)
{
	struct scheduler *s = xcalloc(1, sizeof(*s));
	char host[256], tok[QUEUE_TOKEN_LEN + 1];
	if (schedules_load(cfg, &s->sched, &s->n, err) < 0 || queue_new_token(tok, err) < 0) {
		free(s);
		return -1;
	}
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	s->claimed_upto = xcalloc(s->n ? s->n : 1, sizeof(time_t));
	s->prefix = xstrdup(config_get(cfg, CFG_REDIS_PREFIX));
	s->me = xasprintf("%s:%d:%s", host, (int)getpid(), tok);
	s->created_by = job_created_by();
	*out = s;
	return 0;
}

void scheduler_free(struct scheduler *s)
{
	schedules_free(s->sched, s->n);
	free(s->claimed_upto);
	free(s->prefix);
	free(s->me);
	free(s->created_by);
	free(s);
}

bool scheduler_is_leader(const struct scheduler *s)
{
	return s->leader;
}

static const char LEASE_LUA[] =
	"local cur = redis.call('GET', KEYS[1]) "
	"if cur == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end "
	"if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end "
	"return 0";
static const char RESIGN_LUA[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
	"return 0";

static int hold_lease(struct scheduler *s, redisContext *rc, struct acme_err *err)
{
	char key[256];
	snprintf(key, sizeof(key), "%sscheduler:leader", s->prefix);
	redisReply *r = redisCommand(rc, "EVAL %s 1 %s %s %d", LEASE_LUA, key, s->me,
				     SCHEDULER_LEASE_MS);
	if (!r || r->type != REDIS_REPLY_INTEGER) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "redis: %s",
			     r && r->type == REDIS_REPLY_ERROR ? r->str : rc->errstr);
		rds_note_reply(rc, r);       /* a primary turned replica: reconnect */
		if (r)
			freeReplyObject(r);
		s->leader = false;
		return -1;
	}
	bool was = s->leader;
	s->leader = r->integer == 1;
	freeReplyObject(r);
	if (s->leader && !was)
		log_info("scheduler: this worker is the leader (%zu schedules)", s->n);
	else if (!s->leader && was)
		log_warn("scheduler: leadership lost");
	return 0;
}

/* Fire one tick. The job id is derived from the schedule and the tick, and
 * enqueueing is idempotent by id, so however many schedulers fire the same
 * tick (a paused ex-leader, a handover) it becomes one job. The tick key is
 * set only after the job is recorded: a scheduler that dies in between
 * leaves the tick to the next leader instead of losing it. */
static int fire(struct scheduler *s, struct schedule *sc, time_t tick, redisContext *rc,
		PGconn *db, struct queue *q, struct acme_err *err)
{
	char key[512], job_id[QUEUE_ID_MAX + 1], last_key[512];
	snprintf(key, sizeof(key), "%sscheduler:tick:%s:%lld", s->prefix, sc->name, (long long)tick);
	redisReply *r = redisCommand(rc, "EXISTS %s", key);
	if (!r || r->type != REDIS_REPLY_INTEGER) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "redis: %s",
			     r && r->type == REDIS_REPLY_ERROR ? r->str : rc->errstr);
		if (r)
			freeReplyObject(r);
		return -1;
	}
	bool fired = r->integer == 1;
	freeReplyObject(r);
	if (fired)
		return 0;        /* someone fired it already */
	char tail[24];
	snprintf(tail, sizeof(tail), "-%lld", (long long)tick);
	queue_derive_id(job_id, "sched-", sc->name, tail);   /* never cut: see queue.h */
	struct queue_spec spec = { 0 };
	spec.id = job_id;
	spec.type = sc->type;
	spec.queue = sc->queue;
	spec.payload = sc->payload;
	spec.max_attempts = sc->max_attempts;
	bool existed = false;
	if (jobtype_fill_spec(&spec, err) < 0 ||
	    job_enqueue(db, q, &spec, s->created_by, NULL, &existed, err) < 0)
		return acme_err_prefix(err, "schedule %s", sc->name);
	if (FAILPOINT(SCHEDULER_AFTER_ENQUEUE, err) < 0)
		return acme_err_prefix(err, "schedule %s", sc->name);
	snprintf(last_key, sizeof(last_key), "%sscheduler:last:%s", s->prefix, sc->name);
	r = redisCommand(rc, "SET %s %s EX %d", key, s->me, 7 * 86400);
	if (r)
		freeReplyObject(r);
	r = redisCommand(rc, "SET %s %lld", last_key, (long long)tick);
	if (r)
		freeReplyObject(r);
	if (!existed)
		log_info("scheduler: %s fired (job %s)", sc->name, job_id);
	return 0;
}

/* Where a new leader starts for schedule i: after the last tick anyone fired
 * (but not more than the grace period back), or now when it never fired. */
static int start_point(struct scheduler *s, size_t i, redisContext *rc, time_t now,
		       struct acme_err *err)
{
	char key[512];
	snprintf(key, sizeof(key), "%sscheduler:last:%s", s->prefix, s->sched[i].name);
	redisReply *r = redisCommand(rc, "GET %s", key);
	if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "redis: %s",
			     r && r->type == REDIS_REPLY_ERROR ? r->str : rc->errstr);
		if (r)
			freeReplyObject(r);
		return -1;
	}
	time_t last = r->type == REDIS_REPLY_STRING ? (time_t)strtoll(r->str, NULL, 10) : 0;
	freeReplyObject(r);
	time_t from = last > 0 ? last : now - 1;
	if (from < now - SCHEDULER_GRACE_S)
		from = now - SCHEDULER_GRACE_S;
	if (s->claimed_upto[i] < from)
		s->claimed_upto[i] = from;
	return 0;
}

int scheduler_tick(struct scheduler *s, redisContext *rc, PGconn *db, struct queue *q,
		   struct acme_err *err)
{
	bool was = s->leader;
	if (hold_lease(s, rc, err) < 0)
		return -1;
	if (!s->leader)
		return 0;
	time_t now = time(NULL);
	for (size_t i = 0; i < s->n; i++) {
		struct schedule *sc = &s->sched[i];
		if (!was && start_point(s, i, rc, now, err) < 0) {
			s->leader = false;      /* try again as a new leader next time */
			return -1;
		}
		time_t from = now - SCHEDULER_GRACE_S;
		if (s->claimed_upto[i] > from)
			from = s->claimed_upto[i];
		for (time_t t = schedule_next(&sc->spec, from); t != (time_t)-1 && t <= now;
		     t = schedule_next(&sc->spec, t)) {
			if (fire(s, sc, t, rc, db, q, err) < 0)
				return -1;
			s->claimed_upto[i] = t;
		}
	}
	return 0;
}

void scheduler_resign(struct scheduler *s, redisContext *rc)
{
	char key[256];
	if (!s->leader)
		return;
	snprintf(key, sizeof(key), "%sscheduler:leader", s->prefix);
	redisReply *r = redisCommand(rc, "EVAL %s 1 %s %s", RESIGN_LUA, key, s->me);
	if (r)
		freeReplyObject(r);
	s->leader = false;
}
