/* workers.c — heartbeat records of the workers (see workers.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* All keys matching the pattern. 0 / -1. */
static int scan_keys(redisContext *c, const char *pattern, char ***keys, size_t *n,
		     struct acme_err *err)
{
	char cursor[32] = "0";
	int calls = 0;
	do {
		const char *argv[] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
		redisReply *r = rds_command(c, err, 6, argv, NULL);
		if (!r)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING) {
			freeReplyObject(r);
			return acme_err_set(err, ACME_E_FAILURE, "redis: unexpected answer to SCAN");
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			*keys = xrealloc(*keys, (*n + 1) * sizeof(char *));
			(*keys)[(*n)++] = xstrdup(r->element[1]->element[i]->str);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0 && ++calls < SCAN_MAX_CALLS);
	return 0;
}

int workers_list(redisContext *c, const char *prefix, struct worker_list *out,
		 struct acme_err *err)
{
	char *pattern = workers_pattern(prefix);
	char **keys = NULL;
	size_t nkeys = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (scan_keys(c, pattern, &keys, &nkeys, err) < 0)
		goto out;
	/* GET and PTTL of each, pipelined */
	for (size_t i = 0; i < nkeys; i++) {
		const char *g[] = { "GET", keys[i] }, *t[] = { "PTTL", keys[i] };
		redisAppendCommandArgv(c, 2, g, NULL);
		redisAppendCommandArgv(c, 2, t, NULL);
	}
	out->v = xcalloc(nkeys ? nkeys : 1, sizeof(*out->v));
	for (size_t i = 0; i < nkeys; i++) {
		redisReply *g = NULL, *t = NULL;
		if (redisGetReply(c, (void **)&g) != REDIS_OK || redisGetReply(c, (void **)&t) != REDIS_OK) {
			if (g)
				freeReplyObject(g);
			acme_err_set(err, ACME_E_UNAVAILABLE, "redis: %s", c->errstr);
			workers_list_release(out);
			goto out;
		}
		long long ttl = t->type == REDIS_REPLY_INTEGER ? t->integer : -2;
		if (ttl > 0) {
			struct worker_record *w = &out->v[out->n++];
			w->key = xstrdup(keys[i]);
			w->ttl_ms = ttl;
			w->rec = g->type == REDIS_REPLY_STRING ? json_loads(g->str, 0, NULL) : NULL;
			if (w->rec && !json_is_object(w->rec)) {
				json_decref(w->rec);
				w->rec = NULL;
			}
		} else if (ttl == -1) {
			out->stale++;      /* the key exists, without a TTL */
		}
		freeReplyObject(g);
		freeReplyObject(t);
	}
	rc = 0;
out:
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	free(pattern);
	return rc;
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
