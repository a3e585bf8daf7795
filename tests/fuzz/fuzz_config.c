/* fuzz_config.c — libFuzzer target for the config file parser
 * (core/config.c on inih).
 *
 * The first byte picks the environment (test or production: development
 * would start the dev stack); the rest is the file, read from a memfd.
 * Checked, as config.h and acmectl.conf(5) promise:
 *   - a refusal is ACME_E_CONFIG naming the file;
 *   - a file with a line longer than the reader's limit, or a NUL byte, is
 *     refused: its tail must never be read as a line of its own;
 *   - an accepted value from the file is at most 4096 bytes and its origin
 *     names the file and a line that exists; "env" comes from the flag;
 *   - raw entries are only from [schedule.NAME], [worker] and [webhooks],
 *     with lines in the file;
 *   - secrets are shown redacted (config_display_value() is url_redact());
 *   - loading the same file twice gives the same configuration.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/url.h"
#include "tests/fuzz/fuzz.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* only the file counts: no variables, no default file */
	for (int k = 0; k < CFG__COUNT; k++) {
		char v[80];
		unsetenv(config_key_envvar(k));
		snprintf(v, sizeof(v), "%s_FILE", config_key_envvar(k));
		unsetenv(v);
	}
	unsetenv("ACME_CONFIG");
	/* a *_file key may name /dev/stdin: it must not wait */
	int null = open("/dev/null", O_RDONLY);
	CHECK(null >= 0 && dup2(null, 0) == 0);
	close(null);
	fd = memfd_create("fuzz-config", 0);
	CHECK(fd >= 0);
	/* private, as a config file holding passwords must be */
	CHECK(fchmod(fd, 0600) == 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static int load(const uint8_t *data, size_t size, const char *env, struct config *cfg,
		struct acme_err *err)
{
	struct config_flags flags = { .env = env, .config_file = path };
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	return config_load(cfg, &flags, err);
}

static long count_lines(const uint8_t *data, size_t size)
{
	long n = 0;
	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n + (size > 0 && data[size - 1] != '\n');
}

static long longest_line(const uint8_t *data, size_t size)
{
	long best = 0, cur = 0;
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\n') {
			cur = 0;
			continue;
		}
		if (++cur > best)
			best = cur;
	}
	return best;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg, cfg2;
	struct acme_err err;

	if (size < 1)
		return 0;
	const char *env = data[0] & 1 ? ENV_PRODUCTION : ENV_TEST;
	data++;
	size--;

	if (load(data, size, env, &cfg, &err) < 0) {
		CHECK(err.code == ACME_E_CONFIG);
		CHECK(strstr(err.msg, path) != NULL);    /* the message names the file */
		return 0;
	}
	long lines = count_lines(data, size);
	CHECK(memchr(data, '\0', size) == NULL);
	CHECK(longest_line(data, size) < 200);
	CHECK(strcmp(config_get(&cfg, CFG_ENV), env) == 0);
	for (int k = 0; k < CFG__COUNT; k++) {
		const struct config_value *v = &cfg.v[k];
		if (v->source != SRC_FILE)
			continue;
		CHECK(v->value && strlen(v->value) <= 4096);
		CHECK(strncmp(v->origin, path, strlen(path)) == 0 && v->origin[strlen(path)] == ':');
		long line = strtol(v->origin + strlen(path) + 1, NULL, 10);
		CHECK(line >= 1 && line <= lines);
		char *shown = config_display_value(&cfg, k);
		if (config_key_flags(k) & CFG_SECRET) {
			char *red = url_redact(v->value);
			CHECK(strcmp(shown, red) == 0);
			free(red);
		} else {
			CHECK(strcmp(shown, v->value) == 0);
		}
		free(shown);
	}
	for (size_t i = 0; i < config_extra_count(&cfg); i++) {
		const struct config_entry *e = config_extra(&cfg, i);
		CHECK(strncmp(e->section, "schedule.", 9) == 0 || strcmp(e->section, "worker") == 0 ||
		      strcmp(e->section, "webhooks") == 0);
		CHECK(e->line >= 1 && e->line <= lines);
		CHECK(i == 0 || e->line >= config_extra(&cfg, i - 1)->line);
	}
	/* the same file, the same configuration */
	CHECK(load(data, size, env, &cfg2, &err) == 0);
	for (int k = 0; k < CFG__COUNT; k++) {
		CHECK((cfg.v[k].value == NULL) == (cfg2.v[k].value == NULL));
		CHECK(!cfg.v[k].value || strcmp(cfg.v[k].value, cfg2.v[k].value) == 0);
		CHECK(cfg.v[k].source == cfg2.v[k].source);
	}
	CHECK(config_extra_count(&cfg) == config_extra_count(&cfg2));
	config_release(&cfg2);
	config_release(&cfg);
	return 0;
}
