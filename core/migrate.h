/* migrate.h — schema migrations: the files compiled into the binary, their
 * checksums, the history table, and applying or reverting them safely.
 *
 * A migration is core/migrations/NNNN_name.sql. NNNN is its version (a
 * positive number; leading zeros are for sorting), name is [a-z0-9_-]+.
 * The file holds two parts separated by a marker line:
 *
 *   -- acmectl:no-transaction      (optional; only as the very first line)
 *   CREATE TABLE ...;              the up part
 *   -- acmectl:down
 *   -- acmectl:no-transaction      (optional; only right after the marker)
 *   DROP TABLE ...;                the down part (optional)
 *
 * Marker lines are exact (trailing blanks allowed); any other line starting
 * with "-- acmectl:" is an error, so a misspelt marker can never turn a down
 * part into more of the up part. A part runs in one transaction together with
 * its history row, unless it starts with the no-transaction line: then it
 * must hold exactly one statement (CREATE INDEX CONCURRENTLY, VACUUM, ...),
 * runs on its own, and a failure leaves a "failed" row in the history that
 * stops later runs until someone repairs it (see migrate_up()).
 *
 * The checksum is the SHA-256 of the whole file after a UTF-8 byte-order mark
 * is stripped and CRLF is turned into LF, so a checkout with other line ends
 * does not look like an edit.
 *
 * History lives in acmectl_migrations (created on first use): version, name,
 * checksum, state (applied | baseline | running | failed), applied_at,
 * execution_ms, applied_by (OS user@host), tool_version, error.
 *
 * Concurrency: everything that writes takes a session advisory lock, by
 * polling pg_try_advisory_lock() outside any transaction, and reads the
 * history again once it holds it, so replicas racing each other apply each
 * migration once and the losers find nothing to do. The lock keys are
 * MIGRATE_LOCK_KEY1 and MIGRATE_LOCK_KEY2 (pg_advisory_lock(int, int)).
 *
 * Nothing here prints or exits: results come back as data and struct
 * acme_err; progress goes through an optional callback.
 */
#ifndef ACME_MIGRATE_H
#define ACME_MIGRATE_H
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/err.h"

#define MIGRATE_DOWN_MARKER  "-- acmectl:down"
#define MIGRATE_NO_TX_MARKER "-- acmectl:no-transaction"
#define MIGRATE_HISTORY_TABLE "acmectl_migrations"
#define MIGRATE_LOCK_KEY1 1634561381   /* "acme" */
#define MIGRATE_LOCK_KEY2 1835624306   /* "migr" */
#define MIGRATE_VERSION_MAX 999999999
#define MIGRATE_FILE_MAX (16u << 20)  /* bytes; a bigger file is refused */

#define MIGRATE_DEFAULT_LOCK_TIMEOUT_MS     300000LL  /* waiting for another migrator */
#define MIGRATE_DEFAULT_DDL_LOCK_TIMEOUT_MS 5000LL    /* lock_timeout of each migration */

/* ---- the files ---------------------------------------------------------------- */

struct migration {
	int version;
	char *name;            /* "initial" */
	char *file;            /* "0001_initial.sql" */
	char *raw;             /* the file as stored, NUL-terminated */
	size_t rawlen;
	char *up;              /* the up part, normalised (BOM stripped, LF) */
	char *down;            /* the down part, or NULL when the file has none */
	int up_line, down_line;  /* line of the file where each part starts */
	bool up_no_tx, down_no_tx;
	char checksum[65];     /* hex SHA-256 of the normalised file */
};

struct migration_set {
	struct migration *v;   /* sorted by version */
	size_t n;
	char *source;          /* "embedded" or the directory read */
};

/* Load the migrations: the embedded ones, or, when ACME_ENV is test and
 * ACME_MIGRATIONS_DIR names a directory, every *.sql file in it (a hook for
 * tests that need failing, drifted or no-transaction migrations). Errors:
 * ACME_E_DATA for a malformed file (named with its line), ACME_E_CONFIG for
 * an unreadable directory. */
