/* products.c — the SQL behind `acmectl products`; see products.h.
 *
 * Filters. Each condition is a fixed SQL fragment with "$n" placeholders;
 * user text only ever travels as a parameter. Substring matches are ILIKE
 * with %, _ and \ escaped so they match literally; they are served by the
 * pg_trgm GIN indexes on name and description. SKU matches go through the
 * sku_lower column (lower(sku), collation "C", unique): equality and prefix
 * LIKE both become btree range scans because the "C" collation compares
 * bytes. --query is "SKU starts with, or name or description contains": each
 * arm has an index, so PostgreSQL can OR three bitmap scans; a SKU substring
 * would have none and scan the table.
 *
 * Pagination. Pages are read by keyset: ORDER BY key, id with a condition
 * (key, id) > (last key, last id), which a btree on (key, id) turns into an
 * index range, so page 10,000 costs what page 1 costs and concurrent inserts
 * never shift rows between pages. The order is always "key ASC NULLS LAST,
 * id ASC" or its exact reverse "key DESC NULLS FIRST, id DESC", which are the
 * two directions of the same index. price is the one nullable key: a row
 * comparison never matches NULL, so past a non-NULL price (ascending) the
 * NULL group is a second index scan joined by UNION ALL; both branches are
 * limited and the union re-sorted, which costs two small index reads. The
 * cursor is base64url of a JSON array [sort, desc, key text, id]; its sort
 * must match the request so a cursor cannot silently mean something else.
 *
 * Totals. count(*) of a large match is as slow as the scan it needs, so we
 * count at most PRODUCTS_COUNT_CAP + 1 rows, within PRODUCTS_COUNT_BUDGET_MS;
 * above the cap, or when counting would take longer, the total is the
 * planner's estimate (pg_class.reltuples without a filter, EXPLAIN's row
 * estimate with one) and says so.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/audit.h"
#include "core/db.h"
#include "core/outbox.h"
#include "core/products.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

/* A cursor's timestamp key keeps microseconds, so a page never splits rows
 * of one millisecond; what is printed is the millisecond text (clock.h). */
#define TS_TEXT(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* The columns of a products_row, in its order. */
#define ROW_COLS "id::text, sku, name, description, price::text, active, " \
	CLOCK_SQL_TEXT("created_at") ", " CLOCK_SQL_TEXT("updated_at")
#define ROW_NCOLS 8
/* The raw columns the paginated query's inner branches hand to the outer one. */
#define RAW_COLS "id, sku, sku_lower, name, description, price, active, created_at, updated_at"

#define MAX_PARAMS 24

/* ---- a statement under construction --------------------------------------------- */

struct sqlq {
	struct strbuf sql;
	const char *params[MAX_PARAMS];
	char *owned[MAX_PARAMS];
	int n;
};

static void sqlq_init(struct sqlq *q)
{
	memset(q, 0, sizeof(*q));
	strbuf_init(&q->sql, 0);
}

static void sqlq_release(struct sqlq *q)
{
	for (int i = 0; i < q->n; i++)
		free(q->owned[i]);
	strbuf_release(&q->sql);
}

/* Append "$n" for value (NULL is SQL NULL), followed by cast (may be ""). If
 * own, value is freed with q. */
static void sqlq_param(struct sqlq *q, const char *value, bool own, const char *cast)
{
	if (q->n >= MAX_PARAMS)
		abort();   /* a programming error: the fragments are fixed */
	q->params[q->n] = value;
	q->owned[q->n] = own ? (char *)value : NULL;
	q->n++;
	strbuf_addf(&q->sql, "$%d%s", q->n, cast ? cast : "");
}

static void sqlq_add(struct sqlq *q, const char *s)
{
	strbuf_adds(&q->sql, s);
}

static PGresult *sqlq_exec(PGconn *db, struct sqlq *q, struct acme_err *err)
{
	return db_exec(db, err, q->sql.buf, q->n, q->params);
}

/* "%" before and/or after s with \, % and _ escaped for LIKE. Caller frees. */
static char *like_pattern(const char *s, bool lead, bool trail)
{
	struct strbuf sb = STRBUF_INIT;
	if (lead)
		strbuf_addch(&sb, '%');
	for (; *s; s++) {
		if (*s == '\\' || *s == '%' || *s == '_')
			strbuf_addch(&sb, '\\');
		strbuf_addch(&sb, *s);
	}
	if (trail)
		strbuf_addch(&sb, '%');
	return strbuf_detach(&sb, NULL);
}

/* ---- filters -------------------------------------------------------------------- */

bool products_filter_empty(const struct products_filter *f)
{
	return !f->sku && !f->name && !f->description && !f->query && f->active < 0;
}

json_t *products_filter_json(const struct products_filter *f)
{
	json_t *o = json_object();
	if (f->sku)
		json_object_set_new(o, "sku", json_string(f->sku));
	if (f->name)
		json_object_set_new(o, "name", json_string(f->name));
	if (f->description)
		json_object_set_new(o, "description", json_string(f->description));
	if (f->query)
		json_object_set_new(o, "query", json_string(f->query));
	if (f->active >= 0)
		json_object_set_new(o, "active", json_boolean(f->active));
	return o;
}

/* Append " AND cond" for every condition of f (the caller wrote WHERE true). */
static void filter_sql(struct sqlq *q, const struct products_filter *f)
{
	if (f->sku) {
		size_t len = strlen(f->sku);
		if (len && f->sku[len - 1] == '*') {
			char *prefix = xstrndup(f->sku, len - 1);
			sqlq_add(q, " AND sku_lower LIKE lower(");
			sqlq_param(q, like_pattern(prefix, false, true), true, "::text");
			sqlq_add(q, ")");
			free(prefix);
		} else {
			sqlq_add(q, " AND sku_lower = lower(");
			sqlq_param(q, f->sku, false, "::text");
			sqlq_add(q, ")");
		}
	}
	if (f->name) {
		sqlq_add(q, " AND name ILIKE ");
		sqlq_param(q, like_pattern(f->name, true, true), true, "::text");
	}
	if (f->description) {
		sqlq_add(q, " AND description ILIKE ");
		sqlq_param(q, like_pattern(f->description, true, true), true, "::text");
	}
	if (f->query) {
		sqlq_add(q, " AND (sku_lower LIKE lower(");
		sqlq_param(q, like_pattern(f->query, false, true), true, "::text");
		sqlq_add(q, ") OR name ILIKE ");
		char *sub = like_pattern(f->query, true, true);
		sqlq_param(q, sub, true, "::text");
		/* the same value again, as its own parameter: simpler than reuse */
		sqlq_add(q, " OR description ILIKE ");
		sqlq_param(q, xstrdup(sub), true, "::text");
		sqlq_add(q, ")");
	}
	if (f->active == 1)
		sqlq_add(q, " AND active");
	else if (f->active == 0)
		sqlq_add(q, " AND NOT active");
}

