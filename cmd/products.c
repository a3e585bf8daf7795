/* products.c — `acmectl products list|get|create|update|delete|export`: the
 * catalog for people and for scripts. The SQL is in core/products.c; this
 * file turns options into a filter, prints rows in the chosen format, asks
 * for confirmation before bulk deletes and picks the exit status.
 *
 * A product is named by its SKU: a bare word is a SKU, always, even when it
 * is a number; id:N (or --id N) names the product with id N, and sku:TEXT a
 * SKU that itself starts with "id:" (core/products.h, products_ref_parse).
 *
 * Exit status: 0 done; 1 failure; 2 usage; 3 no such product; 4 refused: a
 * SKU that already exists, or a delete refused or not confirmed; 65 a value
 * breaks the product rules; 69 the database is unreachable; 75 the catalog
 * changed while a bulk delete waited for confirmation (nothing deleted).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/output.h"
#include "core/productfields.h"
#include "core/products.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#define JSON_INPUT_MAX (64u << 20)   /* --from-json: 64 MiB is ~100,000 products */

/* ---- options -> filter ---------------------------------------------------------- */

static int filter_from_args(struct ctx *ctx, const struct args *a, struct products_filter *f)
{
	struct products_filter init = PRODUCTS_FILTER_INIT;
	*f = init;
	f->sku = args_get(a, "sku");
	f->name = args_get(a, "name");
	f->description = args_get(a, "description");
	f->query = args_get(a, "query");
	if (args_has(a, "active") && args_has(a, "inactive"))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "%s: --active and --inactive exclude "
				    "each other", a->cmdname);
	if (args_has(a, "active"))
		f->active = 1;
	else if (args_has(a, "inactive"))
		f->active = 0;
	const char *vals[] = { f->sku, f->name, f->description, f->query };
	static const char *const names[] = { "--sku", "--name", "--description", "--query" };
	for (size_t i = 0; i < 4; i++) {
		if (!vals[i])
			continue;
		if (!vals[i][0])
			return acme_err_set(&ctx->err, ACME_E_USAGE, "%s: an empty filter value matches "
					    "everything; leave the option out instead", a->cmdname);
		if (product_check_text(names[i], vals[i], strlen(vals[i]), &ctx->err) < 0)
			return acme_err_prefix(&ctx->err, "%s", a->cmdname);
	}
	return 0;
}

/* ---- printing products -------------------------------------------------------------- */

static const struct out_col full_cols[] = {
	{ "id", COL_INT }, { "sku", COL_STR }, { "name", COL_STR }, { "description", COL_STR },
	{ "price", COL_STR }, { "active", COL_BOOL }, { "created_at", COL_STR },
	{ "updated_at", COL_STR },
};
/* tables are for people: the description is long, `get` shows it */
static const struct out_col table_cols[] = {
	{ "id", COL_INT }, { "sku", COL_STR }, { "name", COL_STR }, { "price", COL_STR },
	{ "active", COL_BOOL }, { "updated_at", COL_STR },
};
#define NFULL (sizeof(full_cols) / sizeof(full_cols[0]))
#define NTABLE (sizeof(table_cols) / sizeof(table_cols[0]))

static struct output *rows_begin(struct ctx *ctx)
{
	enum out_format fmt = ctx_format(ctx);
	struct output *o = fmt == OUT_TABLE && !ctx->columns ? output_new(ctx->out, fmt, table_cols, NTABLE) :
			   output_new(ctx->out, fmt, full_cols, NFULL);
	output_set_color(o, ctx->color);
	return o;
}

static void rows_put(struct ctx *ctx, struct output *o, const struct products_row *r)
{
	const char *active = r->active ? "true" : "false";
	if (ctx_format(ctx) == OUT_TABLE && !ctx->columns) {
		const char *v[NTABLE] = { r->id, r->sku, r->name, r->price, active, r->updated_at };
		output_row(o, v);
	} else {
		const char *v[NFULL] = { r->id, r->sku, r->name, r->description, r->price, active,
					 r->created_at, r->updated_at };
		output_row(o, v);
	}
}

