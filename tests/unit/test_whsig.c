/* test_whsig.c — Standard Webhooks signatures: the test vector published with
 * the specification, secrets (generation, parsing, limits), verification
 * with several signatures and keys (rotation), timestamps, and strict base64.
 * Regression guard: a signature must cover the exact body bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/whsig.h"

/* From the Standard Webhooks specification's reference implementations. */
#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS     1614265330
#define VEC_BODY   "{\"test\": 2432232314}"
#define VEC_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static void test_spec_vector(void **state)
{
	struct whsig_key key;
	struct acme_err err;
	char sig[WHSIG_SIG_MAX], canon[WHSIG_SECRET_MAX];
	(void)state;
	assert_int_equal(whsig_secret_parse(VEC_SECRET, &key, canon, &err), 0);
	assert_int_equal(key.len, 24);
	assert_string_equal(canon, VEC_SECRET);
	whsig_sign(&key, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY), sig);
	assert_string_equal(sig, VEC_SIG);
	assert_int_equal(whsig_verify(&key, 1, VEC_ID, "1614265330", VEC_SIG, VEC_BODY,
				      strlen(VEC_BODY), VEC_TS, 300, &err), 0);
	/* without the prefix, as the reference libraries allow */
	assert_int_equal(whsig_secret_parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &key, canon, &err), 0);
	assert_string_equal(canon, VEC_SECRET);
	/* surrounding whitespace (a file's newline) */
	assert_int_equal(whsig_secret_parse("  " VEC_SECRET "\n", &key, NULL, &err), 0);
}

static void test_body_bytes_matter(void **state)
{
	struct whsig_key key;
	struct acme_err err;
	char sig[WHSIG_SIG_MAX];
	(void)state;
	assert_int_equal(whsig_secret_parse(VEC_SECRET, &key, NULL, &err), 0);
	/* re-serialised JSON (no space) is a different body */
	const char *other = "{\"test\":2432232314}";
	assert_int_equal(whsig_verify(&key, 1, VEC_ID, "1614265330", VEC_SIG, other, strlen(other),
				      VEC_TS, 300, &err), -1);
	assert_int_equal(err.code, ACME_E_REFUSED);
	/* another id or timestamp */
	assert_int_equal(whsig_verify(&key, 1, "msg_other", "1614265330", VEC_SIG, VEC_BODY,
				      strlen(VEC_BODY), VEC_TS, 300, &err), -1);
	assert_int_equal(whsig_verify(&key, 1, VEC_ID, "1614265331", VEC_SIG, VEC_BODY,
				      strlen(VEC_BODY), VEC_TS, 300, &err), -1);
	/* a body with a NUL byte inside is signed whole */
	const char bin[] = { 'a', 0, 'b' };
	whsig_sign(&key, "x", 1, bin, 3, sig);
	assert_int_equal(whsig_verify(&key, 1, "x", "1", sig, bin, 3, 1, 0, &err), 0);
	assert_int_equal(whsig_verify(&key, 1, "x", "1", sig, bin, 1, 1, 0, &err), -1);
	/* an empty body */
	whsig_sign(&key, "x", 1, "", 0, sig);
	assert_int_equal(whsig_verify(&key, 1, "x", "1", sig, "", 0, 1, 0, &err), 0);
}

static void test_rotation(void **state)
{
	struct whsig_key keys[2];
	struct acme_err err;
	char s1[WHSIG_SECRET_MAX], s2[WHSIG_SECRET_MAX], a[WHSIG_SIG_MAX], b[WHSIG_SIG_MAX];
	char header[2 * WHSIG_SIG_MAX + 8];
	(void)state;
	assert_int_equal(whsig_secret_new(s1, &err), 0);
	assert_int_equal(whsig_secret_new(s2, &err), 0);
	assert_string_not_equal(s1, s2);
	assert_int_equal(whsig_secret_parse(s1, &keys[0], NULL, &err), 0);
	assert_int_equal(whsig_secret_parse(s2, &keys[1], NULL, &err), 0);
	whsig_sign(&keys[0], "evt_1", 100, "{}", 2, a);
	whsig_sign(&keys[1], "evt_1", 100, "{}", 2, b);
	snprintf(header, sizeof(header), "%s %s", b, a);
	/* a receiver with either secret accepts */
	assert_int_equal(whsig_verify(&keys[0], 1, "evt_1", "100", header, "{}", 2, 100, 300, &err), 0);
	assert_int_equal(whsig_verify(&keys[1], 1, "evt_1", "100", header, "{}", 2, 100, 300, &err), 0);
	/* a receiver holding both accepts one signature */
	assert_int_equal(whsig_verify(keys, 2, "evt_1", "100", a, "{}", 2, 100, 300, &err), 0);
	/* unknown versions and junk are skipped, not fatal */
	snprintf(header, sizeof(header), "v2,abc  junk %s", a);
	assert_int_equal(whsig_verify(&keys[0], 1, "evt_1", "100", header, "{}", 2, 100, 300, &err), 0);
	assert_int_equal(whsig_verify(&keys[0], 1, "evt_1", "100", "v1,AAAA", "{}", 2, 100, 300, &err), -1);
	assert_non_null(strstr(err.msg, "no signature matches"));
}

