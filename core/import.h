/* import.h — the `import` job type: a CSV file staged in PostgreSQL
 * (core/upload.h) is read back chunk by chunk, parsed and validated by
 * core/csvimport.h, copied into a TEMP staging table and merged into
 * products, all in one transaction (DESIGN.md section 7, issue 5).
 *
 * The CLI (cmd/import.c) stages the file, builds the payload with
 * import_payload_new() and enqueues a job of type IMPORT_JOB_TYPE on queue
 * IMPORT_QUEUE; a worker runs import_run(), registered in core/jobtypes.c.
 *
 * What one attempt does (import.c explains why):
 *
 *   BEGIN on a connection of its own
 *   COPY valid rows into TEMP import_rows (no WAL), rejected rows into
 *     import_errors, while reading the upload 1 MiB at a time
 *   collapse in-file duplicates (same lower(sku); the last line wins)
 *   LOCK products IN SHARE ROW EXCLUSIVE MODE (readers go on, writers wait)
 *   match: note in each staged row the id of the product with its SKU
 *   UPDATE those products whose values differ
 *   INSERT the rows without a product
 *   ANALYZE products when the change passes autovacuum's threshold
 *   outbox import.completed with the counts
 *   job_check_lease() fence, COMMIT
 *
 * A failure or a cancel rolls everything back; a final failure then records
 * its reason in import_errors and an import.failed event in a second short
 * transaction. --strict with rejected rows commits the rejected rows and an
 * import.failed event but never touches products; --dry-run counts what the
 * merge would do with SELECTs and commits only the rejected rows.
 *
 * The result (also of a --strict refusal) carries the file's header
 * re-written as CSV and its delimiter ("header", "delimiter"): with the
 * recorded records that is what `jobs errors --rows` writes back.
 *
 * Counts (the job's result and the event): rows (data records read),
 * rejected, duplicates (rows collapsed into a later row with the same SKU),
 * inserted, updated, unchanged; rows = rejected + duplicates + inserted +
 * updated + unchanged.
 */
#ifndef ACME_IMPORT_H
#define ACME_IMPORT_H
#include <jansson.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/csvimport.h"
#include "core/err.h"
#include "core/jobtypes.h"

#define IMPORT_JOB_TYPE      "import"
#define IMPORT_QUEUE         "import"
#define IMPORT_MAPS_MAX      64        /* --map options per import */
#define IMPORT_ERRORS_MAX    100000    /* rejected rows recorded per import; all are counted */

/* How an import changes the products table (see "merge or rebuild" in
 * core/import.c and docs/notes/import-rebuild.md):
 *   MERGE    update and insert row by row in the live table: every changed
 *            row pays its index maintenance (the trigram GIN indexes most);
 *   REBUILD  write the new catalog into a table beside it without indexes,
 *            build every index in bulk, swap it in at commit; readers keep
 *            the old catalog until then. Refused (and merged) when the table
 *            has something a swap would lose (triggers, views, grants on
 *            columns, ...): the result says why;
 *   AUTO     rebuild when the import writes a large share of the catalog. */
enum import_method { IMPORT_METHOD_AUTO, IMPORT_METHOD_MERGE, IMPORT_METHOD_REBUILD };
const char *import_method_name(enum import_method m);
/* "auto", "merge" or "rebuild". 0 / -1 (ACME_E_USAGE). */
int import_parse_method(const char *text, enum import_method *out, struct acme_err *err);

/* What to import: the job's payload. Strings are owned (import_params_release). */
struct import_params {
	long long upload_id;
	bool strict;              /* refuse everything when a row is rejected or a column unknown */
	bool dry_run;             /* count, change no product */
	bool smoke;               /* a smoke test's import (core/smoke.h): its events are
				   * marked, and the dispatcher sends them nowhere */
	char delimiter;           /* 0 = ',' */
	enum import_method method; /* how the products table is changed */
	struct csvimport_map maps[IMPORT_MAPS_MAX];
	size_t nmaps;
};

/* Parse "--delimiter" text: one ASCII character, or "tab" / "\t". 0 / -1 (ACME_E_USAGE). */
int import_parse_delimiter(const char *text, char *out, struct acme_err *err);
/* Parse one "--map HEADER=FIELD" into p (split at the last '='). 0 / -1 (ACME_E_USAGE). */
int import_params_add_map(struct import_params *p, const char *spec, struct acme_err *err);
/* Check delimiter and mappings as the worker will (csvimport_new). 0 / -1 (ACME_E_USAGE). */
int import_params_check(const struct import_params *p, struct acme_err *err);

/* The payload: {"upload_id": N, "strict": b, "dry_run": b, "delimiter": ",",
 * "map": [{"header": H, "field": F}, ...]}, and "method": "merge"|"rebuild" when
 * not auto. New reference. */
json_t *import_payload_new(const struct import_params *p);
/* The reverse; -1 with ACME_E_DATA naming the bad key. p is released by the caller. */
int import_payload_parse(json_t *payload, struct import_params *p, struct acme_err *err);
void import_params_release(struct import_params *p);

/* The job handler (see core/jobtypes.h for the contract). */
int import_run(struct job_run *run, struct acme_err *err);

/* One recorded rejected row. Strings are valid UTF-8, valid during the callback;
 * column is NULL for whole-record problems; line 0 means the file as a whole. */
struct import_error_row {
	long long line;
	const char *column;
	const char *message;
	const char *record;       /* an excerpt of the record as CSV (csvimport_excerpt), or "" */
	const char *raw;          /* the whole record as the file had it (csvimport_reject.record;
	                             for rows recorded before it existed, or too long to keep, the
	                             excerpt), raw bytes; NULL for the file as a whole */
	size_t raw_len;
};

/* Stream the recorded rejected rows of a job in line order, one callback per
 * row (fn returns 0, or -1 with err to stop). Returns the number of rows, or -1. */
long long import_errors_each(PGconn *db, const char *job_id,
			     int (*fn)(void *user, const struct import_error_row *row, struct acme_err *err),
			     void *user, struct acme_err *err);

/* ---- submitting an import (core/importsubmit.c) ---- */

/* What a front end submits: the CSV on fd (read to its end, not closed), in
 * encoding enc, named what in messages; params as parsed from the user
 * (upload_id is filled in). progress, when set, is told the bytes staged. */
struct import_submit {
	int fd;
	int enc;                       /* enum recode_encoding */
	const char *what;
	struct import_params *params;
	void (*progress)(void *arg, long long bytes);
	void *progress_arg;
	/* results */
	long long upload_id, size;
	char sha256[65];
	char *job_id, *queue;          /* owned (import_submit_release) */
	bool existed;                  /* a job with this id existed already */
	/* the file is not valid UTF-8 (rows with such bytes will be rejected):
	 * where, and whether it looks like Windows-1252 */
	bool invalid_utf8, cp1252;
	long long bad_line;
	unsigned bad_byte;
	/* the upload could not be linked to its job (retention only) */
	char link_warning[256];
};

/* Stage the file into uploads as UTF-8, then record and queue the import job
 * (jobs row, then Redis), as `acmectl import` does and the TUI's import
 * screen will. db and rc are the caller's connections; prefix the Redis key
 * prefix. 0 with the results filled, or -1 with err set (nothing queued; a
 * staged upload without a job is cleaned up by retention). */
int import_submit(PGconn *db, redisContext *rc, const char *prefix, struct import_submit *s,
		  struct acme_err *err);
void import_submit_release(struct import_submit *s);

#endif