/* One product: a JSON object, or a FIELD/VALUE table for people. */
static void print_product(struct ctx *ctx, const struct products_row *r)
{
	enum out_format fmt = ctx_format(ctx);
	if (fmt == OUT_JSON) {
		json_t *doc = products_row_json(r);
		output_json(ctx->out, doc, true);
		json_decref(doc);
	} else if (fmt == OUT_TABLE) {
		static const struct out_col kv[] = { { "field", COL_STR }, { "value", COL_STR } };
		struct output *o = output_new(ctx->out, fmt, kv, 2);
		output_set_color(o, ctx->color);
		const char *values[NFULL] = { r->id, r->sku, r->name, r->description, r->price,
					      r->active ? "true" : "false", r->created_at, r->updated_at };
		for (size_t i = 0; i < NFULL; i++) {
			const char *row[2] = { full_cols[i].name, values[i] };
			output_row(o, row);
		}
		output_end(o, NULL);
	} else {
		struct output *o = rows_begin(ctx);
		rows_put(ctx, o, r);
		output_end(o, NULL);
	}
}

/* ---- list ---------------------------------------------------------------------------- */

struct list_state {
	struct ctx *ctx;
	struct output *o;
};

static int list_row(void *arg, const struct products_row *row, struct acme_err *err)
{
	struct list_state *st = arg;
	(void)err;
	rows_put(st->ctx, st->o, row);
	return 0;
}

static void group_digits(char *buf, size_t size, long long n)
{
	char raw[32];
	size_t len = (size_t)snprintf(raw, sizeof(raw), "%lld", n), j = 0;
	for (size_t i = 0; i < len && j + 2 < size; i++) {
		if (i && (len - i) % 3 == 0 && raw[0] != '-')
			buf[j++] = ',';
		buf[j++] = raw[i];
	}
	buf[j] = '\0';
}

static int products_list_exec(struct ctx *ctx, struct args *a)
{
	struct products_list_opts o = { 0 };
	struct products_page pg = { 0 };
	struct list_state st = { ctx, NULL };
	enum out_format fmt = ctx_format(ctx);

	if (filter_from_args(ctx, a, &o.filter) < 0)
		return -1;
	o.sort = PRODUCTS_SORT_SKU;
	if (args_get(a, "sort") && products_sort_parse(args_get(a, "sort"), &o.sort, &o.desc,
						       &ctx->err) < 0)
		return -1;
	o.limit = (long)args_int(a, "limit", PRODUCTS_LIMIT_DEFAULT);
	o.page = args_int(a, "page", 0);
	o.after = args_get(a, "after");
	if (o.page && o.after)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "products list: --page and --after "
				    "exclude each other");
	o.want_total = fmt == OUT_JSON || fmt == OUT_TABLE;

	/* --columns picks from every column, the description too */
	st.o = fmt == OUT_TABLE && !ctx->columns ? ctx_output_new(ctx, table_cols, NTABLE) :
	       ctx_output_new(ctx, full_cols, NFULL);
	if (!st.o)
		return -1;
	if (products_list(ctx->s.db, &o, list_row, &st, &pg, &ctx->err) != 0) {
		output_end(st.o, NULL);
		products_page_release(&pg);
		return -1;
	}
	json_t *meta = NULL;
	if (fmt == OUT_JSON) {
		json_t *page = json_pack("{s:i, s:I, s:b, s:o}", "limit", (int)o.limit,
					 "total", (json_int_t)pg.total, "total_is_estimate",
					 pg.total_is_estimate, "next_cursor",
					 pg.next_cursor ? json_string(pg.next_cursor) : json_null());
		if (o.page)
			json_object_set_new(page, "number", json_integer(o.page));
		meta = json_pack("{s:o}", "page", page);
	}
	output_end(st.o, meta);

	if (fmt != OUT_JSON) {
		char total[40] = "";
		if (pg.total >= 0) {
			char n[32];
			group_digits(n, sizeof(n), pg.total);
			snprintf(total, sizeof(total), " of %s%s", pg.total_is_estimate ? "about " : "", n);
		}
		if (pg.next_cursor)
			ctx_msg(ctx, "%zu%s products shown; next page: --after %s", pg.count, total,
				pg.next_cursor);
		else if (pg.count == 0 && fmt == OUT_TABLE)
			ctx_msg(ctx, "no products match");
	}
	products_page_release(&pg);
	return 0;
}

