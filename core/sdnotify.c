/* sdnotify.c — sd_notify for the worker (see sdnotify.h), on libsystemd. */
#include <stdarg.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "core/sdnotify.h"

static long long watchdog_half_ms;   /* 0: no watchdog */
static long long last_ping_ms;
static bool ready_sent;

void sdn_init(void)
{
	uint64_t usec = 0;
	/* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID is ours (or unset) */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
		watchdog_half_ms = (long long)(usec / 2000);
	if (watchdog_half_ms <= 0 && usec > 0)
		watchdog_half_ms = 1;
}

void sdn_ready(const char *status)
{
	if (ready_sent)
		return;
	ready_sent = true;
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void sdn_status(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", buf);
}

void sdn_watchdog(long long now_mono_ms)
{
	if (watchdog_half_ms <= 0 || now_mono_ms - last_ping_ms < watchdog_half_ms)
		return;
	last_ping_ms = now_mono_ms;
	sd_notify(0, "WATCHDOG=1");
}

void sdn_stopping(const char *status)
{
	sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status);
}