/* ---- rows ----------------------------------------------------------------------- */

static void row_from_result(const PGresult *res, int r, struct products_row *row)
{
	row->id = PQgetvalue(res, r, 0);
	row->sku = PQgetvalue(res, r, 1);
	row->name = PQgetvalue(res, r, 2);
	row->description = PQgetisnull(res, r, 3) ? NULL : PQgetvalue(res, r, 3);
	row->price = PQgetisnull(res, r, 4) ? NULL : PQgetvalue(res, r, 4);
	row->active = PQgetvalue(res, r, 5)[0] == 't';
	row->created_at = PQgetvalue(res, r, 6);
	row->updated_at = PQgetvalue(res, r, 7);
	row->priv = NULL;
}

void products_row_release(struct products_row *row)
{
	if (row->priv)
		PQclear(row->priv);
	memset(row, 0, sizeof(*row));
}

json_t *products_row_json(const struct products_row *row)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(strtoll(row->id, NULL, 10)));
	json_object_set_new(o, "sku", json_string(row->sku));
	json_object_set_new(o, "name", json_string(row->name));
	json_object_set_new(o, "description", row->description ? json_string(row->description) : json_null());
	json_object_set_new(o, "price", row->price ? json_string(row->price) : json_null());
	json_object_set_new(o, "active", json_boolean(row->active));
	json_object_set_new(o, "created_at", json_string(row->created_at));
	json_object_set_new(o, "updated_at", json_string(row->updated_at));
	return o;
}

/* ---- sorting and cursors ---------------------------------------------------------- */

static const char *const sort_names[] = {
#define X(id, name) name,
	PRODUCTS_SORT_FIELDS(X)
#undef X
};

struct sort_spec {
	const char *col;       /* column of the inner query (and of the index) */
	const char *key_text;  /* the key as text, over the outer query's columns */
	const char *cast;      /* of the cursor key parameter */
	bool unique;           /* the key alone orders rows */
	bool nullable;
};

static const struct sort_spec sort_specs[PRODUCTS_SORT__COUNT] = {
	[PRODUCTS_SORT_SKU] = { "sku_lower", "sku_lower", "::text", true, false },
	[PRODUCTS_SORT_NAME] = { "name", "name", "::text", false, false },
	[PRODUCTS_SORT_PRICE] = { "price", "price::text", "::numeric", false, true },
	[PRODUCTS_SORT_CREATED_AT] = { "created_at", TS_TEXT("created_at"), "::timestamptz", false, false },
	[PRODUCTS_SORT_UPDATED_AT] = { "updated_at", TS_TEXT("updated_at"), "::timestamptz", false, false },
	[PRODUCTS_SORT_ID] = { "id", "id::text", "::bigint", true, false },
};

const char *products_sort_name(enum products_sort field)
{
	return sort_names[field];
}

int products_sort_parse(const char *s, enum products_sort *field, bool *desc,
			struct acme_err *err)
{
	size_t n = strcspn(s, ":");
	*desc = false;
	if (s[n]) {
		if (strcmp(s + n + 1, "desc") == 0)
			*desc = true;
		else if (strcmp(s + n + 1, "asc") != 0)
			return acme_err_set(err, ACME_E_USAGE, "--sort %s: the direction is asc or desc", s);
	}
	for (int i = 0; i < PRODUCTS_SORT__COUNT; i++)
		if (strlen(sort_names[i]) == n && strncmp(sort_names[i], s, n) == 0) {
			*field = (enum products_sort)i;
			return 0;
		}
	return acme_err_set(err, ACME_E_USAGE, "--sort %s: not a sort field (sku, name, price, "
			    "created_at, updated_at, id, each optionally :desc)", s);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const unsigned char *in, size_t len)
{
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*o++ = b64url[(v >> 18) & 63];
		*o++ = b64url[(v >> 12) & 63];
		if (i + 1 < len)
			*o++ = b64url[(v >> 6) & 63];
		if (i + 2 < len)
			*o++ = b64url[v & 63];
	}
	*o = '\0';
	return out;
}

/* NULL on malformed input; *len gets the length. */
static unsigned char *b64url_decode(const char *in, size_t *len)
{
	size_t n = strlen(in);
	if (n % 4 == 1)
		return NULL;
	unsigned char *out = xmalloc(n / 4 * 3 + 3), *o = out;
	unsigned v = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		const char *p = strchr(b64url, in[i]);
		if (!in[i] || !p) {
			free(out);
			return NULL;
		}
		v = (v << 6) | (unsigned)(p - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (unsigned char)((v >> bits) & 0xff);
		}
	}
	*len = (size_t)(o - out);
	return out;
}

static char *cursor_encode(enum products_sort sort, bool desc, const char *key, const char *id)
{
	json_t *a = json_pack("[s, b, o, I]", sort_names[sort], desc,
			      key ? json_string(key) : json_null(), (json_int_t)strtoll(id, NULL, 10));
	char *text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	char *c = b64url_encode((const unsigned char *)text, strlen(text));
	free(text);
	return c;
}

struct cursor {
	bool key_null;
	char *key;
	char id[24];
};

static int cursor_decode(const char *s, enum products_sort sort, bool desc, struct cursor *c,
			 struct acme_err *err)
{
	size_t len = 0;
	unsigned char *raw = strlen(s) <= 4096 ? b64url_decode(s, &len) : NULL;
	json_t *a = raw ? json_loadb((const char *)raw, len, 0, NULL) : NULL;
	free(raw);
	const char *sname;
	int d;
	json_t *key;
	json_int_t id;
	memset(c, 0, sizeof(*c));
	if (!a || json_unpack(a, "[s, b, o, I]", &sname, &d, &key, &id) < 0 ||
	    !(json_is_string(key) || json_is_null(key)) || id < 1) {
		json_decref(a);
		return acme_err_set(err, ACME_E_USAGE, "--after: not a cursor of 'acmectl products list' "
				    "(use the next_cursor of the previous page)");
	}
	if (strcmp(sname, sort_names[sort]) != 0 || (bool)d != desc) {
		acme_err_set(err, ACME_E_USAGE, "--after: the cursor was made for --sort %s%s; use "
			     "the same --sort to continue, or start again without --after",
			     sname, d ? ":desc" : "");
		json_decref(a);
		return -1;
	}
	if (json_is_null(key) && !sort_specs[sort].nullable) {
		json_decref(a);
		return acme_err_set(err, ACME_E_USAGE, "--after: not a cursor of 'acmectl products list'");
	}
	c->key_null = json_is_null(key);
	c->key = c->key_null ? NULL : xstrdup(json_string_value(key));
	snprintf(c->id, sizeof(c->id), "%lld", (long long)id);
	json_decref(a);
	return 0;
}