/* ---- export --------------------------------------------------------------------------------- */

/* Every format export takes is written row by row as the cursor delivers
 * them: CSV, NDJSON, or JSON as one array with a product per line ("[", then
 * each object, then "]"), so memory stays bounded for any catalog size. A
 * table would need every width first, so export takes none. */
static const struct out_col export_cols[] = {
	{ "sku", COL_STR }, { "name", COL_STR }, { "description", COL_STR },
	{ "active", COL_BOOL }, { "price", COL_STR },
};

struct export_state {
	struct ctx *ctx;
	struct output *o;
	enum out_format fmt;
	long long rows;
};

static int export_row(void *arg, const struct products_row *r, struct acme_err *err)
{
	struct export_state *st = arg;
	if (st->fmt == OUT_NDJSON) {
		json_t *doc = products_row_json(r);
		output_json(st->ctx->out, doc, false);
		json_decref(doc);
	} else if (st->fmt == OUT_JSON) {
		json_t *doc = products_row_json(r);
		char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputs(st->rows ? ",\n" : "[\n", st->ctx->out);
		fputs(s ? s : "null", st->ctx->out);
		free(s);
		json_decref(doc);
	} else {
		const char *v[5] = { r->sku, r->name, r->description, r->active ? "true" : "false",
				     r->price };
		output_row(st->o, v);
	}
	st->rows++;
	if (ferror(st->ctx->out)) {
		if (errno == EPIPE)
			return 1;   /* the reader left (| head): stop quietly */
		return acme_err_set(err, ACME_E_FAILURE, "products export: writing output: %s",
				    strerror(errno));
	}
	return 0;
}

static int products_export_exec(struct ctx *ctx, struct args *a)
{
	struct products_filter f;
	struct export_state st = { ctx, NULL, OUT_CSV, 0 };
	long long n = 0;

	if (filter_from_args(ctx, a, &f) < 0)
		return -1;
	if (!ctx->fmt_given) {
		ctx->fmt = OUT_CSV;
		ctx->fmt_given = true;
	}
	if (ctx_require_format(ctx, (1u << OUT_CSV) | (1u << OUT_NDJSON) | (1u << OUT_JSON)) < 0)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "products export: -o %s: export streams "
				    "csv, ndjson or json (a table needs every row first)",
				    out_format_name(ctx->fmt));
	st.fmt = ctx->fmt;
	if (st.fmt == OUT_CSV)
		st.o = output_new(ctx->out, OUT_CSV, export_cols, 5);
	int rc = products_export(ctx->s.db, &f, export_row, &st, &n, &ctx->err);
	if (st.o)
		output_end(st.o, NULL);
	if (rc < 0)
		return -1;
	if (rc == 0 && st.fmt == OUT_JSON)
		fputs(st.rows ? "\n]\n" : "[]\n", ctx->out);
	if (rc == 0)
		ctx_msg(ctx, "exported %lld product%s", n, n == 1 ? "" : "s");
	return 0;
}

/* ---- naming one product ------------------------------------------------------------------ */

/* The product named by the SKU argument (or id:N) or by --id N, as a key
 * for core/products.h; buf holds "id:N". NULL with ctx->err set. */
static const char *key_from_args(struct ctx *ctx, const struct args *a, char *buf, size_t size)
{
	const char *id = args_get(a, "id");
	if (id && a->argc > 0) {
		acme_err_set(&ctx->err, ACME_E_USAGE, "%s: give a SKU or --id N, not both", a->cmdname);
		return NULL;
	}
	if (!id && a->argc == 0) {
		acme_err_set(&ctx->err, ACME_E_USAGE, "%s: name the product: a SKU, id:N or --id N",
			     a->cmdname);
		return NULL;
	}
	if (!id)
		return a->argv[0];
	snprintf(buf, size, PRODUCTS_REF_ID "%s", id);
	return buf;
}

/* ---- get ------------------------------------------------------------------------------------- */

