/* whdeliver.c — the job types that deliver webhooks: `event.dispatch` and
 * `webhook.deliver` (see webhook.h for the path of an event).
 *
 * The deliverer ("pump") is one job that runs for as long as there is work:
 *
 *   claim    In one short transaction under an advisory lock, take due
 *            deliveries (pending or retrying, next_attempt_at <= now) of
 *            enabled endpoints, at most max_in_flight_per_endpoint in flight
 *            per endpoint counting every worker's (status 'delivering' with
 *            an unexpired claim), and mark them delivering with a claim that
 *            expires after the request timeout plus a margin. A slow endpoint
 *            therefore only ever occupies its own cap; everyone else's
 *            deliveries are claimed and sent beside it.
 *   send     Each claimed delivery becomes a libcurl easy handle on one multi
 *            handle: the stored body byte for byte, the Standard Webhooks
 *            headers signed for this attempt (and with the previous secret
 *            too during a rotation), connect and total timeouts, no
 *            redirects, http/https only, no proxy, and the outgoing-request
 *            guard in the open-socket callback, after DNS, so a name that
 *            resolves (or is rebound) to a private address is refused; and
 *            again on the peer of every transfer before its request is sent,
 *            so a guarded transfer cannot ride a pooled connection opened
 *            for an --allow-private endpoint on the same host and port.
 *   record   Finished transfers are recorded in one transaction per batch:
 *            the attempt row, the delivery's new state (fenced by its attempt
 *            number, so a deliverer whose claim expired cannot overwrite a
 *            newer one), retries by the schedule or Retry-After, and the
 *            endpoint's failure count, which disables it past the threshold;
 *            410 Gone disables it at once.
 *
 * The job queue gives a worker child one job at a time, so while a pump runs
 * it also takes the next jobs of its queue itself (dispatches mostly) and
 * runs them inline: a new event is dispatched and its deliveries claimed
 * within ~50 ms even while a slow endpoint holds transfers open. A
 * `webhook.deliver` job that arrives meanwhile has nothing left to do. When
 * nothing is due within PUMP_LINGER_MS, the pump enqueues a delayed
 * `webhook.deliver` for the next due retry and ends; after PUMP_MAX_MS it
 * stops claiming, finishes what is in flight and hands over to a new job.
 * On shutdown it aborts its transfers and gives their claims back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/failpoint.h"
#include "core/job.h"
#include "core/log.h"
#include "core/netguard.h"
#include "core/outbox.h"
#include "core/rds.h"
#include "core/strbuf.h"
#include "core/version.h"
#include "core/webhook.h"
#include "core/whdeliver.h"
#include "core/whsecret.h"
#include "core/whsig.h"
#include "core/xalloc.h"

#define PUMP_MAX_MS          (5 * 60 * 1000)   /* then hand over to a fresh job */
#define PUMP_LINGER_MS       10000             /* wait for retries due this soon */
#define PUMP_IDLE_EXIT_MS    1500              /* nothing to do this long: check, end */
#define DEQUEUE_EVERY_MS     50
#define CLAIM_IDLE_MS        100
#define CLAIM_MARGIN_MS      60000             /* claim = timeout + this */
#define RESPONSE_READ_MAX    (256 * 1024)      /* read at most this much of a response */
#define RESPONSE_HEADERS_MAX 50
#define CLAIM_LOCK_KEY       "7413520301"      /* pg_advisory_xact_lock: claims, one at a time */

/* A deliverer runs in this process: dispatches run inline and do not wake
 * another; a `webhook.deliver` job taken inline has nothing to do. */
static bool pump_active;

/* PQexecParams with per-parameter lengths and formats (bytea as binary). */
static PGresult *exec_bin(PGconn *db, struct acme_err *err, const char *sql, int n,
			  const char *const *values, const int *lengths, const int *formats)
{
	return db_check(db, PQexecParams(db, sql, n, NULL, values, lengths, formats, 0), err);
}

#define CLAIM_STMT  "acmectl_webhook_claim"
#define RECORD_STMT "acmectl_webhook_record"

/* Prepare the hot statements on this connection (once per session: the
 * worker child keeps its connection between jobs). */
static int prepare(PGconn *db, const char *name, const char *sql, int nparams,
		   struct acme_err *err)
{
	PGresult *res = PQprepare(db, name, sql, nparams, NULL);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && strcmp(db_sqlstate(res), "42P05") != 0)   /* exists already */
		rc = db_error(db, res, err, "postgresql: preparing %s", name);
	PQclear(res);
	return rc;
}

static PGresult *exec_prepared(PGconn *db, struct acme_err *err, const char *name, int n,
			       const char *const *values)
{
	return db_check(db, PQexecPrepared(db, name, n, values, NULL, NULL, 0), err);
}

/* A Redis queue handle for enqueueing from a handler, on the configuration
 * the worker loaded. */
struct handle_queue {
	redisContext *rc;
	struct queue q;
	bool open;
};

static int hq_open(struct handle_queue *h, struct acme_err *err)
{
	const struct config *cfg = config_current();
	memset(h, 0, sizeof(*h));
	if (!cfg)
		return acme_err_set(err, ACME_E_CONFIG, "webhooks: no configuration loaded");
	if (!(h->rc = rds_connect(cfg, 5000, err)))
		return -1;
	if (queue_init(&h->q, h->rc, config_get(cfg, CFG_REDIS_PREFIX), err) < 0) {
		redisFree(h->rc);
		h->rc = NULL;
		return -1;
	}
	h->open = true;
	return 0;
}

static void hq_close(struct handle_queue *h)
{
	if (h->open)
		queue_release(&h->q);
	if (h->rc)
		redisFree(h->rc);
	memset(h, 0, sizeof(*h));
}

/* ==== event.dispatch ===================================================================== */

static int bad_payload(struct job_run *run, struct acme_err *err, const char *what)
{
	run->permanent = true;
	return acme_err_set(err, ACME_E_DATA, "event.dispatch: %s", what);
}

/* Every enabled endpoint subscribed to the type, to its family ("product.*"
 * for product.created: webhook_event_matches()) or to "*"; for webhook.test,
 * the one endpoint named in data.webhook_id, enabled or not. */
static const char dispatch_sql[] =
	"WITH m AS (SELECT id FROM webhooks WHERE CASE WHEN $2 = 'webhook.test' "
	"  THEN id = $4::bigint ELSE enabled AND events && "
	"  ARRAY[$2, '*', split_part($2, '.', 1) || '.*']::text[] END), "
	"ins AS (INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, "
	"  next_attempt_at) SELECT m.id, $1, $2, $3::bytea, now() FROM m "
	"  ON CONFLICT (webhook_id, event_id) WHERE redelivery_of IS NULL DO NOTHING RETURNING 1) "
	"SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM ins)";

