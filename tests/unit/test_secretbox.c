/* test_secretbox.c — AES-256-GCM values at rest: a round trip, a fresh nonce
 * per value, a wrong key, a tampered byte, wrong associated data (another
 * row, column or key id), and the key file: parsing (base64, hex, comments,
 * rotation order, key ids, errors naming the line) and its permission rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/secretbox.h"

/* 32 bytes 0x00..0x1f, in base64 and hex */
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
/* 32 bytes 0xff */
#define KEY2_B64 "//////////////////////////////////////////8="

static void load2(struct secretbox_keyring *kr)
{
	struct acme_err err;
	assert_int_equal(secretbox_keyring_parse(kr, KEY_B64 "\n" KEY2_B64 "\n", "k", &err), 0);
	assert_int_equal(kr->n, 2);
}

static void test_round_trip(void **state)
{
	struct secretbox_keyring kr;
	struct acme_err err;
	size_t len = 0;
	(void)state;
	load2(&kr);
	char *a = secretbox_seal(&kr.keys[0], "whsec_abc", 9, "webhooks.secret 1", &err);
	char *b = secretbox_seal(&kr.keys[0], "whsec_abc", 9, "webhooks.secret 1", &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(strncmp(a, SECRETBOX_PREFIX, 3) == 0);
	assert_null(strstr(a, "whsec_abc"));
	assert_string_not_equal(a, b);                 /* a fresh nonce each time */
	char *p = secretbox_open(&kr.keys[0], a, "webhooks.secret 1", &len, &err);
	assert_non_null(p);
	assert_int_equal(len, 9);
	assert_string_equal(p, "whsec_abc");
	free(p);
	/* an empty value seals too */
	char *e = secretbox_seal(&kr.keys[0], "", 0, "x", &err);
	p = secretbox_open(&kr.keys[0], e, "x", &len, &err);
	assert_non_null(p);
	assert_int_equal(len, 0);
	free(p);
	free(e);
	free(a);
	free(b);
	secretbox_keyring_release(&kr);
}

static void test_wrong_key(void **state)
{
	struct secretbox_keyring kr;
	struct acme_err err;
	(void)state;
	load2(&kr);
	char *a = secretbox_seal(&kr.keys[0], "whsec_abc", 9, "aad", &err);
	assert_null(secretbox_open(&kr.keys[1], a, "aad", NULL, &err));
	assert_int_equal(err.code, ACME_E_DATA);
	assert_non_null(strstr(err.msg, kr.keys[1].id));   /* names the key tried */
	free(a);
	secretbox_keyring_release(&kr);
}

static void test_tampered(void **state)
{
	struct secretbox_keyring kr;
	struct acme_err err;
	(void)state;
	load2(&kr);
	char *a = secretbox_seal(&kr.keys[0], "whsec_abcdefgh", 14, "aad", &err);
	size_t n = strlen(a);
	/* flip one character in the nonce, the ciphertext and the tag in turn */
	size_t at[3] = { 4, 3 + 20, n - 3 };
	for (int i = 0; i < 3; i++) {
		char *t = strdup(a);
		t[at[i]] = t[at[i]] == 'A' ? 'B' : 'A';
		assert_null(secretbox_open(&kr.keys[0], t, "aad", NULL, &err));
		free(t);
	}
	assert_null(secretbox_open(&kr.keys[0], "v1:AAAA", "aad", NULL, &err));  /* too short */
	assert_null(secretbox_open(&kr.keys[0], "whsec_abc", "aad", NULL, &err)); /* plain */
	assert_null(secretbox_open(&kr.keys[0], "v1:!!!!", "aad", NULL, &err));
	free(a);
	secretbox_keyring_release(&kr);
}

static void test_wrong_aad(void **state)
{
	struct secretbox_keyring kr;
	struct acme_err err;
	(void)state;
	load2(&kr);
	char *a = secretbox_seal(&kr.keys[0], "s", 1, "webhooks 1 secret", &err);
	assert_null(secretbox_open(&kr.keys[0], a, "webhooks 2 secret", NULL, &err));
	assert_null(secretbox_open(&kr.keys[0], a, "webhooks 1 previous_secret", NULL, &err));
	assert_null(secretbox_open(&kr.keys[0], a, "", NULL, &err));
	char *p = secretbox_open(&kr.keys[0], a, "webhooks 1 secret", NULL, &err);
	assert_string_equal(p, "s");
	free(p);
	free(a);
	secretbox_keyring_release(&kr);
}

static void test_key_file_parsing(void **state)
{
	struct secretbox_keyring kr, kh;
	struct acme_err err;
	(void)state;
	/* comments, blanks, CRLF and indentation; base64 and hex give one key */
	assert_int_equal(secretbox_keyring_parse(&kr, "# current\n\n  " KEY_B64 "  \r\n# old\n"
						 KEY2_B64, "k", &err), 0);
	assert_int_equal(kr.n, 2);
	assert_int_equal(secretbox_keyring_parse(&kh, KEY_HEX "\n", "k", &err), 0);
	assert_string_equal(kr.keys[0].id, kh.keys[0].id);
	assert_int_equal(strlen(kr.keys[0].id), SECRETBOX_KEYID_LEN);
	/* sha256 of 0x00..0x1f starts 630dcd29 */
	assert_string_equal(kr.keys[0].id, "630dcd29");
	assert_string_not_equal(kr.keys[0].id, kr.keys[1].id);
	assert_ptr_equal(secretbox_keyring_find(&kr, kr.keys[1].id), &kr.keys[1]);
	assert_null(secretbox_keyring_find(&kr, "00000000"));
	assert_null(secretbox_keyring_find(&kr, NULL));
	secretbox_keyring_release(&kh);

	/* errors name the file and line, never the key */
	assert_int_equal(secretbox_keyring_parse(&kh, "# x\nnot-a-key\n", "key file F", &err), -1);
	assert_int_equal(err.code, ACME_E_CONFIG);
	assert_non_null(strstr(err.msg, "key file F:2: not a key"));
	assert_non_null(strstr(err.msg, "openssl rand -base64 32"));
	assert_int_equal(secretbox_keyring_parse(&kh, "AAEC\n", "F", &err), -1);        /* short */
	assert_int_equal(secretbox_keyring_parse(&kh, KEY_HEX "0\n", "F", &err), -1);   /* long */
	assert_int_equal(secretbox_keyring_parse(&kh, "zz02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "F", &err), -1);
	assert_int_equal(secretbox_keyring_parse(&kh, "# only a comment\n\n", "F", &err), -1);
	assert_non_null(strstr(err.msg, "holds no key"));
	assert_int_equal(secretbox_keyring_parse(&kh, "", "F", &err), -1);
	assert_int_equal(secretbox_keyring_parse(&kh, KEY_B64 "\n" KEY_HEX "\n", "F", &err), -1);
	assert_non_null(strstr(err.msg, "F:2: key 630dcd29 is listed twice"));
	secretbox_keyring_release(&kr);
}

static void test_key_file_mode(void **state)
{
	struct secretbox_keyring kr;
	struct acme_err err;
	char path[] = "/tmp/test_secretbox.XXXXXX";
	(void)state;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, KEY_B64 "\n", strlen(KEY_B64) + 1), (ssize_t)strlen(KEY_B64) + 1);
	close(fd);
	chmod(path, 0600);
	assert_int_equal(secretbox_keyring_load(&kr, path, &err), 0);
	assert_int_equal(kr.n, 1);
	secretbox_keyring_release(&kr);
	chmod(path, 0400);
	assert_int_equal(secretbox_keyring_load(&kr, path, &err), 0);
	secretbox_keyring_release(&kr);
	chmod(path, 0644);
	assert_int_equal(secretbox_keyring_load(&kr, path, &err), -1);
	assert_int_equal(err.code, ACME_E_CONFIG);
	assert_non_null(strstr(err.msg, "mode 0644"));
	assert_non_null(strstr(err.msg, "accessible by others"));
	assert_non_null(strstr(err.msg, "chmod 600"));
	chmod(path, 0604);
	assert_int_equal(secretbox_keyring_load(&kr, path, &err), -1);
	chmod(path, 0660);                     /* group write: never */
	assert_int_equal(secretbox_keyring_load(&kr, path, &err), -1);
	/* group read: only when root owns the file (PostgreSQL's rule) */
	chmod(path, 0640);
	if (geteuid() == 0) {
		assert_int_equal(secretbox_keyring_load(&kr, path, &err), 0);
		secretbox_keyring_release(&kr);
		assert_int_equal(chown(path, 1, (gid_t)-1), 0);
	}
	assert_int_equal(secretbox_keyring_load(&kr, path, &err), -1);
	assert_non_null(strstr(err.msg, "accessible by its group (mode 0640)"));
	unlink(path);
	assert_int_equal(secretbox_keyring_load(&kr, path, &err), -1);
	assert_non_null(strstr(err.msg, "cannot read it"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_wrong_aad),
		cmocka_unit_test(test_key_file_parsing),
		cmocka_unit_test(test_key_file_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
