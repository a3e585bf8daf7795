/* workers.c — heartbeat records of the workers (see workers.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/call.h"
#include "core/clock.h"
#include "core/rds.h"
#include "core/strbuf.h"
#include "core/version.h"
#include "core/workers.h"
#include "core/xalloc.h"

#define SCAN_MAX_CALLS 10000    /* bounds a SCAN over a huge keyspace */

char *workers_key(const char *prefix, const char *host, int pid)
{
	return xasprintf("%sworker:%s:%d", prefix ? prefix : "", host, pid);
}

json_t *workers_pool_json(const char *name, const char *const *queues, size_t nqueues, int size)
{
	json_t *qs = json_array();
	for (size_t j = 0; j < nqueues; j++)
		json_array_append_new(qs, json_string(queues[j]));
	return json_pack("{s:s, s:o, s:i}", "name", name, "queues", qs, "size", size);
}

json_t *workers_job_json(const char *job_id, const char *type, const char *queue, int pid,
			 const char *pool, long long started_ms)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:I}", "job_id", job_id, "type", type,
			 "queue", queue, "pid", pid, "pool", pool, "started_ms",
			 (json_int_t)started_ms);
}

int workers_publish(redisContext *c, const char *key, const struct worker_state *st, int ttl_s,
		    struct acme_err *err)
{
	json_t *doc = json_pack("{s:s, s:i, s:s, s:o, s:o, s:I, s:I, s:I, s:b, s:b, s:i, s:i}",
		"host", st->host, "pid", st->pid, "version", acme_version(),
		"pools", st->pools, "current_jobs", st->current_jobs, "rss_kb", (json_int_t)st->rss_kb,
		"started_ms", (json_int_t)st->started_ms, "updated_ms", (json_int_t)clock_wall_ms(),
		"beat", st->beat, "leader", st->leader, "children", st->children,
		"jobs_done", st->jobs_done);
	char *text = json_dumps(doc, JSON_COMPACT);
	char ttl[16];
	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	json_decref(doc);
	const char *argv[] = { "SET", key, text, "EX", ttl };
	redisReply *r = rds_command(c, err, 5, argv, NULL);
	free(text);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}

void workers_unpublish(redisContext *c, const char *key)
{
	struct acme_err ignored;
	const char *argv[] = { "DEL", key };
	redisReply *r = rds_command(c, &ignored, 2, argv, NULL);
	if (r)
		freeReplyObject(r);
}

char *workers_pattern(const char *prefix)
{
	struct strbuf sb = STRBUF_INIT;
	for (const char *p = prefix ? prefix : ""; *p; p++) {
		if (strchr("*?[]\\", *p))
			strbuf_addch(&sb, '\\');
		strbuf_addch(&sb, *p);
	}
	strbuf_adds(&sb, "worker:*");
	return strbuf_detach(&sb, NULL);
}

/* Every record with its TTL in one round trip: [value1, pttl1, ...]; a key
 * that is not a string reads as "". */
static const char read_script[] =
	"local out = {}\n"
	"for i, k in ipairs(KEYS) do\n"
	"  local ok, v = pcall(redis.call, 'GET', k)\n"
	"  if not ok or not v then v = '' end\n"
	"  out[2 * i - 1] = v\n"
	"  out[2 * i] = redis.call('PTTL', k)\n"
	"end\n"
	"return out\n";

static long left_ms(const struct workers_call *w)
{
	if (!w->deadline)
		return 0;
	long long left = w->deadline - clock_mono_ms();
	return left > 0 ? (long)left : 1;
}

static int send_scan(struct workers_call *w)
{
	const char *argv[] = { "SCAN", w->cursor, "MATCH", w->pattern, "COUNT", "1000" };
	return rdscall_start(w->rc, w->c, 6, argv, NULL, left_ms(w), &w->err);
}