/* ---- list ------------------------------------------------------------------------- */

/* One branch of the paginated query: filter, keyset condition (cond, may be
 * NULL), index order, limit. */
static void list_branch(struct sqlq *q, const struct products_list_opts *o,
			void (*cond)(struct sqlq *, const struct products_list_opts *,
				     const struct cursor *, int), const struct cursor *c, int which,
			long long offset)
{
	const struct sort_spec *sp = &sort_specs[o->sort];
	const char *dir = o->desc ? " DESC" : "";
	sqlq_add(q, "(SELECT " RAW_COLS " FROM products WHERE true");
	filter_sql(q, &o->filter);
	if (cond)
		cond(q, o, c, which);
	strbuf_addf(&q->sql, " ORDER BY %s%s", sp->col, dir);
	if (!sp->unique)
		strbuf_addf(&q->sql, ", id%s", dir);
	sqlq_add(q, " LIMIT ");
	sqlq_param(q, xasprintf("%ld", o->limit + 1), true, "::bigint");
	if (offset > 0) {
		sqlq_add(q, " OFFSET ");
		sqlq_param(q, xasprintf("%lld", offset), true, "::bigint");
	}
	sqlq_add(q, ")");
}

/* The keyset condition of branch `which` (0 or 1); see the file comment. */
static void keyset_cond(struct sqlq *q, const struct products_list_opts *o,
			const struct cursor *c, int which)
{
	const struct sort_spec *sp = &sort_specs[o->sort];
	const char *op = o->desc ? "<" : ">";
	if (c->key_null) {
		/* inside the NULL group (nullable keys only) */
		if (which == 0) {
			strbuf_addf(&q->sql, " AND %s IS NULL AND id %s ", sp->col, op);
			sqlq_param(q, c->id, false, "::bigint");
		} else {
			strbuf_addf(&q->sql, " AND %s IS NOT NULL", sp->col);   /* desc: the rest */
		}
		return;
	}
	if (which == 1) {            /* asc past a non-NULL key: the NULL group */
		strbuf_addf(&q->sql, " AND %s IS NULL", sp->col);
		return;
	}
	if (sp->unique) {
		strbuf_addf(&q->sql, " AND %s %s ", sp->col, op);
		sqlq_param(q, c->key, false, sp->cast);
	} else {
		strbuf_addf(&q->sql, " AND (%s, id) %s (", sp->col, op);
		sqlq_param(q, c->key, false, sp->cast);
		sqlq_add(q, ", ");
		sqlq_param(q, c->id, false, "::bigint");
		sqlq_add(q, ")");
	}
}

static int estimate_rows(PGconn *db, const struct products_filter *f, long long *n,
			 struct acme_err *err)
{
	struct sqlq q;
	PGresult *res = NULL;
	json_t *plan = NULL;
	int rc = -1;
	sqlq_init(&q);
	if (products_filter_empty(f)) {
		sqlq_add(&q, "SELECT reltuples::bigint FROM pg_class WHERE oid = 'products'::regclass");
		if (!(res = sqlq_exec(db, &q, err)))
			goto out;
		*n = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
		if (*n >= 0) {    /* -1: never analysed; ask the planner below */
			rc = 0;
			goto out;
		}
		PQclear(res);
		res = NULL;
		strbuf_reset(&q.sql);
	}
	sqlq_add(&q, "EXPLAIN (FORMAT JSON) SELECT 1 FROM products WHERE true");
	filter_sql(&q, f);
	if (!(res = sqlq_exec(db, &q, err)))
		goto out;
	plan = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	json_t *rows = json_object_get(json_object_get(json_array_get(plan, 0), "Plan"), "Plan Rows");
	*n = json_is_number(rows) ? (long long)json_number_value(rows) : 0;
	rc = 0;
out:
	json_decref(plan);
	PQclear(res);
	sqlq_release(&q);
	return rc;
}

/* The statement counting the first cap matches, or all when cap is 0. */
static void count_sql(struct sqlq *q, const struct products_filter *f, long long cap)
{
	sqlq_add(q, "SELECT count(*) FROM (SELECT 1 FROM products WHERE true");
	filter_sql(q, f);
	if (cap > 0) {
		sqlq_add(q, " LIMIT ");
		sqlq_param(q, xasprintf("%lld", cap), true, "::bigint");
	}
	sqlq_add(q, ") s");
}

/* count(*) of the first cap matches, or of all when cap is 0. With
 * budget_ms > 0 the count may give up: 1 when it ran out of time. */
