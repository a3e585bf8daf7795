/* csvimport-bench.c — throughput of the import's CSV reader and validator
 * alone: the file is read into memory first, then fed to csvimport in 64 KiB
 * chunks (as the worker does), with callbacks that only count.
 *
 *   make && cc -O2 -std=c11 -D_GNU_SOURCE -I. tests/bench/csvimport-bench.c \
 *       build/libacme.a -lcsv -o build/csvimport-bench
 *   tests/bench/gen-catalog.py -o build/catalog-500k.csv
 *   build/csvimport-bench build/catalog-500k.csv [repeats]
 *   /usr/bin/time -v build/csvimport-bench -s build/catalog-500k.csv   # memory
 *
 * With -s the file is streamed with fread() in 64 KiB chunks instead, once,
 * so the process's peak RSS is the reader's own footprint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/csvimport.h"

struct count {
	unsigned long rows, rejects, bytes;
};

static int on_row(void *user, const struct product_row *row, long line, struct acme_err *err)
{
	struct count *c = user;
	(void)line, (void)err;
	c->rows++;
	c->bytes += row->sku_len + row->name_len + row->description_len;
	return 0;
}

static int on_reject(void *user, const struct csvimport_reject *rej, struct acme_err *err)
{
	struct count *c = user;
	(void)err;
	if (c->rejects++ < 5)
		fprintf(stderr, "line %ld: %s\n", rej->line, rej->message);
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int stream(const char *path)
{
	static char buf[65536];
	struct count c = { 0 };
	struct csvimport_opts o = { .on_row = on_row, .on_reject = on_reject, .user = &c };
	struct acme_err err;
	struct csvimport *ci = csvimport_new(&o, &err);
	FILE *f = fopen(path, "rb");
	size_t n;
	double t0 = now();

	if (!f) {
		perror(path);
		return 1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (csvimport_feed(ci, buf, n, &err) < 0)
			goto fail;
	if (csvimport_finish(ci, &err) < 0)
		goto fail;
	printf("streamed: %lu rows, %lu rejected in %.3f s\n", c.rows, c.rejects, now() - t0);
	fclose(f);
	csvimport_free(ci);
	return 0;
fail:
	fprintf(stderr, "csvimport-bench: %s\n", err.msg);
	return 1;
}

int main(int argc, char **argv)
{
	FILE *f;
	char *data;
	long size;
	int repeats = argc > 2 ? atoi(argv[2]) : 3;
	double best = 1e9;
	struct count c = { 0 };

	if (argc == 3 && strcmp(argv[1], "-s") == 0)
		return stream(argv[2]);
	if (argc < 2 || !(f = fopen(argv[1], "rb"))) {
		fprintf(stderr, "usage: csvimport-bench FILE [repeats]\n");
		return 2;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	data = malloc((size_t)size);
	if (!data || fread(data, 1, (size_t)size, f) != (size_t)size)
		return 1;
	fclose(f);

	for (int r = 0; r < repeats; r++) {
		struct csvimport_opts o = { .on_row = on_row, .on_reject = on_reject, .user = &c };
		struct acme_err err;
		struct csvimport *ci = csvimport_new(&o, &err);
		c = (struct count){ 0 };
		double t0 = now();
		for (long pos = 0; pos < size; pos += 65536) {
			size_t n = size - pos < 65536 ? (size_t)(size - pos) : 65536;
			if (csvimport_feed(ci, data + pos, n, &err) < 0)
				goto fail;
		}
		if (csvimport_finish(ci, &err) < 0)
			goto fail;
		double t = now() - t0;
		if (t < best)
			best = t;
		csvimport_free(ci);
		continue;
fail:
		fprintf(stderr, "csvimport-bench: %s\n", err.msg);
		return 1;
	}
	printf("%ld bytes, %lu rows, %lu rejected: best of %d %.3f s, %.1f MB/s, %.0f rows/s\n",
	       size, c.rows, c.rejects, repeats, best, (double)size / best / 1e6,
	       (double)(c.rows + c.rejects) / best);
	free(data);
	return 0;
}
