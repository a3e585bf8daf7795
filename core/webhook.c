/* webhook.c — endpoints, settings and the delivery log; see webhook.h. The
 * job handlers that deliver live in core/whdeliver.c.
 *
 * All SQL of the endpoint and delivery-log verbs is here, parameterised.
 * Every change to an endpoint runs in one transaction with its audit row, and
 * no statement, audit row, message or error here ever contains a secret: the
 * secret columns are written, never read back, except by the deliverer and
 * rotate-secret; they are sealed under the configured key (core/whsecret.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "core/clock.h"
#include "core/audit.h"
#include "core/db.h"
#include "core/job.h"
#include "core/netguard.h"
#include "core/outbox.h"
#include "core/strbuf.h"
#include "core/url.h"
#include "core/whsecret.h"
#include "core/webhook.h"
#include "core/xalloc.h"

#define ISO(col) CLOCK_SQL_TEXT(col)
#define URL_MAX 2048

/* ---- events -------------------------------------------------------------------- */

const char *const webhook_event_names[] = {
	"product.created", "product.updated", "product.deleted", "product.bulk_deleted",
	"import.completed", "import.failed", WEBHOOK_EVENT_TEST, NULL,
};

const char *const webhook_event_patterns[] = { "*", "product.*", "import.*", NULL };

bool webhook_event_known(const char *name)
{
	for (size_t i = 0; webhook_event_patterns[i]; i++)
		if (strcmp(name, webhook_event_patterns[i]) == 0)
			return true;
	for (size_t i = 0; webhook_event_names[i]; i++)
		if (strcmp(name, webhook_event_names[i]) == 0)
			return true;
	return false;
}

int webhook_events_add(const char *text, const char *seps, char ***events, size_t *n,
		       struct acme_err *err)
{
	char *copy = xstrdup(text), *save = NULL;
	for (char *tok = strtok_r(copy, seps, &save); tok; tok = strtok_r(NULL, seps, &save)) {
		if (!webhook_event_known(tok) || strcmp(tok, WEBHOOK_EVENT_TEST) == 0) {
			struct strbuf known = STRBUF_INIT;
			for (size_t k = 0; webhook_event_names[k]; k++)
				if (strcmp(webhook_event_names[k], WEBHOOK_EVENT_TEST) != 0)
					strbuf_addf(&known, "%s, ", webhook_event_names[k]);
			acme_err_set(err, ACME_E_USAGE, "unknown event \"%s\"; events are %s"
				     "product.* or import.* for a family, or * for all of them%s", tok,
				     known.buf, strcmp(tok, WEBHOOK_EVENT_TEST) == 0
				     ? " (webhook.test events go to one endpoint: 'acmectl webhooks "
				       "test ID')" : "");
			strbuf_release(&known);
			free(copy);
			return -1;
		}
		bool dup = false;
		for (size_t k = 0; k < *n; k++)
			dup |= strcmp((*events)[k], tok) == 0;
		if (dup)
			continue;
		*events = xrealloc(*events, (*n + 2) * sizeof(char *));
		(*events)[(*n)++] = xstrdup(tok);
		(*events)[*n] = NULL;
	}
	free(copy);
	return 0;
}

bool webhook_event_matches(const char *subscription, const char *type)
{
	size_t n = strlen(subscription);
	if (strcmp(subscription, "*") == 0)
		return true;
	if (n >= 2 && strcmp(subscription + n - 2, ".*") == 0)
		return strncmp(subscription, type, n - 1) == 0;
	return strcmp(subscription, type) == 0;
}

/* ---- settings ------------------------------------------------------------------- */

int webhook_parse_duration(const char *s, long long *ms)
{
	long long v;
	if (parse_duration_ms(s, &v) < 0 || v > 1000000000000000LL)
		return -1;
	*ms = v;
	return 0;
}

static int bad_setting(const struct config_entry *e, struct acme_err *err, const char *want)
{
	return acme_err_set(err, ACME_E_CONFIG, "%s:%d: [webhooks] %s = \"%s\": expected %s", e->file,
			    e->line, e->key, e->value, want);
}

static int set_duration(const struct config_entry *e, long long *out, long long min, long long max,
			struct acme_err *err, const char *want)
{
	long long ms;
	if (webhook_parse_duration(e->value, &ms) < 0 || ms < min || ms > max)
		return bad_setting(e, err, want);
	*out = ms;
	return 0;
}

static int set_int(const struct config_entry *e, int *out, long min, long max, struct acme_err *err,
		   const char *want)
{
	char *end;
	long v = strtol(e->value, &end, 10);
	if (!isdigit((unsigned char)e->value[0]) || *end || v < min || v > max)
		return bad_setting(e, err, want);
	*out = (int)v;
	return 0;
}

static int parse_schedule(const struct config_entry *e, struct webhook_settings *s,
			  struct acme_err *err)
{
	const char *want = "a comma-separated list of at most 32 delays such as 5s,5m,30m,2h "
			   "(or \"none\" for no retries)";
	char *copy = xstrdup(e->value), *save = NULL;
	int rc = 0;
	s->nretries = 0;
	if (strcmp(e->value, "none") == 0)
		goto out;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		size_t n = strlen(tok);
		while (n && tok[n - 1] == ' ')
			tok[--n] = '\0';
		long long ms;
		if (s->nretries == WEBHOOK_RETRIES_MAX || webhook_parse_duration(tok, &ms) < 0 ||
		    ms < 0 || ms > 7LL * 86400000) {
			rc = bad_setting(e, err, want);
			goto out;
		}
		s->retry_ms[s->nretries++] = ms;
	}
	if (s->nretries == 0)
		rc = bad_setting(e, err, want);
