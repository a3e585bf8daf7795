/* import.c — the `import` job: one CSV upload into products in one
 * transaction, fast, with bounded memory, live progress and exact counts.
 * See import.h for what one attempt does; this comment says why it does it
 * that way.
 *
 * Its own connection. The runner's connection (run->db) also carries the
 * runner's progress saves (job_save_progress) and is read from for the
 * upload's chunks. libpq cannot share a connection between a COPY in progress
 * or an asynchronous statement and another query: a PQexec during COPY IN
 * ends the COPY with an error, and one during an asynchronous statement
 * swallows its result. So the import's transaction runs on a second
 * connection opened with the same parameters (PQconninfo), and the upload is
 * read on run->db between COPY writes.
 *
 * The fence comes last. job_check_lease() locks the job's row FOR UPDATE;
 * taken at BEGIN it would hold that lock for the whole import, and the
 * runner's progress saves (an UPDATE of the same row on run->db) would wait
 * for our COMMIT while we wait for them: a deadlock PostgreSQL cannot see.
 * It also keeps the supervisor's reaper and `jobs cancel` from recording
 * anything for as long. Taken just before COMMIT it is what fencing needs:
 * the commit happens only while this attempt holds the lease, and the lock
 * keeps it so until the commit. Lease loss during the work is noticed by the
 * heartbeats of run->checkpoint().
 *
 * Never blocking the runner. Every statement that can take long (the lock,
 * the merge) is sent asynchronously and waited for in slices of
 * PROGRESS_MS, reporting progress between slices; progress is also a
 * checkpoint, so heartbeats continue, and a cancel (or a lost lease, or a
 * shutdown) cancels the statement and rolls back. After the fence nothing
 * reports progress (it would wait for the row we locked); the outbox row and
 * the COMMIT are quick. The session sets client_connection_check_interval so
 * that a backend whose worker was killed stops its statement, and releases
 * its locks, within seconds.
 *
 * Staging. Valid rows stream into a TEMP table (no WAL; dropped at commit)
 * with COPY in text format, escaped here, while csvimport parses the next
 * bytes: the parse runs in this process and the COPY in the server, on two
 * cores at once. sku_lower is a generated column there, computed by the same
 * lower() as products.sku_lower, so non-ASCII SKUs compare exactly as the
 * unique constraint does. Rejected rows go straight to import_errors in
 * batches (COPY too); a batch is written by pausing the rows' COPY.
 *
 * The merge. Duplicates are collapsed first (a hash aggregate of the keys
 * that occur twice; the last line wins), so every key is unique. Then, under
 * LOCK products IN SHARE ROW EXCLUSIVE MODE, which readers do not notice but
 * which makes other writers (and other imports) wait, nobody else can add or
 * remove a SKU. Two imports therefore take turns at the lock, never
 * deadlock, and the catalog is that of one of the two orders.
 *
 * One join records in each staged row the id of the product with its SKU,
 * if any, and whether the row changes it. Changed products are updated in id
 * order through the primary key (the heap is visited page after page), and
 * the rows without a product are added with a plain INSERT, in file order
 * (sorting them by SKU first measured slower). INSERT ... ON CONFLICT would
 * check and speculatively insert every row; under the lock that work is
 * useless, and measured slower for updates too. No statement reads products
 * while it grows: an anti-join (INSERT ... WHERE NOT EXISTS) planned on an
 * empty catalog became a nested loop that rescanned the table it was filling,
 * quadratic (minutes for 500,000 rows). A big change ends with ANALYZE
 * products, so what runs next does not plan for the catalog as it was.
 * Columns the file does not have are left alone on update and take their
 * defaults on insert.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/audit.h"
#include "core/call.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/db.h"
#include "core/failpoint.h"
#include "core/import.h"
#include "core/job.h"
#include "core/outbox.h"
#include "core/strbuf.h"
#include "core/upload.h"
#include "core/xalloc.h"

#define PROGRESS_MS      200          /* progress at least this often: 5 a second */
#define FEED_SLICE       (64 * 1024)  /* bytes given to csvimport at a time */
#define COPY_FLUSH       (256 * 1024) /* COPY data sent in pieces of about this size */
#define REJECT_FLUSH_ROWS 2000        /* rejected rows written in batches of ... */
#define REJECT_FLUSH_BYTES (512 * 1024)  /* ... or this many bytes */
#define ROWS_PER_CLOCK   256          /* look at the clock every this many rows */

/* ---- parameters and payload ------------------------------------------------ */

int import_parse_delimiter(const char *text, char *out, struct acme_err *err)
{
	if (strcmp(text, "tab") == 0 || strcmp(text, "\\t") == 0 || strcmp(text, "\t") == 0) {
		*out = '\t';
		return 0;
	}
	if (strlen(text) != 1 || (unsigned char)text[0] >= 0x80 || (unsigned char)text[0] < 0x20)
		return acme_err_set(err, ACME_E_USAGE, "--delimiter \"%s\": give one ASCII character "
				    "such as ; or |, or \"tab\"", text);
	*out = text[0];
	return 0;
}

int import_params_add_map(struct import_params *p, const char *spec, struct acme_err *err)
{
	const char *eq = strrchr(spec, '=');
	if (!eq || eq == spec || !eq[1])
		return acme_err_set(err, ACME_E_USAGE, "--map \"%s\": expected HEADER=FIELD, e.g. "
				    "--map 'Item Number=sku' (FIELD: %s, or - to ignore the column)",
				    spec, PRODUCT_FIELD_NAMES);
	if (p->nmaps == IMPORT_MAPS_MAX)
		return acme_err_set(err, ACME_E_USAGE, "--map: at most %d mappings", IMPORT_MAPS_MAX);
	p->maps[p->nmaps].header = xstrndup(spec, (size_t)(eq - spec));
	p->maps[p->nmaps].field = xstrdup(eq + 1);
	p->nmaps++;
	return 0;
}

static const char *const method_names[] = { "auto", "merge", "rebuild" };

const char *import_method_name(enum import_method m)
{
	return method_names[m];
}

int import_parse_method(const char *text, enum import_method *out, struct acme_err *err)
{
	for (int m = 0; m < 3; m++)
		if (strcmp(text, method_names[m]) == 0) {
			*out = (enum import_method)m;
			return 0;
		}
	return acme_err_set(err, ACME_E_USAGE, "import: --method must be auto, merge or rebuild, "
			    "not \"%s\"", text);
}

int import_params_check(const struct import_params *p, struct acme_err *err)
{
	struct csvimport_opts o = { .delimiter = p->delimiter, .maps = p->maps, .nmaps = p->nmaps,
				    .strict = p->strict };
	struct csvimport *ci = csvimport_new(&o, err);
	if (!ci)
		return -1;
	csvimport_free(ci);
	return 0;
}

json_t *import_payload_new(const struct import_params *p)
{
	char delim[2] = { p->delimiter ? p->delimiter : ',', '\0' };
	json_t *maps = json_array();
	for (size_t i = 0; i < p->nmaps; i++)
		json_array_append_new(maps, json_pack("{s:s, s:s}", "header", p->maps[i].header,
						      "field", p->maps[i].field));
	json_t *o = json_pack("{s:I, s:b, s:b, s:s, s:o}", "upload_id", (json_int_t)p->upload_id,
			      "strict", p->strict, "dry_run", p->dry_run, "delimiter", delim, "map", maps);
	if (p->smoke)
		json_object_set_new(o, "smoke", json_true());
	if (p->method != IMPORT_METHOD_AUTO)
		json_object_set_new(o, "method", json_string(import_method_name(p->method)));
	return o;
}

static int bad_payload(struct acme_err *err, const char *key, const char *want)
{
	return acme_err_set(err, ACME_E_DATA, "import: payload \"%s\" must be %s", key, want);
}

