/* test_session.c — core/session: the configuration is loaded without
 * connecting; connections open on first use, a failure is reported with
 * ACME_E_UNAVAILABLE and leaves nothing half-open, the next call tries
 * again, and release is safe on any state. No server is needed: the URLs
 * point at sockets that do not exist. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/session.h"

static int calls_notice;

static void notice(void *arg, const char *dir)
{
	(void)arg;
	(void)dir;
	calls_notice++;
}

static void setup_env(void)
{
	unsetenv("ACME_CONFIG");
	setenv("XDG_CONFIG_HOME", "/nonexistent-acme-config-home", 1);
	setenv("ACME_ENV", "test", 1);
	setenv("DATABASE_URL", "postgresql:///nodb?host=/nonexistent-acme-socket-dir", 1);
	setenv("REDIS_URL", "unix:///nonexistent-acme-socket-dir/redis.sock", 1);
}

static void test_load_does_not_connect(void **state)
{
	(void)state;
	struct session s;
	struct acme_err err = { 0 };
	setup_env();
	session_init(&s);
	assert_int_equal(session_load(&s, &(struct config_flags){ 0 }, true, &err), 0);
	assert_true(s.cfg_loaded);
	assert_null(s.db);
	assert_null(s.redis);
	session_release(&s);
	assert_false(s.cfg_loaded);
	session_release(&s);           /* twice is fine */
}

static void test_failed_connect_is_reported_and_retried(void **state)
{
	(void)state;
	struct session s;
	struct acme_err err = { 0 };
	setup_env();
	session_init(&s);
	s.on_devstack = notice;
	calls_notice = 0;
	assert_int_equal(session_load(&s, &(struct config_flags){ 0 }, true, &err), 0);
	for (int i = 0; i < 2; i++) {
		memset(&err, 0, sizeof(err));
		assert_null(session_db(&s, &err));
		assert_int_equal(err.code, ACME_E_UNAVAILABLE);
		assert_true(err.msg[0] != '\0');
		assert_null(s.db);
		memset(&err, 0, sizeof(err));
		assert_null(session_redis(&s, &err));
		assert_int_equal(err.code, ACME_E_UNAVAILABLE);
		assert_null(s.redis);
	}
	/* configured servers: the dev stack is never started */
	assert_int_equal(calls_notice, 0);
	session_drop_db(&s);
	session_drop_redis(&s);
	session_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_does_not_connect),
		cmocka_unit_test(test_failed_connect_is_reported_and_retried),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