/* An event id of the outbox: "evt_<row id>" -> the row id, else 0. */
static long long outbox_row_of(const char *event_id)
{
	size_t head = strlen(OUTBOX_EVENT_ID_HEAD);
	if (!event_id || strncmp(event_id, OUTBOX_EVENT_ID_HEAD, head) != 0)
		return 0;
	const char *d = event_id + head;
	size_t n = strspn(d, "0123456789");
	if (n == 0 || n > 18 || d[n] != '\0' || d[0] == '0')
		return 0;
	return strtoll(d, NULL, 10);
}

/* The event a dispatch job names is read from its outbox row, never from the
 * job's payload: the payload travels through Redis, and whoever can write to
 * Redis must not be able to make a worker sign and send content of their own
 * (acmectl(7)). A job naming an event that is not in the outbox fails for
 * good and sends nothing. */
int webhook_dispatch_run(struct job_run *run, struct acme_err *err)
{
	json_t *pl = run->payload;
	const char *event_id = json_string_value(json_object_get(pl, "event_id"));
	const char *type, *created;
	json_t *data = NULL;
	PGresult *ev = NULL;
	char *body = NULL;
	json_t *doc = NULL;
	long long wid = 0, matched = 0, created_n = 0;
	int rc = -1;

	long long row = outbox_row_of(event_id);
	if (row <= 0)
		return bad_payload(run, err, "payload needs \"event_id\", an event of the outbox "
				   "(" OUTBOX_EVENT_ID_HEAD "<number>)");
	if (!run->db) {
		run->permanent = true;
		return acme_err_set(err, ACME_E_USAGE, "event.dispatch needs PostgreSQL");
	}
	char rowt[24];
	snprintf(rowt, sizeof(rowt), "%lld", row);
	const char *rp[1] = { rowt };
	ev = db_exec(run->db, err, "SELECT event_type, payload::text, " CLOCK_SQL_TEXT("created_at")
		     " FROM outbox WHERE id = $1::bigint", 1, rp);
	if (!ev)
		return acme_err_prefix(err, "event.dispatch: reading event %s", event_id);
	if (PQntuples(ev) == 0) {
		PQclear(ev);
		run->permanent = true;
		return acme_err_set(err, ACME_E_NOT_FOUND, "event.dispatch: event %s is not in the "
				    "outbox (never written, or removed by housekeeping); nothing is "
				    "sent", event_id);
	}
	type = PQgetvalue(ev, 0, 0);
	created = PQgetvalue(ev, 0, 2);
	data = json_loads(PQgetvalue(ev, 0, 1), 0, NULL);
	if (!json_is_object(data)) {
		rc = bad_payload(run, err, "the outbox row's payload is not a JSON object");
		goto out;
	}
	if (strcmp(type, WEBHOOK_EVENT_TEST) == 0) {
		json_t *w = json_object_get(data, "webhook_id");
		if (!json_is_integer(w) || json_integer_value(w) <= 0) {
			rc = bad_payload(run, err, "a webhook.test event needs data.webhook_id");
			goto out;
		}
		wid = json_integer_value(w);
	}
	/* a smoke test's event goes nowhere (but its own endpoint's test) */
	if (!wid && json_is_true(json_object_get(data, OUTBOX_SMOKE_KEY))) {
		run->result = json_pack("{s:s, s:s, s:I, s:I, s:s}", "event_id", event_id, "type", type,
					"endpoints", (json_int_t)0, "deliveries_created", (json_int_t)0,
					"skipped", "a smoke test's event");
		char *result = json_dumps(run->result, JSON_COMPACT);
		struct acme_err lerr;
		int crc = db_begin(run->db, NULL, err);
		if (crc == 0 && (crc = job_commit(run->db, run->job, JOB_SUCCEEDED, result, NULL,
						  &lerr)) < 0) {
			if (lerr.code == ACME_E_NOT_FOUND)
				crc = db_commit(run->db, &lerr);
			if (crc < 0) {
				*err = lerr;
				if (PQtransactionStatus(run->db) != PQTRANS_IDLE)
					db_rollback(run->db);
			}
		}
		free(result);
		rc = crc < 0 ? -1 : 0;
		goto out;
	}

	/* the body, built once: every endpoint and every attempt gets these bytes */
	doc = json_pack("{s:s, s:s, s:s, s:o}", "id", event_id, "type", type, "timestamp", created,
			"data", json_incref(data));
	body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!body) {
		rc = bad_payload(run, err, "cannot encode the event as JSON");
		goto out;
	}

	char widt[24];
	snprintf(widt, sizeof(widt), "%lld", wid);
	const char *p[4] = { event_id, type, body, widt };
	int lens[4] = { 0, 0, (int)strlen(body), 0 };
	int fmts[4] = { 0, 0, 1, 0 };
	if (db_begin(run->db, NULL, err) < 0)
		goto out;
	PGresult *res = exec_bin(run->db, err, dispatch_sql, 4, p, lens, fmts);
	if (!res)
		goto rollback;
	matched = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	created_n = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	run->result = json_pack("{s:s, s:s, s:I, s:I}", "event_id", event_id, "type", type,
				"endpoints", (json_int_t)matched, "deliveries_created",
				(json_int_t)created_n);
	/* the deliveries and the job's outcome commit together (job_commit); a
	 * job enqueued to Redis only (no row) commits its idempotent rows alone */
	char *result = json_dumps(run->result, JSON_COMPACT);
	struct acme_err lerr;
	int crc = job_commit(run->db, run->job, JOB_SUCCEEDED, result, NULL, &lerr);
	free(result);
	if (crc < 0 && lerr.code == ACME_E_NOT_FOUND)
		crc = db_commit(run->db, &lerr);
	if (crc < 0) {
		*err = lerr;
		if (PQtransactionStatus(run->db) == PQTRANS_IDLE)
			goto out;
		goto rollback;
	}

	/* wake a deliverer, unless one runs right here (it claims them next) */
	if (matched > 0 && !pump_active) {
		struct handle_queue hq;
		char jid[QUEUE_ID_MAX + 1];
		queue_derive_id(jid, "whd-", event_id, "");   /* event ids may be 64 long */
		if (hq_open(&hq, err) < 0)
			goto out;
		int w = webhook_wake(run->db, &hq.q, jid, 0, err);
		hq_close(&hq);
		if (w < 0)
			goto out;    /* retried: the rows exist, the wake-up is idempotent */
	}
	rc = 0;
	goto out;
rollback:;
	db_rollback(run->db);
out:
	free(body);
	json_decref(doc);
	json_decref(data);
	PQclear(ev);
	return rc;
}

/* ==== webhook.deliver ===================================================================== */

struct transfer {
	struct pump *p;
	CURL *easy;
	struct curl_slist *headers;
	long long delivery_id, webhook_id;
	int attempt;
	char event_id[80], event_type[80];
	bool test, guard;
	char *body;                   /* owned; sent as is */
	size_t body_len;
	json_t *request_headers;
	char tried[INET6_ADDRSTRLEN + 16];  /* the last address a socket was opened for */
	char refused[320];            /* set when the guard refused an address */
	struct strbuf excerpt;
	size_t received;
	json_t *response_headers;
	long long started_wall_ms;
	char errbuf[CURL_ERROR_SIZE];
	/* the outcome, filled in when it finishes */
	long status;
	long long latency_ms;
	char remote[INET6_ADDRSTRLEN + 16];
	char *error;
	enum webhook_outcome outcome;
	long long retry_after_ms;
};

