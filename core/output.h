/* output.h — print rows of data in the format the user asked for.
 *
 *   table   aligned columns with a header (the default on a TTY)
 *   tsv     tab-separated with a header line (the default when piped);
 *           tab, newline and backslash inside values are escaped as \t \n \\
 *   csv     RFC 4180, header line, quoted where needed
 *   json    one JSON array of objects (or one object for output_object())
 *   ndjson  one JSON object per line
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
/* json only, before the first row: print {"items": [...], meta...} instead
 * of a bare array; output_end()'s meta supplies the other fields. */
void output_set_envelope(struct output *o);
/* values[ncols]; copied. For COL_BOOL use "t"/"f"/"true"/"false". */
void output_row(struct output *o, const char *const *values);
/* Finish: tables are printed, JSON arrays closed. With an envelope, meta's
 * fields follow "items". meta (may be NULL) is consumed. Frees o. */
void output_end(struct output *o, json_t *meta);

/* One value to JSON by column type (a new reference). */
json_t *output_json_value(enum col_type t, const char *v);

/* Print one JSON document (pretty when pretty) followed by a newline. */
void output_json(FILE *f, json_t *doc, bool pretty);

#endif
