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

/* Insert one row. details: a JSON object as text, or NULL for {}. Call it
 * inside the transaction of the change so both commit or neither does. */
int audit_add(PGconn *db, const char *environment, const char *command, const char *target,
	      const char *details, struct acme_err *err);

/* The newest rows first: at most limit (> 0) of them, only those younger
 * than since_ms when since_ms > 0. Returns an owned PGresult (PQclear it)
 * with the text columns id, at (ISO 8601 UTC), os_user, host, environment,
 * command, target (may be NULL), details (JSON text); NULL with err set. */
PGresult *audit_list(PGconn *db, long long since_ms, long limit, struct acme_err *err);

#endif
