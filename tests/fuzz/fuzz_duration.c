/* fuzz_duration.c — libFuzzer target for durations: parse_duration_ms()
 * (core/clock.h: command-line options such as --timeout, ACME_* variables),
 * webhook_parse_duration() (core/webhook.h: [webhooks] timeout and retry
 * delays) and interval_parse() (core/cron.h: "every" of a schedule).
 *
 * The three document one grammar: a decimal number with an optional unit,
 * ms, s, m, h or d, a bare number being seconds ("250ms", "1.5s", "2h"). A
 * reference parser of exactly that grammar decides; each parser must accept
 * what it accepts (within its own range) with the same value, to the
 * millisecond, and refuse everything else: no signs, blanks, exponents,
 * hexadecimal, "inf" or "nan" (what strtod() alone would let through).
 */
#include <ctype.h>
#include <math.h>
#include <stdbool.h>

#include "core/clock.h"
#include "core/cron.h"
#include "core/webhook.h"
#include "tests/fuzz/fuzz.h"

/* 0 with *ms (rounded to the nearest millisecond), or -1. */
static int ref_parse(const char *s, double *ms)
{
	const char *p = s;
	double v = 0, scale = 1;
	bool digits = false;
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (*p++ - '0');
		digits = true;
	}
	if (!digits)
		return -1;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			scale /= 10;
			v += (*p++ - '0') * scale;
		}
	}
	double mult = !*p || !strcmp(p, "s") ? 1e3 : !strcmp(p, "ms") ? 1 : !strcmp(p, "m") ? 60e3
		      : !strcmp(p, "h") ? 3600e3 : !strcmp(p, "d") ? 86400e3 : -1;
	if (mult < 0)
		return -1;
	*ms = v * mult;
	return 0;
}

/* Same value up to the rounding of a decimal fraction. */
static bool near(long long got, double want)
{
	return fabs((double)got - want) <= 1.0 + want * 1e-12;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct schedule_spec spec;
	struct acme_err err;
	long long ms;
	double want;

	char *s = fuzz_str(data, size);
	int ref = ref_parse(s, &want);

	if (parse_duration_ms(s, &ms) == 0) {
		CHECK(ref == 0);
		CHECK(ms >= 0 && near(ms, want));
	} else {
		CHECK(ref < 0 || want > 9.0e15);
	}
	if (webhook_parse_duration(s, &ms) == 0) {
		CHECK(ref == 0);
		CHECK(ms >= 0 && near(ms, want));
	} else {
		CHECK(ref < 0 || want > 1e15);
	}
	if (interval_parse(s, &spec, &err) == 0) {
		CHECK(ref == 0);
		CHECK(spec.is_interval && near(spec.interval_ms, want));
		CHECK(spec.interval_ms >= 1000 && spec.interval_ms <= 366LL * 86400 * 1000);
	} else {
		CHECK(err.code == ACME_E_CONFIG);
		CHECK(ref < 0 || want < 999.5 || want > 366 * 86400e3);
	}
	free(s);
	return 0;
}
