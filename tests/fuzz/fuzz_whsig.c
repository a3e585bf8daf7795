/* fuzz_whsig.c — libFuzzer target for webhook signatures (core/whsig.h).
 *
 * The first byte picks what is fuzzed. Checked, as whsig.h promises:
 *   - base64 is strict: what decodes re-encodes to exactly the same text
 *     (one spelling per value), and any bytes survive encode then decode;
 *   - a parsed secret is 24 to 64 bytes, its canonical form parses to the
 *     same key and is its own canonical form; a refusal never repeats the
 *     secret;
 *   - a signature made by whsig_sign() verifies, also among other entries of
 *     the header and with the key among several; it fails for another body,
 *     another id or another timestamp; a fuzzed header verifies only when it
 *     holds that exact signature; the timestamp window is exactly
 *     [now - tolerance, now + tolerance].
 */
#include <stdbool.h>

#include "core/whsig.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_base64(const uint8_t *data, size_t size)
{
	unsigned char out[3 * (1024 / 4) + 3];
	char text[4 * ((1024 + 2) / 3) + 1];
	unsigned char back[1024];
	if (size > 1024)
		return;
	char *s = malloc(size ? size : 1);   /* exactly size bytes, not NUL-terminated */
	CHECK(s != NULL);
	memcpy(s, data, size);
	long n = whsig_base64_decode(s, size, out);
	if (n >= 0) {
		CHECK((size_t)n <= 3 * (size / 4));
		whsig_base64_encode(out, (size_t)n, text);
		CHECK(strlen(text) == size && memcmp(text, s, size) == 0);
	}
	/* any bytes: encode, decode, the same bytes */
	if (size > 0) {
		whsig_base64_encode(data, size, text);
		CHECK(strlen(text) == 4 * ((size + 2) / 3));
		CHECK(whsig_base64_decode(text, strlen(text), back) == (long)size);
		CHECK(memcmp(back, data, size) == 0);
	}
	free(s);
}

static void fuzz_secret(const uint8_t *data, size_t size)
{
	struct whsig_key key, key2;
	struct acme_err err;
	char canon[WHSIG_SECRET_MAX], canon2[WHSIG_SECRET_MAX];
	char *s = fuzz_str(data, size);

	if (whsig_secret_parse(s, &key, canon, &err) == 0) {
		CHECK(key.len >= WHSIG_KEY_MIN && key.len <= WHSIG_KEY_MAX);
		CHECK(strncmp(canon, WHSIG_PREFIX, strlen(WHSIG_PREFIX)) == 0);
		CHECK(strlen(canon) < WHSIG_SECRET_MAX);
		CHECK(whsig_secret_parse(canon, &key2, canon2, &err) == 0);
		CHECK(key2.len == key.len && memcmp(key2.bytes, key.bytes, key.len) == 0);
		CHECK(strcmp(canon, canon2) == 0);
	} else {
		CHECK(err.code == ACME_E_DATA && err.msg[0]);
		/* a secret of some length is not repeated (short ones may be words) */
		const char *body = strncmp(s, WHSIG_PREFIX, 6) == 0 ? s + 6 : s;
		if (strlen(body) >= 8)
			CHECK(strstr(err.msg, body) == NULL);
	}
	free(s);
}

/* Input: key length (1 byte) and key, then id '\n' timestamp-offset '\n'
 * header '\n' body. */
static void fuzz_verify(const uint8_t *data, size_t size)
{
	struct whsig_key keys[3];
	struct acme_err err;
	char sig[WHSIG_SIG_MAX], other[WHSIG_SIG_MAX], ts[24];

	if (size < 1 + WHSIG_KEY_MAX)
		return;
	memset(keys, 0, sizeof(keys));
	keys[1].len = WHSIG_KEY_MIN + data[0] % (WHSIG_KEY_MAX - WHSIG_KEY_MIN + 1);
	memcpy(keys[1].bytes, data + 1, keys[1].len);
	keys[0] = keys[1];
	keys[0].bytes[0] ^= 1;                  /* an old secret during a rotation */
	keys[2] = keys[1];
	keys[2].len = WHSIG_KEY_MIN;
	if (keys[1].len == WHSIG_KEY_MIN)
		keys[2].bytes[1] ^= 1;
	data += 1 + WHSIG_KEY_MAX;
	size -= 1 + WHSIG_KEY_MAX;

	char *rest = fuzz_str(data, size);
	char *id = rest, *delta = strchr(id, '\n'), *hdr = NULL, *body = NULL;
	if (delta) {
		*delta++ = '\0';
		hdr = strchr(delta, '\n');
		if (hdr) {
			*hdr++ = '\0';
			body = strchr(hdr, '\n');
			if (body)
				*body++ = '\0';
		}
	}
	if (!body || !id[0]) {
		free(rest);
		return;
	}
	size_t blen = size - (size_t)(body - rest);   /* the body may hold NULs */
	const char *braw = (const char *)data + (body - rest);
	long long now = 1700000000;
	long long off = strtoll(delta, NULL, 10) % 1000;
	long long t = now + off;
	snprintf(ts, sizeof(ts), "%lld", t);

	whsig_sign(&keys[1], id, t, braw, blen, sig);
	CHECK(strlen(sig) == WHSIG_SIG_MAX - 1 && strncmp(sig, "v1,", 3) == 0);
	/* verifies, alone, among others, with the key among several */
	CHECK(whsig_verify(&keys[1], 1, id, ts, sig, braw, blen, now, 0, &err) == 0);
	char *many = malloc(strlen(hdr) + sizeof(sig) + 8);
	CHECK(many != NULL);
	sprintf(many, "%s %s ", hdr, sig);
	CHECK(whsig_verify(keys, 3, id, ts, many, braw, blen, now, 0, &err) == 0);
	/* the timestamp window */
	int rc = whsig_verify(&keys[1], 1, id, ts, sig, braw, blen, now, 300, &err);
	CHECK((rc == 0) == (off >= -300 && off <= 300));
	if (rc < 0)
		CHECK(err.code == ACME_E_REFUSED);
	/* another body, id or timestamp does not verify */
	if (blen > 0) {
		char *b2 = malloc(blen);
		CHECK(b2 != NULL);
		memcpy(b2, braw, blen);
		b2[blen / 2] ^= 0x20;
		CHECK(whsig_verify(keys, 3, id, ts, sig, b2, blen, now, 0, &err) < 0);
		CHECK(err.code == ACME_E_REFUSED);
		free(b2);
	}
	whsig_sign(&keys[1], id, t + 1, braw, blen, other);
	CHECK(strcmp(other, sig) != 0);
	CHECK(whsig_verify(&keys[1], 1, id, ts, other, braw, blen, now, 0, &err) < 0);
	/* a fuzzed header verifies only when it holds the signature itself */
	if (whsig_verify(&keys[1], 1, id, ts, hdr, braw, blen, now, 0, &err) == 0) {
		bool found = false;
		for (char *p = hdr; (p = strstr(p, sig)); p++)
			if ((p == hdr || p[-1] == ' ') && (p[strlen(sig)] == ' ' || !p[strlen(sig)]))
				found = true;
		CHECK(found);
	} else {
		CHECK(err.code == ACME_E_REFUSED && err.msg[0]);
	}
	free(many);
	free(rest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_base64(data + 1, size - 1);
		break;
	case 1:
		fuzz_secret(data + 1, size - 1);
		break;
	case 2:
		fuzz_verify(data + 1, size - 1);
		break;
	}
	return 0;
}