int import_payload_parse(json_t *payload, struct import_params *p, struct acme_err *err)
{
	const char *key;
	json_t *v;
	bool have_upload = false;

	memset(p, 0, sizeof(*p));
	json_object_foreach(payload, key, v) {
		if (strcmp(key, "upload_id") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) <= 0)
				return bad_payload(err, key, "a positive whole number");
			p->upload_id = json_integer_value(v);
			have_upload = true;
		} else if (strcmp(key, "strict") == 0 || strcmp(key, "dry_run") == 0 ||
			   strcmp(key, "smoke") == 0) {
			if (!json_is_boolean(v))
				return bad_payload(err, key, "true or false");
			*(strcmp(key, "strict") == 0 ? &p->strict : key[0] == 'd' ? &p->dry_run :
			  &p->smoke) = json_is_true(v);
		} else if (strcmp(key, "delimiter") == 0) {
			if (!json_is_string(v) || json_string_length(v) != 1)
				return bad_payload(err, key, "a string of one character");
			p->delimiter = json_string_value(v)[0];
		} else if (strcmp(key, "method") == 0) {
			struct acme_err ignored;
			if (!json_is_string(v) ||
			    import_parse_method(json_string_value(v), &p->method, &ignored) < 0)
				return bad_payload(err, key, "\"auto\", \"merge\" or \"rebuild\"");
		} else if (strcmp(key, "map") == 0) {
			size_t i;
			json_t *m;
			if (!json_is_array(v) || json_array_size(v) > IMPORT_MAPS_MAX)
				return bad_payload(err, key, "an array of at most 64 {header, field} objects");
			json_array_foreach(v, i, m) {
				const char *h = json_string_value(json_object_get(m, "header"));
				const char *f = json_string_value(json_object_get(m, "field"));
				if (!h || !f)
					return bad_payload(err, key, "an array of {\"header\": text, \"field\": text}");
				p->maps[p->nmaps].header = xstrdup(h);
				p->maps[p->nmaps].field = xstrdup(f);
				p->nmaps++;
			}
		} else {
			return acme_err_set(err, ACME_E_DATA, "import: unknown payload key \"%s\" (known: "
					    "upload_id, strict, dry_run, smoke, delimiter, map, method)", key);
		}
	}
	if (!have_upload)
		return bad_payload(err, "upload_id", "given");
	if (import_params_check(p, err) < 0) {
		err->code = ACME_E_DATA;
		return acme_err_prefix(err, "import: payload");
	}
	return 0;
}

void import_params_release(struct import_params *p)
{
	for (size_t i = 0; i < p->nmaps; i++) {
		free((char *)p->maps[i].header);
		free((char *)p->maps[i].field);
	}
	memset(p, 0, sizeof(*p));
}

/* ---- the attempt's state ------------------------------------------------------- */

struct imp {
	struct job_run *run;
	struct import_params params;
	struct upload_info upload;
	PGconn *conn;              /* the import's own connection (owned) */
	bool in_tx;
	bool copying;              /* COPY import_rows is open */
	struct csvimport *ci;
	struct strbuf rows;        /* COPY text of valid rows not yet sent */
	struct strbuf rejects;     /* COPY text of rejected rows not yet written */
	size_t nrejects_buffered;
	char job_id_escaped[QUEUE_ID_MAX * 2 + 1];

	/* counts */
	long long accepted, rejected, recorded, duplicates, inserted, updated, unchanged;
	unsigned present;          /* PRODUCT_F() bits of the columns the file has */
	json_t *unknown;           /* unknown column names */
	long header_line;
	char *header;              /* the header as CSV, for `jobs errors --rows` (owned) */

	/* progress */
	const char *phase, *step;
	unsigned long long bytes;
	long long started, last_report, parse_ms, merge_ms;
	unsigned row_tick;
	bool merged_counts;        /* inserted/updated known */
	json_t *steps;             /* step -> milliseconds, for the result */
	enum import_method method; /* what changed products: MERGE or REBUILD */
	char *method_note;         /* why a rebuild was not done (owned), or NULL */
	char sqlstate[6];          /* of the last statement that failed */
	long long step_started;
};

/* The merge's steps, timed for the result (benchmarks read them). */
static void step(struct imp *im, const char *name)
{
	long long now = clock_mono_ms();
	if (im->step && im->step_started)
		json_object_set_new(im->steps, im->step, json_integer(now - im->step_started));
	im->step = name;
	im->step_started = now;
}

static json_t *progress_json(struct imp *im)
{
	json_t *p = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "phase", im->phase,
			      "bytes", (json_int_t)im->bytes,
			      "bytes_total", (json_int_t)im->upload.size,
			      "rows", (json_int_t)(im->accepted + im->rejected),
			      "accepted", (json_int_t)im->accepted,
			      "rejected", (json_int_t)im->rejected,
			      "elapsed_ms", (json_int_t)(clock_mono_ms() - im->started));
	if (im->step)
		json_object_set_new(p, "step", json_string(im->step));
	if (im->duplicates >= 0 && strcmp(im->phase, "parse") != 0)
		json_object_set_new(p, "duplicates", json_integer(im->duplicates));
	return p;
}

/* Progress (and so a checkpoint) when PROGRESS_MS passed, or always with force. */
static int report(struct imp *im, bool force, struct acme_err *err)
{
	long long now = clock_mono_ms();
	if (!force && now - im->last_report < PROGRESS_MS)
		return 0;
	im->last_report = now;
	json_t *p = progress_json(im);
	int rc = im->run->progress(im->run, p, err);
	json_decref(p);
	return rc;
}

/* ---- statements on the import connection ------------------------------------------ */

static int conn_error(struct imp *im, PGresult *res, const char *what, struct acme_err *err)
{
	if (PQstatus(im->conn) != CONNECTION_OK) {
		acme_err_set(err, ACME_E_UNAVAILABLE, "import: %s: postgresql connection lost: %s", what,
			     PQerrorMessage(im->conn));
		err->transient = true;
		return -1;
	}
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	snprintf(im->sqlstate, sizeof(im->sqlstate), "%s", db_sqlstate(res));
	return acme_err_set(err, ACME_E_FAILURE, "import: %s: postgresql: %s (SQLSTATE %s)", what,
			    primary ? primary : PQerrorMessage(im->conn), db_sqlstate(res));
}

/* Cancel what the import connection runs and wait for the server's answer,
 * discarding it, so the connection can roll back. */
static void cancel_statement(struct imp *im)
{
	db_cancel(im->conn);
	PGresult *r;
	while ((r = PQgetResult(im->conn)) != NULL)
		PQclear(r);
}

struct run_tick {
	struct imp *im;
	bool stopped;              /* the checkpoint failed: its error is the call's */
};

/* Between slices of a running statement: progress when it is due, and the
 * wait until it is due next. */
static long run_sql_tick(void *arg, struct acme_err *err)
{
	struct run_tick *t = arg;
	if (report(t->im, false, err) < 0) {
		t->stopped = true;
		return -1;
	}
	long wait = PROGRESS_MS - (long)(clock_mono_ms() - t->im->last_report);
	return wait < 1 ? 1 : wait;
}

/* Run one statement without blocking the job (see the top comment): a call
 * (core/call.h) without a deadline. With watch, progress is reported while
 * it runs and a failed checkpoint cancels it; without, only the connection
 * is watched. Returns the result (owned) or NULL with err. */
static PGresult *run_sql(struct imp *im, bool watch, const char *what, const char *sql,
			 int nparams, const char *const *params, struct acme_err *err)
{
	struct run_tick t = { im, false };
	struct pgcall_opts o = { .cancel_wait_ms = -1, .raw = true };
	if (watch) {
		o.tick = run_sql_tick;
		o.tick_arg = &t;
	}
	PGresult *res = pgcall_run(im->conn, sql, nparams, params, &o, err);
	if (!res) {
		if (!t.stopped && err->code == ACME_E_UNAVAILABLE)
			conn_error(im, NULL, what, err);
		return NULL;
	}
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		conn_error(im, res, what, err);
		PQclear(res);
		return NULL;
	}
	return res;
}

