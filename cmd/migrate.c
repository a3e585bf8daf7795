/* migrate.c — `acmectl migrate up|down|status|list|print|baseline|verify`:
 * schema migrations for people and for deployment pipelines. The work is in
 * core/migrate.c; this file parses options, asks for confirmation, prints
 * progress on stderr and results on stdout, and picks the exit status.
 *
 * Exit status: 0 done or nothing to do; 1 a migration failed (rolled back);
 * 3 no such version; 4 down refused; 65 the history disagrees with this
 * binary (unknown versions, out-of-order, drift, failed no-transaction
 * migration); 69 database unreachable; 75 a lock wait expired (retry is safe).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/migrate.h"
#include "core/output.h"
#include "core/whsecret.h"
#include "core/xalloc.h"

#define LOCK_TIMEOUT_MAX_MS (24LL * 3600 * 1000)
#define DDL_LOCK_TIMEOUT_MAX_MS (3600LL * 1000)

static void on_event(void *arg, const struct migrate_event *ev)
{
	struct ctx *ctx = arg;
	switch (ev->type) {
	case MIGRATE_EV_LOCK_WAIT:
		ctx_msg(ctx, "waiting for the migration lock, held by %s",
			ev->holder ? ev->holder : "another session");
		break;
	case MIGRATE_EV_LOCKED:
		ctx_msg(ctx, "got the migration lock after %.1f s", (double)ev->ms / 1000.0);
		break;
	case MIGRATE_EV_START:
		ctx_msg(ctx, "%s %04d %s%s ...", ev->down ? "reverting" : "applying", ev->m->version,
			ev->m->name, (ev->down ? ev->m->down_no_tx : ev->m->up_no_tx) ?
			" (outside a transaction)" : "");
		break;
	case MIGRATE_EV_DONE:
		ctx_msg(ctx, "%s %04d %s in %lld ms", ev->down ? "reverted" : "applied", ev->m->version,
			ev->m->name, ev->ms);
		break;
	}
}

static int open_migrate(struct ctx *ctx, struct args *a, struct migrate *mg)
{
	char *name = xasprintf("migrate %s", ctx->verb ? ctx->verb->name : "");
	int rc = migrate_init(mg, ctx->s.db, &ctx->s.cfg, name, &ctx->err);
	free(name);
	if (rc < 0)
		return -1;
	mg->lock_timeout_ms = args_int(a, "lock-timeout", MIGRATE_DEFAULT_LOCK_TIMEOUT_MS);
	mg->ddl_lock_timeout_ms = args_int(a, "ddl-lock-timeout", MIGRATE_DEFAULT_DDL_LOCK_TIMEOUT_MS);
	mg->on_event = on_event;
	mg->event_arg = ctx;
	return 0;
}

static int parse_version_arg(struct ctx *ctx, const char *what, const char *s, int *v)
{
	if (migrate_parse_version(s, v) == 0)
		return 0;
	return acme_err_set(&ctx->err, ACME_E_USAGE, "%s: \"%s\" is not a migration version "
			    "(a number such as 3 or 0003)", what, s);
}

static const char *label(const struct migrate *mg, int version)
{
	const struct migration *m = migration_set_find(&mg->set, version);
	return m ? m->name : "";
}

/* Print the SQL a plan would run (up or down). */
static void print_plan(struct ctx *ctx, const struct migrate_result *res, bool down)
{
	if (ctx_format(ctx) == OUT_JSON) {
		json_t *arr = json_array();
		for (size_t i = 0; i < res->nplan; i++) {
			const struct migration *m = res->plan[i];
			bool no_tx = down ? m->down_no_tx : m->up_no_tx;
			json_array_append_new(arr, json_pack("{s:i, s:s, s:s, s:b, s:s}", "version",
				m->version, "name", m->name, "direction", down ? "down" : "up",
				"transaction", !no_tx, "sql", down ? m->down : m->up));
		}
		json_t *doc = json_pack("{s:o, s:b}", "plan", arr, "dry_run", 1);
		output_json(ctx->out, doc, true);
		json_decref(doc);
		return;
	}
	for (size_t i = 0; i < res->nplan; i++) {
		const struct migration *m = res->plan[i];
		bool no_tx = down ? m->down_no_tx : m->up_no_tx;
		const char *sql = down ? m->down : m->up;
		fprintf(ctx->out, "-- %s %04d %s (%s)\n", down ? "revert" : "apply", m->version, m->name,
			no_tx ? "outside a transaction" : "in one transaction");
		fputs(sql, ctx->out);
		if (sql[0] && sql[strlen(sql) - 1] != '\n')
			fputc('\n', ctx->out);
	}
}