out:
	free(copy);
	return rc;
}

int webhook_settings_load(const struct config *cfg, struct webhook_settings *s,
			  struct acme_err *err)
{
	static const long long schedule[] = { 5000, 300000, 1800000, 7200000, 18000000, 36000000,
					      36000000 };
	memset(s, 0, sizeof(*s));
	s->connect_timeout_ms = 5000;
	s->timeout_ms = 15000;
	for (size_t i = 0; i < sizeof(schedule) / sizeof(schedule[0]); i++)
		s->retry_ms[s->nretries++] = schedule[i];
	s->max_retry_after_ms = 86400000;
	s->disable_after_failures = 20;
	s->disable_after_ms = 86400000;
	s->max_in_flight = 500;
	s->max_in_flight_per_endpoint = 50;
	s->rotate_grace_ms = 86400000;
	s->response_excerpt_max = 4096;
	if (!cfg)
		return 0;
	s->production = config_is_production(cfg);

	for (size_t i = 0; i < config_extra_count(cfg); i++) {
		const struct config_entry *e = config_extra(cfg, i);
		const char *k = e->key;
		int rc = 0;
		if (strcmp(e->section, "webhooks") != 0)
			continue;
		if (strcmp(k, "connect_timeout") == 0)
			rc = set_duration(e, &s->connect_timeout_ms, 1, 300000, err,
					  "a duration from 1ms to 5m, such as 5s");
		else if (strcmp(k, "timeout") == 0)
			rc = set_duration(e, &s->timeout_ms, 1, 600000, err,
					  "a duration from 1ms to 10m, such as 15s");
		else if (strcmp(k, "retry_schedule") == 0)
			rc = parse_schedule(e, s, err);
		else if (strcmp(k, "max_retry_after") == 0)
			rc = set_duration(e, &s->max_retry_after_ms, 0, 7LL * 86400000, err,
					  "a duration up to 7d, such as 1d");
		else if (strcmp(k, "disable_after_failures") == 0)
			rc = set_int(e, &s->disable_after_failures, 0, 1000000, err,
				     "a number of attempts (0 = never disable)");
		else if (strcmp(k, "disable_after") == 0)
			rc = set_duration(e, &s->disable_after_ms, 0, 365LL * 86400000, err,
					  "a duration such as 1d (0 = as soon as the count is reached)");
		else if (strcmp(k, "allow_private") == 0) {
			if (strcasecmp(e->value, "true") == 0 || strcasecmp(e->value, "yes") == 0 ||
			    strcmp(e->value, "1") == 0)
				s->allow_private = true;
			else if (strcasecmp(e->value, "false") == 0 || strcasecmp(e->value, "no") == 0 ||
				 strcmp(e->value, "0") == 0)
				s->allow_private = false;
			else
				rc = bad_setting(e, err, "true or false");
		} else if (strcmp(k, "max_in_flight") == 0)
			rc = set_int(e, &s->max_in_flight, 1, 10000, err, "a number from 1 to 10000");
		else if (strcmp(k, "max_in_flight_per_endpoint") == 0)
			rc = set_int(e, &s->max_in_flight_per_endpoint, 1, 10000, err,
				     "a number from 1 to 10000");
		else if (strcmp(k, "rotate_grace") == 0)
			rc = set_duration(e, &s->rotate_grace_ms, 0, 30LL * 86400000, err,
					  "a duration up to 30d, such as 1d");
		else if (strcmp(k, "response_excerpt_max") == 0)
			rc = set_int(e, &s->response_excerpt_max, 0, 65536, err,
				     "a number of bytes from 0 to 65536");
		else
			rc = acme_err_set(err, ACME_E_CONFIG, "%s:%d: unknown key \"%s\" in [webhooks] "
					  "(see acmectl.conf(5))", e->file, e->line, k);
		if (rc < 0)
			return -1;
	}
	return 0;
}

bool webhook_guard_on(const struct webhook_settings *s, bool endpoint_allows_private)
{
	return s->production && !s->allow_private && !endpoint_allows_private;
}

/* ---- outcomes --------------------------------------------------------------------- */

enum webhook_outcome webhook_outcome_of(long status, int transport)
{
	if (transport == 2)
		return WEBHOOK_FAIL;
	if (status == 0)
		return transport == 1 ? WEBHOOK_RETRY : WEBHOOK_FAIL;
	if (status >= 200 && status <= 299)
		return WEBHOOK_SUCCEEDED;
	if (status == 410)
		return WEBHOOK_GONE;
	if (status >= 500 || status == 408 || status == 429)
		return WEBHOOK_RETRY;
	/* 1xx as a final answer, 3xx (redirects are not followed), other 4xx */
	return WEBHOOK_FAIL;
}

const char *webhook_outcome_name(enum webhook_outcome o)
{
	static const char *const names[] = { "succeeded", "retry", "failed", "gone" };
	return names[o];
}

long long webhook_retry_delay_ms(const struct webhook_settings *s, int attempt,
				 long long retry_after_ms)
{
	if (attempt < 1 || attempt > s->nretries)
		return -1;
	long long d = s->retry_ms[attempt - 1];
	if (retry_after_ms > s->max_retry_after_ms)
		retry_after_ms = s->max_retry_after_ms;
	return retry_after_ms > d ? retry_after_ms : d;
}

bool webhook_should_disable(const struct webhook_settings *s, int failures, long long failing_ms)
{
	return s->disable_after_failures > 0 && failures >= s->disable_after_failures &&
	       failing_ms >= s->disable_after_ms;
}

/* ---- URLs -------------------------------------------------------------------------- */

