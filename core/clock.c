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

int parse_duration_ms(const char *s, long long *out)
{
	char *end;
	errno = 0;
	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	double v = strtod(s, &end);
	if (errno || end == s)
		return -1;
	double mult;
	if (!*end || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60e3;
	else if (strcmp(end, "h") == 0)
		mult = 3600e3;
	else if (strcmp(end, "d") == 0)
		mult = 86400e3;
	else
		return -1;
	double ms = v * mult;
	if (ms > 9.0e15)
		return -1;
	*out = (long long)(ms + 0.5);
	return 0;
}
