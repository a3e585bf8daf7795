/* test_webhook.c — the pure parts of webhook delivery: the [webhooks]
 * settings, what an answer means (retry, fail, disable), the retry schedule
 * with Retry-After, the disable threshold, URL checks and the guard on IP
 * literals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/webhook.h"

/* A config holding only [webhooks] entries (and an environment). */
static void fake_config(struct config *cfg, const char *env, const char *const *kv)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->v[CFG_ENV].value = (char *)env;
	size_t n = 0;
	while (kv[2 * n])
		n++;
	cfg->extra = calloc(n + 1, sizeof(*cfg->extra));
	for (size_t i = 0; i < n; i++)
		cfg->extra[i] = (struct config_entry){ (char *)"webhooks", (char *)kv[2 * i],
						       (char *)kv[2 * i + 1], (char *)"test.conf",
						       (int)i + 1 };
	cfg->nextra = n;
}

static void test_defaults(void **state)
{
	struct webhook_settings s;
	struct acme_err err;
	(void)state;
	assert_int_equal(webhook_settings_load(NULL, &s, &err), 0);
	assert_int_equal(s.connect_timeout_ms, 5000);
	assert_int_equal(s.timeout_ms, 15000);
	assert_int_equal(s.nretries, 7);
	static const long long want[] = { 5000, 300000, 1800000, 7200000, 18000000, 36000000,
					  36000000 };
	for (int i = 0; i < 7; i++)
		assert_int_equal(s.retry_ms[i], want[i]);
	assert_false(s.production);
	assert_false(s.allow_private);
	assert_int_equal(s.max_in_flight_per_endpoint, 50);
	assert_int_equal(s.rotate_grace_ms, 86400000);
}

static void test_settings(void **state)
{
	struct config cfg;
	struct webhook_settings s;
	struct acme_err err;
	(void)state;
	const char *const kv[] = { "connect_timeout", "250ms", "timeout", "2s", "retry_schedule",
				   "1s, 2s,500ms", "max_retry_after", "10s",
				   "disable_after_failures", "3", "disable_after", "0",
				   "allow_private", "yes", "max_in_flight", "7",
				   "max_in_flight_per_endpoint", "2", "rotate_grace", "1h",
				   "response_excerpt_max", "0", NULL };
	fake_config(&cfg, "production", kv);
	assert_int_equal(webhook_settings_load(&cfg, &s, &err), 0);
	free(cfg.extra);
	assert_int_equal(s.connect_timeout_ms, 250);
	assert_int_equal(s.timeout_ms, 2000);
	assert_int_equal(s.nretries, 3);
	assert_int_equal(s.retry_ms[2], 500);
	assert_int_equal(s.max_retry_after_ms, 10000);
	assert_int_equal(s.disable_after_failures, 3);
	assert_int_equal(s.disable_after_ms, 0);
	assert_true(s.allow_private);
	assert_true(s.production);
	assert_int_equal(s.max_in_flight, 7);
	assert_int_equal(s.max_in_flight_per_endpoint, 2);
	assert_int_equal(s.rotate_grace_ms, 3600000);
	assert_int_equal(s.response_excerpt_max, 0);
	/* allow_private in config lifts the guard */
	assert_false(webhook_guard_on(&s, false));

	const char *const none[] = { "retry_schedule", "none", NULL };
	fake_config(&cfg, "test", none);
	assert_int_equal(webhook_settings_load(&cfg, &s, &err), 0);
	free(cfg.extra);
	assert_int_equal(s.nretries, 0);
	assert_false(webhook_guard_on(&s, false));   /* not production */
}

static void expect_config_error(const char *key, const char *value, const char *needle)
{
	struct config cfg;
	struct webhook_settings s;
	struct acme_err err;
	const char *const kv[] = { key, value, NULL };
	fake_config(&cfg, "test", kv);
	assert_int_equal(webhook_settings_load(&cfg, &s, &err), -1);
	free(cfg.extra);
	assert_int_equal(err.code, ACME_E_CONFIG);
	assert_non_null(strstr(err.msg, "test.conf:1"));
	assert_non_null(strstr(err.msg, needle));
}

static void test_bad_settings(void **state)
{
	(void)state;
	expect_config_error("timeout", "fast", "timeout");
	expect_config_error("timeout", "0", "timeout");
	expect_config_error("connect_timeout", "10m", "connect_timeout");
	expect_config_error("retry_schedule", "5s,,x", "retry_schedule");
	expect_config_error("retry_schedule", "", "retry_schedule");
	expect_config_error("retry_schedule", "8d", "retry_schedule");
	expect_config_error("allow_private", "maybe", "true or false");
	expect_config_error("max_in_flight", "0", "max_in_flight");
	expect_config_error("disable_after_failures", "-1", "disable_after_failures");
	expect_config_error("response_excerpt_max", "70000", "response_excerpt_max");
	expect_config_error("retries", "3", "unknown key");
}

