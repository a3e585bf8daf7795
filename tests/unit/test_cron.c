/* test_cron.c — cron and interval schedules: parsing, errors and next ticks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "core/cron.h"

static time_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { 0 };
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return timegm(&tm);
}

static time_t next(const char *expr, time_t after)
{
	struct schedule_spec s;
	struct acme_err err;
	assert_int_equal(cron_parse(expr, &s, &err), 0);
	return schedule_next(&s, after);
}

static void test_every_five_minutes(void **state)
{
	(void)state;
	assert_int_equal(next("*/5 * * * *", utc(2026, 11, 22, 10, 7)), utc(2026, 11, 22, 10, 10));
	/* strictly after: a tick exactly now is not the next one */
	assert_int_equal(next("*/5 * * * *", utc(2026, 11, 22, 10, 10)), utc(2026, 11, 22, 10, 15));
	assert_int_equal(next("*/5 * * * *", utc(2026, 11, 22, 23, 58)), utc(2026, 11, 23, 0, 0));
}

static void test_fields(void **state)
{
	(void)state;
	assert_int_equal(next("30 2 * * *", utc(2026, 11, 22, 3, 0)), utc(2026, 11, 23, 2, 30));
	assert_int_equal(next("0 0 1 * *", utc(2026, 12, 15, 0, 0)), utc(2027, 1, 1, 0, 0));
	assert_int_equal(next("0 12 * * 1-5", utc(2026, 11, 21, 13, 0)), utc(2026, 11, 23, 12, 0)); /* Sat → Mon */
	assert_int_equal(next("0 0 * * 7", utc(2026, 11, 22, 1, 0)), utc(2026, 11, 29, 0, 0));     /* 7 = Sunday */
	assert_int_equal(next("15,45 */6 * * *", utc(2026, 11, 22, 6, 20)), utc(2026, 11, 22, 6, 45));
	assert_int_equal(next("0 0 29 2 *", utc(2026, 3, 1, 0, 0)), utc(2028, 2, 29, 0, 0));
	/* dom and dow both restricted: either matches (Vixie cron) */
	assert_int_equal(next("0 0 1 * 1", utc(2026, 11, 22, 0, 0)), utc(2026, 11, 23, 0, 0));
	assert_int_equal(next("@daily", utc(2026, 11, 22, 0, 0)), utc(2026, 11, 23, 0, 0));
	assert_int_equal(next("0 0 31 2 *", utc(2026, 1, 1, 0, 0)), (time_t)-1);
}

static void test_errors(void **state)
{
	struct schedule_spec s;
	struct acme_err err;
	(void)state;
	assert_int_equal(cron_parse("* * * *", &s, &err), -1);
	assert_non_null(strstr(err.msg, "expected 5 fields"));
	assert_int_equal(cron_parse("60 * * * *", &s, &err), -1);
	assert_non_null(strstr(err.msg, "minute"));
	assert_int_equal(cron_parse("* * * 13 *", &s, &err), -1);
	assert_int_equal(cron_parse("*/0 * * * *", &s, &err), -1);
	assert_int_equal(cron_parse("5-1 * * * *", &s, &err), -1);
	assert_int_equal(cron_parse("* * * * * *", &s, &err), -1);
	assert_int_equal(cron_parse("a * * * *", &s, &err), -1);
	assert_int_equal(err.code, ACME_E_CONFIG);
}

static void test_interval(void **state)
{
	struct schedule_spec s;
	struct acme_err err;
	(void)state;
	assert_int_equal(interval_parse("10m", &s, &err), 0);
	assert_int_equal(s.interval_ms, 600000);
	assert_int_equal(schedule_next(&s, 1200), 1800);
	assert_int_equal(schedule_next(&s, 1799), 1800);
	assert_int_equal(schedule_next(&s, 1800), 2400);
	assert_int_equal(interval_parse("0s", &s, &err), -1);
	assert_int_equal(interval_parse("10x", &s, &err), -1);
	assert_int_equal(interval_parse("500ms", &s, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_five_minutes), cmocka_unit_test(test_fields),
		cmocka_unit_test(test_errors), cmocka_unit_test(test_interval),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
