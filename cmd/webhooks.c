/* webhooks.c — `acmectl webhooks`: manage webhook endpoints, look at what
 * happened to every delivery, send tests and redeliveries through the real
 * delivery path, and `listen`, a local receiver that verifies signatures.
 *
 * The endpoint and delivery-log verbs are thin: core/webhook.c holds their
 * SQL, core/whdeliver.c the delivery. Secrets are read from a file or stdin
 * (--secret-file F|-), never from the command line; a generated secret is
 * printed once, by `add` or `rotate-secret`, and never again: listings and
 * JSON show WHSIG_MASKED.
 *
 * Also `webhooks_complete()`, the live ids the shell completions offer.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "cmd/wait.h"
#include "core/audit.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/httpd.h"
#include "core/outbox.h"
#include "core/output.h"
#include "core/queue.h"
#include "core/strbuf.h"
#include "core/url.h"
#include "core/webhook.h"
#include "core/whsecret.h"
#include "core/whsig.h"
#include "core/xalloc.h"

#define SECRET_FILE_MAX 8192

/* ---- helpers ------------------------------------------------------------------------ */

static int parse_id(struct ctx *ctx, const char *s, const char *what, long long *id)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!s[0] || *end || v <= 0 || s[0] == '+' || s[0] == '-')
		return acme_err_set(&ctx->err, ACME_E_USAGE, "%s \"%s\" is not an id (a positive "
				    "number; see 'acmectl webhooks %s')", what, s,
				    strcmp(what, "webhook") == 0 ? "list" : "deliveries");
	*id = v;
	return 0;
}

static int load_settings(struct ctx *ctx, struct webhook_settings *s)
{
	return webhook_settings_load(&ctx->s.cfg, s, &ctx->err);
}

static void actor(struct ctx *ctx, struct webhook_actor *who, char *buf, size_t len)
{
	snprintf(buf, len, "webhooks %s", ctx->verb ? ctx->verb->name : "");
	who->environment = config_get(&ctx->s.cfg, CFG_ENV);
	who->command = buf;
}

/* The whole of a file, or of stdin for "-", at most SECRET_FILE_MAX bytes.
 * Caller frees (after cleansing: it is a secret). */
static char *read_secret_source(struct ctx *ctx, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		acme_err_set(&ctx->err, ACME_E_DATA, "--secret-file %s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = xmalloc(SECRET_FILE_MAX + 2);
	size_t n = fread(buf, 1, SECRET_FILE_MAX + 1, f);
	bool bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (bad || n > SECRET_FILE_MAX) {
		acme_err_set(&ctx->err, ACME_E_DATA, "--secret-file %s: %s", path,
			     bad ? "cannot read it" : "longer than 8192 bytes; is it a secret?");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static void cleanse_free(char *s)
{
	if (!s)
		return;
	volatile char *p = s;
	while (*p)
		*p++ = '\0';
	free(s);
}

/* The secret of --secret-file (canonical form into out), or a new one. Sets
 * *generated for a new one, which the caller prints once. */
static int secret_from_args(struct ctx *ctx, struct args *a, char *out, bool *generated)
{
	const char *path = args_get(a, "secret-file");
	struct whsig_key key;
	*generated = false;
	if (!path) {
		*generated = true;
		return whsig_secret_new(out, &ctx->err);
	}
	char *text = read_secret_source(ctx, path);
	if (!text)
		return -1;
	int rc = whsig_secret_parse(text, &key, out, &ctx->err);
	cleanse_free(text);
	if (rc < 0)
		return acme_err_prefix(&ctx->err, "--secret-file %s", path);
	return 0;
}

static bool json_format(struct ctx *ctx)
{
	enum out_format f = ctx_format(ctx);
	return f == OUT_JSON || f == OUT_NDJSON;
}

/* Bytes from outside as a JSON string: valid UTF-8 is kept, anything else
 * becomes '?'. */
static json_t *bytes_json(const char *b, size_t n)
{
	if (!b)
		return json_null();
	json_t *j = json_stringn(b, n);
	if (j)
		return j;
	char *copy = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)b[i] >= 0x80 ? '?' : b[i];
	copy[n] = '\0';
	j = json_stringn(copy, n);
	free(copy);
	return j ? j : json_null();
}

/* Print a JSON object: as JSON for -o json/ndjson, else as field/value rows
 * (nested objects and arrays of objects flattened to "a.b", "a.1.b"). */
static void flatten(struct output *o, const char *prefix, json_t *v)
{
	if (json_is_object(v) && json_object_size(v) > 0) {
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x) {
			char *name = prefix[0] ? xasprintf("%s.%s", prefix, k) : xstrdup(k);
			flatten(o, name, x);
			free(name);
		}
		return;
	}
	if (json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0))) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			json_t *n = json_object_get(x, "attempt");
			char *name = xasprintf("%s.%lld", prefix, n ? (long long)json_integer_value(n) :
					       (long long)i + 1);
			flatten(o, name, x);
			free(name);
		}
		return;
	}
	char *text = json_is_string(v) ? xstrdup(json_string_value(v)) : json_is_null(v) ? NULL :
		     json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	const char *row[2] = { prefix, text };
	output_row(o, row);
	free(text);
}

static void print_doc(struct ctx *ctx, json_t *doc)
{
	enum out_format fmt = ctx_format(ctx);
	if (fmt == OUT_JSON || fmt == OUT_NDJSON) {
		output_json(ctx->out, doc, fmt == OUT_JSON);
		return;
	}
	static const struct out_col cols[] = { { "field", COL_STR }, { "value", COL_STR } };
	struct output *o = output_new(ctx->out, fmt, cols, 2);
	output_set_color(o, ctx->color);
	flatten(o, "", doc);
	output_end(o, NULL);
}

/* "--event a --event b" as one checked list without repeats; NULL-terminated,
 * owned. The option table limits the names already; this also keeps
 * webhook.test out. */
static int events_from_args(struct ctx *ctx, struct args *a, char ***out, size_t *n)
{
	const char **vals;
	int nv = args_all(a, "event", &vals);
	*out = NULL;
	*n = 0;
	for (int i = 0; i < nv; i++)
		if (webhook_events_add(vals[i], " ", out, n, &ctx->err) < 0)
			goto fail;
	return 0;
fail:
	for (size_t k = 0; k < *n; k++)
		free((*out)[k]);
	free(*out);
	*out = NULL;
	*n = 0;
	return -1;
}

static void events_free(char **ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ev[i]);
	free(ev);
}

/* ---- list --------------------------------------------------------------------------- */

static void last_test_text(const struct webhook *w, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!w->tested)
		return;
	char plain[32];
	snprintf(plain, sizeof(plain), "HTTP %d", w->last_test_status);
	/* the error only when it says more than the status (a redirect's target) */
	const char *more = w->last_test_error && strcmp(w->last_test_error, plain) != 0 ?
			   w->last_test_error : NULL;
	if (w->last_test_status)
		snprintf(buf, len, "HTTP %d in %d ms at %s%s%s", w->last_test_status,
			 w->last_test_latency_ms, w->last_test_at, more ? ": " : "", more ? more : "");
	else
		snprintf(buf, len, "error at %s: %s", w->last_test_at,
			 w->last_test_error ? w->last_test_error : "no response");
}