/* ---- up --------------------------------------------------------------------------- */

/* From 0002 on, webhook secrets may be sealed: with a key configured, those
 * still in plain text are sealed now (core/whsecret.h); without one, say how
 * many wait. */
static int seal_plain_secrets(struct ctx *ctx)
{
	struct secretbox_keyring kr;
	struct whsecret_counts c;
	long long n = 0;
	const char *path = config_get(&ctx->s.cfg, CFG_SECRET_KEY_FILE);
	if (whsecret_count_plain(ctx->s.db, &n, &ctx->err) < 0)
		return -1;
	if (n == 0)
		return 0;
	if (!path || !path[0]) {
		ctx_msg(ctx, "%lld webhook secret%s stored in plain text; set ACME_SECRET_KEY_FILE "
			"and run 'acmectl migrate up' again (or 'acmectl webhooks rotate-key') to "
			"encrypt them", n, n == 1 ? " is" : "s are");
		return 0;
	}
	if (secretbox_keyring_load(&kr, path, &ctx->err) < 0)
		return -1;
	int rc = whsecret_rotate(ctx->s.db, &kr, true, false, config_get(&ctx->s.cfg, CFG_ENV),
				 "migrate up", &c, &ctx->err);
	secretbox_keyring_release(&kr);
	if (rc == 0)
		ctx_msg(ctx, "encrypted %lld webhook secret%s stored in plain text under key %s",
			c.encrypted, c.encrypted == 1 ? "" : "s", c.key_id);
	return rc;
}

static int migrate_up_exec(struct ctx *ctx, struct args *a)
{
	struct migrate mg;
	struct migrate_result res = { 0 };
	struct migrate_opts o = { 0 };
	int rc = -1;

	if (args_get(a, "to") && parse_version_arg(ctx, "--to", args_get(a, "to"), &o.to) < 0)
		return -1;
	o.dry_run = args_has(a, "dry-run");
	o.retry_failed = args_has(a, "retry-failed");
	if (open_migrate(ctx, a, &mg) < 0)
		return -1;
	if (migrate_up(&mg, &o, &res, &ctx->err) < 0) {
		if (res.ndone)
			ctx_msg(ctx, "%zu of %zu migrations were applied before the failure; the database "
				"is at %04d", res.ndone, res.nplan, res.to);
		goto out;
	}
	rc = 0;
	if (o.dry_run) {
		print_plan(ctx, &res, false);
		if (res.nplan)
			ctx_msg(ctx, "dry run: %zu migration%s would be applied (database at %04d); "
				"nothing was changed", res.nplan, res.nplan == 1 ? "" : "s", res.from);
		else
			ctx_msg(ctx, "dry run: nothing to do (database at %04d)", res.from);
	} else if (res.nothing_to_do) {
		if (o.to && res.from > o.to)
			ctx_msg(ctx, "nothing to do: the database is at %04d, already past %04d; use "
				"'acmectl migrate down' to go back", res.from, o.to);
		else
			ctx_msg(ctx, "nothing to do: the database is at %04d %s%s", res.from,
				label(&mg, res.from), res.from == migration_set_head(&mg.set) ?
				", the head of this binary" : "");
	} else {
		ctx_msg(ctx, "database at %04d %s; %zu migration%s applied in %lld ms", res.to,
			label(&mg, res.to), res.ndone, res.ndone == 1 ? "" : "s", res.total_ms);
	}
	if (!o.dry_run && seal_plain_secrets(ctx) < 0)
		rc = -1;
out:
	migrate_result_release(&res);
	migrate_release(&mg);
	return rc;
}

