/* cron.c — parse cron expressions and intervals, and find the next tick.
 *
 * Ticks are whole UTC minutes (cron) or multiples of the interval since the
 * epoch, so two schedulers computing the next tick independently agree on its
 * identity; the scheduler uses that time as the tick's name when it claims it.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/cron.h"

struct field {
	const char *name;
	int min, max;
};

static const struct field fields[5] = {
	{ "minute", 0, 59 }, { "hour", 0, 23 }, { "day of month", 1, 31 },
	{ "month", 1, 12 }, { "day of week", 0, 7 },
};

static int parse_num(const char **p, int *out)
{
	if (!isdigit((unsigned char)**p))
		return -1;
	long v = 0;
	while (isdigit((unsigned char)**p)) {
		v = v * 10 + (**p - '0');
		if (v > 1000)
			return -1;
		(*p)++;
	}
	*out = (int)v;
	return 0;
}

/* One field ("*\/5", "1-10/2,30") into a bit set. */
static int parse_field(const char *s, size_t len, const struct field *f, uint64_t *bits,
		       bool *star, const char *expr, struct acme_err *err)
{
	char buf[128];
	if (len == 0 || len >= sizeof(buf))
		return acme_err_set(err, ACME_E_CONFIG, "cron \"%s\": bad %s field", expr, f->name);
	memcpy(buf, s, len);
	buf[len] = '\0';
	*bits = 0;
	*star = strcmp(buf, "*") == 0;
	/* strtok() skips empty items: "," would be a field with no value, a
	 * schedule that never runs (found by tests/fuzz/fuzz_cron.c) */
	if (buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,"))
		goto bad;
	for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
		const char *p = item;
		int lo, hi, step = 1;
		if (*p == '*') {
			lo = f->min;
			hi = f->max;
			p++;
		} else {
			if (parse_num(&p, &lo) < 0)
				goto bad;
			hi = lo;
			if (*p == '-') {
				p++;
				if (parse_num(&p, &hi) < 0)
					goto bad;
			}
		}
		if (*p == '/') {
			p++;
			if (parse_num(&p, &step) < 0 || step < 1)
				goto bad;
			if (hi == lo && item[0] != '*')
				hi = f->max;      /* "5/15" = from 5 to the end */
		}
		if (*p || lo < f->min || hi > f->max || lo > hi)
			goto bad;
		for (int v = lo; v <= hi; v += step)
			*bits |= 1ULL << v;
	}
	return 0;
bad:
	return acme_err_set(err, ACME_E_CONFIG, "cron \"%s\": bad %s field \"%.*s\" (allowed %d-%d)",
			    expr, f->name, (int)len, s, f->min, f->max);
}

int cron_parse(const char *expr, struct schedule_spec *out, struct acme_err *err)
{
	static const struct { const char *name, *expr; } shortcuts[] = {
		{ "@hourly", "0 * * * *" }, { "@daily", "0 0 * * *" },
		{ "@weekly", "0 0 * * 0" }, { "@monthly", "0 0 1 * *" },
	};
	const char *src = expr;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(shortcuts) / sizeof(shortcuts[0]); i++)
		if (strcmp(expr, shortcuts[i].name) == 0)
			src = shortcuts[i].expr;

	const char *p = src;
	uint64_t bits[5];
	bool star[5];
	for (int i = 0; i < 5; i++) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, " \t");
		if (len == 0)
			return acme_err_set(err, ACME_E_CONFIG, "cron \"%s\": expected 5 fields "
					    "(minute hour day-of-month month day-of-week)", expr);
		if (parse_field(p, len, &fields[i], &bits[i], &star[i], expr, err) < 0)
			return -1;
		p += len;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p)
		return acme_err_set(err, ACME_E_CONFIG, "cron \"%s\": more than 5 fields", expr);
	if (bits[4] & (1ULL << 7))
		bits[4] |= 1;       /* 7 is Sunday too */
	out->minute = bits[0];
	out->hour = (uint32_t)bits[1];
	out->dom = (uint32_t)bits[2];
	out->month = (uint16_t)bits[3];
	out->dow = (uint8_t)(bits[4] & 0x7f);
	out->dom_star = star[2];
	out->dow_star = star[4];
	return 0;
}

int interval_parse(const char *s, struct schedule_spec *out, struct acme_err *err)
{
	long long ms;
	memset(out, 0, sizeof(*out));
	/* the grammar of parse_duration_ms(): strtod() took " 10m", "1e3", "nan" */
	if (parse_duration_ms(s, &ms) < 0 || ms < 1000 || ms > 366LL * 86400 * 1000)
		return acme_err_set(err, ACME_E_CONFIG, "interval \"%s\": expected a duration from 1s "
				    "to 366d such as 30s, 10m, 2h, 1d", s);
	out->is_interval = true;
	out->interval_ms = ms;
	return 0;
}

static bool day_matches(const struct schedule_spec *s, const struct tm *tm)
{
	bool dom = s->dom & (1u << tm->tm_mday);
	bool dow = s->dow & (1u << tm->tm_wday);
	if (s->dom_star && s->dow_star)
		return true;
	if (s->dom_star)
		return dow;
	if (s->dow_star)
		return dom;
	return dom || dow;
}

time_t schedule_next(const struct schedule_spec *s, time_t after)
{
	if (s->is_interval) {
		long long step = s->interval_ms / 1000;
		if (step < 1)
			step = 1;
		return (time_t)((after / step + 1) * step);
	}
	time_t t = (after / 60 + 1) * 60;
	time_t limit = after + 5LL * 366 * 86400;
	struct tm tm;
	while (t <= limit) {
		gmtime_r(&t, &tm);
		if (!(s->month & (1u << (tm.tm_mon + 1)))) {
			/* jump to the first day of the next month */
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
			t = timegm(&tm);
			continue;
		}
		if (!day_matches(s, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
			t = timegm(&tm);
			continue;
		}
		if (!(s->hour & (1u << tm.tm_hour))) {
			tm.tm_hour++;
			tm.tm_min = tm.tm_sec = 0;
			t = timegm(&tm);
			continue;
		}
		if (!(s->minute & (1ULL << tm.tm_min))) {
			t += 60;
			continue;
		}
		return t;
	}
	return -1;
}
