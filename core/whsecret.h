/* whsecret.h — webhook signing secrets at rest.
 *
 * The webhooks table keeps each endpoint's secret and previous_secret either
 * sealed (core/secretbox.h: "v1:..." with the sealing key's id in
 * secret_key_id / previous_secret_key_id) or, with a NULL key id, in plain
 * text: rows written before a key was configured, or in development without
 * one. Reads accept both; writes seal whenever a key is configured.
 *
 * The associated data of a value is "acmectl webhooks.<column> id=<id>
 * key=<key id>": a value copied to another endpoint or column, or relabelled
 * with another key id, fails to open.
 *
 * Keys come from the file of secret_key_file (ACME_SECRET_KEY_FILE). Without
 * one, production refuses (ACME_E_CONFIG) and development and test keep
 * secrets plain with one warning per process.
 *
 * Errors (never containing a secret or a key):
 *   ACME_E_CONFIG  no key in production; a bad or non-private key file; a
 *                  value sealed under a key id the file does not hold (the
 *                  message names the id: put that key back on a later line)
 *   ACME_E_DATA    a value does not open under the key its id names (changed,
 *                  or copied from elsewhere)
 */
#ifndef ACME_WHSECRET_H
#define ACME_WHSECRET_H
#include <stdbool.h>
#include <libpq-fe.h>
#include "core/config.h"
#include "core/err.h"
#include "core/secretbox.h"

/* The keys cfg configures (cfg may be NULL: none). kr->n == 0 when none is
 * configured outside production. Release with secretbox_keyring_release(). */
int whsecret_keys(const struct config *cfg, struct secretbox_keyring *kr, struct acme_err *err);

/* 0 when commands that read or write webhook secrets may run under cfg: a
 * usable key file, or no key outside production. For a command's start. */
int whsecret_require(const struct config *cfg, struct acme_err *err);

/* The stored form of plain for column ("secret" or "previous_secret") of
 * webhook id: *value (caller frees) and key_id (SECRETBOX_KEYID_LEN + 1
 * bytes; "" = stored plain, when kr has no key). */
int whsecret_seal(const struct secretbox_keyring *kr, long long id, const char *column,
		  const char *plain, char **value, char *key_id, struct acme_err *err);

/* The plain secret from its stored form (key_id NULL or "": plain text).
 * Caller wipes and frees. NULL with err as above. */
char *whsecret_open(const struct secretbox_keyring *kr, long long id, const char *column,
		    const char *value, const char *key_id, struct acme_err *err);

/* Stored values, counted by rotate-key and migrate. */
struct whsecret_counts {
	long long endpoints;      /* rows looked at */
	long long encrypted;      /* plain text values now sealed */
	long long reencrypted;    /* values moved from an older key to the current one */
	long long current;        /* values already under the current key */
	long long expired;        /* previous secrets past their grace, cleared */
	long long other_key;      /* only_plain: values left under another key */
	char key_id[SECRETBOX_KEYID_LEN + 1];   /* the current key */
};

/* Bring every stored secret under kr's current key in one transaction, rows
 * locked in batches of 200 by id (memory is bounded by a batch): plain text
 * is sealed, values under older keys re-sealed, expired previous secrets
 * cleared. only_plain (migrate): seal plain text only, leave the rest.
 * dry_run: count, change nothing. Idempotent. kr must hold a key. With
 * environment and command, one audit row records the counts. */
int whsecret_rotate(PGconn *db, const struct secretbox_keyring *kr, bool only_plain,
		    bool dry_run, const char *environment, const char *command,
		    struct whsecret_counts *c, struct acme_err *err);

/* How many stored values are plain text (for migrate's note without a key);
 * 0 on a schema without the key id columns (before 0002). */
int whsecret_count_plain(PGconn *db, long long *n, struct acme_err *err);

#endif
