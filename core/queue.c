/* queue.c — the reliable job queue in Redis; see queue.h for the model.
 *
 * Each transition is one Lua script, so a transition is atomic and costs one
 * round trip. The scripts share a prelude (key names, the job field list, the
 * clock, event publishing) and answer with a status word followed by a
 * snapshot of the job hash in QUEUE_FIELDS order, which parse_snapshot() turns
 * into a struct queue_job; the same field list generates the Lua table, so the
 * two cannot drift. The enqueue and the ack, which every job runs through,
 * answer only what the caller cannot know (the Redis clock, the version, a
 * cancel request), and enqueued_snapshot() and acked_snapshot() complete the
 * caller's copy: a 22-field snapshot cost Redis a third of each script
 * (issue 15). Scripts are run by SHA1 (computed here) and loaded on the
 * first NOSCRIPT answer; a command that got NOSCRIPT did not run, so running
 * it again after loading is safe.
 *
 * Times come from Redis (TIME inside the script): one clock for every worker.
 * Randomness (lease tokens, retry jitter, ids) comes from OpenSSL's CSPRNG and
 * is passed in, so the scripts stay simple and the backoff formula lives in C
 * only (queue_backoff_ms, unit-tested).
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/call.h"
#include "core/clock.h"
#include "core/queue.h"
#include "core/rds.h"
#include "core/utf8.h"
#include "core/xalloc.h"

/* ---- states ------------------------------------------------------------------ */

static const char *const state_names[] = {
#define X(c, s) s,
	JOB_STATES(X)
#undef X
};

const char *job_state_name(enum job_state s)
{
	return (unsigned)s < JOB_STATE__COUNT ? state_names[s] : "unknown";
}

int job_state_parse(const char *s, enum job_state *out)
{
	for (int i = 0; s && i < JOB_STATE__COUNT; i++)
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum job_state)i;
			return 0;
		}
	return -1;
}

bool job_state_is_final(enum job_state s)
{
	return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_DEAD || s == JOB_CANCELLED;
}

/* ---- names, ids, tokens, backoff ---------------------------------------------- */

static int check_chars(const char *what, const char *s, size_t max, const char *extra,
		       struct acme_err *err)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		return acme_err_set(err, ACME_E_USAGE, "%s \"%s\": expected 1-%zu characters",
				    what, s ? s : "", max);
	for (const char *c = s; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr(extra, *c))
			return acme_err_set(err, ACME_E_USAGE, "%s \"%s\": '%c' is not allowed "
					    "(letters, digits and %s only)", what, s, *c, extra);
	return 0;
}

int queue_check_name(const char *what, const char *name, struct acme_err *err)
{
	return check_chars(what, name, QUEUE_NAME_MAX, "_.-", err);
}

int queue_check_id(const char *id, struct acme_err *err)
{
	return check_chars("job id", id, QUEUE_ID_MAX, "_.:-", err);
}

