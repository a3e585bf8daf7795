/* whsig.h — Standard Webhooks signatures and secrets
 * (https://www.standardwebhooks.com/, the "webhook-*" headers).
 *
 * A secret is "whsec_" followed by the base64 of 24 to 64 random bytes; the
 * key is those bytes (the part after the prefix, base64-decoded). A request
 * carries
 *
 *   webhook-id:        evt_42           (the same on every attempt)
 *   webhook-timestamp: 1614265330       (seconds, this attempt)
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
 *
 * and during a secret rotation one "v1,..." per secret, separated by spaces;
 * a receiver accepts the request when any of them verifies.
 *
 * No allocation except where stated; no network.
 */
#ifndef ACME_WHSIG_H
#define ACME_WHSIG_H
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define WHSIG_PREFIX       "whsec_"
#define WHSIG_KEY_MIN      24
#define WHSIG_KEY_MAX      64
#define WHSIG_NEW_KEY_LEN  24                 /* bytes in a generated secret */
#define WHSIG_SECRET_MAX   (6 + 88 + 1)       /* "whsec_" + base64(64) + NUL */
#define WHSIG_SIG_MAX      (3 + 44 + 1)       /* "v1," + base64(32) + NUL */
#define WHSIG_MASKED       "whsec_********"   /* what listings show instead */
#define WHSIG_TOLERANCE_S  300                /* receivers: accepted clock skew */
#define WHSIG_VERIFY_KEYS  4                  /* whsig_verify() uses at most this many keys */

struct whsig_key {
	unsigned char bytes[WHSIG_KEY_MAX];
	size_t len;
};

/* A new secret from the OpenSSL CSPRNG into out[WHSIG_SECRET_MAX]. 0 / -1. */
int whsig_secret_new(char *out, struct acme_err *err);

/* Parse a secret: "whsec_<base64>" (the prefix may be left out, as the
 * reference libraries allow) decoding to 24-64 bytes. Surrounding
 * whitespace is ignored. With canonical (may be NULL), the secret is
 * rewritten there as "whsec_<base64>" (WHSIG_SECRET_MAX bytes). The error
 * (ACME_E_DATA) never repeats the secret. 0 / -1. */
int whsig_secret_parse(const char *secret, struct whsig_key *key, char *canonical,
		       struct acme_err *err);

/* "v1,<base64>" for id, timestamp and body into out[WHSIG_SIG_MAX]. */
void whsig_sign(const struct whsig_key *key, const char *id, long long timestamp,
		const void *body, size_t len, char *out);

/* Verify a request as a receiver: the timestamp must be a number within
 * tolerance_s of now (0 = do not check), and one of the space-separated
 * "v1,..." entries of signature_header must be the signature under one of
 * keys[0..nkeys). 0 when it verifies; -1 with ACME_E_REFUSED saying why
 * ("no signature matches", "timestamp too old", ...). */
int whsig_verify(const struct whsig_key *keys, size_t nkeys, const char *id,
		 const char *timestamp, const char *signature_header, const void *body, size_t len,
		 long long now, long long tolerance_s, struct acme_err *err);

/* Strict base64 (RFC 4648, padded, no whitespace, canonical: the bits the
 * padding leaves over are zero, so each value has one spelling). out needs 3 * (len / 4)
 * bytes. Returns the decoded length, or -1. */
long whsig_base64_decode(const char *in, size_t len, unsigned char *out);
/* Base64 of n bytes into out (4 * ((n + 2) / 3) + 1 bytes, NUL-terminated). */
void whsig_base64_encode(const unsigned char *in, size_t n, char *out);

#endif
