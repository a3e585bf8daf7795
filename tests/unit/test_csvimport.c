/* test_csvimport.c — the streaming CSV reader of `acmectl import`.
 *
 * Every case goes through run(), which feeds the input whole, one byte at a
 * time and in a few odd chunk sizes, writes what the callbacks saw into a
 * transcript and checks that all the transcripts are identical: chunk
 * boundaries must never change a result. The tests then compare the
 * transcript with what is expected:
 *
 *   H<line> present=<hex> unknown=<a|b>           on_header
 *   R<line> <sku>|<name>|<description>|<t/f>|<price>   on_row ("~" = NULL)
 *   X<line> [<column>] <message> {<excerpt>}      on_reject ("-" = no column)
 *   E <message>                                   feed/finish failed
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <malloc.h>

#include "core/csvimport.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

static bool show_records;   /* t_reject adds "= RECORD" lines, t_header "= HEADER" */

struct run {
	struct strbuf out;
	int fail_row_at;     /* on_row fails on this call (1-based); 0 = never */
	int rows;
};

static int t_header(void *user, const struct csvimport_header *h, struct acme_err *err)
{
	struct run *r = user;
	(void)err;
	if (show_records)
		strbuf_addf(&r->out, "= %s\n", h->record);
	strbuf_addf(&r->out, "H%ld present=%x unknown=", h->line, h->present);
	for (size_t i = 0; i < h->nunknown; i++)
		strbuf_addf(&r->out, "%s%s", i ? "|" : "", h->unknown[i]);
	strbuf_addch(&r->out, '\n');
	return 0;
}

static int t_row(void *user, const struct product_row *row, long line, struct acme_err *err)
{
	struct run *r = user;

	assert_int_equal(strlen(row->sku), row->sku_len);
	assert_int_equal(strlen(row->name), row->name_len);
	if (row->description)
		assert_int_equal(strlen(row->description), row->description_len);
	if (++r->rows == r->fail_row_at)
		return acme_err_set(err, ACME_E_UNAVAILABLE, "copy: connection lost");
	strbuf_addf(&r->out, "R%ld %s|%s|%s|%c|%s\n", line, row->sku, row->name,
	            row->description ? row->description : "~", row->active ? 't' : 'f',
	            row->price ? row->price : "~");
	return 0;
}

static int t_reject(void *user, const struct csvimport_reject *rej, struct acme_err *err)
{
	struct run *r = user;
	if (show_records) {
		strbuf_addf(&r->out, "= ");
		if (rej->record)
			strbuf_add(&r->out, rej->record, rej->record_len);
		else
			strbuf_adds(&r->out, "(none)");
		strbuf_addch(&r->out, '\n');
	}
	(void)err;
	assert_true(strlen(rej->excerpt) <= CSVIMPORT_EXCERPT_MAX);
	assert_int_equal(product_utf8_valid_len(rej->excerpt, strlen(rej->excerpt)),
	                 strlen(rej->excerpt));
	strbuf_addf(&r->out, "X%ld [%s] %s {%s}\n", rej->line, rej->column ? rej->column : "-",
	            rej->message, rej->excerpt);
	return 0;
}

/* Feed in chunks of `chunk` bytes (0 = whole); return the transcript (owned). */
static char *run_once(const char *in, size_t len, struct csvimport_opts opts, size_t chunk,
                      struct csvimport_stats *st)
{
	struct run r = { .out = STRBUF_INIT };
	struct acme_err err;
	struct csvimport *ci;
	size_t pos = 0;

	r.fail_row_at = opts.user ? *(int *)opts.user : 0;
	opts.on_header = t_header;
	opts.on_row = t_row;
	opts.on_reject = t_reject;
	opts.user = &r;
	ci = csvimport_new(&opts, &err);
	assert_non_null(ci);
	if (chunk == 0)
		chunk = len ? len : 1;
	while (pos < len) {
		size_t n = len - pos < chunk ? len - pos : chunk;
		if (csvimport_feed(ci, in + pos, n, &err) < 0) {
			strbuf_addf(&r.out, "E %s\n", err.msg);
			goto out;
		}
		pos += n;
	}
	if (csvimport_finish(ci, &err) < 0)
		strbuf_addf(&r.out, "E %s\n", err.msg);
out:
	if (st)
		csvimport_stats(ci, st);
	csvimport_free(ci);
	return strbuf_detach(&r.out, NULL);
}

static char *run_opts(const char *in, size_t len, struct csvimport_opts opts,
                      struct csvimport_stats *st)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 7, 64, 4096 };
	char *whole = run_once(in, len, opts, 0, st);

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		if (chunks[i] >= len && i > 0)
			break;
		char *t = run_once(in, len, opts, chunks[i], NULL);
		if (strcmp(t, whole) != 0)
			fail_msg("chunk size %zu changed the result:\n--- whole\n%s--- chunked\n%s",
			         chunks[i], whole, t);
		free(t);
	}
	return whole;
}

static char *run(const char *in)
{
	struct csvimport_opts o = { 0 };
	return run_opts(in, strlen(in), o, NULL);
}

#define expect(got, want)                                   \
	do {                                                \
		char *got_ = (got);                         \
		assert_string_equal(got_, want);            \
		free(got_);                                 \
	} while (0)

#define ALL_FIELDS 0x1f
#define REQUIRED 0x3

/* ---- accepted input ------------------------------------------------------- */