static int run_cmd(struct imp *im, bool watch, const char *what, const char *sql, int nparams,
		   const char *const *params, long long *tuples, struct acme_err *err)
{
	PGresult *res = run_sql(im, watch, what, sql, nparams, params, err);
	if (!res)
		return -1;
	if (tuples)
		*tuples = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

/* ---- COPY ------------------------------------------------------------------------- */

/* Append s[0..n) to a COPY text field: backslash, tab, LF and CR escaped. */
static void copy_text(struct strbuf *sb, const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	while (p < end) {
		const char *q = p;
		while (q < end && *q != '\\' && *q != '\t' && *q != '\n' && *q != '\r')
			q++;
		strbuf_add(sb, p, (size_t)(q - p));
		if (q == end)
			break;
		strbuf_add(sb, *q == '\\' ? "\\\\" : *q == '\t' ? "\\t" : *q == '\n' ? "\\n" : "\\r", 2);
		p = q + 1;
	}
}

static void copy_long(struct strbuf *sb, long long v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%lld", v);
	strbuf_add(sb, buf, (size_t)n);
}

static int copy_begin(struct imp *im, const char *sql, struct acme_err *err)
{
	PGresult *res = PQexec(im->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		conn_error(im, res, "starting COPY", err);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

static int copy_send(struct imp *im, struct strbuf *sb, struct acme_err *err)
{
	if (sb->len && PQputCopyData(im->conn, sb->buf, (int)sb->len) != 1)
		return conn_error(im, NULL, "sending rows", err);
	strbuf_reset(sb);
	return 0;
}

/* End the COPY in progress: errmsg NULL to finish it, else to abort it. */
static int copy_end(struct imp *im, const char *errmsg, struct acme_err *err)
{
	PGresult *res, *last = NULL;
	int rc = 0;

	if (PQputCopyEnd(im->conn, errmsg) != 1)
		return errmsg ? -1 : conn_error(im, NULL, "ending COPY", err);
	while ((res = PQgetResult(im->conn)) != NULL) {
		PQclear(last);
		last = res;
	}
	if (!errmsg && PQresultStatus(last) != PGRES_COMMAND_OK)
		rc = conn_error(im, last, "COPY", err);
	PQclear(last);
	return rc;
}

static const char copy_rows_sql[] =
	"COPY import_rows (line, sku, name, description, active, price) FROM STDIN WITH (FREEZE)";
static const char copy_rejects_sql[] =
	"COPY import_errors (job_id, line, column_name, message, raw) FROM STDIN";

static int rows_resume(struct imp *im, struct acme_err *err)
{
	if (copy_begin(im, copy_rows_sql, err) < 0)
		return -1;
	im->copying = true;
	return 0;
}

static int rows_pause(struct imp *im, struct acme_err *err)
{
	if (copy_send(im, &im->rows, err) < 0)
		return -1;
	im->copying = false;
	return copy_end(im, NULL, err);
}

/* Write the buffered rejected rows: pause the rows' COPY, COPY them into
 * import_errors, resume. */
static int flush_rejects(struct imp *im, struct acme_err *err)
{
	bool was_copying = im->copying;

	if (im->nrejects_buffered == 0)
		return 0;
	if (was_copying && rows_pause(im, err) < 0)
		return -1;
	if (copy_begin(im, copy_rejects_sql, err) < 0 || copy_send(im, &im->rejects, err) < 0 ||
	    copy_end(im, NULL, err) < 0)
		return -1;
	im->nrejects_buffered = 0;
	return was_copying ? rows_resume(im, err) : 0;
}

/* ---- csvimport callbacks ------------------------------------------------------------- */

static int on_header(void *user, const struct csvimport_header *hdr, struct acme_err *err)
{
	struct imp *im = user;
	(void)err;
	im->present = hdr->present;
	im->header_line = hdr->line;
	free(im->header);
	im->header = xstrdup(hdr->record);
	for (size_t i = 0; i < hdr->nunknown; i++)
		json_array_append_new(im->unknown, json_string(hdr->unknown[i]));
	return 0;
}

static int on_row(void *user, const struct product_row *row, long line, struct acme_err *err)
{
	struct imp *im = user;
	struct strbuf *sb = &im->rows;

	im->accepted++;
	if (im->params.strict && im->rejected > 0)
		return 0;      /* refused anyway: only the rejected rows matter now */
	copy_long(sb, line);
	strbuf_addch(sb, '\t');
	copy_text(sb, row->sku, row->sku_len);
	strbuf_addch(sb, '\t');
	copy_text(sb, row->name, row->name_len);
	strbuf_addch(sb, '\t');
	if (row->description)
		copy_text(sb, row->description, row->description_len);
	else
		strbuf_add(sb, "\\N", 2);
	strbuf_add(sb, row->active ? "\tt\t" : "\tf\t", 3);
	if (row->price)
		strbuf_adds(sb, row->price);
	else
		strbuf_add(sb, "\\N", 2);
	strbuf_addch(sb, '\n');
	if (sb->len >= COPY_FLUSH && copy_send(im, sb, err) < 0)
		return -1;
	if (++im->row_tick % ROWS_PER_CLOCK == 0)
		return report(im, false, err);
	return 0;
}

static int on_reject(void *user, const struct csvimport_reject *rej, struct acme_err *err)
{
	static const char hex[] = "0123456789abcdef";
	struct imp *im = user;
	struct strbuf *sb = &im->rejects;

	im->rejected++;
	if (im->recorded >= IMPORT_ERRORS_MAX)
		return 0;
	im->recorded++;
	strbuf_adds(sb, im->job_id_escaped);
	strbuf_addch(sb, '\t');
	copy_long(sb, rej->line);
	strbuf_addch(sb, '\t');
	if (rej->column)
		copy_text(sb, rej->column, strlen(rej->column));
	else
		strbuf_add(sb, "\\N", 2);
	strbuf_addch(sb, '\t');
	copy_text(sb, rej->message, strlen(rej->message));
	strbuf_add(sb, "\t\\\\x", 4);     /* bytea in hex: \x..., its backslash escaped */
	/* the whole record as the file had it (jobs errors shows an excerpt of
	 * it, --rows writes it back); the excerpt only for one too long to keep */
	const unsigned char *raw = (const unsigned char *)(rej->record ? rej->record : rej->excerpt);
	size_t rawlen = rej->record ? rej->record_len : strlen(rej->excerpt);
	for (const unsigned char *p = raw; p < raw + rawlen; p++) {
		char h[2] = { hex[*p >> 4], hex[*p & 15] };
		strbuf_add(sb, h, 2);
	}
	strbuf_addch(sb, '\n');
	if (++im->nrejects_buffered >= REJECT_FLUSH_ROWS || sb->len >= REJECT_FLUSH_BYTES)
		return flush_rejects(im, err);
	return 0;
}

/* ---- staging ------------------------------------------------------------------------------ */

static PGconn *clone_connection(PGconn *db, const char *app, struct acme_err *err)
{
	PGconn *c = db_connect_like(db, app, err);
	if (!c)
		acme_err_prefix(err, "import");
	return c;
}

static const char create_rows_sql[] =
	"CREATE TEMP TABLE import_rows ("
	" line bigint NOT NULL,"
	" sku text NOT NULL,"
	" name text NOT NULL,"
	" description text,"
	" active boolean NOT NULL,"
	" price numeric(12,2),"
	" sku_lower text COLLATE \"C\" GENERATED ALWAYS AS (lower(sku)) STORED"
	") ON COMMIT DROP";

/* BEGIN, the staging table, and no rejected rows of an earlier attempt. */
static int begin_import(struct imp *im, struct acme_err *err)
{
	const char *id[1] = { im->run->job->id };
	PGresult *r;

	/* session settings; a server without one of them just goes without */
	r = PQexec(im->conn, "SET client_connection_check_interval = '2s'");
	PQclear(r);
	r = PQexec(im->conn, "SET work_mem = '64MB'");
	PQclear(r);
	if (run_cmd(im, false, "BEGIN", "BEGIN", 0, NULL, NULL, err) < 0)
		return -1;
	im->in_tx = true;
	if (run_cmd(im, false, "staging table", create_rows_sql, 0, NULL, NULL, err) < 0 ||
	    run_cmd(im, true, "import_errors", "DELETE FROM import_errors WHERE job_id = $1", 1, id,
		    NULL, err) < 0)
		return -1;
	return rows_resume(im, err);
}

/* Read the upload chunk by chunk through csvimport into the staging table. */
static int stage(struct imp *im, struct acme_err *err)
{
	struct csvimport_opts o = {
		.delimiter = im->params.delimiter, .maps = im->params.maps, .nmaps = im->params.nmaps,
		.strict = im->params.strict, .on_header = on_header, .on_row = on_row,
		.on_reject = on_reject, .user = im,
	};
	unsigned char *data = NULL;
	size_t len = 0;
	long long seq = 0;
	int rc = -1;

	im->ci = csvimport_new(&o, err);
	if (!im->ci)
		return -1;
	for (;; seq++) {
		int got = upload_read_chunk(im->run->db, im->upload.id, seq, &data, &len, err);
		if (got < 0)
			goto out;
		if (got == 0)
			break;
		for (size_t off = 0; off < len; off += FEED_SLICE) {
			size_t n = len - off < FEED_SLICE ? len - off : FEED_SLICE;
			if (csvimport_feed(im->ci, data + off, n, err) < 0)
				goto out;
			im->bytes += n;
			if (report(im, false, err) < 0)
				goto out;
		}
		free(data);
		data = NULL;
	}
	if ((long long)im->bytes != im->upload.size || seq != im->upload.chunks) {
		acme_err_set(err, ACME_E_FAILURE, "import: upload %lld: read %llu bytes in %lld chunks, "
			     "expected %lld bytes in %lld", im->upload.id, im->bytes, seq,
			     im->upload.size, im->upload.chunks);
		goto out;
	}
	if (csvimport_finish(im->ci, err) < 0)
		goto out;
	if (rows_pause(im, err) < 0 || flush_rejects(im, err) < 0)
		goto out;
	if (im->accepted + im->rejected == 0) {
		acme_err_set(err, ACME_E_DATA, "line %ld: no data rows: the file has a header but no "
			     "product after it", im->header_line);
		goto out;
	}
	rc = 0;
out:
	free(data);
	return rc;
}

/* ---- merge ------------------------------------------------------------------------------ */

/* "p.sku, p.name, p.description" for the fields the file has (sku and name
 * always); with set, "sku = s.sku, ...". The column names are ours. */
static void field_list(struct strbuf *sb, unsigned present, const char *fmt_first,
		       const char *fmt, const char *sep)
{
	bool first = true;
	for (int f = 0; f < PRODUCT__NFIELDS; f++) {
		if (!(present & PRODUCT_F(f)) && !(PRODUCT_F_REQUIRED & PRODUCT_F(f)))
			continue;
		const char *name = product_field_name((enum product_field)f);
		if (!first)
			strbuf_adds(sb, sep);
		strbuf_addf(sb, first ? fmt_first : fmt, name, name);
		first = false;
	}
}

static char *distinct_sql(unsigned present)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "(");
	field_list(&sb, present, "p.%s", "p.%s", ", ");
	strbuf_adds(&sb, ") IS DISTINCT FROM (");
	field_list(&sb, present, "s.%s", "s.%s", ", ");
	strbuf_adds(&sb, ")");
	return strbuf_detach(&sb, NULL);
}

static const char dedup_sql[] =
	"DELETE FROM import_rows r USING ("
	"  SELECT sku_lower, max(line) AS keep FROM import_rows"
	"  GROUP BY sku_lower HAVING count(*) > 1) d"
	" WHERE r.sku_lower = d.sku_lower AND r.line < d.keep";

static const char insert_sql[] =
	"INSERT INTO products (sku, name, description, active, price)"
	" SELECT sku, name, description, active, price FROM import_rows s"
	" WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.sku_lower = s.sku_lower)";


/* ---- rebuild: the new catalog beside the old one, swapped in at commit -------------------
 *
 * Nearly all of a big merge's time is index maintenance: each changed row
 * adds its trigrams to the two GIN indexes one row at a time (measured: 31 of
 * 36 s for 500,000 new rows; the rows themselves copy in 2). Building an
 * index over rows already in place is a sort and one write, several times
 * cheaper. So an import that writes a large share of the catalog writes the
 * whole new catalog into a table beside products, without indexes; builds
 * every index of products on it in bulk (maintenance_work_mem raised for the
 * transaction); analyzes it; and then, in the same transaction, drops
 * products and renames the new table, its sequence and its indexes to the
 * old names. Until that moment readers read the old catalog (the import holds
 * SHARE ROW EXCLUSIVE, which blocks writers only); the swap takes ACCESS
 * EXCLUSIVE for the few catalog updates before COMMIT, and readers then see
 * the new catalog all at once. Ids, created_at and updated_at of unchanged
 * rows are carried over, so the result is the merge's, row for row.
 *
 * A swap replaces the table's identity (its OID): whatever hangs on that
 * and cannot be copied with certainty (triggers, views, policies, foreign
 * keys to it, publications, column privileges, a column this version does
 * not know) makes the import merge instead, saying why in its result. What
 * can be copied is: indexes with their names, constraints, defaults, the
 * identity and its sequence's position, grants, owner, comments, storage
 * parameters, statistics targets, the clustered index. Numbers:
 * docs/notes/import-rebuild.md. */

#define REBUILD_TABLE      "products_import_next"
#define REBUILD_MIN_ROWS   20000    /* auto: an import writing fewer rows merges */
#define REBUILD_SHARE      0.5      /* auto: ... or writing less than this share of the catalog */
#define REBUILD_MEMORY     "256MB"  /* maintenance_work_mem for the index builds */

/* NULL when products can be rebuilt, else why not. $1: the new table's name. */
static const char rebuild_check_sql[] =
	"SELECT n.nspname, c.relname, CASE"
	" WHEN c.relkind <> 'r' OR c.relispartition THEN 'products is not a plain table'"
	" WHEN NOT pg_has_role(c.relowner, 'MEMBER') THEN 'the importing role does not own products'"
	" WHEN c.relpersistence <> 'p' THEN 'products is not a permanent table'"
	" WHEN c.reltablespace <> 0 OR EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic"
	"   ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid AND ic.reltablespace <> 0)"
	"   THEN 'products or one of its indexes is in a tablespace of its own'"
	" WHEN c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = c.oid)"
	"   THEN 'products has row-level security'"
	" WHEN c.relreplident <> 'd' THEN 'products has a replica identity of its own'"
	" WHEN EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid OR inhparent = c.oid)"
	"   THEN 'products takes part in inheritance'"
	" WHEN EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = c.oid) THEN 'products has triggers'"
	" WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = c.oid)"
	"   THEN 'a foreign key references products'"
	" WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = c.oid AND (contype NOT IN"
	"   ('p', 'u', 'c') OR condeferrable)) THEN 'products has a constraint a rebuild cannot copy'"
	" WHEN EXISTS (SELECT 1 FROM pg_publication_rel WHERE prrelid = c.oid)"
	"   OR EXISTS (SELECT 1 FROM pg_publication WHERE puballtables)"
	"   THEN 'products is published for logical replication'"
	" WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0"
	"   AND attacl IS NOT NULL) THEN 'products has column privileges'"
	" WHEN (SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid ="
	"   c.oid AND attnum > 0 AND NOT attisdropped) IS DISTINCT FROM ARRAY['id', 'sku',"
	"   'sku_lower', 'name', 'description', 'price', 'active', 'created_at', 'updated_at']"
	"   THEN 'products has columns this version does not know'"
	" WHEN EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid"
	"   WHERE i.indrelid = c.oid AND (NOT (i.indisvalid AND i.indisready AND i.indislive)"
	"   OR left(pg_get_indexdef(i.indexrelid), length(format('CREATE %sINDEX %I ON %I.%I ',"
	"   CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, ic.relname, n.nspname, c.relname))"
	"   + 6) <> format('CREATE %sINDEX %I ON %I.%I USING ', CASE WHEN i.indisunique THEN"
	"   'UNIQUE ' ELSE '' END, ic.relname, n.nspname, c.relname)))"
	"   THEN 'products has an index a rebuild cannot copy'"
	/* anything else that hangs on the table or its row type: views, functions,
	 * extended statistics, sequences owned by a column, columns of its type */
	" WHEN EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass"
	"   AND d.refobjid = c.oid AND NOT ("
	"     (d.classid = 'pg_class'::regclass AND EXISTS (SELECT 1 FROM pg_class x WHERE"
	"       x.oid = d.objid AND (x.relkind = 'i' OR x.relkind = 't'"
	"       OR (x.relkind = 'S' AND d.deptype = 'i'))))"
	"     OR (d.classid = 'pg_constraint'::regclass AND EXISTS (SELECT 1 FROM pg_constraint x"
	"       WHERE x.oid = d.objid AND x.conrelid = c.oid))"
	"     OR (d.classid = 'pg_attrdef'::regclass AND EXISTS (SELECT 1 FROM pg_attrdef x"
	"       WHERE x.oid = d.objid AND x.adrelid = c.oid))"
	"     OR (d.classid = 'pg_type'::regclass AND d.objid = c.reltype)))"
	"   OR EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_type'::regclass"
	"   AND d.refobjid = c.reltype AND NOT (d.classid = 'pg_type'::regclass AND d.deptype = 'i'))"
	"   OR EXISTS (SELECT 1 FROM pg_depend d JOIN pg_type t ON t.oid = c.reltype"
	"   WHERE d.refclassid = 'pg_type'::regclass AND d.refobjid = t.typarray)"
	"   THEN 'other objects depend on products (a view, a function, statistics, ...)'"
	" WHEN to_regclass(format('%I.%I', n.nspname, $1::text)) IS NOT NULL"
	"   THEN format('a relation named %s already exists', $1::text)"
	" END FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	" WHERE c.oid = 'products'::regclass";

/* The statements that make the new table products, once it is loaded: its
 * indexes ("index"), and after the old table is dropped, the names, grants
 * and the rest ("swap"). Identifiers come from the catalogs, quoted by
 * format(). $1: the new table's name. */
static const char rebuild_plan_sql[] =
	"WITH t AS (SELECT c.oid, n.nspname, c.relname, c.relowner, c.relacl, c.reloptions,"
	"  to_regclass(format('%I.%I', n.nspname, $1::text)) AS next"
	"  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	"  WHERE c.oid = 'products'::regclass),"
	" ix AS (SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def,"
	"  CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END AS uniq, i.indisclustered AS clustered,"
	"  con.conname, con.contype, obj_description(i.indexrelid, 'pg_class') AS comment,"
	"  $1::text || '_' || row_number() OVER (ORDER BY ic.relname) AS tmp"
	"  FROM t JOIN pg_index i ON i.indrelid = t.oid JOIN pg_class ic ON ic.oid = i.indexrelid"
	"  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = t.oid"
	"  AND con.contype IN ('p', 'u')),"
	" seq AS (SELECT (SELECT s.relname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid"
	"  WHERE d.classid = 'pg_class'::regclass AND d.refobjid = t.oid AND d.deptype = 'i'"
	"  AND s.relkind = 'S') AS old, (SELECT s.relname FROM pg_depend d JOIN pg_class s"
	"  ON s.oid = d.objid WHERE d.classid = 'pg_class'::regclass AND d.refobjid = t.next"
	"  AND d.deptype = 'i' AND s.relkind = 'S') AS new FROM t)"
	"SELECT phase, sql FROM ("
	" SELECT 1 AS o, 'index' AS phase, format('CREATE %sINDEX %I ON %I.%I %s', uniq, tmp,"
	"  nspname, $1::text, substr(def, length(format('CREATE %sINDEX %I ON %I.%I ', uniq, name,"
	"  nspname, relname)) + 1)) AS sql FROM t, ix"
	" UNION ALL SELECT 2, 'swap', format('ALTER TABLE %I.%I RENAME TO %I', nspname, $1::text,"
	"  relname) FROM t"
	" UNION ALL SELECT 3, 'swap', format('ALTER SEQUENCE %I.%I RENAME TO %I', nspname, seq.new,"
	"  seq.old) FROM t, seq WHERE seq.old IS NOT NULL AND seq.new IS NOT NULL"
	"  AND seq.old <> seq.new"
	" UNION ALL SELECT 4, 'swap', CASE WHEN conname IS NOT NULL"
	"  THEN format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s USING INDEX %I', nspname, relname,"
	"  conname, CASE contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, tmp)"
	"  ELSE format('ALTER INDEX %I.%I RENAME TO %I', nspname, tmp, name) END FROM t, ix"
	" UNION ALL SELECT 5, 'swap', format('COMMENT ON INDEX %I.%I IS %L', nspname, name, comment)"
	"  FROM t, ix WHERE comment IS NOT NULL"
	" UNION ALL SELECT 6, 'swap', format('ALTER TABLE %I.%I CLUSTER ON %I', nspname, relname,"
	"  name) FROM t, ix WHERE clustered"
	" UNION ALL SELECT 7, 'swap', format('COMMENT ON TABLE %I.%I IS %L', nspname, relname,"
	"  obj_description(oid, 'pg_class')) FROM t WHERE obj_description(oid, 'pg_class') IS NOT NULL"
	" UNION ALL SELECT 8, 'swap', format('ALTER TABLE %I.%I SET (%s)', nspname, relname,"
	"  array_to_string(reloptions, ', ')) FROM t WHERE reloptions IS NOT NULL"
	" UNION ALL SELECT 9, 'swap', format('ALTER TABLE %I.%I ALTER COLUMN %I SET STATISTICS %s',"
	"  nspname, relname, a.attname, a.attstattarget) FROM t JOIN pg_attribute a"
	"  ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget >= 0"
	" UNION ALL SELECT 10, 'swap', format('ALTER TABLE %I.%I OWNER TO %I', nspname, relname,"
	"  pg_get_userbyid(relowner)) FROM t WHERE relowner <> (SELECT oid FROM pg_roles"
	"  WHERE rolname = current_user)"
	" UNION ALL SELECT 11, 'swap', format('GRANT %s ON %I.%I TO %s%s', a.privilege_type,"
	"  nspname, relname, CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident("
	"  pg_get_userbyid(a.grantee)) END, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION'"
	"  ELSE '' END) FROM t, aclexplode(t.relacl) a WHERE a.grantee <> t.relowner"
	") s ORDER BY o";