int webhook_check_url(const char *url, bool guard, struct acme_err *err)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL;
	int rc = -1;

	if (!url || !url[0])
		return acme_err_set(err, ACME_E_DATA, "the URL is empty");
	if (strlen(url) > URL_MAX)
		return acme_err_set(err, ACME_E_DATA, "the URL is longer than %d bytes", URL_MAX);
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return acme_err_set(err, ACME_E_DATA, "the URL contains a space or control "
					    "character; percent-encode it");
	u = curl_url();
	if (!u)
		return acme_err_set(err, ACME_E_FAILURE, "out of memory");
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK) {
		char *shown = url_redact(url);
		acme_err_set(err, ACME_E_DATA, "\"%s\" is not a valid URL: %s", shown,
			     curl_url_strerror(uc));
		free(shown);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
		acme_err_set(err, ACME_E_DATA, "only http:// and https:// URLs can receive webhooks");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
		acme_err_set(err, ACME_E_DATA, "the URL has no host");
		goto out;
	}
	enum netguard_class c;
	if (guard && netguard_classify_text(host, &c) == 0 && !netguard_allowed(c)) {
		acme_err_set(err, ACME_E_REFUSED, "refused by the outgoing-request guard: %s is a %s "
			     "address; in production webhooks only go to public addresses "
			     "(allow this endpoint with --allow-private)", host, netguard_class_name(c));
		goto out;
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* ---- helpers ------------------------------------------------------------------------ */

static char *col(const PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? NULL : xstrdup(PQgetvalue(res, row, c));
}

static int col_int(const PGresult *res, int row, int c, int def)
{
	return PQgetisnull(res, row, c) ? def : atoi(PQgetvalue(res, row, c));
}

static long long col_ll(const PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? 0 : strtoll(PQgetvalue(res, row, c), NULL, 10);
}

static bool col_bool(const PGresult *res, int row, int c)
{
	return !PQgetisnull(res, row, c) && PQgetvalue(res, row, c)[0] == 't';
}

/* A bytea column (text, hex form) as owned bytes with a NUL after them. */
static char *col_bytes(const PGresult *res, int row, int c, size_t *len)
{
	*len = 0;
	if (PQgetisnull(res, row, c))
		return NULL;
	size_t n = 0;
	unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, c), &n);
	if (!raw)
		return NULL;
	char *out = xmalloc(n + 1);
	memcpy(out, raw, n);
	out[n] = '\0';
	PQfreemem(raw);
	*len = n;
	return out;
}

static void ll_text(long long v, char *buf, size_t len)
{
	snprintf(buf, len, "%lld", v);
}

/* '{"a","b"}' for a text[] parameter; names were checked (no quotes). */
static char *array_literal(const char *const *items, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addch(&sb, '{');
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&sb, "%s\"%s\"", i ? "," : "", items[i]);
	strbuf_addch(&sb, '}');
	return strbuf_detach(&sb, NULL);
}

/* End the transaction of a change: COMMIT when rc is 0, else ROLLBACK and -1. */
static int finish(PGconn *db, int rc, struct acme_err *err)
{
	if (rc < 0) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db, err);
}

static int audit(PGconn *db, const struct webhook_actor *who, long long id, json_t *details,
		 struct acme_err *err)
{
	char target[40];
	snprintf(target, sizeof(target), "webhook %lld", id);
	char *text = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = audit_add(db, who->environment, who->command, target, text, err);
	free(text);
	json_decref(details);
	return rc;
}

static int not_found(struct acme_err *err, long long id)
{
	return acme_err_set(err, ACME_E_NOT_FOUND, "webhook %lld does not exist (see 'acmectl "
			    "webhooks list')", id);
}

/* ---- endpoints ------------------------------------------------------------------------ */

void webhook_release(struct webhook *w)
{
	free(w->url);
	for (size_t i = 0; i < w->nevents; i++)
		free(w->events[i]);
	free(w->events);
	free(w->description);
	free(w->disabled_reason);
	free(w->disabled_at);
	free(w->rotation_ends_at);
	free(w->failing_since);
	free(w->last_test_at);
	free(w->last_test_error);
	free(w->last_test_excerpt);
	free(w->created_at);
	free(w->updated_at);
	memset(w, 0, sizeof(*w));
}

void webhooks_free(struct webhook *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		webhook_release(&w[i]);
	free(w);
}

#define WEBHOOK_COLS                                                                         \
	"id, url, array_to_string(events, ','), description, enabled, allow_private, "          \
	"disabled_reason, " ISO("disabled_at") ", "                                            \
	"CASE WHEN previous_secret_expires_at > now() THEN " ISO("previous_secret_expires_at")  \
	" END, consecutive_failures, " ISO("failing_since") ", " ISO("last_test_at") ", "       \
	"last_test_status_code, last_test_latency_ms, last_test_error, "                        \
	"last_test_response_excerpt, " ISO("created_at") ", " ISO("updated_at")

static void webhook_from_row(const PGresult *res, int i, struct webhook *w)
{
	memset(w, 0, sizeof(*w));
	w->id = col_ll(res, i, 0);
	w->url = col(res, i, 1);
	const char *ev = PQgetvalue(res, i, 2);
	for (const char *p = ev; *p;) {
		size_t n = strcspn(p, ",");
		w->events = xrealloc(w->events, (w->nevents + 1) * sizeof(char *));
		w->events[w->nevents++] = xstrndup(p, n);
		p += n + (p[n] == ',');
	}
	w->description = col(res, i, 3);
	w->enabled = col_bool(res, i, 4);
	w->allow_private = col_bool(res, i, 5);
	w->disabled_reason = col(res, i, 6);
	w->disabled_at = col(res, i, 7);
	w->rotation_ends_at = col(res, i, 8);
	w->consecutive_failures = col_int(res, i, 9, 0);
	w->failing_since = col(res, i, 10);
	w->last_test_at = col(res, i, 11);
	w->tested = w->last_test_at != NULL;
	w->last_test_status = col_int(res, i, 12, 0);
	w->last_test_latency_ms = col_int(res, i, 13, -1);
	w->last_test_error = col(res, i, 14);
	w->last_test_excerpt = col_bytes(res, i, 15, &w->last_test_excerpt_len);
	w->created_at = col(res, i, 16);
	w->updated_at = col(res, i, 17);
}