static void test_basic(void **state)
{
	(void)state;
	expect(run("sku,name,description,active,price\n"
	           "ABC-1,Widget,A small widget,true,9.99\n"
	           "ABC-2,Gadget,,no,\n"),
	       "H1 present=1f unknown=\n"
	       "R2 ABC-1|Widget|A small widget|t|9.99\n"
	       "R3 ABC-2|Gadget|~|f|~\n");
}

static void test_no_final_newline(void **state)
{
	(void)state;
	expect(run("sku,name\nA,a\nB,b"),
	       "H1 present=3 unknown=\nR2 A|a|~|t|~\nR3 B|b|~|t|~\n");
}

static void test_bom(void **state)
{
	(void)state;
	expect(run("\xef\xbb\xbfsku,name\nA,a\n"), "H1 present=3 unknown=\nR2 A|a|~|t|~\n");
	/* a BOM only at the start: the bytes are data elsewhere */
	expect(run("sku,name\n\xef\xbb\xbf" "A,a\n"), "H1 present=3 unknown=\nR2 \xef\xbb\xbf" "A|a|~|t|~\n");
	/* half a BOM is not dropped: it is invalid UTF-8 in the header */
	expect(run("\xef\xbbsku,name\nA,a\n"),
	       "E line 1: header: column 1 name is not valid UTF-8 (byte 1)\n");
	expect(run("\xef"), "E line 1: header: column 1 name is not valid UTF-8 (byte 1)\n");
	expect(run("\xef\xbb\xbf"), "E no header row: the file has only blank lines\n");
}

static void test_crlf(void **state)
{
	(void)state;
	/* no \r may stay in the last column, whatever it is */
	expect(run("sku,name,description\r\nA,a,last\r\nB,b,\"quoted\"\r\n"),
	       "H1 present=7 unknown=\nR2 A|a|last|t|~\nR3 B|b|quoted|t|~\n");
	expect(run("sku,name,active\r\nA,a,no\r\n"), "H1 present=b unknown=\nR2 A|a|~|f|~\n");
	expect(run("sku,name,price\r\nA,a,1.5\r\n"), "H1 present=13 unknown=\nR2 A|a|~|t|1.50\n");
}

static void test_embedded_newlines_keep_physical_lines(void **state)
{
	(void)state;
	expect(run("sku,name,description\n"
	           "A,a,\"one\ntwo\"\n"            /* lines 2-3 */
	           "B,b,\"x\r\ny\nz\"\r\n"         /* lines 4-6 */
	           "\n"                            /* line 7, blank */
	           "C,c,\"\"\n"                    /* line 8 */
	           "\"D\n\",d,d\n"                 /* lines 9-10: newline in the first field */
	           "E,,e\n"),                      /* line 11 */
	       "H1 present=7 unknown=\n"
	       "R2 A|a|one\ntwo|t|~\n"
	       "R4 B|b|x\r\ny\nz|t|~\n"
	       "R8 C|c|~|t|~\n"
	       "R9 D|d|d|t|~\n"
	       "X11 [name] name is empty {E,,e}\n");
}

static void test_quotes(void **state)
{
	(void)state;
	expect(run("sku,name,description\n"
	           "A,\"say \"\"hi\"\", ok\",\"a,b,c\"\n"
	           "\"B\",\"\",\"\"\"\"\n"),
	       "H1 present=7 unknown=\n"
	       "R2 A|say \"hi\", ok|a,b,c|t|~\n"
	       "X3 [name] name is empty {B,,\"\"\"\"}\n");
	/* spaces around a quoted value are allowed and dropped */
	expect(run("sku,name\n A , \"b c\" \n"), "H1 present=3 unknown=\nR2 A|b c|~|t|~\n");
}

static void test_blank_lines_and_crlf_lines(void **state)
{
	(void)state;
	expect(run("\n\r\nsku,name\r\n\r\nA,a\r\n   \r\n\t\r\nB,\r\n"),
	       "H3 present=3 unknown=\nR5 A|a|~|t|~\nX8 [name] name is empty {B,}\n");
}

static void test_lone_cr(void **state)
{
	(void)state;
	/* old Mac line ends work; lines are counted by LF only */
	expect(run("sku,name\rA,a\rB,b\r"),
	       "H1 present=3 unknown=\nR1 A|a|~|t|~\nR1 B|b|~|t|~\n");
}

static void test_header_case_and_spaces(void **state)
{
	(void)state;
	expect(run(" PRICE ,\tSku,NAME  ,Description,Active\nx,A,a,d,0\n"),
	       "H1 present=1f unknown=\nX2 [PRICE] price \"x\" is not a number {x,A,a,d,0}\n");
	expect(run("\"Name\",\" sku \"\na,A\n"), "H1 present=3 unknown=\nR2 A|a|~|t|~\n");
}

