/* outbox.c — the transactional outbox and its relay; see outbox.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/outbox.h"

int outbox_add(PGconn *db, const char *event_type, json_t *payload, long long *id,
	       struct acme_err *err)
{
	char *text = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
	const char *params[2] = { event_type, text ? text : "{}" };
	PGresult *res = db_exec(db, err, "INSERT INTO outbox (event_type, payload) "
				"VALUES ($1, $2::jsonb) RETURNING id", 2, params);
	free(text);
	if (!res)
		return acme_err_prefix(err, "outbox: %s", event_type);
	if (id)
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}
