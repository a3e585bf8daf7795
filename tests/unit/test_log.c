/* test_log.c — JSON log lines are never lost to text that is not UTF-8.
 * Regression: a message cut at its 2048-byte buffer in the middle of a
 * character, or quoting bytes that are not UTF-8 (a host name, a server's
 * answer), made jansson refuse the "msg" string, and the JSON line was
 * silently not written at all. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/log.h"

/* Log one message as JSON into a temporary file; the parsed line, or NULL. */
static json_t *json_line(const char *fmt, const char *arg)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	struct log_config cfg = { LOG_DEBUG, LOG_JSON, false, "test", f };
	log_setup(&cfg);
	log_msg(LOG_WARN, fmt, arg);
	rewind(f);
	char *line = NULL;
	size_t cap = 0;
	json_t *j = NULL;
	if (getline(&line, &cap, f) > 0)
		j = json_loads(line, 0, NULL);
	free(line);
	fclose(f);
	struct log_config back = { LOG_INFO, LOG_TEXT, false, "test", NULL };
	log_setup(&back);
	return j;
}

static void test_json_lines_survive(void **state)
{
	(void)state;
	json_t *j = json_line("plain %s", "text");
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "plain text");
	json_decref(j);

	j = json_line("host %s unreachable", "caf\xe9");
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "host caf? unreachable");
	json_decref(j);

	/* cut at the buffer in the middle of a character */
	char big[3000];
	big[0] = 'x';
	for (size_t i = 1; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 3);
	j = json_line("%s", big);
	assert_non_null(j);
	const char *msg = json_string_value(json_object_get(j, "msg"));
	assert_non_null(msg);
	assert_true(strlen(msg) > 2000);
	assert_int_equal(strncmp(msg, big, strlen(msg)), 0);
	json_decref(j);
}

/* Regression (issue 11, point 12): JSON lines carried only msg, so a log
 * pipeline could not select one job's or one worker's lines. */
static void test_json_context(void **state)
{
	(void)state;
	log_set_context(&(struct log_context){ "h:42:import", "01JOB", "import", "import", 2 });
	json_t *j = json_line("a %s", "message");
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "worker")), "h:42:import");
	assert_string_equal(json_string_value(json_object_get(j, "job")), "01JOB");
	assert_string_equal(json_string_value(json_object_get(j, "type")), "import");
	assert_string_equal(json_string_value(json_object_get(j, "queue")), "import");
	assert_int_equal(json_integer_value(json_object_get(j, "attempt")), 2);
	assert_string_equal(json_string_value(json_object_get(j, "level")), "warning");
	assert_non_null(json_object_get(j, "ts"));
	assert_non_null(json_object_get(j, "pid"));
	json_decref(j);

	/* the job ends: its fields go, the worker stays */
	log_set_context(&(struct log_context){ 0 });
	j = json_line("%s", "idle");
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "worker")), "h:42:import");
	assert_null(json_object_get(j, "job"));
	assert_null(json_object_get(j, "attempt"));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_lines_survive),
		cmocka_unit_test(test_json_context),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