/* SQLSTATE classes of what a rebuild's DDL can meet in an unusual database
 * (a name taken, a privilege missing, an object in the way): the rebuild is
 * rolled back to its savepoint and the import merges instead. */
static bool rebuild_can_fall_back(const char *sqlstate)
{
	static const char *const classes[] = { "0A", "2B", "42", "55", NULL };
	for (int i = 0; classes[i]; i++)
		if (strncmp(sqlstate, classes[i], 2) == 0)
			return true;
	return false;
}

/* The SELECT list that carries a product into the new table: the file's
 * value when the row changed, else the product's. */
static void rebuild_columns(struct strbuf *sb, unsigned present)
{
	strbuf_adds(sb, "p.id");
	for (int f = 0; f < PRODUCT__NFIELDS; f++) {
		const char *name = product_field_name((enum product_field)f);
		if ((present & PRODUCT_F(f)) || (PRODUCT_F_REQUIRED & PRODUCT_F(f)))
			strbuf_addf(sb, ", CASE WHEN c.changed THEN s.%s ELSE p.%s END", name, name);
		else
			strbuf_addf(sb, ", p.%s", name);
	}
	strbuf_adds(sb, ", p.created_at, CASE WHEN c.changed THEN now() ELSE p.updated_at END");
}

static void rebuild_fields(struct strbuf *sb)
{
	for (int f = 0; f < PRODUCT__NFIELDS; f++)
		strbuf_addf(sb, "%s%s", f ? ", " : "", product_field_name((enum product_field)f));
}