struct pump {
	struct webhook_settings s;
	struct secretbox_keyring keys;   /* opens the stored secrets (core/whsecret.h) */
	struct job_run *run;
	PGconn *db;
	CURLM *multi;
	struct transfer **active;
	size_t nactive;
	struct handle_queue hq;       /* inline jobs, successors; may be closed */
	char user_agent[96];
	long long sent, succeeded, failed, retried, inline_jobs;
	long long claims, claims_empty, batches;    /* round trips, for the log */
};

static void transfer_free(struct transfer *t)
{
	if (!t)
		return;
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t->body);
	json_decref(t->request_headers);
	json_decref(t->response_headers);
	strbuf_release(&t->excerpt);
	free(t->error);
	free(t);
}

/* Record why the guard refused ip for this transfer. */
static void guard_refuse(struct transfer *t, const char *ip, enum netguard_class c)
{
	snprintf(t->refused, sizeof(t->refused), "refused by the outgoing-request guard: "
		 "%s is a %s address; in production webhooks only go to public "
		 "addresses (allow this endpoint with 'acmectl webhooks edit %lld "
		 "--allow-private')", ip, netguard_class_name(c), t->webhook_id);
}

/* libcurl opens every socket through here, after DNS and before connect():
 * the one place where the address is final. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct transfer *t = clientp;
	(void)purpose;
	char ip[INET6_ADDRSTRLEN];
	netguard_addr_text(&a->addr, ip, sizeof(ip));
	unsigned port = a->family == AF_INET ?
		ntohs(((const struct sockaddr_in *)(const void *)&a->addr)->sin_port) :
		a->family == AF_INET6 ?
		ntohs(((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_port) : 0;
	snprintf(t->tried, sizeof(t->tried), strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
	if (t->guard) {
		enum netguard_class c = netguard_classify(&a->addr, (socklen_t)a->addrlen);
		if (!netguard_allowed(c)) {
			guard_refuse(t, ip, c);
			return CURL_SOCKET_BAD;
		}
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* libcurl calls this for every transfer once its connection is ready, new or
 * reused from the multi handle's pool, just before the request is sent. A
 * reused connection was opened (and guarded, or not) for whichever transfer
 * came first, perhaps one to an --allow-private endpoint on the same host
 * and port; so the peer each transfer actually talks to is checked here
 * again, and a guarded transfer never rides an unguarded connection. */
static int before_request(void *clientp, char *peer_ip, char *local_ip, int peer_port,
			  int local_port)
{
	struct transfer *t = clientp;
	enum netguard_class c;
	(void)local_ip;
	(void)peer_port;
	(void)local_port;
	if (!t->guard)
		return CURL_PREREQFUNC_OK;
	if (!peer_ip || netguard_classify_text(peer_ip, &c) < 0)
		c = NETGUARD_RESERVED;          /* not an address we know: refuse */
	if (netguard_allowed(c))
		return CURL_PREREQFUNC_OK;
	guard_refuse(t, peer_ip && peer_ip[0] ? peer_ip : "(unknown)", c);
	return CURL_PREREQFUNC_ABORT;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	size_t len = size * n;
	size_t limit = (size_t)t->p->s.response_excerpt_max;
	t->received += len;
	if (t->excerpt.len < limit)
		strbuf_add(&t->excerpt, buf, len < limit - t->excerpt.len ? len : limit - t->excerpt.len);
	/* the status decides; a long body is not worth reading to the end */
	return t->received > RESPONSE_READ_MAX ? 0 : len;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	size_t len = size * n;
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		json_object_clear(t->response_headers);   /* a new response (after 1xx) */
		return len;
	}
	const char *colon = memchr(buf, ':', len);
	if (!colon || colon == buf || colon - buf > 64 ||
	    json_object_size(t->response_headers) >= RESPONSE_HEADERS_MAX)
		return len;
	char name[72];
	size_t nl = (size_t)(colon - buf);
	for (size_t i = 0; i < nl; i++)
		name[i] = (char)((buf[i] >= 'A' && buf[i] <= 'Z') ? buf[i] + 32 : buf[i]);
	name[nl] = '\0';
	const char *v = colon + 1, *end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vl = (size_t)(end - v) > 1024 ? 1024 : (size_t)(end - v);
	char *value = xstrndup(v, vl);
	/* JSON strings must be UTF-8: keep what is, replace the rest */
	for (char *c = value; *c; c++)
		if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20)
			*c = '?';
	json_t *old = json_object_get(t->response_headers, name);
	if (old) {
		char *joined = xasprintf("%s, %s", json_string_value(old), value);
		json_object_set_new(t->response_headers, name, json_string(joined));
		free(joined);
	} else {
		json_object_set_new(t->response_headers, name, json_string(value));
	}
	free(value);
	return len;
}

/* Parse a stored secret; a broken one fails the attempt instead of the pump. */
static int add_signature(struct strbuf *sig, const char *secret, const char *id, long long ts,
			 const char *body, size_t len)
{
	struct whsig_key key;
	struct acme_err ignored;
	char one[WHSIG_SIG_MAX];
	if (!secret || whsig_secret_parse(secret, &key, NULL, &ignored) < 0)
		return -1;
	whsig_sign(&key, id, ts, body, len, one);
	strbuf_addf(sig, "%s%s", sig->len ? " " : "", one);
	return 0;
}

static struct curl_slist *add_header(struct transfer *t, struct curl_slist *l, const char *name,
				     const char *value)
{
	char *line = xasprintf("%s: %s", name, value);
	struct curl_slist *n = curl_slist_append(l, line);
	free(line);
	if (!n) {
		xdie("out of memory");
	}
	json_object_set_new(t->request_headers, name, json_string(value));
	return n;
}

/* A claimed delivery as a transfer on the multi handle. A delivery that
 * cannot even be started (a corrupt secret) is finished at once. */
