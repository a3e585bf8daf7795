/* fuzz_csvimport.c — libFuzzer target for the import's CSV reader.
 *
 * Build and run: `make fuzz FUZZ_TARGETS=csvimport FUZZ_SECONDS=120`
 * (tests/fuzz/fuzz.mk); seeds and regression inputs in
 * tests/fuzz/corpus/csvimport/.
 *
 * The first input byte picks the options (delimiter, strict, a small record
 * cap so the too-long path is reached), the second the chunk sizes; the rest
 * is the file. Each input is parsed three times, whole, in chunks and byte by
 * byte, and the three transcripts of callbacks must be identical. Along the
 * way every promise of csvimport.h is checked: rows are valid UTF-8 within
 * the limits, excerpts are valid UTF-8 and capped, line numbers never go
 * backwards, the counters add up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csvimport.h"
#include "core/strbuf.h"
#include "tests/fuzz/fuzz.h"

struct run {
	struct strbuf out;
	long last_line;
	int header_calls;
};

static void check_text(const char *s, size_t len, size_t max)
{
	CHECK(s != NULL);
	CHECK(strlen(s) == len);
	CHECK(len <= max);
	CHECK(product_utf8_valid_len(s, len) == len);
}

static int on_header(void *user, const struct csvimport_header *h, struct acme_err *err)
{
	struct run *r = user;
	(void)err;
	CHECK(++r->header_calls == 1);
	CHECK((h->present & PRODUCT_F_REQUIRED) == PRODUCT_F_REQUIRED);
	CHECK(h->ncolumns <= CSVIMPORT_MAX_COLUMNS);
	CHECK(h->line >= 1);
	r->last_line = h->line;
	strbuf_addf(&r->out, "H%ld %x %zu\n", h->line, h->present, h->nunknown);
	return 0;
}

static int on_row(void *user, const struct product_row *row, long line, struct acme_err *err)
{
	struct run *r = user;
	(void)err;
	CHECK(r->header_calls == 1);
	CHECK(line >= r->last_line);
	r->last_line = line;
	check_text(row->sku, row->sku_len, PRODUCT_SKU_MAX);
	check_text(row->name, row->name_len, PRODUCT_NAME_MAX);
	CHECK(row->sku_len > 0 && row->name_len > 0);
	if (row->description)
		check_text(row->description, row->description_len, PRODUCT_DESCRIPTION_MAX);
	if (row->price) {
		CHECK(row->price_cents >= 0 && row->price_cents <= PRODUCT_PRICE_MAX_CENTS);
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld.%02lld", (long long)(row->price_cents / 100),
		         (long long)(row->price_cents % 100));
		CHECK(strcmp(buf, row->price) == 0);
	}
	strbuf_addf(&r->out, "R%ld %s|%s|%s|%d|%s\n", line, row->sku, row->name,
	            row->description ? row->description : "~", row->active,
	            row->price ? row->price : "~");
	return 0;
}

static int on_reject(void *user, const struct csvimport_reject *rej, struct acme_err *err)
{
	struct run *r = user;
	(void)err;
	CHECK(r->header_calls == 1);
	CHECK(rej->line >= r->last_line);
	r->last_line = rej->line;
	check_text(rej->excerpt, strlen(rej->excerpt), CSVIMPORT_EXCERPT_MAX);
	CHECK(rej->message && rej->message[0]);
	strbuf_addf(&r->out, "X%ld %s %s {%s}\n", rej->line, rej->column ? rej->column : "-",
	            rej->message, rej->excerpt);
	return 0;
}

static char *parse(const uint8_t *data, size_t size, const struct csvimport_opts *base,
                   unsigned seed, int mode)
{
	struct run r = { .out = STRBUF_INIT };
	struct csvimport_opts o = *base;
	struct csvimport_stats st;
	struct acme_err err;
	struct csvimport *ci;
	size_t pos = 0;
	int rc = 0;

	o.on_header = on_header;
	o.on_row = on_row;
	o.on_reject = on_reject;
	o.user = &r;
	ci = csvimport_new(&o, &err);
	CHECK(ci != NULL);
	while (pos < size && rc == 0) {
		size_t n = size - pos;
		if (mode == 1)
			n = 1;
		else if (mode == 2) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % 97;
			if (n > size - pos)
				n = size - pos;
		}
		rc = csvimport_feed(ci, data + pos, n, &err);
		pos += n;
	}
	if (rc == 0)
		rc = csvimport_finish(ci, &err);
	if (rc < 0) {
		CHECK(err.code == ACME_E_DATA);
		CHECK(product_utf8_valid_len(err.msg, strlen(err.msg)) == strlen(err.msg) ||
		      strlen(err.msg) == ACME_ERR_MSG_MAX - 1);
		strbuf_addf(&r.out, "E %s\n", err.msg);
	}
	csvimport_stats(ci, &st);
	CHECK(st.records == st.accepted + st.rejected);
	CHECK(rc < 0 || st.bytes == size);
	csvimport_free(ci);
	return strbuf_detach(&r.out, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delims[] = { ',', ';', '\t', '|' };
	static const struct csvimport_map maps[] = { { "code", "sku" }, { "x", "-" } };
	struct csvimport_opts o = { 0 };

	if (size < 2)
		return 0;
	o.delimiter = delims[data[0] & 3];
	o.strict = data[0] & 4;
	o.max_record = (data[0] & 8) ? 64 : (data[0] & 16) ? 300 : 0;
	if (data[0] & 32) {
		o.maps = maps;
		o.nmaps = 2;
	}
	unsigned seed = data[1];
	data += 2;
	size -= 2;

	char *whole = parse(data, size, &o, seed, 0);
	char *bytes = parse(data, size, &o, seed, 1);
	char *chunks = parse(data, size, &o, seed, 2);
	if (strcmp(whole, bytes) != 0 || strcmp(whole, chunks) != 0) {
		fprintf(stderr, "--- whole\n%s--- byte by byte\n%s--- chunks\n%s", whole, bytes, chunks);
		abort();
	}
	free(whole);
	free(bytes);
	free(chunks);
	return 0;
}