#define LIST_SQL "SELECT " WEBHOOK_COLS " FROM webhooks ORDER BY id"

/* Every row of res as an endpoint (res is cleared). Returns the count. */
static int list_rows(PGresult *res, struct webhook **out)
{
	int n = PQntuples(res);
	*out = xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++)
		webhook_from_row(res, i, &(*out)[i]);
	PQclear(res);
	return n;
}

int webhook_list(PGconn *db, struct webhook **out, struct acme_err *err)
{
	*out = NULL;
	PGresult *res = db_exec(db, err, LIST_SQL, 0, NULL);
	if (!res)
		return -1;
	return list_rows(res, out);
}

int webhook_list_start(struct pgcall *call, PGconn *db, long deadline_ms, struct acme_err *err)
{
	return pgcall_start(call, db, LIST_SQL, 0, NULL, deadline_ms, err);
}

int webhook_list_finish(struct pgcall *call, struct webhook **out, struct acme_err *err)
{
	*out = NULL;
	PGresult *res = pgcall_finish(call, err);
	if (!res)
		return -1;
	return list_rows(res, out);
}

int webhook_get(PGconn *db, long long id, struct webhook *out, struct acme_err *err)
{
	char idt[24];
	ll_text(id, idt, sizeof(idt));
	const char *p[1] = { idt };
	PGresult *res = db_exec(db, err, "SELECT " WEBHOOK_COLS " FROM webhooks WHERE id = $1", 1, p);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return not_found(err, id);
	}
	webhook_from_row(res, 0, out);
	PQclear(res);
	return 0;
}

static json_t *spec_details(const struct webhook_spec *spec)
{
	json_t *d = json_object();
	if (spec->url) {
		char *shown = url_redact(spec->url);
		json_object_set_new(d, "url", json_string(shown));
		free(shown);
	}
	if (spec->events) {
		json_t *ev = json_array();
		for (size_t i = 0; i < spec->nevents; i++)
			json_array_append_new(ev, json_string(spec->events[i]));
		json_object_set_new(d, "events", ev);
	}
	if (spec->description)
		json_object_set_new(d, "description", json_string(spec->description));
	if (spec->enabled >= 0)
		json_object_set_new(d, "enabled", json_boolean(spec->enabled));
	if (spec->allow_private >= 0)
		json_object_set_new(d, "allow_private", json_boolean(spec->allow_private));
	return d;
}

/* The secret is sealed for the new row's id (core/whsecret.h), so the row
 * goes in with an empty secret and gets its sealed one in the same
 * transaction: the plain text never reaches the table or the WAL. */
int webhook_add(PGconn *db, const struct webhook_actor *who, const struct webhook_spec *spec,
		long long *id, struct acme_err *err)
{
	struct secretbox_keyring kr;
	char *sealed = NULL, kid[SECRETBOX_KEYID_LEN + 1] = "", idt[24];
	if (whsecret_keys(config_current(), &kr, err) < 0)
		return -1;
	char *events = array_literal(spec->events, spec->nevents);
	const char *p[6] = { spec->url, events, "",
			     spec->description && spec->description[0] ? spec->description : NULL,
			     spec->enabled == 0 ? "f" : "t", spec->allow_private == 1 ? "t" : "f" };
	int rc = db_begin(db, NULL, err);
	PGresult *res = NULL;
	if (rc == 0) {
		res = db_exec(db, err, "INSERT INTO webhooks (url, events, secret, description, enabled, "
			      "allow_private, disabled_reason, disabled_at) VALUES ($1, $2::text[], $3, "
			      "$4, $5::boolean, $6::boolean, CASE WHEN NOT $5::boolean THEN "
			      "'added disabled' END, CASE WHEN NOT $5::boolean THEN now() END) "
			      "RETURNING id", 6, p);
		rc = res ? 0 : -1;
	}
	if (rc == 0) {
		*id = col_ll(res, 0, 0);
		ll_text(*id, idt, sizeof(idt));
		rc = whsecret_seal(&kr, *id, "secret", spec->secret, &sealed, kid, err);
	}
	if (rc == 0) {
		const char *up[3] = { idt, sealed, kid };
		rc = db_cmd(db, err, "UPDATE webhooks SET secret = $2, secret_key_id = nullif($3, '') "
			    "WHERE id = $1", 3, up);
	}
	if (rc == 0)
		rc = audit(db, who, *id, spec_details(spec), err);
	PQclear(res);
	free(events);
	free(sealed);
	secretbox_keyring_release(&kr);
	return finish(db, rc, err);
}

