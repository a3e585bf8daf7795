/* output.c — format rows as table, tsv, csv, json or ndjson; see output.h.
 *
 * Every list prints its JSON through here, so every list has the same shape:
 * {"items": [...], "page": {...}}, and ndjson is the items alone. Column
 * selection (--columns) and the header switch (--no-headers) are applied
 * here too, by mapping the caller's columns to the shown ones, so commands
 * keep passing every value in their own order. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

#include "core/clock.h"
#include "core/output.h"
#include "core/err.h"
#include "core/xalloc.h"

struct output {
	FILE *f;
	enum out_format fmt;
	const struct out_col *cols;
	size_t ncols;
	bool color;
	size_t nrows;
	/* table only: every cell kept until output_end() */
	char **cells;
	size_t cap;
	bool envelope;    /* json: {"items": [...], meta...} */
	bool headers;     /* table, tsv, csv: print the header line */
	bool header_done;
	size_t *shown;    /* indices of the columns shown, in order */
	size_t nshown;
};

static const char *const format_names[] = { "table", "tsv", "csv", "json", "ndjson" };

int out_format_parse(const char *s, enum out_format *out)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
		if (strcasecmp(s, format_names[i]) == 0) {
			*out = (enum out_format)i;
			return 0;
		}
	return -1;
}

const char *out_format_name(enum out_format f)
{
	return format_names[f];
}

struct output *output_new(FILE *f, enum out_format fmt, const struct out_col *cols, size_t ncols)
{
	struct output *o = xcalloc(1, sizeof(*o));
	o->f = f;
	o->fmt = fmt;
	o->cols = cols;
	o->ncols = ncols;
	o->headers = true;
	o->envelope = fmt == OUT_JSON;
	o->shown = xcalloc(ncols ? ncols : 1, sizeof(size_t));
	for (size_t i = 0; i < ncols; i++)
		o->shown[i] = i;
	o->nshown = ncols;
	return o;
}

/* tsv and csv print their header before the first row (or at the end when
 * there is none), so the options set after output_new() still apply. */
static void put_header(struct output *o)
{
	if (o->header_done || !o->headers || (o->fmt != OUT_TSV && o->fmt != OUT_CSV)) {
		o->header_done = true;
		return;
	}
	o->header_done = true;
	for (size_t i = 0; i < o->nshown; i++) {
		if (i)
			fputc(o->fmt == OUT_TSV ? '\t' : ',', o->f);
		fputs(o->cols[o->shown[i]].name, o->f);
	}
	fputc('\n', o->f);
}

void output_set_headers(struct output *o, bool on)
{
	o->headers = on;
}

int output_select_columns(struct output *o, const char *list, struct acme_err *err)
{
	size_t n = 0;
	const char *p = list;
	size_t *shown = xcalloc(strlen(list) / 2 + 2, sizeof(size_t));
	while (*p) {
		size_t len = strcspn(p, ",");
		size_t i;
		for (i = 0; i < o->ncols; i++)
			if (strlen(o->cols[i].name) == len && strncmp(o->cols[i].name, p, len) == 0)
				break;
		if (len == 0 || i == o->ncols) {
			char valid[1024];
			size_t vl = 0;
			valid[0] = '\0';
			for (size_t k = 0; k < o->ncols && vl < sizeof(valid); k++)
				vl += (size_t)snprintf(valid + vl, sizeof(valid) - vl, "%s%s",
						       k ? ", " : "", o->cols[k].name);
			free(shown);
			return acme_err_set(err, ACME_E_USAGE, "--columns: %s%.*s%s is not a column here; "
					    "the columns are %s", len ? "\"" : "", (int)len, len ? p : "an empty name",
					    len ? "\"" : "", valid);
		}
		shown[n++] = i;
		p += len;
		if (*p == ',')
			p++;
	}
	if (n == 0) {
		free(shown);
		return acme_err_set(err, ACME_E_USAGE, "--columns: name at least one column");
	}
	free(o->shown);
	o->shown = shown;
	o->nshown = n;
	return 0;
}

void output_set_color(struct output *o, bool color)
{
	o->color = color;
}

void output_set_envelope(struct output *o)
{
	/* the default now; kept so callers that ask for it read as before */
	(void)o;
}

bool output_is_json(const struct output *o)
{
	return o->fmt == OUT_JSON || o->fmt == OUT_NDJSON;
}

json_t *output_json_value(enum col_type t, const char *v)
{
	char *end;
	if (!v)
		return json_null();
	switch (t) {
	case COL_INT: {
		long long n = strtoll(v, &end, 10);
		return *v && !*end ? json_integer(n) : json_string(v);
	}
	case COL_NUM: {
		double d = strtod(v, &end);
		return *v && !*end ? json_real(d) : json_string(v);
	}
	case COL_BOOL:
		return json_boolean(v[0] == 't' || v[0] == 'T' || v[0] == '1' || v[0] == 'y');
	case COL_JSON: {
		json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
		return j ? j : json_string(v);
	}
	case COL_STR:
	default:
		return json_stringn_nocheck(v, strlen(v));
	}
}