static void test_header_errors(void **state)
{
	(void)state;
	expect(run("sku,description\nA,d\n"),
	       "E line 1: header: required column \"name\" is missing "
	       "(found \"sku\", \"description\")\n");
	/* a file without a header row: its first record is taken as one */
	expect(run("ABC-1,Widget,9.99\nABC-2,Gadget,1\n"),
	       "E line 1: header: required column \"sku\" is missing "
	       "(found \"ABC-1\", \"Widget\", \"9.99\")\n");
	expect(run("\n\nname,price\n"),
	       "E line 3: header: required column \"sku\" is missing (found \"name\", \"price\")\n");
	expect(run("sku,name,SKU\n"),
	       "E line 1: header: column \"SKU\" appears twice (columns 1 and 3)\n");
	expect(run("sku,name,colour,Colour\n"),
	       "E line 1: header: column \"Colour\" appears twice (columns 3 and 4)\n");
	expect(run("sku,name,\"bad \"x\n"),
	       "E line 1: header: malformed quoting: text after the closing quote of a value\n");
	expect(run("sku,name,\"desc\nription\n"),
	       "E line 1: header: unterminated quoted value: its closing quote is missing "
	       "before the end of the file\n");
	expect(run("sku,name,\"a\x01\"\n"),
	       "E line 1: header: column 3 name contains a control character\n");
	expect(run("sku,na\0me\n"), "E line 1: header: required column \"name\" is missing "
	       "(found \"sku\", \"na\")\n");   /* strlen: the NUL ends this input */
	{
		struct csvimport_opts o = { 0 };
		static const char nul[] = "sku,na\0me\nA,a\n";
		expect(run_opts(nul, sizeof(nul) - 1, o, NULL),
		       "E line 1: header: column 2 name contains a NUL byte (byte 3)\n");
	}
	{
		struct strbuf sb = STRBUF_INIT;
		strbuf_adds(&sb, "sku,name");
		for (int i = 0; i < CSVIMPORT_MAX_COLUMNS; i++)
			strbuf_addf(&sb, ",c%d", i);
		strbuf_adds(&sb, "\n");
		expect(run(sb.buf), "E line 1: header: 258 columns (at most 256)\n");
		strbuf_release(&sb);
	}
}

static void test_empty_and_header_only(void **state)
{
	struct csvimport_opts o = { 0 };
	struct csvimport_stats st;
	(void)state;
	expect(run(""), "E empty file: no header row\n");
	expect(run("\n\r\n  \n"), "E no header row: the file has only blank lines\n");
	expect(run_opts("sku,name\n", 9, o, &st), "H1 present=3 unknown=\n");
	assert_int_equal(st.records, 0);
	assert_int_equal(st.bytes, 9);
	expect(run("sku,name"), "H1 present=3 unknown=\n");
}

static void test_unknown_columns(void **state)
{
	struct csvimport_opts o = { 0 };
	static const char in[] = "sku,colour,name,,size\nA,red,a,,XL\n";
	(void)state;
	expect(run_opts(in, strlen(in), o, NULL),
	       "H1 present=3 unknown=colour||size\nR2 A|a|~|t|~\n");
	o.strict = true;
	expect(run_opts(in, strlen(in), o, NULL),
	       "E line 1: header: unknown column \"colour\" (--strict refuses unknown columns: "
	       "map it with --map 'colour=FIELD', ignore it with --map 'colour=-', or remove it)\n");
	static const char empty_name[] = "sku,name,\nA,a,\n";
	expect(run_opts(empty_name, strlen(empty_name), o, NULL),
	       "E line 1: header: column 3 has no name (--strict refuses unknown columns)\n");
}

static void test_mappings(void **state)
{
	static const struct csvimport_map maps[] = {
		{ " Artikelnummer ", "SKU" }, { "bezeichnung", "name" }, { "Preis", "price" },
		{ "intern", "-" },
	};
	struct csvimport_opts o = { .maps = maps, .nmaps = 4, .strict = true };
	static const char in[] = "ARTIKELNUMMER;Bezeichnung;Preis;Intern\nA-1;Ding;12,5;x\nA-2;Ding 2;3;y\n";
	struct acme_err err;
	(void)state;

	o.delimiter = ';';
	expect(run_opts(in, strlen(in), o, NULL),
	       "H1 present=13 unknown=\n"
	       "X2 [Preis] price \"12,5\" is not a number {A-1;Ding;12,5;x}\n"
	       "R3 A-2|Ding 2|~|t|3.00\n");

	/* a mapping and a real column both naming one field */
	static const struct csvimport_map code[] = { { "code", "sku" } };
	struct csvimport_opts o2 = { .maps = code, .nmaps = 1 };
	static const char in2[] = "code,sku,name\n";
	expect(run_opts(in2, strlen(in2), o2, NULL),
	       "E line 1: header: columns \"code\" (1) and \"sku\" (2) are both sku\n");

	static const struct csvimport_map bad[] = { { "x", "colour" } };
	struct csvimport_opts o3 = { .maps = bad, .nmaps = 1 };
	assert_null(csvimport_new(&o3, &err));
	assert_int_equal(err.code, ACME_E_USAGE);
	assert_string_equal(err.msg, "--map: unknown field \"colour\" (known: sku, name, "
	                    "description, active, price, or - to ignore the column)");
	static const struct csvimport_map twice[] = { { "x", "sku" }, { "X ", "name" } };
	struct csvimport_opts o4 = { .maps = twice, .nmaps = 2 };
	assert_null(csvimport_new(&o4, &err));
	assert_string_equal(err.msg, "--map: \"X\" is mapped twice");
	static const struct csvimport_map empty[] = { { " ", "sku" } };
	struct csvimport_opts o5 = { .maps = empty, .nmaps = 1 };
	assert_null(csvimport_new(&o5, &err));
	assert_string_equal(err.msg, "--map: empty header name in \"=sku\"");
}