static struct transfer *transfer_start(struct pump *p, const PGresult *res, int i)
{
	struct transfer *t = xcalloc(1, sizeof(*t));
	t->p = p;
	t->delivery_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	t->webhook_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
	snprintf(t->event_id, sizeof(t->event_id), "%s", PQgetvalue(res, i, 2));
	snprintf(t->event_type, sizeof(t->event_type), "%s", PQgetvalue(res, i, 3));
	t->test = strcmp(t->event_type, WEBHOOK_EVENT_TEST) == 0;
	size_t n = 0;
	unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 4), &n);
	t->body = xmalloc(n + 1);
	if (raw)
		memcpy(t->body, raw, n);
	t->body[n] = '\0';
	t->body_len = raw ? n : 0;
	PQfreemem(raw);
	t->attempt = atoi(PQgetvalue(res, i, 5));
	const char *url = PQgetvalue(res, i, 6);
	const char *stored = PQgetvalue(res, i, 7);
	const char *stored_prev = PQgetisnull(res, i, 8) ? NULL : PQgetvalue(res, i, 8);
	t->guard = webhook_guard_on(&p->s, PQgetvalue(res, i, 9)[0] == 't');
	t->request_headers = json_object();
	t->response_headers = json_object();
	strbuf_init(&t->excerpt, 0);
	t->started_wall_ms = clock_wall_ms();

	/* the stored secrets, opened for this attempt only and wiped after */
	struct acme_err serr;
	char *secret = whsecret_open(&p->keys, t->webhook_id, "secret", stored,
				     PQgetisnull(res, i, 10) ? NULL : PQgetvalue(res, i, 10), &serr);
	char *previous = NULL;
	if (!secret) {
		t->outcome = WEBHOOK_FAIL;
		t->error = xasprintf("cannot decrypt the endpoint's secret: %s", serr.msg);
		return t;
	}
	if (stored_prev && !(previous = whsecret_open(&p->keys, t->webhook_id, "previous_secret",
						      stored_prev, PQgetisnull(res, i, 11) ? NULL :
						      PQgetvalue(res, i, 11), &serr)))
		log_warn("webhooks: %s; signing with the current secret only", serr.msg);

	char ts[24];
	long long now_s = t->started_wall_ms / 1000;
	snprintf(ts, sizeof(ts), "%lld", now_s);
	struct strbuf sig = STRBUF_INIT;
	int signed_ok = add_signature(&sig, secret, t->event_id, now_s, t->body, t->body_len);
	if (signed_ok == 0 && previous)
		add_signature(&sig, previous, t->event_id, now_s, t->body, t->body_len);
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
	if (previous) {
		OPENSSL_cleanse(previous, strlen(previous));
		free(previous);
	}
	if (signed_ok < 0) {
		strbuf_release(&sig);
		t->outcome = WEBHOOK_FAIL;
		t->error = xstrdup("the endpoint's stored secret is not a valid whsec_ secret; "
				   "set a new one with 'acmectl webhooks rotate-secret'");
		return t;
	}

	t->headers = add_header(t, t->headers, "content-type", "application/json");
	t->headers = add_header(t, t->headers, "user-agent", p->user_agent);
	t->headers = add_header(t, t->headers, "webhook-id", t->event_id);
	t->headers = add_header(t, t->headers, "webhook-timestamp", ts);
	t->headers = add_header(t, t->headers, "webhook-signature", sig.buf);
	strbuf_release(&sig);
	t->headers = curl_slist_append(t->headers, "Expect:");   /* no 100-continue round trip */

	CURL *e = t->easy = curl_easy_init();
	if (!e) {
		xdie("out of memory");
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)p->s.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->s.timeout_ms);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_PROXY, "");              /* never an environment proxy */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, before_request);   /* reused connections */
	curl_easy_setopt(e, CURLOPT_PREREQDATA, t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	if (curl_multi_add_handle(p->multi, e) != CURLM_OK) {
		t->outcome = WEBHOOK_RETRY;
		t->error = xstrdup("libcurl refused the transfer");
		curl_easy_cleanup(e);
		t->easy = NULL;
	}
	return t;
}

/* Fill in the outcome of a transfer libcurl has finished. */
static void transfer_done(struct pump *p, struct transfer *t, CURLcode cc)
{
	CURL *e = t->easy;
	curl_off_t us = 0, connect_us = 0, ra = -1;
	char *ip = NULL, *redirect = NULL;
	long port = 0, os_errno = 0;
	int transport = 0;

	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &t->status);
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us);
	curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connect_us);
	curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip);
	curl_easy_getinfo(e, CURLINFO_PRIMARY_PORT, &port);
	curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra);
	curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &redirect);
	curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
	t->latency_ms = (long long)(us / 1000);
	if (ip && ip[0] && port)
		snprintf(t->remote, sizeof(t->remote), strchr(ip, ':') ? "[%s]:%ld" : "%s:%ld", ip, port);
	else if (t->tried[0])
		snprintf(t->remote, sizeof(t->remote), "%s", t->tried);
	t->retry_after_ms = ra > 0 ? (long long)ra * 1000 : 0;

	if (cc == CURLE_WRITE_ERROR && t->status > 0)
		cc = CURLE_OK;           /* we stopped reading a long body; the status stands */
	if (cc != CURLE_OK) {
		t->status = 0;
		if (t->refused[0]) {
			transport = 2;
			t->error = xstrdup(t->refused);
		} else if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT) {
			transport = 2;
			t->error = xasprintf("%s: %s", curl_easy_strerror(cc), t->errbuf);
		} else {
			transport = 1;
			if (cc == CURLE_OPERATION_TIMEDOUT && connect_us == 0)
				t->error = xasprintf("connect timed out after %lld ms (%s)",
						     t->latency_ms, t->errbuf);
			else if (cc == CURLE_OPERATION_TIMEDOUT)
				t->error = xasprintf("timed out after %lld ms without a complete response "
						     "(timeout %lld ms)", t->latency_ms, p->s.timeout_ms);
			else if (cc == CURLE_COULDNT_RESOLVE_HOST)
				t->error = xasprintf("cannot resolve the host name (%s)", t->errbuf);
			else if (cc == CURLE_COULDNT_CONNECT && os_errno && t->tried[0])
				t->error = xasprintf("cannot connect to %s: %s", t->tried,
						     strerror((int)os_errno));
			else if (cc == CURLE_COULDNT_CONNECT)
				t->error = xasprintf("cannot connect (%s)", t->errbuf);
			else
				t->error = xasprintf("%s (%s)", curl_easy_strerror(cc), t->errbuf);
		}
	}
	t->outcome = webhook_outcome_of(t->status, transport);
	if (!t->error && t->outcome != WEBHOOK_SUCCEEDED) {
		if (t->status >= 300 && t->status <= 399)
			t->error = xasprintf("HTTP %ld: redirect%s%s not followed; point the endpoint at "
					     "the final URL", t->status, redirect ? " to " : "",
					     redirect ? redirect : "");
		else if (t->outcome == WEBHOOK_GONE)
			t->error = xasprintf("HTTP 410 Gone: the receiver asked us to stop");
		else
			t->error = xasprintf("HTTP %ld", t->status);
	}
}

/* ---- claims ------------------------------------------------------------------------ */

static const char claim_sql[] =
	"WITH pick AS ("
	" SELECT d.id FROM webhooks w"
	" CROSS JOIN LATERAL (SELECT count(*) AS n FROM webhook_deliveries x"
	"   WHERE x.webhook_id = w.id AND x.status = 'delivering' AND x.next_attempt_at > now()) f"
	" CROSS JOIN LATERAL (SELECT d.id, d.next_attempt_at FROM webhook_deliveries d"
	"   WHERE d.webhook_id = w.id AND d.status IN ('pending', 'retrying')"
	"   AND d.next_attempt_at <= now() AND (w.enabled OR d.event_type = 'webhook.test')"
	"   ORDER BY d.next_attempt_at LIMIT greatest($1::int - f.n, 0)) d"
	" ORDER BY d.next_attempt_at, d.id LIMIT $2::int)"
	" UPDATE webhook_deliveries d SET status = 'delivering', attempts = d.attempts + 1,"
	"  next_attempt_at = now() + make_interval(secs => $3::float8), updated_at = now()"
	" FROM pick, webhooks w WHERE d.id = pick.id AND w.id = d.webhook_id"
	" RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.body, d.attempts, w.url,"
	"  w.secret, CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret END,"
	"  w.allow_private, w.secret_key_id,"
	"  CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_key_id END";

