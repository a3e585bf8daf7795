/* clock.h — time helpers shared by everything that waits or measures. */
#ifndef ACME_CLOCK_H
#define ACME_CLOCK_H
#include <stddef.h>

/* Milliseconds on the monotonic clock (for deadlines and durations). */
long long clock_mono_ms(void);
/* Milliseconds since the epoch (for timestamps other hosts compare). */
long long clock_wall_ms(void);
/* Sleep ms milliseconds, resuming after signal interruptions. */
void clock_sleep_ms(long long ms);


/* Every time acmectl prints, in JSON and in tables, is RFC 3339 UTC with
 * milliseconds: 2026-12-02T15:04:05.123Z (the contract in acmectl(1)).
 * clock_format_ms() writes ms since the epoch that way into buf (at least
 * CLOCK_TEXT_SIZE bytes); "" for ms <= 0 (no time). */
#define CLOCK_TEXT_SIZE 32
void clock_format_ms(long long ms, char *buf, size_t len);
/* The same text from SQL, for a timestamptz expression (NULL stays NULL). */
#define CLOCK_SQL_TEXT(col) \
	"to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Parse a duration like 250ms, 1.5s, 5m, 2h, 1d (a bare number is seconds)
 * into milliseconds, rounded to the nearest. Digits, an optional point and
 * decimals, an optional unit: nothing else (no blanks, sign or exponent).
 * At most 9e15 ms. 0 / -1. */
int parse_duration_ms(const char *s, long long *out);

#endif
