/* audit.h — who did what: the audit_log table (OS user, host, environment,
 * command, target, details) for every destructive or configuration-changing
 * command, written inside the same transaction as the change. */
#ifndef ACME_AUDIT_H
#define ACME_AUDIT_H
#include <libpq-fe.h>
#include "core/err.h"

/* The OS user of this process, the host name, and "user@host". Caller frees. */
char *acme_os_user(void);
char *acme_host_name(void);
char *acme_whoami(void);

/* Who runs a command that changes something, for its audit row: the
 * environment and the command's words ("jobs cancel"). The OS user and host
 * are those of this process. Core verbs that take one write no row when it
 * is NULL. */
struct audit_actor {
	const char *environment;
	const char *command;
};

/* Insert one row. details: a JSON object as text, or NULL for {}. Call it
 * inside the transaction of the change so both commit or neither does. */
int audit_add(PGconn *db, const char *environment, const char *command, const char *target,
	      const char *details, struct acme_err *err);
/* The same for a change someone else asked for: a job's effect is audited
 * under whoever queued it ("user@host" as in jobs.created_by; a value
 * without '@' is the user, host "unknown"), not the worker's user. */
int audit_add_as(PGconn *db, const char *user_at_host, const char *environment,
		 const char *command, const char *target, const char *details,
		 struct acme_err *err);

/* What `acmectl audit` asks for; 0 / NULL fields do not filter. */
struct audit_filter {
	long long since_ms;      /* only rows younger than this */
	const char *actor;       /* "user" (os_user) or "user@host" (both) */
	const char *action;      /* a command ("jobs": every jobs verb) or "command verb" */
	long limit;              /* > 0 */
	const char *after;       /* a cursor: column 8 of the last row of the previous page */
};

/* One row of the audit log, as text. target may be NULL. cursor names this
 * row for the next page (--after). */
struct audit_entry {
	char *id, *at, *os_user, *host, *environment, *command, *target, *details, *cursor;
};
struct audit_page {
	struct audit_entry *v;
	size_t n;
};

/* The newest rows first, as the filter says, at most f->limit: at is ISO
 * 8601 UTC, details JSON text. Ask for limit + 1 rows to learn whether a
 * next page exists. 0 with *page filled (release it), or -1 with err set
 * (ACME_E_USAGE for a malformed cursor). */
int audit_list(PGconn *db, const struct audit_filter *f, struct audit_page *page,
	       struct acme_err *err);
void audit_page_release(struct audit_page *page);

#endif