/* Run the claim in one round trip with libpq's pipeline mode: BEGIN, no JIT
 * (the estimates of a growing log can pass its threshold, and compiling
 * costs more than the claim), the advisory lock that makes claims one at a
 * time so the cap holds, the claim, COMMIT. Returns the claim's rows, or
 * NULL with err set (the transaction rolled back). */
static PGresult *claim_round_trip(PGconn *db, const char *const *params, struct acme_err *err)
{
	static const char *const steps[] = { "BEGIN", "SET LOCAL jit = off",
					     "SELECT pg_advisory_xact_lock(" CLAIM_LOCK_KEY ")", NULL,
					     "COMMIT" };
	PGresult *claimed = NULL;
	bool failed = false;

	if (PQenterPipelineMode(db) != 1) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "postgresql: %s", PQerrorMessage(db));
		return NULL;
	}
	for (int i = 0; i < 5; i++) {
		int ok = steps[i] ? PQsendQueryParams(db, steps[i], 0, NULL, NULL, NULL, NULL, 0) :
			 PQsendQueryPrepared(db, CLAIM_STMT, 3, params, NULL, NULL, 0);
		if (ok != 1)
			failed = true;
	}
	if (PQpipelineSync(db) != 1)
		failed = true;
	/* each step's results end with a NULL; then the sync */
	for (int i = 0; i < 5; i++) {
		PGresult *r;
		bool any = false;
		while ((r = PQgetResult(db))) {
			any = true;
			ExecStatusType st = PQresultStatus(r);
			if (st == PGRES_FATAL_ERROR && !failed) {
				const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
				acme_err_set(err, ACME_E_FAILURE, "postgresql: %s (SQLSTATE %s)",
					     m ? m : PQerrorMessage(db), db_sqlstate(r));
				failed = true;
			} else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
				failed = true;
			}
			if (i == 3 && st == PGRES_TUPLES_OK && !claimed)
				claimed = r;
			else
				PQclear(r);
		}
		if (!any)
			failed = true;
	}
	PGresult *sync = PQgetResult(db);
	if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
		failed = true;
	PQclear(sync);
	if (PQexitPipelineMode(db) != 1)
		failed = true;
	if (!failed)
		return claimed;
	PQclear(claimed);
	if (PQpipelineStatus(db) != PQ_PIPELINE_OFF) {
		/* the server went away mid-pipeline: libpq cannot leave pipeline
		 * mode with results it will never get, and still says
		 * CONNECTION_OK. The connection is lost: say so, and its owner
		 * (db_connection_ok) connects again. */
		acme_err_set(err, ACME_E_UNAVAILABLE, "postgresql: connection lost while claiming "
			     "deliveries: %s", PQerrorMessage(db));
		err->transient = true;
		return NULL;
	}
	if (!err->msg[0] || PQstatus(db) != CONNECTION_OK)
		db_error(db, NULL, err, "postgresql: claiming deliveries");
	if (PQstatus(db) == CONNECTION_OK && PQtransactionStatus(db) != PQTRANS_IDLE)
		db_rollback(db);
	return NULL;
}

static int claim(struct pump *p, int room, struct acme_err *err)
{
	char cap[16], lim[16], lease[32];
	snprintf(cap, sizeof(cap), "%d", p->s.max_in_flight_per_endpoint);
	snprintf(lim, sizeof(lim), "%d", room);
	snprintf(lease, sizeof(lease), "%.3f", (double)(p->s.timeout_ms + CLAIM_MARGIN_MS) / 1000.0);
	const char *params[3] = { cap, lim, lease };
	err->msg[0] = '\0';
	PGresult *res = claim_round_trip(p->db, params, err);
	if (!res)
		return -1;
	int n = PQntuples(res);
	p->claims++;
	p->claims_empty += n == 0;
	for (int i = 0; i < n; i++) {
		struct transfer *t = transfer_start(p, res, i);
		p->active = xrealloc(p->active, (p->nactive + 1) * sizeof(*p->active));
		p->active[p->nactive++] = t;
		p->sent++;
	}
	PQclear(res);
	return n;
}

/* Claims whose deliverer vanished (crash, kill -9, lost connection) expire:
 * send those deliveries again, or give up when the schedule is used up (the
 * periodic sweep does the same when no deliverer runs; core/whsweep.c). */
static int recover(struct pump *p, struct acme_err *err)
{
	return webhook_recover_claims(p->db, &p->s, NULL, NULL, err);
}

/* ---- recording ------------------------------------------------------------------------ */

/* One statement records a whole batch: the outcomes travel as one jsonb
 * array. Each delivery's update is fenced by its attempt number (a deliverer
 * whose claim expired changes nothing); its attempt row is inserted; a
 * success clears its endpoint's failure count. Returns the ids recorded. */
static const char record_sql[] =
	"WITH o AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, attempt int,"
	"  status text, delay float8, error text, started bigint, req jsonb, code int, latency int,"
	"  remote text, resp jsonb, excerpt text, ok boolean)),"
	" d AS (UPDATE webhook_deliveries w SET"
	"  status = CASE WHEN o.status = 'retrying' AND NOT (SELECT enabled FROM webhooks h"
	"   WHERE h.id = w.webhook_id) THEN 'cancelled' ELSE o.status END,"
	"  next_attempt_at = CASE WHEN o.status = 'retrying' THEN now() + make_interval(secs => o.delay) END,"
	"  last_error = o.error,"
	"  delivered_at = CASE WHEN o.status = 'succeeded' THEN now() ELSE w.delivered_at END,"
	"  updated_at = now()"
	"  FROM o WHERE w.id = o.id AND w.attempts = o.attempt AND w.status = 'delivering'"
	"  RETURNING w.id, w.webhook_id),"
	" a AS (INSERT INTO webhook_attempts (delivery_id, attempt, started_at, request_headers,"
	"  status_code, latency_ms, remote_addr, response_headers, response_excerpt, error)"
	"  SELECT o.id, o.attempt, to_timestamp(o.started / 1000.0), o.req, o.code, o.latency,"
	"  o.remote, o.resp, decode(o.excerpt, 'base64'), o.error FROM o JOIN d ON d.id = o.id"
	"  ON CONFLICT (delivery_id, attempt) DO NOTHING),"
	" r AS (UPDATE webhooks h SET consecutive_failures = 0, failing_since = NULL"
	"  FROM (SELECT DISTINCT d.webhook_id FROM d JOIN o ON o.id = d.id WHERE o.ok) s"
	"  WHERE h.id = s.webhook_id AND (h.consecutive_failures > 0 OR h.failing_since IS NOT NULL))"
	" SELECT id FROM d";

