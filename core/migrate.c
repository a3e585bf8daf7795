/* migrate.c — applying and reverting migrations against PostgreSQL; see
 * migrate.h for the model and migrate_parse.c for the files.
 *
 * The order of a run is what makes it safe to start many at once:
 *
 *   1. read the history without a lock; if there is nothing to do, say so and
 *      never touch the lock (the common case of every replica at every start);
 *   2. take the session advisory lock by polling pg_try_advisory_lock() in
 *      autocommit mode: never a blocking lock, and never inside a transaction,
 *      so a CREATE INDEX CONCURRENTLY of ours cannot wait on ourselves;
 *   3. create the history table if needed and read the history again: a
 *      replica that lost the race now finds nothing to do;
 *   4. refuse (ACME_E_DATA) on versions we do not know, out-of-order pending
 *      versions, checksum drift, and failed no-transaction migrations;
 *   5. run each migration: BEGIN, its statements one by one, its history row,
 *      COMMIT. Statements run one at a time so a failure names the statement
 *      and its line; while one waits, a second connection watches pg_locks so
 *      a lock_timeout can say which lock it waited for and who held it.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/call.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/log.h"
#include "core/audit.h"
#include "core/migrate.h"
#include "core/strbuf.h"
#include "core/version.h"
#include "core/xalloc.h"

#define WATCH_AFTER_MS   150   /* a statement running this long gets its locks watched */
#define WATCH_EVERY_MS   200
#define STMT_EXCERPT     160   /* characters of a statement quoted in messages */

static const char *const state_names[] = { "pending", "applied", "baseline", "running", "failed" };

const char *migrate_state_name(enum migrate_state s)
{
	return state_names[s];
}