static int send_read(struct workers_call *w)
{
	char nk[24];
	const char **argv = xcalloc(w->nkeys + 3, sizeof(char *));
	snprintf(nk, sizeof(nk), "%zu", w->nkeys);
	argv[0] = "EVAL";
	argv[1] = read_script;
	argv[2] = nk;
	for (size_t i = 0; i < w->nkeys; i++)
		argv[3 + i] = w->keys[i];
	int rc = rdscall_start(w->rc, w->c, (int)w->nkeys + 3, argv, NULL, left_ms(w), &w->err);
	free(argv);
	return rc;
}

int workers_list_start(struct workers_call *w, redisContext *c, const char *prefix,
		       long deadline_ms, struct acme_err *err)
{
	memset(w, 0, sizeof(*w));
	w->c = c;
	w->rc = xcalloc(1, sizeof(*w->rc));
	w->pattern = workers_pattern(prefix);
	w->deadline_ms = deadline_ms;
	w->deadline = deadline_ms > 0 ? clock_mono_ms() + deadline_ms : 0;
	snprintf(w->cursor, sizeof(w->cursor), "0");
	if (send_scan(w) < 0) {
		*err = w->err;
		w->phase = -1;
		return -1;
	}
	return 0;
}

int workers_call_fd(const struct workers_call *w)
{
	return w->phase == 0 || w->phase == 1 ? rdscall_fd(w->rc) : -1;
}

short workers_call_events(const struct workers_call *w)
{
	return rdscall_events(w->rc);
}

int workers_call_wait_ms(const struct workers_call *w)
{
	return w->phase == 0 || w->phase == 1 ? rdscall_wait_ms(w->rc) : 0;
}

int workers_call_step(struct workers_call *w)
{
	while (w->phase == 0 || w->phase == 1) {
		int s = rdscall_step(w->rc);
		if (s == 0)
			return 0;
		redisReply *r = rdscall_finish(w->rc, &w->err);
		if (!r) {
			w->phase = -1;
			return -1;
		}
		if (w->phase == 1) {
			w->records = r;
			w->phase = 2;
			return 1;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING) {
			freeReplyObject(r);
			acme_err_set(&w->err, ACME_E_FAILURE, "redis: unexpected answer to SCAN");
			w->phase = -1;
			return -1;
		}
		snprintf(w->cursor, sizeof(w->cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			w->keys = xrealloc(w->keys, (w->nkeys + 1) * sizeof(char *));
			w->keys[w->nkeys++] = xstrdup(r->element[1]->element[i]->str);
		}
		freeReplyObject(r);
		bool more = strcmp(w->cursor, "0") != 0 && ++w->scans < SCAN_MAX_CALLS;
		if (!more && w->nkeys == 0) {
			w->phase = 2;
			return 1;
		}
		if (!more)
			w->phase = 1;
		if ((more ? send_scan(w) : send_read(w)) < 0) {
			w->phase = -1;
			return -1;
		}
	}
	return w->phase == 2 ? 1 : -1;
}

int workers_list_finish(struct workers_call *w, struct worker_list *out, struct acme_err *err)
{
	int rc = -1;
	memset(out, 0, sizeof(*out));
	if (w->phase == 0 || w->phase == 1) {
		rdscall_finish(w->rc, &w->err);   /* abandoned: the context is failed */
		*err = w->err;
	} else if (w->phase < 0) {
		*err = w->err;
	} else {
		redisReply *r = w->records;
		if (r && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 * w->nkeys)) {
			acme_err_set(err, ACME_E_FAILURE, "redis: unexpected answer reading the "
				     "heartbeat records");
		} else {
			out->v = xcalloc(w->nkeys ? w->nkeys : 1, sizeof(*out->v));
			for (size_t i = 0; i < w->nkeys; i++) {
				redisReply *v = r->element[2 * i], *t = r->element[2 * i + 1];
				long long ttl = t->type == REDIS_REPLY_INTEGER ? t->integer : -2;
				if (ttl == -1) {
					out->stale++;      /* the key exists, without a TTL */
					continue;
				}
				if (ttl <= 0)
					continue;
				struct worker_record *wr = &out->v[out->n++];
				wr->key = xstrdup(w->keys[i]);
				wr->ttl_ms = ttl;
				wr->rec = v->type == REDIS_REPLY_STRING && v->len ?
					  json_loads(v->str, 0, NULL) : NULL;
				if (wr->rec && !json_is_object(wr->rec)) {
					json_decref(wr->rec);
					wr->rec = NULL;
				}
			}
			rc = 0;
		}
	}
	if (w->records)
		freeReplyObject(w->records);
	for (size_t i = 0; i < w->nkeys; i++)
		free(w->keys[i]);
	free(w->keys);
	free(w->pattern);
	free(w->rc);
	memset(w, 0, sizeof(*w));
	return rc;
}

