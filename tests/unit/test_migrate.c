/* test_migrate.c — the pure parts of migrations: checksum normalisation,
 * up/down splitting, no-transaction detection, version parsing and the SQL
 * statement splitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/migrate.h"

static void test_normalise(void **state)
{
	(void)state;
	size_t n;
	static const char in[] = "\xEF\xBB\xBFSELECT 1;\r\nSELECT 2;\r\n";
	char *s = migrate_normalise(in, sizeof(in) - 1, &n);
	assert_string_equal(s, "SELECT 1;\nSELECT 2;\n");
	assert_int_equal(n, 20);
	free(s);
	/* a lone CR is kept; a BOM elsewhere is kept */
	s = migrate_normalise("a\rb\xEF\xBB\xBF", 6, &n);
	assert_memory_equal(s, "a\rb\xEF\xBB\xBF", 6);
	free(s);
	s = migrate_normalise("", 0, &n);
	assert_string_equal(s, "");
	assert_int_equal(n, 0);
	free(s);
}

static void test_checksum(void **state)
{
	(void)state;
	char a[65], b[65], c[65], d[65];
	/* the SHA-256 test vector */
	migrate_checksum("abc", 3, a);
	assert_string_equal(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* LF, CRLF and BOM+CRLF versions of one file hash alike */
	const char *lf = "CREATE TABLE t (id int);\n-- acmectl:down\nDROP TABLE t;\n";
	const char *crlf = "CREATE TABLE t (id int);\r\n-- acmectl:down\r\nDROP TABLE t;\r\n";
	const char *bom = "\xEF\xBB\xBF" "CREATE TABLE t (id int);\r\n-- acmectl:down\r\nDROP TABLE t;\r\n";
	migrate_checksum(lf, strlen(lf), a);
	migrate_checksum(crlf, strlen(crlf), b);
	migrate_checksum(bom, strlen(bom), c);
	assert_string_equal(a, b);
	assert_string_equal(a, c);
	/* a real edit changes it */
	migrate_checksum("CREATE TABLE t (id bigint);\n", 28, d);
	assert_string_not_equal(a, d);
}

static void test_split_parts(void **state)
{
	(void)state;
	char *up, *down;
	bool upnt, downnt;
	int dl;
	struct acme_err err = { 0 };

	assert_int_equal(migrate_split("CREATE TABLE t (id int);\n-- acmectl:down\nDROP TABLE t;\n",
				       &up, &down, &upnt, &downnt, &dl, &err), 0);
	assert_string_equal(up, "CREATE TABLE t (id int);\n");
	assert_string_equal(down, "DROP TABLE t;\n");
	assert_int_equal(dl, 3);
	assert_false(upnt);
	assert_false(downnt);
	free(up);
	free(down);

	/* no marker: no down part; trailing blanks after a marker are fine */
	assert_int_equal(migrate_split("SELECT 1;\n", &up, &down, &upnt, &downnt, &dl, &err), 0);
	assert_null(down);
	free(up);
	assert_int_equal(migrate_split("SELECT 1;\n-- acmectl:down  \t\n", &up, &down, &upnt, &downnt,
				       &dl, &err), 0);
	assert_string_equal(down, "");
	free(up);
	free(down);

	/* a misspelt marker is an error, never silently SQL */
	assert_int_equal(migrate_split("SELECT 1;\n-- acmectl: down\nSELECT 2;\n", &up, &down, &upnt,
				       &downnt, &dl, &err), -1);
	assert_int_equal(err.code, ACME_E_DATA);
	assert_non_null(strstr(err.msg, "line 2"));
	assert_int_equal(migrate_split("SELECT 1;\n--ACMECTL:down\n", &up, &down, &upnt, &downnt,
				       &dl, &err), -1);
	/* two markers */
	assert_int_equal(migrate_split("-- acmectl:down\n-- acmectl:down\n", &up, &down, &upnt,
				       &downnt, &dl, &err), -1);
	assert_non_null(strstr(err.msg, "second"));
}

static void test_no_transaction(void **state)
{
	(void)state;
	char *up, *down;
	bool upnt, downnt;
	int dl;
	struct acme_err err = { 0 };

	assert_int_equal(migrate_split("-- acmectl:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
				       "-- acmectl:down\n-- acmectl:no-transaction\n"
				       "DROP INDEX CONCURRENTLY IF EXISTS i;\n",
				       &up, &down, &upnt, &downnt, &dl, &err), 0);
	assert_true(upnt);
	assert_true(downnt);
	free(up);
	free(down);
	/* only the first line counts for the up part */
	assert_int_equal(migrate_split("SELECT 1;\n-- acmectl:no-transaction\n", &up, &down, &upnt,
				       &downnt, &dl, &err), -1);
	assert_non_null(strstr(err.msg, "first"));

	/* a no-transaction part must hold one statement */
	struct migration m;
	const char *two = "-- acmectl:no-transaction\nCREATE INDEX CONCURRENTLY a ON t (x);\n"
			  "CREATE INDEX CONCURRENTLY b ON t (y);\n";
	assert_int_equal(migration_parse(&m, "0002_idx.sql", two, strlen(two), &err), -1);
	assert_int_equal(err.code, ACME_E_DATA);
	assert_non_null(strstr(err.msg, "exactly one statement"));
	const char *one = "-- acmectl:no-transaction\nCREATE INDEX CONCURRENTLY a ON t (x);\n";
	assert_int_equal(migration_parse(&m, "0002_idx.sql", one, strlen(one), &err), 0);
	assert_true(m.up_no_tx);
	assert_int_equal(m.version, 2);
	assert_string_equal(m.name, "idx");
	migration_release(&m);
	/* transaction control inside a migration is refused */
	const char *tx = "BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n";
	assert_int_equal(migration_parse(&m, "0003_tx.sql", tx, strlen(tx), &err), -1);
	assert_non_null(strstr(err.msg, "line 1"));
}

static void test_versions(void **state)
{
	(void)state;
	int v;
	char *name;
	struct acme_err err = { 0 };

	assert_int_equal(migrate_parse_version("3", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(migrate_parse_version("0003", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(migrate_parse_version("0012_add_x.sql", &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(migrate_parse_version("0", &v), -1);
	assert_int_equal(migrate_parse_version("", &v), -1);
	assert_int_equal(migrate_parse_version("x1", &v), -1);
	assert_int_equal(migrate_parse_version("1x", &v), -1);
	assert_int_equal(migrate_parse_version("1234567890", &v), -1);

	assert_int_equal(migrate_parse_filename("0001_initial.sql", &v, &name, &err), 0);
	assert_int_equal(v, 1);
	assert_string_equal(name, "initial");
	free(name);
	assert_int_equal(migrate_parse_filename("0002_add-index_2.sql", &v, &name, &err), 0);
	free(name);
	assert_int_equal(migrate_parse_filename("initial.sql", &v, &name, &err), -1);
	assert_int_equal(migrate_parse_filename("0001_.sql", &v, &name, &err), -1);
	assert_int_equal(migrate_parse_filename("0001_Initial.sql", &v, &name, &err), -1);
	assert_int_equal(migrate_parse_filename("0001_initial.SQL", &v, &name, &err), -1);
	assert_int_equal(migrate_parse_filename("0000_zero.sql", &v, &name, &err), -1);
}

static char *stmt(const char *sql, const struct sql_stmt *s)
{
	return strndup(sql + s->off, s->len);
}

static void test_sql_split(void **state)
{
	(void)state;
	struct sql_stmt *st;
	char *s;
	const char *sql =
		"-- a comment; with a semicolon\n"
		"CREATE TABLE a (x text DEFAULT 'it''s; here');\n"
		"/* block; /* nested; */ still; */\n"
		"INSERT INTO a VALUES (E'back\\'slash;');\n"
		"CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n"
		"DO $$ BEGIN PERFORM 1; END $$;\n"
		"SELECT \"weird;name\" FROM a;\n"
		"CREATE OR REPLACE FUNCTION g() RETURNS int LANGUAGE sql\n"
		"BEGIN ATOMIC\n  SELECT CASE WHEN true THEN 1 ELSE 2 END;\n  SELECT 2;\nEND;\n"
		"SELECT $1::int\n";
	size_t n = sql_split(sql, &st);
	assert_int_equal(n, 7);
	s = stmt(sql, &st[0]);
	assert_string_equal(s, "CREATE TABLE a (x text DEFAULT 'it''s; here')");
	free(s);
	assert_int_equal(st[0].line, 2);
	s = stmt(sql, &st[1]);
	assert_string_equal(s, "INSERT INTO a VALUES (E'back\\'slash;')");
	free(s);
	assert_int_equal(st[1].line, 4);
	s = stmt(sql, &st[2]);
	assert_string_equal(s, "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql");
	free(s);
	s = stmt(sql, &st[3]);
	assert_string_equal(s, "DO $$ BEGIN PERFORM 1; END $$");
	free(s);
	s = stmt(sql, &st[4]);
	assert_string_equal(s, "SELECT \"weird;name\" FROM a");
	free(s);
	assert_int_equal(st[5].line, 8);
	s = stmt(sql, &st[5]);
	assert_non_null(strstr(s, "SELECT 2;\nEND"));
	free(s);
	s = stmt(sql, &st[6]);
	assert_string_equal(s, "SELECT $1::int");
	free(s);
	assert_int_equal(st[6].line, 13);
	free(st);

	/* only comments and blanks: no statement */
	assert_int_equal(sql_split("  -- nothing\n/* here */ ;\n;", &st), 0);
	free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_split_parts),
		cmocka_unit_test(test_no_transaction),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_sql_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
