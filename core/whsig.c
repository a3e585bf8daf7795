/* whsig.c — Standard Webhooks signing and verification; see whsig.h. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/whsig.h"
#include "core/xalloc.h"

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void whsig_base64_encode(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static int b64val(int c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;
	return p ? (int)(p - b64chars) : -1;
}

long whsig_base64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t o = 0;
	if (len == 0 || len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			char c = in[i + j];
			if (c == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad)                 /* data after padding */
				return -1;
			if ((v[j] = b64val((unsigned char)c)) < 0)
				return -1;
		}
		if (pad == 2 && in[i + 2] != '=')
			return -1;
		/* canonical only (RFC 4648 3.5): the bits the padding leaves over
		 * must be zero, or four spellings decode to one value ("QQ==" and
		 * "QR==" were both "A"; found by tests/fuzz/fuzz_whsig.c) */
		if ((pad == 1 && (v[2] & 0x3)) || (pad == 2 && (v[1] & 0xf)))
			return -1;
		uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
			     (uint32_t)v[3];
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	return (long)o;
}

int whsig_secret_new(char *out, struct acme_err *err)
{
	unsigned char key[WHSIG_NEW_KEY_LEN];
	if (RAND_bytes(key, sizeof(key)) != 1)
		return acme_err_set(err, ACME_E_FAILURE, "cannot generate a secret: the random number "
				    "generator failed");
	memcpy(out, WHSIG_PREFIX, strlen(WHSIG_PREFIX));
	whsig_base64_encode(key, sizeof(key), out + strlen(WHSIG_PREFIX));
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

int whsig_secret_parse(const char *secret, struct whsig_key *key, char *canonical,
		       struct acme_err *err)
{
	const char *s = secret ? secret : "";
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= strlen(WHSIG_PREFIX) && strncmp(s, WHSIG_PREFIX, strlen(WHSIG_PREFIX)) == 0) {
		s += strlen(WHSIG_PREFIX);
		n -= strlen(WHSIG_PREFIX);
	}
	if (n == 0)
		return acme_err_set(err, ACME_E_DATA, "the secret is empty; expected whsec_ followed "
				    "by the base64 of 24 to 64 random bytes");
	unsigned char buf[3 * ((WHSIG_SECRET_MAX + 3) / 4)];
	long got = n <= 4 * ((WHSIG_KEY_MAX + 2) / 3) ? whsig_base64_decode(s, n, buf) : -1;
	if (got < 0)
		return acme_err_set(err, ACME_E_DATA, "the secret is not valid base64 after the "
				    "whsec_ prefix (expected whsec_ followed by the base64 of 24 to 64 "
				    "random bytes)");
	if (got < WHSIG_KEY_MIN || got > WHSIG_KEY_MAX)
		return acme_err_set(err, ACME_E_DATA, "the secret decodes to %ld bytes; it must be 24 "
				    "to 64 random bytes", got);
	memcpy(key->bytes, buf, (size_t)got);
	key->len = (size_t)got;
	OPENSSL_cleanse(buf, sizeof(buf));
	if (canonical) {
		memcpy(canonical, WHSIG_PREFIX, strlen(WHSIG_PREFIX));
		whsig_base64_encode(key->bytes, key->len, canonical + strlen(WHSIG_PREFIX));
	}
	return 0;
}

/* HMAC-SHA256 over "<id>.<timestamp>.<body>" without copying the body. It
 * fails only when OpenSSL cannot allocate or has no SHA-256, like xmalloc's
 * out-of-memory: abort. */
static void mac(const struct whsig_key *key, const char *id, const char *ts, const void *body,
		size_t len, unsigned char out[32])
{
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t got = 0;
	if (!c || EVP_MAC_init(c, key->bytes, key->len, params) != 1 ||
	    EVP_MAC_update(c, (const unsigned char *)id, strlen(id)) != 1 ||
	    EVP_MAC_update(c, (const unsigned char *)".", 1) != 1 ||
	    EVP_MAC_update(c, (const unsigned char *)ts, strlen(ts)) != 1 ||
	    EVP_MAC_update(c, (const unsigned char *)".", 1) != 1 ||
	    (len && EVP_MAC_update(c, body, len) != 1) || EVP_MAC_final(c, out, &got, 32) != 1 ||
	    got != 32) {
		xdie("OpenSSL cannot compute HMAC-SHA256");
	}
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
}

void whsig_sign(const struct whsig_key *key, const char *id, long long timestamp,
		const void *body, size_t len, char *out)
{
	char ts[24];
	unsigned char digest[32];
	snprintf(ts, sizeof(ts), "%lld", timestamp);
	mac(key, id, ts, body, len, digest);
	memcpy(out, "v1,", 3);
	whsig_base64_encode(digest, sizeof(digest), out + 3);
}

int whsig_verify(const struct whsig_key *keys, size_t nkeys, const char *id,
		 const char *timestamp, const char *signature_header, const void *body, size_t len,
		 long long now, long long tolerance_s, struct acme_err *err)
{
	if (!id || !id[0])
		return acme_err_set(err, ACME_E_REFUSED, "no webhook-id header");
	if (!timestamp || !timestamp[0])
		return acme_err_set(err, ACME_E_REFUSED, "no webhook-timestamp header");
	if (!signature_header || !signature_header[0])
		return acme_err_set(err, ACME_E_REFUSED, "no webhook-signature header");
	char *end;
	long long ts = strtoll(timestamp, &end, 10);
	if (*end || end == timestamp || !isdigit((unsigned char)timestamp[0]) || strlen(timestamp) > 15)
		return acme_err_set(err, ACME_E_REFUSED, "webhook-timestamp \"%.20s\" is not a number of "
				    "seconds", timestamp);
	if (tolerance_s > 0 && ts < now - tolerance_s)
		return acme_err_set(err, ACME_E_REFUSED, "webhook-timestamp is %lld s old (tolerance %lld s)",
				    now - ts, tolerance_s);
	if (tolerance_s > 0 && ts > now + tolerance_s)
		return acme_err_set(err, ACME_E_REFUSED, "webhook-timestamp is %lld s in the future "
				    "(tolerance %lld s)", ts - now, tolerance_s);
	if (nkeys == 0)
		return acme_err_set(err, ACME_E_REFUSED, "no secret to verify with");

	unsigned char want[WHSIG_VERIFY_KEYS][32];
	size_t nwant = nkeys < WHSIG_VERIFY_KEYS ? nkeys : WHSIG_VERIFY_KEYS;
	for (size_t k = 0; k < nwant; k++)
		mac(&keys[k], id, timestamp, body, len, want[k]);

	int seen = 0;
	for (const char *p = signature_header; *p;) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n == 0)
			break;
		seen++;
		if (n > 3 && strncmp(p, "v1,", 3) == 0 && n - 3 == 44) {
			unsigned char got[33];
			if (whsig_base64_decode(p + 3, 44, got) == 32)
				for (size_t k = 0; k < nwant; k++)
					if (CRYPTO_memcmp(got, want[k], 32) == 0)
						return 0;
		}
		p += n;
	}
	if (!seen)
		return acme_err_set(err, ACME_E_REFUSED, "webhook-signature is empty");
	return acme_err_set(err, ACME_E_REFUSED, "no signature matches (%d given)", seen);
}