/* ---- down ------------------------------------------------------------------------- */

static int migrate_down_exec(struct ctx *ctx, struct args *a)
{
	struct migrate mg;
	struct migrate_result res = { 0 };
	struct migrate_opts o = { 0 };
	int rc = -1;

	o.count = 1;
	if (a->argc > 0) {
		char *end;
		long n = strtol(a->argv[0], &end, 10);
		if (*end || n < 1 || n > 100000)
			return acme_err_set(&ctx->err, ACME_E_USAGE, "migrate down: \"%s\" is not a "
					    "number of migrations (1 or more)", a->argv[0]);
		o.count = (int)n;
	}
	if (open_migrate(ctx, a, &mg) < 0)
		return -1;

	/* what would go, for the prompt and the dry run */
	o.dry_run = true;
	if (migrate_down(&mg, &o, &res, &ctx->err) < 0)
		goto out;
	if (res.nothing_to_do) {
		ctx_msg(ctx, "nothing to do: no migration is applied");
		rc = 0;
		goto out;
	}
	if (args_has(a, "dry-run")) {
		print_plan(ctx, &res, true);
		ctx_msg(ctx, "dry run: %zu migration%s would be reverted; nothing was changed",
			res.nplan, res.nplan == 1 ? "" : "s");
		rc = 0;
		goto out;
	}
	char list[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < res.nplan && used < sizeof(list) - 1; i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%04d %s",
					 i ? ", " : "", res.plan[i]->version, res.plan[i]->name);
	char *what = xasprintf("revert %s (this may drop data)", list);
	struct confirm_text ct = { what, NULL, NULL, "nothing was reverted" };
	int confirmed = ctx_confirm_action(ctx, a, CONFIRM_DESTRUCTIVE, 1, &ct);
	free(what);
	if (confirmed < 0)
		goto out;
	migrate_result_release(&res);
	o.dry_run = false;
	if (migrate_down(&mg, &o, &res, &ctx->err) < 0) {
		if (res.ndone)
			ctx_msg(ctx, "%zu of %zu migrations were reverted before the failure",
				res.ndone, res.nplan);
		goto out;
	}
	ctx_msg(ctx, "database at %04d%s%s; %zu migration%s reverted in %lld ms", res.to,
		res.to ? " " : "", label(&mg, res.to), res.ndone, res.ndone == 1 ? "" : "s",
		res.total_ms);
	rc = 0;
out:
	migrate_result_release(&res);
	migrate_release(&mg);
	return rc;
}

/* ---- status ----------------------------------------------------------------------- */

static const char *entry_state(const struct migrate_entry *e)
{
	if (e->rec && !e->file)
		return "unknown";
	if (e->drift)
		return "drifted";
	if (e->out_of_order)
		return "out-of-order";
	if (e->state == MIG_RUNNING)
		return "interrupted";
	return migrate_state_name(e->state);
}