static int count_capped(PGconn *db, const struct products_filter *f, long long cap,
			int budget_ms, long long *n, struct acme_err *err)
{
	struct sqlq q;
	sqlq_init(&q);
	count_sql(&q, f, cap);
	if (budget_ms > 0) {
		bool timed_out;
		PGresult *res = db_exec_budget(db, err, q.sql.buf, q.n, (const char *const *)q.params,
					       budget_ms, &timed_out);
		sqlq_release(&q);
		if (!res)
			return timed_out ? 1 : -1;
		*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		return 0;
	}
	PGresult *res = sqlq_exec(db, &q, err);
	sqlq_release(&q);
	if (!res)
		return -1;
	*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* The total of a page: exact when counting is cheap, else an estimate. The
 * planner's estimate comes first (a millisecond): above the cap a count could
 * not be exact anyway, so it stands. Otherwise we count up to the cap within
 * a time budget, and fall back to the estimate when the budget runs out
 * (estimates of substring matches can be several times too low). */
static int page_total(PGconn *db, const struct products_filter *f, struct products_page *pg,
		      struct acme_err *err)
{
	long long est, n = 0;
	if (estimate_rows(db, f, &est, err) < 0)
		return -1;
	pg->total = est;
	pg->total_is_estimate = true;
	if (est > PRODUCTS_COUNT_CAP)
		return 0;
	int rc = count_capped(db, f, PRODUCTS_COUNT_CAP + 1, PRODUCTS_COUNT_BUDGET_MS, &n, err);
	if (rc < 0)
		return -1;
	if (rc == 0 && n <= PRODUCTS_COUNT_CAP) {
		pg->total = n;
		pg->total_is_estimate = false;
	} else if (rc == 0) {
		pg->total = PRODUCTS_COUNT_CAP + 1;   /* at least that many */
	}
	return 0;
}

int products_count(PGconn *db, const struct products_filter *f, long long *n,
		   struct acme_err *err)
{
	return count_capped(db, f, 0, 0, n, err);
}

int products_count_start(struct pgcall *call, PGconn *db, const struct products_filter *f,
			 long deadline_ms, struct acme_err *err)
{
	struct sqlq q;
	sqlq_init(&q);
	count_sql(&q, f, 0);
	int rc = pgcall_start(call, db, q.sql.buf, q.n, (const char *const *)q.params, deadline_ms, err);
	sqlq_release(&q);
	return rc;
}

int products_count_finish(struct pgcall *call, long long *n, struct acme_err *err)
{
	PGresult *res = pgcall_finish(call, err);
	if (!res)
		return -1;
	*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

void products_page_release(struct products_page *pg)
{
	free(pg->next_cursor);
	pg->next_cursor = NULL;
}

/* The statement of one page (o checked); *offset gets the page's OFFSET.
 * The parameters point into c: keep it until the statement is sent. */
static int list_sql(const struct products_list_opts *o, struct sqlq *q, struct cursor *c,
		    long long *offset, struct acme_err *err)
{
	const struct sort_spec *sp = &sort_specs[o->sort];
	const char *dir = o->desc ? " DESC" : "";

	*offset = 0;
	if (o->limit < 1 || o->limit > PRODUCTS_LIMIT_MAX)
		return acme_err_set(err, ACME_E_USAGE, "--limit %ld is out of range (1-%d)", o->limit,
				    PRODUCTS_LIMIT_MAX);
	if (o->after && cursor_decode(o->after, o->sort, o->desc, c, err) < 0)
		return -1;
	if (o->page > 1)
		*offset = (o->page - 1) * o->limit;

	sqlq_add(q, "SELECT " ROW_COLS ", ");
	sqlq_add(q, sp->key_text);
	sqlq_add(q, " FROM (");
	if (!o->after) {
		list_branch(q, o, NULL, NULL, 0, *offset);
	} else {
		list_branch(q, o, keyset_cond, c, 0, 0);
		/* a second branch where NULLs follow (asc) or the cursor is in them (desc) */
		if (sp->nullable && (o->desc ? c->key_null : !c->key_null)) {
			sqlq_add(q, " UNION ALL ");
			list_branch(q, o, keyset_cond, c, 1, 0);
		}
	}
	/* s.: a bare name would be the output column, id::text sorting as text */
	strbuf_addf(&q->sql, ") s ORDER BY s.%s%s", sp->col, dir);
	if (!sp->unique)
		strbuf_addf(&q->sql, ", s.id%s", dir);
	sqlq_add(q, " LIMIT ");
	sqlq_param(q, xasprintf("%ld", o->limit + 1), true, "::bigint");
	return 0;
}

/* Pass a page's rows to fn and set the next cursor; the total when the
 * whole match fitted on a first page (else it stays -1). Returns 0, or
 * what fn returned to stop. */
static int list_rows(const PGresult *res, const struct products_list_opts *o, long long offset,
		     products_row_fn fn, void *arg, struct products_page *pg, struct acme_err *err)
{
	int nrows = PQntuples(res);
	int shown = nrows > o->limit ? (int)o->limit : nrows;
	for (int r = 0; r < shown; r++) {
		struct products_row row;
		row_from_result(res, r, &row);
		int stop = fn(arg, &row, err);
		if (stop)
			return stop;
		pg->count++;
	}
	if (nrows > o->limit) {
		int last = shown - 1;
		pg->next_cursor = cursor_encode(o->sort, o->desc,
						PQgetisnull(res, last, ROW_NCOLS) ? NULL :
						PQgetvalue(res, last, ROW_NCOLS), PQgetvalue(res, last, 0));
	}
	if (o->want_total && !o->after && offset == 0 && nrows <= o->limit)
		pg->total = nrows;     /* the whole match fitted on the first page */
	return 0;
}

int products_list(PGconn *db, const struct products_list_opts *o, products_row_fn fn, void *arg,
		  struct products_page *pg, struct acme_err *err)
{
	struct cursor c = { 0 };
	struct sqlq q;
	PGresult *res = NULL;
	int rc = -1;
	long long offset = 0;

	memset(pg, 0, sizeof(*pg));
	pg->total = -1;
	sqlq_init(&q);
	if (list_sql(o, &q, &c, &offset, err) < 0)
		goto out;
	if (!(res = sqlq_exec(db, &q, err)))
		goto out;
	int stop = list_rows(res, o, offset, fn, arg, pg, err);
	if (stop) {
		rc = stop;
		goto out;
	}
	if (o->want_total && pg->total < 0 && page_total(db, &o->filter, pg, err) < 0)
		goto out;
	rc = 0;
out:
	free(c.key);
	PQclear(res);
	sqlq_release(&q);
	return rc;
}

int products_list_start(struct pgcall *call, PGconn *db, const struct products_list_opts *o,
			long deadline_ms, struct acme_err *err)
{
	struct cursor c = { 0 };
	struct sqlq q;
	long long offset;
	int rc = -1;

	sqlq_init(&q);
	if (list_sql(o, &q, &c, &offset, err) == 0)
		rc = pgcall_start(call, db, q.sql.buf, q.n, (const char *const *)q.params,
				  deadline_ms, err);
	free(c.key);
	sqlq_release(&q);
	return rc;
}

int products_list_finish(struct pgcall *call, const struct products_list_opts *o,
			 products_row_fn fn, void *arg, struct products_page *pg,
			 struct acme_err *err)
{
	long long offset = o->page > 1 ? (o->page - 1) * o->limit : 0;
	memset(pg, 0, sizeof(*pg));
	pg->total = -1;
	PGresult *res = pgcall_finish(call, err);
	if (!res)
		return -1;
	int rc = list_rows(res, o, offset, fn, arg, pg, err);
	PQclear(res);
	return rc;
}

/* ---- export ----------------------------------------------------------------------- */

int products_export(PGconn *db, const struct products_filter *f, products_row_fn fn, void *arg,
		    long long *count, struct acme_err *err)
{
	struct sqlq q;
	PGresult *res = NULL;
	long long total = 0;
	int rc = -1;
	char fetch[64];

	sqlq_init(&q);
	if (db_begin(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err) < 0)
		goto out;
	sqlq_add(&q, "DECLARE acme_products_export NO SCROLL CURSOR FOR SELECT " ROW_COLS
		 " FROM products WHERE true");
	filter_sql(&q, f);
	sqlq_add(&q, " ORDER BY sku_lower");
	if (!(res = sqlq_exec(db, &q, err)))
		goto fail;
	snprintf(fetch, sizeof(fetch), "FETCH %d FROM acme_products_export", PRODUCTS_EXPORT_BATCH);
	for (;;) {
		PQclear(res);
		if (!(res = db_exec(db, err, fetch, 0, NULL)))
			goto fail;
		int n = PQntuples(res);
		for (int r = 0; r < n; r++) {
			struct products_row row;
			row_from_result(res, r, &row);
			int stop = fn(arg, &row, err);
			if (stop) {
				rc = stop;
				goto fail_rc;
			}
			total++;
		}
		if (n < PRODUCTS_EXPORT_BATCH)
			break;
	}
	PQclear(res);
	res = NULL;
	if (db_commit(db, err) < 0)
		goto out;
	if (count)
		*count = total;
	rc = 0;
	goto out;
fail:
	rc = -1;
fail_rc:
	db_rollback(db);
	if (count)
		*count = total;
out:
	PQclear(res);
	sqlq_release(&q);
	return rc;
}

/* ---- get ------------------------------------------------------------------------------ */

/* A positive id written in decimal, or 0. */
static long long parse_id(const char *s)
{
	long long v = 0;
	size_t n = strlen(s);
	if (n == 0 || n > 18)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int products_ref_parse(const char *key, struct products_ref *ref, struct acme_err *err)
{
	ref->sku = NULL;
	ref->id = 0;
	if (strncmp(key, PRODUCTS_REF_ID, strlen(PRODUCTS_REF_ID)) == 0) {
		const char *n = key + strlen(PRODUCTS_REF_ID);
		ref->id = parse_id(n);
		if (ref->id <= 0)
			return acme_err_set(err, ACME_E_USAGE, "\"%s\": an id is a positive whole number, "
					    "e.g. id:42 (a SKU that starts with id: is named sku:%s)",
					    key, key);
		return 0;
	}
	if (strncmp(key, PRODUCTS_REF_SKU, strlen(PRODUCTS_REF_SKU)) == 0)
		key += strlen(PRODUCTS_REF_SKU);
	if (!key[0])
		return acme_err_set(err, ACME_E_USAGE, "an empty SKU names no product");
	ref->sku = key;
	return 0;
}

/* The product with this SKU (sku_only: a literal SKU, as the conflict checks
 * pass) or named by key as products_ref_parse() reads it. 1 found (row
 * filled, owning its result), 0 not found, -1 error. */
static int resolve_by(PGconn *db, const char *key, bool for_update, bool sku_only,
		      struct products_row *row, struct acme_err *err)
{
	const char *lock = for_update ? " FOR UPDATE" : "";
	char sql[512], idtext[24];
	struct products_ref ref = { key, 0 };
	const char *params[1] = { key };
	if (!sku_only && products_ref_parse(key, &ref, err) < 0)
		return -1;
	if (ref.sku) {
		params[0] = ref.sku;
		snprintf(sql, sizeof(sql), "SELECT " ROW_COLS " FROM products WHERE sku_lower = "
			 "lower($1::text)%s", lock);
	} else {
		snprintf(idtext, sizeof(idtext), "%lld", ref.id);
		params[0] = idtext;
		snprintf(sql, sizeof(sql), "SELECT " ROW_COLS " FROM products WHERE id = $1::bigint%s", lock);
	}
	PGresult *res = db_exec(db, err, sql, 1, params);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	row_from_result(res, 0, row);
	row->priv = res;
	return 1;
}

static int resolve(PGconn *db, const char *key, bool for_update, struct products_row *row,
		   struct acme_err *err)
{
	return resolve_by(db, key, for_update, false, row, err);
}

/* key was parsed by resolve() already. */
static int not_found(struct acme_err *err, const char *key)
{
	struct products_ref ref;
	struct acme_err ignored;
	if (products_ref_parse(key, &ref, &ignored) == 0 && !ref.sku)
		return acme_err_set(err, ACME_E_NOT_FOUND, "no product with id %lld", ref.id);
	if (parse_id(key) > 0)
		return acme_err_set(err, ACME_E_NOT_FOUND, "no product with SKU \"%s\" (a bare word is "
				    "always a SKU; the product with id %s is id:%s)", key, key, key);
	return acme_err_set(err, ACME_E_NOT_FOUND, "no product with SKU \"%s\"", ref.sku ? ref.sku : key);
}

int products_get(PGconn *db, const char *key, struct products_row *out, struct acme_err *err)
{
	int found = resolve(db, key, false, out, err);
	if (found < 0)
		return -1;
	return found ? 0 : not_found(err, key);
}

/* ---- input ------------------------------------------------------------------------------ */

void products_input_release(struct products_input *in)
{
	free(in->sku);
	free(in->name);
	free(in->description);
	memset(in, 0, sizeof(*in));
}

/* A validated value in place of the old one (a NULL value stays NULL). */
static void replace_text(char **dst, const struct product_text *t)
{
	free(*dst);
	*dst = t->ptr ? xstrndup(t->ptr, t->len) : NULL;
}

int products_input_set(struct products_input *in, enum product_field f, const char *s,
		       size_t len, struct acme_err *err)
{
	struct product_text t;
	switch (f) {
	case PRODUCT_SKU:
		if (product_validate_sku(s, len, &t, err) < 0)
			return -1;
		replace_text(&in->sku, &t);
		break;
	case PRODUCT_NAME:
		if (product_validate_name(s, len, &t, err) < 0)
			return -1;
		replace_text(&in->name, &t);
		break;
	case PRODUCT_DESCRIPTION:
		if (product_validate_description(s, len, &t, err) < 0)
			return -1;
		replace_text(&in->description, &t);
		break;
	case PRODUCT_ACTIVE:
		if (product_validate_active(s, len, &in->active, err) < 0)
			return -1;
		break;
	case PRODUCT_PRICE: {
		struct product_price p;
		if (product_validate_price(s, len, &p, err) < 0)
			return -1;
		in->price_null = p.is_null;
		memcpy(in->price, p.text, sizeof(in->price));
		break;
	}
	default:
		return acme_err_set(err, ACME_E_DATA, "unknown field");
	}
	in->present |= PRODUCT_F(f);
	return 0;
}

int products_input_from_json(struct products_input *in, json_t *obj, struct acme_err *err)
{
	const char *key;
	json_t *v;
	char num[64];
	if (!json_is_object(obj))
		return acme_err_set(err, ACME_E_DATA, "a product must be a JSON object");
	json_object_foreach(obj, key, v) {
		enum product_field f;
		if (strcmp(key, "id") == 0 || strcmp(key, "created_at") == 0 ||
		    strcmp(key, "updated_at") == 0)
			continue;
		if (product_field_lookup(key, strlen(key), &f) < 0 || strcmp(key, product_field_name(f)) != 0)
			return acme_err_set(err, ACME_E_DATA, "unknown field \"%s\" (fields: "
					    PRODUCT_FIELD_NAMES ")", key);
		const char *s;
		size_t len;
		if (json_is_string(v)) {
			s = json_string_value(v);
			len = json_string_length(v);
		} else if (json_is_null(v) && (f == PRODUCT_DESCRIPTION || f == PRODUCT_PRICE)) {
			s = "";
			len = 0;
		} else if (json_is_boolean(v) && f == PRODUCT_ACTIVE) {
			s = json_is_true(v) ? "true" : "false";
			len = strlen(s);
		} else if (json_is_integer(v) && f == PRODUCT_PRICE) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			s = num;
			len = strlen(s);
		} else if (json_is_real(v) && f == PRODUCT_PRICE) {
			/* shortest text that reads back as the same double, then the price rules */
			snprintf(num, sizeof(num), "%.15g", json_real_value(v));
			s = num;
			len = strlen(s);
		} else {
			return acme_err_set(err, ACME_E_DATA, "%s: wrong JSON type", key);
		}
		if (products_input_set(in, f, s, len, err) < 0)
			return -1;
	}
	return 0;
}

const char *products_outcome_name(enum products_outcome o)
{
	static const char *const names[] = { "created", "updated", "unchanged", "deleted" };
	return names[o];
}

/* ---- changes ------------------------------------------------------------------------------ */

/* The outbox event and the audit row of one product change. */
static int record_change(PGconn *db, const struct products_actor *who, const char *event,
			 const struct products_row *row, json_t *details, struct acme_err *err)
{
	json_t *payload = products_row_json(row);
	int rc = outbox_add(db, event, payload, NULL, err);
	json_decref(payload);
	if (rc < 0)
		return -1;
	json_object_set_new(details, "id", json_integer(strtoll(row->id, NULL, 10)));
	json_object_set_new(details, "event", json_string(event));
	char *text = json_dumps(details, JSON_COMPACT | JSON_PRESERVE_ORDER);
	rc = audit_add(db, who->environment, who->command, row->sku, text, err);
	free(text);
	return rc;
}

static const char *bool_text(bool b)
{
	return b ? "true" : "false";
}

/* hint: what the user can do instead, appended after "; " (may be NULL). */
static int conflict_error(PGconn *db, const char *sku, const char *hint, struct acme_err *err)
{
	struct products_row ex = { 0 };
	struct acme_err e2 = { 0 };
	if (resolve_by(db, sku, false, true, &ex, &e2) == 1) {
		acme_err_set(err, ACME_E_REFUSED, "SKU \"%s\" already exists as product id:%s (SKU \"%s\", "
			     "name \"%s\"); SKUs are unique in any case%s%s", sku, ex.id, ex.sku,
			     ex.name, hint ? ": " : "", hint ? hint : "");
		products_row_release(&ex);
		return -1;
	}
	return acme_err_set(err, ACME_E_REFUSED, "SKU \"%s\" already exists", sku);
}

static json_t *fields_json(unsigned present)
{
	json_t *a = json_array();
	for (int f = 0; f < PRODUCT__NFIELDS; f++)
		if (present & PRODUCT_F(f))
			json_array_append_new(a, json_string(product_field_name((enum product_field)f)));
	return a;
}

/* Insert (or upsert) one product inside the open transaction. On success
 * *row owns its result and *what says what happened. */
static int create_one(PGconn *db, const struct products_input *in, bool upsert,
		      const struct products_actor *who, struct products_row *row,
		      enum products_outcome *what, struct acme_err *err)
{
	struct sqlq q;
	PGresult *res = NULL;
	int rc = -1;
	static const struct { unsigned bit; const char *col; } opt_cols[] = {
		{ PRODUCT_F(PRODUCT_DESCRIPTION), "description" },
		{ PRODUCT_F(PRODUCT_PRICE), "price" },
		{ PRODUCT_F(PRODUCT_ACTIVE), "active" },
	};

	if (!in->sku || !in->name)
		return acme_err_set(err, ACME_E_DATA, "%s is required", in->sku ? "name" : "sku");
	sqlq_init(&q);
	sqlq_add(&q, "INSERT INTO products (sku, name, description, price, active) VALUES (");
	sqlq_param(&q, in->sku, false, "::text");
	sqlq_add(&q, ", ");
	sqlq_param(&q, in->name, false, "::text");
	sqlq_add(&q, ", ");
	sqlq_param(&q, in->description, false, "::text");
	sqlq_add(&q, ", ");
	sqlq_param(&q, (in->present & PRODUCT_F(PRODUCT_PRICE)) && !in->price_null ? in->price : NULL,
		   false, "::numeric");
	sqlq_add(&q, ", ");
	sqlq_param(&q, (in->present & PRODUCT_F(PRODUCT_ACTIVE)) ? bool_text(in->active) : "true",
		   false, "::boolean");
	sqlq_add(&q, ") ON CONFLICT (sku_lower) ");
	if (upsert) {
		struct strbuf cols = STRBUF_INIT, vals = STRBUF_INIT;
		strbuf_adds(&cols, "products.sku, products.name");
		strbuf_adds(&vals, "EXCLUDED.sku, EXCLUDED.name");
		sqlq_add(&q, "DO UPDATE SET sku = EXCLUDED.sku, name = EXCLUDED.name");
		for (size_t i = 0; i < sizeof(opt_cols) / sizeof(opt_cols[0]); i++) {
			if (!(in->present & opt_cols[i].bit))
				continue;
			strbuf_addf(&q.sql, ", %s = EXCLUDED.%s", opt_cols[i].col, opt_cols[i].col);
			strbuf_addf(&cols, ", products.%s", opt_cols[i].col);
			strbuf_addf(&vals, ", EXCLUDED.%s", opt_cols[i].col);
		}
		strbuf_addf(&q.sql, ", updated_at = now() WHERE ROW(%s) IS DISTINCT FROM ROW(%s)",
			    cols.buf, vals.buf);
		strbuf_release(&cols);
		strbuf_release(&vals);
	} else {
		sqlq_add(&q, "DO NOTHING");
	}
	sqlq_add(&q, " RETURNING " ROW_COLS ", (xmax = 0)");
	if (!(res = sqlq_exec(db, &q, err)))
		goto out;

	if (PQntuples(res) == 0) {
		if (!upsert) {
			conflict_error(db, in->sku, "use --upsert to overwrite it, or 'acmectl products "
				       "update'", err);
			goto out;
		}
		/* upsert of identical values: report the product as it is */
		if (resolve_by(db, in->sku, false, true, row, err) != 1) {
			if (!err->msg[0])
				acme_err_set(err, ACME_E_FAILURE, "SKU \"%s\" vanished during the upsert", in->sku);
			goto out;
		}
		*what = PRODUCTS_UNCHANGED;
		rc = 0;
		goto out;
	}
	row_from_result(res, 0, row);
	*what = PQgetvalue(res, 0, ROW_NCOLS)[0] == 't' ? PRODUCTS_CREATED : PRODUCTS_UPDATED;
	json_t *details = json_object();
	if (*what == PRODUCTS_UPDATED) {
		json_object_set_new(details, "upsert", json_true());
		json_object_set_new(details, "fields", fields_json(in->present));
	}
	rc = record_change(db, who, *what == PRODUCTS_CREATED ? "product.created" : "product.updated",
			   row, details, err);
	json_decref(details);
	if (rc == 0) {
		row->priv = res;   /* the row now owns the result */
		res = NULL;
	}
out:
	PQclear(res);
	sqlq_release(&q);
	return rc;
}

int products_create(PGconn *db, const struct products_input *in, size_t n, bool upsert,
		    const struct products_actor *who, products_change_fn fn, void *arg,
		    struct acme_err *err)
{
	struct products_row *rows = xcalloc(n ? n : 1, sizeof(*rows));
	enum products_outcome *what = xcalloc(n ? n : 1, sizeof(*what));
	size_t done = 0;
	int rc = -1;

	if (db_begin(db, NULL, err) < 0)
		goto out;
	for (; done < n; done++) {
		if (create_one(db, &in[done], upsert, who, &rows[done], &what[done], err) < 0) {
			if (n > 1)
				acme_err_prefix(err, "product %zu of %zu", done + 1, n);
			db_rollback(db);
			goto out;
		}
	}
	if (db_commit(db, err) < 0) {
		db_rollback(db);
		goto out;
	}
	/* reported only once committed: nothing is printed that did not happen */
	rc = 0;
	for (size_t i = 0; i < n && fn && rc == 0; i++)
		rc = fn(arg, &rows[i], what[i], err);
out:
	for (size_t i = 0; i < done; i++)
		products_row_release(&rows[i]);
	free(rows);
	free(what);
	return rc;
}

int products_update(PGconn *db, const char *key, const struct products_input *in,
		    const struct products_actor *who, products_change_fn fn, void *arg,
		    struct acme_err *err)
{
	struct products_row old = { 0 };
	struct sqlq q;
	struct strbuf cols = STRBUF_INIT, vals = STRBUF_INIT;
	PGresult *res = NULL;
	int rc = -1;

	sqlq_init(&q);
	if (db_begin(db, NULL, err) < 0)
		goto out;
	int found = resolve(db, key, true, &old, err);
	if (found <= 0) {
		if (found == 0)
			not_found(err, key);
		goto fail;
	}
	if (in->sku && strcmp(in->sku, old.sku) != 0) {
		/* a rename onto another product's SKU (in any case) */
		struct products_row other = { 0 };
		int clash = resolve_by(db, in->sku, false, true, &other, err);
		bool same = clash == 1 && strcmp(other.id, old.id) == 0;
		products_row_release(&other);
		if (clash < 0)
			goto fail;
		if (clash == 1 && !same) {
			conflict_error(db, in->sku, "choose another SKU", err);
			goto fail;
		}
	}

	sqlq_add(&q, "UPDATE products SET updated_at = now()");
	static const struct { enum product_field f; const char *col, *cast; } map[] = {
		{ PRODUCT_SKU, "sku", "::text" },
		{ PRODUCT_NAME, "name", "::text" },
		{ PRODUCT_DESCRIPTION, "description", "::text" },
		{ PRODUCT_ACTIVE, "active", "::boolean" },
		{ PRODUCT_PRICE, "price", "::numeric" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		const char *v;
		if (!(in->present & PRODUCT_F(map[i].f)))
			continue;
		switch (map[i].f) {
		case PRODUCT_SKU: v = in->sku; break;
		case PRODUCT_NAME: v = in->name; break;
		case PRODUCT_DESCRIPTION: v = in->description; break;
		case PRODUCT_ACTIVE: v = bool_text(in->active); break;
		default: v = in->price_null ? NULL : in->price; break;
		}
		strbuf_addf(&q.sql, ", %s = ", map[i].col);
		sqlq_param(&q, v, false, map[i].cast);
		strbuf_addf(&cols, "%s%s", cols.len ? ", " : "", map[i].col);
		strbuf_addf(&vals, "%s$%d%s", vals.len ? ", " : "", q.n, map[i].cast);
	}
	if (!cols.len) {
		acme_err_set(err, ACME_E_USAGE, "nothing to change: give at least one field");
		goto fail;
	}
	strbuf_addf(&q.sql, " WHERE id = $%d::bigint AND ROW(%s) IS DISTINCT FROM ROW(%s) RETURNING "
		    ROW_COLS, q.n + 1, cols.buf, vals.buf);
	q.params[q.n] = old.id;
	q.owned[q.n] = NULL;
	q.n++;
	if (!(res = sqlq_exec(db, &q, err)))
		goto fail;
	if (PQntuples(res) == 0) {
		db_rollback(db);
		rc = fn ? fn(arg, &old, PRODUCTS_UNCHANGED, err) : 0;
		goto out;
	}
	struct products_row row;
	row_from_result(res, 0, &row);
	json_t *details = json_pack("{s:o}", "fields", fields_json(in->present));
	if (strcmp(old.sku, row.sku) != 0)
		json_object_set_new(details, "old_sku", json_string(old.sku));
	rc = record_change(db, who, "product.updated", &row, details, err);
	json_decref(details);
	if (rc < 0)
		goto fail;
	if (db_commit(db, err) < 0)
		goto fail;
	rc = fn ? fn(arg, &row, PRODUCTS_UPDATED, err) : 0;
	goto out;
fail:
	db_rollback(db);
	rc = -1;
out:
	PQclear(res);
	products_row_release(&old);
	strbuf_release(&cols);
	strbuf_release(&vals);
	sqlq_release(&q);
	return rc;
}

int products_delete(PGconn *db, const char *const *keys, size_t n,
		    const struct products_actor *who, products_change_fn fn, void *arg,
		    struct acme_err *err)
{
	struct products_row *rows = xcalloc(n ? n : 1, sizeof(*rows));
	size_t nrows = 0;
	int rc = -1;

	if (db_begin(db, NULL, err) < 0)
		goto out;
	/* resolve every key first, so a key naming a product twice (SKU and
	 * id) deletes it once and a missing one deletes nothing */
	for (size_t i = 0; i < n; i++) {
		int found = resolve(db, keys[i], true, &rows[nrows], err);
		if (found < 0)
			goto fail;
		if (found == 0) {
			not_found(err, keys[i]);
			acme_err_prefix(err, "nothing was deleted");
			goto fail;
		}
		bool dup = false;
		for (size_t j = 0; j < nrows && !dup; j++)
			dup = strcmp(rows[j].id, rows[nrows].id) == 0;
		if (dup)
			products_row_release(&rows[nrows]);
		else
			nrows++;
	}
	for (size_t i = 0; i < nrows; i++) {
		const char *params[1] = { rows[i].id };
		if (db_cmd(db, err, "DELETE FROM products WHERE id = $1::bigint", 1, params) < 0)
			goto fail;
		json_t *details = json_object();
		int r = record_change(db, who, "product.deleted", &rows[i], details, err);
		json_decref(details);
		if (r < 0)
			goto fail;
	}
	if (db_commit(db, err) < 0)
		goto fail;
	rc = 0;
	for (size_t i = 0; i < nrows && fn && rc == 0; i++)
		rc = fn(arg, &rows[i], PRODUCTS_DELETED, err);
	goto out;
fail:
	db_rollback(db);
	rc = -1;
out:
	for (size_t i = 0; i < nrows; i++)
		products_row_release(&rows[i]);
	free(rows);
	return rc;
}

int products_bulk_delete(PGconn *db, const struct products_filter *f, long long expected,
			 const struct products_actor *who, long long *deleted,
			 struct acme_err *err)
{
	struct sqlq q;
	PGresult *res = NULL;
	json_t *payload = NULL;
	char *target = NULL, *details = NULL;
	int rc = -1;

	sqlq_init(&q);
	*deleted = 0;
	if (db_begin(db, NULL, err) < 0)
		goto out;
	sqlq_add(&q, "DELETE FROM products WHERE true");
	filter_sql(&q, f);
	if (!(res = sqlq_exec(db, &q, err)))
		goto fail;
	long long n = strtoll(PQcmdTuples(res), NULL, 10);
	if (expected >= 0 && n != expected) {
		acme_err_set(err, ACME_E_TEMPFAIL, "%lld products matched when you confirmed %lld; "
			     "the catalog changed meanwhile, so nothing was deleted; run the command again",
			     n, expected);
		goto fail;
	}
	json_t *filter = products_filter_json(f);
	target = products_filter_empty(f) ? xstrdup("*") : json_dumps(filter, JSON_COMPACT);
	payload = json_pack("{s:I, s:o}", "count", (json_int_t)n, "filter", filter);
	if (outbox_add(db, "product.bulk_deleted", payload, NULL, err) < 0)
		goto fail;
	json_object_set_new(payload, "event", json_string("product.bulk_deleted"));
	details = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (audit_add(db, who->environment, who->command, target, details, err) < 0)
		goto fail;
	if (db_commit(db, err) < 0)
		goto fail;
	*deleted = n;
	rc = 0;
	goto out;
fail:
	db_rollback(db);
out:
	free(target);
	free(details);
	json_decref(payload);
	PQclear(res);
	sqlq_release(&q);
	return rc;
}

/* ---- completion ------------------------------------------------------------------------ */

int products_complete_skus(PGconn *db, const char *prefix, void (*fn)(void *arg, const char *sku),
			   void *arg, struct acme_err *err)
{
	char *pattern = like_pattern(prefix, false, true);
	char sql[256];
	const char *params[1] = { pattern };
	snprintf(sql, sizeof(sql), "SELECT sku FROM products WHERE sku_lower LIKE lower($1::text) "
		 "ORDER BY sku_lower LIMIT %d", PRODUCTS_COMPLETE_MAX);
	PGresult *res = db_exec(db, err, sql, 1, params);
	free(pattern);
	if (!res)
		return -1;
	for (int r = 0; r < PQntuples(res); r++)
		fn(arg, PQgetvalue(res, r, 0));
	PQclear(res);
	return 0;
}

int products_complete_ids(PGconn *db, const char *prefix, void (*fn)(void *arg, const char *id),
			  void *arg, struct acme_err *err)
{
	char sql[256];
	const char *params[1] = { prefix };
	for (const char *c = prefix; *c; c++)
		if (!isdigit((unsigned char)*c))
			return 0;
	/* ids starting with prefix, smallest first: id::text has no index, so
	 * the newest ids come from a bounded scan of the primary key instead */
	snprintf(sql, sizeof(sql), "SELECT id::text FROM (SELECT id FROM products ORDER BY id DESC "
		 "LIMIT 100000) p WHERE id::text LIKE $1::text || '%%' ORDER BY id LIMIT %d",
		 PRODUCTS_COMPLETE_MAX);
	PGresult *res = db_exec(db, err, sql, 1, params);
	if (!res)
		return -1;
	for (int r = 0; r < PQntuples(res); r++)
		fn(arg, PQgetvalue(res, r, 0));
	PQclear(res);
	return 0;
}
