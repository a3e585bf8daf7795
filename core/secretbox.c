/* secretbox.c — AES-256-GCM sealing of values at rest and the key file that
 * holds the keys (format, key ids and rotation are described in
 * core/secretbox.h). OpenSSL's EVP interface does the cipher; the nonce is
 * 96 random bits per value, which is safe for far more values than a
 * catalog's webhook endpoints will ever hold under one key (NIST SP 800-38D
 * allows 2^32 random nonces per key). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/secretbox.h"
#include "core/whsig.h"
#include "core/xalloc.h"

#define NONCE_LEN 12
#define TAG_LEN   16

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One key line (blanks trimmed) into out; 0 / -1. */
static int parse_key(const char *s, size_t n, unsigned char *out)
{
	if (n == 2 * SECRETBOX_KEY_LEN) {
		for (size_t i = 0; i < SECRETBOX_KEY_LEN; i++) {
			int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return -1;
			out[i] = (unsigned char)(hi << 4 | lo);
		}
		return 0;
	}
	unsigned char buf[48];
	if (n != 44)
		return -1;
	long got = whsig_base64_decode(s, n, buf);
	if (got != SECRETBOX_KEY_LEN) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	memcpy(out, buf, SECRETBOX_KEY_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static void key_id(const unsigned char *bytes, char *id)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(bytes, SECRETBOX_KEY_LEN, md);
	for (int i = 0; i < SECRETBOX_KEYID_LEN / 2; i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
}

int secretbox_keyring_parse(struct secretbox_keyring *kr, const char *text, const char *what,
			    struct acme_err *err)
{
	int lineno = 0;
	memset(kr, 0, sizeof(*kr));
	for (const char *p = text; *p;) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *next = end ? end + 1 : p + len;
		lineno++;
		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
			len--;
		if (len == 0 || *p == '#') {
			p = next;
			continue;
		}
		if (kr->n == SECRETBOX_MAX_KEYS) {
			secretbox_keyring_release(kr);
			return acme_err_set(err, ACME_E_CONFIG, "%s:%d: more than %d keys; remove "
					    "keys no value is sealed under any more", what, lineno,
					    SECRETBOX_MAX_KEYS);
		}
		struct secretbox_key *k = &kr->keys[kr->n];
		if (parse_key(p, len, k->bytes) < 0) {
			secretbox_keyring_release(kr);
			return acme_err_set(err, ACME_E_CONFIG, "%s:%d: not a key; expected the base64 "
					    "(44 characters) or hex (64 digits) of 32 random bytes, one "
					    "per line (make one with: openssl rand -base64 32)", what,
					    lineno);
		}
		key_id(k->bytes, k->id);
		for (size_t i = 0; i < kr->n; i++)
			if (CRYPTO_memcmp(kr->keys[i].bytes, k->bytes, SECRETBOX_KEY_LEN) == 0) {
				char id[SECRETBOX_KEYID_LEN + 1];
				memcpy(id, k->id, sizeof(id));
				secretbox_keyring_release(kr);
				return acme_err_set(err, ACME_E_CONFIG, "%s:%d: key %s is listed twice; "
						    "remove one line", what, lineno, id);
			}
		kr->n++;
		p = next;
	}
	if (kr->n == 0)
		return acme_err_set(err, ACME_E_CONFIG, "%s holds no key; put the base64 of 32 random "
				    "bytes on its first line (openssl rand -base64 32)", what);
	return 0;
}

/* PostgreSQL's rule for its private key files: no permission for others
 * ever, and for the group only when root owns the file and grants a service's
 * group read access on purpose (Kubernetes secret volumes are root:fsGroup
 * 0440, a Debian /etc file root:acmectl 0640). Any other group bit is
 * refused, as ssh refuses a private key others may read. */
int secretbox_check_private(int fd, const char *path, const char *what, struct acme_err *err)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return acme_err_set(err, ACME_E_CONFIG, "%s %s: %s", what, path, strerror(errno));
	mode_t m = sb.st_mode & 07777;
	bool root_group_read = sb.st_uid == 0 && !(m & 007) && !(m & 030);
	if ((m & 077) && !root_group_read)
		return acme_err_set(err, ACME_E_CONFIG, "%s %s holds a secret and is accessible by "
				    "%s (mode %04o); run: chmod 600 %s", what, path,
				    (m & 007) ? "others" : "its group", (unsigned)m, path);
	return 0;
}

int secretbox_keyring_load(struct secretbox_keyring *kr, const char *path, struct acme_err *err)
{
	char what[600];
	char *buf = NULL;
	struct stat sb;
	int rc = -1;
	memset(kr, 0, sizeof(*kr));
	snprintf(what, sizeof(what), "secret key file %s", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return acme_err_set(err, ACME_E_CONFIG, "%s: cannot read it: %s (make one with: "
				    "openssl rand -base64 32 > FILE; chmod 600 FILE)", what,
				    strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		acme_err_set(err, ACME_E_CONFIG, "%s: not a regular file", what);
		goto out;
	}
	if (secretbox_check_private(fd, path, "secret key file", err) < 0)
		goto out;
	buf = xmalloc(SECRETBOX_FILE_MAX + 2);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, SECRETBOX_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			acme_err_set(err, ACME_E_CONFIG, "%s: cannot read it: %s", what, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > SECRETBOX_FILE_MAX) {
			acme_err_set(err, ACME_E_CONFIG, "%s is longer than %d bytes; is it a key "
				     "file?", what, SECRETBOX_FILE_MAX);
			goto out;
		}
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n)) {
		acme_err_set(err, ACME_E_CONFIG, "%s holds a NUL byte; is it a key file?", what);
		goto out;
	}
	rc = secretbox_keyring_parse(kr, buf, what, err);
