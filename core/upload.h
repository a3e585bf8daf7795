/* upload.h — staged import files in PostgreSQL (uploads + uploads_chunks), so
 * the CLI and the workers share no filesystem.
 *
 * Staging streams the input in fixed-size chunks inside one transaction:
 * memory stays at one chunk whatever the file's size, and a failure (or
 * Ctrl-C) leaves nothing behind. Reading gives the chunks back in order, one
 * at a time.
 */
#ifndef ACME_UPLOAD_H
#define ACME_UPLOAD_H
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "core/err.h"

#define UPLOAD_CHUNK_SIZE (1024 * 1024)
#define UPLOAD_MAX_SIZE   (4LL * 1024 * 1024 * 1024)   /* 4 GiB */

struct upload_info {
	long long id;
	long long size;
	char sha256[65];
	long long chunks;
};

/* Progress callback while staging (may be NULL): bytes so far. */
typedef void (*upload_progress_fn)(void *user, long long bytes);

/* Read fd to its end into a new upload. what names the input in messages
 * ("products.csv" or "stdin"). An empty input is ACME_E_DATA. */
int upload_stage(PGconn *db, int fd, const char *what, upload_progress_fn progress, void *user,
		 struct upload_info *out, struct acme_err *err);

/* The same, reading through rd (up to len bytes into buf: the count, 0 at
 * the end, -1 with err), e.g. a core/recode.h converter. */
typedef ssize_t (*upload_read_fn)(void *user, void *buf, size_t len, struct acme_err *err);
int upload_stage_from(PGconn *db, upload_read_fn rd, void *rd_user, const char *what,
		      upload_progress_fn progress, void *user, struct upload_info *out,
		      struct acme_err *err);

/* Link a staged upload to the job that consumes it (for retention). */
int upload_link_job(PGconn *db, long long upload_id, const char *job_id, struct acme_err *err);

/* Size, checksum and chunk count of a completed upload; ACME_E_NOT_FOUND when
 * there is none (or it never completed). */
int upload_get(PGconn *db, long long upload_id, struct upload_info *out, struct acme_err *err);

/* Chunk seq of an upload (0-based) into *data (owned: free()) and *len.
 * Returns 1 when there was a chunk, 0 past the end, -1 on error. */
int upload_read_chunk(PGconn *db, long long upload_id, long long seq, unsigned char **data,
		      size_t *len, struct acme_err *err);

#endif