static json_t *webhook_json(const struct webhook *w)
{
	char *url = url_redact(w->url);
	json_t *ev = json_array();
	for (size_t i = 0; i < w->nevents; i++)
		json_array_append_new(ev, json_string(w->events[i]));
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(w->id));
	json_object_set_new(o, "url", json_string(url));
	json_object_set_new(o, "events", ev);
	json_object_set_new(o, "description", json_str_or_null(w->description));
	json_object_set_new(o, "enabled", json_boolean(w->enabled));
	json_object_set_new(o, "disabled_reason", json_str_or_null(w->disabled_reason));
	json_object_set_new(o, "disabled_at", json_str_or_null(w->disabled_at));
	json_object_set_new(o, "allow_private", json_boolean(w->allow_private));
	json_object_set_new(o, "secret", json_string(WHSIG_MASKED));
	json_object_set_new(o, "previous_secret_signs_until", json_str_or_null(w->rotation_ends_at));
	json_object_set_new(o, "consecutive_failures", json_integer(w->consecutive_failures));
	json_object_set_new(o, "failing_since", json_str_or_null(w->failing_since));
	if (w->tested)
		json_object_set_new(o, "last_test", json_pack("{s:s, s:o, s:o, s:o, s:o}",
			"at", w->last_test_at,
			"status_code", w->last_test_status ? json_integer(w->last_test_status) : json_null(),
			"latency_ms", w->last_test_latency_ms >= 0 ? json_integer(w->last_test_latency_ms) :
				      json_null(),
			"error", json_str_or_null(w->last_test_error),
			"response_excerpt", bytes_json(w->last_test_excerpt, w->last_test_excerpt_len)));
	else
		json_object_set_new(o, "last_test", json_null());
	json_object_set_new(o, "created_at", json_str_or_null(w->created_at));
	json_object_set_new(o, "updated_at", json_str_or_null(w->updated_at));
	free(url);
	return o;
}

static int wh_list(struct ctx *ctx, struct args *a)
{
	static const struct out_col cols[] = {
		{ "id", COL_INT }, { "url", COL_STR }, { "events", COL_STR }, { "status", COL_STR },
		{ "last_test", COL_STR }, { "description", COL_STR },
	};
	struct webhook *ws = NULL;
	(void)a;
	int n = webhook_list(ctx->s.db, &ws, &ctx->err);
	if (n < 0)
		return -1;
	/* every endpoint at once: there are tens, not thousands, so no paging */
	struct output *o = ctx_output_new(ctx, cols, sizeof(cols) / sizeof(cols[0]));
	if (!o) {
		webhooks_free(ws, (size_t)n);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const struct webhook *w = &ws[i];
		if (output_is_json(o)) {
			output_item(o, webhook_json(w));
			continue;
		}
		char id[24], status[600], test[800];
		struct strbuf ev = STRBUF_INIT;
		char *url = url_redact(w->url);
		snprintf(id, sizeof(id), "%lld", w->id);
		for (size_t k = 0; k < w->nevents; k++)
			strbuf_addf(&ev, "%s%s", k ? "," : "", w->events[k]);
		if (w->enabled)
			snprintf(status, sizeof(status), "enabled%s%s%s",
				 w->consecutive_failures ? " (" : "",
				 w->consecutive_failures ? "failing" : "",
				 w->consecutive_failures ? ")" : "");
		else
			snprintf(status, sizeof(status), "disabled: %s",
				 w->disabled_reason ? w->disabled_reason : "(no reason given)");
		last_test_text(w, test, sizeof(test));
		const char *row[] = { id, url, ev.buf, status, test[0] ? test : NULL, w->description };
		output_row(o, row);
		strbuf_release(&ev);
		free(url);
	}
	output_end(o, NULL);
	webhooks_free(ws, (size_t)n);
	return 0;
}

/* ---- add, edit ---------------------------------------------------------------------- */

static int check_url(struct ctx *ctx, const char *url, bool allow_private)
{
	struct webhook_settings s;
	if (load_settings(ctx, &s) < 0)
		return -1;
	if (webhook_check_url(url, webhook_guard_on(&s, allow_private), &ctx->err) < 0)
		return acme_err_prefix(&ctx->err, "%s", ctx->verb->name);
	return 0;
}

static int wh_add(struct ctx *ctx, struct args *a)
{
	char secret[WHSIG_SECRET_MAX] = "", cmdname[64];
	char **events = NULL;
	size_t nevents = 0;
	bool generated = false;
	long long id = 0;
	int rc = -1;
	struct webhook_actor who;

	const char *url = a->argv[0];
	bool allow_private = args_has(a, "allow-private");
	if (events_from_args(ctx, a, &events, &nevents) < 0)
		return -1;
	if (nevents == 0) {
		rc = acme_err_set(&ctx->err, ACME_E_USAGE, "add: give the events to send with --event "
				  "E (repeatable; * for all)");
		goto out;
	}
	if (check_url(ctx, url, allow_private) < 0 || whsecret_require(&ctx->s.cfg, &ctx->err) < 0 ||
	    secret_from_args(ctx, a, secret, &generated) < 0)
		goto out;
	if (!ctx_db(ctx))
		goto out;
	struct webhook_spec spec = { url, (const char *const *)events, nevents,
				     args_get(a, "description"), args_has(a, "disabled") ? 0 : 1,
				     allow_private ? 1 : 0, secret };
	actor(ctx, &who, cmdname, sizeof(cmdname));
	if (webhook_add(ctx->s.db, &who, &spec, &id, &ctx->err) < 0)
		goto out;

	struct webhook w;
	if (webhook_get(ctx->s.db, id, &w, &ctx->err) < 0)
		goto out;
	json_t *doc = webhook_json(&w);
	webhook_release(&w);
	if (generated) {
		/* the only time it is shown */
		json_object_set_new(doc, "secret", json_string(secret));
		ctx_msg(ctx, "webhook %lld added; its signing secret is shown this once: store it now "
			"(a new one: 'acmectl webhooks rotate-secret %lld')", id, id);
	} else {
		ctx_msg(ctx, "webhook %lld added with the secret from %s", id, args_get(a, "secret-file"));
	}
	print_doc(ctx, doc);
	json_decref(doc);
	rc = 0;
out:
	memset(secret, 0, sizeof(secret));
	events_free(events, nevents);
	return rc;
}

