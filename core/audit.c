/* audit.c — the audit log and the identity of whoever runs acmectl. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int audit_add_as(PGconn *db, const char *user_at_host, const char *environment,
		 const char *command, const char *target, const char *details,
		 struct acme_err *err)
{
	const char *by = user_at_host && *user_at_host ? user_at_host : "unknown";
	const char *at = strrchr(by, '@');
	char *u = at ? xstrndup(by, (size_t)(at - by)) : xstrdup(by);
	const char *params[6] = { u, at && at[1] ? at + 1 : "unknown", environment, command, target,
				  details ? details : "{}" };
	int rc = db_cmd(db, err, "INSERT INTO audit_log (os_user, host, environment, command, target, "
			"details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)", 6, params);
	free(u);
	return rc < 0 ? acme_err_prefix(err, "audit log") : 0;
}

/* --actor: the user, or user@host (split at the last '@'); --action: the
 * command exactly, or every verb of it ("jobs" is "jobs cancel" and the
 * rest), never part of a word. */
int audit_list(PGconn *db, const struct audit_filter *f, struct audit_page *page,
	       struct acme_err *err)
{
	char since[32], lim[32];
	char *user = NULL;
	const char *host = NULL;
	snprintf(since, sizeof(since), "%lld", f->since_ms);
	snprintf(lim, sizeof(lim), "%ld", f->limit);
	if (f->actor) {
		const char *at = strrchr(f->actor, '@');
		user = at ? xstrndup(f->actor, (size_t)(at - f->actor)) : xstrdup(f->actor);
		host = at ? at + 1 : NULL;
	}
	/* --after: "<at in µs since the epoch>.<id>" of the last row shown */
	char after_us[32] = "", after_id[32] = "";
	if (f->after) {
		long long us, id;
		char tail;
		if (sscanf(f->after, "%lld.%lld%c", &us, &id, &tail) != 2 || us < 0 || id < 1) {
			free(user);
			return acme_err_set(err, ACME_E_USAGE, "--after \"%s\" is not a cursor of "
					    "acmectl audit (use page.next_cursor of the previous "
					    "page)", f->after);
		}
		snprintf(after_us, sizeof(after_us), "%lld", us);
		snprintf(after_id, sizeof(after_id), "%lld", id);
	}
	const char *params[7] = { since, lim, user, host, f->action, f->after ? after_us : NULL,
				  f->after ? after_id : NULL };
	PGresult *res = db_exec(db, err, "SELECT id::text, " CLOCK_SQL_TEXT("at") ", os_user, host, environment, command, "
				"target, details::text, "
				"(extract(epoch FROM at) * 1000000)::bigint || '.' || id "
				"FROM audit_log WHERE ($1::bigint <= 0 OR "
				"at >= now() - $1::bigint * interval '1 millisecond') "
				"AND ($3::text IS NULL OR os_user = $3) "
				"AND ($4::text IS NULL OR host = $4) "
				"AND ($5::text IS NULL OR command = $5 OR "
				"left(command, length($5) + 1) = $5 || ' ') "
				"AND ($6::bigint IS NULL OR (at, id) < (timestamptz 'epoch' + "
				"$6::bigint * interval '1 microsecond', $7::bigint)) "
				"ORDER BY at DESC, id DESC LIMIT $2::bigint", 7, params);
	free(user);
	page->v = NULL;
	page->n = 0;
	if (!res)
		return acme_err_prefix(err, "audit log");
	page->n = (size_t)PQntuples(res);
	page->v = xcalloc(page->n ? page->n : 1, sizeof(*page->v));
	for (size_t r = 0; r < page->n; r++) {
		char **col[9] = { &page->v[r].id, &page->v[r].at, &page->v[r].os_user,
				  &page->v[r].host, &page->v[r].environment, &page->v[r].command,
				  &page->v[r].target, &page->v[r].details, &page->v[r].cursor };
		for (int c = 0; c < 9; c++)
			*col[c] = PQgetisnull(res, (int)r, c) ? NULL : xstrdup(PQgetvalue(res, (int)r, c));
	}
	PQclear(res);
	return 0;
}

void audit_page_release(struct audit_page *page)
{
	for (size_t r = 0; r < page->n; r++) {
		struct audit_entry *e = &page->v[r];
		free(e->id), free(e->at), free(e->os_user), free(e->host), free(e->environment);
		free(e->command), free(e->target), free(e->details), free(e->cursor);
	}
	free(page->v);
	page->v = NULL;
	page->n = 0;
}
