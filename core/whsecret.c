/* whsecret.c — webhook signing secrets sealed at rest (see core/whsecret.h):
 * the keys from the configuration, the stored form of one value, and the
 * rotation that brings every stored value under the current key. The SQL that
 * touches the secret columns for these lives here and in core/webhook.c
 * (add, rotate-secret) and core/whdeliver.c (the claim). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "core/audit.h"
#include "core/db.h"
#include "core/devstack.h"
#include "core/log.h"
#include "core/whsecret.h"
#include "core/xalloc.h"

#define BATCH "200"

int whsecret_keys(const struct config *cfg, struct secretbox_keyring *kr, struct acme_err *err)
{
	static bool warned;
	const char *path = cfg ? config_get(cfg, CFG_SECRET_KEY_FILE) : NULL;
	memset(kr, 0, sizeof(*kr));
	/* the dev stack's key is made on first use (a stack from before it
	 * had one, or a command that started the stack itself) */
	if (path && path[0] && cfg->v[CFG_SECRET_KEY_FILE].source == SRC_DEVSTACK) {
		int made = devstack_make_key(path, err);
		if (made < 0) {
			if (!warned) {
				warned = true;
				log_msg(LOG_WARN, "%s: webhook secrets are stored in plain text",
					err->msg);
			}
			return 0;
		}
		if (made > 0)
			log_msg(LOG_WARN, "the dev stack had no key file: made %s (secrets sealed "
				"under a key removed since cannot be opened)", path);
	}
	if (path && path[0])
		return secretbox_keyring_load(kr, path, err);
	if (cfg && config_is_production(cfg))
		return acme_err_set(err, ACME_E_CONFIG, "production needs a key to encrypt webhook "
				    "secrets: set ACME_SECRET_KEY_FILE (or secret_key_file) to a file "
				    "made with: openssl rand -base64 32 > FILE; chmod 600 FILE");
	if (!warned) {
		warned = true;
		log_msg(LOG_WARN, "no secret key file (ACME_SECRET_KEY_FILE): webhook secrets are "
			"stored in plain text; production refuses to run so");
	}
	return 0;
}

int whsecret_require(const struct config *cfg, struct acme_err *err)
{
	struct secretbox_keyring kr;
	int rc = whsecret_keys(cfg, &kr, err);
	secretbox_keyring_release(&kr);
	return rc;
}

static void aad(char *buf, size_t len, long long id, const char *column, const char *key_id)
{
	snprintf(buf, len, "acmectl webhooks.%s id=%lld key=%s", column, id, key_id);
}

int whsecret_seal(const struct secretbox_keyring *kr, long long id, const char *column,
		  const char *plain, char **value, char *key_id, struct acme_err *err)
{
	char a[128];
	if (kr->n == 0) {
		*value = xstrdup(plain);
		key_id[0] = '\0';
		return 0;
	}
	aad(a, sizeof(a), id, column, kr->keys[0].id);
	*value = secretbox_seal(&kr->keys[0], plain, strlen(plain), a, err);
	if (!*value)
		return -1;
	snprintf(key_id, SECRETBOX_KEYID_LEN + 1, "%s", kr->keys[0].id);
	return 0;
}

char *whsecret_open(const struct secretbox_keyring *kr, long long id, const char *column,
		    const char *value, const char *key_id, struct acme_err *err)
{
	char a[128];
	if (!key_id || !key_id[0])
		return xstrdup(value);
	const struct secretbox_key *k = secretbox_keyring_find(kr, key_id);
	if (!k) {
		acme_err_set(err, ACME_E_CONFIG, "webhook %lld: its %s is encrypted with key %s, "
			     "which %s; put that key back on a later line of the key file", id,
			     column, key_id, kr->n ? "the secret key file does not hold" :
			     "is not configured (no ACME_SECRET_KEY_FILE)");
		return NULL;
	}
	aad(a, sizeof(a), id, column, key_id);
	char *plain = secretbox_open(k, value, a, NULL, err);
	if (!plain)
		acme_err_prefix(err, "webhook %lld: its %s", id, column);
	return plain;
}

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* One column of one row: its new stored form in *value / key_id, or
 * *value NULL when it stays. */
static int rotate_value(const struct secretbox_keyring *kr, bool only_plain, long long id,
			const char *column, const char *stored, const char *kid, char **value,
			char *key_id, struct whsecret_counts *c, struct acme_err *err)
{
	*value = NULL;
	if (kid && strcmp(kid, kr->keys[0].id) == 0) {
		c->current++;
		return 0;
	}
	if (only_plain && kid) {
		c->other_key++;
		return 0;
	}
	char *plain = whsecret_open(kr, id, column, stored, kid, err);
	if (!plain)
		return -1;
	int rc = whsecret_seal(kr, id, column, plain, value, key_id, err);
	wipe_free(plain);
	if (rc == 0) {
		if (kid)
			c->reencrypted++;
		else
			c->encrypted++;
	}
	return rc;
}