/* The blocking form: the same calls, waited for, each within the
 * connection's command timeout (as rds_command() waits). */
int workers_list(redisContext *c, const char *prefix, struct worker_list *out,
		 struct acme_err *err)
{
	struct workers_call w;
	int wait = c->timeout ? (int)(c->timeout->tv_sec * 1000 + c->timeout->tv_usec / 1000) : 0;
	if (workers_list_start(&w, c, prefix, 0, err) < 0) {
		struct worker_list none;
		workers_list_finish(&w, &none, err);
		return -1;
	}
	for (;;) {
		int s = workers_call_step(&w);
		if (s != 0)
			break;
		struct pollfd pfd = { workers_call_fd(&w), workers_call_events(&w), 0 };
		if (pfd.fd < 0)
			continue;
		int pr = poll(&pfd, 1, wait > 0 ? wait : -1);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr == 0) {      /* abandoned: the context is failed (core/call.h) */
			struct worker_list none;
			workers_list_finish(&w, &none, err);
			acme_err_set(err, ACME_E_UNAVAILABLE, "redis: no answer within %d ms "
				     "reading the heartbeat records", wait);
			err->transient = true;
			return -1;
		}
	}
	return workers_list_finish(&w, out, err);
}

void workers_list_release(struct worker_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		json_decref(l->v[i].rec);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

bool workers_serves(const json_t *rec, const char *queue)
{
	size_t i, j;
	json_t *pool, *qn;
	json_array_foreach(json_object_get(rec, "pools"), i, pool) {
		if (json_integer_value(json_object_get(pool, "size")) < 1)
			continue;
		json_array_foreach(json_object_get(pool, "queues"), j, qn)
			if (json_is_string(qn) && strcmp(json_string_value(qn), queue) == 0)
				return true;
	}
	return false;
}

/* name_ms (epoch ms) becomes name_at (RFC 3339 UTC text, or null). */
static void ms_to_at(json_t *obj, const char *name)
{
	char ms_key[64], at_key[64], buf[CLOCK_TEXT_SIZE];
	snprintf(ms_key, sizeof(ms_key), "%s_ms", name);
	snprintf(at_key, sizeof(at_key), "%s_at", name);
	json_t *v = json_object_get(obj, ms_key);
	if (!v)
		return;
	clock_format_ms(json_integer_value(v), buf, sizeof(buf));
	json_object_set_new(obj, at_key, buf[0] ? json_string(buf) : json_null());
	json_object_del(obj, ms_key);
}

json_t *workers_record_public(const struct worker_record *r)
{
	json_t *rec = json_deep_copy(r->rec);
	size_t j;
	json_t *cj;
	json_object_set_new(rec, "key", json_string(r->key));
	json_object_set_new(rec, "ttl_s", json_integer((r->ttl_ms + 999) / 1000));
	ms_to_at(rec, "started");
	ms_to_at(rec, "updated");
	json_array_foreach(json_object_get(rec, "current_jobs"), j, cj)
		ms_to_at(cj, "started");
	return rec;
}