static int products_get_exec(struct ctx *ctx, struct args *a)
{
	struct products_row row = { 0 };
	char buf[48];
	const char *key = key_from_args(ctx, a, buf, sizeof(buf));
	if (!key || products_get(ctx->s.db, key, &row, &ctx->err) < 0)
		return -1;
	print_product(ctx, &row);
	products_row_release(&row);
	return 0;
}

/* ---- create, update -------------------------------------------------------------------------- */

static const struct { const char *opt; enum product_field field; } field_opts[] = {
	{ "sku", PRODUCT_SKU }, { "name", PRODUCT_NAME }, { "description", PRODUCT_DESCRIPTION },
	{ "price", PRODUCT_PRICE },
};

/* The fields given as options; messages name the option. */
static int input_from_args(struct ctx *ctx, const struct args *a, struct products_input *in)
{
	for (size_t i = 0; i < sizeof(field_opts) / sizeof(field_opts[0]); i++) {
		const char *v = args_get(a, field_opts[i].opt);
		if (v && products_input_set(in, field_opts[i].field, v, strlen(v), &ctx->err) < 0)
			return acme_err_prefix(&ctx->err, "%s: --%s", a->cmdname, field_opts[i].opt);
	}
	if (args_has(a, "active") && args_has(a, "inactive"))
		return acme_err_set(&ctx->err, ACME_E_USAGE, "%s: --active and --inactive exclude "
				    "each other", a->cmdname);
	if (args_has(a, "active") || args_has(a, "inactive"))
		products_input_set(in, PRODUCT_ACTIVE, args_has(a, "active") ? "true" : "false",
				   args_has(a, "active") ? 4 : 5, &ctx->err);
	return 0;
}

static char *read_all(struct ctx *ctx, const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct strbuf sb;
	char buf[65536];
	size_t n;
	bool too_big = false;
	if (!f) {
		acme_err_set(&ctx->err, ACME_E_DATA, "--from-json %s: %s", path, strerror(errno));
		return NULL;
	}
	strbuf_init(&sb, JSON_INPUT_MAX);
	while (!too_big && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		too_big = strbuf_add(&sb, buf, n) < 0;
	bool failed = ferror(f) != 0;
	if (failed)
		acme_err_set(&ctx->err, ACME_E_DATA, "--from-json %s: %s", path, strerror(errno));
	else if (too_big)
		acme_err_set(&ctx->err, ACME_E_DATA, "--from-json %s: larger than %u MiB; use "
			     "'acmectl import' for big files", path, JSON_INPUT_MAX >> 20);
	if (f != stdin)
		fclose(f);
	if (failed || too_big) {
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb, len);
}

/* --from-json: one object, an array of objects, or one object per line. */
static int inputs_from_json(struct ctx *ctx, const char *path, struct products_input **out,
			    size_t *n)
{
	size_t len = 0, cap = 0;
	char *text = read_all(ctx, path, &len);
	json_error_t jerr;
	*out = NULL;
	*n = 0;
	if (!text)
		return -1;
	json_t *doc = json_loadb(text, len, 0, &jerr);
	json_t *list = NULL;
	if (doc) {
		list = json_is_array(doc) ? json_incref(doc) : json_pack("[O]", doc);
	} else {
		/* NDJSON, as `products export -o ndjson` writes it */
		size_t pos = 0;
		list = json_array();
		while (pos < len) {
			size_t used = 0;
			while (pos < len && (text[pos] == '\n' || text[pos] == '\r' || text[pos] == ' '))
				pos++;
			if (pos >= len)
				break;
			json_t *obj = json_loadb(text + pos, len - pos, JSON_DISABLE_EOF_CHECK, &jerr);
			if (!obj) {
				json_decref(list);
				list = NULL;
				break;
			}
			used = (size_t)jerr.position;
			json_array_append_new(list, obj);
			pos += used ? used : len - pos;
		}
	}
	free(text);
	json_decref(doc);
	if (!list) {
		return acme_err_set(&ctx->err, ACME_E_DATA, "--from-json %s: line %d: %s", path,
				    jerr.line, jerr.text);
	}
	int rc = 0;
	size_t count = json_array_size(list);
	if (count == 0)
		rc = acme_err_set(&ctx->err, ACME_E_DATA, "--from-json %s: no product in it", path);
	for (size_t i = 0; i < count && rc == 0; i++) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		memset(&(*out)[*n], 0, sizeof(**out));
		(*n)++;
		if (products_input_from_json(&(*out)[*n - 1], json_array_get(list, i), &ctx->err) < 0)
			rc = count > 1 ? acme_err_prefix(&ctx->err, "--from-json %s: product %zu",
							  path, i + 1) :
			     acme_err_prefix(&ctx->err, "--from-json %s", path);
		else if (!(*out)[*n - 1].sku || !(*out)[*n - 1].name)
			rc = acme_err_set(&ctx->err, ACME_E_DATA, "--from-json %s: product %zu: %s is "
					  "required", path, i + 1, (*out)[*n - 1].sku ? "name" : "sku");
	}
	json_decref(list);
	return rc;
}

