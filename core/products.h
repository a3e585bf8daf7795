/* products.h — the product catalog as `acmectl products` (and later the TUI)
 * sees it: filtered, sorted, keyset-paginated lists; streaming export; get,
 * create (or upsert), partial update, delete, bulk delete; SKU completion.
 *
 * Every statement is parameterised: filters are built by appending "$n"
 * placeholders, never user text. Every change runs in one transaction with
 * its outbox event (product.created, product.updated, product.deleted, one
 * product.bulk_deleted per bulk delete) and its audit_log row, so the three
 * commit together or not at all. Input is validated with core/productfields.h, the
 * importer's rules.
 *
 * Products come back as struct products_row: text values as PostgreSQL gives
 * them (price normalised "12.50", timestamps ISO 8601 UTC with microseconds
 * "2026-01-02T03:04:05.123456Z"), NULL for a missing description or price.
 */
#ifndef ACME_PRODUCTS_H
#define ACME_PRODUCTS_H
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "core/call.h"
#include "core/err.h"
#include "core/productfields.h"

#define PRODUCTS_LIMIT_DEFAULT  50
#define PRODUCTS_LIMIT_MAX      10000
#define PRODUCTS_COUNT_CAP      10000   /* totals above this are estimates */
#define PRODUCTS_COUNT_BUDGET_MS 10     /* ...and so are counts slower than this */
#define PRODUCTS_EXPORT_BATCH   10000   /* rows per FETCH */
#define PRODUCTS_COMPLETE_MAX   50      /* SKUs offered to the shell */

/* X(id, name, sql expression) — the sort keys, in the order --help shows. */
#define PRODUCTS_SORT_FIELDS(X)   \
	X(SKU,        "sku")         \
	X(NAME,       "name")        \
	X(PRICE,      "price")       \
	X(CREATED_AT, "created_at")  \
	X(UPDATED_AT, "updated_at")  \
	X(ID,         "id")

enum products_sort {
#define X(id, name) PRODUCTS_SORT_##id,
	PRODUCTS_SORT_FIELDS(X)
#undef X
	PRODUCTS_SORT__COUNT
};

/* "sku" -> PRODUCTS_SORT_SKU; "name:desc" sets *desc. 0 / -1 (ACME_E_USAGE). */
int products_sort_parse(const char *s, enum products_sort *field, bool *desc,
			struct acme_err *err);
const char *products_sort_name(enum products_sort field);

/* Which products. Every member is optional (NULL / -1 = no condition); the
 * conditions are ANDed. Matching is case-insensitive and literal: %, _ and \
 * in the values match themselves. */
struct products_filter {
	const char *sku;          /* exact SKU, or a prefix when it ends in '*' */
	const char *name;         /* substring of the name */
	const char *description;  /* substring of the description */
	const char *query;        /* SKU prefix, or substring of name or description */
	int active;               /* 1 active only, 0 inactive only, -1 both */
};
#define PRODUCTS_FILTER_INIT { NULL, NULL, NULL, NULL, -1 }

bool products_filter_empty(const struct products_filter *f);
/* The filter as JSON ({"sku": "ABC*", "active": true}; {} when empty), for
 * events and the audit log. New reference. */
json_t *products_filter_json(const struct products_filter *f);

/* One product. All strings are NUL-terminated; description and price may be
 * NULL. The pointers belong to whoever produced the row: in callbacks they
 * are valid until the callback returns; rows filled by products_get() and
 * friends hold their memory until products_row_release(). */
struct products_row {
	const char *id, *sku, *name, *description, *price, *created_at, *updated_at;
	bool active;
	void *priv;               /* owned result, if any */
};
void products_row_release(struct products_row *row);
/* {"id": 42, "sku": ..., "price": "12.50" | null, "active": true, ...};
 * new reference. price is a string so no precision is lost. */
json_t *products_row_json(const struct products_row *row);

/* Called once per product; a non-zero return stops the iteration and is
 * returned by the caller (set err first when it is -1). */
