/* test_call.c — calls with a deadline (core/call.h) against a server that
 * never answers: a unix socket that listens and never accepts, so the
 * kernel completes the connection and nothing ever replies, the way a
 * stopped (SIGSTOP) server behaves. The connect with a deadline and the
 * Redis command with a deadline must give ACME_E_TEMPFAIL close to the
 * deadline, and a timed-out Redis context must refuse further commands
 * rather than read a late reply as theirs. (t1200 does the same against
 * real servers stopped with SIGSTOP.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/call.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/rds.h"

static char dir[64];
static char sock_path[128];
static int listener = -1;

/* A silent server on dir/name. */
static int silent_listen(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sock_path, sizeof(sock_path), "%s/%s", dir, name);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
		return -1;
	return fd;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/acme-test-call.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (listener >= 0)
		close(listener);
	listener = -1;
	unlink(sock_path);
	rmdir(dir);
	return 0;
}

static void test_pg_connect_deadline(void **state)
{
	struct acme_err err = { 0 };
	char url[256];
	(void)state;
	listener = silent_listen(".s.PGSQL.5432");
	assert_true(listener >= 0);
	snprintf(url, sizeof(url), "postgresql:///x?host=%s&port=5432&user=u", dir);
	long long t0 = clock_mono_ms();
	PGconn *db = db_connect_deadline(url, "test_call", 150, &err);
	long long took = clock_mono_ms() - t0;
	assert_null(db);
	assert_int_equal(err.code, ACME_E_TEMPFAIL);
	assert_true(err.transient);
	assert_non_null(strstr(err.msg, "within 150 ms"));
	assert_true(took >= 150);
	assert_true(took < 1000);
	close(listener);
	listener = -1;
	unlink(sock_path);
}

static void test_pg_connect_refused(void **state)
{
	struct acme_err err = { 0 };
	char url[256];
	(void)state;
	snprintf(url, sizeof(url), "postgresql:///x?host=%s/none&port=5432&user=u", dir);
	PGconn *db = db_connect_deadline(url, "test_call", 5000, &err);
	assert_null(db);
	assert_int_equal(err.code, ACME_E_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "is the server running"));
}

static void test_pgcall_without_connection(void **state)
{
	struct acme_err err = { 0 };
	struct pgcall call;
	(void)state;
	assert_int_equal(pgcall_start(&call, NULL, "SELECT 1", 0, NULL, 100, &err), -1);
	assert_int_equal(err.code, ACME_E_UNAVAILABLE);
	assert_null(db_exec_deadline(NULL, &err, "SELECT 1", 0, NULL, 100, NULL, NULL));
	assert_int_equal(err.code, ACME_E_UNAVAILABLE);
}

static redisContext *silent_redis(struct acme_err *err)
{
	char url[256];
	listener = silent_listen("redis.sock");
	assert_true(listener >= 0);
	snprintf(url, sizeof(url), "unix://%s", sock_path);
	return rds_connect_url_ms(url, 1000, 5000, err);
}

static void test_redis_command_deadline(void **state)
{
	struct acme_err err = { 0 };
	const char *argv[] = { "PING" };
	(void)state;
	redisContext *c = silent_redis(&err);
	assert_non_null(c);
	long long t0 = clock_mono_ms();
	redisReply *r = rds_command_deadline(c, &err, 120, 1, argv, NULL);
	long long took = clock_mono_ms() - t0;
	assert_null(r);
	assert_int_equal(err.code, ACME_E_TEMPFAIL);
	assert_true(took >= 100);
	assert_true(took < 1000);
	/* the context refuses the next command instead of misreading a late reply */
	assert_null(rds_command(c, &err, 1, argv, NULL));
	assert_int_equal(err.code, ACME_E_UNAVAILABLE);
	redisFree(c);
	close(listener);
	listener = -1;
	unlink(sock_path);
}

static void test_rdscall_deadline(void **state)
{
	struct acme_err err = { 0 };
	struct rdscall call;
	const char *argv[] = { "PING" };
	(void)state;
	redisContext *c = silent_redis(&err);
	assert_non_null(c);
	long long t0 = clock_mono_ms();
	assert_int_equal(rdscall_start(&call, c, 1, argv, NULL, 120, &err), 0);
	int rc, polls = 0;
	while ((rc = rdscall_step(&call)) == 0) {
		struct pollfd pfd = { rdscall_fd(&call), rdscall_events(&call), 0 };
		assert_true(pfd.fd >= 0);
		poll(&pfd, 1, rdscall_wait_ms(&call));
		polls++;
	}
	assert_int_equal(rc, -1);
	assert_null(rdscall_finish(&call, &err));
	assert_int_equal(err.code, ACME_E_TEMPFAIL);
	long long took = clock_mono_ms() - t0;
	assert_true(took >= 100 && took < 1000);
	assert_true(polls < 50);    /* it waited in poll(), it did not spin */
	redisFree(c);
	close(listener);
	listener = -1;
	unlink(sock_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pg_connect_deadline),
		cmocka_unit_test(test_pg_connect_refused),
		cmocka_unit_test(test_pgcall_without_connection),
		cmocka_unit_test(test_redis_command_deadline),
		cmocka_unit_test(test_rdscall_deadline),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
