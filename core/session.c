/* session.c — configuration plus lazily opened connections (see session.h). */
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/devstack.h"
#include "core/migrate.h"
#include "core/rds.h"
#include "core/session.h"

void session_init(struct session *s)
{
	memset(s, 0, sizeof(*s));
}

int session_load(struct session *s, const struct config_flags *flags, bool validate,
		 struct acme_err *err)
{
	if (config_load(&s->cfg, flags, err) < 0)
		return -1;
	s->cfg_loaded = true;
	if (validate && config_validate(&s->cfg, err) < 0)
		return -1;
	return 0;
}

int session_devstack_up(struct session *s, bool *started, int *current, size_t *applied,
			struct acme_err *err)
{
	struct devstack ds;
	if (devstack_init(&ds, config_get(&s->cfg, CFG_DEV_DIR), err) < 0)
		return -1;
	int rc = devstack_up(&ds, started, err);
	if (rc == 0) {
		char *url = devstack_database_url(&ds);
		PGconn *db = db_connect_url(url, 10, "acmectl dev", err);
		rc = db ? migrate_to_head(db, &s->cfg, applied, current, err) : -1;
		if (db)
			PQfinish(db);
		free(url);
	}
	devstack_release(&ds);
	return rc;
}

/* In development, start the dev stack when it is not running. */
static int ensure_devstack(struct session *s, struct acme_err *err)
{
	struct devstack ds;
	struct devstack_status st;
	bool started = false;
	size_t applied = 0;
	int current = 0;
	if (!config_uses_devstack(&s->cfg))
		return 0;
	if (devstack_init(&ds, config_get(&s->cfg, CFG_DEV_DIR), err) < 0)
		return -1;
	bool ready = devstack_status(&ds, &st, err) == 0 && st.pg_ready && st.redis_ready;
	devstack_release(&ds);
	if (ready)
		return 0;
	if (s->on_devstack)
		s->on_devstack(s->on_devstack_arg, config_get(&s->cfg, CFG_DEV_DIR));
	return session_devstack_up(s, &started, &current, &applied, err);
}

PGconn *session_db(struct session *s, struct acme_err *err)
{
	if (s->db)
		return s->db;
	if (ensure_devstack(s, err) < 0)
		return NULL;
	s->db = db_connect(&s->cfg, err);
	return s->db;
}

redisContext *session_redis(struct session *s, struct acme_err *err)
{
	if (s->redis)
		return s->redis;
	if (ensure_devstack(s, err) < 0)
		return NULL;
	s->redis = rds_connect(&s->cfg, 0, err);
	return s->redis;
}

void session_drop_db(struct session *s)
{
	if (s->db)
		PQfinish(s->db);
	s->db = NULL;
}

void session_drop_redis(struct session *s)
{
	if (s->redis)
		redisFree(s->redis);
	s->redis = NULL;
}

void session_release(struct session *s)
{
	session_drop_db(s);
	session_drop_redis(s);
	if (s->cfg_loaded)
		config_release(&s->cfg);
	s->cfg_loaded = false;
}
