/* cron.h — schedules for the scheduler: five-field cron expressions
 * ("*\/5 * * * *") and fixed intervals ("10m"), evaluated in UTC.
 *
 * Fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week
 * 0-7 (0 and 7 are Sunday). Each field takes "*", a number, a range "a-b", a
 * step "*\/n" or "a-b/n", and comma-separated lists of those. As in Vixie
 * cron, when both day of month and day of week are restricted, a day matching
 * either runs. Names (JAN, MON) and @-shortcuts other than @hourly, @daily,
 * @weekly, @monthly are not supported.
 */
#ifndef ACME_CRON_H
#define ACME_CRON_H
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "core/err.h"

struct schedule_spec {
	bool is_interval;
	long long interval_ms;   /* is_interval */
	uint64_t minute;         /* bit sets */
	uint32_t hour, dom;
	uint16_t month;
	uint8_t dow;
	bool dom_star, dow_star;
};

int cron_parse(const char *expr, struct schedule_spec *out, struct acme_err *err);
int interval_parse(const char *s, struct schedule_spec *out, struct acme_err *err);
/* The first run time strictly after `after` (seconds since the epoch, UTC).
 * For intervals, ticks are aligned to the epoch so every scheduler agrees on
 * them. Returns -1 if none within five years (e.g. "0 0 31 2 *"). */
time_t schedule_next(const struct schedule_spec *s, time_t after);

#endif
