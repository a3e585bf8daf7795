/* secretbox.h — values encrypted at rest with AES-256-GCM, and the key file.
 *
 * A sealed value is text, safe for a text column:
 *
 *     "v1:" base64( nonce[12] || ciphertext || tag[16] )
 *
 * with a fresh random 96-bit nonce per value (OpenSSL's CSPRNG). The caller
 * gives associated data (AAD) that names where the value lives (table, row,
 * column, key id): the tag covers it, so a value copied to another row or
 * column, or labelled with another key id, does not open.
 *
 * The key file (ACME_SECRET_KEY_FILE, secret_key_file) holds one key per line:
 * the base64 (44 characters) or hex (64 digits) of 32 random bytes. Blank
 * lines and lines starting with '#' are ignored. The first key is the current
 * one, the only one that seals; the later ones are older keys that still open
 * values sealed under them, for a rotation:
 *
 *     openssl rand -base64 32 > key.new; cat key >> key.new   (new key first)
 *     chmod 600 key.new; mv key.new key; acmectl webhooks rotate-key
 *     then delete the old line.
 *
 * A key's id is the first 8 hex digits of the SHA-256 of its 32 bytes: stored
 * beside each value, it names the key that sealed it without revealing it.
 * The file must be owner-only (mode 0600 or 0400), as ssh asks of a private
 * key, except that a file root owns may let its group read it (0640, 0440:
 * PostgreSQL's rule for its key files); anything else is refused with the
 * chmod to run.
 *
 * Nothing here prints; errors go to struct acme_err and never contain key
 * bytes or plain text.
 */
#ifndef ACME_SECRETBOX_H
#define ACME_SECRETBOX_H
#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

#define SECRETBOX_KEY_LEN    32
#define SECRETBOX_KEYID_LEN  8          /* hex digits */
#define SECRETBOX_MAX_KEYS   16
#define SECRETBOX_FILE_MAX   8192       /* bytes in a key file */
#define SECRETBOX_PLAIN_MAX  4096       /* bytes of plain text sealed at once */
#define SECRETBOX_PREFIX     "v1:"

struct secretbox_key {
	unsigned char bytes[SECRETBOX_KEY_LEN];
	char id[SECRETBOX_KEYID_LEN + 1];
};

/* keys[0] is the current key; n == 0: no key configured. Owned; wiped by
 * _release. */
struct secretbox_keyring {
	struct secretbox_key keys[SECRETBOX_MAX_KEYS];
	size_t n;
};

/* Parse key file text (see above) into kr. what names the file in errors
 * ("secret key file /etc/acmectl/key"). ACME_E_CONFIG, naming the line, for a
 * line that is not a key, a repeated key, no key at all or too many. */
int secretbox_keyring_parse(struct secretbox_keyring *kr, const char *text, const char *what,
			    struct acme_err *err);

/* Read and parse the key file at path; refused (ACME_E_CONFIG) when it cannot
 * be read, is not a regular file, is longer than SECRETBOX_FILE_MAX, or is
 * not private (secretbox_check_private). */
int secretbox_keyring_load(struct secretbox_keyring *kr, const char *path, struct acme_err *err);

/* Wipe the keys. */
void secretbox_keyring_release(struct secretbox_keyring *kr);

/* The key with this id, or NULL. */
const struct secretbox_key *secretbox_keyring_find(const struct secretbox_keyring *kr,
						   const char *id);

/* Seal plain (len bytes, at most SECRETBOX_PLAIN_MAX) under key with aad;
 * returns the sealed text (caller frees) or NULL with err. */
char *secretbox_seal(const struct secretbox_key *key, const void *plain, size_t len,
		     const char *aad, struct acme_err *err);

/* Open sealed text under key with aad: the plain text, NUL-terminated (caller
 * wipes and frees), its length in *len (may be NULL). A wrong key, wrong AAD
 * or any changed byte fails the tag check: ACME_E_DATA. */
char *secretbox_open(const struct secretbox_key *key, const char *sealed, const char *aad,
		     size_t *len, struct acme_err *err);

/* A file that holds secrets must have no permission bits for others, and
 * none for its group unless root owns it and grants only read. fd is open on path; what says what it holds
 * ("config file", "DATABASE_URL_FILE"). ACME_E_CONFIG with the chmod to run. */
int secretbox_check_private(int fd, const char *path, const char *what, struct acme_err *err);

#endif