static int wh_edit(struct ctx *ctx, struct args *a)
{
	char **events = NULL, cmdname[64];
	size_t nevents = 0;
	long long id;
	int rc = -1;
	struct webhook_actor who;
	struct webhook w;

	if (parse_id(ctx, a->argv[0], "webhook", &id) < 0)
		return -1;
	if (args_has(a, "allow-private") && args_has(a, "deny-private"))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "edit: --allow-private and --deny-private "
				    "contradict each other");
	if (events_from_args(ctx, a, &events, &nevents) < 0)
		return -1;
	const char *url = args_get(a, "url");
	const char *desc = args_get(a, "description");
	int allow = args_has(a, "allow-private") ? 1 : args_has(a, "deny-private") ? 0 : -1;
	if (!url && !nevents && !desc && allow < 0) {
		rc = acme_err_set(&ctx->err, ACME_E_USAGE, "edit: nothing to change; give --url, "
				  "--event, --description, --allow-private or --deny-private");
		goto out;
	}
	if (webhook_get(ctx->s.db, id, &w, &ctx->err) < 0)
		goto out;
	bool effective_allow = allow >= 0 ? allow == 1 : w.allow_private;
	/* the guard applies to the URL the endpoint will have */
	int c = check_url(ctx, url ? url : w.url, effective_allow);
	webhook_release(&w);
	if (c < 0)
		goto out;
	struct webhook_spec spec = { url, nevents ? (const char *const *)events : NULL, nevents, desc,
				     -1, allow, NULL };
	actor(ctx, &who, cmdname, sizeof(cmdname));
	if (webhook_edit(ctx->s.db, &who, id, &spec, &ctx->err) < 0)
		goto out;
	if (webhook_get(ctx->s.db, id, &w, &ctx->err) < 0)
		goto out;
	ctx_msg(ctx, "webhook %lld changed", id);
	json_t *doc = webhook_json(&w);
	webhook_release(&w);
	print_doc(ctx, doc);
	json_decref(doc);
	rc = 0;
out:
	events_free(events, nevents);
	return rc;
}

/* ---- delete, enable, disable ---------------------------------------------------------- */

/* The one confirmation policy (core/confirm.h); --dry-run says what would go. */
static int confirm(struct ctx *ctx, struct args *a, enum confirm_kind kind, const char *what,
		   const char *nothing)
{
	struct confirm_text ct = { what, NULL, NULL, nothing };
	if (ctx_dry_run(ctx, a, what))
		return 1;
	return ctx_confirm_action(ctx, a, kind, 1, &ct);
}

static int wh_delete(struct ctx *ctx, struct args *a)
{
	long long id;
	struct webhook w;
	char what[600], cmdname[64];
	struct webhook_actor who;
	if (parse_id(ctx, a->argv[0], "webhook", &id) < 0 || webhook_get(ctx->s.db, id, &w, &ctx->err) < 0)
		return -1;
	char *url = url_redact(w.url);
	snprintf(what, sizeof(what), "delete webhook %lld (%.400s) and its delivery log", id, url);
	free(url);
	webhook_release(&w);
	int c = confirm(ctx, a, CONFIRM_DESTRUCTIVE, what, "nothing was deleted");
	if (c != 0)
		return c < 0 ? -1 : 0;
	actor(ctx, &who, cmdname, sizeof(cmdname));
	if (webhook_delete(ctx->s.db, &who, id, &ctx->err) < 0)
		return -1;
	ctx_msg(ctx, "webhook %lld deleted", id);
	return 0;
}

static int set_enabled(struct ctx *ctx, struct args *a, bool enabled)
{
	long long id;
	bool changed = false;
	char cmdname[64], reason[600];
	struct webhook_actor who;
	if (parse_id(ctx, a->argv[0], "webhook", &id) < 0)
		return -1;
	const char *given = args_get(a, "reason");
	if (given) {
		snprintf(reason, sizeof(reason), "%s", given);
	} else {
		char *me = acme_whoami();
		snprintf(reason, sizeof(reason), "disabled by %s", me);
		free(me);
	}
	actor(ctx, &who, cmdname, sizeof(cmdname));
	if (webhook_set_enabled(ctx->s.db, &who, id, enabled, reason, &changed, &ctx->err) < 0)
		return -1;
	if (!changed)
		ctx_msg(ctx, "webhook %lld was %s already", id, enabled ? "enabled" : "disabled");
	else if (enabled)
		ctx_msg(ctx, "webhook %lld enabled (its failure count starts again at 0)", id);
	else
		ctx_msg(ctx, "webhook %lld disabled; deliveries waiting for it are cancelled", id);
	return 0;
}

static int wh_enable(struct ctx *ctx, struct args *a) { return set_enabled(ctx, a, true); }
static int wh_disable(struct ctx *ctx, struct args *a) { return set_enabled(ctx, a, false); }

/* ---- rotate-secret ------------------------------------------------------------------- */

static int wh_rotate(struct ctx *ctx, struct args *a)
{
	char secret[WHSIG_SECRET_MAX] = "", ends[40] = "", cmdname[64];
	bool generated = false;
	long long id;
	struct webhook_settings s;
	struct webhook_actor who;
	int rc = -1;

	if (parse_id(ctx, a->argv[0], "webhook", &id) < 0 || load_settings(ctx, &s) < 0 ||
	    whsecret_require(&ctx->s.cfg, &ctx->err) < 0)
		return -1;
	long long grace = args_has(a, "grace") ? args_int(a, "grace", 0) : s.rotate_grace_ms;
	char what[160];
	snprintf(what, sizeof(what), "give webhook %lld a new secret", id);
	int c = confirm(ctx, a, CONFIRM_NAMED, what, "the secret is unchanged");
	if (c != 0)
		return c < 0 ? -1 : 0;
	if (secret_from_args(ctx, a, secret, &generated) < 0)
		goto out;
	actor(ctx, &who, cmdname, sizeof(cmdname));
	if (webhook_rotate_secret(ctx->s.db, &who, id, secret, grace, ends, &ctx->err) < 0)
		goto out;
	if (ends[0])
		ctx_msg(ctx, "webhook %lld has a new secret; the previous one keeps signing beside it "
			"until %s", id, ends);
	else
		ctx_msg(ctx, "webhook %lld has a new secret; the previous one no longer signs", id);
	json_t *doc = json_pack("{s:I, s:s, s:o}", "id", (json_int_t)id, "secret",
				generated ? secret : WHSIG_MASKED, "previous_secret_signs_until",
				ends[0] ? json_string(ends) : json_null());
	if (generated)
		ctx_msg(ctx, "the new secret is shown this once: store it now");
	print_doc(ctx, doc);
	json_decref(doc);
	rc = 0;
out:
	memset(secret, 0, sizeof(secret));
	return rc;
}

/* ---- rotate-key ---------------------------------------------------------------------- */

/* Bring every stored secret under the current key of the key file (its first
 * line): core/whsecret.h does the work in one transaction. */