out:
	if (buf) {
		OPENSSL_cleanse(buf, SECRETBOX_FILE_MAX + 2);
		free(buf);
	}
	close(fd);
	return rc;
}

void secretbox_keyring_release(struct secretbox_keyring *kr)
{
	OPENSSL_cleanse(kr, sizeof(*kr));
}

const struct secretbox_key *secretbox_keyring_find(const struct secretbox_keyring *kr,
						   const char *id)
{
	for (size_t i = 0; id && i < kr->n; i++)
		if (strcmp(kr->keys[i].id, id) == 0)
			return &kr->keys[i];
	return NULL;
}

char *secretbox_seal(const struct secretbox_key *key, const void *plain, size_t len,
		     const char *aad, struct acme_err *err)
{
	unsigned char *raw = NULL;
	char *out = NULL;
	int outl = 0, finl = 0;
	EVP_CIPHER_CTX *c = NULL;

	if (len > SECRETBOX_PLAIN_MAX) {
		acme_err_set(err, ACME_E_DATA, "a value to seal is longer than %d bytes",
			     SECRETBOX_PLAIN_MAX);
		return NULL;
	}
	size_t rawlen = NONCE_LEN + len + TAG_LEN;
	raw = xmalloc(rawlen);
	if (RAND_bytes(raw, NONCE_LEN) != 1) {
		acme_err_set(err, ACME_E_FAILURE, "openssl: no random bytes for a nonce");
		goto out;
	}
	c = EVP_CIPHER_CTX_new();
	if (!c || EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key->bytes, raw) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &outl, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
	    (len && EVP_EncryptUpdate(c, raw + NONCE_LEN, &outl, plain, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(c, raw + NONCE_LEN + (len ? outl : 0), &finl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + len) != 1) {
		acme_err_set(err, ACME_E_FAILURE, "openssl: AES-256-GCM encryption failed");
		goto out;
	}
	out = xmalloc(strlen(SECRETBOX_PREFIX) + 4 * ((rawlen + 2) / 3) + 1);
	strcpy(out, SECRETBOX_PREFIX);
	whsig_base64_encode(raw, rawlen, out + strlen(SECRETBOX_PREFIX));
out:
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(raw, rawlen);
	free(raw);
	return out;
}

char *secretbox_open(const struct secretbox_key *key, const char *sealed, const char *aad,
		     size_t *len, struct acme_err *err)
{
	size_t pl = strlen(SECRETBOX_PREFIX);
	size_t n = strlen(sealed);
	unsigned char *raw = NULL;
	char *plain = NULL;
	EVP_CIPHER_CTX *c = NULL;
	int outl = 0, finl = 0;
	bool ok = false;

	if (n < pl || strncmp(sealed, SECRETBOX_PREFIX, pl) != 0 ||
	    n - pl > 4 * ((NONCE_LEN + SECRETBOX_PLAIN_MAX + TAG_LEN + 2) / 3)) {
		acme_err_set(err, ACME_E_DATA, "not a sealed value (expected " SECRETBOX_PREFIX
			     " and base64)");
		return NULL;
	}
	raw = xmalloc(3 * ((n - pl) / 4) + 3);
	long rl = whsig_base64_decode(sealed + pl, n - pl, raw);
	if (rl < NONCE_LEN + TAG_LEN) {
		acme_err_set(err, ACME_E_DATA, "a sealed value is not valid base64 or too short");
		goto out;
	}
	size_t ctlen = (size_t)rl - NONCE_LEN - TAG_LEN;
	plain = xmalloc(ctlen + 1);
	c = EVP_CIPHER_CTX_new();
	if (c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
	    EVP_DecryptInit_ex(c, NULL, NULL, key->bytes, raw) == 1 &&
	    EVP_DecryptUpdate(c, NULL, &outl, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
	    (ctlen == 0 || EVP_DecryptUpdate(c, (unsigned char *)plain, &outl, raw + NONCE_LEN,
					     (int)ctlen) == 1) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + ctlen) == 1 &&
	    EVP_DecryptFinal_ex(c, (unsigned char *)plain + (ctlen ? outl : 0), &finl) == 1)
		ok = true;
	if (!ok) {
		acme_err_set(err, ACME_E_DATA, "a sealed value does not open with key %s: the key, "
			     "or where the value is stored, is not the one it was sealed for, or "
			     "it was changed", key->id);
		OPENSSL_cleanse(plain, ctlen + 1);
		free(plain);
		plain = NULL;
		goto out;
	}
	plain[ctlen] = '\0';
	if (len)
		*len = ctlen;
out:
	EVP_CIPHER_CTX_free(c);
	free(raw);
	return plain;
}