static void test_delimiters(void **state)
{
	struct csvimport_opts o = { .delimiter = '\t' };
	static const char tsv[] = "sku\tname\tdescription\n A \tb c\t\" x\ty \"\n";
	struct acme_err err;
	(void)state;

	expect(run_opts(tsv, strlen(tsv), o, NULL),
	       "H1 present=7 unknown=\nR2 A|b c| x\ty |t|~\n");
	o.delimiter = ';';
	static const char semi[] = "sku;name;price\nA;a,b;1.25\nB;b;\"1,25\"\n";
	expect(run_opts(semi, strlen(semi), o, NULL),
	       "H1 present=13 unknown=\nR2 A|a,b|~|t|1.25\n"
	       "X3 [price] price \"1,25\" is not a number {B;b;1,25}\n");
	o.delimiter = '"';
	assert_null(csvimport_new(&o, &err));
	assert_string_equal(err.msg, "delimiter cannot be the quote character");
	o.delimiter = '\n';
	assert_null(csvimport_new(&o, &err));
	o.delimiter = ' ';
	assert_null(csvimport_new(&o, &err));
}

/* Regression (issue 11): a ;- or tab-separated file read with the default
 * delimiter said only "required column sku is missing (found "sku;name")";
 * the message now names the delimiter the header seems to use. */
static void test_delimiter_hint(void **state)
{
	struct csvimport_opts o = { 0 };
	(void)state;

	expect(run("sku;name;price\nA;a;1\n"),
	       "E line 1: header: required column \"sku\" is missing (found \"sku;name;price\"); "
	       "the header looks separated by ';': use --delimiter ';'\n");
	expect(run("\n\"SKU\";\"Name\"\nA;a\n"),
	       "E line 2: header: malformed quoting: text after the closing quote of a value; "
	       "the header looks separated by ';': use --delimiter ';'\n");
	expect(run("sku\tname\nA\ta\n"),
	       "E line 1: header: column 1 name contains a control character; "
	       "the header looks separated by tabs: use --delimiter tab\n");
	expect(run("sku|name\nA|a\n"),
	       "E line 1: header: required column \"sku\" is missing (found \"sku|name\"); "
	       "the header looks separated by '|': use --delimiter '|'\n");
	o.delimiter = ';';
	static const char comma[] = "sku,name\nA,a\n";
	expect(run_opts(comma, strlen(comma), o, NULL),
	       "E line 1: header: required column \"sku\" is missing (found \"sku,name\"); "
	       "the header looks separated by ',': leave out --delimiter (, is the default)\n");
	/* the trailing error column of `jobs errors --rows` is ignored silently,
	 * under strict too; elsewhere it is an unknown column */
	o.delimiter = 0;
	o.strict = true;
	static const char fix[] = "sku,name,error\nA,a,\"price \"\"x\"\" is not a number\"\n";
	expect(run_opts(fix, strlen(fix), o, NULL), "H1 present=3 unknown=\nR2 A|a|~|t|~\n");
	o.strict = false;
	expect(run("error,sku,name\nx,A,a\n"), "H1 present=3 unknown=error\nR2 A|a|~|t|~\n");
	/* Regression (found by tests/fuzz/fuzz_csvimport.c): with --delimiter
	 * tab a line holding only a tab is the header (two empty columns), but
	 * the hint read the next line as the header when it had been fed in the
	 * same chunk, so the message depended on how the file was read. */
	o.delimiter = '\t';
	static const char tabline[] = "\t\nsku;name\n";
	expect(run_opts(tabline, strlen(tabline), o, NULL),
	       "E line 1: header: required column \"sku\" is missing (found \"\", \"\")\n");
	o.delimiter = 0;
	/* no hint when no delimiter would help */
	expect(run("sku;price\nA;1\n"),
	       "E line 1: header: required column \"sku\" is missing (found \"sku;price\")\n");
}

/* The whole rejected record, as the file had it, for `jobs errors --rows`
 * (issue 11): values re-written with the file's delimiter, bytes unchanged,
 * and for malformed quoting the rest of the line as it was. */
static void test_reject_records(void **state)
{
	struct csvimport_opts o = { 0 };
	(void)state;
	show_records = true;
	expect(run(" Sku , name ,price\nA, a b ,x\nB,\"q,1\",\"1\"\"\"\nC,12\" monitor,2\r\n"
		   "D,\"ab\"\"c\"x,y\nE,caf\351,1\n"),
	       "= Sku,name,price\nH1 present=13 unknown=\n"
	       "= A,a b,x\nX2 [price] price \"x\" is not a number {A,a b,x}\n"
	       "= B,\"q,1\",\"1\"\"\"\nX3 [price] price \"1\"\" is not a number {B,\"q,1\",\"1\"\"\"}\n"
	       "= C,12\" monitor,2\nX4 [name] malformed quoting: a quote inside an unquoted value "
	       "(quote the whole value and double its quotes: \"12\"\" monitor\") {C,12}\n"
	       "= D,\"ab\"\"c\"x,y\nX5 [name] malformed quoting: text after the closing quote of a "
	       "value {D,\"ab\"\"c\"}\n"
	       "= E,caf\351,1\nX6 [name] name is not valid UTF-8 (byte 4) {E,caf\357\277\275,1}\n");
	o.delimiter = ';';
	static const char semi[] = "sku;name;price\nA;a,b;1,5\n";
	expect(run_opts(semi, strlen(semi), o, NULL),
	       "= sku;name;price\nH1 present=13 unknown=\n"
	       "= A;a,b;1,5\nX2 [price] price \"1,5\" is not a number {A;a,b;1,5}\n");
	show_records = false;
}

/* ---- rejected records -------------------------------------------------------- */