static const char select_sql[] =
	"SELECT id, secret, secret_key_id, previous_secret, previous_secret_key_id,"
	" previous_secret IS NOT NULL AND coalesce(previous_secret_expires_at <= now(), true)"
	" FROM webhooks WHERE id > $1 ORDER BY id LIMIT " BATCH " FOR UPDATE";

static const char update_sql[] =
	"UPDATE webhooks SET secret = coalesce($2, secret),"
	" secret_key_id = CASE WHEN $2::text IS NULL THEN secret_key_id ELSE nullif($3, '') END,"
	" previous_secret = CASE WHEN $6::boolean THEN NULL ELSE coalesce($4, previous_secret) END,"
	" previous_secret_key_id = CASE WHEN $6::boolean THEN NULL WHEN $4::text IS NULL"
	"  THEN previous_secret_key_id ELSE nullif($5, '') END,"
	" previous_secret_expires_at = CASE WHEN $6::boolean THEN NULL"
	"  ELSE previous_secret_expires_at END"
	" WHERE id = $1";

int whsecret_rotate(PGconn *db, const struct secretbox_keyring *kr, bool only_plain,
		    bool dry_run, const char *environment, const char *command,
		    struct whsecret_counts *c, struct acme_err *err)
{
	PGresult *res = NULL;
	char after[24] = "0";
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if (kr->n == 0)
		return acme_err_set(err, ACME_E_CONFIG, "no secret key file is configured: set "
				    "ACME_SECRET_KEY_FILE (or secret_key_file)");
	snprintf(c->key_id, sizeof(c->key_id), "%s", kr->keys[0].id);
	if (db_begin(db, NULL, err) < 0)
		return -1;
	for (;;) {
		const char *sp[1] = { after };
		res = db_exec(db, err, select_sql, 1, sp);
		if (!res)
			goto out;
		int n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			char idt[24], k1[SECRETBOX_KEYID_LEN + 1] = "", k2[SECRETBOX_KEYID_LEN + 1] = "";
			char *v1 = NULL, *v2 = NULL;
			long long id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
			bool expired = PQgetvalue(res, i, 5)[0] == 't';
			snprintf(idt, sizeof(idt), "%lld", id);
			snprintf(after, sizeof(after), "%lld", id);
			c->endpoints++;
			int r = rotate_value(kr, only_plain, id, "secret", PQgetvalue(res, i, 1),
					     PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
					     &v1, k1, c, err);
			if (r == 0 && expired)
				c->expired++;
			else if (r == 0 && !PQgetisnull(res, i, 3))
				r = rotate_value(kr, only_plain, id, "previous_secret",
						 PQgetvalue(res, i, 3),
						 PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4),
						 &v2, k2, c, err);
			if (r == 0 && !dry_run && (v1 || v2 || expired)) {
				const char *up[6] = { idt, v1, k1, v2, k2, expired ? "t" : "f" };
				r = db_cmd(db, err, update_sql, 6, up);
			}
			wipe_free(v1);
			wipe_free(v2);
			if (r < 0)
				goto out;
		}
		PQclear(res);
		res = NULL;
		if (n < atoi(BATCH))
			break;
	}
	if (dry_run) {
		db_rollback(db);
		return 0;
	}
	if (environment && command) {
		json_t *d = json_pack("{s:s, s:I, s:I, s:I, s:I}", "key_id", c->key_id,
				      "encrypted", (json_int_t)c->encrypted, "reencrypted",
				      (json_int_t)c->reencrypted, "current", (json_int_t)c->current,
				      "expired", (json_int_t)c->expired);
		char *text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(d);
		int ar = audit_add(db, environment, command, "webhooks", text, err);
		free(text);
		if (ar < 0)
			goto out;
	}
	rc = db_commit(db, err);
	return rc;
out:
	PQclear(res);
	db_rollback(db);
	return -1;
}

int whsecret_count_plain(PGconn *db, long long *n, struct acme_err *err)
{
	*n = 0;
	/* before migration 0002 (or on a schema without it) there is nothing to
	 * count: every secret is plain and has nowhere to say otherwise */
	PGresult *res = db_exec(db, err, "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
				"to_regclass('webhooks') AND attname = 'secret_key_id' AND NOT "
				"attisdropped)", 0, NULL);
	if (!res)
		return -1;
	bool has = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!has)
		return 0;
	res = db_exec(db, err, "SELECT count(*) FILTER (WHERE secret_key_id IS NULL) + "
				"count(*) FILTER (WHERE previous_secret IS NOT NULL AND "
				"previous_secret_key_id IS NULL) FROM webhooks", 0, NULL);
	if (!res)
		return -1;
	*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}