static json_t *row_object(struct output *o, const char *const *values)
{
	json_t *obj = json_object();
	for (size_t i = 0; i < o->ncols; i++)
		json_object_set_new(obj, o->cols[i].name, output_json_value(o->cols[i].type, values[i]));
	return obj;
}

static void put_tsv(FILE *f, const char *v)
{
	for (; *v; v++) {
		switch (*v) {
		case '\t': fputs("\\t", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\\': fputs("\\\\", f); break;
		default: fputc(*v, f);
		}
	}
}

/* Quoted when it holds a delimiter, quote or line break, or starts or ends
 * with a space or tab (CSV readers such as the import's drop those around
 * unquoted values). */
static void put_csv(FILE *f, const char *v)
{
	size_t n = strlen(v);
	if (!strpbrk(v, ",\"\r\n") && !(n && strchr(" \t", v[0])) && !(n && strchr(" \t", v[n - 1]))) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

/* One item of a JSON list (consumed): inside the envelope's "items" for json,
 * a line of its own for ndjson. */
static void put_json_item(struct output *o, json_t *obj)
{
	if (o->fmt == OUT_NDJSON) {
		char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(obj);
		if (s) {
			fputs(s, o->f);
			fputc('\n', o->f);
			free(s);
		}
		return;
	}
	char *s = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (!s)
		return;
	/* indent the object one level inside the array */
	const char *pad = o->envelope ? "    " : "  ";
	if (o->nrows == 1)
		fputs(o->envelope ? "{\n  \"items\": [\n" : "[\n", o->f);
	else
		fputs(",\n", o->f);
	fputs(pad, o->f);
	for (char *c = s; *c; c++) {
		fputc(*c, o->f);
		if (*c == '\n')
			fputs(pad, o->f);
	}
	free(s);
}

void output_item(struct output *o, json_t *item)
{
	if (!output_is_json(o)) {
		json_decref(item);
		return;
	}
	o->nrows++;
	put_json_item(o, item);
}

void output_row(struct output *o, const char *const *values)
{
	put_header(o);
	o->nrows++;
	switch (o->fmt) {
	case OUT_TABLE:
		if ((o->nrows) * o->nshown > o->cap) {
			o->cap = o->cap ? o->cap * 2 : 64 * o->nshown;
			while (o->cap < o->nrows * o->nshown)
				o->cap *= 2;
			o->cells = xrealloc(o->cells, o->cap * sizeof(char *));
		}
		for (size_t i = 0; i < o->nshown; i++) {
			const char *v = values[o->shown[i]];
			o->cells[(o->nrows - 1) * o->nshown + i] = xstrdup(v ? v : "");
		}
		break;
	case OUT_TSV:
	case OUT_CSV:
		for (size_t i = 0; i < o->nshown; i++) {
			const char *v = values[o->shown[i]];
			if (i)
				fputc(o->fmt == OUT_TSV ? '\t' : ',', o->f);
			if (v)
				(o->fmt == OUT_TSV ? put_tsv : put_csv)(o->f, v);
		}
		fputc('\n', o->f);
		break;
	case OUT_JSON:
	case OUT_NDJSON:
		put_json_item(o, row_object(o, values));
		break;
	}
}

/* Display width of a UTF-8 string, for aligning tables. */
static size_t display_width(const char *s)
{
	mbstate_t st;
	size_t w = 0;
	memset(&st, 0, sizeof(st));
	while (*s) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			s++;
			w++;
			continue;
		}
		int cw = wcwidth(wc);
		w += cw > 0 ? (size_t)cw : 0;
		s += n ? n : 1;
	}
	return w;
}

static void put_cell(FILE *f, const char *v, size_t width, bool last)
{
	/* control characters would wreck the table: show them escaped */
	size_t shown = 0;
	for (const char *c = v; *c; c++) {
		if (*c == '\n' || *c == '\t' || *c == '\r') {
			fputs(*c == '\n' ? "\\n" : *c == '\t' ? "\\t" : "\\r", f);
			shown++;
		} else {
			fputc(*c, f);
		}
	}
	if (!last)
		for (size_t w = display_width(v) + shown; w < width + 2; w++)
			fputc(' ', f);
}