static int wh_rotate_key(struct ctx *ctx, struct args *a)
{
	struct secretbox_keyring kr;
	struct whsecret_counts c;
	char cmdname[64];
	struct webhook_actor who;
	bool dry = args_has(a, "dry-run");
	int rc = -1;

	if (whsecret_keys(&ctx->s.cfg, &kr, &ctx->err) < 0)
		return -1;
	if (kr.n == 0) {
		acme_err_set(&ctx->err, ACME_E_CONFIG, "rotate-key needs a key: set "
			     "ACME_SECRET_KEY_FILE (or secret_key_file) to a file made with: openssl "
			     "rand -base64 32 > FILE; chmod 600 FILE");
		goto out;
	}
	if (!dry) {
		char what[160];
		snprintf(what, sizeof(what), "encrypt every webhook secret under key %s",
			 kr.keys[0].id);
		struct confirm_text ct = { what, NULL, NULL, "no secret was changed" };
		int cf = ctx_confirm_action(ctx, a, CONFIRM_NAMED, 1, &ct);
		if (cf != 0) {
			rc = cf < 0 ? -1 : 0;
			goto out;
		}
	}
	if (!ctx_db(ctx))
		goto out;
	actor(ctx, &who, cmdname, sizeof(cmdname));
	if (whsecret_rotate(ctx->s.db, &kr, false, dry, who.environment, who.command, &c,
			    &ctx->err) < 0)
		goto out;
	long long changed = c.encrypted + c.reencrypted;
	if (dry)
		ctx_msg(ctx, "would encrypt %lld plain-text and re-encrypt %lld webhook secrets under "
			"key %s (%lld already under it, %lld expired previous secrets to clear); "
			"nothing was changed", c.encrypted, c.reencrypted, c.key_id, c.current,
			c.expired);
	else if (changed || c.expired)
		ctx_msg(ctx, "%lld webhook secrets encrypted and %lld re-encrypted under key %s (%lld "
			"already were; %lld expired previous secrets cleared); keys on later lines of "
			"the key file are no longer needed", c.encrypted, c.reencrypted, c.key_id,
			c.current, c.expired);
	else
		ctx_msg(ctx, "every webhook secret is under key %s already (%lld)", c.key_id,
			c.current);
	json_t *doc = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I}", "key_id", c.key_id,
				"dry_run", dry, "endpoints", (json_int_t)c.endpoints, "encrypted",
				(json_int_t)c.encrypted, "reencrypted", (json_int_t)c.reencrypted,
				"current", (json_int_t)c.current, "expired_cleared",
				(json_int_t)c.expired);
	print_doc(ctx, doc);
	json_decref(doc);
	rc = 0;
out:
	secretbox_keyring_release(&kr);
	return rc;
}

/* ---- test ------------------------------------------------------------------------------ */

static json_t *test_json(long long wid, const char *event_id, const struct webhook_delivery *d)
{
	json_t *o = json_object();
	json_object_set_new(o, "webhook_id", json_integer(wid));
	json_object_set_new(o, "event_id", json_string(event_id));
	json_object_set_new(o, "delivery_id", d && d->id ? json_integer(d->id) : json_null());
	json_object_set_new(o, "status", json_string(d && d->status ? d->status : "queued"));
	json_object_set_new(o, "status_code", d && d->last_status_code ?
			    json_integer(d->last_status_code) : json_null());
	json_object_set_new(o, "latency_ms", d && d->last_latency_ms >= 0 ?
			    json_integer(d->last_latency_ms) : json_null());
	json_object_set_new(o, "response_excerpt", d ? bytes_json(d->last_excerpt,
				d->last_excerpt_len) : json_null());
	json_object_set_new(o, "error", json_str_or_null(d && d->state != DELIVERY_SUCCEEDED ?
						    d->last_error : NULL));
	return o;
}

static int wh_test(struct ctx *ctx, struct args *a)
{
	long long id;
	char event_id[64];
	if (parse_id(ctx, a->argv[0], "webhook", &id) < 0)
		return -1;
	if (webhook_test(ctx->s.db, id, event_id, &ctx->err) < 0)
		return -1;
	if (!args_has(a, "wait")) {
		ctx_msg(ctx, "test event %s for webhook %lld queued; a worker delivers it (follow it with "
			"'acmectl webhooks deliveries %lld', or use --wait)", event_id, id, id);
		json_t *doc = test_json(id, event_id, NULL);
		if (json_format(ctx))
			print_doc(ctx, doc);
		else
			fprintf(ctx->out, "%s\n", event_id);
		json_decref(doc);
		return 0;
	}

	long long timeout = args_int(a, "timeout", 60000);
	long long start = clock_mono_ms();
	struct wait_watch ww;
	struct webhook_delivery d;
	wait_watch_init(&ww, ctx, jobtype_find("webhook.deliver")->queue, timeout);
	memset(&d, 0, sizeof(d));
	for (;;) {
		struct acme_err e;
		int got = webhook_find_test(ctx->s.db, id, event_id, &d, &e);
		if (got < 0 && e.code != ACME_E_NOT_FOUND) {
			ctx->err = e;
			return -1;
		}
		if (got == 0 && delivery_status_is_final(d.state))
			break;
		long long waited = clock_mono_ms() - start;
		/* no worker serving the webhooks queue: say so (cmd/wait.h) */
		bool waiting = got < 0 || d.state == DELIVERY_PENDING;
		wait_watch_tick(&ww, waiting);
		if (waited >= timeout) {
			char why[320];
			wait_watch_why(&ww, waiting, why, sizeof(why));
			int rc = acme_err_set(&ctx->err, ACME_E_TEMPFAIL, "webhook %lld: no outcome for test "
					      "%s within %lld ms (%s); it is still queued and will be "
					      "delivered when a worker runs%s", id, event_id, timeout,
					      got == 0 ? d.status : d.relayed ? "dispatching" :
					      "waiting in the outbox", why);
			webhook_delivery_release(&d);
			return rc;
		}
		webhook_delivery_release(&d);
		clock_sleep_ms(100);
	}
	json_t *doc = test_json(id, event_id, &d);
	print_doc(ctx, doc);
	json_decref(doc);
	int rc = 0;
	if (d.state == DELIVERY_SUCCEEDED)
		ctx_msg(ctx, "webhook %lld answered HTTP %d in %d ms", id, d.last_status_code,
			d.last_latency_ms);
	else
		rc = acme_err_set(&ctx->err, ACME_E_FAILURE, "webhook %lld: test failed: %s", id,
				  d.last_error ? d.last_error : d.status);
	webhook_delivery_release(&d);
	return rc;
}

/* ---- deliveries, delivery show, redeliver ------------------------------------------------- */