/* Text from outside (errors quoting a Location, say) as a JSON string:
 * bytes that are not UTF-8 become '?'. */
static json_t *text_json(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	char *copy = xstrdup(s);
	for (char *c = copy; *c; c++)
		if ((unsigned char)*c >= 0x80)
			*c = '?';
	j = json_string(copy);
	free(copy);
	return j ? j : json_null();
}

static int record_endpoint(struct pump *p, struct transfer *t, struct acme_err *err)
{
	char wid[24], started[32], code[16], lat[24];
	snprintf(wid, sizeof(wid), "%lld", t->webhook_id);
	snprintf(started, sizeof(started), "%lld", t->started_wall_ms);
	snprintf(code, sizeof(code), "%ld", t->status);
	snprintf(lat, sizeof(lat), "%lld", t->latency_ms);

	if (t->test) {
		const char *params[6] = { wid, started, t->status ? code : NULL,
					  t->status ? lat : NULL, t->error, t->excerpt.buf };
		int lens[6] = { 0, 0, 0, 0, 0, (int)t->excerpt.len };
		int fmts[6] = { 0, 0, 0, 0, 0, 1 };
		PGresult *res = exec_bin(p->db, err, "UPDATE webhooks SET last_test_at = "
					 "to_timestamp($2::float8 / 1000), last_test_status_code = $3::int, "
					 "last_test_latency_ms = $4::int, last_test_error = $5, "
					 "last_test_response_excerpt = $6::bytea WHERE id = $1", 6, params,
					 lens, fmts);
		PQclear(res);
		return res ? 0 : -1;
	}
	if (t->outcome == WEBHOOK_SUCCEEDED) {
		const char *params[1] = { wid };
		return db_cmd(p->db, err, "UPDATE webhooks SET consecutive_failures = 0, "
			      "failing_since = NULL WHERE id = $1 AND (consecutive_failures > 0 "
			      "OR failing_since IS NOT NULL)", 1, params);
	}
	const char *params[2] = { wid, started };
	PGresult *res = db_exec(p->db, err, "UPDATE webhooks SET consecutive_failures = "
				"consecutive_failures + 1, failing_since = coalesce(failing_since, "
				"to_timestamp($2::float8 / 1000)) WHERE id = $1 AND enabled RETURNING "
				"consecutive_failures, (extract(epoch FROM now() - failing_since) * 1000)"
				"::bigint, " CLOCK_SQL_TEXT("failing_since"), 2, params);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {          /* disabled meanwhile */
		PQclear(res);
		return 0;
	}
	int failures = atoi(PQgetvalue(res, 0, 0));
	long long failing_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	char since[40];
	snprintf(since, sizeof(since), "%s", PQgetvalue(res, 0, 2));
	PQclear(res);

	char reason[700];
	if (t->outcome == WEBHOOK_GONE)
		snprintf(reason, sizeof(reason), "the endpoint answered 410 Gone to delivery %lld "
			 "(event %s)", t->delivery_id, t->event_id);
	else if (webhook_should_disable(&p->s, failures, failing_ms))
		snprintf(reason, sizeof(reason), "%d consecutive failed attempts since %s "
			 "(last: %.300s)", failures, since, t->error ? t->error : "failed");
	else
		return 0;
	bool changed = false;
	if (webhook_disable_auto(p->db, t->webhook_id, reason, &changed, err) < 0)
		return -1;
	if (changed)
		log_warn("webhooks: webhook %lld disabled: %s", t->webhook_id, reason);
	return 0;
}

/* What becomes of a delivery after this attempt: its status and, when it
 * is retried, the delay. */
static enum delivery_status decide(struct pump *p, struct transfer *t, long long *delay_ms)
{
	*delay_ms = -1;
	if (t->outcome == WEBHOOK_SUCCEEDED)
		return DELIVERY_SUCCEEDED;
	if (t->outcome == WEBHOOK_RETRY && !t->test &&
	    (*delay_ms = webhook_retry_delay_ms(&p->s, t->attempt, t->retry_after_ms)) >= 0)
		return DELIVERY_RETRYING;
	if (t->outcome == WEBHOOK_RETRY && !t->test) {
		char *more = xasprintf("%s; gave up after %d attempts", t->error, t->attempt);
		free(t->error);
		t->error = more;
	}
	return DELIVERY_FAILED;
}

static json_t *outcome_json(struct pump *p, struct transfer *t, enum delivery_status *status,
			    long long *delay_ms)
{
	*status = decide(p, t, delay_ms);
	bool completed = t->status > 0;
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(t->delivery_id));
	json_object_set_new(o, "attempt", json_integer(t->attempt));
	json_object_set_new(o, "status", json_string(delivery_status_name(*status)));
	json_object_set_new(o, "delay", *delay_ms >= 0 ? json_real((double)*delay_ms / 1000.0) :
			    json_null());
	json_object_set_new(o, "error", text_json(t->error));
	json_object_set_new(o, "started", json_integer(t->started_wall_ms));
	json_object_set_new(o, "req", json_incref(t->request_headers));
	json_object_set_new(o, "code", completed ? json_integer(t->status) : json_null());
	json_object_set_new(o, "latency", t->easy ? json_integer(t->latency_ms) : json_null());
	json_object_set_new(o, "remote", t->remote[0] ? json_string(t->remote) : json_null());
	json_object_set_new(o, "resp", completed ? json_incref(t->response_headers) : json_null());
	if (completed) {
		char *b64 = xmalloc(4 * ((t->excerpt.len + 2) / 3) + 1);
		whsig_base64_encode((const unsigned char *)t->excerpt.buf, t->excerpt.len, b64);
		json_object_set_new(o, "excerpt", json_string(b64));
		free(b64);
	} else {
		json_object_set_new(o, "excerpt", json_null());
	}
	json_object_set_new(o, "ok", json_boolean(t->outcome == WEBHOOK_SUCCEEDED && !t->test));
	return o;
}

/* Record finished transfers (one statement for the batch; a transaction for
 * the few that need more: tests, failures), then free them. */
