/* acme-whsecret.c — test helper (built by make helpers): open a webhook
 * secret as stored in the webhooks table, with the keys of the file named by
 * ACME_SECRET_KEY_FILE, and print the plain "whsec_..." text, so tests can
 * check what is stored without a secret ever being readable from the table.
 *
 *   acme-whsecret ID COLUMN STORED [KEY_ID]    (no KEY_ID: stored in plain)
 *
 * Exit 0 and the secret on stdout, or the error on stderr and its exit code
 * (78 an unknown key id, 65 a value that does not open). Never shipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secretbox.h"
#include "core/whsecret.h"

int main(int argc, char **argv)
{
	struct secretbox_keyring kr;
	struct acme_err err;
	const char *path = getenv("ACME_SECRET_KEY_FILE");
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: acme-whsecret ID COLUMN STORED [KEY_ID]\n");
		return 2;
	}
	memset(&kr, 0, sizeof(kr));
	if (path && path[0] && secretbox_keyring_load(&kr, path, &err) < 0) {
		fprintf(stderr, "acme-whsecret: %s\n", err.msg);
		return acme_exit_status(err.code);
	}
	char *plain = whsecret_open(&kr, strtoll(argv[1], NULL, 10), argv[2], argv[3],
				    argc == 5 ? argv[4] : NULL, &err);
	secretbox_keyring_release(&kr);
	if (!plain) {
		fprintf(stderr, "acme-whsecret: %s\n", err.msg);
		return acme_exit_status(err.code);
	}
	printf("%s\n", plain);
	free(plain);
	return 0;
}
