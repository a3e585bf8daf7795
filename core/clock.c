/* clock.c — monotonic and wall-clock milliseconds, sleeping, and the one
 * text form of a time. */
#include <string.h>
#include <stdlib.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "core/clock.h"

long long clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_sleep_ms(long long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void clock_format_ms(long long ms, char *buf, size_t len)
{
	struct tm tm;
	time_t s = (time_t)(ms / 1000);
	if (len)
		buf[0] = '\0';
	if (ms <= 0 || !gmtime_r(&s, &tm))
		return;
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n)
		snprintf(buf + n, len - n, ".%03lldZ", ms % 1000);
}

/* The one duration grammar (options, the [webhooks] settings, schedule
 * intervals): digits, optionally a point and more digits, optionally a unit.
 * Parsed by hand, not by strtod(), which would also take blanks, signs,
 * exponents, hexadecimal, "inf" and "nan" and read the point by the locale
 * (found by tests/fuzz/fuzz_duration.c). */
int parse_duration_ms(const char *s, long long *out)
{
	double v = 0, scale = 1;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p))
		v = v * 10 + (*p++ - '0');
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			scale /= 10;
			v += (*p++ - '0') * scale;
		}
	}
	double mult;
	if (!*p || strcmp(p, "s") == 0)
		mult = 1000;
	else if (strcmp(p, "ms") == 0)
		mult = 1;
	else if (strcmp(p, "m") == 0)
		mult = 60e3;
	else if (strcmp(p, "h") == 0)
		mult = 3600e3;
	else if (strcmp(p, "d") == 0)
		mult = 86400e3;
	else
		return -1;
	double ms = v * mult;
	if (!(ms <= 9.0e15))
		return -1;
	*out = (long long)(ms + 0.5);
	return 0;
}
