/* audit.c — the audit log and the identity of whoever runs acmectl. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/audit.h"
#include "core/db.h"
#include "core/xalloc.h"

char *acme_os_user(void)
{
	struct passwd *pw = getpwuid(geteuid());
	if (pw && pw->pw_name)
		return xstrdup(pw->pw_name);
	return xasprintf("uid%d", (int)geteuid());
}

char *acme_host_name(void)
{
	char h[256];
	if (gethostname(h, sizeof(h)) < 0)
		return xstrdup("unknown-host");
	h[sizeof(h) - 1] = '\0';
	return xstrdup(h);
}

char *acme_whoami(void)
{
	char *u = acme_os_user(), *h = acme_host_name();
	char *s = xasprintf("%s@%s", u, h);
	free(u);
	free(h);
	return s;
}

int audit_add(PGconn *db, const char *environment, const char *command, const char *target,
	      const char *details, struct acme_err *err)
{
	char *u = acme_os_user(), *h = acme_host_name();
	const char *params[6] = { u, h, environment, command, target, details ? details : "{}" };
	int rc = db_cmd(db, err, "INSERT INTO audit_log (os_user, host, environment, command, target, "
			"details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)", 6, params);
	free(u);
	free(h);
	return rc < 0 ? acme_err_prefix(err, "audit log") : 0;
}

PGresult *audit_list(PGconn *db, long long since_ms, long limit, struct acme_err *err)
{
	char since[32], lim[32];
	snprintf(since, sizeof(since), "%lld", since_ms);
	snprintf(lim, sizeof(lim), "%ld", limit);
	const char *params[2] = { since, lim };
	PGresult *res = db_exec(db, err, "SELECT id::text, " CLOCK_SQL_TEXT("at") ", os_user, host, environment, command, "
				"target, details::text FROM audit_log WHERE $1::bigint <= 0 OR "
				"at >= now() - $1::bigint * interval '1 millisecond' "
				"ORDER BY at DESC, id DESC LIMIT $2::bigint", 2, params);
	if (!res)
		acme_err_prefix(err, "audit log");
	return res;
}