/* keep: the products the file matched (each must be carried over); add: the
 * new ones. 1 rebuilt and swapped, 0 not (im->method_note says why; nothing
 * changed), -1 error. */
static int rebuild(struct imp *im, long long keep, long long add, const char *distinct,
		   struct acme_err *err)
{
	const char *p1[1] = { REBUILD_TABLE };
	struct strbuf sql = STRBUF_INIT;
	PGresult *res = NULL, *plan = NULL;
	char *nsp = NULL, *rel = NULL, *next = NULL;
	long long n = 0;
	int rc = -1;

	step(im, "rebuild-check");
	res = run_sql(im, true, "checking products for a rebuild", rebuild_check_sql, 1, p1, err);
	if (!res)
		goto out;
	if (!PQgetisnull(res, 0, 2)) {
		im->method_note = xstrdup(PQgetvalue(res, 0, 2));
		rc = 0;
		goto out;
	}
	nsp = PQescapeIdentifier(im->conn, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
	rel = PQescapeIdentifier(im->conn, PQgetvalue(res, 0, 1), strlen(PQgetvalue(res, 0, 1)));
	next = PQescapeIdentifier(im->conn, REBUILD_TABLE, strlen(REBUILD_TABLE));
	if (!nsp || !rel || !next) {
		acme_err_set(err, ACME_E_FAILURE, "import: quoting a name: %s", PQerrorMessage(im->conn));
		goto out;
	}
	const char *p2[2] = { REBUILD_TABLE, PQgetvalue(res, 0, 0) };
	if (run_cmd(im, false, "rebuild", "SAVEPOINT acme_rebuild", 0, NULL, NULL, err) < 0)
		goto out;

	step(im, "rebuild-copy");
	strbuf_addf(&sql, "CREATE TABLE %s.%s (LIKE %s.%s INCLUDING DEFAULTS INCLUDING GENERATED"
		    " INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS"
		    " INCLUDING COMPRESSION)", nsp, next, nsp, rel);
	if (run_cmd(im, true, "creating the new catalog", sql.buf, 0, NULL, NULL, err) < 0 ||
	    run_cmd(im, true, "carrying the id sequence over", "SELECT setval(pg_get_serial_sequence("
		    "format('%I.%I', $2::text, $1::text), 'id'), coalesce(pg_sequence_last_value(o),"
		    " s.seqstart), pg_sequence_last_value(o) IS NOT NULL) FROM (SELECT"
		    " pg_get_serial_sequence('products', 'id')::regclass AS o) x"
		    " JOIN pg_sequence s ON s.seqrelid = x.o", 2, p2, NULL, err) < 0)
		goto fall_back;
	strbuf_reset(&sql);
	strbuf_addf(&sql, "INSERT INTO %s.%s (id, ", nsp, next);
	rebuild_fields(&sql);
	strbuf_adds(&sql, ", created_at, updated_at) OVERRIDING SYSTEM VALUE SELECT ");
	rebuild_columns(&sql, im->present);
	strbuf_addf(&sql, " FROM %s.%s p LEFT JOIN import_rows s ON s.sku_lower = p.sku_lower,"
		    " LATERAL (SELECT s.line IS NOT NULL AND %s AS changed) c", nsp, rel, distinct);
	if (run_cmd(im, true, "copying the catalog", sql.buf, 0, NULL, &n, err) < 0)
		goto fall_back;
	if (n < keep) {     /* every matched product, and the others */
		acme_err_set(err, ACME_E_FAILURE, "import: copied %lld products into the new catalog, "
			     "expected at least %lld; rolled back", n, keep);
		goto out;
	}
	strbuf_reset(&sql);
	strbuf_addf(&sql, "INSERT INTO %s.%s (", nsp, next);
	rebuild_fields(&sql);
	strbuf_adds(&sql, ") SELECT ");
	rebuild_fields(&sql);
	strbuf_addf(&sql, " FROM import_rows s WHERE NOT EXISTS (SELECT 1 FROM %s.%s p"
		    " WHERE p.sku_lower = s.sku_lower)", nsp, rel);
	if (add > 0 && run_cmd(im, true, "adding the new products", sql.buf, 0, NULL, &n, err) < 0)
		goto fall_back;
	im->inserted = add > 0 ? n : 0;
	if (im->inserted != add) {
		acme_err_set(err, ACME_E_FAILURE, "import: inserted %lld products, expected %lld; "
			     "rolled back", im->inserted, add);
		goto out;
	}

	step(im, "rebuild-indexes");
	if (run_cmd(im, false, "rebuild", "SET LOCAL maintenance_work_mem = '" REBUILD_MEMORY "'",
		    0, NULL, NULL, err) < 0)
		goto fall_back;
	plan = run_sql(im, true, "planning the rebuild", rebuild_plan_sql, 1, p1, err);
	if (!plan)
		goto fall_back;
	for (int i = 0; i < PQntuples(plan); i++)
		if (strcmp(PQgetvalue(plan, i, 0), "index") == 0 &&
		    run_cmd(im, true, "building an index", PQgetvalue(plan, i, 1), 0, NULL, NULL, err) < 0)
			goto fall_back;
	step(im, "statistics");
	strbuf_reset(&sql);
	strbuf_addf(&sql, "ANALYZE %s.%s", nsp, next);
	if (run_cmd(im, true, "analyzing the new catalog", sql.buf, 0, NULL, NULL, err) < 0)
		goto fall_back;
	if (FAILPOINT(IMPORT_BEFORE_SWAP, err) < 0)
		goto out;

	/* the swap: readers wait from here to COMMIT, a few catalog updates */
	step(im, "swap");
	strbuf_reset(&sql);
	strbuf_addf(&sql, "LOCK TABLE %s.%s IN ACCESS EXCLUSIVE MODE", nsp, rel);
	if (run_cmd(im, true, "locking products for the swap", sql.buf, 0, NULL, NULL, err) < 0)
		goto fall_back;
	strbuf_reset(&sql);
	strbuf_addf(&sql, "DROP TABLE %s.%s", nsp, rel);
	if (run_cmd(im, true, "dropping the old catalog", sql.buf, 0, NULL, NULL, err) < 0)
		goto fall_back;
	for (int i = 0; i < PQntuples(plan); i++)
		if (strcmp(PQgetvalue(plan, i, 0), "swap") == 0 &&
		    run_cmd(im, true, "swapping the new catalog in", PQgetvalue(plan, i, 1), 0, NULL, NULL,
			    err) < 0)
			goto fall_back;
	if (run_cmd(im, false, "rebuild", "RELEASE SAVEPOINT acme_rebuild", 0, NULL, NULL, err) < 0)
		goto out;
	rc = 1;
	goto out;
fall_back:
	/* a statement the database refused for a reason of its own: undo the
	 * rebuild and merge; anything else (the connection, a cancel) fails */
	if (PQstatus(im->conn) == CONNECTION_OK && PQtransactionStatus(im->conn) == PQTRANS_INERROR &&
	    rebuild_can_fall_back(im->sqlstate)) {
		struct acme_err e2 = { 0 };
		if (run_cmd(im, false, "rebuild", "ROLLBACK TO SAVEPOINT acme_rebuild", 0, NULL, NULL,
			    &e2) == 0) {
			im->method_note = xasprintf("the rebuild failed, merged instead: %s", err->msg);
			im->inserted = 0;
			rc = 0;
		}
	}
out:
	PQclear(res);
	PQclear(plan);
	PQfreemem(nsp);
	PQfreemem(rel);
	PQfreemem(next);
	strbuf_release(&sql);
	return rc;
}

/* auto: does this import write enough of the catalog for a rebuild to pay? */
static int rebuild_pays(struct imp *im, long long writes, long long add, bool *pays,
			struct acme_err *err)
{
	*pays = false;
	if (writes < REBUILD_MIN_ROWS)
		return 0;
	PGresult *res = run_sql(im, false, "reading the catalog's size", "SELECT greatest(reltuples, 0)"
				"::bigint FROM pg_class WHERE oid = 'products'::regclass", 0, NULL, err);
	if (!res)
		return -1;
	long long rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	*pays = (double)writes >= REBUILD_SHARE * (double)(rows + add);
	return 0;
}

static int merge(struct imp *im, struct acme_err *err)
{
	char *distinct = distinct_sql(im->present);
	struct strbuf sql = STRBUF_INIT;
	PGresult *res = NULL;
	long long distinct_rows, matched = 0, changed = 0;
	int rc = -1;

	im->phase = "merge";
	step(im, "analyze");
	if (run_cmd(im, true, "analyzing the staged rows", "ANALYZE import_rows", 0, NULL, NULL, err) < 0)
		goto out;
	step(im, "duplicates");
	if (run_cmd(im, true, "collapsing duplicate SKUs", dedup_sql, 0, NULL, &im->duplicates, err) < 0)
		goto out;
	distinct_rows = im->accepted - im->duplicates;

	if (im->params.dry_run) {
		step(im, "count");
		strbuf_addf(&sql, "SELECT count(*) FILTER (WHERE p.id IS NULL),"
			    " count(*) FILTER (WHERE p.id IS NOT NULL AND %s)"
			    " FROM import_rows s LEFT JOIN products p ON p.sku_lower = s.sku_lower",
			    distinct);
		res = run_sql(im, true, "counting changes", sql.buf, 0, NULL, err);
		if (!res)
			goto out;
		im->inserted = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		im->updated = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	} else {
		step(im, "lock");
		if (run_cmd(im, true, "locking products", "LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE",
			    0, NULL, NULL, err) < 0)
			goto out;
		/* one read-only join: how many staged rows have a product, and
		 * how many of those change it (an unchanged re-import then writes
		 * nothing; measured 0.9 s for 500,000 rows, against 2.9 s for
		 * recording the match in the staging table) */
		step(im, "match");
		strbuf_addf(&sql, "SELECT count(p.id), count(*) FILTER (WHERE p.id IS NOT NULL AND %s)"
			    " FROM import_rows s LEFT JOIN products p ON p.sku_lower = s.sku_lower",
			    distinct);
		res = run_sql(im, true, "matching existing SKUs", sql.buf, 0, NULL, err);
		if (!res)
			goto out;
		matched = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		changed = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		PQclear(res);
		res = NULL;
		strbuf_reset(&sql);
		long long add = distinct_rows - matched;
		bool big = im->params.method == IMPORT_METHOD_REBUILD;
		im->method = IMPORT_METHOD_MERGE;
		if (im->params.method == IMPORT_METHOD_AUTO &&
		    rebuild_pays(im, changed + add, add, &big, err) < 0)
			goto out;
		if (big && changed + add > 0) {
			int r = rebuild(im, matched, add, distinct, err);
			if (r < 0)
				goto out;
			if (r > 0) {
				im->method = IMPORT_METHOD_REBUILD;
				im->updated = changed;
				goto counted;
			}
		} else if (im->params.method == IMPORT_METHOD_REBUILD) {
			im->method_note = xstrdup("nothing to change");
		}
		if (changed > 0) {
			step(im, "update");
			strbuf_adds(&sql, "UPDATE products p SET ");
			field_list(&sql, im->present, "%s = s.%s", "%s = s.%s", ", ");
			strbuf_addf(&sql, ", updated_at = now() FROM import_rows s"
				    " WHERE p.sku_lower = s.sku_lower AND %s", distinct);
			if (run_cmd(im, true, "updating products", sql.buf, 0, NULL, &im->updated, err) < 0)
				goto out;
			if (im->updated != changed) {
				acme_err_set(err, ACME_E_FAILURE, "import: updated %lld products, expected "
					     "%lld; rolled back", im->updated, changed);
				goto out;
			}
		}
		/* The anti-join reads products while the statement fills it: a
		 * nested loop planned on an empty, analyzed catalog would rescan
		 * it once per row (quadratic; t3000). A hash or merge anti-join
		 * reads it once. */
		step(im, "insert");
		if (matched < distinct_rows &&
		    (run_cmd(im, true, "planning the insert", "SET LOCAL enable_nestloop = off", 0, NULL,
			     NULL, err) < 0 ||
		     run_cmd(im, true, "inserting products", insert_sql, 0, NULL, &im->inserted, err) < 0 ||
		     run_cmd(im, true, "planning", "RESET enable_nestloop", 0, NULL, NULL, err) < 0))
			goto out;
		if (im->inserted != distinct_rows - matched) {
			acme_err_set(err, ACME_E_FAILURE, "import: inserted %lld products, expected %lld; "
				     "rolled back", im->inserted, distinct_rows - matched);
			goto out;
		}
		/* A big change leaves the planner's statistics of products
		 * stale until autovacuum comes by: a catalog analyzed empty
		 * and now holding 500,000 rows plans the next import and every
		 * query as if it were empty. Refresh them in the same
		 * transaction, past autovacuum's own threshold (10%). */
		char nchanged[24];
		snprintf(nchanged, sizeof(nchanged), "%lld", im->inserted + im->updated);
		const char *p1[1] = { nchanged };
		res = run_sql(im, true, "reading the catalog's size", "SELECT $1::bigint >= greatest(1000,"
			      " (SELECT reltuples FROM pg_class WHERE oid = 'products'::regclass) / 10)",
			      1, p1, err);
		if (!res)
			goto out;
		bool stale = PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
		res = NULL;
		if (stale) {
			step(im, "statistics");
			if (run_cmd(im, true, "analyzing products", "ANALYZE products", 0, NULL, NULL, err) < 0)
				goto out;
		}
	}
counted:
	im->unchanged = distinct_rows - im->inserted - im->updated;
	im->merged_counts = true;
	rc = 0;
out:
	PQclear(res);
	strbuf_release(&sql);
	free(distinct);
	return rc;
}

/* ---- the end: counts, events, fence, commit ---------------------------------------------- */

static json_t *counts_json(struct imp *im)
{
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "job_id", im->run->job->id,
			      "upload_id", (json_int_t)im->upload.id,
			      "rows", (json_int_t)(im->accepted + im->rejected),
			      "inserted", (json_int_t)im->inserted,
			      "updated", (json_int_t)im->updated,
			      "unchanged", (json_int_t)im->unchanged,
			      "rejected", (json_int_t)im->rejected,
			      "duplicates", (json_int_t)(im->duplicates > 0 ? im->duplicates : 0));
	json_object_set_new(o, "errors_recorded", json_integer(im->recorded));
	json_object_set_new(o, "dry_run", json_boolean(im->params.dry_run));
	if (!im->params.dry_run && im->merged_counts)
		json_object_set_new(o, "method", json_string(import_method_name(im->method)));
	if (im->method_note)
		json_object_set_new(o, "method_note", json_string(im->method_note));
	json_object_set_new(o, "strict", json_boolean(im->params.strict));
	json_object_set_new(o, "unknown_columns", json_incref(im->unknown));
	json_object_set_new(o, "bytes", json_integer((json_int_t)im->bytes));
	json_object_set_new(o, "sha256", json_string(im->upload.sha256));
	/* what `jobs errors --rows` writes above the rejected records */
	char delim[2] = { im->params.delimiter ? im->params.delimiter : ',', '\0' };
	json_object_set_new(o, "header", im->header ? json_string(im->header) : json_null());
	json_object_set_new(o, "delimiter", json_string(delim));
	return o;
}

