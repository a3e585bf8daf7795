/* clock.h — time helpers shared by everything that waits or measures. */
#ifndef ACME_CLOCK_H
#define ACME_CLOCK_H

/* Milliseconds on the monotonic clock (for deadlines and durations). */
long long clock_mono_ms(void);
/* Milliseconds since the epoch (for timestamps other hosts compare). */
long long clock_wall_ms(void);
/* Sleep ms milliseconds, resuming after signal interruptions. */
void clock_sleep_ms(long long ms);

#endif