static void test_outcomes(void **state)
{
	(void)state;
	assert_int_equal(webhook_outcome_of(200, 0), WEBHOOK_SUCCEEDED);
	assert_int_equal(webhook_outcome_of(204, 0), WEBHOOK_SUCCEEDED);
	assert_int_equal(webhook_outcome_of(299, 0), WEBHOOK_SUCCEEDED);
	assert_int_equal(webhook_outcome_of(500, 0), WEBHOOK_RETRY);
	assert_int_equal(webhook_outcome_of(503, 0), WEBHOOK_RETRY);
	assert_int_equal(webhook_outcome_of(599, 0), WEBHOOK_RETRY);
	assert_int_equal(webhook_outcome_of(408, 0), WEBHOOK_RETRY);
	assert_int_equal(webhook_outcome_of(429, 0), WEBHOOK_RETRY);
	assert_int_equal(webhook_outcome_of(400, 0), WEBHOOK_FAIL);
	assert_int_equal(webhook_outcome_of(401, 0), WEBHOOK_FAIL);
	assert_int_equal(webhook_outcome_of(404, 0), WEBHOOK_FAIL);
	assert_int_equal(webhook_outcome_of(410, 0), WEBHOOK_GONE);
	assert_int_equal(webhook_outcome_of(301, 0), WEBHOOK_FAIL);   /* redirects are not followed */
	assert_int_equal(webhook_outcome_of(302, 0), WEBHOOK_FAIL);
	assert_int_equal(webhook_outcome_of(307, 0), WEBHOOK_FAIL);
	assert_int_equal(webhook_outcome_of(101, 0), WEBHOOK_FAIL);
	assert_int_equal(webhook_outcome_of(0, 1), WEBHOOK_RETRY);    /* timeout, refused, DNS */
	assert_int_equal(webhook_outcome_of(0, 2), WEBHOOK_FAIL);     /* guard, bad URL */
	assert_string_equal(webhook_outcome_name(WEBHOOK_GONE), "gone");
}

static void test_retry_delays(void **state)
{
	struct webhook_settings s;
	struct acme_err err;
	(void)state;
	webhook_settings_load(NULL, &s, &err);
	assert_int_equal(webhook_retry_delay_ms(&s, 1, 0), 5000);
	assert_int_equal(webhook_retry_delay_ms(&s, 2, 0), 300000);
	assert_int_equal(webhook_retry_delay_ms(&s, 7, 0), 36000000);
	assert_int_equal(webhook_retry_delay_ms(&s, 8, 0), -1);       /* 8 attempts in all */
	assert_int_equal(webhook_retry_delay_ms(&s, 0, 0), -1);
	/* Retry-After: honoured when longer, cut at max_retry_after */
	assert_int_equal(webhook_retry_delay_ms(&s, 1, 60000), 60000);
	assert_int_equal(webhook_retry_delay_ms(&s, 2, 60000), 300000);
	assert_int_equal(webhook_retry_delay_ms(&s, 1, 7LL * 86400000), 86400000);
	assert_int_equal(webhook_retry_delay_ms(&s, 8, 60000), -1);
}

static void test_disable_threshold(void **state)
{
	struct webhook_settings s;
	struct acme_err err;
	(void)state;
	webhook_settings_load(NULL, &s, &err);
	assert_false(webhook_should_disable(&s, 19, 2 * 86400000LL));
	assert_false(webhook_should_disable(&s, 20, 86399999));
	assert_true(webhook_should_disable(&s, 20, 86400000));
	s.disable_after_failures = 3;
	s.disable_after_ms = 0;
	assert_false(webhook_should_disable(&s, 2, 0));
	assert_true(webhook_should_disable(&s, 3, 0));
	s.disable_after_failures = 0;
	assert_false(webhook_should_disable(&s, 1000000, 365LL * 86400000));
}

