/* test_queue.c — the pure parts of core/queue and core/jobtypes: retry backoff
 * and its jitter bounds, lease token and job id formats, name and spec
 * checks, job states, job type defaults. Everything that talks to Redis is
 * tested against a real server in tests/t/t2*.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jobtypes.h"
#include "core/queue.h"

/* ---- backoff ------------------------------------------------------------------------ */

static void test_backoff_doubles_within_jitter_bounds(void **state)
{
	(void)state;
	/* base 1000: attempt n waits d = 1000 * 2^(n-1) scaled into [d/2, d] */
	for (int attempt = 1; attempt <= 5; attempt++) {
		long long d = 1000LL << (attempt - 1);
		for (int i = 0; i <= 100; i++) {
			double r = i / 100.0 * 0.999999;
			long long v = queue_backoff_ms(attempt, 1000, 1000000, r);
			assert_true(v >= d / 2);
			assert_true(v <= d);
		}
		assert_int_equal(queue_backoff_ms(attempt, 1000, 1000000, 0.0), d / 2);
		assert_true(queue_backoff_ms(attempt, 1000, 1000000, 0.999999) >= d - 1);
	}
}

static void test_backoff_random_draws_stay_in_bounds(void **state)
{
	(void)state;
	long long lo = LLONG_MAX, hi = 0;
	for (int i = 0; i < 2000; i++) {
		long long v = queue_backoff_ms(3, 100, 60000, queue_random_unit());
		assert_true(v >= 200 && v <= 400);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	/* the jitter really spreads the retries out */
	assert_true(hi - lo > 100);
}

static void test_backoff_caps(void **state)
{
	(void)state;
	assert_int_equal(queue_backoff_ms(20, 100, 2000, 0.0), 1000);
	assert_true(queue_backoff_ms(20, 100, 2000, 0.999) <= 2000);
	/* huge attempt numbers and values do not overflow */
	long long v = queue_backoff_ms(INT_MAX, 1LL << 40, LLONG_MAX, 0.5);
	assert_true(v >= LLONG_MAX / 2 - 1);
	assert_true(v > 0);
	v = queue_backoff_ms(1000, 1000, 300000, 0.0);
	assert_int_equal(v, 150000);
}

static void test_backoff_odd_inputs(void **state)
{
	(void)state;
	assert_int_equal(queue_backoff_ms(1, 0, 1000, 0.5), 0);       /* no backoff */
	assert_int_equal(queue_backoff_ms(1, -5, 1000, 0.5), 0);
	assert_int_equal(queue_backoff_ms(0, 1000, 5000, 0.0), 500);  /* attempt < 1 = 1 */
	assert_int_equal(queue_backoff_ms(3, 1000, 10, 0.0), 500);    /* cap < base = base */
	assert_int_equal(queue_backoff_ms(1, 1000, 5000, -1.0), 500); /* r clamped */
	assert_true(queue_backoff_ms(1, 1000, 5000, 7.0) <= 1000);
	assert_int_equal(queue_backoff_ms(1, 1000, 5000, NAN), 500);
	assert_int_equal(queue_backoff_ms(1, 1, 5000, 0.9), 1);      /* tiny base */
}

static void test_random_unit_range(void **state)
{
	(void)state;
	for (int i = 0; i < 1000; i++) {
		double r = queue_random_unit();
		assert_true(r >= 0.0 && r < 1.0);
	}
}

/* ---- tokens and ids -------------------------------------------------------------------- */

static void test_token_format(void **state)
{
	char a[QUEUE_TOKEN_LEN + 1], b[QUEUE_TOKEN_LEN + 1];
	struct acme_err err = { 0 };
	(void)state;
	assert_int_equal(queue_new_token(a, &err), 0);
	assert_int_equal(queue_new_token(b, &err), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_string_not_equal(a, b);
}

static long long decode_ulid_time(const char *id)
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	long long t = 0;
	for (int i = 0; i < 10; i++)
		t = t * 32 + (strchr(b32, id[i]) - b32);
	return t;
}

static void test_ulid_format_and_order(void **state)
{
	char a[QUEUE_ULID_LEN + 1], b[QUEUE_ULID_LEN + 1];
	struct acme_err err = { 0 };
	struct timespec ts;
	(void)state;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

	assert_int_equal(queue_new_id(a, &err), 0);
	assert_int_equal(strlen(a), 26);
	assert_int_equal(strspn(a, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"), 26);  /* no I L O U */
	assert_true(a[0] <= '7');         /* 48 bits: the first character holds 3 */
	long long t = decode_ulid_time(a);
	assert_true(t >= now - 5 && t <= now + 1000);
	assert_int_equal(queue_check_id(a, &err), 0);

	struct timespec nap = { 0, 3 * 1000000 };
	nanosleep(&nap, NULL);
	assert_int_equal(queue_new_id(b, &err), 0);
	assert_true(strcmp(a, b) < 0);    /* later ids sort later */
}

/* ---- names, ids, specs -------------------------------------------------------------------- */

static void test_names(void **state)
{
	struct acme_err err = { 0 };
	char long_name[QUEUE_NAME_MAX + 2];
	(void)state;
	assert_int_equal(queue_check_name("queue", "default", &err), 0);
	assert_int_equal(queue_check_name("queue", "bulk.import-2_x", &err), 0);
	assert_int_equal(queue_check_name("queue", "", &err), -1);
	assert_int_equal(err.code, ACME_E_USAGE);
	assert_int_equal(queue_check_name("queue", NULL, &err), -1);
	assert_int_equal(queue_check_name("queue", "a b", &err), -1);
	assert_non_null(strstr(err.msg, "queue \"a b\": ' ' is not allowed"));
	assert_int_equal(queue_check_name("queue", "x{y}", &err), -1);   /* hash tags */
	assert_int_equal(queue_check_name("queue", "a:b", &err), -1);    /* key separator */
	assert_int_equal(queue_check_name("queue", "caf\xc3\xa9", &err), -1);
	memset(long_name, 'q', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(queue_check_name("queue", long_name, &err), -1);
	long_name[QUEUE_NAME_MAX] = '\0';
	assert_int_equal(queue_check_name("queue", long_name, &err), 0);

	assert_int_equal(queue_check_id("import:2024-01-01", &err), 0);
	assert_int_equal(queue_check_id("a/b", &err), -1);
	assert_int_equal(queue_check_id("a}", &err), -1);
}

/* Regression: "sched-<name>-<tick>" was cut to QUEUE_ID_MAX bytes, so every
 * tick of a schedule with a long name got the same id. */
static void test_derived_ids(void **state)
{
	struct acme_err err = { 0 };
	char a[QUEUE_ID_MAX + 1], b[QUEUE_ID_MAX + 1], name[QUEUE_NAME_MAX + 1];
	(void)state;

	/* what fits is kept as it is */
	queue_derive_id(a, "sched-", "nightly", "-1767225600");
	assert_string_equal(a, "sched-nightly-1767225600");
	memset(name, 'n', 47);
	name[47] = '\0';
	queue_derive_id(a, "sched-", name, "-1767225600");
	assert_int_equal(strlen(a), QUEUE_ID_MAX);
	assert_int_equal(strncmp(a + 6, name, 47), 0);
	assert_null(strchr(a, ':'));

	/* a longer name: shortened, with a hash of the whole name, never cut */
	memset(name, 'n', QUEUE_NAME_MAX);
	name[QUEUE_NAME_MAX] = '\0';
	queue_derive_id(a, "sched-", name, "-1767225600");
	queue_derive_id(b, "sched-", name, "-1767225601");
	assert_int_equal(strlen(a), QUEUE_ID_MAX);
	assert_int_equal(queue_check_id(a, &err), 0);
	assert_string_not_equal(a, b);                       /* ticks differ */
	assert_int_equal(strncmp(a, "sched-nnnn", 10), 0);   /* still readable */
	assert_non_null(strstr(a, "-1767225600"));
	assert_int_equal(strcmp(a + strlen(a) - 11, "-1767225600"), 0);
	char *colon = strchr(a, ':');
	assert_non_null(colon);
	assert_int_equal(strspn(colon + 1, "0123456789abcdef"), 16);
	/* the same parts give the same id (every scheduler computes it) */
	queue_derive_id(b, "sched-", name, "-1767225600");
	assert_string_equal(a, b);
	/* names that differ only past the part kept get different ids */
	name[QUEUE_NAME_MAX - 1] = 'm';
	queue_derive_id(b, "sched-", name, "-1767225600");
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(b), QUEUE_ID_MAX);

	/* one character over */
	memset(name, 'n', 48);
	name[48] = '\0';
	queue_derive_id(a, "sched-", name, "-1767225600");
	assert_int_equal(strlen(a), QUEUE_ID_MAX);
	assert_non_null(strchr(a, ':'));
	/* a tick with more digits still fits */
	queue_derive_id(a, "sched-", name, "-99999999999999999");
	assert_int_equal(strlen(a), QUEUE_ID_MAX);
	assert_int_equal(strcmp(a + strlen(a) - 18, "-99999999999999999"), 0);
}

static void test_spec_checks(void **state)
{
	struct acme_err err = { 0 };
	struct queue_spec s = { NULL, "noop", "default", "{\"a\": 1}", 3, 0, 100, 1000, 0, 0 };
	(void)state;
	assert_int_equal(queue_check_spec(&s, &err), 0);
	s.payload = NULL;                         /* {} */
	assert_int_equal(queue_check_spec(&s, &err), 0);
	s.payload = "[1]";
	assert_int_equal(queue_check_spec(&s, &err), -1);
	assert_int_equal(err.code, ACME_E_DATA);
	s.payload = "{\"a\": 1, \"a\": 2}";       /* duplicate keys are ambiguous */
	assert_int_equal(queue_check_spec(&s, &err), -1);
	s.payload = "{";
	assert_int_equal(queue_check_spec(&s, &err), -1);
	assert_non_null(strstr(err.msg, "payload: not valid JSON"));

	char *big = malloc(QUEUE_PAYLOAD_MAX + 16);
	memset(big, ' ', QUEUE_PAYLOAD_MAX + 8);
	big[0] = '{';
	big[QUEUE_PAYLOAD_MAX + 8] = '}';
	big[QUEUE_PAYLOAD_MAX + 9] = '\0';
	s.payload = big;
	assert_int_equal(queue_check_spec(&s, &err), -1);
	assert_int_equal(err.code, ACME_E_DATA);
	free(big);

	s.payload = "{}";
	s.max_attempts = 0;
	assert_int_equal(queue_check_spec(&s, &err), -1);
	assert_int_equal(err.code, ACME_E_USAGE);
	s.max_attempts = 1;
	s.delay_ms = -1;
	assert_int_equal(queue_check_spec(&s, &err), -1);
	s.delay_ms = 0;
	s.type = "no type";
	assert_int_equal(queue_check_spec(&s, &err), -1);
}

static void test_init_prefix(void **state)
{
	struct queue q;
	struct acme_err err = { 0 };
	(void)state;
	assert_int_equal(queue_init(&q, NULL, "acme:{x}:", &err), -1);
	assert_int_equal(err.code, ACME_E_CONFIG);
	assert_int_equal(queue_init(&q, NULL, "", &err), -1);
	assert_int_equal(queue_init(&q, NULL, "acme:test:", &err), 0);
	char *ch = queue_events_channel(&q, "j1");
	assert_string_equal(ch, "acme:test:events:job:j1");
	free(ch);
	assert_int_equal(q.keep_ms, 24LL * 3600 * 1000);
	queue_release(&q);
}

/* ---- states and types ------------------------------------------------------------------------ */

static void test_states(void **state)
{
	enum job_state s;
	(void)state;
	for (int i = 0; i < JOB_STATE__COUNT; i++) {
		assert_int_equal(job_state_parse(job_state_name((enum job_state)i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(job_state_name(JOB_RETRYING), "retrying");
	assert_int_equal(job_state_parse("sleeping", &s), -1);
	assert_int_equal(job_state_parse(NULL, &s), -1);
	assert_true(job_state_is_final(JOB_SUCCEEDED) && job_state_is_final(JOB_FAILED) &&
		    job_state_is_final(JOB_DEAD) && job_state_is_final(JOB_CANCELLED));
	assert_false(job_state_is_final(JOB_SCHEDULED) || job_state_is_final(JOB_QUEUED) ||
		     job_state_is_final(JOB_RUNNING) || job_state_is_final(JOB_RETRYING));
}

static void test_jobtype_defaults(void **state)
{
	struct acme_err err = { 0 };
	struct queue_spec s = { 0 };
	(void)state;
	s.type = "noop";
	assert_int_equal(jobtype_fill_spec(&s, &err), 0);
	assert_string_equal(s.queue, "default");
	assert_int_equal(s.max_attempts, 3);
	assert_true(s.backoff_ms > 0 && s.backoff_max_ms >= s.backoff_ms);

	struct queue_spec own = { 0 };
	own.type = "noop";
	own.queue = "bulk";
	own.max_attempts = 9;
	assert_int_equal(jobtype_fill_spec(&own, &err), 0);
	assert_string_equal(own.queue, "bulk");
	assert_int_equal(own.max_attempts, 9);

	struct queue_spec bad = { 0 };
	bad.type = "nosuch";
	assert_int_equal(jobtype_fill_spec(&bad, &err), -1);
	assert_int_equal(err.code, ACME_E_USAGE);
	assert_non_null(strstr(err.msg, "known types: noop"));

	assert_non_null(jobtype_find("noop"));
	assert_null(jobtype_find("nosuch"));
	assert_null(jobtype_find(NULL));
	size_t n = 0;
	while (jobtype_at(n))
		n++;
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++) {
		const struct jobtype *t = jobtype_at(i);
		struct acme_err e2 = { 0 };
		assert_int_equal(queue_check_name("job type", t->name, &e2), 0);
		assert_int_equal(queue_check_name("queue", t->queue, &e2), 0);
		assert_true(t->max_attempts >= 1 && t->lease_ms >= 3 && t->handler);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_doubles_within_jitter_bounds),
		cmocka_unit_test(test_backoff_random_draws_stay_in_bounds),
		cmocka_unit_test(test_backoff_caps),
		cmocka_unit_test(test_backoff_odd_inputs),
		cmocka_unit_test(test_random_unit_range),
		cmocka_unit_test(test_token_format),
		cmocka_unit_test(test_ulid_format_and_order),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_derived_ids),
		cmocka_unit_test(test_spec_checks),
		cmocka_unit_test(test_init_prefix),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_jobtype_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