static void test_wrong_column_count(void **state)
{
	(void)state;
	expect(run("sku,name,price\nA,a\nB,b,1,extra\nC,c,2\n"),
	       "H1 present=13 unknown=\n"
	       "X2 [-] wrong number of columns: expected 3, found 2 {A,a}\n"
	       "X3 [-] wrong number of columns: expected 3, found 4 {B,b,1,extra}\n"
	       "R4 C|c|~|t|2.00\n");
}

static void test_empty_sku_or_name(void **state)
{
	(void)state;
	expect(run("sku,name\n,a\n   ,a\nA,\nB,\" \"\n"),
	       "H1 present=3 unknown=\n"
	       "X2 [sku] sku is empty {,a}\n"
	       "X3 [sku] sku is empty {,a}\n"
	       "X4 [name] name is empty {A,}\n"
	       "X5 [name] name is empty {B,\" \"}\n");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	expect(run("sku,name,description,notes\n"
	           "A,\xc0\xaf,d,n\n"                   /* overlong '/' */
	           "B,b,\xe0\x80\xaf,n\n"               /* overlong, 3 bytes */
	           "C,b,d,\xed\xa0\x80\n"               /* surrogate U+D800, unknown column */
	           "D\xe2\x82,b,d,n\n"                  /* truncated sequence */
	           "E,b,\xf4\x90\x80\x80,n\n"           /* above U+10FFFF */
	           "F,b,\x80,n\n"                       /* lone continuation byte */
	           "G,b,\"\xe2\x82\",n\n"               /* truncated at the end of the value */
	           "H,\xf0\x9f\x98\x80 \xc3\xa9t\xc3\xa9,\xe2\x82\xac,n\n"),   /* valid */
	       "H1 present=7 unknown=notes\n"
	       "X2 [name] name is not valid UTF-8 (byte 1) {A,\xef\xbf\xbd\xef\xbf\xbd,d,n}\n"
	       "X3 [description] description is not valid UTF-8 (byte 1) "
	       "{B,b,\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd,n}\n"
	       "X4 [notes] column \"notes\" is not valid UTF-8 (byte 1) "
	       "{C,b,d,\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd}\n"
	       "X5 [sku] sku is not valid UTF-8 (byte 2) {D\xef\xbf\xbd\xef\xbf\xbd,b,d,n}\n"
	       "X6 [description] description is not valid UTF-8 (byte 1) "
	       "{E,b,\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd,n}\n"
	       "X7 [description] description is not valid UTF-8 (byte 1) {F,b,\xef\xbf\xbd,n}\n"
	       "X8 [description] description is not valid UTF-8 (byte 1) "
	       "{G,b,\xef\xbf\xbd\xef\xbf\xbd,n}\n"
	       "R9 H|\xf0\x9f\x98\x80 \xc3\xa9t\xc3\xa9|\xe2\x82\xac|t|~\n");
}

static void test_nul_bytes(void **state)
{
	struct csvimport_opts o = { 0 };
	static const char in[] = "sku,name,description\nA,a\0b,d\nB,b,\"d\0\"\nC\0,c,d\n";
	(void)state;
	expect(run_opts(in, sizeof(in) - 1, o, NULL),
	       "H1 present=7 unknown=\n"
	       "X2 [name] name contains a NUL byte (byte 2) {A,a\xef\xbf\xbd" "b,d}\n"
	       "X3 [description] description contains a NUL byte (byte 2) {B,b,d\xef\xbf\xbd}\n"
	       "X4 [sku] sku contains a NUL byte (byte 2) {C\xef\xbf\xbd,c,d}\n");
}

static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_field_limits(void **state)
{
	char *sku64 = repeat('S', 64), *sku65 = repeat('S', 65);
	char *name255 = repeat('n', 255), *name256 = repeat('n', 256);
	char *d10000 = repeat('d', 10000), *d10001 = repeat('d', 10001);
	char *in = xasprintf("sku,name,description\n%s,a,d\n%s,a,d\nB,%s,d\nC,%s,d\nD,d,%s\nE,e,%s\n",
	                     sku64, sku65, name255, name256, d10000, d10001);
	char *got = run(in);
	(void)state;

	assert_non_null(strstr(got, "R2 SSSS"));
	assert_non_null(strstr(got, "X3 [sku] sku is too long: 65 bytes (at most 64) {SSS"));
	assert_non_null(strstr(got, "R4 B|nnn"));
	assert_non_null(strstr(got, "X5 [name] name is too long: 256 bytes (at most 255) {C,nnn"));
	assert_non_null(strstr(got, "R6 D|d|ddd"));
	assert_non_null(strstr(got, "X7 [description] description is too long: 10001 bytes "
	                       "(at most 10000) {E,e,ddd"));
	/* the excerpt is cut at CSVIMPORT_EXCERPT_MAX bytes and says so */
	assert_non_null(strstr(got, "ddd...}\n"));
	free(got);
	free(in);
	free(sku64), free(sku65), free(name255), free(name256), free(d10000), free(d10001);
}

static void test_sku_rules(void **state)
{
	(void)state;
	expect(run("sku,name\n  A-1  ,a\n\" B 2 \",b\n\"C\x01\",c\nD\tE,d\n\"F\xc2\x85\",f\n"),
	       "H1 present=3 unknown=\n"
	       "R2 A-1|a|~|t|~\n"
	       "R3 B 2|b|~|t|~\n"
	       "X4 [sku] sku contains a control character (U+0001 at byte 2) {C\xef\xbf\xbd,c}\n"
	       "X5 [sku] sku contains a control character (U+0009 at byte 2) {D\tE,d}\n"
	       "X6 [sku] sku contains a control character (U+0085 at byte 2) {F\xef\xbf\xbd,f}\n");
}

