/* sdnotify.h — the worker's service manager protocol (systemd's sd_notify):
 * READY=1 once it serves, WATCHDOG=1 from its loop when the unit asks for a
 * watchdog, STOPPING=1 when a stop begins, STATUS= lines for systemctl
 * status. Without NOTIFY_SOCKET (a terminal, Kubernetes) every call is a
 * no-op. Only the supervisor calls these; its forked children never do. */
#ifndef ACME_SDNOTIFY_H
#define ACME_SDNOTIFY_H

#include <stdbool.h>

/* Read the watchdog interval (WATCHDOG_USEC, for this pid); call once. */
void sdn_init(void);
/* READY=1 with a status line; only the first call sends READY. */
void sdn_ready(const char *status);
/* STATUS= only (waiting for a server, draining). */
void sdn_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* WATCHDOG=1 when half the interval has passed since the last one. */
void sdn_watchdog(long long now_mono_ms);
/* STOPPING=1 with a status line. */
void sdn_stopping(const char *status);

#endif