/* The import's audit row (issue 11), in the transaction job_commit commits,
 * so it exists exactly when the import's outcome does: under whoever queued
 * the job (its row's created_by, recorded by `acmectl import`), not the
 * worker's user; the worker's environment (the database it changes); the
 * file's name as given, size and sha256; the counts and the outcome. */
static int audit_import(struct imp *im, PGconn *db, const char *outcome, struct acme_err *err)
{
	const struct config *cfg = config_current();
	const char *env = cfg ? config_get(cfg, CFG_ENV) : NULL;
	char upload[24];
	snprintf(upload, sizeof(upload), "%lld", im->params.upload_id);
	const char *p[2] = { im->run->job->id, upload };
	PGresult *res = db_exec(db, err, "SELECT (SELECT created_by FROM jobs WHERE id = $1), "
				"u.filename, u.size, u.sha256 FROM (SELECT 1) one LEFT JOIN uploads u "
				"ON u.id = $2::bigint", 2, p);
	if (!res)
		return acme_err_prefix(err, "audit log");
	json_t *d = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:b}",
			      "job_id", im->run->job->id, "outcome", outcome,
			      "inserted", (json_int_t)im->inserted,
			      "updated", (json_int_t)im->updated,
			      "unchanged", (json_int_t)im->unchanged,
			      "rejected", (json_int_t)im->rejected,
			      "duplicates", (json_int_t)(im->duplicates > 0 ? im->duplicates : 0),
			      "strict", im->params.strict, "dry_run", im->params.dry_run);
	json_object_set_new(d, "file", PQgetisnull(res, 0, 1) ? json_null() :
			    json_string(PQgetvalue(res, 0, 1)));
	json_object_set_new(d, "size", PQgetisnull(res, 0, 2) ? json_null() :
			    json_integer(strtoll(PQgetvalue(res, 0, 2), NULL, 10)));
	json_object_set_new(d, "sha256", PQgetisnull(res, 0, 3) ? json_null() :
			    json_string(PQgetvalue(res, 0, 3)));
	json_object_set_new(d, "queued_by", PQgetisnull(res, 0, 0) ? json_null() :
			    json_string(PQgetvalue(res, 0, 0)));
	char *text = json_dumps(d, JSON_COMPACT);
	int rc = audit_add_as(db, PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0),
			      env ? env : "-", "import", im->run->job->id, text, err);
	free(text);
	json_decref(d);
	PQclear(res);
	return rc;
}