static int record_batch(struct pump *p, struct transfer **done, size_t n, struct acme_err *err)
{
	json_t *arr = json_array();
	enum delivery_status *status = xcalloc(n, sizeof(*status));
	long long *delay = xcalloc(n, sizeof(*delay));
	bool *ours = xcalloc(n, sizeof(*ours));
	bool extra = false;
	int rc = -1;

	p->batches++;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, outcome_json(p, done[i], &status[i], &delay[i]));
	char *text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	const char *params[1] = { text };
	PGresult *res = text ? exec_prepared(p->db, err, RECORD_STMT, 1, params) :
		       (acme_err_set(err, ACME_E_FAILURE, "cannot encode the outcomes"), NULL);
	free(text);
	if (!res)
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		long long id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		for (size_t i = 0; i < n; i++)
			if (done[i]->delivery_id == id)
				ours[i] = true;
	}
	PQclear(res);

	for (size_t i = 0; i < n; i++) {
		struct transfer *t = done[i];
		if (!ours[i]) {
			log_warn("webhooks: delivery %lld attempt %d: the claim expired before the outcome "
				 "was recorded; another deliverer has it now", t->delivery_id, t->attempt);
			continue;
		}
		if (status[i] == DELIVERY_SUCCEEDED)
			p->succeeded++;
		else if (status[i] == DELIVERY_RETRYING)
			p->retried++;
		else
			p->failed++;
		if (t->outcome == WEBHOOK_SUCCEEDED)
			log_debug("webhooks: delivery %lld (%s to webhook %lld) attempt %d: HTTP %ld in "
				  "%lld ms", t->delivery_id, t->event_id, t->webhook_id, t->attempt,
				  t->status, t->latency_ms);
		else
			log_info("webhooks: delivery %lld (%s to webhook %lld) attempt %d: %s; %s%s%.3f%s",
				 t->delivery_id, t->event_id, t->webhook_id, t->attempt, t->error,
				 delivery_status_name(status[i]), delay[i] >= 0 ? " in " : "",
				 delay[i] >= 0 ? (double)delay[i] / 1000.0 : 0.0, delay[i] >= 0 ? " s" : "");
		extra |= t->test || t->outcome != WEBHOOK_SUCCEEDED;
	}
	rc = 0;
	if (extra) {
		rc = db_begin(p->db, NULL, err);
		for (size_t i = 0; rc == 0 && i < n; i++)
			if (ours[i] && (done[i]->test || done[i]->outcome != WEBHOOK_SUCCEEDED))
				rc = record_endpoint(p, done[i], err);
		if (rc == 0)
			rc = db_commit(p->db, err);
		else
			db_rollback(p->db);
	}
out:
	for (size_t i = 0; i < n; i++)
		transfer_free(done[i]);
	free(status);
	free(delay);
	free(ours);
	return rc;
}

static void remove_active(struct pump *p, struct transfer *t)
{
	for (size_t i = 0; i < p->nactive; i++)
		if (p->active[i] == t) {
			p->active[i] = p->active[--p->nactive];
			return;
		}
}

/* Collect what libcurl has finished (and transfers that never started) and
 * record it. Returns how many, or -1. */
static int collect(struct pump *p, struct acme_err *err)
{
	struct transfer **done = NULL;
	size_t ndone = 0;
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(p->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct transfer *t = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		CURLcode cc = m->data.result;
		curl_multi_remove_handle(p->multi, m->easy_handle);
		transfer_done(p, t, cc);
		remove_active(p, t);
		done = xrealloc(done, (ndone + 1) * sizeof(*done));
		done[ndone++] = t;
	}
	for (size_t i = 0; i < p->nactive;) {
		struct transfer *t = p->active[i];
		if (!t->easy) {              /* finished before it started */
			p->active[i] = p->active[--p->nactive];
			done = xrealloc(done, (ndone + 1) * sizeof(*done));
			done[ndone++] = t;
			continue;
		}
		i++;
	}
	int rc = 0;
	if (ndone)
		rc = FAILPOINT(DELIVER_AFTER_SEND, err) < 0 ? -1 : record_batch(p, done, ndone, err);
	free(done);
	return rc < 0 ? -1 : (int)ndone;
}

/* Stopping (shutdown, cancel, lost lease): abort transfers in flight and give
 * their claims back without counting the attempt. */
static void abort_all(struct pump *p)
{
	struct acme_err err;
	for (size_t i = 0; i < p->nactive; i++) {
		struct transfer *t = p->active[i];
		char did[24], att[16];
		snprintf(did, sizeof(did), "%lld", t->delivery_id);
		snprintf(att, sizeof(att), "%d", t->attempt);
		const char *params[2] = { did, att };
		if (t->easy)
			curl_multi_remove_handle(p->multi, t->easy);
		if (db_cmd(p->db, &err, "UPDATE webhook_deliveries SET status = CASE WHEN attempts <= 1 "
			   "THEN 'pending' ELSE 'retrying' END, attempts = attempts - 1, "
			   "next_attempt_at = now(), updated_at = now() WHERE id = $1 "
			   "AND attempts = $2::int AND status = 'delivering'", 2, params) < 0)
			log_warn("webhooks: delivery %lld: %s (its claim expires on its own)",
				 t->delivery_id, err.msg);
		transfer_free(t);
	}
	if (p->nactive)
		log_info("webhooks: %zu deliveries in flight given back", p->nactive);
	p->nactive = 0;
}

/* ---- the pump ------------------------------------------------------------------------- */

/* Take one job of our queue and run it here. 1 = ran one, 0 = none waiting,
 * -1 = Redis failed (inline jobs stop; the worker takes them after us). */
static int run_queued_job(struct pump *p)
{
	struct queue_job job;
	struct acme_err e;
	const char *queues[1] = { p->run->job->queue };
	memset(&job, 0, sizeof(job));
	int r = queue_dequeue(&p->hq.q, queues, 1, 30000, 0, p->run->job->worker, &job, &e);
	if (r < 0) {
		log_warn("webhooks: %s; the deliverer stops taking jobs itself", e.msg);
		hq_close(&p->hq);
		return -1;
	}
	if (r == QUEUE_EMPTY)
		return 0;
	p->inline_jobs++;
	log_debug("webhooks: job %s (%s) taken by deliverer %s", job.id, job.type, p->run->job->id);
	if (jobtype_execute(&p->hq.q, p->db, NULL, &job, 0, NULL, &e) < 0)
		log_warn("webhooks: job %s: %s", job.id, e.msg);
	else if (job.state != JOB_SUCCEEDED)
		log_info("webhooks: job %s (%s) %s%s%s", job.id, job.type, job_state_name(job.state),
			 job.error ? ": " : "", job.error ? job.error : "");
	queue_job_release(&job);
	return 1;
}

/* When is the next delivery due? 1 with *in_ms (may be <= 0) and *at_s, 0
 * when nothing waits. */
