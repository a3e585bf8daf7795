/* output.h — print rows of data in the format the user asked for.
 *
 *   table   aligned columns with a header (the default on a TTY)
 *   tsv     tab-separated with a header line (the default when piped);
 *           tab, newline and backslash inside values are escaped as \t \n \\
 *   csv     RFC 4180, header line, quoted where needed
 *   json    one envelope {"items": [...], "page": {"limit", "next_cursor", ...}}
 *   ndjson  one JSON object per line (the items, no envelope)
 *
 * The JSON shape is a contract (acmectl(1), STABILITY): every list prints
 * through here, so every list has the envelope, and "page" is always there
 * ({"limit": null, "next_cursor": null} for a list that does not page).
 * Fields are added, never renamed or removed, within a major version.
 * Single objects (show, get) are printed with output_json(), not here.
 *
 * Rows stream to the FILE as they come, except for table, which must see every
 * row to size its columns (tables are for people; lists are paged). Column
 * types make JSON values typed; a NULL value is JSON null and empty elsewhere.
 */
#ifndef ACME_OUTPUT_H
#define ACME_OUTPUT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "core/err.h"

enum out_format { OUT_TABLE, OUT_TSV, OUT_CSV, OUT_JSON, OUT_NDJSON };
enum col_type { COL_STR, COL_INT, COL_NUM, COL_BOOL, COL_JSON };

struct out_col {
	const char *name;
	enum col_type type;
};

struct output;

int out_format_parse(const char *s, enum out_format *out);  /* 0 / -1 */
const char *out_format_name(enum out_format f);
#define OUT_FORMAT_NAMES "table, tsv, csv, json, ndjson"

/* f is not owned. The columns array must outlive the output. */
struct output *output_new(FILE *f, enum out_format fmt, const struct out_col *cols, size_t ncols);
void output_set_color(struct output *o, bool color);  /* bold table header */
/* json always prints the envelope now; this is kept as a no-op. */
void output_set_envelope(struct output *o);
/* table, tsv, csv: print the header line (default on). Before the first row. */
void output_set_headers(struct output *o, bool on);
/* Show only these columns, in this order: "a,b,c" of the columns' names.
 * Before the first row. -1 with ACME_E_USAGE naming the valid columns when
 * a name is not one of them. Tables, tsv and csv; JSON keeps every field. */
int output_select_columns(struct output *o, const char *list, struct acme_err *err);
/* json or ndjson: the caller may hand whole items to output_item(). */
bool output_is_json(const struct output *o);
/* values[ncols]; copied. For COL_BOOL use "t"/"f"/"true"/"false". */
void output_row(struct output *o, const char *const *values);
/* json/ndjson only: one prebuilt item (consumed), for lists whose items are
 * richer than their table columns. Ignored (freed) in other formats. */
void output_item(struct output *o, json_t *item);
/* Finish: tables are printed, JSON closed. meta's fields follow "items"
 * (a "page" is added when meta has none). meta (may be NULL) is consumed.
 * Frees o. */
void output_end(struct output *o, json_t *meta);
/* {"page": {"limit": limit or null when <= 0, "next_cursor": cursor or null}},
 * the meta of a list; add fields to its "page" as needed. A new reference. */
json_t *output_page(long long limit, const char *next_cursor);

/* One value to JSON by column type (a new reference). */
json_t *output_json_value(enum col_type t, const char *v);

/* Print one JSON document (pretty when pretty) followed by a newline. */
/* JSON values from database and Redis text, the same everywhere:
 * json_text_value: a JSON text as its value (the text itself as a string
 * when it does not parse; NULL is null); json_str_or_null: NULL is null;
 * json_nonempty_or_null: NULL and "" are null; json_time_or_null: epoch ms as
 * RFC 3339 UTC text (core/clock.h), 0 is null. New references. */
json_t *json_text_value(const char *text);
json_t *json_str_or_null(const char *s);
json_t *json_nonempty_or_null(const char *s);
json_t *json_time_or_null(long long ms);

void output_json(FILE *f, json_t *doc, bool pretty);

/* Numbers for people, written into buf (returned): "1.5 MiB", a rate
 * "12k" (per second, no unit), a duration "1:02" or "1:02:03". */
const char *human_bytes(char *buf, size_t len, double b);
const char *human_rate(char *buf, size_t len, double r);
const char *human_duration(char *buf, size_t len, long long ms);

#endif