static int migrate_status_exec(struct ctx *ctx, struct args *a)
{
	struct migrate mg;
	struct acme_err problems = { 0 };
	int rc = -1;

	if (open_migrate(ctx, a, &mg) < 0)
		return -1;
	if (migrate_read(&mg, &ctx->err) < 0)
		goto out;
	int current = migrate_current(&mg), head = migration_set_head(&mg.set);
	size_t pending = migrate_pending(&mg, 0);
	bool bad = migrate_check(&mg, &problems) < 0;

	static const struct out_col cols[] = {
		{ "version", COL_INT }, { "name", COL_STR }, { "state", COL_STR },
		{ "applied_at", COL_STR }, { "execution_ms", COL_INT }, { "applied_by", COL_STR },
	};
	struct output *lo = ctx_output_new(ctx, cols, 6);
	if (!lo)
		goto out;
	if (output_is_json(lo)) {
		/* a list of every migration, the envelope's other fields say
		 * where the database stands (ndjson: the items alone) */
		for (size_t i = 0; i < mg.nentries; i++) {
			const struct migrate_entry *e = &mg.entries[i];
			const struct migrate_record *r = e->rec;
			json_t *o = json_pack("{s:i, s:s, s:s, s:b}", "version", e->version,
				"name", e->file ? e->file->name : r->name, "state", entry_state(e),
				"known", e->file != NULL);
			json_object_set_new(o, "checksum", e->file ? json_string(e->file->checksum) : json_null());
			json_object_set_new(o, "applied_checksum", r ? json_string(r->checksum) : json_null());
			json_object_set_new(o, "applied_at", r && r->applied_at ? json_string(r->applied_at) : json_null());
			json_object_set_new(o, "execution_ms", r ? json_integer(r->execution_ms) : json_null());
			json_object_set_new(o, "applied_by", r && r->applied_by ? json_string(r->applied_by) : json_null());
			json_object_set_new(o, "tool_version", r && r->tool_version ? json_string(r->tool_version) : json_null());
			json_object_set_new(o, "error", r && r->error ? json_string(r->error) : json_null());
			json_object_set_new(o, "transaction", e->file ? json_boolean(!e->file->up_no_tx) : json_null());
			output_item(lo, o);
		}
		json_t *doc = output_page(0, NULL);   /* it does not page */
		json_object_set_new(doc, "current", json_integer(current));
		json_object_set_new(doc, "head", json_integer(head));
		json_object_set_new(doc, "pending", json_integer((json_int_t)pending));
		json_object_set_new(doc, "history_table", json_boolean(mg.history_exists));
		json_object_set_new(doc, "source", json_string(mg.set.source));
		json_object_set_new(doc, "problem", bad ? json_string(problems.msg) : json_null());
		output_end(lo, doc);
	} else {
		struct output *o = lo;
		for (size_t i = 0; i < mg.nentries; i++) {
			const struct migrate_entry *e = &mg.entries[i];
			const struct migrate_record *r = e->rec;
			char v[16], ms[24];
			snprintf(v, sizeof(v), "%d", e->version);
			snprintf(ms, sizeof(ms), "%lld", r ? r->execution_ms : 0);
			const char *row[6] = { v, e->file ? e->file->name : r->name, entry_state(e),
					       r ? r->applied_at : NULL, r ? ms : NULL,
					       r ? r->applied_by : NULL };
			output_row(o, row);
		}
		output_end(o, NULL);
		ctx_msg(ctx, "database at %04d%s%s; head of this binary %04d; %zu pending", current,
			current ? " " : "", label(&mg, current), head, pending);
		if (bad)
			ctx_msg(ctx, "problem: %s", problems.msg);
	}
	rc = 0;
	if (args_has(a, "exit-code"))
		rc = bad ? acme_exit_status(ACME_E_DATA) : pending ? 1 : 0;
out:
	migrate_release(&mg);
	return rc;
}

/* ---- list, print ------------------------------------------------------------------ */

static int migrate_list_exec(struct ctx *ctx, struct args *a)
{
	struct migrate mg;
	static const struct out_col cols[] = {
		{ "version", COL_INT }, { "name", COL_STR }, { "transaction", COL_BOOL },
		{ "reversible", COL_BOOL }, { "checksum", COL_STR }, { "file", COL_STR },
	};
	if (open_migrate(ctx, a, &mg) < 0)
		return -1;
	if (strcmp(mg.set.source, "embedded") != 0)
		ctx_msg(ctx, "migrations read from %s (ACME_MIGRATIONS_DIR)", mg.set.source);
	struct output *o = ctx_output_new(ctx, cols, 6);
	if (!o) {
		migrate_release(&mg);
		return -1;
	}
	for (size_t i = 0; i < mg.set.n; i++) {
		const struct migration *m = &mg.set.v[i];
		char v[16];
		snprintf(v, sizeof(v), "%d", m->version);
		const char *row[6] = { v, m->name, m->up_no_tx ? "false" : "true",
				       m->down ? "true" : "false", m->checksum, m->file };
		output_row(o, row);
	}
	output_end(o, NULL);
	migrate_release(&mg);
	return 0;
}