int migration_set_load(struct migration_set *set, const struct config *cfg, struct acme_err *err);
int migration_set_load_embedded(struct migration_set *set, struct acme_err *err);
int migration_set_load_dir(struct migration_set *set, const char *dir, struct acme_err *err);
void migration_set_release(struct migration_set *set);
const struct migration *migration_set_find(const struct migration_set *set, int version);
int migration_set_head(const struct migration_set *set);  /* 0 when empty */

/* Parse one file into m (every field owned by m; migration_release() it). */
int migration_parse(struct migration *m, const char *file, const char *data, size_t len,
		    struct acme_err *err);
void migration_release(struct migration *m);

/* ---- pure helpers (unit-tested) ------------------------------------------------- */

/* Strip a leading UTF-8 BOM and turn CRLF into LF. Returns an owned,
 * NUL-terminated copy; *outlen (may be NULL) gets its length. */
char *migrate_normalise(const char *data, size_t len, size_t *outlen);
/* hex SHA-256 of the normalised data. */
void migrate_checksum(const char *data, size_t len, char out[65]);
/* "NNNN_name.sql" → version and name (owned). 0 / -1 with err (ACME_E_DATA). */
int migrate_parse_filename(const char *file, int *version, char **name, struct acme_err *err);
/* A version as people type it: "3", "0003", or a file name "0003_x[.sql]". 0 / -1. */
int migrate_parse_version(const char *s, int *version);
/* Split normalised text at the markers (see the top of this file). *up and
 * *down are owned copies (*down NULL when there is no marker). Lines are
 * 1-based. ACME_E_DATA with the line on a misplaced or unknown marker. */
int migrate_split(const char *text, char **up, char **down, bool *up_no_tx, bool *down_no_tx,
		  int *down_line, struct acme_err *err);

/* One SQL statement inside a text: [off, off + len), starting at line. */
struct sql_stmt {
	size_t off, len;
	int line;              /* 1-based, relative to the text */
};
/* Split SQL into statements at top-level semicolons, understanding quotes,
 * E'' strings, dollar quoting, comments and BEGIN ... END bodies of
 * CREATE FUNCTION/PROCEDURE (as psql does). Blank and comment-only
 * statements are dropped; leading blanks and comments are not part of a
 * statement; the semicolon is not included. Returns the count; *out is owned
 * (free()). */
size_t sql_split(const char *sql, struct sql_stmt **out);

/* ---- the database side ---------------------------------------------------------- */

enum migrate_state {
	MIG_PENDING,       /* in the binary, not in the history */
	MIG_APPLIED,
	MIG_BASELINE,      /* recorded as applied without running it */
	MIG_RUNNING,       /* a no-transaction part started and never finished */
	MIG_FAILED,        /* a no-transaction part failed: needs repair */
};
const char *migrate_state_name(enum migrate_state s);

/* One row of acmectl_migrations. */
struct migrate_record {
	int version;
	enum migrate_state state;
	char *name, *checksum, *applied_at, *applied_by, *tool_version, *error;
	long long execution_ms;
};

/* One version as the binary and the database see it together. */
struct migrate_entry {
	int version;
	const struct migration *file;       /* NULL: unknown to this binary */
	const struct migrate_record *rec;   /* NULL: pending */
	enum migrate_state state;
	bool drift;                         /* recorded checksum differs from the file */
	bool out_of_order;                  /* pending below the highest recorded version */
};

enum migrate_event_type {
	MIGRATE_EV_LOCK_WAIT,   /* another migrator holds the lock; holder says who */
	MIGRATE_EV_LOCKED,      /* we hold it now */
	MIGRATE_EV_START,       /* m, down */
	MIGRATE_EV_DONE,        /* m, down, ms */
};
struct migrate_event {
	enum migrate_event_type type;
	const struct migration *m;
	bool down;
	long long ms;
	const char *holder;     /* "pid 123 (acmectl migrate root@web1)" or NULL */
};
typedef void (*migrate_event_fn)(void *arg, const struct migrate_event *ev);