static void test_urls(void **state)
{
	struct acme_err err;
	(void)state;
	assert_int_equal(webhook_check_url("https://hooks.example.com/acme?x=1", true, &err), 0);
	assert_int_equal(webhook_check_url("http://user:pw@example.com/", true, &err), 0);
	assert_int_equal(webhook_check_url("ftp://example.com/", false, &err), -1);
	assert_int_equal(err.code, ACME_E_DATA);
	assert_int_equal(webhook_check_url("file:///etc/passwd", false, &err), -1);
	assert_int_equal(webhook_check_url("gopher://x/", false, &err), -1);
	assert_int_equal(webhook_check_url("example.com/hook", false, &err), -1);
	assert_int_equal(webhook_check_url("http://exa mple.com/", false, &err), -1);
	assert_int_equal(webhook_check_url("", false, &err), -1);
	/* a password in a bad URL is not repeated */
	assert_int_equal(webhook_check_url("http://u:s3cret@[zz/", false, &err), -1);
	assert_null(strstr(err.msg, "s3cret"));

	/* the guard refuses IP literals of non-public classes at once */
	static const char *const refused[] = {
		"http://127.0.0.1/", "http://127.0.0.1:8080/x", "http://[::1]/",
		"http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://10.0.0.1/",
		"http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://0.0.0.0/",
		"http://[fd00::1]/", "http://[fe80::1]/", "https://192.168.1.1/", "http://2130706433/",
		"http://0x7f.0.0.1/", NULL,
	};
	for (int i = 0; refused[i]; i++) {
		if (webhook_check_url(refused[i], true, &err) != -1 || err.code != ACME_E_REFUSED) {
			fprintf(stderr, "not refused: %s\n", refused[i]);
			fail();
		}
		assert_int_equal(webhook_check_url(refused[i], false, &err), 0);
	}
	assert_int_equal(webhook_check_url("http://127.0.0.1/", true, &err), -1);
	assert_non_null(strstr(err.msg, "loopback"));
	/* names are checked when the request connects */
	assert_int_equal(webhook_check_url("http://localhost/", true, &err), 0);
	assert_int_equal(webhook_check_url("http://8.8.8.8/", true, &err), 0);
}

static void test_durations_and_events(void **state)
{
	long long ms;
	(void)state;
	assert_int_equal(webhook_parse_duration("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(webhook_parse_duration("30", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(webhook_parse_duration("1.5s", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(webhook_parse_duration("2h", &ms), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(webhook_parse_duration("1d", &ms), 0);
	assert_int_equal(webhook_parse_duration("5x", &ms), -1);
	assert_int_equal(webhook_parse_duration("-5s", &ms), -1);
	assert_int_equal(webhook_parse_duration("", &ms), -1);
	assert_true(webhook_event_known("*"));
	assert_true(webhook_event_known("product.created"));
	assert_true(webhook_event_known("import.failed"));
	assert_false(webhook_event_known("product.create"));
	assert_false(webhook_event_known(""));
	/* issue 11: the patterns the README documents; no others */
	assert_true(webhook_event_known("product.*"));
	assert_true(webhook_event_known("import.*"));
	assert_false(webhook_event_known("webhook.*"));
	assert_false(webhook_event_known("prod*"));
	assert_false(webhook_event_known("*.created"));
	assert_true(webhook_event_matches("*", "import.failed"));
	assert_true(webhook_event_matches("product.*", "product.bulk_deleted"));
	assert_false(webhook_event_matches("product.*", "import.completed"));
	assert_false(webhook_event_matches("product.*", "productx.created"));
	assert_true(webhook_event_matches("import.completed", "import.completed"));
	assert_false(webhook_event_matches("import.completed", "import.failed"));
}

/* Issue 12: a delivery's status is an enum like a job's state; its names are
 * the column's words and the --status choices, in the same order. */
static void test_delivery_status(void **state)
{
	(void)state;
	char all[256] = "";
	for (int i = 0; i < DELIVERY__COUNT; i++) {
		enum delivery_status st = DELIVERY__COUNT;
		const char *name = delivery_status_name((enum delivery_status)i);
		assert_int_equal(delivery_status_parse(name, &st), 0);
		assert_int_equal(st, i);
		strcat(all, i ? "|" : "");
		strcat(all, name);
	}
	assert_string_equal(all, WEBHOOK_STATUSES);
	enum delivery_status st = DELIVERY_PENDING;
	assert_int_equal(delivery_status_parse("delivered", &st), -1);
	assert_int_equal(st, DELIVERY_PENDING);
	assert_true(delivery_status_is_final(DELIVERY_SUCCEEDED));
	assert_true(delivery_status_is_final(DELIVERY_FAILED));
	assert_true(delivery_status_is_final(DELIVERY_CANCELLED));
	assert_false(delivery_status_is_final(DELIVERY_PENDING));
	assert_false(delivery_status_is_final(DELIVERY_DELIVERING));
	assert_false(delivery_status_is_final(DELIVERY_RETRYING));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_bad_settings),
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_retry_delays),
		cmocka_unit_test(test_disable_threshold),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_durations_and_events),
		cmocka_unit_test(test_delivery_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