struct change_state {
	struct ctx *ctx;
	bool multi;             /* several products: one list... */
	struct output *o;       /* ...begun with the first one */
	size_t n;
};

static int change_done(void *arg, const struct products_row *row, enum products_outcome what,
		       struct acme_err *err)
{
	struct change_state *st = arg;
	(void)err;
	st->n++;
	ctx_msg(st->ctx, "%s product %s (%s)", products_outcome_name(what), row->id, row->sku);
	if (what == PRODUCTS_DELETED)
		return 0;
	if (st->multi) {
		if (!st->o)
			st->o = rows_begin(st->ctx);
		rows_put(st->ctx, st->o, row);
	} else {
		print_product(st->ctx, row);
	}
	return 0;
}

static struct products_actor actor(struct ctx *ctx, const struct args *a)
{
	struct products_actor w = { config_get(&ctx->s.cfg, CFG_ENV), a->cmdname };
	return w;
}

static int products_create_exec(struct ctx *ctx, struct args *a)
{
	struct products_input one = { 0 }, *in = &one;
	size_t n = 1;
	struct change_state st = { ctx, false, NULL, 0 };
	struct products_actor who = actor(ctx, a);
	const char *json = args_get(a, "from-json");
	int rc = -1;

	if (json) {
		for (size_t i = 0; i < sizeof(field_opts) / sizeof(field_opts[0]); i++)
			if (args_has(a, field_opts[i].opt))
				return acme_err_set(&ctx->err, ACME_E_USAGE, "products create: --from-json "
						    "and --%s exclude each other", field_opts[i].opt);
		if (args_has(a, "inactive"))
			return acme_err_set(&ctx->err, ACME_E_USAGE, "products create: --from-json and "
					    "--inactive exclude each other");
		if (inputs_from_json(ctx, json, &in, &n) < 0)
			goto out;
	} else {
		if (!args_get(a, "sku") || !args_get(a, "name"))
			return acme_err_set(&ctx->err, ACME_E_USAGE, "products create: --sku and --name "
					    "are required (or --from-json FILE)");
		if (input_from_args(ctx, a, in) < 0)
			goto out;
	}
	st.multi = n > 1;
	rc = products_create(ctx->s.db, in, n, args_has(a, "upsert"), &who, change_done, &st,
			     &ctx->err);
	if (st.o)
		output_end(st.o, NULL);
	if (rc == 0 && n > 1)
		ctx_msg(ctx, "%zu products written", n);
out:
	for (size_t i = 0; i < n && in; i++)
		products_input_release(&in[i]);
	if (in != &one)
		free(in);
	return rc;
}

static int products_update_exec(struct ctx *ctx, struct args *a)
{
	struct products_input in = { 0 };
	struct change_state st = { ctx, false, NULL, 0 };
	struct products_actor who = actor(ctx, a);
	char buf[48];
	const char *key = key_from_args(ctx, a, buf, sizeof(buf));
	int rc = -1;
	if (!key || input_from_args(ctx, a, &in) < 0)
		goto out;
	if (!in.present) {
		acme_err_set(&ctx->err, ACME_E_USAGE, "products update: nothing to change; give "
			     "--sku, --name, --description, --price, --active or --inactive");
		goto out;
	}
	rc = products_update(ctx->s.db, key, &in, &who, change_done, &st, &ctx->err);
out:
	products_input_release(&in);
	return rc;
}