static int migrate_print_exec(struct ctx *ctx, struct args *a)
{
	struct migrate mg;
	int version;
	if (parse_version_arg(ctx, "migrate print", a->argv[0], &version) < 0)
		return -1;
	if (open_migrate(ctx, a, &mg) < 0)
		return -1;
	const struct migration *m = migration_set_find(&mg.set, version);
	int rc = 0;
	if (!m)
		rc = acme_err_set(&ctx->err, ACME_E_NOT_FOUND, "this binary has no migration %04d; see "
				  "'acmectl migrate list'", version);
	else
		fwrite(m->raw, 1, m->rawlen, ctx->out);
	migrate_release(&mg);
	return rc;
}

/* ---- baseline, verify --------------------------------------------------------------- */

static int migrate_baseline_exec(struct ctx *ctx, struct args *a)
{
	struct migrate mg;
	struct migrate_result res = { 0 };
	int version, rc = -1;

	if (parse_version_arg(ctx, "migrate baseline", a->argv[0], &version) < 0)
		return -1;
	if (open_migrate(ctx, a, &mg) < 0)
		return -1;
	/* what it would record: for --dry-run and the question */
	if (migrate_read(&mg, &ctx->err) < 0)
		goto out;
	char list[512] = "";
	size_t used = 0, n = 0;
	/* an unknown V, drift or unknown versions are migrate_baseline's errors
	 * (exit 3, 65): nothing to confirm then */
	bool known = false;
	for (size_t i = 0; i < mg.nentries; i++) {
		const struct migrate_entry *e = &mg.entries[i];
		if (e->drift || (e->rec && !e->file)) {
			known = false;
			break;
		}
		known |= e->version == version && e->file;
	}
	for (size_t i = 0; known && i < mg.nentries; i++) {
		const struct migrate_entry *e = &mg.entries[i];
		if (!e->file || e->version > version || (e->state != MIG_PENDING &&
		    e->state != MIG_FAILED && e->state != MIG_RUNNING))
			continue;
		n++;
		if (used < sizeof(list) - 1)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%04d", n > 1 ? ", " : "",
						 e->version);
	}
	if (n > 0) {
		char *what = xasprintf("record %s as applied without running %s", list,
				       n == 1 ? "it" : "them");
		struct confirm_text ct = { what, NULL, NULL, "nothing was recorded" };
		bool dry = ctx_dry_run(ctx, a, what);
		int confirmed = dry ? 0 : ctx_confirm_action(ctx, a, CONFIRM_DESTRUCTIVE, 1, &ct);
		free(what);
		if (dry)
			rc = 0;
		if (dry || confirmed < 0)
			goto out;
	}
	if (migrate_baseline(&mg, version, &res, &ctx->err) < 0)
		goto out;
	if (res.nothing_to_do)
		ctx_msg(ctx, "nothing to do: every migration up to %04d is already recorded", version);
	else
		ctx_msg(ctx, "recorded %zu migration%s up to %04d %s as applied without running them; "
			"database at %04d", res.ndone, res.ndone == 1 ? "" : "s", version,
			label(&mg, version), res.to);
	rc = 0;
out:
	migrate_result_release(&res);
	migrate_release(&mg);
	return rc;
}

static int migrate_verify_exec(struct ctx *ctx, struct args *a)
{
	struct migrate mg;
	int rc = -1;
	if (open_migrate(ctx, a, &mg) < 0)
		return -1;
	if (migrate_read(&mg, &ctx->err) < 0 || migrate_verify(&mg, &ctx->err) < 0)
		goto out;
	size_t applied = 0;
	for (size_t i = 0; i < mg.nentries; i++)
		applied += mg.entries[i].rec != NULL;
	ctx_msg(ctx, "ok: %zu recorded migration%s match%s this binary (%zu pending)", applied,
		applied == 1 ? "" : "s", applied == 1 ? "es" : "", migrate_pending(&mg, 0));
	rc = 0;
out:
	migrate_release(&mg);
	return rc;
}

/* ---- tables ------------------------------------------------------------------------- */

#define LOCK_OPTS \
	{ "lock-timeout", 0, OPT_DURATION, "DUR", "how long to wait for another migrator to finish " \
	  "(default 300s)", 0, LOCK_TIMEOUT_MAX_MS, NULL, 0 }, \
	{ "ddl-lock-timeout", 0, OPT_DURATION, "DUR", "lock_timeout of each migration: give up " \
	  "when a table stays locked this long (default 5s; 0 waits forever)", 0, \
	  DDL_LOCK_TIMEOUT_MAX_MS, NULL, 0 }

