/* test_import.c — the pure parts of core/import: --delimiter and --map
 * parsing, and the job payload's round trip and its refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/import.h"

static void test_delimiter(void **state)
{
	struct acme_err err;
	char d = 0;
	(void)state;

	assert_int_equal(import_parse_delimiter(";", &d, &err), 0);
	assert_int_equal(d, ';');
	assert_int_equal(import_parse_delimiter("tab", &d, &err), 0);
	assert_int_equal(d, '\t');
	assert_int_equal(import_parse_delimiter("\\t", &d, &err), 0);
	assert_int_equal(d, '\t');
	assert_int_equal(import_parse_delimiter(";;", &d, &err), -1);
	assert_int_equal(err.code, ACME_E_USAGE);
	assert_int_equal(import_parse_delimiter("", &d, &err), -1);
	assert_int_equal(import_parse_delimiter("\xc3\xa9", &d, &err), -1);   /* é: not one byte */
}

static void test_map(void **state)
{
	struct import_params p;
	struct acme_err err;
	(void)state;

	memset(&p, 0, sizeof(p));
	assert_int_equal(import_params_add_map(&p, "Item No=sku", &err), 0);
	assert_int_equal(import_params_add_map(&p, "a=b=name", &err), 0);   /* split at the last = */
	assert_string_equal(p.maps[0].header, "Item No");
	assert_string_equal(p.maps[0].field, "sku");
	assert_string_equal(p.maps[1].header, "a=b");
	assert_string_equal(p.maps[1].field, "name");
	assert_int_equal(import_params_check(&p, &err), 0);
	assert_int_equal(import_params_add_map(&p, "sku", &err), -1);
	assert_int_equal(import_params_add_map(&p, "=sku", &err), -1);
	assert_int_equal(import_params_add_map(&p, "x=", &err), -1);
	assert_int_equal(import_params_add_map(&p, "Colour=colour", &err), 0);
	assert_int_equal(import_params_check(&p, &err), -1);     /* unknown field, seen by csvimport */
	assert_non_null(strstr(err.msg, "unknown field \"colour\""));
	import_params_release(&p);
}

static void test_payload_round_trip(void **state)
{
	struct import_params p, q;
	struct acme_err err;
	(void)state;

	memset(&p, 0, sizeof(p));
	p.upload_id = 42;
	p.strict = true;
	p.delimiter = '\t';
	p.method = IMPORT_METHOD_REBUILD;
	assert_int_equal(import_params_add_map(&p, "Title=name", &err), 0);
	json_t *j = import_payload_new(&p);
	assert_string_equal(json_string_value(json_object_get(j, "method")), "rebuild");
	assert_int_equal(import_payload_parse(j, &q, &err), 0);
	assert_int_equal(q.method, IMPORT_METHOD_REBUILD);
	assert_int_equal(q.upload_id, 42);
	assert_true(q.strict);
	assert_false(q.dry_run);
	assert_int_equal(q.delimiter, '\t');
	assert_int_equal(q.nmaps, 1);
	assert_string_equal(q.maps[0].header, "Title");
	assert_string_equal(q.maps[0].field, "name");
	json_decref(j);
	import_params_release(&p);
	import_params_release(&q);
}

static void expect_refused(const char *text, const char *needle)
{
	struct import_params q;
	struct acme_err err;
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_int_equal(import_payload_parse(j, &q, &err), -1);
	assert_int_equal(err.code, ACME_E_DATA);
	if (!strstr(err.msg, needle))
		fail_msg("\"%s\" does not say \"%s\"", err.msg, needle);
	import_params_release(&q);
	json_decref(j);
}

static void test_payload_refusals(void **state)
{
	(void)state;
	expect_refused("{}", "upload_id");
	expect_refused("{\"upload_id\": 0}", "positive");
	expect_refused("{\"upload_id\": \"7\"}", "positive");
	expect_refused("{\"upload_id\": 7, \"strict\": 1}", "true or false");
	expect_refused("{\"upload_id\": 7, \"delimiter\": \";;\"}", "one character");
	expect_refused("{\"upload_id\": 7, \"delimiter\": \"\\\"\"}", "quote");
	expect_refused("{\"upload_id\": 7, \"map\": [{\"header\": \"x\"}]}", "map");
	expect_refused("{\"upload_id\": 7, \"map\": [{\"header\": \"x\", \"field\": \"y\"}]}", "unknown field");
	expect_refused("{\"upload_id\": 7, \"colour\": true}", "unknown payload key");
	expect_refused("{\"upload_id\": 7, \"method\": \"fast\"}", "\"auto\", \"merge\" or \"rebuild\"");
	expect_refused("{\"upload_id\": 7, \"method\": 1}", "\"auto\", \"merge\" or \"rebuild\"");
}

/* --method: the three names, anything else a usage error; auto is the
 * default and is left out of the payload. */
static void test_method(void **state)
{
	(void)state;
	struct import_params p, q;
	struct acme_err err;
	enum import_method m;
	assert_int_equal(import_parse_method("merge", &m, &err), 0);
	assert_int_equal(m, IMPORT_METHOD_MERGE);
	assert_int_equal(import_parse_method("auto", &m, &err), 0);
	assert_int_equal(m, IMPORT_METHOD_AUTO);
	assert_int_equal(import_parse_method("Rebuild", &m, &err), -1);
	assert_int_equal(err.code, ACME_E_USAGE);
	assert_non_null(strstr(err.msg, "must be auto, merge or rebuild"));
	memset(&p, 0, sizeof(p));
	p.upload_id = 1;
	json_t *j = import_payload_new(&p);
	assert_null(json_object_get(j, "method"));
	assert_int_equal(import_payload_parse(j, &q, &err), 0);
	assert_int_equal(q.method, IMPORT_METHOD_AUTO);
	json_decref(j);
	import_params_release(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delimiter),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_payload_round_trip),
		cmocka_unit_test(test_payload_refusals),
		cmocka_unit_test(test_method),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