void queue_derive_id(char *out, const char *head, const char *name, const char *tail)
{
	static const char hex[] = "0123456789abcdef";
	size_t hl = strlen(head), nl = strlen(name), tl = strlen(tail);
	if (hl + tl > QUEUE_ID_MAX - 24)
		abort();        /* a programming error, caught by the tests */
	if (hl + nl + tl <= QUEUE_ID_MAX) {
		snprintf(out, QUEUE_ID_MAX + 1, "%s%s%s", head, name, tail);
		return;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(name, nl, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 8)
		abort();        /* SHA-256 is always there */
	char hash[17];
	for (int i = 0; i < 8; i++) {
		hash[2 * i] = hex[md[i] >> 4];
		hash[2 * i + 1] = hex[md[i] & 15];
	}
	hash[16] = '\0';
	int keep = (int)(QUEUE_ID_MAX - hl - tl - 17);    /* 17: ':' and the hash */
	snprintf(out, QUEUE_ID_MAX + 1, "%s%.*s:%s%s", head, keep, name, hash, tail);
}

static int random_bytes(unsigned char *buf, int n, struct acme_err *err)
{
	if (RAND_bytes(buf, n) != 1)
		return acme_err_set(err, ACME_E_FAILURE, "openssl: the random number generator "
				    "failed; cannot make a lease token or job id");
	return 0;
}

int queue_new_token(char *out, struct acme_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[QUEUE_TOKEN_LEN / 2];
	if (random_bytes(b, (int)sizeof(b), err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[QUEUE_TOKEN_LEN] = '\0';
	return 0;
}

int queue_new_id(char *out, struct acme_err *err)
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  /* Crockford */
	unsigned char r[10];
	uint64_t t = (uint64_t)clock_wall_ms();

	if (random_bytes(r, (int)sizeof(r), err) < 0)
		return -1;
	/* 48 bits of time in 10 characters (the first holds 3 bits) */
	for (int i = 9; i >= 0; i--) {
		out[i] = b32[t & 31];
		t >>= 5;
	}
	/* 80 random bits in 16 characters, 40 bits at a time */
	for (int half = 0; half < 2; half++) {
		uint64_t v = 0;
		for (int i = 0; i < 5; i++)
			v = v << 8 | r[half * 5 + i];
		for (int i = 7; i >= 0; i--) {
			out[10 + half * 8 + i] = b32[v & 31];
			v >>= 5;
		}
	}
	out[QUEUE_ULID_LEN] = '\0';
	return 0;
}

long long queue_backoff_ms(int attempt, long long base_ms, long long cap_ms, double r)
{
	if (base_ms <= 0)
		return 0;
	if (cap_ms < base_ms)
		cap_ms = base_ms;
	long long d = base_ms;
	for (int i = 1; i < attempt && d < cap_ms; i++)
		d = d > cap_ms / 2 ? cap_ms : d * 2;
	if (!(r >= 0))          /* also NaN */
		r = 0;
	if (r >= 1)
		r = 0.9999999999;
	long long half = d / 2;
	return d - half + (long long)(r * (double)half);
}

double queue_random_unit(void)
{
	unsigned char b[8];
	uint64_t v = 0;
	if (RAND_bytes(b, (int)sizeof(b)) != 1)
		return 0.5;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return (double)(v >> 11) * (1.0 / 9007199254740992.0);  /* 2^-53 */
}

/* ---- the scripts -------------------------------------------------------------- */

enum script {
	S_ENQUEUE, S_DEQUEUE, S_HEARTBEAT, S_PROGRESS, S_ACK, S_FAIL, S_RELEASE, S_EXPIRED,
	S_PROMOTE, S_CANCEL, S_REQUEUE, S_PAUSE, S_RESUME, S_PURGE, S_PURGE_DEAD, S_FORGET,
	S_STATS, S_RAISE, S__COUNT
};

static const char *const script_names[S__COUNT] = {
	"enqueue", "dequeue", "heartbeat", "progress", "ack", "fail", "release", "expired",
	"promote", "cancel", "requeue", "pause", "resume", "purge", "purge-dead", "forget",
	"stats", "raise",
};

enum field {
#define X(f) F_##f,
	QUEUE_FIELDS(X)
#undef X
	F__COUNT
};
#define LUA_FIELD(f) "'" #f "',"

/* KEYS: ready sched active dead paused wake stats job.
 * ARGV[1]: the queue's key base "P{Q}:", ARGV[2]: the event channel prefix,
 * ARGV[3]: the job id for per-job scripts; script arguments follow. */
static const char prelude[] =
	"local K_READY, K_SCHED, K_ACTIVE, K_DEAD = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
	"local K_PAUSED, K_WAKE, K_STATS, K_JOB = KEYS[5], KEYS[6], KEYS[7], KEYS[8]\n"
	"local BASE, CHAN, ID = ARGV[1], ARGV[2], ARGV[3]\n"
	"local FIELDS = {" QUEUE_FIELDS(LUA_FIELD) "}\n"
	"local function now_ms()\n"
	"  local t = redis.call('TIME')\n"
	"  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"end\n"
	"local function n(x) return string.format('%d', x) end\n"
	"local function jobkey(id) return BASE .. 'job:' .. id end\n"
	"local function snap(jk) return redis.call('HMGET', jk, unpack(FIELDS)) end\n"
	"local function reply(status, jk)\n"
	"  local r = snap(jk)\n"
	"  table.insert(r, 1, status)\n"
	"  return r\n"
	"end\n"
	/* the wake list holds at most one token: a busy queue already has it,
	 * so the common case costs one LLEN (issue 15); with only_if_ready, a
	 * token only while jobs wait */
	"local function wake(only_if_ready)\n"
	"  if redis.call('LLEN', K_WAKE) == 0 and\n"
	"     (not only_if_ready or redis.call('LLEN', K_READY) > 0) and\n"
	"     redis.call('EXISTS', K_PAUSED) == 0 then\n"
	"    redis.call('LPUSH', K_WAKE, '1')\n"
	"  end\n"
	"end\n"
	"local function bump(jk) return redis.call('HINCRBY', jk, 'version', 1) end\n"
	"local function count(what) redis.call('HINCRBY', K_STATS, what, 1) end\n"
	/* ids and states need no JSON escaping (queue_check_id allows none of
	 * the characters that would); the event carries the job's attempt
	 * number as its hash has it after the transition (issue 11: watchers
	 * said "attempt 0" for every live event) */
	"local function event(id, kind, state, version, now, extra, att)\n"
	"  att = att or tonumber(redis.call('HGET', jobkey(id), 'attempts')) or 0\n"
	"  redis.call('PUBLISH', CHAN .. id, '{\"id\":\"' .. id .. '\",\"event\":\"' .. kind ..\n"
	"    '\",\"state\":\"' .. state .. '\",\"version\":' .. n(version) .. ',\"ts\":' .. n(now) ..\n"
	"    ',\"attempts\":' .. n(att) .. (extra or '') .. '}')\n"
	"end\n"
	"local function holds(token)\n"
	"  local h = redis.call('HMGET', K_JOB, 'state', 'token')\n"
	"  return h[1] == 'running' and h[2] == token\n"
	"end\n"
	"local function finish(jk, state, now)\n"
	"  redis.call('HSET', jk, 'state', state, 'finished_ms', n(now))\n"
	"  redis.call('HDEL', jk, 'token', 'deadline_ms')\n"
	"end\n"
	/* keep_ms is always the last argument of the scripts that call expire() */
	"local function expire(jk) redis.call('PEXPIRE', jk, ARGV[#ARGV]) end\n";

/* ARGV: 4 type, 5 queue, 6 payload, 7 max_attempts, 8 delay_ms, 9 backoff_ms,
 * 10 backoff_max_ms, 11 version, 12 attempts already used. Answers {'ok',
 * now}: the caller knows the rest (enqueued_snapshot()); an existing job
 * answers 'exists' and its snapshot. */
static const char body_enqueue[] =
	"if redis.call('EXISTS', K_JOB) == 1 then return reply('exists', K_JOB) end\n"
	"local now = now_ms()\n"
	"local delay = tonumber(ARGV[8])\n"
	"local state, when = 'queued', 'enqueued_ms'\n"
	"if delay > 0 then state, when = 'scheduled', 'scheduled_ms' end\n"
	"redis.call('HSET', K_JOB, 'id', ID, 'type', ARGV[4], 'queue', ARGV[5], 'payload', ARGV[6],\n"
	"  'attempts', ARGV[12], 'max_attempts', ARGV[7], 'backoff_ms', ARGV[9],\n"
	"  'backoff_max_ms', ARGV[10], 'version', ARGV[11], 'created_ms', n(now), 'cancel', 0,\n"
	"  'state', state, when, n(now + delay))\n"
	"if delay > 0 then\n"
	"  redis.call('ZADD', K_SCHED, now + delay, ID)\n"
	"else\n"
	"  redis.call('LPUSH', K_READY, ID)\n"
	"  wake()\n"
	"end\n"
	"count('enqueued')\n"
	"event(ID, 'state', state, ARGV[11], now, nil, tonumber(ARGV[12]))\n"
	"return {'ok', n(now)}\n";

/* ARGV: 3 (unused), 4 token, 5 lease_ms, 6 worker. Ids whose hash is gone or
 * not queued (never expected: cancel removes ids it cancels) are dropped.
 * The job's snapshot is read once and answered with the fields the dequeue
 * set (positions in QUEUE_FIELDS: 4 state, 6 attempts, 8 version, 9 token,
 * 17 started_ms, 19 deadline_ms, 22 worker; checked by DEQUEUE_POSITIONS). */
static const char body_dequeue[] =
	"if redis.call('EXISTS', K_PAUSED) == 1 then return {'paused'} end\n"
	"local now = now_ms()\n"
	"for i = 1, 100 do\n"
	"  local id = redis.call('RPOP', K_READY)\n"
	"  if not id then return {'empty'} end\n"
	"  local jk = jobkey(id)\n"
	"  local r = snap(jk)\n"
	"  if r[4] == 'queued' then\n"
	"    local deadline = now + tonumber(ARGV[5])\n"
	"    local att, v = tonumber(r[6]) + 1, tonumber(r[8]) + 1\n"
	"    r[4], r[6], r[8], r[9] = 'running', n(att), n(v), ARGV[4]\n"
	"    r[17], r[19], r[22] = n(now), n(deadline), ARGV[6]\n"
	"    redis.call('HSET', jk, 'state', 'running', 'attempts', r[6], 'version', r[8],\n"
	"      'token', ARGV[4], 'started_ms', r[17], 'deadline_ms', r[19], 'worker', ARGV[6])\n"
	"    redis.call('ZADD', K_ACTIVE, deadline, id)\n"
	/* more work: a blocked worker may take it */
	"    wake(true)\n"
	"    event(id, 'state', 'running', v, now, nil, att)\n"
	"    table.insert(r, 1, 'ok')\n"
	"    return r\n"
	"  end\n"
	"end\n"
	"return {'stale'}\n";
#define DEQUEUE_POSITIONS (F_state == 3 && F_attempts == 5 && F_version == 7 && F_token == 8 && \
			   F_started_ms == 16 && F_deadline_ms == 18 && F_worker == 21 && \
			   F__COUNT == 22)
_Static_assert(DEQUEUE_POSITIONS, "body_dequeue's field positions follow QUEUE_FIELDS");

/* ARGV: 4 token, 5 lease_ms */
static const char body_heartbeat[] =
	"if not holds(ARGV[4]) then return {'lost'} end\n"
	"local deadline = now_ms() + tonumber(ARGV[5])\n"
	"redis.call('ZADD', K_ACTIVE, deadline, ID)\n"
	"redis.call('HSET', K_JOB, 'deadline_ms', n(deadline))\n"
	"if redis.call('HGET', K_JOB, 'cancel') == '1' then return reply('cancel', K_JOB) end\n"
	"return reply('ok', K_JOB)\n";

/* ARGV: 4 token, 5 progress JSON (checked by the caller) */
static const char body_progress[] =
	"if not holds(ARGV[4]) then return {'lost'} end\n"
	"redis.call('HSET', K_JOB, 'progress', ARGV[5])\n"
	"event(ID, 'progress', 'running', redis.call('HGET', K_JOB, 'version'), now_ms(),\n"
	"  ',\"progress\":' .. ARGV[5])\n"
	"if redis.call('HGET', K_JOB, 'cancel') == '1' then return reply('cancel', K_JOB) end\n"
	"return reply('ok', K_JOB)\n";

/* ARGV: 4 token, 5 result JSON or '', 6 keep_ms. Answers {'ok', version,
 * finished_ms, cancel}: all an ack changes that the holder does not know
 * (acked_snapshot()); the job's full snapshot would cost Redis a third of
 * the script (issue 15). */
static const char body_ack[] =
	"local h = redis.call('HMGET', K_JOB, 'state', 'token', 'version', 'attempts', 'cancel')\n"
	"if h[1] ~= 'running' or h[2] ~= ARGV[4] then return {'lost'} end\n"
	"local now, v = now_ms(), tonumber(h[3]) + 1\n"
	"redis.call('ZREM', K_ACTIVE, ID)\n"
	"redis.call('HDEL', K_JOB, 'token', 'deadline_ms', 'error')\n"
	"if ARGV[5] ~= '' then\n"
	"  redis.call('HSET', K_JOB, 'state', 'succeeded', 'finished_ms', n(now), 'version', n(v),\n"
	"    'result', ARGV[5])\n"
	"else\n"
	"  redis.call('HSET', K_JOB, 'state', 'succeeded', 'finished_ms', n(now), 'version', n(v))\n"
	"end\n"
	"expire(K_JOB)\n"
	"count('succeeded')\n"
	"event(ID, 'state', 'succeeded', v, now, nil, tonumber(h[4]) or 0)\n"
	"return {'ok', n(v), n(now), h[5] or '0'}\n";

/* ARGV: 4 token, 5 error, 6 retry delay_ms, 7 permanent 0|1, 8 reap 0|1, 9 keep_ms.
 * With reap=1 the lease must also be past its deadline (a heartbeat that
 * arrived since the reaper looked wins). */
static const char body_fail[] =
	"if not holds(ARGV[4]) then return {'lost'} end\n"
	"local now = now_ms()\n"
	"if ARGV[8] == '1' then\n"
	"  local dl = redis.call('ZSCORE', K_ACTIVE, ID)\n"
	"  if dl and tonumber(dl) > now then return {'alive'} end\n"
	"end\n"
	"redis.call('ZREM', K_ACTIVE, ID)\n"
	"redis.call('HDEL', K_JOB, 'token', 'deadline_ms')\n"
	"redis.call('HSET', K_JOB, 'error', ARGV[5])\n"
	"if redis.call('HGET', K_JOB, 'cancel') == '1' then\n"
	"  finish(K_JOB, 'cancelled', now)\n"
	"  expire(K_JOB)\n"
	"  count('cancelled')\n"
	"else\n"
	"  local attempts = tonumber(redis.call('HGET', K_JOB, 'attempts'))\n"
	"  local max = tonumber(redis.call('HGET', K_JOB, 'max_attempts'))\n"
	"  if ARGV[7] == '1' or attempts >= max then\n"
	"    local state = ARGV[7] == '1' and 'failed' or 'dead'\n"
	"    finish(K_JOB, state, now)\n"
	"    redis.call('ZADD', K_DEAD, now, ID)\n"
	"    count(state)\n"
	"  else\n"
	"    local due = now + tonumber(ARGV[6])\n"
	"    redis.call('HSET', K_JOB, 'state', 'retrying', 'scheduled_ms', n(due))\n"
	"    redis.call('ZADD', K_SCHED, due, ID)\n"
	"    count('retried')\n"
	"  end\n"
	"end\n"
	"local v = bump(K_JOB)\n"
	"event(ID, 'state', redis.call('HGET', K_JOB, 'state'), v, now,\n"
	"  ',\"error\":' .. cjson.encode(ARGV[5]))\n"
	"return reply('ok', K_JOB)\n";

/* ARGV: 4 token, 5 keep_ms */
static const char body_release[] =
	"if not holds(ARGV[4]) then return {'lost'} end\n"
	"local now = now_ms()\n"
	"redis.call('ZREM', K_ACTIVE, ID)\n"
	"if redis.call('HGET', K_JOB, 'cancel') == '1' then\n"
	"  finish(K_JOB, 'cancelled', now)\n"
	"  expire(K_JOB)\n"
	"  count('cancelled')\n"
	"else\n"
	"  redis.call('HDEL', K_JOB, 'token', 'deadline_ms')\n"
	"  if tonumber(redis.call('HGET', K_JOB, 'attempts')) > 0 then\n"
	"    redis.call('HINCRBY', K_JOB, 'attempts', -1)\n"
	"  end\n"
	"  redis.call('HSET', K_JOB, 'state', 'queued', 'enqueued_ms', n(now))\n"
	"  redis.call('RPUSH', K_READY, ID)\n"
	"  wake()\n"
	"  count('released')\n"
	"end\n"
	"event(ID, 'state', redis.call('HGET', K_JOB, 'state'), bump(K_JOB), now)\n"
	"return reply('ok', K_JOB)\n";

/* Read only: snapshots of leases past their deadline. ARGV: 4 limit.
 * Entries whose job hash is gone are dropped from active. */
static const char body_expired[] =
	"local ids = redis.call('ZRANGEBYSCORE', K_ACTIVE, '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[4]))\n"
	"local out = {}\n"
	"for _, id in ipairs(ids) do\n"
	"  local jk = jobkey(id)\n"
	"  if redis.call('EXISTS', jk) == 0 then redis.call('ZREM', K_ACTIVE, id)\n"
	"  else out[#out + 1] = snap(jk) end\n"
	"end\n"
	"return out\n";

/* ARGV: 4 limit */
static const char body_promote[] =
	"local now = now_ms()\n"
	"local ids = redis.call('ZRANGEBYSCORE', K_SCHED, '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))\n"
	"local out = {}\n"
	"for _, id in ipairs(ids) do\n"
	"  redis.call('ZREM', K_SCHED, id)\n"
	"  local jk = jobkey(id)\n"
	"  local st = redis.call('HGET', jk, 'state')\n"
	"  if st == 'scheduled' or st == 'retrying' then\n"
	"    redis.call('HSET', jk, 'state', 'queued', 'enqueued_ms', n(now))\n"
	"    redis.call('LPUSH', K_READY, id)\n"
	"    event(id, 'state', 'queued', bump(jk), now)\n"
	"    out[#out + 1] = snap(jk)\n"
	"  end\n"
	"end\n"
	"if #out > 0 then wake() end\n"
	"return out\n";

/* ARGV: 4 keep_ms */
static const char body_cancel[] =
	"local st = redis.call('HGET', K_JOB, 'state')\n"
	"if not st then return {'missing'} end\n"
	"local now = now_ms()\n"
	"if st == 'queued' then redis.call('LREM', K_READY, 0, ID)\n"
	"elseif st == 'scheduled' or st == 'retrying' then redis.call('ZREM', K_SCHED, ID)\n"
	"elseif st == 'running' then\n"
	"  if redis.call('HGET', K_JOB, 'cancel') ~= '1' then\n"
	"    redis.call('HSET', K_JOB, 'cancel', 1)\n"
	"    event(ID, 'cancel_requested', 'running', bump(K_JOB), now)\n"
	"  end\n"
	"  return reply('requested', K_JOB)\n"
	"else return reply('final', K_JOB) end\n"
	"finish(K_JOB, 'cancelled', now)\n"
	"expire(K_JOB)\n"
	"count('cancelled')\n"
	"event(ID, 'state', 'cancelled', bump(K_JOB), now)\n"
	"return reply('ok', K_JOB)\n";

/* ARGV: 4 type, 5 queue, 6 payload, 7 max_attempts, 8 backoff_ms,
 * 9 backoff_max_ms, 10 min version, 11 created_ms */
static const char body_requeue[] =
	"local st = redis.call('HGET', K_JOB, 'state')\n"
	"if st and st ~= 'failed' and st ~= 'dead' and st ~= 'cancelled' then\n"
	"  return reply('busy', K_JOB)\n"
	"end\n"
	"local now = now_ms()\n"
	"if not st then\n"
	"  redis.call('HSET', K_JOB, 'id', ID, 'type', ARGV[4], 'queue', ARGV[5], 'payload', ARGV[6],\n"
	"    'max_attempts', ARGV[7], 'backoff_ms', ARGV[8], 'backoff_max_ms', ARGV[9],\n"
	"    'created_ms', ARGV[11])\n"
	"end\n"
	"local v = tonumber(redis.call('HGET', K_JOB, 'version') or '0')\n"
	"if tonumber(ARGV[10]) > v then v = tonumber(ARGV[10]) end\n"
	"redis.call('HDEL', K_JOB, 'error', 'token', 'finished_ms', 'deadline_ms', 'result',\n"
	"  'progress', 'scheduled_ms', 'started_ms', 'worker', 'freed')\n"
	"redis.call('HSET', K_JOB, 'state', 'queued', 'attempts', 0, 'cancel', 0,\n"
	"  'enqueued_ms', n(now), 'version', n(v + 1))\n"
	"redis.call('PERSIST', K_JOB)\n"
	"redis.call('ZREM', K_DEAD, ID)\n"
	"redis.call('LPUSH', K_READY, ID)\n"
	"wake()\n"
	"count('requeued')\n"
	"event(ID, 'state', 'queued', v + 1, now)\n"
	"return reply('ok', K_JOB)\n";

static const char body_pause[] =
	"local was = redis.call('EXISTS', K_PAUSED)\n"
	"redis.call('SET', K_PAUSED, n(now_ms()))\n"
	"return {'ok', was}\n";

static const char body_resume[] =
	"local was = redis.call('DEL', K_PAUSED)\n"
	"wake(true)\n"
	"return {'ok', was}\n";

/* ARGV: 4 limit, 5 keep_ms. Answers {removed, {snapshot...}}: ids whose job
 * was no longer waiting count as removed but have no snapshot. */
static const char body_purge[] =
	"local now, limit, out, removed = now_ms(), tonumber(ARGV[4]), {}, 0\n"
	"local function purge(jk, id)\n"
	"  finish(jk, 'cancelled', now)\n"
	"  redis.call('HSET', jk, 'error', 'purged')\n"
	"  redis.call('PEXPIRE', jk, ARGV[5])\n"
	"  count('cancelled')\n"
	"  event(id, 'state', 'cancelled', bump(jk), now)\n"
	"  out[#out + 1] = snap(jk)\n"
	"end\n"
	"while removed < limit do\n"
	"  local id = redis.call('RPOP', K_READY)\n"
	"  if not id then break end\n"
	"  removed = removed + 1\n"
	"  if redis.call('HGET', jobkey(id), 'state') == 'queued' then purge(jobkey(id), id) end\n"
	"end\n"
	"if removed < limit then\n"
	"  for _, id in ipairs(redis.call('ZRANGE', K_SCHED, 0, limit - removed - 1)) do\n"
	"    redis.call('ZREM', K_SCHED, id)\n"
	"    removed = removed + 1\n"
	"    local st = redis.call('HGET', jobkey(id), 'state')\n"
	"    if st == 'scheduled' or st == 'retrying' then purge(jobkey(id), id) end\n"
	"  end\n"
	"end\n"
	"return {removed, out}\n";

/* ARGV: 4 age_ms, 5 limit */
static const char body_purge_dead[] =
	"local ids = redis.call('ZRANGEBYSCORE', K_DEAD, '-inf', now_ms() - tonumber(ARGV[4]),\n"
	"  'LIMIT', 0, tonumber(ARGV[5]))\n"
	"for _, id in ipairs(ids) do\n"
	"  redis.call('ZREM', K_DEAD, id)\n"
	"  local jk = jobkey(id)\n"
	"  local st = redis.call('HGET', jk, 'state')\n"
	"  if st == 'dead' or st == 'failed' then redis.call('DEL', jk) end\n"
	"end\n"
	"return {'ok', #ids}\n";

static const char body_forget[] =
	"local st = redis.call('HGET', K_JOB, 'state')\n"
	"redis.call('ZREM', K_DEAD, ID)\n"
	"if not st then return {'missing'} end\n"
	"if st == 'succeeded' or st == 'failed' or st == 'dead' or st == 'cancelled' then\n"
	"  redis.call('DEL', K_JOB)\n"
	"  return {'ok'}\n"
	"end\n"
	"return {'busy'}\n";

static const char body_stats[] =
	"local oldest = redis.call('LINDEX', K_READY, -1)\n"
	"local oldest_ms = false\n"
	"if oldest then oldest_ms = redis.call('HGET', jobkey(oldest), 'enqueued_ms') end\n"
	"local due = redis.call('ZRANGE', K_SCHED, 0, 0, 'WITHSCORES')\n"
	"return {'ok', n(now_ms()), redis.call('LLEN', K_READY), redis.call('ZCARD', K_SCHED),\n"
	"  redis.call('ZCARD', K_ACTIVE), redis.call('ZCARD', K_DEAD), redis.call('EXISTS', K_PAUSED),\n"
	"  oldest_ms, due[2] or false, redis.call('HGETALL', K_STATS)}\n";

/* ARGV: 4 token, 5 minimum version. Redis went back in time (a failover to
 * a lagging replica, a restart from an older RDB or AOF) and PostgreSQL has
 * seen newer versions of this job: lift its version so the transitions that
 * follow are newer than the row again. */
static const char body_raise[] =
	"if not holds(ARGV[4]) then return {'lost'} end\n"
	"if tonumber(redis.call('HGET', K_JOB, 'version')) < tonumber(ARGV[5]) then\n"
	"  redis.call('HSET', K_JOB, 'version', ARGV[5])\n"
	"end\n"
	"return reply('ok', K_JOB)\n";

static const char *const script_bodies[S__COUNT] = {
	body_enqueue, body_dequeue, body_heartbeat, body_progress, body_ack, body_fail,
	body_release, body_expired, body_promote, body_cancel, body_requeue, body_pause,
	body_resume, body_purge, body_purge_dead, body_forget, body_stats, body_raise,
};

struct queue_scripts {
	char *src[S__COUNT];
	size_t len[S__COUNT];
	char sha[S__COUNT][41];
};

static int sha1_hex(const char *data, size_t len, char out[41], struct acme_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
		return acme_err_set(err, ACME_E_FAILURE, "openssl: cannot compute SHA1 of a queue script");
	for (unsigned i = 0; i < 20; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[40] = '\0';
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------------ */

int queue_init(struct queue *q, redisContext *rc, const char *prefix, struct acme_err *err)
{
	memset(q, 0, sizeof(*q));
	if (!prefix || !prefix[0] || strpbrk(prefix, "{} \t\r\n"))
		return acme_err_set(err, ACME_E_CONFIG, "redis prefix \"%s\": expected characters "
				    "without spaces or braces (ACME_REDIS_PREFIX)", prefix ? prefix : "");
	q->rc = rc;
	q->prefix = xstrdup(prefix);
	q->keep_ms = 24LL * 3600 * 1000;
	q->block_ms = 1000;
	q->scripts = xcalloc(1, sizeof(*q->scripts));
	for (int i = 0; i < S__COUNT; i++) {
		q->scripts->src[i] = xasprintf("-- acmectl queue: %s\n%s%s", script_names[i], prelude,
					       script_bodies[i]);
		q->scripts->len[i] = strlen(q->scripts->src[i]);
		if (sha1_hex(q->scripts->src[i], q->scripts->len[i], q->scripts->sha[i], err) < 0) {
			queue_release(q);
			return -1;
		}
	}
	return 0;
}

void queue_set_connection(struct queue *q, redisContext *rc)
{
	q->rc = rc;
}

void queue_release(struct queue *q)
{
	if (q->fetched) {
		queue_job_release(q->fetched);
		free(q->fetched);
	}
	free(q->fetch);
	if (q->scripts)
		for (int i = 0; i < S__COUNT; i++)
			free(q->scripts->src[i]);
	free(q->scripts);
	for (size_t i = 0; i < q->nregistered; i++)
		free(q->registered[i]);
	free(q->registered);
	free(q->prefix);
	memset(q, 0, sizeof(*q));
}

void queue_job_release(struct queue_job *job)
{
	if (!job)
		return;
	free(job->id);
	free(job->type);
	free(job->queue);
	free(job->payload);
	free(job->token);
	free(job->error);
	free(job->result);
	free(job->progress);
	free(job->worker);
	memset(job, 0, sizeof(*job));
}

void queue_jobs_free(struct queue_job *jobs, size_t n)
{
	if (!jobs)
		return;
	for (size_t i = 0; i < n; i++)
		queue_job_release(&jobs[i]);
	free(jobs);
}

char *queue_events_channel(const struct queue *q, const char *id)
{
	return xasprintf("%sevents:job:%s", q->prefix, id);
}

/* ---- script calls ----------------------------------------------------------------- */

#define CALL_MAXARGS 28

/* One EVALSHA with its arguments and, after calls_run(), its reply. The
 * arguments live in one buffer (a job's ack and dequeue used to cost some
 * sixty small allocations; issue 15): off/len while building, argv pointing
 * into buf once call_seal() ran (buf may move while it grows). */
struct call {
	enum script s;
	int argc;
	size_t off[CALL_MAXARGS];
	size_t len[CALL_MAXARGS];
	const char *argv[CALL_MAXARGS];
	char *buf;
	size_t used, cap;
	redisReply *reply;
};

static void call_put(struct call *c, const char *v, size_t n)
{
	if (c->used + n > c->cap) {
		size_t cap = c->cap ? c->cap : 512;
		while (cap < c->used + n)
			cap *= 2;
		c->buf = xrealloc(c->buf, cap);
		c->cap = cap;
	}
	memcpy(c->buf + c->used, v, n);
	c->used += n;
}

static void call_arg_start(struct call *c)
{
	if (c->argc >= CALL_MAXARGS)
		abort();        /* a programming error, caught by the tests */
	c->off[c->argc] = c->used;
}

static void call_arg_end(struct call *c)
{
	c->len[c->argc] = c->used - c->off[c->argc];
	call_put(c, "", 1);     /* NUL-terminated, for error messages */
	c->argc++;
}

static void call_seal(struct call *c)
{
	for (int i = 0; i < c->argc; i++)
		c->argv[i] = c->buf + c->off[i];
}

static void call_addn(struct call *c, const char *v, size_t n)
{
	call_arg_start(c);
	call_put(c, v, n);
	call_arg_end(c);
}

static void call_add(struct call *c, const char *v)
{
	call_addn(c, v, strlen(v));
}

static void call_addll(struct call *c, long long v)
{
	char buf[24];
	call_addn(c, buf, (size_t)snprintf(buf, sizeof(buf), "%lld", v));
}

/* One argument "P{Q}:" suffix tail: a key of the queue, or its base. */
static void call_addkey(struct call *c, const struct queue *q, const char *queue,
			const char *suffix, const char *tail)
{
	call_arg_start(c);
	call_put(c, q->prefix, strlen(q->prefix));
	call_put(c, "{", 1);
	call_put(c, queue, strlen(queue));
	call_put(c, "}:", 2);
	call_put(c, suffix, strlen(suffix));
	call_put(c, tail, strlen(tail));
	call_arg_end(c);
}

/* EVALSHA of script s, or EVAL with its text. */
static void call_init_as(struct call *c, const struct queue *q, enum script s, const char *queue,
			 const char *id, bool eval)
{
	static const char *const keys[] = { "ready", "sched", "active", "dead", "paused", "wake",
					    "stats" };
	memset(c, 0, sizeof(*c));
	c->s = s;
	if (eval) {
		call_add(c, "EVAL");
		call_addn(c, q->scripts->src[s], q->scripts->len[s]);
	} else {
		call_add(c, "EVALSHA");
		call_add(c, q->scripts->sha[s]);
	}
	call_add(c, "8");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		call_addkey(c, q, queue, keys[i], "");
	call_addkey(c, q, queue, "job:", id ? id : "");
	call_addkey(c, q, queue, "", "");
	call_arg_start(c);
	call_put(c, q->prefix, strlen(q->prefix));
	call_put(c, "events:job:", 11);
	call_arg_end(c);
	call_add(c, id ? id : "");
}

static void call_init(struct call *c, const struct queue *q, enum script s, const char *queue,
		      const char *id)
{
	call_init_as(c, q, s, queue, id, false);
}

static void call_release(struct call *c)
{
	free(c->buf);
	if (c->reply)
		freeReplyObject(c->reply);
	memset(c, 0, sizeof(*c));
}

static void calls_release(struct call *calls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		call_release(&calls[i]);
}

static int conn_error(struct queue *q, struct acme_err *err)
{
	const char *e = q->rc->errstr[0] ? q->rc->errstr : "connection lost";
	acme_err_set(err, ACME_E_UNAVAILABLE, "redis: %s", e);
	err->transient = true;
	return -1;
}

static bool is_noscript(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

static int load_script(struct queue *q, enum script s, struct acme_err *err)
{
	const char *argv[3] = { "SCRIPT", "LOAD", q->scripts->src[s] };
	size_t lens[3] = { 6, 4, q->scripts->len[s] };
	redisReply *r = redisCommandArgv(q->rc, 3, argv, lens);
	if (!r)
		return conn_error(q, err);
	int rc = 0;
	if (r->type != REDIS_REPLY_STRING || strcmp(r->str, q->scripts->sha[s]) != 0)
		rc = acme_err_set(err, ACME_E_FAILURE, "redis: loading the queue's %s script: %s",
				  script_names[s], r->type == REDIS_REPLY_ERROR ? r->str :
				  "unexpected answer");
	freeReplyObject(r);
	return rc;
}

/* Run n calls in one pipelined round trip. A call answered NOSCRIPT did not
 * run: its script is loaded and the call is run again. Any other error reply
 * fails the whole batch (the scripts raise no errors of their own, so one
 * means a bug or a server problem). */
static int calls_run(struct queue *q, struct call *calls, size_t n, struct acme_err *err)
{
	bool need[S__COUNT] = { false };
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		call_seal(&calls[i]);
		if (redisAppendCommandArgv(q->rc, calls[i].argc, calls[i].argv,
					   calls[i].len) != REDIS_OK)
			return conn_error(q, err);
	}
	for (size_t i = 0; i < n; i++) {
		void *r = NULL;
		if (redisGetReply(q->rc, &r) != REDIS_OK || !r)
			return conn_error(q, err);
		calls[i].reply = r;
		if (is_noscript(calls[i].reply))
			need[calls[i].s] = any = true;
	}
	if (any) {
		for (int s = 0; s < S__COUNT; s++)
			if (need[s] && load_script(q, (enum script)s, err) < 0)
				return -1;
		for (size_t i = 0; i < n; i++) {
			if (!is_noscript(calls[i].reply))
				continue;
			freeReplyObject(calls[i].reply);
			calls[i].reply = redisCommandArgv(q->rc, calls[i].argc, calls[i].argv,
							  calls[i].len);
			if (!calls[i].reply)
				return conn_error(q, err);
		}
	}
	for (size_t i = 0; i < n; i++) {
		redisReply *r = calls[i].reply;
		if (rds_note_reply(q->rc, r))
			return conn_error(q, err);
		if (r->type == REDIS_REPLY_ERROR) {
			acme_err_set(err, ACME_E_FAILURE, "redis: queue %s script: %s",
				     script_names[calls[i].s], r->str);
			return -1;
		}
		if (r->type != REDIS_REPLY_ARRAY)
			return acme_err_set(err, ACME_E_FAILURE, "redis: queue %s script: unexpected "
					    "answer", script_names[calls[i].s]);
	}
	return 0;
}

static int call_run(struct queue *q, struct call *c, struct acme_err *err)
{
	return calls_run(q, c, 1, err);
}

/* ---- replies -------------------------------------------------------------------- */

static char *reply_str(const redisReply *r)
{
	if (!r)
		return NULL;
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		return xstrndup(r->str, r->len);
	if (r->type == REDIS_REPLY_INTEGER)
		return xasprintf("%lld", r->integer);
	return NULL;
}

static long long reply_ll(const redisReply *r)
{
	if (!r)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		return strtoll(r->str, NULL, 10);
	return 0;
}

/* The status word of a script's answer. */
static bool status_is(const redisReply *r, const char *word)
{
	return r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING &&
	       strcmp(r->element[0]->str, word) == 0;
}

/* Fill job from F__COUNT elements of arr starting at off. */
static void parse_snapshot(const redisReply *arr, size_t off, struct queue_job *job)
{
	memset(job, 0, sizeof(*job));
	if (arr->type != REDIS_REPLY_ARRAY || arr->elements < off + F__COUNT)
		return;
	redisReply *const *f = arr->element + off;
	job->id = reply_str(f[F_id]);
	job->known = job->id != NULL;
	job->type = reply_str(f[F_type]);
	job->queue = reply_str(f[F_queue]);
	char *st = reply_str(f[F_state]);
	if (job_state_parse(st, &job->state) < 0)
		job->state = JOB_QUEUED;
	free(st);
	job->payload = reply_str(f[F_payload]);
	job->attempts = (int)reply_ll(f[F_attempts]);
	job->max_attempts = (int)reply_ll(f[F_max_attempts]);
	job->version = reply_ll(f[F_version]);
	job->token = reply_str(f[F_token]);
	job->error = reply_str(f[F_error]);
	job->result = reply_str(f[F_result]);
	job->progress = reply_str(f[F_progress]);
	job->cancel_requested = reply_ll(f[F_cancel]) == 1;
	job->created_ms = reply_ll(f[F_created_ms]);
	job->scheduled_ms = reply_ll(f[F_scheduled_ms]);
	job->enqueued_ms = reply_ll(f[F_enqueued_ms]);
	job->started_ms = reply_ll(f[F_started_ms]);
	job->finished_ms = reply_ll(f[F_finished_ms]);
	job->deadline_ms = reply_ll(f[F_deadline_ms]);
	job->backoff_ms = reply_ll(f[F_backoff_ms]);
	job->backoff_max_ms = reply_ll(f[F_backoff_max_ms]);
	job->worker = reply_str(f[F_worker]);
}

/* Replace *job with the snapshot following the status word of r. */
static void take_snapshot(const redisReply *r, struct queue_job *job)
{
	if (!job)
		return;
	queue_job_release(job);
	parse_snapshot(r, 1, job);
}

/* The snapshot of a job the enqueue script just made ({'ok', now}): what
 * its hash holds, from the spec and the Redis clock. */
static void enqueued_snapshot(const redisReply *r, const struct queue_spec *s, const char *id,
			      struct queue_job *job)
{
	if (!job)
		return;
	queue_job_release(job);
	long long now = r->elements > 1 ? reply_ll(r->element[1]) : 0;
	job->known = true;
	job->id = xstrdup(id);
	job->type = xstrdup(s->type);
	job->queue = xstrdup(s->queue);
	job->payload = xstrdup(s->payload ? s->payload : "{}");
	job->attempts = s->attempts > 0 ? s->attempts : 0;
	job->max_attempts = s->max_attempts;
	job->version = s->version > 0 ? s->version : 1;
	job->backoff_ms = s->backoff_ms;
	job->backoff_max_ms = s->backoff_max_ms;
	job->created_ms = now;
	if (s->delay_ms > 0) {
		job->state = JOB_SCHEDULED;
		job->scheduled_ms = now + s->delay_ms;
	} else {
		job->state = JOB_QUEUED;
		job->enqueued_ms = now;
	}
}

/* The ack script's answer {'ok', version, finished_ms, cancel} applied to
 * the job it acked (the holder's snapshot, which nothing but the holder
 * changes while it runs, except a cancel request). */
static void acked_snapshot(const redisReply *r, const char *result_json, struct queue_job *job)
{
	job->state = JOB_SUCCEEDED;
	job->version = r->elements > 1 ? reply_ll(r->element[1]) : job->version + 1;
	job->finished_ms = r->elements > 2 ? reply_ll(r->element[2]) : 0;
	job->cancel_requested = r->elements > 3 && reply_ll(r->element[3]) == 1;
	job->deadline_ms = 0;
	free(job->token);
	free(job->error);
	job->token = job->error = NULL;
	if (result_json) {
		free(job->result);
		job->result = xstrdup(result_json);
	}
}

/* An array of snapshot arrays -> a new array of jobs. */
static size_t take_snapshots(const redisReply *arr, struct queue_job **out)
{
	size_t n = 0;
	struct queue_job *jobs = xcalloc(arr->elements ? arr->elements : 1, sizeof(*jobs));
	for (size_t i = 0; i < arr->elements; i++) {
		parse_snapshot(arr->element[i], 0, &jobs[n]);
		if (jobs[n].known)
			n++;
		else
			queue_job_release(&jobs[n]);
	}
	*out = jobs;
	return n;
}

/* ---- transitions --------------------------------------------------------------------- */

/* Add queue to the P queues set the first time this struct sees it. */
static int register_queue(struct queue *q, const char *queue, struct acme_err *err)
{
	for (size_t i = 0; i < q->nregistered; i++)
		if (strcmp(q->registered[i], queue) == 0)
			return 0;
	char *key = xasprintf("%squeues", q->prefix);
	const char *argv[3] = { "SADD", key, queue };
	redisReply *r = redisCommandArgv(q->rc, 3, argv, NULL);
	free(key);
	if (!r)
		return conn_error(q, err);
	freeReplyObject(r);
	q->registered = xrealloc(q->registered, (q->nregistered + 1) * sizeof(char *));
	q->registered[q->nregistered++] = xstrdup(queue);
	return 0;
}

static int check_json_object(const char *what, const char *text, size_t max, struct acme_err *err)
{
	json_error_t je;
	size_t len = strlen(text);
	if (len > max)
		return acme_err_set(err, ACME_E_DATA, "%s: %zu bytes is more than the %zu allowed",
				    what, len, max);
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return acme_err_set(err, ACME_E_DATA, "%s: not valid JSON: %s (at character %d)",
				    what, je.text, je.position);
	bool obj = json_is_object(j);
	json_decref(j);
	if (!obj)
		return acme_err_set(err, ACME_E_DATA, "%s: expected a JSON object", what);
	return 0;
}

int queue_check_spec(const struct queue_spec *s, struct acme_err *err)
{
	if (queue_check_name("job type", s->type, err) < 0 ||
	    queue_check_name("queue", s->queue, err) < 0 ||
	    (s->id && queue_check_id(s->id, err) < 0))
		return -1;
	if (s->max_attempts < 1)
		return acme_err_set(err, ACME_E_USAGE, "max attempts %d: expected at least 1",
				    s->max_attempts);
	if (s->delay_ms < 0 || s->backoff_ms < 0 || s->backoff_max_ms < 0)
		return acme_err_set(err, ACME_E_USAGE, "delays must not be negative");
	return check_json_object("payload", s->payload ? s->payload : "{}", QUEUE_PAYLOAD_MAX, err);
}

static void enqueue_call(struct call *c, const struct queue *q, const struct queue_spec *s,
			 const char *id)
{
	call_init(c, q, S_ENQUEUE, s->queue, id);
	call_add(c, s->type);
	call_add(c, s->queue);
	call_add(c, s->payload ? s->payload : "{}");
	call_addll(c, s->max_attempts);
	call_addll(c, s->delay_ms);
	call_addll(c, s->backoff_ms);
	call_addll(c, s->backoff_max_ms);
	call_addll(c, s->version > 0 ? s->version : 1);
	call_addll(c, s->attempts > 0 ? s->attempts : 0);
}

int queue_enqueue_many(struct queue *q, const struct queue_spec *specs, size_t n, int *rcs,
		       char (*ids)[QUEUE_ULID_LEN + 1], struct queue_job *out, struct acme_err *err)
{
	struct call *calls = xcalloc(n ? n : 1, sizeof(*calls));
	char id[QUEUE_ULID_LEN + 1];
	int rc = -1;
	size_t built = 0;

	for (size_t i = 0; i < n; i++) {
		if (queue_check_spec(&specs[i], err) < 0 || register_queue(q, specs[i].queue, err) < 0)
			goto out;
		if (!specs[i].id) {
			if (!ids) {
				acme_err_set(err, ACME_E_USAGE, "queue_enqueue_many: no room for "
					     "generated ids");
				goto out;
			}
			if (queue_new_id(id, err) < 0)
				goto out;
			memcpy(ids[i], id, sizeof(id));
		} else if (ids) {
			snprintf(ids[i], sizeof(ids[i]), "%s", "");
		}
		enqueue_call(&calls[i], q, &specs[i], specs[i].id ? specs[i].id : id);
		built++;
	}
	if (calls_run(q, calls, n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		rcs[i] = status_is(calls[i].reply, "exists") ? QUEUE_EXISTS : QUEUE_OK;
		if (out && rcs[i] == QUEUE_EXISTS)
			take_snapshot(calls[i].reply, &out[i]);
		else if (out)
			enqueued_snapshot(calls[i].reply, &specs[i],
					  specs[i].id ? specs[i].id : ids[i], &out[i]);
	}
	rc = 0;
out:
	calls_release(calls, built);
	free(calls);
	return rc;
}

int queue_enqueue(struct queue *q, const struct queue_spec *spec, struct queue_job *out,
		  struct acme_err *err)
{
	struct call c = { 0 };
	char id[QUEUE_ULID_LEN + 1];
	int rc = -1;

	if (queue_check_spec(spec, err) < 0 || register_queue(q, spec->queue, err) < 0)
		return -1;
	if (!spec->id && queue_new_id(id, err) < 0)
		return -1;
	enqueue_call(&c, q, spec, spec->id ? spec->id : id);
	if (call_run(q, &c, err) < 0)
		goto out;
	rc = status_is(c.reply, "exists") ? QUEUE_EXISTS : QUEUE_OK;
	if (rc == QUEUE_EXISTS)
		take_snapshot(c.reply, out);
	else
		enqueued_snapshot(c.reply, spec, spec->id ? spec->id : id, out);
out:
	call_release(&c);
	return rc;
}

/* Try each queue once, in order. QUEUE_OK (job filled) or QUEUE_EMPTY. */
static int dequeue_once(struct queue *q, const char *const *queues, size_t n, long long lease_ms,
			const char *worker, struct queue_job *job, struct acme_err *err)
{
	char token[QUEUE_TOKEN_LEN + 1];
	if (queue_new_token(token, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		for (int tries = 0; tries < 10; tries++) {
			struct call c;
			call_init(&c, q, S_DEQUEUE, queues[i], NULL);
			call_add(&c, token);
			call_addll(&c, lease_ms);
			call_add(&c, worker ? worker : "");
			if (call_run(q, &c, err) < 0) {
				call_release(&c);
				return -1;
			}
			bool ok = status_is(c.reply, "ok"), stale = status_is(c.reply, "stale");
			if (ok)
				take_snapshot(c.reply, job);
			call_release(&c);
			if (ok)
				return QUEUE_OK;
			if (!stale)
				break;
		}
	}
	return QUEUE_EMPTY;
}

int queue_dequeue(struct queue *q, const char *const *queues, size_t n, long long lease_ms,
		  long long wait_ms, const char *worker, struct queue_job *job, struct acme_err *err)
{
	long long until = clock_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	const char **argv = NULL;
	char timeout[32];
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		if (queue_check_name("queue", queues[i], err) < 0)
			return -1;
	if (n == 0)
		return acme_err_set(err, ACME_E_USAGE, "dequeue: no queue given");
	if (q->fetched)
		for (size_t i = 0; i < n; i++)
			if (strcmp(queues[i], q->fetched->queue) == 0) {
				*job = *q->fetched;
				free(q->fetched);
				q->fetched = NULL;
				return QUEUE_OK;
			}
	if (lease_ms <= 0)
		return acme_err_set(err, ACME_E_USAGE, "lease %lld ms: expected more than 0", lease_ms);
	/* BRPOP P{Q1}:wake P{Q2}:wake ... timeout */
	argv = xcalloc(n + 2, sizeof(char *));
	argv[0] = "BRPOP";
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = xasprintf("%s{%s}:wake", q->prefix, queues[i]);
	argv[n + 1] = timeout;
	for (;;) {
		rc = dequeue_once(q, queues, n, lease_ms, worker, job, err);
		if (rc != QUEUE_EMPTY)
			break;
		long long left = until - clock_mono_ms();
		if (left <= 0 || (q->stop && *q->stop))
			break;
		if (left > q->block_ms)
			left = q->block_ms;
		snprintf(timeout, sizeof(timeout), "%.3f", (double)left / 1000.0);
		redisReply *r = redisCommandArgv(q->rc, (int)n + 2, argv, NULL);
		if (!r) {
			conn_error(q, err);
			acme_err_prefix(err, "waiting for jobs (the connection's command timeout "
					"must exceed %d ms)", q->block_ms);
			rc = -1;
			break;
		}
		bool bad = r->type == REDIS_REPLY_ERROR;
		if (rds_note_reply(q->rc, r))
			conn_error(q, err);
		else if (bad)
			acme_err_set(err, ACME_E_FAILURE, "redis: waiting for jobs: %s", r->str);
		freeReplyObject(r);
		if (bad) {
			rc = -1;
			break;
		}
	}
	for (size_t i = 0; i < n; i++)
		free((char *)argv[i + 1]);
	free(argv);
	return rc;
}

/* A call on a job this process holds: id and token from job. */
static void held_call(struct call *c, const struct queue *q, enum script s,
		      const struct queue_job *job)
{
	call_init(c, q, s, job->queue, job->id);
	call_add(c, job->token ? job->token : "");
}

/* Run a call on a held job: -1, QUEUE_LOST, or QUEUE_OK (alt_rc when the
 * status is alt) with the reply left in c for the caller to apply. */
static int held_exec(struct queue *q, struct call *c, const char *alt, int alt_rc,
		     struct acme_err *err)
{
	if (call_run(q, c, err) < 0)
		return -1;
	if (status_is(c->reply, "lost"))
		return QUEUE_LOST;
	return alt && status_is(c->reply, alt) ? alt_rc : QUEUE_OK;
}

/* held_exec(), then the snapshot the script answered replaces job (not on
 * QUEUE_LOST); c is released. */
static int held_run(struct queue *q, struct call *c, struct queue_job *job, const char *alt,
		    int alt_rc, struct acme_err *err)
{
	int rc = held_exec(q, c, alt, alt_rc, err);
	if (rc >= 0 && rc != QUEUE_LOST)
		take_snapshot(c->reply, job);
	call_release(c);
	return rc;
}

static int check_held(const struct queue_job *job, struct acme_err *err)
{
	if (!job || !job->id || !job->queue || !job->token)
		return acme_err_set(err, ACME_E_USAGE, "queue: the job is not held (no lease token)");
	return 0;
}

int queue_heartbeat(struct queue *q, struct queue_job *job, long long lease_ms, struct acme_err *err)
{
	struct call c;
	if (check_held(job, err) < 0)
		return -1;
	held_call(&c, q, S_HEARTBEAT, job);
	call_addll(&c, lease_ms > 0 ? lease_ms : 1);
	return held_run(q, &c, job, "cancel", QUEUE_CANCEL, err);
}

int queue_raise_version(struct queue *q, struct queue_job *job, long long min_version,
			struct acme_err *err)
{
	struct call c;
	if (check_held(job, err) < 0)
		return -1;
	held_call(&c, q, S_RAISE, job);
	call_addll(&c, min_version);
	return held_run(q, &c, job, NULL, 0, err);
}

int queue_progress(struct queue *q, struct queue_job *job, const char *progress_json,
		   struct acme_err *err)
{
	struct call c;
	if (check_held(job, err) < 0 ||
	    check_json_object("progress", progress_json, QUEUE_RESULT_MAX, err) < 0)
		return -1;
	held_call(&c, q, S_PROGRESS, job);
	call_add(&c, progress_json);
	return held_run(q, &c, job, "cancel", QUEUE_CANCEL, err);
}

void queue_set_fetch(struct queue *q, const struct queue_fetch *f)
{
	free(q->fetch);
	q->fetch = NULL;
	if (f) {
		q->fetch = xmalloc(sizeof(*f));
		*q->fetch = *f;
	}
}

/* The ack (c, ready to run) and a dequeue of the fetch queue behind it, in
 * one round trip. The ack's answer is held_run()'s; a job taken goes to
 * q->fetched. A queue found empty, paused or stale fetches nothing: the
 * next queue_dequeue() asks again as usual. */
static int ack_and_fetch(struct queue *q, struct call *ack, struct queue_job *job,
			 const char *result_json, struct acme_err *err)
{
	char token[QUEUE_TOKEN_LEN + 1];
	struct call calls[2];
	int rc = -1;

	if (queue_new_token(token, err) < 0) {
		call_release(ack);
		return -1;
	}
	calls[0] = *ack;
	call_init(&calls[1], q, S_DEQUEUE, q->fetch->queue, NULL);
	call_add(&calls[1], token);
	call_addll(&calls[1], q->fetch->lease_ms);
	call_add(&calls[1], q->fetch->worker ? q->fetch->worker : "");
	if (calls_run(q, calls, 2, err) < 0)
		goto out;
	if (status_is(calls[1].reply, "ok")) {
		q->fetched = xcalloc(1, sizeof(*q->fetched));
		take_snapshot(calls[1].reply, q->fetched);
		if (q->fetch->on_fetch)
			q->fetch->on_fetch(q->fetched, q->fetch->arg);
	}
	if (status_is(calls[0].reply, "lost")) {
		rc = QUEUE_LOST;
		goto out;
	}
	acked_snapshot(calls[0].reply, result_json, job);
	rc = QUEUE_OK;
out:
	calls_release(calls, 2);
	return rc;
}

int queue_return_fetched(struct queue *q, struct acme_err *err)
{
	if (!q->fetched)
		return 0;
	struct queue_job *job = q->fetched;
	q->fetched = NULL;
	int r = queue_release_job(q, job, err);
	queue_job_release(job);
	free(job);
	return r < 0 ? -1 : 1;
}

int queue_ack(struct queue *q, struct queue_job *job, const char *result_json, struct acme_err *err)
{
	struct call c;
	if (check_held(job, err) < 0)
		return -1;
	if (result_json) {
		json_error_t je;
		size_t len = strlen(result_json);
		json_t *j = len <= QUEUE_RESULT_MAX ? json_loadb(result_json, len, JSON_DECODE_ANY, &je) : NULL;
		if (!j)
			return acme_err_set(err, ACME_E_DATA, "job result: not valid JSON of at most "
					    "%d bytes", QUEUE_RESULT_MAX);
		json_decref(j);
	}
	held_call(&c, q, S_ACK, job);
	call_add(&c, result_json ? result_json : "");
	call_addll(&c, q->keep_ms);
	if (q->fetch && !q->fetched)
		return ack_and_fetch(q, &c, job, result_json, err);
	int rc = held_exec(q, &c, NULL, 0, err);
	if (rc == QUEUE_OK)
		acked_snapshot(c.reply, result_json, job);
	call_release(&c);
	return rc;
}

/* The error text as valid UTF-8 (bytes that are not become '?') of at most
 * QUEUE_ERROR_MAX bytes, cut between characters: it is mirrored to
 * jobs.error, and PostgreSQL refuses anything else (with the whole batch of
 * mirror writes it is in), and it goes into the JSON of events. */
static void call_add_error(struct call *c, const char *error)
{
	const char *e = error ? error : "";
	char *clean = utf8_clean(e, strlen(e), QUEUE_ERROR_MAX);
	call_add(c, clean);
	free(clean);
}

static void fail_call(struct call *c, const struct queue *q, const struct queue_job *job,
		      const char *error, bool permanent, bool reap)
{
	held_call(c, q, S_FAIL, job);
	call_add_error(c, error && error[0] ? error : "failed (no error message)");
	call_addll(c, queue_backoff_ms(job->attempts, job->backoff_ms, job->backoff_max_ms,
				       queue_random_unit()));
	call_add(c, permanent ? "1" : "0");
	call_add(c, reap ? "1" : "0");
	call_addll(c, q->keep_ms);
}

int queue_fail(struct queue *q, struct queue_job *job, const char *error, bool permanent,
	       struct acme_err *err)
{
	struct call c;
	if (check_held(job, err) < 0)
		return -1;
	fail_call(&c, q, job, error, permanent, false);
	return held_run(q, &c, job, NULL, 0, err);
}

int queue_release_job(struct queue *q, struct queue_job *job, struct acme_err *err)
{
	struct call c;
	if (check_held(job, err) < 0)
		return -1;
	held_call(&c, q, S_RELEASE, job);
	call_addll(&c, q->keep_ms);
	return held_run(q, &c, job, NULL, 0, err);
}

int queue_release_lost(struct queue *q, struct queue_job *job, int max_free, const char *why,
		       bool *counted, struct acme_err *err)
{
	*counted = false;
	if (check_held(job, err) < 0)
		return -1;
	/* the count lives in the job's hash beside the snapshot's fields (not
	 * one of them), counted only by the lease's holder; a hash that is gone
	 * is not made again. The count and the release are two steps: a lease
	 * lost between them makes the release answer QUEUE_LOST. */
	char *key = xasprintf("%s{%s}:job:%s", q->prefix, job->queue, job->id);
	redisReply *r = redisCommand(q->rc, "EVAL %s 1 %s %s",
				     "local h = redis.call('HMGET', KEYS[1], 'state', 'token') "
				     "if h[1] ~= 'running' or h[2] ~= ARGV[1] then return -1 end "
				     "return redis.call('HINCRBY', KEYS[1], 'freed', 1)", key, job->token);
	free(key);
	if (!r)
		return conn_error(q, err);
	if (rds_note_reply(q->rc, r)) {
		freeReplyObject(r);
		return conn_error(q, err);
	}
	if (r->type != REDIS_REPLY_INTEGER) {
		acme_err_set(err, ACME_E_FAILURE, "redis: counting the releases of job %s: %s", job->id,
			     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
		freeReplyObject(r);
		return -1;
	}
	long long n = r->integer;
	freeReplyObject(r);
	if (n < 0)
		return QUEUE_LOST;      /* reaped or taken over: not ours to give back */
	if (n > max_free) {
		*counted = true;
		return queue_fail(q, job, why, false, err);
	}
	return queue_release_job(q, job, err);
}

/* A script on a queue (no job) answering an array of snapshots. */
static int snapshots_call(struct queue *q, enum script s, const char *queue, long long arg,
			  struct queue_job **out, size_t *n, struct acme_err *err)
{
	struct call c;
	struct queue_job *jobs = NULL;
	size_t count = 0;

	if (queue_check_name("queue", queue, err) < 0)
		return -1;
	call_init(&c, q, s, queue, NULL);
	call_addll(&c, arg);
	if (call_run(q, &c, err) < 0) {
		call_release(&c);
		return -1;
	}
	count = take_snapshots(c.reply, &jobs);
	call_release(&c);
	if (out) {
		*out = jobs;
		*n = count;
	} else {
		queue_jobs_free(jobs, count);
	}
	return (int)count;
}

int queue_reap(struct queue *q, const char *queue, size_t limit, struct queue_job **out,
	       size_t *n, struct acme_err *err)
{
	struct queue_job *expired = NULL, *reaped = NULL;
	struct call *calls = NULL;
	size_t nexp = 0, nreaped = 0;
	int rc = -1;

	if (out) {
		*out = NULL;
		*n = 0;
	}
	if (snapshots_call(q, S_EXPIRED, queue, (long long)(limit ? limit : 100), &expired, &nexp,
			   err) < 0)
		return -1;
	calls = xcalloc(nexp ? nexp : 1, sizeof(*calls));
	for (size_t i = 0; i < nexp; i++) {
		char msg[256];
		snprintf(msg, sizeof(msg), "lease expired: worker %s stopped sending heartbeats "
			 "(attempt %d of %d)", expired[i].worker && expired[i].worker[0] ?
			 expired[i].worker : "(unknown)", expired[i].attempts, expired[i].max_attempts);
		fail_call(&calls[i], q, &expired[i], msg, false, true);
	}
	if (nexp && calls_run(q, calls, nexp, err) < 0)
		goto out;
	reaped = xcalloc(nexp ? nexp : 1, sizeof(*reaped));
	for (size_t i = 0; i < nexp; i++)
		if (status_is(calls[i].reply, "ok"))
			parse_snapshot(calls[i].reply, 1, &reaped[nreaped++]);
	rc = (int)nreaped;
	if (out) {
		*out = reaped;
		*n = nreaped;
		reaped = NULL;
		nreaped = 0;
	}
out:
	calls_release(calls, nexp);
	free(calls);
	queue_jobs_free(expired, nexp);
	queue_jobs_free(reaped, nreaped);
	return rc;
}

int queue_promote(struct queue *q, const char *queue, size_t limit, struct queue_job **out,
		  size_t *n, struct acme_err *err)
{
	if (out) {
		*out = NULL;
		*n = 0;
	}
	return snapshots_call(q, S_PROMOTE, queue, (long long)(limit ? limit : 1000), out, n, err);
}

/* A per-job script (no token) answering a status and maybe a snapshot. */
static int job_call(struct queue *q, struct call *c, struct queue_job *out, struct acme_err *err)
{
	if (call_run(q, c, err) < 0)
		return -1;
	if (out) {
		queue_job_release(out);
		parse_snapshot(c->reply, 1, out);
	}
	return 0;
}

int queue_cancel(struct queue *q, const char *queue, const char *id, struct queue_job *out,
		 struct acme_err *err)
{
	struct call c;
	int rc = -1;
	if (queue_check_name("queue", queue, err) < 0 || queue_check_id(id, err) < 0)
		return -1;
	call_init(&c, q, S_CANCEL, queue, id);
	call_addll(&c, q->keep_ms);
	if (job_call(q, &c, out, err) == 0)
		rc = status_is(c.reply, "missing") ? QUEUE_MISSING :
		     status_is(c.reply, "requested") ? QUEUE_REQUESTED :
		     status_is(c.reply, "final") ? QUEUE_FINAL : QUEUE_OK;
	call_release(&c);
	return rc;
}

int queue_requeue(struct queue *q, const struct queue_spec *spec, long long created_ms,
		  struct queue_job *out, struct acme_err *err)
{
	struct call c;
	int rc = -1;
	if (!spec->id)
		return acme_err_set(err, ACME_E_USAGE, "requeue: no job id");
	if (queue_check_spec(spec, err) < 0 || register_queue(q, spec->queue, err) < 0)
		return -1;
	call_init(&c, q, S_REQUEUE, spec->queue, spec->id);
	call_add(&c, spec->type);
	call_add(&c, spec->queue);
	call_add(&c, spec->payload ? spec->payload : "{}");
	call_addll(&c, spec->max_attempts);
	call_addll(&c, spec->backoff_ms);
	call_addll(&c, spec->backoff_max_ms);
	call_addll(&c, spec->version);
	call_addll(&c, created_ms);
	if (job_call(q, &c, out, err) == 0)
		rc = status_is(c.reply, "busy") ? QUEUE_BUSY : QUEUE_OK;
	call_release(&c);
	return rc;
}

int queue_versions(struct queue *q, const char *const *queues, const char *const *ids, size_t n,
		   long long *versions, struct acme_err *err)
{
	for (size_t i = 0; i < n; i++) {
		char *key = xasprintf("%s{%s}:job:%s", q->prefix, queues[i], ids[i]);
		const char *argv[3] = { "HGET", key, "version" };
		int ok = redisAppendCommandArgv(q->rc, 3, argv, NULL);
		free(key);
		if (ok != REDIS_OK)
			return conn_error(q, err);
	}
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		redisReply *r = NULL;
		if (redisGetReply(q->rc, (void **)&r) != REDIS_OK || !r)
			return conn_error(q, err);
		if (r->type == REDIS_REPLY_STRING)
			versions[i] = strtoll(r->str, NULL, 10);
		else if (r->type == REDIS_REPLY_NIL)
			versions[i] = -1;
		else if (rc == 0)
			rc = acme_err_set(err, ACME_E_FAILURE, "redis: reading job %s: %s", ids[i],
					  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
		freeReplyObject(r);
	}
	return rc;
}

int queue_register_names(struct queue *q, const char *const *names, size_t n,
			 struct acme_err *err)
{
	if (n == 0)
		return 0;
	const char **argv = xcalloc(n + 2, sizeof(*argv));
	char *key = xasprintf("%squeues", q->prefix);
	argv[0] = "SADD";
	argv[1] = key;
	for (size_t i = 0; i < n; i++)
		argv[2 + i] = names[i];
	redisReply *r = redisCommandArgv(q->rc, (int)n + 2, argv, NULL);
	free(key);
	free(argv);
	if (!r)
		return conn_error(q, err);
	if (rds_note_reply(q->rc, r)) {
		freeReplyObject(r);
		return conn_error(q, err);
	}
	int rc = r->type == REDIS_REPLY_ERROR ? acme_err_set(err, ACME_E_FAILURE, "redis: %s",
							    r->str) : 0;
	freeReplyObject(r);
	return rc;
}

int queue_get(struct queue *q, const char *queue, const char *id, struct queue_job *out,
	      struct acme_err *err)
{
	static const char *const fields[] = {
#define X(f) #f,
		QUEUE_FIELDS(X)
#undef X
	};
	const char *argv[2 + F__COUNT];
	int rc = -1;

	if (queue_check_name("queue", queue, err) < 0 || queue_check_id(id, err) < 0)
		return -1;
	char *key = xasprintf("%s{%s}:job:%s", q->prefix, queue, id);
	argv[0] = "HMGET";
	argv[1] = key;
	for (int i = 0; i < F__COUNT; i++)
		argv[2 + i] = fields[i];
	redisReply *r = redisCommandArgv(q->rc, 2 + F__COUNT, argv, NULL);
	if (!r) {
		conn_error(q, err);
		goto out;
	}
	if (r->type != REDIS_REPLY_ARRAY) {
		acme_err_set(err, ACME_E_FAILURE, "redis: reading job %s: %s", id,
			     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
		goto out;
	}
	queue_job_release(out);
	parse_snapshot(r, 0, out);
	rc = out->known ? QUEUE_OK : QUEUE_MISSING;
out:
	if (r)
		freeReplyObject(r);
	free(key);
	return rc;
}

static int pause_call(struct queue *q, enum script s, const char *queue, bool *was,
		      struct acme_err *err)
{
	struct call c;
	int rc = -1;
	if (queue_check_name("queue", queue, err) < 0 || register_queue(q, queue, err) < 0)
		return -1;
	call_init(&c, q, s, queue, NULL);
	if (call_run(q, &c, err) == 0) {
		if (was)
			*was = c.reply->elements > 1 && reply_ll(c.reply->element[1]) > 0;
		rc = QUEUE_OK;
	}
	call_release(&c);
	return rc;
}

int queue_pause(struct queue *q, const char *queue, bool *was, struct acme_err *err)
{
	return pause_call(q, S_PAUSE, queue, was, err);
}

int queue_resume(struct queue *q, const char *queue, bool *was, struct acme_err *err)
{
	return pause_call(q, S_RESUME, queue, was, err);
}

int queue_purge(struct queue *q, const char *queue, struct queue_job **out, size_t *n,
		struct acme_err *err)
{
	struct queue_job *all = NULL;
	size_t nall = 0;
	int rc = -1;

	if (out) {
		*out = NULL;
		*n = 0;
	}
	if (queue_check_name("queue", queue, err) < 0)
		return -1;
	for (;;) {
		struct call c;
		call_init(&c, q, S_PURGE, queue, NULL);
		call_addll(&c, 500);
		call_addll(&c, q->keep_ms);
		if (call_run(q, &c, err) < 0) {
			call_release(&c);
			goto out;
		}
		long long removed = c.reply->elements > 0 ? reply_ll(c.reply->element[0]) : 0;
		if (c.reply->elements > 1) {
			struct queue_job *batch;
			size_t nb = take_snapshots(c.reply->element[1], &batch);
			all = xrealloc(all, (nall + nb + 1) * sizeof(*all));
			memcpy(all + nall, batch, nb * sizeof(*batch));
			nall += nb;
			free(batch);
		}
		call_release(&c);
		if (removed == 0)
			break;
	}
	rc = (int)nall;
	if (out) {
		*out = all;
		*n = nall;
		all = NULL;
		nall = 0;
	}
out:
	queue_jobs_free(all, nall);
	return rc;
}

int queue_purge_dead(struct queue *q, const char *queue, long long older_than_ms,
		     struct acme_err *err)
{
	long long total = 0;
	const long long batch = 500;
	if (queue_check_name("queue", queue, err) < 0)
		return -1;
	for (;;) {
		struct call c;
		call_init(&c, q, S_PURGE_DEAD, queue, NULL);
		call_addll(&c, older_than_ms);
		call_addll(&c, batch);
		if (call_run(q, &c, err) < 0) {
			call_release(&c);
			return -1;
		}
		long long got = c.reply->elements > 1 ? reply_ll(c.reply->element[1]) : 0;
		call_release(&c);
		total += got;
		if (got < batch)
			break;
	}
	return (int)total;
}

int queue_forget(struct queue *q, const char *queue, const char *const *ids, size_t n,
		 struct acme_err *err)
{
	struct call *calls = xcalloc(n ? n : 1, sizeof(*calls));
	int rc = -1;
	size_t built = 0;

	if (queue_check_name("queue", queue, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (queue_check_id(ids[i], err) < 0)
			goto out;
		call_init(&calls[i], q, S_FORGET, queue, ids[i]);
		built++;
	}
	if (n && calls_run(q, calls, n, err) < 0)
		goto out;
	rc = 0;
	for (size_t i = 0; i < n; i++)
		rc += status_is(calls[i].reply, "ok");
out:
	calls_release(calls, built);
	free(calls);
	return rc;
}

/* The stats script's answer into st (zeros for a short answer). */
static void stats_parse(const redisReply *r, struct queue_stats *st)
{
	if (r->elements < 10)
		return;
	st->now_ms = reply_ll(r->element[1]);
	st->ready = reply_ll(r->element[2]);
	st->scheduled = reply_ll(r->element[3]);
	st->running = reply_ll(r->element[4]);
	st->dead = reply_ll(r->element[5]);
	st->paused = reply_ll(r->element[6]) > 0;
	st->oldest_ready_ms = reply_ll(r->element[7]);
	st->next_due_ms = reply_ll(r->element[8]);
	const redisReply *h = r->element[9];
	for (size_t i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
		const char *k = h->element[i]->str;
		long long v = reply_ll(h->element[i + 1]);
		if (!k)
			continue;
		if (strcmp(k, "enqueued") == 0)
			st->enqueued = v;
		else if (strcmp(k, "succeeded") == 0)
			st->succeeded = v;
		else if (strcmp(k, "retried") == 0)
			st->retried = v;
		else if (strcmp(k, "failed") == 0)
			st->failed = v;
		else if (strcmp(k, "dead") == 0)
			st->dead_total = v;
		else if (strcmp(k, "cancelled") == 0)
			st->cancelled = v;
		else if (strcmp(k, "requeued") == 0)
			st->requeued = v;
	}
}

int queue_stats(struct queue *q, const char *queue, struct queue_stats *st, struct acme_err *err)
{
	struct call c;
	memset(st, 0, sizeof(*st));
	if (queue_check_name("queue", queue, err) < 0)
		return -1;
	call_init(&c, q, S_STATS, queue, NULL);
	if (call_run(q, &c, err) < 0) {
		call_release(&c);
		return -1;
	}
	stats_parse(c.reply, st);
	call_release(&c);
	return QUEUE_OK;
}

/* The non-blocking form sends EVAL with the script's text rather than
 * EVALSHA: a NOSCRIPT answer would need a second round trip. */
int queue_stats_start(struct rdscall *rc, struct queue *q, const char *queue, long deadline_ms,
		      struct acme_err *err)
{
	struct call c;
	if (queue_check_name("queue", queue, err) < 0)
		return -1;
	call_init_as(&c, q, S_STATS, queue, NULL, true);
	call_seal(&c);
	int r = rdscall_start(rc, q->rc, c.argc, c.argv, c.len, deadline_ms, err);
	call_release(&c);
	return r;
}

int queue_stats_finish(struct rdscall *rc, struct queue_stats *st, struct acme_err *err)
{
	memset(st, 0, sizeof(*st));
	redisReply *r = rdscall_finish(rc, err);
	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return acme_err_set(err, ACME_E_FAILURE, "redis: queue %s script: unexpected answer",
				    script_names[S_STATS]);
	}
	stats_parse(r, st);
	freeReplyObject(r);
	return QUEUE_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int queue_names(struct queue *q, char ***names, struct acme_err *err)
{
	char *key = xasprintf("%squeues", q->prefix);
	const char *argv[2] = { "SMEMBERS", key };
	redisReply *r = redisCommandArgv(q->rc, 2, argv, NULL);
	free(key);
	*names = NULL;
	if (!r)
		return conn_error(q, err);
	if (r->type != REDIS_REPLY_ARRAY) {
		acme_err_set(err, ACME_E_FAILURE, "redis: listing queues: %s",
			     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
		freeReplyObject(r);
		return -1;
	}
	char **v = xcalloc(r->elements + 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < r->elements; i++)
		if ((v[n] = reply_str(r->element[i])))
			n++;
	freeReplyObject(r);
	qsort(v, n, sizeof(char *), cmp_str);
	*names = v;
	return (int)n;
}