static json_t *delivery_json(const struct webhook_delivery *d)
{
	char *url = url_redact(d->url ? d->url : "");
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(d->id));
	json_object_set_new(o, "webhook_id", json_integer(d->webhook_id));
	json_object_set_new(o, "url", json_string(url));
	json_object_set_new(o, "event_id", json_string(d->event_id));
	json_object_set_new(o, "event_type", json_string(d->event_type));
	json_object_set_new(o, "status", json_string(d->status));
	json_object_set_new(o, "attempts", json_integer(d->attempts));
	json_object_set_new(o, "last_status_code", d->last_status_code ?
			    json_integer(d->last_status_code) : json_null());
	json_object_set_new(o, "last_latency_ms", d->last_latency_ms >= 0 ?
			    json_integer(d->last_latency_ms) : json_null());
	json_object_set_new(o, "next_attempt_at", json_str_or_null(d->next_attempt_at));
	json_object_set_new(o, "last_error", json_str_or_null(d->last_error));
	json_object_set_new(o, "redelivery_of", d->redelivery_of ? json_integer(d->redelivery_of) :
			    json_null());
	json_object_set_new(o, "created_at", json_str_or_null(d->created_at));
	json_object_set_new(o, "delivered_at", json_str_or_null(d->delivered_at));
	json_object_set_new(o, "updated_at", json_str_or_null(d->updated_at));
	free(url);
	return o;
}

static int wh_deliveries(struct ctx *ctx, struct args *a)
{
	static const struct out_col cols[] = {
		{ "id", COL_INT }, { "webhook", COL_INT }, { "event_id", COL_STR }, { "event", COL_STR },
		{ "status", COL_STR }, { "attempts", COL_INT }, { "code", COL_INT },
		{ "next_attempt_at", COL_STR }, { "created_at", COL_STR }, { "error", COL_STR },
	};
	struct webhook_delivery_filter f = { 0, args_get(a, "status"), args_get(a, "event"),
					     (long)args_int(a, "limit", 50), 0 };
	struct webhook_delivery *ds = NULL;
	if (a->argc > 0 && parse_id(ctx, a->argv[0], "webhook", &f.webhook_id) < 0)
		return -1;
	enum delivery_status want;
	if (f.status && delivery_status_parse(f.status, &want) < 0)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "--status %s: expected one of %s",
				    f.status, WEBHOOK_STATUSES);
	if (f.webhook_id) {
		struct webhook w;
		if (webhook_get(ctx->s.db, f.webhook_id, &w, &ctx->err) < 0)
			return -1;
		webhook_release(&w);
	}
	long long next = 0;
	const char *after = args_get(a, "after");
	if (after) {
		char *end;
		f.after = strtoll(after, &end, 10);
		if (!after[0] || *end || f.after <= 0)
			return acme_err_set(&ctx->err, ACME_E_USAGE, "--after %s: not a cursor of "
					    "webhooks deliveries (use the page's next_cursor as it is)", after);
	}
	int n = webhook_deliveries(ctx->s.db, &f, &ds, &next, &ctx->err);
	if (n < 0)
		return -1;
	struct output *o = ctx_output_new(ctx, cols, sizeof(cols) / sizeof(cols[0]));
	if (!o) {
		webhook_deliveries_free(ds, (size_t)n);
		return -1;
	}
	{
		for (int i = 0; i < n; i++) {
			const struct webhook_delivery *d = &ds[i];
			if (output_is_json(o)) {
				output_item(o, delivery_json(d));
				continue;
			}
			char id[24], wid[24], att[16], code[16];
			snprintf(id, sizeof(id), "%lld", d->id);
			snprintf(wid, sizeof(wid), "%lld", d->webhook_id);
			snprintf(att, sizeof(att), "%d", d->attempts);
			snprintf(code, sizeof(code), "%d", d->last_status_code);
			const char *row[] = { id, wid, d->event_id, d->event_type, d->status, att,
					      d->last_status_code ? code : NULL, d->next_attempt_at,
					      d->created_at,
					      d->state == DELIVERY_SUCCEEDED ? NULL : d->last_error };
			output_row(o, row);
		}
		char cursor[24];
		snprintf(cursor, sizeof(cursor), "%lld", next);
		output_end(o, output_page(f.limit, next ? cursor : NULL));
	}
	webhook_deliveries_free(ds, (size_t)n);
	return 0;
}

static int wh_delivery(struct ctx *ctx, struct args *a)
{
	long long id;
	struct webhook_delivery d;
	struct webhook_attempt *at = NULL;
	size_t nat = 0;
	if (strcmp(a->argv[0], "show") != 0)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "delivery: expected 'delivery show DID', "
				    "not 'delivery %s'", a->argv[0]);
	if (a->argc < 2)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "delivery show: give a delivery id (see "
				    "'acmectl webhooks deliveries')");
	if (parse_id(ctx, a->argv[1], "delivery", &id) < 0)
		return -1;
	if (webhook_delivery_get(ctx->s.db, id, &d, &at, &nat, &ctx->err) < 0)
		return -1;
	json_t *doc = delivery_json(&d);
	json_t *body = d.body ? json_loadb(d.body, d.body_len, JSON_DECODE_ANY, NULL) : NULL;
	json_object_set_new(doc, "body", body ? body : bytes_json(d.body, d.body_len));
	json_t *arr = json_array();
	for (size_t i = 0; i < nat; i++) {
		const struct webhook_attempt *x = &at[i];
		json_t *o = json_object();
		json_object_set_new(o, "attempt", json_integer(x->attempt));
		json_object_set_new(o, "started_at", json_str_or_null(x->started_at));
		json_object_set_new(o, "request_headers", json_text_value(x->request_headers));
		json_object_set_new(o, "status_code", x->status_code ? json_integer(x->status_code) :
				    json_null());
		json_object_set_new(o, "latency_ms", x->latency_ms >= 0 ? json_integer(x->latency_ms) :
				    json_null());
		json_object_set_new(o, "remote_addr", json_str_or_null(x->remote_addr));
		json_object_set_new(o, "response_headers", json_text_value(x->response_headers));
		json_object_set_new(o, "response_excerpt", bytes_json(x->excerpt, x->excerpt_len));
		json_object_set_new(o, "error", json_str_or_null(x->error));
		json_array_append_new(arr, o);
	}
	json_object_set_new(doc, "attempts_log", arr);
	print_doc(ctx, doc);
	json_decref(doc);
	webhook_delivery_release(&d);
	webhook_attempts_free(at, nat);
	return 0;
}

static int wh_redeliver(struct ctx *ctx, struct args *a)
{
	long long id, new_id = 0;
	char cmdname[64];
	struct webhook_actor who;
	struct queue q;
	if (parse_id(ctx, a->argv[0], "delivery", &id) < 0)
		return -1;
	actor(ctx, &who, cmdname, sizeof(cmdname));
	if (webhook_redeliver(ctx->s.db, &who, id, &new_id, &ctx->err) < 0)
		return -1;
	/* wake a deliverer; if Redis is away the next one picks it up anyway */
	struct acme_err e;
	redisContext *rc = ctx_redis(ctx);
	if (!rc || queue_init(&q, rc, config_get(&ctx->s.cfg, CFG_REDIS_PREFIX), &e) < 0) {
		ctx_msg(ctx, "delivery %lld queued, but no deliverer could be woken (%s); the next one "
			"sends it", new_id, rc ? e.msg : ctx->err.msg);
	} else {
		if (webhook_wake(ctx->s.db, &q, NULL, 0, &e) < 0)
			ctx_msg(ctx, "delivery %lld queued, but no deliverer could be woken (%s)", new_id,
				e.msg);
		queue_release(&q);
	}
	ctx_msg(ctx, "delivery %lld sends delivery %lld again (same webhook-id and body)", new_id, id);
	if (json_format(ctx)) {
		json_t *doc = json_pack("{s:I, s:I}", "id", (json_int_t)new_id, "redelivery_of",
					(json_int_t)id);
		print_doc(ctx, doc);
		json_decref(doc);
	} else {
		fprintf(ctx->out, "%lld\n", new_id);
	}
	return 0;
}

