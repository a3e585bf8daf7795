/* failpoint.c — named failpoints for fault tests; see failpoint.h.
 *
 * The parsed spec is a small table indexed by point. Hit counters are in an
 * anonymous shared mapping made at setup, so a budget such as "1*exit" is
 * spent once across a worker's supervisor and every child it forks later;
 * they are bumped with atomic adds because children run at once.
 *
 * pause uses SIGCONT because a test can send it with plain `kill -CONT PID`
 * and because it is harmless to a process that is not paused. The handler
 * only sets a flag; the point waits in sigsuspend() with SIGCONT unblocked,
 * so a SIGCONT that arrives between the announcement and the wait is not
 * lost (it stays blocked, hence pending, until sigsuspend).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/failpoint.h"

volatile int failpoints_armed;

enum fp_action { FPA_OFF, FPA_EXIT, FPA_ERROR, FPA_SLEEP, FPA_PAUSE };

struct fp_rule {
	enum fp_action action;
	long sleep_ms;
	long budget;          /* 0 = every hit acts */
};

static struct fp_rule rules[FP__COUNT];
static long *hits;        /* FP__COUNT counters in shared memory */

static const char *const names[] = {
#define X(c, s, w) s,
	FAILPOINT_NAMES(X)
#undef X
};
static const char *const wheres[] = {
#define X(c, s, w) w,
	FAILPOINT_NAMES(X)
#undef X
};

const char *failpoint_name(enum failpoint fp)
{
	return (unsigned)fp < FP__COUNT ? names[fp] : NULL;
}

const char *failpoint_where(enum failpoint fp)
{
	return (unsigned)fp < FP__COUNT ? wheres[fp] : NULL;
}

static void known_names(char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (int i = 0; i < FP__COUNT && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", names[i]);
}

/* One NAME=ACTION item (nul-terminated, modified). */
static int parse_item(char *item, struct acme_err *err)
{
	char *eq = strchr(item, '=');
	if (!eq || eq == item)
		return acme_err_set(err, ACME_E_CONFIG, "ACME_FAILPOINTS: \"%s\" is not NAME=ACTION",
				    item);
	*eq = '\0';
	const char *name = item, *action = eq + 1;
	int fp = -1;
	for (int i = 0; i < FP__COUNT; i++)
		if (strcmp(names[i], name) == 0)
			fp = i;
	if (fp < 0) {
		char known[512];
		known_names(known, sizeof(known));
		return acme_err_set(err, ACME_E_CONFIG, "ACME_FAILPOINTS: unknown failpoint \"%s\" "
				    "(known: %s)", name, known);
	}
	struct fp_rule r = { 0 };
	const char *star = strchr(action, '*');
	if (star) {
		char *end;
		errno = 0;
		long n = strtol(action, &end, 10);
		if (end != star || end == action || errno || n < 1)
			return acme_err_set(err, ACME_E_CONFIG, "ACME_FAILPOINTS: %s: \"%s\" must be "
					    "N*ACTION with N a whole number of 1 or more", name, action);
		r.budget = n;
		action = star + 1;
	}
	if (strcmp(action, "exit") == 0) {
		r.action = FPA_EXIT;
	} else if (strcmp(action, "error") == 0) {
		r.action = FPA_ERROR;
	} else if (strcmp(action, "pause") == 0) {
		r.action = FPA_PAUSE;
	} else if (strcmp(action, "off") == 0) {
		r.action = FPA_OFF;
	} else if (strncmp(action, "sleep:", 6) == 0) {
		char *end;
		errno = 0;
		long ms = strtol(action + 6, &end, 10);
		if (end == action + 6 || *end || errno || ms < 0 || ms > 3600000)
			return acme_err_set(err, ACME_E_CONFIG, "ACME_FAILPOINTS: %s: \"%s\" must be "
					    "sleep:MS with MS from 0 to 3600000", name, action);
		r.action = FPA_SLEEP;
		r.sleep_ms = ms;
	} else {
		return acme_err_set(err, ACME_E_CONFIG, "ACME_FAILPOINTS: %s: unknown action \"%s\" "
				    "(known: exit, error, sleep:MS, pause, off, N*ACTION)", name, action);
	}
	rules[fp] = r;
	return 0;
}

int failpoint_setup(const char *spec, bool production, struct acme_err *err)
{
	if (!spec || !spec[0])
		return 0;
	if (production)
		return acme_err_set(err, ACME_E_CONFIG, "ACME_FAILPOINTS is set, but failpoints are "
				    "for tests and refused when ACME_ENV is production; unset it");
	char *copy = strdup(spec), *save = NULL;
	if (!copy)
		abort();
	int rc = 0;
	memset(rules, 0, sizeof(rules));
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (parse_item(item, err) < 0) {
			rc = -1;
			break;
		}
	}
	free(copy);
	if (rc < 0)
		return -1;
	if (!hits) {
		void *m = mmap(NULL, FP__COUNT * sizeof(long), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return acme_err_set(err, ACME_E_FAILURE, "failpoints: cannot map counters: %s",
					    strerror(errno));
		hits = m;
	}
	failpoints_armed = 1;
	return 0;
}

static volatile sig_atomic_t continued;

static void on_cont(int sig)
{
	(void)sig;
	continued = 1;
}

static void pause_here(enum failpoint fp)
{
	struct sigaction sa, old;
	sigset_t block, prev;

	sigemptyset(&block);
	sigaddset(&block, SIGCONT);
	sigprocmask(SIG_BLOCK, &block, &prev);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_cont;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCONT, &sa, &old);
	continued = 0;

	char line[160];
	int n = snprintf(line, sizeof(line), "failpoint %s reached (pid %ld)\n", names[fp],
			 (long)getpid());
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nothing to do: the test times out and says so */
	}
	sigset_t wait_mask = prev;
	sigdelset(&wait_mask, SIGCONT);
	while (!continued)
		sigsuspend(&wait_mask);
	sigaction(SIGCONT, &old, NULL);
	sigprocmask(SIG_SETMASK, &prev, NULL);
}

int failpoint_eval(enum failpoint fp, struct acme_err *err)
{
	if ((unsigned)fp >= FP__COUNT)
		return 0;
	const struct fp_rule *r = &rules[fp];
	if (r->action == FPA_OFF)
		return 0;
	long hit = __atomic_add_fetch(&hits[fp], 1, __ATOMIC_SEQ_CST);
	if (r->budget > 0 && hit > r->budget)
		return 0;
	switch (r->action) {
	case FPA_EXIT:
		_exit(137);
	case FPA_ERROR:
		return acme_err_set(err, ACME_E_FAILURE, "failpoint %s: injected error", names[fp]);
	case FPA_SLEEP: {
		struct timespec ts = { r->sleep_ms / 1000, (r->sleep_ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return 0;
	}
	case FPA_PAUSE:
		pause_here(fp);
		return 0;
	case FPA_OFF:
		break;
	}
	return 0;
}