int webhook_edit(PGconn *db, const struct webhook_actor *who, long long id,
		 const struct webhook_spec *spec, struct acme_err *err)
{
	char idt[24];
	char *events = spec->events ? array_literal(spec->events, spec->nevents) : NULL;
	ll_text(id, idt, sizeof(idt));
	const char *p[5] = { idt, spec->url, events, spec->description,
			     spec->allow_private < 0 ? NULL : spec->allow_private ? "t" : "f" };
	int rc = db_begin(db, NULL, err);
	PGresult *res = NULL;
	if (rc == 0) {
		res = db_exec(db, err, "UPDATE webhooks SET url = coalesce($2, url), "
			      "events = coalesce($3::text[], events), "
			      "description = CASE WHEN $4::text IS NULL THEN description "
			      "WHEN $4 = '' THEN NULL ELSE $4 END, "
			      "allow_private = coalesce($5::boolean, allow_private), updated_at = now() "
			      "WHERE id = $1 RETURNING id", 5, p);
		rc = res ? 0 : -1;
	}
	if (rc == 0 && PQntuples(res) == 0)
		rc = not_found(err, id);
	if (rc == 0)
		rc = audit(db, who, id, spec_details(spec), err);
	PQclear(res);
	free(events);
	return finish(db, rc, err);
}

int webhook_delete(PGconn *db, const struct webhook_actor *who, long long id,
		   struct acme_err *err)
{
	char idt[24];
	ll_text(id, idt, sizeof(idt));
	const char *p[1] = { idt };
	int rc = db_begin(db, NULL, err);
	PGresult *res = NULL;
	if (rc == 0) {
		res = db_exec(db, err, "DELETE FROM webhooks WHERE id = $1 RETURNING url, "
			      "(SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1)", 1, p);
		rc = res ? 0 : -1;
	}
	if (rc == 0 && PQntuples(res) == 0)
		rc = not_found(err, id);
	if (rc == 0) {
		char *shown = url_redact(PQgetvalue(res, 0, 0));
		rc = audit(db, who, id, json_pack("{s:s, s:I}", "url", shown, "deliveries_deleted",
						  (json_int_t)col_ll(res, 0, 1)), err);
		free(shown);
	}
	PQclear(res);
	return finish(db, rc, err);
}

/* Cancel what is waiting for a disabled endpoint (tests excepted: they are
 * how an operator checks it before enabling it again). */
static const char cancel_pending_sql[] =
	"UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, "
	"last_error = $2, updated_at = now() WHERE webhook_id = $1 "
	"AND status IN ('pending', 'retrying') AND event_type <> 'webhook.test'";

int webhook_set_enabled(PGconn *db, const struct webhook_actor *who, long long id, bool enabled,
			const char *reason, bool *changed, struct acme_err *err)
{
	char idt[24];
	ll_text(id, idt, sizeof(idt));
	const char *p[3] = { idt, enabled ? "t" : "f", reason };
	int rc = db_begin(db, NULL, err);
	PGresult *res = NULL;
	*changed = false;
	if (rc == 0) {
		res = db_exec(db, err, "WITH old AS (SELECT id, enabled FROM webhooks WHERE id = $1 "
			      "FOR UPDATE) UPDATE webhooks w SET enabled = $2::boolean, "
			      "disabled_reason = CASE WHEN $2::boolean THEN NULL ELSE $3 END, "
			      "disabled_at = CASE WHEN $2::boolean THEN NULL ELSE now() END, "
			      "consecutive_failures = CASE WHEN $2::boolean THEN 0 "
			      "ELSE w.consecutive_failures END, "
			      "failing_since = CASE WHEN $2::boolean THEN NULL ELSE w.failing_since END, "
			      "updated_at = now() FROM old WHERE w.id = old.id "
			      "AND old.enabled IS DISTINCT FROM $2::boolean RETURNING w.id", 3, p);
		rc = res ? 0 : -1;
	}
	if (rc == 0 && PQntuples(res) == 0) {
		/* no change: does it exist at all? */
		struct webhook w;
		rc = webhook_get(db, id, &w, err);
		if (rc == 0)
			webhook_release(&w);
	} else if (rc == 0) {
		*changed = true;
		if (!enabled) {
			char why[600];
			snprintf(why, sizeof(why), "endpoint disabled: %s", reason);
			const char *cp[2] = { idt, why };
			rc = db_cmd(db, err, cancel_pending_sql, 2, cp);
		}
		if (rc == 0)
			rc = audit(db, who, id, enabled ? NULL : json_pack("{s:s}", "reason", reason), err);
	}
	PQclear(res);
	return finish(db, rc, err);
}

int webhook_disable_auto(PGconn *db, long long id, const char *reason, bool *changed,
			 struct acme_err *err)
{
	char idt[24], why[700];
	ll_text(id, idt, sizeof(idt));
	const char *p[2] = { idt, reason };
	*changed = false;
	PGresult *res = db_exec(db, err, "UPDATE webhooks SET enabled = false, disabled_reason = $2, "
				"disabled_at = now(), updated_at = now() WHERE id = $1 AND enabled "
				"RETURNING id", 2, p);
	if (!res)
		return -1;
	*changed = PQntuples(res) == 1;
	PQclear(res);
	if (!*changed)
		return 0;
	snprintf(why, sizeof(why), "endpoint disabled: %s", reason);
	const char *cp[2] = { idt, why };
	return db_cmd(db, err, cancel_pending_sql, 2, cp);
}

/* The current secret moves to previous_secret: it is opened and sealed
 * again for that column (its associated data names the column). */
