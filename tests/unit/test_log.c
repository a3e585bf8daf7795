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
	struct log_config cfg = { LOG_DEBUG, LOG_JSON, false, "test", f, NULL, NULL };
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
	struct log_config back = { LOG_INFO, LOG_TEXT, false, "test", NULL, NULL, NULL };
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

/* Issue 12: the sink is an interface. A TUI takes lines into a ring buffer
 * (nothing reaches the terminal under it); the ring keeps the newest
 * LOG_RING_LINES in fixed memory, oldest first, and drops the oldest. */
static void test_ring_sink(void **state)
{
	(void)state;
	static struct log_ring ring;
	enum log_level lv;
	log_ring_init(&ring);
	struct log_config cfg = { LOG_INFO, LOG_TEXT, false, "tui", NULL, log_ring_sink, &ring };
	log_setup(&cfg);
	assert_int_equal(log_ring_count(&ring), 0);
	assert_null(log_ring_get(&ring, 0, &lv));
	log_msg(LOG_INFO, "first %d", 1);
	log_msg(LOG_WARN, "second %d", 2);
	log_msg(LOG_DEBUG, "not at info level");
	assert_int_equal(log_ring_count(&ring), 2);
	assert_string_equal(log_ring_get(&ring, 0, &lv), "tui: first 1");
	assert_int_equal(lv, LOG_INFO);
	assert_string_equal(log_ring_get(&ring, 1, &lv), "tui: warning: second 2");
	assert_int_equal(lv, LOG_WARN);

	/* wrap around: the oldest go, the order stays */
	for (int i = 0; i < LOG_RING_LINES + 10; i++)
		log_msg(LOG_INFO, "line %d", i);
	assert_int_equal(log_ring_count(&ring), LOG_RING_LINES);
	assert_int_equal(ring.total, LOG_RING_LINES + 12);
	char want[64];
	snprintf(want, sizeof(want), "tui: line %d", 10);
	assert_string_equal(log_ring_get(&ring, 0, NULL), want);
	snprintf(want, sizeof(want), "tui: line %d", LOG_RING_LINES + 9);
	assert_string_equal(log_ring_get(&ring, LOG_RING_LINES - 1, NULL), want);
	assert_null(log_ring_get(&ring, LOG_RING_LINES, NULL));

	/* a long line is cut inside the slot, never in the middle of a character */
	char big[LOG_RING_WIDTH * 2];
	memset(big, 0, sizeof(big));
	for (size_t i = 0; i + 3 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	log_msg(LOG_INFO, "%s", big);
	const char *last = log_ring_get(&ring, LOG_RING_LINES - 1, NULL);
	assert_true(strlen(last) < LOG_RING_WIDTH);
	assert_true(strlen(last) > LOG_RING_WIDTH - 8);
	assert_int_equal((strlen(last) - strlen("tui: ")) % 2, 0);

	struct log_config back = { LOG_INFO, LOG_TEXT, false, "test", NULL, NULL, NULL };
	log_setup(&back);
}

/* A callback sink gets each formatted line and its level; switching the
 * sink back sends lines to the stream again. */
static int got_lines;
static char got_last[256];
static void count_sink(void *arg, enum log_level level, const char *line)
{
	(void)arg;
	(void)level;
	got_lines++;
	snprintf(got_last, sizeof(got_last), "%s", line);
}

static void test_callback_sink_and_switch(void **state)
{
	(void)state;
	struct log_config cfg = { LOG_WARN, LOG_TEXT, false, "cb", NULL, count_sink, NULL };
	log_setup(&cfg);
	got_lines = 0;
	log_msg(LOG_ERROR, "bad %s", "thing");
	log_msg(LOG_INFO, "filtered out");
	assert_int_equal(got_lines, 1);
	assert_string_equal(got_last, "cb: error: bad thing");

	FILE *f = tmpfile();
	assert_non_null(f);
	struct log_config to_file = { LOG_INFO, LOG_TEXT, false, "cb", f, NULL, NULL };
	log_setup(&to_file);
	log_msg(LOG_INFO, "to the stream");
	assert_int_equal(got_lines, 1);
	rewind(f);
	char line[128] = "";
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "cb: to the stream\n");
	fclose(f);
	struct log_config back = { LOG_INFO, LOG_TEXT, false, "test", NULL, NULL, NULL };
	log_setup(&back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_lines_survive),
		cmocka_unit_test(test_json_context),
		cmocka_unit_test(test_ring_sink),
		cmocka_unit_test(test_callback_sink_and_switch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