/* ---- listen ---------------------------------------------------------------------------- */

static volatile sig_atomic_t listen_stop;

static void on_listen_signal(int sig)
{
	(void)sig;
	listen_stop = 1;
}

struct listener {
	struct ctx *ctx;
	struct whsig_key keys[WHSIG_VERIFY_KEYS];
	size_t nkeys;
	int status, fail_status;
	long long fail_first, count, received, verified;
	long long delay_ms, tolerance_s;
	long long retry_after;
	const char *location;
};

static void iso_now(long long ms, char *buf, size_t len)
{
	clock_format_ms(ms, buf, len);
}

static void on_request(void *user, const struct httpd_request *req, struct httpd_response *resp)
{
	struct listener *l = user;
	struct ctx *ctx = l->ctx;
	const struct httpreq *h = req->head;
	const char *id = httpreq_header(h, "webhook-id");
	const char *ts = httpreq_header(h, "webhook-timestamp");
	const char *sig = httpreq_header(h, "webhook-signature");
	const char *verdict = "unchecked";
	struct acme_err e = { 0 };
	char when[40];

	l->received++;
	if (l->nkeys) {
		if (whsig_verify(l->keys, l->nkeys, id, ts, sig, req->body, req->body_len,
				 req->received_ms / 1000, l->tolerance_s, &e) == 0) {
			verdict = "verified";
			l->verified++;
		} else {
			verdict = "invalid";
		}
	}
	resp->status = l->received <= l->fail_first ? l->fail_status : l->status;
	if (strcmp(verdict, "invalid") == 0)
		resp->status = 401;
	if (resp->status >= 300 && l->retry_after >= 0)
		snprintf(resp->headers, sizeof(resp->headers), "Retry-After: %lld\r\n", l->retry_after);
	if (resp->status >= 300 && resp->status < 400 && l->location) {
		size_t n = strlen(resp->headers);
		snprintf(resp->headers + n, sizeof(resp->headers) - n, "Location: %.300s\r\n", l->location);
	}
	resp->delay_ms = l->delay_ms;
	resp->body_len = (size_t)snprintf(resp->body, sizeof(resp->body), "%s\n",
					  resp->status == 401 ? e.msg : httpreq_reason(resp->status));

	iso_now(req->received_ms, when, sizeof(when));
	json_t *body = json_loadb(req->body, req->body_len, JSON_DECODE_ANY, NULL);
	const char *type = body && json_is_object(body) ?
			   json_string_value(json_object_get(body, "type")) : NULL;
	if (json_format(ctx)) {
		json_t *hdrs = json_object();
		for (size_t i = 0; i < h->nheaders; i++) {
			char name[128];
			size_t k = 0;
			for (; h->headers[i].name[k] && k < sizeof(name) - 1; k++)
				name[k] = (char)((h->headers[i].name[k] >= 'A' && h->headers[i].name[k] <= 'Z') ?
						 h->headers[i].name[k] + 32 : h->headers[i].name[k]);
			name[k] = '\0';
			json_object_set_new(hdrs, name, bytes_json(h->headers[i].value,
								   strlen(h->headers[i].value)));
		}
		json_t *o = json_object();
		json_object_set_new(o, "n", json_integer(l->received));
		json_object_set_new(o, "received_at", json_string(when));
		json_object_set_new(o, "method", json_string(h->method));
		json_object_set_new(o, "path", bytes_json(h->target, strlen(h->target)));
		json_object_set_new(o, "peer", json_string(req->peer));
		json_object_set_new(o, "webhook_id", id ? bytes_json(id, strlen(id)) : json_null());
		json_object_set_new(o, "webhook_timestamp", ts ? bytes_json(ts, strlen(ts)) : json_null());
		json_object_set_new(o, "signature", json_string(verdict));
		json_object_set_new(o, "signature_error", e.msg[0] ? json_string(e.msg) : json_null());
		json_object_set_new(o, "type", type ? json_string(type) : json_null());
		json_object_set_new(o, "answered", json_integer(resp->status));
		json_object_set_new(o, "headers", hdrs);
		json_object_set_new(o, "body", body ? json_incref(body) :
				    bytes_json(req->body, req->body_len));
		output_json(ctx->out, o, false);
		json_decref(o);
	} else {
		fprintf(ctx->out, "%s %s %s %s %s signature %s%s%s -> %d\n", when, h->method, h->target,
			id ? id : "(no webhook-id)", type ? type : "-", verdict,
			e.msg[0] ? ": " : "", e.msg, resp->status);
		fwrite(req->body, 1, req->body_len, ctx->out);
		fputc('\n', ctx->out);
	}
	fflush(ctx->out);
	json_decref(body);
	if (l->count && l->received >= l->count)
		listen_stop = 1;
}

static int load_listen_keys(struct ctx *ctx, struct listener *l, const char *path)
{
	char *text = read_secret_source(ctx, path);
	if (!text)
		return -1;
	int rc = 0;
	char *save = NULL;
	/* one secret per line: during a rotation, both verify */
	for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		if (!line[0] || line[0] == '#')
			continue;
		if (l->nkeys == WHSIG_VERIFY_KEYS) {
			rc = acme_err_set(&ctx->err, ACME_E_DATA, "--secret-file %s: at most %d secrets",
					  path, WHSIG_VERIFY_KEYS);
			break;
		}
		if (whsig_secret_parse(line, &l->keys[l->nkeys], NULL, &ctx->err) < 0) {
			rc = acme_err_prefix(&ctx->err, "--secret-file %s", path);
			break;
		}
		l->nkeys++;
	}
	if (rc == 0 && l->nkeys == 0)
		rc = acme_err_set(&ctx->err, ACME_E_DATA, "--secret-file %s holds no secret", path);
	cleanse_free(text);
	return rc;
}