int webhook_rotate_secret(PGconn *db, const struct webhook_actor *who, long long id,
			  const char *secret, long long grace_ms, char *ends_at,
			  struct acme_err *err)
{
	struct secretbox_keyring kr;
	char idt[24], grace[32], k1[SECRETBOX_KEYID_LEN + 1] = "", k2[SECRETBOX_KEYID_LEN + 1] = "";
	char *v1 = NULL, *v2 = NULL, *old = NULL;
	PGresult *res = NULL;
	if (whsecret_keys(config_current(), &kr, err) < 0)
		return -1;
	ll_text(id, idt, sizeof(idt));
	snprintf(grace, sizeof(grace), "%.3f", (double)grace_ms / 1000.0);
	int rc = db_begin(db, NULL, err);
	if (rc == 0) {
		const char *sp[1] = { idt };
		res = db_exec(db, err, "SELECT secret, secret_key_id FROM webhooks WHERE id = $1 "
			      "FOR UPDATE", 1, sp);
		rc = res ? 0 : -1;
	}
	if (rc == 0 && PQntuples(res) == 0)
		rc = not_found(err, id);
	if (rc == 0 && grace_ms > 0) {
		old = whsecret_open(&kr, id, "secret", PQgetvalue(res, 0, 0),
				    PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1), err);
		rc = old ? whsecret_seal(&kr, id, "previous_secret", old, &v2, k2, err) : -1;
	}
	if (rc == 0)
		rc = whsecret_seal(&kr, id, "secret", secret, &v1, k1, err);
	PQclear(res);
	res = NULL;
	if (rc == 0) {
		const char *p[6] = { idt, v1, grace, v2, k1, k2 };
		res = db_exec(db, err, "UPDATE webhooks SET previous_secret = CASE WHEN $3::float8 > 0 "
			      "THEN $4 END, previous_secret_key_id = CASE WHEN $3::float8 > 0 THEN "
			      "nullif($6, '') END, previous_secret_expires_at = CASE WHEN $3::float8 > 0 "
			      "THEN now() + make_interval(secs => $3::float8) END, secret = $2, "
			      "secret_key_id = nullif($5, ''), "
			      "updated_at = now() WHERE id = $1 RETURNING "
			      ISO("previous_secret_expires_at"), 6, p);
		rc = res ? 0 : -1;
	}
	if (rc == 0) {
		if (ends_at)
			snprintf(ends_at, 40, "%s", PQgetvalue(res, 0, 0));
		rc = audit(db, who, id, json_pack("{s:I}", "grace_ms", (json_int_t)grace_ms), err);
	}
	PQclear(res);
	if (old) {
		OPENSSL_cleanse(old, strlen(old));
		free(old);
	}
	free(v1);
	free(v2);
	secretbox_keyring_release(&kr);
	return finish(db, rc, err);
}

int webhook_test(PGconn *db, long long id, char *event_id, struct acme_err *err)
{
	struct webhook w;
	long long oid = 0;
	if (webhook_get(db, id, &w, err) < 0)
		return -1;
	webhook_release(&w);
	char *me = acme_whoami();
	json_t *data = json_pack("{s:I, s:s, s:s}", "webhook_id", (json_int_t)id, "message",
				 "a test event from acmectl webhooks test", "requested_by", me);
	free(me);
	int rc = db_begin(db, NULL, err);
	if (rc == 0)
		rc = outbox_add(db, WEBHOOK_EVENT_TEST, data, &oid, err);
	json_decref(data);
	if (finish(db, rc, err) < 0)
		return -1;
	snprintf(event_id, 64, "evt_%lld", oid);
	return 0;
}

/* ---- deliveries ------------------------------------------------------------------------ */

void webhook_delivery_release(struct webhook_delivery *d)
{
	free(d->event_id);
	free(d->event_type);
	free(d->status);
	free(d->next_attempt_at);
	free(d->last_error);
	free(d->created_at);
	free(d->delivered_at);
	free(d->updated_at);
	free(d->last_excerpt);
	free(d->url);
	free(d->body);
	memset(d, 0, sizeof(*d));
}

void webhook_deliveries_free(struct webhook_delivery *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		webhook_delivery_release(&d[i]);
	free(d);
}

void webhook_attempts_free(struct webhook_attempt *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].started_at);
		free(a[i].request_headers);
		free(a[i].remote_addr);
		free(a[i].response_headers);
		free(a[i].error);
		free(a[i].excerpt);
	}
	free(a);
}

#define DELIVERY_COLS                                                                       \
	"d.id, d.webhook_id, d.redelivery_of, d.event_id, d.event_type, d.status, d.attempts, " \
	ISO("d.next_attempt_at") ", d.last_error, " ISO("d.created_at") ", "                   \
	ISO("d.delivered_at") ", " ISO("d.updated_at") ", a.status_code, a.latency_ms, "        \
	"a.response_excerpt, w.url"
#define DELIVERY_FROM                                                                       \
	" FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "                   \
	"LEFT JOIN LATERAL (SELECT status_code, latency_ms, response_excerpt "                \
	"FROM webhook_attempts WHERE delivery_id = d.id ORDER BY attempt DESC LIMIT 1) a ON true "

static void delivery_from_row(const PGresult *res, int i, struct webhook_delivery *d)
{
	memset(d, 0, sizeof(*d));
	d->id = col_ll(res, i, 0);
	d->webhook_id = col_ll(res, i, 1);
	d->redelivery_of = col_ll(res, i, 2);
	d->event_id = col(res, i, 3);
	d->event_type = col(res, i, 4);
	d->status = col(res, i, 5);
	d->state = DELIVERY_PENDING;
	if (d->status)
		delivery_status_parse(d->status, &d->state);
	d->attempts = col_int(res, i, 6, 0);
	d->next_attempt_at = col(res, i, 7);
	d->last_error = col(res, i, 8);
	d->created_at = col(res, i, 9);
	d->delivered_at = col(res, i, 10);
	d->updated_at = col(res, i, 11);
	d->last_status_code = col_int(res, i, 12, 0);
	d->last_latency_ms = col_int(res, i, 13, -1);
	d->last_excerpt = col_bytes(res, i, 14, &d->last_excerpt_len);
	d->url = col(res, i, 15);
}

