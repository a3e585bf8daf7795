/* test_jobwait.c — job_outcome(), the one mapping from a finished job to an
 * exit status that `import --wait` and `jobs watch` share (issue 11, point
 * 3). Regression: watch exited 0 for an import with rejected rows and 1 for
 * a --strict refusal, where --wait exited 65 for both. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "core/jobwait.h"

static int status_of(const char *type, enum job_state state, int attempts, const char *result,
		     const char *error, struct acme_err *err)
{
	struct queue_job job;
	memset(&job, 0, sizeof(job));
	job.id = (char *)"J1";
	job.type = (char *)type;
	job.state = state;
	job.attempts = attempts;
	job.result = (char *)result;
	job.error = (char *)error;
	memset(err, 0, sizeof(*err));
	if (job_outcome(&job, err) == 0)
		return 0;
	return acme_exit_status(err->code);
}

static void test_statuses(void **state)
{
	struct acme_err err;
	(void)state;
	assert_int_equal(status_of("import", JOB_SUCCEEDED, 1, "{\"rejected\": 0}", NULL, &err), 0);
	assert_int_equal(status_of("noop", JOB_SUCCEEDED, 1, NULL, NULL, &err), 0);
	assert_int_equal(status_of("import", JOB_SUCCEEDED, 1, "{\"rejected\": 2, \"errors_recorded\": 2}",
				   NULL, &err), 65);
	assert_string_equal(err.msg, "import J1: 2 rows rejected; see 'acmectl jobs errors J1'");
	assert_int_equal(status_of("import", JOB_SUCCEEDED, 1, "{\"rejected\": 3, \"errors_recorded\": 1}",
				   NULL, &err), 65);
	assert_non_null(strstr(err.msg, "3 rows rejected (the first ones are recorded); see"));
	assert_int_equal(status_of("import", JOB_FAILED, 1, NULL, "refused under --strict", &err), 65);
	assert_string_equal(err.msg, "import J1 failed: refused under --strict");
	assert_int_equal(status_of("noop", JOB_FAILED, 1, NULL, "bad payload", &err), 65);
	assert_int_equal(status_of("import", JOB_DEAD, 3, NULL, "boom", &err), 1);
	assert_string_equal(err.msg, "import J1 failed after 3 attempts, nothing applied: boom");
	assert_int_equal(status_of("noop", JOB_DEAD, 1, NULL, NULL, &err), 1);
	assert_string_equal(err.msg, "job J1 failed after 1 attempt: no reason given");
	assert_int_equal(status_of("import", JOB_CANCELLED, 1, NULL, NULL, &err), 4);
	assert_string_equal(err.msg, "import J1 was cancelled; nothing was applied");
	assert_int_equal(status_of("noop", JOB_CANCELLED, 0, NULL, NULL, &err), 4);
	assert_string_equal(err.msg, "job J1 was cancelled");
	assert_int_equal(status_of("noop", JOB_QUEUED, 0, NULL, NULL, &err), 75);
	assert_int_equal(status_of("noop", JOB_RUNNING, 1, NULL, NULL, &err), 75);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