static void test_booleans(void **state)
{
	(void)state;
	expect(run("sku,name,active\n"
	           "A,a,true\nB,a,FALSE\nC,a,1\nD,a,0\nE,a,Yes\nF,a,no\nG,a,y\nH,a,N\n"
	           "I,a,\nJ,a, t \nK,a,f\nL,a,maybe\nM,a,2\nN,a,\"yes \"\n"),
	       "H1 present=b unknown=\n"
	       "R2 A|a|~|t|~\nR3 B|a|~|f|~\nR4 C|a|~|t|~\nR5 D|a|~|f|~\n"
	       "R6 E|a|~|t|~\nR7 F|a|~|f|~\nR8 G|a|~|t|~\nR9 H|a|~|f|~\n"
	       "R10 I|a|~|t|~\nR11 J|a|~|t|~\nR12 K|a|~|f|~\n"
	       "X13 [active] active \"maybe\" is not a boolean (use true/false, yes/no, y/n or 1/0) {L,a,maybe}\n"
	       "X14 [active] active \"2\" is not a boolean (use true/false, yes/no, y/n or 1/0) {M,a,2}\n"
	       "R15 N|a|~|t|~\n");
}

static void test_prices(void **state)
{
	(void)state;
	expect(run("sku,name,price\n"
	           "A,a,0\nB,a,0.5\nC,a,12.50\nD,a,-1\nE,a,1e3\nF,a,\"12,5\"\n"
	           "G,a,99999999999\nH,a,\nI,a,9999999999.99\nJ,a,12.345\nK,a,12.500\n"
	           "L,a,.5\nM,a,5.\nN,a,007\nO,a,-0\nP,a,+5\nQ,a,1.2.3\nR,a,$5\nS,a,.\nT,a,-\n"
	           "U,a,NaN\nV,a,\"1 000\"\nW,a,\" 7 \"\n"),
	       "H1 present=13 unknown=\n"
	       "R2 A|a|~|t|0.00\n"
	       "R3 B|a|~|t|0.50\n"
	       "R4 C|a|~|t|12.50\n"
	       "X5 [price] price \"-1\" is negative {D,a,-1}\n"
	       "X6 [price] price \"1e3\" is not a number {E,a,1e3}\n"
	       "X7 [price] price \"12,5\" is not a number {F,a,\"12,5\"}\n"
	       "X8 [price] price \"99999999999\" is too large (at most 9999999999.99) {G,a,99999999999}\n"
	       "R9 H|a|~|t|~\n"
	       "R10 I|a|~|t|9999999999.99\n"
	       "X11 [price] price \"12.345\" has more than 2 decimal places {J,a,12.345}\n"
	       "R12 K|a|~|t|12.50\n"
	       "R13 L|a|~|t|0.50\n"
	       "R14 M|a|~|t|5.00\n"
	       "R15 N|a|~|t|7.00\n"
	       "R16 O|a|~|t|0.00\n"
	       "X17 [price] price \"+5\" is not a number {P,a,+5}\n"
	       "X18 [price] price \"1.2.3\" is not a number {Q,a,1.2.3}\n"
	       "X19 [price] price \"$5\" is not a number {R,a,$5}\n"
	       "X20 [price] price \".\" is not a number {S,a,.}\n"
	       "X21 [price] price \"-\" is not a number {T,a,-}\n"
	       "X22 [price] price \"NaN\" is not a number {U,a,NaN}\n"
	       "X23 [price] price \"1 000\" is not a number {V,a,1 000}\n"
	       "R24 W|a|~|t|7.00\n");
}

static void test_malformed_quoting(void **state)
{
	(void)state;
	expect(run("sku,name,description\n"
	           "A,27\" monitor,d\n"
	           "B,\"b\"x,d\n"
	           "C,\"multi\nline\"oops,d\n"    /* lines 4-5 */
	           "D,d,d\n"),
	       "H1 present=7 unknown=\n"
	       "X2 [name] malformed quoting: a quote inside an unquoted value (quote the whole "
	       "value and double its quotes: \"12\"\" monitor\") {A,27}\n"
	       "X3 [name] malformed quoting: text after the closing quote of a value {B,b}\n"
	       "X4 [name] malformed quoting: text after the closing quote of a value "
	       "{C,\"multi\nline\"}\n"
	       "R6 D|d|d|t|~\n");
	/* CRLF and lone CR line ends after a malformed line */
	expect(run("sku,name\r\nA,a\"b\r\nB,b\r\n\r\nC,c\"\rD,d\r"),
	       "H1 present=3 unknown=\n"
	       "X2 [name] malformed quoting: a quote inside an unquoted value (quote the whole "
	       "value and double its quotes: \"12\"\" monitor\") {A,a}\n"
	       "R3 B|b|~|t|~\n"
	       "X5 [name] malformed quoting: a quote inside an unquoted value (quote the whole "
	       "value and double its quotes: \"12\"\" monitor\") {C,c}\n"
	       "R5 D|d|~|t|~\n");
	/* the bad line is the last one, with and without its newline */
	expect(run("sku,name\nA,a\"b"),
	       "H1 present=3 unknown=\n"
	       "X2 [name] malformed quoting: a quote inside an unquoted value (quote the whole "
	       "value and double its quotes: \"12\"\" monitor\") {A,a}\n");
}