/* ---- delete ------------------------------------------------------------------------------------ */

/* The one confirmation policy (core/confirm.h): deletes by SKU or id are
 * CONFIRM_NAMED (asked in production only), bulk deletes CONFIRM_BULK (the
 * count typed back). 0 confirmed, 1 after --dry-run (said what would go), -1
 * refused (ctx->err set, ACME_E_REFUSED). count_word is the number of a bulk
 * delete, or NULL for deletes by name. */
static int confirm_delete(struct ctx *ctx, const struct args *a, const char *what,
			  const char *count_word)
{
	char *action = xasprintf("delete %s", what);
	char *headline = xasprintf("This deletes %s from the %s database%s.", what,
				   config_get(&ctx->s.cfg, CFG_ENV),
				   count_word ? " and cannot be undone" : "");
	struct confirm_text ct = { action, headline, "products", "nothing was deleted" };
	int rc = ctx_dry_run(ctx, a, action) ? 1 :
		 ctx_confirm_action(ctx, a, count_word ? CONFIRM_BULK : CONFIRM_NAMED,
				    count_word ? strtoll(count_word, NULL, 10) : 1, &ct);
	if (rc < 0)
		acme_err_prefix(&ctx->err, "products delete");
	free(action);
	free(headline);
	return rc;
}

static int products_delete_exec(struct ctx *ctx, struct args *a)
{
	struct products_filter f;
	struct products_actor who = actor(ctx, a);
	bool all = args_has(a, "all");

	if (filter_from_args(ctx, a, &f) < 0)
		return -1;
	bool filtered = !products_filter_empty(&f);

	const char **ids = NULL;
	int nids = args_all(a, "id", &ids);
	if (a->argc > 0 || nids > 0) {
		struct change_state st = { ctx, false, NULL, 0 };
		if (all || filtered)
			return acme_err_set(&ctx->err, ACME_E_USAGE, "products delete: give SKUs or ids, "
					    "or --all / filters, not both");
		/* the SKUs (and id:N) as given, then one id:N per --id */
		size_t nkeys = (size_t)a->argc + (size_t)nids;
		char **keys = xcalloc(nkeys, sizeof(*keys));
		for (int i = 0; i < a->argc; i++)
			keys[i] = xstrdup(a->argv[i]);
		for (int i = 0; i < nids; i++)
			keys[a->argc + i] = xasprintf(PRODUCTS_REF_ID "%s", ids[i]);
		char *what = xasprintf("%zu product%s", nkeys, nkeys == 1 ? "" : "s");
		int rc = confirm_delete(ctx, a, what, NULL);
		free(what);
		if (rc == 0)
			rc = products_delete(ctx->s.db, (const char *const *)keys, nkeys, &who,
					     change_done, &st, &ctx->err);
		for (size_t i = 0; i < nkeys; i++)
			free(keys[i]);
		free(keys);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		if (ctx_format(ctx) == OUT_JSON && ctx->fmt_given) {
			json_t *doc = json_pack("{s:I}", "deleted", (json_int_t)st.n);
			output_json(ctx->out, doc, true);
			json_decref(doc);
		}
		return 0;
	}

	if (!all && !filtered)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "products delete: give SKUs (or id:N, "
				    "--id N), or --all, or filters (--sku, --name, --description, --query, "
				    "--active, --inactive) to delete what matches");
	if (all && filtered)
		return acme_err_set(&ctx->err, ACME_E_USAGE, "products delete: --all deletes every "
				    "product; it takes no filters");

	long long count;
	if (products_count(ctx->s.db, &f, &count, &ctx->err) < 0)
		return -1;
	if (count == 0) {
		ctx_msg(ctx, "no products match; nothing to delete");
		return 0;
	}
	char count_word[32], *what;
	snprintf(count_word, sizeof(count_word), "%lld", count);
	if (all) {
		what = xasprintf("all %lld product%s", count, count == 1 ? "" : "s");
	} else {
		json_t *fj = products_filter_json(&f);
		char *text = json_dumps(fj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(fj);
		what = xasprintf("%lld product%s matching %s", count, count == 1 ? "" : "s", text);
		free(text);
	}
	bool asked = !args_has(a, "yes");
	int rc = confirm_delete(ctx, a, what, count_word);
	free(what);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	long long deleted;
	/* a prompted user confirmed a number: insist on it */
	if (products_bulk_delete(ctx->s.db, &f, asked ? count : -1, &who, &deleted, &ctx->err) < 0)
		return -1;
	ctx_msg(ctx, "deleted %lld product%s", deleted, deleted == 1 ? "" : "s");
	if (ctx_format(ctx) == OUT_JSON && ctx->fmt_given) {
		json_t *doc = json_pack("{s:I}", "deleted", (json_int_t)deleted);
		output_json(ctx->out, doc, true);
		json_decref(doc);
	}
	return 0;
}