/* The fence, the job's outcome and COMMIT, in the import's transaction
 * (job_commit): the products, the outbox event and the record that the job
 * ended commit together, so a later attempt (after a lost ack, or a reap that
 * raced this commit) finds the job finished and does nothing twice. A cancel
 * that arrived meanwhile rolls back instead of succeeding. */
static int fence_and_commit(struct imp *im, PGconn *db, enum job_state state, json_t *result,
			    const char *error, struct acme_err *err)
{
	struct job_run *run = im->run;
	char *text = result ? json_dumps(result, JSON_COMPACT) : NULL;

	int rc = FAILPOINT(IMPORT_BEFORE_COMMIT, err);
	if (rc == 0)
		rc = audit_import(im, db, state == JOB_SUCCEEDED ? "succeeded" : "refused", err);
	if (rc == 0)
		rc = job_commit(db, run->job, state, text, error, err);
	free(text);
	if (rc < 0) {
		if (PQstatus(db) != CONNECTION_OK)
			err->code = ACME_E_UNAVAILABLE;
		return -1;
	}
	im->in_tx = false;
	return FAILPOINT(IMPORT_AFTER_COMMIT, err);
}

static void rollback(struct imp *im)
{
	if (!im->conn)
		return;
	if (im->copying) {
		struct acme_err ignored;
		copy_end(im, "import stopped", &ignored);
		im->copying = false;
	}
	if (PQisBusy(im->conn))
		cancel_statement(im);
	if (im->in_tx) {
		db_rollback(im->conn);
		im->in_tx = false;
	}
}

/* A smoke test's events carry the mark the dispatcher skips (core/smoke.h). */
static void mark_smoke(const struct imp *im, json_t *ev)
{
	if (im->params.smoke)
		json_object_set_new(ev, OUTBOX_SMOKE_KEY, json_true());
}

/* After a rollback, when this attempt was the job's last word: the reason in
 * import_errors and an import.failed event, in a short transaction on the
 * runner's connection. Nothing is written when the lease is gone (another
 * attempt owns the job) or the worker is shutting down (the job runs again). */