static int wh_listen(struct ctx *ctx, struct args *a)
{
	struct listener l;
	struct httpd h;
	memset(&l, 0, sizeof(l));
	l.ctx = ctx;
	l.status = (int)args_int(a, "status", 200);
	l.fail_status = (int)args_int(a, "fail-status", 500);
	l.fail_first = args_int(a, "fail-first", 0);
	l.count = args_int(a, "count", 0);
	l.delay_ms = args_int(a, "delay", 0);
	l.tolerance_s = args_has(a, "tolerance") ? args_int(a, "tolerance", 0) / 1000 :
			WHSIG_TOLERANCE_S;
	l.retry_after = args_has(a, "retry-after") ? args_int(a, "retry-after", 0) : -1;
	l.location = args_get(a, "location");
	if (ctx_require_format(ctx, (1u << OUT_TABLE) | (1u << OUT_TSV) | (1u << OUT_JSON) |
			       (1u << OUT_NDJSON)) < 0)
		return -1;
	if (args_get(a, "secret-file") && load_listen_keys(ctx, &l, args_get(a, "secret-file")) < 0)
		return -1;
	if (httpd_open(&h, args_get(a, "bind"), (int)args_int(a, "port", 8787), &ctx->err) < 0)
		return -1;
	h.request_timeout_ms = args_int(a, "request-timeout", HTTPD_REQUEST_TIMEOUT_MS);
	h.max_conns = (int)args_int(a, "max-connections", HTTPD_MAX_CONNS);
	const char *pf = args_get(a, "port-file");
	if (pf) {
		char *tmp = xasprintf("%s.tmp", pf);
		FILE *f = fopen(tmp, "w");
		bool ok = f && fprintf(f, "%d\n", h.port) > 0;
		if (f && fclose(f) != 0)
			ok = false;
		if (!ok || rename(tmp, pf) < 0) {
			acme_err_set(&ctx->err, ACME_E_FAILURE, "--port-file %s: %s", pf, strerror(errno));
			free(tmp);
			httpd_close(&h);
			return -1;
		}
		free(tmp);
	}
	const char *bind = args_get(a, "bind") ? args_get(a, "bind") : "127.0.0.1";
	ctx_msg(ctx, "listening on http://%s%s%s:%d/ (%s); Ctrl-C stops", strchr(bind, ':') ? "[" : "",
		bind, strchr(bind, ':') ? "]" : "", h.port, l.nkeys ? "verifying signatures" :
		"not verifying signatures: give --secret-file");

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_listen_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int rc = httpd_run(&h, on_request, &l, &listen_stop, &ctx->err);
	httpd_close(&h);
	memset(l.keys, 0, sizeof(l.keys));
	if (rc < 0)
		return -1;
	ctx_msg(ctx, "received %lld request%s%s", l.received, l.received == 1 ? "" : "s",
		l.nkeys ? "" : "");
	if (h.timed_out)
		ctx_msg(ctx, "%llu connection%s timed out (--request-timeout)", h.timed_out,
			h.timed_out == 1 ? "" : "s");
	if (h.refused)
		ctx_msg(ctx, "%llu connection%s refused with 503 (over --max-connections)", h.refused,
			h.refused == 1 ? "" : "s");
	if (l.nkeys)
		ctx_msg(ctx, "%lld of them verified", l.verified);
	return 0;
}

/* ---- the command -------------------------------------------------------------------------- */

/* What --event takes: names and patterns (webhook_event_names and
 * webhook_event_patterns, except webhook.test); deliveries --event takes
 * names only, webhook.test included. */
#define EVENT_NAME_CHOICES "product.created|product.updated|product.deleted|" \
			   "product.bulk_deleted|import.completed|import.failed"
#define EVENT_CHOICES "*|" EVENT_NAME_CHOICES "|product.*|import.*"
#define DELIVERY_EVENT_CHOICES EVENT_NAME_CHOICES "|" WEBHOOK_EVENT_TEST

static const struct opt add_opts[] = {
	{ "event", 'e', OPT_STRING, "EVENT", "send this event type or pattern (repeatable; "
	  "product.*, import.*, * = all)", 0, 0, EVENT_CHOICES, OPT_REPEAT },
	{ "secret-file", 0, OPT_STRING, "FILE", "read the signing secret (whsec_...) from FILE, or "
	  "stdin for - (default: generate one and print it once)", 0, 0, "file", 0 },
	{ "description", 0, OPT_STRING, "TEXT", "a note for people", 0, 0, NULL, 0 },
	{ "disabled", 0, OPT_FLAG, NULL, "add it disabled (enable it after a test)", 0, 0, NULL, 0 },
	{ "allow-private", 0, OPT_FLAG, NULL, "let it reach private, loopback and link-local "
	  "addresses in production", 0, 0, NULL, 0 },
	OPT_END
};

static const struct opt edit_opts[] = {
	{ "url", 0, OPT_STRING, "URL", "a new URL", 0, 0, NULL, 0 },
	{ "event", 'e', OPT_STRING, "EVENT", "the new list of events (repeatable; replaces the "
	  "old list)", 0, 0, EVENT_CHOICES, OPT_REPEAT },
	{ "description", 0, OPT_STRING, "TEXT", "a new note (\"\" removes it)", 0, 0, NULL, 0 },
	{ "allow-private", 0, OPT_FLAG, NULL, "let it reach private addresses in production", 0, 0,
	  NULL, 0 },
	{ "deny-private", 0, OPT_FLAG, NULL, "no longer let it reach private addresses", 0, 0, NULL,
	  0 },
	OPT_END
};

static const struct opt delete_opts[] = {
	{ "yes", 'y', OPT_FLAG, NULL, "do not ask for confirmation", 0, 0, NULL, 0 },
	{ "dry-run", 'n', OPT_FLAG, NULL, "say what would be deleted; change nothing", 0, 0, NULL, 0 },
	OPT_END
};

static const struct opt disable_opts[] = {
	{ "reason", 0, OPT_STRING, "TEXT", "why (shown in the list; default: who disabled it)",
	  0, 0, NULL, 0 },
	OPT_END
};

static const struct opt rotate_opts[] = {
	{ "secret-file", 0, OPT_STRING, "FILE", "read the new secret from FILE, or stdin for - "
	  "(default: generate one and print it once)", 0, 0, "file", 0 },
	{ "grace", 0, OPT_DURATION, "DUR", "how long the old secret keeps signing beside the new "
	  "one (default: rotate_grace, 1d; 0 = stop at once)", 0, 30LL * 86400000, NULL, 0 },
	{ "yes", 'y', OPT_FLAG, NULL, "do not ask for confirmation (production asks on a terminal, "
	  "refuses without one)", 0, 0, NULL, 0 },
	{ "dry-run", 'n', OPT_FLAG, NULL, "say what would change; change nothing", 0, 0, NULL, 0 },
	OPT_END
};

static const struct opt rotate_key_opts[] = {
	{ "yes", 'y', OPT_FLAG, NULL, "do not ask for confirmation (production asks on a terminal, "
	  "refuses without one)", 0, 0, NULL, 0 },
	{ "dry-run", 'n', OPT_FLAG, NULL, "count what would change; change nothing", 0, 0, NULL, 0 },
	OPT_END
};