static void test_timestamps(void **state)
{
	struct whsig_key key;
	struct acme_err err;
	char sig[WHSIG_SIG_MAX];
	(void)state;
	whsig_secret_parse(VEC_SECRET, &key, NULL, &err);
	whsig_sign(&key, "e", 1000, "b", 1, sig);
	assert_int_equal(whsig_verify(&key, 1, "e", "1000", sig, "b", 1, 1300, 300, &err), 0);
	assert_int_equal(whsig_verify(&key, 1, "e", "1000", sig, "b", 1, 1301, 300, &err), -1);
	assert_non_null(strstr(err.msg, "old"));
	assert_int_equal(whsig_verify(&key, 1, "e", "1000", sig, "b", 1, 699, 300, &err), -1);
	assert_non_null(strstr(err.msg, "future"));
	assert_int_equal(whsig_verify(&key, 1, "e", "1000", sig, "b", 1, 99999, 0, &err), 0);
	assert_int_equal(whsig_verify(&key, 1, "e", "1e3", sig, "b", 1, 1000, 0, &err), -1);
	assert_int_equal(whsig_verify(&key, 1, "e", "-1", sig, "b", 1, 1000, 0, &err), -1);
	assert_int_equal(whsig_verify(&key, 1, "e", NULL, sig, "b", 1, 1000, 0, &err), -1);
	assert_int_equal(whsig_verify(&key, 1, NULL, "1000", sig, "b", 1, 1000, 0, &err), -1);
	assert_int_equal(whsig_verify(&key, 1, "e", "1000", NULL, "b", 1, 1000, 0, &err), -1);
	assert_int_equal(whsig_verify(&key, 0, "e", "1000", sig, "b", 1, 1000, 0, &err), -1);
}

static void test_secrets(void **state)
{
	struct whsig_key key;
	struct acme_err err;
	char s[WHSIG_SECRET_MAX], canon[WHSIG_SECRET_MAX];
	(void)state;
	assert_int_equal(whsig_secret_new(s, &err), 0);
	assert_int_equal(strncmp(s, "whsec_", 6), 0);
	assert_int_equal(strlen(s), 6 + 32);
	assert_int_equal(whsig_secret_parse(s, &key, canon, &err), 0);
	assert_int_equal(key.len, 24);
	assert_string_equal(canon, s);

	/* too short (16 bytes), too long (65 bytes), not base64, empty */
	assert_int_equal(whsig_secret_parse("whsec_AAAAAAAAAAAAAAAAAAAAAA==", &key, NULL, &err), -1);
	assert_int_equal(err.code, ACME_E_DATA);
	char big[200] = "whsec_";
	for (int i = 0; i < 88; i++)
		strcat(big, "A");
	assert_int_equal(whsig_secret_parse(big, &key, NULL, &err), -1);   /* 66 bytes */
	assert_int_equal(whsig_secret_parse("whsec_not base64!", &key, NULL, &err), -1);
	assert_int_equal(whsig_secret_parse("whsec_", &key, NULL, &err), -1);
	assert_int_equal(whsig_secret_parse("", &key, NULL, &err), -1);
	assert_int_equal(whsig_secret_parse(NULL, &key, NULL, &err), -1);
	/* the message never repeats the secret */
	assert_int_equal(whsig_secret_parse("whsec_hunter2hunter2hunter2hunter2!", &key, NULL, &err), -1);
	assert_null(strstr(err.msg, "hunter2"));
	/* 64 bytes is the most */
	char max[200] = "whsec_";
	for (int i = 0; i < 84; i++)
		strcat(max, "A");
	strcat(max, "AA==");    /* 86 chars + == = 64 bytes */
	assert_int_equal(whsig_secret_parse(max, &key, NULL, &err), 0);
	assert_int_equal(key.len, 64);
}

static void test_base64(void **state)
{
	unsigned char out[16];
	char enc[16];
	(void)state;
	assert_int_equal(whsig_base64_decode("TWFu", 4, out), 3);
	assert_memory_equal(out, "Man", 3);
	assert_int_equal(whsig_base64_decode("TWE=", 4, out), 2);
	assert_int_equal(whsig_base64_decode("TQ==", 4, out), 1);
	assert_int_equal(whsig_base64_decode("TQ=", 3, out), -1);
	assert_int_equal(whsig_base64_decode("T===", 4, out), -1);
	assert_int_equal(whsig_base64_decode("TQ=a", 4, out), -1);
	assert_int_equal(whsig_base64_decode("TQ==TWFu", 8, out), -1);  /* data after padding */
	assert_int_equal(whsig_base64_decode("TW u", 4, out), -1);
	assert_int_equal(whsig_base64_decode("", 0, out), -1);
	/* Regression (found by tests/fuzz/fuzz_whsig.c): set bits under the
	 * padding were ignored, so "TR==" and "TWF=" decoded like "TQ==" and
	 * "TWE=": several spellings of one signature or secret */
	assert_int_equal(whsig_base64_decode("TR==", 4, out), -1);
	assert_int_equal(whsig_base64_decode("TWF=", 4, out), -1);
	whsig_base64_encode((const unsigned char *)"Ma", 2, enc);
	assert_string_equal(enc, "TWE=");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_vector),
		cmocka_unit_test(test_body_bytes_matter),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