#define DELIVERIES_SQL "SELECT " DELIVERY_COLS DELIVERY_FROM \
	"WHERE ($1::bigint IS NULL OR d.webhook_id = $1) " \
	"AND ($2::text IS NULL OR d.status = $2) " \
	"AND ($3::text IS NULL OR d.event_type = $3) " \
	"AND ($5::bigint IS NULL OR d.id < $5) " \
	"ORDER BY d.id DESC LIMIT $4"

struct deliveries_params {
	char wid[24], lim[24], after[24];
	const char *v[5];
};

/* The parameters of DELIVERIES_SQL for f (pointing into f and dp). */
static void deliveries_params(const struct webhook_delivery_filter *f, struct deliveries_params *dp)
{
	long limit = f->limit > 0 ? f->limit : 50;
	ll_text(f->webhook_id, dp->wid, sizeof(dp->wid));
	ll_text(limit + 1, dp->lim, sizeof(dp->lim));   /* one more tells whether a next page exists */
	ll_text(f->after, dp->after, sizeof(dp->after));
	dp->v[0] = f->webhook_id ? dp->wid : NULL;
	dp->v[1] = f->status;
	dp->v[2] = f->event_type;
	dp->v[3] = dp->lim;
	dp->v[4] = f->after > 0 ? dp->after : NULL;
}

/* The deliveries of a page (res is cleared). Returns their count. */
static int deliveries_rows(PGresult *res, const struct webhook_delivery_filter *f,
			   struct webhook_delivery **out, long long *next)
{
	long limit = f->limit > 0 ? f->limit : 50;
	int n = PQntuples(res);
	if (n > limit) {
		n = (int)limit;
		if (next)
			*next = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
	}
	*out = xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++)
		delivery_from_row(res, i, &(*out)[i]);
	PQclear(res);
	return n;
}

int webhook_deliveries(PGconn *db, const struct webhook_delivery_filter *f,
		       struct webhook_delivery **out, long long *next, struct acme_err *err)
{
	struct deliveries_params dp;
	deliveries_params(f, &dp);
	*out = NULL;
	if (next)
		*next = 0;
	PGresult *res = db_exec(db, err, DELIVERIES_SQL, 5, dp.v);
	if (!res)
		return -1;
	return deliveries_rows(res, f, out, next);
}

int webhook_deliveries_start(struct pgcall *call, PGconn *db,
			     const struct webhook_delivery_filter *f, long deadline_ms,
			     struct acme_err *err)
{
	struct deliveries_params dp;
	deliveries_params(f, &dp);
	return pgcall_start(call, db, DELIVERIES_SQL, 5, dp.v, deadline_ms, err);
}

int webhook_deliveries_finish(struct pgcall *call, const struct webhook_delivery_filter *f,
			      struct webhook_delivery **out, long long *next, struct acme_err *err)
{
	*out = NULL;
	if (next)
		*next = 0;
	PGresult *res = pgcall_finish(call, err);
	if (!res)
		return -1;
	return deliveries_rows(res, f, out, next);
}

static int delivery_not_found(struct acme_err *err, long long id)
{
	return acme_err_set(err, ACME_E_NOT_FOUND, "delivery %lld does not exist (see 'acmectl "
			    "webhooks deliveries')", id);
}

/* The attempts of one delivery, oldest first: one statement and one parser
 * for webhook_delivery_get() and the non-blocking webhook_attempts_start(). */
#define ATTEMPTS_SQL "SELECT attempt, " ISO("started_at") ", request_headers::text, " \
	"status_code, latency_ms, remote_addr, response_headers::text, response_excerpt, error " \
	"FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt"

static size_t parse_attempts(const PGresult *res, struct webhook_attempt **attempts)
{
	int n = PQntuples(res);
	*attempts = xcalloc((size_t)n + 1, sizeof(**attempts));
	for (int i = 0; i < n; i++) {
		struct webhook_attempt *a = &(*attempts)[i];
		a->attempt = col_int(res, i, 0, 0);
		a->started_at = col(res, i, 1);
		a->request_headers = col(res, i, 2);
		a->status_code = col_int(res, i, 3, 0);
		a->latency_ms = col_int(res, i, 4, -1);
		a->remote_addr = col(res, i, 5);
		a->response_headers = col(res, i, 6);
		a->excerpt = col_bytes(res, i, 7, &a->excerpt_len);
		a->error = col(res, i, 8);
	}
	return (size_t)n;
}

int webhook_delivery_get(PGconn *db, long long id, struct webhook_delivery *d,
			 struct webhook_attempt **attempts, size_t *nattempts, struct acme_err *err)
{
	char idt[24];
	ll_text(id, idt, sizeof(idt));
	const char *p[1] = { idt };
	*attempts = NULL;
	*nattempts = 0;
	PGresult *res = db_exec(db, err, "SELECT " DELIVERY_COLS ", d.body" DELIVERY_FROM
				"WHERE d.id = $1", 1, p);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return delivery_not_found(err, id);
	}
	delivery_from_row(res, 0, d);
	d->body = col_bytes(res, 0, 16, &d->body_len);
	PQclear(res);
	res = db_exec(db, err, ATTEMPTS_SQL, 1, p);
	if (!res) {
		webhook_delivery_release(d);
		return -1;
	}
	*nattempts = parse_attempts(res, attempts);
	PQclear(res);
	return 0;
}

int webhook_attempts_start(struct pgcall *call, PGconn *db, long long delivery_id,
			   long deadline_ms, struct acme_err *err)
{
	char idt[24];
	ll_text(delivery_id, idt, sizeof(idt));
	const char *p[1] = { idt };
	return pgcall_start(call, db, ATTEMPTS_SQL, 1, p, deadline_ms, err);
}