static void test_unterminated_quote(void **state)
{
	struct csvimport_opts o = { 0 };
	struct csvimport_stats st;
	static const char in[] = "sku,name,description\nA,a,d\nB,b,\"never closed\nC,c,d\nD,d,d\n";
	(void)state;
	expect(run_opts(in, strlen(in), o, &st),
	       "H1 present=7 unknown=\n"
	       "R2 A|a|d|t|~\n"
	       "X3 [description] unterminated quoted value: its closing quote is missing before the "
	       "end of the file {B,b,\"never closed\nC,c,d\nD,d,d\n\"}\n");
	assert_int_equal(st.records, 2);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.lines, 6);
}

static void test_record_too_long(void **state)
{
	struct csvimport_opts o = { .max_record = 64 };
	char *d = repeat('d', 100);
	char *in = xasprintf("sku,name,description\nA,a,%s\nB,b,b\n", d);
	(void)state;

	/* unquoted: the row ends where it should, the next one is read */
	expect(run_opts(in, strlen(in), o, NULL),
	       "H1 present=7 unknown=\n"
	       "X2 [description] record is longer than 64 bytes "
	       "{A,a,dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	       "dddddddddddddddddddddddddddddd}\n"
	       "R3 B|b|b|t|~\n");
	free(in);
	/* many small fields add up */
	in = xasprintf("sku,name,description\nA,a,%s\nB,b,b\n",
	               "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27");
	char *got = run_opts(in, strlen(in), o, NULL);
	assert_non_null(strstr(got, "X2 [-] record is longer than 64 bytes {A,a,1,2,3"));
	assert_non_null(strstr(got, "R3 B|b|b|t|~\n"));
	free(got);
	free(in);
	free(d);
}

/* A quoted value longer than libcsv's capped buffer, with line breaks and
 * doubled quotes inside, must not lose the record's end nor the line count,
 * wherever the cap falls (after a plain byte, after a lone quote, after a
 * doubled quote). */
static void test_long_quoted_value_resync(void **state)
{
	struct csvimport_opts o = { .max_record = 64 };
	(void)state;

	for (int shift = 0; shift < 6; shift++) {
		struct strbuf rec = STRBUF_INIT, want = STRBUF_INIT;
		strbuf_adds(&rec, "A,a,\"");
		for (int i = 0; i < shift; i++)
			strbuf_addch(&rec, 'x');
		for (int i = 0; i < 40; i++)
			strbuf_adds(&rec, "ab\"\"c\n");   /* 40 line breaks: lines 2-42 */
		strbuf_adds(&rec, "\"");
		char *in = xasprintf("sku,name,description\n%s\nB,b,\"q\"\"\"\n", rec.buf);
		/* the excerpt is the record as written: nothing lost at the cap */
		strbuf_addf(&want, "H1 present=7 unknown=\n"
		            "X2 [description] record is longer than 64 bytes (a quoted value left "
		            "open?) {%s}\nR43 B|b|q\"|t|~\n", rec.buf);
		expect(run_opts(in, strlen(in), o, NULL), want.buf);
		free(in);
		strbuf_release(&rec);
		strbuf_release(&want);
	}
}

/* Whatever the input, memory stays bounded: 64 MiB of one open quoted value
 * (and then of one endless unquoted line) never hold more than a few MiB of
 * heap. (Under valgrind mallinfo2 reports nothing and the check is vacuous.) */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static void test_memory_bounded(void **state)
{
	static const char head[] = "sku,name,description\nA,a,\"";
	struct csvimport_opts o = { 0 };
	struct acme_err err;
	struct run r = { .out = STRBUF_INIT };
	char *chunk = repeat('z', 65536);
	size_t base, peak = 0;
	(void)state;

	for (int kind = 0; kind < 2; kind++) {
		o.on_reject = t_reject;
		o.on_header = t_header;
		o.user = &r;
		base = heap_in_use();
		struct csvimport *ci = csvimport_new(&o, &err);
		assert_int_equal(csvimport_feed(ci, head, kind == 0 ? strlen(head) : strlen(head) - 1,
		                                &err), 0);
		for (int i = 0; i < 1024; i++) {
			chunk[100] = kind == 0 ? '\n' : 'z';
			assert_int_equal(csvimport_feed(ci, chunk, 65536, &err), 0);
			size_t used = heap_in_use() - base;
			if (used > peak && heap_in_use() > base)
				peak = used;
		}
		assert_int_equal(csvimport_feed(ci, "\nB,b,b\n", kind == 0 ? 0 : 7, &err), 0);
		assert_int_equal(csvimport_finish(ci, &err), 0);
		struct csvimport_stats st;
		csvimport_stats(ci, &st);
		assert_int_equal(st.rejected, 1);
		assert_int_equal(st.accepted, kind == 0 ? 0 : 1);
		csvimport_free(ci);
	}
	/* 1 MiB for libcsv's field buffer, up to 2 MiB for the record */
	assert_true(peak < 4 * 1024 * 1024);
	assert_non_null(strstr(r.out.buf, "X2 [description] unterminated quoted value"));
	assert_non_null(strstr(r.out.buf, "X2 [description] record is longer than 1048576 bytes {A,a,zzz"));
	strbuf_release(&r.out);
	free(chunk);
}