static int state_parse(const char *s)
{
	for (int i = MIG_APPLIED; i <= MIG_FAILED; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

char *migrate_whoami(void)
{
	return acme_whoami();
}

static char *tool_version(void)
{
	return xasprintf("acmectl %s (%s)", acme_version(), acme_git_rev());
}

/* Statements as messages quote them: whitespace collapsed, cut to a length. */
static char *excerpt(const char *s, size_t len)
{
	struct strbuf sb = STRBUF_INIT;
	bool space = false;
	for (size_t i = 0; i < len && sb.len < STMT_EXCERPT; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = true;
			continue;
		}
		if (space && sb.len)
			strbuf_addch(&sb, ' ');
		space = false;
		strbuf_addch(&sb, (char)c);
	}
	if (sb.len >= STMT_EXCERPT)
		strbuf_adds(&sb, "...");
	return strbuf_detach(&sb, NULL);
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	log_debug("postgresql: %.*s", (int)strcspn(message, "\n"), message);
}

static void emit(struct migrate *mg, enum migrate_event_type type, const struct migration *m,
		 bool down, long long ms, const char *holder)
{
	if (!mg->on_event)
		return;
	struct migrate_event ev = { type, m, down, ms, holder };
	mg->on_event(mg->event_arg, &ev);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

int migrate_init(struct migrate *mg, PGconn *db, const struct config *cfg, const char *command,
		 struct acme_err *err)
{
	memset(mg, 0, sizeof(*mg));
	mg->db = db;
	mg->lock_timeout_ms = MIGRATE_DEFAULT_LOCK_TIMEOUT_MS;
	mg->ddl_lock_timeout_ms = MIGRATE_DEFAULT_DDL_LOCK_TIMEOUT_MS;
	mg->environment = xstrdup(cfg && config_get(cfg, CFG_ENV) ? config_get(cfg, CFG_ENV) : "unknown");
	mg->command = xstrdup(command ? command : "migrate");
	if (cfg ? migration_set_load(&mg->set, cfg, err) : migration_set_load_embedded(&mg->set, err)) {
		free(mg->environment);
		free(mg->command);
		return -1;
	}
	if (db)
		PQsetNoticeProcessor(db, quiet_notices, NULL);
	return 0;
}

static void free_history(struct migrate *mg)
{
	for (size_t i = 0; i < mg->nhist; i++) {
		struct migrate_record *r = &mg->hist[i];
		free(r->name);
		free(r->checksum);
		free(r->applied_at);
		free(r->applied_by);
		free(r->tool_version);
		free(r->error);
	}
	free(mg->hist);
	free(mg->entries);
	mg->hist = NULL;
	mg->entries = NULL;
	mg->nhist = mg->nentries = 0;
}

static void lock_release(struct migrate *mg)
{
	char k1[16], k2[16];
	if (!mg->locked)
		return;
	mg->locked = false;
	if (PQstatus(mg->db) != CONNECTION_OK)
		return;
	if (PQtransactionStatus(mg->db) != PQTRANS_IDLE)
		db_rollback(mg->db);
	snprintf(k1, sizeof(k1), "%d", MIGRATE_LOCK_KEY1);
	snprintf(k2, sizeof(k2), "%d", MIGRATE_LOCK_KEY2);
	const char *p[2] = { k1, k2 };
	struct acme_err ignored;
	db_cmd(mg->db, &ignored, "SELECT pg_advisory_unlock($1::int, $2::int)", 2, p);
}

void migrate_release(struct migrate *mg)
{
	lock_release(mg);
	free_history(mg);
	migration_set_release(&mg->set);
	free(mg->environment);
	free(mg->command);
	memset(mg, 0, sizeof(*mg));
}

void migrate_result_release(struct migrate_result *res)
{
	free(res->plan);
	memset(res, 0, sizeof(*res));
}

/* ---- history --------------------------------------------------------------------------- */

static const char history_ddl[] =
	"CREATE TABLE IF NOT EXISTS " MIGRATE_HISTORY_TABLE " (\n"
	"    version      integer PRIMARY KEY,\n"
	"    name         text NOT NULL,\n"
	"    checksum     text NOT NULL,\n"
	"    state        text NOT NULL DEFAULT 'applied'\n"
	"                 CHECK (state IN ('applied', 'baseline', 'running', 'failed')),\n"
	"    applied_at   timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
	"    execution_ms bigint NOT NULL DEFAULT 0,\n"
	"    applied_by   text NOT NULL,\n"
	"    tool_version text NOT NULL,\n"
	"    error        text\n"
	")";

static char *dup_or_null(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

static int by_entry_version(const void *a, const void *b)
{
	const struct migrate_entry *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

static void build_entries(struct migrate *mg)
{
	int maxrec = 0;
	size_t n = 0;

	mg->entries = xcalloc(mg->set.n + mg->nhist + 1, sizeof(*mg->entries));
	for (size_t i = 0; i < mg->nhist; i++) {
		const struct migrate_record *r = &mg->hist[i];
		const struct migration *f = migration_set_find(&mg->set, r->version);
		if (r->version > maxrec)
			maxrec = r->version;
		mg->entries[n++] = (struct migrate_entry){
			.version = r->version, .file = f, .rec = r, .state = r->state,
			.drift = f && (r->state == MIG_APPLIED || r->state == MIG_BASELINE) &&
				 strcmp(f->checksum, r->checksum) != 0,
		};
	}
	for (size_t i = 0; i < mg->set.n; i++) {
		const struct migration *f = &mg->set.v[i];
		bool recorded = false;
		for (size_t j = 0; j < mg->nhist && !recorded; j++)
			recorded = mg->hist[j].version == f->version;
		if (recorded)
			continue;
		mg->entries[n++] = (struct migrate_entry){
			.version = f->version, .file = f, .state = MIG_PENDING,
			.out_of_order = f->version < maxrec,
		};
	}
	qsort(mg->entries, n, sizeof(*mg->entries), by_entry_version);
	mg->nentries = n;
}

int migrate_read(struct migrate *mg, struct acme_err *err)
{
	PGresult *r = NULL;
	int rc = -1;

	free_history(mg);
	r = db_exec(mg->db, err, "SELECT to_regclass($1) IS NOT NULL", 1,
		    (const char *[]){ MIGRATE_HISTORY_TABLE });
	if (!r)
		goto out;
	mg->history_exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	r = NULL;
	if (mg->history_exists) {
		r = db_exec(mg->db, err,
			    "SELECT version, state, name, checksum, "
			    CLOCK_SQL_TEXT("applied_at") ", "
			    "execution_ms, applied_by, tool_version, error "
			    "FROM " MIGRATE_HISTORY_TABLE " ORDER BY version", 0, NULL);
		if (!r)
			goto out;
		int rows = PQntuples(r);
		mg->hist = xcalloc((size_t)rows + 1, sizeof(*mg->hist));
		for (int i = 0; i < rows; i++) {
			struct migrate_record *h = &mg->hist[mg->nhist++];
			int st = state_parse(PQgetvalue(r, i, 1));
			h->version = atoi(PQgetvalue(r, i, 0));
			h->state = st < 0 ? MIG_FAILED : (enum migrate_state)st;
			h->name = xstrdup(PQgetvalue(r, i, 2));
			h->checksum = xstrdup(PQgetvalue(r, i, 3));
			h->applied_at = dup_or_null(r, i, 4);
			h->execution_ms = atoll(PQgetvalue(r, i, 5));
			h->applied_by = dup_or_null(r, i, 6);
			h->tool_version = dup_or_null(r, i, 7);
			h->error = dup_or_null(r, i, 8);
		}
	}
	build_entries(mg);
	rc = 0;
out:
	if (rc < 0)
		acme_err_prefix(err, "reading the migration history");
	PQclear(r);
	return rc;
}

int migrate_current(const struct migrate *mg)
{
	int cur = 0;
	for (size_t i = 0; i < mg->nentries; i++)
		if ((mg->entries[i].state == MIG_APPLIED || mg->entries[i].state == MIG_BASELINE) &&
		    mg->entries[i].version > cur)
			cur = mg->entries[i].version;
	return cur;
}

size_t migrate_pending(const struct migrate *mg, int to)
{
	size_t n = 0;
	for (size_t i = 0; i < mg->nentries; i++)
		if (mg->entries[i].state == MIG_PENDING && (!to || mg->entries[i].version <= to))
			n++;
	return n;
}

/* ---- safety checks ----------------------------------------------------------------------- */

enum { CHECK_UNKNOWN = 1, CHECK_DRIFT = 2, CHECK_ORDER = 4, CHECK_FAILED = 8,
       CHECK_ALL = 15 };

static void add_label(struct strbuf *sb, int version, const char *name, size_t *count)
{
	if (*count == 8) {
		strbuf_adds(sb, ", ...");
	} else if (*count < 8) {
		strbuf_addf(sb, "%s%04d%s%s", *count ? ", " : "", version, name ? " " : "",
			    name ? name : "");
	}
	(*count)++;
}

/* Problems among entries whose versions are in [lo, hi] (hi 0 = any). */
static int check(const struct migrate *mg, unsigned what, int lo, int hi, struct acme_err *err)
{
	struct strbuf unknown = STRBUF_INIT, drift = STRBUF_INIT, order = STRBUF_INIT,
		      failed = STRBUF_INIT, msg = STRBUF_INIT;
	size_t nu = 0, nd = 0, no = 0, nf = 0;
	int maxrec = 0, first_failed = 0;
	const char *failed_error = NULL;

	for (size_t i = 0; i < mg->nentries; i++) {
		const struct migrate_entry *e = &mg->entries[i];
		if (e->rec && e->version > maxrec)
			maxrec = e->version;
		if (e->version < lo || (hi && e->version > hi))
			continue;
		if ((what & CHECK_UNKNOWN) && e->rec && !e->file)
			add_label(&unknown, e->version, e->rec->name, &nu);
		if ((what & CHECK_DRIFT) && e->drift)
			add_label(&drift, e->version, e->file->name, &nd);
		if ((what & CHECK_ORDER) && e->out_of_order)
			add_label(&order, e->version, e->file->name, &no);
		if ((what & CHECK_FAILED) && (e->state == MIG_FAILED || e->state == MIG_RUNNING)) {
			if (!first_failed) {
				first_failed = e->version;
				failed_error = e->rec->error;
			}
			add_label(&failed, e->version, e->rec->name, &nf);
		}
	}
	if (nf)
		strbuf_addf(&msg, "%s%s %s outside a transaction and may be partly applied%s%s%s; "
			    "repair the database by hand, then run 'acmectl migrate up --retry-failed' "
			    "to run it again, 'acmectl migrate down' to run its down part, or "
			    "'acmectl migrate baseline %d' to record it as done",
			    msg.len ? "; " : "", failed.buf, nf > 1 ? "were interrupted or failed" :
			    "was interrupted or failed", failed_error ? " (" : "",
			    failed_error ? failed_error : "", failed_error ? ")" : "", first_failed);
	if (nu)
		strbuf_addf(&msg, "%sthe database has %s this binary does not know: %s; run the acmectl "
			    "release that applied %s (see 'acmectl migrate status')", msg.len ? "; " : "",
			    nu > 1 ? "migrations" : "a migration", unknown.buf, nu > 1 ? "them" : "it");
	if (nd)
		strbuf_addf(&msg, "%schecksum mismatch for %s: %s edited after %s applied; an applied "
			    "migration must never change: restore the original and put the change in a "
			    "new migration", msg.len ? "; " : "", drift.buf,
			    nd > 1 ? "these files were" : "the file was", nd > 1 ? "they were" : "it was");
	if (no)
		strbuf_addf(&msg, "%s%s %s pending but %04d is already applied; refusing to apply out of "
			    "order: give %s a version above %04d", msg.len ? "; " : "", order.buf,
			    no > 1 ? "are" : "is", maxrec, no > 1 ? "them" : "it", maxrec);
	int rc = 0;
	if (msg.len)
		rc = acme_err_set(err, ACME_E_DATA, "%s", msg.buf);
	strbuf_release(&unknown);
	strbuf_release(&drift);
	strbuf_release(&order);
	strbuf_release(&failed);
	strbuf_release(&msg);
	return rc;
}

int migrate_check(const struct migrate *mg, struct acme_err *err)
{
	return check(mg, CHECK_ALL, 0, 0, err);
}

int migrate_verify(const struct migrate *mg, struct acme_err *err)
{
	return check(mg, CHECK_UNKNOWN | CHECK_DRIFT | CHECK_FAILED, 0, 0, err);
}

/* ---- the advisory lock -------------------------------------------------------------------- */

/* "pid 123 (acmectl migrate root@web1, user acme)" for whoever holds the lock,
 * or NULL. */
static char *lock_holder(PGconn *db)
{
	char k1[16], k2[16];
	struct acme_err ignored;
	char *s = NULL;
	snprintf(k1, sizeof(k1), "%d", MIGRATE_LOCK_KEY1);
	snprintf(k2, sizeof(k2), "%d", MIGRATE_LOCK_KEY2);
	PGresult *r = db_exec(db, &ignored,
		"SELECT l.pid, coalesce(nullif(a.application_name, ''), 'no application name'), "
		"coalesce(a.usename::text, 'unknown user'), coalesce(host(a.client_addr), 'local'), "
		"coalesce(" CLOCK_SQL_TEXT("a.backend_start") ", '?') "
		"FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
		"WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid "
		"AND l.objid = $2::int::oid AND l.objsubid = 2 "
		"AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
		"LIMIT 1", 2, (const char *[]){ k1, k2 });
	if (r && PQntuples(r) == 1)
		s = xasprintf("pid %s (%s, user %s, from %s, connected %s)", PQgetvalue(r, 0, 0),
			      PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
			      PQgetvalue(r, 0, 4));
	PQclear(r);
	return s;
}

static int lock_acquire(struct migrate *mg, struct acme_err *err)
{
	char k1[16], k2[16];
	const char *p[2] = { k1, k2 };
	long long start = clock_mono_ms(), wait = 100;
	bool announced = false;
	char *who = migrate_whoami();
	char *app = xasprintf("acmectl %s %s", mg->command, who);

	free(who);
	if (PQtransactionStatus(mg->db) != PQTRANS_IDLE) {
		free(app);
		return acme_err_set(err, ACME_E_FAILURE, "migrate: the migration lock must be taken "
				    "outside a transaction");
	}
	/* let other sessions see who we are in pg_stat_activity */
	app[63 < strlen(app) ? 63 : strlen(app)] = '\0';
	db_cmd(mg->db, err, "SELECT set_config('application_name', $1, false)", 1,
	       (const char *[]){ app });
	free(app);
	snprintf(k1, sizeof(k1), "%d", MIGRATE_LOCK_KEY1);
	snprintf(k2, sizeof(k2), "%d", MIGRATE_LOCK_KEY2);
	for (;;) {
		PGresult *r = db_exec(mg->db, err, "SELECT pg_try_advisory_lock($1::int, $2::int)", 2, p);
		if (!r)
			return acme_err_prefix(err, "taking the migration lock");
		bool got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
		if (got) {
			mg->locked = true;
			if (announced)
				emit(mg, MIGRATE_EV_LOCKED, NULL, false, clock_mono_ms() - start, NULL);
			return 0;
		}
		long long elapsed = clock_mono_ms() - start;
		if (!announced || elapsed >= mg->lock_timeout_ms) {
			char *holder = lock_holder(mg->db);
			if (!announced)
				emit(mg, MIGRATE_EV_LOCK_WAIT, NULL, false, 0, holder);
			announced = true;
			if (elapsed >= mg->lock_timeout_ms) {
				acme_err_set(err, ACME_E_TEMPFAIL, "another migrator holds the migration lock "
					     "(%s); gave up after %.1f s; retry later, or wait longer with "
					     "--lock-timeout", holder ? holder : "holder not visible",
					     (double)elapsed / 1000.0);
				free(holder);
				return -1;
			}
			free(holder);
		}
		long long left = mg->lock_timeout_ms - elapsed;
		/* jitter, different in each process, so racing replicas spread out */
		long long nap = wait + (long long)(((unsigned)getpid() * 7919u + (unsigned)elapsed) % 50u);
		clock_sleep_ms(nap < left ? nap : left);
		if (wait < 1000)
			wait = wait * 3 / 2;
	}
}

/* ---- running statements, with a lock watcher ---------------------------------------------- */

struct lockwatch {
	PGconn *mon;            /* second connection, opened when first needed */
	bool mon_failed;
	char seen[512];         /* the last lock wait observed */
};

static void watch_release(struct lockwatch *lw)
{
	if (lw->mon)
		PQfinish(lw->mon);
	memset(lw, 0, sizeof(*lw));
}

/* Open a second connection with the same parameters as db. */
static PGconn *connect_like(PGconn *db)
{
	struct acme_err ignored;
	return db_connect_like(db, "acmectl migrate lock watcher", &ignored);
}

/* Look at what the migrating backend is waiting for and remember it. */
static void watch_once(struct lockwatch *lw, PGconn *db)
{
	char pid[16];
	struct acme_err ignored;
	if (lw->mon_failed)
		return;
	if (!lw->mon && !(lw->mon = connect_like(db))) {
		lw->mon_failed = true;
		return;
	}
	snprintf(pid, sizeof(pid), "%d", PQbackendPID(db));
	PGresult *r = db_exec(lw->mon, &ignored,
		"SELECT l.mode, l.locktype, "
		"CASE WHEN l.relation IS NOT NULL THEN l.relation::regclass::text END, "
		"coalesce(l.virtualxid, l.transactionid::text, l.objid::text, ''), "
		"(SELECT string_agg(format('pid %s (%s, %s)', a.pid, "
		"        coalesce(nullif(a.application_name, ''), 'no application name'), "
		"        coalesce(a.state, 'state not visible')), ', ') "
		"   FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids(l.pid))) "
		"FROM pg_locks l WHERE l.pid = $1::int AND NOT l.granted LIMIT 1",
		1, (const char *[]){ pid });
	if (r && PQntuples(r) == 1) {
		const char *mode = PQgetvalue(r, 0, 0), *type = PQgetvalue(r, 0, 1);
		const char *holders = PQgetisnull(r, 0, 4) ? NULL : PQgetvalue(r, 0, 4);
		if (!PQgetisnull(r, 0, 2))
			snprintf(lw->seen, sizeof(lw->seen), "%s on relation %s%s%s", mode,
				 PQgetvalue(r, 0, 2), holders ? ", held by " : "", holders ? holders : "");
		else
			snprintf(lw->seen, sizeof(lw->seen), "%s on %s %s%s%s", mode,
				 strcmp(type, "virtualxid") == 0 ? "virtual transaction" : type,
				 PQgetvalue(r, 0, 3), holders ? ", held by " : "", holders ? holders : "");
	}
	PQclear(r);
}

struct watch_tick {
	struct lockwatch *lw;
	PGconn *db;
	long long start, last_watch;
};

/* While a statement runs: past WATCH_AFTER_MS, look at its locks every
 * WATCH_EVERY_MS. */
static long watch_tick(void *arg, struct acme_err *err)
{
	struct watch_tick *w = arg;
	(void)err;
	long long t = clock_mono_ms();
	if (t - w->start >= WATCH_AFTER_MS && t - w->last_watch >= WATCH_EVERY_MS) {
		watch_once(w->lw, w->db);
		w->last_watch = t;
	}
	return 0;
}

/*
 * Run one statement (or script) as a call (core/call.h) so that, while it
 * waits, the lock watcher can look at pg_locks from a second connection.
 * Returns the statement's result (owned; PQclear it), which may be an error
 * result (the first one); NULL when the connection failed (err set).
 */
static PGresult *exec_watched(PGconn *db, struct lockwatch *lw, const char *sql, struct acme_err *err)
{
	struct watch_tick w = { lw, db, clock_mono_ms(), 0 };
	struct pgcall_opts o = {
		.tick = watch_tick, .tick_arg = &w, .raw = true, .script = true,
		.copy_refusal = "COPY FROM STDIN is not supported in migrations",
	};
	lw->seen[0] = '\0';
	return pgcall_run(db, sql, 0, NULL, &o, err);
}

static bool result_ok(const PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* The error of a failed statement, as a message naming the migration, the
 * statement and its line, and for a lock timeout the lock waited for. */
static int statement_error(struct acme_err *err, const struct migration *m, bool down,
			   const char *part, const struct sql_stmt *st, int first_line,
			   const PGresult *r, const struct lockwatch *lw, long long lock_timeout_ms,
			   const char *aftermath)
{
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	const char *state = db_sqlstate(r);
	char *ex = excerpt(part + st->off, st->len);
	int line = first_line + st->line - 1;

	if (strcmp(state, "55P03") == 0) {
		acme_err_set(err, ACME_E_TEMPFAIL, "migration %04d %s (%s): line %d: \"%s\" gave up "
			     "after waiting %.1f s for %s; %s; retry when the table is less busy, or "
			     "allow a longer wait with --ddl-lock-timeout", m->version, m->name,
			     down ? "down" : "up", line, ex, (double)lock_timeout_ms / 1000.0,
			     lw->seen[0] ? lw->seen : "a lock (its holder left before it could be seen)",
			     aftermath);
	} else {
		acme_err_set(err, ACME_E_FAILURE, "migration %04d %s (%s): line %d: \"%s\": %s%s%s "
			     "(SQLSTATE %s); %s", m->version, m->name, down ? "down" : "up", line, ex,
			     primary ? primary : "statement failed", detail ? ": " : "",
			     detail ? detail : "", state, aftermath);
	}
	free(ex);
	return -1;
}

static int set_lock_timeout(struct migrate *mg, bool local, struct acme_err *err)
{
	char v[32];
	snprintf(v, sizeof(v), "%lldms", mg->ddl_lock_timeout_ms);
	return db_cmd(mg->db, err, local ? "SELECT set_config('lock_timeout', $1, true)"
					 : "SELECT set_config('lock_timeout', $1, false)", 1,
		      (const char *[]){ v });
}

/* An audit_log row, when the table exists (it is created by 0001). */
static int audit(struct migrate *mg, const char *target, const char *details, struct acme_err *err)
{
	PGresult *r = db_exec(mg->db, err, "SELECT to_regclass('audit_log') IS NOT NULL", 0, NULL);
	if (!r)
		return -1;
	bool exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!exists)
		return 0;
	char *u = acme_os_user(), *h = acme_host_name();
	int rc = db_cmd(mg->db, err, "INSERT INTO audit_log (os_user, host, environment, command, "
			"target, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)", 6,
			(const char *[]){ u, h, mg->environment, mg->command, target, details });
	free(u);
	free(h);
	return rc;
}

static int record(struct migrate *mg, const struct migration *m, const char *state, long long ms,
		  const char *error, struct acme_err *err)
{
	char version[16], msbuf[24];
	char *who = migrate_whoami(), *tool = tool_version();
	snprintf(version, sizeof(version), "%d", m->version);
	snprintf(msbuf, sizeof(msbuf), "%lld", ms);
	int rc = db_cmd(mg->db, err,
		"INSERT INTO " MIGRATE_HISTORY_TABLE " (version, name, checksum, state, applied_at, "
		"execution_ms, applied_by, tool_version, error) "
		"VALUES ($1::int, $2, $3, $4, clock_timestamp(), $5::bigint, $6, $7, $8) "
		"ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, "
		"state = EXCLUDED.state, applied_at = EXCLUDED.applied_at, "
		"execution_ms = EXCLUDED.execution_ms, applied_by = EXCLUDED.applied_by, "
		"tool_version = EXCLUDED.tool_version, error = EXCLUDED.error", 8,
		(const char *[]){ version, m->name, m->checksum, state, msbuf, who, tool, error });
	free(who);
	free(tool);
	return rc;
}

static int unrecord(struct migrate *mg, int version, struct acme_err *err)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", version);
	return db_cmd(mg->db, err, "DELETE FROM " MIGRATE_HISTORY_TABLE " WHERE version = $1::int", 1,
		      (const char *[]){ v });
}

static int run_audit(struct migrate *mg, const struct migration *m, bool down, long long ms,
		     struct acme_err *err)
{
	char *target = xasprintf("%04d_%s", m->version, m->name);
	char *details = xasprintf("{\"version\": %d, \"name\": \"%s\", \"direction\": \"%s\", "
				  "\"execution_ms\": %lld, \"checksum\": \"%s\"}", m->version, m->name,
				  down ? "down" : "up", ms, m->checksum);
	int rc = audit(mg, target, details, err);
	free(target);
	free(details);
	return rc;
}

/*
 * Run one part of one migration. In a transaction: BEGIN, SET LOCAL
 * lock_timeout, each statement, the history row (or its removal), an audit
 * row, COMMIT; any failure rolls all of it back. Without a transaction: the
 * history row is first written as "running" and committed, then the single
 * statement runs, then the row becomes "applied" (or is removed, going down)
 * or "failed" with the error: that row is the marker a later run stops at.
 */
static int run_part(struct migrate *mg, const struct migration *m, bool down, long long *ms,
		    struct acme_err *err)
{
	const char *part = down ? m->down : m->up;
	bool no_tx = down ? m->down_no_tx : m->up_no_tx;
	int first_line = down ? m->down_line : m->up_line;
	struct sql_stmt *st = NULL;
	size_t n = sql_split(part, &st);
	struct lockwatch lw = { 0 };
	PGresult *r = NULL;
	int rc = -1;
	long long t0;

	if (!no_tx) {
		if (db_begin(mg->db, NULL, err) < 0 || set_lock_timeout(mg, true, err) < 0)
			goto out;
		t0 = clock_mono_ms();
		for (size_t i = 0; i < n; i++) {
			char *sql = xstrndup(part + st[i].off, st[i].len);
			r = exec_watched(mg->db, &lw, sql, err);
			free(sql);
			if (!r)
				goto out;
			if (!result_ok(r)) {
				statement_error(err, m, down, part, &st[i], first_line, r, &lw,
						mg->ddl_lock_timeout_ms, down ? "rolled back: the migration "
						"stays applied" : "rolled back: nothing of it was applied");
				goto out;
			}
			PQclear(r);
			r = NULL;
		}
		*ms = clock_mono_ms() - t0;
		if ((down ? unrecord(mg, m->version, err) : record(mg, m, "applied", *ms, NULL, err)) < 0 ||
		    run_audit(mg, m, down, *ms, err) < 0) {
			acme_err_prefix(err, "migration %04d %s: recording it", m->version, m->name);
			goto out;
		}
		if (db_commit(mg->db, err) < 0) {
			acme_err_prefix(err, "migration %04d %s: commit", m->version, m->name);
			goto out;
		}
		rc = 0;
		goto out;
	}

	/* outside a transaction: exactly one statement (checked when parsed) */
	if (set_lock_timeout(mg, false, err) < 0 ||
	    record(mg, m, "running", 0, down ? "down part started" : "up part started", err) < 0)
		goto out;
	t0 = clock_mono_ms();
	char *sql = xstrndup(part + st[0].off, st[0].len);
	r = exec_watched(mg->db, &lw, sql, err);
	free(sql);
	*ms = clock_mono_ms() - t0;
	if (!r)
		goto out;       /* connection lost: the "running" row stays as the marker */
	if (!result_ok(r)) {
		statement_error(err, m, down, part, &st[0], first_line, r, &lw, mg->ddl_lock_timeout_ms,
				"it ran outside a transaction and may be partly done: it is marked "
				"failed in " MIGRATE_HISTORY_TABLE " and later runs stop there until it "
				"is repaired (see 'acmectl migrate status')");
		struct acme_err e2;
		char *why = xasprintf("%s: %s", down ? "down" : "up",
				      PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) ?
				      PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : "failed");
		if (record(mg, m, "failed", *ms, why, &e2) < 0)
			log_warn("migration %04d: could not mark it failed: %s", m->version, e2.msg);
		free(why);
		goto out;
	}
	if ((down ? unrecord(mg, m->version, err) : record(mg, m, "applied", *ms, NULL, err)) < 0 ||
	    run_audit(mg, m, down, *ms, err) < 0) {
		acme_err_prefix(err, "migration %04d %s: recording it", m->version, m->name);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 && PQstatus(mg->db) == CONNECTION_OK &&
	    PQtransactionStatus(mg->db) != PQTRANS_IDLE)
		db_rollback(mg->db);
	if (no_tx && PQstatus(mg->db) == CONNECTION_OK)
		PQclear(PQexec(mg->db, "RESET lock_timeout"));
	PQclear(r);
	watch_release(&lw);
	free(st);
	return rc;
}

/* ---- up, down, baseline ------------------------------------------------------------------- */

static int lock_and_reread(struct migrate *mg, struct acme_err *err)
{
	if (!mg->locked && lock_acquire(mg, err) < 0)
		return -1;
	if (db_cmd(mg->db, err, history_ddl, 0, NULL) < 0)
		return acme_err_prefix(err, "creating " MIGRATE_HISTORY_TABLE);
	return migrate_read(mg, err);
}

static void plan_up(const struct migrate *mg, const struct migrate_opts *o, struct migrate_result *res)
{
	res->plan = xcalloc(mg->nentries + 1, sizeof(*res->plan));
	res->nplan = 0;
	for (size_t i = 0; i < mg->nentries; i++) {
		const struct migrate_entry *e = &mg->entries[i];
		if (!e->file || (o->to && e->version > o->to))
			continue;
		if (e->state == MIG_PENDING ||
		    (o->retry_failed && (e->state == MIG_FAILED || e->state == MIG_RUNNING)))
			res->plan[res->nplan++] = e->file;
	}
}

static int check_target(const struct migrate *mg, int version, struct acme_err *err)
{
	if (migration_set_find(&mg->set, version))
		return 0;
	return acme_err_set(err, ACME_E_NOT_FOUND, "this binary has no migration %04d (its head is "
			    "%04d); see 'acmectl migrate list'", version, migration_set_head(&mg->set));
}

/* Apply (or, down, revert) each migration of the plan in order, with its
 * events; res->ndone counts them, res->to follows the schema up. 0 / -1. */
static int run_plan(struct migrate *mg, struct migrate_result *res, bool down,
		    struct acme_err *err)
{
	for (size_t i = 0; i < res->nplan; i++) {
		const struct migration *m = res->plan[i];
		long long ms = 0;
		emit(mg, MIGRATE_EV_START, m, down, 0, NULL);
		if (run_part(mg, m, down, &ms, err) < 0)
			return -1;
		res->ndone++;
		if (!down)
			res->to = m->version > res->to ? m->version : res->to;
		emit(mg, MIGRATE_EV_DONE, m, down, ms, NULL);
	}
	return 0;
}


int migrate_up(struct migrate *mg, const struct migrate_opts *o, struct migrate_result *res,
	       struct acme_err *err)
{
	unsigned what = o->retry_failed ? CHECK_ALL & ~CHECK_FAILED : CHECK_ALL;
	long long t0 = clock_mono_ms();

	memset(res, 0, sizeof(*res));
	if (o->to && check_target(mg, o->to, err) < 0)
		return -1;
	if (migrate_read(mg, err) < 0)
		return -1;
	res->from = res->to = migrate_current(mg);
	plan_up(mg, o, res);
	/* the common case: nothing to do, decided without the lock */
	if (!o->dry_run && mg->history_exists && res->nplan == 0 && check(mg, what, 0, 0, err) == 0) {
		res->nothing_to_do = true;
		return 0;
	}
	if (!o->dry_run) {
		if (lock_and_reread(mg, err) < 0)
			return -1;
		res->from = res->to = migrate_current(mg);
		free(res->plan);
		plan_up(mg, o, res);
	}
	if (check(mg, what, 0, 0, err) < 0)
		return -1;
	if (res->nplan == 0 || o->dry_run) {
		res->nothing_to_do = res->nplan == 0;
		return 0;
	}
	if (run_plan(mg, res, false, err) < 0)
		goto fail;
	res->total_ms = clock_mono_ms() - t0;
	lock_release(mg);
	return 0;
fail:
	res->total_ms = clock_mono_ms() - t0;
	lock_release(mg);
	return -1;
}

static void plan_down(const struct migrate *mg, int count, struct migrate_result *res,
		      int *lowest)
{
	res->plan = xcalloc(mg->nentries + 1, sizeof(*res->plan));
	res->nplan = 0;
	*lowest = 0;
	for (size_t i = mg->nentries; i > 0 && (int)res->nplan < count; i--) {
		const struct migrate_entry *e = &mg->entries[i - 1];
		if (!e->rec)
			continue;
		res->plan[res->nplan++] = e->file;   /* NULL when unknown: refused by check() */
		*lowest = e->version;
	}
}

int migrate_down(struct migrate *mg, const struct migrate_opts *o, struct migrate_result *res,
		 struct acme_err *err)
{
	int lowest = 0, count = o->count > 0 ? o->count : 1;
	long long t0 = clock_mono_ms();

	memset(res, 0, sizeof(*res));
	if (migrate_read(mg, err) < 0)
		return -1;
	if (!o->dry_run && mg->history_exists && lock_and_reread(mg, err) < 0)
		return -1;
	res->from = res->to = migrate_current(mg);
	plan_down(mg, count, res, &lowest);
	if (res->nplan == 0) {
		res->nothing_to_do = true;
		lock_release(mg);
		return 0;
	}
	if (check(mg, CHECK_UNKNOWN, 0, 0, err) < 0 || check(mg, CHECK_DRIFT, lowest, 0, err) < 0)
		goto fail;
	for (size_t i = 0; i < res->nplan; i++)
		if (!res->plan[i]->down) {
			acme_err_set(err, ACME_E_FAILURE, "migration %04d %s has no down part (no \"%s\" "
				     "line), so it cannot be reverted; nothing was reverted",
				     res->plan[i]->version, res->plan[i]->name, MIGRATE_DOWN_MARKER);
			goto fail;
		}
	if (o->dry_run) {
		lock_release(mg);
		return 0;
	}
	if (run_plan(mg, res, true, err) < 0)
		goto fail;
	if (migrate_read(mg, err) == 0)
		res->to = migrate_current(mg);
	res->total_ms = clock_mono_ms() - t0;
	lock_release(mg);
	return 0;
fail:
	res->total_ms = clock_mono_ms() - t0;
	lock_release(mg);
	return -1;
}

int migrate_baseline(struct migrate *mg, int version, struct migrate_result *res,
		     struct acme_err *err)
{
	memset(res, 0, sizeof(*res));
	if (check_target(mg, version, err) < 0)
		return -1;
	if (lock_and_reread(mg, err) < 0)
		return -1;
	res->from = res->to = migrate_current(mg);
	if (check(mg, CHECK_UNKNOWN | CHECK_DRIFT, 0, 0, err) < 0)
		goto fail;
	res->plan = xcalloc(mg->nentries + 1, sizeof(*res->plan));
	for (size_t i = 0; i < mg->nentries; i++) {
		const struct migrate_entry *e = &mg->entries[i];
		if (e->file && e->version <= version &&
		    (e->state == MIG_PENDING || e->state == MIG_FAILED || e->state == MIG_RUNNING))
			res->plan[res->nplan++] = e->file;
	}
	if (res->nplan == 0) {
		res->nothing_to_do = true;
		lock_release(mg);
		return 0;
	}
	if (db_begin(mg->db, NULL, err) < 0)
		goto fail;
	for (size_t i = 0; i < res->nplan; i++)
		if (record(mg, res->plan[i], "baseline", 0, NULL, err) < 0)
			goto fail;
	char *target = xasprintf("%04d", version);
	char *details = xasprintf("{\"baseline\": %d, \"recorded\": %zu}", version, res->nplan);
	int arc = audit(mg, target, details, err);
	free(target);
	free(details);
	if (arc < 0 || db_commit(mg->db, err) < 0)
		goto fail;
	res->ndone = res->nplan;
	if (migrate_read(mg, err) == 0)
		res->to = migrate_current(mg);
	lock_release(mg);
	return 0;
fail:
	lock_release(mg);     /* rolls back an open transaction first */
	return -1;
}

/* ---- shortcuts for other modules ----------------------------------------------------------- */

int migrate_to_head(PGconn *db, const struct config *cfg, size_t *applied, int *current,
		    struct acme_err *err)
{
	struct migrate mg;
	struct migrate_result res;
	struct migrate_opts o = { 0 };
	if (migrate_init(&mg, db, cfg, "migrate up", err) < 0)
		return -1;
	int rc = migrate_up(&mg, &o, &res, err);
	if (applied)
		*applied = res.ndone;
	if (current)
		*current = res.to;
	migrate_result_release(&res);
	migrate_release(&mg);
	return rc;
}

int migrate_schema_state(PGconn *db, const struct config *cfg, struct migrate_schema *st,
			 struct acme_err *err)
{
	struct migrate mg;
	memset(st, 0, sizeof(*st));
	if (migrate_init(&mg, db, cfg, "health", err) < 0)
		return -1;
	int rc = migrate_read(&mg, err);
	if (rc == 0) {
		st->current = migrate_current(&mg);
		st->head = migration_set_head(&mg.set);
		st->pending = migrate_pending(&mg, 0);
		for (size_t i = 0; i < mg.nentries; i++) {
			const struct migrate_entry *e = &mg.entries[i];
			if (e->rec && !e->file)
				st->unknown++;
			if (e->state == MIG_FAILED || e->state == MIG_RUNNING)
				st->failed++;
			if (e->drift)
				st->drifted++;
		}
	}
	migrate_release(&mg);
	return rc;
}