int webhook_attempts_finish(struct pgcall *call, struct webhook_attempt **attempts,
			    size_t *nattempts, struct acme_err *err)
{
	*attempts = NULL;
	*nattempts = 0;
	PGresult *res = pgcall_finish(call, err);
	if (!res)
		return -1;
	size_t n = parse_attempts(res, attempts);
	*nattempts = n;
	PQclear(res);
	return (int)n;
}

int webhook_find_test(PGconn *db, long long webhook_id, const char *event_id,
		      struct webhook_delivery *d, struct acme_err *err)
{
	char wid[24];
	ll_text(webhook_id, wid, sizeof(wid));
	const char *p[2] = { wid, event_id };
	memset(d, 0, sizeof(*d));
	PGresult *res = db_exec(db, err, "SELECT " DELIVERY_COLS DELIVERY_FROM
				"WHERE d.webhook_id = $1 AND d.event_id = $2 "
				"AND d.redelivery_of IS NULL", 2, p);
	if (!res)
		return -1;
	if (PQntuples(res) == 1) {
		delivery_from_row(res, 0, d);
		PQclear(res);
		d->relayed = true;
		return 0;
	}
	PQclear(res);
	/* not there yet: has the event left the outbox? */
	const char *op[1] = { event_id + (strncmp(event_id, "evt_", 4) == 0 ? 4 : 0) };
	res = db_exec(db, err, "SELECT relayed_at IS NOT NULL FROM outbox WHERE id = $1::bigint",
		      1, op);
	if (!res)
		return -1;
	d->relayed = PQntuples(res) == 1 && col_bool(res, 0, 0);
	PQclear(res);
	return acme_err_set(err, ACME_E_NOT_FOUND, "no delivery of %s yet", event_id);
}

int webhook_redeliver(PGconn *db, const struct webhook_actor *who, long long id,
		      long long *new_id, struct acme_err *err)
{
	char idt[24];
	ll_text(id, idt, sizeof(idt));
	const char *p[1] = { idt };
	int rc = db_begin(db, NULL, err);
	PGresult *res = NULL;
	if (rc == 0) {
		res = db_exec(db, err, "SELECT d.status, w.enabled, w.id, d.event_id, d.event_type "
			      "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
			      "WHERE d.id = $1 FOR UPDATE OF d", 1, p);
		rc = res ? 0 : -1;
	}
	if (rc == 0 && PQntuples(res) == 0)
		rc = delivery_not_found(err, id);
	if (rc == 0) {
		const char *status = PQgetvalue(res, 0, 0);
		enum delivery_status st = DELIVERY_PENDING;
		delivery_status_parse(status, &st);
		if (!col_bool(res, 0, 1) && strcmp(PQgetvalue(res, 0, 4), WEBHOOK_EVENT_TEST) != 0)
			rc = acme_err_set(err, ACME_E_REFUSED, "delivery %lld: webhook %s is disabled; "
					  "enable it first ('acmectl webhooks enable %s')", id,
					  PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 2));
		else if (!delivery_status_is_final(st))
			rc = acme_err_set(err, ACME_E_REFUSED, "delivery %lld is still %s; redeliver "
					  "it once it has succeeded or failed", id, status);
	}
	long long wid = rc == 0 ? col_ll(res, 0, 2) : 0;
	PQclear(res);
	res = NULL;
	if (rc == 0) {
		/* the original of a redelivery is the root, so all copies of one
		 * event point at the same row */
		res = db_exec(db, err, "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, "
			      "body, next_attempt_at, redelivery_of) SELECT webhook_id, event_id, "
			      "event_type, body, now(), coalesce(redelivery_of, id) "
			      "FROM webhook_deliveries WHERE id = $1 RETURNING id, event_id", 1, p);
		rc = res ? 0 : -1;
	}
	if (rc == 0) {
		*new_id = col_ll(res, 0, 0);
		rc = audit(db, who, wid, json_pack("{s:I, s:I, s:s}", "delivery", (json_int_t)id,
						 "redelivery", (json_int_t)*new_id, "event_id",
						 PQgetvalue(res, 0, 1)), err);
	}
	PQclear(res);
	return finish(db, rc, err);
}

int webhook_wake(PGconn *db, struct queue *q, const char *id, long long delay_ms,
		 struct acme_err *err)
{
	struct queue_spec spec = { 0 };
	bool existed = false;
	char *by = job_created_by();
	spec.id = id;
	spec.type = "webhook.deliver";
	spec.delay_ms = delay_ms > 0 ? delay_ms : 0;
	int rc = jobtype_fill_spec(&spec, err);
	if (rc == 0)
		rc = job_enqueue(db, q, &spec, by, NULL, &existed, err);
	free(by);
	return rc;
}

/* ---- delivery status ---- */

static const char *const delivery_status_names[DELIVERY__COUNT] = {
	"pending", "delivering", "retrying", "succeeded", "failed", "cancelled",
};

const char *delivery_status_name(enum delivery_status s)
{
	return (unsigned)s < DELIVERY__COUNT ? delivery_status_names[s] : "unknown";
}

int delivery_status_parse(const char *s, enum delivery_status *out)
{
	for (int i = 0; i < DELIVERY__COUNT; i++)
		if (strcmp(s, delivery_status_names[i]) == 0) {
			*out = (enum delivery_status)i;
			return 0;
		}
	return -1;
}

bool delivery_status_is_final(enum delivery_status s)
{
	return s == DELIVERY_SUCCEEDED || s == DELIVERY_FAILED || s == DELIVERY_CANCELLED;
}