static int next_due(struct pump *p, long long *in_ms, long long *at_s, struct acme_err *err)
{
	PGresult *res = db_exec(p->db, err,
		"SELECT (extract(epoch FROM min(d.next_attempt_at) - now()) * 1000)::bigint,"
		" ceil(extract(epoch FROM min(d.next_attempt_at)))::bigint"
		" FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
		" WHERE d.status IN ('pending', 'retrying')"
		" AND (w.enabled OR d.event_type = 'webhook.test')", 0, NULL);
	if (!res)
		return -1;
	int has = !PQgetisnull(res, 0, 0);
	if (has) {
		*in_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*at_s = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return has;
}

/* Before ending: a delayed deliverer for the next due retry (one per
 * second of due time, whoever schedules it), or an immediate one. */
static void hand_over(struct pump *p, long long in_ms, long long at_s)
{
	struct acme_err e;
	char id[QUEUE_ID_MAX + 1];
	if (!p->hq.open && hq_open(&p->hq, &e) < 0) {
		log_warn("webhooks: cannot schedule the next deliverer: %s", e.msg);
		return;
	}
	if (in_ms > 0)
		snprintf(id, sizeof(id), "whd-at-%lld", at_s);
	if (webhook_wake(p->db, &p->hq.q, in_ms > 0 ? id : NULL, in_ms, &e) < 0)
		log_warn("webhooks: cannot schedule the next deliverer: %s", e.msg);
	else
		log_debug("webhooks: next deliverer %s in %lld ms", in_ms > 0 ? id : "(new)",
			  in_ms > 0 ? in_ms : 0);
}

static int pump_loop(struct pump *p, struct acme_err *err)
{
	long long start = clock_mono_ms(), last_busy = start, next_claim = 0, next_dequeue = 0;
	long long next_recover = 0, next_due_check = 0;
	bool draining = false;

	for (;;) {
		long long now = clock_mono_ms();
		if (p->run->checkpoint(p->run, err) < 0) {
			abort_all(p);
			return -1;
		}
		if (now >= next_recover) {
			if (recover(p, err) < 0)
				goto fail;
			next_recover = now + 30000;
		}
		if (!draining && now - start >= PUMP_MAX_MS) {
			log_info("webhooks: deliverer %s ran %d s; handing over", p->run->job->id,
				 PUMP_MAX_MS / 1000);
			draining = true;
		}
		if (!draining && p->hq.open && now >= next_dequeue) {
			/* one job per turn, so transfers in flight keep moving during a
			 * burst of events */
			int r = run_queued_job(p);
			next_dequeue = r > 0 ? 0 : now + DEQUEUE_EVERY_MS;
			if (r > 0) {
				next_claim = 0;
				last_busy = now;
			}
		}
		if (!draining && (int)p->nactive < p->s.max_in_flight && now >= next_claim) {
			int n = claim(p, p->s.max_in_flight - (int)p->nactive, err);
			if (n < 0)
				goto fail;
			next_claim = n > 0 ? now : now + CLAIM_IDLE_MS;
			if (n > 0)
				last_busy = now;
		}
		int running = 0;
		curl_multi_perform(p->multi, &running);
		int finished = collect(p, err);
		if (finished < 0)
			goto fail;
		if (finished > 0)
			next_claim = 0;        /* room again (the cap may have been the limit) */
		if (p->nactive > 0) {
			last_busy = clock_mono_ms();
		} else if (draining) {
			long long in_ms = 0, at_s = 0;
			if (next_due(p, &in_ms, &at_s, err) > 0)
				hand_over(p, in_ms < PUMP_LINGER_MS ? 0 : in_ms, at_s);
			return 0;
		} else if (now - last_busy >= PUMP_IDLE_EXIT_MS && now >= next_due_check) {
			long long in_ms = 0, at_s = 0;
			int has = next_due(p, &in_ms, &at_s, err);
			if (has < 0)
				goto fail;
			if (!has || in_ms > PUMP_LINGER_MS) {
				if (has)
					hand_over(p, in_ms, at_s);
				return 0;
			}
			next_due_check = now + 250;    /* due soon (or capped elsewhere): wait */
		}
		/* sleep until a socket wakes us, or the next claim/dequeue is due */
		long long wake = next_claim < next_dequeue || !p->hq.open ? next_claim : next_dequeue;
		long long t = wake - clock_mono_ms();
		if ((int)p->nactive >= p->s.max_in_flight || draining)
			t = 100;
		if (t < 0)
			t = 0;
		if (t > 100)
			t = 100;
		curl_multi_poll(p->multi, NULL, 0, (int)t, NULL);
	}
fail:
	abort_all(p);
	return -1;
}

int webhook_deliver_run(struct job_run *run, struct acme_err *err)
{
	static bool curl_ready;
	struct pump p;
	int rc = -1;

	if (pump_active) {
		/* taken inline by a running deliverer: it does this job's work */
		run->result = json_pack("{s:b}", "absorbed", 1);
		return 0;
	}
	if (!run->db) {
		run->permanent = true;
		return acme_err_set(err, ACME_E_USAGE, "webhook.deliver needs PostgreSQL");
	}
	memset(&p, 0, sizeof(p));
	/* without the configuration we would not know whether this is production
	 * and the guard must be on: refuse rather than guess */
	if (!config_current()) {
		run->permanent = true;
		return acme_err_set(err, ACME_E_CONFIG, "webhook.deliver: no configuration loaded");
	}
	if (webhook_settings_load(config_current(), &p.s, err) < 0) {
		run->permanent = true;
		return -1;
	}
	/* a key file that cannot be used is fixed by the operator: the job
	 * fails and is retried, the deliveries wait */
	if (whsecret_keys(config_current(), &p.keys, err) < 0)
		return -1;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return acme_err_set(err, ACME_E_FAILURE, "libcurl cannot start");
		curl_ready = true;
	}
	p.run = run;
	p.db = run->db;
	snprintf(p.user_agent, sizeof(p.user_agent), "acmectl-webhooks/%s", acme_version());
	p.multi = curl_multi_init();
	if (!p.multi)
		return acme_err_set(err, ACME_E_FAILURE, "libcurl: cannot create a multi handle");
	curl_multi_setopt(p.multi, CURLMOPT_MAXCONNECTS, (long)p.s.max_in_flight);
	struct acme_err qerr;
	if (hq_open(&p.hq, &qerr) < 0)
		log_warn("webhooks: %s; new events wait until this deliverer ends", qerr.msg);

	if (prepare(p.db, CLAIM_STMT, claim_sql, 3, err) < 0 ||
	    prepare(p.db, RECORD_STMT, record_sql, 1, err) < 0) {
		hq_close(&p.hq);
		curl_multi_cleanup(p.multi);
		secretbox_keyring_release(&p.keys);
		return -1;
	}

	pump_active = true;
	long long t0 = clock_mono_ms();
	rc = pump_loop(&p, err);
	pump_active = false;

	long long ms = clock_mono_ms() - t0;
	if (p.sent || p.inline_jobs)
		log_info("webhooks: deliverer %s: %lld sent (%lld succeeded, %lld to retry, %lld failed), "
			 "%lld jobs taken inline, in %lld ms (%lld claims, %lld empty; %lld batches "
			 "recorded)", run->job->id, p.sent, p.succeeded, p.retried, p.failed,
			 p.inline_jobs, ms, p.claims, p.claims_empty, p.batches);
	if (rc == 0)
		run->result = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "sent", (json_int_t)p.sent,
					"succeeded", (json_int_t)p.succeeded, "retrying",
					(json_int_t)p.retried, "failed", (json_int_t)p.failed,
					"jobs_inline", (json_int_t)p.inline_jobs, "ms", (json_int_t)ms);
	hq_close(&p.hq);
	curl_multi_cleanup(p.multi);
	free(p.active);
	secretbox_keyring_release(&p.keys);
	return rc;
}