struct migrate {
	PGconn *db;                         /* not owned */
	struct migration_set set;           /* owned */
	bool history_exists;
	struct migrate_record *hist;        /* sorted by version */
	size_t nhist;
	struct migrate_entry *entries;      /* the union of files and history, by version */
	size_t nentries;
	bool locked;
	/* settings (migrate_init() fills defaults) */
	long long lock_timeout_ms;          /* waiting for the advisory lock */
	long long ddl_lock_timeout_ms;      /* lock_timeout per migration; 0 = none */
	char *environment;                  /* for audit_log */
	char *command;                      /* "migrate up", for application_name and audit */
	migrate_event_fn on_event;
	void *event_arg;
};

/* Load the migration set for cfg; db is borrowed and may be NULL for the
 * verbs that need no database (list, print). */
int migrate_init(struct migrate *mg, PGconn *db, const struct config *cfg, const char *command,
		 struct acme_err *err);
/* Releases the advisory lock if held. */
void migrate_release(struct migrate *mg);

/* (Re)read the history and rebuild entries. */
int migrate_read(struct migrate *mg, struct acme_err *err);

/* What stops `up`: versions recorded but unknown to this binary, pending
 * versions below the highest recorded one, checksum drift, failed or
 * interrupted no-transaction migrations. Returns 0, or -1 with ACME_E_DATA
 * and a message naming the versions and what to do. Needs migrate_read(). */
int migrate_check(const struct migrate *mg, struct acme_err *err);
/* What `verify` reports: unknown versions, drift, failed migrations (pending
 * ones, in or out of order, are not its business). */
int migrate_verify(const struct migrate *mg, struct acme_err *err);

/* Highest applied (or baseline) version, 0 when none; the head of the binary;
 * the number of pending versions. */
int migrate_current(const struct migrate *mg);
size_t migrate_pending(const struct migrate *mg, int to);

struct migrate_opts {
	int to;              /* up: last version to apply, 0 = head; down: ignored */
	int count;           /* down: how many to revert */
	bool dry_run;        /* fill the plan only */
	bool retry_failed;   /* up: run failed/interrupted migrations again */
};

struct migrate_result {
	const struct migration **plan;   /* what ran or would run, in order (owned array) */
	size_t nplan;
	size_t ndone;                    /* how many of the plan completed */
	bool nothing_to_do;
	int from, to;                    /* current version before and after */
	long long total_ms;
};
void migrate_result_release(struct migrate_result *res);

/* Apply pending migrations up to opts->to. Takes the lock (unless dry_run),
 * re-reads history, runs migrate_check() (ACME_E_DATA), then each migration
 * in turn. A failed migration is rolled back and reported with its statement
 * (ACME_E_FAILURE); a lock_timeout names the lock waited for (ACME_E_TEMPFAIL);
 * the advisory lock not acquired in time is ACME_E_TEMPFAIL naming the
 * holder. res is filled as far as it got. */
int migrate_up(struct migrate *mg, const struct migrate_opts *opts, struct migrate_result *res,
	       struct acme_err *err);
/* Revert the opts->count most recent versions (applied, baseline or failed),
 * each with its down part; ACME_E_FAILURE when one has no down part. */
int migrate_down(struct migrate *mg, const struct migrate_opts *opts, struct migrate_result *res,
		 struct acme_err *err);
/* Record every version up to `version` that is not applied as baseline
 * (failed ones included), without running anything. */
int migrate_baseline(struct migrate *mg, int version, struct migrate_result *res,
		     struct acme_err *err);

/* Migrate db to the head of the binary with default settings (the dev stack
 * uses this). *applied (may be NULL) gets how many ran. */
int migrate_to_head(PGconn *db, const struct config *cfg, size_t *applied, int *current,
		    struct acme_err *err);

/* For health checks: a read-only view of the schema against the binary:
 * the current and head versions, how many are pending, recorded but unknown
 * to this binary (the database is ahead), failed or interrupted, drifted. */
struct migrate_schema {
	int current, head;
	size_t pending, unknown, failed, drifted;
};
int migrate_schema_state(PGconn *db, const struct config *cfg, struct migrate_schema *st,
			 struct acme_err *err);

/* "user@host" of this process. Owned. */
char *migrate_whoami(void);

#endif