/* ---- the API around it -------------------------------------------------------- */

static void test_callback_failure_stops(void **state)
{
	int fail_at = 2;
	struct csvimport_opts o = { .user = &fail_at };
	static const char in[] = "sku,name\nA,a\nB,b\nC,c\n";
	(void)state;
	expect(run_opts(in, strlen(in), o, NULL),
	       "H1 present=3 unknown=\nR2 A|a|~|t|~\nE copy: connection lost\n");
}

static void test_errors_are_sticky(void **state)
{
	struct csvimport_opts o = { 0 };
	struct acme_err err;
	struct csvimport *ci = csvimport_new(&o, &err);
	(void)state;

	assert_int_equal(csvimport_feed(ci, "sku,sku\n", 8, &err), -1);
	assert_int_equal(err.code, ACME_E_DATA);
	acme_err_clear(&err);
	assert_int_equal(csvimport_feed(ci, "A,a\n", 4, &err), -1);
	assert_string_equal(err.msg, "line 1: header: column \"sku\" appears twice (columns 1 and 2)");
	assert_int_equal(csvimport_finish(ci, &err), -1);
	assert_null(csvimport_header(ci));
	csvimport_free(ci);
}

static void test_stats_and_header(void **state)
{
	struct csvimport_opts o = { 0 };
	struct acme_err err;
	struct csvimport_stats st;
	struct csvimport *ci = csvimport_new(&o, &err);
	static const char in[] = "sku,name,x\nA,a,1\nB,,2\nC,c,\"3\n3\"\n";
	(void)state;

	assert_null(csvimport_header(ci));
	assert_int_equal(csvimport_feed(ci, in, strlen(in), &err), 0);
	assert_int_equal(csvimport_finish(ci, &err), 0);
	const struct csvimport_header *h = csvimport_header(ci);
	assert_non_null(h);
	assert_int_equal(h->ncolumns, 3);
	assert_string_equal(h->columns[2], "x");
	assert_int_equal(h->fields[0], PRODUCT_SKU);
	assert_int_equal(h->fields[2], -1);
	csvimport_stats(ci, &st);
	assert_int_equal(st.bytes, strlen(in));
	assert_int_equal(st.records, 3);
	assert_int_equal(st.accepted, 2);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.lines, 6);
	csvimport_free(ci);
}

/* Everything at once, fed in every chunk size from 1 to 40: one transcript. */
static void test_chunk_independence(void **state)
{
	static const char in[] =
		"\xef\xbb\xbf" "Sku ,NAME,description,active,price,extra\r\n"
		"A-1,\"Widget, large\",\"He said \"\"hi\"\"\r\nthen left\",yes,12.50,x\r\n"
		"\r\n"
		"A-2,Gadget,,n,0.5,\r\n"
		"A-3,\"bad\"q,d,y,1,\r\n"
		"A-4,\xc3\xa9t\xc3\xa9,\"\xe2\x82\xac 5\",1,\"12,5\",\r\n"
		"A-5,x\r\n"
		"A-6,ok,\"multi\nline\nvalue\",0,,e\r\n"
		"A-7,\"open";
	struct csvimport_opts o = { 0 };
	char *whole = run_once(in, sizeof(in) - 1, o, 0, NULL);
	(void)state;

	assert_string_equal(whole,
		"H1 present=1f unknown=extra\n"
		"R2 A-1|Widget, large|He said \"hi\"\r\nthen left|t|12.50\n"
		"R5 A-2|Gadget|~|f|0.50\n"
		"X6 [NAME] malformed quoting: text after the closing quote of a value {A-3,bad}\n"
		"X7 [price] price \"12,5\" is not a number {A-4,\xc3\xa9t\xc3\xa9,\xe2\x82\xac 5,1,\"12,5\",}\n"
		"X8 [-] wrong number of columns: expected 6, found 2 {A-5,x}\n"
		"R9 A-6|ok|multi\nline\nvalue|f|~\n"
		"X12 [NAME] unterminated quoted value: its closing quote is missing before the end "
		"of the file {A-7,open}\n");
	for (size_t chunk = 1; chunk <= 40; chunk++) {
		char *t = run_once(in, sizeof(in) - 1, o, chunk, NULL);
		assert_string_equal(t, whole);
		free(t);
	}
	free(whole);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_no_final_newline),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_embedded_newlines_keep_physical_lines),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_blank_lines_and_crlf_lines),
		cmocka_unit_test(test_lone_cr),
		cmocka_unit_test(test_header_case_and_spaces),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_empty_and_header_only),
		cmocka_unit_test(test_unknown_columns),
		cmocka_unit_test(test_mappings),
		cmocka_unit_test(test_delimiters),
		cmocka_unit_test(test_delimiter_hint),
		cmocka_unit_test(test_reject_records),
		cmocka_unit_test(test_wrong_column_count),
		cmocka_unit_test(test_empty_sku_or_name),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_field_limits),
		cmocka_unit_test(test_sku_rules),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_prices),
		cmocka_unit_test(test_malformed_quoting),
		cmocka_unit_test(test_unterminated_quote),
		cmocka_unit_test(test_record_too_long),
		cmocka_unit_test(test_long_quoted_value_resync),
		cmocka_unit_test(test_memory_bounded),
		cmocka_unit_test(test_callback_failure_stops),
		cmocka_unit_test(test_errors_are_sticky),
		cmocka_unit_test(test_stats_and_header),
		cmocka_unit_test(test_chunk_independence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
