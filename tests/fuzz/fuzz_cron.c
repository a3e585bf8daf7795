/* fuzz_cron.c — libFuzzer target for schedules (core/cron.h).
 *
 * Input: one byte picking cron (even) or interval (odd), four bytes of the
 * `after` time, then the expression. Checked, as cron.h promises:
 *   - an accepted cron expression restricts every field to values within its
 *     range, and no field is empty (a schedule that can never run is refused);
 *   - schedule_next() is strictly after `after`, on a whole minute, and the
 *     minute matches every field (day of month OR day of week when both are
 *     restricted, Vixie style); when it is within two days, no earlier minute
 *     matches (checked minute by minute);
 *   - an accepted interval is 1 s to 366 d; its ticks are multiples of the
 *     interval since the epoch, strictly after `after` and at most one
 *     interval later;
 * *   - a refusal is ACME_E_CONFIG with a message (it quotes the input as it
 *     is: config values cannot hold a newline).
 */
#include <stdbool.h>
#include <time.h>

#include "core/cron.h"
#include "tests/fuzz/fuzz.h"

static bool matches(const struct schedule_spec *s, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	bool dom = s->dom & (1u << tm.tm_mday), dow = s->dow & (1u << tm.tm_wday);
	bool day = s->dom_star && s->dow_star ? true : s->dom_star ? dow : s->dow_star ? dom
												  : dom || dow;
	return (s->minute & (1ULL << tm.tm_min)) && (s->hour & (1u << tm.tm_hour)) &&
	       (s->month & (1u << (tm.tm_mon + 1))) && day;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct schedule_spec s;
	struct acme_err err;

	if (size < 5)
		return 0;
	bool interval = data[0] & 1;
	/* 1970 .. about 2106, in seconds */
	time_t after = (time_t)((uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
				(uint32_t)data[3] << 8 | data[4]);
	char *expr = fuzz_str(data + 5, size - 5);

	if (interval) {
		if (interval_parse(expr, &s, &err) < 0) {
			CHECK(err.code == ACME_E_CONFIG && err.msg[0]);
		} else {
			CHECK(s.is_interval);
			CHECK(s.interval_ms >= 1000 && s.interval_ms <= 366LL * 86400 * 1000);
			long long step = s.interval_ms / 1000;
			time_t next = schedule_next(&s, after);
			CHECK(next > after && next - after <= step && next % step == 0);
		}
		free(expr);
		return 0;
	}
	if (cron_parse(expr, &s, &err) < 0) {
		CHECK(err.code == ACME_E_CONFIG && err.msg[0]);
		free(expr);
		return 0;
	}
	CHECK(!s.is_interval);
	CHECK(s.minute != 0 && (s.minute >> 60) == 0);
	CHECK(s.hour != 0 && (s.hour >> 24) == 0);
	CHECK(s.dom != 0 && (s.dom & 1) == 0);
	CHECK(s.month != 0 && (s.month & 1) == 0 && (s.month >> 13) == 0);
	CHECK(s.dow != 0 && (s.dow >> 7) == 0);
	time_t next = schedule_next(&s, after);
	if (next != -1) {
		CHECK(next > after && next % 60 == 0);
		CHECK(matches(&s, next));
		if (next - after <= 2 * 86400)
			for (time_t t = (after / 60 + 1) * 60; t < next; t += 60)
				CHECK(!matches(&s, t));
	}
	free(expr);
	return 0;
}