static void record_failure(struct imp *im, const struct acme_err *why)
{
	struct job_run *run = im->run;
	PGconn *db = run->db;
	struct acme_err e = { 0 };
	bool cancel = false, data = why->code == ACME_E_DATA;
	const char *id[1] = { run->job->id };

	if (!db || PQstatus(db) != CONNECTION_OK)
		return;
	if (db_begin(db, NULL, &e) < 0)
		return;
	if (job_check_lease(db, run->job->id, run->job->token, &cancel, &e) < 0)
		goto rollback;
	bool final = run->permanent || cancel || (why->code != ACME_E_REFUSED &&
						 run->job->attempts >= run->job->max_attempts);
	if (!final)
		goto rollback;
	enum job_state outcome = cancel ? JOB_CANCELLED : run->permanent ? JOB_FAILED : JOB_DEAD;
	if (data) {
		/* a refusal of the whole file: its reason is its only error row */
		long line = 0;
		const char *msg = why->msg;
		if (strncmp(msg, "line ", 5) == 0) {
			char *end;
			line = strtol(msg + 5, &end, 10);
			if (end[0] == ':' && end[1] == ' ')
				msg = end + 2;
		}
		char linetext[24];
		snprintf(linetext, sizeof(linetext), "%ld", line);
		const char *p[3] = { run->job->id, linetext, msg };
		if (db_cmd(db, &e, "DELETE FROM import_errors WHERE job_id = $1", 1, id) < 0 ||
		    db_cmd(db, &e, "INSERT INTO import_errors (job_id, line, message) VALUES ($1, $2, $3)",
			   3, p) < 0)
			goto rollback;
	}
	json_t *ev = json_pack("{s:s, s:I, s:s, s:b, s:I, s:I}", "job_id", run->job->id,
			       "upload_id", (json_int_t)im->params.upload_id, "error", why->msg,
			       "cancelled", cancel, "rows", (json_int_t)(im->accepted + im->rejected),
			       "rejected", (json_int_t)im->rejected);
	mark_smoke(im, ev);
	int rc = outbox_add(db, "import.failed", ev, NULL, &e);
	json_decref(ev);
	if (rc < 0 || audit_import(im, db, job_state_name(outcome), &e) < 0)
		goto rollback;
	if (job_commit(db, run->job, outcome, NULL, why->msg, &e) == 0)
		return;
rollback:;
	db_rollback(db);
}

/* --strict and some rows were rejected: keep the rejected rows, touch no
 * product, say so with an import.failed event, commit. 0 / -1. */
static int refuse(struct imp *im, struct acme_err *err)
{
	json_t *ev = counts_json(im);
	json_object_set_new(ev, "error", json_string("rows rejected under --strict"));
	mark_smoke(im, ev);
	int rc = outbox_add(im->conn, "import.failed", ev, NULL, err);
	json_decref(ev);
	if (rc < 0)
		return -1;
	char *why = xasprintf("refused under --strict: %lld row%s rejected, nothing applied; see "
			      "'acmectl jobs errors %s'", im->rejected, im->rejected == 1 ? "" : "s",
			      im->run->job->id);
	json_t *counts = counts_json(im);   /* kept with the failure: jobs errors --rows */
	rc = fence_and_commit(im, im->conn, JOB_FAILED, counts, why, err);
	json_decref(counts);
	free(why);
	return rc;
}

int import_run(struct job_run *run, struct acme_err *err)
{
	struct imp im;
	char app[QUEUE_ID_MAX + 32];
	int rc = -1;

	memset(&im, 0, sizeof(im));
	im.run = run;
	im.phase = "start";
	im.duplicates = -1;
	im.started = im.last_report = clock_mono_ms();
	im.unknown = json_array();
	im.steps = json_object();
	strbuf_init(&im.rows, 0);
	strbuf_init(&im.rejects, 0);

	if (!run->db) {
		run->permanent = true;
		acme_err_set(err, ACME_E_FAILURE, "import: the job needs a database connection");
		goto out;
	}
	if (import_payload_parse(run->payload, &im.params, err) < 0) {
		run->permanent = true;
		goto fail;
	}
	if (upload_get(run->db, im.params.upload_id, &im.upload, err) < 0) {
		if (err->code == ACME_E_NOT_FOUND)
			run->permanent = true;
		goto fail;
	}
	{
		struct strbuf esc = STRBUF_INIT;
		copy_text(&esc, run->job->id, strlen(run->job->id));
		snprintf(im.job_id_escaped, sizeof(im.job_id_escaped), "%s", esc.buf);
		strbuf_release(&esc);
	}
	snprintf(app, sizeof(app), "acmectl import %s", run->job->id);
	im.conn = clone_connection(run->db, app, err);
	if (!im.conn || begin_import(&im, err) < 0)
		goto fail;

	im.phase = "parse";
	if (report(&im, true, err) < 0 || stage(&im, err) < 0)
		goto fail;
	im.parse_ms = clock_mono_ms() - im.started;
	if (im.params.strict && im.rejected > 0) {
		if (refuse(&im, err) < 0)
			goto fail;
		/* committed: nothing to roll back, nothing more to record */
		run->permanent = true;
		acme_err_set(err, ACME_E_DATA, "refused under --strict: %lld row%s rejected, nothing "
			     "applied; see 'acmectl jobs errors %s'", im.rejected,
			     im.rejected == 1 ? "" : "s", run->job->id);
		goto failed;
	}
	if (FAILPOINT(IMPORT_BEFORE_MERGE, err) < 0 || merge(&im, err) < 0)
		goto fail;
	im.merge_ms = clock_mono_ms() - im.started - im.parse_ms;

	step(&im, "commit");
	if (report(&im, true, err) < 0)
		goto fail;
	json_t *counts = counts_json(&im);
	json_t *ev = json_deep_copy(counts);
	mark_smoke(&im, ev);
	int orc = im.params.dry_run ? 0 : outbox_add(im.conn, "import.completed", ev, NULL, err);
	json_decref(ev);
	if (orc < 0) {
		json_decref(counts);
		goto fail;
	}
	/* the result is recorded by the commit, so it is complete before it:
	 * the commit step's time is what it took until then */
	step(&im, NULL);
	json_object_set_new(counts, "steps_ms", json_incref(im.steps));
	json_object_set_new(counts, "duration_ms", json_integer(clock_mono_ms() - im.started));
	json_object_set_new(counts, "parse_ms", json_integer(im.parse_ms));
	json_object_set_new(counts, "merge_ms", json_integer(im.merge_ms));
	run->result = counts;
	if (fence_and_commit(&im, im.conn, JOB_SUCCEEDED, counts, NULL, err) < 0)
		goto fail;
	im.phase = "done";
	{
		struct acme_err ignored;
		report(&im, true, &ignored);   /* committed: a cancel now changes nothing */
	}
	rc = 0;
	goto out;
fail:
	if (err->code == ACME_E_DATA)
		run->permanent = true;
	rollback(&im);
	record_failure(&im, err);
failed:
	{
		struct acme_err ignored;
		json_t *p = progress_json(&im);
		json_object_set_new(p, "phase", json_string("failed"));
		json_object_set_new(p, "error_code", json_string(acme_code_name(err->code)));
		run->progress(run, p, &ignored);
		json_decref(p);
	}
out:
	rollback(&im);
	csvimport_free(im.ci);
	if (im.conn)
		PQfinish(im.conn);
	strbuf_release(&im.rows);
	strbuf_release(&im.rejects);
	json_decref(im.unknown);
	json_decref(im.steps);
	free(im.method_note);
	free(im.header);
	import_params_release(&im.params);
	return rc;
}

/* ---- jobs errors -------------------------------------------------------------------------- */

long long import_errors_each(PGconn *db, const char *job_id,
			     int (*fn)(void *user, const struct import_error_row *row, struct acme_err *err),
			     void *user, struct acme_err *err)
{
	const char *params[1] = { job_id };
	long long n = 0;
	PGresult *res;
	bool failed = false;

	if (!PQsendQueryParams(db, "SELECT line, column_name, message, raw FROM import_errors"
			       " WHERE job_id = $1 ORDER BY line, id", 1, NULL, params, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(db))
		return db_error(db, NULL, err, "import errors");
	while ((res = PQgetResult(db)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE && !failed) {
			size_t rawlen = 0;
			unsigned char *raw = PQgetisnull(res, 0, 3) ? NULL :
				PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 3), &rawlen);
			char excerpt[CSVIMPORT_EXCERPT_MAX + 1];
			struct import_error_row row = {
				strtoll(PQgetvalue(res, 0, 0), NULL, 10),
				PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1),
				PQgetvalue(res, 0, 2),
				csvimport_excerpt(raw ? (const char *)raw : "", raw ? rawlen : 0, excerpt),
				(const char *)raw, rawlen,
			};
			if (fn(user, &row, err) < 0) {
				failed = true;
				db_cancel(db);
			}
			n++;
			PQfreemem(raw);
		} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && !failed) {
			db_error(db, res, err, "import errors");
			failed = true;
		}
		PQclear(res);
	}
	return failed ? -1 : n;
}