static const struct opt test_opts[] = {
	{ "wait", 'w', OPT_FLAG, NULL, "wait for the outcome and report it (exit 1 when it failed)",
	  0, 0, NULL, 0 },
	{ "timeout", 0, OPT_DURATION, "DUR", "with --wait: give up after DUR (default 60s; exit 75)",
	  1, 86400000, NULL, 0 },
	OPT_END
};

static const struct opt deliveries_opts[] = {
	{ "status", 0, OPT_STRING, "STATUS", "only deliveries in this state", 0, 0, WEBHOOK_STATUSES,
	  0 },
	{ "event", 'e', OPT_STRING, "EVENT", "only this event type", 0, 0, DELIVERY_EVENT_CHOICES,
	  0 },
	{ "limit", 0, OPT_INT, "N", "at most N deliveries, newest first (default 50)", 1, 100000,
	  NULL, 0 },
	{ "after", 0, OPT_STRING, "CURSOR", "the page after the one whose next_cursor this is",
	  0, 0, NULL, 0 },
	OPT_END
};

static const struct opt listen_opts[] = {
	{ "port", 'p', OPT_INT, "N", "listen on port N (default 8787; 0 = any free port)", 0, 65535,
	  NULL, 0 },
	{ "bind", 0, OPT_STRING, "ADDR", "listen on this address (default 127.0.0.1)", 0, 0, NULL, 0 },
	{ "secret-file", 0, OPT_STRING, "FILE", "verify signatures with the secret(s) in FILE, one "
	  "per line (- = stdin); invalid requests get 401", 0, 0, "file", 0 },
	{ "status", 0, OPT_INT, "CODE", "answer with this status (default 200)", 100, 599, NULL, 0 },
	{ "fail-first", 0, OPT_INT, "N", "answer the first N requests with --fail-status", 0,
	  1000000, NULL, 0 },
	{ "fail-status", 0, OPT_INT, "CODE", "the status for --fail-first (default 500)", 100, 599,
	  NULL, 0 },
	{ "delay", 0, OPT_DURATION, "DUR", "answer each request after DUR (a slow endpoint)", 0,
	  3600000, NULL, 0 },
	{ "retry-after", 0, OPT_INT, "SECONDS", "send Retry-After with every non-2xx answer", 0,
	  86400, NULL, 0 },
	{ "location", 0, OPT_STRING, "URL", "send Location with 3xx answers", 0, 0, NULL, 0 },
	{ "count", 0, OPT_INT, "N", "stop after N requests", 1, 100000000, NULL, 0 },
	{ "tolerance", 0, OPT_DURATION, "DUR", "accepted webhook-timestamp skew (default 5m; 0 = "
	  "any)", 0, 86400000, NULL, 0 },
	{ "port-file", 0, OPT_STRING, "FILE", "write the port to FILE once listening (for scripts "
	  "with --port 0)", 0, 0, "file", 0 },
	{ "request-timeout", 0, OPT_DURATION, "DUR", "a whole request must arrive within DUR of its "
	  "first byte, else 408 and the connection is closed (default 30s)", 1, 3600000, NULL, 0 },
	{ "max-connections", 0, OPT_INT, "N", "serve at most N connections at once; more are "
	  "answered 503 and closed (default 512)", 1, 100000, NULL, 0 },
	OPT_END
};

static const struct cmd_verb webhooks_verbs[] = {
	{ "list", "[-o FORMAT]", "list endpoints: URL, events, enabled or why not, last test",
	  NULL, wh_list, CMD_NEEDS_DB, 0, 0, NULL },
	{ "add", "URL --event E... [--secret-file F|-] [--description T] [--disabled] "
	  "[--allow-private]", "add an endpoint; prints its new secret once", add_opts, wh_add,
	  CMD_MUTATES, 1, 1, NULL },
	{ "edit", "ID [--url URL] [--event E]... [--description T] [--allow-private|--deny-private]",
	  "change an endpoint", edit_opts, wh_edit, CMD_NEEDS_DB | CMD_MUTATES, 1, 1, "@webhook" },
	{ "delete", "ID [--yes] [--dry-run]", "delete an endpoint and its delivery log", delete_opts,
	  wh_delete, CMD_NEEDS_DB | CMD_MUTATES, 1, 1, "@webhook" },
	{ "enable", "ID", "enable an endpoint (clears its failure count)", NULL, wh_enable,
	  CMD_NEEDS_DB | CMD_MUTATES, 1, 1, "@webhook" },
	{ "disable", "ID [--reason TEXT]", "disable an endpoint; waiting deliveries are cancelled",
	  disable_opts, wh_disable, CMD_NEEDS_DB | CMD_MUTATES, 1, 1, "@webhook" },
	{ "rotate-secret", "ID [--secret-file F|-] [--grace DUR] [--yes] [--dry-run]",
	  "give an endpoint a new secret; the old one keeps signing for a grace period",
	  rotate_opts, wh_rotate, CMD_NEEDS_DB | CMD_MUTATES, 1, 1, "@webhook" },
	{ "rotate-key", "[--yes] [--dry-run] [-o FORMAT]", "encrypt every stored secret under the "
	  "current key of ACME_SECRET_KEY_FILE (plain text and older keys)", rotate_key_opts,
	  wh_rotate_key, CMD_MUTATES, 0, 0, NULL },
	{ "test", "ID [--wait] [--timeout DUR]", "send a webhook.test event through the worker and "
	  "report the outcome", test_opts, wh_test, CMD_NEEDS_DB | CMD_MUTATES, 1, 1, "@webhook" },
	{ "deliveries", "[ID] [--status S] [--event E] [--limit N] [--after CURSOR] [-o FORMAT]",
	  "the delivery log, newest first", deliveries_opts, wh_deliveries, CMD_NEEDS_DB, 0, 1,
	  "@webhook" },
	{ "delivery", "show DID [-o FORMAT]", "one delivery: request headers and body, each "
	  "attempt's response", NULL, wh_delivery, CMD_NEEDS_DB, 1, 2, "@delivery-show" },
	{ "redeliver", "DID", "send a delivery again (same webhook-id and body)", NULL, wh_redeliver,
	  CMD_NEEDS_DB | CMD_MUTATES, 1, 1, "@delivery" },
	{ "listen", "[--port N] [--secret-file F] [--status CODE] [--fail-first N] [--delay DUR] "
	  "[options]", "a local receiver that verifies signatures and prints each delivery",
	  listen_opts, wh_listen, CMD_NO_CONFIG, 0, 0, NULL },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, 0, NULL }
};

static const char *const webhooks_aliases[] = { "webhook", "wh", NULL };

const struct cmd_entry cmd_webhooks = {
	.name = "webhooks",
	.aliases = webhooks_aliases,
	.summary = "manage webhook endpoints, follow deliveries, test and receive webhooks",
	.description = "Events (product and import changes) are delivered to every enabled endpoint\n"
		       "subscribed to them, signed per the Standard Webhooks specification, by\n"
		       "`acmectl worker` (queue webhooks). Settings: [webhooks] in acmectl.conf(5).",
	.verbs = webhooks_verbs,
};
