/* output.c — format rows as table, tsv, csv, json or ndjson; see output.h. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

#include "core/output.h"
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
	if (fmt == OUT_TSV || fmt == OUT_CSV) {
		for (size_t i = 0; i < ncols; i++) {
			const char *v = cols[i].name;
			if (i)
				fputc(fmt == OUT_TSV ? '\t' : ',', f);
			fputs(v, f);
		}
		fputc('\n', f);
	}
	return o;
}

void output_set_color(struct output *o, bool color)
{
	o->color = color;
}

void output_set_envelope(struct output *o)
{
	if (o->fmt == OUT_JSON && o->nrows == 0 && !o->envelope) {
		o->envelope = true;
		fputs("{\n  \"items\": ", o->f);
	}
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

void output_row(struct output *o, const char *const *values)
{
	o->nrows++;
	switch (o->fmt) {
	case OUT_TABLE:
		if ((o->nrows) * o->ncols > o->cap) {
			o->cap = o->cap ? o->cap * 2 : 64 * o->ncols;
			while (o->cap < o->nrows * o->ncols)
				o->cap *= 2;
			o->cells = xrealloc(o->cells, o->cap * sizeof(char *));
		}
		for (size_t i = 0; i < o->ncols; i++)
			o->cells[(o->nrows - 1) * o->ncols + i] = xstrdup(values[i] ? values[i] : "");
		break;
	case OUT_TSV:
	case OUT_CSV:
		for (size_t i = 0; i < o->ncols; i++) {
			if (i)
				fputc(o->fmt == OUT_TSV ? '\t' : ',', o->f);
			if (values[i])
				(o->fmt == OUT_TSV ? put_tsv : put_csv)(o->f, values[i]);
		}
		fputc('\n', o->f);
		break;
	case OUT_JSON: {
		json_t *obj = row_object(o, values);
		char *s = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(obj);
		if (!s)
			break;
		/* indent the object one level inside the array */
		const char *pad = o->envelope ? "    " : "  ";
		fprintf(o->f, "%s%s", o->nrows == 1 ? "[\n" : ",\n", pad);
		for (char *c = s; *c; c++) {
			fputc(*c, o->f);
			if (*c == '\n')
				fputs(pad, o->f);
		}
		free(s);
		break;
	}
	case OUT_NDJSON: {
		json_t *obj = row_object(o, values);
		char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(obj);
		if (s) {
			fputs(s, o->f);
			fputc('\n', o->f);
			free(s);
		}
		break;
	}
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
	size_t *width = xcalloc(o->ncols, sizeof(size_t));
	for (size_t c = 0; c < o->ncols; c++) {
		width[c] = strlen(o->cols[c].name);
		for (size_t r = 0; r < o->nrows; r++) {
			const char *v = o->cells[r * o->ncols + c];
			size_t w = display_width(v);
			for (const char *p = v; *p; p++)
				w += (*p == '\n' || *p == '\t' || *p == '\r');
			if (w > width[c])
				width[c] = w;
		}
	}
	if (o->color)
		fputs("\033[1m", o->f);
	for (size_t c = 0; c < o->ncols; c++) {
		char upper[64];
		size_t i;
		for (i = 0; o->cols[c].name[i] && i < sizeof(upper) - 1; i++)
			upper[i] = (char)(o->cols[c].name[i] == '_' ? ' ' :
					  o->cols[c].name[i] - (o->cols[c].name[i] >= 'a' &&
								o->cols[c].name[i] <= 'z' ? 32 : 0));
		upper[i] = '\0';
		put_cell(o->f, upper, width[c], c + 1 == o->ncols);
	}
	if (o->color)
		fputs("\033[0m", o->f);
	fputc('\n', o->f);
	for (size_t r = 0; r < o->nrows; r++) {
		for (size_t c = 0; c < o->ncols; c++)
			put_cell(o->f, o->cells[r * o->ncols + c], width[c], c + 1 == o->ncols);
		fputc('\n', o->f);
	}
	free(width);
}

void output_end(struct output *o, json_t *meta)
{
	switch (o->fmt) {
	case OUT_TABLE:
		print_table(o);
		for (size_t i = 0; i < o->nrows * o->ncols; i++)
			free(o->cells[i]);
		free(o->cells);
		break;
	case OUT_JSON:
		if (!o->envelope) {
			fputs(o->nrows ? "\n]\n" : "[]\n", o->f);
			break;
		}
		fputs(o->nrows ? "\n  ]" : "[]", o->f);
		const char *key;
		json_t *val;
		json_object_foreach(meta, key, val) {
			json_t *ks = json_string(key);
			char *k = json_dumps(ks, JSON_ENCODE_ANY);
			json_decref(ks);
			char *v = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
			fprintf(o->f, ",\n  %s: %s", k ? k : "\"\"", v ? v : "null");
			free(k);
			free(v);
		}
		fputs("\n}\n", o->f);
		break;
	default:
		break;
	}
	json_decref(meta);
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