typedef int (*products_row_fn)(void *arg, const struct products_row *row, struct acme_err *err);

struct products_list_opts {
	struct products_filter filter;
	enum products_sort sort;
	bool desc;
	long limit;               /* 1..PRODUCTS_LIMIT_MAX */
	long long page;           /* 1-based page number (OFFSET); 0 = not given */
	const char *after;        /* a cursor from a previous page; NULL = first page */
	bool want_total;
};

struct products_page {
	size_t count;             /* rows passed to the callback */
	long long total;          /* matching products (-1 when not asked) */
	bool total_is_estimate;   /* the planner's estimate: above PRODUCTS_COUNT_CAP, or
				     counting took longer than PRODUCTS_COUNT_BUDGET_MS */
	char *next_cursor;        /* owned (free()); NULL on the last page */
};
void products_page_release(struct products_page *pg);

/* One page of products in the requested order. Keyset pagination: the
 * cursor (base64url of the sort, the last row's key and id) makes any page
 * as fast as the first, and rows inserted meanwhile neither repeat nor skip
 * rows. A cursor made for another sort is a usage error. */
int products_list(PGconn *db, const struct products_list_opts *o, products_row_fn fn, void *arg,
		  struct products_page *pg, struct acme_err *err);

/* Every matching product ordered by SKU, read through a server-side cursor
 * PRODUCTS_EXPORT_BATCH rows at a time in one read-only snapshot: memory does
 * not grow with the catalog. *count gets the number of rows (may be NULL). */
int products_export(PGconn *db, const struct products_filter *f, products_row_fn fn, void *arg,
		    long long *count, struct acme_err *err);

/* Exact number of matching products. */
int products_count(PGconn *db, const struct products_filter *f, long long *n,
		   struct acme_err *err);

/* Non-blocking forms for a screen that refreshes (core/call.h): _start sends
 * the same statement as the blocking function on db and returns at once
 * (0 / -1 with err); the caller polls pgcall_fd() and steps the call, then
 * _finish reads the result as the blocking function does and ends the call
 * (it must be called once for every started call, also to abandon one).
 * Errors as the blocking function's, plus ACME_E_TEMPFAIL when deadline_ms
 * (<= 0: none) passed.
 *
 * products_list_finish() passes the rows to fn and fills pg like
 * products_list(), except the total: it is set only when the whole match
 * fitted on a first page, else -1 (a screen asks products_count_start() for
 * it, with a deadline instead of the estimate and budget). o must be the
 * options the call was started with. */
int products_list_start(struct pgcall *call, PGconn *db, const struct products_list_opts *o,
			long deadline_ms, struct acme_err *err);
int products_list_finish(struct pgcall *call, const struct products_list_opts *o,
			 products_row_fn fn, void *arg, struct products_page *pg,
			 struct acme_err *err);
int products_count_start(struct pgcall *call, PGconn *db, const struct products_filter *f,
			 long deadline_ms, struct acme_err *err);
int products_count_finish(struct pgcall *call, long long *n, struct acme_err *err);

/* How a user names a product (issue 11): a bare word is a SKU, always, even
 * when it is a number; "id:42" is the product with id 42; "sku:TEXT" is the
 * SKU TEXT, for the rare SKU that itself starts with "id:" or "sku:". Every
 * function below that takes a `key` reads it this way. */
#define PRODUCTS_REF_ID  "id:"
#define PRODUCTS_REF_SKU "sku:"
struct products_ref {
	const char *sku;          /* a SKU (points into the key), or NULL... */
	long long id;             /* ...for an id */
};
/* 0, or -1 with ACME_E_USAGE ("id:x", an empty SKU). */
int products_ref_parse(const char *key, struct products_ref *ref, struct acme_err *err);

/* The product a user names (see products_ref_parse). ACME_E_NOT_FOUND when
 * there is none; ACME_E_USAGE for a malformed key. */
