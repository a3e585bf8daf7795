/* test_output.c — every output format: escaping, typing and structure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/output.h"

static const struct out_col cols[] = {
	{ "sku", COL_STR }, { "price", COL_NUM }, { "qty", COL_INT }, { "active", COL_BOOL },
};

static char *render(enum out_format fmt, bool envelope)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct output *o = output_new(f, fmt, cols, 4);
	if (envelope)
		output_set_envelope(o);
	const char *r1[] = { "A-1", "12.50", "3", "t" };
	const char *r2[] = { "tab\there, \"q\"\nnl", NULL, "0", "f" };
	output_row(o, r1);
	output_row(o, r2);
	output_end(o, envelope ? json_pack("{s:i, s:s}", "total", 2, "next", "abc") : NULL);
	fclose(f);
	return buf;
}

static void test_tsv(void **state)
{
	(void)state;
	char *s = render(OUT_TSV, false);
	assert_string_equal(s, "sku\tprice\tqty\tactive\nA-1\t12.50\t3\tt\n"
			       "tab\\there, \"q\"\\nnl\t\t0\tf\n");
	free(s);
}

static void test_csv(void **state)
{
	(void)state;
	char *s = render(OUT_CSV, false);
	assert_string_equal(s, "sku,price,qty,active\nA-1,12.50,3,t\n"
			       "\"tab\there, \"\"q\"\"\nnl\",,0,f\n");
	free(s);
}

/* Regression: a value starting or ending with a tab was written unquoted,
 * and CSV readers that drop blanks around unquoted values (the import's)
 * lost the tab, so `products export` did not re-import unchanged. */
static void test_csv_edge_blanks(void **state)
{
	static const struct out_col one[] = { { "v", COL_STR } };
	const char *vals[] = { "\tlead", "trail\t", " space", "in\tside", "" };
	const char *want = "v\n\"\tlead\"\n\"trail\t\"\n\" space\"\nin\tside\n\n";
	char *buf = NULL;
	size_t len = 0;
	(void)state;
	FILE *f = open_memstream(&buf, &len);
	struct output *o = output_new(f, OUT_CSV, one, 1);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		output_row(o, &vals[i]);
	output_end(o, NULL);
	fclose(f);
	assert_string_equal(buf, want);
	free(buf);
}

static void test_json(void **state)
{
	(void)state;
	char *s = render(OUT_JSON, false);
	json_error_t e;
	json_t *doc = json_loads(s, 0, &e);
	assert_non_null(doc);
	/* every JSON list is the envelope, with a page even when nothing pages */
	json_t *page = json_object_get(doc, "page");
	assert_true(json_is_object(page));
	assert_true(json_is_null(json_object_get(page, "limit")));
	assert_true(json_is_null(json_object_get(page, "next_cursor")));
	json_t *items = json_object_get(doc, "items");
	assert_int_equal(json_array_size(items), 2);
	json_t *first = json_array_get(items, 0);
	assert_true(json_is_real(json_object_get(first, "price")));
	assert_int_equal(json_integer_value(json_object_get(first, "qty")), 3);
	assert_true(json_is_true(json_object_get(first, "active")));
	json_t *second = json_array_get(items, 1);
	assert_true(json_is_null(json_object_get(second, "price")));
	assert_string_equal(json_string_value(json_object_get(second, "sku")), "tab\there, \"q\"\nnl");
	json_decref(doc);
	free(s);
}

static void test_json_envelope(void **state)
{
	(void)state;
	char *s = render(OUT_JSON, true);
	json_error_t e;
	json_t *doc = json_loads(s, 0, &e);
	assert_non_null(doc);
	assert_int_equal(json_array_size(json_object_get(doc, "items")), 2);
	assert_int_equal(json_integer_value(json_object_get(doc, "total")), 2);
	assert_string_equal(json_string_value(json_object_get(doc, "next")), "abc");
	json_decref(doc);
	free(s);
}

static void test_json_empty(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	(void)state;
	FILE *f = open_memstream(&buf, &len);
	output_end(output_new(f, OUT_JSON, cols, 4), output_page(50, NULL));
	fclose(f);
	assert_string_equal(buf, "{\n  \"items\": [],\n  \"page\": {\"limit\":50,\"next_cursor\":null}\n}\n");
	free(buf);
}

/* --columns and --no-headers: shown columns chosen and ordered; an unknown
 * name is a usage error naming the columns there are. */
static void test_columns(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	struct acme_err err = { 0 };
	(void)state;
	FILE *f = open_memstream(&buf, &len);
	struct output *o = output_new(f, OUT_TSV, cols, 4);
	assert_int_equal(output_select_columns(o, "qty,sku", &err), 0);
	const char *r1[] = { "A-1", "12.50", "3", "t" };
	output_row(o, r1);
	output_end(o, NULL);
	o = output_new(f, OUT_CSV, cols, 4);
	output_set_headers(o, false);
	assert_int_equal(output_select_columns(o, "active", &err), 0);
	output_row(o, r1);
	output_end(o, NULL);
	o = output_new(f, OUT_TABLE, cols, 4);
	output_set_headers(o, false);
	output_end(o, NULL);                  /* nothing at all */
	o = output_new(f, OUT_TSV, cols, 4);
	assert_int_equal(output_select_columns(o, "sku,nope", &err), -1);
	assert_int_equal(err.code, ACME_E_USAGE);
	assert_non_null(strstr(err.msg, "\"nope\" is not a column here; the columns are sku, price, qty, active"));
	output_set_headers(o, false);
	output_end(o, NULL);
	fclose(f);
	assert_string_equal(buf, "qty\tsku\n3\tA-1\nt\n");
	free(buf);
}

static void test_ndjson(void **state)
{
	(void)state;
	char *s = render(OUT_NDJSON, false);
	char *nl = strchr(s, '\n');
	assert_non_null(nl);
	*nl = '\0';
	json_error_t e;
	json_t *doc = json_loads(s, 0, &e);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "sku")), "A-1");
	json_decref(doc);
	doc = json_loads(nl + 1, 0, &e);
	assert_non_null(doc);
	json_decref(doc);
	free(s);
}

static void test_table(void **state)
{
	(void)state;
	char *s = render(OUT_TABLE, false);
	/* header upper-cased; columns aligned: every line has "price" column at
	 * the same offset */
	assert_non_null(strstr(s, "SKU"));
	assert_non_null(strstr(s, "tab\\there"));
	const char *l1 = s, *l2 = strchr(s, '\n') + 1;
	assert_int_equal(strstr(l1, "PRICE") - l1, strstr(l2, "12.50") - l2);
	free(s);
}

static void test_format_parse(void **state)
{
	enum out_format f;
	(void)state;
	assert_int_equal(out_format_parse("JSON", &f), 0);
	assert_int_equal(f, OUT_JSON);
	assert_int_equal(out_format_parse("yaml", &f), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tsv),        cmocka_unit_test(test_csv),
		cmocka_unit_test(test_csv_edge_blanks),
		cmocka_unit_test(test_json),       cmocka_unit_test(test_json_envelope),
		cmocka_unit_test(test_json_empty), cmocka_unit_test(test_ndjson),
		cmocka_unit_test(test_columns),
		cmocka_unit_test(test_table),      cmocka_unit_test(test_format_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