/* ---- tables ---------------------------------------------------------------------------------------- */

#define SORT_CHOICES "sku|sku:desc|name|name:desc|price|price:desc|created_at|created_at:desc|" \
	"updated_at|updated_at:desc|id|id:desc"

#define FILTER_OPTS \
	{ "sku", 0, OPT_STRING, "SKU", "this SKU, any case; SKU* for every SKU starting with it", \
	  0, 0, "@sku", 0 }, \
	{ "name", 0, OPT_STRING, "TEXT", "name contains TEXT (any case, literally)", 0, 0, NULL, 0 }, \
	{ "description", 0, OPT_STRING, "TEXT", "description contains TEXT (any case, literally)", \
	  0, 0, NULL, 0 }, \
	{ "query", 0, OPT_STRING, "TEXT", "SKU starts with TEXT, or name or description contains it", \
	  0, 0, NULL, 0 }, \
	{ "active", 0, OPT_FLAG, NULL, "active products only", 0, 0, NULL, 0 }, \
	{ "inactive", 0, OPT_FLAG, NULL, "inactive products only", 0, 0, NULL, 0 }

static const struct opt list_opts[] = {
	FILTER_OPTS,
	{ "sort", 0, OPT_STRING, "FIELD[:desc]", "order by sku (default), name, price, created_at, "
	  "updated_at or id", 0, 0, SORT_CHOICES, 0 },
	{ "limit", 0, OPT_INT, "N", "products per page (default 50)", 1, PRODUCTS_LIMIT_MAX, NULL, 0 },
	{ "page", 0, OPT_INT, "N", "page N (1-based; deep pages are faster with --after)", 1,
	  1000000000, NULL, 0 },
	{ "after", 0, OPT_STRING, "CURSOR", "the page after CURSOR (next_cursor of the previous page)",
	  0, 0, NULL, 0 },
	OPT_END
};

static const struct opt export_opts[] = {
	FILTER_OPTS,
	OPT_END
};

static const struct opt create_opts[] = {
	{ "sku", 0, OPT_STRING, "SKU", "the SKU (unique in any case)", 0, 0, NULL, 0 },
	{ "name", 0, OPT_STRING, "NAME", "the name", 0, 0, NULL, 0 },
	{ "description", 0, OPT_STRING, "TEXT", "the description", 0, 0, NULL, 0 },
	{ "price", 0, OPT_STRING, "PRICE", "the price, e.g. 12.50", 0, 0, NULL, 0 },
	{ "inactive", 0, OPT_FLAG, NULL, "create it inactive", 0, 0, NULL, 0 },
	{ "from-json", 0, OPT_STRING, "FILE", "read the product(s) from a JSON file (- for stdin)",
	  0, 0, "file", 0 },
	{ "upsert", 0, OPT_FLAG, NULL, "overwrite the product if the SKU exists (in any case)",
	  0, 0, NULL, 0 },
	OPT_END
};

#define ID_OPT(help, flags) \
	{ "id", 0, OPT_INT, "N", help, 1, 999999999999999999LL, "@product-id", flags }

static const struct opt get_opts[] = {
	ID_OPT("the product with id N (the same as id:N)", 0),
	OPT_END
};