static const struct opt up_opts[] = {
	{ "to", 0, OPT_STRING, "V", "apply up to and including version V only", 0, 0, "@migration", 0 },
	{ "dry-run", 'n', OPT_FLAG, NULL, "print the SQL that would run and change nothing",
	  0, 0, NULL, 0 },
	{ "retry-failed", 0, OPT_FLAG, NULL, "run a failed or interrupted no-transaction "
	  "migration again (after repairing it)", 0, 0, NULL, 0 },
	LOCK_OPTS,
	OPT_END
};

static const struct opt down_opts[] = {
	{ "yes", 'y', OPT_FLAG, NULL, "do not ask for confirmation (needed without a terminal)",
	  0, 0, NULL, 0 },
	{ "dry-run", 'n', OPT_FLAG, NULL, "print the SQL that would run and change nothing",
	  0, 0, NULL, 0 },
	LOCK_OPTS,
	OPT_END
};

static const struct opt status_opts[] = {
	{ "exit-code", 0, OPT_FLAG, NULL, "exit 1 when migrations are pending, 65 on a problem",
	  0, 0, NULL, 0 },
	OPT_END
};

static const struct opt baseline_opts[] = {
	{ "lock-timeout", 0, OPT_DURATION, "DUR", "how long to wait for another migrator to finish "
	  "(default 300s)", 0, LOCK_TIMEOUT_MAX_MS, NULL, 0 },
	{ "yes", 'y', OPT_FLAG, NULL, "do not ask for confirmation (needed without a terminal)",
	  0, 0, NULL, 0 },
	{ "dry-run", 'n', OPT_FLAG, NULL, "list the versions it would record; change nothing",
	  0, 0, NULL, 0 },
	OPT_END
};

static const struct cmd_verb migrate_verbs[] = {
	{ "up", "[--to V] [--dry-run] [--retry-failed] [--lock-timeout DUR] [--ddl-lock-timeout DUR]",
	  "apply pending migrations, each in its own transaction", up_opts, migrate_up_exec,
	  CMD_NEEDS_DB | CMD_MUTATES, 0, 0, NULL },
	{ "down", "[N] [--yes] [--dry-run] [--lock-timeout DUR] [--ddl-lock-timeout DUR]",
	  "revert the N most recent migrations (default 1) with their down parts", down_opts,
	  migrate_down_exec, CMD_NEEDS_DB | CMD_MUTATES, 0, 1, NULL },
	{ "status", "[-o FORMAT] [--exit-code]", "show applied and pending migrations and any problem",
	  status_opts, migrate_status_exec, CMD_NEEDS_DB, 0, 0, NULL },
	{ "list", "[-o FORMAT]", "list the migrations this binary carries, with their checksums",
	  NULL, migrate_list_exec, 0, 0, 0, NULL },
	{ "print", "V", "print the SQL file of migration V", NULL, migrate_print_exec, 0, 1, 1,
	  "@migration" },
	{ "baseline", "V [--yes] [--dry-run] [--lock-timeout DUR]", "record migrations up to V as "
	  "applied without running them (an existing schema)", baseline_opts, migrate_baseline_exec,
	  CMD_NEEDS_DB | CMD_MUTATES, 1, 1, "@migration" },
	{ "verify", "", "check that applied migrations match this binary (exit 65 if not)", NULL,
	  migrate_verify_exec, CMD_NEEDS_DB, 0, 0, NULL },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, 0, NULL }
};

const struct cmd_entry cmd_migrate = {
	.name = "migrate",
	.summary = "apply, revert and inspect database schema migrations",
	.description = "Migrations are compiled into acmectl. Each runs in one transaction with its\n"
		       "history row; a session advisory lock makes concurrent runs safe (the losers\n"
		       "find nothing to do). Unknown versions, out-of-order versions and checksum\n"
		       "drift are refused with exit 65. See acmectl-migrate(1).",
	.verbs = migrate_verbs,
};