static void print_table(struct output *o)
{
	size_t nc = o->nshown;
	size_t *width = xcalloc(nc ? nc : 1, sizeof(size_t));
	for (size_t c = 0; c < nc; c++) {
		width[c] = o->headers ? strlen(o->cols[o->shown[c]].name) : 0;
		for (size_t r = 0; r < o->nrows; r++) {
			const char *v = o->cells[r * nc + c];
			size_t w = display_width(v);
			for (const char *p = v; *p; p++)
				w += (*p == '\n' || *p == '\t' || *p == '\r');
			if (w > width[c])
				width[c] = w;
		}
	}
	if (o->headers) {
		if (o->color)
			fputs("\033[1m", o->f);
		for (size_t c = 0; c < nc; c++) {
			const char *name = o->cols[o->shown[c]].name;
			char upper[64];
			size_t i;
			for (i = 0; name[i] && i < sizeof(upper) - 1; i++)
				upper[i] = (char)(name[i] == '_' ? ' ' :
						  name[i] - (name[i] >= 'a' && name[i] <= 'z' ? 32 : 0));
			upper[i] = '\0';
			put_cell(o->f, upper, width[c], c + 1 == nc);
		}
		if (o->color)
			fputs("\033[0m", o->f);
		fputc('\n', o->f);
	}
	for (size_t r = 0; r < o->nrows; r++) {
		for (size_t c = 0; c < nc; c++)
			put_cell(o->f, o->cells[r * nc + c], width[c], c + 1 == nc);
		fputc('\n', o->f);
	}
	free(width);
}

static void put_meta_field(FILE *f, const char *key, json_t *val)
{
	json_t *ks = json_string(key);
	char *k = json_dumps(ks, JSON_ENCODE_ANY);
	json_decref(ks);
	char *v = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	fprintf(f, ",\n  %s: %s", k ? k : "\"\"", v ? v : "null");
	free(k);
	free(v);
}

json_t *output_page(long long limit, const char *next_cursor)
{
	json_t *page = json_object();
	json_object_set_new(page, "limit", limit > 0 ? json_integer(limit) : json_null());
	json_object_set_new(page, "next_cursor", next_cursor ? json_string(next_cursor) : json_null());
	return json_pack("{s:o}", "page", page);
}

void output_end(struct output *o, json_t *meta)
{
	switch (o->fmt) {
	case OUT_TABLE:
		print_table(o);
		for (size_t i = 0; i < o->nrows * o->nshown; i++)
			free(o->cells[i]);
		free(o->cells);
		break;
	case OUT_TSV:
	case OUT_CSV:
		put_header(o);
		break;
	case OUT_JSON: {
		if (!o->envelope) {
			fputs(o->nrows ? "\n]\n" : "[]\n", o->f);
			break;
		}
		fputs(o->nrows ? "\n  ]" : "{\n  \"items\": []", o->f);
		/* every envelope has a page, even a list that does not page */
		if (!json_object_get(meta, "page")) {
			json_t *none = output_page(0, NULL);
			put_meta_field(o->f, "page", json_object_get(none, "page"));
			json_decref(none);
		}
		const char *key;
		json_t *val;
		json_object_foreach(meta, key, val)
			put_meta_field(o->f, key, val);
		fputs("\n}\n", o->f);
		break;
	}
	default:
		break;
	}
	json_decref(meta);
	free(o->shown);
	free(o);
}

void output_json(FILE *f, json_t *doc, bool pretty)
{
	char *s = json_dumps(doc, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER |
				  JSON_ENCODE_ANY);
	if (s) {
		fputs(s, f);
		fputc('\n', f);
		free(s);
	}
}

json_t *json_text_value(const char *text)
{
	json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	return j ? j : text ? json_string(text) : json_null();
}

json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *json_nonempty_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

json_t *json_time_or_null(long long ms)
{
	char buf[CLOCK_TEXT_SIZE];
	clock_format_ms(ms, buf, sizeof(buf));
	return json_nonempty_or_null(buf);
}

/* ---- for people ---- */

const char *human_bytes(char *buf, size_t len, double b)
{
	if (b >= 1024.0 * 1024 * 1024)
		snprintf(buf, len, "%.2f GiB", b / (1024.0 * 1024 * 1024));
	else if (b >= 1024.0 * 1024)
		snprintf(buf, len, "%.1f MiB", b / (1024.0 * 1024));
	else if (b >= 1024.0)
		snprintf(buf, len, "%.0f KiB", b / 1024.0);
	else
		snprintf(buf, len, "%.0f B", b);
	return buf;
}

const char *human_rate(char *buf, size_t len, double r)
{
	if (r >= 1e6)
		snprintf(buf, len, "%.1fM", r / 1e6);
	else if (r >= 1e4)
		snprintf(buf, len, "%.0fk", r / 1e3);
	else
		snprintf(buf, len, "%.0f", r);
	return buf;
}

const char *human_duration(char *buf, size_t len, long long ms)
{
	long long s = (ms + 500) / 1000;
	if (s >= 3600)
		snprintf(buf, len, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%lld:%02lld", s / 60, s % 60);
	return buf;
}