int products_get(PGconn *db, const char *key, struct products_row *out, struct acme_err *err);

/* ---- changes ------------------------------------------------------------------- */

/* Who changes what, for the audit log. */
struct products_actor {
	const char *environment;  /* "production" */
	const char *command;      /* "products delete" */
};

/* Validated values for create/update. `present` says which fields were
 * given (PRODUCT_F() bits); the strings are owned. */
struct products_input {
	unsigned present;
	char *sku;
	char *name;
	char *description;        /* NULL: none (an empty value clears it) */
	bool active;
	bool price_null;          /* an empty price clears it */
	char price[PRODUCT_PRICE_TEXT_MAX];
};
void products_input_release(struct products_input *in);
/* Validate and set one field from raw bytes (core/productfields.h rules). 0 / -1
 * with ACME_E_DATA naming the field. */
int products_input_set(struct products_input *in, enum product_field f, const char *s,
		       size_t len, struct acme_err *err);
/* Fill from a JSON object: sku, name, description, active (boolean or a
 * productfields.h word), price (number or string; null clears). id, created_at and
 * updated_at are ignored (export -o ndjson re-creates); other keys are an
 * error. ACME_E_DATA. */
int products_input_from_json(struct products_input *in, json_t *obj, struct acme_err *err);

enum products_outcome { PRODUCTS_CREATED, PRODUCTS_UPDATED, PRODUCTS_UNCHANGED, PRODUCTS_DELETED };
const char *products_outcome_name(enum products_outcome o);

/* Called for each product written, with what happened to it. */
typedef int (*products_change_fn)(void *arg, const struct products_row *row,
				  enum products_outcome what, struct acme_err *err);

/* Create n products (each needs sku and name) in one transaction. A SKU that
 * exists in any case fails the whole batch (ACME_E_REFUSED naming the
 * existing product and its id) unless upsert, which overwrites the given fields and
 * leaves an identical product unchanged (no event, no audit row). */
int products_create(PGconn *db, const struct products_input *in, size_t n, bool upsert,
		    const struct products_actor *who, products_change_fn fn, void *arg,
		    struct acme_err *err);

/* Change the given fields of the product named by key. Setting the values it
 * already has is PRODUCTS_UNCHANGED and writes nothing. ACME_E_NOT_FOUND;
 * ACME_E_REFUSED for a rename onto another product's SKU. */
int products_update(PGconn *db, const char *key, const struct products_input *in,
		    const struct products_actor *who, products_change_fn fn, void *arg,
		    struct acme_err *err);

/* Delete the products named by keys[0..n) in one transaction; if any does
 * not exist nothing is deleted (ACME_E_NOT_FOUND naming it). */
int products_delete(PGconn *db, const char *const *keys, size_t n,
		    const struct products_actor *who, products_change_fn fn, void *arg,
		    struct acme_err *err);

/* Delete every product matching f (an empty filter: all of them) with one
 * product.bulk_deleted event and one audit row. expected >= 0 is the count
 * the user confirmed: if another number of products matches now, nothing is
 * deleted (ACME_E_TEMPFAIL). */
int products_bulk_delete(PGconn *db, const struct products_filter *f, long long expected,
			 const struct products_actor *who, long long *deleted,
			 struct acme_err *err);

/* ---- completion ---------------------------------------------------------------- */

/* Up to PRODUCTS_COMPLETE_MAX SKUs starting with prefix (any case), in SKU
 * order, to fn (a NUL-terminated SKU each). */
int products_complete_skus(PGconn *db, const char *prefix, void (*fn)(void *arg, const char *sku),
			   void *arg, struct acme_err *err);
/* Up to PRODUCTS_COMPLETE_MAX ids whose decimal form starts with prefix
 * (digits only; anything else offers none), among the newest 100,000
 * products, smallest first, to fn. */
int products_complete_ids(PGconn *db, const char *prefix, void (*fn)(void *arg, const char *id),
			  void *arg, struct acme_err *err);

#endif
