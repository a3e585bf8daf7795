/* acme-csvimport-ndjson.c — test helper (built by make helpers): read CSV
 * on stdin through the import's own reader and validator (core/csvimport.c) and print every accepted row
 * as one JSON object per line ({"sku", "name", "description", "active",
 * "price"}), every rejected record as {"reject": LINE, "message": ...}.
 * Lets tests check that an export re-imports unchanged before `acmectl
 * import` exists. */
#include <jansson.h>
#include <stdio.h>

#include "core/csvimport.h"

static int on_row(void *user, const struct product_row *row, long line, struct acme_err *err)
{
	(void)user, (void)line, (void)err;
	json_t *o = json_pack("{s:s%, s:s%, s:o, s:b, s:o}", "sku", row->sku, row->sku_len,
			      "name", row->name, row->name_len, "description",
			      row->description ? json_stringn(row->description, row->description_len) :
			      json_null(), "active", row->active, "price",
			      row->price ? json_string(row->price) : json_null());
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(o);
	return 0;
}

static int on_reject(void *user, const struct csvimport_reject *rej, struct acme_err *err)
{
	(void)user, (void)err;
	json_t *o = json_pack("{s:I, s:s}", "reject", (json_int_t)rej->line, "message", rej->message);
	char *s = json_dumps(o, JSON_COMPACT);
	puts(s);
	free(s);
	json_decref(o);
	return 0;
}

int main(void)
{
	struct acme_err err = { 0 };
	struct csvimport_opts o = { 0 };
	char buf[4096];
	size_t n;
	o.on_row = on_row;
	o.on_reject = on_reject;
	struct csvimport *ci = csvimport_new(&o, &err);
	if (!ci)
		goto fail;
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		if (csvimport_feed(ci, buf, n, &err) < 0)
			goto fail;
	if (csvimport_finish(ci, &err) < 0)
		goto fail;
	csvimport_free(ci);
	return 0;
fail:
	fprintf(stderr, "csvimport-ndjson: %s\n", err.msg);
	return 1;
}