static const struct opt update_opts[] = {
	ID_OPT("change the product with id N (the same as id:N)", 0),
	{ "sku", 0, OPT_STRING, "SKU", "rename the SKU", 0, 0, NULL, 0 },
	{ "name", 0, OPT_STRING, "NAME", "set the name", 0, 0, NULL, 0 },
	{ "description", 0, OPT_STRING, "TEXT", "set the description (empty clears it)",
	  0, 0, NULL, 0 },
	{ "price", 0, OPT_STRING, "PRICE", "set the price (empty clears it)", 0, 0, NULL, 0 },
	{ "active", 0, OPT_FLAG, NULL, "make it active", 0, 0, NULL, 0 },
	{ "inactive", 0, OPT_FLAG, NULL, "make it inactive", 0, 0, NULL, 0 },
	OPT_END
};

static const struct opt delete_opts[] = {
	ID_OPT("also delete the product with id N (the same as id:N); repeatable", OPT_REPEAT),
	FILTER_OPTS,
	{ "all", 0, OPT_FLAG, NULL, "delete every product", 0, 0, NULL, 0 },
	{ "yes", 'y', OPT_FLAG, NULL, "do not ask for confirmation (needed without a terminal)",
	  0, 0, NULL, 0 },
	{ "dry-run", 'n', OPT_FLAG, NULL, "say what would be deleted; change nothing", 0, 0, NULL, 0 },
	OPT_END
};

#define FILTER_USAGE "[--sku SKU] [--name TEXT] [--description TEXT] [--query TEXT] " \
	"[--active|--inactive]"

static const struct cmd_verb products_verbs[] = {
	{ "list", FILTER_USAGE " [--sort FIELD[:desc]] [--limit N] [--page N | --after CURSOR] "
	  "[-o FORMAT]", "list products, filtered, sorted and paged", list_opts,
	  products_list_exec, CMD_NEEDS_DB, 0, 0, NULL },
	{ "get", "SKU|id:N|--id N [-o FORMAT]", "show one product", get_opts, products_get_exec,
	  CMD_NEEDS_DB, 0, 1, "@sku" },
	{ "create", "--sku SKU --name NAME [--description TEXT] [--price PRICE] [--inactive] "
	  "[--upsert] | --from-json FILE|- [--upsert]", "create a product (or several from JSON)",
	  create_opts, products_create_exec, CMD_NEEDS_DB | CMD_MUTATES, 0, 0, NULL },
	{ "update", "SKU|id:N|--id N [--sku SKU] [--name NAME] [--description TEXT] [--price PRICE] "
	  "[--active|--inactive]", "change some fields of a product", update_opts,
	  products_update_exec, CMD_NEEDS_DB | CMD_MUTATES, 0, 1, "@sku" },
	{ "delete", "SKU|id:N... [--id N]... | --all | " FILTER_USAGE " [--yes] [--dry-run]",
	  "delete products by SKU or id:N, or every product matching filters (asks first)",
	  delete_opts, products_delete_exec, CMD_NEEDS_DB | CMD_MUTATES, 0, -1, "@sku" },
	{ "export", FILTER_USAGE " [-o csv|ndjson|json]", "write every matching product as CSV "
	  "(re-importable), NDJSON or a JSON array, streamed", export_opts, products_export_exec,
	  CMD_NEEDS_DB, 0, 0, NULL },
	/* an alias of `acmectl import`: the same options, usage and code */
	{ "import", import_usage, import_summary, import_opts, import_exec,
	  CMD_NEEDS_DB | CMD_NEEDS_REDIS | CMD_MUTATES, 1, 1, "file" },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, 0, NULL }
};

static const char *const products_aliases[] = { "product", NULL };

const struct cmd_entry cmd_products = {
	.name = "products",
	.aliases = products_aliases,
	.summary = "list, show, create, change, delete, export and import products",
	.description = "Products are named by SKU: a bare word is always a SKU, even a number;\n"
		       "id:N (or --id N) names the product with id N.\n"
		       "Filters match SKUs exactly or by prefix (ABC*) and names and descriptions by\n"
		       "substring, all case-insensitively and literally. Lists are paged by cursor\n"
		       "(--after), so deep pages are as fast as the first. Every change writes its\n"
		       "outbox event and an audit log row in the same transaction. Bulk deletes ask\n"
		       "for the number of products on a terminal and need --yes without one.\n"
		       "'products import' is 'acmectl import' under another name.\n"
		       "See acmectl-products(1).",
	.verbs = products_verbs,
};
